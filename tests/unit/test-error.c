/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <errno.h>
#include <string.h>

#include <mhc/error.h>
#include "check-run.h"

START_TEST(test_set_returns_code_and_formats) {
        mh_error e = MH_ERROR_INIT;

        ck_assert_int_eq(mh_error_set(&e, -MH_ERR_CONFIG, "key '%s' at %d", "port", 3),
                         -MH_ERR_CONFIG);
        ck_assert_int_eq(e.code, -MH_ERR_CONFIG);
        ck_assert_str_eq(e.message, "key 'port' at 3");
        ck_assert(mh_error_is_set(&e));
}
END_TEST

START_TEST(test_first_error_wins) {
        mh_error e = MH_ERROR_INIT;

        mh_error_set(&e, -ENOENT, "first");
        ck_assert_int_eq(mh_error_set(&e, -EINVAL, "second"), -EINVAL);
        ck_assert_int_eq(e.code, -ENOENT);
        ck_assert_str_eq(e.message, "first");

        mh_error_clear(&e);
        ck_assert(!mh_error_is_set(&e));
        mh_error_set(&e, -EINVAL, "third");
        ck_assert_str_eq(e.message, "third");
}
END_TEST

START_TEST(test_null_error_is_fine) {
        ck_assert_int_eq(mh_error_set(NULL, -EIO, "ignored"), -EIO);
        mh_error_prefix(NULL, "x");
        mh_error_clear(NULL);
        ck_assert(!mh_error_is_set(NULL));
        ck_assert_str_eq(mh_error_message(NULL, -MH_ERR_AUTH), "authentication failed");
}
END_TEST

START_TEST(test_positive_code_becomes_negative) {
        mh_error e = MH_ERROR_INIT;

        ck_assert_int_lt(mh_error_set(&e, 0, "no code"), 0);
        ck_assert_int_lt(e.code, 0);
}
END_TEST

START_TEST(test_prefix_adds_context) {
        mh_error e = MH_ERROR_INIT;

        mh_error_prefix(&e, "host '%s'", "db");
        ck_assert_str_eq(e.message, "");

        /* The caller gives the context only; the separator comes with it. */
        mh_error_set(&e, -ECONNREFUSED, "connection refused");
        mh_error_prefix(&e, "host '%s'", "db");
        ck_assert_str_eq(e.message, "host 'db': connection refused");
        mh_error_prefix(&e, "vanilla backup");
        ck_assert_str_eq(e.message, "vanilla backup: host 'db': connection refused");
        ck_assert_int_eq(e.code, -ECONNREFUSED);

        /* No context, nothing added. */
        mh_error_prefix(&e, "%s", "");
        ck_assert_str_eq(e.message, "vanilla backup: host 'db': connection refused");
}
END_TEST

START_TEST(test_oom) {
        mh_error e = MH_ERROR_INIT;

        ck_assert_int_eq(mh_error_oom(&e), -ENOMEM);
        ck_assert_int_eq(e.code, -ENOMEM);
        ck_assert_str_eq(e.message, "out of memory");
        ck_assert_int_eq(mh_error_oom(NULL), -ENOMEM);

        /* The first error wins here too. */
        mh_error_clear(&e);
        mh_error_set(&e, -EIO, "disk on fire");
        ck_assert_int_eq(mh_error_oom(&e), -ENOMEM);
        ck_assert_str_eq(e.message, "disk on fire");
}
END_TEST

START_TEST(test_message_is_one_line) {
        mh_error e = MH_ERROR_INIT;

        mh_error_set(&e, -MH_ERR_REMOTE, "bad\noutput\r\nhere");
        ck_assert_ptr_null(strchr(e.message, '\n'));
        ck_assert_ptr_null(strchr(e.message, '\r'));
        mh_error_prefix(&e, "a\nb");
        ck_assert_ptr_null(strchr(e.message, '\n'));
        ck_assert_str_eq(e.message, "a b: bad output  here");
}
END_TEST

START_TEST(test_long_message_is_truncated) {
        mh_error e = MH_ERROR_INIT;
        char big[4 * MH_ERROR_MESSAGE_MAX];

        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        mh_error_set(&e, -E2BIG, "%s", big);
        ck_assert_uint_eq(strlen(e.message), MH_ERROR_MESSAGE_MAX - 1);
        mh_error_prefix(&e, "%s", big);
        ck_assert_uint_eq(strlen(e.message), MH_ERROR_MESSAGE_MAX - 1);

        /* A long message is cut at its end; the context stays whole. */
        mh_error_clear(&e);
        mh_error_set(&e, -E2BIG, "%s", big);
        mh_error_prefix(&e, "host '%s'", "db");
        ck_assert_uint_eq(strlen(e.message), MH_ERROR_MESSAGE_MAX - 1);
        ck_assert_int_eq(strncmp(e.message, "host 'db': xxx", 14), 0);
}
END_TEST

START_TEST(test_strerror_covers_both_ranges) {
        ck_assert_str_eq(mh_strerror(-ENOENT), strerror(ENOENT));
        ck_assert_str_eq(mh_strerror(-MH_ERR_HOST_KEY), "host key verification failed");
        for (int c = MH_ERR_BASE + 1; c < MH_ERR_MAX; c++)
                ck_assert_ptr_nonnull(mh_strerror(-c));
        ck_assert_str_eq(mh_strerror(0), "success");
}
END_TEST

static Suite *error_suite(void) {
        Suite *s = suite_create("error");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_set_returns_code_and_formats);
        tcase_add_test(tc, test_first_error_wins);
        tcase_add_test(tc, test_null_error_is_fine);
        tcase_add_test(tc, test_positive_code_becomes_negative);
        tcase_add_test(tc, test_prefix_adds_context);
        tcase_add_test(tc, test_oom);
        tcase_add_test(tc, test_message_is_one_line);
        tcase_add_test(tc, test_long_message_is_truncated);
        tcase_add_test(tc, test_strerror_covers_both_ranges);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return run_suite(error_suite());
}
