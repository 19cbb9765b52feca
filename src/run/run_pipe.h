/* SPDX-License-Identifier: MIT */
/* run_pipe.h - GNU Parallel's --pipe family: input cut into blocks, one task
 * per block, each task's stdin its block.
 *
 * --pipe reads banyan's stdin on a thread of its own and cuts it where GNU
 * Parallel 20221122 cuts it (its spreadstdin(): a buffer filled up to a
 * multiple of --block, cut at the last record boundary, -N records or -L
 * lines per block, --header repeated to every block).  Each block becomes a
 * temporary file in $TMPDIR, handed to the run as it is cut, so tasks
 * start while the input is still being read; the reader stays a bounded
 * number of blocks ahead of the tasks that have ended (stdin larger than
 * memory and than TMPDIR works).  A block's file is removed when its task
 * has ended for good, and every file left is removed by
 * run__pipe_destroy() (normal end, --halt, SIGINT/SIGTERM/SIGHUP).
 *
 * --pipepart cuts the -a file by offset (GNU's find_split_positions) at
 * start; a block's file is copied from its range (copy_file_range) only
 * when its task starts.  --roundrobin gives each of the -j tasks every
 * -j-th block (the whole input is read before they start).  --cat gives
 * the block's file as {}, --fifo a named pipe fed with the block.  --tee
 * gives all of stdin to every task (the tasks are then the inputs').
 */
#ifndef BANYAN_RUN_PIPE_H
#define BANYAN_RUN_PIPE_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include <banyan/error.h>

#include "exec/exec.h"
#include "sched/sched.h"
#include "tmpl/tmpl.h"

/* The options, as GNU Parallel names them. */
typedef struct run_pipe_options {
    bool pipe;               /* --pipe / --spreadstdin (or --cat, --fifo) */
    const char *part_path;   /* --pipepart: the -a file; NULL = stdin */
    const char *block;       /* --block as given; NULL = GNU's default */
    const char *recstart;    /* --recstart; NULL = unset */
    const char *recend;      /* --recend; NULL = unset ("\n" if neither) */
    bool regexp;             /* --regexp: recstart/recend are regexps */
    bool rrs;                /* --remove-rec-sep / --rrs */
    uint64_t max_records;    /* -N / -n: records per block; 0 = as many as
                                fit in --block */
    uint64_t max_lines;      /* -L / --max-lines: lines per record */
    const char *header;      /* --header: ":" (1 line), N (lines) or a
                                regexp; NULL = none */
    bool roundrobin;         /* --roundrobin */
    bool cat;                /* --cat: {} is the block's file */
    bool fifo;               /* --fifo: {} is a fifo fed with the block */
    bool tee;                /* --tee: every task gets all of stdin */
    const char *group_by;    /* --group-by COL: a block never splits a run
                                of lines with the same COL (a number, or
                                a name from the first line) */
    const char *colsep;      /* --colsep for --group-by (literal; default
                                a TAB) */
} run_pipe_options_t;

typedef struct run_pipe run_pipe_t;

/* True when any option of the family is on. */
bool run_pipe_enabled(const run_pipe_options_t *po);

/* Check the options (and GNU's rules between them) once all are parsed:
 * 0, or -1 EINVAL with the sentence in error ("--fifo cannot be combined
 * with --cat").  has_sources: the command line has ::: or :::: sources
 * (only --tee takes them). */
int run_pipe_check(const run_pipe_options_t *po, bool has_sources,
                   banyan_error_t *error);

/* GNU Parallel's size with a prefix (--block): k=1000, K=ki=Ki=1024, m, M,
 * g, G, t, T... and fractions ("1.5M").  0 or -1 EINVAL. */
int run_pipe_parse_size(const char *s, double *out);

/* Start cutting: open the --pipepart file and find its blocks, or start the
 * reader of stdin (its wake-ups arrive on loop).  jobs is -j.  NULL with
 * errno and error text.  Caller must destroy with run__pipe_destroy(). */
run_pipe_t *run__pipe_create(const run_pipe_options_t *po, uv_loop_t *loop,
                             uint32_t jobs, banyan_error_t *error);

/* Stop the reader, remove every block file and fifo left.  The memory is
 * freed by the loop's close callback: run loop once more afterwards.
 * Accepts NULL. */
void run__pipe_destroy(run_pipe_t *p);

/* True when the tasks are the inputs' (--tee), not the blocks. */
bool run__pipe_tee(const run_pipe_t *p);

/* Queue the blocks cut since the last call as tasks of job_id (indices in
 * block order); adds their number to *queued.  Returns true while more
 * blocks may come. */
bool run__pipe_refill(run_pipe_t *p, sched_t *s, uint32_t job_id,
                      uint64_t *queued);

/* Before the template is expanded for task index: with --cat / --fifo, {}
 * is the block's file (or fifo) name (ctx->vals, ctx->nvals = 1). 0 or -1
 * with error text (the block could not be made). */
int run__pipe_ctx(run_pipe_t *p, uint64_t index, tmpl_ctx_t *ctx,
                  banyan_error_t *error);

/* After the template was expanded: the block as the task's stdin, and with
 * --fifo the command wrapped so that the fifo is fed.  Pointers kept in
 * spec live until run__pipe_release(). 0 or -1 with error text. */
int run__pipe_spec(run_pipe_t *p, uint64_t index, exec_spec_t *spec,
                   banyan_error_t *error);

/* Task index ended for good: remove its block's files. */
void run__pipe_release(run_pipe_t *p, uint64_t index);

#endif /* BANYAN_RUN_PIPE_H */
