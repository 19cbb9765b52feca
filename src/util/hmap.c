/* SPDX-License-Identifier: MIT */
/* hmap.c - open addressing with linear probing and backward-shift deletion.
 *
 * The table is two arrays of cap slots (cap a power of two): the hash of
 * each entry (0: the slot is empty; stored hashes have their top bit set)
 * and the entries themselves, key then value, each entry esize bytes.  An
 * entry's home slot is its hash masked by cap - 1; it sits at its home or
 * after it, with no empty slot in between.  At most three quarters of the
 * slots are full, so a probe always ends at an empty slot.
 *
 * Removal leaves no tombstone: the entries after the hole in its probe run
 * move back into it when their home does not lie between the hole and
 * themselves (as redis's and Knuth's algorithm R), so lookups stay short
 * after any number of inserts and removes.
 *
 * Iteration starts just after an empty slot and walks cap slots.  Removing
 * the current entry only moves entries of its run backwards, and the run
 * cannot reach back past the empty slot where the walk began, so revisiting
 * the current slot after a removal sees every entry exactly once.
 */
#include "util/hmap.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { HMAP_MIN_CAP = 16 };

#define HMAP_USED (UINT64_C(1) << 63)

struct util_hmap {
    uint64_t *hashes;          /* cap slots; 0 = empty */
    unsigned char *cells;      /* cap entries of esize bytes */
    size_t cap;                /* power of two, or 0 before the first insert */
    size_t count;              /* full slots */
    size_t key_size, voff, esize; /* bytes; the value starts at voff */
    util_hmap_hash_cb hash;    /* NULL: hash the key's bytes */
    util_hmap_equal_cb equal;  /* NULL: compare the key's bytes */
};

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

uint64_t util_hash_bytes(const void *p, size_t len)
{
    const unsigned char *s = p;
    uint64_t h = len;
    while (len > 0) {
        uint64_t w = 0;
        size_t n = len < sizeof w ? len : sizeof w;
        memcpy(&w, s, n);
        h = mix64(h ^ w);
        s += n;
        len -= n;
    }
    return h;
}

uint64_t util_hash_str(const char *s)
{
    return util_hash_bytes(s, strlen(s));
}

static size_t round8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

util_hmap_t *util_hmap_create(size_t key_size, size_t value_size,
                              util_hmap_hash_cb hash,
                              util_hmap_equal_cb equal)
{
    if (key_size == 0 || !hash != !equal) {
        errno = EINVAL;
        return NULL;
    }
    util_hmap_t *m = calloc(1, sizeof(*m));
    if (!m) {
        errno = ENOMEM;
        return NULL;
    }
    m->key_size = key_size;
    m->voff = round8(key_size);
    m->esize = round8(m->voff + value_size);
    m->hash = hash;
    m->equal = equal;
    return m;
}

void util_hmap_destroy(util_hmap_t *m)
{
    if (!m)
        return;
    int saved = errno;
    free(m->hashes);
    free(m->cells);
    free(m);
    errno = saved;
}

size_t util_hmap_count(const util_hmap_t *m)
{
    return m->count;
}

static unsigned char *cell(const util_hmap_t *m, size_t i)
{
    return m->cells + i * m->esize;
}

static uint64_t key_hash(const util_hmap_t *m, const void *key)
{
    uint64_t h = m->hash ? mix64(m->hash(key))
                         : util_hash_bytes(key, m->key_size);
    return h | HMAP_USED;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t probe(const util_hmap_t *m, const void *key, uint64_t h)
{
    size_t mask = m->cap - 1;
    size_t i = (size_t)h & mask;
    for (; m->hashes[i]; i = (i + 1) & mask) {
        if (m->hashes[i] != h)
            continue;
        const void *k = cell(m, i);
        if (m->equal ? m->equal(k, key) : !memcmp(k, key, m->key_size))
            break;
    }
    return i;
}

void *util_hmap_find(const util_hmap_t *m, const void *key)
{
    if (m->count > 0) {
        size_t i = probe(m, key, key_hash(m, key));
        if (m->hashes[i])
            return cell(m, i) + m->voff;
    }
    errno = ENOENT;
    return NULL;
}

static int grow(util_hmap_t *m)
{
    size_t ncap = m->cap ? m->cap * 2 : HMAP_MIN_CAP;
    uint64_t *hashes = calloc(ncap, sizeof(*hashes));
    unsigned char *cells = malloc(ncap * m->esize);
    if (!hashes || !cells) {
        free(hashes);
        free(cells);
        errno = ENOMEM;
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->hashes[i])
            continue;
        size_t j = (size_t)m->hashes[i] & (ncap - 1);
        while (hashes[j])
            j = (j + 1) & (ncap - 1);
        hashes[j] = m->hashes[i];
        memcpy(cells + j * m->esize, cell(m, i), m->esize);
    }
    free(m->hashes);
    free(m->cells);
    m->hashes = hashes;
    m->cells = cells;
    m->cap = ncap;
    return 0;
}

void *util_hmap_insert(util_hmap_t *m, const void *key, bool *created)
{
    uint64_t h = key_hash(m, key);
    if (created)
        *created = false;
    if (m->count > 0) {
        size_t i = probe(m, key, h);
        if (m->hashes[i])
            return cell(m, i) + m->voff;
    }
    if ((m->count + 1) * 4 > m->cap * 3 && grow(m) < 0)
        return NULL;
    size_t i = probe(m, key, h);
    assert(!m->hashes[i]);
    m->hashes[i] = h;
    memcpy(cell(m, i), key, m->key_size);
    memset(cell(m, i) + m->voff, 0, m->esize - m->voff);
    m->count++;
    if (created)
        *created = true;
    return cell(m, i) + m->voff;
}

/* Empty slot i and shift the rest of its probe run back into the hole. */
static void remove_at(util_hmap_t *m, size_t i)
{
    size_t mask = m->cap - 1;
    size_t hole = i;
    for (size_t j = (i + 1) & mask; m->hashes[j]; j = (j + 1) & mask) {
        size_t home = (size_t)m->hashes[j] & mask;
        /* The entry at j stays when its home lies in (hole, j]. */
        bool stays = hole <= j ? (home > hole && home <= j)
                               : (home > hole || home <= j);
        if (stays)
            continue;
        m->hashes[hole] = m->hashes[j];
        memcpy(cell(m, hole), cell(m, j), m->esize);
        hole = j;
    }
    m->hashes[hole] = 0;
    m->count--;
}

int util_hmap_remove(util_hmap_t *m, const void *key)
{
    if (m->count > 0) {
        size_t i = probe(m, key, key_hash(m, key));
        if (m->hashes[i]) {
            remove_at(m, i);
            return 0;
        }
    }
    errno = ENOENT;
    return -1;
}

void util_hmap_clear(util_hmap_t *m)
{
    if (m->cap)
        memset(m->hashes, 0, m->cap * sizeof(*m->hashes));
    m->count = 0;
}

bool util_hmap_next(const util_hmap_t *m, util_hmap_iter_t *it, void **key,
                    void **value)
{
    if (!it->begun) {
        if (m->count == 0)
            return false;
        it->begun = true;
        it->step = 0;
        it->start = 0;
        while (m->hashes[it->start])
            it->start++;
    }
    while (++it->step < m->cap) {
        size_t i = (it->start + it->step) & (m->cap - 1);
        if (!m->hashes[i])
            continue;
        if (key)
            *key = cell(m, i);
        if (value)
            *value = cell(m, i) + m->voff;
        return true;
    }
    it->step = m->cap;
    return false;
}

void util_hmap_iter_remove(util_hmap_t *m, util_hmap_iter_t *it)
{
    size_t i = (it->start + it->step) & (m->cap - 1);
    assert(it->begun && it->step > 0 && m->hashes[i]);
    remove_at(m, i);
    it->step--; /* what moved into slot i is still to be visited */
}
