/* SPDX-License-Identifier: MIT */
/*
 * The systemd host type's file script (hosts/systemd-files.sh), run on the
 * host: what systemd.c asks of it and what it says.
 */
#pragma once

#include <stdbool.h>

#include <mhc/strv.h>
#include <mhc/sys/host.h>

/* What the file script said. */
typedef struct files_result {
        bool changed;
        bool baseline_damaged; /* so everything was put back */
        bool unlisted;         /* the probe found a change: which one is not known */
        size_t n_restored;     /* counts, possibly above the lists' sizes */
        size_t n_removed;
        mh_strv restored; /* absolute paths, at most REPORT_CAP */
        mh_strv removed;
        mh_strv parents;  /* parents of backup paths put back as directories */
        mh_strv unlinked; /* files whose hard links outside the paths were lost */
        mh_strv differ;   /* verify: paths that differ from the backup */
} files_result;

void files_result_dispose(files_result *f);

/*
 * Run the file script in mode on the host in one round trip, as
 * `sh DIR/files.sh MODE DIR / VERIFY CAP PATH...`; at backup it is sent
 * along on stdin and kept in the backup directory.  With probe, the probe
 * of the last baseline (DIR/probe) runs first, and the script only when
 * that finds something changed; mode "probe" runs the probe alone.
 */
int run_files(mh_host *h, const char *mode, const char *dir, const mh_strv *paths, bool verify,
              bool probe, files_result *ret, mh_error *error);

/* Whether path is dir or lies under it. */
bool path_under(const char *path, const char *dir);

/* Whether a restored or removed file is one systemd reads units from. */
bool files_touch_units(const files_result *f);
