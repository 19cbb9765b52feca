/* SPDX-License-Identifier: MIT */
/* share.h - fair sharing of one host's cores and memory between banyan
 * instances, through a host-wide arbitration file.
 *
 * Every banyan instance on a host (any user, any run) keeps one record in a
 * shared file: who it is (pid, process start time, uid), what it wants
 * (milli-cpus and memory bytes it could use now) and what it holds.  Each
 * share_update() takes an exclusive flock() on the file, rereads it, drops
 * the records of instances that are gone, rewrites its own record and
 * computes its grant, all under the lock; nothing else is shared, so there
 * is no daemon and no instance is special.
 *
 * Fairness is max-min ("water-filling"), per resource, on two levels: the
 * capacity is first divided between users according to the sum of their
 * instances' wants, then each user's part between that user's instances.  A
 * user or instance that wants less than an equal split gets what it wants
 * and leaves the rest to those that want more; when it wants more again it
 * grows back on its next update.  Every instance computes the same division
 * from the same records (records are ordered by uid, pid and serial, and
 * indivisible remainders go to the earliest), so grants never add up to
 * more than the capacity.
 *
 * Each instance passes its own view of the capacity (share_set_capacity;
 * default: online CPUs x 1000 and MemTotal).  The runner should subtract its
 * memory reserve; instances configured differently see slightly different
 * divisions, which is harmless.
 *
 * The grant has two figures.  `fair` is the instance's max-min share: the
 * target its holdings should converge to.  `limit` is min(fair, capacity -
 * what the OTHER instances say they hold): admitting tasks while hold + task
 * <= limit never oversubscribes the host even while another instance is
 * still shrinking down to its new share (it keeps its running tasks and
 * only stops starting new ones).  Use `limit` for memory; for cores,
 * `fair` is fine where a short oversubscription is acceptable.
 *
 * Liveness: a record is dropped when kill(pid, 0) says ESRCH, when
 * /proc/<pid> is gone or a zombie, when the process start time (field 22 of
 * /proc/<pid>/stat, in clock ticks since boot) differs from the record's
 * (the pid was reused), or when the process's real uid differs from the
 * record's.  Optionally (share_set_stale_ms) a record not refreshed for that
 * long is dropped too.  So a kill -9'd instance's share is reclaimed on the
 * next update of any other instance.  All instances must share one pid
 * namespace and one /proc; with /proc mounted hidepid, only kill() is used.
 *
 * The file (default: share_default_path) is text, readable with cat:
 *
 *     banyan-share 1
 *     <pid> <serial> <start> <uid> <want_mcpu> <want_mem> <hold_mcpu>
 *         <hold_mem> <updated_ms>            (one line per instance)
 *
 * It is parsed as hostile input: a wrong header, a file above
 * SHARE_MAX_FILE_BYTES or more than SHARE_MAX_RECORDS records resets the
 * whole table; a malformed, out-of-range or duplicate line is dropped.
 * Either way every live instance puts its record back on its next update.
 *
 * Trust model: the file is created mode 0666 so that every local user can
 * take part.  Any local user can therefore write anything into it.  A
 * malicious writer can only hurt fairness (inflate wants, erase records, hold
 * the lock: share_update gives up after a timeout and the caller keeps its
 * previous grant); it cannot make banyan read out of bounds, block forever,
 * follow a symlink, open a FIFO or device, or write through a hard link
 * (the file must be a regular file with one link).  Records with a uid that
 * does not match the live process are dropped, so a user cannot pose as
 * another user.  Sites that do not want this use a private path.
 *
 * Not thread-safe: one share_t per thread.  Several share_t in one process
 * are distinct instances (the serial tells them apart).  A share_t belongs
 * to the process that opened it: do not use it in a forked child (the file
 * descriptor is O_CLOEXEC, so spawned tasks never see it).
 */
#ifndef BANYAN_SHARE_H
#define BANYAN_SHARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <banyan/error.h>

enum {
    SHARE_MAX_RECORDS = 1024,      /* more records reset the table */
    SHARE_MAX_FILE_BYTES = 256 << 10, /* a larger file resets the table */
    SHARE_LOCK_TIMEOUT_MS = 1000,  /* default wait for the file lock */
};

#define SHARE_FILE_NAME "banyan-share"

/* An amount of the two shared resources. */
typedef struct share_amount {
    uint64_t cpus_milli; /* milli-cpus (1000 = one core) */
    uint64_t mem_bytes;  /* bytes */
} share_amount_t;

/* One instance's record, as stored in the file. */
typedef struct share_record {
    pid_t pid;           /* process id of the instance */
    uint32_t serial;     /* tells several instances of one process apart */
    uint64_t start;      /* process start, clock ticks since boot (0 unknown) */
    uid_t uid;           /* real uid of the process */
    share_amount_t want; /* what it could use now */
    share_amount_t hold; /* what its running tasks hold */
    int64_t updated_ms;  /* wall clock of its last update, ms since epoch */
} share_record_t;

/* The outcome of an update. */
typedef struct share_grant {
    share_amount_t fair;  /* max-min fair share of this instance */
    share_amount_t limit; /* min(fair, capacity - others' holds) */
    uint32_t ninstances;  /* live instances, this one included */
    uint32_t nusers;      /* distinct users among them */
} share_grant_t;

typedef struct share share_t;

/* ------------------------------------------------------ pure arithmetic */

/* Max-min fair division ("water-filling") of capacity among n claimants
 * wanting wants[i]: everyone gets min(want, level) for the highest level
 * that fits, so out[i] <= wants[i], the sum of out is min(capacity, sum of
 * wants), and an unsatisfied claimant never gets less than any other
 * (an indivisible remainder of a few units goes one each to the unsatisfied
 * claimants of lowest index).  out may not alias wants.  0, or -1 with
 * ENOMEM.  n == 0 is fine. */
int share_maxmin(uint64_t capacity, const uint64_t *wants, size_t n,
                 uint64_t *out);

/* The two-level division described above, for the instance recs[self] among
 * recs[0..n-1] (in any order; every record counts as live).  Fills *grant
 * (fair, limit, ninstances, nusers).  0, or -1 with EINVAL (self >= n) or
 * ENOMEM. */
int share_fair(const share_record_t *recs, size_t n, size_t self,
               const share_amount_t *capacity, share_grant_t *grant);

/* ------------------------------------------------------------- the file */

/* The default arbitration file: $BANYAN_SHARE_FILE when set (a group of
 * instances that share among themselves only, e.g. one test's), else
 * /dev/shm/banyan-share when /dev/shm is a
 * writable directory (shared by every user of the host), else
 * $XDG_RUNTIME_DIR/banyan-share (shared only by this user's instances),
 * else /tmp/banyan-share.  0, or -1 with ENAMETOOLONG. */
int share_default_path(char *buf, size_t size);

/* Open (creating it 0666 if missing) the arbitration file at path, or at
 * share_default_path() when path is NULL.  Registers nothing yet: the
 * instance appears with its first share_update().  Refuses a symlink
 * (ELOOP), anything but a regular file with one link (EINVAL), and a file
 * it cannot write (EACCES).  Returns a handle the caller must close with
 * share_close(), or NULL with errno and a sentence in error. */
share_t *share_open(const char *path, banyan_error_t *error);

/* Set the capacity this instance divides (see above). */
void share_set_capacity(share_t *sh, const share_amount_t *capacity);

/* Drop records not updated for stale_ms (0, the default: never; liveness
 * is then judged by the process alone). */
void share_set_stale_ms(share_t *sh, int64_t stale_ms);

/* How long share_update/share_close wait for the lock (default
 * SHARE_LOCK_TIMEOUT_MS; 0 = try once). */
void share_set_lock_timeout_ms(share_t *sh, int64_t timeout_ms);

/* Publish want and hold, drop the records of dead instances and compute this
 * instance's grant, all under the file lock.  Call it when want changes and
 * about once a second (the others only learn about this instance here).
 * 0, or -1 with errno and a sentence in error: ETIMEDOUT when the lock could
 * not be taken in time (another instance, or a hostile user, holds it),
 * or an I/O error; *grant is then untouched and the caller should keep its
 * previous grant. */
int share_update(share_t *sh, const share_amount_t *want,
                 const share_amount_t *hold, share_grant_t *grant,
                 banyan_error_t *error);

/* The live records as of the last successful share_update(), this
 * instance's own included, ordered by uid, pid and serial, e.g. for
 * `banyan status` (none after a failed update).  Returns the count;
 * *recs is borrowed: valid until the next share_update() or share_close().
 */
size_t share_records(const share_t *sh, const share_record_t **recs);

/* The path of the file.  Borrowed; valid until share_close(). */
const char *share_path(const share_t *sh);

/* Remove this instance's record (best effort, waiting for the lock as
 * share_update does), close the file and free sh.  Accepts NULL, keeps
 * errno. */
void share_close(share_t *sh);

#endif /* BANYAN_SHARE_H */
