/* SPDX-License-Identifier: MIT */
/* cmd_log.c - banyan log: a job's (or one task's) output, from the
 * server's per-job log.
 *
 * The server answers in pages of at most 1 MiB; each page is written out
 * as it comes, so a huge log never sits in the client's memory.
 */
#include <stdio.h>

#include "cli_client.h"

static const char usage_text[] =
    "Usage: banyan log [OPTION]... JOB [TASK]\n"
    "Print the output of JOB's tasks (or of task TASK, 1-based) as the "
    "server\n"
    "recorded it.  With --json, each page of the answer is one JSON line.\n"
    "\n"
    "Options:\n" CLI_CLIENT_HELP
    "Exit: 0 printed, 2 bad usage or unknown job or task, 3 connection "
    "error.\n";

int cmd_log(int argc, char **argv)
{
    cli_client_opts_t co = {0};
    int code = cli_client_getopt("log", argc, argv, &co, usage_text, NULL,
                                 NULL, NULL, NULL);
    if (code >= 0)
        return code;
    int nargs = argc - optind;
    if (nargs < 1 || nargs > 2)
        return cli_usage_error("log", "%s", "expected JOB [TASK]");
    uint32_t job, task = 0;
    if ((code = cli_parse_job("log", "job id", argv[optind], &job)) ||
        (nargs == 2 && (code = cli_parse_job("log", "task number",
                                             argv[optind + 1], &task))))
        return code;
    banyan_client_t *c = cli_client_connect("log", &co, &code);
    if (!c)
        return code;
    long long offset = 0;
    code = BANYAN_EXIT_OK;
    for (;;) {
        json_t *args = json_pack("{s:I, s:I}", "job", (json_int_t)job,
                                 "offset", (json_int_t)offset);
        if (args && task)
            json_object_set_new(args, "task", json_integer(task));
        json_t *a = cli_client_query("log", c, "log", args, &code);
        if (!a)
            break;
        json_t *data = json_object_get(a, "data");
        if (co.json)
            cli_print_json(a, JSON_COMPACT);
        else if (json_is_string(data))
            fwrite(json_string_value(data), 1, json_string_length(data),
                   stdout);
        long long next = cli_json_int(a, "next_offset", -1);
        bool eof = json_is_true(json_object_get(a, "eof")) || next <= offset;
        json_decref(a);
        if (eof)
            break;
        offset = next;
    }
    fflush(stdout);
    banyan_client_close(c);
    return code;
}
