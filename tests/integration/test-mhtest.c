/* SPDX-License-Identifier: MIT */
/* mhtest as a user runs it, against the lab's real hosts. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <mhc/shell.h>

#include "lab.h"
#include "util.h"
#include "check-run.h"

typedef struct run {
        int status;             /* exit status */
        char out[16384];
        char err[16384];
} run;

static void slurp(const char *path, char *buf, size_t size) {
        FILE *f = fopen(path, "re");
        size_t n = 0;

        if (f) {
                n = fread(buf, 1, size - 1, f);
                fclose(f);
        }
        buf[n] = '\0';
}

/* Run the built mhtest with args (already shell-quoted where needed). */
static void mhtest(run *r, const char *args) {
        const char *builddir = getenv("MH_TEST_BUILDDIR");
        _cleanup_free_ char *cmd = NULL;
        char dir[] = "/tmp/mhc-test-XXXXXX", out[64], err[64];
        int w;

        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(out, sizeof(out), "%s/out", dir);
        snprintf(err, sizeof(err), "%s/err", dir);
        ck_assert_int_ge(asprintf(&cmd, "%s/mhtest %s >%s 2>%s", builddir ? builddir : ".", args,
                                  out, err),
                         0);
        w = system(cmd);
        ck_assert(WIFEXITED(w));
        r->status = WEXITSTATUS(w);
        slurp(out, r->out, sizeof(r->out));
        slurp(err, r->err, sizeof(r->err));
        unlink(out);
        unlink(err);
        rmdir(dir);
}

/* Write yaml to a temporary file; returns its malloc'd path. */
static char *write_config(const char *yaml) {
        char path[] = "/tmp/mhc-config-XXXXXX";
        int fd = mkstemp(path);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, yaml, strlen(yaml)), (ssize_t) strlen(yaml));
        close(fd);
        return strdup(path);
}

static size_t count_lines(const char *s, const char *needle) {
        size_t n = 0;

        for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

START_TEST(test_check_hosts_of_the_lab) {
        const char *srcdir = getenv("MH_TEST_SRCDIR");
        _cleanup_free_ char *args = NULL;
        run r;

        ck_assert_int_ge(asprintf(&args, "--config %s/mhc.yaml --check-hosts --color=never",
                                  srcdir ? srcdir : "."),
                         0);
        mhtest(&r, args);
        ck_assert_msg(r.status == 0, "exit %d\n%s%s", r.status, r.out, r.err);
        ck_assert_ptr_nonnull(strstr(r.out, "HOST "));
        ck_assert_uint_eq(count_lines(r.out, "Debian GNU/Linux 12 (bookworm)"), 3);
        ck_assert_uint_eq(count_lines(r.out, "  running  "), 3);
        ck_assert_ptr_nonnull(strstr(r.out, "db.lab.test      db      postgresql"));
        ck_assert_ptr_nonnull(strstr(r.out, "3 of 3 hosts usable"));
        ck_assert_ptr_null(strstr(r.out, "\033["));
}
END_TEST

/* One good host, one that is not there, one whose key is not known. */
START_TEST(test_check_hosts_reports_each_failure) {
        const char *names[] = { "server", "client", "db" };
        lab_conn conns[] = {
                {},
                { .address = "10.213.0.250", .connect_timeout = 2 },
                { .known_hosts = "/dev/null" },
        };
        _cleanup_free_ char *yaml = lab_config_yaml(3, names, conns), *path = NULL, *args = NULL;
        run r;

        ck_assert_ptr_nonnull(yaml);
        path = write_config(yaml);
        ck_assert_int_ge(asprintf(&args, "-c %s --check-hosts", path), 0);
        mhtest(&r, args);
        unlink(path);

        ck_assert_msg(r.status == 3, "exit %d\n%s%s", r.status, r.out, r.err);
        ck_assert_ptr_nonnull(strstr(r.out, "1 of 3 hosts usable"));
        /* The failing rows say which stage failed; the lines below say why. */
        ck_assert_ptr_nonnull(strstr(r.out, "10.213.0.250:22  FAIL   -        -"));
        ck_assert_ptr_nonnull(strstr(r.out, "ok     FAIL     -"));
        ck_assert_ptr_nonnull(strstr(r.out, "host 'client.lab.test': "));
        ck_assert_ptr_nonnull(strstr(r.out, "host 'db.lab.test': "));
        ck_assert_ptr_nonnull(strstr(r.out, "SHA256:"));
}
END_TEST

START_TEST(test_quiet_shows_only_unusable_hosts) {
        const char *names[] = { "server", "client" };
        lab_conn conns[] = { {}, { .port = 2 } };
        _cleanup_free_ char *yaml = lab_config_yaml(2, names, conns), *path = NULL, *args = NULL;
        run r;

        path = write_config(yaml);
        ck_assert_int_ge(asprintf(&args, "-q -c %s --check-hosts", path), 0);
        mhtest(&r, args);
        unlink(path);

        ck_assert_int_eq(r.status, 3);
        ck_assert_ptr_null(strstr(r.out, "server.lab.test"));
        ck_assert_ptr_nonnull(strstr(r.out, "client.lab.test"));
        ck_assert_ptr_nonnull(strstr(r.out, "1 of 2 hosts usable"));
}
END_TEST

START_TEST(test_verbose_shows_remote_commands) {
        const char *names[] = { "server" };
        _cleanup_free_ char *yaml = lab_config_yaml(1, names, NULL), *path = NULL, *args = NULL;
        run r;

        path = write_config(yaml);
        ck_assert_int_ge(asprintf(&args, "-v -c %s --check-hosts", path), 0);
        mhtest(&r, args);
        unlink(path);

        ck_assert_int_eq(r.status, 0);
        ck_assert_ptr_nonnull(strstr(r.err, "server.lab.test: $ cat /etc/os-release  [exit 0,"));
        ck_assert_ptr_nonnull(strstr(r.err, "server.lab.test: $ systemctl is-system-running"));
}
END_TEST

START_TEST(test_bad_config_exits_2_with_location) {
        _cleanup_free_ char *path = NULL, *args = NULL, *expected = NULL;
        run r;

        path = write_config("domains:\n  - id: lab\n    hosts:\n      - hostname: a\n"
                            "        role: client\n        conn: {port: 70000}\n");
        ck_assert_int_ge(asprintf(&args, "-c %s --check-hosts", path), 0);
        mhtest(&r, args);
        unlink(path);

        ck_assert_int_eq(r.status, 2);
        ck_assert_int_ge(asprintf(&expected,
                                  "mhtest: %s:6:22: 'port' must be an integer from 1 to 65535, "
                                  "not '70000'\n",
                                  path),
                         0);
        ck_assert_str_eq(r.err, expected);
        ck_assert_str_eq(r.out, "");
}
END_TEST

START_TEST(test_bad_host_type_exits_2) {
        _cleanup_free_ char *path = NULL, *args = NULL, *expected = NULL;
        run r;

        path = write_config("domains:\n  - id: lab\n    hosts:\n      - hostname: a\n"
                            "        role: client\n        type: systemd\n"
                            "        config: {restart_allways: [x.service]}\n");
        ck_assert_int_ge(asprintf(&args, "-c %s --check-hosts", path), 0);
        mhtest(&r, args);
        unlink(path);

        ck_assert_int_eq(r.status, 2);
        ck_assert_int_ge(asprintf(&expected, "mhtest: %s:7:18: unknown key 'restart_allways'", path),
                         0);
        ck_assert_msg(strncmp(r.err, expected, strlen(expected)) == 0, "got: %s", r.err);
        ck_assert_str_eq(r.out, "");
}
END_TEST

START_TEST(test_missing_config) {
        run r;

        mhtest(&r, "-c /nonexistent/mhc.yaml --check-hosts");
        ck_assert_int_eq(r.status, 2);
        ck_assert_ptr_nonnull(strstr(r.err, "/nonexistent/mhc.yaml"));
        ck_assert_ptr_nonnull(strstr(r.err, "No such file or directory"));
}
END_TEST

START_TEST(test_usage) {
        static const char *const documented[] = {
                "--config=FILE", "--check-hosts", "--verbose", "--quiet", "--color=WHEN",
                "--help", "--version",
        };
        run r;

        mhtest(&r, "--help");
        ck_assert_int_eq(r.status, 0);
        for (size_t i = 0; i < ELEMENTSOF(documented); i++)
                ck_assert_msg(strstr(r.out, documented[i]), "--help lacks %s", documented[i]);

        mhtest(&r, "--version");
        ck_assert_int_eq(r.status, 0);
        ck_assert_ptr_nonnull(strstr(r.out, "mhtest " PACKAGE_VERSION));

        mhtest(&r, "--no-such-option");
        ck_assert_int_eq(r.status, 2);
        ck_assert_str_eq(r.err, "mhtest: unknown option '--no-such-option'; see mhtest --help\n");

        mhtest(&r, "--config");
        ck_assert_int_eq(r.status, 2);
        ck_assert_ptr_nonnull(strstr(r.err, "missing value"));

        mhtest(&r, "--color=sometimes --check-hosts");
        ck_assert_int_eq(r.status, 2);
        ck_assert_ptr_nonnull(strstr(r.err, "--color takes auto, always or never"));
}
END_TEST

static Suite *mhtest_suite(void) {
        Suite *s = suite_create("mhtest");
        TCase *tc = tcase_create("check-hosts");

        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_check_hosts_of_the_lab);
        tcase_add_test(tc, test_check_hosts_reports_each_failure);
        tcase_add_test(tc, test_quiet_shows_only_unusable_hosts);
        tcase_add_test(tc, test_verbose_shows_remote_commands);
        tcase_add_test(tc, test_bad_config_exits_2_with_location);
        tcase_add_test(tc, test_bad_host_type_exits_2);
        tcase_add_test(tc, test_missing_config);
        tcase_add_test(tc, test_usage);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return run_suite(mhtest_suite());
}
