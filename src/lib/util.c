/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <time.h>

#include "util.h"

static uint64_t clock_usec(clockid_t clock) {
        struct timespec ts;

        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

uint64_t mh_now_usec(void) {
        return clock_usec(CLOCK_MONOTONIC);
}

uint64_t mh_realtime_usec(void) {
        return clock_usec(CLOCK_REALTIME);
}

char *mh_strdup_or_null(const char *s) {
        return s ? strdup(s) : NULL;
}

void mh_buf_init(mh_buf *b, size_t max) {
        assert(max > 0);
        *b = (mh_buf) MH_BUF_INIT(max);
}

/* Grow geometrically so that n appends cost O(n) copies in all. */
static int buf_reserve(mh_buf *b, size_t extra) {
        size_t need, n;
        char *p;

        /* A buffer made without its maximum is a bug, never an unbounded one. */
        if (b->max == 0)
                return -EINVAL;

        if (extra > SIZE_MAX - b->size - 1)
                return -EFBIG;
        need = b->size + extra;
        if (need > b->max)
                return -EFBIG;
        if (need + 1 <= b->allocated)
                return 0;

        n = b->allocated ? b->allocated : 256;
        while (n < need + 1)
                n = n > SIZE_MAX / 2 ? need + 1 : n * 2;
        if (n > b->max + 1)
                n = b->max + 1;

        p = realloc(b->data, n);
        if (!p)
                return -ENOMEM;
        b->data = p;
        b->allocated = n;
        return 0;
}

int mh_buf_append(mh_buf *b, const void *data, size_t size) {
        int r;

        r = buf_reserve(b, size);
        if (r < 0)
                return r;
        if (size > 0)
                memcpy(b->data + b->size, data, size);
        b->size += size;
        b->data[b->size] = '\0';
        return 0;
}

int mh_buf_printf(mh_buf *b, const char *fmt, ...) {
        va_list ap;
        int n, r;

        va_start(ap, fmt);
        n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -EINVAL;

        r = buf_reserve(b, (size_t) n);
        if (r < 0)
                return r;

        va_start(ap, fmt);
        vsnprintf(b->data + b->size, (size_t) n + 1, fmt, ap);
        va_end(ap);
        b->size += (size_t) n;
        return 0;
}

char *mh_buf_steal(mh_buf *b, size_t *ret_size) {
        char *p;

        if (!b->data && buf_reserve(b, 0) < 0)
                return NULL;
        b->data[b->size] = '\0';
        p = b->data;
        if (ret_size)
                *ret_size = b->size;
        b->data = NULL;
        b->size = b->allocated = 0;
        return p;
}

void mh_buf_dispose(mh_buf *b) {
        free(b->data);
        b->data = NULL;
        b->size = b->allocated = 0;
}
