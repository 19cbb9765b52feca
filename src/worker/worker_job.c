/* SPDX-License-Identifier: MIT */
/* worker_job.c - the worker's pure parts: job cache, task expansion, GPU
 * choice and the worker id.
 *
 * A job definition arrives once (MSG_JOB) and is parsed once, by
 * msg_job_tasks(): the template and the inputs (or an array range, whose
 * task i has the single value FIRST + i as decimal text).  A
 * definition the worker cannot use is cached all the same, with the reason,
 * so that each of its tasks fails with that reason instead of "unknown
 * job".  Nothing here touches the loop or the socket.
 */
#include "worker.h"
#include "worker_private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "util/util.h"

/* ----------------------------------------------------------------- jobs */

worker__job_t *worker__job_create(const msg_job_t *m)
{
    worker__job_t *j = calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    j->id = m->id;
    j->def = m;
    j->cwd = m->cwd && *m->cwd ? m->cwd : NULL;
    j->timeout_ms = m->timeout_ms > 0 ? m->timeout_ms : 0;
    j->slots = m->req.slots > 0 ? m->req.slots : 1; /* 0 is taken as 1 */
    j->nblobs = m->nblobs;
    j->env = calloc((size_t)m->nenv + 1, sizeof(*j->env));
    j->blob_env = calloc((size_t)m->nblobs + 1, sizeof(*j->blob_env));
    util_buf_t text = UTIL_BUF_INIT;
    if (!j->env || !j->blob_env ||
        util_command_text(&text, m->words, m->nwords) < 0) {
        util_buf_fini(&text);
        goto nomem;
    }
    /* exec would read a bare name as "remove": leave it out. */
    for (uint32_t i = 0; i < m->nenv; i++)
        if (m->env[i] && strchr(m->env[i], '='))
            j->env[j->nenv++] = m->env[i];
    engine_group_name(text.data ? text.data : "", j->group, sizeof(j->group));
    util_buf_fini(&text);
    banyan_error_t err = {{0}};
    j->array = m->array_count > 0;
    if (msg_job_tasks(m, &j->ntasks, &j->tmpl, &j->inputs, &err) < 0) {
        if (errno == ENOMEM)
            goto nomem;
        snprintf(j->error, sizeof(j->error), "job %u: %s", m->id, err.text);
        return j;
    }
    j->arity = j->inputs ? tmpl_inputs_arity(j->inputs) : j->array;
    return j;
nomem:
    worker__job_destroy(j);
    errno = ENOMEM;
    return NULL;
}

void worker__job_destroy(worker__job_t *j)
{
    if (!j)
        return;
    int saved = errno;
    tmpl_destroy(j->tmpl);
    tmpl_inputs_destroy(j->inputs);
    free(j->env);
    worker__job_blobs_forget(j);
    free(j->blob_env);
    msg_free(j->msg);
    free(j);
    errno = saved;
}

void worker__job_blobs_forget(worker__job_t *j)
{
    for (uint32_t i = 0; j->blob_env && i < j->nblobs; i++) {
        free(j->blob_env[i]);
        j->blob_env[i] = NULL;
    }
    free(j->stdin_path);
    free(j->blob_error);
    j->stdin_path = j->blob_error = NULL;
}

struct worker__jobs {
    util_hmap_t *map;         /* uint32_t id -> worker__job_t *, owned */
};

worker__jobs_t *worker__jobs_create(void)
{
    worker__jobs_t *t = calloc(1, sizeof(*t));
    if (t && !(t->map = util_hmap_create(sizeof(uint32_t),
                                         sizeof(worker__job_t *), NULL,
                                         NULL))) {
        free(t);
        t = NULL;
    }
    if (!t)
        errno = ENOMEM;
    return t;
}

void worker__jobs_destroy(worker__jobs_t *t)
{
    if (!t)
        return;
    util_hmap_iter_t it = UTIL_HMAP_ITER_INIT;
    worker__job_t *j;
    while ((j = worker__jobs_next(t, &it)))
        worker__job_destroy(j);
    util_hmap_destroy(t->map);
    free(t);
}

int worker__jobs_add(worker__jobs_t *t, worker__job_t *j)
{
    bool created;
    worker__job_t **slot = util_hmap_insert(t->map, &j->id, &created);
    if (!slot || !created) {
        worker__job_destroy(j);
        errno = slot ? EEXIST : ENOMEM;
        return -1;
    }
    *slot = j;
    return 0;
}

worker__job_t *worker__jobs_find(const worker__jobs_t *t, uint32_t id)
{
    worker__job_t **j = util_hmap_find(t->map, &id);
    return j ? *j : NULL;
}

size_t worker__jobs_count(const worker__jobs_t *t)
{
    return util_hmap_count(t->map);
}

worker__job_t *worker__jobs_next(const worker__jobs_t *t,
                                 util_hmap_iter_t *it)
{
    void *v;
    return util_hmap_next(t->map, it, NULL, &v) ? *(worker__job_t **)v
                                                 : NULL;
}

/* ---------------------------------------------------------------- tasks */

int worker__gpu_mask_indices(const gpu_info_t *gpus, int ngpus, uint64_t mask,
                             int *out)
{
    int n = 0;
    for (int bit = 0; bit < 64 && mask; bit++, mask >>= 1) {
        if (!(mask & 1))
            continue;
        if (bit >= ngpus) {
            errno = ERANGE;
            return -1;
        }
        out[n++] = gpus[bit].index;
    }
    return n;
}

void worker__launch_fini(worker__launch_t *l)
{
    int saved = errno;
    free(l->argv);
    free(l->line);
    memset(l, 0, sizeof(*l));
    errno = saved;
}

int worker__launch_prepare(const worker__job_t *j, uint64_t index,
                           uint32_t slot, const int *gpu_idx, int ngpu_idx,
                           bool has_gpus, const char *worker_name,
                           const char *const *extra, worker__launch_t *l,
                           banyan_error_t *error)
{
    memset(l, 0, sizeof(*l));
    if (!j->tmpl) {
        errno = EINVAL;
        return errprintf(error, "%s", j->error);
    }
    if (index >= j->ntasks) {
        errno = ERANGE;
        return errprintf(error, "task %llu is beyond job %u (%llu tasks)",
                         (unsigned long long)index + 1, j->id,
                         (unsigned long long)j->ntasks);
    }
    const char *vals[j->arity ? j->arity : 1];
    char number[24];
    if (j->array) {
        snprintf(number, sizeof(number), "%llu",
                 (unsigned long long)(j->def->array_first + index));
        vals[0] = number;
    } else if (j->inputs && tmpl_inputs_get(j->inputs, index, vals) < 0) {
        errno = ERANGE;
        return errprintf(error, "task %llu is beyond job %u",
                         (unsigned long long)index + 1, j->id);
    }
    tmpl_ctx_t ctx = {.vals = vals, .nvals = j->arity, .seq = index + 1,
                      .slot = slot};
    if (ngpu_idx > GPU_MAX)
        ngpu_idx = GPU_MAX;
    if (ngpu_idx > 0)
        memcpy(l->gpu_index, gpu_idx, (size_t)ngpu_idx * sizeof(*gpu_idx));
    l->env = (engine_env_in_t){
        .job_id = j->id, .task_number = index + 1, .slot = slot,
        .worker_name = worker_name, .host_has_gpus = has_gpus,
        .gpu_index = l->gpu_index, .ngpus = ngpu_idx,
        .job_env = (const char *const *)j->env, .njob_env = j->nenv,
        .extra = extra,
    };
    if (tmpl_expand(j->tmpl, &ctx, &l->argv, &l->line) < 0) {
        int saved = errno;
        worker__launch_fini(l);
        errno = saved;
        return errprintf(error, "cannot expand task %llu of job %u: %s",
                         (unsigned long long)index + 1, j->id,
                         strerror(saved));
    }
    return 0;
}

/* ------------------------------------------------------------------ GPUs */

static int find_gpu(const gpu_info_t *all, int n, const char *want)
{
    long idx;
    bool numeric = util_parse_long(want, 0, GPU_MAX * 1024, &idx) == 0;
    for (int i = 0; i < n; i++) {
        if (numeric ? all[i].index == idx : strcmp(all[i].uuid, want) == 0)
            return i;
    }
    return -1;
}

int worker_gpus_select(const char *spec, gpu_info_t *out, int max,
                       banyan_error_t *error)
{
    if (spec && strcmp(spec, "none") == 0)
        return 0;
    gpu_info_t all[GPU_MAX];
    gpu_source_t src;
    int n = gpu_discover(all, GPU_MAX, &src, error);
    if (n < 0)
        return -1;
    if (!spec || strcmp(spec, "auto") == 0) {
        n = n < max ? n : max;
        memcpy(out, all, (size_t)n * sizeof(*out));
        return n;
    }
    char *copy = strdup(spec);
    if (!copy) {
        errno = ENOMEM;
        return errprintf(error, "out of memory");
    }
    int count = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        int k = find_gpu(all, n, tok);
        if (k < 0 || count >= max) {
            errprintf(error, k < 0 ? "no GPU '%s' on this host (%d found)"
                                   : "too many GPUs in '%s' (%d found)",
                      tok, n);
            free(copy);
            errno = EINVAL;
            return -1;
        }
        for (int i = 0; i < count; i++) {
            if (out[i].index == all[k].index) {
                errprintf(error, "GPU '%s' is listed twice", tok);
                free(copy);
                errno = EINVAL;
                return -1;
            }
        }
        out[count++] = all[k];
    }
    free(copy);
    if (count == 0) {
        errno = EINVAL;
        return errprintf(error, "empty GPU list '%s'", spec);
    }
    return count;
}

/* -------------------------------------------------------------------- id */

/* Process start in ms since the epoch, from /proc (0 when unknown). */
static uint64_t process_start_ms(void)
{
    char *stat = NULL, *all = NULL;
    size_t len;
    uint64_t ms = 0;
    if (util_read_file("/proc/self/stat", &stat, &len) < 0 ||
        util_read_file("/proc/stat", &all, &len) < 0)
        goto out;
    const char *p = strrchr(stat, ')');
    if (!p)
        goto out;
    /* Field 22 (starttime) is the 20th after the ')' closing comm. */
    for (int f = 0; f < 20 && p; f++)
        p = strchr(p + 1, ' ');
    const char *bt = strstr(all, "\nbtime ");
    long ticks = sysconf(_SC_CLK_TCK);
    if (!p || !bt || ticks <= 0)
        goto out;
    unsigned long long start = strtoull(p + 1, NULL, 10);
    unsigned long long boot = strtoull(bt + 7, NULL, 10);
    ms = boot * 1000 + start * 1000 / (unsigned long long)ticks;
out:
    free(stat);
    free(all);
    return ms;
}

char *worker_id_format(char *buf, size_t size)
{
    char host[256] = "localhost";
    if (gethostname(host, sizeof(host)) < 0 || !host[0])
        strcpy(host, "localhost");
    host[sizeof(host) - 1] = '\0';
    uint64_t start = process_start_ms();
    if (!start)
        start = (uint64_t)(util_wall_time() * 1000);
    /* The rest is secret, made once per process: host, pid and start can
     * be read in /proc, and whoever knows a worker's id could say HELLO as
     * that worker. */
    static uint64_t secret[2];
    static pid_t secret_pid;
    if (secret_pid != getpid()) {
        if (getrandom(secret, sizeof(secret), 0) != (ssize_t)sizeof(secret))
            secret[0] = util_mono_ms() ^ ((uint64_t)getpid() << 32);
        secret_pid = getpid();
    }
    snprintf(buf, size, "%s:%ld:%llu:%016llx%016llx", host, (long)getpid(),
             (unsigned long long)start, (unsigned long long)secret[0],
             (unsigned long long)secret[1]);
    return buf;
}
