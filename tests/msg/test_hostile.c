/* SPDX-License-Identifier: MIT */
/* test_hostile.c - a corpus of hostile payloads through msg_decode().
 *
 * The corpus: every prefix of a valid message of every type, huge counts
 * and lengths, deep nesting, random bytes, and 100,000 seeded mutations of
 * valid encodings (bit flips, interesting bytes, insertions, deletions,
 * duplicated ranges, 0xff runs).  For each input the decoder must either
 * refuse it with EPROTO and a sentence, or accept it; an accepted message
 * must encode again, and that encoding must decode to the same bytes
 * (whatever the decoder lets in, the rest of the node can handle).  Run
 * under ASan+UBSan this also proves there is no out-of-bounds access, and
 * the "internal: arena" sentence shows whether the arena bound ever failed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "msg/msg.h"
#include "samples.h"
#include "tap.h"

typedef struct tally {
    long inputs;
    long accepted;
    long bad_errno;      /* refused without EPROTO */
    long no_text;        /* refused without a sentence */
    long internal;       /* the arena bound failed */
    long reencode;       /* accepted but does not round-trip */
} tally_t;

static void check(const void *data, size_t len, tally_t *t)
{
    banyan_error_t err = {{0}};
    t->inputs++;
    errno = 0;
    msg_t *m = msg_decode(data, len, &err);
    if (m == NULL) {
        if (errno != EPROTO)
            t->bad_errno++;
        if (err.text[0] == '\0')
            t->no_text++;
        if (strstr(err.text, "internal") != NULL) {
            if (t->internal++ == 0)
                diag("arena bound failed: %s", err.text);
        }
        return;
    }
    t->accepted++;
    util_buf_t a = UTIL_BUF_INIT, b = UTIL_BUF_INIT;
    msg_t *m2 = NULL;
    if (msg_encode(m, &a) < 0
        || (m2 = msg_decode(a.data, a.len, NULL)) == NULL
        || msg_encode(m2, &b) < 0 || a.len != b.len
        || memcmp(a.data, b.data, a.len) != 0)
        t->reencode++;
    msg_free(m2);
    msg_free(m);
    util_buf_fini(&a);
    util_buf_fini(&b);
}

static void report(const tally_t *t, const char *what)
{
    ok(t->bad_errno == 0 && t->no_text == 0,
       "%s: every refusal is EPROTO with a sentence (%ld inputs, %ld "
       "accepted)", what, t->inputs, t->accepted);
    ok(t->internal == 0, "%s: decoding stays within its arena", what);
    ok(t->reencode == 0, "%s: every accepted message encodes again the same",
       what);
}

/* xorshift64*: a fixed seed makes the corpus the same on every run. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static size_t rnd_below(size_t n)
{
    return n == 0 ? 0 : (size_t)(rnd() % n);
}

static const uint8_t interesting[] = {
    0x00, 0x01, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1,
    0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf,
    0xd0, 0xd3, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff,
};

enum { BUF_MAX = 4096 };

/* Apply one random mutation to buf[0..*len). */
static void mutate(uint8_t *buf, size_t *len)
{
    size_t n = *len;
    size_t at = rnd_below(n + 1);
    switch (rnd_below(8)) {
    case 0:
        if (n > 0)
            buf[rnd_below(n)] ^= (uint8_t)(1u << rnd_below(8));
        break;
    case 1:
        if (n > 0)
            buf[rnd_below(n)] = (uint8_t)rnd();
        break;
    case 2:
        if (n > 0)
            buf[rnd_below(n)] = interesting[rnd_below(sizeof interesting)];
        break;
    case 3:
        *len = at;
        break;
    case 4: {
        size_t k = 1 + rnd_below(8);
        if (n + k > BUF_MAX)
            break;
        memmove(buf + at + k, buf + at, n - at);
        for (size_t i = 0; i < k; i++)
            buf[at + i] = rnd_below(2) ? (uint8_t)rnd()
                          : interesting[rnd_below(sizeof interesting)];
        *len = n + k;
        break;
    }
    case 5: {
        size_t k = rnd_below(n - (at < n ? at : n) + 1);
        if (at < n) {
            memmove(buf + at, buf + at + k, n - at - k);
            *len = n - k;
        }
        break;
    }
    case 6:
        for (size_t i = at; i < n && i < at + 4; i++)
            buf[i] = 0xff;
        break;
    case 7: {
        if (n == 0)
            break;
        size_t from = rnd_below(n);
        size_t k = 1 + rnd_below(n - from);
        if (n + k > BUF_MAX)
            break;
        uint8_t tmp[BUF_MAX];
        memcpy(tmp, buf + from, k);
        memmove(buf + at + k, buf + at, n - at);
        memcpy(buf + at, tmp, k);
        *len = n + k;
        break;
    }
    }
}

int main(void)
{
    plan(NO_PLAN);
    util_buf_t s[SAMPLES_MAX];
    int ns = samples_encode(s);
    ok(ns > 0, "the samples encode (%d of them)", ns);
    if (ns <= 0)
        return done_testing();

    tally_t t = {0};
    for (int i = 0; i < ns; i++)
        for (size_t k = 0; k < s[i].len; k++)
            check(s[i].data, k, &t);
    ok(t.accepted == 0, "no proper prefix of a valid message decodes");
    report(&t, "truncations");

    /* Huge counts and lengths, right where the header expects things. */
    static const struct {
        const char *bytes;
        size_t len;
    } huge[] = {
        {"\xdd\xff\xff\xff\xff", 5},
        {"\xdd\x00\x01\x00\x00\xcc\xba\x02\x04", 9},
        {"\x94\xcc\xba\x02\x04\xdd\xff\xff\xff\xff", 10},
        {"\x94\xcc\xba\x02\x04\xdd\x00\x01\x00\x01", 10},
        {"\x94\xcc\xba\x02\x04\xdc\xff\xff", 8},
        {"\x93\xcc\xba\x02\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 13},
        {"\x94\xcc\xba\x02\x24\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 14},
        {"\x94\xcc\xba\x02\x25\x00\xdb\xff\xff\xff\xff", 11},
        {"\x94\xcc\xba\x02\x25\x00\xdb\x01\x00\x00\x01xyz", 14},
        {"\x95\xcc\xba\x02\x05\x00\xdd\x7f\xff\xff\xff", 11},
        {"\x94\xcc\xba\x02\x18\xc6\xff\xff\xff\xff", 10},
        {"\x94\xcc\xba\x02\x0d\xdd\xff\xff\xff\xff", 10},
        {"\x98\xcc\xba\x02\x15\x00\x00\x00\x00\xdd\x00\x01\x00\x00",
         14},
        {"\x98\xcc\xba\x02\x14\x00\xdd\x00\x00\x10\x01", 11},
        {"\xdb\xff\xff\xff\xff", 5},
        {"\xc6\xff\xff\xff\xff", 5},
    };
    tally_t th = {0};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++)
        check(huge[i].bytes, huge[i].len, &th);
    ok(th.accepted == 0, "no huge count or length is accepted");
    report(&th, "huge counts");

    /* Deep nesting: a hundred thousand one-element arrays. */
    size_t deep_len = 100001;
    uint8_t *deep = malloc(deep_len);
    memset(deep, 0x91, deep_len - 1);
    deep[deep_len - 1] = 0;
    tally_t td = {0};
    check(deep, deep_len, &td);
    memcpy(deep, "\x94\xcc\xba\x02\x04", 5);   /* ASSIGN, then nesting */
    check(deep, deep_len, &td);
    free(deep);
    ok(td.accepted == 0, "deep nesting is refused");
    report(&td, "deep nesting");

    /* Random bytes, some behind a plausible header. */
    tally_t tr = {0};
    uint8_t buf[BUF_MAX];
    for (int i = 0; i < 20000; i++) {
        size_t len = rnd_below(256);
        for (size_t k = 0; k < len; k++)
            buf[k] = (uint8_t)rnd();
        if (i % 2 && len >= 4) {
            buf[0] = (uint8_t)(0x93 + rnd_below(12));
            buf[1] = 0xcc;
            buf[2] = MSG_MAGIC;
            buf[3] = MSG_VERSION;
        }
        check(buf, len, &tr);
    }
    report(&tr, "random bytes");

    /* 100,000 mutations of valid encodings. */
    tally_t tm = {0};
    for (int i = 0; i < 100000; i++) {
        const util_buf_t *src = &s[rnd_below((size_t)ns)];
        if (src->len > BUF_MAX)
            continue;
        size_t len = src->len;
        memcpy(buf, src->data, len);
        int k = 1 + (int)rnd_below(4);
        for (int j = 0; j < k; j++)
            mutate(buf, &len);
        check(buf, len, &tm);
    }
    ok(tm.inputs == 100000, "100,000 mutations were tried");
    report(&tm, "mutations");
    diag("mutations: %ld of %ld still decode", tm.accepted, tm.inputs);

    for (int i = 0; i < ns; i++)
        util_buf_fini(&s[i]);
    return done_testing();
}
