/* SPDX-License-Identifier: MIT */
/* The SQL API for tests (<mhc/postgresql.h>) on the postgresql host type's connections. */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include <mhc/log.h>
#include <mhc/postgresql.h>

#include "postgresql.h"
#include "macro.h"

#define TEXT_MAX        (64u * 1024 * 1024) /* of a result's text form */
#define SHOWN_MAX       300                 /* bytes of a result shown in a message */
#define WAIT_FIRST_MSEC 50
#define WAIT_LAST_MSEC  1000


struct mh_sql_result {
        PGresult *res;
        char *text;
};

mh_sql_result *mh_sql_result_free(mh_sql_result *r) {
        if (!r)
                return NULL;
        if (r->res)
                PQclear(r->res);
        free(r->text);
        free(r);
        return NULL;
}

static void mh_sql_result_freep(mh_sql_result **r) {
        mh_sql_result_free(*r);
}

size_t mh_sql_result_n_rows(const mh_sql_result *r) {
        return r ? (size_t) PQntuples(r->res) : 0;
}

size_t mh_sql_result_n_columns(const mh_sql_result *r) {
        return r ? (size_t) PQnfields(r->res) : 0;
}

const char *mh_sql_result_column_name(const mh_sql_result *r, size_t col) {
        if (!r || col >= mh_sql_result_n_columns(r))
                return NULL;
        return PQfname(r->res, (int) col);
}

const char *mh_sql_result_value(const mh_sql_result *r, size_t row, size_t col) {
        if (!r || row >= mh_sql_result_n_rows(r) || col >= mh_sql_result_n_columns(r) ||
            PQgetisnull(r->res, (int) row, (int) col))
                return NULL;
        return PQgetvalue(r->res, (int) row, (int) col);
}

const char *mh_sql_result_text(const mh_sql_result *r) {
        return r ? r->text : NULL;
}

/* The '|' and '\n' joined text of res. */
static int make_text(const PGresult *res, char **ret) {
        mh_buf b = { .max = TEXT_MAX };
        int r = mh_buf_append(&b, "", 0);

        for (int row = 0; r >= 0 && row < PQntuples(res); row++)
                for (int col = 0; r >= 0 && col < PQnfields(res); col++) {
                        if (col > 0 || row > 0)
                                r = mh_buf_append(&b, col > 0 ? "|" : "\n", 1);
                        if (r >= 0)
                                r = mh_buf_append(&b, PQgetvalue(res, row, col),
                                                  (size_t) PQgetlength(res, row, col));
                }
        if (r < 0) {
                mh_buf_dispose(&b);
                return r;
        }
        *ret = mh_buf_steal(&b, NULL);
        return *ret ? 0 : -ENOMEM;
}

static int check_host(mh_host *h, const char *sql, mh_error *error) {
        if (!h || !sql)
                return mh_error_set(error, -EINVAL, "no host or no SQL statement given");
        if (!mh_host_is_postgresql(h))
                return mh_error_set(error, -EOPNOTSUPP,
                                    "host '%s' is of type '%s', not postgresql: it has no SQL",
                                    mh_host_config_hostname(h->config), h->type->name);
        return 0;
}

int mh_sql_query(mh_host *h, const char *database, const char *sql, mh_sql_result **ret,
                 mh_error *error) {
        _cleanup_(mh_sql_result_freep) mh_sql_result *result = NULL;
        int r;

        r = check_host(h, sql, error);
        if (r < 0)
                return r;

        result = calloc(1, sizeof(*result));
        if (!result)
                return -ENOMEM;
        r = mh_postgresql_exec(h, database, sql, -1, NULL, &result->res, error);
        if (r < 0)
                return r;
        r = make_text(result->res, &result->text);
        if (r == -EFBIG)
                return mh_error_set(error, r, "the result is larger than %u MiB as text",
                                    TEXT_MAX >> 20);
        if (r < 0)
                return r;

        if (ret)
                *ret = TAKE_PTR(result);
        return 0;
}

int mh_sql_exec(mh_host *h, const char *database, const char *sql, mh_error *error) {
        _cleanup_(PQclearp) PGresult *res = NULL;
        const char *affected;
        int r;

        r = check_host(h, sql, error);
        if (r < 0)
                return r;
        r = mh_postgresql_exec(h, database, sql, -1, NULL, &res, error);
        if (r < 0)
                return r;

        affected = PQcmdTuples(res);
        if (!affected[0])
                return 0;
        return (int) strtol(affected, NULL, 10);
}

/* s for a message: newlines as \n, cut after SHOWN_MAX bytes. */
static void show(const char *s, char *out, size_t size) {
        size_t n = 0, i = 0;

        for (; s[i] && i < SHOWN_MAX && n + 3 < size; i++) {
                if (s[i] == '\n') {
                        out[n++] = '\\';
                        out[n++] = 'n';
                } else
                        out[n++] = s[i] == '\r' || s[i] == '\t' ? ' ' : s[i];
        }
        out[n] = '\0';
        if (s[i] && n + 4 <= size)
                memcpy(out + n, "...", 4);
}

static void sleep_msec(unsigned msec) {
        struct timespec ts = { .tv_sec = msec / 1000, .tv_nsec = (long) (msec % 1000) * 1000000 };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

int mh_sql_wait_for(mh_host *h, const char *database, const char *sql, const char *expected,
                    unsigned timeout_msec, mh_error *error) {
        uint64_t deadline = mh_now_usec() + (uint64_t) timeout_msec * 1000;
        unsigned delay = WAIT_FIRST_MSEC, tries = 0;
        char want[SHOWN_MAX * 2 + 8], got[SHOWN_MAX * 2 + 8], seconds[32];
        mh_error last = MH_ERROR_INIT;
        _cleanup_free_ char *text = NULL;
        int r;

        r = check_host(h, sql, error);
        if (r < 0)
                return r;
        if (!expected)
                return mh_error_set(error, -EINVAL, "no expected result given");

        for (;;) {
                _cleanup_(mh_sql_result_freep) mh_sql_result *result = NULL;
                uint64_t now;

                tries++;
                mh_error_clear(&last);
                r = mh_sql_query(h, database, sql, &result, &last);
                if (r >= 0 && streq(result->text, expected))
                        return 0;
                if (r == -ENOMEM || r == -EOPNOTSUPP || r == -EINVAL || r == -MH_ERR_AUTH)
                        return mh_error_set(error, r, "%s", mh_error_message(&last, r));
                /* an error may pass too (a table not replicated yet): keep trying */
                free(text);
                text = r >= 0 ? TAKE_PTR(result->text) : NULL;

                now = mh_now_usec();
                if (now >= deadline)
                        break;
                sleep_msec((unsigned) MIN((uint64_t) delay, (deadline - now + 999) / 1000));
                delay = MIN(delay * 2, WAIT_LAST_MSEC);
        }

        if (timeout_msec % 1000 == 0)
                snprintf(seconds, sizeof(seconds), "%u s", timeout_msec / 1000);
        else
                snprintf(seconds, sizeof(seconds), "%u ms", timeout_msec);
        show(expected, want, sizeof(want));
        if (!text)
                return mh_error_set(error, -ETIMEDOUT,
                                    "query did not return the expected result within %s: "
                                    "expected '%s' but got %s (last of %u tries)",
                                    seconds, want, mh_error_message(&last, r), tries);
        show(text, got, sizeof(got));
        return mh_error_set(error, -ETIMEDOUT,
                            "query did not return the expected result within %s: expected '%s' "
                            "but got '%s' (last of %u tries)",
                            seconds, want, got, tries);
}

/* --- in a test body ------------------------------------------------------ */

static void free_result(void *p) {
        mh_sql_result_free(p);
}

/* The rows of statement (with params, NULL-terminated, or NULL) in database, the test's;
 * an SQL error fails the test, another error ends it as an error. */
static mh_sql_result *query(mh_test *t, mh_host *h, const char *database, const char *statement,
                            const char *const *params) {
        _cleanup_(mh_sql_result_freep) mh_sql_result *result = NULL;
        mh_error e = MH_ERROR_INIT;
        int n = 0, r;

        mh_test_check_host(t, h);
        while (params && params[n])
                n++;
        r = check_host(h, statement, &e);
        if (r >= 0 && !(result = calloc(1, sizeof(*result))))
                mh_abort(t, "out of memory");
        if (r >= 0)
                r = mh_postgresql_exec(h, database, statement, params ? n : -1, params,
                                       &result->res, &e);
        if (r >= 0)
                r = make_text(result->res, &result->text);
        if (r < 0) {
                if (e.code == -MH_ERR_COMMAND)
                        mh_fail(t, "%s: %s", mh_host_name(h), e.message);
                mh_abort(t, "%s: %s", mh_host_name(h), mh_error_message(&e, r));
        }
        mh_test_keep(t, result, free_result);
        return TAKE_PTR(result);
}

static mh_sql_result *sqlv(mh_test *t, mh_host *h, const char *database, const char *fmt,
                           va_list ap) MH_PRINTF(4, 0);

static mh_sql_result *sqlv(mh_test *t, mh_host *h, const char *database, const char *fmt,
                           va_list ap) {
        _cleanup_free_ char *statement = NULL;

        if (vasprintf(&statement, fmt, ap) < 0)
                mh_abort(t, "out of memory");
        return query(t, h, database, statement, NULL);
}

mh_sql_result *mh_sql(mh_test *t, mh_host *h, const char *fmt, ...) {
        mh_sql_result *r;
        va_list ap;

        va_start(ap, fmt);
        r = sqlv(t, h, NULL, fmt, ap);
        va_end(ap);
        return r;
}

const char *mh_sql_text(mh_test *t, mh_host *h, const char *fmt, ...) {
        mh_sql_result *r;
        va_list ap;

        va_start(ap, fmt);
        r = sqlv(t, h, NULL, fmt, ap);
        va_end(ap);
        return mh_sql_result_text(r);
}

mh_sql_result *mh_sql_in(mh_test *t, mh_host *h, const char *database, const char *fmt, ...) {
        mh_sql_result *r;
        va_list ap;

        va_start(ap, fmt);
        r = sqlv(t, h, database, fmt, ap);
        va_end(ap);
        return r;
}

const char *mh_sql_text_in(mh_test *t, mh_host *h, const char *database, const char *fmt, ...) {
        mh_sql_result *r;
        va_list ap;

        va_start(ap, fmt);
        r = sqlv(t, h, database, fmt, ap);
        va_end(ap);
        return mh_sql_result_text(r);
}

mh_sql_result *mh_sql_params(mh_test *t, mh_host *h, const char *database, const char *sql,
                             const char *const *params) {
        static const char *const none[] = { NULL };

        return query(t, h, database, sql, params ?: none);
}

int mh_sql_wait(mh_test *t, mh_host *h, const char *database, const char *sql,
                const char *expected, unsigned timeout_msec) {
        mh_test_check_host(t, h);
        mh_test_clear_error(t);
        return mh_sql_wait_for(h, database, sql, expected, timeout_msec, mh_test_err(t));
}

const char *mh_sql_literal(mh_test *t, const char *s) {
        /* E'...': the same whatever standard_conforming_strings says */
        size_t n = 3;
        char *q, *o;

        for (const char *p = strempty(s); *p; p++)
                n += *p == '\'' || *p == '\\' ? 2 : 1;
        q = malloc(n + 1);
        if (!q)
                mh_abort(t, "out of memory");
        mh_test_keep(t, q, free);
        o = q;
        *o++ = 'E';
        *o++ = '\'';
        for (const char *p = strempty(s); *p; p++) {
                if (*p == '\'' || *p == '\\')
                        *o++ = *p;
                *o++ = *p;
        }
        *o++ = '\'';
        *o = '\0';
        return q;
}
