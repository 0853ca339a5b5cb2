/* SPDX-License-Identifier: MIT */
/*
 * The test API's toolkit (modules/toolkit.c) through mhtest against the
 * lab: cleanups after a pass, a failure, a crash and a timeout; files,
 * INI edits, users and jobs put back; waits; parameters; the assertions'
 * messages; systemd and SQL calls; secrets, scratch directories,
 * artifacts and plan-time requirements.
 */
#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lab.h"
#include "lab-run.h"
#include "util.h"
#include "check-run.h"

#include "mhtest-fixture.h"

#define KEEP_FILES                                                                    \
        "rm -rf /var/tmp/mhc-toolkit.* && printf 'keep\\n' > /var/tmp/mhc-toolkit.keep && " \
        "touch /var/tmp/mhc-toolkit.gone"

static const char *const names[] = { "client", "server", "db" };
static const lab_conn conns[] = {
        { .yaml = CLIENT_YAML "        features: [toolkit]\n" },
        { .yaml = "        services: [mhc-web.service]\n" },
        { .yaml = "        type: postgresql\n"
                  "        services: [postgresql@15-main.service]\n"
                  "        config:\n          user: mhc\n"
                  "          password_file: " LAB_STATE "/pg-password\n" },
};

static char *client_output(const char *command) {
        char *out = NULL;

        ck_assert_int_eq(on_host_output("client", command, &out), 0);
        return out;
}

static fixture f;
static run r;

/* Fail unless the message of test is exactly "FILE:LINE: why", FILE the module's. */
#define ck_assert_located(test, why)                                                         \
        do {                                                                                 \
                _cleanup_free_ char *m_ = result_message(&r, test);                          \
                const char *at_ = strstr(m_, "toolkit.c:");                                  \
                                                                                             \
                at_ = at_ ? at_ + strlen("toolkit.c:") + strspn(at_ + strlen("toolkit.c:"),  \
                                                                "0123456789")                \
                          : "";                                                              \
                ck_assert_msg(strncmp(at_, ": ", 2) == 0 && strcmp(at_ + 2, (why)) == 0,     \
                              "message of %s:\n  '%s', wanted\n  'toolkit.c:LINE: %s'", test, \
                              m_, (why));                                                    \
        } while (0)

/* One run of every test of the module, shared by the checks below. */
static void setup(void) {
        _cleanup_free_ char *toolkit = module("toolkit");

        ck_assert_int_eq(on_host("client", KEEP_FILES), 0);
        fixture_init(&f, ELEMENTSOF(names), names, conns);
        MHTEST(&f, &r, "--tests", toolkit, "--json", "report.json", "--seed", "1");
}

static void teardown(void) {
        (void) on_host("client", "rm -rf /var/tmp/mhc-toolkit.*");
        run_dispose(&r);
        fixture_dispose(&f);
}

/* Cleanups run newest first, after a pass, a failure, a crash and a timeout. */
START_TEST(test_cleanups) {
        _cleanup_free_ char *order = client_output("cat /var/tmp/mhc-toolkit.order");

        ck_assert_exit(&r, 1);
        ck_assert_result(&r, "cleanup_order", "toolkit", "PASSED", "");
        ck_assert_result(&r, "cleanup_after_crash", "toolkit", "ERROR", "crashed");
        ck_assert_result(&r, "cleanup_after_timeout", "toolkit", "ERROR", "timed out");
        ck_assert_result(&r, "cleanup_fails", "toolkit", "FAILED",
                         "in a cleanup: host 'client.lab.test': 'echo oops >&2; exit 4' exited "
                         "with status 4");
        ck_assert_msg(strstr(order, "third\nsecond\nfirst\n"), "order: %s", order);
        ck_assert_msg(strstr(order, "crash\n"), "no cleanup after the crash: %s", order);
        ck_assert_msg(strstr(order, "timeout\n"), "no cleanup after the timeout: %s", order);
        ck_assert_msg(strstr(order, "after-failure\n"), "no cleanup after one failed: %s", order);
}
END_TEST

/* Files, INI edits, users and groups, jobs and scratch directories leave nothing. */
START_TEST(test_put_back) {
        _cleanup_free_ char *keep = client_output("cat /var/tmp/mhc-toolkit.keep");
        _cleanup_free_ char *scratch = client_output("cat /var/tmp/mhc-toolkit.order.scratch");

        ck_assert_result(&r, "files_put_back", "toolkit", "PASSED", "");
        ck_assert_result(&r, "ini_set", "toolkit", "PASSED", "");
        ck_assert_result(&r, "jobs", "toolkit", "PASSED", "");
        ck_assert_str_eq(keep, "keep\n");
        ck_assert_int_eq(on_host("client", "test -e /var/tmp/mhc-toolkit.gone"), 0);
        ck_assert_int_eq(on_host("client", "! test -e /var/tmp/mhc-toolkit.new && "
                                           "! test -e /var/tmp/mhc-toolkit.dir && "
                                           "! test -e /var/tmp/mhc-toolkit.ini"),
                         0);
        ck_assert_int_eq(on_host("client", "! id mhc-alice 2>/dev/null && "
                                           "! getent group mhc-staff && ! test -e /home/mhc-alice"),
                         0);
        ck_assert_int_eq(on_host("client", "! pgrep -f 'sleep 313[1]'"), 0);
        ck_assert_ptr_nonnull(strstr(scratch, "/tmp/mhc-test."));
        for (size_t i = 0; i < 2; i++)
                ck_assert_int_eq(on_host(names[i], "! ls -d /tmp/mhc-test.* 2>/dev/null"), 0);
}
END_TEST

/* Waits, parameters, memory, systemd and requirements. */
START_TEST(test_passing_calls) {
        _cleanup_free_ char *order = client_output("cat /var/tmp/mhc-toolkit.order");

        ck_assert_result(&r, "waits", "toolkit", "PASSED", "");
        ck_assert_result(&r, "param_case[yes]", "toolkit", "PASSED", "");
        ck_assert_result(&r, "param_case[no]", "toolkit", "PASSED", "");
        ck_assert_msg(strstr(order, "param-yes\n") && strstr(order, "param-no\n"), "%s", order);
        ck_assert_result(&r, "own_memory", "toolkit", "PASSED", "");
        ck_assert_result(&r, "systemd_calls", "toolkit", "PASSED", "");
        ck_assert_result(&r, "has_feature", "toolkit", "PASSED", "");
        ck_assert_result(&r, "needs_feature", "toolkit", "SKIPPED",
                         ": needs feature 'no-such-feature' on role 'client', which host "
                         "'client.lab.test' lacks (features: in /tmp/mhc-run-");
}
END_TEST

/* What each assertion says when it fails. */
START_TEST(test_assertion_messages) {
        ck_assert_result(&r, "assert_int", "toolkit", "FAILED", "");
        ck_assert_located("assert_int", "n >= 3 failed: 2 >= 3");
        ck_assert_located("assert_contains", "\"hello world\" does not contain \"moon\"");
        ck_assert_result(&r, "wait_until_fails", "toolkit", "FAILED",
                         "++tries < 0 did not hold within 0.2 s (");
        ck_assert_result(&r, "assert_run_exit", "toolkit", "FAILED",
                         "command exited with status 4, not 3: client.lab.test: exit 4");
        ck_assert_result(&r, "assert_fails", "toolkit", "FAILED", "mh_service_status");
        ck_assert_result(&r, "assert_ok_not_stale", "toolkit", "FAILED",
                         "fails_quietly() failed: Invalid argument");
        ck_assert_result(&r, "fail_here", "toolkit", "FAILED", "");
        ck_assert_located("fail_here", "because 42");
        ck_assert_result(&r, "same_file", "toolkit", "FAILED",
                         "client.lab.test:/var/tmp/mhc-toolkit.cmp and "
                         "server.lab.test:/var/tmp/mhc-toolkit.cmp differ from line 2: 'b' != "
                         "'c' (4 and 4 bytes)");
        ck_assert_result(&r, "sql_calls", "toolkit-db", "FAILED",
                         "db.lab.test: SQL error 42P01: relation \"missing\" does not exist (in "
                         "'SELECT * FROM missing')");
        {
                _cleanup_free_ char *stale = result_message(&r, "assert_ok_not_stale");

                ck_assert_msg(!strstr(stale, "mhc-none"), "stale error shown: %s", stale);
        }
        ck_assert_int_eq(on_host("db", "cd / && ! runuser -u postgres -- psql -Atc 'SELECT 1 FROM "
                                       "pg_database WHERE datname = $$mhc_toolkit$$' | grep -q 1"),
                         0);
}
END_TEST

/* A test's own secrets are redacted like mhc.yaml's; its artifact is collected. */
START_TEST(test_secrets_and_artifacts) {
        _cleanup_free_ char *json = path_in(&f, "report.json"), *report = read_all(json);
        _cleanup_free_ char *path = path_in(&f, "artifacts/toolkit/scratch_and_secret/"
                                                "client.lab.test/var/tmp/mhc-toolkit.artifact");
        _cleanup_free_ char *artifact = read_all(path);

        ck_assert_result(&r, "scratch_and_secret", "toolkit", "FAILED", "the secret is ********");
        ck_assert_result(&r, "user_add", "toolkit", "FAILED", "to show the note");
        ck_assert_msg(!strstr(r.out, "made-up-9931") && !strstr(r.err, "made-up-9931") &&
                              !strstr(report, "made-up-9931"),
                      "the test's secret shows:\n%s\n%s", r.out, r.err);
        ck_assert_msg(!strstr(r.out, "Pw-toolkit-4711") && !strstr(r.err, "Pw-toolkit-4711") &&
                              !strstr(report, "Pw-toolkit-4711"),
                      "the user's password shows:\n%s\n%s", r.out, r.err);
        ck_assert_msg(strstr(report, "alice's password is ********"), "no note in the report");
        ck_assert_str_eq(artifact, "********\n");
}
END_TEST

/* --list: topologies in name order, each value its own case, tags, requirements. */
START_TEST(test_list) {
        _cleanup_free_ char *toolkit = module("toolkit");
        run l = {};
        const char *a, *b;

        MHTEST(&f, &l, "--list", "--tests", toolkit, "param_case", "cleanup_after_*", "sql_calls",
               "needs_feature");
        ck_assert_exit(&l, 0);
        a = strstr(l.out, "toolkit: client=client.lab.test server=server.lab.test\n");
        b = strstr(l.out, "toolkit-db: db=db.lab.test\n");
        ck_assert_msg(a && b && a < b, "topologies not in name order:\n%s", l.out);
        ck_assert_msg(strstr(l.out, "  param_case[yes] (toolkit.so)\n  param_case[no] (toolkit.so)\n") &&
                              strstr(l.out, "  cleanup_after_timeout (toolkit.so) [slow, cleanup]\n") &&
                              strstr(l.out, "  needs_feature (toolkit.so): skipped: needs feature "
                                            "'no-such-feature' on role 'client', which host "
                                            "'client.lab.test' lacks (features: in "),
                      "%s", l.out);
        ck_assert_msg(strstr(l.out, "\n6 tests: 5 runnable, 1 skipped\n"), "%s", l.out);
        run_dispose(&l);

        /* a case by its full name */
        MHTEST(&f, &l, "--list", "--tests", toolkit, "param_case[no]");
        ck_assert_exit(&l, 0);
        ck_assert_msg(!strstr(l.out, "param_case[yes]") && strstr(l.out, "param_case[no]"), "%s",
                      l.out);
        run_dispose(&l);
}
END_TEST

static Suite *toolkit_suite(void) {
        Suite *s = suite_create("toolkit");
        TCase *tc = tcase_create("run");

        /* one run for all: setup per test would run the module five times */
        tcase_add_unchecked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 300);
        tcase_add_test(tc, test_cleanups);
        tcase_add_test(tc, test_put_back);
        tcase_add_test(tc, test_passing_calls);
        tcase_add_test(tc, test_assertion_messages);
        tcase_add_test(tc, test_secrets_and_artifacts);
        tcase_add_test(tc, test_list);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return run_suite(toolkit_suite());
}
