/* SPDX-License-Identifier: MIT */
/* run_pipe.c - --pipe, --pipepart, --roundrobin, --cat, --fifo, --tee:
 * input cut into blocks where GNU Parallel cuts it, one task per block.
 *
 * The cutting follows GNU Parallel 20221122's spreadstdin() step by step,
 * since where a block ends depends on how its buffer was filled: each
 * round tops the buffer up to the next multiple of --block (reading until
 * that many bytes came or the input ended), then passes on what the mode
 * allows (the buffer up to its last record boundary; or every run of -N
 * records; or whole groups of -L lines) and keeps the rest.  A round that
 * passed nothing grows --block by 1.3 (a record longer than the block).
 * What is left at the end of the input is the last block.  A record
 * boundary is where --recend is followed by --recstart.
 *
 * Threads.  The reader runs on a thread of its own (it blocks in read()
 * and in writing block files); it appends each block to blocks[] under mu
 * and wakes the loop through an async handle, whose pump calls
 * run__pipe_refill() to queue the new blocks as tasks.  It stops cutting
 * while `alive` blocks (cut and not yet released) reach 2 * jobs + 2, so
 * at most that many block files exist at once.  run__pipe_destroy() sets
 * stop, wakes the reader out of poll() or its wait, joins it and removes
 * every file still there: no block file outlives banyan run, whatever
 * ended it (except SIGKILL).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run_pipe.h"
#include "util/log.h"
#include "util/util.h"

enum {
    BLOCK_MAX = 0x7fffffff,       /* GNU's 2G-1 limit for --pipe */
    DEFAULT_BLOCK = 1 << 20,      /* --block 1M */
    SCAN_BYTES = 131072,          /* --pipepart: reads at a split point */
    ERROR_MAX = 512,
};

typedef struct feed feed_t;

typedef struct block {
    feed_t *feed;      /* the pipe that is its task's stdin, NULL if none */
    char *path;        /* its file (header + data), NULL once removed */
    char *fifo;        /* --fifo: the named pipe, NULL if none */
    char **argv;       /* --fifo: the wrapped command (one malloc) */
    const char *val;   /* {} with --cat / --fifo */
    uint64_t off, len; /* --pipepart: the range in the file */
    char *error;       /* the block could not be made: why */
    /* --roundrobin: this task's blocks still to send (files), under mu. */
    char **q;
    size_t qn, qcap, qhead;
    bool dead;         /* its task ended: it takes no more blocks */
} block_t;

typedef struct buf {
    char *data;
    size_t len, cap;
} buf_t;

/* A task's stdin: a pipe that the loop fills from the block's file (or
 * the --pipepart range, after the header).  The task opens it through
 * path, /proc/self/fd/<r>, when it is spawned, right after prepare(): the
 * first callback comes later, and closes r so that the writer sees EPIPE
 * once the task is gone. */
struct feed {
    uv_poll_t poll;
    int r, w;             /* the pipe's ends, -1 once closed */
    int src;              /* sent from; closed with the feed if own_src */
    bool own_src;
    feed_t **owner;       /* the block's pointer to it, NULL once closed */
    block_t *rr;          /* --roundrobin: sends rr->q's files in turn */
    bool waiting;         /* --roundrobin: polling stopped, queue empty */
    run_pipe_t *p;
    off_t off;            /* next byte of src */
    uint64_t left;        /* bytes of src still to send */
    const char *head;     /* --pipepart: the header, sent first */
    size_t head_left;
    char path[48];
};

struct run_pipe {
    run_pipe_options_t o;
    uint32_t jobs;
    uv_loop_t *loop;
    bool use_feed;                /* /proc is there: stdin is a pipe */
    const char *tmpdir;
    uv_async_t wake;              /* reader -> loop */

    /* Record separators, unescaped (\n, \t, \0 ...) unless --regexp. */
    char *recstart, *recend, *endstart; /* endstart = recend + recstart */
    size_t lstart, lend, lendstart;
    bool have_re;
    regex_t re;                   /* --regexp: (recend)(recstart) */
    regex_t re_start, re_end;     /* --regexp --rrs: ^recstart, recend$ */
    bool have_re_rrs;
    regex_t re_header;            /* --header REGEXP */
    bool have_re_header;

    /* The reader's (its thread only once started). */
    buf_t in;
    char *header;
    size_t header_len;
    double block;                 /* current --block in bytes */
    bool garbage_read;
    block_t **rr_tasks;           /* --roundrobin: the tasks, by slot */
    uint32_t rr_count;
    uint32_t rr_next;

    pthread_t thread;
    bool thread_started;
    int stop_fds[2];              /* destroy -> the reader's poll */
    int part_fd;                  /* --pipepart file, -1 if none */
    char *tee_path;               /* --tee: all of stdin */

    pthread_mutex_t mu;           /* guards the fields below */
    pthread_cond_t cv;
    block_t **blocks;             /* by task index */
    size_t nblocks, capblocks;
    uint64_t alive;               /* cut and not released */
    bool reader_done;
    bool stop;

    uint64_t queued;              /* loop: blocks given to the core */

    /* --group-by (the reader's): GNU inserts a random 20-character record
     * start wherever the column's value changes (and before the first
     * line) and cuts with --rrs; so does this, as the input is read. */
    bool gb;
    long gb_col;                  /* 0-based; -1 until the header named it */
    buf_t gb_raw;                 /* read, not yet a whole line */
    buf_t gb_out;                 /* transformed, not yet in `in` */
    size_t gb_out_off;
    char *gb_last;                /* the previous line's value */
    size_t gb_last_len;
    bool gb_started, gb_eof, gb_named;
};

/* ------------------------------------------------------------- options */

bool run_pipe_enabled(const run_pipe_options_t *po)
{
    return po->pipe || po->part_path || po->cat || po->fifo || po->tee ||
           po->roundrobin || po->group_by;
}

int run_pipe_parse_size(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || isnan(v) || isinf(v))
        goto bad;
    double mult = 1;
    if (*end) {
        static const char units[] = "kmgtpezyx";
        const char *u = strchr(units, (char)(*end | 0x20));
        if (!u)
            goto bad;
        int power = (int)(u - units) + 1;
        bool binary = *end >= 'A' && *end <= 'Z';
        end++;
        if (*end == 'i' || *end == 'I') {
            binary = true;
            end++;
        }
        for (int i = 0; i < power; i++)
            mult *= binary ? 1024.0 : 1000.0;
        if (*end)
            goto bad;
    }
    *out = v * mult;
    return 0;
bad:
    errno = EINVAL;
    return -1;
}

int run_pipe_check(const run_pipe_options_t *po, bool has_sources,
                   banyan_error_t *error)
{
    errno = EINVAL;
    if (po->fifo && po->cat)
        return errprintf(error, "--fifo cannot be combined with --cat.");
    if (po->part_path && po->max_lines)
        return errprintf(error, "--pipepart is incompatible with "
                         "--max-replace-args, --max-lines, and -L.");
    if (po->roundrobin && (po->cat || po->fifo))
        return errprintf(error, "--roundrobin cannot be combined with "
                         "--cat or --fifo in banyan");
    if (po->group_by && po->rrs)
        return errprintf(error, "--remove-rec-sep is not compatible with "
                         "--groupby");
    if (po->group_by && po->recstart)
        return errprintf(error, "--recstart is not compatible with "
                         "--groupby");
    if (po->group_by && po->recend && strcmp(po->recend, "\\n"))
        return errprintf(error, "--recend is not compatible with --groupby");
    if (po->group_by && (po->part_path || po->regexp))
        return errprintf(error, "--group-by with --pipepart or --regexp is "
                         "not supported by banyan");
    if (po->group_by && strspn(po->group_by, "0123456789") !=
                            strlen(po->group_by) &&
        strspn(po->group_by, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"
               "VWXYZ0123456789_") != strlen(po->group_by))
        return errprintf(error, "--group-by '%s': banyan takes a column "
                         "number or name (no Perl expression)",
                         po->group_by);
    double v;
    if (po->block && run_pipe_parse_size(po->block, &v) < 0)
        return errprintf(error, "invalid --block '%s' (expected a size: "
                         "1M, 10k, 1.5G, or -N with --pipepart)", po->block);
    if (po->block && (v == 0 || (v < 0 && !po->part_path)))
        return errprintf(error, "invalid --block '%s' (a negative size "
                         "needs --pipepart)", po->block);
    if (po->tee && !has_sources)
        return errprintf(error, "--tee needs input sources (::: or "
                         "::::): one task per value, each gets all of "
                         "stdin");
    if (!po->tee && has_sources)
        return errprintf(error, "--pipe takes its input from stdin (or "
                         "--pipepart's -a file): banyan does not pair "
                         "blocks with ::: values (only --tee takes them)");
    if (po->regexp) {
        regex_t re;
        const char *pats[] = {po->recstart, po->recend};
        for (int i = 0; i < 2; i++) {
            if (!pats[i])
                continue;
            if (regcomp(&re, pats[i], REG_EXTENDED) != 0)
                return errprintf(error, "invalid --regexp pattern '%s' "
                                 "(POSIX extended regular expression)",
                                 pats[i]);
            regfree(&re);
        }
    }
    errno = 0;
    return 0;
}

/* GNU's "printf strings" for a non-regexp --recstart/--recend: \0 \r \n \t
 * \' \" \\ are unescaped, everything else is kept. */
static char *unescape(const char *s, size_t *len)
{
    size_t n = strlen(s), j = 0;
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' && i + 1 < n && strchr("0rnt'\"\\", s[i + 1])) {
            char e = s[++i];
            c = e == '0' ? '\0' : e == 'r' ? '\r' : e == 'n' ? '\n'
                : e == 't' ? '\t' : e;
        }
        out[j++] = c;
    }
    out[j] = '\0';
    *len = j;
    return out;
}

/* A Perl-style pattern for POSIX regcomp: \n \t \r \d turned into what
 * ERE understands (glibc knows \w \s \b itself). */
static int perl_to_ere(util_buf_t *b, const char *s)
{
    for (; *s; s++) {
        int rc;
        if (*s == '\\' && s[1]) {
            s++;
            switch (*s) {
            case 'n': rc = util_buf_putc(b, '\n'); break;
            case 't': rc = util_buf_putc(b, '\t'); break;
            case 'r': rc = util_buf_putc(b, '\r'); break;
            case 'd': rc = util_buf_puts(b, "[0-9]"); break;
            default:
                rc = util_buf_putc(b, '\\') | util_buf_putc(b, *s);
            }
        } else {
            rc = util_buf_putc(b, *s);
        }
        if (rc < 0)
            return -1;
    }
    if (!b->data)
        return util_buf_puts(b, "");
    return 0;
}

static int compile(regex_t *re, const char *fmt, const char *a,
                   const char *bpat, banyan_error_t *error)
{
    util_buf_t ea = UTIL_BUF_INIT, eb = UTIL_BUF_INIT, pat = UTIL_BUF_INIT;
    int rc = -1;
    if (perl_to_ere(&ea, a) < 0 || perl_to_ere(&eb, bpat) < 0 ||
        util_buf_printf(&pat, fmt, ea.data, eb.data) < 0) {
        errprintf(error, "out of memory");
        goto out;
    }
    if (regcomp(re, pat.data, REG_EXTENDED | REG_NEWLINE) != 0) {
        errno = EINVAL;
        errprintf(error, "invalid --regexp pattern '%s'", pat.data);
        goto out;
    }
    rc = 0;
out:
    util_buf_fini(&ea);
    util_buf_fini(&eb);
    util_buf_fini(&pat);
    return rc;
}

/* ------------------------------------------------------------- searching */

/* Perl's index(): the first s at or after pos, or -1. */
static long find(const char *h, size_t hlen, const char *s, size_t slen,
                 size_t pos)
{
    if (pos > hlen)
        pos = hlen;
    if (slen == 0)
        return (long)pos;
    const char *m = memmem(h + pos, hlen - pos, s, slen);
    return m ? (long)(m - h) : -1;
}

/* Perl's rindex(): the last s starting at or before pos, or -1. */
static long rfind(const char *h, size_t hlen, const char *s, size_t slen,
                  long pos)
{
    if (pos < 0)
        pos = 0;
    if ((size_t)pos > hlen)
        pos = (long)hlen;
    if (slen == 0)
        return pos;
    if (slen > hlen)
        return -1;
    long i = pos > (long)(hlen - slen) ? (long)(hlen - slen) : pos;
    for (; i >= 0; i--) {
        const char *c = memrchr(h, s[0], (size_t)i + 1);
        if (!c)
            return -1;
        i = c - h;
        if (!memcmp(c, s, slen))
            return i;
    }
    return -1;
}

/* --regexp: the first (recend)(recstart) at or after from; *cut is where
 * recend ends.  The match's start, or -1. */
static long re_find(const run_pipe_t *p, const char *h, size_t hlen,
                    size_t from, size_t *cut)
{
    if (from > hlen)
        return -1;
    regmatch_t m[3];
    m[0].rm_so = (regoff_t)from;
    m[0].rm_eo = (regoff_t)hlen;
    int flags = REG_STARTEND;
    if (from > 0 && h[from - 1] != '\n')
        flags |= REG_NOTBOL;
    if (regexec(&p->re, h, 3, m, flags) != 0)
        return -1;
    *cut = (size_t)m[1].rm_eo;
    return m[0].rm_so;
}

/* ------------------------------------------------------------ block files */

static block_t *block_new(void)
{
    return calloc(1, sizeof(block_t));
}

static void feed_closed(uv_handle_t *h)
{
    free(h->data);
}

/* Stop feeding, detach from the block and close what is open; the memory
 * goes with the handle.  The handle is closed before the fds: libuv forgets
 * the fd number there, which a new pipe may reuse at once. */
static void feed_close(feed_t *f)
{
    if (!f)
        return;
    if (f->owner)
        *f->owner = NULL;
    uv_close((uv_handle_t *)&f->poll, feed_closed);
    if (f->r >= 0)
        close(f->r);
    if (f->w >= 0)
        close(f->w);
    if (f->own_src && f->src >= 0)
        close(f->src);
    f->r = f->w = f->src = -1;
}

static void block_free(block_t *b)
{
    if (!b)
        return;
    feed_close(b->feed);
    for (size_t i = b->qhead; i < b->qn; i++) {
        unlink(b->q[i]);
        free(b->q[i]);
    }
    free(b->q);
    if (b->path)
        unlink(b->path);
    if (b->fifo)
        unlink(b->fifo);
    free(b->path);
    free(b->fifo);
    free(b->argv);
    free(b->error);
    free(b);
}

/* A new empty file in TMPDIR: its fd (O_CLOEXEC), path in *path. */
static int temp_file(const run_pipe_t *p, char **path)
{
    if (asprintf(path, "%s/banyan-pipe-XXXXXX", p->tmpdir) < 0) {
        *path = NULL;
        errno = ENOMEM;
        return -1;
    }
    int fd = mkostemp(*path, O_CLOEXEC);
    if (fd < 0) {
        free(*path);
        *path = NULL;
    }
    return fd;
}

/* Remove GNU's --rrs separators from a block: every recend+recstart, a
 * leading recstart and a trailing recend. Works in place; new length. */
static size_t remove_rec_sep(const run_pipe_t *p, char *d, size_t len)
{
    if (p->have_re) {
        size_t w = 0, r = 0, cut;
        long at;
        while ((at = re_find(p, d, len, r, &cut)) >= 0) {
            regmatch_t m[1];
            /* the whole match ends where the (recstart) group ends */
            m[0].rm_so = (regoff_t)at;
            m[0].rm_eo = (regoff_t)len;
            regmatch_t mm[3];
            memcpy(mm, m, sizeof(m));
            int fl = REG_STARTEND |
                     (at > 0 && d[at - 1] != '\n' ? REG_NOTBOL : 0);
            if (regexec(&p->re, d, 3, mm, fl) != 0)
                break;
            size_t end = (size_t)mm[0].rm_eo;
            memmove(d + w, d + r, (size_t)at - r);
            w += (size_t)at - r;
            r = end > (size_t)at ? end : (size_t)at + 1;
            (void)cut;
        }
        memmove(d + w, d + r, len - r);
        len = w + len - r;
        d[len] = '\0';
        regmatch_t m[1] = {{.rm_so = 0, .rm_eo = (regoff_t)len}};
        if (p->have_re_rrs && regexec(&p->re_start, d, 1, m,
                                      REG_STARTEND) == 0 && m[0].rm_so == 0) {
            memmove(d, d + m[0].rm_eo, len - (size_t)m[0].rm_eo);
            len -= (size_t)m[0].rm_eo;
            d[len] = '\0';
        }
        m[0].rm_so = 0;
        m[0].rm_eo = (regoff_t)len;
        if (p->have_re_rrs && regexec(&p->re_end, d, 1, m,
                                      REG_STARTEND) == 0 &&
            (size_t)m[0].rm_eo == len)
            len = (size_t)m[0].rm_so;
        return len;
    }
    if (p->lendstart) {
        size_t w = 0, r = 0;
        long at;
        while ((at = find(d, len, p->endstart, p->lendstart, r)) >= 0) {
            memmove(d + w, d + r, (size_t)at - r);
            w += (size_t)at - r;
            r = (size_t)at + p->lendstart;
        }
        memmove(d + w, d + r, len - r);
        len = w + len - r;
    }
    if (p->lstart && len >= p->lstart && !memcmp(d, p->recstart, p->lstart)) {
        memmove(d, d + p->lstart, len - p->lstart);
        len -= p->lstart;
    }
    if (p->lend && len >= p->lend &&
        !memcmp(d + len - p->lend, p->recend, p->lend))
        len -= p->lend;
    return len;
}

/* Append a block (ownership taken) as the next task. */
static void publish(run_pipe_t *p, block_t *b)
{
    pthread_mutex_lock(&p->mu);
    if (util_grow((void **)&p->blocks, &p->capblocks, p->nblocks + 1,
                  sizeof(*p->blocks)) < 0) {
        pthread_mutex_unlock(&p->mu);
        util_log("banyan: --pipe: out of memory: a block is lost\n");
        block_free(b);
        return;
    }
    p->blocks[p->nblocks++] = b;
    p->alive++;
    pthread_mutex_unlock(&p->mu);
    uv_async_send(&p->wake);
}

static void publish_error(run_pipe_t *p, const char *what, int err);

/* --roundrobin: the first -j blocks start a task each; each later one
 * goes to the living task with the fewest blocks waiting, in turn (GNU
 * gives it to the next task that has written its last one).  b's file
 * moves into that task's queue. */
static void rr_pass(run_pipe_t *p, block_t *b)
{
    if (p->rr_count < p->jobs) {
        char *path = b->path;
        b->path = NULL;
        if (util_grow((void **)&b->q, &b->qcap, 1, sizeof(*b->q)) < 0) {
            b->path = path;
            block_free(b);
            publish_error(p, "cannot hold a block", ENOMEM);
            return;
        }
        b->q[b->qn++] = path;
        pthread_mutex_lock(&p->mu);
        p->rr_tasks[p->rr_count++] = b;
        pthread_mutex_unlock(&p->mu);
        publish(p, b);
        return;
    }
    pthread_mutex_lock(&p->mu);
    block_t *to = NULL;
    for (uint32_t i = 0; i < p->rr_count; i++) {
        block_t *t = p->rr_tasks[(p->rr_next + i) % p->rr_count];
        if (!t->dead && (!to || t->qn - t->qhead < to->qn - to->qhead))
            to = t;
    }
    p->rr_next = (p->rr_next + 1) % p->rr_count;
    if (to && util_grow((void **)&to->q, &to->qcap, to->qn + 1,
                        sizeof(*to->q)) == 0) {
        to->q[to->qn++] = b->path;
        b->path = NULL;
        p->alive++;
    }
    pthread_mutex_unlock(&p->mu);
    block_free(b); /* removes the file if no task took it */
    uv_async_send(&p->wake);
}

/* A block that could not be made: its task fails and says why. */
static void publish_error(run_pipe_t *p, const char *what, int err)
{
    block_t *b = block_new();
    if (!b || asprintf(&b->error, "--pipe: %s: %s", what,
                       strerror(err)) < 0) {
        util_log("banyan: --pipe: %s: %s\n", what, strerror(err));
        free(b);
        return;
    }
    publish(p, b);
}

/* Wait until fewer than the limit of blocks are alive; false when told
 * to stop. */
static bool wait_room(run_pipe_t *p)
{
    uint64_t limit = 2 * (uint64_t)p->jobs + 2;
    pthread_mutex_lock(&p->mu);
    while (!p->stop && p->alive >= limit)
        pthread_cond_wait(&p->cv, &p->mu);
    bool go = !p->stop;
    pthread_mutex_unlock(&p->mu);
    return go;
}

static int write_file(int fd, const char *a, size_t alen, const char *b,
                      size_t blen)
{
    if ((alen && util_write_all(fd, a, alen) < 0) ||
        (blen && util_write_all(fd, b, blen) < 0))
        return -1;
    return 0;
}

/* GNU's write_record_to_pipe(): the first endpos bytes of the buffer as a
 * block.  1 if a block was passed on, 0 if not (empty), -1 to stop. */
static int emit(run_pipe_t *p, size_t endpos)
{
    if (endpos == 0)
        return 0;
    char *data = p->in.data;
    size_t len = endpos;
    char *copy = NULL;
    if (p->o.rrs) {
        copy = malloc(endpos + 1);
        if (!copy) {
            publish_error(p, "cannot hold a block", ENOMEM);
            return -1;
        }
        memcpy(copy, data, endpos);
        copy[endpos] = '\0';
        data = copy;
        len = remove_rec_sep(p, copy, endpos);
    }
    int rc = 1;
    if (!wait_room(p)) {
        rc = -1;
        goto out;
    }
    /* --roundrobin: the header only starts a task's first block. */
    bool head = !p->o.roundrobin || p->rr_count < p->jobs;
    block_t *b = block_new();
    int fd = b ? temp_file(p, &b->path) : -1;
    if (fd < 0 || write_file(fd, p->header, head ? p->header_len : 0, data,
                             len) < 0) {
        int err = b ? errno : ENOMEM;
        if (fd >= 0)
            close(fd);
        block_free(b);
        publish_error(p, "cannot write a block file", err);
        rc = -1;
        goto out;
    }
    close(fd);
    if (p->o.roundrobin)
        rr_pass(p, b);
    else
        publish(p, b);
out:
    free(copy);
    return rc;
}

/* ------------------------------------------------------------ the reader */

/* The buffers stay NUL-terminated for regexec (which reads to the NUL
 * under ASan even with REG_STARTEND). */
static void shorten(buf_t *b, size_t n)
{
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

static int buf_add(buf_t *b, const char *d, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *nd = realloc(b->data, cap);
        if (!nd)
            return -1;
        b->data = nd;
        b->cap = cap;
    }
    memcpy(b->data + b->len, d, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

/* --group-by: one line (with its newline, as Perl's -a splits it) into
 * gb_out, after the record start if its value differs from the last. */
static int gb_line(run_pipe_t *p, const char *l, size_t n)
{
    const char *sep = p->o.colsep ? p->o.colsep : "\t";
    size_t slen = strlen(sep);
    if (p->gb_named && !p->gb_started) {
        /* The first line names the columns; it heads every block. */
        p->gb_started = true;
        p->header = malloc(n + 1);
        if (!p->header)
            return -1;
        memcpy(p->header, l, n);
        p->header[n] = '\0';
        p->header_len = n;
        size_t start = 0;
        long col = 0;
        for (size_t i = 0; i <= n; i++) {
            bool end = i == n || l[i] == '\n' ||
                       (slen && i + slen <= n && !memcmp(l + i, sep, slen));
            if (!end)
                continue;
            if (i - start == strlen(p->o.group_by) &&
                !memcmp(l + start, p->o.group_by, i - start)) {
                p->gb_col = col;
                break;
            }
            col++;
            start = i + slen;
            if (i == n || l[i] == '\n')
                break;
            i += slen - 1;
        }
        if (p->gb_col < 0) {
            errno = ENOENT;
            return -1;
        }
        return 0;
    }
    /* The field: from the gb_col-th separator to the next (or the end). */
    const char *f = l, *end = l + n;
    for (long c = 0; c < p->gb_col && f; c++) {
        const char *m = slen ? memmem(f, (size_t)(end - f), sep, slen) : NULL;
        f = m ? m + slen : NULL;
    }
    size_t flen = 0;
    if (f) {
        const char *m = slen ? memmem(f, (size_t)(end - f), sep, slen) : NULL;
        flen = (size_t)((m ? m : end) - f);
    }
    if (!p->gb_started || flen != p->gb_last_len ||
        (flen && memcmp(f, p->gb_last, flen))) {
        p->gb_started = true;
        char *k = malloc(flen + 1);
        if (!k || buf_add(&p->gb_out, p->recstart, p->lstart) < 0) {
            free(k);
            return -1;
        }
        if (flen)
            memcpy(k, f, flen);
        free(p->gb_last);
        p->gb_last = k;
        p->gb_last_len = flen;
    }
    return buf_add(&p->gb_out, l, n);
}

/* --group-by's read_upto(): the transformed stream, read as GNU reads its
 * filter's output. */
static int gb_read_upto(run_pipe_t *p, int fd, size_t want, bool once)
{
    size_t added = 0;
    if (buf_add(&p->in, "", 0) < 0)
        return -1;
    for (;;) {
        size_t have = p->gb_out.len - p->gb_out_off;
        size_t take = have < want - added ? have : want - added;
        if (take) {
            if (buf_add(&p->in, p->gb_out.data + p->gb_out_off, take) < 0)
                return -1;
            p->gb_out_off += take;
            added += take;
        }
        if (p->gb_out_off == p->gb_out.len)
            p->gb_out.len = p->gb_out_off = 0;
        if (added == want || (once && added))
            return 0;
        if (p->gb_eof)
            return 1;
        /* Read more and turn its whole lines (all of it at the end). */
        char chunk[65536];
        struct pollfd fds[2] = {{.fd = fd, .events = POLLIN},
                                {.fd = p->stop_fds[0], .events = POLLIN}};
        if (poll(fds, 2, -1) < 0 && errno != EINTR)
            return -1;
        if (fds[1].revents)
            return -1;
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            util_log("banyan: --pipe: cannot read stdin: %s\n",
                     strerror(errno));
        if (n > 0 && buf_add(&p->gb_raw, chunk, (size_t)n) < 0)
            return -1;
        if (n <= 0)
            p->gb_eof = true;
        size_t done = 0;
        for (;;) {
            char *nl = memchr(p->gb_raw.data + done, '\n',
                              p->gb_raw.len - done);
            size_t ln = nl ? (size_t)(nl - p->gb_raw.data) + 1 - done
                           : p->gb_eof ? p->gb_raw.len - done : 0;
            if (!ln)
                break;
            if (gb_line(p, p->gb_raw.data + done, ln) < 0) {
                if (errno == ENOENT)
                    publish_error(p, "--group-by: no such column in the "
                                  "first line", ENOENT);
                return -1;
            }
            done += ln;
        }
        if (done)
            shorten(&p->gb_raw, done);
    }
}

/* Read up to want bytes (until they came or the input ended), GNU's
 * read_block().  Returns 1 at the end of the input (the last read gave
 * nothing), 0 if not, -1 when told to stop. */
static int read_upto(run_pipe_t *p, int fd, size_t want, bool once)
{
    if (p->gb)
        return gb_read_upto(p, fd, want, once);
    if (p->in.len + want + 1 > p->in.cap) {
        size_t cap = p->in.len + want + 1;
        char *d = realloc(p->in.data, cap);
        if (!d)
            return -1;
        p->in.data = d;
        p->in.cap = cap;
    }
    ssize_t n = 0;
    do {
        struct pollfd fds[2] = {{.fd = fd, .events = POLLIN},
                                {.fd = p->stop_fds[0], .events = POLLIN}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (fds[1].revents)
            return -1;
        n = read(fd, p->in.data + p->in.len, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            util_log("banyan: --pipe: cannot read stdin: %s\n",
                     strerror(errno));
            n = 0;
        }
        p->in.len += (size_t)n;
        p->in.data[p->in.len] = '\0';
        want -= (size_t)n;
    } while (want && n > 0 && !once);
    return n == 0;
}

/* GNU's find_header(): ":" is one line, N is N lines, else a regexp that
 * must match at the start.  Reads at most a block at a time. */
static int find_header(run_pipe_t *p, int fd)
{
    const char *h = p->o.header;
    if (!h || p->gb_named) /* --group-by NAME: its transform keeps it */
        return 0;
    long lines = 0;
    if (!strcmp(h, ":"))
        lines = 1;
    else if (h[0] && strspn(h, "0123456789") == strlen(h))
        lines = atol(h);
    for (;;) {
        int r = read_upto(p, fd, (size_t)p->block, true);
        if (r < 0)
            return -1;
        size_t hl = 0;
        bool found = false;
        if (lines > 0 || !p->have_re_header) {
            long seen = 0;
            for (size_t i = 0; i < p->in.len && seen < lines; i++)
                if (p->in.data[i] == '\n' && ++seen == lines)
                    hl = i + 1;
            found = seen == lines;
        } else {
            regmatch_t m[1] = {{.rm_so = 0, .rm_eo = (regoff_t)p->in.len}};
            if (regexec(&p->re_header, p->in.data, 1, m, REG_STARTEND) == 0
                && m[0].rm_so == 0) {
                hl = (size_t)m[0].rm_eo;
                found = true;
            }
        }
        if (found) {
            p->header = malloc(hl + 1);
            if (!p->header)
                return -1;
            memcpy(p->header, p->in.data, hl);
            p->header_len = hl;
            shorten(&p->in, hl);
            return 0;
        }
        if (r == 1)
            return 0; /* no header: GNU passes everything on */
    }
}

/* GNU's pass(): cut at the last record boundary. */
static int pass(run_pipe_t *p, bool eof)
{
    if (eof)
        return 0;
    size_t cut;
    if (p->have_re) {
        long at = -1, last = -1;
        size_t from = 0, c;
        while ((at = re_find(p, p->in.data, p->in.len, from, &c)) >= 0) {
            last = (long)c;
            from = (size_t)at + 1;
        }
        if (last < 0)
            return 0;
        cut = (size_t)last;
    } else {
        long i = rfind(p->in.data, p->in.len, p->endstart, p->lendstart,
                       (long)p->in.len);
        if (i < 0)
            return 0;
        cut = (size_t)i + p->lend;
    }
    int rc = emit(p, cut);
    if (rc > 0)
        shorten(&p->in, cut);
    return rc;
}

/* The n-th boundary after position 0 (GNU's nindex(), which starts each
 * search one byte after the last), or -1; *cut where it cuts. */
static long nth_boundary(run_pipe_t *p, uint64_t n, size_t *cut)
{
    long i = 0;
    size_t c = 0;
    for (uint64_t k = 0; k < n; k++) {
        if (p->have_re) {
            i = re_find(p, p->in.data, p->in.len, (size_t)i + 1, &c);
        } else {
            i = find(p->in.data, p->in.len, p->endstart, p->lendstart,
                     (size_t)i + 1);
            c = (size_t)i + p->lend;
        }
        if (i < 0)
            return -1;
    }
    *cut = c;
    return i;
}

/* GNU's pass_n() and pass_n_regexps(): every run of N records (-N, times
 * -L when both are given). */
static int pass_n(run_pipe_t *p)
{
    uint64_t n = p->o.max_records * (p->o.max_lines ? p->o.max_lines : 1);
    int any = 0;
    if (p->have_re && !p->garbage_read) {
        /* Input before the first record start is a record of its own. */
        p->garbage_read = true;
        regmatch_t m[1] = {{.rm_so = 0, .rm_eo = (regoff_t)p->in.len}};
        bool starts = p->have_re_rrs &&
                      regexec(&p->re_start, p->in.data, 1, m,
                              REG_STARTEND) == 0 && m[0].rm_so == 0;
        size_t c;
        if (!starts && re_find(p, p->in.data, p->in.len, 0, &c) >= 0 &&
            c > 0) {
            int rc = emit(p, c);
            if (rc < 0)
                return -1;
            shorten(&p->in, c);
            any |= rc;
        }
    }
    size_t cut;
    while (p->in.len && nth_boundary(p, n, &cut) >= 0) {
        int rc = emit(p, cut);
        if (rc < 0)
            return -1;
        if (rc == 0)
            break;
        shorten(&p->in, cut);
        any = 1;
    }
    return any;
}

/* GNU's pass_n_line_records(): whole groups of -L lines. */
static int pass_lines(run_pipe_t *p)
{
    uint64_t lines = 0;
    for (size_t i = 0; i < p->in.len; i++)
        lines += p->in.data[i] == '\n';
    uint64_t want = lines - lines % p->o.max_lines, seen = 0;
    size_t cut = 0;
    for (size_t i = 0; i < p->in.len && seen < want; i++)
        if (p->in.data[i] == '\n' && ++seen == want)
            cut = i + 1;
    int rc = emit(p, cut);
    if (rc > 0)
        shorten(&p->in, cut);
    return rc;
}

static void spread(run_pipe_t *p, int fd)
{
    if (find_header(p, fd) < 0)
        return;
    for (;;) {
        size_t bs = (size_t)p->block;
        int eof = read_upto(p, fd, bs - p->in.len % bs, false);
        if (eof < 0)
            return;
        int rc;
        if (p->o.max_lines && !p->o.max_records)
            rc = pass_lines(p);
        else if (p->o.max_records)
            rc = pass_n(p);
        else
            rc = pass(p, eof);
        if (rc < 0)
            return;
        if (eof)
            break;
        if (rc == 0 && p->block < BLOCK_MAX) {
            double old = p->block;
            p->block = fmin(ceil(p->block * 1.3 + 1), BLOCK_MAX);
            util_log("banyan: warning: a record was longer than %.0f. "
                     "Increasing to --blocksize %.0f.\n", old, p->block);
        }
    }
    if (emit(p, p->in.len) < 0)
        return;
    p->in.len = 0;
}

static void *reader_main(void *arg)
{
    run_pipe_t *p = arg;
    spread(p, STDIN_FILENO);
    pthread_mutex_lock(&p->mu);
    p->reader_done = true;
    pthread_mutex_unlock(&p->mu);
    uv_async_send(&p->wake);
    return NULL;
}

/* ------------------------------------------------------------ --pipepart */

static int push_pos(uint64_t **pos, size_t *n, size_t *cap, uint64_t v)
{
    if (util_grow((void **)pos, cap, *n + 1, sizeof(**pos)) < 0)
        return -1;
    (*pos)[(*n)++] = v;
    return 0;
}

/* GNU's find_split_positions(): from each multiple of the block size, the
 * next boundary (the first byte after recend where recstart follows). */
static int part_blocks(run_pipe_t *p, banyan_error_t *error)
{
    struct stat st;
    if (fstat(p->part_fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        errno = EINVAL;
        return errprintf(error, "--pipepart only works on seekable files, "
                         "not streams/pipes. %s is not a seekable file.",
                         p->o.part_path);
    }
    uint64_t size = (uint64_t)st.st_size;
    if (p->block < 0) /* -N: N blocks per job slot */
        p->block = 1 + floor((double)size / p->jobs / -p->block);
    uint64_t block = (uint64_t)p->block;
    if (block == 0)
        block = 1;
    /* The header: read from the start, as GNU's find_header(). */
    if (p->o.header && find_header(p, p->part_fd) < 0)
        return errprintf(error, "cannot read %s: %s", p->o.part_path,
                         strerror(errno));
    uint64_t skip = p->header_len;
    uint64_t *pos = NULL;
    size_t npos = 0, cap = 0;
    char *scan = malloc(SCAN_BYTES);
    buf_t b = {0};
    if (!scan)
        goto nomem;
    if (push_pos(&pos, &npos, &cap, skip) < 0)
        goto nomem;
    for (uint64_t at = block + skip; at < size; at += block) {
        if (p->lendstart == 0 && !p->have_re) {
            if (push_pos(&pos, &npos, &cap, at) < 0)
                goto nomem;
            continue;
        }
        b.len = 0;
        ssize_t n;
        while ((n = pread(p->part_fd, scan, SCAN_BYTES,
                          (off_t)(at + b.len))) > 0) {
            if (b.len + (size_t)n + 1 > b.cap) {
                size_t nc = (b.len + (size_t)n) * 2;
                char *d = realloc(b.data, nc);
                if (!d)
                    goto nomem;
                b.data = d;
                b.cap = nc;
            }
            memcpy(b.data + b.len, scan, (size_t)n);
            b.len += (size_t)n;
            b.data[b.len] = '\0';
            size_t cut = 0;
            long i;
            if (p->have_re) {
                /* GNU's m:^(.*$recend)$recstart:s is greedy: the last
                 * boundary of what was read so far. */
                size_t c, from = 0;
                long m;
                i = -1;
                while ((m = re_find(p, b.data, b.len, from, &c)) >= 0) {
                    i = m;
                    cut = c;
                    from = (size_t)m + 1;
                }
            } else {
                i = find(b.data, b.len, p->endstart, p->lendstart, 0);
                cut = (size_t)i + p->lend;
            }
            if (i >= 0) {
                at += cut;
                if (push_pos(&pos, &npos, &cap, at) < 0)
                    goto nomem;
                break;
            }
        }
        if (n <= 0)
            break;
    }
    if (pos[npos - 1] != size && push_pos(&pos, &npos, &cap, size) < 0)
        goto nomem;
    for (size_t i = 0; i + 1 < npos; i++) {
        block_t *bl = block_new();
        if (!bl)
            goto nomem;
        bl->off = pos[i];
        bl->len = pos[i + 1] - pos[i];
        publish(p, bl);
    }
    p->alive = 0; /* files are made when tasks start */
    p->reader_done = true;
    free(pos);
    free(scan);
    free(b.data);
    return 0;
nomem:
    free(pos);
    free(scan);
    free(b.data);
    errno = ENOMEM;
    return errprintf(error, "out of memory");
}

/* The block's file for a --pipepart range: the header and the range. */
static int part_file(run_pipe_t *p, block_t *b)
{
    int fd = temp_file(p, &b->path);
    if (fd < 0)
        return -1;
    if (write_file(fd, p->header, p->header_len, NULL, 0) < 0)
        goto error;
    off_t in = (off_t)b->off;
    uint64_t left = b->len;
    while (left > 0) {
        ssize_t n = copy_file_range(p->part_fd, &in, fd, NULL, left, 0);
        if (n < 0 && (errno == EXDEV || errno == ENOSYS ||
                      errno == EOPNOTSUPP || errno == EINVAL)) {
            char buf[65536];
            n = pread(p->part_fd, buf, left < sizeof(buf) ? left
                                                         : sizeof(buf), in);
            if (n > 0 && util_write_all(fd, buf, (size_t)n) < 0)
                goto error;
            if (n > 0)
                in += n;
        }
        if (n < 0)
            goto error;
        if (n == 0)
            break; /* the file shrank */
        left -= (uint64_t)n;
    }
    if (close(fd) < 0) {
        fd = -1;
        goto error;
    }
    return 0;
error:;
    int saved = errno;
    if (fd >= 0)
        close(fd);
    unlink(b->path);
    free(b->path);
    b->path = NULL;
    errno = saved;
    return -1;
}

/* ----------------------------------------------------------------- --tee */

static int tee_file(run_pipe_t *p, banyan_error_t *error)
{
    int fd = temp_file(p, &p->tee_path);
    if (fd < 0)
        return errprintf(error, "--tee: cannot create a file in %s: %s",
                         p->tmpdir, strerror(errno));
    char buf[65536];
    ssize_t n;
    while ((n = read(STDIN_FILENO, buf, sizeof(buf))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || util_write_all(fd, buf, (size_t)n) < 0) {
            int saved = errno;
            close(fd);
            errno = saved;
            return errprintf(error, "--tee: cannot copy stdin: %s",
                             strerror(errno));
        }
    }
    if (close(fd) < 0)
        return errprintf(error, "--tee: cannot copy stdin: %s",
                         strerror(errno));
    return 0;
}

/* ----------------------------------------------------------------- public */

static void on_feed(uv_poll_t *h, int status, int events);

/* The loop's pump queues new blocks (run__pipe_refill); here --roundrobin
 * feeds that ran dry start again (new blocks, or the end of the input). */
static void on_wake(uv_async_t *h)
{
    run_pipe_t *p = h->data;
    if (!p->o.roundrobin)
        return;
    pthread_mutex_lock(&p->mu);
    uint32_t n = p->rr_count;
    pthread_mutex_unlock(&p->mu);
    for (uint32_t i = 0; i < n; i++) {
        block_t *b = p->rr_tasks[i];
        feed_t *f = b->feed;
        if (f && f->waiting && uv_poll_start(&f->poll, UV_WRITABLE,
                                             on_feed) == 0)
            f->waiting = false;
    }
}

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

static int setup_separators(run_pipe_t *p, banyan_error_t *error)
{
    const run_pipe_options_t *o = &p->o;
    const char *rs = o->recstart, *re = o->recend;
    if (!rs && !re)
        re = "\\n";
    if (o->max_lines && !o->max_records && !o->regexp) {
        /* -L counts lines, whatever the separators */
    }
    if (o->regexp) {
        const char *end = re ? re : "";
        const char *start = rs ? rs : "";
        if (!rs && re && !*re)
            end = "(.)";
        if (compile(&p->re, "(%s)(%s)", end, start, error) < 0)
            return -1;
        p->have_re = true;
        if (compile(&p->re_start, "^(%s)%s", start, "", error) < 0)
            return -1;
        if (compile(&p->re_end, "(%s)%s$", end, "", error) < 0) {
            regfree(&p->re_start);
            return -1;
        }
        p->have_re_rrs = true;
        return 0;
    }
    p->recstart = unescape(rs ? rs : "", &p->lstart);
    p->recend = unescape(re ? re : "", &p->lend);
    if (!p->recstart || !p->recend)
        goto nomem;
    p->lendstart = p->lend + p->lstart;
    p->endstart = malloc(p->lendstart + 1);
    if (!p->endstart)
        goto nomem;
    memcpy(p->endstart, p->recend, p->lend);
    memcpy(p->endstart + p->lend, p->recstart, p->lstart);
    p->endstart[p->lendstart] = '\0';
    return 0;
nomem:
    errno = ENOMEM;
    return errprintf(error, "out of memory");
}

/* --group-by: GNU's random record start, no record end, --rrs. */
static int setup_group_by(run_pipe_t *p, banyan_error_t *error)
{
    static const char alnum[] = "0123456789abcdefghijklmnopqrstuvwxyz"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    unsigned char rnd[20];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, rnd, sizeof(rnd)) != (ssize_t)sizeof(rnd)) {
        if (fd >= 0)
            close(fd);
        errno = EIO;
        return errprintf(error, "--group-by: cannot read /dev/urandom");
    }
    close(fd);
    free(p->recstart);
    free(p->recend);
    free(p->endstart);
    p->recstart = malloc(sizeof(rnd) + 1);
    p->endstart = malloc(sizeof(rnd) + 1);
    p->recend = strdup("");
    if (!p->recstart || !p->endstart || !p->recend) {
        errno = ENOMEM;
        return errprintf(error, "out of memory");
    }
    for (size_t i = 0; i < sizeof(rnd); i++)
        p->recstart[i] = alnum[rnd[i] % 62];
    p->recstart[sizeof(rnd)] = '\0';
    memcpy(p->endstart, p->recstart, sizeof(rnd) + 1);
    p->lstart = p->lendstart = sizeof(rnd);
    p->lend = 0;
    p->o.rrs = true;
    p->gb = true;
    const char *g = p->o.group_by;
    if (strspn(g, "0123456789") == strlen(g)) {
        p->gb_col = atol(g) > 0 ? atol(g) - 1 : 0;
    } else {
        p->gb_named = true;
        p->gb_col = -1;
    }
    return 0;
}

run_pipe_t *run__pipe_create(const run_pipe_options_t *po, uv_loop_t *loop,
                             uint32_t jobs, banyan_error_t *error)
{
    run_pipe_t *p = calloc(1, sizeof(*p));
    if (!p) {
        errprintf(error, "out of memory");
        return NULL;
    }
    p->o = *po;
    p->jobs = jobs ? jobs : 1;
    p->loop = loop;
    p->use_feed = access("/proc/self/fd", X_OK) == 0;
    p->part_fd = -1;
    p->stop_fds[0] = p->stop_fds[1] = -1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    const char *t = getenv("TMPDIR");
    p->tmpdir = t && *t ? t : "/tmp";
    uv_async_init(loop, &p->wake, on_wake);
    p->wake.data = p;
    uv_unref((uv_handle_t *)&p->wake);

    double block = DEFAULT_BLOCK;
    if (po->block)
        run_pipe_parse_size(po->block, &block); /* checked before */
    else if (po->part_path)
        block = po->roundrobin ? -1 : -10;
    if (po->part_path && po->roundrobin)
        block = -1;
    if (block > BLOCK_MAX && !po->part_path) {
        util_log("banyan: warning: --blocksize >= 2G causes problems. "
                 "Using 2G-1.\n");
        block = BLOCK_MAX;
    }
    p->block = block < 0 ? ceil(block) : floor(block);
    if (p->block > -1 && p->block < 1)
        p->block = 1;

    if (setup_separators(p, error) < 0)
        goto error;
    if (po->group_by && setup_group_by(p, error) < 0)
        goto error;
    if (po->header && strcmp(po->header, ":") &&
        strspn(po->header, "0123456789") != strlen(po->header)) {
        if (compile(&p->re_header, "%s%s", po->header, "", error) < 0)
            goto error;
        p->have_re_header = true;
    }
    if (po->tee) {
        if (tee_file(p, error) < 0)
            goto error;
        p->reader_done = true;
        return p;
    }
    if (po->part_path) {
        p->part_fd = open(po->part_path, O_RDONLY | O_CLOEXEC);
        if (p->part_fd < 0) {
            errprintf(error, "cannot open --pipepart file '%s': %s",
                      po->part_path, strerror(errno));
            goto error;
        }
        if (part_blocks(p, error) < 0)
            goto error;
        return p;
    }
    if (po->roundrobin) {
        p->rr_tasks = calloc(p->jobs, sizeof(*p->rr_tasks));
        if (!p->rr_tasks) {
            errprintf(error, "out of memory");
            goto error;
        }
    }
    if (pipe2(p->stop_fds, O_CLOEXEC) < 0) {
        errprintf(error, "cannot create a pipe: %s", strerror(errno));
        goto error;
    }
    /* The reader takes no signal: they are the loop's. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&p->thread, NULL, reader_main, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        errno = rc;
        errprintf(error, "cannot start the --pipe reader: %s",
                  strerror(rc));
        goto error;
    }
    p->thread_started = true;
    return p;
error:;
    int saved = errno;
    run__pipe_destroy(p);
    errno = saved ? saved : EINVAL;
    return NULL;
}

void run__pipe_destroy(run_pipe_t *p)
{
    if (!p)
        return;
    if (p->thread_started) {
        pthread_mutex_lock(&p->mu);
        p->stop = true;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        char c = 0;
        if (write(p->stop_fds[1], &c, 1) < 0)
            util_log("banyan: --pipe: cannot stop the reader: %s\n",
                     strerror(errno));
        pthread_join(p->thread, NULL);
    }
    for (size_t i = 0; i < p->nblocks; i++)
        block_free(p->blocks[i]);
    free(p->blocks);
    free(p->rr_tasks);
    if (p->tee_path)
        unlink(p->tee_path);
    free(p->tee_path);
    for (int i = 0; i < 2; i++)
        if (p->stop_fds[i] >= 0)
            close(p->stop_fds[i]);
    if (p->part_fd >= 0)
        close(p->part_fd);
    if (p->have_re)
        regfree(&p->re);
    if (p->have_re_rrs) {
        regfree(&p->re_start);
        regfree(&p->re_end);
    }
    if (p->have_re_header)
        regfree(&p->re_header);
    free(p->recstart);
    free(p->recend);
    free(p->endstart);
    free(p->header);
    free(p->in.data);
    free(p->gb_raw.data);
    free(p->gb_out.data);
    free(p->gb_last);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    uv_close((uv_handle_t *)&p->wake, on_closed); /* frees p */
}

bool run__pipe_tee(const run_pipe_t *p)
{
    return p->o.tee;
}

bool run__pipe_refill(run_pipe_t *p, sched_t *s, uint32_t job_id,
                      uint64_t *queued)
{
    if (p->o.tee)
        return false;
    pthread_mutex_lock(&p->mu);
    uint64_t n = p->nblocks;
    bool done = p->reader_done;
    pthread_mutex_unlock(&p->mu);
    if (n > p->queued) {
        if (sched_job_add_tasks(s, job_id, p->queued, n - p->queued) < 0) {
            util_log("banyan: --pipe: cannot queue tasks: %s\n",
                     strerror(errno));
            return !done;
        }
        *queued += n - p->queued;
        p->queued = n;
    }
    return !done;
}

static block_t *get_block(run_pipe_t *p, uint64_t index)
{
    pthread_mutex_lock(&p->mu);
    if (p->o.tee && index >= p->nblocks &&
        util_grow((void **)&p->blocks, &p->capblocks, index + 1,
                  sizeof(*p->blocks)) == 0) {
        memset(p->blocks + p->nblocks, 0,
               (index + 1 - p->nblocks) * sizeof(*p->blocks));
        p->nblocks = index + 1;
    }
    if (p->o.tee && index < p->nblocks && !p->blocks[index])
        p->blocks[index] = block_new();
    block_t *b = index < p->nblocks ? p->blocks[index] : NULL;
    pthread_mutex_unlock(&p->mu);
    return b;
}

int run__pipe_ctx(run_pipe_t *p, uint64_t index, tmpl_ctx_t *ctx,
                  banyan_error_t *error)
{
    if (p->o.tee)
        return 0;
    block_t *b = get_block(p, index);
    if (!b) {
        errno = ERANGE;
        return errprintf(error, "--pipe: no block %llu",
                         (unsigned long long)index + 1);
    }
    if (b->error) {
        errno = EIO;
        return errprintf(error, "%s", b->error);
    }
    if (p->o.part_path && !b->path &&
        (p->o.cat || p->o.fifo || !p->use_feed) && part_file(p, b) < 0)
        return errprintf(error, "--pipepart: cannot write a block file "
                         "in %s: %s", p->tmpdir, strerror(errno));
    if (p->o.fifo && !b->fifo) {
        if (asprintf(&b->fifo, "%s.fifo", b->path) < 0) {
            b->fifo = NULL;
            return errprintf(error, "out of memory");
        }
        if (mkfifo(b->fifo, 0600) < 0) {
            free(b->fifo);
            b->fifo = NULL;
            return errprintf(error, "--fifo: cannot make a fifo in %s: %s",
                             p->tmpdir, strerror(errno));
        }
    }
    if (p->o.cat || p->o.fifo) {
        b->val = p->o.fifo ? b->fifo : b->path;
        ctx->vals = &b->val;
        ctx->nvals = 1;
    }
    return 0;
}

/* Write to the pipe without dying of SIGPIPE when the task is gone. */
static ssize_t send_nosig(feed_t *f)
{
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    ssize_t n;
    if (f->head_left)
        n = write(f->w, f->head, f->head_left);
    else
        n = sendfile(f->w, f->src, &f->off,
                     f->left < (1u << 20) ? (size_t)f->left : (1u << 20));
    if (n < 0 && errno == EPIPE) {
        int saved = errno;
        struct timespec zero = {0, 0};
        (void)sigtimedwait(&pipe_set, NULL, &zero); /* consume it */
        errno = saved;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (n > 0 && f->head_left) {
        f->head += n;
        f->head_left -= (size_t)n;
    } else if (n > 0) {
        f->left -= (uint64_t)n;
    }
    return n;
}

/* --roundrobin: the file sent is done (removed); open the next one of the
 * task's queue.  1 when there is one, 0 to wait for more, -1 at the end. */
static int rr_next_file(feed_t *f)
{
    run_pipe_t *p = f->p;
    block_t *b = f->rr;
    pthread_mutex_lock(&p->mu);
    if (f->src >= 0) {
        close(f->src);
        f->src = -1;
        unlink(b->q[b->qhead]);
        free(b->q[b->qhead]);
        b->q[b->qhead++] = NULL;
        if (p->alive > 0)
            p->alive--;
        pthread_cond_signal(&p->cv);
    }
    int rc = p->reader_done ? -1 : 0;
    const char *path = b->qhead < b->qn ? b->q[b->qhead] : NULL;
    pthread_mutex_unlock(&p->mu);
    if (!path)
        return rc;
    struct stat st;
    f->src = open(path, O_RDONLY | O_CLOEXEC);
    if (f->src < 0 || fstat(f->src, &st) < 0) {
        util_log("banyan: --roundrobin: cannot read a block: %s\n",
                 strerror(errno));
        return -1;
    }
    f->off = 0;
    f->left = (uint64_t)st.st_size;
    return 1;
}

static void on_feed(uv_poll_t *h, int status, int events)
{
    (void)events;
    feed_t *f = h->data;
    if (f->r >= 0) { /* the task has its own end by now */
        close(f->r);
        f->r = -1;
    }
    for (;;) {
        ssize_t n = 1;
        while (status >= 0 && (f->head_left || f->left) && n > 0)
            n = send_nosig(f);
        if (status >= 0 && n < 0 && (errno == EAGAIN || errno == EINTR))
            return; /* the pipe is full: wait for the task to read */
        if (status < 0 || n < 0 || !f->rr)
            break;
        int next = rr_next_file(f);
        if (next < 0)
            break;
        if (next == 0) { /* more blocks may come: on_wake restarts it */
            uv_poll_stop(&f->poll);
            f->waiting = true;
            return;
        }
    }
    /* All sent, the task is gone (EPIPE), the block shrank (0) or an
     * error: the task sees the end of its input. */
    feed_close(f);
}

/* Make the pipe that feeds b to its task; spec->stdin_path names it. */
static int feed_start(run_pipe_t *p, block_t *b, exec_spec_t *spec,
                      banyan_error_t *error)
{
    feed_t *f = calloc(1, sizeof(*f));
    if (!f) {
        errno = ENOMEM;
        return errprintf(error, "out of memory");
    }
    f->r = f->w = f->src = -1;
    f->p = p;
    int fds[2];
    if (p->o.roundrobin) {
        f->rr = b; /* its files come from the queue */
    } else if (p->o.part_path && !b->path) {
        f->src = p->part_fd;
        f->off = (off_t)b->off;
        f->left = b->len;
        f->head = p->header;
        f->head_left = p->header_len;
    } else {
        const char *from = p->o.tee ? p->tee_path : b->path;
        struct stat st;
        f->own_src = true;
        f->src = open(from, O_RDONLY | O_CLOEXEC);
        if (f->src < 0 || fstat(f->src, &st) < 0)
            goto error;
        f->left = (uint64_t)st.st_size;
    }
    if (pipe2(fds, O_CLOEXEC) < 0)
        goto error;
    f->r = fds[0];
    f->w = fds[1];
    if (fcntl(f->w, F_SETFL, O_NONBLOCK) < 0)
        goto error;
    snprintf(f->path, sizeof(f->path), "/proc/self/fd/%d", f->r);
    if (uv_poll_init(p->loop, &f->poll, f->w) < 0) {
        errno = EIO;
        goto error;
    }
    f->poll.data = f;
    b->feed = f; /* closed with the block from here on */
    f->owner = &b->feed;
    if (uv_poll_start(&f->poll, UV_WRITABLE, on_feed) < 0) {
        errno = EIO;
        return errprintf(error, "--pipe: cannot watch a pipe");
    }
    spec->stdin_path = f->path;
    return 0;
error:;
    int saved = errno;
    if (f->r >= 0)
        close(f->r);
    if (f->w >= 0)
        close(f->w);
    if (f->own_src && f->src >= 0)
        close(f->src);
    free(f);
    errno = saved;
    return errprintf(error, "--pipe: cannot feed the task's stdin: %s",
                     strerror(saved));
}

/* --fifo: sh feeds the fifo from the block while the command runs, then
 * stops the feeder if the command never opened it; the command's status is
 * the task's. */
static const char fifo_script[] =
    "cat \"$1\" >\"$2\" & shift 2; \"$@\" </dev/null; s=$?; "
    "kill $! 2>/dev/null; wait; exit $s";

int run__pipe_spec(run_pipe_t *p, uint64_t index, exec_spec_t *spec,
                   banyan_error_t *error)
{
    block_t *b = get_block(p, index);
    if (b && b->feed) /* a retry: a new pipe */
        feed_close(b->feed);
    if (p->o.tee) {
        if (!p->use_feed || !b) {
            spec->stdin_path = p->tee_path;
            return 0;
        }
        return feed_start(p, b, spec, error);
    }
    if (b && p->use_feed && !p->o.cat && !p->o.fifo)
        return feed_start(p, b, spec, error);
    if (!b || !b->path) {
        errno = ENOENT;
        return errprintf(error, "--pipe: block %llu is gone",
                         (unsigned long long)index + 1);
    }
    if (p->o.cat) {
        spec->stdin_path = NULL; /* GNU's job read its stdin to the file */
        return 0;
    }
    if (!p->o.fifo) {
        spec->stdin_path = b->path;
        return 0;
    }
    size_t n = 0;
    while (spec->argv[n])
        n++;
    free(b->argv);
    b->argv = malloc((n + 7) * sizeof(char *));
    if (!b->argv) {
        errno = ENOMEM;
        return errprintf(error, "out of memory");
    }
    const char *head[] = {"/bin/sh", "-c", fifo_script, "sh", b->path,
                          b->fifo};
    for (size_t i = 0; i < 6; i++)
        b->argv[i] = (char *)head[i];
    for (size_t i = 0; i < n; i++)
        b->argv[6 + i] = (char *)spec->argv[i];
    b->argv[6 + n] = NULL;
    spec->argv = (const char *const *)b->argv;
    spec->stdin_path = NULL;
    return 0;
}

void run__pipe_release(run_pipe_t *p, uint64_t index)
{
    pthread_mutex_lock(&p->mu);
    if (p->o.roundrobin && index < p->nblocks && p->blocks[index]) {
        /* The reader may still look at it: kept until destroy. */
        block_t *b = p->blocks[index];
        b->dead = true;
        for (; b->qhead < b->qn; b->qhead++) {
            unlink(b->q[b->qhead]);
            free(b->q[b->qhead]);
            b->q[b->qhead] = NULL;
            if (p->alive > 0)
                p->alive--;
        }
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
        feed_close(b->feed);
        return;
    }
    if (index < p->nblocks && p->blocks[index]) {
        block_t *b = p->blocks[index];
        p->blocks[index] = NULL;
        if (!p->o.part_path && p->alive > 0)
            p->alive--;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
        block_free(b);
        return;
    }
    pthread_mutex_unlock(&p->mu);
}
