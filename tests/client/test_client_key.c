/* SPDX-License-Identifier: MIT */
/* test_client_key.c - CURVE key files: banyan_key_write writes what
 * banyan_key_read and banyan_key_list_read accept, and every other line is
 * refused with the file and the line named. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <banyan/client.h>

#include "tap.h"
#include "util/util.h"

/* Write text to DIR/name; the path goes to path[620]. */
static const char *put(char *path, const char *name, const char *text)
{
    snprintf(path, 620, "%s/%s", tap_tmpdir(), name);
    FILE *f = fopen(path, "w");
    if (!f)
        bail_out("cannot write %s", path);
    fputs(text, f);
    fclose(f);
    return path;
}

/* banyan_key_read of text fails with EINVAL and a sentence naming the file
 * and containing want. */
static void refused(const char *text, bool secret, const char *want,
                    const char *what)
{
    char path[620], p[41], s[41];
    banyan_error_t err = {{0}};
    put(path, "refused.key", text);
    errno = 0;
    int rc = banyan_key_read(path, p, secret ? s : NULL, &err);
    ok(rc == -1 && errno == EINVAL && strstr(err.text, "refused.key") &&
           strstr(err.text, want),
       "%s is refused: %s", what, err.text);
}

static void test_keys(void)
{
    banyan_error_t err = {{0}};
    char pub[41], sec[41];
    if (banyan_key_generate(pub, sec) < 0) {
        ok(1, "# SKIP libzmq without CURVE");
        return;
    }
    ok(strlen(pub) == 40 && strlen(sec) == 40 && strcmp(pub, sec),
       "a key pair is two different 40-character keys");
    char prefix[600], path[620];
    snprintf(prefix, sizeof(prefix), "%s/alice", tap_tmpdir());
    ok(banyan_key_write(prefix, pub, sec, &err) == 0, "key files written");
    struct stat st;
    snprintf(path, sizeof(path), "%s.key", prefix);
    ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600,
       "the .key file is 0600");
    char p2[41], s2[41];
    ok(banyan_key_read(path, p2, s2, &err) == 0 && !strcmp(p2, pub) &&
           !strcmp(s2, sec),
       "the .key file reads back both keys");
    snprintf(path, sizeof(path), "%s.pub", prefix);
    char *text = NULL;
    size_t len;
    ok(util_read_file(path, &text, &len) == 0 && len == 41 &&
           !strncmp(text, pub, 40) && text[40] == '\n',
       "the .pub file is the public key on one line");
    free(text);
    ok(banyan_key_read(path, p2, NULL, &err) == 0 && !strcmp(p2, pub),
       "the .pub file reads back the public key");
    errno = 0;
    ok(banyan_key_read(path, p2, s2, &err) == -1 && errno == EINVAL &&
           strstr(err.text, "secret"),
       "asking a .pub file for a secret key fails: %s", err.text);

    char p3[41], s3[41];
    banyan_key_generate(p3, s3);
    errno = 0;
    ok(banyan_key_write(prefix, p3, s3, &err) == -1 && errno == EEXIST,
       "key files are never overwritten");
    snprintf(path, sizeof(path), "%s.key", prefix);
    ok(banyan_key_read(path, p2, s2, &err) == 0 && !strcmp(s2, sec),
       "... and the old keys are still there");

    /* Only the .pub exists: still no overwrite and no new .key. */
    char prefix2[600];
    snprintf(prefix2, sizeof(prefix2), "%s/bob", tap_tmpdir());
    snprintf(path, sizeof(path), "%s.pub", prefix2);
    FILE *f = fopen(path, "w");
    fputs("x\n", f);
    fclose(f);
    errno = 0;
    ok(banyan_key_write(prefix2, p3, s3, &err) == -1 && errno == EEXIST,
       "an existing .pub alone also stops the write");
    snprintf(path, sizeof(path), "%s.key", prefix2);
    ok(access(path, F_OK) != 0, "... and no .key is left behind");

    snprintf(path, sizeof(path), "%s/bad.key", tap_tmpdir());
    f = fopen(path, "w");
    fputs("# comment\npublic-key = tooshort\n", f);
    fclose(f);
    errno = 0;
    ok(banyan_key_read(path, p2, NULL, &err) == -1 && errno == EINVAL &&
           strstr(err.text, "line 2"),
       "a malformed key names its line: %s", err.text);
    errno = 0;
    ok(banyan_key_read("/nonexistent/x.key", p2, NULL, &err) == -1 &&
           errno == ENOENT,
       "a missing key file: ENOENT");
}

static void test_key_syntax(void)
{
    char pub[41], sec[41], text[400], path[620], p[41], s[41];
    banyan_error_t err = {{0}};
    if (banyan_key_generate(pub, sec) < 0)
        return;
    snprintf(text, sizeof(text), "\n# mine\n  secret-key=%s \r\n"
                                 "public-key\t=  %s\n\n", sec, pub);
    put(path, "loose.key", text);
    ok(banyan_key_read(path, p, s, &err) == 0 && !strcmp(p, pub) &&
           !strcmp(s, sec),
       "blanks, CRs, blank lines and comments around the keys are read");

    snprintf(text, sizeof(text), "public-key = %s\n", pub);
    refused(text, true, "no secret key", "a pair without its secret key");
    snprintf(text, sizeof(text), "secret-key = %s\n", sec);
    refused(text, false, "no public key", "a file with only a secret key");
    refused("", false, "no public key", "an empty file");
    snprintf(text, sizeof(text), "public-key = %s\nsecret-key = %.39s\n",
             pub, sec);
    refused(text, true, "line 2", "a 39-character secret key");
    snprintf(text, sizeof(text), "public-key = %sA\n", pub);
    refused(text, false, "line 1", "a 41-character public key");
    snprintf(text, sizeof(text), "public-key = \"%s\"\n", pub);
    refused(text, false, "line 1", "a quoted key");
    snprintf(text, sizeof(text), "public-key = %.39s~\n", pub);
    refused(text, false, "line 1", "a key with a character outside Z85");
    snprintf(text, sizeof(text), "public=%s\n", pub);
    refused(text, false, "line 1", "a label keygen does not write");
    snprintf(text, sizeof(text), "%s\n%s\n", pub, sec);
    refused(text, true, "line 2: a second public key",
            "two bare keys (a .pub is one key)");
    snprintf(text, sizeof(text), "public-key = %s\nsecret-key = %s\n"
                                 "secret-key = %s\n", pub, sec, sec);
    refused(text, true, "line 3: a second secret key", "a repeated key");
    refused("hello\n", false, "line 1", "a line of text");

    /* A bare key may begin with '#' and contain '=': it is still a key. */
    char hash[41];
    memcpy(hash, pub, sizeof(hash));
    hash[0] = '#';
    hash[5] = '=';
    snprintf(text, sizeof(text), "# comment\n%s\n", hash);
    put(path, "hash.pub", text);
    ok(banyan_key_read(path, p, NULL, &err) == 0 && !strcmp(p, hash),
       "a bare key beginning with '#' and holding '=' is a key");
}

static void test_key_list(void)
{
    char pub[41], sec[41], p2[41], s2[41], text[400], path[620];
    banyan_error_t err = {{0}};
    if (banyan_key_generate(pub, sec) < 0 ||
        banyan_key_generate(p2, s2) < 0)
        return;
    snprintf(text, sizeof(text), "%s\n# bob\n\n%s\n", pub, p2);
    char **keys = banyan_key_list_read(put(path, "allow", text), &err);
    ok(keys && keys[0] && keys[1] && !keys[2] && !strcmp(keys[0], pub) &&
           !strcmp(keys[1], p2),
       "an allow-list of two .pub files gives both keys in order");
    banyan_key_list_free(keys);
    banyan_key_list_free(NULL);

    snprintf(text, sizeof(text), "%s\nsecret-key = %s\n", pub, sec);
    errno = 0;
    ok(!banyan_key_list_read(put(path, "allow", text), &err) &&
           errno == EINVAL && strstr(err.text, "line 2") &&
           strstr(err.text, "secret"),
       "a secret key in an allow-list is refused: %s", err.text);
    snprintf(text, sizeof(text), "%s\n%.30s\n", pub, p2);
    errno = 0;
    ok(!banyan_key_list_read(put(path, "allow", text), &err) &&
           errno == EINVAL && strstr(err.text, "'") &&
           strstr(err.text, "line 2"),
       "a short key in an allow-list names its line: %s", err.text);
    errno = 0;
    ok(!banyan_key_list_read(put(path, "allow", "# nobody\n"), &err) &&
           errno == EINVAL && strstr(err.text, "no public key"),
       "an allow-list without a key is refused: %s", err.text);
    errno = 0;
    ok(!banyan_key_list_read("/nonexistent/allow", &err) &&
           errno == ENOENT && strstr(err.text, "/nonexistent/allow"),
       "a missing allow-list: ENOENT, named: %s", err.text);
}

int main(void)
{
    plan(NO_PLAN);
    test_keys();
    test_key_syntax();
    test_key_list();
    return done_testing();
}
