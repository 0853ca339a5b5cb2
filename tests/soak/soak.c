/* SPDX-License-Identifier: MIT */
/*
 * soak: run a suite against the lab again and again, SIGKILL mhtest at a
 * random moment of each run (drawn from a printed seed), and check that
 * every host ends up exactly as it was before the soak.
 *
 * Before: `mhtest --recover` (the lab must be clean), a fingerprint of
 * each host (tests/soak/fingerprint.c), and one whole run whose duration
 * sets the window of the kills.  Then each run is killed after a delay in
 * [0, window); after a kill, a run is now and then killed within the first
 * --early seconds instead, to kill a recovery.  Which step a kill hit
 * comes from the warnings of the runs after it ("put back after run ID
 * (mhtest pid P ...), last at: STEP").  At the end: `mhtest --recover`
 * (must exit 0) and the fingerprint again, which must be the same.
 *
 *     tests/lab/exec tests/soak/soak --runs 20 [--seed S] [-k GLOB]...
 *
 * Exit status: 0 every host clean and every run sound, 1 a host dirty or
 * a run that failed (a test, a recovery), 2 usage, or the lab not usable
 * before the soak.  See tests/soak/README.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mhc/mhc.h>

#include "macro.h"
#include "soak.h"

#define EXIT_DIRTY 1
#define EXIT_SETUP 2

/* The window of the kills: this much of a whole run's duration. */
#define WINDOW_FACTOR 1.1
/* One run in EARLY_ONE_IN after a kill is killed within --early seconds. */
#define EARLY_ONE_IN      3
#define EARLY_DEFAULT_SEC 1.5

typedef enum phase {
        PHASE_NONE,
        PHASE_SETUP,
        PHASE_TEST,
        PHASE_RESTORE,
        PHASE_VANILLA,
        PHASE_RECOVERY,
        PHASE_OTHER, /* a step this program does not know, or quarantined */
        _PHASE_MAX,
} phase;

static const char *const phase_names[_PHASE_MAX] = {
        [PHASE_NONE] = "none",
        [PHASE_SETUP] = "setup",
        [PHASE_TEST] = "test",
        [PHASE_RESTORE] = "restore",
        [PHASE_VANILLA] = "vanilla restore",
        [PHASE_RECOVERY] = "recovery",
        [PHASE_OTHER] = "other",
};

/* One mhtest run of the soak. */
typedef struct soak_run {
        pid_t pid;
        double delay;   /* s after its start the kill was due */
        double elapsed; /* s it ran */
        bool early;     /* drawn to hit the recovery of the run before */
        bool ended;     /* it ended by itself before its kill */
        int status;     /* its exit status, when it ended */
        mh_strv steps;  /* "HOST: STEP" for each warning of a later run about it */
        phase phase;    /* what the kill hit, from steps */
        bool printed;   /* its line is out */
} soak_run;

typedef struct soak {
        const char *config_path;
        const char *mhtest;
        mh_strv match; /* -k, passed through */
        mh_strv tests; /* --tests, passed through */
        unsigned n_runs;
        double max_sec; /* start no run after this long (0: no limit) */
        uint64_t seed;
        uint64_t rng;
        double window; /* s; 0: calibrate */
        double early;  /* s */
        bool keep;
        const char *check; /* --check: only compare the lab with this soak's fingerprints */
        char dir[PATH_MAX];
        bool made_dir;
        mh_config *config;
        mh_strv topologies; /* of the plan, in the order they run */
        soak_run *runs;
        unsigned n_problems;
} soak;

/* --- small things ------------------------------------------------------------ */

static void problem(soak *s, const char *fmt, ...) MH_PRINTF(2, 3);
static void problem(soak *s, const char *fmt, ...) {
        va_list ap;

        s->n_problems++;
        fputs("soak: problem: ", stdout);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
}

static double seconds(uint64_t usec) {
        return (double) usec / 1e6;
}

/* splitmix64: small, and the same sequence from the same seed everywhere. */
static uint64_t next_random(soak *s) {
        uint64_t z = (s->rng += 0x9e3779b97f4a7c15ULL);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double next_uniform(soak *s) {
        return (double) (next_random(s) >> 11) / (double) (UINT64_C(1) << 53);
}

static char *path_in(const soak *s, const char *name, const char *suffix) {
        char *p = NULL;

        if (asprintf(&p, "%s/%s%s", s->dir, name, suffix) < 0)
                return NULL;
        return p;
}

/* --- running mhtest ---------------------------------------------------------- */

/*
 * Start mhtest with the soak's --config, --tests and -k and then extra
 * (NULL-terminated), its stdout and stderr in DIR/NAME.out and .err.
 */
static int start_mhtest(const soak *s, const char *name, const char *const *extra, pid_t *ret) {
        _cleanup_free_ char *out = path_in(s, name, ".out"), *err = path_in(s, name, ".err"),
                            *artifacts = path_in(s, name, ".artifacts");
        size_t n = 0, max = 8 + 2 * (s->tests.n + s->match.n);
        _cleanup_free_ const char **argv = NULL;
        pid_t pid;

        for (size_t i = 0; extra[i]; i++)
                max++;
        argv = calloc(max + 1, sizeof(*argv));
        if (!out || !err || !artifacts || !argv)
                return -ENOMEM;
        argv[n++] = s->mhtest;
        argv[n++] = "--config";
        argv[n++] = s->config_path;
        argv[n++] = "--color=never";
        argv[n++] = "--artifacts-dir";
        argv[n++] = artifacts;
        for (size_t i = 0; i < s->tests.n; i++) {
                argv[n++] = "--tests";
                argv[n++] = s->tests.items[i];
        }
        for (size_t i = 0; i < s->match.n; i++) {
                argv[n++] = "-k";
                argv[n++] = s->match.items[i];
        }
        for (size_t i = 0; extra[i]; i++)
                argv[n++] = extra[i];

        fflush(stdout);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                int i = open("/dev/null", O_RDONLY | O_CLOEXEC);
                int o = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                int e = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

                if (i < 0 || o < 0 || e < 0 || dup2(i, STDIN_FILENO) < 0 ||
                    dup2(o, STDOUT_FILENO) < 0 || dup2(e, STDERR_FILENO) < 0)
                        _exit(127);
                execv(s->mhtest, (char *const *) argv);
                fprintf(stderr, "soak: cannot run %s: %m\n", s->mhtest);
                _exit(127);
        }
        *ret = pid;
        return 0;
}

static int exit_status(int w) {
        return WIFEXITED(w) ? WEXITSTATUS(w) : 128 + WTERMSIG(w);
}

/*
 * Wait for pid until deadline (mh_now_usec(); 0: for ever).  True when it
 * ended, with its exit status in *ret_status.
 */
static bool wait_until(pid_t pid, uint64_t deadline, int *ret_status) {
        for (;;) {
                uint64_t now = mh_now_usec();
                uint64_t nap = 2000;
                int w;
                pid_t r = waitpid(pid, &w, deadline ? WNOHANG : 0);

                if (r == pid) {
                        *ret_status = exit_status(w);
                        return true;
                }
                if (r < 0 && errno != EINTR) {
                        *ret_status = 127;
                        return true;
                }
                if (!deadline)
                        continue;
                now = mh_now_usec();
                if (now >= deadline)
                        return false;
                if (deadline - now < nap)
                        nap = deadline - now;
                nanosleep(&(struct timespec){ .tv_nsec = (long) nap * 1000 }, NULL);
        }
}

/* Run mhtest to its end; its exit status, its duration in *ret_usec. */
static int run_mhtest(const soak *s, const char *name, const char *const *extra,
                      uint64_t *ret_usec) {
        uint64_t start = mh_now_usec();
        int status, r;
        pid_t pid;

        r = start_mhtest(s, name, extra, &pid);
        if (r < 0)
                return r;
        (void) wait_until(pid, 0, &status);
        if (ret_usec)
                *ret_usec = mh_now_usec() - start;
        return status;
}

/* --- what the runs said -------------------------------------------------------- */

/* The topologies of `mhtest --list`, in the order the runs take them. */
static int load_plan(soak *s) {
        _cleanup_free_ char *out = path_in(s, "plan", ".out"), *text = NULL;
        int status = run_mhtest(s, "plan", (const char *const[]){ "--list", NULL }, NULL);

        if (status < 0)
                return status;
        text = out ? read_text(out) : NULL;
        if (status != 0 || !text) {
                fprintf(stderr, "soak: mhtest --list failed (exit %d): %s\n", status,
                        text ? text : "no output");
                return -EINVAL;
        }
        for (char *line = text; *line;) {
                size_t n = strcspn(line, "\n");
                char *colon = memchr(line, ':', n);

                if (line[0] != ' ' && colon && colon[1] == ' ' &&
                    !memchr(line, ' ', colon - line) &&
                    mh_strv_consume(&s->topologies, strndup(line, colon - line)) < 0)
                        return -ENOMEM;
                line += n + (line[n] == '\n');
        }
        if (s->topologies.n == 0) {
                fprintf(stderr, "soak: the plan has no topology to run:\n%s", text);
                return -EINVAL;
        }
        return 0;
}

/* Where topology T (the text after "topology ") is in the plan; -1 if nowhere. */
static int topology_index(const soak *s, const char *t) {
        for (size_t i = 0; i < s->topologies.n; i++)
                if (streq(s->topologies.items[i], t))
                        return (int) i;
        return -1;
}

/* The phase of a step line, and the index of its topology in *ret_topology. */
static phase step_phase(const soak *s, const char *step, int *ret_topology) {
        const char *t = NULL;
        phase p = PHASE_OTHER;

        if ((t = startswith(step, "setup of topology ")))
                p = PHASE_SETUP;
        else if (startswith(step, "test ") && (t = strstr(step, " of topology ")))
                p = PHASE_TEST, t += strlen(" of topology ");
        else if ((t = startswith(step, "restore after a test of topology ")))
                p = PHASE_RESTORE;
        else if ((t = startswith(step, "vanilla restore after topology ")))
                p = PHASE_VANILLA;
        else if (startswith(step, "recovery from run "))
                p = PHASE_RECOVERY;
        else if (streq(step, "(nothing said)"))
                p = PHASE_NONE;
        *ret_topology = t ? topology_index(s, t) : -1;
        return p;
}

/*
 * What a kill hit, from the steps the run's hosts were at: a recovery if
 * any host was in one (the next step is set on every host at once, right
 * after), else the step of the topology that runs last in the plan (hosts
 * outside it still tell an older one), the later step on a tie.
 */
static phase classify(const soak *s, const soak_run *r) {
        phase best = PHASE_NONE;
        int best_topology = -1;
        bool other = false;

        for (size_t i = 0; i < r->steps.n; i++) {
                const char *step = strstr(r->steps.items[i], ": ");
                int t;
                phase p = step_phase(s, step ? step + 2 : "", &t);

                if (p == PHASE_RECOVERY)
                        return p;
                if (p == PHASE_OTHER)
                        other = true;
                if (p == PHASE_NONE || p == PHASE_OTHER)
                        continue;
                if (best == PHASE_NONE || t > best_topology || (t == best_topology && p > best)) {
                        best = p;
                        best_topology = t;
                }
        }
        return best == PHASE_NONE && other ? PHASE_OTHER : best;
}

/*
 * The warning of a recovery, "mhtest: warning: HOST: put back after run ID
 * (mhtest pid P on RUNNER, started ...), last at: STEP; ...", into
 * *ret_pid and *ret_what ("HOST: STEP"); false for any other line.
 */
static bool parse_recovery(const char *line, long *ret_pid, char **ret_what) {
        const char *host = startswith(line, "mhtest: warning: "), *p, *step, *end;
        size_t host_len;
        char *what = NULL;
        long pid;

        if (!host || !(p = strstr(host, ": ")))
                return false;
        host_len = (size_t) (p - host);
        p += 2;
        if (!startswith(p, "put back after run ") && !startswith(p, "found run "))
                return false;
        if (!(p = strstr(p, " (mhtest pid ")) || sscanf(p, " (mhtest pid %ld ", &pid) != 1)
                return false;
        if (!(step = strstr(p, ", last at: ")))
                return false;
        step += strlen(", last at: ");
        end = strstr(step, "; its vanilla backup is whole");
        if (!end)
                end = strstr(step, "; it left no whole vanilla backup");
        if (!end)
                return false;
        if (asprintf(&what, "%.*s: %.*s", (int) host_len, host, (int) (end - step), step) < 0)
                return false;
        *ret_pid = pid;
        *ret_what = what;
        return true;
}

/* The killed run before run k (runs[0..k)) whose pid is pid, the latest; NULL if none. */
static soak_run *run_of_pid(soak *s, size_t k, long pid) {
        for (size_t j = k; j-- > 0;)
                if (!s->runs[j].ended && s->runs[j].pid == pid)
                        return &s->runs[j];
        return NULL;
}

/*
 * Read what the run NAME printed: the runs it put back (into their
 * steps, for the runs of runs[0..k)), the tests that failed and the hosts
 * it could not use, which are problems.  label names it in messages.
 */
static int read_run(soak *s, const char *name, const char *label, size_t k) {
        _cleanup_free_ char *out_path = path_in(s, name, ".out"),
                            *err_path = path_in(s, name, ".err");
        _cleanup_free_ char *out = NULL, *err = NULL;

        if (!out_path || !err_path)
                return -ENOMEM;
        out = read_text(out_path);
        err = read_text(err_path);
        if (!out || !err) {
                fprintf(stderr, "soak: cannot read what %s printed (%s): %m\n", label, s->dir);
                return -errno;
        }
        for (const char *p = err; *p;) {
                _cleanup_free_ char *line = line_at(p), *what = NULL;
                soak_run *dead;
                long pid;

                if (!line)
                        return -ENOMEM;
                p += strlen(line) + (p[strlen(line)] == '\n');
                if (parse_recovery(line, &pid, &what)) {
                        dead = run_of_pid(s, k, pid);
                        if (!dead)
                                printf("soak: %s put back after a run that is not one of the "
                                       "soak's: %s\n",
                                       label, line);
                        else if (mh_strv_consume(&dead->steps, TAKE_PTR(what)) < 0)
                                return -ENOMEM;
                } else if (strstr(line, "cannot be recovered") || strstr(line, "unusable") ||
                           strstr(line, "in use by run"))
                        problem(s, "%s: %s", label, line);
                else if (startswith(line, "mhtest: warning: ") || startswith(line, "mhtest: error"))
                        printf("soak: %s said: %s\n", label, line);
        }
        /* Result lines: "[I/N] NAME [TOPOLOGY] STATUS ...". */
        for (const char *p = out; *p;) {
                _cleanup_free_ char *line = line_at(p);

                if (!line)
                        return -ENOMEM;
                p += strlen(line) + (p[strlen(line)] == '\n');
                if (line[0] == '[' && (strstr(line, "] FAILED") || strstr(line, "] ERROR")))
                        problem(s, "%s: %s", label, line);
                else if (strstr(line, ": unusable") || strstr(line, "cannot be recovered"))
                        problem(s, "%s: %s", label, line);
        }
        return 0;
}

static void print_run(const soak *s, size_t j) {
        const soak_run *r = &s->runs[j];

        if (r->ended)
                printf("run %zu: ended by itself after %.2f s, before its kill at %.2f s, exit %d "
                       "(%s)\n",
                       j + 1, r->elapsed, r->delay, r->status, phase_names[r->phase]);
        else
                printf("run %zu: killed after %.2f s%s (%s)\n", j + 1, r->elapsed,
                       r->early ? ", early" : "", phase_names[r->phase]);
}

/* After run k (or the final --recover, k == n_runs): print what is known of the runs before. */
static void report_runs(soak *s, size_t k) {
        for (size_t j = 0; j < k; j++) {
                soak_run *r = &s->runs[j];
                phase p = classify(s, r);

                if (!r->printed) {
                        r->phase = p;
                        print_run(s, j);
                        r->printed = true;
                } else if (p != r->phase) {
                        printf("run %zu: (%s), not (%s): a later run put back more of its "
                               "hosts\n",
                               j + 1, phase_names[p], phase_names[r->phase]);
                        r->phase = p;
                }
        }
}

/* --- the soak -------------------------------------------------------------------- */

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

/* One run, killed at its moment: into s->runs[k]. */
static int soak_one(soak *s, size_t k) {
        soak_run *r = &s->runs[k];
        char name[32], label[32];
        uint64_t start;
        int status;

        /* After a kill the next run often has a dead run to put back first. */
        if (k > 0 && !s->runs[k - 1].ended && next_random(s) % EARLY_ONE_IN == 0) {
                r->early = true;
                r->delay = next_uniform(s) * (s->early < s->window ? s->early : s->window);
        } else
                r->delay = next_uniform(s) * s->window;

        snprintf(name, sizeof(name), "run-%zu", k + 1);
        snprintf(label, sizeof(label), "run %zu", k + 1);
        start = mh_now_usec();
        status = start_mhtest(s, name, (const char *const[]){ NULL }, &r->pid);
        if (status < 0)
                return status;
        if (wait_until(r->pid, start + (uint64_t) (r->delay * 1e6), &status)) {
                r->ended = true;
                r->status = status;
        } else {
                (void) kill(r->pid, SIGKILL);
                (void) wait_until(r->pid, 0, &status);
        }
        r->elapsed = seconds(mh_now_usec() - start);
        if (r->ended && r->status != 0)
                problem(s, "%s ended by itself with exit %d (see %s/%s.out)", label, r->status,
                        s->dir, name);
        return read_run(s, name, label, k);
}

static void usage(FILE *f) {
        fprintf(f,
                "usage: soak [--config FILE] [--runs N] [--time SEC] [--seed S] [--mhtest PATH]\n"
                "            [-k GLOB]... [--tests PATH]... [--within SEC] [--early SEC]\n"
                "            [--dir DIR] [--keep]\n"
                "       soak [--config FILE] --check DIR\n"
                "\n"
                "Runs the suite N times against the lab and SIGKILLs mhtest at a random moment\n"
                "of each run, then checks that every host is as it was before. Run it inside\n"
                "the lab's network namespace (tests/lab/exec), under the lab's lock.\n"
                "\n"
                "  --config FILE  the lab and its suite (default: mhc.yaml)\n"
                "  --runs N       killed runs (default: 20)\n"
                "  --time SEC     start no run after SEC seconds of runs: fewer than N then\n"
                "  --seed S       the seed of the kills' moments (default: random, printed)\n"
                "  --mhtest PATH  the mhtest to run (default: ./mhtest)\n"
                "  -k GLOB        passed to mhtest: run only the tests that match (repeatable)\n"
                "  --tests PATH   passed to mhtest: these modules instead of the config's\n"
                "  --within SEC   kill within SEC of a start (default: %.1f x a whole run)\n"
                "  --early SEC    after a kill, one run in %d is killed within SEC (default: "
                "%.1f)\n"
                "  --dir DIR      where the runs' output goes (default: a new /tmp/mhc-soak-*)\n"
                "  --keep         keep that directory even when all is well\n"
                "  --check DIR    run nothing: compare the lab now with DIR/fingerprint-before\n"
                "                 (a soak's directory kept) and exit 0 if no host differs\n",
                WINDOW_FACTOR, EARLY_ONE_IN, EARLY_DEFAULT_SEC);
}

static bool parse_double(const char *text, double *ret) {
        char *end = NULL;
        double v;

        errno = 0;
        v = strtod(text, &end);
        if (errno || !end || *end || end == text || !(v > 0) || v > 86400)
                return false;
        *ret = v;
        return true;
}

static int parse_options(soak *s, int argc, char **argv) {
        enum {
                OPT_CONFIG = 0x100,
                OPT_RUNS,
                OPT_TIME,
                OPT_SEED,
                OPT_MHTEST,
                OPT_TESTS,
                OPT_WITHIN,
                OPT_EARLY,
                OPT_DIR,
                OPT_KEEP,
                OPT_CHECK,
        };
        static const struct option options[] = {
                { "config", required_argument, NULL, OPT_CONFIG },
                { "runs", required_argument, NULL, OPT_RUNS },
                { "time", required_argument, NULL, OPT_TIME },
                { "seed", required_argument, NULL, OPT_SEED },
                { "mhtest", required_argument, NULL, OPT_MHTEST },
                { "match", required_argument, NULL, 'k' },
                { "tests", required_argument, NULL, OPT_TESTS },
                { "within", required_argument, NULL, OPT_WITHIN },
                { "early", required_argument, NULL, OPT_EARLY },
                { "dir", required_argument, NULL, OPT_DIR },
                { "keep", no_argument, NULL, OPT_KEEP },
                { "check", required_argument, NULL, OPT_CHECK },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        bool seeded = false;
        char *end;
        int c;

        while ((c = getopt_long(argc, argv, "k:h", options, NULL)) >= 0)
                switch (c) {
                case OPT_CONFIG:
                        s->config_path = optarg;
                        break;
                case OPT_RUNS:
                        errno = 0;
                        s->n_runs = (unsigned) strtoul(optarg, &end, 10);
                        if (errno || *end || s->n_runs == 0 || s->n_runs > 1000000) {
                                fprintf(stderr, "soak: --runs wants a number of runs, 1 or more\n");
                                return -EINVAL;
                        }
                        break;
                case OPT_TIME:
                        if (!parse_double(optarg, &s->max_sec)) {
                                fprintf(stderr, "soak: --time wants seconds, more than 0\n");
                                return -EINVAL;
                        }
                        break;
                case OPT_SEED:
                        errno = 0;
                        s->seed = strtoull(optarg, &end, 10);
                        if (errno || *end || optarg[0] == '-' || !optarg[0]) {
                                fprintf(stderr, "soak: --seed wants a number\n");
                                return -EINVAL;
                        }
                        seeded = true;
                        break;
                case OPT_MHTEST:
                        s->mhtest = optarg;
                        break;
                case 'k':
                        if (mh_strv_consume(&s->match, strdup(optarg)) < 0)
                                return -ENOMEM;
                        break;
                case OPT_TESTS:
                        if (mh_strv_consume(&s->tests, strdup(optarg)) < 0)
                                return -ENOMEM;
                        break;
                case OPT_WITHIN:
                        if (!parse_double(optarg, &s->window)) {
                                fprintf(stderr, "soak: --within wants seconds, more than 0\n");
                                return -EINVAL;
                        }
                        break;
                case OPT_EARLY:
                        if (!parse_double(optarg, &s->early)) {
                                fprintf(stderr, "soak: --early wants seconds, more than 0\n");
                                return -EINVAL;
                        }
                        break;
                case OPT_DIR:
                        snprintf(s->dir, sizeof(s->dir), "%s", optarg);
                        break;
                case OPT_KEEP:
                        s->keep = true;
                        break;
                case OPT_CHECK:
                        s->check = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        exit(EXIT_SUCCESS);
                default:
                        usage(stderr);
                        return -EINVAL;
                }
        if (optind < argc) {
                fprintf(stderr, "soak: unexpected argument '%s'\n", argv[optind]);
                usage(stderr);
                return -EINVAL;
        }
        if (!seeded) {
                uint32_t v = 0;

                if (getrandom(&v, sizeof(v), 0) != sizeof(v))
                        v = (uint32_t) (mh_realtime_usec() ^ (uint64_t) getpid());
                s->seed = v;
        }
        s->rng = s->seed;
        return 0;
}

/* The lab before the soak: clean (--recover), fingerprinted, the window known. */
static int prepare(soak *s) {
        mh_error e = MH_ERROR_INIT;
        uint64_t usec = 0;
        int status;

        if (mh_config_load(s->config_path, &s->config, &e) < 0) {
                fprintf(stderr, "soak: %s\n", e.message);
                return -EINVAL;
        }
        if (!s->dir[0]) {
                snprintf(s->dir, sizeof(s->dir), "/tmp/mhc-soak-XXXXXX");
                if (!mkdtemp(s->dir)) {
                        fprintf(stderr, "soak: cannot make a directory in /tmp: %m\n");
                        return -errno;
                }
                s->made_dir = true;
        } else if (mkdir(s->dir, 0755) < 0 && errno != EEXIST) {
                fprintf(stderr, "soak: cannot make %s: %m\n", s->dir);
                return -errno;
        }
        if (access(s->mhtest, X_OK) < 0) {
                fprintf(stderr, "soak: cannot run %s: %m (--mhtest PATH)\n", s->mhtest);
                return -errno;
        }
        status = load_plan(s);
        if (status < 0)
                return status;

        status = run_mhtest(s, "recover-before", (const char *const[]){ "--recover", NULL }, NULL);
        if (status != 0) {
                _cleanup_free_ char *out = path_in(s, "recover-before", ".out");
                _cleanup_free_ char *text = out ? read_text(out) : NULL;

                fprintf(stderr,
                        "soak: the lab is not clean before the soak: mhtest --recover exited %d:\n"
                        "%s",
                        status, strempty(text));
                return -EBUSY;
        }
        {
                _cleanup_free_ char *dir = path_in(s, "fingerprint-before", "");

                if (!dir || (mkdir(dir, 0755) < 0 && errno != EEXIST) ||
                    fingerprint_take(s->config, dir) < 0) {
                        fprintf(stderr, "soak: cannot take the fingerprints before the soak (%s)\n",
                                dir ? dir : "out of memory");
                        return -EIO;
                }
        }
        if (s->window == 0) {
                status = run_mhtest(s, "whole", (const char *const[]){ NULL }, &usec);
                if (status != 0) {
                        fprintf(stderr,
                                "soak: a whole run of the suite fails (exit %d): see "
                                "%s/whole.out\n",
                                status, s->dir);
                        s->keep = true;
                        return -EINVAL;
                }
                s->window = WINDOW_FACTOR * seconds(usec);
        }
        return 0;
}

/* The warnings of the --recover before the soak: what others left on the lab. */
static void print_before(const soak *s) {
        _cleanup_free_ char *err = path_in(s, "recover-before", ".err");
        _cleanup_free_ char *text = err ? read_text(err) : NULL;

        for (const char *p = strempty(text); *p;) {
                size_t n = strcspn(p, "\n");

                if (startswith(p, "mhtest: "))
                        printf("soak: before the soak: %.*s\n", (int) n, p);
                p += n + (p[n] == '\n');
        }
}

static void soak_dispose(soak *s) {
        for (size_t i = 0; s->runs && i < s->n_runs; i++)
                mh_strv_dispose(&s->runs[i].steps);
        free(s->runs);
        mh_strv_dispose(&s->topologies);
        mh_strv_dispose(&s->match);
        mh_strv_dispose(&s->tests);
        mh_config_free(s->config);
}

/* --check DIR: the fingerprints now (in DIR/fingerprint-now) against DIR's before. */
static int check_only(soak *s) {
        _cleanup_free_ char *before = NULL, *now = NULL;
        mh_error e = MH_ERROR_INIT;
        int dirty;

        if (mh_config_load(s->config_path, &s->config, &e) < 0) {
                fprintf(stderr, "soak: %s\n", e.message);
                return EXIT_SETUP;
        }
        if (asprintf(&before, "%s/fingerprint-before", s->check) < 0 ||
            asprintf(&now, "%s/fingerprint-now", s->check) < 0)
                return EXIT_SETUP;
        if (mkdir(now, 0755) < 0 && errno != EEXIST) {
                fprintf(stderr, "soak: cannot make %s: %m\n", now);
                return EXIT_SETUP;
        }
        (void) fingerprint_take(s->config, now);
        dirty = fingerprint_compare(s->config, before, now);
        if (dirty < 0)
                return EXIT_SETUP;
        printf("soak: hosts found dirty: %d of %zu\n", dirty, mh_config_n_hosts(s->config));
        return dirty ? EXIT_DIRTY : EXIT_SUCCESS;
}

int main(int argc, char **argv) {
        soak s = {
                .config_path = "mhc.yaml",
                .mhtest = "./mhtest",
                .n_runs = 20,
                .early = EARLY_DEFAULT_SEC,
        };
        unsigned kills[_PHASE_MAX] = {}, n_kills = 0, n_ended = 0;
        _cleanup_free_ char *before = NULL, *after = NULL;
        uint64_t start;
        int r, status, dirty;

        setvbuf(stdout, NULL, _IOLBF, 0);
        if (parse_options(&s, argc, argv) < 0) {
                soak_dispose(&s);
                return EXIT_SETUP;
        }
        if (s.check) {
                r = check_only(&s);
                soak_dispose(&s);
                return r;
        }
        s.runs = calloc(s.n_runs, sizeof(*s.runs));
        if (!s.runs || prepare(&s) < 0) {
                if (s.made_dir)
                        fprintf(stderr, "soak: what the runs printed is in %s\n", s.dir);
                soak_dispose(&s);
                return EXIT_SETUP;
        }
        printf("soak: seed %" PRIu64 ", %u runs, kill within %.1f s of a start (repeat: --seed "
               "%" PRIu64 " --within %.1f)\n",
               s.seed, s.n_runs, s.window, s.seed, s.window);
        print_before(&s);

        start = mh_now_usec();
        for (size_t k = 0; k < s.n_runs; k++) {
                if (s.max_sec > 0 && seconds(mh_now_usec() - start) >= s.max_sec) {
                        printf("soak: %.0f s are up after %zu runs\n", s.max_sec, k);
                        s.n_runs = (unsigned) k;
                        break;
                }
                r = soak_one(&s, k);
                if (r < 0) {
                        fprintf(stderr, "soak: run %zu: %s\n", k + 1, strerror(-r));
                        s.keep = true;
                        soak_dispose(&s);
                        return EXIT_SETUP;
                }
                report_runs(&s, k);
        }

        status = run_mhtest(&s, "recover-after", (const char *const[]){ "--recover", NULL }, NULL);
        if (status < 0 || read_run(&s, "recover-after", "the last --recover", s.n_runs) < 0) {
                s.keep = true;
                soak_dispose(&s);
                return EXIT_SETUP;
        }
        if (status != 0)
                problem(&s, "mhtest --recover after the soak exited %d (see %s/recover-after.out)",
                        status, s.dir);
        report_runs(&s, s.n_runs);

        before = path_in(&s, "fingerprint-before", "");
        after = path_in(&s, "fingerprint-after", "");
        if (!before || !after || (mkdir(after, 0755) < 0 && errno != EEXIST))
                dirty = -ENOMEM;
        else {
                (void) fingerprint_take(s.config, after);
                dirty = fingerprint_compare(s.config, before, after);
        }
        if (dirty < 0) {
                s.keep = true;
                fprintf(stderr, "soak: what the runs printed is in %s\n", s.dir);
                soak_dispose(&s);
                return EXIT_SETUP;
        }

        for (size_t k = 0; k < s.n_runs; k++) {
                kills[s.runs[k].phase]++;
                n_kills++;
                n_ended += s.runs[k].ended;
        }
        printf("soak: %u runs, %u kills: setup %u, test %u, restore %u, vanilla restore %u, "
               "recovery %u, none %u",
               s.n_runs, n_kills, kills[PHASE_SETUP], kills[PHASE_TEST], kills[PHASE_RESTORE],
               kills[PHASE_VANILLA], kills[PHASE_RECOVERY], kills[PHASE_NONE]);
        if (kills[PHASE_OTHER])
                printf(", other %u", kills[PHASE_OTHER]);
        if (n_ended)
                printf(" (%u after the run had ended)", n_ended);
        printf("\nsoak: hosts found dirty: %d of %zu\n", dirty, mh_config_n_hosts(s.config));
        if (s.n_problems)
                printf("soak: %u problem(s), see above\n", s.n_problems);

        r = dirty == 0 && s.n_problems == 0 ? EXIT_SUCCESS : EXIT_DIRTY;
        if (r != EXIT_SUCCESS || s.keep)
                printf("soak: what the runs printed is in %s\n", s.dir);
        else if (s.made_dir)
                (void) nftw(s.dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
        soak_dispose(&s);
        return r;
}
