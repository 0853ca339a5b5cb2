/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>

#include <mhc/topology.h>

#include "schema.h"
#include "util.h"
#include "yaml.h"

#define TOPOLOGY_SIZE_MAX (1024u * 1024) /* of one topology file, a multiple of 1 MiB */
#define ROLE_COUNT_MAX    1000u          /* hosts of one role in one domain */

/* A role of a domain and how many hosts play it. */
typedef struct role_need {
        char *name;
        unsigned count;
} role_need;

typedef struct domain {
        char *id;
        unsigned line, column;
        role_need *roles;
        size_t n_roles;
} domain;

/* The setup commands of one role. */
typedef struct setup {
        char *role;
        unsigned line, column; /* of the role's key */
        mh_strv commands;
} setup;

struct mh_topology {
        char *origin;
        char *name;
        unsigned name_line, name_column;
        char *description;
        mh_controller_kind controller;
        domain *domains;
        size_t n_domains;
        setup *setups;
        size_t n_setups;
};

struct mh_topology_set {
        mh_topology **items;
        size_t n;
};

static const char *const controller_names[] = {
        [MH_CONTROLLER_BACKUP] = "backup",
        [MH_CONTROLLER_NONE] = "none",
};

static void domain_dispose(domain *d) {
        for (size_t i = 0; i < d->n_roles; i++)
                free(d->roles[i].name);
        free(d->roles);
        free(d->id);
        *d = (domain){};
}

mh_topology *mh_topology_free(mh_topology *t) {
        if (!t)
                return NULL;

        for (size_t i = 0; i < t->n_domains; i++)
                domain_dispose(&t->domains[i]);
        free(t->domains);
        for (size_t i = 0; i < t->n_setups; i++) {
                free(t->setups[i].role);
                mh_strv_dispose(&t->setups[i].commands);
        }
        free(t->setups);
        free(t->origin);
        free(t->name);
        free(t->description);
        free(t);
        return NULL;
}

static void mh_topology_freep(mh_topology **t) {
        mh_topology_free(*t);
}

/* --- parsers of keys ----------------------------------------------------- */

/* [A-Za-z0-9_.-]+ */
static bool is_name_char(char ch) {
        return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
               ch == '_' || ch == '.' || ch == '-';
}

/* The name may become part of a file name: no '/', and not "." or "..". */
static int parse_name(const mh_schema_ctx *c, const mh_node *n, const mh_field *f, void *object) {
        mh_topology *t = object;
        int r;

        r = mh_schema_parse_string(c, n, f, object);
        if (r < 0)
                return r;
        for (const char *p = t->name; *p; p++)
                if (!is_name_char(*p))
                        return mh_schema_fail(c, n,
                                              "'%s' may only have letters, digits, '_', '.' and "
                                              "'-', not '%s'",
                                              f->name, t->name);
        if (streq(t->name, ".") || streq(t->name, ".."))
                return mh_schema_fail(c, n, "'%s' must not be '%s'", f->name, t->name);
        t->name_line = n->line;
        t->name_column = n->column;
        return 0;
}

static int parse_controller(const mh_schema_ctx *c, const mh_node *n, const mh_field *f,
                            void *object) {
        unsigned i;
        int r;

        r = mh_schema_read_choice(c, n, f, controller_names, ELEMENTSOF(controller_names), &i);
        if (r < 0)
                return r;
        *(mh_controller_kind *) mh_schema_member(object, f) = (mh_controller_kind) i;
        return 0;
}

/* A role named by a key, as in "roles: {db: 1}" and "setup: {db: [...]}". */
static int read_role_name(const mh_schema_ctx *c, const mh_node *key, char **ret) {
        return mh_schema_read_string(c, key, "a role name", false, ret);
}

/* The value of f must be a mapping, which must have keys unless may_be_empty. */
static int check_mapping(const mh_schema_ctx *c, const mh_node *n, const mh_field *f,
                         bool may_be_empty) {
        if (n->kind != MH_NODE_MAPPING)
                return mh_schema_fail(c, n, "'%s' must be a mapping, not %s", f->name,
                                      mh_schema_describe(n));
        if (n->n_pairs == 0 && !may_be_empty)
                return mh_schema_fail(c, n, "'%s' must not be empty", f->name);
        return 0;
}

static int parse_roles(const mh_schema_ctx *c, const mh_node *n, const mh_field *f, void *object) {
        domain *d = object;
        int r;

        r = check_mapping(c, n, f, false);
        if (r < 0)
                return r;

        d->roles = calloc(n->n_pairs, sizeof(role_need));
        if (!d->roles)
                return -ENOMEM;
        for (size_t i = 0; i < n->n_pairs; i++) {
                role_need *need = &d->roles[d->n_roles];
                char label[MH_SCHEMA_LABEL_MAX + 32];

                r = read_role_name(c, n->pairs[i].key, &need->name);
                if (r < 0)
                        return r;
                d->n_roles++;
                snprintf(label, sizeof(label), "the count of role '%s'", need->name);
                r = mh_schema_read_integer(c, n->pairs[i].value, label, ROLE_COUNT_MAX,
                                           &need->count);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* clang-format off */
static const mh_field domain_fields[] = {
        { "id",    mh_schema_parse_string, offsetof(domain, id), true },
        { "roles", parse_roles,            0,                    true },
};
/* clang-format on */

static const char *domain_name(const void *object) {
        const domain *d = object;

        return d->id;
}

static int finish_domain(const mh_schema_ctx *c, const mh_node *mapping, void *object) {
        mh_topology *t = c->root;
        domain *d = object, *domains;

        for (size_t i = 0; i < t->n_domains; i++)
                if (streq(t->domains[i].id, d->id))
                        return mh_schema_fail(c, mapping,
                                              "duplicate domain id '%s' (first at %u:%u)", d->id,
                                              t->domains[i].line, t->domains[i].column);

        domains = reallocarray(t->domains, t->n_domains + 1, sizeof(domain));
        if (!domains)
                return -ENOMEM;
        t->domains = domains;
        d->line = mapping->line;
        d->column = mapping->column;
        t->domains[t->n_domains++] = *d;
        *d = (domain){};
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
        domain d = {};
        int r;

        r = mh_schema_parse_mapping(c, item, &domain_schema, &d);
        domain_dispose(&d);
        return r;
}

static int parse_domains(const mh_schema_ctx *c, const mh_node *n, const mh_field *f,
                         void *object) {
        return mh_schema_parse_items(c, n, f, parse_domain, object);
}

static int read_command(const mh_schema_ctx *c, const mh_node *n, const char *label, char **ret) {
        return mh_schema_read_string(c, n, label, false, ret);
}

static int parse_setup(const mh_schema_ctx *c, const mh_node *n, const mh_field *f, void *object) {
        mh_topology *t = object;
        int r;

        r = check_mapping(c, n, f, true);
        if (r < 0)
                return r;
        if (n->n_pairs == 0)
                return 0;

        t->setups = calloc(n->n_pairs, sizeof(setup));
        if (!t->setups)
                return -ENOMEM;
        for (size_t i = 0; i < n->n_pairs; i++) {
                const mh_node *key = n->pairs[i].key;
                setup *s = &t->setups[t->n_setups];

                r = read_role_name(c, key, &s->role);
                if (r < 0)
                        return r;
                s->line = key->line;
                s->column = key->column;
                t->n_setups++;
                /* Messages name the role as they would a key: "each item of 'db' ...". */
                r = mh_schema_parse_list(c, n->pairs[i].value, &(mh_field){ .name = s->role },
                                         &s->commands, read_command);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* clang-format off */
static const mh_field topology_fields[] = {
        { "name",        parse_name,             offsetof(mh_topology, name),        true },
        { "description", mh_schema_parse_string, offsetof(mh_topology, description) },
        { "controller",  parse_controller,       offsetof(mh_topology, controller) },
        { "domains",     parse_domains,          0,                                  true },
        { "setup",       parse_setup,            0 },
};
/* clang-format on */

static bool has_role(const mh_topology *t, const char *name) {
        for (size_t d = 0; d < t->n_domains; d++)
                for (size_t r = 0; r < t->domains[d].n_roles; r++)
                        if (streq(t->domains[d].roles[r].name, name))
                                return true;
        return false;
}

static int finish_topology(const mh_schema_ctx *c, _unused_ const mh_node *mapping, void *object) {
        mh_topology *t = object;

        for (size_t i = 0; i < t->n_setups; i++)
                if (!has_role(t, t->setups[i].role))
                        return mh_schema_fail(c,
                                              &(mh_node){ .line = t->setups[i].line,
                                                          .column = t->setups[i].column },
                                              "setup names role '%s', which no domain has",
                                              t->setups[i].role);
        return 0;
}

static const mh_schema topology_schema = {
        .what = "topology",
        .fields = topology_fields,
        .n_fields = ELEMENTSOF(topology_fields),
        .finish = finish_topology,
};

/* --- loading ------------------------------------------------------------- */

int mh_topology_parse(const char *text, size_t size, const char *origin, mh_topology **ret,
                      mh_error *error) {
        _cleanup_(mh_topology_freep) mh_topology *t = NULL;
        mh_schema_ctx c;
        int r;

        if ((!text && size > 0) || !ret)
                return -EINVAL;
        origin = origin ?: "<topology>";

        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->origin = strdup(origin);
        if (!t->origin)
                return -ENOMEM;

        /* Shared files: they mean the same on every machine, so no ${env:...}. */
        c = (mh_schema_ctx){ .origin = t->origin, .root = t, .error = error };
        r = mh_schema_parse_text(&c, text, size, &topology_schema, t);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(t);
        return 0;
}

int mh_topology_load(const char *path, mh_topology **ret, mh_error *error) {
        _cleanup_free_ char *text = NULL;
        size_t size;
        int r;

        if (!path || !ret)
                return -EINVAL;

        r = mh_schema_read_file(path, TOPOLOGY_SIZE_MAX, "topology", &text, &size, error);
        if (r < 0)
                return r;
        return mh_topology_parse(text, size, path, ret, error);
}

/* --- accessors ----------------------------------------------------------- */

const char *mh_topology_name(const mh_topology *t) {
        return t->name;
}

const char *mh_topology_description(const mh_topology *t) {
        return strempty(t->description);
}

const char *mh_topology_origin(const mh_topology *t) {
        return t->origin;
}

mh_controller_kind mh_topology_controller(const mh_topology *t) {
        return t->controller;
}

size_t mh_topology_n_domains(const mh_topology *t) {
        return t->n_domains;
}

const char *mh_topology_domain_id(const mh_topology *t, size_t d) {
        return d < t->n_domains ? t->domains[d].id : NULL;
}

size_t mh_topology_n_roles(const mh_topology *t, size_t d) {
        return d < t->n_domains ? t->domains[d].n_roles : 0;
}

static const role_need *get_role(const mh_topology *t, size_t d, size_t r) {
        if (d >= t->n_domains || r >= t->domains[d].n_roles)
                return NULL;
        return &t->domains[d].roles[r];
}

const char *mh_topology_role(const mh_topology *t, size_t d, size_t r) {
        const role_need *need = get_role(t, d, r);

        return need ? need->name : NULL;
}

unsigned mh_topology_role_count(const mh_topology *t, size_t d, size_t r) {
        const role_need *need = get_role(t, d, r);

        return need ? need->count : 0;
}

static const setup *find_setup(const mh_topology *t, const char *role) {
        for (size_t i = 0; role && i < t->n_setups; i++)
                if (streq(t->setups[i].role, role))
                        return &t->setups[i];
        return NULL;
}

size_t mh_topology_n_setup(const mh_topology *t, const char *role) {
        const setup *s = find_setup(t, role);

        return s ? s->commands.n : 0;
}

const char *mh_topology_setup(const mh_topology *t, const char *role, size_t i) {
        const setup *s = find_setup(t, role);

        return s ? mh_strv_get(&s->commands, i) : NULL;
}

/* --- matching ------------------------------------------------------------ */

static bool plays(const mh_host_config *h, const char *domain_id, const char *role) {
        return streq_ptr(mh_host_config_domain(h), domain_id) &&
               streq_ptr(mh_host_config_role(h), role);
}

static size_t count_hosts(const mh_config *config, const char *domain_id, const char *role) {
        size_t n = 0;

        for (size_t i = 0; i < mh_config_n_hosts(config); i++)
                n += plays(mh_config_host(config, i), domain_id, role);
        return n;
}

static bool has_domain(const mh_config *config, const char *domain_id) {
        for (size_t i = 0; i < mh_config_n_hosts(config); i++)
                if (streq_ptr(mh_host_config_domain(mh_config_host(config, i)), domain_id))
                        return true;
        return false;
}

static bool domain_has_role(const domain *d, const char *name) {
        for (size_t r = 0; r < d->n_roles; r++)
                if (streq(d->roles[r].name, name))
                        return true;
        return false;
}

/* In exact mode, a host of d's domain whose role d does not name. */
static int check_other_roles(const domain *d, const mh_config *config, mh_error *error) {
        for (size_t i = 0; i < mh_config_n_hosts(config); i++) {
                const mh_host_config *h = mh_config_host(config, i);
                const char *role = mh_host_config_role(h);

                if (streq_ptr(mh_host_config_domain(h), d->id) && !domain_has_role(d, role))
                        return mh_error_set(error, -ENOENT,
                                            "needs no host with role '%s' in domain '%s', %s "
                                            "has %zu",
                                            role, d->id, mh_config_path(config),
                                            count_hosts(config, d->id, role));
        }
        return 0;
}

/* Append the first need->count hosts of the domain and role to hosts. */
static int match_role(const domain *d, const role_need *need, const mh_config *config, bool exact,
                      const mh_host_config **hosts, size_t *n, mh_error *error) {
        size_t have = count_hosts(config, d->id, need->name);

        if (have < need->count || (exact && have != need->count))
                return mh_error_set(error, -ENOENT,
                                    "needs %s%u host%s with role '%s' in domain '%s', %s has %zu",
                                    exact ? "exactly " : "", need->count,
                                    need->count == 1 ? "" : "s", need->name, d->id,
                                    mh_config_path(config), have);

        for (size_t i = 0, taken = 0; taken < need->count; i++) {
                const mh_host_config *h = mh_config_host(config, i);

                if (plays(h, d->id, need->name)) {
                        hosts[(*n)++] = h;
                        taken++;
                }
        }
        return 0;
}

int mh_topology_match(const mh_topology *t, const mh_config *config, int exact,
                      const mh_host_config ***ret_hosts, size_t *ret_n, mh_error *error) {
        _cleanup_free_ const mh_host_config **hosts = NULL;
        size_t total = 0, n = 0;
        int r;

        if (!t || !config || !ret_hosts || !ret_n)
                return -EINVAL;

        for (size_t d = 0; d < t->n_domains; d++)
                for (size_t i = 0; i < t->domains[d].n_roles; i++)
                        total += t->domains[d].roles[i].count;
        hosts = calloc(total ?: 1, sizeof(*hosts));
        if (!hosts)
                return -ENOMEM;

        for (size_t d = 0; d < t->n_domains; d++) {
                const domain *dom = &t->domains[d];

                if (!has_domain(config, dom->id))
                        return mh_error_set(error, -ENOENT, "needs domain '%s', %s has none",
                                            dom->id, mh_config_path(config));
                for (size_t i = 0; i < dom->n_roles; i++) {
                        r = match_role(dom, &dom->roles[i], config, exact, hosts, &n, error);
                        if (r < 0)
                                return r;
                }
                if (exact) {
                        r = check_other_roles(dom, config, error);
                        if (r < 0)
                                return r;
                }
        }

        *ret_hosts = TAKE_PTR(hosts);
        *ret_n = n;
        return 0;
}

/* --- sets ---------------------------------------------------------------- */

mh_topology_set *mh_topology_set_free(mh_topology_set *s) {
        if (!s)
                return NULL;

        for (size_t i = 0; i < s->n; i++)
                mh_topology_free(s->items[i]);
        free(s->items);
        free(s);
        return NULL;
}

static void mh_topology_set_freep(mh_topology_set **s) {
        mh_topology_set_free(*s);
}

size_t mh_topology_set_size(const mh_topology_set *s) {
        return s->n;
}

const mh_topology *mh_topology_set_get(const mh_topology_set *s, size_t i) {
        return i < s->n ? s->items[i] : NULL;
}

const mh_topology *mh_topology_set_find(const mh_topology_set *s, const char *name) {
        for (size_t i = 0; name && i < s->n; i++)
                if (streq(s->items[i]->name, name))
                        return s->items[i];
        return NULL;
}

/* Add t, which is freed if that fails. */
static int set_consume(mh_topology_set *s, mh_topology *t, mh_error *error) {
        const mh_topology *first = mh_topology_set_find(s, t->name);
        mh_topology **items;
        int r;

        if (first) {
                r = mh_error_set(error, -MH_ERR_CONFIG,
                                 "%s:%u:%u: duplicate topology name '%s' (first in %s)", t->origin,
                                 t->name_line, t->name_column, t->name, first->origin);
                mh_topology_free(t);
                return r;
        }

        items = reallocarray(s->items, s->n + 1, sizeof(mh_topology *));
        if (!items) {
                mh_topology_free(t);
                return -ENOMEM;
        }
        s->items = items;
        s->items[s->n++] = t;
        return 0;
}

/* NAME.yaml, not hidden. */
static int is_topology_file(const struct dirent *de) {
        const char *name = de->d_name;
        size_t n = strlen(name);

        return name[0] != '.' && n > strlen(".yaml") && streq(name + n - strlen(".yaml"), ".yaml");
}

/* Byte order, whatever the locale. */
static int by_name(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

static int load_file(mh_topology_set *s, const char *dir, const char *name, mh_error *error) {
        _cleanup_free_ char *path = NULL;
        mh_topology *t;
        int r;

        if (asprintf(&path, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", name) < 0)
                return -ENOMEM;
        r = mh_topology_load(path, &t, error);
        if (r < 0)
                return r;
        return set_consume(s, t, error);
}

static int load_dir(mh_topology_set *s, const char *dir, bool optional, mh_error *error) {
        struct dirent **entries = NULL;
        int n, r = 0;

        n = scandir(dir, &entries, is_topology_file, by_name);
        if (n < 0) {
                r = -errno;
                if (r == -ENOENT && optional)
                        return 0;
                return mh_error_set(error, r, "cannot read topology directory '%s': %s", dir,
                                    strerror(-r));
        }

        for (int i = 0; i < n; i++) {
                if (r >= 0)
                        r = load_file(s, dir, entries[i]->d_name, error);
                free(entries[i]);
        }
        free(entries);
        return r;
}

int mh_topology_set_load(const char *const *dirs, size_t n_dirs, int optional,
                         mh_topology_set **ret, mh_error *error) {
        _cleanup_(mh_topology_set_freep) mh_topology_set *s = NULL;
        int r;

        if ((!dirs && n_dirs > 0) || !ret)
                return -EINVAL;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        for (size_t i = 0; i < n_dirs; i++) {
                if (!dirs[i] || !dirs[i][0])
                        return -EINVAL;
                r = load_dir(s, dirs[i], optional, error);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(s);
        return 0;
}
