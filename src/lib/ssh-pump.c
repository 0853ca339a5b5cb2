/* SPDX-License-Identifier: MIT */
/*
 * A pump: the bytes between a local socket and an SSH channel, moved
 * without blocking by the thread of a tunnel or of a forward.
 */
#include <errno.h>
#include <sys/socket.h>

#include "ssh.h"
#include "util.h"

int mh_pump_keep(mh_pump *p, const void *data, size_t size) {
        if (p->to_local_start > 0) {
                p->to_local.size -= p->to_local_start;
                memmove(p->to_local.data, p->to_local.data + p->to_local_start, p->to_local.size);
                p->to_local_start = 0;
        }
        return mh_buf_append(&p->to_local, data, size);
}

size_t mh_pump_waiting(const mh_pump *p) {
        return p->to_local.size - p->to_local_start;
}

bool mh_pump_to_local(mh_pump *p, bool *progress) {
        while (p->to_local_start < p->to_local.size) {
                ssize_t n = send(p->fd, p->to_local.data + p->to_local_start,
                                 p->to_local.size - p->to_local_start, MSG_DONTWAIT | MSG_NOSIGNAL);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return errno == EAGAIN;
                p->to_local_start += (size_t) n;
                *progress = true;
        }
        p->to_local.size = p->to_local_start = 0;
        return true;
}

bool mh_pump_to_host(mh_pump *p, char *buf, uint32_t chunk, bool *progress) {
        uint32_t window;

        while (!p->local_eof && (window = ssh_channel_window_size(p->channel)) > 0) {
                ssize_t n = recv(p->fd, buf, window < chunk ? window : chunk, MSG_DONTWAIT);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return errno == EAGAIN;
                *progress = true;
                if (n == 0) {
                        p->local_eof = true;
                        return ssh_channel_send_eof(p->channel) == SSH_OK;
                }
                if (ssh_channel_write(p->channel, buf, (uint32_t) n) != n)
                        return false;
        }
        return true;
}
