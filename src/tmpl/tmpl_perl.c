/* SPDX-License-Identifier: MIT */
/* tmpl_perl.c - the perl co-process that evaluates {= perl =}, --rpl and
 * the --plus strings banyan does not compute itself.
 *
 * One perl child per template (so one per run), started by tmpl_parse()
 * only when the template has perl to run, and ended by tmpl_destroy().  It
 * talks over a socketpair given to it as fd 3, so that the user's code may
 * print to stdout and stderr, which are banyan's, as in GNU Parallel.  The
 * socket (not a pipe) lets banyan write with MSG_NOSIGNAL: a perl that died
 * gives EIO, never a SIGPIPE.
 *
 * Each request is answered before the next is sent, so both sides only
 * ever block on reading: expansion is synchronous (run.c's prepare() and
 * dry_run()), one round trip per job whatever its number of expressions.
 */
#include "tmpl_private.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tmpl_perl_pl.h"

struct tmpl_perl {
    pid_t pid;
    int fd;
    char buf[4096];     /* read buffer */
    size_t off, len;
    util_buf_t out;     /* the request being built */
};

tmpl_perl_t *tmpl__perl_start(banyan_error_t *error)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        errprintf(error, "cannot start perl: %s", strerror(errno));
        return NULL;
    }
    tmpl_perl_t *p = calloc(1, sizeof(*p));
    if (!p) {
        close(sv[0]);
        close(sv[1]);
        errno = ENOMEM;
        errprintf(error, "out of memory");
        return NULL;
    }
    pid_t pid = fork();
    if (pid < 0) {
        int saved = errno;
        close(sv[0]);
        close(sv[1]);
        free(p);
        errno = saved;
        errprintf(error, "cannot start perl: %s", strerror(errno));
        return NULL;
    }
    if (pid == 0) {
        /* the child: fd 3 is its end; signals as a fresh process has them */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        static const int reset[] = {SIGPIPE, SIGINT, SIGTERM, SIGHUP,
                                    SIGCHLD, SIGQUIT};
        for (size_t i = 0; i < sizeof(reset) / sizeof(reset[0]); i++)
            signal(reset[i], SIG_DFL);
        if (dup2(sv[1], 3) < 0)
            _exit(127);
        execlp("perl", "perl", "-e", tmpl_perl_program, (char *)NULL);
        fprintf(stderr, "banyan: cannot run perl: %s\n", strerror(errno));
        _exit(127);
    }
    close(sv[1]);
    p->pid = pid;
    p->fd = sv[0];
    return p;
}

void tmpl__perl_stop(tmpl_perl_t *p)
{
    if (!p)
        return;
    int saved = errno;
    close(p->fd);
    kill(p->pid, SIGKILL);
    while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    util_buf_fini(&p->out);
    free(p);
    errno = saved;
}

/* ------------------------------------------------------------ transport */

static int send_request(tmpl_perl_t *p)
{
    const char *s = p->out.data;
    size_t n = p->out.len;
    while (n > 0) {
        ssize_t w = send(p->fd, s, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            errno = EIO;
            return -1;
        }
        s += w;
        n -= (size_t)w;
    }
    p->out.len = 0;
    return 0;
}

static int fill(tmpl_perl_t *p)
{
    if (p->off < p->len)
        return 0;
    for (;;) {
        ssize_t r = read(p->fd, p->buf, sizeof(p->buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            errno = EIO;
            return -1;
        }
        p->off = 0;
        p->len = (size_t)r;
        return 0;
    }
}

/* Read exactly n bytes into dst. */
static int read_bytes(tmpl_perl_t *p, char *dst, size_t n)
{
    while (n > 0) {
        if (fill(p) < 0)
            return -1;
        size_t k = p->len - p->off;
        if (k > n)
            k = n;
        memcpy(dst, p->buf + p->off, k);
        p->off += k;
        dst += k;
        n -= k;
    }
    return 0;
}

/* Read a line (without its "\n") into line[cap]: short protocol lines. */
static int read_line(tmpl_perl_t *p, char *line, size_t cap)
{
    size_t n = 0;
    for (;;) {
        if (fill(p) < 0)
            return -1;
        char c = p->buf[p->off++];
        if (c == '\n')
            break;
        if (n + 1 >= cap) {
            errno = EIO;
            return -1;
        }
        line[n++] = c;
    }
    line[n] = '\0';
    return 0;
}

/* Read "LEN\n" and LEN bytes: a malloc'd NUL-ended string. */
static char *read_str(tmpl_perl_t *p, size_t *len_out)
{
    char line[32];
    if (read_line(p, line, sizeof(line)) < 0)
        return NULL;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(line, &end, 10);
    if (errno || *end || end == line || n > (1ULL << 31)) {
        errno = EIO;
        return NULL;
    }
    char *s = malloc((size_t)n + 1);
    if (!s)
        return NULL;
    if (read_bytes(p, s, (size_t)n) < 0) {
        free(s);
        return NULL;
    }
    s[n] = '\0';
    if (len_out)
        *len_out = (size_t)n;
    return s;
}

static int put_str(tmpl_perl_t *p, const char *s)
{
    size_t n = strlen(s);
    if (util_buf_printf(&p->out, "%zu\n", n) < 0 ||
        util_buf_append(&p->out, s, n) < 0)
        return -1;
    return 0;
}

/* ------------------------------------------------------------- requests */

int tmpl__perl_compile(tmpl_perl_t *p, const char *code,
                       banyan_error_t *error)
{
    char line[32];
    if (util_buf_printf(&p->out, "C\n") < 0 || put_str(p, code) < 0 ||
        send_request(p) < 0 || read_line(p, line, sizeof(line)) < 0)
        return errprintf(error, "perl: %s", strerror(errno));
    if (line[0] == 'O' && line[1] == ' ')
        return atoi(line + 2);
    char *msg = read_str(p, NULL);
    if (!msg)
        return errprintf(error, "perl: %s", strerror(errno));
    /* GNU prints perl's message as it is, ending with its own newline */
    size_t n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n')
        msg[--n] = '\0';
    errno = EINVAL;
    errprintf(error, "%s", msg);
    free(msg);
    errno = EINVAL;
    return -1;
}

int tmpl__perl_markup(tmpl_perl_t *p, const char *const *words, size_t n,
                      const char *const *keys, const char *const *vals,
                      size_t nkeys, char ***out, banyan_error_t *error)
{
    if (util_buf_printf(&p->out, "M %zu %zu\n", n, nkeys) < 0 ||
        put_str(p, "{=") < 0 || put_str(p, "=}") < 0)
        goto fail;
    for (size_t i = 0; i < n; i++)
        if (put_str(p, words[i]) < 0)
            goto fail;
    for (size_t i = 0; i < nkeys; i++)
        if (put_str(p, keys[i]) < 0 || put_str(p, vals[i]) < 0)
            goto fail;
    if (send_request(p) < 0)
        goto fail;
    char **w = calloc(n ? n : 1, sizeof(*w));
    if (!w)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        if (!(w[i] = read_str(p, NULL))) {
            int saved = errno;
            for (size_t k = 0; k < i; k++)
                free(w[k]);
            free(w);
            errno = saved;
            goto fail;
        }
    }
    *out = w;
    return 0;
fail:
    return errprintf(error, "perl: %s", strerror(errno));
}

int tmpl__perl_eval(tmpl_perl_t *p, const tmpl_perl_job_t *job,
                    const tmpl_perl_call_t *calls, size_t ncalls,
                    char **results, size_t *lens, bool *uq, bool *skip)
{
    size_t got = 0;
    if (util_buf_printf(&p->out, "J %llu %u %llu %zu %zu\n",
                        (unsigned long long)job->seq, (unsigned)job->slot,
                        (unsigned long long)job->total, job->nargs,
                        ncalls) < 0)
        goto fail;
    for (size_t i = 0; i < job->nargs; i++)
        if (put_str(p, job->args[i]) < 0)
            goto fail;
    for (size_t i = 0; i < ncalls; i++)
        if (util_buf_printf(&p->out, "%d %zu\n", calls[i].id,
                            calls[i].arg) < 0)
            goto fail;
    if (send_request(p) < 0)
        goto fail;
    for (; got < ncalls; got++) {
        char flags[4];
        if (read_bytes(p, flags, 2) < 0)
            goto fail;
        uq[got] = flags[0] == '1';
        if (!(results[got] = read_str(p, &lens[got])))
            goto fail;
    }
    char line[16];
    if (read_line(p, line, sizeof(line)) < 0)
        goto fail;
    *skip = strcmp(line, "S 1") == 0;
    return 0;
fail:;
    int saved = errno == ENOMEM ? ENOMEM : EIO;
    for (size_t i = 0; i < got; i++)
        free(results[i]);
    p->out.len = 0;
    errno = saved;
    return -1;
}
