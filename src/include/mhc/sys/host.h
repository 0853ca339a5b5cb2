/* SPDX-License-Identifier: MIT */
#ifndef MHC_SYS_HOST_H
#define MHC_SYS_HOST_H

/*
 * The contract for host type authors: a host type is a const table of
 * functions and data (mh_host_type), and each host an object whose first
 * member is the base mh_host.  The built-in types (mhc's hosts/) are built
 * against this header alone, as plug-ins are; a plug-in is a shared object
 * named in mhc.yaml as `type: plugin:/path/to/type.so` that exports
 * MH_HOST_TYPE_PLUGIN_SYMBOL.  See mhc-host-type(3).
 */

#include <stdbool.h>
#include <stddef.h>

#include <mhc/buf.h>
#include <mhc/clock.h>
#include <mhc/config.h>
#include <mhc/host.h>
#include <mhc/log.h>
#include <mhc/strv.h>

MH_BEGIN_DECLS

/* Bumped whenever mh_host_type, mh_host or mh_setting change; plug-ins
 * built against another value are refused. */
#define MH_HOST_TYPE_ABI 3

/* The symbol a plug-in exports: const mh_host_type mh_host_type_plugin. */
#define MH_HOST_TYPE_PLUGIN_SYMBOL "mh_host_type_plugin"

/*
 * One backup on a host: its name and its directory there, for the type's
 * files; the directory exists (mode 0700) when backup() is called.  data
 * is the type's own, for what it keeps in memory about the backup; drop()
 * or done() frees it.
 */
typedef struct mh_backup {
        const char *name;
        const char *dir;
        void *data;
} mh_backup;

typedef struct mh_host_type mh_host_type;

/* The base object; a type's own object starts with it (or with its parent
 * type's object, which starts with it). */
struct mh_host {
        const mh_host_type *type;
        const mh_host_config *config;
        mh_ssh *ssh;            /* connected by mh_host_connect() */
        struct mh_systemd *systemd; /* opened on first use: mh_host_systemd(), or
                                     * mh_systemd_open() by a type; freed with h */
        char *run_dir;          /* this run's directory on the host */
        void *internal;         /* libmhc's bookkeeping; not for types */
};

/* --- settings: the host's `config:` keys, declared as data ------------------ */

/* What a setting's value must be, and the member it is read into. */
typedef enum mh_setting_kind {
        MH_SETTING_STRING,      /* char *: a non-empty string */
        MH_SETTING_SECRET,      /* char *: a string never shown in messages; runners redact it */
        MH_SETTING_SECRET_FILE, /* char *: the first line of the local file the value names
                                 * (relative to mhc.yaml); a secret like MH_SETTING_SECRET */
        MH_SETTING_INTEGER,     /* unsigned: a decimal from 1 to max (default 65535) */
        MH_SETTING_BOOLEAN,     /* bool: true or false */
        MH_SETTING_CHOICE,      /* unsigned: the index of the value in choices; an empty
                                 * first choice stands for "not given" (0) and is never
                                 * accepted */
        MH_SETTING_STRINGS,     /* mh_strv: a sequence of distinct non-empty strings */
        MH_SETTING_PATHS,       /* mh_strv: distinct absolute paths on the host, without a
                                 * trailing slash */
        MH_SETTING_PATH_MAP,    /* mh_setting_map: a mapping of names to MH_SETTING_PATHS */
        MH_SETTING_FILE,        /* char *: the absolute path of the local file the value
                                 * names (relative to mhc.yaml), readable when it is loaded */
} mh_setting_kind;

/* A setting must be given. */
#define MH_SETTING_REQUIRED 0x1u

/*
 * One key of `config:`.  Two settings with the same offset exclude each
 * other ("'password' and 'password_file' exclude each other").  Strings
 * are malloc'd; the library frees them with the settings.
 */
typedef struct mh_setting {
        const char *name;
        mh_setting_kind kind;
        size_t offset;                  /* of the member in the type's settings struct */
        unsigned flags;                 /* MH_SETTING_REQUIRED */
        unsigned max;                   /* INTEGER: the largest value; STRING, STRINGS:
                                         * the longest string in bytes; 0: no limit */
        const char *const *choices;     /* CHOICE: the values, NULL-terminated */
        const char *item;               /* STRINGS: what one item is, in messages
                                         * ("database 'a' is listed twice") */
} mh_setting;

/* The value of an MH_SETTING_PATH_MAP setting: names[i] maps to paths[i]. */
typedef struct mh_setting_map {
        mh_strv names;
        mh_strv *paths;
} mh_setting_map;

/*
 * The settings a host of type level (h's type or one it extends) read
 * from `config:`, borrowed from the configuration: each type of the chain
 * has its own settings struct (settings_size bytes, zeroed, then filled
 * from its table), so a type never needs to know its parent's layout.
 * NULL when level is not in h's chain or declares no settings.
 */
MH_EXPORT const void *mh_host_settings(const mh_host *h, const mh_host_type *level);

/*
 * Fail with -MH_ERR_CONFIG and "mhc.yaml:LINE:COL: message", placed at the
 * value of setting key (at its item index when index is not SIZE_MAX, at
 * the host when the key is not there): for a type's check() slot.
 */
MH_EXPORT int mh_host_config_fail_setting(const mh_host_config *h, const char *key, size_t index,
                                          mh_error *error, const char *fmt, ...) MH_PRINTF(5, 6);

/* Where mhc keeps its own state on each host (runs, backups, the lock):
 * no host type may back it up, restore it or write there but through the
 * backup directories it is given. */
#define MH_HOST_STATE_DIR "/var/lib/mhc"

/* The common keys of a host, besides conn:, that a type gives meaning to;
 * a host of a type that does not honour one it has is refused at load. */
#define MH_HOST_KEY_SERVICES     0x1u /* services: */
#define MH_HOST_KEY_BACKUP_PATHS 0x2u /* backup: paths: */

/* --- the type ------------------------------------------------------------------ */

/*
 * Every function slot may be NULL: the call then fails with -EOPNOTSUPP
 * and says so, except those marked optional, which are skipped.  Each
 * returns 0 or a negative code with error set; messages never name the
 * host (the library adds it).  A type that extends another (parent) has
 * an object that starts with the parent's and calls the parent's slots
 * itself where it wants their behaviour.
 */
struct mh_host_type {
        unsigned abi;           /* MH_HOST_TYPE_ABI */
        const char *name;
        size_t size;            /* of the type's object: at least sizeof(mh_host), and at
                                 * least the parent's size */
        const mh_host_type *parent; /* the type this one extends, or NULL */

        /* The host's common keys this type honours (MH_HOST_KEY_*). */
        unsigned keys;

        /* This type's `config:` keys, ended by an entry with a NULL name (may
         * be NULL: none), read into a struct of settings_size bytes.  The
         * library checks a host's `config:` against the tables of the type and
         * of every type it extends when mhc.yaml is loaded; a key none of them
         * names is an error ("did you mean ...?"). */
        const mh_setting *settings;
        size_t settings_size;
        /* Optional: checks across keys (or against the host's other keys) once
         * this type's settings are read, parents' first; fail with
         * mh_host_config_fail_setting(). */
        int (*check)(const mh_host_config *h, const void *settings, mh_error *error);

        /* Optional: set up the object (no network yet); the settings are checked. */
        int (*init)(mh_host *h, mh_error *error);
        /* Optional: free what init() and the others allocated; may see a half-made host. */
        void (*done)(mh_host *h);
        /* Optional: in a forked test process, forget without closing what the
         * type holds open that the runner's process owns (connections). */
        void (*after_fork)(mh_host *h);

        int (*start)(mh_host *h, mh_error *error);
        int (*stop)(mh_host *h, mh_error *error);
        int (*ready)(mh_host *h, unsigned timeout_msec, mh_error *error);

        /* Fill b->dir (and b->data).  If it fails with b->data set, drop()
         * is called with a NULL error to free it; the library removes b->dir. */
        int (*backup)(mh_host *h, mh_backup *b, mh_error *error);
        int (*restore)(mh_host *h, mh_backup *b, const mh_restore_options *options,
                       mh_error *error);
        /* Optional, but a host without it cannot be recovered after a run
         * died (see mh_host_recover()): rebuild b->data from what backup()
         * left in b->dir, for a backup an earlier run took and did not drop.
         * backup() must therefore write down in b->dir what it keeps in
         * b->data, and, before it makes anything outside b->dir (a database
         * copy), what it is about to make, so that load() and drop() can
         * remove it even when backup() never returned.  The library restores
         * only from a backup marked whole; it drops every loaded backup. */
        int (*load)(mh_host *h, mh_backup *b, mh_error *error);
        /* Optional: forget what the type keeps of b (b->data, state outside
         * b->dir); the library then removes b->dir.  Also called for each
         * backup left when the host is freed, with a NULL error, after a lost
         * connection too: it must not block.  b is forgotten whether drop()
         * succeeds or not. */
        int (*drop)(mh_host *h, mh_backup *b, mh_error *error);
};

/* Whether h's type is type or extends it. */
MH_EXPORT bool mh_host_is_a(const mh_host *h, const mh_host_type *type);

/*
 * Define a checked cast from mh_host to a type's object, as systemd's
 * DEFINE_CAST does: NAME(h) is NULL unless h's type is VTABLE or extends
 * it, so that a plug-in's object is never read as another type's.
 */
#define MH_DEFINE_HOST_CAST(NAME, OBJECT, VTABLE)                             \
        static inline OBJECT *NAME(mh_host *h) {                              \
                return mh_host_is_a(h, &(VTABLE)) ? (OBJECT *) h : NULL;      \
        }

/* The built-in types, for types that extend one (call its slots). */
MH_EXPORT extern const mh_host_type mh_host_type_systemd;
MH_EXPORT extern const mh_host_type mh_host_type_postgresql;
MH_EXPORT extern const mh_host_type mh_host_type_script;

/*
 * The systemd type's object, for types that extend it: theirs starts with
 * it and their size is at least sizeof(mh_systemd_host).  Its state is the
 * systemd type's own.
 */
typedef struct mh_systemd_host {
        mh_host base;
        struct mh_systemd_host_state *state;
} mh_systemd_host;

MH_END_DECLS

#endif
