/* SPDX-License-Identifier: MIT */
/* template.c - parse a GNU Parallel style command template once, expand it
 * for each task.
 *
 * Two semantics live here: GNU Parallel's (the second half of the file,
 * from "GNU semantics" on: banyan run), and banyan's older argv form, kept
 * for cluster jobs (syntax->argv_words: banyan submit), described next.
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
#include "tmpl_private.h"
#include "util/util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

typedef struct gnu gnu_t;

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
    gnu_t *gnu;         /* GNU semantics; NULL for argv_words */
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

static tmpl_t *old_parse(const char *const *words, int nwords,
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

static int old_expand(const tmpl_t *t, const tmpl_ctx_t *ctx,
                      char ***argv_out, char **line_out)
{
    if ((size_t)t->max_pos > ctx->nvals) {
        errno = ERANGE;
        return -1;
    }
    if (t->shell)
        return expand_shell(t, ctx, argv_out, line_out);
    return expand_argv(t, ctx, argv_out, line_out);
}

/* ====================================================== GNU semantics ====
 *
 * The template is parsed as GNU Parallel 20221122 does (CommandLineQueue
 * new(), merge_rpl_parts(), replace_placeholders()): every replacement
 * string becomes a perl expression, with an optional position, written
 * between the markers \257< and \257> (a literal \257 is escaped as
 * \257\256).  With only plain shorthands (no group capture, so no --plus
 * and no --rpl with "(...)") banyan does this itself; otherwise the perl
 * co-process runs GNU's own loop.
 *
 * Each expression is then either one that banyan computes itself (the
 * built-in strings and the simple --plus ones, recognised by their exact
 * perl text, so that --rpl can still redefine them) or one for perl.  The
 * words become tokens (text, one whitespace character, a marker, or the
 * unquoted space between words) and expansion follows GNU's token walk, so
 * that -X's context groups, -q's quoting of whole words and the separate
 * words of {} with several values come out byte for byte. */

typedef enum op {
    OP_VALUE,     /* $_ as it is */
    OP_SEQ,       /* {#} */
    OP_SLOT,      /* {%} */
    OP_TOTAL,     /* {##} */
    OP_BASE,      /* {/} */
    OP_DIR,       /* {//} */
    OP_NOEXT,     /* {.} {..} {...}: n extensions off */
    OP_BASENOEXT, /* {/.} {/..} {/...} */
    OP_PLUSDIR,   /* {+/} */
    OP_PLUSEXT1,  /* {+.} */
    OP_PLUSEXT,   /* {+..} {+...} */
    OP_PERL,
} op_t;

typedef struct repl {
    int pos;        /* 0 = none (a normal replacement), else 1-based or <0 */
    op_t op;
    int n;          /* extensions for OP_NOEXT, OP_BASENOEXT, OP_PLUSEXT */
    int perl;       /* OP_PERL: the compiled expression's id */
} repl_t;

typedef enum tok_kind {
    TOK_TEXT,   /* literal text without whitespace (may be empty: "") */
    TOK_WS,     /* one whitespace character inside a word */
    TOK_SPC,    /* the unquoted space between words */
    TOK_REPL,
} tok_kind_t;

typedef struct tok {
    tok_kind_t kind;
    size_t off, len;    /* TOK_TEXT, TOK_WS: into gnu->text */
    size_t repl;        /* TOK_REPL */
} tok_t;

/* A name -> program lookup, cached (the program word rarely changes). */
typedef struct prog_cache {
    char *name;
    bool direct;        /* a program found in PATH, runs the same directly */
} prog_cache_t;

struct gnu {
    char *text;         /* the unescaped literal text of all tokens */
    tok_t *toks;
    size_t ntoks;
    repl_t *repls;
    size_t nrepls;
    bool quote;          /* -q */
    bool quote_arg;      /* quote substituted values */
    bool context;        /* -X */
    bool text_only;      /* tmpl_parse_text */
    bool shell_quote;    /* --shell-quote */
    bool uses_perl;
    bool shell_is_bash;
    const char *shell;
    tmpl_perl_t *perl;
    prog_cache_t *cache;
};

static const char M_ESC = '\257', M_OPEN = '<', M_CLOSE = '>';
static const char M_ESCAPED = '\256';

/* ---------------------------------------------------------- the shell */

static char *which(const char *name)
{
    const char *path = getenv("PATH");
    if (!path || strchr(name, '/'))
        return NULL;
    size_t nlen = strlen(name);
    while (*path) {
        const char *end = strchr(path, ':');
        size_t dlen = end ? (size_t)(end - path) : strlen(path);
        char *full = malloc(dlen + nlen + 2);
        if (!full)
            return NULL;
        memcpy(full, path, dlen);
        full[dlen] = '/';
        memcpy(full + dlen + 1, name, nlen + 1);
        struct stat st;
        if (stat(full, &st) == 0 && !S_ISDIR(st.st_mode) &&
            access(full, X_OK) == 0)
            return full;
        free(full);
        path += dlen;
        if (*path == ':')
            path++;
    }
    return NULL;
}

/* GNU's list of shells (parent_shell()). */
static bool is_shell_name(const char *s, size_t n)
{
    static const char *const shells[] = {
        "ash",  "bash",  "bsd-csh", "csh",  "dash",     "fdsh", "fish",
        "fizsh", "ksh",  "ksh93",   "lksh", "mksh",     "pdksh", "posh",
        "rbash", "rc",   "rush",    "rzsh", "sash",     "sh",   "static-sh",
        "tcsh", "yash",  "zsh",
    };
    for (size_t i = 0; i < sizeof(shells) / sizeof(shells[0]); i++)
        if (strlen(shells[i]) == n && memcmp(shells[i], s, n) == 0)
            return true;
    return false;
}

/* The shell an argv[0] names, as GNU's regexp reads it: "[-]sh",
 * "/path/[-]sh", "busybox sh", "[-sh]"; its name into name[cap]. */
static bool argv0_shell(const char *a0, char *name, size_t cap)
{
    const char *p = a0;
    size_t n;
    if (*p == '[') {
        p++;
        if (*p == '-')
            p++;
        n = strcspn(p, "]");
        if (p[n] != ']' || !is_shell_name(p, n))
            return false;
    } else {
        if (strncmp(p, "busybox ", 8) == 0)
            p += 8;
        else if (strchr(p, '/') && strcspn(p, " ") > (size_t)(strrchr(p, '/') - p))
            p = strrchr(p, '/') + 1;
        if (*p == '-')
            p++;
        n = strcspn(p, " ");
        if (!is_shell_name(p, n))
            return false;
        const char *rest = p + n;
        while (*rest == ' ')
            rest++;
        if (*rest == '(')
            return false;
    }
    if (n >= cap)
        return false;
    memcpy(name, p, n);
    name[n] = '\0';
    return true;
}

static char *parent_shell(void)
{
    pid_t pid = getpid();
    for (int depth = 0; pid > 0 && depth < 64; depth++) {
        char path[64], buf[4096];
        snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
        FILE *f = fopen(path, "r");
        if (!f)
            return NULL;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        char name[32];
        if (n > 0 && argv0_shell(buf, name, sizeof(name))) {
            char *w = which(name);
            if (!w && strcmp(name, "sh") != 0)
                w = which("sh");
            if (w)
                return w;
        }
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        if (!(f = fopen(path, "r")))
            return NULL;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        const char *rp = strrchr(buf, ')');
        int ppid;
        char state;
        if (!rp || sscanf(rp + 1, " %c %d", &state, &ppid) != 2)
            return NULL;
        pid = ppid;
    }
    return NULL;
}

const char *tmpl_default_shell(void)
{
    static char *shell;
    if (shell)
        return shell;
    const char *e = getenv("PARALLEL_SHELL");
    if (e && *e)
        shell = strdup(e);
    if (!shell)
        shell = parent_shell();
    if (!shell && (e = getenv("SHELL")) && *e)
        shell = strdup(e);
    if (!shell)
        return "/bin/sh";
    return shell;
}

/* ----------------------------------------------------------- rpl table */

typedef struct rpl_entry {
    char *key;
    const char *val;
} rpl_entry_t;

typedef struct rpl_table {
    rpl_entry_t *e;
    size_t n, cap;
} rpl_table_t;

static const char dirname_code[] =
    "$Global::use{\"File::Basename\"} ||= eval \"use File::Basename; 1;\"; "
    "$_ = dirname($_);";

static const struct {
    const char *key, *val;
} builtin_rpl[] = {
    {"{}", ""},
    {"{#}", "1 $_=$job->seq()"},
    {"{%}", "1 $_=$job->slot()"},
    {"{/}", "s:.*/::"},
    {"{//}", dirname_code},
    {"{/.}", "s:.*/::; s:\\.[^/.]*$::;"},
    {"{.}", "s:\\.[^/.]*$::"},
};

static const struct {
    const char *key, *val;
} plus_rpl[] = {
    {"{+/}", "s:/[^/]*$:: || s:.*$::"},
    {"{+.}", "s:.*\\.:: || s:.*$::"},
    {"{+..}", "s:.*\\.([^/.]*\\.[^/.]*)$:$1: || s:.*$::"},
    {"{+...}", "s:.*\\.([^/.]*\\.[^/.]*\\.[^/.]*)$:$1: || s:.*$::"},
    {"{..}", "s:\\.[^/.]*\\.[^/.]*$::"},
    {"{...}", "s:\\.[^/.]*\\.[^/.]*\\.[^/.]*$::"},
    {"{/..}", "s:.*/::; s:\\.[^/.]*\\.[^/.]*$::"},
    {"{/...}", "s:.*/::; s:\\.[^/.]*\\.[^/.]*\\.[^/.]*$::"},
    {"{choose_k}",
     "for $t (2..$#arg){ if($arg[$t-1] ge $arg[$t]) { skip() } }"},
    {"{uniq}", "if(::uniq(@arg) != @arg) { skip(); }"},
    {"{##}", "1 $_=total_jobs()"},
    {"{0%}", "1 $f=1+int((log($Global::max_jobs_running||1)/log(10)));"
             "$_=sprintf(\"%0${f}d\",slot())"},
    {"{0#}", "1 $f=1+int((log(total_jobs())/log(10)));"
             "$_=sprintf(\"%0${f}d\",seq())"},
    {"{:-([^}]+?)}", "$_ ||= $$1"},
    {"{:(\\d+?)}", "substr($_,0,$$1) = \"\""},
    {"{:(\\d+?):(\\d+?)}", "$_ = substr($_,$$1,$$2);"},
    {"{#([^#}][^}]*?)}",
     "$nongreedy=::make_regexp_ungreedy($$1);s/^$nongreedy(.*)/$1/;"},
    {"{##([^#}][^}]*?)}", "s/^$$1//;"},
    {"{%([^}]+?)}",
     "$nongreedy=::make_regexp_ungreedy($$1);s/(.*)$nongreedy$/$1/;"},
    {"{%%([^}]+?)}", "s/$$1$//;"},
    {"{/([^#%}/]+?)/([^}]*?)}", "s/$$1/$$2/;"},
    {"{/#([^}]+?)/([^}]*?)}", "s/^$$1/$$2/g;"},
    {"{/%([^}]+?)/([^}]*?)}", "s/$$1$/$$2/g;"},
    {"{//([^}]+?)/([^}]*?)}", "s/$$1/$$2/g;"},
    {"{^([^}]+?)}", "s/^($$1)/uc($1)/e;"},
    {"{^^([^}]+?)}", "s/($$1)/uc($1)/eg;"},
    {"{,([^}]+?)}", "s/^($$1)/lc($1)/e;"},
    {"{,,([^}]+?)}", "s/($$1)/lc($1)/eg;"},
    {"{slot}", "1 $_=\"\\${PARALLEL_JOBSLOT}\";uq()"},
    {"{host}", "1 $_=\"\\${PARALLEL_SSHHOST}\";uq()"},
    {"{sshlogin}", "1 $_=\"\\${PARALLEL_SSHLOGIN}\";uq()"},
    {"{hgrp}", "1 $_=\"\\${PARALLEL_HOSTGROUPS}\";uq()"},
    {"{agrp}", "1 $_=\"\\${PARALLEL_ARGHOSTGROUPS}\";uq()"},
};

static rpl_entry_t *rpl_find(rpl_table_t *rt, const char *key)
{
    for (size_t i = 0; i < rt->n; i++)
        if (strcmp(rt->e[i].key, key) == 0)
            return &rt->e[i];
    return NULL;
}

static int rpl_set(rpl_table_t *rt, const char *key, size_t klen,
                   const char *val)
{
    char *k = strndup(key, klen);
    if (!k)
        return -1;
    rpl_entry_t *e = rpl_find(rt, k);
    if (e) {
        free(k);
        e->val = val;
        return 0;
    }
    if (util_grow((void **)&rt->e, &rt->cap, rt->n + 1, sizeof(*rt->e)) < 0) {
        free(k);
        return -1;
    }
    rt->e[rt->n++] = (rpl_entry_t){.key = k, .val = val};
    return 0;
}

/* GNU's rpl(old, new): the value of old moves to the key new. */
static int rpl_rename(rpl_table_t *rt, const char *old, const char *new)
{
    if (!new || strcmp(old, new) == 0)
        return 0;
    rpl_entry_t *e = rpl_find(rt, old);
    if (!e)
        return 0;
    const char *val = e->val;
    free(e->key);
    *e = rt->e[--rt->n];
    return rpl_set(rt, new, strlen(new), val);
}

static void rpl_free(rpl_table_t *rt)
{
    for (size_t i = 0; i < rt->n; i++)
        free(rt->e[i].key);
    free(rt->e);
}

static int build_rpl(rpl_table_t *rt, const tmpl_syntax_t *sx,
                     banyan_error_t *error)
{
    if (sx->plus)
        for (size_t i = 0; i < sizeof(plus_rpl) / sizeof(plus_rpl[0]); i++)
            if (rpl_set(rt, plus_rpl[i].key, strlen(plus_rpl[i].key),
                        plus_rpl[i].val) < 0)
                goto nomem;
    for (size_t i = 0; i < sizeof(builtin_rpl) / sizeof(builtin_rpl[0]); i++)
        if (rpl_set(rt, builtin_rpl[i].key, strlen(builtin_rpl[i].key),
                    builtin_rpl[i].val) < 0)
            goto nomem;
    if (rpl_rename(rt, "{}", sx->replace) < 0 ||
        rpl_rename(rt, "{.}", sx->extensor) < 0 ||
        rpl_rename(rt, "{/}", sx->basename) < 0 ||
        rpl_rename(rt, "{//}", sx->dirname) < 0 ||
        rpl_rename(rt, "{#}", sx->seq) < 0 ||
        rpl_rename(rt, "{%}", sx->slot) < 0 ||
        rpl_rename(rt, "{/.}", sx->basename_ext) < 0)
        goto nomem;
    for (size_t i = 0; i < sx->nrpl; i++) {
        const char *r = sx->rpl[i];
        size_t k = strcspn(r, " \t\n\r\f\v");
        const char *val = r[k] ? r + k + 1 : "";
        if (rpl_set(rt, r, k, val) < 0)
            goto nomem;
    }
    return 0;
nomem:
    errno = ENOMEM;
    return errprintf(error, "out of memory parsing the command");
}

/* ------------------------------------------------------------- markup */

/* merge_rpl_parts(): join words so that no "{=" is left open. */
static bool has_open_parens(const char *s, const char *l, const char *r)
{
    char *c = strdup(s);
    if (!c)
        return false;
    size_t ll = strlen(l), rl = strlen(r);
    for (;;) {
        /* the last l that has an r after it; remove it to that r */
        char *best = NULL, *p = c;
        while ((p = strstr(p, l))) {
            if (strstr(p + ll, r))
                best = p;
            p++;
        }
        if (!best)
            break;
        char *e = strstr(best + ll, r) + rl;
        memmove(best, e, strlen(e) + 1);
    }
    bool open = strstr(c, l) != NULL;
    free(c);
    return open;
}

/* Skip a marker at s[i] (s[i] == M_ESC, s[i+1] == M_OPEN): the index
 * after its close. */
static size_t skip_marker(const char *s, size_t i)
{
    i += 2;
    while (s[i] && !(s[i] == M_ESC && s[i + 1] == M_CLOSE))
        i++;
    return s[i] ? i + 2 : i;
}

static int buf_marker(util_buf_t *b, const char *pos, size_t poslen,
                      const char *val)
{
    char open[2] = {M_ESC, M_OPEN}, close[2] = {M_ESC, M_CLOSE};
    if (util_buf_append(b, open, 2) < 0 ||
        util_buf_append(b, pos, poslen) < 0 || util_buf_puts(b, val) < 0 ||
        util_buf_append(b, close, 2) < 0)
        return -1;
    return 0;
}

/* Replace the plain key (and, when it starts with "{", its positional form
 * "{N key-without-{") outside markers.  *s is replaced. */
static int markup_key(char **s, const char *key, const char *val)
{
    util_buf_t b = UTIL_BUF_INIT;
    const char *w = *s;
    size_t klen = strlen(key);
    for (int positional = 0; positional < 2; positional++) {
        if (positional && key[0] != '{')
            break;
        const char *rest = positional ? key + 1 : key;
        size_t rlen = strlen(rest);
        util_buf_reset(&b);
        size_t i = 0;
        bool changed = false;
        while (w[i]) {
            if (w[i] == M_ESC && w[i + 1] == M_OPEN) {
                size_t e = skip_marker(w, i);
                if (util_buf_append(&b, w + i, e - i) < 0)
                    goto nomem;
                i = e;
                continue;
            }
            if (w[i] == M_ESC && w[i + 1]) {
                if (util_buf_append(&b, w + i, 2) < 0)
                    goto nomem;
                i += 2;
                continue;
            }
            if (!positional && strncmp(w + i, key, klen) == 0) {
                if (buf_marker(&b, "", 0, val) < 0)
                    goto nomem;
                i += klen;
                changed = true;
                continue;
            }
            if (positional && w[i] == '{') {
                size_t j = i + 1;
                if (w[j] == '-')
                    j++;
                size_t nd = strspn(w + j, "0123456789");
                size_t k = j + nd;
                while (w[k] == ' ' || w[k] == '\t' || w[k] == '\n' ||
                       w[k] == '\r' || w[k] == '\f')
                    k++;
                if (nd > 0 && strncmp(w + k, rest, rlen) == 0) {
                    if (buf_marker(&b, w + i + 1, j + nd - i - 1, val) < 0)
                        goto nomem;
                    i = k + rlen;
                    changed = true;
                    continue;
                }
            }
            if (util_buf_putc(&b, w[i]) < 0)
                goto nomem;
            i++;
        }
        if (changed) {
            char *n = util_buf_steal(&b);
            if (!n)
                goto nomem;
            free(*s);
            *s = n;
            w = n;
        }
    }
    util_buf_fini(&b);
    return 0;
nomem:
    util_buf_fini(&b);
    errno = ENOMEM;
    return -1;
}

/* Escape \257, mark {= perl =} (the innermost, shortest). */
static char *markup_parens(const char *w, const char *l, const char *r)
{
    util_buf_t b = UTIL_BUF_INIT;
    size_t ll = strlen(l), rl = strlen(r);
    char esc[2] = {M_ESC, M_ESCAPED};
    /* first escape */
    util_buf_t e = UTIL_BUF_INIT;
    for (const char *p = w; *p; p++) {
        if (*p == M_ESC ? util_buf_append(&e, esc, 2) < 0
                        : util_buf_putc(&e, *p) < 0)
            goto nomem;
    }
    if (util_buf_putc(&e, '\0') < 0)
        goto nomem;
    e.len--;
    const char *s = e.data;
    size_t i = 0;
    while (s[i]) {
        if (strncmp(s + i, l, ll) == 0) {
            /* shortest content without l or r, then r */
            size_t j = i + ll;
            while (s[j] && strncmp(s + j, r, rl) != 0 &&
                   strncmp(s + j, l, ll) != 0)
                j++;
            if (s[j] && strncmp(s + j, r, rl) == 0) {
                if (buf_marker(&b, "", 0, "") < 0)
                    goto nomem;
                /* put the content inside the marker */
                b.len -= 2;
                char close[2] = {M_ESC, M_CLOSE};
                if (util_buf_append(&b, s + i + ll, j - i - ll) < 0 ||
                    util_buf_append(&b, close, 2) < 0)
                    goto nomem;
                i = j + rl;
                continue;
            }
        }
        if (util_buf_putc(&b, s[i]) < 0)
            goto nomem;
        i++;
    }
    util_buf_fini(&e);
    char *out = util_buf_steal(&b);
    if (!out)
        goto nomem;
    return out;
nomem:
    util_buf_fini(&e);
    util_buf_fini(&b);
    errno = ENOMEM;
    return NULL;
}

static int cmp_key_len(const void *a, const void *b)
{
    size_t la = strlen(((const rpl_entry_t *)a)->key);
    size_t lb = strlen(((const rpl_entry_t *)b)->key);
    return la < lb ? 1 : la > lb ? -1 : 0;
}

/* ------------------------------------------------------- replacements */

static const struct {
    const char *code;
    op_t op;
    int n;
} native_ops[] = {
    {"", OP_VALUE, 0},
    {"$_=$job->seq()", OP_SEQ, 0},
    {"$_=$job->slot()", OP_SLOT, 0},
    {"$_=total_jobs()", OP_TOTAL, 0},
    {"s:.*/::", OP_BASE, 0},
    {dirname_code, OP_DIR, 0},
    {"s:.*/::; s:\\.[^/.]*$::;", OP_BASENOEXT, 1},
    {"s:\\.[^/.]*$::", OP_NOEXT, 1},
    {"s:/[^/]*$:: || s:.*$::", OP_PLUSDIR, 0},
    {"s:.*\\.:: || s:.*$::", OP_PLUSEXT1, 0},
    {"s:.*\\.([^/.]*\\.[^/.]*)$:$1: || s:.*$::", OP_PLUSEXT, 2},
    {"s:.*\\.([^/.]*\\.[^/.]*\\.[^/.]*)$:$1: || s:.*$::", OP_PLUSEXT, 3},
    {"s:\\.[^/.]*\\.[^/.]*$::", OP_NOEXT, 2},
    {"s:\\.[^/.]*\\.[^/.]*\\.[^/.]*$::", OP_NOEXT, 3},
    {"s:.*/::; s:\\.[^/.]*\\.[^/.]*$::", OP_BASENOEXT, 2},
    {"s:.*/::; s:\\.[^/.]*\\.[^/.]*\\.[^/.]*$::", OP_BASENOEXT, 3},
};

typedef struct gparser {
    gnu_t *g;
    tmpl_t *t;
    util_buf_t text;
    size_t tokcap, replcap;
    /* perl expressions compiled so far, to compile each once */
    char **codes;
    int *ids;
    size_t ncodes, codecap;
    banyan_error_t *error;
} gparser_t;

static int push_tok(gparser_t *ps, tok_t tk)
{
    gnu_t *g = ps->g;
    if (util_grow((void **)&g->toks, &ps->tokcap, g->ntoks + 1,
                  sizeof(*g->toks)) < 0)
        return -1;
    g->toks[g->ntoks++] = tk;
    return 0;
}

static int perl_id(gparser_t *ps, const char *code)
{
    for (size_t i = 0; i < ps->ncodes; i++)
        if (strcmp(ps->codes[i], code) == 0)
            return ps->ids[i];
    gnu_t *g = ps->g;
    if (!g->perl && !(g->perl = tmpl__perl_start(ps->error)))
        return -1;
    int id = tmpl__perl_compile(g->perl, code, ps->error);
    if (id < 0)
        return -1;
    size_t cap = ps->codecap;
    if (util_grow((void **)&ps->codes, &ps->codecap, ps->ncodes + 1,
                  sizeof(*ps->codes)) < 0 ||
        util_grow((void **)&ps->ids, &cap, ps->ncodes + 1,
                  sizeof(*ps->ids)) < 0)
        goto nomem;
    ps->codecap = cap;
    if (!(ps->codes[ps->ncodes] = strdup(code)))
        goto nomem;
    ps->ids[ps->ncodes++] = id;
    return id;
nomem:
    errno = ENOMEM;
    return errprintf(ps->error, "out of memory parsing the command");
}

/* A marker's content: "(-?\d+)?(.*)" and Arg::replace()'s strip. */
static int add_repl(gparser_t *ps, const char *c, size_t len)
{
    gnu_t *g = ps->g;
    char *content = strndup(c, len);
    if (!content)
        return -1;
    repl_t r = {0};
    const char *p = content;
    const char *d = *p == '-' ? p + 1 : p;
    size_t nd = strspn(d, "0123456789");
    if (nd > 0) {
        long v = strtol(p, NULL, 10);
        if (v > INT_MAX / 2)
            v = INT_MAX / 2;
        if (v < -(INT_MAX / 2))
            v = -(INT_MAX / 2);
        r.pos = (int)v;
        p = d + nd;
    }
    while (*p == ' ')
        p++;
    r.op = OP_PERL;
    for (size_t i = 0; i < sizeof(native_ops) / sizeof(native_ops[0]); i++) {
        if (strcmp(native_ops[i].code, p) == 0) {
            r.op = native_ops[i].op;
            r.n = native_ops[i].n;
            break;
        }
    }
    if (r.op == OP_PERL) {
        r.perl = perl_id(ps, p);
        g->uses_perl = true;
        if (r.perl < 0) {
            free(content);
            return -1;
        }
    }
    free(content);
    if (r.pos > ps->t->max_pos)
        ps->t->max_pos = r.pos;
    if (util_grow((void **)&g->repls, &ps->replcap, g->nrepls + 1,
                  sizeof(*g->repls)) < 0)
        return -1;
    g->repls[g->nrepls++] = r;
    return push_tok(ps, (tok_t){.kind = TOK_REPL, .repl = g->nrepls - 1});
}

/* Literal text: split each whitespace character into its own token. */
static int add_text(gparser_t *ps, const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t start = ps->text.len;
        bool ws = strchr(" \t\n\r\f\v", s[i]) != NULL;
        if (ws) {
            if (util_buf_putc(&ps->text, s[i]) < 0 ||
                push_tok(ps, (tok_t){.kind = TOK_WS, .off = start,
                                     .len = 1}) < 0)
                return -1;
            i++;
            continue;
        }
        while (i < len && !strchr(" \t\n\r\f\v", s[i])) {
            char c = s[i];
            if (c == M_ESC && i + 1 < len && s[i + 1] == M_ESCAPED)
                i++;
            if (util_buf_putc(&ps->text, c) < 0)
                return -1;
            i++;
        }
        if (push_tok(ps, (tok_t){.kind = TOK_TEXT, .off = start,
                                 .len = ps->text.len - start}) < 0)
            return -1;
    }
    return 0;
}

static int tokenize_word(gparser_t *ps, const char *w)
{
    if (!*w)   /* GNU's \0empty */
        return push_tok(ps, (tok_t){.kind = TOK_TEXT, .off = ps->text.len,
                                    .len = 0});
    size_t i = 0, lit = 0;
    while (w[i]) {
        if (w[i] == M_ESC && w[i + 1] == M_OPEN) {
            if (add_text(ps, w + lit, i - lit) < 0)
                return -1;
            size_t e = skip_marker(w, i);
            size_t clen = e - i - 2;
            if (e >= i + 4 && w[e - 2] == M_ESC && w[e - 1] == M_CLOSE)
                clen -= 2;
            if (add_repl(ps, w + i + 2, clen) < 0)
                return -1;
            i = lit = e;
            continue;
        }
        i += (w[i] == M_ESC && w[i + 1]) ? 2 : 1;
    }
    return add_text(ps, w + lit, i - lit);
}

/* Apply --header names: {name} {name/} {name//} {name.} {name/.} and
 * {=name ... =} become positions, as GNU's set_input_source_header(). */
static char *apply_names(const char *w, const tmpl_syntax_t *sx)
{
    char *s = strdup(w);
    if (!s)
        return NULL;
    for (size_t k = 0; k < sx->nnames; k++) {
        const char *name = sx->names[k];
        size_t nl = strlen(name);
        util_buf_t b = UTIL_BUF_INIT;
        static const char *const mods[] = {"/.}", "//}", "/}", ".}", "}"};
        size_t i = 0;
        while (s[i]) {
            if (s[i] == '{' && strncmp(s + i + 1, name, nl) == 0) {
                const char *after = s + i + 1 + nl;
                size_t m;
                for (m = 0; m < 5; m++)
                    if (strncmp(after, mods[m], strlen(mods[m])) == 0)
                        break;
                if (m < 5) {
                    util_buf_printf(&b, "{%zu%s", k + 1, mods[m]);
                    i += 1 + nl + strlen(mods[m]);
                    continue;
                }
            }
            if (s[i] == '{' && s[i + 1] == '=' &&
                strncmp(s + i + 2, name, nl) == 0 &&
                strstr(s + i + 2 + nl, "=}")) {
                util_buf_printf(&b, "{=%zu", k + 1);
                i += 2 + nl;
                continue;
            }
            util_buf_putc(&b, s[i++]);
        }
        free(s);
        if (!(s = util_buf_steal(&b)))
            return NULL;
    }
    return s;
}

static void gnu_free(gnu_t *g)
{
    if (!g)
        return;
    tmpl__perl_stop(g->perl);
    free(g->text);
    free(g->toks);
    free(g->repls);
    if (g->cache)
        free(g->cache->name);
    free(g->cache);
    free(g);
}

static bool key_has_group(const rpl_table_t *rt)
{
    for (size_t i = 0; i < rt->n; i++)
        if (strchr(rt->e[i].key, '('))
            return true;
    return false;
}

static tmpl_t *gnu_parse(const char *const *words, int nwords,
                         const tmpl_syntax_t *sx, bool text_only,
                         banyan_error_t *error)
{
    static const tmpl_syntax_t defaults = {0};
    if (!sx)
        sx = &defaults;
    if (nwords <= 0 && !sx->commands_from_input && !text_only) {
        errno = EINVAL;
        errprintf(error, "empty command");
        return NULL;
    }
    const char *l = "{=", *r = "=}";
    char lbuf[64], rbuf[64];
    if (sx->parens && strlen(sx->parens) >= 2 &&
        strlen(sx->parens) < 2 * sizeof(lbuf)) {
        size_t half = strlen(sx->parens) / 2;
        memcpy(lbuf, sx->parens, half);
        lbuf[half] = '\0';
        snprintf(rbuf, sizeof(rbuf), "%s", sx->parens + half);
        l = lbuf;
        r = rbuf;
    }
    tmpl_t *t = calloc(1, sizeof(*t));
    gparser_t ps = {.t = t, .error = error};
    rpl_table_t rt = {0};
    char **w = NULL;
    size_t nw = 0;
    if (!t || !(t->gnu = calloc(1, sizeof(*t->gnu))))
        goto nomem;
    gnu_t *g = ps.g = t->gnu;
    if (!(g->cache = calloc(1, sizeof(*g->cache))))
        goto nomem;
    g->quote = sx->quote && !text_only;
    g->context = sx->multi == TMPL_MULTI_X;
    g->text_only = text_only;
    g->shell_quote = sx->shell_quote && !text_only;
    g->shell = sx->shell ? sx->shell : tmpl_default_shell();
    const char *sl = strrchr(g->shell, '/');
    g->shell_is_bash = strcmp(sl ? sl + 1 : g->shell, "bash") == 0;
    if (build_rpl(&rt, sx, error) < 0)
        goto error;

    /* the words, with --header names, merged around {= =} */
    w = calloc((size_t)(nwords > 0 ? nwords : 0) + 1, sizeof(*w));
    if (!w)
        goto nomem;
    for (int i = 0; i < nwords; i++) {
        char *s = apply_names(words[i], sx);
        if (!s)
            goto nomem;
        if (nw > 0 && has_open_parens(w[nw - 1], l, r)) {
            char *m;
            if (asprintf(&m, "%s %s", w[nw - 1], s) < 0) {
                free(s);
                goto nomem;
            }
            free(s);
            free(w[nw - 1]);
            w[nw - 1] = m;
        } else {
            w[nw++] = s;
        }
    }

    /* replacement strings into markers */
    if (key_has_group(&rt)) {
        const char **keys = calloc(rt.n + 1, sizeof(*keys));
        const char **vals = calloc(rt.n + 1, sizeof(*vals));
        char **out = NULL;
        int rc = -1;
        if (keys && vals) {
            for (size_t i = 0; i < rt.n; i++) {
                keys[i] = rt.e[i].key;
                vals[i] = rt.e[i].val;
            }
            if ((g->perl = tmpl__perl_start(error)))
                rc = tmpl__perl_markup(g->perl, (const char *const *)w, nw,
                                       keys, vals, rt.n, &out, error);
        } else {
            errno = ENOMEM;
            errprintf(error, "out of memory parsing the command");
        }
        free(keys);
        free(vals);
        if (rc < 0)
            goto error;
        for (size_t i = 0; i < nw; i++) {
            free(w[i]);
            w[i] = out[i];
        }
        free(out);
    } else {
        qsort(rt.e, rt.n, sizeof(*rt.e), cmp_key_len);
        for (size_t i = 0; i < nw; i++) {
            char *m = markup_parens(w[i], l, r);
            if (!m)
                goto nomem;
            free(w[i]);
            w[i] = m;
            for (size_t k = 0; k < rt.n; k++)
                if (markup_key(&w[i], rt.e[k].key, rt.e[k].val) < 0)
                    goto nomem;
        }
    }

    /* GNU: a replacement string in the program word: values unquoted */
    g->quote_arg = !g->quote && !text_only;
    if (nw > 0 && !text_only) {
        util_buf_t all = UTIL_BUF_INIT;
        for (size_t i = 0; i < nw; i++)
            if ((i > 0 && util_buf_putc(&all, ' ') < 0) ||
                util_buf_puts(&all, w[i]) < 0) {
                util_buf_fini(&all);
                goto nomem;
            }
        size_t k = strcspn(all.data, " \t\n=");
        for (size_t i = 0; i + 1 < k; i++)
            if (all.data[i] == M_ESC && all.data[i + 1] == M_OPEN)
                g->quote_arg = false;
        util_buf_fini(&all);
    }

    for (size_t i = 0; i < nw; i++) {
        if (i > 0 && push_tok(&ps, (tok_t){.kind = TOK_SPC}) < 0)
            goto nomem;
        if (tokenize_word(&ps, w[i]) < 0)
            goto error;
    }
    t->uses_values = g->nrepls > 0;
    if (g->nrepls == 0 && !text_only) {
        /* GNU appends {} */
        char mk[4] = {M_ESC, M_OPEN, M_ESC, M_CLOSE};
        if ((nw > 0 && push_tok(&ps, (tok_t){.kind = TOK_SPC}) < 0) ||
            add_repl(&ps, mk + 2, 0) < 0)
            goto error;
        if (nw == 0)
            g->quote_arg = false;   /* the value is the command */
    }
    if (util_buf_putc(&ps.text, '\0') < 0)
        goto nomem;
    g->text = util_buf_steal(&ps.text);
    t->shell = true;
    for (size_t i = 0; i < nw; i++)
        free(w[i]);
    free(w);
    rpl_free(&rt);
    for (size_t i = 0; i < ps.ncodes; i++)
        free(ps.codes[i]);
    free(ps.codes);
    free(ps.ids);
    return t;
nomem:
    errno = ENOMEM;
    errprintf(error, "out of memory parsing the command");
error:;
    int saved = errno;
    if (w)
        for (size_t i = 0; i < nw; i++)
            free(w[i]);
    free(w);
    rpl_free(&rt);
    for (size_t i = 0; i < ps.ncodes; i++)
        free(ps.codes[i]);
    free(ps.codes);
    free(ps.ids);
    util_buf_fini(&ps.text);
    tmpl_destroy(t);
    errno = saved;
    return NULL;
}

tmpl_t *tmpl_parse(const char *const *words, int nwords,
                   const tmpl_syntax_t *syntax, banyan_error_t *error)
{
    if (syntax && syntax->argv_words)
        return old_parse(words, nwords, error);
    return gnu_parse(words, nwords, syntax, false, error);
}

tmpl_t *tmpl_parse_text(const char *text, const tmpl_syntax_t *syntax,
                        banyan_error_t *error)
{
    return gnu_parse(&text, 1, syntax, true, error);
}

void tmpl_destroy(tmpl_t *t)
{
    if (!t)
        return;
    int saved = errno;
    gnu_free(t->gnu);
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

const char *tmpl_shell(const tmpl_t *t)
{
    return t->gnu ? t->gnu->shell : "/bin/sh";
}

bool tmpl_uses_perl(const tmpl_t *t)
{
    return t->gnu && t->gnu->uses_perl;
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
    if (t->gnu || (size_t)t->max_pos <= nvals)
        return 0;
    errno = EINVAL;
    return errprintf(error, "template uses {%d} but there %s only %zu input "
                            "source%s",
                     t->max_pos, nvals == 1 ? "is" : "are", nvals,
                     nvals == 1 ? "" : "s");
}

/* ------------------------------------------------------ GNU expansion */

typedef struct gexp {
    const gnu_t *g;
    const tmpl_ctx_t *c;
    const char *const *args;
    size_t nargs;
    /* perl results: for repl i, calls from first[i] on */
    size_t *first;
    char **res;
    size_t *lens;
    bool *uq;
    size_t ncalls;
    bool skip;
    util_buf_t line;
    util_buf_t group;    /* -q: the word being built */
    bool group_has;
    util_buf_t words;    /* -q: the raw words, NUL-ended */
    size_t nwords;
    util_buf_t val;      /* scratch */
    int failed;          /* ENOMEM */
} gexp_t;

/* GNU's Q(): shell_quote_scalar_default(). */
static int buf_q(util_buf_t *b, const char *s, size_t len)
{
    if (len == 0)
        return util_buf_puts(b, "''");
    bool plain = true;
    for (size_t i = 0; i < len && plain; i++) {
        unsigned char ch = (unsigned char)s[i];
        plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                (ch >= '0' && ch <= '9') || strchr("-_.+/", ch);
        if (ch == 0)
            plain = false;
    }
    if (plain)
        return util_buf_append(b, s, len);
    /* '...' with ' as '"'"', and no '' left at either end */
    util_buf_t q = UTIL_BUF_INIT;
    int rc = util_buf_putc(&q, '\'');
    for (size_t i = 0; i < len && rc == 0; i++)
        rc = s[i] == '\'' ? util_buf_puts(&q, "'\"'\"'")
                          : util_buf_putc(&q, s[i]);
    if (rc == 0)
        rc = util_buf_putc(&q, '\'');
    if (rc == 0) {
        const char *d = q.data;
        size_t n = q.len;
        if (n >= 2 && d[0] == '\'' && d[1] == '\'') {
            d += 2;
            n -= 2;
        }
        if (n >= 2 && d[n - 1] == '\'' && d[n - 2] == '\'')
            n -= 2;
        rc = util_buf_append(b, d, n);
    }
    util_buf_fini(&q);
    return rc;
}

static size_t count_dots(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += s[i] == '.';
    return k;
}

/* The position of the k-th last '.' in s[0..n) (k >= 1), which has at
 * least k dots. */
static size_t kth_last_dot(const char *s, size_t n, int k)
{
    size_t i = n;
    while (i-- > 0)
        if (s[i] == '.' && --k == 0)
            return i;
    return 0;
}

/* A built-in operation on v into e->val. */
static int native(gexp_t *e, const repl_t *r, const char *v)
{
    util_buf_t *b = &e->val;
    char num[32];
    size_t n = strlen(v);
    const char *slash = strrchr(v, '/');
    const char *base = slash ? slash + 1 : v;
    size_t blen = n - (size_t)(base - v);
    switch (r->op) {
    case OP_VALUE:
        return util_buf_append(b, v, n);
    case OP_SEQ:
        snprintf(num, sizeof(num), "%llu", (unsigned long long)e->c->seq);
        return util_buf_puts(b, num);
    case OP_SLOT:
        snprintf(num, sizeof(num), "%u", (unsigned)e->c->slot);
        return util_buf_puts(b, num);
    case OP_TOTAL:
        snprintf(num, sizeof(num), "%llu", (unsigned long long)e->c->total);
        return util_buf_puts(b, num);
    case OP_BASE:
        return util_buf_append(b, base, blen);
    case OP_DIR: {
        size_t len;
        const char *d = apply_mod(v, MOD_DIR, &len);
        return util_buf_append(b, d, len);
    }
    case OP_NOEXT:
    case OP_BASENOEXT: {
        const char *s = r->op == OP_NOEXT ? v : base;
        size_t len = r->op == OP_NOEXT ? n : blen;
        if (count_dots(base, blen) >= (size_t)r->n)
            len = (size_t)(base - s) + kth_last_dot(base, blen, r->n);
        return util_buf_append(b, s, len);
    }
    case OP_PLUSDIR:
        return slash ? util_buf_append(b, v, (size_t)(slash - v)) : 0;
    case OP_PLUSEXT1: {
        const char *dot = strrchr(v, '.');
        return dot ? util_buf_puts(b, dot + 1) : 0;
    }
    case OP_PLUSEXT:
        if (count_dots(base, blen) < (size_t)r->n)
            return 0;
        return util_buf_puts(b, base + kth_last_dot(base, blen, r->n) + 1);
    case OP_PERL:
        break;
    }
    return 0;
}

static void emit(gexp_t *e, const char *s, size_t len)
{
    if (e->g->quote) {
        if (util_buf_append(&e->group, s, len) < 0)
            e->failed = ENOMEM;
        e->group_has = true;
    } else if (util_buf_append(&e->line, s, len) < 0) {
        e->failed = ENOMEM;
    }
}

static void emit_spc(gexp_t *e)
{
    if (!e->g->quote) {
        if (util_buf_putc(&e->line, ' ') < 0)
            e->failed = ENOMEM;
        return;
    }
    if (!e->group_has)
        return;
    const char *d = e->group.data ? e->group.data : "";
    if ((e->nwords > 0 && util_buf_putc(&e->line, ' ') < 0) ||
        buf_q(&e->line, d, e->group.len) < 0 ||
        util_buf_append(&e->words, d, e->group.len) < 0 ||
        util_buf_putc(&e->words, '\0') < 0)
        e->failed = ENOMEM;
    e->nwords++;
    util_buf_reset(&e->group);
    e->group_has = false;
}

/* Arg::replace(): the value of repl ri for the arg ai (0-based),
 * quoted unless asked not to. */
static void emit_value(gexp_t *e, size_t ri, size_t ai)
{
    const repl_t *r = &e->g->repls[ri];
    const char *s;
    size_t len;
    bool uq = false;
    if (r->op == OP_PERL) {
        size_t k = e->first[ri] + (r->pos != 0 ? 0 : ai);
        s = e->res[k];
        len = e->lens[k];
        uq = e->uq[k];
    } else {
        util_buf_reset(&e->val);
        if (native(e, r, e->args[ai]) < 0) {
            e->failed = ENOMEM;
            return;
        }
        s = e->val.data ? e->val.data : "";
        len = e->val.len;
    }
    /* a job without values (-N0) substitutes nothing, not '' (GNU) */
    if (!e->g->quote_arg || uq || e->c->nvals == 0) {
        emit(e, s, len);
        return;
    }
    util_buf_t q = UTIL_BUF_INIT;
    if (buf_q(&q, s, len) < 0)
        e->failed = ENOMEM;
    else
        emit(e, q.data, q.len);
    util_buf_fini(&q);
}

/* The arg a position names (GNU: $1 > 0 ? $1-1 : $n+$1), or SIZE_MAX. */
static size_t pos_arg(const gexp_t *e, int pos)
{
    long long i = pos > 0 ? (long long)pos - 1 : (long long)e->nargs + pos;
    if (i < 0 || (unsigned long long)i >= e->nargs)
        return SIZE_MAX;
    return (size_t)i;
}

/* One token with its replacement for the arg ai; *normal set when it is
 * a normal (not positional) replacement. */
static void emit_tok(gexp_t *e, const tok_t *tk, size_t ai, bool *normal)
{
    const gnu_t *g = e->g;
    if (tk->kind == TOK_SPC) {
        emit_spc(e);
        return;
    }
    if (tk->kind != TOK_REPL) {
        emit(e, g->text + tk->off, tk->len);
        return;
    }
    const repl_t *r = &g->repls[tk->repl];
    if (r->pos != 0) {
        size_t k = pos_arg(e, r->pos);
        if (k != SIZE_MAX)
            emit_value(e, tk->repl, k);
        else
            emit(e, "", 0);
        return;
    }
    *normal = true;
    emit_value(e, tk->repl, ai);
}

static void walk(gexp_t *e)
{
    const gnu_t *g = e->g;
    if (!g->context) {
        for (size_t i = 0; i < g->ntoks; i++) {
            const tok_t *tk = &g->toks[i];
            if (tk->kind != TOK_REPL) {
                emit_tok(e, tk, 0, &(bool){false});
                continue;
            }
            for (size_t ai = 0; ai < e->nargs; ai++) {
                bool normal = false;
                if (ai > 0)
                    emit_spc(e);
                emit_tok(e, tk, ai, &normal);
                if (!normal)
                    break;
            }
        }
        return;
    }
    /* -X: context groups end at " ", "\t", the space between words */
    size_t start = 0;
    for (size_t i = 0; i <= g->ntoks; i++) {
        const tok_t *tk = i < g->ntoks ? &g->toks[i] : NULL;
        bool delim = !tk || tk->kind == TOK_SPC ||
                     (tk->kind == TOK_WS && (g->text[tk->off] == ' ' ||
                                             g->text[tk->off] == '\t'));
        if (!delim)
            continue;
        bool has = false;
        for (size_t k = start; k < i; k++)
            has |= g->toks[k].kind == TOK_REPL;
        if (has) {
            for (size_t ai = 0; ai < e->nargs; ai++) {
                bool normal = false;
                if (ai > 0)
                    emit_spc(e);
                for (size_t k = start; k < i; k++)
                    emit_tok(e, &g->toks[k], ai, &normal);
                if (!normal)
                    break;
            }
        } else {
            for (size_t k = start; k < i; k++)
                emit_tok(e, &g->toks[k], 0, &(bool){false});
        }
        start = i;
        if (tk && (tk->kind == TOK_SPC || g->text[tk->off] == ' ')) {
            emit_tok(e, tk, 0, &(bool){false});
            start = i + 1;
        }
    }
}

/* Evaluate the perl replacements of this job in one round trip. */
static int eval_perl(gexp_t *e)
{
    const gnu_t *g = e->g;
    size_t n = 0;
    if (!(e->first = calloc(g->nrepls, sizeof(*e->first))))
        return -1;
    for (size_t i = 0; i < g->nrepls; i++) {
        e->first[i] = n;
        if (g->repls[i].op == OP_PERL)
            n += g->repls[i].pos != 0 ? 1 : e->nargs;
    }
    tmpl_perl_call_t *calls = calloc(n ? n : 1, sizeof(*calls));
    e->res = calloc(n ? n : 1, sizeof(*e->res));
    e->lens = calloc(n ? n : 1, sizeof(*e->lens));
    e->uq = calloc(n ? n : 1, sizeof(*e->uq));
    if (!calls || !e->res || !e->lens || !e->uq) {
        free(calls);
        return -1;
    }
    for (size_t i = 0; i < g->nrepls; i++) {
        const repl_t *r = &g->repls[i];
        if (r->op != OP_PERL)
            continue;
        if (r->pos != 0) {
            size_t k = pos_arg(e, r->pos);
            calls[e->first[i]] = (tmpl_perl_call_t){
                .id = r->perl, .arg = k == SIZE_MAX ? 0 : k + 1};
        } else {
            for (size_t a = 0; a < e->nargs; a++)
                calls[e->first[i] + a] =
                    (tmpl_perl_call_t){.id = r->perl, .arg = a + 1};
        }
    }
    tmpl_perl_job_t job = {.args = e->args, .nargs = e->nargs,
                           .seq = e->c->seq, .slot = e->c->slot,
                           .total = e->c->total};
    int rc = tmpl__perl_eval(g->perl, &job, calls, n, e->res, e->lens,
                             e->uq, &e->skip);
    free(calls);
    if (rc == 0)
        e->ncalls = n;
    return rc;
}

static void gexp_fini(gexp_t *e)
{
    for (size_t i = 0; i < e->ncalls; i++)
        free(e->res[i]);
    free(e->res);
    free(e->lens);
    free(e->uq);
    free(e->first);
    util_buf_fini(&e->line);
    util_buf_fini(&e->group);
    util_buf_fini(&e->words);
    util_buf_fini(&e->val);
}

/* Expand into e->line (and e->words with -q).  0, -1 with errno. */
static int gexp_run(gexp_t *e, const tmpl_t *t, const tmpl_ctx_t *c)
{
    static const char *const empty[] = {""};
    *e = (gexp_t){.g = t->gnu, .c = c, .args = c->vals, .nargs = c->nvals};
    if (c->nvals == 0) {
        e->args = empty;
        e->nargs = 1;
    }
    if (e->g->uses_perl && eval_perl(e) < 0)
        return -1;
    walk(e);
    if (e->g->quote)
        emit_spc(e);
    if (!e->failed && util_buf_putc(&e->line, '\0') < 0)
        e->failed = ENOMEM;
    if (e->failed) {
        errno = e->failed;
        return -1;
    }
    e->line.len--;
    return 0;
}

/* ------------------------------------------------- direct spawn check */

/* Split a line into words when it has no shell syntax: plain characters,
 * '...' and "..." without $ ` \ ! inside; blanks between words.  Appends
 * the NUL-ended words to out.  The count, or -1 when a shell is needed. */
static long plain_words(const char *s, util_buf_t *out)
{
    static const char plain[] = "abcdefghijklmnopqrstuvwxyz"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                "0123456789_@%+=:,./-";
    long n = 0;
    size_t i = 0;
    for (;;) {
        while (s[i] == ' ' || s[i] == '\t')
            i++;
        if (!s[i])
            break;
        size_t wstart = out->len;
        while (s[i] && s[i] != ' ' && s[i] != '\t') {
            char ch = s[i];
            if (ch == '\'') {
                const char *e = strchr(s + i + 1, '\'');
                if (!e)
                    return -1;
                if (util_buf_append(out, s + i + 1,
                                    (size_t)(e - s - i - 1)) < 0)
                    return -1;
                i = (size_t)(e - s) + 1;
            } else if (ch == '"') {
                size_t j = i + 1;
                while (s[j] && s[j] != '"') {
                    if (strchr("$`\\!", s[j]))
                        return -1;
                    j++;
                }
                if (!s[j] || util_buf_append(out, s + i + 1, j - i - 1) < 0)
                    return -1;
                i = j + 1;
            } else if ((unsigned char)ch >= 0x80 || strchr(plain, ch)) {
                /* an assignment before the program needs the shell */
                if (ch == '=' && n == 0)
                    return -1;
                if (util_buf_putc(out, ch) < 0)
                    return -1;
                i++;
            } else {
                return -1;
            }
        }
        (void)wstart;
        if (util_buf_putc(out, '\0') < 0)
            return -1;
        n++;
    }
    return n;
}

static bool shell_only(const char *prog)
{
    static const char *const names[] = {
        "!", "[[", "]]", "{", "}", "case", "do", "done", "elif", "else",
        "esac", "fi", "for", "function", "if", "in", "select", "then",
        "time", "until", "while", "coproc", ".", ":", "alias", "bg", "bind",
        "break", "builtin", "caller", "cd", "command", "compgen", "complete",
        "compopt", "continue", "declare", "dirs", "disown", "enable", "eval",
        "exec", "exit", "export", "fc", "fg", "getopts", "hash", "help",
        "history", "jobs", "let", "local", "logout", "mapfile", "popd",
        "pushd", "read", "readarray", "readonly", "return", "set", "shift",
        "shopt", "source", "suspend", "times", "trap", "type", "typeset",
        "ulimit", "umask", "unalias", "unset", "wait", "pwd", "kill",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(names[i], prog) == 0)
            return true;
    return false;
}

/* True when argv runs the same spawned directly as under the shell. */
static bool direct_ok(const gnu_t *g, const char *const *argv, size_t argc)
{
    if (argc == 0)
        return false;
    const char *prog = argv[0];
    if (!*prog || shell_only(prog))
        return false;
    /* printf: coreutils' warns of arguments its format does not use,
     * the shells' builtins do not */
    if (strcmp(prog, "printf") == 0)
        return false;
    if (strcmp(prog, "echo") == 0) {
        /* a builtin that differs from the program in options, and (dash)
         * in backslashes */
        for (size_t i = 1; i < argc; i++)
            if (argv[i][0] == '-' || (!g->shell_is_bash &&
                                      strchr(argv[i], '\\')))
                return false;
    }
    if (strchr(prog, '/'))
        return true;
    /* An exported bash function needs the shell.  A program that is not
     * in PATH is spawned all the same: banyan then says "could not start:
     * X: command not found" and does not retry it, where the shell would
     * exit 127 (a deliberate difference, docs/gnu-parallel.md). */
    prog_cache_t *pc = g->cache;
    if (pc && pc->name && strcmp(pc->name, prog) == 0)
        return pc->direct;
    char fn[256];
    bool direct = !(snprintf(fn, sizeof(fn), "BASH_FUNC_%s%%%%", prog) <
                        (int)sizeof(fn) && getenv(fn));
    if (pc) {
        free(pc->name);
        pc->name = strdup(prog);
        pc->direct = direct;
    }
    return direct;
}

/* One block: the pointers, then the strings. */
static char **argv_block(const char *const *words, size_t n)
{
    size_t bytes = (n + 1) * sizeof(char *);
    for (size_t i = 0; i < n; i++)
        bytes += strlen(words[i]) + 1;
    char **argv = malloc(bytes);
    if (!argv)
        return NULL;
    char *p = (char *)(argv + n + 1);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(words[i]) + 1;
        argv[i] = memcpy(p, words[i], len);
        p += len;
    }
    argv[n] = NULL;
    return argv;
}

static int gnu_expand(const tmpl_t *t, const tmpl_ctx_t *c, char ***argv_out,
                      char **line_out)
{
    gexp_t e;
    *argv_out = NULL;
    if (line_out)
        *line_out = NULL;
    if (gexp_run(&e, t, c) < 0) {
        int saved = errno;
        gexp_fini(&e);
        errno = saved;
        return -1;
    }
    const gnu_t *g = t->gnu;
    util_buf_t wb = UTIL_BUF_INIT;
    const util_buf_t *words = &e.words;
    long nw = (long)e.nwords;
    if (!g->quote) {
        nw = plain_words(e.line.data, &wb);
        words = &wb;
    }
    char **argv = NULL;
    if (nw > 0) {
        const char **ptrs = calloc((size_t)nw + 1, sizeof(*ptrs));
        if (!ptrs)
            goto nomem;
        const char *p = words->data;
        for (long i = 0; i < nw; i++) {
            ptrs[i] = p;
            p += strlen(p) + 1;
        }
        if (direct_ok(g, ptrs, (size_t)nw))
            argv = argv_block(ptrs, (size_t)nw);
        free(ptrs);
        if (!argv && errno == ENOMEM)
            goto nomem;
    }
    if (!argv) {
        const char *sh[3] = {g->shell, "-c", e.line.data};
        if (!(argv = argv_block(sh, 3)))
            goto nomem;
    }
    if (g->shell_quote) {
        util_buf_t q = UTIL_BUF_INIT;
        if (buf_q(&q, e.line.data, e.line.len) < 0 ||
            util_buf_putc(&q, '\0') < 0) {
            util_buf_fini(&q);
            free(argv);
            goto nomem;
        }
        util_buf_fini(&e.line);
        e.line = q;
        e.line.len--;
    }
    if (line_out && !(*line_out = util_buf_steal(&e.line))) {
        free(argv);
        goto nomem;
    }
    *argv_out = argv;
    bool skip = e.skip;
    util_buf_fini(&wb);
    gexp_fini(&e);
    return skip ? 1 : 0;
nomem:
    util_buf_fini(&wb);
    gexp_fini(&e);
    errno = ENOMEM;
    return -1;
}

int tmpl_expand(const tmpl_t *t, const tmpl_ctx_t *ctx, char ***argv_out,
                char **line_out)
{
    if (t->gnu && !t->gnu->text_only)
        return gnu_expand(t, ctx, argv_out, line_out);
    if (t->gnu) {
        errno = EINVAL;
        return -1;
    }
    return old_expand(t, ctx, argv_out, line_out);
}

char *tmpl_expand_text(const tmpl_t *t, const tmpl_ctx_t *ctx)
{
    if (!t->gnu) {
        errno = EINVAL;
        return NULL;
    }
    gexp_t e;
    char *s = NULL;
    if (gexp_run(&e, t, ctx) == 0 && !(s = util_buf_steal(&e.line)))
        errno = ENOMEM;
    int saved = errno;
    gexp_fini(&e);
    errno = saved;
    return s;
}
