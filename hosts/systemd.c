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
#include "systemd-files.h" /* files_script[], made from hosts/systemd-files.sh */

/* Paths the restore script reports by name, per list; beyond, only counts. */
#define REPORT_CAP 1000
/* Output of the file script: REPORT_CAP paths of each kind and some more. */
#define FILES_MAX_OUTPUT ((size_t) 16 << 20)
/* Paths named in a verify error. */
#define VERIFY_SHOWN 5

/* What the file script said. */
typedef struct files_result {
        bool changed;
        size_t n_restored; /* counts, possibly above the lists' sizes */
        size_t n_removed;
        mh_strv restored; /* absolute paths, at most REPORT_CAP */
        mh_strv removed;
        mh_strv differ; /* verify: paths that differ from the backup */
} files_result;

static void files_result_dispose(files_result *f) {
        mh_strv_dispose(&f->restored);
        mh_strv_dispose(&f->removed);
        mh_strv_dispose(&f->differ);
}

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

/* --- files --------------------------------------------------------------- */

/* Parse the file script's NUL-separated records into *ret. */
static int parse_files_output(const char *out, size_t size, files_result *ret, mh_error *error) {
        files_result f = {};
        bool ok = false;
        int r = 0;

        for (const char *p = out, *end = out + size; p < end;) {
                const char *nul = memchr(p, '\0', (size_t) (end - p));
                const char *rec = p;

                if (!nul || ok) {
                        r = -MH_ERR_REMOTE;
                        break;
                }
                p = nul + 1;
                if (streq(rec, "ok"))
                        ok = true;
                else if (streq(rec, "unchanged"))
                        f.changed = false;
                else if (streq(rec, "changed"))
                        f.changed = true;
                else if (strncmp(rec, "NR ", 3) == 0)
                        f.n_restored = strtoull(rec + 3, NULL, 10);
                else if (strncmp(rec, "ND ", 3) == 0)
                        f.n_removed = strtoull(rec + 3, NULL, 10);
                else if (rec[0] && strchr("RDV", rec[0]) && rec[1] == ' ') {
                        mh_strv *list = rec[0] == 'R'   ? &f.restored
                                     : rec[0] == 'D' ? &f.removed
                                                     : &f.differ;
                        char *path = NULL;

                        if (asprintf(&path, "/%s", rec + 2) < 0) {
                                r = -ENOMEM;
                                break;
                        }
                        r = mh_strv_consume(list, path);
                        if (r < 0)
                                break;
                } else {
                        r = -MH_ERR_REMOTE;
                        break;
                }
        }
        if (r == 0 && !ok)
                r = -MH_ERR_REMOTE;
        if (r < 0) {
                files_result_dispose(&f);
                return r == -ENOMEM ? mh_error_oom(error)
                                    : mh_error_set(error, r,
                                                   "the file script sent output that makes no "
                                                   "sense");
        }
        *ret = f;
        return 0;
}

/* Run the file script in mode on the host in one round trip, as
 * `sh DIR/files.sh MODE DIR / VERIFY CAP PATH...`; at backup it is sent
 * along on stdin and kept in the backup directory. */
static int run_files(mh_host *h, const char *mode, const char *dir, const mh_strv *paths,
                     bool verify, files_result *ret, mh_error *error) {
        _cleanup_free_ char *script_path = NULL, *args = NULL, *quoted_dir = NULL,
                            *quoted_script = NULL, *command = NULL;
        _cleanup_free_ const char **argv = NULL;
        mh_exec_result res = {};
        mh_exec_options o = { .max_output = FILES_MAX_OUTPUT };
        bool backup = streq(mode, "backup");
        char cap[32];
        int r;

        if (asprintf(&script_path, "%s/files.sh", dir) < 0)
                return mh_error_oom(error);
        snprintf(cap, sizeof(cap), "%d", REPORT_CAP);

        argv = calloc(paths->n + 8, sizeof(char *));
        if (!argv)
                return mh_error_oom(error);
        argv[0] = "sh";
        argv[1] = script_path;
        argv[2] = mode;
        argv[3] = dir;
        argv[4] = "/";
        argv[5] = verify ? "1" : "0";
        argv[6] = cap;
        for (size_t i = 0; i < paths->n; i++)
                argv[7 + i] = paths->items[i];
        if (mh_shell_join(argv, &args) < 0)
                return mh_error_oom(error);

        if (backup) {
                if (mh_shell_quote(script_path, &quoted_script) < 0)
                        return mh_error_oom(error);
                if (asprintf(&command, "umask 077 && cat >%s && %s", quoted_script, args) < 0)
                        return mh_error_oom(error);
                o.input = files_script;
                o.input_size = sizeof(files_script) - 1;
        } else
                command = TAKE_PTR(args);

        r = mh_ssh_exec(h->ssh, command, &o, &res, error);
        if (r < 0)
                return r;
        if (res.exit_status != 0) {
                char why[MH_EXEC_SUMMARY_SIZE];

                r = mh_error_set(error, -MH_ERR_COMMAND, "%s of files failed with %s", mode,
                                 mh_exec_result_summary(&res, why, sizeof(why)));
                mh_exec_result_dispose(&res);
                return r;
        }
        r = parse_files_output(res.out, res.out_size, ret, error);
        mh_exec_result_dispose(&res);
        return r;
}

/* Whether path is dir or lies under it. */
static bool path_under(const char *path, const char *dir) {
        size_t n = strlen(dir);

        if (streq(dir, "/"))
                return true;
        return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Whether the files that changed concern unit: all of them, unless
 * config: service_paths narrows them down. */
static bool files_concern(const mh_host *h, const char *unit, const files_result *f) {
        const mh_setting_map *m = &settings_of(h)->service_paths;
        const mh_strv *paths = NULL;

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

/* Whether a restored or removed file is one systemd reads units from. */
static bool files_touch_units(const files_result *f) {
        static const char *const unit_dirs[] = {
                "/etc/systemd", "/run/systemd/system", "/lib/systemd/system",
                "/usr/lib/systemd/system",
        };

        if (!f->changed || f->n_restored + f->n_removed == 0)
                return false;
        if (f->restored.n < f->n_restored || f->removed.n < f->n_removed)
                return true;
        for (size_t i = 0; i < ELEMENTSOF(unit_dirs); i++) {
                for (size_t j = 0; j < f->restored.n; j++)
                        if (path_under(f->restored.items[j], unit_dirs[i]))
                                return true;
                for (size_t j = 0; j < f->removed.n; j++)
                        if (path_under(f->removed.items[j], unit_dirs[i]))
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

                r = run_files(h, "backup", b->dir, &data->paths, false, &f, error);
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

/* One action on a unit after restoring files. */
typedef enum unit_action {
        ACTION_NONE,
        ACTION_START,
        ACTION_STOP,
        ACTION_RESTART,
} unit_action;

/* Put the services back as they were at backup: stop what was not running
 * (in reverse order), then start or restart the others in order. */
static int restore_services(mh_host *h, backup_data *data, const files_result *f, bool full,
                            mh_buf *summary, mh_error *error) {
        size_t n = data->n_units;
        _cleanup_free_ unit_action *actions = NULL;
        mh_systemd *sd;
        int ret = 0, r;

        /* Unit files put back: systemd must read them before units restart. */
        if (files_touch_units(f)) {
                sd = bus(h, error);
                if (!sd)
                        return error && error->code < 0 ? error->code : -EIO;
                r = mh_systemd_daemon_reload(sd, error);
                if (r < 0)
                        return r;
                (void) mh_buf_printf(summary, ", reloaded systemd");
        }
        if (n == 0)
                return 0;
        sd = bus(h, error);
        if (!sd)
                return error && error->code < 0 ? error->code : -EIO;
        actions = calloc(n, sizeof(unit_action));
        if (!actions)
                return mh_error_oom(error);

        for (size_t i = 0; i < n; i++) {
                const unit_record *u = &data->units[i];
                const char *unit = data->units[i].unit;
                mh_unit_state st;

                r = mh_systemd_get_unit(sd, unit, &st, error);
                if (r < 0)
                        return r;
                if (!u->active)
                        actions[i] = state_is_active(&st) ? ACTION_STOP : ACTION_NONE;
                else if (!state_is_active(&st))
                        actions[i] = ACTION_START;
                else if (full || !streq(u->invocation_id, st.invocation_id) ||
                         mh_strv_contains(&settings_of(h)->restart_always, unit) ||
                         files_concern(h, unit, f))
                        actions[i] = ACTION_RESTART;
        }

        for (size_t i = n; i > 0; i--) {
                if (actions[i - 1] != ACTION_STOP)
                        continue;
                r = mh_systemd_stop_unit(sd, data->units[i - 1].unit, 0, error);
                if (r < 0 && ret == 0)
                        ret = r;
                (void) mh_buf_printf(summary, ", stopped %s", data->units[i - 1].unit);
        }
        for (size_t i = 0; i < n; i++) {
                unit_record *u = &data->units[i];
                const char *unit = data->units[i].unit;
                mh_unit_state st;

                if (actions[i] != ACTION_START && actions[i] != ACTION_RESTART)
                        continue;
                /* Restores restart units more often than StartLimitBurst allows. */
                r = mh_systemd_reset_failed_unit(sd, unit, error);
                if (r >= 0 && actions[i] == ACTION_START)
                        r = mh_systemd_start_unit(sd, unit, 0, error);
                else if (r >= 0)
                        r = mh_systemd_restart_unit(sd, unit, 0, error);
                (void) mh_buf_printf(summary, ", %s %s",
                                     r < 0                        ? "failed to start"
                                     : actions[i] == ACTION_START ? "started"
                                                                  : "restarted",
                                     unit);
                if (r < 0) {
                        if (ret == 0)
                                ret = r;
                        continue;
                }
                /* The new invocation is the baseline now, as the files are. */
                r = mh_systemd_get_unit(sd, unit, &st, error);
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

static int systemd_restore(mh_host *h, mh_backup *b, const mh_restore_options *options,
                           mh_error *error) {
        mh_systemd_host *sh = systemd_host(h);
        const systemd_settings *s = settings_of(h);
        _cleanup_(files_result_dispose) files_result f = {};
        mh_buf summary = { .max = 4096 };
        uint64_t t0 = mh_now_usec(), t1;
        bool full, verify;
        int r;

        if (!sh)
                return not_systemd(h, error);
        full = s->full_restore || (options && options->full);
        verify = s->verify || (options && options->verify);

        if (!b->data)
                return mh_error_set(error, -ENOENT, "backup '%s' has no record of the services",
                                    b->name);

        /* The backup's own paths: a later run's configuration may name others. */
        if (((backup_data *) b->data)->paths.n > 0) {
                r = run_files(h, full ? "full" : "restore", b->dir, &((backup_data *) b->data)->paths,
                              verify, &f, error);
                if (r < 0)
                        return r;
        }
        t1 = mh_now_usec();

        if (f.changed)
                (void) mh_buf_printf(&summary, "restored %zu paths, removed %zu", f.n_restored,
                                     f.n_removed);
        r = restore_services(h, b->data, &f, full, &summary, error);

        if (summary.size > 0)
                mh_log(MH_LOG_INFO, hostname(h), "restore of '%s': %s", b->name,
                       summary.data + (f.changed ? 0 : 2));
        for (size_t i = 0; i < f.restored.n && i < 20; i++)
                mh_log(MH_LOG_DEBUG, hostname(h), "restored %s", f.restored.items[i]);
        for (size_t i = 0; i < f.removed.n && i < 20; i++)
                mh_log(MH_LOG_DEBUG, hostname(h), "removed %s", f.removed.items[i]);
        mh_log(MH_LOG_DEBUG, hostname(h),
               "restore of '%s': files in %.1f ms, services in %.1f ms%s", b->name,
               (double) (t1 - t0) / 1000.0, (double) (mh_now_usec() - t1) / 1000.0,
               summary.size ? "" : ", nothing changed");
        mh_buf_dispose(&summary);
        if (r < 0)
                return r;

        if (f.differ.n > 0) {
                mh_buf list = { .max = 2048 };

                for (size_t i = 0; i < f.differ.n && i < VERIFY_SHOWN; i++)
                        (void) mh_buf_printf(&list, "%s'%s'", i ? ", " : "", f.differ.items[i]);
                r = mh_error_set(error, -ENOTRECOVERABLE,
                                 "after restoring '%s', %zu%s paths differ from the backup: %s%s",
                                 b->name, f.differ.n, f.differ.n >= 10 ? " or more" : "",
                                 strempty(list.data), f.differ.n > VERIFY_SHOWN ? ", ..." : "");
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
