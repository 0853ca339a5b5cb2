/* SPDX-License-Identifier: MIT */
#ifndef MH_CHECK_RUN_H
#define MH_CHECK_RUN_H

/* The main() of every Check test program: run one suite, exit 0 or 1. */

#include <check.h>
#include <stdlib.h>

static inline int run_suite(Suite *s) {
        SRunner *sr = srunner_create(s);
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
