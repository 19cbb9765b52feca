/* SPDX-License-Identifier: MIT */
/* inputs_group.c - records grouped into jobs as GNU Parallel groups them
 * (-N, -n, -L, -m, -X, --xargs, -s), and GNU's command-line length limit.
 *
 * Jobs of a fixed number of records are computed from the job number.  Jobs
 * filled up to the length limit are found in one pass over the records, as
 * GNU's CommandLine::populate() finds them: a job takes records until its
 * line reaches the limit (the record that crossed it goes to the next job)
 * or it has max_args records; with -m or -X, the first job that reaches the
 * end of the input is cut again so that its records spread over the job
 * slots, and its size is the size of every later job.  The table keeps the
 * first record of each job: 8 bytes a job.
 *
 * A single record longer than the limit is a job of its own (GNU refuses
 * it: "Command line too long", as -x does here); the kernel's own limit
 * still applies.
 */
#include "inputs_private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------ the limit */

/* GNU's is_acceptable_command_line_length() for `echo ccc...` of len
 * bytes, decided from this system's limits instead of by running it: one
 * argument may have MAX_ARG_STRLEN bytes (with its NUL), and arguments and
 * environment together ARG_MAX. */
static bool acceptable(size_t len, size_t env_bytes)
{
    const size_t max_arg_strlen = 32 * 4096;
    const char *echo = "/usr/bin/echo";
    size_t arg = len - 1 - strlen(echo); /* the c's */
    long arg_max = sysconf(_SC_ARG_MAX);
    if (arg + 1 > max_arg_strlen)
        return false;
    return arg_max <= 0 || len + env_bytes < (size_t)arg_max;
}

static size_t binary_find_max(size_t lower, size_t upper, size_t env)
{
    for (;;) {
        if (lower == upper || lower + 1 == upper ||
            (double)lower / (double)upper > 0.99)
            return lower;
        size_t middle = (upper - lower) / 2 + lower;
        if (acceptable(middle, env))
            lower = middle;
        else
            upper = middle;
    }
}

size_t tmpl_max_line(void)
{
    extern char **environ;
    size_t env = 0;
    for (char **e = environ; e && *e; e++)
        env += strlen(*e) + 1 + sizeof(char *);
    /* GNU's find_max("c"): up by 16 from 324, then a binary search that
     * stops within 1 % */
    const size_t upper = 100000000;
    size_t len = 324, lower;
    do {
        if (len > upper)
            return len;
        lower = len;
        len *= 16;
    } while (acceptable(len, env));
    return binary_find_max(lower, len, env);
}

size_t tmpl_max_len(void)
{
    /* "Usable len = maxlen - 3000 for wrapping, div 2 for hexing" */
    size_t max = tmpl_max_line();
    return max > 3000 ? (max - 3000) / 2 : 1;
}

/* ---------------------------------------------------------------- grouping */

/* The line length of one record (GNU's cost: its length less the base). */
static int record_cost(const tmpl_inputs_t *in, const tmpl_group_t *g,
                       uint64_t rec, const char **vals, int64_t *cost)
{
    size_t n = tmpl_inputs_record(in, rec, vals);
    size_t len = g->len(g->len_arg, vals, n);
    if (len == SIZE_MAX)
        return -1;
    *cost = (int64_t)len - g->len_base;
    return 0;
}

static int fill_jobs(tmpl_inputs_t *in, const tmpl_group_t *g)
{
    uint64_t total = tmpl_inputs_count(in);
    uint64_t max_args = g->max_args ? g->max_args
                        : g->fill ? UINT64_MAX : 1;
    size_t cap = 0;
    uint64_t *first = NULL;
    const char **vals = malloc((in->width ? in->width : 1) * sizeof(*vals));
    int64_t *costs = NULL; /* of the records of the job being filled */
    size_t ccap = 0;
    if (!vals)
        goto nomem;
    bool spread = false;
    uint64_t njobs = 0, pos = 0, most = 1;
    while (pos < total) {
        uint64_t start = pos, k = 0;
        int64_t len = g->len_base;
        while (pos < total) {
            int64_t cost = 0;
            if (g->len && record_cost(in, g, pos, vals, &cost) < 0)
                goto error;
            if (g->len && len + cost >= (int64_t)g->max_len && k >= 1)
                break; /* the record goes to the next job */
            if (g->len && len + cost >= (int64_t)g->max_len &&
                g->exit_too_long) {
                if (g->too_long_rec)
                    *g->too_long_rec = pos;
                if (g->too_long_len)
                    *g->too_long_len = (size_t)(len + cost);
                errno = E2BIG;
                goto error;
            }
            if (util_grow((void **)&costs, &ccap, k + 1,
                          sizeof(*costs)) < 0)
                goto nomem;
            costs[k++] = cost;
            len += cost;
            pos++;
            if (k >= max_args)
                break;
        }
        if (g->spread && !spread && pos == total && g->slots > 0) {
            /* GNU: at the end of input, spread over the job slots; the
             * share is the size of every later job */
            spread = true;
            if (k > 1) {
                max_args = (k + g->slots - 1) / g->slots;
                pos = start + max_args;
                k = max_args;
            }
        }
        if (util_grow((void **)&first, &cap, njobs + 2, sizeof(*first)) < 0)
            goto nomem;
        first[njobs++] = start;
        if (k > most)
            most = k;
    }
    if (!first && !(first = malloc(sizeof(*first))))
        goto nomem;
    first[njobs] = total;
    free(vals);
    free(costs);
    in->job_first = first;
    in->njobs = njobs;
    in->room = (size_t)most * (in->width ? in->width : 1);
    return 0;
nomem:
    errno = ENOMEM;
error:
    free(vals);
    free(costs);
    free(first);
    return -1;
}

int tmpl_inputs_group(tmpl_inputs_t *in, const tmpl_group_t *g)
{
    uint64_t total = tmpl_inputs_count(in);
    free(in->job_first);
    in->job_first = NULL;
    in->grouped = true;
    in->zero_args = g->zero_args;
    if (g->zero_args) {
        in->per = 1;
        in->njobs = total;
        in->room = 1;
        return 0;
    }
    if (g->fill || (g->len && (g->max_args > 1 || g->exit_too_long)))
        return fill_jobs(in, g);
    in->per = g->max_args ? g->max_args : 1;
    in->njobs = total / in->per + (total % in->per != 0);
    uint64_t most = in->per < total ? in->per : (total ? total : 1);
    in->room = (size_t)most * (in->width ? in->width : 1);
    return 0;
}

uint64_t tmpl_inputs_jobs(const tmpl_inputs_t *in)
{
    return in->grouped ? in->njobs : tmpl_inputs_count(in);
}

size_t tmpl_inputs_job_room(const tmpl_inputs_t *in)
{
    size_t room = in->grouped ? in->room : in->width;
    return room ? room : 1;
}

int tmpl_inputs_job(const tmpl_inputs_t *in, uint64_t j, const char **vals,
                    size_t *nvals, size_t *arity)
{
    if (j >= tmpl_inputs_jobs(in)) {
        errno = ERANGE;
        return -1;
    }
    uint64_t first = j, last = j + 1;
    if (in->job_first) {
        first = in->job_first[j];
        last = in->job_first[j + 1];
    } else if (in->grouped) {
        first = j * in->per;
        last = first + in->per;
        if (last > tmpl_inputs_count(in))
            last = tmpl_inputs_count(in);
    }
    size_t n = 0, width = 0;
    bool same = true;
    if (!in->zero_args) {
        for (uint64_t r = first; r < last; r++) {
            size_t k = tmpl_inputs_record(in, r, vals + n);
            if (r == first)
                width = k;
            same = same && k == width;
            n += k;
        }
    }
    *nvals = n;
    if (arity)
        *arity = same ? width : 0;
    return 0;
}
