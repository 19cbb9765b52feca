/* SPDX-License-Identifier: MIT */
/* cmd_status.c - banyan status: the server, its engines and its jobs, or
 * (--tree) the scheduler tree with each node's message counters.
 *
 * Tables are printed from the "status" answer (docs/cluster.md); a field
 * the server leaves out prints as "-", so an older or newer server still
 * gives a readable table.  The tree is the answer's "tree" member:
 * {"fanout": k, "depth": d, "nodes": [{"node", "parent", "host",
 * "children", "sent", "received", "bytes_out", "bytes_in"}]}, node 0 being
 * the root.  It is printed depth first from the root, children in node
 * order; a node whose parent is not in the list is printed as a root of
 * its own, and a node is printed once even if the parents form a cycle.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_client.h"

static const char usage_text[] =
    "Usage: banyan status [OPTION]...\n"
    "Show the server, its workers (engines) and its jobs.\n"
    "\n"
    "Options:\n"
    "      --tree            show the scheduler tree instead: every node, "
    "its\n"
    "                        parent, and the messages and bytes it sent and\n"
    "                        received\n" CLI_CLIENT_HELP
    "Exit: 0 shown, 1 the server does not report a tree (--tree), 2 bad\n"
    "usage, 3 connection error.\n";

enum { OPT_TREE = 256 };

static const struct option long_opts[] = {
    {"tree", no_argument, NULL, OPT_TREE},
    CLI_CLIENT_LONG_OPTIONS,
    {NULL, 0, NULL, 0},
};

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

/* ------------------------------------------------------------------ tree */

/* The nodes of the tree, in node order, and whether each was printed. */
struct tree {
    json_t **nodes;
    bool *printed;
    size_t n;
};

static bool has_node(const struct tree *t, long long id)
{
    for (size_t i = 0; i < t->n; i++)
        if (cli_json_int(t->nodes[i], "node", -1) == id)
            return true;
    return false;
}

static void print_node(const json_t *nd, int depth)
{
    char out[16] = "-", in[16] = "-";
    long long bo = cli_json_int(nd, "bytes_out", -1),
              bi = cli_json_int(nd, "bytes_in", -1);
    if (bo >= 0)
        util_format_size((uint64_t)bo, out, sizeof(out));
    if (bi >= 0)
        util_format_size((uint64_t)bi, in, sizeof(in));
    long long id = cli_json_int(nd, "node", -1);
    const char *host = cli_json_str(nd, "host", "");
    printf("%*snode %lld%s%s%s: %lld children, messages sent %lld, "
           "received %lld; bytes out %s, in %s\n", 2 * depth, "", id,
           id == 0 ? " (root)" : "", *host ? " on " : "", host,
           cli_json_int(nd, "children", 0), cli_json_int(nd, "sent", 0),
           cli_json_int(nd, "received", 0), out, in);
}

/* Print node i and, below it, its children (depth first). */
static void print_subtree(struct tree *t, size_t i, int depth)
{
    t->printed[i] = true;
    print_node(t->nodes[i], depth);
    long long id = cli_json_int(t->nodes[i], "node", -1);
    for (size_t k = 0; k < t->n; k++)
        if (!t->printed[k] && k != i
            && cli_json_int(t->nodes[k], "parent", -1) == id)
            print_subtree(t, k, depth + 1);
}

static void print_tree(const json_t *tree)
{
    json_t *nodes = json_object_get(tree, "nodes");
    struct tree t = {.n = json_array_size(nodes)};
    printf("tree: fanout %lld, depth %lld, %zu nodes\n",
           cli_json_int(tree, "fanout", 0), cli_json_int(tree, "depth", 0),
           t.n);
    t.nodes = cli_json_by_node(nodes);
    t.printed = calloc(t.n ? t.n : 1, sizeof(*t.printed));
    if (t.nodes && t.printed) {
        /* Roots first: node 0, then nodes whose parent is not listed. */
        for (size_t i = 0; i < t.n; i++) {
            long long id = cli_json_int(t.nodes[i], "node", -1);
            long long parent = cli_json_int(t.nodes[i], "parent", -1);
            if (!t.printed[i]
                && (id == 0 || parent == id || !has_node(&t, parent)))
                print_subtree(&t, i, 0);
        }
        for (size_t i = 0; i < t.n; i++) /* what a cycle kept unreached */
            if (!t.printed[i])
                print_subtree(&t, i, 0);
    }
    free(t.nodes);
    free(t.printed);
}

/* Show the "tree" member of the status answer a.  The exit code. */
static int show_tree(const json_t *a, bool json)
{
    json_t *tree = json_object_get(a, "tree");
    if (!json_is_object(tree))
        return cli_fail("status", BANYAN_EXIT_FAILED,
                        "the server does not report a tree");
    if (json)
        cli_print_json(tree, JSON_COMPACT);
    else
        print_tree(tree);
    return BANYAN_EXIT_OK;
}

/* ------------------------------------------------------------- command */

/* --tree, status's one option of its own. */
static int set_tree(int c, const char *arg, void *tree)
{
    (void)c;
    (void)arg;
    *(bool *)tree = true;
    return 0;
}

int cmd_status(int argc, char **argv)
{
    cli_client_opts_t co = {0};
    bool tree = false;
    int code = cli_client_getopt("status", argc, argv, &co, usage_text,
                                 long_opts, NULL, set_tree, &tree);
    if (code >= 0)
        return code;
    if (optind != argc)
        return cli_usage_error("status", "unexpected argument '%s'",
                               argv[optind]);
    banyan_client_t *c = cli_client_connect("status", &co, &code);
    if (!c)
        return code;
    json_t *a = cli_client_query("status", c, "status", NULL, &code);
    if (a && tree) {
        code = show_tree(a, co.json);
        json_decref(a);
    } else if (a) {
        if (co.json) {
            cli_print_json(a, JSON_COMPACT);
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
