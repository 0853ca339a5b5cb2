/* SPDX-License-Identifier: MIT */
#ifndef MHTEST_H
#define MHTEST_H

#include <stdbool.h>
#include <stdio.h>

#include <mhc/mhc.h>

/* mhtest's exit statuses, as mhtest(1) documents them. */
enum {
        EXIT_PASSED = 0,        /* every test passed, every host usable */
        EXIT_FAILED = 1,        /* a test failed or errored */
        EXIT_USAGE = 2,         /* bad command line or configuration */
        EXIT_LAB = 3,           /* the lab is not usable */
};

typedef enum action {
        ACTION_RUN,
        ACTION_CHECK_HOSTS,
        ACTION_HELP,
        ACTION_VERSION,
} action;

typedef struct arguments {
        action action;
        const char *config_path;
        int verbosity;          /* -1 quiet, 0 normal, 1 and up verbose */
        bool color;
} arguments;

/* The terminal colour of a word, or "" when colour is off. */
const char *color_on(const arguments *args, const char *sgr);
const char *color_off(const arguments *args);

#define COLOR_RED "31"
#define COLOR_GREEN "32"
#define COLOR_YELLOW "33"
#define COLOR_BOLD "1"

/* mhtest --check-hosts: returns an exit status. */
int check_hosts(const arguments *args, const mh_config *config);

#endif
