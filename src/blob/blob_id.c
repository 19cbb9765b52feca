/* SPDX-License-Identifier: MIT */
/* blob_id.c - blob names: BLAKE2b-256 hashing and the hex text form.
 *
 * The hash is libsodium's crypto_generichash (BLAKE2b) with a 32-byte
 * output and no key.  blob_hash_state_t is caller storage that holds a
 * crypto_generichash_state; the static assertions below keep the two in
 * step, so the header does not need to include sodium.h.  The hex parser
 * reads at most 65 bytes of its input and accepts nothing but 64 hex digits.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdalign.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "blob/blob.h"
#include "blob/blob_private.h"

_Static_assert(sizeof(blob_hash_state_t) >= sizeof(crypto_generichash_state),
               "blob_hash_state_t too small for crypto_generichash_state");
_Static_assert(alignof(blob_hash_state_t) >= alignof(crypto_generichash_state),
               "blob_hash_state_t less aligned than crypto_generichash_state");
_Static_assert(BLOB_ID_BYTES == crypto_generichash_BYTES,
               "BLOB_ID_BYTES is not libsodium's default hash size");

static crypto_generichash_state *state_of(blob_hash_state_t *st)
{
    return (crypto_generichash_state *)(void *)st->opaque;
}

int blob__sodium_init(void)
{
    /* sodium_init() is idempotent and thread-safe: 0 first time, 1 after. */
    if (sodium_init() < 0) {
        errno = EIO;
        return -1;
    }
    return 0;
}

int blob_hash_init(blob_hash_state_t *st)
{
    if (!st) {
        errno = EINVAL;
        return -1;
    }
    if (blob__sodium_init() < 0)
        return -1;
    if (crypto_generichash_init(state_of(st), NULL, 0, BLOB_ID_BYTES) != 0) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

int blob_hash_update(blob_hash_state_t *st, const void *data, size_t len)
{
    if (!st || (!data && len > 0)) {
        errno = EINVAL;
        return -1;
    }
    if (len == 0)
        return 0;
    if (crypto_generichash_update(state_of(st), data, len) != 0) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

int blob_hash_final(blob_hash_state_t *st, blob_id_t *out)
{
    if (!st || !out) {
        errno = EINVAL;
        return -1;
    }
    if (crypto_generichash_final(state_of(st), out->bytes, BLOB_ID_BYTES)
        != 0) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

int blob_hash(const void *data, size_t len, blob_id_t *out)
{
    blob_hash_state_t st;

    if (!out || (!data && len > 0)) {
        errno = EINVAL;
        return -1;
    }
    if (blob_hash_init(&st) < 0 || blob_hash_update(&st, data, len) < 0
        || blob_hash_final(&st, out) < 0)
        return -1;
    return 0;
}

int blob__hash_fd(int fd, blob_id_t *out, uint64_t *size)
{
    blob_hash_state_t st;
    unsigned char buf[64 * 1024];
    uint64_t total = 0;
    off_t off = 0;

    if (blob_hash_init(&st) < 0)
        return -1;
    for (;;) {
        ssize_t n = pread(fd, buf, sizeof buf, off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            break;
        if (blob_hash_update(&st, buf, (size_t)n) < 0)
            return -1;
        off += n;
        total += (uint64_t)n;
    }
    if (blob_hash_final(&st, out) < 0)
        return -1;
    if (size)
        *size = total;
    return 0;
}

int blob_hash_file(const char *path, blob_id_t *out, uint64_t *size)
{
    if (!path || !out) {
        errno = EINVAL;
        return -1;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = blob__hash_fd(fd, out, size);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

bool blob_id_equal(const blob_id_t *a, const blob_id_t *b)
{
    return memcmp(a->bytes, b->bytes, BLOB_ID_BYTES) == 0;
}

char *blob_id_format(const blob_id_t *id, char out[BLOB_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < BLOB_ID_BYTES; i++) {
        out[2 * i] = digits[id->bytes[i] >> 4];
        out[2 * i + 1] = digits[id->bytes[i] & 0xf];
    }
    out[BLOB_HEX_LEN] = '\0';
    return out;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

int blob_id_parse_n(const char *s, size_t len, blob_id_t *out)
{
    blob_id_t id;

    if (!s || !out || len != BLOB_HEX_LEN) {
        errno = EINVAL;
        return -1;
    }
    for (size_t i = 0; i < BLOB_ID_BYTES; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            errno = EINVAL;
            return -1;
        }
        id.bytes[i] = (uint8_t)(hi << 4 | lo);
    }
    *out = id;
    return 0;
}

int blob_id_parse(const char *s, blob_id_t *out)
{
    if (!s) {
        errno = EINVAL;
        return -1;
    }
    return blob_id_parse_n(s, strnlen(s, BLOB_HEX_LEN + 1), out);
}
