/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include <mhc/parallel.h>

#include "util.h"
#include "check-run.h"

typedef struct state {
        pthread_mutex_t lock;
        int running, max_running;
        int *seen;
        size_t fail_at[2];
} state;

static int visit(size_t i, void *userdata) {
        state *s = userdata;

        pthread_mutex_lock(&s->lock);
        s->seen[i]++;
        s->running++;
        if (s->running > s->max_running)
                s->max_running = s->running;
        pthread_mutex_unlock(&s->lock);

        usleep(20000);

        pthread_mutex_lock(&s->lock);
        s->running--;
        pthread_mutex_unlock(&s->lock);

        if (i == s->fail_at[0])
                return -ENOENT;
        if (i == s->fail_at[1])
                return -EIO;
        return 1;
}

static void run(size_t n, size_t fail_a, size_t fail_b, int expected) {
        _cleanup_free_ int *seen = calloc(n ? n : 1, sizeof(int));
        state s = {
                .lock = PTHREAD_MUTEX_INITIALIZER,
                .seen = seen,
                .fail_at = { fail_a, fail_b },
        };
        uint64_t start = mh_now_usec();

        ck_assert_int_eq(mh_parallel_for(n, visit, &s), expected);
        for (size_t i = 0; i < n; i++)
                ck_assert_int_eq(seen[i], 1);
        if (n >= 8) {
                /* All at once: about one sleep, far from n of them. */
                ck_assert_int_gt(s.max_running, 1);
                ck_assert_uint_lt(mh_now_usec() - start, (uint64_t) n * 20000 / 2);
        }
}

START_TEST(test_every_index_once) {
        run(0, SIZE_MAX, SIZE_MAX, 0);
        run(1, SIZE_MAX, SIZE_MAX, 0);
        run(8, SIZE_MAX, SIZE_MAX, 0);
        run(200, SIZE_MAX, SIZE_MAX, 0);
}
END_TEST

START_TEST(test_lowest_failure_wins) {
        run(1, 0, SIZE_MAX, -ENOENT);
        run(10, 7, 3, -EIO);
        run(10, 2, 9, -ENOENT);
}
END_TEST

START_TEST(test_threads_are_bounded) {
        _cleanup_free_ int *seen = calloc(3 * MH_PARALLEL_MAX, sizeof(int));
        state s = {
                .lock = PTHREAD_MUTEX_INITIALIZER,
                .seen = seen,
                .fail_at = { SIZE_MAX, SIZE_MAX },
        };

        ck_assert_int_eq(mh_parallel_for(3 * MH_PARALLEL_MAX, visit, &s), 0);
        ck_assert_int_le(s.max_running, MH_PARALLEL_MAX);
}
END_TEST

START_TEST(test_null_function) {
        ck_assert_int_eq(mh_parallel_for(3, NULL, NULL), -EINVAL);
}
END_TEST

static Suite *parallel_suite(void) {
        Suite *s = suite_create("parallel");
        TCase *tc = tcase_create("for");

        tcase_add_test(tc, test_every_index_once);
        tcase_add_test(tc, test_lowest_failure_wins);
        tcase_add_test(tc, test_threads_are_bounded);
        tcase_add_test(tc, test_null_function);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return run_suite(parallel_suite());
}
