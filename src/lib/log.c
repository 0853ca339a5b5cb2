/* SPDX-License-Identifier: MIT */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include <mhc/log.h>

#include "util.h"

/* Set once by the program before it starts threads; read by every thread. */
static mh_log_fn log_handler;
static mh_log_level log_max_level = MH_LOG_INFO;
static void *log_userdata;

void mh_log_set_handler(mh_log_fn handler, mh_log_level max_level, void *userdata) {
        log_handler = handler;
        log_max_level = max_level;
        log_userdata = userdata;
}

const char *mh_log_level_to_string(mh_log_level level) {
        static const char *const names[] = {
                [MH_LOG_ERROR] = "error",
                [MH_LOG_WARNING] = "warning",
                [MH_LOG_INFO] = "info",
                [MH_LOG_DEBUG] = "debug",
        };

        if ((unsigned) level >= ELEMENTSOF(names))
                return "unknown";
        return names[level];
}

void mh_log(mh_log_level level, const char *host, const char *fmt, ...) {
        char line[2048];
        va_list ap;

        if (!log_handler || level > log_max_level)
                return;

        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);

        log_handler(level, host, line, log_userdata);
}
