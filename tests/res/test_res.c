/* SPDX-License-Identifier: MIT */
/* test_res.c - allocation rules of res: each dimension, slot identities,
 * GPU choice and packing, holds, explanations and parsing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "res/res.h"
#include "tap.h"

#define GIB (UINT64_C(1) << 30)

static res_capacity_t base_cap(uint32_t slots, int ngpus)
{
    res_capacity_t c;
    memset(&c, 0, sizeof(c));
    c.slots = slots;
    c.cpus_milli = 8000;
    c.mem_bytes = 16 * GIB;
    c.ngpus = ngpus;
    for (int i = 0; i < ngpus; i++) {
        c.gpus[i].index = i;
        c.gpus[i].mem_total_bytes = 16 * GIB;
    }
    return c;
}

static res_request_t one_slot(void)
{
    res_request_t r;
    memset(&r, 0, sizeof(r));
    r.slots = 1;
    return r;
}

static void test_slots(void)
{
    res_capacity_t c = base_cap(3, 0);
    res_pool_t *p = res_pool_create(&c);
    res_request_t r = one_slot();
    res_alloc_t a[4];
    ok(res_pool_acquire(p, &r, &a[0]) == 0 && a[0].slot == 1,
       "first task gets slot 1");
    ok(res_pool_acquire(p, &r, &a[1]) == 0 && a[1].slot == 2,
       "second task gets slot 2");
    ok(res_pool_acquire(p, &r, &a[2]) == 0 && a[2].slot == 3,
       "third task gets slot 3");
    errno = 0;
    ok(res_pool_acquire(p, &r, &a[3]) < 0 && errno == EAGAIN,
       "a fourth task on 3 slots waits (EAGAIN)");
    is_int(res_pool_running(p), 3, "three tasks are running");
    res_pool_release(p, &a[1]);
    ok(res_pool_acquire(p, &r, &a[3]) == 0 && a[3].slot == 2,
       "the freed slot 2 is handed out again ({%%} reuse)");
    res_pool_release(p, &a[0]);
    res_pool_release(p, &a[2]);
    ok(res_pool_acquire(p, &r, &a[0]) == 0 && a[0].slot == 1,
       "the lowest free slot number is handed out first");
    res_pool_release(p, &a[0]);
    res_pool_release(p, &a[3]);
    is_int(res_pool_running(p), 0, "all released");

    res_request_t two = one_slot();
    two.slots = 2;
    ok(res_pool_acquire(p, &two, &a[0]) == 0 && a[0].slot == 1
       && a[0].slots == 2, "a two-slot task counts two slots");
    errno = 0;
    ok(res_pool_acquire(p, &two, &a[1]) < 0 && errno == EAGAIN,
       "a second two-slot task does not fit in the one slot left");
    ok(res_pool_acquire(p, &r, &a[1]) == 0 && a[1].slot == 2,
       "a one-slot task takes the slot left");
    res_pool_release(p, &a[0]);
    res_pool_release(p, &a[1]);
    two.slots = 4;
    errno = 0;
    ok(res_pool_acquire(p, &two, &a[0]) < 0 && errno == ENOSPC,
       "four slots on a 3-slot engine can never fit (ENOSPC)");
    res_pool_destroy(p);

    /* Many slots: identities past one bitmap word. */
    c = base_cap(200, 0);
    p = res_pool_create(&c);
    res_alloc_t *many = calloc(200, sizeof(*many));
    bool seq = true;
    for (uint32_t i = 0; i < 200; i++)
        seq &= res_pool_acquire(p, &r, &many[i]) == 0
               && many[i].slot == i + 1;
    ok(seq, "200 tasks get slots 1..200 in order");
    res_pool_release(p, &many[130]);
    res_pool_release(p, &many[70]);
    res_alloc_t x;
    ok(res_pool_acquire(p, &r, &x) == 0 && x.slot == 71,
       "after freeing 131 and 71, slot 71 comes first");
    many[70] = x;
    ok(res_pool_acquire(p, &r, &x) == 0 && x.slot == 131,
       "then slot 131");
    many[130] = x;
    for (int i = 0; i < 200; i++)
        res_pool_release(p, &many[i]);
    is_int(res_pool_running(p), 0, "200 released");
    free(many);
    res_pool_destroy(p);
}

static void test_cpus_mem(void)
{
    res_capacity_t c = base_cap(10, 0);
    res_pool_t *p = res_pool_create(&c);
    res_request_t r = one_slot();
    r.cpus_milli = 2500;
    res_alloc_t a[4];
    ok(res_pool_acquire(p, &r, &a[0]) == 0, "2.5 cpus of 8");
    ok(res_pool_acquire(p, &r, &a[1]) == 0, "5 cpus of 8");
    ok(res_pool_acquire(p, &r, &a[2]) == 0, "7.5 cpus of 8");
    errno = 0;
    ok(res_pool_acquire(p, &r, &a[3]) < 0 && errno == EAGAIN,
       "10 cpus of 8 must wait");
    char buf[160];
    is_str(res_pool_explain(p, &r, buf, sizeof(buf)),
           "cpus: needs 2.5 free, 0.5 of 8 free", "cpu shortfall explained");
    res_pool_release(p, &a[2]);
    res_pool_release(p, &a[1]);
    res_pool_release(p, &a[0]);

    res_request_t m = one_slot();
    m.mem_bytes = 6 * GIB;
    ok(res_pool_acquire(p, &m, &a[0]) == 0, "6G of 16G");
    ok(res_pool_acquire(p, &m, &a[1]) == 0, "12G of 16G");
    errno = 0;
    ok(res_pool_acquire(p, &m, &a[2]) < 0 && errno == EAGAIN,
       "18G of 16G must wait");
    is_str(res_pool_explain(p, &m, buf, sizeof(buf)),
           "mem: needs 6G free, 4G of 16G free", "memory shortfall explained");
    m.mem_bytes = 32 * GIB;
    errno = 0;
    ok(res_pool_acquire(p, &m, &a[2]) < 0 && errno == ENOSPC,
       "32G on a 16G engine can never fit");
    banyan_error_t err;
    ok(!res_pool_fits_ever(p, &m, &err), "fits_ever refuses 32G");
    is_str(err.text, "needs 32G mem, engine has 16G", "and names it");
    is_str(res_pool_explain(p, &m, buf, sizeof(buf)),
           "needs 32G mem, engine has 16G", "explain gives the same text");
    res_pool_release(p, &a[0]);
    res_pool_release(p, &a[1]);
    res_pool_destroy(p);
}

static void test_mem_reserve(void)
{
    res_capacity_t c = base_cap(10, 0);
    c.mem_reserve_bytes = 2 * GIB;
    res_pool_t *p = res_pool_create(&c);
    res_request_t r = one_slot();
    res_alloc_t a, b;
    ok(res_pool_acquire(p, &r, &a) == 0,
       "without a host memory report, a mem=0 task is admitted");
    res_pool_set_host_mem(p, 1 * GIB);
    errno = 0;
    ok(res_pool_acquire(p, &r, &b) < 0 && errno == EAGAIN,
       "with 1G available and a 2G reserve, a mem=0 task waits");
    char buf[160];
    is_str(res_pool_explain(p, &r, buf, sizeof(buf)),
           "mem: host has 1G available, below the 2G reserve for tasks "
           "without a mem request", "the reserve rule is explained");
    res_request_t m = one_slot();
    m.mem_bytes = GIB;
    ok(res_pool_acquire(p, &m, &b) == 0,
       "a task with a mem request is not held back by the reserve");
    res_pool_release(p, &b);
    res_pool_set_host_mem(p, 2 * GIB);
    ok(res_pool_acquire(p, &r, &b) == 0,
       "with exactly the reserve available, a mem=0 task is admitted");
    res_pool_release(p, &a);
    res_pool_release(p, &b);
    res_pool_destroy(p);
}

static void test_custom(void)
{
    res_capacity_t c = base_cap(10, 0);
    c.ncustom = 1;
    strcpy(c.custom[0].name, "license");
    c.custom[0].amount = 2;
    res_pool_t *p = res_pool_create(&c);
    res_request_t r = one_slot();
    banyan_error_t err;
    ok(res_request_add_custom(&r, "license=1", &err) == 0,
       "license=1 parses");
    res_alloc_t a[3];
    ok(res_pool_acquire(p, &r, &a[0]) == 0 && a[0].custom[0] == 1,
       "first license taken");
    ok(res_pool_acquire(p, &r, &a[1]) == 0, "second license taken");
    errno = 0;
    ok(res_pool_acquire(p, &r, &a[2]) < 0 && errno == EAGAIN,
       "a third license must wait");
    char buf[160];
    is_str(res_pool_explain(p, &r, buf, sizeof(buf)),
           "license: needs 1 free, 0 of 2 free", "custom shortfall explained");
    res_pool_release(p, &a[0]);
    ok(res_pool_acquire(p, &r, &a[2]) == 0, "a released license is reused");
    res_pool_release(p, &a[1]);
    res_pool_release(p, &a[2]);

    res_request_t o = one_slot();
    res_request_add_custom(&o, "matlab=1", NULL);
    errno = 0;
    ok(res_pool_acquire(p, &o, &a[0]) < 0 && errno == ENOSPC,
       "a resource the engine does not have can never fit");
    ok(!res_pool_fits_ever(p, &o, &err), "fits_ever says so");
    is_str(err.text, "needs matlab=1, engine has no matlab",
           "and names the missing resource");
    res_request_t big = one_slot();
    res_request_add_custom(&big, "license=3", NULL);
    ok(!res_pool_fits_ever(p, &big, &err)
       && strcmp(err.text, "needs license=3, engine has license=2") == 0,
       "3 licenses of 2 never fit: %s", err.text);

    /* Parsing. */
    ok(res_request_add_custom(&r, "license=2", &err) < 0 && errno == EINVAL,
       "a name given twice is refused");
    ok(strstr(err.text, "twice") != NULL, "with a sentence: %s", err.text);
    res_request_t q;
    memset(&q, 0, sizeof(q));
    ok(res_request_add_custom(&q, "license", &err) < 0 && errno == EINVAL,
       "a spec without '=' is refused: %s", err.text);
    ok(res_request_add_custom(&q, "9lic=1", &err) < 0 && errno == EINVAL,
       "a name starting with a digit is refused");
    ok(res_request_add_custom(&q, "lic=x", &err) < 0 && errno == EINVAL,
       "a non-numeric amount is refused: %s", err.text);
    ok(res_request_add_custom(&q, "lic=-1", &err) < 0 && errno == EINVAL,
       "a negative amount is refused");
    char spec[32];
    bool all = true;
    for (int i = 0; i < RES_MAX_CUSTOM; i++) {
        snprintf(spec, sizeof(spec), "r%d=1", i);
        all &= res_request_add_custom(&q, spec, NULL) == 0;
    }
    ok(all, "%d custom resources fit in a request", RES_MAX_CUSTOM);
    errno = 0;
    ok(res_request_add_custom(&q, "more=1", &err) < 0 && errno == ENOSPC,
       "one more is refused with ENOSPC");
    res_pool_destroy(p);
}

static res_request_t gpu_req(uint32_t milli)
{
    res_request_t r = one_slot();
    r.gpus_milli = milli;
    return r;
}

static void test_gpus_whole(void)
{
    res_capacity_t c = base_cap(10, 4);
    res_pool_t *p = res_pool_create(&c);
    /* Load: GPU 0 busy, GPU 1 medium, GPU 2 idle, GPU 3 idle, more mem. */
    res_pool_set_gpu_load(p, 0, 90, 0);
    res_pool_set_gpu_load(p, 1, 40, 0);
    res_pool_set_gpu_load(p, 2, 0, 4 * GIB);
    res_pool_set_gpu_load(p, 3, 0, 1 * GIB);
    res_request_t r = gpu_req(1000);
    res_alloc_t a[4];
    int idx[RES_MAX_GPUS];
    ok(res_pool_acquire(p, &r, &a[0]) == 0
       && res_alloc_gpu_indices(p, &a[0], idx, 4) == 1 && idx[0] == 3,
       "the least loaded GPU is first (idle, least memory used: 3)");
    ok(res_pool_acquire(p, &r, &a[1]) == 0
       && res_alloc_gpu_indices(p, &a[1], idx, 4) == 1 && idx[0] == 2,
       "then GPU 2 (idle, more memory used)");
    ok(res_pool_acquire(p, &r, &a[2]) == 0
       && res_alloc_gpu_indices(p, &a[2], idx, 4) == 1 && idx[0] == 1,
       "then GPU 1 (40%% busy)");
    res_request_t two = gpu_req(2000);
    errno = 0;
    ok(res_pool_acquire(p, &two, &a[3]) < 0 && errno == EAGAIN,
       "two GPUs with one free must wait");
    char buf[160];
    is_str(res_pool_explain(p, &two, buf, sizeof(buf)),
           "gpus: needs 2 free, 1 of 4 free", "GPU shortfall explained");
    res_pool_release(p, &a[0]);
    res_pool_release(p, &a[1]);
    res_pool_release(p, &a[2]);

    ok(res_pool_acquire(p, &two, &a[0]) == 0, "--gpus 2 is granted");
    int n = res_alloc_gpu_indices(p, &a[0], idx, 4);
    ok(n == 2 && idx[0] != idx[1], "--gpus 2 gets two distinct GPUs");
    ok(n == 2 && idx[0] == 2 && idx[1] == 3,
       "the two least loaded ones (2 and 3), in ascending order");
    is_int(a[0].gpu_milli_each, 1000, "each whole GPU counts 1000 milli");
    ok(res_pool_acquire(p, &two, &a[1]) == 0
       && res_alloc_gpu_indices(p, &a[1], idx, 4) == 2 && idx[0] == 0
       && idx[1] == 1, "a second --gpus 2 gets the other two");
    res_request_t half = gpu_req(500);
    errno = 0;
    ok(res_pool_acquire(p, &half, &a[2]) < 0 && errno == EAGAIN,
       "no share fits on whole-allocated GPUs");
    res_pool_release(p, &a[0]);
    res_pool_release(p, &a[1]);

    res_request_t five = gpu_req(5000);
    banyan_error_t err;
    errno = 0;
    ok(res_pool_acquire(p, &five, &a[0]) < 0 && errno == ENOSPC,
       "5 GPUs on a 4-GPU engine can never fit");
    ok(!res_pool_fits_ever(p, &five, &err), "fits_ever refuses 5 gpus");
    is_str(err.text, "needs 5 gpus, engine has 4", "with the shortfall named");

    res_capacity_t none = base_cap(4, 0);
    res_pool_t *q = res_pool_create(&none);
    ok(!res_pool_fits_ever(q, &half, &err)
       && strcmp(err.text, "needs 0.5 gpus, engine has 0") == 0,
       "a share on an engine without GPUs never fits: %s", err.text);
    res_pool_destroy(q);
    res_pool_destroy(p);
}

static void test_gpus_fraction(void)
{
    res_capacity_t c = base_cap(10, 2);
    res_pool_t *p = res_pool_create(&c);
    res_request_t half = gpu_req(500);
    res_alloc_t a[5];
    int idx[2];
    ok(res_pool_acquire(p, &half, &a[0]) == 0
       && res_alloc_gpu_indices(p, &a[0], idx, 2) == 1 && idx[0] == 0,
       "first 0.5 goes on GPU 0");
    ok(res_pool_acquire(p, &half, &a[1]) == 0
       && res_alloc_gpu_indices(p, &a[1], idx, 2) == 1 && idx[0] == 0,
       "second 0.5 packs onto GPU 0 before GPU 1 is touched");
    ok(res_pool_acquire(p, &half, &a[2]) == 0
       && res_alloc_gpu_indices(p, &a[2], idx, 2) == 1 && idx[0] == 1,
       "third 0.5 goes on GPU 1");
    res_request_t quarter = gpu_req(250);
    ok(res_pool_acquire(p, &quarter, &a[3]) == 0
       && res_alloc_gpu_indices(p, &a[3], idx, 2) == 1 && idx[0] == 1,
       "0.25 goes on the GPU with room (1)");
    res_request_t one = gpu_req(1000);
    errno = 0;
    ok(res_pool_acquire(p, &one, &a[4]) < 0 && errno == EAGAIN,
       "a whole GPU is not given while shares are on both");
    char buf[160];
    is_str(res_pool_explain(p, &one, buf, sizeof(buf)),
           "gpus: needs 1 free, 0 of 2 free", "and explained");
    is_str(res_pool_explain(p, &half, buf, sizeof(buf)),
           "gpus: needs 0.5 of one gpu, at most 0.25 free on any of 2",
           "a share that does not fit is explained");
    ok(res_pool_acquire(p, &quarter, &a[4]) == 0
       && res_alloc_gpu_indices(p, &a[4], idx, 2) == 1 && idx[0] == 1,
       "another 0.25 fills GPU 1");
    res_usage_t u;
    res_pool_usage(p, &u);
    ok(u.gpu_milli[0] == 1000 && u.gpu_milli[1] == 1000,
       "both GPUs are full (1000 milli each)");
    for (int i = 0; i < 5; i++)
        res_pool_release(p, &a[i]);
    res_pool_usage(p, &u);
    ok(u.gpu_milli[0] == 0 && u.gpu_milli[1] == 0 && u.running == 0,
       "releases return every share");

    /* Best fit: a 0.25 share goes where it leaves the least room. */
    res_request_t r6 = gpu_req(600), r3 = gpu_req(300);
    ok(res_pool_acquire(p, &r3, &a[0]) == 0, "0.3 on GPU 0");
    ok(res_pool_acquire(p, &r6, &a[1]) == 0
       && res_alloc_gpu_indices(p, &a[1], idx, 2) == 1 && idx[0] == 0,
       "0.6 packs next to it on GPU 0 (0.1 left)");
    ok(res_pool_acquire(p, &r6, &a[2]) == 0
       && res_alloc_gpu_indices(p, &a[2], idx, 2) == 1 && idx[0] == 1,
       "another 0.6 must go to GPU 1 (0.4 left)");
    ok(res_pool_acquire(p, &r3, &a[3]) == 0
       && res_alloc_gpu_indices(p, &a[3], idx, 2) == 1 && idx[0] == 1,
       "0.3 fits only on GPU 1");
    for (int i = 0; i < 4; i++)
        res_pool_release(p, &a[i]);
    res_pool_destroy(p);
}

static void test_gpu_mem(void)
{
    res_capacity_t c = base_cap(10, 3);
    c.gpus[0].mem_total_bytes = 16 * GIB;
    c.gpus[1].mem_total_bytes = 80 * GIB;
    c.gpus[2].mem_total_bytes = 0; /* unknown */
    res_pool_t *p = res_pool_create(&c);
    res_request_t r = gpu_req(1000);
    r.gpu_mem_bytes = 40 * GIB;
    res_alloc_t a[3];
    int idx[3];
    ok(res_pool_acquire(p, &r, &a[0]) == 0
       && res_alloc_gpu_indices(p, &a[0], idx, 3) == 1 && idx[0] == 1,
       "a 40G task skips the 16G GPU and gets the 80G one");
    ok(res_pool_acquire(p, &r, &a[1]) == 0
       && res_alloc_gpu_indices(p, &a[1], idx, 3) == 1 && idx[0] == 2,
       "a GPU of unknown memory is not checked");
    errno = 0;
    ok(res_pool_acquire(p, &r, &a[2]) < 0 && errno == EAGAIN,
       "the 16G GPU is never used for a 40G task");
    res_pool_release(p, &a[0]);
    res_pool_release(p, &a[1]);
    res_request_t three = gpu_req(3000);
    three.gpu_mem_bytes = 40 * GIB;
    banyan_error_t err;
    errno = 0;
    ok(res_pool_acquire(p, &three, &a[0]) < 0 && errno == ENOSPC,
       "3 GPUs of 40G with one 16G GPU never fit");
    ok(!res_pool_fits_ever(p, &three, &err)
       && strcmp(err.text, "needs 3 gpus with 40G memory, engine has 2 "
                 "(largest has 80G)") == 0, "named: %s", err.text);
    res_pool_destroy(p);
}

static void test_all_or_nothing(void)
{
    res_capacity_t c = base_cap(4, 2);
    res_pool_t *p = res_pool_create(&c);
    res_request_t r = gpu_req(2000);
    res_alloc_t a, b;
    ok(res_pool_acquire(p, &r, &a) == 0, "two GPUs taken");
    res_usage_t before, after;
    res_pool_usage(p, &before);
    res_request_t x = gpu_req(1000);
    x.cpus_milli = 1000;
    x.mem_bytes = GIB;
    errno = 0;
    ok(res_pool_acquire(p, &x, &b) < 0 && errno == EAGAIN,
       "cpus+mem+gpu request refused for lack of GPUs");
    res_pool_usage(p, &after);
    ok(memcmp(&before, &after, sizeof(before)) == 0,
       "the refused request took neither its cpus nor its memory");
    res_pool_release(p, &a);

    res_request_t bad = gpu_req(1500);
    errno = 0;
    ok(res_pool_acquire(p, &bad, &a) < 0 && errno == EINVAL,
       "a malformed request (1.5 gpus) is refused with EINVAL");
    res_pool_destroy(p);

    res_capacity_t badcap = base_cap(1, 0);
    badcap.ngpus = RES_MAX_GPUS + 1;
    errno = 0;
    ok(res_pool_create(&badcap) == NULL && errno == EINVAL,
       "a capacity with too many GPUs is refused");
}

static void test_holds(void)
{
    /* Scalars: a hold for 6 cpus keeps small tasks off what it needs. */
    res_capacity_t c = base_cap(10, 4);
    res_pool_t *p = res_pool_create(&c);
    res_request_t small = one_slot();
    small.cpus_milli = 2000;
    res_alloc_t a[6];
    ok(res_pool_acquire(p, &small, &a[0]) == 0
       && res_pool_acquire(p, &small, &a[1]) == 0, "4 of 8 cpus busy");
    res_request_t big = one_slot();
    big.cpus_milli = 6000;
    errno = 0;
    ok(res_pool_acquire(p, &big, &a[2]) < 0 && errno == EAGAIN,
       "6 cpus do not fit now");
    res_pool_hold(p, &big);
    ok(res_pool_has_hold(p), "a hold is set");
    errno = 0;
    ok(res_pool_acquire(p, &small, &a[2]) < 0 && errno == EAGAIN,
       "a small task may not take the cpus the hold waits for");
    char buf[160];
    is_str(res_pool_explain(p, &small, buf, sizeof(buf)),
           "cpus: needs 2 free, 4 of 8 free, 6 held for a waiting task",
           "the hold is named in the explanation");
    res_request_t gpu_only;
    memset(&gpu_only, 0, sizeof(gpu_only));
    gpu_only.gpus_milli = 1000;
    ok(res_pool_acquire(p, &gpu_only, &a[2]) == 0,
       "a task needing nothing the hold needs still runs");
    res_pool_release(p, &a[2]);
    res_pool_release(p, &a[0]);
    errno = 0;
    ok(res_pool_acquire(p, &small, &a[0]) < 0 && errno == EAGAIN,
       "a freed slice still goes to the hold, not to a small task");
    ok(res_pool_acquire(p, &big, &a[2]) < 0 && errno == EAGAIN,
       "the held request itself must not bypass the hold API");
    ok(res_pool_acquire_held(p, &big, &a[2]) == 0,
       "the held request is granted through acquire_held");
    ok(!res_pool_has_hold(p), "the hold is cleared once it is granted");
    res_pool_release(p, &a[1]);
    res_pool_release(p, &a[2]);

    /* GPUs: a 4-GPU hold reserves the GPUs as they drain. */
    res_request_t g1 = gpu_req(1000), g4 = gpu_req(4000);
    ok(res_pool_acquire(p, &g1, &a[0]) == 0
       && res_pool_acquire(p, &g1, &a[1]) == 0, "two 1-GPU tasks running");
    res_pool_hold(p, &g4);
    res_usage_t u;
    res_pool_usage(p, &u);
    int reserved = 0;
    for (int g = 0; g < 4; g++)
        reserved += u.gpu_reserved_milli[g] == 1000;
    is_int(reserved, 4, "a 4-GPU hold reserves all four GPUs");
    errno = 0;
    ok(res_pool_acquire(p, &g1, &a[2]) < 0 && errno == EAGAIN,
       "a 1-GPU task may not take a free but reserved GPU");
    is_str(res_pool_explain(p, &g1, buf, sizeof(buf)),
           "gpus: needs 1 free, 2 of 4 free, 2 held for a waiting task",
           "reserved GPUs are named in the explanation");
    ok(res_pool_acquire_held(p, &g4, &a[2]) < 0 && errno == EAGAIN,
       "the held request still waits for the busy GPUs");
    ok(res_pool_has_hold(p), "a failed acquire_held keeps the hold");
    res_pool_release(p, &a[0]);
    res_pool_release(p, &a[1]);
    ok(res_pool_acquire_held(p, &g4, &a[2]) == 0,
       "once drained, the 4-GPU request runs");
    res_pool_release(p, &a[2]);
    res_pool_destroy(p);

    /* On 8 GPUs a 2-GPU hold prefers free GPUs and leaves others usable. */
    c = base_cap(10, 8);
    p = res_pool_create(&c);
    res_request_t half = gpu_req(500);
    for (int i = 0; i < 3; i++)
        res_pool_acquire(p, &g1, &a[i]);  /* GPUs 0, 1, 2 busy */
    res_pool_acquire(p, &half, &a[3]);     /* GPU 3 half busy */
    res_request_t g2 = gpu_req(2000);
    res_pool_hold(p, &g2);
    res_pool_usage(p, &u);
    ok(u.gpu_reserved_milli[4] == 1000 && u.gpu_reserved_milli[5] == 1000
       && u.gpu_reserved_milli[0] == 0 && u.gpu_reserved_milli[3] == 0,
       "the hold reserves free GPUs (4 and 5), not busy ones");
    int idx[8];
    ok(res_pool_acquire(p, &g1, &a[4]) == 0
       && res_alloc_gpu_indices(p, &a[4], idx, 8) == 1 && idx[0] == 6,
       "other tasks use the unreserved GPU 6");
    ok(res_pool_acquire(p, &half, &a[5]) == 0
       && res_alloc_gpu_indices(p, &a[5], idx, 8) == 1 && idx[0] == 3,
       "a share packs on GPU 3, away from the reserved GPUs");
    res_pool_unhold(p);
    ok(!res_pool_has_hold(p), "unhold clears the hold");
    res_pool_usage(p, &u);
    ok(u.gpu_reserved_milli[4] == 0 && u.gpu_reserved_milli[5] == 0,
       "and its reservations");
    for (int i = 0; i < 6; i++)
        res_pool_release(p, &a[i]);
    res_pool_destroy(p);
}

static void test_parse_gpus(void)
{
    uint32_t m = 0;
    banyan_error_t err;
    ok(res_parse_gpus("0.5", &m, &err) == 0 && m == 500, "0.5 is a share");
    ok(res_parse_gpus("1", &m, &err) == 0 && m == 1000, "1 is one GPU");
    ok(res_parse_gpus("2", &m, &err) == 0 && m == 2000, "2 is two GPUs");
    ok(res_parse_gpus("0.25", &m, &err) == 0 && m == 250, "0.25");
    m = 7;
    errno = 0;
    ok(res_parse_gpus("1.5", &m, &err) < 0 && errno == EINVAL && m == 7,
       "1.5 is refused and leaves the output alone");
    ok(strstr(err.text, "1.5") && strstr(err.text, "whole number"),
       "1.5: %s", err.text);
    ok(res_parse_gpus("0", &m, &err) < 0 && errno == EINVAL,
       "0 is refused: %s", err.text);
    ok(res_parse_gpus("-1", &m, &err) < 0 && errno == EINVAL,
       "-1 is refused: %s", err.text);
    ok(res_parse_gpus("two", &m, &err) < 0 && errno == EINVAL
       && strstr(err.text, "'two'"), "junk is refused: %s", err.text);
    ok(res_parse_gpus("", &m, &err) < 0 && errno == EINVAL,
       "empty is refused");
    ok(res_parse_gpus("0.0001", &m, &err) < 0 && errno == EINVAL,
       "finer than a thousandth is refused");
    ok(res_parse_gpus("65", &m, &err) < 0 && errno == EINVAL,
       "more than %d GPUs is refused: %s", RES_MAX_GPUS, err.text);
    ok(res_parse_gpus("99999999999", &m, &err) < 0 && errno == EINVAL,
       "an absurd number is refused: %s", err.text);

    res_request_t r;
    memset(&r, 0, sizeof(r));
    r.gpus_milli = 2500;
    ok(res_request_check(&r, &err) < 0 && errno == EINVAL,
       "request_check refuses 2.5 gpus: %s", err.text);
    r.gpus_milli = 3000;
    ok(res_request_check(&r, &err) == 0, "request_check accepts 3 gpus");
    r.ncustom = 2;
    strcpy(r.custom[0].name, "a");
    strcpy(r.custom[1].name, "a");
    ok(res_request_check(&r, &err) < 0 && errno == EINVAL,
       "request_check refuses a name given twice");
}

static void test_format(void)
{
    res_request_t r;
    memset(&r, 0, sizeof(r));
    char buf[128];
    is_str(res_request_format(&r, buf, sizeof(buf)), "nothing",
           "an empty request");
    r.slots = 1;
    r.cpus_milli = 2000;
    r.mem_bytes = 4 * GIB;
    r.gpus_milli = 2000;
    is_str(res_request_format(&r, buf, sizeof(buf)),
           "1 slot, 2 cpus, 4G mem, 2 gpus", "a full request");
    r.cpus_milli = 1500;
    r.gpus_milli = 500;
    r.gpu_mem_bytes = 8 * GIB;
    res_request_add_custom(&r, "license=1", NULL);
    is_str(res_request_format(&r, buf, sizeof(buf)),
           "1 slot, 1.5 cpus, 4G mem, 0.5 gpus, 8G gpu_mem, license=1",
           "fractions, gpu memory and custom resources");
    char tiny[8];
    res_request_format(&r, tiny, sizeof(tiny));
    ok(strlen(tiny) == 7, "a small buffer is truncated, not overrun");
}

int main(void)
{
    plan(NO_PLAN);
    test_slots();
    test_cpus_mem();
    test_mem_reserve();
    test_custom();
    test_gpus_whole();
    test_gpus_fraction();
    test_gpu_mem();
    test_all_or_nothing();
    test_holds();
    test_parse_gpus();
    test_format();
    return done_testing();
}
