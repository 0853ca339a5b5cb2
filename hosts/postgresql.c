/* SPDX-License-Identifier: MIT */
/*
 * The `postgresql` host type: a systemd host (its services and backup
 * paths) whose PostgreSQL databases are backed up as template copies on the
 * server itself (CREATE DATABASE copy TEMPLATE db) and restored by
 * re-creating each database from its copy, only when something changed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>

#include <mhc/log.h>
#include <mhc/sys/host.h>

#include "macro.h"
#include "postgresql.h"

#define NAME_MAX_BYTES    63 /* NAMEDATALEN - 1 */
#define COPY_PREFIX       "mhcbk_"
#define TERMINATE_WAIT_MS "5000"

typedef struct pg_conn {
        char *database;
        PGconn *conn;
} pg_conn;

/* The settings of config: of a postgresql host (the systemd type's come too). */
typedef struct pg_settings {
        unsigned port;
        char *user;
        char *password; /* secret, from password: or password_file: */
        mh_strv databases; /* empty: discover at backup */
        char *dbname;
        unsigned sslmode;
} pg_settings;

/* The first is the default. */
static const char *const sslmodes[] = { "prefer",  "disable",   "allow",
                                        "require", "verify-ca", "verify-full", NULL };

/* clang-format off */
static const mh_setting pg_settings_table[] = {
        { "port",          MH_SETTING_INTEGER,     offsetof(pg_settings, port), .max = 65535 },
        { "user",          MH_SETTING_STRING,      offsetof(pg_settings, user), MH_SETTING_REQUIRED },
        { "password",      MH_SETTING_SECRET,      offsetof(pg_settings, password) },
        { "password_file", MH_SETTING_SECRET_FILE, offsetof(pg_settings, password) },
        { "databases",     MH_SETTING_STRINGS,     offsetof(pg_settings, databases),
          .max = NAME_MAX_BYTES, .item = "database" },
        { "dbname",        MH_SETTING_STRING,      offsetof(pg_settings, dbname) },
        { "sslmode",       MH_SETTING_CHOICE,      offsetof(pg_settings, sslmode),
          .choices = sslmodes },
        {}
};
/* clang-format on */

typedef struct pg_host {
        mh_systemd_host base; /* the systemd type's object, mh_host first */
        const pg_settings *settings;
        /* the settings with their defaults */
        unsigned port;
        const char *dbname;
        const char *sslmode;
        pg_conn *conns;
        size_t n_conns;
} pg_host;

/* What a backup keeps in memory: the parent type's data and the server's state. */
typedef struct pg_backup {
        void *parent_data;  /* the systemd type's b->data */
        mh_strv databases;     /* backed up */
        mh_strv copies;        /* their template copies, same order */
        mh_strv owners;        /* their owners, same order */
        mh_strv sequences;     /* their sequences' state, same order */
        mh_strv all_databases; /* every database at backup time */
        mh_strv roles;         /* every role at backup time */
        char *lsn;          /* WAL insert position after the backup or last restore */
} pg_backup;

static mh_host *host_of(pg_host *p) {
        return &p->base.base;
}

MH_DEFINE_HOST_CAST(pg, pg_host, mh_host_type_postgresql);

static const char *hostname(const mh_host *h) {
        return mh_host_config_hostname(h->config);
}

/* --- config: ------------------------------------------------------------- */

static int pg_check(const mh_host_config *h, const void *settings, mh_error *e) {
        const pg_settings *s = settings;
        const char *dbname = s->dbname ?: "postgres";

        if (mh_strv_contains(&s->databases, dbname))
                return mh_host_config_fail_setting(
                        h, "databases", SIZE_MAX, e,
                        "database '%s' is the 'dbname' used for administration and cannot "
                        "be backed up; set 'dbname' to another database",
                        dbname);
        return 0;
}

static int pg_init(mh_host *h, mh_error *e) {
        pg_host *p = pg(h);
        const pg_settings *s;
        int r;

        if (!p)
                return mh_error_set(e, -EINVAL, "host type '%s' does not extend postgresql",
                                    h->type->name);
        r = mh_host_type_systemd.init(h, e);
        if (r < 0)
                return r;
        s = p->settings = mh_host_settings(h, &mh_host_type_postgresql);
        p->port = s->port ?: 5432;
        p->dbname = s->dbname ?: "postgres";
        p->sslmode = sslmodes[s->sslmode];
        return 0;
}

static void pg_done(mh_host *h) {
        pg_host *p = pg(h);

        mh_host_type_systemd.done(h);
        if (!p)
                return;
        for (size_t i = 0; i < p->n_conns; i++) {
                if (p->conns[i].conn)
                        PQfinish(p->conns[i].conn);
                free(p->conns[i].database);
        }
        free(p->conns);
        p->conns = NULL;
        p->n_conns = 0;
}

/* --- connections ------------------------------------------------------------ */

/* libpq's message on one line, each line of it once (libpq repeats the
 * message of each attempt), without the password should it ever hold it. */
static void clean_message(const pg_host *p, const char *in, char *out, size_t size) {
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

        clean_message(p, PQresultErrorMessage(res), message, sizeof(message));
        mh_log(MH_LOG_DEBUG, mh_host_config_hostname(p->base.base.config), "PostgreSQL: %s",
               message);
}

static int pg_open(pg_host *p, const char *database, PGconn **ret, mh_error *e) {
        char port[16], timeout[16], message[MH_ERROR_MESSAGE_MAX];
        const char *address = mh_host_config_address(host_of(p)->config);
        const char *keys[] = { "host",
                               "port",
                               "user",
                               "dbname",
                               "sslmode",
                               "connect_timeout",
                               "application_name",
                               "password",
                               NULL };
        const char *values[ELEMENTSOF(keys)];
        PGconn *conn;
        int code;

        snprintf(port, sizeof(port), "%u", p->port);
        snprintf(timeout, sizeof(timeout), "%u",
                 mh_host_config_connect_timeout(host_of(p)->config));
        values[0] = address;
        values[1] = port;
        values[2] = p->settings->user;
        values[3] = database;
        values[4] = p->sslmode;
        values[5] = timeout;
        values[6] = "mhc";
        values[7] = p->settings->password; /* NULL: ignored (then ~/.pgpass) */
        values[8] = NULL;

        conn = PQconnectdbParams(keys, values, 0);
        if (!conn)
                return -ENOMEM;
        if (PQstatus(conn) == CONNECTION_OK) {
                PQsetNoticeReceiver(conn, notice_receiver, p);
                *ret = conn;
                return 0;
        }

        clean_message(p, PQerrorMessage(conn), message, sizeof(message));
        PQfinish(conn);
        if (strstr(message, "authentication failed") || strstr(message, "no password supplied"))
                code = -MH_ERR_AUTH;
        else if (strstr(message, "timeout expired"))
                code = -ETIMEDOUT;
        else
                code = -MH_ERR_COMMAND;
        return mh_error_set(e, code, "cannot connect to PostgreSQL database '%s' as '%s': %s",
                            database, p->settings->user, message);
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
static void pg_after_fork(mh_host *h) {
        pg_host *p = pg(h);

        /* Not closed: PQfinish() would end the parent's sessions on the server. */
        for (size_t i = 0; p && i < p->n_conns; i++)
                p->conns[i].conn = NULL;
}

/* The cached connection to database, opened when missing or broken; borrowed. */
static int get_conn(pg_host *p, const char *database, PGconn **ret, mh_error *e) {
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
                mh_log(MH_LOG_DEBUG, hostname(host_of(p)), "connected to PostgreSQL database '%s'",
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

        clean_message(p, primary ?: PQerrorMessage(conn), message, sizeof(message));
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

                r = get_conn(p, database, &conn, e);
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
                        mh_log(MH_LOG_DEBUG, hostname(h),
                               "connection to PostgreSQL database '%s' lost, reconnecting",
                               database);
                        mh_postgresql_disconnect(h, database);
                        continue;
                }
                return sql_error(p, res, conn, sql, e);
        }
}

/* --- administration ------------------------------------------------------ */

static int admin(pg_host *p, const char *sql, int n_params, const char *const *params,
                 PGresult **ret, mh_error *e) {
        _cleanup_(PQclearp) PGresult *res = NULL;
        int r;

        r = mh_postgresql_exec(host_of(p), NULL, sql, n_params, params, &res, e);
        if (r < 0)
                return r;
        if (ret)
                *ret = TAKE_PTR(res);
        return 0;
}

static int admin_one(pg_host *p, const char *sql, const char *param, mh_error *e) {
        return admin(p, sql, param ? 1 : 0, param ? &param : NULL, NULL, e);
}

/* The first column of every row of a query in database, as strings. */
static int query_strv(pg_host *p, const char *database, const char *sql, int n_params,
                      const char *const *params, mh_strv *ret, mh_error *e) {
        _cleanup_(PQclearp) PGresult *res = NULL;
        mh_strv v = {};
        int r;

        r = mh_postgresql_exec(host_of(p), database, sql, n_params, params, &res, e);
        if (r < 0)
                return r;
        for (int i = 0; i < PQntuples(res); i++) {
                r = mh_strv_consume(&v, strdup(PQgetisnull(res, i, 0) ? "" : PQgetvalue(res, i, 0)));
                if (r < 0) {
                        mh_strv_dispose(&v);
                        return r;
                }
        }
        *ret = v;
        return 0;
}

/* The single value of a query in database. */
static int query_value(pg_host *p, const char *database, const char *sql, int n_params,
                       const char *const *params, char **ret, mh_error *e) {
        mh_strv v = {};
        int r;

        r = query_strv(p, database, sql, n_params, params, &v, e);
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
static int quote_ident(pg_host *p, const char *name, char **ret, mh_error *e) {
        PGconn *conn;
        char *q, *copy;
        int r;

        r = get_conn(p, p->dbname, &conn, e);
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
static int exec_on_name(pg_host *p, const char *before, const char *name, const char *after,
                        mh_error *e) {
        _cleanup_free_ char *q = NULL, *sql = NULL;
        int r;

        r = quote_ident(p, name, &q, e);
        if (r < 0)
                return r;
        if (asprintf(&sql, "%s%s%s", before, q, after) < 0) {
                sql = NULL;
                return -ENOMEM;
        }
        return admin_one(p, sql, NULL, e);
}

/* End every other session on database: CREATE/DROP DATABASE need it alone. */
static int terminate(pg_host *p, const char *database, mh_error *e) {
        mh_postgresql_disconnect(host_of(p), database);
        return admin_one(p,
                         "SELECT count(pg_terminate_backend(pid, " TERMINATE_WAIT_MS ")) "
                         "FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                         database, e);
}

static int drop_database(pg_host *p, const char *database, mh_error *e) {
        int r;

        r = terminate(p, database, e);
        if (r >= 0)
                r = exec_on_name(p, "DROP DATABASE IF EXISTS ", database, " WITH (FORCE)", e);
        if (r < 0)
                mh_error_prefix(e, "cannot drop database '%s'", database);
        return r;
}

/* CREATE DATABASE target TEMPLATE source [OWNER owner]. */
static int copy_database(pg_host *p, const char *source, const char *target, const char *owner,
                         mh_error *e) {
        _cleanup_free_ char *qs = NULL, *qt = NULL, *qo = NULL, *sql = NULL;
        int r;

        r = terminate(p, source, e);
        if (r >= 0)
                r = quote_ident(p, source, &qs, e);
        if (r >= 0)
                r = quote_ident(p, target, &qt, e);
        if (r >= 0 && owner)
                r = quote_ident(p, owner, &qo, e);
        if (r < 0)
                return r;
        if (asprintf(&sql, "CREATE DATABASE %s TEMPLATE %s%s%s", qt, qs, qo ? " OWNER " : "",
                     qo ?: "") < 0) {
                sql = NULL;
                return -ENOMEM;
        }
        r = admin_one(p, sql, NULL, e);
        if (r < 0)
                mh_error_prefix(e, "cannot copy database '%s' to '%s'", source, target);
        return r;
}

/* The state of every sequence of database, which nextval() changes without writing WAL. */
static int sequences_state(pg_host *p, const char *database, char **ret, mh_error *e) {
        return query_value(p, database,
                           "SELECT coalesce(string_agg(c.oid::text || '=' || "
                           "coalesce(pg_sequence_last_value(c.oid)::text, '-'), ',' "
                           "ORDER BY c.oid), '') FROM pg_class c "
                           "WHERE c.relkind = 'S' AND c.relpersistence <> 't'",
                           0, NULL, ret, e);
}

/* The WAL insert position: it moves with every logged change, even one not yet written. */
static int wal_position(pg_host *p, char **ret, mh_error *e) {
        return query_value(p, NULL, "SELECT pg_current_wal_insert_lsn()::text", 0, NULL, ret, e);
}

/* A name for the template copy of database in backup: unique to the run,
 * the backup and the database, at most 63 bytes, readable where it fits. */
static int copy_name(pg_host *p, const char *backup, const char *database, char **ret) {
        const char *parts[] = { strempty(host_of(p)->run_dir), backup, database };
        uint64_t hash = 0xcbf29ce484222325ULL;
        char name[NAME_MAX_BYTES + 1];
        size_t n;

        for (size_t i = 0; i < ELEMENTSOF(parts); i++)
                for (const char *s = parts[i];; s++) {
                        hash = (hash ^ (unsigned char) *s) * 0x100000001b3ULL;
                        if (!*s)
                                break;
                }
        n = (size_t) snprintf(name, sizeof(name), COPY_PREFIX "%016llx_",
                              (unsigned long long) hash);
        for (const char *s = backup; *s && n < NAME_MAX_BYTES; s++)
                name[n++] = (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ? *s : '_';
        if (n < NAME_MAX_BYTES)
                name[n++] = '_';
        for (const char *s = database; *s && n < NAME_MAX_BYTES; s++)
                name[n++] = (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ? *s : '_';
        name[n] = '\0';

        *ret = strdup(name);
        return *ret ? 0 : -ENOMEM;
}

/* --- backup, restore, drop ------------------------------------------------- */

static pg_backup *pg_backup_free(pg_backup *d) {
        if (!d)
                return NULL;
        mh_strv_dispose(&d->databases);
        mh_strv_dispose(&d->copies);
        mh_strv_dispose(&d->owners);
        mh_strv_dispose(&d->sequences);
        mh_strv_dispose(&d->all_databases);
        mh_strv_dispose(&d->roles);
        free(d->lsn);
        free(d);
        return NULL;
}

static void pg_backup_freep(pg_backup **d) {
        pg_backup_free(*d);
}

/* Call a slot of the parent type with its own b->data in place. */
#define CALL_PARENT(slot, h, b, d, ...)                                  \
        ({                                                               \
                int _r;                                                  \
                (b)->data = (d)->parent_data;                            \
                _r = mh_host_type_systemd.slot((h), (b), ##__VA_ARGS__); \
                (d)->parent_data = (b)->data;                            \
                (b)->data = (d);                                         \
                _r;                                                      \
        })

/* Record the state that tells whether the databases changed since now. */
static int record_state(pg_host *p, pg_backup *d, mh_error *e) {
        mh_strv sequences = {};
        char *lsn = NULL;
        int r = 0;

        for (size_t i = 0; r >= 0 && i < d->databases.n; i++) {
                char *s = NULL;

                r = sequences_state(p, d->databases.items[i], &s, e);
                if (r >= 0)
                        r = mh_strv_consume(&sequences, s);
        }
        if (r >= 0)
                r = wal_position(p, &lsn, e);
        if (r < 0) {
                mh_strv_dispose(&sequences);
                return r;
        }
        mh_strv_dispose(&d->sequences);
        d->sequences = sequences;
        free(d->lsn);
        d->lsn = lsn;
        return 0;
}

static int write_state(pg_host *p, const mh_backup *b, const pg_backup *d, mh_error *e);

static int take_backup(pg_host *p, mh_backup *b, pg_backup *d, mh_error *e) {
        const char *params[] = { p->dbname };
        int r;

        if (p->settings->databases.n > 0) {
                for (size_t i = 0; i < p->settings->databases.n; i++) {
                        r = mh_strv_consume(&d->databases, strdup(p->settings->databases.items[i]));
                        if (r < 0)
                                return r;
                }
        } else {
                r = query_strv(p, NULL,
                               "SELECT datname FROM pg_database WHERE NOT datistemplate AND "
                               "datallowconn AND datname <> 'postgres' AND datname <> $1 AND "
                               "datname NOT LIKE '" COPY_PREFIX "%' ORDER BY datname",
                               1, params, &d->databases, e);
                if (r < 0)
                        return r;
        }
        r = query_strv(p, NULL, "SELECT datname FROM pg_database ORDER BY datname", 0, NULL,
                       &d->all_databases, e);
        if (r >= 0)
                r = query_strv(p, NULL, "SELECT rolname FROM pg_roles ORDER BY rolname", 0, NULL,
                               &d->roles, e);
        if (r < 0)
                return r;

        for (size_t i = 0; i < d->databases.n; i++) {
                const char *db = d->databases.items[i];
                char *owner = NULL, *copy = NULL;

                if (!mh_strv_contains(&d->all_databases, db))
                        return mh_error_set(e, -MH_ERR_CONFIG,
                                            "database '%s' of config 'databases' does not exist",
                                            db);
                r = query_value(
                        p, NULL,
                        "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", 1,
                        &db, &owner, e);
                if (r >= 0)
                        r = mh_strv_consume(&d->owners, owner);
                if (r >= 0)
                        r = copy_name(p, b->name, db, &copy);
                if (r >= 0)
                        r = mh_strv_consume(&d->copies, copy);
                if (r < 0)
                        return r;
        }

        /* Written down before the copies exist, so that a later run can drop
         * them if this one dies half-way. */
        r = write_state(p, b, d, e);
        for (size_t i = 0; r >= 0 && i < d->databases.n; i++) {
                /* an earlier backup of that name may have left its copy behind */
                r = drop_database(p, d->copies.items[i], e);
                if (r >= 0)
                        r = copy_database(p, d->databases.items[i], d->copies.items[i], NULL, e);
        }
        if (r < 0)
                return r;
        return record_state(p, d, e);
}

/*
 * What load() needs, in b->dir/postgresql: records of NUL-ended fields
 * (names may hold any byte but NUL): "D" database copy owner, "A" name (a
 * database at backup time), "R" name (a role).
 */
#define STATE_FILE "postgresql"
#define STATE_MAX ((size_t) 16 << 20)

static int write_state(pg_host *p, const mh_backup *b, const pg_backup *d, mh_error *e) {
        _cleanup_free_ char *path = NULL;
        mh_buf out = { .max = STATE_MAX };
        int r = 0;

        for (size_t i = 0; r >= 0 && i < d->databases.n; i++)
                r = mh_buf_printf(&out, "D%c%s%c%s%c%s%c", 0, d->databases.items[i], 0,
                                  d->copies.items[i], 0, d->owners.items[i], 0);
        for (size_t i = 0; r >= 0 && i < d->all_databases.n; i++)
                r = mh_buf_printf(&out, "A%c%s%c", 0, d->all_databases.items[i], 0);
        for (size_t i = 0; r >= 0 && i < d->roles.n; i++)
                r = mh_buf_printf(&out, "R%c%s%c", 0, d->roles.items[i], 0);
        if (r < 0 || asprintf(&path, "%s/" STATE_FILE, b->dir) < 0) {
                path = NULL;
                mh_buf_dispose(&out);
                return mh_error_set(e, r < 0 ? r : -ENOMEM, "the PostgreSQL state is too large");
        }
        r = mh_ssh_write_file(host_of(p)->ssh, path, strempty(out.data), out.size, 0600, e);
        mh_buf_dispose(&out);
        return r;
}

/* The next NUL-ended field of [*at, end) into *ret (borrowed), or -EBADMSG. */
static int next_field(const char **at, const char *end, const char **ret) {
        const char *nul = memchr(*at, '\0', (size_t) (end - *at));

        if (!nul)
                return -EBADMSG;
        *ret = *at;
        *at = nul + 1;
        return 0;
}

static int read_state(pg_host *p, const mh_backup *b, pg_backup *d, mh_error *e) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        const char *at, *end;
        size_t size;
        int r;

        if (asprintf(&path, "%s/" STATE_FILE, b->dir) < 0) {
                path = NULL;
                return -ENOMEM;
        }
        r = mh_ssh_read_file(host_of(p)->ssh, path, STATE_MAX, &text, &size, e);
        if (r < 0)
                return r;
        for (at = text, end = text + size; r >= 0 && at < end;) {
                const char *kind, *a, *c, *o;

                r = next_field(&at, end, &kind);
                if (r >= 0)
                        r = next_field(&at, end, &a);
                if (r < 0)
                        break;
                if (streq(kind, "D")) {
                        r = next_field(&at, end, &c);
                        if (r >= 0)
                                r = next_field(&at, end, &o);
                        if (r >= 0)
                                r = mh_strv_consume(&d->databases, strdup(a));
                        if (r >= 0)
                                r = mh_strv_consume(&d->copies, strdup(c));
                        if (r >= 0)
                                r = mh_strv_consume(&d->owners, strdup(o));
                } else if (streq(kind, "A"))
                        r = mh_strv_consume(&d->all_databases, strdup(a));
                else if (streq(kind, "R"))
                        r = mh_strv_consume(&d->roles, strdup(a));
                else
                        r = -EBADMSG;
        }
        if (r == -EBADMSG)
                return mh_error_set(e, r, "%s: not a PostgreSQL state that mhc wrote", path);
        return r < 0 ? mh_error_oom(e) : 0;
}

/* Drop the template copies of d (best effort when e is NULL). */
static int drop_copies(pg_host *p, pg_backup *d, mh_error *e) {
        int r = 0;

        for (size_t i = 0; i < d->copies.n; i++) {
                int k = drop_database(p, d->copies.items[i], e);

                if (k < 0 && r == 0)
                        r = k;
        }
        return r;
}

static int pg_backup_slot(mh_host *h, mh_backup *b, mh_error *e) {
        _cleanup_(pg_backup_freep) pg_backup *d = NULL;
        pg_host *p = pg(h);
        uint64_t start = mh_now_usec();
        int r;

        if (!p)
                return mh_error_set(e, -EINVAL, "host type '%s' does not extend postgresql",
                                    h->type->name);
        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->parent_data = b->data;
        r = CALL_PARENT(backup, h, b, d, e);
        if (r < 0) {
                /* what the parent kept of its failed backup is its to free */
                if (d->parent_data)
                        (void) CALL_PARENT(drop, h, b, d, NULL);
                b->data = NULL;
                return r;
        }

        r = take_backup(p, b, d, e);
        if (r < 0) {
                drop_copies(p, d, NULL);
                (void) CALL_PARENT(drop, h, b, d, NULL);
                b->data = NULL;
                return r;
        }

        mh_log(MH_LOG_DEBUG, hostname(h), "backup '%s': %zu database(s) copied in %.1f ms", b->name,
               d->databases.n, (double) (mh_now_usec() - start) / 1000.0);
        b->data = TAKE_PTR(d);
        return 0;
}

/* Whether nothing changed since d's state was recorded: one query when WAL moved. */
static int is_unchanged(pg_host *p, pg_backup *d, bool *ret, mh_error *e) {
        _cleanup_free_ char *lsn = NULL;
        int r;

        r = wal_position(p, &lsn, e);
        if (r < 0)
                return r;
        if (!d->lsn || d->sequences.n != d->databases.n || !streq(lsn, d->lsn)) {
                mh_log(MH_LOG_DEBUG, hostname(host_of(p)), "WAL moved from %s to %s", d->lsn, lsn);
                *ret = false;
                return 0;
        }
        for (size_t i = 0; i < d->databases.n; i++) {
                _cleanup_free_ char *s = NULL;

                r = sequences_state(p, d->databases.items[i], &s, e);
                if (r < 0)
                        return r;
                if (!streq(s, d->sequences.items[i])) {
                        mh_log(MH_LOG_DEBUG, hostname(host_of(p)),
                               "a sequence of database '%s' moved", d->databases.items[i]);
                        *ret = false;
                        return 0;
                }
        }
        *ret = true;
        return 0;
}

/* Drop a role created after the backup, with what it owns or was granted. */
static int drop_role(pg_host *p, const char *role, mh_error *e) {
        _cleanup_free_ char *q = NULL, *sql = NULL;
        mh_error first = MH_ERROR_INIT;
        mh_strv dbs = {};
        int r;

        r = quote_ident(p, role, &q, e);
        if (r < 0)
                return r;
        if (asprintf(&sql, "DROP ROLE IF EXISTS %s", q) < 0) {
                sql = NULL;
                return -ENOMEM;
        }
        r = admin_one(p, sql, NULL, &first);
        if (r >= 0)
                return 0;
        if (!strstr(first.message, "SQL error 2BP01"))
                return mh_error_set(e, r, "%s", first.message);

        /* it owns objects or holds privileges: DROP OWNED in every database */
        free(sql);
        if (asprintf(&sql, "DROP OWNED BY %s", q) < 0) {
                sql = NULL;
                return -ENOMEM;
        }
        r = query_strv(p, NULL,
                       "SELECT datname FROM pg_database WHERE datallowconn "
                       "ORDER BY datname",
                       0, NULL, &dbs, e);
        for (size_t i = 0; r >= 0 && i < dbs.n; i++) {
                _cleanup_(PQclearp) PGresult *res = NULL;

                r = mh_postgresql_exec(host_of(p), dbs.items[i], sql, 0, NULL, &res, e);
        }
        mh_strv_dispose(&dbs);
        if (r >= 0)
                r = exec_on_name(p, "DROP ROLE IF EXISTS ", role, "", e);
        return r;
}

static int recreate(pg_host *p, pg_backup *d, mh_error *e) {
        mh_strv now = {};
        int r = 0;

        for (size_t i = 0; r >= 0 && i < d->databases.n; i++) {
                const char *db = d->databases.items[i];

                r = drop_database(p, db, e);
                if (r >= 0)
                        r = copy_database(p, d->copies.items[i], db, d->owners.items[i], e);
        }
        if (r < 0)
                return r;

        /* databases made since the backup */
        r = query_strv(p, NULL,
                       "SELECT datname FROM pg_database WHERE NOT datistemplate AND "
                       "datname <> 'postgres' AND datname NOT LIKE '" COPY_PREFIX "%'",
                       0, NULL, &now, e);
        for (size_t i = 0; r >= 0 && i < now.n; i++)
                if (!mh_strv_contains(&d->all_databases, now.items[i]) &&
                    !streq(now.items[i], p->dbname)) {
                        mh_log(MH_LOG_DEBUG, hostname(host_of(p)), "dropping new database '%s'",
                               now.items[i]);
                        r = drop_database(p, now.items[i], e);
                }
        mh_strv_dispose(&now);
        if (r < 0)
                return r;

        /* roles made since the backup */
        r = query_strv(p, NULL, "SELECT rolname FROM pg_roles WHERE rolname NOT LIKE 'pg\\_%'", 0,
                       NULL, &now, e);
        for (size_t i = 0; r >= 0 && i < now.n; i++)
                if (!mh_strv_contains(&d->roles, now.items[i])) {
                        mh_log(MH_LOG_DEBUG, hostname(host_of(p)), "dropping new role '%s'",
                               now.items[i]);
                        r = drop_role(p, now.items[i], e);
                        if (r < 0)
                                mh_error_prefix(e, "cannot drop role '%s'", now.items[i]);
                }
        mh_strv_dispose(&now);
        return r;
}

static int pg_restore(mh_host *h, mh_backup *b, const mh_restore_options *options, mh_error *e) {
        pg_backup *d = b->data;
        pg_host *p = pg(h);
        uint64_t start = mh_now_usec();
        bool unchanged = false;
        int r;

        if (!d)
                return mh_error_set(e, -EINVAL, "backup '%s' holds no PostgreSQL state", b->name);

        r = CALL_PARENT(restore, h, b, d, options, e);
        if (r < 0)
                return r;

        if (!options || !options->full) {
                r = is_unchanged(p, d, &unchanged, e);
                if (r < 0)
                        return r;
        }
        if (unchanged) {
                mh_log(MH_LOG_DEBUG, hostname(h),
                       "restore '%s': databases unchanged, skipped (%.1f ms)", b->name,
                       (double) (mh_now_usec() - start) / 1000.0);
                return 0;
        }

        r = recreate(p, d, e);
        if (r >= 0)
                r = record_state(p, d, e);
        if (r < 0)
                return r;
        mh_log(MH_LOG_DEBUG, hostname(h), "restore '%s': %zu database(s) re-created (%.1f ms)",
               b->name, d->databases.n, (double) (mh_now_usec() - start) / 1000.0);
        return 0;
}

static int pg_load(mh_host *h, mh_backup *b, mh_error *e) {
        _cleanup_(pg_backup_freep) pg_backup *d = NULL;
        pg_host *p = pg(h);
        int r;

        if (!p)
                return mh_error_set(e, -EINVAL, "host type '%s' does not extend postgresql",
                                    h->type->name);
        d = calloc(1, sizeof(*d));
        if (!d)
                return mh_error_oom(e);
        /* What the state file lists is dropped even if the parent's part is damaged. */
        r = read_state(p, b, d, e);
        if (r >= 0)
                r = CALL_PARENT(load, h, b, d, e);
        b->data = TAKE_PTR(d);
        return r;
}

static int pg_drop(mh_host *h, mh_backup *b, mh_error *e) {
        pg_backup *d = b->data;
        pg_conn *admin_conn;
        pg_host *p = pg(h);
        int r = 0, k;

        if (!d)
                return mh_host_type_systemd.drop(h, b, e);

        /* without an error object (the host is being freed) only use a live connection */
        admin_conn = find_conn(p, p->dbname);
        if (e || (admin_conn && admin_conn->conn && PQstatus(admin_conn->conn) == CONNECTION_OK))
                r = drop_copies(p, d, e);

        k = CALL_PARENT(drop, h, b, d, e);
        if (k < 0 && r == 0)
                r = k;
        b->data = NULL;
        pg_backup_free(d);
        return r;
}

static int pg_start(mh_host *h, mh_error *e) {
        return mh_host_type_systemd.start(h, e);
}

static int pg_stop(mh_host *h, mh_error *e) {
        pg_host *p = pg(h);

        /* the server ends our sessions */
        for (size_t i = 0; p && i < p->n_conns; i++)
                mh_postgresql_disconnect(h, p->conns[i].database);
        return mh_host_type_systemd.stop(h, e);
}

static int pg_ready(mh_host *h, unsigned timeout_msec, mh_error *e) {
        return mh_host_type_systemd.ready(h, timeout_msec, e);
}

const mh_host_type mh_host_type_postgresql = {
        .abi = MH_HOST_TYPE_ABI,
        .name = "postgresql",
        .size = sizeof(pg_host),
        .parent = &mh_host_type_systemd,
        .keys = MH_HOST_KEY_SERVICES | MH_HOST_KEY_BACKUP_PATHS,
        .settings = pg_settings_table,
        .settings_size = sizeof(pg_settings),
        .check = pg_check,
        .init = pg_init,
        .done = pg_done,
        .after_fork = pg_after_fork,
        .start = pg_start,
        .stop = pg_stop,
        .ready = pg_ready,
        .backup = pg_backup_slot,
        .restore = pg_restore,
        .load = pg_load,
        .drop = pg_drop,
};
