/* SPDX-License-Identifier: MIT */
/* test_exec.c - the executor runs tasks and reports what they did: exit
 * codes, signals, captured output, stdin, cwd, environment, spawn failures,
 * many tasks at once, and teardown with tasks still running. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec_test.h"
#include "tap.h"
#include "util/util.h"

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})
/* printf arguments for the first line of a string that may be NULL. */
#define LINE(s) (int)strcspn((s) ? (s) : "", "\n"), (s) ? (s) : ""

static char *tmp_path(const char *name)
{
    util_buf_t b = UTIL_BUF_INIT;
    util_buf_printf(&b, "%s/%s", tap_tmpdir(), name);
    return util_buf_steal(&b);
}

static void test_exit_codes(void)
{
    xres_t x = {0};
    exec_spec_t spec = {.argv = ARGV("true"), .capture = true};
    ok(xrun(&spec, &x) == 0, "true runs and is reported once");
    is_int(x.res.exit_code, 0, "true exits 0");
    is_int(x.res.term_signal, 0, "true was not signalled");
    ok(!x.res.spawn_failed && !x.res.timed_out && !x.res.interrupted,
       "true is a plain completion");
    ok(x.res.pid > 0, "the result carries the pid");
    ok(x.res.end_time >= x.res.start_time && x.res.start_time > 1e9,
       "start and end are wall-clock times in order");
    ok(x.out_size == 0 && x.err_size == 0 && x.out && x.err &&
           !*x.out && !*x.err,
       "a silent task has empty captured streams");
    xres_fini(&x);

    spec.argv = ARGV("sh", "-c", "exit 3");
    ok(xrun(&spec, &x) == 0, "sh -c 'exit 3' runs");
    is_int(x.res.exit_code, 3, "its exit status is reported");
    xres_fini(&x);

    spec.argv = ARGV("sh", "-c", "kill -KILL $$");
    ok(xrun(&spec, &x) == 0, "a task killing itself runs");
    is_int(x.res.exit_code, -1, "a signalled task has exit_code -1");
    is_int(x.res.term_signal, SIGKILL, "the signal is SIGKILL");
    xres_fini(&x);

    /* banyan's own dispositions must not leak into tasks. */
    signal(SIGPIPE, SIG_IGN);
    spec.argv = ARGV("sh", "-c", "yes | head -c 10");
    ok(xrun(&spec, &x) == 0 && x.res.exit_code == 0,
       "a pipeline relying on SIGPIPE ends although banyan ignores it");
    is_str(x.out, "y\ny\ny\ny\ny\n", "its output is right");
    signal(SIGPIPE, SIG_DFL);
    xres_fini(&x);

    spec.argv = ARGV("true");
    spec.capture = false;
    ok(xrun(&spec, &x) == 0 && x.res.exit_code == 0,
       "an uncaptured task runs");
    ok(x.out == NULL && x.err == NULL, "an uncaptured task has no streams");
    xres_fini(&x);
}

static void test_capture(void)
{
    xres_t x = {0};
    exec_spec_t late = {
        .argv = ARGV("sh", "-c", "(sleep 0.3; echo late) & echo early"),
        .capture = true,
    };
    ok(xrun(&late, &x) == 0 && x.res.exit_code == 0,
       "a shell leaving a writer behind runs");
    is_str(x.out, "early\nlate\n",
           "the task is reported when its output is complete, not when "
           "the shell exits");
    xres_fini(&x);

    exec_spec_t spec = {
        .argv = ARGV("sh", "-c",
                     "printf 'a\\nb'; printf 'err1\\n' >&2; printf c; "
                     "printf 'err2' >&2"),
        .capture = true,
    };
    ok(xrun(&spec, &x) == 0, "a task writing to both streams runs");
    is_str(x.out, "a\nbc", "stdout is captured byte for byte");
    is_str(x.err, "err1\nerr2", "stderr is captured separately");
    is_int(x.out_size, 4, "stdout size");
    is_int(x.err_size, 9, "stderr size");
    xres_fini(&x);
}

/* A file of numbered lines, n bytes or a little more. */
static char *make_lines(const char *path, size_t n, size_t *len)
{
    util_buf_t b = UTIL_BUF_INIT;
    for (unsigned i = 0; b.len < n; i++)
        util_buf_printf(&b, "line %07u of the big output\n", i);
    *len = b.len;
    FILE *f = fopen(path, "w");
    fwrite(b.data, 1, b.len, f);
    fclose(f);
    return util_buf_steal(&b);
}

static void test_large_output(void)
{
    size_t len;
    char *path = tmp_path("big.txt");
    char *want = make_lines(path, 5000000, &len);
    ok(len > 4 * EXEC_SPILL_BYTES, "the test output exceeds the memory part");

    /* Both streams at once: neither full pipe may block the other. */
    util_buf_t cmd = UTIL_BUF_INIT;
    util_buf_puts(&cmd, "cat ");
    util_shell_quote(&cmd, path);
    util_buf_puts(&cmd, "; cat ");
    util_shell_quote(&cmd, path);
    util_buf_puts(&cmd, " >&2");
    exec_spec_t spec = {.argv = ARGV("sh", "-c", cmd.data), .capture = true};
    xres_t x = {0};
    ok(xrun(&spec, &x) == 0, "a task writing 5 MB to each stream runs");
    ok(x.out_size == len && x.out && memcmp(x.out, want, len) == 0,
       "5 MB of stdout is captured exactly");
    ok(x.err_size == len && x.err && memcmp(x.err, want, len) == 0,
       "5 MB of stderr is captured exactly");
    xres_fini(&x);
    util_buf_fini(&cmd);

    spec = (exec_spec_t){.argv = ARGV("head", "-c", "5000000", "/dev/zero"),
                         .capture = true};
    ok(xrun(&spec, &x) == 0 && x.out_size == 5000000,
       "head -c 5000000 /dev/zero is captured with its size");
    bool zeros = x.out != NULL;
    for (size_t i = 0; zeros && i < 5000000; i++)
        zeros = x.out[i] == 0;
    ok(zeros, "and every byte is a zero");
    xres_fini(&x);

    uv_loop_t loop;
    uv_loop_init(&loop);
    exec_t *ex = exec_create(&loop, xres_cb, NULL);
    exec_destroy(ex);
    uv_run(&loop, UV_RUN_DEFAULT);
    is_int(uv_loop_close(&loop), 0, "an unused executor closes cleanly");
    free(path);
    free(want);
}

/* The callback of test_stream_out: streams are only valid inside it. */
struct stream_out {
    const char *copy_path, *tagged_path;
    int copy_rc, tag_rc, calls;
    char tail[32];
    size_t tail_n;
    int dup_errno;
    uint64_t size;
};

static void on_stream_out(exec_t *ex, void *task_arg,
                          const exec_result_t *res, void *cb_arg)
{
    struct stream_out *s = task_arg;
    (void)ex;
    (void)cb_arg;
    s->calls++;
    s->size = exec_stream_size(res->out);
    int fd = open(s->copy_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    s->copy_rc = exec_stream_copy(res->out, fd, NULL);
    close(fd);
    fd = open(s->tagged_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    s->tag_rc = exec_stream_copy(res->out, fd, "T\t");
    close(fd);
    s->tail_n = exec_stream_tail(res->out, s->tail, sizeof s->tail);
    errno = 0;
    char *d = exec_stream_dup(res->out, 1000);
    s->dup_errno = d ? 0 : errno;
    free(d);
}

static int run_with(exec_done_cb cb, const exec_spec_t *spec, void *arg)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    exec_t *ex = exec_create(&loop, cb, NULL);
    int rc = exec_start(ex, spec, arg, NULL);
    return xfinish(&loop, ex) == 0 ? rc : -1;
}

static void test_stream_out(void)
{
    size_t len;
    char *path = tmp_path("lines.txt");
    char *want = make_lines(path, 3 * EXEC_SPILL_BYTES, &len);
    struct stream_out s = {.copy_path = tmp_path("copy.txt"),
                           .tagged_path = tmp_path("tagged.txt")};
    exec_spec_t spec = {.argv = ARGV("cat", path), .capture = true};
    ok(run_with(on_stream_out, &spec, &s) == 0 && s.calls == 1,
       "cat of a 3 MB file runs");
    is_int(s.size, len, "the stream size is the file size");
    char *copy = xread_file(s.copy_path);
    ok(s.copy_rc == 0 && copy && strlen(copy) == len &&
           memcmp(copy, want, len) == 0,
       "exec_stream_copy writes the spilled stream exactly");
    util_buf_t tagged = UTIL_BUF_INIT;
    for (const char *p = want; *p;) {
        const char *nl = strchr(p, '\n');
        util_buf_puts(&tagged, "T\t");
        util_buf_append(&tagged, p, (size_t)(nl - p + 1));
        p = nl + 1;
    }
    char *got_tagged = xread_file(s.tagged_path);
    ok(s.tag_rc == 0 && got_tagged && strcmp(got_tagged, tagged.data) == 0,
       "with a prefix, every line of the spilled stream is tagged");
    ok(s.tail_n == sizeof s.tail &&
           memcmp(s.tail, want + len - sizeof s.tail, sizeof s.tail) == 0,
       "exec_stream_tail returns the last bytes from the spill file");
    is_int(s.dup_errno, EFBIG, "exec_stream_dup refuses more than max");
    free(copy);
    free(got_tagged);
    util_buf_fini(&tagged);
    free(want);
    free(path);

    /* Prefixing small output, with empty lines and no final newline. */
    spec.argv = ARGV("printf", "a\\nb\\n\\nc");
    ok(run_with(on_stream_out, &spec, &s) == 0, "printf runs");
    got_tagged = xread_file(s.tagged_path);
    is_str(got_tagged, "T\ta\nT\tb\nT\t\nT\tc\n",
           "prefixing tags empty lines and ends the last line");
    copy = xread_file(s.copy_path);
    is_str(copy, "a\nb\n\nc", "without a prefix the bytes are unchanged");
    ok(s.tail_n == 6 && memcmp(s.tail, "a\nb\n\nc", 6) == 0,
       "a tail longer than the stream is the whole stream");
    free(copy);
    free(got_tagged);

    spec.argv = ARGV("true");
    ok(run_with(on_stream_out, &spec, &s) == 0, "true runs");
    got_tagged = xread_file(s.tagged_path);
    is_str(got_tagged, "", "an empty stream gets no prefix");
    free(got_tagged);
    free((char *)s.copy_path);
    free((char *)s.tagged_path);
}

static void test_stdin_cwd_env(void)
{
    xres_t x = {0};
    char *in = tmp_path("input.txt");
    xwrite_file(in, "one\ntwo\n");
    exec_spec_t spec = {.argv = ARGV("cat"), .stdin_path = in,
                        .capture = true};
    ok(xrun(&spec, &x) == 0 && x.res.exit_code == 0, "cat < file runs");
    is_str(x.out, "one\ntwo\n", "stdin comes from stdin_path");
    xres_fini(&x);

    spec.stdin_path = NULL;
    ok(xrun(&spec, &x) == 0 && x.res.exit_code == 0,
       "cat without stdin_path ends");
    is_str(x.out, "", "the default stdin is empty (/dev/null)");
    xres_fini(&x);

    char *missing = tmp_path("no-such-input");
    spec.stdin_path = missing;
    ok(xrun(&spec, &x) == 0, "a missing stdin file is reported as a task");
    ok(x.res.spawn_failed && x.res.exit_code == 1,
       "a missing stdin file fails the task with exit code 1");
    ok(x.err && strstr(x.err, "no-such-input"),
       "the message names the file: %.*s", LINE(x.err));
    xres_fini(&x);
    free(missing);
    free(in);

    char real[PATH_MAX];
    ok(realpath(tap_tmpdir(), real) != NULL, "the temp dir resolves");
    strcat(real, "\n");
    spec = (exec_spec_t){.argv = ARGV("pwd"), .cwd = tap_tmpdir(),
                         .capture = true};
    ok(xrun(&spec, &x) == 0, "pwd with cwd runs");
    is_str(x.out, real, "the task runs in cwd");
    xres_fini(&x);

    spec.cwd = "/no/such/dir";
    ok(xrun(&spec, &x) == 0, "a missing cwd is reported as a task");
    ok(x.res.spawn_failed && x.res.exit_code == 1 && x.err &&
           strstr(x.err, "/no/such/dir"),
       "a missing cwd fails the task and says which directory");
    xres_fini(&x);

    setenv("BANYAN_T_OLD", "old", 1);
    setenv("BANYAN_T_GONE", "here", 1);
    spec = (exec_spec_t){
        .argv = ARGV("sh", "-c",
                     "echo $BANYAN_T_OLD $BANYAN_T_NEW "
                     "${BANYAN_T_GONE-unset} $BANYAN_T_TWICE; "
                     "env | grep -c '^BANYAN_T_OLD='; "
                     "env | grep -c '^BANYAN_T_TWICE='"),
        .env = ARGV("BANYAN_T_OLD=new", "BANYAN_T_NEW=x", "BANYAN_T_GONE",
                    "BANYAN_T_TWICE=1", "BANYAN_T_TWICE=2"),
        .capture = true,
    };
    ok(xrun(&spec, &x) == 0 && x.res.exit_code == 0, "a task with env runs");
    is_str(x.out, "new x unset 2\n1\n1\n",
           "env overrides, adds, removes ('NAME'), and the last entry wins "
           "without duplicates");
    xres_fini(&x);
    spec.env = NULL;
    spec.argv = ARGV("sh", "-c", "echo $BANYAN_T_OLD");
    ok(xrun(&spec, &x) == 0, "a task without env runs");
    is_str(x.out, "old\n", "it sees banyan's environment unchanged");
    xres_fini(&x);
    unsetenv("BANYAN_T_OLD");
    unsetenv("BANYAN_T_GONE");
}

/* Several tasks on one executor, each with its own xres_t. */
static void test_spawn_failures(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    exec_t *ex = exec_create(&loop, xres_cb, NULL);
    xres_t x[5] = {{0}};
    char *plain = tmp_path("not-executable");
    xwrite_file(plain, "echo hi\n");
    chmod(plain, 0644);
    char *nofile = tmp_path("no-such-program");
    exec_spec_t specs[5] = {
        {.argv = ARGV("true"), .capture = true},
        {.argv = ARGV("banyan-no-such-command-xyz", "a"), .capture = true},
        {.argv = ARGV("sh", "-c", "echo hi"), .capture = true},
        {.argv = ARGV(plain), .capture = true},
        {.argv = ARGV(nofile), .capture = true},
    };
    int started = 0;
    for (int i = 0; i < 5; i++)
        started += exec_start(ex, &specs[i], &x[i], NULL) == 0;
    is_int(started, 5, "exec_start accepts missing and unusable programs");
    int early = 0;
    for (int i = 0; i < 5; i++)
        early += x[i].calls;
    is_int(early, 0, "no callback runs inside exec_start");
    is_int(exec_running(ex), 5, "all five count as running");
    ok(xfinish(&loop, ex) == 0, "the loop closes cleanly afterwards");
    ok(x[0].calls == 1 && x[0].res.exit_code == 0 && !x[0].res.spawn_failed,
       "true beside a missing command succeeds");
    ok(x[2].calls == 1 && x[2].res.exit_code == 0 && x[2].out &&
           strcmp(x[2].out, "hi\n") == 0,
       "echo beside a missing command succeeds with its output");
    ok(x[1].calls == 1 && x[1].res.spawn_failed, "a missing command is "
                                                 "reported once as failed");
    is_int(x[1].res.exit_code, 127, "a missing command exits 127");
    is_str(x[1].err, "banyan: banyan-no-such-command-xyz: command not found\n",
           "a missing command says so on its stderr, as a shell would");
    is_str(x[1].out, "", "and has an empty stdout");
    ok(x[3].calls == 1 && x[3].res.spawn_failed, "a non-executable file is "
                                                 "reported as failed");
    is_int(x[3].res.exit_code, 126, "a non-executable file exits 126");
    ok(x[3].err && strstr(x[3].err, "Permission denied"),
       "its message gives the reason: %.*s", LINE(x[3].err));
    is_int(x[4].res.exit_code, 127, "a missing path exits 127");
    ok(x[4].err && strstr(x[4].err, "No such file"),
       "a missing path says 'No such file': %.*s", LINE(x[4].err));
    for (int i = 0; i < 5; i++)
        xres_fini(&x[i]);
    free(plain);
    free(nofile);
}

enum { MANY = 200 };

static void test_many(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    exec_t *ex = exec_create(&loop, xres_cb, NULL);
    xres_t *x = calloc(MANY, sizeof *x);
    char num[MANY][16];
    int started = 0;
    for (int i = 0; i < MANY; i++) {
        snprintf(num[i], sizeof num[i], "%d", i);
        exec_spec_t spec = {
            .argv = i % 2 ? ARGV("echo", num[i])
                          : ARGV("sh", "-c", "echo $0; echo e$0 >&2", num[i]),
            .capture = true,
        };
        started += exec_start(ex, &spec, &x[i], NULL) == 0;
    }
    is_int(started, MANY, "200 tasks start at once");
    ok(xfinish(&loop, ex) == 0, "the loop closes cleanly after 200 tasks");
    int once = 0, right = 0;
    for (int i = 0; i < MANY; i++) {
        once += x[i].calls == 1;
        char want[32], want_err[32];
        snprintf(want, sizeof want, "%d\n", i);
        snprintf(want_err, sizeof want_err, i % 2 ? "" : "e%d\n", i);
        right += x[i].res.exit_code == 0 && x[i].out && x[i].err &&
                 strcmp(x[i].out, want) == 0 &&
                 strcmp(x[i].err, want_err) == 0;
        xres_fini(&x[i]);
    }
    is_int(once, MANY, "each of 200 tasks is reported exactly once");
    is_int(right, MANY, "each has its own output and exit code");
    free(x);
}

/* A callback that starts the next task: chains of work on one executor. */
struct chain {
    int left, done;
};

static void on_chain(exec_t *ex, void *task_arg, const exec_result_t *res,
                     void *cb_arg)
{
    struct chain *c = cb_arg;
    (void)task_arg;
    c->done += res->exit_code == 0;
    if (c->left-- > 0) {
        exec_spec_t spec = {.argv = ARGV("true"), .capture = true};
        exec_start(ex, &spec, NULL, NULL);
    }
}

static void test_chain(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct chain c = {.left = 20};
    exec_t *ex = exec_create(&loop, on_chain, &c);
    exec_spec_t spec = {.argv = ARGV("true"), .capture = false};
    exec_start(ex, &spec, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    is_int(c.done, 21, "tasks started from the callback run too");
    ok(xfinish(&loop, ex) == 0, "and the loop closes");
}

static void test_signal_and_destroy(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    exec_t *ex = exec_create(&loop, xres_cb, NULL);
    xres_t a = {0}, b = {0};
    exec_spec_t spec = {.argv = ARGV("sleep", "100"), .capture = true};
    exec_start(ex, &spec, &a, NULL);
    is_int(exec_signal(ex, &a, SIGUSR1), 0, "exec_signal finds the task");
    errno = 0;
    ok(exec_signal(ex, &b, SIGUSR1) < 0 && errno == ENOENT,
       "exec_signal of an unknown task is ENOENT");
    uv_run(&loop, UV_RUN_DEFAULT);
    ok(a.calls == 1 && a.res.term_signal == SIGUSR1,
       "the signal ended the task and is reported");
    xres_fini(&a);

    /* Destroy with tasks running: killed, reaped, no callback. */
    exec_start(ex, &spec, &a, NULL);
    spec.capture = false;
    exec_start(ex, &spec, &b, NULL);
    exec_destroy(ex);
    uv_run(&loop, UV_RUN_DEFAULT);
    is_int(uv_loop_close(&loop), 0,
           "destroying with running tasks leaves a loop that closes");
    ok(a.calls == 0 && b.calls == 0, "tasks killed by exec_destroy are not "
                                     "reported");
    errno = 0;
    ok(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD,
       "exec_destroy reaped its children");
}

/* run.c's pattern: the done callback tears the executor down. */
static void on_destroy_in_cb(exec_t *ex, void *task_arg,
                             const exec_result_t *res, void *cb_arg)
{
    int *calls = cb_arg;
    (void)task_arg;
    (void)res;
    (*calls)++;
    exec_destroy(ex);
}

static void test_destroy_in_callback(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    int calls = 0;
    exec_t *ex = exec_create(&loop, on_destroy_in_cb, &calls);
    exec_spec_t quick = {.argv = ARGV("true"), .capture = true};
    exec_spec_t slow = {.argv = ARGV("sleep", "100"), .capture = true};
    exec_spec_t missing = {.argv = ARGV("banyan-no-such-xyz")};
    exec_start(ex, &slow, NULL, NULL);
    exec_start(ex, &quick, NULL, NULL);
    exec_start(ex, &slow, NULL, NULL);
    exec_start(ex, &missing, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    is_int(calls, 1, "after exec_destroy in the callback no more callbacks");
    is_int(uv_loop_close(&loop), 0, "and the loop closes cleanly");
    errno = 0;
    ok(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD,
       "the slow tasks were killed and reaped");
}

int main(void)
{
    plan(NO_PLAN);
    test_exit_codes();
    test_capture();
    test_large_output();
    test_stream_out();
    test_stdin_cwd_env();
    test_spawn_failures();
    test_many();
    test_chain();
    test_signal_and_destroy();
    test_destroy_in_callback();
    return done_testing();
}
