/* SPDX-License-Identifier: MIT */
/*
 * The test toolkit (mhc-test(3)) on the lab, as a QA engineer's module
 * uses it: the web server's unit edited and restarted on a port per
 * parameter, a user made on server logging in from client, journal waits,
 * a background load while the server restarts, a page compared with its
 * file across hosts, SQL waited for in a database of its own, and a
 * transient unit that a cleanup stops, also after a crash.  Everything a
 * test changes outside the hosts' backups is put back by the toolkit.
 */
#include <stdlib.h>
#include <string.h>

#include <mhc/mhc.h>

#include "example.h"

#define WEB_UNIT_FILE "/etc/systemd/system/" WEB_UNIT
#define LOAD_UNIT     "mhc-example-load.service"

/* The web server listens on the port of the test's parameter: the unit's
 * ExecStart set, systemd reloaded, the server restarted. */
MH_TEST(web_port, .topology = "client-server", .params = MH_LIST("8080", "8081"),
        .tags = MH_LIST("config", "restart"),
        .description = "the web server moved to another port by its unit file")
{
        mh_host *client = mh_role(t, "client", 0);
        mh_host *server = mh_role(t, "server", 0);
        const char *port = mh_param(t);

        assert_server_vanilla(t, server);
        /* Cleanups run newest first: this one runs after the unit file is put back. */
        mh_cleanup_run(t, server, "systemctl daemon-reload");
        MH_ASSERT_OK(t, mh_ini_set(t, server, WEB_UNIT_FILE, "Service", "ExecStart",
                                   mh_printf(t, "/usr/bin/busybox httpd -f -p %s -h /srv/www",
                                             port)));
        MH_ASSERT_OK(t, mh_journal_mark(t, server));
        MH_ASSERT_OK(t, mh_daemon_reload(t, server));
        MH_ASSERT_OK(t, mh_service_restart(t, server, WEB_UNIT));
        MH_ASSERT_OK(t, mh_wait_journal(t, server, WEB_UNIT, "^Started ", 5000));
        MH_ASSERT_OK(t, mh_wait_run(t, client, 5000, "curl -fsS --max-time 2 http://%s:%s/ | grep -qx %s",
                                    mh_host_name(server), port, mh_quote(t, WEB_MARKER)));
        MH_ASSERT_RUN_EXIT(t, client, CURL_REFUSED, "curl -fsS --max-time 2 http://%s/",
                           mh_host_name(server));
}

/* A user made on server, in a group, logs in from client with its password. */
MH_TEST(user_logs_in_from_client, .topology = "client-server")
{
        mh_host *client = mh_role(t, "client", 0);
        mh_host *server = mh_role(t, "server", 0);
        const char *password = mh_printf(t, "pw-%08lx", random());
        const char *askpass = mh_printf(t, "%s/askpass", mh_scratch_dir(t, client));

        mh_secret(t, password);
        MH_ASSERT_OK(t, mh_group_add(t, server, "mhc-readers"));
        MH_ASSERT_OK(t, mh_user_add(t, server, "mhc-carol", MH_LIST("mhc-readers"), password));
        /* ssh reads the password from a program of ours; nothing in a command line */
        MH_ASSERT_OK(t, mh_file_write(t, client, askpass, mh_printf(t, "#!/bin/sh\necho '%s'\n",
                                                                    password),
                                      strlen(password) + 17, 0700));
        MH_ASSERT_RUN_OK(t, client,
                         "SSH_ASKPASS=%s SSH_ASKPASS_REQUIRE=force setsid -w ssh -n "
                         "-o PubkeyAuthentication=no -o StrictHostKeyChecking=accept-new "
                         "-o UserKnownHostsFile=%s/known_hosts -o ConnectTimeout=5 "
                         "mhc-carol@%s id -nG",
                         askpass, mh_scratch_dir(t, client), mh_host_name(server));
        MH_ASSERT_CONTAINS(t, mh_stdout(t), "mhc-readers");
        MH_ASSERT_OK(t, mh_wait_journal(t, server, "ssh.service",
                                        "Accepted password for mhc-carol", 5000));
}

/* A load on the web server from client while it restarts twice: it is served again after. */
MH_TEST(load_during_restart, .topology = "client-server", .tags = MH_LIST("restart"))
{
        mh_host *client = mh_role(t, "client", 0);
        mh_host *server = mh_role(t, "server", 0);
        mh_job *load;
        unsigned served = 0;

        assert_server_vanilla(t, server);
        load = mh_job_start(t, client,
                            "for i in $(seq 30); do curl -s -o /dev/null -w '%%{http_code}\\n' "
                            "--max-time 1 http://%s/; sleep 0.05; done",
                            mh_host_name(server));
        MH_ASSERT(t, load != NULL);
        for (int i = 0; i < 2; i++)
                MH_ASSERT_OK(t, mh_service_restart(t, server, WEB_UNIT));
        MH_ASSERT_INT(t, mh_job_wait(t, load, 30000), ==, 0);
        for (const char *line = mh_job_stdout(t, load); (line = strstr(line, "200\n")); line += 4)
                served++;
        mh_note(t, "%u of 30 requests served during the restarts", served);
        MH_ASSERT_INT(t, served, >, 0);
        assert_page_served(t, client, server);
}

/* The page client gets is server's file, also after the test appends to it. */
MH_TEST(page_is_the_file, .topology = "client-server")
{
        mh_host *client = mh_role(t, "client", 0);
        mh_host *server = mh_role(t, "server", 0);
        const char *got = mh_printf(t, "%s/index.html", mh_scratch_dir(t, client));
        const char *fetch_page = mh_printf(t, "curl -fsS --max-time 5 -o %s http://%s/", got,
                                           mh_host_name(server));

        assert_server_vanilla(t, server);
        MH_ASSERT_RUN_OK(t, client, "%s", fetch_page);
        MH_ASSERT_SAME_FILE(t, client, got, server, "/srv/www/index.html");
        MH_ASSERT_OK(t, mh_file_append(t, server, "/srv/www/index.html", "<p>appended</p>\n"));
        MH_ASSERT_RUN_OK(t, client, "%s", fetch_page);
        MH_ASSERT_SAME_FILE(t, client, got, server, "/srv/www/index.html");
        MH_ASSERT_CONTAINS(t, mh_file_read(t, client, got, NULL), "<p>appended</p>");
}

/* Orders a background job writes into a database of the test's are waited for. */
MH_TEST(orders_arrive, .topology = "client-db")
{
        mh_host *db = mh_role(t, "db", 0);
        mh_job *writer;

        assert_db_vanilla(t, db);
        mh_sql(t, db, "CREATE DATABASE " SHOP_DB);
        mh_sql_in(t, db, SHOP_DB, "CREATE TABLE orders (id serial PRIMARY KEY, item text)");
        mh_sql_params(t, db, SHOP_DB, "INSERT INTO orders (item) VALUES ($1)", MH_LIST("tea"));
        writer = mh_job_start(t, db,
                              "cd / && for item in milk bread; do sleep 0.3; runuser -u postgres "
                              "-- psql -X -q -d " SHOP_DB " -c \"INSERT INTO orders (item) "
                              "VALUES ('$item')\"; done");
        MH_ASSERT(t, writer != NULL);
        MH_ASSERT_OK(t, mh_sql_wait(t, db, SHOP_DB, "SELECT count(*) FROM orders", "3", 10000));
        MH_ASSERT_STREQ(t, mh_sql_text_in(t, db, SHOP_DB,
                                          "SELECT string_agg(item, ',' ORDER BY id) FROM orders "
                                          "WHERE item <> %s",
                                          mh_sql_literal(t, "it's not")),
                        "tea,milk,bread");
        MH_ASSERT_INT(t, mh_job_wait(t, writer, 5000), ==, 0);
}

/* A transient unit (which no restore undoes) is stopped by a cleanup, also
 * when the test crashes: MHC_EXAMPLE_CRASH=1 makes it (tests/demo does). */
MH_TEST(transient_unit_stopped, .topology = "client-server")
{
        mh_host *server = mh_role(t, "server", 0);
        mh_unit_state st;

        MH_ASSERT_RUN_EXIT(t, server, 4, "systemctl status " LOAD_UNIT " >/dev/null 2>&1");
        mh_cleanup_run(t, server, "systemctl stop " LOAD_UNIT "; systemctl reset-failed "
                                  LOAD_UNIT " 2>/dev/null || :");
        MH_ASSERT_RUN_OK(t, server, "systemd-run -q -u " LOAD_UNIT " sleep 600");
        MH_ASSERT_OK(t, mh_service_status(t, server, LOAD_UNIT, &st));
        MH_ASSERT_STREQ(t, st.sub_state, "running");
        if (getenv("MHC_EXAMPLE_CRASH"))
                abort();
}
