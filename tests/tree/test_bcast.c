/* SPDX-License-Identifier: MIT */
/* test_bcast.c - broadcast down once per link, one coalesced reply up.
 *
 * A topology of 300 engines (k = 4, with hosts) gets one tree_bcast per
 * node; messages travel through an in-process FIFO and are counted per
 * link.  Every engine must run the broadcast exactly once, every link must
 * carry exactly one message down and one up, and the root must send and
 * receive as many messages as it has children.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "tree/tree.h"

enum { N = 300, K = 4 };

typedef struct msg {
    bool down;
    uint32_t from, to;
    uint64_t id;
    tree_tally_t tally;
} msg_t;

static msg_t fifo[4 * (N + 1)];
static size_t head, tail;
static unsigned down_on[N + 1], up_on[N + 1]; /* by child end of the link */

static void send_msg(msg_t m)
{
    fifo[tail++] = m;
}

/* Finish what node id can finish and send its reply up. */
static void poll_node(tree_topo_t *t, tree_bcast_t **b, uint32_t id,
                      int64_t now, tree_tally_t *root_out, int *root_done)
{
    tree_bcast_done_t d[4];
    int n = tree_bcast_poll(b[id], now, d, 4);
    for (int i = 0; i < n; i++) {
        if (id == TREE_ROOT) {
            *root_out = d[i].tally;
            (*root_done)++;
        } else {
            send_msg((msg_t){false, id, tree_topo_parent(t, id),
                             d[i].bcast_id, d[i].tally});
        }
    }
}

static void deliver_all(tree_topo_t *t, tree_bcast_t **b, int64_t now,
                        uint32_t silent, tree_tally_t *root_out,
                        int *root_done)
{
    while (head < tail) {
        msg_t m = fifo[head++];
        if (m.down) {
            down_on[m.to]++;
            uint32_t kids[K], fwd[K];
            size_t nk = tree_topo_children(t, m.to, kids, K);
            if (tree_bcast_begin(b[m.to], m.id, kids, nk, now, 1000, fwd) < 0)
                continue;
            for (size_t i = 0; i < nk; i++)
                send_msg((msg_t){true, m.to, fwd[i], m.id, {0, 0, 0}});
            if (m.to != silent)
                tree_bcast_local_done(b[m.to], m.id, m.to % 50 != 7);
            if (m.to != silent)
                poll_node(t, b, m.to, now, root_out, root_done);
        } else {
            up_on[m.from]++;
            tree_bcast_child_reply(b[m.to], m.id, m.from, &m.tally);
            poll_node(t, b, m.to, now, root_out, root_done);
        }
    }
}

int main(void)
{
    plan(NO_PLAN);
    tree_topo_t *t = tree_topo_create(K, 1);
    for (int i = 0; i < N; i++) {
        char host[16];
        uint32_t id, parent;
        snprintf(host, sizeof(host), "h%d", i % 40);
        tree_topo_join(t, host, NULL, &id, &parent);
    }
    tree_bcast_t *b[N + 1];
    for (uint32_t i = 0; i <= N; i++)
        b[i] = tree_bcast_create(i != TREE_ROOT, i != TREE_ROOT);

    /* Start at the root. */
    uint32_t kids[K], fwd[K];
    size_t nk = tree_topo_children(t, TREE_ROOT, kids, K);
    ok(tree_bcast_begin(b[0], 1, kids, nk, 0, 1000, fwd) == 0,
       "the root starts a broadcast");
    for (size_t i = 0; i < nk; i++)
        send_msg((msg_t){true, 0, fwd[i], 1, {0, 0, 0}});
    tree_tally_t res = {0, 0, 0};
    int done = 0;
    deliver_all(t, b, 0, TREE_NONE, &res, &done);
    is_int(done, 1, "the root gets one complete answer");
    is_int(res.ok + res.failed, N, "the answer counts every engine");
    is_int(res.failed, 6, "failed engines are counted (6 of 300)");
    is_int(res.missing, 0, "no child is missing");
    bool once = true, links = true;
    for (uint32_t i = 1; i <= N; i++) {
        tree_bcast_stats_t st;
        tree_bcast_get_stats(b[i], &st);
        if (st.runs != 1)
            once = false;
        if (down_on[i] != 1 || up_on[i] != 1)
            links = false;
    }
    ok(once, "every engine ran the broadcast exactly once");
    ok(links, "every link carried one message down and one reply up");
    tree_bcast_stats_t rs;
    tree_bcast_get_stats(b[0], &rs);
    ok(rs.sent == nk && rs.received == nk,
       "the root sent %llu and received %llu messages (k = %zu children)",
       (unsigned long long)rs.sent, (unsigned long long)rs.received, nk);
    uint64_t total = 0;
    for (uint32_t i = 0; i <= N; i++) {
        tree_bcast_stats_t st;
        tree_bcast_get_stats(b[i], &st);
        total += st.sent;
    }
    is_int(total, 2 * N, "the whole tree sent 2 messages per link");

    /* A duplicate delivery is neither forwarded nor run again. */
    uint32_t any = kids[0];
    errno = 0;
    ok(tree_bcast_begin(b[any], 1, NULL, 0, 0, 1000, fwd) < 0
       && errno == EEXIST, "a duplicate of a finished broadcast is refused");

    /* A silent engine: its parent answers at the deadline with it
     * missing, and the broadcast still completes. */
    memset(down_on, 0, sizeof(down_on));
    memset(up_on, 0, sizeof(up_on));
    uint32_t silent = N; /* a leaf: the last to join */
    ok(tree_bcast_begin(b[0], 2, kids, nk, 0, 1000, fwd) == 0,
       "a second broadcast starts");
    for (size_t i = 0; i < nk; i++)
        send_msg((msg_t){true, 0, fwd[i], 2, {0, 0, 0}});
    done = 0;
    deliver_all(t, b, 0, silent, &res, &done);
    is_int(done, 0, "with an engine silent, nothing completes before the "
           "deadline");
    /* The silent engine's parent gives up at the deadline. */
    poll_node(t, b, tree_topo_parent(t, silent), 1000, &res, &done);
    deliver_all(t, b, 1000, silent, &res, &done);
    is_int(done, 1, "at the deadline the root gets one answer");
    is_int(res.ok + res.failed, N - 1, "it counts every other engine");
    is_int(res.missing, 1, "and the silent one as missing");
    tree_tally_t none = {1, 0, 0};
    errno = 0;
    ok(tree_bcast_child_reply(b[0], 99, kids[0], &none) < 0
       && errno == ENOENT, "a reply to an unknown broadcast is refused");

    for (uint32_t i = 0; i <= N; i++)
        tree_bcast_destroy(b[i]);
    tree_topo_destroy(t);
    return done_testing();
}
