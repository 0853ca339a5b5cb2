/* SPDX-License-Identifier: MIT */
/* Fuzz target: mhc.yaml parsing and validation (untrusted input). */
#include <stddef.h>
#include <stdint.h>

#include <mhc/config.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        mh_error error = MH_ERROR_INIT;
        mh_config *config = NULL;

        if (mh_config_parse((const char *) data, size, "fuzz.yaml", "/nonexistent", &config,
                            &error) >= 0) {
                for (size_t i = 0; i < mh_config_n_hosts(config); i++)
                        (void) mh_host_config_location(mh_config_host(config, i));
                mh_config_free(config);
        }
        return 0;
}
