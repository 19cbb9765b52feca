/* SPDX-License-Identifier: MIT */
/* template.c - parse a GNU Parallel style command template once, expand it
 * for each task.
 *
 * tmpl_parse() turns every word into a list of segments: literal text, or a
 * replacement string (a value position with a modifier, the task number or
 * the slot number).  Expansion walks the segments twice, first to size the
 * result and then to write it, so that one task costs one allocation for
 * its argv (pointers and strings in one block) and one for its text line.
 *
 * Every modifier ({.}, {/}, {//}, {/.}) yields a substring of the value or
 * a constant ("." or "/" from {//}), so modifiers never allocate either.
 *
 * The shell form (one word holding spaces or shell syntax) runs as
 * /bin/sh -c and shell-quotes each substituted value; the argv form
 * substitutes literally.  Whether a word holds shell syntax is decided on
 * its literal text only, so that "{#}" alone does not make a shell command.
 */
#include "tmpl.h"
#include "util/util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum seg_kind {
    SEG_LITERAL,
    SEG_VALUE,   /* {} or {n}, with a modifier */
    SEG_SEQ,     /* {#} */
    SEG_SLOT,    /* {%} */
} seg_kind_t;

typedef enum seg_mod {
    MOD_NONE,     /* {}     the value */
    MOD_NOEXT,    /* {.}    without extension */
    MOD_BASE,     /* {/}    basename */
    MOD_DIR,      /* {//}   dirname */
    MOD_BASENOEXT /* {/.}   basename without extension */
} seg_mod_t;

typedef struct seg {
    seg_kind_t kind;
    seg_mod_t mod;
    int pos;            /* SEG_VALUE: 1-based position, 0 = all values */
    const char *text;   /* SEG_LITERAL: into the template's text block */
    size_t len;
} seg_t;

typedef struct word {
    size_t first;       /* index of its first segment */
    size_t nseg;
} word_t;

struct tmpl {
    char *text;         /* copies of all words, NUL-separated */
    word_t *words;
    int nwords;
    seg_t *segs;
    size_t nsegs;
    bool shell;         /* run as /bin/sh -c */
    bool uses_values;   /* has {}, {n} or one of their modifiers */
    int max_pos;        /* highest {n} */
};

/* ---------------------------------------------------------------- parsing */

/* Characters that make a single word a shell command. */
static const char shell_chars[] = " \t\n\r\v\f|&;<>()$`\\\"'*?[]#~";

/* Recognise a modifier and the closing brace at p.  Returns the number of
 * bytes consumed (modifier and "}"), or 0 when there is none. */
static size_t match_mod(const char *p, seg_mod_t *mod)
{
    static const struct {
        const char *text;
        seg_mod_t mod;
    } mods[] = {
        {"}", MOD_NONE},     {".}", MOD_NOEXT},       {"/}", MOD_BASE},
        {"//}", MOD_DIR},    {"/.}", MOD_BASENOEXT},
    };
    for (size_t i = 0; i < sizeof(mods) / sizeof(mods[0]); i++) {
        size_t n = strlen(mods[i].text);
        if (strncmp(p, mods[i].text, n) == 0) {
            *mod = mods[i].mod;
            return n;
        }
    }
    return 0;
}

typedef struct parser {
    tmpl_t *t;
    size_t segcap;
    banyan_error_t *error;
} parser_t;

static int push_seg(parser_t *ps, seg_t seg)
{
    tmpl_t *t = ps->t;
    if (seg.kind == SEG_LITERAL && seg.len == 0)
        return 0;
    if (util_grow((void **)&t->segs, &ps->segcap, t->nsegs + 1,
                  sizeof(*t->segs)) < 0)
        return errprintf(ps->error, "out of memory parsing the command");
    t->segs[t->nsegs++] = seg;
    return 0;
}

/* Try to read a replacement string at w[i] == '{'.  Returns the bytes it
 * spans and fills seg, 0 when the text is not a replacement string (kept
 * literally), or -1 with error text for a malformed one. */
static long parse_repl(parser_t *ps, const char *w, size_t i, int wordno,
                       seg_t *seg)
{
    const char *p = w + i + 1;
    seg_mod_t mod;
    size_t n;
    *seg = (seg_t){.kind = SEG_VALUE};
    if (*p == '#' && p[1] == '}') {
        seg->kind = SEG_SEQ;
        return 3;
    }
    if (*p == '%' && p[1] == '}') {
        seg->kind = SEG_SLOT;
        return 3;
    }
    if ((n = match_mod(p, &mod)) > 0) {
        seg->mod = mod;
        return (long)(n + 1);
    }
    bool neg = *p == '-';
    const char *d = neg ? p + 1 : p;
    size_t ndig = strspn(d, "0123456789");
    if (ndig == 0)
        return 0;
    n = match_mod(d + ndig, &mod);
    size_t span = (size_t)(d - (w + i)) + ndig + n;
    if (n == 0) {
        /* "{12" with no "}" anywhere after it cannot be meant literally */
        if (!neg && strchr(d + ndig, '}') == NULL) {
            errno = EINVAL;
            return errprintf(ps->error,
                             "command word %d, column %zu: unterminated "
                             "replacement string '%.40s'",
                             wordno, i + 1, w + i);
        }
        return 0;
    }
    long pos = 0;
    for (size_t k = 0; k < ndig && pos <= INT_MAX / 10; k++)
        pos = pos * 10 + (d[k] - '0');
    if (neg || pos == 0) {
        errno = EINVAL;
        return errprintf(ps->error,
                         "command word %d, column %zu: invalid replacement "
                         "string '%.*s': positions start at 1",
                         wordno, i + 1, (int)span, w + i);
    }
    if (pos > 1000000) {
        errno = EINVAL;
        return errprintf(ps->error,
                         "command word %d, column %zu: position in "
                         "replacement string '%.*s' is too large",
                         wordno, i + 1, (int)span, w + i);
    }
    seg->pos = (int)pos;
    seg->mod = mod;
    return (long)span;
}

static int parse_word(parser_t *ps, const char *w, int wordno)
{
    tmpl_t *t = ps->t;
    size_t lit = 0;   /* start of the pending literal text */
    size_t i = 0;
    while (w[i]) {
        if (w[i] != '{') {
            i++;
            continue;
        }
        seg_t seg;
        long span = parse_repl(ps, w, i, wordno, &seg);
        if (span < 0)
            return -1;
        if (span == 0) {
            i++;
            continue;
        }
        if (push_seg(ps, (seg_t){.kind = SEG_LITERAL, .text = w + lit,
                                 .len = i - lit}) < 0 ||
            push_seg(ps, seg) < 0)
            return -1;
        if (seg.kind == SEG_VALUE) {
            t->uses_values = true;
            if (seg.pos > t->max_pos)
                t->max_pos = seg.pos;
        }
        i += (size_t)span;
        lit = i;
    }
    return push_seg(ps, (seg_t){.kind = SEG_LITERAL, .text = w + lit,
                                .len = i - lit});
}

tmpl_t *tmpl_parse(const char *const *words, int nwords,
                   banyan_error_t *error)
{
    if (nwords <= 0) {
        errno = EINVAL;
        errprintf(error, "empty command");
        return NULL;
    }
    tmpl_t *t = calloc(1, sizeof(*t));
    if (!t)
        goto nomem;
    size_t total = 0;
    for (int i = 0; i < nwords; i++)
        total += strlen(words[i]) + 1;
    t->text = malloc(total);
    t->words = calloc((size_t)nwords, sizeof(*t->words));
    if (!t->text || !t->words)
        goto nomem;
    t->nwords = nwords;
    parser_t ps = {.t = t, .error = error};
    char *p = t->text;
    for (int i = 0; i < nwords; i++) {
        size_t len = strlen(words[i]);
        memcpy(p, words[i], len + 1);
        t->words[i].first = t->nsegs;
        if (parse_word(&ps, p, i + 1) < 0)
            goto error;
        t->words[i].nseg = t->nsegs - t->words[i].first;
        p += len + 1;
    }
    if (nwords == 1) {
        for (size_t k = 0; k < t->nsegs && !t->shell; k++) {
            const seg_t *s = &t->segs[k];
            if (s->kind != SEG_LITERAL)
                continue;
            for (size_t c = 0; c < s->len; c++) {
                if (strchr(shell_chars, s->text[c])) {
                    t->shell = true;
                    break;
                }
            }
        }
    }
    return t;
nomem:
    errno = ENOMEM;
    errprintf(error, "out of memory parsing the command");
error:
    tmpl_destroy(t);
    return NULL;
}

void tmpl_destroy(tmpl_t *t)
{
    if (!t)
        return;
    int saved = errno;
    free(t->text);
    free(t->words);
    free(t->segs);
    free(t);
    errno = saved;
}

bool tmpl_is_shell(const tmpl_t *t)
{
    return t->shell;
}

int tmpl_max_position(const tmpl_t *t)
{
    return t->max_pos;
}

bool tmpl_uses_values(const tmpl_t *t)
{
    return t->uses_values;
}

int tmpl_check_arity(const tmpl_t *t, size_t nvals, banyan_error_t *error)
{
    if ((size_t)t->max_pos <= nvals)
        return 0;
    errno = EINVAL;
    return errprintf(error, "template uses {%d} but there %s only %zu input "
                            "source%s",
                     t->max_pos, nvals == 1 ? "is" : "are", nvals,
                     nvals == 1 ? "" : "s");
}

/* -------------------------------------------------------------- expansion */

/* A writer that only counts when dst is NULL, so that the same code sizes
 * the result and then writes it. */
typedef struct writer {
    char *dst;
    size_t len;
} writer_t;

static void put(writer_t *w, const char *s, size_t len)
{
    if (w->dst)
        memcpy(w->dst + w->len, s, len);
    w->len += len;
}

static void putch(writer_t *w, char c)
{
    if (w->dst)
        w->dst[w->len] = c;
    w->len++;
}

/* POSIX shell quoting of s[0..len), with the same rule as
 * util_shell_quote(): plain words stay as they are, anything else goes in
 * single quotes with each ' written as '\''. */
static void put_quoted(writer_t *w, const char *s, size_t len)
{
    static const char safe[] = "abcdefghijklmnopqrstuvwxyz"
                               "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "0123456789@%+=:,./-_";
    size_t k = 0;
    while (k < len && s[k] && strchr(safe, s[k]))
        k++;
    if (len > 0 && k == len) {
        put(w, s, len);
        return;
    }
    putch(w, '\'');
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\'')
            put(w, "'\\''", 4);
        else
            putch(w, s[i]);
    }
    putch(w, '\'');
}

/* The part of v that a modifier selects, as a pointer and a length. */
static const char *apply_mod(const char *v, seg_mod_t mod, size_t *len)
{
    size_t n = strlen(v);
    const char *slash = strrchr(v, '/');
    const char *base = slash ? slash + 1 : v;
    switch (mod) {
    case MOD_NONE:
        break;
    case MOD_NOEXT:
    case MOD_BASENOEXT: {
        /* the last '.' after the last '/' and everything after it go */
        const char *dot = strrchr(base, '.');
        if (mod == MOD_BASENOEXT) {
            v = base;
            n = strlen(base);
        }
        if (dot)
            n = (size_t)(dot - v);
        break;
    }
    case MOD_BASE:
        v = base;
        n = strlen(base);
        break;
    case MOD_DIR: {
        /* POSIX dirname: trailing slashes do not count, "." without a
         * directory part, "/" for the root */
        while (n > 1 && v[n - 1] == '/')
            n--;
        while (n > 0 && v[n - 1] != '/')
            n--;
        if (n == 0) {
            *len = 1;
            return ".";
        }
        while (n > 1 && v[n - 1] == '/')
            n--;
        break;
    }
    }
    *len = n;
    return v;
}

static void put_value(writer_t *w, const char *v, seg_mod_t mod, bool quote)
{
    size_t len;
    const char *p = apply_mod(v, mod, &len);
    if (quote)
        put_quoted(w, p, len);
    else
        put(w, p, len);
}

static void put_word(const tmpl_t *t, const word_t *wd, const tmpl_ctx_t *c,
                     writer_t *w)
{
    char num[32];
    for (size_t k = 0; k < wd->nseg; k++) {
        const seg_t *s = &t->segs[wd->first + k];
        switch (s->kind) {
        case SEG_LITERAL:
            put(w, s->text, s->len);
            break;
        case SEG_SEQ:
            put(w, num, (size_t)snprintf(num, sizeof(num), "%llu",
                                         (unsigned long long)c->seq));
            break;
        case SEG_SLOT:
            put(w, num, (size_t)snprintf(num, sizeof(num), "%u",
                                         (unsigned)c->slot));
            break;
        case SEG_VALUE:
            if (s->pos > 0) {
                put_value(w, c->vals[s->pos - 1], s->mod, t->shell);
                break;
            }
            for (size_t i = 0; i < c->nvals; i++) {
                if (i > 0)
                    putch(w, ' ');
                put_value(w, c->vals[i], s->mod, t->shell);
            }
            break;
        }
    }
}

/* The shell command line: the word, then the quoted values if the template
 * has no value replacement string. */
static void put_shell_line(const tmpl_t *t, const tmpl_ctx_t *c, writer_t *w)
{
    put_word(t, &t->words[0], c, w);
    if (t->uses_values)
        return;
    for (size_t i = 0; i < c->nvals; i++) {
        putch(w, ' ');
        put_quoted(w, c->vals[i], strlen(c->vals[i]));
    }
}

static int expand_shell(const tmpl_t *t, const tmpl_ctx_t *c, char ***argv_out,
                        char **line_out)
{
    static const char sh[] = "/bin/sh", dash_c[] = "-c";
    writer_t w = {0};
    put_shell_line(t, c, &w);
    size_t slen = w.len;
    size_t ptrs = 4 * sizeof(char *);
    char **argv = malloc(ptrs + sizeof(sh) + sizeof(dash_c) + slen + 1);
    char *line = line_out ? malloc(slen + 1) : NULL;
    if (!argv || (line_out && !line)) {
        free(argv);
        free(line);
        errno = ENOMEM;
        return -1;
    }
    char *p = (char *)argv + ptrs;
    argv[0] = memcpy(p, sh, sizeof(sh));
    p += sizeof(sh);
    argv[1] = memcpy(p, dash_c, sizeof(dash_c));
    p += sizeof(dash_c);
    argv[2] = p;
    argv[3] = NULL;
    w = (writer_t){.dst = p};
    put_shell_line(t, c, &w);
    p[w.len] = '\0';
    if (line_out) {
        memcpy(line, p, slen + 1);
        *line_out = line;
    }
    *argv_out = argv;
    return 0;
}

static int expand_argv(const tmpl_t *t, const tmpl_ctx_t *c, char ***argv_out,
                       char **line_out)
{
    size_t nextra = t->uses_values ? 0 : c->nvals;
    size_t argc = (size_t)t->nwords + nextra;
    writer_t w = {0};
    for (int i = 0; i < t->nwords; i++) {
        put_word(t, &t->words[i], c, &w);
        w.len++;
    }
    for (size_t i = 0; i < nextra; i++)
        w.len += strlen(c->vals[i]) + 1;
    size_t ptrs = (argc + 1) * sizeof(char *);
    char **argv = malloc(ptrs + w.len);
    if (!argv) {
        errno = ENOMEM;
        return -1;
    }
    char *base = (char *)argv + ptrs;
    w = (writer_t){.dst = base};
    for (int i = 0; i < t->nwords; i++) {
        argv[i] = base + w.len;
        put_word(t, &t->words[i], c, &w);
        putch(&w, '\0');
    }
    for (size_t i = 0; i < nextra; i++) {
        argv[(size_t)t->nwords + i] = base + w.len;
        put(&w, c->vals[i], strlen(c->vals[i]) + 1);
    }
    argv[argc] = NULL;
    if (line_out) {
        writer_t lw = {0};
        for (int pass = 0; pass < 2; pass++) {
            for (size_t i = 0; i < argc; i++) {
                if (i > 0)
                    putch(&lw, ' ');
                put_quoted(&lw, argv[i], strlen(argv[i]));
            }
            putch(&lw, '\0');
            if (pass == 0) {
                char *line = malloc(lw.len);
                if (!line) {
                    free(argv);
                    errno = ENOMEM;
                    return -1;
                }
                lw = (writer_t){.dst = line};
            }
        }
        *line_out = lw.dst;
    }
    *argv_out = argv;
    return 0;
}

int tmpl_expand(const tmpl_t *t, const tmpl_ctx_t *ctx, char ***argv_out,
                char **line_out)
{
    if ((size_t)t->max_pos > ctx->nvals) {
        errno = ERANGE;
        return -1;
    }
    if (t->shell)
        return expand_shell(t, ctx, argv_out, line_out);
    return expand_argv(t, ctx, argv_out, line_out);
}
