/* SPDX-License-Identifier: MIT */
/* test_env.c - the one builder of a task's environment (engine_env_build):
 * every variable with its one meaning (BANYAN_TASK_ID the task's number,
 * BANYAN_JOB_ID, BANYAN_SLOT, BANYAN_WORKER only when given, the GPU
 * variables only on a host with GPUs and empty lists when the task has
 * none), the job's entries first so that the engine's win, the extra
 * entries last, njob_env, borrowed entries, and engine_env_fini; then one
 * real task through exec, to see what a process gets. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/engine.h"
#include "tap.h"

#define ENTRIES(...) ((const char *const[]){__VA_ARGS__, NULL})

static size_t env_count(const engine_env_t *e)
{
    size_t n = 0;
    while (e->env && e->env[n])
        n++;
    return n;
}

/* The index of the first entry that is exactly text, or -1. */
static long find_entry(const engine_env_t *e, const char *text)
{
    for (size_t i = 0; e->env && e->env[i]; i++)
        if (!strcmp(e->env[i], text))
            return (long)i;
    return -1;
}

/* How many entries set name. */
static int count_name(const engine_env_t *e, const char *name)
{
    size_t len = strlen(name);
    int n = 0;
    for (size_t i = 0; e->env && e->env[i]; i++)
        if (!strncmp(e->env[i], name, len) && e->env[i][len] == '=')
            n++;
    return n;
}

/* The value name gets: the last entry for it wins (exec.h), or NULL. */
static const char *value_of(const engine_env_t *e, const char *name)
{
    size_t len = strlen(name);
    const char *v = NULL;
    for (size_t i = 0; e->env && e->env[i]; i++)
        if (!strncmp(e->env[i], name, len) && e->env[i][len] == '=')
            v = e->env[i] + len + 1;
    return v;
}

static const char *const gpu_names[] = {
    "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "HIP_VISIBLE_DEVICES",
    "ROCR_VISIBLE_DEVICES", "BANYAN_GPUS_ASSIGNED",
};
enum { NGPU_NAMES = sizeof(gpu_names) / sizeof(gpu_names[0]) };

static int gpu_vars(const engine_env_t *e)
{
    int n = 0;
    for (int i = 0; i < NGPU_NAMES; i++)
        n += count_name(e, gpu_names[i]);
    return n;
}

static void test_basic(void)
{
    engine_env_t e;
    engine_env_in_t in = {.job_id = 7, .task_number = 3, .slot = 2,
                          .njob_env = SIZE_MAX};
    ok(engine_env_build(&e, &in) == 0, "build: job 7, task 3, slot 2");
    is_int(env_count(&e), 3, "three entries, nothing else");
    is_str(e.env[0], "BANYAN_TASK_ID=3", "first BANYAN_TASK_ID=3");
    is_str(e.env[1], "BANYAN_JOB_ID=7", "then BANYAN_JOB_ID=7");
    is_str(e.env[2], "BANYAN_SLOT=2", "then BANYAN_SLOT=2");
    ok(e.env[3] == NULL, "NULL-ended");
    is_int(count_name(&e, "BANYAN_WORKER"), 0,
           "no BANYAN_WORKER without a worker name");
    is_int(gpu_vars(&e), 0, "no GPU variable on a host without GPUs");
    engine_env_fini(&e);

    /* The first task of a job is 1, as GNU Parallel's {#}. */
    in = (engine_env_in_t){.job_id = 1, .task_number = 1, .slot = 1};
    ok(engine_env_build(&e, &in) == 0 &&
           !strcmp(value_of(&e, "BANYAN_TASK_ID"), "1") &&
           !strcmp(value_of(&e, "BANYAN_JOB_ID"), "1") &&
           !strcmp(value_of(&e, "BANYAN_SLOT"), "1"),
       "the first task of job 1 in slot 1: 1, 1, 1");
    engine_env_fini(&e);

    /* Numbers are printed whole, as unsigned decimals. */
    in = (engine_env_in_t){.job_id = UINT64_MAX, .task_number = UINT64_MAX,
                           .slot = UINT32_MAX};
    ok(engine_env_build(&e, &in) == 0, "build with the largest numbers");
    is_str(value_of(&e, "BANYAN_TASK_ID"), "18446744073709551615",
           "BANYAN_TASK_ID of task 2^64 - 1");
    is_str(value_of(&e, "BANYAN_JOB_ID"), "18446744073709551615",
           "BANYAN_JOB_ID of job 2^64 - 1");
    is_str(value_of(&e, "BANYAN_SLOT"), "4294967295",
           "BANYAN_SLOT of slot 2^32 - 1");
    engine_env_fini(&e);
}

static void test_worker(void)
{
    engine_env_t e;
    engine_env_in_t in = {.job_id = 5, .task_number = 9, .slot = 4,
                          .worker_name = "w-17"};
    ok(engine_env_build(&e, &in) == 0, "build with a worker name");
    is_int(env_count(&e), 4, "four entries");
    is_str(value_of(&e, "BANYAN_WORKER"), "w-17", "BANYAN_WORKER=w-17");
    is_int(count_name(&e, "BANYAN_WORKER"), 1, "once");
    ok(find_entry(&e, "BANYAN_WORKER=w-17") == 3,
       "after the task, job and slot");
    engine_env_fini(&e);
}

static void test_gpus(void)
{
    engine_env_t e;
    const int two[] = {0, 2};
    engine_env_in_t in = {.job_id = 1, .task_number = 1, .slot = 1,
                          .host_has_gpus = true, .gpu_index = two,
                          .ngpus = 2};
    ok(engine_env_build(&e, &in) == 0, "build with GPUs 0 and 2");
    is_str(value_of(&e, "CUDA_VISIBLE_DEVICES"), "0,2",
           "CUDA_VISIBLE_DEVICES=0,2");
    is_str(value_of(&e, "CUDA_DEVICE_ORDER"), "PCI_BUS_ID",
           "CUDA_DEVICE_ORDER=PCI_BUS_ID");
    is_str(value_of(&e, "HIP_VISIBLE_DEVICES"), "0,2",
           "HIP_VISIBLE_DEVICES=0,2");
    is_str(value_of(&e, "ROCR_VISIBLE_DEVICES"), "0,2",
           "ROCR_VISIBLE_DEVICES=0,2");
    is_str(value_of(&e, "BANYAN_GPUS_ASSIGNED"), "0,2",
           "BANYAN_GPUS_ASSIGNED=0,2");
    is_int(gpu_vars(&e), NGPU_NAMES, "each GPU variable once");
    is_int(env_count(&e), 3 + NGPU_NAMES, "and the three of every task");
    engine_env_fini(&e);

    /* A task without GPUs on a host with GPUs sees none: empty lists,
     * never the host's. */
    in.ngpus = 0;
    in.gpu_index = NULL;
    ok(engine_env_build(&e, &in) == 0, "build on a GPU host, no GPU");
    is_str(value_of(&e, "CUDA_VISIBLE_DEVICES"), "",
           "CUDA_VISIBLE_DEVICES is empty");
    is_str(value_of(&e, "HIP_VISIBLE_DEVICES"), "",
           "HIP_VISIBLE_DEVICES is empty");
    is_str(value_of(&e, "ROCR_VISIBLE_DEVICES"), "",
           "ROCR_VISIBLE_DEVICES is empty");
    is_str(value_of(&e, "BANYAN_GPUS_ASSIGNED"), "",
           "BANYAN_GPUS_ASSIGNED is empty");
    is_int(gpu_vars(&e), NGPU_NAMES, "each GPU variable still set once");
    engine_env_fini(&e);

    /* GPUs given on a host the caller says has none: nothing. */
    in.host_has_gpus = false;
    in.gpu_index = two;
    in.ngpus = 2;
    ok(engine_env_build(&e, &in) == 0 && gpu_vars(&e) == 0 &&
           env_count(&e) == 3,
       "no GPU variable when host_has_gpus is false, whatever the indices");
    engine_env_fini(&e);

    /* Everything at once fits the engine's own table. */
    const int one[] = {3};
    in = (engine_env_in_t){.job_id = 2, .task_number = 4, .slot = 1,
                           .worker_name = "w", .host_has_gpus = true,
                           .gpu_index = one, .ngpus = 1};
    ok(engine_env_build(&e, &in) == 0, "build with a worker and a GPU");
    is_int(env_count(&e), ENGINE_ENV_OWN,
           "all %d entries of the engine's own", ENGINE_ENV_OWN);
    is_str(value_of(&e, "CUDA_VISIBLE_DEVICES"), "3",
           "CUDA_VISIBLE_DEVICES=3");
    ok(e.own[ENGINE_ENV_OWN] == NULL, "own[] stays NULL-ended");
    engine_env_fini(&e);
}

static void test_order(void)
{
    const char *const job[] = {
        "FOO=1",
        "BANYAN_SLOT=99",
        "BANYAN_TASK_ID=0",
        "BANYAN_JOB_ID=123",
        "BANYAN_WORKER=fake",
        "CUDA_VISIBLE_DEVICES=0,1,2,3",
        "BAR=2",
        NULL,
    };
    const char *const extra[] = {"BANYAN_BLOB_0=/cache/ab", "BANYAN_BLOB_1=/c",
                                 NULL};
    const int gpu[] = {1};
    engine_env_t e;
    engine_env_in_t in = {.job_id = 8, .task_number = 5, .slot = 3,
                          .worker_name = "w1", .host_has_gpus = true,
                          .gpu_index = gpu, .ngpus = 1, .job_env = job,
                          .njob_env = SIZE_MAX, .extra = extra};
    ok(engine_env_build(&e, &in) == 0, "build with job entries and extras");
    is_int(env_count(&e), 7 + ENGINE_ENV_OWN + 2,
           "every job entry, the engine's, the extras");
    bool job_first = true;
    for (size_t i = 0; i < 7; i++)
        job_first = job_first && e.env[i] == job[i];
    ok(job_first, "the job's entries come first, in order, borrowed");
    ok(e.env[7 + ENGINE_ENV_OWN] == extra[0] &&
           e.env[8 + ENGINE_ENV_OWN] == extra[1] &&
           e.env[9 + ENGINE_ENV_OWN] == NULL,
       "the extras come last, in order, borrowed");
    is_str(value_of(&e, "BANYAN_SLOT"), "3",
           "a job setting BANYAN_SLOT=99: the engine's 3 wins");
    is_str(value_of(&e, "BANYAN_TASK_ID"), "5",
           "a job setting BANYAN_TASK_ID: the engine's wins");
    is_str(value_of(&e, "BANYAN_JOB_ID"), "8",
           "a job setting BANYAN_JOB_ID: the engine's wins");
    is_str(value_of(&e, "BANYAN_WORKER"), "w1",
           "a job setting BANYAN_WORKER: the engine's wins");
    is_str(value_of(&e, "CUDA_VISIBLE_DEVICES"), "1",
           "a job cannot fake its GPUs");
    is_str(value_of(&e, "FOO"), "1", "the job's own variables stay");
    is_str(value_of(&e, "BANYAN_BLOB_1"), "/c", "the extras are there");
    engine_env_fini(&e);

    /* An extra entry wins over the job's too. */
    const char *const job2[] = {"BANYAN_BLOB_0=/fake", NULL};
    const char *const extra2[] = {"BANYAN_BLOB_0=/real", NULL};
    in = (engine_env_in_t){.job_id = 1, .task_number = 1, .slot = 1,
                           .job_env = job2, .njob_env = SIZE_MAX,
                           .extra = extra2};
    ok(engine_env_build(&e, &in) == 0 &&
           !strcmp(value_of(&e, "BANYAN_BLOB_0"), "/real"),
       "a job setting BANYAN_BLOB_0: the extra wins");
    engine_env_fini(&e);
}

static void test_njob_env(void)
{
    const char *const job[] = {"A=1", "B=2", "C=3", "D=4", NULL};
    engine_env_t e;
    engine_env_in_t in = {.job_id = 1, .task_number = 1, .slot = 1,
                          .job_env = job};
    static const struct {
        size_t n;
        size_t used;
    } cases[] = {{0, 0}, {1, 1}, {2, 2}, {4, 4}, {5, 4}, {SIZE_MAX, 4}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        in.njob_env = cases[i].n;
        bool built = engine_env_build(&e, &in) == 0;
        bool fine = built && env_count(&e) == cases[i].used + 3;
        for (size_t k = 0; fine && k < cases[i].used; k++)
            fine = e.env[k] == job[k];
        fine = fine && (cases[i].used == 4 || !value_of(&e, "D"));
        ok(fine, "njob_env %s: the first %zu job entries",
           cases[i].n == SIZE_MAX ? "SIZE_MAX" : (cases[i].n == 5 ? "5 (past "
                                                                    "the end)"
                                                                  : "n"),
           cases[i].used);
        engine_env_fini(&e);
    }
    /* No job entries at all, whatever njob_env says. */
    in.job_env = NULL;
    in.njob_env = SIZE_MAX;
    ok(engine_env_build(&e, &in) == 0 && env_count(&e) == 3,
       "job_env NULL with njob_env SIZE_MAX: none");
    engine_env_fini(&e);
    /* njob_env counts entries, not the NULL: an array without one works
     * when njob_env says where it ends. */
    const char *const unended[2] = {"X=1", "Y=2"};
    in.job_env = unended;
    in.njob_env = 2;
    ok(engine_env_build(&e, &in) == 0 && env_count(&e) == 5 &&
           !strcmp(value_of(&e, "Y"), "2"),
       "njob_env 2 of an array without NULL: both, nothing read past");
    engine_env_fini(&e);
}

static void test_fini(void)
{
    engine_env_t e;
    engine_env_in_t in = {.job_id = 1, .task_number = 1, .slot = 1,
                          .worker_name = "w", .host_has_gpus = true};
    ok(engine_env_build(&e, &in) == 0, "build");
    engine_env_fini(&e);
    ok(e.env == NULL && e.own[0] == NULL, "fini empties it");
    engine_env_fini(&e);
    ok(e.env == NULL && e.own[0] == NULL, "a second fini is harmless");
    engine_env_t zero = {0};
    engine_env_fini(&zero);
    ok(zero.env == NULL, "fini of a zeroed, never built env is harmless");
    errno = EINTR;
    ok(engine_env_build(&e, &in) == 0, "build again");
    errno = EINTR;
    engine_env_fini(&e);
    is_int(errno, EINTR, "fini keeps errno");

    /* Documented NULL-safe: try it in a child, so that a crash is a
     * failed check, not a dead test. */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        engine_env_fini(NULL);
        _exit(0);
    }
    int status = 0;
    ok(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
           WEXITSTATUS(status) == 0,
       "engine_env_fini(NULL) is harmless (engine.h: NULL-safe)");
}

/* ------------------------------------------------- one real process */

typedef struct captured {
    int calls;
    char *out;
    int exit_code;
} captured_t;

static void on_done(exec_t *ex, void *task_arg, const exec_result_t *res,
                    void *cb_arg)
{
    (void)ex;
    (void)cb_arg;
    captured_t *c = task_arg;
    c->calls++;
    c->exit_code = res->exit_code;
    c->out = res->out ? exec_stream_dup(res->out, 1 << 20) : NULL;
}

static void test_process(void)
{
    const char *const job[] = {"T_JOB=job", "BANYAN_SLOT=99",
                               "CUDA_VISIBLE_DEVICES=7", NULL};
    const char *const extra[] = {"BANYAN_BLOB_0=/b0", NULL};
    const int gpu[] = {0, 1};
    engine_env_t e;
    engine_env_in_t in = {.job_id = 12, .task_number = 34, .slot = 5,
                          .worker_name = "node-a", .host_has_gpus = true,
                          .gpu_index = gpu, .ngpus = 2, .job_env = job,
                          .njob_env = SIZE_MAX, .extra = extra};
    if (engine_env_build(&e, &in) < 0)
        bail_out("engine_env_build: %s", strerror(errno));
    const char *const argv[] = {
        "/bin/sh", "-c",
        "printf '%s|%s|%s|%s|%s|%s|%s' \"$BANYAN_TASK_ID\" "
        "\"$BANYAN_JOB_ID\" \"$BANYAN_SLOT\" \"$BANYAN_WORKER\" "
        "\"$CUDA_VISIBLE_DEVICES\" \"$T_JOB\" \"$BANYAN_BLOB_0\"",
        NULL};
    exec_spec_t spec = {.argv = argv, .env = e.env, .capture = true};
    uv_loop_t loop;
    captured_t c = {0};
    if (uv_loop_init(&loop) < 0)
        bail_out("uv_loop_init");
    exec_t *ex = exec_create(&loop, on_done, NULL);
    banyan_error_t err = {{0}};
    ok(ex && exec_start(ex, &spec, &c, &err) == 0, "a task runs with it");
    while (ex && exec_running(ex) > 0)
        uv_run(&loop, UV_RUN_ONCE);
    exec_destroy(ex);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    engine_env_fini(&e);
    ok(c.calls == 1 && c.exit_code == 0, "and exits 0");
    is_str(c.out ? c.out : "(none)", "34|12|5|node-a|0,1|job|/b0",
           "the process sees task 34, job 12, slot 5 (not the job's 99), "
           "its worker, its GPUs (not the job's 7), the job's own variable "
           "and the extra");
    free(c.out);
}

int main(void)
{
    plan(NO_PLAN);
    test_basic();
    test_worker();
    test_gpus();
    test_order();
    test_njob_env();
    test_fini();
    test_process();
    return done_testing();
}
