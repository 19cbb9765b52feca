/* SPDX-License-Identifier: MIT */
/* inputs_private.h - what inputs.c, inputs_read.c and inputs_group.c
 * share: the sources, their groups and the job table. */
#ifndef BANYAN_TMPL_INPUTS_PRIVATE_H
#define BANYAN_TMPL_INPUTS_PRIVATE_H

#include <regex.h>

#include "tmpl.h"

typedef struct source {
    char *block;      /* owned bytes of all values, NUL-separated */
    char **vals;      /* n pointers into block: value i (its first column) */
    uint32_t *ncols;  /* columns of value i, consecutive strings in block;
                         NULL: one each (no --colsep / --csv) */
    size_t n;         /* number of values */
    uint32_t maxcols; /* columns of the widest value (1 without ncols) */
    bool linked;      /* paired with the previous source */
} source_t;

typedef struct group {
    size_t first;   /* index of its first source */
    size_t count;   /* number of sources in the group */
    uint64_t len;   /* records of the group: see plan_groups() */
} group_t;

struct tmpl_inputs {
    source_t *src;
    size_t nsrc;
    size_t cap;
    group_t *grp;   /* rebuilt as sources are added; nsrc entries at most */
    size_t ngrp;
    uint64_t count; /* product of the group lengths (0 without sources) */
    size_t width;   /* values a record has at most */

    /* reading (inputs_read.c) */
    tmpl_read_t rd;     /* its strings point into rd_text */
    char *rd_text;      /* owned copies of delim, eof and colsep */
    regex_t re;         /* --colsep, when not a plain string */
    bool re_ok;
    char *colsep_lit;   /* --colsep as a plain string (in rd_text), or NULL */
    size_t colsep_len;
    char **names;       /* --header: owned names of positions 1..nnames */
    size_t nnames;

    /* jobs (inputs_group.c) */
    bool grouped;       /* tmpl_inputs_group() was called */
    bool zero_args;     /* jobs get no values (-N0) */
    uint64_t per;       /* records a job when job_first is NULL */
    uint64_t njobs;
    uint64_t *job_first; /* njobs + 1 record indices, or NULL */
    size_t room;        /* values a job has at most */
};

/* Append s (whose block, vals and ncols are taken over, also on failure). */
int inputs__add_source(tmpl_inputs_t *in, source_t s, banyan_error_t *error);

/* Free what tmpl_inputs_set_read() kept. */
void inputs__read_fini(tmpl_inputs_t *in);

#endif /* BANYAN_TMPL_INPUTS_PRIVATE_H */
