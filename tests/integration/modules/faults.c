/* SPDX-License-Identifier: MIT */
/*
 * Tests that use faults, for test-fault: a fault the test leaves is healed
 * at its end (also when it crashed), one left where no record heals it
 * fails the restore, and one under which test-fault kills mhtest.
 * Topology faults: client and server.  /run/mhc-fault-ready on client
 * tells test-fault that the partition is made (on vm, for test-vm, that the
 * delay is).
 */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <mhc/test.h>

#define FETCH "curl -sf -o /dev/null -m 3 http://%s/"

static const char *address(mh_host *h) {
        return mh_host_config_address(mh_host_get_config(h));
}

/* Cut client from server and leave it so: the end of the test heals it. */
MH_TEST(partition_left, .topology = "faults", .timeout = 60) {
        mh_host *client = mh_role(t, "client", 0), *server = mh_role(t, "server", 0);

        MH_ASSERT_RUN_OK(t, client, FETCH, address(server));
        MH_ASSERT_OK(t, mh_partition(t, MH_HOSTS(client), MH_HOSTS(server), MH_PARTITION_REJECT));
        MH_ASSERT(t, mh_run(t, client, FETCH, address(server)) != 0);
}

/* The same, then a crash. */
MH_TEST(partition_crash, .topology = "faults", .timeout = 60) {
        mh_host *client = mh_role(t, "client", 0), *server = mh_role(t, "server", 0);

        MH_ASSERT_OK(t, mh_partition(t, MH_HOSTS(client, server), MH_HOSTS(server), 0));
        abort();
}

/* After either of the above: no fault left. */
MH_TEST(no_fault_left, .topology = "faults", .timeout = 60) {
        mh_host *client = mh_role(t, "client", 0), *server = mh_role(t, "server", 0);

        MH_ASSERT_RUN_OK(t, client, FETCH, address(server));
        MH_ASSERT_RUN_OK(t, client, "! nft list tables | grep -q mhc_fault_");
        MH_ASSERT_RUN_OK(t, server, "! nft list tables | grep -q mhc_fault_");
        MH_ASSERT_RUN_OK(t, server, "systemctl is-active -q mhc-web.service");
}

/* Paused and resumed in the test; killed, and started again by the restore. */
MH_TEST(pause_and_kill, .topology = "faults", .timeout = 60) {
        mh_host *client = mh_role(t, "client", 0), *server = mh_role(t, "server", 0);
        mh_fault pause = { .kind = MH_FAULT_PAUSE, .unit = "mhc-web.service" };
        int paused = mh_fault_start(t, server, &pause);

        MH_ASSERT_OK(t, paused);
        MH_ASSERT(t, mh_run(t, client, FETCH, address(server)) != 0);
        MH_ASSERT_OK(t, mh_fault_heal(t, paused));
        MH_ASSERT_RUN_OK(t, client, FETCH, address(server));
        MH_ASSERT(t, mh_fault_heal(t, paused + 1) < 0);
        MH_ASSERT_OK(t, mh_service_kill(t, server, "mhc-web.service", SIGKILL));
        MH_ASSERT(t, mh_run(t, client, "for i in $(seq 50); do " FETCH " || exit 0; sleep 0.1; "
                                       "done; exit 1", address(server)) == 0);
}

/* A partition whose record the test removes: the restore finds it and fails the host. */
MH_TEST(left_by_hand, .topology = "faults", .timeout = 60) {
        mh_host *client = mh_role(t, "client", 0), *server = mh_role(t, "server", 0);

        MH_ASSERT_OK(t, mh_partition(t, MH_HOSTS(client), MH_HOSTS(server), 0));
        MH_ASSERT_RUN_OK(t, client, "rm -rf /var/lib/mhc/run-*/faults/[0-9]*");
}

/* Delay what vm sends to server, then wait for test-vm to kill mhtest. */
MH_TEST(delay_and_wait, .topology = "vm-faults", .timeout = 90) {
        mh_host *vm = mh_role(t, "vm", 0), *server = mh_role(t, "server", 0);
        const char *peers[] = { address(server), NULL };
        mh_fault slow = { .kind = MH_FAULT_LINK, .delay_msec = 300, .peers = peers };

        MH_ASSERT_OK(t, mh_fault_start(t, vm, &slow));
        MH_ASSERT_RUN_OK(t, vm, "touch /run/mhc-fault-ready");
        sleep(80);
}

/* A process on vm dumps core and the test passes: its outcome check fails it. */
MH_TEST(core_dump_passes, .topology = "vm-faults", .timeout = 60) {
        mh_host *vm = mh_role(t, "vm", 0);

        MH_ASSERT_RUN_OK(t, vm, "ulimit -c unlimited; sh -c 'kill -SEGV $$'; :");
}

/* A unit fails on client and the test passes: a warning. */
MH_TEST(unit_fails_passes, .topology = "faults", .timeout = 60) {
        mh_host *client = mh_role(t, "client", 0);

        MH_ASSERT_RUN_OK(t, client, "systemd-run --quiet --wait --unit=mhc-outcome-fails false; :");
}

/* Cut, then wait for test-fault to kill mhtest. */
MH_TEST(cut_and_wait, .topology = "faults", .timeout = 60) {
        mh_host *client = mh_role(t, "client", 0), *server = mh_role(t, "server", 0);

        MH_ASSERT_OK(t, mh_partition(t, MH_HOSTS(client), MH_HOSTS(server), 0));
        MH_ASSERT_RUN_OK(t, client, "touch /run/mhc-fault-ready");
        sleep(50);
}
