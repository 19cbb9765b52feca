/* SPDX-License-Identifier: MIT */
/* test_end.c - the one classifier of task ends (engine_end_classify) over
 * every shape of exec result: an exit 0 or N, a death by each kind of
 * signal with and without what the engine did (stopped it, killed it for
 * critical memory), a timeout and the signal that follows it, an
 * interruption from exec or from the engine, a spawn failure with and
 * without its message on err (the message from real exec runs), the memory
 * limit; their precedence; every figure copied; engine_end_spawn_failed,
 * engine_end_interrupted and engine_end_note; the state names; and the
 * scheduler's retry rule on the records the classifier makes
 * (sched_outcome_of, sched_retry_allowed). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <banyan/task.h>

#include "engine/engine.h"
#include "sched/sched.h"
#include "tap.h"
#include "util/util.h"

#define MiB (UINT64_C(1) << 20)

/* An exec result with every figure set to a recognisable value. */
static exec_result_t result(int exit_code, int sig)
{
    return (exec_result_t){
        .exit_code = exit_code,
        .term_signal = sig,
        .pid = 4242,
        .start_time = 1700000000.25,
        .end_time = 1700000003.75,
        .cpu_user = 1.5,
        .cpu_sys = 0.25,
        .peak_rss_bytes = 70 * MiB,
        .peak_rss_bound_bytes = 80 * MiB,
    };
}

/* Every figure of res is in end, unchanged. */
static bool figures_copied(const exec_result_t *res,
                           const banyan_task_end_t *end)
{
    return end->exit_code == res->exit_code &&
           end->term_signal == res->term_signal &&
           end->start_time == res->start_time &&
           end->end_time == res->end_time && end->cpu_user == res->cpu_user &&
           end->cpu_sys == res->cpu_sys &&
           end->peak_rss_bytes == res->peak_rss_bytes &&
           end->mem_limit_bytes == res->mem_limit_bytes;
}

/* Classify and check state, flags (exactly), reason (exactly) and the
 * figures.  what names the shape. */
static void expect(const char *what, const exec_result_t *res,
                   const engine_end_ctx_t *ctx, banyan_task_state_t state,
                   uint32_t flags, const char *reason)
{
    banyan_task_end_t end;
    memset(&end, 0xa5, sizeof(end)); /* nothing left from before */
    engine_end_classify(res, ctx, &end);
    is_str(banyan_task_state_name(end.state), banyan_task_state_name(state),
           "%s: state %s", what, banyan_task_state_name(state));
    is_int(end.flags, flags, "%s: flags 0x%x", what, (unsigned)flags);
    is_str(end.reason, reason, "%s: reason \"%s\"", what, reason);
    ok(figures_copied(res, &end),
       "%s: exit code, signal, times, CPU, peak and limit are copied", what);
}

/* ------------------------------------------------------- plain shapes */

static void test_exits(void)
{
    exec_result_t r = result(0, 0);
    expect("exit 0", &r, NULL, BANYAN_TASK_OK, 0, "");
    r = result(3, 0);
    expect("exit 3", &r, NULL, BANYAN_TASK_FAILED, 0, "exit status 3");
    r = result(1, 0);
    expect("exit 1", &r, NULL, BANYAN_TASK_FAILED, 0, "exit status 1");
    /* A shell's "not found" is an exit status, not a spawn failure: exec
     * did not say spawn_failed. */
    r = result(127, 0);
    expect("exit 127 of a process that ran", &r, NULL, BANYAN_TASK_FAILED, 0,
           "exit status 127");
    r = result(255, 0);
    expect("exit 255", &r, NULL, BANYAN_TASK_FAILED, 0, "exit status 255");
    /* An exit status says nothing of a time limit it ran under. */
    engine_end_ctx_t ctx = {.timeout_ms = 1500};
    r = result(0, 0);
    expect("exit 0 with a time limit", &r, &ctx, BANYAN_TASK_OK, 0, "");
}

static void test_signals(void)
{
    static const struct {
        int sig;
        const char *reason;
    } sigs[] = {
        {SIGKILL, "killed by signal 9 (Killed)"},
        {SIGTERM, "killed by signal 15 (Terminated)"},
        {SIGSEGV, "killed by signal 11 (Segmentation fault)"},
    };
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        char what[96];
        exec_result_t r = result(-1, sigs[i].sig);
        snprintf(what, sizeof(what), "signal %d, no context", sigs[i].sig);
        expect(what, &r, NULL, BANYAN_TASK_KILLED, 0, sigs[i].reason);

        engine_end_ctx_t none = {.timeout_ms = 1500, .why = "ignored"};
        snprintf(what, sizeof(what), "signal %d, nothing the engine did",
                 sigs[i].sig);
        expect(what, &r, &none, BANYAN_TASK_KILLED, 0, sigs[i].reason);

        engine_end_ctx_t stopped = {.interrupted = true};
        snprintf(what, sizeof(what), "signal %d after the engine stopped it",
                 sigs[i].sig);
        expect(what, &r, &stopped, BANYAN_TASK_INTERRUPTED,
               BANYAN_END_INTERRUPTED, "interrupted");

        engine_end_ctx_t crit = {
            .mem_critical = true,
            .why = "host memory critical: 100M available, below 200M",
        };
        snprintf(what, sizeof(what),
                 "signal %d after a kill for critical memory", sigs[i].sig);
        expect(what, &r, &crit, BANYAN_TASK_KILLED, BANYAN_END_MEM_CRITICAL,
               crit.why);

        engine_end_ctx_t crit_nowhy = {.mem_critical = true};
        snprintf(what, sizeof(what),
                 "signal %d, critical memory without a sentence",
                 sigs[i].sig);
        expect(what, &r, &crit_nowhy, BANYAN_TASK_KILLED,
               BANYAN_END_MEM_CRITICAL, "killed: host memory critical");
        crit_nowhy.why = "";
        snprintf(what, sizeof(what),
                 "signal %d, critical memory with an empty sentence",
                 sigs[i].sig);
        expect(what, &r, &crit_nowhy, BANYAN_TASK_KILLED,
               BANYAN_END_MEM_CRITICAL, "killed: host memory critical");
    }
    /* Critical memory explains a signal only: a task that exited on its
     * own before the kill landed ended as its status says. */
    engine_end_ctx_t crit = {.mem_critical = true, .why = "host memory"};
    exec_result_t r = result(0, 0);
    expect("exit 0 with mem_critical set", &r, &crit, BANYAN_TASK_OK, 0, "");
    r = result(3, 0);
    expect("exit 3 with mem_critical set", &r, &crit, BANYAN_TASK_FAILED, 0,
           "exit status 3");
    /* A sentence longer than the reason is cut, NUL-terminated. */
    char longwhy[3 * BANYAN_TASK_REASON_MAX];
    memset(longwhy, 'w', sizeof(longwhy) - 1);
    longwhy[sizeof(longwhy) - 1] = '\0';
    crit.why = longwhy;
    r = result(-1, SIGKILL);
    banyan_task_end_t end;
    engine_end_classify(&r, &crit, &end);
    is_int(strlen(end.reason), BANYAN_TASK_REASON_MAX - 1,
           "a critical-memory sentence too long for the reason is cut to "
           "%d bytes",
           BANYAN_TASK_REASON_MAX - 1);
}

static void test_timeout(void)
{
    engine_end_ctx_t ctx = {.timeout_ms = 1500};
    /* SIGTERM when the limit passed, or SIGKILL after the grace. */
    int sigs[] = {SIGTERM, SIGKILL};
    for (size_t i = 0; i < 2; i++) {
        char what[64];
        exec_result_t r = result(-1, sigs[i]);
        r.timed_out = true;
        snprintf(what, sizeof(what), "timed out, then signal %d", sigs[i]);
        expect(what, &r, &ctx, BANYAN_TASK_TIMEOUT, BANYAN_END_TIMED_OUT,
               "timed out after 1.500 s");
    }
    /* A task that caught SIGTERM and exited is still timed out. */
    exec_result_t r = result(143, 0);
    r.timed_out = true;
    expect("timed out, exit 143 on SIGTERM", &r, &ctx, BANYAN_TASK_TIMEOUT,
           BANYAN_END_TIMED_OUT, "timed out after 1.500 s");
    engine_end_ctx_t ms = {.timeout_ms = 250};
    r = result(-1, SIGTERM);
    r.timed_out = true;
    expect("timed out after 250 ms", &r, &ms, BANYAN_TASK_TIMEOUT,
           BANYAN_END_TIMED_OUT, "timed out after 0.250 s");
    engine_end_ctx_t hour = {.timeout_ms = 3600000};
    expect("timed out after an hour", &r, &hour, BANYAN_TASK_TIMEOUT,
           BANYAN_END_TIMED_OUT, "timed out after 3600.000 s");
    /* A timeout explains the memory kill, critical memory and the signal
     * that follow it. */
    r = result(-1, SIGKILL);
    r.timed_out = true;
    r.mem_limited = true;
    r.mem_limit_bytes = 64 * MiB;
    engine_end_ctx_t both = {.timeout_ms = 1500, .mem_critical = true,
                             .why = "host memory critical"};
    expect("timed out and over the memory limit and critical", &r, &both,
           BANYAN_TASK_TIMEOUT, BANYAN_END_TIMED_OUT,
           "timed out after 1.500 s");
    /* Without a context the state and the flag are still right. */
    r = result(-1, SIGTERM);
    r.timed_out = true;
    banyan_task_end_t end;
    engine_end_classify(&r, NULL, &end);
    ok(end.state == BANYAN_TASK_TIMEOUT && end.flags == BANYAN_END_TIMED_OUT,
       "timed out without a context: timeout, flag TIMED_OUT");
    diag("timed out without a context: reason \"%s\"", end.reason);
}

static void test_interrupted(void)
{
    /* From exec (exec_interrupt: SIGTERM, or SIGKILL after the grace). */
    int sigs[] = {SIGTERM, SIGKILL, 0};
    for (size_t i = 0; i < 3; i++) {
        char what[64];
        exec_result_t r = result(sigs[i] ? -1 : 0, sigs[i]);
        r.interrupted = true;
        snprintf(what, sizeof(what), "exec interrupted it (signal %d)",
                 sigs[i]);
        expect(what, &r, NULL, BANYAN_TASK_INTERRUPTED,
               BANYAN_END_INTERRUPTED, "interrupted");
    }
    /* From the engine, although exec saw a plain exit or signal. */
    engine_end_ctx_t stop = {.interrupted = true, .timeout_ms = 1500};
    exec_result_t r = result(0, 0);
    expect("the engine stopped it, it exited 0", &r, &stop,
           BANYAN_TASK_INTERRUPTED, BANYAN_END_INTERRUPTED, "interrupted");
    r = result(3, 0);
    expect("the engine stopped it, it exited 3", &r, &stop,
           BANYAN_TASK_INTERRUPTED, BANYAN_END_INTERRUPTED, "interrupted");
    /* Wins over everything else. */
    r = result(-1, SIGKILL);
    r.timed_out = true;
    r.mem_limited = true;
    r.mem_limit_bytes = 64 * MiB;
    engine_end_ctx_t all = {.interrupted = true, .timeout_ms = 1500,
                            .mem_critical = true, .why = "critical"};
    expect("interrupted, timed out, over the limit and critical", &r, &all,
           BANYAN_TASK_INTERRUPTED, BANYAN_END_INTERRUPTED, "interrupted");
    r.interrupted = true;
    expect("interrupted twice (exec and engine) and everything else", &r,
           &all, BANYAN_TASK_INTERRUPTED, BANYAN_END_INTERRUPTED,
           "interrupted");
    r = result(127, 0);
    r.spawn_failed = true;
    expect("interrupted before it could start", &r, &all,
           BANYAN_TASK_INTERRUPTED, BANYAN_END_INTERRUPTED, "interrupted");
}

static void test_mem_limited(void)
{
    exec_result_t r = result(-1, SIGKILL);
    r.mem_limited = true;
    r.mem_limit_bytes = 64 * MiB;
    r.peak_rss_bytes = 70 * MiB;
    expect("over the memory limit", &r, NULL, BANYAN_TASK_KILLED,
           BANYAN_END_MEM_LIMITED, "memory limit 64M exceeded: peak 70M");
    r.mem_limit_bytes = UINT64_C(1) << 30;
    r.peak_rss_bytes = (UINT64_C(12) << 30) / 10 + 1;
    expect("over a 1G limit", &r, NULL, BANYAN_TASK_KILLED,
           BANYAN_END_MEM_LIMITED, "memory limit 1G exceeded: peak 1.2G");
    /* The limit explains the kill even when memory was critical too. */
    engine_end_ctx_t crit = {.mem_critical = true, .why = "critical"};
    r.mem_limit_bytes = 64 * MiB;
    r.peak_rss_bytes = 70 * MiB;
    expect("over the limit while memory was critical", &r, &crit,
           BANYAN_TASK_KILLED, BANYAN_END_MEM_LIMITED,
           "memory limit 64M exceeded: peak 70M");
    /* A limit the task stayed under is copied and explains nothing. */
    r = result(-1, SIGSEGV);
    r.mem_limit_bytes = 64 * MiB;
    expect("a crash under a memory limit", &r, NULL, BANYAN_TASK_KILLED, 0,
           "killed by signal 11 (Segmentation fault)");
    r = result(2, 0);
    r.mem_limit_bytes = 64 * MiB;
    expect("exit 2 under a memory limit", &r, NULL, BANYAN_TASK_FAILED, 0,
           "exit status 2");
}

/* Spawn failures without a message on err: the fallback per exit code. */
static void test_spawn_failed_no_stream(void)
{
    static const struct {
        int code;
        const char *reason;
    } codes[] = {
        {127, "could not start: command not found"},
        {126, "could not start: command not executable"},
        {1, "could not start: cannot open its stdin or working directory"},
    };
    for (size_t i = 0; i < 3; i++) {
        char what[64];
        exec_result_t r = result(codes[i].code, 0);
        r.spawn_failed = true;
        r.pid = 0;
        r.end_time = r.start_time;
        r.peak_rss_bytes = 0;
        snprintf(what, sizeof(what), "spawn failed, exit %d, no err stream",
                 codes[i].code);
        expect(what, &r, NULL, BANYAN_TASK_FAILED, BANYAN_END_SPAWN_FAILED,
               codes[i].reason);
        /* Nothing the engine did afterwards explains it, except its own
         * interruption (test_interrupted). */
        engine_end_ctx_t crit = {.mem_critical = true, .why = "critical",
                                 .timeout_ms = 1500};
        r.timed_out = true;
        r.mem_limited = true;
        snprintf(what, sizeof(what),
                 "spawn failed (exit %d) wins over timeout and memory",
                 codes[i].code);
        expect(what, &r, &crit, BANYAN_TASK_FAILED, BANYAN_END_SPAWN_FAILED,
               codes[i].reason);
    }
}

/* --------------------------------------------- spawn failures, for real */

typedef struct spawned {
    int calls;
    engine_end_ctx_t ctx;
    banyan_task_end_t end;
    bool spawn_failed;
    bool had_err;
} spawned_t;

static void on_done(exec_t *ex, void *task_arg, const exec_result_t *res,
                    void *cb_arg)
{
    (void)ex;
    (void)cb_arg;
    spawned_t *s = task_arg;
    s->calls++;
    s->spawn_failed = res->spawn_failed;
    s->had_err = res->err != NULL;
    /* The stream is borrowed for the callback only: classify here. */
    engine_end_classify(res, &s->ctx, &s->end);
}

/* Run one task through a real executor on a fresh loop; 0 when it was
 * reported exactly once and everything closed. */
static int spawn(const exec_spec_t *spec, spawned_t *s)
{
    uv_loop_t loop;
    if (uv_loop_init(&loop) < 0)
        return -1;
    exec_t *ex = exec_create(&loop, on_done, NULL);
    if (!ex)
        return -1;
    banyan_error_t err = {{0}};
    int rc = exec_start(ex, spec, s, &err);
    if (rc < 0)
        diag("exec_start: %s", err.text);
    while (exec_running(ex) > 0)
        uv_run(&loop, UV_RUN_ONCE);
    exec_destroy(ex);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0 || s->calls != 1)
        rc = -1;
    return rc;
}

static void test_spawn_failed_real(void)
{
    char noexec[1024], nodir[1024], noin[1024];
    snprintf(noexec, sizeof(noexec), "%s/not-executable", tap_tmpdir());
    snprintf(nodir, sizeof(nodir), "%s/no-such-dir", tap_tmpdir());
    snprintf(noin, sizeof(noin), "%s/no-such-input", tap_tmpdir());
    FILE *f = fopen(noexec, "w");
    if (f) {
        fputs("#!/bin/sh\nexit 0\n", f);
        fclose(f);
    }
    chmod(noexec, 0644);

    const char *const notfound[] = {"banyan-no-such-command-t", NULL};
    const char *const notexec[] = {noexec, NULL};
    const char *const truecmd[] = {"true", NULL};
    const char *const pathnf[] = {"/no/such/dir/prog", NULL};
    char want_noexec[1200], want_nodir[1200], want_noin[1200];
    snprintf(want_noexec, sizeof(want_noexec),
             "could not start: %s: Permission denied", noexec);
    snprintf(want_nodir, sizeof(want_nodir),
             "could not start: cannot change directory to %s: No such file "
             "or directory",
             nodir);
    snprintf(want_noin, sizeof(want_noin),
             "could not start: %s: No such file or directory", noin);
    const struct {
        const char *what;
        exec_spec_t spec;
        int code;
        const char *reason;       /* with the stream */
        const char *fallback;     /* without it */
    } cases[] = {
        {"a command not in PATH", {.argv = notfound}, 127,
         "could not start: banyan-no-such-command-t: command not found",
         "could not start: command not found"},
        {"a path that does not exist", {.argv = pathnf}, 127,
         "could not start: /no/such/dir/prog: No such file or directory",
         "could not start: command not found"},
        {"a file that is not executable", {.argv = notexec}, 126, want_noexec,
         "could not start: command not executable"},
        {"a working directory that does not exist",
         {.argv = truecmd, .cwd = nodir}, 1, want_nodir,
         "could not start: cannot open its stdin or working directory"},
        {"a stdin file that does not exist",
         {.argv = truecmd, .stdin_path = noin}, 1, want_noin,
         "could not start: cannot open its stdin or working directory"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (int capture = 1; capture >= 0; capture--) {
            exec_spec_t spec = cases[i].spec;
            spec.capture = capture;
            spawned_t s = {.ctx = {.timeout_ms = 1500}};
            if (!capture) {
                /* exec writes the message on our stderr then: keep the
                 * TAP output readable. */
                fflush(stderr);
            }
            int rc = spawn(&spec, &s);
            ok(rc == 0 && s.spawn_failed,
               "%s (%s): exec reports a spawn failure once", cases[i].what,
               capture ? "captured" : "not captured");
            is_str(banyan_task_state_name(s.end.state), "failed",
                   "%s (%s): failed", cases[i].what,
                   capture ? "captured" : "not captured");
            is_int(s.end.flags, BANYAN_END_SPAWN_FAILED,
                   "%s (%s): flag SPAWN_FAILED only", cases[i].what,
                   capture ? "captured" : "not captured");
            is_int(s.end.exit_code, cases[i].code, "%s (%s): exit code %d",
                   cases[i].what, capture ? "captured" : "not captured",
                   cases[i].code);
            is_str(s.end.reason,
                   capture ? cases[i].reason : cases[i].fallback,
                   "%s (%s): the reason %s", cases[i].what,
                   capture ? "captured" : "not captured",
                   capture ? "is exec's message without its prefix"
                           : "falls back on the exit code");
            ok(strchr(s.end.reason, '\n') == NULL,
               "%s (%s): the reason is one line", cases[i].what,
               capture ? "captured" : "not captured");
            is_int(sched_outcome_of(&s.end), SCHED_FINAL,
                   "%s (%s): final, never retried", cases[i].what,
                   capture ? "captured" : "not captured");
        }
    }

    /* A task that ran and wrote on stderr before failing: its stderr is
     * not a spawn message. */
    const char *const talk[] = {"/bin/sh", "-c",
                                "echo 'banyan: not a spawn failure' >&2; "
                                "exit 127",
                                NULL};
    exec_spec_t spec = {.argv = talk, .capture = true};
    spawned_t s = {0};
    ok(spawn(&spec, &s) == 0 && !s.spawn_failed && s.had_err,
       "a shell that says 'not found' itself ran");
    is_str(s.end.reason, "exit status 127",
           "its exit 127 is an exit status, whatever its stderr says");
    is_int(s.end.flags, 0, "no flag");
    is_int(sched_outcome_of(&s.end), SCHED_FAILED, "and it is retried");

    /* A real timeout, for the reason with the limit and the copied
     * figures. */
    const char *const sleeper[] = {"sleep", "5", NULL};
    exec_spec_t ts = {.argv = sleeper, .timeout_ms = 150, .capture = true};
    spawned_t t = {.ctx = {.timeout_ms = 150}};
    ok(spawn(&ts, &t) == 0, "a real task over its time limit ends");
    is_str(banyan_task_state_name(t.end.state), "timeout", "it timed out");
    is_str(t.end.reason, "timed out after 0.150 s",
           "reason: timed out after 0.150 s");
    is_int(t.end.term_signal, SIGTERM, "its signal was SIGTERM");
    ok(t.end.end_time >= t.end.start_time + 0.1 && t.end.start_time > 0,
       "its start and end times are those of the process");
}

/* -------------------------------------------------------- the helpers */

static void test_spawn_failed_helper(void)
{
    banyan_task_end_t end;
    memset(&end, 0xa5, sizeof(end));
    engine_end_spawn_failed(&end, 1700000000.5,
                            "cannot expand task 3 of job 7: bad input");
    is_str(banyan_task_state_name(end.state), "failed",
           "engine_end_spawn_failed: failed");
    is_int(end.flags, BANYAN_END_SPAWN_FAILED,
           "engine_end_spawn_failed: flag SPAWN_FAILED only");
    is_int(end.exit_code, 127, "engine_end_spawn_failed: exit code 127");
    is_int(end.term_signal, 0, "engine_end_spawn_failed: no signal");
    ok(end.start_time == 1700000000.5 && end.end_time == 1700000000.5,
       "engine_end_spawn_failed: start and end at now");
    ok(end.cpu_user == 0 && end.cpu_sys == 0 && end.peak_rss_bytes == 0 &&
           end.mem_limit_bytes == 0,
       "engine_end_spawn_failed: no CPU, memory or limit");
    is_str(end.reason, "could not start: cannot expand task 3 of job 7: bad "
                       "input",
           "engine_end_spawn_failed: reason 'could not start: why'");
    is_int(sched_outcome_of(&end), SCHED_FINAL,
           "engine_end_spawn_failed: final");
    char longwhy[2 * BANYAN_TASK_REASON_MAX];
    memset(longwhy, 'x', sizeof(longwhy) - 1);
    longwhy[sizeof(longwhy) - 1] = '\0';
    engine_end_spawn_failed(&end, 1, longwhy);
    is_int(strlen(end.reason), BANYAN_TASK_REASON_MAX - 1,
           "engine_end_spawn_failed: a long why is cut, NUL-terminated");

    memset(&end, 0xa5, sizeof(end));
    engine_end_interrupted(&end, 1700000001.25);
    is_str(banyan_task_state_name(end.state), "interrupted",
           "engine_end_interrupted: interrupted");
    is_int(end.flags, BANYAN_END_INTERRUPTED,
           "engine_end_interrupted: flag INTERRUPTED only");
    is_int(end.exit_code, -1, "engine_end_interrupted: exit code -1");
    ok(end.start_time == 1700000001.25 && end.end_time == 1700000001.25,
       "engine_end_interrupted: start and end at now");
    is_str(end.reason, "interrupted", "engine_end_interrupted: reason");
    is_int(sched_outcome_of(&end), SCHED_FINAL,
           "engine_end_interrupted: final");

    /* The record a classified interruption gets is the same. */
    exec_result_t r = result(-1, SIGTERM);
    r.interrupted = true;
    banyan_task_end_t c;
    engine_end_classify(&r, NULL, &c);
    ok(c.state == end.state && c.flags == end.flags &&
           !strcmp(c.reason, end.reason),
       "engine_end_interrupted and a classified interruption agree");
}

/* end inside a struct with a canary behind it: a note must never write
 * past the reason. */
typedef struct guarded {
    banyan_task_end_t end;
    char canary[64];
} guarded_t;

static bool canary_ok(const guarded_t *g)
{
    for (size_t i = 0; i < sizeof(g->canary); i++)
        if (g->canary[i] != 'C')
            return false;
    return true;
}

static void test_note(void)
{
    guarded_t g;
    memset(g.canary, 'C', sizeof(g.canary));
    exec_result_t r = result(0, 0);
    engine_end_classify(&r, NULL, &g.end);
    engine_end_note(&g.end, "requeued");
    is_str(g.end.reason, "requeued", "a note on an empty reason has no '; '");

    r = result(-1, SIGKILL);
    engine_end_classify(&r, NULL, &g.end);
    engine_end_note(&g.end, "requeued (2 of 3)");
    is_str(g.end.reason, "killed by signal 9 (Killed); requeued (2 of 3)",
           "a note is appended after '; '");
    engine_end_note(&g.end, "again");
    is_str(g.end.reason,
           "killed by signal 9 (Killed); requeued (2 of 3); again",
           "notes add up");
    /* Truncation: fill up with long notes. */
    char longnote[3 * BANYAN_TASK_REASON_MAX];
    memset(longnote, 'n', sizeof(longnote) - 1);
    longnote[sizeof(longnote) - 1] = '\0';
    engine_end_note(&g.end, longnote);
    is_int(strlen(g.end.reason), BANYAN_TASK_REASON_MAX - 1,
           "a note too long is cut at %d bytes", BANYAN_TASK_REASON_MAX - 1);
    ok(!strncmp(g.end.reason,
                "killed by signal 9 (Killed); requeued (2 of 3); again; nnn",
                58),
       "what was there is kept, the note follows");
    char before[BANYAN_TASK_REASON_MAX];
    memcpy(before, g.end.reason, sizeof(before));
    for (int i = 0; i < 5; i++)
        engine_end_note(&g.end, "more");
    ok(!memcmp(before, g.end.reason, sizeof(before)),
       "a note on a full reason changes nothing");
    ok(canary_ok(&g), "no note wrote past the reason");

    /* Every length around the limit. */
    bool all_fine = true;
    for (size_t n = BANYAN_TASK_REASON_MAX - 6; n < BANYAN_TASK_REASON_MAX;
         n++) {
        for (size_t k = 1; k < 6; k++) {
            memset(g.end.reason, 'r', n);
            g.end.reason[n] = '\0';
            char note[8];
            memset(note, 'x', k);
            note[k] = '\0';
            engine_end_note(&g.end, note);
            size_t len = strlen(g.end.reason);
            size_t want = n + (n ? 2 : 0) + k;
            if (want > BANYAN_TASK_REASON_MAX - 1)
                want = BANYAN_TASK_REASON_MAX - 1;
            if (len != want || memchr(g.end.reason, '\0',
                                      BANYAN_TASK_REASON_MAX) == NULL ||
                !canary_ok(&g)) {
                diag("reason of %zu bytes + note of %zu: %zu bytes", n, k,
                     len);
                all_fine = false;
            }
        }
    }
    ok(all_fine, "notes on reasons of %d to %d bytes are cut at the limit, "
                 "NUL-terminated",
       BANYAN_TASK_REASON_MAX - 6, BANYAN_TASK_REASON_MAX - 1);
}

/* ------------------------------------------------------------ states */

static void test_state_names(void)
{
    static const char *const names[BANYAN_TASK_STATE_COUNT] = {
        "queued", "running", "ok", "failed",
        "timeout", "killed", "interrupted", "cancelled",
    };
    for (int i = 0; i < BANYAN_TASK_STATE_COUNT; i++) {
        banyan_task_state_t st = (banyan_task_state_t)i;
        is_str(banyan_task_state_name(st), names[i], "state %d is named %s",
               i, names[i]);
        banyan_task_state_t back = BANYAN_TASK_STATE_COUNT;
        ok(banyan_task_state_parse(names[i], &back) == 0 && back == st,
           "'%s' parses back to state %d", names[i], i);
        ok(banyan_task_state_is_end(st) ==
               (st != BANYAN_TASK_QUEUED && st != BANYAN_TASK_RUNNING),
           "%s %s an end state", names[i],
           st == BANYAN_TASK_QUEUED || st == BANYAN_TASK_RUNNING ? "is not"
                                                                : "is");
    }
    is_str(banyan_task_state_name(BANYAN_TASK_STATE_COUNT), "unknown",
           "a state out of range is named unknown");
    is_str(banyan_task_state_name((banyan_task_state_t)-1), "unknown",
           "a negative state is named unknown");
    is_str(banyan_task_state_name((banyan_task_state_t)1000), "unknown",
           "state 1000 is named unknown");
    ok(!banyan_task_state_is_end(BANYAN_TASK_STATE_COUNT) &&
           !banyan_task_state_is_end((banyan_task_state_t)-1),
       "states out of range are not end states");

    static const char *const bad[] = {
        "unknown", "", "OK", "Failed", "ok ", " ok", "done", "infeasible",
        "timed out", "cancel", "interrupt", "okay", "ok\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        banyan_task_state_t st = BANYAN_TASK_KILLED;
        errno = 0;
        int rc = banyan_task_state_parse(bad[i], &st);
        ok(rc == -1 && errno == EINVAL && st == BANYAN_TASK_KILLED,
           "'%s' is not a state: -1 EINVAL, the state unchanged", bad[i]);
    }
    banyan_task_state_t st = BANYAN_TASK_KILLED;
    errno = 0;
    ok(banyan_task_state_parse(NULL, &st) == -1 && errno == EINVAL &&
           st == BANYAN_TASK_KILLED,
       "NULL is not a state: -1 EINVAL, the state unchanged");
}

/* -------------------------------------------------------- retry rule */

static sched_outcome_t documented_outcome(banyan_task_state_t st,
                                          uint32_t flags)
{
    if (st == BANYAN_TASK_OK)
        return SCHED_OK;
    if (st == BANYAN_TASK_INTERRUPTED || st == BANYAN_TASK_CANCELLED ||
        (flags & BANYAN_END_SPAWN_FAILED))
        return SCHED_FINAL;
    return SCHED_FAILED;
}

static void test_outcome(void)
{
    /* Every end state with every combination of flags. */
    int wrong = 0;
    for (int i = 0; i < BANYAN_TASK_STATE_COUNT; i++) {
        banyan_task_state_t st = (banyan_task_state_t)i;
        if (!banyan_task_state_is_end(st))
            continue;
        for (uint32_t flags = 0; flags <= BANYAN_END_FLAGS_ALL; flags++) {
            banyan_task_end_t end = {.state = st, .flags = flags};
            sched_outcome_t got = sched_outcome_of(&end);
            if (got != documented_outcome(st, flags)) {
                diag("%s with flags 0x%x: outcome %d",
                     banyan_task_state_name(st), (unsigned)flags, (int)got);
                wrong++;
            }
        }
    }
    is_int(wrong, 0, "sched_outcome_of: ok is OK; interrupted, cancelled and "
                     "spawn failures FINAL; every other end FAILED, for "
                     "every flag combination");

    /* The records the classifier makes, end to end. */
    engine_end_ctx_t ctx = {.timeout_ms = 1000};
    struct {
        const char *what;
        exec_result_t r;
        engine_end_ctx_t *ctx;
        sched_outcome_t want;
    } shapes[] = {
        {"exit 0", result(0, 0), NULL, SCHED_OK},
        {"exit 3", result(3, 0), NULL, SCHED_FAILED},
        {"SIGKILL", result(-1, SIGKILL), NULL, SCHED_FAILED},
        {"SIGSEGV", result(-1, SIGSEGV), NULL, SCHED_FAILED},
        {"timeout", result(-1, SIGTERM), &ctx, SCHED_FAILED},
        {"memory limit", result(-1, SIGKILL), NULL, SCHED_FAILED},
        {"critical memory", result(-1, SIGKILL), NULL, SCHED_FAILED},
        {"spawn failure", result(127, 0), NULL, SCHED_FINAL},
        {"interrupted by exec", result(-1, SIGTERM), NULL, SCHED_FINAL},
        {"interrupted by the engine", result(0, 0), NULL, SCHED_FINAL},
    };
    engine_end_ctx_t crit = {.mem_critical = true, .why = "critical"};
    engine_end_ctx_t stop = {.interrupted = true};
    shapes[4].r.timed_out = true;
    shapes[5].r.mem_limited = true;
    shapes[5].r.mem_limit_bytes = 64 * MiB;
    shapes[6].ctx = &crit;
    shapes[7].r.spawn_failed = true;
    shapes[8].r.interrupted = true;
    shapes[9].ctx = &stop;
    static const char *const outcome_names[] = {"OK", "FAILED", "FINAL"};
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        banyan_task_end_t end;
        engine_end_classify(&shapes[i].r, shapes[i].ctx, &end);
        is_int(sched_outcome_of(&end), shapes[i].want, "%s: outcome %s",
               shapes[i].what, outcome_names[shapes[i].want]);
    }
}

static void test_retry_allowed(void)
{
    ok(sched_retry_allowed(SCHED_FAILED, 1, 2),
       "a failure on attempt 1 of 2 is retried");
    ok(!sched_retry_allowed(SCHED_FAILED, 2, 2),
       "a failure on attempt 2 of 2 is not");
    ok(!sched_retry_allowed(SCHED_FAILED, 3, 2),
       "nor past the limit (attempt 3 of 2)");
    ok(!sched_retry_allowed(SCHED_FAILED, 1, 1),
       "a failure with one attempt allowed is not retried");
    ok(!sched_retry_allowed(SCHED_FAILED, 1, 0),
       "nor with max_attempts 0");
    ok(sched_retry_allowed(SCHED_FAILED, 9, 10),
       "a failure on attempt 9 of 10 is retried");
    ok(sched_retry_allowed(SCHED_FAILED, UINT32_MAX - 1, UINT32_MAX),
       "and near the top of the range");
    bool never = true;
    for (uint32_t a = 0; a < 5; a++)
        for (uint32_t m = 0; m < 5; m++)
            if (sched_retry_allowed(SCHED_OK, a, m) ||
                sched_retry_allowed(SCHED_FINAL, a, m))
                never = false;
    ok(never, "OK and FINAL are never retried, whatever the attempts");
}

int main(void)
{
    plan(NO_PLAN);
    test_exits();
    test_signals();
    test_timeout();
    test_interrupted();
    test_mem_limited();
    test_spawn_failed_no_stream();
    test_spawn_failed_real();
    test_spawn_failed_helper();
    test_note();
    test_state_names();
    test_outcome();
    test_retry_allowed();
    return done_testing();
}
