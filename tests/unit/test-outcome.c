/* SPDX-License-Identifier: MIT */
/* Outcome checks: mhc.yaml's checks:, and what the host's lines turn into. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <mhc/config.h>
#include <mhc/outcome.h>

#include "outcome-parse.h"
#include "util.h"
#include "check-run.h"

#define HOST "domains:\n  - id: lab\n    hosts:\n      - hostname: a.test\n        role: r\n"

static mh_config *parse(const char *text) {
        mh_config *c = NULL;
        mh_error e = MH_ERROR_INIT;

        ck_assert_msg(mh_config_parse(text, strlen(text), "mhc.yaml", "/", &c, &e) == 0, "%s",
                      e.message);
        return c;
}

static void parse_fails(const char *text, const char *message) {
        mh_config *c = NULL;
        mh_error e = MH_ERROR_INIT;

        ck_assert_int_lt(mh_config_parse(text, strlen(text), "mhc.yaml", "/", &c, &e), 0);
        ck_assert_ptr_null(c);
        ck_assert_msg(strstr(e.message, message), "'%s' not in: %s", message, e.message);
}

START_TEST(test_defaults_and_settings) {
        mh_config *c = parse(HOST);
        const mh_host_config *h = mh_config_host(c, 0);

        ck_assert_int_eq(mh_host_config_outcome(h, MH_OUTCOME_CORE_DUMPS), MH_OUTCOME_FAIL);
        ck_assert_int_eq(mh_host_config_outcome(h, MH_OUTCOME_OOPSES), MH_OUTCOME_FAIL);
        ck_assert_int_eq(mh_host_config_outcome(h, MH_OUTCOME_DENIALS), MH_OUTCOME_WARN);
        ck_assert_int_eq(mh_host_config_outcome(h, MH_OUTCOME_FAILED_UNITS), MH_OUTCOME_WARN);
        ck_assert_int_eq(mh_host_config_outcome(h, MH_OUTCOME_N_CHECKS), MH_OUTCOME_IGNORE);
        mh_config_free(c);

        c = parse(HOST "        checks: {core_dumps: warn, denials: fail, failed_units: ignore}\n");
        h = mh_config_host(c, 0);
        ck_assert_int_eq(mh_host_config_outcome(h, MH_OUTCOME_CORE_DUMPS), MH_OUTCOME_WARN);
        ck_assert_int_eq(mh_host_config_outcome(h, MH_OUTCOME_DENIALS), MH_OUTCOME_FAIL);
        ck_assert_int_eq(mh_host_config_outcome(h, MH_OUTCOME_OOPSES), MH_OUTCOME_FAIL);
        ck_assert_int_eq(mh_host_config_outcome(h, MH_OUTCOME_FAILED_UNITS), MH_OUTCOME_IGNORE);
        mh_config_free(c);

        ck_assert_str_eq(mh_outcome_check_to_string(MH_OUTCOME_FAILED_UNITS), "failed-units");
        ck_assert_str_eq(mh_outcome_action_to_string(MH_OUTCOME_IGNORE), "ignore");
}
END_TEST

START_TEST(test_bad_settings) {
        parse_fails(HOST "        checks: {core_dumps: maybe}\n", "mhc.yaml:6:");
        parse_fails(HOST "        checks: {core_dumps: maybe}\n", "maybe");
        parse_fails(HOST "        checks: {cores: fail}\n", "cores");
        parse_fails(HOST "        checks: [core_dumps]\n", "checks");
}
END_TEST

START_TEST(test_parse_lines) {
        static const char out[] =
                "F core-dumps Process 42 (busybox) of user 0 dumped core.\n"
                "E core-dumps Stack trace of thread 42:\n"
                "E core-dumps #0  0x00007f main (busybox)\n"
                "F failed-units unit mhc-web.service failed (signal)\n"
                "E failed-units mhc-web.service: Main process exited, code=killed, status=9/KILL\n";
        mh_config *c = parse(HOST "        checks: {failed_units: warn}\n");
        mh_outcome o = {};

        ck_assert_int_eq(mh_outcome_parse(out, strlen(out), mh_config_host(c, 0), &o), 0);
        ck_assert_uint_eq(o.n_findings, 2);
        ck_assert_int_eq(o.findings[0].check, MH_OUTCOME_CORE_DUMPS);
        ck_assert_int_eq(o.findings[0].action, MH_OUTCOME_FAIL);
        ck_assert_str_eq(o.findings[0].summary, "Process 42 (busybox) of user 0 dumped core.");
        ck_assert_int_eq(o.findings[1].check, MH_OUTCOME_FAILED_UNITS);
        ck_assert_int_eq(o.findings[1].action, MH_OUTCOME_WARN);
        ck_assert_ptr_eq(mh_outcome_failure(&o), &o.findings[0]);
        ck_assert_str_eq(o.evidence,
                         "core-dumps: Process 42 (busybox) of user 0 dumped core.\n"
                         "core-dumps: Stack trace of thread 42:\n"
                         "core-dumps: #0  0x00007f main (busybox)\n"
                         "failed-units: unit mhc-web.service failed (signal)\n"
                         "failed-units: mhc-web.service: Main process exited, code=killed, "
                         "status=9/KILL\n");
        ck_assert_uint_eq(o.evidence_size, strlen(o.evidence));
        mh_outcome_dispose(&o);
        ck_assert_ptr_null(o.findings);

        /* nothing found: no findings, no evidence, no failure */
        ck_assert_int_eq(mh_outcome_parse("", 0, mh_config_host(c, 0), &o), 0);
        ck_assert_uint_eq(o.n_findings, 0);
        ck_assert_ptr_null(o.evidence);
        ck_assert_ptr_null(mh_outcome_failure(&o));
        mh_config_free(c);
}
END_TEST

START_TEST(test_parse_refuses) {
        mh_config *c = parse(HOST);
        const char *const bad[] = { "X core-dumps a\n", "F cores a\n", "F\n", "Fcore-dumps a\n",
                                    "F core-dumps a\ngarbage\n" };
        mh_outcome o = {};

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                ck_assert_int_eq(mh_outcome_parse(bad[i], strlen(bad[i]), mh_config_host(c, 0), &o),
                                 -EBADMSG);
                ck_assert_uint_eq(o.n_findings, 0);
        }
        mh_config_free(c);
}
END_TEST

static Suite *outcome_suite(void) {
        Suite *s = suite_create("outcome");
        TCase *tc = tcase_create("outcome");

        tcase_add_test(tc, test_defaults_and_settings);
        tcase_add_test(tc, test_bad_settings);
        tcase_add_test(tc, test_parse_lines);
        tcase_add_test(tc, test_parse_refuses);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return run_suite(outcome_suite());
}
