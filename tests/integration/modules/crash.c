/* SPDX-License-Identifier: MIT */
/*
 * Tests that test-crash kills mhtest under, and the test that checks the
 * hosts afterwards.  Topologies: crash (server and scripted: a script host
 * on the client machine whose restore can be made slow), crash-setup
 * (the same with a slow setup on server) and crash-clean (no setup).
 * /run/mhc-crash-ready on server tells test-crash that a test is where it
 * wants to kill it.
 */
#include <unistd.h>

#include <mhc/test.h>

/* Leave both hosts dirty and a daemon running, then wait to be killed. */
MH_TEST(dirties, .topology = "crash", .timeout = 60) {
        mh_host *server = mh_role(t, "server", 0), *scripted = mh_role(t, "scripted", 0);

        MH_ASSERT_RUN_OK(t, server, "echo poison >/srv/mhc-crash/dirty");
        MH_ASSERT_RUN_OK(t, scripted, "echo poison >/root/mhc-crash/dirty");
        MH_ASSERT_RUN_OK(t, server,
                         "setsid nohup sleep 300 </dev/null >/dev/null 2>&1 & echo $! "
                         ">/run/mhc-crash-daemon");
        MH_ASSERT_RUN_OK(t, server, "touch /run/mhc-crash-ready");
        sleep(50);
}

/* Like dirties, but passes at once: test-crash kills mhtest in the restore after it. */
MH_TEST(quick, .topology = "crash", .timeout = 60) {
        MH_ASSERT_RUN_OK(t, mh_role(t, "server", 0), "echo poison >/srv/mhc-crash/dirty");
        MH_ASSERT_RUN_OK(t, mh_role(t, "scripted", 0), "echo poison >/root/mhc-crash/dirty");
}

MH_TEST(in_setup, .topology = "crash-setup", .timeout = 60) {
        mh_fail(t, "the setup of crash-setup is meant to be killed, not to end");
}

/* The hosts as before any of the above, and no daemon of theirs left. */
MH_TEST(clean, .topology = "crash-clean", .timeout = 60) {
        mh_host *server = mh_role(t, "server", 0), *scripted = mh_role(t, "scripted", 0);

        MH_ASSERT_RUN_OK(t, server, "test \"$(cat /srv/mhc-crash/keep)\" = before");
        MH_ASSERT(t, mh_run(t, server, "test -e /srv/mhc-crash/dirty") == 1);
        MH_ASSERT(t, mh_run(t, server, "test -e /srv/mhc-crash/setup-marker") == 1);
        MH_ASSERT_RUN_OK(t, scripted, "test \"$(cat /root/mhc-crash/keep)\" = before");
        MH_ASSERT(t, mh_run(t, scripted, "test -e /root/mhc-crash/dirty") == 1);
        MH_ASSERT(t, mh_run(t, server,
                            "test -s /run/mhc-crash-daemon && kill -0 $(cat /run/mhc-crash-daemon)") !=
                             0);
}

/* These two run in this order: what the first leaves running is gone in the second. */
MH_TEST(leaves_daemon, .topology = "crash-clean", .timeout = 30) {
        MH_ASSERT_RUN_OK(t, mh_role(t, "server", 0),
                         "setsid nohup sleep 300 </dev/null >/dev/null 2>&1 & echo $! "
                         ">/run/mhc-crash-daemon");
}

MH_TEST(daemon_gone, .topology = "crash-clean", .timeout = 30) {
        MH_ASSERT_RUN_OK(t, mh_role(t, "server", 0), "test -s /run/mhc-crash-daemon");
        MH_ASSERT(t, mh_run(t, mh_role(t, "server", 0), "kill -0 $(cat /run/mhc-crash-daemon)") != 0);
}

/* Tables in postgres and in the admin database: the restore after it re-creates both, so
 * that their oids are not those of the run's vanilla record any more. */
MH_TEST(rewrites_postgres, .topology = "crash-db", .timeout = 60) {
        mh_host *db = mh_role(t, "db", 0);

        MH_ASSERT_RUN_OK(t, db, "runuser -u postgres -- psql -q -d postgres -c 'CREATE TABLE crash_pg (x int)'");
        MH_ASSERT_RUN_OK(t, db, "runuser -u postgres -- psql -q -d mhc -c 'CREATE TABLE crash_pg (x int)'");
}

/* The database server: a table in a backed-up database, a new database, then killed. */
MH_TEST(dirties_db, .topology = "crash-db", .timeout = 60) {
        mh_host *db = mh_role(t, "db", 0);

        MH_ASSERT_RUN_OK(t, db, "runuser -u postgres -- psql -q -d mhc -c 'CREATE TABLE crash_poison (x int)'");
        MH_ASSERT_RUN_OK(t, db, "runuser -u postgres -- createdb crash_new");
        MH_ASSERT_RUN_OK(t, db, "touch /run/mhc-crash-ready");
        sleep(50);
}

MH_TEST(clean_db, .topology = "crash-db", .timeout = 60) {
        mh_host *db = mh_role(t, "db", 0);

        MH_ASSERT_RUN_OK(t, db, "test \"$(runuser -u postgres -- psql -d mhc -Atc \"SELECT count(*) FROM "
                                "pg_tables WHERE tablename = 'crash_poison'\")\" = 0");
        MH_ASSERT_RUN_OK(t, db, "test \"$(runuser -u postgres -- psql -Atc \"SELECT count(*) FROM "
                                "pg_database WHERE datname = 'crash_new'\")\" = 0");
}
