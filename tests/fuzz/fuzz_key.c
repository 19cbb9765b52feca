/* SPDX-License-Identifier: MIT */
/* fuzz_key.c - fuzz target: CURVE key files and allow-lists
 * (banyan_key_read, banyan_key_list_read).
 *
 * The input is the file, read as a key pair, as a public key and as an
 * allow-list.  Every key returned must be 40 characters, a file with a
 * NUL byte must be refused (not read up to it), and a refusal must say
 * why and name the file.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <banyan/client.h>

#include "fuzz.h"

static void check_refusal(const banyan_error_t *err, const char *path)
{
    fuzz_check_refusal(err);
    if (strstr(err->text, path) == NULL)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_file(data, size, ".key");
    if (path == NULL)
        return 0;
    /* a NUL byte is an error, not the end of the file */
    bool nul = memchr(data, '\0', size) != NULL;
    char pub[BANYAN_KEY_LEN + 1], sec[BANYAN_KEY_LEN + 1];
    banyan_error_t err = {{0}};
    if (banyan_key_read(path, pub, sec, &err) == 0) {
        if (nul || strlen(pub) != BANYAN_KEY_LEN
            || strlen(sec) != BANYAN_KEY_LEN)
            __builtin_trap();
    } else {
        check_refusal(&err, path);
    }
    err.text[0] = '\0';
    if (banyan_key_read(path, pub, NULL, &err) == 0) {
        if (nul || strlen(pub) != BANYAN_KEY_LEN)
            __builtin_trap();
    } else {
        check_refusal(&err, path);
    }
    err.text[0] = '\0';
    char **keys = banyan_key_list_read(path, &err);
    if (keys == NULL) {
        check_refusal(&err, path);
    } else {
        if (nul || keys[0] == NULL)
            __builtin_trap(); /* a list has a key at least */
        for (size_t i = 0; keys[i] != NULL; i++)
            if (strlen(keys[i]) != BANYAN_KEY_LEN)
                __builtin_trap();
        banyan_key_list_free(keys);
    }
    return 0;
}
