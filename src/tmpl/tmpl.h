/* SPDX-License-Identifier: MIT */
/* tmpl.h - GNU Parallel style command templates and input sources.
 *
 * Inputs: sources are added in order.  ":::" values form a source, ":::+"
 * values are linked to the previous source (the n-th value of each goes
 * together; a shorter source wraps around, as with GNU Parallel's --link),
 * "::::" reads a source from a file (one value a line), "::::+" links it.
 * Without any source, lines of stdin form one.  The tasks are all
 * combinations of the groups of linked sources, the last group varying
 * fastest; the i-th combination is computed from i (mixed radix), so inputs
 * are never expanded into memory beyond the source values themselves.
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

/* Number of sources (= positions {1}..{n}) and of tasks (combinations). */
size_t tmpl_inputs_arity(const tmpl_inputs_t *in);
uint64_t tmpl_inputs_count(const tmpl_inputs_t *in);

/* The values of task i (0-based) into vals[0..arity-1].  Pointers borrowed;
 * valid until destroy.  0 or -1 ERANGE. */
int tmpl_inputs_get(const tmpl_inputs_t *in, uint64_t i, const char **vals);

/* A stable identity of all values (hex digest) for --resume.  Into buf of
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
