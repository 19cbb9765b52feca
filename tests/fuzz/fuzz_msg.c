/* SPDX-License-Identifier: MIT */
/* fuzz_msg.c - fuzz target: wire messages (msg_decode).
 *
 * Every input goes through msg_decode().  A refusal must be EPROTO with a
 * sentence; an accepted message must encode again, and that encoding must
 * decode and encode to the same bytes.  A broken arena bound ("internal")
 * or a broken round trip traps.  The seeds are one valid message of every
 * type (tests/msg/samples.h, written out
 * once and committed).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "msg/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    banyan_error_t err = {{0}};
    errno = 0;
    msg_t *m = msg_decode(data, size, &err);
    if (m == NULL) {
        if (errno != EPROTO || strstr(err.text, "internal") != NULL)
            __builtin_trap();
        fuzz_check_refusal(&err);
        return 0;
    }
    util_buf_t a = UTIL_BUF_INIT, b = UTIL_BUF_INIT;
    if (msg_encode(m, &a) < 0)
        __builtin_trap();
    msg_t *m2 = msg_decode(a.data, a.len, NULL);
    if (m2 == NULL || msg_encode(m2, &b) < 0 || a.len != b.len
        || memcmp(a.data, b.data, a.len) != 0)
        __builtin_trap();
    msg_free(m2);
    msg_free(m);
    util_buf_fini(&a);
    util_buf_fini(&b);
    return 0;
}
