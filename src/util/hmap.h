/* SPDX-License-Identifier: MIT */
/* hmap.h - the one hash table: fixed-size keys and values, open addressing.
 *
 * A map is made for one key size and one value size; entries are copied in
 * and live inside the table.  Keys are compared byte by byte and hashed
 * over their bytes, unless a hash and an equal callback are given (e.g. for
 * a key that is a `char *`: the callbacks then receive a pointer to the
 * pointer).  A key with padding must be memset before it is filled.
 *
 * Pointers into the table (to a key or a value) are valid until the next
 * insert or remove, which may move entries.  Values are aligned to 8 bytes.
 */
#ifndef BANYAN_UTIL_HMAP_H
#define BANYAN_UTIL_HMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct util_hmap util_hmap_t;

/* Hash of the key at `key` (key_size bytes). */
typedef uint64_t (*util_hmap_hash_cb)(const void *key);
/* Whether the keys at a and b are the same key. */
typedef bool (*util_hmap_equal_cb)(const void *a, const void *b);

/* A map of key_size-byte keys (> 0) to value_size-byte values (may be 0: a
 * set).  hash and equal are both NULL (the key's bytes) or both given.
 * NULL with ENOMEM or EINVAL.  Caller must destroy with
 * util_hmap_destroy(). */
util_hmap_t *util_hmap_create(size_t key_size, size_t value_size,
                              util_hmap_hash_cb hash,
                              util_hmap_equal_cb equal);
void util_hmap_destroy(util_hmap_t *m);

/* Number of entries. */
size_t util_hmap_count(const util_hmap_t *m);

/* The value stored under key, or NULL (ENOENT).  Returned pointer is
 * borrowed; valid until the next insert or remove. */
void *util_hmap_find(const util_hmap_t *m, const void *key);

/* The value under key, added zero-filled if absent (*created, may be NULL,
 * says which).  NULL with ENOMEM, and the map unchanged.  Returned pointer
 * is borrowed; valid until the next insert or remove. */
void *util_hmap_insert(util_hmap_t *m, const void *key, bool *created);

/* Remove the entry under key.  0, or -1 with ENOENT. */
int util_hmap_remove(util_hmap_t *m, const void *key);

/* Remove every entry, keeping the memory. */
void util_hmap_clear(util_hmap_t *m);

/* Iteration: every entry once, in no order.
 *
 *     util_hmap_iter_t it = UTIL_HMAP_ITER_INIT;
 *     void *key, *value;
 *     while (util_hmap_next(m, &it, &key, &value))
 *         if (done(value))
 *             util_hmap_iter_remove(m, &it);
 *
 * Removing the current entry with util_hmap_iter_remove() is safe; any
 * other insert or remove during the walk is not. */
typedef struct util_hmap_iter {
    size_t start;  /* an empty slot where the walk begins */
    size_t step;   /* slots visited so far */
    bool begun;
} util_hmap_iter_t;

#define UTIL_HMAP_ITER_INIT {0, 0, false}

/* The next entry in *key and *value (either may be NULL); false at the
 * end.  The pointers are borrowed as for util_hmap_find(). */
bool util_hmap_next(const util_hmap_t *m, util_hmap_iter_t *it, void **key,
                    void **value);
/* Remove the entry util_hmap_next() returned last. */
void util_hmap_iter_remove(util_hmap_t *m, util_hmap_iter_t *it);

/* A hash of len bytes (for callbacks that hash part of a key). */
uint64_t util_hash_bytes(const void *p, size_t len);
/* A hash of a NUL-terminated string. */
uint64_t util_hash_str(const char *s);

#endif /* BANYAN_UTIL_HMAP_H */
