/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>

#include "mhtest.h"
#include "util.h"

/*
 * The console: what mhtest prints on standard output and error while it
 * runs (results, -v command lines and log lines, notes, warnings).  Each
 * call is formatted whole, its secrets replaced, then written under one
 * lock, so that neither a secret nor a line of another thread can come in
 * between.
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
        text = redact_secrets(text, (const char *const *) console_secrets);
        fputs(text, f);
        fflush(f);
        pthread_mutex_unlock(&console_lock);
        free(text);
}
