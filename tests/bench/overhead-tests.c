/* SPDX-License-Identifier: MIT */
/*
 * The tests of the overhead benchmark (tests/bench/overhead): 50 trivial
 * tests on client-server-db.  Each runs `true` on one host (client, server
 * and db in turn) and changes nothing, so that what the benchmark measures
 * around them is the runner's and the controller's own work: starting the
 * test's process, serving its command, and restoring every host after it.
 */
#include <mhc/mhc.h>

static const char *const roles[] = { "client", "server", "db" };

static void trivial(mh_test *t, unsigned i) {
        MH_ASSERT_RUN_OK(t, mh_role(t, roles[i % 3], 0), "true");
}

#define TRIVIAL(suffix, i)                                          \
        MH_TEST(trivial_##suffix, .topology = "client-server-db") { \
                trivial(t, (i));                                    \
        }

/* trivial_d0 .. trivial_d9, in definition order. */
#define TEN(d)                      \
        TRIVIAL(d##0, 10 * (d) + 0) \
        TRIVIAL(d##1, 10 * (d) + 1) \
        TRIVIAL(d##2, 10 * (d) + 2) \
        TRIVIAL(d##3, 10 * (d) + 3) \
        TRIVIAL(d##4, 10 * (d) + 4) \
        TRIVIAL(d##5, 10 * (d) + 5) \
        TRIVIAL(d##6, 10 * (d) + 6) \
        TRIVIAL(d##7, 10 * (d) + 7) \
        TRIVIAL(d##8, 10 * (d) + 8) \
        TRIVIAL(d##9, 10 * (d) + 9)

TEN(0)
TEN(1)
TEN(2)
TEN(3)
TEN(4)
