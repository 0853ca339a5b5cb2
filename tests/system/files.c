/* SPDX-License-Identifier: MIT */
/*
 * Files on server: whatever a test changes under /etc (backed up in
 * mhc.yaml) is put back before the next test.  Each test first checks that
 * server is vanilla, so a change that survives fails whichever test runs
 * next.
 */
#include <mhc/mhc.h>

#include "example.h"

/* A changed /etc/motd is back to Debian's in the next test, on two topologies. */
MH_TEST(motd_edit_is_undone, .topologies = MH_LIST("client-server", "client-server-db"))
{
        mh_host *server = mh_role(t, "server", 0);

        assert_server_vanilla(t, server);
        MH_ASSERT_RUN_OK(t, server, "echo 'changed by motd_edit_is_undone' > /etc/motd");
        MH_ASSERT_RUN_OK(t, server, "grep -qx 'changed by motd_edit_is_undone' /etc/motd");
}

/* A removed /etc/motd comes back. */
MH_TEST(motd_removal_is_undone, .topology = "client-server")
{
        mh_host *server = mh_role(t, "server", 0);

        assert_server_vanilla(t, server);
        MH_ASSERT_RUN_OK(t, server, "rm /etc/motd");
        MH_ASSERT(t, mh_run(t, server, "test -e /etc/motd") == 1);
}

/* A file whose contents stay but whose owner and mode change gets both back. */
MH_TEST(motd_owner_and_mode_are_restored, .topology = "client-server")
{
        mh_host *server = mh_role(t, "server", 0);

        assert_server_vanilla(t, server);
        MH_ASSERT_RUN_OK(t, server, "chown mhcuser:mhcuser /etc/motd && chmod 600 /etc/motd");
        mh_run(t, server, "stat -c '%%U:%%G %%a' /etc/motd");
        MH_ASSERT_STREQ(t, mh_stdout(t), "mhcuser:mhcuser 600\n");
}

/* A new file and a new directory under /etc are removed. */
MH_TEST(new_config_file_is_removed, .topologies = MH_LIST("client-server", "client-server-db"))
{
        mh_host *server = mh_role(t, "server", 0);

        assert_server_vanilla(t, server);
        MH_ASSERT_RUN_OK(t, server,
                         "echo 'answer = 42' > " EXAMPLE_CONF " && mkdir " EXAMPLE_DIR
                         " && touch " EXAMPLE_DIR "/part.conf");
        MH_ASSERT_RUN_OK(t, server,
                         "test -s " EXAMPLE_CONF " && test -f " EXAMPLE_DIR "/part.conf");
}

/* The whole lab is vanilla: changes nothing, fails if any test left something behind. */
MH_TEST(lab_is_vanilla, .topology = "client-server-db")
{
        mh_host *client = mh_role(t, "client", 0);
        mh_host *server = mh_role(t, "server", 0);
        mh_host *db = mh_role(t, "db", 0);

        assert_server_vanilla(t, server);
        assert_page_served(t, client, server);
        assert_db_vanilla(t, db);
}
