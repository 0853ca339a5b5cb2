/* SPDX-License-Identifier: MIT */
#ifndef MHC_TEST_H
#define MHC_TEST_H

#include <stddef.h>
#include <stdint.h>

#include <mhc/common.h>
#include <mhc/error.h>
#include <mhc/fault.h>
#include <mhc/host.h>
#include <mhc/log.h>
#include <mhc/systemd.h>

MH_BEGIN_DECLS

/*
 * Multihost tests in C (see mhc-test(3)).  A test module is a shared
 * object of MH_TEST()s that mhtest loads:
 *
 *     MH_TEST(motd_change_is_undone, .topology = "client-server")
 *     {
 *             mh_host *server = mh_role(t, "server", 0);
 *
 *             MH_ASSERT_RUN_OK(t, server, "echo changed > /etc/motd");
 *             MH_ASSERT(t, mh_run(t, server, "grep -q changed /etc/motd") == 0);
 *     }
 *
 * Each test runs in a process of its own, forked by mhtest, so that a
 * crash or a hang ends that test only; remote commands and systemd calls
 * go through mhtest's connections, SQL over a connection of the test's.
 */

/* The version of mh_test_info and of the calls below; a module built for
 * another is refused with -MH_ERR_ABI. */
#define MH_TEST_ABI 2

/* The running test, the `t` of a test's body. */
typedef struct mh_test mh_test;

/* What MH_TEST() declares: a test and its settings. */
typedef struct mh_test_info {
        unsigned abi;                   /* MH_TEST_ABI */
        const char *name;
        void (*run)(mh_test *t);
        const char *file;
        unsigned line;

        /* Settings, as designated initializers of MH_TEST(): */
        const char *topology;           /* the topology it needs ... */
        const char *const *topologies;  /* ... or several: MH_LIST("a", "b") */
        unsigned timeout;               /* seconds; 0 is 300 */
        const char *const *tags;        /* MH_LIST("slow", "sql") */
        const char *description;
        /* One test case per value, named "name[value]"; mh_param(t) is the value. */
        const char *const *params;      /* MH_LIST("true", "false") */
        /* Features (mhc.yaml's `features:`) that every host of a role must
         * have, as "role:feature"; else the test is skipped at plan time. */
        const char *const *requires;    /* MH_LIST("client:sssd") */
} mh_test_info;

/* A NULL-terminated list of strings, for .topologies, .tags, .params and .requires. */
#define MH_LIST(...) ((const char *const[]){ __VA_ARGS__, NULL })

#define MH_TEST_DEFAULT_TIMEOUT 300

/* MH_TEST(name) and MH_TEST(name, .topology = ...) alike: the settings,
 * if any, and an empty argument (so that -Wpedantic sees one). */
#define MH_TEST(...) MH_TEST_(__VA_ARGS__, )

#define MH_TEST_(test_name, ...)                                                        \
        static void mh_test_body_##test_name(mh_test *t);                               \
        static const mh_test_info mh_test_info_##test_name = {                          \
                .abi = MH_TEST_ABI,                                                     \
                .name = #test_name,                                                     \
                .run = mh_test_body_##test_name,                                        \
                .file = __FILE__,                                                       \
                .line = __LINE__,                                                       \
                __VA_ARGS__                                                             \
        };                                                                              \
        __attribute__((constructor)) static void mh_test_register_##test_name(void) {   \
                mh_module_register_test(&mh_test_info_##test_name);                     \
        }                                                                               \
        static void mh_test_body_##test_name(mh_test *t __attribute__((unused)))

/*
 * Hooks of a module: MH_SETUP runs before each of its tests, MH_TEARDOWN
 * after each, in the test's process, with the test's hosts.  A failure in
 * either fails the test; mh_skip() in MH_SETUP skips the test (its body
 * and MH_TEARDOWN do not run).  MH_TEARDOWN runs after a body that failed
 * or skipped, but not after a crash or a timeout (the process is gone):
 * what must be undone whatever happens belongs in mh_cleanup_run().  One
 * of each per module, however many .c files it has (a second is refused
 * at load, naming both).
 */
typedef enum mh_hook_kind {
        MH_HOOK_SETUP,
        MH_HOOK_TEARDOWN,
} mh_hook_kind;

#define MH_HOOK_(kind, fn)                                                              \
        static void fn(mh_test *t);                                                     \
        __attribute__((constructor)) static void fn##_register(void) {                  \
                mh_module_register_hook(MH_TEST_ABI, kind, fn, __FILE__, __LINE__);     \
        }                                                                               \
        static void fn(mh_test *t __attribute__((unused)))

#define MH_SETUP MH_HOOK_(MH_HOOK_SETUP, mh_module_setup)
#define MH_TEARDOWN MH_HOOK_(MH_HOOK_TEARDOWN, mh_module_teardown)

/* Called by the constructors MH_TEST() and the hooks make when a module is
 * loaded; not for direct use. */
MH_EXPORT void mh_module_register_test(const mh_test_info *info);
MH_EXPORT void mh_module_register_hook(unsigned abi, mh_hook_kind kind, void (*fn)(mh_test *t),
                                       const char *file, unsigned line);

/* --- in a test's body ---------------------------------------------------- */

MH_EXPORT const char *mh_test_name(const mh_test *t);
MH_EXPORT const char *mh_test_topology(const mh_test *t);

/*
 * The index-th host (from 0) playing role in the test's topology.  A role
 * the topology does not have, or an index past its count, ends the test
 * as an error; never returns NULL.
 */
MH_EXPORT mh_host *mh_role(mh_test *t, const char *role, unsigned index);

/*
 * Run a shell command (printf-style; quote what you insert with
 * mh_shell_quote() or use %s only with trusted text) on host h and return
 * its exit status (0..255; 128+N when a signal N ended it).  Its output
 * stays available through mh_stdout() and mh_stderr() until the next
 * command.  A command that cannot be run (connection lost, the test's
 * time is up) ends the test as an error.
 */
MH_EXPORT int mh_run(mh_test *t, mh_host *h, const char *fmt, ...) MH_PRINTF(3, 4);

/* The same with input on the command's standard input. */
MH_EXPORT int mh_run_input(mh_test *t, mh_host *h, const char *input, const char *fmt, ...)
        MH_PRINTF(4, 5);

/* The last command's standard output and error (borrowed from t; "" before any). */
MH_EXPORT const char *mh_stdout(const mh_test *t);
MH_EXPORT const char *mh_stderr(const mh_test *t);

/* End the test as failed, or as skipped, with a reason; mh_abort() ends it
 * as an error: the lab, not the software under test, failed it. */
MH_EXPORT void mh_fail(mh_test *t, const char *fmt, ...) MH_PRINTF(2, 3) __attribute__((noreturn));
MH_EXPORT void mh_skip(mh_test *t, const char *fmt, ...) MH_PRINTF(2, 3) __attribute__((noreturn));
MH_EXPORT void mh_abort(mh_test *t, const char *fmt, ...) MH_PRINTF(2, 3) __attribute__((noreturn));

/*
 * For APIs built on this one (a host type's test helpers, such as
 * mh_sql()): mh_test_keep() makes p the test's, freed with free_fn when
 * the test ends (p NULL does nothing); mh_test_check_host() ends the test
 * as an error unless h is one of its hosts.
 */
MH_EXPORT void mh_test_keep(mh_test *t, void *p, void (*free_fn)(void *));
MH_EXPORT void mh_test_check_host(mh_test *t, const mh_host *h);

/* Add a line to the test's log, shown with a failure and kept in the reports. */
MH_EXPORT void mh_note(mh_test *t, const char *fmt, ...) MH_PRINTF(2, 3);

/*
 * systemd units on a host, through D-Bus: start, stop, restart, reload
 * and wait for the job.  They return 0 or a negative code; on failure the
 * reason (unit, result, last journal lines) is mh_test_error(t).  Use them
 * with MH_ASSERT_OK() when they must succeed.
 */
MH_EXPORT int mh_service_start(mh_test *t, mh_host *h, const char *unit);
MH_EXPORT int mh_service_stop(mh_test *t, mh_host *h, const char *unit);
MH_EXPORT int mh_service_restart(mh_test *t, mh_host *h, const char *unit);
MH_EXPORT int mh_service_reload(mh_test *t, mh_host *h, const char *unit);

/* The unit's ActiveState ("active", "inactive", "failed", ...) borrowed
 * from t until the next call, or NULL with mh_test_error(t) set. */
MH_EXPORT const char *mh_service_state(mh_test *t, mh_host *h, const char *unit);

/* Send signal (SIGKILL, SIGTERM, ...) to every process of unit (KillUnit);
 * the restore starts it again if it should run. */
MH_EXPORT int mh_service_kill(mh_test *t, mh_host *h, const char *unit, int signal);

/*
 * Faults (<mhc/fault.h>, mhc-test(3) "Faults"): each call returns a fault
 * id (> 0) for mh_fault_heal(), or a negative code with mh_test_error(t)
 * saying why (the host and what it lacks).  Every fault the test started
 * is healed at its end, before the restore, also when it failed, crashed
 * or timed out; a fault also heals by itself 30 s after the test's
 * deadline (a dead man's switch on the host), so that a killed runner
 * leaves none.  The runner's own SSH traffic is never cut.
 *
 *     int cut = mh_partition(t, MH_HOSTS(client), MH_HOSTS(server), 0);
 *     MH_ASSERT_OK(t, cut);
 *     MH_ASSERT(t, mh_run(t, client, "curl -sf -m 2 http://server/") != 0);
 *     MH_ASSERT_OK(t, mh_fault_heal(t, cut));
 */

/* A NULL-terminated list of hosts, for mh_partition(). */
#define MH_HOSTS(...) ((mh_host *const[]){ __VA_ARGS__, NULL })

/* Start f on h. */
MH_EXPORT int mh_fault_start(mh_test *t, mh_host *h, const mh_fault *f);

/* mh_partition() flags: cut only what side sends to other; refuse
 * (ICMP, TCP reset) instead of dropping. */
#define MH_PARTITION_ONE_WAY (1u << 0)
#define MH_PARTITION_REJECT  (1u << 1)

/* No traffic between the hosts of side and those of other (by their
 * addresses in mhc.yaml), made on the hosts of side: one fault. */
MH_EXPORT int mh_partition(mh_test *t, mh_host *const *side, mh_host *const *other,
                           unsigned flags);

/* Heal fault id now. */
MH_EXPORT int mh_fault_heal(mh_test *t, int id);

/* Reboot h (a host with a kernel of its own, such as a VM) and wait until
 * it is back and systemd runs; 0, or a negative code with mh_test_error(t).
 * The test's processes on h are gone with the old boot; the run and its
 * lease go on, and the restore after the test puts h back as usual. */
MH_EXPORT int mh_reboot(mh_test *t, mh_host *h);

/* --- the test's own things ------------------------------------------------ */

/* The value of .params this test case runs with ("name[value]"), or NULL. */
MH_EXPORT const char *mh_param(const mh_test *t);

/* The number of hosts of role in the test's topology (0: none). */
MH_EXPORT unsigned mh_role_count(const mh_test *t, const char *role);

/*
 * Memory that lives until the test ends, so that a failed assertion leaks
 * nothing: a copy of s, a printf-style string, s quoted as one shell word
 * (mh_shell_quote()).  Out of memory ends the test as an error.
 */
MH_EXPORT char *mh_strdup(mh_test *t, const char *s);
MH_EXPORT char *mh_printf(mh_test *t, const char *fmt, ...) MH_PRINTF(2, 3);
MH_EXPORT const char *mh_quote(mh_test *t, const char *s);

/* The last command's standard output split into lines (without their
 * newlines), NULL-terminated, and how long it took, in microseconds. */
MH_EXPORT const char *const *mh_stdout_lines(mh_test *t);
MH_EXPORT uint64_t mh_last_duration_usec(const mh_test *t);

/*
 * Replace s (at least 4 bytes: shorter ones are not hidden) with "********"
 * in everything mhtest prints and keeps from now on: the console, the
 * reports, the artifacts.  For passwords a test makes up.
 */
MH_EXPORT void mh_secret(mh_test *t, const char *s);

/* --- cleanup ------------------------------------------------------------- */

/*
 * Actions run last in, first out once the test's body and MH_TEARDOWN are
 * done, also when they failed.  mh_cleanup_run() registers a command on
 * h (printf-style, quote what you insert); when the test's process is gone
 * (a crash, a timeout, Ctrl-C), mhtest runs the commands it did not run,
 * newest first.  mh_cleanup() registers a C function, run in the test's
 * process (not after a crash or a timeout).  A cleanup that fails (a
 * command's exit status other than 0, an assertion in fn) fails a test
 * that passed; the cleanups after it still run.  The restore after the
 * test puts back what the host's `backup:` covers; cleanups undo the rest
 * (transient units, stopped processes, files in /tmp).
 */
MH_EXPORT void mh_cleanup(mh_test *t, void (*fn)(mh_test *t, void *userdata), void *userdata);
MH_EXPORT void mh_cleanup_run(mh_test *t, mh_host *h, const char *fmt, ...) MH_PRINTF(3, 4);

/* --- waiting -------------------------------------------------------------- */

/*
 * Run the command (printf-style) until it exits 0, at most timeout_msec,
 * with a backoff from 50 ms to 1 s: 0, or -ETIMEDOUT with mh_test_error()
 * "'CMD' on HOST did not succeed within 5.0 s (37 tries): exit 1, 'last
 * output'".  Its output stays as for mh_run().
 */
MH_EXPORT int mh_wait_run(mh_test *t, mh_host *h, unsigned timeout_msec, const char *fmt, ...)
        MH_PRINTF(4, 5);

/* What MH_WAIT_UNTIL() counts: not for direct use. */
typedef struct mh_wait {
        mh_test *t;
        const char *expr, *file;
        unsigned line;
        uint64_t start, deadline;       /* monotonic usec */
        unsigned tries;
} mh_wait;

MH_EXPORT mh_wait mh_wait_begin(mh_test *t, unsigned timeout_msec, const char *expr,
                                const char *file, unsigned line);
MH_EXPORT void mh_wait_next(mh_wait *w);

/*
 * Evaluate cond until it holds, at most timeout_msec (backoff as above);
 * then fail the test: "x.c:12: n_users(t) == 3 did not hold within 5.0 s
 * (17 tries)".
 */
#define MH_WAIT_UNTIL(t, timeout_msec, cond)                                                    \
        for (mh_wait mh_w_ = mh_wait_begin((t), (timeout_msec), #cond, __FILE__, __LINE__);    \
             !(cond); mh_wait_next(&mh_w_))

/*
 * Journals: mh_journal_mark() remembers where h's journal is now;
 * mh_wait_journal() waits, at most timeout_msec, for a line of unit's
 * journal (NULL: any unit) that matches pattern (grep -E) since the mark,
 * or since the test started: 0 with the line as mh_stdout(), or
 * -ETIMEDOUT ("no line of sssd.service's journal on client.lab.test
 * matched 'Backend is online' within 10.0 s").
 */
MH_EXPORT int mh_journal_mark(mh_test *t, mh_host *h);
MH_EXPORT int mh_wait_journal(mh_test *t, mh_host *h, const char *unit, const char *pattern,
                              unsigned timeout_msec);

/* --- files ---------------------------------------------------------------- */

/*
 * Files of a host, through the runner's SFTP.  Before a call first changes
 * a path in this test, the path's state is recorded (a copy of it, or that
 * it was not there) and a cleanup puts it back at the end of the test,
 * inside `backup.paths` or not.  They return 0 or a negative code with
 * mh_test_error() ("host 'client.lab.test': cannot read /etc/x: No such
 * file").
 *
 * mh_file_read() returns the content (NUL-terminated, binary-safe: its size
 * in *ret_size, which may be NULL), freed with the test, or NULL.
 * mh_file_write() gives a file it creates mode; an existing file keeps its
 * mode and owner.
 */
MH_EXPORT char *mh_file_read(mh_test *t, mh_host *h, const char *path, size_t *ret_size);
MH_EXPORT int mh_file_write(mh_test *t, mh_host *h, const char *path, const void *data,
                            size_t size, unsigned mode);
MH_EXPORT int mh_file_append(mh_test *t, mh_host *h, const char *path, const char *text);
/* Remove a file or a directory with what it holds. */
MH_EXPORT int mh_file_remove(mh_test *t, mh_host *h, const char *path);
/* Make a directory and its missing parents (mkdir -p), with mode. */
MH_EXPORT int mh_mkdir(mh_test *t, mh_host *h, const char *path, unsigned mode);

/*
 * Set key = value in section of an INI-style file (sssd.conf, krb5.conf;
 * section NULL: before the first section): the key's line is replaced, or
 * added to the section, or the section is added.  value NULL removes the
 * key.  The file's mode stays; the file is put back at the end as above.
 */
MH_EXPORT int mh_ini_set(mh_test *t, mh_host *h, const char *path, const char *section,
                         const char *key, const char *value);

/* Fail the test unless path_a on a and path_b on b hold the same bytes,
 * showing the first line that differs. */
MH_EXPORT void mh_assert_same_file(mh_test *t, const char *file, unsigned line, mh_host *a,
                                   const char *path_a, mh_host *b, const char *path_b);
#define MH_ASSERT_SAME_FILE(t, a, path_a, b, path_b) \
        mh_assert_same_file((t), __FILE__, __LINE__, (a), (path_a), (b), (path_b))

/*
 * A directory of the test's own on h (mktemp -d under /tmp), made on first
 * use and removed at the end; the path is the test's.  NULL when it cannot
 * be made, with mh_test_error().
 */
MH_EXPORT const char *mh_scratch_dir(mh_test *t, mh_host *h);

/* Add path on h to the test's artifacts (with --artifacts-dir), under
 * DIR/TOPOLOGY/TEST/HOST/PATH, however the test ends. */
MH_EXPORT void mh_artifact(mh_test *t, mh_host *h, const char *path);

/* --- users and groups ---------------------------------------------------- */

/*
 * Add a user with a home directory and its own group (useradd -m -U), in
 * the groups listed (NULL-terminated, MH_LIST("wheel"); NULL: none), or a
 * group; they are removed at the end of the test (userdel -r, groupdel).
 * A password given is set with chpasswd and hidden like mh_secret().
 */
MH_EXPORT int mh_user_add(mh_test *t, mh_host *h, const char *name,
                          const char *const *groups, const char *password);
MH_EXPORT int mh_group_add(mh_test *t, mh_host *h, const char *name);

/* --- background jobs ------------------------------------------------------- */

/* A command running on a host while the test goes on. */
typedef struct mh_job mh_job;

/*
 * Start the command (printf-style) on h in a process group of its own,
 * its output kept in the test's scratch directory, and return at once;
 * NULL with mh_test_error() when it cannot start.  A job still running at
 * the end of the test is ended (SIGTERM, then SIGKILL).
 */
MH_EXPORT mh_job *mh_job_start(mh_test *t, mh_host *h, const char *fmt, ...) MH_PRINTF(3, 4);

/* Wait at most timeout_msec for the job to end: its exit status (128+N
 * after signal N), or -ETIMEDOUT. */
MH_EXPORT int mh_job_wait(mh_test *t, mh_job *job, unsigned timeout_msec);

/* Send signal to the job's process group. */
MH_EXPORT int mh_job_signal(mh_test *t, mh_job *job, int signal);

/* What the job wrote so far on its standard output and error (the test's). */
MH_EXPORT const char *mh_job_stdout(mh_test *t, mh_job *job);
MH_EXPORT const char *mh_job_stderr(mh_test *t, mh_job *job);

/* --- systemd ----------------------------------------------------------------- */

/* The unit's ActiveState, SubState, Result and InvocationID in *ret. */
MH_EXPORT int mh_service_status(mh_test *t, mh_host *h, const char *unit, mh_unit_state *ret);
/* systemctl reset-failed UNIT; systemctl daemon-reload. */
MH_EXPORT int mh_service_reset_failed(mh_test *t, mh_host *h, const char *unit);
MH_EXPORT int mh_daemon_reload(mh_test *t, mh_host *h);

/* --- errors and assertions -------------------------------------------------- */

/* The message of the last call of this test that failed, or "". */
MH_EXPORT const char *mh_test_error(const mh_test *t);

/*
 * The test's mh_error, for libmhc calls that take one: MH_ASSERT_OK()
 * clears it before the call and shows it after, so that a failure shows
 * that call's error, never an earlier one:
 *
 *     MH_ASSERT_OK(t, mh_sql_exec(db, "app", "VACUUM", mh_test_err(t)));
 */
MH_EXPORT mh_error *mh_test_err(mh_test *t);
MH_EXPORT void mh_test_clear_error(mh_test *t);

/* The assertions behind the macros. */
MH_EXPORT void mh_assert_failed(mh_test *t, const char *file, unsigned line, const char *expr)
        __attribute__((noreturn));
MH_EXPORT void mh_assert_ok(mh_test *t, const char *file, unsigned line, int r,
                            const char *expr);
MH_EXPORT void mh_assert_streq(mh_test *t, const char *file, unsigned line, const char *a,
                               const char *b, const char *expr_a, const char *expr_b);
MH_EXPORT void mh_assert_run_ok(mh_test *t, const char *file, unsigned line, mh_host *h,
                                const char *fmt, ...) MH_PRINTF(5, 6);
MH_EXPORT void mh_assert_run_exit(mh_test *t, const char *file, unsigned line, int expected,
                                  mh_host *h, const char *fmt, ...) MH_PRINTF(6, 7);
MH_EXPORT void mh_assert_int_failed(mh_test *t, const char *file, unsigned line,
                                    const char *expr_a, const char *op, const char *expr_b,
                                    long long a, long long b) __attribute__((noreturn));
MH_EXPORT void mh_assert_contains(mh_test *t, const char *file, unsigned line, const char *s,
                                  const char *part, const char *expr_s, const char *expr_part);
MH_EXPORT void mh_assert_fails(mh_test *t, const char *file, unsigned line, int r,
                               const char *expr);
MH_EXPORT void mh_fail_at(mh_test *t, const char *file, unsigned line, const char *fmt, ...)
        MH_PRINTF(4, 5) __attribute__((noreturn));

/* Fail the test, with file, line and the expression, unless expr holds. */
#define MH_ASSERT(t, expr)                                                      \
        do {                                                                    \
                if (!(expr))                                                    \
                        mh_assert_failed((t), __FILE__, __LINE__, #expr);       \
        } while (0)

/* Fail the test unless call returned 0 or more; says the call's error
 * (mh_test_error(t), cleared before the call). */
#define MH_ASSERT_OK(t, call)                                                   \
        do {                                                                    \
                mh_test_clear_error(t);                                         \
                mh_assert_ok((t), __FILE__, __LINE__, (call), #call);           \
        } while (0)

/* Fail the test unless call failed (returned less than 0). */
#define MH_ASSERT_FAILS(t, call)                                                \
        do {                                                                    \
                mh_test_clear_error(t);                                         \
                mh_assert_fails((t), __FILE__, __LINE__, (call), #call);        \
        } while (0)

/* Fail the test unless the integers compare so, showing both:
 * MH_ASSERT_INT(t, n_rows, >=, 3) fails with "n_rows >= 3 failed: 2 >= 3". */
#define MH_ASSERT_INT(t, a, op, b)                                                      \
        do {                                                                            \
                long long mh_a_ = (long long) (a), mh_b_ = (long long) (b);             \
                if (!(mh_a_ op mh_b_))                                                  \
                        mh_assert_int_failed((t), __FILE__, __LINE__, #a, #op, #b,      \
                                             mh_a_, mh_b_);                             \
        } while (0)

/* Fail the test unless s contains part (strstr()), showing both. */
#define MH_ASSERT_CONTAINS(t, s, part) \
        mh_assert_contains((t), __FILE__, __LINE__, (s), (part), #s, #part)

/* Run the command and fail the test unless it exits with status expected. */
#define MH_ASSERT_RUN_EXIT(t, h, expected, ...) \
        mh_assert_run_exit((t), __FILE__, __LINE__, (expected), (h), __VA_ARGS__)

/* Fail the test here (file and line) with a printf-style reason. */
#define MH_FAIL(t, ...) mh_fail_at((t), __FILE__, __LINE__, __VA_ARGS__)

/* Fail the test unless the strings are equal (NULL equals only NULL), showing both. */
#define MH_ASSERT_STREQ(t, a, b) mh_assert_streq((t), __FILE__, __LINE__, (a), (b), #a, #b)

/* Run the command and fail the test, showing its output, unless it exits 0. */
#define MH_ASSERT_RUN_OK(t, h, ...) mh_assert_run_ok((t), __FILE__, __LINE__, (h), __VA_ARGS__)

/* --- for runners (mhtest) ------------------------------------------------ */

/* A loaded test module. */
typedef struct mh_module mh_module;

/*
 * Load the test module at path with dlopen() and collect its tests.
 * Refused with -MH_ERR_ABI (built for another MH_TEST_ABI), or
 * -MH_ERR_CONFIG: no tests in it, two tests of one name ("two tests named
 * 'x', at a.c:12 and b.c:40"), two setup or teardown hooks, a module
 * loaded twice, or dlopen()'s message.
 */
MH_EXPORT int mh_module_load(const char *path, mh_module **ret, mh_error *error);
/* Forget the module (NULL is fine); its code stays loaded.  Returns NULL. */
MH_EXPORT mh_module *mh_module_free(mh_module *m);
MH_EXPORT const char *mh_module_path(const mh_module *m);
/* The module's tests in the order of their definition. */
MH_EXPORT size_t mh_module_n_tests(const mh_module *m);
MH_EXPORT const mh_test_info *mh_module_test(const mh_module *m, size_t i);

typedef enum mh_test_status {
        MH_TEST_PASSED,
        MH_TEST_FAILED,
        MH_TEST_SKIPPED,
        MH_TEST_ERROR, /* crashed, timed out, interrupted, or the lab failed it */
} mh_test_status;

/* "passed", "failed", "skipped", "error". */
MH_EXPORT const char *mh_test_status_to_string(mh_test_status s);

/* How to run one test. */
typedef struct mh_test_plan {
        const mh_module *module;
        const mh_test_info *info;
        const char *topology;
        mh_host *const *hosts;  /* the topology's hosts ... */
        const char *const *roles; /* ... and the role each plays, n of each */
        size_t n_hosts;
        unsigned timeout_sec;   /* 0: info's, or MH_TEST_DEFAULT_TIMEOUT */
        int cancel_fd;          /* readable: stop the test (Ctrl-C); -1 for none */
        /* Called for each remote command of the test, in the runner's process. */
        mh_command_fn on_command;
        /* Called for each mh_note() of the test. */
        void (*on_note)(const char *line, void *userdata);
        void *userdata;
        const char *param;      /* the value of info->params, or NULL */
        /* Called for each mh_secret() of the test and each file it asks
         * for with mh_artifact() (host: an index into hosts); may be NULL. */
        void (*on_secret)(const char *secret, void *userdata);
        void (*on_artifact)(size_t host, const char *path, void *userdata);
} mh_test_plan;

typedef struct mh_test_outcome {
        mh_test_status status;
        char *message;          /* one line: why it failed, skipped or errored; NULL if passed */
        char *details;          /* more lines (a command's output, notes); may be NULL */
        uint64_t duration_usec; /* of the test's process */
        int signal;             /* the signal that ended it, or 0 */
        int timed_out;
        int cancelled;
} mh_test_outcome;

/*
 * Run one test in a process of its own and wait for it, serving its
 * remote commands and systemd calls over the hosts' connections: a test
 * that crashes, exits or outlives its timeout is killed and an error.
 * Returns 0 when the test ran (whatever its outcome, in *ret) or a
 * negative code when it could not be started.  mh_test_outcome_dispose()
 * frees what *ret holds.
 */
MH_EXPORT int mh_test_execute(const mh_test_plan *plan, mh_test_outcome *ret, mh_error *error);
MH_EXPORT void mh_test_outcome_dispose(mh_test_outcome *o);

MH_END_DECLS

#endif
