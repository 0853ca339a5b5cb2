/* SPDX-License-Identifier: MIT */
#ifndef MH_SSH_INTERNAL_H
#define MH_SSH_INTERNAL_H

/* What the library's own modules need of the SSH layer beyond <mhc/ssh.h>. */

#include <mhc/ssh.h>

/*
 * Run command on host over a connection of its own (same authentication
 * and host-key checks as mh_ssh_connect()) and join the command's stdin
 * and stdout to a local socket, *ret_fd: what is written to it reaches the
 * command's stdin, what the command prints can be read from it.  A thread
 * moves the bytes.  Closing *ret_fd sends EOF to the command, closes the
 * channel and the connection, and ends the thread; the command's end or a
 * lost connection shows as EOF on *ret_fd.  Used for D-Bus
 * (systemd-stdio-bridge) and for the run's lease on a host.
 */
int mh_ssh_tunnel(const mh_host_config *host, const char *command, int *ret_fd, mh_error *error);

/*
 * Close a tunnel's fd: send EOF to the command, wait at most timeout_msec
 * until the tunnel's thread has closed the connection (what the command
 * still prints is dropped), close fd and join the thread.  Every tunnel is
 * closed with this, never with close(2), so that no thread of it outlives
 * its caller.
 */
void mh_ssh_tunnel_close(int fd, unsigned timeout_msec);

/* In a forked test process: every later call on a session fails with
 * -EPERM, as the sessions the process inherited belong to its parent. */
void mh_ssh_forbid_sessions(void);

#endif
