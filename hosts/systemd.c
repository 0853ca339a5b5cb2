/* SPDX-License-Identifier: MIT */
/*
 * The systemd host type, the default: starts and stops the host's
 * services: over D-Bus, backs up its backup.paths with tar and a manifest,
 * and restores only what changed, in one round trip when nothing did.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mhc/log.h>
#include <mhc/shell.h>
#include <mhc/ssh.h>
#include <mhc/systemd.h>
#include <mhc/sys/host.h>

#include "macro.h"
#include "systemd-script.h"

/* Paths named in a verify error. */
#define VERIFY_SHOWN 5

/* What a backup remembers of each of the host's services. */
typedef struct unit_record {
        char unit[256];
        bool active;
        char invocation_id[33];
} unit_record;

/* What a backup holds, whatever the configuration says by the time it is
 * restored (a later run may have another): its paths and its services. */
typedef struct backup_data {
        mh_strv paths; /* relative to /, as the file script got them */
        size_t n_units;
        unit_record units[];
} backup_data;

static backup_data *backup_data_new(size_t n_units) {
        backup_data *d = calloc(1, sizeof(backup_data) + n_units * sizeof(unit_record));

        if (d)
                d->n_units = n_units;
        return d;
}

static backup_data *backup_data_free(backup_data *d) {
        if (d)
                mh_strv_dispose(&d->paths);
        free(d);
        return NULL;
}

static void backup_data_freep(backup_data **d) {
        backup_data_free(*d);
}

/* What a systemd host keeps besides its settings. */
struct mh_systemd_host_state {
        mh_strv paths; /* backup.paths relative to /, for tar and find */
};

/* The settings of config: of the systemd type (and of every type extending it). */
typedef struct systemd_settings {
        bool full_restore;
        bool verify;
        mh_strv restart_always;
        mh_setting_map service_paths; /* a unit and the absolute paths that concern it */
} systemd_settings;

/* clang-format off */
static const mh_setting systemd_settings_table[] = {
        { "full_restore",   MH_SETTING_BOOLEAN,  offsetof(systemd_settings, full_restore) },
        { "verify",         MH_SETTING_BOOLEAN,  offsetof(systemd_settings, verify) },
        { "restart_always", MH_SETTING_STRINGS,  offsetof(systemd_settings, restart_always),
          .item = "unit" },
        { "service_paths",  MH_SETTING_PATH_MAP, offsetof(systemd_settings, service_paths) },
        {}
};
/* clang-format on */

MH_DEFINE_HOST_CAST(systemd_host, mh_systemd_host, mh_host_type_systemd);

static const systemd_settings *settings_of(const mh_host *h) {
        return mh_host_settings(h, &mh_host_type_systemd);
}

static const char *hostname(const mh_host *h) {
        return mh_host_config_hostname(h->config);
}

/* Slots of this type called on a host that does not extend it. */
static int not_systemd(const mh_host *h, mh_error *error) {
        return mh_error_set(error, -EINVAL, "host type '%s' does not extend systemd",
                            h->type->name);
}

/* The host's systemd over D-Bus, opened on first use.  Unlike
 * mh_host_systemd(), a failure's message does not name the host: the host
 * layer that called the slot does. */
static mh_systemd *bus(mh_host *h, mh_error *error) {
        if (!h->systemd && mh_systemd_open(h->ssh, &h->systemd, error) < 0)
                return NULL;
        return h->systemd;
}

/* --- config -------------------------------------------------------------- */

static bool is_service(const mh_host_config *h, const char *unit) {
        for (size_t i = 0; i < mh_host_config_n_services(h); i++)
                if (streq(mh_host_config_service(h, i), unit))
                        return true;
        return false;
}

/*
 * path relative to /, as tar and find get it, into *ret (NULL to check
 * only); refuses / itself, . and .. (removing what appeared must stay
 * inside the paths) and a leading '-'.
 */
static int relative_path(const char *path, char **ret) {
        _cleanup_free_ char *copy = NULL;
        mh_buf rel = { .max = 4096 };
        char *state = NULL;

        copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        for (char *c = strtok_r(copy, "/", &state); c; c = strtok_r(NULL, "/", &state))
                if (streq(c, ".") || streq(c, "..") || (rel.size == 0 && c[0] == '-') ||
                    mh_buf_printf(&rel, "%s%s", rel.size ? "/" : "", c) < 0) {
                        mh_buf_dispose(&rel);
                        return -EINVAL;
                }
        if (rel.size == 0)
                return -EDOM;
        if (ret)
                *ret = rel.data;
        else
                mh_buf_dispose(&rel);
        return 0;
}

/* Whether the (absolute) path is MH_HOST_STATE_DIR, above or in it. */
static bool covers_state_dir(const char *path) {
        _cleanup_free_ char *rel = NULL;
        const char *state = MH_HOST_STATE_DIR + 1;
        size_t n;

        if (relative_path(path, &rel) < 0)
                return false;
        n = strlen(rel);
        return (strncmp(state, rel, n) == 0 && (state[n] == '\0' || state[n] == '/')) ||
               (strncmp(rel, state, strlen(state)) == 0 && rel[strlen(state)] == '/');
}

static int systemd_check(const mh_host_config *h, const void *settings, mh_error *error) {
        const systemd_settings *s = settings;

        for (size_t i = 0; i < s->restart_always.n; i++)
                if (!is_service(h, s->restart_always.items[i]))
                        return mh_host_config_fail_setting(
                                h, "restart_always", i, error,
                                "'%s' in 'restart_always' is not one of the host's services",
                                s->restart_always.items[i]);
        for (size_t i = 0; i < s->service_paths.names.n; i++)
                if (!is_service(h, s->service_paths.names.items[i]))
                        return mh_host_config_fail_setting(
                                h, "service_paths", i, error,
                                "'%s' in 'service_paths' is not one of the host's services",
                                s->service_paths.names.items[i]);
        for (size_t i = 0; i < mh_host_config_n_backup_paths(h); i++) {
                const char *path = mh_host_config_backup_path(h, i);
                int r = relative_path(path, NULL);

                if (r == -EINVAL)
                        return mh_host_config_fail_setting(
                                h, NULL, SIZE_MAX, error,
                                "backup path '%s' must not hold '.' or '..' nor start with '-'",
                                path);
                if (r == -EDOM)
                        return mh_host_config_fail_setting(
                                h, NULL, SIZE_MAX, error,
                                "backup path '/' is not allowed: name the directories to save");
                if (r < 0)
                        return mh_error_oom(error);
                if (covers_state_dir(path))
                        return mh_host_config_fail_setting(
                                h, NULL, SIZE_MAX, error,
                                "backup path '%s' holds or lies in " MH_HOST_STATE_DIR
                                ", where mhc keeps its backups: name the directories beside it",
                                path);
        }
        return 0;
}

static int systemd_init(mh_host *h, mh_error *error) {
        mh_systemd_host *sh = systemd_host(h);
        int r;

        if (!sh)
                return not_systemd(h, error);
        sh->state = calloc(1, sizeof(*sh->state));
        if (!sh->state)
                return mh_error_oom(error);
        for (size_t i = 0; i < mh_host_config_n_backup_paths(h->config); i++) {
                char *rel = NULL;

                /* checked when the configuration was loaded */
                r = relative_path(mh_host_config_backup_path(h->config, i), &rel);
                if (r >= 0)
                        r = mh_strv_consume(&sh->state->paths, rel);
                if (r < 0)
                        return mh_error_set(error, r, "cannot read backup path '%s': %s",
                                            mh_host_config_backup_path(h->config, i),
                                            strerror(-r));
        }
        return 0;
}

static void systemd_done(mh_host *h) {
        mh_systemd_host *sh = systemd_host(h);

        if (!sh || !sh->state)
                return;
        mh_strv_dispose(&sh->state->paths);
        free(sh->state);
        sh->state = NULL;
}

/* --- services ------------------------------------------------------------ */

static size_t n_services(const mh_host *h) {
        return mh_host_config_n_services(h->config);
}

static const char *service(const mh_host *h, size_t i) {
        return mh_host_config_service(h->config, i);
}

static bool state_is_active(const mh_unit_state *s) {
        return streq(s->active_state, "active") || streq(s->active_state, "reloading") ||
               streq(s->active_state, "activating");
}

static int systemd_start(mh_host *h, mh_error *error) {
        mh_systemd *sd;
        int r;

        if (n_services(h) == 0)
                return 0;
        sd = bus(h, error);
        if (!sd)
                return error && error->code < 0 ? error->code : -EIO;
        for (size_t i = 0; i < n_services(h); i++) {
                r = mh_systemd_start_unit(sd, service(h, i), 0, error);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int systemd_stop(mh_host *h, mh_error *error) {
        mh_systemd *sd;
        int r;

        if (n_services(h) == 0)
                return 0;
        sd = bus(h, error);
        if (!sd)
                return error && error->code < 0 ? error->code : -EIO;
        for (size_t i = n_services(h); i > 0; i--) {
                r = mh_systemd_stop_unit(sd, service(h, i - 1), 0, error);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int systemd_ready(mh_host *h, unsigned timeout_msec, mh_error *error) {
        uint64_t deadline = mh_now_usec() + (uint64_t) timeout_msec * 1000;
        mh_systemd *sd;
        int r;

        if (n_services(h) == 0)
                return 0;
        sd = bus(h, error);
        if (!sd)
                return error && error->code < 0 ? error->code : -EIO;
        for (size_t i = 0; i < n_services(h); i++) {
                uint64_t now = mh_now_usec();
                unsigned left = now < deadline ? (unsigned) ((deadline - now + 999) / 1000) : 0;

                if (left == 0)
                        return mh_error_set(error, -ETIMEDOUT,
                                            "unit '%s' is not active after %u ms", service(h, i),
                                            timeout_msec);
                r = mh_systemd_wait_active(sd, service(h, i), left, error);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Whether the files that changed concern unit: all of them, unless
 * config: service_paths narrows them down. */
static bool files_concern(const mh_host *h, const char *unit, const files_result *f) {
        const mh_setting_map *m = &settings_of(h)->service_paths;
        const mh_strv *paths = NULL;

        if (f->unlisted)
                return true;
        if (!f->changed || f->n_restored + f->n_removed == 0)
                return false;
        for (size_t i = 0; i < m->names.n; i++)
                if (streq(m->names.items[i], unit))
                        paths = &m->paths[i];
        if (!paths)
                return true;
        /* Lists cut at REPORT_CAP: cannot tell, so yes. */
        if (f->restored.n < f->n_restored || f->removed.n < f->n_removed)
                return true;
        for (size_t i = 0; i < paths->n; i++) {
                const char *path = paths->items[i];

                /* A directory above only got its times back: not a change for the unit. */
                for (size_t j = 0; j < f->restored.n; j++)
                        if (path_under(f->restored.items[j], path))
                                return true;
                /* One removed above held the unit's files, though. */
                for (size_t j = 0; j < f->removed.n; j++)
                        if (path_under(f->removed.items[j], path) ||
                            path_under(path, f->removed.items[j]))
                                return true;
        }
        return false;
}

/* --- backup and restore -------------------------------------------------- */

/*
 * What b->data holds, in b->dir/systemd for load(): records of NUL-ended
 * fields, "P" path (relative to /), "U" unit active(1 or 0) invocation
 * (or "-").
 */
#define STATE_FILE "systemd"
#define STATE_MAX ((size_t) 4 << 20)

static int write_state(mh_host *h, const mh_backup *b, const backup_data *data, mh_error *error) {
        _cleanup_free_ char *path = NULL;
        mh_buf text = { .max = STATE_MAX };
        int r = 0;

        for (size_t i = 0; r >= 0 && i < data->paths.n; i++)
                r = mh_buf_printf(&text, "P%c%s%c", 0, data->paths.items[i], 0);
        for (size_t i = 0; r >= 0 && i < data->n_units; i++) {
                const unit_record *u = &data->units[i];

                r = mh_buf_printf(&text, "U%c%s%c%d%c%s%c", 0, u->unit, 0, u->active, 0,
                                  u->invocation_id[0] ? u->invocation_id : "-", 0);
        }
        if (r < 0 || asprintf(&path, "%s/" STATE_FILE, b->dir) < 0) {
                path = NULL;
                mh_buf_dispose(&text);
                return mh_error_oom(error);
        }
        r = mh_ssh_write_file(h->ssh, path, strempty(text.data), text.size, 0600, error);
        mh_buf_dispose(&text);
        return r;
}

static int systemd_load(mh_host *h, mh_backup *b, mh_error *error) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        _cleanup_(backup_data_freep) backup_data *data = NULL;
        const char *at, *end;
        size_t size, n = 0;
        int r;

        if (!systemd_host(h))
                return not_systemd(h, error);
        if (asprintf(&path, "%s/" STATE_FILE, b->dir) < 0) {
                path = NULL;
                return mh_error_oom(error);
        }
        r = mh_ssh_read_file(h->ssh, path, STATE_MAX, &text, &size, error);
        if (r < 0)
                return r;
        end = text + size;
        for (at = text; at < end;)
                if (*at++ == 'U')
                        n++;
        data = backup_data_new(n);
        if (!data)
                return mh_error_oom(error);

        n = 0;
        for (at = text; at < end;) {
                const char *kind = next_field(&at, end), *a = kind ? next_field(&at, end) : NULL;

                if (!a)
                        goto bad;
                if (streq(kind, "P")) {
                        if (mh_strv_consume(&data->paths, strdup(a)) < 0)
                                return mh_error_oom(error);
                } else if (streq(kind, "U")) {
                        const char *active = next_field(&at, end);
                        const char *invocation = active ? next_field(&at, end) : NULL;
                        unit_record *u = &data->units[n++];

                        if (!invocation || strlen(a) >= sizeof(u->unit) ||
                            strlen(invocation) >= sizeof(u->invocation_id))
                                goto bad;
                        snprintf(u->unit, sizeof(u->unit), "%s", a);
                        u->active = streq(active, "1");
                        snprintf(u->invocation_id, sizeof(u->invocation_id), "%s",
                                 streq(invocation, "-") ? "" : invocation);
                } else
                        goto bad;
        }
        data->n_units = n; /* counted above from every 'U' byte: at least as many */
        backup_data_free(b->data);
        b->data = TAKE_PTR(data);
        return 0;
bad:
        return mh_error_set(error, -EBADMSG, "%s: not a backup state that mhc wrote", path);
}

static int systemd_backup(mh_host *h, mh_backup *b, mh_error *error) {
        mh_systemd_host *sh = systemd_host(h);
        _cleanup_(backup_data_freep) backup_data *data = NULL;
        uint64_t t0 = mh_now_usec(), t1;
        size_t n = n_services(h);
        int r;

        if (!sh)
                return not_systemd(h, error);

        data = backup_data_new(n);
        if (!data)
                return mh_error_oom(error);
        for (size_t i = 0; i < sh->state->paths.n; i++)
                if (mh_strv_consume(&data->paths, strdup(sh->state->paths.items[i])) < 0)
                        return mh_error_oom(error);

        if (data->paths.n > 0) {
                files_result f = {};

                r = run_files(h, "backup", b->dir, &data->paths, false, false, &f, error);
                if (r < 0)
                        return r;
                files_result_dispose(&f);
        }
        t1 = mh_now_usec();

        if (n > 0) {
                mh_systemd *sd = bus(h, error);

                if (!sd)
                        return error && error->code < 0 ? error->code : -EIO;
                for (size_t i = 0; i < n; i++) {
                        unit_record *u = &data->units[i];
                        mh_unit_state st;

                        r = mh_systemd_get_unit(sd, service(h, i), &st, error);
                        if (r < 0)
                                return r;
                        snprintf(u->unit, sizeof(u->unit), "%s", service(h, i));
                        u->active = state_is_active(&st);
                        memcpy(u->invocation_id, st.invocation_id, sizeof(u->invocation_id));
                        u->invocation_id[32] = '\0';
                }
        }

        r = write_state(h, b, data, error);
        if (r < 0)
                return r;

        backup_data_free(b->data);
        b->data = TAKE_PTR(data);
        mh_log(MH_LOG_DEBUG, hostname(h),
               "backup '%s': %zu paths in %.1f ms, %zu services in %.1f ms", b->name,
               sh->state->paths.n, (double) (t1 - t0) / 1000.0, n,
               (double) (mh_now_usec() - t1) / 1000.0);
        return 0;
}

/* What a restore does to a unit: stopped before the files are put back,
 * started after them, or both. */
typedef enum unit_action {
        ACTION_NONE,
        ACTION_START,
        ACTION_STOP,
        ACTION_RESTART,
} unit_action;

/* A restore in the making. */
typedef struct restore_plan {
        mh_host *h;
        const mh_backup *b;
        backup_data *data;
        bool full, verify;
        mh_unit_state *states; /* of data->units, when the restore began */
        unit_action *actions;
        bool files_done; /* the file script has put the files back already */
        bool started;    /* a unit was started: what it writes then is the baseline */
        files_result f;  /* what the files' check found, then what their restore did */
        mh_buf summary;
        mh_buf times; /* of each step, for the debug log */
        uint64_t since;
} restore_plan;

/* Note in p->times how long step took since the last one. */
static void plan_step(restore_plan *p, const char *step) {
        uint64_t now = mh_now_usec();

        (void) mh_buf_printf(&p->times, ", %s %.1f ms", step, (double) (now - p->since) / 1000.0);
        p->since = now;
}

static void restore_plan_dispose(restore_plan *p) {
        free(p->states);
        free(p->actions);
        files_result_dispose(&p->f);
        mh_buf_dispose(&p->summary);
        mh_buf_dispose(&p->times);
}

static bool needs_stop(unit_action a) {
        return a == ACTION_STOP || a == ACTION_RESTART;
}

static bool needs_start(unit_action a) {
        return a == ACTION_START || a == ACTION_RESTART;
}

static int run_plan_files(restore_plan *p, const char *mode, bool probe, mh_error *error) {
        files_result f = {};
        int r;

        r = run_files(p->h, mode, p->b->dir, &p->data->paths, p->verify, probe, &f, error);
        if (r < 0)
                return r;
        files_result_dispose(&p->f);
        p->f = f;
        return 0;
}

/*
 * What changed, in one round trip: the files' probe (and when it finds a
 * change, what their restore would do, or with no services the restore
 * itself) and the services' states, asked for before the files and read
 * after them.
 */
static int find_changes(restore_plan *p, mh_error *error) {
        backup_data *data = p->data;
        _cleanup_free_ const char **units = NULL;
        mh_unit_query *q = NULL;
        int r = 0;

        if (data->n_units > 0) {
                mh_systemd *sd = bus(p->h, error);

                if (!sd)
                        return error && error->code < 0 ? error->code : -EIO;
                units = calloc(data->n_units, sizeof(char *));
                p->states = calloc(data->n_units, sizeof(mh_unit_state));
                p->actions = calloc(data->n_units, sizeof(unit_action));
                if (!units || !p->states || !p->actions)
                        return mh_error_oom(error);
                for (size_t i = 0; i < data->n_units; i++)
                        units[i] = data->units[i].unit;
                r = mh_systemd_query_units(sd, units, data->n_units, &q, error);
                if (r < 0)
                        return r;
        }
        /* A full restore stops the services before it looks at a file. */
        if (data->paths.n > 0 && !p->full) {
                /* What to restart is known without the list of what changed, unless
                 * service_paths narrows it down. */
                const char *mode = data->n_units == 0                          ? "restore"
                                   : settings_of(p->h)->service_paths.names.n > 0 ? "diff"
                                   : p->verify                                    ? "diff"
                                                                                  : "probe";

                r = run_plan_files(p, mode, !p->verify, error);
                p->files_done = r >= 0 && data->n_units == 0;
        }
        if (q) {
                mh_error e = MH_ERROR_INIT;
                int k = mh_unit_query_finish(q, p->states, r < 0 ? &e : error);

                if (r >= 0)
                        r = k;
        }
        return r;
}

/* What to do to each unit, from its state at backup and now; false if nothing. */
static bool plan_units(restore_plan *p) {
        const systemd_settings *s = settings_of(p->h);
        bool any = false;

        for (size_t i = 0; i < p->data->n_units; i++) {
                const unit_record *u = &p->data->units[i];
                bool active = state_is_active(&p->states[i]);

                if (!u->active)
                        p->actions[i] = active ? ACTION_STOP : ACTION_NONE;
                else if (!active)
                        p->actions[i] = ACTION_START;
                else if (p->full || !streq(u->invocation_id, p->states[i].invocation_id) ||
                         mh_strv_contains(&s->restart_always, u->unit) ||
                         files_concern(p->h, u->unit, &p->f))
                        p->actions[i] = ACTION_RESTART;
                else
                        p->actions[i] = ACTION_NONE;
                any = any || p->actions[i] != ACTION_NONE;
        }
        return any;
}

/*
 * Whether unit carries mhc's own connection to the host: stopped, a runner
 * killed before it starts it again would leave the host out of reach, so
 * it is restarted after the files instead (one job, which systemd
 * finishes whatever happens to the runner).
 */
static bool carries_connection(const char *unit) {
        return streq(unit, "ssh.service") || streq(unit, "sshd.service");
}

/* Stop, in reverse order, the units that must not run while files are put back. */
static int stop_units(restore_plan *p, mh_error *error) {
        mh_systemd *sd;
        int ret = 0, r;

        for (size_t i = p->data->n_units; i > 0; i--) {
                const char *unit = p->data->units[i - 1].unit;

                if (!needs_stop(p->actions[i - 1]) ||
                    (p->actions[i - 1] == ACTION_RESTART && carries_connection(unit)))
                        continue;
                sd = bus(p->h, error);
                if (!sd)
                        return error && error->code < 0 ? error->code : -EIO;
                r = mh_systemd_stop_unit(sd, unit, 0, error);
                if (r < 0 && ret == 0)
                        ret = r;
                if (p->actions[i - 1] == ACTION_STOP)
                        (void) mh_buf_printf(&p->summary, ", stopped %s", unit);
        }
        return ret;
}

/* Start, in order, the units that ran at backup and were stopped or not running. */
static int start_units(restore_plan *p, mh_error *error) {
        mh_systemd *sd = NULL;
        int ret = 0, r;

        /* Unit files put back: systemd must read them before units start. */
        if (files_touch_units(&p->f)) {
                sd = bus(p->h, error);
                if (!sd)
                        return error && error->code < 0 ? error->code : -EIO;
                r = mh_systemd_daemon_reload(sd, error);
                if (r < 0)
                        return r;
                (void) mh_buf_printf(&p->summary, ", reloaded systemd");
        }
        for (size_t i = 0; i < p->data->n_units; i++) {
                unit_record *u = &p->data->units[i];
                mh_unit_state st;

                if (!needs_start(p->actions[i]))
                        continue;
                sd = bus(p->h, error);
                if (!sd)
                        return error && error->code < 0 ? error->code : -EIO;
                /* Restores restart units more often than StartLimitBurst allows. */
                r = mh_systemd_reset_failed_unit(sd, u->unit, error);
                if (r >= 0 && p->actions[i] == ACTION_RESTART && carries_connection(u->unit))
                        r = mh_systemd_restart_unit(sd, u->unit, 0, error);
                else if (r >= 0)
                        r = mh_systemd_start_unit(sd, u->unit, 0, error);
                p->started = true;
                (void) mh_buf_printf(&p->summary, ", %s %s",
                                     r < 0                           ? "failed to start"
                                     : p->actions[i] == ACTION_START ? "started"
                                                                     : "restarted",
                                     u->unit);
                if (r >= 0)
                        /* The new invocation is the baseline now, as the files are. */
                        r = mh_systemd_get_unit(sd, u->unit, &st, error);
                if (r < 0) {
                        if (ret == 0)
                                ret = r;
                        continue;
                }
                memcpy(u->invocation_id, st.invocation_id, sizeof(u->invocation_id));
                u->invocation_id[32] = '\0';
        }
        return ret;
}

/*
 * Put the backup back: find what changed (one round trip when nothing
 * did), stop the services that must not run meanwhile, put the files
 * back, start the services, and take what they write as they start as the
 * files' new baseline.
 */
static int restore_plan_run(restore_plan *p, mh_error *error) {
        bool units_change;
        int r;

        p->since = mh_now_usec();
        r = find_changes(p, error);
        plan_step(p, "check");
        if (r < 0)
                return r;
        units_change = plan_units(p);
        if (!p->full && !units_change && (p->files_done || !p->f.changed))
                return 0;

        r = stop_units(p, error);
        plan_step(p, "stop");
        if (r < 0)
                return r;
        /* After the stop, which may have written files: the probe again. */
        if (p->data->paths.n > 0 && !p->files_done) {
                r = run_plan_files(p, p->full ? "full" : "restore", !p->full && !p->verify, error);
                plan_step(p, "files");
                if (r < 0)
                        return r;
        }
        /* A unit that the files restored now concern, and that no one stopped. */
        for (size_t i = 0; i < p->data->n_units; i++)
                if (p->actions[i] == ACTION_NONE && state_is_active(&p->states[i]) &&
                    files_concern(p->h, p->data->units[i].unit, &p->f)) {
                        mh_systemd *sd = bus(p->h, error);

                        if (!sd)
                                return error && error->code < 0 ? error->code : -EIO;
                        r = mh_systemd_stop_unit(sd, p->data->units[i].unit, 0, error);
                        if (r < 0)
                                return r;
                        p->actions[i] = ACTION_RESTART;
                }
        r = start_units(p, error);
        plan_step(p, "start");
        if (r < 0)
                return r;
        if (p->started && p->data->paths.n > 0) {
                files_result f = {};

                /* Only if they wrote to the paths as they started. */
                r = run_files(p->h, "rebase", p->b->dir, &p->data->paths, false, true, &f, error);
                files_result_dispose(&f);
                plan_step(p, "new baseline");
        }
        return r;
}

static int systemd_restore(mh_host *h, mh_backup *b, const mh_restore_options *options,
                           mh_error *error) {
        const systemd_settings *s = settings_of(h);
        _cleanup_(restore_plan_dispose) restore_plan p = {
                .h = h,
                .b = b,
                .data = b->data,
                .summary = { .max = 4096 },
                .times = { .max = 512 },
        };
        const files_result *f = &p.f;
        uint64_t t0 = mh_now_usec();
        int r;

        if (!systemd_host(h))
                return not_systemd(h, error);
        if (!b->data)
                return mh_error_set(error, -ENOENT, "backup '%s' has no record of the services",
                                    b->name);
        p.full = s->full_restore || (options && options->full);
        p.verify = s->verify || (options && options->verify);

        r = restore_plan_run(&p, error);

        if (f->changed || p.summary.size > 0)
                mh_log(MH_LOG_INFO, hostname(h), "restore of '%s': restored %zu paths, removed %zu%s%s",
                       b->name, f->n_restored, f->n_removed,
                       f->baseline_damaged ? " (its baseline was damaged: all of them)" : "",
                       strempty(p.summary.data));
        for (size_t i = 0; i < f->parents.n; i++)
                mh_log(MH_LOG_INFO, hostname(h), "put back the directory %s", f->parents.items[i]);
        for (size_t i = 0; i < f->unlinked.n; i++)
                mh_log(MH_LOG_WARNING, hostname(h),
                       "%s had hard links outside the backup paths; they are not put back",
                       f->unlinked.items[i]);
        for (size_t i = 0; i < f->restored.n && i < 20; i++)
                mh_log(MH_LOG_DEBUG, hostname(h), "restored %s", f->restored.items[i]);
        for (size_t i = 0; i < f->removed.n && i < 20; i++)
                mh_log(MH_LOG_DEBUG, hostname(h), "removed %s", f->removed.items[i]);
        mh_log(MH_LOG_DEBUG, hostname(h), "restore of '%s': %.1f ms%s%s", b->name,
               (double) (mh_now_usec() - t0) / 1000.0, strempty(p.times.data),
               f->changed || p.summary.size ? "" : ", nothing changed");
        if (r < 0)
                return r;

        if (f->differ.n > 0) {
                mh_buf list = { .max = 2048 };

                for (size_t i = 0; i < f->differ.n && i < VERIFY_SHOWN; i++)
                        (void) mh_buf_printf(&list, "%s'%s'", i ? ", " : "", f->differ.items[i]);
                r = mh_error_set(error, -ENOTRECOVERABLE,
                                 "after restoring '%s', %zu%s paths differ from the backup: %s%s",
                                 b->name, f->differ.n, f->differ.n >= 10 ? " or more" : "",
                                 strempty(list.data), f->differ.n > VERIFY_SHOWN ? ", ..." : "");
                mh_buf_dispose(&list);
                return r;
        }
        return 0;
}

static int systemd_drop(_unused_ mh_host *h, mh_backup *b, _unused_ mh_error *error) {
        backup_data_free(b->data);
        b->data = NULL;
        return 0;
}

const mh_host_type mh_host_type_systemd = {
        .abi = MH_HOST_TYPE_ABI,
        .name = "systemd",
        .size = sizeof(mh_systemd_host),
        .keys = MH_HOST_KEY_SERVICES | MH_HOST_KEY_BACKUP_PATHS,
        .settings = systemd_settings_table,
        .settings_size = sizeof(systemd_settings),
        .check = systemd_check,
        .init = systemd_init,
        .done = systemd_done,
        .start = systemd_start,
        .stop = systemd_stop,
        .ready = systemd_ready,
        .backup = systemd_backup,
        .restore = systemd_restore,
        .load = systemd_load,
        .drop = systemd_drop,
};
