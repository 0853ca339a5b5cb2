/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mhc/config.h>
#include <mhc/error.h>

#include "config.h"
#include "util.h"
#include "yaml.h"
#include "check-run.h"

#define DATA MH_TEST_SRCDIR "/tests/unit/data"

/* A domain whose hosts follow; the first host is at 4:9, its role ends line 5. */
#define DOMAIN "domains:\n  - id: lab\n    hosts:\n"
#define HOST   DOMAIN "      - hostname: a.test\n        role: r\n"
/* Keys of conn: go on line 7, column 11. */
#define CONN HOST "        conn:\n"

#define PASSWORD "hunter2-Secret"

static mh_config *parse_in(const char *text, const char *base_dir) {
        mh_error e = MH_ERROR_INIT;
        mh_config *c = NULL;

        ck_assert_msg(mh_config_parse(text, strlen(text), "mhc.yaml", base_dir, &c, &e) == 0, "%s",
                      e.message);
        ck_assert_ptr_nonnull(c);
        return c;
}

static mh_config *parse_ok(const char *text) {
        return parse_in(text, DATA);
}

/* The message of the error parsing text gives, which must be code; ret is left alone. */
static void fails_with(const char *text, int code, mh_error *e) {
        mh_config *c = (mh_config *) 0x1;

        ck_assert_int_eq(mh_config_parse(text, strlen(text), "mhc.yaml", DATA, &c, e), code);
        ck_assert_int_eq(e->code, code);
        ck_assert_ptr_eq(c, (mh_config *) 0x1);
}

static void check_fails(const char *text, const char *message) {
        mh_error e = MH_ERROR_INIT;

        fails_with(text, -MH_ERR_CONFIG, &e);
        ck_assert_str_eq(e.message, message);
}

START_TEST(test_full_config) {
        mh_error e = MH_ERROR_INIT;
        mh_config *c = NULL;
        const mh_host_config *h;
        const mh_node *options;

        setenv("MHC_TEST_PASSWORD", PASSWORD, 1);
        setenv("MHC_TEST_USER", "world", 1);
        ck_assert_msg(mh_config_load(DATA "/config/mhc.yaml", &c, &e) == 0, "%s", e.message);
        ck_assert_str_eq(mh_config_path(c), DATA "/config/mhc.yaml");

        ck_assert_uint_eq(mh_config_n_hosts(c), 3);
        h = mh_config_host(c, 0);
        ck_assert_str_eq(mh_host_config_location(h), DATA "/config/mhc.yaml:5:9");
        ck_assert_str_eq(mh_host_config_hostname(h), "client.lab.test");
        ck_assert_str_eq(mh_host_config_domain(h), "lab");
        ck_assert_str_eq(mh_host_config_role(h), "client");
        ck_assert_str_eq(mh_host_config_type(h), "systemd");
        ck_assert_str_eq(mh_host_config_address(h), "10.0.0.2");
        ck_assert_uint_eq(mh_host_config_port(h), 2222);
        ck_assert_str_eq(mh_host_config_user(h), "tester");
        ck_assert_str_eq(mh_host_config_private_key(h), DATA "/config/../keys/id_test");
        ck_assert(mh_host_config_has_password(h));
        ck_assert_str_eq(mh_host_config_password(h), PASSWORD);
        ck_assert_str_eq(mh_host_config_known_hosts(h), DATA "/config/known_hosts");
        ck_assert_int_eq(mh_host_config_host_key_policy(h), MH_HOST_KEY_ACCEPT_NEW);
        ck_assert_uint_eq(mh_host_config_connect_timeout(h), 5);
        ck_assert_uint_eq(mh_host_config_command_timeout(h), 60);
        ck_assert_uint_eq(mh_host_config_n_services(h), 2);
        ck_assert_str_eq(mh_host_config_service(h, 0), "sshd");
        ck_assert_str_eq(mh_host_config_service(h, 1), "chronyd");
        ck_assert_ptr_null(mh_host_config_service(h, 2));
        ck_assert_uint_eq(mh_host_config_n_backup_paths(h), 2);
        ck_assert_str_eq(mh_host_config_backup_path(h, 0), "/etc/hosts");
        ck_assert_str_eq(mh_host_config_backup_path(h, 1), "/var/lib/app");
        ck_assert_ptr_null(mh_host_config_backup_path(h, 2));
        ck_assert_uint_eq(mh_host_config_n_artifacts(h), 2);
        ck_assert_str_eq(mh_host_config_artifact(h, 0), "/var/log/messages");
        ck_assert_str_eq(mh_host_config_artifact(h, 1), "/var/log/app/*.log");
        ck_assert_ptr_null(mh_host_config_artifact(h, 2));

        options = mh_host_config_options(h);
        ck_assert_int_eq(options->kind, MH_NODE_MAPPING);
        ck_assert_uint_eq(options->line, 27);
        ck_assert_uint_eq(options->column, 11);
        ck_assert_str_eq(mh_node_get(options, "verify")->value, "true");
        ck_assert_str_eq(mh_node_get(mh_node_get(options, "service_paths"), "chronyd")
                                 ->items[0]->value,
                         "/var/lib/world");
        ck_assert_uint_eq(mh_node_get(mh_node_get(options, "service_paths"), "chronyd")
                                  ->items[0]->length,
                          14);
        ck_assert_uint_eq(mh_node_get(mh_node_get(options, "service_paths"), "chronyd")->n_items,
                          2);
        ck_assert(mh_node_get(mh_node_get(options, "service_paths"), "chronyd")->items[1]->plain);

        /* Hosts in file order across domains; a domain's id may follow its hosts. */
        ck_assert_str_eq(mh_host_config_hostname(mh_config_host(c, 1)), "db.lab.test");
        ck_assert_str_eq(mh_host_config_domain(mh_config_host(c, 1)), "lab");
        ck_assert_str_eq(mh_host_config_hostname(mh_config_host(c, 2)), "master.ipa.test");
        ck_assert_str_eq(mh_host_config_domain(mh_config_host(c, 2)), "ipa");
        ck_assert_str_eq(mh_host_config_location(mh_config_host(c, 2)),
                         DATA "/config/mhc.yaml:34:9");
        ck_assert_ptr_null(mh_config_host(c, 3));

        ck_assert_ptr_eq(mh_config_find_host(c, "db.lab.test"), mh_config_host(c, 1));
        ck_assert_ptr_null(mh_config_find_host(c, "nowhere.test"));
        ck_assert_ptr_null(mh_config_find_host(c, NULL));

        ck_assert_uint_eq(mh_config_n_tests(c), 2);
        ck_assert_str_eq(mh_config_test(c, 0), DATA "/config/tests/*.so");
        ck_assert_str_eq(mh_config_test(c, 1), "/opt/mhc/extra.so");
        ck_assert_ptr_null(mh_config_test(c, 2));
        ck_assert_uint_eq(mh_config_n_topology_dirs(c), 1);
        ck_assert_str_eq(mh_config_topology_dir(c, 0), DATA "/config/topologies");
        ck_assert_ptr_null(mh_config_topology_dir(c, 1));

        mh_config_free(c);
        unsetenv("MHC_TEST_PASSWORD");
        unsetenv("MHC_TEST_USER");
}
END_TEST

START_TEST(test_defaults) {
        mh_config *c = parse_ok(HOST);
        const mh_host_config *h = mh_config_host(c, 0);

        ck_assert_str_eq(mh_config_path(c), "mhc.yaml");
        ck_assert_str_eq(mh_host_config_location(h), "mhc.yaml:4:9");
        ck_assert_str_eq(mh_host_config_type(h), "systemd");
        ck_assert_str_eq(mh_host_config_address(h), "a.test");
        ck_assert_uint_eq(mh_host_config_port(h), 22);
        ck_assert_str_eq(mh_host_config_user(h), "root");
        ck_assert_ptr_null(mh_host_config_private_key(h));
        ck_assert(!mh_host_config_has_password(h));
        ck_assert_ptr_null(mh_host_config_password(h));
        ck_assert_ptr_null(mh_host_config_known_hosts(h));
        ck_assert_int_eq(mh_host_config_host_key_policy(h), MH_HOST_KEY_STRICT);
        ck_assert_uint_eq(mh_host_config_connect_timeout(h), 10);
        ck_assert_uint_eq(mh_host_config_command_timeout(h), 600);
        ck_assert_uint_eq(mh_host_config_n_services(h), 0);
        ck_assert_uint_eq(mh_host_config_n_backup_paths(h), 0);
        ck_assert_uint_eq(mh_host_config_n_artifacts(h), 0);
        ck_assert_uint_eq(mh_host_config_n_features(h), 0);
        ck_assert_ptr_null(mh_host_config_feature(h, 0));
        ck_assert(!mh_host_config_has_feature(h, "sssd"));
        ck_assert_ptr_null(mh_host_config_options(h));
        ck_assert_uint_eq(mh_config_n_tests(c), 0);
        ck_assert_uint_eq(mh_config_n_topology_dirs(c), 0);
        mh_config_free(c);
}
END_TEST

START_TEST(test_values_that_look_like_other_types) {
        mh_config *c = parse_ok(DOMAIN "      - hostname: 42\n"
                                       "        role: true\n"
                                       "        services: [\"22\", null-ish, 'null']\n"
                                       "        conn:\n"
                                       "          port: \"65535\"\n"
                                       "          host_key_policy: off\n"
                                       "          command_timeout: 604800\n"
                                       "        config: {}\n");
        const mh_host_config *h = mh_config_host(c, 0);

        ck_assert_str_eq(mh_host_config_hostname(h), "42");
        ck_assert_str_eq(mh_host_config_role(h), "true");
        ck_assert_str_eq(mh_host_config_service(h, 0), "22");
        ck_assert_str_eq(mh_host_config_service(h, 1), "null-ish");
        ck_assert_str_eq(mh_host_config_service(h, 2), "null");
        ck_assert_uint_eq(mh_host_config_port(h), 65535);
        ck_assert_int_eq(mh_host_config_host_key_policy(h), MH_HOST_KEY_OFF);
        ck_assert_uint_eq(mh_host_config_command_timeout(h), 604800);
        ck_assert_uint_eq(mh_host_config_options(h)->n_pairs, 0);
        mh_config_free(c);
}
END_TEST

START_TEST(test_top_level_errors) {
        check_fails("- a\n", "mhc.yaml:1:1: the configuration must be a mapping, not a sequence");
        check_fails("", "mhc.yaml:1:1: configuration is missing required key 'domains'");
        check_fails("tests: []\n", "mhc.yaml:1:1: configuration is missing required key 'domains'");
        check_fails(
                "domain: []\n",
                "mhc.yaml:1:1: unknown key 'domain' in configuration (did you mean 'domains'?)");
        check_fails(HOST "colour: red\n", "mhc.yaml:6:1: unknown key 'colour' in configuration");
        check_fails("domains: {}\n", "mhc.yaml:1:10: 'domains' must be a sequence, not a mapping");
        check_fails("domains:\n", "mhc.yaml:1:9: 'domains' must be a sequence, not null");
        check_fails("domains: []\n", "mhc.yaml:1:10: 'domains' must not be empty");
        check_fails(HOST "tests: tests/*.so\n",
                    "mhc.yaml:6:8: 'tests' must be a sequence, not a scalar");
        check_fails(HOST "tests:\n  - {a: b}\n",
                    "mhc.yaml:7:5: each item of 'tests' must be a string, not a mapping");
        check_fails(HOST "topologies:\n  - ''\n",
                    "mhc.yaml:7:5: each item of 'topologies' must not be empty");
        check_fails(HOST "topologies:\n  - ~\n",
                    "mhc.yaml:7:5: each item of 'topologies' must be a string, not null");
}
END_TEST

START_TEST(test_domain_errors) {
        check_fails("domains:\n  - lab\n",
                    "mhc.yaml:2:5: each item of 'domains' must be a mapping, not a scalar");
        check_fails("domains:\n  - hosts:\n      - hostname: a\n        role: r\n",
                    "mhc.yaml:2:5: domain is missing required key 'id'");
        check_fails("domains:\n  - id: lab\n", "mhc.yaml:2:5: domain 'lab' has no hosts");
        check_fails("domains:\n  - id: lab\n    hosts: []\n",
                    "mhc.yaml:3:12: 'hosts' must not be empty");
        check_fails("domains:\n  - id: lab\n    hosts: a.test\n",
                    "mhc.yaml:3:12: 'hosts' must be a sequence, not a scalar");
        check_fails("domains:\n  - id: lab\n    hosts:\n      - a.test\n",
                    "mhc.yaml:4:9: each item of 'hosts' must be a mapping, not a scalar");
        check_fails("domains:\n  - id: [lab]\n",
                    "mhc.yaml:2:9: 'id' must be a string, not a sequence");
        check_fails("domains:\n  - id: lab\n    host: []\n",
                    "mhc.yaml:3:5: unknown key 'host' in domain (did you mean 'hosts'?)");
        check_fails(HOST "  - id: lab\n    hosts:\n      - hostname: b.test\n        role: r\n",
                    "mhc.yaml:6:5: duplicate domain id 'lab' (first at 2:5)");
}
END_TEST

START_TEST(test_host_errors) {
        check_fails(DOMAIN "      - role: r\n",
                    "mhc.yaml:4:9: host is missing required key 'hostname'");
        check_fails(DOMAIN "      - hostname: client.lab.test\n        type: systemd\n",
                    "mhc.yaml:4:9: host 'client.lab.test' has no role");
        check_fails(DOMAIN "      - hostname:\n        role: r\n",
                    "mhc.yaml:4:18: 'hostname' must be a string, not null");
        check_fails(DOMAIN "      - hostname: ~\n        role: r\n",
                    "mhc.yaml:4:19: 'hostname' must be a string, not null");
        check_fails(DOMAIN "      - hostname: \"\"\n        role: r\n",
                    "mhc.yaml:4:19: 'hostname' must not be empty");
        check_fails(HOST "        type: ''\n", "mhc.yaml:6:15: 'type' must not be empty");
        check_fails(HOST "        type: {a: b}\n",
                    "mhc.yaml:6:15: 'type' must be a string, not a mapping");
        check_fails(HOST "        conn: a.test\n",
                    "mhc.yaml:6:15: 'conn' must be a mapping, not a scalar");
        check_fails(HOST "        services: {a: b}\n",
                    "mhc.yaml:6:19: 'services' must be a sequence, not a mapping");
        check_fails(HOST "        services:\n          - [sshd]\n",
                    "mhc.yaml:7:13: each item of 'services' must be a string, not a sequence");
        check_fails(HOST "        config: [a]\n",
                    "mhc.yaml:6:17: 'config' must be a mapping, not a sequence");
        check_fails(HOST "        config:\n",
                    "mhc.yaml:6:16: 'config' must be a mapping, not null");
}
END_TEST

START_TEST(test_duplicate_hostname) {
        check_fails(HOST "  - id: other\n"
                         "    hosts:\n"
                         "      - hostname: b.test\n"
                         "        role: r\n"
                         "      - role: r\n"
                         "        hostname: a.test\n",
                    "mhc.yaml:10:9: duplicate hostname 'a.test' (first at 4:9)");
        check_fails(HOST "      - {hostname: a.test, role: r}\n",
                    "mhc.yaml:6:9: duplicate hostname 'a.test' (first at 4:9)");
}
END_TEST

START_TEST(test_unknown_keys) {
        check_fails(DOMAIN "      - hostnme: a.test\n",
                    "mhc.yaml:4:9: unknown key 'hostnme' in host (did you mean 'hostname'?)");
        check_fails(HOST "        rloe: x\n",
                    "mhc.yaml:6:9: unknown key 'rloe' in host (did you mean 'role'?)");
        check_fails(HOST "        serv: [a]\n",
                    "mhc.yaml:6:9: unknown key 'serv' in host (did you mean 'services'?)");
        check_fails(HOST "        Artifacts: [a]\n",
                    "mhc.yaml:6:9: unknown key 'Artifacts' in host (did you mean 'artifacts'?)");
        check_fails(HOST "        colour: red\n", "mhc.yaml:6:9: unknown key 'colour' in host");
        check_fails(HOST "        xy: 1\n", "mhc.yaml:6:9: unknown key 'xy' in host");
        check_fails(CONN "          prot: 22\n",
                    "mhc.yaml:7:11: unknown key 'prot' in conn (did you mean 'port'?)");
        check_fails(CONN "          hostkeypolicy: off\n",
                    "mhc.yaml:7:11: unknown key 'hostkeypolicy' in conn (did you mean "
                    "'host_key_policy'?)");
        check_fails(CONN "          timeout: 5\n", "mhc.yaml:7:11: unknown key 'timeout' in conn");
        check_fails(HOST "        backup:\n          path: [/etc]\n",
                    "mhc.yaml:7:11: unknown key 'path' in backup (did you mean 'paths'?)");
        check_fails(HOST
                    "        "
                    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx: 1\n",
                    "mhc.yaml:6:9: unknown key "
                    "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' in "
                    "host");
}
END_TEST

START_TEST(test_conn_errors) {
        check_fails(CONN "          port: abc\n",
                    "mhc.yaml:7:17: 'port' must be an integer from 1 to 65535, not 'abc'");
        check_fails(CONN "          port: 0\n",
                    "mhc.yaml:7:17: 'port' must be an integer from 1 to 65535, not '0'");
        check_fails(CONN "          port: 65536\n",
                    "mhc.yaml:7:17: 'port' must be an integer from 1 to 65535, not '65536'");
        check_fails(CONN "          port: -22\n",
                    "mhc.yaml:7:17: 'port' must be an integer from 1 to 65535, not '-22'");
        check_fails(CONN "          port: +22\n",
                    "mhc.yaml:7:17: 'port' must be an integer from 1 to 65535, not '+22'");
        check_fails(CONN "          port: 022\n",
                    "mhc.yaml:7:17: 'port' must be an integer from 1 to 65535, not '022'");
        check_fails(CONN "          port: 0x16\n",
                    "mhc.yaml:7:17: 'port' must be an integer from 1 to 65535, not '0x16'");
        check_fails(CONN "          port: 22.0\n",
                    "mhc.yaml:7:17: 'port' must be an integer from 1 to 65535, not '22.0'");
        check_fails(CONN "          port: 99999999999999999999999\n",
                    "mhc.yaml:7:17: 'port' must be an integer from 1 to 65535, not "
                    "'99999999999999999999999'");
        check_fails(CONN "          port: \" 22\"\n",
                    "mhc.yaml:7:17: 'port' must be an integer from 1 to 65535, not ' 22'");
        check_fails(CONN "          port: [22]\n",
                    "mhc.yaml:7:17: 'port' must be an integer from 1 to 65535, not a sequence");
        check_fails(CONN "          port:\n",
                    "mhc.yaml:7:16: 'port' must be an integer from 1 to 65535, not null");
        check_fails(
                CONN "          connect_timeout: 0\n",
                "mhc.yaml:7:28: 'connect_timeout' must be an integer from 1 to 604800, not '0'");
        check_fails(CONN "          command_timeout: 604801\n",
                    "mhc.yaml:7:28: 'command_timeout' must be an integer from 1 to 604800, not "
                    "'604801'");
        check_fails(CONN "          command_timeout: 4294967296\n",
                    "mhc.yaml:7:28: 'command_timeout' must be an integer from 1 to 604800, not "
                    "'4294967296'");
        check_fails(
                CONN "          host_key_policy: yes\n",
                "mhc.yaml:7:28: 'host_key_policy' must be strict, accept-new or off, not 'yes'");
        check_fails(CONN "          host_key_policy: Strict\n",
                    "mhc.yaml:7:28: 'host_key_policy' must be strict, accept-new or off, not "
                    "'Strict'");
        check_fails(CONN "          user: ''\n", "mhc.yaml:7:17: 'user' must not be empty");
        check_fails(CONN "          host: ~\n", "mhc.yaml:7:17: 'host' must be a string, not null");
        check_fails(CONN "          known_hosts: [a]\n",
                    "mhc.yaml:7:24: 'known_hosts' must be a string, not a sequence");
}
END_TEST

START_TEST(test_unreadable_private_key) {
        check_fails(CONN "          private_key: keys/missing\n",
                    "mhc.yaml:7:24: cannot read private_key '" DATA
                    "/keys/missing': No such file or directory");
        check_fails(CONN "          private_key: /nonexistent/id\n",
                    "mhc.yaml:7:24: cannot read private_key '/nonexistent/id': No such file or "
                    "directory");
        check_fails(CONN "          private_key: keys\n",
                    "mhc.yaml:7:24: cannot read private_key '" DATA "/keys': Is a directory");
}
END_TEST

START_TEST(test_remote_paths_must_be_absolute) {
        check_fails(HOST "        backup:\n          paths: [/etc, var/lib/app]\n",
                    "mhc.yaml:7:25: each item of 'paths' must be an absolute path on the host, "
                    "not 'var/lib/app'");
        check_fails(HOST "        backup:\n          paths: /etc\n",
                    "mhc.yaml:7:18: 'paths' must be a sequence, not a scalar");
        check_fails(HOST "        backup: [/etc]\n",
                    "mhc.yaml:6:17: 'backup' must be a mapping, not a sequence");
        check_fails(HOST "        artifacts:\n          - ./log/*.log\n",
                    "mhc.yaml:7:13: each item of 'artifacts' must be an absolute path on the "
                    "host, not './log/*.log'");
}
END_TEST

START_TEST(test_features) {
        mh_config *c;
        const mh_host_config *h;

        setenv("MHC_TEST_FEATURE", "ipv6", 1);
        c = parse_ok(HOST "        features: [sssd, krb5, \"${env:MHC_TEST_FEATURE}\", A_b.c-9]\n"
                          "      - hostname: b.test\n"
                          "        role: r\n"
                          "        features: []\n");
        unsetenv("MHC_TEST_FEATURE");

        /* in the order of the file */
        h = mh_config_host(c, 0);
        ck_assert_uint_eq(mh_host_config_n_features(h), 4);
        ck_assert_str_eq(mh_host_config_feature(h, 0), "sssd");
        ck_assert_str_eq(mh_host_config_feature(h, 1), "krb5");
        ck_assert_str_eq(mh_host_config_feature(h, 2), "ipv6");
        ck_assert_str_eq(mh_host_config_feature(h, 3), "A_b.c-9");
        ck_assert_ptr_null(mh_host_config_feature(h, 4));
        ck_assert(mh_host_config_has_feature(h, "sssd"));
        ck_assert(mh_host_config_has_feature(h, "A_b.c-9"));
        ck_assert(!mh_host_config_has_feature(h, "SSSD"));
        ck_assert(!mh_host_config_has_feature(h, "sss"));
        ck_assert(!mh_host_config_has_feature(h, ""));
        ck_assert(!mh_host_config_has_feature(h, NULL));

        h = mh_config_host(c, 1);
        ck_assert_uint_eq(mh_host_config_n_features(h), 0);
        ck_assert(!mh_host_config_has_feature(h, "sssd"));
        mh_config_free(c);
}
END_TEST

START_TEST(test_feature_errors) {
        check_fails(HOST "        features: [sssd, 'a b']\n",
                    "mhc.yaml:6:26: host 'a.test': feature 'a b' is not a name (letters, digits, "
                    "'_', '.', '-')");
        check_fails(HOST "        features:\n          - ''\n",
                    "mhc.yaml:7:13: host 'a.test': feature '' is not a name (letters, digits, "
                    "'_', '.', '-')");
        check_fails(HOST "        features: [client:sssd]\n",
                    "mhc.yaml:6:20: host 'a.test': feature 'client:sssd' is not a name (letters, "
                    "digits, '_', '.', '-')");
        /* the host's name is known even when features: comes first */
        check_fails(DOMAIN "      - features: [caf\xc3\xa9]\n"
                           "        hostname: a.test\n"
                           "        role: r\n",
                    "mhc.yaml:4:20: host 'a.test': feature 'caf\xc3\xa9' is not a name "
                    "(letters, digits, '_', '.', '-')");
        check_fails(HOST "        features:\n"
                         "          - sssd\n"
                         "          - krb5\n"
                         "          - sssd\n",
                    "mhc.yaml:9:13: host 'a.test': duplicate feature 'sssd' (first at 7:13)");
        check_fails(HOST "        features: sssd\n",
                    "mhc.yaml:6:19: 'features' must be a sequence, not a scalar");
        check_fails(HOST "        features: {sssd: true}\n",
                    "mhc.yaml:6:19: 'features' must be a sequence, not a mapping");
        check_fails(HOST "        features:\n",
                    "mhc.yaml:6:18: 'features' must be a sequence, not null");
        check_fails(HOST "        features: [[sssd]]\n",
                    "mhc.yaml:6:20: each item of 'features' must be a string, not a sequence");
        check_fails(HOST "        features: [~]\n",
                    "mhc.yaml:6:20: each item of 'features' must be a string, not null");
        check_fails(HOST "        featurs: [sssd]\n",
                    "mhc.yaml:6:9: unknown key 'featurs' in host (did you mean 'features'?)");
}
END_TEST

START_TEST(test_relative_paths_are_resolved) {
        mh_config *c = parse_ok(CONN "          private_key: ./keys//id_test\n"
                                     "          known_hosts: ../known_hosts\n"
                                     "tests: [a.so, ./b/*.so, /abs/c.so]\n"
                                     "topologies: [topo, /usr/share/mhc/topologies]\n");
        const mh_host_config *h = mh_config_host(c, 0);

        ck_assert_str_eq(mh_host_config_private_key(h), DATA "/keys//id_test");
        ck_assert_str_eq(mh_host_config_known_hosts(h), DATA "/../known_hosts");
        ck_assert_str_eq(mh_config_test(c, 0), DATA "/a.so");
        ck_assert_str_eq(mh_config_test(c, 1), DATA "/b/*.so");
        ck_assert_str_eq(mh_config_test(c, 2), "/abs/c.so");
        ck_assert_str_eq(mh_config_topology_dir(c, 0), DATA "/topo");
        ck_assert_str_eq(mh_config_topology_dir(c, 1), "/usr/share/mhc/topologies");
        mh_config_free(c);

        c = parse_in(CONN "          private_key: " DATA "/keys/id_test\n", "/");
        ck_assert_str_eq(mh_host_config_private_key(mh_config_host(c, 0)), DATA "/keys/id_test");
        mh_config_free(c);

        c = parse_in(HOST "tests: [t.so]\n", "/");
        ck_assert_str_eq(mh_config_test(c, 0), "/t.so");
        mh_config_free(c);
}
END_TEST

/* A NULL or relative base directory is taken from the working directory. */
START_TEST(test_base_dir_from_cwd) {
        _cleanup_free_ char *cwd = getcwd(NULL, 0);
        mh_config *c;
        char expected[4096];

        ck_assert_int_eq(chdir(DATA), 0);

        c = parse_in(CONN "          private_key: keys/id_test\ntests: [t.so]\n", NULL);
        ck_assert_str_eq(mh_host_config_private_key(mh_config_host(c, 0)), DATA "/keys/id_test");
        ck_assert_str_eq(mh_config_test(c, 0), DATA "/t.so");
        mh_config_free(c);

        c = parse_in(CONN "          private_key: id_test\ntests: [t.so]\n", "./keys");
        ck_assert_str_eq(mh_host_config_private_key(mh_config_host(c, 0)), DATA "/keys/id_test");
        ck_assert_str_eq(mh_config_test(c, 0), DATA "/keys/t.so");
        mh_config_free(c);

        c = parse_in(HOST "tests: [t.so]\n", ".");
        snprintf(expected, sizeof(expected), "%s/t.so", DATA);
        ck_assert_str_eq(mh_config_test(c, 0), expected);
        mh_config_free(c);

        ck_assert_int_eq(chdir(cwd), 0);
}
END_TEST

START_TEST(test_env_substitution) {
        mh_config *c;
        const mh_host_config *h;

        setenv("MHC_TEST_A", "alpha", 1);
        setenv("_mhc_test_b2", "beta", 1);
        setenv("MHC_TEST_PORT", "2200", 1);
        setenv("MHC_TEST_EMPTY", "", 1);
        c = parse_ok(
                CONN
                "          user: \"${env:MHC_TEST_A}-${env:_mhc_test_b2}${x}$${env:MHC_TEST_A}\"\n"
                "          host: ${env:MHC_TEST_EMPTY}${not-env}${env\n"
                "          port: ${env:MHC_TEST_PORT}\n"
                "        services: [\"${env:MHC_TEST_A}.service\"]\n"
                "tests: [\"${env:MHC_TEST_A}/*.so\"]\n");
        h = mh_config_host(c, 0);
        ck_assert_str_eq(mh_host_config_user(h), "alpha-beta${x}$alpha");
        ck_assert_str_eq(mh_host_config_address(h), "${not-env}${env");
        ck_assert_uint_eq(mh_host_config_port(h), 2200);
        ck_assert_str_eq(mh_host_config_service(h, 0), "alpha.service");
        ck_assert_str_eq(mh_config_test(c, 0), DATA "/alpha/*.so");
        mh_config_free(c);

        check_fails(CONN "          user: ${env:MHC_TEST_EMPTY}\n",
                    "mhc.yaml:7:17: 'user' must not be empty");
        check_fails(CONN "          port: ${env:MHC_TEST_A}\n",
                    "mhc.yaml:7:17: 'port' must be an integer from 1 to 65535, not 'alpha'");

        unsetenv("MHC_TEST_A");
        unsetenv("_mhc_test_b2");
        unsetenv("MHC_TEST_PORT");
        unsetenv("MHC_TEST_EMPTY");
}
END_TEST

START_TEST(test_env_errors) {
        unsetenv("MHC_TEST_UNSET");
        check_fails(CONN "          user: ${env:MHC_TEST_UNSET}\n",
                    "mhc.yaml:7:17: environment variable 'MHC_TEST_UNSET' is not set");
        check_fails(CONN "          user: \"x${env:1BAD}\"\n",
                    "mhc.yaml:7:17: invalid environment variable name '1BAD' in ${env:...}");
        check_fails(CONN "          user: \"${env:A-B}\"\n",
                    "mhc.yaml:7:17: invalid environment variable name 'A-B' in ${env:...}");
        check_fails(CONN "          user: \"${env:}\"\n",
                    "mhc.yaml:7:17: invalid environment variable name '' in ${env:...}");
        check_fails(CONN "          user: \"${env:HOME\"\n",
                    "mhc.yaml:7:17: '${env:' without a closing '}'");
        check_fails(HOST "tests: [\"${env:MHC_TEST_UNSET}/x\"]\n",
                    "mhc.yaml:6:9: environment variable 'MHC_TEST_UNSET' is not set");
        check_fails(
                HOST
                "        config:\n          a:\n            b: [x, \"${env:MHC_TEST_UNSET}\"]\n",
                "mhc.yaml:8:20: environment variable 'MHC_TEST_UNSET' is not set");
        check_fails(CONN "          user: \"a\\0b\"\n",
                    "mhc.yaml:7:17: the value contains a NUL character");
}
END_TEST

/* Keys of the config: subtree are not values: they are kept as written. */
START_TEST(test_options_keys_are_not_expanded) {
        check_fails(HOST "        config:\n          ${env:MHC_TEST_UNSET}: 1\n",
                    "mhc.yaml:7:11: unknown key '${env:MHC_TEST_UNSET}' in config of systemd host");
}
END_TEST

/* No message may show the password, whatever is wrong around it. */
START_TEST(test_password_is_never_in_messages) {
        static const char *const configs[] = {
                CONN "          password: [" PASSWORD "]\n",
                CONN "          password: {" PASSWORD ": x}\n",
                CONN "          password:\n            - " PASSWORD "\n",
                CONN "          password: \"" PASSWORD "${env:bad name}\"\n",
                CONN "          password: \"" PASSWORD "${env:" PASSWORD "-x}\"\n",
                CONN "          password: \"" PASSWORD "${env:unclosed\"\n",
                CONN "          password: \"" PASSWORD "\\0\"\n",
                CONN "          password: " PASSWORD "\n          port: abc\n",
                CONN "          password: " PASSWORD "\n          password: other\n",
                CONN "          password: " PASSWORD "\n          pasword: " PASSWORD "\n",
                CONN "          password: " PASSWORD "\n          port: [\n",
                CONN "          password: " PASSWORD "\n        rol: x\n",
                CONN "          password: \"" PASSWORD "\n",
                CONN "          password: '" PASSWORD "'\n          user:\n",
                CONN "          password: " PASSWORD "\n" HOST,
        };
        static const char *const messages[] = {
                "mhc.yaml:7:21: 'password' must be a string, not a sequence",
                "mhc.yaml:7:21: 'password' must be a string, not a mapping",
                "mhc.yaml:8:13: 'password' must be a string, not a sequence",
                "mhc.yaml:7:21: invalid environment variable name in ${env:...}",
                "mhc.yaml:7:21: invalid environment variable name in ${env:...}",
                "mhc.yaml:7:21: '${env:' without a closing '}'",
                "mhc.yaml:7:21: the value contains a NUL character",
                "mhc.yaml:8:17: 'port' must be an integer from 1 to 65535, not 'abc'",
                "mhc.yaml:8:11: duplicate key 'password' (first at 7:11)",
                "mhc.yaml:8:11: unknown key 'pasword' in conn (did you mean 'password'?)",
                NULL,
                "mhc.yaml:8:9: unknown key 'rol' in host (did you mean 'role'?)",
                NULL,
                "mhc.yaml:8:16: 'user' must be a string, not null",
                NULL,
        };

        for (size_t i = 0; i < ELEMENTSOF(configs); i++) {
                mh_error e = MH_ERROR_INIT;
                mh_config *c = NULL;

                ck_assert_int_lt(
                        mh_config_parse(configs[i], strlen(configs[i]), "mhc.yaml", DATA, &c, &e),
                        0);
                ck_assert_ptr_null(c);
                ck_assert(mh_error_is_set(&e));
                ck_assert_msg(!strstr(e.message, PASSWORD), "config %zu: %s", i, e.message);
                ck_assert_msg(!strstr(e.message, "unter2"), "config %zu: %s", i, e.message);
                if (messages[i])
                        ck_assert_str_eq(e.message, messages[i]);
        }
}
END_TEST

START_TEST(test_password_is_kept) {
        mh_config *c = parse_ok(CONN "          password: \"" PASSWORD "\"\n");

        ck_assert(mh_host_config_has_password(mh_config_host(c, 0)));
        ck_assert_str_eq(mh_host_config_password(mh_config_host(c, 0)), PASSWORD);
        mh_config_free(c);
}
END_TEST

START_TEST(test_yaml_errors_pass_through) {
        mh_error e = MH_ERROR_INIT;

        fails_with(HOST "        role: again\n", -MH_ERR_YAML, &e);
        ck_assert_str_eq(e.message, "mhc.yaml:6:9: duplicate key 'role' (first at 5:9)");
        mh_error_clear(&e);
        fails_with("domains: [\n", -MH_ERR_YAML, &e);
        ck_assert_str_eq(
                e.message,
                "mhc.yaml:2:1: did not find expected node content (while parsing a flow node)");
}
END_TEST

START_TEST(test_load_errors) {
        mh_error e = MH_ERROR_INIT;
        mh_config *c = NULL;

        ck_assert_int_eq(mh_config_load("/nonexistent/mhc.yaml", &c, &e), -ENOENT);
        ck_assert_str_eq(e.message,
                         "cannot read config '/nonexistent/mhc.yaml': No such file or directory");
        ck_assert_ptr_null(c);

        mh_error_clear(&e);
        ck_assert_int_eq(mh_config_load(DATA, &c, &e), -EISDIR);
        ck_assert_str_eq(e.message, "cannot read config '" DATA "': Is a directory");

        ck_assert_int_eq(mh_config_load(NULL, &c, NULL), -EINVAL);
        ck_assert_int_eq(mh_config_load(DATA "/config/mhc.yaml", NULL, NULL), -EINVAL);
        ck_assert_int_eq(mh_config_parse("a", 1, "x", NULL, NULL, NULL), -EINVAL);
        ck_assert_int_eq(mh_config_parse(NULL, 1, "x", NULL, &c, NULL), -EINVAL);
}
END_TEST

/* A temporary file of size bytes of comment lines; returns its path. */
static char *write_big_file(size_t size) {
        char *path = strdup("/tmp/test-config-XXXXXX");
        FILE *f;
        int fd;

        ck_assert_ptr_nonnull(path);
        fd = mkstemp(path);
        ck_assert_int_ge(fd, 0);
        f = fdopen(fd, "w");
        ck_assert_ptr_nonnull(f);
        for (size_t i = 0; i < size; i++)
                fputc(i % 80 == 0 ? '#' : i % 80 == 79 ? '\n' : 'x', f);
        ck_assert_int_eq(fclose(f), 0);
        return path;
}

START_TEST(test_file_size_limit) {
        _cleanup_free_ char *at_limit = write_big_file(4 * 1024 * 1024),
                            *too_big = write_big_file(4 * 1024 * 1024 + 1);
        char expected[256];
        mh_error e = MH_ERROR_INIT;
        mh_config *c = NULL;

        /* Read whole: only then does validation find that domains are missing. */
        ck_assert_int_eq(mh_config_load(at_limit, &c, &e), -MH_ERR_CONFIG);
        snprintf(expected, sizeof(expected),
                 "%s:1:1: configuration is missing required key 'domains'", at_limit);
        ck_assert_str_eq(e.message, expected);

        mh_error_clear(&e);
        ck_assert_int_eq(mh_config_load(too_big, &c, &e), -EFBIG);
        snprintf(expected, sizeof(expected), "cannot read config '%s': larger than 4 MiB", too_big);
        ck_assert_str_eq(e.message, expected);
        ck_assert_ptr_null(c);

        unlink(at_limit);
        unlink(too_big);
}
END_TEST

/* A relative path as given is the origin; its directory is made absolute. */
START_TEST(test_load_relative_path) {
        _cleanup_free_ char *cwd = getcwd(NULL, 0);
        mh_error e = MH_ERROR_INIT;
        mh_config *c = NULL;

        setenv("MHC_TEST_PASSWORD", PASSWORD, 1);
        setenv("MHC_TEST_USER", "world", 1);
        ck_assert_int_eq(chdir(DATA), 0);

        ck_assert_msg(mh_config_load("config/mhc.yaml", &c, &e) == 0, "%s", e.message);
        ck_assert_str_eq(mh_config_path(c), "config/mhc.yaml");
        ck_assert_str_eq(mh_host_config_location(mh_config_host(c, 0)), "config/mhc.yaml:5:9");
        ck_assert_str_eq(mh_host_config_private_key(mh_config_host(c, 0)),
                         DATA "/config/../keys/id_test");
        ck_assert_str_eq(mh_config_test(c, 0), DATA "/config/tests/*.so");
        c = mh_config_free(c);

        ck_assert_int_eq(chdir("config"), 0);
        ck_assert_msg(mh_config_load("mhc.yaml", &c, &e) == 0, "%s", e.message);
        ck_assert_str_eq(mh_config_test(c, 0), DATA "/config/tests/*.so");
        c = mh_config_free(c);

        ck_assert_msg(mh_config_load(".//mhc.yaml", &c, &e) == 0, "%s", e.message);
        ck_assert_str_eq(mh_config_test(c, 0), DATA "/config/tests/*.so");
        mh_config_free(c);

        ck_assert_int_eq(chdir(cwd), 0);
        unsetenv("MHC_TEST_PASSWORD");
        unsetenv("MHC_TEST_USER");
}
END_TEST

START_TEST(test_policy_to_string) {
        ck_assert_str_eq(mh_host_key_policy_to_string(MH_HOST_KEY_STRICT), "strict");
        ck_assert_str_eq(mh_host_key_policy_to_string(MH_HOST_KEY_ACCEPT_NEW), "accept-new");
        ck_assert_str_eq(mh_host_key_policy_to_string(MH_HOST_KEY_OFF), "off");
        ck_assert_str_eq(mh_host_key_policy_to_string((mh_host_key_policy) 7), "unknown");
}
END_TEST

START_TEST(test_free_null) {
        ck_assert_ptr_null(mh_config_free(NULL));
}
END_TEST

static Suite *config_suite(void) {
        Suite *s = suite_create("config");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_full_config);
        tcase_add_test(tc, test_defaults);
        tcase_add_test(tc, test_values_that_look_like_other_types);
        tcase_add_test(tc, test_top_level_errors);
        tcase_add_test(tc, test_domain_errors);
        tcase_add_test(tc, test_host_errors);
        tcase_add_test(tc, test_duplicate_hostname);
        tcase_add_test(tc, test_unknown_keys);
        tcase_add_test(tc, test_conn_errors);
        tcase_add_test(tc, test_unreadable_private_key);
        tcase_add_test(tc, test_remote_paths_must_be_absolute);
        tcase_add_test(tc, test_features);
        tcase_add_test(tc, test_feature_errors);
        tcase_add_test(tc, test_relative_paths_are_resolved);
        tcase_add_test(tc, test_base_dir_from_cwd);
        tcase_add_test(tc, test_env_substitution);
        tcase_add_test(tc, test_env_errors);
        tcase_add_test(tc, test_options_keys_are_not_expanded);
        tcase_add_test(tc, test_password_is_never_in_messages);
        tcase_add_test(tc, test_password_is_kept);
        tcase_add_test(tc, test_yaml_errors_pass_through);
        tcase_add_test(tc, test_load_errors);
        tcase_add_test(tc, test_file_size_limit);
        tcase_add_test(tc, test_load_relative_path);
        tcase_add_test(tc, test_policy_to_string);
        tcase_add_test(tc, test_free_null);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return run_suite(config_suite());
}
