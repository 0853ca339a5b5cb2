/* SPDX-License-Identifier: MIT */
/*
 * One WAL read serves every backup of the host.  A backup knows which of
 * its databases changed from the WAL after its baseline; the server
 * recycles old WAL segments (every DROP DATABASE checkpoints), so a backup
 * restored rarely, such as the vanilla one at the end of a topology, would
 * find its WAL gone and re-create every database.  Instead, what the
 * restore of one backup reads from the WAL, and what it puts back, is
 * passed on to the others whose changes are known up to where that read
 * starts: they move their position on, with the databases it touched
 * marked, and read only the WAL after it at their own restore.
 */
#include <errno.h>
#include <stdlib.h>

#include "macro.h"
#include "postgresql.h"

int pg_news_add(pg_host *p, pg_backup *d) {
        pg_backup **b = reallocarray(p->backups, p->n_backups + 1, sizeof(*b));

        if (!b)
                return -ENOMEM;
        p->backups = b;
        p->backups[p->n_backups++] = d;
        return 0;
}

void pg_news_remove(pg_host *p, const pg_backup *d) {
        for (size_t i = 0; i < p->n_backups; i++)
                if (p->backups[i] == d) {
                        p->backups[i] = p->backups[--p->n_backups];
                        return;
                }
}

/* Whether e's changes are known up to a position within [from, to]. */
static bool known_within(const pg_backup *e, uint64_t from, uint64_t to) {
        uint64_t at;

        return e->lsn && pg_lsn_parse(e->lsn, &at) >= 0 && at >= from && at <= to;
}

/* e's changes are known up to to, if nothing failed: the position moves only then. */
static void move_on(pg_backup *e, const char *to, bool ok) {
        char *lsn = ok ? strdup(to) : NULL;

        if (!lsn)
                return;
        free(e->lsn);
        e->lsn = lsn;
}

void pg_news_share(pg_host *p, const pg_backup *reader, const char *from, const char *to,
                   const mh_strv *oids, bool shared) {
        uint64_t a, b;

        if (pg_lsn_parse(from, &a) < 0 || pg_lsn_parse(to, &b) < 0)
                return;
        for (size_t i = 0; i < p->n_backups; i++) {
                pg_backup *e = p->backups[i];
                bool ok = true;

                if (e == reader || !known_within(e, a, b))
                        continue;
                for (size_t k = 0; ok && k < oids->n; k++)
                        if (!mh_strv_contains(&e->dirty, oids->items[k]))
                                ok = mh_strv_consume(&e->dirty, strdup(oids->items[k])) >= 0;
                e->dirty_shared |= shared;
                move_on(e, to, ok);
        }
}

void pg_news_put_back(pg_host *p, const pg_backup *reader, const char *was, const char *now) {
        uint64_t a;

        if (!was || pg_lsn_parse(was, &a) < 0)
                return;
        for (size_t i = 0; i < p->n_backups; i++) {
                pg_backup *e = p->backups[i];

                if (e == reader || !known_within(e, a, a))
                        continue;
                /* its restore compares its databases' oids with the cluster's: the
                 * ones re-created or dropped are found there */
                e->dirty_shared = true;
                move_on(e, now, true);
        }
}

void pg_news_take(pg_backup *d, bool *changed, bool *shared) {
        for (size_t i = 0; i < d->state.databases.n && i < d->oids.n; i++)
                if (mh_strv_contains(&d->dirty, d->oids.items[i]))
                        changed[i] = true;
        *shared |= d->dirty_shared;
        mh_strv_dispose(&d->dirty);
        d->dirty_shared = false;
}
