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

#include "cli_client.h"
#include "store/store.h"
#include "util/util.h"

static const char usage_text[] =
    "Usage: banyan results [OPTION]... [RUN | SWEEP]\n"
    "List the runs and sweeps recorded in the database, the tasks of RUN (an\n"
    "id or 'last'), or the experiments of SWEEP (its name), best first.\n"
    "\n"
    "  --db FILE    database (default .banyan/banyan.db)\n"
    "  --json       machine-readable output\n"
    "  --csv        comma-separated values (sweeps)\n"
    "  --limit N    show at most N runs (default 20; 0 = all)\n"
    "  -h, --help   this text\n";

struct ctx {
    bool json;
    bool csv;
    json_t *array;       /* --json: collected rows */
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

/* Bytes that came from a process or a shell (len < 0: up to the NUL) as
 * a JSON string, made valid UTF-8 (U+FFFD for a stray byte); NULL is
 * null.  json_pack refuses invalid UTF-8, and the whole row went with it. */
static json_t *text_json(const char *p, int len)
{
    size_t n;
    char *s = p ? util_utf8_repair(p, len < 0 ? strlen(p) : (size_t)len, &n)
                : NULL;
    json_t *v = s ? json_stringn(s, n) : json_null();
    free(s);
    return v;
}

static int visit_run(const store_run_t *run, void *arg)
{
    struct ctx *c = arg;
    int64_t ok = store_tasks_count(c->st, run->id, BANYAN_TASK_OK);
    int64_t all = store_tasks_count_all(c->st, run->id);
    int64_t running = store_tasks_count(c->st, run->id, BANYAN_TASK_RUNNING);
    int64_t failed = all - ok - running;
    if (c->json) {
        json_array_append_new(
            c->array,
            json_pack("{s:I, s:s, s:o, s:o, s:s, s:I, s:I, s:I, s:f, s:f,"
                      " s:o, s:o, s:o}",
                      "id", (json_int_t)run->id, "kind", run->kind, "name",
                      text_json(run->name, -1), "command",
                      text_json(run->command, -1), "state",
                      run->state, "tasks", (json_int_t)run->ntasks, "ok",
                      (json_int_t)ok, "failed", (json_int_t)failed,
                      "created", run->created, "finished", run->finished,
                      "host", text_json(run->host, -1), "cwd",
                      text_json(run->cwd, -1), "spec",
                      parse_json(run->spec_json, "{}")));
        return 0;
    }
    char when[32], cmd[120];
    format_time(run->created, when, sizeof(when));
    printf("%5lld  %-5s  %s  %-11s  %6lld/%-6lld %6lld  %s\n",
           (long long)run->id, run->kind, when, run->state, (long long)ok,
           (long long)run->ntasks, (long long)failed,
           util_one_line(run->command, cmd, sizeof(cmd)));
    return 0;
}

static int visit_task(const store_task_t *t, void *arg)
{
    struct ctx *c = arg;
    double dur = t->end_time > 0 ? t->end_time - t->start_time : 0;
    if (c->json) {
        json_array_append_new(
            c->array,
            json_pack("{s:I, s:s, s:I, s:I, s:I, s:I, s:s?, s:s?, s:f, s:f,"
                      " s:f, s:f, s:I, s:o, s:o, s:o, s:o}",
                      "seq", (json_int_t)t->seq, "state",
                      banyan_task_state_name(t->state),
                      "attempt", (json_int_t)t->attempt, "exit_code",
                      (json_int_t)t->exit_code, "signal",
                      (json_int_t)t->signal, "slot", (json_int_t)t->slot,
                      "gpus", t->gpus, "host", t->host, "start_time",
                      t->start_time, "end_time", t->end_time, "cpu_user",
                      t->cpu_user, "cpu_sys", t->cpu_sys, "peak_rss",
                      (json_int_t)t->peak_rss, "command",
                      text_json(t->command, -1), "reason",
                      text_json(t->reason, -1), "args",
                      parse_json(t->args_json, "[]"),
                      "stdout_tail",
                      text_json(t->stdout_tail_len > 0 ? t->stdout_tail : NULL,
                                t->stdout_tail_len)));
        return 0;
    }
    char rss[16], cmd[120];
    util_format_size((uint64_t)t->peak_rss, rss, sizeof(rss));
    printf("%6lld  %-11s %4d %3d %4d  %-7s %9.3f %7s  %s%s%s%s\n",
           (long long)t->seq, banyan_task_state_name(t->state), t->exit_code,
           t->attempt, t->slot,
           t->gpus && *t->gpus ? t->gpus : "-", dur, rss,
           util_one_line(t->command, cmd, sizeof(cmd)),
           t->reason ? "  (" : "", t->reason ? t->reason : "",
           t->reason ? ")" : "");
    return 0;
}

/* ------------------------------------------------------------- sweeps */

/* Anything but a number or "last" names a sweep. */
static bool is_sweep_name(const char *s)
{
    long id;
    return strcmp(s, "last") != 0 && util_parse_long(s, 1, 1L << 62, &id) < 0;
}

static int visit_sweep(const store_sweep_t *sw, void *arg)
{
    struct ctx *c = arg;
    if (c->json) {
        json_array_append_new(
            c->array,
            json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:f, s:f}", "kind",
                      "sweep", "id", (json_int_t)sw->id, "name", sw->name,
                      "state", sw->state, "metric", sw->metric, "goal",
                      sw->maximize ? "maximize" : "minimize", "created",
                      sw->created, "updated", sw->updated));
        return 0;
    }
    char when[32];
    format_time(sw->created, when, sizeof(when));
    printf("%5lld  %-5s  %s  %-11s  %s (%simize %s)\n", (long long)sw->id,
           "sweep", when, sw->state, sw->name, sw->maximize ? "max" : "min",
           sw->metric);
    return 0;
}

/* One experiment, copied out of the store for sorting. */
typedef struct exp_row {
    int64_t iter;
    char *state;
    char *params;
    char *reason;
    char *gpus;
    bool has_obj;
    double obj;
    double seconds;
    int64_t peak_rss;
    json_t *metrics;
} exp_row_t;

struct exp_list {
    exp_row_t *rows;
    size_t n, cap;
    int maximize;
    bool found;
    int64_t id;
    char metric[128];
};

static int on_sweep_found(const store_sweep_t *sw, void *arg)
{
    struct exp_list *l = arg;
    l->found = true;
    l->id = sw->id;
    l->maximize = sw->maximize;
    snprintf(l->metric, sizeof(l->metric), "%s", sw->metric);
    return 0;
}

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

static int on_exp(const store_experiment_t *e, void *arg)
{
    struct exp_list *l = arg;
    if (util_grow((void **)&l->rows, &l->cap, l->n + 1, sizeof(*l->rows)) < 0)
        return -1;
    exp_row_t *r = &l->rows[l->n++];
    *r = (exp_row_t){
        .iter = e->iter, .state = dup_or_empty(e->state),
        .params = dup_or_empty(e->params_json),
        .reason = dup_or_empty(e->reason), .gpus = dup_or_empty(e->gpus),
        .has_obj = e->has_objective, .obj = e->objective,
        .seconds = e->end_time > 0 ? e->end_time - e->start_time : 0,
        .peak_rss = e->peak_rss,
        .metrics = e->metrics_json ? json_loads(e->metrics_json, 0, NULL)
                                   : NULL,
    };
    return 0;
}

static int sort_maximize;

/* Best objective first; experiments without one after, by iteration. */
static int cmp_exp(const void *a, const void *b)
{
    const exp_row_t *x = a, *y = b;
    if (x->has_obj != y->has_obj)
        return x->has_obj ? -1 : 1;
    if (x->has_obj && x->obj != y->obj)
        return (x->obj < y->obj) == !sort_maximize ? -1 : 1;
    return x->iter < y->iter ? -1 : x->iter > y->iter;
}

/* The params object as "tp=4 lr=0.001" (or CSV cells). */
static void params_text(const char *json, char sep, util_buf_t *b,
                        bool values_only)
{
    json_t *o = json_loads(json, 0, NULL);
    const char *k;
    json_t *v;
    bool first = true;
    json_object_foreach(o, k, v)
    {
        if (!first)
            util_buf_putc(b, sep);
        first = false;
        if (!values_only)
            util_buf_printf(b, "%s=", k);
        if (json_is_string(v)) {
            util_buf_puts(b, json_string_value(v));
        } else {
            char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT |
                                        JSON_REAL_PRECISION(6));
            util_buf_puts(b, t ? t : "?");
            free(t);
        }
    }
    json_decref(o);
}

static void csv_cell(const char *s)
{
    if (!strpbrk(s, ",\"\n")) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(*s);
    }
    putchar('"');
}

static void print_sweep(struct ctx *c, struct exp_list *l)
{
    if (c->csv) {
        json_t *first = l->n ? json_loads(l->rows[0].params, 0, NULL) : NULL;
        printf("rank,experiment,state,%s", l->metric);
        const char *k;
        json_t *v;
        json_object_foreach(first, k, v) printf(",%s", k);
        json_decref(first);
        printf(",seconds,gpus,reason\n");
    } else if (!c->json) {
        printf("%4s %5s  %-11s %14s  %-40s %9s  %-7s %s\n", "RANK", "EXP",
               "STATE", l->metric, "PARAMETERS", "SECONDS", "GPUS",
               "REASON");
    }
    for (size_t i = 0; i < l->n; i++) {
        exp_row_t *r = &l->rows[i];
        if (c->json) {
            json_t *p = json_loads(r->params, 0, NULL);
            json_array_append_new(
                c->array,
                json_pack("{s:I, s:I, s:s, s:o, s:o, s:o, s:f, s:s, s:I,"
                          " s:s?}",
                          "rank", (json_int_t)i + 1, "experiment",
                          (json_int_t)r->iter + 1, "state", r->state,
                          "objective",
                          r->has_obj ? json_real(r->obj) : json_null(),
                          "params", p ? p : json_object(), "metrics",
                          r->metrics ? json_incref(r->metrics)
                                     : json_null(),
                          "seconds", r->seconds, "gpus", r->gpus,
                          "peak_rss", (json_int_t)r->peak_rss, "reason",
                          r->reason[0] ? r->reason : NULL));
            continue;
        }
        util_buf_t b = UTIL_BUF_INIT;
        char obj[32] = "-";
        if (r->has_obj)
            snprintf(obj, sizeof(obj), "%.6g", r->obj);
        if (c->csv) {
            printf("%zu,%lld,%s,%s,", i + 1, (long long)r->iter + 1,
                   r->state, r->has_obj ? obj : "");
            params_text(r->params, ',', &b, true);
            csv_cell(b.data ? b.data : "");
            printf(",%.3f,", r->seconds);
            csv_cell(r->gpus);
            putchar(',');
            csv_cell(r->reason);
            putchar('\n');
        } else {
            params_text(r->params, ' ', &b, false);
            printf("%4zu %5lld  %-11s %14s  %-40s %9.1f  %-7s %s\n", i + 1,
                   (long long)r->iter + 1, r->state, obj,
                   b.data ? b.data : "", r->seconds,
                   r->gpus[0] ? r->gpus : "-", r->reason);
        }
        util_buf_fini(&b);
    }
    if (!c->json && !c->csv && l->n && l->rows[0].has_obj) {
        util_buf_t b = UTIL_BUF_INIT;
        params_text(l->rows[0].params, ' ', &b, false);
        printf("\nbest: %s=%.6g at experiment %lld: %s\n", l->metric,
               l->rows[0].obj, (long long)l->rows[0].iter + 1,
               b.data ? b.data : "");
        util_buf_fini(&b);
    }
}

static int sweep_results(struct ctx *c, const char *name, const char *db)
{
    struct exp_list l = {0};
    if (store_sweeps_foreach(c->st, name, on_sweep_found, &l) < 0)
        return BANYAN_EXIT_INTERNAL;
    if (!l.found)
        return cli_fail("results", BANYAN_EXIT_USAGE,
                        "no run or sweep '%s' in %s", name, db);
    int code = BANYAN_EXIT_OK;
    if (store_experiments_foreach(c->st, l.id, on_exp, &l) < 0) {
        code = BANYAN_EXIT_INTERNAL;
    } else {
        sort_maximize = l.maximize;
        qsort(l.rows, l.n, sizeof(*l.rows), cmp_exp);
        print_sweep(c, &l);
    }
    for (size_t i = 0; i < l.n; i++) {
        free(l.rows[i].state);
        free(l.rows[i].params);
        free(l.rows[i].reason);
        free(l.rows[i].gpus);
        json_decref(l.rows[i].metrics);
    }
    free(l.rows);
    return code;
}

int cmd_results(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'J'},
        {"csv", no_argument, NULL, 'C'},
        {"limit", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    /* With a server (--server, or BANYAN_SERVER and no --db), the results
     * come from it. */
    bool has_db = false, has_server = false;
    for (int i = 1; i < argc; i++) {
        has_db |= !strncmp(argv[i], "--db", 4);
        has_server |= !strncmp(argv[i], "--server", 8);
    }
    if (has_server || (getenv("BANYAN_SERVER") && !has_db))
        return cmd_results_remote(argc, argv);
    const char *db = ".banyan/banyan.db";
    struct ctx c = {0};
    long limit = 20;
    opterr = 0;
    optind = 1;
    int o;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (o) {
        case 'd': db = optarg; break;
        case 'J': c.json = true; break;
        case 'C': c.csv = true; break;
        case 'l':
            if (util_parse_long(optarg, 0, 1L << 30, &limit) < 0)
                return cli_fail("results", BANYAN_EXIT_USAGE,
                                "invalid --limit '%s'", optarg);
            break;
        case 'h': fputs(usage_text, stdout); return 0;
        default:
            return cli_fail("results", BANYAN_EXIT_USAGE,
                            "unknown option '%s'\nTry 'banyan results --help'.",
                            argv[optind - 1]);
        }
    }
    if (argc - optind > 1)
        return cli_fail("results", BANYAN_EXIT_USAGE, "too many arguments");
    banyan_error_t err = {{0}};
    store_options_t so = {.readonly = true};
    c.st = store_open(db, &so, &err);
    if (!c.st)
        return cli_fail("results", BANYAN_EXIT_USAGE, "%s", err.text);
    int code = BANYAN_EXIT_OK;
    c.array = json_array();
    if (optind == argc) {
        if (!c.json)
            printf("%5s  %-5s  %-19s  %-11s  %13s %6s  %s\n", "RUN", "KIND",
                   "CREATED", "STATE", "OK/TASKS", "FAILED", "COMMAND");
        if (store_runs_foreach(c.st, 0, (int)limit, visit_run, &c) < 0 ||
            store_sweeps_foreach(c.st, NULL, visit_sweep, &c) < 0)
            code = BANYAN_EXIT_INTERNAL;
    } else if (is_sweep_name(argv[optind])) {
        code = sweep_results(&c, argv[optind], db);
    } else {
        const char *which = argv[optind];
        int64_t id = cli_run_id(c.st, which, true);
        if (id <= 0) {
            code = cli_fail("results", BANYAN_EXIT_USAGE, "no run '%s' in %s",
                            which, db);
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
    if (c.json && code == BANYAN_EXIT_OK && c.array)
        cli_print_json(c.array, JSON_INDENT(2));
    json_decref(c.array);
    store_close(c.st);
    return code;
}
