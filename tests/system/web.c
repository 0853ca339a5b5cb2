/* SPDX-License-Identifier: MIT */
/*
 * The web server on server, seen from the client: the client fetches the
 * page with curl; tests that change what server serves from /srv/www
 * (backed up in mhc.yaml) find the lab's page again in the next test;
 * faults cut the client off and pause the server, and heal.
 */
#include <string.h>

#include <mhc/mhc.h>

#include "example.h"

/* The client gets exactly the page server has in /srv/www, on two topologies. */
MH_TEST(client_fetches_page, .topologies = MH_LIST("client-server", "client-server-db"))
{
        mh_host *client = mh_role(t, "client", 0);
        mh_host *server = mh_role(t, "server", 0);
        char page[4096];

        assert_server_vanilla(t, server);
        MH_ASSERT_RUN_OK(t, server, "cat /srv/www/index.html");
        MH_ASSERT(t, strlen(mh_stdout(t)) < sizeof(page));
        strcpy(page, mh_stdout(t));
        MH_ASSERT(t, fetch(t, client, server, "") == 0);
        MH_ASSERT_STREQ(t, mh_stdout(t), page);
        MH_ASSERT(t, strstr(page, "\n" WEB_MARKER "\n") != NULL);
}

/* A changed page is the lab's page again in the next test. */
MH_TEST(page_change_is_undone, .topology = "client-server")
{
        mh_host *client = mh_role(t, "client", 0);
        mh_host *server = mh_role(t, "server", 0);

        assert_server_vanilla(t, server);
        assert_page_served(t, client, server);
        MH_ASSERT_RUN_OK(t, server,
                         "echo '<h1>changed by page_change_is_undone</h1>' > "
                         "/srv/www/index.html");
        MH_ASSERT(t, fetch(t, client, server, "") == 0);
        MH_ASSERT_STREQ(t, mh_stdout(t), "<h1>changed by page_change_is_undone</h1>\n");
}

/* A new page is served while the test runs and is gone (404) in the next test. */
MH_TEST(new_page_is_removed, .topology = "client-server")
{
        mh_host *client = mh_role(t, "client", 0);
        mh_host *server = mh_role(t, "server", 0);

        assert_server_vanilla(t, server);
        MH_ASSERT(t, fetch(t, client, server, "extra.html") == CURL_HTTP_ERROR);
        MH_ASSERT_RUN_OK(t, server, "echo 'extra page' > /srv/www/extra.html");
        MH_ASSERT(t, fetch(t, client, server, "extra.html") == 0);
        MH_ASSERT_STREQ(t, mh_stdout(t), "extra page\n");
}

/* During a partition the client cannot reach the page; after the heal it can. */
MH_TEST(partition_cuts_the_page, .topology = "client-server")
{
        mh_host *client = mh_role(t, "client", 0);
        mh_host *server = mh_role(t, "server", 0);
        int cut;

        assert_page_served(t, client, server);
        /* refused rather than dropped: curl fails at once instead of timing out */
        cut = mh_partition(t, MH_HOSTS(client), MH_HOSTS(server), MH_PARTITION_REJECT);
        MH_ASSERT_OK(t, cut);
        MH_ASSERT(t, fetch(t, client, server, "") == CURL_REFUSED);
        MH_ASSERT_OK(t, mh_fault_heal(t, cut));
        assert_page_served(t, client, server);
}

/* A paused web server times the request out and serves it again when resumed. */
MH_TEST(paused_server_times_out, .topology = "client-server")
{
        mh_host *client = mh_role(t, "client", 0);
        mh_host *server = mh_role(t, "server", 0);
        mh_fault pause = { .kind = MH_FAULT_PAUSE, .unit = WEB_UNIT };
        int paused;

        assert_page_served(t, client, server);
        paused = mh_fault_start(t, server, &pause);
        MH_ASSERT_OK(t, paused);
        MH_ASSERT(t, mh_run(t, client, "curl -fsS --max-time 2 http://%s/",
                            mh_host_name(server)) == CURL_TIMED_OUT);
        MH_ASSERT_OK(t, mh_fault_heal(t, paused));
        assert_page_served(t, client, server);
}
