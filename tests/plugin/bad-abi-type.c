/* SPDX-License-Identifier: MIT */
/*
 * A host type plug-in built for another host type ABI: test-host checks
 * that libmhc refuses to load it.
 */
#include <mhc/sys/host.h>

/* The symbol libmhc looks up (MH_HOST_TYPE_PLUGIN_SYMBOL). */
MH_EXPORT extern const mh_host_type mh_host_type_plugin;

const mh_host_type mh_host_type_plugin = {
        .abi = 999,
        .name = "bad-abi",
        .size = sizeof(mh_host),
};
