/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fnmatch.h>
#include <glob.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mhtest.h"
#include "util.h"

/*
 * The plan: the test modules loaded, the topologies found, and every test
 * case (a test, or each value of its .params) on every topology it names
 * that the filters keep, grouped by topology in the order of their names,
 * which --list prints and the run follows.  A topology the lab cannot
 * satisfy, and a test whose .requires the topology's hosts lack, are
 * planned as skipped, with the reason.
 */


static int append_module(suite *rn, const char *path, mh_error *error) {
        mh_module **modules;
        int r;

        for (size_t i = 0; i < rn->n_modules; i++)
                if (streq(mh_module_path(rn->modules[i]), path))
                        return 0; /* listed twice: once is enough */
        modules = reallocarray(rn->modules, rn->n_modules + 1, sizeof(*modules));
        if (!modules)
                return mh_error_oom(error);
        rn->modules = modules;
        r = mh_module_load(path, &rn->modules[rn->n_modules], error);
        if (r < 0)
                return r;
        rn->n_modules++;
        return 0;
}

/* Load the modules of --tests, or else of mhc.yaml's tests: (globs expanded). */
static int load_modules(suite *rn, mh_error *error) {
        const arguments *args = rn->args;
        size_t n = args->tests.n ? args->tests.n : mh_config_n_tests(rn->config);

        if (n == 0)
                return mh_error_set(error, -MH_ERR_CONFIG,
                                    "no test modules: list them under tests: in %s or pass "
                                    "--tests PATH",
                                    mh_config_path(rn->config));
        for (size_t i = 0; i < n; i++) {
                const char *entry = args->tests.n ? args->tests.items[i] : mh_config_test(rn->config, i);
                glob_t g = {};
                int r = 0;

                if (glob(entry, GLOB_NOCHECK, NULL, &g) != 0)
                        return mh_error_oom(error);
                for (size_t j = 0; j < g.gl_pathc && r >= 0; j++)
                        r = append_module(rn, g.gl_pathv[j], error);
                globfree(&g);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* topologies/ beside mhc.yaml (if there is one) and the directories of its topologies:. */
static int load_topologies(suite *rn, mh_error *error) {
        size_t n = mh_config_n_topology_dirs(rn->config);
        _cleanup_free_ const char **dirs = calloc(n + 1, sizeof(*dirs));
        _cleanup_free_ char *copy = strdup(mh_config_path(rn->config)), *local = NULL;

        if (!dirs || !copy || asprintf(&local, "%s/topologies", dirname(copy)) < 0)
                return mh_error_oom(error);
        dirs[0] = local;
        for (size_t i = 0; i < n; i++) {
                dirs[i + 1] = mh_config_topology_dir(rn->config, i);
                if (access(dirs[i + 1], R_OK | X_OK) < 0)
                        return mh_error_set(error, -MH_ERR_CONFIG,
                                            "%s: topologies: cannot read directory %s: %s",
                                            mh_config_path(rn->config), dirs[i + 1],
                                            strerror(errno));
        }
        return mh_topology_set_load(dirs, n + 1, true, &rn->topologies, error);
}

static bool listed(const string_list *l, const char *name) {
        for (size_t i = 0; i < l->n; i++)
                if (streq(l->items[i], name))
                        return true;
        return false;
}

static bool wanted_topology(const arguments *args, const char *name) {
        if (args->topologies.n > 0 && !listed(&args->topologies, name))
                return false;
        return !listed(&args->not_topologies, name);
}

/* Whether -k (or a FILTER argument) takes the test case: a pattern matches the test's
 * name, or the case's "name[value]" exactly or as a glob. */
static bool wanted_test(const arguments *args, const char *name, const char *param) {
        _cleanup_free_ char *full = NULL;

        if (args->patterns.n == 0)
                return true;
        if (param && asprintf(&full, "%s[%s]", name, param) < 0)
                return true; /* the plan fails for want of memory anyway */
        for (size_t i = 0; i < args->patterns.n; i++) {
                const char *pattern = args->patterns.items[i];

                if (fnmatch(pattern, name, 0) == 0 ||
                    (full && (streq(pattern, full) || fnmatch(pattern, full, 0) == 0)))
                        return true;
        }
        return false;
}

static topology_plan *plan_of(suite *rn, const mh_topology *t) {
        for (size_t i = 0; i < rn->n_plans; i++)
                if (rn->plans[i].topology == t)
                        return &rn->plans[i];
        return NULL;
}

/* Whether the role:feature items of .requires hold on p's hosts; else why not, in *ret. */
static int check_requires(const suite *rn, const topology_plan *p, const mh_test_info *info,
                          char **ret, mh_error *error) {
        for (size_t i = 0; info->requires && info->requires[i]; i++) {
                const char *item = info->requires[i], *colon = strchr(item, ':');
                _cleanup_free_ char *role = NULL;
                size_t n = 0;

                if (!colon || colon == item || !colon[1])
                        return mh_error_set(error, -MH_ERR_CONFIG,
                                            "%s:%u: test '%s': .requires item '%s' is not "
                                            "ROLE:FEATURE",
                                            info->file, info->line, info->name, item);
                role = strndup(item, (size_t) (colon - item));
                if (!role)
                        return mh_error_oom(error);
                for (size_t j = 0; j < p->n_hosts; j++) {
                        if (!streq(mh_host_config_role(p->hosts[j]), role))
                                continue;
                        n++;
                        if (!mh_host_config_has_feature(p->hosts[j], colon + 1))
                                return asprintf(ret, "needs feature '%s' on role '%s', which "
                                                "host '%s' lacks (features: in %s)",
                                                colon + 1, role,
                                                mh_host_config_hostname(p->hosts[j]),
                                                mh_config_path(rn->config)) < 0
                                               ? mh_error_oom(error)
                                               : 0;
                }
                if (n == 0)
                        return mh_error_set(error, -MH_ERR_CONFIG,
                                            "%s:%u: test '%s' requires '%s', but topology '%s' "
                                            "has no role '%s'",
                                            info->file, info->line, info->name, item,
                                            mh_topology_name(p->topology), role);
        }
        return 0;
}

static int add_to_plan(suite *rn, const mh_module *m, const mh_test_info *info, const char *param,
                       const char *name, mh_error *error) {
        const mh_topology *t = mh_topology_set_find(rn->topologies, name);
        topology_plan *p;
        planned *tests, *added;

        if (!t)
                return mh_error_set(error, -MH_ERR_CONFIG,
                                    "%s:%u: test '%s' needs topology '%s', which no topology "
                                    "file defines",
                                    info->file, info->line, info->name, name);
        if (!wanted_topology(rn->args, name))
                return 0;
        p = plan_of(rn, t);
        tests = reallocarray(p->tests, p->n_tests + 1, sizeof(*tests));
        if (!tests)
                return mh_error_oom(error);
        p->tests = tests;
        added = &p->tests[p->n_tests];
        *added = (planned){ .module = m, .info = info, .param = param };
        if ((param ? asprintf(&added->name, "%s[%s]", info->name, param)
                   : (added->name = strdup(info->name)) ? 0 : -1) < 0)
                return mh_error_oom(error);
        p->n_tests++;
        rn->total++;
        return 0;
}

/* The test case (param NULL: the test) on each topology it names. */
static int add_case(suite *rn, const mh_module *m, const mh_test_info *info, const char *param,
                    mh_error *error) {
        int r = 0;

        if (info->topology)
                r = add_to_plan(rn, m, info, param, info->topology, error);
        for (size_t k = 0; r >= 0 && info->topologies && info->topologies[k]; k++)
                if (!info->topology || !streq(info->topology, info->topologies[k]))
                        r = add_to_plan(rn, m, info, param, info->topologies[k], error);
        return r;
}

static int compare_plans(const void *a, const void *b) {
        return strcmp(mh_topology_name(((const topology_plan *) a)->topology),
                      mh_topology_name(((const topology_plan *) b)->topology));
}

/* Every test x every topology it declares, filtered, grouped by topology. */
static int make_plan(suite *rn, mh_error *error) {
        size_t n = mh_topology_set_size(rn->topologies);

        rn->plans = calloc(n ? n : 1, sizeof(*rn->plans));
        if (!rn->plans)
                return mh_error_oom(error);
        for (size_t i = 0; i < n; i++)
                rn->plans[rn->n_plans++].topology = mh_topology_set_get(rn->topologies, i);
        qsort(rn->plans, rn->n_plans, sizeof(*rn->plans), compare_plans);

        for (size_t i = 0; i < rn->n_modules; i++)
                for (size_t j = 0; j < mh_module_n_tests(rn->modules[i]); j++) {
                        const mh_test_info *info = mh_module_test(rn->modules[i], j);
                        int r = 0;

                        if (!info->topology && !(info->topologies && info->topologies[0]))
                                return mh_error_set(error, -MH_ERR_CONFIG,
                                                    "%s:%u: test '%s' names no topology (add "
                                                    ".topology = \"NAME\" to MH_TEST)",
                                                    info->file, info->line, info->name);
                        if (info->params && !info->params[0])
                                return mh_error_set(error, -MH_ERR_CONFIG,
                                                    "%s:%u: test '%s' has an empty .params",
                                                    info->file, info->line, info->name);
                        for (size_t k = 0; r >= 0 && info->params && info->params[k]; k++)
                                if (wanted_test(rn->args, info->name, info->params[k]))
                                        r = add_case(rn, rn->modules[i], info, info->params[k],
                                                     error);
                        if (r >= 0 && !info->params && wanted_test(rn->args, info->name, NULL))
                                r = add_case(rn, rn->modules[i], info, NULL, error);
                        if (r < 0)
                                return r;
                }

        for (size_t i = 0; i < rn->n_plans; i++) {
                topology_plan *p = &rn->plans[i];
                mh_error why = MH_ERROR_INIT;

                if (p->n_tests == 0)
                        continue;
                if (mh_topology_match(p->topology, rn->config, rn->args->exact_topology,
                                      &p->hosts, &p->n_hosts, &why) < 0) {
                        p->unsatisfied = strdup(why.message);
                        if (!p->unsatisfied)
                                return mh_error_oom(error);
                        continue;
                }
                for (size_t j = 0; j < p->n_tests; j++) {
                        int r = check_requires(rn, p, p->tests[j].info, &p->tests[j].unmet, error);

                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* splitmix64: a small generator whose sequence the seed alone decides. */
static uint64_t next_random(uint64_t *state) {
        uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

void plan_shuffle(suite *rn, uint64_t seed) {
        for (size_t i = 0; i < rn->n_plans; i++) {
                topology_plan *p = &rn->plans[i];
                uint64_t state = seed ^ (i * UINT64_C(0x2545f4914f6cdd1d));

                for (size_t j = p->n_tests; j > 1; j--) {
                        size_t k = (size_t) (next_random(&state) % j);
                        planned tmp = p->tests[j - 1];

                        p->tests[j - 1] = p->tests[k];
                        p->tests[k] = tmp;
                }
        }
}

static const char *module_name(const mh_module *m) {
        const char *slash = strrchr(mh_module_path(m), '/');

        return slash ? slash + 1 : mh_module_path(m);
}

/* "  name (module) [tag, tag]", and why it will be skipped. */
static void list_test(const topology_plan *p, const planned *t) {
        printf("  %s (%s)", t->name, module_name(t->module));
        for (size_t k = 0; t->info->tags && t->info->tags[k]; k++)
                printf("%s%s", k ? ", " : " [", t->info->tags[k]);
        if (t->info->tags && t->info->tags[0])
                printf("]");
        if (!p->unsatisfied && t->unmet)
                printf(": skipped: %s", t->unmet);
        printf("\n");
}

int plan_list(const suite *rn) {
        size_t runnable = 0, skipped = 0;

        for (size_t i = 0; i < rn->n_plans; i++) {
                const topology_plan *p = &rn->plans[i];

                if (p->n_tests == 0)
                        continue;
                printf("%s:", mh_topology_name(p->topology));
                if (p->unsatisfied)
                        printf(" skipped: %s\n", p->unsatisfied);
                else {
                        for (size_t j = 0; j < p->n_hosts; j++)
                                printf(" %s=%s", mh_host_config_role(p->hosts[j]),
                                       mh_host_config_hostname(p->hosts[j]));
                        printf("\n");
                }
                for (size_t j = 0; j < p->n_tests; j++) {
                        list_test(p, &p->tests[j]);
                        *(p->unsatisfied || p->tests[j].unmet ? &skipped : &runnable) += 1;
                }
        }
        printf("%zu test%s: %zu runnable, %zu skipped\n", rn->total, rn->total == 1 ? "" : "s",
               runnable, skipped);
        return EXIT_PASSED;
}

int plan_make(suite *pl, const arguments *args, const mh_config *config, mh_error *error) {
        int r;

        *pl = (suite){ .args = args, .config = config };
        r = load_modules(pl, error);
        if (r >= 0)
                r = load_topologies(pl, error);
        if (r >= 0)
                r = make_plan(pl, error);
        return r;
}

void plan_dispose(suite *pl) {
        for (size_t i = 0; i < pl->n_plans; i++) {
                for (size_t j = 0; j < pl->plans[i].n_tests; j++) {
                        free(pl->plans[i].tests[j].name);
                        free(pl->plans[i].tests[j].unmet);
                }
                free(pl->plans[i].hosts);
                free(pl->plans[i].unsatisfied);
                free(pl->plans[i].tests);
        }
        free(pl->plans);
        for (size_t i = 0; i < pl->n_modules; i++)
                mh_module_free(pl->modules[i]);
        free(pl->modules);
        mh_topology_set_free(pl->topologies);
        *pl = (suite){};
}
