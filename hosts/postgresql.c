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
#include <time.h>

#include <mhc/log.h>
#include <mhc/sys/host.h>

#include "macro.h"
#include "postgresql.h"

#define NAME_MAX_BYTES PG_NAME_MAX
#define COPY_PREFIX    PG_COPY_PREFIX

const char *const pg_sslmodes[] = { "",        "disable",   "allow",       "prefer",
                                    "require", "verify-ca", "verify-full", NULL };

static const char *const connects[] = { "ssh", "tcp", NULL };

/* clang-format off */
static const mh_setting pg_settings_table[] = {
        { "port",          MH_SETTING_INTEGER,     offsetof(pg_settings, port), .max = 65535 },
        { "user",          MH_SETTING_STRING,      offsetof(pg_settings, user), MH_SETTING_REQUIRED },
        { "password",      MH_SETTING_SECRET,      offsetof(pg_settings, password) },
        { "password_file", MH_SETTING_SECRET_FILE, offsetof(pg_settings, password) },
        { "databases",     MH_SETTING_STRINGS,     offsetof(pg_settings, databases),
          .max = NAME_MAX_BYTES, .item = "database" },
        { "dbname",        MH_SETTING_STRING,      offsetof(pg_settings, dbname) },
        { "connect",       MH_SETTING_CHOICE,      offsetof(pg_settings, connect),
          .choices = connects },
        { "sslmode",       MH_SETTING_CHOICE,      offsetof(pg_settings, sslmode),
          .choices = pg_sslmodes },
        { "sslrootcert",   MH_SETTING_FILE,        offsetof(pg_settings, sslrootcert) },
        { "socket_dir",    MH_SETTING_STRING,      offsetof(pg_settings, socket_dir) },
        {}
};
/* clang-format on */

/* What a backup keeps in memory: the parent type's data and the server's state. */
static const char *hostname(const mh_host *h) {
        return mh_host_config_hostname(h->config);
}

/* --- config: ------------------------------------------------------------- */

static int pg_check(const mh_host_config *h, const void *settings, mh_error *e) {
        const pg_settings *s = settings;

        if (s->connect == PG_CONNECT_SSH && s->sslmode)
                return mh_host_config_fail_setting(
                        h, "sslmode", SIZE_MAX, e,
                        "'sslmode' applies to 'connect: tcp' only: with 'connect: ssh' (the "
                        "default) the host's SSH connection encrypts the traffic");
        if (s->connect == PG_CONNECT_SSH && s->sslrootcert)
                return mh_host_config_fail_setting(
                        h, "sslrootcert", SIZE_MAX, e,
                        "'sslrootcert' applies to 'connect: tcp' only: with 'connect: ssh' (the "
                        "default) the host's SSH connection encrypts the traffic");
        if (s->connect == PG_CONNECT_TCP && s->socket_dir)
                return mh_host_config_fail_setting(
                        h, "socket_dir", SIZE_MAX, e,
                        "'socket_dir' applies to 'connect: ssh' only (the server's Unix socket "
                        "is reached through SSH)");
        if (s->socket_dir && s->socket_dir[0] != '/')
                return mh_host_config_fail_setting(
                        h, "socket_dir", SIZE_MAX, e,
                        "'socket_dir' must be an absolute path on the host, not '%s'",
                        s->socket_dir);
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
        /* through SSH, libpq speaks to a local Unix socket: never TLS there */
        p->sslmode = s->sslmode                     ? pg_sslmodes[s->sslmode]
                     : s->connect == PG_CONNECT_TCP ? "verify-full"
                                                    : "disable";
        return 0;
}

static void pg_done(mh_host *h) {
        pg_host *p = pg(h);

        mh_host_type_systemd.done(h);
        if (!p)
                return;
        pg_close_all(p);
        free(p->backups);
        p->backups = NULL;
        p->n_backups = 0;
}

static int drop_database(pg_host *p, const char *database, mh_error *e) {
        _cleanup_free_ char *template = NULL;
        int r;

        r = pg_terminate(p, database, e);
        /* a template database (template1, or one a test made so) cannot be dropped */
        if (r >= 0)
                r = pg_query_value(p, NULL,
                                   "SELECT count(*) FILTER (WHERE datistemplate) FROM pg_database "
                                   "WHERE datname = $1",
                                   1, &database, &template, e);
        if (r >= 0 && !streq(template, "0"))
                r = pg_exec_on_name(p, "ALTER DATABASE ", database, " IS_TEMPLATE false", e);
        if (r >= 0)
                r = pg_exec_on_name(p, "DROP DATABASE IF EXISTS ", database, " WITH (FORCE)", e);
        if (r < 0)
                mh_error_prefix(e, "cannot drop database '%s'", database);
        return r;
}

static int rename_database(pg_host *p, const char *from, const char *to, mh_error *e) {
        _cleanup_free_ char *qf = NULL, *qt = NULL, *sql = NULL;
        int r;

        r = pg_quote_ident(p, from, &qf, e);
        if (r >= 0)
                r = pg_quote_ident(p, to, &qt, e);
        if (r < 0)
                return r;
        if (asprintf(&sql, "ALTER DATABASE %s RENAME TO %s", qf, qt) < 0) {
                sql = NULL;
                return -ENOMEM;
        }
        return pg_admin_one(p, sql, NULL, e);
}

/* CREATE DATABASE target TEMPLATE source [OWNER owner]. */
static int copy_database(pg_host *p, const char *source, const char *target, const char *owner,
                         mh_error *e) {
        _cleanup_free_ char *qs = NULL, *qt = NULL, *qo = NULL, *sql = NULL;
        int r;

        r = pg_terminate(p, source, e);
        if (r >= 0)
                r = pg_quote_ident(p, source, &qs, e);
        if (r >= 0)
                r = pg_quote_ident(p, target, &qt, e);
        if (r >= 0 && owner)
                r = pg_quote_ident(p, owner, &qo, e);
        if (r < 0)
                return r;
        if (asprintf(&sql, "CREATE DATABASE %s TEMPLATE %s%s%s", qt, qs, qo ? " OWNER " : "",
                     qo ?: "") < 0) {
                sql = NULL;
                return -ENOMEM;
        }
        r = pg_admin_one(p, sql, NULL, e);
        if (r < 0)
                mh_error_prefix(e, "cannot copy database '%s' to '%s'", source, target);
        return r;
}

/* A name for the template copy of database in backup: unique to the run,
 * the backup and the database, at most 63 bytes, readable where it fits. */
static int copy_name(pg_host *p, const char *backup, const char *database, char **ret) {
        const char *parts[] = { strempty(pg_host_of(p)->run_dir), backup, database };
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

/* WAL read to tell which databases changed: more, and every database is re-created. */
#define WAL_READ_MAX ((uint64_t) 64 << 20)

/* One query: the WAL insert and flush positions, and a fingerprint of what changes
 * without WAL: ALTER SYSTEM's file and the (non-temporary) replication slots. */
#define CHECK_SQL                                                                             \
        "SELECT pg_current_wal_insert_lsn()::text, pg_current_wal_flush_lsn()::text, "        \
        "md5(coalesce(pg_read_file('postgresql.auto.conf', 0, 1048576, true), '') || '|' || " \
        "(SELECT coalesce(string_agg(slot_name || ' ' || slot_type || ' ' || "                \
        "coalesce(database, ''), ',' ORDER BY slot_name), '') FROM pg_replication_slots "     \
        "WHERE NOT temporary))"

/*
 * At backup, in each database: every sequence's state written again as it
 * is (setval() logs it and zeroes log_cnt), so that the next nextval()
 * writes WAL and is seen; and whether it holds unlogged relations, whose
 * changes write none.
 */
#define PREPARE_SQL                                                                       \
        "DO $$DECLARE s regclass; BEGIN FOR s IN SELECT c.oid::regclass FROM pg_class c " \
        "WHERE c.relkind = 'S' AND c.relpersistence = 'p' LOOP "                          \
        "EXECUTE format('SELECT setval(%L, last_value, is_called) FROM %s', s, s); "      \
        "END LOOP; END$$; "                                                               \
        "SELECT EXISTS (SELECT 1 FROM pg_class WHERE relpersistence = 'u')"

static pg_backup *pg_backup_free(pg_backup *d) {
        if (!d)
                return NULL;
        mh_pg_state_dispose(&d->state);
        mh_strv_dispose(&d->oids);
        mh_strv_dispose(&d->dirty);
        free(d->lsn);
        free(d->fingerprint);
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

typedef struct check_result {
        char *lsn, *flush, *fingerprint;
} check_result;

static void check_result_dispose(check_result *c) {
        free(c->lsn);
        free(c->flush);
        free(c->fingerprint);
}

static int check(pg_host *p, check_result *ret, mh_error *e) {
        _cleanup_(PQclearp) PGresult *res = NULL;
        int r;

        r = pg_admin(p, CHECK_SQL, 0, NULL, &res, e);
        if (r < 0)
                return r;
        if (PQntuples(res) != 1 || PQnfields(res) != 3)
                return mh_error_set(e, -MH_ERR_REMOTE, "unexpected answer to the WAL position");
        *ret = (check_result){ .lsn = strdup(PQgetvalue(res, 0, 0)),
                               .flush = strdup(PQgetvalue(res, 0, 1)),
                               .fingerprint = strdup(PQgetvalue(res, 0, 2)) };
        if (!ret->lsn || !ret->flush || !ret->fingerprint) {
                check_result_dispose(ret);
                return mh_error_oom(e);
        }
        return 0;
}

/* Keep c as what later restores compare with. */
static void keep_check(pg_backup *d, check_result *c) {
        free(d->lsn);
        free(d->fingerprint);
        d->lsn = TAKE_PTR(c->lsn);
        d->fingerprint = TAKE_PTR(c->fingerprint);
        check_result_dispose(c);
}

/* Record the state that tells whether anything changed since now. */
static int record_state(pg_host *p, pg_backup *d, mh_error *e) {
        check_result c;
        int r;

        r = check(p, &c, e);
        if (r < 0)
                return r;
        keep_check(d, &c);
        return 0;
}

/* The oids of the backed-up databases now, in their order ("" for one that is gone). */
static int database_oids(pg_host *p, const pg_backup *d, mh_strv *ret, mh_error *e) {
        _cleanup_(PQclearp) PGresult *res = NULL;
        mh_strv v = {};
        int r;

        r = pg_admin(p, "SELECT datname, oid FROM pg_database", 0, NULL, &res, e);
        for (size_t i = 0; r >= 0 && i < d->state.databases.n; i++) {
                const char *oid = "";

                for (int row = 0; row < PQntuples(res); row++)
                        if (streq(PQgetvalue(res, row, 0), d->state.databases.items[i]))
                                oid = PQgetvalue(res, row, 1);
                r = mh_strv_consume(&v, strdup(oid));
        }
        if (r < 0) {
                mh_strv_dispose(&v);
                return r;
        }
        *ret = v;
        return 0;
}

/* The databases of the cluster a test reaches through every session and every CREATE
 * DATABASE: always backed up. */
static bool is_cluster_database(pg_host *p, const char *db) {
        return streq(db, "template1") || streq(db, "postgres") || streq(db, p->dbname);
}

#define DISCOVER_SQL                                                                 \
        "SELECT datname FROM pg_database WHERE datallowconn AND " PG_NOT_MHC("datname") \
        " ORDER BY datname"

/* Which databases to back up: those of config (default: every one that accepts
 * connections) and those of the cluster, that exist. */
static int pick_databases(pg_host *p, pg_backup *d, mh_error *e) {
        mh_strv *dbs = &d->state.databases;
        int r;

        r = pg_query_strv(p, NULL, "SELECT datname FROM pg_database ORDER BY datname", 0, NULL,
                          &d->state.all_databases, e);
        if (r < 0)
                return r;
        if (p->settings->databases.n == 0)
                return pg_query_strv(p, NULL, DISCOVER_SQL, 0, NULL, dbs, e);
        for (size_t i = 0; i < p->settings->databases.n; i++) {
                const char *db = p->settings->databases.items[i];

                if (!mh_strv_contains(&d->state.all_databases, db))
                        return mh_error_set(e, -MH_ERR_CONFIG,
                                            "database '%s' of config 'databases' does not exist",
                                            db);
                if (!mh_strv_contains(dbs, db) && mh_strv_consume(dbs, strdup(db)) < 0)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < d->state.all_databases.n; i++) {
                const char *db = d->state.all_databases.items[i];

                if (is_cluster_database(p, db) && !mh_strv_contains(dbs, db) &&
                    mh_strv_consume(dbs, strdup(db)) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int take_backup(pg_host *p, mh_backup *b, pg_backup *d, mh_error *e) {
        _cleanup_(PQclearp) PGresult *where = NULL;
        int r;

        r = pick_databases(p, d, e);
        if (r >= 0)
                r = pg_query_strv(p, NULL, "SELECT rolname FROM pg_roles ORDER BY rolname", 0, NULL,
                                  &d->state.roles, e);
        /* where pg_waldump and the WAL are on the host */
        if (r >= 0)
                r = pg_admin(p,
                             "SELECT (SELECT setting FROM pg_config WHERE name = 'BINDIR') || "
                             "'/pg_waldump', current_setting('data_directory') || '/pg_wal'",
                             0, NULL, &where, e);
        if (r < 0)
                return r;
        d->state.waldump = strdup(PQgetvalue(where, 0, 0));
        d->state.waldir = strdup(PQgetvalue(where, 0, 1));
        if (!d->state.waldump || !d->state.waldir)
                return -ENOMEM;

        for (size_t i = 0; i < d->state.databases.n; i++) {
                const char *db = d->state.databases.items[i];
                _cleanup_(PQclearp) PGresult *res = NULL;
                char *owner = NULL, *copy = NULL, *oid = NULL;

                r = pg_query_value(p, NULL,
                                   "SELECT pg_get_userbyid(datdba) FROM pg_database "
                                   "WHERE datname = $1",
                                   1, &db, &owner, e);
                if (r >= 0)
                        r = mh_strv_consume(&d->state.owners, owner);
                if (r >= 0)
                        r = pg_query_value(p, NULL,
                                           "SELECT oid FROM pg_database WHERE datname = $1", 1, &db,
                                           &oid, e);
                if (r >= 0)
                        r = mh_strv_consume(&d->oids, strdup(oid));
                if (r >= 0)
                        r = mh_strv_consume(&d->state.oids, oid);
                if (r >= 0)
                        r = copy_name(p, b->name, db, &copy);
                if (r >= 0)
                        r = mh_strv_consume(&d->state.copies, copy);
                if (r >= 0)
                        r = mh_postgresql_exec(pg_host_of(p), db, PREPARE_SQL, -1, NULL, &res, e);
                if (r >= 0 && streq(PQgetvalue(res, 0, 0), "t"))
                        r = mh_strv_consume(&d->state.unlogged, strdup(db));
                if (r < 0)
                        return r;
        }
        r = pg_cluster_record(p, &d->state.cluster, e);
        if (r < 0)
                return r;

        /* Written down before the copies exist, so that a later run can drop
         * them if this one dies half-way. */
        r = mh_pg_state_write(pg_host_of(p), b, &d->state, e);
        for (size_t i = 0; r >= 0 && i < d->state.databases.n; i++) {
                /* an earlier backup of that name may have left its copy behind */
                r = drop_database(p, d->state.copies.items[i], e);
                if (r >= 0)
                        r = copy_database(p, d->state.databases.items[i], d->state.copies.items[i],
                                          NULL, e);
        }
        if (r < 0)
                return r;
        return record_state(p, d, e);
}

/* Drop the template copies of d (best effort when e is NULL). */
static int drop_copies(pg_host *p, pg_backup *d, mh_error *e) {
        int r = 0;

        for (size_t i = 0; i < d->state.copies.n; i++) {
                int k = drop_database(p, d->state.copies.items[i], e);

                if (k < 0 && r == 0)
                        r = k;
        }
        return r;
}

static void catch_up(pg_host *p, pg_backup *d);

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

        if (pg_news_add(p, d) < 0) {
                drop_copies(p, d, NULL);
                (void) CALL_PARENT(drop, h, b, d, NULL);
                b->data = NULL;
                return -ENOMEM;
        }
        catch_up(p, d);
        mh_log(MH_LOG_DEBUG, hostname(h), "backup '%s': %zu database(s) copied in %.1f ms", b->name,
               d->state.databases.n, (double) (mh_now_usec() - start) / 1000.0);
        b->data = TAKE_PTR(d);
        return 0;
}

/* Drop a role created after the backup, with what it owns or was granted. */
static int drop_role(pg_host *p, const char *role, mh_error *e) {
        _cleanup_free_ char *q = NULL, *sql = NULL;
        mh_error first = MH_ERROR_INIT;
        mh_strv dbs = {};
        int r;

        r = pg_quote_ident(p, role, &q, e);
        if (r < 0)
                return r;
        if (asprintf(&sql, "DROP ROLE IF EXISTS %s", q) < 0) {
                sql = NULL;
                return -ENOMEM;
        }
        r = pg_admin_one(p, sql, NULL, &first);
        if (r >= 0)
                return 0;
        if (!strstr(first.message, "SQL error 2BP01")) {
                r = mh_error_set(e, r, "%s", first.message);
                goto fail;
        }

        /* it owns objects or holds privileges: DROP OWNED in every database */
        free(sql);
        if (asprintf(&sql, "DROP OWNED BY %s", q) < 0) {
                sql = NULL;
                return -ENOMEM;
        }
        r = pg_query_strv(p, NULL,
                          "SELECT datname FROM pg_database WHERE datallowconn "
                          "ORDER BY datname",
                          0, NULL, &dbs, e);
        for (size_t i = 0; r >= 0 && i < dbs.n; i++) {
                _cleanup_(PQclearp) PGresult *res = NULL;

                r = mh_postgresql_exec(pg_host_of(p), dbs.items[i], sql, 0, NULL, &res, e);
                /* a session of ours would keep the database from being copied (template1
                 * by every CREATE DATABASE) or dropped */
                if (!streq(dbs.items[i], p->dbname))
                        mh_postgresql_disconnect(pg_host_of(p), dbs.items[i]);
        }
        mh_strv_dispose(&dbs);
        if (r >= 0)
                r = pg_exec_on_name(p, "DROP ROLE IF EXISTS ", role, "", e);
fail:
        if (r < 0)
                mh_error_prefix(e, "cannot drop role '%s'", role);
        return r;
}

/* For a backup of an older mhc (no shared state recorded): drop the databases and roles
 * made since, by name. */
static int drop_new_by_name(pg_host *p, pg_backup *d, mh_error *e) {
        mh_strv now = {};
        int r;

        r = pg_query_strv(p, NULL,
                          "SELECT datname FROM pg_database WHERE NOT datistemplate AND "
                          "datname NOT LIKE '" COPY_PREFIX "%'",
                          0, NULL, &now, e);
        for (size_t i = 0; r >= 0 && i < now.n; i++)
                if (!mh_strv_contains(&d->state.all_databases, now.items[i]))
                        r = drop_database(p, now.items[i], e);
        mh_strv_dispose(&now);
        if (r >= 0)
                r = pg_query_strv(p, NULL,
                                  "SELECT rolname FROM pg_roles WHERE rolname NOT LIKE 'pg\\_%'", 0,
                                  NULL, &now, e);
        for (size_t i = 0; r >= 0 && i < now.n; i++)
                if (!mh_strv_contains(&d->state.roles, now.items[i]))
                        r = drop_role(p, now.items[i], e);
        mh_strv_dispose(&now);
        return r;
}

/* name with its copy prefix replaced (same length): "mhcnw_..." for the database being made,
 * "mhcod_..." for the one it replaces, so that a restore cut short leaves them to drop. */
static void sibling_name(const char *copy, const char *prefix, char out[static PG_NAME_MAX + 1]) {
        snprintf(out, PG_NAME_MAX + 1, "%s%s", prefix, copy + strlen(COPY_PREFIX));
}

/*
 * Re-create database i of d from its copy, never without it for longer than
 * two renames: the copy is made under a name of its own, the database
 * renamed away, the copy renamed in, the old one dropped.  The admin
 * database (which cannot be renamed by its own sessions) goes through
 * another one.
 */
static int recreate_one(pg_host *p, pg_backup *d, size_t i, mh_error *e) {
        const char *db = d->state.databases.items[i], *copy = d->state.copies.items[i];
        const char *before = p->admin_db;
        char made[PG_NAME_MAX + 1], old[PG_NAME_MAX + 1];
        _cleanup_free_ char *exists = NULL;
        bool moved = streq(db, before ?: p->dbname);
        int r;

        sibling_name(copy, PG_NEW_PREFIX, made);
        sibling_name(copy, PG_OLD_PREFIX, old);
        /* its own sessions cannot rename it: administration moves (from template1, while
         * the gone dbname was administered from there, to postgres) */
        if (moved)
                p->admin_db = streq(db, "template1") ? "postgres" : "template1";
        r = drop_database(p, made, e);
        if (r >= 0)
                r = drop_database(p, old, e);
        if (r >= 0)
                r = copy_database(p, copy, made, d->state.owners.items[i], e);
        if (r >= 0)
                r = pg_query_value(p, NULL, "SELECT count(*) FROM pg_database WHERE datname = $1",
                                   1, &db, &exists, e);
        if (r >= 0 && !streq(exists, "0")) {
                r = pg_terminate(p, db, e);
                if (r >= 0)
                        r = rename_database(p, db, old, e);
        }
        if (r >= 0)
                r = rename_database(p, made, db, e);
        if (r >= 0)
                r = drop_database(p, old, e);
        if (moved) {
                /* never stay in template1: CREATE DATABASE needs it alone */
                mh_postgresql_disconnect(pg_host_of(p), p->admin_db);
                p->admin_db = before;
        }
        if (streq(db, p->dbname))
                p->admin_db = NULL; /* back */
        if (r < 0)
                mh_error_prefix(e, "cannot re-create database '%s'", db);
        return r;
}

/* Whether database i of d is re-created in pass (0: template1, 1: the others, 2: dbname):
 * template1 first, the admin database last, through template1. */
static bool in_pass(pg_host *p, pg_backup *d, size_t i, int pass) {
        const char *db = d->state.databases.items[i];

        if (streq(db, p->dbname))
                return pass == 2;
        if (streq(db, "template1"))
                return pass == 0;
        return pass == 1;
}

/*
 * Have the WAL written up to now->lsn, which pg_waldump reads from the
 * files: a record of an open transaction, or a nextval(), may stay in the
 * server's buffers for long.  A transactional logical message ("mhc") is
 * the one statement that writes WAL and waits for it to be flushed without
 * touching a database; now->lsn moves past it, so that the next check
 * does not see it as a change.
 */
static int flush_wal(pg_host *p, check_result *now, uint64_t *ret, mh_error *e) {
        _cleanup_free_ char *lsn = NULL;
        uint64_t flushed, at;
        int r;

        if (pg_lsn_parse(now->flush, &flushed) < 0 || pg_lsn_parse(now->lsn, &at) < 0)
                return mh_error_set(e, -EBADMSG, "unreadable WAL position");
        if (flushed >= at) {
                *ret = at;
                return 0;
        }
        r = pg_admin(p, "SELECT pg_logical_emit_message(true, 'mhc', 'flush')", 0, NULL, NULL, e);
        if (r >= 0)
                r = pg_query_value(p, NULL, "SELECT pg_current_wal_flush_lsn()::text", 0, NULL,
                                   &lsn, e);
        if (r >= 0 && pg_lsn_parse(lsn, &at) < 0)
                r = mh_error_set(e, -EBADMSG, "unreadable WAL position '%s'", lsn);
        if (r < 0)
                return r;
        free(now->lsn);
        now->lsn = TAKE_PTR(lsn);
        *ret = at;
        return 0;
}

/*
 * What the WAL from `from` up to now->lsn (which may move on) touched, by
 * pg_waldump on the host: the databases' oids into *ret_oids and whether
 * the shared catalogs changed; NULL, or why it cannot tell.
 */
static const char *read_wal(pg_host *p, const pg_state *st, const char *from, check_result *now,
                            mh_strv *ret_oids, bool *ret_shared, char *why, size_t size) {
        mh_error e = MH_ERROR_INIT;
        uint64_t a = 0, to = 0;
        unsigned flags = 0;
        const char *no = NULL;
        int r;

        r = pg_lsn_parse(from, &a);
        if (r < 0)
                r = mh_error_set(&e, r, "unreadable WAL position '%s'", strempty(from));
        if (r >= 0)
                r = flush_wal(p, now, &to, &e);
        if (r < 0 || to < a)
                no = r < 0 ? e.message : "the WAL went back";
        else if (to - a > WAL_READ_MAX)
                no = "too much WAL to read";
        else if (!st->waldump || !st->waldir)
                no = "no pg_waldump known";
        if (!no) {
                r = pg_wal_touched(p, st->waldump, st->waldir, from, now->lsn, ret_oids, &flags,
                                   &e);
                if (r < 0)
                        no = e.message;
                else if (flags & PG_WAL_UNKNOWN) {
                        mh_strv_dispose(ret_oids);
                        no = "a WAL record that names no database";
                }
        }
        if (no) {
                snprintf(why, size, "%s", no);
                return why;
        }
        *ret_shared = flags & PG_WAL_SHARED;
        return NULL;
}

/* Which databases changed since d->lsn, up to now->lsn (which may move on), by the WAL:
 * marks them in changed[]; *ret_shared when the shared catalogs did (or when it cannot
 * tell).  The other backups learn it too. */
static void changed_by_wal(pg_host *p, pg_backup *d, check_result *now, bool *changed,
                           bool *ret_shared) {
        char buf[MH_ERROR_MESSAGE_MAX];
        mh_strv oids = {};
        bool shared = false;
        const char *why = read_wal(p, &d->state, d->lsn, now, &oids, &shared, buf, sizeof(buf));

        if (why) {
                mh_log(MH_LOG_DEBUG, pg_hostname(p),
                       "WAL moved from %s to %s; cannot tell which databases changed (%s): all "
                       "are re-created",
                       strempty(d->lsn), now->lsn, why);
                for (size_t i = 0; i < d->state.databases.n; i++)
                        changed[i] = true;
                *ret_shared = true;
                return;
        }
        pg_news_share(p, d, d->lsn, now->lsn, &oids, shared);
        for (size_t i = 0; i < d->state.databases.n && i < d->oids.n; i++)
                if (mh_strv_contains(&oids, d->oids.items[i])) {
                        mh_log(MH_LOG_DEBUG, pg_hostname(p), "WAL: database '%s' changed",
                               d->state.databases.items[i]);
                        changed[i] = true;
                }
        if (shared) {
                mh_log(MH_LOG_DEBUG, pg_hostname(p), "WAL: the shared catalogs changed");
                *ret_shared = true;
        }
        mh_strv_dispose(&oids);
}

/* The backups behind d (the vanilla one, when d is a topology's) learn what the WAL
 * up to d's baseline changed, while it is still there. */
static void catch_up(pg_host *p, pg_backup *d) {
        char buf[MH_ERROR_MESSAGE_MAX];
        const char *from = NULL;
        uint64_t lowest = UINT64_MAX, at;
        check_result now = {};
        mh_strv oids = {};
        bool shared = false;

        for (size_t i = 0; i < p->n_backups; i++)
                if (p->backups[i] != d && p->backups[i]->lsn &&
                    pg_lsn_parse(p->backups[i]->lsn, &at) >= 0 && at < lowest) {
                        lowest = at;
                        from = p->backups[i]->lsn;
                }
        if (!from || check(p, &now, NULL) < 0)
                return;
        if (!read_wal(p, &d->state, from, &now, &oids, &shared, buf, sizeof(buf)))
                pg_news_share(p, d, from, now.lsn, &oids, shared);
        mh_strv_dispose(&oids);
        check_result_dispose(&now);
}

/* Put back the shared state and the databases marked in changed[] (or gone). */
static int put_back(pg_host *p, pg_backup *d, bool *changed, size_t *ret_n, mh_error *e) {
        mh_strv oids = {}, recreating = {};
        char *map = NULL;
        size_t n = 0;
        int r;

        /* sessions of ours to the databases to be renamed, dropped or copied */
        for (size_t i = 0; i < p->n_conns; i++)
                if (!streq(p->conns[i].database, p->dbname))
                        mh_postgresql_disconnect(pg_host_of(p), p->conns[i].database);

        /* another backup's restore may have re-created one since: under its name, it is
         * not the backup's any more, and it is the database of that name from now on */
        r = database_oids(p, d, &oids, e);
        for (size_t i = 0; r >= 0 && i < d->state.databases.n && i < d->oids.n; i++)
                if (oids.items[i][0] && !streq(oids.items[i], d->oids.items[i])) {
                        changed[i] = true;
                        free(d->oids.items[i]);
                        d->oids.items[i] = TAKE_PTR(oids.items[i]);
                }
        mh_strv_dispose(&oids);

        for (size_t i = 0; r >= 0 && i < d->state.databases.n; i++)
                if (changed[i])
                        r = mh_strv_consume(&recreating, strdup(d->state.databases.items[i]));
        if (r >= 0 && d->state.cluster)
                r = pg_cluster_oid_map(&d->state.oids, &d->oids, &map);
        if (r >= 0 && d->state.cluster)
                r = pg_cluster_restore_names(p, d->state.cluster, map, &d->state.databases,
                                             &recreating, drop_database, drop_role, e);
        mh_strv_dispose(&recreating);

        /* a backed-up database that is gone (or another under its name) comes back too */
        if (r >= 0)
                r = database_oids(p, d, &oids, e);
        for (size_t i = 0; r >= 0 && i < d->state.databases.n; i++)
                if (i >= d->oids.n || !streq(oids.items[i], d->oids.items[i]))
                        changed[i] = true;
        mh_strv_dispose(&oids);

        for (int pass = 0; pass < 3; pass++)
                for (size_t i = 0; r >= 0 && i < d->state.databases.n; i++)
                        if (changed[i] && in_pass(p, d, i, pass)) {
                                r = recreate_one(p, d, i, e);
                                n++;
                        }
        if (r >= 0 && !d->state.cluster)
                r = drop_new_by_name(p, d, e);
        if (r >= 0 && d->state.cluster) {
                free(map);
                r = pg_cluster_oid_map(&d->state.oids, &d->oids, &map);
        }
        if (r >= 0 && d->state.cluster)
                r = pg_cluster_restore_rest(p, d->state.cluster, map, e);
        free(map);

        /* the oids of the databases re-created, for the WAL of the next restore */
        if (r >= 0 && n > 0)
                r = database_oids(p, d, &oids, e);
        if (r >= 0 && n > 0) {
                mh_strv_dispose(&d->oids);
                d->oids = oids;
        }
        if (r >= 0)
                *ret_n = n;
        return r;
}

static int pg_restore(mh_host *h, mh_backup *b, const mh_restore_options *options, mh_error *e) {
        _cleanup_free_ bool *changed = NULL;
        pg_backup *d = b->data;
        pg_host *p = pg(h);
        uint64_t start = mh_now_usec();
        bool full = options && options->full, shared = full || !d || !d->state.cluster;
        _cleanup_free_ char *was = NULL;
        check_result now = {};
        size_t n = 0;
        int r;

        if (!d)
                return mh_error_set(e, -EINVAL, "backup '%s' holds no PostgreSQL state", b->name);

        r = CALL_PARENT(restore, h, b, d, options, e);
        if (r < 0)
                return r;

        changed = calloc(d->state.databases.n + 1, sizeof(*changed));
        if (!changed)
                return -ENOMEM;
        r = check(p, &now, e);
        if (r < 0)
                return r;
        for (size_t i = 0; i < d->state.databases.n; i++)
                changed[i] = full || !d->state.cluster ||
                             mh_strv_contains(&d->state.unlogged, d->state.databases.items[i]);
        if (!full && d->state.cluster && (!d->lsn || !streq(now.lsn, d->lsn)))
                changed_by_wal(p, d, &now, changed, &shared);
        pg_news_take(d, changed, &shared);
        if (!d->fingerprint || !streq(now.fingerprint, d->fingerprint))
                shared = true;
        for (size_t i = 0; !shared && i < d->state.databases.n; i++)
                shared = changed[i];

        if (!shared) {
                keep_check(d, &now);
                mh_log(MH_LOG_DEBUG, hostname(h),
                       "restore '%s': databases unchanged, skipped (%.1f ms)", b->name,
                       (double) (mh_now_usec() - start) / 1000.0);
                return 0;
        }
        was = TAKE_PTR(now.lsn);
        check_result_dispose(&now);

        r = put_back(p, d, changed, &n, e);
        if (r >= 0)
                r = record_state(p, d, e);
        if (r < 0)
                return r;
        pg_news_put_back(p, d, was, d->lsn);
        mh_log(MH_LOG_DEBUG, hostname(h), "restore '%s': %zu database(s) re-created (%.1f ms)",
               b->name, n, (double) (mh_now_usec() - start) / 1000.0);
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
        r = mh_pg_state_read(pg_host_of(p), b, &d->state, e);
        for (size_t i = 0; r >= 0 && i < d->state.oids.n; i++)
                r = mh_strv_consume(&d->oids, strdup(d->state.oids.items[i]));
        if (r >= 0)
                r = CALL_PARENT(load, h, b, d, e);
        if (pg_news_add(p, d) < 0 && r >= 0)
                r = mh_error_oom(e);
        b->data = TAKE_PTR(d);
        return r;
}

static int pg_drop(mh_host *h, mh_backup *b, mh_error *e) {
        pg_backup *d = b->data;
        pg_host *p = pg(h);
        int r = 0, k;

        if (!d)
                return mh_host_type_systemd.drop(h, b, e);

        /* without an error object the backup is only forgotten (the host is freed, a dead
         * run's backup was read): its copies are a later run's to restore from */
        if (e)
                r = drop_copies(p, d, e);

        k = CALL_PARENT(drop, h, b, d, e);
        if (k < 0 && r == 0)
                r = k;
        b->data = NULL;
        pg_news_remove(p, d);
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
