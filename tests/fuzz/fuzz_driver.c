/* SPDX-License-Identifier: MIT */
/* fuzz_driver.c - a main() for the fuzz targets where libFuzzer is absent
 * (gcc, and every build's `make check`).
 *
 *     fuzz_NAME [-n MUTATIONS] [PATH...]
 *
 * Every PATH (a file, or a folder: each plain file in it) is fed to
 * LLVMFuzzerTestOneInput once; without PATH, the target's committed seeds
 * and regressions ($BANYAN_SRCDIR/tests/fuzz/NAME/{seeds,regressions}).
 * Then MUTATIONS inputs (default FUZZ_MUTATIONS, or $BANYAN_FUZZ_MUTATIONS)
 * are made from them by a fixed generator: bit flips, bytes set to values
 * that matter to text and MessagePack decoders, insertions, deletions,
 * copies within an input and splices of two inputs, truncations, and
 * tokens of the target's dictionary (NAME/dict, as for libFuzzer).  The
 * run is deterministic, so a failure in CTest reproduces; the input that
 * crashed is written to ./fuzz-crash-NAME (the sanitizers' death callback,
 * or a fatal signal) and can be replayed with `fuzz_NAME fuzz-crash-NAME`.
 *
 * Each input is copied into a buffer of exactly its size, so that the
 * sanitizers see a read past its end, as under libFuzzer.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

#ifndef FUZZ_NAME
#error "FUZZ_NAME must name the target"
#endif
#ifndef FUZZ_MUTATIONS
#define FUZZ_MUTATIONS 2000
#endif

enum { FUZZ_INPUT_MAX = 1 << 16 };

typedef struct input {
    uint8_t *data;
    size_t size;
} input_t;

static input_t *corpus;
static size_t ncorpus, capcorpus;

/* Tokens of the target's dictionary (NAME/dict, libFuzzer's format). */
static input_t *dict;
static size_t ndict, capdict;

/* The input being run, for the crash file. */
static const uint8_t *volatile cur_data;
static volatile size_t cur_size;

/* ------------------------------------------------------------- crashes */

static void save_crash(void)
{
    static const char path[] = "fuzz-crash-" FUZZ_NAME;
    static volatile sig_atomic_t saved;
    if (saved || cur_data == NULL)
        return;
    saved = 1;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
        ssize_t w = write(fd, (const void *)cur_data, cur_size);
        close(fd);
        static const char msg[] = "fuzz: the failing input is in ./"
                                  "fuzz-crash-" FUZZ_NAME "\n";
        if (w >= 0 && write(2, msg, sizeof msg - 1) < 0)
            return;
    }
}

static void on_signal(int sig)
{
    save_crash();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Weak: present only in sanitizer builds. */
void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

static void catch_crashes(void)
{
    static const int sigs[] = {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL,
                               SIGTRAP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], on_signal);
    if (__sanitizer_set_death_callback != NULL)
        __sanitizer_set_death_callback(save_crash);
}

/* -------------------------------------------------------------- corpus */

static int add_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "fuzz: cannot open '%s': %s\n", path,
                strerror(errno));
        return -1;
    }
    uint8_t *buf = malloc(FUZZ_INPUT_MAX);
    size_t n = 0;
    ssize_t r = 0;
    while (buf != NULL && n < FUZZ_INPUT_MAX
           && (r = read(fd, buf + n, FUZZ_INPUT_MAX - n)) > 0)
        n += (size_t)r;
    close(fd);
    if (buf == NULL || r < 0) {
        fprintf(stderr, "fuzz: cannot read '%s'\n", path);
        free(buf);
        return -1;
    }
    if (ncorpus == capcorpus) {
        capcorpus = capcorpus ? 2 * capcorpus : 64;
        input_t *c = realloc(corpus, capcorpus * sizeof *c);
        if (c == NULL) {
            free(buf);
            return -1;
        }
        corpus = c;
    }
    corpus[ncorpus++] = (input_t){buf, n};
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A file, or the plain files of a folder in name order (the order fixes
 * the mutations).  missing_ok: an absent folder adds nothing. */
static int add_path(const char *path, int missing_ok)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        if (missing_ok && errno == ENOENT)
            return 0;
        fprintf(stderr, "fuzz: '%s': %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return add_file(path);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 32;
            char **m = realloc(names, cap * sizeof *m);
            if (m == NULL) {
                rc = -1;
                break;
            }
            names = m;
        }
        size_t len = strlen(path) + strlen(e->d_name) + 2;
        if ((names[n] = malloc(len)) == NULL)
            rc = -1;
        else
            snprintf(names[n++], len, "%s/%s", path, e->d_name);
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0 && stat(names[i], &st) == 0 && S_ISREG(st.st_mode))
            rc = add_file(names[i]);
        free(names[i]);
    }
    free(names);
    return rc;
}

/* Read a libFuzzer dictionary: one "token" a line (\\, \" and \xNN
 * escapes), other lines ignored.  An absent file adds nothing. */
static int add_dict(const char *path)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return errno == ENOENT ? 0 : -1;
    char line[1024];
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
        char *p = strchr(line, '"'), *end = strrchr(line, '"');
        if (p == NULL || end == p || line[0] == '#')
            continue;
        uint8_t tok[sizeof line];
        size_t n = 0;
        for (p++; p < end; p++) {
            if (*p == '\\' && p[1] == 'x' && p + 3 < end) {
                char hex[3] = {p[2], p[3], 0};
                tok[n++] = (uint8_t)strtoul(hex, NULL, 16);
                p += 3;
            } else if (*p == '\\' && p + 1 < end) {
                tok[n++] = (uint8_t)*++p;
            } else {
                tok[n++] = (uint8_t)*p;
            }
        }
        if (ndict == capdict) {
            capdict = capdict ? 2 * capdict : 64;
            input_t *d = realloc(dict, capdict * sizeof *d);
            if (d == NULL) {
                rc = -1;
                break;
            }
            dict = d;
        }
        uint8_t *copy = malloc(n ? n : 1);
        if (copy == NULL) {
            rc = -1;
            break;
        }
        memcpy(copy, tok, n);
        dict[ndict++] = (input_t){copy, n};
    }
    fclose(f);
    return rc;
}

/* ----------------------------------------------------------- mutations */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
    /* xorshift64*: fixed seed, so every run makes the same inputs */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static size_t below(size_t n)
{
    return n ? (size_t)(next() % n) : 0;
}

/* Bytes that mean something to the decoders: text syntax (YAML, JSON,
 * templates, key files) and MessagePack type bytes and lengths. */
static const uint8_t special[] = {
    0x00, 0xff, 0x7f, 0x80, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xca,
    0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd3, 0xd9, 0xda, 0xdb, 0xdc, 0xdd,
    0xde, 0xdf, 0x90, 0x9f, 0x8f, 0xa0, 0xbf, '\n', '\r', '\t', ' ', '{',
    '}', '[', ']', ':', ',', '"', '\'', '\\', '-', '+', '.', '/', '#', '=',
    '&', '*', '!', '|', '>', '%', '@', '0', '1', '9', 'e', 'E', 'x', '\x80',
};

/* One mutation of b (size *n, room for FUZZ_INPUT_MAX bytes). */
static void mutate_once(uint8_t *b, size_t *n)
{
    size_t size = *n;
    switch (below(ndict > 0 ? 9 : 8)) {
    case 0: /* flip a bit */
        if (size)
            b[below(size)] ^= (uint8_t)(1u << below(8));
        break;
    case 1: /* set a byte to one that matters */
        if (size)
            b[below(size)] = special[below(sizeof special)];
        break;
    case 2: /* insert a byte */
        if (size < FUZZ_INPUT_MAX) {
            size_t at = below(size + 1);
            memmove(b + at + 1, b + at, size - at);
            b[at] = next() & 1 ? special[below(sizeof special)]
                               : (uint8_t)next();
            size++;
        }
        break;
    case 3: /* delete a range */
        if (size) {
            size_t at = below(size), len = 1 + below(size - at);
            if (len > 16 && next() & 1)
                len = 1 + below(16);
            memmove(b + at, b + at + len, size - at - len);
            size -= len;
        }
        break;
    case 4: /* copy a range of the input over another place */
        if (size > 1) {
            size_t from = below(size), len = 1 + below(size - from);
            size_t to = below(size);
            if (len > size - to)
                len = size - to;
            memmove(b + to, b + from, len);
        }
        break;
    case 5: { /* insert a range of another input */
        const input_t *o = &corpus[below(ncorpus)];
        if (o->size && size < FUZZ_INPUT_MAX) {
            size_t from = below(o->size), len = 1 + below(o->size - from);
            if (len > FUZZ_INPUT_MAX - size)
                len = FUZZ_INPUT_MAX - size;
            size_t at = below(size + 1);
            memmove(b + at + len, b + at, size - at);
            memcpy(b + at, o->data + from, len);
            size += len;
        }
        break;
    }
    case 6: /* truncate */
        size = below(size + 1);
        break;
    case 8: { /* insert a token of the dictionary */
        const input_t *t = &dict[below(ndict)];
        if (t->size <= FUZZ_INPUT_MAX - size) {
            size_t at = below(size + 1);
            memmove(b + at + t->size, b + at, size - at);
            memcpy(b + at, t->data, t->size);
            size += t->size;
        }
        break;
    }
    case 7: /* a number's edge: set 1, 2, 4 or 8 bytes to 0 or 0xff */
        if (size) {
            size_t len = (size_t)1 << below(4), at = below(size);
            if (len > size - at)
                len = size - at;
            memset(b + at, next() & 1 ? 0xff : 0x00, len);
        }
        break;
    default:
        break;
    }
    *n = size;
}

/* ---------------------------------------------------------------- main */

/* Run one input from a buffer of exactly its size. */
static void run_one(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (copy == NULL) {
        fprintf(stderr, "fuzz: out of memory\n");
        exit(1);
    }
    memcpy(copy, data, size);
    cur_data = copy;
    cur_size = size;
    LLVMFuzzerTestOneInput(copy, size);
    cur_data = NULL;
    free(copy);
}

static int srcdir_path(char *buf, size_t size, const char *what)
{
    const char *src = getenv("BANYAN_SRCDIR");
    if (src == NULL || *src == '\0')
        src = ".";
    return snprintf(buf, size, "%s/tests/fuzz/%s/%s", src, FUZZ_NAME, what)
                   < (int)size
               ? 0
               : -1;
}

int main(int argc, char **argv)
{
    long mutations = FUZZ_MUTATIONS;
    const char *env = getenv("BANYAN_FUZZ_MUTATIONS");
    if (env != NULL && *env != '\0')
        mutations = strtol(env, NULL, 10);
    int i = 1;
    if (i + 1 < argc && strcmp(argv[i], "-n") == 0) {
        mutations = strtol(argv[i + 1], NULL, 10);
        i += 2;
    }
    int rc = 0;
    if (i < argc) {
        for (; i < argc && rc == 0; i++)
            rc = add_path(argv[i], 0);
    } else {
        char seeds[4096], regress[4096];
        if (srcdir_path(seeds, sizeof seeds, "seeds") < 0
            || srcdir_path(regress, sizeof regress, "regressions") < 0)
            rc = -1;
        else if ((rc = add_path(seeds, 0)) == 0)
            rc = add_path(regress, 1);
    }
    char dpath[4096];
    if (rc == 0 && srcdir_path(dpath, sizeof dpath, "dict") == 0
        && add_dict(dpath) < 0) {
        fprintf(stderr, "fuzz: cannot read '%s'\n", dpath);
        rc = -1;
    }
    if (rc < 0)
        return 2;
    if (ncorpus == 0) {
        fprintf(stderr, "fuzz: no input to start from\n");
        return 2;
    }
    catch_crashes();
    for (size_t k = 0; k < ncorpus; k++)
        run_one(corpus[k].data, corpus[k].size);
    uint8_t *b = malloc(FUZZ_INPUT_MAX);
    if (b == NULL)
        return 1;
    for (long m = 0; m < mutations; m++) {
        const input_t *in = &corpus[below(ncorpus)];
        size_t n = in->size;
        memcpy(b, in->data, n);
        for (size_t k = 1 + below(6); k > 0; k--)
            mutate_once(b, &n);
        run_one(b, n);
    }
    free(b);
    printf("1..1\nok 1 - fuzz_%s: %zu inputs and %ld mutations of them "
           "decoded (%zu dictionary tokens)\n", FUZZ_NAME, ncorpus,
           mutations, ndict);
    for (size_t k = 0; k < ncorpus; k++)
        free(corpus[k].data);
    free(corpus);
    for (size_t k = 0; k < ndict; k++)
        free(dict[k].data);
    free(dict);
    return 0;
}
