/* SPDX-License-Identifier: MIT */
#ifndef MHC_FAULT_H
#define MHC_FAULT_H

#include <stdint.h>

#include <mhc/common.h>
#include <mhc/error.h>
#include <mhc/host.h>

MH_BEGIN_DECLS

/*
 * Faults made on a host on purpose, that always heal (see mhc-test(3),
 * "Faults").  A fault is started on one host of a run and numbered there;
 * before anything changes, the host records how to undo it and starts a
 * transient systemd timer that undoes it after heal_after_sec (a dead
 * man's switch), so that it heals even when the runner is killed or cut
 * off.  The run's unit heals every fault when the run's lease goes, the
 * end of each test heals what the test left (before the restore), and a
 * later run's recovery heals what a dead run left.  A heal checks that the
 * fault is gone; a fault that stays makes the host's next command fail.
 *
 * The runner's own SSH traffic to the host is never cut or slowed.
 */

typedef enum mh_fault_kind {
        MH_FAULT_PARTITION, /* no traffic with the peers (nftables) */
        MH_FAULT_LOSS,      /* drop percent of the packets (nftables' numgen) */
        MH_FAULT_RATE,      /* drop what passes bytes_per_sec (nftables' limit) */
        MH_FAULT_PAUSE,     /* unit paused: frozen (cgroup v2) or SIGSTOP */
        MH_FAULT_FILL,      /* the filesystem of path full: writes get ENOSPC */
        MH_FAULT_RESTART_LOOP, /* unit restarted every interval_msec */
        MH_FAULT_CLOCK,     /* unit's clock moved or sped up (libfaketime), restarted */
        MH_FAULT_LINK,      /* delay, jitter, loss, duplicates, reordering, rate (tc netem) */
        MH_FAULT_CLOCK_STEP, /* the host's clock stepped by step_sec (a kernel of its own) */
} mh_fault_kind;

typedef enum mh_fault_direction {
        MH_FAULT_BOTH_WAYS, /* to and from the peers */
        MH_FAULT_OUTGOING,  /* from the host to the peers only */
        MH_FAULT_INCOMING,  /* from the peers to the host only */
} mh_fault_direction;

/* The default limit of MH_FAULT_FILL: a lab's real disk is never filled by accident. */
#define MH_FAULT_FILL_MAX_DEFAULT ((uint64_t) 1 << 30)

typedef struct mh_fault {
        mh_fault_kind kind;
        /* network faults: */
        mh_fault_direction direction;
        const char *const *peers;       /* NULL-terminated names or addresses, as the
                                         * host resolves them (at least one) */
        int reject;                     /* partition: refuse (ICMP, TCP reset) instead
                                         * of dropping */
        unsigned percent;               /* loss: 1..100; link: 0..100 */
        uint64_t bytes_per_sec;         /* rate: > 0; link: 0 for no limit */
        /* link (tc netem on what the host sends to the peers: direction both
         * or out; to slow both ways, start one on each side), at least one: */
        unsigned delay_msec;            /* each packet held this long, */
        unsigned jitter_msec;           /* give or take this (at most the delay) */
        unsigned duplicate_percent;     /* 0..100 */
        unsigned reorder_percent;       /* 0..100, sent at once (needs a delay) */
        /* pause, restart loop, clock: */
        const char *unit;
        unsigned interval_msec;         /* restart loop: at least 100 */
        const char *faketime;           /* clock: libfaketime's FAKETIME, such as "+3600"
                                         * (an hour ahead), "-1d", "+0 x2" (twice as fast) */
        /* fill: */
        const char *path;               /* a directory of the filesystem to fill */
        uint64_t max_fs_bytes;          /* refused on a larger filesystem; 0: the default */
        /* clock step: */
        int64_t step_sec;               /* + ahead, - back; not 0 */
} mh_fault;

/* "partition", "loss", "rate", "pause", "fill", "restart-loop", "clock", "link",
 * "clock-step". */
MH_EXPORT const char *mh_fault_kind_to_string(mh_fault_kind kind);

/*
 * One line that says what f does, such as "partition (both ways, drop)
 * with server.lab.test"; malloc()ed into *ret.  -EINVAL, with the reason
 * in error, when f is not valid (no peers, a percent over 100, ...).
 */
MH_EXPORT int mh_fault_describe(const mh_fault *f, char **ret, mh_error *error);

/*
 * Start f on h (connected, leased) and return its number on h in *ret_n.
 * It heals by itself after heal_after_sec (at least 1).  Fails, the host
 * left as it was, when the host cannot make it: the message names the
 * host and what is missing ("no nft on the host", "unit x is not active",
 * "the filesystem of /srv is 20 GiB, over the limit ...").  Commands run
 * as the test's (mh_host_exec()).
 */
MH_EXPORT int mh_host_start_fault(mh_host *h, const mh_fault *f, unsigned heal_after_sec,
                                  unsigned *ret_n, mh_error *error);

/* Heal fault n of h now (healed already is fine). */
MH_EXPORT int mh_host_heal_fault(mh_host *h, unsigned n, mh_error *error);

/* Heal every fault of this run on h and check that none is left, also the
 * ones that no record heals (a table of mhc's faults left by hand). */
MH_EXPORT int mh_host_heal_faults(mh_host *h, mh_error *error);

MH_END_DECLS

#endif
