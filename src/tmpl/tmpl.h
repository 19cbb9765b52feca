/* SPDX-License-Identifier: MIT */
/* tmpl.h - GNU Parallel style command templates and input sources.
 *
 * Inputs: sources are added in order.  ":::" values form a source, ":::+"
 * values are linked to the previous source (the n-th value of each goes
 * together; the group stops with its shortest source, as GNU Parallel 20221122
 * does; with --link every source is linked and shorter ones wrap around),
 * "::::" reads a source from a file (one value a line, or as the reading
 * options say), "::::+" links it.  Without any source, lines of stdin form
 * one.  An empty source counts as one empty value unless every source is
 * empty (GNU's rule).  The records are all combinations of the groups of
 * linked sources, the last group varying fastest; the i-th combination is
 * computed from i (mixed radix), so inputs are never expanded into memory
 * beyond the source values themselves (a pointer a value).  A job is a run of
 * consecutive records (one, unless grouped: -N, -m, -X, ...).
 *
 * Template: replacement strings are {} (all values joined by a space), {n}
 * (the n-th value, 1-based), {.} (without extension), {/} (basename), {//}
 * (dirname), {/.} (basename without extension), the same with a position
 * ({2.}, {1/}, {3//}, {1/.}), {#} (task number, 1-based) and {%} (slot
 * number).  A template without any value replacement string gets the values
 * appended as extra arguments.
 *
 * Command forms: given several words (after "--"), each word is one argument
 * of the program and substitution is literal: no shell is involved, so
 * `sh -c 'echo $X' ::: a` works as written.  Given a single word that
 * contains spaces or shell syntax, it is a shell command: it runs under
 * /bin/sh -c and substituted values are shell-quoted (GNU Parallel's
 * behaviour).
 */
#ifndef BANYAN_TMPL_H
#define BANYAN_TMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <banyan/error.h>

#include "util/util.h"

/* ------------------------------------------------------------------ inputs */

typedef struct tmpl_inputs tmpl_inputs_t;

/* Caller must destroy with tmpl_inputs_destroy(). NULL with ENOMEM. */
tmpl_inputs_t *tmpl_inputs_create(void);
void tmpl_inputs_destroy(tmpl_inputs_t *in);

/* Add a source of values (copied).  linked: pair with the previous source
 * (":::+", "::::+").  0 or -1 EINVAL ("linked with nothing before") with
 * error. */
int tmpl_inputs_add_values(tmpl_inputs_t *in, const char *const *values,
                           size_t n, bool linked, banyan_error_t *error);

/* The longest input line a file source may have, in bytes. */
#define TMPL_LINE_MAX (1 << 20)

/* Add a source read from a file, one value a line ("-" = stdin).  0 or -1
 * with errno and error text naming the file (and the line, for a NUL byte:
 * EINVAL, or a line longer than TMPL_LINE_MAX: EFBIG). */
int tmpl_inputs_add_file(tmpl_inputs_t *in, const char *path, bool linked,
                         banyan_error_t *error);

/* Number of values a record has at most (the sources; with --colsep or
 * --csv, the widest record's columns) and of records (combinations). */
size_t tmpl_inputs_arity(const tmpl_inputs_t *in);
uint64_t tmpl_inputs_count(const tmpl_inputs_t *in);

/* The values of record i (0-based) into vals[0..arity-1], one a source
 * (the first column with --colsep).  Pointers borrowed; valid until
 * destroy.  0 or -1 ERANGE. */
int tmpl_inputs_get(const tmpl_inputs_t *in, uint64_t i, const char **vals);

/* All values of record i (every column of every source) into vals (room for
 * tmpl_inputs_arity()).  Returns their number, or 0 with ERANGE. */
size_t tmpl_inputs_record(const tmpl_inputs_t *in, uint64_t i,
                          const char **vals);

/* --- reading (GNU Parallel's input options) --- */

typedef enum tmpl_trim {
    TMPL_TRIM_NONE = 0, TMPL_TRIM_LEFT, TMPL_TRIM_RIGHT, TMPL_TRIM_BOTH
} tmpl_trim_t;

typedef struct tmpl_read {
    const char *delim;    /* -d/-0: what ends a value (":::" values too are
                             split by it); NULL = a newline, "\r\n" too */
    size_t delim_len;     /* bytes of delim (-0: 1, a NUL) */
    const char *eof;      /* -E: a value equal to it ends its source */
    bool skip_empty;      /* -r: drop values of white space only */
    bool continue_lines;  /* -L/-l: a value ending in white space goes on
                             with the next one */
    tmpl_trim_t trim;     /* --trim (--colsep implies both ends) */
    const char *colsep;   /* --colsep: a Perl-style regular expression
                             splitting each value into columns */
    bool csv;             /* --csv: RFC 4180 columns (separator colsep,
                             else ",") */
    bool header;          /* --header: the first value of each source names
                             its columns (split by colsep, else a TAB) */
    bool link;            /* --link: all sources linked, shorter ones wrap */
} tmpl_read_t;

/* Parse a --trim value (n l r lr rl).  0, or -1 EINVAL. */
int tmpl_trim_parse(const char *s, tmpl_trim_t *trim);

/* Decode GNU's escapes of -d (\n \t \r \0 \NNN octal) into out (room
 * for strlen(s) + 1); returns the length. */
size_t tmpl_unescape_delim(const char *s, char *out);

/* How sources added from now on are read (strings copied).  0, or -1
 * EINVAL with error (a --colsep that is not a valid expression) or ENOMEM.
 * With a header, tmpl_inputs_names() gives the column names. */
int tmpl_inputs_set_read(tmpl_inputs_t *in, const tmpl_read_t *r,
                         banyan_error_t *error);

/* The --header names of positions 1..*n (NULL and 0 without --header).
 * Borrowed; valid until destroy. */
const char *const *tmpl_inputs_names(const tmpl_inputs_t *in, size_t *n);

/* --- jobs: runs of consecutive records (-N, -n, -L, -m, -X, --xargs) --- */

/* The length, as GNU Parallel counts it, of the command line of a job made
 * of the one record vals[0..nvals).  SIZE_MAX on error. */
typedef size_t (*tmpl_len_fn)(void *arg, const char *const *vals,
                              size_t nvals);

typedef struct tmpl_group {
    uint64_t max_args;    /* records a job at most; 0 = 1 unless fill */
    bool zero_args;       /* -n0/-N0: a job a record, without its values */
    bool fill;            /* -m/-X/--xargs: as many as max_len permits */
    bool spread;          /* -m/-X: at the end of input, spread the records
                             of the job over the job slots (GNU) */
    uint32_t slots;       /* -j, for spread */
    size_t max_len;       /* a job's line stays shorter (tmpl_max_len()) */
    /* A job of records r1..rk is len_base + sum(len(ri) - len_base) long,
     * len_base being 2 len(r) - len(r r) for a record r: GNU's count. */
    tmpl_len_fn len;      /* NULL: no length limit */
    void *len_arg;
    int64_t len_base;
} tmpl_group_t;

/* The line length GNU Parallel allows (its --show-limits "Maximal usable
 * size of command"): GNU's search for the longest command line, run
 * against this system's limits, less 3000, halved (63664 on Linux). */
size_t tmpl_max_len(void);
/* The longest command line (GNU's --max-line-length-allowed). */
size_t tmpl_max_line(void);

/* Group the records into jobs.  Call once, after the sources.  0, or -1
 * ENOMEM. */
int tmpl_inputs_group(tmpl_inputs_t *in, const tmpl_group_t *g);

/* Number of jobs (= records unless grouped). */
uint64_t tmpl_inputs_jobs(const tmpl_inputs_t *in);

/* Room vals needs for any job of tmpl_inputs_job(). */
size_t tmpl_inputs_job_room(const tmpl_inputs_t *in);

/* The values of job j (0-based), its records' values one after the other,
 * into vals (room: tmpl_inputs_job_room()); *nvals their number, *arity
 * (may be NULL) the values a record (0 when they differ).  Pointers
 * borrowed; valid until destroy.  0 or -1 ERANGE. */
int tmpl_inputs_job(const tmpl_inputs_t *in, uint64_t j, const char **vals,
                    size_t *nvals, size_t *arity);

/* A stable identity of all values, and of how they were read and grouped
 * (hex digest) for --resume.  Into buf of
 * at least 33 bytes. Returns buf. */
char *tmpl_inputs_fingerprint(const tmpl_inputs_t *in, char *buf);

/* ---------------------------------------------------------------- template */

typedef struct tmpl tmpl_t;

/* Parse a command template from its words.  NULL with EINVAL and error text
 * naming the word and 1-based column of a malformed replacement string (an
 * unterminated "{1", "{0}", "{-1}"), or "empty command" when nwords < 1.
 * Other "{...}" text that is not a replacement string (e.g. "{x}", "{a,b}",
 * "${HOME}", "{ }") is kept as it is.  Caller must destroy with
 * tmpl_destroy(). */
tmpl_t *tmpl_parse(const char *const *words, int nwords,
                   banyan_error_t *error);
void tmpl_destroy(tmpl_t *t);

/* True when the template runs under /bin/sh -c. */
bool tmpl_is_shell(const tmpl_t *t);

/* Highest {n} position used (0 if none). */
int tmpl_max_position(const tmpl_t *t);

/* True when the template has a value replacement string ({}, {n} or one of
 * their modifiers; {#} and {%} do not count).  Without one, tmpl_expand()
 * appends the values. */
bool tmpl_uses_values(const tmpl_t *t);

/* Check, once inputs are known, that every {n} has a value: 0, or -1 EINVAL
 * with "template uses {3} but there are only 2 input sources". */
int tmpl_check_arity(const tmpl_t *t, size_t nvals, banyan_error_t *error);

typedef struct tmpl_ctx {
    const char *const *vals;  /* the task's values */
    size_t nvals;
    uint64_t seq;             /* {#} */
    uint32_t slot;            /* {%} */
} tmpl_ctx_t;

/* Expand into an argv: *argv_out is one malloc'd block holding the NULL-ended
 * pointer array and the strings (free it with free()).  *line_out (may be
 * NULL) receives the command line as text, for logs and the joblog (shell
 * quoted in argv form).  0, -1 ENOMEM / ERANGE ({5} with 3 values). */
int tmpl_expand(const tmpl_t *t, const tmpl_ctx_t *ctx, char ***argv_out,
                char **line_out);

#endif /* BANYAN_TMPL_H */
