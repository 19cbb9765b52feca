/* SPDX-License-Identifier: MIT */
/* res.h - resource requests and all-or-nothing allocation on one engine.
 *
 * An engine's resources form a pool: execution slots (what -j counts, each
 * with an identity 1..n for {%}), milli-cpus, memory bytes, GPUs (each with
 * an identity, 1000 milli-GPU of capacity, its own memory and load), and up
 * to RES_MAX_CUSTOM named counters ("license=2").  A request names how much
 * of each a task needs.  res_pool_acquire() grants all of it or nothing, so
 * two half-allocated tasks can never deadlock.
 *
 * GPU rules: a request of less than one GPU (gpus_milli < 1000) is a share
 * of a single GPU, and shares are packed best-fit so that several small
 * tasks fill one GPU before touching the next.  A request of one or more
 * GPUs must be whole (a multiple of 1000) and gets that many distinct GPUs
 * with nothing else on them, least loaded first (load = shares in use, then
 * utilisation, then memory used, then index).
 *
 * A hold (res_pool_hold) sets aside what one waiting request still needs so
 * that other, smaller requests cannot take it: this is the reservation that
 * keeps a large request at the head of the queue from starving.  While a hold
 * is set, res_pool_acquire() for other requests only grants what is left
 * above the hold; res_pool_acquire_held() grants the held request itself.
 *
 * Memory without a request: a request with mem_bytes == 0 takes no memory
 * from the pool, but is admitted only while the host's available memory (as
 * last reported with res_pool_set_host_mem) stays at or above the pool's
 * reserve.  Learnt estimates replace this in a later issue.
 *
 * The module does no I/O and keeps no clocks: it is pure bookkeeping.
 */
#ifndef BANYAN_RES_H
#define BANYAN_RES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <banyan/error.h>

enum {
    RES_MILLI = 1000,      /* milli-units per cpu or per GPU */
    RES_MAX_GPUS = 64,     /* GPUs per engine (bits in a res_alloc mask) */
    RES_MAX_CUSTOM = 8,    /* named custom resources per pool / request */
    RES_NAME_MAX = 32,     /* bytes in a custom resource name, with NUL */
};

/* One named counter, in a request or in a pool. */
typedef struct res_custom {
    char name[RES_NAME_MAX]; /* [A-Za-z_][A-Za-z0-9_.-]* */
    uint64_t amount;         /* units wanted, or capacity */
} res_custom_t;

/* What one task needs.  Zero-initialise, then set what matters. */
typedef struct res_request {
    uint32_t slots;          /* execution slots, normally 1 */
    uint32_t cpus_milli;     /* milli-cpus; 0 = not accounted */
    uint64_t mem_bytes;      /* 0 = not stated (see the memory rule above) */
    uint32_t gpus_milli;     /* 0, a share < 1000, or a multiple of 1000 */
    uint64_t gpu_mem_bytes;  /* per GPU, 0 = any; the GPU's total must fit */
    int ncustom;             /* entries used in custom[] */
    res_custom_t custom[RES_MAX_CUSTOM];
} res_request_t;

/* Check a request's shape (GPU fractions, names, counts).  0, or -1 with
 * EINVAL and a sentence in error. */
int res_request_check(const res_request_t *req, banyan_error_t *error);

/* Parse "gpus" text ("2", "0.5", "0.25") into milli-GPUs, enforcing the GPU
 * rule above.  0 or -1 EINVAL with error text. */
int res_parse_gpus(const char *s, uint32_t *gpus_milli, banyan_error_t *error);

/* Parse "name=amount" and add it to req.  0 or -1 EINVAL/ENOSPC. */
int res_request_add_custom(res_request_t *req, const char *spec,
                           banyan_error_t *error);

/* Describe a request briefly, e.g. "1 slot, 2 cpus, 4G mem, 2 gpus", into
 * buf.  Returns buf. */
char *res_request_format(const res_request_t *req, char *buf, size_t size);

/* One GPU as the pool sees it.  index is the device number to put in
 * CUDA_VISIBLE_DEVICES. */
typedef struct res_gpu {
    int index;                /* device index (driver numbering) */
    uint64_t mem_total_bytes; /* 0 = unknown (no gpu_mem check) */
    uint64_t mem_used_bytes;  /* by anyone, last observed */
    unsigned util_percent;    /* last observed utilisation, 0..100 */
} res_gpu_t;

/* The capacity of one engine. */
typedef struct res_capacity {
    uint32_t slots;            /* concurrent tasks (-j) */
    uint32_t cpus_milli;       /* cpus available to tasks */
    uint64_t mem_bytes;        /* memory available to tasks */
    uint64_t mem_reserve_bytes;/* host MemAvailable floor for mem=0 tasks */
    int ngpus;
    res_gpu_t gpus[RES_MAX_GPUS];
    int ncustom;
    res_custom_t custom[RES_MAX_CUSTOM];
} res_capacity_t;

/* What one acquisition granted; needed to release it. */
typedef struct res_alloc {
    uint32_t slot;            /* slot identity, 1..capacity.slots (0: none) */
    uint32_t slots;           /* slots counted (req.slots); slot is the
                                 identity of the first of them */
    uint32_t cpus_milli;
    uint64_t mem_bytes;
    uint64_t gpu_mask;        /* bit i = the pool's GPU at position i */
    uint32_t gpu_milli_each;  /* share taken on each GPU in gpu_mask */
    uint64_t custom[RES_MAX_CUSTOM]; /* by the pool's custom positions */
} res_alloc_t;

typedef struct res_pool res_pool_t;

/* Create a pool with the given capacity (copied).  NULL with ENOMEM or
 * EINVAL.  Caller must destroy with res_pool_destroy(). */
res_pool_t *res_pool_create(const res_capacity_t *cap);
void res_pool_destroy(res_pool_t *pool);

/* The pool's capacity (as created or last set).  Borrowed; valid until
 * destroy or the next res_pool_set_capacity(). */
const res_capacity_t *res_pool_capacity(const res_pool_t *pool);

/* Change the capacity in place (a relay's aggregate pool whose subtree grew
 * or shrank).  Live allocations stay valid and are released as usual; later
 * grants respect the new capacity.  Shrinking below what is in use is
 * allowed: nothing new is granted in that dimension until usage is back
 * under.  Slot identities above the new count that are in use stay valid
 * until released.  GPU positions may be appended or removed at the end;
 * removing a position that is in use fails with EBUSY.  Custom resources
 * keep their names in the same order (amounts may change); new names may
 * be appended after them (valid, distinct, RES_MAX_CUSTOM in all).  A hold
 * is kept and its GPUs chosen again.  0, or -1 with EINVAL or EBUSY and
 * nothing changed, or ENOMEM. */
int res_pool_set_capacity(res_pool_t *pool, const res_capacity_t *cap);

/* Grant no GPU position at n or above to new requests (a shrink that waits
 * for those positions to drain before res_pool_set_capacity can drop
 * them).  n < 0 or n >= the GPU count lifts the limit; set_capacity lifts
 * it too.  Claims and forced counts are not limited. */
void res_pool_limit_gpus(res_pool_t *pool, int n);

/* Account an allocation made elsewhere: a task found running that the pool
 * did not know of (adopted after a reattach).  Exactly alloc's slot
 * identity, amounts, GPU positions and share are taken, ignoring any hold.
 * 0; -1 with EINVAL (slot identity, GPU position or custom amount outside
 * the pool, share over 1000, slots without identity or the reverse), EBUSY
 * when it does not fit now (identity taken, a dimension would go over
 * capacity, a GPU share would not fit or a whole GPU is shared).  A failure
 * changes nothing. */
int res_pool_claim(res_pool_t *pool, const res_alloc_t *alloc);

/* Account req even past capacity: a task already running that an
 * aggregate pool must count (its real placement is below).  When req fits
 * now (ignoring any hold) this is res_pool_acquire(); otherwise the amounts
 * are counted anyway, usage may exceed capacity until released (as after a
 * shrink), the slot identity is a free one or 0, and the GPUs are the least
 * used positions with a fitting memory (none if the pool has too few).
 * 0, or -1 with EINVAL when req fails res_request_check(). */
int res_pool_acquire_over(res_pool_t *pool, const res_request_t *req,
                          res_alloc_t *alloc);

/* Could req ever be granted by this pool, were it empty?  If not, and error
 * is not NULL, it names the shortfall: "needs 5 gpus, engine has 4". */
bool res_pool_fits_ever(const res_pool_t *pool, const res_request_t *req,
                        banyan_error_t *error);

/* Grant req now, all or nothing.  0 and *alloc filled; -1 with EAGAIN when
 * it does not fit now (or would eat into a hold), ENOSPC when it never can,
 * EINVAL when req fails res_request_check().  A failure changes nothing. */
int res_pool_acquire(res_pool_t *pool, const res_request_t *req,
                     res_alloc_t *alloc);

/* Give back what an earlier acquire granted. */
void res_pool_release(res_pool_t *pool, const res_alloc_t *alloc);

/* Set aside what req needs for a starving request (replaces any earlier
 * hold).  req is copied.  In each scalar dimension others may then take
 * only capacity - used - held; for GPUs, the GPUs the held request will use
 * are chosen now (free ones first, then those with the fewest shares in
 * use) and others may not use them (for a share: only the room above it). */
void res_pool_hold(res_pool_t *pool, const res_request_t *req);
void res_pool_unhold(res_pool_t *pool);
bool res_pool_has_hold(const res_pool_t *pool);

/* Acquire for the request that the hold is for: may use held resources.
 * On success the hold is cleared.  Same returns as res_pool_acquire(). */
int res_pool_acquire_held(res_pool_t *pool, const res_request_t *req,
                          res_alloc_t *alloc);

/* Why does req not fit now?  Writes one sentence such as
 * "gpus: needs 2 free, 1 of 4 free" into buf.  Returns buf. */
char *res_pool_explain(const res_pool_t *pool, const res_request_t *req,
                       char *buf, size_t size);

/* Report the host's MemAvailable (bytes) for the mem=0 admission rule. */
void res_pool_set_host_mem(res_pool_t *pool, uint64_t available_bytes);

/* Report a GPU's observed load, by position in the capacity's gpus[]. */
void res_pool_set_gpu_load(res_pool_t *pool, int pos, unsigned util_percent,
                           uint64_t mem_used_bytes);

/* Tasks currently holding allocations from this pool. */
unsigned res_pool_running(const res_pool_t *pool);

/* What a pool has handed out now, per dimension (for status displays and
 * tests).  gpu_reserved_milli is what the hold sets aside on each GPU. */
typedef struct res_usage {
    uint32_t slots;
    uint32_t cpus_milli;
    uint64_t mem_bytes;
    uint32_t gpu_milli[RES_MAX_GPUS];          /* by position */
    uint32_t gpu_reserved_milli[RES_MAX_GPUS]; /* by position, for the hold */
    uint64_t custom[RES_MAX_CUSTOM];           /* by the pool's positions */
    unsigned running;                          /* live allocations */
} res_usage_t;

void res_pool_usage(const res_pool_t *pool, res_usage_t *usage);

/* How much of req is missing now, ignoring any hold: the sum over the
 * dimensions of (needed - free) / capacity, 0 when it fits now, HUGE_VAL
 * when it never fits.  Used to choose where to place a hold. */
double res_pool_shortfall(const res_pool_t *pool, const res_request_t *req);

/* Device indices (res_gpu.index) of the GPUs in alloc, in ascending position
 * order, into out[] (at most max).  Returns the count. */
int res_alloc_gpu_indices(const res_pool_t *pool, const res_alloc_t *alloc,
                          int *out, int max);

#endif /* BANYAN_RES_H */
