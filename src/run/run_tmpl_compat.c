/* SPDX-License-Identifier: MIT */
/* run_tmpl_compat.c - weak stand-ins for the tmpl module's text templates
 * (tmpl_parse_text, tmpl_expand_text: --tagstring and --results names),
 * until the branch that adds them (issue 13, helper "tmpl") is merged.
 *
 * The real ones, in src/tmpl/template.c, are strong symbols and win at link
 * time; delete this file after the merge.  These know {} {n} {#} {%} and
 * leave any other text as it is.  A text template is kept as a copy of
 * its text, cast to tmpl_t: only these two functions and
 * run_text_destroy() ever see it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "run_private.h"

static bool stand_in; /* a stand-in made a template */

void run_text_destroy(tmpl_t *t)
{
    if (stand_in)
        free(t);
    else
        tmpl_destroy(t);
}

__attribute__((weak)) tmpl_t *tmpl_parse_text(const char *text,
                                              const struct tmpl_syntax *syntax,
                                              banyan_error_t *error)
{
    (void)syntax;
    stand_in = true;
    char *copy = strdup(text);
    if (!copy)
        errprintf(error, "out of memory");
    return (tmpl_t *)copy;
}

__attribute__((weak)) char *tmpl_expand_text(const tmpl_t *t,
                                             const tmpl_ctx_t *ctx)
{
    const char *p = (const char *)t;
    util_buf_t b = UTIL_BUF_INIT;
    int rc = 0;
    while (*p && rc == 0) {
        const char *end = p[0] == '{' ? strchr(p, '}') : NULL;
        char *num_end;
        long n;
        if (end && end == p + 1) {
            for (size_t i = 0; i < ctx->nvals && rc == 0; i++)
                rc = (i ? util_buf_putc(&b, ' ') : 0) |
                     util_buf_puts(&b, ctx->vals[i]);
        } else if (end && end == p + 2 && p[1] == '#') {
            rc = util_buf_printf(&b, "%llu", (unsigned long long)ctx->seq);
        } else if (end && end == p + 2 && p[1] == '%') {
            rc = util_buf_printf(&b, "%u", ctx->slot);
        } else if (end && (n = strtol(p + 1, &num_end, 10)) >= 1 &&
                   num_end == end && p[1] >= '0' && p[1] <= '9') {
            if ((size_t)n <= ctx->nvals)
                rc = util_buf_puts(&b, ctx->vals[n - 1]);
        } else {
            rc = util_buf_putc(&b, *p);
            p++;
            continue;
        }
        p = end + 1;
    }
    if (rc < 0 || util_buf_putc(&b, '\0') < 0) {
        util_buf_fini(&b);
        errno = ENOMEM;
        return NULL;
    }
    return util_buf_steal(&b);
}
