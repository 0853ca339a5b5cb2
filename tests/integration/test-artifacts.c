/* SPDX-License-Identifier: MIT */
/*
 * mhtest's artifact collection (src/mhtest/artifacts.c) against the lab:
 * it never follows a symbolic link (issue 10).  Once through mhtest, with
 * links that a test planted, and once called directly on a host that
 * changes between the listing of its files and their reading: the host's
 * command observer, which runs after each command, changes it there.
 */
/* check.h has an enum test_result of its own: name it otherwise here, for mhtest.h's. */
#define test_result check_test_result
#include <check.h>
#undef test_result
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mhc/clock.h>
#include <mhc/host.h>
#include <mhc/ssh.h>

#include "lab.h"
#include "util.h"
#include "check-run.h"

#include "mhtest-fixture.h"
#include "../../src/mhtest/mhtest.h"

/* --- what a collection kept ------------------------------------------------------ */

/* The walk: the files and links below walk_root, and the first file holding walk_secret. */
static const char *walk_root, *walk_secret;
static char *walk_paths[64];
static size_t walk_n, walk_more;
static char walk_leak[PATH_MAX];

static int list_file(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        _cleanup_free_ char *text = NULL;

        if (flag == FTW_D || flag == FTW_DP)
                return 0;
        if (walk_n < ELEMENTSOF(walk_paths))
                walk_paths[walk_n++] = strdup(path + strlen(walk_root) + 1);
        else
                walk_more++;
        if (flag == FTW_F) {
                text = read_all(path);
                if (strstr(text, walk_secret) && !walk_leak[0])
                        snprintf(walk_leak, sizeof(walk_leak), "%s", path);
        }
        return 0;
}

static int compare_strings(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The files and links below root, relative, one a line, sorted; fail if one holds secret. */
static char *kept_files(const char *root, const char *secret) {
        char *list = strdup("");

        walk_root = root;
        walk_secret = secret;
        walk_n = walk_more = 0;
        walk_leak[0] = '\0';
        ck_assert_int_eq(nftw(root, list_file, 16, FTW_PHYS), 0);
        qsort(walk_paths, walk_n, sizeof(*walk_paths), compare_strings);
        for (size_t i = 0; i < walk_n; i++) {
                lab_append(&list, "%s\n", walk_paths[i]);
                free(walk_paths[i]);
        }
        if (walk_more > 0)
                lab_append(&list, "and %zu more\n", walk_more);
        ck_assert_ptr_nonnull(list);
        ck_assert_msg(!walk_leak[0], "%s holds a line of /etc/shadow; kept:\n%.1000s", walk_leak,
                      list);
        return list;
}

/* The first line of the client's /etc/shadow: root's, with its hash. */
static char *shadow_line(void) {
        char *line = NULL;

        ck_assert_int_eq(on_host_output("client", "head -n 1 /etc/shadow", &line), 0);
        ck_assert_uint_gt(strlen(line), 8);
        return line;
}

/* --- through mhtest ---------------------------------------------------------------- */

/*
 * Links that a test planted under /root (see plants_links): one to /etc and
 * one to /etc/shadow in a directory that is collected, a link to /etc that
 * a glob goes through (which copied every file of /etc, the host's private
 * keys among them) and an artifact path that is a link to /etc/shadow.
 * errors.log names each link, and nothing of /etc is kept.
 */
START_TEST(test_links_are_not_followed) {
        static const char planted[] = "rm -rf /root/mhc-art /root/mhc-art-etc /root/mhc-art-shadow";
        const char *names[] = { "client" };
        const lab_conn conns[] = { {
                .yaml = "        backup:\n          paths: [/root]\n"
                        "        artifacts: [/root/mhc-art, '/root/mhc-art-etc/*', "
                        "/root/mhc-art-shadow]\n",
        } };
        _cleanup_free_ char *behaviours = module("behaviours"), *shadow = shadow_line();
        _cleanup_free_ char *root = NULL, *files = NULL, *text = NULL;
        fixture f;
        run r;

        ck_assert_int_eq(on_host("client", planted), 0);
        fixture_init(&f, 1, names, conns);
        MHTEST(&f, &r, "--tests", behaviours, "-k", "plants_links", "--collect-artifacts",
               "always");
        ck_assert_exit(&r, 0);
        /* The restore took the links away. */
        ck_assert_int_eq(on_host("client", "! [ -e /root/mhc-art ] && ! [ -L /root/mhc-art-etc ]"),
                         0);

        root = artifact(&f, "artifacts", "plants_links", NULL);
        files = kept_files(root, shadow);
        ck_assert_str_eq(files, "commands.log\nerrors.log\njournal.log\nroot/mhc-art/ok.log\n");
        text = artifact_text(&f, "artifacts", "plants_links", "root/mhc-art/ok.log");
        ck_assert_str_eq(text, "ok-artifact\n");
        free(text);
        text = artifact_text(&f, "artifacts", "plants_links", "errors.log");
        ck_assert_msg(strstr(text, "/root/mhc-art/etc: not collected, a symbolic link (not "
                                   "followed)\n") &&
                              strstr(text, "/root/mhc-art/shadow: not collected, a symbolic link "
                                           "(not followed)\n") &&
                              strstr(text, "/root/mhc-art-etc: a symbolic link to a directory, "
                                           "not followed: nothing under it was collected\n") &&
                              strstr(text, "/root/mhc-art-shadow: not collected, a symbolic link "
                                           "(not followed)\n") &&
                              count(text, "\n") == 4,
                      "errors.log:\n%.1500s", text);
        run_dispose(&r);
        fixture_dispose(&f);
        ck_assert_int_eq(on_host("client", planted), 0);
}
END_TEST

/* --- between the listing and the reading --------------------------------------------- */

#define RACE_DIR "/root/mhc-art-race"

static bool swapped;

/*
 * The observer of the host's commands: after the listing (the first
 * command that is not the journal's), a.log becomes a link to /etc/shadow
 * and the directory sub, which held a file named shadow, a link to /etc.
 */
static void swap_after_listing(const mh_command_record *record, void *userdata) {
        if (swapped || strncmp(record->command, "journalctl ", strlen("journalctl ")) == 0)
                return;
        swapped = true;
        ck_assert_int_eq(on_host("client", "cd " RACE_DIR " && rm a.log && ln -s /etc/shadow a.log "
                                           "&& mv sub sub.real && ln -s /etc sub"),
                         0);
}

/*
 * A file listed as a regular file that is a link when it is read, or whose
 * directory is, is not read through the link: nothing of /etc is kept,
 * errors.log says which and why, and the file that did not change is kept.
 */
START_TEST(test_links_made_after_the_listing_are_not_followed) {
        static const char cleanup[] = "rm -rf " RACE_DIR;
        const lab_conn conn = { .yaml = "        artifacts: [" RACE_DIR "]\n" };
        _cleanup_free_ char *shadow = shadow_line(), *files = NULL, *path = NULL, *text = NULL;
        char dir[] = "/tmp/mhc-artifacts-XXXXXX";
        mh_config *config = NULL;
        mh_error e = MH_ERROR_INIT;
        const mh_host_config *hc = lab_config_one("client", &conn, &config, &e);
        mh_host *h = NULL;
        int r;

        ck_assert_msg(hc, "%s", e.message);
        ck_assert_int_eq(on_host("client", cleanup), 0);
        ck_assert_int_eq(on_host("client", "mkdir -p " RACE_DIR "/sub && cd " RACE_DIR " && "
                                           "echo a >a.log && echo b-artifact >b.log && "
                                           "echo not-the-shadow >sub/shadow"),
                         0);
        ck_assert_ptr_nonnull(mkdtemp(dir));
        r = mh_host_new(hc, &h, &e);
        ck_assert_msg(r == 0, "%s", e.message);
        r = mh_host_connect(h, &e);
        ck_assert_msg(r == 0, "%s", e.message);
        mh_host_set_command_observer(h, swap_after_listing, NULL);

        swapped = false;
        r = collect_artifacts(dir, "race", "swap", h, mh_realtime_usec(), NULL, NULL, NULL, NULL,
                              &e);
        ck_assert_msg(r == 0, "%s", e.message);
        ck_assert(swapped);

        files = kept_files(dir, shadow);
        ck_assert_str_eq(files, "race/swap/client.lab.test/errors.log\n"
                                "race/swap/client.lab.test/journal.log\n"
                                "race/swap/client.lab.test/root/mhc-art-race/b.log\n");
        ck_assert_int_ge(asprintf(&path, "%s/race/swap/client.lab.test/errors.log", dir), 0);
        text = read_all(path);
        ck_assert_msg(strstr(text, RACE_DIR "/a.log: not collected, a symbolic link (not "
                                            "followed)\n") &&
                              strstr(text, RACE_DIR "/sub/shadow: not collected, a directory on "
                                                    "its path is a symbolic link (not "
                                                    "followed)\n") &&
                              count(text, "\n") == 2,
                      "errors.log:\n%.1500s", text);

        mh_host_free(h);
        mh_config_free(config);
        ck_assert_int_eq(on_host("client", cleanup), 0);
        ck_assert_int_eq(nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}
END_TEST

static Suite *artifacts_suite(void) {
        Suite *s = suite_create("artifacts");
        TCase *tc = tcase_create("links");

        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_links_are_not_followed);
        tcase_add_test(tc, test_links_made_after_the_listing_are_not_followed);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return run_suite(artifacts_suite());
}
