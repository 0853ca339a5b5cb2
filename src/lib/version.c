/* SPDX-License-Identifier: MIT */
#include <mhc/version.h>

const char *mh_version(void) {
        return PACKAGE_VERSION;
}
