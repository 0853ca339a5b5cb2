/* SPDX-License-Identifier: MIT */
#ifndef MH_BENCH_H
#define MH_BENCH_H

/* What the benchmarks share: a clock and order statistics.  Header-only. */

#include <stdlib.h>
#include <time.h>

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

#endif
