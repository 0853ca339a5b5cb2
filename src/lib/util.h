/* SPDX-License-Identifier: MIT */
#ifndef MH_UTIL_H
#define MH_UTIL_H

/* Small helpers shared by the library's files; never installed. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
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

/* Monotonic clock in microseconds. */
uint64_t mh_now_usec(void);

/* strdup that returns NULL only for a NULL argument or when memory runs out. */
char *mh_strdup_or_null(const char *s);

/*
 * A growable byte buffer with a hard maximum (remote output is untrusted):
 * appending past max fails with -EFBIG and keeps what was there.  Always
 * NUL-terminated when data is not NULL.
 */
typedef struct mh_buf {
        char *data;
        size_t size;
        size_t allocated;
        size_t max;
} mh_buf;

int mh_buf_append(mh_buf *b, const void *data, size_t size);
int mh_buf_printf(mh_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hand the data over to the caller (may be an empty string, never NULL unless ENOMEM). */
char *mh_buf_steal(mh_buf *b, size_t *ret_size);
void mh_buf_dispose(mh_buf *b);

/* Write one formatted line to the installed log handler (never prints). */
void mh_log(int level, const char *host, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
