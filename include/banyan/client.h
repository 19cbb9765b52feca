/* SPDX-License-Identifier: MIT */
/* banyan/client.h - the C client of a banyan server: submit, wait, query,
 * cancel, blobs and broadcast.
 *
 * A client holds one connection (a ZeroMQ DEALER) to one server.  Every
 * call blocks: it sends one request and runs the client's own private event
 * loop until the answer comes, the call's deadline passes, or (with
 * catch_signals) SIGINT/SIGTERM arrives.  Nothing runs between calls, so a
 * client needs no thread and no loop of the caller's.  A client is not
 * thread-safe: use it from one thread at a time.
 *
 * Errors: every function returns 0 (or a pointer) on success, -1 (or NULL)
 * with errno set and, when error is not NULL, a sentence in error->text.
 * The errno values a caller can act on:
 *
 *   ECONNREFUSED  nobody listens at the endpoint
 *   ETIMEDOUT     the server did not answer within the deadline
 *   EINTR         a signal arrived during the call (catch_signals)
 *   EPROTO        the server answered with something unexpected
 *   EINVAL        a bad argument (the sentence says which)
 *   other         the server's own error (MSG_ERROR), e.g. ENOENT for an
 *                 unknown job or task, with the server's sentence
 *
 * Keys: CURVE keys are Z85 text, 40 characters.  `banyan keygen` writes
 * PREFIX.key (public and secret key, mode 0600) and PREFIX.pub (the public
 * key alone on one line); banyan_key_read() reads either.  See
 * docs/security.md.
 */
#ifndef BANYAN_CLIENT_H
#define BANYAN_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <banyan/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Where a client connects when told nothing (BANYAN_SERVER overrides it in
 * the command line tools, not in this library). */
#define BANYAN_DEFAULT_SERVER "tcp://127.0.0.1:7878"

/* Deadline of one request when banyan_client_options.timeout_ms is 0. */
#define BANYAN_CLIENT_TIMEOUT_MS 10000

/* Length of a Z85 CURVE key, without the NUL. */
#define BANYAN_KEY_LEN 40

typedef struct banyan_client banyan_client_t;

/* How to connect.  Zero-initialise, then set what matters. */
typedef struct banyan_client_options {
    int timeout_ms;              /* deadline of each request (not of
                                    banyan_client_wait); 0 = default */
    const char *key_file;        /* own key pair (PREFIX.key); NULL and no
                                    public_key = no CURVE */
    const char *server_key_file; /* the server's public key (.pub or .key) */
    const char *public_key;      /* or the keys themselves, Z85 text; */
    const char *secret_key;      /* these win over the files */
    const char *server_key;
    bool catch_signals;          /* SIGINT/SIGTERM during a call end it
                                    with EINTR (the process is not killed;
                                    the caller closes and exits) */
} banyan_client_options_t;

/* Connect to endpoint ("tcp://host:port", "ipc:///path"; NULL = the
 * default).  Connecting sends nothing, so a missing server is found by the
 * first request (ECONNREFUSED).  opts may be NULL.  Returns the client, or
 * NULL with EINVAL (bad endpoint, unreadable or malformed key, server key
 * without own keys or the reverse) or ENOMEM.  Caller must close with
 * banyan_client_close(). */
banyan_client_t *banyan_client_connect(const char *endpoint,
                                       const banyan_client_options_t *opts,
                                       banyan_error_t *error);

/* Say goodbye to the server (best effort), close the connection and free
 * the client.  Accepts NULL; keeps errno. */
void banyan_client_close(banyan_client_t *c);

/* The endpoint the client connects to.  Borrowed; valid until close. */
const char *banyan_client_endpoint(const banyan_client_t *c);

/* ---------------------------------------------------------------- jobs */

/* A source of input values (GNU Parallel's ":::"): the tasks of a job are
 * all combinations of its groups of linked sources. */
typedef struct banyan_source {
    const char *const *values;   /* borrowed */
    size_t nvalues;
    bool linked;                 /* paired with the previous source
                                    (":::+"); not on the first */
} banyan_source_t;

/* A named resource a task needs ("license=1"). */
typedef struct banyan_resource {
    const char *name;            /* [A-Za-z_][A-Za-z0-9_.-]*, < 32 bytes */
    uint64_t amount;
} banyan_resource_t;

/* A job: a command template run once per combination of the sources'
 * values, or once per number of an array range.  Zero-initialise, then set
 * what matters.  All pointers are borrowed for the call only. */
typedef struct banyan_job_spec {
    const char *const *words;    /* command template (banyan run syntax:
                                    {} {1} {#} ...); one word with spaces
                                    runs under /bin/sh -c */
    size_t nwords;
    const banyan_source_t *sources;
    size_t nsources;
    uint64_t array_first;        /* with no sources: task i gets {} = */
    uint64_t array_count;        /* array_first + i; 0 = no array */
    uint32_t cpus_milli;         /* per task; 0 = not accounted */
    uint64_t mem_bytes;          /* per task; 0 = not stated */
    uint32_t gpus_milli;         /* 0, a share < 1000, or a multiple of
                                    1000 (whole GPUs) */
    uint64_t gpu_mem_bytes;      /* per GPU; 0 = any */
    const banyan_resource_t *resources;
    size_t nresources;           /* at most 8 */
    int32_t priority;            /* higher runs first; default 0 */
    uint32_t retries;            /* extra attempts of a failed task */
    int64_t timeout_ms;          /* per task; 0 = none */
    const char *const *env;      /* "K=V" added to each task's environment */
    size_t nenv;
    const char *cwd;             /* working directory of the tasks; NULL =
                                    the worker's */
    const char *name;            /* a label; NULL = none */
    const uint8_t (*blobs)[32];  /* blobs the tasks need, each already
                                    stored with banyan_client_blob_put;
                                    task i sees BANYAN_BLOB_<i> = the path
                                    of blob i on its engine */
    size_t nblobs;               /* at most BANYAN_JOB_MAX_BLOBS */
    bool stdin_blob;             /* each task's stdin is blobs[0] */
} banyan_job_spec_t;

/* Blobs one job may name (banyan_job_spec_t.blobs). */
#define BANYAN_JOB_MAX_BLOBS 16

/* Submit a job.  Returns 0 once the server has made it durable, with its id
 * in *job and its number of tasks in *ntasks (may be NULL); -1 with EINVAL
 * (a spec the client can already tell is wrong: empty command, malformed
 * template, too many values) or the errors above. */
int banyan_client_submit(banyan_client_t *c, const banyan_job_spec_t *spec,
                         uint32_t *job, uint64_t *ntasks,
                         banyan_error_t *error);

/* A job's counts and state. */
typedef struct banyan_job_state {
    uint32_t job;
    char state[16];              /* "queued", "running", "done", "failed",
                                    "cancelled" */
    uint64_t ntasks, pending, running, ok, failed;
} banyan_job_state_t;

/* True when state names a job that has ended (done, failed, cancelled). */
bool banyan_job_state_is_final(const banyan_job_state_t *st);

/* Wait until job has ended, at most timeout_ms (< 0 = no limit), and fill
 * *out (may be NULL).  0, or -1 with ETIMEDOUT when the job is still going
 * at the deadline, ENOENT for an unknown job, or the errors above. */
int banyan_client_wait(banyan_client_t *c, uint32_t job, int64_t timeout_ms,
                       banyan_job_state_t *out, banyan_error_t *error);

/* Cancel a job: pending tasks never start, running ones are killed.  *out
 * (may be NULL) gets the state the server reports, when it reports one.
 * 0, or -1 with ENOENT for an unknown job, or the errors above. */
int banyan_client_cancel(banyan_client_t *c, uint32_t job,
                         banyan_job_state_t *out, banyan_error_t *error);

/* Ask the server something: what is "status", "results", "log" or
 * "explain"; args_json a JSON object text (NULL = "{}"); see
 * docs/cluster.md for each answer.  On success *answer_json is the answer
 * text: caller must free() it.  -1 with EINVAL when args_json is not a JSON
 * object, or the errors above. */
int banyan_client_query(banyan_client_t *c, const char *what,
                        const char *args_json, char **answer_json,
                        banyan_error_t *error);

/* ------------------------------------------------------- blobs, broadcast */

/* Length of a blob's name: the BLAKE2b-256 hash of its bytes. */
#define BANYAN_BLOB_HASH_LEN 32

/* The largest blob a server stores: SQLite's length limit (10^9 bytes) less
 * room for the rest of the row. */
#define BANYAN_BLOB_MAX_BYTES (1000000000ULL - (1ULL << 20))

/* Deadline of a broadcast when timeout_ms is 0. */
#define BANYAN_BROADCAST_TIMEOUT_MS 30000

/* Store size bytes of data on the server as a blob (data may be NULL when
 * size is 0).  The data goes in 1 MiB chunks; the server checks the hash and
 * answers the last one.  Storing a blob the server holds already is
 * harmless.  0 with the blob's name in hash_out, or -1 with EFBIG (over
 * BANYAN_BLOB_MAX_BYTES), EPROTO (the server named another hash or size),
 * or the errors above. */
int banyan_client_blob_put(banyan_client_t *c, const void *data, size_t size,
                           uint8_t hash_out[BANYAN_BLOB_HASH_LEN],
                           banyan_error_t *error);

/* The same for the content of a regular file, read in pieces (the client's
 * memory does not grow with the file; ZeroMQ's queue may, when the server
 * reads more slowly than the file is read).  -1 with the errno of open or
 * read and a sentence naming the file, EINVAL when it is not a regular
 * file, EIO when it changed while being sent, or the errors above. */
int banyan_client_blob_put_file(banyan_client_t *c, const char *path,
                                uint8_t hash_out[BANYAN_BLOB_HASH_LEN],
                                banyan_error_t *error);

/* Run a command on every engine of the server's tree, once each, and wait
 * until every engine has answered or timeout_ms (0 = the default) has
 * passed.  words[0..nwords-1] is the command (argv form; nwords 0 = no
 * command: each engine only acknowledges); blob_hash (NULL = none) names a
 * stored blob that each engine fetches first, its path in BANYAN_BLOB_0.
 * want_output: the answer carries each engine's exit code and output tail.
 * On success *json_out is the server's answer, which caller must free():
 *   {"id":N,"engines":N,"ok":N,"failed":N,"missing":N,"ms":F,
 *    "outputs":[{"node":N,"exit":N,"out":"..."}]}
 * (missing: engines that did not answer in time).  A broadcast in which
 * some engine failed still returns 0: read the counts.  -1 with EINVAL (a
 * bad argument), ENOENT (the server has no such blob), or the errors
 * above. */
int banyan_client_broadcast(banyan_client_t *c, const char *const *words,
                            size_t nwords, const uint8_t *blob_hash,
                            uint32_t timeout_ms, bool want_output,
                            char **json_out, banyan_error_t *error);

/* Push a blob to every engine: banyan_client_blob_put, then a broadcast
 * with no command and that blob, so that every engine holds it in its
 * cache.  Returns as banyan_client_broadcast. */
int banyan_client_push_blob(banyan_client_t *c, const void *data,
                            size_t size, uint32_t timeout_ms,
                            char **json_out, banyan_error_t *error);

/* ---------------------------------------------------------------- keys */

/* Generate a CURVE key pair into public_key / secret_key (41 bytes each,
 * NUL-terminated Z85).  0, or -1 with ENOTSUP when libzmq lacks CURVE. */
int banyan_key_generate(char *public_key, char *secret_key);

/* Write PREFIX.key (both keys, mode 0600) and PREFIX.pub (the public key,
 * mode 0644).  Never overwrites: -1 with EEXIST when either file exists,
 * and then nothing is written.  -1 with errno and a sentence on other
 * failures, leaving no partial file behind. */
int banyan_key_write(const char *prefix, const char *public_key,
                     const char *secret_key, banyan_error_t *error);

/* Read a key file written by banyan_key_write (either of the two) into
 * public_key[41] and, when secret_key is not NULL, secret_key[41].  The
 * syntax is exactly what banyan_key_write writes (docs/security.md): a
 * bare key (the public one), "public-key = K" / "secret-key = K" lines,
 * blank lines and '#' comments.  -1 with errno and a sentence naming the
 * file (and the line, when one is wrong): ENOENT (no such file), EINVAL (a
 * line that is not a 40-character Z85 key, a key given twice, no public
 * key, no secret key in a .pub file when one is wanted, or a NUL byte). */
int banyan_key_read(const char *path, char *public_key, char *secret_key,
                    banyan_error_t *error);

/* Read an allow-list: public keys, one a line, as concatenated .pub files
 * make it (same syntax as a key file, without secret keys).  Returns a
 * NULL-ended array of keys, or NULL with errno and a sentence naming the
 * file and line: ENOENT, EINVAL (a bad line, a secret key, no key at
 * all, a NUL byte), ENOMEM.  Caller must free with banyan_key_list_free().
 * banyan server reads one list per role (--allow, --allow-workers,
 * --allow-admins; docs/security.md). */
char **banyan_key_list_read(const char *path, banyan_error_t *error);

/* Free what banyan_key_list_read returned.  NULL is fine. */
void banyan_key_list_free(char **keys);

#ifdef __cplusplus
}
#endif

#endif /* BANYAN_CLIENT_H */
