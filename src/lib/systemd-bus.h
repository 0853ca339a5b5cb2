/* SPDX-License-Identifier: MIT */
/*
 * What the files of systemd over D-Bus (systemd.c: the connection and the
 * jobs; systemd-units.c: the state of units) share.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-bus.h>

#include <mhc/error.h>
#include <mhc/systemd.h>

#include "macro.h"
#include "tunnel.h"

#define SYSTEMD_DESTINATION "org.freedesktop.systemd1"
#define SYSTEMD_PATH        "/org/freedesktop/systemd1"
#define MANAGER_INTERFACE   "org.freedesktop.systemd1.Manager"
#define UNIT_INTERFACE      "org.freedesktop.systemd1.Unit"
#define UNIT_PATH_PREFIX    "/org/freedesktop/systemd1/unit"

#define JOB_TIMEOUT_MSEC_DEFAULT 90000u
#define JOURNAL_LINES            10
#define JOURNAL_SHOWN_MAX        600u    /* bytes of journal lines in a message */
#define WAIT_POLL_MIN_USEC       10000u  /* wait_active polls this often at first */
#define WAIT_POLL_MAX_USEC       250000u /* and backs off to this */

struct mh_systemd {
        mh_ssh *ssh;
        const mh_host_config *host;
        sd_bus *bus;
        mh_tunnel *tunnel; /* the bridge's; the bus has a dup of its socket */
        bool subscribed; /* Subscribe called and the JobRemoved match added */
        int cancel_fd;   /* > 0: readable ends the waits (mh_systemd_set_cancel_fd()) */

        /* the job being waited for; JobRemoved fills the rest */
        const char *job_path;
        bool job_done;
        char job_result[32];
};

static inline void sd_bus_messagep(sd_bus_message **m) {
        sd_bus_message_unref(*m);
}

#define _cleanup_bus_message_ _cleanup_(sd_bus_messagep)
#define _cleanup_bus_error_   _cleanup_(sd_bus_error_free)

/* The host's name, for the log. */
const char *systemd_hostname(const mh_systemd *sd);
/* Hand an internal failure to the caller's error object as it is. */
int systemd_fail(int r, const mh_error *e, mh_error *error);
/* How long a D-Bus call may take: the host's command timeout. */
uint64_t systemd_call_usec(const mh_systemd *sd);
/* A failure of the bus (r) or of a call (be) while doing what, into e. */
int systemd_bus_fail(mh_error *e, int r, const sd_bus_error *be, const char *what);
/* Handle what is queued without waiting. */
int systemd_drain(mh_systemd *sd, mh_error *e);
/* Process the bus until *done or deadline; -ETIMEDOUT and -ECANCELED without a message. */
int systemd_run_until(mh_systemd *sd, const bool *done, uint64_t deadline, mh_error *e);

/*
 * The unit's last journal lines on one line, joined with " | ", cut to a
 * few hundred bytes; "" if there are none or they cannot be read.
 */
void systemd_journal_tail(mh_systemd *sd, const char *unit, char *buf, size_t size);

/* --- properties (systemd-units.c) --- */

typedef struct prop_batch {
        size_t pending;
        bool done; /* pending is 0 */
} prop_batch;

typedef struct prop_call {
        const char *interface;
        const char *name;
        sd_bus_message *reply;
        sd_bus_error error;
        prop_batch *batch;
} prop_call;

/*
 * Read n properties of the object at path with every request sent before
 * the first answer is awaited, so that they cost one round trip, not n.
 * Each call ends with either c->reply or c->error; the return value is
 * negative only when the bus failed.
 */
int systemd_get_properties(mh_systemd *sd, const char *path, prop_call *calls, size_t n,
                           mh_error *e);
void systemd_prop_call_dispose(prop_call *calls, size_t n);
/* The string in a property's reply, into buf. */
int systemd_read_string(sd_bus_message *reply, char *buf, size_t size);
/* The unit's state, in one round trip. */
int systemd_get_unit_impl(mh_systemd *sd, const char *unit, mh_unit_state *ret, mh_error *e);
