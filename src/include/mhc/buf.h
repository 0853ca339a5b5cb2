/* SPDX-License-Identifier: MIT */
#ifndef MHC_BUF_H
#define MHC_BUF_H

#include <stddef.h>

#include <mhc/common.h>

MH_BEGIN_DECLS

/*
 * A growable byte buffer with a hard maximum (remote output is untrusted):
 * appending past max fails with -EFBIG and keeps what was there.  Always
 * NUL-terminated when data is not NULL.  For host types building commands
 * and reading output; see mhc-host-type(3).  Every buffer gets its maximum
 * when it is made, with MH_BUF_INIT(max) or mh_buf_init(): one whose max is
 * 0 refuses to grow (-EINVAL), so that none is unbounded by accident.
 */
typedef struct mh_buf {
        char *data;
        size_t size;
        size_t allocated;
        size_t max;
} mh_buf;

#define MH_BUF_INIT(maximum) { .data = NULL, .size = 0, .allocated = 0, .max = (maximum) }

/* Make b empty, holding at most max bytes (max > 0). */
MH_EXPORT void mh_buf_init(mh_buf *b, size_t max);

MH_EXPORT int mh_buf_append(mh_buf *b, const void *data, size_t size);
MH_EXPORT int mh_buf_printf(mh_buf *b, const char *fmt, ...) MH_PRINTF(2, 3);
/* Hand the data over to the caller (may be an empty string, never NULL unless ENOMEM). */
MH_EXPORT char *mh_buf_steal(mh_buf *b, size_t *ret_size);
MH_EXPORT void mh_buf_dispose(mh_buf *b);

MH_END_DECLS

#endif
