/* SPDX-License-Identifier: MIT */
#ifndef MHC_STRV_H
#define MHC_STRV_H

#include <stdbool.h>
#include <stddef.h>

#include <mhc/common.h>

MH_BEGIN_DECLS

/*
 * A list of strings that owns them: what a host type's list settings are
 * read into (see mhc-host-type(3)), and the library's own lists.  A zeroed
 * mh_strv is empty.
 */
typedef struct mh_strv {
        char **items;
        size_t n;
} mh_strv;

/* Free the strings and the array; v is empty again. */
MH_EXPORT void mh_strv_dispose(mh_strv *v);

/* Append s, which v then owns; s is freed if that fails (-ENOMEM), and a
 * NULL s is -ENOMEM too, so that mh_strv_consume(v, strdup(x)) reads well. */
MH_EXPORT int mh_strv_consume(mh_strv *v, char *s);

/* Item i (borrowed), or NULL past the end. */
MH_EXPORT const char *mh_strv_get(const mh_strv *v, size_t i);

/* Whether v holds a string equal to s. */
MH_EXPORT bool mh_strv_contains(const mh_strv *v, const char *s);

MH_END_DECLS

#endif
