/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>

#include "config.h"
#include "host-type.h"
#include "util.h"

/* Longest chain of types extending each other. */
#define CHAIN_MAX 8

/* Longest secret file: one line is read of it. */
#define SECRET_FILE_MAX 4096

/* path, or path under dir when it is relative, as every local path of mhc.yaml. */
static int join_path(const char *dir, const char *path, char **ret) {
        size_t n = strlen(dir);

        if (path[0] == '/' || n == 0)
                *ret = strdup(path);
        else if (asprintf(ret, "%s%s%s", dir, dir[n - 1] == '/' ? "" : "/", path) < 0)
                *ret = NULL;
        return *ret ? 0 : -ENOMEM;
}

/* --- the chain of a type ------------------------------------------------- */

static size_t chain_length(const mh_host_type *type) {
        size_t n = 0;

        for (; type; type = type->parent)
                n++;
        return n;
}

static size_t n_settings(const mh_host_type *type) {
        size_t n = 0;

        for (const mh_setting *s = type->settings; s && s->name; s++)
                n++;
        return n;
}

bool mh_host_is_a(const mh_host *h, const mh_host_type *type) {
        if (!h || !type)
                return false;
        for (const mh_host_type *t = h->type; t; t = t->parent)
                if (t == type)
                        return true;
        return false;
}

/* --- finding and loading ------------------------------------------------- */

/* Size of the member a setting of kind fills in. */
static size_t member_size(mh_setting_kind kind) {
        switch (kind) {
        case MH_SETTING_STRING:
        case MH_SETTING_SECRET:
        case MH_SETTING_SECRET_FILE:
        case MH_SETTING_FILE:
                return sizeof(char *);
        case MH_SETTING_INTEGER:
        case MH_SETTING_CHOICE:
                return sizeof(unsigned);
        case MH_SETTING_BOOLEAN:
                return sizeof(bool);
        case MH_SETTING_STRINGS:
        case MH_SETTING_PATHS:
                return sizeof(mh_strv);
        case MH_SETTING_PATH_MAP:
                return sizeof(mh_setting_map);
        }
        return SIZE_MAX;
}

/* What is wrong with a type's table, or NULL: a plug-in's cannot be trusted. */
static const char *broken_type(const mh_host_type *type) {
        size_t total = 0, depth = 0;

        for (const mh_host_type *t = type; t; t = t->parent) {
                if (++depth > CHAIN_MAX)
                        return "it extends more than 8 types";
                if (!t->name || !t->name[0])
                        return "it has no name";
                if (t->size < sizeof(mh_host))
                        return "its size is less than sizeof(mh_host)";
                if (t->parent && t->size < t->parent->size)
                        return "its size is less than the size of the type it extends";
                for (const mh_setting *s = t->settings; s && s->name; s++) {
                        size_t size = member_size(s->kind);

                        if (size == SIZE_MAX)
                                return "a setting has an unknown kind";
                        if (s->offset > t->settings_size || size > t->settings_size - s->offset)
                                return "a setting lies outside settings_size";
                        if (s->kind == MH_SETTING_CHOICE && (!s->choices || !s->choices[0]))
                                return "a choice setting has no choices";
                }
                total += n_settings(t);
        }
        if (total > MH_SCHEMA_FIELDS_MAX)
                return "it and the types it extends have more than 32 settings";
        return NULL;
}

static int load_plugin(const mh_schema_ctx *c, const mh_node *where, const char *relative,
                       const char *base_dir, const mh_host_type **ret, void **ret_handle) {
        _cleanup_free_ char *path = NULL;
        const mh_host_type *type;
        const char *why;
        void *handle;
        int r;

        if (join_path(base_dir, relative, &path) < 0)
                return mh_error_oom(c->error);

        handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!handle)
                return mh_schema_fail(c, where, "cannot load plug-in '%s': %s", path, dlerror());

        (void) dlerror();
        type = dlsym(handle, MH_HOST_TYPE_PLUGIN_SYMBOL);
        if (!type) {
                why = dlerror();
                r = mh_schema_fail(c, where,
                                   "plug-in '%s' does not export " MH_HOST_TYPE_PLUGIN_SYMBOL ": %s",
                                   path, why ? why : "the symbol is NULL");
                dlclose(handle);
                return r;
        }
        if (type->abi != MH_HOST_TYPE_ABI) {
                r = mh_error_set(c->error, -MH_ERR_ABI,
                                 "%s:%u:%u: plug-in '%s' was built for host type ABI %u, this "
                                 "libmhc has %u: rebuild it against this libmhc",
                                 c->origin, where->line, where->column, path, type->abi,
                                 (unsigned) MH_HOST_TYPE_ABI);
                dlclose(handle);
                return r;
        }
        why = broken_type(type);
        if (why) {
                r = mh_schema_fail(c, where, "plug-in '%s' exports a broken host type: %s", path,
                                   why);
                dlclose(handle);
                return r;
        }

        *ret = type;
        *ret_handle = handle;
        return 0;
}

int mh_host_type_load(const mh_schema_ctx *c, const mh_node *where, const char *name,
                      const char *base_dir, const mh_host_type **ret, void **ret_handle) {
        char known[256] = "";
        size_t used = 0;

        if (strncmp(name, PLUGIN_PREFIX, strlen(PLUGIN_PREFIX)) == 0)
                return load_plugin(c, where, name + strlen(PLUGIN_PREFIX), base_dir, ret,
                                   ret_handle);

        for (size_t i = 0; mh_builtin_host_types[i]; i++) {
                if (streq(mh_builtin_host_types[i]->name, name)) {
                        assert(!broken_type(mh_builtin_host_types[i]));
                        *ret = mh_builtin_host_types[i];
                        *ret_handle = NULL;
                        return 0;
                }
                if (used < sizeof(known))
                        used += (size_t) snprintf(known + used, sizeof(known) - used, "%s, ",
                                                  mh_builtin_host_types[i]->name);
        }
        return mh_schema_fail(c, where, "unknown host type '%s' (known: %s" "or " PLUGIN_PREFIX
                              "PATH)", name, known);
}

void mh_host_type_unload(void *handle) {
        if (handle)
                dlclose(handle);
}

/* --- reading settings ---------------------------------------------------- */

/* The state of reading one host's config: against its chain's tables. */
typedef struct reader {
        const mh_host_type *type;
        const char *base_dir;
        void **objects;                         /* one per level, leaf first */
        mh_field fields[MH_SCHEMA_FIELDS_MAX];  /* every setting of the chain */
        const mh_setting *settings[MH_SCHEMA_FIELDS_MAX];
        size_t levels[MH_SCHEMA_FIELDS_MAX];
        const mh_node *seen[MH_SCHEMA_FIELDS_MAX]; /* the key of each setting given */
        size_t n;
} reader;

/* "'port' in config of postgresql host", for messages about a value. */
static const char *label(const reader *rd, const mh_setting *s, char buf[static 128]) {
        snprintf(buf, 128, "'%s' in config of %s host", s->name, rd->type->name);
        return buf;
}

/* Open the local file a setting names (relative to mhc.yaml): its path and descriptor. */
static int open_local_file(const mh_schema_ctx *c, const mh_node *n, const reader *rd,
                           const mh_setting *s, char **ret_path, int *ret_fd) {
        _cleanup_free_ char *relative = NULL, *path = NULL;
        char lb[128];
        int r, fd;

        r = mh_schema_read_string(c, n, label(rd, s, lb), false, &relative);
        if (r < 0)
                return r;
        if (join_path(rd->base_dir, relative, &path) < 0)
                return -ENOMEM;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return mh_schema_fail(c, n, "cannot read %s '%s': %s", s->name, path,
                                      strerror(errno));
        *ret_path = TAKE_PTR(path);
        *ret_fd = fd;
        return 0;
}

static int read_secret_file(const mh_schema_ctx *c, const mh_node *n, const reader *rd,
                            const mh_setting *s, char **ret) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -1;
        char buf[SECRET_FILE_MAX + 1];
        size_t size = 0;
        int r;

        r = open_local_file(c, n, rd, s, &path, &fd);
        if (r < 0)
                return r;
        while (size < sizeof(buf)) {
                ssize_t k = read(fd, buf + size, sizeof(buf) - size);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return mh_schema_fail(c, n, "cannot read %s '%s': %s", s->name, path,
                                              strerror(errno));
                if (k == 0)
                        break;
                size += (size_t) k;
        }
        if (size > SECRET_FILE_MAX) {
                explicit_bzero(buf, sizeof(buf));
                return mh_schema_fail(c, n, "%s '%s' is larger than %u bytes", s->name, path,
                                      SECRET_FILE_MAX);
        }
        buf[size] = '\0';
        buf[strcspn(buf, "\r\n")] = '\0';
        if (buf[0] == '\0')
                return mh_schema_fail(c, n, "%s '%s' holds nothing on its first line", s->name,
                                      path);
        *ret = strdup(buf);
        explicit_bzero(buf, sizeof(buf));
        return *ret ? 0 : -ENOMEM;
}

/* The absolute path of a local file the value names (relative to mhc.yaml), readable now. */
static int read_local_file(const mh_schema_ctx *c, const mh_node *n, const reader *rd,
                           const mh_setting *s, char **ret) {
        int r, fd = -1;

        r = open_local_file(c, n, rd, s, ret, &fd);
        if (fd >= 0)
                close(fd);
        return r;
}

static int read_boolean(const mh_schema_ctx *c, const mh_node *n, const char *what, bool *ret) {
        if (n->kind == MH_NODE_SCALAR && n->plain && streq(n->value, "true"))
                *ret = true;
        else if (n->kind == MH_NODE_SCALAR && n->plain && streq(n->value, "false"))
                *ret = false;
        else
                return mh_schema_fail(c, n, "%s must be true or false", what);
        return 0;
}

static int read_choice(const mh_schema_ctx *c, const mh_node *n, const char *what,
                       const char *const *choices, unsigned *ret) {
        _cleanup_free_ char *s = NULL;
        char list[MH_ERROR_MESSAGE_MAX / 2] = "";
        size_t used = 0;
        int r;

        r = mh_schema_read_string(c, n, what, false, &s);
        if (r < 0)
                return r;
        /* an empty first choice stands for "not given": never matched nor listed */
        for (unsigned i = 0; choices[i]; i++) {
                if (!choices[i][0])
                        continue;
                if (streq(s, choices[i])) {
                        *ret = i;
                        return 0;
                }
                if (used < sizeof(list))
                        used += (size_t) snprintf(list + used, sizeof(list) - used, "%s%s",
                                                  used ? ", " : "", choices[i]);
        }
        return mh_schema_fail(c, n, "%s must be one of %s, not '%s'", what, list, s);
}

/* An absolute path on the host without its trailing slashes. */
static int read_host_path(const mh_schema_ctx *c, const mh_node *n, const char *what, char **ret) {
        _cleanup_free_ char *s = NULL;
        size_t length;
        int r;

        r = mh_schema_read_string(c, n, what, false, &s);
        if (r < 0)
                return r;
        if (s[0] != '/')
                return mh_schema_fail(c, n, "%s must be an absolute path on the host, not '%s'",
                                      what, s);
        length = strlen(s);
        while (length > 1 && s[length - 1] == '/')
                s[--length] = '\0';
        *ret = TAKE_PTR(s);
        return 0;
}

/* A sequence of distinct strings (paths when paths is set) into v. */
static int read_list(const mh_schema_ctx *c, const mh_node *n, const char *what,
                     const mh_setting *s, bool paths, mh_strv *v) {
        int r;

        if (n->kind != MH_NODE_SEQUENCE)
                return mh_schema_fail(c, n, "%s must be a sequence, not %s", what,
                                      mh_schema_describe(n));
        for (size_t i = 0; i < n->n_items; i++) {
                const mh_node *item = n->items[i];
                char each[160], *value = NULL;

                snprintf(each, sizeof(each), "each item of %s", what);
                r = paths ? read_host_path(c, item, each, &value)
                          : mh_schema_read_string(c, item, each, false, &value);
                if (r < 0)
                        return r;
                if (s->max > 0 && strlen(value) > s->max) {
                        r = mh_schema_fail(c, item, "%s '%s' is longer than %u bytes",
                                           s->item ?: "item", value, s->max);
                        free(value);
                        return r;
                }
                if (mh_strv_contains(v, value)) {
                        r = s->item ? mh_schema_fail(c, item, "%s '%s' is listed twice", s->item,
                                                     value)
                                    : mh_schema_fail(c, item, "'%s' is listed twice in %s",
                                                     value, what);
                        free(value);
                        return r;
                }
                r = mh_strv_consume(v, value);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int read_path_map(const mh_schema_ctx *c, const mh_node *n, const char *what,
                         const mh_setting *s, mh_setting_map *m) {
        int r;

        if (n->kind != MH_NODE_MAPPING)
                return mh_schema_fail(c, n, "%s must be a mapping, not %s", what,
                                      mh_schema_describe(n));
        m->paths = calloc(n->n_pairs ?: 1, sizeof(mh_strv));
        if (!m->paths)
                return -ENOMEM;
        for (size_t i = 0; i < n->n_pairs; i++) {
                char each[192];

                r = mh_strv_consume(&m->names, strdup(n->pairs[i].key->value));
                if (r < 0)
                        return r;
                snprintf(each, sizeof(each), "the paths of '%s' in '%s'", n->pairs[i].key->value,
                         s->name);
                r = read_list(c, n->pairs[i].value, each, s, true, &m->paths[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int read_setting(const mh_schema_ctx *c, const mh_node *n, const mh_field *f,
                        void *object) {
        reader *rd = object;
        size_t i = (size_t) (f - rd->fields);
        const mh_setting *s = rd->settings[i];
        void *member = (char *) rd->objects[rd->levels[i]] + s->offset;
        char what[128];

        /* Another key of this type filling the same member excludes this one. */
        for (size_t j = 0; j < rd->n; j++)
                if (j != i && rd->seen[j] && rd->levels[j] == rd->levels[i] &&
                    rd->settings[j]->offset == s->offset)
                        return mh_schema_fail(c, n,
                                              "'%s' and '%s' exclude each other in config of "
                                              "%s host",
                                              rd->settings[j]->name, s->name, rd->type->name);
        rd->seen[i] = n;

        label(rd, s, what);
        switch (s->kind) {
        case MH_SETTING_STRING:
        case MH_SETTING_SECRET: {
                int r = mh_schema_read_string(c, n, what, s->kind == MH_SETTING_SECRET, member);

                if (r >= 0 && s->max > 0 && strlen(*(char **) member) > s->max)
                        return mh_schema_fail(c, n, "%s must not be longer than %u bytes", what,
                                              s->max);
                return r;
        }
        case MH_SETTING_SECRET_FILE:
                return read_secret_file(c, n, rd, s, member);
        case MH_SETTING_FILE:
                return read_local_file(c, n, rd, s, member);
        case MH_SETTING_INTEGER:
                return mh_schema_read_integer(c, n, what, s->max ?: 65535, member);
        case MH_SETTING_BOOLEAN:
                return read_boolean(c, n, what, member);
        case MH_SETTING_CHOICE:
                return read_choice(c, n, what, s->choices, member);
        case MH_SETTING_STRINGS:
        case MH_SETTING_PATHS:
                return read_list(c, n, what, s, s->kind == MH_SETTING_PATHS, member);
        case MH_SETTING_PATH_MAP:
                return read_path_map(c, n, what, s, member);
        }
        return -EINVAL;
}

/* Fail at the common key of the host mapping that type gives no meaning to. */
static int check_common_keys(const mh_schema_ctx *c, const mh_host_type *type,
                             const mh_host_config *h, const mh_node *mapping) {
        static const struct {
                unsigned key;
                const char *name;
        } common[] = {
                { MH_HOST_KEY_SERVICES, "services" },
                { MH_HOST_KEY_BACKUP_PATHS, "backup" },
        };

        for (size_t i = 0; i < ELEMENTSOF(common); i++) {
                const mh_node *n = mh_node_get(mapping, common[i].name);
                bool given = common[i].key == MH_HOST_KEY_SERVICES
                                     ? mh_host_config_n_services(h) > 0
                                     : mh_host_config_n_backup_paths(h) > 0;

                if (n && given && !(type->keys & common[i].key))
                        return mh_schema_fail(c, n,
                                              "'%s' has no effect on a host of type '%s': "
                                              "remove it",
                                              common[i].name, type->name);
        }
        return 0;
}

static void free_object(const mh_host_type *level, void *object) {
        if (!object)
                return;
        for (const mh_setting *s = level->settings; s && s->name; s++) {
                void *member = (char *) object + s->offset;

                switch (s->kind) {
                case MH_SETTING_SECRET:
                case MH_SETTING_SECRET_FILE:
                        if (*(char **) member)
                                explicit_bzero(*(char **) member, strlen(*(char **) member));
                        /* fall through */
                case MH_SETTING_STRING:
                case MH_SETTING_FILE:
                        free(*(char **) member);
                        *(char **) member = NULL;
                        break;
                case MH_SETTING_STRINGS:
                case MH_SETTING_PATHS:
                        mh_strv_dispose(member);
                        break;
                case MH_SETTING_PATH_MAP: {
                        mh_setting_map *m = member;

                        for (size_t i = 0; m->paths && i < m->names.n; i++)
                                mh_strv_dispose(&m->paths[i]);
                        free(m->paths);
                        m->paths = NULL;
                        mh_strv_dispose(&m->names);
                        break;
                }
                default:
                        break;
                }
        }
        free(object);
}

void mh_host_type_free_settings(const mh_host_type *type, void **settings) {
        size_t level = 0;

        if (!settings)
                return;
        for (const mh_host_type *t = type; t; t = t->parent)
                free_object(t, settings[level++]);
        free(settings);
}

/* Each setting's required flag, and then the chain's check() slots, parents first. */
static int finish_settings(const mh_schema_ctx *c, const mh_node *mapping, void *object) {
        const mh_host_type *chain[CHAIN_MAX];
        reader *rd = object;
        size_t depth = 0;
        int r;

        for (size_t i = 0; i < rd->n; i++)
                if ((rd->settings[i]->flags & MH_SETTING_REQUIRED) && !rd->seen[i])
                        return mh_schema_fail(c, mapping, "'%s' is required in config of %s host",
                                              rd->settings[i]->name, rd->type->name);

        for (const mh_host_type *t = rd->type; t; t = t->parent)
                chain[depth++] = t;
        while (depth-- > 0) {
                const mh_host_config *h = c->root;

                if (!chain[depth]->check)
                        continue;
                r = chain[depth]->check(h, rd->objects[depth], c->error);
                if (r < 0) {
                        if (c->error && !mh_error_is_set(c->error))
                                mh_error_set(c->error, r, "%s: config of %s host: %s",
                                             mh_host_config_location(h), rd->type->name,
                                             mh_strerror(r));
                        return r;
                }
        }
        return 0;
}

int mh_host_type_read_settings(const mh_schema_ctx *c, const mh_host_type *type,
                               const mh_host_config *h, const mh_node *mapping,
                               const mh_node *options, const char *base_dir, void ***ret) {
        mh_schema_ctx rc = *c;
        char what[96];
        reader rd = { .type = type, .base_dir = base_dir };
        mh_schema schema = { .what = what, .fields = rd.fields, .finish = finish_settings };
        size_t depth = chain_length(type), level = 0;
        int r;

        r = check_common_keys(c, type, h, mapping);
        if (r < 0)
                return r;

        rd.objects = calloc(depth, sizeof(void *));
        if (!rd.objects)
                return mh_error_oom(c->error);
        for (const mh_host_type *t = type; t; t = t->parent, level++) {
                if (t->settings_size > 0 && !(rd.objects[level] = calloc(1, t->settings_size))) {
                        mh_host_type_free_settings(type, rd.objects);
                        return mh_error_oom(c->error);
                }
                for (const mh_setting *s = t->settings; s && s->name; s++) {
                        assert(rd.n < MH_SCHEMA_FIELDS_MAX);
                        rd.fields[rd.n] = (mh_field){ .name = s->name, .parse = read_setting };
                        rd.settings[rd.n] = s;
                        rd.levels[rd.n++] = level;
                }
        }
        schema.n_fields = rd.n;
        snprintf(what, sizeof(what), "config of %s host", type->name);

        /* Located at the host when it has no config: at all. */
        rc.root = (void *) h;
        if (options)
                r = mh_schema_parse_mapping(&rc, options, &schema, &rd);
        else
                r = mh_schema_parse_mapping(&rc, &(mh_node){ .kind = MH_NODE_MAPPING,
                                                             .line = mapping->line,
                                                             .column = mapping->column },
                                            &schema, &rd);
        if (r == -ENOMEM)
                r = mh_error_oom(c->error);
        if (r < 0) {
                mh_host_type_free_settings(type, rd.objects);
                return r;
        }
        *ret = rd.objects;
        return 0;
}

const void *mh_host_type_settings(const mh_host_type *type, void *const *settings,
                                  const mh_host_type *level) {
        size_t i = 0;

        if (!settings)
                return NULL;
        for (const mh_host_type *t = type; t; t = t->parent, i++)
                if (t == level)
                        return settings[i];
        return NULL;
}

const char *mh_host_type_secret(const mh_host_type *type, void *const *settings, size_t i) {
        size_t level = 0;

        if (!settings)
                return NULL;
        for (const mh_host_type *t = type; t; t = t->parent, level++)
                for (const mh_setting *s = t->settings; s && s->name; s++) {
                        const char *value;

                        if (s->kind != MH_SETTING_SECRET && s->kind != MH_SETTING_SECRET_FILE)
                                continue;
                        value = *(char *const *) ((const char *) settings[level] + s->offset);
                        if (value && i-- == 0)
                                return value;
                }
        return NULL;
}
