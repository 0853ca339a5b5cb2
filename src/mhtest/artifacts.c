/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifacts-script.h" /* artifacts_script[], made from src/mhtest/artifacts.sh */
#include "mhtest.h"
#include "util.h"

#define FILES_MAX     1000                 /* files collected from one host */
#define FILE_SIZE_MAX ((size_t) 64 << 20)  /* bytes of one file */
#define HOST_SIZE_MAX ((uint64_t) 1 << 30) /* bytes of all of one host's files */
#define LISTING_MAX   ((size_t) 1 << 20)   /* bytes of the list of the host's files */
#define JOURNAL_MAX   ((size_t) 64 << 20)  /* bytes of journal.log */
#define COMPONENT_MAX 128                  /* bytes kept of a test, topology or host name */
#define LINKS_MAX     100                  /* symbolic links named in errors.log */

/* --- local paths ----------------------------------------------------------- */

/*
 * A file name standing for name (a test, topology or host): bytes other
 * than [A-Za-z0-9._+@=,-] and a leading '.' become '_', so it can hold no
 * '/', be no "." or ".." and hide no file; cut at COMPONENT_MAX bytes,
 * never empty.  NULL when memory runs out.
 */
static char *safe_component(const char *name) {
        size_t n = strnlen(name, COMPONENT_MAX);
        char *s = malloc(n + 2);

        if (!s)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                char ch = name[i];
                bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                          (ch >= '0' && ch <= '9') || strchr("._+@=,-", ch);

                s[i] = ok ? ch : '_';
        }
        if (n == 0)
                s[n++] = '_';
        if (s[0] == '.')
                s[0] = '_';
        s[n] = '\0';
        return s;
}

/* The names of the files mhtest writes itself in a host's directory. */
static bool is_own_file(const char *relative) {
        return streq(relative, "journal.log") || streq(relative, "commands.log") ||
               streq(relative, "errors.log");
}

/*
 * Where the remote file at path is kept, relative to the host's directory:
 * path without its leading '/' and its empty and "." components.  Refused
 * with -EINVAL when a component is "..", or nothing is left, and with
 * -EEXIST when it would be one of the files mhtest writes itself.
 */
static int local_relative_path(const char *path, char **ret) {
        _cleanup_free_ char *copy = strdup(path);
        _cleanup_free_ char *rel = NULL;
        size_t n = 0;
        char *save = NULL;

        if (!copy)
                return -ENOMEM;
        rel = malloc(strlen(path) + 1);
        if (!rel)
                return -ENOMEM;
        for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                if (streq(c, "."))
                        continue;
                if (streq(c, ".."))
                        return -EINVAL;
                if (n > 0)
                        rel[n++] = '/';
                memcpy(rel + n, c, strlen(c));
                n += strlen(c);
        }
        rel[n] = '\0';
        if (n == 0)
                return -EINVAL;
        if (is_own_file(rel))
                return -EEXIST;
        *ret = TAKE_PTR(rel);
        return 0;
}

/* mkdir -p with mode 0755: fails when a component exists and is no directory. */
static int mkdir_p(const char *path) {
        _cleanup_free_ char *p = strdup(path);
        struct stat st;

        if (!p)
                return -ENOMEM;
        if (!*p)
                return -EINVAL;
        for (char *s = p + 1;; s++) {
                char c = *s;

                if (c != '/' && c != '\0')
                        continue;
                *s = '\0';
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *s = c;
                if (c == '\0')
                        break;
        }
        if (stat(p, &st) < 0)
                return -errno;
        return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* mkdir -p of the directory path is in. */
static int mkdir_parent(const char *path) {
        _cleanup_free_ char *parent = strdup(path);
        char *slash;

        if (!parent)
                return -ENOMEM;
        slash = strrchr(parent, '/');
        if (!slash || slash == parent)
                return 0;
        *slash = '\0';
        return mkdir_p(parent);
}

/* Create or replace the file at path with data, never through a symbolic link. */
static int write_file(const char *path, const char *data, size_t size) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        int k = 0;

        if (fd < 0)
                return -errno;
        while (size > 0 && k == 0) {
                ssize_t n = write(fd, data, size);

                if (n < 0 && errno != EINTR)
                        k = -errno;
                else if (n > 0) {
                        data += n;
                        size -= (size_t) n;
                }
        }
        if (close(fd) < 0 && k == 0)
                k = -errno;
        return k;
}

/* --- collecting ------------------------------------------------------------ */

/* One host's collection. */
typedef struct collector {
        const char *dir; /* the host's directory */
        const char *const *secrets;
        uint64_t bytes;  /* of the files fetched so far */
        mh_error *error; /* for local failures */
} collector;

/* path under the collector's directory, or NULL when memory runs out. */
static char *local_path(const collector *c, const char *relative) {
        char *p;

        return asprintf(&p, "%s/%s", c->dir, relative) < 0 ? NULL : p;
}

static int local_failure(collector *c, int k, const char *path) {
        return mh_error_set(c->error, k, "cannot write '%s': %s", path, strerror(-k));
}

/* Add a line to errors.log about what could not be collected; fails only when errors.log
 * cannot be written. */
static int note(collector *c, const char *fmt, ...) MH_PRINTF(2, 3);
static int note(collector *c, const char *fmt, ...) {
        _cleanup_free_ char *path = local_path(c, "errors.log");
        _cleanup_free_ char *line = NULL;
        va_list ap;
        FILE *f;
        int k = 0;

        va_start(ap, fmt);
        if (vasprintf(&line, fmt, ap) < 0)
                line = NULL;
        va_end(ap);
        if (!path || !line)
                return mh_error_oom(c->error);
        /* One line, whatever the host said, and without its secrets. */
        for (char *p = line; *p; p++)
                if ((unsigned char) *p < 0x20)
                        *p = ' ';
        line = redact_secrets(line, c->secrets);

        f = fopen(path, "ae");
        if (!f)
                return local_failure(c, -errno, path);
        if (fprintf(f, "%s\n", line) < 0)
                k = -(errno ?: EIO);
        if (fclose(f) != 0 && k == 0)
                k = -(errno ?: EIO);
        return k < 0 ? local_failure(c, k, path) : 0;
}

/* Write text (taken, freed) to relative without its secrets. */
static int save_text(collector *c, const char *relative, char *text) {
        _cleanup_free_ char *path = local_path(c, relative);
        int k;

        text = redact_secrets(text, c->secrets);
        if (!path || !text) {
                free(text);
                return mh_error_oom(c->error);
        }
        k = write_file(path, text, strlen(text));
        free(text);
        return k < 0 ? local_failure(c, k, path) : 0;
}

/* The first line of a command's error output, for a note. */
static const char *first_line(const char *s, char buf[static 256]) {
        snprintf(buf, 256, "%.*s", (int) strcspn(strempty(s), "\n"), strempty(s));
        return buf;
}

static int collect_journal(collector *c, mh_ssh *s, uint64_t since_usec) {
        mh_exec_options options = { .max_output = JOURNAL_MAX };
        mh_exec_result result = { 0 };
        mh_error e = MH_ERROR_INIT;
        char command[128], line[256];
        int k;

        snprintf(command, sizeof(command),
                 "journalctl --no-pager -o short-iso-precise --since @%" PRIu64 ".%06" PRIu64,
                 since_usec / 1000000, since_usec % 1000000);
        k = mh_ssh_exec(s, command, &options, &result, &e);
        if (k < 0)
                return note(c, "journal: %s", e.message);
        if (result.exit_status != 0)
                k = note(c, "journal: journalctl exited with status %d: %s", result.exit_status,
                         first_line(result.err, line));
        else
                k = save_text(c, "journal.log", TAKE_PTR(result.out));
        mh_exec_result_dispose(&result);
        return k;
}

/* The shell command that lists what the host's artifacts: globs and the test's own
 * paths match (see artifacts.sh), or NULL when memory runs out. */
static char *listing_command(const mh_host_config *hc, const mh_strv *extra) {
        _cleanup_free_ char *command = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&command, &size);
        bool ok = f;

        if (!f)
                return NULL;
        fputs("sh -s list", f);
        for (size_t i = 0; ok && i < mh_host_config_n_artifacts(hc); i++) {
                _cleanup_free_ char *quoted = NULL;

                ok = mh_shell_quote(mh_host_config_artifact(hc, i), &quoted) >= 0;
                if (ok)
                        fprintf(f, " %s", quoted);
        }
        for (size_t i = 0; ok && extra && i < extra->n; i++) {
                _cleanup_free_ char *quoted = NULL;

                ok = mh_shell_quote(extra->items[i], &quoted) >= 0;
                if (ok)
                        fprintf(f, " %s", quoted);
        }
        fprintf(f, " | head -c %zu", LISTING_MAX);
        if (fclose(f) != 0 || !ok)
                return NULL;
        return TAKE_PTR(command);
}

/*
 * Read the regular file at remote (as listed) into *ret: through
 * artifacts.sh, which refuses it when what it opened is not the regular
 * file at that path, reached through no symbolic link, whatever changed
 * since the listing.  A refusal or a failure is noted, and is 0 with *ret
 * left NULL.
 */
static int read_remote(collector *c, mh_ssh *s, const char *remote, char **ret, size_t *ret_size) {
        _cleanup_free_ char *quoted = NULL, *command = NULL;
        mh_exec_options options = {
                .input = artifacts_script,
                .input_size = sizeof(artifacts_script) - 1,
                .max_output = FILE_SIZE_MAX,
        };
        mh_exec_result result = { 0 };
        mh_error e = MH_ERROR_INIT;
        char line[256];
        int k;

        if (mh_shell_quote(remote, &quoted) < 0 ||
            asprintf(&command, "sh -s read %s", quoted) < 0) {
                command = NULL;
                return mh_error_oom(c->error);
        }
        k = mh_ssh_exec(s, command, &options, &result, &e);
        if (k == -EFBIG)
                return note(c, "%s: not collected, it grew over the limit of %zu bytes", remote,
                            FILE_SIZE_MAX);
        if (k < 0)
                return note(c, "%s: %s", remote, e.message);
        if (result.exit_status == 0) {
                *ret = TAKE_PTR(result.out);
                *ret_size = result.out_size;
        } else if (result.exit_status == 3)
                k = note(c, "%s: not collected, %s", remote, first_line(result.err, line));
        else {
                char why[MH_EXEC_SUMMARY_SIZE];

                k = note(c, "%s: cannot read it: %s", remote,
                         mh_exec_result_summary(&result, why, sizeof(why)));
        }
        mh_exec_result_dispose(&result);
        return k;
}

static int collect_file(collector *c, mh_ssh *s, const char *remote, uint64_t size) {
        _cleanup_free_ char *relative = NULL, *path = NULL, *data = NULL;
        size_t n = 0;
        int k;

        if (size > FILE_SIZE_MAX)
                return note(c, "%s: not collected, %" PRIu64 " bytes is over the limit of %zu",
                            remote, size, FILE_SIZE_MAX);
        if (c->bytes + size > HOST_SIZE_MAX)
                return note(c, "%s: not collected, the host's files reached %" PRIu64 " bytes",
                            remote, HOST_SIZE_MAX);
        k = local_relative_path(remote, &relative);
        if (k == -ENOMEM)
                return mh_error_oom(c->error);
        if (k < 0)
                return note(c, "%s: not collected, it cannot be kept under its own path", remote);
        k = read_remote(c, s, remote, &data, &n);
        if (k < 0 || !data)
                return k;
        c->bytes += n;

        /* Text (no NUL) is written without the secrets; binary files as they are. */
        if (!memchr(data, '\0', n)) {
                data = redact_secrets(data, c->secrets);
                n = strlen(data);
        }
        path = local_path(c, relative);
        if (!path)
                return mh_error_oom(c->error);
        k = mkdir_parent(path);
        if (k >= 0)
                k = write_file(path, data, n);
        /* One file that cannot be kept here (a name too long, ...) does not end the rest. */
        if (k < 0)
                return note(c, "%s: cannot write '%s': %s", remote, path, strerror(-k));
        return 0;
}

/* Whether the entry is one of the first n of list. */
static bool listed_before(char *const *list, size_t n, const char *entry) {
        for (size_t i = 0; i < n; i++)
                if (streq(list[i], entry))
                        return true;
        return false;
}

/* Note the symbolic link of a listing's "L PATH" (kind 'L') or "T LINK" entry: once
 * each, and the first LINKS_MAX by name. */
static int note_link(collector *c, char kind, char *path, char **noted, size_t *n_noted) {
        if (*n_noted > LINKS_MAX || listed_before(noted, *n_noted, path))
                return 0;
        if (*n_noted == LINKS_MAX) {
                (*n_noted)++;
                return note(c,
                            "more than %d symbolic links where the artifacts: globs look, none "
                            "was followed",
                            LINKS_MAX);
        }
        noted[(*n_noted)++] = path;
        if (kind == 'L')
                return note(c, "%s: not collected, a symbolic link (not followed)", path);
        return note(c,
                    "%s: a symbolic link to a directory, not followed: nothing under it was "
                    "collected",
                    path);
}

/* Fetch the regular files the host's artifacts: globs match, up to FILES_MAX, and note the
 * symbolic links, which are not followed. */
static int collect_files(collector *c, mh_ssh *s, const mh_host_config *hc,
                         const mh_strv *extra) {
        _cleanup_free_ char *command = NULL;
        _cleanup_free_ char **seen = NULL, **noted = NULL;
        mh_exec_options options = {
                .input = artifacts_script,
                .input_size = sizeof(artifacts_script) - 1,
                .max_output = LISTING_MAX + 4096,
        };
        mh_exec_result result = { 0 };
        mh_error e = MH_ERROR_INIT;
        size_t n_seen = 0, n_noted = 0;
        char line[256];
        int k = 0;

        if (mh_host_config_n_artifacts(hc) == 0 && (!extra || extra->n == 0))
                return 0;
        command = listing_command(hc, extra);
        seen = calloc(FILES_MAX, sizeof(*seen));
        noted = calloc(LINKS_MAX, sizeof(*noted));
        if (!command || !seen || !noted)
                return mh_error_oom(c->error);
        k = mh_ssh_exec(s, command, &options, &result, &e);
        if (k < 0)
                return note(c, "listing the artifacts: %s", e.message);
        if (result.err_size > 0)
                k = note(c, "listing the artifacts: %s", first_line(result.err, line));
        if (k >= 0 && result.out_size >= LISTING_MAX)
                k = note(c, "listing the artifacts: the list was cut at %zu bytes", LISTING_MAX);

        /* "F SIZE PATH\0", "L PATH\0" and "T LINK\0" entries; one cut short at the end is
         * dropped. */
        for (size_t at = 0; k >= 0 && at < result.out_size;) {
                char *entry = result.out + at;
                char *end = memchr(entry, '\0', result.out_size - at);
                char *path;
                uint64_t size;

                if (!end)
                        break;
                at = (size_t) (end - result.out) + 1;
                if (end - entry < 3 || entry[1] != ' ')
                        continue;
                if (entry[0] == 'L' || entry[0] == 'T') {
                        k = note_link(c, entry[0], entry + 2, noted, &n_noted);
                        continue;
                }
                if (entry[0] != 'F')
                        continue;
                entry += 2;
                size = strtoull(entry, &path, 10);
                if (path == entry || *path != ' ' || !*++path || listed_before(seen, n_seen, path))
                        continue;
                if (n_seen == FILES_MAX) {
                        k = note(c,
                                 "more than %d files match the artifacts: globs, the rest "
                                 "were not collected",
                                 FILES_MAX);
                        break;
                }
                seen[n_seen++] = path;
                k = collect_file(c, s, path, size);
        }
        mh_exec_result_dispose(&result);
        return k;
}

int collect_artifacts(const char *dir, const char *topology, const char *test, mh_host *h,
                      uint64_t since_realtime_usec, const char *commands_log,
                      const char *evidence, const mh_strv *extra, const char *const *secrets,
                      mh_error *error) {
        _cleanup_free_ char *safe_topology = NULL, *safe_test = NULL, *safe_host = NULL;
        _cleanup_free_ char *host_dir = NULL, *errors_log = NULL;
        collector c = { .secrets = secrets, .error = error };
        mh_ssh *s;
        int k;

        assert(dir && topology && test && h);
        safe_topology = safe_component(topology);
        safe_test = safe_component(test);
        safe_host = safe_component(mh_host_name(h));
        if (!safe_topology || !safe_test || !safe_host ||
            asprintf(&host_dir, "%s/%s/%s/%s", dir, safe_topology, safe_test, safe_host) < 0) {
                host_dir = NULL; /* asprintf() leaves it undefined when it fails */
                return mh_error_oom(error);
        }
        k = mkdir_p(host_dir);
        if (k < 0)
                return mh_error_set(error, k, "cannot create '%s': %s", host_dir, strerror(-k));
        c.dir = host_dir;

        /* errors.log says what this collection missed, not an earlier one. */
        errors_log = local_path(&c, "errors.log");
        if (!errors_log)
                return mh_error_oom(error);
        if (unlink(errors_log) < 0 && errno != ENOENT)
                return local_failure(&c, -errno, errors_log);

        if (commands_log) {
                char *text = strdup(commands_log);

                if (!text)
                        return mh_error_oom(error);
                k = save_text(&c, "commands.log", text);
                if (k < 0)
                        return k;
        }
        if (evidence) {
                char *text = strdup(evidence);

                if (!text)
                        return mh_error_oom(error);
                k = save_text(&c, "outcome.log", text);
                if (k < 0)
                        return k;
        }
        s = mh_host_ssh(h);
        if (!s)
                return note(&c, "the host is not connected: no journal, no files");
        k = collect_journal(&c, s, since_realtime_usec);
        if (k < 0)
                return k;
        return collect_files(&c, s, mh_host_get_config(h), extra);
}

/* DIR/<topology>/<test>, or NULL without memory. */
static char *test_dir(const char *dir, const char *topology, const char *test) {
        _cleanup_free_ char *safe_topology = safe_component(topology), *safe_test = safe_component(test);
        char *path;

        if (!safe_topology || !safe_test ||
            asprintf(&path, "%s/%s/%s", dir, safe_topology, safe_test) < 0)
                return NULL;
        return path;
}

int artifacts_write(const char *dir, const char *topology, const char *test, const char *name,
                    char *text, const char *const *secrets, mh_error *error) {
        _cleanup_free_ char *path = NULL, *parent = test_dir(dir, topology, test);
        int k;

        text = redact_secrets(text, secrets);
        if (!parent || !text || asprintf(&path, "%s/%s", parent, name) < 0) {
                free(text);
                return mh_error_oom(error);
        }
        k = mkdir_p(parent);
        if (k >= 0)
                k = write_file(path, text, strlen(text));
        free(text);
        return k < 0 ? mh_error_set(error, k, "cannot write '%s': %s", path, strerror(-k)) : 0;
}

char *artifacts_read(const char *dir, const char *topology, const char *test, const char *host,
                     const char *name) {
        _cleanup_free_ char *parent = test_dir(dir, topology, test), *safe_host = safe_component(host),
                            *path = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        char *text = NULL;
        size_t size = 0;

        if (!parent || !safe_host || asprintf(&path, "%s/%s/%s", parent, safe_host, name) < 0)
                return NULL;
        f = fopen(path, "re");
        if (!f || getdelim(&text, &size, '\0', f) < 0) {
                free(text);
                return NULL;
        }
        return text;
}
