/* SPDX-License-Identifier: MIT */
/*
 * Services on server: mhc-web.service (listed under server's services: in
 * mhc.yaml) is stopped, killed and restarted by tests, and is active and
 * serving the lab's page again in the next test.
 */
#include <stdio.h>
#include <string.h>

#include <mhc/mhc.h>

#include "example.h"

/* Before each test: the web server runs, and server is vanilla. */
MH_SETUP
{
        mh_host *server = mh_role(t, "server", 0);

        MH_ASSERT_STREQ(t, mh_service_state(t, server, WEB_UNIT), "active");
        assert_server_vanilla(t, server);
}

/* After each test, also a failed one: no test of this module touched sshd. */
MH_TEARDOWN
{
        mh_host *server = mh_role(t, "server", 0);

        mh_note(t, WEB_UNIT " is %s after the test",
                mh_service_state(t, server, WEB_UNIT) ?: mh_test_error(t));
        MH_ASSERT_STREQ(t, mh_service_state(t, server, "ssh.service"), "active");
}

/* A stopped web server is running again in the next test, on two topologies. */
MH_TEST(web_stop_is_undone, .topologies = MH_LIST("client-server", "client-server-db"))
{
        mh_host *client = mh_role(t, "client", 0);
        mh_host *server = mh_role(t, "server", 0);

        assert_page_served(t, client, server);
        MH_ASSERT_OK(t, mh_service_stop(t, server, WEB_UNIT));
        MH_ASSERT_STREQ(t, mh_service_state(t, server, WEB_UNIT), "inactive");
        MH_ASSERT(t, fetch(t, client, server, "") == CURL_REFUSED);
}

/* A killed web server (failed, and Restart=no) is started again in the next test. */
MH_TEST(web_kill_is_undone, .topology = "client-server")
{
        mh_host *client = mh_role(t, "client", 0);
        mh_host *server = mh_role(t, "server", 0);

        assert_page_served(t, client, server);
        MH_ASSERT_RUN_OK(t, server,
                         "systemctl kill --signal=KILL " WEB_UNIT " && "
                         "for i in $(seq 50); do"
                         " systemctl is-active --quiet " WEB_UNIT " || exit 0; sleep 0.1; "
                         "done; exit 1");
        MH_ASSERT_STREQ(t, mh_service_state(t, server, WEB_UNIT), "failed");
        MH_ASSERT(t, fetch(t, client, server, "") == CURL_REFUSED);
}

/* A restarted web server runs a new process and serves the same page. */
MH_TEST(web_restart_keeps_serving, .topology = "client-server")
{
        mh_host *client = mh_role(t, "client", 0);
        mh_host *server = mh_role(t, "server", 0);
        char pid_before[32];

        MH_ASSERT_RUN_OK(t, server, "systemctl show -P MainPID " WEB_UNIT);
        snprintf(pid_before, sizeof(pid_before), "%s", mh_stdout(t));
        MH_ASSERT_OK(t, mh_service_restart(t, server, WEB_UNIT));
        MH_ASSERT_STREQ(t, mh_service_state(t, server, WEB_UNIT), "active");
        MH_ASSERT_RUN_OK(t, server, "systemctl show -P MainPID " WEB_UNIT);
        MH_ASSERT(t, strcmp(mh_stdout(t), pid_before) != 0);
        assert_page_served(t, client, server);
}

/* Reloading a unit without ExecReload= fails with a reason, and changes nothing. */
MH_TEST(web_reload_is_refused, .topology = "client-server")
{
        mh_host *client = mh_role(t, "client", 0);
        mh_host *server = mh_role(t, "server", 0);

        MH_ASSERT(t, mh_service_reload(t, server, WEB_UNIT) < 0);
        mh_note(t, "reload refused: %s", mh_test_error(t));
        MH_ASSERT(t, mh_test_error(t)[0] != '\0');
        MH_ASSERT_STREQ(t, mh_service_state(t, server, WEB_UNIT), "active");
        assert_page_served(t, client, server);
}
