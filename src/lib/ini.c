/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <mhc/buf.h>

#include "ini.h"
#include "util.h"

/* An edited file is at most this much larger than the text it came from. */
#define INI_GROWTH (64 * 1024)

typedef struct line {
        const char *start;
        size_t size;                    /* with its '\n', if any */
} line;

static const char *skip_blanks(const char *p, const char *end) {
        while (p < end && (*p == ' ' || *p == '\t'))
                p++;
        return p;
}

static const char *trim_end(const char *start, const char *end) {
        while (end > start && strchr(" \t\r\n", end[-1]))
                end--;
        return end;
}

static bool range_eq(const char *start, const char *end, const char *s) {
        size_t n = strlen(s);

        return (size_t) (end - start) == n && memcmp(start, s, n) == 0;
}

/* The section name of a header line, as [*ret_start, *ret_end). */
static bool parse_header(const line *l, const char **ret_start, const char **ret_end) {
        const char *end = trim_end(l->start, l->start + l->size);
        const char *p = skip_blanks(l->start, end);

        if (p >= end || *p != '[' || end[-1] != ']')
                return false;
        *ret_start = skip_blanks(p + 1, end - 1);
        *ret_end = trim_end(*ret_start, end - 1);
        return true;
}

/* The key of a "key = value" line, and where its value starts (after the
 * "=" and the blanks that follow it). */
static bool parse_key(const line *l, const char **ret_start, const char **ret_end,
                      const char **ret_value) {
        const char *end = l->start + l->size, *p = skip_blanks(l->start, end), *eq;

        if (p >= end || strchr("#;[\n\r", *p))
                return false;
        eq = memchr(p, '=', (size_t) (end - p));
        if (!eq)
                return false;
        *ret_start = p;
        *ret_end = trim_end(p, eq);
        *ret_value = skip_blanks(eq + 1, trim_end(eq + 1, end));
        return *ret_end > *ret_start;
}

static bool opens_block(const line *l) {
        const char *end = trim_end(l->start, l->start + l->size);

        return end > l->start && end[-1] == '{';
}

static bool closes_block(const line *l) {
        const char *end = trim_end(l->start, l->start + l->size);
        const char *p = skip_blanks(l->start, end);

        return p < end && *p == '}';
}

static bool valid_name(const char *s, const char *forbidden) {
        size_t n = s ? strlen(s) : 0;

        if (n == 0 || strpbrk(s, forbidden))
                return false;
        return !strchr(" \t#;", s[0]) && !strchr(" \t", s[n - 1]);
}

static int add_key(mh_buf *out, const char *key, const char *value) {
        /* A last line without '\n' gets one before the new key. */
        if (out->size > 0 && out->data[out->size - 1] != '\n') {
                int r = mh_buf_append(out, "\n", 1);

                if (r < 0)
                        return r;
        }
        return mh_buf_printf(out, "%s = %s\n", key, value);
}

/* The line at *p, moving *p past it. */
static line next_line(const char **p, const char *end) {
        const char *nl = memchr(*p, '\n', (size_t) (end - *p));
        line l = { *p, nl ? (size_t) (nl + 1 - *p) : (size_t) (end - *p) };

        *p += l.size;
        return l;
}

/* What one line is to the scan: a header (in_section updated), a line of a
 * nested block, or a line of the current section at depth 0. */
typedef struct scan {
        const char *section;
        bool in_section;
        unsigned depth;
} scan;

/* True when l is a "key = value" line of the section, at depth 0, with
 * *ret_value pointing where its value starts. */
static bool scan_line(scan *s, const line *l, const char *key, const char **ret_value) {
        const char *ks, *ke;

        if (s->depth > 0) {
                s->depth += opens_block(l);
                s->depth -= closes_block(l);
                return false;
        }
        if (parse_header(l, &ks, &ke)) {
                s->in_section = s->section && range_eq(ks, ke, s->section);
                return false;
        }
        if (opens_block(l)) {
                s->depth = 1;
                return false;
        }
        return s->in_section && parse_key(l, &ks, &ke, ret_value) && (!key || range_eq(ks, ke, key));
}

int mh_ini_set_text(const char *text, const char *section, const char *key, const char *value,
                    char **ret) {
        _cleanup_(mh_buf_dispose) mh_buf out = MH_BUF_INIT(0);
        const char *end, *p, *vs, *insert_after = NULL;
        bool found = false, seen_section, first_done = false, written = false;
        scan s;
        int r;

        if (!text || !ret)
                return -EINVAL;
        if (section && !section[0])
                section = NULL;
        if (!valid_name(key, "=[]\n\r") || (section && !valid_name(section, "[]\n\r")) ||
            (value && strpbrk(value, "\n\r")))
                return -EINVAL;

        mh_buf_init(&out, strlen(text) + strlen(key) + strlen(value ?: "") +
                                  strlen(section ?: "") + INI_GROWTH);
        end = text + strlen(text);

        /* First pass: is the key there, and where would a new one go (after
         * the section's last key, or after its header)? */
        s = (scan) { .section = section, .in_section = !section };
        seen_section = !section;
        if (!section)
                insert_after = text;
        for (p = text; p < end;) {
                line l = next_line(&p, end);
                bool was_in = s.in_section, key_line;
                unsigned depth = s.depth;

                key_line = scan_line(&s, &l, NULL, &vs);
                if (!was_in && s.in_section) {
                        if (!seen_section)
                                insert_after = p;       /* after the header */
                        seen_section = true;
                        continue;
                }
                if (was_in && !s.in_section)
                        first_done = true;
                if (!s.in_section)
                        continue;
                if (key_line) {
                        const char *ks, *ke;

                        if (parse_key(&l, &ks, &ke, &vs) && range_eq(ks, ke, key))
                                found = true;
                }
                if (!first_done && (key_line || (depth > 0 && s.depth == 0)))
                        insert_after = p;               /* after a key or a nested block */
        }

        /* Second pass: copy, the key's first line rewritten and its later
         * ones dropped, or the new key put in. */
        if (!found && value && insert_after == text) {
                r = add_key(&out, key, value);
                if (r < 0)
                        return r;
                written = true;
        }
        s = (scan) { .section = section, .in_section = !section };
        for (p = text; p < end;) {
                line l = next_line(&p, end);

                if (scan_line(&s, &l, key, &vs)) {
                        if (!value || written)
                                continue;
                        r = mh_buf_append(&out, l.start, (size_t) (vs - l.start));
                        if (r >= 0)
                                r = mh_buf_printf(&out, "%s\n", value);
                        if (r < 0)
                                return r;
                        written = true;
                        continue;
                }
                r = mh_buf_append(&out, l.start, l.size);
                if (r >= 0 && !found && value && !written && p == insert_after) {
                        r = add_key(&out, key, value);
                        written = true;
                }
                if (r < 0)
                        return r;
        }
        if (value && !written) {
                r = 0;
                if (out.size > 0 && out.data[out.size - 1] != '\n')
                        r = mh_buf_append(&out, "\n", 1);
                if (r >= 0)
                        r = mh_buf_printf(&out, "%s[%s]\n", out.size > 0 ? "\n" : "", section);
                if (r >= 0)
                        r = add_key(&out, key, value);
                if (r < 0)
                        return r;
        }

        *ret = mh_buf_steal(&out, NULL);
        return *ret ? 0 : -ENOMEM;
}
