/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <mhc/controller.h>
#include <mhc/outcome.h>
#include <mhc/parallel.h>

#include "mhtest.h"
#include "util.h"

typedef struct counts {
        size_t by_status[MH_TEST_ERROR + 1];
} counts;

/* One host's commands during the current test, for its artifacts. */
typedef struct command_log {
        char *text;
        size_t size;
        FILE *f;
} command_log;

typedef struct run {
        const arguments *args;
        const mh_config *config;
        suite plan;
        size_t done;
        uint64_t seed;
        counts counts;
        bool lab_unusable;
        report *report;
        mh_lab *lab;
        FILE *console;          /* stdout, or stderr when stdout is TAP */
        const char **secrets;   /* NULL-terminated: the hosts', then the tests' */
        mh_strv test_secrets;   /* mh_secret()'s, for the rest of the run */
        mh_strv *artifacts;     /* mh_artifact()'s, per host of the current test */
        /* the test running now */
        mh_controller *current;
        const char *current_test;
        uint64_t tests_usec;    /* of the current topology's tests */
        command_log *logs;      /* one per host of current */
        timeline *timeline;     /* of the current test */
        char **failures;        /* reproducers of the failed tests, for the summary */
        size_t n_failures;
} run;

/* --- output -------------------------------------------------------------------- */

static const char *usec_text(uint64_t usec, char buf[static 24]) {
        snprintf(buf, 24, "%" PRIu64, usec);
        return buf;
}

static const char *status_color(mh_test_status s) {
        switch (s) {
        case MH_TEST_PASSED:
                return COLOR_GREEN;
        case MH_TEST_SKIPPED:
                return COLOR_YELLOW;
        default:
                return COLOR_RED;
        }
}

static void upper(const char *s, char *buf, size_t size) {
        size_t i = 0;

        for (; s[i] && i + 1 < size; i++)
                buf[i] = (char) (s[i] >= 'a' && s[i] <= 'z' ? s[i] - 'a' + 'A' : s[i]);
        buf[i] = '\0';
}

/* Print text with each line indented, for a failure's details. */
static void print_indented(FILE *f, const char *text) {
        while (text && *text) {
                const char *nl = strchr(text, '\n');
                int n = nl ? (int) (nl - text) : (int) strlen(text);

                fprintf(f, "    %.*s\n", n, text);
                text += n + (nl ? 1 : 0);
        }
}

/* A test's result line, and with a failure its details and reproducer, printed at once. */
static void print_result(run *rn, const test_result *res) {
        const arguments *args = rn->args;
        const mh_test_outcome *o = res->outcome;
        bool bad = o->status == MH_TEST_FAILED || o->status == MH_TEST_ERROR;
        _cleanup_free_ char *text = NULL;
        char status[16];
        size_t size = 0;
        FILE *f;

        if (args->verbosity < 0 && !bad)
                return;
        f = open_memstream(&text, &size);
        if (!f)
                return;
        upper(mh_test_status_to_string(o->status), status, sizeof(status));
        fprintf(f, "[%zu/%zu] %s [%s] %s%s%s", res->index, res->total, res->name, res->topology,
                color_on(args, status_color(o->status)), status, color_off(args));
        if (o->status != MH_TEST_SKIPPED)
                fprintf(f, " %.2fs (restore %.2fs)", o->duration_usec / 1e6,
                        res->restore_usec / 1e6);
        if (o->message)
                fprintf(f, ": %s", o->message);
        fputc('\n', f);
        if (bad) {
                print_indented(f, o->details);
                if (res->reproducer)
                        fprintf(f, "    reproduce: %s\n", res->reproducer);
        }
        if (fclose(f) == 0)
                console_printf(rn->console, "%s", text);
}

/* The command that runs one test again: same config, topology, name and seed. */
static char *reproducer(run *rn, const char *topology, const char *test) {
        _cleanup_free_ char *config = NULL;
        char *text = NULL;
        size_t size = 0;
        FILE *f;

        _cleanup_free_ char *name = NULL;

        if (mh_shell_quote(rn->args->config_path, &config) < 0 ||
            mh_shell_quote(test, &name) < 0)
                return NULL;
        f = open_memstream(&text, &size);
        if (!f)
                return NULL;
        fprintf(f, "mhtest --config %s --topology %s -k %s --seed %" PRIu64 "%s", config, topology,
                name, rn->seed, rn->args->shuffle ? " --shuffle" : "");
        for (size_t i = 0; i < rn->args->tests.n; i++) {
                _cleanup_free_ char *path = NULL;

                if (mh_shell_quote(rn->args->tests.items[i], &path) >= 0)
                        fprintf(f, " --tests %s", path);
        }
        if (fclose(f) != 0) {
                free(text);
                return NULL;
        }
        return text;
}

/* Count, print and report one test's end, with its outcome as it is. */
static void finish_test(run *rn, const topology_plan *p, const planned *t,
                        const mh_test_outcome *outcome, uint64_t restore_usec) {
        mh_test_status status = outcome->status;
        _cleanup_free_ char *repro = NULL;
        test_result res = {
                .name = t->name,
                .topology = mh_topology_name(p->topology),
                .module = mh_module_path(t->module),
                .file = t->info->file,
                .line = t->info->line,
                .outcome = outcome,
                .restore_usec = restore_usec,
                .index = ++rn->done,
                .total = rn->plan.total,
        };

        if (status == MH_TEST_FAILED || status == MH_TEST_ERROR) {
                repro = reproducer(rn, res.topology, res.name);
                res.reproducer = repro;
                if (repro) {
                        char **failures = reallocarray(rn->failures, rn->n_failures + 1,
                                                       sizeof(*failures));

                        if (failures) {
                                rn->failures = failures;
                                rn->failures[rn->n_failures++] = strdup(repro);
                        }
                }
        }
        rn->counts.by_status[status]++;
        print_result(rn, &res);
        report_test(rn->report, &res);
}

/* A test that did not run: skipped, or an error because its hosts cannot be used. */
static void finish_unrun(run *rn, const topology_plan *p, const planned *t, mh_test_status status,
                         const char *why) {
        mh_test_outcome o = { .status = status, .message = why ? strdup(why) : NULL };

        finish_test(rn, p, t, &o, 0);
        mh_test_outcome_dispose(&o);
}

/* --- running ------------------------------------------------------------------- */

static void on_command(const mh_command_record *record, void *userdata) {
        run *rn = userdata;
        const mh_controller *c = rn->current;
        uint64_t end = mh_realtime_usec();

        (void) timeline_add(rn->timeline, end - record->duration_usec, record->host,
                            "$ %s  [exit %d, %.1f ms%s%s]", record->command, record->exit_status,
                            record->duration_usec / 1000.0, record->error ? ", " : "",
                            record->error ? mh_strerror(record->error) : "");

        for (size_t i = 0; c && rn->logs && i < mh_controller_n_hosts(c); i++)
                if (streq(mh_host_name(mh_controller_hosts(c)[i]), record->host) && rn->logs[i].f) {
                        fprintf(rn->logs[i].f, "$ %s\n  [exit %d, %.1f ms%s%s]\n",
                                record->command, record->exit_status,
                                record->duration_usec / 1000.0, record->error ? ", " : "",
                                record->error ? mh_strerror(record->error) : "");
                        break;
                }
}

static void on_note(const char *line, void *userdata) {
        run *rn = userdata;

        report_event(rn->report, "note", "test", rn->current_test, "line", line, NULL);
        (void) timeline_add(rn->timeline, mh_realtime_usec(), "runner", "note: %s", line);
        if (rn->args->verbosity > 0)
                console_printf(rn->console, "    note: %s\n", line);
}

/* A test's mh_secret(): hidden everywhere from now on. */
static void on_secret(const char *secret, void *userdata) {
        run *rn = userdata;
        const char **secrets;
        size_t n = 0;

        if (mh_strv_contains(&rn->test_secrets, secret) ||
            mh_strv_consume(&rn->test_secrets, strdup(secret)) < 0)
                return;
        while (rn->secrets[n])
                n++;
        secrets = reallocarray(rn->secrets, n + 2, sizeof(*secrets));
        if (!secrets)
                return;
        secrets[n] = rn->test_secrets.items[rn->test_secrets.n - 1];
        secrets[n + 1] = NULL;
        rn->secrets = secrets;
        (void) console_set_secrets(rn->secrets);
        report_add_secret(rn->report, secret);
}

static void on_artifact(size_t host, const char *path, void *userdata) {
        run *rn = userdata;

        if (rn->artifacts)
                (void) mh_strv_consume(&rn->artifacts[host], strdup(path));
}

static void close_logs(run *rn, size_t n) {
        for (size_t i = 0; rn->logs && i < n; i++) {
                if (rn->logs[i].f)
                        fclose(rn->logs[i].f);
                free(rn->logs[i].text);
                rn->logs[i] = (command_log){};
        }
}

static int open_logs(run *rn, size_t n) {
        for (size_t i = 0; i < n; i++) {
                rn->logs[i].f = open_memstream(&rn->logs[i].text, &rn->logs[i].size);
                if (!rn->logs[i].f)
                        return -ENOMEM;
        }
        return 0;
}

static bool wants_artifacts(const arguments *args, mh_test_status s) {
        switch (args->collect) {
        case COLLECT_ALWAYS:
                return true;
        case COLLECT_NEVER:
                return false;
        default:
                return s == MH_TEST_FAILED || s == MH_TEST_ERROR;
        }
}

static void collect(run *rn, const mh_controller *c, const planned *t, uint64_t since,
                    const mh_outcome *outcomes) {
        for (size_t i = 0; i < mh_controller_n_hosts(c); i++) {
                mh_host *h = mh_controller_hosts(c)[i];
                mh_error e = MH_ERROR_INIT;

                if (rn->logs[i].f)
                        fflush(rn->logs[i].f);
                if (collect_artifacts(rn->args->artifacts_dir,
                                      mh_topology_name(mh_controller_topology(c)), t->name, h,
                                      since, strempty(rn->logs[i].text), outcomes[i].evidence,
                                      rn->artifacts ? &rn->artifacts[i] : NULL, rn->secrets,
                                      &e) < 0)
                        console_printf(stderr, "mhtest: artifacts of %s: %s\n", mh_host_name(h),
                                       e.message);
        }
}

/* --- outcome checks --------------------------------------------------------- */

typedef struct outcome_job {
        mh_host *const *hosts;
        uint64_t since;
        mh_outcome *outcomes;
        mh_error *errors;
} outcome_job;

static int check_one(size_t i, void *userdata) {
        outcome_job *job = userdata;

        return mh_host_check_outcome(job->hosts[i], job->since, &job->outcomes[i],
                                     &job->errors[i]);
}

/* Append a line to the test's details. */
static void add_detail(mh_test_outcome *o, const char *fmt, ...) MH_PRINTF(2, 3);
static void add_detail(mh_test_outcome *o, const char *fmt, ...) {
        size_t n = o->details ? strlen(o->details) : 0;
        char *line, *details;
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&line, fmt, ap);
        va_end(ap);
        if (k < 0)
                return;
        if (asprintf(&details, "%s%s%s\n", strempty(o->details),
                     n > 0 && o->details[n - 1] != '\n' ? "\n" : "", line) >= 0) {
                free(o->details);
                o->details = details;
        }
        free(line);
}

/*
 * Look on every host of the test for what went wrong there meanwhile (core
 * dumps, denials, oopses, failed units): each finding is an event and a line
 * of the details; a warning is printed; the first failing one fails a test
 * that passed.  outcomes[] gets each host's, for its artifacts.
 */
static void check_outcomes(run *rn, const mh_controller *c, const planned *t, uint64_t since,
                           mh_test_outcome *o, mh_outcome *outcomes) {
        size_t n = mh_controller_n_hosts(c);
        _cleanup_free_ mh_error *errors = calloc(n ?: 1, sizeof(*errors));
        outcome_job job = { mh_controller_hosts(c), since, outcomes, errors };
        const char *topology = mh_topology_name(mh_controller_topology(c));

        if (!errors)
                return;
        (void) mh_parallel_for(n, check_one, &job);
        for (size_t i = 0; i < n; i++) {
                const char *host = mh_host_name(mh_controller_hosts(c)[i]);

                if (errors[i].code < 0) {
                        console_printf(stderr, "mhtest: %swarning%s: after %s [%s]: %s\n",
                                       color_on(rn->args, COLOR_YELLOW), color_off(rn->args),
                                       t->name, topology, errors[i].message);
                        report_event(rn->report, "outcome", "test", t->name, "host", host,
                                     "status", "error", "message", errors[i].message, NULL);
                        continue;
                }
                for (size_t j = 0; j < outcomes[i].n_findings; j++) {
                        const mh_outcome_finding *f = &outcomes[i].findings[j];
                        const char *check = mh_outcome_check_to_string(f->check);

                        report_event(rn->report, "outcome", "test", t->name, "host", host,
                                     "check", check, "action", mh_outcome_action_to_string(f->action),
                                     "summary", f->summary, NULL);
                        add_detail(o, "outcome check %s (%s) on %s: %s", check,
                                   mh_outcome_action_to_string(f->action), host, f->summary);
                        if (f->action == MH_OUTCOME_WARN)
                                console_printf(stderr, "mhtest: %swarning%s: %s [%s]: host %s: %s: %s\n",
                                               color_on(rn->args, COLOR_YELLOW), color_off(rn->args),
                                               t->name, topology, host, check, f->summary);
                }
                if (o->status == MH_TEST_PASSED && mh_outcome_failure(&outcomes[i])) {
                        const mh_outcome_finding *f = mh_outcome_failure(&outcomes[i]);
                        char *message;

                        if (asprintf(&message, "host '%s': %s: %s", host,
                                     mh_outcome_check_to_string(f->check), f->summary) >= 0) {
                                free(o->message);
                                o->message = message;
                                o->status = MH_TEST_FAILED;
                        }
                }
        }
}

/* The test's timeline.log: the runner's events and the journals saved with its artifacts. */
static void write_timeline(run *rn, const mh_controller *c, const planned *t) {
        const char *topology = mh_topology_name(mh_controller_topology(c));
        _cleanup_free_ char *header = NULL;
        mh_buf b = MH_BUF_INIT(64 << 10);
        mh_error e = MH_ERROR_INIT;
        char *text;
        int k;

        k = mh_buf_printf(&b, "# %s [%s]: the runner's events and the hosts' journals, on the "
                              "runner's clock (UTC)\n# clock offsets (host - runner, at connect):",
                          t->name, topology);
        for (size_t i = 0; k >= 0 && i < mh_controller_n_hosts(c); i++) {
                mh_host *h = mh_controller_hosts(c)[i];
                _cleanup_free_ char *journal = artifacts_read(rn->args->artifacts_dir, topology,
                                                              t->name, mh_host_name(h),
                                                              "journal.log");
                int64_t offset = 0;

                (void) mh_host_clock_offset(h, &offset);
                k = mh_buf_printf(&b, " %s %+.3f s", mh_host_name(h), (double) offset / 1e6);
                if (k >= 0 && journal)
                        k = timeline_add_journal(rn->timeline, mh_host_name(h), journal, offset);
        }
        if (k >= 0)
                k = mh_buf_printf(&b, "\n");
        header = mh_buf_steal(&b, NULL);
        mh_buf_dispose(&b);
        text = k >= 0 && header ? timeline_text(rn->timeline, header) : NULL;
        if (!text || artifacts_write(rn->args->artifacts_dir, topology, t->name,
                                     "timeline.log", text, rn->secrets, &e) < 0)
                console_printf(stderr, "mhtest: timeline of %s: %s\n", t->name,
                               text ? e.message : "out of memory");
}

/* "interrupted (Ctrl-C)", or the signal that cut the run short. */
static void say_why_cancelled(mh_test_outcome *o) {
        int sig = signals_caught();
        char *message;

        if (sig == 0 || asprintf(&message, "interrupted (%s)",
                                 sig == SIGINT ? "Ctrl-C" : signals_name(sig)) < 0)
                return;
        free(o->message);
        o->message = message;
}

static void run_one(run *rn, const topology_plan *p, mh_controller *c, const planned *t) {
        char buf[24];
        mh_test_plan plan = {
                .module = t->module,
                .info = t->info,
                .topology = mh_topology_name(p->topology),
                .hosts = mh_controller_hosts(c),
                .roles = mh_controller_roles(c),
                .n_hosts = mh_controller_n_hosts(c),
                .cancel_fd = signals_cancel_fd(),
                .on_command = on_command,
                .on_note = on_note,
                .userdata = rn,
                .param = t->param,
                .on_secret = on_secret,
                .on_artifact = on_artifact,
        };
        mh_test_outcome o = {};
        mh_error e = MH_ERROR_INIT, restore = MH_ERROR_INIT;
        uint64_t since = mh_realtime_usec(), restore_usec = 0,
                 start = mh_now_usec();
        _cleanup_free_ mh_outcome *outcomes = calloc(mh_controller_n_hosts(c) ?: 1,
                                                     sizeof(*outcomes));
        bool collected;

        if (!outcomes) {
                finish_unrun(rn, p, t, MH_TEST_ERROR, "out of memory");
                return;
        }
        if (t->unmet) {
                finish_unrun(rn, p, t, MH_TEST_SKIPPED, t->unmet);
                return;
        }
        if (!mh_controller_usable(c, &e)) {
                finish_unrun(rn, p, t, MH_TEST_ERROR, e.message);
                return;
        }
        report_event(rn->report, "test-start", "test", t->name, "topology", plan.topology,
                     NULL);
        timeline_clear(rn->timeline);
        (void) timeline_add(rn->timeline, since, "runner", "test %s [%s] starts", t->name,
                            plan.topology);
        rn->current_test = t->name;
        mh_controller_set_step(c, "test %s of topology %s", t->name, plan.topology);
        close_logs(rn, mh_controller_n_hosts(c));
        (void) open_logs(rn, mh_controller_n_hosts(c));
        rn->artifacts = calloc(mh_controller_n_hosts(c) ?: 1, sizeof(*rn->artifacts));

        if (mh_test_execute(&plan, &o, &e) < 0) {
                o.status = MH_TEST_ERROR;
                o.message = strdup(e.message);
        }
        if (o.cancelled)
                say_why_cancelled(&o);
        else
                check_outcomes(rn, c, t, since, &o, outcomes);
        rn->tests_usec += mh_now_usec() - start;
        (void) timeline_add(rn->timeline, mh_realtime_usec(), "runner", "test %s: %s%s%s",
                            t->name, mh_test_status_to_string(o.status),
                            o.message ? ": " : "", strempty(o.message));

        collected = wants_artifacts(rn->args, o.status);
        if (collected)
                collect(rn, c, t, since, outcomes);
        close_logs(rn, mh_controller_n_hosts(c));

        if (mh_controller_after_test(c, &restore_usec, &restore) < 0) {
                console_printf(stderr, "mhtest: %swarning%s: after %s [%s]: %s\n",
                               color_on(rn->args, COLOR_YELLOW), color_off(rn->args), t->name,
                               plan.topology, restore.message);
                report_event(rn->report, "restore", "topology", plan.topology, "status", "failed",
                             "message", restore.message, "duration_usec",
                             usec_text(restore_usec, buf), NULL);
        } else
                report_event(rn->report, "restore", "topology", plan.topology, "status", "ok",
                             "duration_usec", usec_text(restore_usec, buf), NULL);
        (void) timeline_add(rn->timeline, mh_realtime_usec(), "runner", "restore %s (%.2f s)%s%s",
                            restore.code < 0 ? "failed" : "done", restore_usec / 1e6,
                            restore.code < 0 ? ": " : "", restore.code < 0 ? restore.message : "");
        if (collected)
                write_timeline(rn, c, t);
        for (size_t i = 0; rn->artifacts && i < mh_controller_n_hosts(c); i++)
                mh_strv_dispose(&rn->artifacts[i]);
        free(rn->artifacts);
        rn->artifacts = NULL;

        finish_test(rn, p, t, &o, restore_usec);
        mh_test_outcome_dispose(&o);
        for (size_t i = 0; i < mh_controller_n_hosts(c); i++)
                mh_outcome_dispose(&outcomes[i]);
}

static void skip_all(run *rn, const topology_plan *p, size_t from, mh_test_status status,
                     const char *why) {
        for (size_t j = from; j < p->n_tests; j++)
                finish_unrun(rn, p, &p->tests[j], status, why);
}

static void print_times(run *rn, const topology_plan *p, const mh_controller *c) {
        const mh_phase_times *times = mh_controller_times(c);

        if (rn->args->verbosity < 0)
                return;
        console_printf(rn->console,
                       "  %s: setup %.2fs, backups %.2fs, tests %.2fs, restores %.2fs\n",
                       mh_topology_name(p->topology), times->setup_usec / 1e6,
                       times->backup_usec / 1e6, rn->tests_usec / 1e6, times->restore_usec / 1e6);
}

static void run_topology(run *rn, const topology_plan *p, const mh_controller_options *options) {
        const char *name = mh_topology_name(p->topology);
        mh_error e = MH_ERROR_INIT;
        _cleanup_free_ char *why = NULL;
        mh_controller *c = NULL;
        char buf[24];
        uint64_t start = mh_now_usec();
        int r;

        if (p->unsatisfied) {
                if (asprintf(&why, "topology '%s' not satisfied: %s", name, p->unsatisfied) < 0)
                        why = NULL;
                skip_all(rn, p, 0, MH_TEST_SKIPPED, why ?: p->unsatisfied);
                return;
        }
        if (signals_caught()) {
                skip_all(rn, p, 0, MH_TEST_SKIPPED, "not run: the run was interrupted");
                return;
        }
        r = mh_controller_new(rn->lab, p->topology, p->hosts, p->n_hosts, options, &c, &e);
        if (r < 0) {
                skip_all(rn, p, 0, MH_TEST_ERROR, e.message);
                return;
        }
        rn->current = c;
        rn->tests_usec = 0;
        rn->logs = calloc(mh_controller_n_hosts(c) ?: 1, sizeof(*rn->logs));
        rn->timeline = timeline_new();
        report_event(rn->report, "topology-start", "topology", name, NULL);
        signals_set_at_risk(c);

        r = mh_controller_enter(c, &e);
        report_event(rn->report, "topology-setup", "topology", name, "status",
                     r < 0 ? "failed" : "ok", "message", r < 0 ? e.message : "", "duration_usec",
                     usec_text(mh_now_usec() - start, buf), NULL);
        if (r < 0) {
                if (r == -ENOTCONN)
                        rn->lab_unusable = true;
                skip_all(rn, p, 0, MH_TEST_ERROR, e.message);
        } else if (rn->logs && rn->timeline)
                for (size_t j = 0; j < p->n_tests; j++) {
                        if (signals_caught()) {
                                skip_all(rn, p, j, MH_TEST_SKIPPED,
                                         "not run: the run was interrupted");
                                break;
                        }
                        run_one(rn, p, c, &p->tests[j]);
                }

        r = mh_controller_leave(c, &e);
        if (r < 0)
                console_printf(stderr, "mhtest: %swarning%s: topology %s: %s\n",
                               color_on(rn->args, COLOR_YELLOW), color_off(rn->args), name,
                               e.message);
        report_event(rn->report, "topology-end", "topology", name, "setup_usec",
                     usec_text(mh_controller_times(c)->setup_usec, buf), NULL);
        signals_set_at_risk(NULL);
        print_times(rn, p, c);
        free(rn->logs);
        rn->logs = NULL;
        rn->timeline = timeline_free(rn->timeline);
        rn->current = NULL;
        mh_controller_free(c);
}

static void print_summary(run *rn, uint64_t usec) {
        const counts *n = &rn->counts;
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        if (!f)
                return;
        for (size_t i = 0; i < rn->plan.n_plans && rn->args->verbosity >= 0; i++)
                if (rn->plan.plans[i].unsatisfied && rn->plan.plans[i].n_tests > 0)
                        fprintf(f, "skipped %zu test%s of topology %s: %s\n",
                                rn->plan.plans[i].n_tests, rn->plan.plans[i].n_tests == 1 ? "" : "s",
                                mh_topology_name(rn->plan.plans[i].topology), rn->plan.plans[i].unsatisfied);
        for (size_t i = 0; i < rn->n_failures; i++)
                fprintf(f, "%sfailed%s: %s\n", color_on(rn->args, COLOR_RED), color_off(rn->args),
                        rn->failures[i]);
        fprintf(f, "%zu passed, %zu failed, %zu skipped, %zu errors in %.2fs (seed %" PRIu64 ")\n",
                n->by_status[MH_TEST_PASSED], n->by_status[MH_TEST_FAILED],
                n->by_status[MH_TEST_SKIPPED], n->by_status[MH_TEST_ERROR], usec / 1e6, rn->seed);
        if (fclose(f) == 0)
                console_printf(rn->console, "%s", text);
}

static void log_command_to_report(const mh_command_record *record, void *userdata) {
        run *rn = userdata;

        report_command(rn->report, record);
        if (rn->args->verbosity > 0)
                console_printf(rn->console, "    %s: $ %s  [exit %d, %.1f ms]\n", record->host,
                               record->command, record->exit_status,
                               record->duration_usec / 1000.0);
}

/* One observer on each host for every command of the run: the report's
 * commands.log and, with -v, the console line. */
static void observe_commands(run *rn, mh_command_fn fn) {
        for (size_t i = 0; i < mh_lab_n_hosts(rn->lab); i++)
                mh_host_set_command_observer(mh_lab_host(rn->lab, i), fn, rn);
}

static int exit_status(const run *rn) {
        if (signals_caught())
                return 128 + signals_caught();
        if (rn->lab_unusable)
                return EXIT_LAB;
        if (rn->counts.by_status[MH_TEST_FAILED] || rn->counts.by_status[MH_TEST_ERROR])
                return EXIT_FAILED;
        return EXIT_PASSED;
}

static void run_dispose(run *rn) {
        plan_dispose(&rn->plan);
        for (size_t i = 0; i < rn->n_failures; i++)
                free(rn->failures[i]);
        free(rn->failures);
        free(rn->secrets);
        mh_strv_dispose(&rn->test_secrets);
}

/* The secrets of the lab's hosts, for the sinks to replace. */
static int gather_secrets(run *rn) {
        size_t n = 0;

        for (size_t i = 0; i < mh_lab_n_hosts(rn->lab); i++)
                n += mh_host_n_secrets(mh_lab_host(rn->lab, i));
        rn->secrets = calloc(n + 1, sizeof(*rn->secrets));
        if (!rn->secrets)
                return -ENOMEM;
        n = 0;
        for (size_t i = 0; i < mh_lab_n_hosts(rn->lab); i++)
                for (size_t j = 0; j < mh_host_n_secrets(mh_lab_host(rn->lab, i)); j++)
                        rn->secrets[n++] = mh_host_secret(mh_lab_host(rn->lab, i), j);
        return 0;
}

static int run_plan(run *rn) {
        mh_controller_options options = {};
        mh_error e = MH_ERROR_INIT;
        uint64_t start = mh_now_usec();
        char seed[24];
        int r;

        /* The hosts' secrets are known before anything connects, so that no sink ever sees
         * one: the console, the reports and the artifacts each replace them. */
        if (mh_lab_new(rn->config, &rn->lab, &e) < 0 || gather_secrets(rn) < 0 ||
            console_set_secrets(rn->secrets) < 0) {
                fprintf(stderr, "mhtest: %s\n", e.message[0] ? e.message : "out of memory");
                rn->lab = mh_lab_free(rn->lab);
                return EXIT_USAGE;
        }
        mh_lab_set_lock_wait(rn->lab, rn->args->lock_wait_sec);
        mh_lab_refuse_dead_runs(rn->lab, rn->args->no_recover);
        r = report_open(rn->args, rn->secrets, &rn->report, &e);
        if (r < 0) {
                console_printf(stderr, "mhtest: %s\n", e.message);
                rn->lab = mh_lab_free(rn->lab);
                (void) console_set_secrets(NULL);
                return EXIT_USAGE;
        }
        observe_commands(rn, log_command_to_report);
        r = signals_catch();
        if (r < 0)
                console_printf(stderr, "mhtest: warning: cannot catch signals: %s\n", strerror(-r));

        console_printf(rn->console, "mhtest: seed %" PRIu64 "%s, %zu test%s\n", rn->seed,
                       rn->args->shuffle ? " (shuffled)" : "", rn->plan.total,
                       rn->plan.total == 1 ? "" : "s");
        snprintf(seed, sizeof(seed), "%" PRIu64, rn->seed);
        report_event(rn->report, "run-start", "config", mh_config_path(rn->config), "seed", seed,
                     NULL);

        for (size_t i = 0; i < rn->plan.n_plans; i++)
                if (rn->plan.plans[i].n_tests > 0)
                        run_topology(rn, &rn->plan.plans[i], &options);

        if (signals_caught())
                report_event(rn->report, "run-end", "status", "interrupted", "signal",
                             signals_name(signals_caught()), NULL);
        else
                report_event(rn->report, "run-end", "status", "done", NULL);
        print_summary(rn, mh_now_usec() - start);
        observe_commands(rn, NULL);
        if (report_close(rn->report, signals_caught() != 0, &e) < 0) {
                console_printf(stderr, "mhtest: %s\n", e.message);
                r = EXIT_USAGE;
        } else
                r = exit_status(rn);
        rn->lab = mh_lab_free(rn->lab);
        (void) console_set_secrets(NULL);
        return r;
}

int run_tests(const arguments *args, const mh_config *config) {
        run rn = {
                .args = args,
                .config = config,
                .seed = args->seed,
                .console = args->tap ? stderr : stdout,
        };
        mh_error e = MH_ERROR_INIT;
        int status;

        if (!args->have_seed && getrandom(&rn.seed, sizeof(rn.seed), 0) != sizeof(rn.seed))
                rn.seed = (uint64_t) time(NULL) ^ (uint64_t) getpid();
        /* A seed a person can type: below 2^32 is plenty. */
        if (!args->have_seed)
                rn.seed &= UINT32_MAX;

        if (plan_make(&rn.plan, args, config, &e) < 0) {
                fprintf(stderr, "mhtest: %s\n", e.message);
                run_dispose(&rn);
                return EXIT_USAGE;
        }
        if (args->shuffle)
                plan_shuffle(&rn.plan, rn.seed);
        if (args->list)
                status = plan_list(&rn.plan);
        else if (rn.plan.total == 0) {
                fprintf(stderr, "mhtest: no test matches the filters\n");
                status = EXIT_USAGE;
        } else
                status = run_plan(&rn);
        run_dispose(&rn);
        return status;
}
