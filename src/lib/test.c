/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>

#include <mhc/host.h>
#include <mhc/shell.h>
#include <mhc/test.h>

#include "module.h"
#include "host.h"
#include "ssh.h"
#include "test-private.h"

/*
 * The test's process: what a test's body calls.  A test runs in a process
 * of its own, forked from the runner (test-runner.c), so that a crash or
 * a hang ends the test and not the run.  Remote commands and systemd
 * calls go to the runner over the wire (test-wire.h); SQL goes over libpq
 * connections the test's process opens itself.
 */

const char *mh_test_status_to_string(mh_test_status s) {
        static const char *const names[] = {
                [MH_TEST_PASSED] = "passed",
                [MH_TEST_FAILED] = "failed",
                [MH_TEST_SKIPPED] = "skipped",
                [MH_TEST_ERROR] = "error",
        };

        return (unsigned) s < ELEMENTSOF(names) ? names[s] : "unknown";
}

const char *mh_test_name(const mh_test *t) {
        return t->plan->info->name;
}

const char *mh_test_topology(const mh_test *t) {
        return t->plan->topology;
}

const char *mh_test_error(const mh_test *t) {
        return t->error.message;
}

mh_error *mh_test_err(mh_test *t) {
        return &t->error;
}

void mh_test_clear_error(mh_test *t) {
        mh_error_clear(&t->error);
}

int mh_test_set_error(mh_test *t, int code, const char *fmt, ...) {
        va_list ap;

        mh_error_clear(&t->error);
        va_start(ap, fmt);
        (void) mh_error_setv(&t->error, code, fmt, ap);
        va_end(ap);
        return code;
}

const char *mh_param(const mh_test *t) {
        return t->plan->param;
}

uint64_t mh_last_duration_usec(const mh_test *t) {
        return t->last_duration_usec;
}

const char *mh_stdout(const mh_test *t) {
        return strempty(t->out);
}

const char *mh_stderr(const mh_test *t) {
        return strempty(t->err);
}

/* The runner is gone (killed the test, or died): nothing more to do. */
_Noreturn void mh_test_runner_lost(void) {
        _exit(EXIT_FAILURE);
}

_Noreturn void mh_test_endv(mh_test *t, mh_test_status status, const char *fmt, va_list ap) {
        static const char *const phases[] = { "in MH_SETUP: ", "", "in MH_TEARDOWN: ",
                                              "in a cleanup: " };
        char *message = NULL;

        if (!t->ended) {
                t->ended = true;
                t->status = status;
                if (vasprintf(&message, fmt, ap) >= 0 &&
                    asprintf(&t->message, "%s%s", phases[t->phase], message) < 0)
                        t->message = NULL;
                free(message);
        }
        longjmp(t->end, 1);
}

_Noreturn void mh_test_end(mh_test *t, mh_test_status status, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        mh_test_endv(t, status, fmt, ap);
}

void mh_fail(mh_test *t, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        mh_test_endv(t, MH_TEST_FAILED, fmt, ap);
}

void mh_abort(mh_test *t, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        mh_test_endv(t, MH_TEST_ERROR, fmt, ap);
}

void mh_skip(mh_test *t, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        mh_test_endv(t, MH_TEST_SKIPPED, fmt, ap);
}

void mh_test_send(mh_test *t, uint32_t type, const mh_buf *payload) {
        if (mh_test_wire_send(t->fd, type, payload) < 0)
                mh_test_runner_lost();
}

mh_test_wire_reader mh_test_call(mh_test *t, uint32_t type, const mh_buf *payload,
                                uint32_t reply_type) {
        uint32_t got;

        mh_test_send(t, type, payload);
        if (mh_test_wire_recv(t->fd, &got, &t->reply) <= 0 || got != reply_type)
                mh_test_runner_lost();
        return (mh_test_wire_reader){ .p = t->reply.data, .left = t->reply.size };
}

void mh_note(mh_test *t, const char *fmt, ...) {
        _cleanup_free_ char *line = NULL;
        mh_buf b = { .max = MH_TEST_WIRE_FRAME_MAX };
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&line, fmt, ap);
        va_end(ap);
        if (r < 0)
                return;
        if (mh_test_wire_put_str(&b, line) >= 0)
                mh_test_send(t, MH_TEST_WIRE_NOTE, &b);
        mh_buf_dispose(&b);
}

uint32_t mh_test_host_index(mh_test *t, mh_host *h) {
        for (size_t i = 0; i < t->plan->n_hosts; i++)
                if (t->plan->hosts[i] == h)
                        return (uint32_t) i;
        mh_test_end(t, MH_TEST_ERROR, "host %p is not one of the test's hosts (use mh_role())",
                 (void *) h);
}

mh_host *mh_role(mh_test *t, const char *role, unsigned index) {
        unsigned seen = 0;

        for (size_t i = 0; i < t->plan->n_hosts; i++)
                if (streq(t->plan->roles[i], role) && seen++ == index)
                        return t->plan->hosts[i];
        if (seen == 0)
                mh_test_end(t, MH_TEST_ERROR, "topology '%s' has no role '%s'", t->plan->topology,
                         role);
        mh_test_end(t, MH_TEST_ERROR, "mh_role(t, \"%s\", %u): topology '%s' has %u host%s of role '%s'",
                 role, index, t->plan->topology, seen, seen == 1 ? "" : "s", role);
}

int mh_test_run_command(mh_test *t, mh_host *h, const char *input, size_t input_size,
                        const char *command) {
        mh_buf b = { .max = MH_TEST_WIRE_FRAME_MAX };
        const char *out, *err, *message, *duration;
        uint32_t code, status;
        uint32_t index = mh_test_host_index(t, h);
        size_t out_size;
        mh_test_wire_reader rd;

        if (mh_test_wire_put_u32(&b, index) < 0 || mh_test_wire_put_str(&b, command) < 0 ||
            mh_test_wire_put_u32(&b, input != NULL) < 0 ||
            mh_test_wire_put_bytes(&b, input ?: "", input ? input_size : 0) < 0) {
                mh_buf_dispose(&b);
                mh_test_end(t, MH_TEST_ERROR, "command too long to send (%zu bytes)",
                            strlen(command) + input_size);
        }
        rd = mh_test_call(t, MH_TEST_WIRE_EXEC, &b, MH_TEST_WIRE_EXEC_REPLY);
        mh_buf_dispose(&b);
        if (mh_test_wire_get_u32(&rd, &code) < 0 || mh_test_wire_get_u32(&rd, &status) < 0 ||
            mh_test_wire_get_bytes(&rd, &out, &out_size) < 0 ||
            mh_test_wire_get_bytes(&rd, &err, NULL) < 0 ||
            mh_test_wire_get_bytes(&rd, &message, NULL) < 0 ||
            mh_test_wire_get_bytes(&rd, &duration, NULL) < 0)
                mh_test_runner_lost();

        free(t->last_command);
        if (asprintf(&t->last_command, "%s: %s", mh_host_name(h), command) < 0)
                t->last_command = NULL;
        free(t->out);
        free(t->err);
        t->out = malloc(out_size + 1);
        if (t->out) {
                memcpy(t->out, out, out_size);
                t->out[out_size] = '\0';
        }
        t->out_size = out_size;
        t->err = strdup(err);
        if (!t->out || !t->err)
                mh_test_oom(t);
        t->last_duration_usec = strtoull(duration, NULL, 10);
        if ((int32_t) code < 0)
                mh_test_end(t, MH_TEST_ERROR, "command '%s' on %s did not finish: %s", command,
                            mh_host_name(h), message);
        t->last_exit_status = (int) status;
        return (int) status;
}

int mh_test_run_commandv(mh_test *t, mh_host *h, const char *input, const char *fmt, va_list ap) {
        _cleanup_free_ char *command = NULL;

        if (vasprintf(&command, fmt, ap) < 0)
                mh_test_oom(t);
        return mh_test_run_command(t, h, input, input ? strlen(input) : 0, command);
}

int mh_run(mh_test *t, mh_host *h, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = mh_test_run_commandv(t, h, NULL, fmt, ap);
        va_end(ap);
        return r;
}

int mh_run_input(mh_test *t, mh_host *h, const char *input, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = mh_test_run_commandv(t, h, strempty(input), fmt, ap);
        va_end(ap);
        return r;
}

/* text cut into its lines (without their newlines, none after a final one), NULL-terminated;
 * the lines and the list are the test's. */
static char **split_lines(mh_test *t, const char *text) {
        char *copy = mh_strdup(t, text), **lines;
        size_t n = 0;

        for (const char *p = copy; *p; n++) {
                const char *nl = strchr(p, '\n');

                p = nl ? nl + 1 : p + strlen(p);
        }
        lines = mh_test_own(t, calloc(n + 1, sizeof(*lines)));
        for (size_t i = 0; i < n; i++)
                lines[i] = strsep(&copy, "\n");
        return lines;
}

/* Ask the runner for a systemd call (signal: KILL's); the reply's text is the state or
 * the error. */
static int unit_call(mh_test *t, mh_host *h, mh_test_wire_verb verb, const char *unit, int signal,
                     const char **ret_text) {
        mh_buf b = { .max = MH_TEST_WIRE_FRAME_MAX };
        uint32_t index = mh_test_host_index(t, h), code;
        const char *text;
        mh_test_wire_reader rd;

        if (mh_test_wire_put_u32(&b, index) < 0 || mh_test_wire_put_u32(&b, verb) < 0 ||
            mh_test_wire_put_str(&b, unit) < 0 ||
            (verb == MH_TEST_WIRE_KILL && mh_test_wire_put_u32(&b, (uint32_t) signal) < 0)) {
                mh_buf_dispose(&b);
                mh_test_end(t, MH_TEST_ERROR, "out of memory");
        }
        rd = mh_test_call(t, MH_TEST_WIRE_UNIT, &b, MH_TEST_WIRE_UNIT_REPLY);
        mh_buf_dispose(&b);
        if (mh_test_wire_get_u32(&rd, &code) < 0 || mh_test_wire_get_bytes(&rd, &text, NULL) < 0)
                mh_test_runner_lost();
        if ((int32_t) code < 0)
                return mh_test_set_error(t, (int32_t) code, "%s", text);
        mh_error_clear(&t->error);
        if (ret_text)
                *ret_text = text;
        return 0;
}

int mh_service_start(mh_test *t, mh_host *h, const char *unit) {
        return unit_call(t, h, MH_TEST_WIRE_START, unit, 0, NULL);
}

int mh_service_stop(mh_test *t, mh_host *h, const char *unit) {
        return unit_call(t, h, MH_TEST_WIRE_STOP, unit, 0, NULL);
}

int mh_service_restart(mh_test *t, mh_host *h, const char *unit) {
        return unit_call(t, h, MH_TEST_WIRE_RESTART, unit, 0, NULL);
}

int mh_service_reload(mh_test *t, mh_host *h, const char *unit) {
        return unit_call(t, h, MH_TEST_WIRE_RELOAD, unit, 0, NULL);
}

int mh_service_status(mh_test *t, mh_host *h, const char *unit, mh_unit_state *ret) {
        const char *text;
        char **fields;
        int r;

        r = unit_call(t, h, MH_TEST_WIRE_STATUS, unit, 0, &text);
        if (r < 0)
                return r;
        fields = split_lines(t, text);
        for (size_t i = 0; i < 4; i++)
                if (!fields[i])
                        mh_test_runner_lost();
        *ret = (mh_unit_state){};
        snprintf(ret->active_state, sizeof(ret->active_state), "%s", fields[0]);
        snprintf(ret->sub_state, sizeof(ret->sub_state), "%s", fields[1]);
        snprintf(ret->result, sizeof(ret->result), "%s", fields[2]);
        snprintf(ret->invocation_id, sizeof(ret->invocation_id), "%s", fields[3]);
        return 0;
}

int mh_service_reset_failed(mh_test *t, mh_host *h, const char *unit) {
        return unit_call(t, h, MH_TEST_WIRE_RESET_FAILED, unit, 0, NULL);
}

int mh_daemon_reload(mh_test *t, mh_host *h) {
        return unit_call(t, h, MH_TEST_WIRE_DAEMON_RELOAD, "", 0, NULL);
}

const char *mh_service_state(mh_test *t, mh_host *h, const char *unit) {
        const char *state;

        if (unit_call(t, h, MH_TEST_WIRE_STATE, unit, 0, &state) < 0)
                return NULL;
        snprintf(t->state, sizeof(t->state), "%s", state);
        return t->state;
}

int mh_service_kill(mh_test *t, mh_host *h, const char *unit, int signal) {
        return unit_call(t, h, MH_TEST_WIRE_KILL, unit, signal, NULL);
}

/* --- faults --------------------------------------------------------------- */

/* Ask the runner to start f on h (its number on h into *n), heal fault *n of h or reboot h. */
static int fault_call(mh_test *t, mh_host *h, mh_test_wire_fault_verb verb, const mh_fault *f,
                      uint32_t *n) {
        mh_buf b = { .max = MH_TEST_WIRE_FRAME_MAX };
        uint32_t index = mh_test_host_index(t, h), code, peers = 0;
        char bytes[32], max[32], step[32];
        const char *message;
        mh_test_wire_reader rd;
        int r;

        r = mh_test_wire_put_u32(&b, index);
        if (r >= 0)
                r = mh_test_wire_put_u32(&b, verb);
        if (r >= 0 && verb == MH_TEST_WIRE_FAULT_HEAL)
                r = mh_test_wire_put_u32(&b, *n);
        if (r >= 0 && verb == MH_TEST_WIRE_FAULT_START) {
                while (f->peers && f->peers[peers])
                        peers++;
                if (peers > MH_TEST_WIRE_PEERS_MAX)
                        mh_test_end(t, MH_TEST_ERROR, "a fault with %u peers (at most %u)", peers,
                                 MH_TEST_WIRE_PEERS_MAX);
                snprintf(bytes, sizeof(bytes), "%" PRIu64, f->bytes_per_sec);
                snprintf(max, sizeof(max), "%" PRIu64, f->max_fs_bytes);
                snprintf(step, sizeof(step), "%" PRId64, f->step_sec);
                r = mh_test_wire_put_u32(&b, f->kind);
                if (r >= 0)
                        r = mh_test_wire_put_u32(&b, f->direction);
                if (r >= 0)
                        r = mh_test_wire_put_u32(&b, f->reject != 0);
                if (r >= 0)
                        r = mh_test_wire_put_u32(&b, f->percent);
                if (r >= 0)
                        r = mh_test_wire_put_u32(&b, f->interval_msec);
                if (r >= 0)
                        r = mh_test_wire_put_str(&b, bytes);
                if (r >= 0)
                        r = mh_test_wire_put_str(&b, f->unit);
                if (r >= 0)
                        r = mh_test_wire_put_str(&b, f->faketime);
                if (r >= 0)
                        r = mh_test_wire_put_str(&b, f->path);
                if (r >= 0)
                        r = mh_test_wire_put_str(&b, max);
                if (r >= 0)
                        r = mh_test_wire_put_u32(&b, f->delay_msec);
                if (r >= 0)
                        r = mh_test_wire_put_u32(&b, f->jitter_msec);
                if (r >= 0)
                        r = mh_test_wire_put_u32(&b, f->duplicate_percent);
                if (r >= 0)
                        r = mh_test_wire_put_u32(&b, f->reorder_percent);
                if (r >= 0)
                        r = mh_test_wire_put_str(&b, step);
                if (r >= 0)
                        r = mh_test_wire_put_u32(&b, peers);
                for (uint32_t i = 0; r >= 0 && i < peers; i++)
                        r = mh_test_wire_put_str(&b, f->peers[i]);
        }
        if (r < 0) {
                mh_buf_dispose(&b);
                mh_test_end(t, MH_TEST_ERROR, "out of memory");
        }
        rd = mh_test_call(t, MH_TEST_WIRE_FAULT, &b, MH_TEST_WIRE_FAULT_REPLY);
        mh_buf_dispose(&b);
        if (mh_test_wire_get_u32(&rd, &code) < 0 || mh_test_wire_get_u32(&rd, n) < 0 ||
            mh_test_wire_get_bytes(&rd, &message, NULL) < 0)
                mh_test_runner_lost();
        if ((int32_t) code < 0)
                return mh_test_set_error(t, (int32_t) code, "%s", message);
        mh_error_clear(&t->error);
        return 0;
}

/* Heal each part of fault id, newest first; the first error is kept. */
static int heal_id(mh_test *t, int id) {
        char first[MH_ERROR_MESSAGE_MAX] = "";
        int r = 0;

        for (size_t i = t->n_faults; i-- > 0;) {
                test_fault *f = &t->faults[i];
                int k;

                if (f->id != id)
                        continue;
                k = fault_call(t, t->plan->hosts[f->host], MH_TEST_WIRE_FAULT_HEAL, NULL, &f->n);
                if (k >= 0)
                        f->id = 0;
                else if (r == 0) {
                        r = k;
                        snprintf(first, sizeof(first), "%s", t->error.message);
                }
        }
        if (r < 0)
                return mh_test_set_error(t, r, "%s", first);
        mh_error_clear(&t->error);
        return r;
}

/* Start f on h as part of fault id. */
static int start_as(mh_test *t, mh_host *h, const mh_fault *f, int id) {
        uint32_t n = 0;
        int r;

        if (t->n_faults == FAULTS_MAX) {
                return mh_test_set_error(t, -ENOSPC, "more than %d faults in one test",
                                         FAULTS_MAX);
        }
        r = fault_call(t, h, MH_TEST_WIRE_FAULT_START, f, &n);
        if (r < 0)
                return r;
        t->faults[t->n_faults++] = (test_fault){ .id = id, .host = mh_test_host_index(t, h), .n = n };
        return 0;
}

int mh_fault_start(mh_test *t, mh_host *h, const mh_fault *f) {
        int id = t->last_fault_id + 1, r;

        r = start_as(t, h, f, id);
        if (r < 0)
                return r;
        return t->last_fault_id = id;
}

int mh_partition(mh_test *t, mh_host *const *side, mh_host *const *other, unsigned flags) {
        const char *peers[MH_TEST_WIRE_PEERS_MAX + 1];
        mh_fault f = {
                .kind = MH_FAULT_PARTITION,
                .direction = flags & MH_PARTITION_ONE_WAY ? MH_FAULT_OUTGOING : MH_FAULT_BOTH_WAYS,
                .reject = !!(flags & MH_PARTITION_REJECT),
                .peers = peers,
        };
        int id = t->last_fault_id + 1, r = 0;
        size_t n = 0;

        for (; other && other[n]; n++) {
                if (n == MH_TEST_WIRE_PEERS_MAX)
                        mh_test_end(t, MH_TEST_ERROR, "mh_partition(): more than %u hosts",
                                 MH_TEST_WIRE_PEERS_MAX);
                (void) mh_test_host_index(t, other[n]);
                peers[n] = mh_host_config_address(mh_host_get_config(other[n]));
        }
        peers[n] = NULL;
        if (!side || !side[0] || n == 0)
                mh_test_end(t, MH_TEST_ERROR, "mh_partition(): a side with no hosts");
        for (size_t i = 0; r >= 0 && side[i]; i++)
                r = start_as(t, side[i], &f, id);
        t->last_fault_id = id;
        if (r < 0) {
                /* none of it stays: heal what was made, keep the first error */
                char first[MH_ERROR_MESSAGE_MAX];

                snprintf(first, sizeof(first), "%s", t->error.message);
                (void) heal_id(t, id);
                return mh_test_set_error(t, r, "%s", first);
        }
        return id;
}

int mh_fault_heal(mh_test *t, int id) {
        if (id <= 0 || id > t->last_fault_id) {
                return mh_test_set_error(t, -ENOENT, "no fault %d in this test", id);
        }
        /* healed already: nothing of it is left to ask for */
        return heal_id(t, id);
}

int mh_reboot(mh_test *t, mh_host *h) {
        uint32_t n = 0;

        return fault_call(t, h, MH_TEST_WIRE_FAULT_REBOOT, NULL, &n);
}

void mh_test_keep(mh_test *t, void *p, void (*free_fn)(void *)) {
        kept *k;

        if (!p)
                return;
        k = reallocarray(t->kept, t->n_kept + 1, sizeof(*k));
        if (!k) {
                free_fn(p);
                mh_test_end(t, MH_TEST_ERROR, "out of memory");
        }
        t->kept = k;
        t->kept[t->n_kept++] = (kept){ .p = p, .free_fn = free_fn };
}

void *mh_test_own(mh_test *t, void *p) {
        if (!p)
                mh_test_oom(t);
        mh_test_keep(t, p, free);
        return p;
}

char *mh_strdup(mh_test *t, const char *s) {
        return mh_test_own(t, strdup(strempty(s)));
}

char *mh_test_vprintf(mh_test *t, const char *fmt, va_list ap) {
        char *s;

        return mh_test_own(t, vasprintf(&s, fmt, ap) < 0 ? NULL : s);
}

char *mh_printf(mh_test *t, const char *fmt, ...) {
        char *s;
        va_list ap;

        va_start(ap, fmt);
        s = mh_test_vprintf(t, fmt, ap);
        va_end(ap);
        return s;
}

const char *mh_quote(mh_test *t, const char *s) {
        char *q = NULL;

        (void) mh_shell_quote(strempty(s), &q);
        return mh_test_own(t, q);
}

const char *mh_test_one_line(mh_test *t, const char *s) {
        char *copy = mh_strdup(t, s);
        size_t n = strlen(copy);

        while (n > 0 && strchr(" \t\r\n", copy[n - 1]))
                copy[--n] = '\0';
        for (char *p = copy; *p; p++)
                if (*p == '\n' || *p == '\r')
                        *p = ' ';
        return copy;
}

const char *const *mh_stdout_lines(mh_test *t) {
        return (const char *const *) split_lines(t, mh_stdout(t));
}

unsigned mh_role_count(const mh_test *t, const char *role) {
        unsigned n = 0;

        for (size_t i = 0; i < t->plan->n_hosts; i++)
                n += streq(t->plan->roles[i], role);
        return n;
}

void mh_secret(mh_test *t, const char *s) {
        mh_buf b = { .max = MH_TEST_WIRE_FRAME_MAX };

        if (!s || !*s)
                return;
        if (mh_test_wire_put_str(&b, s) < 0) {
                mh_buf_dispose(&b);
                mh_test_oom(t);
        }
        mh_test_send(t, MH_TEST_WIRE_SECRET, &b);
        mh_buf_dispose(&b);
}

void mh_artifact(mh_test *t, mh_host *h, const char *path) {
        mh_buf b = { .max = MH_TEST_WIRE_FRAME_MAX };

        if (mh_test_wire_put_u32(&b, mh_test_host_index(t, h)) < 0 ||
            mh_test_wire_put_str(&b, path) < 0) {
                mh_buf_dispose(&b);
                mh_test_oom(t);
        }
        mh_test_send(t, MH_TEST_WIRE_ARTIFACT, &b);
        mh_buf_dispose(&b);
}

void mh_test_check_host(mh_test *t, const mh_host *h) {
        (void) mh_test_host_index(t, (mh_host *) h);
}

/* Run one phase; false when it ended the test. */
static bool run_phase(mh_test *t, phase p, mh_hook_fn fn) {
        if (!fn)
                return true;
        t->phase = p;
        if (setjmp(t->end) == 0) {
                fn(t);
                return true;
        }
        return false;
}

static const int crash_signals[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };

_Noreturn void mh_test_process_main(const mh_test_plan *plan, int fd) {
        mh_test t = {
                .plan = plan,
                .fd = fd,
                .status = MH_TEST_PASSED,
                .details = { .max = 1u << 20 },
                .reply = { .max = MH_TEST_WIRE_FRAME_MAX + 1 },
        };
        mh_buf b = { .max = MH_TEST_WIRE_FRAME_MAX };

        /* Ctrl-C and a hangup are the runner's to handle; the sessions are the runner's
         * to use. */
        signal(SIGINT, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        signal(SIGTERM, SIG_DFL);
        signal(SIGPIPE, SIG_IGN);
        /* A crash ends the process with its signal, for the runner to report,
         * even where a sanitizer would turn it into an exit status. */
        for (size_t i = 0; i < ELEMENTSOF(crash_signals); i++)
                signal(crash_signals[i], SIG_DFL);
        mh_ssh_forbid_sessions();
        for (size_t i = 0; i < plan->n_hosts; i++)
                mh_host_after_fork(plan->hosts[i]);

        t.hosts = calloc(plan->n_hosts ?: 1, sizeof(*t.hosts));
        if (!t.hosts)
                mh_test_runner_lost();
        t.start_realtime_usec = mh_realtime_usec();

        if (run_phase(&t, PHASE_SETUP, mh_module_hook(plan->module, MH_HOOK_SETUP))) {
                run_phase(&t, PHASE_BODY, plan->info->run);
                run_phase(&t, PHASE_TEARDOWN, mh_module_hook(plan->module, MH_HOOK_TEARDOWN));
        }
        t.phase = PHASE_CLEANUP;
        mh_test_run_cleanups(&t);
        mh_test_hosts_dispose(&t);

        if (mh_test_wire_put_u32(&b, t.status) < 0 || mh_test_wire_put_str(&b, t.message) < 0 ||
            mh_test_wire_put_bytes(&b, strempty(t.details.data), t.details.size) < 0)
                mh_test_runner_lost();
        mh_test_send(&t, MH_TEST_WIRE_END, &b);
        _exit(EXIT_SUCCESS);
}
