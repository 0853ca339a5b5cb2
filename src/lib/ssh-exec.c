/* SPDX-License-Identifier: MIT */
/*
 * Commands on an SSH session: each runs on a channel of its own, with its
 * stdin fed and its stdout and stderr collected up to a cap, under a
 * timeout enforced on the host; the session's observer hears of each.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>

#include <libssh/callbacks.h>
#include <libssh/libssh.h>

#include <mhc/log.h>
#include <mhc/shell.h>
#include <mhc/ssh.h>

#include "config.h"
#include "ssh.h"
#include "util.h"

#define INPUT_CHUNK       (256u << 10) /* stdin bytes handed to libssh at once */
#define KILL_AFTER_SEC    2u /* timeout(1): SIGTERM at the limit, SIGKILL this much later */
#define GIVE_UP_AFTER_SEC 5u /* after the limit, stop waiting for the host */

static const char *hostname(const mh_host_config *host) {
        return mh_host_config_hostname(host);
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

typedef struct exec_state {
        mh_buf out, err;
        int failed; /* first failure to store output, e.g. -EFBIG */
        bool failed_stderr;
        bool closed;          /* the host closed the channel */
        bool cancelled;       /* the options' cancel_fd became readable */
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

static int on_cancel(socket_t fd, int revents, void *userdata) {
        ((exec_state *) userdata)->cancelled = true;
        return 0;
}

/* Whether cancel_fd (> 0) is readable already. */
static bool cancel_requested(int cancel_fd) {
        struct pollfd p = { .fd = cancel_fd, .events = POLLIN };

        return cancel_fd > 0 && poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
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

                if (!mh_ssh_connected(s)) {
                        r = mh_ssh_reconnect(s, e);
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
                r = mh_ssh_reconnect(s, e);
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
static int remote_command(const char *command, const char *prelude, uint64_t timeout_msec,
                          char **ret) {
        _cleanup_free_ char *joined = NULL, *quoted = NULL;
        char *s;

        if (prelude) {
                if (asprintf(&joined, "%s\n%s", prelude, command) < 0) {
                        joined = NULL;
                        return -ENOMEM;
                }
                command = joined;
        }
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
 * that writes before it reads cannot deadlock us.  The options' cancel_fd
 * is in the same loop, so that it wakes it at once.  Returns 0 when the
 * host closed the channel, with *ret_gave_up when we stopped waiting for that.
 */
static int run_channel(mh_ssh *s, ssh_channel channel, const char *shown, const mh_exec_options *o,
                       uint64_t give_up, exec_state *st, bool *ret_gave_up, mh_error *e) {
        const uint8_t *input = o ? o->input : NULL;
        size_t left = o && o->input ? o->input_size : 0;
        int cancel_fd = o && o->cancel_fd > 0 ? o->cancel_fd : -1;
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
        if (cancel_fd > 0 && ssh_event_add_fd(event, cancel_fd, POLLIN, on_cancel, st) != SSH_OK) {
                ssh_event_remove_session(event, s->session);
                ssh_event_free(event);
                return mh_error_set(e, -ENOMEM,
                                    "cannot add the cancel descriptor to an event loop");
        }

        for (;;) {
                uint64_t now;
                int wait_msec, rc;

                if (st->closed)
                        break;
                if (st->cancelled) {
                        /* The caller closes the channel; the command is not waited for. */
                        r = mh_error_set(e, -ECANCELED, "cancelled: %s", shown);
                        break;
                }
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

        if (cancel_fd > 0)
                ssh_event_remove_fd(event, cancel_fd);
        ssh_event_remove_session(event, s->session);
        ssh_event_free(event);
        *ret_gave_up = gave_up;
        return r;
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
        char shown[MH_SSH_COMMAND_SHOWN_MAX + 8], seconds[32];
        ssh_channel channel = NULL;
        bool gave_up = false;
        int status = -1, sig = 0, r;

        r = mh_ssh_check_allowed(e);
        if (r < 0)
                return r;
        mh_ssh_format_command(command, shown, sizeof(shown));
        callbacks.userdata = &st;
        ssh_callbacks_init(&callbacks);

        if (o && cancel_requested(o->cancel_fd)) {
                r = mh_error_set(e, -ECANCELED, "cancelled: %s", shown);
                goto finish;
        }
                r = remote_command(command, o && o->prelude ? o->prelude : s->prelude, timeout_msec, &remote);
        if (r < 0) {
                r = mh_error_oom(e);
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
        if (s->observer) {
                mh_command_record record = {
                        .host = hostname(s->host),
                        .command = command,
                        .exit_status = status,
                        .error = r < 0 ? r : 0,
                        .duration_usec = duration,
                };

                s->observer(&record, s->observer_userdata);
        }

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
                return mh_error_oom(e);
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
                return mh_ssh_fail(r, &e, error);
        return 0;
}

void mh_exec_result_dispose(mh_exec_result *r) {
        if (!r)
                return;
        free(r->out);
        free(r->err);
        *r = (mh_exec_result){};
}

const char *mh_exec_result_summary(const mh_exec_result *r, char *buf, size_t size) {
        const char *err = r && r->err ? r->err : "";
        size_t end = r && r->err ? r->err_size : 0, start, n;
        char status[48];

        if (!buf || size == 0)
                return buf;

        /* The last line with something on it: a tool's final word on why. */
        while (end > 0 && (err[end - 1] == '\n' || err[end - 1] == '\r' || err[end - 1] == ' ' ||
                           err[end - 1] == '\t' || err[end - 1] == '\0'))
                end--;
        for (start = end; start > 0 && err[start - 1] != '\n'; start--)
                ;
        n = end - start;

        if (r && r->signal > 0)
                snprintf(status, sizeof(status), "exit status %d (signal %d)", r->exit_status,
                         r->signal);
        else
                snprintf(status, sizeof(status), "exit status %d", r ? r->exit_status : -1);
        if (n == 0)
                snprintf(buf, size, "%s: (nothing on stderr)", status);
        else
                snprintf(buf, size, "%s: %.*s%s", status,
                         (int) (n > MH_EXEC_SUMMARY_LINE_MAX ? MH_EXEC_SUMMARY_LINE_MAX : n),
                         err + start, n > MH_EXEC_SUMMARY_LINE_MAX ? "..." : "");
        return buf;
}
