/* SPDX-License-Identifier: MIT */
/* cmd_keygen.c - banyan keygen: write a CURVE key pair.
 *
 * PREFIX.key (public and secret key, 0600) is given to the process that
 * owns the pair (--key); PREFIX.pub (the public key alone on one line) is
 * what the other side needs: a server's for --server-key, a worker's or a
 * client's for the server's --allow list.  Existing files are never
 * overwritten.  The public key is also printed on stdout.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli_client.h"

static const char usage_text[] =
    "Usage: banyan keygen [--out PREFIX]\n"
    "Write a new CURVE key pair: PREFIX.key (public and secret key, mode "
    "0600)\n"
    "and PREFIX.pub (the public key; concatenate .pub files into a "
    "server's\n"
    "--allow list).  PREFIX defaults to 'banyan'.  Existing files are "
    "never\n"
    "overwritten.  The public key is printed on stdout.\n"
    "\n"
    "  -o, --out PREFIX  where to write (default: banyan)\n"
    "  -h, --help        this text\n";

static const struct option long_opts[] = {
    {"out", required_argument, NULL, 'o'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int cmd_keygen(int argc, char **argv)
{
    const char *prefix = "banyan";
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "+:o:h", long_opts, NULL)) != -1) {
        switch (c) {
        case 'o': prefix = optarg; break;
        case 'h': fputs(usage_text, stdout); return BANYAN_EXIT_OK;
        default:
            return cli_bad_option("keygen", c, argv);
        }
    }
    if (optind != argc)
        return cli_usage_error("keygen", "unexpected argument '%s'",
                               argv[optind]);
    if (!*prefix)
        return cli_usage_error("keygen", "%s", "--out needs a prefix");
    char pub[BANYAN_KEY_LEN + 1], sec[BANYAN_KEY_LEN + 1];
    if (banyan_key_generate(pub, sec) < 0)
        return cli_fail("keygen", BANYAN_EXIT_INTERNAL,
                        "cannot make a key pair: %s",
                        errno == ENOTSUP ? "this libzmq has no CURVE support"
                                         : strerror(errno));
    banyan_error_t err = {{0}};
    int rc = banyan_key_write(prefix, pub, sec, &err);
    memset(sec, 0, sizeof(sec));
    if (rc < 0)
        return cli_fail("keygen",
                        errno == EEXIST ? BANYAN_EXIT_USAGE
                                        : BANYAN_EXIT_INTERNAL,
                        "%s", err.text);
    printf("%s\n", pub);
    fprintf(stderr, "banyan keygen: wrote %s.key (secret, keep private) and "
                    "%s.pub (public)\n", prefix, prefix);
    return BANYAN_EXIT_OK;
}
