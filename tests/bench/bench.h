/* SPDX-License-Identifier: MIT */
#ifndef MH_BENCH_H
#define MH_BENCH_H

/* What the benchmarks share: a clock, order statistics and a log handler.  Header-only. */

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mhc/log.h>

static inline double now_msec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static inline int compare_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return x < y ? -1 : x > y;
}

/* Sort samples[0..n) in place and return the value at fraction q (0.5: median). */
static inline double quantile(double *samples, size_t n, double q) {
        size_t i;

        qsort(samples, n, sizeof(double), compare_double);
        i = (size_t) ((double) n * q);
        return samples[i < n ? i : n - 1];
}

/* What the library's log said: how many restores found nothing to restore
 * (from its debug lines), so that a figure cannot silently measure
 * something else. */
typedef struct bench_log {
        pthread_mutex_t lock;
        const char *program;      /* the prefix of the lines printed */
        bool verbose;             /* print every line, not only warnings and errors */
        unsigned files_unchanged; /* systemd part of a host: "..., nothing changed" */
        unsigned db_unchanged;    /* postgresql: "databases unchanged, skipped" */
} bench_log;

/* An mh_log_fn whose userdata is a bench_log: counts, and prints to stderr. */
static inline void bench_log_handler(mh_log_level level, const char *host, const char *message,
                                     void *userdata) {
        bench_log *l = userdata;

        pthread_mutex_lock(&l->lock);
        if (strstr(message, ", nothing changed"))
                l->files_unchanged++;
        if (strstr(message, "databases unchanged, skipped"))
                l->db_unchanged++;
        if (level <= MH_LOG_WARNING || l->verbose)
                fprintf(stderr, "%s: [%s] %s: %s\n", l->program, mh_log_level_to_string(level),
                        host ? host : "-", message);
        pthread_mutex_unlock(&l->lock);
}

/* The counts so far. */
static inline void bench_log_unchanged(bench_log *l, unsigned *ret_files, unsigned *ret_db) {
        pthread_mutex_lock(&l->lock);
        *ret_files = l->files_unchanged;
        *ret_db = l->db_unchanged;
        pthread_mutex_unlock(&l->lock);
}

#endif
