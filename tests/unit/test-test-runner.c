/* SPDX-License-Identifier: MIT */
/*
 * mh_test_execute() against tests that try to hang it (modules/hangs.c),
 * with no host: a half-written frame, an exec() that ends the wire long
 * before the process, children left behind, and Ctrl-C through the plan's
 * cancel_fd.  The time bounds below are the hangs', far from any
 * machine's speed: a hang takes 25 s or forever.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mhc/clock.h>
#include <mhc/test.h>

#include "check-run.h"

static mh_module *module;

static void load_module(void) {
        const char *builddir = getenv("MH_TEST_BUILDDIR");
        mh_error e = MH_ERROR_INIT;
        char *path = NULL;

        ck_assert_int_ge(
                asprintf(&path, "%s/tests/unit/modules/.libs/hangs.so", builddir ? builddir : "."),
                0);
        ck_assert_msg(mh_module_load(path, &module, &e) == 0, "%s", e.message);
        free(path);
}

static void unload_module(void) {
        module = mh_module_free(module);
}

static const mh_test_info *test_named(const char *name) {
        for (size_t i = 0; i < mh_module_n_tests(module); i++)
                if (strcmp(mh_module_test(module, i)->name, name) == 0)
                        return mh_module_test(module, i);
        ck_abort_msg("no test '%s' in hangs.so", name);
        return NULL;
}

/* The pid of the last "child N" note. */
static void on_note(const char *line, void *userdata) {
        int pid;

        if (sscanf(line, "child %d", &pid) == 1)
                *(pid_t *) userdata = pid;
}

/* Write to fd after a second, as mhtest's Ctrl-C handler does. */
static void *press_ctrl_c(void *userdata) {
        const struct timespec second = { .tv_sec = 1 };
        ssize_t n;

        nanosleep(&second, NULL);
        n = write(*(int *) userdata, "x", 1);
        (void) n;
        return NULL;
}

/* Run test name with no host; with ctrl_c, "Ctrl-C" a second after the start. */
static void execute(const char *name, bool ctrl_c, mh_test_outcome *ret, pid_t *ret_child) {
        int cancel[2] = { -1, -1 };
        pthread_t thread;
        mh_test_plan p = {
                .module = module,
                .info = test_named(name),
                .topology = "none",
                .cancel_fd = -1,
                .on_note = on_note,
                .userdata = ret_child,
        };
        mh_error e = MH_ERROR_INIT;

        if (ctrl_c) {
                ck_assert_int_eq(pipe2(cancel, O_CLOEXEC), 0);
                p.cancel_fd = cancel[0];
                ck_assert_int_eq(pthread_create(&thread, NULL, press_ctrl_c, &cancel[1]), 0);
        }
        ck_assert_msg(mh_test_execute(&p, ret, &e) == 0, "%s", e.message);
        if (ctrl_c) {
                ck_assert_int_eq(pthread_join(thread, NULL), 0);
                close(cancel[0]);
                close(cancel[1]);
        }
}

/* Whether process pid is gone (a zombie is: it is dead, only not reaped yet), within 5 s. */
static bool gone(pid_t pid) {
        const struct timespec tick = { .tv_nsec = 50 * 1000 * 1000 };

        for (unsigned i = 0; i < 100; i++) {
                char path[64], stat[256] = "";
                const char *state;
                FILE *f;

                if (kill(pid, 0) < 0 && errno == ESRCH)
                        return true;
                snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
                f = fopen(path, "re");
                if (f) {
                        if (!fgets(stat, sizeof(stat), f))
                                stat[0] = '\0';
                        fclose(f);
                }
                state = strrchr(stat, ')');
                if (state && state[1] == ' ' && (state[2] == 'Z' || state[2] == 'X'))
                        return true;
                nanosleep(&tick, NULL);
        }
        return false;
}

#define ck_assert_seconds_lt(o, limit)                                                      \
        ck_assert_msg((o)->duration_usec < 1000000u * (uint64_t) (limit),                   \
                      "took %.1f s, not under %u s: %s", (double) (o)->duration_usec / 1e6, \
                      (unsigned) (limit), (o)->message ? (o)->message : "passed")

/* A frame half written, then nothing: the test ends at its timeout (2 s), not never. */
START_TEST(test_half_a_frame_times_out) {
        mh_test_outcome o = {};

        execute("writes_half_a_frame", false, &o, NULL);
        ck_assert_msg(o.timed_out, "not timed out: %s", o.message ? o.message : "passed");
        ck_assert_str_eq(o.message, "timed out after 2 s");
        ck_assert_seconds_lt(&o, 2 + 5);
        mh_test_outcome_dispose(&o);
}
END_TEST

/* Ctrl-C while a frame is half written ends the test at once. */
START_TEST(test_half_a_frame_is_cancelled) {
        mh_test_outcome o = {};

        execute("writes_half_a_frame_long", true, &o, NULL);
        ck_assert_msg(o.cancelled, "not cancelled: %s", o.message ? o.message : "passed");
        ck_assert_str_eq(o.message, "interrupted (Ctrl-C)");
        ck_assert_seconds_lt(&o, 1 + 5);
        mh_test_outcome_dispose(&o);
}
END_TEST

/* exec("sleep 25") with a timeout of 3 s: the deadline holds after the wire's end. */
START_TEST(test_exec_times_out) {
        mh_test_outcome o = {};

        execute("execs_sleep", false, &o, NULL);
        ck_assert_msg(o.timed_out, "not timed out: %s", o.message ? o.message : "passed");
        ck_assert_str_eq(o.message, "timed out after 3 s");
        ck_assert_seconds_lt(&o, 3 + 5);
        mh_test_outcome_dispose(&o);
}
END_TEST

/* Ctrl-C after the wire's end (the test exec'd) ends the test at once. */
START_TEST(test_exec_is_cancelled) {
        mh_test_outcome o = {};

        execute("execs_sleep_long", true, &o, NULL);
        ck_assert_msg(o.cancelled, "not cancelled: %s", o.message ? o.message : "passed");
        ck_assert_seconds_lt(&o, 1 + 5);
        mh_test_outcome_dispose(&o);
}
END_TEST

/* A child left in the background is ended with the test, which passed. */
START_TEST(test_background_child_is_killed) {
        mh_test_outcome o = {};
        pid_t child = 0;

        execute("leaves_a_child", false, &o, &child);
        ck_assert_msg(o.status == MH_TEST_PASSED, "%s", o.message ? o.message : "");
        ck_assert_int_gt(child, 0);
        ck_assert_msg(gone(child), "the test's child %d outlived the test", (int) child);
        mh_test_outcome_dispose(&o);
}
END_TEST

/* A child that holds the wire open keeps the runner waiting neither for it nor till the timeout. */
START_TEST(test_child_on_the_wire_is_killed) {
        mh_test_outcome o = {};
        pid_t child = 0;

        execute("leaves_a_child_on_the_wire", false, &o, &child);
        ck_assert_msg(o.status == MH_TEST_PASSED, "%s", o.message ? o.message : "");
        ck_assert_seconds_lt(&o, 10);
        ck_assert_int_gt(child, 0);
        ck_assert_msg(gone(child), "the test's child %d outlived the test", (int) child);
        mh_test_outcome_dispose(&o);
}
END_TEST

static Suite *runner_suite(void) {
        Suite *s = suite_create("test-runner");
        TCase *tc = tcase_create("hangs");

        /* Past the hangs the tests look for (25 s), so that each fails on its own assertion. */
        tcase_set_timeout(tc, 40);
        tcase_add_unchecked_fixture(tc, load_module, unload_module);
        tcase_add_test(tc, test_half_a_frame_times_out);
        tcase_add_test(tc, test_half_a_frame_is_cancelled);
        tcase_add_test(tc, test_exec_times_out);
        tcase_add_test(tc, test_exec_is_cancelled);
        tcase_add_test(tc, test_background_child_is_killed);
        tcase_add_test(tc, test_child_on_the_wire_is_killed);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return run_suite(runner_suite());
}
