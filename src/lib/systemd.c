/* SPDX-License-Identifier: MIT */
/*
 * systemd on a host through D-Bus: an sd_bus speaks to
 * org.freedesktop.systemd1 over an SSH tunnel (mh_tunnel_open()) that runs
 * systemd-stdio-bridge on the host, as `systemctl -H` does over ssh(1).
 *
 * Every public function works on a private mh_error and hands a failure to
 * the caller through systemd_fail(); no message names the host (the host layer
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

#include "systemd-bus.h"
#include "tunnel.h"
#include "util.h"

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

const char *systemd_hostname(const mh_systemd *sd) {
        return mh_host_config_hostname(sd->host);
}

/* Hand an internal failure to the caller's error object as it is. */
int systemd_fail(int r, const mh_error *e, mh_error *error) {
        return mh_error_set(error, r, "%s", mh_error_message(e, r));
}

uint64_t systemd_call_usec(const mh_systemd *sd) {
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
int systemd_bus_fail(mh_error *e, int r, const sd_bus_error *be, const char *what) {
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
int systemd_drain(mh_systemd *sd, mh_error *e) {
        int r;

        while ((r = sd_bus_process(sd->bus, NULL)) > 0)
                ;
        if (r < 0)
                return systemd_bus_fail(e, r, NULL, "cannot talk to systemd");
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
int systemd_run_until(mh_systemd *sd, const bool *done, uint64_t deadline, mh_error *e) {
        int r;

        while (!*done) {
                uint64_t now;

                r = sd_bus_process(sd->bus, NULL);
                if (r < 0)
                        return systemd_bus_fail(e, r, NULL, "cannot talk to systemd");
                if (r > 0)
                        continue;
                now = mh_now_usec();
                if (now >= deadline)
                        return -ETIMEDOUT;
                r = wait_bus(sd, deadline);
                if (r == -ECANCELED)
                        return r;
                if (r < 0 && r != -EINTR)
                        return systemd_bus_fail(e, r, NULL, "cannot talk to systemd");
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
void systemd_journal_tail(mh_systemd *sd, const char *unit, char *buf, size_t size) {
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
                mh_log(MH_LOG_DEBUG, systemd_hostname(sd), "cannot read the journal of '%s': %s", unit,
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
                return systemd_bus_fail(e, r, NULL, "cannot watch systemd's jobs");
        r = call_manager(sd, "Subscribe", systemd_call_usec(sd), NULL, &be, NULL);
        if (r < 0)
                return systemd_bus_fail(e, r, &be, "cannot subscribe to systemd's jobs");
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

        if (systemd_get_unit_impl(sd, unit, &st, &ignored) < 0)
                st.result[0] = '\0';
        systemd_journal_tail(sd, unit, journal, sizeof(journal));

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
        return systemd_bus_fail(e, r, be, what);
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

        r = systemd_drain(sd, e);
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
        r = systemd_run_until(sd, &sd->job_done, deadline, e);
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

        mh_log(MH_LOG_DEBUG, systemd_hostname(sd), "%s '%s': %s in %.1f ms", jobs[kind].method, unit,
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
                return systemd_fail(r, &e, error);
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
                r = systemd_bus_fail(e, r, NULL, "cannot set up the D-Bus connection");
                goto fail;
        }
        if ((r = sd_bus_set_bus_client(sd->bus, 1)) < 0 ||
            (r = sd_bus_negotiate_fds(sd->bus, 0)) < 0 ||
            (r = sd_bus_set_description(sd->bus, mh_host_config_hostname(host))) < 0 ||
            (r = sd_bus_start(sd->bus)) < 0) {
                r = systemd_bus_fail(e, r, NULL, "cannot set up the D-Bus connection");
                goto fail;
        }

        /* Authentication and Hello happen on first use: check them now. */
        r = sd_bus_call_method(sd->bus, SYSTEMD_DESTINATION, SYSTEMD_PATH,
                               "org.freedesktop.DBus.Peer", "Ping", &be, NULL, NULL);
        if (r < 0) {
                r = systemd_bus_fail(e, r, &be, "cannot reach systemd over D-Bus");
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
                return systemd_fail(r, &e, error);
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

        r = systemd_drain(sd, &e);
        if (r >= 0)
                r = call_manager(sd, "KillUnit", systemd_call_usec(sd), NULL, &be, "ssi", unit, "all",
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
                        r = systemd_bus_fail(&e, r, &be, what);
                }
                return systemd_fail(r, &e, error);
        }
        mh_log(MH_LOG_DEBUG, systemd_hostname(sd), "KillUnit '%s' signal %d", unit, signal);
        return 0;
}

int mh_systemd_system_state(mh_systemd *sd, char *buf, size_t size, mh_error *error) {
        prop_call call = { .interface = MANAGER_INTERFACE, .name = "SystemState" };
        mh_error e = MH_ERROR_INIT;
        char state[64];
        int r;

        if (!sd || !buf || size == 0)
                return mh_error_set(error, -EINVAL, "mh_systemd_system_state: invalid argument");

        r = systemd_drain(sd, &e);
        if (r >= 0)
                r = systemd_get_properties(sd, SYSTEMD_PATH, &call, 1, &e);
        if (r >= 0 && call.error.name)
                r = systemd_bus_fail(&e, -EIO, &call.error, "cannot read the system state");
        if (r >= 0 && (r = systemd_read_string(call.reply, state, sizeof(state))) < 0)
                r = mh_error_set(&e, -MH_ERR_REMOTE,
                                 "cannot read the system state: unexpected reply (%s)",
                                 strerror(-r));
        if (r >= 0 && strlen(state) >= size)
                r = mh_error_set(&e, -ENOBUFS, "the system state '%s' does not fit in %zu bytes",
                                 state, size);
        systemd_prop_call_dispose(&call, 1);
        if (r < 0)
                return systemd_fail(r, &e, error);
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
        r = systemd_drain(sd, &e);
        if (r >= 0) {
                /* systemd answers once the reload is complete. */
                r = call_manager(sd, "Reload", systemd_call_usec(sd), NULL, &be, NULL);
                if (r < 0)
                        r = systemd_bus_fail(&e, r, &be, "cannot reload systemd's configuration");
        }
        if (r < 0)
                return systemd_fail(r, &e, error);
        mh_log(MH_LOG_DEBUG, systemd_hostname(sd), "daemon-reload in %.1f ms",
               (double) (mh_now_usec() - start) / 1000.0);
        return 0;
}

int mh_systemd_reset_failed_unit(mh_systemd *sd, const char *unit, mh_error *error) {
        _cleanup_bus_error_ sd_bus_error be = SD_BUS_ERROR_NULL;
        mh_error e = MH_ERROR_INIT;
        int r;

        if (!sd || !unit)
                return mh_error_set(error, -EINVAL, "mh_systemd_reset_failed_unit: invalid argument");
        r = systemd_drain(sd, &e);
        if (r >= 0) {
                r = call_manager(sd, "ResetFailedUnit", systemd_call_usec(sd), NULL, &be, "s", unit);
                /* A unit that is not loaded has nothing to reset. */
                if (r < 0 && sd_bus_error_has_name(&be, "org.freedesktop.systemd1.NoSuchUnit"))
                        r = 0;
                if (r < 0)
                        r = systemd_bus_fail(&e, r, &be, "cannot reset the failed state of the unit");
        }
        if (r < 0)
                return systemd_fail(r, &e, error);
        return 0;
}
