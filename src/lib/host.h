/* SPDX-License-Identifier: MIT */
#ifndef MH_HOST_INTERNAL_H
#define MH_HOST_INTERNAL_H

/* What the library's own modules need of a host beyond the public API,
 * and what host.c and host-run.c share. */

#include <stdbool.h>
#include <stdint.h>

#include <mhc/host.h>
#include <mhc/strv.h>
#include <mhc/sys/host.h>

#include "tunnel.h"

#define MHC_STATE_DIR MH_HOST_STATE_DIR

/* A slot of h's type; an empty one is the slot of the type it extends. */
#define SLOT(h, slot)                                                         \
        ({                                                                    \
                const mh_host_type *_t = (h)->type;                          \
                while (_t->parent && !_t->slot)                               \
                        _t = _t->parent;                                      \
                _t->slot;                                                     \
        })

/* One backup the library knows of; backup's name and dir point into the strings. */
typedef struct entry {
        mh_backup backup;
        char *name;
        char *dir;
} entry;

/* A run that held the host before and did not end cleanly (see host-run.c). */
typedef struct dead_run {
        char *dir;              /* MHC_STATE_DIR/run-ID */
        char *id;
        uint64_t started;       /* realtime seconds, 0 when unknown */
        long pid;               /* of the runner, 0 when unknown */
        char *runner;           /* the machine the runner ran on */
        char *doing;            /* the last step it announced, or NULL */
        mh_strv backups;        /* the backups it left */
        mh_strv complete;       /* those marked whole */
        mh_strv complete_types; /* the host type that took each, same order */
        char *text;             /* the line that describes it, made on demand */
} dead_run;

/* The library's bookkeeping of one host (mh_host.internal). */
typedef struct internal {
        entry **backups;
        size_t n_backups;
        mh_tunnel *lease;       /* the tunnel holding the run's lease, or NULL */
        unsigned lock_wait_sec; /* how long to wait for another run to end */
        bool keep_backups;      /* mh_host_free() leaves them for a later run */
        mh_command_fn observer; /* handed to each session the host makes */
        void *observer_userdata;
        char *cgroup;           /* the run's cgroup on the host, NULL: none */
        bool test_used;         /* a command of the test ran in cgroup/test */
        bool test_ended;        /* every command's prelude ends what is in cgroup/test */
        int64_t clock_offset_usec; /* the host's clock ahead of ours (mh_host_measure_clock()) */
        bool clock_measured;
        unsigned n_faults;      /* started by this run (fault.c), the last one's number */
        bool faults_pending;    /* started since the last heal of them all */
        dead_run *dead;
        size_t n_dead;
        char holder_runner[128]; /* of the run found holding the host, "" if none */
        long holder_pid;
} internal;

static inline internal *internal_of(const mh_host *h) {
        return h->internal;
}

/* In a forked test process: let the host's type forget, without closing,
 * what the runner's process holds open (its after_fork() slot). */
void mh_host_after_fork(mh_host *h);

/* host.c: measure how far the host's clock is ahead of ours (one round trip). */
int mh_host_measure_clock(mh_host *h, mh_error *e);

/* fault.c: shell that heals the faults of the run in run_dir on the host
 * (exit 125, what is left on stderr, when one stays). */
int mh_host_heal_command(const char *run_dir, mh_buf *out);

/* host.c */
int mh_host_fail(const mh_host *h, int r, const mh_error *e, mh_error *error);
int mh_host_run_command(mh_host *h, const char *command, const char *what, mh_exec_result *ret,
                        mh_error *e);
/* Backup name in run_dir/name, not in any host's list yet; NULL without memory. */
entry *mh_host_entry_new(const char *run_dir, const char *name);
void mh_host_entry_free(entry *b);

/* host-run.c: take the run's lease on a connected host (the host-wide
 * lock held meanwhile), noting the dead runs found; take it again if its
 * connection dropped; end it. */
int mh_host_take_lease(mh_host *h, mh_error *e);
int mh_host_keep_lease(mh_host *h, mh_error *e);
/* Let go of the lease's tunnel and the run's cgroup (the host went away),
 * and take the lease again on the same run directory. */
void mh_host_forget_lease(mh_host *h);
int mh_host_retake_lease(mh_host *h, mh_error *e);
void mh_host_end_lease(mh_host *h, unsigned wait_msec);
void mh_host_forget_dead_runs(mh_host *h);

#endif
