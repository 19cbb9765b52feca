/* SPDX-License-Identifier: MIT */
/* cmd_explain.c - banyan explain: why a task of a job is where it is
 * (pending: which resource, on which workers, is short). */
#include <stdio.h>

#include "cli_client.h"

static const char usage_text[] =
    "Usage: banyan explain [OPTION]... JOB TASK\n"
    "Say why task TASK (1-based) of JOB is pending, or what state it is "
    "in.\n"
    "\n"
    "Options:\n" CLI_CLIENT_HELP
    "Exit: 0 explained, 2 bad usage or unknown job or task, 3 connection\n"
    "error.\n";

int cmd_explain(int argc, char **argv)
{
    cli_client_opts_t co = {0};
    int code = cli_client_getopt("explain", argc, argv, &co, usage_text, NULL,
                                 NULL, NULL, NULL);
    if (code >= 0)
        return code;
    if (argc - optind != 2)
        return cli_usage_error("explain", "%s", "expected JOB and TASK");
    uint32_t job, task;
    if ((code = cli_parse_job("explain", "job id", argv[optind], &job)) ||
        (code = cli_parse_job("explain", "task number", argv[optind + 1],
                              &task)))
        return code;
    banyan_client_t *c = cli_client_connect("explain", &co, &code);
    if (!c)
        return code;
    json_t *a = cli_client_query("explain", c, "explain",
                                 json_pack("{s:I, s:I}", "job",
                                           (json_int_t)job, "task",
                                           (json_int_t)task),
                                 &code);
    if (a) {
        if (co.json)
            cli_print_json(a, JSON_COMPACT);
        else
            printf("job %u task %u: %s\n", job, task,
                   cli_json_str(a, "text", cli_json_str(a, "state", "?")));
        json_decref(a);
        code = BANYAN_EXIT_OK;
    }
    banyan_client_close(c);
    return code;
}
