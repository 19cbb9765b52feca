/* SPDX-License-Identifier: MIT */
/* test_job.c - a job's definition: its JSON record (what the server
 * stores) survives a round trip, a record written by an older server still
 * reads, a malformed one is refused, and the one task count.
 */
#include <errno.h>
#include <string.h>

#include "msg/msg.h"
#include "tap.h"

static const char *words[] = {"echo", "{1}", "{2}"};
static const char *s0[] = {"a", "b", "c"};
static const char *s1[] = {"x", "y"};
static const banyan_source_t sources[] = {{s0, 3, false}, {s1, 2, false}};
static const char *env[] = {"A=1"};
static const uint8_t blobs[1][MSG_HASH_LEN] = {{1, 2, 3, 0xff}};

static void test_round_trip(void)
{
    msg_job_t in = {
        .id = 5, .nwords = 3, .words = words, .nsources = 2,
        .sources = sources, .nenv = 1, .env = env, .cwd = "/tmp",
        .timeout_ms = 1500, .flags = MSG_JOB_STDIN_BLOB, .nblobs = 1,
        .blobs = blobs,
        .req = {.slots = 2, .cpus_milli = 500, .mem_bytes = 1 << 20,
                .ncustom = 1, .custom = {{"license", 1}}},
        .priority = -3, .name = "sweep", .max_attempts = 4,
    };
    json_t *spec = msg_job_to_json(&in);
    ok(spec != NULL, "a definition becomes a JSON object");
    msg_job_t out = {.id = 9};
    banyan_error_t err = {{0}};
    ok(msg_job_from_json(&out, spec, &err) == 0, "and reads back: %s",
       err.text);
    ok(out.id == 9 && out.nwords == 3 && !strcmp(out.words[2], "{2}")
           && out.nsources == 2 && out.sources[1].nvalues == 2
           && !strcmp(out.sources[1].values[1], "y")
           && out.nenv == 1 && !strcmp(out.env[0], "A=1")
           && !strcmp(out.cwd, "/tmp") && out.timeout_ms == 1500
           && out.flags == MSG_JOB_STDIN_BLOB && out.nblobs == 1
           && !memcmp(out.blobs[0], blobs[0], MSG_HASH_LEN)
           && out.req.slots == 2 && out.req.ncustom == 1
           && !strcmp(out.req.custom[0].name, "license")
           && out.priority == -3 && !strcmp(out.name, "sweep")
           && out.max_attempts == 4,
       "every field survives (the id is the caller's)");
    uint64_t n = 0;
    ok(msg_job_tasks(&out, &n, NULL, NULL, &err) == 0 && n == 6,
       "two sources of 3 and 2 values make 6 tasks");
    sched_job_t sj;
    msg_job_sched(&out, &sj);
    ok(sj.id == 9 && sj.priority == -3 && sj.max_attempts == 4
           && sj.req.slots == 2, "the core's view of it");
    msg_job_fini(&out);
    json_decref(spec);
}

static void test_old_record(void)
{
    /* As a server before blobs, flags and requests stored it. */
    json_t *spec = json_loads("{\"words\": [\"sim\", \"{}\"], "
                              "\"array_first\": 10, \"array_count\": 7}",
                              0, NULL);
    msg_job_t d = {.id = 1};
    banyan_error_t err = {{0}};
    ok(msg_job_from_json(&d, spec, &err) == 0, "an older record reads: %s",
       err.text);
    uint64_t n = 0;
    ok(d.nblobs == 0 && d.blobs == NULL && d.flags == 0 && d.req.slots == 1
           && msg_job_tasks(&d, &n, NULL, NULL, &err) == 0 && n == 7,
       "absent fields read as none: an array of 7 tasks, one slot each");
    sched_job_t sj;
    msg_job_sched(&d, &sj);
    ok(sj.max_attempts == 1, "no attempts stored is one attempt");
    msg_job_fini(&d);
    json_decref(spec);
}

static void test_bad_records(void)
{
    const char *bad[] = {
        "[1, 2]",
        "{\"words\": []}",
        "{\"words\": [\"x\"], \"flags\": 2}",
        "{\"words\": [\"x\"], \"flags\": 1}",
        "{\"words\": [\"x\"], \"blobs\": [\"nothex\"]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *spec = json_loads(bad[i], 0, NULL);
        msg_job_t d = {.id = 2};
        banyan_error_t err = {{0}};
        errno = 0;
        ok(msg_job_from_json(&d, spec, &err) < 0 && errno == EINVAL
               && strstr(err.text, "job 2") && d.words == NULL,
           "refused, nothing kept: %s", bad[i]);
        json_decref(spec);
    }
}

static void test_tasks(void)
{
    banyan_error_t err = {{0}};
    uint64_t n = 0;
    const char *one[] = {"true"};
    msg_job_t d = {.nwords = 1, .words = one};
    ok(msg_job_tasks(&d, &n, NULL, NULL, &err) == 0 && n == 1,
       "a job without inputs runs once");
    d.nsources = 1;
    d.sources = sources;
    d.array_count = 3;
    errno = 0;
    ok(msg_job_tasks(&d, &n, NULL, NULL, &err) < 0 && errno == EINVAL
           && strstr(err.text, "not both"),
       "sources and an array together are refused");
    d.nsources = 0;
    d.array_first = UINT64_MAX - 1;
    ok(msg_job_tasks(&d, &n, NULL, NULL, &err) < 0
           && strstr(err.text, "overflows"), "an overflowing range too");
    d.array_first = 0;
    d.words = words; /* {2} */
    d.nwords = 3;
    ok(msg_job_tasks(&d, &n, NULL, NULL, &err) < 0 && errno == EINVAL,
       "{2} with an array's one value is refused: %s", err.text);
    const banyan_source_t linked[] = {{s0, 3, false}, {s1, 2, true}};
    d.array_count = 0;
    d.nsources = 2;
    d.sources = linked;
    tmpl_t *t = NULL;
    tmpl_inputs_t *in = NULL;
    ok(msg_job_tasks(&d, &n, &t, &in, &err) == 0 && n == 2 && t && in
           && tmpl_inputs_arity(in) == 2,
       "linked sources pair up to the shorter: 2 tasks, the template and "
       "inputs kept");
    tmpl_destroy(t);
    tmpl_inputs_destroy(in);
}

int main(void)
{
    plan(NO_PLAN);
    test_round_trip();
    test_old_record();
    test_bad_records();
    test_tasks();
    return done_testing();
}
