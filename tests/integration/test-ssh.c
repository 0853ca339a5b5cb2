/* SPDX-License-Identifier: MIT */
/*
 * mh_ssh against the lab's real hosts: connecting, host keys, auth,
 * commands, SFTP, timeouts and reconnecting.  Runs inside the lab's network
 * namespace (tests/run-test does that); skipped when the lab is not up.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mhc/mhc.h>

#include "lab.h"
#include "check-run.h"

#define MB (1000u * 1000u)

static double now_sec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* Connect to one lab host with conn, expecting success. */
static mh_ssh *connect_ok(const char *name, const lab_conn *conn, mh_config **ret_config) {
        mh_error e = MH_ERROR_INIT;
        const mh_host_config *host;
        mh_ssh *s = NULL;
        int r;

        host = lab_config_one(name, conn, ret_config, &e);
        ck_assert_msg(host, "config: %s", e.message);
        r = mh_ssh_connect(host, &s, &e);
        ck_assert_msg(r == 0, "connect to %s: %s", name, mh_error_message(&e, r));
        ck_assert_ptr_nonnull(s);
        return s;
}

/* Connect to one lab host with conn, expecting failure; returns the code, *e says why. */
static int connect_fail(const char *name, const lab_conn *conn, mh_error *e) {
        mh_config *config = NULL;
        const mh_host_config *host;
        mh_ssh *s = NULL;
        int r;

        host = lab_config_one(name, conn, &config, e);
        ck_assert_msg(host, "config: %s", e->message);
        r = mh_ssh_connect(host, &s, e);
        ck_assert_msg(r < 0, "connect to %s succeeded, expected a failure", name);
        ck_assert_ptr_null(s);
        ck_assert_int_eq(e->code, r);
        mh_config_free(config);
        return r;
}

/* Run command, expecting it to run; returns its exit status, *ret its result. */
static int run(mh_ssh *s, const char *command, const mh_exec_options *o, mh_exec_result *ret) {
        mh_error e = MH_ERROR_INIT;
        int r;

        r = mh_ssh_exec(s, command, o, ret, &e);
        ck_assert_msg(r == 0, "'%s': %s", command, mh_error_message(&e, r));
        return ret->exit_status;
}

/* Run command and return its stdout (malloc'd), asserting exit status 0. */
static char *run_out(mh_ssh *s, const char *command) {
        mh_exec_result res = {};
        char *out;

        ck_assert_msg(run(s, command, NULL, &res) == 0, "'%s' exited with %d: %s", command,
                      res.exit_status, res.err);
        out = res.out;
        res.out = NULL;
        mh_exec_result_dispose(&res);
        return out;
}

static char *make_temp_dir(void) {
        char *dir = strdup("/tmp/mhc-test-ssh-XXXXXX");

        ck_assert_ptr_nonnull(dir);
        ck_assert_ptr_nonnull(mkdtemp(dir));
        return dir;
}

static void remove_temp_dir(char *dir) {
        char cmd[512];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        ck_assert_int_eq(system(cmd), 0);
        free(dir);
}

/* Make an unencrypted (or passphrase-protected) ed25519 key at path. */
static void make_key(const char *path, const char *passphrase) {
        char cmd[1024];

        snprintf(cmd, sizeof(cmd),
                 "ssh-keygen -q -t ed25519 -N '%s' -C mhc-test -f '%s' </dev/null", passphrase,
                 path);
        ck_assert_int_eq(system(cmd), 0);
}

static void write_text(const char *path, const char *text) {
        FILE *f = fopen(path, "we");

        ck_assert_ptr_nonnull(f);
        ck_assert_int_ge(fputs(text, f), 0);
        ck_assert_int_eq(fclose(f), 0);
}

static char *read_text(const char *path) {
        char *buf = calloc(1, 1 << 16);
        FILE *f = fopen(path, "re");

        ck_assert_ptr_nonnull(buf);
        ck_assert_ptr_nonnull(f);
        ck_assert(fread(buf, 1, (1 << 16) - 1, f) < (1 << 16) - 1);
        fclose(f);
        return buf;
}

/* ---------------------------------------------------------------------------------------- */

START_TEST(test_connect_many) {
        const char *names[] = { "client", "server", "db" };
        mh_error errors[3] = { MH_ERROR_INIT, MH_ERROR_INIT, MH_ERROR_INIT };
        const mh_host_config *hosts[3];
        mh_ssh *sessions[3] = {};
        mh_config *config = NULL;
        mh_error e = MH_ERROR_INIT;
        int r;

        ck_assert_msg(lab_config_new(3, names, NULL, &config, &e) == 0, "%s", e.message);
        for (size_t i = 0; i < 3; i++)
                hosts[i] = mh_config_host(config, i);

        r = mh_ssh_connect_many(hosts, 3, sessions, errors);
        ck_assert_msg(r == 0, "%s / %s / %s", errors[0].message, errors[1].message,
                      errors[2].message);

        for (size_t i = 0; i < 3; i++) {
                char want[64], *out;

                ck_assert_ptr_nonnull(sessions[i]);
                ck_assert_ptr_eq(mh_ssh_host(sessions[i]), hosts[i]);
                ck_assert_str_eq(errors[i].message, "");
                ck_assert_int_eq(strncmp(mh_ssh_host_key_fingerprint(sessions[i]), "SHA256:", 7),
                                 0);
                ck_assert_uint_gt(strlen(mh_ssh_host_key_fingerprint(sessions[i])), 40);
                /* each session reaches its own host */
                out = run_out(sessions[i], "hostname -s");
                snprintf(want, sizeof(want), "%s\n", names[i]);
                ck_assert_str_eq(out, want);
                free(out);
        }
        /* three hosts, three different host keys */
        ck_assert_str_ne(mh_ssh_host_key_fingerprint(sessions[0]),
                         mh_ssh_host_key_fingerprint(sessions[1]));
        ck_assert_str_ne(mh_ssh_host_key_fingerprint(sessions[1]),
                         mh_ssh_host_key_fingerprint(sessions[2]));

        for (size_t i = 0; i < 3; i++)
                ck_assert_ptr_null(mh_ssh_free(sessions[i]));
        mh_config_free(config);
}
END_TEST

START_TEST(test_connect_many_partial_failure) {
        const char *names[] = { "server", "db" };
        lab_conn conns[2] = { {}, { .port = 2 } };
        mh_error errors[2] = { MH_ERROR_INIT, MH_ERROR_INIT };
        const mh_host_config *hosts[2];
        mh_ssh *sessions[2] = {};
        mh_config *config = NULL;
        mh_error e = MH_ERROR_INIT;
        int r;

        ck_assert_msg(lab_config_new(2, names, conns, &config, &e) == 0, "%s", e.message);
        hosts[0] = mh_config_host(config, 0);
        hosts[1] = mh_config_host(config, 1);

        r = mh_ssh_connect_many(hosts, 2, sessions, errors);
        ck_assert_int_eq(r, -ECONNREFUSED);
        ck_assert_ptr_nonnull(sessions[0]);
        ck_assert_ptr_null(sessions[1]);
        ck_assert_int_eq(errors[0].code, 0);
        ck_assert_int_eq(errors[1].code, -ECONNREFUSED);
        /* Its own error, naming where it failed; the SSH layer leaves naming the
         * host to its caller. */
        ck_assert_msg(strncmp(errors[1].message, "cannot connect to ", 18) == 0 &&
                              strstr(errors[1].message, ":2: connection refused"),
                      "%s", errors[1].message);
        ck_assert_msg(!strstr(errors[1].message, "host '"), "%s", errors[1].message);

        mh_ssh_free(sessions[0]);
        mh_config_free(config);
}
END_TEST

START_TEST(test_auth_wrong_key) {
        char *dir = make_temp_dir(), key[512], want[700];
        mh_error e = MH_ERROR_INIT;
        int r;

        snprintf(key, sizeof(key), "%s/id_ed25519", dir);
        make_key(key, "");

        unsetenv("SSH_AUTH_SOCK");
        r = connect_fail("server", &(lab_conn){ .private_key = key }, &e);
        ck_assert_int_eq(r, -MH_ERR_AUTH);
        snprintf(want, sizeof(want), "authentication as 'root' failed (tried: publickey %s", key);
        ck_assert_msg(strncmp(e.message, want, strlen(want)) == 0, "%s", e.message);
        remove_temp_dir(dir);
}
END_TEST

START_TEST(test_auth_passphrase_key) {
        char *dir = make_temp_dir(), key[512];
        mh_error e = MH_ERROR_INIT;
        int r;

        snprintf(key, sizeof(key), "%s/id_ed25519", dir);
        make_key(key, "correct horse");

        r = connect_fail("server", &(lab_conn){ .private_key = key }, &e);
        ck_assert_int_eq(r, -MH_ERR_AUTH);
        ck_assert_msg(strstr(e.message, "is protected by a passphrase"), "%s", e.message);
        ck_assert_msg(strstr(e.message, key), "%s", e.message);
        remove_temp_dir(dir);
}
END_TEST

START_TEST(test_auth_wrong_password) {
        const char *password = "not-the-Password-4711";
        mh_error e = MH_ERROR_INIT;
        int r;

        unsetenv("SSH_AUTH_SOCK");
        r = connect_fail("server",
                         &(lab_conn){ .user = LAB_PASSWORD_USER,
                                      .private_key = LAB_NO_KEY,
                                      .password = password },
                         &e);
        ck_assert_int_eq(r, -MH_ERR_AUTH);
        ck_assert_msg(
                strncmp(e.message, "authentication as 'mhcuser' failed (tried: password", 51) == 0,
                "%s", e.message);
        ck_assert_msg(!strstr(e.message, password), "the password is in the message: %s",
                      e.message);
        ck_assert_msg(!strstr(e.message, "4711"), "the password is in the message: %s", e.message);
}
END_TEST

START_TEST(test_auth_password) {
        char *password = lab_password(), *out;
        mh_config *config = NULL;
        mh_ssh *s;

        ck_assert_msg(password, "cannot read %s", LAB_PASSWORD_FILE);
        unsetenv("SSH_AUTH_SOCK");
        s = connect_ok("server",
                       &(lab_conn){ .user = LAB_PASSWORD_USER,
                                    .private_key = LAB_NO_KEY,
                                    .password = password },
                       &config);
        out = run_out(s, "id -un");
        ck_assert_str_eq(out, "mhcuser\n");
        free(out);
        mh_ssh_free(s);
        mh_config_free(config);
        free(password);
}
END_TEST

START_TEST(test_no_auth_method) {
        mh_error e = MH_ERROR_INIT;
        int r;

        unsetenv("SSH_AUTH_SOCK");
        r = connect_fail("server", &(lab_conn){ .private_key = LAB_NO_KEY }, &e);
        ck_assert_int_eq(r, -MH_ERR_AUTH);
        ck_assert_msg(strstr(e.message, "no way to authenticate as 'root'"), "%s", e.message);
}
END_TEST

/* A known_hosts naming the server's address with someone else's key. */
static void write_wrong_known_hosts(const char *dir, const char *path) {
        char key[512], pub[600], line[1024], address[128], *text;

        snprintf(key, sizeof(key), "%s/other", dir);
        make_key(key, "");
        snprintf(pub, sizeof(pub), "%s.pub", key);
        text = read_text(pub);
        ck_assert(lab_address("server", address, sizeof(address)));
        snprintf(line, sizeof(line), "%s %s", address, text);
        write_text(path, line);
        free(text);
}

START_TEST(test_host_key_changed) {
        char *dir = make_temp_dir(), kh[512], cmd[1200], *fp;
        mh_error e = MH_ERROR_INIT;
        int r;

        snprintf(kh, sizeof(kh), "%s/known_hosts", dir);
        write_wrong_known_hosts(dir, kh);

        r = connect_fail("server", &(lab_conn){ .known_hosts = kh }, &e);
        ck_assert_int_eq(r, -MH_ERR_HOST_KEY);
        ck_assert_msg(strncmp(e.message, "host key of ", 12) == 0, "%s", e.message);
        ck_assert_msg(strstr(e.message, "CHANGED"), "%s", e.message);
        ck_assert_msg(strstr(e.message, "SHA256:"), "%s", e.message);
        ck_assert_msg(strstr(e.message, kh), "%s", e.message);
        ck_assert_msg(strstr(e.message, "man-in-the-middle"), "%s", e.message);
        /* both fingerprints: the one known_hosts has, then the one the server shows */
        snprintf(cmd, sizeof(cmd),
                 "ssh-keygen -l -f '%s/other.pub' | cut -d' ' -f2 > '%s/other.fp'", dir, dir);
        ck_assert_int_eq(system(cmd), 0);
        snprintf(cmd, sizeof(cmd), "%s/other.fp", dir);
        fp = read_text(cmd);
        fp[strcspn(fp, "\n")] = '\0';
        ck_assert_msg(strncmp(fp, "SHA256:", 7) == 0, "%s", fp);
        ck_assert_msg(strstr(e.message, fp), "%s not in: %s", fp, e.message);
        free(fp);

        /* accept-new adds unknown keys only, never replaces a changed one */
        mh_error_clear(&e);
        r = connect_fail("server",
                         &(lab_conn){ .known_hosts = kh, .host_key_policy = "accept-new" }, &e);
        ck_assert_int_eq(r, -MH_ERR_HOST_KEY);
        ck_assert_msg(strstr(e.message, "CHANGED"), "%s", e.message);

        remove_temp_dir(dir);
}
END_TEST

START_TEST(test_host_key_unknown) {
        char *dir = make_temp_dir(), kh[512], address[128], cmd[1024];
        mh_error e = MH_ERROR_INIT;
        int r;

        /* the lab's known_hosts without the server's lines */
        ck_assert(lab_address("server", address, sizeof(address)));
        snprintf(kh, sizeof(kh), "%s/known_hosts", dir);
        snprintf(cmd, sizeof(cmd), "grep -v -e '^%s ' -e '^server' '%s' > '%s'", address,
                 LAB_KNOWN_HOSTS, kh);
        ck_assert_int_eq(system(cmd), 0);

        r = connect_fail("server", &(lab_conn){ .known_hosts = kh }, &e);
        ck_assert_int_eq(r, -MH_ERR_HOST_KEY);
        ck_assert_msg(strstr(e.message, "is not in"), "%s", e.message);
        ck_assert_msg(strstr(e.message, "SHA256:"), "%s", e.message);
        ck_assert_msg(strstr(e.message, "ssh-keyscan -p 22"), "%s", e.message);
        ck_assert_msg(strstr(e.message, "accept-new"), "%s", e.message);

        /* and a known_hosts that does not exist at all */
        mh_error_clear(&e);
        snprintf(kh, sizeof(kh), "%s/missing", dir);
        r = connect_fail("server", &(lab_conn){ .known_hosts = kh }, &e);
        ck_assert_int_eq(r, -MH_ERR_HOST_KEY);
        ck_assert_msg(strstr(e.message, "is not in"), "%s", e.message);

        remove_temp_dir(dir);
}
END_TEST

START_TEST(test_host_key_accept_new) {
        char *dir = make_temp_dir(), kh[512], address[128], *text, *fp;
        mh_config *config = NULL;
        mh_ssh *s;

        snprintf(kh, sizeof(kh), "%s/known_hosts", dir);
        write_text(kh, "");

        s = connect_ok("server", &(lab_conn){ .known_hosts = kh, .host_key_policy = "accept-new" },
                       &config);
        fp = strdup(mh_ssh_host_key_fingerprint(s));
        mh_ssh_free(s);
        mh_config_free(config);

        text = read_text(kh);
        ck_assert(lab_address("server", address, sizeof(address)));
        ck_assert_msg(strncmp(text, address, strlen(address)) == 0, "known_hosts: %s", text);
        free(text);

        /* now strict accepts it, and it is the same key */
        s = connect_ok("server", &(lab_conn){ .known_hosts = kh }, &config);
        ck_assert_str_eq(mh_ssh_host_key_fingerprint(s), fp);
        mh_ssh_free(s);
        mh_config_free(config);

        free(fp);
        remove_temp_dir(dir);
}
END_TEST

START_TEST(test_host_key_off) {
        char *dir = make_temp_dir(), kh[512];
        mh_config *config = NULL;
        mh_ssh *s;
        char *out;

        snprintf(kh, sizeof(kh), "%s/known_hosts", dir);
        write_wrong_known_hosts(dir, kh);
        s = connect_ok("server", &(lab_conn){ .known_hosts = kh, .host_key_policy = "off" },
                       &config);
        out = run_out(s, "echo ok");
        ck_assert_str_eq(out, "ok\n");
        free(out);
        mh_ssh_free(s);
        mh_config_free(config);
        remove_temp_dir(dir);
}
END_TEST

START_TEST(test_unreachable) {
        mh_error e = MH_ERROR_INIT;
        double t0 = now_sec(), elapsed;
        char address[160], subnet[128], *dot;
        int r;

        /* a free address of the lab's subnet: nobody answers */
        ck_assert(lab_address("server", subnet, sizeof(subnet)));
        dot = strrchr(subnet, '.');
        ck_assert_ptr_nonnull(dot);
        *dot = '\0';
        snprintf(address, sizeof(address), "%s.250", subnet);

        r = connect_fail("server", &(lab_conn){ .address = address, .connect_timeout = 2 }, &e);
        elapsed = now_sec() - t0;
        ck_assert_msg(r == -ETIMEDOUT || r == -EHOSTUNREACH, "%d: %s", r, e.message);
        ck_assert_msg(elapsed < 5.0, "took %.1f s", elapsed);
        ck_assert_msg(strstr(e.message, "cannot connect to "), "%s", e.message);
        ck_assert_msg(strstr(e.message, address), "%s", e.message);
        if (r == -ETIMEDOUT)
                ck_assert_msg(strstr(e.message, "timed out after 2s"), "%s", e.message);
        fprintf(stderr, "unreachable: %s after %.2f s\n", e.message, elapsed);
}
END_TEST

START_TEST(test_refused) {
        mh_error e = MH_ERROR_INIT;
        int r;

        r = connect_fail("server", &(lab_conn){ .port = 2 }, &e);
        ck_assert_int_eq(r, -ECONNREFUSED);
        ck_assert_msg(strncmp(e.message, "cannot connect to ", 18) == 0, "%s", e.message);
        ck_assert_msg(strstr(e.message, ":2: connection refused"), "%s", e.message);
}
END_TEST

/* --- commands ---------------------------------------------------------------------------- */

static mh_config *server_config;
static mh_ssh *server;

static void server_setup(void) {
        server = connect_ok("server", NULL, &server_config);
}

static void server_teardown(void) {
        server = mh_ssh_free(server);
        server_config = mh_config_free(server_config);
}

START_TEST(test_exit_status) {
        static const struct {
                const char *command;
                int status;
        } cases[] = {
                { "true", 0 },
                { "false", 1 },
                { "exit 42", 42 },
                { "exit 255", 255 },
                { "nosuchcommand-mhc 2>/dev/null", 127 },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                mh_exec_result res = {};

                ck_assert_int_eq(run(server, cases[i].command, NULL, &res), cases[i].status);
                ck_assert_int_eq(res.signal, 0);
                ck_assert_uint_gt(res.duration_usec, 0);
                mh_exec_result_dispose(&res);
        }
}
END_TEST

START_TEST(test_streams) {
        mh_exec_result res = {};

        ck_assert_int_eq(run(server, "echo out; echo err >&2; printf more", NULL, &res), 0);
        ck_assert_str_eq(res.out, "out\nmore");
        ck_assert_uint_eq(res.out_size, 8);
        ck_assert_str_eq(res.err, "err\n");
        ck_assert_uint_eq(res.err_size, 4);
        mh_exec_result_dispose(&res);
        ck_assert_ptr_null(res.out);

        /* no output at all: empty strings, not NULL */
        ck_assert_int_eq(run(server, "true", NULL, &res), 0);
        ck_assert_ptr_nonnull(res.out);
        ck_assert_ptr_nonnull(res.err);
        ck_assert_uint_eq(res.out_size, 0);
        ck_assert_uint_eq(res.err_size, 0);
        mh_exec_result_dispose(&res);

        /* both streams busy at once, stderr alone well over any window */
        ck_assert_int_eq(run(server,
                             "head -c 3000000 /dev/zero; head -c 5000000 /dev/zero >&2; "
                             "for i in $(seq 2000); do echo o$i; echo e$i >&2; done",
                             NULL, &res),
                         0);
        ck_assert_uint_eq(res.err_size, 5000000 + 2000 * 2 + 9 * 1 + 90 * 2 + 900 * 3 + 1001 * 4);
        ck_assert_uint_eq(res.out_size, res.err_size - 2000000);
        ck_assert_str_eq(res.out + res.out_size - 6, "o2000\n");
        ck_assert_str_eq(res.err + res.err_size - 6, "e2000\n");
        mh_exec_result_dispose(&res);
}
END_TEST

START_TEST(test_stdin) {
        size_t size = 4 * MB;
        uint8_t *data = malloc(size);
        mh_exec_options o = {};
        mh_exec_result res = {};
        uint32_t x = 12345;

        /* binary, with plenty of NULs */
        ck_assert_ptr_nonnull(data);
        for (size_t i = 0; i < size; i++) {
                x = x * 1103515245u + 12345u;
                data[i] = (i % 7 == 0) ? 0 : (uint8_t) (x >> 16);
        }
        o.input = data;
        o.input_size = size;

        ck_assert_int_eq(run(server, "cat", &o, &res), 0);
        ck_assert_uint_eq(res.out_size, size);
        ck_assert(memcmp(res.out, data, size) == 0);
        mh_exec_result_dispose(&res);

        /* the same through a byte count on the host */
        ck_assert_int_eq(run(server, "wc -c", &o, &res), 0);
        ck_assert_int_eq(atoi(res.out), (int) size);
        mh_exec_result_dispose(&res);

        /* a command that does not read its input */
        ck_assert_int_eq(run(server, "exit 3", &o, &res), 3);
        mh_exec_result_dispose(&res);

        /* no input: stdin is at EOF at once */
        ck_assert_int_eq(run(server, "cat; echo end", NULL, &res), 0);
        ck_assert_str_eq(res.out, "end\n");
        mh_exec_result_dispose(&res);
        free(data);
}
END_TEST

/* How many processes on the host run exactly argv (space-separated). */
static int count_processes(mh_ssh *s, const char *argv) {
        char cmd[512], *out;
        int n;

        snprintf(cmd, sizeof(cmd),
                 "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done | "
                 "grep -c -x '%s ' || true",
                 argv);
        out = run_out(s, cmd);
        n = atoi(out);
        free(out);
        return n;
}

/* A command line unique to this run, so that leftovers of another run never count:
 * prefix, then a number from the pid. */
static void unique(char *buf, size_t size, const char *prefix) {
        snprintf(buf, size, "%s%05u", prefix, (unsigned) getpid() % 100000u);
}

START_TEST(test_timeout) {
        mh_exec_options o = { .timeout_msec = 1000 };
        mh_exec_result res = {};
        mh_error e = MH_ERROR_INIT;
        double t0 = now_sec(), elapsed;
        char cmd[160], proc[64], want[256], *out;
        int r;

        unique(cmd, sizeof(cmd), "sleep 300.");
        r = mh_ssh_exec(server, cmd, &o, &res, &e);
        elapsed = now_sec() - t0;
        ck_assert_int_eq(r, -ETIMEDOUT);
        snprintf(want, sizeof(want), "command timed out after 1s: %s", cmd);
        ck_assert_str_eq(e.message, want);
        ck_assert_msg(elapsed >= 1.0 && elapsed < 4.0, "took %.2f s", elapsed);
        ck_assert_ptr_null(res.out);

        /* the remote command is gone, and the session still works */
        ck_assert_int_eq(count_processes(server, cmd), 0);
        out = run_out(server, "echo ok");
        ck_assert_str_eq(out, "ok\n");
        free(out);

        /* a command that ignores SIGTERM, with a child, gets SIGKILL */
        mh_error_clear(&e);
        unique(proc, sizeof(proc), "sleep 301.");
        snprintf(cmd, sizeof(cmd), "trap '' TERM; %s; %s", proc, proc);
        t0 = now_sec();
        r = mh_ssh_exec(server, cmd, &o, &res, &e);
        elapsed = now_sec() - t0;
        ck_assert_int_eq(r, -ETIMEDOUT);
        ck_assert_msg(elapsed >= 3.0 && elapsed < 6.0, "took %.2f s", elapsed);
        ck_assert_int_eq(count_processes(server, proc), 0);

        /* a fractional timeout */
        mh_error_clear(&e);
        o.timeout_msec = 1500;
        unique(cmd, sizeof(cmd), "sleep 302.");
        r = mh_ssh_exec(server, cmd, &o, &res, &e);
        ck_assert_int_eq(r, -ETIMEDOUT);
        ck_assert_msg(strstr(e.message, "timed out after 1.5s"), "%s", e.message);

        /* a command just inside its limit is not a timeout */
        o.timeout_msec = 2000;
        ck_assert_int_eq(run(server, "sleep 0.5; exit 124", &o, &res), 124);
        mh_exec_result_dispose(&res);

        /* the host's command_timeout applies when the options say nothing */
        server = mh_ssh_free(server);
        server_config = mh_config_free(server_config);
        server = connect_ok("server", &(lab_conn){ .command_timeout = 1 }, &server_config);
        mh_error_clear(&e);
        unique(cmd, sizeof(cmd), "sleep 303.");
        r = mh_ssh_exec(server, cmd, NULL, &res, &e);
        ck_assert_int_eq(r, -ETIMEDOUT);
        ck_assert_int_eq(count_processes(server, cmd), 0);
}
END_TEST

START_TEST(test_large_output) {
        mh_exec_result res = {};
        size_t size = 50 * MB;
        double t0 = now_sec(), elapsed;
        static const char line[] = "0123456789abcdefghijklmnopqrstuvwxyz\n";
        size_t n = sizeof(line) - 1;

        ck_assert_int_eq(run(server, "yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 50000000",
                             NULL, &res),
                         0);
        elapsed = now_sec() - t0;
        ck_assert_uint_eq(res.out_size, size);
        ck_assert_uint_eq(res.err_size, 0);
        for (size_t i = 0; i < size; i += n)
                ck_assert(memcmp(res.out + i, line, size - i < n ? size - i : n) == 0);
        ck_assert_int_eq(res.out[size], '\0');
        fprintf(stderr, "50 MB of output in %.2f s (%.0f MB/s)\n", elapsed, 50.0 / elapsed);
        mh_exec_result_dispose(&res);
}
END_TEST

START_TEST(test_max_output) {
        mh_exec_options o = { .max_output = 1000 };
        mh_exec_result res = {};
        mh_error e = MH_ERROR_INIT;
        char cmd[64], *out;
        double t0;
        int r;

        ck_assert_int_eq(run(server, "head -c 1000 /dev/zero", &o, &res), 0);
        ck_assert_uint_eq(res.out_size, 1000);
        mh_exec_result_dispose(&res);

        r = mh_ssh_exec(server, "head -c 100000 /dev/zero", &o, &res, &e);
        ck_assert_int_eq(r, -EFBIG);
        ck_assert_msg(strncmp(e.message, "stdout of the command went over 1000 bytes", 42) == 0,
                      "%s", e.message);

        mh_error_clear(&e);
        r = mh_ssh_exec(server, "head -c 1001 /dev/zero >&2", &o, &res, &e);
        ck_assert_int_eq(r, -EFBIG);
        ck_assert_msg(strstr(e.message, "stderr of the command went over 1000 bytes"), "%s",
                      e.message);

        /* a producer that never stops is ended */
        mh_error_clear(&e);
        t0 = now_sec();
        unique(cmd, sizeof(cmd), "yes mhc-overflow-");
        r = mh_ssh_exec(server, cmd, &o, &res, &e);
        ck_assert_int_eq(r, -EFBIG);
        ck_assert_msg(now_sec() - t0 < 3.0, "took %.1f s", now_sec() - t0);

        out = run_out(server, "echo ok");
        ck_assert_str_eq(out, "ok\n");
        free(out);
        ck_assert_int_eq(count_processes(server, cmd), 0);
}
END_TEST

START_TEST(test_signal) {
        mh_exec_result res = {};

        ck_assert_int_eq(run(server, "kill -TERM $$", NULL, &res), 128 + 15);
        ck_assert_int_eq(res.signal, 15);
        mh_exec_result_dispose(&res);

        ck_assert_int_eq(run(server, "kill -KILL $$", NULL, &res), 128 + 9);
        ck_assert_int_eq(res.signal, 9);
        mh_exec_result_dispose(&res);
}
END_TEST

START_TEST(test_many_commands) {
        /* each command's channel is closed on both sides: more than MaxSessions in a row */
        for (int i = 0; i < 150; i++) {
                mh_exec_result res = {};
                char cmd[32], want[32];

                snprintf(cmd, sizeof(cmd), "echo %d", i);
                snprintf(want, sizeof(want), "%d\n", i);
                ck_assert_int_eq(run(server, cmd, NULL, &res), 0);
                ck_assert_str_eq(res.out, want);
                mh_exec_result_dispose(&res);
        }
}
END_TEST

typedef struct records {
        pthread_mutex_t lock;
        mh_command_record items[16];
        char hosts[16][64];
        char commands[16][64];
        size_t n;
} records;

static void record_command(const mh_command_record *r, void *userdata) {
        records *rs = userdata;

        pthread_mutex_lock(&rs->lock);
        if (rs->n < 16) {
                rs->items[rs->n] = *r;
                snprintf(rs->hosts[rs->n], sizeof(rs->hosts[0]), "%s", r->host);
                snprintf(rs->commands[rs->n], sizeof(rs->commands[0]), "%s", r->command);
                rs->n++;
        }
        pthread_mutex_unlock(&rs->lock);
}

START_TEST(test_command_records) {
        static records rs = { .lock = PTHREAD_MUTEX_INITIALIZER };
        mh_exec_options o = { .timeout_msec = 500 };
        mh_exec_result res = {};
        mh_error e = MH_ERROR_INIT;

        mh_config *other_config = NULL;
        mh_ssh *other = connect_ok("server", NULL, &other_config);

        mh_ssh_set_command_observer(server, record_command, &rs);
        ck_assert_int_eq(run(server, "exit 3", NULL, &res), 3);
        mh_exec_result_dispose(&res);
        ck_assert_int_eq(mh_ssh_exec(server, "sleep 316", &o, &res, &e), -ETIMEDOUT);
        /* The observer is the session's: another session's commands are not its. */
        ck_assert_int_eq(run(other, "true", NULL, &res), 0);
        mh_exec_result_dispose(&res);
        mh_ssh_set_command_observer(server, NULL, NULL);
        ck_assert_int_eq(run(server, "true", NULL, &res), 0);
        mh_exec_result_dispose(&res);
        mh_ssh_free(other);
        mh_config_free(other_config);

        ck_assert_uint_eq(rs.n, 2);
        ck_assert_str_eq(rs.hosts[0], "server.lab.test");
        ck_assert_str_eq(rs.commands[0], "exit 3");
        ck_assert_int_eq(rs.items[0].exit_status, 3);
        ck_assert_int_eq(rs.items[0].error, 0);
        ck_assert_uint_gt(rs.items[0].duration_usec, 0);
        ck_assert_str_eq(rs.commands[1], "sleep 316");
        ck_assert_int_eq(rs.items[1].error, -ETIMEDOUT);
        ck_assert_uint_ge(rs.items[1].duration_usec, 500000);
}
END_TEST

/* --- SFTP -------------------------------------------------------------------------------- */

static void fill_random(const char *path, size_t size) {
        char cmd[1200];

        snprintf(cmd, sizeof(cmd), "head -c %zu /dev/urandom > '%s' && chmod 0751 '%s'", size, path,
                 path);
        ck_assert_int_eq(system(cmd), 0);
}

static char *slurp(const char *path, size_t *ret_size) {
        struct stat st;
        char *buf;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(fstat(fd, &st), 0);
        buf = malloc((size_t) st.st_size + 1);
        ck_assert_ptr_nonnull(buf);
        ck_assert_int_eq(read(fd, buf, (size_t) st.st_size), st.st_size);
        close(fd);
        *ret_size = (size_t) st.st_size;
        return buf;
}

START_TEST(test_sftp_roundtrip) {
        char *dir = make_temp_dir(), up[512], down[512], *a, *b, *out;
        mh_error e = MH_ERROR_INIT;
        size_t na, nb;
        double t0;
        int r;

        snprintf(up, sizeof(up), "%s/up", dir);
        snprintf(down, sizeof(down), "%s/down", dir);
        fill_random(up, 5 * MB);

        t0 = now_sec();
        r = mh_ssh_upload(server, up, "/tmp/mhc-test-sftp", &e);
        ck_assert_msg(r == 0, "%s", e.message);
        fprintf(stderr, "upload of 5 MB: %.2f s\n", now_sec() - t0);

        out = run_out(server, "stat -c '%s %a' /tmp/mhc-test-sftp");
        ck_assert_str_eq(out, "5000000 751\n");
        free(out);

        t0 = now_sec();
        r = mh_ssh_download(server, "/tmp/mhc-test-sftp", down, &e);
        ck_assert_msg(r == 0, "%s", e.message);
        fprintf(stderr, "download of 5 MB: %.2f s\n", now_sec() - t0);

        a = slurp(up, &na);
        b = slurp(down, &nb);
        ck_assert_uint_eq(na, 5 * MB);
        ck_assert_uint_eq(nb, na);
        ck_assert(memcmp(a, b, na) == 0);
        free(a);
        free(b);

        /* uploading over an existing file replaces it whole */
        write_text(up, "short\n");
        r = mh_ssh_upload(server, up, "/tmp/mhc-test-sftp", &e);
        ck_assert_msg(r == 0, "%s", e.message);
        out = run_out(server, "cat /tmp/mhc-test-sftp; rm -f /tmp/mhc-test-sftp");
        ck_assert_str_eq(out, "short\n");
        free(out);

        /* a missing local file is named */
        r = mh_ssh_upload(server, "/nonexistent/mhc", "/tmp/x", &e);
        ck_assert_int_eq(r, -ENOENT);
        ck_assert_str_eq(e.message,
                         "cannot read local file '/nonexistent/mhc': No such file or directory");

        remove_temp_dir(dir);
}
END_TEST

START_TEST(test_write_read_file) {
        static const char data[] = "line 1\n\0binary\377\n";
        mh_error e = MH_ERROR_INIT;
        char *got = NULL, *out;
        size_t size = 0;
        int r;

        r = mh_ssh_write_file(server, "/tmp/mhc-test-file", data, sizeof(data), 0640, &e);
        ck_assert_msg(r == 0, "%s", e.message);
        out = run_out(server, "stat -c '%s %a' /tmp/mhc-test-file");
        ck_assert_str_eq(out, "17 640\n");
        free(out);

        r = mh_ssh_read_file(server, "/tmp/mhc-test-file", 1024, &got, &size, &e);
        ck_assert_msg(r == 0, "%s", e.message);
        ck_assert_uint_eq(size, sizeof(data));
        ck_assert(memcmp(got, data, size) == 0);
        ck_assert_int_eq(got[size], '\0');
        free(got);

        /* rewriting sets the new mode, even one the umask would take away */
        r = mh_ssh_write_file(server, "/tmp/mhc-test-file", "x", 1, 0666, &e);
        ck_assert_msg(r == 0, "%s", e.message);
        out = run_out(server, "stat -c '%s %a' /tmp/mhc-test-file");
        ck_assert_str_eq(out, "1 666\n");
        free(out);

        /* an empty file reads as an empty string */
        r = mh_ssh_write_file(server, "/tmp/mhc-test-file", "", 0, 0600, &e);
        ck_assert_msg(r == 0, "%s", e.message);
        r = mh_ssh_read_file(server, "/tmp/mhc-test-file", 10, &got, &size, &e);
        ck_assert_msg(r == 0, "%s", e.message);
        ck_assert_uint_eq(size, 0);
        ck_assert_str_eq(got, "");
        free(got);

        /* over max_size */
        r = mh_ssh_write_file(server, "/tmp/mhc-test-file", data, sizeof(data), 0600, &e);
        ck_assert_msg(r == 0, "%s", e.message);
        got = NULL;
        r = mh_ssh_read_file(server, "/tmp/mhc-test-file", 16, &got, &size, &e);
        ck_assert_int_eq(r, -EFBIG);
        ck_assert_ptr_null(got);
        ck_assert_str_eq(e.message, "cannot read '/tmp/mhc-test-file': larger than 16 bytes");

        out = run_out(server, "rm /tmp/mhc-test-file && echo gone");
        ck_assert_str_eq(out, "gone\n");
        free(out);
}
END_TEST

START_TEST(test_sftp_errors) {
        mh_error e = MH_ERROR_INIT;
        char *got = NULL;
        size_t size = 0;
        int r;

        r = mh_ssh_read_file(server, "/nope/f", 1024, &got, &size, &e);
        ck_assert_int_eq(r, -ENOENT);
        ck_assert_str_eq(e.message, "cannot open '/nope/f': No such file");
        ck_assert_ptr_null(got);

        mh_error_clear(&e);
        r = mh_ssh_write_file(server, "/nope/f", "x", 1, 0644, &e);
        ck_assert_int_eq(r, -ENOENT);
        ck_assert_str_eq(e.message, "cannot open '/nope/f' for writing: No such file");

        mh_error_clear(&e);
        r = mh_ssh_download(server, "/nope/f", "/tmp/mhc-test-never", &e);
        ck_assert_int_eq(r, -ENOENT);
        ck_assert_int_ne(access("/tmp/mhc-test-never", F_OK), 0);

        /* the session is fine afterwards */
        r = mh_ssh_read_file(server, "/etc/hostname", 1024, &got, &size, &e);
        ck_assert_int_eq(r, 0);
        ck_assert_str_eq(got, "server.lab.test\n");
        free(got);
}
END_TEST

/* --- connection loss --------------------------------------------------------------------- */

/* The client port of s's connection, as the host sees it. */
static unsigned client_port(mh_ssh *s) {
        char *out = run_out(s, "echo $SSH_CLIENT");
        unsigned port = 0;

        ck_assert_msg(sscanf(out, "%*s %u", &port) == 1, "SSH_CLIENT: %s", out);
        free(out);
        return port;
}

/* From another session, kill every sshd process that holds the connection from port. */
static void kill_connection(mh_ssh *killer, unsigned port) {
        char cmd[512], *out;

        snprintf(cmd, sizeof(cmd),
                 "pids=$(ss -Htnp state established '( sport = :22 and dport = :%u )' | "
                 "grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); "
                 "test -n \"$pids\" && kill -9 $pids && echo killed",
                 port);
        out = run_out(killer, cmd);
        ck_assert_str_eq(out, "killed\n");
        free(out);
        usleep(200 * 1000);
}

START_TEST(test_reconnect) {
        mh_config *config = NULL;
        mh_error e = MH_ERROR_INIT;
        unsigned port, new_port;
        char *out, *got = NULL;
        mh_ssh *killer;
        size_t size;
        int r;

        killer = connect_ok("server", NULL, &config);

        /* the next command reconnects on its own */
        port = client_port(server);
        kill_connection(killer, port);
        new_port = client_port(server);
        ck_assert_uint_ne(new_port, port);
        out = run_out(server, "echo again");
        ck_assert_str_eq(out, "again\n");
        free(out);

        /* SFTP reconnects as well, here with an SFTP session open */
        r = mh_ssh_read_file(server, "/etc/hostname", 1024, &got, &size, &e);
        ck_assert_msg(r == 0, "%s", e.message);
        free(got);
        kill_connection(killer, new_port);
        r = mh_ssh_read_file(server, "/etc/hostname", 1024, &got, &size, &e);
        ck_assert_msg(r == 0, "%s", e.message);
        ck_assert_str_eq(got, "server.lab.test\n");
        free(got);
        ck_assert_uint_ne(client_port(server), new_port);

        mh_ssh_free(killer);
        mh_config_free(config);
}
END_TEST

START_TEST(test_lost_while_running) {
        mh_exec_result res = {};
        mh_error e = MH_ERROR_INIT;
        char *out;
        int r;

        /* the command kills the sshd that runs it: an error, never a second run */
        r = mh_ssh_exec(
                server,
                "echo once >> /tmp/mhc-test-once; p=${SSH_CLIENT#* }; p=${p%% *}; "
                "kill -9 $(ss -Htnp state established \"( sport = :22 and dport = :$p )\" | "
                "grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); sleep 1",
                NULL, &res, &e);
        ck_assert_int_eq(r, -MH_ERR_SSH);
        ck_assert_msg(strncmp(e.message, "connection lost while the command ran", 37) == 0, "%s",
                      e.message);

        out = run_out(server, "cat /tmp/mhc-test-once; rm /tmp/mhc-test-once");
        ck_assert_str_eq(out, "once\n");
        free(out);
}
END_TEST

/* --- forwards ------------------------------------------------------------------------ */

/* Connect to a forward's socket, send PostgreSQL's SSLRequest, return the one-byte answer
 * ('S' or 'N'), or -1 when the connection ended without one. */
static int ssl_request(const char *path) {
        static const unsigned char request[8] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f };
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        unsigned char answer;
        int fd, n;

        ck_assert_uint_lt(strlen(path), sizeof(sa.sun_path));
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_msg(connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0, "connect %s: %s", path,
                      strerror(errno));
        ck_assert_int_eq(write(fd, request, sizeof(request)), (int) sizeof(request));
        n = (int) read(fd, &answer, 1);
        close(fd);
        return n == 1 ? answer : -1;
}

START_TEST(test_forward) {
        mh_config *config = NULL;
        mh_error e = MH_ERROR_INIT;
        const mh_host_config *host;
        mh_ssh_forward *tcp = NULL, *unix_socket = NULL, *refused = NULL;
        char why[512], dir[256];
        struct stat st;
        pid_t pid;
        int r, status;

        host = lab_config_one("db", NULL, &config, &e);
        ck_assert_msg(host, "config: %s", e.message);
        r = mh_ssh_forward_open(host, ".s.PGSQL.5432", "127.0.0.1", 5432, &tcp, &e);
        ck_assert_msg(r == 0, "%s", mh_error_message(&e, r));
        r = mh_ssh_forward_open(host, "pg", "/var/run/postgresql/.s.PGSQL.5432", 0, &unix_socket,
                                &e);
        ck_assert_msg(r == 0, "%s", mh_error_message(&e, r));

        /* a private directory, the socket named as asked */
        ck_assert_int_eq(stat(mh_ssh_forward_dir(tcp), &st), 0);
        ck_assert_int_eq(st.st_mode & 0777, 0700);
        snprintf(dir, sizeof(dir), "%s/.s.PGSQL.5432", mh_ssh_forward_dir(tcp));
        ck_assert_str_eq(mh_ssh_forward_path(tcp), dir);

        /* the lab's PostgreSQL speaks SSL over TCP ('S'), not over its Unix socket ('N') */
        for (int i = 0; i < 20; i++) {
                ck_assert_int_eq(ssl_request(mh_ssh_forward_path(tcp)), 'S');
                ck_assert_int_eq(ssl_request(mh_ssh_forward_path(unix_socket)), 'N');
        }
        ck_assert(!mh_ssh_forward_error(tcp, why, sizeof(why)));

        /* a forked child connects through its parent's thread */
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
                _exit(ssl_request(mh_ssh_forward_path(tcp)) == 'S' ? 0 : 1);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

        /* nothing listens there: the connection ends at once and the forward says why */
        r = mh_ssh_forward_open(host, "x", "127.0.0.1", 1, &refused, &e);
        ck_assert_msg(r == 0, "%s", mh_error_message(&e, r));
        ck_assert_int_eq(ssl_request(mh_ssh_forward_path(refused)), -1);
        ck_assert(mh_ssh_forward_error(refused, why, sizeof(why)));
        ck_assert_msg(strstr(why, "the host refused to open a channel to 127.0.0.1:1: "), "%s",
                      why);
        ck_assert(!mh_ssh_forward_error(refused, why, sizeof(why)));

        /* freeing removes the socket and its directory */
        snprintf(dir, sizeof(dir), "%s", mh_ssh_forward_dir(tcp));
        mh_ssh_forward_free(tcp);
        ck_assert_int_eq(access(dir, F_OK), -1);
        mh_ssh_forward_free(unix_socket);
        mh_ssh_forward_free(refused);
        mh_config_free(config);
}
END_TEST

static Suite *ssh_suite(void) {
        Suite *s = suite_create("ssh");
        TCase *tc;

        tc = tcase_create("connect");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_connect_many);
        tcase_add_test(tc, test_connect_many_partial_failure);
        tcase_add_test(tc, test_auth_wrong_key);
        tcase_add_test(tc, test_auth_passphrase_key);
        tcase_add_test(tc, test_auth_wrong_password);
        tcase_add_test(tc, test_auth_password);
        tcase_add_test(tc, test_no_auth_method);
        tcase_add_test(tc, test_host_key_changed);
        tcase_add_test(tc, test_host_key_unknown);
        tcase_add_test(tc, test_host_key_accept_new);
        tcase_add_test(tc, test_host_key_off);
        tcase_add_test(tc, test_unreachable);
        tcase_add_test(tc, test_refused);
        suite_add_tcase(s, tc);

        tc = tcase_create("exec");
        tcase_set_timeout(tc, 120);
        tcase_add_checked_fixture(tc, server_setup, server_teardown);
        tcase_add_test(tc, test_exit_status);
        tcase_add_test(tc, test_streams);
        tcase_add_test(tc, test_stdin);
        tcase_add_test(tc, test_timeout);
        tcase_add_test(tc, test_large_output);
        tcase_add_test(tc, test_max_output);
        tcase_add_test(tc, test_signal);
        tcase_add_test(tc, test_many_commands);
        tcase_add_test(tc, test_command_records);
        suite_add_tcase(s, tc);

        tc = tcase_create("sftp");
        tcase_set_timeout(tc, 60);
        tcase_add_checked_fixture(tc, server_setup, server_teardown);
        tcase_add_test(tc, test_sftp_roundtrip);
        tcase_add_test(tc, test_write_read_file);
        tcase_add_test(tc, test_sftp_errors);
        suite_add_tcase(s, tc);

        tc = tcase_create("reconnect");
        tcase_set_timeout(tc, 60);
        tcase_add_checked_fixture(tc, server_setup, server_teardown);
        tcase_add_test(tc, test_reconnect);
        tcase_add_test(tc, test_lost_while_running);
        suite_add_tcase(s, tc);

        tc = tcase_create("forward");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_forward);
        suite_add_tcase(s, tc);

        return s;
}

int main(void) {
        return run_suite(ssh_suite());
}
