/* SPDX-License-Identifier: MIT */
/*
 * An example host type plug-in, loaded by tests/integration/test-host as
 * `type: plugin:/.../example-type.so`.  Its backup writes a marker file
 * with a random token into the backup's directory and keeps the token in
 * memory; its restore checks that the marker still holds that token.  It
 * has no start, stop or ready, so those fail as not supported.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <mhc/sys/host.h>

#define MARKER "marker"

/* The symbol libmhc looks up (MH_HOST_TYPE_PLUGIN_SYMBOL). */
MH_EXPORT extern const mh_host_type mh_host_type_plugin;

typedef struct example_host {
        mh_host base;
        unsigned n_backups; /* backups taken through this object */
} example_host;

/* How many backups h took; looked up by the test with dlsym(). */
MH_EXPORT unsigned mh_example_type_backups(const mh_host *h);

unsigned mh_example_type_backups(const mh_host *h) {
        return ((const example_host *) h)->n_backups;
}

static int marker_path(const mh_backup *b, char **ret) {
        if (asprintf(ret, "%s/" MARKER, b->dir) < 0)
                return -ENOMEM;
        return 0;
}

static int example_backup(mh_host *h, mh_backup *b, mh_error *error) {
        example_host *x = (example_host *) h;
        unsigned char bytes[16];
        char token[2 * sizeof(bytes) + 2], *path = NULL;
        int r;

        if (getrandom(bytes, sizeof(bytes), 0) != (ssize_t) sizeof(bytes))
                return mh_error_set(error, -errno, "cannot make a token: %m");
        for (size_t i = 0; i < sizeof(bytes); i++)
                snprintf(token + 2 * i, 3, "%02x", bytes[i]);
        strcat(token, "\n");

        if (marker_path(b, &path) < 0)
                return mh_error_oom(error);
        r = mh_ssh_write_file(h->ssh, path, token, strlen(token), 0600, error);
        free(path);
        if (r < 0)
                return r;

        b->data = strdup(token);
        if (!b->data)
                return mh_error_oom(error);
        x->n_backups++;
        return 0;
}

static int example_restore(mh_host *h, mh_backup *b, const mh_restore_options *options,
                           mh_error *error) {
        char *path = NULL, *text = NULL;
        size_t size = 0;
        int r;

        (void) options;
        if (!b->data)
                return mh_error_set(error, -EINVAL, "backup '%s' has no token", b->name);
        if (marker_path(b, &path) < 0)
                return mh_error_oom(error);
        r = mh_ssh_read_file(h->ssh, path, 4096, &text, &size, error);
        if (r >= 0 && (size != strlen(b->data) || memcmp(text, b->data, size) != 0))
                r = mh_error_set(error, -MH_ERR_REMOTE,
                                 "marker %s does not hold the token of backup '%s'", path,
                                 b->name);
        free(text);
        free(path);
        return r;
}

static int example_drop(mh_host *h, mh_backup *b, mh_error *error) {
        (void) h;
        (void) error;
        free(b->data);
        b->data = NULL;
        return 0;
}

const mh_host_type mh_host_type_plugin = {
        .abi = MH_HOST_TYPE_ABI,
        .name = "example",
        .size = sizeof(example_host),
        .backup = example_backup,
        .restore = example_restore,
        .drop = example_drop,
};
