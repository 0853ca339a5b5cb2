/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <mhc/error.h>

#include "util.h"

static const char *const descriptions[MH_ERR_MAX - MH_ERR_BASE] = {
        [MH_ERR_CONFIG - MH_ERR_BASE] = "invalid configuration",
        [MH_ERR_YAML - MH_ERR_BASE] = "malformed YAML",
        [MH_ERR_HOST_KEY - MH_ERR_BASE] = "host key verification failed",
        [MH_ERR_AUTH - MH_ERR_BASE] = "authentication failed",
        [MH_ERR_SSH - MH_ERR_BASE] = "SSH connection failed",
        [MH_ERR_REMOTE - MH_ERR_BASE] = "unexpected output from host",
        [MH_ERR_COMMAND - MH_ERR_BASE] = "remote command failed",
        [MH_ERR_ABI - MH_ERR_BASE] = "incompatible module ABI",
};

const char *mh_strerror(int code) {
        int c = code < 0 ? -code : code;

        if (c > MH_ERR_BASE && c < MH_ERR_MAX)
                return descriptions[c - MH_ERR_BASE];
        if (c == 0)
                return "success";
        return strerror(c);
}

/* Make the message one line: a newline from remote output would break logs. */
static void flatten(char *s) {
        for (; *s; s++)
                if (*s == '\n' || *s == '\r')
                        *s = ' ';
}

int mh_error_setv(mh_error *e, int code, const char *fmt, va_list ap) {
        if (code >= 0)
                code = -EINVAL;
        if (!e || e->code != 0)
                return code;

        e->code = code;
        vsnprintf(e->message, sizeof(e->message), fmt, ap);
        flatten(e->message);
        return code;
}

int mh_error_set(mh_error *e, int code, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        code = mh_error_setv(e, code, fmt, ap);
        va_end(ap);
        return code;
}

int mh_error_oom(mh_error *e) {
        return mh_error_set(e, -ENOMEM, "out of memory");
}

void mh_error_prefix(mh_error *e, const char *fmt, ...) {
        char prefix[MH_ERROR_MESSAGE_MAX];
        size_t n_prefix, n_message;
        va_list ap;
        int n;

        if (!e || e->code == 0)
                return;

        va_start(ap, fmt);
        n = vsnprintf(prefix, sizeof(prefix) - 2, fmt, ap);
        va_end(ap);
        /* No context, nothing to add; the separator is ours, so that no
         * caller can forget it. */
        if (n <= 0)
                return;
        strcat(prefix, ": ");

        /* Keep the prefix whole and cut the end of the message if needed. */
        n_prefix = strlen(prefix);
        n_message = strlen(e->message);
        if (n_prefix + n_message > sizeof(e->message) - 1)
                n_message = sizeof(e->message) - 1 - n_prefix;
        memmove(e->message + n_prefix, e->message, n_message);
        memcpy(e->message, prefix, n_prefix);
        e->message[n_prefix + n_message] = '\0';
        flatten(e->message);
}

void mh_error_clear(mh_error *e) {
        if (!e)
                return;
        e->code = 0;
        e->message[0] = '\0';
}

int mh_error_is_set(const mh_error *e) {
        return e && e->code != 0;
}

const char *mh_error_message(const mh_error *e, int code) {
        if (e && e->code != 0 && e->message[0])
                return e->message;
        return mh_strerror(e && e->code != 0 ? e->code : code);
}
