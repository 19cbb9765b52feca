/* SPDX-License-Identifier: MIT */
/* worker_bcast.c - a worker's part in broadcasts, and the life cycle of the
 * broadcast-and-blob unit (worker_bb.h).
 *
 * tree_bcast keeps the tally (who was waited for, who answered, the
 * deadline); this file adds what a real node needs around it: forwarding
 * the BCAST, running it on the own engine, the output entries, and ONE
 * BREPLY up when tree_bcast_poll says the broadcast is done.
 *
 * The own command is stopped a little before the node's deadline (at the
 * children's timeout, SIGKILL at most half the remaining margin later) so
 * that its result usually makes it into the reply.  A run that ends after
 * the reply went up is reaped and forgotten.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "util/util.h"
#include "worker/worker_bb_private.h"

enum {
    BB_DEFAULT_GRACE_MS = 500,
    BB_ENTRY_OUT_MAX = WORKER_BB_TAIL_BYTES,  /* per entry kept from below */
    BB_REPLY_OUT_MAX = 32 << 20,  /* output bytes in one BREPLY: the frame
                                     limit is 64 MiB; entries past it keep
                                     their exit code only */
    BB_POLL_BATCH = 16,
};

/* ----------------------------------------------------------- records */

static bb_bcast_t *bc_find(worker_bb_t *b, uint64_t id)
{
    for (bb_bcast_t *r = b->bcasts; r; r = r->next)
        if (r->id == id)
            return r;
    return NULL;
}

static void bc_free(bb_bcast_t *r)
{
    for (uint32_t i = 0; i < r->nwords; i++)
        free(r->words[i]);
    free(r->words);
    free(r->out);
    free(r->children);
    free(r->replied);
    for (size_t i = 0; i < r->nentries; i++)
        free((void *)r->entries[i].out);
    free(r->entries);
    free(r);
}

static void bc_unlink(worker_bb_t *b, bb_bcast_t *r)
{
    for (bb_bcast_t **p = &b->bcasts; *p; p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            return;
        }
}

/* A record for m, with a copy of its command; NULL with ENOMEM. */
static bb_bcast_t *bc_create(const msg_bcast_t *m, size_t nchildren)
{
    bb_bcast_t *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->id = m->id;
    r->want_output = m->want_output;
    if (m->blob) {
        r->has_blob = true;
        memcpy(r->blob.bytes, m->blob, sizeof(r->blob.bytes));
    }
    if (m->nwords > 0) {
        r->words = calloc(m->nwords + 1, sizeof(*r->words));
        if (!r->words)
            goto fail;
        for (uint32_t i = 0; i < m->nwords; i++) {
            r->words[i] = strdup(m->words[i] ? m->words[i] : "");
            if (!r->words[i])
                goto fail;
            r->nwords = i + 1;
        }
    }
    if (nchildren > 0) {
        r->children = calloc(nchildren, sizeof(*r->children));
        r->replied = calloc(nchildren, sizeof(*r->replied));
        if (!r->children || !r->replied)
            goto fail;
    }
    return r;
fail:
    bc_free(r);
    return NULL;
}

/* Keep one entry from a child's reply (want_output), its output capped to
 * the last BB_ENTRY_OUT_MAX bytes and the reply's total to
 * BB_REPLY_OUT_MAX. */
static void bc_keep_entry(bb_bcast_t *r, const msg_breply_entry_t *e)
{
    if (r->nentries + 1 >= MSG_MAX_BATCH)
        return; /* the own entry needs room too */
    if (util_grow((void **)&r->entries, &r->entries_cap, r->nentries + 1,
                  sizeof(*r->entries)) < 0)
        return;
    msg_breply_entry_t *k = &r->entries[r->nentries];
    k->node = e->node;
    k->exit_code = e->exit_code;
    k->out = NULL;
    k->out_len = 0;
    uint32_t len = e->out ? e->out_len : 0;
    const uint8_t *src = e->out;
    if (len > BB_ENTRY_OUT_MAX) {
        src += len - BB_ENTRY_OUT_MAX;
        len = BB_ENTRY_OUT_MAX;
    }
    if (len > 0 && r->entries_bytes + len <= BB_REPLY_OUT_MAX) {
        void *copy = malloc(len);
        if (copy) {
            memcpy(copy, src, len);
            k->out = copy;
            k->out_len = len;
            r->entries_bytes += len;
        }
    }
    r->nentries++;
}

/* ----------------------------------------------------------- replies */

static void bc_send_reply(worker_bb_t *b, bb_bcast_t *r,
                          const tree_tally_t *t)
{
    msg_t m = {.type = MSG_BREPLY};
    msg_breply_t *br = &m.u.breply;
    br->id = r->id;
    br->ok = t->ok;
    br->failed = t->failed;
    br->missing = t->missing;
    msg_breply_entry_t *all = NULL;
    if (r->want_output) {
        all = malloc((r->nentries + 1) * sizeof(*all));
        if (all) {
            /* The own engine first; one that did not end in time says -1
             * with no output. */
            all[0].node = b->ops.self_node(b->arg);
            all[0].exit_code = r->local_done ? r->exit_code : -1;
            all[0].out = r->local_done ? r->out : NULL;
            all[0].out_len = r->local_done ? r->out_len : 0;
            if (r->nentries > 0)
                memcpy(all + 1, r->entries, r->nentries * sizeof(*all));
            br->n = (uint32_t)(r->nentries + 1);
            br->entries = all;
        }
    }
    (void)b->ops.send_up(b->arg, &m);
    free(all);
}

/* Send the replies of every broadcast that is done (all answered, or the
 * deadline passed). */
static void bc_poll(worker_bb_t *b, int64_t now_ms)
{
    tree_bcast_done_t done[BB_POLL_BATCH];
    int n;
    do {
        n = tree_bcast_poll(b->tb, now_ms, done, BB_POLL_BATCH);
        for (int i = 0; i < n; i++) {
            bb_bcast_t *r = bc_find(b, done[i].bcast_id);
            if (!r)
                continue;
            bc_send_reply(b, r, &done[i].tally);
            bc_unlink(b, r);
            bc_free(r);
        }
    } while (n == BB_POLL_BATCH);
}

/* The own engine's part ended. */
static void bc_local_finish(worker_bb_t *b, bb_bcast_t *r, bool ok,
                            int32_t exit_code, const void *out,
                            size_t out_len)
{
    r->local_done = true;
    r->exit_code = exit_code;
    if (out_len > 0) {
        r->out = malloc(out_len);
        if (r->out) {
            memcpy(r->out, out, out_len);
            r->out_len = (uint32_t)out_len;
        }
    }
    (void)tree_bcast_local_done(b->tb, r->id, ok);
    bc_poll(b, util_mono_ms());
}

/* Finish with a failure described by a sentence (exit code -1). */
static void bc_local_fail(worker_bb_t *b, bb_bcast_t *r, const char *why)
{
    bc_local_finish(b, r, false, -1, why, strlen(why));
}

/* ------------------------------------------------------------- runs */

static bb_run_t *run_create(worker_bb_t *b, const bb_bcast_t *r)
{
    bb_run_t *run = calloc(1, sizeof(*run));
    if (!run)
        return NULL;
    run->bb = b;
    run->id = r->id;
    run->blob = r->blob;
    run->next = b->runs;
    b->runs = run;
    return run;
}

/* Unpin its blob, unlink it (the runs are few: one per broadcast under
 * way) and free it. */
static void run_free(worker_bb_t *b, bb_run_t *run)
{
    if (run->pinned && b->cache)
        (void)blob_unpin(b->cache, &run->blob);
    bb_run_t **p = &b->runs;
    while (*p != run)
        p = &(*p)->next;
    *p = run->next;
    free(run);
}

/* The command's end: exit code, and the last WORKER_BB_TAIL_BYTES of its
 * stdout followed by its stderr. */
static void on_exec_done(exec_t *ex, void *task_arg, const exec_result_t *res,
                         void *cb_arg)
{
    worker_bb_t *b = cb_arg;
    bb_run_t *run = task_arg;
    (void)ex;
    bb_bcast_t *r = bc_find(b, run->id);
    if (r && !r->local_done) {
        uint8_t buf[2 * WORKER_BB_TAIL_BYTES];
        size_t n = 0;
        if (res->out)
            n += exec_stream_tail(res->out, buf, WORKER_BB_TAIL_BYTES);
        if (res->err)
            n += exec_stream_tail(res->err, buf + n, WORKER_BB_TAIL_BYTES);
        size_t skip = n > WORKER_BB_TAIL_BYTES ? n - WORKER_BB_TAIL_BYTES : 0;
        bool ok = res->exit_code == 0 && res->term_signal == 0
                  && !res->timed_out && !res->spawn_failed;
        int32_t code = res->spawn_failed ? -1 : res->exit_code;
        bc_local_finish(b, r, ok, code, buf + skip, n - skip);
    }
    run_free(b, run);
}

/* Spawn the broadcast's command (blob_path: BANYAN_BLOB_0, or NULL).  The
 * run is consumed. */
static void bc_spawn(worker_bb_t *b, bb_bcast_t *r, bb_run_t *run,
                     const char *blob_path)
{
    int64_t now = util_mono_ms();
    int64_t left = r->cmd_deadline_ms - now;
    if (left <= 0) {
        run_free(b, run);
        bc_local_fail(b, r, "broadcast: no time left to run the command");
        return;
    }
    int64_t grace = b->kill_grace_ms;
    int64_t margin = (r->deadline_ms - r->cmd_deadline_ms) / 2;
    if (grace > margin)
        grace = margin;
    if (grace < 1)
        grace = 1;
    char envbuf[PATH_MAX + 32];
    const char *env[2] = {NULL, NULL};
    if (blob_path) {
        snprintf(envbuf, sizeof(envbuf), "BANYAN_BLOB_0=%s", blob_path);
        env[0] = envbuf;
        if (blob_pin(b->cache, &run->blob) == 0)
            run->pinned = true;
    }
    exec_spec_t spec = {
        .argv = (const char *const *)r->words,
        .env = env,
        .timeout_ms = left,
        .kill_grace_ms = grace,
        .capture = true,
    };
    banyan_error_t err = {{0}};
    if (exec_start(b->ex, &spec, run, &err) < 0) {
        run_free(b, run);
        bc_local_fail(b, r, err.text[0] ? err.text : "broadcast: spawn failed");
        return;
    }
    b->st.bcast_runs++;
}

/* The broadcast's blob is here (or cannot be had). */
static void on_blob_ready(void *arg, int errnum, const char *path)
{
    bb_run_t *run = arg;
    worker_bb_t *b = run->bb;
    bb_bcast_t *r = b->destroying ? NULL : bc_find(b, run->id);
    if (!r || r->local_done) { /* destroyed, or the deadline passed */
        run_free(b, run);
        return;
    }
    if (errnum != 0) {
        char hex[BLOB_HEX_LEN + 1];
        char why[160];
        snprintf(why, sizeof(why), "broadcast: blob %s: %s",
                 blob_id_format(&r->blob, hex), strerror(errnum));
        run_free(b, run);
        bc_local_fail(b, r, why);
        return;
    }
    if (r->nwords == 0 || b->noop) {
        run_free(b, run);
        bc_local_finish(b, r, true, 0, NULL, 0);
        return;
    }
    bc_spawn(b, r, run, path);
}

/* Run the broadcast on the own engine: fetch its blob first if it names
 * one, then spawn its command (unless there is none, or the worker is a
 * noop one). */
static void bc_run_local(worker_bb_t *b, bb_bcast_t *r)
{
    bool spawn = r->nwords > 0 && !b->noop;
    if (!r->has_blob && !spawn) {
        bc_local_finish(b, r, true, 0, NULL, 0);
        return;
    }
    bb_run_t *run = run_create(b, r);
    if (!run) {
        bc_local_fail(b, r, "broadcast: out of memory");
        return;
    }
    if (r->has_blob) {
        if (worker_bb_need_blob(b, r->blob.bytes, on_blob_ready, run) < 0) {
            run_free(b, run);
            bc_local_fail(b, r, "broadcast: out of memory");
        }
        return;
    }
    bc_spawn(b, r, run, NULL);
}

/* ------------------------------------------------------------ messages */

/* The children's timeout: a little shorter than ours, so that their replies
 * reach us before our own deadline. */
static int64_t child_timeout(int64_t t)
{
    int64_t c = t * 9 / 10 - 20;
    return c < WORKER_BB_MIN_TIMEOUT_MS ? WORKER_BB_MIN_TIMEOUT_MS : c;
}

/* The current direct children into b->kids; how many, or -1 ENOMEM. */
static ssize_t bc_children(worker_bb_t *b)
{
    for (;;) {
        size_t n = b->ops.children(b->arg, b->kids, b->kids_cap);
        if (n <= b->kids_cap)
            return (ssize_t)n;
        uint32_t *k = realloc(b->kids, n * sizeof(*k));
        if (k)
            b->kids = k;
        uint32_t *f = realloc(b->fwd, n * sizeof(*f));
        if (f)
            b->fwd = f;
        if (!k || !f)
            return -1;
        b->kids_cap = n;
    }
}

/* A child that cannot be reached or is gone counts missing now. */
static void bc_child_missing(worker_bb_t *b, bb_bcast_t *r, size_t i)
{
    if (r->replied[i])
        return;
    r->replied[i] = true;
    tree_tally_t t = {.missing = 1};
    (void)tree_bcast_child_reply(b->tb, r->id, r->children[i], &t);
}

void worker_bb_on_bcast(worker_bb_t *b, const msg_bcast_t *m)
{
    if (bc_find(b, m->id))
        return; /* a duplicate of an active one: cheap check first */
    ssize_t nk = bc_children(b);
    if (nk < 0)
        return; /* no memory: the parent counts this node missing */
    bb_bcast_t *r = bc_create(m, (size_t)nk);
    if (!r)
        return;
    int64_t now = util_mono_ms();
    if (tree_bcast_begin(b->tb, m->id, b->kids, (size_t)nk, now,
                         m->timeout_ms, b->fwd) < 0) {
        bc_free(r); /* EEXIST: a duplicate is neither forwarded nor run */
        return;
    }
    b->st.bcasts++;
    r->deadline_ms = now + m->timeout_ms;
    r->cmd_deadline_ms = now + child_timeout(m->timeout_ms);
    if (r->cmd_deadline_ms > r->deadline_ms)
        r->cmd_deadline_ms = r->deadline_ms;
    r->nchildren = (size_t)nk;
    if (nk > 0)
        memcpy(r->children, b->fwd, (size_t)nk * sizeof(*r->children));
    r->next = b->bcasts;
    b->bcasts = r;

    msg_t fm = {.type = MSG_BCAST};
    fm.u.bcast = *m;
    fm.u.bcast.timeout_ms = (uint32_t)child_timeout(m->timeout_ms);
    for (size_t i = 0; i < r->nchildren; i++)
        if (b->ops.send_child(b->arg, r->children[i], &fm) < 0)
            bc_child_missing(b, r, i);
    bc_run_local(b, r); /* may finish and reply: r is not used after */
    bc_poll(b, util_mono_ms());
}

void worker_bb_on_breply(worker_bb_t *b, uint32_t child,
                         const msg_breply_t *m)
{
    bb_bcast_t *r = bc_find(b, m->id);
    if (!r)
        return; /* late (the reply went up) or unknown */
    size_t i = 0;
    while (i < r->nchildren && r->children[i] != child)
        i++;
    if (i == r->nchildren || r->replied[i])
        return; /* not waited for, or a second reply */
    r->replied[i] = true;
    tree_tally_t t = {.ok = m->ok, .failed = m->failed,
                      .missing = m->missing};
    (void)tree_bcast_child_reply(b->tb, r->id, child, &t);
    if (r->want_output)
        for (uint32_t k = 0; k < m->n && m->entries; k++)
            bc_keep_entry(r, &m->entries[k]);
    bc_poll(b, util_mono_ms());
}

void worker_bb_child_lost(worker_bb_t *b, uint32_t child)
{
    for (bb_bcast_t *r = b->bcasts; r; r = r->next)
        for (size_t i = 0; i < r->nchildren; i++)
            if (r->children[i] == child)
                bc_child_missing(b, r, i);
    worker_bb__blob_child_lost(b, child);
    bc_poll(b, util_mono_ms());
}

void worker_bb_tick(worker_bb_t *b, int64_t now_ms)
{
    bc_poll(b, now_ms);
}

void worker_bb_stats(const worker_bb_t *b, worker_bb_stats_t *st)
{
    *st = b->st;
}

/* -------------------------------------------------------- life cycle */

worker_bb_t *worker_bb_create(uv_loop_t *loop, const worker_bb_config_t *cfg,
                              const worker_bb_ops_t *ops, void *arg,
                              banyan_error_t *err)
{
    if (!loop || !cfg || !cfg->cache_dir || !ops || !ops->send_up
        || !ops->send_child || !ops->children || !ops->self_node) {
        errno = EINVAL;
        errprintf(err, "worker: broadcast and blob unit: %s",
                  cfg && !cfg->cache_dir ? "no cache directory given"
                                         : "a missing argument");
        return NULL;
    }
    worker_bb_t *b = calloc(1, sizeof(*b));
    if (!b) {
        errno = ENOMEM;
        errprintf(err, "worker: out of memory");
        return NULL;
    }
    b->loop = loop;
    b->ops = *ops;
    b->arg = arg;
    b->noop = cfg->noop;
    b->kill_grace_ms =
        cfg->kill_grace_ms > 0 ? cfg->kill_grace_ms : BB_DEFAULT_GRACE_MS;
    b->tb = tree_bcast_create(true, true);
    b->ex = b->tb ? exec_create(loop, on_exec_done, b) : NULL;
    if (b->ex) /* a broadcast's command is not accounted: no /proc scans */
        exec_set_sampling(b->ex, false);
    if (!b->ex) {
        errno = ENOMEM;
        errprintf(err, "worker: out of memory for broadcasts");
        goto fail;
    }
    if (worker_bb__blob_open(b, cfg->cache_dir, cfg->cache_max_bytes, err) < 0)
        goto fail;
    return b;
fail:
    /* The defer timer is made last, so b is freed at once; the executor's
     * handles close on the caller's next loop run. */
    worker_bb_destroy(b);
    return NULL;
}

static void on_defer_closed(uv_handle_t *h)
{
    free(h->data);
}

void worker_bb_destroy(worker_bb_t *b)
{
    if (!b)
        return;
    int saved = errno;
    b->destroying = true;
    /* Running commands are killed and reaped without callbacks; their
     * runs are freed below. */
    exec_destroy(b->ex);
    b->ex = NULL;
    /* Blob waiters complete (ECANCELED); the broadcasts' own waits free
     * their runs there. */
    worker_bb__blob_close(b);
    while (b->runs)
        run_free(b, b->runs);
    while (b->bcasts) {
        bb_bcast_t *r = b->bcasts;
        b->bcasts = r->next;
        bc_free(r);
    }
    tree_bcast_destroy(b->tb);
    free(b->kids);
    free(b->fwd);
    if (b->defer_init)
        uv_close((uv_handle_t *)&b->defer, on_defer_closed);
    else
        free(b);
    errno = saved;
}
