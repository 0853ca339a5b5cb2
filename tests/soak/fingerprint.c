/* SPDX-License-Identifier: MIT */
/*
 * The soak's fingerprint of a host: what a soak must leave as it found it,
 * read over SSH and kept as text, one file per host.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <mhc/mhc.h>

#include "macro.h"
#include "soak.h"

/* How long the fingerprint's commands may take on a host. */
#define TIMEOUT_MSEC (300u * 1000u)
/* The names of the postgresql type's template copies (hosts/postgresql.c). */
#define PG_COPY_PREFIX "mhcbk_"

/* The whole file at path (NUL-terminated), or NULL with errno set. */
char *read_text(const char *path) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        mh_buf b = MH_BUF_INIT(OUTPUT_MAX);
        char chunk[65536];
        size_t n;

        if (!f)
                return NULL;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
                if (mh_buf_append(&b, chunk, n) < 0) {
                        mh_buf_dispose(&b);
                        errno = EFBIG;
                        return NULL;
                }
        if (ferror(f)) {
                mh_buf_dispose(&b);
                errno = EIO;
                return NULL;
        }
        return b.data ? mh_buf_steal(&b, NULL) : strdup("");
}

int write_text(const char *path, const char *text) {
        _cleanup_fclose_ FILE *f = fopen(path, "we");

        if (!f || fputs(text, f) < 0 || fflush(f) != 0)
                return -errno;
        return 0;
}

/* The line of text that starts at p, as a new string. */
char *line_at(const char *p) {
        return strndup(p, strcspn(p, "\n"));
}

/*
 * Shell code that prints the state of host h that a soak must not change,
 * one sorted section after another: for each backup path every entry
 * (type, mode, owner, size of files, target of links; not times: a
 * restore may change those of directories) and the sha256 of each file;
 * is-active and is-enabled of each service; what is in mhc's state
 * directory; the faults' nftables rules, units and drop-ins; on a postgresql host the databases, a hash of pg_dumpall and
 * of each database's pg_dump (their version comments and \restrict keys
 * left out).
 */
static int script(const mh_host_config *h, char **ret) {
        mh_buf b = MH_BUF_INIT((size_t) 1 << 20);
        int r = mh_buf_printf(&b,
                              "cd / || exit 1; export LC_ALL=C\n"
                              "echo \"state $(ls -A /var/lib/mhc 2>/dev/null | tr '\\n' ' ')\"\n"
                              /* faults: nftables rules, timers and drop-ins */
                              "! command -v nft >/dev/null || nft list ruleset | sed 's/^/nft /'\n"
                              /* active or failed: one that ran and is dead waits for
                               * systemd's garbage collection, at its own pace */
                              "systemctl list-units --state=active,failed --plain --no-legend "
                              "'mhc-heal-*' 'mhc-fault-*' | sed 's/^/fault unit /'\n"
                              "ls -d /run/systemd/system/*.d/mhc-fault-* 2>/dev/null | "
                              "sed 's/^/fault drop-in /'\n");

        for (size_t i = 0; r >= 0 && i < mh_host_config_n_backup_paths(h); i++) {
                _cleanup_free_ char *q = NULL;

                if (mh_shell_quote(mh_host_config_backup_path(h, i), &q) < 0) {
                        r = -ENOMEM;
                        break;
                }
                r = mh_buf_printf(
                        &b,
                        "p=%s; echo \"path $p\"\n"
                        "if [ -e \"$p\" ] || [ -L \"$p\" ]; then\n"
                        "  l=$(find \"$p\" -xdev \\( -type d -printf 'dir %%m %%u:%%g %%p\\n' \\) "
                        "-o \\( -type l -printf 'link %%m %%u:%%g %%p -> %%l\\n' \\) "
                        "-o \\( -type f -printf 'file %%m %%u:%%g %%s %%p\\n' \\) "
                        "-o -printf 'other %%y %%m %%u:%%g %%p\\n') || exit 1\n"
                        "  printf '%%s\\n' \"$l\" | sort\n"
                        "  l=$(find \"$p\" -xdev -type f -exec sha256sum -- {} +) || exit 1\n"
                        "  printf '%%s\\n' \"$l\" | sort -k 2\n"
                        "else echo \"missing $p\"; fi\n",
                        q);
        }
        for (size_t i = 0; r >= 0 && i < mh_host_config_n_services(h); i++) {
                _cleanup_free_ char *q = NULL;

                if (mh_shell_quote(mh_host_config_service(h, i), &q) < 0) {
                        r = -ENOMEM;
                        break;
                }
                r = mh_buf_printf(&b,
                                  "u=%s; echo \"unit $u $(systemctl is-active \"$u\") "
                                  "$(systemctl is-enabled \"$u\")\"\n",
                                  q);
        }
        if (r >= 0 && streq(mh_host_config_type(h), "postgresql"))
                r = mh_buf_printf(
                        &b,
                        "pg() { runuser -u postgres -- \"$@\"; }\n"
                        "strip() { grep -v -e '^-- Dumped from ' -e '^-- Dumped by ' "
                        "-e '^\\\\restrict ' -e '^\\\\unrestrict '; }\n"
                        "d=$(pg psql -XAtc \"SELECT datname || ' ' || pg_get_userbyid(datdba) || "
                        "' ' || datallowconn || ' ' || datistemplate FROM pg_database ORDER BY "
                        "1\") || exit 1\n"
                        "printf '%%s\\n' \"$d\" | sed 's/^/database /'\n"
                        "x=$(pg pg_dumpall) || exit 1\n"
                        "echo \"pg_dumpall $(printf '%%s\\n' \"$x\" | strip | sha256sum | "
                        "cut -d ' ' -f 1)\"\n"
                        "printf '%%s\\n' \"$d\" | while read -r n o a t; do\n"
                        "  [ \"$a\" = t ] || continue\n"
                        "  x=$(pg pg_dump -d \"$n\") || exit 1\n"
                        "  echo \"pg_dump $n $(printf '%%s\\n' \"$x\" | strip | sha256sum | "
                        "cut -d ' ' -f 1)\"\n"
                        "done || exit 1\n");
        if (r < 0) {
                mh_buf_dispose(&b);
                return r;
        }
        *ret = mh_buf_steal(&b, NULL);
        return 0;
}

int fingerprint_take(const mh_config *config, const char *dir) {
        size_t n = mh_config_n_hosts(config);
        _cleanup_free_ const mh_host_config **hosts = calloc(n ? n : 1, sizeof(*hosts));
        _cleanup_free_ mh_ssh **sessions = calloc(n ? n : 1, sizeof(*sessions));
        _cleanup_free_ mh_error *errors = calloc(n ? n : 1, sizeof(*errors));
        int r = 0;

        if (!hosts || !sessions || !errors)
                return -ENOMEM;
        if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
                fprintf(stderr, "soak: cannot make %s: %m\n", dir);
                return -errno;
        }
        for (size_t i = 0; i < n; i++)
                hosts[i] = mh_config_host(config, i);
        (void) mh_ssh_connect_many(hosts, n, sessions, errors);
        for (size_t i = 0; i < n; i++) {
                const char *name = mh_host_config_hostname(hosts[i]);
                const mh_exec_options o = { .timeout_msec = TIMEOUT_MSEC };
                _cleanup_free_ char *text = NULL, *path = NULL;
                mh_exec_result res = {};
                mh_error e = MH_ERROR_INIT;
                char summary[MH_EXEC_SUMMARY_SIZE];

                if (!sessions[i]) {
                        fprintf(stderr, "soak: %s: cannot connect: %s\n", name, errors[i].message);
                        r = -ENOTCONN;
                        continue;
                }
                if (script(hosts[i], &text) < 0 || asprintf(&path, "%s/%s", dir, name) < 0) {
                        path = NULL;
                        r = -ENOMEM;
                        continue;
                }
                if (mh_ssh_exec(sessions[i], text, &o, &res, &e) < 0) {
                        fprintf(stderr, "soak: %s: cannot take the fingerprint: %s\n", name,
                                e.message);
                        r = e.code;
                        continue;
                }
                if (res.exit_status != 0) {
                        fprintf(stderr, "soak: %s: the fingerprint failed with %s\n", name,
                                mh_exec_result_summary(&res, summary, sizeof(summary)));
                        r = -EIO;
                } else if (write_text(path, res.out) < 0) {
                        fprintf(stderr, "soak: cannot write %s: %m\n", path);
                        r = -errno;
                }
                mh_exec_result_dispose(&res);
        }
        for (size_t i = 0; i < n; i++)
                mh_ssh_free(sessions[i]);
        return r;
}

int fingerprint_compare(const mh_config *config, const char *before_dir, const char *after_dir) {
        int dirty = 0;

        for (size_t i = 0; i < mh_config_n_hosts(config); i++) {
                const char *name = mh_host_config_hostname(mh_config_host(config, i));
                _cleanup_free_ char *bp = NULL, *ap = NULL, *before = NULL, *after = NULL;
                const char *b, *a;
                unsigned line = 1;
                bool copies = false;

                if (asprintf(&bp, "%s/%s", before_dir, name) < 0 ||
                    asprintf(&ap, "%s/%s", after_dir, name) < 0)
                        return -ENOMEM;
                before = read_text(bp);
                after = read_text(ap);
                if (!before) {
                        fprintf(stderr, "soak: cannot read %s: %m\n", bp);
                        return -EIO;
                }
                if (!after) {
                        /* Unreachable, or its fingerprint failed: said above. */
                        printf("soak: %s is dirty: no fingerprint after the soak\n", name);
                        dirty++;
                        continue;
                }
                for (const char *p = after; (p = strstr(p, "database " PG_COPY_PREFIX)); p++)
                        if (p == after || p[-1] == '\n') {
                                _cleanup_free_ char *l = line_at(p);

                                printf("soak: %s: a backup's template copy is left: %s\n", name,
                                       strempty(l));
                                copies = true;
                        }
                if (streq(before, after) && !copies)
                        continue;
                dirty++;
                if (streq(before, after))
                        continue;
                for (b = before, a = after; *b && *a; line++) {
                        size_t nb = strcspn(b, "\n"), na = strcspn(a, "\n");

                        if (nb != na || memcmp(a, b, na) != 0)
                                break;
                        b += nb + (b[nb] == '\n');
                        a += na + (a[na] == '\n');
                }
                {
                        _cleanup_free_ char *lb = line_at(b), *la = line_at(a);

                        printf("soak: %s is dirty: first difference at line %u: before '%s', "
                               "after '%s' (diff %s %s)\n",
                               name, line, *b ? strempty(lb) : "(end)", *a ? strempty(la) : "(end)",
                               bp, ap);
                }
        }
        return dirty;
}
