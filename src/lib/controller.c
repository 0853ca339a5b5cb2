/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <mhc/controller.h>
#include <mhc/parallel.h>
#include <mhc/ssh.h>

#include "util.h"

/*
 * The lab of a run and the topology controllers (see <mhc/controller.h>):
 * what each host has been through in the run (connected, vanilla backup
 * taken, quarantined), and the steps around the tests of one topology.
 */


/* One host of the lab over the run. */
typedef struct lab_host {
        mh_host *host;
        bool connected;
        bool vanilla;           /* its vanilla backup is taken */
        bool looked;            /* the dead runs found on connecting were dealt with */
        char *unusable;         /* why it cannot be used (cannot connect), or NULL */
        char *dirty;            /* why it is quarantined, or NULL */
} lab_host;

struct mh_lab {
        const mh_config *config;
        lab_host *hosts;        /* as in config */
        size_t n_hosts;
        bool refuse_dead;       /* a dead run's backups make a host unusable */
};

struct mh_controller {
        mh_lab *lab;
        const mh_topology *topology;
        lab_host **hosts;       /* the topology's hosts, in mh_topology_match() order */
        const char **roles;     /* the role each plays */
        mh_host **host_objects; /* hosts[i]->host */
        size_t n_hosts;
        mh_controller_options options;
        mh_phase_times times;
        bool entered;           /* set up and backed up: the hosts need restoring */
};

int mh_lab_new(const mh_config *config, mh_lab **ret, mh_error *error) {
        size_t n = mh_config_n_hosts(config);
        mh_lab *l;

        assert(config && ret);
        l = calloc(1, sizeof(*l));
        if (!l)
                return mh_error_oom(error);
        l->config = config;
        l->hosts = calloc(n ? n : 1, sizeof(*l->hosts));
        if (!l->hosts) {
                mh_lab_free(l);
                return mh_error_oom(error);
        }
        for (size_t i = 0; i < n; i++) {
                int r = mh_host_new(mh_config_host(config, i), &l->hosts[i].host, error);

                if (r < 0) {
                        mh_lab_free(l);
                        return r;
                }
                l->n_hosts++;
        }
        *ret = l;
        return 0;
}

mh_lab *mh_lab_free(mh_lab *l) {
        if (!l)
                return NULL;
        for (size_t i = 0; i < l->n_hosts; i++) {
                lab_host *lh = &l->hosts[i];

                if (lh->vanilla && !lh->dirty) {
                        mh_error e = MH_ERROR_INIT;

                        (void) mh_host_drop_backup(lh->host, MH_BACKUP_VANILLA, &e);
                } else if (lh->dirty) {
                        /* its backups stay: the next run recovers from them */
                        mh_host_keep_backups(lh->host, true);
                        mh_host_set_step(lh->host, "quarantined: the host could not be put back");
                }
                mh_host_free(lh->host);
                free(lh->unusable);
                free(lh->dirty);
        }
        free(l->hosts);
        free(l);
        return NULL;
}

void mh_lab_set_lock_wait(mh_lab *l, unsigned seconds) {
        for (size_t i = 0; i < l->n_hosts; i++)
                mh_host_set_lock_wait(l->hosts[i].host, seconds);
}

void mh_lab_refuse_dead_runs(mh_lab *l, bool refuse) {
        l->refuse_dead = refuse;
}

const char *mh_lab_host_problem(const mh_lab *l, size_t i) {
        if (i >= l->n_hosts)
                return NULL;
        return l->hosts[i].unusable ?: l->hosts[i].dirty;
}

size_t mh_lab_n_hosts(const mh_lab *l) {
        return l->n_hosts;
}

mh_host *mh_lab_host(const mh_lab *l, size_t i) {
        return i < l->n_hosts ? l->hosts[i].host : NULL;
}

static lab_host *lab_find(mh_lab *l, const mh_host_config *config) {
        for (size_t i = 0; i < l->n_hosts; i++)
                if (mh_host_get_config(l->hosts[i].host) == config)
                        return &l->hosts[i];
        return NULL;
}

int mh_controller_new(mh_lab *l, const mh_topology *topology,
                      const mh_host_config *const *hosts, size_t n_hosts,
                      const mh_controller_options *options, mh_controller **ret,
                      mh_error *error) {
        mh_controller *c;

        assert(l && topology && ret);
        c = calloc(1, sizeof(*c));
        if (!c)
                return mh_error_oom(error);
        *c = (mh_controller){ .lab = l, .topology = topology, .n_hosts = n_hosts };
        if (options)
                c->options = *options;
        c->hosts = calloc(n_hosts ? n_hosts : 1, sizeof(*c->hosts));
        c->roles = calloc(n_hosts ? n_hosts : 1, sizeof(*c->roles));
        c->host_objects = calloc(n_hosts ? n_hosts : 1, sizeof(*c->host_objects));
        if (!c->hosts || !c->roles || !c->host_objects) {
                mh_controller_free(c);
                return mh_error_oom(error);
        }
        for (size_t i = 0; i < n_hosts; i++) {
                c->hosts[i] = lab_find(l, hosts[i]);
                c->roles[i] = mh_host_config_role(hosts[i]);
                if (!c->hosts[i]) {
                        mh_controller_free(c);
                        return mh_error_set(error, -ENOENT, "host %s is not in the lab",
                                            mh_host_config_hostname(hosts[i]));
                }
                c->host_objects[i] = c->hosts[i]->host;
        }
        *ret = c;
        return 0;
}

mh_controller *mh_controller_free(mh_controller *c) {
        if (!c)
                return NULL;
        free(c->hosts);
        free(c->roles);
        free(c->host_objects);
        free(c);
        return NULL;
}

const mh_topology *mh_controller_topology(const mh_controller *c) {
        return c->topology;
}

size_t mh_controller_n_hosts(const mh_controller *c) {
        return c->n_hosts;
}

mh_host *const *mh_controller_hosts(const mh_controller *c) {
        return c->host_objects;
}

const char *const *mh_controller_roles(const mh_controller *c) {
        return c->roles;
}

const mh_phase_times *mh_controller_times(const mh_controller *c) {
        return &c->times;
}

static int set_reason(char **reason, const char *fmt, ...) MH_PRINTF(2, 3);

static int set_reason(char **reason, const char *fmt, ...) {
        va_list ap;
        int r;

        free(*reason);
        va_start(ap, fmt);
        r = vasprintf(reason, fmt, ap);
        va_end(ap);
        if (r < 0) {
                *reason = NULL;
                return -ENOMEM;
        }
        return 0;
}

bool mh_controller_usable(const mh_controller *c, mh_error *why) {
        for (size_t i = 0; i < c->n_hosts; i++) {
                const lab_host *lh = c->hosts[i];

                if (lh->unusable) {
                        mh_error_set(why, -ENOTCONN, "host %s is unusable: %s",
                                     mh_host_name(lh->host), lh->unusable);
                        return false;
                }
                if (lh->dirty) {
                        mh_error_set(why, -EBUSY, "host %s is dirty: %s", mh_host_name(lh->host),
                                     lh->dirty);
                        return false;
                }
        }
        return true;
}

/* The hosts of c that match a predicate, for the parallel calls. */
typedef bool (*host_filter)(const lab_host *lh);

static size_t select_hosts(mh_controller *c, host_filter keep, mh_host **out, size_t *index) {
        size_t n = 0;

        for (size_t i = 0; i < c->n_hosts; i++)
                if (keep(c->hosts[i])) {
                        out[n] = c->hosts[i]->host;
                        index[n++] = i;
                }
        return n;
}

static bool needs_connecting(const lab_host *lh) {
        return !lh->connected && !lh->unusable;
}

static bool needs_vanilla(const lab_host *lh) {
        return !lh->vanilla;
}

/* Run f on the hosts of c that keep selects, in parallel; note each failure with note. */
typedef int (*hosts_fn)(mh_host *const *hosts, size_t n, mh_error *errors);

static int on_hosts(mh_controller *c, host_filter keep, hosts_fn f,
                    void (*note)(lab_host *lh, int r, const mh_error *e), mh_error *error) {
        _cleanup_free_ mh_host **hosts = calloc(c->n_hosts ? c->n_hosts : 1, sizeof(*hosts));
        _cleanup_free_ size_t *index = calloc(c->n_hosts ? c->n_hosts : 1, sizeof(*index));
        _cleanup_free_ mh_error *errors = calloc(c->n_hosts ? c->n_hosts : 1, sizeof(*errors));
        size_t n;
        int first = 0;

        if (!hosts || !index || !errors)
                return mh_error_oom(error);
        n = select_hosts(c, keep, hosts, index);
        if (n == 0)
                return 0;
        (void) f(hosts, n, errors);
        for (size_t i = 0; i < n; i++) {
                lab_host *lh = c->hosts[index[i]];

                if (note)
                        note(lh, errors[i].code, &errors[i]);
                if (errors[i].code < 0 && first == 0) {
                        first = errors[i].code;
                        mh_error_set(error, first, "%s", errors[i].message);
                }
        }
        return first;
}

static void note_connect(lab_host *lh, int r, const mh_error *e);

/*
 * The dead runs that connecting found on a host: recover from them (one
 * WARNING per run), or with refuse_dead leave them and call the host
 * unusable.  A host that cannot be recovered is unusable: the run never
 * starts a test on a host it knows to be dirty.
 */
static int look_at_dead_runs(mh_lab *l, lab_host *lh) {
        size_t n = mh_host_n_dead_runs(lh->host);
        _cleanup_free_ char **texts = NULL;
        mh_error e = MH_ERROR_INIT;
        int r;

        lh->looked = true;
        if (n == 0)
                return 0;
        if (l->refuse_dead)
                return set_reason(&lh->unusable,
                                  "holds the backups of %zu run(s) that did not end cleanly "
                                  "(first: %s); recover it with mhtest --recover",
                                  n, mh_host_dead_run(lh->host, 0));
        texts = calloc(n, sizeof(*texts));
        if (!texts)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                texts[i] = strdup(mh_host_dead_run(lh->host, i));
                if (!texts[i]) {
                        r = -ENOMEM;
                        goto finish;
                }
        }
        r = mh_host_recover(lh->host, &e);
        if (r < 0) {
                r = set_reason(&lh->unusable, "cannot be recovered from a run that died: %s",
                               e.message);
                goto finish;
        }
        for (size_t i = 0; i < n; i++)
                mh_log(MH_LOG_WARNING, mh_host_name(lh->host), "%s %s; its backups are dropped",
                       r > 0 ? "put back after" : "found", texts[i]);
        r = 0;
finish:
        for (size_t i = 0; i < n; i++)
                free(texts[i]);
        return r;
}

typedef struct look_work {
        mh_lab *lab;
        lab_host **hosts;
} look_work;

static int look_one(size_t i, void *userdata) {
        look_work *w = userdata;

        if (!w->hosts[i]->connected || w->hosts[i]->looked)
                return 0;
        return look_at_dead_runs(w->lab, w->hosts[i]);
}

/* look_at_dead_runs() on the connected hosts, in parallel. */
static int look_at_hosts(mh_lab *l, lab_host **hosts, size_t n) {
        return mh_parallel_for(n, look_one, &(look_work){ .lab = l, .hosts = hosts });
}

int mh_lab_recover(mh_lab *l, mh_error *error) {
        _cleanup_free_ lab_host **hosts = calloc(l->n_hosts ? l->n_hosts : 1, sizeof(*hosts));
        _cleanup_free_ mh_host **objects = calloc(l->n_hosts ? l->n_hosts : 1, sizeof(*objects));
        _cleanup_free_ mh_error *errors = calloc(l->n_hosts ? l->n_hosts : 1, sizeof(*errors));
        size_t n = 0;

        if (!hosts || !objects || !errors)
                return mh_error_oom(error);
        for (size_t i = 0; i < l->n_hosts; i++)
                if (!l->hosts[i].connected && !l->hosts[i].unusable) {
                        hosts[n] = &l->hosts[i];
                        objects[n++] = l->hosts[i].host;
                }
        (void) mh_hosts_connect(objects, n, errors);
        for (size_t i = 0; i < n; i++)
                note_connect(hosts[i], errors[i].code, &errors[i]);
        for (size_t i = 0; i < l->n_hosts; i++)
                hosts[i] = &l->hosts[i];
        if (look_at_hosts(l, hosts, l->n_hosts) < 0)
                return mh_error_oom(error);
        for (size_t i = 0; i < l->n_hosts; i++)
                if (l->hosts[i].unusable)
                        return mh_error_set(error, -ENOTCONN, "host %s is unusable: %s",
                                            mh_host_name(l->hosts[i].host), l->hosts[i].unusable);
        return 0;
}

static void note_connect(lab_host *lh, int r, const mh_error *e) {
        if (r < 0)
                (void) set_reason(&lh->unusable, "%s", e->message);
        else
                lh->connected = true;
}

static void note_vanilla(lab_host *lh, int r, const mh_error *e) {
        if (r >= 0)
                lh->vanilla = true;
}

static int backup_vanilla(mh_host *const *hosts, size_t n, mh_error *errors) {
        return mh_hosts_backup(hosts, n, MH_BACKUP_VANILLA, errors);
}

static int backup_topology(mh_host *const *hosts, size_t n, mh_error *errors) {
        return mh_hosts_backup(hosts, n, MH_BACKUP_TOPOLOGY, errors);
}

static bool any_host(const lab_host *lh) {
        return true;
}

/* Run the setup commands of role on h, in order. */
static int setup_host(const mh_topology *t, const char *role, mh_host *h, mh_error *error) {
        for (size_t i = 0; i < mh_topology_n_setup(t, role); i++) {
                const char *command = mh_topology_setup(t, role, i);
                mh_exec_result res = {};
                int r;

                r = mh_ssh_exec(mh_host_ssh(h), command, NULL, &res, error);
                if (r < 0) {
                        mh_error_prefix(error, "setup command '%s'", command);
                        return r;
                }
                if (res.exit_status != 0) {
                        char why[MH_EXEC_SUMMARY_SIZE];

                        r = mh_error_set(error, -MH_ERR_COMMAND, "setup command '%s' failed with %s",
                                         command, mh_exec_result_summary(&res, why, sizeof(why)));
                        mh_exec_result_dispose(&res);
                        return r;
                }
                mh_exec_result_dispose(&res);
        }
        return 0;
}

typedef struct setup_work {
        mh_controller *c;
        size_t only;            /* SIZE_MAX: every host */
        mh_error *errors;
} setup_work;

static int setup_one(size_t i, void *userdata) {
        setup_work *w = userdata;

        if (w->only != SIZE_MAX && i != w->only)
                return 0;
        return setup_host(w->c->topology, w->c->roles[i], w->c->hosts[i]->host, &w->errors[i]);
}

/* Run the topology's setup on every host (or only one), in parallel. */
static int run_setup(mh_controller *c, size_t only, mh_error *error) {
        _cleanup_free_ mh_error *errors = calloc(c->n_hosts ? c->n_hosts : 1, sizeof(*errors));
        setup_work w = { .c = c, .only = only, .errors = errors };
        uint64_t start = mh_now_usec();

        if (!errors)
                return mh_error_oom(error);
        (void) mh_parallel_for(c->n_hosts, setup_one, &w);
        c->times.setup_usec += mh_now_usec() - start;
        for (size_t i = 0; i < c->n_hosts; i++)
                if (errors[i].code < 0)
                        return mh_error_set(error, errors[i].code,
                                            "setup of topology '%s' failed on %s: %s",
                                            mh_topology_name(c->topology),
                                            mh_host_name(c->hosts[i]->host), errors[i].message);
        return 0;
}

void mh_controller_set_step(mh_controller *c, const char *fmt, ...) {
        char step[256];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(step, sizeof(step), fmt, ap);
        va_end(ap);
        for (size_t i = 0; i < c->n_hosts; i++)
                mh_host_set_step(c->hosts[i]->host, "%s", step);
}

static bool is_backup(const mh_controller *c) {
        return mh_topology_controller(c->topology) == MH_CONTROLLER_BACKUP;
}

static void note_dirty(lab_host *lh, int r, const mh_error *e) {
        if (r < 0)
                (void) set_reason(&lh->dirty, "vanilla restore failed: %s", e->message);
}

static int restore_vanilla(mh_host *const *hosts, size_t n, mh_error *errors) {
        return mh_hosts_restore(hosts, n, MH_BACKUP_VANILLA, NULL, errors);
}

static bool has_vanilla(const lab_host *lh) {
        return lh->vanilla && !lh->dirty;
}

int mh_controller_enter(mh_controller *c, mh_error *error) {
        mh_error why = MH_ERROR_INIT;
        uint64_t start;
        int r;

        r = on_hosts(c, needs_connecting, mh_hosts_connect, note_connect, error);
        if (look_at_hosts(c->lab, c->hosts, c->n_hosts) < 0)
                return mh_error_oom(error);
        /* -ENOTCONN (the lab is unusable) or -EBUSY, whatever the connect failed with. */
        if (!mh_controller_usable(c, &why)) {
                if (error->code == 0)
                        mh_error_set(error, why.code, "%s", why.message);
                return why.code;
        }
        if (r < 0)
                return r;

        mh_controller_set_step(c, "setup of topology %s", mh_topology_name(c->topology));
        if (is_backup(c)) {
                start = mh_now_usec();
                r = on_hosts(c, needs_vanilla, backup_vanilla, note_vanilla, error);
                c->times.backup_usec += mh_now_usec() - start;
                if (r < 0) {
                        mh_error_prefix(error, "vanilla backup");
                        return r;
                }
        }

        r = run_setup(c, SIZE_MAX, error);
        if (r < 0) {
                if (is_backup(c)) {
                        mh_error e = MH_ERROR_INIT;

                        start = mh_now_usec();
                        (void) on_hosts(c, has_vanilla, restore_vanilla, note_dirty, &e);
                        c->times.restore_usec += mh_now_usec() - start;
                }
                return r;
        }

        if (is_backup(c)) {
                start = mh_now_usec();
                r = on_hosts(c, any_host, backup_topology, NULL, error);
                c->times.backup_usec += mh_now_usec() - start;
                if (r < 0) {
                        mh_error e = MH_ERROR_INIT;

                        mh_error_prefix(error, "topology backup");
                        (void) on_hosts(c, has_vanilla, restore_vanilla, note_dirty, &e);
                        return r;
                }
        }
        c->entered = true;
        return 0;
}

/*
 * A host whose topology restore failed: back to vanilla, set up again and
 * backed up again, or quarantined.
 */
static void recover(mh_controller *c, size_t i, const mh_error *failure, mh_error *error) {
        lab_host *lh = c->hosts[i];
        mh_error e = MH_ERROR_INIT;

        if (mh_host_restore(lh->host, MH_BACKUP_VANILLA, NULL, &e) < 0 ||
            run_setup(c, i, &e) < 0 || mh_host_backup(lh->host, MH_BACKUP_TOPOLOGY, &e) < 0) {
                (void) set_reason(&lh->dirty, "restore failed (%s), then: %s", failure->message,
                                  e.message);
                if (error->code == 0)
                        mh_error_set(error, -EBUSY, "host %s is dirty: %s", mh_host_name(lh->host),
                                     lh->dirty);
                return;
        }
        if (error->code == 0)
                mh_error_set(error, -EAGAIN, "host %s: restore failed, put back to vanilla and "
                                             "set up again: %s",
                             mh_host_name(lh->host), failure->message);
}

/* pytest-mh's way, for the overhead benchmark: everything, one host after another. */
static int restore_naive(mh_controller *c, mh_error *errors) {
        mh_restore_options full = { .full = 1 };
        int first = 0;

        for (size_t i = 0; i < c->n_hosts; i++) {
                int r = mh_host_restore(c->hosts[i]->host, MH_BACKUP_TOPOLOGY, &full, &errors[i]);

                if (r < 0 && first == 0)
                        first = r;
        }
        return first;
}

int mh_controller_after_test(mh_controller *c, uint64_t *ret_usec, mh_error *error) {
        _cleanup_free_ mh_error *errors = calloc(c->n_hosts ? c->n_hosts : 1, sizeof(*errors));
        uint64_t start = mh_now_usec();
        int r;

        if (!errors)
                return mh_error_oom(error);
        if (!c->entered || !is_backup(c)) {
                *ret_usec = 0;
                return 0;
        }
        mh_controller_set_step(c, "restore after a test of topology %s",
                               mh_topology_name(c->topology));
        if (c->options.naive)
                r = restore_naive(c, errors);
        else
                r = mh_hosts_restore(mh_controller_hosts(c), c->n_hosts, MH_BACKUP_TOPOLOGY, NULL,
                                     errors);
        if (r < 0)
                for (size_t i = 0; i < c->n_hosts; i++)
                        if (errors[i].code < 0)
                                recover(c, i, &errors[i], error);
        *ret_usec = mh_now_usec() - start;
        c->times.restore_usec += *ret_usec;
        return error->code;
}

static int drop_topology(mh_host *const *hosts, size_t n, mh_error *errors) {
        return mh_hosts_drop_backup(hosts, n, MH_BACKUP_TOPOLOGY, errors);
}

static bool not_dirty(const lab_host *lh) {
        return !lh->dirty && lh->connected;
}

int mh_controller_leave(mh_controller *c, mh_error *error) {
        uint64_t start = mh_now_usec();
        mh_error e = MH_ERROR_INIT;
        int r;

        if (!c->entered || !is_backup(c))
                return 0;
        mh_controller_set_step(c, "vanilla restore after topology %s",
                               mh_topology_name(c->topology));
        r = on_hosts(c, has_vanilla, restore_vanilla, note_dirty, error);
        (void) on_hosts(c, not_dirty, drop_topology, NULL, &e);
        c->times.restore_usec += mh_now_usec() - start;
        c->entered = false;
        return r;
}
