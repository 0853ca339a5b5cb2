/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include <mhc/strv.h>

#include "util.h"

void mh_strv_dispose(mh_strv *v) {
        for (size_t i = 0; i < v->n; i++)
                free(v->items[i]);
        free(v->items);
        *v = (mh_strv){};
}

int mh_strv_consume(mh_strv *v, char *s) {
        char **items;

        if (!s)
                return -ENOMEM;
        items = reallocarray(v->items, v->n + 1, sizeof(char *));
        if (!items) {
                free(s);
                return -ENOMEM;
        }
        v->items = items;
        v->items[v->n++] = s;
        return 0;
}

const char *mh_strv_get(const mh_strv *v, size_t i) {
        return i < v->n ? v->items[i] : NULL;
}

bool mh_strv_contains(const mh_strv *v, const char *s) {
        for (size_t i = 0; i < v->n; i++)
                if (streq(v->items[i], s))
                        return true;
        return false;
}
