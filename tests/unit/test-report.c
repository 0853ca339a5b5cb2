/* SPDX-License-Identifier: MIT */
/* check.h has an enum test_result of its own: name it otherwise here, for mhtest.h's. */
#define test_result check_test_result
#include <check.h>
#undef test_result
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/mhtest/mhtest.h"
#include "util.h"
#include "check-run.h"

#define XSD MH_TEST_SRCDIR "/tests/data/junit.xsd"

/*
 * Text that breaks naive writers: quotes, markup, a TAP directive, line
 * breaks, C0 controls, DEL, a C1 control, U+2028, invalid UTF-8 (a stray
 * continuation byte, an overlong '/', a surrogate, a sequence cut short)
 * and valid multi-byte characters.
 */
#define HOSTILE                                                                              \
        "q\"uote' <a href=\"x\">&amp;</a> ]]> # TODO \\ back\tslash\r\nnew\x01\x1f\x7f "     \
        "\xc2\x85 \xe2\x80\xa8 bad:\x80\xc0\xaf\xed\xa0\x80\xe2\x82 ok:\xc3\xa9\xe2\x98\x83" \
        "\xf0\x9f\x98\x80 end"

/* HOSTILE as it comes back from JSON: each invalid sequence's bytes as U+FFFD. */
#define FFFD "\xef\xbf\xbd"
#define HOSTILE_JSON                                                                     \
        "q\"uote' <a href=\"x\">&amp;</a> ]]> # TODO \\ back\tslash\r\nnew\x01\x1f\x7f " \
        "\xc2\x85 \xe2\x80\xa8 bad:" FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD             \
        " ok:\xc3\xa9\xe2\x98\x83\xf0\x9f\x98\x80 end"

/* HOSTILE as XML keeps it: C0 controls but tab and line breaks replaced too. */
#define HOSTILE_XML                                                                   \
        "q\"uote' <a href=\"x\">&amp;</a> ]]> # TODO \\ back\tslash\r\nnew" FFFD FFFD \
        "\x7f \xc2\x85 \xe2\x80\xa8 bad:" FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD     \
        " ok:\xc3\xa9\xe2\x98\x83\xf0\x9f\x98\x80 end"

static char dir[] = "/tmp/test-report-XXXXXX";

static void setup(void) {
        strcpy(dir, "/tmp/test-report-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void) {
        char command[64];

        snprintf(command, sizeof(command), "rm -rf '%s'", dir);
        ck_assert_int_eq(system(command), 0);
}

static char *path_in_dir(const char *name) {
        char *p;

        ck_assert_int_ge(asprintf(&p, "%s/%s", dir, name), 0);
        return p;
}

/* The exit status of a shell command. */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...) {
        _cleanup_free_ char *command = NULL;
        va_list ap;
        int status;

        va_start(ap, fmt);
        ck_assert_int_ge(vasprintf(&command, fmt, ap), 0);
        va_end(ap);
        status = system(command);
        ck_assert_msg(WIFEXITED(status), "%s did not exit", command);
        return WEXITSTATUS(status);
}

static char *read_all(int fd) {
        char *data = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&data, &size);
        char buf[4096];
        ssize_t n;

        ck_assert_ptr_nonnull(f);
        while ((n = read(fd, buf, sizeof(buf))) > 0)
                fwrite(buf, 1, (size_t) n, f);
        ck_assert_int_eq(fclose(f), 0);
        return data;
}

/* The standard output of a shell command that must succeed. */
static char *output_of(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *output_of(const char *fmt, ...) {
        _cleanup_free_ char *command = NULL;
        va_list ap;
        FILE *p;
        char *out;

        va_start(ap, fmt);
        ck_assert_int_ge(vasprintf(&command, fmt, ap), 0);
        va_end(ap);
        p = popen(command, "r");
        ck_assert_ptr_nonnull(p);
        out = read_all(fileno(p));
        ck_assert_msg(pclose(p) == 0, "%s failed", command);
        return out;
}

static char *read_file(const char *path) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        char *data;

        ck_assert_msg(fd >= 0, "cannot open %s: %s", path, strerror(errno));
        data = read_all(fd);
        close(fd);
        return data;
}

static void require_tool(const char *tool) {
        ck_assert_msg(run("command -v %s >/dev/null", tool) == 0,
                      "%s is missing: run tests/install-deps as root", tool);
}

static report *open_report_hiding(const arguments *args, const char *const *secrets) {
        mh_error e = MH_ERROR_INIT;
        report *r = NULL;

        ck_assert_msg(report_open(args, secrets, &r, &e) == 0, "%s", e.message);
        ck_assert_ptr_nonnull(r);
        return r;
}

static report *open_report(const arguments *args) {
        return open_report_hiding(args, NULL);
}

static void close_report(report *r, bool interrupted) {
        mh_error e = MH_ERROR_INIT;

        ck_assert_msg(report_close(r, interrupted, &e) == 0, "%s", e.message);
}

/* The outcome of a test_result, with its strings given as literals. */
#define OUTCOME(...) (&(const mh_test_outcome){ __VA_ARGS__ })
#define TEXT(s)      ((char *) (s))

/* Results of every kind on two topologies. */
static const test_result results[] = {
        { .name = "passes",
          .topology = "client-server",
          .module = "tests/m.so",
          .file = "tests/m.c",
          .line = 10,
          .outcome = OUTCOME(.status = MH_TEST_PASSED, .duration_usec = 1500000,
                             .details = TEXT("a note")),
          .restore_usec = 2000,
          .index = 1,
          .total = 5 },
        { .name = "fails",
          .topology = "client-server",
          .module = "tests/m.so",
          .file = "tests/m.c",
          .line = 20,
          .outcome = OUTCOME(.status = MH_TEST_FAILED, .message = TEXT("x != y"),
                             .details = TEXT("  indented output\nline two\n"),
                             .duration_usec = 250000),
          .reproducer = "mhtest -k fails --seed 7",
          .index = 2,
          .total = 5 },
        { .name = "skips",
          .topology = "client-db",
          .outcome = OUTCOME(.status = MH_TEST_SKIPPED, .message = TEXT("no PostgreSQL")),
          .index = 3,
          .total = 5 },
        { .name = "crashes",
          .topology = "client-server",
          .file = "tests/m.c",
          .line = 40,
          .outcome = OUTCOME(.status = MH_TEST_ERROR, .message = TEXT("killed by signal 11")),
          .index = 4,
          .total = 5 },
        { .name = "hostile#" HOSTILE,
          .topology = "client-db",
          .file = HOSTILE,
          .line = 50,
          .outcome = OUTCOME(.status = MH_TEST_FAILED, .message = TEXT(HOSTILE),
                             .details = TEXT(HOSTILE)),
          .reproducer = HOSTILE,
          .index = 5,
          .total = 5 },
};

/* Errors the test's process did not end itself: crashes, a timeout, Ctrl-C. */
static const test_result ends[] = {
        { .name = "segv",
          .topology = "t",
          .outcome = OUTCOME(.status = MH_TEST_ERROR,
                             .message = TEXT("crashed: Segmentation fault (signal 11)"),
                             .signal = SIGSEGV, .duration_usec = 1000) },
        { .name = "hangs",
          .topology = "t",
          .outcome = OUTCOME(.status = MH_TEST_ERROR, .message = TEXT("timed out after 2 s"),
                             .timed_out = 1, .duration_usec = 2000000) },
        { .name = "interrupted",
          .topology = "t",
          .outcome = OUTCOME(.status = MH_TEST_ERROR, .message = TEXT("interrupted (Ctrl-C)"),
                             .cancelled = 1) },
        { .name = "realtime",
          .topology = "t",
          .outcome = OUTCOME(.status = MH_TEST_ERROR, .signal = 40) },
};

static void report_results(report *r) {
        for (size_t i = 0; i < ELEMENTSOF(results); i++)
                report_test(r, &results[i]);
}

/* --- JSON ----------------------------------------------------------------- */

static char *jq(const char *file, const char *filter) {
        return output_of("jq -j '%s' '%s'", filter, file);
}

START_TEST(test_json_log) {
        _cleanup_free_ char *path = path_in_dir("log.json");
        _cleanup_free_ char *s = NULL;
        arguments args = { 0 };
        mh_command_record records[] = {
                { .host = "db",
                  .command = "echo " HOSTILE,
                  .exit_status = 3,
                  .duration_usec = 1200 },
                { .host = "client",
                  .command = "sleep 100",
                  .exit_status = -1,
                  .error = -ETIMEDOUT,
                  .duration_usec = 5 },
        };
        report *r;

        require_tool("jq");
        args.json_path = path;
        r = open_report(&args);
        report_event(r, "run-start", "seed", "12345", "zero", "0", "octal", "0123", "empty", "",
                     "sign", "-1", "null", NULL, NULL);
        report_event(r, HOSTILE, HOSTILE, HOSTILE, NULL);
        report_command(r, &records[0]);
        report_command(r, &records[1]);
        report_results(r);
        report_event(r, "run-end", NULL);
        close_report(r, false);

        /* Every line is one valid object. */
        ck_assert_int_eq(run("jq -e . '%s' >/dev/null", path), 0);
        ck_assert_int_eq(run("test $(wc -l < '%s') -eq 10", path), 0);
        s = output_of("jq -s 'map(select(.time | type == \"number\" and . > 1.6e9)) | length' "
                      "'%s'",
                      path);
        ck_assert_str_eq(s, "10\n");

        free(s);
        s = jq(path, "select(.event == \"run-start\") | [.seed, .zero, .octal, .empty, .sign, "
                     ".null] | @json");
        ck_assert_str_eq(s, "[12345,0,\"0123\",\"\",\"-1\",null]");

        /* Hostile keys, values and commands come back as they were, but for invalid UTF-8. */
        free(s);
        s = jq(path, "select(.event | startswith(\"q\")) | to_entries[2] | .key, .value");
        ck_assert_str_eq(s, HOSTILE_JSON HOSTILE_JSON);
        free(s);
        s = jq(path, "select(.event == \"command\" and .host == \"db\") | .command");
        ck_assert_str_eq(s, "echo " HOSTILE_JSON);

        free(s);
        s = jq(path, "select(.event == \"command\") | [.host, .exit_status, .error, "
                     ".duration_usec] | @json + \"\\n\"");
        ck_assert_str_eq(s, "[\"db\",3,null,1200]\n[\"client\",null,\"Connection timed out\",5]\n");

        free(s);
        s = jq(path, "select(.event == \"test-end\" and .line != 50) | [.test, .topology, .status, "
                     ".message, "
                     ".details, .duration_usec, .restore_usec, .reproducer, .line, .index, "
                     ".total] | @json + \"\\n\"");
        ck_assert_str_eq(s, "[\"passes\",\"client-server\",\"passed\",null,\"a note\",1500000,"
                            "2000,null,10,1,5]\n"
                            "[\"fails\",\"client-server\",\"failed\",\"x != y\",\"  indented "
                            "output\\nline two\\n\",250000,0,\"mhtest -k fails --seed 7\",20,2,5]\n"
                            "[\"skips\",\"client-db\",\"skipped\",\"no PostgreSQL\",null,0,0,"
                            "null,0,3,5]\n"
                            "[\"crashes\",\"client-server\",\"error\",\"killed by signal 11\","
                            "null,0,0,null,40,4,5]\n");

        free(s);
        s = jq(path, "select(.event == \"test-end\" and .line == 50) | .test, .message, .details, "
                     ".reproducer, .file");
        ck_assert_str_eq(
                s, "hostile#" HOSTILE_JSON HOSTILE_JSON HOSTILE_JSON HOSTILE_JSON HOSTILE_JSON);
}
END_TEST

/* How a test's process ended is in fields of its own: signal, timed_out, cancelled. */
START_TEST(test_json_how_tests_ended) {
        _cleanup_free_ char *path = path_in_dir("log.json");
        _cleanup_free_ char *s = NULL;
        arguments args = { .json_path = path };
        report *r;

        require_tool("jq");
        r = open_report(&args);
        for (size_t i = 0; i < ELEMENTSOF(ends); i++)
                report_test(r, &ends[i]);
        report_test(r, &results[0]);
        report_test(r, &results[3]);
        close_report(r, false);

        s = jq(path, "select(.event == \"test-end\") | [.test, .status, .signal, .timed_out, "
                     ".cancelled, .message] | @json + \"\\n\"");
        ck_assert_str_eq(s, "[\"segv\",\"error\",11,false,false,\"crashed: Segmentation fault "
                            "(signal 11)\"]\n"
                            "[\"hangs\",\"error\",null,true,false,\"timed out after 2 s\"]\n"
                            "[\"interrupted\",\"error\",null,false,true,\"interrupted "
                            "(Ctrl-C)\"]\n"
                            "[\"realtime\",\"error\",40,false,false,null]\n"
                            "[\"passes\",\"passed\",null,false,false,null]\n"
                            "[\"crashes\",\"error\",null,false,false,\"killed by signal 11\"]\n");
}
END_TEST

/* Each event is in the file as soon as it is reported, controls escaped. */
START_TEST(test_json_lines_are_flushed) {
        _cleanup_free_ char *path = path_in_dir("log.json");
        _cleanup_free_ char *s = NULL;
        arguments args = { .json_path = path };
        report *r = open_report(&args);

        report_event(r, "topology-start", "topology", "client-server", NULL);
        s = read_file(path);
        ck_assert_int_eq(s[0], '{');
        ck_assert_ptr_nonnull(strstr(s, "\"event\": \"topology-start\", \"topology\": "
                                        "\"client-server\"}\n"));

        report_event(r, "e", "v", "\x01\x1f\x7f\"\\\n\xe2\x80\xa9\xff", NULL);
        free(s);
        s = read_file(path);
        ck_assert_ptr_nonnull(
                strstr(s, "\"v\": \"\\u0001\\u001f\\u007f\\\"\\\\\\n\\u2029\\ufffd\"}\n"));
        close_report(r, false);
}
END_TEST

/* --- JUnit ---------------------------------------------------------------- */

/* The value of an XPath expression (xmllint adds a newline, taken off here). */
static char *xpath(const char *file, const char *expr) {
        char *s = output_of("xmllint --xpath '%s' '%s'", expr, file);
        size_t n = strlen(s);

        if (n > 0 && s[n - 1] == '\n')
                s[n - 1] = '\0';
        return s;
}

static void check_xpath(const char *file, const char *expr, const char *expected) {
        _cleanup_free_ char *s = xpath(file, expr);

        ck_assert_str_eq(s, expected);
}

static void validate(const char *file) {
        require_tool("xmllint");
        ck_assert_msg(run("xmllint --noout --schema '%s' '%s' 2>/dev/null", XSD, file) == 0,
                      "%s does not validate against %s", file, XSD);
}

/* The JUnit file of a run with the results of list, checked against the schema. */
static char *junit_of(const test_result *list, size_t n, bool interrupted) {
        static unsigned count;
        _cleanup_free_ char *name = NULL, *tmp = NULL;
        arguments args = { 0 };
        char *path;
        report *r;

        ck_assert_int_ge(asprintf(&name, "junit-%u.xml", ++count), 0);
        path = path_in_dir(name);
        ck_assert_int_ge(asprintf(&tmp, "%s.tmp", path), 0);
        args.junit_path = path;
        r = open_report(&args);

        for (size_t i = 0; i < n; i++)
                report_test(r, &list[i]);
        ck_assert_int_ne(access(path, F_OK), 0); /* written at the end only */
        close_report(r, interrupted);
        ck_assert_int_ne(access(tmp, F_OK), 0);
        validate(path);
        return path;
}

/* What results[] gives in JUnit: the counts of the run and of each topology's
 * testsuite, then each outcome. */
static const char *const junit_expected[][2] = {
        { "string(/testsuites/@name)", "mhtest" },
        { "concat(/testsuites/@tests, /testsuites/@failures, "
          "/testsuites/@errors, /testsuites/@skipped)",
          "5211" },
        { "count(//testsuite)", "2" },
        { "string(//testsuite[1]/@name)", "client-server" },
        { "concat(//testsuite[1]/@tests, //testsuite[1]/@failures, "
          "//testsuite[1]/@errors, //testsuite[1]/@skipped, "
          "//testsuite[1]/@time)",
          "31101.750" },
        { "concat(//testsuite[2]/@name, //testsuite[2]/@tests, "
          "//testsuite[2]/@failures, //testsuite[2]/@skipped)",
          "client-db211" },
        { "count(//testsuite[1]/testcase[@classname=\"client-server\"])", "3" },
        { "concat((//testcase)[1]/@name, (//testcase)[1]/@time, (//testcase)[1]/@file, "
          "(//testcase)[1]/@line)",
          "passes1.500tests/m.c10" },
        { "count((//testcase)[1]/*[name() != \"system-out\"])", "0" },
        { "string((//testcase)[1]/system-out)", "a note\n" },
        { "concat(//testcase[@name=\"fails\"]/failure/@message, \"|\", "
          "//testcase[@name=\"fails\"]/failure/@type, \"|\", "
          "//testcase[@name=\"fails\"]/failure)",
          "x != y|failure|  indented output\nline two\n" },
        { "string(//testcase[@name=\"fails\"]/system-out)",
          "Reproduce with: mhtest -k fails --seed 7\n" },
        { "concat(//testcase[@name=\"crashes\"]/error/@message, \"|\", "
          "//testcase[@name=\"crashes\"]/error/@type)",
          "killed by signal 11|error" },
        { "concat(//testcase[@name=\"skips\"]/skipped/@message, \"|\", "
          "count(//testcase[@name=\"skips\"]/@file))",
          "no PostgreSQL|0" },
        { "count(//properties)", "0" },
};

START_TEST(test_junit) {
        _cleanup_free_ char *path = junit_of(results, ELEMENTSOF(results), false);

        for (size_t i = 0; i < ELEMENTSOF(junit_expected); i++)
                check_xpath(path, junit_expected[i][0], junit_expected[i][1]);
}
END_TEST

START_TEST(test_junit_hostile_text) {
        _cleanup_free_ char *path = junit_of(&results[4], 1, false);

        /* Attributes keep line breaks and tabs as character references. */
        check_xpath(path, "string(//testcase/@name)", "hostile#" HOSTILE_XML);
        check_xpath(path, "string(//testcase/@file)", HOSTILE_XML);
        check_xpath(path, "string(//failure/@message)", HOSTILE_XML);
        check_xpath(path, "string(//failure)", HOSTILE_XML);
        check_xpath(path, "string(//system-out)", "Reproduce with: " HOSTILE_XML "\n");
}
END_TEST

/* The error's type says how the test's process ended; its message stays the outcome's. */
START_TEST(test_junit_how_tests_ended) {
        _cleanup_free_ char *path = junit_of(ends, ELEMENTSOF(ends), false);

        check_xpath(path, "count(//error)", "4");
        check_xpath(path,
                    "concat(//testcase[@name=\"segv\"]/error/@type, \"|\", "
                    "//testcase[@name=\"segv\"]/error/@message)",
                    "SIGSEGV|crashed: Segmentation fault (signal 11)");
        check_xpath(path,
                    "concat(//testcase[@name=\"hangs\"]/error/@type, \"|\", "
                    "//testcase[@name=\"hangs\"]/error/@message)",
                    "timeout|timed out after 2 s");
        check_xpath(path,
                    "concat(//testcase[@name=\"interrupted\"]/error/@type, \"|\", "
                    "//testcase[@name=\"interrupted\"]/error/@message)",
                    "cancelled|interrupted (Ctrl-C)");
        check_xpath(path,
                    "concat(//testcase[@name=\"realtime\"]/error/@type, \"|\", "
                    "//testcase[@name=\"realtime\"]/error/@message)",
                    "signal 40|error");
}
END_TEST

START_TEST(test_junit_interrupted) {
        const test_result two[] = { results[0], results[2] };
        _cleanup_free_ char *path = junit_of(two, ELEMENTSOF(two), true);
        _cleanup_free_ char *empty = NULL;

        check_xpath(path,
                    "count(//testsuite/properties/property[@name=\"interrupted\" and "
                    "@value=\"true\"])",
                    "2");
        check_xpath(path, "count(//testsuite/system-err)", "2");

        /* With no test at all, it still says so. */
        empty = junit_of(NULL, 0, true);
        check_xpath(empty, "concat(/testsuites/@tests, count(//property[@name=\"interrupted\"]))",
                    "01");
}
END_TEST

START_TEST(test_junit_empty_run) {
        _cleanup_free_ char *path = junit_of(NULL, 0, false);

        check_xpath(path, "concat(/testsuites/@tests, count(//testsuite))", "00");
}
END_TEST

START_TEST(test_open_errors) {
        mh_error e = MH_ERROR_INIT;
        arguments args = { .junit_path = "/nonexistent/dir/junit.xml" };
        report *r = (report *) 0x1;

        ck_assert_int_eq(report_open(&args, NULL, &r, &e), -ENOENT);
        ck_assert_str_eq(e.message, "cannot write JUnit report '/nonexistent/dir/junit.xml.tmp': "
                                    "No such file or directory");
        ck_assert_ptr_eq(r, (report *) 0x1);

        mh_error_clear(&e);
        args = (arguments){ .json_path = "/nonexistent/log.json" };
        ck_assert_int_eq(report_open(&args, NULL, &r, &e), -ENOENT);
        ck_assert_str_eq(
                e.message,
                "cannot write JSON log '/nonexistent/log.json': No such file or directory");
        ck_assert_ptr_eq(r, (report *) 0x1);
}
END_TEST

/* A path that is not a regular file (/dev/stdout, /dev/null, a link) is
 * written through, never replaced by a rename. */
START_TEST(test_junit_through_a_link) {
        _cleanup_free_ char *target = path_in_dir("target.xml"), *link = path_in_dir("link.xml");
        _cleanup_free_ char *xml = NULL;
        arguments args = { 0 };
        struct stat st;
        report *r;

        ck_assert_int_eq(symlink(target, link), 0);
        args.junit_path = link;
        r = open_report(&args);
        close_report(r, false);

        ck_assert_int_eq(lstat(link, &st), 0);
        ck_assert_msg(S_ISLNK(st.st_mode), "the link was replaced");
        xml = read_file(target);
        ck_assert_ptr_nonnull(strstr(xml, "<testsuites"));
        validate(target);
}
END_TEST

START_TEST(test_nothing_asked) {
        arguments args = { 0 };
        report *r = open_report(&args);
        mh_command_record record = { .host = "h", .command = "true" };

        report_event(r, "run-start", NULL);
        report_command(r, &record);
        report_results(r);
        close_report(r, false);
        ck_assert_int_eq(report_close(NULL, false, NULL), 0);
}
END_TEST

/* --- TAP ------------------------------------------------------------------ */

/* What a report of args hiding secrets writes on standard output from open to close,
 * given the results of list. */
static char *stdout_of(const arguments *args, const char *const *secrets, const test_result *list,
                       size_t n, bool interrupted) {
        _cleanup_free_ char *path = path_in_dir("tap");
        int saved, fd;
        report *r;

        fflush(stdout);
        saved = dup(STDOUT_FILENO);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ck_assert_int_ge(saved, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_ge(dup2(fd, STDOUT_FILENO), 0);
        close(fd);

        r = open_report_hiding(args, secrets);
        for (size_t i = 0; i < n; i++)
                report_test(r, &list[i]);
        close_report(r, interrupted);

        fflush(stdout);
        ck_assert_int_ge(dup2(saved, STDOUT_FILENO), 0);
        close(saved);
        return read_file(path);
}

/* The TAP a report writes. */
static char *tap_of(const test_result *list, size_t n, int verbosity, bool interrupted) {
        arguments args = { .tap = true, .verbosity = verbosity };

        return stdout_of(&args, NULL, list, n, interrupted);
}

START_TEST(test_tap) {
        _cleanup_free_ char *s = tap_of(results, 4, 0, false);

        ck_assert_str_eq(s, "TAP version 13\n"
                            "ok 1 - passes [client-server]\n"
                            "not ok 2 - fails [client-server]\n"
                            "  ---\n"
                            "  message: \"x != y\"\n"
                            "  severity: \"fail\"\n"
                            "  file: \"tests/m.c\"\n"
                            "  line: 20\n"
                            "  duration: 0.250\n"
                            "  details: |2-\n"
                            "      indented output\n"
                            "    line two\n"
                            "    \n"
                            "  reproducer: \"mhtest -k fails --seed 7\"\n"
                            "  ...\n"
                            "ok 3 - skips [client-db] # SKIP no PostgreSQL\n"
                            "not ok 4 - crashes [client-server]\n"
                            "  ---\n"
                            "  message: \"killed by signal 11\"\n"
                            "  severity: \"error\"\n"
                            "  file: \"tests/m.c\"\n"
                            "  line: 40\n"
                            "  duration: 0.000\n"
                            "  ...\n"
                            "1..4\n");
}
END_TEST

START_TEST(test_tap_verbose_and_interrupted) {
        _cleanup_free_ char *s = tap_of(results, 1, 1, true);

        ck_assert_str_eq(s, "TAP version 13\n"
                            "ok 1 - passes [client-server]\n"
                            "  ---\n"
                            "  file: \"tests/m.c\"\n"
                            "  line: 10\n"
                            "  duration: 1.500\n"
                            "  details: |2-\n"
                            "    a note\n"
                            "  ...\n"
                            "Bail out! The run was interrupted\n");
}
END_TEST

/* The diagnostic of an error says how the test's process ended. */
START_TEST(test_tap_how_tests_ended) {
        _cleanup_free_ char *s = tap_of(ends, ELEMENTSOF(ends), 0, false);

        ck_assert_str_eq(s, "TAP version 13\n"
                            "not ok 1 - segv [t]\n"
                            "  ---\n"
                            "  message: \"crashed: Segmentation fault (signal 11)\"\n"
                            "  severity: \"error\"\n"
                            "  signal: 11\n"
                            "  signal_name: \"SIGSEGV\"\n"
                            "  duration: 0.001\n"
                            "  ...\n"
                            "not ok 2 - hangs [t]\n"
                            "  ---\n"
                            "  message: \"timed out after 2 s\"\n"
                            "  severity: \"error\"\n"
                            "  timed_out: true\n"
                            "  duration: 2.000\n"
                            "  ...\n"
                            "not ok 3 - interrupted [t]\n"
                            "  ---\n"
                            "  message: \"interrupted (Ctrl-C)\"\n"
                            "  severity: \"error\"\n"
                            "  cancelled: true\n"
                            "  duration: 0.000\n"
                            "  ...\n"
                            "not ok 4 - realtime [t]\n"
                            "  ---\n"
                            "  severity: \"error\"\n"
                            "  signal: 40\n"
                            "  signal_name: \"signal 40\"\n"
                            "  duration: 0.000\n"
                            "  ...\n"
                            "1..4\n");
}
END_TEST

START_TEST(test_tap_hostile_text) {
        test_result t = { .name = "a#b\\c\nd",
                          .topology = "t\x01p",
                          .outcome = OUTCOME(.status = MH_TEST_SKIPPED,
                                             .message = TEXT("why\n# not\xff")) };
        _cleanup_free_ char *s = tap_of(&t, 1, 0, false);

        /* One line per test whatever its text; only the directive is unescaped. */
        ck_assert_str_eq(s, "TAP version 13\n"
                            "ok 1 - a\\#b\\\\c d [t" FFFD "p] # SKIP why \\# not" FFFD "\n"
                            "1..1\n");
}
END_TEST

START_TEST(test_tap_details_are_one_block) {
        test_result t = { .name = "n",
                          .topology = "t",
                          .outcome = OUTCOME(.status = MH_TEST_FAILED, .message = TEXT("m\nx"),
                                             .details = TEXT("a\r\n  ...\n---\x1b[31m\xc2\x85")) };
        _cleanup_free_ char *s = tap_of(&t, 1, 0, false);

        /* Controls would end YAML; "..." and "---" indented are content, not markers. */
        ck_assert_str_eq(s, "TAP version 13\n"
                            "not ok 1 - n [t]\n"
                            "  ---\n"
                            "  message: \"m\\nx\"\n"
                            "  severity: \"fail\"\n"
                            "  duration: 0.000\n"
                            "  details: |2-\n"
                            "    a\n"
                            "      ...\n"
                            "    ---" FFFD "[31m" FFFD "\n"
                            "  ...\n"
                            "1..1\n");
}
END_TEST

/* --- secrets -------------------------------------------------------------- */

static void check_redact(const char *text, const char *const *secrets, const char *expected) {
        char *s = strdup(text);

        ck_assert_ptr_nonnull(s);
        s = redact_secrets(s, secrets);
        ck_assert_str_eq(s, expected);
        free(s);
}

START_TEST(test_redact_secrets) {
        check_redact("password=hunter2 PGPASSWORD=hunter2;", MH_LIST("hunter2"),
                     "password=******** PGPASSWORD=********;");
        /* Several, at the start and at the end. */
        check_redact("alpha-key then beta-key", MH_LIST("alpha-key", "beta-key"),
                     "******** then ********");
        /* Overlapping ones hide their union, whatever their order. */
        check_redact("x abcdefghi y", MH_LIST("abcdef", "defghi"), "x ******** y");
        check_redact("x abcdefghi y", MH_LIST("defghi", "abcdef"), "x ******** y");
        check_redact("[password1]", MH_LIST("word", "password1"), "[********]");
        check_redact("[password1]", MH_LIST("password1", "word"), "[********]");
        check_redact("aaaaa", MH_LIST("aaaa"), "********");
        check_redact("s3cr s3cr", MH_LIST("s3cr"), "******** ********");
        /* Short ones are ignored: they would hide ordinary text. */
        check_redact("abc a ab", MH_LIST("abc", "a", "", "ab"), "abc a ab");
        check_redact("no secret here", MH_LIST("absent"), "no secret here");
        check_redact("", MH_LIST("secret"), "");
        check_redact("kept", NULL, "kept");
        ck_assert_ptr_null(redact_secrets(NULL, MH_LIST("secret")));
}
END_TEST

/* A long text with many secrets: the result is the length the redaction says. */
START_TEST(test_redact_secrets_long) {
        size_t n = 1 << 20;
        char *s = malloc(n + 1);

        ck_assert_ptr_nonnull(s);
        for (size_t i = 0; i < n; i++)
                s[i] = "xsecret-"[i % 8];
        s[n] = '\0';
        s = redact_secrets(s, MH_LIST("secret"));
        ck_assert_uint_eq(strlen(s), n / 8 * (2 + 8));
        ck_assert_ptr_null(strstr(s, "secret"));
        ck_assert_int_eq(strncmp(s, "x********-x********-", 20), 0);
        free(s);
}
END_TEST

/* The secrets of the tests below: passwords, one all digits, and one that JSON escapes. */
#define SECRET_A "hunter22"
#define SECRET_B "98765432"
#define SECRET_C "pa\"ss\\wd"
static const char *const secrets[] = { SECRET_A, SECRET_B, SECRET_C, NULL };

/* A result with the secrets in every text it has. */
static const test_result leaky = {
        .name = "leaks-" SECRET_A,
        .topology = "topo-" SECRET_B,
        .module = "m-" SECRET_C ".so",
        .file = "file-" SECRET_A ".c",
        .line = 7,
        .outcome = OUTCOME(.status = MH_TEST_FAILED,
                           .message = TEXT("db: $ psql password=" SECRET_A " failed"),
                           .details = TEXT("stdout:\n" SECRET_B "\nstderr:\n" SECRET_C "\n")),
        .reproducer = "mhtest -k " SECRET_A,
        .index = 1,
        .total = 1,
};

static void assert_no_secrets(const char *what, const char *text) {
        for (size_t i = 0; secrets[i]; i++)
                ck_assert_msg(!strstr(text, secrets[i]), "%s holds secret %zu:\n%s", what, i, text);
}

/* Every text of every format, keys and values, events, commands and results. */
START_TEST(test_reports_hide_secrets) {
        _cleanup_free_ char *json = path_in_dir("log.json"), *junit = path_in_dir("junit.xml");
        _cleanup_free_ char *s = NULL;
        arguments args = { .json_path = json };
        mh_command_record record = { .host = "host-" SECRET_A,
                                     .command = "echo " SECRET_A " " SECRET_B " '" SECRET_C "'",
                                     .exit_status = 1 };
        report *r;

        require_tool("jq");
        r = open_report_hiding(&args, secrets);
        report_event(r, "setup-" SECRET_A, "key-" SECRET_B, "value " SECRET_C, "number", SECRET_B,
                     NULL);
        report_command(r, &record);
        report_test(r, &leaky);
        close_report(r, false);
        ck_assert_int_eq(run("jq -e . '%s' >/dev/null", json), 0);
        s = read_file(json);
        assert_no_secrets("the JSON log", s);
        free(s);
        s = jq(json, "select(.event == \"command\") | .host, \"|\", .command");
        ck_assert_str_eq(s, "host-********|echo ******** ******** '********'");
        free(s);
        /* A value that is all digits and a secret is a string, hidden. */
        s = jq(json, "select(.event | startswith(\"setup-\")) | [.event, .number, "
                     ".[\"key-********\"]] | @json");
        ck_assert_str_eq(s, "[\"setup-********\",\"********\",\"value ********\"]");
        free(s);
        s = jq(json, "select(.event == \"test-end\") | [.test, .topology, .module, .file, "
                     ".message, .details, .reproducer] | @json");
        ck_assert_str_eq(s, "[\"leaks-********\",\"topo-********\",\"m-********.so\","
                            "\"file-********.c\",\"db: $ psql password=******** failed\","
                            "\"stdout:\\n********\\nstderr:\\n********\\n\","
                            "\"mhtest -k ********\"]");

        /* TAP and JUnit of one report. */
        free(s);
        args = (arguments){ .tap = true, .junit_path = junit };
        s = stdout_of(&args, secrets, &leaky, 1, false);
        assert_no_secrets("TAP", s);
        ck_assert_ptr_nonnull(strstr(s, "not ok 1 - leaks-******** [topo-********]\n"));
        ck_assert_ptr_nonnull(strstr(s, "  message: \"db: $ psql password=******** failed\"\n"));
        ck_assert_ptr_nonnull(strstr(s, "    ********\n    stderr:\n    ********\n"));
        validate(junit);
        free(s);
        s = read_file(junit);
        assert_no_secrets("JUnit", s);
        check_xpath(junit,
                    "concat(//testsuite/@name, \"|\", //testcase/@name, \"|\", "
                    "//testcase/@file, \"|\", //failure/@message)",
                    "topo-********|leaks-********|file-********.c|db: $ psql password=******** "
                    "failed");
        check_xpath(junit, "string(//failure)", "stdout:\n********\nstderr:\n********\n");
        check_xpath(junit, "string(//system-out)", "Reproduce with: mhtest -k ********\n");
}
END_TEST

/* What the console prints has the secrets it was given replaced, until they are unset. */
START_TEST(test_console_hides_secrets) {
        _cleanup_free_ char *path = path_in_dir("console"), *s = NULL;
        FILE *f = fopen(path, "we");

        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(console_set_secrets(secrets), 0);
        console_printf(f, "    db: $ PGPASSWORD=%s psql  [exit %d]\n", SECRET_A, 0);
        console_printf(f, "note: %s%s\n", "hunt", "er22 and " SECRET_B);
        ck_assert_int_eq(console_set_secrets(NULL), 0);
        console_printf(f, "after: %s\n", SECRET_A);
        ck_assert_int_eq(fclose(f), 0);
        s = read_file(path);
        ck_assert_str_eq(s, "    db: $ PGPASSWORD=******** psql  [exit 0]\n"
                            "note: ******** and ********\n"
                            "after: " SECRET_A "\n");
}
END_TEST

/* The runner's events and a host's journal, merged on the runner's clock. */
START_TEST(test_timeline) {
        /* 2026-12-02T10:00:00Z */
        const uint64_t t0 = 1796205600ULL * 1000000;
        timeline *tl = timeline_new();
        _cleanup_free_ char *text = NULL;

        ck_assert_ptr_nonnull(tl);
        ck_assert_int_eq(timeline_add(tl, t0 + 500000, "runner", "test x [t] starts"), 0);
        ck_assert_int_eq(timeline_add(tl, t0 + 2000000, "client.test", "$ curl  [exit 7, 3.0 ms]"), 0);
        /* the host's clock is 10 s ahead: its 10:00:11 is the runner's 10:00:01 */
        ck_assert_int_eq(timeline_add_journal(tl, "server.test",
                                              "2026-12-02T10:00:11.250000+00:00 server web[1]: up\n"
                                              "    a second line\n"
                                              "-- Boot 123 --\n"
                                              "2026-12-02T11:00:12.000000+0100 server web[1]: late\n"
                                              "a line without a time\n",
                                              10 * 1000000),
                         0);
        text = timeline_text(tl, "# header\n");
        ck_assert_str_eq(text, "# header\n"
                               "10:00:00.500000  runner       test x [t] starts\n"
                               "10:00:01.250000  server.test  journal: server web[1]: up\n"
                               "10:00:01.250000  server.test  journal:     a second line\n"
                               "10:00:01.250000  server.test  journal: -- Boot 123 --\n"
                               "10:00:02.000000  client.test  $ curl  [exit 7, 3.0 ms]\n"
                               "10:00:02.000000  server.test  journal: server web[1]: late\n"
                               "10:00:02.000000  server.test  journal: a line without a time\n");
        timeline_free(tl);
}
END_TEST

static Suite *report_suite(void) {
        Suite *s = suite_create("report");
        TCase *tc = tcase_create("report");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_json_log);
        tcase_add_test(tc, test_json_lines_are_flushed);
        tcase_add_test(tc, test_json_how_tests_ended);
        tcase_add_test(tc, test_junit);
        tcase_add_test(tc, test_junit_hostile_text);
        tcase_add_test(tc, test_junit_how_tests_ended);
        tcase_add_test(tc, test_junit_interrupted);
        tcase_add_test(tc, test_junit_empty_run);
        tcase_add_test(tc, test_open_errors);
        tcase_add_test(tc, test_nothing_asked);
        tcase_add_test(tc, test_tap);
        tcase_add_test(tc, test_tap_verbose_and_interrupted);
        tcase_add_test(tc, test_tap_how_tests_ended);
        tcase_add_test(tc, test_tap_hostile_text);
        tcase_add_test(tc, test_tap_details_are_one_block);
        tcase_add_test(tc, test_redact_secrets);
        tcase_add_test(tc, test_redact_secrets_long);
        tcase_add_test(tc, test_reports_hide_secrets);
        tcase_add_test(tc, test_console_hides_secrets);
        tcase_add_test(tc, test_junit_through_a_link);
        tcase_add_test(tc, test_timeline);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return run_suite(report_suite());
}
