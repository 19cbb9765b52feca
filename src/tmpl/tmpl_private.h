/* SPDX-License-Identifier: MIT */
/* tmpl_private.h - the perl co-process of command templates (tmpl_perl.c),
 * shared inside src/tmpl/ only. */
#ifndef BANYAN_TMPL_PRIVATE_H
#define BANYAN_TMPL_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <banyan/error.h>

/* One perl child per template, talking over a socketpair on its fd 3.  Its
 * stdout and stderr are banyan's, as GNU's perl code prints to parallel's. */
typedef struct tmpl_perl tmpl_perl_t;

/* Start perl.  NULL with errno and error text. */
tmpl_perl_t *tmpl__perl_start(banyan_error_t *error);

/* Close the socket, kill the child and reap it.  NULL is fine. */
void tmpl__perl_stop(tmpl_perl_t *p);

/* Compile CODE as GNU does (sub { no strict; no warnings; my $job = shift;
 * CODE }, in package Arg).  Its id (>= 0), or -1: EINVAL with "Cannot use
 * CODE: <perl's message>", EIO when perl is gone. */
int tmpl__perl_compile(tmpl_perl_t *p, const char *code,
                       banyan_error_t *error);

/* GNU's rewriting of replacement strings into marked perl expressions
 * (\257<...\257>), for an rpl table with group captures: words in, *out a
 * malloc'd array of n malloc'd words (the same count).  keys/vals: the rpl
 * table.  0 or -1 (EIO, ENOMEM). */
int tmpl__perl_markup(tmpl_perl_t *p, const char *const *words, size_t n,
                      const char *const *keys, const char *const *vals,
                      size_t nkeys, char ***out, banyan_error_t *error);

typedef struct tmpl_perl_call {
    int id;       /* from tmpl__perl_compile */
    size_t arg;   /* 1-based index into the args, 0 = the empty value */
} tmpl_perl_call_t;

typedef struct tmpl_perl_job {
    const char *const *args;  /* the job's values (@arg[1..n]) */
    size_t nargs;
    uint64_t seq, total;
    uint32_t slot;
} tmpl_perl_job_t;

/* Evaluate the calls for one job: results[i] (malloc'd, free each) and
 * uq[i] (uq() called); *skip when skip() was called.  0, -1 EIO (perl died
 * or misspoke) or ENOMEM. */
int tmpl__perl_eval(tmpl_perl_t *p, const tmpl_perl_job_t *job,
                    const tmpl_perl_call_t *calls, size_t ncalls,
                    char **results, size_t *lens, bool *uq, bool *skip);

#endif /* BANYAN_TMPL_PRIVATE_H */
