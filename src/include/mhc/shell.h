/* SPDX-License-Identifier: MIT */
#ifndef MHC_SHELL_H
#define MHC_SHELL_H

#include <mhc/common.h>

MH_BEGIN_DECLS

/*
 * Quote s as one word for a POSIX shell, so that a remote command built
 * from values cannot be split or injected: the result is single-quoted,
 * with each ' written as '\''.  *ret is the caller's to free().
 */
MH_EXPORT int mh_shell_quote(const char *s, char **ret);

/* Quote each of argv[0..] (NULL-terminated) and join them with spaces. */
MH_EXPORT int mh_shell_join(const char *const *argv, char **ret);

MH_END_DECLS

#endif
