/* SPDX-License-Identifier: MIT */
/*
 * mh_test_execute() against the lab's client: Ctrl-C (the plan's
 * cancel_fd) while the test waits for a remote command or a systemd job
 * ends the test at once as cancelled, without waiting for the host.  The
 * test modules are tests/integration/modules/behaviours.c.  Linked with
 * libmhc.so, as the module is, so that both see one registry of tests.
 */
#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mhc/mhc.h>

#include "lab.h"
#include "check-run.h"

#define SLOW_UNIT      "mhc-slow-start.service"
#define SLOW_UNIT_PATH "/run/systemd/system/" SLOW_UNIT

static mh_config *config;
static mh_host *client;
static mh_module *module;

static void setup(void) {
        const char *builddir = getenv("MH_TEST_BUILDDIR");
        mh_error e = MH_ERROR_INIT;
        const mh_host_config *host = lab_config_one("client", NULL, &config, &e);
        char *path = NULL;

        ck_assert_msg(host, "%s", e.message);
        ck_assert_msg(mh_host_new(host, &client, &e) == 0, "%s", e.message);
        ck_assert_msg(mh_host_connect(client, &e) == 0, "%s", e.message);
        ck_assert_int_ge(asprintf(&path, "%s/tests/integration/modules/.libs/behaviours.so",
                                  builddir ? builddir : "."),
                         0);
        ck_assert_msg(mh_module_load(path, &module, &e) == 0, "%s", e.message);
        free(path);
}

static void teardown(void) {
        module = mh_module_free(module);
        client = mh_host_free(client);
        config = mh_config_free(config);
}

/* Run a shell command on the client; its exit status. */
static int on_client(const char *command) {
        mh_error e = MH_ERROR_INIT;
        mh_exec_result res = {};
        int status;

        ck_assert_msg(mh_ssh_exec(mh_host_ssh(client), command, NULL, &res, &e) == 0, "%s",
                      e.message);
        status = res.exit_status;
        mh_exec_result_dispose(&res);
        return status;
}

static const mh_test_info *test_named(const char *name) {
        for (size_t i = 0; i < mh_module_n_tests(module); i++)
                if (strcmp(mh_module_test(module, i)->name, name) == 0)
                        return mh_module_test(module, i);
        ck_abort_msg("no test '%s' in behaviours.so", name);
        return NULL;
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

/* Run test name on the client with Ctrl-C a second after its start; how long it took in usec. */
static uint64_t execute_cancelled(const char *name, mh_test_outcome *ret) {
        static const char *const roles[] = { "client" };
        int cancel[2];
        pthread_t thread;
        mh_error e = MH_ERROR_INIT;
        uint64_t start;
        int r;

        ck_assert_int_eq(pipe2(cancel, O_CLOEXEC), 0);
        mh_test_plan plan = {
                .module = module,
                .info = test_named(name),
                .topology = "one-client",
                .hosts = &client,
                .roles = roles,
                .n_hosts = 1,
                .cancel_fd = cancel[0],
        };
        start = mh_now_usec();
        ck_assert_int_eq(pthread_create(&thread, NULL, press_ctrl_c, &cancel[1]), 0);
        r = mh_test_execute(&plan, ret, &e);
        start = mh_now_usec() - start;
        ck_assert_int_eq(pthread_join(thread, NULL), 0);
        close(cancel[0]);
        close(cancel[1]);
        ck_assert_msg(r == 0, "%s", e.message);
        return start;
}

/* The bound is the hang's: without the cancel, the test runs to its timeout (30 s). */
#define ck_assert_cancelled_within(o, usec, limit_sec)                                             \
        do {                                                                                       \
                ck_assert_msg((o)->cancelled, "not cancelled: %s",                                 \
                              (o)->message ? (o)->message : "passed");                             \
                ck_assert_str_eq((o)->message, "interrupted (Ctrl-C)");                            \
                ck_assert_msg((usec) < 1000000u * (uint64_t) (limit_sec),                          \
                              "mh_test_execute() took %.1f s after Ctrl-C at 1 s, not under %d s", \
                              (double) (usec) / 1e6, (limit_sec));                                 \
        } while (0)

/* Ctrl-C during a remote `sleep 60`: mh_test_execute() returns at once, the test cancelled. */
START_TEST(test_ctrl_c_in_a_command) {
        mh_test_outcome o = {};
        uint64_t usec = execute_cancelled("cancelled_in_a_command", &o);

        ck_assert_cancelled_within(&o, usec, 3);
        mh_test_outcome_dispose(&o);
        /* The session is fine for the next command. */
        ck_assert_int_eq(on_client("true"), 0);
}
END_TEST

/* Ctrl-C while a start job runs (a oneshot that sleeps 60 s): the same. */
START_TEST(test_ctrl_c_in_a_job) {
        mh_test_outcome o = {};
        uint64_t usec;

        ck_assert_int_eq(on_client("printf '[Service]\\nType=oneshot\\nExecStart=/bin/sleep 60\\n' "
                                   ">" SLOW_UNIT_PATH " && systemctl daemon-reload"),
                         0);
        usec = execute_cancelled("cancelled_in_a_job", &o);
        /* stopped while it started, the unit is failed: forget that too */
        ck_assert_int_eq(on_client("systemctl stop " SLOW_UNIT "; rm -f " SLOW_UNIT_PATH
                                   " && systemctl daemon-reload && systemctl reset-failed "
                                   SLOW_UNIT " 2>/dev/null; true"),
                         0);
        ck_assert_cancelled_within(&o, usec, 3);
        mh_test_outcome_dispose(&o);
}
END_TEST

static Suite *runner_suite(void) {
        Suite *s = suite_create("test-runner");
        TCase *tc = tcase_create("cancel");

        /* Past the test's timeout (30 s), so that a hang fails on the assertion. */
        tcase_set_timeout(tc, 60);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_ctrl_c_in_a_command);
        tcase_add_test(tc, test_ctrl_c_in_a_job);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return run_suite(runner_suite());
}
