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
 * Template: GNU Parallel's command line semantics and replacement strings;
 * see the template part below and docs/templates.md.
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
    /* -x, GNU's rule: a record longer than max_len alone is an error
     * (E2BIG; its index and length into *too_long_rec, *too_long_len)
     * instead of a job of its own */
    bool exit_too_long;
    uint64_t *too_long_rec;
    size_t *too_long_len;
} tmpl_group_t;

/* The line length GNU Parallel allows (its --show-limits "Maximal usable
 * size of command"): GNU's search for the longest command line, run
 * against this system's limits, less 3000, halved (63664 on Linux). */
size_t tmpl_max_len(void);
/* The longest command line (GNU's --max-line-length-allowed). */
size_t tmpl_max_line(void);

/* Group the records into jobs.  Call once, after the sources.  0, or -1
 * ENOMEM, E2BIG (exit_too_long) or the errno of g->len. */
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

/* Template semantics (GNU Parallel's, unless syntax->argv_words):
 *
 * The command words are joined with spaces into ONE shell command line; the
 * words themselves are not quoted, only the substituted values are (GNU's
 * quoting: 'it'"'"'s').  With syntax->quote (-q) each word is quoted as
 * well, so the words reach the program as they are.  Every replacement
 * string ({}, {n}, {.}, {#}, {%}, {= perl =}, --plus strings, --rpl tags,
 * the -I family) counts: a template without any gets " {}" appended.  {}
 * with several values gives one quoted word per value.  The job runs as
 * SHELL -c LINE (tmpl_shell()), or, when the line has no shell syntax (only
 * plain words and values quoted by banyan) and its program is not a shell
 * keyword, builtin or exported function, directly with an argv.
 *
 * syntax->argv_words keeps banyan's older semantics for cluster jobs
 * (`banyan submit`): several words are an argv, substituted literally; a
 * single word with shell syntax runs under /bin/sh -c with quoted values;
 * {#} and {%} do not count as value replacement strings. */

typedef struct tmpl tmpl_t;

/* How several values of one job are substituted: one word each ({} gives
 * 'a' 'b'); -m: the same, and the values are one record (GNU's -m joins
 * them with spaces where {} is); -X: context replace, the word around the
 * replacement string repeated for each value (x{}y -> xay xby). */
typedef enum { TMPL_MULTI_NONE, TMPL_MULTI_M, TMPL_MULTI_X } tmpl_multi_t;

typedef struct tmpl_syntax {
    bool quote;               /* -q/--quote: quote the command words too */
    bool argv_words;          /* banyan's older semantics (cluster jobs) */
    bool commands_from_input; /* no command: each value is a command line */
    bool plus;                /* --plus: its replacement strings */
    tmpl_multi_t multi;       /* -m / -X */
    const char *const *names; /* --header: column names, {name} = {i+1} */
    size_t nnames;
    /* the -I family: another text for a built-in string, NULL = default */
    const char *replace;       /* -I / --replace: {} */
    const char *extensor;      /* --extensor / -U: {.} */
    const char *basename;      /* --basenamereplace / --bnr: {/} */
    const char *dirname;       /* --dirnamereplace / --dnr: {//} */
    const char *basename_ext;  /* --basenameextensionreplace / --bner: {/.} */
    const char *seq;           /* --seqreplace: {#} */
    const char *slot;          /* --slotreplace: {%} */
    const char *const *rpl;   /* --rpl 'TAG perlexpr', in order given */
    size_t nrpl;
    const char *parens;       /* --parens, NULL = "{==}" */
    const char *shell;        /* the job shell, NULL = tmpl_default_shell() */
    bool shell_quote;         /* --shell-quote: the line is quoted once more */
} tmpl_syntax_t;

/* The shell GNU Parallel would pick: $PARALLEL_SHELL, else the calling
 * shell (the nearest ancestor process whose command is a known shell, as
 * GNU finds it through /proc), else $SHELL, else /bin/sh.  Computed once;
 * the string is static. */
const char *tmpl_default_shell(void);

/* Parse a command template from its words.  syntax NULL = GNU defaults.
 * NULL with EINVAL and error text naming the word and 1-based column of a
 * malformed replacement string, a perl expression perl cannot compile ("Cannot
 * use EXPR: ..." as GNU), or "empty command" when nwords < 1 (unless
 * syntax->commands_from_input, where words may be empty).  Other "{...}"
 * text that is not a replacement string is kept as it is.  A template
 * with perl starts one perl co-process, used by every expansion and ended
 * by tmpl_destroy().  Caller must destroy with tmpl_destroy(). */
tmpl_t *tmpl_parse(const char *const *words, int nwords,
                   const tmpl_syntax_t *syntax, banyan_error_t *error);

/* A text template (--tagstring, --results names, --wd): replacement strings
 * as in a command, values not quoted, nothing appended. */
tmpl_t *tmpl_parse_text(const char *text, const tmpl_syntax_t *syntax,
                        banyan_error_t *error);

/* Ends the perl co-process, if any (killed and reaped). */
void tmpl_destroy(tmpl_t *t);

/* True when jobs may run under the shell (any shell syntax). */
bool tmpl_is_shell(const tmpl_t *t);

/* The shell jobs run under ("/bin/sh" for argv_words templates). */
const char *tmpl_shell(const tmpl_t *t);

/* True when the template evaluates perl ({= =}, --rpl, most --plus). */
bool tmpl_uses_perl(const tmpl_t *t);

/* Highest {n} position used (0 if none). */
int tmpl_max_position(const tmpl_t *t);

/* True when the template has a replacement string.  GNU semantics: every
 * replacement string counts ({#} too); argv_words: only value strings. */
bool tmpl_uses_values(const tmpl_t *t);

/* Check, once inputs are known, that every {n} has a value: 0, or -1 EINVAL
 * with "template uses {3} but there are only 2 input sources".  Only
 * argv_words templates check (GNU gives an empty string instead). */
int tmpl_check_arity(const tmpl_t *t, size_t nvals, banyan_error_t *error);

typedef struct tmpl_ctx {
    const char *const *vals;  /* the job's values, record-major */
    size_t nvals;
    size_t arity;             /* values per record (0 = nvals) */
    uint64_t seq;             /* {#} */
    uint32_t slot;            /* {%} */
    uint64_t total;           /* total_jobs(), {##}; 0 = unknown */
} tmpl_ctx_t;

/* Expand into an argv: *argv_out is one malloc'd block holding the NULL-ended
 * pointer array and the strings (free it with free()).  *line_out (may be
 * NULL) receives the command line as text, as GNU prints it with --dry-run
 * and writes it in the joblog.  Returns 0; 1 when a perl expression called
 * skip(): the job is to be skipped (GNU records it as failed, Exitval -2,
 * but --dry-run prints it), argv and line are filled all the same; -1
 * ENOMEM, ERANGE ({5} with 3 values, argv_words only) or EIO (the perl
 * co-process failed; perl printed why). */
int tmpl_expand(const tmpl_t *t, const tmpl_ctx_t *ctx, char ***argv_out,
                char **line_out);

/* Expand a text template: a malloc'd string, NULL with errno (ENOMEM,
 * EIO).  An expression calling skip() yields the text anyway. */
char *tmpl_expand_text(const tmpl_t *t, const tmpl_ctx_t *ctx);

#endif /* BANYAN_TMPL_H */
