/* SPDX-License-Identifier: MIT */
/* fuzz_tmpl.c - fuzz target: command templates (tmpl_parse, tmpl_expand).
 *
 * The input is the template's words, separated by NUL bytes, then a 0x1e
 * byte, then the task's values, separated by NUL bytes.  A template that
 * parses and fits its values is expanded in the argv and the shell form;
 * a refusal must say why.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "tmpl/tmpl.h"

enum { MAX_WORDS = 64 };

/* Split s[0..len) at NUL bytes into at most max pieces. */
static int split(char *s, size_t len, const char **out, int max)
{
    int n = 0;
    size_t i = 0;
    while (i < len && n < max) {
        out[n++] = s + i;
        i += strlen(s + i) + 1;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    char *sep = memchr(s, 0x1e, size);
    size_t wlen = sep != NULL ? (size_t)(sep - s) : size;
    if (sep != NULL)
        *sep = '\0';
    const char *words[MAX_WORDS], *vals[MAX_WORDS];
    int nw = split(s, wlen, words, MAX_WORDS);
    int nv = sep != NULL ? split(sep + 1, size - wlen - 1, vals, MAX_WORDS)
                         : 0;
    banyan_error_t err = {{0}};
    /* banyan's own argv form: GNU semantics would run {= perl =} */
    static const tmpl_syntax_t argv_words = {.argv_words = true};
    tmpl_t *t = tmpl_parse(words, nw, &argv_words, &err);
    if (t == NULL) {
        fuzz_check_refusal(&err);
        free(s);
        return 0;
    }
    if (tmpl_check_arity(t, (size_t)nv, &err) < 0) {
        fuzz_check_refusal(&err);
    } else {
        tmpl_ctx_t ctx = {.vals = vals, .nvals = (size_t)nv, .seq = 42,
                          .slot = 3};
        char **argv = NULL, *line = NULL;
        if (tmpl_expand(t, &ctx, &argv, &line) < 0)
            __builtin_trap(); /* arity was checked: it must expand */
        if (argv == NULL || argv[0] == NULL || line == NULL)
            __builtin_trap();
        free(argv);
        free(line);
        /* the argv form only: no line wanted */
        if (tmpl_expand(t, &ctx, &argv, NULL) < 0)
            __builtin_trap();
        free(argv);
    }
    tmpl_destroy(t);
    free(s);
    return 0;
}
