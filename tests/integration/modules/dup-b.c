/* SPDX-License-Identifier: MIT */
/* The second test named same_name (see dup-a.c). */
#include <mhc/test.h>

MH_TEST(same_name, .topology = "one-client") {
}
