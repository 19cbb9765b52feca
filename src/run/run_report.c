/* SPDX-License-Identifier: MIT */
/* run_report.c - the GNU Parallel joblog and the progress bar. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run_private.h"

/* ----------------------------------------------------------------- joblog */

FILE *run__joblog_open(const char *path, bool append)
{
    FILE *f;
    if (!strcmp(path, "-")) {
        /* GNU's --joblog -: the lines go to stdout, between the tasks'
         * output, each flushed as it is written. */
        int fd = dup(STDOUT_FILENO);
        if (fd < 0 || !(f = fdopen(fd, "w"))) {
            if (fd >= 0)
                close(fd);
            return NULL;
        }
    } else if (!(f = fopen(path, append ? "a" : "w"))) {
        return NULL;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size == 0)
        fputs("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\t"
              "Signal\tCommand\n",
              f);
    fflush(f);
    return f;
}

int run__joblog_exitval(const exec_result_t *res)
{
    /* GNU Parallel: -1 for a task it killed for its timeout; the exit
     * status otherwise, 0 when a signal ended it (Perl's $? >> 8). */
    if (res->timed_out)
        return -1;
    return res->term_signal ? 0 : res->exit_code;
}

char *run__joblog_line(uint64_t seq, const char *host,
                       const exec_result_t *res, uint64_t receive,
                       const char *command, size_t *len)
{
    util_buf_t b = UTIL_BUF_INIT;
    /* GNU's JobRuntime: the end less the start rounded to 3 decimals,
     * truncated to 3 decimals. */
    double start = round(res->start_time * 1000.0) / 1000.0;
    double runtime = floor((res->end_time - start) * 1000.0) / 1000.0;
    if (util_buf_printf(&b, "%llu\t%s\t%.3f\t%10.3f\t0\t%llu\t%d\t%d\t",
                        (unsigned long long)seq, host, res->start_time,
                        runtime < 0 ? 0.0 : runtime,
                        (unsigned long long)receive,
                        run__joblog_exitval(res), res->term_signal) < 0)
        goto error;
    /* Newlines would break the format: GNU writes them as NUL bytes. */
    for (const char *p = command; *p; p++)
        if (util_buf_putc(&b, *p == '\n' ? '\0' : *p) < 0)
            goto error;
    if (util_buf_putc(&b, '\n') < 0)
        goto error;
    *len = b.len;
    return util_buf_steal(&b);
error:
    util_buf_fini(&b);
    return NULL;
}

/* One line of an earlier joblog: 0 and the fields, or -1 when it is not
 * one ("Seq\tHost..." or garbage). */
static int joblog_fields(char *line, uint64_t *seq, long *exitval,
                         long *sig, char **command)
{
    char *f[9];
    char *p = line;
    for (int i = 0; i < 8; i++) {
        f[i] = p;
        p = strchr(p, '\t');
        if (!p)
            return -1;
        *p++ = '\0';
    }
    f[8] = p;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(f[0], &end, 10);
    if (errno || end == f[0] || *end || n == 0)
        return -1;
    *seq = n;
    *exitval = strtol(f[6], &end, 10);
    if (end == f[6] || *end)
        return -1;
    *sig = strtol(f[7], &end, 10);
    if (end == f[7] || *end)
        return -1;
    *command = f[8];
    return 0;
}

int run__joblog_read(const char *path, bool failed_only,
                     run_joblog_visit_fn visit, void *arg,
                     banyan_error_t *error)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        return errprintf(error, "cannot read --joblog %s: %s", path,
                         strerror(errno));
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    bool first = true;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] == '\n')
            line[--n] = '\0';
        bool header = first && !strncmp(line, "Seq\t", 4);
        first = false;
        if (header)
            continue;
        uint64_t seq;
        long exitval, sig;
        char *command;
        if (joblog_fields(line, &seq, &exitval, &sig, &command) < 0) {
            rc = errprintf(error, "Format of '%s' is wrong: %s", path,
                           line);
            break;
        }
        for (char *p = command; p < line + n; p++) /* NUL: a newline */
            if (!*p)
                *p = '\n';
        bool ok = exitval == 0 && sig == 0;
        if ((rc = visit(seq, ok || !failed_only, ok, command, arg)) < 0)
            break;
    }
    free(line);
    fclose(f);
    return rc;
}

/* --------------------------------------------------------------- progress */

static void format_hms(char *buf, size_t size, double s)
{
    long t = s > 0 ? (long)(s + 0.5) : 0;
    snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
}

void run__progress_draw(run_progress_t *p, int64_t now_ms)
{
    uint64_t done = p->ok + p->failed;
    double frac = p->total ? (double)done / (double)p->total : 1.0;
    double elapsed = (double)(now_ms - p->start_ms) / 1000.0;
    char eta[32] = "?";
    if (done > 0 && done < p->total)
        format_hms(eta, sizeof(eta),
                   elapsed / (double)done * (double)(p->total - done));
    else if (done == p->total)
        format_hms(eta, sizeof(eta), 0);
    enum { WIDTH = 24 };
    char bar[WIDTH + 1];
    int fill = (int)(frac * WIDTH);
    for (int i = 0; i < WIDTH; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[WIDTH] = '\0';
    const char *red = getenv("NO_COLOR") ? "" : "\033[31m";
    const char *reset = getenv("NO_COLOR") ? "" : "\033[0m";
    util_log("\r\033[K[%s] %3d%% %llu/%llu  running %llu  ok %llu  "
             "%sfailed %llu%s  ETA %s",
             bar, (int)(frac * 100), (unsigned long long)done,
             (unsigned long long)p->total, (unsigned long long)p->running,
             (unsigned long long)p->ok, p->failed ? red : "",
             (unsigned long long)p->failed, p->failed ? reset : "", eta);
    p->shown = true;
}

void run__progress_end(run_progress_t *p, int64_t now_ms)
{
    if (!p->shown)
        return;
    run__progress_draw(p, now_ms);
    util_log("\n");
    p->shown = false;
}
