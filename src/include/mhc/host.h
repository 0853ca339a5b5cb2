/* SPDX-License-Identifier: MIT */
#ifndef MHC_HOST_H
#define MHC_HOST_H

#include <stdbool.h>
#include <stddef.h>

#include <mhc/common.h>
#include <mhc/config.h>
#include <mhc/error.h>
#include <mhc/log.h>
#include <mhc/ssh.h>

MH_BEGIN_DECLS

/*
 * A host of the lab as an object of its host type (mhc.yaml's `type:`):
 * it starts, stops, backs up and restores itself.  See libmhc(3); host
 * type authors see <mhc/sys/host.h>.
 */
typedef struct mh_host mh_host;

/* Names of the backups the backup topology controller takes. */
#define MH_BACKUP_VANILLA "vanilla"
#define MH_BACKUP_TOPOLOGY "topology"

typedef struct mh_restore_options {
        int full;               /* restore everything, even what did not change */
        int verify;             /* check afterwards that the host equals the backup */
} mh_restore_options;

/*
 * Make the host of config with its type: a built-in one ("systemd",
 * "postgresql", "script") or "plugin:PATH" (relative to the directory of
 * the configuration file): a shared object loaded with dlopen() that
 * exports MH_HOST_TYPE_PLUGIN_SYMBOL (see <mhc/sys/host.h>).  Checks the
 * type's `config:` settings; does not connect.  config must outlive the
 * host.  Fails with -MH_ERR_CONFIG (unknown type, plug-in that cannot be
 * loaded, bad `config:`) or -MH_ERR_ABI (plug-in built for another
 * MH_HOST_TYPE_ABI), the message starting with the host's place in the
 * file ("mhc.yaml:12:7: ...").
 */
MH_EXPORT int mh_host_new(const mh_host_config *config, mh_host **ret, mh_error *error);

/* Drop the backups still taken (unless mh_host_keep_backups()), remove
 * the run's directory, disconnect, end the run's lease and free (NULL is
 * fine).  Backups that stay on the host (kept, or not dropped because the
 * connection is gone) are a dead run's to a later run, which recovers from
 * them (mh_host_recover()).  Returns NULL. */
MH_EXPORT mh_host *mh_host_free(mh_host *h);

/* Have mh_host_free() leave the host's backups on it, for a later run to
 * put it back from: a host that could not be put back (quarantined). */
MH_EXPORT void mh_host_keep_backups(mh_host *h, bool keep);

MH_EXPORT const char *mh_host_name(const mh_host *h);
MH_EXPORT const mh_host_config *mh_host_get_config(const mh_host *h);
MH_EXPORT const char *mh_host_type_name(const mh_host *h);

/*
 * Connect over SSH and take this run's lease on the host.  A run (one
 * process) has a random id and on each host a directory
 * /var/lib/mhc/run-ID (mode 0700, like /var/lib/mhc) holding its backups;
 * its lease is a flock(1) on run-ID/.lease, held over an SSH connection of
 * its own until mh_host_free() (or until the runner dies), and taken again
 * before the next step if that connection drops.  One run at a time uses a
 * host: while another run holds its lease, connecting fails with -EBUSY,
 * "host 'x': in use by run ID (mhtest pid P on RUNNER, started DATE)",
 * after waiting up to mh_host_set_lock_wait() seconds for it to end.  The
 * directories of other runs, whose lease nobody holds, belong to runs that
 * died (or ended with the host quarantined): they are the dead runs below,
 * left alone until mh_host_recover().  When the host has cgroup v2 and
 * systemd-run, the lease also starts the unit mhc-run-ID.service, whose
 * cgroup holds the commands of mh_host_exec() and which ends them all when
 * the lease goes.  Needs root (or write access to /var/lib/mhc and the
 * cgroup tree) on the host, flock(1) and sed.  Every other call below
 * needs a connected host (else -ENOTCONN); connecting twice does nothing.
 */
MH_EXPORT int mh_host_connect(mh_host *h, mh_error *error);

/* How long mh_host_connect() waits for another run to let go of the host
 * (0, the default: fail at once). */
MH_EXPORT void mh_host_set_lock_wait(mh_host *h, unsigned seconds);

/*
 * The runs that died holding the host, found by mh_host_connect(): n, and
 * a line describing each, borrowed ("run ID (mhtest pid P on RUNNER,
 * started DATE), last at: STEP; its vanilla backup is whole").
 */
MH_EXPORT size_t mh_host_n_dead_runs(const mh_host *h);
MH_EXPORT const char *mh_host_dead_run(const mh_host *h, size_t i);

/*
 * Put the host back as it was before the dead runs: restore it (fully)
 * from the vanilla backup of the oldest that has a whole one, then drop
 * every backup they left (through the host type, so database copies go
 * too), stop their units and remove their directories.  Returns 1 when
 * the host was restored, 0 when there was nothing to restore (incomplete
 * backups are only dropped: the run had not changed the host yet).  On
 * failure the host is dirty and the dead runs stay for another try; a
 * failed restore's message ends with "; remove /var/lib/mhc/run-ID by hand
 * to go on without it", naming that run's directory.  Needs the host
 * type's load() slot.
 */
MH_EXPORT int mh_host_recover(mh_host *h, mh_error *error);

/*
 * Say what the run is doing on the host now ("test files.write_file"), so
 * that a later run can tell if this one dies: a line written to the host
 * through the lease, without waiting.  Control characters become spaces;
 * at most 200 bytes.  Never put secrets in it.
 */
MH_EXPORT void mh_host_set_step(mh_host *h, const char *fmt, ...) MH_PRINTF(2, 3);

/*
 * Run command as part of the current test, like mh_ssh_exec() on the
 * host's session, but in the test's cgroup on the host (when the lease
 * made one: see mh_host_connect()), so that what it leaves running ends
 * with the test (mh_host_end_test()).
 */
MH_EXPORT int mh_host_exec(mh_host *h, const char *command, const mh_exec_options *options,
                           mh_exec_result *ret, mh_error *error);

/*
 * The current test is over: what the commands of mh_host_exec() left
 * running in its cgroup is ended by the host's next command (the restore's,
 * or the next test's first), which first kills that cgroup and waits until
 * it is empty.  Costs no round trip.  Nothing to do (0) when no command
 * ran since the last call.
 */
MH_EXPORT int mh_host_end_test(mh_host *h, mh_error *error);

/*
 * The secrets the host knows (its conn.password, its type's passwords),
 * borrowed from it: a runner replaces them in what it logs and keeps.
 */
MH_EXPORT size_t mh_host_n_secrets(const mh_host *h);
MH_EXPORT const char *mh_host_secret(const mh_host *h, size_t i);

/* The host's SSH session (borrowed), or NULL before mh_host_connect(). */
MH_EXPORT mh_ssh *mh_host_ssh(mh_host *h);

/*
 * Call fn after each command run on the host's session (its type's, the
 * library's housekeeping and a test's alike), from the thread that ran
 * it; NULL: none.  The host keeps it for the session it connects, so it
 * may be set before mh_host_connect().  Set it while no other thread uses
 * the host.
 */
MH_EXPORT void mh_host_set_command_observer(mh_host *h, mh_command_fn fn, void *userdata);

/* The host's systemd over D-Bus (borrowed), opened on first use. */
MH_EXPORT struct mh_systemd *mh_host_systemd(mh_host *h, mh_error *error);

MH_EXPORT int mh_host_start(mh_host *h, mh_error *error);
MH_EXPORT int mh_host_stop(mh_host *h, mh_error *error);

/* Wait until the host's services are up, at most timeout_msec. */
MH_EXPORT int mh_host_ready(mh_host *h, unsigned timeout_msec, mh_error *error);

/*
 * Reboot h (a host with a kernel of its own; -EOPNOTSUPP for a container)
 * and wait, at most timeout_msec, until it answers with a new boot and
 * systemd is running (or degraded).  The run goes on: its lease is taken
 * again on the same run directory, its backups are kept.
 */
MH_EXPORT int mh_host_reboot(mh_host *h, unsigned timeout_msec, mh_error *error);

/* How far h's clock is ahead of this machine's (negative: behind), in
 * microseconds, as measured when it was connected (and after a reboot):
 * give or take half a round trip.  -ENODATA before. */
MH_EXPORT int mh_host_clock_offset(const mh_host *h, int64_t *ret_usec);

/* Take backup name of the host (replacing an earlier one of that name),
 * in run-ID/NAME on the host.  Names are made of A-Z a-z 0-9 _ . - and do
 * not start with '.' (else -EINVAL). */
MH_EXPORT int mh_host_backup(mh_host *h, const char *name, mh_error *error);

/* Put the host back as it was at backup name; options may be NULL. */
MH_EXPORT int mh_host_restore(mh_host *h, const char *name, const mh_restore_options *options,
                              mh_error *error);

/* Remove backup name from the host; -ENOENT if the host has none of that name. */
MH_EXPORT int mh_host_drop_backup(mh_host *h, const char *name, mh_error *error);

/* Whether the host holds backup name. */
MH_EXPORT int mh_host_has_backup(const mh_host *h, const char *name);

/*
 * The same for n hosts at once, in parallel: the time is that of the
 * slowest host, not the sum.  errors (n of them, may be NULL) get each
 * host's failure; the return value is the first failure's code, or 0.
 */
MH_EXPORT int mh_hosts_connect(mh_host *const *hosts, size_t n, mh_error *errors);
MH_EXPORT int mh_hosts_start(mh_host *const *hosts, size_t n, mh_error *errors);
MH_EXPORT int mh_hosts_stop(mh_host *const *hosts, size_t n, mh_error *errors);
MH_EXPORT int mh_hosts_ready(mh_host *const *hosts, size_t n, unsigned timeout_msec,
                             mh_error *errors);
MH_EXPORT int mh_hosts_backup(mh_host *const *hosts, size_t n, const char *name,
                              mh_error *errors);
MH_EXPORT int mh_hosts_restore(mh_host *const *hosts, size_t n, const char *name,
                               const mh_restore_options *options, mh_error *errors);
MH_EXPORT int mh_hosts_drop_backup(mh_host *const *hosts, size_t n, const char *name,
                                   mh_error *errors);

MH_END_DECLS

#endif
