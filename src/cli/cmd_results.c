/* SPDX-License-Identifier: MIT */
/* cmd_results.c - banyan results: list runs, or the tasks of one run.
 *
 *   banyan results [--db FILE] [--json] [--limit N]     the runs
 *   banyan results [--db FILE] [--json] RUN|last         one run's tasks
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "store/store.h"

static const char usage_text[] =
    "Usage: banyan results [OPTION]... [RUN]\n"
    "List the runs recorded in the database, or the tasks of RUN (an id or\n"
    "'last').\n"
    "\n"
    "  --db FILE    database (default .banyan/banyan.db)\n"
    "  --json       machine-readable output\n"
    "  --limit N    show at most N runs (default 20; 0 = all)\n"
    "  -h, --help   this text\n";

struct ctx {
    bool json;
    json_t *array;       /* --json: collected rows */
    int64_t last_id;
    store_t *st;
};

static void format_time(double t, char *buf, size_t size)
{
    if (t <= 0) {
        snprintf(buf, size, "-");
        return;
    }
    time_t s = (time_t)t;
    struct tm tm;
    localtime_r(&s, &tm);
    strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
}

/* A JSON column as a value; dflt when absent or unreadable. */
static json_t *parse_json(const char *text, const char *dflt)
{
    json_t *j = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
    return j ? j : json_loads(dflt, 0, NULL);
}

static int visit_run(const store_run_t *run, void *arg)
{
    struct ctx *c = arg;
    int64_t ok = store_tasks_count(c->st, run->id, "ok");
    int64_t all = store_tasks_count(c->st, run->id, NULL);
    int64_t running = store_tasks_count(c->st, run->id, "running");
    int64_t failed = all - ok - running;
    if (c->json) {
        json_array_append_new(
            c->array,
            json_pack("{s:I, s:s, s:s?, s:s, s:s, s:I, s:I, s:I, s:f, s:f,"
                      " s:s?, s:s?, s:o}",
                      "id", (json_int_t)run->id, "kind", run->kind, "name",
                      run->name, "command", run->command, "state",
                      run->state, "tasks", (json_int_t)run->ntasks, "ok",
                      (json_int_t)ok, "failed", (json_int_t)failed,
                      "created", run->created, "finished", run->finished,
                      "host", run->host, "cwd", run->cwd, "spec",
                      parse_json(run->spec_json, "{}")));
        return 0;
    }
    char when[32];
    format_time(run->created, when, sizeof(when));
    printf("%5lld  %-5s  %s  %-11s  %6lld/%-6lld %6lld  %s\n",
           (long long)run->id, run->kind, when, run->state, (long long)ok,
           (long long)run->ntasks, (long long)failed, run->command);
    return 0;
}

static int visit_last(const store_run_t *run, void *arg)
{
    ((struct ctx *)arg)->last_id = run->id;
    return 1;
}

static json_t *tail_json(const void *p, int len)
{
    return p && len > 0 ? json_stringn_nocheck(p, (size_t)len) : json_null();
}

static int visit_task(const store_task_t *t, void *arg)
{
    struct ctx *c = arg;
    double dur = t->end_time > 0 ? t->end_time - t->start_time : 0;
    if (c->json) {
        json_array_append_new(
            c->array,
            json_pack("{s:I, s:s, s:I, s:I, s:I, s:I, s:s?, s:s?, s:f, s:f,"
                      " s:f, s:f, s:I, s:s?, s:s?, s:o, s:o}",
                      "seq", (json_int_t)t->seq, "state", t->state,
                      "attempt", (json_int_t)t->attempt, "exit_code",
                      (json_int_t)t->exit_code, "signal",
                      (json_int_t)t->signal, "slot", (json_int_t)t->slot,
                      "gpus", t->gpus, "host", t->host, "start_time",
                      t->start_time, "end_time", t->end_time, "cpu_user",
                      t->cpu_user, "cpu_sys", t->cpu_sys, "peak_rss",
                      (json_int_t)t->peak_rss, "command", t->command,
                      "reason", t->reason, "args",
                      parse_json(t->args_json, "[]"),
                      "stdout_tail",
                      tail_json(t->stdout_tail, t->stdout_tail_len)));
        return 0;
    }
    char rss[16];
    util_format_size((uint64_t)t->peak_rss, rss, sizeof(rss));
    printf("%6lld  %-11s %4d %3d %4d  %-7s %9.3f %7s  %s%s%s%s\n",
           (long long)t->seq, t->state, t->exit_code, t->attempt, t->slot,
           t->gpus && *t->gpus ? t->gpus : "-", dur, rss, t->command,
           t->reason ? "  (" : "", t->reason ? t->reason : "",
           t->reason ? ")" : "");
    return 0;
}

int cmd_results(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'J'},
        {"limit", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = ".banyan/banyan.db";
    struct ctx c = {0};
    long limit = 20;
    opterr = 0;
    optind = 1;
    int o;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'd': db = optarg; break;
        case 'J': c.json = true; break;
        case 'l':
            if (util_parse_long(optarg, 0, 1L << 30, &limit) < 0) {
                fprintf(stderr, "banyan results: invalid --limit '%s'\n",
                        optarg);
                return BANYAN_EXIT_USAGE;
            }
            break;
        case 'h': fputs(usage_text, stdout); return 0;
        default:
            fprintf(stderr, "banyan results: unknown option '%s'\nTry "
                            "'banyan results --help'.\n", argv[optind - 1]);
            return BANYAN_EXIT_USAGE;
        }
    }
    if (argc - optind > 1) {
        fprintf(stderr, "banyan results: too many arguments\n");
        return BANYAN_EXIT_USAGE;
    }
    banyan_error_t err = {{0}};
    store_options_t so = {.readonly = true};
    c.st = store_open(db, &so, &err);
    if (!c.st) {
        fprintf(stderr, "banyan results: %s\n", err.text);
        return BANYAN_EXIT_USAGE;
    }
    int code = BANYAN_EXIT_OK;
    c.array = json_array();
    if (optind == argc) {
        if (!c.json)
            printf("%5s  %-5s  %-19s  %-11s  %13s %6s  %s\n", "RUN", "KIND",
                   "CREATED", "STATE", "OK/TASKS", "FAILED", "COMMAND");
        if (store_runs_foreach(c.st, 0, (int)limit, visit_run, &c) < 0)
            code = BANYAN_EXIT_INTERNAL;
    } else {
        const char *which = argv[optind];
        long id = 0;
        if (!strcmp(which, "last")) {
            store_runs_foreach(c.st, 0, 1, visit_last, &c);
            id = (long)c.last_id;
        } else if (util_parse_long(which, 1, 1L << 62, &id) < 0) {
            id = 0;
        }
        if (id <= 0 || store_runs_foreach(c.st, id, 1, visit_last, &c) != 1) {
            fprintf(stderr, "banyan results: no run '%s' in %s\n", which,
                    db);
            code = BANYAN_EXIT_USAGE;
        } else {
            if (!c.json)
                printf("%6s  %-11s %4s %3s %4s  %-7s %9s %7s  %s\n", "SEQ",
                       "STATE", "EXIT", "TRY", "SLOT", "GPUS", "SECONDS",
                       "PEAKRSS", "COMMAND");
            if (store_tasks_foreach(c.st, id, visit_task, &c) < 0)
                code = BANYAN_EXIT_INTERNAL;
        }
    }
    if (code == BANYAN_EXIT_INTERNAL)
        fprintf(stderr, "banyan results: %s\n", store_last_error(c.st));
    if (c.json && code == BANYAN_EXIT_OK) {
        char *s = json_dumps(c.array, JSON_INDENT(2));
        if (s)
            puts(s);
        free(s);
    }
    json_decref(c.array);
    store_close(c.st);
    return code;
}
