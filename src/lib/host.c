/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <mhc/host.h>
#include <mhc/fault.h>
#include <mhc/log.h>
#include <mhc/parallel.h>
#include <mhc/shell.h>
#include <mhc/sys/host.h>
#include <mhc/systemd.h>

#include "tunnel.h"
#include "config.h"
#include "host-type.h"
#include "host.h"
#include "ssh.h"
#include "util.h"

/* How long mh_host_free() waits for the lease's tunnel to close. */
#define LEASE_END_WAIT_MSEC 3000u

/* Longest backup name; it becomes a directory name on the host. */
#define BACKUP_NAME_MAX 128

/* Output of the library's own housekeeping commands is small. */
#define HOUSEKEEPING_MAX_OUTPUT ((size_t) 64 << 10)

/* --- the run ------------------------------------------------------------- */

static pthread_once_t run_id_once = PTHREAD_ONCE_INIT;
static char run_id[17];
static int run_id_error;

static void make_run_id(void) {
        uint8_t bytes[8];
        size_t got = 0;

        while (got < sizeof(bytes)) {
                ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        run_id_error = -errno;
                        return;
                }
                got += (size_t) n;
        }
        for (size_t i = 0; i < sizeof(bytes); i++)
                snprintf(run_id + 2 * i, 3, "%02x", bytes[i]);
}

/* The process-wide id of this run, made once: 16 hex digits. */
static int get_run_id(const char **ret) {
        pthread_once(&run_id_once, make_run_id);
        if (run_id_error < 0)
                return run_id_error;
        *ret = run_id;
        return 0;
}

/* --- helpers ------------------------------------------------------------- */

static double msec_since(uint64_t start) {
        return (double) (mh_now_usec() - start) / 1000.0;
}

/*
 * Hand a failure recorded in e to the caller's error, naming the host: the
 * one place that does, as nothing below this layer (SSH, systemd, the
 * host types) names it.
 */
int mh_host_fail(const mh_host *h, int r, const mh_error *e, mh_error *error) {
        return mh_error_set(error, r, "host '%s': %s", mh_host_name(h), mh_error_message(e, r));
}

/* Connected, and the run's lease held: taken again if its connection dropped. */
static int need_connected(mh_host *h, mh_error *error) {
        mh_error e = MH_ERROR_INIT;
        int r;

        if (h->ssh) {
                r = mh_host_keep_lease(h, &e);
                return r < 0 ? mh_host_fail(h, r, &e, error) : 0;
        }
        return mh_error_set(error, -ENOTCONN,
                            "host '%s' is not connected (call mh_host_connect() first)",
                            mh_host_name(h));
}

static int not_supported(const mh_host *h, const char *verb, mh_error *error) {
        return mh_error_set(error, -EOPNOTSUPP, "host '%s': host type '%s' cannot %s",
                            mh_host_name(h), h->type->name, verb);
}

/* Run a housekeeping command of the library's on the host; a non-zero exit is an error. */
int mh_host_run_command(mh_host *h, const char *command, const char *what, mh_exec_result *ret,
                        mh_error *e) {
        mh_exec_options options = { .max_output = HOUSEKEEPING_MAX_OUTPUT };
        mh_exec_result res = {};
        int r;

        r = mh_ssh_exec(h->ssh, command, &options, &res, e);
        if (r < 0)
                return r;
        if (res.exit_status != 0) {
                char why[MH_EXEC_SUMMARY_SIZE];

                r = mh_error_set(e, -MH_ERR_COMMAND, "cannot %s: command failed with %s", what,
                                 mh_exec_result_summary(&res, why, sizeof(why)));
                mh_exec_result_dispose(&res);
                return r;
        }
        if (ret)
                *ret = res;
        else
                mh_exec_result_dispose(&res);
        return 0;
}

/* --- new and free -------------------------------------------------------- */

entry *mh_host_entry_new(const char *run_dir, const char *name) {
        entry *b = calloc(1, sizeof(*b));

        if (!b)
                return NULL;
        b->name = strdup(name);
        if (b->name && asprintf(&b->dir, "%s/%s", run_dir, name) < 0)
                b->dir = NULL;
        if (!b->name || !b->dir) {
                mh_host_entry_free(b);
                return NULL;
        }
        b->backup.name = b->name;
        b->backup.dir = b->dir;
        return b;
}

void mh_host_entry_free(entry *b) {
        if (!b)
                return;
        free(b->name);
        free(b->dir);
        free(b);
}

int mh_host_new(const mh_host_config *config, mh_host **ret, mh_error *error) {
        const mh_host_type *type;
        mh_error e = MH_ERROR_INIT;
        const char *id;
        internal *in;
        mh_host *h;
        int r;

        if (!config || !ret)
                return mh_error_set(error, -EINVAL, "mh_host_new: invalid argument");
        /* Found, and its settings checked, when the configuration was loaded. */
        type = mh_host_config_host_type(config);
        assert(type);

        r = get_run_id(&id);
        if (r < 0)
                return mh_error_set(error, r, "cannot make a run id: %s", mh_strerror(r));

        h = calloc(1, type->size);
        in = calloc(1, sizeof(internal));
        if (!h || !in) {
                free(h);
                free(in);
                return mh_error_oom(error);
        }
        h->type = type;
        h->config = config;
        h->internal = in;
        if (asprintf(&h->run_dir, MHC_STATE_DIR "/run-%s", id) < 0) {
                h->run_dir = NULL;
                mh_host_free(h);
                return mh_error_oom(error);
        }

        if (SLOT(h, init)) {
                r = SLOT(h, init)(h, &e);
                if (r < 0) {
                        mh_host_fail(h, r, &e, error);
                        mh_host_free(h);
                        return r;
                }
        }

        mh_log(MH_LOG_DEBUG, mh_host_name(h), "host of type '%s' made", type->name);
        *ret = h;
        return 0;
}

/* Remove the run dir from the host when nothing of the run is left in it. */
static void remove_run_dir(mh_host *h) {
        _cleanup_free_ char *quoted = NULL, *command = NULL;
        mh_error e = MH_ERROR_INIT;
        int r;

        if (mh_shell_quote(h->run_dir, &quoted) < 0 ||
            asprintf(&command, "rm -rf %s", quoted) < 0) {
                command = NULL;
                return;
        }
        r = mh_host_run_command(h, command, "remove the run directory", NULL, &e);
        if (r < 0)
                mh_log(MH_LOG_WARNING, mh_host_name(h), "cannot remove %s: %s", h->run_dir,
                       mh_error_message(&e, r));
}

mh_host *mh_host_free(mh_host *h) {
        uint64_t start = mh_now_usec();
        bool connected;
        internal *in;

        if (!h)
                return NULL;
        in = internal_of(h);
        connected = h->ssh != NULL;

        if (in) {
                /* A run that ends drops its backups, the type's copies outside
                 * their directories too; kept (or left by a lost connection),
                 * they are a later run's to recover from. */
                bool drop = h->ssh && in->lease && !in->keep_backups;

                for (size_t i = 0; i < in->n_backups; i++) {
                        entry *b = in->backups[i];
                        mh_error e = MH_ERROR_INIT;

                        if (SLOT(h, drop) && SLOT(h, drop)(h, &b->backup, drop ? &e : NULL) < 0 &&
                            drop) {
                                mh_log(MH_LOG_WARNING, mh_host_name(h),
                                       "cannot drop backup '%s' (the next run will): %s", b->name,
                                       mh_error_message(&e, -EIO));
                                drop = false;
                        }
                        mh_host_entry_free(b);
                }
                if (drop)
                        remove_run_dir(h);
                free(in->backups);
        }

        h->systemd = mh_systemd_free(h->systemd);
        if (in) {
                mh_host_end_lease(h, LEASE_END_WAIT_MSEC);
                mh_host_forget_dead_runs(h);
        }
        if (SLOT(h, done))
                SLOT(h, done)(h);
        h->ssh = mh_ssh_free(h->ssh);
        if (connected)
                mh_log(MH_LOG_DEBUG, mh_host_name(h), "disconnected, lease ended in %.1f ms",
                       msec_since(start));
        free(in);
        free(h->run_dir);
        free(h);
        return NULL;
}

void mh_host_keep_backups(mh_host *h, bool keep) {
        if (h)
                internal_of(h)->keep_backups = keep;
}

const char *mh_host_name(const mh_host *h) {
        return h ? mh_host_config_hostname(h->config) : NULL;
}

const mh_host_config *mh_host_get_config(const mh_host *h) {
        return h ? h->config : NULL;
}

const char *mh_host_type_name(const mh_host *h) {
        return h ? h->type->name : NULL;
}

const void *mh_host_settings(const mh_host *h, const mh_host_type *level) {
        if (!h)
                return NULL;
        return mh_host_type_settings(h->type, mh_host_config_settings(h->config), level);
}

/* The host's secrets: its SSH password, then its type's secret settings. */
const char *mh_host_secret(const mh_host *h, size_t i) {
        const char *password;

        if (!h)
                return NULL;
        password = mh_host_config_password(h->config);
        if (password && i-- == 0)
                return password;
        return mh_host_type_secret(h->type, mh_host_config_settings(h->config), i);
}

size_t mh_host_n_secrets(const mh_host *h) {
        size_t n = 0;

        while (mh_host_secret(h, n))
                n++;
        return n;
}

void mh_host_after_fork(mh_host *h) {
        if (h && SLOT(h, after_fork))
                SLOT(h, after_fork)(h);
}

mh_ssh *mh_host_ssh(mh_host *h) {
        return h ? h->ssh : NULL;
}

void mh_host_set_command_observer(mh_host *h, mh_command_fn fn, void *userdata) {
        internal *in;

        if (!h)
                return;
        in = internal_of(h);
        in->observer = fn;
        in->observer_userdata = userdata;
        mh_ssh_set_command_observer(h->ssh, fn, userdata);
}

/* --- connecting ---------------------------------------------------------- */

int mh_host_connect(mh_host *h, mh_error *error) {
        mh_error e = MH_ERROR_INIT;
        uint64_t start = mh_now_usec();
        mh_ssh *s = NULL;
        int r;

        if (!h)
                return mh_error_set(error, -EINVAL, "mh_host_connect: invalid argument");
        if (h->ssh)
                return 0;

        r = mh_ssh_connect(h->config, &s, &e);
        if (r < 0)
                return mh_host_fail(h, r, &e, error);
        mh_ssh_set_command_observer(s, internal_of(h)->observer, internal_of(h)->observer_userdata);
        h->ssh = s;

        r = mh_host_take_lease(h, &e);
        if (r >= 0)
                r = mh_host_measure_clock(h, &e);
        if (r < 0) {
                mh_host_end_lease(h, 0);
                h->ssh = mh_ssh_free(h->ssh);
                return mh_host_fail(h, r, &e, error);
        }

        mh_log(MH_LOG_DEBUG, mh_host_name(h), "connected, lease on %s taken in %.1f ms", h->run_dir,
               msec_since(start));
        return 0;
}

int mh_host_measure_clock(mh_host *h, mh_error *e) {
        internal *in = internal_of(h);
        mh_exec_result res = {};
        uint64_t before = mh_realtime_usec(), after;
        unsigned long long ns;
        char *end;
        int r;

        r = mh_host_run_command(h, "date +%s%N", "read the host's clock", &res, e);
        after = mh_realtime_usec();
        if (r < 0)
                return r;
        errno = 0;
        ns = strtoull(res.out, &end, 10);
        if (errno || end == res.out || (*end && *end != '\n') || ns < 1000000000000000000ULL)
                r = mh_error_set(e, -EBADMSG, "cannot read the host's clock: 'date +%%s%%N' said "
                                              "'%.40s'",
                                 res.out);
        else {
                /* the host read its clock half way through the round trip, give or take */
                in->clock_offset_usec = (int64_t) (ns / 1000) - (int64_t) (before + (after - before) / 2);
                in->clock_measured = true;
        }
        mh_exec_result_dispose(&res);
        return r;
}

int mh_host_clock_offset(const mh_host *h, int64_t *ret_usec) {
        if (!h || !ret_usec)
                return -EINVAL;
        if (!internal_of(h)->clock_measured)
                return -ENODATA;
        *ret_usec = internal_of(h)->clock_offset_usec;
        return 0;
}

struct mh_systemd *mh_host_systemd(mh_host *h, mh_error *error) {
        mh_error e = MH_ERROR_INIT;
        mh_systemd *sd = NULL;
        int r;

        if (!h) {
                mh_error_set(error, -EINVAL, "mh_host_systemd: invalid argument");
                return NULL;
        }
        if (h->systemd)
                return h->systemd;
        if (need_connected(h, error) < 0)
                return NULL;

        r = mh_systemd_open(h->ssh, &sd, &e);
        if (r < 0) {
                mh_host_fail(h, r, &e, error);
                return NULL;
        }
        h->systemd = sd;
        return sd;
}

/* --- lifecycle ----------------------------------------------------------- */

/* Call a slot that takes nothing but the host, after the checks all slots need. */
static int call_slot(mh_host *h, const char *verb, int (*slot)(mh_host *h, mh_error *error),
                     mh_error *error) {
        mh_error e = MH_ERROR_INIT;
        uint64_t start = mh_now_usec();
        int r;

        r = need_connected(h, error);
        if (r < 0)
                return r;
        if (!slot)
                return not_supported(h, verb, error);

        r = slot(h, &e);
        if (r < 0)
                return mh_host_fail(h, r, &e, error);
        mh_log(MH_LOG_DEBUG, mh_host_name(h), "%s took %.1f ms", verb, msec_since(start));
        return 0;
}

int mh_host_start(mh_host *h, mh_error *error) {
        if (!h)
                return mh_error_set(error, -EINVAL, "mh_host_start: invalid argument");
        return call_slot(h, "start", SLOT(h, start), error);
}

int mh_host_stop(mh_host *h, mh_error *error) {
        if (!h)
                return mh_error_set(error, -EINVAL, "mh_host_stop: invalid argument");
        return call_slot(h, "stop", SLOT(h, stop), error);
}

int mh_host_ready(mh_host *h, unsigned timeout_msec, mh_error *error) {
        mh_error e = MH_ERROR_INIT;
        uint64_t start = mh_now_usec();
        int r;

        if (!h)
                return mh_error_set(error, -EINVAL, "mh_host_ready: invalid argument");
        r = need_connected(h, error);
        if (r < 0)
                return r;
        if (!SLOT(h, ready))
                return not_supported(h, "wait until it is ready", error);

        r = SLOT(h, ready)(h, timeout_msec, &e);
        if (r < 0)
                return mh_host_fail(h, r, &e, error);
        mh_log(MH_LOG_DEBUG, mh_host_name(h), "ready after %.1f ms", msec_since(start));
        return 0;
}

/* --- backups ------------------------------------------------------------- */

static int check_backup_name(const mh_host *h, const char *name, mh_error *error) {
        size_t n;

        if (!name)
                return mh_error_set(error, -EINVAL, "host '%s': backup name is NULL",
                                    mh_host_name(h));
        n = strlen(name);
        if (n == 0 || n > BACKUP_NAME_MAX || name[0] == '.' ||
            strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") != n)
                return mh_error_set(error, -EINVAL,
                                    "host '%s': invalid backup name '%.*s': use 1 to %d of "
                                    "A-Z a-z 0-9 _ . - and do not start with '.'",
                                    mh_host_name(h), BACKUP_NAME_MAX + 8, name, BACKUP_NAME_MAX);
        return 0;
}

static entry *find_backup(const mh_host *h, const char *name, size_t *ret_index) {
        internal *in = internal_of(h);

        for (size_t i = 0; i < in->n_backups; i++)
                if (streq(in->backups[i]->name, name)) {
                        if (ret_index)
                                *ret_index = i;
                        return in->backups[i];
                }
        return NULL;
}

static void forget_backup(mh_host *h, size_t i) {
        internal *in = internal_of(h);

        mh_host_entry_free(in->backups[i]);
        memmove(in->backups + i, in->backups + i + 1, (in->n_backups - i - 1) * sizeof(entry *));
        in->n_backups--;
}

/* Remove dir on the host and (when make) create it again, empty, mode 0700. */
static int reset_dir(mh_host *h, const char *dir, bool make, mh_error *e) {
        _cleanup_free_ char *quoted = NULL, *command = NULL;

        if (mh_shell_quote(dir, &quoted) < 0)
                return mh_error_oom(e);
        if (asprintf(&command, make ? "rm -rf %1$s && mkdir -m 0700 %1$s" : "rm -rf %1$s", quoted) <
            0) {
                command = NULL;
                return mh_error_oom(e);
        }
        return mh_host_run_command(h, command,
                           make ? "make the backup directory" : "remove the backup directory", NULL,
                           e);
}

static int mark_complete(mh_host *h, const entry *b, mh_error *e) {
        _cleanup_free_ char *marker = NULL;

        if (asprintf(&marker, "%s/.complete", b->dir) < 0) {
                marker = NULL;
                return mh_error_oom(e);
        }
        /* The type that can read it back. */
        return mh_ssh_write_file(h->ssh, marker, h->type->name, strlen(h->type->name), 0600, e);
}

/* No longer whole, before any of it goes: a run that dies while dropping it
 * leaves a backup that later runs only drop, never restore from (the
 * template copies of a postgresql backup may be gone already). */
static int unmark_complete(mh_host *h, const entry *b, mh_error *e) {
        _cleanup_free_ char *quoted = NULL, *command = NULL;

        if (mh_shell_quote(b->dir, &quoted) < 0 ||
            asprintf(&command, "rm -f %s/.complete", quoted) < 0) {
                command = NULL;
                return mh_error_oom(e);
        }
        return mh_host_run_command(h, command, "mark the backup as being dropped", NULL, e);
}

/* Let the type forget backup i, remove its directory and forget it here too. */
static int drop_backup(mh_host *h, size_t i, mh_error *e) {
        entry *b = internal_of(h)->backups[i];
        int r, k = 0;

        r = unmark_complete(h, b, e);
        if (SLOT(h, drop))
                k = SLOT(h, drop)(h, &b->backup, r < 0 ? NULL : e);
        if (r >= 0)
                r = k;
        k = reset_dir(h, b->dir, false, r < 0 ? NULL : e);
        forget_backup(h, i);
        return r < 0 ? r : k;
}

int mh_host_backup(mh_host *h, const char *name, mh_error *error) {
        mh_error e = MH_ERROR_INIT;
        uint64_t start = mh_now_usec();
        internal *in;
        entry *b, **backups;
        size_t i;
        int r;

        if (!h)
                return mh_error_set(error, -EINVAL, "mh_host_backup: invalid argument");
        r = check_backup_name(h, name, error);
        if (r < 0)
                return r;
        r = need_connected(h, error);
        if (r < 0)
                return r;
        if (!SLOT(h, backup))
                return not_supported(h, "back up", error);
        in = internal_of(h);

        if (find_backup(h, name, &i)) {
                r = drop_backup(h, i, &e);
                if (r < 0)
                        return mh_host_fail(h, r, &e, error);
        }

        backups = realloc(in->backups, (in->n_backups + 1) * sizeof(entry *));
        if (!backups)
                return mh_error_oom(error);
        in->backups = backups;
        b = mh_host_entry_new(h->run_dir, name);
        if (!b)
                return mh_error_oom(error);

        r = reset_dir(h, b->dir, true, &e);
        if (r >= 0)
                r = SLOT(h, backup)(h, &b->backup, &e);
        /* Whole: a later run may restore from it if this one dies. */
        if (r >= 0)
                r = mark_complete(h, b, &e);
        if (r < 0) {
                mh_host_fail(h, r, &e, error);
                /* A type that kept something of the failed backup frees it in drop(). */
                if (b->backup.data && SLOT(h, drop))
                        (void) SLOT(h, drop)(h, &b->backup, NULL);
                (void) reset_dir(h, b->dir, false, NULL);
                mh_host_entry_free(b);
                return r;
        }
        in->backups[in->n_backups++] = b;

        mh_log(MH_LOG_DEBUG, mh_host_name(h), "backup '%s' taken in %.1f ms", name,
               msec_since(start));
        return 0;
}

/* The connected host's backup name and its index, for restore and drop. */
static int existing_backup(mh_host *h, const char *name, entry **ret, size_t *ret_index,
                           mh_error *error) {
        entry *b;
        int r;

        r = check_backup_name(h, name, error);
        if (r < 0)
                return r;
        r = need_connected(h, error);
        if (r < 0)
                return r;
        b = find_backup(h, name, ret_index);
        if (!b)
                return mh_error_set(error, -ENOENT, "host '%s' has no backup '%s'",
                                    mh_host_name(h), name);
        *ret = b;
        return 0;
}

int mh_host_restore(mh_host *h, const char *name, const mh_restore_options *options,
                    mh_error *error) {
        mh_restore_options none = {};
        mh_error e = MH_ERROR_INIT;
        uint64_t start = mh_now_usec();
        entry *b;
        int r;

        if (!h)
                return mh_error_set(error, -EINVAL, "mh_host_restore: invalid argument");
        r = existing_backup(h, name, &b, NULL, error);
        if (r < 0)
                return r;
        if (!SLOT(h, restore))
                return not_supported(h, "restore", error);

        /* what a test's faults changed is not the backup's to put back */
        if (internal_of(h)->faults_pending && mh_host_heal_faults(h, &e) < 0) {
                mh_error_prefix(&e, "the faults of the test are not healed");
                return mh_error_set(error, -MH_ERR_COMMAND, "%s", e.message);
        }
        r = SLOT(h, restore)(h, &b->backup, options ? options : &none, &e);
        if (r < 0)
                return mh_host_fail(h, r, &e, error);
        mh_log(MH_LOG_DEBUG, mh_host_name(h), "backup '%s' restored in %.1f ms", name,
               msec_since(start));
        return 0;
}

int mh_host_drop_backup(mh_host *h, const char *name, mh_error *error) {
        mh_error e = MH_ERROR_INIT;
        uint64_t start = mh_now_usec();
        entry *b;
        size_t i;
        int r;

        if (!h)
                return mh_error_set(error, -EINVAL, "mh_host_drop_backup: invalid argument");
        r = existing_backup(h, name, &b, &i, error);
        if (r < 0)
                return r;

        r = drop_backup(h, i, &e);
        if (r < 0)
                return mh_host_fail(h, r, &e, error);
        mh_log(MH_LOG_DEBUG, mh_host_name(h), "backup '%s' dropped in %.1f ms", name,
               msec_since(start));
        return 0;
}

int mh_host_has_backup(const mh_host *h, const char *name) {
        if (!h || !name)
                return 0;
        return find_backup(h, name, NULL) != NULL;
}

/* --- many hosts at once -------------------------------------------------- */

typedef enum op {
        OP_CONNECT,
        OP_START,
        OP_STOP,
        OP_READY,
        OP_BACKUP,
        OP_RESTORE,
        OP_DROP,
} op;

typedef struct many {
        op op;
        mh_host *const *hosts;
        mh_error *errors;
        unsigned timeout_msec;
        const char *name;
        const mh_restore_options *options;
} many;

static int one(size_t i, void *userdata) {
        const many *m = userdata;
        mh_host *h = m->hosts[i];
        mh_error *e = m->errors ? &m->errors[i] : NULL;

        switch (m->op) {
        case OP_CONNECT:
                return mh_host_connect(h, e);
        case OP_START:
                return mh_host_start(h, e);
        case OP_STOP:
                return mh_host_stop(h, e);
        case OP_READY:
                return mh_host_ready(h, m->timeout_msec, e);
        case OP_BACKUP:
                return mh_host_backup(h, m->name, e);
        case OP_RESTORE:
                return mh_host_restore(h, m->name, m->options, e);
        case OP_DROP:
                return mh_host_drop_backup(h, m->name, e);
        }
        return -EINVAL;
}

static int run_many(many *m, size_t n) {
        if (n > 0 && !m->hosts)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (!m->hosts[i])
                        return -EINVAL;
        return mh_parallel_for(n, one, m);
}

int mh_hosts_connect(mh_host *const *hosts, size_t n, mh_error *errors) {
        return run_many(&(many){ .op = OP_CONNECT, .hosts = hosts, .errors = errors }, n);
}

int mh_hosts_start(mh_host *const *hosts, size_t n, mh_error *errors) {
        return run_many(&(many){ .op = OP_START, .hosts = hosts, .errors = errors }, n);
}

int mh_hosts_stop(mh_host *const *hosts, size_t n, mh_error *errors) {
        return run_many(&(many){ .op = OP_STOP, .hosts = hosts, .errors = errors }, n);
}

int mh_hosts_ready(mh_host *const *hosts, size_t n, unsigned timeout_msec, mh_error *errors) {
        return run_many(&(many){ .op = OP_READY,
                                 .hosts = hosts,
                                 .errors = errors,
                                 .timeout_msec = timeout_msec },
                        n);
}

int mh_hosts_backup(mh_host *const *hosts, size_t n, const char *name, mh_error *errors) {
        return run_many(&(many){ .op = OP_BACKUP, .hosts = hosts, .errors = errors, .name = name },
                        n);
}

int mh_hosts_restore(mh_host *const *hosts, size_t n, const char *name,
                     const mh_restore_options *options, mh_error *errors) {
        return run_many(&(many){ .op = OP_RESTORE,
                                 .hosts = hosts,
                                 .errors = errors,
                                 .name = name,
                                 .options = options },
                        n);
}

int mh_hosts_drop_backup(mh_host *const *hosts, size_t n, const char *name, mh_error *errors) {
        return run_many(&(many){ .op = OP_DROP, .hosts = hosts, .errors = errors, .name = name },
                        n);
}
