/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mhtest.h"
#include "util.h"

/*
 * Every option is one row here: the row parses it and documents it, and
 * --help is printed from this table.  mhtest(1) describes the same names.
 */
typedef struct option_entry {
        const char *name;
        int short_name;         /* 0 if none */
        const char *arg;        /* what --help calls the value; NULL for flags */
        const char *help;
        int (*parse)(arguments *args, const char *value);
} option_entry;

static int parse_config(arguments *args, const char *value) {
        args->config_path = value;
        return 0;
}

static int parse_check_hosts(arguments *args, const char *value) {
        args->action = ACTION_CHECK_HOSTS;
        return 0;
}

static int parse_verbose(arguments *args, const char *value) {
        args->verbosity = args->verbosity < 0 ? 1 : args->verbosity + 1;
        return 0;
}

static int parse_quiet(arguments *args, const char *value) {
        args->verbosity = -1;
        return 0;
}

static int parse_color(arguments *args, const char *value) {
        if (streq(value, "always"))
                args->color = true;
        else if (streq(value, "never"))
                args->color = false;
        else if (streq(value, "auto"))
                args->color = isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
        else {
                fprintf(stderr, "mhtest: --color takes auto, always or never, not '%s'\n", value);
                return -1;
        }
        return 0;
}

static int append(string_list *l, const char *value) {
        const char **items = reallocarray(l->items, l->n + 1, sizeof(*items));

        if (!items) {
                fprintf(stderr, "mhtest: out of memory\n");
                return -1;
        }
        items[l->n++] = value;
        l->items = items;
        return 0;
}

static int parse_list(arguments *args, const char *value) {
        args->list = true;
        return 0;
}

static int parse_topology(arguments *args, const char *value) {
        return append(&args->topologies, value);
}

static int parse_not_topology(arguments *args, const char *value) {
        return append(&args->not_topologies, value);
}

static int parse_exact_topology(arguments *args, const char *value) {
        args->exact_topology = true;
        return 0;
}

static int parse_match(arguments *args, const char *value) {
        return append(&args->patterns, value);
}

static int parse_tests(arguments *args, const char *value) {
        return append(&args->tests, value);
}

static int parse_seed(arguments *args, const char *value) {
        char *end;

        errno = 0;
        args->seed = strtoull(value, &end, 10);
        if (errno != 0 || end == value || *end || value[0] == '-') {
                fprintf(stderr, "mhtest: --seed takes a number from 0 to %" PRIu64 ", not '%s'\n",
                        UINT64_MAX, value);
                return -1;
        }
        args->have_seed = true;
        return 0;
}

static int parse_shuffle(arguments *args, const char *value) {
        args->shuffle = true;
        return 0;
}

static int parse_junit(arguments *args, const char *value) {
        args->junit_path = value;
        return 0;
}

static int parse_json(arguments *args, const char *value) {
        args->json_path = value;
        return 0;
}

static int parse_tap(arguments *args, const char *value) {
        args->tap = true;
        return 0;
}

static int parse_artifacts_dir(arguments *args, const char *value) {
        args->artifacts_dir = value;
        return 0;
}

static int parse_collect(arguments *args, const char *value) {
        if (streq(value, "on-failure"))
                args->collect = COLLECT_ON_FAILURE;
        else if (streq(value, "always"))
                args->collect = COLLECT_ALWAYS;
        else if (streq(value, "never"))
                args->collect = COLLECT_NEVER;
        else {
                fprintf(stderr, "mhtest: --collect-artifacts takes on-failure, always or never, "
                                "not '%s'\n",
                        value);
                return -1;
        }
        return 0;
}

static int parse_recover(arguments *args, const char *value) {
        args->action = ACTION_RECOVER;
        return 0;
}

static int parse_no_recover(arguments *args, const char *value) {
        args->no_recover = true;
        return 0;
}

static int parse_wait_lock(arguments *args, const char *value) {
        char *end;
        unsigned long n;

        errno = 0;
        n = strtoul(value, &end, 10);
        if (errno != 0 || end == value || *end || value[0] == '-' || n > 86400) {
                fprintf(stderr, "mhtest: --wait-lock takes seconds from 0 to 86400, not '%s'\n",
                        value);
                return -1;
        }
        args->lock_wait_sec = (unsigned) n;
        return 0;
}

static int parse_help(arguments *args, const char *value) {
        args->action = ACTION_HELP;
        return 0;
}

static int parse_version(arguments *args, const char *value) {
        args->action = ACTION_VERSION;
        return 0;
}

static const option_entry options[] = {
        { "config", 'c', "FILE", "the lab description (default: ./mhc.yaml)", parse_config },
        { "check-hosts", 0, NULL,
          "connect to every host and report its state instead of running tests",
          parse_check_hosts },
        { "recover", 0, NULL,
          "put back the hosts that killed runs left dirty, run no test, and exit",
          parse_recover },
        { "no-recover", 0, NULL,
          "do not recover such hosts: report them unusable (exit 3) for a look first",
          parse_no_recover },
        { "wait-lock", 0, "SEC",
          "wait up to SEC seconds for another run to let go of a host (default: 0)",
          parse_wait_lock },
        { "list", 'l', NULL, "print the plan (tests x topologies, runnable or why not) and exit",
          parse_list },
        { "topology", 't', "NAME", "run only the tests of topology NAME (repeatable)",
          parse_topology },
        { "not-topology", 0, "NAME", "leave out topology NAME (repeatable)", parse_not_topology },
        { "exact-topology", 0, NULL,
          "run a topology only when the lab has exactly the hosts it names",
          parse_exact_topology },
        { "match", 'k', "GLOB", "run only tests whose name (or NAME[VALUE]) matches GLOB (repeatable)",
          parse_match },
        { "tests", 0, "PATH", "load this test module instead of mhc.yaml's tests: (repeatable)",
          parse_tests },
        { "seed", 0, "N", "the seed of --shuffle (default: random, printed at the start)",
          parse_seed },
        { "shuffle", 0, NULL, "run the tests of each topology in an order drawn from the seed",
          parse_shuffle },
        { "junit", 0, "FILE", "write a JUnit XML report to FILE", parse_junit },
        { "json", 0, "FILE", "write an event log (JSON lines) to FILE", parse_json },
        { "tap", 0, NULL, "print TAP on stdout (the console lines go to stderr)", parse_tap },
        { "artifacts-dir", 0, "DIR", "where artifacts go (default: ./artifacts)",
          parse_artifacts_dir },
        { "collect-artifacts", 0, "WHEN", "on-failure (default), always or never",
          parse_collect },
        { "verbose", 'v', NULL, "say more: every remote command, debug logs", parse_verbose },
        { "quiet", 'q', NULL, "say less: only failures and the summary", parse_quiet },
        { "color", 0, "WHEN", "colour the output: auto (default), always, never", parse_color },
        { "help", 'h', NULL, "show this help and exit", parse_help },
        { "version", 'V', NULL, "show the version and exit", parse_version },
};

static void print_help(void) {
        printf("Usage: mhtest [OPTION]... [FILTER]...\n"
               "Run multihost system tests against the lab described in mhc.yaml: all of\n"
               "them, or those whose name matches a FILTER (a glob, as -k takes; a test\n"
               "case of .params is NAME[VALUE]).\n\n");
        for (size_t i = 0; i < ELEMENTSOF(options); i++) {
                const option_entry *o = &options[i];
                char left[64];

                snprintf(left, sizeof(left), "%c%c%s--%s%s%s", o->short_name ? '-' : ' ',
                         o->short_name ? o->short_name : ' ', o->short_name ? ", " : "  ",
                         o->name, o->arg ? "=" : "", o->arg ? o->arg : "");
                printf("  %-28s %s\n", left, o->help);
        }
        printf("\nExit status: 0 all passed (or every host usable), 1 a test failed or\n"
               "errored, 2 usage or configuration error, 3 the lab is not usable (a host\n"
               "unreachable, held by another run, or left dirty and not recovered),\n"
               "129 SIGHUP, 130 SIGINT (Ctrl-C), 141 SIGPIPE (output closed), 143 SIGTERM:\n"
               "interrupted, the hosts restored.  See mhtest(1), mhc.yaml(5),\n"
               "mhc-topology(5), mhc-test(3).\n");
}

/* Build getopt_long's tables from the option table and parse argv. */
static int parse_arguments(int argc, char *argv[], arguments *args) {
        enum { N = ELEMENTSOF(options) };
        struct option long_options[N + 1] = {};
        char short_options[3 * N + 2] = ":";
        size_t s = 1;
        int c;

        for (size_t i = 0; i < N; i++) {
                long_options[i] = (struct option){
                        .name = options[i].name,
                        .has_arg = options[i].arg ? required_argument : no_argument,
                        .val = 256 + (int) i,
                };
                if (options[i].short_name) {
                        short_options[s++] = (char) options[i].short_name;
                        if (options[i].arg)
                                short_options[s++] = ':';
                }
        }

        opterr = 0;
        while ((c = getopt_long(argc, argv, short_options, long_options, NULL)) != -1) {
                const option_entry *o = NULL;

                if (c == '?' || c == ':') {
                        fprintf(stderr, "mhtest: %s '%s'; see mhtest --help\n",
                                c == '?' ? "unknown option" : "missing value for",
                                argv[optind - 1]);
                        return -1;
                }
                for (size_t i = 0; i < N && !o; i++)
                        if (c == 256 + (int) i || (options[i].short_name && c == options[i].short_name))
                                o = &options[i];
                if (o->parse(args, optarg) < 0)
                        return -1;
        }
        /* the arguments after the options are filters, as -k's */
        for (; optind < argc; optind++)
                if (parse_match(args, argv[optind]) < 0)
                        return -1;
        return 0;
}

const char *color_on(const arguments *args, const char *sgr) {
        static __thread char buf[16];

        if (!args->color)
                return "";
        snprintf(buf, sizeof(buf), "\033[%sm", sgr);
        return buf;
}

const char *color_off(const arguments *args) {
        return args->color ? "\033[0m" : "";
}

/* The library's log lines go to stderr, one whole line at a time, through the console. */
static void log_to_stderr(mh_log_level level, const char *host, const char *message,
                          void *userdata) {
        bool loud = level <= MH_LOG_WARNING;

        console_printf(stderr, "mhtest: %s%s%s%s%s\n", loud ? mh_log_level_to_string(level) : "",
                       loud ? ": " : "", host ? host : "", host ? ": " : "", message);
}

static void arguments_dispose(arguments *args) {
        free(args->topologies.items);
        free(args->not_topologies.items);
        free(args->patterns.items);
        free(args->tests.items);
}

static int mhtest(int argc, char *argv[], arguments *args);

int main(int argc, char *argv[]) {
        arguments args = {
                .action = ACTION_RUN,
                .config_path = "mhc.yaml",
                .color = isatty(STDOUT_FILENO) && !getenv("NO_COLOR"),
                .artifacts_dir = "artifacts",
                .collect = COLLECT_ON_FAILURE,
        };
        int status = mhtest(argc, argv, &args);

        arguments_dispose(&args);
        return status;
}

static int mhtest(int argc, char *argv[], arguments *args) {
        mh_config *config = NULL;
        mh_error error = MH_ERROR_INIT;
        int status;

        if (parse_arguments(argc, argv, args) < 0)
                return EXIT_USAGE;

        switch (args->action) {
        case ACTION_HELP:
                print_help();
                return EXIT_PASSED;
        case ACTION_VERSION:
                printf("mhtest %s (libmhc %s)\n", PACKAGE_VERSION, mh_version());
                return EXIT_PASSED;
        default:
                break;
        }

        mh_log_set_handler(log_to_stderr, args->verbosity > 0 ? MH_LOG_DEBUG
                                          : args->verbosity < 0 ? MH_LOG_ERROR
                                                               : MH_LOG_WARNING,
                           NULL);

        /* Each host's type checks its config: settings here, before anything connects. */
        if (mh_config_load(args->config_path, &config, &error) < 0) {
                fprintf(stderr, "mhtest: %s\n", error.message);
                return EXIT_USAGE;
        }

        if (args->action == ACTION_CHECK_HOSTS)
                status = check_hosts(args, config);
        else if (args->action == ACTION_RECOVER)
                status = recover_lab(args, config);
        else
                status = run_tests(args, config);

        mh_config_free(config);
        return status;
}
