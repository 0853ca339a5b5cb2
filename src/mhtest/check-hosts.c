/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mhtest.h"
#include "util.h"

/* What --check-hosts learnt about one host. */
typedef struct row {
        const mh_host_config *host;
        bool verbose;           /* -v: show each command on stderr */
        int r;                  /* < 0: connecting or probing failed */
        bool connected;
        mh_probe probe;
        mh_error error;
} row;

/* With -v, each command of the probe as it finished. */
static void log_command(const mh_command_record *r, void *userdata) {
        fprintf(stderr, "mhtest: %s: $ %s  [exit %d, %.1f ms]\n", r->host, r->command,
                r->exit_status, r->duration_usec / 1000.0);
}

static int check_one(size_t i, void *userdata) {
        row *rw = &((row *) userdata)[i];
        mh_ssh *s = NULL;

        rw->r = mh_ssh_connect(rw->host, &s, &rw->error);
        if (rw->r >= 0) {
                rw->connected = true;
                if (rw->verbose)
                        mh_ssh_set_command_observer(s, log_command, NULL);
                rw->r = mh_probe_host(s, &rw->probe, &rw->error);
        }
        mh_ssh_free(s);
        return rw->r;
}

/* The state of each stage of a connection, from the error that ended it. */
static void stages(const row *rw, const char **reach, const char **key, const char **auth) {
        int code = rw->connected ? 0 : rw->r;

        *reach = code == 0 || code == -MH_ERR_HOST_KEY || code == -MH_ERR_AUTH ? "ok" : "FAIL";
        *key = code == 0 || code == -MH_ERR_AUTH ? "ok" : code == -MH_ERR_HOST_KEY ? "FAIL" : "-";
        *auth = code == 0 ? "ok" : code == -MH_ERR_AUTH ? "FAIL" : "-";
}

static bool usable(const row *rw) {
        return rw->r >= 0 && mh_probe_usable(&rw->probe);
}

/* The columns of the table; widths are computed from the rows. */
enum { C_HOST, C_ROLE, C_TYPE, C_ADDRESS, C_REACH, C_KEY, C_AUTH, C_OS, C_SYSTEMD, C_RTT, N_COLUMNS };

static const char *const headers[N_COLUMNS] = {
        "HOST", "ROLE", "TYPE", "ADDRESS", "REACH", "HOSTKEY", "AUTH", "OS", "SYSTEMD", "RTT",
};

static void cells(const row *rw, char address[], size_t address_size, char rtt[], size_t rtt_size,
                  const char *out[N_COLUMNS]) {
        snprintf(address, address_size, "%s:%u", mh_host_config_address(rw->host),
                 mh_host_config_port(rw->host));
        if (rw->r >= 0)
                snprintf(rtt, rtt_size, "%.1f ms", rw->probe.rtt_usec / 1000.0);
        else
                snprintf(rtt, rtt_size, "-");

        out[C_HOST] = mh_host_config_hostname(rw->host);
        out[C_ROLE] = mh_host_config_role(rw->host);
        out[C_TYPE] = mh_host_config_type(rw->host);
        out[C_ADDRESS] = address;
        stages(rw, &out[C_REACH], &out[C_KEY], &out[C_AUTH]);
        out[C_OS] = rw->r >= 0 && rw->probe.os[0] ? rw->probe.os : "-";
        out[C_SYSTEMD] = rw->r >= 0 ? rw->probe.system_state : "-";
        out[C_RTT] = rtt;
}

static const char *cell_color(const arguments *args, int column, const char *text, const row *rw) {
        if (column == C_REACH || column == C_KEY || column == C_AUTH)
                return streq(text, "ok") ? color_on(args, COLOR_GREEN)
                       : streq(text, "FAIL") ? color_on(args, COLOR_RED) : "";
        if (column == C_SYSTEMD && rw->r >= 0)
                return streq(text, "running") ? color_on(args, COLOR_GREEN)
                       : usable(rw) ? color_on(args, COLOR_YELLOW) : color_on(args, COLOR_RED);
        return "";
}

/* Give the console the secrets of config's hosts (their types know them) before any
 * connects; false without memory or when a host cannot be made. */
static bool hide_secrets(const mh_config *config) {
        size_t n = mh_config_n_hosts(config);
        mh_host **hosts = calloc(n ? n : 1, sizeof(*hosts));
        const char **secrets = NULL;
        size_t n_secrets = 0;
        bool ok = hosts;

        for (size_t i = 0; ok && i < n; i++) {
                mh_error e = MH_ERROR_INIT;

                ok = mh_host_new(mh_config_host(config, i), &hosts[i], &e) >= 0;
                if (ok)
                        n_secrets += mh_host_n_secrets(hosts[i]);
        }
        if (ok)
                ok = (secrets = calloc(n_secrets + 1, sizeof(*secrets)));
        n_secrets = 0;
        for (size_t i = 0; ok && i < n; i++)
                for (size_t j = 0; j < mh_host_n_secrets(hosts[i]); j++)
                        secrets[n_secrets++] = mh_host_secret(hosts[i], j);
        if (ok)
                ok = console_set_secrets(secrets) >= 0;
        free(secrets);
        for (size_t i = 0; hosts && i < n; i++)
                mh_host_free(hosts[i]);
        free(hosts);
        return ok;
}

int check_hosts(const arguments *args, const mh_config *config) {
        size_t n = mh_config_n_hosts(config), width[N_COLUMNS], n_usable = 0;
        char address[300], rtt[32];
        const char *c[N_COLUMNS];
        row *rows;

        rows = calloc(n ? n : 1, sizeof(row));
        if (!rows || !hide_secrets(config)) {
                fprintf(stderr, "mhtest: out of memory\n");
                free(rows);
                return EXIT_LAB;
        }
        for (size_t i = 0; i < n; i++) {
                rows[i].host = mh_config_host(config, i);
                rows[i].verbose = args->verbosity > 0;
        }

        (void) mh_parallel_for(n, check_one, rows);

        for (size_t k = 0; k < N_COLUMNS; k++)
                width[k] = strlen(headers[k]);
        for (size_t i = 0; i < n; i++) {
                cells(&rows[i], address, sizeof(address), rtt, sizeof(rtt), c);
                for (size_t k = 0; k < N_COLUMNS; k++)
                        if (strlen(c[k]) > width[k])
                                width[k] = strlen(c[k]);
        }

        if (args->verbosity >= 0) {
                printf("%s", color_on(args, COLOR_BOLD));
                for (size_t k = 0; k < N_COLUMNS; k++)
                        printf("%-*s%s", k + 1 < N_COLUMNS ? (int) width[k] : 0, headers[k],
                               k + 1 < N_COLUMNS ? "  " : "");
                printf("%s\n", color_off(args));
        }
        for (size_t i = 0; i < n; i++) {
                bool ok = usable(&rows[i]);

                n_usable += ok;
                if (ok && args->verbosity < 0)
                        continue;
                cells(&rows[i], address, sizeof(address), rtt, sizeof(rtt), c);
                for (size_t k = 0; k < N_COLUMNS; k++) {
                        const char *color = cell_color(args, (int) k, c[k], &rows[i]);

                        printf("%s%-*s%s%s", color, k + 1 < N_COLUMNS ? (int) width[k] : 0, c[k],
                               *color ? color_off(args) : "", k + 1 < N_COLUMNS ? "  " : "");
                }
                printf("\n");
        }

        /* Below the table, one line per unusable host saying why. */
        for (size_t i = 0; i < n; i++) {
                const row *rw = &rows[i];

                if (usable(rw))
                        continue;
                /* The SSH layer does not name the host: we do. */
                if (rw->r < 0)
                        console_printf(stdout, "host '%s': %s\n", mh_host_config_hostname(rw->host),
                                       mh_error_message(&rw->error, rw->r));
                else
                        printf("host '%s': systemd is '%s', not running (wait for boot to finish, or "
                               "see systemctl --failed on the host)\n",
                               mh_host_config_hostname(rw->host), rw->probe.system_state);
        }
        printf("%zu of %zu hosts usable\n", n_usable, n);

        free(rows);
        (void) console_set_secrets(NULL);
        return n_usable == n ? EXIT_PASSED : EXIT_LAB;
}
