/* SPDX-License-Identifier: MIT */
/* What a fault says of itself, and the faults refused before any host is asked. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <mhc/fault.h>

#include "util.h"
#include "check-run.h"

static const char *const peers[] = { "server.lab.test", "10.0.0.2", NULL };

static void check_describe(const mh_fault *f, const char *expected) {
        _cleanup_free_ char *what = NULL;
        mh_error e = MH_ERROR_INIT;

        ck_assert_msg(mh_fault_describe(f, &what, &e) == 0, "%s", e.message);
        ck_assert_str_eq(what, expected);
}

static void check_refused(const mh_fault *f, const char *message) {
        char *what = NULL;
        mh_error e = MH_ERROR_INIT;

        ck_assert_int_eq(mh_fault_describe(f, &what, &e), -EINVAL);
        ck_assert_ptr_null(what);
        ck_assert_str_eq(e.message, message);
}

START_TEST(test_describe) {
        check_describe(&(mh_fault){ .kind = MH_FAULT_PARTITION, .peers = peers },
                       "partition (both ways, drop) with server.lab.test, 10.0.0.2");
        check_describe(&(mh_fault){ .kind = MH_FAULT_PARTITION, .peers = peers, .reject = 1,
                                    .direction = MH_FAULT_OUTGOING },
                       "partition (outgoing, reject) with server.lab.test, 10.0.0.2");
        check_describe(&(mh_fault){ .kind = MH_FAULT_LOSS, .peers = peers + 1, .percent = 30,
                                    .direction = MH_FAULT_INCOMING },
                       "loss of 30% (incoming) with 10.0.0.2");
        check_describe(&(mh_fault){ .kind = MH_FAULT_RATE, .peers = peers + 1,
                                    .bytes_per_sec = 4096 },
                       "rate of 4096 bytes/s (both ways) with 10.0.0.2");
        check_describe(&(mh_fault){ .kind = MH_FAULT_PAUSE, .unit = "web.service" },
                       "pause of unit web.service");
        check_describe(&(mh_fault){ .kind = MH_FAULT_RESTART_LOOP, .unit = "web.service",
                                    .interval_msec = 500 },
                       "restart-loop of unit web.service every 500 ms");
        check_describe(&(mh_fault){ .kind = MH_FAULT_CLOCK, .unit = "kdc.service",
                                    .faketime = "+0 x2" },
                       "clock of unit kdc.service (FAKETIME=+0 x2)");
        check_describe(&(mh_fault){ .kind = MH_FAULT_FILL, .path = "/srv" },
                       "fill of the filesystem of /srv");
        check_describe(&(mh_fault){ .kind = MH_FAULT_LINK, .peers = peers + 1, .delay_msec = 400 },
                       "link (delay 400 ms) to 10.0.0.2");
        check_describe(&(mh_fault){ .kind = MH_FAULT_LINK, .peers = peers, .delay_msec = 100,
                                    .jitter_msec = 20, .percent = 5, .duplicate_percent = 1,
                                    .reorder_percent = 25, .bytes_per_sec = 125000,
                                    .direction = MH_FAULT_OUTGOING },
                       "link (delay 100+-20 ms, loss 5%, duplicates 1%, reordering 25%, rate "
                       "125000 bytes/s) to server.lab.test, 10.0.0.2");
        check_describe(&(mh_fault){ .kind = MH_FAULT_LINK, .peers = peers + 1, .percent = 100 },
                       "link (loss 100%) to 10.0.0.2");
        check_describe(&(mh_fault){ .kind = MH_FAULT_CLOCK_STEP, .step_sec = -3600 },
                       "clock-step of -3600 s");
        check_describe(&(mh_fault){ .kind = MH_FAULT_CLOCK_STEP, .step_sec = 90 },
                       "clock-step of +90 s");
        ck_assert_str_eq(mh_fault_kind_to_string(MH_FAULT_CLOCK_STEP), "clock-step");
        ck_assert_str_eq(mh_fault_kind_to_string(MH_FAULT_RESTART_LOOP), "restart-loop");
        ck_assert_str_eq(mh_fault_kind_to_string((mh_fault_kind) 99), "unknown");
}
END_TEST

START_TEST(test_refused) {
        static const char *const none[] = { NULL }, *const empty[] = { "a", "", NULL };

        check_refused(NULL, "unknown kind of fault");
        check_refused(&(mh_fault){ .kind = (mh_fault_kind) 42 }, "unknown kind of fault");
        check_refused(&(mh_fault){ .kind = MH_FAULT_PARTITION }, "partition: no peers");
        check_refused(&(mh_fault){ .kind = MH_FAULT_PARTITION, .peers = none },
                      "partition: no peers");
        check_refused(&(mh_fault){ .kind = MH_FAULT_RATE, .peers = empty, .bytes_per_sec = 1 },
                      "rate: an empty peer");
        check_refused(&(mh_fault){ .kind = MH_FAULT_LOSS, .peers = peers,
                                   .direction = (mh_fault_direction) 7, .percent = 1 },
                      "loss: unknown direction");
        check_refused(&(mh_fault){ .kind = MH_FAULT_LOSS, .peers = peers, .percent = 101 },
                      "loss: 101% is not within 1..100");
        check_refused(&(mh_fault){ .kind = MH_FAULT_RATE, .peers = peers },
                      "rate: 0 bytes per second");
        check_refused(&(mh_fault){ .kind = MH_FAULT_PAUSE, .unit = "" }, "pause: no unit");
        check_refused(&(mh_fault){ .kind = MH_FAULT_RESTART_LOOP, .unit = "a.service",
                                   .interval_msec = 99 },
                      "restart-loop: an interval of 99 ms (at least 100)");
        /* what would break out of the drop-in's double quotes, or be a specifier */
        for (const char *const *bad = (const char *const[]){ "+1\"", "+1\\", "50%", "+1\nX=y",
                                                             "$HOME", "", NULL };
             *bad; bad++) {
                char *what = NULL;
                mh_error e = MH_ERROR_INIT;

                ck_assert_int_eq(mh_fault_describe(&(mh_fault){ .kind = MH_FAULT_CLOCK,
                                                                .unit = "a.service",
                                                                .faketime = *bad },
                                                   &what, &e),
                                 -EINVAL);
                ck_assert_msg(strstr(e.message, "is not a FAKETIME of libfaketime"), "%s",
                              e.message);
        }
        /* a unit's name goes into a path of the host (the clock's drop-in) */
        check_refused(&(mh_fault){ .kind = MH_FAULT_CLOCK, .unit = "../../etc/x.service",
                                   .faketime = "+1" },
                      "clock: '../../etc/x.service' is not a unit's name");
        check_refused(&(mh_fault){ .kind = MH_FAULT_PAUSE, .unit = "a b.service" },
                      "pause: 'a b.service' is not a unit's name");
        check_describe(&(mh_fault){ .kind = MH_FAULT_PAUSE, .unit = "getty@tty1.service" },
                       "pause of unit getty@tty1.service");
        check_refused(&(mh_fault){ .kind = MH_FAULT_FILL, .path = "srv" },
                      "fill: 'srv' is not an absolute path");
        /* links: what netem can do, on what the host sends */
        check_refused(&(mh_fault){ .kind = MH_FAULT_LINK, .peers = peers },
                      "link: no delay, loss, duplicates, reordering or rate");
        check_refused(&(mh_fault){ .kind = MH_FAULT_LINK, .delay_msec = 10 }, "link: no peers");
        check_refused(&(mh_fault){ .kind = MH_FAULT_LINK, .peers = peers, .delay_msec = 10,
                                   .direction = MH_FAULT_INCOMING },
                      "link: works on what the host sends, not on what it receives (start it "
                      "on the peer)");
        check_refused(&(mh_fault){ .kind = MH_FAULT_LINK, .peers = peers, .percent = 101 },
                      "link: a loss of 101% is not within 0..100");
        check_refused(&(mh_fault){ .kind = MH_FAULT_LINK, .peers = peers, .delay_msec = 1,
                                   .duplicate_percent = 200 },
                      "link: duplicates of 200% is not within 0..100");
        check_refused(&(mh_fault){ .kind = MH_FAULT_LINK, .peers = peers, .reorder_percent = 5 },
                      "link: reordering needs a delay");
        check_refused(&(mh_fault){ .kind = MH_FAULT_LINK, .peers = peers, .delay_msec = 10,
                                   .jitter_msec = 11 },
                      "link: a jitter of 11 ms over the delay of 10 ms");
        check_refused(&(mh_fault){ .kind = MH_FAULT_LINK, .peers = peers, .delay_msec = 60001 },
                      "link: a delay of 60001 ms (at most 60000)");
        check_refused(&(mh_fault){ .kind = MH_FAULT_CLOCK_STEP },
                      "clock-step: 0 s is not within +-1 year and not 0");
        check_refused(&(mh_fault){ .kind = MH_FAULT_CLOCK_STEP, .step_sec = -400 * 86400 },
                      "clock-step: -34560000 s is not within +-1 year and not 0");
}
END_TEST

static Suite *fault_suite(void) {
        Suite *s = suite_create("fault");
        TCase *tc = tcase_create("describe");

        tcase_add_test(tc, test_describe);
        tcase_add_test(tc, test_refused);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return run_suite(fault_suite());
}
