/* SPDX-License-Identifier: MIT */
#ifndef MH_SOAK_H
#define MH_SOAK_H

/* What the soak's two files share (tests/soak/soak.c, tests/soak/fingerprint.c). */

#include <mhc/config.h>

/* The longest output of one mhtest run or one fingerprint read back. */
#define OUTPUT_MAX ((size_t) 64 << 20)

/* The whole file at path (NUL-terminated), or NULL with errno set. */
char *read_text(const char *path);
int write_text(const char *path, const char *text);
/* The line of text that starts at p, as a new string. */
char *line_at(const char *p);

/*
 * The fingerprint of every host of config into dir/HOSTNAME: for each
 * backup path every entry (type, mode, owner, size of files, target of
 * links; no times: a restore may change a directory's) and the sha256 of
 * each file; is-active and is-enabled of each service; what is in mhc's
 * state directory; on a postgresql host its databases and a sha256 of
 * pg_dumpall and of each database's pg_dump.  < 0 when a host's cannot be
 * taken: its file is not written, and stderr says why.
 */
int fingerprint_take(const mh_config *config, const char *dir);

/*
 * The number of hosts whose fingerprints in before_dir and after_dir
 * differ (one with none after counts, one left with a postgresql backup's
 * template copy too), each named on stdout with its first difference; < 0
 * when one before cannot be read.
 */
int fingerprint_compare(const mh_config *config, const char *before_dir, const char *after_dir);

#endif
