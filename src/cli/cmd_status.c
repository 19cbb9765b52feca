/* SPDX-License-Identifier: MIT */
/* cmd_status.c - banyan status: the server, its engines and its jobs.
 *
 * Tables are printed from the "status" answer (docs/cluster.md); a field
 * the server leaves out prints as "-", so an older or newer server still
 * gives a readable table.
 */
#include <stdio.h>
#include <string.h>

#include "cli_client.h"

static const char usage_text[] =
    "Usage: banyan status [OPTION]...\n"
    "Show the server, its workers (engines) and its jobs.\n"
    "\n"
    "Options:\n" CLI_CLIENT_HELP
    "Exit: 0 shown, 3 connection error.\n";

static void print_server(const json_t *s)
{
    long long up = cli_json_int(s, "uptime_s", -1);
    printf("server: %lld engines, %lld jobs, %lld tasks running",
           cli_json_int(s, "engines", 0), cli_json_int(s, "jobs", 0),
           cli_json_int(s, "tasks_running", 0));
    if (up >= 0)
        printf(", up %lldh%02lldm%02llds", up / 3600, up / 60 % 60, up % 60);
    const char *db = cli_json_str(s, "db", NULL);
    if (db)
        printf(", db %s", db);
    long long bad = cli_json_int(s, "malformed", 0),
              refused = cli_json_int(s, "refused", 0);
    if (bad || refused)
        printf(", %lld malformed messages, %lld peers refused", bad,
               refused);
    putchar('\n');
}

/* A member as text into buf ("-" when absent). */
static const char *field(const json_t *o, const char *key, char *buf,
                         size_t size)
{
    json_t *v = json_object_get(o, key);
    if (json_is_string(v))
        snprintf(buf, size, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(buf, size, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, size, "%.3g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(buf, size, "%s", json_is_true(v) ? "yes" : "no");
    else if (json_is_array(v))
        snprintf(buf, size, "%zu", json_array_size(v));
    else
        snprintf(buf, size, "-");
    return buf;
}

static void print_engines(const json_t *engines)
{
    size_t i;
    json_t *e;
    if (!json_array_size(engines)) {
        printf("\nno engines\n");
        return;
    }
    printf("\n%5s  %-16s %-16s %5s %7s %6s %7s %4s %7s %5s\n", "ID", "NAME",
           "HOST", "SLOTS", "RUNNING", "CPUS", "MEM", "GPUS", "DONE",
           "SEEN");
    json_array_foreach(engines, i, e) {
        char b[10][64], mem[16] = "-", cpus[16] = "-";
        long long m = cli_json_int(e, "mem_bytes", -1);
        if (m >= 0)
            util_format_size((uint64_t)m, mem, sizeof(mem));
        long long cm = cli_json_int(e, "cpus_milli", -1);
        if (cm >= 0)
            snprintf(cpus, sizeof(cpus), "%g", (double)cm / 1000);
        printf("%5s  %-16.16s %-16.16s %5s %7s %6s %7s %4s %7s %4ss%s\n",
               field(e, "id", b[0], 64), field(e, "name", b[1], 64),
               field(e, "host", b[2], 64), field(e, "slots", b[3], 64),
               field(e, "running", b[4], 64), cpus, mem,
               field(e, "gpus", b[5], 64), field(e, "tasks_done", b[6], 64),
               field(e, "last_seen_s", b[7], 64),
               json_is_true(json_object_get(e, "noop")) ? "  (noop)" : "");
    }
}

static void print_jobs(const json_t *jobs)
{
    size_t i;
    json_t *j;
    if (!json_array_size(jobs)) {
        printf("\nno jobs\n");
        return;
    }
    printf("\n%5s  %-20s %-10s %5s %9s %9s %9s %9s %9s\n", "JOB", "NAME",
           "STATE", "PRIO", "TASKS", "PENDING", "RUNNING", "OK", "FAILED");
    json_array_foreach(jobs, i, j) {
        char b[9][64];
        printf("%5s  %-20.20s %-10s %5s %9s %9s %9s %9s %9s\n",
               field(j, "id", b[0], 64), field(j, "name", b[1], 64),
               field(j, "state", b[2], 64), field(j, "priority", b[3], 64),
               field(j, "ntasks", b[4], 64), field(j, "pending", b[5], 64),
               field(j, "running", b[6], 64), field(j, "ok", b[7], 64),
               field(j, "failed", b[8], 64));
    }
}

int cmd_status(int argc, char **argv)
{
    cli_client_opts_t co = {0};
    int code = cli_client_getopt("status", argc, argv, &co, usage_text);
    if (code >= 0)
        return code;
    if (optind != argc)
        return cli_usage_error("status", "unexpected argument '%s'",
                               argv[optind]);
    banyan_client_t *c = cli_client_connect("status", &co, &code);
    if (!c)
        return code;
    json_t *a = cli_client_query("status", c, "status", NULL, &code);
    if (a) {
        if (co.json) {
            cli_print_json(a);
        } else {
            print_server(json_object_get(a, "server"));
            print_engines(json_object_get(a, "engines"));
            print_jobs(json_object_get(a, "jobs"));
        }
        json_decref(a);
        code = BANYAN_EXIT_OK;
    }
    banyan_client_close(c);
    return code;
}
