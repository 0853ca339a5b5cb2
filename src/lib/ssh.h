/* SPDX-License-Identifier: MIT */
#ifndef MH_SSH_INTERNAL_H
#define MH_SSH_INTERNAL_H

/*
 * The SSH layer's own header: what its files (ssh.c sessions, ssh-exec.c
 * commands, ssh-sftp.c file transfers, tunnel.c tunnels, ssh-forward.c
 * forwards of a local socket) share, and what
 * the library's other modules need of it beyond <mhc/ssh.h>.
 *
 * No message of this layer names the host: the host layer does that, and
 * a caller that uses a session directly adds the name itself.
 */

#include <stdbool.h>

#include <libssh/libssh.h>
#include <libssh/sftp.h>

#include <mhc/buf.h>
#include <mhc/log.h>
#include <mhc/ssh.h>

#define MH_SSH_COMMAND_SHOWN_MAX 200 /* bytes of a command quoted in a message */

struct mh_ssh {
        const mh_host_config *host;
        ssh_session session;
        sftp_session sftp;      /* made on first use */
        char *fingerprint;      /* "SHA256:..." of the host key */
        mh_command_fn observer; /* called after each command, or NULL */
        void *observer_userdata;
        char *prelude;          /* of the commands whose options name none, or NULL */
};

/*
 * Make a new, checked and authenticated libssh session to host: for
 * connecting, reconnecting and tunnels alike.  *ret_fingerprint is the
 * host key's, the caller's to free().
 */
int mh_ssh_open_session(const mh_host_config *host, ssh_session *ret_session,
                        char **ret_fingerprint, mh_error *e);

/* Disconnect and free a libssh session (NULL is fine), closing its socket once. */
void mh_ssh_session_end(ssh_session session);

/* Whether s has a live connection. */
bool mh_ssh_connected(const mh_ssh *s);

/* Replace the lost connection of s by a new one with the same checks. */
int mh_ssh_reconnect(mh_ssh *s, mh_error *e);

/* Hand a failure recorded in e to the caller's error object as it is. */
int mh_ssh_fail(int r, const mh_error *e, mh_error *error);

/* The command as it appears in messages: cut after MH_SSH_COMMAND_SHOWN_MAX bytes. */
void mh_ssh_format_command(const char *command, char *buf, size_t size);

/* -EPERM with a message in a forked test process (mh_ssh_forbid_sessions()), else 0. */
int mh_ssh_check_allowed(mh_error *e);

/* In a forked test process: every later call on a session fails with
 * -EPERM, as the sessions the process inherited belong to its parent. */
void mh_ssh_forbid_sessions(void);

/*
 * The bytes between a local socket (fd) and an SSH channel, for the thread
 * of a tunnel or a forward (ssh-pump.c); to_local is given its maximum by
 * the owner.
 */
typedef struct mh_pump {
        ssh_channel channel;
        int fd;
        mh_buf to_local;       /* from the host, not yet written to fd */
        size_t to_local_start; /* bytes of to_local already written */
        bool local_eof;        /* the local side shut its writing down (EOF sent on) */
} mh_pump;

/* Keep size bytes from the host for the local side (-EFBIG past to_local's maximum). */
int mh_pump_keep(mh_pump *p, const void *data, size_t size);
/* Bytes kept for the local side and not yet written. */
size_t mh_pump_waiting(const mh_pump *p);
/* Write what is kept to the local side without blocking; false if it is gone. */
bool mh_pump_to_local(mh_pump *p, bool *progress);
/* Send what the local side wrote, at most chunk bytes at once and within the
 * channel's window so that ssh_channel_write() never waits, its EOF as EOF;
 * false once the host side is gone.  buf holds chunk bytes. */
bool mh_pump_to_host(mh_pump *p, char *buf, uint32_t chunk, bool *progress);

#endif
