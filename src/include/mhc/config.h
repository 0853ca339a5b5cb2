/* SPDX-License-Identifier: MIT */
#ifndef MHC_CONFIG_H
#define MHC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include <mhc/common.h>
#include <mhc/error.h>

MH_BEGIN_DECLS

/* A parsed and validated mhc.yaml (see mhc.yaml(5)); read-only once loaded. */
typedef struct mh_config mh_config;

/* One host of the lab; borrowed from its mh_config. */
typedef struct mh_host_config mh_host_config;

typedef enum mh_host_key_policy {
        MH_HOST_KEY_STRICT,     /* refuse unknown and changed keys (default) */
        MH_HOST_KEY_ACCEPT_NEW, /* add unknown keys to known_hosts, refuse changed ones */
        MH_HOST_KEY_OFF,        /* accept any key: for throw-away labs only */
} mh_host_key_policy;

/*
 * Load and validate the file at path.  Relative paths in it are resolved
 * against its directory and ${env:NAME} is expanded.  On failure error
 * says where: "mhc.yaml:12:5: unknown key 'hostnme' in host (did you mean
 * 'hostname'?)", and the code is -MH_ERR_CONFIG or -MH_ERR_YAML, or -errno
 * (-EFBIG for a file over 4 MiB) when the file cannot be read.
 */
MH_EXPORT int mh_config_load(const char *path, mh_config **ret, mh_error *error);

/* As mh_config_load() for text in memory; origin names it in messages and
 * relative paths are resolved against base_dir. */
MH_EXPORT int mh_config_parse(const char *text, size_t size, const char *origin,
                              const char *base_dir, mh_config **ret, mh_error *error);

/* Free c (NULL is fine); returns NULL. */
MH_EXPORT mh_config *mh_config_free(mh_config *c);

/* The file the configuration came from (its origin). */
MH_EXPORT const char *mh_config_path(const mh_config *c);

/* Hosts in the order of the file, across all domains. */
MH_EXPORT size_t mh_config_n_hosts(const mh_config *c);
MH_EXPORT const mh_host_config *mh_config_host(const mh_config *c, size_t i);
MH_EXPORT const mh_host_config *mh_config_find_host(const mh_config *c, const char *hostname);

/* The top-level `tests:` entries (module paths or globs, resolved). */
MH_EXPORT size_t mh_config_n_tests(const mh_config *c);
MH_EXPORT const char *mh_config_test(const mh_config *c, size_t i);

/* The top-level `topologies:` entries (directories, resolved). */
MH_EXPORT size_t mh_config_n_topology_dirs(const mh_config *c);
MH_EXPORT const char *mh_config_topology_dir(const mh_config *c, size_t i);

/* Where in the file the host is defined, "mhc.yaml:12:7", for messages. */
MH_EXPORT const char *mh_host_config_location(const mh_host_config *h);

MH_EXPORT const char *mh_host_config_hostname(const mh_host_config *h);
MH_EXPORT const char *mh_host_config_domain(const mh_host_config *h);
MH_EXPORT const char *mh_host_config_role(const mh_host_config *h);
/* The host type's name; "systemd" when the file does not say. */
MH_EXPORT const char *mh_host_config_type(const mh_host_config *h);

/* conn: how to reach the host.  The address defaults to the hostname. */
MH_EXPORT const char *mh_host_config_address(const mh_host_config *h);
MH_EXPORT unsigned mh_host_config_port(const mh_host_config *h);
MH_EXPORT const char *mh_host_config_user(const mh_host_config *h);
/* Absolute path of the private key file, or NULL (then ssh-agent is tried). */
MH_EXPORT const char *mh_host_config_private_key(const mh_host_config *h);
/* Whether a password is configured; the password itself is never exposed. */
MH_EXPORT int mh_host_config_has_password(const mh_host_config *h);
/* Absolute path of the known_hosts file, or NULL for ~/.ssh/known_hosts. */
MH_EXPORT const char *mh_host_config_known_hosts(const mh_host_config *h);
MH_EXPORT mh_host_key_policy mh_host_config_host_key_policy(const mh_host_config *h);
/* Seconds; defaults 10 and 600. */
MH_EXPORT unsigned mh_host_config_connect_timeout(const mh_host_config *h);
MH_EXPORT unsigned mh_host_config_command_timeout(const mh_host_config *h);

MH_EXPORT size_t mh_host_config_n_services(const mh_host_config *h);
MH_EXPORT const char *mh_host_config_service(const mh_host_config *h, size_t i);
MH_EXPORT size_t mh_host_config_n_backup_paths(const mh_host_config *h);
MH_EXPORT const char *mh_host_config_backup_path(const mh_host_config *h, size_t i);
MH_EXPORT size_t mh_host_config_n_artifacts(const mh_host_config *h);
MH_EXPORT const char *mh_host_config_artifact(const mh_host_config *h, size_t i);

/* features: what the host has, as free-form names ([A-Za-z0-9_.-]+, each
 * once), in the order of the file; none by default.  A test requires them
 * of a role's hosts with .requires (see mhc-test(3)).  has_feature is
 * case-sensitive, and false for a NULL feature. */
MH_EXPORT size_t mh_host_config_n_features(const mh_host_config *h);
MH_EXPORT const char *mh_host_config_feature(const mh_host_config *h, size_t i);
MH_EXPORT bool mh_host_config_has_feature(const mh_host_config *h, const char *feature);

/* The outcome checks after each test (mhc.yaml's checks:, <mhc/outcome.h>). */
typedef enum mh_outcome_check {
        MH_OUTCOME_CORE_DUMPS,   /* core_dumps: a process dumped core */
        MH_OUTCOME_DENIALS,      /* denials: SELinux or AppArmor denied something */
        MH_OUTCOME_OOPSES,       /* oopses: the kernel oopsed, BUG or WARNING */
        MH_OUTCOME_FAILED_UNITS, /* failed_units: a unit failed */
        MH_OUTCOME_N_CHECKS
} mh_outcome_check;

typedef enum mh_outcome_action {
        MH_OUTCOME_FAIL,   /* a passing test fails */
        MH_OUTCOME_WARN,   /* a warning and a note of the test */
        MH_OUTCOME_IGNORE, /* not looked for */
} mh_outcome_action;

/* What host h does with check c: its checks: in mhc.yaml, else the
 * default (core dumps and oopses fail, denials and failed units warn). */
MH_EXPORT mh_outcome_action mh_host_config_outcome(const mh_host_config *h, mh_outcome_check c);
/* "core-dumps", "denials", "oopses", "failed-units"; "fail", "warn", "ignore". */
MH_EXPORT const char *mh_outcome_check_to_string(mh_outcome_check c);
MH_EXPORT const char *mh_outcome_action_to_string(mh_outcome_action a);

/* Name of a policy as written in mhc.yaml: "strict", "accept-new", "off". */
MH_EXPORT const char *mh_host_key_policy_to_string(mh_host_key_policy p);

MH_END_DECLS

#endif
