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

static void setup_run(void) {
        snprintf(run_prefix, sizeof(run_prefix), "mhct%dx", (int) getpid());
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
        r = mh_sql_query(h, NULL, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                         &res, &e);
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
