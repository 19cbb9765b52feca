/* SPDX-License-Identifier: MIT */
/* test_cache.c - the on-disk blob cache: layout, atomic writes, checks,
 * LRU eviction, pins, reopening, locking, streaming puts.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "blob/blob.h"
#include "tap.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

static int write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, data, len);
    close(fd);
    return n == (ssize_t)len ? 0 : -1;
}

static bool exists(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0;
}

/* A 1000-byte buffer filled with byte b. */
static void fill(char *buf, int b)
{
    memset(buf, b, 1000);
}

static void test_basic(void)
{
    banyan_error_t err = {{0}};
    char path[4096], expect[4096], hex[BLOB_HEX_LEN + 1];
    blob_stats_t st;
    blob_id_t id, id2, other;
    struct stat sb;

    blob_cache_t *c = blob_cache_open("c1/nested", 0, &err);
    ok(c != NULL, "open creates a missing cache directory (%s)", err.text);
    ok(stat("c1/nested", &sb) == 0 && (sb.st_mode & 0777) == 0700,
       "the cache directory is mode 0700");

    mode_t old = umask(0);
    ok(blob_put(c, "hello\n", 6, &id) == 0, "put stores a blob");
    umask(old);
    ok(blob_has(c, &id), "has finds it");
    blob_id_t want;
    blob_hash("hello\n", 6, &want);
    ok(blob_id_equal(&id, &want), "put names the blob by its BLAKE2b hash");

    ok(blob_get_path(c, &id, path, sizeof path) == 0, "get_path finds it");
    blob_id_format(&id, hex);
    snprintf(expect, sizeof expect, "c1/nested/%.2s/%s", hex, hex);
    is_str(path, expect, "the file is dir/<first two hex>/<name>");
    ok(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600,
       "the blob file is mode 0600 even with umask 0");
    char *text = NULL;
    size_t len = 0;
    ok(blob_read(c, &id, (void **)&text, &len) == 0 && len == 6
           && memcmp(text, "hello\n", 6) == 0 && text[6] == '\0',
       "read gives back the bytes, NUL-terminated");
    free(text);
    uint64_t size = 0;
    ok(blob_size(c, &id, &size) == 0 && size == 6, "size is 6 bytes");

    ok(blob_put(c, "hello\n", 6, &id2) == 0 && blob_id_equal(&id, &id2),
       "putting the same bytes again gives the same name");
    ok(blob_put(c, "", 0, &other) == 0 && blob_has(c, &other),
       "an empty blob can be stored");
    blob_stats(c, &st);
    is_int(st.count, 2, "two blobs are held");
    is_int(st.bytes, 6, "their sizes add up to 6 bytes");
    is_int(st.stored, 2, "the duplicate put wrote nothing");
    is_int(st.hits, 2, "get_path and read counted as hits");

    blob_hash("nope", 4, &other);
    ok(!blob_has(c, &other), "has does not find a blob never stored");
    errno = 0;
    ok(blob_get_path(c, &other, path, sizeof path) == -1 && errno == ENOENT,
       "get_path of a missing blob fails with ENOENT");
    errno = 0;
    ok(blob_read(c, &other, (void **)&text, &len) == -1 && errno == ENOENT,
       "read of a missing blob fails with ENOENT");
    blob_stats(c, &st);
    is_int(st.misses, 2, "the two failed lookups counted as misses");
    errno = 0;
    ok(blob_get_path(c, &id, path, 10) == -1 && errno == ERANGE,
       "get_path into a short buffer fails with ERANGE");

    /* Lock: one owner at a time. */
    errno = 0;
    blob_cache_t *c2 = blob_cache_open("c1/nested", 0, &err);
    ok(c2 == NULL && errno == EWOULDBLOCK,
       "a second open of the same directory fails with EWOULDBLOCK");
    ok(strstr(err.text, "in use") != NULL, "and says it is in use: %s",
       err.text);

    /* A file deleted behind the cache's back. */
    blob_get_path(c, &id, path, sizeof path);
    unlink(path);
    errno = 0;
    ok(blob_get_path(c, &id, path, sizeof path) == -1 && errno == ENOENT,
       "a blob whose file vanished is reported missing");
    ok(!blob_has(c, &id), "and leaves the index");

    /* remove */
    ok(blob_put(c, "bye", 3, &id) == 0 && blob_remove(c, &id) == 0
           && !blob_has(c, &id) && !exists(path),
       "remove drops a blob and its file");
    errno = 0;
    ok(blob_remove(c, &id) == -1 && errno == ENOENT,
       "removing it again fails with ENOENT");
    blob_cache_close(c);

    c2 = blob_cache_open("c1/nested", 0, &err);
    ok(c2 != NULL, "after close the directory can be opened again");
    blob_cache_close(c2);

    errno = 0;
    ok(blob_cache_open("", 0, &err) == NULL && errno == EINVAL,
       "open refuses an empty directory name");
}

/* Temp files and strangers in the directory. */
static void test_scan(void)
{
    banyan_error_t err = {{0}};
    char path[4096], hex[BLOB_HEX_LEN + 1], upper[BLOB_HEX_LEN + 1];
    blob_stats_t st;
    blob_id_t a, b;

    blob_cache_t *c = blob_cache_open("c2", 0, &err);
    blob_put(c, "alpha", 5, &a);
    blob_cache_close(c);

    /* A write interrupted before its rename, in the top folder and in a
     * fan-out folder; a blob-looking file in the wrong folder; an
     * upper-case name; an odd name; a directory with a blob's name. */
    blob_hash("beta", 4, &b);
    blob_id_format(&b, hex);
    mkdir("c2/00", 0700);
    ok(write_file("c2/.tmp.abc123", "beta", 4) == 0
           && write_file("c2/00/.tmp.x", "beta", 4) == 0,
       "leftover temp files are planted");
    snprintf(path, sizeof path, "c2/%s", hex[0] == 'f' ? "00" : "ff");
    mkdir(path, 0700);
    snprintf(path, sizeof path, "c2/%s/%s", hex[0] == 'f' ? "00" : "ff", hex);
    write_file(path, "beta", 4);
    for (int i = 0; i <= BLOB_HEX_LEN; i++)
        upper[i] = (char)(hex[i] >= 'a' ? hex[i] - 32 : hex[i]);
    snprintf(path, sizeof path, "c2/%.2s", hex);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "c2/%.2s/%s", hex, upper);
    write_file(path, "beta", 4);
    snprintf(path, sizeof path, "c2/%.2s/README", hex);
    write_file(path, "x", 1);

    c = blob_cache_open("c2", 0, &err);
    ok(c != NULL, "reopen succeeds with strangers in the directory");
    blob_stats(c, &st);
    is_int(st.count, 1, "only the one real blob is indexed");
    ok(blob_has(c, &a) && !blob_has(c, &b),
       "temp files, misplaced and non-canonical names are not indexed");
    ok(!exists("c2/.tmp.abc123") && !exists("c2/00/.tmp.x"),
       "leftover temp files are removed at open");
    ok(exists(path), "files that are not the cache's are left alone");
    blob_cache_close(c);
}

static void test_corrupt(void)
{
    banyan_error_t err = {{0}};
    char path[4096];
    blob_stats_t st;
    blob_id_t a, b, d;
    char *data;
    size_t len;

    blob_cache_t *c = blob_cache_open("c3", 0, &err);
    blob_put(c, "original", 8, &a);
    blob_put(c, "second", 6, &b);
    blob_put(c, "third!", 6, &d);

    /* Same size, different content, found at the first use after open. */
    blob_get_path(c, &a, path, sizeof path);
    blob_cache_close(c);
    write_file(path, "ORIGINAL", 8);
    c = blob_cache_open("c3", 0, &err);
    ok(blob_has(c, &a), "a corrupt file is indexed at open (no hashing then)");
    errno = 0;
    ok(blob_get_path(c, &a, path, sizeof path) == -1 && errno == ENOENT,
       "get_path reports a corrupt blob as missing (ENOENT)");
    ok(!exists(path) && !blob_has(c, &a),
       "the corrupt file is removed and leaves the index");
    blob_stats(c, &st);
    is_int(st.corrupt, 1, "the corruption is counted");

    /* read always hashes, even after a verified use. */
    ok(blob_get_path(c, &b, path, sizeof path) == 0,
       "an intact blob verifies");
    write_file(path, "SECOND", 6);
    errno = 0;
    ok(blob_read(c, &b, (void **)&data, &len) == -1 && errno == ENOENT,
       "read detects content changed after verification");
    blob_stats(c, &st);
    is_int(st.corrupt, 2, "counted too");

    /* A verified blob whose size changed is caught by get_path. */
    ok(blob_get_path(c, &d, path, sizeof path) == 0, "third blob verifies");
    write_file(path, "third!!", 7);
    errno = 0;
    ok(blob_get_path(c, &d, path, sizeof path) == -1 && errno == ENOENT,
       "get_path detects a size change after verification");
    blob_stats(c, &st);
    is_int(st.corrupt, 3, "counted too");

    /* blob_verify rechecks on demand. */
    blob_put(c, "fourth", 6, &a);
    blob_get_path(c, &a, path, sizeof path);
    write_file(path, "FOURTH", 6);
    errno = 0;
    ok(blob_verify(c, &a) == -1 && errno == ENOENT && !blob_has(c, &a),
       "verify finds same-size corruption and removes the blob");
    blob_stats(c, &st);
    is_int(st.corrupt, 4, "counted too");
    is_int(st.count, 0, "nothing corrupt is left");
    blob_cache_close(c);
}

static void test_lru(void)
{
    banyan_error_t err = {{0}};
    char buf[1000], path[4096];
    blob_stats_t st;
    blob_id_t id[6], lru;

    blob_cache_t *c = blob_cache_open("c4", 3000, &err);
    for (int i = 0; i < 3; i++) {
        fill(buf, 'A' + i);
        blob_put(c, buf, sizeof buf, &id[i]);
    }
    blob_stats(c, &st);
    ok(st.count == 3 && st.bytes == 3000 && st.evictions == 0,
       "three 1000-byte blobs fit a 3000-byte cache");
    ok(blob_cache_lru(c, &lru) == 0 && blob_id_equal(&lru, &id[0]),
       "the first stored is the least recently used");

    blob_get_path(c, &id[0], path, sizeof path); /* A is now the newest */
    ok(blob_cache_lru(c, &lru) == 0 && blob_id_equal(&lru, &id[1]),
       "using A makes B the least recently used");
    fill(buf, 'D');
    blob_put(c, buf, sizeof buf, &id[3]);
    ok(!blob_has(c, &id[1]) && blob_has(c, &id[0]) && blob_has(c, &id[2])
           && blob_has(c, &id[3]),
       "storing D evicts B, the least recently used, and nothing else");
    blob_stats(c, &st);
    ok(st.count == 3 && st.bytes == 3000 && st.evictions == 1,
       "the cache is back within its bound after one eviction");

    /* Putting a held blob counts as a use. */
    fill(buf, 'C');
    blob_put(c, buf, sizeof buf, NULL);
    fill(buf, 'E');
    blob_put(c, buf, sizeof buf, &id[4]);
    ok(!blob_has(c, &id[0]) && blob_has(c, &id[2]),
       "re-putting C protected it; A was evicted instead");

    /* Pins. Held now: D, C, E (oldest first). */
    ok(blob_pin(c, &id[3]) == 0 && blob_pin(c, &id[3]) == 0,
       "D is pinned twice");
    ok(blob_cache_lru(c, &lru) == 0 && blob_id_equal(&lru, &id[2]),
       "the next eviction skips pinned D and would take C");
    fill(buf, 'F');
    blob_put(c, buf, sizeof buf, &id[5]);
    ok(blob_has(c, &id[3]) && !blob_has(c, &id[2]),
       "storing F evicts C, not the older but pinned D");
    blob_pin(c, &id[4]);
    blob_pin(c, &id[5]);
    blob_stats(c, &st);
    is_int(st.pinned, 3, "three blobs are pinned");
    fill(buf, 'G');
    blob_id_t g;
    ok(blob_put(c, buf, sizeof buf, &g) == 0,
       "a put succeeds when every held blob is pinned");
    blob_stats(c, &st);
    ok(st.count == 4 && st.bytes == 4000,
       "the cache goes over its bound rather than drop a pinned blob");
    ok(blob_has(c, &id[3]) && blob_has(c, &id[4]) && blob_has(c, &id[5]),
       "all pinned blobs survive");

    errno = 0;
    ok(blob_remove(c, &id[4]) == -1 && errno == EBUSY,
       "a pinned blob cannot be removed (EBUSY)");
    ok(blob_unpin(c, &id[3]) == 0, "D unpinned once");
    ok(blob_has(c, &id[3]), "D keeps its second pin");
    ok(blob_unpin(c, &id[3]) == 0, "D unpinned again");
    blob_stats(c, &st);
    ok(!blob_has(c, &id[3]) && st.bytes == 3000,
       "the last unpin evicts D, bringing the cache back to its bound");
    errno = 0;
    ok(blob_unpin(c, &g) == -1 && errno == EINVAL,
       "unpinning a blob that is not pinned fails with EINVAL");
    errno = 0;
    ok(blob_pin(c, &id[0]) == -1 && errno == ENOENT,
       "pinning a missing blob fails with ENOENT");

    char big[3001];
    memset(big, 'Z', sizeof big);
    errno = 0;
    ok(blob_put(c, big, sizeof big, NULL) == -1 && errno == EFBIG,
       "a blob larger than the whole cache is refused with EFBIG");
    write_file("big.bin", big, sizeof big);
    errno = 0;
    ok(blob_put_file(c, "big.bin", NULL) == -1 && errno == EFBIG,
       "put_file of a file larger than the cache is refused with EFBIG");
    blob_stats(c, &st);
    is_int(st.count, 3, "refused puts leave the cache as it was");
    blob_cache_close(c);
}

/* Set a blob file's mtime to t seconds since the epoch. */
static void set_mtime(blob_cache_t *c, const blob_id_t *id, time_t t)
{
    char path[4096], hex[BLOB_HEX_LEN + 1];
    struct timespec ts[2] = {{t, 0}, {t, 0}};
    blob_id_format(id, hex);
    snprintf(path, sizeof path, "%s/%.2s/%s", blob_cache_dir(c), hex, hex);
    utimensat(AT_FDCWD, path, ts, 0);
}

static void test_reopen(void)
{
    banyan_error_t err = {{0}};
    char buf[1000];
    blob_stats_t st, st2;
    blob_id_t id[4], lru;

    blob_cache_t *c = blob_cache_open("c5", 0, &err);
    for (int i = 0; i < 4; i++) {
        fill(buf, 'a' + i);
        blob_put(c, buf, sizeof buf, &id[i]);
    }
    /* Last uses: id[2] oldest, then id[0], id[3], id[1]. */
    set_mtime(c, &id[2], 1000000000);
    set_mtime(c, &id[0], 1000000100);
    set_mtime(c, &id[3], 1000000200);
    set_mtime(c, &id[1], 1000000300);
    blob_stats(c, &st);
    blob_cache_close(c);

    c = blob_cache_open("c5", 0, &err);
    blob_stats(c, &st2);
    ok(st2.count == st.count && st2.bytes == st.bytes,
       "reopening rebuilds the index: same count and bytes");
    int all = 0;
    for (int i = 0; i < 4; i++)
        all += blob_has(c, &id[i]);
    is_int(all, 4, "every blob is found after reopening");
    ok(blob_cache_lru(c, &lru) == 0 && blob_id_equal(&lru, &id[2]),
       "the last-use order is restored from modification times");
    blob_cache_close(c);

    /* A smaller bound at open evicts the oldest. */
    c = blob_cache_open("c5", 2000, &err);
    ok(c && !blob_has(c, &id[2]) && !blob_has(c, &id[0])
           && blob_has(c, &id[3]) && blob_has(c, &id[1]),
       "opening with a smaller bound evicts the least recently used");
    blob_stats(c, &st);
    is_int(st.evictions, 2, "two evictions are counted");
    blob_cache_close(c);
}

/* Build a 20 MB file and store it with put_file. */
static int put_20mb(blob_cache_t *c, blob_id_t *id)
{
    return blob_put_file(c, "twenty.bin", id);
}

#ifndef UNDER_ASAN
static long vm_data_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmData: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}
#endif

static void test_stream(void)
{
    banyan_error_t err = {{0}};
    enum { MB = 1 << 20, TOTAL = 20 * MB };
    char *piece = malloc(MB);
    blob_id_t id, want;

    int fd = open("twenty.bin", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    for (int i = 0; i < TOTAL / MB; i++) {
        for (int j = 0; j < MB; j++)
            piece[j] = (char)(i * 31 + j * 7 + (j >> 11));
        if (write(fd, piece, MB) != MB)
            break;
    }
    close(fd);
    free(piece);
    blob_hash_file("twenty.bin", &want, NULL);

    blob_cache_t *c = blob_cache_open("c6", 0, &err);
#ifdef UNDER_ASAN
    ok(1, "# SKIP memory bound not measured under ASan");
    ok(put_20mb(c, &id) == 0 && blob_id_equal(&id, &want),
       "put_file stores a 20 MB file under its hash");
#else
    /* In a child whose data segment may grow by only 8 MiB: a put that
     * read the file into memory would fail with ENOMEM. */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit rl;
        long kb = vm_data_kb();
        rl.rlim_cur = rl.rlim_max = (rlim_t)(kb + 8 * 1024) * 1024;
        if (kb < 0 || setrlimit(RLIMIT_DATA, &rl) < 0)
            _exit(2);
        blob_cache_t *cc = blob_cache_open("c6b", 0, NULL);
        _exit(cc && put_20mb(cc, &id) == 0 && blob_id_equal(&id, &want)
                  ? 0 : 1);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
       "put_file stores 20 MB with data memory limited to +8 MiB");
    ok(put_20mb(c, &id) == 0 && blob_id_equal(&id, &want),
       "put_file stores a 20 MB file under its hash");
#endif
    uint64_t size = 0;
    blob_size(c, &id, &size);
    is_int(size, TOTAL, "the stored blob is 20 MB");
    ok(blob_verify(c, &id) == 0, "its content verifies");
    errno = 0;
    ok(blob_put_file(c, "missing.bin", &id) == -1 && errno == ENOENT,
       "put_file of a missing file fails with ENOENT");
    errno = 0;
    ok(blob_put_file(c, ".", &id) == -1 && errno == EISDIR,
       "put_file of a directory fails with EISDIR");
    blob_stats_t st;
    blob_stats(c, &st);
    is_int(st.count, 1, "failed put_files store nothing");
    blob_cache_close(c);
}

int main(void)
{
    plan(NO_PLAN);
    test_basic();
    test_scan();
    test_corrupt();
    test_lru();
    test_reopen();
    test_stream();
    return done_testing();
}
