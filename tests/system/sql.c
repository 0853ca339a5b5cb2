/* SPDX-License-Identifier: MIT */
/*
 * PostgreSQL on db, from mh_sql() and from the client's psql: roles,
 * databases, tables and rows that tests create are gone in the next test.
 * The client logs in as a role the test makes with a known password (mhc
 * drops it afterwards), so that no lab password goes to the client.
 */
#include <signal.h>
#include <stdio.h>

#include <mhc/mhc.h>

#include "example.h"

/* Make the role the client logs in with: a member of mhc, the owner of
 * database mhc, so that it may create tables there. */
static void app_role_create(mh_test *t, mh_host *db) {
        mh_sql(t, db, "CREATE ROLE " APP_ROLE " LOGIN PASSWORD '" APP_PASSWORD "' IN ROLE mhc");
}

/* SQL from the client to db, in database dbname, as APP_ROLE: psql's rows. */
static const char *client_sql(mh_test *t, mh_host *client, mh_host *db, const char *dbname,
                              const char *sql) {
        char login[256];

        snprintf(login, sizeof(login),
                 "PGHOST=%s PGUSER=" APP_ROLE " PGPASSWORD=" APP_PASSWORD " PGCONNECT_TIMEOUT=5",
                 mh_host_name(db));
        return psql_rows(t, client, login, dbname, sql);
}

/* db runs PostgreSQL 15 and mh_sql() logs in as the role of mhc.yaml. */
MH_TEST(db_is_postgresql_15, .topology = "client-db")
{
        mh_host *db = mh_role(t, "db", 0);
        mh_sql_result *r;

        assert_db_vanilla(t, db);
        r = mh_sql(t, db,
                   "SELECT current_user, current_setting('server_version_num')::int / 10000 "
                   "AS major");
        MH_ASSERT(t, mh_sql_result_n_rows(r) == 1 && mh_sql_result_n_columns(r) == 2);
        MH_ASSERT_STREQ(t, mh_sql_result_column_name(r, 1), "major");
        MH_ASSERT_STREQ(t, mh_sql_result_value(r, 0, 0), "mhc");
        MH_ASSERT_STREQ(t, mh_sql_result_value(r, 0, 1), "15");
}

/* The client queries db over the network with a role the test made, on two topologies. */
MH_TEST(client_queries_db, .topologies = MH_LIST("client-db", "client-server-db"))
{
        mh_host *client = mh_role(t, "client", 0);
        mh_host *db = mh_role(t, "db", 0);

        assert_db_vanilla(t, db);
        app_role_create(t, db);
        MH_ASSERT_STREQ(t,
                        client_sql(t, client, db, "mhc", "SELECT current_user, current_database()"),
                        APP_ROLE "|mhc\n");
}

/* A table the client creates and fills in database mhc is gone in the next test. */
MH_TEST(client_table_is_dropped, .topologies = MH_LIST("client-db", "client-server-db"))
{
        mh_host *client = mh_role(t, "client", 0);
        mh_host *db = mh_role(t, "db", 0);

        assert_db_vanilla(t, db);
        app_role_create(t, db);
        client_sql(t, client, db, "mhc",
                   "CREATE TABLE orders (id serial PRIMARY KEY, item text NOT NULL);"
                   "INSERT INTO orders (item) VALUES ('tea'), ('milk'), ('bread')");
        MH_ASSERT_STREQ(t, client_sql(t, client, db, "mhc", "SELECT count(*) FROM orders"), "3\n");
        MH_ASSERT_STREQ(
                t,
                db_local_sql(t, db, "mhc", "SELECT string_agg(item, ',' ORDER BY id) FROM orders"),
                "tea,milk,bread\n");
}

/* A database made with mh_sql() and filled from the client is dropped, and its owner role too. */
MH_TEST(new_database_is_dropped, .topology = "client-db")
{
        mh_host *client = mh_role(t, "client", 0);
        mh_host *db = mh_role(t, "db", 0);

        assert_db_vanilla(t, db);
        app_role_create(t, db);
        mh_sql(t, db, "CREATE DATABASE " SHOP_DB " OWNER " APP_ROLE);
        client_sql(t, client, db, SHOP_DB,
                   "CREATE TABLE stock (item text PRIMARY KEY, qty int);"
                   "INSERT INTO stock VALUES ('tea', 5)");
        MH_ASSERT_STREQ(t,
                        mh_sql_text(t, db,
                                    "SELECT pg_get_userbyid(datdba) FROM pg_database "
                                    "WHERE datname = '" SHOP_DB "'"),
                        APP_ROLE);
        MH_ASSERT_STREQ(t, client_sql(t, client, db, SHOP_DB, "SELECT qty FROM stock"), "5\n");
}

/* The server killed (SIGKILL): the client's queries fail, and work again once it is
 * started; the restore after the test finds it running. */
MH_TEST(client_reconnects_after_kill, .topology = "client-db")
{
        mh_host *client = mh_role(t, "client", 0);
        mh_host *db = mh_role(t, "db", 0);
        char login[256];

        assert_db_vanilla(t, db);
        app_role_create(t, db);
        snprintf(login, sizeof(login),
                 "PGHOST=%s PGUSER=" APP_ROLE " PGPASSWORD=" APP_PASSWORD " PGCONNECT_TIMEOUT=2",
                 mh_host_name(db));
        MH_ASSERT_RUN_OK(t, client, "%s psql -X -At -d mhc -c 'SELECT 1'", login);
        MH_ASSERT_OK(t, mh_service_kill(t, db, DB_UNIT, SIGKILL));
        MH_ASSERT(t, mh_run(t, client, "%s psql -X -At -d mhc -c 'SELECT 1'", login) != 0);
        MH_ASSERT_OK(t, mh_service_start(t, db, DB_UNIT));
        MH_ASSERT_RUN_OK(t, client,
                         "for i in $(seq 50); do %s psql -X -At -d mhc -c 'SELECT 1' && exit 0; "
                         "sleep 0.2; done; exit 1",
                         login);
}
