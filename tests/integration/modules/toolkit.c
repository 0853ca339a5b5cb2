/* SPDX-License-Identifier: MIT */
/*
 * The test API's toolkit, for test-toolkit: cleanups (also after a crash
 * and a timeout), waits, files put back, INI edits, users, jobs,
 * parameters, assertions and their messages, systemd and SQL calls,
 * secrets, scratch directories, artifacts and requirements.  Topologies
 * toolkit (client and server) and toolkit-db (db).  What a test leaves for
 * test-toolkit to look at goes to /var/tmp/mhc-toolkit.* on client, which
 * no backup covers; test-toolkit removes it.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mhc/postgresql.h>
#include <mhc/test.h>

#define ORDER "/var/tmp/mhc-toolkit.order"

static void note_order(mh_test *t, void *userdata) {
        mh_host *client = mh_role(t, "client", 0);

        MH_ASSERT_RUN_OK(t, client, "echo %s >> " ORDER, (const char *) userdata);
}

/* Cleanups run newest first, commands and C functions alike, after MH_TEARDOWN. */
MH_TEST(cleanup_order, .topology = "toolkit") {
        mh_host *client = mh_role(t, "client", 0);

        mh_cleanup_run(t, client, "echo first >> " ORDER);
        mh_cleanup(t, note_order, (void *) "second");
        mh_cleanup_run(t, client, "echo third >> " ORDER);
}

/* A crash: mhtest runs the command cleanups itself. */
MH_TEST(cleanup_after_crash, .topology = "toolkit") {
        mh_cleanup_run(t, mh_role(t, "client", 0), "echo crash >> " ORDER);
        abort();
}

/* A timeout likewise. */
MH_TEST(cleanup_after_timeout, .topology = "toolkit", .timeout = 2, .tags = MH_LIST("slow", "cleanup")) {
        mh_cleanup_run(t, mh_role(t, "client", 0), "echo timeout >> " ORDER);
        sleep(30);
}

/* A cleanup that fails fails the test; the ones before it still run. */
MH_TEST(cleanup_fails, .topology = "toolkit") {
        mh_cleanup_run(t, mh_role(t, "client", 0), "echo after-failure >> " ORDER);
        mh_cleanup_run(t, mh_role(t, "client", 0), "echo oops >&2; exit 4");
}

/* Files written, appended to, removed and made are put back; reads are binary-safe. */
MH_TEST(files_put_back, .topology = "toolkit") {
        mh_host *client = mh_role(t, "client", 0);
        static const char bytes[] = { 'a', '\0', 'b', '\n' };
        size_t size = 0;
        char *back;

        MH_ASSERT_OK(t, mh_file_write(t, client, "/var/tmp/mhc-toolkit.new", bytes, sizeof(bytes),
                                      0600));
        back = mh_file_read(t, client, "/var/tmp/mhc-toolkit.new", &size);
        MH_ASSERT(t, back != NULL);
        MH_ASSERT_INT(t, size, ==, sizeof(bytes));
        MH_ASSERT(t, memcmp(back, bytes, size) == 0);
        MH_ASSERT_RUN_OK(t, client, "test \"$(stat -c %%a /var/tmp/mhc-toolkit.new)\" = 600");

        MH_ASSERT_OK(t, mh_file_append(t, client, "/var/tmp/mhc-toolkit.keep", "more\n"));
        MH_ASSERT_STREQ(t, mh_file_read(t, client, "/var/tmp/mhc-toolkit.keep", NULL), "keep\nmore\n");
        MH_ASSERT_OK(t, mh_file_remove(t, client, "/var/tmp/mhc-toolkit.gone"));
        MH_ASSERT_RUN_OK(t, client, "test ! -e /var/tmp/mhc-toolkit.gone");
        MH_ASSERT_OK(t, mh_mkdir(t, client, "/var/tmp/mhc-toolkit.dir/a/b", 0750));
        MH_ASSERT_RUN_OK(t, client, "test -d /var/tmp/mhc-toolkit.dir/a/b");
        MH_ASSERT(t, mh_file_read(t, client, "/var/tmp/mhc-toolkit.none", NULL) == NULL);
        MH_ASSERT_CONTAINS(t, mh_test_error(t), "client.lab.test");
        MH_ASSERT_FAILS(t, mh_file_write(t, client, "relative", "x", 1, 0644));
}

/* An INI key replaced, one added to a section, a section added; the file put back. */
MH_TEST(ini_set, .topology = "toolkit") {
        mh_host *client = mh_role(t, "client", 0);
        const char *path = "/var/tmp/mhc-toolkit.ini";

        MH_ASSERT_OK(t, mh_ini_set(t, client, path, "domain/lab", "id_provider", "files"));
        MH_ASSERT_OK(t, mh_ini_set(t, client, path, "domain/lab", "debug_level", "9"));
        MH_ASSERT_OK(t, mh_ini_set(t, client, path, "nss", "filter_users", "root"));
        MH_ASSERT_STREQ(t, mh_file_read(t, client, path, NULL),
                        "[domain/lab]\nid_provider = files\ndebug_level = 9\n\n[nss]\n"
                        "filter_users = root\n");
}

/* Two hosts' files compared: equal passes, a difference fails with its line. */
MH_TEST(same_file, .topology = "toolkit") {
        mh_host *client = mh_role(t, "client", 0), *server = mh_role(t, "server", 0);

        MH_ASSERT_OK(t, mh_file_write(t, client, "/var/tmp/mhc-toolkit.cmp", "a\nb\n", 4, 0644));
        MH_ASSERT_OK(t, mh_file_write(t, server, "/var/tmp/mhc-toolkit.cmp", "a\nb\n", 4, 0644));
        MH_ASSERT_SAME_FILE(t, client, "/var/tmp/mhc-toolkit.cmp", server, "/var/tmp/mhc-toolkit.cmp");
        MH_ASSERT_OK(t, mh_file_write(t, server, "/var/tmp/mhc-toolkit.cmp", "a\nc\n", 4, 0644));
        MH_ASSERT_SAME_FILE(t, client, "/var/tmp/mhc-toolkit.cmp", server, "/var/tmp/mhc-toolkit.cmp");
}

/* A user in a group, with a password that never shows. */
MH_TEST(user_add, .topology = "toolkit") {
        mh_host *client = mh_role(t, "client", 0);

        MH_ASSERT_OK(t, mh_group_add(t, client, "mhc-staff"));
        MH_ASSERT_OK(t, mh_user_add(t, client, "mhc-alice", MH_LIST("mhc-staff"), "Pw-toolkit-4711"));
        MH_ASSERT_RUN_OK(t, client, "id -nG mhc-alice | grep -qw mhc-staff");
        MH_ASSERT_RUN_OK(t, client, "test -d /home/mhc-alice");
        MH_ASSERT_FAILS(t, mh_user_add(t, client, "bad name", NULL, NULL));
        mh_note(t, "alice's password is Pw-toolkit-4711");
        MH_FAIL(t, "to show the note");
}

/* Jobs: waited for with their status and output, signalled, one left running. */
MH_TEST(jobs, .topology = "toolkit") {
        mh_host *client = mh_role(t, "client", 0);
        mh_job *done = mh_job_start(t, client, "echo out; echo err >&2; exit 3");
        mh_job *sleeper = mh_job_start(t, client, "sleep 100");

        MH_ASSERT(t, done && sleeper);
        MH_ASSERT_INT(t, mh_job_wait(t, done, 5000), ==, 3);
        MH_ASSERT_STREQ(t, mh_job_stdout(t, done), "out\n");
        MH_ASSERT_STREQ(t, mh_job_stderr(t, done), "err\n");
        MH_ASSERT_INT(t, mh_job_wait(t, sleeper, 100), ==, -ETIMEDOUT);
        MH_ASSERT_CONTAINS(t, mh_test_error(t), "still runs");
        MH_ASSERT_OK(t, mh_job_signal(t, sleeper, SIGTERM));
        MH_ASSERT_INT(t, mh_job_wait(t, sleeper, 5000), ==, 128 + SIGTERM);
        MH_ASSERT(t, mh_job_start(t, client, "sleep 3131") != NULL);
}

/* Waits: a command until it succeeds, a condition, a journal line. */
MH_TEST(waits, .topology = "toolkit") {
        mh_host *client = mh_role(t, "client", 0);
        const char *flag = mh_printf(t, "%s/flag", mh_scratch_dir(t, client));
        mh_job *job = mh_job_start(t, client, "sleep 0.3; touch %s; logger -t mhc-toolkit ready-%s",
                                   flag, mh_param(t) ?: "x");
        int tries = 0;

        MH_ASSERT(t, job);
        MH_ASSERT_OK(t, mh_wait_run(t, client, 5000, "test -e %s", flag));
        MH_ASSERT_OK(t, mh_wait_journal(t, client, NULL, "ready-x", 5000));
        MH_ASSERT_STREQ(t, mh_stdout(t), "ready-x\n");
        MH_ASSERT_OK(t, mh_journal_mark(t, client));
        MH_ASSERT_INT(t, mh_wait_journal(t, client, NULL, "ready-x", 300), ==, -ETIMEDOUT);
        MH_ASSERT_CONTAINS(t, mh_test_error(t), "matched 'ready-x' within");
        MH_ASSERT_INT(t, mh_wait_run(t, client, 300, "echo no; exit 2"), ==, -ETIMEDOUT);
        MH_ASSERT_CONTAINS(t, mh_test_error(t), "did not succeed within");
        MH_ASSERT_CONTAINS(t, mh_test_error(t), "exit 2, 'no'");
        MH_WAIT_UNTIL(t, 5000, ++tries == 3);
        MH_ASSERT_INT(t, tries, ==, 3);
}

/* A condition that never holds fails the test with the tries. */
MH_TEST(wait_until_fails, .topology = "toolkit") {
        int tries = 0;

        MH_WAIT_UNTIL(t, 200, ++tries < 0);
}

/* Each value its own case. */
MH_TEST(param_case, .topology = "toolkit", .params = MH_LIST("yes", "no")) {
        MH_ASSERT(t, mh_param(t) != NULL);
        MH_ASSERT_RUN_OK(t, mh_role(t, "client", 0), "echo %s >> " ORDER,
                         mh_printf(t, "param-%s", mh_param(t)));
}

/* The assertions' messages, one test each, all failing on purpose. */
MH_TEST(assert_int, .topology = "toolkit") {
        int n = 2;

        MH_ASSERT_INT(t, n, ==, 2);
        MH_ASSERT_INT(t, n, >=, 3);
}

MH_TEST(assert_contains, .topology = "toolkit") {
        MH_ASSERT_CONTAINS(t, "hello world", "world");
        MH_ASSERT_CONTAINS(t, "hello world", "moon");
}

MH_TEST(assert_run_exit, .topology = "toolkit") {
        MH_ASSERT_RUN_EXIT(t, mh_role(t, "client", 0), 3, "exit 3");
        MH_ASSERT_RUN_EXIT(t, mh_role(t, "client", 0), 3, "exit 4");
}

MH_TEST(assert_fails, .topology = "toolkit") {
        MH_ASSERT_FAILS(t, mh_service_start(t, mh_role(t, "client", 0), "mhc-none.service"));
        MH_ASSERT_FAILS(t, mh_service_status(t, mh_role(t, "server", 0), "mhc-web.service",
                                             &(mh_unit_state){}));
}

static int fails_quietly(void) {
        return -EINVAL;
}

/* MH_ASSERT_OK shows its own call's error, not the one before it. */
MH_TEST(assert_ok_not_stale, .topology = "toolkit") {
        MH_ASSERT_FAILS(t, mh_service_start(t, mh_role(t, "client", 0), "mhc-none.service"));
        MH_ASSERT_OK(t, fails_quietly());
}

MH_TEST(fail_here, .topology = "toolkit") {
        MH_FAIL(t, "because %d", 42);
}

/* Memory of the test's, output lines, duration, roles. */
MH_TEST(own_memory, .topology = "toolkit") {
        mh_host *client = mh_role(t, "client", 0);
        const char *const *lines;

        MH_ASSERT_RUN_OK(t, client, "printf 'a b\\nc\\n'; sleep 0.05; echo %s", mh_quote(t, "it's"));
        lines = mh_stdout_lines(t);
        MH_ASSERT_STREQ(t, lines[0], "a b");
        MH_ASSERT_STREQ(t, lines[1], "c");
        MH_ASSERT_STREQ(t, lines[2], "it's");
        MH_ASSERT(t, lines[3] == NULL);
        MH_ASSERT_INT(t, mh_last_duration_usec(t), >=, 50000);
        MH_ASSERT_STREQ(t, mh_strdup(t, "x"), "x");
        MH_ASSERT_INT(t, mh_role_count(t, "client"), ==, 1);
        MH_ASSERT_INT(t, mh_role_count(t, "db"), ==, 0);
}

/* A unit's whole state, reset-failed and daemon-reload. */
MH_TEST(systemd_calls, .topology = "toolkit") {
        mh_host *server = mh_role(t, "server", 0);
        mh_unit_state st, again;

        MH_ASSERT_OK(t, mh_service_status(t, server, "mhc-web.service", &st));
        MH_ASSERT_STREQ(t, st.active_state, "active");
        MH_ASSERT_STREQ(t, st.sub_state, "running");
        MH_ASSERT_INT(t, strlen(st.invocation_id), ==, 32);
        MH_ASSERT_OK(t, mh_service_restart(t, server, "mhc-web.service"));
        MH_ASSERT_OK(t, mh_service_status(t, server, "mhc-web.service", &again));
        MH_ASSERT(t, strcmp(st.invocation_id, again.invocation_id) != 0);
        MH_ASSERT_RUN_EXIT(t, server, 1, "systemd-run -q --wait -u mhc-toolkit-fails.service false");
        MH_ASSERT_OK(t, mh_service_status(t, server, "mhc-toolkit-fails.service", &st));
        MH_ASSERT_STREQ(t, st.active_state, "failed");
        MH_ASSERT_STREQ(t, st.result, "exit-code");
        MH_ASSERT_OK(t, mh_service_reset_failed(t, server, "mhc-toolkit-fails.service"));
        MH_ASSERT_RUN_EXIT(t, server, 1, "systemctl is-failed -q mhc-toolkit-fails.service");
        MH_ASSERT_OK(t, mh_daemon_reload(t, server));
}

/* A scratch directory, gone at the end; a secret the test makes up. */
MH_TEST(scratch_and_secret, .topology = "toolkit") {
        mh_host *client = mh_role(t, "client", 0);
        const char *dir = mh_scratch_dir(t, client);

        MH_ASSERT(t, dir != NULL);
        MH_ASSERT_RUN_OK(t, client, "test -d %s && echo %s > " ORDER ".scratch", dir, dir);
        mh_secret(t, "made-up-9931");
        MH_ASSERT_RUN_OK(t, client, "echo made-up-9931 > /var/tmp/mhc-toolkit.artifact");
        mh_artifact(t, client, "/var/tmp/mhc-toolkit.artifact");
        MH_FAIL(t, "the secret is made-up-9931");
}

/* Needs what no host has: skipped at plan time. */
MH_TEST(needs_feature, .topology = "toolkit", .requires = MH_LIST("client:no-such-feature")) {
        MH_FAIL(t, "ran without its feature");
}

/* Needs what the fixture gives client. */
MH_TEST(has_feature, .topology = "toolkit", .requires = MH_LIST("client:toolkit")) {
        MH_ASSERT_INT(t, mh_role_count(t, "client"), ==, 1);
}

/* SQL in a named database, with bound parameters, quoting and a wait. */
MH_TEST(sql_calls, .topology = "toolkit-db") {
        mh_host *db = mh_role(t, "db", 0);

        mh_sql_in(t, db, "postgres", "CREATE DATABASE mhc_toolkit");
        mh_sql_in(t, db, "mhc_toolkit", "CREATE TABLE names (name text)");
        mh_sql_params(t, db, "mhc_toolkit", "INSERT INTO names VALUES ($1), ($2)",
                      MH_LIST("it's", "b"));
        mh_sql_in(t, db, "mhc_toolkit", "INSERT INTO names VALUES (%s)", mh_sql_literal(t, "c\\'d"));
        MH_ASSERT_STREQ(t, mh_sql_text_in(t, db, "mhc_toolkit", "SELECT name FROM names ORDER BY 1"),
                        "b\nc\\'d\nit's");
        MH_ASSERT_OK(t, mh_sql_wait(t, db, "mhc_toolkit", "SELECT count(*) FROM names", "3", 2000));
        MH_ASSERT_FAILS(t, mh_sql_wait(t, db, "mhc_toolkit", "SELECT count(*) FROM names", "4", 300));
        MH_ASSERT_CONTAINS(t, mh_test_error(t), "expected '4' but got '3'");
        mh_sql_in(t, db, "mhc_toolkit", "SELECT * FROM missing");
}
