/* SPDX-License-Identifier: MIT */
#ifndef MH_HOST_INTERNAL_H
#define MH_HOST_INTERNAL_H

/* What the library's own modules need of a host beyond the public API. */

#include <mhc/host.h>

/* In a forked test process: let the host's type forget, without closing,
 * what the runner's process holds open (its after_fork() slot). */
void mh_host_after_fork(mh_host *h);

#endif
