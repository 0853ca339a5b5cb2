/* SPDX-License-Identifier: MIT */
#ifndef MH_TEST_WIRE_H
#define MH_TEST_WIRE_H

/*
 * The wire between a test's process and the runner that forked it (a
 * socketpair): frames of a type, a size and fields.  The test asks the
 * runner for each remote command and systemd call, since the hosts' SSH
 * sessions stay the runner's (their encryption state cannot be shared
 * between processes); the runner answers each request before reading the
 * next.  test.c is the test's end, test-runner.c the runner's, which
 * reads and writes without blocking so that no test can hang it.
 */

#include <stdint.h>

#include <mhc/test.h>

#include "util.h"

/* The types of frames. */
enum {
        MH_TEST_WIRE_EXEC = 1,   /* test -> runner: host, command, input */
        MH_TEST_WIRE_UNIT,       /* test -> runner: host, verb, unit */
        MH_TEST_WIRE_NOTE,       /* test -> runner: a line of the test's log */
        MH_TEST_WIRE_END,        /* test -> runner: status, message, details */
        MH_TEST_WIRE_EXEC_REPLY, /* runner -> test: code, exit status, stdout, stderr, message,
                                  * duration (usec, decimal) */
        MH_TEST_WIRE_UNIT_REPLY, /* runner -> test: code, state or message */
        MH_TEST_WIRE_FAULT,      /* test -> runner: host, verb, the fault or its number */
        MH_TEST_WIRE_FAULT_REPLY, /* runner -> test: code, number, message */
        MH_TEST_WIRE_SECRET,     /* test -> runner: a secret to hide (no reply) */
        MH_TEST_WIRE_ARTIFACT,   /* test -> runner: host, path to collect (no reply) */
        MH_TEST_WIRE_CLEANUP,    /* test -> runner: verb, then host and command, or id */
        MH_TEST_WIRE_CLEANUP_REPLY, /* runner -> test: code, id or exit status, message */
        MH_TEST_WIRE_FILE,       /* test -> runner: verb, host, path, [data, mode] */
        MH_TEST_WIRE_FILE_REPLY, /* runner -> test: code, content or message */
};

/* What a MH_TEST_WIRE_CLEANUP request asks: ADD a command (host, command)
 * to the runner's list, whose id the reply gives; RUN command id now (the
 * reply gives its exit status and, as the message, its output). */
typedef enum mh_test_wire_cleanup_verb {
        MH_TEST_WIRE_CLEANUP_ADD,
        MH_TEST_WIRE_CLEANUP_RUN,
} mh_test_wire_cleanup_verb;

/* What a MH_TEST_WIRE_FILE request asks over SFTP: READ (host, path) or
 * WRITE (host, path, data, mode). */
typedef enum mh_test_wire_file_verb {
        MH_TEST_WIRE_FILE_READ,
        MH_TEST_WIRE_FILE_WRITE,
} mh_test_wire_file_verb;

/* What a MH_TEST_WIRE_FAULT request asks: START is followed by kind,
 * direction, reject, percent, interval_msec, bytes_per_sec, unit,
 * faketime, path, max_fs_bytes, delay_msec, jitter_msec,
 * duplicate_percent, reorder_percent, step_sec (the numbers of 64 bits as
 * decimal strings), the number of peers and the peers; HEAL by the fault's
 * number on the host; REBOOT by nothing. */
typedef enum mh_test_wire_fault_verb {
        MH_TEST_WIRE_FAULT_START,
        MH_TEST_WIRE_FAULT_HEAL,
        MH_TEST_WIRE_FAULT_REBOOT, /* the host rebooted, waited for */
} mh_test_wire_fault_verb;

/* The most peers of one fault. */
#define MH_TEST_WIRE_PEERS_MAX 256

/* What a MH_TEST_WIRE_UNIT request asks of systemd. */
typedef enum mh_test_wire_verb {
        MH_TEST_WIRE_START,
        MH_TEST_WIRE_STOP,
        MH_TEST_WIRE_RESTART,
        MH_TEST_WIRE_RELOAD,
        MH_TEST_WIRE_STATE,
        MH_TEST_WIRE_KILL, /* followed by the signal */
        MH_TEST_WIRE_STATUS, /* the reply's text: active, sub-state, result, invocation id, a line each */
        MH_TEST_WIRE_RESET_FAILED,
        MH_TEST_WIRE_DAEMON_RELOAD, /* no unit */
} mh_test_wire_verb;

#define MH_TEST_WIRE_OUTPUT_MAX (64u << 20)  /* per stream of one test command */
#define MH_TEST_WIRE_FRAME_MAX  (160u << 20) /* two streams of OUTPUT_MAX, and more */

/* The fields of a received frame, read in order. */
typedef struct mh_test_wire_reader {
        const char *p;
        size_t left;
} mh_test_wire_reader;

static inline mh_test_wire_reader mh_test_wire_reader_of(const mh_buf *payload) {
        return (mh_test_wire_reader){ .p = payload->data, .left = payload->size };
}

/* Append a field to a frame's payload: 0, or -EFBIG past the buffer's maximum. */
int mh_test_wire_put_u32(mh_buf *b, uint32_t v);
/* A field of bytes: its size, the bytes and a NUL, so that it reads as a string. */
int mh_test_wire_put_bytes(mh_buf *b, const void *data, size_t size);
/* A string (NULL: ""). */
int mh_test_wire_put_str(mh_buf *b, const char *s);

/* Take the next field: 0, or -EBADMSG when the frame does not hold it. */
int mh_test_wire_get_u32(mh_test_wire_reader *rd, uint32_t *ret);
/* A field of bytes as a NUL-terminated string borrowed from the frame. */
int mh_test_wire_get_bytes(mh_test_wire_reader *rd, const char **ret, size_t *ret_size);

/* Send one frame of type with payload. */
int mh_test_wire_send(int fd, uint32_t type, const mh_buf *payload);
/* Read one frame into payload (replacing what it held): 1, 0 at end of file, or a
 * negative code. */
int mh_test_wire_recv(int fd, uint32_t *ret_type, mh_buf *payload);

/*
 * The runner's end, which a test must never block.  Send one frame,
 * waiting for room at most until deadline (monotonic usec; -ETIME after
 * it) and no longer once cancel_fd (-1: none) is readable (-ECANCELED).
 */
int mh_test_wire_send_until(int fd, uint32_t type, const mh_buf *payload, uint64_t deadline,
                            int cancel_fd);

/* A frame received in pieces, as they come. */
typedef struct mh_test_wire_inbox {
        char header[8];
        size_t got_header;
        bool complete;  /* payload holds a whole frame */
        mh_buf payload; /* NUL-terminated once complete */
} mh_test_wire_inbox;

/*
 * Read what fd holds into in, without blocking: 1 when a frame is whole
 * (its type in *ret_type, its payload in in->payload until the next call),
 * -EAGAIN when more must come first (poll fd, call again), 0 at end of
 * file between frames, -EPIPE at end of file inside one, or a negative code.
 */
int mh_test_wire_recv_some(int fd, mh_test_wire_inbox *in, uint32_t *ret_type);
void mh_test_wire_inbox_dispose(mh_test_wire_inbox *in);

/*
 * The test's end, in the process forked for it (test.c): run the module's
 * setup hook, the test's body and the teardown hook against plan, asking
 * the runner at fd for each command, send the test's end and exit.
 */
_Noreturn void mh_test_process_main(const mh_test_plan *plan, int fd);

#endif
