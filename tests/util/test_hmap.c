/* SPDX-License-Identifier: MIT */
/* test_hmap.c - the one hash table: find, insert, remove, iteration. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "util/hmap.h"

typedef struct {
    uint32_t job;
    uint64_t index;
} pair_t;

static void test_basic(void)
{
    util_hmap_t *m = util_hmap_create(sizeof(int), sizeof(double), NULL,
                                      NULL);
    ok(m != NULL, "util_hmap_create makes an empty map");
    is_int(util_hmap_count(m), 0, "a new map is empty");
    int k = 7;
    errno = 0;
    ok(util_hmap_find(m, &k) == NULL && errno == ENOENT,
       "find in an empty map is ENOENT");
    bool created = false;
    double *v = util_hmap_insert(m, &k, &created);
    ok(v && created && *v == 0.0, "insert adds a zero-filled value");
    *v = 2.5;
    v = util_hmap_insert(m, &k, &created);
    ok(v && !created && *v == 2.5, "insert of a present key finds it");
    errno = 0;
    ok(util_hmap_remove(m, &(int){8}) < 0 && errno == ENOENT,
       "remove of an absent key is ENOENT");
    ok(util_hmap_remove(m, &k) == 0 && util_hmap_count(m) == 0,
       "remove takes the entry out");
    ok(util_hmap_create(0, 4, NULL, NULL) == NULL && errno == EINVAL,
       "a zero-sized key is EINVAL");
    util_hmap_destroy(m);
    util_hmap_destroy(NULL);
}

/* Many inserts and removes against a plain array as the model: the table
 * grows and shifts runs back, and never loses an entry. */
static void test_churn(void)
{
    enum { N = 20000 };
    util_hmap_t *m = util_hmap_create(sizeof(pair_t), sizeof(uint64_t),
                                      NULL, NULL);
    static bool in[N];
    bool good = true;
    srand(12);
    for (int round = 0; round < 200000; round++) {
        uint32_t i = (uint32_t)rand() % N;
        pair_t k;
        memset(&k, 0, sizeof(k));
        k.job = i % 37;
        k.index = i;
        if (in[i]) {
            uint64_t *v = util_hmap_find(m, &k);
            good = good && v && *v == i * 3u;
            good = good && util_hmap_remove(m, &k) == 0;
            in[i] = false;
        } else {
            bool created;
            uint64_t *v = util_hmap_insert(m, &k, &created);
            good = good && v && created;
            if (v)
                *v = i * 3u;
            in[i] = true;
        }
    }
    size_t n = 0;
    for (uint32_t i = 0; i < N; i++) {
        pair_t k;
        memset(&k, 0, sizeof(k));
        k.job = i % 37;
        k.index = i;
        uint64_t *v = util_hmap_find(m, &k);
        good = good && (in[i] ? v && *v == i * 3u : v == NULL);
        n += in[i];
    }
    ok(good, "200,000 random inserts and removes agree with a model");
    is_int(util_hmap_count(m), n, "the count is the model's");
    util_hmap_destroy(m);
}

/* Removing the current entry during a walk visits every entry once. */
static void test_iter_remove(void)
{
    enum { N = 5000 };
    util_hmap_t *m = util_hmap_create(sizeof(uint32_t), 0, NULL, NULL);
    for (uint32_t i = 0; i < N; i++)
        util_hmap_insert(m, &i, NULL);
    static int seen[N];
    util_hmap_iter_t it = UTIL_HMAP_ITER_INIT;
    void *key;
    while (util_hmap_next(m, &it, &key, NULL)) {
        uint32_t k;
        memcpy(&k, key, sizeof k);
        seen[k]++;
        if (k % 3 != 0)
            util_hmap_iter_remove(m, &it);
    }
    bool once = true;
    for (uint32_t i = 0; i < N; i++)
        once = once && seen[i] == 1;
    ok(once, "a walk that removes entries sees each entry once");
    bool kept = util_hmap_count(m) == (N + 2) / 3;
    for (uint32_t i = 0; i < N; i++)
        kept = kept && (util_hmap_find(m, &i) != NULL) == (i % 3 == 0);
    ok(kept, "exactly the entries not removed remain");
    it = (util_hmap_iter_t)UTIL_HMAP_ITER_INIT;
    while (util_hmap_next(m, &it, NULL, NULL))
        util_hmap_iter_remove(m, &it);
    is_int(util_hmap_count(m), 0, "a walk can remove every entry");
    util_hmap_clear(m);
    it = (util_hmap_iter_t)UTIL_HMAP_ITER_INIT;
    ok(!util_hmap_next(m, &it, NULL, NULL), "an empty map has no entries");
    util_hmap_destroy(m);
}

static uint64_t str_hash(const void *k)
{
    return util_hash_str(*(const char *const *)k);
}

static bool str_equal(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b) == 0;
}

static void test_callbacks(void)
{
    util_hmap_t *m = util_hmap_create(sizeof(char *), sizeof(int), str_hash,
                                      str_equal);
    const char *a = "node-a";
    char b[] = "node-a";
    *(int *)util_hmap_insert(m, &a, NULL) = 4;
    const char *bp = b;
    int *v = util_hmap_find(m, &bp);
    ok(v && *v == 4, "string keys are compared by their text");
    errno = 0;
    ok(util_hmap_create(8, 8, str_hash, NULL) == NULL && errno == EINVAL,
       "a hash without an equal callback is EINVAL");
    util_hmap_destroy(m);
}

int main(void)
{
    plan(NO_PLAN);
    test_basic();
    test_churn();
    test_iter_remove();
    test_callbacks();
    return done_testing();
}
