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
#include <mhc/systemd.h>
#include <mhc/sys/host.h>

#include "config.h"
#include "systemd.h"
#include "util.h"
#include "yaml.h"

/* Paths the restore script reports by name, per list; beyond, only counts. */
#define REPORT_CAP 1000
/* Output of the file script: REPORT_CAP paths of each kind and some more. */
#define FILES_MAX_OUTPUT ((size_t) 16 << 20)
/* Paths named in a verify error. */
#define VERIFY_SHOWN 5

/*
 * The script on the host, written into the backup directory at backup:
 * `sh files.sh backup|restore|full DIR VERIFY CAP PATH...` with PATHs
 * relative to /.  It prints NUL-terminated records: "unchanged" or
 * "changed", "R path" (restored) and "D path" (removed) up to CAP of each
 * and "NR n"/"ND n" (their counts), "V path" for each of the first paths
 * that differ from the backup when VERIFY is 1, and "ok" last.
 */
static const char files_script[] =
        "# mhc systemd host: file backup and change-aware restore (see hosts/systemd.c)\n"
        "# usage: sh files.sh backup|restore|full DIR VERIFY CAP PATH...\n"
        "set -u\n"
        "export LC_ALL=C\n"
        "mode=$1 dir=$2 verify=$3 cap=$4\n"
        "shift 4\n"
        "cd / || exit 70\n"
        "umask 077\n"
        "t=$dir/tmp\n"
        "rm -rf \"$t\" && mkdir \"$t\" || exit 70\n"
        "\n"
        "die() {\n"
        "        printf 'mhc: %s\\n' \"$1\" >&2\n"
        "        exit 1\n"
        "}\n"
        "\n"
        "# The sorted manifest of the paths that exist (sockets left out: tar skips them).\n"
        "manifest() {\n"
        "        out=$1\n"
        "        shift\n"
        "        n=$#\n"
        "        while [ \"$n\" -gt 0 ]; do\n"
        "                p=$1\n"
        "                shift\n"
        "                n=$((n - 1))\n"
        "                if [ -e \"$p\" ] || [ -L \"$p\" ]; then\n"
        "                        set -- \"$@\" \"$p\"\n"
        "                fi\n"
        "        done\n"
        "        if [ $# -eq 0 ]; then\n"
        "                : >\"$out\"\n"
        "                return 0\n"
        "        fi\n"
        "        find \"$@\" ! -type s \\( -type d -printf 'd 0 %m %U %G %T@ %C@ %i %n %p\\0' \\\n"
        "                -o -printf '%y %s %m %U %G %T@ %C@ %i %n %p\\0' \\) >\"$out.u\" || return "
        "1\n"
        "        sort -z \"$out.u\" >\"$out\" && rm -f \"$out.u\"\n"
        "}\n"
        "\n"
        "paths() {\n"
        "        sed -z 's/^\\([^ ]* \\)\\{9\\}//' \"$1\" | sort -zu\n"
        "}\n"
        "\n"
        "count() {\n"
        "        tr -cd '\\000' <\"$1\" | wc -c\n"
        "}\n"
        "\n"
        "# Print the list $2 as records \"$1 PATH\", at most cap of them, and its size.\n"
        "report() {\n"
        "        sed -z \"s/^/$1 /\" \"$2\" | head -z -n \"$cap\"\n"
        "        printf 'N%s %s\\0' \"$1\" \"$(count \"$2\")\"\n"
        "}\n"
        "\n"
        "# The manifest less ctime and inode, for comparing with the backup.\n"
        "strip() {\n"
        "        sed -z 's/^\\(\\([^ ]* \\)\\{6\\}\\)[^ ]* [^ ]* /\\1/' \"$1\" | sort -z\n"
        "}\n"
        "\n"
        "verify() {\n"
        "        [ \"$verify\" = 1 ] || return 0\n"
        "        strip \"$dir/manifest\" >\"$t/v.old\"\n"
        "        strip \"$1\" >\"$t/v.new\"\n"
        "        cmp -s \"$t/v.old\" \"$t/v.new\" && return 0\n"
        "        comm -z -3 \"$t/v.old\" \"$t/v.new\" | sed -z 's/^[\\t]*\\([^ ]* \\)\\{7\\}//' | "
        "sort -zu \\\n"
        "                | head -z -n 10 | sed -z 's/^/V /'\n"
        "}\n"
        "\n"
        "untar() {\n"
        "        tar -x --xattrs --xattrs-include='*' --acls --numeric-owner -f \"$dir/files.tar\" "
        "-C / \"$@\" \\\n"
        "                2>\"$t/tar.err\" || die \"tar failed: $(head -c 400 \"$t/tar.err\" | tr "
        "'\\n' ' ')\"\n"
        "}\n"
        "\n"
        "# tar adds the xattrs of a directory it does not re-create, it removes none.\n"
        "clear_dir_xattrs() {\n"
        "        command -v getfattr >/dev/null 2>&1 && command -v setfattr >/dev/null 2>&1 || "
        "return 0\n"
        "        xargs -0r sh -c 'for d; do\n"
        "                [ -d \"$d\" ] && [ ! -L \"$d\" ] || continue\n"
        "                getfattr -h -m \"^user\\\\.\" --absolute-names -- \"$d\" 2>/dev/null |\n"
        "                        grep \"^user\\\\.\" | while IFS= read -r x; do\n"
        "                                setfattr -h -x \"$x\" -- \"$d\" 2>/dev/null\n"
        "                        done\n"
        "        done' sh <\"$1\"\n"
        "        return 0\n"
        "}\n"
        "\n"
        "case $mode in\n"
        "backup)\n"
        "        : >\"$t/present\"\n"
        "        for p; do\n"
        "                if [ -e \"$p\" ] || [ -L \"$p\" ]; then\n"
        "                        printf '%s\\0' \"$p\" >>\"$t/present\"\n"
        "                fi\n"
        "        done\n"
        "        tar -c --format=posix --xattrs --xattrs-include='*' --acls --numeric-owner "
        "--sparse \\\n"
        "                -f \"$dir/files.tar\" -C / --null --verbatim-files-from --no-unquote \\\n"
        "                -T \"$t/present\" 2>\"$t/tar.err\"\n"
        "        [ $? -le 1 ] || die \"tar failed: $(head -c 400 \"$t/tar.err\" | tr '\\n' ' ')\"\n"
        "        manifest \"$dir/manifest\" \"$@\" || die \"cannot list the backup paths\"\n"
        "        cp \"$dir/manifest\" \"$dir/current\" || exit 1\n"
        "        ;;\n"
        "restore)\n"
        "        base=$dir/current\n"
        "        manifest \"$t/now\" \"$@\" || die \"cannot list the backup paths\"\n"
        "        if cmp -s \"$base\" \"$t/now\"; then\n"
        "                printf 'unchanged\\0'\n"
        "                verify \"$t/now\"\n"
        "                rm -rf \"$t\"\n"
        "                printf 'ok\\0'\n"
        "                exit 0\n"
        "        fi\n"
        "        # Paths whose type and name are not in the baseline: new, or of another type.\n"
        "        sed -z 's/^\\([^ ]*\\) \\([^ ]* \\)\\{8\\}/\\1 /' \"$base\" | sort -z "
        ">\"$t/tp.base\"\n"
        "        sed -z 's/^\\([^ ]*\\) \\([^ ]* \\)\\{8\\}/\\1 /' \"$t/now\" | sort -z "
        ">\"$t/tp.now\"\n"
        "        comm -z -13 \"$t/tp.base\" \"$t/tp.now\" | sed -z 's/^[^ ]* //' | sort -zu "
        ">\"$t/remove\"\n"
        "        # Entries of the baseline not found as they were, with their hard links.\n"
        "        comm -z -23 \"$base\" \"$t/now\" >\"$t/changed\"\n"
        "        inodes=$(sed -z -n 's/^\\([^ ]* \\)\\{7\\}\\([0-9]*\\) "
        "\\([2-9]\\|[1-9][0-9][0-9]*\\) .*/\\2/p' \\\n"
        "                \"$t/changed\" | tr '\\000' '\\n' | sort -u | paste -sd '|' -)\n"
        "        if [ -n \"$inodes\" ]; then\n"
        "                grep -z -E \"^([^ ]* ){7}($inodes) \" \"$base\" >>\"$t/changed\"\n"
        "        fi\n"
        "        paths \"$t/changed\" >\"$t/extract.0\"\n"
        "        # Parents whose mtime the removal and extraction change.\n"
        "        paths \"$base\" >\"$t/paths.base\"\n"
        "        cat \"$t/extract.0\" \"$t/remove\" | sed -z -n 's|/[^/]*$||p' | sort -zu \\\n"
        "                | comm -z -12 - \"$t/paths.base\" >\"$t/parents\"\n"
        "        sort -zu \"$t/extract.0\" \"$t/parents\" >\"$t/extract\"\n"
        "        if [ -s \"$t/remove\" ]; then\n"
        "                sort -zr \"$t/remove\" | xargs -0r rm -rf -- || die \"cannot remove new "
        "paths\"\n"
        "        fi\n"
        "        if [ -s \"$t/extract\" ]; then\n"
        "                clear_dir_xattrs \"$t/extract\"\n"
        "                untar --no-recursion --null --verbatim-files-from --no-unquote "
        "--no-wildcards \\\n"
        "                        -T \"$t/extract\"\n"
        "        fi\n"
        "        printf 'changed\\0'\n"
        "        report R \"$t/extract\"\n"
        "        report D \"$t/remove\"\n"
        "        manifest \"$t/after\" \"$@\" || die \"cannot list the backup paths\"\n"
        "        mv \"$t/after\" \"$base\" || exit 1\n"
        "        verify \"$base\"\n"
        "        ;;\n"
        "full)\n"
        "        manifest \"$t/now\" \"$@\" || die \"cannot list the backup paths\"\n"
        "        paths \"$t/now\" >\"$t/now.paths\"\n"
        "        paths \"$dir/manifest\" >\"$t/extract\"\n"
        "        comm -z -23 \"$t/now.paths\" \"$t/extract\" >\"$t/remove\"\n"
        "        for p; do\n"
        "                rm -rf -- \"$p\" || die \"cannot remove $p\"\n"
        "        done\n"
        "        if [ -s \"$t/extract\" ]; then\n"
        "                untar\n"
        "        fi\n"
        "        printf 'changed\\0'\n"
        "        report R \"$t/extract\"\n"
        "        report D \"$t/remove\"\n"
        "        manifest \"$dir/current\" \"$@\" || die \"cannot list the backup paths\"\n"
        "        verify \"$dir/current\"\n"
        "        ;;\n"
        "*)\n"
        "        die \"unknown mode $mode\"\n"
        "        ;;\n"
        "esac\n"
        "rm -rf \"$t\"\n"
        "printf 'ok\\0'\n";

typedef struct strv {
        char **v;
        size_t n;
} strv;

static void strv_dispose(strv *s) {
        for (size_t i = 0; i < s->n; i++)
                free(s->v[i]);
        free(s->v);
        *s = (strv){};
}

static int strv_push(strv *s, char *item) {
        char **v;

        v = realloc(s->v, (s->n + 1) * sizeof(char *));
        if (!v) {
                free(item);
                return -ENOMEM;
        }
        s->v = v;
        s->v[s->n++] = item;
        return 0;
}

static bool strv_contains(char *const *v, size_t n, const char *s) {
        for (size_t i = 0; i < n; i++)
                if (streq(v[i], s))
                        return true;
        return false;
}

/* What the file script said. */
typedef struct files_result {
        bool changed;
        size_t n_restored; /* counts, possibly above the lists' sizes */
        size_t n_removed;
        strv restored; /* absolute paths, at most REPORT_CAP */
        strv removed;
        strv differ; /* verify: paths that differ from the backup */
} files_result;

static void files_result_dispose(files_result *f) {
        strv_dispose(&f->restored);
        strv_dispose(&f->removed);
        strv_dispose(&f->differ);
}

/* What a backup remembers of each of the host's services. */
typedef struct unit_record {
        bool active;
        char invocation_id[33];
} unit_record;

typedef struct backup_data {
        size_t n_units;
        unit_record units[];
} backup_data;

static mh_systemd_host *systemd_host(mh_host *h) {
        return (mh_systemd_host *) h;
}

static const char *hostname(const mh_host *h) {
        return mh_host_config_hostname(h->config);
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

static int parse_bool(const mh_host *h, const mh_node *key, const mh_node *n, bool *ret,
                      mh_error *error) {
        if (n->kind == MH_NODE_SCALAR && n->plain && streq(n->value, "true")) {
                *ret = true;
                return 0;
        }
        if (n->kind == MH_NODE_SCALAR && n->plain && streq(n->value, "false")) {
                *ret = false;
                return 0;
        }
        return mh_host_config_fail(h->config, n, error,
                                   "'%s' in config of %s host must be true or false", key->value,
                                   h->type->name);
}

static int check_service(const mh_host *h, const mh_node *n, const char *what, mh_error *error) {
        if (n->kind != MH_NODE_SCALAR)
                return mh_host_config_fail(h->config, n, error,
                                           "each unit of '%s' must be a string, not %s", what,
                                           mh_node_kind_to_string(n->kind));
        for (size_t i = 0; i < mh_host_config_n_services(h->config); i++)
                if (streq(mh_host_config_service(h->config, i), n->value))
                        return 0;
        return mh_host_config_fail(h->config, n, error,
                                   "'%s' in '%s' is not one of the host's services", n->value,
                                   what);
}

static int parse_restart_always(mh_host *h, const mh_node *n, mh_error *error) {
        mh_systemd_host *sh = systemd_host(h);
        int r;

        if (n->kind != MH_NODE_SEQUENCE)
                return mh_host_config_fail(h->config, n, error,
                                           "'restart_always' must be a sequence, not %s",
                                           mh_node_kind_to_string(n->kind));
        sh->restart_always = calloc(n->n_items ?: 1, sizeof(char *));
        if (!sh->restart_always)
                return -ENOMEM;
        for (size_t i = 0; i < n->n_items; i++) {
                r = check_service(h, n->items[i], "restart_always", error);
                if (r < 0)
                        return r;
                sh->restart_always[i] = strdup(n->items[i]->value);
                if (!sh->restart_always[i])
                        return -ENOMEM;
                sh->n_restart_always++;
        }
        return 0;
}

/* An absolute path without its trailing slashes, or NULL. */
static char *absolute_path(const mh_node *n) {
        size_t len;
        char *s;

        if (n->kind != MH_NODE_SCALAR || n->value[0] != '/')
                return NULL;
        s = strdup(n->value);
        if (!s)
                return NULL;
        len = strlen(s);
        while (len > 1 && s[len - 1] == '/')
                s[--len] = '\0';
        return s;
}

static int parse_service_paths(mh_host *h, const mh_node *n, mh_error *error) {
        mh_systemd_host *sh = systemd_host(h);
        int r;

        if (n->kind != MH_NODE_MAPPING)
                return mh_host_config_fail(h->config, n, error,
                                           "'service_paths' must be a mapping, not %s",
                                           mh_node_kind_to_string(n->kind));
        sh->service_paths = calloc(n->n_pairs ?: 1, sizeof(mh_systemd_service_paths));
        if (!sh->service_paths)
                return -ENOMEM;
        for (size_t i = 0; i < n->n_pairs; i++) {
                const mh_node *units = n->pairs[i].value;
                mh_systemd_service_paths *sp = &sh->service_paths[i];

                r = check_service(h, n->pairs[i].key, "service_paths", error);
                if (r < 0)
                        return r;
                sp->unit = strdup(n->pairs[i].key->value);
                if (!sp->unit)
                        return -ENOMEM;
                sh->n_service_paths++;
                if (units->kind != MH_NODE_SEQUENCE)
                        return mh_host_config_fail(h->config, units, error,
                                                   "the paths of '%s' in 'service_paths' must be a "
                                                   "sequence, not %s",
                                                   sp->unit, mh_node_kind_to_string(units->kind));
                sp->paths = calloc(units->n_items ?: 1, sizeof(char *));
                if (!sp->paths)
                        return -ENOMEM;
                for (size_t j = 0; j < units->n_items; j++) {
                        sp->paths[j] = absolute_path(units->items[j]);
                        if (!sp->paths[j])
                                return mh_host_config_fail(
                                        h->config, units->items[j], error,
                                        "each path of '%s' in 'service_paths' must "
                                        "be an absolute path on the host",
                                        sp->unit);
                        sp->n_paths++;
                }
        }
        return 0;
}

/* backup.paths relative to /, as tar and find get them; refuses / itself,
 * . and .. (removing what appeared must stay inside the paths). */
static int parse_backup_paths(mh_host *h, mh_error *error) {
        mh_systemd_host *sh = systemd_host(h);
        size_t n = mh_host_config_n_backup_paths(h->config);

        sh->paths = calloc(n ?: 1, sizeof(char *));
        if (!sh->paths)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const char *path = mh_host_config_backup_path(h->config, i);
                _cleanup_free_ char *copy = NULL;
                mh_buf rel = { .max = 4096 };
                char *state = NULL;

                copy = strdup(path);
                if (!copy)
                        return -ENOMEM;
                for (char *c = strtok_r(copy, "/", &state); c; c = strtok_r(NULL, "/", &state)) {
                        if (streq(c, ".") || streq(c, "..") || (rel.size == 0 && c[0] == '-')) {
                                mh_buf_dispose(&rel);
                                return mh_error_set(error, -MH_ERR_CONFIG,
                                                    "%s: backup path '%s' of %s host must not "
                                                    "hold '.' or '..' nor start with '-'",
                                                    mh_host_config_location(h->config), path,
                                                    h->type->name);
                        }
                        if (mh_buf_printf(&rel, "%s%s", rel.size ? "/" : "", c) < 0) {
                                mh_buf_dispose(&rel);
                                return mh_error_set(error, -ENAMETOOLONG,
                                                    "backup path '%s' is too long", path);
                        }
                }
                if (rel.size == 0)
                        return mh_error_set(error, -MH_ERR_CONFIG,
                                            "%s: backup path '/' of %s host is not allowed: "
                                            "name the directories to save",
                                            mh_host_config_location(h->config), h->type->name);
                sh->paths[i] = rel.data;
                sh->n_paths++;
        }
        return 0;
}

static bool is_extra_key(const char *const *extra_keys, const char *key) {
        for (size_t i = 0; extra_keys && extra_keys[i]; i++)
                if (streq(extra_keys[i], key))
                        return true;
        return false;
}

int mh_systemd_host_init(mh_host *h, const char *const *extra_keys, mh_error *error) {
        mh_systemd_host *sh = systemd_host(h);
        const mh_node *options;
        int r;

        assert(h->type->size >= sizeof(mh_systemd_host));

        r = parse_backup_paths(h, error);
        if (r < 0)
                return r;

        options = mh_host_config_options(h->config);
        if (!options)
                return 0;
        for (size_t i = 0; i < options->n_pairs; i++) {
                const mh_node *key = options->pairs[i].key, *value = options->pairs[i].value;

                if (streq(key->value, "full_restore"))
                        r = parse_bool(h, key, value, &sh->full_restore, error);
                else if (streq(key->value, "verify"))
                        r = parse_bool(h, key, value, &sh->verify, error);
                else if (streq(key->value, "restart_always"))
                        r = parse_restart_always(h, value, error);
                else if (streq(key->value, "service_paths"))
                        r = parse_service_paths(h, value, error);
                else if (is_extra_key(extra_keys, key->value))
                        r = 0;
                else
                        r = mh_host_config_fail(h->config, key, error,
                                                "unknown key '%s' in config of %s host", key->value,
                                                h->type->name);
                if (r < 0)
                        return r == -ENOMEM ? mh_error_oom(error) : r;
        }
        return 0;
}

static int systemd_init(mh_host *h, mh_error *error) {
        return mh_systemd_host_init(h, NULL, error);
}

static void systemd_done(mh_host *h) {
        mh_systemd_host *sh = systemd_host(h);

        for (size_t i = 0; i < sh->n_restart_always; i++)
                free(sh->restart_always[i]);
        free(sh->restart_always);
        for (size_t i = 0; i < sh->n_service_paths; i++) {
                for (size_t j = 0; j < sh->service_paths[i].n_paths; j++)
                        free(sh->service_paths[i].paths[j]);
                free(sh->service_paths[i].paths);
                free(sh->service_paths[i].unit);
        }
        free(sh->service_paths);
        for (size_t i = 0; i < sh->n_paths; i++)
                free(sh->paths[i]);
        free(sh->paths);
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
                        strv *list = rec[0] == 'R'   ? &f.restored
                                     : rec[0] == 'D' ? &f.removed
                                                     : &f.differ;
                        char *path = NULL;

                        if (asprintf(&path, "/%s", rec + 2) < 0) {
                                r = -ENOMEM;
                                break;
                        }
                        r = strv_push(list, path);
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

/* Run the file script in mode on the host in one round trip; at backup it
 * is sent along on stdin and kept in the backup directory. */
static int run_files(mh_host *h, const char *mode, const char *dir, bool verify, files_result *ret,
                     mh_error *error) {
        mh_systemd_host *sh = systemd_host(h);
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

        argv = calloc(sh->n_paths + 7, sizeof(char *));
        if (!argv)
                return mh_error_oom(error);
        argv[0] = "sh";
        argv[1] = script_path;
        argv[2] = mode;
        argv[3] = dir;
        argv[4] = verify ? "1" : "0";
        argv[5] = cap;
        for (size_t i = 0; i < sh->n_paths; i++)
                argv[6 + i] = sh->paths[i];
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
static bool files_concern(const mh_systemd_host *sh, const char *unit, const files_result *f) {
        const mh_systemd_service_paths *sp = NULL;

        if (!f->changed || f->n_restored + f->n_removed == 0)
                return false;
        for (size_t i = 0; i < sh->n_service_paths; i++)
                if (streq(sh->service_paths[i].unit, unit))
                        sp = &sh->service_paths[i];
        if (!sp)
                return true;
        /* Lists cut at REPORT_CAP: cannot tell, so yes. */
        if (f->restored.n < f->n_restored || f->removed.n < f->n_removed)
                return true;
        for (size_t i = 0; i < sp->n_paths; i++) {
                /* A directory above only got its times back: not a change for the unit. */
                for (size_t j = 0; j < f->restored.n; j++)
                        if (path_under(f->restored.v[j], sp->paths[i]))
                                return true;
                /* One removed above held the unit's files, though. */
                for (size_t j = 0; j < f->removed.n; j++)
                        if (path_under(f->removed.v[j], sp->paths[i]) ||
                            path_under(sp->paths[i], f->removed.v[j]))
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
                        if (path_under(f->restored.v[j], unit_dirs[i]))
                                return true;
                for (size_t j = 0; j < f->removed.n; j++)
                        if (path_under(f->removed.v[j], unit_dirs[i]))
                                return true;
        }
        return false;
}

/* --- backup and restore -------------------------------------------------- */

static int systemd_backup(mh_host *h, mh_backup *b, mh_error *error) {
        mh_systemd_host *sh = systemd_host(h);
        _cleanup_free_ backup_data *data = NULL;
        uint64_t t0 = mh_now_usec(), t1;
        size_t n = n_services(h);
        int r;

        data = calloc(1, sizeof(backup_data) + n * sizeof(unit_record));
        if (!data)
                return mh_error_oom(error);
        data->n_units = n;

        if (sh->n_paths > 0) {
                files_result f = {};

                r = run_files(h, "backup", b->dir, false, &f, error);
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
                        mh_unit_state st;

                        r = mh_systemd_get_unit(sd, service(h, i), &st, error);
                        if (r < 0)
                                return r;
                        data->units[i].active = state_is_active(&st);
                        memcpy(data->units[i].invocation_id, st.invocation_id,
                               sizeof(data->units[i].invocation_id));
                        data->units[i].invocation_id[32] = '\0';
                }
        }

        free(b->data);
        b->data = TAKE_PTR(data);
        mh_log(MH_LOG_DEBUG, hostname(h),
               "backup '%s': %zu paths in %.1f ms, %zu services in %.1f ms", b->name, sh->n_paths,
               (double) (t1 - t0) / 1000.0, n, (double) (mh_now_usec() - t1) / 1000.0);
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
        mh_systemd_host *sh = systemd_host(h);
        size_t n = n_services(h);
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
        if (data->n_units != n)
                return mh_error_set(error, -EINVAL, "the backup has %zu services, the host %zu",
                                    data->n_units, n);
        sd = bus(h, error);
        if (!sd)
                return error && error->code < 0 ? error->code : -EIO;
        actions = calloc(n, sizeof(unit_action));
        if (!actions)
                return mh_error_oom(error);

        for (size_t i = 0; i < n; i++) {
                const unit_record *u = &data->units[i];
                const char *unit = service(h, i);
                mh_unit_state st;

                r = mh_systemd_get_unit(sd, unit, &st, error);
                if (r < 0)
                        return r;
                if (!u->active)
                        actions[i] = state_is_active(&st) ? ACTION_STOP : ACTION_NONE;
                else if (!state_is_active(&st))
                        actions[i] = ACTION_START;
                else if (full || !streq(u->invocation_id, st.invocation_id) ||
                         strv_contains(sh->restart_always, sh->n_restart_always, unit) ||
                         files_concern(sh, unit, f))
                        actions[i] = ACTION_RESTART;
        }

        for (size_t i = n; i > 0; i--) {
                if (actions[i - 1] != ACTION_STOP)
                        continue;
                r = mh_systemd_stop_unit(sd, service(h, i - 1), 0, error);
                if (r < 0 && ret == 0)
                        ret = r;
                (void) mh_buf_printf(summary, ", stopped %s", service(h, i - 1));
        }
        for (size_t i = 0; i < n; i++) {
                unit_record *u = &data->units[i];
                const char *unit = service(h, i);
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
        bool full = sh->full_restore || (options && options->full);
        bool verify = sh->verify || (options && options->verify);
        _cleanup_(files_result_dispose) files_result f = {};
        mh_buf summary = { .max = 4096 };
        uint64_t t0 = mh_now_usec(), t1;
        int r;

        if (!b->data)
                return mh_error_set(error, -ENOENT, "backup '%s' has no record of the services",
                                    b->name);

        if (sh->n_paths > 0) {
                r = run_files(h, full ? "full" : "restore", b->dir, verify, &f, error);
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
                mh_log(MH_LOG_DEBUG, hostname(h), "restored %s", f.restored.v[i]);
        for (size_t i = 0; i < f.removed.n && i < 20; i++)
                mh_log(MH_LOG_DEBUG, hostname(h), "removed %s", f.removed.v[i]);
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
                        (void) mh_buf_printf(&list, "%s'%s'", i ? ", " : "", f.differ.v[i]);
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
        free(b->data);
        b->data = NULL;
        return 0;
}

const mh_host_type mh_host_type_systemd = {
        .abi = MH_HOST_TYPE_ABI,
        .name = "systemd",
        .size = sizeof(mh_systemd_host),
        .init = systemd_init,
        .done = systemd_done,
        .start = systemd_start,
        .stop = systemd_stop,
        .ready = systemd_ready,
        .backup = systemd_backup,
        .restore = systemd_restore,
        .drop = systemd_drop,
};
