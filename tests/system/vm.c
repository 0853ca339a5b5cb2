/* SPDX-License-Identifier: MIT */
/*
 * What needs a kernel of its own, on the lab's virtual machine vm: a
 * delayed link to the web server, measured from vm, and a reboot in the
 * middle of a test, after which the test goes on and the restore puts vm
 * back as usual (mhc.yaml backs up its /etc).
 */
#include <stdlib.h>
#include <string.h>

#include <mhc/mhc.h>

#include "example.h"

/* A file a test writes on vm; the lab has none. */
#define VM_MARKER "/etc/mhc-example-reboot"

/* Seconds from vm's SYN to the server's answer, as curl measures it. */
static double connect_time(mh_test *t, mh_host *vm, mh_host *server) {
        MH_ASSERT_RUN_OK(t, vm, "curl -fso /dev/null -m 20 -w '%%{time_connect}' http://%s/",
                         mh_host_name(server));
        return strtod(mh_stdout(t), NULL);
}

/* vm is as tests/lab/up left it: no marker, no fault on its link. */
static void assert_vm_vanilla(mh_test *t, mh_host *vm) {
        mh_run(t, vm,
               "[ ! -e " VM_MARKER " ] || echo '" VM_MARKER " exists';"
               "tc qdisc show | grep netem || :");
        MH_ASSERT_STREQ(t, mh_stdout(t), "");
}

/* A link of vm delayed by 300 ms: a connect from vm takes at least that, and not after the heal. */
MH_TEST(delayed_link_slows_the_page, .topology = "server-vm")
{
        mh_host *vm = mh_role(t, "vm", 0);
        mh_host *server = mh_role(t, "server", 0);
        const char *peers[] = { mh_host_name(server), NULL };
        mh_fault slow = { .kind = MH_FAULT_LINK, .delay_msec = 300, .peers = peers };
        double before, during;
        int delay;

        assert_vm_vanilla(t, vm);
        before = connect_time(t, vm, server);
        delay = mh_fault_start(t, vm, &slow);
        MH_ASSERT_OK(t, delay);
        during = connect_time(t, vm, server);
        mh_note(t, "connect from vm: %.3f s, %.3f s with a delay of 300 ms", before, during);
        MH_ASSERT(t, during >= 0.3);
        MH_ASSERT_OK(t, mh_fault_heal(t, delay));
        assert_page_served(t, vm, server);
}

/* vm reboots in the test: a new boot, its disk kept, the test goes on; the restore removes the file. */
MH_TEST(reboot_keeps_the_disk, .topology = "server-vm", .timeout = 600)
{
        mh_host *vm = mh_role(t, "vm", 0);
        mh_host *server = mh_role(t, "server", 0);
        char boot[64];

        assert_vm_vanilla(t, vm);
        MH_ASSERT_RUN_OK(t, vm, "cat /proc/sys/kernel/random/boot_id && echo before >" VM_MARKER);
        MH_ASSERT(t, strlen(mh_stdout(t)) < sizeof(boot));
        strcpy(boot, mh_stdout(t));
        MH_ASSERT_OK(t, mh_reboot(t, vm));
        MH_ASSERT_RUN_OK(t, vm, "cat /proc/sys/kernel/random/boot_id");
        MH_ASSERT(t, strcmp(mh_stdout(t), boot) != 0);
        MH_ASSERT_RUN_OK(t, vm, "cat " VM_MARKER);
        MH_ASSERT_STREQ(t, mh_stdout(t), "before\n");
        assert_page_served(t, vm, server);
}
