/* SPDX-License-Identifier: MIT */
/* test_topo.c - tree topology: balance, depth bound, hosts, removal.
 *
 * The guarantee under test (tree.h): no node above k children; after joins
 * the depth is at most D(n, k) + host_slack, and exactly D(n, k) when no
 * host is named; a removal reports every move, and moves a subtree deeper
 * only when the free places at or above the removed node's depth ran out.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "tree/tree.h"

static uint64_t rng = 0x12345678abcdefULL;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void test_depth_for(void)
{
    is_int(tree_depth_for(0, 2), 0, "D(0) is 0");
    is_int(tree_depth_for(1, 2), 1, "D(1, 2) is 1");
    is_int(tree_depth_for(2, 2), 1, "D(2, 2) is 1: two children of the root");
    is_int(tree_depth_for(3, 2), 2, "D(3, 2) is 2");
    is_int(tree_depth_for(6, 2), 2, "D(6, 2) is 2 (2 + 4)");
    is_int(tree_depth_for(7, 2), 3, "D(7, 2) is 3");
    is_int(tree_depth_for(10000, 10), 4, "D(10000, 10) is 4");
    is_int(tree_depth_for(10000, 1024), 2, "D(10000, 1024) is 2");
    is_int(tree_depth_for(UINT64_MAX, 2), 64,
           "D saturates instead of overflowing");
    bool le = true;
    for (unsigned k = 2; k <= 8; k++)
        for (uint64_t n = 2; n <= 10000; n++) {
            unsigned c = (unsigned)ceil(log((double)n) / log((double)k)
                                        - 1e-9);
            if (tree_depth_for(n, k) > c)
                le = false;
        }
    ok(le, "D(n, k) <= ceil(log_k n) for n in 2..10000, k in 2..8");
}

/* Check parent links, depths and fanout of every live node. */
static bool consistent(const tree_topo_t *t, unsigned k)
{
    uint32_t lim = tree_topo_id_limit(t);
    uint32_t kids[1024];
    size_t count = 0;
    for (uint32_t id = 0; id < lim; id++) {
        if (!tree_topo_has(t, id))
            continue;
        count++;
        size_t n = tree_topo_children(t, id, kids, 1024);
        if (n > k)
            return false;
        for (size_t i = 0; i < n; i++)
            if (tree_topo_parent(t, kids[i]) != id
                || tree_topo_node_depth(t, kids[i])
                       != tree_topo_node_depth(t, id) + 1)
                return false;
        if (id != TREE_ROOT) {
            uint32_t p = tree_topo_parent(t, id);
            if (!tree_topo_has(t, p))
                return false;
        }
    }
    return count == tree_topo_count(t) + 1;
}

/* Parent links and depths (any number of children). */
static bool consistent_k(const tree_topo_t *t)
{
    return consistent(t, TREE_FANOUT_MAX);
}

static void test_balance_no_hosts(void)
{
    for (unsigned k = 2; k <= 8; k++) {
        tree_topo_t *t = tree_topo_create(k, 1);
        bool exact = true, fan = true;
        unsigned maxd = 0;
        for (uint32_t n = 1; n <= 10000; n++) {
            uint32_t id, parent;
            if (tree_topo_join(t, NULL, NULL, &id, &parent) < 0) {
                exact = false;
                break;
            }
            unsigned d = (unsigned)tree_topo_node_depth(t, id);
            if (d > maxd)
                maxd = d;
            if (maxd != tree_depth_for(n, k))
                exact = false;
            if (tree_topo_children(t, parent, NULL, 0) > k)
                fan = false;
        }
        ok(exact, "k=%u, no hosts: depth == D(n, k) after every join up "
           "to 10000", k);
        ok(fan && tree_topo_max_children(t) == k,
           "k=%u: no node has more than k children", k);
        ok(consistent(t, k), "k=%u: parent links and depths agree", k);
        tree_topo_destroy(t);
    }
}

/* Is there a node of host h with room and depth <= maxd (other than in
 * the test's view: scan all nodes)? */
static bool host_has_room(const tree_topo_t *t, const char *h, unsigned k,
                          int maxd)
{
    uint32_t lim = tree_topo_id_limit(t);
    for (uint32_t id = 1; id < lim; id++)
        if (tree_topo_has(t, id) && strcmp(tree_topo_host(t, id), h) == 0
            && tree_topo_children(t, id, NULL, 0) < k
            && tree_topo_node_depth(t, id) <= maxd)
            return true;
    return false;
}

static void test_hosts(void)
{
    enum { HOSTS = 500, PER = 20, N = HOSTS * PER };
    uint32_t *order = malloc(N * sizeof(*order));
    for (uint32_t i = 0; i < N; i++)
        order[i] = i;
    for (uint32_t i = N - 1; i > 0; i--) {
        uint32_t j = (uint32_t)(next_rand() % (i + 1));
        uint32_t x = order[i];
        order[i] = order[j];
        order[j] = x;
    }
    for (unsigned k = 2; k <= 8; k++) {
        tree_topo_t *t = tree_topo_create(k, 1);
        bool bound = true, fan = true, affinity = true;
        size_t local = 0;
        uint32_t first_of[HOSTS];
        for (int h = 0; h < HOSTS; h++)
            first_of[h] = TREE_NONE;
        unsigned maxd = 0;
        /* The affinity rule is checked on a sample (it costs a scan). */
        for (uint32_t n = 1; n <= N; n++) {
            uint32_t eng = order[n - 1], h = eng / PER;
            char host[32];
            snprintf(host, sizeof(host), "host%u", h);
            int limit = (int)(tree_depth_for(n, k) + 1) - 1;
            bool could = n % 97 == 0 && first_of[h] != TREE_NONE
                         && host_has_room(t, host, k, limit);
            uint32_t id, parent;
            tree_topo_join(t, host, NULL, &id, &parent);
            if (first_of[h] == TREE_NONE)
                first_of[h] = id;
            unsigned d = (unsigned)tree_topo_node_depth(t, id);
            if (d > maxd)
                maxd = d;
            if (maxd > tree_depth_for(n, k) + 1)
                bound = false;
            if (tree_topo_children(t, parent, NULL, 0) > k)
                fan = false;
            bool same = strcmp(tree_topo_host(t, parent), host) == 0;
            local += same;
            if (could && !same)
                affinity = false;
        }
        ok(bound, "k=%u, 500 hosts x 20 in random order: depth <= "
           "D(n, k) + 1 after every join (final %u, D %u)", k, maxd,
           tree_depth_for(N, k));
        ok(fan, "k=%u, hosts: no node above k children", k);
        ok(affinity, "k=%u: an engine joins its own host's node whenever "
           "one has room within the depth bound", k);
        diag("k=%u: %zu of %d engines hang off a node of their host", k,
             local, N);
        bool relay = true;
        for (uint32_t id = 1; id <= N; id++) {
            uint32_t h = (uint32_t)atoi(tree_topo_host(t, id) + 4);
            if (tree_topo_host_relay(t, id) != first_of[h])
                relay = false;
        }
        ok(relay, "k=%u: a host's relay is its first engine", k);
        tree_topo_destroy(t);
    }
    free(order);

    /* Engines of one host joining one after the other: all but the first
     * hang below the first (k = 8: the relay takes 8, the 9th goes below a
     * sibling of the same host). */
    tree_topo_t *t = tree_topo_create(8, 1);
    uint32_t id, parent, relay = 0;
    bool below = true;
    for (int i = 0; i < 9; i++) {
        tree_topo_join(t, "solo", NULL, &id, &parent);
        if (i == 0)
            relay = id;
        else if (i < 9 && parent != relay)
            below = false;
    }
    ok(below, "the first engine of a host is its relay; the next ones "
       "join it while it has room");
    tree_topo_join(t, "solo", NULL, &id, &parent);
    ok(parent != TREE_ROOT && strcmp(tree_topo_host(t, parent), "solo") == 0,
       "a full host relay passes the next engine to a node of its host");
    tree_topo_join(t, "other", NULL, &id, &parent);
    is_int(parent, TREE_ROOT, "the first engine of another host goes to the "
           "shallowest node with room (the root)");
    tree_topo_destroy(t);
}

static void test_remove(void)
{
    tree_topo_t *t = tree_topo_create(4, 1);
    uint32_t id, parent;
    for (int i = 0; i < 1000; i++) {
        char host[32];
        snprintf(host, sizeof(host), "h%d", (int)(next_rand() % 250));
        tree_topo_join(t, host, NULL, &id, &parent);
    }
    unsigned depth0 = tree_topo_depth(t);
    tree_move_t moves[8];
    size_t nm;
    errno = 0;
    ok(tree_topo_remove(t, TREE_ROOT, moves, 8, &nm) < 0 && errno == ENOENT,
       "the root cannot be removed (ENOENT)");
    ok(tree_topo_remove(t, 99999, moves, 8, &nm) < 0 && errno == ENOENT,
       "an unknown node cannot be removed (ENOENT)");

    bool good = true, first_takes_place = true, not_deeper = true;
    int removed = 0;
    for (int round = 0; round < 300; round++) {
        uint32_t lim = tree_topo_id_limit(t);
        uint32_t x = 1 + (uint32_t)(next_rand() % (lim - 1));
        if (!tree_topo_has(t, x))
            continue;
        uint32_t kids[8];
        size_t nk = tree_topo_children(t, x, kids, 8);
        int old_depth[8];
        for (size_t i = 0; i < nk; i++)
            old_depth[i] = tree_topo_node_depth(t, kids[i]);
        uint32_t xp = tree_topo_parent(t, x);
        /* Free child slots at X's depth or above (X aside): orphans
         * after the first take these before going deeper. */
        int xd = tree_topo_node_depth(t, x);
        size_t room = 0;
        for (uint32_t o = 0; o < lim; o++)
            if (o != x && tree_topo_has(t, o)
                && tree_topo_node_depth(t, o) <= xd)
                room += 4 - tree_topo_children(t, o, NULL, 0);
        if (tree_topo_remove(t, x, moves, 8, &nm) < 0) {
            good = false;
            break;
        }
        removed++;
        if (nm != nk)
            good = false;
        size_t deeper = 0;
        for (size_t i = 0; i < nm && i < nk; i++) {
            if (moves[i].node != kids[i] || moves[i].old_parent != x
                || tree_topo_parent(t, kids[i]) != moves[i].new_parent)
                good = false;
            if (tree_topo_node_depth(t, kids[i]) > old_depth[i])
                deeper++;
        }
        if (nk > 1 && deeper > (nk - 1 > room ? nk - 1 - room : 0))
            not_deeper = false;
        if (nm > 0 && moves[0].new_parent != xp)
            first_takes_place = false;
        if (tree_topo_has(t, x))
            good = false;
        if (!consistent(t, 4))
            good = false;
    }
    ok(good, "%d removals: every orphan is reported, reattached, and the "
       "tree stays consistent with at most k children", removed);
    ok(first_takes_place, "the first child takes the removed node's place "
       "under its parent");
    ok(not_deeper, "a reattached node goes deeper than before only when "
       "the free places at or above the removed node's depth ran out");
    diag("depth %u before removals, %u after", depth0, tree_topo_depth(t));
    is_int(tree_topo_count(t), 1000 - removed, "the count follows removals");
    for (int i = 0; i < 500; i++)
        tree_topo_join(t, "late", NULL, &id, &parent);
    ok(consistent(t, 4) && tree_topo_max_children(t) <= 4,
       "joins after removals still respect the fanout");

    /* A relay with k children removed from a small full tree. */
    tree_topo_t *s = tree_topo_create(2, 0);
    for (int i = 0; i < 6; i++)
        tree_topo_join(s, NULL, NULL, &id, &parent);
    /* nodes 1, 2 under the root; 3, 4 under 1; 5, 6 under 2 */
    ok(tree_topo_remove(s, 1, moves, 8, &nm) == 0 && nm == 2,
       "removing a relay with two children reports two moves");
    ok(moves[0].node == 3 && moves[0].new_parent == TREE_ROOT,
       "its first child takes its place under the root");
    ok(tree_topo_parent(s, 4) == 3,
       "its second child goes to the shallowest node with room");
    ok(consistent(s, 2), "the small tree stays consistent");
    tree_topo_destroy(s);
    tree_topo_destroy(t);
}

/* The shallowest attached node with fewer than k children, lowest id among
 * equals (by scanning): where a join without a host must go. */
static uint32_t shallowest_room(const tree_topo_t *t, unsigned k)
{
    uint32_t best = TREE_NONE;
    int bd = 0;
    for (uint32_t id = 0; id < tree_topo_id_limit(t); id++) {
        if (!tree_topo_has(t, id) || tree_topo_children(t, id, NULL, 0) >= k)
            continue;
        int d = tree_topo_node_depth(t, id);
        if (best == TREE_NONE || d < bd) {
            best = id;
            bd = d;
        }
    }
    return best;
}

/* Random joins and removals with k lowered and raised midway.  Checked
 * after every operation: a node that gained a child (a new node, or one
 * whose parent changed) has at most k children; a join lands within
 * D(n, k) + slack, and exactly on the shallowest room when it names no
 * host; set_fanout moves nobody. */
static void test_set_fanout(void)
{
    enum { LIMIT = 6000 };
    static uint32_t before[LIMIT];
    static size_t nkids[LIMIT];
    static const unsigned ks[] = {6, 2, 9, 3, 16, 4};
    tree_topo_t *t = tree_topo_create(ks[0], 1);
    bool gain_ok = true, join_ok = true, shallow_ok = true, still = true;
    bool over_seen = false, since_ok = true;
    int regained = 0;
    int joins = 0, removals = 0;
    for (size_t phase = 0; phase < sizeof(ks) / sizeof(ks[0]); phase++) {
        unsigned k = ks[phase];
        uint32_t lim = tree_topo_id_limit(t);
        for (uint32_t id = 0; id < lim; id++)
            before[id] = tree_topo_parent(t, id);
        if (phase > 0 && tree_topo_set_fanout(t, k) < 0)
            still = false;
        for (uint32_t id = 0; id < lim; id++)
            if (tree_topo_parent(t, id) != before[id])
                still = false;
        if (tree_topo_fanout(t) != k)
            still = false;
        if (tree_topo_max_children(t) > k)
            over_seen = true;
        bool grew = phase > 0 && k > ks[phase - 1];
        /* Joins only for a while, then joins and removals mixed. */
        uint32_t first_new = tree_topo_id_limit(t);
        for (int op = 0; op < 800; op++) {
            bool only_joins = op < 300;
            lim = tree_topo_id_limit(t);
            for (uint32_t id = 0; id < lim; id++) {
                before[id] = tree_topo_parent(t, id);
                nkids[id] = tree_topo_children(t, id, NULL, 0);
            }
            uint64_t r = next_rand();
            if (!only_joins && r % 3 == 0 && tree_topo_count(t) > 0) {
                uint32_t x = 1 + (uint32_t)(next_rand() % (lim - 1));
                if (!tree_topo_has(t, x))
                    continue;
                size_t nm;
                if (tree_topo_remove(t, x, NULL, 0, &nm) < 0)
                    gain_ok = false;
                removals++;
            } else {
                char host[32];
                bool named = r % 4 != 0;
                snprintf(host, sizeof(host), "h%u",
                         (unsigned)(next_rand() % 300));
                uint32_t want = named ? TREE_NONE : shallowest_room(t, k);
                uint32_t id, parent;
                if (tree_topo_join(t, named ? host : NULL, NULL, &id,
                                   &parent) < 0) {
                    join_ok = false;
                    break;
                }
                joins++;
                unsigned d = (unsigned)tree_topo_node_depth(t, id);
                if (d > tree_depth_for(tree_topo_count(t), k) + 1)
                    join_ok = false;
                if (!named && parent != want)
                    shallow_ok = false;
                if (!named && grew && nkids[parent] >= ks[phase - 1])
                    regained++;
            }
            if (tree_topo_id_limit(t) >= LIMIT)
                break;
            for (uint32_t id = 1; id < tree_topo_id_limit(t); id++) {
                if (!tree_topo_has(t, id))
                    continue;
                uint32_t p = tree_topo_parent(t, id);
                if ((id >= lim || before[id] != p)
                    && tree_topo_children(t, p, NULL, 0) > k)
                    gain_ok = false;
            }
            /* Joins only since the change: those nodes are in bound. */
            if (only_joins)
                for (uint32_t id = first_new; id < tree_topo_id_limit(t);
                     id++)
                    if ((unsigned)tree_topo_node_depth(t, id)
                        > tree_depth_for(tree_topo_count(t), k) + 1)
                        since_ok = false;
        }
        if (!consistent(t, TREE_FANOUT_MAX))
            gain_ok = false;
    }
    ok(still, "set_fanout moves no node and the new k is reported");
    ok(over_seen, "after a shrink some node has more than k children");
    ok(gain_ok, "%d joins, %d removals over k = 6, 2, 9, 3, 16, 4: every "
       "node that gained a child has at most k", joins, removals);
    ok(join_ok, "every join lands within D(n, k) + 1 of its moment");
    ok(shallow_ok, "a join without a host lands on the shallowest room "
       "(lowest id among equals)");
    ok(regained > 0, "after a growth, nodes that were full take joins "
       "again (%d joins went to regained room)", regained);
    ok(since_ok, "with joins only since a change, the nodes that joined "
       "since are within D(n, k) + 1");

    /* Small cases, exact. */
    tree_topo_t *s = tree_topo_create(4, 0);
    uint32_t id, parent;
    for (int i = 0; i < 4; i++)
        tree_topo_join(s, NULL, NULL, &id, &parent);
    ok(tree_topo_set_fanout(s, 2) == 0, "k 4 -> 2");
    is_int(tree_topo_children(s, TREE_ROOT, NULL, 0), 4,
           "the root keeps its 4 children");
    tree_topo_join(s, NULL, NULL, &id, &parent);
    is_int(parent, 1, "the next join goes below the first child, not the "
           "root");
    tree_move_t mv[4];
    size_t nm;
    tree_topo_join(s, NULL, NULL, &id, &parent); /* 6 under 1 */
    tree_topo_remove(s, 1, mv, 4, &nm);
    ok(nm == 2 && mv[0].new_parent != TREE_ROOT,
       "a removal does not put the first orphan under a root over k");
    is_int(tree_topo_children(s, TREE_ROOT, NULL, 0), 3,
           "the root went down to 3 children");
    tree_topo_remove(s, 2, mv, 4, &nm);
    tree_topo_join(s, NULL, NULL, &id, &parent);
    ok(parent != TREE_ROOT, "at 2 children (= k) the root still takes none");
    ok(tree_topo_set_fanout(s, 5) == 0, "k 2 -> 5");
    tree_topo_join(s, NULL, NULL, &id, &parent);
    is_int(parent, TREE_ROOT, "after the growth the root has room again");
    errno = 0;
    ok(tree_topo_set_fanout(s, 1) < 0 && errno == EINVAL,
       "k = 1 is refused (EINVAL)");
    errno = 0;
    ok(tree_topo_set_fanout(s, 1025) < 0 && errno == EINVAL,
       "k = 1025 is refused (EINVAL)");
    is_int(tree_topo_fanout(s), 5, "a refused k changes nothing");
    ok(tree_topo_set_fanout(s, TREE_FANOUT_MIN) == 0
       && tree_topo_set_fanout(s, TREE_FANOUT_MAX) == 0,
       "k = 2 and k = 1024 are accepted");
    ok(consistent(s, TREE_FANOUT_MAX), "the small tree stays consistent");
    tree_topo_destroy(s);
    tree_topo_destroy(t);
}

/* After a restart of the root: nodes come back with their ids (attach),
 * at their real parents; joins never give an id given before. */
static void test_attach(void)
{
    tree_topo_t *t = tree_topo_create(2, 1);
    ok(tree_topo_reserve(t, 20) == 0 && tree_topo_id_limit(t) == 20,
       "reserve moves the id limit");
    ok(tree_topo_id_free(t, 5) && !tree_topo_id_free(t, TREE_ROOT)
       && !tree_topo_id_free(t, TREE_NONE), "reserved ids are free");
    uint32_t placed = 0;
    /* Old tree: 3 below the root, 7 and 9 below 3, 4 below 7 and 12, 13
     * below 4 (4 has three: its k was higher then). */
    ok(tree_topo_attach(t, 3, TREE_NONE, "h", NULL, &placed) == 0
       && placed == TREE_ROOT, "a returning node with no parent given is "
       "placed as a join (the root has room)");
    ok(tree_topo_attach(t, 7, 3, NULL, NULL, NULL) == 0
       && tree_topo_attach(t, 9, 3, NULL, NULL, NULL) == 0
       && tree_topo_attach(t, 4, 7, NULL, NULL, NULL) == 0,
       "children attach at their ids below their real parents");
    bool all = true;
    for (uint32_t c = 12; c <= 14; c++)
        all = all && tree_topo_attach(t, c, 4, NULL, NULL, NULL) == 0;
    ok(all, "a parent takes announced children beyond k");
    is_int(tree_topo_parent(t, 4), 7, "4 hangs below 7");
    is_int(tree_topo_node_depth(t, 4), 3, "at depth 3");
    is_int(tree_topo_node_depth(t, 14), 4, "its children at depth 4");
    is_int((int)tree_topo_children(t, 4, NULL, 0), 3, "4 has three children");
    is_int((int)tree_topo_count(t), 7, "seven nodes");
    errno = 0;
    ok(tree_topo_attach(t, 7, 3, NULL, NULL, NULL) < 0 && errno == EEXIST,
       "an id in use is refused (EEXIST)");
    errno = 0;
    ok(tree_topo_attach(t, 5, 6, NULL, NULL, NULL) < 0 && errno == ENOENT,
       "an unknown parent is refused (ENOENT)");
    ok(tree_topo_id_free(t, 5), "... and the id stays free");
    errno = 0;
    ok(tree_topo_attach(t, TREE_ROOT, 3, NULL, NULL, NULL) < 0
       && errno == EINVAL, "the root's id is refused (EINVAL)");
    errno = 0;
    ok(tree_topo_attach(t, TREE_NODE_ID_MAX, 3, NULL, NULL, NULL) < 0
       && errno == EINVAL, "an id past the bound is refused (EINVAL)");
    /* Joins: fresh ids from 20 on, never below a full node. */
    uint32_t id, parent;
    bool fresh = true, room = true;
    for (int i = 0; i < 10; i++) {
        size_t before;
        if (tree_topo_join(t, NULL, NULL, &id, &parent) < 0) {
            fresh = false;
            break;
        }
        before = tree_topo_children(t, parent, NULL, 0) - 1;
        fresh = fresh && id >= 20 + (uint32_t)i - 0 && id == 20 + (uint32_t)i;
        room = room && before < 2 && parent != 4;
    }
    ok(fresh, "joins get fresh ids above the reservation, in order");
    ok(room, "joins go to parents with fewer than k children, never to "
       "the one over k");
    ok(consistent_k(t), "the tree is consistent");
    /* An attach past the limit raises it: joins stay above. */
    ok(tree_topo_attach(t, 40, 9, NULL, NULL, NULL) == 0
       && tree_topo_id_limit(t) == 41, "an attach past the limit raises it");
    ok(tree_topo_id_free(t, 35), "ids skipped on the way stay free");
    ok(tree_topo_join(t, NULL, NULL, &id, &parent) == 0 && id == 41,
       "the next join is above every id seen");
    /* Removing an attached node moves its children as for any node. */
    tree_move_t mv[8];
    size_t nm = 0;
    ok(tree_topo_remove(t, 4, mv, 8, &nm) == 0 && nm == 3,
       "removing a node with announced children moves them all");
    ok(!tree_topo_id_free(t, 4)
       && tree_topo_attach(t, 4, 3, NULL, NULL, NULL) < 0 && errno == EEXIST,
       "a removed id is not free again");
    ok(consistent_k(t), "still consistent");
    ok(tree_topo_reserve(t, 10) == 0 && tree_topo_id_limit(t) == 42,
       "reserve never lowers the limit");
    errno = 0;
    ok(tree_topo_reserve(t, TREE_NODE_ID_MAX + 1) < 0 && errno == EINVAL,
       "a reservation past the bound is refused");
    tree_topo_destroy(t);
}

static void test_errors(void)
{
    errno = 0;
    ok(!tree_topo_create(1, 0) && errno == EINVAL, "fanout 1 is refused");
    ok(!tree_topo_create(1025, 0) && errno == EINVAL,
       "fanout above 1024 is refused");
    ok(!tree_topo_create(4, 2) && errno == EINVAL, "host slack 2 is refused");
    tree_topo_t *t = tree_topo_create(3, 0);
    tree_summary_t cap = {1, 4, 4000, 1 << 30, 1};
    uint32_t id, parent;
    tree_topo_join(t, "a", &cap, &id, &parent);
    ok(tree_topo_cap(t, id)->slots == 4, "a node keeps its capacity");
    is_int(tree_topo_parent(t, TREE_ROOT), TREE_NONE, "the root has no parent");
    is_str(tree_topo_host(t, id), "a", "a node keeps its host");
    tree_topo_destroy(t);
}

int main(void)
{
    plan(NO_PLAN);
    test_depth_for();
    test_balance_no_hosts();
    test_hosts();
    test_remove();
    test_set_fanout();
    test_attach();
    test_errors();
    return done_testing();
}
