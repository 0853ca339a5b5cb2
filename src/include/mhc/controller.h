/* SPDX-License-Identifier: MIT */
#ifndef MHC_CONTROLLER_H
#define MHC_CONTROLLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mhc/common.h>
#include <mhc/config.h>
#include <mhc/error.h>
#include <mhc/host.h>
#include <mhc/topology.h>

MH_BEGIN_DECLS

/*
 * For runners (mhtest, the benchmarks), not for test modules: <mhc/mhc.h>
 * does not include this header.  See libmhc(3).
 *
 * The lab of a run, and the topology controllers that run around the
 * tests of one topology (see mhc-topology(5)).  The backup controller
 * takes each host's vanilla backup once per run, runs the topology's
 * setup, backs up every host, restores every host after each test and
 * puts the hosts back to vanilla when the topology is done.  A host that
 * cannot be put back is quarantined: the controller says it is not usable
 * for the rest of the run.  The `none` controller only connects and runs
 * the setup.  Not thread-safe: one thread drives a lab and its
 * controllers.
 */

/* Every host of a configuration over one run. */
typedef struct mh_lab mh_lab;

/*
 * Make every host of config with its type (connects nothing).  config must
 * outlive the lab.  Fails as mh_host_new() does.
 */
MH_EXPORT int mh_lab_new(const mh_config *config, mh_lab **ret, mh_error *error);

/* Drop the vanilla backups taken of the hosts that are not quarantined and
 * free the hosts (NULL is fine).  Returns NULL. */
MH_EXPORT mh_lab *mh_lab_free(mh_lab *l);

/* How long connecting waits for another run to let go of a host (see
 * mh_host_set_lock_wait()); 0, the default: a host another run holds is
 * unusable at once. */
MH_EXPORT void mh_lab_set_lock_wait(mh_lab *l, unsigned seconds);

/*
 * What the controllers do with a host that holds the backups of runs that
 * died (see mh_host_connect()): by default recover it (mh_host_recover(),
 * one MH_LOG_WARNING per dead run, "put back after run ID (mhtest pid P on
 * RUNNER, started DATE), last at: STEP; ..."); with refuse, leave it as it
 * is and call it unusable, for someone to look at first.
 */
MH_EXPORT void mh_lab_refuse_dead_runs(mh_lab *l, bool refuse);

/*
 * Connect every host and recover those that runs which died left (as
 * above), without running anything else: `mhtest --recover`.  Fails with
 * -ENOTCONN and the first unusable host's reason; mh_lab_host_problem()
 * has each.
 */
MH_EXPORT int mh_lab_recover(mh_lab *l, mh_error *error);

/* Why the i-th host cannot be used (unusable or quarantined), or NULL. */
MH_EXPORT const char *mh_lab_host_problem(const mh_lab *l, size_t i);

/* The hosts, in the order of the configuration, borrowed from the lab; NULL
 * past the end. */
MH_EXPORT size_t mh_lab_n_hosts(const mh_lab *l);
MH_EXPORT mh_host *mh_lab_host(const mh_lab *l, size_t i);

/* The time a controller spent per kind of step, for a run's summary. */
typedef struct mh_phase_times {
        uint64_t setup_usec;
        uint64_t backup_usec;
        uint64_t restore_usec;
} mh_phase_times;

typedef struct mh_controller_options {
        int naive;              /* restore every host fully, one after another (benchmarks) */
} mh_controller_options;

/* The controller of one topology over the hosts of a lab that play it. */
typedef struct mh_controller mh_controller;

/*
 * The controller of topology (its kind is mh_topology_controller()) over
 * the hosts of l that match it: hosts[0..n_hosts) as mh_topology_match()
 * gave them, each of which must be a host of l's configuration (else
 * -ENOENT, "host x is not in the lab").  options may be NULL.  l and
 * topology must outlive the controller.
 */
MH_EXPORT int mh_controller_new(mh_lab *l, const mh_topology *topology,
                                const mh_host_config *const *hosts, size_t n_hosts,
                                const mh_controller_options *options, mh_controller **ret,
                                mh_error *error);

/* Free c (NULL is fine), without restoring anything: call
 * mh_controller_leave() first.  Returns NULL. */
MH_EXPORT mh_controller *mh_controller_free(mh_controller *c);

MH_EXPORT const mh_topology *mh_controller_topology(const mh_controller *c);

/* The topology's hosts as the test plan wants them (mh_test_plan's hosts
 * and roles): n of each, in mh_topology_match() order, borrowed. */
MH_EXPORT size_t mh_controller_n_hosts(const mh_controller *c);
MH_EXPORT mh_host *const *mh_controller_hosts(const mh_controller *c);
MH_EXPORT const char *const *mh_controller_roles(const mh_controller *c);

/* Tell the topology's hosts what the run does now ("test files.write"),
 * for a later run to report should this one die (mh_host_set_step()). */
MH_EXPORT void mh_controller_set_step(mh_controller *c, const char *fmt, ...) MH_PRINTF(2, 3);

/* The time spent so far in each kind of step (borrowed from c). */
MH_EXPORT const mh_phase_times *mh_controller_times(const mh_controller *c);

/*
 * Connect, take the vanilla backups not taken yet, run the setup, back up.
 * On failure the hosts are put back to vanilla and error says why:
 * "setup of topology 'x' failed on server.lab.test: ...".  Returns
 * -ENOTCONN when a host cannot be reached (the lab is unusable) and
 * -EBUSY when one is quarantined.
 */
MH_EXPORT int mh_controller_enter(mh_controller *c, mh_error *error);

/*
 * Whether the topology's hosts can run a test; if not, why in why ("host
 * db is dirty: ...", "host db is unusable: ...").
 */
MH_EXPORT bool mh_controller_usable(const mh_controller *c, mh_error *why);

/*
 * Restore every host after a test.  A host whose restore fails is put back
 * to vanilla and set up again, or else quarantined; error gets the first
 * problem (-EAGAIN: recovered, -EBUSY: quarantined).  *ret_usec: the time
 * it took.
 */
MH_EXPORT int mh_controller_after_test(mh_controller *c, uint64_t *ret_usec, mh_error *error);

/* Put the hosts back to vanilla and drop the topology's backups. */
MH_EXPORT int mh_controller_leave(mh_controller *c, mh_error *error);

MH_END_DECLS

#endif
