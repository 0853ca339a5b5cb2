/* SPDX-License-Identifier: MIT */
/*
 * mhtest --recover: connect to every host of the lab, put back those that
 * runs which died left dirty (the library logs one warning per dead run),
 * and say how each host is.
 */
#include <stdio.h>

#include <mhc/controller.h>

#include "mhtest.h"
#include "util.h"

int recover_lab(const arguments *args, const mh_config *config) {
        mh_error e = MH_ERROR_INIT;
        mh_lab *lab = NULL;
        size_t bad = 0;

        if (mh_lab_new(config, &lab, &e) < 0) {
                fprintf(stderr, "mhtest: %s\n", e.message);
                return EXIT_USAGE;
        }
        /* What the console prints of the hosts never shows their secrets. */
        {
                size_t n = 0, k = 0;
                const char **secrets;

                for (size_t i = 0; i < mh_lab_n_hosts(lab); i++)
                        n += mh_host_n_secrets(mh_lab_host(lab, i));
                secrets = calloc(n + 1, sizeof(*secrets));
                for (size_t i = 0; secrets && i < mh_lab_n_hosts(lab); i++)
                        for (size_t j = 0; j < mh_host_n_secrets(mh_lab_host(lab, i)); j++)
                                secrets[k++] = mh_host_secret(mh_lab_host(lab, i), j);
                if (!secrets || console_set_secrets(secrets) < 0) {
                        free(secrets);
                        mh_lab_free(lab);
                        fprintf(stderr, "mhtest: out of memory\n");
                        return EXIT_USAGE;
                }
                free(secrets);
        }
        mh_lab_set_lock_wait(lab, args->lock_wait_sec);
        (void) mh_lab_recover(lab, &e);
        for (size_t i = 0; i < mh_lab_n_hosts(lab); i++) {
                const char *problem = mh_lab_host_problem(lab, i);

                if (problem) {
                        bad++;
                        console_printf(stdout, "%s: %sunusable%s: %s\n",
                                       mh_host_name(mh_lab_host(lab, i)),
                                       color_on(args, COLOR_RED), color_off(args), problem);
                } else
                        console_printf(stdout, "%s: %sclean%s\n", mh_host_name(mh_lab_host(lab, i)),
                                       color_on(args, COLOR_GREEN), color_off(args));
        }
        mh_lab_free(lab);
        (void) console_set_secrets(NULL);
        return bad ? EXIT_LAB : EXIT_PASSED;
}
