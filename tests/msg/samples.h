/* SPDX-License-Identifier: MIT */
/* samples.h - one valid, fully populated message of every type, for the
 * hostile-input test and the fuzz target to mutate.
 *
 * samples_encode() appends the encodings to bufs[0..] and returns how many
 * it wrote (SAMPLES_MAX at most), or -1 when an encoding failed.
 */
#ifndef BANYAN_TEST_MSG_SAMPLES_H
#define BANYAN_TEST_MSG_SAMPLES_H

#include <errno.h>
#include <string.h>

#include "msg/msg.h"

enum { SAMPLES_MAX = 48 };

static int samples_encode(util_buf_t bufs[SAMPLES_MAX])
{
    static const char *words[] = {"sh", "-c", "echo {1} {2}", ""};
    static const char *s0[] = {"a", "bb", "ccc"};
    static const char *s1[] = {"1", "2"};
    static const banyan_source_t sources[] = {{s0, 3, false},
                                              {s1, 2, true}};
    static const char *env[] = {"A=1", "B=2"};
    static msg_gpu_t gpus[2] = {{0, "GPU-1", "H100", 80ull << 30},
                                {1, NULL, NULL, 0}};
    static res_custom_t custom[2] = {{"license", 2}, {"disk", 1}};
    static msg_task_ref_t refs[3] = {{1, 0, 1}, {1, 70000, 2},
                                     {4000000000u, 1ull << 40, 3}};
    static msg_assign_entry_t ae[3] = {{{1, 0, 1}, 1, 0, 0},
                                       {{1, 1, 1}, 2, 3, 500},
                                       {{2, 300, 2}, 300, 1ull << 63, 1000}};
    static const char tail[] = "line\0two\n";
    static msg_result_entry_t re[2] = {
        {.task = {1, 0, 1},
         .end = {.state = BANYAN_TASK_OK, .start_time = 1.5,
                 .end_time = 2.5, .cpu_user = 0.1, .cpu_sys = 0.2,
                 .peak_rss_bytes = 1 << 20},
         .out_tail_len = sizeof tail, .out_tail = tail},
        {.task = {1, 1, 1},
         .end = {.state = BANYAN_TASK_TIMEOUT, .flags = BANYAN_END_TIMED_OUT,
                 .exit_code = -1, .term_signal = 9, .start_time = 3,
                 .end_time = 4, .reason = "timed out after 1.000 s"},
         .err_tail_len = 3, .err_tail = "err"},
    };
    static const uint8_t hashes[2][MSG_HASH_LEN] = {
        {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
         17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32},
        {0xff, 0, 0xc0, 0xc4, 0x20, 0xdd},
    };
    static msg_node_stats_t stats[2] = {{1, 0, 1, 10, 20, 300, 400},
                                        {2, 1, 0, 5, 6, 70, 80}};
    static msg_custom_count_t customs[2] = {{"license", 4, 1},
                                            {"fpga.x", 1, 0}};
    static msg_node_event_entry_t events[3] = {
        {.node = 2, .parent = 1, .event = MSG_NODE_ATTACHED},
        {.node = 3, .parent = 1, .event = MSG_NODE_LOST},
        {.node = 4, .parent = 0, .event = MSG_NODE_LEFT}};
    static const char *bwords[] = {"sh", "-c", "nproc"};
    static msg_breply_entry_t bre[2] = {{1, 0, 3, "8\n\0"},
                                        {2, -1, 0, NULL}};
    static const char chunk[40] = "a chunk of a blob\0with a NUL inside";
    msg_job_t job = {
        .id = 3, .nwords = 4, .words = words, .nsources = 2,
        .sources = sources, .array_first = 0, .array_count = 0, .nenv = 2, .env = env,
        .cwd = "/tmp", .timeout_ms = 60000, .flags = MSG_JOB_STDIN_BLOB,
        .nblobs = 2, .blobs = hashes,
        .req = {.slots = 1, .cpus_milli = 2000, .mem_bytes = 1ull << 30,
                .gpus_milli = 1000, .gpu_mem_bytes = 16ull << 30,
                .ncustom = 2, .custom = {{"license", 1}, {"disk", 3}}},
        .priority = 7,
    };
    msg_t m[SAMPLES_MAX];
    int n = 0;
    memset(m, 0, sizeof m);
    m[n].type = MSG_HELLO;
    m[n++].u.hello = (msg_hello_t){"h:1:2", "w1", "h", 8, 8000, 1ull << 34,
                                   2, gpus, 2, custom, 1000.5, false, 3,
                                   refs, 17, "tcp://h:7001", 5};
    m[n].type = MSG_WELCOME;
    m[n++].u.welcome = (msg_welcome_t){1, 99, 1000};
    m[n].type = MSG_JOB;
    m[n++].u.job = job;
    m[n].type = MSG_ASSIGN;
    m[n++].u.assign = (msg_assign_t){3, ae};
    m[n].type = MSG_RESULT;
    m[n++].u.result = (msg_result_t){5, 2, re};
    m[n].type = MSG_ACK;
    m[n++].u.ack.seq = 5;
    m[n].type = MSG_KILL;
    m[n++].u.kill = (msg_kill_t){1, 3, refs};
    m[n].type = MSG_PING;
    m[n++].u.ping = (msg_ping_t){1, 0.5};
    m[n].type = MSG_PONG;
    m[n++].u.ping = (msg_ping_t){1, 0.5};
    m[n++].type = MSG_BYE;
    m[n].type = MSG_REDIRECT;
    m[n++].u.redirect = (msg_redirect_t){5, 2, "tcp://10.0.0.2:7001"};
    m[n].type = MSG_SUMMARY;
    m[n++].u.summary = (msg_summary_t){2, 16, 16000, 1ull << 35, 1, 100,
                                       3, 2, stats, 2, customs};
    m[n].type = MSG_NODES;
    m[n++].u.nodes = (msg_nodes_t){3, events};
    m[n].type = MSG_STEAL;
    m[n++].u.steal.want = 8;
    m[n].type = MSG_RECALL;
    m[n++].u.recall.n = 100;
    m[n].type = MSG_RETURN;
    m[n++].u.tasks = (msg_tasks_t){.done = true, .n = 3, .tasks = refs};
    m[n++].type = MSG_DENY;
    m[n].type = MSG_REJECT;
    m[n++].u.tasks = (msg_tasks_t){.reason = "no engine has 4 GPUs",
                                   .n = 2, .tasks = refs};
    m[n].type = MSG_ORPHAN;
    m[n++].u.tasks = (msg_tasks_t){.node = 3, .n = 3, .tasks = refs};
    m[n].type = MSG_BCAST;
    m[n++].u.bcast = (msg_bcast_t){9, 3, bwords, hashes[0], 5000, true};
    m[n].type = MSG_BREPLY;
    m[n++].u.breply = (msg_breply_t){9, 1, 1, 0, 2, bre};
    m[n].type = MSG_BLOB_GET;
    m[n++].u.blob_get = (msg_blob_get_t){hashes[1], 1 << 20, 4096};
    m[n].type = MSG_BLOB_DATA;
    m[n++].u.blob_data = (msg_blob_data_t){0, hashes[1], 1 << 20,
                                           (1 << 20) + 100, sizeof chunk,
                                           chunk};
    m[n].type = MSG_BLOB_NONE;
    m[n++].u.blob_none.hash = hashes[0];
    m[n].type = MSG_SUBMIT;
    m[n].u.submit.request = 1;
    m[n].u.submit.job = job;
    m[n].u.submit.job.name = "x";
    m[n].u.submit.job.priority = -1;
    m[n].u.submit.job.req = (res_request_t){.slots = 1, .cpus_milli = 500,
                                            .gpus_milli = 250, .ncustom = 1,
                                            .custom = {{"license", 1}}};
    m[n++].u.submit.job.max_attempts = 3;
    m[n].type = MSG_SUBMITTED;
    m[n++].u.submitted = (msg_submitted_t){1, 3, 1000};
    m[n].type = MSG_WAIT;
    m[n++].u.wait = (msg_wait_t){2, 3};
    m[n].type = MSG_JOBSTATE;
    m[n++].u.jobstate = (msg_jobstate_t){2, 3, "done", 10, 0, 0, 9, 1};
    m[n].type = MSG_QUERY;
    m[n++].u.query = (msg_query_t){3, "status", "{\"job\":3}"};
    m[n].type = MSG_ANSWER;
    m[n++].u.answer = (msg_answer_t){3, "{}"};
    m[n].type = MSG_CANCEL;
    m[n++].u.cancel = (msg_cancel_t){4, 3};
    m[n].type = MSG_ERROR;
    m[n++].u.error = (msg_error_t){4, ENOENT, "no such job"};
    m[n].type = MSG_BROADCAST;
    m[n++].u.broadcast = (msg_broadcast_t){5, 3, bwords, NULL, 1000, false};
    m[n].type = MSG_BLOB_PUT;
    m[n++].u.blob_data = (msg_blob_data_t){6, hashes[0], 0, sizeof chunk,
                                           sizeof chunk, chunk};
    for (int i = 0; i < n; i++) {
        util_buf_t init = UTIL_BUF_INIT;
        bufs[i] = init;
        if (msg_encode(&m[i], &bufs[i]) < 0)
            return -1;
    }
    return n;
}

#endif /* BANYAN_TEST_MSG_SAMPLES_H */
