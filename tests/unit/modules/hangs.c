/* SPDX-License-Identifier: MIT */
/*
 * Tests that try to hang the runner, for test-test-runner: a half-written
 * frame, an exec() that ends the wire early, children left behind.  They
 * need no host: mh_test_execute() runs them with none.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mhc/test.h>

/*
 * The test's end of the wire to the runner: the Unix stream socket that
 * our parent made (mh_test_execute() gives a test no other).
 */
static int wire_fd(void) {
        for (int fd = 3; fd < 1024; fd++) {
                struct ucred cred;
                int domain, type;
                socklen_t n = sizeof(domain), m = sizeof(type), k = sizeof(cred);

                if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &n) < 0 || domain != AF_UNIX ||
                    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &m) < 0 || type != SOCK_STREAM ||
                    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &k) < 0 || cred.pid != getppid())
                        continue;
                return fd;
        }
        return -1;
}

/* A note's header (type 3, MH_TEST_WIRE_NOTE) for 64 bytes, then 4 of them, then nothing. */
static void write_half_a_frame(mh_test *t) {
        const uint32_t header[2] = { 3, 64 };
        int fd = wire_fd();

        if (fd < 0)
                mh_abort(t, "cannot find the wire to the runner");
        if (write(fd, header, sizeof(header)) != (ssize_t) sizeof(header) ||
            write(fd, "half", 4) != 4)
                mh_abort(t, "cannot write to the runner: %s", strerror(errno));
}

MH_TEST(writes_half_a_frame, .topology = "none", .timeout = 2) {
        write_half_a_frame(t);
        sleep(90); /* long past the timeout, but not forever: a runner that hangs fails */
}

/* Interrupted by test-test-runner after a second. */
MH_TEST(writes_half_a_frame_long, .topology = "none", .timeout = 60) {
        write_half_a_frame(t);
        sleep(90); /* long past the timeout, but not forever: a runner that hangs fails */
}

/* exec() closes the wire (close-on-exec): the runner sees its end long before sleep's. */
MH_TEST(execs_sleep, .topology = "none", .timeout = 3) {
        execlp("sleep", "sleep", "25", (char *) NULL);
        mh_abort(t, "cannot run sleep: %s", strerror(errno));
}

/* Interrupted by test-test-runner after a second. */
MH_TEST(execs_sleep_long, .topology = "none", .timeout = 60) {
        execlp("sleep", "sleep", "60", (char *) NULL);
        mh_abort(t, "cannot run sleep: %s", strerror(errno));
}

/* A child in the background (as `sleep 30 &`), its pid in a note; the test passes. */
MH_TEST(leaves_a_child, .topology = "none", .timeout = 20) {
        pid_t pid = fork();

        if (pid < 0)
                mh_abort(t, "cannot fork: %s", strerror(errno));
        if (pid == 0) {
                execlp("sleep", "sleep", "30", (char *) NULL);
                _exit(127);
        }
        mh_note(t, "child %d", (int) pid);
}

/* A child that keeps the test's end of the wire open, and runs on; the test passes. */
MH_TEST(leaves_a_child_on_the_wire, .topology = "none", .timeout = 20) {
        pid_t pid = fork();

        if (pid < 0)
                mh_abort(t, "cannot fork: %s", strerror(errno));
        if (pid == 0) {
                sleep(30);
                _exit(0);
        }
        mh_note(t, "child %d", (int) pid);
}
