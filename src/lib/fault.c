/* SPDX-License-Identifier: MIT */
/*
 * Faults on a host (<mhc/fault.h>).  The host does the work with
 * fault.sh (embedded from src/lib/fault.sh), which every start saves as
 * RUN/faults/fault.sh: the heals that run without the runner (the dead
 * man's timers, the run's unit as its lease goes, a later run's recovery)
 * use that copy.  The runner heals what a test started when the test
 * ends and again before the host's restore (which fails if one stays), a
 * round trip that only tests with faults pay.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mhc/fault.h>
#include <mhc/shell.h>
#include <mhc/strv.h>

#include "fault-script.h"
#include "host.h"
#include "util.h"

static const char *const kind_names[] = {
        [MH_FAULT_PARTITION] = "partition", [MH_FAULT_LOSS] = "loss", [MH_FAULT_RATE] = "rate",
        [MH_FAULT_PAUSE] = "pause",         [MH_FAULT_FILL] = "fill",
        [MH_FAULT_RESTART_LOOP] = "restart-loop", [MH_FAULT_CLOCK] = "clock",
        [MH_FAULT_LINK] = "link",           [MH_FAULT_CLOCK_STEP] = "clock-step",
};

static const char *const direction_names[] = {
        [MH_FAULT_BOTH_WAYS] = "both",
        [MH_FAULT_OUTGOING] = "out",
        [MH_FAULT_INCOMING] = "in",
};

const char *mh_fault_kind_to_string(mh_fault_kind kind) {
        return (unsigned) kind < ELEMENTSOF(kind_names) ? kind_names[kind] : "unknown";
}

static bool is_network(mh_fault_kind kind) {
        return kind == MH_FAULT_PARTITION || kind == MH_FAULT_LOSS || kind == MH_FAULT_RATE ||
               kind == MH_FAULT_LINK;
}

/* A share of the packets, 0..100. */
static int check_percent(const char *what, unsigned percent, mh_error *e) {
        if (percent > 100)
                return mh_error_set(e, -EINVAL, "link: %s of %u%% is not within 0..100", what,
                                    percent);
        return 0;
}

static int check_link(const mh_fault *f, mh_error *e) {
        int r;

        if (f->direction == MH_FAULT_INCOMING)
                return mh_error_set(e, -EINVAL,
                                    "link: works on what the host sends, not on what it receives "
                                    "(start it on the peer)");
        if ((r = check_percent("a loss", f->percent, e)) < 0 ||
            (r = check_percent("duplicates", f->duplicate_percent, e)) < 0 ||
            (r = check_percent("reordering", f->reorder_percent, e)) < 0)
                return r;
        if (f->delay_msec == 0 && f->percent == 0 && f->duplicate_percent == 0 &&
            f->reorder_percent == 0 && f->bytes_per_sec == 0)
                return mh_error_set(e, -EINVAL, "link: no delay, loss, duplicates, reordering or rate");
        if (f->jitter_msec > f->delay_msec)
                return mh_error_set(e, -EINVAL, "link: a jitter of %u ms over the delay of %u ms",
                                    f->jitter_msec, f->delay_msec);
        if (f->reorder_percent > 0 && f->delay_msec == 0)
                return mh_error_set(e, -EINVAL, "link: reordering needs a delay");
        if (f->delay_msec > 60000)
                return mh_error_set(e, -EINVAL, "link: a delay of %u ms (at most 60000)",
                                    f->delay_msec);
        return 0;
}

/* A unit's name as systemd allows it (it goes into a path on the host). */
static bool is_unit_name(const char *s) {
        size_t n = s ? strlen(s) : 0;

        if (n == 0 || n > 255 || !strchr(s, '.') || s[0] == '.' || s[0] == '-')
                return false;
        return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_.\\@-") ==
               n;
}

static int check_fault(const mh_fault *f, mh_error *e) {
        if (!f || (unsigned) f->kind >= ELEMENTSOF(kind_names))
                return mh_error_set(e, -EINVAL, "unknown kind of fault");
        if (is_network(f->kind)) {
                if ((unsigned) f->direction >= ELEMENTSOF(direction_names))
                        return mh_error_set(e, -EINVAL, "%s: unknown direction",
                                            kind_names[f->kind]);
                if (!f->peers || !f->peers[0])
                        return mh_error_set(e, -EINVAL, "%s: no peers", kind_names[f->kind]);
                for (size_t i = 0; f->peers[i]; i++)
                        if (!*f->peers[i])
                                return mh_error_set(e, -EINVAL, "%s: an empty peer",
                                                    kind_names[f->kind]);
        }
        if ((f->kind == MH_FAULT_PAUSE || f->kind == MH_FAULT_RESTART_LOOP ||
             f->kind == MH_FAULT_CLOCK) &&
            f->unit && *f->unit && !is_unit_name(f->unit))
                return mh_error_set(e, -EINVAL, "%s: '%s' is not a unit's name",
                                    kind_names[f->kind], f->unit);
        switch (f->kind) {
        case MH_FAULT_LOSS:
                if (f->percent < 1 || f->percent > 100)
                        return mh_error_set(e, -EINVAL, "loss: %u%% is not within 1..100",
                                            f->percent);
                break;
        case MH_FAULT_RATE:
                if (f->bytes_per_sec == 0)
                        return mh_error_set(e, -EINVAL, "rate: 0 bytes per second");
                break;
        case MH_FAULT_PAUSE:
                if (!f->unit || !*f->unit)
                        return mh_error_set(e, -EINVAL, "pause: no unit");
                break;
        case MH_FAULT_RESTART_LOOP:
                if (!f->unit || !*f->unit)
                        return mh_error_set(e, -EINVAL, "restart-loop: no unit");
                if (f->interval_msec < 100)
                        return mh_error_set(e, -EINVAL,
                                            "restart-loop: an interval of %u ms (at least 100)",
                                            f->interval_msec);
                break;
        case MH_FAULT_CLOCK:
                if (!f->unit || !*f->unit)
                        return mh_error_set(e, -EINVAL, "clock: no unit");
                /* it goes into a unit file, in double quotes */
                if (!f->faketime || !*f->faketime || strlen(f->faketime) > 64 ||
                    strpbrk(f->faketime, "\"\\%\n\r\t'$`"))
                        return mh_error_set(e, -EINVAL,
                                            "clock: '%s' is not a FAKETIME of libfaketime "
                                            "(\"+3600\", \"-1d\", \"+0 x2\")",
                                            strempty(f->faketime));
                break;
        case MH_FAULT_FILL:
                if (!f->path || f->path[0] != '/')
                        return mh_error_set(e, -EINVAL, "fill: '%s' is not an absolute path",
                                            strempty(f->path));
                break;
        case MH_FAULT_LINK:
                return check_link(f, e);
        case MH_FAULT_CLOCK_STEP:
                /* a year either way: enough for certificates and tickets */
                if (f->step_sec == 0 || f->step_sec > 366 * 86400 || f->step_sec < -366 * 86400)
                        return mh_error_set(e, -EINVAL,
                                            "clock-step: %" PRId64 " s is not within +-1 year "
                                            "and not 0",
                                            f->step_sec);
                break;
        case MH_FAULT_PARTITION:
                break;
        }
        return 0;
}

/* " (delay 100+-20 ms, loss 5%, ...)" */
static int describe_link(const mh_fault *f, mh_buf *b) {
        const char *sep = " (";
        int r = 0;

        if (f->delay_msec > 0) {
                r = mh_buf_printf(b, "%sdelay %u", sep, f->delay_msec);
                if (r >= 0 && f->jitter_msec > 0)
                        r = mh_buf_printf(b, "+-%u", f->jitter_msec);
                if (r >= 0)
                        r = mh_buf_printf(b, " ms");
                sep = ", ";
        }
        if (r >= 0 && f->percent > 0) {
                r = mh_buf_printf(b, "%sloss %u%%", sep, f->percent);
                sep = ", ";
        }
        if (r >= 0 && f->duplicate_percent > 0) {
                r = mh_buf_printf(b, "%sduplicates %u%%", sep, f->duplicate_percent);
                sep = ", ";
        }
        if (r >= 0 && f->reorder_percent > 0) {
                r = mh_buf_printf(b, "%sreordering %u%%", sep, f->reorder_percent);
                sep = ", ";
        }
        if (r >= 0 && f->bytes_per_sec > 0)
                r = mh_buf_printf(b, "%srate %" PRIu64 " bytes/s", sep, f->bytes_per_sec);
        if (r >= 0)
                r = mh_buf_printf(b, ")");
        return r;
}

int mh_fault_describe(const mh_fault *f, char **ret, mh_error *error) {
        static const char *const ways[] = { "both ways", "outgoing", "incoming" };
        mh_buf b = MH_BUF_INIT(4096);
        int r;

        r = check_fault(f, error);
        if (r < 0)
                return r;
        r = mh_buf_printf(&b, "%s", kind_names[f->kind]);
        if (r >= 0 && f->kind == MH_FAULT_LOSS)
                r = mh_buf_printf(&b, " of %u%%", f->percent);
        if (r >= 0 && f->kind == MH_FAULT_RATE)
                r = mh_buf_printf(&b, " of %" PRIu64 " bytes/s", f->bytes_per_sec);
        if (r >= 0 && f->kind == MH_FAULT_LINK)
                r = describe_link(f, &b);
        if (r >= 0 && f->kind == MH_FAULT_CLOCK_STEP)
                r = mh_buf_printf(&b, " of %+" PRId64 " s", f->step_sec);
        if (r >= 0 && f->kind == MH_FAULT_LINK)
                r = mh_buf_printf(&b, " to");
        else if (r >= 0 && is_network(f->kind))
                r = mh_buf_printf(&b, " (%s%s) with", ways[f->direction],
                                  f->kind == MH_FAULT_PARTITION ? (f->reject ? ", reject" : ", drop")
                                                                : "");
        for (size_t i = 0; r >= 0 && is_network(f->kind) && f->peers[i]; i++)
                r = mh_buf_printf(&b, "%s %s", i ? "," : "", f->peers[i]);
        if (r >= 0 && (f->kind == MH_FAULT_PAUSE || f->kind == MH_FAULT_RESTART_LOOP ||
                       f->kind == MH_FAULT_CLOCK))
                r = mh_buf_printf(&b, " of unit %s", f->unit);
        if (r >= 0 && f->kind == MH_FAULT_RESTART_LOOP)
                r = mh_buf_printf(&b, " every %u ms", f->interval_msec);
        if (r >= 0 && f->kind == MH_FAULT_CLOCK)
                r = mh_buf_printf(&b, " (FAKETIME=%s)", f->faketime);
        if (r >= 0 && f->kind == MH_FAULT_FILL)
                r = mh_buf_printf(&b, " of the filesystem of %s", f->path);
        if (r < 0) {
                mh_buf_dispose(&b);
                return mh_error_oom(error);
        }
        *ret = mh_buf_steal(&b, NULL);
        return 0;
}

/* fault.sh's arguments after "start RUN N AFTER". */
static int script_args(const mh_fault *f, mh_strv *v) {
        char number[32];
        int r;

        r = mh_strv_consume(v, strdup(kind_names[f->kind]));
        if (r >= 0 && is_network(f->kind) && f->kind != MH_FAULT_LINK)
                r = mh_strv_consume(v, strdup(direction_names[f->direction]));
        switch (f->kind) {
        case MH_FAULT_LINK: {
                const unsigned params[] = { f->delay_msec, f->jitter_msec, f->percent,
                                            f->duplicate_percent, f->reorder_percent };

                for (size_t i = 0; r >= 0 && i < ELEMENTSOF(params); i++) {
                        snprintf(number, sizeof(number), "%u", params[i]);
                        r = mh_strv_consume(v, strdup(number));
                }
                snprintf(number, sizeof(number), "%" PRIu64, f->bytes_per_sec);
                if (r >= 0)
                        r = mh_strv_consume(v, strdup(number));
                break;
        }
        case MH_FAULT_CLOCK_STEP:
                snprintf(number, sizeof(number), "%" PRId64, f->step_sec);
                if (r >= 0)
                        r = mh_strv_consume(v, strdup(number));
                break;
        case MH_FAULT_PARTITION:
                if (r >= 0)
                        r = mh_strv_consume(v, strdup(f->reject ? "reject" : "drop"));
                break;
        case MH_FAULT_LOSS:
                snprintf(number, sizeof(number), "%u", f->percent);
                if (r >= 0)
                        r = mh_strv_consume(v, strdup(number));
                break;
        case MH_FAULT_RATE:
                snprintf(number, sizeof(number), "%" PRIu64, f->bytes_per_sec);
                if (r >= 0)
                        r = mh_strv_consume(v, strdup(number));
                break;
        case MH_FAULT_PAUSE:
                if (r >= 0)
                        r = mh_strv_consume(v, strdup(f->unit));
                break;
        case MH_FAULT_RESTART_LOOP:
                snprintf(number, sizeof(number), "%u", f->interval_msec);
                if (r >= 0)
                        r = mh_strv_consume(v, strdup(f->unit));
                if (r >= 0)
                        r = mh_strv_consume(v, strdup(number));
                break;
        case MH_FAULT_CLOCK:
                if (r >= 0)
                        r = mh_strv_consume(v, strdup(f->unit));
                if (r >= 0)
                        r = mh_strv_consume(v, strdup(f->faketime));
                break;
        case MH_FAULT_FILL:
                snprintf(number, sizeof(number), "%" PRIu64,
                         f->max_fs_bytes ?: MH_FAULT_FILL_MAX_DEFAULT);
                if (r >= 0)
                        r = mh_strv_consume(v, strdup(f->path));
                if (r >= 0)
                        r = mh_strv_consume(v, strdup(number));
                break;
        }
        for (size_t i = 0; r >= 0 && is_network(f->kind) && f->peers[i]; i++)
                r = mh_strv_consume(v, strdup(f->peers[i]));
        return r;
}

/* The host's last word on stderr, without fault.sh's "mhc: ". */
static const char *why(const mh_exec_result *res, char *buf, size_t size) {
        const char *s = mh_exec_result_summary(res, buf, size), *colon = strstr(s, ": mhc: ");

        return colon ? colon + strlen(": mhc: ") : s;
}

/* Run fault.sh MODE ARG... on h as the test's command; *ret_failed says why it failed. */
static int run_script(mh_host *h, const char *mode, const mh_strv *args, bool install,
                      char *ret_failed, size_t size, mh_error *e) {
        _cleanup_free_ char *dir = NULL, *script = NULL, *joined = NULL, *command = NULL;
        _cleanup_free_ const char **argv = NULL;
        mh_exec_options o = {};
        mh_exec_result res = {};
        size_t n = 0;
        int r;

        if (asprintf(&dir, "%s/faults", h->run_dir) < 0) {
                dir = NULL;
                return mh_error_oom(e);
        }
        if (asprintf(&script, "%s/fault.sh", dir) < 0) {
                script = NULL;
                return mh_error_oom(e);
        }
        /* sh SCRIPT MODE RUN ARG... NULL, borrowed: mh_shell_join() quotes each */
        argv = calloc(args->n + 5, sizeof(*argv));
        if (!argv)
                return mh_error_oom(e);
        argv[n++] = "sh";
        argv[n++] = script;
        argv[n++] = mode;
        argv[n++] = h->run_dir;
        for (size_t i = 0; i < args->n; i++)
                argv[n++] = args->items[i];
        if (mh_shell_join(argv, &joined) < 0)
                return mh_error_oom(e);
        if (install) {
                _cleanup_free_ char *qdir = NULL;

                if (mh_shell_quote(dir, &qdir) < 0)
                        return mh_error_oom(e);
                if (asprintf(&command,
                             "umask 077 && mkdir -p %1$s && cat >%1$s/fault.sh.new && "
                             "mv -f %1$s/fault.sh.new %1$s/fault.sh && exec %2$s",
                             qdir, joined) < 0) {
                        command = NULL;
                        return mh_error_oom(e);
                }
                o.input = fault_script;
                o.input_size = strlen(fault_script);
        }
        r = mh_host_exec(h, command ?: joined, &o, &res, e);
        if (r < 0)
                return r;
        r = res.exit_status == 0 ? 0 : -MH_ERR_COMMAND;
        if (r < 0) {
                char buf[MH_EXEC_SUMMARY_SIZE];

                snprintf(ret_failed, size, "%s", why(&res, buf, sizeof(buf)));
        }
        mh_exec_result_dispose(&res);
        return r;
}

static int need_run(mh_host *h, const char *what, mh_error *e) {
        if (!h)
                return mh_error_set(e, -EINVAL, "%s: invalid argument", what);
        if (!h->ssh || !h->run_dir)
                return mh_error_set(e, -ENOTCONN, "host '%s' is not connected", mh_host_name(h));
        return 0;
}

int mh_host_start_fault(mh_host *h, const mh_fault *f, unsigned heal_after_sec, unsigned *ret_n,
                        mh_error *error) {
        char failed[MH_EXEC_SUMMARY_SIZE], number[16], after[16];
        _cleanup_free_ char *what = NULL;
        mh_strv args = {};
        unsigned n;
        int r;

        r = need_run(h, "mh_host_start_fault", error);
        if (r < 0)
                return r;
        r = mh_fault_describe(f, &what, error);
        if (r < 0) {
                mh_error_prefix(error, "host '%s'", mh_host_name(h));
                return r;
        }
        n = ++internal_of(h)->n_faults;
        snprintf(number, sizeof(number), "%u", n);
        snprintf(after, sizeof(after), "%u", heal_after_sec ?: 1);
        r = mh_strv_consume(&args, strdup(number));
        if (r >= 0)
                r = mh_strv_consume(&args, strdup(after));
        if (r >= 0)
                r = script_args(f, &args);
        if (r < 0) {
                mh_strv_dispose(&args);
                return mh_error_oom(error);
        }
        internal_of(h)->faults_pending = true; /* even a failed start may leave some */
        r = run_script(h, "start", &args, true, failed, sizeof(failed), error);
        mh_strv_dispose(&args);
        if (r == -MH_ERR_COMMAND)
                return mh_error_set(error, r, "host '%s': cannot start the %s: %s",
                                    mh_host_name(h), what, failed);
        if (r < 0)
                return r;
        if (ret_n)
                *ret_n = n;
        return 0;
}

int mh_host_heal_fault(mh_host *h, unsigned n, mh_error *error) {
        char failed[MH_EXEC_SUMMARY_SIZE], number[16];
        mh_strv args = {};
        int r;

        r = need_run(h, "mh_host_heal_fault", error);
        if (r < 0)
                return r;
        if (n == 0 || n > internal_of(h)->n_faults)
                return mh_error_set(error, -ENOENT, "host '%s' has no fault %u", mh_host_name(h),
                                    n);
        snprintf(number, sizeof(number), "%u", n);
        if (mh_strv_consume(&args, strdup(number)) < 0)
                return mh_error_oom(error);
        r = run_script(h, "heal", &args, false, failed, sizeof(failed), error);
        mh_strv_dispose(&args);
        if (r == -MH_ERR_COMMAND)
                return mh_error_set(error, r, "host '%s': %s", mh_host_name(h), failed);
        return r;
}

/* "[ ! -e RUN/faults/fault.sh ] || sh RUN/faults/fault.sh heal-all RUN" */
static int heal_all_command(const char *run_dir, mh_buf *out) {
        _cleanup_free_ char *q = NULL;

        if (mh_shell_quote(run_dir, &q) < 0)
                return -ENOMEM;
        return mh_buf_printf(out, "{ [ ! -e %1$s/faults/fault.sh ] || sh %1$s/faults/fault.sh "
                                  "heal-all %1$s; }",
                             q);
}

int mh_host_heal_faults(mh_host *h, mh_error *error) {
        mh_buf b = MH_BUF_INIT(8192);
        mh_exec_result res = {};
        int r;

        r = need_run(h, "mh_host_heal_faults", error);
        if (r < 0)
                return r;
        if (heal_all_command(h->run_dir, &b) < 0) {
                mh_buf_dispose(&b);
                return mh_error_oom(error);
        }
        r = mh_ssh_exec(h->ssh, b.data, NULL, &res, error);
        mh_buf_dispose(&b);
        if (r < 0)
                return r;
        if (res.exit_status != 0) {
                char buf[MH_EXEC_SUMMARY_SIZE];

                r = mh_error_set(error, -MH_ERR_COMMAND, "host '%s': %s", mh_host_name(h),
                                 why(&res, buf, sizeof(buf)));
        } else
                internal_of(h)->faults_pending = false;
        mh_exec_result_dispose(&res);
        return r;
}

int mh_host_heal_command(const char *run_dir, mh_buf *out) {
        int r = heal_all_command(run_dir, out);

        if (r >= 0)
                r = mh_buf_printf(out, " || exit 125\n");
        return r;
}
