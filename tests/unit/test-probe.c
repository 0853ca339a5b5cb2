/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <errno.h>

#include "probe.h"
#include "check-run.h"

static const char debian[] =
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"
        "NAME=\"Debian GNU/Linux\"\n"
        "VERSION_ID=\"12\"\n"
        "ID=debian\n"
        "HOME_URL='https://example.invalid/'\n"
        "ESCAPED=\"a \\\"quoted\\\" \\$word\"\n"
        "BROKEN=\"no end\n"
        "EMPTY=\n";

START_TEST(test_os_release_values) {
        char buf[64];

        ck_assert_int_eq(mh_os_release_get(debian, "PRETTY_NAME", buf, sizeof(buf)), 0);
        ck_assert_str_eq(buf, "Debian GNU/Linux 12 (bookworm)");
        ck_assert_int_eq(mh_os_release_get(debian, "ID", buf, sizeof(buf)), 0);
        ck_assert_str_eq(buf, "debian");
        ck_assert_int_eq(mh_os_release_get(debian, "HOME_URL", buf, sizeof(buf)), 0);
        ck_assert_str_eq(buf, "https://example.invalid/");
        ck_assert_int_eq(mh_os_release_get(debian, "ESCAPED", buf, sizeof(buf)), 0);
        ck_assert_str_eq(buf, "a \"quoted\" $word");
        ck_assert_int_eq(mh_os_release_get(debian, "EMPTY", buf, sizeof(buf)), 0);
        ck_assert_str_eq(buf, "");
}
END_TEST

START_TEST(test_os_release_errors) {
        char buf[8];

        ck_assert_int_eq(mh_os_release_get(debian, "NAME_", buf, sizeof(buf)), -ENOENT);
        ck_assert_int_eq(mh_os_release_get(debian, "PRETTY", buf, sizeof(buf)), -ENOENT);
        ck_assert_int_eq(mh_os_release_get(debian, "BROKEN", buf, sizeof(buf)), -EBADMSG);
        ck_assert_int_eq(mh_os_release_get("", "ID", buf, sizeof(buf)), -ENOENT);
        ck_assert_int_eq(mh_os_release_get("ID=\"", "ID", buf, sizeof(buf)), -EBADMSG);
        /* Truncated to the buffer, still terminated. */
        ck_assert_int_eq(mh_os_release_get(debian, "PRETTY_NAME", buf, sizeof(buf)), 0);
        ck_assert_str_eq(buf, "Debian ");
}
END_TEST

static Suite *probe_suite(void) {
        Suite *s = suite_create("probe");
        TCase *tc = tcase_create("os-release");

        tcase_add_test(tc, test_os_release_values);
        tcase_add_test(tc, test_os_release_errors);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return run_suite(probe_suite());
}
