/* SPDX-License-Identifier: MIT */
/*
 * Killed runs against the lab: mhtest is SIGKILLed in a test, in the
 * topology's setup, in a restore and in the vanilla restore, and the next
 * run finds the hosts as they were before, saying which run it put back
 * after; two runs at once; --no-recover and --recover; what a test leaves
 * running.  The tests are in tests/integration/modules/crash.c.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lab.h"
#include "util.h"
#include "check-run.h"

#include "mhtest-fixture.h"

/* server backs up /srv/mhc-crash; scripted (the client machine) backs up
 * /root/mhc-crash with its own scripts, whose restore sleeps while
 * /run/mhc-slow-NAME exists and leaves /run/mhc-restoring-NAME meanwhile;
 * its drop removes the backup's tar first, then sleeps while
 * /run/mhc-slow-drop-NAME exists, leaving /run/mhc-dropping-NAME. */
#define SERVER_YAML "        backup:\n          paths: [/srv/mhc-crash]\n"
#define SCRIPTED_YAML                                                                \
        "        type: script\n        config:\n"                                    \
        "          backup: 'tar -C /root -cf \"$MHC_BACKUP_DIR/b.tar\" mhc-crash'\n" \
        "          restore: 'touch /run/mhc-restoring-$MHC_BACKUP_NAME; "            \
        "while [ -e /run/mhc-slow-$MHC_BACKUP_NAME ]; do sleep 0.1; done; "          \
        "rm -rf /root/mhc-crash && tar -C /root -xf \"$MHC_BACKUP_DIR/b.tar\" && "   \
        "rm -f /run/mhc-restoring-$MHC_BACKUP_NAME'\n"                               \
        "          drop: 'rm -f \"$MHC_BACKUP_DIR/b.tar\"; touch "                   \
        "/run/mhc-dropping-$MHC_BACKUP_NAME; "                                       \
        "while [ -e /run/mhc-slow-drop-$MHC_BACKUP_NAME ]; do sleep 0.1; done; "     \
        "rm -f /run/mhc-dropping-$MHC_BACKUP_NAME'\n"

static void fixture_crash(fixture *f) {
        const char *names[] = { "server", "scripted" };
        char address[128];
        lab_conn conns[] = { { .yaml = SERVER_YAML }, { .address = address, .yaml = SCRIPTED_YAML } };

        ck_assert(lab_address("client", address, sizeof(address)));
        fixture_init(f, 2, names, conns);
}

/* The hosts' state before a crash: what `clean` checks for. */
static void prepare_hosts(void) {
        ck_assert_int_eq(on_host("server", "rm -rf /srv/mhc-crash /run/mhc-crash-* && mkdir -p "
                                           "/srv/mhc-crash && echo before >/srv/mhc-crash/keep"),
                         0);
        ck_assert_int_eq(on_host("client", "rm -rf /root/mhc-crash /run/mhc-slow-* "
                                           "/run/mhc-restoring-* /run/mhc-dropping-* && mkdir -p "
                                           "/root/mhc-crash && echo before >/root/mhc-crash/keep"),
                         0);
}

/* Wait until command succeeds on host, mhtest (pid) still running; false after 40 s. */
static bool wait_on(const char *host, const char *command, pid_t pid) {
        const struct timespec tick = { .tv_nsec = 100 * 1000 * 1000 };
        int w;

        for (unsigned i = 0; i < 400; i++) {
                if (on_host(host, command) == 0)
                        return true;
                ck_assert_msg(waitpid(pid, &w, WNOHANG) == 0, "mhtest ended before '%s' held",
                              command);
                nanosleep(&tick, NULL);
        }
        return false;
}

static void kill_run(pid_t pid) {
        int w;

        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        ck_assert_int_eq(waitpid(pid, &w, 0), pid);
        ck_assert(WIFSIGNALED(w) && WTERMSIG(w) == SIGKILL);
}

/* Start mhtest on test, wait until it holds on host, and SIGKILL it there. */
static void kill_in(const fixture *f, const char *test, const char *host, const char *command) {
        _cleanup_free_ char *crash = module("crash");
        pid_t pid = mhtest_start(f, (const char *const[]){ "--tests", crash, "-k", test, NULL });

        if (!wait_on(host, command, pid)) {
                kill_run(pid);
                ck_abort_msg("'%s' never held on %s while mhtest ran %s", command, host, test);
        }
        kill_run(pid);
}

/* The next run: `clean` passes, and a warning names the dead run and its step. */
static void assert_recovered(const fixture *f, const char *step) {
        _cleanup_free_ char *crash = module("crash"), *last = NULL;
        run r = {};

        /* the dead run left it dirty: the test below can fail */
        ck_assert_int_eq(on_host("client", "test -e /root/mhc-crash/dirty"), 0);
        MHTEST(f, &r, "--tests", crash, "-k", "clean");
        ck_assert_exit(&r, 0);
        ck_assert_result(&r, "clean", "crash-clean", "PASSED", "");
        ck_assert_int_ge(asprintf(&last, "last at: %s; its vanilla backup is whole; its backups "
                                         "are dropped",
                                  step),
                         0);
        ck_assert_msg(strstr(r.err, "mhtest: warning: server.lab.test: put back after run ") &&
                              strstr(r.err, last),
                      "no warning with '%s':\n%s", last, r.err);
        ck_assert_msg(strstr(r.err, "mhtest: warning: scripted.lab.test: put back after run "),
                      "no warning for scripted:\n%s", r.err);
        run_dispose(&r);
}

START_TEST(test_kill_mid_test) {
        fixture f;

        prepare_hosts();
        fixture_crash(&f);
        kill_in(&f, "dirties", "server", "test -e /run/mhc-crash-ready");
        ck_assert_int_eq(on_host("server", "test -e /srv/mhc-crash/dirty"), 0);
        assert_recovered(&f, "test dirties of topology crash");
        fixture_dispose(&f);
}
END_TEST

START_TEST(test_kill_in_setup) {
        fixture f;

        prepare_hosts();
        fixture_crash(&f);
        kill_in(&f, "in_setup", "server", "test -e /run/mhc-crash-ready");
        ck_assert_int_eq(on_host("server", "test -e /srv/mhc-crash/setup-marker"), 0);
        ck_assert_int_eq(on_host("client", "echo poison >/root/mhc-crash/dirty"), 0);
        assert_recovered(&f, "setup of topology crash-setup");
        fixture_dispose(&f);
}
END_TEST

START_TEST(test_kill_in_restore) {
        fixture f;

        prepare_hosts();
        fixture_crash(&f);
        ck_assert_int_eq(on_host("client", "touch /run/mhc-slow-topology"), 0);
        kill_in(&f, "quick", "client", "test -e /run/mhc-restoring-topology");
        ck_assert_int_eq(on_host("client", "rm -f /run/mhc-slow-topology"), 0);
        assert_recovered(&f, "restore after a test of topology crash");
        fixture_dispose(&f);
}
END_TEST

START_TEST(test_kill_in_vanilla_restore) {
        fixture f;

        prepare_hosts();
        fixture_crash(&f);
        ck_assert_int_eq(on_host("client", "touch /run/mhc-slow-vanilla"), 0);
        kill_in(&f, "quick", "client", "test -e /run/mhc-restoring-vanilla");
        ck_assert_int_eq(on_host("client", "rm -f /run/mhc-slow-vanilla"), 0);
        /* server's vanilla restore may have been done already: only scripted is sure. */
        {
                _cleanup_free_ char *crash = module("crash");
                run r = {};

                MHTEST(&f, &r, "--tests", crash, "-k", "clean");
                ck_assert_exit(&r, 0);
                ck_assert_result(&r, "clean", "crash-clean", "PASSED", "");
                ck_assert_msg(strstr(r.err, "mhtest: warning: scripted.lab.test: put back after "
                                            "run ") &&
                                      strstr(r.err, "last at: vanilla restore after topology crash"),
                              "no warning for scripted:\n%s", r.err);
                run_dispose(&r);
        }
        fixture_dispose(&f);
}
END_TEST

/* The postgresql type's backups are read back: the database is put back, the copies dropped. */
/* The lab's db as a postgresql host, for the runs below. */
static const char *const db_names[] = { "db" };
static const lab_conn db_conns[] = { {
        .yaml = "        type: postgresql\n"
                "        services: [postgresql@15-main.service]\n"
                "        backup:\n          paths: [/etc/postgresql]\n"
                "        config:\n          user: mhc\n"
                "          password_file: " LAB_STATE "/pg-password\n",
} };

START_TEST(test_kill_postgresql) {
        _cleanup_free_ char *crash = module("crash");
        fixture f;
        run r = {};

        ck_assert_int_eq(on_host("db", "rm -f /run/mhc-crash-ready; runuser -u postgres -- psql -q "
                                       "-d mhc -c 'DROP TABLE IF EXISTS crash_poison' && "
                                       "runuser -u postgres -- dropdb --if-exists crash_new"),
                         0);
        fixture_init(&f, 1, db_names, db_conns);
        kill_in(&f, "dirties_db", "db", "test -e /run/mhc-crash-ready");
        ck_assert_int_eq(on_host("db", "runuser -u postgres -- psql -Atc \"SELECT 1 FROM pg_database "
                                       "WHERE datname = 'crash_new'\" | grep -q 1"),
                         0);

        MHTEST(&f, &r, "--tests", crash, "-k", "clean_db");
        ck_assert_exit(&r, 0);
        ck_assert_result(&r, "clean_db", "crash-db", "PASSED", "");
        ck_assert_msg(strstr(r.err, "mhtest: warning: db.lab.test: put back after run ") &&
                              strstr(r.err, "last at: test dirties_db of topology crash-db"),
                      "no warning for db:\n%s", r.err);
        /* the dead run's template copies went with its backups, the last run's with it */
        ck_assert_int_eq(on_host("db", "cd / && test \"$(runuser -u postgres -- psql -Atc \"SELECT "
                                       "count(*) FROM pg_database WHERE datname LIKE "
                                       "'mhcbk\\_%'\")\" = 0"),
                         0);
        run_dispose(&r);
        fixture_dispose(&f);
}
END_TEST

/*
 * A run whose restore re-created postgres and the admin database, killed
 * later: its vanilla record has the oids of before, and the next run's
 * recovery must take the databases of those names for the backed-up ones
 * (not drop them as new, not drop the one it is connected to).
 */
START_TEST(test_kill_after_recreating_postgres) {
        _cleanup_free_ char *crash = module("crash");
        const char *oids = "runuser -u postgres -- psql -Atc \"SELECT string_agg(oid::text, ' ' "
                           "ORDER BY datname) FROM pg_database WHERE datname IN ('postgres', "
                           "'mhc')\"";
        _cleanup_free_ char *before = NULL, *after = NULL;
        fixture f;
        run r = {};
        pid_t pid;

        ck_assert_int_eq(on_host("db", "rm -f /run/mhc-crash-ready; runuser -u postgres -- psql -q "
                                       "-d mhc -c 'DROP TABLE IF EXISTS crash_poison' && "
                                       "runuser -u postgres -- dropdb --if-exists crash_new"),
                         0);
        ck_assert_int_eq(on_host_output("db", oids, &before), 0);
        fixture_init(&f, 1, db_names, db_conns);
        pid = mhtest_start(&f, (const char *const[]){ "--tests", crash, "-k", "rewrites_postgres",
                                                      "-k", "dirties_db", NULL });
        if (!wait_on("db", "test -e /run/mhc-crash-ready", pid)) {
                kill_run(pid);
                ck_abort_msg("dirties_db never ran");
        }
        kill_run(pid);
        /* the restore after rewrites_postgres re-created both */
        ck_assert_int_eq(on_host_output("db", oids, &after), 0);
        ck_assert_msg(!streq(before, after), "postgres and mhc were not re-created: %s", after);

        MHTEST(&f, &r, "--tests", crash, "-k", "clean_db");
        ck_assert_exit(&r, 0);
        ck_assert_result(&r, "clean_db", "crash-db", "PASSED", "");
        ck_assert_int_eq(on_host("db", "cd / && for d in postgres mhc; do test \"$(runuser -u postgres "
                                       "-- psql -d $d -Atc \"SELECT count(*) FROM pg_tables WHERE "
                                       "tablename = 'crash_pg'\")\" = 0 || exit 1; done"),
                         0);
        run_dispose(&r);
        fixture_dispose(&f);
}
END_TEST

/*
 * The run that recovers from a dead one is killed while it drops the dead
 * run's vanilla backup (its tar already gone, as a postgresql backup's
 * template copies go): that backup is no longer whole, so the next run
 * only drops it, and passes.
 */
START_TEST(test_kill_while_dropping_a_dead_run) {
        _cleanup_free_ char *crash = module("crash");
        fixture f;
        run r = {};
        pid_t pid;

        prepare_hosts();
        fixture_crash(&f);
        kill_in(&f, "dirties", "server", "test -e /run/mhc-crash-ready");
        ck_assert_int_eq(on_host("client", "echo poison >/root/mhc-crash/dirty && "
                                           "touch /run/mhc-slow-drop-vanilla"),
                         0);
        pid = mhtest_start(&f, (const char *const[]){ "--tests", crash, "-k", "clean", NULL });
        if (!wait_on("client", "test -e /run/mhc-dropping-vanilla", pid)) {
                kill_run(pid);
                ck_abort_msg("the recovery never dropped the dead run's vanilla backup");
        }
        kill_run(pid);
        ck_assert_int_eq(on_host("client", "rm -f /run/mhc-slow-drop-vanilla /run/mhc-dropping-*"),
                         0);
        /* put back before the kill */
        ck_assert_int_eq(on_host("client", "test -e /root/mhc-crash/dirty"), 1);

        MHTEST(&f, &r, "--tests", crash, "-k", "clean");
        ck_assert_exit(&r, 0);
        ck_assert_result(&r, "clean", "crash-clean", "PASSED", "");
        ck_assert_msg(strstr(r.err, "mhtest: warning: scripted.lab.test: found run ") &&
                              strstr(r.err, "last at: test dirties of topology crash; it left no "
                                            "whole vanilla backup"),
                      "no warning for the dead run:\n%s", r.err);
        run_dispose(&r);
        fixture_dispose(&f);
}
END_TEST

/* A second run finds the hosts held, says by whom, and touches nothing. */
START_TEST(test_two_runs_at_once) {
        _cleanup_free_ char *crash = module("crash"), *holder = NULL;
        fixture f;
        run r = {};
        pid_t pid;

        prepare_hosts();
        fixture_crash(&f);
        pid = mhtest_start(&f, (const char *const[]){ "--tests", crash, "-k", "dirties", NULL });
        ck_assert(wait_on("server", "test -e /run/mhc-crash-ready", pid));

        MHTEST(&f, &r, "--tests", crash, "-k", "clean");
        ck_assert_exit(&r, 3);
        ck_assert_int_ge(asprintf(&holder, "in use by run "), 0);
        ck_assert_msg(strstr(r.out, holder) || strstr(r.err, holder), "no holder named:\n%s%s",
                      r.out, r.err);
        free(holder);
        ck_assert_int_ge(asprintf(&holder, "(mhtest pid %d on ", (int) pid), 0);
        ck_assert_msg(strstr(r.out, holder) || strstr(r.err, holder), "no pid %d named:\n%s%s",
                      (int) pid, r.out, r.err);
        /* the first run's test is still at work, its dirt in place */
        ck_assert_int_eq(on_host("server", "test -e /srv/mhc-crash/dirty"), 0);
        run_dispose(&r);

        kill_run(pid);
        assert_recovered(&f, "test dirties of topology crash");
        fixture_dispose(&f);
}
END_TEST

/* --no-recover leaves a dead run's host alone (exit 3); --recover puts it back. */
START_TEST(test_no_recover_then_recover) {
        _cleanup_free_ char *crash = module("crash");
        fixture f;
        run r = {};

        prepare_hosts();
        fixture_crash(&f);
        kill_in(&f, "dirties", "server", "test -e /run/mhc-crash-ready");

        MHTEST(&f, &r, "--no-recover", "--tests", crash, "-k", "clean");
        ck_assert_exit(&r, 3);
        ck_assert_msg(strstr(r.out, "holds the backups of 1 run(s) that did not end cleanly") ||
                              strstr(r.err, "holds the backups of 1 run(s) that did not end cleanly"),
                      "no reason:\n%s%s", r.out, r.err);
        ck_assert_int_eq(on_host("server", "test -e /srv/mhc-crash/dirty"), 0);
        run_dispose(&r);

        MHTEST(&f, &r, "--recover");
        ck_assert_exit(&r, 0);
        ck_assert_ptr_nonnull(strstr(r.out, "server.lab.test: clean\n"));
        ck_assert_ptr_nonnull(strstr(r.out, "scripted.lab.test: clean\n"));
        ck_assert_ptr_nonnull(strstr(r.err, "mhtest: warning: server.lab.test: put back after run "));
        ck_assert_int_eq(on_host("server", "test -e /srv/mhc-crash/dirty"), 1);
        ck_assert_int_eq(on_host("client", "test -e /root/mhc-crash/dirty"), 1);
        run_dispose(&r);

        /* Nothing left to do: a second --recover says so. */
        MHTEST(&f, &r, "--recover");
        ck_assert_exit(&r, 0);
        ck_assert_ptr_null(strstr(r.err, "warning"));
        run_dispose(&r);
        fixture_dispose(&f);
}
END_TEST

START_TEST(test_background_process_ends_with_its_test) {
        _cleanup_free_ char *crash = module("crash");
        fixture f;
        run r = {};

        prepare_hosts();
        fixture_crash(&f);
        MHTEST(&f, &r, "--tests", crash, "-k", "leaves_daemon", "-k", "daemon_gone");
        ck_assert_exit(&r, 0);
        ck_assert_result(&r, "leaves_daemon", "crash-clean", "PASSED", "");
        ck_assert_result(&r, "daemon_gone", "crash-clean", "PASSED", "");
        run_dispose(&r);
        fixture_dispose(&f);
}
END_TEST

static Suite *crash_suite(void) {
        Suite *s = suite_create("crash");
        TCase *tc = tcase_create("run");

        tcase_set_timeout(tc, 240);
        tcase_add_test(tc, test_kill_mid_test);
        tcase_add_test(tc, test_kill_in_setup);
        tcase_add_test(tc, test_kill_in_restore);
        tcase_add_test(tc, test_kill_in_vanilla_restore);
        tcase_add_test(tc, test_kill_postgresql);
        tcase_add_test(tc, test_kill_after_recreating_postgres);
        tcase_add_test(tc, test_kill_while_dropping_a_dead_run);
        tcase_add_test(tc, test_two_runs_at_once);
        tcase_add_test(tc, test_no_recover_then_recover);
        tcase_add_test(tc, test_background_process_ends_with_its_test);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return run_suite(crash_suite());
}
