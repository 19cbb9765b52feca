/* SPDX-License-Identifier: MIT */
/* fuzz.h - what every fuzz target defines, and the helpers they share.
 *
 * A target is one file, fuzz_<name>.c, that defines LLVMFuzzerTestOneInput:
 * it feeds the bytes to one decoder and traps (__builtin_trap) when an
 * invariant of that decoder breaks (a refusal without a sentence, a result
 * that does not round-trip).  Crashes, leaks and undefined behaviour are
 * the sanitizers' to report.  The same file links either against
 * libFuzzer's main (clang, -DBANYAN_FUZZ=ON) or against fuzz_driver.c, a
 * main() that replays the committed seeds and regressions and a fixed
 * number of deterministic mutations of them, as a CTest of every build.
 */
#ifndef BANYAN_TEST_FUZZ_H
#define BANYAN_TEST_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include <banyan/error.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Write the input to a file of this process's own in $TMPDIR (or /tmp)
 * whose name ends with suffix (".yaml", ".json", ""), for decoders that
 * read a path.  The same path is rewritten by each call for a suffix and
 * removed at exit.  Returns the path (static storage), or NULL when the
 * file cannot be written (the target then skips the input). */
const char *fuzz_write_file(const uint8_t *data, size_t size,
                            const char *suffix);

/* The input as a NUL-ended string (malloc'd; the caller frees), cut at its
 * first NUL byte.  NULL on ENOMEM. */
char *fuzz_strndup(const uint8_t *data, size_t size);

/* Trap unless a refusal came with a sentence: a decoder that fails must
 * say why (docs/security.md, "Hostile input"). */
void fuzz_check_refusal(const banyan_error_t *error);

#endif /* BANYAN_TEST_FUZZ_H */
