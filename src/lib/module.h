/* SPDX-License-Identifier: MIT */
#ifndef MH_MODULE_INTERNAL_H
#define MH_MODULE_INTERNAL_H

/* What running a test needs of its module beyond the public API. */

#include <mhc/test.h>

typedef void (*mh_hook_fn)(mh_test *t);

/* The module's MH_SETUP or MH_TEARDOWN, or NULL. */
mh_hook_fn mh_module_hook(const mh_module *m, mh_hook_kind kind);

#endif
