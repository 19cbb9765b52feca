/* SPDX-License-Identifier: MIT */
/* worker_privdir.h - the worker's private directory (worker_privdir.c). */
#ifndef BANYAN_WORKER_PRIVDIR_H
#define BANYAN_WORKER_PRIVDIR_H

#include <banyan/error.h>

typedef struct worker__privdir worker__privdir_t;

/* Make $TMPDIR/banyan-worker-XXXXXX (else /tmp), locked for the caller's
 * life, after removing those of workers that died.  NULL with errno and a
 * sentence.  Caller must destroy with worker__privdir_destroy(), which
 * removes the directory and what is in it. */
worker__privdir_t *worker__privdir_create(banyan_error_t *error);
void worker__privdir_destroy(worker__privdir_t *d);

/* The directory.  Returned pointer is borrowed; valid until
 * worker__privdir_destroy(). */
const char *worker__privdir_path(const worker__privdir_t *d);

#endif /* BANYAN_WORKER_PRIVDIR_H */
