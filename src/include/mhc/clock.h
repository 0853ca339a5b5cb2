/* SPDX-License-Identifier: MIT */
#ifndef MHC_CLOCK_H
#define MHC_CLOCK_H

#include <stdint.h>

#include <mhc/common.h>

MH_BEGIN_DECLS

/* The monotonic clock in microseconds: what every duration mhc reports is measured with. */
MH_EXPORT uint64_t mh_now_usec(void);

/* The wall clock in microseconds since the epoch: for the times reports show. */
MH_EXPORT uint64_t mh_realtime_usec(void);

MH_END_DECLS

#endif
