/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>

#include <mhc/config.h>

#include "config.h"
#include "util.h"
#include "yaml.h"

#define CONFIG_SIZE_MAX    (4u * 1024 * 1024) /* of mhc.yaml */
#define VALUE_SIZE_MAX     (64u * 1024)       /* of a value after ${env:...} expansion */
#define ENV_NAME_MAX       255
#define TIMEOUT_MAX        604800u /* a week, in seconds */
#define FIELDS_MAX         16      /* keys in one kind of mapping */
#define SUGGEST_LENGTH_MAX 64      /* longer unknown keys get no suggestion */
#define LABEL_MAX          64      /* "each item of 'topologies'" */

typedef struct strv {
        char **items;
        size_t n;
} strv;

struct mh_host_config {
        const mh_config *config; /* the owner */
        char *location;          /* "origin:line:column" of the host mapping */
        unsigned line, column;
        char *hostname;
        char *domain;
        char *role;
        char *type;
        char *address;
        unsigned port;
        char *user;
        char *private_key;
        char *password; /* secret */
        char *known_hosts;
        mh_host_key_policy host_key_policy;
        unsigned connect_timeout;
        unsigned command_timeout;
        strv services;
        strv backup_paths;
        strv artifacts;
        mh_node *options; /* the config: mapping, or NULL */
};

typedef struct domain {
        char *id;
        unsigned line, column;
} domain;

struct mh_config {
        char *path;
        char *base_dir; /* absolute; relative paths are resolved against it */
        mh_host_config **hosts;
        size_t n_hosts;
        domain *domains;
        size_t n_domains;
        strv tests;
        strv topology_dirs;
};

/* What every step of validation needs. */
typedef struct ctx {
        const char *origin;
        mh_config *config;
        mh_error *error;
} ctx;

typedef struct field field;

/* Check the value of one key and store it in object at f->offset. */
typedef int (*parse_fn)(const ctx *c, const mh_node *value, const field *f, void *object);

typedef struct schema schema;

/* One key of a kind of mapping. */
struct field {
        const char *name;
        parse_fn parse;
        size_t offset; /* of the member parse fills in */
        bool required;
        const schema *nested; /* for parse_nested */
};

/* A kind of mapping: its keys, and what to do once all of them are read. */
struct schema {
        const char *what; /* "host", in messages */
        const field *fields;
        size_t n_fields;
        /* The object's name for "host 'db' has no role", or NULL. */
        const char *(*name)(const void *object);
        /* Defaults and checks across keys. */
        int (*finish)(const ctx *c, const mh_node *mapping, void *object);
};

static const char *const policy_names[] = {
        [MH_HOST_KEY_STRICT] = "strict",
        [MH_HOST_KEY_ACCEPT_NEW] = "accept-new",
        [MH_HOST_KEY_OFF] = "off",
};

static void *member(void *object, const field *f) {
        return (char *) object + f->offset;
}

static void strv_dispose(strv *v) {
        for (size_t i = 0; i < v->n; i++)
                free(v->items[i]);
        free(v->items);
        *v = (strv){};
}

/* Append s, which is freed if that fails. */
static int strv_consume(strv *v, char *s) {
        char **items;

        items = reallocarray(v->items, v->n + 1, sizeof(char *));
        if (!items) {
                free(s);
                return -ENOMEM;
        }
        v->items = items;
        v->items[v->n++] = s;
        return 0;
}

static const char *strv_get(const strv *v, size_t i) {
        return i < v->n ? v->items[i] : NULL;
}

static void host_free(mh_host_config *h) {
        if (!h)
                return;

        free(h->location);
        free(h->hostname);
        free(h->domain);
        free(h->role);
        free(h->type);
        free(h->address);
        free(h->user);
        free(h->private_key);
        if (h->password)
                explicit_bzero(h->password, strlen(h->password));
        free(h->password);
        free(h->known_hosts);
        strv_dispose(&h->services);
        strv_dispose(&h->backup_paths);
        strv_dispose(&h->artifacts);
        mh_node_free(h->options);
        free(h);
}

mh_config *mh_config_free(mh_config *c) {
        if (!c)
                return NULL;

        for (size_t i = 0; i < c->n_hosts; i++)
                host_free(c->hosts[i]);
        free(c->hosts);
        for (size_t i = 0; i < c->n_domains; i++)
                free(c->domains[i].id);
        free(c->domains);
        strv_dispose(&c->tests);
        strv_dispose(&c->topology_dirs);
        free(c->path);
        free(c->base_dir);
        free(c);
        return NULL;
}

static void mh_config_freep(mh_config **c) {
        mh_config_free(*c);
}

/* --- messages ------------------------------------------------------------ */

static int fail(const ctx *c, const mh_node *n, const char *fmt, ...) MH_PRINTF(3, 4);

static int fail(const ctx *c, const mh_node *n, const char *fmt, ...) {
        char message[MH_ERROR_MESSAGE_MAX];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(message, sizeof(message), fmt, ap);
        va_end(ap);
        return mh_error_set(c->error, -MH_ERR_CONFIG, "%s:%u:%u: %s", c->origin, n->line, n->column,
                            message);
}

/* What n is, for "... must be a string, not a mapping". */
static const char *describe(const mh_node *n) {
        switch (n->kind) {
        case MH_NODE_MAPPING:
                return "a mapping";
        case MH_NODE_SEQUENCE:
                return "a sequence";
        default:
                return mh_node_is_null(n) ? "null" : "a scalar";
        }
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
static const char *suggest(const schema *s, const mh_node *key) {
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

static int unknown_key(const ctx *c, const mh_node *key, const schema *s) {
        const char *guess = suggest(s, key);

        if (guess)
                return fail(c, key, "unknown key '%s' in %s (did you mean '%s'?)", key->value,
                            s->what, guess);
        return fail(c, key, "unknown key '%s' in %s", key->value, s->what);
}

static int missing_key(const ctx *c, const mh_node *mapping, const schema *s, const void *object,
                       const char *key) {
        const char *name = s->name ? s->name(object) : NULL;

        if (name)
                return fail(c, mapping, "%s '%s' has no %s", s->what, name, key);
        return fail(c, mapping, "%s is missing required key '%s'", s->what, key);
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
static int append_env(const ctx *c, const mh_node *n, const char *ref, bool secret, mh_buf *b,
                      const char **ret_end) {
        const char *name = ref + strlen("${env:"), *end = strchr(name, '}');
        char copy[ENV_NAME_MAX + 1];
        const char *value;
        size_t length;

        if (!end)
                return fail(c, n, "'${env:' without a closing '}'");
        length = (size_t) (end - name);
        if (!is_env_name(name, length)) {
                if (secret)
                        return fail(c, n, "invalid environment variable name in ${env:...}");
                return fail(c, n, "invalid environment variable name '%.*s' in ${env:...}",
                            (int) length, name);
        }

        memcpy(copy, name, length);
        copy[length] = '\0';
        value = getenv(copy);
        if (!value)
                return fail(c, n, "environment variable '%s' is not set", copy);

        *ret_end = end + 1;
        return mh_buf_append(b, value, strlen(value));
}

/* The scalar's text with every ${env:NAME} replaced by the variable's value. */
static int expand_env(const ctx *c, const mh_node *n, bool secret, char **ret) {
        mh_buf b = { .max = VALUE_SIZE_MAX };
        const char *p = n->value, *ref;
        int r = 0;

        assert(n->kind == MH_NODE_SCALAR);
        if (strlen(n->value) != n->length)
                return fail(c, n, "the value contains a NUL character");

        while (r >= 0 && (ref = strstr(p, "${env:"))) {
                r = mh_buf_append(&b, p, (size_t) (ref - p));
                if (r >= 0)
                        r = append_env(c, n, ref, secret, &b, &p);
        }
        if (r >= 0)
                r = mh_buf_append(&b, p, strlen(p));
        if (r == -EFBIG)
                r = fail(c, n, "the value is longer than %u bytes once ${env:...} is expanded",
                         VALUE_SIZE_MAX);
        if (r < 0) {
                mh_buf_dispose(&b);
                return r;
        }

        *ret = mh_buf_steal(&b, NULL);
        return *ret ? 0 : -ENOMEM;
}

/* A string value, expanded; null and empty values are refused. */
static int read_string(const ctx *c, const mh_node *n, const char *label, bool secret, char **ret) {
        _cleanup_free_ char *s = NULL;
        int r;

        if (n->kind != MH_NODE_SCALAR || mh_node_is_null(n))
                return fail(c, n, "%s must be a string, not %s", label, describe(n));
        r = expand_env(c, n, secret, &s);
        if (r < 0)
                return r;
        if (s[0] == '\0')
                return fail(c, n, "%s must not be empty", label);

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

static int read_integer(const ctx *c, const mh_node *n, const char *name, unsigned max,
                        unsigned *ret) {
        _cleanup_free_ char *s = NULL;
        int r;

        if (n->kind != MH_NODE_SCALAR || mh_node_is_null(n))
                return fail(c, n, "'%s' must be an integer from 1 to %u, not %s", name, max,
                            describe(n));
        r = expand_env(c, n, false, &s);
        if (r < 0)
                return r;
        if (!parse_decimal(s, max, ret))
                return fail(c, n, "'%s' must be an integer from 1 to %u, not '%s'", name, max, s);
        return 0;
}

/* "./a" and ".//./a" are "a". */
static const char *skip_dot_slashes(const char *path) {
        while (path[0] == '.' && path[1] == '/') {
                path++;
                while (path[0] == '/')
                        path++;
        }
        return path;
}

/* dir/path, where dir is absolute and path relative (maybe empty). */
static int join(const char *dir, const char *path, char **ret) {
        const char *slash = dir[strlen(dir) - 1] == '/' || !*path ? "" : "/";
        char *s;

        if (asprintf(&s, "%s%s%s", dir, slash, path) < 0)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* path, or path under base_dir when it is relative. */
static int resolve_in(const char *base_dir, const char *path, char **ret) {
        char *s;

        if (path[0] != '/')
                return join(base_dir, skip_dot_slashes(path), ret);

        s = strdup(path);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static int resolve(const ctx *c, const char *path, char **ret) {
        return resolve_in(c->config->base_dir, path, ret);
}

static int read_local_path(const ctx *c, const mh_node *n, const char *label, char **ret) {
        _cleanup_free_ char *s = NULL;
        int r;

        r = read_string(c, n, label, false, &s);
        if (r < 0)
                return r;
        return resolve(c, s, ret);
}

/* A path on the host: relative ones would depend on the remote working directory. */
static int read_remote_path(const ctx *c, const mh_node *n, const char *label, char **ret) {
        _cleanup_free_ char *s = NULL;
        int r;

        r = read_string(c, n, label, false, &s);
        if (r < 0)
                return r;
        if (s[0] != '/')
                return fail(c, n, "%s must be an absolute path on the host, not '%s'", label, s);
        *ret = TAKE_PTR(s);
        return 0;
}

static int read_plain_string(const ctx *c, const mh_node *n, const char *label, char **ret) {
        return read_string(c, n, label, false, ret);
}

/* Opened rather than access(2)ed: that is what counts when the key is used. */
static int check_readable(const char *path) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        return 0;
}

static int copy_node(const ctx *c, const mh_node *n, bool is_key, mh_node **ret);

static int copy_items(const ctx *c, const mh_node *n, mh_node *copy) {
        int r = 0;

        if (n->n_items == 0)
                return 0;
        copy->items = calloc(n->n_items, sizeof(mh_node *));
        if (!copy->items)
                return -ENOMEM;
        /* Counted as they are tried, so that freeing copy frees what was made. */
        for (; r >= 0 && copy->n_items < n->n_items; copy->n_items++)
                r = copy_node(c, n->items[copy->n_items], false, &copy->items[copy->n_items]);
        return r;
}

static int copy_pairs(const ctx *c, const mh_node *n, mh_node *copy) {
        int r = 0;

        if (n->n_pairs == 0)
                return 0;
        copy->pairs = calloc(n->n_pairs, sizeof(mh_node_pair));
        if (!copy->pairs)
                return -ENOMEM;
        for (; r >= 0 && copy->n_pairs < n->n_pairs; copy->n_pairs++) {
                const mh_node_pair *from = &n->pairs[copy->n_pairs];
                mh_node_pair *to = &copy->pairs[copy->n_pairs];

                r = copy_node(c, from->key, true, &to->key);
                if (r >= 0)
                        r = copy_node(c, from->value, false, &to->value);
        }
        return r;
}

/* Keys are copied as written, values with ${env:NAME} expanded. */
static int copy_scalar(const ctx *c, const mh_node *n, bool is_key, mh_node *copy) {
        int r;

        if (!is_key) {
                r = expand_env(c, n, false, &copy->value);
                if (r < 0)
                        return r;
                copy->length = strlen(copy->value);
                return 0;
        }

        copy->value = malloc(n->length + 1);
        if (!copy->value)
                return -ENOMEM;
        memcpy(copy->value, n->value, n->length + 1);
        copy->length = n->length;
        return 0;
}

/* A copy of a config: subtree for its host type.  The parser bounds the
 * depth, and so this recursion. */
static int copy_node(const ctx *c, const mh_node *n, bool is_key, mh_node **ret) {
        _cleanup_(mh_node_freep) mh_node *copy = NULL;
        int r;

        copy = calloc(1, sizeof(*copy));
        if (!copy)
                return -ENOMEM;
        copy->kind = n->kind;
        copy->line = n->line;
        copy->column = n->column;
        copy->plain = n->plain;

        switch (n->kind) {
        case MH_NODE_SCALAR:
                r = copy_scalar(c, n, is_key, copy);
                break;
        case MH_NODE_SEQUENCE:
                r = copy_items(c, n, copy);
                break;
        default:
                r = copy_pairs(c, n, copy);
                break;
        }
        if (r < 0)
                return r;

        *ret = TAKE_PTR(copy);
        return 0;
}

/* --- parsers of keys, as named in the tables ----------------------------- */

/* The key's name quoted, for messages about its value. */
static const char *quoted(char buf[static LABEL_MAX], const char *name) {
        snprintf(buf, LABEL_MAX, "'%s'", name);
        return buf;
}

static int parse_string(const ctx *c, const mh_node *n, const field *f, void *object) {
        char label[LABEL_MAX];

        return read_string(c, n, quoted(label, f->name), false, member(object, f));
}

static int parse_secret(const ctx *c, const mh_node *n, const field *f, void *object) {
        char label[LABEL_MAX];

        return read_string(c, n, quoted(label, f->name), true, member(object, f));
}

static int parse_local_path(const ctx *c, const mh_node *n, const field *f, void *object) {
        char label[LABEL_MAX];

        return read_local_path(c, n, quoted(label, f->name), member(object, f));
}

/* The key file must be readable now, not only when the first connection fails. */
static int parse_private_key(const ctx *c, const mh_node *n, const field *f, void *object) {
        _cleanup_free_ char *path = NULL;
        char label[LABEL_MAX];
        int r;

        r = read_local_path(c, n, quoted(label, f->name), &path);
        if (r < 0)
                return r;
        r = check_readable(path);
        if (r < 0)
                return fail(c, n, "cannot read %s '%s': %s", f->name, path, strerror(-r));
        *(char **) member(object, f) = TAKE_PTR(path);
        return 0;
}

static int parse_port(const ctx *c, const mh_node *n, const field *f, void *object) {
        return read_integer(c, n, f->name, 65535, member(object, f));
}

static int parse_timeout(const ctx *c, const mh_node *n, const field *f, void *object) {
        return read_integer(c, n, f->name, TIMEOUT_MAX, member(object, f));
}

static int parse_policy(const ctx *c, const mh_node *n, const field *f, void *object) {
        _cleanup_free_ char *s = NULL;
        mh_host_key_policy *policy = member(object, f);
        char label[LABEL_MAX];
        int r;

        r = read_string(c, n, quoted(label, f->name), false, &s);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(policy_names); i++)
                if (streq(s, policy_names[i])) {
                        *policy = (mh_host_key_policy) i;
                        return 0;
                }
        return fail(c, n, "'%s' must be strict, accept-new or off, not '%s'", f->name, s);
}

typedef int (*read_item_fn)(const ctx *c, const mh_node *n, const char *label, char **ret);

static int parse_list(const ctx *c, const mh_node *n, const field *f, strv *v,
                      read_item_fn read_item) {
        char label[LABEL_MAX];
        int r;

        if (n->kind != MH_NODE_SEQUENCE)
                return fail(c, n, "'%s' must be a sequence, not %s", f->name, describe(n));

        snprintf(label, sizeof(label), "each item of '%s'", f->name);
        for (size_t i = 0; i < n->n_items; i++) {
                char *s = NULL;

                r = read_item(c, n->items[i], label, &s);
                if (r < 0)
                        return r;
                r = strv_consume(v, s);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_strings(const ctx *c, const mh_node *n, const field *f, void *object) {
        return parse_list(c, n, f, member(object, f), read_plain_string);
}

static int parse_local_paths(const ctx *c, const mh_node *n, const field *f, void *object) {
        return parse_list(c, n, f, member(object, f), read_local_path);
}

static int parse_remote_paths(const ctx *c, const mh_node *n, const field *f, void *object) {
        return parse_list(c, n, f, member(object, f), read_remote_path);
}

static int parse_options(const ctx *c, const mh_node *n, const field *f, void *object) {
        if (n->kind != MH_NODE_MAPPING)
                return fail(c, n, "'%s' must be a mapping, not %s", f->name, describe(n));
        return copy_node(c, n, false, member(object, f));
}

static const field *find_field(const schema *s, const mh_node *key) {
        for (size_t i = 0; i < s->n_fields; i++)
                if (key->length == strlen(s->fields[i].name) &&
                    memcmp(key->value, s->fields[i].name, key->length) == 0)
                        return &s->fields[i];
        return NULL;
}

/* Check every key of mapping against the schema and fill object. */
static int parse_mapping(const ctx *c, const mh_node *mapping, const schema *s, void *object) {
        bool seen[FIELDS_MAX] = {};
        int r;

        assert(mapping->kind == MH_NODE_MAPPING);
        assert(s->n_fields <= FIELDS_MAX);

        for (size_t i = 0; i < mapping->n_pairs; i++) {
                const field *f = find_field(s, mapping->pairs[i].key);

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

/* A mapping whose keys belong to the same object as its parent's (conn:, backup:). */
static int parse_nested(const ctx *c, const mh_node *n, const field *f, void *object) {
        if (n->kind != MH_NODE_MAPPING)
                return fail(c, n, "'%s' must be a mapping, not %s", f->name, describe(n));
        return parse_mapping(c, n, f->nested, object);
}

/* --- hosts --------------------------------------------------------------- */

/* clang-format off */
static const field conn_fields[] = {
        { "host",            parse_string,      offsetof(mh_host_config, address) },
        { "port",            parse_port,        offsetof(mh_host_config, port) },
        { "user",            parse_string,      offsetof(mh_host_config, user) },
        { "private_key",     parse_private_key, offsetof(mh_host_config, private_key) },
        { "password",        parse_secret,      offsetof(mh_host_config, password) },
        { "known_hosts",     parse_local_path,  offsetof(mh_host_config, known_hosts) },
        { "host_key_policy", parse_policy,      offsetof(mh_host_config, host_key_policy) },
        { "connect_timeout", parse_timeout,     offsetof(mh_host_config, connect_timeout) },
        { "command_timeout", parse_timeout,     offsetof(mh_host_config, command_timeout) },
};
/* clang-format on */

static const schema conn_schema = {
        .what = "conn",
        .fields = conn_fields,
        .n_fields = ELEMENTSOF(conn_fields),
};

/* clang-format off */
static const field backup_fields[] = {
        { "paths", parse_remote_paths, offsetof(mh_host_config, backup_paths) },
};
/* clang-format on */

static const schema backup_schema = {
        .what = "backup",
        .fields = backup_fields,
        .n_fields = ELEMENTSOF(backup_fields),
};

/* clang-format off */
static const field host_fields[] = {
        { "hostname",  parse_string,       offsetof(mh_host_config, hostname), true },
        { "role",      parse_string,       offsetof(mh_host_config, role),     true },
        { "type",      parse_string,       offsetof(mh_host_config, type) },
        { "conn",      parse_nested,       0, .nested = &conn_schema },
        { "services",  parse_strings,      offsetof(mh_host_config, services) },
        { "backup",    parse_nested,       0, .nested = &backup_schema },
        { "artifacts", parse_remote_paths, offsetof(mh_host_config, artifacts) },
        { "config",    parse_options,      offsetof(mh_host_config, options) },
};
/* clang-format on */

static const char *host_name(const void *object) {
        const mh_host_config *h = object;

        return h->hostname;
}

static int set_default(char **s, const char *value) {
        if (*s)
                return 0;
        *s = strdup(value);
        return *s ? 0 : -ENOMEM;
}

static int finish_host(const ctx *c, const mh_node *mapping, void *object) {
        mh_host_config *h = object;
        int r;

        /* h is the configuration's last host; the others come before it. */
        for (size_t i = 0; c->config->hosts[i] != h; i++) {
                const mh_host_config *first = c->config->hosts[i];

                if (streq(first->hostname, h->hostname))
                        return fail(c, mapping, "duplicate hostname '%s' (first at %u:%u)",
                                    h->hostname, first->line, first->column);
        }

        r = set_default(&h->type, "systemd");
        if (r >= 0)
                r = set_default(&h->user, "root");
        if (r >= 0)
                r = set_default(&h->address, h->hostname);
        if (r < 0)
                return r;

        if (asprintf(&h->location, "%s:%u:%u", c->origin, mapping->line, mapping->column) < 0) {
                h->location = NULL;
                return -ENOMEM;
        }
        h->line = mapping->line;
        h->column = mapping->column;
        return 0;
}

static const schema host_schema = {
        .what = "host",
        .fields = host_fields,
        .n_fields = ELEMENTSOF(host_fields),
        .name = host_name,
        .finish = finish_host,
};

/* A host with the defaults of conn:, owned by the configuration from the start. */
static int add_host(mh_config *config, mh_host_config **ret) {
        mh_host_config **hosts, *h;

        hosts = reallocarray(config->hosts, config->n_hosts + 1, sizeof(mh_host_config *));
        if (!hosts)
                return -ENOMEM;
        config->hosts = hosts;

        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->config = config;
        h->port = 22;
        h->host_key_policy = MH_HOST_KEY_STRICT;
        h->connect_timeout = 10;
        h->command_timeout = 600;

        config->hosts[config->n_hosts++] = h;
        *ret = h;
        return 0;
}

static int parse_hosts(const ctx *c, const mh_node *n, const field *f, void *object) {
        int r;

        if (n->kind != MH_NODE_SEQUENCE)
                return fail(c, n, "'%s' must be a sequence, not %s", f->name, describe(n));
        if (n->n_items == 0)
                return fail(c, n, "'%s' must not be empty", f->name);

        for (size_t i = 0; i < n->n_items; i++) {
                const mh_node *item = n->items[i];
                mh_host_config *h;

                if (item->kind != MH_NODE_MAPPING)
                        return fail(c, item, "each item of '%s' must be a mapping, not %s", f->name,
                                    describe(item));
                r = add_host(c->config, &h);
                if (r < 0)
                        return r;
                r = parse_mapping(c, item, &host_schema, h);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* --- domains ------------------------------------------------------------- */

/* A domain while its mapping is read: its hosts are the configuration's from first_host on. */
typedef struct domain_draft {
        char *id;
        size_t first_host;
} domain_draft;

/* clang-format off */
static const field domain_fields[] = {
        { "id",    parse_string, offsetof(domain_draft, id), true },
        { "hosts", parse_hosts,  0,                          true },
};
/* clang-format on */

static const char *domain_name(const void *object) {
        const domain_draft *d = object;

        return d->id;
}

static int finish_domain(const ctx *c, const mh_node *mapping, void *object) {
        mh_config *config = c->config;
        domain_draft *d = object;
        domain *domains;

        for (size_t i = 0; i < config->n_domains; i++)
                if (streq(config->domains[i].id, d->id))
                        return fail(c, mapping, "duplicate domain id '%s' (first at %u:%u)", d->id,
                                    config->domains[i].line, config->domains[i].column);

        for (size_t i = d->first_host; i < config->n_hosts; i++) {
                config->hosts[i]->domain = strdup(d->id);
                if (!config->hosts[i]->domain)
                        return -ENOMEM;
        }

        domains = reallocarray(config->domains, config->n_domains + 1, sizeof(domain));
        if (!domains)
                return -ENOMEM;
        config->domains = domains;
        config->domains[config->n_domains++] = (domain){
                .id = TAKE_PTR(d->id),
                .line = mapping->line,
                .column = mapping->column,
        };
        return 0;
}

static const schema domain_schema = {
        .what = "domain",
        .fields = domain_fields,
        .n_fields = ELEMENTSOF(domain_fields),
        .name = domain_name,
        .finish = finish_domain,
};

static int parse_domains(const ctx *c, const mh_node *n, const field *f, void *object) {
        int r;

        if (n->kind != MH_NODE_SEQUENCE)
                return fail(c, n, "'%s' must be a sequence, not %s", f->name, describe(n));
        if (n->n_items == 0)
                return fail(c, n, "'%s' must not be empty", f->name);

        for (size_t i = 0; i < n->n_items; i++) {
                const mh_node *item = n->items[i];
                domain_draft d = { .first_host = c->config->n_hosts };

                if (item->kind != MH_NODE_MAPPING)
                        return fail(c, item, "each item of '%s' must be a mapping, not %s", f->name,
                                    describe(item));
                r = parse_mapping(c, item, &domain_schema, &d);
                free(d.id);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* --- the file ------------------------------------------------------------ */

/* clang-format off */
static const field config_fields[] = {
        { "domains",    parse_domains,     0,                                  true },
        { "tests",      parse_local_paths, offsetof(mh_config, tests) },
        { "topologies", parse_local_paths, offsetof(mh_config, topology_dirs) },
};
/* clang-format on */

static const schema config_schema = {
        .what = "configuration",
        .fields = config_fields,
        .n_fields = ELEMENTSOF(config_fields),
};

/* dir made absolute with the working directory; NULL means the working directory. */
static int absolute_dir(const char *dir, char **ret) {
        _cleanup_free_ char *cwd = NULL;
        char *s;

        if (dir && dir[0] == '/') {
                s = strdup(dir);
                if (!s)
                        return -ENOMEM;
                *ret = s;
                return 0;
        }

        cwd = getcwd(NULL, 0);
        if (!cwd)
                return -errno;
        dir = skip_dot_slashes(strempty(dir));
        return join(cwd, streq(dir, ".") ? "" : dir, ret);
}

int mh_config_parse(const char *text, size_t size, const char *origin, const char *base_dir,
                    mh_config **ret, mh_error *error) {
        _cleanup_(mh_config_freep) mh_config *config = NULL;
        _cleanup_(mh_node_freep) mh_node *root = NULL;
        ctx c;
        int r;

        if ((!text && size > 0) || !ret)
                return -EINVAL;
        origin = origin ?: "<config>";

        r = mh_yaml_parse(text, size, origin, &root, error);
        if (r < 0)
                return r;

        config = calloc(1, sizeof(*config));
        if (!config)
                return -ENOMEM;
        config->path = strdup(origin);
        if (!config->path)
                return -ENOMEM;
        r = absolute_dir(base_dir, &config->base_dir);
        if (r < 0)
                return mh_error_set(error, r, "cannot find the directory of '%s': %s", origin,
                                    strerror(-r));

        c = (ctx){ .origin = config->path, .config = config, .error = error };
        if (root->kind != MH_NODE_MAPPING)
                return fail(&c, root, "the configuration must be a mapping, not %s",
                            describe(root));
        r = parse_mapping(&c, root, &config_schema, config);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(config);
        return 0;
}

/* The whole file, up to CONFIG_SIZE_MAX bytes. */
static int read_file(const char *path, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;
        mh_buf b = { .max = CONFIG_SIZE_MAX };
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

/* The directory part of path, "." when there is none. */
static char *dir_of(const char *path) {
        const char *slash = strrchr(path, '/');

        if (!slash)
                return strdup(".");
        while (slash > path && slash[-1] == '/')
                slash--;
        return strndup(path, slash == path ? 1 : (size_t) (slash - path));
}

int mh_config_load(const char *path, mh_config **ret, mh_error *error) {
        _cleanup_free_ char *text = NULL, *dir = NULL;
        size_t size;
        int r;

        if (!path || !ret)
                return -EINVAL;

        r = read_file(path, &text, &size);
        if (r == -EFBIG)
                return mh_error_set(error, r, "cannot read config '%s': larger than %u MiB", path,
                                    CONFIG_SIZE_MAX / 1024 / 1024);
        if (r < 0)
                return mh_error_set(error, r, "cannot read config '%s': %s", path, strerror(-r));

        dir = dir_of(path);
        if (!dir)
                return -ENOMEM;
        return mh_config_parse(text, size, path, dir, ret, error);
}

/* --- accessors ----------------------------------------------------------- */

const char *mh_config_path(const mh_config *c) {
        return c->path;
}

size_t mh_config_n_hosts(const mh_config *c) {
        return c->n_hosts;
}

const mh_host_config *mh_config_host(const mh_config *c, size_t i) {
        return i < c->n_hosts ? c->hosts[i] : NULL;
}

const mh_host_config *mh_config_find_host(const mh_config *c, const char *hostname) {
        for (size_t i = 0; hostname && i < c->n_hosts; i++)
                if (streq(c->hosts[i]->hostname, hostname))
                        return c->hosts[i];
        return NULL;
}

size_t mh_config_n_tests(const mh_config *c) {
        return c->tests.n;
}

const char *mh_config_test(const mh_config *c, size_t i) {
        return strv_get(&c->tests, i);
}

size_t mh_config_n_topology_dirs(const mh_config *c) {
        return c->topology_dirs.n;
}

const char *mh_config_topology_dir(const mh_config *c, size_t i) {
        return strv_get(&c->topology_dirs, i);
}

int mh_host_config_resolve(const mh_host_config *h, const char *path, char **ret) {
        return resolve_in(h->config->base_dir, path, ret);
}

int mh_host_config_fail(const mh_host_config *h, const mh_node *n, mh_error *error, const char *fmt,
                        ...) {
        char message[MH_ERROR_MESSAGE_MAX];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(message, sizeof(message), fmt, ap);
        va_end(ap);
        if (!n)
                return mh_error_set(error, -MH_ERR_CONFIG, "%s: %s", h->location, message);
        return mh_error_set(error, -MH_ERR_CONFIG, "%s:%u:%u: %s", h->config->path, n->line,
                            n->column, message);
}

const char *mh_host_config_location(const mh_host_config *h) {
        return h->location;
}

const char *mh_host_config_hostname(const mh_host_config *h) {
        return h->hostname;
}

const char *mh_host_config_domain(const mh_host_config *h) {
        return h->domain;
}

const char *mh_host_config_role(const mh_host_config *h) {
        return h->role;
}

const char *mh_host_config_type(const mh_host_config *h) {
        return h->type;
}

const char *mh_host_config_address(const mh_host_config *h) {
        return h->address;
}

unsigned mh_host_config_port(const mh_host_config *h) {
        return h->port;
}

const char *mh_host_config_user(const mh_host_config *h) {
        return h->user;
}

const char *mh_host_config_private_key(const mh_host_config *h) {
        return h->private_key;
}

int mh_host_config_has_password(const mh_host_config *h) {
        return h->password != NULL;
}

const char *mh_host_config_password(const mh_host_config *h) {
        return h->password;
}

const char *mh_host_config_known_hosts(const mh_host_config *h) {
        return h->known_hosts;
}

mh_host_key_policy mh_host_config_host_key_policy(const mh_host_config *h) {
        return h->host_key_policy;
}

unsigned mh_host_config_connect_timeout(const mh_host_config *h) {
        return h->connect_timeout;
}

unsigned mh_host_config_command_timeout(const mh_host_config *h) {
        return h->command_timeout;
}

size_t mh_host_config_n_services(const mh_host_config *h) {
        return h->services.n;
}

const char *mh_host_config_service(const mh_host_config *h, size_t i) {
        return strv_get(&h->services, i);
}

size_t mh_host_config_n_backup_paths(const mh_host_config *h) {
        return h->backup_paths.n;
}

const char *mh_host_config_backup_path(const mh_host_config *h, size_t i) {
        return strv_get(&h->backup_paths, i);
}

size_t mh_host_config_n_artifacts(const mh_host_config *h) {
        return h->artifacts.n;
}

const char *mh_host_config_artifact(const mh_host_config *h, size_t i) {
        return strv_get(&h->artifacts, i);
}

const mh_node *mh_host_config_options(const mh_host_config *h) {
        return h->options;
}

const char *mh_host_key_policy_to_string(mh_host_key_policy p) {
        if ((unsigned) p >= ELEMENTSOF(policy_names))
                return "unknown";
        return policy_names[p];
}
