/* SPDX-License-Identifier: MIT */
/* fuzz_inputs.c - fuzz target: input sources read from a file (`:::: FILE`,
 * tmpl_inputs_add_file).
 *
 * The input is the file.  It is added as a source, then linked with
 * itself; the first and last task's values are read and the inputs'
 * fingerprint taken.  A file with a NUL byte must be refused; a refusal
 * must say why and name the file.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "tmpl/tmpl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_file(data, size, ".txt");
    if (path == NULL)
        return 0;
    tmpl_inputs_t *in = tmpl_inputs_create();
    if (in == NULL)
        return 0;
    banyan_error_t err = {{0}};
    bool nul = memchr(data, '\0', size) != NULL;
    for (int linked = 0; linked < 2; linked++)
        if (tmpl_inputs_add_file(in, path, linked, &err) < 0) {
            fuzz_check_refusal(&err);
            if (strstr(err.text, path) == NULL)
                __builtin_trap(); /* the error names the file */
            tmpl_inputs_destroy(in);
            return 0;
        }
    if (nul)
        __builtin_trap(); /* a NUL byte is an error, not a cut line */
    const char *vals[2];
    uint64_t n = tmpl_inputs_count(in);
    if (tmpl_inputs_arity(in) != 2)
        __builtin_trap();
    if (n > 0 && (tmpl_inputs_get(in, 0, vals) < 0
                  || tmpl_inputs_get(in, n - 1, vals) < 0))
        __builtin_trap();
    if (tmpl_inputs_get(in, n, vals) == 0)
        __builtin_trap(); /* one past the end is ERANGE */
    char fp[33];
    tmpl_inputs_fingerprint(in, fp);
    tmpl_inputs_destroy(in);
    return 0;
}
