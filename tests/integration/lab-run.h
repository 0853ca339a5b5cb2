/* SPDX-License-Identifier: MIT */
#ifndef MH_TEST_LAB_RUN_H
#define MH_TEST_LAB_RUN_H

/* For Check test programs that look at the lab's hosts behind the back of
 * what they test.  Header-only.  Include after lab.h. */

#include <check.h>

#include <mhc/ssh.h>

/* Run a shell command on the lab host name over a session of our own; its exit status,
 * and its standard output in *ret_out unless ret_out is NULL. */
static inline int on_host_output(const char *name, const char *command, char **ret_out) {
        mh_config *config = NULL;
        mh_error e = MH_ERROR_INIT;
        const mh_host_config *host = lab_config_one(name, NULL, &config, &e);
        mh_exec_result res = {};
        mh_ssh *s = NULL;
        int status;

        ck_assert_msg(host, "%s", e.message);
        ck_assert_msg(mh_ssh_connect(host, &s, &e) >= 0, "%s", e.message);
        ck_assert_msg(mh_ssh_exec(s, command, NULL, &res, &e) >= 0, "%s", e.message);
        status = res.exit_status;
        if (ret_out) {
                *ret_out = res.out;
                res.out = NULL;
        }
        mh_exec_result_dispose(&res);
        mh_ssh_free(s);
        mh_config_free(config);
        return status;
}

/* Run a shell command on the lab host name over a session of our own; its exit status. */
static inline int on_host(const char *name, const char *command) {
        return on_host_output(name, command, NULL);
}

#endif
