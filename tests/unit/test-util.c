/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <errno.h>

#include "util.h"
#include "check-run.h"

START_TEST(test_buf_append_and_steal) {
        mh_buf b = MH_BUF_INIT((size_t) 64 << 20);
        _cleanup_free_ char *s = NULL;
        size_t size;

        ck_assert_int_eq(mh_buf_append(&b, "abc", 3), 0);
        ck_assert_int_eq(mh_buf_printf(&b, "-%d-", 42), 0);
        ck_assert_int_eq(mh_buf_append(&b, "\0x", 2), 0);
        s = mh_buf_steal(&b, &size);
        ck_assert_uint_eq(size, 9);
        ck_assert_mem_eq(s, "abc-42-\0x", 10);
        ck_assert_ptr_null(b.data);
}
END_TEST

START_TEST(test_buf_max_is_enforced) {
        mh_buf b = { .max = 8 };

        ck_assert_int_eq(mh_buf_append(&b, "12345678", 8), 0);
        ck_assert_int_eq(mh_buf_append(&b, "9", 1), -EFBIG);
        ck_assert_int_eq(mh_buf_printf(&b, "%s", "x"), -EFBIG);
        ck_assert_uint_eq(b.size, 8);
        ck_assert_str_eq(b.data, "12345678");
        ck_assert_uint_le(b.allocated, 9);
        mh_buf_dispose(&b);
}
END_TEST

/* A buffer made without a maximum refuses to grow rather than grow without bound. */
START_TEST(test_buf_without_max_refuses) {
        mh_buf b = {}, c;

        ck_assert_int_eq(mh_buf_append(&b, "x", 1), -EINVAL);
        ck_assert_int_eq(mh_buf_printf(&b, "%d", 1), -EINVAL);
        ck_assert_ptr_null(b.data);
        mh_buf_init(&c, 4);
        ck_assert_uint_eq(c.max, 4);
        ck_assert_int_eq(mh_buf_append(&c, "abcd", 4), 0);
        ck_assert_int_eq(mh_buf_append(&c, "e", 1), -EFBIG);
        mh_buf_dispose(&c);
}
END_TEST

/* Appending a byte at a time must not copy quadratically: the number of
 * reallocations grows with log(n). */
START_TEST(test_buf_grows_geometrically) {
        mh_buf b = MH_BUF_INIT((size_t) 64 << 20);
        size_t grows = 0, last = 0;

        for (int i = 0; i < 1 << 20; i++) {
                ck_assert_int_eq(mh_buf_append(&b, "x", 1), 0);
                if (b.allocated != last) {
                        grows++;
                        last = b.allocated;
                }
        }
        ck_assert_uint_eq(b.size, 1 << 20);
        ck_assert_uint_le(grows, 20);
        mh_buf_dispose(&b);
}
END_TEST

START_TEST(test_buf_steal_empty) {
        mh_buf b = MH_BUF_INIT((size_t) 64 << 20);
        _cleanup_free_ char *s = mh_buf_steal(&b, NULL);

        ck_assert_ptr_nonnull(s);
        ck_assert_str_eq(s, "");
}
END_TEST

START_TEST(test_now_is_monotonic) {
        uint64_t a = mh_now_usec(), b = mh_now_usec();

        ck_assert_uint_ge(b, a);
        ck_assert_uint_gt(a, 0);
}
END_TEST

static Suite *util_suite(void) {
        Suite *s = suite_create("util");
        TCase *tc = tcase_create("buf");

        tcase_add_test(tc, test_buf_append_and_steal);
        tcase_add_test(tc, test_buf_max_is_enforced);
        tcase_add_test(tc, test_buf_without_max_refuses);
        tcase_add_test(tc, test_buf_grows_geometrically);
        tcase_add_test(tc, test_buf_steal_empty);
        tcase_add_test(tc, test_now_is_monotonic);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return run_suite(util_suite());
}
