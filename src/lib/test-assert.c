/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>

#include <mhc/test.h>

#include "test-private.h"

/* The assertions of a test's body, behind the MH_ASSERT macros of <mhc/test.h>. */

/* Add a stream of the last command to the failure's details, cut to SHOWN_MAX. */
static void show_stream(mh_test *t, const char *name, const char *text) {
        size_t n = strlen(text);

        if (n == 0)
                return;
        if (n > SHOWN_MAX)
                (void) mh_buf_printf(&t->details, "%s (last %d of %zu bytes):\n%s\n", name,
                                     SHOWN_MAX, n, text + n - SHOWN_MAX);
        else
                (void) mh_buf_printf(&t->details, "%s:\n%s%s", name, text,
                                     text[n - 1] == '\n' ? "" : "\n");
}

void mh_test_show_last_command(mh_test *t) {
        if (!t->last_command)
                return;
        (void) mh_buf_printf(&t->details, "last command: %s (exit %d)\n", t->last_command,
                             t->last_exit_status);
        show_stream(t, "stdout", mh_stdout(t));
        show_stream(t, "stderr", mh_stderr(t));
}

void mh_assert_failed(mh_test *t, const char *file, unsigned line, const char *expr) {
        mh_test_show_last_command(t);
        mh_test_end(t, MH_TEST_FAILED, "%s:%u: assertion failed: %s", file, line, expr);
}

void mh_assert_ok(mh_test *t, const char *file, unsigned line, int r, const char *expr) {
        if (r >= 0)
                return;
        mh_test_end(t, MH_TEST_FAILED, "%s:%u: %s failed: %s", file, line, expr,
                 mh_error_message(&t->error, r));
}

void mh_test_shown_value(const char *s, char buf[static VALUE_SHOWN_MAX + 8]) {
        size_t o = 0;

        if (!s) {
                snprintf(buf, VALUE_SHOWN_MAX + 8, "NULL");
                return;
        }
        buf[o++] = '\'';
        for (; *s && o < VALUE_SHOWN_MAX; s++) {
                if (*s == '\n') {
                        buf[o++] = '\\';
                        buf[o++] = 'n';
                } else
                        buf[o++] = *s;
        }
        if (*s) {
                memcpy(buf + o, "...", 3);
                o += 3;
        }
        buf[o++] = '\'';
        buf[o] = '\0';
}

void mh_assert_streq(mh_test *t, const char *file, unsigned line, const char *a, const char *b,
                     const char *expr_a, const char *expr_b) {
        char shown_a[VALUE_SHOWN_MAX + 8], shown_b[VALUE_SHOWN_MAX + 8];

        if (streq_ptr(a, b))
                return;
        mh_test_shown_value(a, shown_a);
        mh_test_shown_value(b, shown_b);
        (void) mh_buf_printf(&t->details, "%s:\n%s\n%s:\n%s\n", expr_a, strempty(a), expr_b,
                             strempty(b));
        mh_test_end(t, MH_TEST_FAILED, "%s:%u: %s == %s failed: %s != %s", file, line, expr_a, expr_b,
                 shown_a, shown_b);
}

void mh_assert_run_ok(mh_test *t, const char *file, unsigned line, mh_host *h, const char *fmt,
                      ...) {
        va_list ap;
        int status;

        va_start(ap, fmt);
        status = mh_test_run_commandv(t, h, NULL, fmt, ap);
        va_end(ap);
        if (status == 0)
                return;
        mh_test_show_last_command(t);
        mh_test_end(t, MH_TEST_FAILED, "%s:%u: command failed with exit status %d: %s", file, line,
                 status, t->last_command);
}

void mh_assert_run_exit(mh_test *t, const char *file, unsigned line, int expected, mh_host *h,
                        const char *fmt, ...) {
        va_list ap;
        int status;

        va_start(ap, fmt);
        status = mh_test_run_commandv(t, h, NULL, fmt, ap);
        va_end(ap);
        if (status == expected)
                return;
        mh_test_show_last_command(t);
        mh_test_end(t, MH_TEST_FAILED, "%s:%u: command exited with status %d, not %d: %s", file,
                    line, status, expected, t->last_command);
}

void mh_assert_int_failed(mh_test *t, const char *file, unsigned line, const char *expr_a,
                          const char *op, const char *expr_b, long long a, long long b) {
        mh_test_end(t, MH_TEST_FAILED, "%s:%u: %s %s %s failed: %lld %s %lld", file, line, expr_a,
                    op, expr_b, a, op, b);
}

void mh_assert_contains(mh_test *t, const char *file, unsigned line, const char *s,
                        const char *part, const char *expr_s, const char *expr_part) {
        char shown_s[VALUE_SHOWN_MAX + 8], shown_part[VALUE_SHOWN_MAX + 8];

        if (s && part && strstr(s, part))
                return;
        mh_test_shown_value(s, shown_s);
        mh_test_shown_value(part, shown_part);
        (void) mh_buf_printf(&t->details, "%s:\n%s\n", expr_s, strempty(s));
        /* literals are not shown twice */
        if (expr_s[0] == '"' && expr_part[0] == '"')
                mh_test_end(t, MH_TEST_FAILED, "%s:%u: %s does not contain %s", file, line, expr_s,
                            expr_part);
        mh_test_end(t, MH_TEST_FAILED, "%s:%u: %s does not contain %s: %s does not contain %s", file,
                    line, expr_s, expr_part, shown_s, shown_part);
}

void mh_assert_fails(mh_test *t, const char *file, unsigned line, int r, const char *expr) {
        if (r < 0)
                return;
        mh_test_end(t, MH_TEST_FAILED, "%s:%u: %s succeeded (returned %d), but should have failed",
                    file, line, expr, r);
}

void mh_fail_at(mh_test *t, const char *file, unsigned line, const char *fmt, ...) {
        _cleanup_free_ char *reason = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&reason, fmt, ap) < 0)
                reason = NULL;
        va_end(ap);
        mh_test_end(t, MH_TEST_FAILED, "%s:%u: %s", file, line, reason ?: "out of memory");
}
