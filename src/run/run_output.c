/* SPDX-License-Identifier: MIT */
/* run_output.c - task output as GNU Parallel prints it, in completion or
 * input order.
 *
 * Grouped (the default): a task's stdout and stderr are written whole when
 * it ends, so lines of two tasks never interleave.  Without keep_order
 * that happens at once, straight from the executor's streams.  With
 * keep_order what is to be printed is rendered and parked in a min-heap
 * keyed by task index until every earlier task has been written (or will
 * never run: resumed runs skip the tasks done before).
 *
 * What is printed depends on the mode, as in GNU Parallel 20221122:
 *   --tag/--tagstring  the tag before every line of stdout and stderr
 *                      (after each \n or \r that is followed by more; no
 *                      newline is added);
 *   --files            the name of a file in $TMPDIR holding its stdout
 *                      (TMPDIR/parXXXXX.par); stderr is dropped;
 *   --results DIR      nothing: DIR/1/<v1>/2/<v2>/{seq,stdout,stderr}, or
 *                      the expanded name when it has replacement strings
 *                      (a folder when it ends in /, else NAME, NAME.err,
 *                      NAME.seq);
 *   --results X.csv|.tsv|.json   nothing; one row per task in X (-.csv:
 *                      on stdout);
 *   --line-buffer      whole lines as they come (run__output_line), the
 *                      last partial line when the task ends;
 *   -u                 nothing: the tasks wrote to banyan's stdout.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run_private.h"

typedef struct parked {
    uint64_t index;
    int out_fd;       /* where out goes: stdout, or the --results table */
    char *out;        /* owned, may be NULL */
    size_t out_len;
    char *err;        /* owned, may be NULL */
    size_t err_len;
    char *log;        /* owned joblog line, may be NULL */
    size_t log_len;
} parked_t;

struct run_output {
    const run_options_t *o;
    run_skip_fn skip;
    void *skip_arg;
    uint64_t next;    /* keep_order: index of the next task to write */
    parked_t *heap;   /* keep_order: min-heap by index */
    size_t nheap;
    size_t capheap;
    int table_fd;     /* --results X.csv/.tsv/.json, -1 = none */
    bool own_table;   /* table_fd is ours to close */
    char *header;     /* the table's header, made with the first row */
    bool header_done; /* ... and written before the first row written */
    size_t max_name;  /* longest folder name --results may use, 0 = any */
    FILE *joblog;     /* borrowed, NULL = none */
};

void run__output_set_joblog(run_output_t *out, FILE *joblog)
{
    out->joblog = joblog;
}

static int results_fmt_of(const char *name)
{
    size_t n = strlen(name);
    if (n >= 4 && !strcmp(name + n - 4, ".csv"))
        return RUN_RESULTS_CSV;
    if (n >= 4 && !strcmp(name + n - 4, ".tsv"))
        return RUN_RESULTS_TSV;
    if (n >= 5 && !strcmp(name + n - 5, ".json"))
        return RUN_RESULTS_JSON;
    return RUN_RESULTS_DIR;
}

run_results_fmt_t run_results_fmt(const char *name)
{
    return (run_results_fmt_t)results_fmt_of(name);
}

run_output_t *run__output_create(const run_options_t *o, run_skip_fn skip,
                                 void *skip_arg, banyan_error_t *error)
{
    run_output_t *out = calloc(1, sizeof(*out));
    if (!out) {
        errprintf(error, "out of memory");
        return NULL;
    }
    out->o = o;
    out->skip = skip;
    out->skip_arg = skip_arg;
    out->table_fd = -1;
    if (o->results_dir && o->results_fmt != RUN_RESULTS_DIR) {
        const char *name = o->results_dir;
        size_t n = strlen(name);
        if (!strncmp(name, "-.", 2) && strchr(name + 2, '.') == NULL &&
            n <= 6) {
            out->table_fd = STDOUT_FILENO; /* -.csv, -.tsv, -.json */
        } else {
            out->table_fd = open(name, O_WRONLY | O_CREAT | O_TRUNC |
                                 O_CLOEXEC, 0644);
            out->own_table = true;
            if (out->table_fd < 0) {
                errprintf(error, "Cannot open '%s' for writing: %s", name,
                          strerror(errno));
                free(out);
                return NULL;
            }
        }
    }
    return out;
}

static void parked_free(parked_t *p)
{
    free(p->out);
    free(p->err);
    free(p->log);
}

void run__output_destroy(run_output_t *out)
{
    if (!out)
        return;
    for (size_t i = 0; i < out->nheap; i++)
        parked_free(&out->heap[i]);
    free(out->heap);
    if (out->own_table && out->table_fd >= 0)
        close(out->table_fd);
    free(out->header);
    free(out);
}

int run__json_string(util_buf_t *b, const char *s)
{
    if (util_buf_putc(b, '"') < 0)
        return -1;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int rc;
        switch (*p) {
        case '"': rc = util_buf_puts(b, "\\\""); break;
        case '\\': rc = util_buf_puts(b, "\\\\"); break;
        case '\n': rc = util_buf_puts(b, "\\n"); break;
        case '\t': rc = util_buf_puts(b, "\\t"); break;
        case '\r': rc = util_buf_puts(b, "\\r"); break;
        default:
            if (*p < 0x20)
                rc = util_buf_printf(b, "\\u%04x", *p);
            else
                rc = util_buf_putc(b, (char)*p);
        }
        if (rc < 0)
            return -1;
    }
    return util_buf_putc(b, '"');
}

/* ------------------------------------------------------------------ tags */

/* GNU Parallel's tagging of one task's stream: the tag first, and again
 * after every \n or \r that is followed by more.  No newline is added. */
static int tag_render(util_buf_t *b, const char *p, size_t len,
                      const char *tag)
{
    size_t taglen = strlen(tag);
    size_t i = 0;
    while (i < len) {
        if (util_buf_append(b, tag, taglen) < 0)
            return -1;
        size_t j = i;
        while (j < len && p[j] != '\n' && p[j] != '\r')
            j++;
        if (j < len)
            j++;
        if (util_buf_append(b, p + i, j - i) < 0)
            return -1;
        i = j;
    }
    return 0;
}

/* The stream's bytes, for rendering.  A stream that lost bytes (lost: a
 * full TMPDIR; its task failed for it) is refused by exec_stream_dup(),
 * so what it kept is read as its tail, which is all of it. */
static char *stream_copy(const exec_stream_t *s, bool lost, size_t *len)
{
    *len = 0;
    uint64_t size = s ? exec_stream_size(s) : 0;
    if (size == 0 || size >= SIZE_MAX)
        return NULL;
    char *p = exec_stream_dup(s, SIZE_MAX);
    if (p) {
        *len = (size_t)size;
        return p;
    }
    if (!lost || !(p = malloc((size_t)size)))
        return NULL;
    *len = exec_stream_tail(s, p, (size_t)size);
    return p;
}

/* head (-v: the command line; may be NULL) and then the stream's bytes.
 * NULL with *len 0 when there is nothing. */
static char *stream_copy_head(const exec_stream_t *s, bool lost,
                              const char *head, size_t *len)
{
    char *p = stream_copy(s, lost, len);
    if (!head || !*head)
        return p;
    size_t h = strlen(head);
    char *q = malloc(h + *len + 1);
    if (q) {
        memcpy(q, head, h);
        if (*len)
            memcpy(q + h, p, *len);
        q[h + *len] = '\0';
        *len += h;
    } else {
        *len = 0;
    }
    free(p);
    return q;
}

/* GNU's --color/--ctag: line by line, the colour and the tag before it,
 * the reset after it and a newline (also after a last line without one);
 * a \r inside a line (or ending it) is wrapped the same way. */
static int color_render(util_buf_t *b, const char *p, size_t len,
                        const char *tag, const char *color)
{
    static const char reset[] = "\033[m";
    size_t i = 0;
    int rc = 0;
    while (i < len && rc == 0) {
        const char *nl = memchr(p + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - p) : len;
        rc = util_buf_puts(b, color) | util_buf_puts(b, tag ? tag : "");
        for (size_t j = i; j < end && rc == 0; j++) {
            if (p[j] == '\r')
                rc = util_buf_puts(b, reset) | util_buf_putc(b, '\r') |
                     util_buf_puts(b, color) | util_buf_puts(b, tag ? tag : "");
            else
                rc = util_buf_putc(b, p[j]);
        }
        rc |= util_buf_puts(b, reset) | util_buf_putc(b, '\n');
        i = nl ? end + 1 : len;
    }
    return rc < 0 ? -1 : 0;
}

/* A stream as it is to be printed (after head, may be NULL): tagged and
 * coloured (color, may be NULL), or as it is.  *len 0 and NULL when there
 * is nothing; NULL with *len 1 when out of memory. */
static char *stream_render(const exec_stream_t *s, bool lost,
                           const char *head, const char *tag,
                           const char *color, size_t *len)
{
    size_t n;
    char *p = stream_copy_head(s, lost, head, &n);
    *len = 0;
    if (!p) {
        *len = (s && exec_stream_size(s)) || (head && *head) ? 1 : 0;
        return NULL;
    }
    if (!tag && !color) {
        *len = n;
        return p;
    }
    util_buf_t b = UTIL_BUF_INIT;
    int rc = color ? color_render(&b, p, n, tag, color)
                   : tag_render(&b, p, n, tag);
    free(p);
    if (rc < 0) {
        util_buf_fini(&b);
        *len = 1;
        return NULL;
    }
    *len = b.len;
    return util_buf_steal(&b);
}

/* -------------------------------------------------------- --line-buffer */

int run__output_line(run_output_t *out, util_buf_t *half, int fd,
                     const char *tag, const char *p, size_t len, bool last)
{
    (void)out;
    /* Whole lines (up to the last \n, or else the last \r) now; the rest
     * waits in half for more, or for the task's end (last). */
    size_t cut = len;
    if (!last) {
        cut = 0;
        for (size_t i = len; i > 0; i--)
            if (p[i - 1] == '\n') {
                cut = i;
                break;
            }
        if (!cut)
            for (size_t i = len; i > 0; i--)
                if (p[i - 1] == '\r') {
                    cut = i;
                    break;
                }
        if (!cut)
            return util_buf_append(half, p, len);
    }
    util_buf_t b = UTIL_BUF_INIT;
    int rc = 0;
    if (tag) {
        util_buf_t line = UTIL_BUF_INIT;
        rc = util_buf_append(&line, half->data ? half->data : "", half->len) |
             util_buf_append(&line, p, cut);
        if (rc == 0)
            rc = tag_render(&b, line.data ? line.data : "", line.len, tag);
        util_buf_fini(&line);
    } else {
        rc = util_buf_append(&b, half->data ? half->data : "", half->len) |
             util_buf_append(&b, p, cut);
    }
    util_buf_reset(half);
    if (rc == 0 && !last && cut < len)
        rc = util_buf_append(half, p + cut, len - cut);
    if (rc == 0 && b.len && util_write_all(fd, b.data, b.len) < 0 &&
        errno != EPIPE)
        rc = -1;
    util_buf_fini(&b);
    return rc < 0 ? -1 : 0;
}

/* ----------------------------------------------------------- --results */

/* mkdir dir/ddd...d (len d's); unless keep, rmdir it again.  Whether
 * the mkdir worked. */
static bool try_mkdir(const char *dir, size_t len, bool keep)
{
    size_t n = strlen(dir);
    char *path = malloc(n + len + 2);
    if (!path)
        return false;
    memcpy(path, dir, n);
    path[n] = '/';
    memset(path + n + 1, 'd', len);
    path[n + 1 + len] = '\0';
    bool made = mkdir(path, 0755) == 0;
    if (made && !keep)
        rmdir(path);
    free(path);
    return made;
}

static void try_rmdir(const char *dir, size_t len)
{
    size_t n = strlen(dir);
    char *path = malloc(n + len + 2);
    if (!path)
        return;
    memcpy(path, dir, n);
    path[n] = '/';
    memset(path + n + 1, 'd', len);
    path[n + 1 + len] = '\0';
    rmdir(path);
    free(path);
}

/* GNU's way to find the longest folder name: grow by 16x from 8 until
 * mkdir fails, then halve the interval down to 5 characters. */
static size_t max_name_probe(const char *dir)
{
    size_t len = 8;
    bool made;
    do {
        try_rmdir(dir, len);
        len *= 16;
        made = len < 100000000 && try_mkdir(dir, len, true);
    } while (made);
    size_t min = len / 16, max = len;
    while (max - min > 5) {
        size_t test = (min + max) / 2;
        if (try_mkdir(dir, test, false))
            min = test;
        else
            max = test;
    }
    return min;
}

/* GNU sorts the sources by name: numerically (Perl's <=>: a name that
 * does not begin with a number is 0), then as text. */
static int name_cmp(const char *a, const char *b)
{
    double x = strtod(a, NULL), y = strtod(b, NULL);
    if (x != y)
        return x < y ? -1 : 1;
    return strcmp(a, b);
}

/* prefix/1/<v1>/2/<v2> (with names: by name, sorted): \ \t and / of a
 * value written as \\ \t \_; each name cut to max bytes (0 = no cut). */
static int args_as_dirname(util_buf_t *b, const char *const *vals,
                           size_t nvals, const char *const *names,
                           size_t max)
{
    size_t order[nvals ? nvals : 1];
    for (size_t i = 0; i < nvals; i++) {
        size_t j = i;
        while (names && j > 0 &&
               name_cmp(names[order[j - 1]], names[i]) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    for (size_t k = 0; k < nvals; k++) {
        size_t i = order[k];
        int rc = names && names[i] ? util_buf_printf(b, "/%s/", names[i])
                                   : util_buf_printf(b, "/%zu/", i + 1);
        util_buf_t v = UTIL_BUF_INIT;
        for (const char *p = vals[i]; *p && rc == 0; p++) {
            switch (*p) {
            case '\\': rc = util_buf_puts(&v, "\\\\"); break;
            case '\t': rc = util_buf_puts(&v, "\\t"); break;
            case '/': rc = util_buf_puts(&v, "\\_"); break;
            default: rc = util_buf_putc(&v, *p);
            }
        }
        size_t n = max && v.len > max ? max : v.len;
        if (rc == 0 && n)
            rc = util_buf_append(b, v.data, n);
        util_buf_fini(&v);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int write_file(const char *path, const exec_stream_t *s,
                      const char *text, bool lost)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    /* text, then the stream's bytes. */
    int rc = text ? util_write_all(fd, text, strlen(text)) : 0;
    if (s && rc == 0)
        rc = exec_stream_copy(s, fd, NULL);
    int err = errno;
    if (close(fd) < 0)
        return -1;
    if (rc < 0 && !lost) { /* a lost stream fails the copy as well */
        errno = err;
        return -1;
    }
    return 0;
}

bool run__results_exist(const run_options_t *o, const run_output_job_t *job)
{
    /* GNU's is_already_in_results: OUTstdout exists, or OUT is a file. */
    util_buf_t b = UTIL_BUF_INIT;
    const char *name = job->results_name;
    bool plain = !name || !strcmp(name, o->results_dir);
    int rc = plain ? util_buf_puts(&b, o->results_dir) |
                     args_as_dirname(&b, job->vals, job->nvals, job->names,
                                     0) |
                     util_buf_putc(&b, '/')
                   : util_buf_puts(&b, name);
    struct stat sb;
    bool found = rc == 0 && stat(b.data, &sb) == 0 && S_ISREG(sb.st_mode);
    if (rc == 0 && !found && util_buf_puts(&b, "stdout") == 0)
        found = access(b.data, F_OK) == 0;
    util_buf_fini(&b);
    return found;
}

/* Write the task's seq, stdout and stderr files.  0, or -1 with errno and
 * why. */
static int write_results_dir(run_output_t *out, const run_output_job_t *job,
                             const exec_result_t *res, bool lost,
                             char *stdout_path, char *why, size_t why_size)
{
    const run_options_t *o = out->o;
    util_buf_t dir = UTIL_BUF_INIT;
    char seq[32], path[PATH_MAX];
    const char *names[3] = {"seq", "stdout", "stderr"};
    snprintf(seq, sizeof(seq), "%llu", (unsigned long long)job->index + 1);
    snprintf(path, sizeof(path), "%s", o->results_dir);
    const char *name = job->results_name;
    bool folder = true;
    int rc;
    if (!name || !strcmp(name, o->results_dir)) {
        rc = util_buf_puts(&dir, o->results_dir) |
             args_as_dirname(&dir, job->vals, job->nvals, job->names,
                             out->max_name);
        if (rc == 0 && util_mkdir_p(dir.data, 0755) < 0 &&
            (errno == ENAMETOOLONG || errno == EINVAL) && !out->max_name) {
            out->max_name = max_name_probe(o->results_dir);
            util_buf_reset(&dir);
            rc = util_buf_puts(&dir, o->results_dir) |
                 args_as_dirname(&dir, job->vals, job->nvals, job->names,
                                 out->max_name);
        }
    } else {
        size_t n = strlen(name);
        folder = n > 0 && name[n - 1] == '/';
        rc = util_buf_append(&dir, name, folder ? n - 1 : n);
        if (rc == 0 && !folder) {
            /* NAME, NAME.err and NAME.seq: make NAME's folder. */
            char *slash = strrchr(dir.data, '/');
            if (slash) {
                *slash = '\0';
                if (util_mkdir_p(dir.data, 0755) < 0) {
                    snprintf(path, sizeof(path), "%s", dir.data);
                    goto error;
                }
                *slash = '/';
            }
        }
    }
    if (rc < 0)
        goto error;
    if (folder && util_mkdir_p(dir.data, 0755) < 0) {
        snprintf(path, sizeof(path), "%s", dir.data);
        goto error;
    }
    const exec_stream_t *streams[3] = {NULL, res->out, res->err};
    const char *suffix[3] = {".seq", "", ".err"};
    for (int i = 0; i < 3; i++) {
        if (folder)
            snprintf(path, sizeof(path), "%s/%s", dir.data, names[i]);
        else
            snprintf(path, sizeof(path), "%s%s", dir.data, suffix[i]);
        const char *text = i == 0 ? seq : i == 1 ? job->verbose : NULL;
        if (write_file(path, streams[i], text, lost) < 0)
            goto error;
        if (i == 1)
            snprintf(stdout_path, PATH_MAX, "%s", path);
    }
    util_buf_fini(&dir);
    return 0;
error:;
    int err = errno;
    snprintf(why, why_size, "cannot write --results %s: %s", path,
             strerror(err));
    util_buf_fini(&dir);
    errno = err;
    return -1;
}

/* GNU's combine_ref: a field is quoted when it holds a quote (doubled),
 * white space, the separator or a NUL. */
static int csv_field(util_buf_t *b, char sep, const char *s, size_t len,
                     bool first)
{
    bool quote = false;
    for (size_t i = 0; i < len && !quote; i++)
        quote = s[i] == '"' || s[i] == sep || s[i] == ' ' || s[i] == '\t' ||
                s[i] == '\n' || s[i] == '\r' || s[i] == '\f' ||
                s[i] == '\v' || s[i] == '\0';
    int rc = first ? 0 : util_buf_putc(b, sep);
    if (quote)
        rc |= util_buf_putc(b, '"');
    for (size_t i = 0; i < len && rc == 0; i++) {
        if (s[i] == '"')
            rc = util_buf_putc(b, '"');
        rc |= util_buf_putc(b, s[i]);
    }
    if (quote)
        rc |= util_buf_putc(b, '"');
    return rc < 0 ? -1 : 0;
}

static int json_text(util_buf_t *b, const char *s, size_t len)
{
    int rc = util_buf_putc(b, '"');
    for (size_t i = 0; i < len && rc == 0; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\')
            rc = util_buf_puts(b, "\\\\");
        else if (c == '"')
            rc = util_buf_puts(b, "\\\"");
        else if (c < 0x20)
            rc = util_buf_printf(b, "\\u%04x", c);
        else
            rc = util_buf_putc(b, (char)c);
    }
    return rc < 0 || util_buf_putc(b, '"') < 0 ? -1 : 0;
}

/* One row of --results X.csv/.tsv/.json (with the header before the first
 * row of a table).  The row's text, malloc'd, or NULL. */
static char *table_row(run_output_t *out, const run_output_job_t *job,
                       const exec_result_t *res, bool lost)
{
    const run_options_t *o = out->o;
    size_t olen, elen;
    char *so = stream_copy_head(res->out, lost, job->verbose, &olen);
    char *se = stream_copy(res->err, lost, &elen);
    util_buf_t b = UTIL_BUF_INIT;
    char num[8][40];
    snprintf(num[0], sizeof(num[0]), "%llu",
             (unsigned long long)job->index + 1);
    snprintf(num[1], sizeof(num[1]), "%.3f", res->start_time);
    double start = round(res->start_time * 1000.0) / 1000.0;
    snprintf(num[2], sizeof(num[2]), "%.3f",
             floor((res->end_time - start) * 1000.0) / 1000.0);
    snprintf(num[3], sizeof(num[3]), "%llu",
             (unsigned long long)job->receive);
    snprintf(num[4], sizeof(num[4]), "%d", run__joblog_exitval(res));
    snprintf(num[5], sizeof(num[5]), "%d", res->term_signal);
    const char *cmd = job->command ? job->command : "";
    int rc = 0;
    if (o->results_fmt == RUN_RESULTS_JSON) {
        rc = util_buf_printf(&b, "{ \"Seq\": %s, \"Host\": \":\", "
                             "\"Starttime\": %s, \"JobRuntime\": %s, "
                             "\"Send\": 0, \"Receive\": %s, \"Exitval\": %s, "
                             "\"Signal\": %s, \"Command\": ",
                             num[0], num[1], num[2], num[3], num[4], num[5]) |
             json_text(&b, cmd, strlen(cmd)) |
             util_buf_puts(&b, ", \"V\": [ ");
        for (size_t i = 0; i < job->nvals && rc == 0; i++)
            rc = (i ? util_buf_putc(&b, ',') : 0) |
                 json_text(&b, job->vals[i], strlen(job->vals[i]));
        rc |= util_buf_puts(&b, " ], \"Stdout\": ") |
              json_text(&b, so ? so : "", olen) |
              util_buf_puts(&b, ", \"Stderr\": ") |
              json_text(&b, se ? se : "", elen) | util_buf_puts(&b, " }\n");
    } else {
        char sep = o->results_fmt == RUN_RESULTS_TSV ? '\t' : ',';
        if (!out->header) {
            const char *cols[] = {"Seq", "Host", "Starttime", "JobRuntime",
                                  "Send", "Receive", "Exitval", "Signal",
                                  "Command"};
            for (size_t i = 0; i < 9; i++)
                rc |= csv_field(&b, sep, cols[i], strlen(cols[i]), i == 0);
            for (size_t i = 0; i < job->nvals; i++) {
                char v[32];
                const char *h = v;
                if (job->names && job->names[i])
                    h = job->names[i];
                else
                    snprintf(v, sizeof(v), "V%zu", i + 1);
                rc |= csv_field(&b, sep, h, strlen(h), false);
            }
            rc |= csv_field(&b, sep, "Stdout", 6, false) |
                  csv_field(&b, sep, "Stderr", 6, false) |
                  util_buf_putc(&b, '\n');
            if (rc < 0 || !(out->header = util_buf_steal(&b))) {
                rc = -1;
                util_buf_fini(&b);
            }
        }
        const char *f[8] = {num[0], ":", num[1], num[2], "0", num[3],
                            num[4], num[5]};
        for (size_t i = 0; i < 8; i++)
            rc |= csv_field(&b, sep, f[i], strlen(f[i]), i == 0);
        rc |= csv_field(&b, sep, cmd, strlen(cmd), false);
        for (size_t i = 0; i < job->nvals; i++)
            rc |= csv_field(&b, sep, job->vals[i], strlen(job->vals[i]),
                            false);
        rc |= csv_field(&b, sep, so ? so : "", olen, false) |
              csv_field(&b, sep, se ? se : "", elen, false) |
              util_buf_putc(&b, '\n');
    }
    free(so);
    free(se);
    if (rc < 0) {
        util_buf_fini(&b);
        return NULL;
    }
    return util_buf_steal(&b);
}

/* ------------------------------------------------------------- --files */

/* GNU's File::Temp name: TMPDIR/par + 5 characters + .par, made
 * exclusively.  The open fd, or -1 with errno. */
static int files_create(char *path, size_t size)
{
    static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
                              "vwxyz0123456789_";
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    for (int tries = 0; tries < 1000; tries++) {
        char x[6];
        for (int i = 0; i < 5; i++)
            x[i] = set[(unsigned)random() % (sizeof(set) - 1)];
        x[5] = '\0';
        snprintf(path, size, "%s/par%s.par", tmp, x);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    errno = EEXIST;
    return -1;
}

/* ------------------------------------------------------------ keep order */

static void heap_swap(parked_t *a, parked_t *b)
{
    parked_t t = *a;
    *a = *b;
    *b = t;
}

static int heap_push(run_output_t *out, const parked_t *p)
{
    if (out->nheap == out->capheap) {
        size_t cap = out->capheap ? out->capheap * 2 : 64;
        parked_t *h = realloc(out->heap, cap * sizeof(*h));
        if (!h)
            return -1;
        out->heap = h;
        out->capheap = cap;
    }
    size_t i = out->nheap++;
    out->heap[i] = *p;
    while (i > 0 && out->heap[(i - 1) / 2].index > out->heap[i].index) {
        heap_swap(&out->heap[(i - 1) / 2], &out->heap[i]);
        i = (i - 1) / 2;
    }
    return 0;
}

static parked_t heap_pop(run_output_t *out)
{
    parked_t top = out->heap[0];
    out->heap[0] = out->heap[--out->nheap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < out->nheap && out->heap[l].index < out->heap[m].index)
            m = l;
        if (r < out->nheap && out->heap[r].index < out->heap[m].index)
            m = r;
        if (m == i)
            break;
        heap_swap(&out->heap[i], &out->heap[m]);
        i = m;
    }
    return top;
}

/* 0, or -1 with errno (EPIPE, a closed stdout, is not an error). */
static int write_parked(run_output_t *out, parked_t *p)
{
    int rc = 0, err = 0;
    if (p->out && p->out_fd == out->table_fd && out->header &&
        !out->header_done) {
        out->header_done = true;
        if (util_write_all(p->out_fd, out->header, strlen(out->header)) < 0 &&
            errno != EPIPE) {
            rc = -1;
            err = errno;
        }
    }
    if (p->out && util_write_all(p->out_fd, p->out, p->out_len) < 0 &&
        errno != EPIPE && rc == 0) {
        rc = -1;
        err = errno;
    }
    if (p->err && util_write_all(STDERR_FILENO, p->err, p->err_len) < 0 &&
        errno != EPIPE && rc == 0) {
        rc = -1;
        err = errno;
    }
    if (p->log && out->joblog) {
        /* After the task's output, as GNU Parallel (--joblog - shows). */
        fwrite(p->log, 1, p->log_len, out->joblog);
        fflush(out->joblog);
    }
    parked_free(p);
    errno = err;
    return rc;
}

void run__output_drain(run_output_t *out, bool flush_all)
{
    for (;;) {
        while (out->skip && out->skip(out->next, out->skip_arg))
            out->next++;
        if (out->nheap == 0 ||
            (!flush_all && out->heap[0].index != out->next))
            return;
        parked_t p = heap_pop(out);
        if (p.index >= out->next)
            out->next = p.index + 1;
        (void)write_parked(out, &p); /* a closed stdout must not stop the run */
    }
}

/* ------------------------------------------------------------ one task */

/* Render what the task prints into p.  0, or -1 with why. */
static int render(run_output_t *out, const run_output_job_t *job,
                  const exec_result_t *res, bool lost, parked_t *p,
                  const char *stdout_path, char *why, size_t why_size)
{
    const run_options_t *o = out->o;
    p->out_fd = STDOUT_FILENO;
    if (o->results_dir && o->results_fmt != RUN_RESULTS_DIR) {
        p->out_fd = out->table_fd;
        p->out = table_row(out, job, res, lost);
        if (!p->out)
            goto nomem;
        p->out_len = strlen(p->out);
        return 0;
    }
    if (o->results_dir && o->out_mode == RUN_OUT_FILES && *stdout_path) {
        /* GNU: --files with --results prints the stdout file's name. */
        util_buf_t b = UTIL_BUF_INIT;
        if (util_buf_printf(&b, "%s%s\n", job->tag ? job->tag : "",
                            stdout_path) < 0) {
            util_buf_fini(&b);
            goto nomem;
        }
        p->out_len = b.len;
        p->out = util_buf_steal(&b);
        return 0;
    }
    if (o->results_dir || o->out_mode == RUN_OUT_UNGROUP)
        return 0;
    if (o->out_mode == RUN_OUT_FILES) {
        char path[PATH_MAX];
        int fd = files_create(path, sizeof(path));
        int rc = fd < 0 ? -1 : 0;
        if (rc == 0 && job->verbose)
            rc = util_write_all(fd, job->verbose, strlen(job->verbose));
        if (rc == 0 && res->out)
            rc = exec_stream_copy(res->out, fd, NULL);
        int err = errno;
        if (fd >= 0 && close(fd) < 0 && rc == 0) {
            rc = -1;
            err = errno;
        }
        if (rc < 0 && !lost) {
            snprintf(why, why_size, "cannot write --files %s: %s", path,
                     strerror(err));
            errno = err;
            return -1;
        }
        util_buf_t b = UTIL_BUF_INIT;
        if (util_buf_printf(&b, "%s%s\n", job->tag ? job->tag : "",
                            path) < 0) {
            util_buf_fini(&b);
            goto nomem;
        }
        p->out_len = b.len;
        p->out = util_buf_steal(&b);
        return 0;
    }
    if (o->out_mode == RUN_OUT_LINE && !o->keep_order) {
        /* What was not printed line by line: the last partial lines. */
        if (job->half_out && run__output_line(out, job->half_out,
                                              STDOUT_FILENO, job->tag, "", 0,
                                              true) < 0)
            goto nomem;
        if (job->half_err && run__output_line(out, job->half_err,
                                              STDERR_FILENO, job->tag, "", 0,
                                              true) < 0)
            goto nomem;
        return 0;
    }
    p->out = stream_render(res->out, lost, job->verbose, job->tag,
                           job->color, &p->out_len);
    if (!p->out && p->out_len)
        goto nomem;
    p->err = stream_render(res->err, lost, NULL, job->tag, job->color,
                           &p->err_len);
    if (!p->err && p->err_len)
        goto nomem;
    return 0;
nomem:
    snprintf(why, why_size, "cannot write its output: out of memory");
    errno = ENOMEM;
    return -1;
}

int run__output_task(run_output_t *out, run_output_job_t *job,
                     const exec_result_t *res, bool lost, char *why,
                     size_t why_size)
{
    const run_options_t *o = out->o;
    char stdout_path[PATH_MAX] = "";
    parked_t p = {.index = job->index, .log = job->joblog,
                  .log_len = job->joblog_len};
    job->joblog = NULL;
    bool failed = o->results_dir && o->results_fmt == RUN_RESULTS_DIR &&
                  write_results_dir(out, job, res, lost, stdout_path, why,
                                    why_size) < 0;
    int err = errno;
    bool direct = !o->keep_order && !job->tag && !job->color &&
                  !o->results_dir && o->out_mode == RUN_OUT_GROUP;
    /* GNU's -k --line-buffer is grouped output in order. */
    if (direct) {
        /* Straight from the streams, without a copy in memory. */
        const struct {
            const char *name;
            const exec_stream_t *s;
            int fd;
        } to[] = {{"stdout", res->out, STDOUT_FILENO},
                  {"stderr", res->err, STDERR_FILENO}};
        if (job->verbose && util_write_all(STDOUT_FILENO, job->verbose,
                                           strlen(job->verbose)) < 0 &&
            errno != EPIPE && !failed) {
            err = errno;
            snprintf(why, why_size, "cannot write its output to banyan's "
                     "stdout: %s", strerror(err));
            failed = true;
        }
        for (size_t i = 0; i < 2; i++) {
            if (!to[i].s || exec_stream_copy(to[i].s, to[i].fd, NULL) == 0 ||
                lost || errno == EPIPE || failed)
                continue;
            err = errno;
            snprintf(why, why_size, "cannot write its output to banyan's %s: "
                     "%s", to[i].name, strerror(err));
            failed = true;
        }
        (void)write_parked(out, &p); /* the joblog line */
        errno = err;
        return failed ? -1 : 0;
    }
    /* Rendered, then written or parked (even after a --results failure:
     * the tasks after it wait for its turn). */
    if (render(out, job, res, lost, &p, stdout_path, failed ? NULL : why,
               failed ? 0 : why_size) < 0) {
        if (!failed)
            err = errno;
        failed = true;
    }
    if (!o->keep_order) {
        if (write_parked(out, &p) < 0 && !failed) {
            err = errno;
            snprintf(why, why_size, "cannot write its output: %s",
                     strerror(err));
            failed = true;
        }
        errno = err;
        return failed ? -1 : 0;
    }
    if (heap_push(out, &p) < 0) {
        parked_free(&p);
        snprintf(why, why_size, "cannot keep its output: out of memory");
        return -1;
    }
    run__output_drain(out, false);
    errno = err;
    return failed ? -1 : 0;
}
