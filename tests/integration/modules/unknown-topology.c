/* SPDX-License-Identifier: MIT */
/* A test that needs a topology no topology file defines. */
#include <mhc/test.h>

MH_TEST(needs_nowhere, .topology = "nowhere") {
}
