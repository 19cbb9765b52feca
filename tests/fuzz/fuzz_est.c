/* SPDX-License-Identifier: MIT */
/* fuzz_est.c - fuzz target: the stored memory estimates
 * (est_table_decode).
 *
 * A table that decodes must encode to text that decodes and encodes to the
 * same text; a refusal must say why.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "est/est.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_strndup(data, size);
    if (text == NULL)
        return 0;
    banyan_error_t err = {{0}};
    est_table_t *t = est_table_decode(text, &err);
    free(text);
    if (t == NULL) {
        fuzz_check_refusal(&err);
        return 0;
    }
    char *a = est_table_encode(t);
    est_table_t *t2 = a ? est_table_decode(a, &err) : NULL;
    char *b = t2 ? est_table_encode(t2) : NULL;
    if (a == NULL || b == NULL || strcmp(a, b) != 0)
        __builtin_trap();
    free(a);
    free(b);
    est_table_destroy(t2);
    est_table_destroy(t);
    return 0;
}
