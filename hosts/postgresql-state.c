/* SPDX-License-Identifier: MIT */
/*
 * A postgresql backup's state written down in its directory, so that a
 * later run can restore from the backup, or drop its template copies,
 * after the run that took it died (the load() slot).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mhc/buf.h>
#include <mhc/ssh.h>

#include "macro.h"
#include "postgresql.h"

void mh_pg_state_dispose(pg_state *s) {
        mh_strv_dispose(&s->databases);
        mh_strv_dispose(&s->copies);
        mh_strv_dispose(&s->owners);
        mh_strv_dispose(&s->all_databases);
        mh_strv_dispose(&s->roles);
        mh_strv_dispose(&s->oids);
        mh_strv_dispose(&s->unlogged);
        free(s->cluster);
        free(s->waldump);
        free(s->waldir);
        *s = (pg_state){};
}

/*
 * What load() needs, in b->dir/postgresql: records of NUL-ended fields
 * (names may hold any byte but NUL): "D" database copy owner, "A" name (a
 * database at backup time), "R" name (a role), "O" database oid, "U"
 * database (it holds unlogged relations), "C" the shared state (JSON, with
 * the roles' password hashes: the directory is root's, the file 0600), "W"
 * pg_waldump's path and the WAL's.
 */
#define STATE_FILE "postgresql"
#define STATE_MAX ((size_t) 16 << 20)

int mh_pg_state_write(mh_host *h, const mh_backup *b, const pg_state *d, mh_error *e) {
        _cleanup_free_ char *path = NULL;
        mh_buf out = { .max = STATE_MAX };
        int r = 0;

        for (size_t i = 0; r >= 0 && i < d->databases.n; i++)
                r = mh_buf_printf(&out, "D%c%s%c%s%c%s%c", 0, d->databases.items[i], 0,
                                  d->copies.items[i], 0, d->owners.items[i], 0);
        for (size_t i = 0; r >= 0 && i < d->all_databases.n; i++)
                r = mh_buf_printf(&out, "A%c%s%c", 0, d->all_databases.items[i], 0);
        for (size_t i = 0; r >= 0 && i < d->roles.n; i++)
                r = mh_buf_printf(&out, "R%c%s%c", 0, d->roles.items[i], 0);
        for (size_t i = 0; r >= 0 && i < d->oids.n && i < d->databases.n; i++)
                r = mh_buf_printf(&out, "O%c%s%c%s%c", 0, d->databases.items[i], 0,
                                  d->oids.items[i], 0);
        for (size_t i = 0; r >= 0 && i < d->unlogged.n; i++)
                r = mh_buf_printf(&out, "U%c%s%c", 0, d->unlogged.items[i], 0);
        if (r >= 0 && d->cluster)
                r = mh_buf_printf(&out, "C%c%s%c", 0, d->cluster, 0);
        if (r >= 0 && d->waldump && d->waldir)
                r = mh_buf_printf(&out, "W%c%s%c%s%c", 0, d->waldump, 0, d->waldir, 0);
        if (r < 0 || asprintf(&path, "%s/" STATE_FILE, b->dir) < 0) {
                path = NULL;
                mh_buf_dispose(&out);
                if (r == -EFBIG)
                        return mh_error_set(e, r, "the PostgreSQL state is over %zu bytes",
                                            STATE_MAX);
                return mh_error_oom(e);
        }
        r = mh_ssh_write_file(h->ssh, path, strempty(out.data), out.size, 0600, e);
        mh_buf_dispose(&out);
        return r;
}

int mh_pg_state_read(mh_host *h, const mh_backup *b, pg_state *d, mh_error *e) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        const char *at, *end;
        size_t size;
        int r;

        if (asprintf(&path, "%s/" STATE_FILE, b->dir) < 0) {
                path = NULL;
                return -ENOMEM;
        }
        r = mh_ssh_read_file(h->ssh, path, STATE_MAX, &text, &size, e);
        if (r < 0)
                return r;
        for (at = text, end = text + size; r >= 0 && at < end;) {
                const char *kind = next_field(&at, end), *a = kind ? next_field(&at, end) : NULL;

                if (!a)
                        r = -EBADMSG;
                else if (streq(kind, "D")) {
                        const char *c = next_field(&at, end), *o = c ? next_field(&at, end) : NULL;

                        r = o ? mh_strv_consume(&d->databases, strdup(a)) : -EBADMSG;
                        if (r >= 0)
                                r = mh_strv_consume(&d->copies, strdup(c));
                        if (r >= 0)
                                r = mh_strv_consume(&d->owners, strdup(o));
                } else if (streq(kind, "A"))
                        r = mh_strv_consume(&d->all_databases, strdup(a));
                else if (streq(kind, "R"))
                        r = mh_strv_consume(&d->roles, strdup(a));
                else if (streq(kind, "O") || streq(kind, "W")) {
                        const char *b2 = next_field(&at, end);

                        if (!b2)
                                r = -EBADMSG;
                        else if (streq(kind, "O"))
                                r = mh_strv_consume(&d->oids, strdup(b2));
                        else if (d->waldump)
                                r = -EBADMSG;
                        else {
                                d->waldump = strdup(a);
                                d->waldir = strdup(b2);
                                r = d->waldump && d->waldir ? 0 : -ENOMEM;
                        }
                } else if (streq(kind, "U"))
                        r = mh_strv_consume(&d->unlogged, strdup(a));
                else if (streq(kind, "C")) {
                        if (d->cluster)
                                r = -EBADMSG;
                        else
                                r = (d->cluster = strdup(a)) ? 0 : -ENOMEM;
                } else
                        r = -EBADMSG;
        }
        if (r == -EBADMSG)
                return mh_error_set(e, r, "%s: not a PostgreSQL state that mhc wrote", path);
        return r < 0 ? mh_error_oom(e) : 0;
}

