/* SPDX-License-Identifier: MIT */
#ifndef MH_MACRO_H
#define MH_MACRO_H

/*
 * C idioms shared by libmhc, mhtest and the built-in host types: header
 * only, no symbols, so that hosts/ can use them and still be built against
 * the installed headers alone.  Never installed.
 */

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define _unused_ __attribute__((unused))
#define _cleanup_(f) __attribute__((cleanup(f)))

/* Hand a pointer owned by a _cleanup_ variable over to someone else. */
#define TAKE_PTR(p)                             \
        ({                                      \
                __typeof__(p) _p_ = (p);        \
                (p) = NULL;                     \
                _p_;                            \
        })

static inline void freep(void *p) {
        free(*(void **) p);
}

static inline void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}

static inline void closep(int *fd) {
        if (*fd >= 0)
                close(*fd);
}

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_close_ _cleanup_(closep)

static inline bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}

static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return streq(a, b);
}

static inline const char *strempty(const char *s) {
        return s ?: "";
}

/* The NUL-ended field at *at, which ends before end, moving *at past it;
 * NULL when no NUL comes before end. */
static inline const char *next_field(const char **at, const char *end) {
        const char *f = *at, *nul = memchr(f, '\0', (size_t) (end - f));

        if (!nul)
                return NULL;
        *at = nul + 1;
        return f;
}

/* s without prefix, or NULL when s does not start with it. */
static inline const char *startswith(const char *s, const char *prefix) {
        size_t n = strlen(prefix);

        return strncmp(s, prefix, n) == 0 ? s + n : NULL;
}

#endif
