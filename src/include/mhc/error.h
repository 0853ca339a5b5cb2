/* SPDX-License-Identifier: MIT */
#ifndef MHC_ERROR_H
#define MHC_ERROR_H

#include <stdarg.h>
#include <stddef.h>

#include <mhc/common.h>

MH_BEGIN_DECLS

/*
 * Every libmhc function that can fail returns an int: 0 (or a count) on
 * success and a negative code on failure.  A code is either -errno or
 * -MH_ERR_*; the ranges never collide, and mh_strerror() names both.
 */
enum {
        MH_ERR_BASE = 0x4000,
        MH_ERR_CONFIG,          /* the configuration is invalid */
        MH_ERR_YAML,            /* a file is not well-formed YAML */
        MH_ERR_HOST_KEY,        /* a host key is unknown or changed */
        MH_ERR_AUTH,            /* authentication was refused */
        MH_ERR_SSH,             /* the SSH connection failed */
        MH_ERR_REMOTE,          /* a host sent output that makes no sense */
        MH_ERR_COMMAND,         /* a remote command failed */
        MH_ERR_ABI,             /* a module was built against another libmhc */
        MH_ERR_MAX
};

/* Length of the longest message an mh_error holds, with its NUL. */
#define MH_ERROR_MESSAGE_MAX 1024

/*
 * Caller-owned detail of a failure: where a function takes an mh_error *
 * (always last, may be NULL), it fills it when it fails.  The first error
 * wins: a set error is not overwritten until mh_error_clear().  Needs no
 * freeing.
 */
typedef struct mh_error {
        int code;                               /* 0 or a negative code */
        char message[MH_ERROR_MESSAGE_MAX];     /* one line, no final period */
} mh_error;

#define MH_ERROR_INIT { .code = 0, .message = "" }

/* Record code and a printf-style message in e unless it holds one already;
 * returns code (negative), so that `return mh_error_set(...)` reads well. */
MH_EXPORT int mh_error_set(mh_error *e, int code, const char *fmt, ...) MH_PRINTF(3, 4);
MH_EXPORT int mh_error_setv(mh_error *e, int code, const char *fmt, va_list ap) MH_PRINTF(3, 0);

/* -ENOMEM with the message "out of memory" (unless e holds an error already). */
MH_EXPORT int mh_error_oom(mh_error *e);

/*
 * Put context in front of a set message, with the separator: fmt says only
 * the context ("host '%s'", "vanilla backup"), and the message becomes
 * "host 'db': " + message.  Nothing happens when e holds no error.
 */
MH_EXPORT void mh_error_prefix(mh_error *e, const char *fmt, ...) MH_PRINTF(2, 3);

/* Forget a recorded error. */
MH_EXPORT void mh_error_clear(mh_error *e);

/* Whether e holds an error. */
MH_EXPORT int mh_error_is_set(const mh_error *e);

/* The message of e, or mh_strerror(code) if e is NULL or empty. */
MH_EXPORT const char *mh_error_message(const mh_error *e, int code);

/* A static description of a negative code, -errno or -MH_ERR_*. */
MH_EXPORT const char *mh_strerror(int code);

MH_END_DECLS

#endif
