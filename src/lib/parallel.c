/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>

#include <mhc/parallel.h>

#include "util.h"

typedef struct work {
        pthread_mutex_t lock;
        size_t next;            /* the next i to hand out */
        size_t n;
        mh_parallel_fn fn;
        void *userdata;
        int *results;
} work;

/* Each worker takes the next index until none is left. */
static void *worker(void *p) {
        work *w = p;

        for (;;) {
                size_t i;

                pthread_mutex_lock(&w->lock);
                i = w->next < w->n ? w->next++ : w->n;
                pthread_mutex_unlock(&w->lock);
                if (i == w->n)
                        return NULL;

                w->results[i] = w->fn(i, w->userdata);
        }
}

int mh_parallel_for(size_t n, mh_parallel_fn fn, void *userdata) {
        _cleanup_free_ int *results = NULL;
        pthread_t threads[MH_PARALLEL_MAX];
        size_t n_threads, started = 0;
        int r;
        work w = {
                .lock = PTHREAD_MUTEX_INITIALIZER,
                .n = n,
                .fn = fn,
                .userdata = userdata,
        };

        if (!fn)
                return -EINVAL;
        if (n == 0)
                return 0;
        if (n == 1) {
                r = fn(0, userdata);
                return r < 0 ? r : 0;
        }

        results = calloc(n, sizeof(int));
        if (!results)
                return -ENOMEM;
        w.results = results;

        n_threads = n < MH_PARALLEL_MAX ? n : MH_PARALLEL_MAX;
        for (; started < n_threads; started++)
                if (pthread_create(&threads[started], NULL, worker, &w) != 0)
                        break;
        /* Threads that could not start are made up for by the caller's own. */
        if (started < n_threads)
                worker(&w);
        for (size_t t = 0; t < started; t++)
                pthread_join(threads[t], NULL);

        r = 0;
        for (size_t i = 0; i < n && r == 0; i++)
                if (results[i] < 0)
                        r = results[i];
        pthread_mutex_destroy(&w.lock);
        return r;
}
