/* SPDX-License-Identifier: MIT */
/* test_metrics.c - metrics from the BANYAN_METRICS file or from stdout:
 * precedence, the last JSON line, malformed files, missing and non-numeric
 * metrics. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sweep/sweep.h"
#include "tap.h"

static void write_file(const char *name, const char *text)
{
    FILE *f = fopen(name, "w");
    if (!f)
        bail_out("cannot create %s: %s", name, strerror(errno));
    fputs(text, f);
    fclose(f);
}

static int rd(const char *path, const char *out, const char *metric,
              char **json, double *v, banyan_error_t *err)
{
    *json = NULL;
    *v = -1;
    memset(err, 0, sizeof(*err));
    return sweep_metrics_read(path, out, metric, json, v, err);
}

static void test_file(void)
{
    char *json;
    double v;
    banyan_error_t err;
    write_file("m1.json", "{\n  \"latency\": 12.5,\n  \"tput\": 3\n}\n");
    ok(rd("m1.json", "", "latency", &json, &v, &err) == 0 && v == 12.5,
       "metric read from the file");
    is_str(json, "{\"latency\":12.5,\"tput\":3}",
           "the object comes back as compact JSON");
    free(json);
    ok(rd("m1.json", NULL, "tput", &json, &v, &err) == 0 && v == 3,
       "an integer metric is a number");
    free(json);

    ok(rd("m1.json", "{\"latency\": 99}\n", "latency", &json, &v, &err) ==
               0 && v == 12.5,
       "the file wins over a JSON line on stdout");
    free(json);

    write_file("m2.json", "{\"latency\": 12.5,");
    ok(rd("m2.json", "{\"latency\": 99}\n", "latency", &json, &v, &err) ==
               -1 && strstr(err.text, "malformed metrics file") &&
           strstr(err.text, "m2.json") && json == NULL && v == -1,
       "a malformed file is an error even when stdout has JSON");
    write_file("m3.json", "[1, 2]");
    ok(rd("m3.json", "", "latency", &json, &v, &err) == -1 &&
           strstr(err.text, "malformed metrics file") &&
           strstr(err.text, "not hold a JSON object"),
       "a file with a JSON array is malformed");
    write_file("m4.json", "");
    ok(rd("m4.json", "{\"latency\": 1}", "latency", &json, &v, &err) == -1 &&
           strstr(err.text, "malformed metrics file"),
       "an empty file is malformed");
    mkdir("m5.json", 0700);
    ok(rd("m5.json", "", "latency", &json, &v, &err) == -1 &&
           strstr(err.text, "malformed metrics file"),
       "a directory at the metrics path is malformed");
}

static void test_stdout(void)
{
    char *json;
    double v;
    banyan_error_t err;
    ok(rd("absent.json", "epoch 1\n{\"loss\": 3}\nepoch 2\n{\"loss\": 2}\n"
                         "done\n",
          "loss", &json, &v, &err) == 0 && v == 2,
       "the last JSON object line wins; text after it is ignored");
    is_str(json, "{\"loss\":2}", "json of the winning line");
    free(json);
    ok(rd(NULL, "{\"loss\": 1}\n  {\"loss\": 0.5, \"eval\": {\"acc\": 0.9}}  "
                "\r\n[1, 2]\n{not json}\n{\"loss\": \n",
          "loss", &json, &v, &err) == 0 && v == 0.5,
       "arrays, broken lines and partial objects are skipped; spaces and CR "
       "are trimmed; nested objects are allowed");
    free(json);
    ok(rd(NULL, "{\"eval\": {\"acc\": 0.9}}", "eval.acc", &json, &v, &err) ==
               0 && v == 0.9,
       "a dotted name reaches into nested objects; no final newline needed");
    free(json);
    ok(rd(NULL, "{\"a\": 1}", NULL, &json, &v, &err) == 0 && v == -1 &&
           json && strcmp(json, "{\"a\":1}") == 0,
       "without a metric name only the object is returned");
    free(json);

    errno = 0;
    ok(rd("absent.json", "hello\nworld\n", "loss", &json, &v, &err) == -1 &&
           strcmp(err.text, "no metrics: BANYAN_METRICS file absent and no "
                            "JSON object line on stdout") == 0 &&
           json == NULL,
       "no file and no JSON line: no metrics");
    ok(rd(NULL, NULL, "loss", &json, &v, &err) == -1 &&
           strstr(err.text, "no metrics"),
       "no file and no stdout: no metrics");
    ok(rd(NULL, "[{\"loss\": 1}]\n", "loss", &json, &v, &err) == -1 &&
           strstr(err.text, "no metrics"),
       "a JSON array line is not metrics");
}

static void test_metric_checks(void)
{
    char *json;
    double v;
    banyan_error_t err;
    ok(rd(NULL, "{\"acc\": 0.9}\n", "loss", &json, &v, &err) == -1 &&
           strcmp(err.text, "metric 'loss' missing") == 0 && v == -1,
       "a missing metric is an error");
    is_str(json, "{\"acc\":0.9}", "the object is still returned");
    free(json);
    ok(rd(NULL, "{\"loss\": \"0.5\"}\n", "loss", &json, &v, &err) == -1 &&
           strcmp(err.text, "metric 'loss' is not a number") == 0,
       "a string metric is not a number");
    free(json);
    ok(rd(NULL, "{\"loss\": true}\n", "loss", &json, &v, &err) == -1 &&
           strcmp(err.text, "metric 'loss' is not a number") == 0,
       "a boolean metric is not a number");
    free(json);
    ok(rd(NULL, "{\"loss\": null}\n", "loss", &json, &v, &err) == -1 &&
           strstr(err.text, "is not a number"),
       "a null metric is not a number");
    free(json);
    ok(rd(NULL, "{\"loss\": {\"v\": 1}}\n", "loss", &json, &v, &err) == -1 &&
           strstr(err.text, "is not a number"),
       "an object metric is not a number");
    free(json);
    ok(rd(NULL, "{\"loss\": -3}\n", "loss", &json, &v, &err) == 0 && v == -3,
       "a negative integer metric");
    free(json);
    ok(sweep_metrics_read(NULL, "{\"loss\": 1.5}", "loss", NULL, &v, NULL) ==
               0 && v == 1.5,
       "json_out and error may be NULL");
}

int main(void)
{
    plan(NO_PLAN);
    test_file();
    test_stdout();
    test_metric_checks();
    return done_testing();
}
