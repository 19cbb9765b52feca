/* SPDX-License-Identifier: MIT */
/* simulate.c - the tree of schedulers at scale, in virtual time.
 *
 * A discrete-event simulation of 10,000 virtual engines (500 hosts x 20 by
 * default) in a tree built by tree_topo (fanout from the cost model, or
 * --fanout), scheduling 1,000,000 tasks of exponential duration (mean 1 s of
 * virtual time, seeded) through the real relay code (src/tree, on top of
 * the sched core).  No sockets, processes or clocks: events are task ends,
 * message deliveries (hop latency plus a per-message send cost on the
 * sender) and per-node ticks, kept in a binary heap.
 *
 * Engines report each result at once; relays coalesce results upward, one
 * message per tick per link (with the link model, each node's tick is its
 * own timer, as a worker's: see schedule_flush).  A node that places does
 * the whole step's work first, then sends each child its ASSIGN.  Idle
 * relays steal through their parent.
 * After the run, one broadcast goes down the tree with coalesced replies.
 *
 * The link layer is modelled as the server and the workers run it (unless
 * --no-links): a JOB crosses each link once before the first ASSIGN naming
 * it; a leaf engine sends the results of one instant in one RESULT (a
 * noop engine completes a whole ASSIGN at once); the root is one loop, as
 * src/server/server.c runs it (see root_pump): what arrives while it
 * works waits, and one pass handles all of it, then ACKs each child that
 * sent RESULTs once its store has committed them (the transaction commits
 * once it is --commit-ms old, the store's grouping);
 * every node PINGs its parent and its children once per heartbeat
 * (--heartbeat-ms, at a seeded phase) and is answered with a PONG; every
 * node below the root sends a SUMMARY up at a tick of its own timer, when
 * a child's SUMMARY changed (its free slots or queued tasks) or a
 * heartbeat has passed since its last SUMMARY (the heartbeat restarts at
 * each one sent, as worker__relay_tick does).  --client adds the messages of the production check
 * (bench/sim_vs_prod.sh) between its two status calls: SUBMIT, WAIT, a
 * QUERY and two client BYEs in; SUBMITTED, JOBSTATE and an ANSWER out.
 * --duration-ms gives every task the same duration (0: noop engines),
 * --root-us-per-task the root's own cost per task (half when it places
 * it, half when its result comes), which delays what it sends next, and
 * --worker-us-per-task the same for every worker (default 0;
 * bench/sim_vs_prod.sh passes the workers' measured CPU time per task
 * entry, from the count this program prints as worker_task_halves).
 * SIMULATE_TRACE in the environment prints the root's events on stderr
 * (virtual time, the root's own clock, the event).
 * --hosts 0 puts every worker on the root's own machine, placed by
 * balance alone, as `banyan launch` does.
 *
 * Prints root messages per task, the most peers any node talks to, the
 * depth, makespan against the ideal (total work / total slots), steals,
 * and the broadcast's messages at the root, then one machine line, and
 * one line "simulate_root" with the root's messages sent and received per
 * task and per type (the numbers of src/msg/msg.h).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tree/tree.h"

/* ------------------------------------------------------------- options */

typedef struct opts {
    uint32_t engines, hosts, slots, jobs;
    uint64_t tasks;
    double mean_ms;
    uint64_t seed;
    unsigned fanout;          /* 0: from the model */
    double hop_us, per_msg_us;
    int64_t tick_us;
    unsigned prefetch;        /* 0: from rtt and mean */
    double duration_ms;       /* >= 0: every task lasts this; < 0: exp. */
    double root_us_per_task;  /* the root's own cost per task */
    double worker_us_per_task; /* a worker's own cost per task it handles */
    bool links;               /* model JOB, ACK, PING/PONG, SUMMARY */
    bool client;              /* count the check's client messages */
    int64_t heartbeat_us, commit_us;
    uint32_t root_max;        /* tasks the root places a step, as the
                                 server's max_actions; 0: no bound */
} opts_t;

static void usage(void)
{
    fprintf(stderr,
            "usage: simulate [--engines N] [--hosts H] [--slots S] "
            "[--tasks T] [--jobs J]\n"
            "                [--mean-ms M] [--seed X] [--fanout K] "
            "[--hop-us U] [--per-msg-us U]\n"
            "                [--tick-ms M] [--prefetch D] [--duration-ms D]\n"
            "                [--root-us-per-task U] [--worker-us-per-task U]\n"
            "                [--heartbeat-ms H] [--commit-ms C] "
            "[--root-max-actions N]\n"
            "                [--no-links] [--client]\n");
}

static int parse(int argc, char **argv, opts_t *o)
{
    *o = (opts_t){10000, 500, 1, 1, 1000000, 1000.0, 1, 0, 100.0, 5.0,
                  10000, 0, -1.0, 0.0, 0.0, true, false, 1000000, 5000,
                  10000};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--no-links") || !strcmp(a, "--client")) {
            *(a[2] == 'n' ? &o->links : &o->client) = a[2] != 'n';
            continue;
        }
        if (!v) {
            usage();
            return -1;
        }
        if (!strcmp(a, "--engines"))
            o->engines = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--hosts"))
            o->hosts = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--slots"))
            o->slots = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--tasks"))
            o->tasks = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--jobs"))
            o->jobs = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--mean-ms"))
            o->mean_ms = strtod(v, NULL);
        else if (!strcmp(a, "--seed"))
            o->seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--fanout"))
            o->fanout = (unsigned)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--hop-us"))
            o->hop_us = strtod(v, NULL);
        else if (!strcmp(a, "--per-msg-us"))
            o->per_msg_us = strtod(v, NULL);
        else if (!strcmp(a, "--tick-ms"))
            o->tick_us = (int64_t)(strtod(v, NULL) * 1000);
        else if (!strcmp(a, "--prefetch"))
            o->prefetch = (unsigned)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--duration-ms"))
            o->duration_ms = strtod(v, NULL);
        else if (!strcmp(a, "--root-us-per-task"))
            o->root_us_per_task = strtod(v, NULL);
        else if (!strcmp(a, "--worker-us-per-task"))
            o->worker_us_per_task = strtod(v, NULL);
        else if (!strcmp(a, "--heartbeat-ms"))
            o->heartbeat_us = (int64_t)(strtod(v, NULL) * 1000);
        else if (!strcmp(a, "--root-max-actions"))
            o->root_max = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--commit-ms"))
            o->commit_us = (int64_t)(strtod(v, NULL) * 1000);
        else {
            usage();
            return -1;
        }
        i++;
    }
    if (o->engines == 0 || o->slots == 0 || o->jobs == 0
        || o->tasks < o->jobs || o->mean_ms <= 0 || o->tick_us < 1
        || o->heartbeat_us < 1000 || o->commit_us < 1
        || o->root_us_per_task < 0 || o->worker_us_per_task < 0
        || (o->fanout && (o->fanout < 2 || o->fanout > 1024))) {
        usage();
        return -1;
    }
    return 0;
}

/* -------------------------------------------------------------- events */

enum { EV_END = 1, EV_MSG = 2, EV_FLUSH = 3, EV_WAKE = 4, EV_EFLUSH = 5,
       EV_BEAT = 6, EV_COMMIT = 7, EV_PUMP = 8 };
/* Message kinds: the types of src/msg/msg.h, so that the root's counts
 * per type read like the production server's (bench/sim_vs_prod.sh). */
enum { M_JOB = 3, M_ASSIGN = 4, M_RESULT = 5, M_ACK = 6, M_PING = 8,
       M_PONG = 9, M_BYE = 10, M_SUMMARY = 12, M_STEAL = 14, M_RECALL = 15,
       M_RETURN = 16, M_DENY = 17, M_REJECT = 18, M_BCAST = 20,
       M_BREPLY = 21, M_SUBMIT = 32, M_SUBMITTED = 33, M_WAIT = 34,
       M_JOBSTATE = 35, M_QUERY = 36, M_ANSWER = 37, M_KINDS = 64 };

typedef struct item {
    uint32_t job;
    uint32_t outcome;
    uint64_t index;
} item_t;

typedef struct msg {
    int kind;
    uint32_t from, to;
    uint64_t count;           /* queued report, steal want, recall n, done;
                                 SUMMARY: queued below */
    uint64_t free_slots;      /* SUMMARY: free slots below */
    tree_tally_t tally;       /* broadcast reply */
    size_t n;
    item_t items[];
} msg_t;

typedef struct ev {
    int64_t t;
    uint64_t seq;
    int type;
    uint32_t node;
    uint32_t job;
    uint64_t index;
    msg_t *msg;
} ev_t;

static ev_t *heap;
static size_t nheap, heap_cap;
static uint64_t ev_seq;

static bool ev_less(const ev_t *a, const ev_t *b)
{
    return a->t != b->t ? a->t < b->t : a->seq < b->seq;
}

static void ev_push(ev_t e)
{
    if (nheap == heap_cap) {
        heap_cap = heap_cap ? heap_cap * 2 : 4096;
        heap = realloc(heap, heap_cap * sizeof(*heap));
        if (!heap) {
            fprintf(stderr, "simulate: out of memory\n");
            exit(3);
        }
    }
    e.seq = ev_seq++;
    size_t i = nheap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!ev_less(&e, &heap[p]))
            break;
        heap[i] = heap[p];
        i = p;
    }
    heap[i] = e;
}

static ev_t ev_pop(void)
{
    ev_t top = heap[0];
    ev_t e = heap[--nheap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= nheap)
            break;
        if (c + 1 < nheap && ev_less(&heap[c + 1], &heap[c]))
            c++;
        if (!ev_less(&heap[c], &e))
            break;
        heap[i] = heap[c];
        i = c;
    }
    if (nheap > 0)
        heap[i] = e;
    return top;
}

/* --------------------------------------------------------------- nodes */

typedef struct node {
    tree_relay_t *relay;      /* NULL for a leaf engine */
    tree_bcast_t *bcast;
    uint32_t parent;
    int64_t busy_until;       /* the sender's queue: per-message cost */
    bool flush_pending;       /* --no-links: a tick of the grid is due */
    int64_t tick_period_us;   /* O.links: its tick timer (tick_speed_up) */
    uint64_t tick_gen;        /* the EV_FLUSH carrying it is current */
    int64_t last_summary_us;  /* its last SUMMARY up */
    bool up_used;             /* the link to the parent carried something */
    uint64_t sent, recv;
    /* The link layer (O.links). */
    size_t nres;              /* leaf: results of this instant, unsent */
    item_t *res;
    size_t res_cap;
    bool eflush_pending;
    bool ack_due;             /* root's child: a RESULT since the commit */
    bool summary_dirty;       /* relay: a child's SUMMARY changed */
    uint64_t sum_free, sum_queued; /* the last SUMMARY it sent up */
    bool sum_sent;
} node_t;

static opts_t O;
static tree_topo_t *topo;
static node_t *nodes;
static uint32_t nnodes;
static int64_t now_us;
static uint64_t completed, steals, recalls, denies, rejects, stolen_tasks;
static uint64_t errors;
static uint64_t rt_sent[M_KINDS], rt_recv[M_KINDS]; /* the root, per kind */
static uint8_t *job_known;    /* [node * jobs + job - 1]: JOB went down */
static bool root_counting = true; /* off for the final broadcast */
/* The root's loop (O.links; root_pump). */
static msg_t **inbox;         /* arrived, not yet handled, in order */
static size_t ninbox, inbox_cap;
static bool pump_pending;     /* an EV_PUMP is in the heap */
static bool commit_pending;   /* an EV_COMMIT (the commit timer) is */
static bool txn_open;         /* the store holds uncommitted writes */
static int64_t txn_start_us;  /* the root's clock at the first of them */

static bool tracing; /* SIMULATE_TRACE set: the root's events on stderr */
#define TRACE(...) \
    do { \
        if (tracing) { \
            fprintf(stderr, "%10.3f %10.3f ", now_us / 1000.0, \
                    nodes[TREE_ROOT].busy_until / 1000.0); \
            fprintf(stderr, __VA_ARGS__); \
            fputc('\n', stderr); \
        } \
    } while (0)

static msg_t *msg_new(int kind, uint32_t from, uint32_t to, size_t n)
{
    msg_t *m = malloc(sizeof(*m) + n * sizeof(item_t));
    if (!m) {
        fprintf(stderr, "simulate: out of memory\n");
        exit(3);
    }
    memset(m, 0, sizeof(*m));
    m->kind = kind;
    m->from = from;
    m->to = to;
    return m;
}

static void send_msg(msg_t *m)
{
    node_t *f = &nodes[m->from];
    int64_t start = f->busy_until > now_us ? f->busy_until : now_us;
    int64_t depart = start + (int64_t)O.per_msg_us;
    f->busy_until = depart;
    f->sent++;
    if (m->from == TREE_ROOT && root_counting) {
        rt_sent[m->kind]++;
        TRACE("O %d %u %zu", m->kind, m->to, m->n);
    }
    if (m->to == TREE_ROOT && root_counting)
        TRACE("A %d %u %zu", m->kind, m->from, m->n);
    if (nodes[m->from].parent == m->to)
        f->up_used = true;
    else
        nodes[m->to].up_used = true;
    ev_push((ev_t){depart + (int64_t)O.hop_us, 0, EV_MSG, m->to, 0, 0, m});
}

/* Task duration in microseconds: exponential, from (seed, job, index). */
static int64_t duration_us(uint32_t job, uint64_t index)
{
    if (O.duration_ms >= 0)
        return (int64_t)(O.duration_ms * 1000.0);
    uint64_t h = O.seed * 0x9E3779B97F4A7C15ULL ^ index * 0xBF58476D1CE4E5B9ULL
                 ^ (uint64_t)job * 0x94D049BB133111EBULL;
    h ^= h >> 31;
    h *= 0xD6E8FEB86659FD93ULL;
    h ^= h >> 32;
    double u = ((double)(h >> 11) + 0.5) / 9007199254740992.0;
    return (int64_t)(-log(u) * O.mean_ms * 1000.0);
}

/* A node's own work for n task entries (placing or passing them on,
 * running a noop task, taking results): what it sends next leaves that
 * much later.  Half the cost per task on the way down, half on the way
 * up. */
static double worker_halves; /* the n of node_busy below the root */

static void node_busy(uint32_t id, double n)
{
    node_t *r = &nodes[id];
    if (id != TREE_ROOT && root_counting)
        worker_halves += n;
    double us = id == TREE_ROOT ? O.root_us_per_task : O.worker_us_per_task;
    if (r->busy_until < now_us)
        r->busy_until = now_us;
    r->busy_until += (int64_t)(n * us / 2);
}

/* Where the root's own clock is: past now while it works. */
static int64_t root_clock(void)
{
    int64_t b = nodes[TREE_ROOT].busy_until;
    return b > now_us ? b : now_us;
}

static void start_task(uint32_t node, uint32_t job, uint64_t index)
{
    ev_push((ev_t){now_us + duration_us(job, index), 0, EV_END, node, job,
                   index, NULL});
}

/* A worker's tick (src/worker/worker.c, on_tick and tick_speed_up): a
 * timer of its own, every TICK_IDLE_MS (200 ms) while nothing waits for
 * it, every TICK_MS (--tick-ms) while something does (results to send
 * up, a changed SUMMARY).  It is started at the worker's own start, so
 * each node has its own phase; when something starts waiting on an idle
 * node, the timer is restarted to fire one TICK_MS later (so results
 * wait a whole tick at each relay, not up to the next instant of a
 * common grid); a tick that finds nothing to do sets the idle period,
 * which takes effect after the next fire (libuv has already re-armed the
 * timer with the old period when the callback runs).  --no-links keeps
 * the earlier model: one common grid of --tick-ms. */
enum { TICK_IDLE_US = 200000 };

static void tick_arm(uint32_t id, int64_t at)
{
    node_t *n = &nodes[id];
    ev_push((ev_t){at, 0, EV_FLUSH, id, 0, ++n->tick_gen, NULL});
}

static void schedule_flush(uint32_t id)
{
    node_t *n = &nodes[id];
    if (id == TREE_ROOT)
        return;
    if (O.links) { /* tick_speed_up */
        if (n->tick_period_us > O.tick_us) {
            n->tick_period_us = O.tick_us;
            tick_arm(id, now_us + O.tick_us);
        }
        return;
    }
    if (n->flush_pending)
        return;
    n->flush_pending = true;
    int64_t t = (now_us / O.tick_us + 1) * O.tick_us;
    ev_push((ev_t){t, 0, EV_FLUSH, id, 0, 0, NULL});
}

static int cmp_child(const void *a, const void *b)
{
    const tree_action_t *x = a, *y = b;
    return x->child < y->child ? -1 : x->child > y->child;
}

/* Run a relay: turn its actions into messages and local starts. */
static void relay_run(uint32_t id)
{
    static tree_action_t *assigns, *ups;
    static size_t acap, ucap;
    size_t na = 0, nu = 0;
    bool done_flag = false;
    uint64_t returned = 0;
    tree_action_t act[256];
    /* The root places at most root_max tasks a step, as the server does
     * (one step a loop iteration; it turns again at once when more wait:
     * a wake right after its own work). */
    uint64_t budget = id == TREE_ROOT && O.root_max ? O.root_max : UINT64_MAX;
    int n, want;
    do {
        want = budget < 256 ? (int)budget : 256;
        n = tree_relay_step(nodes[id].relay, now_us / 1000, act, want);
        budget -= (uint64_t)n;
        for (int i = 0; i < n; i++) {
            tree_action_t *a = &act[i];
            switch (a->type) {
            case TREE_ACT_ASSIGN:
                if (a->child == id) {
                    start_task(id, a->job_id, a->index);
                    break;
                }
                if (na == acap) {
                    acap = acap ? acap * 2 : 1024;
                    assigns = realloc(assigns, acap * sizeof(*assigns));
                }
                assigns[na++] = *a;
                break;
            case TREE_ACT_RETURN:
            case TREE_ACT_REJECT:
                if (nu == ucap) {
                    ucap = ucap ? ucap * 2 : 256;
                    ups = realloc(ups, ucap * sizeof(*ups));
                }
                ups[nu++] = *a;
                if (a->type == TREE_ACT_RETURN)
                    returned++;
                else
                    rejects++;
                break;
            case TREE_ACT_RECALL_DONE:
                done_flag = true;
                break;
            case TREE_ACT_RECALL: {
                recalls++;
                msg_t *m = msg_new(M_RECALL, id, a->child, 0);
                m->count = a->count;
                send_msg(m);
                break;
            }
            case TREE_ACT_STEAL: {
                steals++;
                msg_t *m = msg_new(M_STEAL, id, nodes[id].parent, 0);
                m->count = a->count;
                send_msg(m);
                break;
            }
            case TREE_ACT_DENY:
                denies++;
                send_msg(msg_new(M_DENY, id, a->child, 0));
                break;
            case TREE_ACT_INFEASIBLE:
                errors++;
                break;
            }
        }
    } while (n == want && budget > 0);
    if (budget == 0) {
        int64_t t = nodes[id].busy_until > now_us ? nodes[id].busy_until
                                                  : now_us;
        ev_push((ev_t){t + 1, 0, EV_WAKE, id, 0, 0, NULL});
    }

    if (na > 0) {
        /* The whole step's work comes first, then its messages: the
         * server's srv__schedule and a worker's relay step collect every
         * action, then send each child its JOBs and ONE ASSIGN
         * (send_batches, flush_assigns), so no child gets its tasks before
         * the step is done. */
        node_busy(id, (double)na);
        qsort(assigns, na, sizeof(*assigns), cmp_child);
        for (size_t i = 0; i < na;) {
            size_t j = i;
            while (j < na && assigns[j].child == assigns[i].child)
                j++;
            uint32_t to = assigns[i].child;
            msg_t *m = msg_new(M_ASSIGN, id, to, j - i);
            for (size_t k = i; k < j; k++) {
                uint32_t job = assigns[k].job_id;
                m->items[m->n++] = (item_t){job, 0, assigns[k].index};
                uint8_t *known = &job_known[(size_t)to * O.jobs + job - 1];
                if (O.links && !*known) { /* once per link, first */
                    *known = 1;
                    msg_t *jm = msg_new(M_JOB, id, to, 0);
                    jm->count = job;
                    send_msg(jm);
                }
            }
            send_msg(m);
            i = j;
        }
    }
    if (nu > 0 || done_flag) {
        /* Returns (and rejects, which do not happen here) in one message
         * with the done flag: the parent sees the returns first. */
        msg_t *m = msg_new(M_RETURN, id, nodes[id].parent, nu);
        for (size_t i = 0; i < nu; i++)
            m->items[m->n++] = (item_t){ups[i].job_id,
                                        ups[i].type == TREE_ACT_REJECT,
                                        ups[i].index};
        m->count = done_flag;
        send_msg(m);
    }
    (void)returned;
}

/* SUMMARY up: the free slots and queued tasks below id, as a worker's
 * relay adds them up (an engine child's slots less its tasks, a relay
 * child's last SUMMARY). */
static void send_summary(uint32_t id)
{
    node_t *n = &nodes[id];
    uint64_t free_slots = 0, queued = 0;
    if (n->relay) {
        uint32_t kids[1024];
        size_t nk = tree_topo_children(topo, id, kids, 1024);
        queued = tree_relay_queued(n->relay);
        for (size_t i = 0; i < nk; i++) {
            const node_t *c = &nodes[kids[i]];
            if (c->relay) {
                free_slots += c->sum_free;
                queued += c->sum_queued;
            } else {
                uint64_t busy = tree_relay_child_inflight(n->relay, kids[i]);
                free_slots += O.slots > busy ? O.slots - busy : 0;
            }
        }
    }
    msg_t *m = msg_new(M_SUMMARY, id, n->parent, 0);
    m->count = queued;
    m->free_slots = free_slots;
    n->summary_dirty = false;
    n->last_summary_us = now_us;
    send_msg(m);
}

/* A tick: the SUMMARY up when a child's changed (--no-links: only
 * then) or a heartbeat has passed since the last one (worker__relay_tick:
 * the heartbeat restarts at every SUMMARY sent, and is looked at only at
 * a tick), then the results that wait, in one RESULT. */
static void flush(uint32_t id, uint64_t gen)
{
    node_t *n = &nodes[id];
    n->flush_pending = false;
    if (O.links) {
        if (gen != n->tick_gen)
            return; /* restarted since */
        int64_t period = n->tick_period_us;
        tick_arm(id, now_us + period);
        if (n->summary_dirty
            || now_us - n->last_summary_us >= O.heartbeat_us)
            send_summary(id);
        /* After the RESULT below nothing waits: idle from the next fire. */
        n->tick_period_us = TICK_IDLE_US > O.tick_us ? TICK_IDLE_US
                                                     : O.tick_us;
    } else if (n->summary_dirty) {
        send_summary(id);
    }
    if (!n->relay)
        return;
    size_t w = tree_relay_results_waiting(n->relay);
    if (w == 0)
        return;
    msg_t *m = msg_new(M_RESULT, id, n->parent, w);
    tree_result_t *res = malloc(w * sizeof(*res));
    size_t got = tree_relay_take_results(n->relay, res, w);
    for (size_t i = 0; i < got; i++)
        m->items[m->n++] = (item_t){res[i].job_id, res[i].outcome,
                                    res[i].index};
    free(res);
    tree_report_t rep;
    tree_relay_report(n->relay, &rep);
    m->count = rep.queued;
    send_msg(m);
}

/* After a message: a relay places what it can at once; the root (O.links)
 * places once per pass of its loop, after all it has received
 * (root_pump). */
static void node_run(uint32_t id)
{
    if (!(O.links && id == TREE_ROOT))
        relay_run(id);
}

static void deliver(msg_t *m)
{
    uint32_t id = m->to;
    node_t *n = &nodes[id];
    n->recv++;
    if (id == TREE_ROOT && root_counting) {
        rt_recv[m->kind]++;
        TRACE("M %d %u %zu", m->kind, m->from, m->n);
    }
    switch (m->kind) {
    case M_JOB:
    case M_ACK:
    case M_PONG:
        break;
    case M_PING:
        send_msg(msg_new(M_PONG, id, m->from, 0));
        break;
    case M_SUMMARY: {
        node_t *c = &nodes[m->from];
        if (c->relay && (!c->sum_sent || c->sum_free != m->free_slots
                         || c->sum_queued != m->count)) {
            n->summary_dirty = id != TREE_ROOT;
            schedule_flush(id);
        }
        c->sum_sent = true;
        c->sum_free = m->free_slots;
        c->sum_queued = m->count;
        break;
    }
    case M_ASSIGN:
        if (!n->relay) {
            node_busy(id, (double)m->n);
            for (size_t i = 0; i < m->n; i++)
                start_task(id, m->items[i].job, m->items[i].index);
            break;
        }
        for (size_t i = 0; i < m->n; i++)
            if (tree_relay_assign(n->relay, m->items[i].job,
                                  m->items[i].index) < 0)
                errors++;
        node_run(id);
        break;
    case M_RESULT:
        for (size_t i = 0; i < m->n; i++) {
            int rc = tree_relay_task_done(n->relay, m->items[i].job,
                                          m->items[i].index,
                                          (sched_outcome_t)m->items[i]
                                              .outcome);
            if (rc < 0)
                errors++;
            else if (id == TREE_ROOT)
                completed++;
        }
        if (nodes[m->from].relay)
            tree_relay_child_queued(n->relay, m->from, m->count);
        if (O.links && id == TREE_ROOT) {
            /* Written to the store's transaction (opened by the first
             * write after a commit), ACKed once it commits (root_commit). */
            if (!txn_open) {
                txn_open = true;
                txn_start_us = root_clock();
            }
            node_busy(id, (double)m->n);
            nodes[m->from].ack_due = true;
        } else if (O.links) {
            node_busy(id, (double)m->n);
            send_msg(msg_new(M_ACK, id, m->from, 0));
        } else if (id == TREE_ROOT) {
            node_busy(id, (double)m->n);
        }
        if (id != TREE_ROOT)
            schedule_flush(id);
        node_run(id);
        break;
    case M_STEAL:
        tree_relay_steal(n->relay, m->from, (uint32_t)m->count);
        node_run(id);
        break;
    case M_RECALL:
        tree_relay_recall(n->relay, (uint32_t)m->count);
        node_run(id);
        break;
    case M_RETURN:
        for (size_t i = 0; i < m->n; i++) {
            if (m->items[i].outcome) { /* a reject: not expected here */
                errors++;
                continue;
            }
            if (tree_relay_returned(n->relay, m->from, m->items[i].job,
                                    m->items[i].index) < 0)
                errors++;
            else
                stolen_tasks++;
        }
        if (m->count)
            tree_relay_recall_done(n->relay, m->from);
        node_run(id);
        break;
    case M_DENY:
        tree_relay_steal_denied(n->relay, now_us / 1000);
        ev_push((ev_t){now_us + 1001000, 0, EV_WAKE, id, 0, 0, NULL});
        break;
    }
    free(m);
}

static void task_end(const ev_t *e)
{
    node_t *n = &nodes[e->node];
    if (!n->relay && O.links) {
        /* The results of one instant go up in one RESULT (a worker sends
         * once per loop iteration): after the other events of now. */
        if (n->nres == n->res_cap) {
            n->res_cap = n->res_cap ? n->res_cap * 2 : 16;
            n->res = realloc(n->res, n->res_cap * sizeof(*n->res));
            if (!n->res) {
                fprintf(stderr, "simulate: out of memory\n");
                exit(3);
            }
        }
        n->res[n->nres++] = (item_t){e->job, SCHED_OK, e->index};
        if (!n->eflush_pending) {
            n->eflush_pending = true;
            ev_push((ev_t){now_us, 0, EV_EFLUSH, e->node, 0, 0, NULL});
        }
        return;
    }
    if (!n->relay) {
        msg_t *m = msg_new(M_RESULT, e->node, n->parent, 1);
        m->items[m->n++] = (item_t){e->job, SCHED_OK, e->index};
        send_msg(m);
        return;
    }
    if (tree_relay_task_done(n->relay, e->job, e->index, SCHED_OK) < 0)
        errors++;
    schedule_flush(e->node);
    relay_run(e->node);
}

/* A leaf engine's results of this instant, in one RESULT. */
static void engine_flush(uint32_t id)
{
    node_t *n = &nodes[id];
    n->eflush_pending = false;
    msg_t *m = msg_new(M_RESULT, id, n->parent, n->nres);
    memcpy(m->items, n->res, n->nres * sizeof(*n->res));
    m->n = n->nres;
    n->nres = 0;
    node_busy(id, (double)m->n);
    send_msg(m);
}

/* ------------------------------------------------------- the root's loop
 *
 * The server (src/server/server.c) reads its socket into an inbox, and a
 * pump that runs once per loop iteration handles the whole inbox, then
 * commit_and_ack(), then one placement step (srv__schedule), then ends the
 * jobs that are done (job_end flushes the store) and commit_and_ack()
 * again.  commit_and_ack() commits the store's open transaction once it is
 * batch_ms (--commit-ms) old, else arms a timer for then, and once nothing
 * written is uncommitted sends ONE ACK to each child that sent RESULTs
 * since the last.  So a child's RESULTs that arrive while the root works
 * (placing 10,000 tasks, taking a big RESULT) are handled in one pass and
 * ACKed together: production sends fewer ACKs than it gets RESULTs.  The
 * root's work is its clock running ahead of now (busy_until, from
 * --root-us-per-task); a message arriving meanwhile waits for the pass
 * after it, and the commit timer, a callback of the same loop, too. */

static void root_commit(bool flush)
{
    if (txn_open) {
        if (!flush && root_clock() - txn_start_us < O.commit_us) {
            if (!commit_pending) {
                commit_pending = true;
                ev_push((ev_t){txn_start_us + O.commit_us, 0, EV_COMMIT,
                               TREE_ROOT, 0, 0, NULL});
            }
            return; /* the ACKs wait for the commit */
        }
        txn_open = false;
    }
    uint32_t kids[1024];
    size_t nk = tree_topo_children(topo, TREE_ROOT, kids, 1024);
    for (size_t i = 0; i < nk; i++)
        if (nodes[kids[i]].ack_due) {
            nodes[kids[i]].ack_due = false;
            send_msg(msg_new(M_ACK, TREE_ROOT, kids[i], 0));
        }
}

/* The commit timer: it runs between passes, so not before the root's
 * current work is done. */
static void commit_timer(void)
{
    commit_pending = false;
    if (nodes[TREE_ROOT].busy_until > now_us) {
        commit_pending = true;
        ev_push((ev_t){nodes[TREE_ROOT].busy_until, 0, EV_COMMIT, TREE_ROOT,
                       0, 0, NULL});
        return;
    }
    root_commit(false);
}

/* A pass of the loop, once the root is free (a message arrived, or the
 * last step had more to place). */
static void root_pump_request(void)
{
    if (pump_pending)
        return;
    pump_pending = true;
    ev_push((ev_t){root_clock(), 0, EV_PUMP, TREE_ROOT, 0, 0, NULL});
}

static void root_pump(void)
{
    pump_pending = false;
    if (nodes[TREE_ROOT].busy_until > now_us) { /* a heartbeat's PINGs */
        root_pump_request();
        return;
    }
    size_t n = ninbox;
    TRACE("P %zu", n);
    ninbox = 0; /* deliver() at the root adds nothing to it */
    for (size_t i = 0; i < n; i++)
        deliver(inbox[i]);
    root_commit(false);
    relay_run(TREE_ROOT);
    root_commit(completed == O.tasks); /* the job ended: flushed */
}

static void root_receive(msg_t *m)
{
    if (ninbox == inbox_cap) {
        inbox_cap = inbox_cap ? inbox_cap * 2 : 256;
        inbox = realloc(inbox, inbox_cap * sizeof(*inbox));
        if (!inbox) {
            fprintf(stderr, "simulate: out of memory\n");
            exit(3);
        }
    }
    inbox[ninbox++] = m;
    root_pump_request();
}

/* A node's heartbeat: a PING to its parent and to each child; the next
 * one a period later.  (Its SUMMARY goes at a tick: flush.) */
static void beat(uint32_t id)
{
    node_t *n = &nodes[id];
    uint32_t kids[1024];
    size_t nk = tree_topo_children(topo, id, kids, 1024);
    if (id != TREE_ROOT)
        send_msg(msg_new(M_PING, id, n->parent, 0));
    for (size_t i = 0; i < nk; i++)
        send_msg(msg_new(M_PING, id, kids[i], 0));
    ev_push((ev_t){now_us + O.heartbeat_us, 0, EV_BEAT, id, 0, 0, NULL});
}

static uint64_t phase_hash(uint32_t id, uint64_t salt)
{
    uint64_t h = (O.seed + salt) * 0x9E3779B97F4A7C15ULL
                 ^ (uint64_t)(id + 1) * 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 31;
    h *= 0xD6E8FEB86659FD93ULL;
    h ^= h >> 32;
    return h;
}

/* Every node's first heartbeat, at a phase from the seed; below the
 * root, its tick timer (idle: the job comes long after the workers
 * started) and its last SUMMARY, each at a phase of its own. */
static void beats_start(void)
{
    for (uint32_t id = 0; id < nnodes; id++) {
        if (id != TREE_ROOT && tree_topo_parent(topo, id) == TREE_NONE)
            continue;
        uint64_t h = phase_hash(id, 1);
        ev_push((ev_t){now_us + (int64_t)(h % (uint64_t)O.heartbeat_us), 0,
                       EV_BEAT, id, 0, 0, NULL});
        if (id == TREE_ROOT)
            continue;
        node_t *n = &nodes[id];
        n->tick_period_us = TICK_IDLE_US > O.tick_us ? TICK_IDLE_US
                                                     : O.tick_us;
        tick_arm(id, now_us + (int64_t)(phase_hash(id, 2)
                                        % (uint64_t)n->tick_period_us));
        n->last_summary_us = now_us - (int64_t)(phase_hash(id, 3)
                                                % (uint64_t)O.heartbeat_us);
    }
}

/* ------------------------------------------------------------ building */

static void build(unsigned k, unsigned prefetch)
{
    topo = tree_topo_create(k, 1);
    if (!topo) {
        fprintf(stderr, "simulate: cannot create the topology\n");
        exit(3);
    }
    /* Workers start in a random order: shuffle (host, engine) pairs. */
    uint32_t *order = malloc(O.engines * sizeof(*order));
    for (uint32_t i = 0; i < O.engines; i++)
        order[i] = i;
    uint64_t r = O.seed * 2654435761u + 1;
    for (uint32_t i = O.engines - 1; i > 0; i--) {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        uint32_t j = (uint32_t)(r % (i + 1));
        uint32_t x = order[i];
        order[i] = order[j];
        order[j] = x;
    }
    tree_summary_t cap = {1, O.slots, O.slots * 1000ULL,
                          O.slots * (2ULL << 30), 0};
    for (uint32_t i = 0; i < O.engines; i++) {
        char host[32];
        snprintf(host, sizeof(host), "host%u",
                 O.hosts ? order[i] % O.hosts : 0);
        uint32_t id, parent;
        /* --hosts 0: every worker on the root's own machine, which the
         * server places by balance alone (no host). */
        if (tree_topo_join(topo, O.hosts ? host : NULL, &cap, &id,
                           &parent) < 0) {
            fprintf(stderr, "simulate: join failed\n");
            exit(3);
        }
    }
    free(order);
    nnodes = tree_topo_id_limit(topo);
    nodes = calloc(nnodes, sizeof(*nodes));
    job_known = calloc((size_t)nnodes * O.jobs, 1);
    if (!nodes || !job_known) {
        fprintf(stderr, "simulate: out of memory\n");
        exit(3);
    }
    tree_summary_t *sub = calloc(nnodes, sizeof(*sub));
    /* Subtree summaries bottom-up: a child always joins after its
     * parent, so its id is larger. */
    for (uint32_t id = nnodes - 1; id >= 1; id--) {
        tree_summary_add(&sub[id], tree_topo_cap(topo, id));
        tree_summary_add(&sub[tree_topo_parent(topo, id)], &sub[id]);
    }
    res_capacity_t ecap;
    memset(&ecap, 0, sizeof(ecap));
    ecap.slots = O.slots;
    ecap.cpus_milli = O.slots * 1000;
    ecap.mem_bytes = O.slots * (2ULL << 30);
    uint32_t kids[1024];
    for (uint32_t id = 0; id < nnodes; id++) {
        nodes[id].parent = tree_topo_parent(topo, id);
        size_t nk = tree_topo_children(topo, id, kids, 1024);
        nodes[id].bcast = tree_bcast_create(id != TREE_ROOT,
                                            id != TREE_ROOT);
        if (nk == 0 && id != TREE_ROOT)
            continue;
        tree_relay_config_t cfg;
        tree_relay_config_default(&cfg);
        cfg.is_root = id == TREE_ROOT;
        cfg.prefetch = prefetch;
        cfg.steal_min_free = O.slots;
        tree_relay_t *rl = tree_relay_create(&cfg);
        if (id != TREE_ROOT)
            tree_relay_add_engine(rl, id, &ecap);
        for (size_t i = 0; i < nk; i++) {
            if (tree_topo_children(topo, kids[i], NULL, 0) > 0)
                tree_relay_add_relay(rl, kids[i], &sub[kids[i]]);
            else
                tree_relay_add_engine(rl, kids[i], &ecap);
        }
        nodes[id].relay = rl;
    }
    free(sub);
    uint64_t per = O.tasks / O.jobs;
    for (uint32_t j = 1; j <= O.jobs; j++) {
        sched_job_t def;
        memset(&def, 0, sizeof(def));
        def.id = j;
        def.req.slots = 1;
        def.req.cpus_milli = 1000;
        def.max_attempts = 1;
        for (uint32_t id = 0; id < nnodes; id++)
            if (nodes[id].relay)
                tree_relay_add_job(nodes[id].relay, &def);
        uint64_t count = j == O.jobs ? O.tasks - per * (O.jobs - 1) : per;
        tree_relay_add_tasks(nodes[0].relay, j, 0, count);
    }
}

/* The same tasks on one central scheduler with no latency at all (greedy
 * list scheduling in index order): the makespan a tree cannot beat by
 * placement alone.  A min-heap of slot free times. */
static double greedy_makespan_s(void)
{
    size_t ns = (size_t)O.engines * O.slots;
    int64_t *h = calloc(ns, sizeof(*h));
    int64_t last = 0;
    uint64_t per = O.tasks / O.jobs;
    for (uint32_t j = 1; j <= O.jobs; j++) {
        uint64_t count = j == O.jobs ? O.tasks - per * (O.jobs - 1) : per;
        for (uint64_t i = 0; i < count; i++) {
            int64_t end = h[0] + duration_us(j, i);
            if (end > last)
                last = end;
            size_t x = 0; /* replace the root and sift down */
            for (;;) {
                size_t c = 2 * x + 1;
                if (c >= ns)
                    break;
                if (c + 1 < ns && h[c + 1] < h[c])
                    c++;
                if (h[c] >= end)
                    break;
                h[x] = h[c];
                x = c;
            }
            h[x] = end;
        }
    }
    free(h);
    return (double)last / 1e6;
}

/* One broadcast down the tree, replies coalesced; returns its virtual
 * duration in microseconds and fills the root's message counts. */
static int64_t broadcast(uint64_t *root_sent, uint64_t *root_recv,
                         uint32_t *reached)
{
    uint32_t kids[1024], fwd[1024];
    int64_t t0 = now_us;
    for (uint32_t id = 0; id < nnodes; id++)
        nodes[id].busy_until = now_us;
    size_t nk = tree_topo_children(topo, TREE_ROOT, kids, 1024);
    tree_bcast_begin(nodes[0].bcast, 1, kids, nk, now_us / 1000, 10000,
                     fwd);
    for (size_t i = 0; i < nk; i++)
        send_msg(msg_new(M_BCAST, 0, fwd[i], 0));
    int64_t end = -1;
    while (nheap > 0 && end < 0) {
        ev_t e = ev_pop();
        now_us = e.t;
        msg_t *m = e.msg;
        if (e.type != EV_MSG)
            continue;
        uint32_t id = m->to;
        tree_bcast_done_t d[2];
        int nd = 0;
        if (m->kind == M_BCAST) {
            nk = tree_topo_children(topo, id, kids, 1024);
            if (tree_bcast_begin(nodes[id].bcast, 1, kids, nk,
                                 now_us / 1000, 10000, fwd) == 0) {
                for (size_t i = 0; i < nk; i++)
                    send_msg(msg_new(M_BCAST, id, fwd[i], 0));
                tree_bcast_local_done(nodes[id].bcast, 1, true);
            }
        } else if (m->kind == M_BREPLY) {
            tree_bcast_child_reply(nodes[id].bcast, 1, m->from, &m->tally);
        }
        nd = tree_bcast_poll(nodes[id].bcast, now_us / 1000, d, 2);
        for (int i = 0; i < nd; i++) {
            if (id == TREE_ROOT) {
                end = now_us;
                *reached = d[i].tally.ok;
            } else {
                msg_t *r = msg_new(M_BREPLY, id, nodes[id].parent, 0);
                r->tally = d[i].tally;
                send_msg(r);
            }
        }
        free(m);
    }
    tree_bcast_stats_t st;
    tree_bcast_get_stats(nodes[0].bcast, &st);
    *root_sent = st.sent;
    *root_recv = st.received;
    return end - t0;
}

int main(int argc, char **argv)
{
    if (parse(argc, argv, &O) < 0)
        return 2;
    clock_t c0 = clock();
    tracing = getenv("SIMULATE_TRACE") != NULL;
    unsigned k = O.fanout ? O.fanout
                          : tree_model_fanout(O.engines, O.hop_us,
                                              O.per_msg_us);
    unsigned prefetch = O.prefetch
        ? O.prefetch
        : tree_prefetch_depth((uint64_t)(2 * (O.hop_us + O.per_msg_us)),
                              (uint64_t)(O.mean_ms * 1000), 8);
    build(k, prefetch);

    double work_s = 0;
    uint64_t per = O.tasks / O.jobs;
    for (uint32_t j = 1; j <= O.jobs; j++) {
        uint64_t count = j == O.jobs ? O.tasks - per * (O.jobs - 1) : per;
        for (uint64_t i = 0; i < count; i++)
            work_s += (double)duration_us(j, i) / 1e6;
    }
    double ideal_s = work_s / ((double)O.engines * O.slots);
    double greedy_s = greedy_makespan_s();

    if (O.links)
        beats_start();
    relay_run(TREE_ROOT);
    int64_t makespan = 0;
    while (nheap > 0 && completed < O.tasks) {
        ev_t e = ev_pop();
        now_us = e.t;
        switch (e.type) {
        case EV_END:
            task_end(&e);
            break;
        case EV_MSG:
            if (O.links && e.msg->to == TREE_ROOT)
                root_receive(e.msg);
            else
                deliver(e.msg);
            break;
        case EV_FLUSH:
            flush(e.node, e.index);
            break;
        case EV_WAKE:
            if (O.links && e.node == TREE_ROOT)
                root_pump_request(); /* more to place: another pass */
            else
                relay_run(e.node);
            break;
        case EV_EFLUSH:
            engine_flush(e.node);
            break;
        case EV_BEAT:
            beat(e.node);
            break;
        case EV_COMMIT:
            commit_timer();
            break;
        case EV_PUMP:
            root_pump();
            break;
        }
        if (completed == O.tasks && makespan == 0) {
            makespan = now_us;
            /* The last results' ACK is part of the job's traffic. */
            while (commit_pending && nheap > 0) {
                e = ev_pop();
                now_us = e.t;
                if (e.type == EV_COMMIT)
                    commit_timer();
                else
                    free(e.msg); /* after the job: not counted */
            }
        }
    }
    /* Drop what is left (wake-ups, late steals) before the broadcast. */
    while (nheap > 0) {
        ev_t e = ev_pop();
        free(e.msg);
    }
    for (size_t i = 0; i < ninbox; i++)
        free(inbox[i]);
    free(inbox);
    uint64_t root_msgs = nodes[0].sent + nodes[0].recv;
    if (O.client) {
        /* bench/sim_vs_prod.sh between its two status calls. */
        rt_recv[M_SUBMIT]++, rt_recv[M_WAIT]++, rt_recv[M_QUERY]++;
        rt_recv[M_BYE] += 2;
        rt_sent[M_SUBMITTED]++, rt_sent[M_JOBSTATE]++;
        rt_sent[M_ANSWER]++;
    }
    uint64_t rsent = 0, rrecv = 0;
    for (int t = 0; t < M_KINDS; t++)
        rsent += rt_sent[t], rrecv += rt_recv[t];
    unsigned max_peers = 0;
    uint32_t kids[1024];
    for (uint32_t id = 0; id < nnodes; id++) {
        size_t nk = tree_topo_children(topo, id, kids, 1024);
        unsigned p = nodes[id].up_used;
        for (size_t i = 0; i < nk; i++)
            p += nodes[kids[i]].up_used;
        if (p > max_peers)
            max_peers = p;
    }
    uint64_t bsent, brecv;
    uint32_t reached = 0;
    root_counting = false;
    int64_t bus = broadcast(&bsent, &brecv, &reached);
    double cpu_s = (double)(clock() - c0) / CLOCKS_PER_SEC;
    unsigned depth = tree_topo_depth(topo);
    double ms = (double)makespan / 1e6;

    printf("engines %u on %u hosts, %u slot(s) each; %llu tasks in %u "
           "job(s), exponential mean %.0f ms\n", O.engines, O.hosts, O.slots,
           (unsigned long long)O.tasks, O.jobs, O.mean_ms);
    printf("fanout %u (%s: hop %.0f us, %.1f us per message), depth %u "
           "(D(n,k) = %u), prefetch %u, tick %.1f ms\n", k,
           O.fanout ? "fixed" : "model", O.hop_us, O.per_msg_us, depth,
           tree_depth_for(O.engines, k), prefetch, O.tick_us / 1000.0);
    printf("root messages %llu = %.4f per task; most peers of any node %u\n",
           (unsigned long long)root_msgs, (double)root_msgs / (double)O.tasks,
           max_peers);
    printf("makespan %.2f s, ideal %.2f s (ratio %.4f); one central "
           "scheduler with zero latency: %.2f s (ratio %.4f)\n", ms, ideal_s,
           ms / ideal_s, greedy_s, greedy_s / ideal_s);
    printf("steals %llu, recalls %llu, denied %llu, tasks moved %llu, "
           "errors %llu\n", (unsigned long long)steals,
           (unsigned long long)recalls, (unsigned long long)denies,
           (unsigned long long)stolen_tasks, (unsigned long long)errors);
    printf("broadcast: reached %u engines in %.2f ms (model %.2f ms); root "
           "sent %llu, received %llu\n", reached, bus / 1000.0,
           tree_model_bcast_us(O.engines, k, O.hop_us, O.per_msg_us)
               * 2 / 1000.0,
           (unsigned long long)bsent, (unsigned long long)brecv);
    printf("simulate engines=%u tasks=%llu fanout=%u depth=%u "
           "root_msgs_per_task=%.4f max_peers=%u makespan_s=%.3f "
           "ideal_s=%.3f ratio=%.4f greedy_s=%.3f bcast_root_msgs=%llu bcast_ms=%.3f "
           "errors=%llu cpu_s=%.2f\n", O.engines,
           (unsigned long long)O.tasks, k, depth,
           (double)root_msgs / (double)O.tasks, max_peers, ms, ideal_s,
           ms / ideal_s, greedy_s, (unsigned long long)(bsent + brecv), bus / 1000.0,
           (unsigned long long)errors, cpu_s);

    printf("simulate_root engines=%u fanout=%u slots=%u tasks=%llu "
           "links=%d sent=%llu received=%llu sent_per_task=%.6f "
           "received_per_task=%.6f makespan_ms=%.3f worker_task_halves=%.0f",
           O.engines, k, O.slots,
           (unsigned long long)O.tasks, O.links, (unsigned long long)rsent,
           (unsigned long long)rrecv, (double)rsent / (double)O.tasks,
           (double)rrecv / (double)O.tasks, (double)makespan / 1000.0,
           worker_halves);
    const char *dir[2] = {"sent", "received"};
    const uint64_t *cnt[2] = {rt_sent, rt_recv};
    for (int d = 0; d < 2; d++) {
        printf(" %s_types=", dir[d]);
        const char *sep = "";
        for (int t = 0; t < M_KINDS; t++)
            if (cnt[d][t]) {
                printf("%s%d:%llu", sep, t, (unsigned long long)cnt[d][t]);
                sep = ",";
            }
    }
    printf("\n");

    for (uint32_t id = 0; id < nnodes; id++) {
        free(nodes[id].res);
        tree_relay_destroy(nodes[id].relay);
        tree_bcast_destroy(nodes[id].bcast);
    }
    free(nodes);
    free(job_known);
    free(heap);
    tree_topo_destroy(topo);
    return completed == O.tasks && errors == 0 && reached == O.engines ? 0
                                                                      : 1;
}
