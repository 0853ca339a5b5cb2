/* SPDX-License-Identifier: MIT */
/*
 * Tests on a script host whose restore fails once a marker file exists
 * (see test-run's test_restore_failure_quarantines): the first leaves the
 * marker, the others find the host quarantined.
 */
#include <mhc/test.h>

MH_TEST(breaks_restore, .topology = "scripted", .timeout = 20) {
        MH_ASSERT_RUN_OK(t, mh_role(t, "scripted", 0), "touch /tmp/mhc-fail-restore");
}

MH_TEST(after_broken_restore, .topology = "scripted", .timeout = 20) {
        MH_ASSERT_RUN_OK(t, mh_role(t, "scripted", 0), "true");
}

MH_TEST(after_broken_restore_again, .topology = "scripted", .timeout = 20) {
        MH_ASSERT_RUN_OK(t, mh_role(t, "scripted", 0), "true");
}
