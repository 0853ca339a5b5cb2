/* SPDX-License-Identifier: MIT */
/*
 * mh_systemd (sd-bus over systemd-stdio-bridge) and mh_tunnel against
 * the lab's real hosts.  Units made here are named mhc-test-systemd-PID-*
 * under /run/systemd/system on server; an unchecked teardown removes them
 * even when a test fails.  Runs inside the lab's network namespace.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include <mhc/mhc.h>

#include "lab.h"
#include "tunnel.h"
#include "util.h"
#include "check-run.h"

#define UNIT_PREFIX "mhc-test-systemd-"
#define UNIT_DIR    "/run/systemd/system/"

static char prefix[64]; /* UNIT_PREFIX + our pid + "-", the same in every forked test */

static mh_config *config;
static const mh_host_config *host;
static mh_ssh *ssh;
static mh_systemd *sd;

static double now_sec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void unit_name(const char *what, char *buf, size_t size) {
        snprintf(buf, size, "%s%s.service", prefix, what);
}

static void connect_server(void) {
        mh_error e = MH_ERROR_INIT;
        int r;

        host = lab_config_one("server", NULL, &config, &e);
        ck_assert_msg(host, "config: %s", e.message);
        r = mh_ssh_connect(host, &ssh, &e);
        ck_assert_msg(r == 0, "connect: %s", mh_error_message(&e, r));
}

static void disconnect_server(void) {
        ssh = mh_ssh_free(ssh);
        mh_config_free(config);
        config = NULL;
        host = NULL;
}

static void systemd_setup(void) {
        mh_error e = MH_ERROR_INIT;
        int r;

        connect_server();
        r = mh_systemd_open(ssh, &sd, &e);
        ck_assert_msg(r == 0, "open: %s", mh_error_message(&e, r));
        ck_assert_ptr_nonnull(sd);
}

static void systemd_teardown(void) {
        sd = mh_systemd_free(sd);
        disconnect_server();
}

/* Stop and remove every unit the tests made, in the parent, after a failure too. */
static void cleanup_units(void) {
        mh_config *c = NULL;
        const mh_host_config *h;
        mh_exec_result res = {};
        mh_error e = MH_ERROR_INIT;
        mh_ssh *s = NULL;
        char *command = NULL;

        h = lab_config_one("server", NULL, &c, &e);
        if (!h || mh_ssh_connect(h, &s, &e) < 0) {
                fprintf(stderr, "cannot clean up units %s* on server: %s\n", prefix, e.message);
                mh_config_free(c);
                return;
        }
        if (asprintf(&command,
                     "for f in " UNIT_DIR "%s*.service; do [ -e \"$f\" ] || continue; "
                     "systemctl stop \"${f##*/}\"; rm -f \"$f\"; done; "
                     "systemctl daemon-reload; systemctl reset-failed '%s*' 2>/dev/null; true",
                     prefix, prefix) >= 0 &&
            (mh_ssh_exec(s, command, NULL, &res, &e) < 0 || res.exit_status != 0))
                fprintf(stderr, "cannot clean up units %s* on server: %s%s\n", prefix, e.message,
                        strempty(res.err));
        mh_exec_result_dispose(&res);
        free(command);
        mh_ssh_free(s);
        mh_config_free(c);
}

/* Write a unit file on server and make systemd see it. */
static void write_unit(const char *unit, const char *text) {
        mh_error e = MH_ERROR_INIT;
        char path[256];
        int r;

        snprintf(path, sizeof(path), UNIT_DIR "%s", unit);
        r = mh_ssh_write_file(ssh, path, text, strlen(text), 0644, &e);
        ck_assert_msg(r == 0, "write %s: %s", path, mh_error_message(&e, r));
        r = mh_systemd_daemon_reload(sd, &e);
        ck_assert_msg(r == 0, "daemon-reload: %s", mh_error_message(&e, r));
}

static mh_unit_state get_unit(const char *unit) {
        mh_unit_state st;
        mh_error e = MH_ERROR_INIT;
        int r;

        r = mh_systemd_get_unit(sd, unit, &st, &e);
        ck_assert_msg(r == 0, "get %s: %s", unit, mh_error_message(&e, r));
        return st;
}

static bool is_hex32(const char *s) {
        if (strlen(s) != 32)
                return false;
        for (; *s; s++)
                if (!strchr("0123456789abcdef", *s))
                        return false;
        return true;
}

/* The output of command on server, asserting exit status 0; malloc'd. */
static char *run_out(const char *command) {
        mh_exec_result res = {};
        mh_error e = MH_ERROR_INIT;
        char *out;
        int r;

        r = mh_ssh_exec(ssh, command, NULL, &res, &e);
        ck_assert_msg(r == 0, "'%s': %s", command, mh_error_message(&e, r));
        ck_assert_msg(res.exit_status == 0, "'%s' exited with %d: %s", command, res.exit_status,
                      res.err);
        out = res.out;
        res.out = NULL;
        mh_exec_result_dispose(&res);
        return out;
}

/* --- systemd ------------------------------------------------------------------------------ */

START_TEST(test_system_state) {
        mh_error e = MH_ERROR_INIT;
        char state[32], tiny[3];
        int r;

        r = mh_systemd_system_state(sd, state, sizeof(state), &e);
        ck_assert_msg(r == 0, "%s", mh_error_message(&e, r));
        ck_assert_str_eq(state, "running");

        r = mh_systemd_system_state(sd, tiny, sizeof(tiny), &e);
        ck_assert_int_eq(r, -ENOBUFS);
}
END_TEST

START_TEST(test_lifecycle) {
        mh_error e = MH_ERROR_INIT;
        mh_unit_state st, before;
        char unit[128];
        double start;
        int r;

        unit_name("sleep", unit, sizeof(unit));
        write_unit(unit, "[Service]\nExecStart=/bin/sleep infinity\n");

        st = get_unit(unit);
        ck_assert_str_eq(st.active_state, "inactive");
        ck_assert_str_eq(st.invocation_id, "");

        r = mh_systemd_start_unit(sd, unit, 10000, &e);
        ck_assert_msg(r == 0, "start: %s", mh_error_message(&e, r));
        st = get_unit(unit);
        ck_assert_str_eq(st.active_state, "active");
        ck_assert_str_eq(st.sub_state, "running");
        ck_assert_str_eq(st.result, "success");
        ck_assert_msg(is_hex32(st.invocation_id), "invocation id '%s'", st.invocation_id);

        /* systemd agrees, seen from a shell on the host */
        {
                char cmd[256], *out;

                snprintf(cmd, sizeof(cmd), "systemctl show -P InvocationID %s", unit);
                out = run_out(cmd);
                ck_assert_int_eq(strncmp(out, st.invocation_id, 32), 0);
                free(out);
        }

        r = mh_systemd_wait_active(sd, unit, 1000, &e);
        ck_assert_msg(r == 0, "wait_active: %s", mh_error_message(&e, r));

        before = st;
        r = mh_systemd_restart_unit(sd, unit, 10000, &e);
        ck_assert_msg(r == 0, "restart: %s", mh_error_message(&e, r));
        st = get_unit(unit);
        ck_assert_str_eq(st.active_state, "active");
        ck_assert_msg(is_hex32(st.invocation_id), "invocation id '%s'", st.invocation_id);
        ck_assert_str_ne(st.invocation_id, before.invocation_id);

        r = mh_systemd_kill_unit(sd, unit, SIGKILL, &e);
        ck_assert_msg(r == 0, "kill: %s", mh_error_message(&e, r));
        start = now_sec();
        do {
                st = get_unit(unit);
                if (!streq(st.active_state, "active") && !streq(st.active_state, "deactivating"))
                        break;
                usleep(20000);
        } while (now_sec() - start < 10);
        ck_assert_str_eq(st.active_state, "failed");
        ck_assert_str_eq(st.result, "signal");

        /* a failed unit ends wait_active at once, with its result */
        start = now_sec();
        r = mh_systemd_wait_active(sd, unit, 10000, &e);
        ck_assert_int_eq(r, -MH_ERR_COMMAND);
        ck_assert_msg(now_sec() - start < 2, "wait_active took %.1f s", now_sec() - start);
        ck_assert_msg(strstr(e.message, "failed (result: signal)"), "%s", e.message);
        mh_error_clear(&e);

        r = mh_systemd_start_unit(sd, unit, 10000, &e);
        ck_assert_msg(r == 0, "start again: %s", mh_error_message(&e, r));
        r = mh_systemd_stop_unit(sd, unit, 10000, &e);
        ck_assert_msg(r == 0, "stop: %s", mh_error_message(&e, r));
        st = get_unit(unit);
        ck_assert_str_eq(st.active_state, "inactive");
        ck_assert_str_eq(st.sub_state, "dead");

        /* stopping what is stopped is fine */
        r = mh_systemd_stop_unit(sd, unit, 10000, &e);
        ck_assert_msg(r == 0, "stop again: %s", mh_error_message(&e, r));
}
END_TEST

START_TEST(test_start_fails) {
        mh_error e = MH_ERROR_INIT;
        mh_unit_state st;
        char unit[128], expected[256];
        int r;

        unit_name("false", unit, sizeof(unit));
        write_unit(unit, "[Service]\nType=oneshot\nExecStartPre=/bin/echo mhc-marker-before\n"
                         "ExecStart=/bin/false\n");

        r = mh_systemd_start_unit(sd, unit, 10000, &e);
        ck_assert_int_eq(r, -MH_ERR_COMMAND);
        ck_assert_int_eq(e.code, r);
        snprintf(expected, sizeof(expected),
                 "unit '%s' failed to start (result: exit-code): ", unit);
        ck_assert_msg(strncmp(e.message, expected, strlen(expected)) == 0, "%s", e.message);
        ck_assert_msg(strstr(e.message, "mhc-marker-before"), "no journal lines: %s", e.message);
        ck_assert_msg(strstr(e.message, " | "), "one journal line only: %s", e.message);
        ck_assert_ptr_null(strchr(e.message, '\n'));
        printf("start of a failing unit: %s\n", e.message);

        st = get_unit(unit);
        ck_assert_str_eq(st.active_state, "failed");
        ck_assert_str_eq(st.result, "exit-code");
}
END_TEST

START_TEST(test_unknown_unit) {
        mh_error e = MH_ERROR_INIT;
        mh_unit_state st = { .active_state = "untouched" };
        char unit[128], expected[256];
        int r;

        unit_name("does-not-exist", unit, sizeof(unit));
        snprintf(expected, sizeof(expected), "unit '%s' does not exist", unit);

        r = mh_systemd_start_unit(sd, unit, 10000, &e);
        ck_assert_int_eq(r, -ENOENT);
        ck_assert_str_eq(e.message, expected);
        mh_error_clear(&e);

        r = mh_systemd_get_unit(sd, unit, &st, &e);
        ck_assert_int_eq(r, -ENOENT);
        ck_assert_str_eq(e.message, expected);
        ck_assert_str_eq(st.active_state, "untouched"); /* ret only on success */
        mh_error_clear(&e);

        r = mh_systemd_kill_unit(sd, unit, SIGTERM, &e);
        ck_assert_int_eq(r, -ENOENT);
        ck_assert_str_eq(e.message, expected);
        mh_error_clear(&e);

        r = mh_systemd_wait_active(sd, unit, 5000, &e);
        ck_assert_int_eq(r, -ENOENT);
        mh_error_clear(&e);

        /* the connection is still good after errors */
        st = get_unit("ssh.service");
        ck_assert_str_eq(st.active_state, "active");
}
END_TEST

START_TEST(test_reload_unsupported) {
        mh_error e = MH_ERROR_INIT;
        char unit[128], expected[256];
        int r;

        unit_name("noreload", unit, sizeof(unit));
        write_unit(unit, "[Service]\nExecStart=/bin/sleep infinity\n");
        r = mh_systemd_start_unit(sd, unit, 10000, &e);
        ck_assert_msg(r == 0, "start: %s", mh_error_message(&e, r));

        r = mh_systemd_reload_unit(sd, unit, 10000, &e);
        ck_assert_int_eq(r, -EOPNOTSUPP);
        snprintf(expected, sizeof(expected),
                 "unit '%s' cannot reload: it has no ExecReload=", unit);
        ck_assert_msg(strncmp(e.message, expected, strlen(expected)) == 0, "%s", e.message);
        printf("reload without ExecReload=: %s\n", e.message);
        mh_error_clear(&e);

        /* a unit that can reload does */
        r = mh_systemd_reload_unit(sd, "dbus.service", 10000, &e);
        ck_assert_msg(r == 0, "reload dbus: %s", mh_error_message(&e, r));

        r = mh_systemd_stop_unit(sd, unit, 10000, &e);
        ck_assert_msg(r == 0, "stop: %s", mh_error_message(&e, r));
}
END_TEST

START_TEST(test_wait_active_timeout) {
        mh_error e = MH_ERROR_INIT;
        char unit[128];
        double start, took;
        int r;

        unit_name("never", unit, sizeof(unit));
        write_unit(unit, "[Service]\nExecStart=/bin/sleep infinity\n");

        start = now_sec();
        r = mh_systemd_wait_active(sd, unit, 1500, &e);
        took = now_sec() - start;
        ck_assert_int_eq(r, -ETIMEDOUT);
        ck_assert_msg(took >= 1.5 && took < 2.5, "took %.2f s", took);
        ck_assert_msg(strstr(e.message, "did not become active within 1.5 s (it is inactive/dead)"),
                      "%s", e.message);
}
END_TEST

START_TEST(test_job_timeout) {
        mh_error e = MH_ERROR_INIT;
        char unit[128];
        double start, took;
        int r;

        /* a oneshot that takes 3 s to start, waited for 1 s */
        unit_name("slow", unit, sizeof(unit));
        write_unit(unit, "[Service]\nType=oneshot\nExecStart=/bin/sleep 3\n");
        start = now_sec();
        r = mh_systemd_start_unit(sd, unit, 1000, &e);
        took = now_sec() - start;
        ck_assert_int_eq(r, -ETIMEDOUT);
        ck_assert_msg(took >= 1.0 && took < 2.0, "took %.2f s", took);
        ck_assert_msg(strstr(e.message, "did not finish its start job within 1 s"), "%s",
                      e.message);
}
END_TEST

/* --- tunnel ------------------------------------------------------------------------------- */

static void tunnel_setup(void) {
        connect_server();
}

static void tunnel_teardown(void) {
        disconnect_server();
}

static mh_tunnel *open_tunnel(const char *command) {
        mh_error e = MH_ERROR_INIT;
        mh_tunnel *t = NULL;
        int r;

        r = mh_tunnel_open(host, command, &t, &e);
        ck_assert_msg(r == 0, "tunnel '%s': %s", command, mh_error_message(&e, r));
        ck_assert_ptr_nonnull(t);
        ck_assert_int_ge(mh_tunnel_fd(t), 0);
        return t;
}

/* Close t, waiting up to wait_msec, and free it. */
static void close_tunnel(mh_tunnel *t, unsigned wait_msec) {
        mh_tunnel_close(t, wait_msec);
        ck_assert_int_eq(mh_tunnel_fd(t), -1);
        mh_tunnel_close(t, wait_msec); /* twice is fine */
        mh_tunnel_free(t);
}

/* Read from fd until EOF or timeout_sec, appending to buf[0..size); returns the count, or -1 on timeout. */
static ssize_t read_to_eof(int fd, uint8_t *buf, size_t size, double timeout_sec) {
        double deadline = now_sec() + timeout_sec;
        size_t n = 0;

        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                double left = deadline - now_sec();
                ssize_t k;

                if (left <= 0)
                        return -1;
                if (poll(&p, 1, (int) (left * 1000) + 1) <= 0)
                        continue;
                k = read(fd, buf + n, size - n);
                ck_assert_msg(k >= 0, "read: %s", strerror(errno));
                if (k == 0)
                        return (ssize_t) n;
                n += (size_t) k;
                ck_assert_msg(n < size, "more than %zu bytes", size);
        }
}

typedef struct writer {
        int fd;
        const uint8_t *data;
        size_t size;
        int error;
} writer;

static void *write_all(void *userdata) {
        writer *w = userdata;

        for (size_t n = 0; n < w->size;) {
                ssize_t k = send(w->fd, w->data + n, w->size - n, MSG_NOSIGNAL);

                if (k < 0) {
                        w->error = errno;
                        return NULL;
                }
                n += (size_t) k;
        }
        if (shutdown(w->fd, SHUT_WR) < 0)
                w->error = errno;
        return NULL;
}

START_TEST(test_tunnel_echo) {
        const size_t size = 1000000;
        uint8_t *data = malloc(size), *back = malloc(size + 1);
        writer w = { .data = data, .size = size };
        pthread_t thread;
        mh_tunnel *t;
        double start;
        ssize_t n;

        ck_assert_ptr_nonnull(data);
        ck_assert_ptr_nonnull(back);
        srand(42);
        for (size_t i = 0; i < size; i++)
                data[i] = (uint8_t) rand();

        t = open_tunnel("cat");
        w.fd = mh_tunnel_fd(t);
        start = now_sec();
        ck_assert_int_eq(pthread_create(&thread, NULL, write_all, &w), 0);
        n = read_to_eof(w.fd, back, size + 1, 30);
        pthread_join(thread, NULL);
        ck_assert_int_eq(w.error, 0);
        ck_assert_msg(n == (ssize_t) size, "got %zd bytes back of %zu", n, size);
        ck_assert_msg(memcmp(data, back, size) == 0, "the bytes came back changed");
        printf("tunnel: 1 MB through `cat` and back in %.1f ms\n", (now_sec() - start) * 1000);
        close_tunnel(t, 5000);
        free(data);
        free(back);
}
END_TEST

/* Lines the library logged, from any thread. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char logged[8192];

static void record_log(mh_log_level level, const char *h, const char *message, void *userdata) {
        pthread_mutex_lock(&log_lock);
        if (strlen(logged) + strlen(message) + 2 < sizeof(logged)) {
                strcat(logged, message);
                strcat(logged, "\n");
        }
        pthread_mutex_unlock(&log_lock);
}

static bool was_logged(const char *text) {
        bool found;

        pthread_mutex_lock(&log_lock);
        found = strstr(logged, text) != NULL;
        pthread_mutex_unlock(&log_lock);
        return found;
}

START_TEST(test_tunnel_command_ends) {
        uint8_t buf[256];
        mh_tunnel *t;
        double start;
        ssize_t n;

        mh_log_set_handler(record_log, MH_LOG_DEBUG, NULL);

        /* a command that exits: its output, then EOF, while we never close our end;
         * its stderr goes to the debug log */
        t = open_tunnel("echo hello; echo to-stderr >&2; exit 3");
        n = read_to_eof(mh_tunnel_fd(t), buf, sizeof(buf), 10);
        ck_assert_int_eq(n, 6);
        ck_assert_int_eq(memcmp(buf, "hello\n", 6), 0);
        close_tunnel(t, 5000);
        start = now_sec();
        while (!was_logged("stderr: to-stderr") && now_sec() - start < 5)
                usleep(10000);
        ck_assert_msg(was_logged("stderr: to-stderr"), "stderr not logged: %s", logged);
        mh_log_set_handler(NULL, MH_LOG_DEBUG, NULL);

        /* a command that does not exist ends the same way, with nothing */
        t = open_tunnel("/nonexistent/mhc-no-such-bridge");
        n = read_to_eof(mh_tunnel_fd(t), buf, sizeof(buf), 10);
        ck_assert_int_eq(n, 0);
        close_tunnel(t, 5000);
}
END_TEST

START_TEST(test_tunnel_close_ends_command) {
        uint8_t buf[64] = "";
        char cmd[128], *out;
        double start;
        ssize_t n;
        long pid;
        mh_tunnel *t;
        int fd;

        /* cat gets EOF when we close our end and exits */
        t = open_tunnel("echo $$; exec cat");
        fd = mh_tunnel_fd(t);
        for (n = 0; n < (ssize_t) sizeof(buf) - 1 && !memchr(buf, '\n', (size_t) n);) {
                ssize_t k = read(fd, buf + n, sizeof(buf) - 1 - (size_t) n);

                ck_assert_int_gt(k, 0);
                n += k;
        }
        pid = strtol((char *) buf, NULL, 10);
        ck_assert_int_gt(pid, 1);
        snprintf(cmd, sizeof(cmd), "kill -0 %ld && echo alive || echo gone", pid);
        out = run_out(cmd);
        ck_assert_str_eq(out, "alive\n");
        free(out);

        close_tunnel(t, 5000);
        start = now_sec();
        for (;;) {
                out = run_out(cmd);
                if (streq(out, "gone\n"))
                        break;
                free(out);
                out = NULL;
                ck_assert_msg(now_sec() - start < 5, "the command still runs 5 s after close");
                usleep(50000);
        }
        free(out);
}
END_TEST

/* The threads of this process. */
static size_t n_threads(void) {
        DIR *d = opendir("/proc/self/task");
        struct dirent *de;
        size_t n = 0;

        ck_assert_ptr_nonnull(d);
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

/* Closing a tunnel joins its thread: a bare one, and the D-Bus one of an mh_systemd. */
START_TEST(test_tunnel_close_joins_thread) {
        size_t before = n_threads();
        mh_error e = MH_ERROR_INIT;
        mh_systemd *bus = NULL;
        mh_unit_state st;
        mh_tunnel *t;
        int r;

        t = open_tunnel("exec cat");
        ck_assert_uint_eq(n_threads(), before + 1);
        close_tunnel(t, 5000);
        ck_assert_uint_eq(n_threads(), before);

        r = mh_systemd_open(ssh, &bus, &e);
        ck_assert_msg(r == 0, "open: %s", mh_error_message(&e, r));
        ck_assert_uint_eq(n_threads(), before + 1);
        r = mh_systemd_get_unit(bus, "ssh.service", &st, &e);
        ck_assert_msg(r == 0, "get: %s", mh_error_message(&e, r));
        ck_assert_str_eq(st.active_state, "active");
        mh_systemd_free(bus);
        ck_assert_uint_eq(n_threads(), before);
}
END_TEST

static int compare_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return x < y ? -1 : x > y;
}

START_TEST(test_dbus_roundtrip) {
        enum { N = 200 };
        static double raw[N], api[N], exec_ms[N / 10];
        sd_bus *bus = NULL;
        mh_error e = MH_ERROR_INIT;
        mh_tunnel *t;
        double open_ms;
        int fd, r;

        /* sd-bus straight over the tunnel: the cost of one D-Bus call; the
         * bus closes what it gets, so it gets a descriptor of its own */
        t = open_tunnel("systemd-stdio-bridge");
        fd = dup(mh_tunnel_fd(t));
        ck_assert_int_ge(fd, 0);
        ck_assert_int_ge(sd_bus_new(&bus), 0);
        ck_assert_int_ge(sd_bus_set_fd(bus, fd, fd), 0);
        ck_assert_int_ge(sd_bus_set_bus_client(bus, 1), 0);
        ck_assert_int_ge(sd_bus_start(bus), 0);
        for (int i = -1; i < N; i++) {
                sd_bus_error be = SD_BUS_ERROR_NULL;
                sd_bus_message *reply = NULL;
                const char *path = NULL;
                double start = now_sec();

                r = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                       "org.freedesktop.systemd1.Manager", "GetUnit", &be, &reply,
                                       "s", "ssh.service");
                ck_assert_msg(r >= 0, "GetUnit: %s", be.message ? be.message : strerror(-r));
                ck_assert_int_ge(sd_bus_message_read(reply, "o", &path), 0);
                ck_assert_str_eq(path, "/org/freedesktop/systemd1/unit/ssh_2eservice");
                if (i >= 0) /* the first call also authenticates */
                        raw[i] = (now_sec() - start) * 1000;
                sd_bus_message_unref(reply);
                sd_bus_error_free(&be);
        }
        sd_bus_flush_close_unref(bus);
        close_tunnel(t, 5000);

        /* mh_systemd_get_unit: five properties, pipelined */
        open_ms = now_sec();
        r = mh_systemd_open(ssh, &sd, &e);
        open_ms = (now_sec() - open_ms) * 1000;
        ck_assert_msg(r == 0, "open: %s", mh_error_message(&e, r));
        for (int i = 0; i < N; i++) {
                double start = now_sec();
                mh_unit_state st = get_unit("ssh.service");

                api[i] = (now_sec() - start) * 1000;
                ck_assert_str_eq(st.active_state, "active");
        }
        /* for comparison: a remote `true` on the persistent SSH session */
        for (int i = 0; i < N / 10; i++) {
                double start = now_sec();

                free(run_out("true"));
                exec_ms[i] = (now_sec() - start) * 1000;
        }
        sd = mh_systemd_free(sd);

        qsort(raw, N, sizeof(double), compare_double);
        qsort(api, N, sizeof(double), compare_double);
        qsort(exec_ms, N / 10, sizeof(double), compare_double);
        printf("D-Bus GetUnit over the tunnel: median %.2f ms, 90%% %.2f ms (%d calls)\n",
               raw[N / 2], raw[N * 9 / 10], N);
        printf("mh_systemd_get_unit: median %.2f ms, 90%% %.2f ms (%d calls)\n", api[N / 2],
               api[N * 9 / 10], N);
        printf("mh_systemd_open: %.1f ms\n", open_ms);
        printf("mh_ssh_exec of `true`: median %.2f ms (%d calls)\n", exec_ms[N / 20], N / 10);
}
END_TEST

static Suite *systemd_suite(void) {
        Suite *s = suite_create("systemd");
        TCase *tc;

        tc = tcase_create("units");
        tcase_set_timeout(tc, 60);
        tcase_add_checked_fixture(tc, systemd_setup, systemd_teardown);
        tcase_add_unchecked_fixture(tc, NULL, cleanup_units);
        tcase_add_test(tc, test_system_state);
        tcase_add_test(tc, test_lifecycle);
        tcase_add_test(tc, test_start_fails);
        tcase_add_test(tc, test_unknown_unit);
        tcase_add_test(tc, test_reload_unsupported);
        tcase_add_test(tc, test_wait_active_timeout);
        tcase_add_test(tc, test_job_timeout);
        suite_add_tcase(s, tc);

        tc = tcase_create("tunnel");
        tcase_set_timeout(tc, 60);
        tcase_add_checked_fixture(tc, tunnel_setup, tunnel_teardown);
        tcase_add_test(tc, test_tunnel_echo);
        tcase_add_test(tc, test_tunnel_command_ends);
        tcase_add_test(tc, test_tunnel_close_ends_command);
        tcase_add_test(tc, test_tunnel_close_joins_thread);
        tcase_add_test(tc, test_dbus_roundtrip);
        suite_add_tcase(s, tc);

        return s;
}

int main(void) {
        snprintf(prefix, sizeof(prefix), UNIT_PREFIX "%ld-", (long) getpid());
        return run_suite(systemd_suite());
}
