/* SPDX-License-Identifier: MIT */
/* Fuzz target: topology file parsing, validation and matching (untrusted input). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mhc/topology.h>

#include "fuzz.h"

/* A lab to match every topology against. */
static const char lab[] = "domains:\n"
                          "  - id: lab\n"
                          "    hosts:\n"
                          "      - {hostname: c.test, role: client}\n"
                          "      - {hostname: s.test, role: server}\n"
                          "      - {hostname: c2.test, role: client}\n";

static void match(const mh_topology *t, const mh_config *config, int exact) {
        mh_error error = MH_ERROR_INIT;
        const mh_host_config **hosts = NULL;
        size_t n;

        if (mh_topology_match(t, config, exact, &hosts, &n, &error) >= 0)
                free(hosts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        mh_error error = MH_ERROR_INIT;
        mh_topology *t = NULL;
        mh_config *config = NULL;

        if (mh_topology_parse((const char *) data, size, "fuzz.yaml", &t, &error) < 0)
                return 0;

        for (size_t d = 0; d < mh_topology_n_domains(t); d++)
                for (size_t r = 0; r < mh_topology_n_roles(t, d); r++)
                        (void) mh_topology_n_setup(t, mh_topology_role(t, d, r));
        if (mh_config_parse(lab, strlen(lab), "mhc.yaml", "/nonexistent", &config, &error) >= 0) {
                match(t, config, 0);
                match(t, config, 1);
                mh_config_free(config);
        }
        mh_topology_free(t);
        return 0;
}
