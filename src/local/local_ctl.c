/* SPDX-License-Identifier: MIT */
/* local_ctl.c - GNU Parallel's execution control in the local driver:
 * --delay, --load, --noswap, --limit, -j FILE, --timeout N%, --wd.
 *
 * An object that local.c creates from its engine options and asks at
 * each start (local__ctl_may_start: every gate GNU applies before it
 * starts a job, in GNU's order) and tells at each end (the run times of
 * succeeded tasks, for the median behind --timeout N%).  Nothing here
 * touches a task: local.c kills and requeues.
 *
 * The gates read the host themselves, each at most as often as GNU does
 * its own: the process count behind --load and the swap activity behind
 * --noswap once a second, the --limit command before every start it
 * would allow (and every LIMIT_RETRY_MS while it says no).
 *
 * The median of --timeout N% is exact (two heaps: the lower half a max
 * heap, the upper half a min heap), where GNU takes a remedian of string
 * sorts; the two agree for the run times GNU's sort orders right.
 */
#include "local_private.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/util.h"

extern char **environ;

enum {
    HOST_EVERY_MS = 1000,      /* the /proc reads of --load and --noswap */
    LIMIT_RETRY_MS = 100,      /* --limit asked again after a "no" */
    JOBS_FILE_EVERY_MS = 200,  /* -j FILE read again at most this often */
    PF_KTHREAD_FLAG = 0x00200000,
};

/* A binary heap of doubles; max heap when sign is -1 (stored negated). */
typedef struct heap {
    double *v;
    size_t n, cap;
} heap_t;

struct local__ctl {
    engine_options_t o;        /* borrowed strings: the caller's */
    int64_t last_start_ms;     /* --delay: the newest start, 0 none */
    int64_t host_ms;           /* when the host was last read */
    uint64_t nrun_milli;       /* --load: processes running, milli */
    uint64_t swp_in, swp_out;  /* --noswap: the counters last read */
    bool swapping;
    int64_t limit_next_ms;     /* --limit: not asked again before */
    int64_t jobs_file_ms;      /* -j FILE last read */
    heap_t lo, hi;             /* --timeout N%: the two halves */
    char home_tmp[4096];       /* --wd ...: ~/.parallel/tmp */
};

/* ----------------------------------------------------------- parsing */

int local_jobs_parse(const char *s, uint64_t *milli)
{
    char buf[64];
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        n--; /* a file's final newline */
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    uint64_t ncpus_milli = (uint64_t)util_ncpus() * 1000;
    char *end;
    if (buf[0] == '+' || buf[0] == '-') {
        if (!isdigit((unsigned char)buf[1]))
            return -1;
        errno = 0;
        unsigned long long v = strtoull(buf + 1, &end, 10);
        if (*end || errno || v > 1000000)
            return -1;
        uint64_t d = v * 1000;
        if (buf[0] == '+')
            *milli = ncpus_milli + d;
        else
            *milli = ncpus_milli > d ? ncpus_milli - d : 0;
        return 0;
    }
    if (!isdigit((unsigned char)buf[0]))
        return -1;
    errno = 0;
    double v = strtod(buf, &end);
    if (errno || v > 1e9)
        return -1;
    if (!strcmp(end, "%")) {
        double x = (double)ncpus_milli * v / 100.0;
        *milli = (uint64_t)x;
        if ((double)*milli < x)
            (*milli)++;
        return 0;
    }
    if (*end || strchr(buf, '.'))
        return -1; /* GNU: a plain count is an integer */
    *milli = (uint64_t)v * 1000;
    return 0;
}

uint32_t local_jobs_from_milli(uint64_t milli)
{
    uint64_t n = (milli + 999) / 1000; /* GNU rounds up */
    if (n < 1)
        n = 1;
    return n > 1000000 ? 1000000 : (uint32_t)n;
}

/* ------------------------------------------------------------ median */

static int heap_push(heap_t *h, double x)
{
    if (util_grow((void **)&h->v, &h->cap, h->n + 1, sizeof(*h->v)) < 0)
        return -1;
    size_t i = h->n++;
    while (i > 0 && h->v[(i - 1) / 2] > x) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = x;
    return 0;
}

static double heap_pop(heap_t *h)
{
    double top = h->v[0], x = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->v[c + 1] < h->v[c])
            c++;
        if (h->v[c] >= x)
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n)
        h->v[i] = x;
    return top;
}

/* lo holds the lower half negated (a max heap); lo has n or n + 1. */
static void median_add(local__ctl_t *c, double x)
{
    if (c->lo.n == 0 || x <= -c->lo.v[0])
        (void)heap_push(&c->lo, -x);
    else
        (void)heap_push(&c->hi, x);
    if (c->lo.n > c->hi.n + 1)
        (void)heap_push(&c->hi, -heap_pop(&c->lo));
    else if (c->hi.n > c->lo.n)
        (void)heap_push(&c->lo, -heap_pop(&c->hi));
}

static bool median_get(const local__ctl_t *c, double *m)
{
    if (c->lo.n == 0)
        return false;
    *m = c->lo.n > c->hi.n ? -c->lo.v[0] : (-c->lo.v[0] + c->hi.v[0]) / 2;
    return true;
}

/* -------------------------------------------------------------- host */

/* Processes in state R or D, kernel threads aside (GNU counts the lines
 * of `ps ax -o state,command` that begin with D, O or R and whose command
 * is not a [kernel thread]). */
static uint64_t count_running(void)
{
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    uint64_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        char path[300], buf[512];
        snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t len = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (len <= 0)
            continue;
        buf[len] = '\0';
        char *p = strrchr(buf, ')');
        char state;
        unsigned long flags = 0;
        /* ") S ppid pgrp session tty tpgid flags" */
        if (!p || sscanf(p + 1, " %c %*d %*d %*d %*d %*d %lu", &state,
                         &flags) != 2)
            continue;
        if ((state == 'R' || state == 'D') && !(flags & PF_KTHREAD_FLAG))
            n++;
    }
    closedir(d);
    return n;
}

static void read_swap(uint64_t *in, uint64_t *out)
{
    FILE *f = fopen("/proc/vmstat", "re");
    *in = *out = 0;
    if (!f)
        return;
    char key[64];
    unsigned long long v;
    while (fscanf(f, "%63s %llu", key, &v) == 2) {
        if (!strcmp(key, "pswpin"))
            *in = v;
        else if (!strcmp(key, "pswpout"))
            *out = v;
    }
    fclose(f);
}

static void read_host(local__ctl_t *c, int64_t now)
{
    if (c->host_ms && now - c->host_ms < HOST_EVERY_MS)
        return;
    c->host_ms = now;
    if (c->o.load_milli)
        c->nrun_milli = count_running() * 1000;
    if (c->o.noswap) {
        uint64_t in, out;
        read_swap(&in, &out);
        c->swapping = c->swp_in && in > c->swp_in && out > c->swp_out;
        c->swp_in = in ? in : 1;
        c->swp_out = out;
    }
}

/* ------------------------------------------------------------- limit */

/* The memory GNU's built-in `--limit "mem SIZE"` counts as free:
 * MemFree + Buffers + Cached + SwapCached. */
static uint64_t mem_free_gnu(void)
{
    FILE *f = fopen("/proc/meminfo", "re");
    if (!f)
        return 0;
    char key[64];
    unsigned long long kb, sum = 0;
    while (fscanf(f, "%63s %llu kB", key, &kb) == 2)
        if (!strcmp(key, "MemFree:") || !strcmp(key, "Buffers:") ||
            !strcmp(key, "Cached:") || !strcmp(key, "SwapCached:"))
            sum += kb;
    fclose(f);
    return sum * 1024;
}

/* The shell GNU would run the command in (the tmpl module runs the jobs
 * in the same one). */
static const char *shell_of(void)
{
    const char *s = getenv("PARALLEL_SHELL");
    if (!s || !*s)
        s = getenv("SHELL");
    return s && *s ? s : "/bin/sh";
}

int local__ctl_limit(local__ctl_t *c)
{
    const char *cmd = c->o.limit_cmd;
    while (isspace((unsigned char)*cmd))
        cmd++;
    if (!strncmp(cmd, "mem", 3) && isspace((unsigned char)cmd[3])) {
        uint64_t want;
        if (util_parse_size(cmd + 4 + strspn(cmd + 4, " \t"), &want) == 0) {
            uint64_t have = mem_free_gnu();
            return have < want / 2 ? 2 : have < want;
        }
    }
    if (!strncmp(cmd, "load", 4) && isspace((unsigned char)cmd[4])) {
        uint64_t max;
        if (local_jobs_parse(cmd + 5 + strspn(cmd + 5, " \t"), &max) == 0)
            return max < count_running() * 1000;
    }
    /* Any other command: its exit code, GNU's protocol. */
    const char *argv[] = {shell_of(), "-c", cmd, NULL};
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = malloc((n + 2) * sizeof(*env));
    if (!env)
        return 1;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "SSHLOGIN=", 9) != 0)
            env[k++] = environ[i];
    env[k++] = (char *)"SSHLOGIN=:";
    env[k] = NULL;
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], NULL, NULL, (char *const *)argv,
                         env);
    free(env);
    if (rc != 0)
        return 1;
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return 1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

/* ------------------------------------------------------------ public */

local__ctl_t *local__ctl_create(const engine_options_t *o)
{
    local__ctl_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->o = *o;
    const char *home = getenv("HOME");
    snprintf(c->home_tmp, sizeof(c->home_tmp), "%s/.parallel/tmp",
             home && *home ? home : "/tmp");
    if (o->nice_set)
        (void)setpriority(PRIO_PROCESS, 0, o->nice); /* inherited */
    return c;
}

void local__ctl_destroy(local__ctl_t *c)
{
    if (!c)
        return;
    free(c->lo.v);
    free(c->hi.v);
    free(c);
}

bool local__ctl_may_start(local__ctl_t *c, int64_t now, int64_t *retry_ms)
{
    *retry_ms = 0;
    if (c->o.delay_ms && c->last_start_ms &&
        now - c->last_start_ms < c->o.delay_ms) {
        *retry_ms = c->last_start_ms + c->o.delay_ms - now;
        return false;
    }
    read_host(c, now);
    if (c->o.load_milli && c->nrun_milli >= c->o.load_milli)
        return false;
    if (c->o.noswap && c->swapping)
        return false;
    if (c->o.limit_cmd) {
        if (now < c->limit_next_ms)
            return false;
        if (local__ctl_limit(c) != 0) {
            c->limit_next_ms = now + LIMIT_RETRY_MS;
            *retry_ms = LIMIT_RETRY_MS;
            return false;
        }
    }
    return true;
}

bool local__ctl_one_at_a_time(const local__ctl_t *c)
{
    return c->o.delay_ms > 0 || c->o.limit_cmd != NULL;
}

void local__ctl_started(local__ctl_t *c, int64_t now)
{
    c->last_start_ms = now;
}

bool local__ctl_jobs_file(local__ctl_t *c, int64_t now, uint32_t *slots)
{
    if (!c->o.jobs_file || (c->jobs_file_ms &&
                            now - c->jobs_file_ms < JOBS_FILE_EVERY_MS))
        return false;
    c->jobs_file_ms = now;
    char buf[64];
    int fd = open(c->o.jobs_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    uint64_t milli;
    if (n <= 0)
        return false;
    buf[n] = '\0';
    if (local_jobs_parse(buf, &milli) < 0)
        return false;
    *slots = milli == 0 ? 1000000 : local_jobs_from_milli(milli);
    return true;
}

void local__ctl_ended(local__ctl_t *c, double runtime_s, bool ok)
{
    if (ok && c->o.timeout_pct_milli)
        median_add(c, runtime_s);
}

int64_t local__ctl_timeout_ms(const local__ctl_t *c)
{
    double m;
    if (!c->o.timeout_pct_milli || !median_get(c, &m))
        return 0;
    int64_t ms = (int64_t)(m * 1000.0 * c->o.timeout_pct_milli / 100000.0);
    return ms > 0 ? ms : 1;
}

/* ---------------------------------------------------------------- wd */

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        (void)rmdir(path);
    else
        (void)unlink(path);
    return 0;
}

int local__ctl_wd_enter(local__ctl_t *c, uint64_t seq, char *buf,
                        size_t size, const char **cwd)
{
    const char *wd = c->o.wd;
    *cwd = NULL;
    if (!wd || !strcmp(wd, "."))
        return 0;
    if (!strcmp(wd, "...")) {
        char host[256];
        if (gethostname(host, sizeof(host)) < 0)
            snprintf(host, sizeof(host), "localhost");
        host[sizeof(host) - 1] = '\0';
        snprintf(buf, size, "%s/%s-%ld-%llu", c->home_tmp, host,
                 (long)getpid(), (unsigned long long)seq);
        wd = buf;
    }
    if (util_mkdir_p(wd, 0755) < 0)
        return -1;
    *cwd = wd;
    return 0;
}

void local__ctl_wd_leave(local__ctl_t *c, const char *cwd)
{
    if (cwd && c->o.wd && !strcmp(c->o.wd, "..."))
        (void)nftw(cwd, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
