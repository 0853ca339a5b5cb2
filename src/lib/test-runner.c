/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <mhc/fault.h>
#include <mhc/host.h>
#include <mhc/ssh.h>
#include <mhc/systemd.h>
#include <mhc/test.h>

#include "host.h"
#include "test-wire.h"
#include "util.h"

/*
 * The runner's side of a test: fork the test's process in a process group
 * of its own, serve its requests over the wire (test-wire.h) with the
 * hosts' sessions until it ends, runs out of time or is cancelled, kill
 * its group, reap it and judge its outcome.  Nothing the test does can
 * keep the runner waiting past the test's deadline or past Ctrl-C: the
 * wire is read and written without blocking, remote commands and systemd
 * jobs are waited for with the cancel descriptor, and the process is
 * waited for with a pidfd.
 */

#define UNIT_TIMEOUT_MSEC 90000u
#define FAULT_HEAL_MARGIN_SEC 30u /* after the test's deadline: a fault's dead man's switch */
#define EXIT_POLL_MSEC    20u /* how often the process is looked at without a pidfd */
#define CLEANUP_BUDGET_MSEC 60000u /* for the cleanups left when the test's process is gone */
#define CLEANUP_OUTPUT_MAX 2048u   /* of a failed cleanup's output, in the details */

/* A command of the test's cleanups (mh_cleanup_run()), run by the test or, when it
 * could not, by the runner. */
typedef struct cleanup_command {
        uint32_t host;
        char *command;
        bool done;
} cleanup_command;

typedef struct runner {
        const mh_test_plan *plan;
        int fd;
        pid_t pid;              /* the test's process, leader of its group */
        int pidfd;              /* of pid, or -1 (kernel without pidfd_open) */
        uint64_t deadline;      /* monotonic, usec */
        bool ended;             /* MH_TEST_WIRE_END came */
        mh_test_wire_inbox in;
        mh_test_outcome *outcome;
        mh_buf notes;
        cleanup_command *cleanups;
        size_t n_cleanups;
} runner;

static unsigned remaining_msec(const runner *rn, unsigned cap) {
        uint64_t now = mh_now_usec();
        uint64_t left = rn->deadline > now ? (rn->deadline - now + 999) / 1000 : 0;

        return (unsigned) (left < cap ? left : cap);
}

/* Whether Ctrl-C came (the plan's cancel_fd is readable). */
static bool cancelled(const runner *rn) {
        struct pollfd p = { .fd = rn->plan->cancel_fd, .events = POLLIN };

        return p.fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

/* Send a reply, never blocked by a test that does not read it. */
static int reply(runner *rn, uint32_t type, const mh_buf *payload) {
        return mh_test_wire_send_until(rn->fd, type, payload, rn->deadline, rn->plan->cancel_fd);
}

static mh_host *request_host(const runner *rn, mh_test_wire_reader *rd) {
        uint32_t index;

        if (mh_test_wire_get_u32(rd, &index) < 0 || index >= rn->plan->n_hosts)
                return NULL;
        return rn->plan->hosts[index];
}

static int reply_exec(runner *rn, int code, const mh_exec_result *res, const char *message) {
        mh_buf b = { .max = MH_TEST_WIRE_FRAME_MAX };
        int r;

        r = mh_test_wire_put_u32(&b, (uint32_t) code);
        if (r >= 0)
                r = mh_test_wire_put_u32(&b, res ? (uint32_t) res->exit_status : 0);
        if (r >= 0)
                r = mh_test_wire_put_bytes(&b, res && res->out ? res->out : "",
                                           res ? res->out_size : 0);
        if (r >= 0)
                r = mh_test_wire_put_bytes(&b, res && res->err ? res->err : "",
                                           res ? res->err_size : 0);
        if (r >= 0)
                r = mh_test_wire_put_str(&b, message);
        if (r >= 0) {
                char usec[24];

                snprintf(usec, sizeof(usec), "%" PRIu64, res ? res->duration_usec : 0);
                r = mh_test_wire_put_str(&b, usec);
        }
        if (r >= 0)
                r = reply(rn, MH_TEST_WIRE_EXEC_REPLY, &b);
        mh_buf_dispose(&b);
        return r;
}

static int serve_exec(runner *rn, mh_test_wire_reader *rd) {
        mh_host *h = request_host(rn, rd);
        const char *command, *input;
        size_t input_size;
        uint32_t has_input;
        mh_exec_result res = {};
        mh_error e = MH_ERROR_INIT;
        unsigned cap;
        int r;

        if (!h || mh_test_wire_get_bytes(rd, &command, NULL) < 0 ||
            mh_test_wire_get_u32(rd, &has_input) < 0 ||
            mh_test_wire_get_bytes(rd, &input, &input_size) < 0)
                return -EBADMSG;

        cap = mh_host_config_command_timeout(mh_host_get_config(h)) * 1000u;
        mh_exec_options o = {
                .input = has_input ? input : NULL,
                .input_size = has_input ? input_size : 0,
                .timeout_msec = remaining_msec(rn, cap),
                .max_output = MH_TEST_WIRE_OUTPUT_MAX,
                .cancel_fd = rn->plan->cancel_fd,
        };
        if (o.timeout_msec == 0)
                return -ETIME;
        r = mh_host_exec(h, command, &o, &res, &e);
        if (r == -ETIMEDOUT && remaining_msec(rn, 1) == 0)
                return -ETIME;
        if (r == -ECANCELED && cancelled(rn))
                return -ECANCELED;
        if (rn->plan->on_command) {
                mh_command_record record = {
                        .host = mh_host_name(h),
                        .command = command,
                        .exit_status = r < 0 ? -1 : res.exit_status,
                        .error = r < 0 ? r : 0,
                        .duration_usec = res.duration_usec,
                };
                rn->plan->on_command(&record, rn->plan->userdata);
        }
        r = reply_exec(rn, r < 0 ? r : 0, r < 0 ? NULL : &res, e.message);
        mh_exec_result_dispose(&res);
        return r;
}

static int unit_verb_run(mh_systemd *sd, mh_test_wire_verb verb, const char *unit, int signal,
                         unsigned timeout_msec, mh_unit_state *state, mh_error *e) {
        switch (verb) {
        case MH_TEST_WIRE_START:
                return mh_systemd_start_unit(sd, unit, timeout_msec, e);
        case MH_TEST_WIRE_STOP:
                return mh_systemd_stop_unit(sd, unit, timeout_msec, e);
        case MH_TEST_WIRE_RESTART:
                return mh_systemd_restart_unit(sd, unit, timeout_msec, e);
        case MH_TEST_WIRE_RELOAD:
                return mh_systemd_reload_unit(sd, unit, timeout_msec, e);
        case MH_TEST_WIRE_STATE:
                return mh_systemd_get_unit(sd, unit, state, e);
        case MH_TEST_WIRE_KILL:
                return mh_systemd_kill_unit(sd, unit, signal, e);
        case MH_TEST_WIRE_STATUS:
                return mh_systemd_get_unit(sd, unit, state, e);
        case MH_TEST_WIRE_RESET_FAILED:
                return mh_systemd_reset_failed_unit(sd, unit, e);
        case MH_TEST_WIRE_DAEMON_RELOAD:
                return mh_systemd_daemon_reload(sd, e);
        }
        return mh_error_set(e, -EBADMSG, "unknown request");
}

static int serve_unit(runner *rn, mh_test_wire_reader *rd) {
        mh_host *h = request_host(rn, rd);
        mh_error e = MH_ERROR_INIT;
        mh_unit_state state = {};
        mh_buf b = { .max = MH_TEST_WIRE_FRAME_MAX }, status = { .max = 1024 };
        const char *unit;
        uint32_t verb, signal = 0;
        unsigned timeout_msec = remaining_msec(rn, UNIT_TIMEOUT_MSEC);
        mh_systemd *sd;
        int r;

        if (!h || mh_test_wire_get_u32(rd, &verb) < 0 ||
            mh_test_wire_get_bytes(rd, &unit, NULL) < 0 ||
            (verb == MH_TEST_WIRE_KILL && mh_test_wire_get_u32(rd, &signal) < 0))
                return -EBADMSG;
        if (timeout_msec == 0)
                return -ETIME;
        sd = mh_host_systemd(h, &e);
        if (sd) {
                mh_systemd_set_cancel_fd(sd, rn->plan->cancel_fd);
                r = unit_verb_run(sd, verb, unit, (int) signal, timeout_msec, &state, &e);
                mh_systemd_set_cancel_fd(sd, -1);
        } else
                r = e.code;
        if (r == -ETIMEDOUT && remaining_msec(rn, 1) == 0)
                return -ETIME;
        /* A job that another replaced is -ECANCELED too: Ctrl-C is the pipe's. */
        if (r == -ECANCELED && cancelled(rn))
                return -ECANCELED;
        /* mh_host_systemd() names the host; the systemd layer does not. */
        if (r < 0 && sd)
                mh_error_prefix(&e, "host '%s'", mh_host_name(h));

        if (r >= 0 && verb == MH_TEST_WIRE_STATUS)
                r = mh_buf_printf(&status, "%s\n%s\n%s\n%s\n", state.active_state,
                                  state.sub_state, state.result, state.invocation_id);
        if (r >= 0 && verb != MH_TEST_WIRE_STATUS &&
            mh_buf_printf(&status, "%s", state.active_state) < 0)
                r = -ENOMEM;
        r = mh_test_wire_put_u32(&b, (uint32_t) (r < 0 ? r : 0));
        if (r >= 0)
                r = mh_test_wire_put_str(&b, e.code < 0 ? e.message : strempty(status.data));
        if (r >= 0)
                r = reply(rn, MH_TEST_WIRE_UNIT_REPLY, &b);
        mh_buf_dispose(&status);
        mh_buf_dispose(&b);
        return r;
}

/* A line of the test's log from the runner: a fault started or healed. */
static void runner_note(runner *rn, const char *fmt, ...) MH_PRINTF(2, 3);

static void runner_note(runner *rn, const char *fmt, ...) {
        _cleanup_free_ char *line = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&line, fmt, ap);
        va_end(ap);
        if (r < 0)
                return;
        (void) mh_buf_printf(&rn->notes, "note: %s\n", line);
        if (rn->plan->on_note)
                rn->plan->on_note(line, rn->plan->userdata);
}

/* A number of 64 bits, sent as a decimal string; signed or not. */
static int get_decimal(mh_test_wire_reader *rd, bool is_signed, uint64_t *ret) {
        const char *s;
        char *end;

        if (mh_test_wire_get_bytes(rd, &s, NULL) < 0)
                return -EBADMSG;
        errno = 0;
        *ret = is_signed ? (uint64_t) strtoll(s, &end, 10) : strtoull(s, &end, 10);
        return errno || end == s || *end || (!is_signed && *s == '-') ? -EBADMSG : 0;
}

static int get_u64(mh_test_wire_reader *rd, uint64_t *ret) {
        return get_decimal(rd, false, ret);
}

static int get_i64(mh_test_wire_reader *rd, int64_t *ret) {
        uint64_t v;
        int r = get_decimal(rd, true, &v);

        *ret = (int64_t) v;
        return r;
}

/* The fault of a START request; its peers point into the frame. */
static int get_fault(mh_test_wire_reader *rd, mh_fault *f, const char **peers) {
        uint32_t kind, direction, reject, percent, interval, n;
        const char *unit, *faketime, *path;

        if (mh_test_wire_get_u32(rd, &kind) < 0 || mh_test_wire_get_u32(rd, &direction) < 0 ||
            mh_test_wire_get_u32(rd, &reject) < 0 || mh_test_wire_get_u32(rd, &percent) < 0 ||
            mh_test_wire_get_u32(rd, &interval) < 0 || get_u64(rd, &f->bytes_per_sec) < 0 ||
            mh_test_wire_get_bytes(rd, &unit, NULL) < 0 ||
            mh_test_wire_get_bytes(rd, &faketime, NULL) < 0 ||
            mh_test_wire_get_bytes(rd, &path, NULL) < 0 || get_u64(rd, &f->max_fs_bytes) < 0 ||
            mh_test_wire_get_u32(rd, &f->delay_msec) < 0 ||
            mh_test_wire_get_u32(rd, &f->jitter_msec) < 0 ||
            mh_test_wire_get_u32(rd, &f->duplicate_percent) < 0 ||
            mh_test_wire_get_u32(rd, &f->reorder_percent) < 0 || get_i64(rd, &f->step_sec) < 0 ||
            mh_test_wire_get_u32(rd, &n) < 0 || n > MH_TEST_WIRE_PEERS_MAX)
                return -EBADMSG;
        for (uint32_t i = 0; i < n; i++)
                if (mh_test_wire_get_bytes(rd, &peers[i], NULL) < 0)
                        return -EBADMSG;
        peers[n] = NULL;
        f->kind = (mh_fault_kind) kind;
        f->direction = (mh_fault_direction) direction;
        f->reject = (int) reject;
        f->percent = percent;
        f->interval_msec = interval;
        f->unit = unit;
        f->faketime = faketime;
        f->path = path;
        f->peers = peers;
        return 0;
}

/*
 * Start or heal a fault.  It heals by itself FAULT_HEAL_MARGIN_SEC after
 * the test's deadline if nothing else healed it (the runner killed or cut
 * off); the end of the test heals it before the restore.
 */
static int serve_fault(runner *rn, mh_test_wire_reader *rd) {
        const char *peers[MH_TEST_WIRE_PEERS_MAX + 1];
        mh_host *h = request_host(rn, rd);
        mh_error e = MH_ERROR_INIT;
        mh_buf b = { .max = MH_TEST_WIRE_FRAME_MAX };
        mh_fault f = {};
        uint32_t verb, n = 0;
        int r;

        if (!h || mh_test_wire_get_u32(rd, &verb) < 0)
                return -EBADMSG;
        if (verb == MH_TEST_WIRE_FAULT_START) {
                unsigned after = remaining_msec(rn, UINT_MAX) / 1000 + FAULT_HEAL_MARGIN_SEC;
                _cleanup_free_ char *what = NULL;
                unsigned got = 0;

                if (get_fault(rd, &f, peers) < 0)
                        return -EBADMSG;
                r = mh_host_start_fault(h, &f, after, &got, &e);
                n = got;
                if (r >= 0 && mh_fault_describe(&f, &what, NULL) >= 0)
                        runner_note(rn, "%s: fault %u started: %s (heals by itself in %u s)",
                                    mh_host_name(h), n, what, after);
        } else if (verb == MH_TEST_WIRE_FAULT_HEAL) {
                if (mh_test_wire_get_u32(rd, &n) < 0)
                        return -EBADMSG;
                r = mh_host_heal_fault(h, n, &e);
                if (r >= 0)
                        runner_note(rn, "%s: fault %u healed", mh_host_name(h), n);
        } else if (verb == MH_TEST_WIRE_FAULT_REBOOT) {
                uint64_t start = mh_now_usec();

                runner_note(rn, "%s: rebooting", mh_host_name(h));
                r = mh_host_reboot(h, remaining_msec(rn, UINT_MAX), &e);
                if (r >= 0)
                        runner_note(rn, "%s: back from the reboot in %.1f s", mh_host_name(h),
                                    (double) (mh_now_usec() - start) / 1e6);
        } else
                return -EBADMSG;
        if (r == -ETIMEDOUT && remaining_msec(rn, 1) == 0)
                return -ETIME;

        r = mh_test_wire_put_u32(&b, (uint32_t) (r < 0 ? r : 0));
        if (r >= 0)
                r = mh_test_wire_put_u32(&b, n);
        if (r >= 0)
                r = mh_test_wire_put_str(&b, e.code < 0 ? e.message : "");
        if (r >= 0)
                r = reply(rn, MH_TEST_WIRE_FAULT_REPLY, &b);
        mh_buf_dispose(&b);
        return r;
}

static int serve_note(runner *rn, mh_test_wire_reader *rd) {
        const char *line;

        if (mh_test_wire_get_bytes(rd, &line, NULL) < 0)
                return -EBADMSG;
        runner_note(rn, "%s", line);
        return 0;
}

static int serve_secret(runner *rn, mh_test_wire_reader *rd) {
        const char *secret;

        if (mh_test_wire_get_bytes(rd, &secret, NULL) < 0)
                return -EBADMSG;
        if (rn->plan->on_secret)
                rn->plan->on_secret(secret, rn->plan->userdata);
        return 0;
}

static int serve_artifact(runner *rn, mh_test_wire_reader *rd) {
        const char *path;
        uint32_t index;

        if (mh_test_wire_get_u32(rd, &index) < 0 || index >= rn->plan->n_hosts ||
            mh_test_wire_get_bytes(rd, &path, NULL) < 0)
                return -EBADMSG;
        if (rn->plan->on_artifact)
                rn->plan->on_artifact(index, path, rn->plan->userdata);
        return 0;
}

/* Run cleanup c on its host, within timeout_msec: its exit status (0 too when it could not
 * run, with the reason in e), its output into out. */
static int run_cleanup(runner *rn, cleanup_command *c, unsigned timeout_msec, mh_buf *out,
                       mh_error *e) {
        mh_host *h = rn->plan->hosts[c->host];
        mh_exec_result res = {};
        mh_exec_options o = {
                .timeout_msec = timeout_msec,
                .max_output = CLEANUP_OUTPUT_MAX,
        };
        int r;

        c->done = true;
        r = mh_host_exec(h, c->command, &o, &res, e);
        if (rn->plan->on_command) {
                mh_command_record record = {
                        .host = mh_host_name(h),
                        .command = c->command,
                        .exit_status = r < 0 ? -1 : res.exit_status,
                        .error = r < 0 ? r : 0,
                        .duration_usec = res.duration_usec,
                };
                rn->plan->on_command(&record, rn->plan->userdata);
        }
        if (r >= 0) {
                (void) mh_buf_append(out, res.out ?: "", res.out_size);
                (void) mh_buf_append(out, res.err ?: "", res.err_size);
                r = res.exit_status;
        }
        mh_exec_result_dispose(&res);
        return r;
}

static int serve_cleanup(runner *rn, mh_test_wire_reader *rd) {
        mh_buf b = { .max = MH_TEST_WIRE_FRAME_MAX }, out = { .max = CLEANUP_OUTPUT_MAX * 2 };
        mh_error e = MH_ERROR_INIT;
        uint32_t verb, id = 0;
        int r = 0, status = 0;

        if (mh_test_wire_get_u32(rd, &verb) < 0)
                return -EBADMSG;
        if (verb == MH_TEST_WIRE_CLEANUP_ADD) {
                cleanup_command *c;
                const char *command;
                uint32_t host;

                if (mh_test_wire_get_u32(rd, &host) < 0 || host >= rn->plan->n_hosts ||
                    mh_test_wire_get_bytes(rd, &command, NULL) < 0)
                        return -EBADMSG;
                c = reallocarray(rn->cleanups, rn->n_cleanups + 1, sizeof(*c));
                if (!c)
                        return -ENOMEM;
                rn->cleanups = c;
                c[rn->n_cleanups] = (cleanup_command){ .host = host, .command = strdup(command) };
                if (!c[rn->n_cleanups].command)
                        return -ENOMEM;
                id = (uint32_t) ++rn->n_cleanups;
        } else if (verb == MH_TEST_WIRE_CLEANUP_RUN) {
                unsigned timeout_msec;

                if (mh_test_wire_get_u32(rd, &id) < 0 || id == 0 || id > rn->n_cleanups ||
                    rn->cleanups[id - 1].done)
                        return -EBADMSG;
                timeout_msec = remaining_msec(rn, CLEANUP_BUDGET_MSEC);
                if (timeout_msec == 0)
                        return -ETIME;
                r = run_cleanup(rn, &rn->cleanups[id - 1], timeout_msec, &out, &e);
                if (r == -ETIMEDOUT && remaining_msec(rn, 1) == 0)
                        return -ETIME;
                status = r < 0 ? 0 : r;
        } else
                return -EBADMSG;

        r = mh_test_wire_put_u32(&b, (uint32_t) (r < 0 ? r : 0));
        if (r >= 0)
                r = mh_test_wire_put_u32(&b, verb == MH_TEST_WIRE_CLEANUP_ADD ? id : (uint32_t) status);
        if (r >= 0)
                r = mh_test_wire_put_str(&b, e.code < 0 ? e.message : strempty(out.data));
        if (r >= 0)
                r = reply(rn, MH_TEST_WIRE_CLEANUP_REPLY, &b);
        mh_buf_dispose(&b);
        mh_buf_dispose(&out);
        return r;
}

/* The cleanup commands the test did not run (it crashed, timed out or was cut short),
 * newest first, within CLEANUP_BUDGET_MSEC in all; a failure is noted in the details. */
static void run_left_cleanups(runner *rn) {
        uint64_t deadline = mh_now_usec() + CLEANUP_BUDGET_MSEC * 1000ull;

        for (size_t i = rn->n_cleanups; i-- > 0;) {
                cleanup_command *c = &rn->cleanups[i];
                mh_buf out = { .max = CLEANUP_OUTPUT_MAX * 2 };
                mh_error e = MH_ERROR_INIT;
                uint64_t now = mh_now_usec();
                int r;

                if (c->done)
                        continue;
                if (now >= deadline) {
                        (void) mh_buf_printf(&rn->notes, "cleanup on %s not run (no time left): %s\n",
                                             mh_host_name(rn->plan->hosts[c->host]), c->command);
                        continue;
                }
                r = run_cleanup(rn, c, (unsigned) ((deadline - now) / 1000), &out, &e);
                if (r < 0)
                        (void) mh_buf_printf(&rn->notes, "cleanup on %s failed: %s: %s\n",
                                             mh_host_name(rn->plan->hosts[c->host]), c->command,
                                             e.message);
                else if (r > 0)
                        (void) mh_buf_printf(&rn->notes, "cleanup on %s exited %d: %s\n%s",
                                             mh_host_name(rn->plan->hosts[c->host]), r, c->command,
                                             strempty(out.data));
                else
                        runner_note(rn, "%s: cleanup run by the runner: %s",
                                    mh_host_name(rn->plan->hosts[c->host]), c->command);
                mh_buf_dispose(&out);
        }
}

static int serve_file(runner *rn, mh_test_wire_reader *rd) {
        mh_buf b = { .max = MH_TEST_WIRE_FRAME_MAX };
        mh_error e = MH_ERROR_INIT;
        _cleanup_free_ char *content = NULL;
        const char *path, *data = NULL;
        size_t size = 0, data_size = 0;
        uint32_t verb, mode = 0;
        mh_host *h;
        mh_ssh *s;
        int r;

        if (mh_test_wire_get_u32(rd, &verb) < 0 || !(h = request_host(rn, rd)) ||
            mh_test_wire_get_bytes(rd, &path, NULL) < 0 ||
            (verb == MH_TEST_WIRE_FILE_WRITE && (mh_test_wire_get_bytes(rd, &data, &data_size) < 0 ||
                                                 mh_test_wire_get_u32(rd, &mode) < 0)) ||
            verb > MH_TEST_WIRE_FILE_WRITE)
                return -EBADMSG;
        s = mh_host_ssh(h);
        if (!s)
                r = mh_error_set(&e, -ENOTCONN, "not connected");
        else if (verb == MH_TEST_WIRE_FILE_READ)
                r = mh_ssh_read_file(s, path, MH_TEST_WIRE_OUTPUT_MAX, &content, &size, &e);
        else
                r = mh_ssh_write_file(s, path, data, data_size, mode, &e);
        if (r < 0)
                mh_error_prefix(&e, "host '%s'", mh_host_name(h));

        r = mh_test_wire_put_u32(&b, (uint32_t) (r < 0 ? r : 0));
        if (r >= 0 && e.code < 0)
                r = mh_test_wire_put_str(&b, e.message);
        else if (r >= 0)
                r = mh_test_wire_put_bytes(&b, content ?: "", size);
        if (r >= 0)
                r = reply(rn, MH_TEST_WIRE_FILE_REPLY, &b);
        mh_buf_dispose(&b);
        return r;
}

static int serve_end(runner *rn, mh_test_wire_reader *rd) {
        const char *message, *details;
        uint32_t status;

        if (mh_test_wire_get_u32(rd, &status) < 0 || status > MH_TEST_ERROR ||
            mh_test_wire_get_bytes(rd, &message, NULL) < 0 ||
            mh_test_wire_get_bytes(rd, &details, NULL) < 0)
                return -EBADMSG;
        rn->ended = true;
        rn->outcome->status = (mh_test_status) status;
        if (*message && !(rn->outcome->message = strdup(message)))
                return -ENOMEM;
        if (*details && mh_buf_printf(&rn->notes, "%s", details) < 0)
                return -ENOMEM;
        return 0;
}

/* Serve one request; -ETIME when the test's time ran out meanwhile, -ECANCELED on Ctrl-C. */
static int serve(runner *rn, uint32_t type, const mh_buf *payload) {
        mh_test_wire_reader rd = { .p = payload->data, .left = payload->size };

        switch (type) {
        case MH_TEST_WIRE_EXEC:
                return serve_exec(rn, &rd);
        case MH_TEST_WIRE_UNIT:
                return serve_unit(rn, &rd);
        case MH_TEST_WIRE_NOTE:
                return serve_note(rn, &rd);
        case MH_TEST_WIRE_FAULT:
                return serve_fault(rn, &rd);
        case MH_TEST_WIRE_SECRET:
                return serve_secret(rn, &rd);
        case MH_TEST_WIRE_ARTIFACT:
                return serve_artifact(rn, &rd);
        case MH_TEST_WIRE_CLEANUP:
                return serve_cleanup(rn, &rd);
        case MH_TEST_WIRE_FILE:
                return serve_file(rn, &rd);
        case MH_TEST_WIRE_END:
                return serve_end(rn, &rd);
        }
        return -EBADMSG;
}

typedef enum stop_reason {
        STOP_ENDED, /* the test's side is done: its end, end of file, or its process exited */
        STOP_TIMEOUT,
        STOP_CANCEL,
        STOP_BROKEN,
        STOP_MORE, /* (serve_pending()) nothing more for now */
} stop_reason;

static int pidfd_open_of(pid_t pid) {
#ifdef SYS_pidfd_open
        return (int) syscall(SYS_pidfd_open, pid, 0);
#else
        errno = ENOSYS;
        return -1;
#endif
}

/* Whether the test's process has exited (left unreaped, so that its group's id stays its). */
static bool process_exited(const runner *rn) {
        siginfo_t si = {};

        if (waitid(P_PID, (id_t) rn->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
                return errno != EINTR;
        return si.si_pid != 0;
}

/* Serve the frames the wire holds now, whole or not. */
static stop_reason serve_pending(runner *rn) {
        for (;;) {
                uint32_t type;
                int r;

                if (remaining_msec(rn, 1) == 0)
                        return STOP_TIMEOUT;
                if (cancelled(rn))
                        return STOP_CANCEL;
                r = mh_test_wire_recv_some(rn->fd, &rn->in, &type);
                if (r == -EAGAIN)
                        return STOP_MORE;
                if (r <= 0)
                        return r == 0 ? STOP_ENDED : STOP_BROKEN;
                r = serve(rn, type, &rn->in.payload);
                if (r == -ETIME)
                        return STOP_TIMEOUT;
                if (r == -ECANCELED)
                        return STOP_CANCEL;
                /* A reply the test cannot take: it is gone, its end shows why. */
                if (r < 0 && r != -EPIPE && r != -ECONNRESET)
                        return STOP_BROKEN;
                /* Its last word: a child that holds the wire open is not listened to. */
                if (rn->ended)
                        return STOP_ENDED;
        }
}

/* Serve the test until it ends its side, runs out of time or is cancelled. */
static stop_reason serve_until_end(runner *rn) {
        for (;;) {
                struct pollfd p[3] = {
                        { .fd = rn->fd, .events = POLLIN },
                        { .fd = rn->pidfd, .events = POLLIN },
                        { .fd = rn->plan->cancel_fd, .events = POLLIN },
                };
                unsigned wait = remaining_msec(rn, rn->pidfd >= 0 ? 1000 : EXIT_POLL_MSEC);
                stop_reason why;
                bool exited;
                int r;

                if (wait == 0)
                        return STOP_TIMEOUT;
                /* poll() skips the descriptors that are -1. */
                r = poll(p, ELEMENTSOF(p), (int) wait);
                if (r < 0 && errno != EINTR)
                        return STOP_BROKEN;
                if (r < 0)
                        continue;
                if (p[2].revents & POLLIN)
                        return STOP_CANCEL;
                exited = rn->pidfd >= 0 ? p[1].revents != 0 : process_exited(rn);
                if (p[0].revents || exited) {
                        why = serve_pending(rn);
                        if (why != STOP_MORE)
                                return why;
                }
                /* Gone, with all it sent served; a child of its may hold the wire. */
                if (exited)
                        return STOP_ENDED;
        }
}

/* After the test's side ended: wait for its process until the deadline or Ctrl-C. */
static stop_reason wait_for_exit(runner *rn) {
        for (;;) {
                struct pollfd p[2] = {
                        { .fd = rn->pidfd, .events = POLLIN },
                        { .fd = rn->plan->cancel_fd, .events = POLLIN },
                };
                unsigned wait;

                if (process_exited(rn))
                        return STOP_ENDED;
                wait = remaining_msec(rn, rn->pidfd >= 0 ? 1000 : EXIT_POLL_MSEC);
                if (wait == 0)
                        return STOP_TIMEOUT;
                if (poll(p, ELEMENTSOF(p), (int) wait) < 0 && errno != EINTR)
                        return STOP_BROKEN;
                if (p[1].revents & POLLIN)
                        return STOP_CANCEL;
        }
}

static int set_outcome(mh_test_outcome *o, mh_test_status status, const char *fmt, ...)
        MH_PRINTF(3, 4);

static int set_outcome(mh_test_outcome *o, mh_test_status status, const char *fmt, ...) {
        va_list ap;
        int r;

        o->status = status;
        free(o->message);
        va_start(ap, fmt);
        r = vasprintf(&o->message, fmt, ap);
        va_end(ap);
        if (r < 0) {
                o->message = NULL;
                return -ENOMEM;
        }
        return 0;
}

/* The outcome from how the test's process ended and what it said. */
static int judge(runner *rn, stop_reason why, int wait_status, unsigned timeout_sec) {
        mh_test_outcome *o = rn->outcome;

        if (why == STOP_TIMEOUT) {
                o->timed_out = true;
                return set_outcome(o, MH_TEST_ERROR, "timed out after %u s", timeout_sec);
        }
        if (why == STOP_CANCEL) {
                o->cancelled = true;
                return set_outcome(o, MH_TEST_ERROR, "interrupted (Ctrl-C)");
        }
        if (WIFSIGNALED(wait_status) && !rn->ended) {
                o->signal = WTERMSIG(wait_status);
                return set_outcome(o, MH_TEST_ERROR, "crashed: %s (signal %d)",
                                   strsignal(o->signal), o->signal);
        }
        if (!rn->ended)
                return set_outcome(o, MH_TEST_ERROR,
                                   "the test's process exited with status %d before the test "
                                   "ended (exit() in a test?)",
                                   WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1);
        if (why == STOP_BROKEN && o->status == MH_TEST_PASSED)
                return set_outcome(o, MH_TEST_ERROR, "the test's process sent garbage");
        return 0;
}

/* What the test left running on its hosts ends with it, before their next
 * command (mh_host_end_test()), and the faults it started are healed; a
 * host where either fails is noted in the test's details. */
static void end_processes(runner *rn) {
        for (size_t i = 0; i < rn->plan->n_hosts; i++) {
                mh_host *h = rn->plan->hosts[i];
                mh_error e = MH_ERROR_INIT, heal = MH_ERROR_INIT;

                if (mh_host_end_test(h, &e) < 0)
                        (void) mh_buf_printf(&rn->notes, "%s\n", e.message);
                /* then its faults: nothing of the test makes them again (the
                 * restore tries again, and fails, if one stays) */
                if (!internal_of(h)->faults_pending)
                        continue;
                if (mh_host_heal_faults(h, &heal) < 0)
                        (void) mh_buf_printf(&rn->notes, "%s\n", heal.message);
                else
                        runner_note(rn, "%s: the test's faults healed", mh_host_name(h));
        }
}

int mh_test_execute(const mh_test_plan *plan, mh_test_outcome *ret, mh_error *error) {
        unsigned timeout_sec = plan->timeout_sec ?: plan->info->timeout ?: MH_TEST_DEFAULT_TIMEOUT;
        mh_test_outcome outcome = {};
        runner rn = {
                .plan = plan,
                .pidfd = -1,
                .outcome = &outcome,
                .notes = { .max = 1u << 20 },
        };
        int sv[2], wait_status = 0, r;
        uint64_t start;
        stop_reason why;
        pid_t pid, runner_pid;

        assert(plan && plan->info && plan->module && ret);

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return mh_error_set(error, -errno, "cannot make a socket for the test: %s",
                                    strerror(errno));
        start = mh_now_usec();
        runner_pid = getpid();
        pid = fork();
        if (pid < 0) {
                r = -errno;
                close(sv[0]);
                close(sv[1]);
                return mh_error_set(error, r, "cannot fork the test's process: %s", strerror(-r));
        }
        /* Its own process group, set on both sides so that it is there
         * before either goes on: the group is what is killed at the end. */
        if (pid == 0) {
                (void) setpgid(0, 0);
                /* Dies with the runner: it holds the runner's connections (the
                 * run's lease among them) open for as long as it lives. */
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != runner_pid)
                        _exit(127);
                close(sv[0]);
                mh_test_process_main(plan, sv[1]);
        }
        (void) setpgid(pid, pid);
        close(sv[1]);

        rn.fd = sv[0];
        rn.pid = pid;
        rn.pidfd = pidfd_open_of(pid);
        rn.deadline = start + (uint64_t) timeout_sec * 1000000u;
        why = serve_until_end(&rn);
        if (why == STOP_ENDED)
                why = wait_for_exit(&rn);
        /* The whole group in every case, so that nothing the test started
         * outlives it; the leader is not reaped yet, so the id is still its. */
        if (kill(-pid, SIGKILL) < 0)
                (void) kill(pid, SIGKILL);
        close(sv[0]);
        if (rn.pidfd >= 0)
                close(rn.pidfd);
        while (waitpid(pid, &wait_status, 0) < 0 && errno == EINTR)
                ;
        outcome.duration_usec = mh_now_usec() - start;
        run_left_cleanups(&rn);
        end_processes(&rn);
        for (size_t i = 0; i < rn.n_cleanups; i++)
                free(rn.cleanups[i].command);
        free(rn.cleanups);
        mh_test_wire_inbox_dispose(&rn.in);

        r = judge(&rn, why, wait_status, timeout_sec);
        if (r >= 0 && rn.notes.size > 0 && !(outcome.details = mh_buf_steal(&rn.notes, NULL)))
                r = -ENOMEM;
        mh_buf_dispose(&rn.notes);
        if (r < 0) {
                mh_test_outcome_dispose(&outcome);
                return mh_error_set(error, r, "out of memory");
        }
        *ret = outcome;
        return 0;
}

void mh_test_outcome_dispose(mh_test_outcome *o) {
        if (!o)
                return;
        free(o->message);
        free(o->details);
        *o = (mh_test_outcome){};
}
