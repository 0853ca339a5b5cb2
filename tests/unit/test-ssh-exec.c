/* SPDX-License-Identifier: MIT */
/* mh_exec_result_summary(): how a failed command is told in a message. */
#include <check.h>
#include <string.h>

#include <mhc/ssh.h>
#include "check-run.h"

/* The summary of a result with exit status and stderr err (signal 0). */
static const char *summary(int status, const char *err, char *buf, size_t size) {
        mh_exec_result r = {
                .exit_status = status,
                .err = (char *) err,
                .err_size = err ? strlen(err) : 0,
        };

        return mh_exec_result_summary(&r, buf, size);
}

START_TEST(test_last_non_empty_line) {
        char buf[MH_EXEC_SUMMARY_SIZE];

        ck_assert_str_eq(summary(3, "first line\nit broke: no such thing\n", buf, sizeof(buf)),
                         "exit status 3: it broke: no such thing");
        ck_assert_str_eq(summary(1, "only\r\n\n  \n", buf, sizeof(buf)), "exit status 1: only");
        ck_assert_str_eq(summary(2, "no newline at all", buf, sizeof(buf)),
                         "exit status 2: no newline at all");
}
END_TEST

START_TEST(test_nothing_on_stderr) {
        char buf[MH_EXEC_SUMMARY_SIZE];

        ck_assert_str_eq(summary(7, "", buf, sizeof(buf)), "exit status 7: (nothing on stderr)");
        ck_assert_str_eq(summary(7, "\n\n", buf, sizeof(buf)),
                         "exit status 7: (nothing on stderr)");
        ck_assert_str_eq(summary(7, NULL, buf, sizeof(buf)), "exit status 7: (nothing on stderr)");
}
END_TEST

START_TEST(test_signal) {
        char err[] = "Killed\n", buf[MH_EXEC_SUMMARY_SIZE];
        mh_exec_result r = { .exit_status = 137, .signal = 9, .err = err, .err_size = 7 };

        ck_assert_str_eq(mh_exec_result_summary(&r, buf, sizeof(buf)),
                         "exit status 137 (signal 9): Killed");
}
END_TEST

START_TEST(test_long_line_is_cut) {
        char err[2 * MH_EXEC_SUMMARY_LINE_MAX + 2], buf[MH_EXEC_SUMMARY_SIZE], small[16];
        const char *s;

        memset(err, 'y', sizeof(err) - 2);
        err[sizeof(err) - 2] = '\n';
        err[sizeof(err) - 1] = '\0';
        s = summary(1, err, buf, sizeof(buf));
        ck_assert_uint_eq(strlen(s), strlen("exit status 1: ") + MH_EXEC_SUMMARY_LINE_MAX + 3);
        ck_assert_str_eq(s + strlen(s) - 4, "y...");

        /* A small buffer gets what fits. */
        ck_assert_str_eq(summary(1, "abc", small, sizeof(small)), "exit status 1: ");
}
END_TEST

static Suite *ssh_exec_suite(void) {
        Suite *s = suite_create("ssh-exec");
        TCase *tc = tcase_create("summary");

        tcase_add_test(tc, test_last_non_empty_line);
        tcase_add_test(tc, test_nothing_on_stderr);
        tcase_add_test(tc, test_signal);
        tcase_add_test(tc, test_long_line_is_cut);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return run_suite(ssh_exec_suite());
}
