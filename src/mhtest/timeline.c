/* SPDX-License-Identifier: MIT */
/*
 * A test's timeline (timeline.log beside its hosts' artifacts): the
 * runner's events (each command with its host, start, end and exit status,
 * the test's notes, among them its faults started and healed, the
 * restore) and each host's journal since the test started, merged in time
 * order on the runner's clock.  A host's journal times are corrected by
 * the host's clock offset, measured when mhtest connected to it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mhtest.h"
#include "util.h"

typedef struct timeline_entry {
        uint64_t usec; /* realtime, the runner's clock */
        size_t seq;    /* order of arrival: ties keep it */
        char *who;     /* "runner" or a host */
        char *text;
} timeline_entry;

struct timeline {
        timeline_entry *entries;
        size_t n;
};

timeline *timeline_new(void) {
        return calloc(1, sizeof(timeline));
}

void timeline_clear(timeline *tl) {
        for (size_t i = 0; tl && i < tl->n; i++) {
                free(tl->entries[i].who);
                free(tl->entries[i].text);
        }
        if (tl) {
                free(tl->entries);
                *tl = (timeline){};
        }
}

timeline *timeline_free(timeline *tl) {
        timeline_clear(tl);
        free(tl);
        return NULL;
}

static int add_text(timeline *tl, uint64_t usec, const char *who, char *text) {
        timeline_entry *e;

        if (!text)
                return -ENOMEM;
        e = reallocarray(tl->entries, tl->n + 1, sizeof(*e));
        if (!e) {
                free(text);
                return -ENOMEM;
        }
        tl->entries = e;
        e = &tl->entries[tl->n];
        *e = (timeline_entry){ .usec = usec, .seq = tl->n, .who = strdup(who), .text = text };
        if (!e->who) {
                free(text);
                return -ENOMEM;
        }
        tl->n++;
        return 0;
}

int timeline_add(timeline *tl, uint64_t usec, const char *who, const char *fmt, ...) {
        va_list ap;
        char *text;
        int k;

        if (!tl)
                return 0;
        va_start(ap, fmt);
        k = vasprintf(&text, fmt, ap);
        va_end(ap);
        return add_text(tl, usec, who, k < 0 ? NULL : text);
}

/* "2026-12-02T15:04:29.123456+0000 REST" (journalctl -o short-iso-precise; the
 * zone also as +00:00): its time. */
static bool journal_time(const char *line, uint64_t *ret, const char **rest) {
        struct tm tm = {};
        unsigned usec, zh, zm;
        char sign;
        int n = 0, m = 0;
        time_t t;

        if (sscanf(line, "%4d-%2d-%2dT%2d:%2d:%2d.%6u%c%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &usec, &sign, &n) != 8 ||
            n == 0 || (sign != '+' && sign != '-'))
                return false;
        if (sscanf(line + n, "%2u:%2u %n", &zh, &zm, &m) != 2 &&
            sscanf(line + n, "%2u%2u %n", &zh, &zm, &m) != 2)
                return false;
        if (m == 0)
                return false;
        n += m;
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        t = timegm(&tm);
        if (t == (time_t) -1)
                return false;
        t -= (sign == '+' ? 1 : -1) * (time_t) (zh * 3600 + zm * 60);
        *ret = (uint64_t) t * 1000000 + usec;
        *rest = line + n;
        return true;
}

int timeline_add_journal(timeline *tl, const char *who, const char *journal,
                         int64_t offset_usec) {
        uint64_t last = 0;
        const char *p = journal;

        while (tl && p && *p) {
                size_t len = strcspn(p, "\n");
                _cleanup_free_ char *line = strndup(p, len);
                const char *rest = NULL;
                uint64_t usec;
                int k;

                if (!line)
                        return -ENOMEM;
                /* a line without a time (a message's next lines, "-- Boot ... --") goes with the last */
                if (journal_time(line, &usec, &rest))
                        last = (uint64_t) ((int64_t) usec - offset_usec);
                else
                        rest = line;
                if (last > 0) {
                        k = timeline_add(tl, last, who, "journal: %s", rest);
                        if (k < 0)
                                return k;
                }
                p += len;
                if (*p == '\n')
                        p++;
        }
        return 0;
}

static int by_time(const void *a, const void *b) {
        const timeline_entry *x = a, *y = b;

        if (x->usec != y->usec)
                return x->usec < y->usec ? -1 : 1;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* HH:MM:SS.uuuuuu of a realtime in UTC. */
static void clock_text(uint64_t usec, char buf[static 32]) {
        time_t t = (time_t) (usec / 1000000);
        struct tm tm;

        gmtime_r(&t, &tm);
        snprintf(buf, 32, "%02d:%02d:%02d.%06u", tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (unsigned) (usec % 1000000));
}

char *timeline_text(timeline *tl, const char *header) {
        char *text = NULL;
        size_t size = 0, width = 6;
        FILE *f = open_memstream(&text, &size);

        if (!f)
                return NULL;
        qsort(tl->entries, tl->n, sizeof(*tl->entries), by_time);
        for (size_t i = 0; i < tl->n; i++)
                if (strlen(tl->entries[i].who) > width)
                        width = strlen(tl->entries[i].who);
        fputs(header, f);
        for (size_t i = 0; i < tl->n; i++) {
                char when[32];

                clock_text(tl->entries[i].usec, when);
                fprintf(f, "%s  %-*s  %s\n", when, (int) width, tl->entries[i].who,
                        tl->entries[i].text);
        }
        if (fclose(f) != 0) {
                free(text);
                return NULL;
        }
        return text;
}
