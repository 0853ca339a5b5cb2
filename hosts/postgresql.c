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

#define NAME_MAX_BYTES    PG_NAME_MAX
#define COPY_PREFIX       PG_COPY_PREFIX

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
typedef struct pg_backup {
        void *parent_data;  /* the systemd type's b->data */
        pg_state state;        /* what a later run can read back (postgresql-state.c) */
        mh_strv sequences;     /* the sequences' state of state.databases, same order */
        char *lsn;          /* WAL insert position after the backup or last restore */
} pg_backup;

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
        p->sslmode = s->sslmode ? pg_sslmodes[s->sslmode]
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
}

static int drop_database(pg_host *p, const char *database, mh_error *e) {
        int r;

        r = pg_terminate(p, database, e);
        if (r >= 0)
                r = pg_exec_on_name(p, "DROP DATABASE IF EXISTS ", database, " WITH (FORCE)", e);
        if (r < 0)
                mh_error_prefix(e, "cannot drop database '%s'", database);
        return r;
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

/* The state of every sequence of database, which nextval() changes without writing WAL. */
static int sequences_state(pg_host *p, const char *database, char **ret, mh_error *e) {
        return pg_query_value(p, database,
                           "SELECT coalesce(string_agg(c.oid::text || '=' || "
                           "coalesce(pg_sequence_last_value(c.oid)::text, '-'), ',' "
                           "ORDER BY c.oid), '') FROM pg_class c "
                           "WHERE c.relkind = 'S' AND c.relpersistence <> 't'",
                           0, NULL, ret, e);
}

/* The WAL insert position: it moves with every logged change, even one not yet written. */
static int wal_position(pg_host *p, char **ret, mh_error *e) {
        return pg_query_value(p, NULL, "SELECT pg_current_wal_insert_lsn()::text", 0, NULL, ret, e);
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

static pg_backup *pg_backup_free(pg_backup *d) {
        if (!d)
                return NULL;
        mh_pg_state_dispose(&d->state);
        mh_strv_dispose(&d->sequences);
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

        for (size_t i = 0; r >= 0 && i < d->state.databases.n; i++) {
                char *s = NULL;

                r = sequences_state(p, d->state.databases.items[i], &s, e);
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

static int take_backup(pg_host *p, mh_backup *b, pg_backup *d, mh_error *e) {
        const char *params[] = { p->dbname };
        int r;

        if (p->settings->databases.n > 0) {
                for (size_t i = 0; i < p->settings->databases.n; i++) {
                        r = mh_strv_consume(&d->state.databases, strdup(p->settings->databases.items[i]));
                        if (r < 0)
                                return r;
                }
        } else {
                r = pg_query_strv(p, NULL,
                               "SELECT datname FROM pg_database WHERE NOT datistemplate AND "
                               "datallowconn AND datname <> 'postgres' AND datname <> $1 AND "
                               "datname NOT LIKE '" COPY_PREFIX "%' ORDER BY datname",
                               1, params, &d->state.databases, e);
                if (r < 0)
                        return r;
        }
        r = pg_query_strv(p, NULL, "SELECT datname FROM pg_database ORDER BY datname", 0, NULL,
                       &d->state.all_databases, e);
        if (r >= 0)
                r = pg_query_strv(p, NULL, "SELECT rolname FROM pg_roles ORDER BY rolname", 0, NULL,
                               &d->state.roles, e);
        if (r < 0)
                return r;

        for (size_t i = 0; i < d->state.databases.n; i++) {
                const char *db = d->state.databases.items[i];
                char *owner = NULL, *copy = NULL;

                if (!mh_strv_contains(&d->state.all_databases, db))
                        return mh_error_set(e, -MH_ERR_CONFIG,
                                            "database '%s' of config 'databases' does not exist",
                                            db);
                r = pg_query_value(
                        p, NULL,
                        "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", 1,
                        &db, &owner, e);
                if (r >= 0)
                        r = mh_strv_consume(&d->state.owners, owner);
                if (r >= 0)
                        r = copy_name(p, b->name, db, &copy);
                if (r >= 0)
                        r = mh_strv_consume(&d->state.copies, copy);
                if (r < 0)
                        return r;
        }

        /* Written down before the copies exist, so that a later run can drop
         * them if this one dies half-way. */
        r = mh_pg_state_write(pg_host_of(p), b, &d->state, e);
        for (size_t i = 0; r >= 0 && i < d->state.databases.n; i++) {
                /* an earlier backup of that name may have left its copy behind */
                r = drop_database(p, d->state.copies.items[i], e);
                if (r >= 0)
                        r = copy_database(p, d->state.databases.items[i], d->state.copies.items[i], NULL, e);
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
               d->state.databases.n, (double) (mh_now_usec() - start) / 1000.0);
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
        if (!d->lsn || d->sequences.n != d->state.databases.n || !streq(lsn, d->lsn)) {
                mh_log(MH_LOG_DEBUG, pg_hostname(p), "WAL moved from %s to %s", d->lsn, lsn);
                *ret = false;
                return 0;
        }
        for (size_t i = 0; i < d->state.databases.n; i++) {
                _cleanup_free_ char *s = NULL;

                r = sequences_state(p, d->state.databases.items[i], &s, e);
                if (r < 0)
                        return r;
                if (!streq(s, d->sequences.items[i])) {
                        mh_log(MH_LOG_DEBUG, pg_hostname(p),
                               "a sequence of database '%s' moved", d->state.databases.items[i]);
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
        if (!strstr(first.message, "SQL error 2BP01"))
                return mh_error_set(e, r, "%s", first.message);

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
        }
        mh_strv_dispose(&dbs);
        if (r >= 0)
                r = pg_exec_on_name(p, "DROP ROLE IF EXISTS ", role, "", e);
        return r;
}

static int recreate(pg_host *p, pg_backup *d, mh_error *e) {
        mh_strv now = {};
        int r = 0;

        for (size_t i = 0; r >= 0 && i < d->state.databases.n; i++) {
                const char *db = d->state.databases.items[i];

                r = drop_database(p, db, e);
                if (r >= 0)
                        r = copy_database(p, d->state.copies.items[i], db, d->state.owners.items[i], e);
        }
        if (r < 0)
                return r;

        /* databases made since the backup */
        r = pg_query_strv(p, NULL,
                       "SELECT datname FROM pg_database WHERE NOT datistemplate AND "
                       "datname <> 'postgres' AND datname NOT LIKE '" COPY_PREFIX "%'",
                       0, NULL, &now, e);
        for (size_t i = 0; r >= 0 && i < now.n; i++)
                if (!mh_strv_contains(&d->state.all_databases, now.items[i]) &&
                    !streq(now.items[i], p->dbname)) {
                        mh_log(MH_LOG_DEBUG, pg_hostname(p), "dropping new database '%s'",
                               now.items[i]);
                        r = drop_database(p, now.items[i], e);
                }
        mh_strv_dispose(&now);
        if (r < 0)
                return r;

        /* roles made since the backup */
        r = pg_query_strv(p, NULL, "SELECT rolname FROM pg_roles WHERE rolname NOT LIKE 'pg\\_%'", 0,
                       NULL, &now, e);
        for (size_t i = 0; r >= 0 && i < now.n; i++)
                if (!mh_strv_contains(&d->state.roles, now.items[i])) {
                        mh_log(MH_LOG_DEBUG, pg_hostname(p), "dropping new role '%s'",
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
               b->name, d->state.databases.n, (double) (mh_now_usec() - start) / 1000.0);
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
        if (r >= 0)
                r = CALL_PARENT(load, h, b, d, e);
        b->data = TAKE_PTR(d);
        return r;
}

static int pg_drop(mh_host *h, mh_backup *b, mh_error *e) {
        pg_backup *d = b->data;
        pg_host *p = pg(h);
        int r = 0, k;

        if (!d)
                return mh_host_type_systemd.drop(h, b, e);

        /* without an error object (the host is being freed) only use a live connection */
        if (e || pg_has_live_conn(p, p->dbname))
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
