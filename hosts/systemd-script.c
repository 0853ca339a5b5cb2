/* SPDX-License-Identifier: MIT */
/*
 * The systemd host type's file script: run on the host, its records read.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mhc/shell.h>
#include <mhc/ssh.h>

#include "macro.h"
#include "systemd-files.h" /* files_script[], made from hosts/systemd-files.sh */
#include "systemd-script.h"

/* Paths the restore script reports by name, per list; beyond, only counts. */
#define REPORT_CAP 1000
/* Output of the file script: REPORT_CAP paths of each kind and some more. */
#define FILES_MAX_OUTPUT ((size_t) 16 << 20)

void files_result_dispose(files_result *f) {
        mh_strv_dispose(&f->restored);
        mh_strv_dispose(&f->removed);
        mh_strv_dispose(&f->parents);
        mh_strv_dispose(&f->unlinked);
        mh_strv_dispose(&f->differ);
}

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
                else if (streq(rec, "F"))
                        f.baseline_damaged = true;
                else if (strncmp(rec, "NR ", 3) == 0)
                        f.n_restored = strtoull(rec + 3, NULL, 10);
                else if (strncmp(rec, "ND ", 3) == 0)
                        f.n_removed = strtoull(rec + 3, NULL, 10);
                else if (rec[0] && strchr("RDAHV", rec[0]) && rec[1] == ' ') {
                        mh_strv *list = rec[0] == 'R'   ? &f.restored
                                     : rec[0] == 'D' ? &f.removed
                                     : rec[0] == 'A' ? &f.parents
                                     : rec[0] == 'H' ? &f.unlinked
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

int run_files(mh_host *h, const char *mode, const char *dir, const mh_strv *paths,
                     bool verify, bool probe, files_result *ret, mh_error *error) {
        _cleanup_free_ char *script_path = NULL, *args = NULL, *probe_path = NULL,
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
        } else if (probe) {
                if (asprintf(&probe_path, "%s/probe", dir) < 0) {
                        probe_path = NULL;
                        return mh_error_oom(error);
                }
                if (mh_shell_quote(probe_path, &quoted_script) < 0)
                        return mh_error_oom(error);
                /* mode "probe": only say whether something changed */
                if (asprintf(&command, "if [ -r %1$s ] && . %1$s; then printf 'unchanged\\0ok\\0'; "
                             "else %2$s%3$s; fi",
                             quoted_script, streq(mode, "probe") ? "printf 'changed\\0ok\\0'" : "exec ",
                             streq(mode, "probe") ? "" : args) < 0)
                        return mh_error_oom(error);
        } else
                command = TAKE_PTR(args);

        r = mh_ssh_exec(h->ssh, command, &o, &res, error);
        if (r < 0)
                return r;
        if (res.exit_status != 0) {
                char why[MH_EXEC_SUMMARY_SIZE];

                r = mh_error_set(error, -MH_ERR_COMMAND, "%s of files failed with %s",
                                 backup ? "backup" : "restore",
                                 mh_exec_result_summary(&res, why, sizeof(why)));
                mh_exec_result_dispose(&res);
                return r;
        }
        r = parse_files_output(res.out, res.out_size, ret, error);
        mh_exec_result_dispose(&res);
        if (r >= 0)
                ret->unlisted = ret->changed && streq(mode, "probe");
        return r;
}

bool path_under(const char *path, const char *dir) {
        size_t n = strlen(dir);

        if (streq(dir, "/"))
                return true;
        return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

bool files_touch_units(const files_result *f) {
        static const char *const unit_dirs[] = {
                "/etc/systemd",
                "/run/systemd/system",
                "/run/systemd/generator",
                "/usr/local/lib/systemd/system",
                "/usr/lib/systemd/system",
                "/lib/systemd/system",
                "/usr/lib/systemd/system-generators",
                "/lib/systemd/system-generators",
                "/usr/local/lib/systemd/system-generators",
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
