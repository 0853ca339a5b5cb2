/* SPDX-License-Identifier: MIT */
/*
 * SSH sessions to hosts, on libssh: connecting and checking host keys,
 * running commands on channels of one persistent session, and SFTP.
 *
 * Every public function works on a private mh_error and hands a failure to
 * the caller through fail(), the one place that puts "host 'NAME': " in
 * front of the message.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/sftp.h>
#include <openssl/crypto.h>

#include <mhc/log.h>
#include <mhc/parallel.h>
#include <mhc/shell.h>
#include <mhc/ssh.h>

#include "config.h"
#include "ssh.h"
#include "util.h"

#define COMMAND_SHOWN_MAX   200          /* bytes of a command quoted in a message */
#define INPUT_CHUNK         (256u << 10) /* stdin bytes handed to libssh at once */
#define SFTP_CHUNK          (64u << 10)
#define KILL_AFTER_SEC      2u /* timeout(1): SIGTERM at the limit, SIGKILL this much later */
#define GIVE_UP_AFTER_SEC   5u /* after the limit, stop waiting for the host */

struct mh_ssh {
        const mh_host_config *host;
        ssh_session session;
        sftp_session sftp; /* made on first use */
        char *fingerprint; /* "SHA256:..." of the host key */
};

/* Serialises appends to known_hosts files by accept-new across threads. */
static pthread_mutex_t known_hosts_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * End a session and close its socket.  libssh 0.10 leaves a socket given
 * with SSH_OPTIONS_FD open in ssh_disconnect() but closes it itself when
 * the connection fails; ssh_silent_disconnect() always closes it, so the
 * socket is libssh's from ssh_connect() on and is closed exactly once.
 */
static void session_end(ssh_session session) {
        if (!session)
                return;
        ssh_silent_disconnect(session);
        ssh_free(session);
}

static void ssh_freep(ssh_session *s) {
        session_end(*s);
}

static void ssh_key_freep(ssh_key *k) {
        ssh_key_free(*k);
}

static void ssh_string_free_charp(char **p) {
        ssh_string_free_char(*p);
}

static void sftp_closep(sftp_file *f) {
        if (*f)
                sftp_close(*f);
}

#define _cleanup_ssh_session_ _cleanup_(ssh_freep)
#define _cleanup_ssh_key_     _cleanup_(ssh_key_freep)
#define _cleanup_ssh_string_  _cleanup_(ssh_string_free_charp)
#define _cleanup_sftp_file_   _cleanup_(sftp_closep)

static const char *hostname(const mh_host_config *host) {
        return mh_host_config_hostname(host);
}

/* Hand an internal failure to the caller's error object, naming the host. */
static int fail(const mh_host_config *host, int r, const mh_error *e, mh_error *error) {
        return mh_error_set(error, r, "host '%s': %s", hostname(host), mh_error_message(e, r));
}

/* "ADDR:PORT", or "[ADDR]:PORT" for an IPv6 address. */
static void format_endpoint(const mh_host_config *host, char *buf, size_t size) {
        const char *address = mh_host_config_address(host);

        snprintf(buf, size, strchr(address, ':') ? "[%s]:%u" : "%s:%u", address,
                 mh_host_config_port(host));
}

/* The command as it appears in messages: cut after COMMAND_SHOWN_MAX bytes. */
static void format_command(const char *command, char *buf, size_t size) {
        size_t n = strlen(command);

        if (n <= COMMAND_SHOWN_MAX || size < COMMAND_SHOWN_MAX + 4)
                snprintf(buf, size, "%s", command);
        else
                snprintf(buf, size, "%.*s...", COMMAND_SHOWN_MAX, command);
}

/* Seconds as people write them: "1s", "2.5s", "0.25s". */
static void format_seconds(uint64_t msec, char *buf, size_t size) {
        char frac[8];
        size_t n;

        if (msec % 1000 == 0) {
                snprintf(buf, size, "%" PRIu64 "s", msec / 1000);
                return;
        }
        snprintf(frac, sizeof(frac), "%03u", (unsigned) (msec % 1000));
        for (n = strlen(frac); n > 0 && frac[n - 1] == '0'; n--)
                frac[n - 1] = '\0';
        snprintf(buf, size, "%" PRIu64 ".%ss", msec / 1000, frac);
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

/* Make a new, checked and authenticated session: for connecting and reconnecting alike. */
static int open_session(const mh_host_config *host, ssh_session *ret_session,
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
        session_end(s->session);
        s->session = NULL;
}

/* Replace a lost connection by a new one with the same checks. */
static int reconnect(mh_ssh *s, mh_error *e) {
        ssh_session session = NULL;
        char *fingerprint = NULL;
        int r;

        mh_log(MH_LOG_INFO, hostname(s->host), "connection lost; reconnecting");
        drop_session(s);

        r = open_session(s->host, &session, &fingerprint, e);
        if (r < 0) {
                mh_error_prefix(e, "connection lost and reconnecting failed: ");
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

static bool connected(const mh_ssh *s) {
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
                return fail(host, -ENOMEM, NULL, error);
        s->host = host;

        r = open_session(host, &s->session, &s->fingerprint, &e);
        if (r < 0) {
                free(s);
                return fail(host, r, &e, error);
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
        free(s);
        return NULL;
}

const mh_host_config *mh_ssh_host(const mh_ssh *s) {
        return s ? s->host : NULL;
}

const char *mh_ssh_host_key_fingerprint(const mh_ssh *s) {
        return s ? s->fingerprint : NULL;
}

/* --- commands ------------------------------------------------------------ */

typedef struct exec_state {
        mh_buf out, err;
        int failed; /* first failure to store output, e.g. -EFBIG */
        bool failed_stderr;
        bool closed;          /* the host closed the channel */
        int exit_status;      /* -1 until the host sent one */
        char exit_signal[32]; /* "" until the host sent one */
} exec_state;

static int on_data(ssh_session session, ssh_channel channel, void *data, uint32_t len,
                   int is_stderr, void *userdata) {
        exec_state *st = userdata;
        int r;

        /* After a failure the rest is dropped: the command is being ended. */
        if (st->failed == 0) {
                r = mh_buf_append(is_stderr ? &st->err : &st->out, data, len);
                if (r < 0) {
                        st->failed = r;
                        st->failed_stderr = is_stderr;
                }
        }
        return (int) len;
}

static void on_close(ssh_session session, ssh_channel channel, void *userdata) {
        ((exec_state *) userdata)->closed = true;
}

static void on_exit_status(ssh_session session, ssh_channel channel, int status, void *userdata) {
        ((exec_state *) userdata)->exit_status = status;
}

static void on_exit_signal(ssh_session session, ssh_channel channel, const char *sig, int core,
                           const char *errmsg, const char *lang, void *userdata) {
        exec_state *st = userdata;

        snprintf(st->exit_signal, sizeof(st->exit_signal), "%s", sig ? sig : "?");
}

/* Signal number of an SSH signal name ("TERM"), or 0. */
static int signal_number(const char *name) {
        static const struct {
                const char *name;
                int number;
        } table[] = {
                { "ABRT", SIGABRT },     { "ALRM", SIGALRM },   { "BUS", SIGBUS },
                { "CHLD", SIGCHLD },     { "CONT", SIGCONT },   { "FPE", SIGFPE },
                { "HUP", SIGHUP },       { "ILL", SIGILL },     { "INT", SIGINT },
                { "KILL", SIGKILL },     { "PIPE", SIGPIPE },   { "PROF", SIGPROF },
                { "QUIT", SIGQUIT },     { "SEGV", SIGSEGV },   { "STOP", SIGSTOP },
                { "SYS", SIGSYS },       { "TERM", SIGTERM },   { "TRAP", SIGTRAP },
                { "TSTP", SIGTSTP },     { "TTIN", SIGTTIN },   { "TTOU", SIGTTOU },
                { "URG", SIGURG },       { "USR1", SIGUSR1 },   { "USR2", SIGUSR2 },
                { "VTALRM", SIGVTALRM }, { "WINCH", SIGWINCH }, { "XCPU", SIGXCPU },
                { "XFSZ", SIGXFSZ },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (streq(name, table[i].name))
                        return table[i].number;
        return 0;
}

/* Open a session channel; on a lost connection reconnect and try once more (nothing ran yet). */
static int open_channel(mh_ssh *s, ssh_channel *ret, mh_error *e) {
        for (unsigned attempt = 0;; attempt++) {
                ssh_channel channel;
                bool denied;
                int r;

                if (!connected(s)) {
                        r = reconnect(s, e);
                        if (r < 0)
                                return r;
                }

                channel = ssh_channel_new(s->session);
                if (!channel)
                        return mh_error_set(e, -ENOMEM, "cannot create a channel: %s",
                                            ssh_get_error(s->session));
                if (ssh_channel_open_session(channel) == SSH_OK) {
                        *ret = channel;
                        return 0;
                }
                ssh_channel_free(channel);

                /* A refusal is the server's answer; anything else is the connection. */
                denied = ssh_is_connected(s->session) &&
                         ssh_get_error_code(s->session) == SSH_REQUEST_DENIED;
                if (denied || attempt > 0)
                        return mh_error_set(e, -MH_ERR_SSH, "cannot open a channel: %s",
                                            ssh_get_error(s->session));
                mh_log(MH_LOG_DEBUG, hostname(s->host), "cannot open a channel (%s); reconnecting",
                       ssh_get_error(s->session));
                r = reconnect(s, e);
                if (r < 0)
                        return r;
        }
}

/*
 * The command line sent to the host.  With a timeout, coreutils' timeout(1)
 * runs the command in a process group of its own and ends the whole group
 * on the host itself: SIGTERM at the limit, SIGKILL KILL_AFTER_SEC later.
 * This works even when the connection is gone, unlike the SSH "signal"
 * request, which OpenSSH 9.2 refuses ("session signalling requires
 * privilege separation").  "$SHELL" -c keeps the user's shell, as sshd
 * itself runs commands.
 */
static int remote_command(const char *command, uint64_t timeout_msec, char **ret) {
        _cleanup_free_ char *quoted = NULL;
        char *s;

        if (timeout_msec == 0) {
                s = strdup(command);
                if (!s)
                        return -ENOMEM;
                *ret = s;
                return 0;
        }
        if (mh_shell_quote(command, &quoted) < 0)
                return -ENOMEM;
        if (asprintf(&s, "exec timeout -k %u %" PRIu64 ".%03u \"$SHELL\" -c %s", KILL_AFTER_SEC,
                     timeout_msec / 1000, (unsigned) (timeout_msec % 1000), quoted) < 0)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/*
 * Feed stdin and collect stdout and stderr as they come: libssh hands both
 * streams to on_data() from one event loop, so neither can block the other,
 * and stdin goes out only as far as the host's window allows, so a command
 * that writes before it reads cannot deadlock us.  Returns 0 when the host
 * closed the channel, with *ret_gave_up when we stopped waiting for that.
 */
static int run_channel(mh_ssh *s, ssh_channel channel, const char *shown, const mh_exec_options *o,
                       uint64_t give_up, exec_state *st, bool *ret_gave_up, mh_error *e) {
        const uint8_t *input = o ? o->input : NULL;
        size_t left = o && o->input ? o->input_size : 0;
        bool eof_sent = false, gave_up = false;
        ssh_event event;
        int r = 0;

        event = ssh_event_new();
        if (!event)
                return mh_error_set(e, -ENOMEM, "cannot create an event loop");
        if (ssh_event_add_session(event, s->session) != SSH_OK) {
                ssh_event_free(event);
                return mh_error_set(e, -ENOMEM, "cannot add the session to an event loop");
        }

        for (;;) {
                uint64_t now;
                int wait_msec, rc;

                if (st->closed)
                        break;
                if (!ssh_is_connected(s->session)) {
                        r = mh_error_set(e, -MH_ERR_SSH,
                                         "connection lost while the command ran: %s: %s",
                                         ssh_get_error(s->session), shown);
                        break;
                }
                if (st->failed < 0) {
                        /* Closing the channel closes the command's pipes: a
                         * writer gets SIGPIPE, and timeout(1) ends the rest. */
                        if (st->failed == -EFBIG)
                                r = mh_error_set(
                                        e, -EFBIG, "%s of the command went over %zu bytes: %s",
                                        st->failed_stderr ? "stderr" : "stdout",
                                        st->failed_stderr ? st->err.max : st->out.max, shown);
                        else
                                r = mh_error_set(e, st->failed,
                                                 "cannot store the output of the command: %s",
                                                 shown);
                        break;
                }

                if (left > 0) {
                        uint32_t window = ssh_channel_window_size(channel);

                        if (window > 0) {
                                size_t n = left < window ? left : window;

                                if (n > INPUT_CHUNK)
                                        n = INPUT_CHUNK;
                                rc = ssh_channel_write(channel, input, (uint32_t) n);
                                if (rc < 0) {
                                        if (!ssh_is_connected(s->session))
                                                continue; /* reported above */
                                        /* The command closed its stdin; its exit says the rest. */
                                        left = 0;
                                        eof_sent = true;
                                } else {
                                        input += rc;
                                        left -= (size_t) rc;
                                }
                        }
                }
                if (left == 0 && !eof_sent) {
                        (void) ssh_channel_send_eof(channel);
                        eof_sent = true;
                }

                now = mh_now_usec();
                if (now >= give_up) {
                        mh_log(MH_LOG_WARNING, hostname(s->host),
                               "command did not end after its timeout; closing its channel: %s",
                               shown);
                        gave_up = true;
                        break;
                }

                /* Sleep until the host sends something, at most a second;
                 * not at all while stdin can go out. */
                wait_msec = give_up - now > 1000000u ? 1000 : (int) ((give_up - now + 999) / 1000);
                if (left > 0 && ssh_channel_window_size(channel) > 0)
                        wait_msec = 0;
                rc = ssh_event_dopoll(event, wait_msec);
                if (rc == SSH_ERROR && ssh_is_connected(s->session)) {
                        r = mh_error_set(e, -MH_ERR_SSH, "waiting for the command failed: %s: %s",
                                         ssh_get_error(s->session), shown);
                        break;
                }
        }

        ssh_event_remove_session(event, s->session);
        ssh_event_free(event);
        *ret_gave_up = gave_up;
        return r;
}

/* Set in a test's process: the sessions it inherited belong to mhtest. */
static bool sessions_forbidden;

void mh_ssh_forbid_sessions(void) {
        sessions_forbidden = true;
}

static int check_allowed(mh_error *e) {
        if (sessions_forbidden)
                return mh_error_set(e, -EPERM, "a test cannot use SSH sessions directly; "
                                               "use mh_run() and the other mh_test calls");
        return 0;
}

static int exec_impl(mh_ssh *s, const char *command, const mh_exec_options *o, mh_exec_result *ret,
                     mh_error *e) {
        struct ssh_channel_callbacks_struct callbacks = {
                .channel_data_function = on_data,
                .channel_close_function = on_close,
                .channel_exit_status_function = on_exit_status,
                .channel_exit_signal_function = on_exit_signal,
        };
        size_t max = o && o->max_output ? o->max_output : MH_EXEC_MAX_OUTPUT_DEFAULT;
        exec_state st = {
                .out.max = max,
                .err.max = max,
                .exit_status = -1,
        };
        uint64_t timeout_msec =
                o && o->timeout_msec ? o->timeout_msec
                                     : (uint64_t) mh_host_config_command_timeout(s->host) * 1000u;
        uint64_t start = mh_now_usec(), sent, give_up = UINT64_MAX;
        _cleanup_free_ char *remote = NULL;
        char shown[COMMAND_SHOWN_MAX + 8], seconds[32];
        ssh_channel channel = NULL;
        bool gave_up = false;
        int status = -1, sig = 0, r;

        r = check_allowed(e);
        if (r < 0)
                return r;
        format_command(command, shown, sizeof(shown));
        callbacks.userdata = &st;
        ssh_callbacks_init(&callbacks);

        r = remote_command(command, timeout_msec, &remote);
        if (r < 0) {
                r = mh_error_set(e, r, "out of memory");
                goto finish;
        }

        r = open_channel(s, &channel, e);
        if (r < 0)
                goto finish;

        ssh_add_channel_callbacks(channel, &callbacks);

        sent = mh_now_usec();
        if (timeout_msec > 0)
                give_up = sent + (timeout_msec + GIVE_UP_AFTER_SEC * 1000u) * 1000u;
        if (ssh_channel_request_exec(channel, remote) != SSH_OK) {
                if (!ssh_is_connected(s->session))
                        r = mh_error_set(e, -MH_ERR_SSH,
                                         "connection lost while starting the command (not retried: "
                                         "it may have run): %s: %s",
                                         ssh_get_error(s->session), shown);
                else
                        r = mh_error_set(e, -MH_ERR_SSH,
                                         "the host refused to run the command: %s: %s",
                                         ssh_get_error(s->session), shown);
        } else
                r = run_channel(s, channel, shown, o, give_up, &st, &gave_up, e);

        ssh_remove_channel_callbacks(channel, &callbacks);
        if (ssh_is_connected(s->session))
                ssh_channel_close(channel);
        ssh_channel_free(channel);

        if (st.exit_signal[0]) {
                sig = signal_number(st.exit_signal);
                status = sig > 0 ? 128 + sig : 255;
        } else if (st.exit_status >= 0)
                status = st.exit_status & 0xff;

        /* timeout(1) exits 124 when it stopped the command with SIGTERM and
         * dies of SIGKILL when it had to use that; either only counts once
         * the limit has passed here too. */
        if (r == 0 && timeout_msec > 0 &&
            (gave_up ||
             ((status == 124 || sig == SIGKILL) && mh_now_usec() - sent >= timeout_msec * 1000u))) {
                format_seconds(timeout_msec, seconds, sizeof(seconds));
                r = mh_error_set(e, -ETIMEDOUT, "command timed out after %s: %s", seconds, shown);
        }
        if (r == 0 && status < 0)
                r = mh_error_set(e, -MH_ERR_REMOTE, "the command ended without an exit status: %s",
                                 shown);

finish:;
        uint64_t duration = mh_now_usec() - start;

        mh_log(MH_LOG_DEBUG, hostname(s->host), "'%s': %s%d%s%s in %.1f ms", shown,
               st.exit_signal[0] ? "signal " : "status ", st.exit_signal[0] ? sig : status,
               r < 0 ? ", " : "", r < 0 ? mh_strerror(r) : "", (double) duration / 1000.0);
        mh_log_command(hostname(s->host), command, status, r < 0 ? r : 0, duration);

        if (r < 0) {
                mh_buf_dispose(&st.out);
                mh_buf_dispose(&st.err);
                return r;
        }

        *ret = (mh_exec_result){
                .exit_status = status,
                .signal = sig,
                .duration_usec = duration,
        };
        ret->out = mh_buf_steal(&st.out, &ret->out_size);
        ret->err = mh_buf_steal(&st.err, &ret->err_size);
        if (!ret->out || !ret->err) {
                mh_exec_result_dispose(ret);
                return mh_error_set(e, -ENOMEM, "out of memory");
        }
        return 0;
}

int mh_ssh_exec(mh_ssh *s, const char *command, const mh_exec_options *options, mh_exec_result *ret,
                mh_error *error) {
        mh_error e = MH_ERROR_INIT;
        int r;

        if (!s || !command || !ret)
                return mh_error_set(error, -EINVAL, "mh_ssh_exec: invalid argument");

        r = exec_impl(s, command, options, ret, &e);
        if (r < 0)
                return fail(s->host, r, &e, error);
        return 0;
}

void mh_exec_result_dispose(mh_exec_result *r) {
        if (!r)
                return;
        free(r->out);
        free(r->err);
        *r = (mh_exec_result){};
}

/* --- SFTP ---------------------------------------------------------------- */

/* Describe a failed SFTP request on path: "cannot open '/x' for writing: No such file". */
static int sftp_fail(mh_ssh *s, mh_error *e, const char *what, const char *path, const char *how) {
        int code;

        if (!connected(s))
                return mh_error_set(e, -MH_ERR_SSH, "cannot %s '%s'%s: connection lost: %s", what,
                                    path, how,
                                    s->session ? ssh_get_error(s->session) : "no session");

        code = s->sftp ? sftp_get_error(s->sftp) : SSH_FX_OK;
        switch (code) {
        case SSH_FX_NO_SUCH_FILE:
        case SSH_FX_NO_SUCH_PATH:
                return mh_error_set(e, -ENOENT, "cannot %s '%s'%s: No such file", what, path, how);
        case SSH_FX_PERMISSION_DENIED:
        case SSH_FX_WRITE_PROTECT:
                return mh_error_set(e, -EACCES, "cannot %s '%s'%s: Permission denied", what, path,
                                    how);
        case SSH_FX_FILE_ALREADY_EXISTS:
                return mh_error_set(e, -EEXIST, "cannot %s '%s'%s: File exists", what, path, how);
        case SSH_FX_OP_UNSUPPORTED:
                return mh_error_set(e, -EOPNOTSUPP,
                                    "cannot %s '%s'%s: operation not supported by the SFTP server",
                                    what, path, how);
        case SSH_FX_FAILURE:
                /* OpenSSH's sftp-server says only "Failure" (a directory, a full disk, ...). */
                return mh_error_set(e, -EIO,
                                    "cannot %s '%s'%s: the SFTP server reports a failure (%s)",
                                    what, path, how, ssh_get_error(s->session));
        default:
                return mh_error_set(e, -MH_ERR_SSH, "cannot %s '%s'%s: %s", what, path, how,
                                    ssh_get_error(s->session));
        }
}

static int sftp_start(mh_ssh *s, mh_error *e) {
        sftp_session sftp;

        if (s->sftp)
                return 0;

        sftp = sftp_new(s->session);
        if (!sftp)
                return mh_error_set(e, -MH_ERR_SSH, "cannot start SFTP: %s",
                                    ssh_get_error(s->session));
        if (sftp_init(sftp) != SSH_OK) {
                int r = mh_error_set(
                        e, -MH_ERR_SSH,
                        "cannot start SFTP (is the sftp subsystem enabled in sshd?): %s",
                        ssh_get_error(s->session));
                sftp_free(sftp);
                return r;
        }
        s->sftp = sftp;
        return 0;
}

typedef struct sftp_job sftp_job;
struct sftp_job {
        int (*run)(mh_ssh *s, sftp_job *job, mh_error *e);
        const char *remote_path;
        const char *local_path;
        const void *data;
        size_t size;
        unsigned mode;
        size_t max_size;
        char *ret_data; /* read_file's result */
        size_t ret_size;
};

/*
 * Run an SFTP job.  Every job is idempotent (whole files are written or
 * read), so one that failed because the connection dropped is run once more
 * on a new connection.
 */
static int sftp_run(mh_ssh *s, sftp_job *job, mh_error *e) {
        int allowed = check_allowed(e);

        if (allowed < 0)
                return allowed;
        for (unsigned attempt = 0;; attempt++) {
                int r;

                if (!connected(s)) {
                        r = reconnect(s, e);
                        if (r < 0)
                                return r;
                }
                r = sftp_start(s, e);
                if (r >= 0)
                        r = job->run(s, job, e);
                if (r >= 0 || attempt > 0 || connected(s))
                        return r;
                mh_log(MH_LOG_DEBUG, hostname(s->host),
                       "SFTP failed on a lost connection (%s); retrying", mh_error_message(e, r));
                mh_error_clear(e);
        }
}

static int sftp_write_all(mh_ssh *s, sftp_file f, const void *data, size_t size, const char *path,
                          mh_error *e) {
        const char *p = data;

        while (size > 0) {
                size_t n = size < SFTP_CHUNK ? size : SFTP_CHUNK;
                ssize_t k = sftp_write(f, p, n);

                if (k <= 0)
                        return sftp_fail(s, e, "write", path, "");
                p += k;
                size -= (size_t) k;
        }
        return 0;
}

/* Open remote_path for writing and give it mode before any data goes in. */
static int sftp_create(mh_ssh *s, const char *path, unsigned mode, sftp_file *ret, mh_error *e) {
        sftp_file f;

        f = sftp_open(s->sftp, path, O_WRONLY | O_CREAT | O_TRUNC, (mode_t) (mode & 07777));
        if (!f)
                return sftp_fail(s, e, "open", path, " for writing");
        /* The server's umask applies on creation and an existing file keeps
         * its mode: set it explicitly, before the data is written. */
        if (sftp_chmod(s->sftp, path, (mode_t) (mode & 07777)) < 0) {
                int r = sftp_fail(s, e, "set the mode of", path, "");
                sftp_close(f);
                return r;
        }
        *ret = f;
        return 0;
}

static int sftp_finish(mh_ssh *s, sftp_file *f, const char *path, mh_error *e) {
        sftp_file file = TAKE_PTR(*f);

        if (sftp_close(file) < 0)
                return sftp_fail(s, e, "close", path, "");
        return 0;
}

static int job_write_file(mh_ssh *s, sftp_job *job, mh_error *e) {
        _cleanup_sftp_file_ sftp_file f = NULL;
        int r;

        r = sftp_create(s, job->remote_path, job->mode, &f, e);
        if (r < 0)
                return r;
        r = sftp_write_all(s, f, job->data, job->size, job->remote_path, e);
        if (r < 0)
                return r;
        return sftp_finish(s, &f, job->remote_path, e);
}

static int job_upload(mh_ssh *s, sftp_job *job, mh_error *e) {
        _cleanup_sftp_file_ sftp_file f = NULL;
        _cleanup_free_ char *buf = NULL;
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r;

        fd = open(job->local_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0)
                return mh_error_set(e, -errno, "cannot read local file '%s': %s", job->local_path,
                                    strerror(errno));
        if (!S_ISREG(st.st_mode))
                return mh_error_set(e, -EINVAL, "cannot upload '%s': not a regular file",
                                    job->local_path);

        buf = malloc(SFTP_CHUNK);
        if (!buf)
                return mh_error_set(e, -ENOMEM, "out of memory");

        r = sftp_create(s, job->remote_path, st.st_mode & 07777, &f, e);
        if (r < 0)
                return r;

        for (;;) {
                ssize_t n = read(fd, buf, SFTP_CHUNK);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return mh_error_set(e, -errno, "cannot read local file '%s': %s",
                                            job->local_path, strerror(errno));
                if (n == 0)
                        break;
                r = sftp_write_all(s, f, buf, (size_t) n, job->remote_path, e);
                if (r < 0)
                        return r;
        }
        return sftp_finish(s, &f, job->remote_path, e);
}

/* Read the open remote file f to its end, handing each chunk to sink. */
static int sftp_read_all(mh_ssh *s, sftp_file f, const char *path,
                         int (*sink)(const void *data, size_t size, void *userdata, mh_error *e),
                         void *userdata, mh_error *e) {
        _cleanup_free_ char *buf = malloc(SFTP_CHUNK);
        int r;

        if (!buf)
                return mh_error_set(e, -ENOMEM, "out of memory");

        for (;;) {
                ssize_t n = sftp_read(f, buf, SFTP_CHUNK);

                if (n < 0)
                        return sftp_fail(s, e, "read", path, "");
                if (n == 0)
                        return 0;
                r = sink(buf, (size_t) n, userdata, e);
                if (r < 0)
                        return r;
        }
}

typedef struct fd_sink {
        int fd;
        const char *path;
} fd_sink;

static int sink_fd(const void *data, size_t size, void *userdata, mh_error *e) {
        fd_sink *sink = userdata;
        const char *p = data;

        while (size > 0) {
                ssize_t n = write(sink->fd, p, size);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return mh_error_set(e, -errno, "cannot write local file '%s': %s",
                                            sink->path, strerror(errno));
                p += n;
                size -= (size_t) n;
        }
        return 0;
}

static int job_download(mh_ssh *s, sftp_job *job, mh_error *e) {
        _cleanup_sftp_file_ sftp_file f = NULL;
        sftp_attributes attrs;
        mode_t mode = 0644;
        fd_sink sink = { .fd = -1, .path = job->local_path };
        int r;

        f = sftp_open(s->sftp, job->remote_path, O_RDONLY, 0);
        if (!f)
                return sftp_fail(s, e, "open", job->remote_path, "");
        attrs = sftp_fstat(f);
        if (attrs) {
                if (attrs->type == SSH_FILEXFER_TYPE_DIRECTORY) {
                        sftp_attributes_free(attrs);
                        return mh_error_set(e, -EISDIR, "cannot download '%s': it is a directory",
                                            job->remote_path);
                }
                if (attrs->flags & SSH_FILEXFER_ATTR_PERMISSIONS)
                        mode = attrs->permissions & 0777;
                sftp_attributes_free(attrs);
        }

        sink.fd = open(job->local_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        if (sink.fd < 0)
                return mh_error_set(e, -errno, "cannot create local file '%s': %s", job->local_path,
                                    strerror(errno));

        r = sftp_read_all(s, f, job->remote_path, sink_fd, &sink, e);
        if (close(sink.fd) < 0 && r >= 0)
                r = mh_error_set(e, -errno, "cannot write local file '%s': %s", job->local_path,
                                 strerror(errno));
        if (r < 0) {
                (void) unlink(job->local_path); /* no half files */
                return r;
        }
        return 0;
}

typedef struct buf_sink {
        mh_buf buf;
        const char *path;
} buf_sink;

static int sink_buf(const void *data, size_t size, void *userdata, mh_error *e) {
        buf_sink *sink = userdata;
        int r;

        r = mh_buf_append(&sink->buf, data, size);
        if (r == -EFBIG)
                return mh_error_set(e, r, "cannot read '%s': larger than %zu bytes", sink->path,
                                    sink->buf.max);
        if (r < 0)
                return mh_error_set(e, r, "cannot read '%s': %s", sink->path, strerror(-r));
        return 0;
}

static int job_read_file(mh_ssh *s, sftp_job *job, mh_error *e) {
        _cleanup_sftp_file_ sftp_file f = NULL;
        buf_sink sink = { .buf.max = job->max_size, .path = job->remote_path };
        int r;

        /* mh_buf's max of 0 means none; a max_size of 0 allows an empty file only. */
        if (job->max_size == 0)
                sink.buf.max = 1;

        f = sftp_open(s->sftp, job->remote_path, O_RDONLY, 0);
        if (!f)
                return sftp_fail(s, e, "open", job->remote_path, "");

        r = sftp_read_all(s, f, job->remote_path, sink_buf, &sink, e);
        if (r >= 0 && job->max_size == 0 && sink.buf.size > 0)
                r = mh_error_set(e, -EFBIG, "cannot read '%s': larger than 0 bytes",
                                 job->remote_path);
        if (r < 0) {
                mh_buf_dispose(&sink.buf);
                return r;
        }
        job->ret_data = mh_buf_steal(&sink.buf, &job->ret_size);
        if (!job->ret_data)
                return mh_error_set(e, -ENOMEM, "out of memory");
        return 0;
}

int mh_ssh_upload(mh_ssh *s, const char *local_path, const char *remote_path, mh_error *error) {
        sftp_job job = { .run = job_upload, .local_path = local_path, .remote_path = remote_path };
        mh_error e = MH_ERROR_INIT;
        int r;

        if (!s || !local_path || !remote_path)
                return mh_error_set(error, -EINVAL, "mh_ssh_upload: invalid argument");
        r = sftp_run(s, &job, &e);
        if (r < 0)
                return fail(s->host, r, &e, error);
        mh_log(MH_LOG_DEBUG, hostname(s->host), "uploaded '%s' to '%s'", local_path, remote_path);
        return 0;
}

int mh_ssh_download(mh_ssh *s, const char *remote_path, const char *local_path, mh_error *error) {
        sftp_job job = { .run = job_download,
                         .local_path = local_path,
                         .remote_path = remote_path };
        mh_error e = MH_ERROR_INIT;
        int r;

        if (!s || !local_path || !remote_path)
                return mh_error_set(error, -EINVAL, "mh_ssh_download: invalid argument");
        r = sftp_run(s, &job, &e);
        if (r < 0)
                return fail(s->host, r, &e, error);
        mh_log(MH_LOG_DEBUG, hostname(s->host), "downloaded '%s' to '%s'", remote_path, local_path);
        return 0;
}

int mh_ssh_write_file(mh_ssh *s, const char *remote_path, const void *data, size_t size,
                      unsigned mode, mh_error *error) {
        sftp_job job = {
                .run = job_write_file,
                .remote_path = remote_path,
                .data = data,
                .size = size,
                .mode = mode,
        };
        mh_error e = MH_ERROR_INIT;
        int r;

        if (!s || !remote_path || (!data && size > 0))
                return mh_error_set(error, -EINVAL, "mh_ssh_write_file: invalid argument");
        r = sftp_run(s, &job, &e);
        if (r < 0)
                return fail(s->host, r, &e, error);
        return 0;
}

int mh_ssh_read_file(mh_ssh *s, const char *remote_path, size_t max_size, char **ret,
                     size_t *ret_size, mh_error *error) {
        sftp_job job = { .run = job_read_file, .remote_path = remote_path, .max_size = max_size };
        mh_error e = MH_ERROR_INIT;
        int r;

        if (!s || !remote_path || !ret)
                return mh_error_set(error, -EINVAL, "mh_ssh_read_file: invalid argument");
        r = sftp_run(s, &job, &e);
        if (r < 0)
                return fail(s->host, r, &e, error);
        *ret = job.ret_data;
        if (ret_size)
                *ret_size = job.ret_size;
        return 0;
}

/* --- tunnels ------------------------------------------------------------- */

#define TUNNEL_CHUNK      (64u << 10)  /* bytes moved at once either way */
#define TUNNEL_BUFFER_MAX (1u << 20)   /* bytes from the host waiting for the local side */
#define TUNNEL_LINE_MAX   512u         /* bytes of one logged stderr line */

typedef struct tunnel {
        char *host;             /* the host's name: the config may go before the thread */
        ssh_session session;
        ssh_channel channel;
        int fd;                 /* our end of the socket pair */
        char *command;          /* as shown in the log */
        mh_buf to_local;        /* from the command, not yet written to fd */
        size_t to_local_start;  /* bytes of to_local already written */
        char line[TUNNEL_LINE_MAX]; /* the command's stderr line being collected */
        size_t line_size;
} tunnel;

/* The threads of open tunnels, by the caller's fd, for mh_ssh_tunnel_close() to join. */
typedef struct tunnel_ref {
        int fd;
        pthread_t thread;
        struct tunnel_ref *next;
} tunnel_ref;

static pthread_mutex_t tunnels_lock = PTHREAD_MUTEX_INITIALIZER;
static tunnel_ref *tunnels;

static void tunnel_free(tunnel *t) {
        if (!t)
                return;
        if (t->channel) {
                if (ssh_is_connected(t->session))
                        (void) ssh_channel_close(t->channel);
                ssh_channel_free(t->channel);
        }
        session_end(t->session);
        if (t->fd >= 0)
                close(t->fd);
        mh_buf_dispose(&t->to_local);
        free(t->command);
        free(t->host);
        free(t);
}

static void tunnel_log_line(tunnel *t) {
        if (t->line_size == 0)
                return;
        mh_log(MH_LOG_DEBUG, t->host, "'%s' stderr: %.*s", t->command,
               (int) t->line_size, t->line);
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

/* Move what the host sent, as far as our buffer takes it; false once the channel ended. */
/* Log what the command wrote to stderr and libssh has received. */
static void tunnel_drain_stderr(tunnel *t, char *buf, bool *progress) {
        int n;

        while ((n = ssh_channel_read_nonblocking(t->channel, buf, TUNNEL_CHUNK, 1)) > 0) {
                tunnel_stderr(t, buf, (size_t) n);
                *progress = true;
        }
}

static bool tunnel_from_host(tunnel *t, char *buf, bool *progress) {
        int n;

        tunnel_drain_stderr(t, buf, progress);
        while (t->to_local.size - t->to_local_start < TUNNEL_BUFFER_MAX) {
                n = ssh_channel_read_nonblocking(t->channel, buf, TUNNEL_CHUNK, 0);
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
                if (t->to_local_start > 0) {
                        t->to_local.size -= t->to_local_start;
                        memmove(t->to_local.data, t->to_local.data + t->to_local_start,
                                t->to_local.size);
                        t->to_local_start = 0;
                }
                if (mh_buf_append(&t->to_local, buf, (size_t) n) < 0)
                        return false;
                *progress = true;
        }
        return ssh_is_connected(t->session) && !ssh_channel_is_closed(t->channel);
}

/* Write what is buffered to the local side without blocking; false if it is gone. */
static bool tunnel_to_local(tunnel *t, bool *progress) {
        while (t->to_local_start < t->to_local.size) {
                ssize_t n = send(t->fd, t->to_local.data + t->to_local_start,
                                 t->to_local.size - t->to_local_start, MSG_DONTWAIT | MSG_NOSIGNAL);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return errno == EAGAIN;
                t->to_local_start += (size_t) n;
                *progress = true;
        }
        t->to_local.size = t->to_local_start = 0;
        return true;
}

/* Send what the local side wrote, within the channel's window so that
 * ssh_channel_write() never waits; false once the host side is gone. */
static bool tunnel_to_host(tunnel *t, char *buf, bool *local_eof, bool *progress) {
        uint32_t window;

        while (!*local_eof && (window = ssh_channel_window_size(t->channel)) > 0) {
                ssize_t n = recv(t->fd, buf, window < TUNNEL_CHUNK ? window : TUNNEL_CHUNK,
                                 MSG_DONTWAIT);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return errno == EAGAIN;
                *progress = true;
                if (n == 0) {
                        *local_eof = true;
                        return ssh_channel_send_eof(t->channel) == SSH_OK;
                }
                if (ssh_channel_write(t->channel, buf, (uint32_t) n) != n)
                        return false;
        }
        return true;
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
        bool local_eof = false, host_open = true;
        uint64_t start = mh_now_usec();

        while (buf) {
                struct pollfd p[2] = {
                        { .fd = ssh_get_fd(t->session), .events = POLLIN },
                        { .fd = t->fd },
                };
                bool progress = false;

                if (host_open)
                        host_open = tunnel_from_host(t, buf, &progress);
                if (!tunnel_to_local(t, &progress))
                        break; /* the local side closed its end */
                if (!host_open && t->to_local_start == t->to_local.size)
                        break; /* the command ended and everything was delivered */
                if (host_open && !tunnel_to_host(t, buf, &local_eof, &progress))
                        break;
                if (progress)
                        continue;

                if (!host_open)
                        p[0].fd = -1;
                if (t->to_local_start < t->to_local.size)
                        p[1].events |= POLLOUT;
                if (host_open && !local_eof && ssh_channel_window_size(t->channel) > 0)
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

int mh_ssh_tunnel(const mh_host_config *host, const char *command, int *ret_fd, mh_error *error) {
        _cleanup_free_ char *fingerprint = NULL;
        mh_error e = MH_ERROR_INIT;
        char shown[COMMAND_SHOWN_MAX + 8];
        tunnel_ref *ref;
        pthread_t thread;
        tunnel *t;
        int pair[2], r;

        if (!host || !command || !ret_fd)
                return mh_error_set(error, -EINVAL, "mh_ssh_tunnel: invalid argument");
        r = check_allowed(error);
        if (r < 0)
                return r;

        format_command(command, shown, sizeof(shown));
        t = calloc(1, sizeof(*t));
        if (!t)
                return fail(host, -ENOMEM, NULL, error);
        t->fd = -1;
        t->to_local.max = TUNNEL_BUFFER_MAX + TUNNEL_CHUNK;
        t->host = strdup(hostname(host));
        t->command = strdup(shown);
        if (!t->host || !t->command) {
                r = mh_error_set(&e, -ENOMEM, "out of memory");
                goto fail;
        }

        r = open_session(host, &t->session, &fingerprint, &e);
        if (r < 0)
                goto fail;

        t->channel = ssh_channel_new(t->session);
        if (!t->channel) {
                r = mh_error_set(&e, -ENOMEM, "cannot create a channel: %s",
                                 ssh_get_error(t->session));
                goto fail;
        }
        if (ssh_channel_open_session(t->channel) != SSH_OK) {
                ssh_channel_free(TAKE_PTR(t->channel));
                r = mh_error_set(&e, -MH_ERR_SSH, "cannot open a channel: %s",
                                 ssh_get_error(t->session));
                goto fail;
        }
        if (ssh_channel_request_exec(t->channel, command) != SSH_OK) {
                r = mh_error_set(&e, -MH_ERR_SSH, "the host refused to run the command: %s: %s",
                                 ssh_get_error(t->session), shown);
                goto fail;
        }

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) {
                r = mh_error_set(&e, -errno, "cannot create a socket pair: %s", strerror(errno));
                goto fail;
        }
        t->fd = pair[1];

        ref = calloc(1, sizeof(*ref));
        if (!ref) {
                close(pair[0]);
                r = mh_error_set(&e, -ENOMEM, "out of memory");
                goto fail;
        }
        r = -pthread_create(&thread, NULL, tunnel_run, t);
        if (r < 0) {
                free(ref);
                close(pair[0]);
                r = mh_error_set(&e, r, "cannot start the tunnel's thread: %s", strerror(-r));
                goto fail;
        }
        *ref = (tunnel_ref){ .fd = pair[0], .thread = thread };
        pthread_mutex_lock(&tunnels_lock);
        ref->next = tunnels;
        tunnels = ref;
        pthread_mutex_unlock(&tunnels_lock);

        mh_log(MH_LOG_DEBUG, hostname(host), "tunnel '%s' open", shown);
        *ret_fd = pair[0];
        return 0;

fail:
        tunnel_free(t);
        return fail(host, r, &e, error);
}

/* Take the thread of the tunnel at fd off the list; false if there is none. */
static bool tunnel_ref_take(int fd, pthread_t *ret) {
        bool found = false;

        pthread_mutex_lock(&tunnels_lock);
        for (tunnel_ref **p = &tunnels; *p; p = &(*p)->next)
                if ((*p)->fd == fd) {
                        tunnel_ref *ref = *p;

                        *ret = ref->thread;
                        *p = ref->next;
                        free(ref);
                        found = true;
                        break;
                }
        pthread_mutex_unlock(&tunnels_lock);
        return found;
}

void mh_ssh_tunnel_close(int fd, unsigned timeout_msec) {
        uint64_t deadline = mh_now_usec() + (uint64_t) timeout_msec * 1000u;
        bool joinable, ended = false;
        pthread_t thread;
        char buf[4096];

        if (fd < 0)
                return;
        joinable = tunnel_ref_take(fd, &thread);

        /* The thread closes its end only after it let go of the connection. */
        if (shutdown(fd, SHUT_WR) == 0)
                while (!ended) {
                        struct pollfd p = { .fd = fd, .events = POLLIN };
                        uint64_t now = mh_now_usec();
                        ssize_t n;

                        if (now >= deadline)
                                break;
                        if (poll(&p, 1, (int) ((deadline - now + 999) / 1000)) <= 0) {
                                if (errno == EINTR)
                                        continue;
                                break;
                        }
                        n = read(fd, buf, sizeof(buf));
                        ended = n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN);
                }
        close(fd);

        /* With our end closed the thread stops at once (its poll sees the
         * hang-up) and lets go of the connection without waiting for the
         * host: join it, so that nothing of the tunnel outlives the call. */
        if (joinable)
                pthread_join(thread, NULL);
}
