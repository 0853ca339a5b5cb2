/* SPDX-License-Identifier: MIT */
/*
 * The script host type: each step is a shell command from the host's
 * `config:` (start, stop, ready, backup, restore, drop), run on the host as
 * `sh -c CMD` with MHC_HOST, MHC_BACKUP_NAME, MHC_BACKUP_DIR,
 * MHC_RESTORE_FULL and MHC_RESTORE_VERIFY in its environment.
 */
#include <errno.h>

#include <mhc/shell.h>
#include <mhc/sys/host.h>

#include "macro.h"

/* Output a step's command may write, per stream; only stderr's last line is kept. */
#define SCRIPT_MAX_OUTPUT ((size_t) 16 << 20)

typedef enum step {
        STEP_START,
        STEP_STOP,
        STEP_READY,
        STEP_BACKUP,
        STEP_RESTORE,
        STEP_DROP,
        _STEP_MAX,
} step;

static const char *const step_names[_STEP_MAX] = {
        [STEP_START] = "start",   [STEP_STOP] = "stop",       [STEP_READY] = "ready",
        [STEP_BACKUP] = "backup", [STEP_RESTORE] = "restore", [STEP_DROP] = "drop",
};

/* config: one shell command per step; NULL: none. */
typedef struct script_settings {
        char *commands[_STEP_MAX];
} script_settings;

#define COMMAND(k) offsetof(script_settings, commands) + (k) * sizeof(char *)

/* clang-format off */
static const mh_setting script_settings_table[] = {
        { "start",   MH_SETTING_STRING, COMMAND(STEP_START) },
        { "stop",    MH_SETTING_STRING, COMMAND(STEP_STOP) },
        { "ready",   MH_SETTING_STRING, COMMAND(STEP_READY) },
        { "backup",  MH_SETTING_STRING, COMMAND(STEP_BACKUP) },
        { "restore", MH_SETTING_STRING, COMMAND(STEP_RESTORE) },
        { "drop",    MH_SETTING_STRING, COMMAND(STEP_DROP) },
        {}
};
/* clang-format on */

static const char *command_of(const mh_host *h, step k) {
        const script_settings *s = mh_host_settings(h, &mh_host_type_script);

        return s ? s->commands[k] : NULL;
}

/* Append "NAME=QUOTED " to b. */
static int append_env(mh_buf *b, const char *name, const char *value) {
        _cleanup_free_ char *quoted = NULL;
        int r;

        r = mh_shell_quote(value, &quoted);
        if (r < 0)
                return r;
        return mh_buf_printf(b, "%s=%s ", name, quoted);
}

/* Run step's command on the host; b and o are NULL where they do not apply. */
static int run_step(mh_host *h, step k, const mh_backup *b, const mh_restore_options *o,
                    unsigned timeout_msec, mh_error *error) {
        mh_exec_options options = { .timeout_msec = timeout_msec, .max_output = SCRIPT_MAX_OUTPUT };
        const char *command = command_of(h, k);
        _cleanup_free_ char *quoted = NULL;
        mh_exec_result res = {};
        mh_buf line = { .max = (size_t) 1 << 20 };
        int r;

        r = append_env(&line, "MHC_HOST", mh_host_config_hostname(h->config));
        if (r >= 0 && b) {
                r = append_env(&line, "MHC_BACKUP_NAME", b->name);
                if (r >= 0)
                        r = append_env(&line, "MHC_BACKUP_DIR", b->dir);
        }
        if (r >= 0 && o)
                r = mh_buf_printf(&line, "MHC_RESTORE_FULL=%d MHC_RESTORE_VERIFY=%d ",
                                  o->full ? 1 : 0, o->verify ? 1 : 0);
        if (r >= 0)
                r = mh_shell_quote(command, &quoted);
        if (r >= 0)
                r = mh_buf_printf(&line, "sh -c %s", quoted);
        if (r < 0) {
                mh_buf_dispose(&line);
                return mh_error_set(error, r, "cannot build the %s command: %s", step_names[k],
                                    mh_strerror(r));
        }

        r = mh_ssh_exec(h->ssh, line.data, &options, &res, error);
        mh_buf_dispose(&line);
        if (r < 0)
                return r;

        if (res.exit_status != 0) {
                char why[MH_EXEC_SUMMARY_SIZE];

                r = mh_error_set(error, -MH_ERR_COMMAND, "%s command failed with %s", step_names[k],
                                 mh_exec_result_summary(&res, why, sizeof(why)));
        }
        mh_exec_result_dispose(&res);
        return r;
}

/* A step without a command: start, stop, ready and drop have nothing to do. */
static int optional_step(mh_host *h, step k, const mh_backup *b, const mh_restore_options *o,
                         unsigned timeout_msec, mh_error *error) {
        if (!command_of(h, k))
                return 0;
        return run_step(h, k, b, o, timeout_msec, error);
}

/* A step without a command that cannot be skipped: backup and restore. */
static int required_step(mh_host *h, step k, const mh_backup *b, const mh_restore_options *o,
                         mh_error *error) {
        if (!command_of(h, k))
                return mh_error_set(error, -EOPNOTSUPP,
                                    "script host has no '%s' command (set config: %s: in its "
                                    "entry of the configuration)",
                                    step_names[k], step_names[k]);
        return run_step(h, k, b, o, 0, error);
}

static int script_start(mh_host *h, mh_error *error) {
        return optional_step(h, STEP_START, NULL, NULL, 0, error);
}

static int script_stop(mh_host *h, mh_error *error) {
        return optional_step(h, STEP_STOP, NULL, NULL, 0, error);
}

static int script_ready(mh_host *h, unsigned timeout_msec, mh_error *error) {
        return optional_step(h, STEP_READY, NULL, NULL, timeout_msec, error);
}

static int script_backup(mh_host *h, mh_backup *b, mh_error *error) {
        return required_step(h, STEP_BACKUP, b, NULL, error);
}

static int script_restore(mh_host *h, mh_backup *b, const mh_restore_options *options,
                          mh_error *error) {
        return required_step(h, STEP_RESTORE, b, options, error);
}

/* The scripts keep everything in b->dir: a dead run's backup needs no reading. */
static int script_load(_unused_ mh_host *h, _unused_ mh_backup *b, _unused_ mh_error *error) {
        return 0;
}

static int script_drop(mh_host *h, mh_backup *b, mh_error *error) {
        /* Called with a NULL error when the host is freed: nothing in memory to forget. */
        if (!error)
                return 0;
        return optional_step(h, STEP_DROP, b, NULL, 0, error);
}

const mh_host_type mh_host_type_script = {
        .abi = MH_HOST_TYPE_ABI,
        .name = "script",
        .size = sizeof(mh_host),
        .settings = script_settings_table,
        .settings_size = sizeof(script_settings),
        .start = script_start,
        .stop = script_stop,
        .ready = script_ready,
        .backup = script_backup,
        .restore = script_restore,
        .load = script_load,
        .drop = script_drop,
};
