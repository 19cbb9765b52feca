/* SPDX-License-Identifier: MIT */
/* exec_private.h - the executor's internal types, shared by src/exec only.
 *
 * An executor owns a list of tasks (started, not yet reported) and a map from
 * pid to task.  The pid of a task is also its process group id.  A task is in
 * the map from its spawn until it is reported; a later task that gets the same
 * pid (pid numbers wrap quickly: pid_max may be 32768) replaces a reaped
 * entry.  That is safe because the kernel never hands out a pid number that a
 * live process group still uses, so a reaped task whose number was reused has
 * no group left to signal or measure.
 *
 * Every task with a process is also in the guardian's table (exec_guard.c)
 * from its spawn until it is taken out of the map, so that a group the map
 * forgets is never killed by the guardian after its number was reused.
 *
 * A task is also all the processes it made, wherever they went (exec_rss.c,
 * "Process trees"): the process is a child subreaper, so every descendant
 * of a task stays a descendant of ours, and each task's environment carries
 * a tag (EXEC_TAG_VAR) that names this process and the task.  Killing a
 * task walks /proc from its group and its leader down the parent links, and
 * from every orphan we adopted whose tag names the task.
 *
 * Memory discipline: a task is freed only after its uv handles are closed,
 * from their close callbacks, which never touch the executor.  The executor
 * itself is freed from the close callback of its last own handle, so the
 * done callback may call exec_destroy() and everything up the stack stays
 * valid until the loop unwinds.
 */
#ifndef BANYAN_EXEC_PRIVATE_H
#define BANYAN_EXEC_PRIVATE_H

#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <uv.h>

#include "exec.h"
#include "util/hmap.h"
#include "util/util.h"

/* ------------------------------------------------------------------ streams */

struct exec_stream {
    util_buf_t mem;    /* the first bytes, at most EXEC_SPILL_BYTES */
    int spill_fd;      /* unlinked file with the bytes after mem; -1 = none */
    uint64_t size;     /* bytes the task wrote */
    uint64_t spilled;  /* bytes stored in spill_fd */
    int lost_errno;    /* nonzero once bytes could not be stored */
};

void exec__stream_init(exec_stream_t *s);
void exec__stream_fini(exec_stream_t *s);
/* Store n more bytes.  Never fails: bytes that cannot be stored (no spill
 * file, disk full) are counted in size and remembered in lost_errno. */
void exec__stream_append(exec_stream_t *s, const void *data, size_t n);

/* --------------------------------------------------------------------- tags */

/* The variable that tags a task's processes: "BANYAN_TASK_TAG=P.S.N", with
 * P and S the pid and start time (clock ticks after boot) of the process
 * that runs the executor, and N the task's number in that process. */
#define EXEC_TAG_VAR "BANYAN_TASK_TAG"

enum {
    EXEC_TAG_MAX = 80,          /* room for "BANYAN_TASK_TAG=P.S.N" */
};

/* "BANYAN_TASK_TAG=P.S." of this process (computed again after a fork).
 * Borrowed, static. */
const char *exec__tag_prefix(void);

/* The task number N of the tag that begins with prefix in
 * /proc/<name>/environ (proc_fd: an open /proc), or -1 when there is none
 * (no such variable, another prefix, a process gone, a zombie or one we may
 * not read).  Only async-signal-safe calls: the guardian uses it. */
int64_t exec__environ_tag(int proc_fd, const char *name, const char *prefix);

/* ------------------------------------------------------------------ cgroups */

/* The executor's cgroup2 directory, where each task gets a cgroup of its
 * own to be killed with cgroup.kill (exec_cgroup.c). */
typedef struct exec_cgroup {
    int fd;                     /* the directory; -1 = not used here */
    char path[2200];            /* its path (for the guardian and rmdir) */
} exec_cgroup_t;

/* Make the executor's directory.  0, or -1 when cgroups cannot be used
 * here (then cg->fd is -1 and every call below does nothing). */
int exec__cgroup_open(exec_cgroup_t *cg);
/* Close and remove it (when empty). */
void exec__cgroup_close(exec_cgroup_t *cg);
/* Make the cgroup of task seq (before its spawn).  Whether it exists. */
bool exec__cgroup_make(exec_cgroup_t *cg, uint32_t seq);
/* Put pid in the cgroup of task seq, made by exec__cgroup_make(); on a
 * failure the cgroup is removed.  Whether pid is in it. */
bool exec__cgroup_add(exec_cgroup_t *cg, uint32_t seq, pid_t pid);
/* SIGKILL every process in the cgroup of task seq (cgroup.kill). */
void exec__cgroup_kill(exec_cgroup_t *cg, uint32_t seq);
/* Remove the cgroup of task seq (kept while a process is left in it). */
void exec__cgroup_remove(exec_cgroup_t *cg, uint32_t seq);
/* The pids in the cgroup of task seq (at most max) into pids; how many. */
int exec__cgroup_pids(exec_cgroup_t *cg, uint32_t seq, pid_t *pids,
                      int max);

/* ----------------------------------------------------------------- guardian */

enum {
    EXEC_GUARD_SLOTS = 1 << 20, /* groups one executor can run at once */
    EXEC__MM_SEEN = 8,          /* address spaces a scan tells apart per
                                   task (beyond, members are summed) */
};

/* The guardian process that kills the tasks' groups when the executor's
 * process dies (exec_guard.c).  Owned by the executor. */
typedef struct exec_guard {
    pid_t pid;                     /* the guardian; 0 = none running */
    int wfd;                       /* write end of its pipe (never written;
                                      its closing is the message), or -1 */
    struct exec_guard_table *tab;  /* slots shared with the guardian */
    uint32_t free_head;            /* first free slot, 1-based; 0 = none */
    char prefix[EXEC_TAG_MAX];     /* exec__tag_prefix() at the fork: the
                                      tags the guardian looks for */
    const char *cg_path;           /* the executor's cgroup directory, or
                                      NULL (borrowed from exec_t) */
} exec_guard_t;

/* Map the table and fork the guardian, which also writes cgroup.kill of
 * the tasks' cgroups under cg_path (NULL: none; must live as long as the
 * guardian).  0 or -1 with errno. */
int exec__guard_init(exec_guard_t *g, const char *cg_path);
/* Kill and reap the guardian, unmap the table.  The caller has killed
 * every task already.  Accepts a guard whose init failed. */
void exec__guard_fini(exec_guard_t *g);
/* Fork a guardian if none runs.  0 or -1 with errno. */
int exec__guard_start(exec_guard_t *g);
/* If pid is the guardian (pid 0: whichever), reap it when it has exited
 * and start a new one on the same table.  True when it was reaped. */
bool exec__guard_reap(exec_guard_t *g, pid_t pid);
/* A free slot (1-based), or 0 with EAGAIN when all are in use.  The slot
 * kills nothing until exec__guard_set(). */
uint32_t exec__guard_reserve(exec_guard_t *g);
/* Make the guardian kill group pgid, and every process whose tag has task
 * number seq, if the process dies. */
void exec__guard_set(exec_guard_t *g, uint32_t slot, pid_t pgid,
                     uint32_t seq);
/* Free a slot (0: none). */
void exec__guard_release(exec_guard_t *g, uint32_t slot);

/* -------------------------------------------------------------------- tasks */

typedef struct exec_task exec_task_t;

/* One captured output pipe of a task. */
typedef struct exec_pipe {
    uv_poll_t poll;     /* watches fd for readability */
    int fd;             /* read end, nonblocking; -1 once at EOF/closed */
    exec_stream_t stream;
} exec_pipe_t;

/* Where a task is in being stopped. */
enum exec_kill_phase {
    EXEC_KILL_NONE = 0, /* not being stopped */
    EXEC_KILL_TERM,     /* SIGTERM sent, SIGKILL due at kill_due_ms */
    EXEC_KILL_KILLED,   /* SIGKILL sent at killed_ms; draining the pipes */
};

struct exec_task {
    exec_t *ex;
    void *task_arg;
    exec_task_t *prev, *next;   /* the executor's list, in start order */
    pid_t pid;                  /* also the process group id; 0 = none */
    uint32_t guard_slot;        /* its slot in the guardian's table, 0 none */
    uint32_t seq;               /* N of its tag (EXEC_TAG_VAR) */
    bool in_cgroup;             /* in its cgroup t<seq> (exec_cgroup.c) */
    bool capture;
    bool reaped;                /* wait4() collected the leader */
    bool has_timer;             /* timer was initialised */
    int open_handles;           /* uv handles not yet closed, plus one
                                   until the task is released */
    exec_pipe_t pipes[2];       /* stdout, stderr (when capture) */
    void (*on_output)(int fd, const char *data, size_t len, void *arg);
    void *on_output_arg;        /* exec_spec_t's */
    uv_timer_t timer;           /* timeout, kill grace, drain polling */
    int64_t start_ms;           /* util_mono_ms() at spawn */
    int64_t grace_ms;           /* SIGTERM -> SIGKILL delay */
    enum exec_kill_phase phase;
    int64_t kill_due_ms;        /* monotonic ms of the SIGKILL (TERM phase) */
    exec_termseq_t termseq;     /* the stop's signals (spec's), n 0: TERM
                                   then KILL after grace_ms */
    int term_step;              /* next step of termseq (TERM phase) */
    int64_t killed_ms;          /* monotonic ms of the SIGKILL */
    uint64_t mm_seen[EXEC__MM_SEEN][3]; /* scratch: (pid, vsize,
                                   startstack) of members counted in this
                                   scan: a member with the same address
                                   space (a vfork child, a CLONE_VM
                                   tracer) is not counted twice */
    unsigned nmm_seen;
    uint64_t rss_sum;           /* scratch: this scan's sum over the group */
    uint64_t rss_now;           /* the last scan's sum */
    bool busy_sum;              /* scratch: a member is running (R, D) */
    bool busy;                  /* ... at the last scan */
    unsigned samples;           /* scans that saw the task */
    int64_t peak_grew_ms;       /* util_mono_ms() of the scan that last
                                   raised the peak (start_ms before) */
    uint64_t mem_limit;         /* hard limit of the group's RSS, 0 none */
    exec_result_t res;          /* filled as things happen */
};

/* -------------------------------------------------------- process trees */

/* One process as /proc/<pid>/stat shows it (exec_rss.c). */
typedef struct exec_proc {
    pid_t pid, ppid, pgrp;
    bool zombie;                /* exited, not yet reaped */
    bool mark;                  /* scratch: in the tree being signalled */
} exec_proc_t;

/* Every process of the host at one moment, sorted by pid. */
typedef struct exec_procs {
    exec_proc_t *v;
    size_t n, cap;
} exec_procs_t;

/* ------------------------------------------------------------ the executor */

struct exec {
    uv_loop_t *loop;
    exec_done_cb cb;
    void *cb_arg;
    exec_task_t *head, *tail;   /* every task not yet reported */
    unsigned running;           /* tasks started and not yet reported */
    unsigned unreaped;          /* tasks whose process is not yet reaped */
    uint64_t self_maxrss;       /* banyan's high-water RSS, last reading */
    exec_task_t *failed_head;   /* spawn failures waiting to be reported */
    exec_task_t *failed_tail;
    util_hmap_t *map;           /* pid -> exec_task_t *, owned */
    uv_signal_t sigchld;
    uv_idle_t idle;             /* reports spawn failures asynchronously */
    uv_timer_t sampler;         /* memory sampling of long tasks */
    int64_t sample_every_ms;    /* current sampling period */
    unsigned nlimited;          /* running tasks with a memory limit */
    int64_t limit_every_ms;     /* sampling period while nlimited > 0 */
    bool no_sampling;           /* only tasks with a limit are sampled */
    int open_handles;           /* own handles not yet closed */
    bool closing;               /* exec_destroy() was called */
    int devnull;                /* O_RDONLY /dev/null for stdin, or -1 */
    exec_guard_t guard;         /* kills the groups if the process dies */
    exec_cgroup_t cg;           /* the tasks' cgroups, where available */
    exec_t *all_next;           /* the process's executors (exec.c) */
    exec_procs_t procs;         /* the last look at /proc for stopping */
    int64_t procs_ms;           /* util_mono_ms() of it */
    bool procs_ok;              /* procs holds a successful look */
    posix_spawnattr_t attr;     /* shared by every spawn */
    char **envp;                /* scratch for building environments */
    size_t envp_cap;
    struct exec_path *paths;    /* PATH lookups: program name -> file */
    size_t npaths;
    long page_size;
    char rbuf[65536];           /* read buffer for the pipes */
};

/* A program name found on PATH (exec_spawn.c). */
struct exec_path {
    char *name;                 /* as in argv[0], without '/' */
    char *file;                 /* absolute path of the executable */
};

/* Forget the cached PATH lookups. */
void exec__paths_free(exec_t *ex);

/* pid map (exec.c) */
exec_task_t *exec__map_find(const exec_t *ex, pid_t pid);
/* Whether pid is, for any executor of this process, an unreaped task
 * leader or the guardian: a child some executor reaps itself (exec.c). */
bool exec__pid_is_known(pid_t pid);

/* spawning (exec_spawn.c) */
int exec__spawn_attr_init(exec_t *ex);
/* Spawn t's process as described by spec.  0 with t->pid set and, with
 * capture, t->pipes[i].fd set; 0 with t->pid == 0 and t->res filled as a
 * completed, failed spawn (missing program, unreadable stdin, bad cwd); or -1
 * with errno and error text when nothing could be started. */
int exec__spawn(exec_t *ex, exec_task_t *t, const exec_spec_t *spec,
                banyan_error_t *error);

/* memory sampling (exec_rss.c) */
enum {
    EXEC_SAMPLE_AFTER_MS = 50,  /* tasks younger than this are not sampled */
    EXEC_SAMPLE_MIN_MS = 100,   /* shortest sampling period */
    EXEC_SAMPLE_MAX_MS = 2000,  /* longest sampling period */
};
/* Start the sampler if it is not running. */
void exec__sampler_kick(exec_t *ex);
/* Scan /proc once and raise the peak of every task whose group has members;
 * a task above its memory limit is killed (exec__limit_kill).  0 or -1 with
 * errno. */
int exec__sample_all(exec_t *ex);
/* Kill t for exceeding its memory limit (exec.c). */
void exec__limit_kill(exec_t *ex, exec_task_t *t);

/* process trees (exec_rss.c) */

/* Read /proc into ps (its old contents replaced).  0 or -1 with errno. */
int exec__procs_scan(exec_procs_t *ps);
void exec__procs_fini(exec_procs_t *ps);
/* Send sig to every live process of t's tree as ps saw it: t's group while
 * the number is t's, t's leader while unreaped, the orphans we adopted whose
 * tag names t, and the descendants of all of those.  ps NULL: scan now.
 * Returns the processes signalled (zombies are not), or -1 when /proc
 * could not be read (then only the group was signalled). */
int exec__tree_signal(exec_t *ex, exec_task_t *t, exec_procs_t *ps, int sig);
/* Whether pid, a zombie child of ours that no executor knows, is an orphan
 * we adopted (not in our process group: the children that other code of
 * this process starts stay in it) and so ours to reap. */
bool exec__is_adopted(pid_t pid);

#endif /* BANYAN_EXEC_PRIVATE_H */
