/* SPDX-License-Identifier: MIT */
/* client_job.c - the client's requests: submit, wait, cancel, query.
 *
 * Each function checks what the client can check on its own (counts within
 * the wire limits, a resource request of the right shape, the template
 * against the inputs as the server will, JSON arguments that parse) so
 * that a bad call fails with EINVAL and a sentence before anything is
 * sent, then builds one message and hands it to client__request().  The
 * spec's pointers are only borrowed for the call: the message points into
 * them and is encoded before the call returns.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "client_private.h"

/* WAIT is sent again this often, so that a server that restarted (and lost
 * the waiter) still answers when the job ends.  Answers to the extra
 * copies carry the same request id and all but the first are dropped. */
enum { WAIT_RESEND_MS = 30000 };

bool banyan_job_state_is_final(const banyan_job_state_t *st)
{
    return !strcmp(st->state, "done") || !strcmp(st->state, "failed") ||
           !strcmp(st->state, "cancelled");
}

static void copy_state(const msg_jobstate_t *js, banyan_job_state_t *out)
{
    memset(out, 0, sizeof(*out));
    out->job = js->job;
    snprintf(out->state, sizeof(out->state), "%s", js->state ? js->state
                                                              : "");
    out->ntasks = js->ntasks;
    out->pending = js->pending;
    out->running = js->running;
    out->ok = js->ok;
    out->failed = js->failed;
}

static int unexpected(msg_t *m, const char *what, banyan_error_t *error)
{
    errprintf(error, "the server answered the %s request with %s", what,
              msg_type_name(m->type));
    msg_free(m);
    errno = EPROTO;
    return -1;
}

/* -------------------------------------------------------------- submit */

static int check_spec(const banyan_job_spec_t *s, banyan_error_t *error)
{
    errno = EINVAL;
    if (s->nwords < 1 || !s->words)
        return errprintf(error, "a job needs a command");
    if (s->nwords > MSG_MAX_ARGS)
        return errprintf(error, "the command has %zu words; at most %d can "
                                "be sent", s->nwords, (int)MSG_MAX_ARGS);
    for (size_t i = 0; i < s->nwords; i++)
        if (!s->words[i])
            return errprintf(error, "command word %zu is NULL", i + 1);
    if (s->nsources > MSG_MAX_ARGS)
        return errprintf(error, "too many input sources (%zu)", s->nsources);
    if (s->nsources && !s->sources)
        return errprintf(error, "input sources missing");
    for (size_t i = 0; i < s->nsources; i++) {
        const banyan_source_t *src = &s->sources[i];
        if (src->nvalues > MSG_MAX_ARGS)
            return errprintf(error, "input source %zu has %zu values; at "
                                    "most %d can be sent (use --array and "
                                    "let the task read its line from a "
                                    "file)", i + 1, src->nvalues,
                             (int)MSG_MAX_ARGS);
        if (src->nvalues && !src->values)
            return errprintf(error, "input source %zu has no values array",
                             i + 1);
        for (size_t v = 0; v < src->nvalues; v++)
            if (!src->values[v])
                return errprintf(error, "value %zu of input source %zu is "
                                        "NULL", v + 1, i + 1);
    }
    if (s->nenv > MSG_MAX_ARGS)
        return errprintf(error, "too many environment variables (%zu)",
                         s->nenv);
    for (size_t i = 0; i < s->nenv; i++)
        if (!s->env[i] || !strchr(s->env[i], '=') || s->env[i][0] == '=')
            return errprintf(error, "environment entry '%s' is not K=V",
                             s->env[i] ? s->env[i] : "(null)");
    if (s->nresources > RES_MAX_CUSTOM)
        return errprintf(error, "at most %d named resources per task",
                         (int)RES_MAX_CUSTOM);
    if (s->timeout_ms < 0)
        return errprintf(error, "negative task timeout");
    if (s->retries >= UINT32_MAX)
        return errprintf(error, "too many retries");
    if (s->nblobs > MSG_MAX_JOB_BLOBS)
        return errprintf(error, "a job names at most %d blobs, not %zu",
                         (int)MSG_MAX_JOB_BLOBS, s->nblobs);
    if (s->nblobs && !s->blobs)
        return errprintf(error, "the job's blobs are missing");
    if (s->stdin_blob && !s->nblobs)
        return errprintf(error, "a stdin blob needs a blob (blobs[0])");
    errno = 0;
    return 0;
}

static int make_request(const banyan_job_spec_t *s, res_request_t *req,
                        banyan_error_t *error)
{
    memset(req, 0, sizeof(*req));
    req->slots = 1;
    req->cpus_milli = s->cpus_milli;
    req->mem_bytes = s->mem_bytes;
    req->gpus_milli = s->gpus_milli;
    req->gpu_mem_bytes = s->gpu_mem_bytes;
    for (size_t i = 0; i < s->nresources; i++) {
        const banyan_resource_t *r = &s->resources[i];
        if (!r->name || strlen(r->name) >= RES_NAME_MAX) {
            errno = EINVAL;
            return errprintf(error, "resource name '%s' is empty or longer "
                                    "than %d bytes",
                             r->name ? r->name : "", RES_NAME_MAX - 1);
        }
        strcpy(req->custom[i].name, r->name);
        req->custom[i].amount = r->amount;
        req->ncustom = (int)i + 1;
    }
    if (res_request_check(req, error) < 0) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

int banyan_client_submit(banyan_client_t *c, const banyan_job_spec_t *spec,
                         uint32_t *job, uint64_t *ntasks,
                         banyan_error_t *error)
{
    if (!c || !spec || !job) {
        errno = EINVAL;
        return errprintf(error, "banyan_client_submit: missing argument");
    }
    msg_t m = {.type = MSG_SUBMIT};
    msg_job_t *j = &m.u.submit.job;
    if (check_spec(spec, error) < 0 || make_request(spec, &j->req, error) < 0)
        return -1;
    /* The message only reads the strings; msg_job_t is not const. */
    j->nwords = (uint32_t)spec->nwords;
    j->words = (const char **)spec->words;
    j->nsources = (uint32_t)spec->nsources;
    j->sources = spec->nsources ? spec->sources : NULL;
    j->array_first = spec->array_count ? spec->array_first : 0;
    j->array_count = spec->array_count;
    j->nenv = (uint32_t)spec->nenv;
    j->env = (const char **)spec->env;
    j->cwd = spec->cwd;
    j->timeout_ms = spec->timeout_ms;
    j->nblobs = (uint32_t)spec->nblobs;
    j->blobs = spec->nblobs ? spec->blobs : NULL;
    j->flags = spec->stdin_blob ? MSG_JOB_STDIN_BLOB : 0;
    j->name = spec->name;
    j->priority = spec->priority;
    j->max_attempts = spec->retries + 1;
    uint64_t n;
    if (msg_job_tasks(j, &n, NULL, NULL, error) < 0)
        return -1;

    client__call_t call = {.timeout_ms = client__timeout_ms(c),
                           .what = "submit"};
    msg_t *r = client__request(c, &m, &call, error);
    if (!r)
        return -1;
    if (r->type != MSG_SUBMITTED)
        return unexpected(r, "submit", error);
    *job = r->u.submitted.job;
    if (ntasks)
        *ntasks = r->u.submitted.ntasks;
    msg_free(r);
    return 0;
}

/* ---------------------------------------------------------- wait, cancel */

int banyan_client_wait(banyan_client_t *c, uint32_t job, int64_t timeout_ms,
                       banyan_job_state_t *out, banyan_error_t *error)
{
    if (!c) {
        errno = EINVAL;
        return errprintf(error, "banyan_client_wait: no client");
    }
    msg_t m = {.type = MSG_WAIT};
    m.u.wait.job = job;
    client__call_t call = {.timeout_ms = timeout_ms < 0 ? -1 : timeout_ms,
                           .resend_ms = WAIT_RESEND_MS,
                           .what = "wait"};
    msg_t *r = client__request(c, &m, &call, error);
    if (!r) {
        if (errno == ETIMEDOUT)
            errprintf(error, "job %u has not ended after %lld.%01llds", job,
                      (long long)(timeout_ms / 1000),
                      (long long)(timeout_ms % 1000 / 100));
        return -1;
    }
    if (r->type != MSG_JOBSTATE)
        return unexpected(r, "wait", error);
    if (out)
        copy_state(&r->u.jobstate, out);
    msg_free(r);
    return 0;
}

int banyan_client_cancel(banyan_client_t *c, uint32_t job,
                         banyan_job_state_t *out, banyan_error_t *error)
{
    if (!c) {
        errno = EINVAL;
        return errprintf(error, "banyan_client_cancel: no client");
    }
    msg_t m = {.type = MSG_CANCEL};
    m.u.cancel.job = job;
    client__call_t call = {.timeout_ms = client__timeout_ms(c),
                           .what = "cancel"};
    msg_t *r = client__request(c, &m, &call, error);
    if (!r)
        return -1;
    if (r->type != MSG_JOBSTATE && r->type != MSG_ANSWER)
        return unexpected(r, "cancel", error);
    if (out) {
        if (r->type == MSG_JOBSTATE) {
            copy_state(&r->u.jobstate, out);
        } else {
            memset(out, 0, sizeof(*out));
            out->job = job;
        }
    }
    msg_free(r);
    return 0;
}

/* --------------------------------------------------------------- query */

int banyan_client_query(banyan_client_t *c, const char *what,
                        const char *args_json, char **answer_json,
                        banyan_error_t *error)
{
    if (!c || !what || !*what || !answer_json) {
        errno = EINVAL;
        return errprintf(error, "banyan_client_query: missing argument");
    }
    if (!args_json)
        args_json = "{}";
    json_error_t jerr;
    json_t *args = json_loads(args_json, 0, &jerr);
    bool is_object = args && json_is_object(args);
    json_decref(args);
    if (!is_object) {
        errno = EINVAL;
        if (!args)
            return errprintf(error, "query arguments are not JSON: %s",
                             jerr.text);
        return errprintf(error, "query arguments must be a JSON object");
    }
    msg_t m = {.type = MSG_QUERY};
    m.u.query.what = what;
    m.u.query.args_json = args_json;
    client__call_t call = {.timeout_ms = client__timeout_ms(c),
                           .what = what};
    return client__answer(client__request(c, &m, &call, error), what,
                          answer_json, error);
}

int client__answer(msg_t *r, const char *what, char **json,
                   banyan_error_t *error)
{
    if (!r)
        return -1;
    if (r->type != MSG_ANSWER)
        return unexpected(r, what, error);
    char *text = strdup(r->u.answer.json ? r->u.answer.json : "null");
    msg_free(r);
    if (!text) {
        errno = ENOMEM;
        return errprintf(error, "out of memory");
    }
    *json = text;
    return 0;
}
