/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <time.h>

#include <mhc/host.h>
#include <mhc/shell.h>
#include <mhc/test.h>

#include "test-private.h"

/*
 * Waiting in a test: a command until it succeeds, a C condition
 * (MH_WAIT_UNTIL), a line in a journal; and background jobs, which run on
 * their host in a process group of their own (setsid) and in the test's
 * cgroup there, so that what is left of them ends with the test.
 */

#define WAIT_FIRST_MSEC   50u
#define WAIT_LAST_MSEC    1000u
#define JOURNAL_POLL_MSEC 200u
#define JOB_POLL_MSEC     50u
#define JOB_TERM_MSEC     2000u /* from SIGTERM to SIGKILL for a job left at the end */

struct mh_job {
        mh_host *host;
        char *base;             /* scratch/job.N: .pid, .out, .err, .status */
        char *command;
        unsigned pid;
        int last_signal;
};

static void sleep_msec(unsigned msec) {
        struct timespec ts = { .tv_sec = msec / 1000, .tv_nsec = (long) (msec % 1000) * 1000000 };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* Sleep the backoff's delay, never past deadline; false once deadline passed. */
static bool backoff(uint64_t deadline, unsigned tries) {
        unsigned delay = WAIT_FIRST_MSEC << (tries < 5 ? tries - 1 : 5);
        uint64_t now = mh_now_usec();

        if (now >= deadline)
                return false;
        delay = MIN(delay, WAIT_LAST_MSEC);
        sleep_msec((unsigned) MIN((uint64_t) delay, (deadline - now + 999) / 1000));
        return true;
}

int mh_wait_run(mh_test *t, mh_host *h, unsigned timeout_msec, const char *fmt, ...) {
        uint64_t start = mh_now_usec(), deadline = start + (uint64_t) timeout_msec * 1000;
        char shown[VALUE_SHOWN_MAX + 8];
        _cleanup_free_ char *command = NULL;
        unsigned tries = 0;
        va_list ap;
        int status, r;

        va_start(ap, fmt);
        r = vasprintf(&command, fmt, ap);
        va_end(ap);
        if (r < 0)
                mh_test_oom(t);
        do {
                tries++;
                status = mh_test_run_command(t, h, NULL, 0, command);
                if (status == 0) {
                        mh_test_clear_error(t);
                        return 0;
                }
        } while (backoff(deadline, tries));
        mh_test_shown_value(mh_test_one_line(t, *mh_stderr(t) ? mh_stderr(t) : mh_stdout(t)),
                            shown);
        return mh_test_set_error(t, -ETIMEDOUT,
                                 "'%s' on %s did not succeed within %.1f s (%u tries): exit %d, %s",
                                 command, mh_host_name(h),
                                 (double) (mh_now_usec() - start) / 1e6, tries, status, shown);
}

mh_wait mh_wait_begin(mh_test *t, unsigned timeout_msec, const char *expr, const char *file,
                      unsigned line) {
        uint64_t now = mh_now_usec();

        return (mh_wait){
                .t = t,
                .expr = expr,
                .file = file,
                .line = line,
                .start = now,
                .deadline = now + (uint64_t) timeout_msec * 1000,
                .tries = 1,
        };
}

void mh_wait_next(mh_wait *w) {
        if (!backoff(w->deadline, w->tries))
                mh_test_end(w->t, MH_TEST_FAILED, "%s:%u: %s did not hold within %.1f s (%u tries)",
                            w->file, w->line, w->expr,
                            (double) (mh_now_usec() - w->start) / 1e6, w->tries);
        w->tries++;
}

/* --- journals -------------------------------------------------------------------- */

int mh_journal_mark(mh_test *t, mh_host *h) {
        test_host *th = &t->hosts[mh_test_host_index(t, h)];
        const char *cursor;

        if (mh_test_run_command(t, h, NULL, 0, "journalctl -q -n 0 --show-cursor") != 0 ||
            !(cursor = strstr(mh_stdout(t), "-- cursor: ")))
                return mh_test_set_error(t, -MH_ERR_COMMAND,
                                         "host '%s': cannot read where the journal is: %s",
                                         mh_host_name(h), mh_test_one_line(t, mh_stderr(t)));
        free(th->cursor);
        th->cursor = strdup(mh_test_one_line(t, cursor + strlen("-- cursor: ")));
        if (!th->cursor)
                mh_test_oom(t);
        mh_test_clear_error(t);
        return 0;
}

/* Where h's journal is read from: the mark, or the test's start on h's clock. */
static const char *journal_since(mh_test *t, mh_host *h) {
        test_host *th = &t->hosts[mh_test_host_index(t, h)];
        int64_t offset = 0;
        uint64_t start;

        if (th->cursor)
                return mh_printf(t, "--after-cursor=%s", mh_quote(t, th->cursor));
        (void) mh_host_clock_offset(h, &offset);
        start = (uint64_t) ((int64_t) t->start_realtime_usec + offset);
        return mh_printf(t, "--since=@%" PRIu64 ".%06" PRIu64, start / 1000000, start % 1000000);
}

int mh_wait_journal(mh_test *t, mh_host *h, const char *unit, const char *pattern,
                    unsigned timeout_msec) {
        unsigned polls = timeout_msec / JOURNAL_POLL_MSEC;
        uint64_t start = mh_now_usec();
        const char *command, *which;

        if (!pattern)
                return mh_test_set_error(t, -EINVAL, "no pattern given");
        /* one round trip: the host polls its journal itself */
        command = mh_printf(t,
                            "n=%u; while :; do "
                            "l=$(journalctl -q --no-pager -o cat %s%s %s | grep -E -m 1 -e %s) && "
                            "{ printf '%%s\\n' \"$l\"; exit 0; }; "
                            "[ \"$n\" -le 0 ] && exit 1; n=$((n - 1)); sleep %u.%03u; done",
                            polls, unit ? "-u " : "", unit ? mh_quote(t, unit) : "",
                            journal_since(t, h), mh_quote(t, pattern), JOURNAL_POLL_MSEC / 1000,
                            JOURNAL_POLL_MSEC % 1000);
        if (mh_test_run_command(t, h, NULL, 0, command) == 0) {
                mh_test_clear_error(t);
                return 0;
        }
        which = unit ? mh_printf(t, "%s's journal", unit) : "the journal";
        if (*mh_stderr(t))
                return mh_test_set_error(t, -MH_ERR_COMMAND, "host '%s': cannot read %s: %s",
                                         mh_host_name(h), which, mh_test_one_line(t, mh_stderr(t)));
        return mh_test_set_error(t, -ETIMEDOUT,
                                 "no line of %s on %s matched '%s' within %.1f s", which,
                                 mh_host_name(h), pattern, (double) (mh_now_usec() - start) / 1e6);
}

/* --- background jobs ---------------------------------------------------------------- */

mh_job *mh_job_start(mh_test *t, mh_host *h, const char *fmt, ...) {
        test_host *th = &t->hosts[mh_test_host_index(t, h)];
        const char *scratch, *base;
        const char *command;
        mh_job *job;
        va_list ap;
        int r;

        va_start(ap, fmt);
        command = mh_test_vprintf(t, fmt, ap);
        va_end(ap);
        scratch = mh_scratch_dir(t, h);
        if (!scratch)
                return NULL;
        base = mh_printf(t, "%s/job.%u", scratch, ++th->n_jobs);
        /* the job's shell leads a session of its own (its pid is its group's), writes its
         * pid, runs the command and writes its status, renamed into place whole */
        r = mh_test_run_command(
                t, h, NULL, 0,
                mh_printf(t,
                          "setsid sh -c 'echo $$ > \"$0.pid\"; sh -c \"$1\" > \"$0.out\" "
                          "2> \"$0.err\" < /dev/null; echo $? > \"$0.tmp\"; "
                          "mv \"$0.tmp\" \"$0.status\"' %s %s > /dev/null 2>&1 < /dev/null & "
                          "while [ ! -s %s.pid ]; do sleep 0.01; done; cat %s.pid",
                          mh_quote(t, base), mh_quote(t, command), mh_quote(t, base),
                          mh_quote(t, base)));
        if (r != 0)
                return mh_test_set_error(t, -MH_ERR_COMMAND, "host '%s': cannot start '%s': %s",
                                         mh_host_name(h), command,
                                         mh_test_one_line(t, mh_stderr(t))),
                       NULL;
        job = mh_test_own(t, calloc(1, sizeof(*job)));
        *job = (mh_job){
                .host = h,
                .base = (char *) base,
                .command = mh_strdup(t, command),
                .pid = (unsigned) strtoul(mh_stdout(t), NULL, 10),
        };
        if (job->pid <= 1)
                return mh_test_set_error(t, -MH_ERR_REMOTE, "host '%s': '%s' gave no pid: '%s'",
                                         mh_host_name(h), command, mh_stdout(t)),
                       NULL;
        /* ended at the end if still running: SIGTERM, a grace, SIGKILL */
        mh_cleanup_run(t, h,
                       "kill -TERM -- -%u 2>/dev/null || exit 0; n=%u; "
                       "while kill -0 -- -%u 2>/dev/null && [ \"$n\" -gt 0 ]; do sleep 0.05; "
                       "n=$((n - 1)); done; kill -KILL -- -%u 2>/dev/null; exit 0",
                       job->pid, JOB_TERM_MSEC / 50, job->pid, job->pid);
        mh_test_clear_error(t);
        mh_note(t, "%s: job %u started: %s", mh_host_name(h), job->pid, command);
        return job;
}

int mh_job_wait(mh_test *t, mh_job *job, unsigned timeout_msec) {
        const char *b = mh_quote(t, job->base);
        int status;

        status = mh_test_run_command(
                t, job->host, NULL, 0,
                mh_printf(t,
                          "n=%u; while [ ! -e %s.status ] && kill -0 %u 2>/dev/null && "
                          "[ \"$n\" -gt 0 ]; do sleep 0.05; n=$((n - 1)); done; "
                          "if [ -e %s.status ]; then cat %s.status; "
                          "elif kill -0 %u 2>/dev/null; then echo running; else echo gone; fi",
                          timeout_msec / JOB_POLL_MSEC, b, job->pid, b, b, job->pid));
        if (status != 0)
                return mh_test_set_error(t, -MH_ERR_COMMAND, "host '%s': cannot wait for job %u: %s",
                                         mh_host_name(job->host), job->pid,
                                         mh_test_one_line(t, mh_stderr(t)));
        if (streq(mh_stdout(t), "running\n"))
                return mh_test_set_error(t, -ETIMEDOUT, "job %u on %s ('%s') still runs after %.1f s",
                                         job->pid, mh_host_name(job->host), job->command,
                                         timeout_msec / 1000.0);
        mh_test_clear_error(t);
        /* the job's shell itself was killed: the signal is the last one sent, if any */
        if (streq(mh_stdout(t), "gone\n"))
                return job->last_signal > 0 ? 128 + job->last_signal : 128 + SIGKILL;
        return (int) strtol(mh_stdout(t), NULL, 10);
}

int mh_job_signal(mh_test *t, mh_job *job, int signal) {
        if (mh_test_run_command(t, job->host, NULL, 0,
                                mh_printf(t, "kill -%d -- -%u", signal, job->pid)) != 0)
                return mh_test_set_error(t, -ESRCH, "host '%s': cannot signal job %u: %s",
                                         mh_host_name(job->host), job->pid,
                                         mh_test_one_line(t, mh_stderr(t)));
        job->last_signal = signal;
        mh_test_clear_error(t);
        return 0;
}

static const char *job_output(mh_test *t, mh_job *job, const char *suffix) {
        char *text = mh_file_read(t, job->host, mh_printf(t, "%s.%s", job->base, suffix), NULL);

        return text ?: "";
}

const char *mh_job_stdout(mh_test *t, mh_job *job) {
        return job_output(t, job, "out");
}

const char *mh_job_stderr(mh_test *t, mh_job *job) {
        return job_output(t, job, "err");
}
