/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>

#include <yaml.h>

#include "util.h"
#include "yaml.h"

/* Limits for hostile input: the tree is walked recursively by its users. */
#define MAX_DEPTH 64
#define MAX_NODES 100000

/* A sequence or mapping still being filled; allocated counts items or pairs. */
typedef struct frame {
        mh_node *node;
        size_t allocated;
} frame;

typedef struct key_slot {
        const mh_node *mapping;
        const mh_node *key;
} key_slot;

/* Every mapping key of the document, hashed, so that a duplicate is found
 * in constant time even in a mapping with thousands of keys. */
typedef struct key_set {
        key_slot *slots;
        size_t allocated; /* a power of two, or 0 */
        size_t n;
} key_set;

typedef struct builder {
        const char *origin;
        mh_node *root;
        frame stack[MAX_DEPTH];
        size_t depth;
        size_t n_nodes;
        unsigned n_documents;
        key_set keys;
        mh_error *error;
} builder;

mh_node *mh_node_free(mh_node *n) {
        if (!n)
                return NULL;

        free(n->value);
        for (size_t i = 0; i < n->n_items; i++)
                mh_node_free(n->items[i]);
        free(n->items);
        for (size_t i = 0; i < n->n_pairs; i++) {
                mh_node_free(n->pairs[i].key);
                mh_node_free(n->pairs[i].value);
        }
        free(n->pairs);
        free(n);
        return NULL;
}

static bool key_equal(const mh_node *a, const mh_node *b) {
        return a->length == b->length && memcmp(a->value, b->value, a->length) == 0;
}

/* FNV-1a over the key's bytes, mixed with the mapping it belongs to. */
static size_t key_hash(const mh_node *mapping, const mh_node *key) {
        uint64_t h = 14695981039346656037ull ^ (uint64_t) (uintptr_t) mapping;

        for (size_t i = 0; i < key->length; i++) {
                h ^= (unsigned char) key->value[i];
                h *= 1099511628211ull;
        }
        return (size_t) (h ^ (h >> 29));
}

static key_slot *key_set_find(const key_set *s, const mh_node *mapping, const mh_node *key) {
        size_t mask = s->allocated - 1;

        for (size_t i = key_hash(mapping, key) & mask;; i = (i + 1) & mask) {
                key_slot *slot = &s->slots[i];

                if (!slot->key || (slot->mapping == mapping && key_equal(slot->key, key)))
                        return slot;
        }
}

static int key_set_grow(key_set *s) {
        key_set bigger = { .allocated = s->allocated ? s->allocated * 2 : 64 };

        bigger.slots = calloc(bigger.allocated, sizeof(key_slot));
        if (!bigger.slots)
                return -ENOMEM;
        for (size_t i = 0; i < s->allocated; i++)
                if (s->slots[i].key)
                        *key_set_find(&bigger, s->slots[i].mapping, s->slots[i].key) = s->slots[i];
        bigger.n = s->n;
        free(s->slots);
        *s = bigger;
        return 0;
}

/* Add key to the set, or return the key it duplicates in ret_first. */
static int key_set_add(key_set *s, const mh_node *mapping, const mh_node *key,
                       const mh_node **ret_first) {
        key_slot *slot;
        int r;

        if ((s->n + 1) * 2 > s->allocated) {
                r = key_set_grow(s);
                if (r < 0)
                        return r;
        }
        slot = key_set_find(s, mapping, key);
        if (slot->key) {
                *ret_first = slot->key;
                return -EEXIST;
        }
        *slot = (key_slot){ .mapping = mapping, .key = key };
        s->n++;
        return 0;
}

static void builder_dispose(builder *b) {
        mh_node_free(b->root);
        free(b->keys.slots);
}

static int fail_at(builder *b, unsigned line, unsigned column, const char *fmt, ...)
        MH_PRINTF(4, 5);

static int fail_at(builder *b, unsigned line, unsigned column, const char *fmt, ...) {
        char message[MH_ERROR_MESSAGE_MAX];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(message, sizeof(message), fmt, ap);
        va_end(ap);
        return mh_error_set(b->error, -MH_ERR_YAML, "%s:%u:%u: %s", b->origin, line, column,
                            message);
}

static unsigned mark_line(const yaml_mark_t *m) {
        return (unsigned) m->line + 1;
}

static unsigned mark_column(const yaml_mark_t *m) {
        return (unsigned) m->column + 1;
}

/* Reader errors (bad encoding) carry a byte offset instead of a mark. */
static int reader_error(builder *b, const yaml_parser_t *p, const char *text, size_t size) {
        size_t offset = p->problem_offset < size ? p->problem_offset : size;
        unsigned line = 1, column = 1;

        for (size_t i = 0; i < offset; i++) {
                column++;
                if (text[i] == '\n') {
                        line++;
                        column = 1;
                }
        }
        if (p->problem_value >= 0)
                return fail_at(b, line, column, "%s (#%X)", strempty(p->problem),
                               (unsigned) p->problem_value);
        return fail_at(b, line, column, "%s", strempty(p->problem));
}

static int parser_error(builder *b, const yaml_parser_t *p, const char *text, size_t size) {
        const char *problem = p->problem ?: "cannot parse";

        switch (p->error) {
        case YAML_MEMORY_ERROR:
                return -ENOMEM;
        case YAML_READER_ERROR:
                return reader_error(b, p, text, size);
        default:
                if (p->context)
                        return fail_at(b, mark_line(&p->problem_mark),
                                       mark_column(&p->problem_mark), "%s (%s)", problem,
                                       p->context);
                return fail_at(b, mark_line(&p->problem_mark), mark_column(&p->problem_mark), "%s",
                               problem);
        }
}

static int node_new(builder *b, mh_node_kind kind, unsigned line, unsigned column, mh_node **ret) {
        mh_node *n;

        if (b->n_nodes >= MAX_NODES)
                return fail_at(b, line, column, "the document has more than %d nodes", MAX_NODES);
        n = calloc(1, sizeof(*n));
        if (!n)
                return -ENOMEM;
        n->kind = kind;
        n->line = line;
        n->column = column;
        b->n_nodes++;
        *ret = n;
        return 0;
}

/* Room for one more element after n; NULL when memory runs out (array is kept). */
static void *grow(void *array, size_t size, size_t n, size_t *allocated) {
        size_t want;
        void *p;

        if (n < *allocated)
                return array;
        want = *allocated ? *allocated * 2 : 4;
        p = reallocarray(array, want, size);
        if (p)
                *allocated = want;
        return p;
}

static int attach_to_mapping(builder *b, frame *f, mh_node *n) {
        mh_node *m = f->node;
        const mh_node *first;
        mh_node_pair *pairs;
        int r;

        if (m->n_pairs > 0 && !m->pairs[m->n_pairs - 1].value) {
                m->pairs[m->n_pairs - 1].value = n;
                return 0;
        }

        if (n->kind != MH_NODE_SCALAR)
                return fail_at(b, n->line, n->column, "mapping keys must be scalars, not a %s",
                               mh_node_kind_to_string(n->kind));
        r = key_set_add(&b->keys, m, n, &first);
        if (r == -EEXIST)
                return fail_at(b, n->line, n->column, "duplicate key '%s' (first at %u:%u)",
                               n->value, first->line, first->column);
        if (r < 0)
                return r;
        pairs = grow(m->pairs, sizeof(mh_node_pair), m->n_pairs, &f->allocated);
        if (!pairs)
                return -ENOMEM;
        m->pairs = pairs;
        /* The value follows; until then the pair is complete enough to free. */
        m->pairs[m->n_pairs++] = (mh_node_pair){ .key = n };
        return 0;
}

/* Give n to its parent (or make it the root); on failure n stays the caller's. */
static int attach(builder *b, mh_node *n) {
        mh_node **items;
        frame *f;

        if (b->depth == 0) {
                b->root = n;
                return 0;
        }

        f = &b->stack[b->depth - 1];
        if (f->node->kind == MH_NODE_MAPPING)
                return attach_to_mapping(b, f, n);

        items = grow(f->node->items, sizeof(mh_node *), f->node->n_items, &f->allocated);
        if (!items)
                return -ENOMEM;
        f->node->items = items;
        f->node->items[f->node->n_items++] = n;
        return 0;
}

static int add_scalar(builder *b, const yaml_event_t *e) {
        _cleanup_(mh_node_freep) mh_node *n = NULL;
        size_t length = e->data.scalar.length;
        int r;

        r = node_new(b, MH_NODE_SCALAR, mark_line(&e->start_mark), mark_column(&e->start_mark), &n);
        if (r < 0)
                return r;
        n->value = malloc(length + 1);
        if (!n->value)
                return -ENOMEM;
        memcpy(n->value, e->data.scalar.value, length);
        n->value[length] = '\0';
        n->length = length;
        /* A tag such as !!str makes even an unquoted scalar a plain string. */
        n->plain = e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && e->data.scalar.plain_implicit;

        r = attach(b, n);
        if (r < 0)
                return r;
        TAKE_PTR(n);
        return 0;
}

static int add_collection(builder *b, mh_node_kind kind, const yaml_event_t *e) {
        _cleanup_(mh_node_freep) mh_node *n = NULL;
        int r;

        if (b->depth >= MAX_DEPTH)
                return fail_at(b, mark_line(&e->start_mark), mark_column(&e->start_mark),
                               "nesting is deeper than %d levels", MAX_DEPTH);
        r = node_new(b, kind, mark_line(&e->start_mark), mark_column(&e->start_mark), &n);
        if (r < 0)
                return r;
        r = attach(b, n);
        if (r < 0)
                return r;
        b->stack[b->depth++] = (frame){ .node = TAKE_PTR(n) };
        return 0;
}

static int handle_event(builder *b, const yaml_event_t *e) {
        const yaml_mark_t *m = &e->start_mark;

        switch (e->type) {
        case YAML_DOCUMENT_START_EVENT:
                if (b->n_documents++ > 0)
                        return fail_at(b, mark_line(m), mark_column(m),
                                       "multiple documents are not supported");
                return 0;
        case YAML_ALIAS_EVENT:
                return fail_at(b, mark_line(m), mark_column(m), "aliases are not supported");
        case YAML_SCALAR_EVENT:
                return add_scalar(b, e);
        case YAML_SEQUENCE_START_EVENT:
                return add_collection(b, MH_NODE_SEQUENCE, e);
        case YAML_MAPPING_START_EVENT:
                return add_collection(b, MH_NODE_MAPPING, e);
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
                assert(b->depth > 0);
                b->depth--;
                return 0;
        default:
                return 0;
        }
}

static int build(builder *b, const char *text, size_t size) {
        yaml_parser_t parser;
        int r = 0;

        if (!yaml_parser_initialize(&parser))
                return -ENOMEM;
        yaml_parser_set_input_string(&parser, (const unsigned char *) text, size);

        for (bool done = false; r >= 0 && !done;) {
                yaml_event_t event;

                if (!yaml_parser_parse(&parser, &event)) {
                        r = parser_error(b, &parser, text, size);
                        break;
                }
                done = event.type == YAML_STREAM_END_EVENT;
                r = handle_event(b, &event);
                yaml_event_delete(&event);
        }

        yaml_parser_delete(&parser);
        return r;
}

/* No document, or only "---", stands for an empty mapping. */
static bool is_empty_document(const mh_node *root) {
        return !root || (root->kind == MH_NODE_SCALAR && root->plain && root->length == 0);
}

int mh_yaml_parse(const char *text, size_t size, const char *origin, mh_node **ret,
                  mh_error *error) {
        _cleanup_(builder_dispose) builder b = {
                .origin = origin ?: "<input>",
                .error = error,
        };
        int r;

        if ((!text && size > 0) || !ret)
                return -EINVAL;

        r = build(&b, text ?: "", size);
        if (r < 0)
                return r;

        if (is_empty_document(b.root)) {
                mh_node *empty = NULL;

                r = node_new(&b, MH_NODE_MAPPING, 1, 1, &empty);
                if (r < 0)
                        return r;
                mh_node_free(b.root);
                b.root = empty;
        }

        *ret = TAKE_PTR(b.root);
        return 0;
}

static bool key_is(const mh_node *key, const char *name) {
        return key->length == strlen(name) && memcmp(key->value, name, key->length) == 0;
}

const mh_node *mh_node_get(const mh_node *mapping, const char *key) {
        if (!mapping || mapping->kind != MH_NODE_MAPPING || !key)
                return NULL;

        for (size_t i = 0; i < mapping->n_pairs; i++)
                if (key_is(mapping->pairs[i].key, key))
                        return mapping->pairs[i].value;
        return NULL;
}

const char *mh_node_kind_to_string(mh_node_kind kind) {
        static const char *const names[] = {
                [MH_NODE_SCALAR] = "scalar",
                [MH_NODE_SEQUENCE] = "sequence",
                [MH_NODE_MAPPING] = "mapping",
        };

        if ((unsigned) kind >= ELEMENTSOF(names))
                return "unknown";
        return names[kind];
}

bool mh_node_is_null(const mh_node *n) {
        return n->kind == MH_NODE_SCALAR && n->plain &&
               (n->length == 0 || streq(n->value, "~") || streq(n->value, "null") ||
                streq(n->value, "Null") || streq(n->value, "NULL"));
}
