/* SPDX-License-Identifier: MIT */
/* test_est.c - learnt memory estimates: statistics against a two-pass
 * reference, the admission figure with and without history, the bump rule,
 * listing, and the JSON round trip with hostile input. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "est/est.h"
#include "tap.h"
#include "util/util.h"

#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)

/* Two-pass reference: mean, then the sum of squared deviations. */
static void two_pass(const uint64_t *x, size_t n, double *mean, double *var)
{
    long double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (long double)x[i];
    long double m = sum / (long double)n;
    long double ss = 0;
    for (size_t i = 0; i < n; i++) {
        long double d = (long double)x[i] - m;
        ss += d * d;
    }
    *mean = (double)m;
    *var = n > 1 ? (double)(ss / (long double)(n - 1)) : 0;
}

static bool close_rel(double got, double want, double rel)
{
    if (want == 0)
        return fabs(got) <= rel;
    return fabs(got - want) <= rel * fabs(want);
}

static void test_known_sequence(void)
{
    est_table_t *t = est_table_create();
    uint64_t x[10];
    for (int i = 0; i < 10; i++) {
        x[i] = (uint64_t)(i + 1) * 37 * MIB + (uint64_t)(i * i) * 1000;
        ok(est_table_add(t, "sim", x[i]) == 0, "sample %d is added", i + 1);
    }
    est_stats_t st;
    ok(est_table_get(t, "sim", &st) == 0, "the group exists after samples");
    double mean, var;
    two_pass(x, 10, &mean, &var);
    is_int(st.count, 10, "count is the number of samples");
    ok(close_rel(st.mean_bytes, mean, 1e-12),
       "mean agrees with a two-pass mean (%.3f vs %.3f)", st.mean_bytes,
       mean);
    ok(close_rel(est_stats_variance(&st), var, 1e-10),
       "variance agrees with a two-pass sample variance (%.6g vs %.6g)",
       est_stats_variance(&st), var);
    ok(close_rel(est_stats_stddev(&st), sqrt(var), 1e-10),
       "stddev is the square root of the sample variance");
    is_int(st.hwm_bytes, x[9], "high-water mark is the largest sample");
    is_int(st.floor_bytes, 0, "no floor without a bump");
    est_table_destroy(t);
}

static void test_stability(void)
{
    /* 1e9 bytes +- 7: the variance is tiny next to x^2 (~1e18), so a
     * sum-of-squares formula would lose it entirely in doubles. */
    enum { N = 5000 };
    static uint64_t x[N];
    uint64_t s = 12345;
    est_stats_t st;
    memset(&st, 0, sizeof(st));
    for (int i = 0; i < N; i++) {
        s = s * 6364136223846793005u + 1442695040888963407u;
        x[i] = 1000000000u + (s >> 33) % 15 - 7;
        est_stats_add(&st, x[i]);
    }
    double mean, var;
    two_pass(x, N, &mean, &var);
    diag("two-pass variance %.6f, Welford %.6f", var,
         est_stats_variance(&st));
    ok(var > 1 && close_rel(est_stats_variance(&st), var, 1e-6),
       "variance of 1e9 +- small noise matches the two-pass figure");
    ok(close_rel(st.mean_bytes, mean, 1e-15), "mean of 1e9 +- noise is exact");

    /* Constant samples: zero variance, estimate is the value itself. */
    est_stats_t c;
    memset(&c, 0, sizeof(c));
    for (int i = 0; i < 1000; i++)
        est_stats_add(&c, 999999937u);
    ok(est_stats_variance(&c) == 0, "constant samples have zero variance");
    is_int(est_stats_estimate(&c, 1), 999999937u,
           "estimate of constant samples is that value");
}

static void test_admission(void)
{
    est_table_t *t = est_table_create();
    is_int(est_table_estimate(t, "new", 2 * GIB), 2 * GIB,
           "a group never seen is admitted against the default");
    errno = 0;
    est_stats_t st;
    ok(est_table_get(t, "new", &st) < 0 && errno == ENOENT,
       "getting an unknown group fails with ENOENT");

    est_table_add(t, "g", 100);
    est_table_add(t, "g", 200);
    is_int(est_table_estimate(t, "g", 4 * GIB), 4 * GIB,
           "two samples are not enough: the default still applies");
    est_table_add(t, "g", 300);
    /* mean 200, sigma 100 -> 400, above the hwm of 300. */
    is_int(est_table_estimate(t, "g", 4 * GIB), 400,
           "with three samples the estimate is mean + 2 sigma (400)");
    is_int(est_table_estimate(t, "g", 1), 400,
           "with history the default does not matter, small or large");

    /* One outlier: mean + 2 sigma stays below the hwm. */
    for (int i = 0; i < 9; i++)
        est_table_add(t, "spiky", 10 * MIB);
    est_table_add(t, "spiky", 1000 * MIB);
    est_table_get(t, "spiky", &st);
    double learnt = st.mean_bytes + 2 * est_stats_stddev(&st);
    ok(learnt < 1000.0 * MIB, "mean + 2 sigma is below the outlier");
    is_int(est_table_estimate(t, "spiky", 1), 1000 * MIB,
           "the high-water mark wins over mean + 2 sigma");
    est_table_destroy(t);
}

static void test_bump(void)
{
    est_table_t *t = est_table_create();
    ok(est_table_bump(t, "oom", 1000) == 0, "bumping a new group works");
    est_stats_t st;
    est_table_get(t, "oom", &st);
    is_int(st.count, 0, "a bump is not a sample");
    is_int(est_table_estimate(t, "oom", 100), 1500,
           "after a bump the estimate is at least 1.5x the killed peak");
    is_int(est_table_estimate(t, "oom", 5000), 5000,
           "a larger default still wins over the floor");
    est_table_bump(t, "oom", 1001);
    is_int(est_table_estimate(t, "oom", 1), 1502,
           "1.5x an odd peak is rounded up (1001 -> 1502)");
    est_table_bump(t, "oom", 10);
    is_int(est_table_estimate(t, "oom", 1), 1502,
           "a smaller bump never lowers the floor");

    est_table_add(t, "h", 100);
    est_table_add(t, "h", 200);
    est_table_add(t, "h", 300);
    is_int(est_table_estimate(t, "h", 1), 400, "history gives 400");
    est_table_bump(t, "h", 300);
    is_int(est_table_estimate(t, "h", 1), 450,
           "a bump at 300 lifts the estimate to 450 over the history");
    est_table_add(t, "h", 250);
    is_int(est_table_estimate(t, "h", 1), 450,
           "the floor survives later samples");
    est_table_get(t, "h", &st);
    is_int(st.count, 4, "samples after a bump still count");
    est_table_bump(t, "h", 100);
    est_table_add(t, "h", 2000);
    ok(est_table_estimate(t, "h", 1) > 2000,
       "history above the floor takes over again");

    errno = 0;
    ok(est_table_bump(t, "h", 0) < 0 && errno == EINVAL,
       "a bump without a measured peak is refused (EINVAL)");
    est_table_destroy(t);
}

static void test_errors_and_listing(void)
{
    est_table_t *t = est_table_create();
    errno = 0;
    ok(est_table_add(t, "g", 0) < 0 && errno == EINVAL,
       "a peak of 0 (not measured) is refused with EINVAL");
    errno = 0;
    ok(est_table_add(t, "g", EST_MAX_BYTES + 1) < 0 && errno == ERANGE,
       "a peak above 1 EiB is refused with ERANGE");
    char longname[EST_GROUP_MAX + 1];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    const char *bad[] = {"", "tab\there", "nl\n", longname};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        errno = 0;
        ok(est_table_add(t, bad[i], 10) < 0 && errno == EINVAL,
           "invalid group name %zu is refused with EINVAL", i);
    }
    ok(!est_group_is_valid(NULL), "NULL is not a group name");
    longname[EST_GROUP_MAX - 1] = '\0';
    ok(est_group_is_valid(longname), "a name of EST_GROUP_MAX-1 bytes is ok");
    is_int(est_table_count(t), 0, "failed adds leave the table empty");

    const char *names[] = {"sweep:tune", "run-2", "b", "a", "run-10", "é"};
    for (size_t i = 0; i < 6; i++)
        est_table_add(t, names[i], 1000 + i);
    est_table_add(t, "b", 5);
    is_int(est_table_count(t), 6, "six distinct groups are listed");
    bool sorted = true;
    const char *prev = NULL;
    for (size_t i = 0; i < est_table_count(t); i++) {
        const char *g;
        est_stats_t st;
        est_table_entry(t, i, &g, &st);
        if (prev && strcmp(prev, g) >= 0)
            sorted = false;
        prev = g;
    }
    ok(sorted, "entries are listed in name order");
    errno = 0;
    ok(est_table_entry(t, 6, NULL, NULL) < 0 && errno == ENOENT,
       "an entry past the end is ENOENT");
    ok(est_table_remove(t, "b") == 0 && est_table_count(t) == 5,
       "removing a group shrinks the table");
    errno = 0;
    ok(est_table_remove(t, "b") < 0 && errno == ENOENT,
       "removing it again is ENOENT");
    is_int(est_table_estimate(t, "b", 77), 77,
           "a removed group falls back to the default");

    est_stats_t st = {.count = 2, .mean_bytes = 10, .m2 = 50,
                      .hwm_bytes = 15, .floor_bytes = 0};
    ok(est_table_set(t, "restored", &st, NULL) == 0,
       "consistent statistics can be restored with est_table_set");
    est_stats_t bad_st = {.count = 2, .mean_bytes = 100, .m2 = 0,
                          .hwm_bytes = 15, .floor_bytes = 0};
    banyan_error_t e = {{0}};
    errno = 0;
    ok(est_table_set(t, "x", &bad_st, &e) < 0 && errno == EINVAL &&
           e.text[0],
       "a mean above the hwm is refused with a reason (%s)", e.text);
    bad_st = (est_stats_t){.count = 0, .mean_bytes = 3};
    ok(est_table_set(t, "x", &bad_st, NULL) < 0,
       "a mean without samples is refused");
    bad_st = (est_stats_t){.count = 3, .mean_bytes = NAN, .hwm_bytes = 3};
    ok(est_table_set(t, "x", &bad_st, NULL) < 0, "a NaN mean is refused");
    errno = 0;
    ok(est_table_get(t, "x", &st) < 0 && errno == ENOENT,
       "refused statistics leave no group behind");
    est_table_destroy(t);
    est_table_destroy(NULL);
}

static bool same_stats(const est_stats_t *a, const est_stats_t *b)
{
    return a->count == b->count && a->mean_bytes == b->mean_bytes &&
           a->m2 == b->m2 && a->hwm_bytes == b->hwm_bytes &&
           a->floor_bytes == b->floor_bytes;
}

static void test_round_trip(void)
{
    est_table_t *t = est_table_create();
    char *text = est_table_encode(t);
    ok(text && strcmp(text, "{\"v\":1,\"groups\":[]}") == 0,
       "an empty table encodes as %s", text ? text : "(null)");
    est_table_t *u = est_table_decode(text, NULL);
    ok(u && est_table_count(u) == 0, "and decodes to an empty table");
    free(text);
    est_table_destroy(u);

    uint64_t s = 99;
    const char *names[] = {"a \"quoted\" name", "ünïcødé", "x", "long"};
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 3 + i * 50; k++) {
            s = s * 6364136223846793005u + 1442695040888963407u;
            est_table_add(t, names[i], 1 + (s >> 20) % (64 * GIB));
        }
    est_table_bump(t, "x", 123456789);
    est_table_bump(t, "only-bumped", 77);
    text = est_table_encode(t);
    ok(text && !strchr(text, '\n'), "the encoding is one line");
    diag("%.200s", text ? text : "");
    banyan_error_t e = {{0}};
    u = est_table_decode(text, &e);
    ok(u != NULL, "the encoding decodes (%s)", e.text);
    bool same = u && est_table_count(u) == est_table_count(t);
    for (size_t i = 0; same && i < est_table_count(t); i++) {
        const char *g1, *g2;
        est_stats_t a, b;
        est_table_entry(t, i, &g1, &a);
        est_table_entry(u, i, &g2, &b);
        same = strcmp(g1, g2) == 0 && same_stats(&a, &b);
    }
    ok(same, "every group's statistics survive the round trip bit for bit");
    ok(u && est_table_estimate(u, "x", 1) == est_table_estimate(t, "x", 1),
       "so do the estimates");
    char *again = u ? est_table_encode(u) : NULL;
    ok(again && strcmp(again, text) == 0, "re-encoding gives the same line");
    free(again);
    free(text);
    est_table_destroy(u);
    est_table_destroy(t);
}

static void test_hostile(void)
{
    const char *bad[] = {
        "",
        "null",
        "[]",
        "{}",
        "{\"v\":1}",
        "{\"v\":2,\"groups\":[]}",
        "{\"v\":\"1\",\"groups\":[]}",
        "{\"v\":1,\"groups\":{}}",
        "{\"v\":1,\"groups\":[],\"extra\":0}",
        "{\"v\":1,\"v\":1,\"groups\":[]}",
        "{\"v\":1,\"groups\":[1]}",
        "{\"v\":1,\"groups\":[{}]}",
        "{\"v\":1,\"groups\":[{\"g\":\"a\",\"n\":1,\"mean\":5,\"m2\":0,"
        "\"hwm\":5}]}",
        "{\"v\":1,\"groups\":[{\"g\":\"a\",\"n\":-1,\"mean\":5,\"m2\":0,"
        "\"hwm\":5,\"floor\":0}]}",
        "{\"v\":1,\"groups\":[{\"g\":\"a\",\"n\":2,\"mean\":-5,\"m2\":0,"
        "\"hwm\":5,\"floor\":0}]}",
        "{\"v\":1,\"groups\":[{\"g\":\"a\",\"n\":2,\"mean\":9,\"m2\":0,"
        "\"hwm\":5,\"floor\":0}]}",
        "{\"v\":1,\"groups\":[{\"g\":\"a\",\"n\":2,\"mean\":5,\"m2\":-1,"
        "\"hwm\":5,\"floor\":0}]}",
        "{\"v\":1,\"groups\":[{\"g\":\"a\",\"n\":1,\"mean\":5,\"m2\":3,"
        "\"hwm\":5,\"floor\":0}]}",
        "{\"v\":1,\"groups\":[{\"g\":\"a\",\"n\":2,\"mean\":5,\"m2\":1e300,"
        "\"hwm\":5,\"floor\":0}]}",
        "{\"v\":1,\"groups\":[{\"g\":\"a\",\"n\":2,\"mean\":5,\"m2\":1e999,"
        "\"hwm\":5,\"floor\":0}]}",
        "{\"v\":1,\"groups\":[{\"g\":\"a\",\"n\":2,\"mean\":5,\"m2\":0,"
        "\"hwm\":5.5,\"floor\":0}]}",
        "{\"v\":1,\"groups\":[{\"g\":\"a\",\"n\":2,\"mean\":5,\"m2\":0,"
        "\"hwm\":5,\"floor\":9223372036854775807}]}",
        "{\"v\":1,\"groups\":[{\"g\":\"\",\"n\":2,\"mean\":5,\"m2\":0,"
        "\"hwm\":5,\"floor\":0}]}",
        "{\"v\":1,\"groups\":[{\"g\":\"a\\u0000b\",\"n\":2,\"mean\":5,"
        "\"m2\":0,\"hwm\":5,\"floor\":0}]}",
        "{\"v\":1,\"groups\":[{\"g\":\"a\\nb\",\"n\":2,\"mean\":5,"
        "\"m2\":0,\"hwm\":5,\"floor\":0}]}",
        "{\"v\":1,\"groups\":[{\"g\":7,\"n\":2,\"mean\":5,"
        "\"m2\":0,\"hwm\":5,\"floor\":0}]}",
        "{\"v\":1,\"groups\":[{\"g\":\"a\",\"n\":2,\"mean\":5,\"m2\":0,"
        "\"hwm\":5,\"floor\":0},{\"g\":\"a\",\"n\":2,\"mean\":5,\"m2\":0,"
        "\"hwm\":5,\"floor\":0}]}",
        "{\"v\":1,\"groups\":[{\"g\":\"a\",\"n\":2,\"mean\":5,\"m2\":0,"
        "\"hwm\":5,\"floor\":0}",
        "{\"v\":1,\"groups\":[{\"g\":\"a\",\"n\":2,\"mean\":5,\"m2\":0,"
        "\"hwm\":5,\"floor\":0,\"x\":1}]}",
    };
    size_t nbad = sizeof(bad) / sizeof(bad[0]);
    for (size_t i = 0; i < nbad; i++) {
        banyan_error_t e = {{0}};
        errno = 0;
        est_table_t *t = est_table_decode(bad[i], &e);
        ok(!t && errno == EINVAL && e.text[0],
           "hostile input %zu is refused: %s", i, e.text);
        est_table_destroy(t);
    }
    errno = 0;
    ok(!est_table_decode(NULL, NULL) && errno == EINVAL,
       "NULL text is refused with EINVAL");

    /* Deep nesting and too many groups. */
    util_buf_t b = UTIL_BUF_INIT;
    for (int i = 0; i < 100000; i++)
        util_buf_putc(&b, '[');
    errno = 0;
    ok(!est_table_decode(b.data, NULL) && errno == EINVAL,
       "100000 nested brackets are refused, not a crash");
    util_buf_reset(&b);
    util_buf_puts(&b, "{\"v\":1,\"groups\":[");
    for (int i = 0; i <= EST_MAX_GROUPS; i++)
        util_buf_printf(&b, "%s{\"g\":\"g%d\",\"n\":0,\"mean\":0,\"m2\":0,"
                            "\"hwm\":0,\"floor\":1}", i ? "," : "", i);
    util_buf_puts(&b, "]}");
    banyan_error_t e = {{0}};
    errno = 0;
    ok(!est_table_decode(b.data, &e) && errno == EINVAL,
       "more than EST_MAX_GROUPS groups are refused (%s)", e.text);
    util_buf_fini(&b);
}

int main(void)
{
    plan(NO_PLAN);
    test_known_sequence();
    test_stability();
    test_admission();
    test_bump();
    test_errors_and_listing();
    test_round_trip();
    test_hostile();
    return done_testing();
}
