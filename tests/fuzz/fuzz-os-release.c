/* SPDX-License-Identifier: MIT */
/* Fuzz target: os-release(5) text as a host sends it (untrusted input). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "probe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *text, buf[64];

        text = malloc(size + 1);
        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = '\0';
        (void) mh_os_release_get(text, "PRETTY_NAME", buf, sizeof(buf));
        (void) mh_os_release_get(text, "ID", buf, 1);
        free(text);
        return 0;
}
