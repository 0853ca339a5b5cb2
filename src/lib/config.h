/* SPDX-License-Identifier: MIT */
#ifndef MH_CONFIG_INTERNAL_H
#define MH_CONFIG_INTERNAL_H

/* What the library's own modules need of a configuration beyond the public API. */

#include <mhc/config.h>

#include "yaml.h"

/* The conn.password, or NULL.  Secret: never log it or put it in a message. */
const char *mh_host_config_password(const mh_host_config *h);

/* The host's `config:` mapping with ${env:NAME} already expanded, or NULL
 * when the file has none; borrowed from the host.  Its type's settings
 * were read from it (see host-type.h). */
const mh_node *mh_host_config_options(const mh_host_config *h);

/* The host's type, found when the file was loaded, and the settings its
 * tables read from `config:` (see host-type.h).  Borrowed from the host. */
const struct mh_host_type *mh_host_config_host_type(const mh_host_config *h);
void *const *mh_host_config_settings(const mh_host_config *h);

/* path, or path under the configuration file's directory when it is
 * relative, as every local path in mhc.yaml is taken; *ret is malloc'd. */
int mh_host_config_resolve(const mh_host_config *h, const char *path, char **ret);

/* Fail with -MH_ERR_CONFIG and "origin:line:column: message" for node n of
 * the host's part of the file (n NULL: the host itself).  For host types
 * checking their `config:` settings. */
int mh_host_config_fail(const mh_host_config *h, const mh_node *n, mh_error *error,
                        const char *fmt, ...) MH_PRINTF(4, 5);

#endif
