/* SPDX-License-Identifier: MIT */
/*
 * Files over SFTP on an SSH session: whole files up and down, written from
 * and read into memory.  Each transfer is idempotent, so one that a lost
 * connection broke is run once more on a new connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <libssh/libssh.h>
#include <libssh/sftp.h>

#include <mhc/log.h>
#include <mhc/ssh.h>

#include "config.h"
#include "ssh.h"
#include "util.h"

#define SFTP_CHUNK (64u << 10)

static void sftp_closep(sftp_file *f) {
        if (*f)
                sftp_close(*f);
}

#define _cleanup_sftp_file_ _cleanup_(sftp_closep)

static const char *hostname(const mh_host_config *host) {
        return mh_host_config_hostname(host);
}

/* Describe a failed SFTP request on path: "cannot open '/x' for writing: No such file". */
static int sftp_fail(mh_ssh *s, mh_error *e, const char *what, const char *path, const char *how) {
        int code;

        if (!mh_ssh_connected(s))
                return mh_error_set(e, -MH_ERR_SSH, "cannot %s '%s'%s: connection lost: %s", what,
                                    path, how,
                                    s->session ? ssh_get_error(s->session) : "no session");

        code = s->sftp ? sftp_get_error(s->sftp) : SSH_FX_OK;
        switch (code) {
        case SSH_FX_NO_SUCH_FILE:
        case SSH_FX_NO_SUCH_PATH:
                return mh_error_set(e, -ENOENT, "cannot %s '%s'%s: No such file", what, path, how);
        case SSH_FX_PERMISSION_DENIED:
        case SSH_FX_WRITE_PROTECT:
                return mh_error_set(e, -EACCES, "cannot %s '%s'%s: Permission denied", what, path,
                                    how);
        case SSH_FX_FILE_ALREADY_EXISTS:
                return mh_error_set(e, -EEXIST, "cannot %s '%s'%s: File exists", what, path, how);
        case SSH_FX_OP_UNSUPPORTED:
                return mh_error_set(e, -EOPNOTSUPP,
                                    "cannot %s '%s'%s: operation not supported by the SFTP server",
                                    what, path, how);
        case SSH_FX_FAILURE:
                /* OpenSSH's sftp-server says only "Failure" (a directory, a full disk, ...). */
                return mh_error_set(e, -EIO,
                                    "cannot %s '%s'%s: the SFTP server reports a failure (%s)",
                                    what, path, how, ssh_get_error(s->session));
        default:
                return mh_error_set(e, -MH_ERR_SSH, "cannot %s '%s'%s: %s", what, path, how,
                                    ssh_get_error(s->session));
        }
}

static int sftp_start(mh_ssh *s, mh_error *e) {
        sftp_session sftp;

        if (s->sftp)
                return 0;

        sftp = sftp_new(s->session);
        if (!sftp)
                return mh_error_set(e, -MH_ERR_SSH, "cannot start SFTP: %s",
                                    ssh_get_error(s->session));
        if (sftp_init(sftp) != SSH_OK) {
                int r = mh_error_set(
                        e, -MH_ERR_SSH,
                        "cannot start SFTP (is the sftp subsystem enabled in sshd?): %s",
                        ssh_get_error(s->session));
                sftp_free(sftp);
                return r;
        }
        s->sftp = sftp;
        return 0;
}

typedef struct sftp_job sftp_job;
struct sftp_job {
        int (*run)(mh_ssh *s, sftp_job *job, mh_error *e);
        const char *remote_path;
        const char *local_path;
        const void *data;
        size_t size;
        unsigned mode;
        size_t max_size;
        char *ret_data; /* read_file's result */
        size_t ret_size;
};

/*
 * Run an SFTP job.  Every job is idempotent (whole files are written or
 * read), so one that failed because the connection dropped is run once more
 * on a new connection.
 */
static int sftp_run(mh_ssh *s, sftp_job *job, mh_error *e) {
        int allowed = mh_ssh_check_allowed(e);

        if (allowed < 0)
                return allowed;
        for (unsigned attempt = 0;; attempt++) {
                int r;

                if (!mh_ssh_connected(s)) {
                        r = mh_ssh_reconnect(s, e);
                        if (r < 0)
                                return r;
                }
                r = sftp_start(s, e);
                if (r >= 0)
                        r = job->run(s, job, e);
                if (r >= 0 || attempt > 0 || mh_ssh_connected(s))
                        return r;
                mh_log(MH_LOG_DEBUG, hostname(s->host),
                       "SFTP failed on a lost connection (%s); retrying", mh_error_message(e, r));
                mh_error_clear(e);
        }
}

static int sftp_write_all(mh_ssh *s, sftp_file f, const void *data, size_t size, const char *path,
                          mh_error *e) {
        const char *p = data;

        while (size > 0) {
                size_t n = size < SFTP_CHUNK ? size : SFTP_CHUNK;
                ssize_t k = sftp_write(f, p, n);

                if (k <= 0)
                        return sftp_fail(s, e, "write", path, "");
                p += k;
                size -= (size_t) k;
        }
        return 0;
}

/* Open remote_path for writing and give it mode before any data goes in. */
static int sftp_create(mh_ssh *s, const char *path, unsigned mode, sftp_file *ret, mh_error *e) {
        sftp_file f;

        f = sftp_open(s->sftp, path, O_WRONLY | O_CREAT | O_TRUNC, (mode_t) (mode & 07777));
        if (!f)
                return sftp_fail(s, e, "open", path, " for writing");
        /* The server's umask applies on creation and an existing file keeps
         * its mode: set it explicitly, before the data is written. */
        if (sftp_chmod(s->sftp, path, (mode_t) (mode & 07777)) < 0) {
                int r = sftp_fail(s, e, "set the mode of", path, "");
                sftp_close(f);
                return r;
        }
        *ret = f;
        return 0;
}

static int sftp_finish(mh_ssh *s, sftp_file *f, const char *path, mh_error *e) {
        sftp_file file = TAKE_PTR(*f);

        if (sftp_close(file) < 0)
                return sftp_fail(s, e, "close", path, "");
        return 0;
}

static int job_write_file(mh_ssh *s, sftp_job *job, mh_error *e) {
        _cleanup_sftp_file_ sftp_file f = NULL;
        int r;

        r = sftp_create(s, job->remote_path, job->mode, &f, e);
        if (r < 0)
                return r;
        r = sftp_write_all(s, f, job->data, job->size, job->remote_path, e);
        if (r < 0)
                return r;
        return sftp_finish(s, &f, job->remote_path, e);
}

static int job_upload(mh_ssh *s, sftp_job *job, mh_error *e) {
        _cleanup_sftp_file_ sftp_file f = NULL;
        _cleanup_free_ char *buf = NULL;
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r;

        fd = open(job->local_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0)
                return mh_error_set(e, -errno, "cannot read local file '%s': %s", job->local_path,
                                    strerror(errno));
        if (!S_ISREG(st.st_mode))
                return mh_error_set(e, -EINVAL, "cannot upload '%s': not a regular file",
                                    job->local_path);

        buf = malloc(SFTP_CHUNK);
        if (!buf)
                return mh_error_oom(e);

        r = sftp_create(s, job->remote_path, st.st_mode & 07777, &f, e);
        if (r < 0)
                return r;

        for (;;) {
                ssize_t n = read(fd, buf, SFTP_CHUNK);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return mh_error_set(e, -errno, "cannot read local file '%s': %s",
                                            job->local_path, strerror(errno));
                if (n == 0)
                        break;
                r = sftp_write_all(s, f, buf, (size_t) n, job->remote_path, e);
                if (r < 0)
                        return r;
        }
        return sftp_finish(s, &f, job->remote_path, e);
}

/* Read the open remote file f to its end, handing each chunk to sink. */
static int sftp_read_all(mh_ssh *s, sftp_file f, const char *path,
                         int (*sink)(const void *data, size_t size, void *userdata, mh_error *e),
                         void *userdata, mh_error *e) {
        _cleanup_free_ char *buf = malloc(SFTP_CHUNK);
        int r;

        if (!buf)
                return mh_error_oom(e);

        for (;;) {
                ssize_t n = sftp_read(f, buf, SFTP_CHUNK);

                if (n < 0)
                        return sftp_fail(s, e, "read", path, "");
                if (n == 0)
                        return 0;
                r = sink(buf, (size_t) n, userdata, e);
                if (r < 0)
                        return r;
        }
}

typedef struct fd_sink {
        int fd;
        const char *path;
} fd_sink;

static int sink_fd(const void *data, size_t size, void *userdata, mh_error *e) {
        fd_sink *sink = userdata;
        const char *p = data;

        while (size > 0) {
                ssize_t n = write(sink->fd, p, size);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return mh_error_set(e, -errno, "cannot write local file '%s': %s",
                                            sink->path, strerror(errno));
                p += n;
                size -= (size_t) n;
        }
        return 0;
}

static int job_download(mh_ssh *s, sftp_job *job, mh_error *e) {
        _cleanup_sftp_file_ sftp_file f = NULL;
        sftp_attributes attrs;
        mode_t mode = 0644;
        fd_sink sink = { .fd = -1, .path = job->local_path };
        int r;

        f = sftp_open(s->sftp, job->remote_path, O_RDONLY, 0);
        if (!f)
                return sftp_fail(s, e, "open", job->remote_path, "");
        attrs = sftp_fstat(f);
        if (attrs) {
                if (attrs->type == SSH_FILEXFER_TYPE_DIRECTORY) {
                        sftp_attributes_free(attrs);
                        return mh_error_set(e, -EISDIR, "cannot download '%s': it is a directory",
                                            job->remote_path);
                }
                if (attrs->flags & SSH_FILEXFER_ATTR_PERMISSIONS)
                        mode = attrs->permissions & 0777;
                sftp_attributes_free(attrs);
        }

        sink.fd = open(job->local_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        if (sink.fd < 0)
                return mh_error_set(e, -errno, "cannot create local file '%s': %s", job->local_path,
                                    strerror(errno));

        r = sftp_read_all(s, f, job->remote_path, sink_fd, &sink, e);
        if (close(sink.fd) < 0 && r >= 0)
                r = mh_error_set(e, -errno, "cannot write local file '%s': %s", job->local_path,
                                 strerror(errno));
        if (r < 0) {
                (void) unlink(job->local_path); /* no half files */
                return r;
        }
        return 0;
}

typedef struct buf_sink {
        mh_buf buf;
        const char *path;
} buf_sink;

static int sink_buf(const void *data, size_t size, void *userdata, mh_error *e) {
        buf_sink *sink = userdata;
        int r;

        r = mh_buf_append(&sink->buf, data, size);
        if (r == -EFBIG)
                return mh_error_set(e, r, "cannot read '%s': larger than %zu bytes", sink->path,
                                    sink->buf.max);
        if (r < 0)
                return mh_error_set(e, r, "cannot read '%s': %s", sink->path, strerror(-r));
        return 0;
}

static int job_read_file(mh_ssh *s, sftp_job *job, mh_error *e) {
        _cleanup_sftp_file_ sftp_file f = NULL;
        buf_sink sink = { .buf.max = job->max_size, .path = job->remote_path };
        int r;

        /* mh_buf's max of 0 means none; a max_size of 0 allows an empty file only. */
        if (job->max_size == 0)
                sink.buf.max = 1;

        f = sftp_open(s->sftp, job->remote_path, O_RDONLY, 0);
        if (!f)
                return sftp_fail(s, e, "open", job->remote_path, "");

        r = sftp_read_all(s, f, job->remote_path, sink_buf, &sink, e);
        if (r >= 0 && job->max_size == 0 && sink.buf.size > 0)
                r = mh_error_set(e, -EFBIG, "cannot read '%s': larger than 0 bytes",
                                 job->remote_path);
        if (r < 0) {
                mh_buf_dispose(&sink.buf);
                return r;
        }
        job->ret_data = mh_buf_steal(&sink.buf, &job->ret_size);
        if (!job->ret_data)
                return mh_error_oom(e);
        return 0;
}

int mh_ssh_upload(mh_ssh *s, const char *local_path, const char *remote_path, mh_error *error) {
        sftp_job job = { .run = job_upload, .local_path = local_path, .remote_path = remote_path };
        mh_error e = MH_ERROR_INIT;
        int r;

        if (!s || !local_path || !remote_path)
                return mh_error_set(error, -EINVAL, "mh_ssh_upload: invalid argument");
        r = sftp_run(s, &job, &e);
        if (r < 0)
                return mh_ssh_fail(r, &e, error);
        mh_log(MH_LOG_DEBUG, hostname(s->host), "uploaded '%s' to '%s'", local_path, remote_path);
        return 0;
}

int mh_ssh_download(mh_ssh *s, const char *remote_path, const char *local_path, mh_error *error) {
        sftp_job job = { .run = job_download,
                         .local_path = local_path,
                         .remote_path = remote_path };
        mh_error e = MH_ERROR_INIT;
        int r;

        if (!s || !local_path || !remote_path)
                return mh_error_set(error, -EINVAL, "mh_ssh_download: invalid argument");
        r = sftp_run(s, &job, &e);
        if (r < 0)
                return mh_ssh_fail(r, &e, error);
        mh_log(MH_LOG_DEBUG, hostname(s->host), "downloaded '%s' to '%s'", remote_path, local_path);
        return 0;
}

int mh_ssh_write_file(mh_ssh *s, const char *remote_path, const void *data, size_t size,
                      unsigned mode, mh_error *error) {
        sftp_job job = {
                .run = job_write_file,
                .remote_path = remote_path,
                .data = data,
                .size = size,
                .mode = mode,
        };
        mh_error e = MH_ERROR_INIT;
        int r;

        if (!s || !remote_path || (!data && size > 0))
                return mh_error_set(error, -EINVAL, "mh_ssh_write_file: invalid argument");
        r = sftp_run(s, &job, &e);
        if (r < 0)
                return mh_ssh_fail(r, &e, error);
        return 0;
}

int mh_ssh_read_file(mh_ssh *s, const char *remote_path, size_t max_size, char **ret,
                     size_t *ret_size, mh_error *error) {
        sftp_job job = { .run = job_read_file, .remote_path = remote_path, .max_size = max_size };
        mh_error e = MH_ERROR_INIT;
        int r;

        if (!s || !remote_path || !ret)
                return mh_error_set(error, -EINVAL, "mh_ssh_read_file: invalid argument");
        r = sftp_run(s, &job, &e);
        if (r < 0)
                return mh_ssh_fail(r, &e, error);
        *ret = job.ret_data;
        if (ret_size)
                *ret_size = job.ret_size;
        return 0;
}
