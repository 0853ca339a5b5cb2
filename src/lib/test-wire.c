/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include "test-wire.h"

typedef struct frame_header {
        uint32_t type;
        uint32_t size;
} frame_header;

_Static_assert(sizeof(frame_header) == sizeof(((mh_test_wire_inbox *) NULL)->header),
               "an inbox holds one header");

int mh_test_wire_put_u32(mh_buf *b, uint32_t v) {
        return mh_buf_append(b, &v, sizeof(v));
}

int mh_test_wire_put_bytes(mh_buf *b, const void *data, size_t size) {
        int r;

        if (size > UINT32_MAX)
                return -EFBIG;
        r = mh_test_wire_put_u32(b, (uint32_t) size);
        if (r >= 0 && size > 0)
                r = mh_buf_append(b, data, size);
        if (r >= 0)
                r = mh_buf_append(b, "", 1);
        return r;
}

int mh_test_wire_put_str(mh_buf *b, const char *s) {
        return mh_test_wire_put_bytes(b, strempty(s), strlen(strempty(s)));
}

int mh_test_wire_get_u32(mh_test_wire_reader *rd, uint32_t *ret) {
        if (rd->left < sizeof(*ret))
                return -EBADMSG;
        memcpy(ret, rd->p, sizeof(*ret));
        rd->p += sizeof(*ret);
        rd->left -= sizeof(*ret);
        return 0;
}

int mh_test_wire_get_bytes(mh_test_wire_reader *rd, const char **ret, size_t *ret_size) {
        uint32_t size;

        if (mh_test_wire_get_u32(rd, &size) < 0 || rd->left < (size_t) size + 1 ||
            rd->p[size] != '\0')
                return -EBADMSG;
        *ret = rd->p;
        if (ret_size)
                *ret_size = size;
        rd->p += size + 1;
        rd->left -= size + 1;
        return 0;
}

/* How long a send of the runner's may wait for room (mh_test_wire_send_until()). */
typedef struct send_limit {
        uint64_t deadline; /* monotonic usec */
        int cancel_fd;     /* -1: none */
} send_limit;

/* Wait until fd takes more: 0, -ETIME past the deadline, -ECANCELED once cancel_fd is readable. */
static int wait_writable(int fd, const send_limit *l) {
        for (;;) {
                struct pollfd p[2] = {
                        { .fd = fd, .events = POLLOUT },
                        { .fd = l->cancel_fd, .events = POLLIN },
                };
                uint64_t now = mh_now_usec();
                uint64_t left = l->deadline > now ? (l->deadline - now + 999) / 1000 : 0;
                int r;

                if (left == 0)
                        return -ETIME;
                r = poll(p, l->cancel_fd >= 0 ? 2 : 1, left > 1000 ? 1000 : (int) left);
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r <= 0)
                        continue;
                if (l->cancel_fd >= 0 && (p[1].revents & POLLIN))
                        return -ECANCELED;
                if (p[0].revents)
                        return 0;
        }
}

/* Write all of data: blocking without a limit, else never past it. */
static int write_all(int fd, const void *data, size_t size, const send_limit *l) {
        const char *p = data;

        while (size > 0) {
                ssize_t n = send(fd, p, size, MSG_NOSIGNAL | (l ? MSG_DONTWAIT : 0));
                int r;

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (!l || (errno != EAGAIN && errno != EWOULDBLOCK))
                                return -errno;
                        r = wait_writable(fd, l);
                        if (r < 0)
                                return r;
                        continue;
                }
                p += n;
                size -= (size_t) n;
        }
        return 0;
}

static int send_frame(int fd, uint32_t type, const mh_buf *payload, const send_limit *l) {
        frame_header h = { .type = type, .size = (uint32_t) payload->size };
        int r;

        if (payload->size > MH_TEST_WIRE_FRAME_MAX)
                return -EFBIG;
        r = write_all(fd, &h, sizeof(h), l);
        if (r >= 0 && payload->size > 0)
                r = write_all(fd, payload->data, payload->size, l);
        return r;
}

int mh_test_wire_send(int fd, uint32_t type, const mh_buf *payload) {
        return send_frame(fd, type, payload, NULL);
}

int mh_test_wire_send_until(int fd, uint32_t type, const mh_buf *payload, uint64_t deadline,
                            int cancel_fd) {
        const send_limit l = { .deadline = deadline, .cancel_fd = cancel_fd };

        return send_frame(fd, type, payload, &l);
}

/* Read size bytes; 0 at end of file before the first byte, -EPIPE after it. */
static int read_all(int fd, void *data, size_t size) {
        char *p = data;
        size_t done = 0;

        while (done < size) {
                ssize_t n = read(fd, p + done, size - done);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return done == 0 ? 0 : -EPIPE;
                done += (size_t) n;
        }
        return 1;
}

int mh_test_wire_recv(int fd, uint32_t *ret_type, mh_buf *payload) {
        frame_header h;
        int r;

        r = read_all(fd, &h, sizeof(h));
        if (r <= 0)
                return r;
        if (h.size > MH_TEST_WIRE_FRAME_MAX)
                return -EBADMSG;
        payload->size = 0;
        payload->max = MH_TEST_WIRE_FRAME_MAX + 1;
        if (h.size > 0) {
                char *data = realloc(payload->data, h.size + 1);

                if (!data)
                        return -ENOMEM;
                payload->data = data;
                payload->allocated = h.size + 1;
                r = read_all(fd, payload->data, h.size);
                if (r <= 0)
                        return r < 0 ? r : -EPIPE;
                payload->size = h.size;
                payload->data[h.size] = '\0';
        }
        *ret_type = h.type;
        return 1;
}

/* Read into p[*done..size) what fd holds, without blocking: 1 when all is in, 0 at end of file. */
static int read_some(int fd, void *p, size_t size, size_t *done) {
        while (*done < size) {
                ssize_t n = recv(fd, (char *) p + *done, size - *done, MSG_DONTWAIT);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
                }
                if (n == 0)
                        return 0;
                *done += (size_t) n;
        }
        return 1;
}

int mh_test_wire_recv_some(int fd, mh_test_wire_inbox *in, uint32_t *ret_type) {
        frame_header h;
        int r;

        if (in->complete)
                *in = (mh_test_wire_inbox){ .payload = in->payload };
        if (in->got_header < sizeof(h)) {
                r = read_some(fd, in->header, sizeof(h), &in->got_header);
                if (r == 0)
                        return in->got_header > 0 ? -EPIPE : 0;
                if (r < 0)
                        return r;
                memcpy(&h, in->header, sizeof(h));
                if (h.size > MH_TEST_WIRE_FRAME_MAX)
                        return -EBADMSG;
                in->payload.size = 0;
                in->payload.max = MH_TEST_WIRE_FRAME_MAX + 1;
                if (in->payload.allocated < (size_t) h.size + 1) {
                        char *data = realloc(in->payload.data, (size_t) h.size + 1);

                        if (!data)
                                return -ENOMEM;
                        in->payload.data = data;
                        in->payload.allocated = (size_t) h.size + 1;
                }
        }
        memcpy(&h, in->header, sizeof(h));
        r = read_some(fd, in->payload.data, h.size, &in->payload.size);
        if (r == 0)
                return -EPIPE;
        if (r < 0)
                return r;
        in->payload.data[h.size] = '\0';
        in->complete = true;
        *ret_type = h.type;
        return 1;
}

void mh_test_wire_inbox_dispose(mh_test_wire_inbox *in) {
        mh_buf_dispose(&in->payload);
        *in = (mh_test_wire_inbox){};
}
