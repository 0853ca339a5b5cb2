/* SPDX-License-Identifier: MIT */
/* A module whose setup hook fails: its test fails without running. */
#include <mhc/test.h>

MH_SETUP {
        mh_fail(t, "the setup hook refuses");
}

MH_TEST(after_failing_setup, .topology = "one-client", .timeout = 20) {
        mh_note(t, "the body ran");
        MH_ASSERT_RUN_OK(t, mh_role(t, "client", 0), "touch /root/mhc-run-hook-body");
}
