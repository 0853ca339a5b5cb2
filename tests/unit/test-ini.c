/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "ini.h"
#include "util.h"
#include "check-run.h"

static void check_set(const char *text, const char *section, const char *key, const char *value,
                      const char *expected) {
        _cleanup_free_ char *out = NULL;

        ck_assert_int_eq(mh_ini_set_text(text, section, key, value, &out), 0);
        ck_assert_str_eq(out, expected);
}

static const char sssd_conf[] =
        "# managed by hand\n"
        "[sssd]\n"
        "services = nss, pam\n"
        "domains = example.com\n"
        "\n"
        "[domain/example.com]\n"
        "id_provider = ldap\n"
        "  debug_level=2\n"
        "; the server\n"
        "ldap_uri = ldap://server\n"
        "\n";

START_TEST(test_replace_keeps_the_rest) {
        check_set(sssd_conf, "domain/example.com", "debug_level", "9",
                  "# managed by hand\n"
                  "[sssd]\n"
                  "services = nss, pam\n"
                  "domains = example.com\n"
                  "\n"
                  "[domain/example.com]\n"
                  "id_provider = ldap\n"
                  "  debug_level=9\n"
                  "; the server\n"
                  "ldap_uri = ldap://server\n"
                  "\n");
}
END_TEST

START_TEST(test_add_after_last_key) {
        check_set(sssd_conf, "sssd", "debug_level", "0x0070",
                  "# managed by hand\n"
                  "[sssd]\n"
                  "services = nss, pam\n"
                  "domains = example.com\n"
                  "debug_level = 0x0070\n"
                  "\n"
                  "[domain/example.com]\n"
                  "id_provider = ldap\n"
                  "  debug_level=2\n"
                  "; the server\n"
                  "ldap_uri = ldap://server\n"
                  "\n");
}
END_TEST

START_TEST(test_add_section) {
        check_set(sssd_conf, "pam", "offline_credentials_expiration", "2",
                  "# managed by hand\n"
                  "[sssd]\n"
                  "services = nss, pam\n"
                  "domains = example.com\n"
                  "\n"
                  "[domain/example.com]\n"
                  "id_provider = ldap\n"
                  "  debug_level=2\n"
                  "; the server\n"
                  "ldap_uri = ldap://server\n"
                  "\n"
                  "\n[pam]\n"
                  "offline_credentials_expiration = 2\n");
        check_set("", "pam", "a", "b", "[pam]\na = b\n");
        check_set("[x]\ny = 1", "pam", "a", "b", "[x]\ny = 1\n\n[pam]\na = b\n");
        check_set("[pam]", "pam", "a", "b", "[pam]\na = b\n");
}
END_TEST

START_TEST(test_remove) {
        check_set(sssd_conf, "domain/example.com", "ldap_uri", NULL,
                  "# managed by hand\n"
                  "[sssd]\n"
                  "services = nss, pam\n"
                  "domains = example.com\n"
                  "\n"
                  "[domain/example.com]\n"
                  "id_provider = ldap\n"
                  "  debug_level=2\n"
                  "; the server\n"
                  "\n");
        /* A key that is not there: nothing changes. */
        check_set(sssd_conf, "sssd", "nothere", NULL, sssd_conf);
        check_set(sssd_conf, "nosection", "nothere", NULL, sssd_conf);
}
END_TEST

START_TEST(test_duplicates_dropped) {
        check_set("[a]\nk = 1\nk = 2\n[b]\nk = 3\n", "a", "k", "4", "[a]\nk = 4\n[b]\nk = 3\n");
        check_set("[a]\nk = 1\nk = 2\n[b]\nk = 3\n", "a", "k", NULL, "[a]\n[b]\nk = 3\n");
}
END_TEST

START_TEST(test_no_section) {
        check_set("k = 1\n[a]\nk = 2\n", NULL, "k", "3", "k = 3\n[a]\nk = 2\n");
        check_set("j = 1\n[a]\nk = 2\n", "", "k", "3", "j = 1\nk = 3\n[a]\nk = 2\n");
        check_set("[a]\nk = 2\n", NULL, "k", "3", "k = 3\n[a]\nk = 2\n");
        check_set("", NULL, "k", "3", "k = 3\n");
}
END_TEST

/* krb5.conf: a key of a realm's nested block is not the section's key, and
 * a new key goes after the block. */
START_TEST(test_nested_blocks) {
        static const char krb5_conf[] =
                "[libdefaults]\n"
                " default_realm = EXAMPLE.COM\n"
                "[realms]\n"
                " EXAMPLE.COM = {\n"
                "  kdc = server\n"
                "  admin_server = server\n"
                " }\n"
                "[domain_realm]\n"
                " .example.com = EXAMPLE.COM\n";

        check_set(krb5_conf, "realms", "kdc", "other",
                  "[libdefaults]\n"
                  " default_realm = EXAMPLE.COM\n"
                  "[realms]\n"
                  " EXAMPLE.COM = {\n"
                  "  kdc = server\n"
                  "  admin_server = server\n"
                  " }\n"
                  "kdc = other\n"
                  "[domain_realm]\n"
                  " .example.com = EXAMPLE.COM\n");
        check_set(krb5_conf, "libdefaults", "dns_lookup_kdc", "false",
                  "[libdefaults]\n"
                  " default_realm = EXAMPLE.COM\n"
                  "dns_lookup_kdc = false\n"
                  "[realms]\n"
                  " EXAMPLE.COM = {\n"
                  "  kdc = server\n"
                  "  admin_server = server\n"
                  " }\n"
                  "[domain_realm]\n"
                  " .example.com = EXAMPLE.COM\n");
        check_set(krb5_conf, "libdefaults", "default_realm", "OTHER.ORG",
                  "[libdefaults]\n"
                  " default_realm = OTHER.ORG\n"
                  "[realms]\n"
                  " EXAMPLE.COM = {\n"
                  "  kdc = server\n"
                  "  admin_server = server\n"
                  " }\n"
                  "[domain_realm]\n"
                  " .example.com = EXAMPLE.COM\n");
}
END_TEST

START_TEST(test_invalid) {
        char *out = NULL;

        ck_assert_int_eq(mh_ini_set_text("", "a", "", "v", &out), -EINVAL);
        ck_assert_int_eq(mh_ini_set_text("", "a", NULL, "v", &out), -EINVAL);
        ck_assert_int_eq(mh_ini_set_text("", "a", "k=x", "v", &out), -EINVAL);
        ck_assert_int_eq(mh_ini_set_text("", "a", " k", "v", &out), -EINVAL);
        ck_assert_int_eq(mh_ini_set_text("", "a", "#k", "v", &out), -EINVAL);
        ck_assert_int_eq(mh_ini_set_text("", "a", "k", "v\nw = 1", &out), -EINVAL);
        ck_assert_int_eq(mh_ini_set_text("", "a]", "k", "v", &out), -EINVAL);
        ck_assert_int_eq(mh_ini_set_text("", "a\n[b", "k", "v", &out), -EINVAL);
        ck_assert_int_eq(mh_ini_set_text(NULL, "a", "k", "v", &out), -EINVAL);
        ck_assert_ptr_null(out);
}
END_TEST

static Suite *ini_suite(void) {
        Suite *s = suite_create("ini");
        TCase *tc = tcase_create("set");

        tcase_add_test(tc, test_replace_keeps_the_rest);
        tcase_add_test(tc, test_add_after_last_key);
        tcase_add_test(tc, test_add_section);
        tcase_add_test(tc, test_remove);
        tcase_add_test(tc, test_duplicates_dropped);
        tcase_add_test(tc, test_no_section);
        tcase_add_test(tc, test_nested_blocks);
        tcase_add_test(tc, test_invalid);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return run_suite(ini_suite());
}
