/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio_ext.h>
#include <stdlib.h>

#include "mhtest.h"
#include "util.h"

/*
 * The console: what mhtest prints on standard output and error while it
 * runs (results, -v command lines and log lines, notes, warnings).  Each
 * call is formatted whole, its secrets replaced, then written under one
 * lock, so that neither a secret nor a line of another thread can come in
 * between.  Once the reader of standard output or error is gone (mhtest |
 * head -1), what would go there is dropped.
 */

static pthread_mutex_t console_lock = PTHREAD_MUTEX_INITIALIZER;
static char **console_secrets; /* NULL-terminated, or NULL */

int console_set_secrets(const char *const *secrets) {
        char **copy = NULL;

        if (secrets && !(copy = redact_copy_list(secrets)))
                return -ENOMEM;
        pthread_mutex_lock(&console_lock);
        redact_free_list(console_secrets);
        console_secrets = copy;
        pthread_mutex_unlock(&console_lock);
        return 0;
}

void console_printf(FILE *f, const char *fmt, ...) {
        char *text = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&text, fmt, ap);
        va_end(ap);
        /* Without memory, print nothing rather than what might hold a secret. */
        if (r < 0)
                return;
        pthread_mutex_lock(&console_lock);
        if (!signals_output_closed(fileno(f))) {
                text = redact_secrets(text, (const char *const *) console_secrets);
                fputs(text, f);
                console_flush(f);
        }
        pthread_mutex_unlock(&console_lock);
        free(text);
}

void console_flush(FILE *f) {
        if (fflush(f) == 0 && !ferror(f))
                return;
        /* What the stream holds would only fail again, at every flush and at exit. */
        if (signals_output_failed(fileno(f))) {
                __fpurge(f);
                clearerr(f);
        }
}
