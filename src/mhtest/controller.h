/* SPDX-License-Identifier: MIT */
#ifndef MHTEST_CONTROLLER_H
#define MHTEST_CONTROLLER_H

/*
 * The lab of a run and the topology controllers that run around the tests
 * of one topology (see mhc-topology(5)).  The backup controller takes each
 * host's vanilla backup once per run, runs the topology's setup, backs up
 * every host, restores every host after each test and puts the hosts back
 * to vanilla when the topology is done.  A host that cannot be put back is
 * quarantined: its later tests are errors.  The `none` controller only
 * connects and runs the setup.
 */

#include <stdbool.h>
#include <stdint.h>

#include <mhc/mhc.h>

/* One host of the lab over the run. */
typedef struct lab_host {
        mh_host *host;
        bool connected;
        bool vanilla;           /* its vanilla backup is taken */
        char *unusable;         /* why it cannot be used (cannot connect), or NULL */
        char *dirty;            /* why it is quarantined, or NULL */
} lab_host;

typedef struct lab {
        const mh_config *config;
        lab_host *hosts;        /* as in config */
        size_t n_hosts;
} lab;

/* Make every host of config (does not connect). */
int lab_init(lab *l, const mh_config *config, mh_error *error);
/* Drop the vanilla backups taken and free the hosts. */
void lab_dispose(lab *l);
lab_host *lab_find(lab *l, const mh_host_config *config);

/* Time spent per kind of step, for the summary. */
typedef struct phase_times {
        uint64_t setup_usec;
        uint64_t backup_usec;
        uint64_t tests_usec;
        uint64_t restore_usec;
} phase_times;

typedef struct controller_options {
        bool naive;             /* restore every host fully, one after another (benchmarks) */
} controller_options;

typedef struct controller {
        lab *lab;
        const mh_topology *topology;
        lab_host **hosts;       /* the topology's hosts, in mh_topology_match() order */
        const char **roles;     /* the role each plays */
        mh_host **host_objects; /* hosts[i]->host */
        size_t n_hosts;
        controller_options options;
        phase_times times;
        bool entered;           /* set up and backed up: the hosts need restoring */
} controller;

/* The controller of topology over the lab hosts that match it. */
int controller_init(controller *c, lab *l, const mh_topology *topology,
                    const mh_host_config *const *hosts, size_t n_hosts,
                    const controller_options *options, mh_error *error);
void controller_dispose(controller *c);

/* The topology's hosts as mh_host objects (n_hosts of them, borrowed). */
mh_host **controller_hosts(controller *c);

/*
 * Connect, take vanilla backups, run the setup, back up.  On failure the
 * hosts are put back to vanilla and error says why: "setup of topology
 * 'x' failed on server.lab.test: ...".  Returns -ENOTCONN when a host
 * cannot be reached (the lab is unusable) and -EBUSY when one is dirty.
 */
int controller_enter(controller *c, mh_error *error);

/*
 * Whether the topology's hosts can run a test; if not, why ("host db is
 * dirty: ...").
 */
bool controller_usable(const controller *c, mh_error *why);

/* Restore every host after a test.  A host whose restore fails is put back
 * to vanilla and set up again, or else quarantined; error gets the first
 * problem.  *ret_usec: the time it took. */
int controller_after_test(controller *c, uint64_t *ret_usec, mh_error *error);

/* Put the hosts back to vanilla and drop the topology's backups. */
int controller_leave(controller *c, mh_error *error);

#endif
