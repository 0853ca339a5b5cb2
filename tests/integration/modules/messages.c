/* SPDX-License-Identifier: MIT */
/*
 * Tests whose failures test-run reads word for word: a unit that fails to
 * start through the test API, and a topology whose setup command times
 * out.  Topologies: no-controller (the client, left as it is) and
 * slow-setup (a setup command longer than the host's command timeout).
 */
#include <mhc/test.h>

/* Logs nothing (LogLevelMax=emerg), so that the message has no journal lines. */
#define UNIT "mhc-run-fails-to-start.service"

MH_TEST(unit_fails_to_start, .topology = "no-controller", .timeout = 30) {
        mh_host *h = mh_role(t, "client", 0);

        MH_ASSERT_RUN_OK(t, h,
                         "printf '[Service]\\nType=oneshot\\nExecStart=/bin/false\\n"
                         "LogLevelMax=emerg\\n' >/run/systemd/system/" UNIT
                         " && systemctl daemon-reload");
        if (mh_service_start(t, h, UNIT) < 0)
                mh_fail(t, "%s", mh_test_error(t));
        mh_fail(t, UNIT " started");
}

MH_TEST(on_slow_setup, .topology = "slow-setup", .timeout = 30) {
        mh_fail(t, "ran although the topology's setup failed");
}
