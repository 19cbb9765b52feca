/* SPDX-License-Identifier: MIT */
/* cmd_results_remote.c - banyan results --server: the jobs of a server, or
 * the tasks of one job.
 *
 *   banyan results --server EP [--json] [--limit N]        the jobs
 *   banyan results --server EP [--json] [--limit N] JOB    a job's tasks
 *
 * Called by cmd_results() with the same argv when --server is given (or
 * BANYAN_SERVER is set and --db is not).  Task pages ("results" answers of
 * at most 1000 tasks, next_offset) are fetched until the end or --limit;
 * the table is printed page by page, --json collects one object.
 */
#include <stdio.h>
#include <string.h>

#include "cli_client.h"

static const char usage_text[] =
    "Usage: banyan results --server ENDPOINT [OPTION]... [JOB]\n"
    "List the jobs of a server, or the tasks of JOB.\n"
    "\n"
    "Options:\n"
    "      --limit N         show at most N tasks (default: all)\n"
    CLI_CLIENT_HELP
    "Exit: 0 shown, 2 bad usage or unknown job, 3 connection error.\n";

enum { OPT_LIMIT = 256 };

static const struct option long_opts[] = {
    {"limit", required_argument, NULL, OPT_LIMIT},
    CLI_CLIENT_LONG_OPTIONS,
    {NULL, 0, NULL, 0},
};

enum { PAGE = 1000 };

static void print_task(const json_t *t)
{
    char rss[16] = "-", tail[60], reason[200] = "";
    long long peak = cli_json_int(t, "peak_rss", -1);
    if (peak >= 0)
        util_format_size((uint64_t)peak, rss, sizeof(rss));
    json_t *st = json_object_get(t, "start_time"),
           *et = json_object_get(t, "end_time");
    double dur = json_is_number(st) && json_is_number(et) &&
                         json_number_value(et) > 0
                     ? json_number_value(et) - json_number_value(st)
                     : 0;
    const char *r = cli_json_str(t, "reason", NULL);
    if (r && *r)
        snprintf(reason, sizeof(reason), "  (%s)", r);
    util_one_line(cli_json_str(t, "stdout_tail", ""), tail, sizeof(tail));
    printf("%6lld  %-11s %4lld %3lld  %-16.16s %-7s %9.3f %7s  %s%s\n",
           cli_json_int(t, "seq", 0), cli_json_str(t, "state", "?"),
           cli_json_int(t, "exit_code", 0), cli_json_int(t, "attempt", 0),
           cli_json_str(t, "worker", "-"),
           cli_json_str(t, "gpus", "") [0] ? cli_json_str(t, "gpus", "")
                                           : "-",
           dur, rss, tail, reason);
}

static int list_jobs(banyan_client_t *c, bool json)
{
    int code;
    json_t *a = cli_client_query("results", c, "status", NULL, &code);
    if (!a)
        return code;
    json_t *jobs = json_object_get(a, "jobs");
    if (json) {
        cli_print_json(jobs ? jobs : json_array(), JSON_COMPACT);
    } else {
        size_t i;
        json_t *j;
        printf("%5s  %-20s %-10s %9s %9s %9s\n", "JOB", "NAME", "STATE",
               "TASKS", "OK", "FAILED");
        json_array_foreach(jobs, i, j)
            printf("%5lld  %-20.20s %-10s %9lld %9lld %9lld\n",
                   cli_json_int(j, "id", 0), cli_json_str(j, "name", "-"),
                   cli_json_str(j, "state", "?"),
                   cli_json_int(j, "ntasks", 0), cli_json_int(j, "ok", 0),
                   cli_json_int(j, "failed", 0));
    }
    json_decref(a);
    return BANYAN_EXIT_OK;
}

static int job_tasks(banyan_client_t *c, uint32_t id, long limit, bool json)
{
    int code = BANYAN_EXIT_OK;
    long long offset = 0, shown = 0;
    json_t *all = json ? json_array() : NULL, *head = NULL;
    for (;;) {
        long long want = PAGE;
        if (limit > 0 && limit - shown < want)
            want = limit - shown;
        json_t *a = cli_client_query(
            "results", c, "results",
            json_pack("{s:I, s:I, s:I}", "job", (json_int_t)id, "offset",
                      (json_int_t)offset, "limit", (json_int_t)want),
            &code);
        if (!a)
            break;
        json_t *tasks = json_object_get(a, "tasks");
        if (!head) {
            head = json_incref(json_object_get(a, "job"));
            if (!json)
                printf("job %u %s: %s\n%6s  %-11s %4s %3s  %-16s %-7s %9s "
                       "%7s  %s\n",
                       id, cli_json_str(head, "state", "?"),
                       cli_json_str(head, "command", ""), "TASK", "STATE",
                       "EXIT", "TRY", "WORKER", "GPUS", "SECONDS", "RSS",
                       "OUTPUT");
        }
        size_t i;
        json_t *t;
        json_array_foreach(tasks, i, t) {
            if (json)
                json_array_append(all, t);
            else
                print_task(t);
            shown++;
        }
        json_t *next = json_object_get(a, "next_offset");
        bool more = json_is_integer(next) &&
                    json_integer_value(next) > offset &&
                    json_array_size(tasks) > 0 &&
                    (limit <= 0 || shown < limit);
        if (more)
            offset = json_integer_value(next);
        json_decref(a);
        if (!more)
            break;
    }
    if (json && code == BANYAN_EXIT_OK) {
        json_t *out = json_pack("{s:O?, s:O}", "job", head, "tasks", all);
        cli_print_json(out, JSON_COMPACT);
        json_decref(out);
    }
    json_decref(head);
    json_decref(all);
    return code;
}

/* --limit, the one option of its own. */
static int parse_limit(int c, const char *arg, void *limit)
{
    (void)c;
    if (util_parse_long(arg, 0, 1L << 40, limit) < 0)
        return cli_usage_error("results", "invalid --limit '%s'", arg);
    return 0;
}

int cmd_results_remote(int argc, char **argv)
{
    cli_client_opts_t co = {0};
    long limit = 0;
    int code = cli_client_getopt("results", argc, argv, &co, usage_text,
                                 long_opts, NULL, parse_limit, &limit);
    if (code >= 0)
        return code;
    uint32_t job = 0;
    if (argc - optind > 1)
        return cli_usage_error("results", "unexpected argument '%s'",
                               argv[optind + 1]);
    if (optind < argc
        && (code = cli_parse_job("results", "job id", argv[optind], &job)))
        return code;
    banyan_client_t *cl = cli_client_connect("results", &co, &code);
    if (!cl)
        return code;
    code = job ? job_tasks(cl, job, limit, co.json)
               : list_jobs(cl, co.json);
    fflush(stdout);
    banyan_client_close(cl);
    return code;
}
