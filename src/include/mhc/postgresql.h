/* SPDX-License-Identifier: MIT */
#ifndef MHC_POSTGRESQL_H
#define MHC_POSTGRESQL_H

#include <stddef.h>

#include <mhc/common.h>
#include <mhc/error.h>
#include <mhc/host.h>
#include <mhc/test.h>

MH_BEGIN_DECLS

/*
 * SQL for tests, on hosts of type `postgresql` (see mhc.yaml(5) for their
 * `config:` settings).  Each host keeps one connection per database it was
 * asked about, opened on first use and re-opened once when it broke (after
 * a restore ended it, for instance).  A host's SQL is used by one thread at
 * a time.  See libmhc(3).
 */

/* The rows of one query: rows x columns of text, NULL for SQL NULL. */
typedef struct mh_sql_result mh_sql_result;

/* Free r (NULL is fine); returns NULL. */
MH_EXPORT mh_sql_result *mh_sql_result_free(mh_sql_result *r);

MH_EXPORT size_t mh_sql_result_n_rows(const mh_sql_result *r);
MH_EXPORT size_t mh_sql_result_n_columns(const mh_sql_result *r);

/* The column's name (borrowed from r), or NULL when col is out of range. */
MH_EXPORT const char *mh_sql_result_column_name(const mh_sql_result *r, size_t col);

/* The value at (row, col) as PostgreSQL's text form, borrowed from r; NULL
 * for SQL NULL and for a row or column out of range. */
MH_EXPORT const char *mh_sql_result_value(const mh_sql_result *r, size_t row, size_t col);

/*
 * The whole result as text, borrowed from r: columns joined by '|', rows
 * by '\n' (no final newline), SQL NULL as the empty string; "" for no rows.
 * This is the form mh_sql_wait_for() compares, as psql -At prints it.
 */
MH_EXPORT const char *mh_sql_result_text(const mh_sql_result *r);

/*
 * Run one SQL statement (or several, separated by ';': then the rows are
 * the last one's) in database on host h: NULL is the host's `dbname`
 * (default `postgres`).  A host of another type fails with -EOPNOTSUPP; a
 * connection failure with -MH_ERR_AUTH (password refused), -ETIMEDOUT or
 * -MH_ERR_COMMAND and libpq's message; an SQL error with -MH_ERR_COMMAND
 * and "SQL error 42P01: relation "x" does not exist (in 'SELECT * FROM
 * x')", the statement cut after 200 bytes.  *ret is the caller's.
 */
MH_EXPORT int mh_sql_query(mh_host *h, const char *database, const char *sql, mh_sql_result **ret,
                           mh_error *error);

/* As mh_sql_query() for a statement without rows (INSERT, UPDATE, DDL);
 * returns the number of rows it changed (0 when it does not say). */
MH_EXPORT int mh_sql_exec(mh_host *h, const char *database, const char *sql, mh_error *error);

/*
 * Run the query until its text form (mh_sql_result_text()) equals
 * expected, polling with a backoff from 50 ms to 1 s, at most timeout_msec.
 * Then fails with -ETIMEDOUT and "query did not return the expected result
 * within 5 s: expected 'a|1\nb|2' but got 'a|1' (last of 37 tries)", the
 * newlines shown as \n.  A query that fails (a table not there yet, a
 * server restarting) is tried again; the timeout message then ends with
 * "but got SQL error 42P01: ... (last of 9 tries)"; a refused password
 * ends the wait at once.  timeout_msec 0 tries once.
 */
MH_EXPORT int mh_sql_wait_for(mh_host *h, const char *database, const char *sql,
                              const char *expected, unsigned timeout_msec, mh_error *error);

/*
 * In a test body (see mhc-test(3)): SQL on a `postgresql` host.  mh_sql()
 * runs a statement (printf-style: quote what you insert with
 * mh_sql_literal()) in the host's `dbname`, mh_sql_in() in database
 * (NULL: `dbname`); they return the rows, freed with the test.  An SQL
 * error fails the test with PostgreSQL's message and the statement ("db:
 * SQL error 42P01: relation "x" does not exist (in 'SELECT * FROM x')");
 * a connection that fails ends it as an error.  The _text forms return
 * the rows as text (see mh_sql_result_text()).
 */
MH_EXPORT mh_sql_result *mh_sql(mh_test *t, mh_host *h, const char *fmt, ...) MH_PRINTF(3, 4);
MH_EXPORT const char *mh_sql_text(mh_test *t, mh_host *h, const char *fmt, ...) MH_PRINTF(3, 4);
MH_EXPORT mh_sql_result *mh_sql_in(mh_test *t, mh_host *h, const char *database, const char *fmt,
                                   ...) MH_PRINTF(4, 5);
MH_EXPORT const char *mh_sql_text_in(mh_test *t, mh_host *h, const char *database,
                                     const char *fmt, ...) MH_PRINTF(4, 5);

/* The statement with bound parameters $1, $2, ... (NULL-terminated, as text;
 * MH_LIST("alice", "3")): no quoting needed. */
MH_EXPORT mh_sql_result *mh_sql_params(mh_test *t, mh_host *h, const char *database,
                                       const char *sql, const char *const *params);

/* mh_sql_wait_for() in a test: 0, or a negative code with mh_test_error(t)
 * saying what was expected and what came; use with MH_ASSERT_OK(). */
MH_EXPORT int mh_sql_wait(mh_test *t, mh_host *h, const char *database, const char *sql,
                          const char *expected, unsigned timeout_msec);

/* s as an SQL string literal (E'it''s'), the test's. */
MH_EXPORT const char *mh_sql_literal(mh_test *t, const char *s);

MH_END_DECLS

#endif
