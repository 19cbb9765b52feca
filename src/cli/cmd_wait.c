/* SPDX-License-Identifier: MIT */
/* cmd_wait.c - banyan wait: block until a job on a server has ended.
 *
 * The exit code is the job's outcome (0 every task succeeded, 1 some
 * failed or the job was cancelled), so scripts can chain on it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli_client.h"

static const char usage_text[] =
    "Usage: banyan wait [OPTION]... JOB\n"
    "Wait until JOB has ended on the server and print a summary line.\n"
    "\n"
    "Options:\n"
    "      --timeout DUR     give up after DUR (exit 3); default: never\n"
    CLI_CLIENT_HELP
    "Exit: 0 every task succeeded, 1 some task failed or the job was\n"
    "cancelled, 2 bad usage or unknown job, 3 connection error or timeout.\n";

enum { OPT_TIMEOUT = 256 };

static const struct option long_opts[] = {
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    CLI_CLIENT_LONG_OPTIONS,
    {NULL, 0, NULL, 0},
};

/* --timeout, wait's one option of its own. */
static int parse_timeout(int c, const char *arg, void *ctx)
{
    int64_t *timeout_ms = ctx;
    (void)c;
    if (util_parse_duration_ms(arg, timeout_ms) < 0 || *timeout_ms <= 0)
        return cli_usage_error("wait", "invalid --timeout '%s' (expected a "
                               "duration like 10, 1.5s or 2m)", arg);
    return 0;
}

int cmd_wait(int argc, char **argv)
{
    cli_client_opts_t co = {0};
    int64_t timeout_ms = -1;
    int code = cli_client_getopt("wait", argc, argv, &co, usage_text,
                                 long_opts, NULL, parse_timeout,
                                 &timeout_ms);
    if (code >= 0)
        return code;
    uint32_t job;
    if (optind != argc - 1)
        return cli_usage_error("wait", "%s", "expected one JOB id");
    if ((code = cli_parse_job("wait", "job id", argv[optind], &job)))
        return code;
    banyan_client_t *cl = cli_client_connect("wait", &co, &code);
    if (!cl)
        return code;
    banyan_error_t err = {{0}};
    banyan_job_state_t st;
    if (banyan_client_wait(cl, job, timeout_ms, &st, &err) < 0) {
        code = cli_client_fail("wait", &err);
    } else {
        cli_print_job_state(&st, co.json);
        code = cli_job_exit_code(&st);
    }
    banyan_client_close(cl);
    return code;
}
