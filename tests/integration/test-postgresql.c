/* SPDX-License-Identifier: MIT */
/*
 * The postgresql host type and the SQL API against the lab's db host
 * (PostgreSQL 15): backup as template copies, change-aware restore of rows,
 * tables, databases, roles and sequences, open client connections, two
 * backups, mh_sql_wait_for() and the messages of failures.  Each test
 * makes databases and roles named mhct<pid>_* and drops them at the end.
 */
#include <check.h>
#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mhc/mhc.h>
#include <mhc/sys/host.h>

#include "lab.h"
#include "check-run.h"

#define PG_PASSWORD_FILE LAB_STATE "/pg-password"
#define SERVICE          "postgresql@15-main.service"

static char run_prefix[32]; /* mhct<pid of the runner>x, for the clean-up */
static char prefix[48];     /* run_prefix<pid of the test> */
static char db_main[64];    /* backed up */
static char db_other[64];   /* exists at backup time, not backed up */
static mh_config *config;
static mh_host *host;

/* The debug log of the library, for what restore() says it did. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_text[1 << 16];

static void log_handler(mh_log_level level, const char *h, const char *message, void *userdata) {
        (void) level;
        (void) h;
        (void) userdata;
        pthread_mutex_lock(&log_lock);
        if (strlen(log_text) + strlen(message) + 2 < sizeof(log_text)) {
                strcat(log_text, message);
                strcat(log_text, "\n");
        }
        pthread_mutex_unlock(&log_lock);
}

static void log_reset(void) {
        pthread_mutex_lock(&log_lock);
        log_text[0] = '\0';
        pthread_mutex_unlock(&log_lock);
}

static bool log_has(const char *s) {
        bool found;

        pthread_mutex_lock(&log_lock);
        found = strstr(log_text, s) != NULL;
        pthread_mutex_unlock(&log_lock);
        return found;
}

static double now_msec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static char *pg_password(void) {
        char buf[256] = "";
        FILE *f = fopen(PG_PASSWORD_FILE, "re");

        ck_assert_ptr_nonnull(f);
        ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
        fclose(f);
        buf[strcspn(buf, "\r\n")] = '\0';
        return strdup(buf);
}

/* A connection of the test's own, as a client of the server would have. */
static PGconn *client(const char *database) {
        char address[128];
        char *password = pg_password();
        const char *keys[] = { "host", "user", "password", "dbname", "connect_timeout", NULL };
        const char *values[] = { address, "mhc", password, database, "5", NULL };
        PGconn *c;

        ck_assert(lab_address("db", address, sizeof(address)));
        c = PQconnectdbParams(keys, values, 0);
        free(password);
        ck_assert_msg(PQstatus(c) == CONNECTION_OK, "connect to %s: %s", database,
                      PQerrorMessage(c));
        return c;
}

/* Run sql on c, asserting success. */
static void run(PGconn *c, const char *sql) {
        PGresult *res = PQexec(c, sql);
        ExecStatusType s = PQresultStatus(res);

        ck_assert_msg(s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK, "'%s': %s", sql,
                      PQerrorMessage(c));
        PQclear(res);
}

static void runf(PGconn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void runf(PGconn *c, const char *fmt, ...) {
        char sql[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(sql, sizeof(sql), fmt, ap);
        va_end(ap);
        run(c, sql);
}

/* The text form of a query through the SQL API (malloc'd), asserting success. */
static char *query(const char *database, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static char *query(const char *database, const char *fmt, ...) {
        mh_error e = MH_ERROR_INIT;
        mh_sql_result *res = NULL;
        char sql[1024], *text;
        va_list ap;
        int r;

        va_start(ap, fmt);
        vsnprintf(sql, sizeof(sql), fmt, ap);
        va_end(ap);
        r = mh_sql_query(host, database, sql, &res, &e);
        ck_assert_msg(r == 0, "'%s': %s", sql, mh_error_message(&e, r));
        text = strdup(mh_sql_result_text(res));
        mh_sql_result_free(res);
        return text;
}

#define assert_query(database, expected, ...)              \
        do {                                               \
                char *_got = query(database, __VA_ARGS__); \
                ck_assert_str_eq(_got, expected);          \
                free(_got);                                \
        } while (0)

static void exec_ok(const char *database, const char *sql) {
        mh_error e = MH_ERROR_INIT;
        int r = mh_sql_exec(host, database, sql, &e);

        ck_assert_msg(r >= 0, "'%s': %s", sql, mh_error_message(&e, r));
}

/* The configuration of the db host as a postgresql host with config_lines. */
static int make_host(const char *config_lines, mh_config **ret_config, mh_host **ret, mh_error *e) {
        const char *names[] = { "db" };
        char *yaml = lab_config_yaml(1, names, NULL);
        int r;

        ck_assert_ptr_nonnull(yaml);
        lab_append(&yaml, "        type: postgresql\n        services: [%s]\n        config:\n%s",
                   SERVICE, config_lines);
        ck_assert_ptr_nonnull(yaml);
        r = mh_config_parse(yaml, strlen(yaml), "mhc.yaml", "/", ret_config, e);
        free(yaml);
        ck_assert_msg(r == 0, "config: %s", e->message);
        return mh_host_new(mh_config_host(*ret_config, 0), ret, e);
}

static void backup(const char *name) {
        mh_error e = MH_ERROR_INIT;
        double t = now_msec();
        int r = mh_host_backup(host, name, &e);

        ck_assert_msg(r == 0, "backup '%s': %s", name, mh_error_message(&e, r));
        fprintf(stderr, "# backup '%s': %.1f ms\n", name, now_msec() - t);
}

static void restore(const char *name) {
        mh_error e = MH_ERROR_INIT;
        double t = now_msec();
        int r;

        log_reset();
        r = mh_host_restore(host, name, NULL, &e);
        ck_assert_msg(r == 0, "restore '%s': %s", name, mh_error_message(&e, r));
        fprintf(stderr, "# restore '%s' (%s): %.1f ms\n", name,
                log_has("databases unchanged") ? "skipped" : "re-created", now_msec() - t);
}

static char *oid_of(const char *database) {
        return query(NULL, "SELECT oid FROM pg_database WHERE datname = '%s'", database);
}

/* ---------------------------------------------------------------------------------------- */

static void setup(void) {
        char lines[512];
        mh_error e = MH_ERROR_INIT;
        PGconn *c;
        int r;

        snprintf(prefix, sizeof(prefix), "%s%d", run_prefix, (int) getpid());
        snprintf(db_main, sizeof(db_main), "%s_main", prefix);
        snprintf(db_other, sizeof(db_other), "%s_other", prefix);
        mh_log_set_handler(log_handler, MH_LOG_DEBUG, NULL);

        c = client("postgres");
        runf(c, "CREATE DATABASE %s", db_main);
        runf(c, "CREATE DATABASE %s", db_other);
        PQfinish(c);
        c = client(db_main);
        run(c, "CREATE TABLE t (id serial PRIMARY KEY, name text, note text)");
        run(c, "INSERT INTO t (name, note) VALUES ('a', NULL), ('b', 'x')");
        PQfinish(c);

        snprintf(lines, sizeof(lines),
                 "          user: mhc\n          password_file: %s\n"
                 "          databases: [%s]\n",
                 PG_PASSWORD_FILE, db_main);
        r = make_host(lines, &config, &host, &e);
        ck_assert_msg(r == 0, "host: %s", mh_error_message(&e, r));
        r = mh_host_connect(host, &e);
        ck_assert_msg(r == 0, "connect: %s", mh_error_message(&e, r));
}

static void teardown(void) {
        host = mh_host_free(host);
        config = mh_config_free(config);
        mh_log_set_handler(NULL, MH_LOG_ERROR, NULL);
}

/* What the tests set with ALTER SYSTEM, reset at the end unless set before. */
static const char *const system_settings[] = { "work_mem", "search_path", "datestyle",
                                               "application_name", "max_prepared_transactions" };
#define N_SYSTEM_SETTINGS (sizeof(system_settings) / sizeof(system_settings[0]))
static bool system_set_before[N_SYSTEM_SETTINGS];

/* Whether ALTER SYSTEM set name. */
static bool system_set(PGconn *c, const char *name) {
        char sql[256];
        PGresult *res;
        bool set;

        snprintf(sql, sizeof(sql),
                 "SELECT 1 FROM pg_file_settings WHERE name = '%s' AND "
                 "sourcefile LIKE '%%/postgresql.auto.conf'",
                 name);
        res = PQexec(c, sql);
        set = PQntuples(res) > 0;
        PQclear(res);
        return set;
}

static void setup_run(void) {
        PGconn *c = client("postgres");

        snprintf(run_prefix, sizeof(run_prefix), "mhct%dx", (int) getpid());
        for (size_t i = 0; i < N_SYSTEM_SETTINGS; i++)
                system_set_before[i] = system_set(c, system_settings[i]);
        PQfinish(c);
}

/* Drop what the tests made (run by the runner: a failed test ends before its teardown). */
static void teardown_run(void) {
        PGresult *res;
        PGconn *c;
        char sql[512];

        c = client("postgres");
        snprintf(sql, sizeof(sql),
                 "SELECT datname FROM pg_database WHERE datname LIKE '%s%%' OR "
                 "datname LIKE 'mhcbk\\_%%\\_%s%%'",
                 run_prefix, run_prefix);
        res = PQexec(c, sql);
        for (int i = 0; i < PQntuples(res); i++)
                runf(c, "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", PQgetvalue(res, i, 0));
        PQclear(res);
        snprintf(sql, sizeof(sql), "SELECT rolname FROM pg_roles WHERE rolname LIKE '%s%%'",
                 run_prefix);
        res = PQexec(c, sql);
        for (int i = 0; i < PQntuples(res); i++) {
                runf(c, "DROP OWNED BY \"%s\"", PQgetvalue(res, i, 0));
                runf(c, "DROP ROLE \"%s\"", PQgetvalue(res, i, 0));
        }
        PQclear(res);
        /* what DROP OWNED left of an ACL of postgres: its default, as it was */
        run(c, "UPDATE pg_database SET datacl = NULL WHERE datname IN ('postgres', 'template1') "
               "AND datacl::text[] = acldefault('d', datdba)::text[]");

        /* the template copies of a test that failed: its backups are b1, b2 and fw */
        res = PQexec(c, "SELECT datname FROM pg_database WHERE datname ~ "
                        "'^mhcbk_[0-9a-f]{16}_(b1|b2|fw)_'");
        for (int i = 0; i < PQntuples(res); i++)
                runf(c, "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", PQgetvalue(res, i, 0));
        PQclear(res);
        snprintf(sql, sizeof(sql),
                 "SELECT count(pg_drop_replication_slot(slot_name)) FROM pg_replication_slots "
                 "WHERE slot_name LIKE '%s%%'",
                 run_prefix);
        run(c, sql);
        PQfinish(c);
        /* tables a test made in postgres and template1 */
        for (size_t k = 0; k < 2; k++) {
                c = client(k ? "template1" : "postgres");
                snprintf(sql, sizeof(sql),
                         "SELECT tablename FROM pg_tables WHERE tablename LIKE '%s%%'", run_prefix);
                res = PQexec(c, sql);
                for (int i = 0; i < PQntuples(res); i++)
                        runf(c, "DROP TABLE \"%s\"", PQgetvalue(res, i, 0));
                PQclear(res);
                PQfinish(c);
        }

        /* ALTER SYSTEM as it was, the server restarted if a setting waits for that */
        c = client("postgres");
        for (size_t i = 0; i < N_SYSTEM_SETTINGS; i++)
                if (!system_set_before[i] && system_set(c, system_settings[i]))
                        runf(c, "ALTER SYSTEM RESET %s", system_settings[i]);
        /* a restore that failed half-way may have left template1 a plain database */
        run(c, "ALTER DATABASE template1 IS_TEMPLATE true");
        run(c, "SELECT pg_reload_conf()");
        usleep(200 * 1000);
        res = PQexec(c, "SELECT 1 FROM pg_settings WHERE pending_restart");
        if (PQntuples(res) > 0 &&
            system("ssh -F " LAB_STATE "/ssh/config db systemctl restart " SERVICE) != 0)
                fprintf(stderr, "# could not restart PostgreSQL on db\n");
        PQclear(res);
        PQfinish(c);
}

/* ---------------------------------------------------------------------------------------- */

START_TEST(test_restore_everything) {
        char *oid_before, *oid_after, *roles_before;
        PGconn *c;

        roles_before =
                query(NULL, "SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles");
        backup("b1");

        /* a test changes rows, tables, a sequence, databases and roles */
        exec_ok(db_main, "INSERT INTO t (name) VALUES ('c')");
        ck_assert_int_eq(mh_sql_exec(host, db_main, "UPDATE t SET note = 'changed'", NULL), 3);
        exec_ok(db_main, "DELETE FROM t WHERE name = 'a'");
        exec_ok(db_main, "CREATE TABLE t2 (x int)");
        c = client("postgres");
        runf(c, "CREATE DATABASE %s_new", prefix);
        runf(c, "CREATE ROLE %s_role LOGIN", prefix);
        runf(c, "CREATE ROLE %s_owner", prefix);
        PQfinish(c);
        /* a new role owning an object in a database that is not backed up */
        c = client(db_other);
        runf(c, "CREATE TABLE owned (x int)");
        runf(c, "ALTER TABLE owned OWNER TO %s_owner", prefix);
        PQfinish(c);
        assert_query(db_main, "2|b|changed\n3|c|changed", "SELECT * FROM t ORDER BY id");

        oid_before = oid_of(db_main);
        restore("b1");
        ck_assert(log_has("1 database(s) re-created"));
        oid_after = oid_of(db_main);
        ck_assert_str_ne(oid_before, oid_after);

        /* every row, table, database and role as at the backup */
        assert_query(db_main, "1|a|\n2|b|x", "SELECT * FROM t ORDER BY id");
        assert_query(db_main, "t",
                     "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables "
                     "WHERE schemaname = 'public'");
        {
                char want[256], *roles_after;

                snprintf(want, sizeof(want), "%s|mhc\n%s|mhc", db_main, db_other);
                assert_query(NULL, want,
                             "SELECT datname, pg_get_userbyid(datdba) FROM pg_database "
                             "WHERE datname LIKE '%s\\_%%' ORDER BY 1",
                             prefix);
                roles_after = query(NULL, "SELECT string_agg(rolname, ',' ORDER BY rolname) "
                                          "FROM pg_roles");
                ck_assert_str_eq(roles_after, roles_before);
                free(roles_after);
        }
        /* the object of the dropped role went with it; the other database stays */
        assert_query(db_other, "0", "SELECT count(*) FROM pg_tables WHERE tablename = 'owned'");
        /* the sequence continues from where it was at the backup */
        assert_query(db_main, "3", "INSERT INTO t (name) VALUES ('d') RETURNING id");

        free(oid_before);
        free(oid_after);
        free(roles_before);
}
END_TEST

START_TEST(test_restore_skips_unchanged) {
        char *oid_backup, *oid;

        backup("b1");
        oid_backup = oid_of(db_main);

        /* right after the backup: nothing to do */
        restore("b1");
        ck_assert_msg(log_has("databases unchanged, skipped"), "%s", log_text);
        oid = oid_of(db_main);
        ck_assert_str_eq(oid, oid_backup);
        free(oid);

        /* a read-only test */
        assert_query(db_main, "1|a\n2|b", "SELECT id, name FROM t ORDER BY id");
        assert_query(db_main, "2", "SELECT count(*) FROM t");
        restore("b1");
        ck_assert_msg(log_has("databases unchanged, skipped"), "%s", log_text);
        oid = oid_of(db_main);
        ck_assert_str_eq(oid, oid_backup);
        free(oid);

        /* nextval() writes no WAL for most calls, yet the sequence moved */
        assert_query(db_main, "3", "SELECT nextval('t_id_seq')");
        restore("b1");
        ck_assert_msg(log_has("1 database(s) re-created"), "%s", log_text);
        assert_query(db_main, "3", "SELECT nextval('t_id_seq')");

        /* a write; then after the restore that re-created, skipping again */
        restore("b1");
        exec_ok(db_main, "UPDATE t SET name = 'z' WHERE id = 1");
        restore("b1");
        ck_assert_msg(log_has("1 database(s) re-created"), "%s", log_text);
        assert_query(db_main, "1|a\n2|b", "SELECT id, name FROM t ORDER BY id");
        oid = oid_of(db_main);
        ck_assert_str_ne(oid, oid_backup);
        free(oid_backup);
        oid_backup = oid;
        restore("b1");
        ck_assert_msg(log_has("databases unchanged, skipped"), "%s", log_text);
        oid = oid_of(db_main);
        ck_assert_str_eq(oid, oid_backup);
        free(oid);

        /* full restores re-create even when nothing changed */
        {
                mh_restore_options o = { .full = 1 };
                mh_error e = MH_ERROR_INIT;
                int r;

                r = mh_host_restore(host, "b1", &o, &e);
                ck_assert_msg(r == 0, "%s", e.message);
                oid = oid_of(db_main);
                ck_assert_str_ne(oid, oid_backup);
                free(oid);
        }
        free(oid_backup);
}
END_TEST

START_TEST(test_restore_with_open_client) {
        PGconn *c, *idle;
        PGresult *res;

        backup("b1");
        c = client(db_main);
        idle = client(db_main);
        run(c, "INSERT INTO t (name) VALUES ('from client')");
        /* an open transaction holding a lock */
        run(c, "BEGIN");
        run(c, "LOCK TABLE t IN ACCESS EXCLUSIVE MODE");

        restore("b1");
        ck_assert_msg(log_has("1 database(s) re-created"), "%s", log_text);

        /* both sessions were ended */
        res = PQexec(c, "SELECT 1");
        ck_assert_int_ne(PQresultStatus(res), PGRES_TUPLES_OK);
        PQclear(res);
        ck_assert_int_eq(PQstatus(c), CONNECTION_BAD);
        res = PQexec(idle, "SELECT 1");
        ck_assert_int_ne(PQresultStatus(res), PGRES_TUPLES_OK);
        PQclear(res);
        PQfinish(c);
        PQfinish(idle);
        assert_query(db_main, "a\nb", "SELECT name FROM t ORDER BY id");
}
END_TEST

START_TEST(test_two_backups) {
        char like[128];

        snprintf(like, sizeof(like),
                 "SELECT count(*) FROM pg_database WHERE datname LIKE "
                 "'mhcbk\\_%%\\_%s\\_main'",
                 prefix);
        backup("b1");
        exec_ok(db_main, "INSERT INTO t (name) VALUES ('c')");
        backup("b2");
        assert_query(NULL, "2", "%s", like);
        exec_ok(db_main, "INSERT INTO t (name) VALUES ('d')");

        restore("b1");
        assert_query(db_main, "a,b", "SELECT string_agg(name, ',' ORDER BY id) FROM t");
        restore("b2");
        ck_assert(log_has("re-created"));
        assert_query(db_main, "a,b,c", "SELECT string_agg(name, ',' ORDER BY id) FROM t");
        restore("b1");
        ck_assert(log_has("re-created"));
        assert_query(db_main, "a,b", "SELECT string_agg(name, ',' ORDER BY id) FROM t");

        /* the same name again replaces the backup */
        exec_ok(db_main, "INSERT INTO t (name) VALUES ('e')");
        backup("b1");
        assert_query(NULL, "2", "%s", like);
        exec_ok(db_main, "DELETE FROM t");
        restore("b1");
        assert_query(db_main, "a,b,e", "SELECT string_agg(name, ',' ORDER BY id) FROM t");

        /* dropping removes the template copies */
        ck_assert_int_eq(mh_host_drop_backup(host, "b1", NULL), 0);
        assert_query(NULL, "1", "%s", like);
        ck_assert_int_eq(mh_host_drop_backup(host, "b2", NULL), 0);
        assert_query(NULL, "0", "%s", like);
}
END_TEST

static void *update_later(void *userdata) {
        PGconn *c = client(userdata);

        usleep(300 * 1000);
        run(c, "UPDATE t SET note = 'ready' WHERE id = 2");
        PQfinish(c);
        return NULL;
}

START_TEST(test_wait_for) {
        mh_error e = MH_ERROR_INIT;
        pthread_t thread;
        double t;
        int r;

        t = now_msec();
        ck_assert_int_eq(pthread_create(&thread, NULL, update_later, db_main), 0);
        r = mh_sql_wait_for(host, db_main, "SELECT name, note FROM t ORDER BY id", "a|\nb|ready",
                            5000, &e);
        t = now_msec() - t;
        ck_assert_int_eq(pthread_join(thread, NULL), 0);
        ck_assert_msg(r == 0, "%s", e.message);
        ck_assert_msg(t >= 300 && t < 2000, "waited %.0f ms", t);
        fprintf(stderr, "# wait_for: change after 300 ms seen after %.0f ms\n", t);

        /* the failure says what differs, on one line */
        t = now_msec();
        r = mh_sql_wait_for(host, db_main, "SELECT name, id FROM t WHERE id = 1", "a|1\nb|2", 1000,
                            &e);
        t = now_msec() - t;
        ck_assert_int_eq(r, -ETIMEDOUT);
        ck_assert_int_eq(e.code, -ETIMEDOUT);
        ck_assert_msg(t >= 1000 && t < 1500, "waited %.0f ms", t);
        ck_assert_msg(strncmp(e.message,
                              "query did not return the expected result within 1 s: expected "
                              "'a|1\\nb|2' but got 'a|1' (last of ",
                              strlen("query did not return the expected result within 1 s: "
                                     "expected 'a|1\\nb|2' but got 'a|1' (last of ")) == 0,
                      "%s", e.message);
        ck_assert_msg(strstr(e.message, " tries)"), "%s", e.message);
        ck_assert_ptr_null(strchr(e.message, '\n'));
        fprintf(stderr, "# %s\n", e.message);

        /* a query that fails keeps being tried, and the last error is told */
        mh_error_clear(&e);
        r = mh_sql_wait_for(host, db_main, "SELECT * FROM later", "1", 300, &e);
        ck_assert_int_eq(r, -ETIMEDOUT);
        ck_assert_msg(strstr(e.message, "but got SQL error 42P01: relation \"later\" does not "
                                        "exist (in 'SELECT * FROM later') (last of "),
                      "%s", e.message);
}
END_TEST

START_TEST(test_sql_api) {
        mh_error e = MH_ERROR_INIT;
        mh_sql_result *res = NULL;
        char longsql[1024];
        int r;

        r = mh_sql_query(host, db_main, "SELECT id, name, note FROM t ORDER BY id", &res, &e);
        ck_assert_msg(r == 0, "%s", e.message);
        ck_assert_uint_eq(mh_sql_result_n_rows(res), 2);
        ck_assert_uint_eq(mh_sql_result_n_columns(res), 3);
        ck_assert_str_eq(mh_sql_result_column_name(res, 1), "name");
        ck_assert_str_eq(mh_sql_result_value(res, 0, 1), "a");
        ck_assert_ptr_null(mh_sql_result_value(res, 0, 2)); /* SQL NULL */
        ck_assert_str_eq(mh_sql_result_value(res, 1, 2), "x");
        ck_assert_ptr_null(mh_sql_result_value(res, 2, 0));
        ck_assert_str_eq(mh_sql_result_text(res), "1|a|\n2|b|x");
        mh_sql_result_free(res);

        /* NULL database is the host's dbname */
        assert_query(NULL, "postgres", "SELECT current_database()");
        assert_query(db_main, "", "SELECT 1 WHERE false");
        ck_assert_int_eq(mh_sql_exec(host, db_main, "UPDATE t SET note = 'y'", &e), 2);
        ck_assert_int_eq(mh_sql_exec(host, db_main, "CREATE TEMP TABLE tmp (x int)", &e), 0);

        /* SQL errors: SQLSTATE, the server's message, the statement */
        res = NULL;
        r = mh_sql_query(host, db_main, "SELECT * FROM missing_table", &res, &e);
        ck_assert_int_eq(r, -MH_ERR_COMMAND);
        ck_assert_ptr_null(res);
        ck_assert_str_eq(e.message, "SQL error 42P01: relation \"missing_table\" does not exist "
                                    "(in 'SELECT * FROM missing_table')");
        mh_error_clear(&e);
        memset(longsql, 0, sizeof(longsql));
        strcpy(longsql, "SELECT\n1");
        for (size_t i = strlen(longsql); i < 600; i += 4)
                memcpy(longsql + i, " + 1", 4);
        strcat(longsql, " + nosuchcolumn");
        r = mh_sql_exec(host, db_main, longsql, &e);
        ck_assert_int_eq(r, -MH_ERR_COMMAND);
        ck_assert_msg(strstr(e.message, "SQL error 42703: column \"nosuchcolumn\" does not exist "
                                        "(in 'SELECT\\n1 + 1 + 1 + 1"),
                      "%s", e.message);
        ck_assert_msg(strstr(e.message, "...')"), "%s", e.message);
        ck_assert_uint_lt(strlen(e.message), 330);

        /* the cached connection ended by someone else is opened again */
        {
                PGconn *c = client("postgres");

                runf(c,
                     "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE "
                     "application_name = 'mhc' AND datname = '%s'",
                     db_main);
                PQfinish(c);
        }
        assert_query(db_main, "2", "SELECT count(*) FROM t");
}
END_TEST

START_TEST(test_not_postgresql) {
        mh_config *c = NULL;
        mh_host *h = NULL;
        mh_error e = MH_ERROR_INIT;
        const mh_host_config *hc;
        int r;

        hc = lab_config_one("server", NULL, &c, &e);
        ck_assert_ptr_nonnull(hc);
        r = mh_host_new(hc, &h, &e);
        ck_assert_msg(r == 0, "%s", e.message);
        r = mh_sql_exec(h, NULL, "SELECT 1", &e);
        ck_assert_int_eq(r, -EOPNOTSUPP);
        ck_assert_str_eq(
                e.message,
                "host 'server.lab.test' is of type 'systemd', not postgresql: it has no SQL");
        mh_host_free(h);
        mh_config_free(c);
}
END_TEST

START_TEST(test_wrong_password) {
        const char *wrong = "Wr0ng-S3cret-pw";
        char *real = pg_password(), lines[256];
        mh_config *c = NULL;
        mh_host *h = NULL;
        mh_error e = MH_ERROR_INIT;
        int r;

        snprintf(lines, sizeof(lines), "          user: mhc\n          password: '%s'\n", wrong);
        r = make_host(lines, &c, &h, &e);
        ck_assert_msg(r == 0, "%s", e.message);
        r = mh_sql_query(h, NULL, "SELECT 1", NULL, &e);
        ck_assert_int_eq(r, -MH_ERR_AUTH);
        ck_assert_msg(strstr(e.message, "password authentication failed for user \"mhc\""), "%s",
                      e.message);
        ck_assert_ptr_null(strstr(e.message, wrong));
        ck_assert_ptr_null(strstr(e.message, real));
        ck_assert_ptr_null(strchr(e.message, '\n'));
        fprintf(stderr, "# %s\n", e.message);
        mh_host_free(h);
        mh_config_free(c);

        /* the same through ${env:...} */
        setenv("MHC_TEST_PG_PASSWORD", wrong, 1);
        r = make_host("          user: mhc\n          password: ${env:MHC_TEST_PG_PASSWORD}\n", &c,
                      &h, &e);
        ck_assert_msg(r == 0, "%s", e.message);
        mh_error_clear(&e);
        r = mh_sql_wait_for(h, NULL, "SELECT 1", "1", 0, &e);
        ck_assert_int_eq(r, -MH_ERR_AUTH);
        ck_assert_ptr_null(strstr(e.message, wrong));
        mh_host_free(h);
        mh_config_free(c);
        free(real);
}
END_TEST

/* The checks of config: when mhc.yaml is loaded, with where the value is. */
static void config_fails(const char *lines, const char *expected) {
        const char *names[] = { "db" };
        char *yaml = lab_config_yaml(1, names, NULL);
        mh_config *c = NULL;
        mh_error e = MH_ERROR_INIT;
        int r;

        lab_append(&yaml, "        type: postgresql\n        services: [%s]\n        config:\n%s",
                   SERVICE, lines);
        ck_assert_ptr_nonnull(yaml);
        r = mh_config_parse(yaml, strlen(yaml), "mhc.yaml", "/", &c, &e);
        free(yaml);
        ck_assert_int_eq(r, -MH_ERR_CONFIG);
        ck_assert_ptr_null(c);
        ck_assert_msg(strstr(e.message, expected), "'%s' does not hold '%s'", e.message, expected);
}

START_TEST(test_config_errors) {
        /* the keys of config: start on line 18, column 11 (lab_config_yaml's layout) */
        config_fails("          user: mhc\n          databse: [x]\n",
                     "mhc.yaml:19:11: unknown key 'databse' in config of postgresql host");
        config_fails("          port: 5432\n", "'user' is required in config of postgresql host");
        config_fails("          user: mhc\n          port: 70000\n",
                     "mhc.yaml:19:17: 'port' in config of postgresql host must be an integer");
        config_fails("          user: mhc\n          sslmode: sometimes\n",
                     "'sslmode' in config of postgresql host must be one of");
        config_fails("          user: mhc\n          password: a\n          password_file: /x\n",
                     "'password' and 'password_file' exclude each other");
        config_fails("          user: mhc\n          password_file: /nonexistent/pw\n",
                     "cannot read password_file '/nonexistent/pw': No such file or directory");
        config_fails("          user: mhc\n          databases: [a, a]\n",
                     "database 'a' is listed twice");
        config_fails("          user: mhc\n          databases: a\n",
                     "'databases' in config of postgresql host must be a sequence");
        config_fails("          user: mhc\n          connect: udp\n",
                     "mhc.yaml:19:20: 'connect' in config of postgresql host must be one of "
                     "ssh, tcp, not 'udp'");
        config_fails("          user: mhc\n          sslmode: require\n",
                     "'sslmode' applies to 'connect: tcp' only: with 'connect: ssh' (the "
                     "default) the host's SSH connection encrypts the traffic");
        config_fails("          user: mhc\n          connect: tcp\n          sslmode: sometimes\n",
                     "must be one of disable, allow, prefer, require, verify-ca, verify-full, "
                     "not 'sometimes'");
        config_fails("          user: mhc\n          connect: tcp\n          sslmode: ''\n",
                     "'sslmode' in config of postgresql host must not be empty");
        config_fails("          user: mhc\n          connect: tcp\n"
                     "          sslrootcert: /nonexistent/root.crt\n",
                     "mhc.yaml:20:24: cannot read sslrootcert '/nonexistent/root.crt': No such "
                     "file or directory");
        config_fails("          user: mhc\n          connect: tcp\n"
                     "          socket_dir: /run/postgresql\n",
                     "'socket_dir' applies to 'connect: ssh' only");
        config_fails("          user: mhc\n          socket_dir: run/postgresql\n",
                     "mhc.yaml:19:23: 'socket_dir' must be an absolute path on the host, not "
                     "'run/postgresql'");
}
END_TEST

/* --- the cluster's shared state and its cluster databases ------------------------------------ */

/*
 * Each test sets up some state before the backup, changes it (and a row of
 * db_main, so that the database is re-created, which lost that state
 * before), restores, and asserts the state is as before.
 */

/* The text of sql (printf-like) run in database on a connection of the test's own. */
static char *state(const char *database, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static char *state(const char *database, const char *fmt, ...) {
        char sql[2048], *text;
        PGconn *c = client(database);
        PGresult *res;
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(sql, sizeof(sql), fmt, ap);
        va_end(ap);
        res = PQexec(c, sql);
        ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "'%s': %s", sql, PQerrorMessage(c));
        ck_assert_int_eq(PQntuples(res), 1);
        text = strdup(PQgetisnull(res, 0, 0) ? "(null)" : PQgetvalue(res, 0, 0));
        PQclear(res);
        PQfinish(c);
        return text;
}

/* Statements (printf-like) run in database on a connection of the test's own. */
static void as_test(const char *database, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void as_test(const char *database, const char *fmt, ...) {
        char sql[2048];
        PGconn *c = client(database);
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(sql, sizeof(sql), fmt, ap);
        va_end(ap);
        run(c, sql);
        PQfinish(c);
}

#define assert_state(database, expected, ...)              \
        do {                                               \
                char *_got = state(database, __VA_ARGS__); \
                ck_assert_str_eq(_got, expected);          \
                free(_got);                                \
        } while (0)

/* A test writes to db_main: its restore re-creates the database from its copy. */
static void write_db_main(void) {
        exec_ok(db_main, "INSERT INTO t (name) VALUES ('written')");
}

/* Restore b1: what now_expr shows must be `before` again. */
#define ASSERT_RESTORED(before, now_expr)       \
        do {                                    \
                char *_now;                     \
                restore("b1");                  \
                _now = (now_expr);              \
                ck_assert_str_eq(_now, before); \
                free(_now);                     \
        } while (0)

/* Restore b1 after the test changed what `before` shows: `now` must differ before, equal after. */
#define ASSERT_PUT_BACK(before, now_expr)                                                         \
        do {                                                                                      \
                char *_now = (now_expr);                                                          \
                ck_assert_msg(strcmp(_now, before) != 0, "the test did not change the state: %s", \
                              _now);                                                              \
                free(_now);                                                                       \
                restore("b1");                                                                    \
                _now = (now_expr);                                                                \
                ck_assert_str_eq(_now, before);                                                   \
                free(_now);                                                                       \
        } while (0)

#define DATABASE_ACL "SELECT datacl::text FROM pg_database WHERE datname = '%s'"

START_TEST(test_restore_database_acl) {
        char *before, *before_postgres;

        as_test("postgres", "CREATE ROLE %s_reader", prefix);
        as_test("postgres",
                "REVOKE ALL ON DATABASE %s FROM PUBLIC; GRANT CONNECT ON DATABASE %s TO %s_reader; "
                "GRANT TEMP ON DATABASE %s TO %s_reader WITH GRANT OPTION",
                db_main, db_main, prefix, db_main, prefix);
        before = state("postgres", DATABASE_ACL, db_main);
        before_postgres = state("postgres", DATABASE_ACL, "postgres");
        backup("b1");

        /* a re-created database gets the default ACL: PUBLIC may CONNECT and TEMP again */
        write_db_main();
        as_test("postgres", "GRANT CREATE ON DATABASE %s TO %s_reader", db_main, prefix);
        ASSERT_PUT_BACK(before, state("postgres", DATABASE_ACL, db_main));
        ck_assert(log_has("1 database(s) re-created"));
        assert_state("postgres", "false",
                     "SELECT has_database_privilege('public', '%s', 'CONNECT')::text", db_main);

        /* a database that is not re-created: only its ACL changed */
        as_test("postgres", "GRANT CREATE ON DATABASE postgres TO %s_reader", prefix);
        ASSERT_PUT_BACK(before_postgres, state("postgres", DATABASE_ACL, "postgres"));
        free(before);
        free(before_postgres);
}
END_TEST

#define DATABASE_LIMIT "SELECT datconnlimit::text FROM pg_database WHERE datname = '%s'"

START_TEST(test_restore_database_connection_limit) {
        char *before, *before_other;

        as_test("postgres", "ALTER DATABASE %s CONNECTION LIMIT 7", db_main);
        as_test("postgres", "ALTER DATABASE %s CONNECTION LIMIT 5", db_other);
        before = state("postgres", DATABASE_LIMIT, db_main);
        before_other = state("postgres", DATABASE_LIMIT, db_other);
        backup("b1");

        write_db_main();
        ASSERT_RESTORED(before, state("postgres", DATABASE_LIMIT, db_main));
        ck_assert_str_eq(before, "7");
        /* changed in a database that is not backed up */
        as_test("postgres", "ALTER DATABASE %s CONNECTION LIMIT 1", db_other);
        ASSERT_PUT_BACK(before_other, state("postgres", DATABASE_LIMIT, db_other));
        free(before);
        free(before_other);
}
END_TEST

#define DATABASE_COMMENT \
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '%s'"

START_TEST(test_restore_database_comment) {
        char *before, *before_other;

        as_test("postgres", "COMMENT ON DATABASE %s IS 'the main one, it''s backed up'", db_main);
        before = state("postgres", DATABASE_COMMENT, db_main);
        before_other = state("postgres", DATABASE_COMMENT, db_other);
        backup("b1");

        write_db_main();
        ASSERT_RESTORED(before, state("postgres", DATABASE_COMMENT, db_main));
        as_test("postgres", "COMMENT ON DATABASE %s IS 'new'", db_other);
        ASSERT_PUT_BACK(before_other, state("postgres", DATABASE_COMMENT, db_other));
        ck_assert_str_eq(before_other, "(null)");
        free(before);
        free(before_other);
}
END_TEST

/* The settings of ALTER DATABASE/ROLE ... SET that name the test's databases or roles. */
#define SETTINGS                                                                                  \
        "SELECT coalesce(string_agg(coalesce(d.datname, '-') || '/' || coalesce(r.rolname, '-') " \
        "|| "                                                                                     \
        "'=' || s.setconfig::text, ' ' ORDER BY 1), '') FROM pg_db_role_setting s "               \
        "LEFT JOIN pg_database d ON d.oid = s.setdatabase LEFT JOIN pg_roles r ON r.oid = "       \
        "s.setrole WHERE d.datname LIKE '%s%%' OR r.rolname LIKE '%s%%'"

START_TEST(test_restore_database_settings) {
        char *before;

        as_test("postgres", "ALTER DATABASE %s SET work_mem = '5MB'", db_main);
        as_test("postgres", "ALTER DATABASE %s SET search_path = \"$user\", public, 'My Schema'",
                db_main);
        before = state("postgres", SETTINGS, prefix, prefix);
        backup("b1");

        write_db_main();
        as_test("postgres", "ALTER DATABASE %s SET work_mem = '6MB'", db_other);
        ASSERT_PUT_BACK(before, state("postgres", SETTINGS, prefix, prefix));
        ck_assert_msg(strstr(before, "My Schema"), "%s", before);
        /* and a new session of the database has them */
        assert_state(db_main, "5MB", "SELECT current_setting('work_mem')");
        free(before);
}
END_TEST

START_TEST(test_restore_role_in_database_settings) {
        char *before;

        as_test("postgres", "CREATE ROLE %s_app", prefix);
        as_test("postgres", "ALTER ROLE %s_app IN DATABASE %s SET statement_timeout = '3s'", prefix,
                db_main);
        as_test("postgres", "ALTER ROLE %s_app SET lock_timeout = '2s'", prefix);
        before = state("postgres", SETTINGS, prefix, prefix);
        backup("b1");

        write_db_main();
        as_test("postgres", "ALTER ROLE %s_app IN DATABASE %s SET statement_timeout = '1s'", prefix,
                db_other);
        as_test("postgres", "ALTER ROLE %s_app RESET lock_timeout", prefix);
        ASSERT_PUT_BACK(before, state("postgres", SETTINGS, prefix, prefix));
        ck_assert_msg(strstr(before, "statement_timeout=3s"), "%s", before);
        free(before);
}
END_TEST

#define ROLE                                                                                  \
        "SELECT concat_ws(' ', rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, "   \
        "rolcanlogin, rolreplication, rolbypassrls, rolconnlimit, md5(coalesce(rolpassword, " \
        "'')), coalesce(rolvaliduntil::text, 'no-end'), "                                     \
        "shobj_description(oid, 'pg_authid')) FROM pg_authid WHERE rolname = '%s_%s'"

START_TEST(test_restore_role_attributes) {
        char *before, *hash;

        as_test("postgres",
                "CREATE ROLE %s_user NOLOGIN PASSWORD 'before-s3cret' CONNECTION LIMIT 2", prefix);
        as_test("postgres", "COMMENT ON ROLE %s_user IS 'made before the backup'", prefix);
        before = state("postgres", ROLE, prefix, "user");
        backup("b1");

        as_test("postgres",
                "ALTER ROLE %s_user LOGIN CREATEDB CREATEROLE REPLICATION BYPASSRLS "
                "CONNECTION LIMIT 9 PASSWORD 'after-s3cret' VALID UNTIL '2031-01-01'",
                prefix);
        as_test("postgres", "COMMENT ON ROLE %s_user IS 'changed'", prefix);
        ASSERT_PUT_BACK(before, state("postgres", ROLE, prefix, "user"));
        /* VALID UNTIL back to none, which ALTER ROLE cannot say */
        ck_assert_msg(strstr(before, "no-end"), "%s", before);

        /* the stored hash was put back as it was, and never shown */
        hash = state("postgres", "SELECT rolpassword FROM pg_authid WHERE rolname = '%s_user'",
                     prefix);
        ck_assert_msg(strncmp(hash, "SCRAM-SHA-256$", 14) == 0, "not a SCRAM hash");
        ck_assert_msg(!log_has(hash), "the password hash is in mhc's log");
        free(hash);
        free(before);
}
END_TEST

#define MEMBERSHIPS                                                                           \
        "SELECT coalesce(string_agg(r.rolname || '>' || m.rolname || ' admin=' || "           \
        "am.admin_option || ' by ' || coalesce(pg_get_userbyid(am.grantor), '-'), ' ' "       \
        "ORDER BY 1), '') FROM pg_auth_members am JOIN pg_roles r ON r.oid = am.roleid "      \
        "JOIN pg_roles m ON m.oid = am.member WHERE r.rolname LIKE '%s%%' OR m.rolname LIKE " \
        "'%s%%'"

START_TEST(test_restore_memberships) {
        char *before;

        as_test("postgres", "CREATE ROLE %s_group; CREATE ROLE %s_a; CREATE ROLE %s_b", prefix,
                prefix, prefix);
        as_test("postgres", "GRANT %s_group TO %s_a; GRANT %s_group TO %s_b WITH ADMIN OPTION",
                prefix, prefix, prefix, prefix);
        before = state("postgres", MEMBERSHIPS, prefix, prefix);
        backup("b1");

        as_test("postgres", "REVOKE %s_group FROM %s_a", prefix, prefix);
        as_test("postgres", "REVOKE ADMIN OPTION FOR %s_group FROM %s_b", prefix, prefix);
        as_test("postgres", "GRANT %s_a TO %s_b", prefix, prefix);
        ASSERT_PUT_BACK(before, state("postgres", MEMBERSHIPS, prefix, prefix));
        ck_assert_msg(strstr(before, "_group>") && strstr(before, " admin=true"), "%s", before);
        free(before);
}
END_TEST

START_TEST(test_restore_dropped_role) {
        char *role, *memberships, *settings;

        as_test("postgres",
                "CREATE ROLE %s_group; CREATE ROLE %s_gone LOGIN PASSWORD 'pw-gone' "
                "CONNECTION LIMIT 4 VALID UNTIL '2040-01-01'",
                prefix, prefix);
        as_test("postgres", "COMMENT ON ROLE %s_gone IS 'dropped by the test'", prefix);
        as_test("postgres", "GRANT %s_group TO %s_gone WITH ADMIN OPTION", prefix, prefix);
        as_test("postgres", "ALTER ROLE %s_gone SET work_mem = '3MB'", prefix);
        as_test("postgres", "ALTER ROLE %s_gone IN DATABASE %s SET work_mem = '4MB'", prefix,
                db_other);
        role = state("postgres", ROLE, prefix, "gone");
        memberships = state("postgres", MEMBERSHIPS, prefix, prefix);
        settings = state("postgres", SETTINGS, prefix, prefix);
        backup("b1");

        as_test("postgres", "DROP ROLE %s_gone", prefix);
        assert_state("postgres", "0",
                     "SELECT count(*)::text FROM pg_roles WHERE rolname = '%s_gone'", prefix);
        restore("b1");
        assert_state("postgres", role, ROLE, prefix, "gone");
        assert_state("postgres", memberships, MEMBERSHIPS, prefix, prefix);
        assert_state("postgres", settings, SETTINGS, prefix, prefix);
        free(role);
        free(memberships);
        free(settings);
}
END_TEST

START_TEST(test_restore_names) {
        char *role_oid, *db_oid, renamed[96];

        as_test("postgres", "CREATE ROLE %s_named", prefix);
        role_oid = state("postgres", "SELECT oid::text FROM pg_roles WHERE rolname = '%s_named'",
                         prefix);
        db_oid = state("postgres", "SELECT oid::text FROM pg_database WHERE datname = '%s'",
                       db_other);
        backup("b1");

        /* a role and a database renamed (the database is not backed up: not re-created) */
        snprintf(renamed, sizeof(renamed), "%s_renamed", prefix);
        as_test("postgres", "ALTER ROLE %s_named RENAME TO %s", prefix, renamed);
        as_test("postgres", "ALTER DATABASE %s RENAME TO %s", db_other, renamed);
        restore("b1");
        assert_state("postgres", role_oid,
                     "SELECT coalesce(string_agg(oid::text, ','), 'none') FROM pg_roles "
                     "WHERE rolname = '%s_named'",
                     prefix);
        assert_state("postgres", db_oid,
                     "SELECT coalesce(string_agg(oid::text, ','), 'none') FROM pg_database "
                     "WHERE datname = '%s'",
                     db_other);
        assert_state("postgres", "0", "SELECT count(*)::text FROM pg_roles WHERE rolname = '%s'",
                     renamed);
        /* the database was only renamed: its table is still there */
        assert_query(db_other, "0", "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'");
        free(role_oid);
        free(db_oid);
}
END_TEST

/* The test's slots (name type reserved) and, besides, how many there are. */
#define SLOTS                                                                                \
        "SELECT coalesce(string_agg(slot_name || ' ' || slot_type || ' ' || "                \
        "(restart_lsn IS NOT NULL), ',' ORDER BY slot_name), '') FROM pg_replication_slots " \
        "WHERE slot_name LIKE '%s%%'"

START_TEST(test_restore_replication_slots) {
        char *before;

        as_test("postgres", "SELECT pg_create_physical_replication_slot('%s_kept', true)", prefix);
        as_test("postgres", "SELECT pg_create_physical_replication_slot('%s_lazy')", prefix);
        before = state("postgres", SLOTS, prefix);
        backup("b1");

        /* a slot made, and one of the backup's dropped; neither writes WAL */
        as_test("postgres", "SELECT pg_create_physical_replication_slot('%s_new', true)", prefix);
        as_test("postgres", "SELECT pg_drop_replication_slot('%s_kept')", prefix);
        ASSERT_PUT_BACK(before, state("postgres", SLOTS, prefix));
        ck_assert_msg(strstr(before, "_kept physical true") &&
                              strstr(before, "_lazy physical false"),
                      "%s", before);
        free(before);
        /* _kept holds WAL back: the tests after this one need it recycled */
        as_test("postgres", "SELECT count(pg_drop_replication_slot(slot_name)) FROM "
                            "pg_replication_slots WHERE slot_name LIKE '%s%%'", prefix);
}
END_TEST

#define AUTO_CONF "SELECT pg_read_file('postgresql.auto.conf')"

START_TEST(test_restore_alter_system) {
        char *before, *work_mem;

        before = state("postgres", AUTO_CONF);
        ck_assert_msg(!strstr(before, "work_mem") && !strstr(before, "search_path") &&
                              !strstr(before, "datestyle") && !strstr(before, "application_name"),
                      "ALTER SYSTEM already set what this test sets: %s", before);
        work_mem = state("postgres", "SELECT current_setting('work_mem')");
        backup("b1");

        /* ALTER SYSTEM writes a file, not WAL */
        as_test("postgres", "ALTER SYSTEM SET work_mem = '7MB'");
        as_test("postgres", "ALTER SYSTEM SET search_path = \"$user\", public, 'My Schema'");
        as_test("postgres", "ALTER SYSTEM SET datestyle = 'ISO', 'DMY'");
        as_test("postgres", "ALTER SYSTEM SET application_name = 'it''s set'");
        as_test("postgres", "SELECT pg_reload_conf()");
        ASSERT_PUT_BACK(before, state("postgres", AUTO_CONF));
        /* the configuration was loaded again: a new session has the old value */
        assert_state("postgres", work_mem, "SELECT current_setting('work_mem')");

        /* set again and restored: the file is the same, byte for byte */
        as_test("postgres", "ALTER SYSTEM SET work_mem = '9MB'");
        backup("b1");
        free(before);
        before = state("postgres", AUTO_CONF);
        as_test("postgres", "ALTER SYSTEM RESET ALL");
        ASSERT_PUT_BACK(before, state("postgres", AUTO_CONF));
        as_test("postgres", "ALTER SYSTEM RESET work_mem");
        as_test("postgres", "SELECT pg_reload_conf()");
        free(before);
        free(work_mem);
}
END_TEST

START_TEST(test_restore_alter_system_needing_a_restart) {
        char *before;

        before = state("postgres", "SELECT current_setting('max_prepared_transactions')");
        ck_assert_str_eq(before, "0");
        backup("b1");

        /* a setting that takes effect at the server's start, and a start */
        as_test("postgres", "ALTER SYSTEM SET max_prepared_transactions = 3");
        ck_assert_int_eq(system("ssh -F " LAB_STATE "/ssh/config db systemctl restart " SERVICE),
                         0);
        ASSERT_PUT_BACK(before,
                        state("postgres", "SELECT current_setting('max_prepared_transactions')"));
        ck_assert_msg(log_has("restarting PostgreSQL for max_prepared_transactions"), "%s",
                      log_text);
        assert_state("postgres", "0",
                     "SELECT count(*)::text FROM pg_settings WHERE pending_restart");
        free(before);
}
END_TEST

#define TABLES                                                                                     \
        "SELECT coalesce(string_agg(tablename, ',' ORDER BY tablename), '') FROM pg_tables WHERE " \
        "tablename LIKE '%s%%'"

START_TEST(test_restore_postgres) {
        char *before, *main_oid;

        before = state("postgres", TABLES, prefix);
        main_oid = oid_of(db_main);
        backup("b1");

        /* through the SQL API's default database (dbname, here postgres) */
        {
                char sql[256];

                snprintf(sql, sizeof(sql), "CREATE TABLE %s_in_postgres AS SELECT 1 AS x", prefix);
                exec_ok(NULL, sql);
        }
        ASSERT_PUT_BACK(before, state("postgres", TABLES, prefix));
        /* only postgres was re-created */
        ck_assert_msg(log_has("1 database(s) re-created"), "%s", log_text);
        {
                char *oid = oid_of(db_main);

                ck_assert_str_eq(oid, main_oid);
                free(oid);
        }
        assert_query(NULL, "postgres", "SELECT current_database()");
        free(before);
        free(main_oid);
}
END_TEST

/* The host of the test administered from db_other instead. */
static void administer_from_other(void) {
        char lines[512];
        mh_error e = MH_ERROR_INIT;
        int r;

        host = mh_host_free(host);
        config = mh_config_free(config);
        snprintf(lines, sizeof(lines),
                 "          user: mhc\n          password_file: %s\n"
                 "          databases: [%s]\n          dbname: %s\n",
                 PG_PASSWORD_FILE, db_main, db_other);
        r = make_host(lines, &config, &host, &e);
        ck_assert_msg(r == 0, "host: %s", mh_error_message(&e, r));
        r = mh_host_connect(host, &e);
        ck_assert_msg(r == 0, "connect: %s", mh_error_message(&e, r));
}

START_TEST(test_restore_admin_dbname) {
        char *before;

        administer_from_other();

        before = state(db_other, TABLES, prefix);
        backup("b1");
        {
                char sql[256];

                snprintf(sql, sizeof(sql), "CREATE TABLE %s_in_admin (x int)", prefix);
                exec_ok(NULL, sql);
        }
        ASSERT_PUT_BACK(before, state(db_other, TABLES, prefix));
        /* administration goes on from it, and nothing stays in template1 */
        assert_query(NULL, db_other, "SELECT current_database()");
        assert_state("postgres", "0",
                     "SELECT count(*)::text FROM pg_stat_activity WHERE datname = 'template1' "
                     "AND application_name = 'mhc'");
        free(before);
}
END_TEST

/* A restore cut short between its two renames leaves the admin database gone: the next one
 * administers through template1 and puts it back. */
START_TEST(test_restore_admin_dbname_gone) {
        mh_error e = MH_ERROR_INIT;
        mh_restore_options full = { .full = 1 };
        int r;

        administer_from_other();
        backup("b1");

        as_test("postgres",
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE "
                "datname = '%s'",
                db_other);
        as_test("postgres", "ALTER DATABASE %s RENAME TO %s_away", db_other, prefix);
        r = mh_host_restore(host, "b1", &full, &e);
        ck_assert_msg(r == 0, "restore: %s", mh_error_message(&e, r));
        ck_assert_msg(log_has("is gone: administration goes through 'template1'"), "%s", log_text);
        assert_state("postgres", "1", "SELECT count(*)::text FROM pg_database WHERE datname = '%s'",
                     db_other);
        assert_state("postgres", "0",
                     "SELECT count(*)::text FROM pg_database WHERE datname = '%s_away'", prefix);
        assert_query(NULL, db_other, "SELECT current_database()");
}
END_TEST

START_TEST(test_restore_template1) {
        char *before, *flags;

        before = state("template1", TABLES, prefix);
        flags = state("postgres", "SELECT datistemplate || ' ' || datallowconn || ' ' || "
                                  "coalesce(datacl::text, '') FROM pg_database WHERE datname = "
                                  "'template1'");
        backup("b1");

        /* what every later CREATE DATABASE would copy */
        as_test("template1", "CREATE TABLE %s_in_template1 (x int)", prefix);
        ASSERT_PUT_BACK(before, state("template1", TABLES, prefix));
        assert_state("postgres", flags,
                     "SELECT datistemplate || ' ' || datallowconn || ' ' || "
                     "coalesce(datacl::text, '') FROM pg_database WHERE datname = 'template1'");
        /* and it is free to be copied at once */
        as_test("postgres", "CREATE DATABASE %s_from_template1", prefix);
        free(before);
        free(flags);
}
END_TEST

/*
 * A backup restored rarely (as the vanilla one, at the end of a topology)
 * after its WAL was recycled: the restores of a later backup read the WAL
 * after it and pass on what they found, so that it re-creates only what
 * changed: db_main, written to before the later backup, and postgres,
 * re-created by the later backup's restores.
 */
START_TEST(test_old_backup_after_wal_recycled) {
        char *segment, *gone = NULL, *rows;

        backup("b1");
        segment = state("postgres", "SELECT pg_walfile_name(pg_current_wal_insert_lsn())");
        write_db_main();
        backup("b2");
        /* each restore of b2 re-creates postgres: DROP DATABASE checkpoints, in a new
         * segment, and the server recycles the ones before it */
        for (int i = 0; i < 20; i++) {
                as_test("postgres", "CREATE TABLE recycled (x int)");
                as_test("postgres", "SELECT pg_switch_wal()");
                restore("b2");
                ck_assert_msg(log_has("1 database(s) re-created"), "%s",
                              strstr(log_text, "WAL") ?: log_text);
                gone = state("postgres", "SELECT count(*) FROM pg_ls_waldir() WHERE name = '%s'",
                             segment);
                if (strcmp(gone, "0") == 0)
                        break;
                free(gone);
                gone = NULL;
        }
        /* b1's own WAL is gone: on its own it could not tell, and would re-create all */
        ck_assert_msg(gone, "WAL segment %s is still there after 20 restores", segment);

        restore("b1");
        ck_assert_msg(!log_has("cannot tell which databases changed") &&
                              log_has("2 database(s) re-created"),
                      "%s", strstr(log_text, "WAL") ?: log_text);
        rows = state(db_main, "SELECT count(*) FROM t WHERE name = 'written'");
        ck_assert_str_eq(rows, "0");
        free(rows);
        rows = state("postgres", "SELECT count(*) FROM pg_tables WHERE tablename = 'recycled'");
        ck_assert_str_eq(rows, "0");
        free(rows);
        free(segment);
        free(gone);
}
END_TEST

START_TEST(test_restore_per_database) {
        char *main_oid, *postgres_oid, *oid;

        /* what autovacuum would do in the test's database soon, done before the backup
         * (an autoanalyze during the checkpoint below writes WAL there) */
        as_test(db_main, "VACUUM ANALYZE");
        backup("b1");
        main_oid = oid_of(db_main);
        postgres_oid = oid_of("postgres");

        /* a checkpoint moves the WAL and changes no database (autovacuum may change the
         * shared catalogs meanwhile: their state is put back, no database re-created) */
        as_test("postgres", "CHECKPOINT");
        restore("b1");
        ck_assert_msg(log_has("databases unchanged, skipped") ||
                              log_has(" 0 database(s) re-created"),
                      "%s", log_text);

        /* nor do writes to a database that is not backed up (VACUUM as autovacuum would) */
        as_test(db_other, "CREATE TABLE written (x int); INSERT INTO written VALUES (1)");
        as_test(db_other, "VACUUM written");
        restore("b1");
        ck_assert_msg(log_has("databases unchanged, skipped") ||
                              log_has(" 0 database(s) re-created"),
                      "%s", log_text);
        as_test(db_other, "DROP TABLE written");
        oid = oid_of("postgres");
        ck_assert_str_eq(oid, postgres_oid);
        free(oid);

        /* a write to postgres re-creates postgres alone */
        as_test("postgres", "CREATE TEMP TABLE x (y int)");
        restore("b1");
        ck_assert_msg(log_has("1 database(s) re-created"), "%s", log_text);
        oid = oid_of(db_main);
        ck_assert_str_eq(oid, main_oid);
        free(oid);
        oid = oid_of("postgres");
        ck_assert_str_ne(oid, postgres_oid);
        free(oid);
        free(main_oid);
        free(postgres_oid);
}
END_TEST

START_TEST(test_restore_unlogged) {
        as_test(db_main, "CREATE UNLOGGED TABLE u (x int); INSERT INTO u VALUES (1)");
        as_test(db_main, "CREATE UNLOGGED SEQUENCE us");
        backup("b1");

        /* an unlogged table's rows and an unlogged sequence write no WAL */
        as_test(db_main, "SELECT nextval('us')");
        restore("b1");
        ck_assert_msg(log_has("1 database(s) re-created"), "%s", log_text);
        assert_query(db_main, "1", "SELECT nextval('us')");
        as_test(db_main, "INSERT INTO u VALUES (2)");
        restore("b1");
        assert_query(db_main, "1", "SELECT count(*) FROM u");
}
END_TEST

/* --- how PostgreSQL is reached ------------------------------------------------------------ */

#define FIREWALL_PREF "4713" /* of the ip rule that firewalls db's port 5432 */

/* The rule in db's network namespace that drops what PostgreSQL sends to the lab network:
 * a direct connection then times out, one over SSH (to 127.0.0.1 there) is not touched. */
static int firewall(bool on) {
        char address[128], command[512];
        char *dot;

        ck_assert(lab_address("db", address, sizeof(address)));
        if (!on)
                return system("ip -n mhc-db rule del pref " FIREWALL_PREF " 2>/dev/null");
        dot = strrchr(address, '.');
        ck_assert_ptr_nonnull(dot);
        snprintf(command, sizeof(command),
                 "ip -n mhc-db rule add from %s to %.*s.0/24 ipproto tcp sport 5432 prohibit "
                 "pref " FIREWALL_PREF,
                 address, (int) (dot - address), address);
        return system(command);
}

/* Never leave the port firewalled, whatever happened to the test. */
static void firewall_off(void) {
        while (firewall(false) == 0)
                ;
}

/* A direct connection of the test's own to db with a short timeout: NULL if it works, else
 * libpq's message (malloc'd). */
static char *direct_connect_fails(void) {
        char address[128], *password = pg_password(), *message = NULL;
        const char *keys[] = { "host", "user", "password", "dbname", "connect_timeout", NULL };
        const char *values[] = { address, "mhc", password, "postgres", "2", NULL };
        PGconn *c;

        ck_assert(lab_address("db", address, sizeof(address)));
        c = PQconnectdbParams(keys, values, 0);
        if (PQstatus(c) != CONNECTION_OK)
                message = strdup(PQerrorMessage(c));
        PQfinish(c);
        free(password);
        return message;
}

START_TEST(test_through_ssh_with_port_firewalled) {
        char lines[256], *why;
        mh_config *c = NULL;
        mh_host *h = NULL;
        mh_error e = MH_ERROR_INIT;
        mh_sql_result *res = NULL;
        int r;

        ck_assert_int_eq(firewall(true), 0);

        /* the port cannot be reached from the lab network */
        why = direct_connect_fails();
        ck_assert_msg(why && strstr(why, "timeout expired"), "direct connection: %s",
                      why ? why : "it worked");
        free(why);

        /* the default way: through the host's SSH, to PostgreSQL's port on its loopback */
        snprintf(lines, sizeof(lines), "          user: mhc\n          password_file: %s\n",
                 PG_PASSWORD_FILE);
        r = make_host(lines, &c, &h, &e);
        ck_assert_msg(r == 0, "%s", e.message);
        r = mh_host_connect(h, &e);
        ck_assert_msg(r == 0, "connect: %s", mh_error_message(&e, r));
        r = mh_sql_query(h, NULL, "SELECT inet_server_addr(), current_user", &res, &e);
        ck_assert_msg(r == 0, "%s", mh_error_message(&e, r));
        ck_assert_str_eq(mh_sql_result_text(res), "127.0.0.1|mhc");
        mh_sql_result_free(res);
        /* a backup and a restore go the same way */
        ck_assert_int_eq(mh_host_backup(h, "fw", &e), 0);
        ck_assert_msg(mh_sql_exec(h, NULL, "SELECT 1", &e) >= 0, "%s", e.message);
        ck_assert_msg(mh_host_restore(h, "fw", NULL, &e) == 0, "%s", e.message);
        ck_assert_int_eq(mh_host_drop_backup(h, "fw", &e), 0);
        mh_host_free(h);
        mh_config_free(c);

        /* connect: tcp goes straight to the firewalled port */
        snprintf(lines, sizeof(lines),
                 "          user: mhc\n          password_file: %s\n          connect: tcp\n"
                 "          sslmode: prefer\n",
                 PG_PASSWORD_FILE);
        r = make_host(lines, &c, &h, &e);
        ck_assert_msg(r == 0, "%s", e.message);
        r = mh_sql_query(h, NULL, "SELECT 1", NULL, &e);
        ck_assert_int_eq(r, -ETIMEDOUT);
        ck_assert_msg(strstr(e.message, "timeout expired"), "%s", e.message);
        mh_host_free(h);
        mh_config_free(c);

        ck_assert_int_eq(firewall(false), 0);
        why = direct_connect_fails();
        ck_assert_msg(!why, "after the firewall: %s", why);
}
END_TEST

START_TEST(test_tcp_verifies_the_certificate) {
        char lines[512], cert[] = "/tmp/mhc-test-pg-cert-XXXXXX";
        mh_config *c = NULL;
        mh_host *h = NULL;
        mh_error e = MH_ERROR_INIT;
        mh_sql_result *res = NULL;
        int fd, r;

        /* connect: tcp checks the server's certificate by default (verify-full): without a
         * root certificate nothing is sent */
        snprintf(lines, sizeof(lines),
                 "          user: mhc\n          password_file: %s\n          connect: tcp\n",
                 PG_PASSWORD_FILE);
        r = make_host(lines, &c, &h, &e);
        ck_assert_msg(r == 0, "%s", e.message);
        r = mh_sql_query(h, NULL, "SELECT 1", NULL, &e);
        ck_assert_int_eq(r, -MH_ERR_COMMAND);
        ck_assert_msg(strstr(e.message, "root certificate file") &&
                              strstr(e.message, "does not exist"),
                      "%s", e.message);
        mh_host_free(h);
        mh_config_free(c);

        /* the lab's certificate (Debian's snakeoil, made for another name) is refused */
        {
                mh_exec_result x = {};
                mh_ssh *ssh = NULL;

                ck_assert_ptr_nonnull(lab_config_one("db", NULL, &c, &e));
                r = mh_ssh_connect(mh_config_host(c, 0), &ssh, &e);
                ck_assert_msg(r == 0, "%s", mh_error_message(&e, r));
                r = mh_ssh_exec(ssh, "cat /etc/ssl/certs/ssl-cert-snakeoil.pem", NULL, &x, &e);
                ck_assert_msg(r == 0 && x.exit_status == 0, "%s", mh_error_message(&e, r));
                fd = mkstemp(cert);
                ck_assert_int_ge(fd, 0);
                ck_assert_int_eq(write(fd, x.out, x.out_size), (int) x.out_size);
                close(fd);
                mh_exec_result_dispose(&x);
                mh_ssh_free(ssh);
                mh_config_free(c);
        }
        snprintf(lines, sizeof(lines),
                 "          user: mhc\n          password_file: %s\n          connect: tcp\n"
                 "          sslrootcert: %s\n",
                 PG_PASSWORD_FILE, cert);
        mh_error_clear(&e);
        r = make_host(lines, &c, &h, &e);
        ck_assert_msg(r == 0, "%s", e.message);
        r = mh_sql_query(h, NULL, "SELECT 1", NULL, &e);
        ck_assert_int_eq(r, -MH_ERR_COMMAND);
        ck_assert_msg(strstr(e.message, "does not match host name"), "%s", e.message);
        mh_host_free(h);
        mh_config_free(c);

        /* sslmode: require still encrypts without checking */
        mh_error_clear(&e);
        snprintf(lines, sizeof(lines),
                 "          user: mhc\n          password_file: %s\n          connect: tcp\n"
                 "          sslmode: require\n",
                 PG_PASSWORD_FILE);
        r = make_host(lines, &c, &h, &e);
        ck_assert_msg(r == 0, "%s", e.message);
        r = mh_sql_query(h, NULL, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &res,
                         &e);
        ck_assert_msg(r == 0, "%s", mh_error_message(&e, r));
        ck_assert_str_eq(mh_sql_result_text(res), "t");
        mh_sql_result_free(res);
        mh_host_free(h);
        mh_config_free(c);
        unlink(cert);
}
END_TEST

static Suite *postgresql_suite(void) {
        Suite *s = suite_create("postgresql");
        TCase *tc = tcase_create("lab");

        tcase_add_unchecked_fixture(tc, setup_run, teardown_run);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_restore_everything);
        tcase_add_test(tc, test_restore_skips_unchanged);
        tcase_add_test(tc, test_restore_with_open_client);
        tcase_add_test(tc, test_two_backups);
        tcase_add_test(tc, test_wait_for);
        tcase_add_test(tc, test_sql_api);
        tcase_add_test(tc, test_not_postgresql);
        tcase_add_test(tc, test_wrong_password);
        tcase_add_test(tc, test_config_errors);
        suite_add_tcase(s, tc);

        tc = tcase_create("cluster");
        tcase_add_unchecked_fixture(tc, setup_run, teardown_run);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_restore_database_acl);
        tcase_add_test(tc, test_restore_database_connection_limit);
        tcase_add_test(tc, test_restore_database_comment);
        tcase_add_test(tc, test_restore_database_settings);
        tcase_add_test(tc, test_restore_role_in_database_settings);
        tcase_add_test(tc, test_restore_role_attributes);
        tcase_add_test(tc, test_restore_memberships);
        tcase_add_test(tc, test_restore_dropped_role);
        tcase_add_test(tc, test_restore_names);
        tcase_add_test(tc, test_restore_replication_slots);
        tcase_add_test(tc, test_restore_alter_system);
        tcase_add_test(tc, test_restore_alter_system_needing_a_restart);
        tcase_add_test(tc, test_restore_postgres);
        tcase_add_test(tc, test_restore_admin_dbname);
        tcase_add_test(tc, test_restore_admin_dbname_gone);
        tcase_add_test(tc, test_restore_template1);
        tcase_add_test(tc, test_restore_per_database);
        tcase_add_test(tc, test_old_backup_after_wal_recycled);
        tcase_add_test(tc, test_restore_unlogged);
        suite_add_tcase(s, tc);

        tc = tcase_create("reach");
        tcase_add_unchecked_fixture(tc, firewall_off, firewall_off);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_through_ssh_with_port_firewalled);
        tcase_add_test(tc, test_tcp_verifies_the_certificate);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return run_suite(postgresql_suite());
}
