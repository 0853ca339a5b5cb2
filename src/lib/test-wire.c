/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <sys/socket.h>

#include "test-wire.h"

typedef struct frame_header {
        uint32_t type;
        uint32_t size;
} frame_header;

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

static int write_all(int fd, const void *data, size_t size) {
        const char *p = data;

        while (size > 0) {
                ssize_t n = send(fd, p, size, MSG_NOSIGNAL);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                size -= (size_t) n;
        }
        return 0;
}

int mh_test_wire_send(int fd, uint32_t type, const mh_buf *payload) {
        frame_header h = { .type = type, .size = (uint32_t) payload->size };
        int r;

        if (payload->size > MH_TEST_WIRE_FRAME_MAX)
                return -EFBIG;
        r = write_all(fd, &h, sizeof(h));
        if (r >= 0 && payload->size > 0)
                r = write_all(fd, payload->data, payload->size);
        return r;
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
