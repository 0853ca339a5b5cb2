/* SPDX-License-Identifier: MIT */
/*
 * exec-latency: how long one small remote command takes, three ways, in one
 * run against the same lab host: mhc's persistent libssh session, one ssh
 * process per command, and OpenSSH's ControlMaster multiplexing.  Prints the
 * median and p90 of each and the ratios to mhc.  Run it inside the lab:
 *
 *     tests/lab/exec tests/bench/exec-latency [--host ADDR] [-n 500]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mhc/mhc.h>

#include "../integration/lab.h"
#include "bench.h"

#define WARMUP 5

typedef struct way {
        const char *name;
        double *samples; /* msec per command */
        size_t n;
        double median, p90, total;
} way;

static void summarise(way *w) {
        w->total = 0;
        for (size_t i = 0; i < w->n; i++)
                w->total += w->samples[i];
        w->median = quantile(w->samples, w->n, 0.5);
        w->p90 = quantile(w->samples, w->n, 0.9);
}

/* Run argv (stderr to /dev/null if quiet) and wait; returns its exit status, or -1. */
static int spawn_wait(const char *const argv[], bool quiet) {
        posix_spawn_file_actions_t actions;
        pid_t pid;
        int status, r;

        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        if (quiet)
                posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
        r = posix_spawnp(&pid, argv[0], &actions, NULL, (char *const *) argv, environ);
        posix_spawn_file_actions_destroy(&actions);
        if (r != 0) {
                fprintf(stderr, "exec-latency: cannot run %s: %s\n", argv[0], strerror(r));
                return -1;
        }
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Time n runs of `true` through mh_ssh_exec on one session. */
static int time_mhc(mh_ssh *s, way *w, size_t n) {
        for (size_t i = 0; i < n + WARMUP; i++) {
                mh_exec_result res = {};
                mh_error e = MH_ERROR_INIT;
                double t0 = now_msec();
                int r;

                r = mh_ssh_exec(s, "true", NULL, &res, &e);
                if (r < 0 || res.exit_status != 0) {
                        fprintf(stderr, "exec-latency: mhc: %s (status %d)\n",
                                mh_error_message(&e, r), res.exit_status);
                        mh_exec_result_dispose(&res);
                        return -1;
                }
                mh_exec_result_dispose(&res);
                if (i >= WARMUP)
                        w->samples[w->n++] = now_msec() - t0;
        }
        return 0;
}

/* Time n runs of argv (an ssh command line ending in `true`). */
static int time_spawn(const char *const argv[], way *w, size_t n) {
        for (size_t i = 0; i < n + WARMUP; i++) {
                double t0 = now_msec();
                int r = spawn_wait(argv, false);

                if (r != 0) {
                        fprintf(stderr, "exec-latency: %s: ssh exited with %d\n", w->name, r);
                        return -1;
                }
                if (i >= WARMUP)
                        w->samples[w->n++] = now_msec() - t0;
        }
        return 0;
}

static void usage(FILE *f) {
        fprintf(f, "usage: exec-latency [--host ADDR] [-n N]\n"
                   "\n"
                   "Times N (default 500) sequential `true` commands on one lab host three ways:\n"
                   "mhc's persistent session, one ssh process per command, and ssh with\n"
                   "ControlMaster. Run inside the lab: tests/lab/exec tests/bench/exec-latency\n"
                   "\n"
                   "  --host ADDR  the host's address (default: the lab's server)\n"
                   "  -n N         commands per way (default 500)\n");
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "host", required_argument, NULL, 'H' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        char address[256] = "", sock[300], kh_opt[300],
             gkh_opt[] = "GlobalKnownHostsFile=/dev/null";
        char *dir, target[300];
        mh_config *config = NULL;
        mh_error e = MH_ERROR_INIT;
        const mh_host_config *host;
        mh_ssh *s = NULL;
        size_t n = 500;
        way ways[3] = {
                { .name = "mhc (persistent session)" },
                { .name = "ssh per command" },
                { .name = "ssh ControlMaster" },
        };
        int c, r = EXIT_FAILURE;

        while ((c = getopt_long(argc, argv, "n:h", options, NULL)) >= 0)
                switch (c) {
                case 'H':
                        snprintf(address, sizeof(address), "%s", optarg);
                        break;
                case 'n':
                        n = strtoul(optarg, NULL, 10);
                        if (n == 0) {
                                fprintf(stderr, "exec-latency: -n wants a positive number\n");
                                return EXIT_FAILURE;
                        }
                        break;
                case 'h':
                        usage(stdout);
                        return EXIT_SUCCESS;
                default:
                        usage(stderr);
                        return EXIT_FAILURE;
                }
        if (!address[0] && !lab_address("server", address, sizeof(address))) {
                fprintf(stderr, "exec-latency: no lab address of 'server'; give --host ADDR\n");
                return EXIT_FAILURE;
        }
        if (access(LAB_KEY, R_OK) < 0) {
                fprintf(stderr, "exec-latency: cannot read %s: is the lab up (tests/lab/up)?\n",
                        LAB_KEY);
                return EXIT_FAILURE;
        }

        for (size_t i = 0; i < 3; i++) {
                ways[i].samples = calloc(n, sizeof(double));
                if (!ways[i].samples)
                        return EXIT_FAILURE;
        }

        /* mhc: one session, built from YAML like any mhc.yaml */
        host = lab_config_one("server", &(lab_conn){ .address = address }, &config, &e);
        if (!host) {
                fprintf(stderr, "exec-latency: %s\n", e.message);
                return EXIT_FAILURE;
        }
        r = mh_ssh_connect(host, &s, &e);
        if (r < 0) {
                fprintf(stderr, "exec-latency: %s: %s\n", mh_host_config_hostname(host),
                        mh_error_message(&e, r));
                return EXIT_FAILURE;
        }
        r = time_mhc(s, &ways[0], n);
        s = mh_ssh_free(s);
        if (r < 0)
                return EXIT_FAILURE;

        /* one ssh process per command */
        snprintf(kh_opt, sizeof(kh_opt), "UserKnownHostsFile=%s", LAB_KNOWN_HOSTS);
        snprintf(target, sizeof(target), "root@%s", address);
        {
                const char *ssh_argv[] = { "ssh",
                                           "-F",
                                           "/dev/null",
                                           "-i",
                                           LAB_KEY,
                                           "-o",
                                           "IdentitiesOnly=yes",
                                           "-o",
                                           kh_opt,
                                           "-o",
                                           gkh_opt,
                                           "-o",
                                           "BatchMode=yes",
                                           "-o",
                                           "StrictHostKeyChecking=yes",
                                           target,
                                           "true",
                                           NULL };

                if (time_spawn(ssh_argv, &ways[1], n) < 0)
                        return EXIT_FAILURE;
        }

        /* ControlMaster: a master in the background, each command a client of it */
        dir = strdup("/tmp/mhc-bench-XXXXXX");
        if (!dir || !mkdtemp(dir))
                return EXIT_FAILURE;
        snprintf(sock, sizeof(sock), "%s/master", dir);
        {
                const char *master_argv[] = { "ssh",
                                              "-F",
                                              "/dev/null",
                                              "-i",
                                              LAB_KEY,
                                              "-o",
                                              "IdentitiesOnly=yes",
                                              "-o",
                                              kh_opt,
                                              "-o",
                                              gkh_opt,
                                              "-o",
                                              "BatchMode=yes",
                                              "-o",
                                              "StrictHostKeyChecking=yes",
                                              "-o",
                                              "ControlPersist=yes",
                                              "-M",
                                              "-S",
                                              sock,
                                              "-f",
                                              "-N",
                                              target,
                                              NULL };
                const char *client_argv[] = { "ssh", "-F", "/dev/null", "-o",   "BatchMode=yes",
                                              "-S",  sock, target,      "true", NULL };
                const char *exit_argv[] = { "ssh", "-F",   "/dev/null", "-S", sock,
                                            "-O",  "exit", target,      NULL };

                if (spawn_wait(master_argv, false) != 0) {
                        fprintf(stderr, "exec-latency: cannot start the ControlMaster\n");
                        return EXIT_FAILURE;
                }
                r = time_spawn(client_argv, &ways[2], n);
                (void) spawn_wait(exit_argv, true);
                /* the master removes its socket as it exits, a moment later */
                for (int i = 0; i < 100 && rmdir(dir) < 0 && errno == ENOTEMPTY; i++)
                        usleep(10 * 1000);
                free(dir);
                if (r < 0)
                        return EXIT_FAILURE;
        }

        for (size_t i = 0; i < 3; i++)
                summarise(&ways[i]);

        printf("exec-latency: %zu sequential `true` commands on %s (after %d warm-up runs "
               "each)\n\n",
               n, address, WARMUP);
        printf("%-28s %10s %10s %10s\n", "way", "median ms", "p90 ms", "total s");
        for (size_t i = 0; i < 3; i++)
                printf("%-28s %10.2f %10.2f %10.2f\n", ways[i].name, ways[i].median, ways[i].p90,
                       ways[i].total / 1000.0);
        printf("\nratios of medians: ssh per command / mhc = %.1fx, ControlMaster / mhc = %.1fx\n",
               ways[1].median / ways[0].median, ways[2].median / ways[0].median);

        for (size_t i = 0; i < 3; i++)
                free(ways[i].samples);
        mh_config_free(config);
        return EXIT_SUCCESS;
}
