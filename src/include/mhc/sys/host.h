/* SPDX-License-Identifier: MIT */
#ifndef MHC_SYS_HOST_H
#define MHC_SYS_HOST_H

/*
 * The contract for host type authors: a host type is a const table of
 * functions (mh_host_type), and each host an object whose first member is
 * the base mh_host.  Built-in types live in mhc's hosts/; others come from
 * a shared object named in mhc.yaml as `type: plugin:/path/to/type.so`,
 * which exports MH_HOST_TYPE_PLUGIN_SYMBOL.  See mhc-host-type(3).
 */

#include <stddef.h>

#include <mhc/host.h>

MH_BEGIN_DECLS

/* Bumped whenever mh_host_type or mh_host change; plug-ins built against
 * another value are refused. */
#define MH_HOST_TYPE_ABI 1

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

/* The base object; a type's own object starts with it. */
struct mh_host {
        const mh_host_type *type;
        const mh_host_config *config;
        mh_ssh *ssh;            /* connected by mh_host_connect() */
        struct mh_systemd *systemd; /* opened on first use: mh_host_systemd(), or
                                     * mh_systemd_open() by a type; freed with h */
        char *run_dir;          /* this run's directory on the host */
        void *internal;         /* libmhc's bookkeeping; not for types */
};

/*
 * Every slot may be NULL: the call then fails with -EOPNOTSUPP and says so,
 * except done() and drop(), which are skipped.  Each returns 0 or a
 * negative code with error set; messages need not name the host (the
 * caller adds it).
 */
struct mh_host_type {
        unsigned abi;           /* MH_HOST_TYPE_ABI */
        const char *name;
        size_t size;            /* of the type's object, at least sizeof(mh_host) */

        /* Check the host's `config:` settings; no network yet. */
        int (*init)(mh_host *h, mh_error *error);
        /* Free what init() and the others allocated; may see a half-made host. */
        void (*done)(mh_host *h);

        int (*start)(mh_host *h, mh_error *error);
        int (*stop)(mh_host *h, mh_error *error);
        int (*ready)(mh_host *h, unsigned timeout_msec, mh_error *error);

        /* Fill b->dir (and b->data).  If it fails with b->data set, drop()
         * is called with a NULL error to free it; the library removes b->dir. */
        int (*backup)(mh_host *h, mh_backup *b, mh_error *error);
        int (*restore)(mh_host *h, mh_backup *b, const mh_restore_options *options,
                       mh_error *error);
        /* Forget what the type keeps of b (b->data, state outside b->dir);
         * the library then removes b->dir.  Also called for each backup
         * left when the host is freed, with a NULL error, after a lost
         * connection too: it must not block.  b is forgotten whether drop()
         * succeeds or not. */
        int (*drop)(mh_host *h, mh_backup *b, mh_error *error);
};

/* The built-in types, for types that extend one (call its slots). */
MH_EXPORT extern const mh_host_type mh_host_type_systemd;
MH_EXPORT extern const mh_host_type mh_host_type_postgresql;
MH_EXPORT extern const mh_host_type mh_host_type_script;

MH_END_DECLS

#endif
