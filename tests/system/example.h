/* SPDX-License-Identifier: MIT */
/*
 * What the example suite's modules share: the lab's vanilla state (see
 * tests/lab/README.md) and how to check it.  Every test checks the state
 * of the hosts it uses before it changes anything, so that whatever a test
 * left behind fails the next test, in any order (mhtest --shuffle).
 */
#ifndef MHC_EXAMPLE_H
#define MHC_EXAMPLE_H

#include <mhc/mhc.h>

/* The lab's web server on server and the line its page holds. */
#define WEB_UNIT   "mhc-web.service"
#define WEB_MARKER "mhc-web ok"

/* A file and a directory that tests create on server; the lab has neither. */
#define EXAMPLE_CONF "/etc/mhc-example.conf"
#define EXAMPLE_DIR  "/etc/mhc-example.d"

/* The PostgreSQL server of db. */
#define DB_UNIT "postgresql@15-main.service"

/* A role and a database that tests create on db; the lab has neither. */
#define APP_ROLE     "mhc_app"
#define APP_PASSWORD "app-secret"
#define SHOP_DB      "shop"

/* curl's exit statuses: connection refused, an HTTP error with -f, a timeout. */
#define CURL_REFUSED    7
#define CURL_HTTP_ERROR 22
#define CURL_TIMED_OUT  28

/* Fetch http://SERVER/path from the client; curl's status, the page in mh_stdout(). */
static inline int fetch(mh_test *t, mh_host *client, mh_host *server, const char *path) {
        return mh_run(t, client, "curl -fsS --max-time 5 http://%s/%s", mh_host_name(server), path);
}

/* The client gets the lab's page (the one with the marker line) from server. */
static inline void assert_page_served(mh_test *t, mh_host *client, mh_host *server) {
        MH_ASSERT_RUN_OK(t, client, "curl -fsS --max-time 5 http://%s/ | grep -x '" WEB_MARKER "'",
                         mh_host_name(server));
}

/* server is as tests/lab/up left it, in all that the suite's tests change. */
static inline void assert_server_vanilla(mh_test *t, mh_host *server) {
        mh_run(t, server,
               "cmp -s /etc/motd /usr/share/base-files/motd || echo '/etc/motd changed';"
               "[ \"$(stat -c '%%U:%%G %%a' /etc/motd 2>&1)\" = 'root:root 644' ] ||"
               " echo '/etc/motd: owner or mode changed';"
               "for f in " EXAMPLE_CONF " " EXAMPLE_DIR
               "; do [ ! -e $f ] || echo \"$f exists\"; done;"
               "[ \"$(ls -A /srv/www)\" = index.html ] || echo \"/srv/www: $(ls -A /srv/www)\";"
               "grep -qx '" WEB_MARKER "' /srv/www/index.html || echo 'the page changed';"
               "systemctl is-active --quiet " WEB_UNIT " || echo '" WEB_UNIT " is not active'");
        MH_ASSERT_STREQ(t, mh_stdout(t), "");
}

/*
 * Run sql with psql on host h, in database dbname, and return its rows as
 * `psql -At` prints them; a failure fails the test with psql's message.
 * login comes before `psql`: environment (PGHOST=...) or a command prefix.
 */
static inline const char *psql_rows(mh_test *t, mh_host *h, const char *login, const char *dbname,
                                    const char *sql) {
        if (mh_run_input(t, h, sql, "%s psql -X -q -At -v ON_ERROR_STOP=1 -d %s", login, dbname))
                mh_fail(t, "psql on %s: %s", mh_host_name(h), mh_stderr(t));
        return mh_stdout(t);
}

/* SQL in any database of db, as postgres on db itself: mh_sql() only reaches
 * the host's administration database, which mhc does not back up. */
static inline const char *db_local_sql(mh_test *t, mh_host *db, const char *dbname,
                                       const char *sql) {
        return psql_rows(t, db, "cd / && runuser -u postgres --", dbname, sql);
}

/* db is as tests/lab/up left it: no test role or database, no table in mhc. */
static inline void assert_db_vanilla(mh_test *t, mh_host *db) {
        MH_ASSERT_STREQ(t,
                        mh_sql_text(t, db,
                                    "SELECT (SELECT count(*) FROM pg_roles"
                                    "        WHERE rolname = '" APP_ROLE "'),"
                                    "       (SELECT count(*) FROM pg_database"
                                    "        WHERE datname = '" SHOP_DB "')"),
                        "0|0");
        MH_ASSERT_STREQ(t,
                        db_local_sql(t, db, "mhc",
                                     "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"),
                        "0\n");
}

#endif
