/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <mhc/shell.h>

#include "util.h"
#include "check-run.h"

static void check_quote(const char *in, const char *expected) {
        _cleanup_free_ char *q = NULL;

        ck_assert_int_eq(mh_shell_quote(in, &q), 0);
        ck_assert_str_eq(q, expected);
}

START_TEST(test_quote_plain) {
        check_quote("", "''");
        check_quote("abc", "'abc'");
        check_quote("a b", "'a b'");
        check_quote("it's", "'it'\\''s'");
        check_quote("'", "''\\'''");
}
END_TEST

/* Run `printf %s WORD` through a real /bin/sh and compare what comes back. */
static void check_round_trip(const char *word) {
        _cleanup_free_ char *q = NULL, *cmd = NULL;
        char out[4096];
        size_t n;
        FILE *f;

        ck_assert_int_eq(mh_shell_quote(word, &q), 0);
        ck_assert_int_ge(asprintf(&cmd, "printf %%s %s", q), 0);
        f = popen(cmd, "r");
        ck_assert_ptr_nonnull(f);
        n = fread(out, 1, sizeof(out) - 1, f);
        out[n] = '\0';
        ck_assert_int_eq(pclose(f), 0);
        ck_assert_msg(streq(out, word), "round trip of [%s] gave [%s]", word, out);
}

static const char *const hostile[] = {
        "; rm -rf /tmp/mhc-should-not-exist",
        "$(touch /tmp/mhc-injected)",
        "`touch /tmp/mhc-injected`",
        "a'b\"c\\d",
        "'; touch /tmp/mhc-injected; echo '",
        "$HOME ${PATH} $((1+1))",
        "line1\nline2\ttab",
        "* ? [a-z] ~ ~root",
        "&& || | > < >> 2>&1 &",
        "-n",
        "--",
        "\\",
        "'''",
        "é ü 日本",
};

START_TEST(test_quote_hostile_round_trips) {
        unlink("/tmp/mhc-injected");
        check_round_trip(hostile[_i]);
        ck_assert_int_ne(access("/tmp/mhc-injected", F_OK), 0);
}
END_TEST

START_TEST(test_join) {
        const char *argv[] = { "echo", "a b", "it's", "", NULL };
        const char *empty[] = { NULL };
        _cleanup_free_ char *j = NULL, *e = NULL;

        ck_assert_int_eq(mh_shell_join(argv, &j), 0);
        ck_assert_str_eq(j, "'echo' 'a b' 'it'\\''s' ''");
        ck_assert_int_eq(mh_shell_join(empty, &e), 0);
        ck_assert_str_eq(e, "");
}
END_TEST

START_TEST(test_invalid_arguments) {
        char *q = NULL;

        ck_assert_int_eq(mh_shell_quote(NULL, &q), -EINVAL);
        ck_assert_int_eq(mh_shell_join(NULL, &q), -EINVAL);
        ck_assert_ptr_null(q);
}
END_TEST

static Suite *shell_suite(void) {
        Suite *s = suite_create("shell");
        TCase *tc = tcase_create("quote");

        tcase_add_test(tc, test_quote_plain);
        tcase_add_loop_test(tc, test_quote_hostile_round_trips, 0, (int) ELEMENTSOF(hostile));
        tcase_add_test(tc, test_join);
        tcase_add_test(tc, test_invalid_arguments);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return run_suite(shell_suite());
}
