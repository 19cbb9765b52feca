/* SPDX-License-Identifier: MIT */
/* fuzz_util.c - helpers shared by the fuzz targets (fuzz.h). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

enum { MAX_FILES = 4 };

static struct {
    char suffix[16];
    char path[4096];
} files[MAX_FILES];
static int nfiles;

static void remove_files(void)
{
    for (int i = 0; i < nfiles; i++)
        unlink(files[i].path);
}

/* The path of this process's file for suffix, made on first use. */
static const char *file_for(const char *suffix)
{
    for (int i = 0; i < nfiles; i++)
        if (strcmp(files[i].suffix, suffix) == 0)
            return files[i].path;
    if (nfiles == MAX_FILES || strlen(suffix) >= sizeof files[0].suffix)
        return NULL;
    const char *dir = getenv("TMPDIR");
    if (dir == NULL || *dir == '\0')
        dir = "/tmp";
    snprintf(files[nfiles].suffix, sizeof files[nfiles].suffix, "%s",
             suffix);
    snprintf(files[nfiles].path, sizeof files[nfiles].path,
             "%s/banyan-fuzz-%ld-%d%s", dir, (long)getpid(), nfiles, suffix);
    if (nfiles == 0)
        atexit(remove_files);
    return files[nfiles++].path;
}

const char *fuzz_write_file(const uint8_t *data, size_t size,
                            const char *suffix)
{
    const char *path = file_for(suffix);
    if (path == NULL)
        return NULL;
    /* A new file each time: rewriting one through O_TRUNC makes ext4 flush
     * it on close (auto_da_alloc), a thousand times slower. */
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return NULL;
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(fd, data + done, size - done);
        if (w <= 0) {
            close(fd);
            return NULL;
        }
        done += (size_t)w;
    }
    return close(fd) == 0 ? path : NULL;
}

char *fuzz_strndup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s != NULL) {
        memcpy(s, data, size);
        s[size] = '\0';
    }
    return s;
}

void fuzz_check_refusal(const banyan_error_t *error)
{
    if (error->text[0] == '\0')
        __builtin_trap();
}
