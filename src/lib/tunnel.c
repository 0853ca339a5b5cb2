/* SPDX-License-Identifier: MIT */
/*
 * Tunnels: a command on a host over an SSH connection of its own, its
 * stdin and stdout joined to a local socket by a thread that moves the
 * bytes.  The caller holds an mh_tunnel; closing it ends the command and
 * joins the thread.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>

#include <libssh/libssh.h>
#include <openssl/crypto.h>

#include <mhc/log.h>

#include "config.h"
#include "ssh.h"
#include "tunnel.h"
#include "util.h"

#define TUNNEL_CHUNK      (64u << 10) /* bytes moved at once either way */
#define TUNNEL_BUFFER_MAX (1u << 20)  /* bytes from the host waiting for the local side */
#define TUNNEL_LINE_MAX   512u        /* bytes of one logged stderr line */

/* What the tunnel's thread owns. */
typedef struct tunnel {
        char *host; /* the host's name: the config may go before the thread */
        ssh_session session;
        mh_pump pump;               /* the channel and our end of the socket pair */
        char *command;              /* as shown in the log */
        char line[TUNNEL_LINE_MAX]; /* the command's stderr line being collected */
        size_t line_size;
} tunnel;

static void tunnel_free(tunnel *t) {
        if (!t)
                return;
        if (t->pump.channel) {
                if (ssh_is_connected(t->session))
                        (void) ssh_channel_close(t->pump.channel);
                ssh_channel_free(t->pump.channel);
        }
        mh_ssh_session_end(t->session);
        if (t->pump.fd >= 0)
                close(t->pump.fd);
        mh_buf_dispose(&t->pump.to_local);
        free(t->command);
        free(t->host);
        free(t);
}

static void tunnel_log_line(tunnel *t) {
        if (t->line_size == 0)
                return;
        mh_log(MH_LOG_DEBUG, t->host, "'%s' stderr: %.*s", t->command, (int) t->line_size, t->line);
        t->line_size = 0;
}

/* Log the command's stderr line by line at debug level, long lines cut. */
static void tunnel_stderr(tunnel *t, const char *data, size_t size) {
        for (size_t i = 0; i < size; i++) {
                if (data[i] == '\n') {
                        tunnel_log_line(t);
                        continue;
                }
                if (t->line_size < sizeof(t->line))
                        t->line[t->line_size++] = data[i];
        }
}

/* Log what the command wrote to stderr and libssh has received. */
static void tunnel_drain_stderr(tunnel *t, char *buf, bool *progress) {
        int n;

        while ((n = ssh_channel_read_nonblocking(t->pump.channel, buf, TUNNEL_CHUNK, 1)) > 0) {
                tunnel_stderr(t, buf, (size_t) n);
                *progress = true;
        }
}

/* Move what the host sent, as far as our buffer takes it; false once the channel ended. */
static bool tunnel_from_host(tunnel *t, char *buf, bool *progress) {
        int n;

        tunnel_drain_stderr(t, buf, progress);
        while (mh_pump_waiting(&t->pump) < TUNNEL_BUFFER_MAX) {
                n = ssh_channel_read_nonblocking(t->pump.channel, buf, TUNNEL_CHUNK, 0);
                /* Reading stdout may have brought in the last of stderr, before the EOF. */
                if (n == SSH_EOF) {
                        tunnel_drain_stderr(t, buf, progress);
                        return false;
                }
                if (n < 0) {
                        mh_log(MH_LOG_DEBUG, t->host, "tunnel '%s': %s", t->command,
                               ssh_get_error(t->session));
                        return false;
                }
                if (n == 0)
                        break;
                if (mh_pump_keep(&t->pump, buf, (size_t) n) < 0)
                        return false;
                *progress = true;
        }
        return ssh_is_connected(t->session) && !ssh_channel_is_closed(t->pump.channel);
}

/*
 * The tunnel's thread: owns everything in t and moves bytes both ways
 * until the command ends, the connection drops or the local side closes
 * its end.  Sleeps in poll() on the connection and the local socket
 * together, so a message costs no more than the network's round trip.
 */
static void *tunnel_run(void *userdata) {
        tunnel *t = userdata;
        _cleanup_free_ char *buf = malloc(TUNNEL_CHUNK);
        bool host_open = true;
        uint64_t start = mh_now_usec();

        while (buf) {
                struct pollfd p[2] = {
                        { .fd = ssh_get_fd(t->session), .events = POLLIN },
                        { .fd = t->pump.fd },
                };
                bool progress = false;

                if (host_open)
                        host_open = tunnel_from_host(t, buf, &progress);
                if (!mh_pump_to_local(&t->pump, &progress))
                        break; /* the local side closed its end */
                if (!host_open && mh_pump_waiting(&t->pump) == 0)
                        break; /* the command ended and everything was delivered */
                if (host_open && !mh_pump_to_host(&t->pump, buf, TUNNEL_CHUNK, &progress))
                        break;
                if (progress)
                        continue;

                if (!host_open)
                        p[0].fd = -1;
                if (mh_pump_waiting(&t->pump) > 0)
                        p[1].events |= POLLOUT;
                if (host_open && !t->pump.local_eof && ssh_channel_window_size(t->pump.channel) > 0)
                        p[1].events |= POLLIN;
                /* POLLHUP on fd is always reported: the local side closed its end. */
                if (poll(p, 2, -1) < 0 && errno != EINTR)
                        break;
                if (p[1].revents & (POLLHUP | POLLERR | POLLNVAL))
                        break;
        }

        tunnel_log_line(t);
        mh_log(MH_LOG_DEBUG, t->host, "tunnel '%s' closed after %.1f s", t->command,
               (double) (mh_now_usec() - start) / 1e6);
        tunnel_free(t);
        /* libssh's crypto left per-thread state in OpenSSL; release it now
         * rather than trusting a thread-exit hook to run before the program ends. */
        OPENSSL_thread_stop();
        return NULL;
}

struct mh_tunnel {
        int fd;           /* the caller's end of the socket pair, or -1 once closed */
        pthread_t thread; /* the thread that moves the bytes, joined by mh_tunnel_close() */
        bool joinable;
};

int mh_tunnel_open(const mh_host_config *host, const char *command, mh_tunnel **ret,
                   mh_error *error) {
        _cleanup_free_ char *fingerprint = NULL;
        mh_error e = MH_ERROR_INIT;
        char shown[MH_SSH_COMMAND_SHOWN_MAX + 8];
        mh_tunnel *handle = NULL;
        tunnel *t;
        int pair[2], r;

        if (!host || !command || !ret)
                return mh_error_set(error, -EINVAL, "mh_tunnel_open: invalid argument");
        r = mh_ssh_check_allowed(error);
        if (r < 0)
                return r;

        mh_ssh_format_command(command, shown, sizeof(shown));
        t = calloc(1, sizeof(*t));
        if (!t)
                return mh_error_oom(error);
        t->pump.fd = -1;
        t->pump.to_local.max = TUNNEL_BUFFER_MAX + TUNNEL_CHUNK;
        t->host = strdup(mh_host_config_hostname(host));
        t->command = strdup(shown);
        handle = calloc(1, sizeof(*handle));
        if (!t->host || !t->command || !handle) {
                r = mh_error_oom(&e);
                goto fail;
        }
        handle->fd = -1;

        r = mh_ssh_open_session(host, &t->session, &fingerprint, &e);
        if (r < 0)
                goto fail;

        t->pump.channel = ssh_channel_new(t->session);
        if (!t->pump.channel) {
                r = mh_error_set(&e, -ENOMEM, "cannot create a channel: %s",
                                 ssh_get_error(t->session));
                goto fail;
        }
        if (ssh_channel_open_session(t->pump.channel) != SSH_OK) {
                ssh_channel_free(TAKE_PTR(t->pump.channel));
                r = mh_error_set(&e, -MH_ERR_SSH, "cannot open a channel: %s",
                                 ssh_get_error(t->session));
                goto fail;
        }
        if (ssh_channel_request_exec(t->pump.channel, command) != SSH_OK) {
                r = mh_error_set(&e, -MH_ERR_SSH, "the host refused to run the command: %s: %s",
                                 ssh_get_error(t->session), shown);
                goto fail;
        }

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) {
                r = mh_error_set(&e, -errno, "cannot create a socket pair: %s", strerror(errno));
                goto fail;
        }
        t->pump.fd = pair[1];

        r = -pthread_create(&handle->thread, NULL, tunnel_run, t);
        if (r < 0) {
                close(pair[0]);
                r = mh_error_set(&e, r, "cannot start the tunnel's thread: %s", strerror(-r));
                goto fail;
        }
        handle->fd = pair[0];
        handle->joinable = true;

        mh_log(MH_LOG_DEBUG, mh_host_config_hostname(host), "tunnel '%s' open", shown);
        *ret = handle;
        return 0;

fail:
        tunnel_free(t);
        free(handle);
        return mh_ssh_fail(r, &e, error);
}

int mh_tunnel_fd(const mh_tunnel *t) {
        return t ? t->fd : -1;
}

void mh_tunnel_close(mh_tunnel *t, unsigned wait_msec) {
        uint64_t deadline;
        bool ended = false;
        char buf[4096];

        if (!t || t->fd < 0)
                return;
        deadline = mh_now_usec() + (uint64_t) wait_msec * 1000u;

        /* EOF to the command; the thread closes its end only after it let
         * go of the connection, which we wait for, dropping what comes. */
        if (shutdown(t->fd, SHUT_WR) == 0)
                while (!ended) {
                        struct pollfd p = { .fd = t->fd, .events = POLLIN };
                        uint64_t now = mh_now_usec();
                        ssize_t n;

                        if (now >= deadline)
                                break;
                        if (poll(&p, 1, (int) ((deadline - now + 999) / 1000)) <= 0) {
                                if (errno == EINTR)
                                        continue;
                                break;
                        }
                        n = read(t->fd, buf, sizeof(buf));
                        ended = n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN);
                }

        /* Shut both ways before closing: the thread's poll then sees the
         * hang-up at once even if another descriptor of our end is still
         * open somewhere, and it lets go of the connection without waiting
         * for the host.  Join it, so that nothing of the tunnel outlives
         * the call. */
        (void) shutdown(t->fd, SHUT_RDWR);
        close(t->fd);
        t->fd = -1;
        if (t->joinable) {
                pthread_join(t->thread, NULL);
                t->joinable = false;
        }
}

mh_tunnel *mh_tunnel_free(mh_tunnel *t) {
        if (!t)
                return NULL;
        mh_tunnel_close(t, 0);
        free(t);
        return NULL;
}
