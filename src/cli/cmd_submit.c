/* SPDX-License-Identifier: MIT */
/* cmd_submit.c - banyan submit: send a job to a server.
 *
 *   banyan submit [OPTION]... [--] COMMAND [ARG]... [::: VALUES]...
 *   banyan submit --array FIRST-LAST [OPTION]... [--] COMMAND [ARG]...
 *
 * The template and its inputs have banyan run's syntax.  Everything that
 * can be checked here is checked before connecting (template, arity,
 * resource shapes, readable files), so mistakes are exit 2 at once.
 * "::::" files (and stdin, without any source) are read here and sent as
 * values: workers need not see the client's files.  Files given with --blob
 * and --stdin-blob are uploaded to the server as blobs before the job is
 * submitted; engines fetch them through the tree into their caches.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_client.h"
#include "msg/msg.h"
#include "tmpl/tmpl.h"

static const char usage_text[] =
    "Usage: banyan submit [OPTION]... [--] COMMAND [ARG]... [::: VALUE...]"
    "...\n"
    "       banyan submit --array FIRST-LAST [OPTION]... [--] COMMAND "
    "[ARG]...\n"
    "Send a job to a banyan server and print its id.  COMMAND and the "
    "inputs\n"
    "take 'banyan run' syntax (::: :::+ :::: ::::+, {} {1} {#} ...); "
    "without\n"
    "any input source, lines of stdin form one.\n"
    "\n"
    "Options:\n"
    "      --array RANGE     tasks FIRST..LAST (or 1..N for --array N); "
    "{} is\n"
    "                        the number\n"
    "      --priority P      higher runs first (default 0)\n"
    CLI_TASK_HELP
    "      --gpu-mem SIZE    memory each GPU must have\n"
    "      --resource N=A    a named resource per task (license=1)\n"
    "      --retries N       run a failed task up to N more times\n"
    "      --timeout DUR     kill a task after DUR (10, 1.5s, 2m)\n"
    "      --name NAME       a label for the job\n"
    "      --cwd DIR         tasks' working directory (default: this one)\n"
    "      --env K=V         set K in each task's environment (--env K "
    "copies\n"
    "                        this shell's value); repeatable\n"
    "      --blob FILE       upload FILE to the server; every task finds its\n"
    "                        copy on its engine at $BANYAN_BLOB_<i>, i = 0, 1,\n"
    "                        ... in the order given (after --stdin-blob);\n"
    "                        repeatable, at most 16 blobs in all\n"
    "      --stdin-blob FILE upload FILE as BANYAN_BLOB_0 and make it each\n"
    "                        task's stdin\n"
    "      --wait            wait for the job to end; exit 0 if every task\n"
    "                        succeeded, else 1\n" CLI_CLIENT_HELP
    "Exit: 0 submitted (or all succeeded with --wait), 1 some task failed,\n"
    "2 bad usage, 3 connection or server error.\n";

enum {
    OPT_ARRAY = 256, OPT_PRIORITY, OPT_GPU_MEM, OPT_NAME, OPT_CWD, OPT_ENV,
    OPT_WAIT, OPT_BLOB, OPT_STDIN_BLOB,
};

static const struct option long_opts[] = {
    {"array", required_argument, NULL, OPT_ARRAY},
    {"priority", required_argument, NULL, OPT_PRIORITY},
    CLI_TASK_OPTIONS,
    {"gpu-mem", required_argument, NULL, OPT_GPU_MEM},
    {"name", required_argument, NULL, OPT_NAME},
    {"cwd", required_argument, NULL, OPT_CWD},
    {"env", required_argument, NULL, OPT_ENV},
    {"wait", no_argument, NULL, OPT_WAIT},
    {"blob", required_argument, NULL, OPT_BLOB},
    {"stdin-blob", required_argument, NULL, OPT_STDIN_BLOB},
    CLI_CLIENT_LONG_OPTIONS,
    {NULL, 0, NULL, 0},
};

/* What the command line gathers; freed by submit_fini(). */
struct submit {
    banyan_job_spec_t spec;
    res_request_t req;
    banyan_resource_t res[RES_MAX_CUSTOM];
    banyan_source_t *sources;
    size_t nsources;
    tmpl_inputs_t **files;        /* one per file source, holds its values */
    const char ***file_values;    /* values of each file source */
    size_t nfiles;
    char **env;                   /* owned "K=V" strings */
    size_t nenv;
    char *cwd;
    const char *stdin_blob;       /* --stdin-blob FILE: blob 0 */
    const char *blob_files[BANYAN_JOB_MAX_BLOBS]; /* --blob FILEs */
    size_t nblob_files;
    uint8_t blobs[BANYAN_JOB_MAX_BLOBS][BANYAN_BLOB_HASH_LEN];
};

static void submit_fini(struct submit *s)
{
    for (size_t i = 0; i < s->nfiles; i++) {
        tmpl_inputs_destroy(s->files[i]);
        free(s->file_values[i]);
    }
    free(s->files);
    free(s->file_values);
    free(s->sources);
    for (size_t i = 0; i < s->nenv; i++)
        free(s->env[i]);
    free(s->env);
    free(s->cwd);
}

static int add_source(struct submit *s, const char *const *values, size_t n,
                      bool linked, banyan_error_t *error)
{
    banyan_source_t *src = realloc(s->sources,
                                   (s->nsources + 1) * sizeof(*src));
    if (!src) {
        errno = ENOMEM;
        return errprintf(error, "out of memory");
    }
    s->sources = src;
    src[s->nsources++] = (banyan_source_t){values, n, linked};
    return 0;
}

/* Read a file source ("-" = stdin) with tmpl's reader, one value a line,
 * and add it. */
static int add_file(struct submit *s, const char *path, bool linked,
                    banyan_error_t *error)
{
    tmpl_inputs_t **f = realloc(s->files, (s->nfiles + 1) * sizeof(*f));
    if (f)
        s->files = f;
    const char ***fv = realloc(s->file_values,
                               (s->nfiles + 1) * sizeof(*fv));
    if (fv)
        s->file_values = fv;
    if (!f || !fv) {
        errno = ENOMEM;
        return errprintf(error, "out of memory");
    }
    tmpl_inputs_t *in = tmpl_inputs_create();
    if (!in || tmpl_inputs_add_file(in, path, false, error) < 0) {
        if (!in)
            errprintf(error, "out of memory");
        tmpl_inputs_destroy(in);
        return -1;
    }
    uint64_t n = tmpl_inputs_count(in);
    const char **vals = malloc((n ? n : 1) * sizeof(*vals));
    if (!vals) {
        tmpl_inputs_destroy(in);
        errno = ENOMEM;
        return errprintf(error, "out of memory");
    }
    for (uint64_t i = 0; i < n; i++)
        tmpl_inputs_get(in, i, &vals[i]);
    s->files[s->nfiles] = in;
    s->file_values[s->nfiles++] = vals;
    return add_source(s, vals, (size_t)n, linked, error);
}

static int add_input(void *s, const char *const *values, size_t n,
                     bool file, bool linked, banyan_error_t *error)
{
    if (file)
        return add_file(s, values[0], linked, error);
    return add_source(s, values, n, linked, error);
}

/* "FIRST-LAST" or "N" (= 1-N). */
static int parse_array(const char *arg, uint64_t *first, uint64_t *count)
{
    long a, b;
    const char *dash = strchr(arg, '-');
    if (!dash) {
        if (util_parse_long(arg, 1, 1L << 62, &b) < 0)
            return -1;
        a = 1;
    } else {
        char head[32];
        size_t n = (size_t)(dash - arg);
        if (n == 0 || n >= sizeof(head))
            return -1;
        memcpy(head, arg, n);
        head[n] = '\0';
        if (util_parse_long(head, 0, 1L << 62, &a) < 0 ||
            util_parse_long(dash + 1, 0, 1L << 62, &b) < 0 || b < a)
            return -1;
    }
    *first = (uint64_t)a;
    *count = (uint64_t)(b - a) + 1;
    return 0;
}

static int add_env(struct submit *s, const char *arg)
{
    char *e;
    if (strchr(arg, '=')) {
        if (arg[0] == '=')
            return -1;
        e = strdup(arg);
    } else {
        const char *v = getenv(arg);
        if (!*arg || !v)
            return -1;
        size_t n = strlen(arg) + strlen(v) + 2;
        e = malloc(n);
        if (e)
            snprintf(e, n, "%s=%s", arg, v);
    }
    char **env = e ? realloc(s->env, (s->nenv + 1) * sizeof(*env)) : NULL;
    if (!env) {
        free(e);
        return -1;
    }
    s->env = env;
    env[s->nenv++] = e;
    return 0;
}

/* Parse the options into s; 0, or the usage exit code after a message. */
static int parse_options(struct submit *s, int argc, char **argv,
                         cli_client_opts_t *co, bool *wait, bool *help)
{
    banyan_job_spec_t *sp = &s->spec;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "+:h", long_opts, NULL)) != -1) {
        if (cli_client_option(co, c, optarg))
            continue;
        long n;
        switch (c) {
        case OPT_ARRAY:
            if (parse_array(optarg, &sp->array_first, &sp->array_count) < 0)
                return cli_usage_error("submit", "invalid --array '%s' "
                                       "(expected FIRST-LAST or N)", optarg);
            break;
        case OPT_PRIORITY:
            if (util_parse_long(optarg[0] == '-' ? optarg + 1 : optarg, 0,
                                1000000000, &n) < 0)
                return cli_usage_error("submit", "invalid --priority '%s' "
                                       "(expected an integer)", optarg);
            sp->priority = (int32_t)(optarg[0] == '-' ? -n : n);
            break;
        case OPT_GPU_MEM:
            if (util_parse_size(optarg, &s->req.gpu_mem_bytes) < 0)
                return cli_usage_error("submit", "invalid --gpu-mem '%s'",
                                       optarg);
            break;
        case OPT_NAME: sp->name = optarg; break;
        case OPT_CWD:
            free(s->cwd);
            s->cwd = strdup(optarg);
            break;
        case OPT_ENV:
            if (add_env(s, optarg) < 0)
                return cli_usage_error("submit", "invalid --env '%s' "
                                       "(expected K=V, or K set here)",
                                       optarg);
            break;
        case OPT_WAIT: *wait = true; break;
        case OPT_BLOB:
            if (s->nblob_files + (s->stdin_blob ? 1 : 0)
                >= BANYAN_JOB_MAX_BLOBS)
                return cli_usage_error("submit", "at most %d blobs per job "
                                       "(--blob and --stdin-blob)",
                                       BANYAN_JOB_MAX_BLOBS);
            s->blob_files[s->nblob_files++] = optarg;
            break;
        case OPT_STDIN_BLOB:
            if (s->stdin_blob)
                return cli_usage_error("submit", "%s", "--stdin-blob given "
                                       "twice");
            if (s->nblob_files >= BANYAN_JOB_MAX_BLOBS)
                return cli_usage_error("submit", "at most %d blobs per job "
                                       "(--blob and --stdin-blob)",
                                       BANYAN_JOB_MAX_BLOBS);
            s->stdin_blob = optarg;
            break;
        case 'h': *help = true; return 0;
        default: {
            int code = cli_task_option("submit", c, &s->req,
                                       &sp->timeout_ms, &sp->retries);
            if (code)
                return code < 0 ? cli_bad_option("submit", c, argv) : code;
            break;
        }
        }
    }
    return 0;
}

static int check_blob_files(const struct submit *s)
{
    int code = 0;
    if (s->stdin_blob)
        code = cli_check_upload("submit", "--stdin-blob", s->stdin_blob);
    for (size_t i = 0; i < s->nblob_files && !code; i++)
        code = cli_check_upload("submit", "--blob", s->blob_files[i]);
    return code;
}

/* Upload the blob files (the stdin blob first: it must be blob 0) and name
 * them in the spec.  0, or -1 with errno and text. */
static int upload_blobs(banyan_client_t *c, struct submit *s,
                        banyan_error_t *error)
{
    size_t n = 0;
    if (s->stdin_blob
        && banyan_client_blob_put_file(c, s->stdin_blob, s->blobs[n++],
                                       error) < 0)
        return -1;
    for (size_t i = 0; i < s->nblob_files; i++)
        if (banyan_client_blob_put_file(c, s->blob_files[i], s->blobs[n++],
                                        error) < 0)
            return -1;
    s->spec.blobs = (const uint8_t(*)[BANYAN_BLOB_HASH_LEN])s->blobs;
    s->spec.nblobs = n;
    s->spec.stdin_blob = s->stdin_blob != NULL;
    return 0;
}

/* The command, the sources, and what the template needs of them. */
static int parse_job(struct submit *s, int argc, char **argv)
{
    banyan_error_t err = {{0}};
    int first = optind, i = cli_find_separator(argc, argv, optind);
    if (i == first)
        return cli_usage_error("submit", "%s", "no command given");
    if (s->spec.array_count && i < argc)
        return cli_usage_error("submit", "%s", "--array and input sources "
                               "(:::, ::::) cannot be combined");
    int rc = 0;
    if (!s->spec.array_count)
        rc = cli_parse_sources(argc, argv, i, add_input, s, &err);
    /* What the server will check: the one count of msg.h. */
    msg_job_t d = {.nwords = (uint32_t)(i - first),
                   .words = (const char **)argv + first,
                   .nsources = (uint32_t)s->nsources, .sources = s->sources,
                   .array_first = s->spec.array_first,
                   .array_count = s->spec.array_count};
    uint64_t ntasks;
    if (rc < 0 || msg_job_tasks(&d, &ntasks, NULL, NULL, &err) < 0)
        return cli_usage_error("submit", "%s", err.text);
    s->spec.words = (const char *const *)argv + first;
    s->spec.nwords = (size_t)(i - first);
    return 0;
}

int cmd_submit(int argc, char **argv)
{
    struct submit s = {0};
    cli_client_opts_t co = {0};
    bool wait = false, help = false;
    int code = parse_options(&s, argc, argv, &co, &wait, &help);
    if (code || help) {
        if (help)
            fputs(usage_text, stdout);
        submit_fini(&s);
        return code;
    }
    if ((code = parse_job(&s, argc, argv)) != 0
        || (code = check_blob_files(&s)) != 0) {
        submit_fini(&s);
        return code;
    }
    banyan_job_spec_t *sp = &s.spec;
    sp->sources = s.sources;
    sp->nsources = s.nsources;
    sp->cpus_milli = s.req.cpus_milli;
    sp->mem_bytes = s.req.mem_bytes;
    sp->gpus_milli = s.req.gpus_milli;
    sp->gpu_mem_bytes = s.req.gpu_mem_bytes;
    for (int r = 0; r < s.req.ncustom; r++)
        s.res[r] = (banyan_resource_t){s.req.custom[r].name,
                                       s.req.custom[r].amount};
    sp->resources = s.res;
    sp->nresources = (size_t)s.req.ncustom;
    sp->env = (const char *const *)s.env;
    sp->nenv = s.nenv;
    if (!s.cwd)
        s.cwd = getcwd(NULL, 0);
    sp->cwd = s.cwd;

    banyan_client_t *c = cli_client_connect("submit", &co, &code);
    if (!c) {
        submit_fini(&s);
        return code;
    }
    banyan_error_t err = {{0}};
    uint32_t job;
    uint64_t ntasks;
    if (upload_blobs(c, &s, &err) < 0
        || banyan_client_submit(c, sp, &job, &ntasks, &err) < 0) {
        code = cli_client_fail("submit", &err);
        goto out;
    }
    if (co.json && !wait)
        printf("{\"job\":%u,\"ntasks\":%llu}\n", job,
               (unsigned long long)ntasks);
    else
        printf("%u\n", job);
    fflush(stdout);
    code = BANYAN_EXIT_OK;
    if (wait) {
        banyan_job_state_t st;
        if (banyan_client_wait(c, job, -1, &st, &err) < 0) {
            code = cli_client_fail("submit", &err);
            goto out;
        }
        cli_print_job_state(&st, co.json);
        code = cli_job_exit_code(&st);
    }
out:
    banyan_client_close(c);
    submit_fini(&s);
    return code;
}
