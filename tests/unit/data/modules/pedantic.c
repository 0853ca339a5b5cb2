/* SPDX-License-Identifier: MIT */
/* A test module as a user writes one, for test-headers.sh: every public
 * header, empty hooks, a test without settings, and the macros of the
 * test API, built with -Wall -Wextra -Wpedantic -Werror. */
#include <mhc/mhc.h>
#include <mhc/postgresql.h>
#include <mhc/test.h>

MH_SETUP {
}

MH_TEARDOWN {
}

MH_TEST(bare) {
}

MH_TEST(everything, .topology = "client-server", .params = MH_LIST("a", "b"),
        .requires = MH_LIST("client:sssd"), .tags = MH_LIST("smoke")) {
        mh_host *client = mh_role(t, "client", 0);

        MH_ASSERT(t, client != NULL);
        MH_ASSERT_OK(t, mh_run(t, client, "true"));
        MH_ASSERT_FAILS(t, mh_run(t, client, "false"));
        MH_ASSERT_INT(t, mh_role_count(t, "client"), ==, 1);
        MH_ASSERT_STREQ(t, mh_param(t), "a");
        MH_ASSERT_CONTAINS(t, mh_stdout(t), "");
        MH_ASSERT_RUN_OK(t, client, "echo %s", mh_quote(t, "it's"));
        MH_ASSERT_RUN_EXIT(t, client, 3, "exit 3");
        MH_ASSERT_SAME_FILE(t, client, "/etc/hosts", client, "/etc/hosts");
        MH_WAIT_UNTIL(t, 1000, mh_run(t, client, "true") == 0);
        MH_ASSERT_OK(t, mh_wait_run(t, client, 1000, "test -e %s", "/etc/hosts"));
        MH_FAIL(t, "%s", "always");
}
