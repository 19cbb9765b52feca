/* SPDX-License-Identifier: MIT */
/* cmd_stats.c - banyan stats: what banyan learnt and where the time went.
 *
 *   banyan stats [--db FILE] [--json] [--limit N]    every group and run
 *   banyan stats [--db FILE] [--json] RUN|last       one run in detail
 *
 * Three parts: the learnt memory estimates per group (count, mean, standard
 * deviation, high-water mark, floor and the admission figure), the usage of
 * runs and sweeps (sessions, wall time, busy and idle slot-time, overhead,
 * queue waits, what pending work waited for), and for one run the timing
 * of its tasks (queue wait, run time and CPU: mean and maximum).
 */
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "cli_client.h"
#include "est/est.h"
#include "exec/exec.h"
#include "local/local.h"
#include "store/store.h"

static const char usage_text[] =
    "Usage: banyan stats [OPTION]... [RUN]\n"
    "Show the learnt memory estimates of every task group, and for runs and\n"
    "sweeps: busy and idle time, overhead, queue waits and what pending\n"
    "tasks waited for (memory, slots, GPUs, the host's fair share...).\n"
    "With RUN (an id or 'last'), that run in detail, with its tasks'\n"
    "timing.\n"
    "\n"
    "  --db FILE    database (default .banyan/banyan.db)\n"
    "  --json       machine-readable output\n"
    "  --limit N    show at most N runs and sweeps (default 10; 0 = all)\n"
    "  -h, --help   this text\n";

struct ctx {
    store_t *st;
    bool json;
    json_t *groups, *usage;  /* --json */
    const char *only_kind;   /* one run */
    int64_t only_id;
    int limit, shown;
};

static char *size_text(double bytes, char *buf, size_t size)
{
    return util_format_size(bytes > 0 ? (uint64_t)llround(bytes) : 0, buf,
                            size);
}

/* ---------------------------------------------------------------- groups */

static int visit_group(const store_estimate_t *e, void *arg)
{
    struct ctx *c = arg;
    est_stats_t st = {
        .count = e->count > 0 ? (uint64_t)e->count : 0,
        .mean_bytes = e->mean_bytes, .m2 = e->m2,
        .hwm_bytes = e->hwm_bytes > 0 ? (uint64_t)e->hwm_bytes : 0,
        .floor_bytes = e->floor_bytes > 0 ? (uint64_t)e->floor_bytes : 0,
    };
    double sd = est_stats_stddev(&st);
    uint64_t est = est_stats_estimate(&st, ENGINE_MEM_DEFAULT_BYTES);
    bool learnt = st.count >= EST_MIN_SAMPLES;
    if (c->json) {
        json_array_append_new(c->groups, json_pack(
            "{s:s, s:I, s:f, s:f, s:I, s:I, s:I, s:b, s:f}", "group",
            e->group, "count", (json_int_t)st.count, "mean", st.mean_bytes,
            "sd", sd, "hwm", (json_int_t)st.hwm_bytes, "floor",
            (json_int_t)st.floor_bytes, "estimate", (json_int_t)est,
            "learnt", learnt, "updated", e->updated));
        return 0;
    }
    char m[32], s[32], h[32], f[32], x[32];
    printf("%-32.32s %6llu %9s %9s %9s %9s %9s%s\n", e->group,
           (unsigned long long)st.count, size_text(st.mean_bytes, m, 32),
           size_text(sd, s, 32), size_text((double)st.hwm_bytes, h, 32),
           st.floor_bytes ? size_text((double)st.floor_bytes, f, 32) : "-",
           size_text((double)est, x, 32), learnt ? "" : " (default)");
    return 0;
}

/* ----------------------------------------------------------------- usage */

struct waits {
    json_t *obj;             /* --json */
    char text[512];
    size_t len;
};

static int visit_wait(const store_wait_t *w, void *arg)
{
    struct waits *ws = arg;
    if (ws->obj) {
        json_object_set_new(ws->obj, w->reason, json_pack(
            "{s:I, s:f}", "passes", (json_int_t)w->passes, "seconds",
            w->seconds));
        return 0;
    }
    if (ws->len < sizeof(ws->text) - 1) {
        int n = snprintf(ws->text + ws->len, sizeof(ws->text) - ws->len,
                         "%s%s %.1f s (%lld passes)", ws->len ? ", " : "",
                         w->reason, w->seconds, (long long)w->passes);
        if (n > 0)
            ws->len += (size_t)n;
    }
    return 0;
}

/* Timing of a run's tasks: mean and max of queue wait, run time, CPU. */
struct times {
    uint64_t n;
    double wait_sum, wait_max, run_sum, run_max, cpu_sum;
    uint64_t ok, killed, limited;
};

static int visit_time(const store_task_time_t *t, void *arg)
{
    struct times *tt = arg;
    if (t->end_time <= 0 || t->start_time <= 0)
        return 0;
    tt->n++;
    double wait = t->queued > 0 && t->start_time > t->queued
                      ? t->start_time - t->queued : 0;
    double run = t->end_time - t->start_time;
    tt->wait_sum += wait;
    tt->run_sum += run;
    tt->cpu_sum += t->cpu_s;
    if (wait > tt->wait_max)
        tt->wait_max = wait;
    if (run > tt->run_max)
        tt->run_max = run;
    tt->ok += t->state == BANYAN_TASK_OK;
    tt->limited += t->reason && strstr(t->reason, "memory limit") != NULL;
    return 0;
}

static int visit_usage(const store_usage_t *u, void *arg)
{
    struct ctx *c = arg;
    if (c->limit > 0 && c->shown >= c->limit)
        return 1;
    c->shown++;
    double idle = u->capacity_s > u->busy_s ? u->capacity_s - u->busy_s : 0;
    double overhead = u->capacity_s > 0 ? 100.0 * idle / u->capacity_s : 0;
    struct waits ws = {.obj = c->json ? json_object() : NULL};
    if (store_waits_foreach(c->st, u->kind, u->ref_id, visit_wait, &ws) < 0)
        fprintf(stderr, "banyan stats: %s\n", store_last_error(c->st));
    struct times tt = {0};
    bool detail = c->only_kind && !strcmp(u->kind, "run");
    if (detail && store_task_times_foreach(c->st, u->ref_id, visit_time,
                                           &tt) < 0)
        fprintf(stderr, "banyan stats: %s\n", store_last_error(c->st));
    if (c->json) {
        json_t *o = json_pack(
            "{s:s, s:I, s:s?, s:s?, s:f, s:I, s:I, s:f, s:f, s:f, s:f, s:f,"
            " s:f, s:f, s:f, s:I, s:I, s:I, s:I, s:I, s:f, s:o}",
            "kind", u->kind, "id", (json_int_t)u->ref_id, "engine",
            u->engine, "group", u->group, "score", u->score, "slots",
            (json_int_t)u->slots, "sessions", (json_int_t)u->sessions,
            "wall_s", u->wall_s, "capacity_s", u->capacity_s, "busy_s",
            u->busy_s, "idle_s", idle, "overhead_pct", overhead,
            "active_s", u->active_s, "wait_s", u->wait_s, "cpu_s", u->cpu_s,
            "tasks", (json_int_t)u->tasks, "requeued",
            (json_int_t)u->requeued, "limit_kills",
            (json_int_t)u->limit_kills, "suspends", (json_int_t)u->suspends,
            "critical_kills", (json_int_t)u->critical_kills, "updated",
            u->updated, "waits", ws.obj);
        if (detail)
            json_object_set_new(o, "task_times", json_pack(
                "{s:I, s:f, s:f, s:f, s:f, s:f}", "ended", (json_int_t)tt.n,
                "wait_mean_s", tt.n ? tt.wait_sum / (double)tt.n : 0.0,
                "wait_max_s", tt.wait_max, "run_mean_s",
                tt.n ? tt.run_sum / (double)tt.n : 0.0, "run_max_s",
                tt.run_max, "cpu_s", tt.cpu_sum));
        json_array_append_new(c->usage, o);
        return 0;
    }
    printf("%s %lld on %s (score %.0f), -j%lld, %lld session%s\n", u->kind,
           (long long)u->ref_id, u->engine ? u->engine : "?", u->score,
           (long long)u->slots, (long long)u->sessions,
           u->sessions == 1 ? "" : "s");
    printf("  wall %.2f s, tasks %lld, busy %.2f slot-s of %.2f, idle %.2f "
           "(overhead %.1f%%), active %.2f s\n", u->wall_s,
           (long long)u->tasks, u->busy_s, u->capacity_s, idle, overhead,
           u->active_s);
    printf("  queue wait %.2f s in all, task CPU %.2f s; requeued %lld, "
           "memory-limit kills %lld, suspended %lld, critical kills %lld\n",
           u->wait_s, u->cpu_s, (long long)u->requeued,
           (long long)u->limit_kills, (long long)u->suspends,
           (long long)u->critical_kills);
    printf("  waiting for: %s\n", ws.len ? ws.text : "nothing");
    if (detail && tt.n)
        printf("  tasks ended: %llu (%llu ok); queue wait mean %.3f s, max "
               "%.3f s; run time mean %.3f s, max %.3f s\n",
               (unsigned long long)tt.n, (unsigned long long)tt.ok,
               tt.wait_sum / (double)tt.n, tt.wait_max,
               tt.run_sum / (double)tt.n, tt.run_max);
    return 0;
}

/* ------------------------------------------------------------------ main */

int cmd_stats(int argc, char **argv)
{
    enum { OPT_DB = 256, OPT_JSON, OPT_LIMIT };
    static const struct option opts[] = {
        {"db", required_argument, NULL, OPT_DB},
        {"json", no_argument, NULL, OPT_JSON},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL;
    struct ctx c = {.limit = 10};
    opterr = 0;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        long n;
        switch (ch) {
        case OPT_DB: db = optarg; break;
        case OPT_JSON: c.json = true; break;
        case OPT_LIMIT:
            if (util_parse_long(optarg, 0, 1L << 30, &n) < 0)
                return cli_usage_error("stats", "invalid --limit '%s'",
                                       optarg);
            c.limit = (int)n;
            break;
        case 'h': fputs(usage_text, stdout); return BANYAN_EXIT_OK;
        default:
            return cli_bad_option("stats", ch, argv);
        }
    }
    if (argc - optind > 1)
        return cli_usage_error("stats", "at most one run expected");
    const char *which = optind < argc ? argv[optind] : NULL;
    if (!db)
        db = ".banyan/banyan.db";
    struct stat sb;
    if (stat(db, &sb) < 0)
        return cli_fail("stats", BANYAN_EXIT_USAGE, "%s: %s", db,
                        strerror(errno));
    banyan_error_t err = {{0}};
    c.st = store_open(db, NULL, &err);
    if (!c.st)
        return cli_fail("stats", BANYAN_EXIT_USAGE, "%s", err.text);
    int code = BANYAN_EXIT_OK;
    if (which) {
        c.only_kind = "run";
        c.only_id = cli_run_id(c.st, which, false);
        if (c.only_id < 0) {
            store_close(c.st);
            return cli_usage_error("stats", "invalid run '%s' (an id or "
                                   "'last')", which);
        }
    }
    char probe[512];
    bool cg = exec_cgroup_probe(probe, sizeof(probe));
    if (c.json) {
        c.groups = json_array();
        c.usage = json_array();
    } else if (!which) {
        printf("memory estimates (tasks without --mem are admitted against "
               "the estimate):\n");
        printf("%-32s %6s %9s %9s %9s %9s %9s\n", "group", "count", "mean",
               "sd", "hwm", "floor", "estimate");
    }
    int rc = 0;
    if (!which)
        rc = store_estimates_foreach(c.st, visit_group, &c);
    if (!c.json && !which)
        printf("\n");
    if (rc == 0) {
        rc = which ? store_usage_foreach(c.st, "run", c.only_id, visit_usage,
                                         &c)
                   : store_usage_foreach(c.st, NULL, 0, visit_usage, &c);
        if (rc == 1)
            rc = 0;
    }
    if (rc < 0 && which && errno == ENOENT)
        code = cli_fail("stats", BANYAN_EXIT_USAGE,
                        "no statistics for run %s", which);
    else if (rc < 0)
        code = cli_fail("stats", BANYAN_EXIT_INTERNAL, "%s",
                        store_last_error(c.st));
    if (c.json && code == BANYAN_EXIT_OK) {
        json_t *out = json_pack("{s:{s:b, s:s}, s:o, s:o}", "engine",
                                "cgroup_v2_memory", cg, "cgroup", probe,
                                "groups", c.groups, "usage", c.usage);
        c.groups = c.usage = NULL;
        cli_print_json(out, JSON_INDENT(2));
        json_decref(out);
    } else if (!c.json && code == BANYAN_EXIT_OK && !which) {
        printf("memory measurement: %s\n",
               cg ? probe : "sampling /proc (no cgroup v2 memory here)");
        if (!cg)
            printf("  (%s)\n", probe);
    }
    json_decref(c.groups);
    json_decref(c.usage);
    store_close(c.st);
    return code;
}
