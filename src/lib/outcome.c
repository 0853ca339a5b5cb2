/* SPDX-License-Identifier: MIT */
/*
 * Outcome checks (<mhc/outcome.h>).  The host does the looking with
 * outcome.sh (embedded from src/lib/outcome.sh), one command for all the
 * checks a host does not ignore; this file turns its lines into findings,
 * each with the action its host's checks: give it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mhc/outcome.h>
#include <mhc/shell.h>

#include "host.h"
#include "outcome-parse.h"
#include "outcome-script.h"
#include "util.h"

/* What the checks of one host print at most (they cap their evidence). */
#define OUTCOME_OUTPUT_MAX ((size_t) 1 << 20)

static int check_of(const char *name, size_t n, mh_outcome_check *ret) {
        for (unsigned c = 0; c < MH_OUTCOME_N_CHECKS; c++) {
                const char *s = mh_outcome_check_to_string((mh_outcome_check) c);

                if (strlen(s) == n && strncmp(s, name, n) == 0) {
                        *ret = (mh_outcome_check) c;
                        return 0;
                }
        }
        return -EBADMSG;
}

static int add_finding(mh_outcome *o, mh_outcome_check check, mh_outcome_action action,
                       const char *summary, size_t n) {
        mh_outcome_finding *f;

        f = reallocarray(o->findings, o->n_findings + 1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        o->findings = f;
        f = &o->findings[o->n_findings];
        *f = (mh_outcome_finding){ .check = check, .action = action, .summary = strndup(summary, n) };
        if (!f->summary)
                return -ENOMEM;
        o->n_findings++;
        return 0;
}

int mh_outcome_parse(const char *out, size_t size, const mh_host_config *h, mh_outcome *ret) {
        mh_buf evidence = MH_BUF_INIT(OUTCOME_OUTPUT_MAX);
        mh_outcome o = {};
        const char *p = out, *end = out + size;
        int r = 0;

        while (r >= 0 && p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p)) ?: end, *name, *rest;
                mh_outcome_check check;
                char kind = *p;

                /* "F CHECK TEXT" or "E CHECK TEXT" */
                if (nl - p < 3 || (kind != 'F' && kind != 'E') || p[1] != ' ') {
                        r = -EBADMSG;
                        break;
                }
                name = p + 2;
                rest = memchr(name, ' ', (size_t) (nl - name)) ?: nl;
                r = check_of(name, (size_t) (rest - name), &check);
                if (r < 0)
                        break;
                if (rest < nl)
                        rest++;
                /* the evidence: each finding, then the lines behind it */
                r = mh_buf_printf(&evidence, "%s: %.*s\n", mh_outcome_check_to_string(check),
                                  (int) (nl - rest), rest);
                if (r >= 0 && kind == 'F')
                        r = add_finding(&o, check, mh_host_config_outcome(h, check), rest,
                                        (size_t) (nl - rest));
                p = nl + 1;
        }
        if (r < 0) {
                mh_buf_dispose(&evidence);
                mh_outcome_dispose(&o);
                return r;
        }
        if (evidence.size > 0)
                o.evidence = mh_buf_steal(&evidence, &o.evidence_size);
        mh_buf_dispose(&evidence);
        *ret = o;
        return 0;
}

/* sh -c SCRIPT mhc-outcome SINCE CHECK... for the checks h does not ignore; NULL: none. */
static int outcome_command(const mh_host *h, uint64_t since_usec, char **ret) {
        /* sh -c SCRIPT mhc-outcome SINCE CHECK... NULL */
        const char *argv[5 + MH_OUTCOME_N_CHECKS + 1] = { "sh", "-c", outcome_script, "mhc-outcome" };
        char since[32];
        size_t n = 4;

        snprintf(since, sizeof(since), "%" PRIu64 ".%06" PRIu64, since_usec / 1000000,
                 since_usec % 1000000);
        argv[n++] = since;
        for (unsigned c = 0; c < MH_OUTCOME_N_CHECKS; c++)
                if (mh_host_config_outcome(h->config, (mh_outcome_check) c) != MH_OUTCOME_IGNORE)
                        argv[n++] = mh_outcome_check_to_string((mh_outcome_check) c);
        argv[n] = NULL;
        *ret = NULL;
        if (n == 5)
                return 0;
        return mh_shell_join(argv, ret);
}

int mh_host_check_outcome(mh_host *h, uint64_t since_usec, mh_outcome *ret, mh_error *error) {
        _cleanup_free_ char *command = NULL;
        mh_exec_options o = { .max_output = OUTCOME_OUTPUT_MAX };
        mh_exec_result res = {};
        int64_t offset;
        int r;

        if (!h || !ret)
                return mh_error_set(error, -EINVAL, "mh_host_check_outcome: invalid argument");
        *ret = (mh_outcome){};
        if (!h->ssh)
                return mh_error_set(error, -ENOTCONN, "host '%s' is not connected",
                                    mh_host_name(h));
        /* the test's start on the host's clock */
        if (mh_host_clock_offset(h, &offset) >= 0)
                since_usec = offset < 0 && (uint64_t) -offset > since_usec
                                     ? 0
                                     : since_usec + (uint64_t) offset;
        if (outcome_command(h, since_usec, &command) < 0)
                return mh_error_oom(error);
        if (!command)
                return 0;
        r = mh_ssh_exec(h->ssh, command, &o, &res, error);
        if (r < 0) {
                mh_error_prefix(error, "host '%s': outcome checks", mh_host_name(h));
                return r;
        }
        if (res.exit_status != 0) {
                char buf[MH_EXEC_SUMMARY_SIZE];

                r = mh_error_set(error, -MH_ERR_COMMAND, "host '%s': outcome checks failed with %s",
                                 mh_host_name(h), mh_exec_result_summary(&res, buf, sizeof(buf)));
        } else {
                r = mh_outcome_parse(res.out, res.out_size, h->config, ret);
                if (r == -EBADMSG)
                        r = mh_error_set(error, r, "host '%s': outcome checks: unexpected output "
                                                   "'%.80s'",
                                         mh_host_name(h), res.out);
                else if (r < 0)
                        r = mh_error_oom(error);
        }
        mh_exec_result_dispose(&res);
        return r;
}

const mh_outcome_finding *mh_outcome_failure(const mh_outcome *o) {
        for (size_t i = 0; o && i < o->n_findings; i++)
                if (o->findings[i].action == MH_OUTCOME_FAIL)
                        return &o->findings[i];
        return NULL;
}

void mh_outcome_dispose(mh_outcome *o) {
        if (!o)
                return;
        for (size_t i = 0; i < o->n_findings; i++)
                free(o->findings[i].summary);
        free(o->findings);
        free(o->evidence);
        *o = (mh_outcome){};
}
