/* SPDX-License-Identifier: MIT */
#ifndef MH_PROBE_INTERNAL_H
#define MH_PROBE_INTERNAL_H

#include <stddef.h>

/* The value of key in os-release(5) text, unquoted, into buf (truncated to
 * size); -ENOENT if the key is absent, -EBADMSG if its quoting is broken. */
int mh_os_release_get(const char *text, const char *key, char *buf, size_t size);

#endif
