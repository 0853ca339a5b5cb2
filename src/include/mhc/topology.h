/* SPDX-License-Identifier: MIT */
#ifndef MHC_TOPOLOGY_H
#define MHC_TOPOLOGY_H

#include <stddef.h>

#include <mhc/common.h>
#include <mhc/config.h>
#include <mhc/error.h>

MH_BEGIN_DECLS

/*
 * A topology (topologies/NAME.yaml, see mhc-topology(5)): the roles a test
 * needs, how many hosts of each, in which domains, the controller that
 * runs around its tests and the commands that set it up.  Read-only once
 * loaded.
 */
typedef struct mh_topology mh_topology;

/* Every topology of a run, by name. */
typedef struct mh_topology_set mh_topology_set;

typedef enum mh_controller_kind {
        MH_CONTROLLER_BACKUP, /* back up after setup, restore after each test (default) */
        MH_CONTROLLER_NONE,   /* no backups, no restores */
} mh_controller_kind;

/*
 * Load and validate one topology file.  Errors are located like those of
 * mhc.yaml: "topologies/client-db.yaml:4:7: unknown key 'rols' in domain
 * (did you mean 'roles'?)", -MH_ERR_CONFIG or -MH_ERR_YAML, or -errno when
 * the file cannot be read.
 */
MH_EXPORT int mh_topology_load(const char *path, mh_topology **ret, mh_error *error);

/* As mh_topology_load() for text in memory; origin names it in messages. */
MH_EXPORT int mh_topology_parse(const char *text, size_t size, const char *origin,
                                mh_topology **ret, mh_error *error);

MH_EXPORT mh_topology *mh_topology_free(mh_topology *t);

MH_EXPORT const char *mh_topology_name(const mh_topology *t);
MH_EXPORT const char *mh_topology_description(const mh_topology *t); /* "" if none */
MH_EXPORT const char *mh_topology_origin(const mh_topology *t);      /* the file */
MH_EXPORT mh_controller_kind mh_topology_controller(const mh_topology *t);

/* The domains, in file order, and the roles of each with their counts;
 * NULL or 0 past the end. */
MH_EXPORT size_t mh_topology_n_domains(const mh_topology *t);
MH_EXPORT const char *mh_topology_domain_id(const mh_topology *t, size_t d);
MH_EXPORT size_t mh_topology_n_roles(const mh_topology *t, size_t d);
MH_EXPORT const char *mh_topology_role(const mh_topology *t, size_t d, size_t r);
MH_EXPORT unsigned mh_topology_role_count(const mh_topology *t, size_t d, size_t r);

/* The setup commands of role (run on every host playing it, in order, once
 * when the topology starts); 0 when the role has none. */
MH_EXPORT size_t mh_topology_n_setup(const mh_topology *t, const char *role);
MH_EXPORT const char *mh_topology_setup(const mh_topology *t, const char *role, size_t i);

/*
 * The hosts of config that play the topology's roles: for each domain and
 * role of the topology, the first `count` hosts of config (in file order)
 * of that domain id and role.  exact: the domain must have exactly count
 * hosts of the role, and no host of a role the topology does not name.
 * *ret_hosts gets *ret_n hosts (malloc'd array, the caller's; the hosts are
 * borrowed from config), in topology order: domain by domain, role by
 * role, index by index.  When config cannot satisfy the topology, fails
 * with -ENOENT and says why in error: "needs 2 hosts with role 'db' in
 * domain 'lab', mhc.yaml has 1", "needs domain 'ad', mhc.yaml has none"
 * (mhc.yaml being mh_config_path(config)).
 */
MH_EXPORT int mh_topology_match(const mh_topology *t, const mh_config *config, int exact,
                                const mh_host_config ***ret_hosts, size_t *ret_n,
                                mh_error *error);

/*
 * Load every *.yaml file of the directories, in order (a directory that
 * does not exist is skipped when optional is set, else -ENOENT); within a
 * directory, files are read in byte order of their names, hidden ones
 * skipped.  Two topologies of one name are refused with both files named
 * (-MH_ERR_CONFIG).
 */
MH_EXPORT int mh_topology_set_load(const char *const *dirs, size_t n_dirs, int optional,
                                   mh_topology_set **ret, mh_error *error);
MH_EXPORT mh_topology_set *mh_topology_set_free(mh_topology_set *s);
MH_EXPORT size_t mh_topology_set_size(const mh_topology_set *s);
MH_EXPORT const mh_topology *mh_topology_set_get(const mh_topology_set *s, size_t i);
/* NULL when there is none of that name. */
MH_EXPORT const mh_topology *mh_topology_set_find(const mh_topology_set *s, const char *name);

MH_END_DECLS

#endif
