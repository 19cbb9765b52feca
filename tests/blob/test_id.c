/* SPDX-License-Identifier: MIT */
/* test_id.c - blob names: BLAKE2b-256 vectors, streaming, hex text.
 *
 * The empty and "abc" digests are the published BLAKE2b-256 values (RFC
 * 7693's algorithm with a 32-byte output, as many libraries' test suites
 * list them); the others were cross-checked with Python's hashlib.blake2b
 * (digest_size=32).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blob/blob.h"
#include "tap.h"

static const struct {
    const char *msg;
    const char *hex;
} vectors[] = {
    {"", "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"},
    {"abc", "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319"},
    {"a", "8928aae63c84d87ea098564d1e03ad813f107add474e56aedd286349c0c03ea4"},
    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "5f7a93da9c5621583f22e49e8e91a40cbba37536622235a380f434b9f68e49c4"},
};

/* bytes 0..255 four times over: 1024 bytes, more than one BLAKE2b block */
static const char *kib_hex =
    "f1551feeb252c7e60bb362205bd1ac2f70b145260a91d41e8c5d0a187549a5f2";

static void test_vectors(void)
{
    char hex[BLOB_HEX_LEN + 1];
    blob_id_t id;

    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        ok(blob_hash(vectors[i].msg, strlen(vectors[i].msg), &id) == 0,
           "blob_hash of \"%s\" succeeds", vectors[i].msg);
        is_str(blob_id_format(&id, hex), vectors[i].hex,
               "BLAKE2b-256(\"%s\") is the known digest", vectors[i].msg);
    }
    ok(blob_hash(NULL, 0, &id) == 0, "blob_hash accepts NULL data of length 0");
    is_str(blob_id_format(&id, hex), vectors[0].hex,
           "NULL, 0 hashes like the empty string");
    errno = 0;
    ok(blob_hash(NULL, 1, &id) == -1 && errno == EINVAL,
       "blob_hash refuses NULL data with a length (EINVAL)");
}

static void test_streaming(void)
{
    unsigned char kib[1024];
    char hex[BLOB_HEX_LEN + 1];
    blob_hash_state_t st;
    blob_id_t one, streamed;

    for (size_t i = 0; i < sizeof kib; i++)
        kib[i] = (unsigned char)i;
    blob_hash(kib, sizeof kib, &one);
    is_str(blob_id_format(&one, hex), kib_hex,
           "BLAKE2b-256 of 1 KiB (several blocks) is the known digest");

    /* Uneven pieces across block boundaries. */
    ok(blob_hash_init(&st) == 0, "blob_hash_init succeeds");
    size_t pieces[] = {0, 1, 127, 128, 129, 300, 339};
    size_t off = 0;
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
        blob_hash_update(&st, kib + off, pieces[i]);
        off += pieces[i];
    }
    ok(off == sizeof kib, "the pieces cover the buffer");
    ok(blob_hash_final(&st, &streamed) == 0, "blob_hash_final succeeds");
    ok(blob_id_equal(&one, &streamed),
       "streaming in uneven pieces gives the one-shot digest");

    /* A file. */
    int fd = open("kib.bin", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ok(fd >= 0 && write(fd, kib, sizeof kib) == (ssize_t)sizeof kib,
       "a 1 KiB file is written");
    close(fd);
    uint64_t size = 0;
    blob_id_t fid;
    ok(blob_hash_file("kib.bin", &fid, &size) == 0 && size == sizeof kib,
       "blob_hash_file reads the whole file");
    ok(blob_id_equal(&fid, &one), "blob_hash_file gives the same digest");
    errno = 0;
    ok(blob_hash_file("missing.bin", &fid, NULL) == -1 && errno == ENOENT,
       "blob_hash_file of a missing file fails with ENOENT");
}

static void test_hex(void)
{
    char hex[BLOB_HEX_LEN + 1], buf[200];
    blob_id_t id, back, keep;

    for (int i = 0; i < BLOB_ID_BYTES; i++)
        id.bytes[i] = (uint8_t)(i * 37 + 5);
    blob_id_format(&id, hex);
    ok(strlen(hex) == BLOB_HEX_LEN, "the hex form has 64 characters");
    ok(strspn(hex, "0123456789abcdef") == BLOB_HEX_LEN,
       "the hex form is lowercase hex");
    ok(blob_id_parse(hex, &back) == 0 && blob_id_equal(&id, &back),
       "format then parse gives the same name");

    /* Upper case is accepted. */
    for (int i = 0; i < BLOB_HEX_LEN; i++)
        buf[i] = (char)(hex[i] >= 'a' ? hex[i] - 32 : hex[i]);
    buf[BLOB_HEX_LEN] = '\0';
    ok(blob_id_parse(buf, &back) == 0 && blob_id_equal(&id, &back),
       "parse accepts upper-case hex");

    /* Hostile input: nothing changes *out on failure. */
    memset(&keep, 0xee, sizeof keep);
    back = keep;
    errno = 0;
    ok(blob_id_parse(NULL, &back) == -1 && errno == EINVAL,
       "parse refuses NULL");
    ok(blob_id_parse("", &back) == -1, "parse refuses the empty string");
    memcpy(buf, hex, BLOB_HEX_LEN);
    buf[63] = '\0';
    ok(blob_id_parse(buf, &back) == -1, "parse refuses 63 digits");
    memcpy(buf, hex, BLOB_HEX_LEN);
    buf[64] = '0';
    buf[65] = '\0';
    ok(blob_id_parse(buf, &back) == -1, "parse refuses 65 digits");
    memcpy(buf, hex, BLOB_HEX_LEN);
    buf[64] = '\n';
    buf[65] = '\0';
    ok(blob_id_parse(buf, &back) == -1, "parse refuses a trailing newline");
    const char bad[] = {'g', ' ', '-', 'x', ':', '\x80', '\xff', 'G'};
    int refused = 0;
    for (size_t i = 0; i < sizeof bad; i++)
        for (int pos = 0; pos < BLOB_HEX_LEN; pos += 21) {
            memcpy(buf, hex, BLOB_HEX_LEN + 1);
            buf[pos] = bad[i];
            refused += blob_id_parse(buf, &back) == -1 && errno == EINVAL;
        }
    is_int(refused, (int)sizeof bad * 4,
           "parse refuses every non-hex character at any position");
    memcpy(buf, hex, BLOB_HEX_LEN + 1);
    buf[10] = '\0';
    buf[11] = 'a';
    ok(blob_id_parse_n(buf, BLOB_HEX_LEN, &back) == -1,
       "parse_n refuses an embedded NUL");
    ok(blob_id_equal(&back, &keep), "failed parses leave *out unchanged");

    /* parse_n reads exactly len bytes of an unterminated field. */
    char field[BLOB_HEX_LEN];
    memcpy(field, hex, BLOB_HEX_LEN);
    char *heap = malloc(BLOB_HEX_LEN); /* ASan catches any over-read */
    memcpy(heap, field, BLOB_HEX_LEN);
    ok(blob_id_parse_n(heap, BLOB_HEX_LEN, &back) == 0
           && blob_id_equal(&id, &back),
       "parse_n reads an unterminated 64-byte field");
    ok(blob_id_parse_n(heap, 63, &back) == -1
           && blob_id_parse_n(heap, 65, &back) == -1,
       "parse_n refuses lengths other than 64");
    free(heap);

    /* parse of an unterminated hostile buffer stops after 65 bytes. */
    char *big = malloc(BLOB_HEX_LEN + 1);
    memset(big, 'a', BLOB_HEX_LEN + 1);
    ok(blob_id_parse(big, &back) == -1,
       "parse of 65+ digits without NUL fails without reading past 65");
    free(big);

    blob_id_t a, b;
    blob_hash("x", 1, &a);
    blob_hash("y", 1, &b);
    ok(!blob_id_equal(&a, &b) && blob_id_equal(&a, &a),
       "blob_id_equal tells names apart");
}

int main(void)
{
    plan(NO_PLAN);
    test_vectors();
    test_streaming();
    test_hex();
    return done_testing();
}
