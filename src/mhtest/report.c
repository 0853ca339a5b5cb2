/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mhtest.h"
#include "util.h"

/* U+FFFD, written for what a format cannot hold (invalid UTF-8, control characters). */
#define REPLACEMENT "\xef\xbf\xbd"

/* A test_result with strings and an outcome of its own, kept for the JUnit file. */
typedef struct kept_result {
        char *name;
        char *topology;
        char *file;
        char *reproducer;
        unsigned line;
        mh_test_outcome outcome;
        uint64_t restore_usec;
} kept_result;

struct report {
        pthread_mutex_t lock; /* events come from several threads */
        char **secrets;       /* replaced in everything written; NULL-terminated */
        int verbosity;
        char *junit_path; /* NULL: no JUnit file */
        char *json_path;
        int json_fd;    /* -1: no JSON log */
        int json_errno; /* the first failure writing it, or 0 */
        bool tap;
        unsigned tap_count;
        kept_result *results;
        size_t n_results;
        size_t allocated;
        bool out_of_memory;  /* a result could not be kept */
        uint64_t start_usec; /* monotonic, for the run's time */
};

/* --- escaping -------------------------------------------------------------- */

typedef enum escape {
        ESCAPE_JSON,       /* inside "...": controls as \u00XX */
        ESCAPE_XML_TEXT,   /* element content */
        ESCAPE_XML_ATTR,   /* a "..." attribute value: line breaks kept as references */
        ESCAPE_TAP,        /* a test line: one line, with # and \ escaped */
        ESCAPE_YAML_BLOCK, /* lines of a literal block scalar, 4 spaces in */
} escape;

/*
 * The code point of the UTF-8 sequence at s and its length, or -1 (1 byte
 * long) when the sequence is not valid: overlong, cut short, a surrogate or
 * past U+10FFFF.
 */
static int32_t utf8_next(const unsigned char *s, size_t *ret_len) {
        static const int32_t min[] = { 0, 0, 0x80, 0x800, 0x10000 };
        int32_t c;
        size_t n;

        *ret_len = 1;
        if (s[0] < 0x80)
                return s[0];
        if ((s[0] & 0xe0) == 0xc0)
                n = 2, c = s[0] & 0x1f;
        else if ((s[0] & 0xf0) == 0xe0)
                n = 3, c = s[0] & 0x0f;
        else if ((s[0] & 0xf8) == 0xf0)
                n = 4, c = s[0] & 0x07;
        else
                return -1;
        /* The NUL terminator is no continuation byte, so this stops at the end. */
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return -1;
                c = (c << 6) | (s[i] & 0x3f);
        }
        if (c < min[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
                return -1;
        *ret_len = n;
        return c;
}

/* A character no format here writes as it is: C0 and C1 controls, DEL, U+FFFE, U+FFFF. */
static bool is_control(int32_t c) {
        return c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || c == 0xfffe || c == 0xffff;
}

/* How code point c (-1: invalid UTF-8) is written in mode: NULL for as it is. */
static const char *escaped(int32_t c, escape mode, char buf[static 8]) {
        switch (mode) {
        case ESCAPE_JSON:
                switch (c) {
                case -1:
                        return "\\ufffd";
                case '"':
                        return "\\\"";
                case '\\':
                        return "\\\\";
                case '\n':
                        return "\\n";
                case '\r':
                        return "\\r";
                case '\t':
                        return "\\t";
                }
                /* Also U+2028 and U+2029, which JavaScript takes for line ends. */
                if (is_control(c) || c == 0x2028 || c == 0x2029) {
                        snprintf(buf, 8, "\\u%04x", (unsigned) c & 0xffffu);
                        return buf;
                }
                return NULL;
        case ESCAPE_XML_TEXT:
        case ESCAPE_XML_ATTR:
                switch (c) {
                case '&':
                        return "&amp;";
                case '<':
                        return "&lt;";
                case '>':
                        return "&gt;";
                case '\r':
                        return "&#13;";
                }
                if (mode == ESCAPE_XML_ATTR) {
                        switch (c) {
                        case '"':
                                return "&quot;";
                        case '\'':
                                return "&apos;";
                        case '\n':
                                return "&#10;";
                        case '\t':
                                return "&#9;";
                        }
                }
                if (c == '\n' || c == '\t')
                        return NULL;
                /* XML 1.0 has no way to write the other C0 controls, U+FFFE or U+FFFF. */
                return c < 0x20 || c == 0xfffe || c == 0xffff ? REPLACEMENT : NULL;
        case ESCAPE_TAP:
                switch (c) {
                case '#':
                        return "\\#";
                case '\\':
                        return "\\\\";
                case '\n':
                case '\r':
                case '\t':
                        return " ";
                }
                return is_control(c) ? REPLACEMENT : NULL;
        case ESCAPE_YAML_BLOCK:
                switch (c) {
                case '\n':
                        return "\n    ";
                case '\r':
                        return "";
                case '\t':
                        return NULL;
                }
                return is_control(c) ? REPLACEMENT : NULL;
        }
        return NULL;
}

/*
 * Write s (NULL: "") in mode, without r's secrets; invalid UTF-8 becomes
 * U+FFFD.  Every text of every format goes through here.
 */
static void put_escaped(const report *r, FILE *f, const char *s, escape mode) {
        _cleanup_free_ char *copy = NULL;
        const unsigned char *p;
        char buf[8];

        if (redact_found(s, (const char *const *) r->secrets)) {
                copy = redact_secrets(strdup(s), (const char *const *) r->secrets);
                if (!copy) {
                        fputs("********", f);
                        return;
                }
                s = copy;
        }
        p = (const unsigned char *) strempty(s);
        while (*p) {
                size_t n;
                int32_t c = utf8_next(p, &n);
                const char *e = escaped(c, mode, buf);

                if (e)
                        fputs(e, f);
                else
                        fwrite(p, 1, n, f);
                p += n;
        }
}

/* A JSON string, or null for NULL. */
static void put_json_string(const report *r, FILE *f, const char *s) {
        if (!s) {
                fputs("null", f);
                return;
        }
        fputc('"', f);
        put_escaped(r, f, s, ESCAPE_JSON);
        fputc('"', f);
}

/* Whether s is written as a JSON number: digits only, no leading zero. */
static bool is_json_number(const char *s) {
        if (!s || !*s || (s[0] == '0' && s[1]))
                return false;
        return s[strspn(s, "0123456789")] == '\0';
}

/* usec as seconds with 3 decimals ("1.250"), in any locale. */
static void format_seconds(uint64_t usec, char buf[static 32]) {
        snprintf(buf, 32, "%" PRIu64 ".%03" PRIu64, usec / 1000000, usec / 1000 % 1000);
}

/* "SIGSEGV" for 11, "signal 64" for a signal without a name here. */
static const char *signal_name(int sig, char buf[static 24]) {
        static const char *const names[] = {
                [SIGHUP] = "SIGHUP",   [SIGINT] = "SIGINT",   [SIGQUIT] = "SIGQUIT",
                [SIGILL] = "SIGILL",   [SIGTRAP] = "SIGTRAP", [SIGABRT] = "SIGABRT",
                [SIGBUS] = "SIGBUS",   [SIGFPE] = "SIGFPE",   [SIGKILL] = "SIGKILL",
                [SIGUSR1] = "SIGUSR1", [SIGSEGV] = "SIGSEGV", [SIGUSR2] = "SIGUSR2",
                [SIGPIPE] = "SIGPIPE", [SIGALRM] = "SIGALRM", [SIGTERM] = "SIGTERM",
                [SIGXCPU] = "SIGXCPU", [SIGXFSZ] = "SIGXFSZ", [SIGSYS] = "SIGSYS",
        };

        if (sig > 0 && (size_t) sig < ELEMENTSOF(names) && names[sig])
                return names[sig];
        snprintf(buf, 24, "signal %d", sig);
        return buf;
}

static const char *status_name(mh_test_status s) {
        switch (s) {
        case MH_TEST_PASSED:
                return "passed";
        case MH_TEST_FAILED:
                return "failed";
        case MH_TEST_SKIPPED:
                return "skipped";
        case MH_TEST_ERROR:
                return "error";
        }
        return "error";
}

/* --- the JSON log ---------------------------------------------------------- */

/* A JSON line being built in memory, written with one write() when it ends. */
typedef struct json_line {
        const report *r;
        FILE *f;
        char *data;
        size_t size;
} json_line;

/* Start the line of an event: false when there is no JSON log (or no memory). */
static bool json_begin(report *r, const char *event, json_line *ret) {
        uint64_t t;

        if (!r || r->json_fd < 0)
                return false;
        *ret = (json_line){ .r = r };
        ret->f = open_memstream(&ret->data, &ret->size);
        if (!ret->f) {
                pthread_mutex_lock(&r->lock);
                if (r->json_errno == 0)
                        r->json_errno = errno;
                pthread_mutex_unlock(&r->lock);
                return false;
        }
        t = mh_realtime_usec();
        fprintf(ret->f, "{\"time\": %" PRIu64 ".%06" PRIu64 ", \"event\": ", t / 1000000,
                t % 1000000);
        put_json_string(r, ret->f, event);
        return true;
}

static void json_key(json_line *l, const char *key) {
        fputs(", ", l->f);
        put_json_string(l->r, l->f, key);
        fputs(": ", l->f);
}

static void json_string(json_line *l, const char *key, const char *value) {
        json_key(l, key);
        put_json_string(l->r, l->f, value);
}

static void json_uint(json_line *l, const char *key, uint64_t value) {
        json_key(l, key);
        fprintf(l->f, "%" PRIu64, value);
}

static void json_bool(json_line *l, const char *key, bool value) {
        json_key(l, key);
        fputs(value ? "true" : "false", l->f);
}

/* End the line and write it whole, so that a crash loses no more than the line. */
static void json_end(report *r, json_line *l) {
        int err = 0;

        fputs("}\n", l->f);
        if (fclose(l->f) != 0)
                err = errno;
        pthread_mutex_lock(&r->lock);
        for (size_t done = 0; err == 0 && done < l->size;) {
                ssize_t n = write(r->json_fd, l->data + done, l->size - done);

                if (n < 0 && errno != EINTR)
                        err = errno;
                else if (n > 0)
                        done += (size_t) n;
        }
        if (err != 0 && r->json_errno == 0)
                r->json_errno = err;
        pthread_mutex_unlock(&r->lock);
        free(l->data);
}

void report_event(report *r, const char *event, ...) {
        json_line l;
        va_list ap;

        if (!json_begin(r, event, &l))
                return;
        va_start(ap, event);
        for (const char *key; (key = va_arg(ap, const char *));) {
                const char *value = va_arg(ap, const char *);

                json_key(&l, key);
                if (is_json_number(value) && !redact_found(value, (const char *const *) r->secrets))
                        fputs(value, l.f);
                else
                        put_json_string(r, l.f, value);
        }
        va_end(ap);
        json_end(r, &l);
}

void report_command(report *r, const mh_command_record *record) {
        json_line l;

        if (!record || !json_begin(r, "command", &l))
                return;
        json_string(&l, "host", record->host);
        json_string(&l, "command", record->command);
        json_key(&l, "exit_status");
        if (record->exit_status >= 0)
                fprintf(l.f, "%d", record->exit_status);
        else
                fputs("null", l.f);
        json_string(&l, "error", record->error != 0 ? mh_strerror(record->error) : NULL);
        json_uint(&l, "duration_usec", record->duration_usec);
        json_end(r, &l);
}

static void json_test(report *r, const test_result *t) {
        const mh_test_outcome *o = t->outcome;
        json_line l;

        if (!json_begin(r, "test-end", &l))
                return;
        json_string(&l, "test", t->name);
        json_string(&l, "topology", t->topology);
        json_string(&l, "module", t->module);
        json_string(&l, "file", t->file);
        json_uint(&l, "line", t->line);
        json_string(&l, "status", status_name(o->status));
        json_string(&l, "message", o->message);
        json_string(&l, "details", o->details);
        json_key(&l, "signal");
        if (o->signal > 0)
                fprintf(l.f, "%d", o->signal);
        else
                fputs("null", l.f);
        json_bool(&l, "timed_out", o->timed_out);
        json_bool(&l, "cancelled", o->cancelled);
        json_uint(&l, "duration_usec", o->duration_usec);
        json_uint(&l, "restore_usec", t->restore_usec);
        json_string(&l, "reproducer", t->reproducer);
        json_uint(&l, "index", t->index);
        json_uint(&l, "total", t->total);
        json_end(r, &l);
}

/* --- TAP ------------------------------------------------------------------- */

/* "  key: "value"" in a YAML diagnostic block, when value is set. */
static void tap_yaml_string(const report *r, const char *key, const char *value) {
        if (!value)
                return;
        printf("  %s: ", key);
        put_json_string(r, stdout, value); /* a JSON string is a YAML double-quoted scalar */
        putchar('\n');
}

static void tap_test(report *r, const test_result *t) {
        const mh_test_outcome *o = t->outcome;
        bool failed = o->status == MH_TEST_FAILED || o->status == MH_TEST_ERROR;
        char seconds[32], name[24];

        r->tap_count++;
        if (signals_output_closed(STDOUT_FILENO))
                return;
        printf("%sok %u - ", failed ? "not " : "", r->tap_count);
        put_escaped(r, stdout, t->name, ESCAPE_TAP);
        fputs(" [", stdout);
        put_escaped(r, stdout, t->topology, ESCAPE_TAP);
        putchar(']');
        if (o->status == MH_TEST_SKIPPED) {
                fputs(" # SKIP ", stdout);
                put_escaped(r, stdout, o->message, ESCAPE_TAP);
        }
        putchar('\n');

        /* Why it failed, or with -v how long a passed test took. */
        if (failed || (o->status == MH_TEST_PASSED && r->verbosity > 0)) {
                fputs("  ---\n", stdout);
                tap_yaml_string(r, "message", o->message);
                if (failed)
                        tap_yaml_string(r, "severity",
                                        o->status == MH_TEST_ERROR ? "error" : "fail");
                /* How the test's process ended, when not by itself. */
                if (o->signal > 0) {
                        printf("  signal: %d\n", o->signal);
                        tap_yaml_string(r, "signal_name", signal_name(o->signal, name));
                }
                if (o->timed_out)
                        fputs("  timed_out: true\n", stdout);
                if (o->cancelled)
                        fputs("  cancelled: true\n", stdout);
                tap_yaml_string(r, "file", t->file);
                if (t->file)
                        printf("  line: %u\n", t->line);
                format_seconds(o->duration_usec, seconds);
                printf("  duration: %s\n", seconds);
                if (o->details && *o->details) {
                        /* The indentation indicator: details may start with spaces. */
                        fputs("  details: |2-\n    ", stdout);
                        put_escaped(r, stdout, o->details, ESCAPE_YAML_BLOCK);
                        putchar('\n');
                }
                tap_yaml_string(r, "reproducer", t->reproducer);
                fputs("  ...\n", stdout);
        }
        console_flush(stdout);
}

/* --- kept results and JUnit ------------------------------------------------ */

static int strdup_or_null(const char *s, char **ret) {
        if (s && !(*ret = strdup(s)))
                return -ENOMEM;
        return 0;
}

static void kept_result_dispose(kept_result *k) {
        free(k->name);
        free(k->topology);
        free(k->file);
        free(k->reproducer);
        mh_test_outcome_dispose(&k->outcome);
}

static int keep_result(report *r, const test_result *t) {
        const mh_test_outcome *o = t->outcome;
        kept_result k = {
                .line = t->line,
                .outcome = {
                        .status = o->status,
                        .duration_usec = o->duration_usec,
                        .signal = o->signal,
                        .timed_out = o->timed_out,
                        .cancelled = o->cancelled,
                },
                .restore_usec = t->restore_usec,
        };

        if (r->n_results == r->allocated) {
                size_t n = r->allocated ? r->allocated * 2 : 16;
                kept_result *p = reallocarray(r->results, n, sizeof(*p));

                if (!p)
                        return -ENOMEM;
                r->results = p;
                r->allocated = n;
        }
        if (strdup_or_null(strempty(t->name), &k.name) < 0 ||
            strdup_or_null(strempty(t->topology), &k.topology) < 0 ||
            strdup_or_null(t->file, &k.file) < 0 ||
            strdup_or_null(o->message, &k.outcome.message) < 0 ||
            strdup_or_null(o->details, &k.outcome.details) < 0 ||
            strdup_or_null(t->reproducer, &k.reproducer) < 0) {
                kept_result_dispose(&k);
                return -ENOMEM;
        }
        r->results[r->n_results++] = k;
        return 0;
}

void report_test(report *r, const test_result *result) {
        if (!r || !result || !result->outcome)
                return;
        json_test(r, result);
        pthread_mutex_lock(&r->lock);
        if (r->tap)
                tap_test(r, result);
        if (r->junit_path && keep_result(r, result) < 0)
                r->out_of_memory = true;
        pthread_mutex_unlock(&r->lock);
}

typedef struct counts {
        size_t tests, failures, errors, skipped;
        uint64_t usec;
} counts;

/* The counts of the kept results of topology, or of all for NULL. */
static counts count_results(const report *r, const char *topology) {
        counts c = { 0 };

        for (size_t i = 0; i < r->n_results; i++) {
                const kept_result *k = &r->results[i];

                if (topology && !streq(k->topology, topology))
                        continue;
                c.tests++;
                c.failures += k->outcome.status == MH_TEST_FAILED;
                c.errors += k->outcome.status == MH_TEST_ERROR;
                c.skipped += k->outcome.status == MH_TEST_SKIPPED;
                c.usec += k->outcome.duration_usec;
        }
        return c;
}

/* name="..." tests="..." failures=... of an element. */
static void junit_counts(FILE *f, const report *r, const char *name, const counts *c) {
        char seconds[32];

        format_seconds(c->usec, seconds);
        fputs(" name=\"", f);
        put_escaped(r, f, name, ESCAPE_XML_ATTR);
        fprintf(f, "\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\" time=\"%s\"",
                c->tests, c->failures, c->errors, c->skipped, seconds);
}

static void junit_attr(FILE *f, const report *r, const char *name, const char *value) {
        fprintf(f, " %s=\"", name);
        put_escaped(r, f, value, ESCAPE_XML_ATTR);
        fputc('"', f);
}

/*
 * The type of a failure or error element: how the test's process ended
 * when not by itself (its signal, "timeout", "cancelled"), or else the
 * element's name.
 */
static const char *junit_type(const mh_test_outcome *o, const char *element, char buf[static 24]) {
        if (o->signal > 0)
                return signal_name(o->signal, buf);
        if (o->timed_out)
                return "timeout";
        if (o->cancelled)
                return "cancelled";
        return element;
}

static void junit_testcase(FILE *f, const report *r, const kept_result *k) {
        static const char *const element[] = {
                [MH_TEST_FAILED] = "failure",
                [MH_TEST_ERROR] = "error",
                [MH_TEST_SKIPPED] = "skipped",
        };
        const mh_test_outcome *o = &k->outcome;
        const char *outcome = o->status < ELEMENTSOF(element) ? element[o->status] : NULL;
        bool details_in_outcome = outcome && o->status != MH_TEST_SKIPPED && o->details;
        char seconds[32], type[24];

        format_seconds(o->duration_usec, seconds);
        fputs("    <testcase", f);
        junit_attr(f, r, "name", k->name);
        junit_attr(f, r, "classname", k->topology);
        fprintf(f, " time=\"%s\"", seconds);
        if (k->file) {
                junit_attr(f, r, "file", k->file);
                fprintf(f, " line=\"%u\"", k->line);
        }
        fputs(">\n", f);

        if (outcome) {
                fprintf(f, "      <%s", outcome);
                junit_attr(f, r, "message", o->message ?: status_name(o->status));
                if (o->status != MH_TEST_SKIPPED)
                        junit_attr(f, r, "type", junit_type(o, outcome, type));
                if (details_in_outcome) {
                        fputc('>', f);
                        put_escaped(r, f, o->details, ESCAPE_XML_TEXT);
                        fprintf(f, "</%s>\n", outcome);
                } else
                        fputs("/>\n", f);
        }

        if ((o->details && !details_in_outcome) || k->reproducer) {
                fputs("      <system-out>", f);
                if (o->details && !details_in_outcome) {
                        put_escaped(r, f, o->details, ESCAPE_XML_TEXT);
                        fputc('\n', f);
                }
                if (k->reproducer) {
                        fputs("Reproduce with: ", f);
                        put_escaped(r, f, k->reproducer, ESCAPE_XML_TEXT);
                        fputc('\n', f);
                }
                fputs("</system-out>\n", f);
        }
        fputs("    </testcase>\n", f);
}

static void junit_testsuite(FILE *f, const report *r, const char *topology, bool interrupted) {
        counts c = count_results(r, topology);

        fputs("  <testsuite", f);
        junit_counts(f, r, topology, &c);
        fputs(">\n", f);
        if (interrupted)
                fputs("    <properties>\n"
                      "      <property name=\"interrupted\" value=\"true\"/>\n"
                      "    </properties>\n",
                      f);
        for (size_t i = 0; i < r->n_results; i++)
                if (streq(r->results[i].topology, topology))
                        junit_testcase(f, r, &r->results[i]);
        if (interrupted)
                fputs("    <system-err>The run was interrupted: the tests that had not ended "
                      "are not in this report.</system-err>\n",
                      f);
        fputs("  </testsuite>\n", f);
}

static void junit_write(FILE *f, const report *r, bool interrupted) {
        counts all = count_results(r, NULL);

        /* The whole run's time, not the sum of its tests'. */
        all.usec = mh_now_usec() - r->start_usec;
        fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites", f);
        junit_counts(f, r, "mhtest", &all);
        fputs(">\n", f);
        /* One testsuite per topology, in the order their first tests ended. */
        for (size_t i = 0; i < r->n_results; i++) {
                bool first = true;

                for (size_t j = 0; j < i && first; j++)
                        first = !streq(r->results[j].topology, r->results[i].topology);
                if (first)
                        junit_testsuite(f, r, r->results[i].topology, interrupted);
        }
        /* Still say that the run was cut short when no test ended. */
        if (r->n_results == 0 && interrupted)
                junit_testsuite(f, r, "mhtest", interrupted);
        fputs("</testsuites>\n", f);
}

/* Where the JUnit file is written first: PATH.tmp, or PATH itself when PATH
 * exists and is not a regular file (/dev/stdout, a symbolic link, a FIFO),
 * which a rename would replace. */
static char *tmp_path(const char *path) {
        struct stat st;
        char *p;

        if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
                return strdup(path);
        return asprintf(&p, "%s.tmp", path) < 0 ? NULL : p;
}

/* Write the JUnit file to PATH.tmp and rename it to PATH, so PATH is whole or absent. */
static int junit_save(const report *r, bool interrupted, mh_error *error) {
        _cleanup_free_ char *tmp = tmp_path(r->junit_path);
        FILE *f;
        int k = 0;

        if (!tmp)
                return mh_error_oom(error);
        f = fopen(tmp, "we");
        if (!f)
                return mh_error_set(error, -errno, "cannot write JUnit report '%s': %s", tmp,
                                    strerror(errno));
        junit_write(f, r, interrupted);
        if (ferror(f) || fflush(f) != 0 || (fsync(fileno(f)) < 0 && errno != EINVAL))
                k = -(errno ?: EIO);
        if (fclose(f) != 0 && k == 0)
                k = -(errno ?: EIO);
        if (streq(tmp, r->junit_path)) {
                if (k < 0)
                        return mh_error_set(error, k, "cannot write JUnit report '%s': %s",
                                            r->junit_path, strerror(-k));
                return 0;
        }
        if (k == 0 && rename(tmp, r->junit_path) < 0)
                k = -errno;
        if (k < 0) {
                (void) unlink(tmp);
                return mh_error_set(error, k, "cannot write JUnit report '%s': %s", r->junit_path,
                                    strerror(-k));
        }
        return 0;
}

/* --- opening and closing ---------------------------------------------------- */

static void report_free(report *r) {
        if (!r)
                return;
        for (size_t i = 0; i < r->n_results; i++)
                kept_result_dispose(&r->results[i]);
        free(r->results);
        if (r->json_fd >= 0)
                close(r->json_fd);
        free(r->junit_path);
        free(r->json_path);
        redact_free_list(r->secrets);
        pthread_mutex_destroy(&r->lock);
        free(r);
}

/* Fail now, not after the run, when the JUnit file cannot be written. */
static int junit_check_writable(const char *path, mh_error *error) {
        _cleanup_free_ char *tmp = tmp_path(path);
        int fd;

        if (!tmp)
                return mh_error_oom(error);
        fd = open(tmp, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0)
                return mh_error_set(error, -errno, "cannot write JUnit report '%s': %s", tmp,
                                    strerror(errno));
        close(fd);
        if (!streq(tmp, path))
                (void) unlink(tmp);
        return 0;
}

void report_add_secret(report *r, const char *secret) {
        size_t n = 0;
        char **secrets, *copy;

        if (!r || !secret)
                return;
        while (r->secrets[n])
                n++;
        copy = strdup(secret);
        secrets = copy ? reallocarray(r->secrets, n + 2, sizeof(*secrets)) : NULL;
        if (!secrets) {
                free(copy);
                return;
        }
        secrets[n] = copy;
        secrets[n + 1] = NULL;
        r->secrets = secrets;
}

int report_open(const arguments *args, const char *const *secrets, report **ret, mh_error *error) {
        report *r;
        int k;

        assert(args);
        assert(ret);
        r = calloc(1, sizeof(*r));
        if (!r)
                return mh_error_oom(error);
        pthread_mutex_init(&r->lock, NULL);
        r->json_fd = -1;
        r->verbosity = args->verbosity;
        r->tap = args->tap;
        r->start_usec = mh_now_usec();

        r->secrets = redact_copy_list(secrets);
        if (!r->secrets || strdup_or_null(args->junit_path, &r->junit_path) < 0 ||
            strdup_or_null(args->json_path, &r->json_path) < 0) {
                report_free(r);
                return mh_error_oom(error);
        }
        if (r->junit_path && (k = junit_check_writable(r->junit_path, error)) < 0) {
                report_free(r);
                return k;
        }
        if (r->json_path) {
                r->json_fd = open(r->json_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
                if (r->json_fd < 0) {
                        k = mh_error_set(error, -errno, "cannot write JSON log '%s': %s",
                                         r->json_path, strerror(errno));
                        report_free(r);
                        return k;
                }
        }
        if (r->tap) {
                fputs("TAP version 13\n", stdout);
                fflush(stdout);
        }
        *ret = r;
        return 0;
}

int report_close(report *r, bool interrupted, mh_error *error) {
        int k = 0;

        if (!r)
                return 0;
        /* Without a reader left (mhtest --tap | head -1), there is no one to tell. */
        if (r->tap && !signals_output_closed(STDOUT_FILENO)) {
                /* An interrupted run must not look complete to a TAP harness. */
                if (interrupted)
                        fputs("Bail out! The run was interrupted\n", stdout);
                else
                        printf("1..%u\n", r->tap_count);
                console_flush(stdout);
                if (!signals_output_closed(STDOUT_FILENO) && ferror(stdout))
                        k = mh_error_set(error, -EIO, "cannot write TAP to standard output");
        }
        if (k == 0 && r->json_errno != 0)
                k = mh_error_set(error, -r->json_errno, "cannot write JSON log '%s': %s",
                                 r->json_path, strerror(r->json_errno));
        if (r->json_fd >= 0 && close(r->json_fd) < 0 && k == 0)
                k = mh_error_set(error, -errno, "cannot write JSON log '%s': %s", r->json_path,
                                 strerror(errno));
        r->json_fd = -1;
        if (r->junit_path) {
                /* Without memory for some results, still write the others. */
                int q = junit_save(r, interrupted, error);

                if (q == 0 && r->out_of_memory)
                        q = mh_error_set(error, -ENOMEM,
                                         "out of memory: the JUnit report "
                                         "'%s' misses tests",
                                         r->junit_path);
                if (k == 0)
                        k = q;
        }
        report_free(r);
        return k;
}
