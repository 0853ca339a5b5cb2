/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>

#include <mhc/config.h>

#include "config.h"
#include "host-type.h"
#include "schema.h"
#include "util.h"
#include "yaml.h"

#define CONFIG_SIZE_MAX (4u * 1024 * 1024) /* of mhc.yaml */
#define TIMEOUT_MAX     604800u            /* a week, in seconds */

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
        mh_strv services;
        mh_strv backup_paths;
        mh_strv artifacts;
        mh_strv features;
        unsigned char outcome[MH_OUTCOME_N_CHECKS]; /* 1 + mh_outcome_action; 0: default */
        mh_node *options; /* the config: mapping, or NULL */
        const mh_host_type *host_type;
        void *type_handle; /* a plug-in's dlopen() handle, or NULL */
        void **settings;   /* what the type's tables read from options */
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
        mh_strv tests;
        mh_strv topology_dirs;
};

static const char *const policy_names[] = {
        [MH_HOST_KEY_STRICT] = "strict",
        [MH_HOST_KEY_ACCEPT_NEW] = "accept-new",
        [MH_HOST_KEY_OFF] = "off",
};

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
        mh_strv_dispose(&h->services);
        mh_strv_dispose(&h->backup_paths);
        mh_strv_dispose(&h->artifacts);
        mh_strv_dispose(&h->features);
        mh_node_free(h->options);
        if (h->host_type)
                mh_host_type_free_settings(h->host_type, h->settings);
        mh_host_type_unload(h->type_handle);
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
        mh_strv_dispose(&c->tests);
        mh_strv_dispose(&c->topology_dirs);
        free(c->path);
        free(c->base_dir);
        free(c);
        return NULL;
}

static void mh_config_freep(mh_config **c) {
        mh_config_free(*c);
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

static int resolve(const mh_schema_ctx *c, const char *path, char **ret) {
        return resolve_in(((const mh_config *) c->root)->base_dir, path, ret);
}

static int read_local_path(const mh_schema_ctx *c, const mh_node *n, const char *label,
                           char **ret) {
        _cleanup_free_ char *s = NULL;
        int r;

        r = mh_schema_read_string(c, n, label, false, &s);
        if (r < 0)
                return r;
        return resolve(c, s, ret);
}

/* A path on the host: relative ones would depend on the remote working directory. */
static int read_remote_path(const mh_schema_ctx *c, const mh_node *n, const char *label,
                            char **ret) {
        _cleanup_free_ char *s = NULL;
        int r;

        r = mh_schema_read_string(c, n, label, false, &s);
        if (r < 0)
                return r;
        if (s[0] != '/')
                return mh_schema_fail(c, n, "%s must be an absolute path on the host, not '%s'",
                                      label, s);
        *ret = TAKE_PTR(s);
        return 0;
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

static int copy_node(const mh_schema_ctx *c, const mh_node *n, bool is_key, mh_node **ret);

static int copy_items(const mh_schema_ctx *c, const mh_node *n, mh_node *copy) {
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

static int copy_pairs(const mh_schema_ctx *c, const mh_node *n, mh_node *copy) {
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
static int copy_scalar(const mh_schema_ctx *c, const mh_node *n, bool is_key, mh_node *copy) {
        int r;

        if (!is_key) {
                r = mh_schema_expand(c, n, false, &copy->value);
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
static int copy_node(const mh_schema_ctx *c, const mh_node *n, bool is_key, mh_node **ret) {
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

static int parse_secret(const mh_schema_ctx *c, const mh_node *n, const mh_field *f, void *object) {
        char label[MH_SCHEMA_LABEL_MAX];

        return mh_schema_read_string(c, n, mh_schema_label(label, f->name), true,
                                     mh_schema_member(object, f));
}

static int parse_local_path(const mh_schema_ctx *c, const mh_node *n, const mh_field *f,
                            void *object) {
        char label[MH_SCHEMA_LABEL_MAX];

        return read_local_path(c, n, mh_schema_label(label, f->name), mh_schema_member(object, f));
}

/* The key file must be readable now, not only when the first connection fails. */
static int parse_private_key(const mh_schema_ctx *c, const mh_node *n, const mh_field *f,
                             void *object) {
        _cleanup_free_ char *path = NULL;
        char label[MH_SCHEMA_LABEL_MAX];
        int r;

        r = read_local_path(c, n, mh_schema_label(label, f->name), &path);
        if (r < 0)
                return r;
        r = check_readable(path);
        if (r < 0)
                return mh_schema_fail(c, n, "cannot read %s '%s': %s", f->name, path, strerror(-r));
        *(char **) mh_schema_member(object, f) = TAKE_PTR(path);
        return 0;
}

static int parse_port(const mh_schema_ctx *c, const mh_node *n, const mh_field *f, void *object) {
        char label[MH_SCHEMA_LABEL_MAX];

        return mh_schema_read_integer(c, n, mh_schema_label(label, f->name), 65535,
                                      mh_schema_member(object, f));
}

static int parse_timeout(const mh_schema_ctx *c, const mh_node *n, const mh_field *f,
                         void *object) {
        char label[MH_SCHEMA_LABEL_MAX];

        return mh_schema_read_integer(c, n, mh_schema_label(label, f->name), TIMEOUT_MAX,
                                      mh_schema_member(object, f));
}

static int parse_policy(const mh_schema_ctx *c, const mh_node *n, const mh_field *f, void *object) {
        unsigned i;
        int r;

        r = mh_schema_read_choice(c, n, f, policy_names, ELEMENTSOF(policy_names), &i);
        if (r < 0)
                return r;
        *(mh_host_key_policy *) mh_schema_member(object, f) = (mh_host_key_policy) i;
        return 0;
}

static const char *const action_names[] = {
        [MH_OUTCOME_FAIL] = "fail",
        [MH_OUTCOME_WARN] = "warn",
        [MH_OUTCOME_IGNORE] = "ignore",
};

static int parse_action(const mh_schema_ctx *c, const mh_node *n, const mh_field *f, void *object) {
        unsigned i;
        int r;

        r = mh_schema_read_choice(c, n, f, action_names, ELEMENTSOF(action_names), &i);
        if (r < 0)
                return r;
        *(unsigned char *) mh_schema_member(object, f) = (unsigned char) (1 + i);
        return 0;
}

static int parse_local_paths(const mh_schema_ctx *c, const mh_node *n, const mh_field *f,
                             void *object) {
        return mh_schema_parse_list(c, n, f, mh_schema_member(object, f), read_local_path);
}

static int parse_remote_paths(const mh_schema_ctx *c, const mh_node *n, const mh_field *f,
                              void *object) {
        return mh_schema_parse_list(c, n, f, mh_schema_member(object, f), read_remote_path);
}

/* Any string here: finish_host() checks the names, once it knows the host's. */
static int read_feature(const mh_schema_ctx *c, const mh_node *n, const char *label, char **ret) {
        if (n->kind != MH_NODE_SCALAR || mh_node_is_null(n))
                return mh_schema_fail(c, n, "%s must be a string, not %s", label,
                                      mh_schema_describe(n));
        return mh_schema_expand(c, n, false, ret);
}

static int parse_features(const mh_schema_ctx *c, const mh_node *n, const mh_field *f,
                          void *object) {
        return mh_schema_parse_list(c, n, f, mh_schema_member(object, f), read_feature);
}

static int parse_options(const mh_schema_ctx *c, const mh_node *n, const mh_field *f,
                         void *object) {
        if (n->kind != MH_NODE_MAPPING)
                return mh_schema_fail(c, n, "'%s' must be a mapping, not %s", f->name,
                                      mh_schema_describe(n));
        return copy_node(c, n, false, mh_schema_member(object, f));
}

/* --- hosts --------------------------------------------------------------- */

/* clang-format off */
static const mh_field conn_fields[] = {
        { "host",            mh_schema_parse_string, offsetof(mh_host_config, address) },
        { "port",            parse_port,             offsetof(mh_host_config, port) },
        { "user",            mh_schema_parse_string, offsetof(mh_host_config, user) },
        { "private_key",     parse_private_key,      offsetof(mh_host_config, private_key) },
        { "password",        parse_secret,           offsetof(mh_host_config, password) },
        { "known_hosts",     parse_local_path,       offsetof(mh_host_config, known_hosts) },
        { "host_key_policy", parse_policy,           offsetof(mh_host_config, host_key_policy) },
        { "connect_timeout", parse_timeout,          offsetof(mh_host_config, connect_timeout) },
        { "command_timeout", parse_timeout,          offsetof(mh_host_config, command_timeout) },
};
/* clang-format on */

static const mh_schema conn_schema = {
        .what = "conn",
        .fields = conn_fields,
        .n_fields = ELEMENTSOF(conn_fields),
};

/* clang-format off */
static const mh_field backup_fields[] = {
        { "paths", parse_remote_paths, offsetof(mh_host_config, backup_paths) },
};
/* clang-format on */

static const mh_schema backup_schema = {
        .what = "backup",
        .fields = backup_fields,
        .n_fields = ELEMENTSOF(backup_fields),
};

/* clang-format off */
static const mh_field checks_fields[] = {
        { "core_dumps",   parse_action, offsetof(mh_host_config, outcome[MH_OUTCOME_CORE_DUMPS]) },
        { "denials",      parse_action, offsetof(mh_host_config, outcome[MH_OUTCOME_DENIALS]) },
        { "oopses",       parse_action, offsetof(mh_host_config, outcome[MH_OUTCOME_OOPSES]) },
        { "failed_units", parse_action, offsetof(mh_host_config, outcome[MH_OUTCOME_FAILED_UNITS]) },
};
/* clang-format on */

static const mh_schema checks_schema = {
        .what = "checks",
        .fields = checks_fields,
        .n_fields = ELEMENTSOF(checks_fields),
};

/* clang-format off */
static const mh_field host_fields[] = {
        { "hostname",  mh_schema_parse_string,  offsetof(mh_host_config, hostname), true },
        { "role",      mh_schema_parse_string,  offsetof(mh_host_config, role),     true },
        { "type",      mh_schema_parse_string,  offsetof(mh_host_config, type) },
        { "features",  parse_features,          offsetof(mh_host_config, features) },
        { "conn",      mh_schema_parse_nested,  0, .nested = &conn_schema },
        { "services",  mh_schema_parse_strings, offsetof(mh_host_config, services) },
        { "backup",    mh_schema_parse_nested,  0, .nested = &backup_schema },
        { "artifacts", parse_remote_paths,      offsetof(mh_host_config, artifacts) },
        { "checks",    mh_schema_parse_nested,  0, .nested = &checks_schema },
        { "config",    parse_options,           offsetof(mh_host_config, options) },
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

/* [A-Za-z0-9_.-]+: what a test names after "role:" in .requires. */
static bool is_feature_name(const char *s) {
        if (!*s)
                return false;
        for (; *s; s++)
                if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') &&
                    !(*s >= '0' && *s <= '9') && *s != '_' && *s != '.' && *s != '-')
                        return false;
        return true;
}

/* Check the names of h->features, read in order from the sequence n (NULL: none), whose
 * items locate them. */
static int check_features(const mh_schema_ctx *c, const mh_node *n, const mh_host_config *h) {
        assert(!n || (n->kind == MH_NODE_SEQUENCE && n->n_items == h->features.n));

        for (size_t i = 0; i < h->features.n; i++) {
                const char *feature = h->features.items[i];

                if (!is_feature_name(feature))
                        return mh_schema_fail(c, n->items[i],
                                              "host '%s': feature '%s' is not a name (letters, "
                                              "digits, '_', '.', '-')",
                                              h->hostname, feature);
                for (size_t j = 0; j < i; j++)
                        if (streq(h->features.items[j], feature))
                                return mh_schema_fail(c, n->items[i],
                                                      "host '%s': duplicate feature '%s' (first "
                                                      "at %u:%u)",
                                                      h->hostname, feature, n->items[j]->line,
                                                      n->items[j]->column);
        }
        return 0;
}

static int finish_host(const mh_schema_ctx *c, const mh_node *mapping, void *object) {
        const mh_config *config = c->root;
        mh_host_config *h = object;
        int r;

        /* h is the configuration's last host; the others come before it. */
        for (size_t i = 0; config->hosts[i] != h; i++) {
                const mh_host_config *first = config->hosts[i];

                if (streq(first->hostname, h->hostname))
                        return mh_schema_fail(c, mapping,
                                              "duplicate hostname '%s' (first at %u:%u)",
                                              h->hostname, first->line, first->column);
        }

        r = check_features(c, mh_node_get(mapping, "features"), h);
        if (r < 0)
                return r;

        /* The first built-in type is the default. */
        r = set_default(&h->type, mh_builtin_host_types[0]->name);
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

        /* The type's settings are checked now, not when the host is made. */
        r = mh_host_type_load(c, mh_node_get(mapping, "type") ?: mapping, h->type,
                              config->base_dir, &h->host_type, &h->type_handle);
        if (r >= 0)
                r = mh_host_type_read_settings(c, h->host_type, h, mapping, h->options,
                                               config->base_dir, &h->settings);
        return r;
}

static const mh_schema host_schema = {
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

static int parse_host(const mh_schema_ctx *c, const mh_node *item, _unused_ void *object) {
        mh_host_config *h;
        int r;

        r = add_host(c->root, &h);
        if (r < 0)
                return r;
        return mh_schema_parse_mapping(c, item, &host_schema, h);
}

static int parse_hosts(const mh_schema_ctx *c, const mh_node *n, const mh_field *f, void *object) {
        return mh_schema_parse_items(c, n, f, parse_host, object);
}

/* --- domains ------------------------------------------------------------- */

/* A domain while its mapping is read: its hosts are the configuration's from first_host on. */
typedef struct domain_draft {
        char *id;
        size_t first_host;
} domain_draft;

/* clang-format off */
static const mh_field domain_fields[] = {
        { "id",    mh_schema_parse_string, offsetof(domain_draft, id), true },
        { "hosts", parse_hosts,            0,                          true },
};
/* clang-format on */

static const char *domain_name(const void *object) {
        const domain_draft *d = object;

        return d->id;
}

static int finish_domain(const mh_schema_ctx *c, const mh_node *mapping, void *object) {
        mh_config *config = c->root;
        domain_draft *d = object;
        domain *domains;

        for (size_t i = 0; i < config->n_domains; i++)
                if (streq(config->domains[i].id, d->id))
                        return mh_schema_fail(c, mapping,
                                              "duplicate domain id '%s' (first at %u:%u)", d->id,
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

static const mh_schema domain_schema = {
        .what = "domain",
        .fields = domain_fields,
        .n_fields = ELEMENTSOF(domain_fields),
        .name = domain_name,
        .finish = finish_domain,
};

static int parse_domain(const mh_schema_ctx *c, const mh_node *item, _unused_ void *object) {
        const mh_config *config = c->root;
        domain_draft d = { .first_host = config->n_hosts };
        int r;

        r = mh_schema_parse_mapping(c, item, &domain_schema, &d);
        free(d.id);
        return r;
}

static int parse_domains(const mh_schema_ctx *c, const mh_node *n, const mh_field *f,
                         void *object) {
        return mh_schema_parse_items(c, n, f, parse_domain, object);
}

/* --- the file ------------------------------------------------------------ */

/* clang-format off */
static const mh_field config_fields[] = {
        { "domains",    parse_domains,     0,                                  true },
        { "tests",      parse_local_paths, offsetof(mh_config, tests) },
        { "topologies", parse_local_paths, offsetof(mh_config, topology_dirs) },
};
/* clang-format on */

static const mh_schema config_schema = {
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
        mh_schema_ctx c;
        int r;

        if ((!text && size > 0) || !ret)
                return -EINVAL;
        origin = origin ?: "<config>";

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

        c = (mh_schema_ctx){
                .origin = config->path,
                .root = config,
                .expand_env = true,
                .error = error,
        };
        r = mh_schema_parse_text(&c, text, size, &config_schema, config);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(config);
        return 0;
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

        r = mh_schema_read_file(path, CONFIG_SIZE_MAX, "config", &text, &size, error);
        if (r < 0)
                return r;

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
        return mh_strv_get(&c->tests, i);
}

size_t mh_config_n_topology_dirs(const mh_config *c) {
        return c->topology_dirs.n;
}

const char *mh_config_topology_dir(const mh_config *c, size_t i) {
        return mh_strv_get(&c->topology_dirs, i);
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
        return mh_strv_get(&h->services, i);
}

size_t mh_host_config_n_backup_paths(const mh_host_config *h) {
        return h->backup_paths.n;
}

const char *mh_host_config_backup_path(const mh_host_config *h, size_t i) {
        return mh_strv_get(&h->backup_paths, i);
}

mh_outcome_action mh_host_config_outcome(const mh_host_config *h, mh_outcome_check c) {
        static const mh_outcome_action defaults[] = {
                [MH_OUTCOME_CORE_DUMPS] = MH_OUTCOME_FAIL,
                [MH_OUTCOME_DENIALS] = MH_OUTCOME_WARN,
                [MH_OUTCOME_OOPSES] = MH_OUTCOME_FAIL,
                [MH_OUTCOME_FAILED_UNITS] = MH_OUTCOME_WARN,
        };

        if ((unsigned) c >= MH_OUTCOME_N_CHECKS)
                return MH_OUTCOME_IGNORE;
        return h && h->outcome[c] ? (mh_outcome_action) (h->outcome[c] - 1) : defaults[c];
}

const char *mh_outcome_check_to_string(mh_outcome_check c) {
        static const char *const names[] = {
                [MH_OUTCOME_CORE_DUMPS] = "core-dumps",
                [MH_OUTCOME_DENIALS] = "denials",
                [MH_OUTCOME_OOPSES] = "oopses",
                [MH_OUTCOME_FAILED_UNITS] = "failed-units",
        };

        return (unsigned) c < ELEMENTSOF(names) ? names[c] : "unknown";
}

const char *mh_outcome_action_to_string(mh_outcome_action a) {
        return (unsigned) a < ELEMENTSOF(action_names) ? action_names[a] : "unknown";
}

size_t mh_host_config_n_artifacts(const mh_host_config *h) {
        return h->artifacts.n;
}

const char *mh_host_config_artifact(const mh_host_config *h, size_t i) {
        return mh_strv_get(&h->artifacts, i);
}

size_t mh_host_config_n_features(const mh_host_config *h) {
        return h->features.n;
}

const char *mh_host_config_feature(const mh_host_config *h, size_t i) {
        return mh_strv_get(&h->features, i);
}

bool mh_host_config_has_feature(const mh_host_config *h, const char *feature) {
        return feature && mh_strv_contains(&h->features, feature);
}

const mh_node *mh_host_config_options(const mh_host_config *h) {
        return h->options;
}

const mh_host_type *mh_host_config_host_type(const mh_host_config *h) {
        return h->host_type;
}

void *const *mh_host_config_settings(const mh_host_config *h) {
        return h->settings;
}

int mh_host_config_fail_setting(const mh_host_config *h, const char *key, size_t index,
                                mh_error *error, const char *fmt, ...) {
        const mh_node *n = key ? mh_node_get(h->options, key) : NULL;
        char message[MH_ERROR_MESSAGE_MAX];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(message, sizeof(message), fmt, ap);
        va_end(ap);
        if (n && index != SIZE_MAX && n->kind == MH_NODE_SEQUENCE && index < n->n_items)
                n = n->items[index];
        else if (n && index != SIZE_MAX && n->kind == MH_NODE_MAPPING && index < n->n_pairs)
                n = n->pairs[index].key;
        return mh_host_config_fail(h, n, error, "%s", message);
}

const char *mh_host_key_policy_to_string(mh_host_key_policy p) {
        if ((unsigned) p >= ELEMENTSOF(policy_names))
                return "unknown";
        return policy_names[p];
}
