/* SPDX-License-Identifier: MIT */
#ifndef MH_CONFIG_INTERNAL_H
#define MH_CONFIG_INTERNAL_H

/* What the library's own modules need of a configuration beyond the public API. */

#include <mhc/config.h>

/* The conn.password, or NULL.  Secret: never log it or put it in a message. */
const char *mh_host_config_password(const mh_host_config *h);

#endif
