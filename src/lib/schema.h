/* SPDX-License-Identifier: MIT */
#ifndef MH_SCHEMA_H
#define MH_SCHEMA_H

/*
 * Validation of a YAML tree against tables of keys, shared by mhc.yaml and
 * topology files: every message is located ("origin:line:column: ...") and
 * says what is wrong ("unknown key 'rols' in domain (did you mean
 * 'roles'?)").  Failures are -MH_ERR_CONFIG, or -ENOMEM.
 */

#include <stdbool.h>
#include <stddef.h>

#include <mhc/error.h>
#include <mhc/strv.h>

#include "yaml.h"

#define MH_SCHEMA_FIELDS_MAX 32 /* keys in one kind of mapping */
#define MH_SCHEMA_LABEL_MAX  64 /* "each item of 'topologies'" */

/* What every step of validation needs. */
typedef struct mh_schema_ctx {
        const char *origin; /* the file, in messages */
        void *root;         /* what the whole document fills in (mh_config, mh_topology) */
        bool expand_env;    /* replace ${env:NAME} in values with the variable's value */
        mh_error *error;
} mh_schema_ctx;

typedef struct mh_field mh_field;
typedef struct mh_schema mh_schema;

/* Check the value of one key and store it in object at f->offset. */
typedef int (*mh_parse_fn)(const mh_schema_ctx *c, const mh_node *value, const mh_field *f,
                           void *object);

/* One key of a kind of mapping. */
struct mh_field {
        const char *name;
        mh_parse_fn parse;
        size_t offset; /* of the member parse fills in */
        bool required;
        const mh_schema *nested; /* for mh_schema_parse_nested */
};

/* A kind of mapping: its keys, and what to do once all of them are read. */
struct mh_schema {
        const char *what; /* "host", in messages */
        const mh_field *fields;
        size_t n_fields;
        /* The object's name for "host 'db' has no role", or NULL. */
        const char *(*name)(const void *object);
        /* Defaults and checks across keys. */
        int (*finish)(const mh_schema_ctx *c, const mh_node *mapping, void *object);
};

/* Fail with -MH_ERR_CONFIG and "origin:line:column: message" for node n. */
int mh_schema_fail(const mh_schema_ctx *c, const mh_node *n, const char *fmt, ...) MH_PRINTF(3, 4);

/* What n is, for "... must be a string, not a mapping". */
const char *mh_schema_describe(const mh_node *n);

/* The member of object that field f fills in. */
static inline void *mh_schema_member(void *object, const mh_field *f) {
        return (char *) object + f->offset;
}

/* name quoted, in buf, for messages about the value of a key. */
const char *mh_schema_label(char buf[static MH_SCHEMA_LABEL_MAX], const char *name);

/* The scalar's text, with ${env:NAME} replaced when c->expand_env is set.
 * A secret's text never goes into a message. */
int mh_schema_expand(const mh_schema_ctx *c, const mh_node *n, bool secret, char **ret);

/* A string value, expanded; null and empty values are refused. */
int mh_schema_read_string(const mh_schema_ctx *c, const mh_node *n, const char *label, bool secret,
                          char **ret);

/* A decimal integer from 1 to max: no sign, no leading zero. */
int mh_schema_read_integer(const mh_schema_ctx *c, const mh_node *n, const char *label,
                           unsigned max, unsigned *ret);

/* A string that must be one of names[0..n_names), such as an enum's names;
 * *ret gets its index.  "'f' must be a, b or c, not 'd'". */
int mh_schema_read_choice(const mh_schema_ctx *c, const mh_node *n, const mh_field *f,
                          const char *const *names, size_t n_names, unsigned *ret);

/* Check every key of mapping against the schema and fill object. */
int mh_schema_parse_mapping(const mh_schema_ctx *c, const mh_node *mapping, const mh_schema *s,
                            void *object);

/* Parse text as YAML (-MH_ERR_YAML when it is not) and check its root,
 * which must be a mapping, against s. */
int mh_schema_parse_text(const mh_schema_ctx *c, const char *text, size_t size, const mh_schema *s,
                         void *object);

/* Read one item of a sequence of mappings; object is the sequence's owner. */
typedef int (*mh_item_fn)(const mh_schema_ctx *c, const mh_node *item, void *object);

/* The value of f must be a non-empty sequence of mappings; read_item reads each. */
int mh_schema_parse_items(const mh_schema_ctx *c, const mh_node *n, const mh_field *f,
                          mh_item_fn read_item, void *object);

/* Read one item of a list of strings into *ret; label names it in messages. */
typedef int (*mh_read_item_fn)(const mh_schema_ctx *c, const mh_node *n, const char *label,
                               char **ret);

/* The value of f must be a sequence; read_item reads each item into v. */
int mh_schema_parse_list(const mh_schema_ctx *c, const mh_node *n, const mh_field *f, mh_strv *v,
                         mh_read_item_fn read_item);

/* Parsers of keys for the tables: a string (char *), a list of strings
 * (mh_strv), and a mapping whose keys belong to the same object as its
 * parent's (f->nested). */
int mh_schema_parse_string(const mh_schema_ctx *c, const mh_node *n, const mh_field *f,
                           void *object);
int mh_schema_parse_strings(const mh_schema_ctx *c, const mh_node *n, const mh_field *f,
                            void *object);
int mh_schema_parse_nested(const mh_schema_ctx *c, const mh_node *n, const mh_field *f,
                           void *object);

/* The whole file at path, NUL-terminated, up to max bytes (a multiple of
 * 1 MiB); what names the kind of file in messages ("config"). */
int mh_schema_read_file(const char *path, size_t max, const char *what, char **ret,
                        size_t *ret_size, mh_error *error);

#endif
