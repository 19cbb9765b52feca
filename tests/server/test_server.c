/* SPDX-License-Identifier: MIT */
/* test_server.c - the server with fake workers and clients: submit, assign,
 * results, wait, duplicates, durable ACKs, cancel, queries, security. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"
#include "store/store.h"
#include "tap.h"
#include "util/util.h"

static const char *const ECHO_WORDS[] = {"echo", "{}"};

typedef struct want {
    fake_t *f;
    int type;
    int n;
} want_t;

static bool has_n(void *arg)
{
    want_t *w = arg;
    return f_count(w->f, w->type) >= w->n;
}

/* The fake worker has seen an ACK covering seq. */
typedef struct acked {
    fake_t *f;
    uint64_t seq;
} acked_t;

static bool has_acked(void *arg)
{
    acked_t *a = arg;
    return a->f->acked >= a->seq;
}

static bool wait_for(harness_t *h, fake_t *f, int type, int n)
{
    want_t w = {f, type, n};
    return h_run_until(h, has_n, &w, 5000);
}

/* The job's rows in state (all_rows: whatever their state). */
static int64_t count(const char *db, int64_t job, bool all,
                     banyan_task_state_t state)
{
    store_options_t o = {.readonly = true};
    store_t *st = store_open(db, &o, NULL);
    int64_t n = !st ? -1 : all ? store_tasks_count_all(st, job)
                               : store_tasks_count(st, job, state);
    store_close(st);
    return n;
}

static int64_t rows(const char *db, int64_t job, banyan_task_state_t state)
{
    return count(db, job, false, state);
}

static int64_t all_rows(const char *db, int64_t job)
{
    return count(db, job, true, BANYAN_TASK_QUEUED);
}

/* Take assignments until n are in hand. */
static int collect(harness_t *h, fake_t *w, msg_assign_entry_t *a, int n)
{
    int got = 0;
    int64_t end = util_mono_ms() + 5000;
    while (got < n && util_mono_ms() < end) {
        got += f_take_assigns(w, a + got, n - got);
        if (got < n)
            uv_run(&h->loop, UV_RUN_ONCE);
    }
    return got;
}

static json_t *answer_json(msg_t *m)
{
    if (!m || m->type != MSG_ANSWER)
        return NULL;
    return json_loads(m->u.answer.json, 0, NULL);
}

static void test_basic(void)
{
    harness_t h;
    h_init(&h, "basic");
    ok(h_server(&h, NULL) != NULL, "a server starts on an ipc endpoint");
    struct stat sb;
    ok(stat(h.db, &sb) == 0 && (sb.st_mode & 0777) == 0600,
       "the database file is created 0600");
    fake_t *c = h_fake(&h);
    fake_t *w = h_fake(&h);
    c_submit_array(c, 1, ECHO_WORDS, 2, 10, NULL, 1);
    msg_t *r = c_wait_reply(&h, c, 1, 5000);
    ok(r && r->type == MSG_SUBMITTED && r->u.submitted.ntasks == 10,
       "SUBMIT of a 10-task array is answered SUBMITTED with 10 tasks");
    uint32_t job = r ? r->u.submitted.job : 0;
    is_int(all_rows(h.db, job), 0, "no task rows before tasks end");
    /* A client that asks again (it gave up and asked anew) holds one
     * waiter: only its last request is answered. */
    c_wait(c, 3, job);
    c_wait(c, 4, job);
    c_wait(c, 2, job);

    f_hello(w, "w1", 4, 0, NULL, 0);
    ok(f_welcomed(&h, w), "a worker's HELLO is answered WELCOME");
    msg_assign_entry_t a[16];
    int n = collect(&h, w, a, 4);
    is_int(n, 4, "a 4-slot worker gets 4 tasks");
    ok(f_count(w, MSG_JOB) == 1, "the job's definition is sent once, "
       "before its first ASSIGN");
    msg_t *jm = f_last(w, MSG_JOB);
    ok(jm && jm->u.job.id == job && jm->u.job.array_count == 10
       && jm->u.job.nwords == 2, "MSG_JOB carries the job's template and "
       "array range");
    ok(c_reply(c, 2) == NULL, "WAIT is not answered while tasks remain");

    uint64_t done = 0;
    int64_t end = util_mono_ms() + 10000;
    int assigned = n;
    msg_task_ref_t seen[10];
    int nseen = 0;
    while (done < 10 && util_mono_ms() < end) {
        msg_task_ref_t t[16];
        for (int i = 0; i < n; i++) {
            t[i] = a[i].task;
            if (nseen < 10)
                seen[nseen++] = a[i].task;
        }
        if (n > 0)
            f_results(w, t, n, 0, 0, "hello\n");
        done += (uint64_t)n;
        n = 0;
        if (done < 10) {
            n = collect(&h, w, a, (int)(10 - done) < 4 ? (int)(10 - done)
                                                        : 4);
            assigned += n;
        }
    }
    is_int(assigned, 10, "all 10 tasks were assigned, none twice");
    bool distinct = true;
    for (int i = 0; i < nseen; i++)
        for (int k = i + 1; k < nseen; k++)
            distinct &= seen[i].index != seen[k].index;
    ok(distinct, "every task index was assigned once");
    r = c_wait_reply(&h, c, 2, 5000);
    ok(r && r->type == MSG_JOBSTATE && r->u.jobstate.ok == 10
       && strcmp(r->u.jobstate.state, "done") == 0,
       "WAIT is answered when the job ends: done, 10 ok");
    h_run_for(&h, 200);
    ok(c_reply(c, 3) == NULL && c_reply(c, 4) == NULL
           && f_count(c, MSG_JOBSTATE) == 1,
       "one waiter a connection: earlier WAITs of it are not answered");
    is_int(rows(h.db, job, BANYAN_TASK_OK), 10,
           "10 ok rows are in the database");

    /* Duplicates: the same results again change nothing. */
    server_stats_t st;
    server_get_stats(h.server, &st);
    uint64_t before = st.results;
    msg_task_ref_t t0 = seen[0];
    uint64_t seq = f_results(w, &t0, 1, 1, 0, NULL);
    /* Wait for the ACK of this batch itself: the ACK of the batch before
     * may still be on its way and is not the answer. */
    acked_t wa = {w, seq};
    h_run_until(&h, has_acked, &wa, 5000);
    server_get_stats(h.server, &st);
    ok(st.results == before && st.duplicates >= 1,
       "a result already recorded is ignored as a duplicate");
    ok(w->acked >= seq, "a duplicate batch is still ACKed");
    is_int(rows(h.db, job, BANYAN_TASK_OK), 10,
           "the duplicate did not change a row");

    /* Queries. */
    c_query(c, 3, "status", "{}");
    json_t *ans = answer_json(c_wait_reply(&h, c, 3, 3000));
    ok(ans && json_array_size(json_object_get(ans, "engines")) == 1
       && json_integer_value(json_object_get(json_object_get(ans, "server"),
                                             "engines")) == 1,
       "status lists the one engine");
    json_decref(ans);
    c_query(c, 4, "results", "{\"job\": 1, \"offset\": 0, \"limit\": 4}");
    char args[128];
    snprintf(args, sizeof(args), "{\"job\": %u, \"offset\": 0, \"limit\": 4}",
             job);
    c_query(c, 5, "results", args);
    ans = answer_json(c_wait_reply(&h, c, 5, 3000));
    json_t *tasks = json_object_get(ans, "tasks");
    ok(json_array_size(tasks) == 4
       && json_integer_value(json_object_get(ans, "next_offset")) == 4,
       "results pages by task number (4 tasks, next offset 4)");
    ok(tasks && strcmp(json_string_value(json_object_get(
                           json_array_get(tasks, 0), "stdout_tail")),
                       "hello\n") == 0,
       "a result's stdout tail is in the results");
    json_decref(ans);
    snprintf(args, sizeof(args), "{\"job\": %u, \"task\": 3}", job);
    c_query(c, 6, "log", args);
    ans = answer_json(c_wait_reply(&h, c, 6, 3000));
    ok(ans && strcmp(json_string_value(json_object_get(ans, "data")),
                     "hello\n") == 0
       && json_is_true(json_object_get(ans, "eof")),
       "log of one task returns what its worker sent");
    json_decref(ans);
    c_query(c, 7, "results", "{\"job\": 999}");
    r = c_wait_reply(&h, c, 7, 3000);
    ok(r && r->type == MSG_ERROR && r->u.error.code == ENOENT,
       "results of an unknown job is ENOENT");
    c_query(c, 8, "frobnicate", "{}");
    r = c_wait_reply(&h, c, 8, 3000);
    ok(r && r->type == MSG_ERROR && r->u.error.code == EINVAL,
       "an unknown query is EINVAL");
    h_fini(&h);
}

static void test_submit_errors_and_explain(void)
{
    harness_t h;
    h_init(&h, "explain");
    h_server(&h, NULL);
    fake_t *c = h_fake(&h);
    const char *const bad[] = {"echo", "{1"};
    c_submit_array(c, 1, bad, 2, 3, NULL, 1);
    msg_t *r = c_wait_reply(&h, c, 1, 3000);
    ok(r && r->type == MSG_ERROR && r->u.error.code == EINVAL,
       "a malformed template is refused with EINVAL");
    res_request_t big = {.slots = 1, .gpus_milli = 5000};
    c_submit_array(c, 3, ECHO_WORDS, 2, 5, &big, 1);
    r = c_wait_reply(&h, c, 3, 3000);
    uint32_t job = r && r->type == MSG_SUBMITTED ? r->u.submitted.job : 0;
    ok(job > 0, "a job no engine can fit yet is accepted");
    char args[64];
    snprintf(args, sizeof(args), "{\"job\": %u, \"task\": 2}", job);
    c_query(c, 4, "explain", args);
    json_t *ans = answer_json(c_wait_reply(&h, c, 4, 3000));
    const char *text = json_string_value(json_object_get(ans, "text"));
    ok(text && strstr(text, "no worker has joined"),
       "explain: pending, no worker has joined yet (%s)", text);
    json_decref(ans);

    fake_t *w = h_fake(&h);
    f_hello(w, "w-small", 2, 4, NULL, 0);
    f_welcomed(&h, w);
    h_run_for(&h, 50);
    c_query(c, 5, "explain", args);
    ans = answer_json(c_wait_reply(&h, c, 5, 3000));
    text = json_string_value(json_object_get(ans, "text"));
    ok(text && strstr(text, "never fit") && strstr(text, "gpus"),
       "explain: no worker can ever fit it, with the reason (%s)", text);
    json_decref(ans);
    ok(f_count(w, MSG_ASSIGN) == 0, "nothing is assigned that cannot fit");
    c_query(c, 6, "status", "{}");
    ans = answer_json(c_wait_reply(&h, c, 6, 3000));
    json_t *j0 = json_array_get(json_object_get(ans, "jobs"), 0);
    ok(j0 && strcmp(json_string_value(json_object_get(j0, "state")),
                    "queued") == 0
       && json_integer_value(json_object_get(j0, "pending")) == 5,
       "the job stays queued with 5 pending while workers may still join");
    json_decref(ans);

    fake_t *w2 = h_fake(&h);
    f_hello(w2, "w-big", 2, 8, NULL, 0);
    f_welcomed(&h, w2);
    msg_assign_entry_t a[4];
    ok(collect(&h, w2, a, 1) == 1 && __builtin_popcountll(a[0].gpu_mask) == 5,
       "a worker that fits joins: a task starts there with 5 GPUs");
    h_run_for(&h, 50);
    ok(f_take_assigns(w2, a + 1, 3) == 0,
       "a second 5-GPU task does not start on 8 GPUs");
    snprintf(args, sizeof(args), "{\"job\": %u, \"task\": %llu}", job,
             (unsigned long long)a[0].task.index + 1);
    c_query(c, 7, "explain", args);
    ans = answer_json(c_wait_reply(&h, c, 7, 3000));
    text = json_string_value(json_object_get(ans, "text"));
    ok(text && strstr(text, "running on worker w-big"),
       "explain: running on the worker (%s)", text);
    json_decref(ans);

    /* Cancel: the worker is told, interrupted results end the job. */
    c_wait(c, 8, job);
    c_cancel(c, 9, job);
    ok(wait_for(&h, w2, MSG_KILL, 1), "cancel sends KILL to the worker");
    msg_t *k = f_last(w2, MSG_KILL);
    ok(k && k->u.kill.job == job, "the KILL names the job");
    msg_task_ref_t t[1] = {a[0].task};
    f_results(w2, t, 1, -1, BANYAN_END_INTERRUPTED, NULL);
    r = c_wait_reply(&h, c, 8, 3000);
    ok(r && r->type == MSG_JOBSTATE
       && strcmp(r->u.jobstate.state, "cancelled") == 0,
       "the job ends cancelled once its running tasks are back");
    is_int(rows(h.db, job, BANYAN_TASK_INTERRUPTED), 1,
           "the interrupted task is recorded");
    is_int(all_rows(h.db, job), 1, "cancelled tasks that never ran "
           "have no rows");
    h_fini(&h);
}

static long rss_kb(void)
{
    char *text = NULL;
    size_t len;
    long kb = -1;
    if (util_read_file("/proc/self/status", &text, &len) == 0) {
        const char *p = strstr(text, "VmRSS:");
        if (p)
            kb = strtol(p + 6, NULL, 10);
    }
    free(text);
    return kb;
}

/* A job without inputs or an array is one task: its words, run once. */
static void test_no_inputs(void)
{
    harness_t h;
    h_init(&h, "noinputs");
    h_server(&h, NULL);
    fake_t *c = h_fake(&h);
    c_submit_array(c, 1, ECHO_WORDS, 2, 0, NULL, 1);
    msg_t *r = c_wait_reply(&h, c, 1, 3000);
    ok(r && r->type == MSG_SUBMITTED && r->u.submitted.ntasks == 1,
       "a job without inputs is one task");
    fake_t *w = h_fake(&h);
    f_hello(w, "w1", 2, 0, NULL, 0);
    f_welcomed(&h, w);
    msg_assign_entry_t a[2];
    ok(collect(&h, w, a, 1) == 1 && a[0].task.index == 0,
       "it starts once");
    h_run_for(&h, 50);
    ok(f_take_assigns(w, a + 1, 1) == 0, "and only once");
    h_fini(&h);
}

static void test_huge_array(void)
{
    harness_t h;
    h_init(&h, "huge");
    h_server(&h, NULL);
    fake_t *c = h_fake(&h);
    long before = rss_kb();
    c_submit_array(c, 1, ECHO_WORDS, 2, 10000000, NULL, 1);
    msg_t *r = c_wait_reply(&h, c, 1, 5000);
    ok(r && r->type == MSG_SUBMITTED && r->u.submitted.ntasks == 10000000,
       "a 10,000,000-task array is accepted");
    fake_t *w = h_fake(&h);
    f_hello(w, "w1", 2, 0, NULL, 0);
    f_welcomed(&h, w);
    msg_assign_entry_t a[2];
    ok(collect(&h, w, a, 2) == 2, "its first tasks start");
    long grew = rss_kb() - before;
    diag("RSS grew by %ld kB with 10,000,000 tasks queued", grew);
    ok(grew < 20 * 1024, "queued tasks cost no memory each (grew %ld kB)",
       grew);
    is_int(all_rows(h.db, r ? r->u.submitted.job : 0), 0,
           "and no rows in the database");
    h_fini(&h);
}

static void test_cli_refuses_open_listen(void)
{
    const char *bin = getenv("BANYAN_BIN");
    char cmd[4096];
    if (!bin || access(bin, X_OK) != 0) {
        ok(1, "# SKIP no banyan binary");
        return;
    }
    snprintf(cmd, sizeof(cmd), "cd '%s' && '%s' server --help >/dev/null "
             "2>&1", tap_tmpdir(), bin);
    if (system(cmd) != 0) {
        ok(1, "# SKIP the banyan binary has no server command yet");
        return;
    }
    snprintf(cmd, sizeof(cmd), "cd '%s' && '%s' server --listen "
             "tcp://0.0.0.0:0 --db x.db >out 2>err", tap_tmpdir(), bin);
    int rc = system(cmd);
    ok(WIFEXITED(rc) && WEXITSTATUS(rc) == 2,
       "banyan server refuses a non-loopback --listen without keys "
       "(exit 2)");
}

int main(void)
{
    plan(NO_PLAN);
    test_basic();
    test_submit_errors_and_explain();
    test_no_inputs();
    test_huge_array();
    test_cli_refuses_open_listen();
    return done_testing();
}
