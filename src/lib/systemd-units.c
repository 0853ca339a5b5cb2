/* SPDX-License-Identifier: MIT */
/*
 * The state of systemd's units over D-Bus: one unit, several at once in
 * one round trip, and waiting for one to be active.
 */
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mhc/log.h>
#include <mhc/systemd.h>

#include "systemd-bus.h"
#include "util.h"

/* --- properties ---------------------------------------------------------- */

static int on_prop_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        prop_call *c = userdata;

        if (sd_bus_message_is_method_error(m, NULL))
                (void) sd_bus_error_copy(&c->error, sd_bus_message_get_error(m));
        else
                c->reply = sd_bus_message_ref(m);
        if (--c->batch->pending == 0)
                c->batch->done = true;
        return 0;
}

/* Send the n calls of properties of the object at path, counted in batch,
 * without waiting for the answers; slots[n] keep them. */
static int send_properties(mh_systemd *sd, const char *path, prop_call *calls, size_t n,
                           prop_batch *batch, sd_bus_slot **slots, mh_error *e) {
        uint64_t usec = systemd_call_usec(sd);
        int r;

        for (size_t i = 0; i < n; i++) {
                _cleanup_bus_message_ sd_bus_message *m = NULL;

                calls[i].batch = batch;
                r = sd_bus_message_new_method_call(sd->bus, &m, SYSTEMD_DESTINATION, path,
                                                   "org.freedesktop.DBus.Properties", "Get");
                if (r >= 0)
                        r = sd_bus_message_append(m, "ss", calls[i].interface, calls[i].name);
                if (r >= 0)
                        r = sd_bus_call_async(sd->bus, &slots[i], m, on_prop_reply, &calls[i],
                                              usec);
                if (r < 0)
                        return systemd_bus_fail(e, r, NULL, "cannot read unit properties");
                batch->pending++;
                batch->done = false;
        }
        return 0;
}

/* Wait until every call of batch has its answer. */
static int wait_properties(mh_systemd *sd, prop_batch *batch, uint64_t deadline, mh_error *e) {
        int r = systemd_run_until(sd, &batch->done, deadline, e);

        if (r == -ETIMEDOUT && !mh_error_is_set(e))
                r = mh_error_set(e, r, "cannot read unit properties: systemd did not answer in "
                                 "time");
        return r < 0 ? r : 0;
}

/*
 * Read n properties of the object at path with every request sent before
 * the first answer is awaited, so that they cost one round trip, not n.
 * Each call ends with either c->reply or c->error; the return value is
 * negative only when the bus failed.
 */
int systemd_get_properties(mh_systemd *sd, const char *path, prop_call *calls, size_t n,
                          mh_error *e) {
        sd_bus_slot *slots[8] = {};
        uint64_t deadline = mh_now_usec() + systemd_call_usec(sd);
        prop_batch batch = { .done = true };
        int r;

        assert(n <= ELEMENTSOF(slots));
        r = send_properties(sd, path, calls, n, &batch, slots, e);
        if (r >= 0)
                r = wait_properties(sd, &batch, deadline, e);
        for (size_t i = 0; i < n; i++)
                sd_bus_slot_unref(slots[i]);
        return r;
}

void systemd_prop_call_dispose(prop_call *calls, size_t n) {
        for (size_t i = 0; i < n; i++) {
                sd_bus_message_unref(calls[i].reply);
                sd_bus_error_free(&calls[i].error);
        }
}

/* The string inside a Get reply (a variant of s) into buf; "" if it holds none. */
int systemd_read_string(sd_bus_message *reply, char *buf, size_t size) {
        const char *s = NULL;
        int r;

        buf[0] = '\0';
        r = sd_bus_message_read(reply, "v", "s", &s);
        if (r < 0)
                return r;
        snprintf(buf, size, "%s", strempty(s));
        return 0;
}

/* The 16 bytes of a Get reply (a variant of ay) as 32 hex digits; "" if empty. */
static int read_id128(sd_bus_message *reply, char buf[static 33]) {
        const uint8_t *p = NULL;
        size_t size = 0;
        int r;

        buf[0] = '\0';
        r = sd_bus_message_enter_container(reply, 'v', "ay");
        if (r < 0)
                return r;
        r = sd_bus_message_read_array(reply, 'y', (const void **) &p, &size);
        if (r < 0)
                return r;
        if (size == 16)
                for (size_t i = 0; i < 16; i++)
                        snprintf(buf + 2 * i, 3, "%02x", p[i]);
        return sd_bus_message_exit_container(reply);
}

/* The interface that holds the Result property of unit's type, or NULL. */
static const char *result_interface(const char *unit) {
        static const struct {
                const char *suffix;
                const char *interface;
        } table[] = {
                { ".service", "org.freedesktop.systemd1.Service" },
                { ".socket", "org.freedesktop.systemd1.Socket" },
                { ".mount", "org.freedesktop.systemd1.Mount" },
                { ".swap", "org.freedesktop.systemd1.Swap" },
                { ".timer", "org.freedesktop.systemd1.Timer" },
                { ".path", "org.freedesktop.systemd1.Path" },
                { ".automount", "org.freedesktop.systemd1.Automount" },
                { ".scope", "org.freedesktop.systemd1.Scope" },
        };
        const char *dot = strrchr(unit, '.');

        for (size_t i = 0; dot && i < ELEMENTSOF(table); i++)
                if (streq(dot, table[i].suffix))
                        return table[i].interface;
        return NULL;
}

/* The calls that read a unit's state: 4, or 5 with its Result. */
#define UNIT_CALLS 5

static size_t unit_calls(const char *unit, prop_call calls[static UNIT_CALLS]) {
        static const char *const names[] = { "LoadState", "ActiveState", "SubState",
                                             "InvocationID" };

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                calls[i] = (prop_call) { .interface = UNIT_INTERFACE, .name = names[i] };
        calls[4] = (prop_call) { .interface = result_interface(unit), .name = "Result" };
        return calls[4].interface ? 5 : 4;
}

/* The unit's state from the answers to its n calls. */
static int parse_unit(const char *unit, prop_call *calls, size_t n, mh_unit_state *ret,
                      mh_error *e) {
        mh_unit_state st = {};
        char load_state[32] = "", what[300];
        int r;

        snprintf(what, sizeof(what), "cannot read the state of unit '%s'", unit);
        /* Result only exists for some unit types; the rest must be there. */
        for (size_t i = 0; i < 4; i++)
                if (calls[i].error.name)
                        return systemd_bus_fail(e, -EIO, &calls[i].error, what);

        if ((r = systemd_read_string(calls[0].reply, load_state, sizeof(load_state))) < 0 ||
            (r = systemd_read_string(calls[1].reply, st.active_state, sizeof(st.active_state))) < 0 ||
            (r = systemd_read_string(calls[2].reply, st.sub_state, sizeof(st.sub_state))) < 0 ||
            (r = read_id128(calls[3].reply, st.invocation_id)) < 0 ||
            (n > 4 && calls[4].reply &&
             (r = systemd_read_string(calls[4].reply, st.result, sizeof(st.result))) < 0))
                return mh_error_set(e, -MH_ERR_REMOTE,
                                    "%s: systemd sent an unexpected reply (%s)", what,
                                    strerror(-r));

        if (streq(load_state, "not-found") && streq(st.active_state, "inactive"))
                return mh_error_set(e, -ENOENT, "unit '%s' does not exist", unit);
        *ret = st;
        return 0;
}

int systemd_get_unit_impl(mh_systemd *sd, const char *unit, mh_unit_state *ret, mh_error *e) {
        prop_call calls[UNIT_CALLS];
        size_t n = unit_calls(unit, calls);
        _cleanup_free_ char *path = NULL;
        int r;

        r = sd_bus_path_encode(UNIT_PATH_PREFIX, unit, &path);
        if (r < 0)
                return mh_error_set(e, r, "cannot read the state of unit '%s': out of memory",
                                    unit);
        r = systemd_get_properties(sd, path, calls, n, e);
        if (r >= 0)
                r = parse_unit(unit, calls, n, ret, e);
        systemd_prop_call_dispose(calls, n);
        return r;
}

/* --- several units at once ----------------------------------------------- */

typedef struct unit_query_entry {
        char *unit;
        prop_call calls[UNIT_CALLS];
        sd_bus_slot *slots[UNIT_CALLS];
        size_t n_calls;
} unit_query_entry;

struct mh_unit_query {
        mh_systemd *sd;
        prop_batch batch;
        uint64_t deadline;
        size_t n;
        unit_query_entry entries[];
};

mh_unit_query *mh_unit_query_free(mh_unit_query *q) {
        if (!q)
                return NULL;
        for (size_t i = 0; i < q->n; i++) {
                unit_query_entry *u = &q->entries[i];

                for (size_t j = 0; j < u->n_calls; j++)
                        sd_bus_slot_unref(u->slots[j]);
                systemd_prop_call_dispose(u->calls, u->n_calls);
                free(u->unit);
        }
        free(q);
        return NULL;
}

static void mh_unit_query_freep(mh_unit_query **q) {
        mh_unit_query_free(*q);
}

static int query_units_impl(mh_systemd *sd, const char *const *units, size_t n,
                            mh_unit_query **ret, mh_error *e) {
        _cleanup_(mh_unit_query_freep) mh_unit_query *q = NULL;
        int r;

        r = systemd_drain(sd, e);
        if (r < 0)
                return r;
        q = calloc(1, sizeof(*q) + n * sizeof(unit_query_entry));
        if (!q)
                return mh_error_oom(e);
        q->sd = sd;
        q->batch.done = true;
        q->deadline = mh_now_usec() + systemd_call_usec(sd);
        for (size_t i = 0; i < n; i++) {
                unit_query_entry *u = &q->entries[i];
                _cleanup_free_ char *path = NULL;

                q->n = i + 1;
                u->unit = strdup(units[i]);
                if (!u->unit || sd_bus_path_encode(UNIT_PATH_PREFIX, units[i], &path) < 0)
                        return mh_error_oom(e);
                u->n_calls = unit_calls(units[i], u->calls);
                r = send_properties(sd, path, u->calls, u->n_calls, &q->batch, u->slots, e);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(q);
        return 0;
}

int mh_systemd_query_units(mh_systemd *sd, const char *const *units, size_t n,
                           mh_unit_query **ret, mh_error *error) {
        mh_error e = MH_ERROR_INIT;
        int r;

        if (!sd || (n > 0 && !units) || !ret)
                return mh_error_set(error, -EINVAL, "mh_systemd_query_units: invalid argument");
        for (size_t i = 0; i < n; i++)
                if (!units[i] || !*units[i])
                        return mh_error_set(error, -EINVAL,
                                            "mh_systemd_query_units: invalid argument");
        r = query_units_impl(sd, units, n, ret, &e);
        if (r < 0)
                return systemd_fail(r, &e, error);
        return 0;
}

int mh_unit_query_finish(mh_unit_query *q, mh_unit_state *states, mh_error *error) {
        mh_error e = MH_ERROR_INIT;
        int r;

        if (!q || (q->n > 0 && !states)) {
                mh_unit_query_free(q);
                return mh_error_set(error, -EINVAL, "mh_unit_query_finish: invalid argument");
        }
        r = wait_properties(q->sd, &q->batch, q->deadline, &e);
        for (size_t i = 0; r >= 0 && i < q->n; i++) {
                unit_query_entry *u = &q->entries[i];

                r = parse_unit(u->unit, u->calls, u->n_calls, &states[i], &e);
                if (r >= 0)
                        mh_log(MH_LOG_DEBUG, systemd_hostname(q->sd), "unit '%s': %s/%s result %s",
                               u->unit, states[i].active_state, states[i].sub_state,
                               states[i].result[0] ? states[i].result : "-");
        }
        mh_unit_query_free(q);
        if (r < 0)
                return systemd_fail(r, &e, error);
        return 0;
}

int mh_systemd_get_unit(mh_systemd *sd, const char *unit, mh_unit_state *ret, mh_error *error) {
        mh_error e = MH_ERROR_INIT;
        mh_unit_state st;
        int r;

        if (!sd || !unit || !*unit || !ret)
                return mh_error_set(error, -EINVAL, "mh_systemd_get_unit: invalid argument");
        r = systemd_drain(sd, &e);
        if (r >= 0)
                r = systemd_get_unit_impl(sd, unit, &st, &e);
        if (r < 0)
                return systemd_fail(r, &e, error);
        mh_log(MH_LOG_DEBUG, systemd_hostname(sd), "unit '%s': %s/%s result %s", unit, st.active_state,
               st.sub_state, st.result[0] ? st.result : "-");
        *ret = st;
        return 0;
}

/* Sleep usec; true when cancel_fd became readable meanwhile. */
static bool sleep_or_cancel(mh_systemd *sd, uint64_t usec) {
        struct pollfd p = { .fd = sd->cancel_fd, .events = POLLIN };

        if (sd->cancel_fd <= 0) {
                usleep((useconds_t) usec);
                return false;
        }
        return poll(&p, 1, (int) ((usec + 999) / 1000)) > 0 && (p.revents & POLLIN);
}

static int wait_active_impl(mh_systemd *sd, const char *unit, unsigned timeout_msec,
                            mh_error *e) {
        uint64_t deadline = mh_now_usec() + (uint64_t) timeout_msec * 1000u;
        uint64_t interval = WAIT_POLL_MIN_USEC;
        char journal[JOURNAL_SHOWN_MAX + 1];
        mh_unit_state st;
        int r;

        for (;;) {
                uint64_t now;

                r = systemd_get_unit_impl(sd, unit, &st, e);
                if (r < 0)
                        return r;
                if (streq(st.active_state, "active"))
                        return 0;
                if (streq(st.active_state, "failed")) {
                        systemd_journal_tail(sd, unit, journal, sizeof(journal));
                        return mh_error_set(e, -MH_ERR_COMMAND, "unit '%s' failed (result: %s)%s%s",
                                            unit, st.result[0] ? st.result : "unknown",
                                            journal[0] ? ": " : "", journal);
                }
                now = mh_now_usec();
                if (now >= deadline)
                        return mh_error_set(e, -ETIMEDOUT,
                                            "unit '%s' did not become active within %.3g s "
                                            "(it is %s/%s)",
                                            unit, timeout_msec / 1000.0, st.active_state,
                                            st.sub_state);
                if (interval > deadline - now)
                        interval = deadline - now;
                if (sleep_or_cancel(sd, interval))
                        return mh_error_set(e, -ECANCELED,
                                            "cancelled: waiting for unit '%s' to become active",
                                            unit);
                if (interval < WAIT_POLL_MAX_USEC)
                        interval *= 2;
        }
}

int mh_systemd_wait_active(mh_systemd *sd, const char *unit, unsigned timeout_msec,
                           mh_error *error) {
        mh_error e = MH_ERROR_INIT;
        int r;

        if (!sd || !unit || !*unit)
                return mh_error_set(error, -EINVAL, "mh_systemd_wait_active: invalid argument");
        if (timeout_msec == 0)
                timeout_msec = JOB_TIMEOUT_MSEC_DEFAULT;
        r = systemd_drain(sd, &e);
        if (r >= 0)
                r = wait_active_impl(sd, unit, timeout_msec, &e);
        if (r < 0)
                return systemd_fail(r, &e, error);
        return 0;
}

