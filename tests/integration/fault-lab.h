/* SPDX-License-Identifier: MIT */
#ifndef MH_TEST_FAULT_LAB_H
#define MH_TEST_FAULT_LAB_H

/*
 * What the fault tests (test-fault, test-vm) do on lab hosts through the
 * run's own session: a command's output, and a fault started or healed,
 * each failing the test with the library's message.  Header-only.
 */

#include <check.h>
#include <string.h>

#include <mhc/mhc.h>

/* The standard output of command on h, trimmed to its first line; free() it. */
static inline char *output_on(mh_host *h, const char *command) {
        mh_error e = MH_ERROR_INIT;
        mh_exec_result res = {};
        char *out;

        ck_assert_msg(mh_host_exec(h, command, NULL, &res, &e) >= 0, "%s", e.message);
        ck_assert_msg(res.exit_status == 0, "%s: %s: exit status %d: %s", mh_host_name(h),
                      command, res.exit_status, res.err);
        out = res.out;
        res.out = NULL;
        mh_exec_result_dispose(&res);
        out[strcspn(out, "\n")] = '\0';
        return out;
}

/* Start f on h, healed by itself after 120 s; its number. */
static inline unsigned start(mh_host *h, const mh_fault *f) {
        mh_error e = MH_ERROR_INIT;
        unsigned n = 0;

        ck_assert_msg(mh_host_start_fault(h, f, 120, &n, &e) >= 0, "%s", e.message);
        ck_assert_uint_gt(n, 0);
        return n;
}

static inline void heal(mh_host *h, unsigned n) {
        mh_error e = MH_ERROR_INIT;

        ck_assert_msg(mh_host_heal_fault(h, n, &e) >= 0, "%s", e.message);
}

#endif
