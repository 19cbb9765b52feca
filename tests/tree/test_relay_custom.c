/* SPDX-License-Identifier: MIT */
/* test_relay_custom.c - custom resources in the tree (a relay places a job
 * that needs one on the children whose subtree has it) and the own
 * engine's free slots in the decision to steal.
 *
 * Relays are driven by hand, as in test_relay_wiring.c: the test plays
 * the worker that turns actions into messages.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay_fixture.h"
#include "tap.h"

static res_custom_t custom(const char *name, uint64_t amount)
{
    res_custom_t c;
    memset(&c, 0, sizeof(c));
    snprintf(c.name, sizeof(c.name), "%s", name);
    c.amount = amount;
    return c;
}

static tree_summary_t summary(uint64_t slots)
{
    tree_summary_t s = {(uint32_t)slots, slots, slots * 1000,
                        slots * 2 * GIB, 0};
    return s;
}

static sched_job_t license_job(uint32_t id, uint64_t units)
{
    sched_job_t j = job_def(id, 0);
    j.req.ncustom = 1;
    j.req.custom[0] = custom("license", units);
    return j;
}

static int count(const tree_action_t *act, int n, tree_act_type_t type,
                 uint64_t *what)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        if (act[i].type == type) {
            k++;
            if (what)
                *what = act[i].count;
        }
    return k;
}

/* ------------------------------------------------------------- summing */

static void test_sums(void)
{
    res_custom_t acc[RES_MAX_CUSTOM];
    int n = 0;
    res_custom_t a[2] = {custom("license", 2), custom("fpga", 1)};
    res_custom_t b[2] = {custom("fpga", 3), custom("token", UINT64_MAX)};
    is_int(tree_custom_add(acc, &n, a, 2), 0, "two names added");
    is_int(tree_custom_add(acc, &n, b, 2), 0, "one summed, one appended");
    is_int(tree_custom_add(acc, &n, b + 1, 1), 0, "a saturating sum");
    ok(n == 3 && strcmp(acc[0].name, "license") == 0 && acc[0].amount == 2
           && strcmp(acc[1].name, "fpga") == 0 && acc[1].amount == 4
           && strcmp(acc[2].name, "token") == 0
           && acc[2].amount == UINT64_MAX,
       "summed by name, in the order met");
    is_int(tree_custom_get(acc, n, "fpga"), 4, "get by name");
    is_int(tree_custom_get(acc, n, "none"), 0, "an absent name is 0");

    res_custom_t many[RES_MAX_CUSTOM + 2];
    for (int i = 0; i < RES_MAX_CUSTOM + 2; i++) {
        char name[16];
        snprintf(name, sizeof(name), "r%d", i);
        many[i] = custom(name, 1);
    }
    is_int(tree_custom_add(acc, &n, many, RES_MAX_CUSTOM + 2),
           RES_MAX_CUSTOM + 2 - (RES_MAX_CUSTOM - 3),
           "names beyond RES_MAX_CUSTOM are left out and counted");
    is_int(n, RES_MAX_CUSTOM, "the sum holds RES_MAX_CUSTOM names");

    /* Aggregate positions: old names keep theirs, new ones come after. */
    res_capacity_t old = engine_cap(1, 0), cap = engine_cap(1, 0);
    old.ncustom = 2;
    old.custom[0] = custom("license", 4);
    old.custom[1] = custom("fpga", 2);
    res_custom_t now[2] = {custom("token", 5), custom("license", 3)};
    is_int(tree_aggregate_custom(now, 2, 2, &old, &cap), 0,
           "nothing left out");
    ok(cap.ncustom == 3 && strcmp(cap.custom[0].name, "license") == 0
           && cap.custom[0].amount == 6
           && strcmp(cap.custom[1].name, "fpga") == 0
           && cap.custom[1].amount == 0
           && strcmp(cap.custom[2].name, "token") == 0
           && cap.custom[2].amount == 10,
       "license keeps position 0 (x2), fpga stays with 0, token appended");
    is_int(tree_aggregate_custom(many, RES_MAX_CUSTOM + 2, 1, &old, &cap),
           4, "full: the names without room are counted");
    is_int(cap.ncustom, RES_MAX_CUSTOM, "and the pool has RES_MAX_CUSTOM");
    is_int(tree_aggregate_custom(now, 2, UINT64_MAX, NULL, &cap), 0,
           "a new pool");
    ok(cap.ncustom == 2 && strcmp(cap.custom[0].name, "token") == 0
           && cap.custom[0].amount == UINT64_MAX,
       "a new pool takes the subtree's order; amounts saturate");
}

/* ----------------------------------------------------------- placement */

enum { PLAIN = 1, LIC_ENGINE = 2, PLAIN_SUB = 3, LIC_SUB = 4 };

/* A relay below the root: an engine child without the resource, one with
 * license=1, a relay child whose subtree has none and one whose subtree
 * has license=2 deep down.  Every task that needs a license goes to the
 * licensed engine (exactly, never two at once) or the licensed subtree
 * (never more than its 2 units x prefetch 2 at once), and all end. */
static void test_place(void)
{
    tree_relay_t *r = relay(false);
    res_capacity_t plain = engine_cap(4, 0), lic = engine_cap(4, 0);
    lic.ncustom = 1;
    lic.custom[0] = custom("license", 1);
    tree_summary_t s4 = summary(4);
    ok(tree_relay_add_engine(r, PLAIN, &plain) == 0
           && tree_relay_add_engine(r, LIC_ENGINE, &lic) == 0
           && tree_relay_add_relay(r, PLAIN_SUB, &s4) == 0
           && tree_relay_add_relay(r, LIC_SUB, &s4) == 0,
       "four children");
    res_custom_t two = custom("license", 2);
    ok(tree_relay_set_relay_custom(r, LIC_SUB, &two, 1) == 0,
       "the licensed subtree reports license=2");
    is_int(tree_relay_child_custom_free(r, LIC_SUB, "license"), 4,
           "its aggregate holds 2 x prefetch 2");
    is_int(tree_relay_child_custom_free(r, LIC_ENGINE, "license"), 1,
           "the licensed engine has 1");
    is_int(tree_relay_child_custom_free(r, PLAIN, "license"), 0,
           "the plain engine has none");

    sched_job_t j = license_job(1, 1);
    tree_relay_add_job(r, &j);
    enum { NTASKS = 40 };
    for (uint64_t i = 0; i < NTASKS; i++)
        tree_relay_assign(r, 1, i);

    uint64_t held[5] = {0};     /* by child */
    uint64_t most[5] = {0};
    uint64_t done = 0, wrong = 0, rejected = 0;
    typedef struct { uint64_t index; uint32_t child; } run_t;
    run_t run[NTASKS];
    size_t nrun = 0;
    tree_action_t act[64];
    for (int64_t now = 0; now < 1000 && done < NTASKS; now++) {
        int n = tree_relay_step(r, now, act, 64);
        for (int i = 0; i < n; i++) {
            if (act[i].type == TREE_ACT_REJECT)
                rejected++;
            if (act[i].type != TREE_ACT_ASSIGN)
                continue;
            uint32_t c = act[i].child;
            if (c != LIC_ENGINE && c != LIC_SUB)
                wrong++;
            if (c == LIC_ENGINE && act[i].alloc.custom[0] != 1)
                wrong++; /* the exact allocation names the unit */
            held[c]++;
            if (held[c] > most[c])
                most[c] = held[c];
            run[nrun++] = (run_t){act[i].index, c};
        }
        /* The oldest running task ends. */
        if (nrun > 0) {
            tree_relay_task_done(r, 1, run[0].index, SCHED_OK);
            held[run[0].child]--;
            memmove(run, run + 1, --nrun * sizeof(*run));
            done++;
        }
    }
    is_int(done, NTASKS, "every task ended");
    is_int(wrong, 0, "none went where no license is");
    is_int(rejected, 0, "none was rejected");
    ok(most[LIC_ENGINE] == 1, "never two at once on the licensed engine");
    ok(most[LIC_SUB] >= 1 && most[LIC_SUB] <= 4,
       "the licensed subtree held 1..4 at once (got %llu)",
       (unsigned long long)most[LIC_SUB]);
    is_int(tree_relay_child_custom_free(r, LIC_SUB, "license"), 4,
           "all released");

    /* A new name is appended while the old one keeps its place. */
    sched_job_t k = license_job(2, 1);
    tree_relay_add_job(r, &k);
    tree_relay_assign(r, 2, 0);
    int n = tree_relay_step(r, 2000, act, 64);
    uint32_t where = TREE_NONE;
    for (int i = 0; i < n; i++)
        if (act[i].type == TREE_ACT_ASSIGN)
            where = act[i].child;
    ok(where == LIC_ENGINE || where == LIC_SUB, "job 2's task is placed");
    res_custom_t both[2] = {custom("fpga", 1), custom("license", 3)};
    ok(tree_relay_set_relay_custom(r, LIC_SUB, both, 2) == 0,
       "the subtree gains fpga=1 and a third license");
    is_int(tree_relay_child_custom_free(r, LIC_SUB, "fpga"), 2,
           "fpga x prefetch");
    is_int(tree_relay_child_custom_free(r, LIC_SUB, "license"),
           where == LIC_SUB ? 5 : 6, "license: 3 x 2, less the one held");
    if (where != TREE_NONE)
        tree_relay_task_done(r, 2, 0, SCHED_OK);
    is_int(tree_relay_child_custom_free(r, LIC_SUB, "license"), 6,
           "released against the position it was taken from");

    /* The subtree loses its licenses: nothing more goes there. */
    ok(tree_relay_set_relay_custom(r, LIC_SUB, NULL, 0) == 0,
       "the subtree has no custom resource any more");
    is_int(tree_relay_child_custom_free(r, LIC_SUB, "license"), 0,
           "license is 0 there");
    sched_job_t m = license_job(3, 1);
    tree_relay_add_job(r, &m);
    for (uint64_t i = 0; i < 3; i++)
        tree_relay_assign(r, 3, i);
    n = tree_relay_step(r, 3000, act, 64);
    ok(count(act, n, TREE_ACT_ASSIGN, NULL) == 1
           && act[0].type == TREE_ACT_ASSIGN && act[0].child == LIC_ENGINE,
       "only the licensed engine takes one");

    errno = 0;
    ok(tree_relay_set_relay_custom(r, PLAIN, &two, 1) < 0 && errno == ENOENT,
       "an engine child: ENOENT");
    res_custom_t dup[2] = {custom("a", 1), custom("a", 2)};
    errno = 0;
    ok(tree_relay_set_relay_custom(r, PLAIN_SUB, dup, 2) < 0
           && errno == EINVAL, "a name twice: EINVAL");
    res_custom_t empty = custom("", 1);
    errno = 0;
    ok(tree_relay_set_relay_custom(r, PLAIN_SUB, &empty, 1) < 0
           && errno == EINVAL, "an empty name: EINVAL");
    errno = 0;
    ok(tree_relay_set_relay_custom(r, PLAIN_SUB, &two, RES_MAX_CUSTOM + 1)
           < 0 && errno == EINVAL, "too many: EINVAL");
    tree_relay_destroy(r);
}

/* A job that needs a resource no child has is handed up (below the root)
 * or infeasible (at the root) until a subtree reports it. */
static void test_nowhere(void)
{
    tree_relay_t *r = relay(false);
    tree_summary_t s2 = summary(2);
    tree_relay_add_relay(r, 5, &s2);
    sched_job_t j = license_job(1, 1);
    tree_relay_add_job(r, &j);
    tree_relay_assign(r, 1, 0);
    tree_action_t act[8];
    int n = tree_relay_step(r, 0, act, 8);
    ok(count(act, n, TREE_ACT_REJECT, NULL) == 1
           && count(act, n, TREE_ACT_ASSIGN, NULL) == 0,
       "no subtree has it: the task goes back up (REJECT)");
    tree_relay_destroy(r);

    tree_relay_t *root = relay(true);
    tree_relay_add_relay(root, 5, &s2);
    res_custom_t one = custom("license", 1);
    tree_relay_set_relay_custom(root, 5, &one, 1);
    tree_relay_add_job(root, &j);
    tree_relay_add_tasks(root, 1, 0, 5);
    n = tree_relay_step(root, 0, act, 8);
    ok(n == 2 && act[0].type == TREE_ACT_ASSIGN && act[0].child == 5
           && !act[0].exact && act[1].child == 5,
       "at the root, 1 license x prefetch 2 places 2 on the subtree");
    tree_relay_destroy(root);
}

/* ------------------------------------------------------------ own free */

/* A relay whose children are busy and whose own engine (not one of its
 * engines: its parent places it) is idle asks for work. */
static void test_own_free(void)
{
    tree_relay_t *r = relay(false);
    res_capacity_t one = engine_cap(1, 0);
    tree_relay_add_engine(r, 7, &one);
    tree_relay_add_engine(r, 8, &one);
    sched_job_t j = job_def(1, 0);
    tree_relay_add_job(r, &j);
    tree_relay_assign(r, 1, 0);
    tree_relay_assign(r, 1, 1);
    tree_action_t act[16];
    int n = tree_relay_step(r, 0, act, 16);
    is_int(count(act, n, TREE_ACT_ASSIGN, NULL), 2,
           "both children are busy");
    is_int(count(act, n, TREE_ACT_STEAL, NULL), 0,
           "no free slot: no STEAL");
    n = tree_relay_step(r, 500, act, 16);
    is_int(n, 0, "still nothing (the own engine's slots are not known)");

    tree_relay_set_own_free(r, 2);
    uint64_t want = 0;
    n = tree_relay_step(r, 501, act, 16);
    ok(count(act, n, TREE_ACT_STEAL, &want) == 1 && want == 2,
       "own engine idle with 2 slots: STEAL for 2");
    n = tree_relay_step(r, 502, act, 16);
    is_int(count(act, n, TREE_ACT_STEAL, NULL), 0,
           "one STEAL at a time");
    tree_relay_steal_denied(r, 503);
    n = tree_relay_step(r, 504, act, 16);
    is_int(count(act, n, TREE_ACT_STEAL, NULL), 0,
           "denied: not again within steal_retry_ms");
    n = tree_relay_step(r, 603, act, 16);
    is_int(count(act, n, TREE_ACT_STEAL, NULL), 1,
           "still idle after steal_retry_ms: again");
    tree_relay_steal_denied(r, 604);

    tree_relay_set_own_free(r, 0);
    n = tree_relay_step(r, 800, act, 16);
    is_int(count(act, n, TREE_ACT_STEAL, NULL), 0,
           "own engine busy again: no STEAL");

    /* A child's free slot and the own engine's add up. */
    tree_relay_task_done(r, 1, 0, SCHED_OK);
    tree_relay_set_own_free(r, 1);
    n = tree_relay_step(r, 900, act, 16);
    ok(count(act, n, TREE_ACT_STEAL, &want) == 1 && want == 2,
       "a free child slot + a free own slot: STEAL for 2");
    tree_relay_destroy(r);

    /* The threshold counts the own engine's slots too. */
    tree_relay_config_t cfg;
    tree_relay_config_default(&cfg);
    cfg.steal_min_free = 3;
    tree_relay_t *t = tree_relay_create(&cfg);
    tree_relay_add_engine(t, 7, &one);
    tree_relay_add_job(t, &j);
    tree_relay_assign(t, 1, 0);
    n = tree_relay_step(t, 0, act, 16);
    tree_relay_set_own_free(t, 2);
    n = tree_relay_step(t, 1, act, 16);
    is_int(count(act, n, TREE_ACT_STEAL, NULL), 0,
           "2 free own slots < steal_min_free 3: no STEAL");
    tree_relay_task_done(t, 1, 0, SCHED_OK);
    n = tree_relay_step(t, 2, act, 16);
    is_int(count(act, n, TREE_ACT_STEAL, NULL), 1,
           "1 child slot + 2 own: STEAL");
    tree_relay_destroy(t);
}

int main(void)
{
    plan(NO_PLAN);
    test_sums();
    test_place();
    test_nowhere();
    test_own_free();
    return done_testing();
}
