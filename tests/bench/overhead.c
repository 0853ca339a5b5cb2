/* SPDX-License-Identifier: MIT */
/*
 * overhead: what mhtest's backup controller costs per test, measured in one
 * run against the lab's hosts: the 50 trivial tests of overhead-tests.so on
 * client-server-db, run twice with libmhc's controller, which mhtest uses:
 *
 *   - mhc's defaults: every host restored after each test, in parallel,
 *     each restore doing only what changed;
 *   - the naive way (mh_controller_options.naive, pytest-mh's): every host
 *     fully restored, one after another, after each test.
 *
 * The overhead of a test is the time of the loop of tests and restores less
 * the tests' own run time (their processes' duration_usec).  It prints both
 * per test and their ratio.  Run it inside the lab:
 *
 *     tests/lab/exec tests/bench/overhead [--tests N] [-v] [MHC_YAML [MODULE]]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mhc/controller.h>
#include <mhc/mhc.h>

#include "../integration/lab.h"
#include "bench.h"

#define TOPOLOGY       "client-server-db"
#define DEFAULT_CONFIG "mhc.yaml"
#define DEFAULT_MODULE "tests/bench/.libs/overhead-tests.so"
#define TARGET         5.0 /* the issue's: at least 5x less overhead than the naive way */

/* One run of the tests with one way of restoring. */
typedef struct way {
        const char *what;
        bool naive;
        size_t tests;             /* run and passed */
        double enter_msec;        /* connect, backups, setup: once, not counted */
        double loop_msec;         /* the tests and the restores after them */
        double leave_msec;        /* back to vanilla: once, not counted */
        uint64_t bodies_usec;     /* the tests' processes */
        uint64_t restores_usec;   /* mh_controller_after_test() */
        unsigned hosts_unchanged; /* host restores that found nothing changed */
        unsigned dbs_unchanged;   /* database restores that found nothing changed */
} way;

static bench_log said = { .lock = PTHREAD_MUTEX_INITIALIZER, .program = "overhead" };

static volatile sig_atomic_t interrupted;
static int cancel_pipe[2] = { -1, -1 };

/* The first signal stops the tests (the hosts are still put back); a second ends it at once. */
static void on_signal(int sig) {
        ssize_t n;

        if (interrupted) {
                signal(sig, SIG_DFL);
                raise(sig);
                return;
        }
        interrupted = sig;
        n = write(cancel_pipe[1], "x", 1);
        (void) n;
}

/* Print why a test did not pass, with its details indented. */
static void print_outcome(const mh_test_info *info, const mh_test_outcome *o) {
        const char *d = o->details;

        fprintf(stderr, "overhead: test %s %s: %s\n", info->name,
                mh_test_status_to_string(o->status), o->message ? o->message : "no message");
        while (d && *d) {
                size_t n = strcspn(d, "\n");

                fprintf(stderr, "    %.*s\n", (int) n, d);
                d += n + (d[n] ? 1 : 0);
        }
}

/* Run the first n tests of m with the controller, restoring after each. */
static int run_way(way *w, mh_lab *l, const mh_topology *topology, const mh_host_config **hosts,
                   size_t n_hosts, const mh_module *m, size_t n) {
        const mh_controller_options options = { .naive = w->naive };
        mh_error e = MH_ERROR_INIT;
        unsigned hosts0, dbs0, hosts1, dbs1;
        mh_controller *c = NULL;
        double t0;
        int r, k;

        r = mh_controller_new(l, topology, hosts, n_hosts, &options, &c, &e);
        if (r < 0) {
                fprintf(stderr, "overhead: %s\n", e.message);
                return r;
        }
        fprintf(stderr, "overhead: %s: %zu tests\n", w->what, n);
        t0 = now_msec();
        r = mh_controller_enter(c, &e);
        w->enter_msec = now_msec() - t0;
        if (r < 0) {
                fprintf(stderr, "overhead: %s\n", e.message);
                mh_controller_free(c);
                return r;
        }

        bench_log_unchanged(&said, &hosts0, &dbs0);
        t0 = now_msec();
        for (size_t i = 0; i < n && !interrupted; i++) {
                const mh_test_plan plan = {
                        .module = m,
                        .info = mh_module_test(m, i),
                        .topology = TOPOLOGY,
                        .hosts = mh_controller_hosts(c),
                        .roles = mh_controller_roles(c),
                        .n_hosts = mh_controller_n_hosts(c),
                        .cancel_fd = cancel_pipe[0],
                };
                mh_test_outcome o = {};
                uint64_t usec = 0;

                r = mh_test_execute(&plan, &o, &e);
                if (r < 0) {
                        fprintf(stderr, "overhead: test %s: %s\n", plan.info->name, e.message);
                        break;
                }
                if (o.status != MH_TEST_PASSED) {
                        if (!interrupted)
                                print_outcome(plan.info, &o);
                        mh_test_outcome_dispose(&o);
                        r = -EIO;
                        break;
                }
                w->bodies_usec += o.duration_usec;
                mh_test_outcome_dispose(&o);

                r = mh_controller_after_test(c, &usec, &e);
                w->restores_usec += usec;
                if (r < 0) {
                        fprintf(stderr, "overhead: restore after %s: %s\n", plan.info->name,
                                e.message);
                        break;
                }
                w->tests++;
        }
        w->loop_msec = now_msec() - t0;
        bench_log_unchanged(&said, &hosts1, &dbs1);
        w->hosts_unchanged = hosts1 - hosts0;
        w->dbs_unchanged = dbs1 - dbs0;

        t0 = now_msec();
        k = mh_controller_leave(c, &e);
        w->leave_msec = now_msec() - t0;
        if (k < 0) {
                fprintf(stderr, "overhead: putting the hosts back to vanilla: %s\n", e.message);
                if (r >= 0)
                        r = k;
        }
        mh_controller_free(c);
        return r;
}

/* Overhead per test in msec: the loop less the tests' own run time. */
static double overhead_msec(const way *w) {
        return w->tests ? (w->loop_msec - (double) w->bodies_usec / 1e3) / (double) w->tests : 0;
}

static double per_test_msec(const way *w, uint64_t usec) {
        return w->tests ? (double) usec / 1e3 / (double) w->tests : 0;
}

static void print_way(const way *w, size_t n_hosts) {
        char unchanged[32];

        snprintf(unchanged, sizeof(unchanged), "%u/%zu %u/%zu", w->hosts_unchanged,
                 w->tests * n_hosts, w->dbs_unchanged, w->tests);
        printf("  %-26s %5zu %8.2f %9.1f %9.1f %9.1f %9.1f %14s %7.1f %7.1f\n", w->what, w->tests,
               w->loop_msec / 1e3, per_test_msec(w, w->bodies_usec), overhead_msec(w),
               per_test_msec(w, w->restores_usec),
               overhead_msec(w) - per_test_msec(w, w->restores_usec), unchanged,
               w->enter_msec / 1e3, w->leave_msec / 1e3);
}

static void print_results(const way *fast, const way *naive, const mh_host_config **hosts,
                          size_t n_hosts, const char *module) {
        double ratio = overhead_msec(fast) > 0 ? overhead_msec(naive) / overhead_msec(fast) : 0;

        printf("\noverhead: %s's tests on %s (", module, TOPOLOGY);
        for (size_t i = 0; i < n_hosts; i++)
                printf("%s%s=%s", i ? " " : "", mh_host_config_role(hosts[i]),
                       mh_host_config_hostname(hosts[i]));
        printf("), one run;\nper test in ms: the test (\"body\": its process from fork to exit, "
               "its command\nincluded), the loop's time less the bodies (\"overhead\"), of which "
               "the\nrestore after it and the rest; \"unchanged\": host restores and database\n"
               "restores that found nothing to do; enter and leave (backups, setup, back to\n"
               "vanilla) are once per run and not counted\n\n");
        printf("  %-26s %5s %8s %9s %9s %9s %9s %14s %7s %7s\n", "way", "tests", "loop s", "body",
               "overhead", "restore", "rest", "unchanged", "enter s", "leave s");
        print_way(fast, n_hosts);
        print_way(naive, n_hosts);
        if (ratio <= 0) {
                printf("  %-26s %5s %8s %9s %9s\n", "naive / defaults", "", "", "", "-");
                return;
        }
        printf("  %-26s %5s %8s %9s %8.1fx   (issue's target >= %.0fx: %s)\n", "naive / defaults",
               "", "", "", ratio, TARGET, ratio >= TARGET ? "met" : "NOT met");
}

static void usage(FILE *f) {
        fprintf(f, "usage: overhead [--tests N] [-v] [MHC_YAML [MODULE]]\n"
                   "\n"
                   "Runs the trivial tests of MODULE (default " DEFAULT_MODULE ") on\n"
                   "topology " TOPOLOGY " of MHC_YAML (default ./" DEFAULT_CONFIG
                   ", its topology from\n"
                   "topologies/ beside it) twice: with mhc's backup controller as mhtest runs\n"
                   "it, and the naive way (every host fully restored, one after another, after\n"
                   "each test). Prints the overhead per test of both and their ratio. Run inside\n"
                   "the lab: tests/lab/exec tests/bench/overhead mhc.yaml\n"
                   "\n"
                   "  --tests N      run only the first N tests (default: all)\n"
                   "  -v, --verbose  print the library's debug log to stderr\n");
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "tests", required_argument, NULL, 'n' },
                { "verbose", no_argument, NULL, 'v' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
        way fast = { .what = "mhc defaults" };
        way naive = { .what = "naive (full, one by one)", .naive = true };
        const char *config_path = DEFAULT_CONFIG, *module_path = DEFAULT_MODULE;
        const mh_host_config **hosts = NULL;
        mh_topology *topology = NULL;
        mh_config *config = NULL;
        mh_module *m = NULL;
        mh_error e = MH_ERROR_INIT;
        char *copy = NULL, *topology_path = NULL;
        size_t n_hosts = 0, n_tests = SIZE_MAX;
        unsigned long v;
        char *end;
        mh_lab *l = NULL;
        int c, r;

        while ((c = getopt_long(argc, argv, "vh", options, NULL)) >= 0)
                switch (c) {
                case 'n':
                        errno = 0;
                        v = strtoul(optarg, &end, 10);
                        if (errno != 0 || *end || v == 0 || v > 100000) {
                                fprintf(stderr, "overhead: --tests wants a number from 1\n");
                                return EXIT_FAILURE;
                        }
                        n_tests = v;
                        break;
                case 'v':
                        said.verbose = true;
                        break;
                case 'h':
                        usage(stdout);
                        return EXIT_SUCCESS;
                default:
                        usage(stderr);
                        return EXIT_FAILURE;
                }
        if (argc - optind > 2) {
                usage(stderr);
                return EXIT_FAILURE;
        }
        if (optind < argc)
                config_path = argv[optind];
        if (optind + 1 < argc)
                module_path = argv[optind + 1];
        if (!lab_is_up()) {
                fprintf(stderr, "overhead: the lab is not up or not reachable from here: run "
                                "tests/lab/up, then tests/lab/exec tests/bench/overhead\n");
                return EXIT_FAILURE;
        }

        r = mh_config_load(config_path, &config, &e);
        if (r < 0)
                goto out;
        copy = strdup(config_path);
        if (!copy ||
            asprintf(&topology_path, "%s/topologies/" TOPOLOGY ".yaml", dirname(copy)) < 0) {
                topology_path = NULL;
                r = mh_error_oom(&e);
                goto out;
        }
        r = mh_topology_load(topology_path, &topology, &e);
        if (r < 0)
                goto out;
        r = mh_topology_match(topology, config, false, &hosts, &n_hosts, &e);
        if (r < 0) {
                mh_error_prefix(&e, "%s", config_path);
                goto out;
        }
        r = mh_module_load(module_path, &m, &e);
        if (r < 0)
                goto out;
        if (n_tests > mh_module_n_tests(m))
                n_tests = mh_module_n_tests(m);
        r = mh_lab_new(config, &l, &e);
        if (r < 0)
                goto out;

        if (pipe2(cancel_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
                r = mh_error_set(&e, -errno, "pipe: %s", strerror(errno));
                goto out;
        }
        mh_log_set_handler(bench_log_handler, MH_LOG_DEBUG, &said);
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);

        r = run_way(&fast, l, topology, hosts, n_hosts, m, n_tests);
        if (r >= 0 && !interrupted)
                r = run_way(&naive, l, topology, hosts, n_hosts, m, n_tests);
        if (r >= 0 && !interrupted)
                print_results(&fast, &naive, hosts, n_hosts, module_path);
        e.code = 0; /* said already */

out:
        if (e.code < 0)
                fprintf(stderr, "overhead: %s\n", e.message);
        if (interrupted)
                fprintf(stderr, "overhead: interrupted (signal %d); the hosts are put back\n",
                        (int) interrupted);
        mh_lab_free(l);
        mh_module_free(m);
        free(hosts);
        mh_topology_free(topology);
        mh_config_free(config);
        free(topology_path);
        free(copy);
        return r < 0 || interrupted ? EXIT_FAILURE : EXIT_SUCCESS;
}
