/* SPDX-License-Identifier: MIT */
/*
 * A run on a host, as a transaction: the host-wide lock that lets one run
 * at a time use the host, the run's lease, the runs found dead on
 * connecting and the recovery from their vanilla backup, the step the run
 * is at (what a later run reports if this one dies), and the cgroup that
 * holds what the run's tests start on the host.
 *
 * On the host (all under MHC_STATE_DIR, mode 0700):
 *   .lock            flock(1)ed exclusively while a run looks at the others
 *   run-ID/.lease    flock(1)ed, shared, by the run's lease for its whole life
 *   run-ID/owner     "ID STARTED PID RUNNER": who the run is
 *   run-ID/doing     the step it is at, one line
 *   run-ID/NAME/     a backup; NAME/.complete once it is whole
 * A run directory whose lease nobody holds belongs to a dead run: a run
 * makes its directory and takes its lease while it holds .lock, so a live
 * run's lease is always held.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <mhc/clock.h>
#include <mhc/log.h>
#include <mhc/shell.h>

#include "host.h"
#include "ssh.h"
#include "util.h"

/* What the lease command prints before it settles: a few lines per dead run. */
#define LEASE_OUTPUT_MAX ((size_t) 64 << 10)
/* The longest step line sent to the host. */
#define STEP_MAX 200u
/* How long connecting waits for the lease of a runner of this machine that died. */
#define GONE_HOLDER_WAIT_USEC (15 * 1000000u)
/* How long the end of a test waits for its processes to go, in 10 ms steps. */
#define END_PROCESSES_TRIES 500

/*
 * The lease command: sh -c LEASE_SCRIPT mhc-lease RUN_DIR OWNER WAIT_SEC ID.
 * Under .lock: if another run's lease is held, print "busy DIR" and its
 * owner (after waiting up to WAIT_SEC for that run to end); else make the
 * run directory, take its lease (shared: two hosts of one run on one
 * machine share it), list the dead runs, start the unit whose cgroup holds
 * the run's commands and that ends them when the lease goes (a dead man's
 * switch: the lease goes with the runner), and print "leased [CGROUP]".
 * Then write each line that comes on stdin to run-ID/doing, until EOF.
 */
static const char lease_script[] =
        "set -u; umask 077; run=$1 owner=$2 wait=$3 id=$4 state=" MHC_STATE_DIR "\n"
        "mkdir -p \"$state\" || exit 1\n"
        "exec 9>>\"$state/.lock\" || exit 1\n"
        "busy() {\n"
        "  for d in \"$state\"/run-*; do\n"
        "    [ -d \"$d\" ] && [ \"$d\" != \"$run\" ] && [ -e \"$d/.lease\" ] || continue\n"
        "    flock -n \"$d/.lease\" true && continue\n"
        "    echo \"busy $d\"; head -n 1 \"$d/owner\" 2>/dev/null | sed 's/^/owner /'\n"
        "    return 0\n"
        "  done\n"
        "  return 1\n"
        "}\n"
        "end=$(( $(date +%s) + wait ))\n"
        "while :; do\n"
        "  flock -x 9 || exit 1\n"
        "  holder=$(busy) || break\n"
        "  left=$(( end - $(date +%s) ))\n"
        "  if [ \"$left\" -le 0 ]; then printf '%s\\n' \"$holder\"; exit 0; fi\n"
        "  flock -u 9\n"
        "  d=$(printf '%s\\n' \"$holder\" | sed -n 's/^busy //p')\n"
        "  flock -w \"$left\" \"$d/.lease\" true || :\n"
        "done\n"
        "mkdir -p \"$run\" && printf '%s\\n' \"$owner\" >\"$run/owner\" && : >>\"$run/.lease\" || exit 1\n"
        "exec 8<\"$run/.lease\" && flock -s 8 || exit 1\n"
        "for d in \"$state\"/run-*; do\n"
        "  [ -d \"$d\" ] && [ \"$d\" != \"$run\" ] || continue\n"
        "  echo \"dead $d\"\n"
        "  head -n 1 \"$d/owner\" 2>/dev/null | sed 's/^/owner /'\n"
        "  head -n 1 \"$d/doing\" 2>/dev/null | sed 's/^/doing /'\n"
        "  for b in \"$d\"/*/; do\n"
        "    [ -d \"$b\" ] || continue; b=${b%/}\n"
        "    if [ -e \"$b/.complete\" ]; then echo \"complete ${b##*/} $(head -c 64 \"$b/.complete\")\"; else echo \"backup ${b##*/}\"; fi\n"
        "  done\n"
        "done\n"
        "base=/sys/fs/cgroup; [ -e $base/cgroup.controllers ] || base=/sys/fs/cgroup/unified\n"
        "cg=$base/mhc.slice/mhc-run-$id.service\n"
        "if [ -e $base/cgroup.controllers ] && command -v systemd-run >/dev/null; then\n"
        "  [ -d \"$cg\" ] || systemd-run --quiet --collect --unit=\"mhc-run-$id\" --slice=mhc.slice \\\n"
        "    -p Delegate=yes -p KillMode=control-group \\\n"
        "    -p \"ExecStopPost=-/bin/sh $run/faults/fault.sh heal-all $run\" \\\n"
        "    flock -x \"$run/.lease\" true >&2 || :\n"
        "fi\n"
        "[ -e \"$cg/cgroup.kill\" ] || cg=\n"
        "flock -u 9; exec 9>&-\n"
        "echo \"leased $cg\"\n"
        "while IFS= read -r line; do printf '%s\\n' \"$line\" >\"$run/doing\"; done\n";

/* --- dead runs ------------------------------------------------------------ */

static void dead_run_dispose(dead_run *d) {
        free(d->dir);
        free(d->id);
        free(d->runner);
        free(d->doing);
        free(d->text);
        mh_strv_dispose(&d->backups);
        mh_strv_dispose(&d->complete);
        mh_strv_dispose(&d->complete_types);
}

void mh_host_forget_dead_runs(mh_host *h) {
        internal *in = internal_of(h);

        for (size_t i = 0; i < in->n_dead; i++)
                dead_run_dispose(&in->dead[i]);
        free(in->dead);
        in->dead = NULL;
        in->n_dead = 0;
}

/* "ID STARTED PID RUNNER" into d. */
static int parse_owner(dead_run *d, const char *s) {
        char id[33], runner[256];
        unsigned long long started;
        long pid;

        if (sscanf(s, "%32s %llu %ld %255s", id, &started, &pid, runner) != 4)
                return 0; /* an owner line we cannot read: the dir's name is the id */
        free(d->id);
        free(d->runner);
        d->id = strdup(id);
        d->runner = strdup(runner);
        d->started = started;
        d->pid = pid;
        return d->id && d->runner ? 0 : -ENOMEM;
}

/* One line of the lease command's listing of dead runs into in->dead. */
static int parse_dead_line(internal *in, char *line) {
        dead_run *d = in->n_dead ? &in->dead[in->n_dead - 1] : NULL;

        if (startswith(line, "dead ")) {
                dead_run *more = realloc(in->dead, (in->n_dead + 1) * sizeof(*more));
                const char *dir = line + 5, *base = strrchr(dir, '/');

                if (!more)
                        return -ENOMEM;
                in->dead = more;
                d = &in->dead[in->n_dead++];
                *d = (dead_run){ .dir = strdup(dir) };
                d->id = strdup(base && startswith(base, "/run-") ? base + 5 : dir);
                return d->dir && d->id ? 0 : -ENOMEM;
        }
        if (!d)
                return -EBADMSG;
        if (startswith(line, "owner "))
                return parse_owner(d, line + 6);
        if (startswith(line, "doing ")) {
                free(d->doing);
                d->doing = strdup(line + 6);
                return d->doing ? 0 : -ENOMEM;
        }
        if (startswith(line, "backup "))
                return mh_strv_consume(&d->backups, strdup(line + 7));
        if (startswith(line, "complete ")) {
                const char *name = line + 9, *type = strchr(name, ' ');
                _cleanup_free_ char *n = strndup(name, type ? (size_t) (type - name) : strlen(name));
                int r;

                if (!n)
                        return -ENOMEM;
                r = mh_strv_consume(&d->backups, strdup(n));
                if (r >= 0)
                        r = mh_strv_consume(&d->complete, strdup(n));
                if (r >= 0)
                        r = mh_strv_consume(&d->complete_types, strdup(type ? type + 1 : ""));
                return r;
        }
        return -EBADMSG;
}

/* "run ID (pid P on RUNNER, started DATE)" */
static void describe_owner(const dead_run *d, char *buf, size_t size) {
        char when[64] = "";
        time_t t = (time_t) d->started;
        struct tm tm;

        if (d->started && gmtime_r(&t, &tm))
                strftime(when, sizeof(when), ", started %Y-%m-%d %H:%M:%S UTC", &tm);
        if (d->runner)
                snprintf(buf, size, "run %s (mhtest pid %ld on %s%s)", d->id, d->pid, d->runner,
                         when);
        else
                snprintf(buf, size, "run %s", d->id);
}

size_t mh_host_n_dead_runs(const mh_host *h) {
        return h && h->internal ? internal_of(h)->n_dead : 0;
}

const char *mh_host_dead_run(const mh_host *h, size_t i) {
        dead_run *d;
        char owner[512];

        if (!h || i >= mh_host_n_dead_runs(h))
                return NULL;
        d = &internal_of(h)->dead[i];
        if (d->text)
                return d->text;
        describe_owner(d, owner, sizeof(owner));
        if (asprintf(&d->text, "%s, last at: %s; %s", owner, d->doing ?: "(nothing said)",
                     mh_strv_contains(&d->complete, MH_BACKUP_VANILLA)
                             ? "its vanilla backup is whole"
                             : "it left no whole vanilla backup (it had not changed the host)") <
            0)
                d->text = NULL;
        return d->text;
}

/* --- the lease ------------------------------------------------------------ */

/* This machine's name as a word (the owner line is split on spaces). */
static void runner_name(char *buf, size_t size) {
        if (gethostname(buf, size) < 0 || !buf[0])
                snprintf(buf, size, "localhost");
        buf[size - 1] = '\0';
        for (char *c = buf; *c; c++)
                if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_", *c))
                        *c = '_';
}

/* When the run started: when it first took a lease. */
static pthread_once_t started_once = PTHREAD_ONCE_INIT;
static uint64_t started_sec;

static void note_start(void) {
        started_sec = mh_realtime_usec() / 1000000u;
}

static int lease_command(mh_host *h, char **ret) {
        _cleanup_free_ char *script = NULL, *dir = NULL, *owner = NULL, *quoted = NULL;
        const char *id = strrchr(h->run_dir, '/') + 5;
        char runner[128];

        pthread_once(&started_once, note_start);
        runner_name(runner, sizeof(runner));
        if (asprintf(&owner, "%s %" PRIu64 " %ld %s", id, started_sec, (long) getpid(), runner) <
            0) {
                owner = NULL;
                return -ENOMEM;
        }
        if (mh_shell_quote(lease_script, &script) < 0 || mh_shell_quote(h->run_dir, &dir) < 0 ||
            mh_shell_quote(owner, &quoted) < 0)
                return -ENOMEM;
        if (asprintf(ret, "exec sh -c %s mhc-lease %s %s %u %s", script, dir, quoted,
                     internal_of(h)->lock_wait_sec, id) < 0)
                return -ENOMEM;
        return 0;
}

/* The busy listing into an error: "in use by run ID (...)". */
static int busy_error(mh_host *h, char *out, mh_error *e) {
        dead_run holder = {};
        char text[512];
        char *line, *save = NULL;

        for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                if (startswith(line, "busy ")) {
                        const char *base = strrchr(line, '/');

                        free(holder.id);
                        holder.id = strdup(base && startswith(base, "/run-") ? base + 5 : line + 5);
                } else if (startswith(line, "owner ") && holder.id)
                        (void) parse_owner(&holder, line + 6);
        if (!holder.id)
                return mh_error_oom(e);
        snprintf(internal_of(h)->holder_runner, sizeof(internal_of(h)->holder_runner), "%s",
                 strempty(holder.runner));
        internal_of(h)->holder_pid = holder.pid;
        describe_owner(&holder, text, sizeof(text));
        dead_run_dispose(&holder);
        return mh_error_set(e, -EBUSY, "in use by %s%s", text,
                            internal_of(h)->lock_wait_sec ? ", waited for it in vain" : "");
}

/* Read the lease command's listing until it says "leased" (or "busy", or ends). */
static int read_lease(mh_host *h, int fd, bool note_dead, mh_error *e) {
        unsigned timeout = mh_host_config_connect_timeout(h->config) ?: 10;
        uint64_t deadline =
                mh_now_usec() + (uint64_t) (timeout + internal_of(h)->lock_wait_sec) * 1000000u;
        mh_buf out = { .max = LEASE_OUTPUT_MAX };
        internal *in = internal_of(h);
        char *line, *save = NULL, *leased = NULL;
        int r = 0;

        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                uint64_t now = mh_now_usec();
                char buf[4096];
                ssize_t n;

                if (out.size > 0 && (strstr(out.data, "\nleased") || startswith(out.data, "leased")) &&
                    out.data[out.size - 1] == '\n')
                        break;
                if (now >= deadline) {
                        r = mh_error_set(e, -ETIMEDOUT, "timed out taking the run's lease on %s/.lease",
                                         h->run_dir);
                        goto finish;
                }
                n = poll(&p, 1, (int) ((deadline - now) / 1000u) + 1);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = mh_error_set(e, -errno, "cannot wait for the run's lease: %m");
                        goto finish;
                }
                if (n == 0)
                        continue;
                n = read(fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = mh_error_set(e, -errno, "cannot read from the lease channel: %m");
                        goto finish;
                }
                if (n == 0) {
                        if (out.size > 0 && strstr(out.data, "busy "))
                                r = busy_error(h, out.data, e);
                        else
                                r = mh_error_set(e, -MH_ERR_COMMAND,
                                                 "cannot take the run's lease on %s/.lease: the "
                                                 "lock command ended (are flock(1) and sed "
                                                 "installed, is " MHC_STATE_DIR " writable?)",
                                                 h->run_dir);
                        goto finish;
                }
                r = mh_buf_append(&out, buf, (size_t) n);
                if (r < 0) {
                        r = mh_error_set(e, r, "the lease command said too much");
                        goto finish;
                }
        }

        for (line = strtok_r(out.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                if (startswith(line, "leased")) {
                        leased = line + 6;
                        break;
                }
                if (!note_dead)
                        continue;
                r = parse_dead_line(in, line);
                if (r < 0) {
                        r = mh_error_set(e, r == -ENOMEM ? r : -MH_ERR_REMOTE,
                                         "unexpected output from the lease command: '%.80s'", line);
                        goto finish;
                }
        }
        free(in->cgroup);
        in->cgroup = NULL;
        if (leased && leased[0] == ' ' && leased[1] && !(in->cgroup = strdup(leased + 1)))
                r = mh_error_oom(e);
finish:
        mh_buf_dispose(&out);
        return r;
}

static int open_lease(mh_host *h, bool note_dead, mh_error *e) {
        _cleanup_free_ char *command = NULL;
        mh_tunnel *t = NULL;
        int r;

        if (lease_command(h, &command) < 0)
                return mh_error_oom(e);
        r = mh_tunnel_open(h->config, command, &t, e);
        if (r < 0)
                return r;
        r = read_lease(h, mh_tunnel_fd(t), note_dead, e);
        if (r < 0) {
                mh_tunnel_close(t, 0);
                mh_tunnel_free(t);
                if (note_dead)
                        mh_host_forget_dead_runs(h);
                return r;
        }
        internal_of(h)->lease = t;
        return 0;
}

/*
 * Whether the run found holding the host is a runner of this machine that
 * is gone: killed a moment ago, its lease ends as soon as the host sees its
 * connection close.
 */
static bool holder_gone(const mh_host *h) {
        const internal *in = internal_of(h);
        char runner[128];

        runner_name(runner, sizeof(runner));
        return in->holder_pid > 0 && streq(in->holder_runner, runner) &&
               kill((pid_t) in->holder_pid, 0) < 0 && errno == ESRCH;
}

/*
 * Shell code that ends the processes of the test that ended, if any: kill
 * cgroup/test and wait until it is empty (builtins only).  Idempotent, so
 * every command may run it until the next test's first command has; the
 * first one after a test (the restore's) does the work.  The next test
 * uses the same cgroup, made once per run (systemd removes it with the
 * run's unit): making one costs the host a few milliseconds.
 */
static int kill_ended_test(const mh_host *h, mh_buf *out) {
        const internal *in = internal_of(h);
        _cleanup_free_ char *path = NULL, *quoted = NULL;

        if (!in->test_ended)
                return 0;
        if (asprintf(&path, "%s/test", in->cgroup) < 0) {
                path = NULL;
                return -ENOMEM;
        }
        if (mh_shell_quote(path, &quoted) < 0)
                return -ENOMEM;
        return mh_buf_printf(
                out,
                "if [ -e %1$s/cgroup.kill ]; then echo 1 >%1$s/cgroup.kill; i=0; "
                "while read -r l <%1$s/cgroup.events && [ \"$l\" != 'populated 0' ]; do "
                "i=$((i + 1)); [ $i -le %2$d ] || { echo 'mhc: the processes of the last test do "
                "not end' >&2; exit 125; }; sleep 0.01; done; fi\n",
                quoted, END_PROCESSES_TRIES);
}

/* Put the shell in cgroup/NAME, making it when missing. */
static int join_cgroup(const mh_host *h, const char *name, bool required, mh_buf *out) {
        _cleanup_free_ char *path = NULL, *quoted = NULL;

        if (asprintf(&path, "%s/%s", internal_of(h)->cgroup, name) < 0) {
                path = NULL;
                return -ENOMEM;
        }
        if (mh_shell_quote(path, &quoted) < 0)
                return -ENOMEM;
        return mh_buf_printf(out,
                             "{ echo $$ >%1$s/cgroup.procs || { mkdir -p %1$s && echo $$ "
                             ">%1$s/cgroup.procs; }; } 2>/dev/null || %2$s",
                             quoted,
                             required ? "{ echo 'mhc: cannot put the command in the cgroup of "
                                        "the test' >&2; exit 125; }"
                                      : ":");
}

/*
 * The run's own commands (restores, backups) go to the cgroup too, in
 * cgroup/run: should the runner die, they end with the lease instead of
 * going on beside the next run's recovery.  They end the last test's
 * processes first.
 */
static int contain_run(mh_host *h, mh_error *e) {
        mh_buf prelude = MH_BUF_INIT(8192);
        int r;

        if (!internal_of(h)->cgroup)
                return mh_ssh_set_prelude(h->ssh, NULL);
        r = kill_ended_test(h, &prelude);
        if (r >= 0)
                r = join_cgroup(h, "run", false, &prelude);
        if (r >= 0)
                r = mh_ssh_set_prelude(h->ssh, prelude.data);
        mh_buf_dispose(&prelude);
        return r < 0 ? mh_error_oom(e) : 0;
}

int mh_host_take_lease(mh_host *h, mh_error *e) {
        uint64_t give_up = mh_now_usec() + GONE_HOLDER_WAIT_USEC;
        int r;

        for (;;) {
                mh_error busy = MH_ERROR_INIT;

                mh_host_forget_dead_runs(h);
                internal_of(h)->holder_runner[0] = '\0';
                r = open_lease(h, true, &busy);
                if (r != -EBUSY || !holder_gone(h) || mh_now_usec() >= give_up) {
                        if (r < 0)
                                return mh_error_set(e, r, "%s", busy.message);
                        break;
                }
                mh_log(MH_LOG_DEBUG, mh_host_name(h), "%s, which is gone; waiting for its lease "
                       "to end", busy.message);
                usleep(100 * 1000);
        }
        r = contain_run(h, e);
        if (r < 0)
                return r;
        if (!internal_of(h)->cgroup)
                mh_log(MH_LOG_INFO, mh_host_name(h),
                       "no cgroup for the run's commands (no cgroup v2 hierarchy or systemd-run): what a "
                       "test leaves running is not ended");
        return 0;
}

/* Whether the lease's tunnel has ended (its connection dropped). */
static bool lease_lost(const mh_host *h) {
        mh_tunnel *t = internal_of(h)->lease;
        struct pollfd p;
        char c;

        if (!t || mh_tunnel_fd(t) < 0)
                return true;
        p = (struct pollfd){ .fd = mh_tunnel_fd(t), .events = POLLIN };
        if (poll(&p, 1, 0) <= 0)
                return false;
        return recv(p.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0 || (p.revents & (POLLHUP | POLLERR));
}

void mh_host_forget_lease(mh_host *h) {
        internal *in = internal_of(h);

        mh_tunnel_close(in->lease, 0);
        in->lease = mh_tunnel_free(in->lease);
        free(in->cgroup);
        in->cgroup = NULL;
        (void) mh_ssh_set_prelude(h->ssh, NULL);
}

int mh_host_retake_lease(mh_host *h, mh_error *e) {
        int r;

        mh_host_forget_lease(h);
        r = open_lease(h, false, e);
        if (r >= 0)
                r = contain_run(h, e);
        return r;
}

int mh_host_keep_lease(mh_host *h, mh_error *e) {
        int r;

        if (!internal_of(h)->lease || !lease_lost(h))
                return 0;
        mh_log(MH_LOG_WARNING, mh_host_name(h), "the run's lease was lost; taking it again");
        r = mh_host_retake_lease(h, e);
        if (r < 0)
                mh_error_prefix(e, "the run's lease was lost and cannot be taken again");
        return r;
}

void mh_host_end_lease(mh_host *h, unsigned wait_msec) {
        internal *in = internal_of(h);

        /* EOF ends the lock command on the host: the lease is free when this returns. */
        mh_tunnel_close(in->lease, wait_msec);
        in->lease = mh_tunnel_free(in->lease);
        free(in->cgroup);
        in->cgroup = NULL;
}

void mh_host_set_lock_wait(mh_host *h, unsigned seconds) {
        if (h)
                internal_of(h)->lock_wait_sec = seconds;
}

void mh_host_set_step(mh_host *h, const char *fmt, ...) {
        char line[STEP_MAX + 2];
        va_list ap;
        size_t n;
        int fd;

        if (!h || !internal_of(h)->lease || (fd = mh_tunnel_fd(internal_of(h)->lease)) < 0)
                return;
        va_start(ap, fmt);
        vsnprintf(line, STEP_MAX + 1, fmt, ap);
        va_end(ap);
        for (n = 0; line[n]; n++)
                if ((unsigned char) line[n] < ' ' || line[n] == 0x7f)
                        line[n] = ' ';
        line[n++] = '\n';
        /* Never waits: a step that cannot go out now is not worth a stall. */
        (void) send(fd, line, n, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* --- recovery ------------------------------------------------------------- */

static int load(mh_host *h, const dead_run *d, entry *b, mh_error *e) {
        int r;

        if (!SLOT(h, load))
                return mh_error_set(e, -EOPNOTSUPP,
                                    "host type '%s' cannot read a dead run's backup (no load slot)",
                                    h->type->name);
        r = SLOT(h, load)(h, &b->backup, e);
        if (r < 0)
                mh_error_prefix(e, "cannot read backup '%s' of run %s", b->name, d->id);
        return r;
}

/* The host type that took d's whole backup name ("" if it did not say). */
static const char *backup_type(const dead_run *d, const char *name) {
        for (size_t i = 0; i < d->complete.n; i++)
                if (streq(d->complete.items[i], name))
                        return d->complete_types.items[i];
        return "";
}

/*
 * The host is put back: no dead run's backup is whole any more, before any
 * of them is dropped, so that a recovery cut short from here on (the
 * template copies of a postgresql backup dropped, the directories not yet
 * gone) leaves backups that the next run only drops, never restores from.
 */
static int unmark_dead(mh_host *h, const internal *in, mh_error *e) {
        _cleanup_free_ char *command = NULL;
        mh_buf b = MH_BUF_INIT(LEASE_OUTPUT_MAX);
        int r = mh_buf_printf(&b, "rm -f --");

        for (size_t i = 0; r >= 0 && i < in->n_dead; i++) {
                _cleanup_free_ char *quoted = NULL;

                r = mh_shell_quote(in->dead[i].dir, &quoted);
                if (r >= 0)
                        r = mh_buf_printf(&b, " %s/*/.complete", quoted);
        }
        if (r < 0) {
                mh_buf_dispose(&b);
                return r == -ENOMEM ? mh_error_oom(e) : mh_error_set(e, r, "too many dead runs");
        }
        command = mh_buf_steal(&b, NULL);
        return mh_host_run_command(h, command, "mark the dead runs' backups as being dropped", NULL,
                                   e);
}

/* Put the host back from d's vanilla backup, whatever changed. */
static int restore_dead(mh_host *h, const dead_run *d, mh_error *e) {
        mh_restore_options full = { .full = 1 };
        const char *type = backup_type(d, MH_BACKUP_VANILLA);
        entry *b;
        int r;

        if (!streq(type, h->type->name))
                return mh_error_set(e, -ESTALE,
                                    "the vanilla backup of run %s was taken by a host of type "
                                    "'%s', not '%s' as mhc.yaml says now",
                                    d->id, type, h->type->name);
        b = mh_host_entry_new(d->dir, MH_BACKUP_VANILLA);
        if (!b)
                return mh_error_oom(e);
        r = load(h, d, b, e);
        if (r >= 0) {
                r = SLOT(h, restore)(h, &b->backup, &full, e);
                if (r < 0)
                        mh_error_prefix(e, "cannot restore the vanilla backup of run %s", d->id);
        }
        if (r >= 0)
                r = unmark_dead(h, internal_of(h), e);
        if (b->backup.data && SLOT(h, drop))
                (void) SLOT(h, drop)(h, &b->backup, NULL);
        mh_host_entry_free(b);
        return r;
}

/* Drop what d left: each backup through the type (a database copy lives
 * outside its directory), the unit of its cgroup, its directory. */
static int drop_dead(mh_host *h, const dead_run *d, mh_error *e) {
        _cleanup_free_ char *dir = NULL, *unit = NULL, *quoted_unit = NULL, *command = NULL;
        int r = 0;

        for (size_t i = 0; i < d->backups.n; i++) {
                entry *b = mh_host_entry_new(d->dir, d->backups.items[i]);
                mh_error le = MH_ERROR_INIT;

                if (!b)
                        return mh_error_oom(e);
                if (SLOT(h, load) && SLOT(h, load)(h, &b->backup, &le) < 0)
                        mh_log(MH_LOG_WARNING, mh_host_name(h),
                               "cannot read backup '%s' of run %s to drop it: %s", b->name, d->id,
                               mh_error_message(&le, -EIO));
                if (SLOT(h, drop)) {
                        int k = SLOT(h, drop)(h, &b->backup, r < 0 ? NULL : e);

                        if (k < 0 && r == 0) {
                                mh_error_prefix(e, "cannot drop backup '%s' of run %s", b->name,
                                                d->id);
                                r = k;
                        }
                }
                mh_host_entry_free(b);
        }
        if (asprintf(&unit, "mhc-run-%s.service", d->id) < 0) {
                unit = NULL;
                return mh_error_oom(e);
        }
        if (mh_shell_quote(d->dir, &dir) < 0 || mh_shell_quote(unit, &quoted_unit) < 0 ||
            asprintf(&command, "{ systemctl stop %s || :; } >/dev/null 2>&1; rm -rf -- %s",
                     quoted_unit, dir) < 0) {
                command = NULL;
                return mh_error_oom(e);
        }
        if (mh_host_run_command(h, command, "remove the directory of a dead run", NULL,
                                r < 0 ? NULL : e) < 0 && r == 0)
                r = -MH_ERR_COMMAND;
        return r;
}

/* Heal the faults the dead runs left (their timers would, later), before
 * anything is restored: a full filesystem or a paused unit would fail it. */
static int heal_dead(mh_host *h, const internal *in, mh_error *e) {
        mh_buf b = MH_BUF_INIT(LEASE_OUTPUT_MAX);
        _cleanup_free_ char *command = NULL;
        int r = 0;

        for (size_t i = 0; r >= 0 && i < in->n_dead; i++)
                r = mh_host_heal_command(in->dead[i].dir, &b);
        if (r < 0) {
                mh_buf_dispose(&b);
                return mh_error_oom(e);
        }
        command = mh_buf_steal(&b, NULL);
        return mh_host_run_command(h, command, "heal the faults of the dead runs", NULL, e);
}

/* The dead run whose vanilla backup holds the host's state before them all. */
static const dead_run *oldest_vanilla(const internal *in) {
        const dead_run *best = NULL;

        for (size_t i = 0; i < in->n_dead; i++) {
                const dead_run *d = &in->dead[i];

                if (mh_strv_contains(&d->complete, MH_BACKUP_VANILLA) &&
                    (!best || d->started < best->started))
                        best = d;
        }
        return best;
}

int mh_host_recover(mh_host *h, mh_error *error) {
        mh_error e = MH_ERROR_INIT;
        const dead_run *from;
        internal *in;
        int r;

        if (!h)
                return mh_error_set(error, -EINVAL, "mh_host_recover: invalid argument");
        if (!h->ssh)
                return mh_error_set(error, -ENOTCONN, "host '%s' is not connected",
                                    mh_host_name(h));
        in = internal_of(h);
        if (in->n_dead == 0)
                return 0;

        r = heal_dead(h, in, &e);
        if (r < 0)
                return mh_error_set(error, r, "host '%s': %s", mh_host_name(h),
                                    mh_error_message(&e, r));
        from = oldest_vanilla(in);
        if (from) {
                mh_host_set_step(h, "recovery from run %s", from->id);
                r = restore_dead(h, from, &e);
                if (r < 0)
                        return mh_error_set(error, r,
                                            "host '%s': %s; remove %s by hand to go on without it",
                                            mh_host_name(h), mh_error_message(&e, r), from->dir);
                mh_log(MH_LOG_DEBUG, mh_host_name(h), "restored from the vanilla backup of run %s",
                       from->id);
        }
        for (size_t i = 0; i < in->n_dead; i++) {
                r = drop_dead(h, &in->dead[i], &e);
                if (r < 0)
                        return mh_host_fail(h, r, &e, error);
        }
        mh_host_forget_dead_runs(h);
        return from ? 1 : 0;
}

/* --- the processes of a test ---------------------------------------------- */

int mh_host_exec(mh_host *h, const char *command, const mh_exec_options *options,
                 mh_exec_result *ret, mh_error *error) {
        mh_buf prelude = MH_BUF_INIT(8192);
        mh_exec_options o = {};
        internal *in;
        int r;

        if (!h || !command || !ret)
                return mh_error_set(error, -EINVAL, "mh_host_exec: invalid argument");
        if (!h->ssh)
                return mh_error_set(error, -ENOTCONN, "host '%s' is not connected",
                                    mh_host_name(h));
        in = internal_of(h);
        if (!in->cgroup)
                return mh_ssh_exec(h->ssh, command, options, ret, error);

        if (options)
                o = *options;
        r = kill_ended_test(h, &prelude);
        if (r >= 0)
                r = join_cgroup(h, "test", true, &prelude);
        if (r < 0) {
                mh_buf_dispose(&prelude);
                return mh_error_oom(error);
        }
        o.prelude = prelude.data;
        in->test_used = true;
        r = mh_ssh_exec(h->ssh, command, &o, ret, error);
        mh_buf_dispose(&prelude);
        /* It ran its prelude: what the last test left is gone, and the
         * commands from now on must not end this test's processes. */
        if (r >= 0 && in->test_ended) {
                in->test_ended = false;
                (void) contain_run(h, NULL);
        }
        return r;
}

int mh_host_end_test(mh_host *h, mh_error *error) {
        internal *in;

        if (!h)
                return mh_error_set(error, -EINVAL, "mh_host_end_test: invalid argument");
        in = internal_of(h);
        if (!in->test_used)
                return 0;
        /* The next command on the host ends them: the restore's, usually. */
        in->test_ended = true;
        in->test_used = false;
        return h->ssh ? contain_run(h, error) : 0;
}
