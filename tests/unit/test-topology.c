/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mhc/config.h>
#include <mhc/error.h>
#include <mhc/topology.h>

#include "util.h"
#include "check-run.h"

#define DATA MH_TEST_SRCDIR "/tests/unit/data/topologies"

/* A valid head; the domain's mapping is at 3:5 and its roles: key at 4:5. */
#define HEAD    "name: t\n"
#define DOMAINS HEAD "domains:\n  - id: lab\n    roles: {client: 1, db: 1}\n"

/* Hosts in file order: c1, db1, c2, c3 in domain lab, then ipa1 in domain ipa. */
static const char config_text[] = "domains:\n"
                                  "  - id: lab\n"
                                  "    hosts:\n"
                                  "      - {hostname: c1.test, role: client}\n"
                                  "      - {hostname: db1.test, role: db}\n"
                                  "      - {hostname: c2.test, role: client}\n"
                                  "      - {hostname: c3.test, role: client}\n"
                                  "  - id: ipa\n"
                                  "    hosts:\n"
                                  "      - {hostname: ipa1.test, role: ipa}\n";

/* mhc.yaml of the lab: one client, one server, one database server. */
static const char lab_text[] = "domains:\n"
                               "  - id: lab\n"
                               "    hosts:\n"
                               "      - {hostname: client.lab.test, role: client}\n"
                               "      - {hostname: server.lab.test, role: server}\n"
                               "      - {hostname: db.lab.test, role: db, type: postgresql, config: {user: mhc}}\n"
                               "      - {hostname: vm.lab.test, role: vm}\n";

static mh_topology *parse_ok(const char *text) {
        mh_error e = MH_ERROR_INIT;
        mh_topology *t = NULL;

        ck_assert_msg(mh_topology_parse(text, strlen(text), "t.yaml", &t, &e) == 0, "%s",
                      e.message);
        ck_assert_ptr_nonnull(t);
        return t;
}

/* Parsing text fails with code and message, and leaves ret alone. */
static void check_fails_with(const char *text, int code, const char *message) {
        mh_error e = MH_ERROR_INIT;
        mh_topology *t = (mh_topology *) 0x1;

        ck_assert_int_eq(mh_topology_parse(text, strlen(text), "t.yaml", &t, &e), code);
        ck_assert_int_eq(e.code, code);
        ck_assert_str_eq(e.message, message);
        ck_assert_ptr_eq(t, (mh_topology *) 0x1);
}

static void check_fails(const char *text, const char *message) {
        check_fails_with(text, -MH_ERR_CONFIG, message);
}

static mh_config *config_ok(const char *text) {
        mh_error e = MH_ERROR_INIT;
        mh_config *c = NULL;

        ck_assert_msg(mh_config_parse(text, strlen(text), "mhc.yaml", "/", &c, &e) == 0, "%s",
                      e.message);
        return c;
}

/* The hostnames that t's roles get in config, joined with spaces. */
static void check_match(const char *topology, int exact, const char *hostnames) {
        _cleanup_free_ const mh_host_config **hosts = NULL;
        mh_topology *t = parse_ok(topology);
        mh_config *c = config_ok(config_text);
        mh_error e = MH_ERROR_INIT;
        char joined[256] = "";
        size_t n = 0;

        ck_assert_msg(mh_topology_match(t, c, exact, &hosts, &n, &e) == 0, "%s", e.message);
        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        strcat(joined, " ");
                strcat(joined, mh_host_config_hostname(hosts[i]));
        }
        ck_assert_str_eq(joined, hostnames);

        mh_config_free(c);
        mh_topology_free(t);
}

static void check_match_fails(const char *topology, int exact, const char *message) {
        const mh_host_config **hosts = (const mh_host_config **) 0x1;
        mh_topology *t = parse_ok(topology);
        mh_config *c = config_ok(config_text);
        mh_error e = MH_ERROR_INIT;
        size_t n = 7;

        ck_assert_int_eq(mh_topology_match(t, c, exact, &hosts, &n, &e), -ENOENT);
        ck_assert_str_eq(e.message, message);
        ck_assert_ptr_eq(hosts, (const mh_host_config **) 0x1);
        ck_assert_uint_eq(n, 7);

        mh_config_free(c);
        mh_topology_free(t);
}

/* --- parsing ------------------------------------------------------------- */

START_TEST(test_full_topology) {
        mh_topology *t = parse_ok("name: client-db_2.x\n"
                                  "description: two domains\n"
                                  "controller: none\n"
                                  "setup:\n"
                                  "  db:\n"
                                  "    - createdb app\n"
                                  "    - \"psql -c 'SELECT 1' app\"\n"
                                  "  ipa: []\n"
                                  "domains:\n"
                                  "  - id: lab\n"
                                  "    roles: {client: 2, db: 1}\n"
                                  "  - id: ipa\n"
                                  "    roles:\n"
                                  "      ipa: 1\n");

        ck_assert_str_eq(mh_topology_name(t), "client-db_2.x");
        ck_assert_str_eq(mh_topology_description(t), "two domains");
        ck_assert_str_eq(mh_topology_origin(t), "t.yaml");
        ck_assert_int_eq(mh_topology_controller(t), MH_CONTROLLER_NONE);

        ck_assert_uint_eq(mh_topology_n_domains(t), 2);
        ck_assert_str_eq(mh_topology_domain_id(t, 0), "lab");
        ck_assert_uint_eq(mh_topology_n_roles(t, 0), 2);
        ck_assert_str_eq(mh_topology_role(t, 0, 0), "client");
        ck_assert_uint_eq(mh_topology_role_count(t, 0, 0), 2);
        ck_assert_str_eq(mh_topology_role(t, 0, 1), "db");
        ck_assert_uint_eq(mh_topology_role_count(t, 0, 1), 1);
        ck_assert_str_eq(mh_topology_domain_id(t, 1), "ipa");
        ck_assert_uint_eq(mh_topology_n_roles(t, 1), 1);
        ck_assert_str_eq(mh_topology_role(t, 1, 0), "ipa");
        ck_assert_uint_eq(mh_topology_role_count(t, 1, 0), 1);

        /* Past the end. */
        ck_assert_ptr_null(mh_topology_domain_id(t, 2));
        ck_assert_uint_eq(mh_topology_n_roles(t, 2), 0);
        ck_assert_ptr_null(mh_topology_role(t, 0, 2));
        ck_assert_ptr_null(mh_topology_role(t, 2, 0));
        ck_assert_uint_eq(mh_topology_role_count(t, 1, 1), 0);

        ck_assert_uint_eq(mh_topology_n_setup(t, "db"), 2);
        ck_assert_str_eq(mh_topology_setup(t, "db", 0), "createdb app");
        ck_assert_str_eq(mh_topology_setup(t, "db", 1), "psql -c 'SELECT 1' app");
        ck_assert_ptr_null(mh_topology_setup(t, "db", 2));
        ck_assert_uint_eq(mh_topology_n_setup(t, "ipa"), 0);
        ck_assert_uint_eq(mh_topology_n_setup(t, "client"), 0);
        ck_assert_ptr_null(mh_topology_setup(t, "client", 0));
        ck_assert_uint_eq(mh_topology_n_setup(t, NULL), 0);

        mh_topology_free(t);
}
END_TEST

START_TEST(test_defaults) {
        mh_error e = MH_ERROR_INIT;
        mh_topology *t = NULL;

        ck_assert_int_eq(mh_topology_parse(DOMAINS, strlen(DOMAINS), NULL, &t, &e), 0);
        ck_assert_str_eq(mh_topology_name(t), "t");
        ck_assert_str_eq(mh_topology_description(t), "");
        ck_assert_str_eq(mh_topology_origin(t), "<topology>");
        ck_assert_int_eq(mh_topology_controller(t), MH_CONTROLLER_BACKUP);
        ck_assert_uint_eq(mh_topology_n_setup(t, "db"), 0);
        mh_topology_free(t);

        t = parse_ok(DOMAINS "controller: backup\nsetup: {}\n");
        ck_assert_int_eq(mh_topology_controller(t), MH_CONTROLLER_BACKUP);
        mh_topology_free(t);
}
END_TEST

/* Commands go to a shell as written: ${...} is the shell's, not mhc.yaml's ${env:...}. */
START_TEST(test_setup_is_not_expanded) {
        mh_topology *t = parse_ok(DOMAINS "setup:\n  db:\n    - echo ${env:NOPE} ${HOME:-x}\n");

        ck_assert_str_eq(mh_topology_setup(t, "db", 0), "echo ${env:NOPE} ${HOME:-x}");
        mh_topology_free(t);
}
END_TEST

START_TEST(test_top_level_errors) {
        check_fails("- a\n", "t.yaml:1:1: the topology must be a mapping, not a sequence");
        check_fails("", "t.yaml:1:1: topology is missing required key 'name'");
        check_fails(HEAD, "t.yaml:1:1: topology is missing required key 'domains'");
        check_fails("domains:\n  - id: lab\n    roles: {a: 1}\n",
                    "t.yaml:1:1: topology is missing required key 'name'");
        check_fails(DOMAINS "colour: red\n", "t.yaml:5:1: unknown key 'colour' in topology");
        check_fails("nmae: t\n",
                    "t.yaml:1:1: unknown key 'nmae' in topology (did you mean 'name'?)");
        check_fails(HEAD "domain: []\n",
                    "t.yaml:2:1: unknown key 'domain' in topology (did you mean 'domains'?)");
        check_fails(DOMAINS "controler: none\n",
                    "t.yaml:5:1: unknown key 'controler' in topology (did you mean 'controller'?)");
        check_fails(DOMAINS "setpu: {}\n",
                    "t.yaml:5:1: unknown key 'setpu' in topology (did you mean 'setup'?)");
        check_fails(DOMAINS "descr: x\n",
                    "t.yaml:5:1: unknown key 'descr' in topology (did you mean 'description'?)");
}
END_TEST

START_TEST(test_name_errors) {
        check_fails(
                "name: a b\n",
                "t.yaml:1:7: 'name' may only have letters, digits, '_', '.' and '-', not 'a b'");
        check_fails("name: ../x\n",
                    "t.yaml:1:7: 'name' may only have letters, digits, '_', '.' and '-', not "
                    "'../x'");
        check_fails("name: \"..\"\n", "t.yaml:1:7: 'name' must not be '..'");
        check_fails("name: .\n", "t.yaml:1:7: 'name' must not be '.'");
        check_fails("name: ''\n", "t.yaml:1:7: 'name' must not be empty");
        check_fails("name:\n", "t.yaml:1:6: 'name' must be a string, not null");
        check_fails("name: [a]\n", "t.yaml:1:7: 'name' must be a string, not a sequence");
        check_fails("name: \"a\\0b\"\n", "t.yaml:1:7: the value contains a NUL character");
}
END_TEST

START_TEST(test_value_errors) {
        check_fails(DOMAINS "description: {a: b}\n",
                    "t.yaml:5:14: 'description' must be a string, not a mapping");
        check_fails(DOMAINS "description: ''\n", "t.yaml:5:14: 'description' must not be empty");
        check_fails(DOMAINS "controller: restore\n",
                    "t.yaml:5:13: 'controller' must be backup or none, not 'restore'");
        check_fails(DOMAINS "controller: [none]\n",
                    "t.yaml:5:13: 'controller' must be a string, not a sequence");
}
END_TEST

START_TEST(test_domain_errors) {
        check_fails(HEAD "domains: {}\n",
                    "t.yaml:2:10: 'domains' must be a sequence, not a mapping");
        check_fails(HEAD "domains:\n", "t.yaml:2:9: 'domains' must be a sequence, not null");
        check_fails(HEAD "domains: []\n", "t.yaml:2:10: 'domains' must not be empty");
        check_fails(HEAD "domains: [lab]\n",
                    "t.yaml:2:11: each item of 'domains' must be a mapping, not a scalar");
        check_fails(HEAD "domains:\n  - roles: {a: 1}\n",
                    "t.yaml:3:5: domain is missing required key 'id'");
        check_fails(HEAD "domains:\n  - id: lab\n", "t.yaml:3:5: domain 'lab' has no roles");
        check_fails(HEAD "domains:\n  - id: ~\n", "t.yaml:3:9: 'id' must be a string, not null");
        check_fails(HEAD "domains:\n  - id: lab\n    rols: {client: 1}\n",
                    "t.yaml:4:5: unknown key 'rols' in domain (did you mean 'roles'?)");
        check_fails(HEAD "domains:\n  - id: lab\n    hosts: []\n",
                    "t.yaml:4:5: unknown key 'hosts' in domain");
        check_fails(DOMAINS "  - id: ipa\n    roles: {ipa: 1}\n  - id: lab\n    roles: {a: 1}\n",
                    "t.yaml:7:5: duplicate domain id 'lab' (first at 3:5)");
}
END_TEST

START_TEST(test_role_errors) {
#define ROLES HEAD "domains:\n  - id: lab\n    roles: "
        check_fails(ROLES "[client]\n", "t.yaml:4:12: 'roles' must be a mapping, not a sequence");
        check_fails(ROLES "client\n", "t.yaml:4:12: 'roles' must be a mapping, not a scalar");
        check_fails(ROLES "\n", "t.yaml:4:11: 'roles' must be a mapping, not null");
        check_fails(ROLES "{}\n", "t.yaml:4:12: 'roles' must not be empty");
        check_fails(ROLES "{client: 0}\n",
                    "t.yaml:4:21: the count of role 'client' must be an integer from 1 to 1000, "
                    "not '0'");
        check_fails(ROLES "{client: two}\n",
                    "t.yaml:4:21: the count of role 'client' must be an integer from 1 to 1000, "
                    "not 'two'");
        check_fails(ROLES "{client: -1}\n",
                    "t.yaml:4:21: the count of role 'client' must be an integer from 1 to 1000, "
                    "not '-1'");
        check_fails(ROLES "{client: 1001}\n",
                    "t.yaml:4:21: the count of role 'client' must be an integer from 1 to 1000, "
                    "not '1001'");
        check_fails(ROLES "{client: 1.5}\n",
                    "t.yaml:4:21: the count of role 'client' must be an integer from 1 to 1000, "
                    "not '1.5'");
        check_fails(ROLES "{client: ~}\n",
                    "t.yaml:4:21: the count of role 'client' must be an integer from 1 to 1000, "
                    "not null");
        check_fails(ROLES "{client: [1]}\n",
                    "t.yaml:4:21: the count of role 'client' must be an integer from 1 to 1000, "
                    "not a sequence");
        check_fails(ROLES "{db: 1, client: }\n",
                    "t.yaml:4:28: the count of role 'client' must be an integer from 1 to 1000, "
                    "not null");
        check_fails(ROLES "{\"\": 1}\n", "t.yaml:4:13: a role name must not be empty");
        check_fails(ROLES "{~: 1}\n", "t.yaml:4:13: a role name must be a string, not null");
#undef ROLES
}
END_TEST

START_TEST(test_setup_errors) {
        check_fails(DOMAINS "setup: [a]\n",
                    "t.yaml:5:8: 'setup' must be a mapping, not a sequence");
        check_fails(DOMAINS "setup:\n", "t.yaml:5:7: 'setup' must be a mapping, not null");
        check_fails(DOMAINS "setup:\n  web:\n    - true\n",
                    "t.yaml:6:3: setup names role 'web', which no domain has");
        /* Found wherever setup: is, before or after domains:. */
        check_fails(HEAD "setup:\n  web: []\ndomains:\n  - id: lab\n    roles: {client: 1}\n",
                    "t.yaml:3:3: setup names role 'web', which no domain has");
        check_fails(DOMAINS "setup:\n  db: createdb app\n",
                    "t.yaml:6:7: 'db' must be a sequence, not a scalar");
        check_fails(DOMAINS "setup:\n  db:\n    - ''\n",
                    "t.yaml:7:7: each item of 'db' must not be empty");
        check_fails(DOMAINS "setup:\n  db:\n    - {a: b}\n",
                    "t.yaml:7:7: each item of 'db' must be a string, not a mapping");
        check_fails(DOMAINS "setup:\n  db:\n    -\n",
                    "t.yaml:7:6: each item of 'db' must be a string, not null");
}
END_TEST

START_TEST(test_yaml_errors_pass_through) {
        mh_error e = MH_ERROR_INIT;

        check_fails_with(
                "name: [\n", -MH_ERR_YAML,
                "t.yaml:2:1: did not find expected node content (while parsing a flow node)");
        check_fails_with(DOMAINS "name: u\n", -MH_ERR_YAML,
                         "t.yaml:5:1: duplicate key 'name' (first at 1:1)");
        ck_assert_int_eq(mh_topology_parse(NULL, 1, "t.yaml", &(mh_topology *){ NULL }, &e),
                         -EINVAL);
        ck_assert_int_eq(mh_topology_parse("", 0, "t.yaml", NULL, &e), -EINVAL);
        ck_assert(!mh_error_is_set(&e));
}
END_TEST

START_TEST(test_load) {
        mh_error e = MH_ERROR_INIT;
        mh_topology *t = NULL;

        ck_assert_msg(mh_topology_load(DATA "/set-a/client-db.yaml", &t, &e) == 0, "%s", e.message);
        ck_assert_str_eq(mh_topology_name(t), "client-db");
        ck_assert_str_eq(mh_topology_origin(t), DATA "/set-a/client-db.yaml");
        ck_assert_str_eq(mh_topology_description(t), "a client and a PostgreSQL server");
        ck_assert_str_eq(mh_topology_setup(t, "db", 0), "psql -c 'CREATE DATABASE app'");
        mh_topology_free(t);

        ck_assert_int_eq(mh_topology_load(DATA "/bad/broken.yaml", &t, &e), -MH_ERR_CONFIG);
        ck_assert_str_eq(e.message, DATA "/bad/broken.yaml:4:5: unknown key 'rols' in domain "
                                         "(did you mean 'roles'?)");

        mh_error_clear(&e);
        t = NULL;
        ck_assert_int_eq(mh_topology_load(DATA "/missing.yaml", &t, &e), -ENOENT);
        ck_assert_str_eq(e.message,
                         "cannot read topology '" DATA "/missing.yaml': No such file or directory");
        ck_assert_ptr_null(t);

        mh_error_clear(&e);
        ck_assert_int_eq(mh_topology_load(DATA, &t, &e), -EISDIR);
        ck_assert_str_eq(e.message, "cannot read topology '" DATA "': Is a directory");

        ck_assert_int_eq(mh_topology_load(NULL, &t, NULL), -EINVAL);
        ck_assert_int_eq(mh_topology_load(DATA "/set-a/client-db.yaml", NULL, NULL), -EINVAL);
}
END_TEST

START_TEST(test_file_size_limit) {
        char path[] = "/tmp/test-topology-XXXXXX";
        mh_error e = MH_ERROR_INIT;
        mh_topology *t = NULL;
        char expected[256];
        int fd;

        fd = mkstemp(path);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(ftruncate(fd, 1024 * 1024 + 1), 0);
        close(fd);

        ck_assert_int_eq(mh_topology_load(path, &t, &e), -EFBIG);
        snprintf(expected, sizeof(expected), "cannot read topology '%s': larger than 1 MiB", path);
        ck_assert_str_eq(e.message, expected);
        ck_assert_ptr_null(t);
        unlink(path);
}
END_TEST

START_TEST(test_free_null) {
        ck_assert_ptr_null(mh_topology_free(NULL));
        ck_assert_ptr_null(mh_topology_set_free(NULL));
}
END_TEST

/* --- matching ------------------------------------------------------------ */

#define LAB(roles) HEAD "domains:\n  - id: lab\n    roles: " roles "\n"

START_TEST(test_match_at_least) {
        /* The first hosts of each role in mhc.yaml's order, role by role. */
        check_match(LAB("{client: 1}"), 0, "c1.test");
        check_match(LAB("{client: 2, db: 1}"), 0, "c1.test c2.test db1.test");
        check_match(LAB("{db: 1, client: 3}"), 0, "db1.test c1.test c2.test c3.test");
        /* Domain by domain, in the topology's order. */
        check_match(HEAD "domains:\n"
                         "  - id: ipa\n    roles: {ipa: 1}\n"
                         "  - id: lab\n    roles: {client: 2}\n",
                    0, "ipa1.test c1.test c2.test");
}
END_TEST

START_TEST(test_match_exact) {
        check_match(LAB("{client: 3, db: 1}"), 1, "c1.test c2.test c3.test db1.test");
        check_match_fails(LAB("{client: 2, db: 1}"), 1,
                          "needs exactly 2 hosts with role 'client' in domain 'lab', mhc.yaml has "
                          "3");
        check_match_fails(LAB("{client: 3}"), 1,
                          "needs no host with role 'db' in domain 'lab', mhc.yaml has 1");
        /* Other domains do not count. */
        check_match(HEAD "domains:\n  - id: ipa\n    roles: {ipa: 1}\n", 1, "ipa1.test");
}
END_TEST

START_TEST(test_match_missing_role) {
        check_match_fails(LAB("{client: 1, web: 1}"), 0,
                          "needs 1 host with role 'web' in domain 'lab', mhc.yaml has 0");
        check_match_fails(LAB("{db: 2}"), 0,
                          "needs 2 hosts with role 'db' in domain 'lab', mhc.yaml has 1");
        check_match_fails(LAB("{client: 4}"), 0,
                          "needs 4 hosts with role 'client' in domain 'lab', mhc.yaml has 3");
        /* Roles are per domain: ipa has no client. */
        check_match_fails(HEAD "domains:\n  - id: ipa\n    roles: {client: 1}\n", 0,
                          "needs 1 host with role 'client' in domain 'ipa', mhc.yaml has 0");
}
END_TEST

START_TEST(test_match_missing_domain) {
        check_match_fails(HEAD "domains:\n"
                               "  - id: lab\n    roles: {client: 1}\n"
                               "  - id: ad\n    roles: {dc: 1}\n",
                          0, "needs domain 'ad', mhc.yaml has none");
        check_match_fails(HEAD "domains:\n  - id: ad\n    roles: {dc: 1}\n", 1,
                          "needs domain 'ad', mhc.yaml has none");
}
END_TEST

START_TEST(test_match_invalid) {
        const mh_host_config **hosts = NULL;
        mh_topology *t = parse_ok(LAB("{client: 1}"));
        mh_config *c = config_ok(config_text);
        size_t n;

        ck_assert_int_eq(mh_topology_match(NULL, c, 0, &hosts, &n, NULL), -EINVAL);
        ck_assert_int_eq(mh_topology_match(t, NULL, 0, &hosts, &n, NULL), -EINVAL);
        ck_assert_int_eq(mh_topology_match(t, c, 0, NULL, &n, NULL), -EINVAL);
        ck_assert_int_eq(mh_topology_match(t, c, 0, &hosts, NULL, NULL), -EINVAL);
        mh_config_free(c);
        mh_topology_free(t);
}
END_TEST

/* --- sets ---------------------------------------------------------------- */

START_TEST(test_set_load) {
        const char *const dirs[] = { DATA "/set-a", DATA "/set-b/" };
        mh_topology_set *s = NULL;
        mh_error e = MH_ERROR_INIT;

        ck_assert_msg(mh_topology_set_load(dirs, 2, 0, &s, &e) == 0, "%s", e.message);
        /* Directory by directory, in name order; hidden and other files are not read. */
        ck_assert_uint_eq(mh_topology_set_size(s), 3);
        ck_assert_str_eq(mh_topology_name(mh_topology_set_get(s, 0)), "client-db");
        ck_assert_str_eq(mh_topology_name(mh_topology_set_get(s, 1)), "client-server");
        ck_assert_str_eq(mh_topology_name(mh_topology_set_get(s, 2)), "two-domains");
        ck_assert_str_eq(mh_topology_origin(mh_topology_set_get(s, 2)),
                         DATA "/set-b/two-domains.yaml");
        ck_assert_ptr_null(mh_topology_set_get(s, 3));

        ck_assert_ptr_eq(mh_topology_set_find(s, "client-server"), mh_topology_set_get(s, 1));
        ck_assert_int_eq(mh_topology_controller(mh_topology_set_find(s, "client-server")),
                         MH_CONTROLLER_NONE);
        ck_assert_ptr_null(mh_topology_set_find(s, "nope"));
        ck_assert_ptr_null(mh_topology_set_find(s, NULL));
        mh_topology_set_free(s);

        ck_assert_int_eq(mh_topology_set_load(NULL, 0, 0, &s, &e), 0);
        ck_assert_uint_eq(mh_topology_set_size(s), 0);
        mh_topology_set_free(s);
}
END_TEST

START_TEST(test_set_optional) {
        const char *const dirs[] = { DATA "/missing", DATA "/set-b" };
        mh_topology_set *s = NULL;
        mh_error e = MH_ERROR_INIT;

        ck_assert_msg(mh_topology_set_load(dirs, 2, 1, &s, &e) == 0, "%s", e.message);
        ck_assert_uint_eq(mh_topology_set_size(s), 1);
        mh_topology_set_free(s);

        s = NULL;
        ck_assert_int_eq(mh_topology_set_load(dirs, 2, 0, &s, &e), -ENOENT);
        ck_assert_str_eq(e.message, "cannot read topology directory '" DATA
                                    "/missing': No such file or directory");
        ck_assert_ptr_null(s);
}
END_TEST

START_TEST(test_set_errors) {
        const char *const dup[] = { DATA "/set-a", DATA "/dup" };
        const char *const bad[] = { DATA "/set-b", DATA "/bad" };
        const char *const empty[] = { "" };
        mh_topology_set *s = NULL;
        mh_error e = MH_ERROR_INIT;

        ck_assert_int_eq(mh_topology_set_load(dup, 2, 0, &s, &e), -MH_ERR_CONFIG);
        ck_assert_str_eq(e.message, DATA "/dup/copy.yaml:1:7: duplicate topology name 'client-db' "
                                         "(first in " DATA "/set-a/client-db.yaml)");
        ck_assert_ptr_null(s);

        /* Optional is about missing directories, not broken files. */
        mh_error_clear(&e);
        ck_assert_int_eq(mh_topology_set_load(bad, 2, 1, &s, &e), -MH_ERR_CONFIG);
        ck_assert_str_eq(e.message, DATA "/bad/broken.yaml:4:5: unknown key 'rols' in domain "
                                         "(did you mean 'roles'?)");
        ck_assert_ptr_null(s);

        ck_assert_int_eq(mh_topology_set_load(empty, 1, 0, &s, NULL), -EINVAL);
        ck_assert_int_eq(mh_topology_set_load(NULL, 1, 0, &s, NULL), -EINVAL);
        ck_assert_int_eq(mh_topology_set_load(dup, 1, 0, NULL, NULL), -EINVAL);
}
END_TEST

/* The topologies this repository ships fit the lab's mhc.yaml. */
START_TEST(test_shipped_topologies) {
        const char *const dirs[] = { MH_TEST_SRCDIR "/topologies" };
        mh_topology_set *s = NULL;
        mh_error e = MH_ERROR_INIT;
        mh_config *lab = config_ok(lab_text);

        ck_assert_msg(mh_topology_set_load(dirs, 1, 0, &s, &e) == 0, "%s", e.message);
        ck_assert_uint_ge(mh_topology_set_size(s), 3);
        ck_assert_ptr_nonnull(mh_topology_set_find(s, "client-server"));
        ck_assert_ptr_nonnull(mh_topology_set_find(s, "client-db"));
        ck_assert_ptr_nonnull(mh_topology_set_find(s, "client-server-db"));

        for (size_t i = 0; i < mh_topology_set_size(s); i++) {
                const mh_topology *t = mh_topology_set_get(s, i);
                const mh_host_config **hosts = NULL;
                size_t n;

                ck_assert_msg(mh_topology_match(t, lab, 0, &hosts, &n, &e) == 0, "%s: %s",
                              mh_topology_name(t), e.message);
                ck_assert_str_ne(mh_topology_description(t), "");
                free(hosts);
        }
        mh_topology_set_free(s);
        mh_config_free(lab);
}
END_TEST

static Suite *topology_suite(void) {
        Suite *s = suite_create("topology");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_full_topology);
        tcase_add_test(tc, test_defaults);
        tcase_add_test(tc, test_setup_is_not_expanded);
        tcase_add_test(tc, test_top_level_errors);
        tcase_add_test(tc, test_name_errors);
        tcase_add_test(tc, test_value_errors);
        tcase_add_test(tc, test_domain_errors);
        tcase_add_test(tc, test_role_errors);
        tcase_add_test(tc, test_setup_errors);
        tcase_add_test(tc, test_yaml_errors_pass_through);
        tcase_add_test(tc, test_load);
        tcase_add_test(tc, test_file_size_limit);
        tcase_add_test(tc, test_free_null);
        tcase_add_test(tc, test_match_at_least);
        tcase_add_test(tc, test_match_exact);
        tcase_add_test(tc, test_match_missing_role);
        tcase_add_test(tc, test_match_missing_domain);
        tcase_add_test(tc, test_match_invalid);
        tcase_add_test(tc, test_set_load);
        tcase_add_test(tc, test_set_optional);
        tcase_add_test(tc, test_set_errors);
        tcase_add_test(tc, test_shipped_topologies);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return run_suite(topology_suite());
}
