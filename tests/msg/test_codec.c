/* SPDX-License-Identifier: MIT */
/* test_codec.c - every message type survives encode + decode, field by
 * field; limits are enforced on both sides; the speed of big batches.
 *
 * Each round trip encodes a message with every field set (and the edge
 * values: empty lists, NULL optional strings, blobs with NUL bytes, the
 * largest counts), decodes it, and compares the result with the original.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "msg/msg.h"
#include "tap.h"

static msg_t *round_trip(const msg_t *in)
{
    util_buf_t b = UTIL_BUF_INIT;
    if (msg_encode(in, &b) < 0) {
        diag("encode %s: %s", msg_type_name(in->type), strerror(errno));
        return NULL;
    }
    banyan_error_t err = {{0}};
    msg_t *out = msg_decode(b.data, b.len, &err);
    if (out == NULL)
        diag("decode %s: %s", msg_type_name(in->type), err.text);
    util_buf_fini(&b);
    return out;
}

static bool str_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static bool strv_eq(uint32_t n, const char **a, const char **b)
{
    for (uint32_t i = 0; i < n; i++)
        if (!str_eq(a[i], b[i]))
            return false;
    return true;
}

static bool ref_eq(const msg_task_ref_t *a, const msg_task_ref_t *b)
{
    return a->job == b->job && a->index == b->index
           && a->attempt == b->attempt;
}

static bool custom_eq(int n, const res_custom_t *a, const res_custom_t *b);

static bool req_eq(const res_request_t *a, const res_request_t *b)
{
    return a->slots == b->slots && a->cpus_milli == b->cpus_milli
           && a->mem_bytes == b->mem_bytes && a->gpus_milli == b->gpus_milli
           && a->gpu_mem_bytes == b->gpu_mem_bytes && a->ncustom == b->ncustom
           && custom_eq(a->ncustom, a->custom, b->custom);
}

static bool job_eq(const msg_job_t *a, const msg_job_t *b)
{
    if (!req_eq(&a->req, &b->req) || a->priority != b->priority)
        return false;
    if (a->id != b->id || a->nwords != b->nwords || a->nsources != b->nsources
        || a->array_first != b->array_first
        || a->array_count != b->array_count || a->nenv != b->nenv
        || !str_eq(a->cwd, b->cwd) || a->timeout_ms != b->timeout_ms
        || a->flags != b->flags || a->nblobs != b->nblobs)
        return false;
    if (a->nblobs > 0
        && memcmp(a->blobs, b->blobs, (size_t)a->nblobs * MSG_HASH_LEN) != 0)
        return false;
    if (a->nblobs == 0 && b->blobs != NULL)
        return false;
    if (!strv_eq(a->nwords, a->words, b->words)
        || !strv_eq(a->nenv, a->env, b->env))
        return false;
    for (uint32_t i = 0; i < a->nsources; i++) {
        const banyan_source_t *x = &a->sources[i], *y = &b->sources[i];
        if (x->nvalues != y->nvalues || x->linked != y->linked
            || !strv_eq((uint32_t)x->nvalues, (const char **)x->values,
                        (const char **)y->values))
            return false;
    }
    return true;
}

static bool custom_eq(int n, const res_custom_t *a, const res_custom_t *b)
{
    for (int i = 0; i < n; i++)
        if (strcmp(a[i].name, b[i].name) != 0 || a[i].amount != b[i].amount)
            return false;
    return true;
}

/* ------------------------------------------------------------- fixtures */

static const char *words[] = {"sh", "-c", "echo {1} {2} > out.{#}", ""};
static const char *src0[] = {"a", "b", "c with spaces"};
static const char *src1[] = {"1", "2", "3"};
static const banyan_source_t sources[] = {{src0, 3, false},
                                          {src1, 3, true}};
static const char *env[] = {"A=1", "PATH=/bin"};
/* Three blob names: mixed bytes, all 0xab, all zero (filled by main). */
static uint8_t hashes[3][MSG_HASH_LEN];

static void fill_hashes(void)
{
    for (int i = 0; i < MSG_HASH_LEN; i++) {
        hashes[0][i] = (uint8_t)(i * 37 + 255);
        hashes[1][i] = 0xab;
    }
}

static msg_job_t full_job(void)
{
    msg_job_t j = {
        .id = 4000000000u, .nwords = 4, .words = words, .nsources = 2,
        .sources = sources, .array_first = 1, .array_count = UINT64_MAX, .nenv = 2, .env = env,
        .cwd = "/tmp/work dir", .timeout_ms = -1,
        .flags = MSG_JOB_STDIN_BLOB, .nblobs = 3,
        .blobs = (const uint8_t (*)[MSG_HASH_LEN])hashes,
        .req = {.slots = 2, .cpus_milli = UINT32_MAX, .mem_bytes = UINT64_MAX,
                .gpus_milli = 2000, .gpu_mem_bytes = 40ull << 30,
                .ncustom = 2, .custom = {{"license", 1}, {"x", UINT64_MAX}}},
        .priority = INT32_MIN,
    };
    return j;
}

static void test_hello(void)
{
    msg_gpu_t gpus[2] = {
        {0, "GPU-1234", "H100", 80ull << 30},
        {7, NULL, NULL, 0},
    };
    res_custom_t custom[2] = {{"license", 2}, {"x.y-z", UINT64_MAX}};
    msg_task_ref_t running[3] = {{1, 0, 1}, {2, UINT64_MAX, 9},
                                 {UINT32_MAX, 5, UINT32_MAX}};
    msg_t in = {.type = MSG_HELLO};
    in.u.hello = (msg_hello_t){
        .worker_id = "node1:123:1700000000", .name = NULL, .host = "node1",
        .slots = 64, .cpus_milli = 64000, .mem_bytes = 1ull << 40,
        .ngpus = 2, .gpus = gpus, .ncustom = 2, .custom = custom,
        .score = 1.5, .noop = true, .nrunning = 3, .running = running,
        .last_acked = 12345678901ull, .relay = "tcp://node1:7001",
        .node = UINT32_MAX,
    };
    msg_t *out = round_trip(&in);
    ok(out != NULL && out->type == MSG_HELLO, "HELLO decodes as HELLO");
    if (out == NULL)
        return;
    const msg_hello_t *a = &in.u.hello, *b = &out->u.hello;
    ok(str_eq(a->worker_id, b->worker_id) && b->name == NULL
           && str_eq(a->host, b->host) && a->slots == b->slots
           && a->cpus_milli == b->cpus_milli && a->mem_bytes == b->mem_bytes
           && a->score == b->score && b->noop
           && a->last_acked == b->last_acked && str_eq(a->relay, b->relay)
           && a->node == b->node,
       "HELLO keeps its scalars, relay, node and its NULL name");
    bool gpus_ok = b->ngpus == 2;
    for (uint32_t i = 0; gpus_ok && i < 2; i++)
        gpus_ok = a->gpus[i].index == b->gpus[i].index
                  && str_eq(a->gpus[i].uuid, b->gpus[i].uuid)
                  && str_eq(a->gpus[i].name, b->gpus[i].name)
                  && a->gpus[i].mem_total_bytes == b->gpus[i].mem_total_bytes;
    ok(gpus_ok, "HELLO keeps its GPUs, NULL uuid and name included");
    ok(b->ncustom == 2 && custom_eq(2, a->custom, b->custom),
       "HELLO keeps its custom resources");
    bool run_ok = b->nrunning == 3;
    for (uint32_t i = 0; run_ok && i < 3; i++)
        run_ok = ref_eq(&a->running[i], &b->running[i]);
    ok(run_ok, "HELLO keeps its running tasks, extreme values included");
    msg_free(out);

    /* Empty lists. */
    in.u.hello.ngpus = 0;
    in.u.hello.gpus = NULL;
    in.u.hello.ncustom = 0;
    in.u.hello.nrunning = 0;
    in.u.hello.running = NULL;
    in.u.hello.relay = NULL;
    in.u.hello.node = 0;
    out = round_trip(&in);
    ok(out != NULL && out->u.hello.ngpus == 0 && out->u.hello.ncustom == 0
           && out->u.hello.nrunning == 0 && out->u.hello.relay == NULL
           && out->u.hello.node == 0,
       "HELLO with empty lists and no relay decodes with zero counts, NULL");
    msg_free(out);
}

static void test_job(void)
{
    msg_t in = {.type = MSG_JOB};
    in.u.job = full_job();
    msg_t *out = round_trip(&in);
    ok(out != NULL && out->type == MSG_JOB && job_eq(&in.u.job, &out->u.job),
       "JOB keeps words, sources, links, array, env, cwd, timeout, flags, "
       "blobs, request and priority");
    ok(out != NULL && (uintptr_t)out->u.job.blobs % 8 == 0
           && out->u.job.blobs[2][31] == 0 && out->u.job.blobs[1][0] == 0xab,
       "JOB blobs are contiguous hashes in the arena");
    msg_free(out);

    in.u.job.flags = 0;
    in.u.job.nblobs = MSG_MAX_JOB_BLOBS;
    uint8_t many[MSG_MAX_JOB_BLOBS][MSG_HASH_LEN];
    for (int i = 0; i < MSG_MAX_JOB_BLOBS; i++)
        memset(many[i], i, MSG_HASH_LEN);
    in.u.job.blobs = (const uint8_t (*)[MSG_HASH_LEN])many;
    out = round_trip(&in);
    ok(out != NULL && job_eq(&in.u.job, &out->u.job),
       "a JOB with MSG_MAX_JOB_BLOBS blobs and no flags round-trips");
    msg_free(out);
    util_buf_t b = UTIL_BUF_INIT;
    in.u.job.nblobs = MSG_MAX_JOB_BLOBS + 1;
    errno = 0;
    ok(msg_encode(&in, &b) < 0 && errno == EINVAL,
       "MSG_MAX_JOB_BLOBS + 1 blobs fail to encode with EINVAL");
    in.u.job.nblobs = 0;
    in.u.job.blobs = NULL;
    in.u.job.flags = MSG_JOB_STDIN_BLOB;
    errno = 0;
    ok(msg_encode(&in, &b) < 0 && errno == EINVAL,
       "a stdin blob without blobs fails to encode with EINVAL");
    in.u.job.flags = 2;
    errno = 0;
    ok(msg_encode(&in, &b) < 0 && errno == EINVAL && b.len == 0,
       "an unknown job flag fails to encode with EINVAL");
    in.u.job = full_job();
    in.u.job.req.custom[1].name[0] = '\0';
    errno = 0;
    ok(msg_encode(&in, &b) < 0 && errno == EINVAL && b.len == 0,
       "a job request with an unnamed custom resource fails to encode");
    in.u.job.req = full_job().req;
    in.u.job.req.ncustom = RES_MAX_CUSTOM + 1;
    errno = 0;
    ok(msg_encode(&in, &b) < 0 && errno == EINVAL && b.len == 0,
       "a job request with RES_MAX_CUSTOM + 1 resources fails to encode");
    util_buf_fini(&b);

    msg_job_t empty = {.id = 1, .timeout_ms = INT64_MIN};
    in.u.job = empty;
    out = round_trip(&in);
    ok(out != NULL && job_eq(&in.u.job, &out->u.job) && out->u.job.cwd == NULL
           && out->u.job.nwords == 0 && out->u.job.nsources == 0
           && out->u.job.nblobs == 0 && out->u.job.blobs == NULL,
       "an empty (zero-initialised) JOB with a NULL cwd round-trips");
    ok(out != NULL && out->u.job.req.slots == 0 && out->u.job.priority == 0
           && out->u.job.req.ncustom == 0,
       "a zero-initialised request and priority decode as zero");
    msg_free(out);
}

static void test_assign_result(void)
{
    msg_assign_entry_t ae[3] = {
        {{1, 0, 1}, 1, 0, 0},
        {{1, 1, 2}, 64, UINT64_MAX, 1000},
        {{UINT32_MAX, UINT64_MAX, UINT32_MAX}, UINT32_MAX, 5, 250},
    };
    msg_t in = {.type = MSG_ASSIGN};
    in.u.assign = (msg_assign_t){3, ae};
    msg_t *out = round_trip(&in);
    bool same = out != NULL && out->u.assign.n == 3;
    for (int i = 0; same && i < 3; i++) {
        const msg_assign_entry_t *x = &out->u.assign.entries[i];
        same = ref_eq(&x->task, &ae[i].task) && x->slot == ae[i].slot
               && x->gpu_mask == ae[i].gpu_mask
               && x->gpu_milli_each == ae[i].gpu_milli_each;
    }
    ok(same, "ASSIGN keeps every entry");
    msg_free(out);

    static const char blob[] = "out\0with\0nul";
    msg_result_entry_t re[2] = {
        {.task = {3, 9, 1},
         .end = {.state = BANYAN_TASK_KILLED,
                 .flags = BANYAN_END_MEM_LIMITED | BANYAN_END_TIMED_OUT,
                 .exit_code = -1, .term_signal = 9,
                 .start_time = 1700000000.25, .end_time = 1700000001.5,
                 .cpu_user = 0.125, .cpu_sys = 0.0625,
                 .peak_rss_bytes = 1ull << 33, .mem_limit_bytes = 1ull << 32,
                 .reason = "memory limit 4.0 GiB exceeded: peak 8.0 GiB"},
         .out_tail_len = sizeof blob, .out_tail = blob, .err_tail = ""},
        {.task = {3, 10, 1},
         .end = {.state = BANYAN_TASK_FAILED, .exit_code = 255}},
    };
    in.type = MSG_RESULT;
    in.u.result = (msg_result_t){UINT64_MAX, 2, re};
    out = round_trip(&in);
    ok(out != NULL && out->u.result.seq == UINT64_MAX && out->u.result.n == 2,
       "RESULT keeps its seq and count");
    if (out != NULL && out->u.result.n == 2) {
        const msg_result_entry_t *x = &out->u.result.entries[0];
        const banyan_task_end_t *d = &x->end, *w = &re[0].end;
        ok(ref_eq(&x->task, &re[0].task) && d->state == w->state
               && d->exit_code == -1
               && d->term_signal == 9 && d->flags == w->flags
               && d->start_time == w->start_time
               && d->end_time == w->end_time
               && d->cpu_user == w->cpu_user
               && d->cpu_sys == w->cpu_sys
               && d->peak_rss_bytes == w->peak_rss_bytes
               && d->mem_limit_bytes == w->mem_limit_bytes
               && strcmp(d->reason, w->reason) == 0,
           "RESULT keeps the task end: state, codes, flags, times, peak "
           "RSS, limit and reason");
        ok(x->out_tail_len == sizeof blob
               && memcmp(x->out_tail, blob, sizeof blob) == 0,
           "a blob with NUL bytes keeps every byte");
        ok(x->err_tail != NULL && x->err_tail_len == 0,
           "an empty blob stays empty and not NULL");
        x = &out->u.result.entries[1];
        ok(x->out_tail == NULL && x->err_tail == NULL
               && x->end.exit_code == 255 && !x->end.reason[0],
           "NULL blobs stay NULL");
    }
    msg_free(out);
}

static void test_small(void)
{
    msg_task_ref_t refs[2] = {{5, 1, 1}, {5, 2, 3}};
    msg_t in[] = {
        {.type = MSG_WELCOME, .u.welcome = {7, UINT64_MAX, 1000}},
        {.type = MSG_ACK, .u.ack = {42}},
        {.type = MSG_KILL, .u.kill = {5, 2, refs}},
        {.type = MSG_KILL, .u.kill = {6, 0, NULL}},
        {.type = MSG_PING, .u.ping = {1, 12.5}},
        {.type = MSG_PONG, .u.ping = {2, -3.25}},
        {.type = MSG_BYE},
        {.type = MSG_SUBMITTED, .u.submitted = {UINT64_MAX, 3, 1000000}},
        {.type = MSG_WAIT, .u.wait = {9, 3}},
        {.type = MSG_JOBSTATE,
         .u.jobstate = {1, 3, "running", 10, 2, 3, 4, 1}},
        {.type = MSG_QUERY, .u.query = {2, "status", "{\"job\": 3}"}},
        {.type = MSG_QUERY, .u.query = {3, "explain", NULL}},
        {.type = MSG_ANSWER, .u.answer = {2, "{\"jobs\": []}"}},
        {.type = MSG_CANCEL, .u.cancel = {4, 3}},
        {.type = MSG_ERROR, .u.error = {5, ENOENT, "no such job: 3"}},
    };
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        msg_t *out = round_trip(&in[i]);
        bool same = out != NULL && out->type == in[i].type;
        const msg_t *a = &in[i];
        if (same) {
            switch (a->type) {
            case MSG_WELCOME:
                same = memcmp(&a->u.welcome, &out->u.welcome,
                              sizeof a->u.welcome) == 0;
                break;
            case MSG_ACK:
                same = a->u.ack.seq == out->u.ack.seq;
                break;
            case MSG_KILL:
                same = a->u.kill.job == out->u.kill.job
                       && a->u.kill.n == out->u.kill.n;
                for (uint32_t k = 0; same && k < a->u.kill.n; k++)
                    same = ref_eq(&a->u.kill.tasks[k], &out->u.kill.tasks[k]);
                break;
            case MSG_PING:
            case MSG_PONG:
                same = a->u.ping.seq == out->u.ping.seq
                       && a->u.ping.sent == out->u.ping.sent;
                break;
            case MSG_SUBMITTED:
                same = a->u.submitted.request == out->u.submitted.request
                       && a->u.submitted.job == out->u.submitted.job
                       && a->u.submitted.ntasks == out->u.submitted.ntasks;
                break;
            case MSG_WAIT:
                same = a->u.wait.request == out->u.wait.request
                       && a->u.wait.job == out->u.wait.job;
                break;
            case MSG_JOBSTATE: {
                const msg_jobstate_t *x = &a->u.jobstate;
                const msg_jobstate_t *y = &out->u.jobstate;
                same = x->request == y->request && x->job == y->job
                       && str_eq(x->state, y->state) && x->ntasks == y->ntasks
                       && x->pending == y->pending && x->running == y->running
                       && x->ok == y->ok && x->failed == y->failed;
                break;
            }
            case MSG_QUERY:
                same = a->u.query.request == out->u.query.request
                       && str_eq(a->u.query.what, out->u.query.what)
                       && str_eq(a->u.query.args_json, out->u.query.args_json);
                break;
            case MSG_ANSWER:
                same = a->u.answer.request == out->u.answer.request
                       && str_eq(a->u.answer.json, out->u.answer.json);
                break;
            case MSG_CANCEL:
                same = a->u.cancel.request == out->u.cancel.request
                       && a->u.cancel.job == out->u.cancel.job;
                break;
            case MSG_ERROR:
                same = a->u.error.request == out->u.error.request
                       && a->u.error.code == out->u.error.code
                       && str_eq(a->u.error.text, out->u.error.text);
                break;
            default:
                break;
            }
        }
        ok(same, "%s (case %zu) round-trips with every field",
           msg_type_name(in[i].type), i);
        msg_free(out);
    }
}

static void test_submit(void)
{
    msg_t in = {.type = MSG_SUBMIT};
    in.u.submit.request = 77;
    in.u.submit.job = full_job();
    in.u.submit.job.name = "sweep-7";
    in.u.submit.job.max_attempts = 3;
    msg_t *out = round_trip(&in);
    ok(out != NULL && out->type == MSG_SUBMIT, "SUBMIT decodes as SUBMIT");
    if (out == NULL)
        return;
    const msg_submit_t *a = &in.u.submit, *b = &out->u.submit;
    ok(a->request == b->request && job_eq(&a->job, &b->job)
           && str_eq(a->job.name, b->job.name)
           && a->job.max_attempts == b->job.max_attempts,
       "SUBMIT keeps its request id, job, request, priority, name and "
       "attempts");
    msg_free(out);
}


/* ------------------------------------------------------ the tree (v2) */

/* Field by field: the struct has padding that memcmp would compare. */
static bool stats_eq(const msg_node_stats_t *a, const msg_node_stats_t *b,
                     size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i].node != b[i].node || a[i].parent != b[i].parent ||
            a[i].children != b[i].children || a[i].sent != b[i].sent ||
            a[i].received != b[i].received ||
            a[i].bytes_out != b[i].bytes_out || a[i].bytes_in != b[i].bytes_in)
            return false;
    return true;
}

static void spoil_empty(msg_custom_count_t *c)
{
    c->name[0] = '\0';
}

static void spoil_long(msg_custom_count_t *c)
{
    memset(c->name, 'y', sizeof(c->name));
}

static void spoil_dup(msg_custom_count_t *c)
{
    strcpy(c->name, "res_0");
}

static void spoil_free(msg_custom_count_t *c)
{
    c->free = c->total + 1;
}

static void test_redirect_summary_nodes(void)
{
    msg_t in = {.type = MSG_REDIRECT,
                .u.redirect = {UINT32_MAX, 7, "tcp://10.0.0.7:7001"}};
    msg_t *out = round_trip(&in);
    ok(out != NULL && out->type == MSG_REDIRECT
           && out->u.redirect.node == UINT32_MAX
           && out->u.redirect.parent == 7
           && str_eq(out->u.redirect.endpoint, "tcp://10.0.0.7:7001"),
       "REDIRECT keeps node, parent and endpoint");
    msg_free(out);
    in.u.redirect.endpoint = NULL;
    util_buf_t b = UTIL_BUF_INIT;
    errno = 0;
    ok(msg_encode(&in, &b) < 0 && errno == EINVAL,
       "a REDIRECT without an endpoint fails to encode with EINVAL");

    msg_node_stats_t st[2] = {
        {1, 0, 2, 10, 20, 1000, 2000},
        {UINT32_MAX, 1, 0, UINT64_MAX, 0, UINT64_MAX, 1},
    };
    in = (msg_t){.type = MSG_SUMMARY};
    in.u.summary = (msg_summary_t){
        .engines = 3, .slots = 1ull << 40, .cpus_milli = 192000,
        .mem_bytes = UINT64_MAX, .gpus = 8, .queued = 12345,
        .free_slots = 17, .nstats = 2, .stats = st,
    };
    out = round_trip(&in);
    const msg_summary_t *a = &in.u.summary, *y = out ? &out->u.summary : a;
    ok(out != NULL && out->type == MSG_SUMMARY && y->engines == a->engines
           && y->slots == a->slots && y->cpus_milli == a->cpus_milli
           && y->mem_bytes == a->mem_bytes && y->gpus == a->gpus
           && y->queued == a->queued && y->free_slots == a->free_slots
           && y->nstats == 2
           && stats_eq(y->stats, st, 2),
       "SUMMARY keeps its totals and every node's counters");
    msg_free(out);

    /* A subtree's custom resources: names, totals and free counts. */
    msg_custom_count_t cc[RES_MAX_CUSTOM];
    memset(cc, 0, sizeof(cc));
    for (int i = 0; i < RES_MAX_CUSTOM; i++) {
        snprintf(cc[i].name, sizeof(cc[i].name), "res_%d", i);
        cc[i].total = i == 0 ? UINT64_MAX : (uint64_t)i * 3;
        cc[i].free = i == 0 ? UINT64_MAX : (uint64_t)i;
    }
    memset(cc[1].name, 'x', RES_NAME_MAX - 1); /* the longest name */
    in.u.summary.ncustom = RES_MAX_CUSTOM;
    in.u.summary.custom = cc;
    out = round_trip(&in);
    bool same = out != NULL && out->u.summary.ncustom == RES_MAX_CUSTOM
                && out->u.summary.nstats == 2;
    for (int i = 0; same && i < RES_MAX_CUSTOM; i++) {
        const msg_custom_count_t *c = &out->u.summary.custom[i];
        same = strcmp(c->name, cc[i].name) == 0 && c->total == cc[i].total
               && c->free == cc[i].free;
    }
    ok(same, "SUMMARY keeps %d custom resources: names, totals, free",
       RES_MAX_CUSTOM);
    msg_free(out);

    /* What the decoder would refuse does not encode. */
    msg_custom_count_t keep = cc[2];
    struct {
        const char *what;
        uint32_t n;
        void (*spoil)(msg_custom_count_t *);
    } bad[] = {
        {"more than RES_MAX_CUSTOM", RES_MAX_CUSTOM + 1, NULL},
        {"an empty name", 3, spoil_empty},
        {"a name without its NUL", 3, spoil_long},
        {"a name twice", 3, spoil_dup},
        {"free above total", 3, spoil_free},
    };
    msg_custom_count_t many[RES_MAX_CUSTOM + 1];
    memset(many, 0, sizeof(many));
    for (int i = 0; i <= RES_MAX_CUSTOM; i++)
        snprintf(many[i].name, sizeof(many[i].name), "r%d", i);
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        cc[2] = keep;
        if (bad[k].spoil)
            bad[k].spoil(&cc[2]);
        in.u.summary.ncustom = bad[k].n;
        in.u.summary.custom = bad[k].spoil ? cc : many;
        util_buf_t bb = UTIL_BUF_INIT;
        errno = 0;
        ok(msg_encode(&in, &bb) < 0 && errno == EINVAL,
           "a SUMMARY with %s custom resources fails to encode with EINVAL",
           bad[k].what);
        util_buf_fini(&bb);
    }

    in.u.summary = (msg_summary_t){0};
    out = round_trip(&in);
    ok(out != NULL && out->u.summary.nstats == 0
           && out->u.summary.stats == NULL && out->u.summary.ncustom == 0
           && out->u.summary.custom == NULL,
       "an empty SUMMARY round-trips");
    msg_free(out);

    msg_node_event_entry_t ev[3] = {
        {.node = 2, .parent = 1, .event = MSG_NODE_ATTACHED},
        {.node = 3, .parent = 1, .event = MSG_NODE_LOST},
        {.node = UINT32_MAX, .parent = UINT32_MAX, .event = MSG_NODE_LEFT},
    };
    in = (msg_t){.type = MSG_NODES, .u.nodes = {3, ev}};
    out = round_trip(&in);
    ok(out != NULL && out->u.nodes.n == 3
           && memcmp(out->u.nodes.events, ev, sizeof ev) == 0,
       "NODES keeps every event");
    msg_free(out);
    msg_node_event_entry_t hev[2] = {
        {.node = 5, .parent = 3, .event = MSG_NODE_ATTACHED,
         .worker_id = "h:12:34", .host = "h", .relay = "ipc:///tmp/r5"},
        {.node = 6, .parent = 3, .event = MSG_NODE_ATTACHED,
         .worker_id = "h:13:35"},
    };
    msg_t hin = {.type = MSG_NODES, .u.nodes = {2, hev}};
    out = round_trip(&hin);
    ok(out != NULL && out->u.nodes.n == 2
           && out->u.nodes.events[0].node == 5
           && strcmp(out->u.nodes.events[0].worker_id, "h:12:34") == 0
           && strcmp(out->u.nodes.events[0].host, "h") == 0
           && strcmp(out->u.nodes.events[0].relay, "ipc:///tmp/r5") == 0
           && strcmp(out->u.nodes.events[1].worker_id, "h:13:35") == 0
           && out->u.nodes.events[1].host == NULL
           && out->u.nodes.events[1].relay == NULL,
       "NODES keeps an attached node's worker id, host and relay");
    msg_free(out);
    ev[1].event = 0;
    util_buf_reset(&b);
    errno = 0;
    ok(msg_encode(&in, &b) < 0 && errno == EINVAL,
       "a node event outside 1..3 fails to encode with EINVAL");
    ev[1].event = 4;
    errno = 0;
    ok(msg_encode(&in, &b) < 0 && errno == EINVAL,
       "node event 4 fails to encode with EINVAL");
    util_buf_fini(&b);
}

static void test_steal_tasks(void)
{
    msg_t small[] = {
        {.type = MSG_STEAL, .u.steal = {UINT32_MAX}},
        {.type = MSG_RECALL, .u.recall = {1000}},
        {.type = MSG_DENY},
    };
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) {
        msg_t *out = round_trip(&small[i]);
        ok(out != NULL && out->type == small[i].type
               && memcmp(&out->u, &small[i].u, sizeof out->u.steal) == 0,
           "%s round-trips", msg_type_name(small[i].type));
        msg_free(out);
    }

    msg_task_ref_t refs[2] = {{5, 1, 1}, {UINT32_MAX, UINT64_MAX, 2}};
    msg_t in = {.type = MSG_RETURN, .u.tasks = {.done = true, .n = 2,
                                                .tasks = refs}};
    msg_t *out = round_trip(&in);
    ok(out != NULL && out->type == MSG_RETURN && out->u.tasks.done
           && out->u.tasks.n == 2 && out->u.tasks.node == 0
           && out->u.tasks.reason == NULL
           && ref_eq(&out->u.tasks.tasks[1], &refs[1]),
       "RETURN keeps done and its tasks; node and reason stay empty");
    msg_free(out);
    in.u.tasks = (msg_tasks_t){.done = false};
    out = round_trip(&in);
    ok(out != NULL && !out->u.tasks.done && out->u.tasks.n == 0
           && out->u.tasks.tasks == NULL,
       "an empty RETURN (nothing queued) round-trips");
    msg_free(out);

    /* Members a type does not carry are not sent, and decode as zero. */
    in = (msg_t){.type = MSG_REJECT,
                 .u.tasks = {.node = 9, .done = true,
                             .reason = "needs gpus=4", .n = 1,
                             .tasks = refs}};
    out = round_trip(&in);
    ok(out != NULL && out->type == MSG_REJECT
           && str_eq(out->u.tasks.reason, "needs gpus=4")
           && out->u.tasks.node == 0 && !out->u.tasks.done
           && out->u.tasks.n == 1 && ref_eq(&out->u.tasks.tasks[0], &refs[0]),
       "REJECT keeps its reason and tasks, and only those");
    msg_free(out);
    in.u.tasks.reason = NULL;
    util_buf_t b = UTIL_BUF_INIT;
    errno = 0;
    ok(msg_encode(&in, &b) < 0 && errno == EINVAL,
       "a REJECT without a reason fails to encode with EINVAL");
    util_buf_fini(&b);

    in = (msg_t){.type = MSG_ORPHAN,
                 .u.tasks = {.node = 42, .done = true, .reason = "x",
                             .n = 2, .tasks = refs}};
    out = round_trip(&in);
    ok(out != NULL && out->type == MSG_ORPHAN && out->u.tasks.node == 42
           && !out->u.tasks.done && out->u.tasks.reason == NULL
           && out->u.tasks.n == 2 && ref_eq(&out->u.tasks.tasks[1], &refs[1]),
       "ORPHAN keeps the lost relay and its tasks, and only those");
    msg_free(out);
}

static void test_bcast(void)
{
    static const char *cmd[] = {"sh", "-c", "pip install x", ""};
    msg_t in = {.type = MSG_BCAST,
                .u.bcast = {UINT64_MAX, 4, cmd, hashes[0], 30000, true}};
    msg_t *out = round_trip(&in);
    const msg_bcast_t *y = out ? &out->u.bcast : NULL;
    ok(y != NULL && out->type == MSG_BCAST && y->id == UINT64_MAX
           && y->nwords == 4 && strv_eq(4, cmd, y->words)
           && y->blob != NULL && memcmp(y->blob, hashes[0], MSG_HASH_LEN) == 0
           && y->timeout_ms == 30000 && y->want_output,
       "BCAST keeps id, words, blob, timeout and want_output");
    msg_free(out);
    in.u.bcast = (msg_bcast_t){.id = 1};
    out = round_trip(&in);
    ok(out != NULL && out->u.bcast.nwords == 0 && out->u.bcast.words == NULL
           && out->u.bcast.blob == NULL && !out->u.bcast.want_output,
       "an acknowledge-only BCAST without a blob round-trips");
    msg_free(out);

    in = (msg_t){.type = MSG_BROADCAST,
                 .u.broadcast = {77, 3, cmd, hashes[1], 1, false}};
    out = round_trip(&in);
    const msg_broadcast_t *z = out ? &out->u.broadcast : NULL;
    ok(z != NULL && out->type == MSG_BROADCAST && z->request == 77
           && z->nwords == 3 && strv_eq(3, cmd, z->words)
           && z->blob != NULL && memcmp(z->blob, hashes[1], MSG_HASH_LEN) == 0
           && z->timeout_ms == 1 && !z->want_output,
       "BROADCAST keeps request, words, blob, timeout and want_output");
    msg_free(out);
    in.u.broadcast = (msg_broadcast_t){.request = 2, .want_output = true};
    out = round_trip(&in);
    ok(out != NULL && out->u.broadcast.blob == NULL
           && out->u.broadcast.nwords == 0 && out->u.broadcast.want_output,
       "a BROADCAST without words or blob round-trips");
    msg_free(out);

    static const char tail[] = "ok\0done\n";
    msg_breply_entry_t ent[3] = {
        {1, 0, sizeof tail, tail},
        {UINT32_MAX, -1, 0, NULL},
        {3, INT32_MIN, 0, ""},
    };
    in = (msg_t){.type = MSG_BREPLY,
                 .u.breply = {UINT64_MAX, 10, 2, 1, 3, ent}};
    out = round_trip(&in);
    const msg_breply_t *r = out ? &out->u.breply : NULL;
    bool same = r != NULL && r->id == UINT64_MAX && r->ok == 10
                && r->failed == 2 && r->missing == 1 && r->n == 3;
    for (uint32_t i = 0; same && i < 3; i++)
        same = r->entries[i].node == ent[i].node
               && r->entries[i].exit_code == ent[i].exit_code
               && r->entries[i].out_len == ent[i].out_len
               && (ent[i].out == NULL) == (r->entries[i].out == NULL)
               && (ent[i].out_len == 0
                   || memcmp(r->entries[i].out, ent[i].out,
                             ent[i].out_len) == 0);
    ok(same, "BREPLY keeps its counts and entries, NUL bytes, NULL and "
       "empty outputs included");
    msg_free(out);
}

static void test_blobs(void)
{
    msg_t in = {.type = MSG_BLOB_GET,
                .u.blob_get = {hashes[0], UINT64_MAX, MSG_BLOB_CHUNK}};
    msg_t *out = round_trip(&in);
    ok(out != NULL && out->type == MSG_BLOB_GET
           && memcmp(out->u.blob_get.hash, hashes[0], MSG_HASH_LEN) == 0
           && out->u.blob_get.offset == UINT64_MAX
           && out->u.blob_get.len == MSG_BLOB_CHUNK,
       "BLOB_GET keeps hash, offset and a MSG_BLOB_CHUNK length");
    msg_free(out);
    util_buf_t b = UTIL_BUF_INIT;
    in.u.blob_get.len = 0;
    errno = 0;
    ok(msg_encode(&in, &b) < 0 && errno == EINVAL,
       "a BLOB_GET of 0 bytes fails to encode with EINVAL");
    in.u.blob_get.len = MSG_BLOB_CHUNK + 1;
    errno = 0;
    ok(msg_encode(&in, &b) < 0 && errno == EINVAL,
       "a BLOB_GET of MSG_BLOB_CHUNK + 1 bytes fails to encode with EINVAL");
    in.u.blob_get = (msg_blob_get_t){NULL, 0, 1};
    errno = 0;
    ok(msg_encode(&in, &b) < 0 && errno == EINVAL,
       "a BLOB_GET without a hash fails to encode with EINVAL");

    in = (msg_t){.type = MSG_BLOB_NONE, .u.blob_none = {hashes[2]}};
    out = round_trip(&in);
    ok(out != NULL && out->type == MSG_BLOB_NONE
           && memcmp(out->u.blob_none.hash, hashes[2], MSG_HASH_LEN) == 0,
       "BLOB_NONE keeps its hash");
    msg_free(out);

    uint8_t *chunk = malloc(MSG_BLOB_CHUNK + 1);
    for (uint32_t i = 0; i <= MSG_BLOB_CHUNK; i++)
        chunk[i] = (uint8_t)(i * 7);
    msg_type_t kinds[2] = {MSG_BLOB_DATA, MSG_BLOB_PUT};
    for (int k = 0; k < 2; k++) {
        in = (msg_t){.type = kinds[k]};
        in.u.blob_data = (msg_blob_data_t){
            .request = k == 1 ? 99 : 0, .hash = hashes[1],
            .offset = 5ull << 20, .total = (5ull << 20) + MSG_BLOB_CHUNK,
            .len = MSG_BLOB_CHUNK, .data = chunk,
        };
        out = round_trip(&in);
        const msg_blob_data_t *d = out ? &out->u.blob_data : NULL;
        ok(d != NULL && out->type == kinds[k]
               && d->request == in.u.blob_data.request
               && memcmp(d->hash, hashes[1], MSG_HASH_LEN) == 0
               && d->offset == in.u.blob_data.offset
               && d->total == in.u.blob_data.total
               && d->len == MSG_BLOB_CHUNK
               && memcmp(d->data, chunk, MSG_BLOB_CHUNK) == 0,
           "%s keeps %s hash, offset, total and a full chunk",
           msg_type_name(kinds[k]), k == 1 ? "request," : "");
        msg_free(out);

        /* The empty blob: one chunk of no bytes. */
        in.u.blob_data.offset = 0;
        in.u.blob_data.total = 0;
        in.u.blob_data.len = 0;
        in.u.blob_data.data = NULL;
        out = round_trip(&in);
        ok(out != NULL && out->u.blob_data.len == 0
               && out->u.blob_data.total == 0
               && out->u.blob_data.data != NULL,
           "%s of the empty blob round-trips (data empty, not NULL)",
           msg_type_name(kinds[k]));
        msg_free(out);

        in.u.blob_data.data = chunk;
        in.u.blob_data.len = MSG_BLOB_CHUNK + 1;
        in.u.blob_data.total = UINT64_MAX;
        util_buf_reset(&b);
        errno = 0;
        ok(msg_encode(&in, &b) < 0 && errno == EINVAL,
           "%s of MSG_BLOB_CHUNK + 1 bytes fails to encode with EINVAL",
           msg_type_name(kinds[k]));
        in.u.blob_data.len = 10;
        in.u.blob_data.offset = UINT64_MAX - 5;
        errno = 0;
        ok(msg_encode(&in, &b) < 0 && errno == EINVAL,
           "%s past its total (offset + len overflowing) fails with EINVAL",
           msg_type_name(kinds[k]));
    }
    free(chunk);
    util_buf_fini(&b);
}

int main(void)
{
    plan(NO_PLAN);
    fill_hashes();
    test_hello();
    test_job();
    test_assign_result();
    test_small();
    test_submit();
    test_redirect_summary_nodes();
    test_steal_tasks();
    test_bcast();
    test_blobs();
    return done_testing();
}
