/* SPDX-License-Identifier: MIT */
#ifndef MH_CONFIG_INTERNAL_H
#define MH_CONFIG_INTERNAL_H

/* What the library's own modules need of a configuration beyond the public API. */

#include <mhc/config.h>

#include "yaml.h"

/* The conn.password, or NULL.  Secret: never log it or put it in a message. */
const char *mh_host_config_password(const mh_host_config *h);

/* The host's free-form config: mapping, for its host type, with ${env:NAME}
 * already expanded; NULL when the file has none.  Borrowed from the host. */
const mh_node *mh_host_config_options(const mh_host_config *h);

#endif
