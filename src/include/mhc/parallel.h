/* SPDX-License-Identifier: MIT */
#ifndef MHC_PARALLEL_H
#define MHC_PARALLEL_H

#include <stddef.h>

#include <mhc/common.h>

MH_BEGIN_DECLS

/* At most this many calls run at once; hosts wait on the network, not the CPU. */
#define MH_PARALLEL_MAX 64

/* One unit of work: i runs from 0 to n-1. */
typedef int (*mh_parallel_fn)(size_t i, void *userdata);

/*
 * Call fn(i, userdata) for every i < n, in parallel threads, and wait for
 * all of them.  Returns 0 if every call returned >= 0, else the negative
 * result of the lowest i that failed; per-item detail is the caller's to
 * keep (an array indexed by i).  With n == 1 fn runs in the caller's thread.
 */
MH_EXPORT int mh_parallel_for(size_t n, mh_parallel_fn fn, void *userdata);

MH_END_DECLS

#endif
