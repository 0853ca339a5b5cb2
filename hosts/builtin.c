/* SPDX-License-Identifier: MIT */
/*
 * The host types linked into libmhc, looked up by name when mhc.yaml is
 * loaded, as plug-ins are by their symbol.  The only place that lists them.
 */
#include <stddef.h>

#include <mhc/sys/host.h>

extern const mh_host_type *const mh_builtin_host_types[];

const mh_host_type *const mh_builtin_host_types[] = {
        &mh_host_type_systemd,
        &mh_host_type_postgresql,
        &mh_host_type_script,
        NULL,
};
