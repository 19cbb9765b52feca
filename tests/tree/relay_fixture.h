/* SPDX-License-Identifier: MIT */
/* relay_fixture.h - what the relay tests build their relays from: engines
 * of n slots (1 cpu and 2 GiB each, GPUs 0..ngpus-1), one-slot jobs, and
 * relays with a short steal retry. */
#ifndef BANYAN_TEST_RELAY_FIXTURE_H
#define BANYAN_TEST_RELAY_FIXTURE_H

#include <stdbool.h>
#include <string.h>

#include "tree/tree.h"

#define GIB (UINT64_C(1) << 30)

static inline res_capacity_t engine_cap(uint32_t slots, int ngpus)
{
    res_capacity_t c;
    memset(&c, 0, sizeof(c));
    c.slots = slots;
    c.cpus_milli = slots * 1000;
    c.mem_bytes = slots * 2 * GIB;
    c.ngpus = ngpus;
    for (int i = 0; i < ngpus; i++)
        c.gpus[i].index = i;
    return c;
}

static inline sched_job_t job_def(uint32_t id, uint32_t gpus_milli)
{
    sched_job_t j;
    memset(&j, 0, sizeof(j));
    j.id = id;
    j.req.slots = 1;
    j.req.cpus_milli = 1000;
    j.req.mem_bytes = GIB;
    j.req.gpus_milli = gpus_milli;
    j.max_attempts = 1;
    return j;
}

static inline tree_relay_t *relay(bool root)
{
    tree_relay_config_t cfg;
    tree_relay_config_default(&cfg);
    cfg.is_root = root;
    cfg.steal_retry_ms = 100;
    return tree_relay_create(&cfg);
}

#endif
