/* SPDX-License-Identifier: MIT */
#ifndef MH_TEST_PRIVATE_H
#define MH_TEST_PRIVATE_H

/*
 * The test's process (test.c and the test-*.c files of the test API): the
 * running test, and how its calls reach the runner over the wire.
 */

#include <setjmp.h>
#include <stdarg.h>

#include <mhc/test.h>

#include "test-wire.h"
#include "util.h"

#define SHOWN_MAX       4096 /* of a command's output in a failure's details */
#define VALUE_SHOWN_MAX 200  /* of a compared string in a failure's message */
#define FAULTS_MAX      128  /* started by one test, on all its hosts */

typedef enum phase {
        PHASE_SETUP,
        PHASE_BODY,
        PHASE_TEARDOWN,
        PHASE_CLEANUP,
} phase;

/* A fault the test started: fault n of one of its hosts, part of fault id. */
typedef struct test_fault {
        int id;
        uint32_t host;
        uint32_t n;
} test_fault;

/* Something the test owns, freed with it (mh_test_keep()). */
typedef struct kept {
        void *p;
        void (*free_fn)(void *);
} kept;

/* A cleanup: a C function, or command id of the runner's list (fn NULL). */
typedef struct cleanup {
        void (*fn)(mh_test *t, void *userdata);
        void *userdata;
        uint32_t id;                    /* of a command the runner keeps */
        mh_host *host;                  /* the command's, for messages */
        const char *command;            /* owned by the test */
} cleanup;

/* What the test keeps per host: its scratch directory, journal mark, the
 * paths whose state it recorded. */
typedef struct test_host {
        char *scratch;
        char *cursor;           /* mh_journal_mark()'s, or NULL: since the start */
        mh_strv recorded;
        unsigned n_saved;       /* copies in scratch */
        unsigned n_jobs;
} test_host;

struct mh_test {
        const mh_test_plan *plan;
        int fd;                         /* to the runner */
        jmp_buf end;                    /* where mh_fail() and friends go */
        phase phase;
        bool ended;                     /* the status below is final */
        mh_test_status status;
        char *message;
        mh_buf details;
        mh_buf reply;                   /* the last frame from the runner */
        char *out, *err;                /* of the last command */
        size_t out_size;
        char *last_command;             /* "host: command", for failures */
        int last_exit_status;
        uint64_t last_duration_usec;
        mh_error error;                 /* of the last call that failed */
        char state[32];
        kept *kept;                     /* freed with the test */
        size_t n_kept;
        test_fault faults[FAULTS_MAX];  /* healed by the runner at the end */
        size_t n_faults;
        int last_fault_id;
        cleanup *cleanups;
        size_t n_cleanups;
        test_host *hosts;               /* plan->n_hosts of them */
        uint64_t start_realtime_usec;   /* when the test's process started */
};

/* End the test with status (the first ending counts) and leave the phase. */
_Noreturn void mh_test_end(mh_test *t, mh_test_status status, const char *fmt, ...)
        MH_PRINTF(3, 4);
_Noreturn void mh_test_endv(mh_test *t, mh_test_status status, const char *fmt, va_list ap)
        MH_PRINTF(3, 0);
#define mh_test_oom(t) mh_test_end((t), MH_TEST_ERROR, "out of memory")

/* Send a request and wait for its reply (left in t->reply); the runner gone ends the process. */
mh_test_wire_reader mh_test_call(mh_test *t, uint32_t type, const mh_buf *payload,
                                 uint32_t reply_type);
void mh_test_send(mh_test *t, uint32_t type, const mh_buf *payload);
_Noreturn void mh_test_runner_lost(void);

/* The index of h among the test's hosts; another host ends the test. */
uint32_t mh_test_host_index(mh_test *t, mh_host *h);

/* Run command on h (input of input_size bytes, NULL: none): its exit status,
 * its output in t->out and t->err.  A command that cannot run ends the test. */
int mh_test_run_command(mh_test *t, mh_host *h, const char *input, size_t input_size,
                        const char *command);

int mh_test_run_commandv(mh_test *t, mh_host *h, const char *input, const char *fmt, va_list ap)
        MH_PRINTF(4, 0);

/* Set t->error: returns code (negative). */
int mh_test_set_error(mh_test *t, int code, const char *fmt, ...) MH_PRINTF(3, 4);

/* Take p (malloc'd; NULL ends the test as out of memory) as the test's, freed with it. */
void *mh_test_own(mh_test *t, void *p);

/* mh_printf() with a va_list. */
char *mh_test_vprintf(mh_test *t, const char *fmt, va_list ap) MH_PRINTF(2, 0);

/* s on one line (newlines as spaces, no blanks at its end), the test's. */
const char *mh_test_one_line(mh_test *t, const char *s);

/* Add to the failure's details. */
void mh_test_show_last_command(mh_test *t);

/* s cut for a one-line message, with its newlines shown as \n. */
void mh_test_shown_value(const char *s, char buf[static VALUE_SHOWN_MAX + 8]);

/* Run the cleanups newest first (test-files.c keeps the rest of them). */
void mh_test_run_cleanups(mh_test *t);

/* Free what the test keeps per host. */
void mh_test_hosts_dispose(mh_test *t);

#endif
