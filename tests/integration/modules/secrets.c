/* SPDX-License-Identifier: MIT */
/*
 * Tests that hand a host's secret to everything mhtest writes (see
 * test-run's test_secrets_are_redacted_everywhere): the host is a script
 * host whose conn.password is the lab's password, which these tests read
 * from the lab's state.  The first puts the secret in commands, in a
 * note, in an artifact and in a failing command's output, and leaves a
 * marker that makes the restore after it fail with the secret in its
 * message; the second finds the host quarantined by that failure.
 */
#include <string.h>

#include <mhc/test.h>

#include "integration/lab.h"

static char password[256];

static void read_password(mh_test *t) {
        char *p = lab_password();

        if (!p)
                mh_fail(t, "cannot read %s", LAB_PASSWORD_FILE);
        snprintf(password, sizeof(password), "%s", p);
        free(p);
}

MH_TEST(leaks_secret, .topology = "secrets", .timeout = 30) {
        mh_host *h = mh_role(t, "scripted", 0);
        int half;

        read_password(t);
        half = (int) strlen(password) / 2;
        /* Commands that hold the secret, and output that does. */
        MH_ASSERT_RUN_OK(t, h, "echo 'secret: %s' >/tmp/mhc-secret-artifact.log", password);
        MH_ASSERT_RUN_OK(t, h, "cat /tmp/mhc-secret-artifact.log");
        mh_note(t, "the secret is %s", password);
        MH_ASSERT_RUN_OK(t, h, "touch /tmp/mhc-secret-marker");
        /* A failing command whose output holds the secret, though its text does not. */
        MH_ASSERT_RUN_OK(t, h,
                         "printf '%%s%%s\\n' '%.*s' '%s'; printf '%%s%%s\\n' '%.*s' '%s' >&2; "
                         "exit 1",
                         half, password, password + half, half, password, password + half);
}

MH_TEST(after_dirty, .topology = "secrets", .timeout = 30) {
        MH_ASSERT_RUN_OK(t, mh_role(t, "scripted", 0), "true");
}
