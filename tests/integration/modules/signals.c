/* SPDX-License-Identifier: MIT */
/*
 * A test for test-mhtest's signals, run against mhc.yaml: it changes a
 * file under the server's backup paths (/srv), says so in a note, then
 * waits, with a note every 100 ms (on the console with -v), until mhtest
 * is cut short.  Each note is a console write, which a closed standard
 * output turns into SIGPIPE or EPIPE while the file is still changed.
 */
#include <time.h>

#include <mhc/test.h>

MH_TEST(changes_srv, .topology = "client-server", .timeout = 60) {
        const struct timespec tick = { .tv_nsec = 100 * 1000 * 1000 };

        MH_ASSERT_RUN_OK(t, mh_role(t, "server", 0), "echo changed > /srv/mhc-signals");
        mh_note(t, "changed /srv/mhc-signals");
        for (int i = 0; i < 400; i++) {
                nanosleep(&tick, NULL);
                mh_note(t, "waiting for a signal");
        }
        mh_fail(t, "no signal cut the run short within 40 s");
}
