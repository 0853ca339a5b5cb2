/* SPDX-License-Identifier: MIT */
#ifndef MHC_OUTCOME_H
#define MHC_OUTCOME_H

#include <stddef.h>
#include <stdint.h>

#include <mhc/common.h>
#include <mhc/config.h>
#include <mhc/error.h>
#include <mhc/host.h>

MH_BEGIN_DECLS

/*
 * Outcome checks: what went wrong on a host while a test ran, whatever the
 * test asserted (mhc-test(3), "Outcome checks"): core dumps, SELinux or
 * AppArmor denials and kernel oopses in the journal since the test started,
 * and units that failed meanwhile.  Each host's mhc.yaml checks: says per
 * check whether a finding fails a passing test, warns, or is not looked for
 * (mh_host_config_outcome()).
 */

typedef struct mh_outcome_finding {
        mh_outcome_check check;
        mh_outcome_action action; /* MH_OUTCOME_FAIL or MH_OUTCOME_WARN */
        char *summary;            /* one line, such as "Process 42 (busybox) of user 0
                                   * dumped core." */
} mh_outcome_finding;

typedef struct mh_outcome {
        mh_outcome_finding *findings;
        size_t n_findings;
        char *evidence; /* the journal lines behind them (for the artifacts), or NULL */
        size_t evidence_size;
} mh_outcome;

/*
 * Look on h (connected) for what its checks look for since since_usec
 * (realtime, this machine's clock: h's clock offset is applied) and fill
 * *ret, findings in check order.  One
 * command on the host; none when every check is ignored.  A host that
 * cannot look (no journalctl) is an error.
 */
MH_EXPORT int mh_host_check_outcome(mh_host *h, uint64_t since_usec, mh_outcome *ret,
                                    mh_error *error);

/* The first finding of *o that fails a test, or NULL. */
MH_EXPORT const mh_outcome_finding *mh_outcome_failure(const mh_outcome *o);

MH_EXPORT void mh_outcome_dispose(mh_outcome *o);

MH_END_DECLS

#endif
