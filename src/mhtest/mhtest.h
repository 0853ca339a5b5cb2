/* SPDX-License-Identifier: MIT */
#ifndef MHTEST_H
#define MHTEST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <mhc/controller.h>
#include <mhc/mhc.h>

/* mhtest's exit statuses, as mhtest(1) documents them. */
enum {
        EXIT_PASSED = 0,        /* every test passed, every host usable */
        EXIT_FAILED = 1,        /* a test failed or errored */
        EXIT_USAGE = 2,         /* bad command line or configuration */
        EXIT_LAB = 3,           /* the lab is not usable */
};

typedef enum action {
        ACTION_RUN,
        ACTION_CHECK_HOSTS,
        ACTION_RECOVER,
        ACTION_HELP,
        ACTION_VERSION,
} action;

typedef enum collect_mode {
        COLLECT_ON_FAILURE,
        COLLECT_ALWAYS,
        COLLECT_NEVER,
} collect_mode;

/* A growable list of strings from repeated options (borrowed from argv). */
typedef struct string_list {
        const char **items;
        size_t n;
} string_list;

typedef struct arguments {
        action action;
        const char *config_path;
        int verbosity;          /* -1 quiet, 0 normal, 1 and up verbose */
        bool color;
        bool list;              /* --list: print the plan, connect nothing */
        string_list topologies; /* --topology */
        string_list not_topologies; /* --not-topology */
        string_list patterns;   /* -k */
        string_list tests;      /* --tests: replace mhc.yaml's tests: */
        bool exact_topology;
        bool shuffle;
        bool have_seed;
        uint64_t seed;
        const char *junit_path;
        const char *json_path;
        bool tap;               /* TAP on stdout instead of the console lines */
        const char *artifacts_dir;
        collect_mode collect;
        bool no_recover;        /* --no-recover: refuse hosts that dead runs left */
        unsigned lock_wait_sec; /* --wait-lock: for another run to let go of a host */
} arguments;

/* The terminal colour of a word, or "" when colour is off. */
const char *color_on(const arguments *args, const char *sgr);
const char *color_off(const arguments *args);

#define COLOR_RED "31"
#define COLOR_GREEN "32"
#define COLOR_YELLOW "33"
#define COLOR_BOLD "1"

/* mhtest --check-hosts: returns an exit status. */
int check_hosts(const arguments *args, const mh_config *config);

/* mhtest --recover: returns an exit status. */
int recover_lab(const arguments *args, const mh_config *config);

/* --- the plan (plan.c) ------------------------------------------------------------ */

/* One test case (a test, or one value of its .params) on one topology of the plan. */
typedef struct planned {
        const mh_module *module;
        const mh_test_info *info;
        const char *param;      /* the value of info->params, or NULL */
        char *name;             /* "name", or "name[value]" */
        char *unmet;            /* why the lab cannot run it (.requires), or NULL */
} planned;

/* A topology of the plan, its hosts (or why the lab cannot give them) and its tests. */
typedef struct topology_plan {
        const mh_topology *topology;
        const mh_host_config **hosts;
        size_t n_hosts;
        char *unsatisfied;      /* why the config cannot satisfy it, or NULL */
        planned *tests;
        size_t n_tests;
} topology_plan;

/* The modules, the topologies and what runs: every test case x every topology it names,
 * filtered, grouped by topology, in the order of the topologies' names. */
typedef struct suite {
        const arguments *args;
        const mh_config *config;
        mh_module **modules;
        size_t n_modules;
        mh_topology_set *topologies;
        topology_plan *plans;
        size_t n_plans;
        size_t total;           /* test cases */
} suite;

/* Load the modules of --tests (or mhc.yaml's tests:), the topologies, and plan what args
 * asks for; a bad module or test is a located error. */
int plan_make(suite *pl, const arguments *args, const mh_config *config, mh_error *error);
/* Shuffle each topology's tests (Fisher-Yates) with seed. */
void plan_shuffle(suite *pl, uint64_t seed);
/* mhtest --list: returns an exit status. */
int plan_list(const suite *pl);
void plan_dispose(suite *pl);

/* mhtest (--list): plan and run the tests; returns an exit status. */
int run_tests(const arguments *args, const mh_config *config);

/* --- reports (report.c) ---------------------------------------------------- */

/*
 * One test on one topology, as it ended (or was skipped before it
 * started): the test, and its outcome as the test's process ended
 * (mh_test_execute()) or as the runner decided it, which every report
 * gets whole: status, message, details, the process's time, the signal
 * that ended it, whether it timed out or was cancelled.
 */
typedef struct test_result {
        const char *name;               /* the test */
        const char *topology;
        const char *module;             /* the module's path */
        const char *file;               /* where the test is defined */
        unsigned line;
        const mh_test_outcome *outcome; /* borrowed */
        const char *reproducer;         /* "mhtest --config ... -k NAME --seed S", or NULL */
        uint64_t restore_usec;          /* of the restore after it */
        size_t index, total;            /* [index/total] */
} test_result;

typedef struct report report;

/*
 * Open the reports args asks for: --junit FILE (written by report_close()),
 * --json FILE (an event log: one JSON object per line, written as events
 * happen, flushed after each) and --tap (TAP 13 on stdout, a line per
 * test as it ends).  Every text written to any of them has the secrets
 * (NULL-terminated, copied; NULL: none) replaced by "********".  Fails
 * with a message in error (which file, why).
 */
int report_open(const arguments *args, const char *const *secrets, report **ret, mh_error *error);

/*
 * One event of the run for the JSON log: a lifecycle step ("run-start",
 * "topology-start", "setup", "backup", "test-start", "restore",
 * "topology-end", "run-end", ...) with NULL-terminated key/value string
 * pairs, e.g. report_event(r, "restore", "topology", "client-db", "host",
 * "db", "status", "ok", "duration_usec", "12000", NULL).  Values that are
 * all digits are written as numbers.
 */
void report_event(report *r, const char *event, ...) __attribute__((sentinel));

/* From now on, replace secret (copied) too, in every report. */
void report_add_secret(report *r, const char *secret);

/* A remote command, for the JSON log. */
void report_command(report *r, const mh_command_record *record);

/* A test ended (or was skipped): TAP line, JSON event, kept for JUnit. */
void report_test(report *r, const test_result *result);

/* Write the JUnit file (if asked for), close everything, free r (NULL is
 * fine).  interrupted: the run was cut short by a signal.  Returns 0 or a
 * negative code with the message in error. */
int report_close(report *r, bool interrupted, mh_error *error);

/* --- artifacts (artifacts.c) ----------------------------------------------- */

/*
 * Collect one host's artifacts of one test into
 * DIR/<topology>/<test>/<host>/: the regular files matching the host's
 * `artifacts:` globs (directories: the regular files below them) under
 * their absolute path (DIR/.../<host>/var/log/x.log), never through a
 * symbolic link (the links are noted in errors.log), the journal since
 * since_realtime_usec (journal.log), the commands run on it during the
 * test (commands.log, given as text), the evidence of its outcome checks
 * (outcome.log, given as text, NULL: none) and the paths the test asked for
 * (mh_artifact(); extra may be NULL), collected as the globs are.  Secrets listed in secrets (a
 * NULL-terminated list, may be NULL) are replaced by "********" in what is
 * written.  A file that cannot be fetched is noted in the host directory's
 * errors.log; only a local failure (cannot write DIR) is returned.
 */
int collect_artifacts(const char *dir, const char *topology, const char *test, mh_host *h,
                      uint64_t since_realtime_usec, const char *commands_log,
                      const char *evidence, const mh_strv *extra, const char *const *secrets,
                      mh_error *error);

/* --- a test's timeline (timeline.c) ------------------------------------------- */

typedef struct timeline timeline;

timeline *timeline_new(void);
timeline *timeline_free(timeline *tl);
void timeline_clear(timeline *tl);
/* An event at usec (realtime, the runner's clock) of who ("runner", a host). */
int timeline_add(timeline *tl, uint64_t usec, const char *who, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* The lines of a journal (journalctl -o short-iso-precise) of host who, whose
 * clock is offset_usec ahead of the runner's. */
int timeline_add_journal(timeline *tl, const char *who, const char *journal, int64_t offset_usec);
/* header, then every event in time order, one a line; NULL without memory. */
char *timeline_text(timeline *tl, const char *header);

/* Write text (taken, freed), its secrets hidden, to DIR/<topology>/<test>/NAME;
 * read what the host's artifact NAME holds there (NULL: none). */
int artifacts_write(const char *dir, const char *topology, const char *test, const char *name,
                    char *text, const char *const *secrets, mh_error *error);
char *artifacts_read(const char *dir, const char *topology, const char *test, const char *host,
                     const char *name);

/* --- secrets (redact.c) ------------------------------------------------------ */

/* Replace every occurrence of each secret in s (in place) with "********"
 * when the secret is at least 4 bytes long; returns s, maybe re-allocated.
 * s is malloc'd (NULL is returned as it is); secrets is NULL-terminated
 * (NULL: none).  Without memory for a copy, the secrets are hidden byte
 * for byte in place. */
char *redact_secrets(char *s, const char *const *secrets);

/* Whether s holds one of secrets that redact_secrets() would replace. */
bool redact_found(const char *s, const char *const *secrets);

/* A copy of the NULL-terminated list secrets (NULL: an empty list), or NULL
 * when memory runs out; freed with redact_free_list(), which returns NULL. */
char **redact_copy_list(const char *const *secrets);
char **redact_free_list(char **secrets);

/* --- the console (console.c) ------------------------------------------------- */

/*
 * Set the secrets replaced by "********" in everything printed with
 * console_printf() from now on (copied; NULL: none).  Fails only without
 * memory, leaving the secrets as they were.
 */
int console_set_secrets(const char *const *secrets);

/*
 * Print on f (stdout or stderr) what fmt says, without the secrets, whole
 * and flushed, under one lock for every thread: every line mhtest prints
 * once it knows the lab's secrets goes through here.
 */
void console_printf(FILE *f, const char *fmt, ...) MH_PRINTF(2, 3);

/*
 * Flush f (stdout or stderr).  When a write to it failed because its
 * reader is gone (mhtest | head -1), drop what it holds: from then on
 * console_printf() prints nothing there (see signals_output_failed()).
 */
void console_flush(FILE *f);

/* --- signals (signals.c) ------------------------------------------------------ */

/*
 * Catch SIGINT, SIGHUP, SIGTERM and SIGPIPE for the run (each but those
 * ignored when mhtest started).  The first makes signals_cancel_fd()
 * readable and says on standard error that the run is being cut short; a
 * second SIGINT, SIGHUP or SIGTERM prints the hosts at risk (see
 * signals_set_at_risk()) and exits at once with 128 + the first signal.
 * A SIGPIPE is never the second; one that a write of mhtest raised counts
 * only when standard output or error is closed, which it marks so.
 * Returns 0 or -errno.
 */
int signals_catch(void);

/* The read end that becomes readable at the first signal, for
 * mh_test_plan.cancel_fd; -1 before signals_catch(). */
int signals_cancel_fd(void);

/* The first signal caught (SIGINT, SIGHUP, SIGTERM, SIGPIPE), or 0. */
int signals_caught(void);

/* "SIGINT", "SIGHUP", "SIGTERM" or "SIGPIPE" for sig. */
const char *signals_name(int sig);

/* Which hosts a second signal would leave dirty: c's (NULL: none). */
void signals_set_at_risk(const mh_controller *c);

/* Whether output to fd (standard output or error) is dropped: its reader is gone. */
bool signals_output_closed(int fd);

/*
 * A write to fd (standard output or error) failed: when its reader is
 * gone (EPIPE, as when SIGPIPE was ignored when mhtest started), drop its
 * output from now on and, after signals_catch(), cut the run short as
 * SIGPIPE does.  Returns whether fd's output is dropped.
 */
bool signals_output_failed(int fd);

#endif
