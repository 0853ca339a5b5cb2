/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>

#include "schema.h"
#include "util.h"

#define VALUE_SIZE_MAX     (64u * 1024) /* of a value after ${env:...} expansion */
#define ENV_NAME_MAX       255
#define SUGGEST_LENGTH_MAX 64 /* longer unknown keys get no suggestion */

/* --- messages ------------------------------------------------------------ */

int mh_schema_fail(const mh_schema_ctx *c, const mh_node *n, const char *fmt, ...) {
        char message[MH_ERROR_MESSAGE_MAX];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(message, sizeof(message), fmt, ap);
        va_end(ap);
        return mh_error_set(c->error, -MH_ERR_CONFIG, "%s:%u:%u: %s", c->origin, n->line, n->column,
                            message);
}

const char *mh_schema_describe(const mh_node *n) {
        switch (n->kind) {
        case MH_NODE_MAPPING:
                return "a mapping";
        case MH_NODE_SEQUENCE:
                return "a sequence";
        default:
                return mh_node_is_null(n) ? "null" : "a scalar";
        }
}

const char *mh_schema_label(char buf[static MH_SCHEMA_LABEL_MAX], const char *name) {
        snprintf(buf, MH_SCHEMA_LABEL_MAX, "'%s'", name);
        return buf;
}

/* Edit distance with transpositions (optimal string alignment). */
static size_t edit_distance(const char *a, size_t n, const char *b, size_t m) {
        size_t d[SUGGEST_LENGTH_MAX + 1][SUGGEST_LENGTH_MAX + 1];

        assert(n <= SUGGEST_LENGTH_MAX && m <= SUGGEST_LENGTH_MAX);
        for (size_t i = 0; i <= n; i++)
                d[i][0] = i;
        for (size_t j = 0; j <= m; j++)
                d[0][j] = j;
        for (size_t i = 1; i <= n; i++)
                for (size_t j = 1; j <= m; j++) {
                        size_t cost = a[i - 1] != b[j - 1];
                        size_t best = d[i - 1][j - 1] + cost;

                        if (d[i - 1][j] + 1 < best)
                                best = d[i - 1][j] + 1;
                        if (d[i][j - 1] + 1 < best)
                                best = d[i][j - 1] + 1;
                        if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                            d[i - 2][j - 2] + 1 < best)
                                best = d[i - 2][j - 2] + 1;
                        d[i][j] = best;
                }
        return d[n][m];
}

/* Whether one of a and b starts with the other, which has at least 3 characters. */
static bool is_prefix(const char *a, size_t n, const char *b, size_t m) {
        size_t shorter = n < m ? n : m;

        return shorter >= 3 && strncmp(a, b, shorter) == 0;
}

/* Typos forgiven in a key of m characters. */
static size_t max_typos(size_t m) {
        return m >= 6 ? 2 : 1;
}

/* The key the user probably meant: the closest by edit distance, else one
 * that shares a prefix; NULL when nothing is close. */
static const char *suggest(const mh_schema *s, const mh_node *key) {
        const char *best = NULL, *prefixed = NULL;
        size_t best_distance = SIZE_MAX;

        if (key->length > SUGGEST_LENGTH_MAX)
                return NULL;

        for (size_t i = 0; i < s->n_fields; i++) {
                const char *name = s->fields[i].name;
                size_t m = strlen(name);
                size_t d = edit_distance(key->value, key->length, name, m);

                if (d <= max_typos(m) && d < best_distance) {
                        best = name;
                        best_distance = d;
                }
                if (!prefixed && is_prefix(key->value, key->length, name, m))
                        prefixed = name;
        }
        return best ?: prefixed;
}

static int unknown_key(const mh_schema_ctx *c, const mh_node *key, const mh_schema *s) {
        const char *guess = suggest(s, key);

        if (guess)
                return mh_schema_fail(c, key, "unknown key '%s' in %s (did you mean '%s'?)",
                                      key->value, s->what, guess);
        return mh_schema_fail(c, key, "unknown key '%s' in %s", key->value, s->what);
}

static int missing_key(const mh_schema_ctx *c, const mh_node *mapping, const mh_schema *s,
                       const void *object, const char *key) {
        const char *name = s->name ? s->name(object) : NULL;

        if (name)
                return mh_schema_fail(c, mapping, "%s '%s' has no %s", s->what, name, key);
        return mh_schema_fail(c, mapping, "%s is missing required key '%s'", s->what, key);
}

/* --- values -------------------------------------------------------------- */

static bool is_name_start(char ch) {
        return ch == '_' || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z');
}

/* [A-Za-z_][A-Za-z0-9_]*, as the shell allows. */
static bool is_env_name(const char *s, size_t n) {
        if (n == 0 || n > ENV_NAME_MAX || !is_name_start(s[0]))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!is_name_start(s[i]) && !(s[i] >= '0' && s[i] <= '9'))
                        return false;
        return true;
}

/* Append the value of the variable named in ${env:...} at ref; *ret_end is
 * what follows the reference.  A secret's text never goes into a message. */
static int append_env(const mh_schema_ctx *c, const mh_node *n, const char *ref, bool secret,
                      mh_buf *b, const char **ret_end) {
        const char *name = ref + strlen("${env:"), *end = strchr(name, '}');
        char copy[ENV_NAME_MAX + 1];
        const char *value;
        size_t length;

        if (!end)
                return mh_schema_fail(c, n, "'${env:' without a closing '}'");
        length = (size_t) (end - name);
        if (!is_env_name(name, length)) {
                if (secret)
                        return mh_schema_fail(c, n,
                                              "invalid environment variable name in ${env:...}");
                return mh_schema_fail(c, n,
                                      "invalid environment variable name '%.*s' in ${env:...}",
                                      (int) length, name);
        }

        memcpy(copy, name, length);
        copy[length] = '\0';
        value = getenv(copy);
        if (!value)
                return mh_schema_fail(c, n, "environment variable '%s' is not set", copy);

        *ret_end = end + 1;
        return mh_buf_append(b, value, strlen(value));
}

int mh_schema_expand(const mh_schema_ctx *c, const mh_node *n, bool secret, char **ret) {
        mh_buf b = { .max = VALUE_SIZE_MAX };
        const char *p = n->value, *ref;
        int r = 0;

        assert(n->kind == MH_NODE_SCALAR);
        if (strlen(n->value) != n->length)
                return mh_schema_fail(c, n, "the value contains a NUL character");

        while (r >= 0 && c->expand_env && (ref = strstr(p, "${env:"))) {
                r = mh_buf_append(&b, p, (size_t) (ref - p));
                if (r >= 0)
                        r = append_env(c, n, ref, secret, &b, &p);
        }
        if (r >= 0)
                r = mh_buf_append(&b, p, strlen(p));
        if (r == -EFBIG)
                r = mh_schema_fail(c, n,
                                   "the value is longer than %u bytes once ${env:...} is expanded",
                                   VALUE_SIZE_MAX);
        if (r < 0) {
                mh_buf_dispose(&b);
                return r;
        }

        *ret = mh_buf_steal(&b, NULL);
        return *ret ? 0 : -ENOMEM;
}

int mh_schema_read_string(const mh_schema_ctx *c, const mh_node *n, const char *label, bool secret,
                          char **ret) {
        _cleanup_free_ char *s = NULL;
        int r;

        if (n->kind != MH_NODE_SCALAR || mh_node_is_null(n))
                return mh_schema_fail(c, n, "%s must be a string, not %s", label,
                                      mh_schema_describe(n));
        r = mh_schema_expand(c, n, secret, &s);
        if (r < 0)
                return r;
        if (s[0] == '\0')
                return mh_schema_fail(c, n, "%s must not be empty", label);

        *ret = TAKE_PTR(s);
        return 0;
}

/* Decimal digits only: no sign, no leading zero, no overflow past max. */
static bool parse_decimal(const char *s, unsigned max, unsigned *ret) {
        unsigned v = 0;

        if (s[0] < '1' || s[0] > '9')
                return false;
        for (; *s; s++) {
                unsigned digit = (unsigned) (*s - '0');

                if (*s < '0' || *s > '9' || v > (max - digit) / 10)
                        return false;
                v = v * 10 + digit;
        }
        *ret = v;
        return true;
}

int mh_schema_read_integer(const mh_schema_ctx *c, const mh_node *n, const char *label,
                           unsigned max, unsigned *ret) {
        _cleanup_free_ char *s = NULL;
        int r;

        if (n->kind != MH_NODE_SCALAR || mh_node_is_null(n))
                return mh_schema_fail(c, n, "%s must be an integer from 1 to %u, not %s", label,
                                      max, mh_schema_describe(n));
        r = mh_schema_expand(c, n, false, &s);
        if (r < 0)
                return r;
        if (!parse_decimal(s, max, ret))
                return mh_schema_fail(c, n, "%s must be an integer from 1 to %u, not '%s'", label,
                                      max, s);
        return 0;
}

int mh_schema_read_choice(const mh_schema_ctx *c, const mh_node *n, const mh_field *f,
                          const char *const *names, size_t n_names, unsigned *ret) {
        _cleanup_free_ char *s = NULL;
        char label[MH_SCHEMA_LABEL_MAX], choices[MH_ERROR_MESSAGE_MAX] = "";
        int r;

        assert(n_names >= 2);
        r = mh_schema_read_string(c, n, mh_schema_label(label, f->name), false, &s);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_names; i++)
                if (streq(s, names[i])) {
                        *ret = (unsigned) i;
                        return 0;
                }

        for (size_t i = 0, used = 0; i < n_names && used < sizeof(choices); i++)
                used += (size_t) snprintf(choices + used, sizeof(choices) - used, "%s%s",
                                          i == 0            ? ""
                                          : i + 1 < n_names ? ", "
                                                            : " or ",
                                          names[i]);
        return mh_schema_fail(c, n, "'%s' must be %s, not '%s'", f->name, choices, s);
}

/* --- mappings and sequences ---------------------------------------------- */

static const mh_field *find_field(const mh_schema *s, const mh_node *key) {
        for (size_t i = 0; i < s->n_fields; i++)
                if (key->length == strlen(s->fields[i].name) &&
                    memcmp(key->value, s->fields[i].name, key->length) == 0)
                        return &s->fields[i];
        return NULL;
}

int mh_schema_parse_mapping(const mh_schema_ctx *c, const mh_node *mapping, const mh_schema *s,
                            void *object) {
        bool seen[MH_SCHEMA_FIELDS_MAX] = {};
        int r;

        assert(mapping->kind == MH_NODE_MAPPING);
        assert(s->n_fields <= MH_SCHEMA_FIELDS_MAX);

        for (size_t i = 0; i < mapping->n_pairs; i++) {
                const mh_field *f = find_field(s, mapping->pairs[i].key);

                if (!f)
                        return unknown_key(c, mapping->pairs[i].key, s);
                r = f->parse(c, mapping->pairs[i].value, f, object);
                if (r < 0)
                        return r;
                seen[f - s->fields] = true;
        }

        for (size_t i = 0; i < s->n_fields; i++)
                if (s->fields[i].required && !seen[i])
                        return missing_key(c, mapping, s, object, s->fields[i].name);

        return s->finish ? s->finish(c, mapping, object) : 0;
}

int mh_schema_parse_text(const mh_schema_ctx *c, const char *text, size_t size, const mh_schema *s,
                         void *object) {
        _cleanup_(mh_node_freep) mh_node *root = NULL;
        int r;

        r = mh_yaml_parse(text, size, c->origin, &root, c->error);
        if (r < 0)
                return r;
        if (root->kind != MH_NODE_MAPPING)
                return mh_schema_fail(c, root, "the %s must be a mapping, not %s", s->what,
                                      mh_schema_describe(root));
        return mh_schema_parse_mapping(c, root, s, object);
}

int mh_schema_parse_items(const mh_schema_ctx *c, const mh_node *n, const mh_field *f,
                          mh_item_fn read_item, void *object) {
        int r;

        if (n->kind != MH_NODE_SEQUENCE)
                return mh_schema_fail(c, n, "'%s' must be a sequence, not %s", f->name,
                                      mh_schema_describe(n));
        if (n->n_items == 0)
                return mh_schema_fail(c, n, "'%s' must not be empty", f->name);

        for (size_t i = 0; i < n->n_items; i++) {
                const mh_node *item = n->items[i];

                if (item->kind != MH_NODE_MAPPING)
                        return mh_schema_fail(c, item,
                                              "each item of '%s' must be a mapping, not %s",
                                              f->name, mh_schema_describe(item));
                r = read_item(c, item, object);
                if (r < 0)
                        return r;
        }
        return 0;
}

int mh_schema_parse_list(const mh_schema_ctx *c, const mh_node *n, const mh_field *f, mh_strv *v,
                         mh_read_item_fn read_item) {
        char label[MH_SCHEMA_LABEL_MAX];
        int r;

        if (n->kind != MH_NODE_SEQUENCE)
                return mh_schema_fail(c, n, "'%s' must be a sequence, not %s", f->name,
                                      mh_schema_describe(n));

        snprintf(label, sizeof(label), "each item of '%s'", f->name);
        for (size_t i = 0; i < n->n_items; i++) {
                char *s = NULL;

                r = read_item(c, n->items[i], label, &s);
                if (r < 0)
                        return r;
                r = mh_strv_consume(v, s);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* --- parsers of keys, as named in the tables ----------------------------- */

int mh_schema_parse_string(const mh_schema_ctx *c, const mh_node *n, const mh_field *f,
                           void *object) {
        char label[MH_SCHEMA_LABEL_MAX];

        return mh_schema_read_string(c, n, mh_schema_label(label, f->name), false,
                                     mh_schema_member(object, f));
}

static int read_plain_string(const mh_schema_ctx *c, const mh_node *n, const char *label,
                             char **ret) {
        return mh_schema_read_string(c, n, label, false, ret);
}

int mh_schema_parse_strings(const mh_schema_ctx *c, const mh_node *n, const mh_field *f,
                            void *object) {
        return mh_schema_parse_list(c, n, f, mh_schema_member(object, f), read_plain_string);
}

int mh_schema_parse_nested(const mh_schema_ctx *c, const mh_node *n, const mh_field *f,
                           void *object) {
        if (n->kind != MH_NODE_MAPPING)
                return mh_schema_fail(c, n, "'%s' must be a mapping, not %s", f->name,
                                      mh_schema_describe(n));
        return mh_schema_parse_mapping(c, n, f->nested, object);
}

/* --- files --------------------------------------------------------------- */

static int read_all(const char *path, size_t max, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;
        mh_buf b = { .max = max };
        char chunk[16384];
        int r = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;

        for (;;) {
                ssize_t n = read(fd, chunk, sizeof(chunk));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        r = n < 0 ? -errno : 0;
                        break;
                }
                r = mh_buf_append(&b, chunk, (size_t) n);
                if (r < 0)
                        break;
        }
        if (r < 0) {
                mh_buf_dispose(&b);
                return r;
        }

        *ret = mh_buf_steal(&b, ret_size);
        return *ret ? 0 : -ENOMEM;
}

int mh_schema_read_file(const char *path, size_t max, const char *what, char **ret,
                        size_t *ret_size, mh_error *error) {
        int r;

        r = read_all(path, max, ret, ret_size);
        if (r == -EFBIG)
                return mh_error_set(error, r, "cannot read %s '%s': larger than %zu MiB", what,
                                    path, max / 1024 / 1024);
        if (r < 0)
                return mh_error_set(error, r, "cannot read %s '%s': %s", what, path, strerror(-r));
        return 0;
}
