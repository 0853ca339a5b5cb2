/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>

#include <mhc/host.h>
#include <mhc/shell.h>
#include <mhc/test.h>

#include "ini.h"
#include "test-private.h"

/*
 * What a test changes on its hosts besides what the restore puts back:
 * its cleanups, its scratch directories, the files it writes (whose prior
 * state is recorded first and put back by a cleanup), its users and
 * groups.  Cleanup commands are kept by the runner, which runs those the
 * test could not (test-runner.c).
 */

#define NEW_FILE_MODE 0644u

/* --- cleanups ------------------------------------------------------------------ */

static void push_cleanup(mh_test *t, cleanup c) {
        cleanup *list = reallocarray(t->cleanups, t->n_cleanups + 1, sizeof(*list));

        if (!list)
                mh_test_oom(t);
        t->cleanups = list;
        t->cleanups[t->n_cleanups++] = c;
}

void mh_cleanup(mh_test *t, void (*fn)(mh_test *t, void *userdata), void *userdata) {
        if (fn)
                push_cleanup(t, (cleanup){ .fn = fn, .userdata = userdata });
}

/* Give the runner command to run on h at the end. */
static void cleanup_command(mh_test *t, mh_host *h, const char *command) {
        mh_buf b = { .max = MH_TEST_WIRE_FRAME_MAX };
        uint32_t code, id;
        const char *message;
        mh_test_wire_reader rd;

        if (mh_test_wire_put_u32(&b, MH_TEST_WIRE_CLEANUP_ADD) < 0 ||
            mh_test_wire_put_u32(&b, mh_test_host_index(t, h)) < 0 ||
            mh_test_wire_put_str(&b, command) < 0) {
                mh_buf_dispose(&b);
                mh_test_oom(t);
        }
        rd = mh_test_call(t, MH_TEST_WIRE_CLEANUP, &b, MH_TEST_WIRE_CLEANUP_REPLY);
        mh_buf_dispose(&b);
        if (mh_test_wire_get_u32(&rd, &code) < 0 || mh_test_wire_get_u32(&rd, &id) < 0 ||
            mh_test_wire_get_bytes(&rd, &message, NULL) < 0 || (int32_t) code < 0 || id == 0)
                mh_test_runner_lost();
        push_cleanup(t, (cleanup){ .id = id, .host = h, .command = command });
}

void mh_cleanup_run(mh_test *t, mh_host *h, const char *fmt, ...) {
        const char *command;
        va_list ap;

        va_start(ap, fmt);
        command = mh_test_vprintf(t, fmt, ap);
        va_end(ap);
        cleanup_command(t, h, command);
}

/* Ask the runner to run cleanup command c now; a failure fails the test. */
static void run_cleanup_command(mh_test *t, const cleanup *c) {
        mh_buf b = { .max = 64 };
        uint32_t code, status;
        const char *output;
        mh_test_wire_reader rd;

        if (mh_test_wire_put_u32(&b, MH_TEST_WIRE_CLEANUP_RUN) < 0 ||
            mh_test_wire_put_u32(&b, c->id) < 0)
                mh_test_runner_lost();
        rd = mh_test_call(t, MH_TEST_WIRE_CLEANUP, &b, MH_TEST_WIRE_CLEANUP_REPLY);
        mh_buf_dispose(&b);
        if (mh_test_wire_get_u32(&rd, &code) < 0 || mh_test_wire_get_u32(&rd, &status) < 0 ||
            mh_test_wire_get_bytes(&rd, &output, NULL) < 0)
                mh_test_runner_lost();
        if ((int32_t) code < 0)
                mh_test_end(t, MH_TEST_ERROR, "host '%s': '%s' could not run: %s",
                            mh_host_name(c->host), c->command, output);
        if (status != 0) {
                (void) mh_buf_printf(&t->details, "cleanup output:\n%s\n", output);
                mh_test_end(t, MH_TEST_FAILED, "host '%s': '%s' exited with status %u",
                            mh_host_name(c->host), c->command, status);
        }
}

void mh_test_run_cleanups(mh_test *t) {
        while (t->n_cleanups > 0) {
                cleanup c = t->cleanups[--t->n_cleanups];

                if (setjmp(t->end) != 0)
                        continue;
                if (c.fn)
                        c.fn(t, c.userdata);
                else
                        run_cleanup_command(t, &c);
        }
        free(t->cleanups);
        t->cleanups = NULL;
}

void mh_test_hosts_dispose(mh_test *t) {
        for (size_t i = 0; t->hosts && i < t->plan->n_hosts; i++) {
                free(t->hosts[i].scratch);
                free(t->hosts[i].cursor);
                mh_strv_dispose(&t->hosts[i].recorded);
        }
        free(t->hosts);
        t->hosts = NULL;
}

/* --- scratch ------------------------------------------------------------------- */

const char *mh_scratch_dir(mh_test *t, mh_host *h) {
        test_host *th = &t->hosts[mh_test_host_index(t, h)];
        size_t n;

        if (th->scratch)
                return th->scratch;
        if (mh_test_run_command(t, h, NULL, 0, "mktemp -d /tmp/mhc-test.XXXXXXXX") != 0) {
                mh_test_set_error(t, -MH_ERR_COMMAND, "host '%s': cannot make a scratch directory: %s",
                                  mh_host_name(h), mh_stderr(t));
                return NULL;
        }
        n = strcspn(mh_stdout(t), "\n");
        th->scratch = strndup(mh_stdout(t), n);
        if (!th->scratch)
                mh_test_oom(t);
        mh_cleanup_run(t, h, "rm -rf -- %s", mh_quote(t, th->scratch));
        return th->scratch;
}

/* --- files --------------------------------------------------------------------- */

/*
 * Before path on h first changes in this test: copy it to the scratch
 * directory (cp -a: mode, owner, links, extended attributes) and have a
 * cleanup put the copy back, or, when it is not there, have a cleanup
 * remove what of it the test makes (from its first missing parent).
 */
static int record(mh_test *t, mh_host *h, const char *path) {
        test_host *th = &t->hosts[mh_test_host_index(t, h)];
        const char *scratch, *copy, *q;

        if (!path || path[0] != '/')
                return mh_test_set_error(t, -EINVAL, "'%s' is not an absolute path", strempty(path));
        if (mh_strv_contains(&th->recorded, path))
                return 0;
        scratch = mh_scratch_dir(t, h);
        if (!scratch)
                return t->error.code;
        copy = mh_printf(t, "%s/saved.%u", scratch, th->n_saved++);
        q = mh_quote(t, path);
        if (mh_test_run_command(t, h, NULL, 0,
                                mh_printf(t,
                                          "p=%s; if [ -e \"$p\" ] || [ -L \"$p\" ]; then "
                                          "cp -a -- \"$p\" %s && echo present; else "
                                          "while [ ! -e \"$(dirname -- \"$p\")\" ]; do "
                                          "p=$(dirname -- \"$p\"); done; printf 'absent %%s\\n' \"$p\"; fi",
                                          q, mh_quote(t, copy))) != 0)
                return mh_test_set_error(t, -MH_ERR_COMMAND, "host '%s': cannot save %s: %s",
                                         mh_host_name(h), path, mh_stderr(t));
        if (streq(mh_stdout(t), "present\n"))
                mh_cleanup_run(t, h, "rm -rf -- %s && cp -a -- %s %s", q, mh_quote(t, copy), q);
        else if (startswith(mh_stdout(t), "absent /"))
                mh_cleanup_run(t, h, "rm -rf -- %s",
                               mh_quote(t, mh_test_one_line(t, mh_stdout(t) + 7)));
        else
                return mh_test_set_error(t, -MH_ERR_REMOTE, "host '%s': saving %s said '%s'",
                                         mh_host_name(h), path, mh_stdout(t));
        if (mh_strv_consume(&th->recorded, strdup(path)) < 0)
                mh_test_oom(t);
        return 0;
}

/* A FILE request: the reply's code, and its text (the content, or the error). */
static int file_call(mh_test *t, mh_host *h, mh_test_wire_file_verb verb, const char *path,
                     const void *data, size_t size, unsigned mode, const char **ret,
                     size_t *ret_size) {
        mh_buf b = { .max = MH_TEST_WIRE_FRAME_MAX };
        const char *text;
        uint32_t code;
        mh_test_wire_reader rd;
        int r;

        r = mh_test_wire_put_u32(&b, verb);
        if (r >= 0)
                r = mh_test_wire_put_u32(&b, mh_test_host_index(t, h));
        if (r >= 0)
                r = mh_test_wire_put_str(&b, path);
        if (r >= 0 && verb == MH_TEST_WIRE_FILE_WRITE)
                r = mh_test_wire_put_bytes(&b, data, size);
        if (r >= 0 && verb == MH_TEST_WIRE_FILE_WRITE)
                r = mh_test_wire_put_u32(&b, mode);
        if (r < 0) {
                mh_buf_dispose(&b);
                return mh_test_set_error(t, r, "host '%s': %s: too large to send (%zu bytes)",
                                         mh_host_name(h), path, size);
        }
        rd = mh_test_call(t, MH_TEST_WIRE_FILE, &b, MH_TEST_WIRE_FILE_REPLY);
        mh_buf_dispose(&b);
        if (mh_test_wire_get_u32(&rd, &code) < 0 || mh_test_wire_get_bytes(&rd, &text, &size) < 0)
                mh_test_runner_lost();
        if ((int32_t) code < 0)
                return mh_test_set_error(t, (int32_t) code, "%s", text);
        mh_test_clear_error(t);
        if (ret)
                *ret = text;
        if (ret_size)
                *ret_size = size;
        return 0;
}

char *mh_file_read(mh_test *t, mh_host *h, const char *path, size_t *ret_size) {
        const char *text;
        size_t size;
        char *copy;

        if (file_call(t, h, MH_TEST_WIRE_FILE_READ, path, NULL, 0, 0, &text, &size) < 0)
                return NULL;
        copy = mh_test_own(t, malloc(size + 1));
        memcpy(copy, text, size + 1);
        if (ret_size)
                *ret_size = size;
        return copy;
}

int mh_file_write(mh_test *t, mh_host *h, const char *path, const void *data, size_t size,
                  unsigned mode) {
        int r = record(t, h, path);

        if (r < 0)
                return r;
        return file_call(t, h, MH_TEST_WIRE_FILE_WRITE, path, data, size, mode, NULL, NULL);
}

/* Run command on h after recording path; its failure is the call's. */
static int change(mh_test *t, mh_host *h, const char *path, const char *input, size_t input_size,
                  const char *what, const char *command) {
        int r = record(t, h, path);

        if (r < 0)
                return r;
        if (mh_test_run_command(t, h, input, input_size, command) != 0)
                return mh_test_set_error(t, -MH_ERR_COMMAND, "host '%s': cannot %s %s: %s",
                                         mh_host_name(h), what, path,
                                         mh_test_one_line(t, mh_stderr(t)));
        mh_test_clear_error(t);
        return 0;
}

int mh_file_append(mh_test *t, mh_host *h, const char *path, const char *text) {
        return change(t, h, path, strempty(text), strlen(strempty(text)), "append to",
                      mh_printf(t, "cat >> %s", mh_quote(t, path)));
}

int mh_file_remove(mh_test *t, mh_host *h, const char *path) {
        return change(t, h, path, NULL, 0, "remove",
                      mh_printf(t, "rm -rf -- %s", mh_quote(t, path)));
}

int mh_mkdir(mh_test *t, mh_host *h, const char *path, unsigned mode) {
        return change(t, h, path, NULL, 0, "make the directory",
                      mh_printf(t, "mkdir -p -m %o -- %s", mode & 07777, mh_quote(t, path)));
}

int mh_ini_set(mh_test *t, mh_host *h, const char *path, const char *section, const char *key,
               const char *value) {
        _cleanup_free_ char *edited = NULL;
        const char *text = "";
        int r;

        r = file_call(t, h, MH_TEST_WIRE_FILE_READ, path, NULL, 0, 0, &text, NULL);
        if (r < 0 && r != -ENOENT)
                return r;
        text = mh_strdup(t, r < 0 ? "" : text);
        r = mh_ini_set_text(text, section, key, value, &edited);
        if (r == -ENOMEM)
                mh_test_oom(t);
        if (r < 0)
                return mh_test_set_error(t, r, "%s: cannot set [%s] %s: invalid section or key",
                                         path, strempty(section), strempty(key));
        return mh_file_write(t, h, path, edited, strlen(edited), NEW_FILE_MODE);
}

/* The first line at which a and b differ, from 1. */
static size_t first_different_line(const char *a, size_t size_a, const char *b, size_t size_b) {
        size_t line = 1;

        for (size_t i = 0; i < size_a && i < size_b && a[i] == b[i]; i++)
                line += a[i] == '\n';
        return line;
}

/* Line n (from 1) of text, cut for a message. */
static void nth_line(const char *text, size_t size, size_t n, char buf[static VALUE_SHOWN_MAX + 8]) {
        const char *p = text, *end = text + size;
        _cleanup_free_ char *line = NULL;

        for (size_t i = 1; i < n && p < end; i++) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));

                p = nl ? nl + 1 : end;
        }
        if (p >= end) {
                snprintf(buf, VALUE_SHOWN_MAX + 8, "(end of file)");
                return;
        }
        line = strndup(p, strcspn(p, "\n"));
        mh_test_shown_value(line, buf);
}

void mh_assert_same_file(mh_test *t, const char *file, unsigned line, mh_host *a,
                         const char *path_a, mh_host *b, const char *path_b) {
        char shown_a[VALUE_SHOWN_MAX + 8], shown_b[VALUE_SHOWN_MAX + 8];
        size_t size_a, size_b, n;
        const char *text_a, *text_b;

        text_a = mh_file_read(t, a, path_a, &size_a);
        if (!text_a)
                mh_test_end(t, MH_TEST_FAILED, "%s:%u: %s", file, line, mh_test_error(t));
        text_b = mh_file_read(t, b, path_b, &size_b);
        if (!text_b)
                mh_test_end(t, MH_TEST_FAILED, "%s:%u: %s", file, line, mh_test_error(t));
        if (size_a == size_b && memcmp(text_a, text_b, size_a) == 0)
                return;
        n = first_different_line(text_a, size_a, text_b, size_b);
        nth_line(text_a, size_a, n, shown_a);
        nth_line(text_b, size_b, n, shown_b);
        mh_test_end(t, MH_TEST_FAILED,
                    "%s:%u: %s:%s and %s:%s differ from line %zu: %s != %s (%zu and %zu bytes)",
                    file, line, mh_host_name(a), path_a, mh_host_name(b), path_b, n, shown_a,
                    shown_b, size_a, size_b);
}

/* --- users and groups --------------------------------------------------------------- */

/* Names useradd takes, and no more: no quoting needed, none can be an option. */
static int check_name(mh_test *t, const char *what, const char *name) {
        if (!name || !*name || strlen(name) > 32 || name[0] == '-' ||
            strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
                    strlen(name))
                return mh_test_set_error(t, -EINVAL, "'%s' is not a %s name (letters, digits, "
                                         "'_', '.', '-'; at most 32)", strempty(name), what);
        return 0;
}

int mh_group_add(mh_test *t, mh_host *h, const char *name) {
        if (check_name(t, "group", name) < 0)
                return t->error.code;
        if (mh_test_run_command(t, h, NULL, 0, mh_printf(t, "groupadd %s", name)) != 0)
                return mh_test_set_error(t, -MH_ERR_COMMAND, "host '%s': cannot add group %s: %s",
                                         mh_host_name(h), name,
                                         mh_test_one_line(t, mh_stderr(t)));
        mh_cleanup_run(t, h, "groupdel %s", name);
        mh_test_clear_error(t);
        return 0;
}

int mh_user_add(mh_test *t, mh_host *h, const char *name, const char *const *groups,
                const char *password) {
        mh_buf list = { .max = 4096 };
        const char *command;

        if (check_name(t, "user", name) < 0)
                return t->error.code;
        for (size_t i = 0; groups && groups[i]; i++) {
                if (check_name(t, "group", groups[i]) < 0) {
                        mh_buf_dispose(&list);
                        return t->error.code;
                }
                if (mh_buf_printf(&list, "%s%s", i ? "," : " -G ", groups[i]) < 0)
                        mh_test_oom(t);
        }
        command = mh_printf(t, "useradd -m -U%s %s", strempty(list.data), name);
        mh_buf_dispose(&list);
        if (mh_test_run_command(t, h, NULL, 0, command) != 0)
                return mh_test_set_error(t, -MH_ERR_COMMAND, "host '%s': cannot add user %s: %s",
                                         mh_host_name(h), name,
                                         mh_test_one_line(t, mh_stderr(t)));
        /* -f: also when the test left a process of the user's */
        mh_cleanup_run(t, h, "userdel -r -f %s 2>/dev/null || userdel -f %s", name, name);
        if (password) {
                const char *input = mh_printf(t, "%s:%s\n", name, password);

                mh_secret(t, password);
                if (mh_test_run_command(t, h, input, strlen(input), "chpasswd") != 0)
                        return mh_test_set_error(t, -MH_ERR_COMMAND,
                                                 "host '%s': cannot set the password of %s: %s",
                                                 mh_host_name(h), name,
                                                 mh_test_one_line(t, mh_stderr(t)));
        }
        mh_test_clear_error(t);
        return 0;
}
