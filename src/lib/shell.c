/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include <mhc/shell.h>

#include "util.h"

/* Longest quoted word or command line: far beyond what a remote shell takes. */
#define COMMAND_MAX ((size_t) 16 << 20)

static int quote_into(mh_buf *b, const char *s) {
        int r;

        r = mh_buf_append(b, "'", 1);
        for (const char *p = s; r >= 0 && *p; p++)
                r = *p == '\'' ? mh_buf_append(b, "'\\''", 4) : mh_buf_append(b, p, 1);
        if (r >= 0)
                r = mh_buf_append(b, "'", 1);
        return r;
}

int mh_shell_quote(const char *s, char **ret) {
        mh_buf b = MH_BUF_INIT(COMMAND_MAX);
        int r;

        if (!s || !ret)
                return -EINVAL;

        r = quote_into(&b, s);
        if (r < 0) {
                mh_buf_dispose(&b);
                return r;
        }
        *ret = mh_buf_steal(&b, NULL);
        return 0;
}

int mh_shell_join(const char *const *argv, char **ret) {
        mh_buf b = MH_BUF_INIT(COMMAND_MAX);
        int r = 0;

        if (!argv || !ret)
                return -EINVAL;

        for (size_t i = 0; r >= 0 && argv[i]; i++) {
                if (i > 0)
                        r = mh_buf_append(&b, " ", 1);
                if (r >= 0)
                        r = quote_into(&b, argv[i]);
        }
        if (r < 0) {
                mh_buf_dispose(&b);
                return r;
        }
        *ret = mh_buf_steal(&b, NULL);
        return *ret ? 0 : -ENOMEM;
}
