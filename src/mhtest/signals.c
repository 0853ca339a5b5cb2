/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include <mhc/controller.h>

#include "mhtest.h"
#include "util.h"

/*
 * How a run is cut short: by SIGINT (Ctrl-C), SIGHUP, SIGTERM or SIGPIPE.
 * The first makes the cancel pipe readable, so that the running test ends,
 * the step under way finishes, the hosts are restored and the reports are
 * written; a second SIGINT, SIGHUP or SIGTERM stops at once.  SIGPIPE
 * comes from a closed standard output or error (mhtest | head -1): what
 * mhtest would print there is dropped from then on, and the SIGPIPE that
 * each later write raises is never a second signal.
 *
 * The handler only loads and stores lock-free atomics and calls getpid(),
 * poll(), strlen(), write() and _exit(), which are async-signal-safe.
 */

static_assert(ATOMIC_INT_LOCK_FREE == 2 && ATOMIC_BOOL_LOCK_FREE == 2,
              "the signal handler needs lock-free atomics");

static const int caught[] = { SIGINT, SIGHUP, SIGTERM, SIGPIPE };

static atomic_int first_signal;      /* 0, or the signal that cut the run short */
static atomic_bool output_closed[3]; /* by fd: standard output and error */
static int cancel_pipe[2] = { -1, -1 };
static pid_t runner_pid; /* 0 until signals_catch() */
/* What a second signal prints: the hosts that may be left dirty. */
static char at_risk[2][4096];
static size_t at_risk_length[2];
static volatile sig_atomic_t at_risk_index;

const char *signals_name(int sig) {
        switch (sig) {
        case SIGINT:
                return "SIGINT";
        case SIGHUP:
                return "SIGHUP";
        case SIGTERM:
                return "SIGTERM";
        case SIGPIPE:
                return "SIGPIPE";
        default:
                return "a signal";
        }
}

static const char *first_message(int sig) {
        switch (sig) {
        case SIGINT:
                /* after the terminal's ^C */
                return "\nmhtest: SIGINT: finishing the current step and restoring the hosts "
                       "(Ctrl-C again to stop at once)\n";
        case SIGHUP:
                return "mhtest: SIGHUP: finishing the current step and restoring the hosts "
                       "(again to stop at once)\n";
        case SIGTERM:
                return "mhtest: SIGTERM: finishing the current step and restoring the hosts "
                       "(again to stop at once)\n";
        default:
                return "mhtest: SIGPIPE: finishing the current step and restoring the hosts "
                       "(Ctrl-C to stop at once)\n";
        }
}

/* Write text on standard error unless it is closed. */
static void say(const char *text, size_t size) {
        ssize_t n;

        if (atomic_load(&output_closed[STDERR_FILENO]))
                return;
        n = write(STDERR_FILENO, text, size);
        (void) n;
}

/* Whether fd (standard output or error) is closed: marked so, or its reader is
 * gone (a pipe or socket closed at the other end), which marks it. */
static bool output_gone(int fd) {
        struct pollfd p = { .fd = fd, .events = POLLOUT };

        if (atomic_load(&output_closed[fd]))
                return true;
        if (poll(&p, 1, 0) != 1 || !(p.revents & (POLLERR | POLLHUP)))
                return false;
        atomic_store(&output_closed[fd], true);
        return true;
}

/* Cut the run short for sig, unless a signal did already (false then). */
static bool interrupt(int sig) {
        int none = 0;
        ssize_t n;

        if (!atomic_compare_exchange_strong(&first_signal, &none, sig))
                return false;
        n = write(cancel_pipe[1], "x", 1);
        (void) n;
        say(first_message(sig), strlen(first_message(sig)));
        return true;
}

static void on_signal(int sig, siginfo_t *info, void *context) {
        int saved_errno = errno;

        (void) context;
        /* A test's process, forked from the runner, before it set its own dispositions. */
        if (getpid() != runner_pid) {
                errno = saved_errno;
                return;
        }
        if (sig == SIGPIPE) {
                bool out = output_gone(STDOUT_FILENO), err = output_gone(STDERR_FILENO);
                bool own = info->si_code == SI_USER && info->si_pid == runner_pid;

                /* One of mhtest's own writes raised it: only a closed output is a
                 * reason to stop (a socket's writer sees EPIPE). */
                if (out || err || !own)
                        (void) interrupt(SIGPIPE);
        } else if (!interrupt(sig)) {
                int i = at_risk_index;

                say(at_risk[i], at_risk_length[i]);
                _exit(128 + atomic_load(&first_signal));
        }
        errno = saved_errno;
}

int signals_catch(void) {
        struct sigaction sa = { .sa_sigaction = on_signal, .sa_flags = SA_SIGINFO | SA_RESTART };

        runner_pid = getpid();
        if (pipe2(cancel_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
                return -errno;
        sigemptyset(&sa.sa_mask);
        for (size_t i = 0; i < ELEMENTSOF(caught); i++)
                sigaddset(&sa.sa_mask, caught[i]);
        signals_set_at_risk(NULL);
        for (size_t i = 0; i < ELEMENTSOF(caught); i++) {
                struct sigaction old;

                /* One ignored when mhtest started (nohup, a shell's background job) stays so. */
                if (sigaction(caught[i], NULL, &old) < 0)
                        return -errno;
                if (old.sa_handler != SIG_IGN && sigaction(caught[i], &sa, NULL) < 0)
                        return -errno;
        }
        return 0;
}

int signals_cancel_fd(void) {
        return cancel_pipe[0];
}

int signals_caught(void) {
        return atomic_load(&first_signal);
}

bool signals_output_closed(int fd) {
        return (fd == STDOUT_FILENO || fd == STDERR_FILENO) && atomic_load(&output_closed[fd]);
}

bool signals_output_failed(int fd) {
        if (fd != STDOUT_FILENO && fd != STDERR_FILENO)
                return false;
        if (!output_gone(fd))
                return false;
        /* As SIGPIPE would, had it not been ignored when mhtest started. */
        if (runner_pid != 0)
                (void) interrupt(SIGPIPE);
        return true;
}

void signals_set_at_risk(const mh_controller *c) {
        int next = !at_risk_index;
        size_t o;

        o = (size_t) snprintf(at_risk[next], sizeof(at_risk[next]), "\nmhtest: stopped at once%s",
                              c ? "; these hosts may be left dirty:" : "");
        for (size_t i = 0; c && i < mh_controller_n_hosts(c) && o < sizeof(at_risk[next]); i++)
                o += (size_t) snprintf(at_risk[next] + o, sizeof(at_risk[next]) - o, " %s",
                                       mh_host_name(mh_controller_hosts(c)[i]));
        if (o < sizeof(at_risk[next]))
                o += (size_t) snprintf(at_risk[next] + o, sizeof(at_risk[next]) - o, "\n");
        at_risk_length[next] = o < sizeof(at_risk[next]) ? o : sizeof(at_risk[next]) - 1;
        at_risk_index = next;
}
