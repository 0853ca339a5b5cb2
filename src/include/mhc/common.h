/* SPDX-License-Identifier: MIT */
#ifndef MHC_COMMON_H
#define MHC_COMMON_H

/* Definitions shared by every public header of libmhc. */

#ifdef __cplusplus
#define MH_BEGIN_DECLS extern "C" {
#define MH_END_DECLS }
#else
#define MH_BEGIN_DECLS
#define MH_END_DECLS
#endif

/* Marks a symbol of the public API; everything else is hidden in libmhc.so. */
#define MH_EXPORT __attribute__((visibility("default")))

#if defined(__GNUC__)
#define MH_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define MH_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define MH_PRINTF(fmt, args)
#define MH_WARN_UNUSED
#endif

#endif
