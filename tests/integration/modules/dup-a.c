/* SPDX-License-Identifier: MIT */
/* With dup-b.c, a module of two tests of one name, which mhtest refuses. */
#include <mhc/test.h>

MH_TEST(same_name, .topology = "one-client") {
}
