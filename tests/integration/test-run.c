/* SPDX-License-Identifier: MIT */
/*
 * mhtest running test modules (tests/integration/modules/) against the
 * lab: the plan and its filters, every way a test can end, topology setup
 * and restore failures, Ctrl-C, the reports and the artifacts.  Each test
 * writes its own mhc.yaml and topologies into a temporary directory.
 */
#include <check.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mhc/ssh.h>

#include "lab.h"
#include "util.h"
#include "check-run.h"

#include "mhtest-fixture.h"

START_TEST(test_list_plans_without_connecting) {
        const char *names[] = { "client" };
        const lab_conn conns[] = { { .address = "10.213.0.250", .connect_timeout = 2 } };
        _cleanup_free_ char *behaviours = module("behaviours");
        fixture f;
        run r;

        fixture_init(&f, 1, names, conns);
        MHTEST(&f, &r, "--list", "-v", "--tests", behaviours);
        ck_assert_exit(&r, 0);
        ck_assert_ptr_nonnull(
                strstr(r.out, "one-client: client=client.lab.test\n  passes (behaviours.so)\n"
                              "  fails (behaviours.so)\n"));
        ck_assert_ptr_nonnull(strstr(r.out, "two-dbs: skipped: "));
        ck_assert_ptr_nonnull(strstr(r.out, "  needs_two_dbs (behaviours.so)\n"));
        ck_assert_ptr_nonnull(strstr(r.out, " tests: "));
        ck_assert_ptr_null(strstr(r.err, "10.213.0.250"));
        run_dispose(&r);
        fixture_dispose(&f);

        /* A host it could reach: -v would show the connection and the commands. */
        fixture_client(&f);
        MHTEST(&f, &r, "--list", "-v", "--tests", behaviours);
        ck_assert_exit(&r, 0);
        ck_assert_msg(!strstr(r.err, "connected to") && !strstr(r.err, ": $ "),
                      "--list connected:\n%s", r.err);
        run_dispose(&r);
        fixture_dispose(&f);
}
END_TEST

/* -k, --topology and --not-topology choose what runs; a plan of nothing is an error. */
START_TEST(test_filters) {
        _cleanup_free_ char *behaviours = module("behaviours");
        fixture f;
        run r;

        fixture_client(&f);
        MHTEST(&f, &r, "--list", "--tests", behaviours, "-k", "order_[0-4]");
        ck_assert_exit(&r, 0);
        ck_assert_str_eq(r.out, "no-controller: client=client.lab.test\n"
                                "  order_0 (behaviours.so)\n  order_1 (behaviours.so)\n"
                                "  order_2 (behaviours.so)\n  order_3 (behaviours.so)\n"
                                "  order_4 (behaviours.so)\n5 tests: 5 runnable, 0 skipped\n");
        run_dispose(&r);

        MHTEST(&f, &r, "--list", "--tests", behaviours, "--topology", "two-dbs");
        ck_assert_exit(&r, 0);
        ck_assert_ptr_nonnull(strstr(r.out, "two-dbs: skipped: "));
        ck_assert_ptr_nonnull(strstr(r.out, "\n1 test: 0 runnable, 1 skipped\n"));
        ck_assert_ptr_null(strstr(r.out, "one-client"));
        run_dispose(&r);

        MHTEST(&f, &r, "--list", "--tests", behaviours, "--not-topology", "one-client",
               "--not-topology", "no-controller", "--not-topology", "fails-setup");
        ck_assert_exit(&r, 0);
        ck_assert_ptr_nonnull(strstr(r.out, "\n1 test: 0 runnable, 1 skipped\n"));
        ck_assert_ptr_nonnull(strstr(r.out, "needs_two_dbs"));
        run_dispose(&r);

        MHTEST(&f, &r, "--tests", behaviours, "-k", "no_such_test*");
        ck_assert_exit(&r, 2);
        ck_assert_str_eq(r.err, "mhtest: no test matches the filters\n");
        run_dispose(&r);
        fixture_dispose(&f);
}
END_TEST

/* A topology the lab cannot satisfy skips its tests; --exact-topology skips when it has more. */
START_TEST(test_unsatisfied_topologies_skip) {
        const char *names[] = { "client", "server" };
        const lab_conn conns[] = { { .yaml = CLIENT_YAML }, {} };
        _cleanup_free_ char *behaviours = module("behaviours");
        fixture f;
        run r;

        fixture_init(&f, 2, names, conns);
        MHTEST(&f, &r, "--tests", behaviours, "-k", "passes", "-k", "needs_two_dbs");
        ck_assert_exit(&r, 0);
        ck_assert_result(&r, "passes", "one-client", "PASSED", "");
        ck_assert_result(&r, "needs_two_dbs", "two-dbs", "SKIPPED",
                         "topology 'two-dbs' not satisfied: ");
        ck_assert_ptr_nonnull(strstr(r.out, "1 passed, 0 failed, 1 skipped, 0 errors"));
        run_dispose(&r);

        MHTEST(&f, &r, "--tests", behaviours, "-k", "passes", "--exact-topology");
        ck_assert_exit(&r, 0);
        ck_assert_result(&r, "passes", "one-client", "SKIPPED",
                         "topology 'one-client' not satisfied: ");
        ck_assert_ptr_nonnull(strstr(r.out, "0 passed, 0 failed, 1 skipped, 0 errors"));
        run_dispose(&r);
        fixture_dispose(&f);
}
END_TEST

START_TEST(test_unknown_topology_exits_2) {
        _cleanup_free_ char *m = module("unknown-topology");
        fixture f;
        run r;

        fixture_client(&f);
        MHTEST(&f, &r, "--tests", m);
        ck_assert_exit(&r, 2);
        ck_assert_msg(strstr(r.err, "unknown-topology.c:5: test 'needs_nowhere' needs topology "
                                    "'nowhere', which no topology file defines\n"),
                      "%s", r.err);
        ck_assert_str_eq(r.out, "");
        run_dispose(&r);
        fixture_dispose(&f);
}
END_TEST

START_TEST(test_two_tests_of_one_name_exit_2) {
        _cleanup_free_ char *m = module("dup-names");
        fixture f;
        run r;

        fixture_client(&f);
        MHTEST(&f, &r, "--list", "--tests", m);
        ck_assert_exit(&r, 2);
        ck_assert_msg(strstr(r.err, "two tests named 'same_name', at ") &&
                              strstr(r.err, "dup-a.c:5 and ") && strstr(r.err, "dup-b.c:5"),
                      "%s", r.err);
        ck_assert_str_eq(r.out, "");
        run_dispose(&r);
        fixture_dispose(&f);
}
END_TEST

/* --- running ------------------------------------------------------------------- */

/*
 * Every way a test ends, on the console, in a JUnit report that the schema
 * accepts and in the JSON log, which says how the test's process ended.
 */
START_TEST(test_outcomes_and_junit) {
        _cleanup_free_ char *behaviours = module("behaviours"), *junit = NULL, *xml = NULL;
        _cleanup_free_ char *json = NULL, *events = NULL;
        fixture f;
        run r;

        fixture_client(&f);
        junit = path_in(&f, "junit.xml");
        json = path_in(&f, "events.json");
        MHTEST(&f, &r, "--tests", behaviours, "--junit", junit, "--json", json,
               "--collect-artifacts", "never", "-k", "passes", "-k", "fails", "-k", "skips", "-k",
               "crashes_*", "-k", "hangs_*");
        ck_assert_exit(&r, 1);
        ck_assert_result(&r, "passes", "one-client", "PASSED", "");
        ck_assert_result(&r, "fails", "one-client", "FAILED",
                         "mh_run(t, mh_role(t, \"client\", 0), \"exit 3\") == 0");
        ck_assert_result(&r, "skips", "one-client", "SKIPPED", ": nothing to do here");
        ck_assert_result(&r, "crashes_segv", "one-client", "ERROR",
                         ": crashed: Segmentation fault (signal 11)");
        ck_assert_result(&r, "crashes_abort", "one-client", "ERROR",
                         ": crashed: Aborted (signal 6)");
        ck_assert_result(&r, "hangs_locally", "one-client", "ERROR", ": timed out after 2 s");
        ck_assert_result(&r, "hangs_remotely", "one-client", "ERROR", ": timed out after 2 s");
        ck_assert_ptr_nonnull(strstr(r.out, "1 passed, 1 failed, 1 skipped, 4 errors"));
        /* Each failure says how to run it again. */
        ck_assert_uint_eq(count(r.out, "    reproduce: mhtest --config "), 5);

        assert_valid_junit(junit);
        xml = read_all(junit);
        ck_assert_uint_eq(count(xml, "<testcase "), 7);
        ck_assert_uint_eq(count(xml, "<failure "), 1);
        ck_assert_uint_eq(count(xml, "<error "), 4);
        ck_assert_uint_eq(count(xml, "<skipped "), 1);
        ck_assert_ptr_nonnull(strstr(xml,
                                     "<testsuite name=\"one-client\" tests=\"7\" failures=\"1\" "
                                     "errors=\"4\" skipped=\"1\""));
        ck_assert_ptr_nonnull(
                strstr(xml, "<testcase name=\"crashes_abort\" classname=\"one-client\""));
        ck_assert_ptr_nonnull(strstr(xml, "<error message=\"crashed: Segmentation fault (signal "
                                          "11)\" type=\"SIGSEGV\""));
        ck_assert_ptr_nonnull(strstr(xml, "<error message=\"crashed: Aborted (signal 6)\" "
                                          "type=\"SIGABRT\""));
        ck_assert_uint_eq(count(xml, "<error message=\"timed out after 2 s\" type=\"timeout\""), 2);

        events = read_all(json);
        ck_assert_test_end(events, "crashes_segv", "\"status\": \"error\"", "\"signal\": 11,",
                           "\"timed_out\": false,", "\"cancelled\": false,");
        ck_assert_test_end(events, "crashes_abort", "\"signal\": 6,", "\"timed_out\": false,");
        ck_assert_test_end(events, "hangs_locally", "\"signal\": null,", "\"timed_out\": true,",
                           "\"cancelled\": false,");
        ck_assert_test_end(events, "hangs_remotely", "\"signal\": null,", "\"timed_out\": true,");
        ck_assert_test_end(events, "fails", "\"status\": \"failed\"", "\"signal\": null,",
                           "\"timed_out\": false,", "\"cancelled\": false,");
        run_dispose(&r);
        fixture_dispose(&f);
}
END_TEST

/* A failing MH_SETUP fails the test, whose body does not run. */
START_TEST(test_setup_hook_failure_fails_the_test) {
        _cleanup_free_ char *hooks = module("hooks");
        fixture f;
        run r;

        fixture_client(&f);
        MHTEST(&f, &r, "--tests", hooks, "-v", "--collect-artifacts", "never");
        ck_assert_exit(&r, 1);
        ck_assert_result(&r, "after_failing_setup", "one-client", "FAILED",
                         "the setup hook refuses");
        ck_assert_ptr_null(strstr(r.out, "the body ran"));
        ck_assert_ptr_null(strstr(r.out, "mhc-run-hook-body"));
        run_dispose(&r);
        fixture_dispose(&f);
}
END_TEST

/* What a test changed is gone for the next test, and after the run. */
START_TEST(test_restore_between_tests) {
        _cleanup_free_ char *behaviours = module("behaviours");
        fixture f;
        run r;

        fixture_client(&f);
        MHTEST(&f, &r, "--tests", behaviours, "-k", "writes_marker", "-k", "marker_is_gone");
        ck_assert_exit(&r, 0);
        ck_assert_result(&r, "writes_marker", "one-client", "PASSED", "");
        ck_assert_result(&r, "marker_is_gone", "one-client", "PASSED", "");
        ck_assert(strstr(r.out, "] writes_marker [") < strstr(r.out, "] marker_is_gone ["));
        ck_assert_int_eq(on_host("client", "test -e /root/mhc-run-marker"), 1);
        run_dispose(&r);
        fixture_dispose(&f);
}
END_TEST

/* A failing setup command is an error of each of the topology's tests, naming the command. */
START_TEST(test_topology_setup_failure) {
        _cleanup_free_ char *behaviours = module("behaviours");
        fixture f;
        run r;

        fixture_client(&f);
        MHTEST(&f, &r, "--tests", behaviours, "-k", "on_failing_setup", "--collect-artifacts",
               "never");
        ck_assert_exit(&r, 1);
        ck_assert_result(&r, "on_failing_setup", "fails-setup", "ERROR",
                         ": setup of topology 'fails-setup' failed on client.lab.test: setup "
                         "command 'false' failed with exit status 1: (nothing on stderr)");
        run_dispose(&r);
        fixture_dispose(&f);
}
END_TEST

/* A setup command that times out says so, naming the command once and the host once. */
START_TEST(test_topology_setup_timeout_message) {
        const char *names[] = { "client" };
        const lab_conn conns[] = { { .command_timeout = 2, .yaml = CLIENT_YAML } };
        _cleanup_free_ char *messages = module("messages");
        fixture f;
        run r;

        fixture_init(&f, 1, names, conns);
        MHTEST(&f, &r, "--tests", messages, "-k", "on_slow_setup", "--collect-artifacts", "never");
        ck_assert_exit(&r, 1);
        ck_assert_result_message(&r, "on_slow_setup", "slow-setup", "ERROR",
                                 "setup of topology 'slow-setup' failed on client.lab.test: setup "
                                 "command 'sleep 10': command timed out after 2s: sleep 10");
        run_dispose(&r);
        fixture_dispose(&f);
}
END_TEST

/* A vanilla backup that fails is an error of each test, naming the host once. */
START_TEST(test_vanilla_backup_failure_message) {
        const char *names[] = { "scripted" };
        char address[128];
        lab_conn conns[] = { {
                .address = address,
                .yaml = "        type: script\n        config:\n"
                        "          backup: 'echo no room for the backup >&2; exit 1'\n"
                        "          restore: 'true'\n          drop: 'true'\n",
        } };
        _cleanup_free_ char *scripted = module("scripted");
        fixture f;
        run r;

        ck_assert(lab_address("client", address, sizeof(address)));
        fixture_init(&f, 1, names, conns);
        MHTEST(&f, &r, "--tests", scripted, "-k", "breaks_restore", "--collect-artifacts", "never");
        ck_assert_exit(&r, 1);
        ck_assert_result_message(&r, "breaks_restore", "scripted", "ERROR",
                                 "vanilla backup: host 'scripted.lab.test': backup command failed "
                                 "with exit status 1: no room for the backup");
        run_dispose(&r);
        fixture_dispose(&f);
}
END_TEST

/* A unit that fails to start through the test API: mh_test_error() names the host once. */
START_TEST(test_unit_fails_to_start_message) {
        _cleanup_free_ char *messages = module("messages");
        fixture f;
        run r;

        fixture_client(&f);
        MHTEST(&f, &r, "--tests", messages, "-k", "unit_fails_to_start", "--collect-artifacts",
               "never");
        ck_assert_int_eq(on_host("client",
                                 "rm -f /run/systemd/system/mhc-run-fails-to-start.service"
                                 " && systemctl daemon-reload && systemctl reset-failed "
                                 "mhc-run-fails-to-start.service"),
                         0);
        ck_assert_exit(&r, 1);
        ck_assert_result_message(&r, "unit_fails_to_start", "no-controller", "FAILED",
                                 "host 'client.lab.test': unit 'mhc-run-fails-to-start.service' "
                                 "failed to start (result: exit-code)");
        run_dispose(&r);
        fixture_dispose(&f);
}
END_TEST

/* A host whose restore fails, also back to vanilla, is quarantined: its next tests are errors. */
START_TEST(test_restore_failure_quarantines) {
        static const char marker[] = "/tmp/mhc-fail-restore";
        const char *names[] = { "scripted" };
        char address[128];
        lab_conn conns[] = { {
                .address = address,
                .yaml = "        type: script\n        config:\n"
                        "          backup: 'true'\n          drop: 'true'\n"
                        "          restore: 'test ! -e /tmp/mhc-fail-restore || "
                        "{ echo refused by the marker >&2; exit 1; }'\n",
        } };
        _cleanup_free_ char *scripted = module("scripted"), *rm = NULL;
        fixture f;
        run r;

        ck_assert(lab_address("client", address, sizeof(address)));
        ck_assert_int_ge(asprintf(&rm, "rm -f %s", marker), 0);
        ck_assert_int_eq(on_host("client", rm), 0);
        fixture_init(&f, 1, names, conns);
        MHTEST(&f, &r, "--tests", scripted, "--collect-artifacts", "never");
        ck_assert_int_eq(on_host("client", rm), 0);

        ck_assert_exit(&r, 1);
        ck_assert_result(&r, "breaks_restore", "scripted", "PASSED", "");
        ck_assert_msg(strstr(r.err, "after breaks_restore [scripted]: host scripted.lab.test is "
                                    "dirty: restore failed ("),
                      "%s", r.err);
        ck_assert_ptr_nonnull(strstr(r.err, "refused by the marker"));
        ck_assert_result(&r, "after_broken_restore", "scripted", "ERROR",
                         ": host scripted.lab.test is dirty: ");
        ck_assert_result(&r, "after_broken_restore_again", "scripted", "ERROR",
                         ": host scripted.lab.test is dirty: ");
        run_dispose(&r);

        /* The quarantined host kept its backups: the next run puts it back. */
        MHTEST(&f, &r, "--recover");
        ck_assert_exit(&r, 0);
        ck_assert_msg(strstr(r.err, "mhtest: warning: scripted.lab.test: put back after run ") &&
                              strstr(r.err, "last at: quarantined: the host could not be put back; "
                                            "its vanilla backup is whole"),
                      "%s", r.err);
        ck_assert_ptr_nonnull(strstr(r.out, "scripted.lab.test: clean\n"));
        run_dispose(&r);
        fixture_dispose(&f);
}
END_TEST

/* A host of a needed topology that cannot be reached: exit 3. */
START_TEST(test_unreachable_host_exits_3) {
        const char *names[] = { "client" };
        const lab_conn conns[] = { { .address = "10.213.0.250", .connect_timeout = 2 } };
        _cleanup_free_ char *behaviours = module("behaviours");
        fixture f;
        run r;

        fixture_init(&f, 1, names, conns);
        MHTEST(&f, &r, "--tests", behaviours, "-k", "passes", "--collect-artifacts", "never");
        ck_assert_exit(&r, 3);
        ck_assert_result(&r, "passes", "one-client", "ERROR", "10.213.0.250");
        run_dispose(&r);
        fixture_dispose(&f);
}
END_TEST

/* The first Ctrl-C stops the test, restores the hosts, writes the reports and exits 130. */
START_TEST(test_ctrl_c_restores_hosts) {
        _cleanup_free_ char *behaviours = module("behaviours"), *junit = NULL, *json = NULL;
        _cleanup_free_ char *xml = NULL, *log = NULL;
        const struct timespec tick = { .tv_nsec = 50 * 1000 * 1000 };
        bool started = false, done = false;
        fixture f;
        run r = {};
        pid_t pid;
        int w = 0;

        ck_assert_int_eq(on_host("client", "rm -f /root/mhc-ctrl-c"), 0);
        fixture_client(&f);
        junit = path_in(&f, "junit.xml");
        json = path_in(&f, "events.json");
        pid = mhtest_start(&f, (const char *const[]){ "--tests", behaviours, "-k", "interrupted",
                                                      "--junit", junit, "--json", json, NULL });

        /* Until the test has started and its command has left the marker. */
        for (unsigned i = 0; i < 400 && !started; i++) {
                _cleanup_free_ char *events = read_all(json);

                started = strstr(events, "\"event\": \"test-start\", \"test\": \"interrupted\"") &&
                          on_host("client", "test -e /root/mhc-ctrl-c") == 0;
                if (!started)
                        nanosleep(&tick, NULL);
                ck_assert_int_eq(waitpid(pid, &w, WNOHANG), 0);
        }
        ck_assert_msg(started, "the test did not start");
        ck_assert_int_eq(kill(pid, SIGINT), 0);

        for (unsigned i = 0; i < 200 && !done; i++) {
                done = waitpid(pid, &w, WNOHANG) == pid;
                if (!done)
                        nanosleep(&tick, NULL);
        }
        if (!done) {
                kill(pid, SIGKILL);
                waitpid(pid, &w, 0);
                (void) on_host("client", "rm -f /root/mhc-ctrl-c");
        }
        mhtest_collect(&f, w, &r);
        ck_assert_msg(done, "mhtest still ran 10 s after Ctrl-C\n%s%s", r.out, r.err);
        ck_assert_exit(&r, 130);
        ck_assert_result(&r, "interrupted", "one-client", "ERROR", ": interrupted (Ctrl-C)");
        ck_assert_ptr_nonnull(strstr(r.err, "mhtest: SIGINT: finishing the current step"));

        log = read_all(json);
        ck_assert_test_end(log, "interrupted", "\"signal\": null,", "\"timed_out\": false,",
                           "\"cancelled\": true,");

        assert_valid_junit(junit);
        xml = read_all(junit);
        ck_assert_ptr_nonnull(strstr(xml, "<property name=\"interrupted\" value=\"true\"/>"));
        ck_assert_ptr_nonnull(
                strstr(xml, "<error message=\"interrupted (Ctrl-C)\" type=\"cancelled\""));
        ck_assert_uint_eq(count(xml, "<testcase "), 1);
        ck_assert_int_eq(on_host("client", "test -e /root/mhc-ctrl-c"), 1);
        /* the remote command Ctrl-C came in was ended on the host, not left to run */
        ck_assert_int_eq(on_host("client", "pgrep -x -f 'sleep 61'"), 1);
        run_dispose(&r);
        fixture_dispose(&f);
}
END_TEST

/* --- reports and artifacts ----------------------------------------------------- */

/* Artifacts of failures by default, of every test with always, of none with never. */
START_TEST(test_artifacts) {
        _cleanup_free_ char *behaviours = module("behaviours"), *text = NULL, *path = NULL;
        fixture f;
        run r;

        fixture_client(&f);
        MHTEST(&f, &r, "--tests", behaviours, "-k", "passes", "-k", "fails");
        ck_assert_exit(&r, 1);
        path = artifact(&f, "artifacts", "fails", "commands.log");
        text = read_all(path);
        ck_assert_msg(strstr(text, "$ exit 3\n  [exit 3, "), "%s: %s", path, text);
        free(path);
        path = artifact(&f, "artifacts", "fails", "journal.log");
        ck_assert(exists(path));
        free(path);
        path = artifact(&f, "artifacts", "passes", NULL);
        ck_assert(!exists(path));
        free(path);
        free(text);
        run_dispose(&r);

        MHTEST(&f, &r, "--tests", behaviours, "-k", "writes_artifact", "--artifacts-dir", "all",
               "--collect-artifacts", "always");
        ck_assert_exit(&r, 0);
        text = artifact_text(&f, "all", "writes_artifact", "root/mhc-run-artifact.log");
        ck_assert_str_eq(text, "artifact-of-the-test\n");
        free(text);
        text = artifact_text(&f, "all", "writes_artifact", "commands.log");
        ck_assert_ptr_nonnull(strstr(text, "$ echo artifact-of-the-test"));
        run_dispose(&r);

        MHTEST(&f, &r, "--tests", behaviours, "-k", "fails", "--artifacts-dir", "none",
               "--collect-artifacts", "never");
        ck_assert_exit(&r, 1);
        path = path_in(&f, "none");
        ck_assert(!exists(path));
        run_dispose(&r);
        fixture_dispose(&f);
}
END_TEST

/* What the artifacts walk looks for, and what it found. */
static const char *walk_secret;
static size_t walk_files;
static char walk_leak[PATH_MAX];

static int check_file(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        _cleanup_free_ char *text = NULL;

        if (flag != FTW_F)
                return 0;
        walk_files++;
        text = read_all(path);
        if (strstr(text, walk_secret) && !walk_leak[0])
                snprintf(walk_leak, sizeof(walk_leak), "%s", path);
        return 0;
}

/* Fail if s (what) holds secret, showing where. */
static void assert_no_secret(const char *what, const char *s, const char *secret) {
        const char *at = strstr(s, secret);

        ck_assert_msg(!at, "%s holds the secret at byte %zu: ...%.80s", what,
                      at ? (size_t) (at - s) : 0, at ? (at - s > 40 ? at - 40 : s) : "");
}

/*
 * A host's secret (its conn.password, the lab's password) is replaced by
 * ******** in everything mhtest writes, wherever it came from: a test's
 * commands, a note, a failing command's output, an artifact, a topology
 * setup command and the message of a restore that failed and of the
 * tests after it.  Checked in the console with -v, TAP, JUnit, the JSON
 * log and every file of the artifacts.
 */
START_TEST(test_secrets_are_redacted_everywhere) {
        static const char marker[] = "/tmp/mhc-secret-marker";
        const char *names[] = { "scripted" };
        _cleanup_free_ char *password = lab_password(), *secrets = module("secrets");
        _cleanup_free_ char *yaml = NULL, *topology = NULL, *path = NULL, *rm = NULL;
        _cleanup_free_ char *junit = NULL, *json = NULL, *xml = NULL, *events = NULL;
        _cleanup_free_ char *artifacts = NULL, *text = NULL;
        const char *next;
        char address[128];
        lab_conn conns[] = { { .address = address, .password = password } };
        fixture f;
        run r;

        ck_assert_msg(password && strlen(password) >= 8, "no password in %s", LAB_PASSWORD_FILE);
        ck_assert(lab_address("client", address, sizeof(address)));
        /* Root logs in with the key; the password is one of the host's secrets all the same. */
        yaml = strdup("        type: script\n        config:\n          backup: 'true'\n"
                      "          drop: 'true'\n          restore: 'if [ \"$MHC_BACKUP_NAME\" = "
                      "topology ] && [ -e /tmp/mhc-secret-marker ]; then echo \"restore refused: ");
        lab_append(&yaml, "%s\" >&2; exit 1; fi'\n", password);
        lab_append(&yaml, "        artifacts: [/tmp/mhc-secret-artifact.log]\n");
        ck_assert_ptr_nonnull(yaml);
        conns[0].yaml = yaml;

        ck_assert_int_ge(asprintf(&rm, "rm -f %s /tmp/mhc-secret-artifact.log", marker), 0);
        ck_assert_int_eq(on_host("client", rm), 0);
        fixture_init(&f, 1, names, conns);
        /* A setup that holds the secret, and fails with it once the marker is there. */
        ck_assert_int_ge(asprintf(&topology,
                                  "name: secrets\ndomains:\n  - id: lab\n    roles: {scripted: 1}\n"
                                  "setup:\n  scripted:\n    - 'echo %s >/dev/null; if [ -e %s ]; "
                                  "then echo \"setup refused: %s\" >&2; exit 1; fi'\n",
                                  password, marker, password),
                         0);
        path = path_in(&f, "topo/secrets.yaml");
        write_text(path, topology);
        junit = path_in(&f, "junit.xml");
        json = path_in(&f, "events.json");
        MHTEST(&f, &r, "--tests", secrets, "-v", "--tap", "--junit", junit, "--json", json,
               "--collect-artifacts", "always");
        ck_assert_int_eq(on_host("client", rm), 0);
        ck_assert_exit(&r, 1);

        /* Each sink saw where the secret was. */
        ck_assert_msg(strstr(r.out, "not ok 1 - leaks_secret [secrets]\n") &&
                              strstr(r.out, "not ok 2 - after_dirty [secrets]\n") &&
                              strstr(r.out, "********"),
                      "TAP:\n%.1500s", r.out);
        ck_assert_msg(strstr(r.err, ": $ echo 'secret: ********' >/tmp/mhc-secret-artifact.log") &&
                              strstr(r.err, "    note: the secret is ********\n") &&
                              strstr(r.err, ": $ echo ******** >/dev/null; if [ -e "),
                      "console:\n%.1500s", r.err);
        ck_assert_msg(strstr(r.err, "after leaks_secret [secrets]: host scripted.lab.test is "
                                    "dirty: restore failed (") &&
                              strstr(r.err, "restore refused: ********") &&
                              strstr(r.err, "setup command 'echo ******** >/dev/null; ") &&
                              strstr(r.err, "setup refused: ********"),
                      "the restore's failure:\n%.1500s", r.err);
        /* With --tap, the result lines are the console's, on standard error. */
        next = strstr(r.err, "] after_dirty [secrets] ERROR ");
        ck_assert_msg(next && strstr(next, ": host scripted.lab.test is dirty: restore failed ("),
                      "the next test:\n%.1500s", strstr(r.err, "] leaks_secret [") ?: r.err);
        assert_no_secret("the console", r.err, password);
        assert_no_secret("TAP", r.out, password);

        assert_valid_junit(junit);
        xml = read_all(junit);
        ck_assert_msg(strstr(xml, "the secret is ********") &&
                              strstr(xml, "restore refused: ********"),
                      "JUnit:\n%.1500s", xml);
        assert_no_secret("JUnit", xml, password);

        events = read_all(json);
        ck_assert_msg(strstr(events, "\"command\": \"echo 'secret: ********' >") &&
                              strstr(events, "\"command\": \"echo ******** >/dev/null; ") &&
                              strstr(events, "restore refused: ********"),
                      "JSON:\n%.1500s", events);
        assert_no_secret("the JSON log", events, password);

        artifacts = path_in(&f, "artifacts/secrets/leaks_secret/scripted.lab.test");
        free(path);
        ck_assert_int_ge(asprintf(&path, "%s/tmp/mhc-secret-artifact.log", artifacts), 0);
        text = read_all(path);
        ck_assert_str_eq(text, "secret: ********\n");
        free(text);
        free(path);
        ck_assert_int_ge(asprintf(&path, "%s/commands.log", artifacts), 0);
        text = read_all(path);
        ck_assert_msg(strstr(text, "$ echo 'secret: ********' >"), "commands.log:\n%.1500s", text);
        free(artifacts);
        artifacts = path_in(&f, "artifacts");
        walk_secret = password;
        walk_files = 0;
        walk_leak[0] = '\0';
        ck_assert_int_eq(nftw(artifacts, check_file, 16, FTW_PHYS), 0);
        ck_assert_uint_ge(walk_files, 3);
        ck_assert_msg(!walk_leak[0], "the artifact %s holds the secret", walk_leak);
        run_dispose(&r);

        /* The host it quarantined is put back (the marker is gone): the next tests find it clean. */
        MHTEST(&f, &r, "--recover");
        ck_assert_exit(&r, 0);
        assert_no_secret("--recover's output", r.out, password);
        assert_no_secret("--recover's messages", r.err, password);
        run_dispose(&r);
        fixture_dispose(&f);
}
END_TEST

/* The order of the result lines of a run of order_* tests. */
static char *order_of(const fixture *f, const char *seed) {
        _cleanup_free_ char *behaviours = module("behaviours");
        char *order = strdup("");
        run r;

        MHTEST(f, &r, "--tests", behaviours, "-k", "order_*", "--shuffle", "--seed", seed);
        ck_assert_exit(&r, 0);
        ck_assert_uint_eq(count(r.out, " [no-controller] PASSED"), 10);
        for (const char *p = r.out; (p = strstr(p, "] order_")); p++)
                lab_append(&order, "%c", p[strlen("] order_")]);
        ck_assert_ptr_nonnull(order);
        run_dispose(&r);
        return order;
}

/* One seed, one order; another seed, another order. */
START_TEST(test_shuffle_is_reproducible) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;
        fixture f;

        fixture_client(&f);
        a = order_of(&f, "1");
        b = order_of(&f, "1");
        c = order_of(&f, "2");
        ck_assert_uint_eq(strlen(a), 10);
        ck_assert_str_eq(a, b);
        ck_assert_str_ne(a, c);
        ck_assert_str_ne(a, "0123456789");
        fixture_dispose(&f);
}
END_TEST

static Suite *run_suite_of_tests(void) {
        Suite *s = suite_create("run");
        TCase *plan = tcase_create("plan"), *running = tcase_create("running");
        TCase *reports = tcase_create("reports");

        tcase_set_timeout(plan, 30);
        tcase_add_test(plan, test_list_plans_without_connecting);
        tcase_add_test(plan, test_filters);
        tcase_add_test(plan, test_unsatisfied_topologies_skip);
        tcase_add_test(plan, test_unknown_topology_exits_2);
        tcase_add_test(plan, test_two_tests_of_one_name_exit_2);
        suite_add_tcase(s, plan);

        tcase_set_timeout(running, 60);
        tcase_add_test(running, test_outcomes_and_junit);
        tcase_add_test(running, test_setup_hook_failure_fails_the_test);
        tcase_add_test(running, test_restore_between_tests);
        tcase_add_test(running, test_topology_setup_failure);
        tcase_add_test(running, test_topology_setup_timeout_message);
        tcase_add_test(running, test_vanilla_backup_failure_message);
        tcase_add_test(running, test_unit_fails_to_start_message);
        tcase_add_test(running, test_restore_failure_quarantines);
        tcase_add_test(running, test_unreachable_host_exits_3);
        tcase_add_test(running, test_ctrl_c_restores_hosts);
        suite_add_tcase(s, running);

        tcase_set_timeout(reports, 60);
        tcase_add_test(reports, test_artifacts);
        tcase_add_test(reports, test_secrets_are_redacted_everywhere);
        tcase_add_test(reports, test_shuffle_is_reproducible);
        suite_add_tcase(s, reports);
        return s;
}

int main(void) {
        return run_suite(run_suite_of_tests());
}
