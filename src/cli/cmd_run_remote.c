/* SPDX-License-Identifier: MIT */
/* cmd_run_remote.c - banyan run -S: GNU Parallel's remote execution on
 * banyan's cluster mode.
 *
 * One worker per sshlogin (N/host gives it N slots, ":" is a local
 * worker), started and stopped by launch's machinery (cli_launch.h) with
 * a private server on loopback that the remote workers reach through
 * their ssh's tunnel.  The command line is submitted as ONE job: GNU's
 * words joined by spaces into one word, which a worker runs under
 * /bin/sh -c with the values quoted; the inputs, already expanded here
 * (every source, file and stdin read by tmpl_inputs), go as linked
 * sources of equal length, so the server's task i is the local task i.
 *
 * Files: --basefile and --transferfile files travel as one blob, a tar
 * archive unpacked on every remote host (in --workdir, else the remote
 * $HOME) by a task pinned to that host before the job starts; pinning is
 * a custom resource each worker offers ("banyan_slN").  --return files
 * come back over ssh (tar) once the job has ended, from the host that ran
 * each task (the results name its worker), and --cleanup removes the sent
 * and returned files there.  --onall and --nonall are one job per host,
 * pinned the same way.
 *
 * Output: each task's stdout then its stderr, in input order with -k,
 * else in the order tasks ended.  The exit code is GNU's: the number of
 * failed tasks (101 for more than 100). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_client.h"
#include "cli_launch.h"
#include "cli_remote.h"
#include "tmpl/tmpl.h"
#include "worker/worker.h"

extern char **environ;

enum {
    WAIT_SLICE_MS = 200,   /* a wait for the job between signal checks */
    PAGE = 1000,           /* tasks per results query */
    PIN_AMOUNT = 1000000,  /* of a worker's own resource */
};

/* ------------------------------------------------------------ options */

/* Split a -S value at commas; each piece is one login (copied). */
static int add_logins(char ***v, size_t *n, size_t *cap, const char *list)
{
    const char *p = list;
    for (;;) {
        size_t len = strcspn(p, ",");
        if (len > 0) {
            char *dup = strndup(p, len);
            if (!dup || util_grow((void **)v, cap, *n + 1, sizeof(char *))
                            < 0) {
                free(dup);
                return cli_fail("run", BANYAN_EXIT_INTERNAL,
                                "out of memory");
            }
            (*v)[(*n)++] = dup;
        }
        if (!p[len])
            return 0;
        p += len + 1;
    }
}

/* --slf FILE: one login a line, '#' starts a comment; ".." is
 * ~/.parallel/sshloginfile as in GNU Parallel. */
static int read_slf(char ***v, size_t *n, size_t *cap, const char *path)
{
    char buf[PATH_MAX];
    if (!strcmp(path, "..")) {
        const char *home = getenv("HOME");
        snprintf(buf, sizeof(buf), "%s/.parallel/sshloginfile",
                 home ? home : "");
        path = buf;
    }
    FILE *f = fopen(path, "r");
    if (!f)
        return cli_usage_error("run", "--slf: cannot read %s: %s", path,
                               strerror(errno));
    char line[4096];
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "#\r\n")] = '\0';
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        size_t len = strlen(s);
        while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
            s[--len] = '\0';
        if (len > 0)
            rc = add_logins(v, n, cap, s);
    }
    fclose(f);
    return rc;
}

static int add_arg(const char **v, size_t *n, const char *arg,
                   const char *opt)
{
    if (*n >= RUN_REMOTE_MAX_ARGS)
        return cli_usage_error("run", "%s: at most %d times", opt,
                               RUN_REMOTE_MAX_ARGS);
    v[(*n)++] = arg;
    return 0;
}

int run_remote_option(run_remote_opts_t *r, int c, const char *arg)
{
    switch (c) {
    case CLI_OPT_SSHLOGIN:
        return add_arg(r->sshlogin, &r->nsshlogin, arg, "-S");
    case CLI_OPT_SLF: return add_arg(r->slf, &r->nslf, arg, "--slf");
    case CLI_OPT_SSH: r->ssh = arg; return 0;
    case CLI_OPT_TRANSFER:
        return add_arg(r->transfer, &r->ntransfer, "{}", "--transfer");
    case CLI_OPT_TRANSFERFILE:
        return add_arg(r->transfer, &r->ntransfer, arg, "--transferfile");
    case CLI_OPT_TRC:
        r->cleanup = true;
        return add_arg(r->transfer, &r->ntransfer, "{}", "--trc") ||
               add_arg(r->ret, &r->nret, arg, "--trc")
                   ? BANYAN_EXIT_USAGE : 0;
    case CLI_OPT_RETURN: return add_arg(r->ret, &r->nret, arg, "--return");
    case CLI_OPT_CLEANUP: r->cleanup = true; return 0;
    case CLI_OPT_BASEFILE:
        return add_arg(r->base, &r->nbase, arg, "--basefile");
    case CLI_OPT_ONALL: r->onall = true; return 0;
    case CLI_OPT_NONALL: r->nonall = true; return 0;
    case CLI_OPT_WORKDIR: r->workdir = arg; return 0;
    default: return -1;
    }
}

/* The login without its "N/" prefix; *slots gets N (0 = none). */
static const char *login_host(const char *login, long *slots)
{
    *slots = 0;
    const char *slash = strchr(login, '/');
    if (slash && slash > login &&
        strspn(login, "0123456789") == (size_t)(slash - login)) {
        char num[24];
        size_t n = (size_t)(slash - login);
        if (n < sizeof(num)) {
            memcpy(num, login, n);
            num[n] = '\0';
            *slots = strtol(num, NULL, 10);
            return slash + 1;
        }
    }
    return login;
}

/* Is the login (n bytes of s) this machine: ":" after an "N/"? */
static bool login_is_local(const char *s, size_t n)
{
    size_t digits = strspn(s, "0123456789");
    if (digits > 0 && digits < n && s[digits] == '/') {
        s += digits + 1;
        n -= digits + 1;
    }
    return n == 1 && s[0] == ':';
}

bool run_remote_wanted(const run_remote_opts_t *r)
{
    for (size_t i = 0; i < r->nsshlogin; i++)
        for (const char *p = r->sshlogin[i]; *p;) {
            size_t n = strcspn(p, ",");
            if (n > 0 && !login_is_local(p, n))
                return true;
            p += n + (p[n] == ',');
        }
    return r->nslf > 0 || r->nonall || r->onall;
}

/* ---------------------------------------------------------- the hosts */

typedef struct host {
    char *name;            /* the login, "N/" removed (worker --name) */
    char **ssh;            /* ssh words, the host last; NULL = local */
    char resource[48];     /* "banyan_slI=AMOUNT" */
    char pin[32];          /* "banyan_slI" */
    uint32_t job;          /* --onall/--nonall: this host's job */
} host_t;

typedef struct remote {
    run_remote_opts_t *r;
    char **logins;         /* every login of -S and --slf (owned) */
    size_t nlogins, logins_cap;
    const run_options_t *o;
    host_t *hosts;
    size_t nhosts;
    char **argv;
    int first, sep;
    banyan_client_t *c;
    launch_t *l;
    uint64_t ntasks;
    json_t **tasks;        /* results of the main job(s), by seq order */
    size_t ntask_rows;
    uint64_t failed;
} remote_t;

/* Split s at blanks into a NULL-ended vector of owned words. */
static char **split_words(const char *s)
{
    size_t n = 0, cap = 0;
    char **v = NULL;
    for (;;) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s)
            break;
        size_t len = strcspn(s, " \t");
        char *w = strndup(s, len);
        if (!w || util_grow((void **)&v, &cap, n + 2, sizeof(char *)) < 0) {
            free(w);
            goto fail;
        }
        v[n++] = w;
        s += len;
    }
    if (util_grow((void **)&v, &cap, n + 1, sizeof(char *)) < 0)
        goto fail;
    v[n] = NULL;
    return v;
fail:
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
    return NULL;
}

static void free_words(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* GNU's sshlogin: "[sshcommand [options]] [user@]host".  Without a
 * command of its own, --ssh (or "ssh") and the host. */
static char **login_ssh(const run_remote_opts_t *r, const char *host)
{
    util_buf_t b = UTIL_BUF_INIT;
    if (!strchr(host, ' ')) {
        util_buf_puts(&b, r->ssh ? r->ssh : "ssh");
        util_buf_putc(&b, ' ');
    }
    util_buf_puts(&b, host);
    char **v = b.data ? split_words(b.data) : NULL;
    util_buf_fini(&b);
    return v;
}

static int make_hosts(remote_t *x)
{
    const run_remote_opts_t *r = x->r;
    x->hosts = calloc(x->nlogins ? x->nlogins : 1, sizeof(host_t));
    if (!x->hosts)
        return -1;
    for (size_t i = 0; i < x->nlogins; i++) {
        long slots;
        const char *h = login_host(x->logins[i], &slots);
        bool dup = false;
        for (size_t k = 0; k < x->nhosts; k++)
            dup = dup || !strcmp(x->hosts[k].name, h);
        if (dup)
            continue;
        host_t *hs = &x->hosts[x->nhosts++];
        hs->name = strdup(h);
        if (!hs->name)
            return -1;
        if (strcmp(h, ":") && !(hs->ssh = login_ssh(r, h)))
            return -1;
        snprintf(hs->pin, sizeof(hs->pin), "banyan_sl%zu", x->nhosts - 1);
        snprintf(hs->resource, sizeof(hs->resource), "%s=%d", hs->pin,
                 PIN_AMOUNT);
    }
    return 0;
}

static void free_hosts(remote_t *x)
{
    for (size_t i = 0; i < x->nhosts; i++) {
        free(x->hosts[i].name);
        free_words(x->hosts[i].ssh);
    }
    free(x->hosts);
    for (size_t i = 0; i < x->nlogins; i++)
        free(x->logins[i]);
    free(x->logins);
}

static host_t *host_named(remote_t *x, const char *name)
{
    for (size_t i = 0; name && i < x->nhosts; i++)
        if (!strcmp(x->hosts[i].name, name))
            return &x->hosts[i];
    return NULL;
}

/* ------------------------------------------------- local helper runs */

/* Run argv (a program on PATH) and wait for it.  Its exit status, or -1
 * when it could not start.  It starts with no signal blocked and SIGPIPE
 * at its default (launch blocks the signals it waits for and ignores
 * SIGPIPE). */
static int run_program(char *const argv[])
{
    pid_t pid;
    posix_spawnattr_t attr;
    sigset_t none, dfl;
    sigemptyset(&none);
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGPIPE);
    if (posix_spawnattr_init(&attr) != 0)
        return -1;
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &dfl);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    fflush(NULL);
    int rc = posix_spawnp(&pid, argv[0], NULL, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    if (rc != 0)
        return -1;
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ------------------------------------------------------- file names */

/* The expansion of template text tw for task i (0-based), values not
 * quoted (a literal name gets no appended values).  Caller frees; NULL on
 * error. */
static char *expand_name(const remote_t *x, const char *tw, uint64_t i)
{
    banyan_error_t err = {{0}};
    tmpl_t *t = tmpl_parse_text(tw, NULL, &err);
    size_t arity = tmpl_inputs_arity(x->o->inputs);
    const char **vals = calloc(arity ? arity : 1, sizeof(char *));
    char *name = NULL;
    if (t && vals && tmpl_inputs_get(x->o->inputs, i, vals) == 0) {
        tmpl_ctx_t ctx = {.vals = vals, .nvals = arity, .arity = arity,
                          .seq = i + 1, .slot = 1};
        name = tmpl_expand_text(t, &ctx);
    }
    free(vals);
    tmpl_destroy(t);
    return name;
}

static int add_name(util_buf_t *b, const char *name)
{
    if (b->len)
        util_buf_putc(b, ' ');
    return util_shell_quote(b, name);
}

/* Every file to send: the basefiles and each task's transferfiles,
 * quoted for a shell, into b. */
static int sent_names(const remote_t *x, util_buf_t *b, bool *any)
{
    *any = false;
    for (size_t k = 0; k < x->r->nbase; k++) {
        add_name(b, x->r->base[k]);
        *any = true;
    }
    for (uint64_t i = 0; i < x->ntasks && x->r->ntransfer; i++) {
        for (size_t k = 0; k < x->r->ntransfer; k++) {
            char *n = expand_name(x, x->r->transfer[k], i);
            if (!n)
                return -1;
            add_name(b, n);
            free(n);
            *any = true;
        }
    }
    return 0;
}

/* ------------------------------------------------------------- jobs */

/* Wait for job to end, checking for signals and dead workers between
 * slices.  0; -1 after a signal or a worker's end (said), or a client
 * error (said). */
static int wait_job(remote_t *x, uint32_t job, banyan_job_state_t *st)
{
    for (;;) {
        banyan_error_t err = {{0}};
        if (banyan_client_wait(x->c, job, WAIT_SLICE_MS, st, &err) == 0)
            return 0;
        if (errno != ETIMEDOUT) {
            fprintf(stderr, "banyan run: %s\n", err.text);
            return -1;
        }
        if (!cli_launch_wait(x->l, 0))
            return -1;
    }
}

/* Submit a job: the command text as one word, with nsrc linked sources
 * of n values (NULL: no sources, one task), pinned to host pin (NULL =
 * anywhere), with blob (NULL = none). */
static int submit(remote_t *x, const char *text, banyan_source_t *src,
                  size_t nsrc, const char *pin, const uint8_t *blob,
                  uint32_t *job)
{
    const char *words[1] = {text};
    char pid[40];
    const char *env[1] = {pid};
    snprintf(pid, sizeof(pid), "PARALLEL_PID=%ld", (long)getpid());
    banyan_resource_t res = {.name = pin, .amount = 1};
    banyan_job_spec_t spec = {
        .words = words, .nwords = 1,
        .sources = src, .nsources = src ? nsrc : 0,
        .resources = pin ? &res : NULL, .nresources = pin ? 1 : 0,
        .retries = x->o->retries,
        .timeout_ms = x->o->timeout_ms,
        .cpus_milli = pin ? 0 : x->o->req.cpus_milli,
        .mem_bytes = pin ? 0 : x->o->req.mem_bytes,
        .gpus_milli = pin ? 0 : x->o->req.gpus_milli,
        .gpu_mem_bytes = pin ? 0 : x->o->req.gpu_mem_bytes,
        .name = "banyan run -S",
        .env = env, .nenv = 1,
        .blobs = (const uint8_t(*)[32])blob, .nblobs = blob ? 1 : 0,
    };
    banyan_error_t err = {{0}};
    if (banyan_client_submit(x->c, &spec, job, NULL, &err) < 0) {
        fprintf(stderr, "banyan run: %s\n", err.text);
        return -1;
    }
    return 0;
}

/* Pack the basefiles and every task's transferfiles into one tar
 * archive and store it as a blob (*have false: nothing to send). */
static int pack_files(remote_t *x, uint8_t *hash, bool *have)
{
    util_buf_t names = UTIL_BUF_INIT;
    if (sent_names(x, &names, have) < 0 || !*have) {
        util_buf_fini(&names);
        return *have ? -1 : 0;
    }
    char dir[] = "/tmp/banyan-send.XXXXXX", tar[sizeof(dir) + 8];
    if (!mkdtemp(dir)) {
        util_buf_fini(&names);
        return cli_fail("run", -1, "cannot create a directory: %s",
                        strerror(errno));
    }
    snprintf(tar, sizeof(tar), "%s/f.tar", dir);
    util_buf_t sh = UTIL_BUF_INIT;
    util_buf_puts(&sh, "tar -cPf ");
    util_shell_quote(&sh, tar);
    util_buf_puts(&sh, " -- ");
    util_buf_puts(&sh, names.data);
    char *argv[] = {"/bin/sh", "-c", sh.data, NULL};
    banyan_error_t err = {{0}};
    int rc = -1;
    if (run_program(argv) != 0)
        fprintf(stderr, "banyan run: cannot pack the files to send\n");
    else if (banyan_client_blob_put_file(x->c, tar, hash, &err) < 0)
        fprintf(stderr, "banyan run: %s\n", err.text);
    else
        rc = 0;
    unlink(tar);
    rmdir(dir);
    util_buf_fini(&sh);
    util_buf_fini(&names);
    return rc;
}

/* --basefile: one task pinned to each remote host unpacks the basefiles
 * from the archive before anything else runs there. */
static int send_basefiles(remote_t *x, const uint8_t *hash)
{
    util_buf_t cmd = UTIL_BUF_INIT;
    util_buf_puts(&cmd, "tar -xPf \"$BANYAN_BLOB_0\" --");
    for (size_t k = 0; k < x->r->nbase; k++) {
        util_buf_putc(&cmd, ' ');
        util_shell_quote(&cmd, x->r->base[k]);
    }
    int rc = cmd.data ? 0 : -1;
    for (size_t i = 0; i < x->nhosts && rc == 0; i++) {
        if (!x->hosts[i].ssh)
            continue;
        uint32_t job;
        banyan_job_state_t st;
        rc = submit(x, cmd.data, NULL, 0, x->hosts[i].pin, hash, &job);
        if (rc == 0)
            rc = wait_job(x, job, &st);
        if (rc == 0 && st.failed) {
            fprintf(stderr, "banyan run: cannot unpack the basefiles on "
                            "%s\n", x->hosts[i].name);
            rc = -1;
        }
    }
    util_buf_fini(&cmd);
    return rc;
}

/* The job's command word: GNU's variables set, then GNU's words joined
 * by spaces; with
 * --transferfile, first (on a remote host) the task's own files out of
 * the archive.  The values are appended when the command names none, as
 * GNU does, also when only the prefix names them. */
static int job_text(remote_t *x, util_buf_t *text)
{
    /* GNU's variables, from the worker's own (docs/environment.md) */
    util_buf_puts(text, "PARALLEL_SEQ=$BANYAN_TASK_ID "
                        "PARALLEL_JOBSLOT=$BANYAN_SLOT "
                        "PARALLEL_SSHLOGIN=$BANYAN_WORKER; export "
                        "PARALLEL_SEQ PARALLEL_JOBSLOT PARALLEL_SSHLOGIN; ");
    if (x->r->ntransfer) {
        util_buf_puts(text, "[ \"$BANYAN_WORKER\" = : ] || tar -xPf "
                            "\"$BANYAN_BLOB_0\" --");
        for (size_t k = 0; k < x->r->ntransfer; k++) {
            util_buf_putc(text, ' ');
            util_buf_puts(text, x->r->transfer[k]);
        }
        util_buf_puts(text, " || exit 255; ");
    }
    for (int i = x->first; i < x->sep; i++) {
        if (i > x->first)
            util_buf_putc(text, ' ');
        util_buf_puts(text, x->argv[i]);
    }
    if (x->r->ntransfer && !x->r->nonall && !tmpl_uses_values(x->o->tmpl))
        for (size_t k = 1; k <= tmpl_inputs_arity(x->o->inputs); k++)
            util_buf_printf(text, " {%zu}", k);
    return text->data ? 0 : -1;
}

/* All tasks' values as linked sources of equal length.  *vals holds
 * the pointer arrays (borrowed strings); caller frees both. */
static banyan_source_t *make_sources(remote_t *x, const char ***vals,
                                     size_t *nsrc)
{
    size_t arity = tmpl_inputs_arity(x->o->inputs);
    uint64_t n = x->ntasks;
    *nsrc = arity;
    banyan_source_t *src = calloc(arity ? arity : 1, sizeof(*src));
    *vals = calloc(arity * n + 1, sizeof(char *));
    const char **row = calloc(arity ? arity : 1, sizeof(char *));
    if (!src || !*vals || !row)
        goto fail;
    for (uint64_t i = 0; i < n; i++) {
        if (tmpl_inputs_get(x->o->inputs, i, row) < 0)
            goto fail;
        for (size_t k = 0; k < arity; k++)
            (*vals)[k * n + i] = row[k];
    }
    for (size_t k = 0; k < arity; k++)
        src[k] = (banyan_source_t){.values = *vals + k * n, .nvalues = n,
                                   .linked = k > 0};
    free(row);
    return src;
fail:
    free(row);
    free(src);
    free(*vals);
    *vals = NULL;
    return NULL;
}

/* ----------------------------------------------------------- results */

/* Append the result rows of job's tasks after task number offset. */
static int fetch_results(remote_t *x, uint32_t job, long long offset,
                         json_t *into)
{
    for (;;) {
        int code;
        json_t *a = cli_client_query(
            "run", x->c, "results",
            json_pack("{s:I, s:I, s:I}", "job", (json_int_t)job, "offset",
                      (json_int_t)offset, "limit", (json_int_t)PAGE),
            &code);
        if (!a)
            return -1;
        json_t *tasks = json_object_get(a, "tasks");
        size_t i;
        json_t *t;
        json_array_foreach(tasks, i, t) {
            json_object_set_new(t, "job", json_integer(job));
            json_array_append(into, t);
        }
        json_t *next = json_object_get(a, "next_offset");
        bool more = json_is_integer(next) &&
                    json_integer_value(next) > offset &&
                    json_array_size(tasks) > 0;
        if (more)
            offset = json_integer_value(next);
        json_decref(a);
        if (!more)
            return 0;
    }
}

/* --tag: prefix each line of s with the task's values and a tab. */
static void put_output(FILE *f, const char *s, const char *tag)
{
    if (!tag) {
        fputs(s, f);
        return;
    }
    while (*s) {
        size_t n = strcspn(s, "\n");
        fprintf(f, "%s\t%.*s", tag, (int)n, s);
        if (s[n] == '\n')
            fputc('\n', f), n++;
        s += n;
    }
}

static bool task_failed(const json_t *t)
{
    const char *state = cli_json_str(t, "state", "");
    return strcmp(state, "done") != 0 && strcmp(state, "ok") != 0
           ? true
           : cli_json_int(t, "exit_code", 0) != 0;
}

/* Print one task's output, stdout then stderr, and count it if failed. */
static void print_task(remote_t *x, const json_t *t)
{
    size_t arity = tmpl_inputs_arity(x->o->inputs);
    const char **vals = calloc(arity ? arity : 1, sizeof(char *));
    util_buf_t tag = UTIL_BUF_INIT;
    long long seq = cli_json_int(t, "seq", 1);
    if (x->o->tag && vals && arity && !x->r->nonall &&
        tmpl_inputs_get(x->o->inputs, (uint64_t)seq - 1, vals) == 0)
        for (size_t k = 0; k < arity; k++) {
            if (k)
                util_buf_putc(&tag, '\t');
            util_buf_puts(&tag, vals[k]);
        }
    free(vals);
    {
        const char *out = cli_json_str(t, "stdout_tail", ""),
                   *err = cli_json_str(t, "stderr_tail", "");
        if (strlen(out) >= WORKER_TAIL_BYTES ||
            strlen(err) >= WORKER_TAIL_BYTES)
            fprintf(stderr, "banyan run: task %lld may have printed more "
                            "than the %d bytes a remote task's stdout and "
                            "stderr each keep (docs/remote.md)\n", seq,
                    WORKER_TAIL_BYTES);
        put_output(stdout, out, tag.data);
        fflush(stdout);
        put_output(stderr, err, tag.data);
    }
    util_buf_fini(&tag);
    if (task_failed(t))
        x->failed++;
}

/* --onall/--nonall: print the rows of the per-host jobs in order. */
static void print_tasks(remote_t *x, json_t *rows)
{
    size_t i;
    json_t *t;
    json_array_foreach(rows, i, t)
        print_task(x, t);
}

/* May row t be printed now: the task has ended for good (an interrupted
 * task runs again), or its job has ended. */
static bool row_final(const json_t *t, bool job_ended)
{
    banyan_task_state_t st;
    if (banyan_task_state_parse(cli_json_str(t, "state", ""), &st) < 0)
        return job_ended;
    return job_ended ||
           (banyan_task_state_is_end(st) && st != BANYAN_TASK_INTERRUPTED);
}

/* Wait for the main job, printing each task as soon as it may be: with
 * -k once every earlier task has been printed, else as tasks end.  The
 * printed rows are appended to rows.  0, or -1 (said). */
static int stream_job(remote_t *x, uint32_t job, json_t *rows)
{
    uint64_t next = 1;   /* the lowest task number not printed yet */
    uint8_t *printed = calloc(x->ntasks + 2, 1);
    if (!printed)
        return cli_fail("run", -1, "out of memory");
    int rc = -1;
    for (;;) {
        banyan_job_state_t st;
        banyan_error_t err = {{0}};
        bool ended = banyan_client_wait(x->c, job, WAIT_SLICE_MS, &st,
                                        &err) == 0;
        if (!ended && errno != ETIMEDOUT) {
            fprintf(stderr, "banyan run: %s\n", err.text);
            break;
        }
        json_t *page = json_array();
        if (!page || fetch_results(x, job, (long long)next - 1, page) < 0) {
            json_decref(page);
            break;
        }
        size_t i;
        json_t *t;
        json_array_foreach(page, i, t) {
            long long seq = cli_json_int(t, "seq", 0);
            if (seq < 1 || (uint64_t)seq > x->ntasks || printed[seq])
                continue;
            bool ready = row_final(t, ended) &&
                         (!x->o->keep_order || (uint64_t)seq == next);
            if (!ready && x->o->keep_order)
                break; /* a gap: later tasks wait for it */
            if (!ready)
                continue;
            print_task(x, t);
            json_array_append(rows, t);
            printed[seq] = 1;
            while (next <= x->ntasks && printed[next])
                next++;
        }
        json_decref(page);
        if (ended) {
            rc = 0;
            break;
        }
        if (!cli_launch_wait(x->l, 0))
            break;
    }
    free(printed);
    return rc;
}

/* GNU Parallel's joblog, from the results (Send and Receive 0). */
static void write_joblog(remote_t *x, json_t *rows)
{
    FILE *f = fopen(x->o->joblog_path, "w");
    if (!f) {
        fprintf(stderr, "banyan run: cannot write %s: %s\n",
                x->o->joblog_path, strerror(errno));
        return;
    }
    fputs("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\t"
          "Signal\tCommand\n", f);
    size_t arity = tmpl_inputs_arity(x->o->inputs);
    const char **vals = calloc(arity ? arity : 1, sizeof(char *));
    size_t i;
    json_t *t;
    json_array_foreach(rows, i, t) {
        long long seq = cli_json_int(t, "seq", 1);
        char **argv = NULL, *line = NULL;
        if (vals && !x->r->nonall &&
            tmpl_inputs_get(x->o->inputs, (uint64_t)seq - 1, vals) == 0) {
            tmpl_ctx_t ctx = {.vals = vals, .nvals = arity,
                              .seq = (uint64_t)seq, .slot = 1};
            tmpl_expand(x->o->tmpl, &ctx, &argv, &line);
        }
        double st = json_number_value(json_object_get(t, "start_time"));
        double et = json_number_value(json_object_get(t, "end_time"));
        size_t received = strlen(cli_json_str(t, "stdout_tail", "")) +
                          strlen(cli_json_str(t, "stderr_tail", ""));
        fprintf(f, "%lld\t%s\t%14.3f\t%10.3f\t0\t%zu\t%lld\t%lld\t%s\n",
                seq, cli_json_str(t, "worker", ":"), st,
                et > st ? et - st : 0, received,
                cli_json_int(t, "exit_code", 0),
                cli_json_int(t, "signal", 0),
                line ? line : x->o->command_text);
        free(argv);
        free(line);
    }
    free(vals);
    fclose(f);
}

/* --return and --cleanup: per remote host, one ssh that packs the files
 * its tasks returned (unpacked here) and removes what was sent and
 * returned. */
static void return_files(remote_t *x, json_t *rows)
{
    for (size_t h = 0; h < x->nhosts; h++) {
        host_t *hs = &x->hosts[h];
        if (!hs->ssh)
            continue;
        util_buf_t ret = UTIL_BUF_INIT, gone = UTIL_BUF_INIT;
        size_t i;
        json_t *t;
        json_array_foreach(rows, i, t) {
            if (host_named(x, cli_json_str(t, "worker", NULL)) != hs ||
                x->r->nonall)
                continue;
            for (size_t k = 0; k < x->r->nret; k++) {
                char *n = expand_name(x, x->r->ret[k],
                                      (uint64_t)cli_json_int(t, "seq", 1)
                                          - 1);
                if (n)
                    add_name(&ret, n);
                free(n);
            }
        }
        bool sent;
        if (x->r->cleanup) {
            sent_names(x, &gone, &sent);
            if (ret.len) {
                if (gone.len)
                    util_buf_putc(&gone, ' ');
                util_buf_puts(&gone, ret.data);
            }
        }
        if (!ret.len && !gone.len) {
            util_buf_fini(&ret);
            util_buf_fini(&gone);
            continue;
        }
        util_buf_t remote = UTIL_BUF_INIT, sh = UTIL_BUF_INIT;
        if (x->r->workdir) {
            util_buf_puts(&remote, "cd ");
            util_shell_quote(&remote, x->r->workdir);
            util_buf_puts(&remote, " && ");
        }
        util_buf_puts(&remote, "{ ");
        if (ret.len)
            util_buf_printf(&remote, "tar -cPf - --ignore-failed-read -- "
                                     "%s 2>/dev/null; ", ret.data);
        if (gone.len)
            util_buf_printf(&remote, "rm -f -- %s; ", gone.data);
        if (x->r->cleanup && x->r->workdir) {
            /* as GNU: the work directory goes too once empty */
            util_buf_puts(&remote, "cd / && rmdir -- ");
            util_shell_quote(&remote, x->r->workdir);
            util_buf_puts(&remote, " 2>/dev/null; ");
        }
        util_buf_puts(&remote, "}");
        for (size_t k = 0; hs->ssh[k]; k++) {
            util_shell_quote(&sh, hs->ssh[k]);
            util_buf_putc(&sh, ' ');
            if (k == 0)
                util_buf_puts(&sh, "-o LogLevel=ERROR -o BatchMode=yes ");
        }
        util_shell_quote(&sh, remote.data);
        util_buf_puts(&sh, ret.len ? " </dev/null | tar -xPf -"
                                   : " </dev/null >/dev/null");
        char *argv[] = {"/bin/sh", "-c", sh.data, NULL};
        if (run_program(argv) != 0)
            fprintf(stderr, "banyan run: could not %s the files on %s\n",
                    ret.len ? "return" : "remove", hs->name);
        util_buf_fini(&remote);
        util_buf_fini(&sh);
        util_buf_fini(&ret);
        util_buf_fini(&gone);
    }
}

/* ---------------------------------------------------------------- run */

static int remote_main(void *ctx, launch_t *l, const char *endpoint)
{
    remote_t *x = ctx;
    x->l = l;
    banyan_client_options_t co = {0};
    banyan_error_t err = {{0}};
    x->c = banyan_client_connect(endpoint, &co, &err);
    if (!x->c)
        return cli_fail("run", BANYAN_EXIT_INTERNAL, "%s", err.text);
    int code = BANYAN_EXIT_FAILED;
    json_t *rows = json_array();
    const char **vals = NULL;
    banyan_source_t *src = NULL;
    size_t nsrc = 0;
    util_buf_t text = UTIL_BUF_INIT;
    uint8_t hash[BANYAN_BLOB_HASH_LEN];
    bool packed = false;
    if (!rows || job_text(x, &text) < 0 || pack_files(x, hash, &packed) < 0
        || (x->r->nbase && send_basefiles(x, hash) < 0))
        goto out;
    const uint8_t *blob = packed && x->r->ntransfer ? hash : NULL;
    if (!x->r->nonall && !(src = make_sources(x, &vals, &nsrc)))
        goto out;
    if (x->r->onall || x->r->nonall) {
        /* One job per host, pinned to it, in the logins' order. */
        for (size_t h = 0; h < x->nhosts; h++)
            if (submit(x, text.data, src, nsrc, x->hosts[h].pin, blob,
                       &x->hosts[h].job) < 0)
                goto out;
        for (size_t h = 0; h < x->nhosts; h++) {
            banyan_job_state_t st;
            if (wait_job(x, x->hosts[h].job, &st) < 0 ||
                fetch_results(x, x->hosts[h].job, 0, rows) < 0)
                goto out;
        }
        print_tasks(x, rows);
    } else {
        uint32_t job;
        if (submit(x, text.data, src, nsrc, NULL, blob, &job) < 0 ||
            stream_job(x, job, rows) < 0)
            goto out;
    }
    if (x->o->joblog_path)
        write_joblog(x, rows);
    if (x->r->nret || x->r->cleanup)
        return_files(x, rows);
    code = x->failed > 100 ? 101 : (int)x->failed;
out:
    if (cli_launch_signal(l))
        code = 128 + cli_launch_signal(l);
    util_buf_fini(&text);
    free(src);
    free(vals);
    json_decref(rows);
    banyan_client_close(x->c);
    x->c = NULL;
    return code;
}

/* Options that cannot go together with -S: 0, or BANYAN_EXIT_USAGE after
 * saying which. */
static int remote_check(const run_remote_opts_t *r, const run_options_t *o)
{
    if (r->onall && r->nonall)
        return cli_usage_error("run", "--onall and --nonall exclude each "
                               "other");
    if (r->nsshlogin == 0 && r->nslf == 0)
        return cli_usage_error("run", "--%s needs hosts (-S or --slf)",
                               r->onall ? "onall" : "nonall");
    /* What the cluster path cannot do yet: said, never ignored. */
    const char *no = o->results_dir              ? "--results"
                     : o->resume != RUN_RESUME_NONE ? "--resume"
                     : o->halt != RUN_HALT_NEVER  ? "--halt"
                     : o->req.ncustom > 0         ? "--resource"
                                                  : NULL;
    if (no)
        return cli_usage_error("run", "%s is not supported with -S "
                               "(docs/remote.md)", no);
    return 0;
}

int cmd_run_remote(run_remote_opts_t *r, const run_options_t *o,
                   char **argv, int first, int sep)
{
    /* A usage error is 255, banyan run's (GNU's) error status: 2 would
     * read as "two tasks failed". */
    if (remote_check(r, o) != 0)
        return RUN_EXIT_ERROR;
    remote_t x = {.r = r, .o = o, .argv = argv, .first = first,
                  .sep = sep, .ntasks = tmpl_inputs_count(o->inputs)};
    int code = 0;
    cli_launch_worker_t *w = NULL;
    for (size_t i = 0; i < r->nsshlogin && code == 0; i++)
        code = add_logins(&x.logins, &x.nlogins, &x.logins_cap,
                          r->sshlogin[i]);
    for (size_t i = 0; i < r->nslf && code == 0; i++)
        code = read_slf(&x.logins, &x.nlogins, &x.logins_cap, r->slf[i]);
    if (code == 0 && x.nlogins == 0)
        code = cli_usage_error("run", "no sshlogin in --slf");
    if (code != 0) {
        code = RUN_EXIT_ERROR;
        goto out;
    }
    code = BANYAN_EXIT_INTERNAL;
    if (make_hosts(&x) < 0 ||
        !(w = calloc(x.nhosts, sizeof(*w)))) {
        fprintf(stderr, "banyan run: out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < x.nhosts; i++) {
        long slots = 0;
        for (size_t k = 0; k < x.nlogins; k++) {
            long s;
            if (!strcmp(login_host(x.logins[k], &s), x.hosts[i].name) &&
                s > 0)
                slots = s;
        }
        w[i] = (cli_launch_worker_t){
            .ssh = x.hosts[i].ssh, .name = x.hosts[i].name,
            .workdir = x.hosts[i].ssh ? r->workdir : NULL,
            .slots = slots > 0 ? slots : (long)o->jobs,
            .resource = x.hosts[i].resource,
        };
    }
    cli_launch_spec_t spec = {.cmd = "run", .workers = w,
                              .nworkers = x.nhosts, .run = remote_main,
                              .ctx = &x};
    code = cli_launch_run(&spec);
out:
    free(w);
    free_hosts(&x);
    return code;
}
