/* SPDX-License-Identifier: MIT */
/*
 * systemd on a host through D-Bus: an sd_bus speaks to
 * org.freedesktop.systemd1 over an SSH tunnel (mh_tunnel_open()) that runs
 * systemd-stdio-bridge on the host, as `systemctl -H` does over ssh(1).
 *
 * Every public function works on a private mh_error and hands a failure to
 * the caller through fail(); no message names the host (the host layer
 * does).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>

#include <systemd/sd-bus.h>

#include <mhc/log.h>
#include <mhc/shell.h>
#include <mhc/ssh.h>
#include <mhc/systemd.h>

#include "tunnel.h"
#include "util.h"

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

typedef enum job_kind {
        JOB_START,
        JOB_STOP,
        JOB_RESTART,
        JOB_RELOAD,
} job_kind;

static const struct {
        const char *method;
        const char *verb;
} jobs[] = {
        [JOB_START] = { "StartUnit", "start" },
        [JOB_STOP] = { "StopUnit", "stop" },
        [JOB_RESTART] = { "RestartUnit", "restart" },
        [JOB_RELOAD] = { "ReloadUnit", "reload" },
};

static void sd_bus_messagep(sd_bus_message **m) {
        sd_bus_message_unref(*m);
}

#define _cleanup_bus_message_ _cleanup_(sd_bus_messagep)
#define _cleanup_bus_error_   _cleanup_(sd_bus_error_free)

static const char *hostname(const mh_systemd *sd) {
        return mh_host_config_hostname(sd->host);
}

/* Hand an internal failure to the caller's error object as it is. */
static int fail(int r, const mh_error *e, mh_error *error) {
        return mh_error_set(error, r, "%s", mh_error_message(e, r));
}

static uint64_t call_usec(const mh_systemd *sd) {
        unsigned sec = mh_host_config_command_timeout(sd->host);

        return (uint64_t) (sec > 0 ? sec : 60) * 1000000u;
}

static bool is_disconnect(int r) {
        return r == -ECONNRESET || r == -ENOTCONN || r == -EPIPE || r == -ESHUTDOWN ||
               r == -ECONNREFUSED;
}

/* Copy the D-Bus error's message without its final period ("Unit x not found."). */
static void format_bus_message(const sd_bus_error *be, char *buf, size_t size) {
        size_t n;

        snprintf(buf, size, "%s", be->message && be->message[0] ? be->message : be->name);
        n = strlen(buf);
        if (n > 0 && buf[n - 1] == '.')
                buf[n - 1] = '\0';
}

/*
 * Describe a failed bus operation: "<what>: <why>", where why is systemd's
 * own message when it sent one, else what happened to the connection.
 */
static int bus_fail(mh_error *e, int r, const sd_bus_error *be, const char *what) {
        char message[512];
        int code;

        if (be && sd_bus_error_is_set(be)) {
                format_bus_message(be, message, sizeof(message));
                if (sd_bus_error_has_names(be, SD_BUS_ERROR_NO_REPLY, SD_BUS_ERROR_TIMEOUT))
                        return mh_error_set(e, -ETIMEDOUT, "%s: systemd did not answer in time",
                                            what);
                if (sd_bus_error_has_name(be, SD_BUS_ERROR_ACCESS_DENIED))
                        return mh_error_set(e, -EACCES,
                                            "%s: %s (log in as a user that may manage systemd, "
                                            "e.g. root)",
                                            what, message);
                code = sd_bus_error_get_errno(be);
                return mh_error_set(e, code > 0 ? -code : -MH_ERR_COMMAND, "%s: %s", what,
                                    message);
        }
        if (r == -ETIMEDOUT)
                return mh_error_set(e, r, "%s: systemd did not answer in time", what);
        if (is_disconnect(r))
                return mh_error_set(e, -MH_ERR_SSH,
                                    "%s: the D-Bus connection over SSH (systemd-stdio-bridge) "
                                    "was lost",
                                    what);
        return mh_error_set(e, r, "%s: D-Bus error: %s", what, strerror(-r));
}

/* Handle what is queued (signals of finished jobs) without waiting. */
static int drain(mh_systemd *sd, mh_error *e) {
        int r;

        while ((r = sd_bus_process(sd->bus, NULL)) > 0)
                ;
        if (r < 0)
                return bus_fail(e, r, NULL, "cannot talk to systemd");
        return 0;
}

/*
 * Sleep until the bus has something, deadline or, with a cancel_fd, until
 * that is readable (-ECANCELED without a message).
 */
static int wait_bus(mh_systemd *sd, uint64_t deadline) {
        struct pollfd p[2] = {
                { .fd = sd_bus_get_fd(sd->bus) },
                { .fd = sd->cancel_fd, .events = POLLIN },
        };
        uint64_t now = mh_now_usec(), until = deadline, bus_until;
        int r;

        if (sd->cancel_fd <= 0)
                return sd_bus_wait(sd->bus, deadline - now);
        r = sd_bus_get_events(sd->bus);
        if (p[0].fd < 0 || r < 0)
                return p[0].fd < 0 ? p[0].fd : r;
        p[0].events = (short) r;
        if (sd_bus_get_timeout(sd->bus, &bus_until) >= 0 && bus_until < until)
                until = bus_until;
        until = until > now ? (until - now + 999) / 1000 : 0;
        r = poll(p, 2, until > 1000 ? 1000 : (int) until);
        if (r < 0)
                return -errno;
        return p[1].revents & POLLIN ? -ECANCELED : 0;
}

/* Process the bus until *done or deadline; -ETIMEDOUT and -ECANCELED without a message. */
static int run_until(mh_systemd *sd, const bool *done, uint64_t deadline, mh_error *e) {
        int r;

        while (!*done) {
                uint64_t now;

                r = sd_bus_process(sd->bus, NULL);
                if (r < 0)
                        return bus_fail(e, r, NULL, "cannot talk to systemd");
                if (r > 0)
                        continue;
                now = mh_now_usec();
                if (now >= deadline)
                        return -ETIMEDOUT;
                r = wait_bus(sd, deadline);
                if (r == -ECANCELED)
                        return r;
                if (r < 0 && r != -EINTR)
                        return bus_fail(e, r, NULL, "cannot talk to systemd");
        }
        return 0;
}

/* Call Manager.method and return its reply. */
static int call_manager(mh_systemd *sd, const char *method, uint64_t usec, sd_bus_message **ret,
                        sd_bus_error *ret_error, const char *types, ...) {
        _cleanup_bus_message_ sd_bus_message *m = NULL;
        va_list ap;
        int r;

        r = sd_bus_message_new_method_call(sd->bus, &m, SYSTEMD_DESTINATION, SYSTEMD_PATH,
                                           MANAGER_INTERFACE, method);
        if (r < 0)
                return r;
        if (types) {
                va_start(ap, types);
                r = sd_bus_message_appendv(m, types, ap);
                va_end(ap);
                if (r < 0)
                        return r;
        }
        return sd_bus_call(sd->bus, m, usec, ret_error, ret);
}

/* --- properties ---------------------------------------------------------- */

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
        uint64_t usec = call_usec(sd);
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
                        return bus_fail(e, r, NULL, "cannot read unit properties");
                batch->pending++;
                batch->done = false;
        }
        return 0;
}

/* Wait until every call of batch has its answer. */
static int wait_properties(mh_systemd *sd, prop_batch *batch, uint64_t deadline, mh_error *e) {
        int r = run_until(sd, &batch->done, deadline, e);

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
static int get_properties(mh_systemd *sd, const char *path, prop_call *calls, size_t n,
                          mh_error *e) {
        sd_bus_slot *slots[8] = {};
        uint64_t deadline = mh_now_usec() + call_usec(sd);
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

static void prop_call_dispose(prop_call *calls, size_t n) {
        for (size_t i = 0; i < n; i++) {
                sd_bus_message_unref(calls[i].reply);
                sd_bus_error_free(&calls[i].error);
        }
}

/* The string inside a Get reply (a variant of s) into buf; "" if it holds none. */
static int read_string(sd_bus_message *reply, char *buf, size_t size) {
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
                        return bus_fail(e, -EIO, &calls[i].error, what);

        if ((r = read_string(calls[0].reply, load_state, sizeof(load_state))) < 0 ||
            (r = read_string(calls[1].reply, st.active_state, sizeof(st.active_state))) < 0 ||
            (r = read_string(calls[2].reply, st.sub_state, sizeof(st.sub_state))) < 0 ||
            (r = read_id128(calls[3].reply, st.invocation_id)) < 0 ||
            (n > 4 && calls[4].reply &&
             (r = read_string(calls[4].reply, st.result, sizeof(st.result))) < 0))
                return mh_error_set(e, -MH_ERR_REMOTE,
                                    "%s: systemd sent an unexpected reply (%s)", what,
                                    strerror(-r));

        if (streq(load_state, "not-found") && streq(st.active_state, "inactive"))
                return mh_error_set(e, -ENOENT, "unit '%s' does not exist", unit);
        *ret = st;
        return 0;
}

static int get_unit_impl(mh_systemd *sd, const char *unit, mh_unit_state *ret, mh_error *e) {
        prop_call calls[UNIT_CALLS];
        size_t n = unit_calls(unit, calls);
        _cleanup_free_ char *path = NULL;
        int r;

        r = sd_bus_path_encode(UNIT_PATH_PREFIX, unit, &path);
        if (r < 0)
                return mh_error_set(e, r, "cannot read the state of unit '%s': out of memory",
                                    unit);
        r = get_properties(sd, path, calls, n, e);
        if (r >= 0)
                r = parse_unit(unit, calls, n, ret, e);
        prop_call_dispose(calls, n);
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
                prop_call_dispose(u->calls, u->n_calls);
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

        r = drain(sd, e);
        if (r < 0)
                return r;
        q = calloc(1, sizeof(*q) + n * sizeof(unit_query_entry));
        if (!q)
                return mh_error_oom(e);
        q->sd = sd;
        q->batch.done = true;
        q->deadline = mh_now_usec() + call_usec(sd);
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
                return fail(r, &e, error);
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
                        mh_log(MH_LOG_DEBUG, hostname(q->sd), "unit '%s': %s/%s result %s",
                               u->unit, states[i].active_state, states[i].sub_state,
                               states[i].result[0] ? states[i].result : "-");
        }
        mh_unit_query_free(q);
        if (r < 0)
                return fail(r, &e, error);
        return 0;
}

/* --- journal ------------------------------------------------------------- */

/* Append c (control characters as spaces) to buf unless it is full. */
static bool put_char(char *buf, size_t size, size_t *n, char c) {
        if (*n + 1 >= size)
                return false;
        buf[(*n)++] = (unsigned char) c < ' ' ? ' ' : c;
        return true;
}

/*
 * The unit's last journal lines on one line, joined with " | ", cut to
 * JOURNAL_SHOWN_MAX bytes; "" if there are none or they cannot be read.
 */
static void journal_tail(mh_systemd *sd, const char *unit, char *buf, size_t size) {
        _cleanup_free_ char *quoted = NULL, *command = NULL;
        mh_exec_options o = { .timeout_msec = 10000, .max_output = 64u << 10 };
        mh_exec_result res = {};
        mh_error e = MH_ERROR_INIT;
        bool cut = false;
        size_t n = 0;
        int r;

        buf[0] = '\0';
        if (mh_shell_quote(unit, &quoted) < 0 ||
            asprintf(&command, "journalctl -u %s -n %d --no-pager -o cat", quoted,
                     JOURNAL_LINES) < 0) {
                command = NULL;
                return;
        }
        r = mh_ssh_exec(sd->ssh, command, &o, &res, &e);
        if (r < 0 || res.exit_status != 0) {
                mh_log(MH_LOG_DEBUG, hostname(sd), "cannot read the journal of '%s': %s", unit,
                       r < 0 ? mh_error_message(&e, r) : strempty(res.err));
                mh_exec_result_dispose(&res);
                return;
        }

        if (size > JOURNAL_SHOWN_MAX + 1)
                size = JOURNAL_SHOWN_MAX + 1;
        for (char *line = res.out, *next; line && *line && !cut; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                if (!*line)
                        continue;
                for (const char *p = n > 0 ? " | " : ""; *p && !cut; p++)
                        cut = !put_char(buf, size, &n, *p);
                for (const char *p = line; *p && !cut; p++)
                        cut = !put_char(buf, size, &n, *p);
        }
        buf[n] = '\0';
        if (cut && size > 4)
                memcpy(buf + size - 4, "...", 4);
        mh_exec_result_dispose(&res);
}

/* --- jobs ---------------------------------------------------------------- */

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        mh_systemd *sd = userdata;
        const char *path = NULL, *unit = NULL, *result = NULL;
        uint32_t id;

        if (sd_bus_message_read(m, "uoss", &id, &path, &unit, &result) < 0)
                return 0;
        if (sd->job_path && streq(path, sd->job_path)) {
                snprintf(sd->job_result, sizeof(sd->job_result), "%s", result);
                sd->job_done = true;
        }
        return 0;
}

/* Ask systemd for job signals once per connection, matching JobRemoved first. */
static int subscribe(mh_systemd *sd, mh_error *e) {
        _cleanup_bus_error_ sd_bus_error be = SD_BUS_ERROR_NULL;
        int r;

        if (sd->subscribed)
                return 0;
        r = sd_bus_match_signal(sd->bus, NULL, SYSTEMD_DESTINATION, SYSTEMD_PATH,
                                MANAGER_INTERFACE, "JobRemoved", on_job_removed, sd);
        if (r < 0)
                return bus_fail(e, r, NULL, "cannot watch systemd's jobs");
        r = call_manager(sd, "Subscribe", call_usec(sd), NULL, &be, NULL);
        if (r < 0)
                return bus_fail(e, r, &be, "cannot subscribe to systemd's jobs");
        sd->subscribed = true;
        return 0;
}

/* The failure of a job that ended with result: names the unit, its Result and its journal. */
static int job_failed(mh_systemd *sd, job_kind kind, const char *unit, const char *result,
                      mh_error *e) {
        mh_error ignored = MH_ERROR_INIT;
        mh_unit_state st = {};
        char journal[JOURNAL_SHOWN_MAX + 1];
        const char *verb = jobs[kind].verb;

        if (streq(result, "canceled"))
                return mh_error_set(e, -ECANCELED,
                                    "the %s job of unit '%s' was canceled (another job replaced it)",
                                    verb, unit);

        if (get_unit_impl(sd, unit, &st, &ignored) < 0)
                st.result[0] = '\0';
        journal_tail(sd, unit, journal, sizeof(journal));

        if (streq(result, "failed") && st.result[0])
                return mh_error_set(e, -MH_ERR_COMMAND, "unit '%s' failed to %s (result: %s)%s%s",
                                    unit, verb, st.result, journal[0] ? ": " : "", journal);
        if (streq(result, "dependency"))
                return mh_error_set(e, -MH_ERR_COMMAND,
                                    "unit '%s' failed to %s: a unit it depends on failed "
                                    "(result: dependency)%s%s",
                                    unit, verb, journal[0] ? ": " : "", journal);
        return mh_error_set(e, streq(result, "timeout") ? -ETIMEDOUT : -MH_ERR_COMMAND,
                            "unit '%s' failed to %s (result: %s)%s%s", unit, verb, result,
                            journal[0] ? ": " : "", journal);
}

static bool is_service(const char *unit) {
        size_t n = strlen(unit);

        return n > 8 && streq(unit + n - 8, ".service");
}

/* Translate the refusal of a job request into a message about the unit. */
static int job_refused(job_kind kind, const char *unit, int r, const sd_bus_error *be,
                       mh_error *e) {
        char what[300], message[512];

        if (sd_bus_error_has_names(be, "org.freedesktop.systemd1.NoSuchUnit",
                                   "org.freedesktop.systemd1.LoadFailed") ||
            (be->name && sd_bus_error_get_errno(be) == ENOENT))
                return mh_error_set(e, -ENOENT, "unit '%s' does not exist", unit);
        if (sd_bus_error_has_name(be, "org.freedesktop.systemd1.JobTypeNotApplicable")) {
                format_bus_message(be, message, sizeof(message));
                return mh_error_set(e, -EOPNOTSUPP, "unit '%s' cannot %s%s (%s)", unit,
                                    jobs[kind].verb,
                                    kind == JOB_RELOAD && is_service(unit)
                                            ? ": it has no ExecReload="
                                            : "",
                                    message);
        }
        snprintf(what, sizeof(what), "cannot %s unit '%s'", jobs[kind].verb, unit);
        return bus_fail(e, r, be, what);
}

static int run_job(mh_systemd *sd, job_kind kind, const char *unit, unsigned timeout_msec,
                   mh_error *e) {
        _cleanup_bus_error_ sd_bus_error be = SD_BUS_ERROR_NULL;
        _cleanup_bus_message_ sd_bus_message *reply = NULL;
        uint64_t start = mh_now_usec(), deadline;
        const char *path = NULL;
        char seconds[32];
        int r;

        if (timeout_msec == 0)
                timeout_msec = JOB_TIMEOUT_MSEC_DEFAULT;
        deadline = start + (uint64_t) timeout_msec * 1000u;

        r = drain(sd, e);
        if (r < 0)
                return r;
        r = subscribe(sd, e);
        if (r < 0)
                return r;

        r = call_manager(sd, jobs[kind].method, deadline - mh_now_usec(), &reply, &be, "ss", unit,
                         "replace");
        if (r < 0)
                return job_refused(kind, unit, r, &be, e);
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return mh_error_set(e, -MH_ERR_REMOTE,
                                    "systemd sent an unexpected reply to %s: %s",
                                    jobs[kind].method, strerror(-r));

        sd->job_path = path;
        sd->job_done = false;
        sd->job_result[0] = '\0';
        r = run_until(sd, &sd->job_done, deadline, e);
        sd->job_path = NULL;
        if (r == -ETIMEDOUT && !mh_error_is_set(e)) {
                snprintf(seconds, sizeof(seconds), "%.3g s", timeout_msec / 1000.0);
                return mh_error_set(e, r, "unit '%s' did not finish its %s job within %s", unit,
                                    jobs[kind].verb, seconds);
        }
        if (r == -ECANCELED && !mh_error_is_set(e))
                return mh_error_set(e, r, "cancelled: the %s job of unit '%s'", jobs[kind].verb,
                                    unit);
        if (r < 0)
                return r;

        mh_log(MH_LOG_DEBUG, hostname(sd), "%s '%s': %s in %.1f ms", jobs[kind].method, unit,
               sd->job_result, (double) (mh_now_usec() - start) / 1000.0);
        if (!streq(sd->job_result, "done"))
                return job_failed(sd, kind, unit, sd->job_result, e);
        return 0;
}

static int job(mh_systemd *sd, job_kind kind, const char *unit, unsigned timeout_msec,
               mh_error *error) {
        mh_error e = MH_ERROR_INIT;
        int r;

        if (!sd || !unit || !*unit)
                return mh_error_set(error, -EINVAL, "mh_systemd_%s_unit: invalid argument",
                                    jobs[kind].verb);
        r = run_job(sd, kind, unit, timeout_msec, &e);
        if (r < 0)
                return fail(r, &e, error);
        return 0;
}

/* --- public -------------------------------------------------------------- */

/* The path of systemd-stdio-bridge on the host, for exec'ing it directly. */
static int find_bridge(mh_ssh *s, char **ret, mh_error *e) {
        static const char script[] =
                "command -v systemd-stdio-bridge && exit 0; "
                "for p in /usr/bin/systemd-stdio-bridge /usr/lib/systemd/systemd-stdio-bridge "
                "/lib/systemd/systemd-stdio-bridge; do "
                "if test -x \"$p\"; then echo \"$p\"; exit 0; fi; done; exit 1";
        mh_exec_options o = { .timeout_msec = 30000, .max_output = 4096 };
        mh_exec_result res = {};
        char *path;
        int r;

        r = mh_ssh_exec(s, script, &o, &res, e);
        if (r < 0)
                return r;
        res.out[strcspn(res.out, "\n")] = '\0';
        if (res.exit_status != 0 || res.out[0] != '/') {
                mh_exec_result_dispose(&res);
                return mh_error_set(e, -ENOENT,
                                    "the host has no systemd-stdio-bridge, through which mhc "
                                    "talks to systemd: install a systemd that ships it");
        }
        path = strdup(res.out);
        mh_exec_result_dispose(&res);
        if (!path)
                return mh_error_oom(e);
        *ret = path;
        return 0;
}

static int open_impl(mh_ssh *s, mh_systemd **ret, mh_error *e) {
        _cleanup_bus_error_ sd_bus_error be = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *bridge = NULL, *quoted = NULL, *command = NULL;
        const mh_host_config *host = mh_ssh_host(s);
        uint64_t start = mh_now_usec();
        mh_systemd *sd;
        int fd = -1, r;

        r = find_bridge(s, &bridge, e);
        if (r < 0)
                return r;
        if (mh_shell_quote(bridge, &quoted) < 0 || asprintf(&command, "exec %s", quoted) < 0) {
                command = NULL;
                return mh_error_oom(e);
        }

        sd = calloc(1, sizeof(*sd));
        if (!sd)
                return mh_error_oom(e);
        sd->ssh = s;
        sd->host = host;

        r = sd_bus_new(&sd->bus);
        if (r < 0) {
                r = mh_error_set(e, r, "cannot create a D-Bus connection: %s", strerror(-r));
                goto fail;
        }

        r = mh_tunnel_open(host, command, &sd->tunnel, e);
        if (r < 0) {
                mh_error_prefix(e, "cannot run systemd-stdio-bridge");
                goto fail;
        }

        /* The bus closes the descriptor it gets: give it one of its own. */
        fd = fcntl(mh_tunnel_fd(sd->tunnel), F_DUPFD_CLOEXEC, 3);
        if (fd < 0) {
                r = mh_error_set(e, -errno, "cannot duplicate a descriptor: %s", strerror(errno));
                goto fail;
        }

        /* As `systemctl -H`: a bus client (Hello) over a stream that the
         * bridge passes to the host's system bus; no fd passing over SSH. */
        r = sd_bus_set_fd(sd->bus, fd, fd);
        if (r < 0) {
                close(fd);
                r = bus_fail(e, r, NULL, "cannot set up the D-Bus connection");
                goto fail;
        }
        if ((r = sd_bus_set_bus_client(sd->bus, 1)) < 0 ||
            (r = sd_bus_negotiate_fds(sd->bus, 0)) < 0 ||
            (r = sd_bus_set_description(sd->bus, mh_host_config_hostname(host))) < 0 ||
            (r = sd_bus_start(sd->bus)) < 0) {
                r = bus_fail(e, r, NULL, "cannot set up the D-Bus connection");
                goto fail;
        }

        /* Authentication and Hello happen on first use: check them now. */
        r = sd_bus_call_method(sd->bus, SYSTEMD_DESTINATION, SYSTEMD_PATH,
                               "org.freedesktop.DBus.Peer", "Ping", &be, NULL, NULL);
        if (r < 0) {
                r = bus_fail(e, r, &be, "cannot reach systemd over D-Bus");
                goto fail;
        }

        mh_log(MH_LOG_DEBUG, mh_host_config_hostname(host),
               "D-Bus connection to systemd open in %.1f ms",
               (double) (mh_now_usec() - start) / 1000.0);
        *ret = sd;
        return 0;

fail:
        mh_systemd_free(sd);
        return r;
}

int mh_systemd_open(mh_ssh *s, mh_systemd **ret, mh_error *error) {
        mh_error e = MH_ERROR_INIT;
        int r;

        if (!s || !ret)
                return mh_error_set(error, -EINVAL, "mh_systemd_open: invalid argument");
        r = open_impl(s, ret, &e);
        if (r < 0)
                return fail(r, &e, error);
        return 0;
}

mh_systemd *mh_systemd_free(mh_systemd *sd) {
        if (!sd)
                return NULL;
        /* The bridge gets EOF and exits, and the tunnel's thread is done
         * with libssh before we return: the program may exit next. */
        sd_bus_flush_close_unref(sd->bus);
        mh_tunnel_close(sd->tunnel, 5000);
        mh_tunnel_free(sd->tunnel);
        free(sd);
        return NULL;
}

int mh_systemd_start_unit(mh_systemd *sd, const char *unit, unsigned timeout_msec,
                          mh_error *error) {
        return job(sd, JOB_START, unit, timeout_msec, error);
}

int mh_systemd_stop_unit(mh_systemd *sd, const char *unit, unsigned timeout_msec,
                         mh_error *error) {
        return job(sd, JOB_STOP, unit, timeout_msec, error);
}

int mh_systemd_restart_unit(mh_systemd *sd, const char *unit, unsigned timeout_msec,
                            mh_error *error) {
        return job(sd, JOB_RESTART, unit, timeout_msec, error);
}

int mh_systemd_reload_unit(mh_systemd *sd, const char *unit, unsigned timeout_msec,
                           mh_error *error) {
        return job(sd, JOB_RELOAD, unit, timeout_msec, error);
}

void mh_systemd_set_cancel_fd(mh_systemd *sd, int fd) {
        if (sd)
                sd->cancel_fd = fd;
}

int mh_systemd_kill_unit(mh_systemd *sd, const char *unit, int signal, mh_error *error) {
        _cleanup_bus_error_ sd_bus_error be = SD_BUS_ERROR_NULL;
        mh_error e = MH_ERROR_INIT;
        char what[300];
        int r;

        if (!sd || !unit || !*unit || signal <= 0 || signal >= _NSIG)
                return mh_error_set(error, -EINVAL, "mh_systemd_kill_unit: invalid argument");

        r = drain(sd, &e);
        if (r >= 0)
                r = call_manager(sd, "KillUnit", call_usec(sd), NULL, &be, "ssi", unit, "all",
                                 (int32_t) signal);
        if (r < 0) {
                if (sd_bus_error_has_name(&be, "org.freedesktop.systemd1.NoSuchUnit"))
                        r = mh_error_set(&e, -ENOENT, "unit '%s' does not exist", unit);
                else if (sd_bus_error_has_name(&be, "org.freedesktop.systemd1.NoSuchProcess"))
                        r = mh_error_set(&e, -ESRCH, "unit '%s' has no processes to signal",
                                         unit);
                else {
                        snprintf(what, sizeof(what), "cannot send signal %d to unit '%s'", signal,
                                 unit);
                        r = bus_fail(&e, r, &be, what);
                }
                return fail(r, &e, error);
        }
        mh_log(MH_LOG_DEBUG, hostname(sd), "KillUnit '%s' signal %d", unit, signal);
        return 0;
}

int mh_systemd_get_unit(mh_systemd *sd, const char *unit, mh_unit_state *ret, mh_error *error) {
        mh_error e = MH_ERROR_INIT;
        mh_unit_state st;
        int r;

        if (!sd || !unit || !*unit || !ret)
                return mh_error_set(error, -EINVAL, "mh_systemd_get_unit: invalid argument");
        r = drain(sd, &e);
        if (r >= 0)
                r = get_unit_impl(sd, unit, &st, &e);
        if (r < 0)
                return fail(r, &e, error);
        mh_log(MH_LOG_DEBUG, hostname(sd), "unit '%s': %s/%s result %s", unit, st.active_state,
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

                r = get_unit_impl(sd, unit, &st, e);
                if (r < 0)
                        return r;
                if (streq(st.active_state, "active"))
                        return 0;
                if (streq(st.active_state, "failed")) {
                        journal_tail(sd, unit, journal, sizeof(journal));
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
        r = drain(sd, &e);
        if (r >= 0)
                r = wait_active_impl(sd, unit, timeout_msec, &e);
        if (r < 0)
                return fail(r, &e, error);
        return 0;
}

int mh_systemd_system_state(mh_systemd *sd, char *buf, size_t size, mh_error *error) {
        prop_call call = { .interface = MANAGER_INTERFACE, .name = "SystemState" };
        mh_error e = MH_ERROR_INIT;
        char state[64];
        int r;

        if (!sd || !buf || size == 0)
                return mh_error_set(error, -EINVAL, "mh_systemd_system_state: invalid argument");

        r = drain(sd, &e);
        if (r >= 0)
                r = get_properties(sd, SYSTEMD_PATH, &call, 1, &e);
        if (r >= 0 && call.error.name)
                r = bus_fail(&e, -EIO, &call.error, "cannot read the system state");
        if (r >= 0 && (r = read_string(call.reply, state, sizeof(state))) < 0)
                r = mh_error_set(&e, -MH_ERR_REMOTE,
                                 "cannot read the system state: unexpected reply (%s)",
                                 strerror(-r));
        if (r >= 0 && strlen(state) >= size)
                r = mh_error_set(&e, -ENOBUFS, "the system state '%s' does not fit in %zu bytes",
                                 state, size);
        prop_call_dispose(&call, 1);
        if (r < 0)
                return fail(r, &e, error);
        snprintf(buf, size, "%s", state);
        return 0;
}

int mh_systemd_daemon_reload(mh_systemd *sd, mh_error *error) {
        _cleanup_bus_error_ sd_bus_error be = SD_BUS_ERROR_NULL;
        mh_error e = MH_ERROR_INIT;
        uint64_t start = mh_now_usec();
        int r;

        if (!sd)
                return mh_error_set(error, -EINVAL, "mh_systemd_daemon_reload: invalid argument");
        r = drain(sd, &e);
        if (r >= 0) {
                /* systemd answers once the reload is complete. */
                r = call_manager(sd, "Reload", call_usec(sd), NULL, &be, NULL);
                if (r < 0)
                        r = bus_fail(&e, r, &be, "cannot reload systemd's configuration");
        }
        if (r < 0)
                return fail(r, &e, error);
        mh_log(MH_LOG_DEBUG, hostname(sd), "daemon-reload in %.1f ms",
               (double) (mh_now_usec() - start) / 1000.0);
        return 0;
}

int mh_systemd_reset_failed_unit(mh_systemd *sd, const char *unit, mh_error *error) {
        _cleanup_bus_error_ sd_bus_error be = SD_BUS_ERROR_NULL;
        mh_error e = MH_ERROR_INIT;
        int r;

        if (!sd || !unit)
                return mh_error_set(error, -EINVAL, "mh_systemd_reset_failed_unit: invalid argument");
        r = drain(sd, &e);
        if (r >= 0) {
                r = call_manager(sd, "ResetFailedUnit", call_usec(sd), NULL, &be, "s", unit);
                /* A unit that is not loaded has nothing to reset. */
                if (r < 0 && sd_bus_error_has_name(&be, "org.freedesktop.systemd1.NoSuchUnit"))
                        r = 0;
                if (r < 0)
                        r = bus_fail(&e, r, &be, "cannot reset the failed state of the unit");
        }
        if (r < 0)
                return fail(r, &e, error);
        return 0;
}
