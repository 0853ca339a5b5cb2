/* SPDX-License-Identifier: MIT */
#ifndef MHC_LOG_H
#define MHC_LOG_H

#include <stdint.h>

#include <mhc/common.h>

MH_BEGIN_DECLS

typedef enum mh_log_level {
        MH_LOG_ERROR,
        MH_LOG_WARNING,
        MH_LOG_INFO,
        MH_LOG_DEBUG,
} mh_log_level;

/*
 * The library never prints.  It hands each log line to the handler the
 * program installs: host is the hostname the line is about, or NULL for
 * the run as a whole.  Handlers are called from several threads at once.
 */
typedef void (*mh_log_fn)(mh_log_level level, const char *host, const char *message,
                          void *userdata);

/* Install handler (NULL: drop every line) and the most verbose level it gets. */
MH_EXPORT void mh_log_set_handler(mh_log_fn handler, mh_log_level max_level, void *userdata);

/* Write one formatted line to the installed handler, if level is wanted:
 * for host types and the library's own modules (never prints). */
MH_EXPORT void mh_log(mh_log_level level, const char *host, const char *fmt, ...) MH_PRINTF(3, 4);

/* Name of a level: "error", "warning", "info", "debug". */
MH_EXPORT const char *mh_log_level_to_string(mh_log_level level);

/* One remote command as it finished, for run logs and artifacts. */
typedef struct mh_command_record {
        const char *host;               /* hostname from mhc.yaml */
        const char *command;            /* the command as the caller gave it */
        int exit_status;                /* 0..255, or -1 if no status came back */
        int error;                      /* 0, or why the command did not finish */
        uint64_t duration_usec;
} mh_command_record;

/*
 * An observer of the commands of a session or host, called after each one
 * (mh_host_set_command_observer(), mh_ssh_set_command_observer()).
 */
typedef void (*mh_command_fn)(const mh_command_record *record, void *userdata);

MH_END_DECLS

#endif
