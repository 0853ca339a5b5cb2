/* SPDX-License-Identifier: MIT */
#ifndef MHC_HOST_H
#define MHC_HOST_H

#include <stddef.h>

#include <mhc/common.h>
#include <mhc/config.h>
#include <mhc/error.h>
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
 * "postgresql", "script") or "plugin:/path/to/type.so".  Checks the type's
 * `config:` settings; does not connect.  config must outlive the host.
 */
MH_EXPORT int mh_host_new(const mh_host_config *config, mh_host **ret, mh_error *error);

/* Disconnect and free (NULL is fine); backups on the host are kept until
 * dropped, or until the next run finds them stale.  Returns NULL. */
MH_EXPORT mh_host *mh_host_free(mh_host *h);

MH_EXPORT const char *mh_host_name(const mh_host *h);
MH_EXPORT const mh_host_config *mh_host_get_config(const mh_host *h);
MH_EXPORT const char *mh_host_type_name(const mh_host *h);

/*
 * Connect over SSH, take this run's lease on the host (its backup
 * directory under /var/lib/mhc/, mode 0700) and remove the backups of
 * runs that died.  Every other call below needs a connected host.
 */
MH_EXPORT int mh_host_connect(mh_host *h, mh_error *error);

/* The host's SSH session (borrowed), or NULL before mh_host_connect(). */
MH_EXPORT mh_ssh *mh_host_ssh(mh_host *h);

MH_EXPORT int mh_host_start(mh_host *h, mh_error *error);
MH_EXPORT int mh_host_stop(mh_host *h, mh_error *error);

/* Wait until the host's services are up, at most timeout_msec. */
MH_EXPORT int mh_host_ready(mh_host *h, unsigned timeout_msec, mh_error *error);

/* Take backup name of the host (replacing an earlier one of that name). */
MH_EXPORT int mh_host_backup(mh_host *h, const char *name, mh_error *error);

/* Put the host back as it was at backup name; options may be NULL. */
MH_EXPORT int mh_host_restore(mh_host *h, const char *name, const mh_restore_options *options,
                              mh_error *error);

/* Remove backup name from the host. */
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
