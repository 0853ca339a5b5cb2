/* SPDX-License-Identifier: MIT */
/*
 * Which databases changed: PostgreSQL keeps one WAL for the whole cluster,
 * so a restore reads the records written since the last one with
 * pg_waldump on the host (hosts/postgresql-wal.sh) and re-creates only the
 * databases whose files a record touched.  A checkpoint, or autovacuum in
 * another database, then re-creates nothing.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mhc/log.h>
#include <mhc/shell.h>
#include <mhc/ssh.h>

#include "macro.h"
#include "postgresql.h"
#include "postgresql-wal.h" /* wal_script[], made from hosts/postgresql-wal.sh */

#define WAL_OUTPUT_MAX ((size_t) 1 << 20)

int pg_lsn_parse(const char *s, uint64_t *ret) {
        unsigned hi, lo;
        int n = 0;

        if (!s || sscanf(s, "%X/%X%n", &hi, &lo, &n) != 2 || s[n])
                return -EINVAL;
        *ret = (uint64_t) hi << 32 | lo;
        return 0;
}

int pg_wal_touched(pg_host *p, const char *waldump, const char *waldir, const char *start,
                   const char *end, mh_strv *ret_oids, unsigned *ret_flags, mh_error *e) {
        const char *argv[] = { "sh", "-s", "--", waldump, waldir, start, end, NULL };
        mh_exec_options o = { .input = wal_script,
                              .input_size = sizeof(wal_script) - 1,
                              .max_output = WAL_OUTPUT_MAX };
        _cleanup_free_ char *command = NULL;
        mh_exec_result res = {};
        mh_strv oids = {};
        unsigned flags = 0;
        bool ok = false;
        int r;

        if (mh_shell_join(argv, &command) < 0)
                return mh_error_oom(e);
        r = mh_ssh_exec(pg_host_of(p)->ssh, command, &o, &res, e);
        if (r < 0)
                return r;
        for (char *line = res.out, *next; r >= 0 && line && *line; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                if (strncmp(line, "db ", 3) == 0)
                        r = mh_strv_consume(&oids, strdup(line + 3));
                else if (streq(line, "shared"))
                        flags |= PG_WAL_SHARED;
                else if (streq(line, "unknown"))
                        flags |= PG_WAL_UNKNOWN;
                else if (streq(line, "ok"))
                        ok = true;
        }
        if (r >= 0 && !ok) {
                char why[MH_EXEC_SUMMARY_SIZE];

                r = mh_error_set(e, -MH_ERR_COMMAND, "cannot read the WAL from %s to %s: %s", start,
                                 end, mh_exec_result_summary(&res, why, sizeof(why)));
        }
        mh_exec_result_dispose(&res);
        if (r < 0) {
                mh_strv_dispose(&oids);
                return r == -ENOMEM ? mh_error_oom(e) : r;
        }
        *ret_oids = oids;
        *ret_flags = flags;
        return 0;
}
