/* SPDX-License-Identifier: MIT */
/*
 * Rebooting a host with a kernel of its own while a run goes on.  The run
 * directory is on the host's disk, so it survives: the run lets go of its
 * lease and its cgroup (they went with the old boot), waits until the host
 * answers with a new boot id and systemd is up, and takes the lease again
 * on the same directory.  What a test started before the reboot is gone
 * with it; its faults' records stay, and heal as usual (healing what a
 * reboot undid already costs nothing).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mhc/clock.h>
#include <mhc/log.h>
#include <mhc/systemd.h>

#include "host.h"
#include "util.h"

/* Between two tries to reach the host again. */
#define POLL_USEC (500 * 1000)
/* The longest a try may take: a host that is going down answers slowly. */
#define TRY_MSEC 10000u
#define BOOT_ID_LEN 36

/* Prints the boot id and "container VIRT" (no reboot) or "rebooting". */
static const char reboot_command[] =
        "cat /proc/sys/kernel/random/boot_id || exit 1\n"
        "if v=$(systemd-detect-virt --container 2>/dev/null); then echo \"container $v\"; exit 0; fi\n"
        "systemctl --no-block reboot && echo rebooting\n";

/* Prints the boot id and, once booted, the manager's state. */
static const char boot_command[] =
        "cat /proc/sys/kernel/random/boot_id && { systemctl is-system-running --wait || :; }";

static unsigned left_msec(uint64_t deadline) {
        uint64_t now = mh_now_usec();

        return now >= deadline ? 0 : (unsigned) ((deadline - now) / 1000);
}

/* The boot id at the start of out into id (BOOT_ID_LEN + 1 bytes), and what follows it. */
static const char *boot_id(const mh_exec_result *res, char *id) {
        const char *s = res->out ? res->out : "";

        if (strlen(s) < BOOT_ID_LEN || s[BOOT_ID_LEN] != '\n')
                return NULL;
        memcpy(id, s, BOOT_ID_LEN);
        id[BOOT_ID_LEN] = '\0';
        return s + BOOT_ID_LEN + 1;
}

/* Wait until h answers with a boot id other than old and a manager that is up. */
static int wait_for_boot(mh_host *h, const char *old, uint64_t deadline, mh_error *e) {
        char id[BOOT_ID_LEN + 1], last[MH_EXEC_SUMMARY_SIZE] = "no answer";

        while (left_msec(deadline) > 0) {
                unsigned left = left_msec(deadline);
                mh_exec_options o = { .timeout_msec = left < TRY_MSEC ? left : TRY_MSEC };
                mh_exec_result res = {};
                mh_error try = MH_ERROR_INIT;
                const char *state;

                if (mh_ssh_exec(h->ssh, boot_command, &o, &res, &try) < 0) {
                        snprintf(last, sizeof(last), "%s", try.message);
                        usleep(POLL_USEC);
                        continue;
                }
                state = boot_id(&res, id);
                if (state && !streq(id, old) &&
                    (startswith(state, "running") || startswith(state, "degraded"))) {
                        if (startswith(state, "degraded"))
                                mh_log(MH_LOG_WARNING, mh_host_name(h),
                                       "back from the reboot, degraded (units failed)");
                        mh_exec_result_dispose(&res);
                        return 0;
                }
                snprintf(last, sizeof(last), "%s",
                         state && streq(id, old) ? "still the old boot" : strempty(state));
                mh_exec_result_dispose(&res);
                usleep(POLL_USEC);
        }
        return mh_error_set(e, -ETIMEDOUT, "not back from the reboot in time (last: %s)", last);
}

int mh_host_reboot(mh_host *h, unsigned timeout_msec, mh_error *error) {
        uint64_t start = mh_now_usec(), deadline = start + (uint64_t) timeout_msec * 1000;
        char old[BOOT_ID_LEN + 1];
        mh_exec_result res = {};
        mh_error e = MH_ERROR_INIT;
        const char *said;
        int r;

        if (!h)
                return mh_error_set(error, -EINVAL, "mh_host_reboot: invalid argument");
        if (!h->ssh || !h->run_dir)
                return mh_error_set(error, -ENOTCONN, "host '%s' is not connected",
                                    mh_host_name(h));

        r = mh_host_run_command(h, reboot_command, "reboot", &res, &e);
        if (r < 0)
                return mh_host_fail(h, r, &e, error);
        said = boot_id(&res, old);
        if (!said || !startswith(said, "rebooting")) {
                r = mh_error_set(error, said && startswith(said, "container") ? -EOPNOTSUPP : -EIO,
                                 "host '%s' %s", mh_host_name(h),
                                 said && startswith(said, "container")
                                         ? "is a container, on its machine's kernel: a reboot "
                                           "needs a host with a kernel of its own"
                                         : "did not say it reboots");
                mh_exec_result_dispose(&res);
                return r;
        }
        mh_exec_result_dispose(&res);
        mh_log(MH_LOG_INFO, mh_host_name(h), "rebooting");

        /* the old boot's: the lease's tunnel, the cgroup, the bus */
        mh_host_forget_lease(h);
        h->systemd = mh_systemd_free(h->systemd);

        r = wait_for_boot(h, old, deadline, &e);
        if (r >= 0)
                r = mh_host_retake_lease(h, &e);
        if (r >= 0)
                r = mh_host_measure_clock(h, &e);
        if (r < 0)
                return mh_host_fail(h, r, &e, error);
        mh_log(MH_LOG_INFO, mh_host_name(h), "back from the reboot in %.1f s",
               (double) (mh_now_usec() - start) / 1e6);
        return 0;
}
