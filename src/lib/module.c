/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>

#include <mhc/test.h>

#include "module.h"
#include "util.h"

#define MODULE_TESTS_MAX 100000

typedef struct hook {
        mh_hook_fn fn;
        const char *file;
        unsigned line;
} hook;

struct mh_module {
        char *path;
        const mh_test_info **tests;
        size_t n_tests;
        hook hooks[2];          /* by mh_hook_kind */
        /* Set while loading: the first problem a constructor ran into. */
        int error;
        mh_error error_detail;
};

/*
 * Modules are loaded one at a time: their constructors run inside dlopen()
 * on the loading thread and register into `loading`.  Paths already loaded
 * are remembered, as dlopen() would not run the constructors again.
 */
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static mh_module *loading;
static char **loaded_paths;
static size_t n_loaded_paths;

static void loading_fail(int code, const char *fmt, ...) MH_PRINTF(2, 3);

static void loading_fail(int code, const char *fmt, ...) {
        va_list ap;

        if (loading->error < 0)
                return;
        va_start(ap, fmt);
        loading->error = mh_error_setv(&loading->error_detail, code, fmt, ap);
        va_end(ap);
}

void mh_module_register_test(const mh_test_info *info) {
        const mh_test_info **tests;

        /* A module linked into a program rather than loaded: nothing to do. */
        if (!loading || !info)
                return;
        if (info->abi != MH_TEST_ABI) {
                loading_fail(-MH_ERR_ABI,
                             "its tests were built for test ABI %u, this libmhc has %u; "
                             "rebuild the module against this libmhc",
                             info->abi, MH_TEST_ABI);
                return;
        }
        if (!info->name || !info->run) {
                loading_fail(-MH_ERR_CONFIG, "a test has no name or no body");
                return;
        }
        for (size_t i = 0; i < loading->n_tests; i++)
                if (streq(loading->tests[i]->name, info->name)) {
                        loading_fail(-MH_ERR_CONFIG, "two tests named '%s', at %s:%u and %s:%u",
                                     info->name, loading->tests[i]->file,
                                     loading->tests[i]->line, info->file, info->line);
                        return;
                }
        if (loading->n_tests >= MODULE_TESTS_MAX) {
                loading_fail(-E2BIG, "more than %d tests", MODULE_TESTS_MAX);
                return;
        }
        tests = reallocarray(loading->tests, loading->n_tests + 1, sizeof(*tests));
        if (!tests) {
                loading_fail(-ENOMEM, "out of memory");
                return;
        }
        tests[loading->n_tests++] = info;
        loading->tests = tests;
}

void mh_module_register_hook(unsigned abi, mh_hook_kind kind, void (*fn)(mh_test *t),
                             const char *file, unsigned line) {
        static const char *const names[] = { "MH_SETUP", "MH_TEARDOWN" };
        hook *h;

        if (!loading)
                return;
        if (abi != MH_TEST_ABI) {
                loading_fail(-MH_ERR_ABI,
                             "%s at %s:%u was built for test ABI %u, this libmhc has %u; "
                             "rebuild the module against this libmhc",
                             (unsigned) kind < ELEMENTSOF(names) ? names[kind] : "a hook", file,
                             line, abi, MH_TEST_ABI);
                return;
        }
        if ((unsigned) kind >= ELEMENTSOF(loading->hooks) || !fn) {
                loading_fail(-MH_ERR_CONFIG, "unknown hook at %s:%u", file, line);
                return;
        }
        h = &loading->hooks[kind];
        if (h->fn) {
                loading_fail(-MH_ERR_CONFIG, "two %s hooks, at %s:%u and %s:%u", names[kind],
                             h->file, h->line, file, line);
                return;
        }
        *h = (hook){ .fn = fn, .file = file, .line = line };
}

mh_module *mh_module_free(mh_module *m) {
        if (!m)
                return NULL;
        free(m->tests);
        free(m->path);
        free(m);
        return NULL;
}

static void mh_module_freep(mh_module **m) {
        mh_module_free(*m);
}

static int remember_path(const char *path) {
        char **paths;

        for (size_t i = 0; i < n_loaded_paths; i++)
                if (streq(loaded_paths[i], path))
                        return -EEXIST;
        paths = reallocarray(loaded_paths, n_loaded_paths + 1, sizeof(*paths));
        if (!paths)
                return -ENOMEM;
        loaded_paths = paths;
        if (!(loaded_paths[n_loaded_paths] = strdup(path)))
                return -ENOMEM;
        n_loaded_paths++;
        return 0;
}

/* dlopen() the module at its real path and let its constructors register. */
static int load(mh_module *m, const char *real, mh_error *e) {
        void *handle;
        int r;

        r = remember_path(real);
        if (r == -EEXIST)
                return mh_error_set(e, -MH_ERR_CONFIG,
                                    "test module %s is loaded twice (once is enough)", m->path);
        if (r < 0)
                return mh_error_set(e, r, "out of memory");

        loading = m;
        handle = dlopen(real, RTLD_NOW | RTLD_LOCAL);
        loading = NULL;
        if (!handle)
                return mh_error_set(e, -MH_ERR_CONFIG, "cannot load test module %s: %s", m->path,
                                    dlerror());
        /* The module stays loaded: its tests are pointers into it. */
        if (m->error < 0)
                return mh_error_set(e, m->error, "test module %s: %s", m->path,
                                    m->error_detail.message);
        if (m->n_tests == 0)
                return mh_error_set(e, -MH_ERR_CONFIG,
                                    "test module %s has no tests (declare them with MH_TEST())",
                                    m->path);
        return 0;
}

int mh_module_load(const char *path, mh_module **ret, mh_error *e) {
        _cleanup_(mh_module_freep) mh_module *m = NULL;
        _cleanup_free_ char *real = NULL;
        int r;

        assert(path && ret);

        m = calloc(1, sizeof(*m));
        if (!m || !(m->path = strdup(path)))
                return mh_error_oom(e);
        real = realpath(path, NULL);
        if (!real)
                return mh_error_set(e, -errno, "cannot load test module %s: %s", path,
                                    strerror(errno));

        pthread_mutex_lock(&load_lock);
        r = load(m, real, e);
        pthread_mutex_unlock(&load_lock);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(m);
        return 0;
}

const char *mh_module_path(const mh_module *m) {
        return m->path;
}

size_t mh_module_n_tests(const mh_module *m) {
        return m->n_tests;
}

const mh_test_info *mh_module_test(const mh_module *m, size_t i) {
        return i < m->n_tests ? m->tests[i] : NULL;
}

mh_hook_fn mh_module_hook(const mh_module *m, mh_hook_kind kind) {
        return (unsigned) kind < ELEMENTSOF(m->hooks) ? m->hooks[kind].fn : NULL;
}
