/* SPDX-License-Identifier: MIT */
/*
 * restore: what the change-aware restore of mhc's host types saves, measured
 * in one run against the lab's hosts and printed as medians and ratios:
 *
 *   - systemd host (server), ~200 MB of files: restore after no change and
 *     after one changed file, against a full restore (options.full);
 *   - postgresql host (db), a ~200 MB database: restore after a read-only
 *     test and after one changed row, against a pg_dump/psql round trip;
 *   - every lab host at once: mh_hosts_restore() against one host alone and
 *     against restoring them one after the other.
 *
 * It makes its files, unit and database on the hosts and removes them at
 * the end, also after SIGINT or SIGTERM (a second one ends it at once).
 * Run it inside the lab:
 *
 *     tests/lab/exec tests/bench/restore [--skip-db] [--skip-parallel]
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mhc/mhc.h>

#include "../integration/lab.h"
#include "bench.h"

#define COMMAND_TIMEOUT 900 /* s: a full restore or a dump of 200 MB on a busy machine */
#define MAX_RUNS        20
#define NONE_RUNS       20 /* no-change restores, each beside a bare round trip and a walk */
#define MAX_HOSTS       64
#define MIB             (1024.0 * 1024.0)
#define CPU_MIN_TICKS   20 /* fewer in a figure: no CPU share shown */

#define FILES_DIR      "/srv/mhc-bench"
#define FILES_UNIT     "mhc-bench.service"
#define FILES_UNIT_DIR "/run/systemd/system"
#define FILES_PER_DIR  100
#define FILES_BACKUP   "bench-files"

#define DB_NAME      "mhc_bench"
#define DB_SERVICE   "postgresql@15-main.service"
#define DB_PASSWORD  LAB_STATE "/pg-password"
#define DB_ROWS      "800000"
#define DB_MIN_BYTES (200ULL << 20)
#define DB_DUMP      "/tmp/mhc-bench.sql"
#define DB_BACKUP    "bench-db"

#define PAR_DIR    "/etc/mhc-bench"
#define PAR_FILES  "200"
#define PAR_BACKUP "bench-parallel"

/* One timed thing: its samples in msec, the machine's CPU time while they
 * ran and, for restores, how many of the host restores found nothing to
 * restore (from the library's debug log). */
typedef struct figure {
        const char *what;
        double samples[MAX_RUNS];
        size_t n;
        unsigned long long cpu_busy, cpu_total; /* clock ticks of all CPUs */
        unsigned long long host_usec;           /* CPU time of the lab's hosts */
        unsigned unchanged;
        unsigned restores; /* 0: not a restore */
} figure;

/* A sample being timed. */
typedef struct stopwatch {
        double start;
        unsigned long long busy, total, host_usec;
} stopwatch;

typedef struct bench {
        unsigned n_files;
        unsigned mb;

        size_t files_count;
        unsigned long long files_bytes;
        figure files_backup, files_bare, files_walk, files_none, files_one, files_full;

        bool db_ran;
        unsigned long long db_bytes;
        figure db_backup, db_read, db_row, db_dump, db_reload, db_naive;

        bool parallel_ran;
        size_t n_hosts;
        char host_list[MAX_HOSTS * 16];
        figure par_backup, par_one, par_all, par_seq, par_one_clean, par_all_clean;
} bench;

/* The log line that says a restore found nothing to restore, by kind of host. */
typedef enum skip_kind {
        SKIP_FILES, /* systemd: "..., nothing changed" */
        SKIP_DB,    /* postgresql: "databases unchanged, skipped" */
} skip_kind;

static bench_log said = { .lock = PTHREAD_MUTEX_INITIALIZER, .program = "restore" };

static volatile sig_atomic_t interrupted;

static void on_signal(int sig) {
        if (interrupted) {
                signal(sig, SIG_DFL);
                raise(sig);
                return;
        }
        interrupted = sig;
}

static unsigned said_unchanged(skip_kind kind) {
        unsigned files, db;

        bench_log_unchanged(&said, &files, &db);
        return kind == SKIP_FILES ? files : db;
}

static double median_of(figure *f) {
        return f->n > 0 ? quantile(f->samples, f->n, 0.5) : 0;
}

/* The machine's CPU ticks so far, busy and all, from /proc/stat (the lab's
 * hosts are containers on it, so their work counts too). */
static void cpu_ticks(unsigned long long *ret_busy, unsigned long long *ret_total) {
        unsigned long long v[8] = {}, total = 0;
        FILE *f = fopen("/proc/stat", "re");
        int n = 0;

        if (f) {
                n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                           &v[3], &v[4], &v[5], &v[6], &v[7]);
                fclose(f);
        }
        if (n != 8) {
                *ret_busy = *ret_total = 0;
                return;
        }
        for (size_t i = 0; i < 8; i++)
                total += v[i];
        *ret_total = total;
        *ret_busy = total - v[3] - v[4]; /* less idle and iowait */
}

/* Whether the process pid runs in a lab host: its cgroup (any hierarchy)
 * is under /mhc-lab/NAME, as tests/lab/up puts each host. */
static bool in_lab_host(const char *pid) {
        char path[300], line[512];
        bool found = false;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%s/cgroup", pid);
        f = fopen(path, "re");
        while (f && !found && fgets(line, sizeof(line), f))
                found = strstr(line, ":/mhc-lab/") != NULL;
        if (f)
                fclose(f);
        return found;
}

/*
 * The CPU time the lab's hosts have spent so far, in usec: of each process
 * in them, its own and that of its children it has waited for (so that
 * what ended since the last look counts, in its parent).  The resolution
 * is the kernel's clock tick; summed over samples, it evens out.
 */
static unsigned long long hosts_cpu_usec(void) {
        static long tick;
        unsigned long long sum = 0;
        struct dirent *d;
        DIR *proc = opendir("/proc");

        if (!tick)
                tick = sysconf(_SC_CLK_TCK);
        while (proc && (d = readdir(proc))) {
                unsigned long long utime, stime, cutime, cstime;
                char path[300], text[1024], *close_paren;
                FILE *f;

                if (d->d_name[0] < '0' || d->d_name[0] > '9' || !in_lab_host(d->d_name))
                        continue;
                snprintf(path, sizeof(path), "/proc/%s/stat", d->d_name);
                f = fopen(path, "re");
                if (!f)
                        continue;
                close_paren = fgets(text, sizeof(text), f) ? strrchr(text, ')') : NULL;
                fclose(f);
                /* after "pid (comm)": state and 10 fields, then the four times */
                if (close_paren && sscanf(close_paren + 2,
                                          "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
                                          "%llu %llu %llu %llu",
                                          &utime, &stime, &cutime, &cstime) == 4)
                        sum += (utime + stime + cutime + cstime) * 1000000ULL /
                               (unsigned long long) tick;
        }
        if (proc)
                closedir(proc);
        return sum;
}

static void stopwatch_start(stopwatch *w) {
        cpu_ticks(&w->busy, &w->total);
        w->host_usec = hosts_cpu_usec();
        w->start = now_msec();
}

/* Add the time since stopwatch_start() as a sample of f. */
static void stopwatch_stop(const stopwatch *w, figure *f) {
        double msec = now_msec() - w->start;
        unsigned long long busy, total;

        cpu_ticks(&busy, &total);
        f->host_usec += hosts_cpu_usec() - w->host_usec;
        assert(f->n < MAX_RUNS);
        f->samples[f->n++] = msec;
        f->cpu_busy += busy - w->busy;
        f->cpu_total += total - w->total;
}

/* The short name of a lab host ("server" of "server.lab.test"), for messages. */
static const char *short_name(mh_host *h, char *buf, size_t size) {
        snprintf(buf, size, "%s", mh_host_name(h));
        buf[strcspn(buf, ".")] = '\0';
        return buf;
}

static int fail(mh_host *h, const char *what, const mh_error *e, int r) {
        char name[64];

        fprintf(stderr, "restore: %s: %s: %s\n", h ? short_name(h, name, sizeof(name)) : "-", what,
                mh_error_message(e, r));
        return r;
}

/* Run command on h through its SSH session; fails unless it exits with 0.
 * ret_out (may be NULL) gets its stdout, the caller's to free(). */
static int remote(mh_host *h, const char *command, char **ret_out) {
        mh_exec_result res = {};
        mh_error e = MH_ERROR_INIT;
        char name[64];
        int r;

        r = mh_ssh_exec(mh_host_ssh(h), command, NULL, &res, &e);
        if (r < 0)
                return fail(h, "remote command", &e, r);
        if (res.exit_status != 0) {
                char why[MH_EXEC_SUMMARY_SIZE];

                fprintf(stderr, "restore: %s: '%.60s%s' failed with %s\n",
                        short_name(h, name, sizeof(name)), command,
                        strlen(command) > 60 ? "..." : "",
                        mh_exec_result_summary(&res, why, sizeof(why)));
                mh_exec_result_dispose(&res);
                return -EIO;
        }
        if (ret_out) {
                *ret_out = res.out;
                res.out = NULL;
        }
        mh_exec_result_dispose(&res);
        return 0;
}

static int remotef(mh_host *h, char **ret_out, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static int remotef(mh_host *h, char **ret_out, const char *fmt, ...) {
        char *command = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&command, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        r = remote(h, command, ret_out);
        free(command);
        return r;
}

typedef struct on_all {
        mh_host **hosts;
        const char *command;
} on_all;

static int remote_one(size_t i, void *userdata) {
        const on_all *a = userdata;

        return remote(a->hosts[i], a->command, NULL);
}

/* Run command on every host in parallel. */
static int remote_all(mh_host **hosts, size_t n, const char *command) {
        return mh_parallel_for(n, remote_one, &(on_all){ .hosts = hosts, .command = command });
}

static int sql(mh_host *h, const char *database, const char *statement) {
        mh_error e = MH_ERROR_INIT;
        int r = mh_sql_exec(h, database, statement, &e);

        return r < 0 ? fail(h, "SQL", &e, r) : 0;
}

/* The first value of a query, as an unsigned number. */
static int sql_number(mh_host *h, const char *database, const char *query,
                      unsigned long long *ret) {
        mh_error e = MH_ERROR_INIT;
        mh_sql_result *res = NULL;
        const char *v;
        int r;

        r = mh_sql_query(h, database, query, &res, &e);
        if (r < 0)
                return fail(h, "SQL", &e, r);
        v = mh_sql_result_value(res, 0, 0);
        if (v)
                *ret = strtoull(v, NULL, 10);
        else
                fprintf(stderr, "restore: '%s' returned no value\n", query);
        mh_sql_result_free(res);
        return v ? 0 : -EBADMSG;
}

/* The (unconnected) host of lab host name at address (NULL: the lab's)
 * with more YAML at the host's indentation, and its configuration. */
static int host_make(const char *name, const char *address, const char *extra,
                     mh_config **ret_config, mh_host **ret_host) {
        const lab_conn conn = { .address = address, .command_timeout = COMMAND_TIMEOUT };
        mh_error e = MH_ERROR_INIT;
        mh_config *config = NULL;
        mh_host *h = NULL;
        char *yaml;
        int r;

        yaml = lab_config_yaml(1, &name, &conn);
        lab_append(&yaml, "%s", extra);
        if (!yaml) {
                fprintf(stderr, "restore: no lab address of '%s' (or out of memory)\n", name);
                return -ENOMEM;
        }
        r = mh_config_parse(yaml, strlen(yaml), "restore.yaml", "/", &config, &e);
        free(yaml);
        if (r < 0)
                return fail(NULL, name, &e, r);
        r = mh_host_new(mh_config_host(config, 0), &h, &e);
        if (r < 0) {
                mh_config_free(config);
                return fail(NULL, name, &e, r);
        }
        *ret_config = config;
        *ret_host = h;
        return 0;
}

/* Print each host's failure in errors[0..n), or r when none says more. */
static void print_errors(mh_host **hosts, size_t n, const mh_error *errors, const char *what,
                         int r) {
        bool any = false;

        for (size_t i = 0; i < n; i++)
                if (errors[i].code < 0) {
                        (void) fail(hosts[i], what, &errors[i], errors[i].code);
                        any = true;
                }
        if (!any)
                (void) fail(n == 1 ? hosts[0] : NULL, what, NULL, r);
}

/* Time one backup of hosts[0..n) (mh_hosts_backup() for more than one). */
static int time_backup(figure *f, mh_host **hosts, size_t n, const char *backup) {
        mh_error *errors = calloc(n, sizeof(mh_error));
        stopwatch w;
        int r;

        if (!errors)
                return -ENOMEM;
        stopwatch_start(&w);
        r = n == 1 ? mh_host_backup(hosts[0], backup, errors)
                   : mh_hosts_backup(hosts, n, backup, errors);
        if (r >= 0)
                stopwatch_stop(&w, f);
        else
                print_errors(hosts, n, errors, "backup", r);
        free(errors);
        return r;
}

/* Time one restore of hosts[0..n): mh_hosts_restore() when parallel, else
 * one mh_host_restore() after the other. */
static int time_restore(figure *f, mh_host **hosts, size_t n, bool parallel, const char *backup,
                        const mh_restore_options *options, skip_kind kind) {
        mh_error *errors = calloc(n, sizeof(mh_error));
        unsigned before;
        stopwatch w;
        int r = 0;

        if (!errors)
                return -ENOMEM;
        before = said_unchanged(kind);
        stopwatch_start(&w);
        if (parallel)
                r = mh_hosts_restore(hosts, n, backup, options, errors);
        else
                for (size_t i = 0; i < n && r >= 0; i++)
                        r = mh_host_restore(hosts[i], backup, options, &errors[i]);
        if (r >= 0) {
                stopwatch_stop(&w, f);
                f->unchanged += said_unchanged(kind) - before;
                f->restores += (unsigned) n;
        } else
                print_errors(hosts, n, errors, "restore", r);
        free(errors);
        return r;
}

/* Time command on h's own session; it must print nothing. */
static int time_command(figure *f, mh_host *h, const char *command) {
        char *out = NULL;
        stopwatch w;
        int r;

        stopwatch_start(&w);
        r = remote(h, command, &out);
        if (r >= 0)
                stopwatch_stop(&w, f);
        if (r >= 0 && out && *out) {
                fprintf(stderr, "restore: '%s' printed '%.80s'\n", command, out);
                r = -EBADMSG;
        }
        free(out);
        return r;
}

/* Drop backup from h if it holds it; for the clean-up. */
static void drop_backup(mh_host *h, const char *backup) {
        mh_error e = MH_ERROR_INIT;
        int r;

        if (!mh_host_has_backup(h, backup))
                return;
        r = mh_host_drop_backup(h, backup, &e);
        if (r < 0)
                (void) fail(h, "drop backup", &e, r);
}

/* --- 1. systemd host: many files -------------------------------------------- */

static int bench_files(bench *b) {
        static const char unit[] = "[Unit]\nDescription=mhc restore benchmark\n\n"
                                   "[Service]\nExecStart=/bin/sleep infinity\n";
        const mh_restore_options full = { .full = 1 };
        unsigned long file_size = (unsigned long) ((double) b->mb * MIB / b->n_files);
        mh_error e = MH_ERROR_INIT;
        mh_config *config = NULL;
        mh_host *h = NULL;
        bool made = false;
        char *out = NULL;
        double t0;
        int r, k;

        fprintf(stderr, "restore: systemd host 'server': making %u files of %lu bytes in %s\n",
                b->n_files, file_size, FILES_DIR);
        r = host_make("server", NULL,
                      "        type: systemd\n"
                      "        services: [" FILES_UNIT "]\n"
                      "        backup:\n"
                      "          paths: ['" FILES_DIR "']\n",
                      &config, &h);
        if (r < 0)
                return r;
        r = mh_host_connect(h, &e);
        if (r < 0) {
                (void) fail(h, "connect", &e, r);
                goto out;
        }

        made = true;
        r = mh_ssh_write_file(mh_host_ssh(h), FILES_UNIT_DIR "/" FILES_UNIT, unit, sizeof(unit) - 1,
                              0644, &e);
        if (r < 0) {
                (void) fail(h, "write the unit", &e, r);
                goto out;
        }
        r = remote(h, "systemctl daemon-reload && systemctl restart " FILES_UNIT, NULL);
        if (r < 0)
                goto out;

        /* FILES_PER_DIR files a directory, each a slice of one stream of random bytes */
        t0 = now_msec();
        r = remotef(h, &out,
                    "set -e; rm -rf %1$s; mkdir %1$s; cd %1$s; n=%2$u; d=0; "
                    "while [ $n -gt 0 ]; do k=$((n < %3$u ? n : %3$u)); mkdir d$d; "
                    "head -c $((k * %4$lu)) /dev/urandom | split -a 3 -d -b %4$lu - d$d/f; "
                    "n=$((n - k)); d=$((d + 1)); done; "
                    "find . -type f -printf '%%s\\n' | awk '{ n++; s += $1 } END { print n, s }'",
                    FILES_DIR, b->n_files, FILES_PER_DIR, file_size);
        if (r < 0)
                goto out;
        if (sscanf(out, "%zu %llu", &b->files_count, &b->files_bytes) != 2) {
                fprintf(stderr, "restore: server: cannot count the files made: '%s'\n", out);
                r = -EBADMSG;
                goto out;
        }
        fprintf(stderr, "restore: server: %zu files, %.1f MiB, made in %.1f s\n", b->files_count,
                (double) b->files_bytes / MIB, (now_msec() - t0) / 1000.0);

        r = time_backup(&b->files_backup, &h, 1, FILES_BACKUP);
        /* Side by side: a bare round trip, the walk that a no-change restore
         * cannot avoid (one find over the same tree, nothing newer than a
         * stamp made now), and the restore. */
        if (r >= 0)
                r = remote(h, "touch /run/mhc-bench-stamp", NULL);
        for (unsigned i = 0; r >= 0 && !interrupted && i < NONE_RUNS; i++) {
                r = time_command(&b->files_bare, h, "true");
                if (r >= 0)
                        r = time_command(&b->files_walk, h,
                                         "find " FILES_DIR " -newercm /run/mhc-bench-stamp "
                                         "-print -quit");
                if (r >= 0)
                        r = time_restore(&b->files_none, &h, 1, false, FILES_BACKUP, NULL,
                                         SKIP_FILES);
        }
        for (unsigned i = 0; r >= 0 && !interrupted && i < 5; i++) {
                r = remote(h, "printf x >>" FILES_DIR "/d0/f000", NULL);
                if (r >= 0)
                        r = time_restore(&b->files_one, &h, 1, false, FILES_BACKUP, NULL,
                                         SKIP_FILES);
        }
        for (unsigned i = 0; r >= 0 && !interrupted && i < 3; i++)
                r = time_restore(&b->files_full, &h, 1, false, FILES_BACKUP, &full, SKIP_FILES);

out:
        if (made) {
                fprintf(stderr, "restore: server: cleaning up\n");
                drop_backup(h, FILES_BACKUP);
                k = remote(h,
                           "systemctl stop " FILES_UNIT " 2>/dev/null; "
                           "rm -f " FILES_UNIT_DIR "/" FILES_UNIT "; systemctl daemon-reload; "
                           "systemctl reset-failed " FILES_UNIT " 2>/dev/null; "
                           "rm -rf " FILES_DIR " /run/mhc-bench-stamp && ! test -e " FILES_UNIT_DIR
                           "/" FILES_UNIT,
                           NULL);
                if (k < 0 && r >= 0)
                        r = k;
        }
        free(out);
        mh_host_free(h);
        mh_config_free(config);
        return r;
}

/* --- 2. postgresql host: one large database ---------------------------------- */

static int bench_db(bench *b) {
        mh_error e = MH_ERROR_INIT;
        mh_config *config = NULL;
        mh_host *h = NULL;
        unsigned long long rows = 0;
        bool made = false;
        stopwatch w;
        double t0;
        int r, k;

        b->db_ran = true;
        fprintf(stderr, "restore: postgresql host 'db': making database %s (%s rows)\n", DB_NAME,
                DB_ROWS);
        r = host_make("db", NULL,
                      "        type: postgresql\n"
                      "        services: [" DB_SERVICE "]\n"
                      "        config:\n"
                      "          user: mhc\n"
                      "          password_file: '" DB_PASSWORD "'\n"
                      "          databases: [" DB_NAME "]\n",
                      &config, &h);
        if (r < 0)
                return r;
        r = mh_host_connect(h, &e);
        if (r < 0) {
                (void) fail(h, "connect", &e, r);
                goto out;
        }

        made = true;
        t0 = now_msec();
        r = sql(h, NULL, "DROP DATABASE IF EXISTS " DB_NAME " WITH (FORCE)");
        if (r >= 0)
                r = sql(h, NULL, "CREATE DATABASE " DB_NAME " OWNER mhc");
        if (r >= 0)
                r = sql(h, DB_NAME,
                        "CREATE TABLE t AS SELECT g, md5(g::text) || repeat('x', 200) AS v "
                        "FROM generate_series(1, " DB_ROWS ") g");
        /* nothing left for autovacuum to do while we measure */
        if (r >= 0)
                r = sql(h, DB_NAME, "VACUUM (FREEZE, ANALYZE) t");
        if (r >= 0)
                r = sql_number(h, NULL, "SELECT pg_database_size('" DB_NAME "')", &b->db_bytes);
        if (r < 0)
                goto out;
        fprintf(stderr, "restore: db: %s is %.1f MiB, made in %.1f s\n", DB_NAME,
                (double) b->db_bytes / MIB, (now_msec() - t0) / 1000.0);
        if (b->db_bytes < DB_MIN_BYTES)
                fprintf(stderr, "restore: db: warning: %s is smaller than %llu MiB\n", DB_NAME,
                        DB_MIN_BYTES >> 20);

        r = time_backup(&b->db_backup, &h, 1, DB_BACKUP);
        for (unsigned i = 0; r >= 0 && !interrupted && i < 3; i++) {
                r = sql_number(h, DB_NAME, "SELECT count(*) FROM t", &rows);
                if (r >= 0)
                        r = time_restore(&b->db_read, &h, 1, false, DB_BACKUP, NULL, SKIP_DB);
        }
        for (unsigned i = 0; r >= 0 && !interrupted && i < 3; i++) {
                r = sql(h, DB_NAME, "UPDATE t SET v = 'changed' WHERE g = 1");
                if (r >= 0)
                        r = time_restore(&b->db_row, &h, 1, false, DB_BACKUP, NULL, SKIP_DB);
        }

        /* the naive way, on the host: dump, then drop, create and load */
        if (r >= 0 && !interrupted) {
                fprintf(stderr, "restore: db: pg_dump and psql round trip\n");
                stopwatch_start(&w);
                r = remote(h,
                           "umask 022 && cd / && "
                           "runuser -u postgres -- pg_dump " DB_NAME " >" DB_DUMP,
                           NULL);
                if (r >= 0) {
                        stopwatch_stop(&w, &b->db_dump);
                        stopwatch_start(&w);
                        r = remote(h,
                                   "cd / && runuser -u postgres -- dropdb --force " DB_NAME
                                   " && runuser -u postgres -- createdb -O mhc " DB_NAME
                                   " && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 "
                                   "-d " DB_NAME " -f " DB_DUMP " >/dev/null",
                                   NULL);
                }
                if (r >= 0) {
                        stopwatch_stop(&w, &b->db_reload);
                        b->db_naive.samples[b->db_naive.n++] =
                                b->db_dump.samples[0] + b->db_reload.samples[0];
                        b->db_naive.cpu_busy = b->db_dump.cpu_busy + b->db_reload.cpu_busy;
                        b->db_naive.cpu_total = b->db_dump.cpu_total + b->db_reload.cpu_total;
                }
        }

out:
        if (made) {
                fprintf(stderr, "restore: db: cleaning up\n");
                drop_backup(h, DB_BACKUP);
                k = sql(h, NULL, "DROP DATABASE IF EXISTS " DB_NAME " WITH (FORCE)");
                if (k < 0 && r >= 0)
                        r = k;
                k = remote(h, "rm -f " DB_DUMP, NULL);
                if (k < 0 && r >= 0)
                        r = k;
        }
        mh_host_free(h);
        mh_config_free(config);
        return r;
}

/* --- 3. every lab host at once ----------------------------------------------- */

/* The lab's hosts from LAB_HOSTS_FILE, lines "NAME IP". */
static int read_lab_hosts(char (*names)[64], char (*addresses)[64], size_t max, size_t *ret_n) {
        char line[256];
        size_t n = 0;
        FILE *f;

        f = fopen(LAB_HOSTS_FILE, "re");
        if (!f) {
                fprintf(stderr, "restore: cannot read %s: %s\n", LAB_HOSTS_FILE, strerror(errno));
                return -errno;
        }
        while (n < max && fgets(line, sizeof(line), f))
                if (sscanf(line, "%63s %63s", names[n], addresses[n]) == 2)
                        n++;
        fclose(f);
        *ret_n = n;
        return 0;
}

static int bench_parallel(bench *b) {
        static char names[MAX_HOSTS][64], addresses[MAX_HOSTS][64];
        mh_config *configs[MAX_HOSTS] = {};
        mh_host *hosts[MAX_HOSTS] = {};
        mh_error *errors = NULL;
        bool made = false;
        size_t n = 0;
        double t0;
        int r, k;

        b->parallel_ran = true;
        r = read_lab_hosts(names, addresses, MAX_HOSTS, &n);
        if (r < 0)
                return r;
        if (n == 0) {
                fprintf(stderr, "restore: no hosts in %s\n", LAB_HOSTS_FILE);
                return -ENOENT;
        }
        b->n_hosts = n;
        for (size_t i = 0; i < n; i++) {
                size_t used = strlen(b->host_list);

                snprintf(b->host_list + used, sizeof(b->host_list) - used, "%s%s", i ? " " : "",
                         names[i]);
        }
        fprintf(stderr, "restore: parallel: %zu hosts (%s), %s files each in %s\n", n, b->host_list,
                PAR_FILES, PAR_DIR);

        errors = calloc(n, sizeof(mh_error));
        if (!errors)
                return -ENOMEM;
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = host_make(names[i], addresses[i],
                              "        type: systemd\n"
                              "        backup:\n"
                              "          paths: ['" PAR_DIR "']\n",
                              &configs[i], &hosts[i]);
        if (r < 0)
                goto out;
        t0 = now_msec();
        r = mh_hosts_connect(hosts, n, errors);
        if (r < 0) {
                print_errors(hosts, n, errors, "connect", r);
                goto out;
        }
        fprintf(stderr, "restore: parallel: connected to %zu hosts in %.0f ms\n", n,
                now_msec() - t0);

        made = true;
        r = remote_all(hosts, n,
                       "set -e; rm -rf " PAR_DIR "; mkdir " PAR_DIR "; cd " PAR_DIR "; i=0; "
                       "while [ $i -lt " PAR_FILES " ]; do "
                       "printf 'key%d = value %d\\n' $i $i >f$i.conf; i=$((i + 1)); done");
        if (r < 0)
                goto out;

        r = time_backup(&b->par_backup, hosts, n, PAR_BACKUP);
        for (unsigned round = 0; r >= 0 && !interrupted && round < 3; round++) {
                r = remote(hosts[0], "echo changed >>" PAR_DIR "/f0.conf", NULL);
                if (r >= 0)
                        r = time_restore(&b->par_one, hosts, 1, false, PAR_BACKUP, NULL,
                                         SKIP_FILES);
                if (r >= 0)
                        r = remote_all(hosts, n, "echo changed >>" PAR_DIR "/f0.conf");
                if (r >= 0)
                        r = time_restore(&b->par_all, hosts, n, true, PAR_BACKUP, NULL, SKIP_FILES);
                if (r >= 0)
                        r = remote_all(hosts, n, "echo changed >>" PAR_DIR "/f0.conf");
                if (r >= 0)
                        r = time_restore(&b->par_seq, hosts, n, false, PAR_BACKUP, NULL,
                                         SKIP_FILES);
                /* Nothing changed: one round trip per host, little CPU on the
                 * hosts, so this shows mhc's own parallelism. */
                if (r >= 0)
                        r = time_restore(&b->par_one_clean, hosts, 1, false, PAR_BACKUP, NULL,
                                         SKIP_FILES);
                if (r >= 0)
                        r = time_restore(&b->par_all_clean, hosts, n, true, PAR_BACKUP, NULL,
                                         SKIP_FILES);
        }

out:
        if (made) {
                fprintf(stderr, "restore: parallel: cleaning up\n");
                for (size_t i = 0; i < n; i++)
                        drop_backup(hosts[i], PAR_BACKUP);
                k = remote_all(hosts, n, "rm -rf " PAR_DIR);
                if (k < 0 && r >= 0)
                        r = k;
        }
        for (size_t i = 0; i < n; i++) {
                mh_host_free(hosts[i]);
                mh_config_free(configs[i]);
        }
        free(errors);
        return r;
}

/* --- the table ------------------------------------------------------------- */

static void print_figure(figure *f) {
        char range[48] = "", cpu[16] = "-";
        double m;

        if (f->n == 0) {
                printf("  %-44s %4s %12s\n", f->what, "-", "-");
                return;
        }
        m = median_of(f); /* sorts the samples */
        if (f->n > 1)
                snprintf(range, sizeof(range), "%.1f..%.1f", f->samples[0], f->samples[f->n - 1]);
        /* too few ticks say nothing */
        if (f->cpu_total >= CPU_MIN_TICKS)
                snprintf(cpu, sizeof(cpu), "%.0f%%",
                         100.0 * (double) f->cpu_busy / (double) f->cpu_total);
        printf("  %-44s %4zu %12.1f %19s %5s %9.1f", f->what, f->n, m, range, cpu,
               (double) f->host_usec / 1000.0 / (double) f->n);
        if (f->restores > 0)
                printf(" %7u/%u", f->unchanged, f->restores);
        printf("\n");
}

/* The ratio of the medians a / b, 0 when either is missing. */
static double ratio(figure *a, figure *b) {
        return a->n > 0 && b->n > 0 && median_of(b) > 0 ? median_of(a) / median_of(b) : 0;
}

/* target (may be NULL) is the issue's, e.g. ">= 20x"; met says whether the ratio meets it. */
static void print_ratio(const char *what, double r, const char *target, bool met) {
        if (r <= 0) {
                printf("  %-44s %4s %12s\n", what, "", "-");
                return;
        }
        printf("  %-44s %4s %11.*fx", what, "", r < 10 ? 2 : 1, r);
        if (target)
                printf("   (issue's target %s: %s)", target, met ? "met" : "NOT met");
        printf("\n");
}

/* The least wall time f could take when the hosts' CPU work is the bound:
 * their CPU time spread over every CPU of the machine. */
static void print_floor(figure *f) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        double host_msec;

        if (f->n == 0 || cpus <= 0)
                return;
        host_msec = (double) f->host_usec / 1000.0 / (double) f->n;
        printf("  %-44s %4s %12.1f   (hosts' CPU %.1f ms / %ld CPUs; measured %.1f: %.2fx)\n",
               "  CPU-bound floor of the line above", "", host_msec / (double) cpus, host_msec,
               cpus, median_of(f), median_of(f) / (host_msec / (double) cpus));
}

static void print_header(void) {
        printf("  %-44s %4s %12s %19s %5s %9s %9s\n", "what", "runs", "median ms", "min..max ms",
               "cpu", "hosts ms", "unchanged");
}

static void print_results(bench *b, bool skip_db, bool skip_parallel) {
        double r;

        printf("\nrestore: one run on the lab; medians in ms; \"cpu\": how busy the machine's "
               "%ld CPUs\nwere during the timed calls (the lab's hosts run on them); "
               "\"hosts ms\": the CPU time\nthe lab's hosts spent per run (all their "
               "processes, at the kernel's clock tick);\n\"unchanged\": host restores "
               "that found nothing to restore (from the library's\ndebug log)\n",
               sysconf(_SC_NPROCESSORS_ONLN));

        printf("\n1. systemd host server: %zu files, %.1f MiB in %s, service %s\n", b->files_count,
               (double) b->files_bytes / MIB, FILES_DIR, FILES_UNIT);
        print_header();
        print_figure(&b->files_backup);
        print_figure(&b->files_bare);
        print_figure(&b->files_walk);
        print_figure(&b->files_none);
        print_figure(&b->files_one);
        print_figure(&b->files_full);
        r = ratio(&b->files_none, &b->files_bare);
        print_ratio("restore after no change / bare round trip", r, "<= 1.5x", r <= 1.5);
        print_ratio("restore after no change / the walk alone", ratio(&b->files_none, &b->files_walk),
                    NULL, false);
        r = ratio(&b->files_full, &b->files_none);
        print_ratio("full restore / restore after no change", r, ">= 20x", r >= 20);
        print_ratio("full restore / restore after one change", ratio(&b->files_full, &b->files_one),
                    NULL, false);

        if (b->db_ran) {
                printf("\n2. postgresql host db: database %s, %s rows, %.1f MiB\n", DB_NAME,
                       DB_ROWS, (double) b->db_bytes / MIB);
                print_header();
                print_figure(&b->db_backup);
                print_figure(&b->db_read);
                print_figure(&b->db_row);
                print_figure(&b->db_dump);
                print_figure(&b->db_reload);
                print_figure(&b->db_naive);
                print_ratio("naive round trip / restore after one row",
                            ratio(&b->db_naive, &b->db_row), NULL, false);
                print_ratio("naive round trip / restore after read-only",
                            ratio(&b->db_naive, &b->db_read), NULL, false);
                print_ratio("naive reload alone / restore after one row",
                            ratio(&b->db_reload, &b->db_row), NULL, false);
        } else
                printf("\n2. postgresql host db: %s\n", skip_db ? "skipped" : "not run");

        if (b->parallel_ran) {
                printf("\n3. parallel: %zu hosts (%s), %s files each in %s\n", b->n_hosts,
                       b->host_list, PAR_FILES, PAR_DIR);
                print_header();
                print_figure(&b->par_backup);
                print_figure(&b->par_one);
                print_figure(&b->par_all);
                print_figure(&b->par_seq);
                r = ratio(&b->par_all, &b->par_one);
                print_ratio("all in parallel / one host", r, "<= 2x", r <= 2);
                print_floor(&b->par_all);
                print_ratio("all one after the other / all in parallel",
                            ratio(&b->par_seq, &b->par_all), NULL, false);
                print_figure(&b->par_one_clean);
                print_figure(&b->par_all_clean);
                r = ratio(&b->par_all_clean, &b->par_one_clean);
                print_ratio("no change: all in parallel / one host", r, "<= 2x", r <= 2);
                print_floor(&b->par_all_clean);
        } else
                printf("\n3. parallel: %s\n", skip_parallel ? "skipped" : "not run");
}

static void usage(FILE *f) {
        fprintf(f, "usage: restore [--skip-db] [--skip-parallel] [--files N] [--mb M] [-v]\n"
                   "\n"
                   "Measures mhc's change-aware restore against full and naive restores on the\n"
                   "lab's hosts, in one run, and prints medians and ratios. Makes its files, a\n"
                   "unit and a database on the hosts and removes them at the end. Run inside the\n"
                   "lab: tests/lab/exec tests/bench/restore\n"
                   "\n"
                   "  --skip-db        leave out the postgresql host (db)\n"
                   "  --skip-parallel  leave out restoring every lab host at once\n"
                   "  --files N        files on the systemd host (default 5000)\n"
                   "  --mb M           their total size in MiB (default 200)\n"
                   "  -v, --verbose    print the library's debug log to stderr\n");
}

int main(int argc, char **argv) {
        enum { OPT_SKIP_DB = 0x100, OPT_SKIP_PARALLEL, OPT_FILES, OPT_MB };
        static const struct option options[] = {
                { "skip-db", no_argument, NULL, OPT_SKIP_DB },
                { "skip-parallel", no_argument, NULL, OPT_SKIP_PARALLEL },
                { "files", required_argument, NULL, OPT_FILES },
                { "mb", required_argument, NULL, OPT_MB },
                { "verbose", no_argument, NULL, 'v' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        static bench b = {
                .n_files = 5000,
                .mb = 200,
                .files_backup = { .what = "backup (mh_host_backup)" },
                .files_bare = { .what = "bare round trip (`true`, same session)" },
                .files_walk = { .what = "the walk alone (one `find` of the tree)" },
                .files_none = { .what = "restore after no change" },
                .files_one = { .what = "restore after one changed file" },
                .files_full = { .what = "full restore (options.full = 1)" },
                .db_backup = { .what = "backup (template copy)" },
                .db_read = { .what = "restore after a read-only test" },
                .db_row = { .what = "restore after one changed row" },
                .db_dump = { .what = "naive: pg_dump" },
                .db_reload = { .what = "naive: dropdb, createdb, psql -f" },
                .db_naive = { .what = "naive round trip (the two above)" },
                .par_backup = { .what = "backup of all (mh_hosts_backup)" },
                .par_one = { .what = "restore one host (the first) alone" },
                .par_all = { .what = "restore all in parallel (mh_hosts_restore)" },
                .par_seq = { .what = "restore all one after the other" },
                .par_one_clean = { .what = "no change: restore one host alone" },
                .par_all_clean = { .what = "no change: restore all in parallel" },
        };
        struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
        bool skip_db = false, skip_parallel = false;
        unsigned long v;
        char *end;
        int c, r = 0, k;

        while ((c = getopt_long(argc, argv, "vh", options, NULL)) >= 0)
                switch (c) {
                case OPT_SKIP_DB:
                        skip_db = true;
                        break;
                case OPT_SKIP_PARALLEL:
                        skip_parallel = true;
                        break;
                case OPT_FILES:
                case OPT_MB:
                        errno = 0;
                        v = strtoul(optarg, &end, 10);
                        if (errno != 0 || *end || v == 0 || v > 1000000) {
                                fprintf(stderr, "restore: --%s wants a number from 1 to 1000000\n",
                                        c == OPT_FILES ? "files" : "mb");
                                return EXIT_FAILURE;
                        }
                        if (c == OPT_FILES)
                                b.n_files = (unsigned) v;
                        else
                                b.mb = (unsigned) v;
                        break;
                case 'v':
                        said.verbose = true;
                        break;
                case 'h':
                        usage(stdout);
                        return EXIT_SUCCESS;
                default:
                        usage(stderr);
                        return EXIT_FAILURE;
                }
        if (optind < argc) {
                usage(stderr);
                return EXIT_FAILURE;
        }
        if ((double) b.mb * MIB / b.n_files < 1) {
                fprintf(stderr, "restore: --mb %u is too little for %u files\n", b.mb, b.n_files);
                return EXIT_FAILURE;
        }
        if (!lab_is_up()) {
                fprintf(stderr, "restore: the lab is not up or not reachable from here: run "
                                "tests/lab/up, then tests/lab/exec tests/bench/restore\n");
                return EXIT_FAILURE;
        }

        mh_log_set_handler(bench_log_handler, MH_LOG_DEBUG, &said);
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);

        r = bench_files(&b);
        if (!skip_db && !interrupted) {
                k = bench_db(&b);
                if (k < 0 && r >= 0)
                        r = k;
        }
        if (!skip_parallel && !interrupted) {
                k = bench_parallel(&b);
                if (k < 0 && r >= 0)
                        r = k;
        }

        print_results(&b, skip_db, skip_parallel);
        if (interrupted) {
                fprintf(stderr, "restore: interrupted (signal %d); what it made is removed\n",
                        (int) interrupted);
                return EXIT_FAILURE;
        }
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
