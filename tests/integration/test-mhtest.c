/* SPDX-License-Identifier: MIT */
/* mhtest as a user runs it, against the lab's real hosts. */
#include <check.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <mhc/shell.h>
#include <mhc/ssh.h>

#include "lab.h"
#include "lab-run.h"
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
        ck_assert_uint_eq(count_lines(r.out, "Debian GNU/Linux 12 (bookworm)"), 4);
        ck_assert_uint_eq(count_lines(r.out, "  running  "), 4);
        ck_assert_ptr_nonnull(strstr(r.out, "db.lab.test      db      postgresql"));
        ck_assert_ptr_nonnull(strstr(r.out, "vm.lab.test      vm      systemd"));
        ck_assert_ptr_nonnull(strstr(r.out, "4 of 4 hosts usable"));
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

/* --- signals: a run cut short ---------------------------------------------------- */

/* What modules/signals.c changes on the server, under its backup path /srv (mhc.yaml). */
#define CHANGED "/srv/mhc-signals"
/* The note it prints (with -v) once the file is changed. */
#define CHANGED_NOTE "note: changed " CHANGED "\n"

/* mhtest running modules/signals.c against mhc.yaml, its standard output a pipe to us. */
typedef struct cut_run {
        char dir[32]; /* err, junit.xml, events.json, artifacts/ */
        pid_t pid;
        int out;    /* the pipe's read end, or -1 once closed */
        char *text; /* what was read from it */
        int wait_status;
        char *err; /* its standard error, unless it went to the pipe */
} cut_run;

/* The end of s, short enough for a failure message. */
static const char *tail(const char *s) {
        size_t n = strlen(s);

        return n > 1500 ? s + n - 1500 : s;
}

static char *cut_path(const cut_run *c, const char *name) {
        char *p = NULL;

        ck_assert_int_ge(asprintf(&p, "%s/%s", c->dir, name), 0);
        return p;
}

/*
 * Start mhtest -v in its own process group (as a shell starts a job),
 * SIGINT, SIGHUP, SIGTERM and SIGPIPE as they are by default, or SIGPIPE
 * ignored; standard error into the pipe too (2>&1) or into a file.
 */
static void cut_start(cut_run *c, bool err_to_pipe, bool ignore_sigpipe) {
        static const int signals[] = { SIGINT, SIGHUP, SIGTERM, SIGPIPE };
        const char *builddir = getenv("MH_TEST_BUILDDIR"), *srcdir = getenv("MH_TEST_SRCDIR");
        _cleanup_free_ char *program = NULL, *config = NULL, *module = NULL, *err = NULL;
        _cleanup_free_ char *junit = NULL, *json = NULL, *artifacts = NULL;
        int p[2];

        *c = (cut_run){ .out = -1, .text = strdup("") };
        ck_assert_int_eq(on_host("server", "rm -f " CHANGED), 0);
        snprintf(c->dir, sizeof(c->dir), "/tmp/mhc-signals-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(c->dir));
        ck_assert_int_ge(asprintf(&program, "%s/mhtest", builddir ? builddir : "."), 0);
        ck_assert_int_ge(asprintf(&config, "%s/mhc.yaml", srcdir ? srcdir : "."), 0);
        ck_assert_int_ge(asprintf(&module, "%s/tests/integration/modules/.libs/signals.so",
                                  builddir ? builddir : "."),
                         0);
        err = cut_path(c, "err");
        junit = cut_path(c, "junit.xml");
        json = cut_path(c, "events.json");
        artifacts = cut_path(c, "artifacts");
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);

        c->pid = fork();
        ck_assert_int_ge(c->pid, 0);
        if (c->pid == 0) {
                const char *argv[] = {
                        program, "--config",        config,    "--tests", module,
                        "-v",    "--color=never",   "--junit", junit,     "--json",
                        json,    "--artifacts-dir", artifacts, NULL,
                };
                int e = err_to_pipe ? p[1]
                                    : open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

                (void) setpgid(0, 0);
                for (size_t i = 0; i < ELEMENTSOF(signals); i++)
                        signal(signals[i], SIG_DFL);
                if (ignore_sigpipe)
                        signal(SIGPIPE, SIG_IGN);
                if (e < 0 || dup2(p[1], STDOUT_FILENO) < 0 || dup2(e, STDERR_FILENO) < 0)
                        _exit(127);
                execv(program, (char *const *) argv);
                _exit(127);
        }
        close(p[1]);
        c->out = p[0];
}

/* Read what mhtest prints for up to msec; false at the end of its output. */
static bool cut_read(cut_run *c, int msec) {
        struct pollfd p = { .fd = c->out, .events = POLLIN };
        char buf[4096];
        ssize_t n;

        if (poll(&p, 1, msec) <= 0)
                return true;
        n = read(c->out, buf, sizeof(buf));
        if (n <= 0)
                return false;
        lab_append(&c->text, "%.*s", (int) n, buf);
        ck_assert_ptr_nonnull(c->text);
        return true;
}

/* Read mhtest's output until the test has changed the file (for up to 120 s). */
static void cut_wait_for_change(cut_run *c) {
        for (unsigned i = 0; i < 1200 && !strstr(c->text, CHANGED_NOTE); i++)
                if (!cut_read(c, 100))
                        break;
        ck_assert_msg(strstr(c->text, CHANGED_NOTE), "mhtest did not change the file:\n%s",
                      tail(c->text));
}

/*
 * Wait for mhtest's end, reading its output unless the pipe is closed
 * (for up to 120 s, then SIGKILL); then see whether the file is back as it
 * was and put it back either way, so that a failure leaves the lab clean.
 * Returns whether the server was restored.
 */
static bool cut_finish(cut_run *c) {
        _cleanup_free_ char *err = cut_path(c, "err");
        bool done = false, restored;
        FILE *f;

        for (unsigned i = 0; i < 1200 && !done; i++) {
                done = waitpid(c->pid, &c->wait_status, WNOHANG) == c->pid;
                if (!done && (c->out < 0 || !cut_read(c, 100)))
                        (void) poll(NULL, 0, 100);
        }
        if (!done) {
                kill(-c->pid, SIGKILL);
                ck_assert_int_eq(waitpid(c->pid, &c->wait_status, 0), c->pid);
        }
        while (c->out >= 0 && cut_read(c, 0))
                ;
        if (c->out >= 0)
                close(c->out);
        c->out = -1;
        f = fopen(err, "re");
        c->err = strdup("");
        if (f) {
                char line[4096];

                while (fgets(line, sizeof(line), f))
                        lab_append(&c->err, "%s", line);
                fclose(f);
        }
        restored = on_host("server", "test -e " CHANGED) == 1;
        (void) on_host("server", "rm -f " CHANGED);
        ck_assert_msg(done, "mhtest still ran after 120 s\n%s%s", tail(c->text), tail(c->err));
        return restored;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

static void cut_dispose(cut_run *c) {
        (void) nftw(c->dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
        free(c->text);
        free(c->err);
}

/* Fail unless mhtest exited (not killed by a signal) with status. */
#define ck_assert_cut_exit(c, status)                                                           \
        ck_assert_msg(WIFEXITED((c)->wait_status) && WEXITSTATUS((c)->wait_status) == (status), \
                      "mhtest %s %d, wanted exit %d\n%s%s",                                     \
                      WIFEXITED((c)->wait_status) ? "exited" : "was killed by signal",          \
                      WIFEXITED((c)->wait_status) ? WEXITSTATUS((c)->wait_status)               \
                                                  : WTERMSIG((c)->wait_status),                 \
                      (status), tail((c)->text), tail((c)->err))

/* The text of file name of c's directory. */
static char *cut_file(const cut_run *c, const char *name) {
        _cleanup_free_ char *path = cut_path(c, name);
        FILE *f = fopen(path, "re");
        char *text = strdup(""), line[4096];

        ck_assert_msg(f, "no %s", path);
        while (fgets(line, sizeof(line), f))
                lab_append(&text, "%s", line);
        fclose(f);
        ck_assert_ptr_nonnull(text);
        return text;
}

/* The reports of a run cut short by sig (its name) are whole: JUnit, JSON log, artifacts. */
static void assert_reports(const cut_run *c, const char *sig) {
        _cleanup_free_ char *xml = cut_file(c, "junit.xml"), *events = cut_file(c, "events.json");
        _cleanup_free_ char *commands =
                cut_file(c, "artifacts/client-server/changes_srv/server.lab.test/commands.log");
        _cleanup_free_ char *error = NULL, *end = NULL;

        ck_assert_int_ge(
                asprintf(&error, "<error message=\"interrupted (%s)\" type=\"cancelled\"", sig), 0);
        ck_assert_int_ge(asprintf(&end,
                                  "\"event\": \"run-end\", \"status\": \"interrupted\", "
                                  "\"signal\": \"%s\"}",
                                  sig),
                         0);
        ck_assert_msg(strstr(xml, "<property name=\"interrupted\" value=\"true\"/>"), "%s",
                      tail(xml));
        ck_assert_msg(strstr(xml, error), "no '%s' in\n%s", error, tail(xml));
        ck_assert_msg(strstr(events, end), "no '%s' in\n%s", end, tail(events));
        ck_assert_msg(strstr(commands, "$ echo changed > " CHANGED), "%s", tail(commands));
}

/* mhtest -v | head -1: the first console write after the reader left raises
 * SIGPIPE; the run ends as after Ctrl-C, exits 141, and later writes are dropped. */
START_TEST(test_sigpipe_restores_hosts) {
        cut_run c;

        cut_start(&c, false, false);
        cut_wait_for_change(&c);
        close(c.out);
        c.out = -1;
        ck_assert_msg(cut_finish(&c), "%s is still changed on the server\n%s", CHANGED,
                      tail(c.err));
        ck_assert_cut_exit(&c, 141);
        ck_assert_msg(strstr(c.err, "mhtest: SIGPIPE: finishing the current step and restoring "
                                    "the hosts (Ctrl-C to stop at once)\n"),
                      "%s", tail(c.err));
        /* A later SIGPIPE is no second signal. */
        ck_assert_msg(!strstr(c.err, "stopped at once"), "%s", tail(c.err));
        assert_reports(&c, "SIGPIPE");
        cut_dispose(&c);
}
END_TEST

/* The same with SIGPIPE ignored (writes fail with EPIPE) and 2>&1: a closed
 * standard error neither kills nor stops the run. */
START_TEST(test_epipe_restores_hosts) {
        cut_run c;

        cut_start(&c, true, true);
        cut_wait_for_change(&c);
        close(c.out);
        c.out = -1;
        ck_assert_msg(cut_finish(&c), "%s is still changed on the server", CHANGED);
        ck_assert_cut_exit(&c, 141);
        assert_reports(&c, "SIGPIPE");
        cut_dispose(&c);
}
END_TEST

/* SIGTERM to the runner mid-test: the hosts restored, exit 143. */
START_TEST(test_sigterm_restores_hosts) {
        cut_run c;

        cut_start(&c, false, false);
        cut_wait_for_change(&c);
        ck_assert_int_eq(kill(c.pid, SIGTERM), 0);
        ck_assert_msg(cut_finish(&c), "%s is still changed on the server\n%s%s", CHANGED,
                      tail(c.text), tail(c.err));
        ck_assert_cut_exit(&c, 143);
        ck_assert_msg(strstr(c.err, "mhtest: SIGTERM: finishing the current step and restoring "
                                    "the hosts (again to stop at once)\n"),
                      "%s", tail(c.err));
        ck_assert_msg(strstr(c.text, "] changes_srv [client-server] ERROR"), "%s", tail(c.text));
        ck_assert_msg(strstr(c.text, ": interrupted (SIGTERM)\n"), "%s", tail(c.text));
        ck_assert_msg(strstr(c.text, "0 passed, 0 failed, 0 skipped, 1 errors"), "%s",
                      tail(c.text));
        assert_reports(&c, "SIGTERM");
        cut_dispose(&c);
}
END_TEST

/* A hangup reaches the whole job (the test's process too): the runner
 * restores the hosts and exits 129, the test is interrupted, not crashed. */
START_TEST(test_sighup_restores_hosts) {
        cut_run c;

        cut_start(&c, false, false);
        cut_wait_for_change(&c);
        ck_assert_int_eq(kill(-c.pid, SIGHUP), 0);
        ck_assert_msg(cut_finish(&c), "%s is still changed on the server\n%s%s", CHANGED,
                      tail(c.text), tail(c.err));
        ck_assert_cut_exit(&c, 129);
        ck_assert_msg(strstr(c.err, "mhtest: SIGHUP: finishing the current step"), "%s",
                      tail(c.err));
        ck_assert_msg(strstr(c.text, ": interrupted (SIGHUP)\n"), "%s", tail(c.text));
        assert_reports(&c, "SIGHUP");
        cut_dispose(&c);
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

        tc = tcase_create("signals");
        tcase_set_timeout(tc, 300);
        tcase_add_test(tc, test_sigpipe_restores_hosts);
        tcase_add_test(tc, test_epipe_restores_hosts);
        tcase_add_test(tc, test_sigterm_restores_hosts);
        tcase_add_test(tc, test_sighup_restores_hosts);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return run_suite(mhtest_suite());
}
