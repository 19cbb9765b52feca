/* SPDX-License-Identifier: MIT */
/* exec_spawn.c - starting one task process with posix_spawnp().
 *
 * glibc implements posix_spawn with clone(CLONE_VM | CLONE_VFORK): no page
 * tables are copied, and the parent resumes only once the child has exec'd or
 * failed, with the failure's errno as the return value.  That gives us two
 * things cheaply: the child is already in its own process group when we get
 * its pid (so a kill(-pid) can never miss it), and a missing program is known
 * synchronously (ENOENT/EACCES), without a pipe of our own.  glibc also reaps
 * a child that failed to exec, so no zombie is left behind for SIGCHLD.
 *
 * Everything that can be prepared once is: the spawn attributes (own group,
 * empty signal mask, every signal back to its default) live in the executor,
 * /dev/null is opened once and dup2'ed onto fd 0, and the environment array
 * is a scratch buffer reused across spawns.  Whatever the parent can check
 * itself it checks before spawning (the stdin file, the working directory),
 * because a failing file action in the child reports the same errno as a
 * missing program and the two would be indistinguishable.
 *
 * A program named without a '/' is looked up on banyan's PATH once and the
 * file found is cached: posix_spawnp() would try every PATH entry before it
 * in the child, one failed execve() each, while the parent waits (with
 * pyenv, cargo and CUDA on PATH that is nine failures per task here).  A
 * cached file that has gone away falls back to posix_spawnp().
 *
 * Every task's environment ends with its tag, EXEC_TAG_VAR=P.S.N (this
 * process's pid and start time, the task's number here), which a job's
 * own entries cannot override: it is how an orphan that left the task's
 * group and lost its parent is still known as the task's (exec_rss.c), and
 * how the guardian finds it when this process is gone (exec_guard.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec_private.h"

extern char **environ;

int exec__spawn_attr_init(exec_t *ex)
{
    sigset_t none, all;
    sigemptyset(&none);
    /* Every signal back to SIG_DFL: banyan ignores SIGPIPE and catches
     * SIGINT/SIGTERM/SIGHUP/SIGCHLD, and a task must see none of that.
     * glibc's child walks all signals either way, so a full set costs no
     * extra system calls. */
    sigfillset(&all);
    int rc = posix_spawnattr_init(&ex->attr);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    short flags = POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                  POSIX_SPAWN_SETSIGDEF;
    if ((rc = posix_spawnattr_setflags(&ex->attr, flags)) != 0 ||
        (rc = posix_spawnattr_setpgroup(&ex->attr, 0)) != 0 ||
        (rc = posix_spawnattr_setsigmask(&ex->attr, &none)) != 0 ||
        (rc = posix_spawnattr_setsigdefault(&ex->attr, &all)) != 0) {
        posix_spawnattr_destroy(&ex->attr);
        errno = rc;
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- PATH */

enum { PATHS_MAX = 256 };

void exec__paths_free(exec_t *ex)
{
    for (size_t i = 0; i < ex->npaths; i++) {
        free(ex->paths[i].name);
        free(ex->paths[i].file);
    }
    free(ex->paths);
    ex->paths = NULL;
    ex->npaths = 0;
}

/* The executable file that execvp() would run for name, or NULL. */
static char *path_search(const char *name)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        return NULL;
    size_t nlen = strlen(name);
    for (const char *p = path; *p;) {
        const char *end = strchr(p, ':');
        size_t dlen = end ? (size_t)(end - p) : strlen(p);
        /* Only absolute entries: a relative one depends on the cwd. */
        if (dlen > 0 && p[0] == '/') {
            char *file = malloc(dlen + nlen + 2);
            if (!file)
                return NULL;
            memcpy(file, p, dlen);
            file[dlen] = '/';
            memcpy(file + dlen + 1, name, nlen + 1);
            if (access(file, X_OK) == 0) {
                struct stat sb;
                if (stat(file, &sb) == 0 && S_ISREG(sb.st_mode))
                    return file;
            }
            free(file);
        } else if (dlen == 0 || p[0] != '/') {
            return NULL; /* leave relative PATHs to posix_spawnp */
        }
        p += dlen + (end ? 1 : 0);
    }
    return NULL;
}

/* The cached file for prog, looking it up on a miss; NULL when prog has a
 * '/' or is not found (posix_spawnp then reports it). */
static const char *path_lookup(exec_t *ex, const char *prog)
{
    if (strchr(prog, '/'))
        return NULL;
    for (size_t i = 0; i < ex->npaths; i++) {
        if (strcmp(ex->paths[i].name, prog) == 0)
            return ex->paths[i].file;
    }
    if (ex->npaths >= PATHS_MAX)
        return NULL;
    char *file = path_search(prog);
    if (!file)
        return NULL;
    struct exec_path *p = realloc(ex->paths,
                                  (ex->npaths + 1) * sizeof(*ex->paths));
    char *name = strdup(prog);
    if (!p || !name) {
        if (p)
            ex->paths = p;
        free(name);
        free(file);
        return NULL;
    }
    ex->paths = p;
    ex->paths[ex->npaths].name = name;
    ex->paths[ex->npaths].file = file;
    return ex->paths[ex->npaths++].file;
}

static void path_forget(exec_t *ex, const char *prog)
{
    for (size_t i = 0; i < ex->npaths; i++) {
        if (strcmp(ex->paths[i].name, prog) == 0) {
            free(ex->paths[i].name);
            free(ex->paths[i].file);
            ex->paths[i] = ex->paths[--ex->npaths];
            return;
        }
    }
}

/* ------------------------------------------------------------------ tag */

/* This process's start time in clock ticks after boot (field 22 of
 * /proc/self/stat), 0 when unknown. */
static unsigned long long self_start_time(void)
{
    char *text = NULL;
    size_t len = 0;
    unsigned long long v = 0;
    if (util_read_file("/proc/self/stat", &text, &len) < 0)
        return 0;
    char *p = strrchr(text, ')');
    for (int field = 3; p && field <= 22; field++) {
        p = strchr(p + 1, ' ');
        if (p && field == 22)
            v = strtoull(p + 1, NULL, 10);
    }
    free(text);
    return v;
}

const char *exec__tag_prefix(void)
{
    static pid_t pid;
    static char prefix[EXEC_TAG_MAX];
    pid_t self = getpid();
    if (pid != self) { /* the first call, or a fork since */
        pid = self;
        snprintf(prefix, sizeof prefix, EXEC_TAG_VAR "=%ld.%llu.",
                 (long)self, self_start_time());
    }
    return prefix;
}

/* --------------------------------------------------------- environment */

/* Length of the name part of "NAME=VALUE" (the whole string if no '='). */
static size_t name_len(const char *kv)
{
    const char *eq = strchr(kv, '=');
    return eq ? (size_t)(eq - kv) : strlen(kv);
}

static int envp_reserve(exec_t *ex, size_t n)
{
    if (n <= ex->envp_cap)
        return 0;
    size_t cap = ex->envp_cap ? ex->envp_cap : 64;
    while (cap < n)
        cap *= 2;
    char **p = realloc(ex->envp, cap * sizeof *p);
    if (!p) {
        errno = ENOMEM;
        return -1;
    }
    ex->envp = p;
    ex->envp_cap = cap;
    return 0;
}

enum { ENV_MAX_OVERRIDES = 256 };

/* The executor's environ with spec->env (may be NULL) and then tag laid
 * over it: an entry "K=V" replaces K, an entry "K" without '=' removes K,
 * and the last of several entries for one name wins.  The overrides are usually a handful
 * (CUDA_VISIBLE_DEVICES, BANYAN_*), so each environ entry is compared with
 * them by length and first byte before memcmp; that is a few dozen integer
 * comparisons per spawn.  Returns borrowed ex->envp, or NULL with errno. */
static char **build_env(exec_t *ex, const char *const *spec_env,
                        const char *tag)
{
    size_t m = 0, n = 0;
    const char *env[ENV_MAX_OVERRIDES + 1];
    for (; spec_env && spec_env[m]; m++) {
        if (m == ENV_MAX_OVERRIDES) {
            errno = E2BIG;
            return NULL;
        }
        env[m] = spec_env[m];
    }
    env[m++] = tag;
    while (environ[n])
        n++;
    if (envp_reserve(ex, n + m + 1) < 0)
        return NULL;
    size_t len[ENV_MAX_OVERRIDES + 1];
    bool keep[ENV_MAX_OVERRIDES + 1];
    for (size_t j = 0; j < m; j++) {
        len[j] = name_len(env[j]);
        keep[j] = env[j][len[j]] == '=';
    }
    /* An earlier override for the same name loses to a later one. */
    for (size_t j = 0; j < m; j++)
        for (size_t k = j + 1; k < m && keep[j]; k++)
            if (len[k] == len[j] && memcmp(env[j], env[k], len[j]) == 0)
                keep[j] = false;
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        const char *e = environ[i];
        size_t el = 0;
        bool replaced = false;
        for (size_t j = 0; j < m && !replaced; j++) {
            if (env[j][0] != e[0])
                continue;
            if (el == 0)
                el = name_len(e);
            replaced = len[j] == el && memcmp(env[j], e, el) == 0;
        }
        if (!replaced)
            ex->envp[out++] = environ[i];
    }
    for (size_t j = 0; j < m; j++)
        if (keep[j])
            ex->envp[out++] = (char *)env[j];
    ex->envp[out] = NULL;
    return ex->envp;
}

/* ---------------------------------------------------------------- spawn */

/* Complete t as a task that never ran: exit_code, and a message in the
 * style of a shell on its stderr (the captured stream, or banyan's own stderr
 * when the task inherits it, since the task's own message would go there). */
static void spawn_failed(exec_task_t *t, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void spawn_failed(exec_task_t *t, int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (len < 0)
        len = 0;
    if ((size_t)len >= sizeof msg)
        len = sizeof msg - 1;
    if (t->capture)
        exec__stream_append(&t->pipes[1].stream, msg, (size_t)len);
    else if (write(STDERR_FILENO, msg, (size_t)len) < 0) {
        /* nowhere to report that */
    }
    t->pid = 0;
    t->res.exit_code = code;
    t->res.spawn_failed = true;
    t->res.end_time = t->res.start_time;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Two O_CLOEXEC pipes.  The read ends become nonblocking in uv_poll_init()
 * (libuv does that itself), while the write ends stay blocking for the
 * child: O_NONBLOCK belongs to the open file, which dup2 shares. */
static int open_pipes(int rd[2], int wr[2])
{
    for (int i = 0; i < 2; i++) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
            return -1;
        rd[i] = p[0];
        wr[i] = p[1];
    }
    return 0;
}

int exec__spawn(exec_t *ex, exec_task_t *t, const exec_spec_t *spec,
                banyan_error_t *error)
{
    int rd[2] = {-1, -1}, wr[2] = {-1, -1};
    int in_fd = -1, dir_fd = -1, rc;
    bool fa_init = false;
    posix_spawn_file_actions_t fa;
    const char *prog = spec->argv[0];

    t->res.start_time = util_wall_time();
    t->start_ms = util_mono_ms();
    t->peak_grew_ms = t->start_ms;

    if (spec->stdin_path &&
        (in_fd = open(spec->stdin_path, O_RDONLY | O_CLOEXEC)) < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOMEM)
            goto sys_error;
        spawn_failed(t, 1, "banyan: %s: %s\n", spec->stdin_path,
                     strerror(errno));
        return 0;
    }
    if (spec->cwd && (dir_fd = open(spec->cwd, O_RDONLY | O_DIRECTORY |
                                                   O_CLOEXEC)) < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOMEM)
            goto sys_error;
        spawn_failed(t, 1, "banyan: cannot change directory to %s: %s\n",
                     spec->cwd, strerror(errno));
        close_fd(&in_fd);
        return 0;
    }
    if (t->capture && open_pipes(rd, wr) < 0)
        goto sys_error;
    if ((rc = posix_spawn_file_actions_init(&fa)) != 0)
        goto spawn_error;
    fa_init = true;
    if ((rc = posix_spawn_file_actions_adddup2(
             &fa, in_fd >= 0 ? in_fd : ex->devnull, 0)) != 0 ||
        (t->capture &&
         ((rc = posix_spawn_file_actions_adddup2(&fa, wr[0], 1)) != 0 ||
          (rc = posix_spawn_file_actions_adddup2(&fa, wr[1], 2)) != 0)) ||
        (dir_fd >= 0 &&
         (rc = posix_spawn_file_actions_addfchdir_np(&fa, dir_fd)) != 0))
        goto spawn_error;

    static uint32_t next_seq; /* for the whole process */
    if (++next_seq == 0)
        next_seq = 1;
    t->seq = next_seq;
    t->in_cgroup = exec__cgroup_make(&ex->cg, t->seq);
    char tag[EXEC_TAG_MAX + 16];
    snprintf(tag, sizeof tag, "%s%lu", exec__tag_prefix(),
             (unsigned long)t->seq);
    char **envp = build_env(ex, spec->env, tag);
    if (!envp)
        goto sys_error;
    pid_t pid;
    const char *file = path_lookup(ex, prog);
    rc = file ? posix_spawn(&pid, file, &fa, &ex->attr,
                            (char *const *)spec->argv, envp)
              : ENOENT;
    if (rc == ENOENT || rc == EACCES) {
        if (file)
            path_forget(ex, prog); /* gone since it was found */
        rc = posix_spawnp(&pid, prog, &fa, &ex->attr,
                          (char *const *)spec->argv, envp);
    }
    if (rc == EAGAIN || rc == ENOMEM || rc == EMFILE || rc == ENFILE)
        goto spawn_error;
    posix_spawn_file_actions_destroy(&fa);
    close_fd(&in_fd);
    close_fd(&dir_fd);
    close_fd(&wr[0]);
    close_fd(&wr[1]);
    if (rc != 0) {
        close_fd(&rd[0]);
        close_fd(&rd[1]);
        if (rc == ENOENT && !strchr(prog, '/'))
            spawn_failed(t, 127, "banyan: %s: command not found\n", prog);
        else
            spawn_failed(t, rc == ENOENT ? 127 : 126, "banyan: %s: %s\n",
                         prog, strerror(rc));
        return 0;
    }
    t->pid = pid;
    t->res.pid = pid;
    if (t->capture) {
        t->pipes[0].fd = rd[0];
        t->pipes[1].fd = rd[1];
    }
    return 0;

spawn_error:
    errno = rc;
sys_error:
    rc = errno;
    if (fa_init)
        posix_spawn_file_actions_destroy(&fa);
    close_fd(&in_fd);
    close_fd(&dir_fd);
    for (int i = 0; i < 2; i++) {
        close_fd(&rd[i]);
        close_fd(&wr[i]);
    }
    errno = rc;
    return errprintf(error, "cannot start %s: %s", prog, strerror(rc));
}
