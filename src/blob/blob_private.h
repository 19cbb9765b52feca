/* SPDX-License-Identifier: MIT */
/* blob_private.h - helpers shared by the files of src/blob. */
#ifndef BANYAN_BLOB_PRIVATE_H
#define BANYAN_BLOB_PRIVATE_H

#include <stdint.h>

#include "blob/blob.h"

/* Prefix of temp files in the cache directory; files with it are never
 * indexed and are removed at open. */
#define BLOB__TMP_PREFIX ".tmp."

/* sodium_init() once; 0 or -1 with EIO. */
int blob__sodium_init(void);

/* Hash everything fd holds from offset 0 (pread, 64 KiB at a time).  *size
 * (may be NULL) gets the length.  0 or -1 with errno. */
int blob__hash_fd(int fd, blob_id_t *out, uint64_t *size);

/* Create a temp file (mode 0600) in the cache directory; its path goes
 * into path (size bytes).  Returns the fd (O_RDWR, O_CLOEXEC) or -1. */
int blob__cache_tmpfile(blob_cache_t *c, char *path, size_t size);

/* Make room for size more bytes, fsync fd, and rename the temp file at
 * tmp_path (whose content hashes to id and holds size bytes) to id's place,
 * then index it as verified and most recently used.  If id is held
 * already, the temp file is removed and the blob only marked used.  Closes
 * fd and removes the temp file on failure too.  0 or -1 with errno. */
int blob__cache_commit(blob_cache_t *c, int fd, const char *tmp_path,
                       const blob_id_t *id, uint64_t size);

/* The cache's bound (0: none). */
uint64_t blob__cache_max(const blob_cache_t *c);

#endif /* BANYAN_BLOB_PRIVATE_H */
