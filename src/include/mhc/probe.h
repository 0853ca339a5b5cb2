/* SPDX-License-Identifier: MIT */
#ifndef MHC_PROBE_H
#define MHC_PROBE_H

#include <stdint.h>

#include <mhc/common.h>
#include <mhc/error.h>
#include <mhc/ssh.h>

MH_BEGIN_DECLS

/* What a connected host says about itself (mhtest --check-hosts). */
typedef struct mh_probe {
        char os[256];           /* PRETTY_NAME from /etc/os-release, or "" */
        char system_state[32];  /* systemd's: "running", "degraded", "starting", ... */
        uint64_t rtt_usec;      /* median round trip of a no-op command */
} mh_probe;

/* Ask the host behind s for its OS, systemd state and round-trip time. */
MH_EXPORT int mh_probe_host(mh_ssh *s, mh_probe *ret, mh_error *error);

/* Whether tests can run on a host in this state: systemd is running or
 * degraded (some unit failed, but the system is up). */
MH_EXPORT int mh_probe_usable(const mh_probe *p);

MH_END_DECLS

#endif
