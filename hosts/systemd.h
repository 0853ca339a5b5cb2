/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The systemd host type's object, for the types that extend it
 * (hosts/postgresql.c): their object starts with an mh_systemd_host, their
 * size is at least sizeof(mh_systemd_host), and they call
 * mh_systemd_host_init() and then mh_host_type_systemd's other slots.
 * Never installed.
 */

#include <stdbool.h>
#include <stddef.h>

#include <mhc/error.h>
#include <mhc/sys/host.h>

/* config: service_paths: one unit and the absolute paths that concern it. */
typedef struct mh_systemd_service_paths {
        char *unit;
        char **paths;           /* without a trailing slash */
        size_t n_paths;
} mh_systemd_service_paths;

typedef struct mh_systemd_host {
        mh_host base;
        bool full_restore;      /* config: full_restore */
        bool verify;            /* config: verify */
        char **restart_always;  /* config: restart_always */
        size_t n_restart_always;
        mh_systemd_service_paths *service_paths; /* config: service_paths */
        size_t n_service_paths;
        char **paths;           /* backup.paths relative to /, for tar and find */
        size_t n_paths;
} mh_systemd_host;

/*
 * The systemd type's init() for a type that extends it: checks the
 * systemd keys of the host's `config:` and lets the keys extra_keys
 * (NULL-terminated, may be NULL) through for the subtype to check.
 */
int mh_systemd_host_init(mh_host *h, const char *const *extra_keys, mh_error *error);
