/* SPDX-License-Identifier: MIT */
/*
 * The host model against the lab's real hosts: the type registry and
 * plug-ins, the script type, backups and their directories, the run's
 * lease and the removal of dead runs' directories, and many hosts at once.
 * Runs inside the lab's network namespace (tests/run-test does that).
 */
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mhc/mhc.h>
#include <mhc/sys/host.h>

#include "lab.h"
#include "util.h"
#include "check-run.h"

/* A file on the lab hosts that the script host tests use; removed at the end. */
#define STATE_FILE "/tmp/mhc-test-host-state"

static double now_sec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* One lab host of a test configuration: its type and its `config:` (key, value, ..., NULL). */
typedef struct spec {
        const char *name;
        const char *type;
        const char *const *config;
} spec;

/* The YAML of the lab's domain with hosts specs[0..n). */
static char *specs_yaml(size_t n, const spec *specs) {
        static const char header[] = "domains:\n  - id: lab\n    hosts:\n";
        char *yaml = strdup(header);

        for (size_t i = 0; yaml && i < n; i++) {
                char *one = lab_config_yaml(1, &specs[i].name, NULL);

                ck_assert_ptr_nonnull(one);
                ck_assert(strncmp(one, header, strlen(header)) == 0);
                lab_append(&yaml, "%s", one + strlen(header));
                free(one);
                if (specs[i].type) {
                        lab_append(&yaml, "        type: ");
                        lab_append_quoted(&yaml, specs[i].type);
                        lab_append(&yaml, "\n");
                }
                if (specs[i].config) {
                        lab_append(&yaml, "        config:\n");
                        for (const char *const *kv = specs[i].config; *kv; kv += 2) {
                                lab_append(&yaml, "          %s: ", kv[0]);
                                lab_append_quoted(&yaml, kv[1]);
                                lab_append(&yaml, "\n");
                        }
                }
        }
        ck_assert_ptr_nonnull(yaml);
        return yaml;
}

static mh_config *config_new(size_t n, const spec *specs) {
        char *yaml = specs_yaml(n, specs);
        mh_error e = MH_ERROR_INIT;
        mh_config *c = NULL;
        int r;

        r = mh_config_parse(yaml, strlen(yaml), "lab.yaml", "/", &c, &e);
        ck_assert_msg(r == 0, "config: %s\n%s", mh_error_message(&e, r), yaml);
        free(yaml);
        return c;
}

/* Make the host of the configuration's i-th entry, expecting success. */
static mh_host *host_new(const mh_config *c, size_t i) {
        mh_error e = MH_ERROR_INIT;
        mh_host *h = NULL;
        int r;

        r = mh_host_new(mh_config_host(c, i), &h, &e);
        ck_assert_msg(r == 0, "mh_host_new: %s", mh_error_message(&e, r));
        ck_assert_ptr_nonnull(h);
        return h;
}

/* Load the configuration of one host of spec and expect it refused: the host's
 * type, and its settings, are checked when mhc.yaml is loaded.  Returns the
 * code, *e says why. */
static int config_new_fail(const spec *s, mh_error *e) {
        char *yaml = specs_yaml(1, s);
        mh_config *c = NULL;
        int r;

        r = mh_config_parse(yaml, strlen(yaml), "lab.yaml", "/", &c, e);
        free(yaml);
        ck_assert_msg(r < 0, "the configuration of a host of type '%s' was accepted", s->type);
        ck_assert_ptr_null(c);
        ck_assert_int_eq(e->code, r);
        return r;
}

static void host_connect(mh_host *h) {
        mh_error e = MH_ERROR_INIT;
        int r;

        r = mh_host_connect(h, &e);
        ck_assert_msg(r == 0, "connect: %s", mh_error_message(&e, r));
        ck_assert_ptr_nonnull(mh_host_ssh(h));
}

/* Run command on s and return its exit status; *ret_out (if not NULL) gets its stdout. */
static int run(mh_ssh *s, const char *command, char **ret_out) {
        mh_error e = MH_ERROR_INIT;
        mh_exec_result res = {};
        int r, status;

        r = mh_ssh_exec(s, command, NULL, &res, &e);
        ck_assert_msg(r == 0, "'%s': %s", command, mh_error_message(&e, r));
        status = res.exit_status;
        if (ret_out) {
                *ret_out = res.out;
                res.out = NULL;
        }
        mh_exec_result_dispose(&res);
        return status;
}

static char *run_out(mh_ssh *s, const char *command) {
        char *out = NULL;
        int status = run(s, command, &out);

        ck_assert_msg(status == 0, "'%s' exited with %d", command, status);
        return out;
}

/* A session of its own to lab host name, to look at a host from the outside. */
static mh_ssh *observer(const char *name, mh_config **ret_config) {
        mh_error e = MH_ERROR_INIT;
        const mh_host_config *hc;
        mh_ssh *s = NULL;
        int r;

        hc = lab_config_one(name, NULL, ret_config, &e);
        ck_assert_msg(hc, "config: %s", e.message);
        r = mh_ssh_connect(hc, &s, &e);
        ck_assert_msg(r == 0, "connect: %s", mh_error_message(&e, r));
        return s;
}

static bool remote_exists(mh_ssh *s, const char *path) {
        char cmd[512];

        snprintf(cmd, sizeof(cmd), "test -e '%s'", path);
        return run(s, cmd, NULL) == 0;
}

static char *plugin_path(const char *name) {
        const char *builddir = getenv("MH_TEST_BUILDDIR");
        char *path = NULL;

        ck_assert_int_ge(asprintf(&path, "%s/tests/plugin/.libs/%s.so", builddir ? builddir : ".",
                                  name),
                         0);
        ck_assert_msg(access(path, R_OK) == 0, "%s is missing: build it with make check", path);
        return path;
}

static void assert_contains(const char *haystack, const char *needle) {
        ck_assert_msg(strstr(haystack, needle), "'%s' does not contain '%s'", haystack, needle);
}

/* ---------------------------------------------------------------------------------------- */

START_TEST(test_unknown_type) {
        mh_error e = MH_ERROR_INIT;
        int r;

        r = config_new_fail(&(spec){ "server", "foo", NULL }, &e);
        ck_assert_int_eq(r, -MH_ERR_CONFIG);
        ck_assert_msg(strncmp(e.message, "lab.yaml:", 9) == 0, "no location: %s", e.message);
        assert_contains(e.message,
                        ": unknown host type 'foo' (known: systemd, postgresql, script, or "
                        "plugin:PATH)");
}
END_TEST

START_TEST(test_plugin_roundtrip) {
        _cleanup_free_ char *path = plugin_path("example-type"), *type = NULL, *marker = NULL;
        _cleanup_free_ char *out = NULL, *cmd = NULL;
        unsigned (*n_backups)(const mh_host *);
        mh_config *c, *oc = NULL;
        mh_error e = MH_ERROR_INIT;
        mh_ssh *o;
        mh_host *h;
        void *dl;
        int r;

        ck_assert_int_ge(asprintf(&type, "plugin:%s", path), 0);
        c = config_new(1, &(spec){ "server", type, NULL });
        h = host_new(c, 0);
        ck_assert_str_eq(mh_host_type_name(h), "example");
        ck_assert_str_eq(mh_host_name(h), "server.lab.test");
        ck_assert_ptr_eq(mh_host_get_config(h), mh_config_host(c, 0));

        /* The object is the plug-in's own, of its size, zeroed. */
        dl = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
        ck_assert_ptr_nonnull(dl);
        *(void **) &n_backups = dlsym(dl, "mh_example_type_backups");
        ck_assert_ptr_nonnull(n_backups);
        ck_assert_uint_eq(n_backups(h), 0);

        host_connect(h);
        o = observer("server", &oc);

        /* Slots the plug-in leaves NULL. */
        r = mh_host_start(h, &e);
        ck_assert_int_eq(r, -EOPNOTSUPP);
        ck_assert_str_eq(e.message, "host 'server.lab.test': host type 'example' cannot start");
        mh_error_clear(&e);
        r = mh_host_ready(h, 1000, &e);
        ck_assert_int_eq(r, -EOPNOTSUPP);
        assert_contains(e.message, "host type 'example' cannot wait until it is ready");
        mh_error_clear(&e);

        r = mh_host_backup(h, MH_BACKUP_VANILLA, &e);
        ck_assert_msg(r == 0, "backup: %s", mh_error_message(&e, r));
        ck_assert_uint_eq(n_backups(h), 1);
        ck_assert(mh_host_has_backup(h, MH_BACKUP_VANILLA));
        ck_assert(!mh_host_has_backup(h, MH_BACKUP_TOPOLOGY));
        ck_assert_int_ge(asprintf(&marker, "%s/vanilla/marker", h->run_dir), 0);
        ck_assert_int_ge(asprintf(&cmd, "stat -c %%a %s/vanilla && wc -c <%s", h->run_dir, marker),
                         0);
        out = run_out(o, cmd);
        ck_assert_str_eq(out, "700\n33\n");

        r = mh_host_restore(h, MH_BACKUP_VANILLA, NULL, &e);
        ck_assert_msg(r == 0, "restore: %s", mh_error_message(&e, r));

        /* restore() checks the marker against the token it kept for this backup. */
        free(cmd);
        ck_assert_int_ge(asprintf(&cmd, "echo 0123456789abcdef0123456789abcdef >%s", marker), 0);
        ck_assert_int_eq(run(o, cmd, NULL), 0);
        r = mh_host_restore(h, MH_BACKUP_VANILLA, NULL, &e);
        ck_assert_int_eq(r, -MH_ERR_REMOTE);
        ck_assert_msg(strncmp(e.message, "host 'server.lab.test': marker ", 31) == 0, "%s",
                      e.message);
        assert_contains(e.message, "does not hold the token of backup 'vanilla'");
        ck_assert_ptr_null(strstr(e.message + 1, "host 'server.lab.test'"));
        mh_error_clear(&e);

        /* Taking it again replaces it, with a new token. */
        r = mh_host_backup(h, MH_BACKUP_VANILLA, &e);
        ck_assert_msg(r == 0, "backup: %s", mh_error_message(&e, r));
        ck_assert_uint_eq(n_backups(h), 2);
        r = mh_host_restore(h, MH_BACKUP_VANILLA, NULL, &e);
        ck_assert_msg(r == 0, "restore: %s", mh_error_message(&e, r));

        r = mh_host_drop_backup(h, MH_BACKUP_VANILLA, &e);
        ck_assert_msg(r == 0, "drop: %s", mh_error_message(&e, r));
        ck_assert(!mh_host_has_backup(h, MH_BACKUP_VANILLA));
        ck_assert(!remote_exists(o, marker));
        r = mh_host_restore(h, MH_BACKUP_VANILLA, NULL, &e);
        ck_assert_int_eq(r, -ENOENT);
        ck_assert_str_eq(e.message, "host 'server.lab.test' has no backup 'vanilla'");
        mh_error_clear(&e);
        r = mh_host_drop_backup(h, MH_BACKUP_VANILLA, &e);
        ck_assert_int_eq(r, -ENOENT);

        dlclose(dl);
        mh_host_free(h);
        mh_ssh_free(o);
        mh_config_free(oc);
        mh_config_free(c);
}
END_TEST

START_TEST(test_plugin_bad_abi) {
        _cleanup_free_ char *path = plugin_path("bad-abi-type"), *type = NULL, *want = NULL;
        mh_error e = MH_ERROR_INIT;
        int r;

        ck_assert_int_ge(asprintf(&type, "plugin:%s", path), 0);
        r = config_new_fail(&(spec){ "server", type, NULL }, &e);
        ck_assert_int_eq(r, -MH_ERR_ABI);
        ck_assert_int_ge(asprintf(&want,
                                  "plug-in '%s' was built for host type ABI 999, this libmhc has "
                                  "%d: rebuild it against this libmhc",
                                  path, MH_HOST_TYPE_ABI),
                         0);
        ck_assert_msg(strncmp(e.message, "lab.yaml:", 9) == 0, "no location: %s", e.message);
        assert_contains(e.message, want);
}
END_TEST

START_TEST(test_plugin_missing) {
        mh_error e = MH_ERROR_INIT;
        int r;

        r = config_new_fail(&(spec){ "server", "plugin:/nonexistent/mhc-type.so", NULL }, &e);
        ck_assert_int_eq(r, -MH_ERR_CONFIG);
        ck_assert_msg(strncmp(e.message, "lab.yaml:", 9) == 0, "no location: %s", e.message);
        assert_contains(e.message, "cannot load plug-in '/nonexistent/mhc-type.so': ");
        assert_contains(e.message, "No such file or directory");

        mh_error_clear(&e);
        r = config_new_fail(&(spec){ "server", "plugin:tests/plugin/x.so", NULL }, &e);
        ck_assert_int_eq(r, -MH_ERR_CONFIG);
        /* Relative to the configuration's directory, "/" for lab.yaml. */
        assert_contains(e.message, "cannot load plug-in '/tests/plugin/x.so': ");

        /* A shared object that is not a plug-in. */
        mh_error_clear(&e);
        r = config_new_fail(&(spec){ "server", "plugin:/lib/x86_64-linux-gnu/libc.so.6", NULL }, &e);
        ck_assert_int_eq(r, -MH_ERR_CONFIG);
        assert_contains(e.message, "does not export mh_host_type_plugin: ");
}
END_TEST

/* The configuration of server as a host of the web plug-in, with extra config: lines. */
static int web_config(const char *type, const char *config_lines, mh_config **ret,
                      mh_error *e) {
        const char *names[] = { "server" };
        char *yaml = lab_config_yaml(1, names, NULL);
        int r;

        lab_append(&yaml,
                   "        type: %s\n        services: [mhc-web.service]\n"
                   "        backup:\n          paths: [/srv/www]\n        config:\n%s",
                   type, config_lines);
        ck_assert_ptr_nonnull(yaml);
        r = mh_config_parse(yaml, strlen(yaml), "lab.yaml", "/", ret, e);
        free(yaml);
        return r;
}

/* A plug-in that extends systemd: systemd's settings and slots, its own on top. */
START_TEST(test_plugin_extends_systemd) {
        _cleanup_free_ char *path = plugin_path("web-type"), *type = NULL, *out = NULL;
        int (*checks)(mh_host *);
        mh_config *c = NULL, *sc = NULL, *oc = NULL;
        mh_error e = MH_ERROR_INIT;
        mh_host *h, *plain;
        mh_ssh *o;
        void *dl;
        int r;

        ck_assert_int_ge(asprintf(&type, "plugin:%s", path), 0);

        /* Its settings and systemd's are checked together when the file is loaded. */
        r = web_config(type, "          documnet_root: /srv/www\n", &c, &e);
        ck_assert_int_eq(r, -MH_ERR_CONFIG);
        assert_contains(e.message, ": unknown key 'documnet_root' in config of web host "
                                   "(did you mean 'document_root'?)");
        mh_error_clear(&e);
        r = web_config(type, "          document_root: /srv/www\n          verify: maybe\n", &c,
                       &e);
        ck_assert_int_eq(r, -MH_ERR_CONFIG);
        assert_contains(e.message, ":21:19: 'verify' in config of web host must be true or false");
        mh_error_clear(&e);
        r = web_config(type, "          verify: true\n", &c, &e);
        ck_assert_int_eq(r, -MH_ERR_CONFIG);
        assert_contains(e.message, "'document_root' is required in config of web host");
        mh_error_clear(&e);
        r = web_config(type, "          document_root: /etc/www\n", &c, &e);
        ck_assert_int_eq(r, -MH_ERR_CONFIG);
        assert_contains(e.message, ":20:26: 'document_root' /etc/www is not under the host's "
                                   "backup paths");
        mh_error_clear(&e);

        r = web_config(type, "          document_root: /srv/www\n          verify: true\n", &c,
                       &e);
        ck_assert_msg(r == 0, "config: %s", e.message);
        h = host_new(c, 0);
        ck_assert_str_eq(mh_host_type_name(h), "web");
        ck_assert(mh_host_is_a(h, h->type));
        ck_assert_ptr_nonnull(mh_host_settings(h, h->type));
        ck_assert_ptr_nonnull(mh_host_settings(h, h->type->parent));
        ck_assert_str_eq(h->type->parent->name, "systemd");

        dl = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
        ck_assert_ptr_nonnull(dl);
        *(void **) &checks = dlsym(dl, "mh_web_type_checks");
        ck_assert_ptr_nonnull(checks);
        ck_assert_int_eq(checks(h), 0);

        /* The checked cast refuses an object of another type. */
        sc = config_new(1, &(spec){ "server", "systemd", NULL });
        plain = host_new(sc, 0);
        ck_assert_int_eq(checks(plain), -1);
        ck_assert(!mh_host_is_a(plain, h->type));
        mh_host_free(plain);
        mh_config_free(sc);

        /* Its own failure: no server on the port it is told. */
        r = web_config(type, "          document_root: /srv/www\n          port: 8081\n", &sc,
                       &e);
        ck_assert_msg(r == 0, "config: %s", e.message);
        plain = host_new(sc, 0);
        host_connect(plain);
        r = mh_host_ready(plain, 500, &e);
        ck_assert_int_eq(r, -ETIMEDOUT);
        assert_contains(e.message, "host 'server.lab.test': the web server does not answer on "
                                   "port 8081 (curl's exit status 7)");
        mh_error_clear(&e);
        mh_host_free(plain);

        host_connect(h);
        o = observer("server", &oc);

        /* Its ready(): systemd's, then the server answers. */
        r = mh_host_ready(h, 10000, &e);
        ck_assert_msg(r == 0, "ready: %s", mh_error_message(&e, r));
        ck_assert_int_eq(checks(h), 1);

        /* systemd's backup and restore (inherited and called), with systemd's verify. */
        r = mh_host_backup(h, "t", &e);
        ck_assert_msg(r == 0, "backup: %s", mh_error_message(&e, r));
        ck_assert_int_eq(run(o, "echo new >/srv/www/web-type-test.html", NULL), 0);
        out = run_out(o, "curl -fsS http://127.0.0.1/web-type-test.html");
        ck_assert_str_eq(out, "new\n");
        r = mh_host_restore(h, "t", NULL, &e);
        ck_assert_msg(r == 0, "restore: %s", mh_error_message(&e, r));
        ck_assert(!remote_exists(o, "/srv/www/web-type-test.html"));
        ck_assert_int_eq(checks(h), 2);

        r = mh_host_drop_backup(h, "t", &e);
        ck_assert_msg(r == 0, "drop: %s", mh_error_message(&e, r));
        dlclose(dl);
        mh_host_free(h);
        mh_ssh_free(o);
        mh_config_free(oc);
        mh_config_free(sc);
        mh_config_free(c);
}
END_TEST

START_TEST(test_script) {
        static const char *const config[] = {
                "start", "echo started >" STATE_FILE,
                "stop", "rm -f " STATE_FILE " " STATE_FILE ".full",
                "backup", "cp " STATE_FILE " \"$MHC_BACKUP_DIR/state\" && "
                          "printf '%s %s %s' \"$MHC_HOST\" \"$MHC_BACKUP_NAME\" "
                          "\"$MHC_BACKUP_DIR\" >\"$MHC_BACKUP_DIR/env\"",
                "restore", "cp \"$MHC_BACKUP_DIR/state\" " STATE_FILE " && "
                           "echo \"$MHC_RESTORE_FULL\" >" STATE_FILE ".full",
                NULL,
        };
        _cleanup_free_ char *out = NULL, *want = NULL, *cmd = NULL;
        mh_config *c, *oc = NULL;
        mh_error e = MH_ERROR_INIT;
        mh_ssh *o;
        mh_host *h;
        int r;

        c = config_new(1, &(spec){ "server", "script", config });
        h = host_new(c, 0);
        ck_assert_str_eq(mh_host_type_name(h), "script");
        host_connect(h);
        o = observer("server", &oc);

        /* ready has no command: nothing to wait for. */
        r = mh_host_ready(h, 5000, &e);
        ck_assert_msg(r == 0, "ready: %s", mh_error_message(&e, r));

        r = mh_host_start(h, &e);
        ck_assert_msg(r == 0, "start: %s", mh_error_message(&e, r));
        out = run_out(o, "cat " STATE_FILE);
        ck_assert_str_eq(out, "started\n");

        r = mh_host_backup(h, "vanilla", &e);
        ck_assert_msg(r == 0, "backup: %s", mh_error_message(&e, r));
        free(out);
        ck_assert_int_ge(asprintf(&cmd, "cat %s/vanilla/env", h->run_dir), 0);
        out = run_out(o, cmd);
        ck_assert_int_ge(asprintf(&want, "server.lab.test vanilla %s/vanilla", h->run_dir), 0);
        ck_assert_str_eq(out, want);

        ck_assert_int_eq(run(o, "echo changed by a test >" STATE_FILE, NULL), 0);
        r = mh_host_restore(h, "vanilla", &(mh_restore_options){ .full = 1 }, &e);
        ck_assert_msg(r == 0, "restore: %s", mh_error_message(&e, r));
        free(out);
        out = run_out(o, "cat " STATE_FILE " " STATE_FILE ".full");
        ck_assert_str_eq(out, "started\n1\n");
        r = mh_host_restore(h, "vanilla", NULL, &e);
        ck_assert_msg(r == 0, "restore: %s", mh_error_message(&e, r));
        free(out);
        out = run_out(o, "cat " STATE_FILE ".full");
        ck_assert_str_eq(out, "0\n");

        r = mh_host_stop(h, &e);
        ck_assert_msg(r == 0, "stop: %s", mh_error_message(&e, r));
        ck_assert(!remote_exists(o, STATE_FILE));

        r = mh_host_drop_backup(h, "vanilla", &e);
        ck_assert_msg(r == 0, "drop: %s", mh_error_message(&e, r));
        mh_host_free(h);
        mh_ssh_free(o);
        mh_config_free(oc);
        mh_config_free(c);
}
END_TEST

START_TEST(test_script_failures) {
        static const char *const config[] = {
                "restore", "echo first line >&2; echo 'it broke: no such thing' >&2; exit 3",
                "stop", "exit 7",
                NULL,
        };
        static const char *const bad_key[] = { "start", "true", "bogus", "true", NULL };
        mh_error e = MH_ERROR_INIT;
        mh_config *c;
        mh_host *h;
        int r;

        r = config_new_fail(&(spec){ "server", "script", bad_key }, &e);
        ck_assert_int_eq(r, -MH_ERR_CONFIG);
        /* The key's own line and column (the host mapping is at 4:9, config: keys at col 11). */
        assert_contains(e.message, "lab.yaml:");
        assert_contains(e.message, ":11: unknown key 'bogus' in config of script host");
        mh_error_clear(&e);

        /* A script host does nothing with services: nor backup: paths: it says so. */
        r = web_config("script", "          start: \"true\"\n", &c, &e);
        ck_assert_int_eq(r, -MH_ERR_CONFIG);
        assert_contains(e.message,
                        "lab.yaml:16:19: 'services' has no effect on a host of type 'script': "
                        "remove it");
        mh_error_clear(&e);

        c = config_new(1, &(spec){ "server", "script", config });
        h = host_new(c, 0);
        host_connect(h);

        /* No backup command: the type says what to set. */
        r = mh_host_backup(h, "vanilla", &e);
        ck_assert_int_eq(r, -EOPNOTSUPP);
        ck_assert_str_eq(e.message,
                         "host 'server.lab.test': script host has no 'backup' command (set "
                         "config: backup: in its entry of the configuration)");
        ck_assert(!mh_host_has_backup(h, "vanilla"));
        mh_error_clear(&e);

        r = mh_host_stop(h, &e);
        ck_assert_int_eq(r, -MH_ERR_COMMAND);
        ck_assert_str_eq(e.message,
                         "host 'server.lab.test': stop command failed with exit status 7: "
                         "(nothing on stderr)");
        mh_error_clear(&e);

        /* Restoring a backup never taken fails before any command runs. */
        r = mh_host_restore(h, "vanilla", NULL, &e);
        ck_assert_int_eq(r, -ENOENT);
        mh_error_clear(&e);

        mh_host_free(h);
        mh_config_free(c);
}
END_TEST

START_TEST(test_script_restore_fails) {
        static const char *const config[] = {
                "backup", "true",
                "restore", "echo first line >&2; echo 'it broke: no such thing' >&2; exit 3",
                NULL,
        };
        mh_error e = MH_ERROR_INIT;
        mh_config *c;
        mh_host *h;
        int r;

        c = config_new(1, &(spec){ "server", "script", config });
        h = host_new(c, 0);
        host_connect(h);
        r = mh_host_backup(h, "vanilla", &e);
        ck_assert_msg(r == 0, "backup: %s", mh_error_message(&e, r));
        r = mh_host_restore(h, "vanilla", NULL, &e);
        ck_assert_int_eq(r, -MH_ERR_COMMAND);
        ck_assert_str_eq(e.message,
                         "host 'server.lab.test': restore command failed with exit status 3: it "
                         "broke: no such thing");
        mh_error_clear(&e);
        r = mh_host_drop_backup(h, "vanilla", &e);
        ck_assert_msg(r == 0, "drop: %s", mh_error_message(&e, r));
        mh_host_free(h);
        mh_config_free(c);
}
END_TEST

START_TEST(test_backup_names) {
        static const char *const config[] = { "backup", "true", NULL };
        static const char *const bad[] = { "", ".hidden", "..", "a/b", "../x", "a b", "x;rm -rf /",
                                           "q'uote", "tab\t" };
        mh_error e = MH_ERROR_INIT;
        mh_config *c;
        mh_host *h;
        int r;

        c = config_new(1, &(spec){ "server", "script", config });
        h = host_new(c, 0);

        /* Not connected yet. */
        r = mh_host_backup(h, "fine", &e);
        ck_assert_int_eq(r, -ENOTCONN);
        mh_error_clear(&e);

        host_connect(h);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                r = mh_host_backup(h, bad[i], &e);
                ck_assert_msg(r == -EINVAL, "name '%s': %d", bad[i], r);
                assert_contains(e.message, "invalid backup name");
                ck_assert(!mh_host_has_backup(h, bad[i]));
                mh_error_clear(&e);
        }
        r = mh_host_backup(h, NULL, &e);
        ck_assert_int_eq(r, -EINVAL);
        mh_error_clear(&e);

        r = mh_host_backup(h, "Ok-1.2_x", &e);
        ck_assert_msg(r == 0, "backup: %s", mh_error_message(&e, r));
        ck_assert(mh_host_has_backup(h, "Ok-1.2_x"));
        r = mh_host_drop_backup(h, "Ok-1.2_x", &e);
        ck_assert_msg(r == 0, "drop: %s", mh_error_message(&e, r));
        mh_host_free(h);
        mh_config_free(c);
}
END_TEST

START_TEST(test_run_dir) {
        static const char *const config[] = { "backup", "true", NULL };
        _cleanup_free_ char *cmd = NULL, *out = NULL, *run_dir = NULL;
        mh_config *c, *oc = NULL;
        mh_error e = MH_ERROR_INIT;
        mh_ssh *o;
        mh_host *h;
        int r;

        c = config_new(1, &(spec){ "server", "script", config });
        o = observer("server", &oc);

        /* Freed without backups: the run dir goes. */
        h = host_new(c, 0);
        ck_assert_msg(strncmp(h->run_dir, "/var/lib/mhc/run-", 17) == 0 &&
                              strlen(h->run_dir) == 17 + 16,
                      "%s", h->run_dir);
        run_dir = strdup(h->run_dir);
        host_connect(h);
        ck_assert_int_ge(asprintf(&cmd, "stat -c '%%a %%U' /var/lib/mhc %s", run_dir), 0);
        out = run_out(o, cmd);
        ck_assert_str_eq(out, "700 root\n700 root\n");
        /* The lease is held: nobody else can lock it exclusively. */
        free(cmd);
        ck_assert_int_ge(asprintf(&cmd, "flock -n %s/.lease true", run_dir), 0);
        ck_assert_int_eq(run(o, cmd, NULL), 1);
        mh_host_free(h);
        ck_assert(!remote_exists(o, run_dir));

        /* Freed with a backup left: dropped with the run dir. */
        h = host_new(c, 0);
        ck_assert_str_eq(h->run_dir, run_dir);
        host_connect(h);
        r = mh_host_backup(h, "dropped", &e);
        ck_assert_msg(r == 0, "backup: %s", mh_error_message(&e, r));
        mh_host_free(h);
        ck_assert(!remote_exists(o, run_dir));

        /* Kept: the run dir stays for a later run, and its lease is free. */
        h = host_new(c, 0);
        host_connect(h);
        r = mh_host_backup(h, "kept", &e);
        ck_assert_msg(r == 0, "backup: %s", mh_error_message(&e, r));
        mh_host_keep_backups(h, true);
        mh_host_free(h);
        free(cmd);
        ck_assert_int_ge(asprintf(&cmd, "test -d %1$s/kept && flock -w 5 %1$s/.lease true", run_dir),
                         0);
        ck_assert_int_eq(run(o, cmd, NULL), 0);

        free(cmd);
        ck_assert_int_ge(asprintf(&cmd, "rm -rf %s", run_dir), 0);
        ck_assert_int_eq(run(o, cmd, NULL), 0);
        mh_ssh_free(o);
        mh_config_free(oc);
        mh_config_free(c);
}
END_TEST

START_TEST(test_two_backups) {
        static const char *const config[] = {
                "start", "echo vanilla >" STATE_FILE,
                "backup", "cp " STATE_FILE " \"$MHC_BACKUP_DIR/state\"",
                "restore", "cp \"$MHC_BACKUP_DIR/state\" " STATE_FILE,
                "stop", "rm -f " STATE_FILE,
                NULL,
        };
        _cleanup_free_ char *cmd = NULL, *out = NULL;
        mh_config *c, *oc = NULL;
        mh_error e = MH_ERROR_INIT;
        mh_ssh *o;
        mh_host *h;
        int r;

        c = config_new(1, &(spec){ "server", "script", config });
        h = host_new(c, 0);
        host_connect(h);
        o = observer("server", &oc);

        r = mh_host_start(h, &e);
        ck_assert_msg(r == 0, "start: %s", mh_error_message(&e, r));
        r = mh_host_backup(h, MH_BACKUP_VANILLA, &e);
        ck_assert_msg(r == 0, "backup: %s", mh_error_message(&e, r));
        ck_assert_int_eq(run(o, "echo topology >" STATE_FILE, NULL), 0);
        r = mh_host_backup(h, MH_BACKUP_TOPOLOGY, &e);
        ck_assert_msg(r == 0, "backup: %s", mh_error_message(&e, r));
        ck_assert(mh_host_has_backup(h, MH_BACKUP_VANILLA));
        ck_assert(mh_host_has_backup(h, MH_BACKUP_TOPOLOGY));

        ck_assert_int_ge(asprintf(&cmd, "cat %1$s/vanilla/state %1$s/topology/state", h->run_dir),
                         0);
        out = run_out(o, cmd);
        ck_assert_str_eq(out, "vanilla\ntopology\n");

        ck_assert_int_eq(run(o, "echo test >" STATE_FILE, NULL), 0);
        r = mh_host_restore(h, MH_BACKUP_TOPOLOGY, NULL, &e);
        ck_assert_msg(r == 0, "restore: %s", mh_error_message(&e, r));
        free(out);
        out = run_out(o, "cat " STATE_FILE);
        ck_assert_str_eq(out, "topology\n");
        r = mh_host_restore(h, MH_BACKUP_VANILLA, NULL, &e);
        ck_assert_msg(r == 0, "restore: %s", mh_error_message(&e, r));
        free(out);
        out = run_out(o, "cat " STATE_FILE);
        ck_assert_str_eq(out, "vanilla\n");

        /* Dropping one leaves the other. */
        r = mh_host_drop_backup(h, MH_BACKUP_TOPOLOGY, &e);
        ck_assert_msg(r == 0, "drop: %s", mh_error_message(&e, r));
        free(cmd);
        ck_assert_int_ge(asprintf(&cmd, "test ! -e %1$s/topology && test -f %1$s/vanilla/state",
                                  h->run_dir),
                         0);
        ck_assert_int_eq(run(o, cmd, NULL), 0);
        r = mh_host_drop_backup(h, MH_BACKUP_VANILLA, &e);
        ck_assert_msg(r == 0, "drop: %s", mh_error_message(&e, r));
        r = mh_host_stop(h, &e);
        ck_assert_msg(r == 0, "stop: %s", mh_error_message(&e, r));

        mh_host_free(h);
        mh_ssh_free(o);
        mh_config_free(oc);
        mh_config_free(c);
}
END_TEST

#define DEAD_RUN "/var/lib/mhc/run-deadbeef00000000"
#define LIVE_RUN "/var/lib/mhc/run-11fe11fe00000000"
#define HALF_RUN "/var/lib/mhc/run-0000000000000001"
#define RECOVERED "/tmp/mhc-test-recovered"

/* Another run holding its lease: the host is busy, and the error names that run. */
/* Remove what runs that died left on the observer's host (another test
 * program killed, say): these tests count the dead runs they plant. */
static void clear_dead_runs(mh_ssh *o) {
        ck_assert_int_eq(run(o,
                             "for d in /var/lib/mhc/run-*; do [ -d \"$d\" ] || continue; "
                             "flock -n \"$d/.lease\" true && rm -rf \"$d\"; done; true",
                             NULL),
                         0);
}

START_TEST(test_host_lock) {
        _cleanup_free_ char *pid = NULL, *cmd = NULL;
        mh_error e = MH_ERROR_INIT;
        mh_config *c, *oc = NULL;
        mh_ssh *o;
        mh_host *h;
        int r;

        o = observer("client", &oc);
        clear_dead_runs(o);
        ck_assert_int_eq(run(o,
                             "mkdir -p -m 0700 " LIVE_RUN " && echo '11fe11fe00000000 1700000000 "
                             "4242 otherbox' >" LIVE_RUN "/owner && : >" LIVE_RUN "/.lease",
                             NULL),
                         0);
        /* Its own session and group, so that one kill ends it and its sleep;
         * timeout(1) ends it anyway should this test fail before that. */
        pid = run_out(o, "setsid nohup timeout 60 flock -s " LIVE_RUN "/.lease sleep 60 "
                         "</dev/null >/dev/null 2>&1 & echo $!");
        pid[strcspn(pid, "\n")] = '\0';
        ck_assert_msg(run(o,
                          "for i in $(seq 50); do flock -n " LIVE_RUN "/.lease true || exit 0; "
                          "sleep 0.1; done; exit 1",
                          NULL) == 0,
                      "the live run's lease was never taken");

        c = config_new(1, &(spec){ "client", "script", NULL });
        h = host_new(c, 0);
        r = mh_host_connect(h, &e);
        ck_assert_int_eq(r, -EBUSY);
        assert_contains(e.message, "host 'client.lab.test': in use by run 11fe11fe00000000 (mhtest "
                                   "pid 4242 on otherbox, started 2023-11-14 22:13:20 UTC)");
        ck_assert(!remote_exists(o, h->run_dir));
        mh_host_free(h);

        /* Waiting: the holder ends after a second, and the host is ours. */
        ck_assert_int_ge(asprintf(&cmd, "(sleep 1; kill -- -%s) >/dev/null 2>&1 &", pid), 0);
        ck_assert_int_eq(run(o, cmd, NULL), 0);
        h = host_new(c, 0);
        mh_host_set_lock_wait(h, 20);
        host_connect(h);
        ck_assert_uint_eq(mh_host_n_dead_runs(h), 1);
        assert_contains(mh_host_dead_run(h, 0), "run 11fe11fe00000000 (mhtest pid 4242 on otherbox");
        ck_assert_int_eq(mh_host_recover(h, &e), 0);
        ck_assert(!remote_exists(o, LIVE_RUN));
        mh_host_free(h);

        mh_ssh_free(o);
        mh_config_free(oc);
        mh_config_free(c);
}
END_TEST

/* A lease whose connection dropped is taken again before the next step. */
START_TEST(test_lease_taken_again) {
        static const char *const config[] = { "backup", "true", "restore", "true", NULL };
        _cleanup_free_ char *held = NULL, *kill_lease = NULL;
        mh_error e = MH_ERROR_INIT;
        mh_config *c, *oc = NULL;
        mh_ssh *o;
        mh_host *h;
        int r;

        o = observer("client", &oc);
        c = config_new(1, &(spec){ "client", "script", config });
        h = host_new(c, 0);
        host_connect(h);
        ck_assert_int_ge(asprintf(&held, "flock -n %s/.lease true", h->run_dir), 0);
        ck_assert_int_ne(run(o, held, NULL), 0);

        /* What a dropped connection does on the host: the lease's shell ends. */
        ck_assert_int_ge(asprintf(&kill_lease, "pkill -KILL -f '^sh -c .* [m]hc-lease %s ' && sleep 0.5",
                                  h->run_dir),
                         0);
        ck_assert_int_eq(run(o, kill_lease, NULL), 0);
        ck_assert_int_eq(run(o, held, NULL), 0);

        r = mh_host_backup(h, "b1", &e);
        ck_assert_msg(r == 0, "backup: %s", mh_error_message(&e, r));
        ck_assert_int_ne(run(o, held, NULL), 0);
        ck_assert_int_eq(mh_host_drop_backup(h, "b1", &e), 0);
        mh_host_free(h);

        mh_ssh_free(o);
        mh_config_free(oc);
        mh_config_free(c);
}
END_TEST

/* Runs that died: the one with a whole vanilla backup is restored from,
 * the half-made one only dropped; both directories go. */
START_TEST(test_dead_runs) {
        static const char *const config[] = {
                "backup", "true",
                "restore", "echo \"$MHC_BACKUP_DIR\" >>" RECOVERED,
                NULL,
        };
        mh_error e = MH_ERROR_INIT;
        mh_config *c, *oc = NULL;
        _cleanup_free_ char *out = NULL;
        mh_ssh *o;
        mh_host *h;

        o = observer("client", &oc);
        clear_dead_runs(o);
        ck_assert_int_eq(run(o,
                             "rm -f " RECOVERED " && mkdir -p -m 0700 " DEAD_RUN "/vanilla " DEAD_RUN
                             "/topology " HALF_RUN "/vanilla && echo script >" DEAD_RUN "/vanilla/.complete && "
                             "echo 'deadbeef00000000 1700000000 77 ci-7' >" DEAD_RUN "/owner && "
                             "echo 'test files.write_file' >" DEAD_RUN "/doing && : >" DEAD_RUN
                             "/.lease",
                             NULL),
                         0);

        c = config_new(1, &(spec){ "client", "script", config });
        h = host_new(c, 0);
        host_connect(h);
        ck_assert_uint_eq(mh_host_n_dead_runs(h), 2);
        for (size_t i = 0; i < 2; i++) {
                const char *t = mh_host_dead_run(h, i);

                if (strstr(t, "deadbeef"))
                        assert_contains(t, "run deadbeef00000000 (mhtest pid 77 on ci-7, started "
                                           "2023-11-14 22:13:20 UTC), last at: test "
                                           "files.write_file; its vanilla backup is whole");
                else
                        assert_contains(t, "run 0000000000000001, last at: (nothing said); it left "
                                           "no whole vanilla backup");
        }
        /* Nothing happens until asked. */
        ck_assert(remote_exists(o, DEAD_RUN "/vanilla"));
        ck_assert_int_eq(mh_host_recover(h, &e), 1);
        ck_assert_uint_eq(mh_host_n_dead_runs(h), 0);
        ck_assert(!remote_exists(o, DEAD_RUN));
        ck_assert(!remote_exists(o, HALF_RUN));
        out = run_out(o, "cat " RECOVERED " && rm -f " RECOVERED);
        ck_assert_str_eq(out, DEAD_RUN "/vanilla\n");
        mh_host_free(h);

        mh_ssh_free(o);
        mh_config_free(oc);
        mh_config_free(c);
}
END_TEST

START_TEST(test_many_hosts) {
        static const char *const config[] = {
                "backup", "sleep 1 && echo \"$MHC_HOST\" >\"$MHC_BACKUP_DIR/who\"",
                "restore", "test \"$(cat \"$MHC_BACKUP_DIR/who\")\" = \"$MHC_HOST\"",
                NULL,
        };
        static const char *const failing[] = {
                "backup", "sleep 1 && echo \"$MHC_HOST\" >\"$MHC_BACKUP_DIR/who\"",
                "restore", "echo 'db says no' >&2; exit 4",
                NULL,
        };
        const spec specs[] = {
                { "client", "script", config },
                { "server", "script", config },
                { "db", "script", failing },
        };
        mh_error errors[3] = { MH_ERROR_INIT, MH_ERROR_INIT, MH_ERROR_INIT };
        mh_host *hosts[3];
        mh_config *c;
        double t0, t;
        int r;

        c = config_new(3, specs);
        for (size_t i = 0; i < 3; i++)
                hosts[i] = host_new(c, i);

        r = mh_hosts_connect(hosts, 3, errors);
        ck_assert_msg(r == 0, "%s / %s / %s", errors[0].message, errors[1].message,
                      errors[2].message);

        t0 = now_sec();
        r = mh_hosts_backup(hosts, 3, MH_BACKUP_VANILLA, errors);
        t = now_sec() - t0;
        ck_assert_msg(r == 0, "%s / %s / %s", errors[0].message, errors[1].message,
                      errors[2].message);
        fprintf(stderr, "backup of 3 hosts whose backup takes 1 s: %.3f s\n", t);
        ck_assert_msg(t >= 1.0 && t < 2.0, "parallel backup took %.3f s", t);
        for (size_t i = 0; i < 3; i++)
                ck_assert(mh_host_has_backup(hosts[i], MH_BACKUP_VANILLA));

        /* Each host's failure lands in its own error. */
        r = mh_hosts_restore(hosts, 3, MH_BACKUP_VANILLA, NULL, errors);
        ck_assert_int_eq(r, -MH_ERR_COMMAND);
        ck_assert_msg(!mh_error_is_set(&errors[0]) && !mh_error_is_set(&errors[1]), "%s / %s",
                      errors[0].message, errors[1].message);
        ck_assert_int_eq(errors[2].code, -MH_ERR_COMMAND);
        ck_assert_str_eq(errors[2].message,
                         "host 'db.lab.test': restore command failed with exit status 4: db says "
                         "no");
        mh_error_clear(&errors[2]);

        r = mh_hosts_drop_backup(hosts, 3, MH_BACKUP_VANILLA, errors);
        ck_assert_msg(r == 0, "%s / %s / %s", errors[0].message, errors[1].message,
                      errors[2].message);
        for (size_t i = 0; i < 3; i++) {
                ck_assert(!mh_host_has_backup(hosts[i], MH_BACKUP_VANILLA));
                mh_host_free(hosts[i]);
        }
        mh_config_free(c);
}
END_TEST

START_TEST(test_systemd_bus) {
        mh_error e = MH_ERROR_INIT;
        struct mh_systemd *sd;
        char state[64];
        mh_config *c;
        mh_host *h;
        int r;

        c = config_new(1, &(spec){ "server", "script", NULL });
        h = host_new(c, 0);
        ck_assert_ptr_null(mh_host_systemd(h, &e));
        ck_assert_int_eq(e.code, -ENOTCONN);
        mh_error_clear(&e);

        host_connect(h);
        ck_assert_ptr_null(h->systemd);
        sd = mh_host_systemd(h, &e);
        ck_assert_msg(sd, "systemd: %s", e.message);
        ck_assert_ptr_eq(h->systemd, sd);
        ck_assert_ptr_eq(mh_host_systemd(h, &e), sd);
        r = mh_systemd_system_state(sd, state, sizeof(state), &e);
        ck_assert_msg(r == 0, "system state: %s", mh_error_message(&e, r));
        ck_assert_msg(streq(state, "running") || streq(state, "degraded"), "%s", state);
        mh_host_free(h);
        mh_config_free(c);
}
END_TEST

/* Remove what the script tests leave on server, whatever happened. */
static void server_teardown(void) {
        mh_config *oc = NULL;
        mh_ssh *o = observer("server", &oc);

        run(o, "rm -f " STATE_FILE " " STATE_FILE ".full", NULL);
        mh_ssh_free(o);
        mh_config_free(oc);
}

static Suite *host_suite(void) {
        Suite *s = suite_create("host");
        TCase *tc;

        tc = tcase_create("types");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_unknown_type);
        tcase_add_test(tc, test_plugin_roundtrip);
        tcase_add_test(tc, test_plugin_bad_abi);
        tcase_add_test(tc, test_plugin_missing);
        tcase_add_test(tc, test_plugin_extends_systemd);
        suite_add_tcase(s, tc);

        tc = tcase_create("script");
        tcase_set_timeout(tc, 60);
        tcase_add_checked_fixture(tc, NULL, server_teardown);
        tcase_add_test(tc, test_script);
        tcase_add_test(tc, test_script_failures);
        tcase_add_test(tc, test_script_restore_fails);
        tcase_add_test(tc, test_backup_names);
        tcase_add_test(tc, test_two_backups);
        suite_add_tcase(s, tc);

        tc = tcase_create("run");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_run_dir);
        tcase_add_test(tc, test_host_lock);
        tcase_add_test(tc, test_dead_runs);
        tcase_add_test(tc, test_lease_taken_again);
        tcase_add_test(tc, test_many_hosts);
        tcase_add_test(tc, test_systemd_bus);
        suite_add_tcase(s, tc);

        return s;
}

int main(void) {
        return run_suite(host_suite());
}
