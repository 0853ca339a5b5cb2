/* SPDX-License-Identifier: MIT */
/*
 * Forwards: a local Unix socket in a private directory whose connections
 * a thread carries, each over a channel of an SSH connection of its own,
 * to a TCP port or a Unix socket on the host (what `ssh -L` does).  For
 * clients that only know how to connect somewhere (libpq), so that their
 * traffic goes through a connection whose host key was checked.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <libssh/libssh.h>
#include <openssl/crypto.h>

#include <mhc/log.h>

#include "config.h"
#include "ssh.h"
#include "util.h"

#define FORWARD_CHUNK      (64u << 10) /* bytes moved at once either way */
#define FORWARD_BUFFER_MAX (1u << 20)  /* bytes from the host waiting for the local side */
#define FORWARD_CONNS_MAX  256u        /* connections carried at once */

/* One local connection and its channel. */
typedef struct fwd_conn {
        mh_pump pump;
        bool host_eof; /* the host's side ended */
} fwd_conn;

struct mh_ssh_forward {
        const mh_host_config *host;
        char *target;      /* "127.0.0.1:5432" or a path on the host, for messages */
        char *remote_host; /* NULL: remote_path */
        char *remote_path;
        unsigned remote_port;
        char *dir;  /* the private directory */
        char *path; /* the socket in it */
        int listen_fd;
        int wake[2]; /* written to end the thread */
        pid_t owner; /* the process that made it: a forked child only forgets it */
        pthread_t thread;
        bool joinable;

        /* the thread's own */
        ssh_session session;
        char *fingerprint;
        fwd_conn *conns;
        size_t n_conns;

        pthread_mutex_t lock; /* guards error */
        char error[MH_ERROR_MESSAGE_MAX];
};

static const char *hostname(const mh_ssh_forward *f) {
        return mh_host_config_hostname(f->host);
}

static void set_error(mh_ssh_forward *f, const char *fmt, ...) MH_PRINTF(2, 3);
static void set_error(mh_ssh_forward *f, const char *fmt, ...) {
        va_list ap;

        pthread_mutex_lock(&f->lock);
        va_start(ap, fmt);
        vsnprintf(f->error, sizeof(f->error), fmt, ap);
        va_end(ap);
        pthread_mutex_unlock(&f->lock);
        mh_log(MH_LOG_DEBUG, hostname(f), "forward to %s: %s", f->target, f->error);
}

static void conn_close(fwd_conn *c, ssh_session session) {
        if (c->pump.channel) {
                if (ssh_is_connected(session))
                        (void) ssh_channel_close(c->pump.channel);
                ssh_channel_free(c->pump.channel);
                c->pump.channel = NULL;
        }
        if (c->pump.fd >= 0) {
                /* a forked child may hold the descriptor too: the client must see the end */
                (void) shutdown(c->pump.fd, SHUT_RDWR);
                close(c->pump.fd);
                c->pump.fd = -1;
        }
        mh_buf_dispose(&c->pump.to_local);
}

/* Drop the connections marked closed (fd < 0). */
static void compact(mh_ssh_forward *f) {
        size_t n = 0;

        for (size_t i = 0; i < f->n_conns; i++)
                if (f->conns[i].pump.fd >= 0)
                        f->conns[n++] = f->conns[i];
        f->n_conns = n;
}

static void end_session(mh_ssh_forward *f) {
        for (size_t i = 0; i < f->n_conns; i++)
                conn_close(&f->conns[i], f->session);
        f->n_conns = 0;
        mh_ssh_session_end(f->session);
        f->session = NULL;
}

/* A live session, opened again after the connection was lost. */
static int ensure_session(mh_ssh_forward *f) {
        mh_error e = MH_ERROR_INIT;
        char *fingerprint = NULL;
        int r;

        if (f->session && ssh_is_connected(f->session))
                return 0;
        end_session(f);
        r = mh_ssh_open_session(f->host, &f->session, &fingerprint, &e);
        if (r < 0) {
                set_error(f, "SSH connection lost and reconnecting failed: %s", e.message);
                return r;
        }
        if (f->fingerprint && !streq(f->fingerprint, fingerprint))
                mh_log(MH_LOG_WARNING, hostname(f), "host key changed from %s to %s on reconnect",
                       f->fingerprint, fingerprint);
        free(f->fingerprint);
        f->fingerprint = fingerprint;
        return 0;
}

/* Accept one local connection and open its channel; the connection is closed on failure. */
static void accept_one(mh_ssh_forward *f) {
        _cleanup_close_ int fd = -1;
        ssh_channel channel;
        fwd_conn *conns;
        int r;

        fd = accept4(f->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
                return;
        if (f->n_conns >= FORWARD_CONNS_MAX) {
                set_error(f, "more than %u connections at once", FORWARD_CONNS_MAX);
                return;
        }
        if (ensure_session(f) < 0)
                return;
        channel = ssh_channel_new(f->session);
        if (!channel) {
                set_error(f, "cannot create a channel: %s", ssh_get_error(f->session));
                return;
        }
        if (f->remote_host)
                r = ssh_channel_open_forward(channel, f->remote_host, (int) f->remote_port,
                                             "127.0.0.1", 0);
        else
                r = ssh_channel_open_forward_unix(channel, f->remote_path, "127.0.0.1", 0);
        if (r != SSH_OK) {
                set_error(f, "the host refused to open a channel to %s: %s", f->target,
                          ssh_get_error(f->session));
                ssh_channel_free(channel);
                return;
        }
        conns = reallocarray(f->conns, f->n_conns + 1, sizeof(*conns));
        if (!conns) {
                ssh_channel_free(channel);
                return;
        }
        f->conns = conns;
        f->conns[f->n_conns++] =
                (fwd_conn){ .pump = {
                                    .fd = fd,
                                    .channel = channel,
                                    .to_local = { .max = FORWARD_BUFFER_MAX + FORWARD_CHUNK },
                            } };
        fd = -1;
}

/* Move what the host sent to the local side; false once the connection is done. */
static bool from_host(fwd_conn *c, char *buf, bool *progress) {
        while (!c->host_eof && mh_pump_waiting(&c->pump) < FORWARD_BUFFER_MAX) {
                int n = ssh_channel_read_nonblocking(c->pump.channel, buf, FORWARD_CHUNK, 0);

                if (n == SSH_EOF || n < 0 ||
                    (n == 0 && (ssh_channel_is_eof(c->pump.channel) ||
                                ssh_channel_is_closed(c->pump.channel)))) {
                        c->host_eof = true;
                        *progress = true;
                        break;
                }
                if (n == 0)
                        break;
                if (mh_pump_keep(&c->pump, buf, (size_t) n) < 0)
                        return false;
                *progress = true;
        }
        if (!mh_pump_to_local(&c->pump, progress))
                return false;
        /* done once everything the host sent is delivered */
        return !c->host_eof || mh_pump_waiting(&c->pump) > 0;
}

/* The thread: accepts, moves bytes both ways, and sleeps in poll() on everything at once. */
static void *forward_run(void *userdata) {
        mh_ssh_forward *f = userdata;
        _cleanup_free_ char *buf = malloc(FORWARD_CHUNK);
        _cleanup_free_ struct pollfd *p = calloc(FORWARD_CONNS_MAX + 3, sizeof(*p));

        while (buf && p) {
                bool progress = false;
                size_t n = 0;

                for (size_t i = 0; i < f->n_conns; i++) {
                        fwd_conn *c = &f->conns[i];

                        if (!from_host(c, buf, &progress) ||
                            !mh_pump_to_host(&c->pump, buf, FORWARD_CHUNK, &progress)) {
                                conn_close(c, f->session);
                                progress = true;
                        }
                }
                compact(f);
                /* reading one channel may have buffered what came for another, that the
                 * socket no longer shows: look at each before sleeping */
                for (size_t i = 0; !progress && i < f->n_conns; i++) {
                        fwd_conn *c = &f->conns[i];

                        progress = !c->host_eof && mh_pump_waiting(&c->pump) < FORWARD_BUFFER_MAX &&
                                   ssh_channel_poll(c->pump.channel, 0) != 0;
                }
                if (progress)
                        continue;
                if (f->session && !ssh_is_connected(f->session)) {
                        set_error(f, "SSH connection lost");
                        end_session(f); /* opened again for the next connection */
                }

                p[n++] = (struct pollfd){ .fd = f->wake[0], .events = POLLIN };
                p[n++] = (struct pollfd){ .fd = f->listen_fd, .events = POLLIN };
                /* without a channel nothing waits for the host (and a dead
                 * connection's socket would wake us for ever) */
                p[n++] = (struct pollfd){
                        .fd = f->session && f->n_conns > 0 ? ssh_get_fd(f->session) : -1,
                        .events = POLLIN,
                };
                for (size_t i = 0; i < f->n_conns; i++) {
                        fwd_conn *c = &f->conns[i];
                        short events = 0;

                        if (mh_pump_waiting(&c->pump) > 0)
                                events |= POLLOUT;
                        if (!c->pump.local_eof && ssh_channel_window_size(c->pump.channel) > 0)
                                events |= POLLIN;
                        p[n++] = (struct pollfd){ .fd = c->pump.fd, .events = events };
                }
                if (poll(p, n, -1) < 0 && errno != EINTR)
                        break;
                if (p[0].revents)
                        break;
                if (p[1].revents & POLLIN)
                        accept_one(f);
                /* a local side that hung up is seen by its next recv() or send() */
        }

        end_session(f);
        /* libssh's crypto left per-thread state in OpenSSL; release it now */
        OPENSSL_thread_stop();
        return NULL;
}

mh_ssh_forward *mh_ssh_forward_free(mh_ssh_forward *f) {
        if (!f)
                return NULL;
        if (f->owner == getpid()) {
                if (f->joinable) {
                        (void) write(f->wake[1], "x", 1);
                        pthread_join(f->thread, NULL);
                }
                end_session(f);
                if (f->path)
                        (void) unlink(f->path);
                if (f->dir)
                        (void) rmdir(f->dir);
        }
        /* in a forked child: the parent's thread, socket and session are left alone */
        if (f->listen_fd >= 0)
                close(f->listen_fd);
        for (size_t i = 0; i < 2; i++)
                if (f->wake[i] >= 0)
                        close(f->wake[i]);
        pthread_mutex_destroy(&f->lock);
        free(f->conns);
        free(f->fingerprint);
        free(f->target);
        free(f->remote_host);
        free(f->remote_path);
        free(f->path);
        free(f->dir);
        free(f);
        return NULL;
}

static void mh_ssh_forward_freep(mh_ssh_forward **f) {
        mh_ssh_forward_free(*f);
}

/* Listen on f->path in a new private directory. */
static int make_socket(mh_ssh_forward *f, const char *name, mh_error *e) {
        const char *tmp = getenv("TMPDIR");
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        if (!tmp || tmp[0] != '/')
                tmp = "/tmp";
        if (asprintf(&f->dir, "%s/mhc-forward-XXXXXX", tmp) < 0) {
                f->dir = NULL;
                return -ENOMEM;
        }
        /* mkdtemp() makes it 0700: only this user can reach the socket */
        if (!mkdtemp(f->dir)) {
                int r = -errno;

                free(TAKE_PTR(f->dir));
                return mh_error_set(e, r, "cannot make a directory under %s: %s", tmp,
                                    strerror(-r));
        }
        if (asprintf(&f->path, "%s/%s", f->dir, name) < 0) {
                f->path = NULL;
                return -ENOMEM;
        }
        if (strlen(f->path) >= sizeof(sa.sun_path))
                return mh_error_set(e, -ENAMETOOLONG,
                                    "socket path '%s' is too long; set TMPDIR to a shorter "
                                    "directory",
                                    f->path);
        memcpy(sa.sun_path, f->path, strlen(f->path) + 1);

        f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (f->listen_fd < 0 || bind(f->listen_fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
            listen(f->listen_fd, 64) < 0)
                return mh_error_set(e, -errno, "cannot listen on '%s': %s", f->path,
                                    strerror(errno));
        return 0;
}

int mh_ssh_forward_open(const mh_host_config *host, const char *name, const char *target,
                        unsigned port, mh_ssh_forward **ret, mh_error *error) {
        _cleanup_(mh_ssh_forward_freep) mh_ssh_forward *f = NULL;
        mh_error e = MH_ERROR_INIT;
        int r;

        if (!host || !name || !target || !ret || strchr(name, '/') || (target[0] != '/' && !port))
                return mh_error_set(error, -EINVAL, "mh_ssh_forward_open: invalid argument");
        r = mh_ssh_check_allowed(error);
        if (r < 0)
                return r;

        f = calloc(1, sizeof(*f));
        if (!f)
                return mh_error_oom(error);
        f->host = host;
        f->listen_fd = f->wake[0] = f->wake[1] = -1;
        f->owner = getpid();
        pthread_mutex_init(&f->lock, NULL);
        if (target[0] == '/') {
                f->remote_path = strdup(target);
                f->target = strdup(target);
        } else {
                f->remote_host = strdup(target);
                f->remote_port = port;
                if (asprintf(&f->target, "%s:%u", target, port) < 0)
                        f->target = NULL;
        }
        if (!f->target || (!f->remote_path && !f->remote_host))
                return mh_error_oom(error);

        r = make_socket(f, name, &e);
        if (r < 0)
                return mh_ssh_fail(r, &e, error);
        if (pipe2(f->wake, O_CLOEXEC) < 0)
                return mh_error_set(error, -errno, "cannot make a pipe: %s", strerror(errno));
        r = mh_ssh_open_session(host, &f->session, &f->fingerprint, &e);
        if (r < 0)
                return mh_ssh_fail(r, &e, error);

        r = -pthread_create(&f->thread, NULL, forward_run, f);
        if (r < 0)
                return mh_error_set(error, r, "cannot start the forward's thread: %s",
                                    strerror(-r));
        f->joinable = true;
        mh_log(MH_LOG_DEBUG, mh_host_config_hostname(host), "forwarding %s to %s", f->path,
               f->target);
        *ret = TAKE_PTR(f);
        return 0;
}

const char *mh_ssh_forward_dir(const mh_ssh_forward *f) {
        return f ? f->dir : NULL;
}

const char *mh_ssh_forward_path(const mh_ssh_forward *f) {
        return f ? f->path : NULL;
}

bool mh_ssh_forward_error(mh_ssh_forward *f, char *buf, size_t size) {
        bool any;

        if (!f || size == 0)
                return false;
        pthread_mutex_lock(&f->lock);
        any = f->error[0] != '\0';
        snprintf(buf, size, "%s", f->error);
        f->error[0] = '\0';
        pthread_mutex_unlock(&f->lock);
        return any;
}
