/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What the SQL API (hosts/postgresql-sql.c) needs of the postgresql host
 * type (hosts/postgresql.c): its cached connections.  Never installed.
 */

#include <libpq-fe.h>

#include <mhc/error.h>
#include <mhc/strv.h>
#include <mhc/sys/host.h>

/* Longest statement text quoted in an error message, in bytes. */
#define MH_SQL_QUOTE_MAX 200

/*
 * Run sql in database (NULL: the host's dbname) on the host's cached
 * connection, opening it on first use and re-opening it once when it
 * broke.  With n_params < 0 sql may hold several statements (PQexec);
 * otherwise it is one statement with n_params text parameters $1...
 * *ret (the caller's) is a result of PGRES_TUPLES_OK or PGRES_COMMAND_OK;
 * an SQL error is -MH_ERR_COMMAND with "SQL error SQLSTATE: message (in
 * 'statement')".  h must be of type postgresql.
 */
int mh_postgresql_exec(mh_host *h, const char *database, const char *sql, int n_params,
                       const char *const *params, PGresult **ret, mh_error *error);

/* Close the host's cached connection to database, if any: before it is
 * dropped or copied, or to test reconnecting. */
void mh_postgresql_disconnect(mh_host *h, const char *database);

/* What a backup records of the server, and writes down in its directory
 * (postgresql-state.c) for a later run to read back. */
typedef struct pg_state {
        mh_strv databases;     /* backed up */
        mh_strv copies;        /* their template copies, same order */
        mh_strv owners;        /* their owners, same order */
        mh_strv all_databases; /* every database at backup time */
        mh_strv roles;         /* every role at backup time */
} pg_state;

void mh_pg_state_dispose(pg_state *s);
/* Write s into b->dir, or read it back (appending to s's lists). */
int mh_pg_state_write(mh_host *h, const mh_backup *b, const pg_state *s, mh_error *e);
int mh_pg_state_read(mh_host *h, const mh_backup *b, pg_state *s, mh_error *e);

/* Whether h is of type postgresql or one that extends it. */
static inline bool mh_host_is_postgresql(const mh_host *h) {
        return mh_host_is_a(h, &mh_host_type_postgresql);
}

static inline void PQclearp(PGresult **r) {
        if (*r)
                PQclear(*r);
}

static inline void PQfinishp(PGconn **c) {
        if (*c)
                PQfinish(*c);
}
