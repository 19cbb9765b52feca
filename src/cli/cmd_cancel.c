/* SPDX-License-Identifier: MIT */
/* cmd_cancel.c - banyan cancel: cancel a job on a server. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli_client.h"

static const char usage_text[] =
    "Usage: banyan cancel [OPTION]... JOB\n"
    "Cancel JOB on the server: its pending tasks never start and its "
    "running\n"
    "tasks are killed.\n"
    "\n"
    "Options:\n" CLI_CLIENT_HELP
    "Exit: 0 cancelled, 2 bad usage or unknown job, 3 connection error.\n";

int cmd_cancel(int argc, char **argv)
{
    cli_client_opts_t co = {0};
    int code = cli_client_getopt("cancel", argc, argv, &co, usage_text, NULL,
                                 NULL, NULL, NULL);
    if (code >= 0)
        return code;
    uint32_t job;
    if (optind != argc - 1)
        return cli_usage_error("cancel", "%s", "expected one JOB id");
    if ((code = cli_parse_job("cancel", "job id", argv[optind], &job)))
        return code;
    banyan_client_t *cl = cli_client_connect("cancel", &co, &code);
    if (!cl)
        return code;
    banyan_error_t err = {{0}};
    banyan_job_state_t st;
    if (banyan_client_cancel(cl, job, &st, &err) < 0) {
        code = cli_client_fail("cancel", &err);
    } else {
        if (st.state[0])
            cli_print_job_state(&st, co.json);
        else if (co.json)
            printf("{\"job\":%u,\"state\":\"cancelled\"}\n", job);
        else
            printf("job %u cancelled\n", job);
        code = BANYAN_EXIT_OK;
    }
    banyan_client_close(cl);
    return code;
}
