/* SPDX-License-Identifier: MIT */
/*
 * The systemd host type against the lab's server: backing up and restoring
 * files (contents, modes, owners, times, links, ACLs, xattrs, odd names),
 * change-aware restores in one round trip, and the services around them.
 * Each test works under /srv/mhc-test-hs-PID with a throw-away unit
 * mhc-test-hs-PID.service in /run/systemd/system, both removed at the end;
 * what a failed test (whose process ended early) left is removed by the
 * unchecked fixture.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mhc/mhc.h>
#include <mhc/sys/host.h>

#include "lab.h"
#include "check-run.h"

static mh_config *config;      /* the admin session's */
static mh_config *host_config;  /* the host's, made by each test */
static mh_host *host;
static mh_ssh *admin;           /* a session of the test's own, to change things behind mhc */
static char dir[64];            /* /srv/mhc-test-hs-PID */
static char absent[80];         /* /srv/mhc-test-hs-PID-absent, a backup path absent at backup */
static char unit[64];           /* mhc-test-hs-PID.service */
static char fail_flag[80];      /* /run/mhc-test-hs-PID-fail: the unit cannot start meanwhile */

/* Run command as root on the server, expecting exit status 0; returns stdout (malloc'd). */
static char *sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *sh(const char *fmt, ...) {
        mh_error e = MH_ERROR_INIT;
        mh_exec_result res = {};
        char *command = NULL, *out;
        va_list ap;
        int r;

        va_start(ap, fmt);
        ck_assert_int_ge(vasprintf(&command, fmt, ap), 0);
        va_end(ap);
        r = mh_ssh_exec(admin, command, NULL, &res, &e);
        ck_assert_msg(r == 0, "'%s': %s", command, mh_error_message(&e, r));
        ck_assert_msg(res.exit_status == 0, "'%s' exited with %d: %s", command, res.exit_status,
                      res.err);
        free(command);
        out = res.out;
        res.out = NULL;
        mh_exec_result_dispose(&res);
        return out;
}

static void sh_ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh_ok(const char *fmt, ...) {
        char *command = NULL;
        va_list ap;

        va_start(ap, fmt);
        ck_assert_int_ge(vasprintf(&command, fmt, ap), 0);
        va_end(ap);
        free(sh("%s", command));
        free(command);
}

/*
 * Everything restore must bring back, as text: for each path its type,
 * size (not of directories), mode, owner, mtime, link count, name and
 * link target, the contents' checksums, ACLs and xattrs.  Not ctime and
 * inode, which no restore can keep.
 */
static char *snapshot(void) {
        return sh("cd / && { find %1$s %2$s \\( -type d -printf 'd - %%m %%U %%G %%T@ %%n %%p\\n' "
                  "-o -printf '%%y %%s %%m %%U %%G %%T@ %%n %%p -> %%l\\n' \\) 2>/dev/null | sort; "
                  "find %1$s -type f -exec md5sum {} + | sort; "
                  "getfacl -R -P -s --absolute-names %1$s; "
                  "getfattr -R -P -d -m - --absolute-names %1$s | grep -v '^security\\.'; } "
                  "2>&1",
                  dir + 1, absent + 1);
}

static char *unit_property(const char *property) {
        char *out = sh("systemctl show -p %s --value %s", property, unit);

        out[strcspn(out, "\n")] = '\0';
        return out;
}

static void assert_unit_active(void) {
        char *state = unit_property("ActiveState");

        ck_assert_str_eq(state, "active");
        free(state);
}

/* Make the host of the server with type systemd, the test's unit and paths (the
 * test's paths when NULL); extra is more YAML (at the host's indentation) or "". */
static void make_host_with(const char *paths, const char *extra) {
        const char *names[] = { "server" };
        mh_error e = MH_ERROR_INIT;
        char *yaml;
        int r;

        yaml = lab_config_yaml(1, names, NULL);
        ck_assert_ptr_nonnull(yaml);
        lab_append(&yaml,
                   "        type: systemd\n"
                   "        services: [%s]\n"
                   "        backup:\n"
                   "          paths: [%s]\n"
                   "%s",
                   unit, paths, extra);
        ck_assert_ptr_nonnull(yaml);
        r = mh_config_parse(yaml, strlen(yaml), "lab.yaml", "/", &host_config, &e);
        free(yaml);
        ck_assert_msg(r == 0, "config: %s", e.message);
        r = mh_host_new(mh_config_host(host_config, 0), &host, &e);
        ck_assert_msg(r == 0, "mh_host_new: %s", mh_error_message(&e, r));
        r = mh_host_connect(host, &e);
        ck_assert_msg(r == 0, "mh_host_connect: %s", mh_error_message(&e, r));
}

static void make_host(const char *extra) {
        char paths[256];

        snprintf(paths, sizeof(paths), "'%s', '%s'", dir, absent);
        make_host_with(paths, extra);
}

static void setup(void) {
        const char *names[] = { "server" };
        mh_error e = MH_ERROR_INIT;
        mh_config *c = NULL;
        char text[1024];
        int r;

        snprintf(dir, sizeof(dir), "/srv/mhc-test-hs-%d", (int) getpid());
        snprintf(absent, sizeof(absent), "%s-absent", dir);
        snprintf(unit, sizeof(unit), "mhc-test-hs-%d.service", (int) getpid());
        snprintf(fail_flag, sizeof(fail_flag), "/run/mhc-test-hs-%d-fail", (int) getpid());

        r = lab_config_new(1, names, NULL, &c, &e);
        ck_assert_msg(r == 0, "config: %s", e.message);
        r = mh_ssh_connect(mh_config_host(c, 0), &admin, &e);
        ck_assert_msg(r == 0, "connect: %s", mh_error_message(&e, r));
        /* admin keeps a pointer to the host config: keep c until teardown. */
        config = c;

        snprintf(text, sizeof(text),
                 "[Service]\nExecStartPre=/bin/sh -c 'test ! -e %s'\n"
                 "ExecStart=/bin/sleep infinity\n",
                 fail_flag);
        {
                char path[128];

                snprintf(path, sizeof(path), "/run/systemd/system/%s", unit);
                r = mh_ssh_write_file(admin, path, text, strlen(text), 0644, &e);
                ck_assert_msg(r == 0, "write unit: %s", mh_error_message(&e, r));
        }
        sh_ok("systemctl daemon-reload && systemctl start %s", unit);

        /* Files of all kinds, with an ACL, an xattr, links and odd names. */
        sh_ok("set -e; rm -rf %1$s %2$s; mkdir -p %1$s/sub/deep %1$s/svc; cd %1$s; "
              "echo hello >a; echo world >sub/b; ln a hl; ln -s a sym; echo deep >sub/deep/c; "
              "echo conf >svc/conf; printf x >\"$(printf 'new\\nline')\"; "
              "echo q >\"it's \\\"q\\\"\"; "
              "chown 1000:1000 sub/b; chmod 640 sub/b; "
              "setfattr -n user.color -v blue a; setfacl -m u:1234:r sub/b; "
              "setfacl -d -m u:4321:rx sub; touch -d '2020-01-02 03:04:05.123456789' sub/deep/c",
              dir, absent);
}

/* The backups the tests take, dropped before the host goes: a backup left
 * on the host is a dead run's to the next run of every configuration,
 * which cannot read one of this test's units (not among its services). */
static void drop_backups(void) {
        static const char *const names[] = { "t", MH_BACKUP_VANILLA, MH_BACKUP_TOPOLOGY };
        mh_error e = MH_ERROR_INIT;

        for (size_t i = 0; host && i < sizeof(names) / sizeof(names[0]); i++)
                if (mh_host_has_backup(host, names[i]))
                        (void) mh_host_drop_backup(host, names[i], &e);
}

static void teardown(void) {
        drop_backups();
        host = mh_host_free(host);
        host_config = mh_config_free(host_config);
        if (admin) {
                free(sh("systemctl stop %1$s; rm -rf /run/systemd/system/%1$s %2$s "
                        "/run/systemd/system/%1$s.d /usr/local/lib/systemd/system/%1$s.d; "
                        "systemctl daemon-reload; systemctl reset-failed %1$s; "
                        "rm -rf %3$s %4$s %3$s-victim %3$s-absent-link; true",
                        unit, fail_flag, dir, absent));
                admin = mh_ssh_free(admin);
        }
        config = mh_config_free(config);
}

static void host_free(void) {
        drop_backups();
        host = mh_host_free(host);
        host_config = mh_config_free(host_config);
}

static void backup(const char *name) {
        mh_error e = MH_ERROR_INIT;
        int r = mh_host_backup(host, name, &e);

        ck_assert_msg(r == 0, "backup: %s", mh_error_message(&e, r));
}

static void restore(const char *name, const mh_restore_options *o) {
        mh_error e = MH_ERROR_INIT;
        int r = mh_host_restore(host, name, o, &e);

        ck_assert_msg(r == 0, "restore: %s", mh_error_message(&e, r));
}

static size_t n_commands;

static void count_command(const mh_command_record *record, void *userdata) {
        (void) record;
        (void) userdata;
        __atomic_add_fetch(&n_commands, 1, __ATOMIC_SEQ_CST);
}

static char info_lines[4096];

static void capture_info(mh_log_level level, const char *h, const char *message, void *userdata) {
        (void) h;
        (void) userdata;
        if (level == MH_LOG_INFO && strlen(info_lines) + strlen(message) + 2 < sizeof(info_lines)) {
                strcat(info_lines, message);
                strcat(info_lines, "\n");
        }
}

static void capture_warnings(mh_log_level level, const char *h, const char *message,
                             void *userdata) {
        if (level == MH_LOG_WARNING)
                capture_info(MH_LOG_INFO, h, message, userdata);
}

/* Change everything restore must undo. */
static void mess_up(void) {
        sh_ok("set -e; cd %1$s; echo changed >>a; rm sym; ln -s sub sym; ln -s nowhere sym2; "
              "rm -f sub/deep/c; echo new >newfile; mkdir -p newdir/x; chmod 600 sub/b; "
              "chown 5:5 sub; setfacl -b sub/b; setfattr -x user.color a; "
              "setfattr -n user.other -v 1 hl; setfacl -m u:99:rwx newfile; "
              "rm \"$(printf 'new\\nline')\"; printf y >\"$(printf \"an'other\\nname\")\"; "
              "ln sub/b sub/hl2; rm svc/conf; mkdir svc/conf; mkdir -p %2$s; "
              "touch -d 2001-01-01 \"it's \\\"q\\\"\"",
              dir, absent);
}

/* ---------------------------------------------------------------------------------------- */

START_TEST(test_restore_everything) {
        char *before, *after, *id, *id_after, *out;

        make_host("");
        backup("t");
        before = snapshot();
        ck_assert_ptr_nonnull(strstr(before, "user.color=\"blue\""));
        ck_assert_ptr_nonnull(strstr(before, "user:1234:r--"));

        mess_up();
        sh_ok("systemctl stop %s", unit);
        id = unit_property("InvocationID");
        after = snapshot();
        ck_assert_str_ne(before, after);

        restore("t", NULL);
        free(after);
        after = snapshot();
        ck_assert_str_eq(before, after);
        assert_unit_active();
        id_after = unit_property("InvocationID");
        ck_assert_str_ne(id_after, "");

        /* Spelled out, in case snapshot() missed something. */
        out = sh("cat %1$s/a; getfattr --only-values -n user.color %1$s/a; echo; "
                 "getfacl -p %1$s/sub/b | grep 1234; stat -c '%%a %%u %%g %%h' %1$s/sub/b %1$s/a; "
                 "readlink %1$s/sym; test ! -e %1$s/newfile; test ! -e %2$s; "
                 "test ! -e %1$s/sym2; cat %1$s/svc/conf",
                 dir, absent);
        ck_assert_str_eq(out, "hello\nblue\nuser:1234:r--\n640 1000 1000 1\n644 0 0 2\na\nconf\n");
        free(out);
        free(before);
        free(after);
        free(id);
        free(id_after);
        host_free();
}
END_TEST

START_TEST(test_unchanged_is_one_command) {
        char *id, *id_after, *before, *after;
        size_t n;

        make_host("");
        backup("t");
        before = snapshot();
        id = unit_property("InvocationID");

        n_commands = 0;
        mh_host_set_command_observer(host, count_command, NULL);
        restore("t", NULL);
        mh_host_set_command_observer(host, NULL, NULL);
        n = n_commands;
        ck_assert_uint_eq(n, 1);

        id_after = unit_property("InvocationID");
        ck_assert_str_eq(id, id_after);
        after = snapshot();
        ck_assert_str_eq(before, after);
        free(id);
        free(id_after);
        free(before);
        free(after);
        host_free();
}
END_TEST

START_TEST(test_restore_twice) {
        char *before, *after, *id1, *id2, *id3;

        make_host("");
        backup("t");
        before = snapshot();
        mess_up();
        restore("t", NULL);
        after = snapshot();
        ck_assert_str_eq(before, after);
        free(after);
        id1 = unit_property("InvocationID");

        /* Again with other changes: the files come back, the unit restarts. */
        sh_ok("cd %1$s && echo again >sub/b && rm hl && touch -d 1999-01-01 sub", dir);
        restore("t", NULL);
        after = snapshot();
        ck_assert_str_eq(before, after);
        free(after);
        id2 = unit_property("InvocationID");
        ck_assert_str_ne(id1, id2);

        /* And with none: one command, the unit left alone. */
        n_commands = 0;
        mh_host_set_command_observer(host, count_command, NULL);
        restore("t", NULL);
        mh_host_set_command_observer(host, NULL, NULL);
        ck_assert_uint_eq(n_commands, 1);
        after = snapshot();
        ck_assert_str_eq(before, after);
        id3 = unit_property("InvocationID");
        ck_assert_str_eq(id2, id3);
        assert_unit_active();
        free(before);
        free(after);
        free(id1);
        free(id2);
        free(id3);
        host_free();
}
END_TEST

START_TEST(test_two_backups) {
        char *vanilla, *topology, *now;

        make_host("");
        backup(MH_BACKUP_VANILLA);
        vanilla = snapshot();

        /* Topology setup: some files more, one less, another mode. */
        sh_ok("cd %1$s && echo topo >topo && rm sub/deep/c && chmod 700 sub && mkdir %2$s && "
              "echo in >%2$s/f",
              dir, absent);
        backup(MH_BACKUP_TOPOLOGY);
        topology = snapshot();
        ck_assert_str_ne(vanilla, topology);

        mess_up();
        restore(MH_BACKUP_TOPOLOGY, NULL);
        now = snapshot();
        ck_assert_str_eq(now, topology);
        free(now);

        mess_up();
        restore(MH_BACKUP_VANILLA, NULL);
        now = snapshot();
        ck_assert_str_eq(now, vanilla);
        free(now);

        /* And back to the topology's state from the vanilla one. */
        restore(MH_BACKUP_TOPOLOGY, NULL);
        now = snapshot();
        ck_assert_str_eq(now, topology);
        free(now);
        free(vanilla);
        free(topology);
        host_free();
}
END_TEST

START_TEST(test_restart_on_new_invocation) {
        char *id0, *id1, *id2;

        make_host("");
        backup("t");
        id0 = unit_property("InvocationID");

        /* The test restarted the service: restore restarts it again. */
        sh_ok("systemctl restart %s", unit);
        id1 = unit_property("InvocationID");
        ck_assert_str_ne(id0, id1);
        restore("t", NULL);
        id2 = unit_property("InvocationID");
        ck_assert_str_ne(id2, id1);
        ck_assert_str_ne(id2, id0);
        assert_unit_active();
        free(id1);

        /* That restart is the baseline now: a second restore leaves it alone. */
        restore("t", NULL);
        id1 = unit_property("InvocationID");
        ck_assert_str_eq(id1, id2);
        free(id0);
        free(id1);
        free(id2);
        host_free();
}
END_TEST

START_TEST(test_service_paths) {
        char extra[512], *id0, *id1, *id2;

        snprintf(extra, sizeof(extra), "        config:\n          service_paths:\n"
                 "            %s: ['%s/svc']\n", unit, dir);
        make_host(extra);
        backup("t");
        id0 = unit_property("InvocationID");

        /* A change outside the unit's paths leaves it running as it was... */
        sh_ok("echo x >>%s/a", dir);
        restore("t", NULL);
        id1 = unit_property("InvocationID");
        ck_assert_str_eq(id0, id1);

        /* ...one inside restarts it. */
        sh_ok("echo x >>%s/svc/conf", dir);
        restore("t", NULL);
        id2 = unit_property("InvocationID");
        ck_assert_str_ne(id1, id2);
        assert_unit_active();
        free(id0);
        free(id1);
        free(id2);
        host_free();
}
END_TEST

/* A drop-in of the unit added by a test is removed by the restore, and
 * systemd reads the unit again before restarting it. */
START_TEST(test_unit_file_change_reloads) {
        /* Drop-ins under each directory that systemd reads units from. */
        static const char *const unit_dirs[] = { "/run/systemd/system",
                                                 "/usr/local/lib/systemd/system" };

        for (size_t i = 0; i < sizeof(unit_dirs) / sizeof(unit_dirs[0]); i++) {
                char paths[256], *env, *reload;

                sh_ok("mkdir -p %s/%s.d", unit_dirs[i], unit);
                snprintf(paths, sizeof(paths), "'%s', '%s/%s.d'", dir, unit_dirs[i], unit);
                make_host_with(paths, "");
                backup("t");

                sh_ok("printf '[Service]\\nEnvironment=MHC_TEST=changed\\n' "
                      ">%2$s/%1$s.d/env.conf && systemctl daemon-reload && "
                      "systemctl restart %1$s",
                      unit, unit_dirs[i]);
                env = unit_property("Environment");
                ck_assert_str_eq(env, "MHC_TEST=changed");
                free(env);

                restore("t", NULL);
                env = unit_property("Environment");
                reload = unit_property("NeedDaemonReload");
                ck_assert_msg(strcmp(env, "") == 0, "%s: Environment=%s", unit_dirs[i], env);
                ck_assert_str_eq(reload, "no");
                assert_unit_active();
                free(env);
                free(reload);
                host_free();
                sh_ok("rm -rf %s/%s.d", unit_dirs[i], unit);
        }
}
END_TEST

/* Only a file's contents changed, in place: it comes back and so does its
 * directory's mtime, which extracting the file changes; the unit restarts. */
START_TEST(test_contents_changed) {
        char *before, *after, *id0, *id1, expected[256];

        make_host("");
        backup("t");
        before = snapshot();
        id0 = unit_property("InvocationID");
        sh_ok("echo x >>%1$s/sub/deep/c", dir);
        info_lines[0] = '\0';
        mh_log_set_handler(capture_info, MH_LOG_INFO, NULL);
        restore("t", NULL);
        mh_log_set_handler(NULL, MH_LOG_ERROR, NULL);
        snprintf(expected, sizeof(expected),
                 "restore of 't': restored 2 paths, removed 0, restarted %s\n", unit);
        ck_assert_str_eq(info_lines, expected);
        after = snapshot();
        ck_assert_str_eq(before, after);
        id1 = unit_property("InvocationID");
        ck_assert_str_ne(id0, id1);
        free(before);
        free(after);
        free(id0);
        free(id1);
        host_free();
}
END_TEST

START_TEST(test_restart_always) {
        char extra[256], *id0, *id1;

        snprintf(extra, sizeof(extra), "        config:\n          restart_always: [%s]\n", unit);
        make_host(extra);
        backup("t");
        id0 = unit_property("InvocationID");
        restore("t", NULL);
        id1 = unit_property("InvocationID");
        ck_assert_str_ne(id0, id1);
        assert_unit_active();
        free(id0);
        free(id1);
        host_free();
}
END_TEST

/* Restores restart a unit more often than systemd's default start limit
 * (5 starts in 10 s) allows; each must still succeed. */
START_TEST(test_restart_often) {
        char extra[256];

        snprintf(extra, sizeof(extra), "        config:\n          restart_always: [%s]\n", unit);
        make_host(extra);
        backup("t");
        for (int i = 0; i < 8; i++) {
                restore("t", NULL);
                assert_unit_active();
        }
        host_free();
}
END_TEST

START_TEST(test_stopped_at_backup_stays_stopped) {
        char *state;

        sh_ok("systemctl stop %s", unit);
        make_host("");
        backup("t");
        sh_ok("systemctl start %s", unit);
        restore("t", NULL);
        state = unit_property("ActiveState");
        ck_assert_str_eq(state, "inactive");
        free(state);
        host_free();
}
END_TEST

START_TEST(test_full_restore) {
        mh_restore_options o = { .full = 1, .verify = 1 };
        char *before, *after, *id0, *id1, *ctime0, *ctime1;

        make_host("");
        backup("t");
        before = snapshot();
        id0 = unit_property("InvocationID");
        ctime0 = sh("stat -c %%z %s/sub/deep/c", dir);

        /* Nothing changed, but full restores everything anyway. */
        restore("t", &o);
        after = snapshot();
        ck_assert_str_eq(before, after);
        id1 = unit_property("InvocationID");
        ck_assert_str_ne(id0, id1);
        ctime1 = sh("stat -c %%z %s/sub/deep/c", dir);
        ck_assert_str_ne(ctime0, ctime1);
        free(after);

        mess_up();
        restore("t", &o);
        after = snapshot();
        ck_assert_str_eq(before, after);
        free(before);
        free(after);
        free(id0);
        free(id1);
        free(ctime0);
        free(ctime1);
        host_free();

        /* The same from config: full_restore: true. */
        make_host("        config:\n          full_restore: true\n");
        backup("t");
        id0 = unit_property("InvocationID");
        restore("t", NULL);
        id1 = unit_property("InvocationID");
        ck_assert_str_ne(id0, id1);
        free(id0);
        free(id1);
        host_free();
}
END_TEST

START_TEST(test_verify) {
        mh_restore_options o = { .verify = 1 };
        mh_error e = MH_ERROR_INIT;
        int r;

        make_host("");
        backup("t");
        mess_up();
        restore("t", &o);

        /*
         * Behind restore's back: change a file's mtime and make the baseline
         * restore compares with (DIR/current) say so, as if restore had put
         * it there.  Restore sees nothing to do; verify sees the difference.
         */
        sh_ok("touch -d 2001-01-01 %1$s/sub/deep/c && cd / && "
              "find %2$s \\( -type d -printf 'd 0 %%m %%U %%G %%T@ %%C@ %%i %%n %%p\\0' "
              "-o -printf '%%y %%s %%m %%U %%G %%T@ %%C@ %%i %%n %%p\\0' \\) | LC_ALL=C sort -z >%3$s/t/c && "
              "{ cat %3$s/t/c; printf '#end %%s\\0' $(tr -cd '\\000' <%3$s/t/c | wc -c); } "
              ">%3$s/t/current",
              dir, dir + 1, host->run_dir);
        restore("t", NULL);
        r = mh_host_restore(host, "t", &o, &e);
        ck_assert_int_eq(r, -ENOTRECOVERABLE);
        ck_assert_msg(strstr(e.message, "sub/deep/c"), "%s", e.message);
        ck_assert_msg(strstr(e.message, "differ from the backup"), "%s", e.message);
        host_free();

        /* config: verify: true does the same. */
        make_host("        config:\n          verify: true\n");
        backup("t");
        sh_ok("cd / && touch -d 2001-01-01 %1$s/a && "
              "find %2$s \\( -type d -printf 'd 0 %%m %%U %%G %%T@ %%C@ %%i %%n %%p\\0' "
              "-o -printf '%%y %%s %%m %%U %%G %%T@ %%C@ %%i %%n %%p\\0' \\) | LC_ALL=C sort -z >%3$s/t/c && "
              "{ cat %3$s/t/c; printf '#end %%s\\0' $(tr -cd '\\000' <%3$s/t/c | wc -c); } "
              ">%3$s/t/current",
              dir, dir + 1, host->run_dir);
        mh_error_clear(&e);
        r = mh_host_restore(host, "t", NULL, &e);
        ck_assert_int_eq(r, -ENOTRECOVERABLE);
        ck_assert_msg(strstr(e.message, "/a'"), "%s", e.message);
        host_free();
}
END_TEST

START_TEST(test_service_fails_to_start) {
        mh_error e = MH_ERROR_INIT;
        int r;

        make_host("");
        backup("t");
        sh_ok("systemctl stop %s && touch %s", unit, fail_flag);
        r = mh_host_restore(host, "t", NULL, &e);
        ck_assert_int_lt(r, 0);
        ck_assert_msg(strstr(e.message, unit), "%s", e.message);
        ck_assert_msg(strstr(e.message, "exit-code"), "%s", e.message);

        /* Fixed, the next restore starts it. */
        sh_ok("rm %s", fail_flag);
        restore("t", NULL);
        assert_unit_active();
        host_free();
}
END_TEST

/* A restore whose file script fails says why, naming the host once. */
START_TEST(test_restore_failure_message) {
        mh_error e = MH_ERROR_INIT;
        char want[512];
        int r;

        make_host("");
        backup("t");
        sh_ok("rm %s/t/files.sh && echo changed >>%s/a", host->run_dir, dir);
        r = mh_host_restore(host, "t", NULL, &e);
        ck_assert_int_eq(r, -MH_ERR_COMMAND);
        snprintf(want, sizeof(want),
                 "host 'server.lab.test': restore of files failed with exit status 2: sh: 0: "
                 "cannot open %s/t/files.sh: No such file",
                 host->run_dir);
        ck_assert_str_eq(e.message, want);
        host_free();
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* Exactness: what a restore must never do, and what it must put back. */

/* A parent of a backup path swapped for a link: nothing outside the path
 * changes, the parent comes back as the directory it was, the path too. */
START_TEST(test_symlinked_parent) {
        static const char *const modes[] = { "restore", "full" };

        for (size_t i = 0; i < 2; i++) {
                const mh_restore_options full = { .full = 1 };
                char paths[256], *before, *after, *out;

                sh_ok("set -e; mkdir -p %1$s/app/data %1$s-victim/data; echo mine >%1$s/app/data/f; "
                      "echo victim >%1$s-victim/data/f; echo keep >%1$s-victim/data/keep; "
                      "chmod 750 %1$s/app",
                      dir);
                snprintf(paths, sizeof(paths), "'%s/app/data'", dir);
                make_host_with(paths, "");
                backup("t");
                before = sh("cd %1$s-victim && find . -printf '%%y %%m %%p\\n' | sort && cat data/*",
                            dir);

                sh_ok("rm -rf %1$s/app && ln -s %1$s-victim %1$s/app", dir);
                restore("t", i == 1 ? &full : NULL);

                after = sh("cd %1$s-victim && find . -printf '%%y %%m %%p\\n' | sort && cat data/*",
                           dir);
                ck_assert_msg(strcmp(before, after) == 0, "%s changed %s-victim:\n%s\nnow:\n%s",
                              modes[i], dir, before, after);
                out = sh("stat -c '%%F %%a' %1$s/app && cat %1$s/app/data/f", dir);
                ck_assert_str_eq(out, "directory 750\nmine\n");
                free(out);
                free(before);
                free(after);
                host_free();
                sh_ok("rm -rf %1$s/app %1$s-victim", dir);
        }
}
END_TEST

/* A backup path below a link is refused at backup, with the link named. */
START_TEST(test_backup_under_link) {
        mh_error e = MH_ERROR_INIT;
        char paths[256];
        int r;

        sh_ok("mkdir -p %1$s/real/data && ln -s real %1$s/link", dir);
        snprintf(paths, sizeof(paths), "'%s/link/data'", dir);
        make_host_with(paths, "");
        r = mh_host_backup(host, "t", &e);
        ck_assert_int_eq(r, -MH_ERR_COMMAND);
        ck_assert_msg(strstr(e.message, "/link is a symbolic link"), "%s", e.message);
        host_free();
}
END_TEST

/* A baseline cut short, empty or missing: everything comes back. */
START_TEST(test_damaged_baseline) {
        static const char *const damage[] = { "truncate -s -7", ": >", "rm" };

        make_host("");
        backup("t");
        for (size_t i = 0; i < sizeof(damage) / sizeof(damage[0]); i++) {
                char *before = snapshot(), *after;

                mess_up();
                sh_ok("%s %s/t/current", damage[i], host->run_dir);
                info_lines[0] = '\0';
                mh_log_set_handler(capture_info, MH_LOG_INFO, NULL);
                restore("t", NULL);
                mh_log_set_handler(NULL, MH_LOG_ERROR, NULL);
                after = snapshot();
                ck_assert_msg(strcmp(before, after) == 0, "after '%s': not put back", damage[i]);
                ck_assert_msg(strstr(info_lines, "its baseline was damaged"), "%s", info_lines);
                free(before);
                free(after);
        }
        /* And the backup's own list damaged: refused. */
        mess_up();
        sh_ok("truncate -s -7 %s/t/manifest", host->run_dir);
        {
                mh_error e = MH_ERROR_INIT;
                int r = mh_host_restore(host, "t", NULL, &e);

                ck_assert_int_eq(r, -MH_ERR_COMMAND);
                ck_assert_msg(strstr(e.message, "is damaged"), "%s", e.message);
        }
        host_free();
}
END_TEST

/* What a unit writes as it stops is not carried into the next test. */
START_TEST(test_unit_writes_at_stop) {
        char text[512], path[128], *state;

        snprintf(path, sizeof(path), "/run/systemd/system/%s.d/stop.conf", unit);
        snprintf(text, sizeof(text), "[Service]\nExecStop=/bin/sh -c 'echo stopped >>%s/state'\n",
                 dir);
        sh_ok("mkdir -p /run/systemd/system/%s.d && echo started >%s/state", unit, dir);
        {
                mh_error e = MH_ERROR_INIT;
                int r = mh_ssh_write_file(admin, path, text, strlen(text), 0644, &e);

                ck_assert_msg(r == 0, "%s", mh_error_message(&e, r));
        }
        sh_ok("systemctl daemon-reload && systemctl restart %s && echo started >%s/state", unit,
              dir);
        make_host("");
        backup("t");

        /* A changed file (the unit restarts) and a restarted unit, in turn. */
        sh_ok("echo changed >>%s/a", dir);
        restore("t", NULL);
        state = sh("cat %s/state", dir);
        ck_assert_str_eq(state, "started\n");
        free(state);
        sh_ok("systemctl restart %s", unit);
        restore("t", NULL);
        state = sh("cat %s/state", dir);
        ck_assert_str_eq(state, "started\n");
        free(state);
        assert_unit_active();
        host_free();
}
END_TEST

/* A file written all along the backup: refused, with the file named. */
START_TEST(test_file_written_during_backup) {
        mh_error e = MH_ERROR_INIT;
        char writer[96];
        int r;

        snprintf(writer, sizeof(writer), "mhc-test-hs-%d-writer", (int) getpid());
        sh_ok("systemd-run --unit=%s --quiet /bin/sh -c 'while :; do echo x >>%s/sub/busy; done'",
              writer, dir);
        make_host("");
        r = mh_host_backup(host, "t", &e);
        sh_ok("systemctl stop %s; systemctl reset-failed %s 2>/dev/null; true", writer, writer);
        ck_assert_int_eq(r, -MH_ERR_COMMAND);
        ck_assert_msg(strstr(e.message, "sub/busy changed while it was backed up"), "%s",
                      e.message);
        host_free();
}
END_TEST

/* Extended attributes added to a directory, in every namespace that the
 * host lets root set, and a socket: gone after the restore. */
START_TEST(test_dir_xattrs_and_socket) {
        char *before, *after, *out;

        make_host("");
        backup("t");
        before = sh("getfattr -h -d -m - --absolute-names %1$s/sub %1$s 2>&1; ls -la %1$s", dir);
        sh_ok("setfattr -n user.added -v 1 %1$s/sub && setfattr -n trusted.added -v 2 %1$s/sub && "
              "setfattr -n security.added -v 3 %1$s && "
              "perl -MIO::Socket::UNIX -e 'IO::Socket::UNIX->new(Type => SOCK_STREAM(), "
              "Local => q(%1$s/sock), Listen => 1) or die qq($!)'",
              dir);
        out = sh("getfattr -h -d -m - --absolute-names %1$s/sub %1$s 2>&1; test -S %1$s/sock",
                 dir);
        ck_assert_msg(strstr(out, "trusted.added") && strstr(out, "security.added"), "%s", out);
        free(out);
        restore("t", NULL);
        after = sh("getfattr -h -d -m - --absolute-names %1$s/sub %1$s 2>&1; ls -la %1$s", dir);
        ck_assert_str_eq(before, after);
        free(before);
        free(after);
        host_free();
}
END_TEST

/* A file with a hard link outside the backup paths keeps it when its
 * contents come back; one replaced by another file is named. */
START_TEST(test_hard_link_outside) {
        char *out;

        sh_ok("ln %1$s/a %1$s-absent-link", dir);
        make_host("");
        backup("t");
        sh_ok("echo changed >%s/a", dir);
        restore("t", NULL);
        out = sh("cat %1$s-absent-link; stat -c %%h %1$s/a", dir);
        ck_assert_str_eq(out, "hello\n3\n");
        free(out);

        sh_ok("rm %1$s/a && echo other >%1$s/a", dir);
        info_lines[0] = '\0';
        mh_log_set_handler(capture_warnings, MH_LOG_INFO, NULL);
        restore("t", NULL);
        mh_log_set_handler(NULL, MH_LOG_ERROR, NULL);
        ck_assert_msg(strstr(info_lines, "/a had hard links outside the backup paths"), "%s",
                      info_lines);
        sh_ok("rm -f %s-absent-link", dir);
        host_free();
}
END_TEST

START_TEST(test_config_errors) {
        static const struct {
                const char *yaml;
                const char *message;
        } cases[] = {
                { "        config:\n          colour: red\n",
                  "unknown key 'colour' in config of systemd host" },
                { "        config:\n          verify: maybe\n", "must be true or false" },
                { "        config:\n          restart_always: [other.service]\n",
                  "'other.service' in 'restart_always' is not one of the host's services" },
                { "        config:\n          restart_always: x\n", "must be a sequence" },
                { "        backup:\n          paths: [/var]\n",
                  "backup path '/var' holds or lies in /var/lib/mhc" },
                { "        backup:\n          paths: [/etc, /var/lib/]\n",
                  "backup path '/var/lib/' holds or lies in /var/lib/mhc" },
                { "        backup:\n          paths: [/var/lib/mhc/run-x]\n",
                  "backup path '/var/lib/mhc/run-x' holds or lies in /var/lib/mhc" },
        };
        const char *names[] = { "server" };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                mh_error e = MH_ERROR_INIT;
                mh_config *c = NULL;
                char *yaml = lab_config_yaml(1, names, NULL);
                int r;

                lab_append(&yaml, "        type: systemd\n        services: [%s]\n%s", unit,
                           cases[i].yaml);
                ck_assert_ptr_nonnull(yaml);
                /* checked when the configuration is loaded */
                r = mh_config_parse(yaml, strlen(yaml), "lab.yaml", "/", &c, &e);
                free(yaml);
                ck_assert_int_eq(r, -MH_ERR_CONFIG);
                ck_assert_ptr_null(c);
                ck_assert_msg(strstr(e.message, cases[i].message), "%s", e.message);
                ck_assert_msg(strstr(e.message, "lab.yaml:"), "%s", e.message);
        }
}
END_TEST

/*
 * Remove what tests whose process is gone left on the server: a failed
 * check ends its process before the checked teardown.  Runs in the parent.
 */
static void remove_leftovers(void) {
        const char *names[] = { "server" };
        mh_error e = MH_ERROR_INIT;
        mh_exec_result res = {};
        mh_config *c = NULL;
        mh_ssh *s = NULL;
        char *save = NULL;

        if (lab_config_new(1, names, NULL, &c, &e) < 0 ||
            mh_ssh_connect(mh_config_host(c, 0), &s, &e) < 0) {
                fprintf(stderr, "cannot clean up the server: %s\n", e.message);
                mh_config_free(c);
                return;
        }
        if (mh_ssh_exec(s, "cd /run/systemd/system && ls -d mhc-test-hs-*.service 2>/dev/null",
                        NULL, &res, &e) == 0) {
                for (char *line = strtok_r(res.out, "\n", &save); line;
                     line = strtok_r(NULL, "\n", &save)) {
                        mh_exec_result done = {};
                        char command[512];
                        int pid;

                        if (sscanf(line, "mhc-test-hs-%d.service", &pid) != 1 || pid <= 0 ||
                            (kill(pid, 0) == 0 || errno != ESRCH))
                                continue;
                        snprintf(command, sizeof(command),
                                 "systemctl stop mhc-test-hs-%1$d.service; "
                                 "rm -rf /run/systemd/system/mhc-test-hs-%1$d.service "
                                 "/run/mhc-test-hs-%1$d-fail /srv/mhc-test-hs-%1$d "
                                 "/srv/mhc-test-hs-%1$d-absent /srv/mhc-test-hs-%1$d-victim "
                                 "/srv/mhc-test-hs-%1$d-absent-link "
                                 "/run/systemd/system/mhc-test-hs-%1$d.service.d "
                                 "/usr/local/lib/systemd/system/mhc-test-hs-%1$d.service.d; "
                                 "systemctl stop mhc-test-hs-%1$d-writer 2>/dev/null; "
                                 "systemctl daemon-reload; "
                                 "systemctl reset-failed mhc-test-hs-%1$d.service; true",
                                 pid);
                        (void) mh_ssh_exec(s, command, NULL, &done, &e);
                        mh_exec_result_dispose(&done);
                }
        }
        mh_exec_result_dispose(&res);
        mh_ssh_free(s);
        mh_config_free(c);
}

static Suite *host_systemd_suite(void) {
        Suite *s = suite_create("host-systemd");
        TCase *tc = tcase_create("restore");

        tcase_set_timeout(tc, 120);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_unchecked_fixture(tc, remove_leftovers, remove_leftovers);
        tcase_add_test(tc, test_restore_everything);
        tcase_add_test(tc, test_unchanged_is_one_command);
        tcase_add_test(tc, test_restore_twice);
        tcase_add_test(tc, test_two_backups);
        tcase_add_test(tc, test_restart_on_new_invocation);
        tcase_add_test(tc, test_service_paths);
        tcase_add_test(tc, test_contents_changed);
        tcase_add_test(tc, test_restart_always);
        tcase_add_test(tc, test_restart_often);
        tcase_add_test(tc, test_stopped_at_backup_stays_stopped);
        tcase_add_test(tc, test_full_restore);
        tcase_add_test(tc, test_verify);
        tcase_add_test(tc, test_service_fails_to_start);
        tcase_add_test(tc, test_restore_failure_message);
        tcase_add_test(tc, test_unit_file_change_reloads);
        tcase_add_test(tc, test_config_errors);
        tcase_add_test(tc, test_symlinked_parent);
        tcase_add_test(tc, test_backup_under_link);
        tcase_add_test(tc, test_damaged_baseline);
        tcase_add_test(tc, test_unit_writes_at_stop);
        tcase_add_test(tc, test_file_written_during_backup);
        tcase_add_test(tc, test_dir_xattrs_and_socket);
        tcase_add_test(tc, test_hard_link_outside);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return run_suite(host_systemd_suite());
}
