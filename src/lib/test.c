/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>

#include <mhc/host.h>
#include <mhc/test.h>

#include "module.h"
#include "host.h"
#include "ssh.h"
#include "test-wire.h"
#include "util.h"

/*
 * The test's process: what a test's body calls.  A test runs in a process
 * of its own, forked from the runner (test-runner.c), so that a crash or
 * a hang ends the test and not the run.  Remote commands and systemd
 * calls go to the runner over the wire (test-wire.h); SQL goes over libpq
 * connections the test's process opens itself.
 */

#define SHOWN_MAX       4096 /* of a command's output in a failure's details */
#define VALUE_SHOWN_MAX 200  /* of a compared string in a failure's message */
#define FAULTS_MAX      128  /* started by one test, on all its hosts */

typedef enum phase {
        PHASE_SETUP,
        PHASE_BODY,
        PHASE_TEARDOWN,
} phase;

/* A fault the test started: fault n of one of its hosts, part of fault id. */
typedef struct test_fault {
        int id;
        uint32_t host;
        uint32_t n;
} test_fault;

/* Something the test owns, freed with it (mh_test_keep()). */
typedef struct kept {
        void *p;
        void (*free_fn)(void *);
} kept;

struct mh_test {
        const mh_test_plan *plan;
        int fd;                         /* to the runner */
        jmp_buf end;                    /* where mh_fail() and friends go */
        phase phase;
        bool ended;                     /* the status below is final */
        mh_test_status status;
        char *message;
        mh_buf details;
        mh_buf reply;                   /* the last frame from the runner */
        char *out, *err;                /* of the last command */
        char *last_command;             /* "host: command", for failures */
        int last_exit_status;
        char error[MH_ERROR_MESSAGE_MAX];
        char state[32];
        kept *kept;                     /* freed with the test */
        size_t n_kept;
        test_fault faults[FAULTS_MAX];  /* healed by the runner at the end */
        size_t n_faults;
        int last_fault_id;
};

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
        return t->error;
}

const char *mh_stdout(const mh_test *t) {
        return strempty(t->out);
}

const char *mh_stderr(const mh_test *t) {
        return strempty(t->err);
}

/* The runner is gone (killed the test, or died): nothing more to do. */
_Noreturn static void runner_lost(void) {
        _exit(EXIT_FAILURE);
}

/* End the test with status (the first ending counts) and leave the phase. */
_Noreturn static void end_test(mh_test *t, mh_test_status status, const char *fmt, va_list ap)
        MH_PRINTF(3, 0);

_Noreturn static void end_test(mh_test *t, mh_test_status status, const char *fmt, va_list ap) {
        static const char *const phases[] = { "in MH_SETUP: ", "", "in MH_TEARDOWN: " };
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

_Noreturn static void end_with(mh_test *t, mh_test_status status, const char *fmt, ...)
        MH_PRINTF(3, 4);

_Noreturn static void end_with(mh_test *t, mh_test_status status, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        end_test(t, status, fmt, ap);
}

void mh_fail(mh_test *t, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        end_test(t, MH_TEST_FAILED, fmt, ap);
}

void mh_abort(mh_test *t, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        end_test(t, MH_TEST_ERROR, fmt, ap);
}

void mh_skip(mh_test *t, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        end_test(t, MH_TEST_SKIPPED, fmt, ap);
}

static void send_or_die(mh_test *t, uint32_t type, const mh_buf *payload) {
        if (mh_test_wire_send(t->fd, type, payload) < 0)
                runner_lost();
}

/* Send a request and wait for its reply, left in t->reply. */
static mh_test_wire_reader call(mh_test *t, uint32_t type, const mh_buf *payload,
                                uint32_t reply_type) {
        uint32_t got;

        send_or_die(t, type, payload);
        if (mh_test_wire_recv(t->fd, &got, &t->reply) <= 0 || got != reply_type)
                runner_lost();
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
                send_or_die(t, MH_TEST_WIRE_NOTE, &b);
        mh_buf_dispose(&b);
}

static uint32_t host_index(mh_test *t, mh_host *h) {
        for (size_t i = 0; i < t->plan->n_hosts; i++)
                if (t->plan->hosts[i] == h)
                        return (uint32_t) i;
        end_with(t, MH_TEST_ERROR, "host %p is not one of the test's hosts (use mh_role())",
                 (void *) h);
}

mh_host *mh_role(mh_test *t, const char *role, unsigned index) {
        unsigned seen = 0;

        for (size_t i = 0; i < t->plan->n_hosts; i++)
                if (streq(t->plan->roles[i], role) && seen++ == index)
                        return t->plan->hosts[i];
        if (seen == 0)
                end_with(t, MH_TEST_ERROR, "topology '%s' has no role '%s'", t->plan->topology,
                         role);
        end_with(t, MH_TEST_ERROR, "mh_role(t, \"%s\", %u): topology '%s' has %u host%s of role '%s'",
                 role, index, t->plan->topology, seen, seen == 1 ? "" : "s", role);
}

static int run_command(mh_test *t, mh_host *h, const char *input, const char *fmt, va_list ap)
        MH_PRINTF(4, 0);

static int run_command(mh_test *t, mh_host *h, const char *input, const char *fmt, va_list ap) {
        _cleanup_free_ char *command = NULL;
        mh_buf b = { .max = MH_TEST_WIRE_FRAME_MAX };
        const char *out, *err, *message;
        uint32_t code, status;
        uint32_t index = host_index(t, h);
        mh_test_wire_reader rd;

        if (vasprintf(&command, fmt, ap) < 0)
                end_with(t, MH_TEST_ERROR, "out of memory");
        if (mh_test_wire_put_u32(&b, index) < 0 || mh_test_wire_put_str(&b, command) < 0 ||
            mh_test_wire_put_u32(&b, input != NULL) < 0 || mh_test_wire_put_str(&b, input) < 0) {
                mh_buf_dispose(&b);
                end_with(t, MH_TEST_ERROR, "command too long to send (%zu bytes)", strlen(command));
        }
        rd = call(t, MH_TEST_WIRE_EXEC, &b, MH_TEST_WIRE_EXEC_REPLY);
        mh_buf_dispose(&b);
        if (mh_test_wire_get_u32(&rd, &code) < 0 || mh_test_wire_get_u32(&rd, &status) < 0 ||
            mh_test_wire_get_bytes(&rd, &out, NULL) < 0 ||
            mh_test_wire_get_bytes(&rd, &err, NULL) < 0 ||
            mh_test_wire_get_bytes(&rd, &message, NULL) < 0)
                runner_lost();

        free(t->last_command);
        if (asprintf(&t->last_command, "%s: %s", mh_host_name(h), command) < 0)
                t->last_command = NULL;
        free(t->out);
        free(t->err);
        t->out = strdup(out);
        t->err = strdup(err);
        if (!t->out || !t->err)
                end_with(t, MH_TEST_ERROR, "out of memory");
        if ((int32_t) code < 0)
                end_with(t, MH_TEST_ERROR, "command '%s' on %s did not finish: %s", command,
                         mh_host_name(h), message);
        t->last_exit_status = (int) status;
        return (int) status;
}

int mh_run(mh_test *t, mh_host *h, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = run_command(t, h, NULL, fmt, ap);
        va_end(ap);
        return r;
}

int mh_run_input(mh_test *t, mh_host *h, const char *input, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = run_command(t, h, strempty(input), fmt, ap);
        va_end(ap);
        return r;
}

/* Ask the runner for a systemd call (signal: KILL's); the reply's text is the state or
 * the error. */
static int unit_call(mh_test *t, mh_host *h, mh_test_wire_verb verb, const char *unit, int signal,
                     const char **ret_text) {
        mh_buf b = { .max = MH_TEST_WIRE_FRAME_MAX };
        uint32_t index = host_index(t, h), code;
        const char *text;
        mh_test_wire_reader rd;

        if (mh_test_wire_put_u32(&b, index) < 0 || mh_test_wire_put_u32(&b, verb) < 0 ||
            mh_test_wire_put_str(&b, unit) < 0 ||
            (verb == MH_TEST_WIRE_KILL && mh_test_wire_put_u32(&b, (uint32_t) signal) < 0)) {
                mh_buf_dispose(&b);
                end_with(t, MH_TEST_ERROR, "out of memory");
        }
        rd = call(t, MH_TEST_WIRE_UNIT, &b, MH_TEST_WIRE_UNIT_REPLY);
        mh_buf_dispose(&b);
        if (mh_test_wire_get_u32(&rd, &code) < 0 || mh_test_wire_get_bytes(&rd, &text, NULL) < 0)
                runner_lost();
        if ((int32_t) code < 0) {
                snprintf(t->error, sizeof(t->error), "%s", text);
                return (int32_t) code;
        }
        t->error[0] = '\0';
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
        uint32_t index = host_index(t, h), code, peers = 0;
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
                        end_with(t, MH_TEST_ERROR, "a fault with %u peers (at most %u)", peers,
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
                end_with(t, MH_TEST_ERROR, "out of memory");
        }
        rd = call(t, MH_TEST_WIRE_FAULT, &b, MH_TEST_WIRE_FAULT_REPLY);
        mh_buf_dispose(&b);
        if (mh_test_wire_get_u32(&rd, &code) < 0 || mh_test_wire_get_u32(&rd, n) < 0 ||
            mh_test_wire_get_bytes(&rd, &message, NULL) < 0)
                runner_lost();
        snprintf(t->error, sizeof(t->error), "%s", (int32_t) code < 0 ? message : "");
        return (int32_t) code < 0 ? (int32_t) code : 0;
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
                        snprintf(first, sizeof(first), "%s", t->error);
                }
        }
        snprintf(t->error, sizeof(t->error), "%s", first);
        return r;
}

/* Start f on h as part of fault id. */
static int start_as(mh_test *t, mh_host *h, const mh_fault *f, int id) {
        uint32_t n = 0;
        int r;

        if (t->n_faults == FAULTS_MAX) {
                snprintf(t->error, sizeof(t->error), "more than %d faults in one test", FAULTS_MAX);
                return -ENOSPC;
        }
        r = fault_call(t, h, MH_TEST_WIRE_FAULT_START, f, &n);
        if (r < 0)
                return r;
        t->faults[t->n_faults++] = (test_fault){ .id = id, .host = host_index(t, h), .n = n };
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
                        end_with(t, MH_TEST_ERROR, "mh_partition(): more than %u hosts",
                                 MH_TEST_WIRE_PEERS_MAX);
                (void) host_index(t, other[n]);
                peers[n] = mh_host_config_address(mh_host_get_config(other[n]));
        }
        peers[n] = NULL;
        if (!side || !side[0] || n == 0)
                end_with(t, MH_TEST_ERROR, "mh_partition(): a side with no hosts");
        for (size_t i = 0; r >= 0 && side[i]; i++)
                r = start_as(t, side[i], &f, id);
        t->last_fault_id = id;
        if (r < 0) {
                /* none of it stays: heal what was made, keep the first error */
                char first[MH_ERROR_MESSAGE_MAX];

                snprintf(first, sizeof(first), "%s", t->error);
                (void) heal_id(t, id);
                snprintf(t->error, sizeof(t->error), "%s", first);
                return r;
        }
        return id;
}

int mh_fault_heal(mh_test *t, int id) {
        if (id <= 0 || id > t->last_fault_id) {
                snprintf(t->error, sizeof(t->error), "no fault %d in this test", id);
                return -ENOENT;
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
                end_with(t, MH_TEST_ERROR, "out of memory");
        }
        t->kept = k;
        t->kept[t->n_kept++] = (kept){ .p = p, .free_fn = free_fn };
}

void mh_test_check_host(mh_test *t, const mh_host *h) {
        (void) host_index(t, (mh_host *) h);
}

/* Add a stream of the last command to the failure's details, cut to SHOWN_MAX. */
static void show_stream(mh_test *t, const char *name, const char *text) {
        size_t n = strlen(text);

        if (n == 0)
                return;
        if (n > SHOWN_MAX)
                (void) mh_buf_printf(&t->details, "%s (last %d of %zu bytes):\n%s\n", name,
                                     SHOWN_MAX, n, text + n - SHOWN_MAX);
        else
                (void) mh_buf_printf(&t->details, "%s:\n%s%s", name, text,
                                     text[n - 1] == '\n' ? "" : "\n");
}

static void show_last_command(mh_test *t) {
        if (!t->last_command)
                return;
        (void) mh_buf_printf(&t->details, "last command: %s (exit %d)\n", t->last_command,
                             t->last_exit_status);
        show_stream(t, "stdout", mh_stdout(t));
        show_stream(t, "stderr", mh_stderr(t));
}

void mh_assert_failed(mh_test *t, const char *file, unsigned line, const char *expr) {
        show_last_command(t);
        end_with(t, MH_TEST_FAILED, "%s:%u: assertion failed: %s", file, line, expr);
}

void mh_assert_ok(mh_test *t, const char *file, unsigned line, int r, const char *expr) {
        if (r >= 0)
                return;
        end_with(t, MH_TEST_FAILED, "%s:%u: %s failed: %s", file, line, expr,
                 t->error[0] ? t->error : strerror(-r));
}

/* s cut for a one-line message, with its newlines shown as \n. */
static void shown_value(const char *s, char buf[static VALUE_SHOWN_MAX + 8]) {
        size_t o = 0;

        if (!s) {
                snprintf(buf, VALUE_SHOWN_MAX + 8, "NULL");
                return;
        }
        buf[o++] = '\'';
        for (; *s && o < VALUE_SHOWN_MAX; s++) {
                if (*s == '\n') {
                        buf[o++] = '\\';
                        buf[o++] = 'n';
                } else
                        buf[o++] = *s;
        }
        if (*s) {
                memcpy(buf + o, "...", 3);
                o += 3;
        }
        buf[o++] = '\'';
        buf[o] = '\0';
}

void mh_assert_streq(mh_test *t, const char *file, unsigned line, const char *a, const char *b,
                     const char *expr_a, const char *expr_b) {
        char shown_a[VALUE_SHOWN_MAX + 8], shown_b[VALUE_SHOWN_MAX + 8];

        if (streq_ptr(a, b))
                return;
        shown_value(a, shown_a);
        shown_value(b, shown_b);
        (void) mh_buf_printf(&t->details, "%s:\n%s\n%s:\n%s\n", expr_a, strempty(a), expr_b,
                             strempty(b));
        end_with(t, MH_TEST_FAILED, "%s:%u: %s == %s failed: %s != %s", file, line, expr_a, expr_b,
                 shown_a, shown_b);
}

void mh_assert_run_ok(mh_test *t, const char *file, unsigned line, mh_host *h, const char *fmt,
                      ...) {
        va_list ap;
        int status;

        va_start(ap, fmt);
        status = run_command(t, h, NULL, fmt, ap);
        va_end(ap);
        if (status == 0)
                return;
        show_last_command(t);
        end_with(t, MH_TEST_FAILED, "%s:%u: command failed with exit status %d: %s", file, line,
                 status, t->last_command);
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

        if (run_phase(&t, PHASE_SETUP, mh_module_hook(plan->module, MH_HOOK_SETUP))) {
                run_phase(&t, PHASE_BODY, plan->info->run);
                run_phase(&t, PHASE_TEARDOWN, mh_module_hook(plan->module, MH_HOOK_TEARDOWN));
        }

        if (mh_test_wire_put_u32(&b, t.status) < 0 || mh_test_wire_put_str(&b, t.message) < 0 ||
            mh_test_wire_put_bytes(&b, strempty(t.details.data), t.details.size) < 0)
                runner_lost();
        send_or_die(&t, MH_TEST_WIRE_END, &b);
        _exit(EXIT_SUCCESS);
}
