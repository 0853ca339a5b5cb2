/* SPDX-License-Identifier: MIT */
/*
 * Faults (<mhc/fault.h>) against the lab's real hosts: each kind made and
 * healed, what it needs refused with the host named, the dead man's timer,
 * and what no record heals found.  Runs inside the lab's network namespace
 * (tests/run-test does that).
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mhc/mhc.h>

#include "lab.h"
#include "util.h"
#include "mhtest-fixture.h"
#include "check-run.h"
#include "fault-lab.h"

/* busybox httpd on server, port 80 (tests/lab/up) */
#define FETCH     "curl -sf -o /dev/null -m 3 http://server." LAB_DOMAIN "/"
#define TABLES    "{ nft list tables | grep -c mhc_fault_ || :; }"
#define FILL_DIR  "/mnt/mhc-test-fill"
/* what the tests of what no record heals leave */
#define DROP_TABLES                                                                    \
        "nft list tables | awk '/mhc_fault_/ { print $3 }' | xargs -r -n1 nft delete " \
        "table inet"

static mh_config *config;
static mh_host *client, *server;

static void setup(void) {
        const char *names[] = { "client", "server" };
        mh_error e = MH_ERROR_INIT;

        ck_assert_msg(lab_config_new(2, names, NULL, &config, &e) >= 0, "%s", e.message);
        ck_assert_msg(mh_host_new(mh_config_host(config, 0), &client, &e) >= 0, "%s", e.message);
        ck_assert_msg(mh_host_new(mh_config_host(config, 1), &server, &e) >= 0, "%s", e.message);
        ck_assert_msg(mh_host_connect(client, &e) >= 0, "%s", e.message);
        ck_assert_msg(mh_host_connect(server, &e) >= 0, "%s", e.message);
}

static void teardown(void) {
        mh_error e = MH_ERROR_INIT;

        ck_assert_msg(mh_host_heal_faults(client, &e) >= 0, "%s", e.message);
        ck_assert_msg(mh_host_heal_faults(server, &e) >= 0, "%s", e.message);
        client = mh_host_free(client);
        server = mh_host_free(server);
        config = mh_config_free(config);
}

/* The exit status of command on h, through the run's own session. */
static int run_on(mh_host *h, const char *command) {
        mh_error e = MH_ERROR_INIT;
        mh_exec_result res = {};
        int status;

        ck_assert_msg(mh_host_exec(h, command, NULL, &res, &e) >= 0, "%s", e.message);
        status = res.exit_status;
        if (status != 0)
                fprintf(stderr, "%s: %s: exit status %d%s%s\n", mh_host_name(h), command, status,
                        *res.err ? ": " : "", strtok(res.err, "\n") ?: "");
        mh_exec_result_dispose(&res);
        return status;
}

/* Starting f on h fails with a message that holds each of the needles. */
static void assert_refused(mh_host *h, const mh_fault *f, const char *needle,
                           const char *needle2) {
        mh_error e = MH_ERROR_INIT;
        unsigned n = 0;
        _cleanup_free_ char *tables = NULL;

        ck_assert_int_lt(mh_host_start_fault(h, f, 120, &n, &e), 0);
        ck_assert_msg(strstr(e.message, needle) && (!needle2 || strstr(e.message, needle2)),
                      "'%s' or '%s' not in: %s", needle, strempty(needle2), e.message);
        tables = output_on(h, TABLES);
        ck_assert_str_eq(tables, "0");
}

static void assert_tables(mh_host *h, const char *count) {
        _cleanup_free_ char *n = output_on(h, TABLES);

        ck_assert_str_eq(n, count);
}

START_TEST(test_partition) {
        const char *peers[] = { "server." LAB_DOMAIN, NULL };
        mh_fault cut = { .kind = MH_FAULT_PARTITION, .peers = peers, .reject = 1 };
        unsigned n;

        ck_assert_int_eq(run_on(client, FETCH), 0);
        n = start(client, &cut);
        assert_tables(client, "1");
        ck_assert_int_ne(run_on(client, FETCH), 0);
        /* the runner's own SSH traffic still flows: the commands above and below ran */
        heal(client, n);
        heal(client, n); /* healed already: fine */
        assert_tables(client, "0");
        ck_assert_int_eq(run_on(client, FETCH), 0);

        /* by address, dropped, outgoing only: no input chain */
        cut = (mh_fault){ .kind = MH_FAULT_PARTITION, .peers = peers,
                          .direction = MH_FAULT_OUTGOING };
        n = start(client, &cut);
        ck_assert_int_ne(run_on(client, FETCH), 0);
        ck_assert_int_eq(run_on(client, "nft list ruleset | grep -q 'hook output' && "
                                        "! nft list ruleset | grep -q 'hook input'"),
                         0);
        heal(client, n);
        ck_assert_int_eq(run_on(client, FETCH), 0);
}
END_TEST

START_TEST(test_loss_and_rate) {
        const char *peers[] = { "server", "server." LAB_DOMAIN, NULL };
        mh_fault loss = { .kind = MH_FAULT_LOSS, .peers = peers, .percent = 100 };
        mh_fault some = { .kind = MH_FAULT_LOSS, .peers = peers, .percent = 30 };
        mh_fault rate = { .kind = MH_FAULT_RATE, .peers = peers, .bytes_per_sec = 4096,
                          .direction = MH_FAULT_INCOMING };
        unsigned a, b;

        a = start(client, &loss);
        ck_assert_int_ne(run_on(client, FETCH), 0);
        b = start(client, &rate);
        assert_tables(client, "2");
        ck_assert_int_eq(run_on(client, "nft list ruleset | grep -Eq 'ip saddr [0-9.]+ limit "
                                        "rate over 4 kbytes/second drop'"),
                         0);
        heal(client, a);
        ck_assert_int_eq(run_on(client, FETCH), 0);
        heal(client, b);
        assert_tables(client, "0");
        a = start(client, &some);
        ck_assert_int_eq(run_on(client, "nft list ruleset | grep -q 'numgen random mod 100 < 30 drop'"), 0);
        heal(client, a);

        loss.percent = 0;
        assert_refused(client, &loss, "client", "loss: 0% is not within 1..100");
}
END_TEST

START_TEST(test_refused) {
        const char *nowhere[] = { "nowhere.invalid", NULL };
        const char *none[] = { NULL };
        mh_fault bad = { .kind = MH_FAULT_PARTITION, .peers = nowhere };

        assert_refused(client, &bad, "host 'client.lab.test'", "cannot resolve the peer 'nowhere.invalid'");
        bad.peers = none;
        assert_refused(client, &bad, "client", "no peers");
        bad = (mh_fault){ .kind = MH_FAULT_PAUSE, .unit = "mhc-no-such.service" };
        assert_refused(server, &bad, "host 'server.lab.test'", "unit mhc-no-such.service is not active");
        bad = (mh_fault){ .kind = MH_FAULT_FILL, .path = "/" };
        assert_refused(server, &bad, "over the limit of 1073741824 for a fill", NULL);
        bad.path = "relative";
        assert_refused(server, &bad, "not an absolute path", NULL);
        /* nothing is left of the refused ones */
        ck_assert_int_eq(run_on(server, "! ls /var/lib/mhc/run-*/faults/[0-9]* 2>/dev/null"), 0);
}
END_TEST

START_TEST(test_pause) {
        mh_fault pause = { .kind = MH_FAULT_PAUSE, .unit = "mhc-web.service" };
        unsigned n;

        n = start(server, &pause);
        ck_assert_int_ne(run_on(client, FETCH), 0);
        heal(server, n);
        ck_assert_int_eq(run_on(client, FETCH), 0);
        ck_assert_int_eq(run_on(server, "systemctl is-active -q mhc-web.service"), 0);
}
END_TEST

START_TEST(test_fill) {
        mh_fault fill = { .kind = MH_FAULT_FILL, .path = FILL_DIR };
        unsigned n;

        ck_assert_int_eq(run_on(server, "mkdir -p " FILL_DIR " && mount -t tmpfs -o size=16m "
                                        "mhc-fill " FILL_DIR),
                         0);
        n = start(server, &fill);
        ck_assert_int_ne(run_on(server, "echo x >" FILL_DIR "/x"), 0);
        heal(server, n);
        ck_assert_int_eq(run_on(server, "echo x >" FILL_DIR "/x && ! ls -A " FILL_DIR
                                        " | grep -q mhc-fill"),
                         0);
        /* a smaller limit refuses it */
        fill.max_fs_bytes = 1 << 20;
        assert_refused(server, &fill, "over the limit of 1048576", NULL);
        ck_assert_int_eq(run_on(server, "umount " FILL_DIR " && rmdir " FILL_DIR), 0);
}
END_TEST

/* A unit of the test's own that writes its clock and its start count. */
#define CLOCK_UNIT "mhc-test-clock.service"
#define MAKE_CLOCK_UNIT                                                                     \
        "printf '[Service]\\nExecStart=/bin/sh -c \"echo x >>/run/mhc-test-starts; while :; " \
        "do date +%%%%s >/run/mhc-test-clock; sleep 0.2; done\"\\n' "                           \
        ">/run/systemd/system/" CLOCK_UNIT " && rm -f /run/mhc-test-starts && "            \
        "systemctl daemon-reload && systemctl start " CLOCK_UNIT

/* stopped (its shell ends by SIGTERM: failed), forgotten, removed: the host is not degraded */
#define REMOVE_CLOCK_UNIT                                                                    \
        "systemctl stop " CLOCK_UNIT "; systemctl reset-failed " CLOCK_UNIT " 2>/dev/null; "  \
        "rm -f /run/systemd/system/" CLOCK_UNIT " /run/mhc-test-clock /run/mhc-test-starts && " \
        "systemctl daemon-reload && ! systemctl is-failed -q " CLOCK_UNIT

/* seconds between the unit's clock and the host's, once it wrote since now */
#define CLOCK_AHEAD                                                                          \
        "sleep 0.5; echo $(( $(cat /run/mhc-test-clock) - $(date +%s) ))"

START_TEST(test_clock) {
        mh_fault clock = { .kind = MH_FAULT_CLOCK, .unit = CLOCK_UNIT, .faketime = "+3600" };
        _cleanup_free_ char *ahead = NULL, *back = NULL;
        unsigned n;

        ck_assert_int_eq(run_on(server, MAKE_CLOCK_UNIT), 0);
        n = start(server, &clock);
        ahead = output_on(server, CLOCK_AHEAD);
        ck_assert_msg(atoi(ahead) >= 3595 && atoi(ahead) <= 3605, "an hour ahead: %s", ahead);
        heal(server, n);
        back = output_on(server, CLOCK_AHEAD);
        ck_assert_msg(abs(atoi(back)) <= 5, "back on the host's clock: %s", back);
        ck_assert_int_eq(run_on(server, "! ls /run/systemd/system/" CLOCK_UNIT ".d/mhc-fault-* "
                                        "2>/dev/null"),
                         0);

        clock.faketime = "+1\" x";
        assert_refused(server, &clock, "is not a FAKETIME of libfaketime", NULL);
        clock = (mh_fault){ .kind = MH_FAULT_CLOCK, .unit = "mhc-no-such.service",
                            .faketime = "+1" };
        assert_refused(server, &clock, "no unit mhc-no-such.service", NULL);
        ck_assert_int_eq(run_on(server, REMOVE_CLOCK_UNIT), 0);
}
END_TEST

START_TEST(test_restart_loop) {
        mh_fault loop = { .kind = MH_FAULT_RESTART_LOOP, .unit = CLOCK_UNIT, .interval_msec = 300 };
        _cleanup_free_ char *starts = NULL, *later = NULL;
        unsigned n;

        ck_assert_int_eq(run_on(server, MAKE_CLOCK_UNIT), 0);
        n = start(server, &loop);
        ck_assert_int_eq(run_on(server, "sleep 2"), 0);
        heal(server, n);
        starts = output_on(server, "wc -l </run/mhc-test-starts");
        ck_assert_msg(atoi(starts) >= 3, "started %s times in 2 s", starts);
        later = output_on(server, "sleep 1; wc -l </run/mhc-test-starts");
        ck_assert_str_eq(later, starts);

        loop.interval_msec = 10;
        assert_refused(server, &loop, "an interval of 10 ms (at least 100)", NULL);
        ck_assert_int_eq(run_on(server, REMOVE_CLOCK_UNIT), 0);
}
END_TEST

/* The dead man's switch heals a fault that nobody else does. */
START_TEST(test_heals_by_itself) {
        const char *peers[] = { "server." LAB_DOMAIN, NULL };
        mh_fault cut = { .kind = MH_FAULT_PARTITION, .peers = peers };
        mh_error e = MH_ERROR_INIT;
        unsigned n = 0;
        int i;

        ck_assert_msg(mh_host_start_fault(client, &cut, 2, &n, &e) >= 0, "%s", e.message);
        assert_tables(client, "1");
        for (i = 0; i < 100 && run_on(client, TABLES " | grep -qx 0") != 0; i++)
                usleep(200 * 1000);
        ck_assert_msg(i < 100, "the partition was not healed 20 s after its timer's 2 s");
        ck_assert_int_eq(run_on(client, FETCH), 0);
        ck_assert_int_eq(run_on(client, "! ls -d /var/lib/mhc/run-*/faults/[0-9]* 2>/dev/null"),
                         0);
}
END_TEST

/* A table of mhc's faults that no record heals is found, and named. */
START_TEST(test_left_by_hand) {
        const char *peers[] = { "server." LAB_DOMAIN, NULL };
        mh_fault cut = { .kind = MH_FAULT_PARTITION, .peers = peers };
        mh_error e = MH_ERROR_INIT;
        unsigned n = start(client, &cut);

        ck_assert_uint_gt(n, 0);
        /* the record gone, and its timer, which the soak would see pending */
        ck_assert_int_eq(run_on(client, "rm -rf /var/lib/mhc/run-*/faults/[0-9]* && "
                                        "systemctl stop 'mhc-heal-*.timer'"),
                         0);
        ck_assert_int_lt(mh_host_heal_faults(client, &e), 0);
        ck_assert_msg(strstr(e.message, "host 'client.lab.test'") &&
                              strstr(e.message, "is left, with no fault to heal it"),
                      "%s", e.message);
        ck_assert_int_eq(run_on(client, DROP_TABLES), 0);
        ck_assert_int_eq(run_on(client, FETCH), 0);
}
END_TEST

/* --- through mhtest: tests with faults (modules/faults.c) ------------------ */

static const char *const run_names[] = { "client", "server" };
static const lab_conn run_conns[] = {
        { .yaml = CLIENT_YAML },
        { .yaml = "        services: [mhc-web.service]\n" },
};

/* A fault the test leaves, or a crash, does not outlive the test; nor a pause or a kill. */
START_TEST(test_healed_at_the_end) {
        _cleanup_free_ char *faults = module("faults"), *json = NULL, *events = NULL;
        fixture f;
        run r = {};

        fixture_init(&f, 2, run_names, run_conns);
        json = path_in(&f, "events.json");
        MHTEST(&f, &r, "--tests", faults, "-k", "partition_left", "-k", "no_fault_left", "-k",
               "partition_crash", "-k", "pause_and_kill", "--seed", "1", "--json", "events.json");
        ck_assert_msg(r.status == 1, "exit %d:\n%s\n%s", r.status, r.out, r.err);
        ck_assert_result(&r, "partition_left", "faults", "PASSED", "");
        ck_assert_result(&r, "partition_crash", "faults", "ERROR", "crashed");
        ck_assert_result(&r, "pause_and_kill", "faults", "PASSED", "");
        ck_assert_result(&r, "no_fault_left", "faults", "PASSED", "");
        /* each start and heal is an event of the log */
        events = read_all(json);
        ck_assert_msg(strstr(events, "\"event\": \"note\", \"test\": \"partition_left\", "
                                     "\"line\": \"client.lab.test: fault 1 started: partition "
                                     "(both ways, reject) with ") &&
                              strstr(events, "\"line\": \"client.lab.test: the test's faults "
                                             "healed\""),
                      "no fault events in: %.2000s", events);
        run_dispose(&r);

        /* in the other order too: each after the one that leaves a fault */
        MHTEST(&f, &r, "--tests", faults, "-k", "partition_crash", "-k", "no_fault_left");
        ck_assert_result(&r, "no_fault_left", "faults", "PASSED", "");
        run_dispose(&r);
        fixture_dispose(&f);
}
END_TEST

/* What no record heals fails the restore, which names it. */
START_TEST(test_left_by_hand_fails_the_restore) {
        _cleanup_free_ char *faults = module("faults");
        fixture f;
        run r = {};

        fixture_init(&f, 2, run_names, run_conns);
        MHTEST(&f, &r, "--tests", faults, "-k", "left_by_hand");
        /* before the checks, so that a failure leaves nothing to the next tests */
        ck_assert_int_eq(on_host("client", DROP_TABLES), 0);
        ck_assert_msg(strstr(r.err, "host client.lab.test is dirty: restore failed (the faults of "
                                    "the test are not healed: ") &&
                              strstr(r.err, "is left, with no fault to heal it"),
                      "no word of the table left:\n%s\n%s", r.out, r.err);
        run_dispose(&r);
        /* the host was left dirty, with the run's backups: put it back */
        MHTEST(&f, &r, "--recover");
        ck_assert_msg(r.status == 0, "--recover: exit %d\n%s\n%s", r.status, r.out, r.err);
        run_dispose(&r);
        fixture_dispose(&f);
}
END_TEST

/* A unit that failed during a passing test is a warning and an event; the test passes. */
START_TEST(test_failed_unit_warns) {
        _cleanup_free_ char *faults = module("faults"), *json = NULL, *events = NULL;
        fixture f;
        run r = {};

        fixture_init(&f, 2, run_names, run_conns);
        json = path_in(&f, "events.json");
        MHTEST(&f, &r, "--tests", faults, "-k", "unit_fails_passes", "--json", "events.json");
        ck_assert_int_eq(on_host("client", "systemctl reset-failed mhc-outcome-fails.service"), 0);
        ck_assert_msg(r.status == 0, "exit %d:\n%s\n%s", r.status, r.out, r.err);
        ck_assert_result(&r, "unit_fails_passes", "faults", "PASSED", "");
        ck_assert_msg(strstr(r.err, "warning: unit_fails_passes [faults]: host client.lab.test: "
                                    "failed-units: unit mhc-outcome-fails.service failed "
                                    "(exit-code)"),
                      "no warning:\n%s\n%s", r.out, r.err);
        events = read_all(json);
        ck_assert_msg(strstr(events, "\"event\": \"outcome\", \"test\": \"unit_fails_passes\", "
                                     "\"host\": \"client.lab.test\", \"check\": \"failed-units\", "
                                     "\"action\": \"warn\""),
                      "no outcome event in: %.2000s", events);
        run_dispose(&r);
        fixture_dispose(&f);
}
END_TEST

/* mhtest SIGKILLed under a partition: the run's unit heals it as the lease goes. */
START_TEST(test_runner_killed) {
        _cleanup_free_ char *faults = module("faults");
        fixture f;
        run r = {};
        pid_t pid;
        int i;

        ck_assert_int_eq(on_host("client", "rm -f /run/mhc-fault-ready"), 0);
        fixture_init(&f, 2, run_names, run_conns);
        pid = mhtest_start(&f, (const char *const[]){ "--tests", faults, "-k", "cut_and_wait",
                                                      NULL });
        for (i = 0; i < 300 && on_host("client", "test -e /run/mhc-fault-ready") != 0; i++)
                usleep(100 * 1000);
        ck_assert_int_eq(on_host("client", "nft list tables | grep -q mhc_fault_"), 0);
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
        /* its timer would heal it 90 s on (60 s of timeout and 30 s); the lease's end at once */
        for (i = 0; i < 100 && on_host("client", "! nft list tables | grep -q mhc_fault_") != 0; i++)
                usleep(100 * 1000);
        ck_assert_msg(i < 100, "the partition was still there 10 s after mhtest was killed");
        ck_assert_int_eq(on_host("client", "curl -sf -o /dev/null -m 3 http://server." LAB_DOMAIN "/"),
                         0);
        /* the dead run's backups are not the next test program's to recover from */
        MHTEST(&f, &r, "--recover");
        ck_assert_msg(r.status == 0, "--recover: exit %d\n%s\n%s", r.status, r.out, r.err);
        run_dispose(&r);
        fixture_dispose(&f);
}
END_TEST

static Suite *fault_suite(void) {
        Suite *s = suite_create("fault");
        TCase *tc = tcase_create("lab");

        tcase_set_timeout(tc, 120);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_partition);
        tcase_add_test(tc, test_loss_and_rate);
        tcase_add_test(tc, test_refused);
        tcase_add_test(tc, test_pause);
        tcase_add_test(tc, test_fill);
        tcase_add_test(tc, test_clock);
        tcase_add_test(tc, test_restart_loop);
        tcase_add_test(tc, test_heals_by_itself);
        tcase_add_test(tc, test_left_by_hand);
        suite_add_tcase(s, tc);

        tc = tcase_create("mhtest");
        tcase_set_timeout(tc, 180);
        tcase_add_test(tc, test_healed_at_the_end);
        tcase_add_test(tc, test_left_by_hand_fails_the_restore);
        tcase_add_test(tc, test_runner_killed);
        tcase_add_test(tc, test_failed_unit_warns);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return run_suite(fault_suite());
}
