/* SPDX-License-Identifier: MIT */
#ifndef MHC_VERSION_H
#define MHC_VERSION_H

#include <mhc/common.h>

MH_BEGIN_DECLS

/* The version of libmhc a program runs with, "0.1.0". */
MH_EXPORT const char *mh_version(void);

MH_END_DECLS

#endif
