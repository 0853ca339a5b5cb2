/* SPDX-License-Identifier: MIT */
#ifndef MH_TUNNEL_H
#define MH_TUNNEL_H

/* Tunnels: a command on a host with its stdin and stdout joined to a local
 * socket.  Used for D-Bus (systemd-stdio-bridge) and for the run's lease. */

#include <mhc/config.h>
#include <mhc/error.h>

typedef struct mh_tunnel mh_tunnel;

/*
 * Run command on host over a connection of its own (same authentication
 * and host-key checks as mh_ssh_connect()) and join its stdin and stdout
 * to a local socket, mh_tunnel_fd(): what is written to it reaches the
 * command's stdin, what the command prints can be read from it.  A thread
 * moves the bytes and logs the command's stderr at debug level.  The
 * command's end or a lost connection shows as EOF on the socket.
 */
int mh_tunnel_open(const mh_host_config *host, const char *command, mh_tunnel **ret,
                   mh_error *error);

/*
 * The local socket (borrowed: never close it; mh_tunnel_close() does),
 * or -1 once closed.  Something that closes the descriptor it is given
 * (sd_bus) gets a dup of it.
 */
int mh_tunnel_fd(const mh_tunnel *t);

/*
 * End the tunnel: send EOF to the command, wait at most wait_msec until
 * the thread has let go of the connection (what the command still prints
 * is dropped), close the socket and join the thread, so that nothing of
 * the tunnel outlives the call.  Closing twice does nothing.
 */
void mh_tunnel_close(mh_tunnel *t, unsigned wait_msec);

/* Close (without waiting) and free; NULL is fine.  Returns NULL. */
mh_tunnel *mh_tunnel_free(mh_tunnel *t);

#endif
