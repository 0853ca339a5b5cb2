/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "mhtest.h"
#include "util.h"

#define STDERR_SHOWN_MAX 300 /* of a failed setup command, in its message */

int lab_init(lab *l, const mh_config *config, mh_error *error) {
        size_t n = mh_config_n_hosts(config);

        *l = (lab){ .config = config };
        l->hosts = calloc(n ? n : 1, sizeof(*l->hosts));
        if (!l->hosts)
                return mh_error_set(error, -ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                int r = mh_host_new(mh_config_host(config, i), &l->hosts[i].host, error);

                if (r < 0) {
                        lab_dispose(l);
                        return r;
                }
                l->n_hosts++;
        }
        return 0;
}

void lab_dispose(lab *l) {
        for (size_t i = 0; i < l->n_hosts; i++) {
                lab_host *lh = &l->hosts[i];

                if (lh->vanilla && !lh->dirty) {
                        mh_error e = MH_ERROR_INIT;

                        (void) mh_host_drop_backup(lh->host, MH_BACKUP_VANILLA, &e);
                }
                mh_host_free(lh->host);
                free(lh->unusable);
                free(lh->dirty);
        }
        free(l->hosts);
        *l = (lab){};
}

lab_host *lab_find(lab *l, const mh_host_config *config) {
        for (size_t i = 0; i < l->n_hosts; i++)
                if (mh_host_get_config(l->hosts[i].host) == config)
                        return &l->hosts[i];
        return NULL;
}

int controller_init(controller *c, lab *l, const mh_topology *topology,
                    const mh_host_config *const *hosts, size_t n_hosts,
                    const controller_options *options, mh_error *error) {
        *c = (controller){ .lab = l, .topology = topology, .n_hosts = n_hosts };
        if (options)
                c->options = *options;
        c->hosts = calloc(n_hosts ? n_hosts : 1, sizeof(*c->hosts));
        c->roles = calloc(n_hosts ? n_hosts : 1, sizeof(*c->roles));
        c->host_objects = calloc(n_hosts ? n_hosts : 1, sizeof(*c->host_objects));
        if (!c->hosts || !c->roles || !c->host_objects) {
                controller_dispose(c);
                return mh_error_set(error, -ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < n_hosts; i++) {
                c->hosts[i] = lab_find(l, hosts[i]);
                c->roles[i] = mh_host_config_role(hosts[i]);
                if (!c->hosts[i]) {
                        controller_dispose(c);
                        return mh_error_set(error, -ENOENT, "host %s is not in the lab",
                                            mh_host_config_hostname(hosts[i]));
                }
                c->host_objects[i] = c->hosts[i]->host;
        }
        return 0;
}

void controller_dispose(controller *c) {
        free(c->hosts);
        free(c->roles);
        free(c->host_objects);
        *c = (controller){};
}

mh_host **controller_hosts(controller *c) {
        return c->host_objects;
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

bool controller_usable(const controller *c, mh_error *why) {
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

static size_t select_hosts(controller *c, host_filter keep, mh_host **out, size_t *index) {
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

static int on_hosts(controller *c, host_filter keep, hosts_fn f,
                    void (*note)(lab_host *lh, int r, const mh_error *e), mh_error *error) {
        _cleanup_free_ mh_host **hosts = calloc(c->n_hosts ? c->n_hosts : 1, sizeof(*hosts));
        _cleanup_free_ size_t *index = calloc(c->n_hosts ? c->n_hosts : 1, sizeof(*index));
        _cleanup_free_ mh_error *errors = calloc(c->n_hosts ? c->n_hosts : 1, sizeof(*errors));
        size_t n;
        int first = 0;

        if (!hosts || !index || !errors)
                return mh_error_set(error, -ENOMEM, "out of memory");
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
                        size_t n = res.err_size;

                        while (n > 0 && res.err[n - 1] == '\n')
                                n--;
                        r = mh_error_set(error, -MH_ERR_COMMAND,
                                         "setup command '%s' exited with %d%s%.*s", command,
                                         res.exit_status, n ? ": " : "",
                                         (int) (n > STDERR_SHOWN_MAX ? STDERR_SHOWN_MAX : n),
                                         n > STDERR_SHOWN_MAX ? res.err + n - STDERR_SHOWN_MAX
                                                              : res.err);
                        mh_exec_result_dispose(&res);
                        return r;
                }
                mh_exec_result_dispose(&res);
        }
        return 0;
}

typedef struct setup_work {
        controller *c;
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
static int run_setup(controller *c, size_t only, mh_error *error) {
        _cleanup_free_ mh_error *errors = calloc(c->n_hosts ? c->n_hosts : 1, sizeof(*errors));
        setup_work w = { .c = c, .only = only, .errors = errors };
        uint64_t start = clock_usec(CLOCK_MONOTONIC);

        if (!errors)
                return mh_error_set(error, -ENOMEM, "out of memory");
        (void) mh_parallel_for(c->n_hosts, setup_one, &w);
        c->times.setup_usec += clock_usec(CLOCK_MONOTONIC) - start;
        for (size_t i = 0; i < c->n_hosts; i++)
                if (errors[i].code < 0)
                        return mh_error_set(error, errors[i].code,
                                            "setup of topology '%s' failed on %s: %s",
                                            mh_topology_name(c->topology),
                                            mh_host_name(c->hosts[i]->host), errors[i].message);
        return 0;
}

static bool is_backup(const controller *c) {
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

int controller_enter(controller *c, mh_error *error) {
        mh_error why = MH_ERROR_INIT;
        uint64_t start;
        int r;

        r = on_hosts(c, needs_connecting, mh_hosts_connect, note_connect, error);
        /* -ENOTCONN (the lab is unusable) or -EBUSY, whatever the connect failed with. */
        if (!controller_usable(c, &why)) {
                if (error->code == 0)
                        mh_error_set(error, why.code, "%s", why.message);
                return why.code;
        }
        if (r < 0)
                return r;

        if (is_backup(c)) {
                start = clock_usec(CLOCK_MONOTONIC);
                r = on_hosts(c, needs_vanilla, backup_vanilla, note_vanilla, error);
                c->times.backup_usec += clock_usec(CLOCK_MONOTONIC) - start;
                if (r < 0) {
                        mh_error_prefix(error, "vanilla backup");
                        return r;
                }
        }

        r = run_setup(c, SIZE_MAX, error);
        if (r < 0) {
                if (is_backup(c)) {
                        mh_error e = MH_ERROR_INIT;

                        start = clock_usec(CLOCK_MONOTONIC);
                        (void) on_hosts(c, has_vanilla, restore_vanilla, note_dirty, &e);
                        c->times.restore_usec += clock_usec(CLOCK_MONOTONIC) - start;
                }
                return r;
        }

        if (is_backup(c)) {
                start = clock_usec(CLOCK_MONOTONIC);
                r = on_hosts(c, any_host, backup_topology, NULL, error);
                c->times.backup_usec += clock_usec(CLOCK_MONOTONIC) - start;
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
static void recover(controller *c, size_t i, const mh_error *failure, mh_error *error) {
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
static int restore_naive(controller *c, mh_error *errors) {
        mh_restore_options full = { .full = 1 };
        int first = 0;

        for (size_t i = 0; i < c->n_hosts; i++) {
                int r = mh_host_restore(c->hosts[i]->host, MH_BACKUP_TOPOLOGY, &full, &errors[i]);

                if (r < 0 && first == 0)
                        first = r;
        }
        return first;
}

int controller_after_test(controller *c, uint64_t *ret_usec, mh_error *error) {
        _cleanup_free_ mh_error *errors = calloc(c->n_hosts ? c->n_hosts : 1, sizeof(*errors));
        uint64_t start = clock_usec(CLOCK_MONOTONIC);
        int r;

        if (!errors)
                return mh_error_set(error, -ENOMEM, "out of memory");
        if (!c->entered || !is_backup(c)) {
                *ret_usec = 0;
                return 0;
        }
        if (c->options.naive)
                r = restore_naive(c, errors);
        else
                r = mh_hosts_restore(controller_hosts(c), c->n_hosts, MH_BACKUP_TOPOLOGY, NULL,
                                     errors);
        if (r < 0)
                for (size_t i = 0; i < c->n_hosts; i++)
                        if (errors[i].code < 0)
                                recover(c, i, &errors[i], error);
        *ret_usec = clock_usec(CLOCK_MONOTONIC) - start;
        c->times.restore_usec += *ret_usec;
        return error->code;
}

static int drop_topology(mh_host *const *hosts, size_t n, mh_error *errors) {
        return mh_hosts_drop_backup(hosts, n, MH_BACKUP_TOPOLOGY, errors);
}

static bool not_dirty(const lab_host *lh) {
        return !lh->dirty && lh->connected;
}

int controller_leave(controller *c, mh_error *error) {
        uint64_t start = clock_usec(CLOCK_MONOTONIC);
        mh_error e = MH_ERROR_INIT;
        int r;

        if (!c->entered || !is_backup(c))
                return 0;
        r = on_hosts(c, has_vanilla, restore_vanilla, note_dirty, error);
        (void) on_hosts(c, not_dirty, drop_topology, NULL, &e);
        c->times.restore_usec += clock_usec(CLOCK_MONOTONIC) - start;
        c->entered = false;
        return r;
}
