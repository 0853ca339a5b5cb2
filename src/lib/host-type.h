/* SPDX-License-Identifier: MIT */
#ifndef MH_HOST_TYPE_H
#define MH_HOST_TYPE_H

/*
 * Host types by name (the built-in ones of hosts/, plug-ins loaded from
 * shared objects) and their `config:` settings, read against each type's
 * table when mhc.yaml is loaded.  Beside config in the layers: it knows the
 * contract of <mhc/sys/host.h>, never a type.
 */

#include <mhc/sys/host.h>

#include "schema.h"
#include "yaml.h"

#define PLUGIN_PREFIX "plugin:"

/* hosts/builtin.c: the built-in types, NULL-terminated. */
extern const mh_host_type *const mh_builtin_host_types[];

/*
 * The type named name, built-in or "plugin:PATH" (PATH relative to
 * base_dir), failing with a message located at node where.  A plug-in's
 * dlopen() handle goes to *ret_handle (NULL for a built-in type), for
 * mh_host_type_unload().
 */
int mh_host_type_load(const mh_schema_ctx *c, const mh_node *where, const char *name,
                      const char *base_dir, const mh_host_type **ret, void **ret_handle);
void mh_host_type_unload(void *handle);

/*
 * Check the common keys of the host mapping against what type honours and
 * read options (the host's `config:` mapping, or NULL) into one settings
 * object per type of the chain, the type's own first; then run the chain's
 * check() slots, parents first.  *ret is for mh_host_type_free_settings().
 */
int mh_host_type_read_settings(const mh_schema_ctx *c, const mh_host_type *type,
                               const mh_host_config *h, const mh_node *mapping,
                               const mh_node *options, const char *base_dir, void ***ret);
void mh_host_type_free_settings(const mh_host_type *type, void **settings);

/* The settings object of level in the chain of type, or NULL. */
const void *mh_host_type_settings(const mh_host_type *type, void *const *settings,
                                  const mh_host_type *level);

/* The secrets among the settings (MH_SETTING_SECRET and _SECRET_FILE): the
 * i-th set one, or NULL past the last. */
const char *mh_host_type_secret(const mh_host_type *type, void *const *settings, size_t i);

#endif
