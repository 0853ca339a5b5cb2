/* SPDX-License-Identifier: MIT */
/*
 * The postgresql host type's connections: one cached libpq connection per
 * database, opened through the host's SSH (a forward to its PostgreSQL)
 * or straight over TCP, and the helpers that run administration on them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mhc/log.h>

#include "macro.h"
#include "postgresql.h"

/* libpq's message on one line, each line of it once (libpq repeats the
 * message of each attempt), without the password should it ever hold it. */
static void pg_clean_message(const pg_host *p, const char *in, char *out, size_t size) {
        const char *password = p->settings->password;
        size_t n = 0;
        char *hit;

        out[0] = '\0';
        while (*in && n + 1 < size) {
                size_t length = strcspn(in, "\n"), start = n;
                bool space = false;

                if (n > 0 && n + 2 < size)
                        out[n++] = ' ';
                for (size_t i = 0; i < length && n + 1 < size; i++) {
                        if (in[i] == '\r' || in[i] == '\t' || in[i] == ' ') {
                                space = n > start;
                                continue;
                        }
                        if (space && n + 2 < size)
                                out[n++] = ' ';
                        space = false;
                        out[n++] = in[i];
                }
                out[n] = '\0';
                /* an empty or repeated line goes */
                if (n == start || (start > 0 && strstr(out, out + start + 1) < out + start))
                        n = start;
                out[n] = '\0';
                in += length;
                if (*in == '\n')
                        in++;
        }

        while (password && password[0] && (hit = strstr(out, password)))
                memset(hit, '*', strlen(password));
}

/* Notices (NOTICE, WARNING) go to the debug log, never to stderr. */
static void notice_receiver(void *userdata, const PGresult *res) {
        const pg_host *p = userdata;
        char message[512];

        pg_clean_message(p, PQresultErrorMessage(res), message, sizeof(message));
        mh_log(MH_LOG_DEBUG, mh_host_config_hostname(p->base.base.config), "PostgreSQL: %s",
               message);
}

/* The forward to the host's PostgreSQL, opened on first use. */
static int get_forward(pg_host *p, mh_error *e) {
        _cleanup_free_ char *remote = NULL;
        char name[32];
        int r;

        if (p->forward)
                return 0;
        snprintf(name, sizeof(name), ".s.PGSQL.%u", p->port);
        if (p->settings->socket_dir &&
            asprintf(&remote, "%s/%s", p->settings->socket_dir, name) < 0) {
                remote = NULL;
                return -ENOMEM;
        }
        r = mh_ssh_forward_open(pg_host_of(p)->config, name, remote ?: "127.0.0.1", p->port,
                                &p->forward, e);
        if (r < 0)
                mh_error_prefix(e, "cannot reach PostgreSQL through SSH");
        return r;
}

static int pg_open(pg_host *p, const char *database, PGconn **ret, mh_error *e) {
        char port[16], timeout[16], message[MH_ERROR_MESSAGE_MAX], why[MH_ERROR_MESSAGE_MAX];
        bool ssh = p->settings->connect == PG_CONNECT_SSH;
        const char *keys[] = { "host", "port", "user", "dbname", "sslmode", "connect_timeout",
                               "application_name",
                               /* mhc's parameters (role password hashes among them) are
                                * kept out of the server's log */
                               "options", "sslrootcert", "password", NULL };
        const char *values[ELEMENTSOF(keys)];
        PGconn *conn;
        int code, r;

        if (ssh) {
                r = get_forward(p, e);
                if (r < 0)
                        return r;
        }
        snprintf(port, sizeof(port), "%u", p->port);
        snprintf(timeout, sizeof(timeout), "%u",
                 mh_host_config_connect_timeout(pg_host_of(p)->config));
        values[0] = ssh ? mh_ssh_forward_dir(p->forward)
                        : mh_host_config_address(pg_host_of(p)->config);
        values[1] = port;
        values[2] = p->settings->user;
        values[3] = database;
        values[4] = p->sslmode;
        values[5] = timeout;
        values[6] = "mhc";
        values[7] = "-c log_parameter_max_length=0 -c log_parameter_max_length_on_error=0";
        values[8] = p->settings->sslrootcert; /* NULL: libpq's default */
        values[9] = p->settings->password;    /* NULL: ignored (then ~/.pgpass) */
        values[10] = NULL;                    /* a NULL value is ignored */

        conn = PQconnectdbParams(keys, values, 0);
        if (!conn)
                return -ENOMEM;
        if (PQstatus(conn) == CONNECTION_OK) {
                PQsetNoticeReceiver(conn, notice_receiver, p);
                *ret = conn;
                return 0;
        }

        pg_clean_message(p, PQerrorMessage(conn), message, sizeof(message));
        PQfinish(conn);
        if (strstr(message, "authentication failed") || strstr(message, "no password supplied"))
                code = -MH_ERR_AUTH;
        else if (strstr(message, "FATAL: database \"") && strstr(message, "\" does not exist"))
                code = -ENOENT;
        else if (strstr(message, "timeout expired"))
                code = -ETIMEDOUT;
        else
                code = -MH_ERR_COMMAND;
        if (ssh && mh_ssh_forward_error(p->forward, why, sizeof(why)))
                return mh_error_set(e, code,
                                    "cannot connect to PostgreSQL database '%s' as '%s' through "
                                    "SSH: %s (%s)",
                                    database, p->settings->user, message, why);
        return mh_error_set(e, code, "cannot connect to PostgreSQL database '%s' as '%s'%s: %s",
                            database, p->settings->user, ssh ? " through SSH" : "", message);
}

static pg_conn *find_conn(pg_host *p, const char *database) {
        for (size_t i = 0; i < p->n_conns; i++)
                if (streq(p->conns[i].database, database))
                        return &p->conns[i];
        return NULL;
}

void mh_postgresql_disconnect(mh_host *h, const char *database) {
        pg_host *p = pg(h);
        pg_conn *c;

        if (!p)
                return;
        c = find_conn(p, database ?: p->dbname);
        if (c && c->conn) {
                PQfinish(c->conn);
                c->conn = NULL;
        }
}

/* In a forked test process, so that SQL opens connections of its own. */
void pg_after_fork(mh_host *h) {
        pg_host *p = pg(h);

        /* Not closed: PQfinish() would end the parent's sessions on the server. */
        for (size_t i = 0; p && i < p->n_conns; i++)
                p->conns[i].conn = NULL;
}

/* The cached connection to database, opened when missing or broken; borrowed. */
int pg_get_conn(pg_host *p, const char *database, PGconn **ret, mh_error *e) {
        pg_conn *c = find_conn(p, database), *conns;
        int r;

        if (!c) {
                conns = reallocarray(p->conns, p->n_conns + 1, sizeof(*conns));
                if (!conns)
                        return -ENOMEM;
                p->conns = conns;
                c = &p->conns[p->n_conns];
                *c = (pg_conn){ .database = strdup(database) };
                if (!c->database)
                        return -ENOMEM;
                p->n_conns++;
        }
        if (c->conn && PQstatus(c->conn) != CONNECTION_OK) {
                PQfinish(c->conn);
                c->conn = NULL;
        }
        if (!c->conn) {
                r = pg_open(p, database, &c->conn, e);
                if (r < 0)
                        return r;
                mh_log(MH_LOG_DEBUG, pg_hostname(p), "connected to PostgreSQL database '%s'",
                       database);
        }
        *ret = c->conn;
        return 0;
}

/* sql quoted for a message: one line, cut after MH_SQL_QUOTE_MAX bytes. */
static void quote_statement(const char *sql, char *out, size_t size) {
        size_t n = 0, i = 0;

        for (; sql[i] && i < MH_SQL_QUOTE_MAX && n + 3 < size; i++) {
                if (sql[i] == '\n') {
                        out[n++] = '\\';
                        out[n++] = 'n';
                } else
                        out[n++] = sql[i] == '\r' || sql[i] == '\t' ? ' ' : sql[i];
        }
        /* do not end in the middle of a UTF-8 character */
        if (sql[i]) {
                while (n > 0 && ((unsigned char) out[n - 1] & 0xC0) == 0x80)
                        n--;
                if (n > 0 && ((unsigned char) out[n - 1] & 0xC0) == 0xC0)
                        n--;
                out[n] = '\0';
                snprintf(out + n, size - n, "...");
                return;
        }
        out[n] = '\0';
}

/* Fail with the server's message about a failed statement. */
static int sql_error(pg_host *p, const PGresult *res, PGconn *conn, const char *sql, mh_error *e) {
        const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        char message[512], statement[MH_SQL_QUOTE_MAX * 2 + 8];

        pg_clean_message(p, primary ?: PQerrorMessage(conn), message, sizeof(message));
        quote_statement(sql, statement, sizeof(statement));
        if (p->settings->password && p->settings->password[0] &&
            strstr(statement, p->settings->password))
                snprintf(statement, sizeof(statement),
                         "(statement not shown: it holds the "
                         "password)");
        if (state)
                return mh_error_set(e, -MH_ERR_COMMAND, "SQL error %s: %s (in '%s')", state,
                                    message, statement);
        return mh_error_set(e, -MH_ERR_COMMAND, "SQL failed: %s (in '%s')", message, statement);
}

int mh_postgresql_exec(mh_host *h, const char *database, const char *sql, int n_params,
                       const char *const *params, PGresult **ret, mh_error *e) {
        pg_host *p = pg(h);
        int r;

        if (!p || !sql || !ret)
                return -EINVAL;
        database = database ?: p->dbname;

        for (unsigned attempt = 0;; attempt++) {
                _cleanup_(PQclearp) PGresult *res = NULL;
                ExecStatusType status;
                PGconn *conn;

                r = pg_get_conn(p, database, &conn, e);
                if (r < 0)
                        return r;
                if (n_params < 0)
                        res = PQexec(conn, sql);
                else
                        res = PQexecParams(conn, sql, n_params, NULL, params, NULL, NULL, 0);
                status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
                if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
                        *ret = TAKE_PTR(res);
                        return 0;
                }
                if (status == PGRES_COPY_IN || status == PGRES_COPY_OUT ||
                    status == PGRES_COPY_BOTH) {
                        mh_postgresql_disconnect(h, database);
                        return mh_error_set(e, -EOPNOTSUPP,
                                            "COPY from or to the client is not "
                                            "supported; use INSERT or a server-side COPY");
                }
                /* a connection ended by a restore or a server restart: open it again once */
                if (PQstatus(conn) == CONNECTION_BAD && attempt == 0) {
                        mh_log(MH_LOG_DEBUG, mh_host_config_hostname(h->config),
                               "connection to PostgreSQL database '%s' lost, reconnecting",
                               database);
                        mh_postgresql_disconnect(h, database);
                        continue;
                }
                return sql_error(p, res, conn, sql, e);
        }
}

/* --- administration ------------------------------------------------------ */

/* sql in database, NULL: the admin database, which, when dbname is gone (a restore cut
 * short while it put dbname back), is another one until dbname is back. */
static int exec_admin(pg_host *p, const char *database, const char *sql, int n_params,
                      const char *const *params, PGresult **ret, mh_error *e) {
        mh_error first = MH_ERROR_INIT;
        int r;

        if (database || p->admin_db)
                return mh_postgresql_exec(pg_host_of(p), database ?: p->admin_db, sql, n_params,
                                          params, ret, e);
        r = mh_postgresql_exec(pg_host_of(p), NULL, sql, n_params, params, ret, &first);
        if (r != -ENOENT)
                return r < 0 ? mh_error_set(e, r, "%s", first.message) : r;
        p->admin_db = pg_other_admin(p);
        mh_log(MH_LOG_DEBUG, pg_hostname(p),
               "database '%s' is gone: administration goes through "
               "'%s' until it is back",
               p->dbname, p->admin_db);
        return mh_postgresql_exec(pg_host_of(p), p->admin_db, sql, n_params, params, ret, e);
}

int pg_admin(pg_host *p, const char *sql, int n_params, const char *const *params, PGresult **ret,
             mh_error *e) {
        _cleanup_(PQclearp) PGresult *res = NULL;
        int r;

        r = exec_admin(p, NULL, sql, n_params, params, &res, e);
        if (r < 0)
                return r;
        if (ret)
                *ret = TAKE_PTR(res);
        return 0;
}

int pg_admin_one(pg_host *p, const char *sql, const char *param, mh_error *e) {
        return pg_admin(p, sql, param ? 1 : 0, param ? &param : NULL, NULL, e);
}

/* The first column of every row of a query in database, as strings. */
int pg_query_strv(pg_host *p, const char *database, const char *sql, int n_params,
                  const char *const *params, mh_strv *ret, mh_error *e) {
        _cleanup_(PQclearp) PGresult *res = NULL;
        mh_strv v = {};
        int r;

        r = exec_admin(p, database, sql, n_params, params, &res, e);
        if (r < 0)
                return r;
        for (int i = 0; i < PQntuples(res); i++) {
                r = mh_strv_consume(&v,
                                    strdup(PQgetisnull(res, i, 0) ? "" : PQgetvalue(res, i, 0)));
                if (r < 0) {
                        mh_strv_dispose(&v);
                        return r;
                }
        }
        *ret = v;
        return 0;
}

/* The single value of a query in database. */
int pg_query_value(pg_host *p, const char *database, const char *sql, int n_params,
                   const char *const *params, char **ret, mh_error *e) {
        mh_strv v = {};
        int r;

        r = pg_query_strv(p, database, sql, n_params, params, &v, e);
        if (r < 0)
                return r;
        if (v.n != 1) {
                mh_strv_dispose(&v);
                return mh_error_set(e, -MH_ERR_REMOTE, "expected one row from '%s', got %zu", sql,
                                    v.n);
        }
        *ret = v.items[0];
        free(v.items);
        return 0;
}

/* name as a quoted SQL identifier, malloc'd. */
int pg_quote_ident(pg_host *p, const char *name, char **ret, mh_error *e) {
        PGconn *conn;
        char *q, *copy;
        int r;

        /* any connection tells libpq the encoding: the admin one, as exec_admin() finds it */
        r = pg_get_conn(p, p->admin_db ?: p->dbname, &conn, NULL);
        if (r == -ENOENT && !p->admin_db)
                p->admin_db = pg_other_admin(p);
        if (r < 0)
                r = pg_get_conn(p, p->admin_db ?: p->dbname, &conn, e);
        if (r < 0)
                return r;
        q = PQescapeIdentifier(conn, name, strlen(name));
        if (!q)
                return mh_error_set(e, -EINVAL, "cannot quote name '%s': %s", name,
                                    PQerrorMessage(conn));
        copy = strdup(q);
        PQfreemem(q);
        if (!copy)
                return -ENOMEM;
        *ret = copy;
        return 0;
}

/* Run the statement "before NAME after" with name quoted as an identifier. */
int pg_exec_on_name(pg_host *p, const char *before, const char *name, const char *after,
                    mh_error *e) {
        _cleanup_free_ char *q = NULL, *sql = NULL;
        int r;

        r = pg_quote_ident(p, name, &q, e);
        if (r < 0)
                return r;
        if (asprintf(&sql, "%s%s%s", before, q, after) < 0) {
                sql = NULL;
                return -ENOMEM;
        }
        return pg_admin_one(p, sql, NULL, e);
}

int pg_terminate(pg_host *p, const char *database, mh_error *e) {
        mh_postgresql_disconnect(pg_host_of(p), database);
        return pg_admin_one(p,
                            "SELECT count(pg_terminate_backend(pid, " PG_TERMINATE_WAIT ")) "
                            "FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                            database, e);
}

void pg_close_all(pg_host *p) {
        for (size_t i = 0; i < p->n_conns; i++) {
                if (p->conns[i].conn)
                        PQfinish(p->conns[i].conn);
                free(p->conns[i].database);
        }
        free(p->conns);
        p->conns = NULL;
        p->n_conns = 0;
        p->forward = mh_ssh_forward_free(p->forward);
}

bool pg_has_live_conn(pg_host *p, const char *database) {
        pg_conn *c = find_conn(p, database);

        return c && c->conn && PQstatus(c->conn) == CONNECTION_OK;
}
