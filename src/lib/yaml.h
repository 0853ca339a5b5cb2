/* SPDX-License-Identifier: MIT */
#ifndef MH_YAML_H
#define MH_YAML_H

/*
 * A YAML document as a tree that remembers where each node came from, so
 * that validation can say "mhc.yaml:12:5: ...".  Built with libyaml; used
 * for mhc.yaml and topology files.
 */

#include <stdbool.h>
#include <stddef.h>

#include <mhc/error.h>

typedef enum mh_node_kind {
        MH_NODE_SCALAR,
        MH_NODE_SEQUENCE,
        MH_NODE_MAPPING,
} mh_node_kind;

typedef struct mh_node mh_node;

typedef struct mh_node_pair {
        mh_node *key;           /* always a scalar */
        mh_node *value;
} mh_node_pair;

struct mh_node {
        mh_node_kind kind;
        unsigned line;          /* 1-based */
        unsigned column;        /* 1-based */
        /* MH_NODE_SCALAR */
        char *value;            /* NUL-terminated */
        size_t length;
        int plain;              /* unquoted: may be null, a number, a bool */
        /* MH_NODE_SEQUENCE */
        mh_node **items;
        size_t n_items;
        /* MH_NODE_MAPPING (keys unique, in file order) */
        mh_node_pair *pairs;
        size_t n_pairs;
};

/*
 * Parse one document; an empty document gives an empty mapping at 1:1.
 * Malformed YAML, aliases, duplicate or non-scalar keys, more than one
 * document, nesting deeper than 64 and more than 100000 nodes are refused
 * with -MH_ERR_YAML and "origin:line:column: ..." (origin NULL is
 * "<input>").  A tag such as !!str makes a scalar not plain; anchors
 * without aliases are accepted and forgotten.
 */
int mh_yaml_parse(const char *text, size_t size, const char *origin, mh_node **ret,
                  mh_error *error);

/* Free n and everything below it (NULL is fine); returns NULL. */
mh_node *mh_node_free(mh_node *n);

static inline void mh_node_freep(mh_node **n) {
        mh_node_free(*n);
}

/* The value under key in a mapping, or NULL. */
const mh_node *mh_node_get(const mh_node *mapping, const char *key);

/* Whether n is YAML's null: an empty plain scalar, ~ or null. */
bool mh_node_is_null(const mh_node *n);

/* "mapping", "sequence" or "scalar", for messages. */
const char *mh_node_kind_to_string(mh_node_kind kind);

#endif
