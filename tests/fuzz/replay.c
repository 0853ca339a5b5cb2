/* SPDX-License-Identifier: MIT */
/*
 * Replays a fuzz target's stored corpus as an ordinary test: every file in
 * the directories given on the command line is fed to the target once.  A
 * crash, a sanitizer report or a leak fails the test.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "util.h"

static int replay_file(const char *path) {
        _cleanup_fclose_ FILE *f = NULL;
        mh_buf b = MH_BUF_INIT((size_t) 64 << 20);
        char chunk[4096];
        size_t n;

        f = fopen(path, "re");
        if (!f) {
                fprintf(stderr, "replay: cannot open %s: %s\n", path, strerror(errno));
                return -1;
        }
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
                if (mh_buf_append(&b, chunk, n) < 0) {
                        mh_buf_dispose(&b);
                        return -1;
                }
        (void) LLVMFuzzerTestOneInput((const uint8_t *) (b.data ? b.data : ""), b.size);
        mh_buf_dispose(&b);
        return 0;
}

int main(int argc, char *argv[]) {
        size_t n_files = 0;

        for (int i = 1; i < argc; i++) {
                DIR *d = opendir(argv[i]);
                struct dirent *de;

                if (!d) {
                        fprintf(stderr, "replay: cannot open %s: %s\n", argv[i], strerror(errno));
                        return 1;
                }
                while ((de = readdir(d))) {
                        char path[4096];

                        if (de->d_name[0] == '.')
                                continue;
                        snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
                        if (replay_file(path) < 0) {
                                closedir(d);
                                return 1;
                        }
                        n_files++;
                }
                closedir(d);
        }
        printf("replay: %zu inputs replayed\n", n_files);
        return n_files > 0 ? 0 : 1;
}
