/* SPDX-License-Identifier: MIT */
#ifndef MH_TEST_LAB_H
#define MH_TEST_LAB_H

/*
 * Helpers for tests that run against the lab's real hosts (tests/lab/up),
 * inside its network namespace: where its files are, and an mh_config for
 * its hosts built from YAML text.  Header-only; every function is static.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mhc/config.h>
#include <mhc/error.h>

#define LAB_STATE         "/var/lib/mhc-lab"
#define LAB_KEY           LAB_STATE "/ssh/id_ed25519"
#define LAB_KNOWN_HOSTS   LAB_STATE "/ssh/known_hosts"
#define LAB_PASSWORD_FILE LAB_STATE "/password"
#define LAB_HOSTS_FILE    "/run/mhc-lab/hosts"
#define LAB_DOMAIN        "lab.test"
#define LAB_PASSWORD_USER "mhcuser"

/* Pass as lab_conn.private_key for a host without a key. */
#define LAB_NO_KEY ""

/*
 * How to reach one lab host; zero fields take the lab's defaults: the
 * host's lab address, port 22, root, the lab key and known_hosts, strict
 * host keys, a 5 s connect timeout and a 60 s command timeout.
 */
typedef struct lab_conn {
        const char *address;
        unsigned port;
        const char *user;
        const char *private_key; /* LAB_NO_KEY: none */
        const char *password;    /* NULL: none */
        const char *known_hosts;
        const char *host_key_policy; /* "strict", "accept-new", "off" */
        unsigned connect_timeout;
        unsigned command_timeout;
        /* More keys of the host (type:, config:, backup:, artifacts:), as YAML
         * lines indented by 8 spaces, each ending in a newline; NULL: none. */
        const char *yaml;
} lab_conn;

/* Whether the lab is up and readable from here. */
static inline bool lab_is_up(void) {
        return access(LAB_KEY, R_OK) == 0 && access(LAB_KNOWN_HOSTS, R_OK) == 0 &&
               access("/run/netns/mhclab", F_OK) == 0;
}

/* The lab address of host name ("server") into buf; false if unknown. */
static inline bool lab_address(const char *name, char *buf, size_t size) {
        static const struct {
                const char *name, *octet;
        } fallback[] = { { "client", "11" }, { "server", "12" }, { "db", "13" } };
        char line[256], n[128], a[128];
        FILE *f = fopen(LAB_HOSTS_FILE, "re");

        if (f) {
                while (fgets(line, sizeof(line), f))
                        if (sscanf(line, "%127s %127s", n, a) == 2 && strcmp(n, name) == 0) {
                                fclose(f);
                                snprintf(buf, size, "%s", a);
                                return true;
                        }
                fclose(f);
        }
        for (size_t i = 0; i < sizeof(fallback) / sizeof(fallback[0]); i++)
                if (strcmp(fallback[i].name, name) == 0) {
                        const char *subnet = getenv("MHC_LAB_SUBNET");

                        snprintf(buf, size, "%s.%s", subnet && *subnet ? subnet : "10.213.0",
                                 fallback[i].octet);
                        return true;
                }
        return false;
}

/* The lab's password of mhcuser, malloc'd, or NULL. */
static inline char *lab_password(void) {
        char buf[256];
        FILE *f = fopen(LAB_PASSWORD_FILE, "re");
        size_t n;

        if (!f)
                return NULL;
        if (!fgets(buf, sizeof(buf), f)) {
                fclose(f);
                return NULL;
        }
        fclose(f);
        n = strcspn(buf, "\r\n");
        buf[n] = '\0';
        return strdup(buf);
}

/* Append printf output to the malloc'd string *s (NULL after a failure). */
static inline void lab_append(char **s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void lab_append(char **s, const char *fmt, ...) {
        char *more = NULL, *joined = NULL;
        va_list ap;
        int r;

        if (!*s)
                return;
        va_start(ap, fmt);
        r = vasprintf(&more, fmt, ap);
        va_end(ap);
        if (r < 0 || asprintf(&joined, "%s%s", *s, more) < 0)
                joined = NULL;
        free(more);
        free(*s);
        *s = joined;
}

/* A YAML single-quoted scalar ('' for each '). */
static inline void lab_append_quoted(char **s, const char *value) {
        lab_append(s, "'");
        for (const char *p = value; *s && *p; p++)
                lab_append(s, *p == '\'' ? "''" : "%c", *p);
        lab_append(s, "'");
}

/*
 * The YAML of a configuration with the lab hosts names[0..n) (hostname
 * NAME.lab.test, role NAME), conns[i] for each (conns may be NULL).
 * Returns malloc'd text or NULL.
 */
static inline char *lab_config_yaml(size_t n, const char *const *names, const lab_conn *conns) {
        char *s = strdup("domains:\n  - id: lab\n    hosts:\n");

        for (size_t i = 0; s && i < n; i++) {
                const lab_conn *c = conns ? &conns[i] : &(const lab_conn){};
                char address[128];

                if (!c->address && !lab_address(names[i], address, sizeof(address))) {
                        free(s);
                        return NULL;
                }
                lab_append(&s, "      - hostname: %s.%s\n        role: %s\n        conn:\n",
                           names[i], LAB_DOMAIN, names[i]);
                lab_append(&s, "          host: ");
                lab_append_quoted(&s, c->address ? c->address : address);
                lab_append(&s, "\n          port: %u\n          user: ", c->port ? c->port : 22);
                lab_append_quoted(&s, c->user ? c->user : "root");
                if (!c->private_key || c->private_key[0]) {
                        lab_append(&s, "\n          private_key: ");
                        lab_append_quoted(&s, c->private_key ? c->private_key : LAB_KEY);
                }
                if (c->password) {
                        lab_append(&s, "\n          password: ");
                        lab_append_quoted(&s, c->password);
                }
                lab_append(&s, "\n          known_hosts: ");
                lab_append_quoted(&s, c->known_hosts ? c->known_hosts : LAB_KNOWN_HOSTS);
                lab_append(&s,
                           "\n          host_key_policy: %s\n          connect_timeout: %u\n"
                           "          command_timeout: %u\n",
                           c->host_key_policy ? c->host_key_policy : "strict",
                           c->connect_timeout ? c->connect_timeout : 5,
                           c->command_timeout ? c->command_timeout : 60);
                if (c->yaml)
                        lab_append(&s, "%s", c->yaml);
        }
        return s;
}

/* Parse lab_config_yaml() into *ret; error says why not. */
static inline int lab_config_new(size_t n, const char *const *names, const lab_conn *conns,
                                 mh_config **ret, mh_error *error) {
        char *yaml = lab_config_yaml(n, names, conns);
        int r;

        if (!yaml)
                return mh_error_set(error, -ENOMEM, "cannot build the lab configuration");
        r = mh_config_parse(yaml, strlen(yaml), "lab.yaml", "/", ret, error);
        free(yaml);
        return r;
}

/* The configuration of one lab host and that host, for the common case. */
static inline const mh_host_config *lab_config_one(const char *name, const lab_conn *conn,
                                                   mh_config **ret, mh_error *error) {
        const char *names[] = { name };

        if (lab_config_new(1, names, conn, ret, error) < 0)
                return NULL;
        return mh_config_host(*ret, 0);
}

#endif
