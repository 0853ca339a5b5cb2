/* SPDX-License-Identifier: MIT */
#ifndef MH_TEST_MHTEST_FIXTURE_H
#define MH_TEST_MHTEST_FIXTURE_H

/*
 * Running the built mhtest against the lab from a test program: a fixture
 * directory with its own mhc.yaml and topologies, mhtest started in it,
 * and checks of what it printed and reported.  Header-only; every
 * function is static.  Include after lab.h and util.h.
 */
#include <check.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mhc/ssh.h>

#include "lab-run.h"

/* The topologies the modules name, written into every fixture's topo/. */
static const struct {
        const char *name, *yaml;
} topologies[] = {
        { "one-client", "domains:\n  - id: lab\n    roles: {client: 1}\n" },
        { "no-controller", "controller: none\ndomains:\n  - id: lab\n    roles: {client: 1}\n" },
        { "two-dbs", "domains:\n  - id: lab\n    roles: {db: 2}\n" },
        { "fails-setup",
          "domains:\n  - id: lab\n    roles: {client: 1}\nsetup:\n  client:\n    - 'true'\n"
          "    - 'false'\n" },
        { "scripted", "domains:\n  - id: lab\n    roles: {scripted: 1}\n" },
        { "crash", "domains:\n  - id: lab\n    roles: {server: 1, scripted: 1}\n" },
        { "crash-db", "domains:\n  - id: lab\n    roles: {db: 1}\n" },
        { "faults", "domains:\n  - id: lab\n    roles: {client: 1, server: 1}\n" },
        { "vm-faults", "domains:\n  - id: lab\n    roles: {server: 1, vm: 1}\n" },
        { "crash-clean", "domains:\n  - id: lab\n    roles: {server: 1, scripted: 1}\n" },
        { "crash-setup",
          "domains:\n  - id: lab\n    roles: {server: 1, scripted: 1}\nsetup:\n  server:\n"
          "    - 'touch /srv/mhc-crash/setup-marker /run/mhc-crash-ready && sleep 50'\n" },
        { "toolkit", "domains:\n  - id: lab\n    roles: {client: 1, server: 1}\n" },
        { "toolkit-db", "domains:\n  - id: lab\n    roles: {db: 1}\n" },
        { "slow-setup",
          "domains:\n  - id: lab\n    roles: {client: 1}\nsetup:\n  client:\n    - 'sleep 10'\n" },
};

/* The client as the modules want it: /root backed up, one artifact. */
#define CLIENT_YAML                                   \
        "        backup:\n          paths: [/root]\n" \
        "        artifacts: [/root/mhc-run-artifact.log]\n"

/* A directory of its own with mhc.yaml and topo/, and the files of a run. */
typedef struct fixture {
        char dir[64];
        char *config;
} fixture;

/* What one run of mhtest did. */
typedef struct run {
        int status; /* exit status, or 128+N when signal N ended it */
        char *out;
        char *err;
} run;

static inline char *read_all(const char *path) {
        FILE *f = fopen(path, "re");
        char *text = NULL;
        size_t size = 0;
        FILE *m = open_memstream(&text, &size);
        char buf[4096];
        size_t n;

        ck_assert_ptr_nonnull(m);
        while (f && (n = fread(buf, 1, sizeof(buf), f)) > 0)
                fwrite(buf, 1, n, m);
        if (f)
                fclose(f);
        ck_assert_int_eq(fclose(m), 0);
        return text;
}

static inline void write_text(const char *path, const char *text) {
        FILE *f = fopen(path, "we");

        ck_assert_msg(f, "cannot write %s", path);
        ck_assert_int_ge(fputs(text, f), 0);
        ck_assert_int_eq(fclose(f), 0);
}

static inline bool exists(const char *path) {
        return access(path, F_OK) == 0;
}

static inline char *path_in(const fixture *f, const char *relative) {
        char *p = NULL;

        ck_assert_int_ge(asprintf(&p, "%s/%s", f->dir, relative), 0);
        return p;
}

/* Where a run in f puts file (NULL: the directory) of the client for test of one-client. */
static inline char *artifact(const fixture *f, const char *dir, const char *test, const char *file) {
        _cleanup_free_ char *relative = NULL;

        ck_assert_int_ge(asprintf(&relative, "%s/one-client/%s/client.lab.test%s%s", dir, test,
                                  file ? "/" : "", file ? file : ""),
                         0);
        return path_in(f, relative);
}

/* The text of artifact(f, dir, test, file), "" if there is none. */
static inline char *artifact_text(const fixture *f, const char *dir, const char *test,
                                  const char *file) {
        _cleanup_free_ char *path = artifact(f, dir, test, file);

        return read_all(path);
}

/* A fixture whose mhc.yaml holds the lab hosts names[0..n), conns[i] for each. */
static inline void fixture_init(fixture *f, size_t n, const char *const *names, const lab_conn *conns) {
        _cleanup_free_ char *yaml = lab_config_yaml(n, names, conns), *topo = NULL;

        ck_assert_ptr_nonnull(yaml);
        snprintf(f->dir, sizeof(f->dir), "/tmp/mhc-run-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(f->dir));
        topo = path_in(f, "topo");
        ck_assert_int_eq(mkdir(topo, 0755), 0);
        for (size_t i = 0; i < ELEMENTSOF(topologies); i++) {
                _cleanup_free_ char *path = NULL, *text = NULL;

                ck_assert_int_ge(asprintf(&path, "%s/%s.yaml", topo, topologies[i].name), 0);
                ck_assert_int_ge(
                        asprintf(&text, "name: %s\n%s", topologies[i].name, topologies[i].yaml), 0);
                write_text(path, text);
        }
        lab_append(&yaml, "topologies:\n  - %s\n", topo);
        ck_assert_ptr_nonnull(yaml);
        f->config = path_in(f, "mhc.yaml");
        write_text(f->config, yaml);
}

/* The fixture of the usual case: the client, with /root backed up. */
static inline void fixture_client(fixture *f) {
        const char *names[] = { "client" };
        const lab_conn conns[] = { { .yaml = CLIENT_YAML } };

        fixture_init(f, 1, names, conns);
}

static inline int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

static inline void fixture_dispose(fixture *f) {
        if (f->dir[0])
                (void) nftw(f->dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
        free(f->config);
        *f = (fixture){};
}

static inline void run_dispose(run *r) {
        free(r->out);
        free(r->err);
        *r = (run){};
}

/* The built test module name (without .so). */
static inline char *module(const char *name) {
        const char *builddir = getenv("MH_TEST_BUILDDIR");
        char *p = NULL;

        ck_assert_int_ge(asprintf(&p, "%s/tests/integration/modules/.libs/%s.so",
                                  builddir ? builddir : ".", name),
                         0);
        return p;
}

/*
 * Start the built mhtest in f's directory with --config and the
 * NULL-terminated args, its stdout and stderr into out and err there.
 */
static inline pid_t mhtest_start(const fixture *f, const char *const *args) {
        const char *builddir = getenv("MH_TEST_BUILDDIR");
        _cleanup_free_ char *program = NULL, *out = path_in(f, "out"), *err = path_in(f, "err");
        const char *argv[64] = {};
        size_t n = 0;
        pid_t pid;

        ck_assert_int_ge(asprintf(&program, "%s/mhtest", builddir ? builddir : "."), 0);
        argv[n++] = program;
        argv[n++] = "--config";
        argv[n++] = f->config;
        for (size_t i = 0; args[i]; i++) {
                ck_assert_uint_lt(n + 1, ELEMENTSOF(argv));
                argv[n++] = args[i];
        }
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int o = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                int e = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

                if (o < 0 || e < 0 || chdir(f->dir) < 0 || dup2(o, STDOUT_FILENO) < 0 ||
                    dup2(e, STDERR_FILENO) < 0)
                        _exit(127);
                /* mhtest leaves a signal ignored as it finds it (a background job's SIGINT). */
                signal(SIGINT, SIG_DFL);
                execv(program, (char *const *) argv);
                _exit(127);
        }
        return pid;
}

static inline void mhtest_collect(const fixture *f, int wait_status, run *ret) {
        _cleanup_free_ char *out = path_in(f, "out"), *err = path_in(f, "err");

        ret->status =
                WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
        ret->out = read_all(out);
        ret->err = read_all(err);
}

#define MHTEST(f, r, ...) mhtest((f), (r), (const char *const[]){ __VA_ARGS__, NULL })

/* Run mhtest to its end. */
static inline void mhtest(const fixture *f, run *ret, const char *const *args) {
        pid_t pid = mhtest_start(f, args);
        int w;

        ck_assert_int_eq(waitpid(pid, &w, 0), pid);
        mhtest_collect(f, w, ret);
}

/* The last 1500 bytes of s: Check refuses longer messages. */
static inline const char *tail_of(const char *s) {
        size_t n = strlen(s);

        return n > 1500 ? s + n - 1500 : s;
}

/* The text of the result line of test, from its name to its end; "" if none. */
static inline char *result_line(const run *r, const char *test) {
        _cleanup_free_ char *needle = NULL;
        const char *p;

        ck_assert_int_ge(asprintf(&needle, "] %s [", test), 0);
        p = strstr(r->out, needle);
        if (!p)
                return strdup("");
        p += 2;
        return strndup(p, strcspn(p, "\n"));
}

/* Fail unless test's result line starts with "TEST [TOPOLOGY] STATUS" and holds why. */
#define ck_assert_result(r, test, topology, status, why)                                    \
        do {                                                                                \
                _cleanup_free_ char *line_ = result_line((r), (test));                      \
                ck_assert_msg(strncmp(line_, test " [" topology "] " status,                \
                                      strlen(test " [" topology "] " status)) == 0 &&       \
                                      strstr(line_, (why)),                                 \
                              "result of %s: '%s', wanted %s with '%s'\n%s%s", test, line_, \
                              status, (why), tail_of((r)->out), tail_of((r)->err));         \
        } while (0)

/* The message of test's result line, after "STATUS 0.00s (restore 0.00s): "; "" if none. */
static inline char *result_message(const run *r, const char *test) {
        _cleanup_free_ char *line = result_line(r, test);
        const char *p = strstr(line, "): ");

        return strdup(p ? p + 3 : "");
}

/* Fail unless test's result is status, with exactly the message why. */
#define ck_assert_result_message(r, test, topology, status, why)                              \
        do {                                                                                  \
                _cleanup_free_ char *message_ = result_message((r), (test));                  \
                ck_assert_result((r), test, topology, status, "");                            \
                ck_assert_msg(strcmp(message_, (why)) == 0,                                   \
                              "message of %s:\n  '%s', wanted\n  '%s'\n%s%s", test, message_, \
                              (why), tail_of((r)->out), tail_of((r)->err));                                     \
        } while (0)

/* Fail unless mhtest exited with status, showing what it said. */

#define ck_assert_exit(r, wanted)                                                              \
        ck_assert_msg((r)->status == (wanted), "exit %d, not %d\n%s%s", (r)->status, (wanted), \
                      tail_of((r)->out), tail_of((r)->err))

static inline size_t count(const char *s, const char *needle) {
        size_t n = 0;

        for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

/* The test-end line of test in the JSON event log text; "" if none. */
static inline char *json_test_end(const char *events, const char *test) {
        _cleanup_free_ char *needle = NULL;
        const char *p;

        ck_assert_int_ge(asprintf(&needle, "\"event\": \"test-end\", \"test\": \"%s\",", test), 0);
        p = strstr(events, needle);
        if (!p)
                return strdup("");
        return strndup(p, strcspn(p, "\n"));
}

/* Fail unless the test-end event of test holds each of the NULL-terminated texts. */
#define ck_assert_test_end(events, test, ...)                                                      \
        do {                                                                                       \
                _cleanup_free_ char *line_ = json_test_end((events), (test));                      \
                const char *const wanted_[] = { __VA_ARGS__, NULL };                               \
                for (size_t i_ = 0; wanted_[i_]; i_++)                                             \
                        ck_assert_msg(strstr(line_, wanted_[i_]), "test-end of %s: '%s', no '%s'", \
                                      (test), line_, wanted_[i_]);                                 \
        } while (0)

/* xmllint's verdict on path against the JUnit schema. */
static inline void assert_valid_junit(const char *path) {
        const char *srcdir = getenv("MH_TEST_SRCDIR");
        _cleanup_free_ char *command = NULL, *verdict = NULL;
        int w;

        ck_assert_msg(exists(path), "no JUnit report at %s", path);
        ck_assert_int_ge(asprintf(&command,
                                  "xmllint --noout --schema %s/tests/data/junit.xsd %s "
                                  ">%s.verdict 2>&1",
                                  srcdir ? srcdir : ".", path, path),
                         0);
        w = system(command);
        free(command);
        ck_assert_int_ge(asprintf(&command, "%s.verdict", path), 0);
        verdict = read_all(command);
        ck_assert_msg(WIFEXITED(w) && WEXITSTATUS(w) == 0, "%s is not valid JUnit: %s\n%s", path,
                      verdict, read_all(path));
}

/* --- the plan ---------------------------------------------------------------- */

/* --list plans every test x topology, says why one is skipped, and connects to nothing. */
#endif
