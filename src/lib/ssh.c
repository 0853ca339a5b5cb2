/* SPDX-License-Identifier: MIT */
/*
 * SSH sessions to hosts, on libssh: connecting, checking host keys,
 * authenticating and reconnecting.  Commands on a session are in
 * ssh-exec.c, file transfers in ssh-sftp.c, tunnels in tunnel.c.
 *
 * Every public function works on a private mh_error and hands a failure to
 * the caller through mh_ssh_fail(); no message names the host (the host
 * layer does).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>

#include <libssh/libssh.h>

#include <mhc/log.h>
#include <mhc/parallel.h>
#include <mhc/ssh.h>

#include "config.h"
#include "ssh.h"
#include "util.h"

/* Serialises appends to known_hosts files by accept-new across threads. */
static pthread_mutex_t known_hosts_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * End a session and close its socket.  libssh 0.10 leaves a socket given
 * with SSH_OPTIONS_FD open in ssh_disconnect() but closes it itself when
 * the connection fails; ssh_silent_disconnect() always closes it, so the
 * socket is libssh's from ssh_connect() on and is closed exactly once.
 */
void mh_ssh_session_end(ssh_session session) {
        if (!session)
                return;
        ssh_silent_disconnect(session);
        ssh_free(session);
}

static void ssh_freep(ssh_session *s) {
        mh_ssh_session_end(*s);
}

static void ssh_key_freep(ssh_key *k) {
        ssh_key_free(*k);
}

static void ssh_string_free_charp(char **p) {
        ssh_string_free_char(*p);
}

#define _cleanup_ssh_session_ _cleanup_(ssh_freep)
#define _cleanup_ssh_key_     _cleanup_(ssh_key_freep)
#define _cleanup_ssh_string_  _cleanup_(ssh_string_free_charp)

static const char *hostname(const mh_host_config *host) {
        return mh_host_config_hostname(host);
}

int mh_ssh_fail(int r, const mh_error *e, mh_error *error) {
        return mh_error_set(error, r, "%s", mh_error_message(e, r));
}

/* "ADDR:PORT", or "[ADDR]:PORT" for an IPv6 address. */
static void format_endpoint(const mh_host_config *host, char *buf, size_t size) {
        const char *address = mh_host_config_address(host);

        snprintf(buf, size, strchr(address, ':') ? "[%s]:%u" : "%s:%u", address,
                 mh_host_config_port(host));
}

void mh_ssh_format_command(const char *command, char *buf, size_t size) {
        size_t n = strlen(command);

        if (n <= MH_SSH_COMMAND_SHOWN_MAX || size < MH_SSH_COMMAND_SHOWN_MAX + 4)
                snprintf(buf, size, "%s", command);
        else
                snprintf(buf, size, "%.*s...", MH_SSH_COMMAND_SHOWN_MAX, command);
}

/* Set in a test's process: the sessions it inherited belong to mhtest. */
static bool sessions_forbidden;

void mh_ssh_forbid_sessions(void) {
        sessions_forbidden = true;
}

int mh_ssh_check_allowed(mh_error *e) {
        if (sessions_forbidden)
                return mh_error_set(e, -EPERM, "a test cannot use SSH sessions directly; "
                                               "use mh_run() and the other mh_test calls");
        return 0;
}

/* --- connecting ---------------------------------------------------------- */

/* Wait for a non-blocking connect() until deadline; returns 0 or an errno. */
static int wait_connected(int fd, uint64_t deadline) {
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        socklen_t len = sizeof(int);
        int err = 0, n;

        for (;;) {
                uint64_t now = mh_now_usec();

                if (now >= deadline)
                        return ETIMEDOUT;
                n = poll(&p, 1, (int) ((deadline - now + 999) / 1000));
                if (n > 0)
                        break;
                if (n == 0)
                        return ETIMEDOUT;
                if (errno != EINTR)
                        return errno;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                return errno;
        return err;
}

/*
 * Open the TCP connection ourselves rather than in libssh, so that a
 * timeout, a refusal and an unreachable host come back as errno values and
 * the connect timeout covers every address the name resolves to.
 */
static int tcp_connect(const mh_host_config *host, int *ret_fd, mh_error *e) {
        struct addrinfo hints = {
                .ai_family = AF_UNSPEC,
                .ai_socktype = SOCK_STREAM,
                .ai_flags = AI_ADDRCONFIG,
        };
        struct addrinfo *list = NULL;
        unsigned timeout = mh_host_config_connect_timeout(host);
        uint64_t deadline = mh_now_usec() + (uint64_t) timeout * 1000000u;
        char port[16], endpoint[300];
        int err = EHOSTUNREACH, r;

        format_endpoint(host, endpoint, sizeof(endpoint));
        snprintf(port, sizeof(port), "%u", mh_host_config_port(host));

        r = getaddrinfo(mh_host_config_address(host), port, &hints, &list);
        if (r != 0)
                return mh_error_set(e, r == EAI_NONAME ? -EHOSTUNREACH : -MH_ERR_SSH,
                                    "cannot resolve '%s': %s", mh_host_config_address(host),
                                    r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));

        for (struct addrinfo *ai = list; ai; ai = ai->ai_next) {
                int fd, one = 1;

                fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                            ai->ai_protocol);
                if (fd < 0) {
                        err = errno;
                        continue;
                }
                (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

                if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
                        err = 0;
                else if (errno == EINPROGRESS)
                        err = wait_connected(fd, deadline);
                else
                        err = errno;

                if (err == 0) {
                        freeaddrinfo(list);
                        *ret_fd = fd;
                        return 0;
                }
                close(fd);
                if (err == ETIMEDOUT)
                        break;
        }
        freeaddrinfo(list);

        switch (err) {
        case ETIMEDOUT:
                return mh_error_set(e, -ETIMEDOUT, "cannot connect to %s: timed out after %us",
                                    endpoint, timeout);
        case ECONNREFUSED:
                return mh_error_set(
                        e, -ECONNREFUSED,
                        "cannot connect to %s: connection refused (is sshd listening on port %u?)",
                        endpoint, mh_host_config_port(host));
        case EHOSTUNREACH:
        case ENETUNREACH:
                return mh_error_set(e, -EHOSTUNREACH, "cannot connect to %s: %s", endpoint,
                                    strerror(err));
        default:
                return mh_error_set(e, -MH_ERR_SSH, "cannot connect to %s: %s", endpoint,
                                    strerror(err));
        }
}

static const char *known_hosts_path(const mh_host_config *host) {
        return mh_host_config_known_hosts(host) ?: "~/.ssh/known_hosts";
}

/* The name of the host in known_hosts lines, as ssh-keygen -R wants it. */
static void format_known_hosts_name(const mh_host_config *host, char *buf, size_t size) {
        if (mh_host_config_port(host) == 22)
                snprintf(buf, size, "%s", mh_host_config_address(host));
        else
                snprintf(buf, size, "[%s]:%u", mh_host_config_address(host),
                         mh_host_config_port(host));
}

static char *key_fingerprint(ssh_key key) {
        unsigned char *hash = NULL;
        size_t hash_len = 0;
        char *fp, *copy;

        if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hash_len) < 0)
                return NULL;
        fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hash_len);
        ssh_clean_pubkey_hash(&hash);
        if (!fp)
                return NULL;
        copy = strdup(fp);
        ssh_string_free_char(fp);
        return copy;
}

/*
 * The fingerprint of the key of type that the known_hosts file at path
 * records for name, for telling people what changed; NULL if none.
 */
static char *recorded_fingerprint(const char *path, const char *name, enum ssh_keytypes_e type) {
        _cleanup_fclose_ FILE *f = NULL;
        char line[16384];

        if (!path)
                return NULL;
        f = fopen(path, "re");
        if (!f)
                return NULL;
        while (fgets(line, sizeof(line), f)) {
                struct ssh_knownhosts_entry *entry = NULL;
                char *fp = NULL;

                line[strcspn(line, "\r\n")] = '\0';
                if (line[0] == '\0' || line[0] == '#')
                        continue;
                if (ssh_known_hosts_parse_line(name, line, &entry) != SSH_OK || !entry)
                        continue;
                if (entry->hostname && entry->publickey && ssh_key_type(entry->publickey) == type)
                        fp = key_fingerprint(entry->publickey);
                ssh_knownhosts_entry_free(entry);
                if (fp)
                        return fp;
        }
        return NULL;
}

/* Verify the server's host key by the host's policy; *ret_fingerprint on success. */
static int check_host_key(const mh_host_config *host, ssh_session session, char **ret_fingerprint,
                          mh_error *e) {
        _cleanup_ssh_key_ ssh_key key = NULL;
        _cleanup_free_ char *fp = NULL;
        const char *kh = known_hosts_path(host);
        char endpoint[300], name[300];
        enum ssh_known_hosts_e state;
        bool missing;
        int r;

        format_endpoint(host, endpoint, sizeof(endpoint));
        format_known_hosts_name(host, name, sizeof(name));

        if (ssh_get_server_publickey(session, &key) < 0)
                return mh_error_set(e, -MH_ERR_SSH, "cannot get the host key: %s",
                                    ssh_get_error(session));
        fp = key_fingerprint(key);
        if (!fp)
                return mh_error_set(e, -ENOMEM, "cannot compute the host key fingerprint");

        if (mh_host_config_host_key_policy(host) == MH_HOST_KEY_OFF) {
                mh_log(MH_LOG_WARNING, hostname(host),
                       "host key %s %s not checked (conn.host_key_policy: off)",
                       ssh_key_type_to_char(ssh_key_type(key)), fp);
                *ret_fingerprint = TAKE_PTR(fp);
                return 0;
        }

        state = ssh_session_is_known_server(session);
        switch (state) {
        case SSH_KNOWN_HOSTS_OK:
                r = 0;
                break;

        case SSH_KNOWN_HOSTS_CHANGED:
        case SSH_KNOWN_HOSTS_OTHER: {
                _cleanup_free_ char *known_fp = recorded_fingerprint(
                        mh_host_config_known_hosts(host), name, ssh_key_type(key));

                r = mh_error_set(e, -MH_ERR_HOST_KEY,
                                 "host key of %s CHANGED: server shows %s %s, %s has %s; "
                                 "possible man-in-the-middle; if the host was reinstalled, "
                                 "remove its line with `ssh-keygen -f %s -R '%s'`",
                                 endpoint, ssh_key_type_to_char(ssh_key_type(key)), fp, kh,
                                 known_fp ? known_fp : "another key for it", kh, name);
                break;
        }

        case SSH_KNOWN_HOSTS_UNKNOWN:
        case SSH_KNOWN_HOSTS_NOT_FOUND:
                if (mh_host_config_host_key_policy(host) == MH_HOST_KEY_ACCEPT_NEW) {
                        pthread_mutex_lock(&known_hosts_lock);
                        r = ssh_session_update_known_hosts(session);
                        pthread_mutex_unlock(&known_hosts_lock);
                        if (r < 0) {
                                r = mh_error_set(e, -MH_ERR_HOST_KEY,
                                                 "cannot add the host key %s to %s: %s", fp, kh,
                                                 ssh_get_error(session));
                                break;
                        }
                        mh_log(MH_LOG_INFO, hostname(host), "added host key %s %s of %s to %s",
                               ssh_key_type_to_char(ssh_key_type(key)), fp, endpoint, kh);
                        r = 0;
                        break;
                }
                missing = state == SSH_KNOWN_HOSTS_NOT_FOUND ||
                          (mh_host_config_known_hosts(host) &&
                           access(mh_host_config_known_hosts(host), F_OK) < 0);
                r = mh_error_set(e, -MH_ERR_HOST_KEY,
                                 "host key of %s is not in %s%s: %s %s; add it with "
                                 "`ssh-keyscan -p %u %s >> %s` after checking the fingerprint, "
                                 "or set conn.host_key_policy: accept-new",
                                 endpoint, kh, missing ? " (the file does not exist)" : "",
                                 ssh_key_type_to_char(ssh_key_type(key)), fp,
                                 mh_host_config_port(host), mh_host_config_address(host), kh);
                break;

        case SSH_KNOWN_HOSTS_ERROR:
        default:
                r = mh_error_set(e, -MH_ERR_HOST_KEY, "cannot check the host key against %s: %s",
                                 kh, ssh_get_error(session));
                break;
        }

        if (r < 0)
                return r;
        *ret_fingerprint = TAKE_PTR(fp);
        return 0;
}

static int passphrase_asked(const char *prompt, char *buf, size_t len, int echo, int verify,
                            void *userdata) {
        *(bool *) userdata = true;
        return -1;
}

static int load_private_key(const char *path, ssh_key *ret, mh_error *e) {
        ssh_key key = NULL;
        bool asked = false;
        int fd, rc;

        /* libssh says only "cannot read"; find out why. */
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return mh_error_set(e, -MH_ERR_AUTH, "cannot read private key %s: %s", path,
                                    strerror(errno));
        close(fd);

        rc = ssh_pki_import_privkey_file(path, NULL, passphrase_asked, &asked, &key);
        if (rc != SSH_OK) {
                if (asked)
                        return mh_error_set(e, -MH_ERR_AUTH,
                                            "private key %s is protected by a passphrase, which "
                                            "mhc cannot ask for: "
                                            "add it to ssh-agent and leave conn.private_key unset, "
                                            "or use a key without a passphrase",
                                            path);
                return mh_error_set(e, -MH_ERR_AUTH,
                                    "cannot load private key %s: not a private key libssh can read",
                                    path);
        }
        *ret = key;
        return 0;
}

/* Append ", word" (or "word" first) to the list in buf. */
static void append_method(char *buf, size_t size, const char *word) {
        size_t n = strlen(buf), k;

        if (n > 0 && n + 2 < size) {
                memcpy(buf + n, ", ", 2);
                n += 2;
        }
        k = strlen(word);
        if (k > size - 1 - n)
                k = size - 1 - n;
        memcpy(buf + n, word, k);
        buf[n + k] = '\0';
}

/* What the server said it accepts after the last refusal, "publickey, password". */
static void format_server_methods(ssh_session session, char *buf, size_t size) {
        static const struct {
                unsigned flag;
                const char *name;
        } methods[] = {
                { SSH_AUTH_METHOD_PUBLICKEY, "publickey" },
                { SSH_AUTH_METHOD_PASSWORD, "password" },
                { SSH_AUTH_METHOD_INTERACTIVE, "keyboard-interactive" },
                { SSH_AUTH_METHOD_HOSTBASED, "hostbased" },
                { SSH_AUTH_METHOD_GSSAPI_MIC, "gssapi-with-mic" },
        };
        int list = ssh_userauth_list(session, NULL);

        buf[0] = '\0';
        for (size_t i = 0; i < ELEMENTSOF(methods); i++)
                if (list & (int) methods[i].flag)
                        append_method(buf, size, methods[i].name);
}

/* Turn a libssh userauth result into 1 (in), 0 (refused, try the next way) or an error. */
static int auth_result(ssh_session session, int rc, const char *method, mh_error *e) {
        switch (rc) {
        case SSH_AUTH_SUCCESS:
                return 1;
        case SSH_AUTH_DENIED:
        case SSH_AUTH_PARTIAL:
                return 0;
        default:
                if (!ssh_is_connected(session))
                        return mh_error_set(e, -MH_ERR_SSH,
                                            "connection lost during %s authentication: %s", method,
                                            ssh_get_error(session));
                return 0;
        }
}

static int authenticate(const mh_host_config *host, ssh_session session, mh_error *e) {
        const char *key_path = mh_host_config_private_key(host);
        const char *password = mh_host_config_password(host);
        _cleanup_ssh_string_ char *user = NULL;
        char tried[2 * PATH_MAX] = "", methods[PATH_MAX + 16];
        int r;

        if (ssh_options_get(session, SSH_OPTIONS_USER, &user) < 0)
                user = NULL;

        if (key_path) {
                _cleanup_ssh_key_ ssh_key key = NULL;

                r = load_private_key(key_path, &key, e);
                if (r < 0)
                        return r;
                r = auth_result(session, ssh_userauth_publickey(session, NULL, key), "publickey",
                                e);
                if (r != 0)
                        return r < 0 ? r : 0;
                snprintf(methods, sizeof(methods), "publickey %s", key_path);
                append_method(tried, sizeof(tried), methods);
        } else if (getenv("SSH_AUTH_SOCK")) {
                r = auth_result(session, ssh_userauth_agent(session, NULL), "ssh-agent", e);
                if (r != 0)
                        return r < 0 ? r : 0;
                append_method(tried, sizeof(tried), "ssh-agent");
        }

        if (password && mh_host_config_has_password(host)) {
                r = auth_result(session, ssh_userauth_password(session, NULL, password), "password",
                                e);
                if (r != 0)
                        return r < 0 ? r : 0;
                append_method(tried, sizeof(tried), "password");
        }

        if (!tried[0])
                return mh_error_set(
                        e, -MH_ERR_AUTH,
                        "no way to authenticate as '%s': set conn.private_key or conn.password, "
                        "or start ssh-agent (SSH_AUTH_SOCK is not set)",
                        strempty(user));

        format_server_methods(session, methods, sizeof(methods));
        return mh_error_set(e, -MH_ERR_AUTH, "authentication as '%s' failed (tried: %s%s%s)",
                            strempty(user), tried, methods[0] ? "; the server accepts: " : "",
                            methods);
}

int mh_ssh_open_session(const mh_host_config *host, ssh_session *ret_session,
                        char **ret_fingerprint, mh_error *e) {
        _cleanup_ssh_session_ ssh_session session = NULL;
        _cleanup_close_ int fd = -1;
        const char *address = mh_host_config_address(host);
        const char *user = mh_host_config_user(host);
        const char *known_hosts = mh_host_config_known_hosts(host);
        unsigned port = mh_host_config_port(host);
        long timeout = (long) mh_host_config_connect_timeout(host);
        uint64_t start = mh_now_usec();
        char *fingerprint = NULL;
        bool no = false;
        int one = 1, r;

        session = ssh_new();
        if (!session)
                return mh_error_set(e, -ENOMEM, "cannot create an SSH session");

        if (ssh_options_set(session, SSH_OPTIONS_HOST, address) < 0 ||
            ssh_options_set(session, SSH_OPTIONS_PORT, &port) < 0 ||
            (user && ssh_options_set(session, SSH_OPTIONS_USER, user) < 0) ||
            ssh_options_set(session, SSH_OPTIONS_PROCESS_CONFIG, &no) < 0 ||
            ssh_options_set(session, SSH_OPTIONS_NODELAY, &one) < 0 ||
            (timeout > 0 && ssh_options_set(session, SSH_OPTIONS_TIMEOUT, &timeout) < 0) ||
            (known_hosts && ssh_options_set(session, SSH_OPTIONS_KNOWNHOSTS, known_hosts) < 0) ||
            /* a configured known_hosts is the only one consulted */
            (known_hosts &&
             ssh_options_set(session, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") < 0))
                return mh_error_set(e, -MH_ERR_SSH, "cannot set SSH options: %s",
                                    ssh_get_error(session));

        r = tcp_connect(host, &fd, e);
        if (r < 0)
                return r;

        /* libssh 0.10 keeps only the low 16 bits of the descriptor */
        if (fd > 0xffff || ssh_options_set(session, SSH_OPTIONS_FD, &fd) < 0)
                return mh_error_set(e, -MH_ERR_SSH, "cannot set SSH options: %s",
                                    ssh_get_error(session));
        fd = -1; /* libssh closes it from ssh_connect() on */

        if (ssh_connect(session) != SSH_OK) {
                char endpoint[300];

                format_endpoint(host, endpoint, sizeof(endpoint));
                if (timeout > 0 && mh_now_usec() - start >= (uint64_t) timeout * 1000000u)
                        return mh_error_set(e, -ETIMEDOUT,
                                            "SSH handshake with %s timed out after %lds: %s",
                                            endpoint, timeout, ssh_get_error(session));
                return mh_error_set(e, -MH_ERR_SSH, "SSH handshake with %s failed: %s", endpoint,
                                    ssh_get_error(session));
        }

        r = check_host_key(host, session, &fingerprint, e);
        if (r < 0)
                return r;

        r = authenticate(host, session, e);
        if (r < 0) {
                free(fingerprint);
                return r;
        }

        mh_log(MH_LOG_DEBUG, hostname(host), "connected to %s:%u as '%s' in %.1f ms", address, port,
               strempty(user), (double) (mh_now_usec() - start) / 1000.0);
        *ret_session = TAKE_PTR(session);
        *ret_fingerprint = fingerprint;
        return 0;
}

static void drop_session(mh_ssh *s) {
        if (s->sftp) {
                sftp_free(s->sftp);
                s->sftp = NULL;
        }
        mh_ssh_session_end(s->session);
        s->session = NULL;
}

int mh_ssh_reconnect(mh_ssh *s, mh_error *e) {
        ssh_session session = NULL;
        char *fingerprint = NULL;
        int r;

        mh_log(MH_LOG_INFO, hostname(s->host), "connection lost; reconnecting");
        drop_session(s);

        r = mh_ssh_open_session(s->host, &session, &fingerprint, e);
        if (r < 0) {
                mh_error_prefix(e, "connection lost and reconnecting failed");
                return r;
        }
        if (s->fingerprint && !streq(s->fingerprint, fingerprint))
                mh_log(MH_LOG_WARNING, hostname(s->host),
                       "host key changed from %s to %s on reconnect", s->fingerprint, fingerprint);
        free(s->fingerprint);
        s->fingerprint = fingerprint;
        s->session = session;
        return 0;
}

bool mh_ssh_connected(const mh_ssh *s) {
        return s->session && ssh_is_connected(s->session);
}

int mh_ssh_connect(const mh_host_config *host, mh_ssh **ret, mh_error *error) {
        mh_error e = MH_ERROR_INIT;
        mh_ssh *s;
        int r;

        if (!host || !ret)
                return mh_error_set(error, -EINVAL, "mh_ssh_connect: invalid argument");

        s = calloc(1, sizeof(*s));
        if (!s)
                return mh_error_oom(error);
        s->host = host;

        r = mh_ssh_open_session(host, &s->session, &s->fingerprint, &e);
        if (r < 0) {
                free(s);
                return mh_ssh_fail(r, &e, error);
        }
        *ret = s;
        return 0;
}

typedef struct connect_job {
        const mh_host_config *const *hosts;
        mh_ssh **sessions;
        mh_error *errors;
} connect_job;

static int connect_one(size_t i, void *userdata) {
        connect_job *job = userdata;

        return mh_ssh_connect(job->hosts[i], &job->sessions[i], job->errors ? &job->errors[i] : NULL);
}

int mh_ssh_connect_many(const mh_host_config *const *hosts, size_t n, mh_ssh **ret_sessions,
                        mh_error *errors) {
        connect_job job = {
                .hosts = hosts,
                .sessions = ret_sessions,
                .errors = errors,
        };

        if (n == 0)
                return 0;
        if (!hosts || !ret_sessions)
                return -EINVAL;

        for (size_t i = 0; i < n; i++)
                ret_sessions[i] = NULL;
        return mh_parallel_for(n, connect_one, &job);
}

mh_ssh *mh_ssh_free(mh_ssh *s) {
        if (!s)
                return NULL;
        drop_session(s);
        free(s->fingerprint);
        free(s->prelude);
        free(s);
        return NULL;
}

const mh_host_config *mh_ssh_host(const mh_ssh *s) {
        return s ? s->host : NULL;
}

const char *mh_ssh_host_key_fingerprint(const mh_ssh *s) {
        return s ? s->fingerprint : NULL;
}

int mh_ssh_set_prelude(mh_ssh *s, const char *prelude) {
        char *copy = NULL;

        if (!s)
                return -EINVAL;
        if (prelude && !(copy = strdup(prelude)))
                return -ENOMEM;
        free(s->prelude);
        s->prelude = copy;
        return 0;
}

void mh_ssh_set_command_observer(mh_ssh *s, mh_command_fn fn, void *userdata) {
        if (!s)
                return;
        s->observer = fn;
        s->observer_userdata = userdata;
}
