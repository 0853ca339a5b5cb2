/* SPDX-License-Identifier: MIT */
#ifndef MHC_SSH_H
#define MHC_SSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mhc/common.h>
#include <mhc/config.h>
#include <mhc/error.h>
#include <mhc/log.h>

MH_BEGIN_DECLS

/*
 * One persistent, authenticated SSH session to a host.  Commands and file
 * transfers share it.  Messages of this layer never name the host: a
 * caller that has several hosts adds the name (the host layer, mh_host_*,
 * does).  An mh_ssh is used by one
 * thread at a time; different sessions may be used by different threads.
 */
typedef struct mh_ssh mh_ssh;

/*
 * Connect to host and authenticate: with conn.private_key if set, else with
 * ssh-agent if SSH_AUTH_SOCK is set, then with conn.password if set.  The
 * host key is verified against conn.known_hosts by conn.host_key_policy.
 * Fails with -MH_ERR_HOST_KEY, -MH_ERR_AUTH, -ETIMEDOUT, -ECONNREFUSED,
 * -EHOSTUNREACH or -MH_ERR_SSH and a message that says what to do.
 * host must outlive the session.
 */
MH_EXPORT int mh_ssh_connect(const mh_host_config *host, mh_ssh **ret, mh_error *error);

/*
 * Connect to n hosts in parallel.  ret_sessions[i] and errors[i] (both
 * arrays of n, errors may be NULL) receive each host's session or failure.
 * Returns 0 when every host connected, else the first failure's code; the
 * sessions that did connect are the caller's either way.
 */
MH_EXPORT int mh_ssh_connect_many(const mh_host_config *const *hosts, size_t n,
                                  mh_ssh **ret_sessions, mh_error *errors);

/* Disconnect and free (NULL is fine); returns NULL. */
MH_EXPORT mh_ssh *mh_ssh_free(mh_ssh *s);

/* The host this session belongs to. */
MH_EXPORT const mh_host_config *mh_ssh_host(const mh_ssh *s);

/* The SHA256 fingerprint of the host key the server showed, "SHA256:...". */
MH_EXPORT const char *mh_ssh_host_key_fingerprint(const mh_ssh *s);

/*
 * Call fn after each command mh_ssh_exec() runs on s, from the thread
 * that ran it, with the host, the command, its exit status, why it did not
 * finish (if it did not) and how long it took; NULL: none.  mh_host sets
 * its own (mh_host_set_command_observer()) on the sessions it makes.
 */
MH_EXPORT void mh_ssh_set_command_observer(mh_ssh *s, mh_command_fn fn, void *userdata);

/* Shell code that every command on s runs first, unless its options give
 * a prelude of their own (copied; NULL: none).  -ENOMEM or 0. */
MH_EXPORT int mh_ssh_set_prelude(mh_ssh *s, const char *prelude);

/* Default cap on each of stdout and stderr of one command: 256 MiB. */
#define MH_EXEC_MAX_OUTPUT_DEFAULT ((size_t) 256 << 20)

/*
 * The timeout is enforced on the host: the command runs under coreutils'
 * timeout(1) in a process group of its own, which gets SIGTERM at the limit
 * and SIGKILL 2 s later, even if the connection is gone by then.  Processes
 * that leave that group (setsid, daemons) are not ended.
 */
typedef struct mh_exec_options {
        const void *input;      /* sent to the command's stdin, then EOF */
        size_t input_size;
        unsigned timeout_msec;  /* 0: the host's conn.command_timeout */
        size_t max_output;      /* per stream; 0: MH_EXEC_MAX_OUTPUT_DEFAULT */
        const char *prelude;    /* shell code run first by the same shell, not
                                 * shown in logs (NULL: none) */
        /* > 0: when it becomes readable (or is already), stop waiting at once
         * and fail with -ECANCELED ("cancelled: COMMAND"); the channel is
         * closed, the remote command is not waited for.  0 (stdin) cannot be
         * used: it is what a zeroed struct holds, and means none, as -1 does. */
        int cancel_fd;
} mh_exec_options;

typedef struct mh_exec_result {
        int exit_status;        /* 0..255; 128+N when killed by signal N */
        int signal;             /* N, or 0 */
        char *out;              /* stdout, NUL-terminated (may hold NULs) */
        size_t out_size;
        char *err;              /* stderr, likewise */
        size_t err_size;
        uint64_t duration_usec;
} mh_exec_result;

/*
 * Run command with the user's shell on the host and wait for it.  A
 * non-zero exit status is a result, not a failure: the return value is
 * negative only when the command could not run to its end (connection
 * lost, -ETIMEDOUT with the remote command ended, -EFBIG for output over
 * max_output, -ECANCELED through cancel_fd).  A dropped connection is
 * re-opened once if the command had not been sent yet.  On success *ret is
 * filled; release it with mh_exec_result_dispose().  options may be NULL.
 */
MH_EXPORT int mh_ssh_exec(mh_ssh *s, const char *command, const mh_exec_options *options,
                          mh_exec_result *ret, mh_error *error);

/* Free the buffers of r and zero it. */
MH_EXPORT void mh_exec_result_dispose(mh_exec_result *r);

/* Bytes of the stderr line that mh_exec_result_summary() keeps. */
#define MH_EXEC_SUMMARY_LINE_MAX 300
/* A buffer size that holds any summary whole. */
#define MH_EXEC_SUMMARY_SIZE (MH_EXEC_SUMMARY_LINE_MAX + 64)

/*
 * How a command that ran and failed ended, on one line for a message
 * ("backup command failed with %s"): "exit status 3: LINE", LINE being the
 * last non-empty line of its stderr (where tools put their final word),
 * cut after MH_EXEC_SUMMARY_LINE_MAX bytes with "...", or "(nothing on
 * stderr)"; "exit status 137 (signal 9): ..." when a signal ended it.
 * Written into buf (cut to size); returns buf.
 */
MH_EXPORT const char *mh_exec_result_summary(const mh_exec_result *r, char *buf, size_t size);

/* Copy a local file to the host over SFTP (mode taken from the local file). */
MH_EXPORT int mh_ssh_upload(mh_ssh *s, const char *local_path, const char *remote_path,
                            mh_error *error);

/* Copy a file from the host to local_path over SFTP (mode taken from the
 * remote file, less the umask); a copy that fails midway is removed. */
MH_EXPORT int mh_ssh_download(mh_ssh *s, const char *remote_path, const char *local_path,
                              mh_error *error);

/* Write data to remote_path over SFTP, created or truncated with mode. */
MH_EXPORT int mh_ssh_write_file(mh_ssh *s, const char *remote_path, const void *data,
                                size_t size, unsigned mode, mh_error *error);

/* Read remote_path over SFTP, up to max_size bytes (else -EFBIG); *ret is
 * NUL-terminated and the caller's to free(). */
MH_EXPORT int mh_ssh_read_file(mh_ssh *s, const char *remote_path, size_t max_size,
                               char **ret, size_t *ret_size, mh_error *error);

/*
 * A forward: a local Unix socket, DIR/name in a new directory of mode 0700
 * under $TMPDIR (or /tmp), so that only this user can connect to it; each
 * connection made to it is carried to target on the host over an SSH
 * connection of the forward's own (same authentication and host-key checks
 * as mh_ssh_connect(), opened again when lost): target is a TCP address
 * with port, as the host resolves it ("127.0.0.1"), or the absolute path of
 * a Unix socket there (port unused).  A thread accepts the connections and
 * moves the bytes; processes forked after the call may connect to it while
 * the thread runs in their parent.
 */
typedef struct mh_ssh_forward mh_ssh_forward;

MH_EXPORT int mh_ssh_forward_open(const mh_host_config *host, const char *name, const char *target,
                                  unsigned port, mh_ssh_forward **ret, mh_error *error);

/* The socket's directory and the socket itself (borrowed). */
MH_EXPORT const char *mh_ssh_forward_dir(const mh_ssh_forward *f);
MH_EXPORT const char *mh_ssh_forward_path(const mh_ssh_forward *f);

/*
 * Why the thread last failed to carry a connection (the host refused the
 * channel, the connection was lost), into buf, and forget it: a client that
 * saw its connection closed at once can say why.  false when nothing failed
 * since the last call.
 */
MH_EXPORT bool mh_ssh_forward_error(mh_ssh_forward *f, char *buf, size_t size);

/*
 * End the thread, close the connections and remove the socket and its
 * directory; NULL is fine; returns NULL.  In a forked child it only frees
 * the memory: the parent's thread and socket are left alone.
 */
MH_EXPORT mh_ssh_forward *mh_ssh_forward_free(mh_ssh_forward *f);

MH_END_DECLS

#endif
