/* SPDX-License-Identifier: MIT */
#ifndef MH_OUTCOME_PARSE_H
#define MH_OUTCOME_PARSE_H

#include <mhc/outcome.h>

/* The lines of outcome.sh ("F CHECK SUMMARY", "E CHECK LINE") into *ret, each
 * finding with the action h's checks: give it: 0, -EBADMSG or -ENOMEM. */
int mh_outcome_parse(const char *out, size_t size, const mh_host_config *h, mh_outcome *ret);

#endif
