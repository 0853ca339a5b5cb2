/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What the files of the postgresql host type share: the type's object and
 * settings (postgresql.c), its connections (postgresql-conn.c), the state a
 * backup writes down (postgresql-state.c), the cluster's shared state
 * (postgresql-cluster.c) and which databases the WAL says changed
 * (postgresql-wal.c).  Never installed.
 */

#include <libpq-fe.h>
#include <string.h>

#include <mhc/error.h>
#include <mhc/ssh.h>
#include <mhc/strv.h>
#include <mhc/sys/host.h>

/* Longest statement text quoted in an error message, in bytes. */
#define MH_SQL_QUOTE_MAX 200

#define PG_NAME_MAX    63       /* NAMEDATALEN - 1 */
#define PG_COPY_PREFIX "mhcbk_" /* a backup's template copy */
#define PG_NEW_PREFIX  "mhcnw_" /* a database being re-created from its copy */
#define PG_OLD_PREFIX  "mhcod_" /* the one it replaces, being dropped */
/* SQL: column is none of mhc's own databases above. */
#define PG_NOT_MHC(column) column " !~ '^mhc(bk|nw|od)_[0-9a-f]{16}_'"
#define PG_TERMINATE_WAIT  "5000" /* ms pg_terminate_backend() waits for a session's end */

/* How the host's PostgreSQL is reached: the first is the default. */
typedef enum pg_connect {
        PG_CONNECT_SSH, /* through a forward over the host's verified SSH */
        PG_CONNECT_TCP, /* straight to the host's address */
} pg_connect;

/* The settings of config: of a postgresql host (the systemd type's come too). */
typedef struct pg_settings {
        unsigned port;
        char *user;
        char *password;    /* secret, from password: or password_file: */
        mh_strv databases; /* empty: discover at backup */
        char *dbname;
        unsigned connect;  /* pg_connect */
        unsigned sslmode;  /* index in pg_sslmodes; 0: not given */
        char *sslrootcert; /* local file */
        char *socket_dir;  /* on the host, for connect: ssh */
} pg_settings;

/* "" (not given) first, then libpq's sslmodes. */
extern const char *const pg_sslmodes[];

typedef struct pg_conn {
        char *database;
        PGconn *conn;
} pg_conn;

typedef struct pg_host {
        mh_systemd_host base; /* the systemd type's object, mh_host first */
        const pg_settings *settings;
        /* the settings with their defaults */
        unsigned port;
        const char *dbname;
        const char *sslmode;
        pg_conn *conns;
        size_t n_conns;
        mh_ssh_forward *forward; /* connect: ssh, opened on first use */
        const char *admin_db;    /* where administration runs while dbname is re-created;
                                  * NULL: dbname */
        struct pg_backup **backups; /* the host's, for postgresql-news.c */
        size_t n_backups;
} pg_host;

static inline mh_host *pg_host_of(pg_host *p) {
        return &p->base.base;
}

MH_DEFINE_HOST_CAST(pg, pg_host, mh_host_type_postgresql);

/* Where administration goes while dbname is re-created or gone. */
static inline const char *pg_other_admin(const pg_host *p) {
        return strcmp(p->dbname, "template1") == 0 ? "postgres" : "template1";
}

static inline const char *pg_hostname(pg_host *p) {
        return mh_host_config_hostname(pg_host_of(p)->config);
}

/* --- connections (postgresql-conn.c) ------------------------------------------ */

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

/* In a forked test process: forget without closing the runner's connections, so
 * that SQL opens connections of its own (through the runner's forward). */
void pg_after_fork(mh_host *h);

/* Close every cached connection and the forward (the host is being freed). */
void pg_close_all(pg_host *p);

/* Whether the cached connection to database is open and fine. */
bool pg_has_live_conn(pg_host *p, const char *database);

/* The cached connection to database, opened when missing or broken; borrowed. */
int pg_get_conn(pg_host *p, const char *database, PGconn **ret, mh_error *e);

/* A statement in the admin database (dbname); *ret may be NULL. */
int pg_admin(pg_host *p, const char *sql, int n_params, const char *const *params, PGresult **ret,
             mh_error *e);
/* A statement in the admin database with at most one parameter. */
int pg_admin_one(pg_host *p, const char *sql, const char *param, mh_error *e);
/* The first column of every row of a query in database (NULL: dbname), as strings. */
int pg_query_strv(pg_host *p, const char *database, const char *sql, int n_params,
                  const char *const *params, mh_strv *ret, mh_error *e);
/* The single value of a query in database. */
int pg_query_value(pg_host *p, const char *database, const char *sql, int n_params,
                   const char *const *params, char **ret, mh_error *e);
/* name as a quoted SQL identifier, malloc'd. */
int pg_quote_ident(pg_host *p, const char *name, char **ret, mh_error *e);
/* Run the statement "before NAME after" in dbname with name quoted as an identifier. */
int pg_exec_on_name(pg_host *p, const char *before, const char *name, const char *after,
                    mh_error *e);
/* End every other session on database (and ours): CREATE/DROP DATABASE need it alone. */
int pg_terminate(pg_host *p, const char *database, mh_error *e);

/* --- which databases the WAL says changed (postgresql-wal.c) -------------------- */

#define PG_WAL_SHARED  0x1u /* the shared catalogs changed (roles, databases, ...) */
#define PG_WAL_UNKNOWN 0x2u /* a record that names no database could not be told */

/* A WAL position "X/Y" as a number. */
int pg_lsn_parse(const char *s, uint64_t *ret);

/*
 * The oids of the databases whose files the WAL records from start to end
 * change, and PG_WAL_* flags, read on the host with its pg_waldump (waldump)
 * from waldir.  Fails when the WAL cannot be read there (recycled, not yet
 * flushed, no access).
 */
int pg_wal_touched(pg_host *p, const char *waldump, const char *waldir, const char *start,
                   const char *end, mh_strv *ret_oids, unsigned *ret_flags, mh_error *e);

/* --- the cluster's shared state (postgresql-cluster.c) ------------------------ */

/* Drop a database or a role the test made (by name). */
typedef int (*pg_drop_fn)(pg_host *p, const char *name, mh_error *e);

/* {"OID AT BACKUP": "OID NOW", ...}: the oids of the databases (at_backup) that have
 * others now (now, same order; "" for one that is gone), as JSON (malloc'd). */
int pg_cluster_oid_map(const mh_strv *at_backup, const mh_strv *now, char **ret);

/* The shared state the template copies do not hold, as JSON (malloc'd): it holds the
 * roles' stored password hashes, never to be logged. */
int pg_cluster_record(pg_host *p, char **ret, mh_error *e);

/*
 * Before the databases in recreating are re-created from their copies: drop
 * the test's replication slots (and the logical ones of those databases),
 * databases and roles (with drop_database and drop_role), and put back the
 * names of the roles and databases of saved (pg_cluster_record()), the roles
 * it had that are gone, their attributes and memberships.  oid_map is a
 * JSON object from the oids of the databases re-created since the backup
 * to their oids now ({"16385": "16990"}); a database named in backed_up is
 * never dropped as new (it is re-created when it is not the backup's).
 */
int pg_cluster_restore_names(pg_host *p, const char *saved, const char *oid_map,
                             const mh_strv *backed_up, const mh_strv *recreating,
                             pg_drop_fn drop_database, pg_drop_fn drop_role, mh_error *e);

/*
 * After: each database's owner, ACL, connection limit, flags and comment,
 * the roles' comments, the settings of ALTER DATABASE/ROLE ... SET, the
 * slots that are gone, and ALTER SYSTEM's settings (reloaded; the host's
 * services restarted when one needs it).
 */
int pg_cluster_restore_rest(pg_host *p, const char *saved, const char *oid_map, mh_error *e);

/* --- the state a backup writes down (postgresql-state.c) ------------------------ */

/* What a backup records of the server, and writes down in its directory
 * for a later run to read back. */
typedef struct pg_state {
        mh_strv databases;     /* backed up */
        mh_strv copies;        /* their template copies, same order */
        mh_strv owners;        /* their owners, same order */
        mh_strv all_databases; /* every database at backup time */
        mh_strv roles;         /* every role at backup time */
        mh_strv oids;          /* their oids at backup time */
        mh_strv unlogged;      /* those of them that hold unlogged relations */
        char *cluster;         /* the shared state (postgresql-cluster.c), JSON; NULL: none
                                * (a backup of an older mhc) */
        char *waldump;         /* pg_waldump on the host */
        char *waldir;          /* the WAL there */
} pg_state;

void mh_pg_state_dispose(pg_state *s);

/* One backup of the host (b->data). */
typedef struct pg_backup {
        void *parent_data; /* the systemd type's b->data */
        pg_state state;    /* what a later run can read back (postgresql-state.c) */
        char *lsn;         /* WAL position up to which its changes are known */
        char *fingerprint; /* of what changes without WAL (CHECK_SQL), at its baseline */
        mh_strv oids;      /* of state.databases now: changed by their re-creation */
        /* what the WAL up to lsn changed since its baseline, as another backup's
         * restore read it (postgresql-news.c) */
        mh_strv dirty;     /* oids of databases */
        bool dirty_shared; /* the shared catalogs, or mhc re-created databases */
} pg_backup;

/* --- one WAL read serves every backup (postgresql-news.c) ----------------------- */

/* Keep track of d, a backup of p (-ENOMEM), or forget it. */
int pg_news_add(pg_host *p, pg_backup *d);
void pg_news_remove(pg_host *p, const pg_backup *d);

/* The WAL from..to touched oids (and the shared catalogs if shared): each other
 * backup whose changes are known up to a position in [from, to] learns it. */
void pg_news_share(pg_host *p, const pg_backup *reader, const char *from, const char *to,
                   const mh_strv *oids, bool shared);

/* A restore of reader, whose WAL was read up to was, put databases and the
 * shared state back up to now: the backups that knew up to was must look. */
void pg_news_put_back(pg_host *p, const pg_backup *reader, const char *was, const char *now);

/* Mark in changed[] (d's databases) and *shared what d has learnt; forget it. */
void pg_news_take(pg_backup *d, bool *changed, bool *shared);
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
