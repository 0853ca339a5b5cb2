/* SPDX-License-Identifier: MIT */
#ifndef MHC_TEST_H
#define MHC_TEST_H

#include <stdint.h>

#include <mhc/common.h>
#include <mhc/error.h>
#include <mhc/fault.h>
#include <mhc/host.h>
#include <mhc/log.h>

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
#define MH_TEST_ABI 1

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
} mh_test_info;

/* A NULL-terminated list of strings, for .topologies and .tags. */
#define MH_LIST(...) ((const char *const[]){ __VA_ARGS__, NULL })

#define MH_TEST_DEFAULT_TIMEOUT 300

#define MH_TEST(test_name, ...)                                                         \
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
        static void mh_test_body_##test_name(mh_test *t)

/*
 * Hooks of a module: MH_SETUP runs before each of its tests, MH_TEARDOWN
 * after each (also when the test failed), in the test's process, with the
 * test's hosts.  A failure in either fails the test.  One of each per
 * module.
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
        static void fn(mh_test *t)

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

/* The message of the last call of this test that failed, or "". */
MH_EXPORT const char *mh_test_error(const mh_test *t);

/* The assertions behind the macros. */
MH_EXPORT void mh_assert_failed(mh_test *t, const char *file, unsigned line, const char *expr)
        __attribute__((noreturn));
MH_EXPORT void mh_assert_ok(mh_test *t, const char *file, unsigned line, int r,
                            const char *expr);
MH_EXPORT void mh_assert_streq(mh_test *t, const char *file, unsigned line, const char *a,
                               const char *b, const char *expr_a, const char *expr_b);
MH_EXPORT void mh_assert_run_ok(mh_test *t, const char *file, unsigned line, mh_host *h,
                                const char *fmt, ...) MH_PRINTF(5, 6);

/* Fail the test, with file, line and the expression, unless expr holds. */
#define MH_ASSERT(t, expr)                                                      \
        do {                                                                    \
                if (!(expr))                                                    \
                        mh_assert_failed((t), __FILE__, __LINE__, #expr);       \
        } while (0)

/* Fail the test unless call returned 0 or more; says mh_test_error(t). */
#define MH_ASSERT_OK(t, call) mh_assert_ok((t), __FILE__, __LINE__, (call), #call)

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
