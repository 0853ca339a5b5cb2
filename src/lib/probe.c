/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include <mhc/probe.h>

#include "probe.h"
#include "util.h"

/* Round trips measured for the RTT; the median is reported. */
#define RTT_SAMPLES 5

/* Copy the value of an os-release line, undoing its shell-like quoting. */
static int unquote(const char *v, size_t len, char *buf, size_t size) {
        char quote = 0;
        size_t n = 0;

        if (size == 0)
                return -EINVAL;
        if (len > 0 && (v[0] == '"' || v[0] == '\'')) {
                quote = v[0];
                if (len < 2 || v[len - 1] != quote)
                        return -EBADMSG;
                v++;
                len -= 2;
        }
        for (size_t i = 0; i < len; i++) {
                char c = v[i];

                if (quote != '\'' && c == '\\' && i + 1 < len)
                        c = v[++i];
                if (n + 1 < size)
                        buf[n++] = c;
        }
        buf[n] = '\0';
        return 0;
}

int mh_os_release_get(const char *text, const char *key, char *buf, size_t size) {
        size_t key_len = strlen(key);

        for (const char *line = text; line && *line;) {
                const char *end = strchrnul(line, '\n');

                if ((size_t) (end - line) > key_len && strncmp(line, key, key_len) == 0 &&
                    line[key_len] == '=')
                        return unquote(line + key_len + 1, (size_t) (end - line) - key_len - 1,
                                       buf, size);
                line = *end ? end + 1 : end;
        }
        return -ENOENT;
}

static int run(mh_ssh *s, const char *command, mh_exec_result *ret, mh_error *error) {
        static const mh_exec_options options = { .max_output = 64 * 1024 };

        return mh_ssh_exec(s, command, &options, ret, error);
}

static int compare_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return (x > y) - (x < y);
}

static int measure_rtt(mh_ssh *s, uint64_t *ret, mh_error *error) {
        uint64_t samples[RTT_SAMPLES];

        for (size_t i = 0; i < RTT_SAMPLES; i++) {
                mh_exec_result r = {};
                uint64_t start = mh_now_usec();
                int k;

                k = run(s, "true", &r, error);
                samples[i] = mh_now_usec() - start;
                mh_exec_result_dispose(&r);
                if (k < 0)
                        return k;
        }
        qsort(samples, RTT_SAMPLES, sizeof(samples[0]), compare_u64);
        *ret = samples[RTT_SAMPLES / 2];
        return 0;
}

int mh_probe_host(mh_ssh *s, mh_probe *ret, mh_error *error) {
        mh_exec_result os = {}, state = {};
        mh_probe p = {};
        int r;

        r = run(s, "cat /etc/os-release", &os, error);
        if (r < 0)
                goto out;
        if (os.exit_status == 0)
                (void) mh_os_release_get(os.out, "PRETTY_NAME", p.os, sizeof(p.os));

        /* Exits non-zero for any state but running; the word is what counts. */
        r = run(s, "systemctl is-system-running", &state, error);
        if (r < 0)
                goto out;
        state.out[strcspn(state.out, "\n")] = '\0';
        if (state.out[0] == '\0') {
                r = mh_error_set(error, -MH_ERR_REMOTE,
                                 "systemctl is-system-running printed nothing (exit status %d): "
                                 "is systemd the host's init?",
                                 state.exit_status);
                goto out;
        }
        snprintf(p.system_state, sizeof(p.system_state), "%s", state.out);

        r = measure_rtt(s, &p.rtt_usec, error);
        if (r < 0)
                goto out;

        *ret = p;
out:
        mh_exec_result_dispose(&os);
        mh_exec_result_dispose(&state);
        return r;
}

int mh_probe_usable(const mh_probe *p) {
        return streq(p->system_state, "running") || streq(p->system_state, "degraded");
}
