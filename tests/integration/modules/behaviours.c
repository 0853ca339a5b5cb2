/* SPDX-License-Identifier: MIT */
/*
 * Tests that behave in every way a test can, for test-run: each run of
 * mhtest picks the ones it needs with -k.  Topologies: one-client (the
 * client, backed up and restored), no-controller (the client, left as
 * it is) and two-dbs (more than the lab has).
 */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <mhc/test.h>

MH_TEST(passes, .topology = "one-client", .timeout = 20) {
        MH_ASSERT_RUN_OK(t, mh_role(t, "client", 0), "true");
}

MH_TEST(fails, .topology = "one-client", .timeout = 20) {
        MH_ASSERT(t, mh_run(t, mh_role(t, "client", 0), "exit 3") == 0);
}

MH_TEST(skips, .topology = "one-client", .timeout = 20) {
        mh_skip(t, "nothing to do here");
}

MH_TEST(crashes_segv, .topology = "one-client", .timeout = 20) {
        raise(SIGSEGV);
}

MH_TEST(crashes_abort, .topology = "one-client", .timeout = 20) {
        abort();
}

MH_TEST(hangs_locally, .topology = "one-client", .timeout = 2) {
        for (volatile int spin = 1; spin;)
                ;
}

MH_TEST(hangs_remotely, .topology = "one-client", .timeout = 2) {
        mh_run(t, mh_role(t, "client", 0), "sleep 30");
        mh_fail(t, "sleep 30 came back within the timeout of 2 s");
}

/* These two run in this order: the second sees the host restored. */
MH_TEST(writes_marker, .topology = "one-client", .timeout = 20) {
        MH_ASSERT_RUN_OK(t, mh_role(t, "client", 0), "touch /root/mhc-run-marker");
}

MH_TEST(marker_is_gone, .topology = "one-client", .timeout = 20) {
        MH_ASSERT(t, mh_run(t, mh_role(t, "client", 0), "test -e /root/mhc-run-marker") == 1);
}

/*
 * test-run interrupts mhtest while this waits in a remote command, which
 * Ctrl-C ends at once (the command is not waited for).
 */
MH_TEST(interrupted, .topology = "one-client", .timeout = 30) {
        MH_ASSERT_RUN_OK(t, mh_role(t, "client", 0), "touch /root/mhc-ctrl-c");
        mh_run(t, mh_role(t, "client", 0), "exec sleep 61");
        for (;;)
                pause();
}

/* test-test-runner cancels these a second after they start (mh_test_execute()). */
MH_TEST(cancelled_in_a_command, .topology = "one-client", .timeout = 30) {
        mh_run(t, mh_role(t, "client", 0), "sleep 60");
        mh_fail(t, "sleep 60 came back, not cancelled");
}

/* The unit, a oneshot service that sleeps for a minute, is test-test-runner's. */
MH_TEST(cancelled_in_a_job, .topology = "one-client", .timeout = 30) {
        MH_ASSERT_OK(t, mh_service_start(t, mh_role(t, "client", 0), "mhc-slow-start.service"));
        mh_fail(t, "the start job came back, not cancelled");
}

MH_TEST(needs_two_dbs, .topology = "two-dbs", .timeout = 20) {
        mh_role(t, "db", 1);
}

MH_TEST(writes_artifact, .topology = "one-client", .timeout = 20) {
        MH_ASSERT_RUN_OK(t, mh_role(t, "client", 0),
                         "echo artifact-of-the-test > /root/mhc-run-artifact.log");
}

/*
 * Symbolic links where the artifacts: of test-run's fixture look, all under
 * /root, which the restore puts back: a directory with a file and links to
 * /etc and /etc/shadow in it, a link to /etc that a glob goes through, and
 * an artifact path that is a link to /etc/shadow.
 */
MH_TEST(plants_links, .topology = "one-client", .timeout = 20) {
        MH_ASSERT_RUN_OK(t, mh_role(t, "client", 0),
                         "mkdir /root/mhc-art && echo ok-artifact >/root/mhc-art/ok.log && "
                         "ln -s /etc /root/mhc-art/etc && ln -s /etc/shadow /root/mhc-art/shadow && "
                         "ln -s /etc /root/mhc-art-etc && ln -s /etc/shadow /root/mhc-art-shadow");
}

/* Ten quick tests that talk to no host, for --shuffle. */
#define ORDER_TEST(n)                                                    \
        MH_TEST(order_##n, .topology = "no-controller", .timeout = 20) { \
                mh_note(t, "order " #n);                                 \
        }
ORDER_TEST(0)
ORDER_TEST(1)
ORDER_TEST(2)
ORDER_TEST(3)
ORDER_TEST(4)
ORDER_TEST(5)
ORDER_TEST(6)
ORDER_TEST(7)
ORDER_TEST(8)
ORDER_TEST(9)

MH_TEST(on_failing_setup, .topology = "fails-setup", .timeout = 20) {
        mh_fail(t, "ran although the topology's setup failed");
}
