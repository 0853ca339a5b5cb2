/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <mhc/host.h>
#include <mhc/postgresql.h>
#include <mhc/systemd.h>
#include <mhc/test.h>

#include "module.h"
#include "host.h"
#include "ssh.h"
#include "util.h"

/*
 * A test runs in a process of its own, forked from the runner, so that a
 * crash or a hang ends the test and not the run.  The runner keeps the
 * hosts' SSH sessions (their encryption state cannot be shared between
 * processes): the test asks it for each remote command and systemd call
 * over a socket, in frames of a type, a size and fields; the runner
 * answers each request before reading the next.  SQL goes over libpq
 * connections the test's process opens itself.
 */

enum {
        MSG_EXEC = 1,   /* test -> runner: host, command, input */
        MSG_UNIT,       /* test -> runner: host, verb, unit */
        MSG_NOTE,       /* test -> runner: a line of the test's log */
        MSG_END,        /* test -> runner: status, message, details */
        MSG_EXEC_REPLY, /* runner -> test: code, exit status, stdout, stderr, message */
        MSG_UNIT_REPLY, /* runner -> test: code, state or message */
};

typedef enum unit_verb {
        UNIT_START,
        UNIT_STOP,
        UNIT_RESTART,
        UNIT_RELOAD,
        UNIT_STATE,
} unit_verb;

#define FRAME_MAX          (160u << 20) /* two streams of COMMAND_OUTPUT_MAX, and more */
#define COMMAND_OUTPUT_MAX (64u << 20)  /* per stream of one test command */
#define SHOWN_MAX          4096         /* of a command's output in a failure's details */
#define VALUE_SHOWN_MAX    200          /* of a compared string in a failure's message */
#define UNIT_TIMEOUT_MSEC  90000u

/* --- frames ---------------------------------------------------------------- */

typedef struct frame_header {
        uint32_t type;
        uint32_t size;
} frame_header;

typedef struct reader {
        const char *p;
        size_t left;
} reader;

static int put_u32(mh_buf *b, uint32_t v) {
        return mh_buf_append(b, &v, sizeof(v));
}

/* A field of bytes: its size, the bytes and a NUL, so that it reads as a string. */
static int put_bytes(mh_buf *b, const void *data, size_t size) {
        int r;

        if (size > UINT32_MAX)
                return -EFBIG;
        r = put_u32(b, (uint32_t) size);
        if (r >= 0 && size > 0)
                r = mh_buf_append(b, data, size);
        if (r >= 0)
                r = mh_buf_append(b, "", 1);
        return r;
}

static int put_str(mh_buf *b, const char *s) {
        return put_bytes(b, strempty(s), strlen(strempty(s)));
}

static int get_u32(reader *rd, uint32_t *ret) {
        if (rd->left < sizeof(*ret))
                return -EBADMSG;
        memcpy(ret, rd->p, sizeof(*ret));
        rd->p += sizeof(*ret);
        rd->left -= sizeof(*ret);
        return 0;
}

/* A field as a NUL-terminated string borrowed from the frame. */
static int get_bytes(reader *rd, const char **ret, size_t *ret_size) {
        uint32_t size;

        if (get_u32(rd, &size) < 0 || rd->left < (size_t) size + 1 || rd->p[size] != '\0')
                return -EBADMSG;
        *ret = rd->p;
        if (ret_size)
                *ret_size = size;
        rd->p += size + 1;
        rd->left -= size + 1;
        return 0;
}

static int write_all(int fd, const void *data, size_t size) {
        const char *p = data;

        while (size > 0) {
                ssize_t n = send(fd, p, size, MSG_NOSIGNAL);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                size -= (size_t) n;
        }
        return 0;
}

static int send_frame(int fd, uint32_t type, const mh_buf *payload) {
        frame_header h = { .type = type, .size = (uint32_t) payload->size };
        int r;

        if (payload->size > FRAME_MAX)
                return -EFBIG;
        r = write_all(fd, &h, sizeof(h));
        if (r >= 0 && payload->size > 0)
                r = write_all(fd, payload->data, payload->size);
        return r;
}

/* Read size bytes; 0 at end of file before the first byte, -EPIPE after it. */
static int read_all(int fd, void *data, size_t size) {
        char *p = data;
        size_t done = 0;

        while (done < size) {
                ssize_t n = read(fd, p + done, size - done);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return done == 0 ? 0 : -EPIPE;
                done += (size_t) n;
        }
        return 1;
}

/* Read one frame into payload (replacing what it held): 1, or 0 at end of file. */
static int recv_frame(int fd, uint32_t *ret_type, mh_buf *payload) {
        frame_header h;
        int r;

        r = read_all(fd, &h, sizeof(h));
        if (r <= 0)
                return r;
        if (h.size > FRAME_MAX)
                return -EBADMSG;
        payload->size = 0;
        payload->max = FRAME_MAX + 1;
        if (h.size > 0) {
                char *data = realloc(payload->data, h.size + 1);

                if (!data)
                        return -ENOMEM;
                payload->data = data;
                payload->allocated = h.size + 1;
                r = read_all(fd, payload->data, h.size);
                if (r <= 0)
                        return r < 0 ? r : -EPIPE;
                payload->size = h.size;
                payload->data[h.size] = '\0';
        }
        *ret_type = h.type;
        return 1;
}

/* --- the test's side ------------------------------------------------------- */

typedef enum phase {
        PHASE_SETUP,
        PHASE_BODY,
        PHASE_TEARDOWN,
} phase;

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
        mh_sql_result **results;        /* freed with the test */
        size_t n_results;
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

void mh_skip(mh_test *t, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        end_test(t, MH_TEST_SKIPPED, fmt, ap);
}

static void send_or_die(mh_test *t, uint32_t type, const mh_buf *payload) {
        if (send_frame(t->fd, type, payload) < 0)
                runner_lost();
}

/* Send a request and wait for its reply, left in t->reply. */
static reader call(mh_test *t, uint32_t type, const mh_buf *payload, uint32_t reply_type) {
        uint32_t got;

        send_or_die(t, type, payload);
        if (recv_frame(t->fd, &got, &t->reply) <= 0 || got != reply_type)
                runner_lost();
        return (reader){ .p = t->reply.data, .left = t->reply.size };
}

void mh_note(mh_test *t, const char *fmt, ...) {
        _cleanup_free_ char *line = NULL;
        mh_buf b = { .max = FRAME_MAX };
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&line, fmt, ap);
        va_end(ap);
        if (r < 0)
                return;
        if (put_str(&b, line) >= 0)
                send_or_die(t, MSG_NOTE, &b);
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
        mh_buf b = { .max = FRAME_MAX };
        const char *out, *err, *message;
        uint32_t code, status;
        uint32_t index = host_index(t, h);
        reader rd;

        if (vasprintf(&command, fmt, ap) < 0)
                end_with(t, MH_TEST_ERROR, "out of memory");
        if (put_u32(&b, index) < 0 || put_str(&b, command) < 0 || put_u32(&b, input != NULL) < 0 ||
            put_str(&b, input) < 0) {
                mh_buf_dispose(&b);
                end_with(t, MH_TEST_ERROR, "command too long to send (%zu bytes)", strlen(command));
        }
        rd = call(t, MSG_EXEC, &b, MSG_EXEC_REPLY);
        mh_buf_dispose(&b);
        if (get_u32(&rd, &code) < 0 || get_u32(&rd, &status) < 0 ||
            get_bytes(&rd, &out, NULL) < 0 || get_bytes(&rd, &err, NULL) < 0 ||
            get_bytes(&rd, &message, NULL) < 0)
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

/* Ask the runner for a systemd call; the reply's text is the state or the error. */
static int unit_call(mh_test *t, mh_host *h, unit_verb verb, const char *unit,
                     const char **ret_text) {
        mh_buf b = { .max = FRAME_MAX };
        uint32_t index = host_index(t, h), code;
        const char *text;
        reader rd;

        if (put_u32(&b, index) < 0 || put_u32(&b, verb) < 0 || put_str(&b, unit) < 0) {
                mh_buf_dispose(&b);
                end_with(t, MH_TEST_ERROR, "out of memory");
        }
        rd = call(t, MSG_UNIT, &b, MSG_UNIT_REPLY);
        mh_buf_dispose(&b);
        if (get_u32(&rd, &code) < 0 || get_bytes(&rd, &text, NULL) < 0)
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
        return unit_call(t, h, UNIT_START, unit, NULL);
}

int mh_service_stop(mh_test *t, mh_host *h, const char *unit) {
        return unit_call(t, h, UNIT_STOP, unit, NULL);
}

int mh_service_restart(mh_test *t, mh_host *h, const char *unit) {
        return unit_call(t, h, UNIT_RESTART, unit, NULL);
}

int mh_service_reload(mh_test *t, mh_host *h, const char *unit) {
        return unit_call(t, h, UNIT_RELOAD, unit, NULL);
}

const char *mh_service_state(mh_test *t, mh_host *h, const char *unit) {
        const char *state;

        if (unit_call(t, h, UNIT_STATE, unit, &state) < 0)
                return NULL;
        snprintf(t->state, sizeof(t->state), "%s", state);
        return t->state;
}

static mh_sql_result *sql(mh_test *t, mh_host *h, const char *fmt, va_list ap) MH_PRINTF(3, 0);

static mh_sql_result *sql(mh_test *t, mh_host *h, const char *fmt, va_list ap) {
        _cleanup_free_ char *statement = NULL;
        mh_error e = MH_ERROR_INIT;
        mh_sql_result *result, **results;

        (void) host_index(t, h);
        if (vasprintf(&statement, fmt, ap) < 0)
                end_with(t, MH_TEST_ERROR, "out of memory");
        results = reallocarray(t->results, t->n_results + 1, sizeof(*results));
        if (!results)
                end_with(t, MH_TEST_ERROR, "out of memory");
        t->results = results;
        if (mh_sql_query(h, NULL, statement, &result, &e) < 0)
                end_with(t, e.code == -MH_ERR_COMMAND ? MH_TEST_FAILED : MH_TEST_ERROR, "%s: %s",
                         mh_host_name(h), e.message);
        t->results[t->n_results++] = result;
        return result;
}

mh_sql_result *mh_sql(mh_test *t, mh_host *h, const char *fmt, ...) {
        mh_sql_result *r;
        va_list ap;

        va_start(ap, fmt);
        r = sql(t, h, fmt, ap);
        va_end(ap);
        return r;
}

const char *mh_sql_text(mh_test *t, mh_host *h, const char *fmt, ...) {
        mh_sql_result *r;
        va_list ap;

        va_start(ap, fmt);
        r = sql(t, h, fmt, ap);
        va_end(ap);
        return mh_sql_result_text(r);
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

_Noreturn static void test_process(const mh_test_plan *plan, int fd) {
        mh_test t = {
                .plan = plan,
                .fd = fd,
                .status = MH_TEST_PASSED,
                .details = { .max = 1u << 20 },
                .reply = { .max = FRAME_MAX + 1 },
        };
        mh_buf b = { .max = FRAME_MAX };

        /* Ctrl-C is the runner's to handle; the sessions are the runner's to use. */
        signal(SIGINT, SIG_IGN);
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

        if (put_u32(&b, t.status) < 0 || put_str(&b, t.message) < 0 ||
            put_bytes(&b, strempty(t.details.data), t.details.size) < 0)
                runner_lost();
        send_or_die(&t, MSG_END, &b);
        _exit(EXIT_SUCCESS);
}

/* --- the runner's side ----------------------------------------------------- */

typedef struct runner {
        const mh_test_plan *plan;
        int fd;
        uint64_t deadline;      /* monotonic, usec */
        bool timed_out;
        bool ended;             /* MSG_END came */
        mh_test_outcome *outcome;
        mh_buf notes;
} runner;

static unsigned remaining_msec(const runner *rn, unsigned cap) {
        uint64_t now = mh_now_usec();
        uint64_t left = rn->deadline > now ? (rn->deadline - now + 999) / 1000 : 0;

        return (unsigned) (left < cap ? left : cap);
}

static mh_host *request_host(const runner *rn, reader *rd) {
        uint32_t index;

        if (get_u32(rd, &index) < 0 || index >= rn->plan->n_hosts)
                return NULL;
        return rn->plan->hosts[index];
}

static int reply_exec(runner *rn, int code, const mh_exec_result *res, const char *message) {
        mh_buf b = { .max = FRAME_MAX };
        int r;

        r = put_u32(&b, (uint32_t) code);
        if (r >= 0)
                r = put_u32(&b, res ? (uint32_t) res->exit_status : 0);
        if (r >= 0)
                r = put_bytes(&b, res && res->out ? res->out : "", res ? res->out_size : 0);
        if (r >= 0)
                r = put_bytes(&b, res && res->err ? res->err : "", res ? res->err_size : 0);
        if (r >= 0)
                r = put_str(&b, message);
        if (r >= 0)
                r = send_frame(rn->fd, MSG_EXEC_REPLY, &b);
        mh_buf_dispose(&b);
        return r;
}

static int serve_exec(runner *rn, reader *rd) {
        mh_host *h = request_host(rn, rd);
        const char *command, *input;
        size_t input_size;
        uint32_t has_input;
        mh_exec_result res = {};
        mh_error e = MH_ERROR_INIT;
        unsigned cap;
        int r;

        if (!h || get_bytes(rd, &command, NULL) < 0 || get_u32(rd, &has_input) < 0 ||
            get_bytes(rd, &input, &input_size) < 0)
                return -EBADMSG;

        cap = mh_host_config_command_timeout(mh_host_get_config(h)) * 1000u;
        mh_exec_options o = {
                .input = has_input ? input : NULL,
                .input_size = has_input ? input_size : 0,
                .timeout_msec = remaining_msec(rn, cap),
                .max_output = COMMAND_OUTPUT_MAX,
        };
        if (o.timeout_msec == 0)
                return -ETIME;
        r = mh_ssh_exec(mh_host_ssh(h), command, &o, &res, &e);
        if (r == -ETIMEDOUT && remaining_msec(rn, 1) == 0)
                return -ETIME;
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

static int unit_verb_run(mh_systemd *sd, unit_verb verb, const char *unit, unsigned timeout_msec,
                         mh_unit_state *state, mh_error *e) {
        switch (verb) {
        case UNIT_START:
                return mh_systemd_start_unit(sd, unit, timeout_msec, e);
        case UNIT_STOP:
                return mh_systemd_stop_unit(sd, unit, timeout_msec, e);
        case UNIT_RESTART:
                return mh_systemd_restart_unit(sd, unit, timeout_msec, e);
        case UNIT_RELOAD:
                return mh_systemd_reload_unit(sd, unit, timeout_msec, e);
        case UNIT_STATE:
                return mh_systemd_get_unit(sd, unit, state, e);
        }
        return mh_error_set(e, -EBADMSG, "unknown request");
}

static int serve_unit(runner *rn, reader *rd) {
        mh_host *h = request_host(rn, rd);
        mh_error e = MH_ERROR_INIT;
        mh_unit_state state = {};
        mh_buf b = { .max = FRAME_MAX };
        const char *unit;
        uint32_t verb;
        unsigned timeout_msec = remaining_msec(rn, UNIT_TIMEOUT_MSEC);
        mh_systemd *sd;
        int r;

        if (!h || get_u32(rd, &verb) < 0 || get_bytes(rd, &unit, NULL) < 0)
                return -EBADMSG;
        if (timeout_msec == 0)
                return -ETIME;
        sd = mh_host_systemd(h, &e);
        r = sd ? unit_verb_run(sd, verb, unit, timeout_msec, &state, &e) : e.code;
        if (r == -ETIMEDOUT && remaining_msec(rn, 1) == 0)
                return -ETIME;
        /* mh_host_systemd() names the host; the systemd layer does not. */
        if (r < 0 && sd)
                mh_error_prefix(&e, "host '%s'", mh_host_name(h));

        r = put_u32(&b, (uint32_t) (r < 0 ? r : 0));
        if (r >= 0)
                r = put_str(&b, e.code < 0 ? e.message : state.active_state);
        if (r >= 0)
                r = send_frame(rn->fd, MSG_UNIT_REPLY, &b);
        mh_buf_dispose(&b);
        return r;
}

static int serve_note(runner *rn, reader *rd) {
        const char *line;

        if (get_bytes(rd, &line, NULL) < 0)
                return -EBADMSG;
        (void) mh_buf_printf(&rn->notes, "note: %s\n", line);
        if (rn->plan->on_note)
                rn->plan->on_note(line, rn->plan->userdata);
        return 0;
}

static int serve_end(runner *rn, reader *rd) {
        const char *message, *details;
        uint32_t status;

        if (get_u32(rd, &status) < 0 || status > MH_TEST_ERROR || get_bytes(rd, &message, NULL) < 0 ||
            get_bytes(rd, &details, NULL) < 0)
                return -EBADMSG;
        rn->ended = true;
        rn->outcome->status = (mh_test_status) status;
        if (*message && !(rn->outcome->message = strdup(message)))
                return -ENOMEM;
        if (*details && mh_buf_printf(&rn->notes, "%s", details) < 0)
                return -ENOMEM;
        return 0;
}

/* Serve one request; -ETIME when the test's time ran out meanwhile. */
static int serve(runner *rn, uint32_t type, const mh_buf *payload) {
        reader rd = { .p = payload->data, .left = payload->size };

        switch (type) {
        case MSG_EXEC:
                return serve_exec(rn, &rd);
        case MSG_UNIT:
                return serve_unit(rn, &rd);
        case MSG_NOTE:
                return serve_note(rn, &rd);
        case MSG_END:
                return serve_end(rn, &rd);
        }
        return -EBADMSG;
}

typedef enum stop_reason {
        STOP_EOF,
        STOP_TIMEOUT,
        STOP_CANCEL,
        STOP_BROKEN,
} stop_reason;

/* Serve the test until it ends its side, runs out of time or is cancelled. */
static stop_reason serve_until_end(runner *rn) {
        mh_buf payload = { .max = FRAME_MAX + 1 };
        stop_reason why = STOP_BROKEN;

        for (;;) {
                struct pollfd p[2] = {
                        { .fd = rn->fd, .events = POLLIN },
                        { .fd = rn->plan->cancel_fd, .events = POLLIN },
                };
                unsigned wait = remaining_msec(rn, 1000);
                uint32_t type;
                int r;

                if (wait == 0) {
                        why = STOP_TIMEOUT;
                        break;
                }
                r = poll(p, rn->plan->cancel_fd >= 0 ? 2 : 1, (int) wait);
                if (r < 0 && errno != EINTR)
                        break;
                if (r <= 0)
                        continue;
                if (rn->plan->cancel_fd >= 0 && (p[1].revents & POLLIN)) {
                        why = STOP_CANCEL;
                        break;
                }
                r = recv_frame(rn->fd, &type, &payload);
                if (r <= 0) {
                        why = r == 0 ? STOP_EOF : STOP_BROKEN;
                        break;
                }
                r = serve(rn, type, &payload);
                if (r == -ETIME) {
                        why = STOP_TIMEOUT;
                        break;
                }
                /* A reply the test cannot take: it is gone, its end shows why. */
                if (r < 0 && r != -EPIPE && r != -ECONNRESET) {
                        why = STOP_BROKEN;
                        break;
                }
        }
        mh_buf_dispose(&payload);
        return why;
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

int mh_test_execute(const mh_test_plan *plan, mh_test_outcome *ret, mh_error *error) {
        unsigned timeout_sec = plan->timeout_sec ?: plan->info->timeout ?: MH_TEST_DEFAULT_TIMEOUT;
        mh_test_outcome outcome = {};
        runner rn = { .plan = plan, .outcome = &outcome, .notes = { .max = 1u << 20 } };
        int sv[2], wait_status = 0, r;
        uint64_t start;
        stop_reason why;
        pid_t pid;

        assert(plan && plan->info && plan->module && ret);

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return mh_error_set(error, -errno, "cannot make a socket for the test: %s",
                                    strerror(errno));
        start = mh_now_usec();
        pid = fork();
        if (pid < 0) {
                r = -errno;
                close(sv[0]);
                close(sv[1]);
                return mh_error_set(error, r, "cannot fork the test's process: %s", strerror(-r));
        }
        if (pid == 0) {
                close(sv[0]);
                test_process(plan, sv[1]);
        }
        close(sv[1]);

        rn.fd = sv[0];
        rn.deadline = start + (uint64_t) timeout_sec * 1000000u;
        why = serve_until_end(&rn);
        if (why != STOP_EOF)
                kill(pid, SIGKILL);
        close(sv[0]);
        while (waitpid(pid, &wait_status, 0) < 0 && errno == EINTR)
                ;
        outcome.duration_usec = mh_now_usec() - start;

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
