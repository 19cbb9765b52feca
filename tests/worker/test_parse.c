/* SPDX-License-Identifier: MIT */
/* test_parse.c - the worker's pure parts: job definitions, task expansion
 * (argv and environment), GPU masks and selection, key files, worker id.
 *
 * No socket and no loop: job definitions are built as the decoder would
 * hand them over (msg_job_t), so these tests run without the codec.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "util/util.h"
#include "worker/worker.h"
#include "worker/worker_private.h"

/* argv joined with '|', into a static buffer. */
static const char *join(char **argv)
{
    static char buf[1024];
    buf[0] = '\0';
    for (char **a = argv; a && *a; a++) {
        if (a != argv)
            strncat(buf, "|", sizeof(buf) - strlen(buf) - 1);
        strncat(buf, *a, sizeof(buf) - strlen(buf) - 1);
    }
    return buf;
}

/* The value of name in the environment the engine builds for l (the last
 * entry wins, as exec applies them), or NULL.  Static buffer. */
static const char *env_get(const worker__launch_t *l, const char *name)
{
    static char val[512];
    engine_env_t e;
    if (engine_env_build(&e, &l->env) < 0)
        return NULL;
    const char *v = NULL;
    size_t n = strlen(name);
    for (const char **p = e.env; p && *p; p++)
        if (strncmp(*p, name, n) == 0 && (*p)[n] == '=')
            v = *p + n + 1;
    if (v)
        snprintf(val, sizeof(val), "%s", v);
    engine_env_fini(&e);
    return v ? val : NULL;
}

static void test_values_job(void)
{
    const char *words[] = {"sh", "-c", "echo $0 $1", "{1}", "{2}"};
    const char *s1[] = {"a", "b", "c"};
    const char *s2[] = {"x", "y"};
    const banyan_source_t src[] = {{s1, 3, false}, {s2, 2, false}};
    const char *env[] = {"FOO=bar", "BANYAN_SLOT=99", "BARE"};
    msg_job_t m = {.id = 7, .nwords = 5, .words = words, .nsources = 2,
                   .sources = src,
                   .nenv = 3, .env = env, .cwd = "/tmp",
                   .timeout_ms = 1500};
    worker__job_t *j = worker__job_create(&m);
    ok(j && j->tmpl && !j->error[0], "a job with two sources is usable");
    if (!j)
        return;
    is_int(j->ntasks, 6, "two sources of 3 and 2 values make 6 tasks");
    is_int(j->arity, 2, "each task has two values");
    is_int(j->nenv, 2, "a bare name in the job's env is dropped");
    is_str(j->cwd, "/tmp", "the job's cwd is kept");
    is_int(j->timeout_ms, 1500, "the job's timeout is kept");

    worker__launch_t l;
    banyan_error_t err = {{0}};
    ok(worker__launch_prepare(j, 3, 2, NULL, 0, false, NULL, NULL, &l, &err) == 0,
       "task 4 expands");
    is_str(join(l.argv), "sh|-c|echo $0 $1|b|y",
           "task 4 gets the second value of source 1 and the second of 2");
    is_str(env_get(&l, "FOO"), "bar", "the job's env reaches the task");
    is_str(env_get(&l, "BANYAN_TASK_ID"), "4",
           "BANYAN_TASK_ID is the task's number in its job (index + 1)");
    is_str(env_get(&l, "BANYAN_JOB_ID"), "7", "BANYAN_JOB_ID is the job");
    is_str(env_get(&l, "BANYAN_SLOT"), "2",
           "BANYAN_SLOT is the assigned slot and overrides the job's");
    ok(env_get(&l, "CUDA_VISIBLE_DEVICES") == NULL,
       "a worker without GPUs sets no GPU variables");
    worker__launch_fini(&l);

    errno = 0;
    ok(worker__launch_prepare(j, 6, 1, NULL, 0, false, NULL, NULL, &l, &err) < 0 &&
           errno == ERANGE && strstr(err.text, "beyond"),
       "an index beyond the job fails with ERANGE: %s", err.text);
    ok(l.argv == NULL && l.line == NULL, "a failed expansion leaves nothing");
    worker__job_destroy(j);
}

static void test_linked_and_shell(void)
{
    const char *words[] = {"echo {1}-{2} {#} {%}"};
    const char *s1[] = {"a", "b", "c"};
    const char *s2[] = {"x", "y", "z"};
    const banyan_source_t src[] = {{s1, 3, false}, {s2, 3, true}};
    msg_job_t m = {.id = 1, .nwords = 1, .words = words, .nsources = 2,
                   .sources = src};
    worker__job_t *j = worker__job_create(&m);
    ok(j && j->tmpl, "a job with linked sources is usable");
    if (!j)
        return;
    is_int(j->ntasks, 3, "linked sources of 3 values make 3 tasks");
    worker__launch_t l;
    ok(worker__launch_prepare(j, 2, 5, NULL, 0, false, NULL, NULL, &l, NULL) == 0,
       "task 3 expands");
    is_str(join(l.argv), "/bin/sh|-c|echo c-z 3 5",
           "a one-word template runs under sh with {#} and {%%}");
    worker__launch_fini(&l);
    worker__job_destroy(j);
}

static void test_array_job(void)
{
    const char *words[] = {"echo", "{}"};
    msg_job_t m = {.id = 3, .nwords = 2, .words = words,
                   .array_first = 1000, .array_count = 5};
    worker__job_t *j = worker__job_create(&m);
    ok(j && j->tmpl && j->array, "an array job is usable");
    if (!j)
        return;
    is_int(j->ntasks, 5, "an array of 5 has 5 tasks");
    worker__launch_t l;
    ok(worker__launch_prepare(j, 4, 1, NULL, 0, false, NULL, NULL, &l, NULL) == 0,
       "the last array task expands");
    is_str(join(l.argv), "echo|1004", "array task i gets {} = first + i");
    worker__launch_fini(&l);
    ok(worker__launch_prepare(j, 5, 1, NULL, 0, false, NULL, NULL, &l, NULL) < 0,
       "the task after the array's end is refused");
    worker__job_destroy(j);

    const char *plain[] = {"true"};
    msg_job_t one = {.id = 4, .nwords = 1, .words = plain};
    j = worker__job_create(&one);
    ok(j && j->tmpl && j->ntasks == 1,
       "a job without inputs or array has one task");
    ok(j && worker__launch_prepare(j, 0, 1, NULL, 0, false, NULL, NULL, &l, NULL) == 0 &&
           strcmp(join(l.argv), "true") == 0,
       "its task is the command as written");
    if (j)
        worker__launch_fini(&l);
    worker__job_destroy(j);
}

static void test_bad_jobs(void)
{
    const char *words[] = {"echo", "{3}"};
    const char *s1[] = {"a"};
    const banyan_source_t src[] = {{s1, 1, false}};
    msg_job_t m = {.id = 9, .nwords = 2, .words = words, .nsources = 1,
                   .sources = src};
    worker__job_t *j = worker__job_create(&m);
    ok(j && !j->tmpl && strstr(j->error, "{3}"),
       "a template using {3} with one source is refused: %s",
       j ? j->error : "");
    worker__launch_t l;
    banyan_error_t err = {{0}};
    errno = 0;
    ok(j && worker__launch_prepare(j, 0, 1, NULL, 0, false, NULL, NULL, &l, &err) < 0 &&
           errno == EINVAL && strstr(err.text, "job 9"),
       "its tasks fail with the reason: %s", err.text);
    worker__job_destroy(j);

    msg_job_t empty = {.id = 10, .nwords = 0};
    j = worker__job_create(&empty);
    ok(j && !j->tmpl && strstr(j->error, "empty"),
       "an empty command is refused: %s", j ? j->error : "");
    worker__job_destroy(j);

    const banyan_source_t linked[] = {{s1, 1, true}};
    const char *w2[] = {"echo"};
    msg_job_t bad_link = {.id = 11, .nwords = 1, .words = w2, .nsources = 1,
                          .sources = linked};
    j = worker__job_create(&bad_link);
    ok(j && !j->tmpl && j->error[0],
       "a first source linked to nothing is refused: %s", j ? j->error : "");
    worker__job_destroy(j);

    msg_job_t both = {.id = 12, .nwords = 1, .words = w2, .nsources = 1,
                      .sources = src, .array_count = 3};
    j = worker__job_create(&both);
    ok(j && !j->tmpl && strstr(j->error, "both"),
       "inputs and an array together are refused: %s", j ? j->error : "");
    worker__job_destroy(j);
}

static void test_job_table(void)
{
    worker__jobs_t *t = worker__jobs_create();
    const char *words[] = {"true"};
    int added = 0;
    for (uint32_t id = 1; id <= 100; id++) {
        msg_job_t m = {.id = id * 7, .nwords = 1, .words = words};
        worker__job_t *j = worker__job_create(&m);
        if (j && worker__jobs_add(t, j) == 0)
            added++;
    }
    is_int(added, 100, "100 jobs go into the table");
    bool all = true;
    for (uint32_t id = 1; id <= 100; id++) {
        worker__job_t *j = worker__jobs_find(t, id * 7);
        all = all && j && j->id == id * 7;
    }
    ok(all, "every job is found by its id after the table grew");
    ok(worker__jobs_find(t, 8) == NULL, "an unknown id is not found");
    msg_job_t again = {.id = 14, .nwords = 1, .words = words};
    errno = 0;
    ok(worker__jobs_add(t, worker__job_create(&again)) < 0 &&
           errno == EEXIST,
       "a second definition of a job is refused with EEXIST");
    is_int(worker__jobs_count(t), 100, "the table holds the 100 jobs");
    worker__jobs_destroy(t);
}

static void test_gpus(void)
{
    gpu_info_t gpus[3] = {{.index = 0}, {.index = 2}, {.index = 5}};
    int idx[GPU_MAX];
    is_int(worker__gpu_mask_indices(gpus, 3, 0x5, idx), 2,
           "mask 0b101 names two GPUs");
    ok(idx[0] == 0 && idx[1] == 5,
       "mask positions map to the device indices of the HELLO's GPUs");
    is_int(worker__gpu_mask_indices(gpus, 3, 0, idx), 0,
           "an empty mask names no GPU");
    errno = 0;
    ok(worker__gpu_mask_indices(gpus, 3, 0x8, idx) < 0 && errno == ERANGE,
       "a mask beyond the worker's GPUs fails with ERANGE");

    const gpu_info_t *g = gpus;
    worker__job_t *j;
    const char *words[] = {"true"};
    msg_job_t m = {.id = 2, .nwords = 1, .words = words};
    j = worker__job_create(&m);
    worker__launch_t l;
    int two[] = {g[1].index, g[2].index};
    ok(j && worker__launch_prepare(j, 0, 1, two, 2, true, NULL, NULL, &l, NULL) == 0,
       "a task with two GPUs expands");
    if (j) {
        is_str(env_get(&l, "CUDA_VISIBLE_DEVICES"), "2,5",
               "CUDA_VISIBLE_DEVICES lists the task's device indices");
        is_str(env_get(&l, "CUDA_DEVICE_ORDER"), "PCI_BUS_ID",
               "CUDA_DEVICE_ORDER is PCI_BUS_ID");
        worker__launch_fini(&l);
        ok(worker__launch_prepare(j, 0, 1, NULL, 0, true, NULL, NULL, &l, NULL) == 0,
           "a task without GPUs on a GPU worker expands");
        is_str(env_get(&l, "CUDA_VISIBLE_DEVICES"), "",
               "a task without GPUs sees none on a worker that has some");
        worker__launch_fini(&l);
    }
    worker__job_destroy(j);

    setenv("BANYAN_GPUS", "fake:4", 1);
    gpu_info_t out[GPU_MAX];
    banyan_error_t err = {{0}};
    is_int(worker_gpus_select(NULL, out, GPU_MAX, &err), 4,
           "no --gpus offers every GPU found (BANYAN_GPUS=fake:4)");
    is_int(worker_gpus_select("auto", out, GPU_MAX, &err), 4,
           "--gpus auto offers every GPU found");
    is_int(worker_gpus_select("none", out, GPU_MAX, &err), 0,
           "--gpus none offers none");
    int n = worker_gpus_select("3,1", out, GPU_MAX, &err);
    ok(n == 2 && out[0].index == 3 && out[1].index == 1,
       "--gpus 3,1 offers those two, in that order");
    n = worker_gpus_select("fake-2", out, GPU_MAX, &err);
    ok(n == 1 && out[0].index == 2, "a GPU can be named by its UUID");
    errno = 0;
    ok(worker_gpus_select("7", out, GPU_MAX, &err) < 0 && errno == EINVAL &&
           strstr(err.text, "'7'"),
       "a GPU that does not exist is refused: %s", err.text);
    ok(worker_gpus_select("1,1", out, GPU_MAX, &err) < 0 &&
           strstr(err.text, "twice"),
       "a GPU listed twice is refused: %s", err.text);
    ok(worker_gpus_select(",", out, GPU_MAX, &err) < 0,
       "an empty list is refused: %s", err.text);
    setenv("BANYAN_GPUS", "fake:x", 1);
    ok(worker_gpus_select("auto", out, GPU_MAX, &err) < 0,
       "a malformed BANYAN_GPUS is an error: %s", err.text);
    unsetenv("BANYAN_GPUS");
}

static void test_worker_id(void)
{
    char a[320], b[320], host[256] = "";
    worker_id_format(a, sizeof(a));
    worker_id_format(b, sizeof(b));
    is_str(a, b, "the worker id is stable within a process");
    gethostname(host, sizeof(host));
    char pid[32];
    snprintf(pid, sizeof(pid), ":%ld:", (long)getpid());
    ok(strncmp(a, host, strlen(host)) == 0 && strstr(a, pid),
       "the worker id is host:pid:start:secret (%s)", a);
    const char *start = strstr(a, pid) + strlen(pid);
    double ms = strtod(start, NULL);
    double now = util_wall_time() * 1000;
    ok(ms > now - 3600e3 && ms <= now + 2000,
       "its start is this process's start time in ms (%s)", start);
}

int main(void)
{
    plan(NO_PLAN);
    test_values_job();
    test_linked_and_shell();
    test_array_job();
    test_bad_jobs();
    test_job_table();
    test_gpus();
    test_worker_id();
    return done_testing();
}
