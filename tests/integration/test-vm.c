/* SPDX-License-Identifier: MIT */
/*
 * What needs a kernel of its own, against the lab's virtual machine (vm,
 * tests/lab/up): a bad link (tc netem) that spares the runner's SSH
 * traffic, a clock step and its heal, a reboot the run survives, and the
 * same refused on a container with the host and the missing piece named.
 * Runs inside the lab's network namespace (tests/run-test does that).
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include <mhc/mhc.h>

#include "lab.h"
#include "util.h"
#include "mhtest-fixture.h"
#include "check-run.h"
#include "fault-lab.h"

#define SERVER  "server." LAB_DOMAIN
/* seconds from the vm's SYN to the server's answer */
#define CONNECT_TIME "curl -so /dev/null -m 20 -w '%{time_connect}' http://" SERVER "/"
/* the link fault's qdisc on the vm's only device */
#define OUR_QDISC "tc qdisc show dev eth0 | grep -c '4d4[89]:' || :"
/* packets netem has seen: its line "Sent N bytes M pkt" */
#define NETEM_PACKETS "tc -s qdisc show dev eth0 | awk '/netem/ { n = 1 } n && /Sent/ { print $4; exit }'"
/* "held" or "free": the lease of the run of process %d (its owner line: "ID STARTED PID RUNNER") */
#define LEASE_OF                                                                          \
        "for d in /var/lib/mhc/run-*; do awk '$3 == %d { f = 1 } END { exit !f }' $d/owner " \
        "&& { flock -n $d/.lease true && echo free || echo held; }; done; :"

static mh_config *config;
static mh_host *vm, *client;

static void setup(void) {
        const char *names[] = { "vm", "client" };
        mh_error e = MH_ERROR_INIT;

        ck_assert_msg(lab_config_new(2, names, NULL, &config, &e) >= 0, "%s", e.message);
        ck_assert_msg(mh_host_new(mh_config_host(config, 0), &vm, &e) >= 0, "%s", e.message);
        ck_assert_msg(mh_host_new(mh_config_host(config, 1), &client, &e) >= 0, "%s", e.message);
        ck_assert_msg(mh_host_connect(vm, &e) >= 0, "%s", e.message);
        ck_assert_msg(mh_host_connect(client, &e) >= 0, "%s", e.message);
}

static void teardown(void) {
        mh_error e = MH_ERROR_INIT;

        ck_assert_msg(mh_host_heal_faults(vm, &e) >= 0, "%s", e.message);
        ck_assert_msg(mh_host_heal_faults(client, &e) >= 0, "%s", e.message);
        vm = mh_host_free(vm);
        client = mh_host_free(client);
        config = mh_config_free(config);
}

static double number_on(mh_host *h, const char *command) {
        _cleanup_free_ char *out = output_on(h, command);
        char *end;
        double v = strtod(out, &end);

        ck_assert_msg(end != out && *end == '\0', "%s: '%s' is not a number", command, out);
        return v;
}

/* Starting f on h fails with a message holding both needles. */
static void assert_refused(mh_host *h, const mh_fault *f, const char *needle,
                           const char *needle2) {
        mh_error e = MH_ERROR_INIT;
        unsigned n = 0;

        ck_assert_int_lt(mh_host_start_fault(h, f, 120, &n, &e), 0);
        ck_assert_msg(strstr(e.message, needle) && strstr(e.message, needle2),
                      "'%s' or '%s' not in: %s", needle, needle2, e.message);
}

/* The vm's clock ahead of this machine's, in seconds. */
static double clock_offset(mh_host *h) {
        struct timespec a, b;
        double remote;

        clock_gettime(CLOCK_REALTIME, &a);
        remote = number_on(h, "date +%s.%N");
        clock_gettime(CLOCK_REALTIME, &b);
        return remote - ((double) a.tv_sec + (double) b.tv_sec) / 2 -
               ((double) a.tv_nsec + (double) b.tv_nsec) / 2e9;
}

/* A delay holds what the vm sends to the server, not what it sends the runner; the heal ends it. */
START_TEST(test_link_delay) {
        const char *peers[] = { SERVER, NULL };
        mh_fault slow = { .kind = MH_FAULT_LINK, .delay_msec = 400, .peers = peers };
        _cleanup_free_ char *count = NULL, *left = NULL;
        double before, during;
        long seen, seen_after;
        unsigned n;

        before = number_on(vm, CONNECT_TIME);
        n = start(vm, &slow);
        count = output_on(vm, OUR_QDISC);
        ck_assert_str_eq(count, "2");
        during = number_on(vm, CONNECT_TIME);
        fprintf(stderr, "vm -> server connect: %.3f s, with a delay of 400 ms %.3f s\n", before,
                during);
        ck_assert_msg(during >= 0.4, "a connect took %.3f s under a delay of 400 ms", during);
        /* the runner's commands (their replies leave the vm too) do not pass netem */
        seen = (long) number_on(vm, NETEM_PACKETS);
        ck_assert_int_gt(seen, 0);
        for (int i = 0; i < 3; i++)
                free(output_on(vm, "true"));
        seen_after = (long) number_on(vm, NETEM_PACKETS);
        ck_assert_msg(seen_after == seen, "netem saw %ld packets of the runner's", seen_after - seen);
        heal(vm, n);
        left = output_on(vm, OUR_QDISC);
        ck_assert_str_eq(left, "0");
}
END_TEST

/* Jitter, loss, duplicates, reordering and a rate, as netem has them. */
START_TEST(test_link_netem_settings) {
        const char *peers[] = { SERVER, NULL };
        mh_fault bad = { .kind = MH_FAULT_LINK, .delay_msec = 50, .jitter_msec = 10,
                         .percent = 5, .duplicate_percent = 20, .reorder_percent = 25,
                         .bytes_per_sec = 125000, .peers = peers };
        _cleanup_free_ char *shown = NULL;
        unsigned n = start(vm, &bad);

        shown = output_on(vm, "tc qdisc show dev eth0 | grep netem");
        ck_assert_msg(strstr(shown, "delay 50ms  10ms") && strstr(shown, "loss 5%") &&
                              strstr(shown, "duplicate 20%") && strstr(shown, "reorder 25%") &&
                              strstr(shown, "rate 1Mbit"),
                      "not the settings asked for: %s", shown);
        heal(vm, n);
        /* healed twice is fine */
        heal(vm, n);
}
END_TEST

/* A second link fault on the device, and one on a container, are refused and leave nothing. */
START_TEST(test_link_refused) {
        const char *peers[] = { SERVER, NULL };
        mh_fault slow = { .kind = MH_FAULT_LINK, .delay_msec = 100, .peers = peers };
        _cleanup_free_ char *vm_left = NULL, *client_left = NULL;
        unsigned n = start(vm, &slow);

        assert_refused(vm, &slow, "host 'vm.lab.test'", "a link fault is on eth0 already");
        heal(vm, n);
        /* this machine's kernel has neither prio nor netem */
        assert_refused(client, &slow, "host 'client.lab.test'",
                       "qdisc (sch_");
        client_left = output_on(client, OUR_QDISC);
        ck_assert_str_eq(client_left, "0");
        vm_left = output_on(vm, OUR_QDISC);
        ck_assert_str_eq(vm_left, "0");
}
END_TEST

/* The vm's clock an hour ahead, then back; a container's clock is its machine's. */
START_TEST(test_clock_step) {
        mh_fault ahead = { .kind = MH_FAULT_CLOCK_STEP, .step_sec = 3600 };
        double before, during, after;
        unsigned n;

        before = clock_offset(vm);
        n = start(vm, &ahead);
        during = clock_offset(vm);
        heal(vm, n);
        heal(vm, n); /* once only */
        after = clock_offset(vm);
        fprintf(stderr, "vm's clock: %+.3f s, stepped %+.3f s, healed %+.3f s\n", before, during,
                after);
        ck_assert_msg(during - before > 3590 && during - before < 3610, "stepped by %.3f s",
                      during - before);
        ck_assert_msg(after - before > -10 && after - before < 10, "healed to %+.3f s",
                      after - before);
        assert_refused(client, &ahead, "host 'client.lab.test'", "is a container");
}
END_TEST

/* A link fault that nothing heals is healed by its timer. */
START_TEST(test_link_heals_by_itself) {
        const char *peers[] = { SERVER, NULL };
        mh_fault slow = { .kind = MH_FAULT_LINK, .delay_msec = 100, .peers = peers };
        mh_error e = MH_ERROR_INIT;
        unsigned n = 0;
        int i;

        ck_assert_msg(mh_host_start_fault(vm, &slow, 2, &n, &e) >= 0, "%s", e.message);
        for (i = 0; i < 60; i++) {
                _cleanup_free_ char *left = output_on(vm, OUR_QDISC);

                if (streq(left, "0"))
                        break;
                usleep(500 * 1000);
        }
        ck_assert_msg(i < 60, "the delay was not healed 30 s after its timer's 2 s");
}
END_TEST

/* A reboot: a new boot, the disk kept, the run's lease held again, its faults healed after. */
START_TEST(test_reboot) {
        const char *peers[] = { SERVER, NULL };
        mh_fault cut = { .kind = MH_FAULT_PARTITION, .peers = peers };
        _cleanup_free_ char *boot = NULL, *boot_after = NULL, *lease_of = NULL, *lease = NULL,
                            *marker = NULL;
        mh_error e = MH_ERROR_INIT;
        struct timespec a, b;

        ck_assert_int_ge(asprintf(&lease_of, LEASE_OF, (int) getpid()), 0);
        lease = output_on(vm, lease_of);
        ck_assert_str_eq(lease, "held");
        free(lease);
        boot = output_on(vm, "cat /proc/sys/kernel/random/boot_id");
        free(output_on(vm, "echo kept >/root/mhc-test-reboot"));
        start(vm, &cut);
        clock_gettime(CLOCK_MONOTONIC, &a);
        ck_assert_msg(mh_host_reboot(vm, 240000, &e) >= 0, "%s", e.message);
        clock_gettime(CLOCK_MONOTONIC, &b);
        fprintf(stderr, "vm rebooted in %.1f s\n",
                (double) (b.tv_sec - a.tv_sec) + (double) (b.tv_nsec - a.tv_nsec) / 1e9);
        boot_after = output_on(vm, "cat /proc/sys/kernel/random/boot_id");
        ck_assert_str_ne(boot, boot_after);
        marker = output_on(vm, "cat /root/mhc-test-reboot && rm /root/mhc-test-reboot");
        ck_assert_str_eq(marker, "kept");
        lease = output_on(vm, lease_of);
        ck_assert_str_eq(lease, "held");
        /* the partition's record outlived it; its heal finds nothing left */
        ck_assert_msg(mh_host_heal_faults(vm, &e) >= 0, "%s", e.message);
        free(output_on(vm, "curl -sf -o /dev/null -m 5 http://" SERVER "/"));

        ck_assert_int_eq(mh_host_reboot(client, 10000, &e), -EOPNOTSUPP);
        ck_assert_msg(strstr(e.message, "host 'client.lab.test' is a container"), "%s",
                      e.message);
}
END_TEST

/* A link fault's qdisc whose record is gone is found, and named, by the heal of them all. */
START_TEST(test_qdisc_left_by_hand) {
        const char *peers[] = { SERVER, NULL };
        mh_fault slow = { .kind = MH_FAULT_LINK, .delay_msec = 100, .peers = peers };
        mh_error e = MH_ERROR_INIT;

        start(vm, &slow);
        /* the record gone, and its timer, which the soak would see pending */
        free(output_on(vm, "rm -rf /var/lib/mhc/run-*/faults/[0-9]* && "
                           "systemctl stop 'mhc-heal-*.timer'"));
        ck_assert_int_lt(mh_host_heal_faults(vm, &e), 0);
        free(output_on(vm, "tc qdisc del dev eth0 root"));
        ck_assert_msg(strstr(e.message, "host 'vm.lab.test'") &&
                              strstr(e.message, "a qdisc of a link fault (handle 4d48:) is left on "
                                                "eth0, with no fault to heal it"),
                      "%s", e.message);
}
END_TEST

/* An oops in the vm's kernel log and a denial in its journal are found (written by hand: the
 * lab has no SELinux or AppArmor, and its kernel is not to be broken). */
START_TEST(test_outcome_oops_and_denial) {
        mh_outcome o = {};
        mh_error e = MH_ERROR_INIT;
        uint64_t since = mh_realtime_usec();
        bool oops = false, denial = false;

        /* journald takes what userspace writes to /dev/kmsg as "IDENTIFIER: MESSAGE" */
        free(output_on(vm, "echo '<4>mhc-test: Oops: 0002 [#1] PREEMPT SMP (written by test-vm)' "
                           ">/dev/kmsg; logger -t audit 'type=AVC msg=audit(0:1): apparmor=\"DENIED\" "
                           "operation=\"open\" profile=\"mhc-test\" name=\"/etc/shadow\"'; "
                           "sleep 1"));
        ck_assert_msg(mh_host_check_outcome(vm, since, &o, &e) >= 0, "%s", e.message);
        for (size_t i = 0; i < o.n_findings; i++) {
                if (o.findings[i].check == MH_OUTCOME_OOPSES) {
                        oops = true;
                        ck_assert_int_eq(o.findings[i].action, MH_OUTCOME_FAIL);
                        ck_assert_msg(strstr(o.findings[i].summary, "kernel: Oops: 0002 [#1] PREEMPT SMP"),
                                      "%s", o.findings[i].summary);
                }
                if (o.findings[i].check == MH_OUTCOME_DENIALS) {
                        denial = true;
                        ck_assert_int_eq(o.findings[i].action, MH_OUTCOME_WARN);
                        ck_assert_msg(strstr(o.findings[i].summary, "SELinux/AppArmor denials: 1, the first: "),
                                      "%s", o.findings[i].summary);
                }
        }
        ck_assert_msg(oops && denial, "oops %d, denial %d of %zu findings", oops, denial,
                      o.n_findings);
        mh_outcome_dispose(&o);
}
END_TEST

/* A core dump on the vm and a failed unit on a container since a test's start are found. */
START_TEST(test_outcome_checks) {
        mh_outcome o = {};
        mh_error e = MH_ERROR_INIT;
        uint64_t since;

        /* what happened before the start is not the test's */
        free(output_on(client, "systemctl reset-failed mhc-outcome-fails.service "
                               "mhc-outcome-before.service 2>/dev/null; "
                               "systemd-run --quiet --wait --unit=mhc-outcome-before false; :"));
        sleep(1);
        since = mh_realtime_usec();
        ck_assert_msg(mh_host_check_outcome(client, since, &o, &e) >= 0, "%s", e.message);
        ck_assert_uint_eq(o.n_findings, 0);
        mh_outcome_dispose(&o);

        free(output_on(vm, "ulimit -c unlimited; sh -c 'kill -SEGV $$'; :"));
        free(output_on(client, "systemd-run --quiet --wait --unit=mhc-outcome-fails false; :"));
        ck_assert_msg(mh_host_check_outcome(vm, since, &o, &e) >= 0, "%s", e.message);
        ck_assert_uint_ge(o.n_findings, 1);
        ck_assert_int_eq(o.findings[0].check, MH_OUTCOME_CORE_DUMPS);
        ck_assert_int_eq(o.findings[0].action, MH_OUTCOME_FAIL);
        ck_assert_msg(strstr(o.findings[0].summary, "(sh) of user 0 dumped core."), "%s",
                      o.findings[0].summary);
        ck_assert_ptr_nonnull(o.evidence);
        mh_outcome_dispose(&o);

        ck_assert_msg(mh_host_check_outcome(client, since, &o, &e) >= 0, "%s", e.message);
        free(output_on(client, "systemctl reset-failed mhc-outcome-fails.service "
                               "mhc-outcome-before.service"));
        ck_assert_uint_eq(o.n_findings, 1);
        ck_assert_int_eq(o.findings[0].check, MH_OUTCOME_FAILED_UNITS);
        ck_assert_int_eq(o.findings[0].action, MH_OUTCOME_WARN);
        ck_assert_str_eq(o.findings[0].summary, "unit mhc-outcome-fails.service failed (exit-code)");
        mh_outcome_dispose(&o);
}
END_TEST

/* --- through mhtest --------------------------------------------------------- */

/* A passing test with a core dump on a host fails, naming the host and the program. */
START_TEST(test_core_dump_fails_a_passing_test) {
        static const char *const names[] = { "server", "vm" };
        static const lab_conn conns[] = { {}, {} };
        _cleanup_free_ char *faults = module("faults"), *path = NULL, *evidence = NULL,
                            *timeline_path = NULL, *timeline = NULL;
        fixture f;
        run r = {};

        fixture_init(&f, 2, names, conns);
        MHTEST(&f, &r, "--tests", faults, "-k", "core_dump_passes");
        ck_assert_msg(r.status == 1, "exit %d:\n%s\n%s", r.status, r.out, r.err);
        ck_assert_result(&r, "core_dump_passes", "vm-faults", "FAILED",
                         "host 'vm.lab.test': core-dumps: Process ");
        ck_assert_msg(strstr(r.out, "(sh) of user 0 dumped core."), "%s", r.out);
        path = path_in(&f, "artifacts/vm-faults/core_dump_passes/vm.lab.test/outcome.log");
        evidence = read_all(path);
        ck_assert_msg(evidence && strstr(evidence, "core-dumps: "), "no evidence: %s",
                      strempty(evidence));
        /* the timeline: the runner's events and both journals, in time order */
        timeline_path = path_in(&f, "artifacts/vm-faults/core_dump_passes/timeline.log");
        timeline = read_all(timeline_path);
        ck_assert_msg(strstr(timeline, "# clock offsets (host - runner, at connect): ") &&
                              strstr(timeline, "test core_dump_passes [vm-faults] starts") &&
                              strstr(timeline, "$ ulimit -c unlimited;") &&
                              strstr(timeline, "journal: ") &&
                              strstr(timeline, "systemd-coredump"),
                      "not the timeline wanted:\n%.3000s", timeline);
        ck_assert_msg(strstr(timeline, "dumped core.") < strstr(timeline, "restore done"),
                      "the core dump is not before the restore:\n%.3000s", timeline);
        run_dispose(&r);
        fixture_dispose(&f);
}
END_TEST

/* mhtest SIGKILLed under a delay: the run's unit heals it as the lease goes. */
START_TEST(test_runner_killed_under_a_delay) {
        static const char *const names[] = { "server", "vm" };
        static const lab_conn conns[] = { { .yaml = "        services: [mhc-web.service]\n" }, {} };
        _cleanup_free_ char *faults = module("faults");
        fixture f;
        run r = {};
        pid_t pid;
        int i;

        ck_assert_int_eq(on_host("vm", "rm -f /run/mhc-fault-ready"), 0);
        fixture_init(&f, 2, names, conns);
        pid = mhtest_start(&f, (const char *const[]){ "--tests", faults, "-k", "delay_and_wait",
                                                      NULL });
        /* (each look costs an SSH login to the vm: about half a second under emulation) */
        for (i = 0; i < 90 && on_host("vm", "test -e /run/mhc-fault-ready") != 0; i++)
                sleep(1);
        ck_assert_msg(i < 90, "the test did not start its delay in 90 s");
        ck_assert_int_eq(on_host("vm", "tc qdisc show dev eth0 | grep -q netem"), 0);
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
        for (i = 0; i < 20 && on_host("vm", "! tc qdisc show dev eth0 | grep -q netem") != 0; i++)
                sleep(1);
        ck_assert_msg(i < 20, "the delay was still there 20 s after mhtest was killed");
        MHTEST(&f, &r, "--recover");
        ck_assert_msg(r.status == 0, "--recover: exit %d\n%s\n%s", r.status, r.out, r.err);
        run_dispose(&r);
        fixture_dispose(&f);
}
END_TEST

static Suite *vm_suite(void) {
        Suite *s = suite_create("vm");
        TCase *tc = tcase_create("lab");

        tcase_set_timeout(tc, 300);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_link_delay);
        tcase_add_test(tc, test_link_netem_settings);
        tcase_add_test(tc, test_link_refused);
        tcase_add_test(tc, test_clock_step);
        tcase_add_test(tc, test_link_heals_by_itself);
        tcase_add_test(tc, test_reboot);
        tcase_add_test(tc, test_outcome_checks);
        tcase_add_test(tc, test_qdisc_left_by_hand);
        tcase_add_test(tc, test_outcome_oops_and_denial);
        suite_add_tcase(s, tc);

        tc = tcase_create("mhtest");
        tcase_set_timeout(tc, 240);
        tcase_add_test(tc, test_runner_killed_under_a_delay);
        tcase_add_test(tc, test_core_dump_fails_a_passing_test);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return run_suite(vm_suite());
}
