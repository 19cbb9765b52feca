/* SPDX-License-Identifier: MIT */
/* test_faults.c - the server when things go wrong: a lost worker, the crash
 * limit, ACKs only after the commit, and a restart on the same database
 * with workers that kept running (no task lost, none run twice). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "store/store.h"
#include "tap.h"
#include "util/util.h"

static const char *const ECHO_WORDS[] = {"echo", "{}"};

/* The job's rows in state. */
static int64_t rows(const char *db, int64_t job, banyan_task_state_t state)
{
    store_options_t o = {.readonly = true};
    store_t *st = store_open(db, &o, NULL);
    int64_t n = st ? store_tasks_count(st, job, state) : -1;
    store_close(st);
    return n;
}

static int collect(harness_t *h, fake_t *w, msg_assign_entry_t *a, int n,
                   int ms)
{
    int got = 0;
    int64_t end = util_mono_ms() + ms;
    while (got < n && util_mono_ms() < end) {
        got += f_take_assigns(w, a + got, n - got);
        if (got < n)
            uv_run(&h->loop, UV_RUN_ONCE);
    }
    return got;
}

static uint32_t submit(harness_t *h, fake_t *c, uint64_t req, uint64_t n,
                       uint32_t attempts)
{
    c_submit_array(c, req, ECHO_WORDS, 2, n, NULL, attempts);
    msg_t *r = c_wait_reply(h, c, req, 5000);
    return r && r->type == MSG_SUBMITTED ? r->u.submitted.job : 0;
}

/* Count per index how often each result was recorded (from the rows). */
typedef struct tally {
    int n[64];
    int extra;
} tally_t;

static int tally_row(const store_task_t *t, void *arg)
{
    tally_t *ta = arg;
    if (t->seq >= 1 && t->seq <= 64)
        ta->n[t->seq - 1]++;
    else
        ta->extra++;
    return 0;
}

static void tally(const char *db, int64_t job, tally_t *ta)
{
    memset(ta, 0, sizeof(*ta));
    store_options_t o = {.readonly = true};
    store_t *st = store_open(db, &o, NULL);
    if (st)
        store_tasks_foreach(st, job, tally_row, ta);
    store_close(st);
}

static void test_ack_after_commit(void)
{
    harness_t h;
    h_init(&h, "ack");
    h_server(&h, NULL);
    fake_t *c = h_fake(&h), *w = h_fake(&h);
    uint32_t job = submit(&h, c, 1, 6, 1);
    f_hello(w, "w1", 6, 0, NULL, 0);
    f_welcomed(&h, w);
    msg_assign_entry_t a[6];
    is_int(collect(&h, w, a, 6, 5000), 6, "6 tasks assigned");
    msg_task_ref_t t[3] = {a[0].task, a[1].task, a[2].task};
    uint64_t seq = f_results(w, t, 3, 0, 0, NULL);
    int64_t end = util_mono_ms() + 5000;
    while (w->acked < seq && util_mono_ms() < end)
        uv_run(&h.loop, UV_RUN_ONCE);
    ok(w->acked == seq, "a RESULT batch is ACKed");
    /* Another connection sees what was ACKed: it is committed. */
    is_int(rows(h.db, job, BANYAN_TASK_OK), 3,
           "every ACKed result is committed");
    h_fini(&h);
}

static void test_lost_worker(void)
{
    harness_t h;
    h_init(&h, "lost");
    server_options_t o = {.heartbeat_ms = 40};
    h_server(&h, &o);
    fake_t *c = h_fake(&h), *w1 = h_fake(&h);
    uint32_t job = submit(&h, c, 1, 8, 1);
    f_hello(w1, "w1", 4, 0, NULL, 0);
    f_welcomed(&h, w1);
    msg_assign_entry_t a[8];
    is_int(collect(&h, w1, a, 4, 5000), 4, "worker 1 gets 4 tasks");
    w1->alive = false; /* stops answering: lost after 5 periods */
    fake_t *w2 = h_fake(&h);
    f_hello(w2, "w2", 8, 0, NULL, 0);
    f_welcomed(&h, w2);
    msg_assign_entry_t b[8];
    int nb = collect(&h, w2, b, 4, 5000);
    is_int(nb, 4, "worker 2 gets the other 4 tasks");
    int more = collect(&h, w2, b + nb, 4, 3000);
    is_int(more, 4, "worker 1 is lost: its 4 tasks are requeued on "
           "worker 2");
    server_stats_t st;
    server_get_stats(h.server, &st);
    is_int(st.engines_lost, 1, "the silent worker was counted lost");
    /* The lost worker reports late: ignored. */
    msg_task_ref_t late[4];
    for (int i = 0; i < 4; i++)
        late[i] = a[i].task;
    f_results(w1, late, 4, 0, 0, NULL);
    h_run_for(&h, 60);
    msg_task_ref_t t[8];
    for (int i = 0; i < 8; i++)
        t[i] = b[i].task;
    f_results(w2, t, 8, 0, 0, NULL);
    c_wait(c, 2, job);
    msg_t *r = c_wait_reply(&h, c, 2, 5000);
    ok(r && r->type == MSG_JOBSTATE && r->u.jobstate.ok == 8,
       "the job ends with 8 ok");
    tally_t ta;
    tally(h.db, job, &ta);
    bool once = ta.extra == 0;
    for (int i = 0; i < 8; i++)
        once &= ta.n[i] == 1;
    ok(once, "every task was recorded exactly once");
    h_fini(&h);
}

static void test_crash_limit(void)
{
    harness_t h;
    h_init(&h, "crash");
    server_options_t o = {.heartbeat_ms = 30, .crash_limit = 2};
    h_server(&h, &o);
    fake_t *c = h_fake(&h);
    uint32_t job = submit(&h, c, 1, 1, 3);
    c_wait(c, 2, job);
    for (int round = 0; round < 2; round++) {
        fake_t *w = h_fake(&h);
        char id[16];
        snprintf(id, sizeof(id), "crashy%d", round);
        f_hello(w, id, 1, 0, NULL, 0);
        f_welcomed(&h, w);
        msg_assign_entry_t a[1];
        is_int(collect(&h, w, a, 1, 5000), 1, "round %d: the task is "
               "assigned", round + 1);
        w->alive = false;
        h_run_for(&h, 300); /* lost */
        h_fake_close(&h, w);
    }
    fake_t *w = h_fake(&h);
    f_hello(w, "last", 1, 0, NULL, 0);
    f_welcomed(&h, w);
    msg_t *r = c_wait_reply(&h, c, 2, 5000);
    ok(r && r->type == MSG_JOBSTATE
       && strcmp(r->u.jobstate.state, "failed") == 0,
       "after --crash-limit losses the task fails and the job with it");
    msg_assign_entry_t a[1];
    is_int(f_take_assigns(w, a, 1), 0, "the task is not started again");
    store_options_t ro = {.readonly = true};
    store_t *st = store_open(h.db, &ro, NULL);
    tally_t ta;
    memset(&ta, 0, sizeof(ta));
    is_int(store_tasks_count(st, job, BANYAN_TASK_FAILED), 1, "a failed row");
    store_close(st);
    h_fini(&h);
}

static void test_restart(void)
{
    harness_t h;
    h_init(&h, "restart");
    server_options_t o = {.heartbeat_ms = 40, .grace_ms = 400};
    h_server(&h, &o);
    fake_t *c = h_fake(&h), *w = h_fake(&h);
    uint32_t job = submit(&h, c, 1, 20, 1);
    f_hello(w, "w-keeps", 5, 0, NULL, 0);
    f_welcomed(&h, w);
    msg_assign_entry_t a[20];
    is_int(collect(&h, w, a, 5, 5000), 5, "5 tasks run before the restart");
    int assigned[20] = {0};
    for (int i = 0; i < 5; i++)
        assigned[a[i].task.index]++;
    /* Two end and are ACKed; one ends but its result is not sent yet. */
    msg_task_ref_t t2[2] = {a[0].task, a[1].task};
    uint64_t seq = f_results(w, t2, 2, 0, 0, NULL);
    int64_t end = util_mono_ms() + 5000;
    while (w->acked < seq && util_mono_ms() < end)
        uv_run(&h.loop, UV_RUN_ONCE);
    ok(w->acked == seq, "two results ACKed before the restart");
    /* The two freed slots are filled again before the restart. */
    int extra = collect(&h, w, a + 5, 2, 3000);
    is_int(extra, 2, "two more tasks start in the freed slots");
    for (int i = 5; i < 5 + extra; i++)
        assigned[a[i].task.index]++;

    h_server_stop(&h);
    ok(h_server(&h, &o) != NULL, "a new server starts on the same database");
    server_stats_t st;
    server_get_stats(h.server, &st);
    ok(st.in_grace, "it waits for workers (grace period)");
    /* The worker's link was reconnected underneath: its PING gets BYE
     * (go back to HELLO), not a PONG that would hide the restart. */
    msg_t ping = {.type = MSG_PING};
    msg_sock_send(w->sock, NULL, &ping);
    int byes = f_count(w, MSG_BYE);
    end = util_mono_ms() + 3000;
    while (f_count(w, MSG_BYE) == byes && util_mono_ms() < end)
        uv_run(&h.loop, UV_RUN_ONCE);
    ok(f_count(w, MSG_BYE) == byes + 1 && f_count(w, MSG_PONG) == 0,
       "a PING from a worker that has not said HELLO is answered BYE");
    /* The worker comes back: 4 still running, a[2] ended. */
    msg_task_ref_t running[4] = {a[3].task, a[4].task, a[5].task,
                                 a[6].task};
    f_hello(w, "w-keeps", 5, 0, running, 4);
    int welcomes = f_count(w, MSG_WELCOME);
    f_welcomed(&h, w);
    end = util_mono_ms() + 5000;
    while (f_count(w, MSG_WELCOME) < welcomes + 1 && util_mono_ms() < end)
        uv_run(&h.loop, UV_RUN_ONCE);
    msg_task_ref_t t1[1] = {a[2].task};
    f_results(w, t1, 1, 0, 0, NULL);
    f_results(w, t2, 2, 0, 0, NULL); /* an old batch again */
    h_run_for(&h, 100);
    msg_assign_entry_t b[20];
    is_int(f_take_assigns(w, b, 20), 0, "no task of the reloaded job is "
           "assigned during the grace period");
    server_get_stats(h.server, &st);
    is_int(st.adopted, 4, "the four running tasks are adopted");
    /* After the grace period the other 13 are assigned in 1 free slot. */
    int got = 0;
    end = util_mono_ms() + 8000;
    while (got < 13 && util_mono_ms() < end) {
        int n = collect(&h, w, b, 1, 2000);
        msg_task_ref_t t[3];
        for (int i = 0; i < n; i++) {
            assigned[b[i].task.index]++;
            t[i] = b[i].task;
        }
        if (n > 0)
            f_results(w, t, n, 0, 0, NULL);
        got += n;
    }
    is_int(got, 13, "the 13 tasks nobody had are assigned after the grace");
    f_results(w, running, 4, 0, 0, NULL);
    c_wait(c, 2, job);
    msg_t *r = c_wait_reply(&h, c, 2, 5000);
    ok(r && r->type == MSG_JOBSTATE && r->u.jobstate.ok == 20
       && strcmp(r->u.jobstate.state, "done") == 0,
       "the job ends done with 20 ok across the restart");
    bool once = true;
    for (int i = 0; i < 20; i++)
        once &= assigned[i] == 1;
    ok(once, "no task was assigned twice across the restart");
    tally_t ta;
    tally(h.db, job, &ta);
    once = ta.extra == 0;
    for (int i = 0; i < 20; i++)
        once &= ta.n[i] == 1;
    ok(once, "every task has exactly one row");

    /* A third server knows the ended job from the store only. */
    h_server_stop(&h);
    h_server(&h, &o);
    server_get_stats(h.server, &st);
    ok(!st.in_grace, "no grace period when no job was left unfinished");
    c_wait(c, 3, job);
    r = c_wait_reply(&h, c, 3, 5000);
    ok(r && r->type == MSG_JOBSTATE && r->u.jobstate.ok == 20
       && strcmp(r->u.jobstate.state, "done") == 0,
       "WAIT for a job that ended before the restart answers from the "
       "store");
    h_fini(&h);
}

int main(void)
{
    plan(NO_PLAN);
    test_ack_after_commit();
    test_lost_worker();
    test_crash_limit();
    test_restart();
    return done_testing();
}
