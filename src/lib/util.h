/* SPDX-License-Identifier: MIT */
#ifndef MH_UTIL_H
#define MH_UTIL_H

/* Small helpers shared by the library's files; never installed. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mhc/buf.h>
#include <mhc/clock.h>
#include <mhc/log.h>
#include <mhc/strv.h>

#include "macro.h"

/* strdup that returns NULL only for a NULL argument or when memory runs out. */
char *mh_strdup_or_null(const char *s);


#endif
