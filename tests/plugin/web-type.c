/* SPDX-License-Identifier: MIT */
/*
 * An example plug-in that extends the systemd host type, as postgresql
 * does: a web server host.  It adds two settings to systemd's (which it
 * keeps: services, backup paths, verify, ...), and a readiness check: the
 * server answers on its port, after systemd's own ready() and after every
 * restore; its other slots are systemd's.  Loaded by tests/integration/test-host as
 * `type: plugin:/.../web-type.so`; mhc-host-type(3) shows it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mhc/shell.h>
#include <mhc/sys/host.h>

/* The symbol libmhc looks up (MH_HOST_TYPE_PLUGIN_SYMBOL). */
MH_EXPORT extern const mh_host_type mh_host_type_plugin;

/* config: of a web host, besides the systemd type's keys. */
typedef struct web_settings {
        char *document_root;    /* required; must lie under one of backup.paths */
        unsigned port;          /* default 80 */
} web_settings;

static const mh_setting web_settings_table[] = {
        { "document_root", MH_SETTING_STRING, offsetof(web_settings, document_root),
          MH_SETTING_REQUIRED },
        { "port", MH_SETTING_INTEGER, offsetof(web_settings, port), .max = 65535 },
        {},
};

/* The object starts with the systemd type's, which starts with mh_host. */
typedef struct web_host {
        mh_systemd_host base;
        unsigned checks;        /* answers the server gave to checks */
} web_host;

MH_DEFINE_HOST_CAST(web_host_of, web_host, mh_host_type_plugin);

/* How many checks h's server answered, or -1 if h is not a web host; for the test. */
MH_EXPORT int mh_web_type_checks(mh_host *h);

int mh_web_type_checks(mh_host *h) {
        web_host *w = web_host_of(h);

        return w ? (int) w->checks : -1;
}

static int path_under(const char *path, const char *dir) {
        size_t n = strlen(dir);

        return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static int web_check(const mh_host_config *h, const void *settings, mh_error *error) {
        const web_settings *s = settings;

        for (size_t i = 0; i < mh_host_config_n_backup_paths(h); i++)
                if (path_under(s->document_root, mh_host_config_backup_path(h, i)))
                        return 0;
        return mh_host_config_fail_setting(h, "document_root", SIZE_MAX, error,
                                           "'document_root' %s is not under the host's backup "
                                           "paths, so a restore would not put it back",
                                           s->document_root);
}

/* Ask the server on the host for its page until it answers, at most timeout_msec. */
static int answers(mh_host *h, unsigned timeout_msec, mh_error *error) {
        const web_settings *s = mh_host_settings(h, &mh_host_type_plugin);
        uint64_t deadline = mh_now_usec() + (uint64_t) timeout_msec * 1000;
        char command[128];
        int r;

        snprintf(command, sizeof(command), "curl -fsS -o /dev/null http://127.0.0.1:%u/",
                 s->port ? s->port : 80);
        for (;;) {
                mh_exec_result res = {};

                r = mh_ssh_exec(h->ssh, command, NULL, &res, error);
                if (r < 0)
                        return r;
                r = res.exit_status;
                mh_exec_result_dispose(&res);
                if (r == 0) {
                        web_host_of(h)->checks++;
                        return 0;
                }
                if (mh_now_usec() >= deadline)
                        return mh_error_set(error, -ETIMEDOUT,
                                            "the web server does not answer on port %u "
                                            "(curl's exit status %d)",
                                            s->port ? s->port : 80, r);
                nanosleep(&(struct timespec){ .tv_nsec = 100 * 1000 * 1000 }, NULL);
        }
}

static int web_ready(mh_host *h, unsigned timeout_msec, mh_error *error) {
        int r = mh_host_type_systemd.ready(h, timeout_msec, error);

        return r < 0 ? r : answers(h, timeout_msec, error);
}

/* systemd's restore puts files and units back; then the server must answer. */
static int web_restore(mh_host *h, mh_backup *b, const mh_restore_options *options,
                       mh_error *error) {
        int r = mh_host_type_systemd.restore(h, b, options, error);

        return r < 0 ? r : answers(h, 10000, error);
}

const mh_host_type mh_host_type_plugin = {
        .abi = MH_HOST_TYPE_ABI,
        .name = "web",
        .size = sizeof(web_host),
        .parent = &mh_host_type_systemd,
        .keys = MH_HOST_KEY_SERVICES | MH_HOST_KEY_BACKUP_PATHS,
        .settings = web_settings_table,
        .settings_size = sizeof(web_settings),
        .check = web_check,
        /* init, done, start, stop, backup and drop: systemd's (NULL slots inherit) */
        .ready = web_ready,
        .restore = web_restore,
};
