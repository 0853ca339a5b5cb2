/* SPDX-License-Identifier: MIT */
#ifndef MHC_SYSTEMD_H
#define MHC_SYSTEMD_H

#include <stddef.h>

#include <mhc/common.h>
#include <mhc/error.h>
#include <mhc/ssh.h>

MH_BEGIN_DECLS

/*
 * A D-Bus connection to systemd (org.freedesktop.systemd1) on a host: an
 * sd_bus that speaks over an SSH channel running systemd-stdio-bridge on
 * the host.  Nothing parses systemctl's output.  Used by one thread at a
 * time.
 */
typedef struct mh_systemd mh_systemd;

/* Open the bus to the host behind s (s must outlive it).  A host without
 * /usr/bin/systemd-stdio-bridge gets a clear error. */
MH_EXPORT int mh_systemd_open(mh_ssh *s, mh_systemd **ret, mh_error *error);

/* Close (NULL is fine); returns NULL. */
MH_EXPORT mh_systemd *mh_systemd_free(mh_systemd *sd);

/*
 * Start, stop, restart or reload unit and wait until its job is done
 * (JobRemoved), at most timeout_msec (0: 90 s).  A failed job is an error
 * that names the unit, its Result and its last journal lines:
 * "unit 'x.service' failed to start (result: exit-code): <lines>".
 */
MH_EXPORT int mh_systemd_start_unit(mh_systemd *sd, const char *unit, unsigned timeout_msec,
                                    mh_error *error);
MH_EXPORT int mh_systemd_stop_unit(mh_systemd *sd, const char *unit, unsigned timeout_msec,
                                   mh_error *error);
MH_EXPORT int mh_systemd_restart_unit(mh_systemd *sd, const char *unit, unsigned timeout_msec,
                                      mh_error *error);
MH_EXPORT int mh_systemd_reload_unit(mh_systemd *sd, const char *unit, unsigned timeout_msec,
                                     mh_error *error);

/*
 * fd > 0: from now on, a wait for a job or for a unit to become active ends
 * at once with -ECANCELED ("cancelled: ...") when fd becomes readable; the
 * job goes on on the host.  0 or -1: none (the default).  The D-Bus calls
 * themselves are not interrupted (each is bounded by conn.command_timeout).
 */
MH_EXPORT void mh_systemd_set_cancel_fd(mh_systemd *sd, int fd);

/* Send signal to every process of unit (KillUnit, who=all). */
MH_EXPORT int mh_systemd_kill_unit(mh_systemd *sd, const char *unit, int signal,
                                   mh_error *error);

typedef struct mh_unit_state {
        char active_state[32];  /* "active", "inactive", "failed", ... */
        char sub_state[32];     /* "running", "dead", "exited", ... */
        char result[32];        /* "success", "exit-code", ... */
        char invocation_id[33]; /* 32 hex digits, or "" if never started */
} mh_unit_state;

/* Read the unit's ActiveState, SubState, Result and InvocationID.  An
 * unknown unit is -ENOENT ("unit 'x.service' does not exist"). */
MH_EXPORT int mh_systemd_get_unit(mh_systemd *sd, const char *unit, mh_unit_state *ret,
                                  mh_error *error);

/*
 * The state of n units at once, in two steps so that something else (a
 * command on the host) can run meanwhile: mh_systemd_query_units() sends
 * every request and waits for nothing, mh_unit_query_finish() waits for
 * the answers, fills states[n] (in the order of units) and frees q; both
 * cost one round trip together.  mh_unit_query_free() drops a query whose
 * answers are not wanted.
 */
typedef struct mh_unit_query mh_unit_query;

MH_EXPORT int mh_systemd_query_units(mh_systemd *sd, const char *const *units, size_t n,
                                     mh_unit_query **ret, mh_error *error);
MH_EXPORT int mh_unit_query_finish(mh_unit_query *q, mh_unit_state *states, mh_error *error);
MH_EXPORT mh_unit_query *mh_unit_query_free(mh_unit_query *q);

/* Wait until unit is active, at most timeout_msec; a unit that fails
 * meanwhile ends the wait with its Result. */
MH_EXPORT int mh_systemd_wait_active(mh_systemd *sd, const char *unit, unsigned timeout_msec,
                                     mh_error *error);

/* Forget that unit failed and reset its start rate limit (ResetFailedUnit),
 * so that a unit restarted after every test does not hit StartLimitBurst. */
MH_EXPORT int mh_systemd_reset_failed_unit(mh_systemd *sd, const char *unit, mh_error *error);

/* systemd's SystemState ("running", "degraded", ...) into buf. */
MH_EXPORT int mh_systemd_system_state(mh_systemd *sd, char *buf, size_t size, mh_error *error);

/* Make systemd reload its unit files (daemon-reload); returns when it is done. */
MH_EXPORT int mh_systemd_daemon_reload(mh_systemd *sd, mh_error *error);

MH_END_DECLS

#endif
