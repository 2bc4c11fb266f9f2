/* Reading the results store back (src/store/read.c): a record with every field set survives
 * JSON and back field by field, unavailable figures keep their reasons, the model / date filters
 * of runs and evals (with '%' and '_' in paths), the empty store, and a corrupt row named in the
 * error. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "edgelm/store.h"
#include "testutil.h"

/* ---- a record with every field set ---- */

static void set_stat(elm_stat_t *s, double mean, double sd, uint32_t n)
{
    *s = (elm_stat_t){.valid = true, .mean = mean, .sd = sd, .n = n};
}

static void set_bad(elm_stat_t *s, const char *why)
{
    *s = (elm_stat_t){.valid = false};
    snprintf(s->why, sizeof s->why, "%s", why);
}

static void set_dist(elm_dist_t *x, double base, uint32_t n)
{
    *x = (elm_dist_t){.valid = true, .mean = base * 1.1, .p50 = base, .p90 = base * 1.5,
                      .p99 = base * 2.25, .n = n};
}

/* Every field of r set to a distinct value that is not exact in binary where a double is held,
 * so a lossy round trip shows. */
static void full_record(elm_record_t *r, const char *model, const char *timestamp)
{
    memset(r, 0, sizeof *r);
    snprintf(r->model, sizeof r->model, "%s", model);
    r->model_bytes = 352474080;
    snprintf(r->quant, sizeof r->quant, "Q4_0");
    snprintf(r->arch, sizeof r->arch, "qwen2");
    r->weight_bytes = 336000123;
    r->threads = 3;
    r->threads_batch = 4;
    r->n_prompt = 128;
    r->n_gen = 64;
    r->n_ctx = 192;
    r->reps = 5;
    snprintf(r->power_source, sizeof r->power_source, "rapl");
    snprintf(r->power_detail, sizeof r->power_detail, "intel-rapl:0 package-0");
    r->power_estimated = true;
    snprintf(r->device, sizeof r->device, "Raspberry Pi 5 Model B Rev 1.0");
    snprintf(r->cpu_model, sizeof r->cpu_model, "Cortex-A76");
    r->n_cpus = 4;
    snprintf(r->kernel, sizeof r->kernel, "6.6.31+rpt-rpi-2712");
    snprintf(r->version, sizeof r->version, "0.1.0");
    snprintf(r->timestamp, sizeof r->timestamp, "%s", timestamp);
    snprintf(r->cold_note, sizeof r->cold_note, "page cache dropped");
    set_stat(&r->load_cold_ms, 812.3, 0, 1);
    set_stat(&r->load_ms, 95.1, 2.7, 5);
    set_stat(&r->prefill_tps, 41.7, 1.3, 5);
    set_stat(&r->ttft_ms, 3069.4, 40.2, 5);
    set_stat(&r->ttft_cold_ms, 3881.7, 55.9, 5);
    set_stat(&r->gen_tps, 11.9, 0.31, 5);
    set_stat(&r->e2e_ms, 8363.1, 90.4, 5);
    for (int p = 0; p < ELM_REC_PHASES; p++) {
        set_stat(&r->energy[p].energy_j, 1.7 + p, 0.11, 5);
        set_stat(&r->energy[p].j_per_token, 0.13 + p, 0.01, 5);
        set_stat(&r->energy[p].avg_w, 6.1 + p, 0.2, 5);
        set_stat(&r->energy[p].peak_w, 7.3 + p, 0.3, 5);
    }
    set_stat(&r->energy_j, 33.3, 0.7, 5);
    set_stat(&r->action_s, 0.52, 0.02, 5);
    set_stat(&r->peak_rss_bytes, 401e6 + 0.5, 1024.25, 5);
    for (int e = 0; e < ELM_PERF_COUNT; e++) set_stat(&r->perf_per_token[e], 1e6 / (e + 3), e, 5);
    r->reading_fast = true;
    r->reading_ratio = 11.9 / 5.3;
    snprintf(r->git_hash, sizeof r->git_hash, "0123abcd-dirty");
    snprintf(r->model_sha256, sizeof r->model_sha256, "%064d", 7);
    snprintf(r->cpufreq, sizeof r->cpufreq, "governor performance, 2400 MHz (cpu0)");
    snprintf(r->nvpmodel, sizeof r->nvpmodel, "unavailable: not a Jetson");
    r->n_rss = 61;
    for (uint32_t i = 0; i < r->n_rss; i++) {
        r->rss_t_ms[i] = 0.1f + 137.3f * (float)i;
        r->rss_bytes[i] = 12e6 + 6.5e6 * i + 0.25;
    }
    r->is_target = true;
    elm_rec_target_t *t = &r->target;
    snprintf(t->url, sizeof t->url, "http://127.0.0.1:8080/v1/chat/completions");
    snprintf(t->model, sizeof t->model, "qwen");
    snprintf(t->arrival, sizeof t->arrival, "poisson:2 (seed 1)");
    t->concurrency = 4;
    t->n_requests = 20;
    t->n_ok = 18;
    t->n_errors = 2;
    t->max_tokens = 64;
    snprintf(t->token_source, sizeof t->token_source, "usage");
    t->tokens = 1151;
    set_dist(&t->ttft_ms, 210.3, 18);
    set_dist(&t->itl_ms, 83.1, 1133);
    set_dist(&t->tps, 11.7, 18);
    set_dist(&t->e2e_ms, 5400.7, 18);
    t->window_s = 31.7;
    t->throughput_tps = 1151 / 31.7;
    t->req_per_s = 18 / 31.7;
    set_stat(&t->energy_per_req_j, 29.1, 3.3, 18);
    snprintf(t->errors, sizeof t->errors, "2 x HTTP 500: out of memory");
}

/* Numbers equal within eps relative: 0 for an in-memory round trip; through the store, the
 * JSON text cJSON prints keeps 15 significant digits when they read back within an epsilon. */
static bool near(double a, double b, double eps)
{
    return a == b || fabs(a - b) <= eps * fmax(fabs(a), fabs(b));
}

#define EQ_STR(f) assert_string_equal(a->f, b->f)
#define EQ_NUM(f)                                                                                 \
    do {                                                                                          \
        if (!near((double)a->f, (double)b->f, eps))                                               \
            fail_msg("%s: %.17g != %.17g", #f, (double)a->f, (double)b->f);                       \
    } while (0)

static void assert_stat_eq(const elm_stat_t *a, const elm_stat_t *b, double eps)
{
    EQ_NUM(valid);
    if (a->valid) {
        EQ_NUM(mean);
        EQ_NUM(sd);
        EQ_NUM(n);
    } else {
        EQ_STR(why);
    }
}

static void assert_dist_eq(const elm_dist_t *a, const elm_dist_t *b, double eps)
{
    EQ_NUM(valid);
    if (a->valid) {
        EQ_NUM(mean);
        EQ_NUM(p50);
        EQ_NUM(p90);
        EQ_NUM(p99);
        EQ_NUM(n);
    } else {
        EQ_STR(why);
    }
}

static void assert_target_eq(const elm_rec_target_t *a, const elm_rec_target_t *b, double eps)
{
    EQ_STR(url);
    EQ_STR(model);
    EQ_STR(arrival);
    EQ_NUM(concurrency);
    EQ_NUM(n_requests);
    EQ_NUM(n_ok);
    EQ_NUM(n_errors);
    EQ_NUM(max_tokens);
    EQ_STR(token_source);
    EQ_NUM(tokens);
    assert_dist_eq(&a->ttft_ms, &b->ttft_ms, eps);
    assert_dist_eq(&a->itl_ms, &b->itl_ms, eps);
    assert_dist_eq(&a->tps, &b->tps, eps);
    assert_dist_eq(&a->e2e_ms, &b->e2e_ms, eps);
    EQ_NUM(window_s);
    EQ_NUM(throughput_tps);
    EQ_NUM(req_per_s);
    assert_stat_eq(&a->energy_per_req_j, &b->energy_per_req_j, eps);
    EQ_STR(errors);
}

/* Every field of elm_record_t, one by one (memcmp would compare padding). */
static void assert_record_eq(const elm_record_t *a, const elm_record_t *b, double eps)
{
    EQ_STR(model);
    EQ_NUM(model_bytes);
    EQ_STR(quant);
    EQ_STR(arch);
    EQ_NUM(weight_bytes);
    EQ_NUM(threads);
    EQ_NUM(threads_batch);
    EQ_NUM(n_prompt);
    EQ_NUM(n_gen);
    EQ_NUM(n_ctx);
    EQ_NUM(reps);
    EQ_STR(power_source);
    EQ_STR(power_detail);
    EQ_NUM(power_estimated);
    EQ_STR(device);
    EQ_STR(cpu_model);
    EQ_NUM(n_cpus);
    EQ_STR(kernel);
    EQ_STR(version);
    EQ_STR(timestamp);
    EQ_STR(cold_note);
    assert_stat_eq(&a->load_cold_ms, &b->load_cold_ms, eps);
    assert_stat_eq(&a->load_ms, &b->load_ms, eps);
    assert_stat_eq(&a->prefill_tps, &b->prefill_tps, eps);
    assert_stat_eq(&a->ttft_ms, &b->ttft_ms, eps);
    assert_stat_eq(&a->ttft_cold_ms, &b->ttft_cold_ms, eps);
    assert_stat_eq(&a->gen_tps, &b->gen_tps, eps);
    assert_stat_eq(&a->e2e_ms, &b->e2e_ms, eps);
    for (int p = 0; p < ELM_REC_PHASES; p++) {
        assert_stat_eq(&a->energy[p].energy_j, &b->energy[p].energy_j, eps);
        assert_stat_eq(&a->energy[p].j_per_token, &b->energy[p].j_per_token, eps);
        assert_stat_eq(&a->energy[p].avg_w, &b->energy[p].avg_w, eps);
        assert_stat_eq(&a->energy[p].peak_w, &b->energy[p].peak_w, eps);
    }
    assert_stat_eq(&a->energy_j, &b->energy_j, eps);
    assert_stat_eq(&a->action_s, &b->action_s, eps);
    assert_stat_eq(&a->peak_rss_bytes, &b->peak_rss_bytes, eps);
    for (int e = 0; e < ELM_PERF_COUNT; e++)
        assert_stat_eq(&a->perf_per_token[e], &b->perf_per_token[e], eps);
    if (a->gen_tps.valid) {
        EQ_NUM(reading_fast);
        EQ_NUM(reading_ratio);
    }
    EQ_STR(git_hash);
    EQ_STR(model_sha256);
    EQ_STR(cpufreq);
    EQ_STR(nvpmodel);
    EQ_NUM(n_rss);
    for (uint32_t i = 0; i < a->n_rss; i++) {
        EQ_NUM(rss_t_ms[i]);
        EQ_NUM(rss_bytes[i]);
    }
    EQ_NUM(is_target);
    if (a->is_target) assert_target_eq(&a->target, &b->target, eps);
}

/* r -> JSON -> *back, and both JSON texts equal. */
static void round_trip(const elm_record_t *r, elm_record_t *back)
{
    elm_diag_t d;
    cJSON *j = elm_record_to_json(r);
    assert_non_null(j);
    assert_int_equal(elm_record_from_json(j, back, &d), 0);
    cJSON *j2 = elm_record_to_json(back);
    char *s1 = cJSON_PrintUnformatted(j), *s2 = cJSON_PrintUnformatted(j2);
    assert_string_equal(s1, s2);
    free(s1);
    free(s2);
    cJSON_Delete(j);
    cJSON_Delete(j2);
}

static void test_round_trip(void **state)
{
    (void)state;
    elm_record_t *r = malloc(sizeof *r), *back = malloc(sizeof *back);
    assert_non_null(r);
    assert_non_null(back);
    full_record(r, "models/qwen2.5-0.5b-q4_0.gguf", "2026-01-02T03:04:05Z");
    round_trip(r, back);
    assert_record_eq(r, back, 0);
    assert_true(back->is_target && back->n_rss == 61);

    /* in-process, the figures unavailable: each keeps its own reason */
    r->is_target = false;
    memset(&r->target, 0, sizeof r->target);
    set_bad(&r->gen_tps, "generation failed: out of memory");
    set_bad(&r->energy[ELM_REC_PREFILL].j_per_token, "no power source: no RAPL, hwmon or rpi5");
    set_bad(&r->perf_per_token[ELM_PERF_LLC_MISSES], "unsupported: no hardware PMU event here");
    r->n_rss = 0;
    round_trip(r, back);
    assert_record_eq(r, back, 0);
    assert_false(back->is_target);
    assert_false(back->gen_tps.valid);
    assert_string_equal(back->gen_tps.why, "generation failed: out of memory");
    assert_string_equal(back->energy[ELM_REC_PREFILL].j_per_token.why,
                        "no power source: no RAPL, hwmon or rpi5");
    assert_string_equal(back->perf_per_token[ELM_PERF_LLC_MISSES].why,
                        "unsupported: no hardware PMU event here");
    free(r);
    free(back);
}

/* An older record lacks fields: they stay zero, figures "not recorded". */
static void test_missing_fields(void **state)
{
    (void)state;
    elm_record_t r;
    elm_diag_t d;
    cJSON *j = cJSON_Parse("{\"model\": \"m.gguf\", \"threads\": 2, \"gen_tps\": "
                           "{\"mean\": 9.5, \"sd\": 0.5, \"n\": 3}}");
    assert_int_equal(elm_record_from_json(j, &r, &d), 0);
    cJSON_Delete(j);
    assert_string_equal(r.model, "m.gguf");
    assert_int_equal(r.threads, 2);
    assert_true(r.gen_tps.valid && r.gen_tps.mean == 9.5 && r.gen_tps.n == 3);
    assert_false(r.prefill_tps.valid);
    assert_string_equal(r.prefill_tps.why, "not recorded");
    assert_false(r.energy[ELM_REC_GEN].avg_w.valid);
    assert_string_equal(r.energy[ELM_REC_GEN].avg_w.why, "not recorded");
    assert_string_equal(r.perf_per_token[ELM_PERF_CYCLES].why, "not recorded");
    assert_string_equal(r.git_hash, "");
    assert_int_equal(r.n_rss, 0);
    assert_false(r.is_target);
}

static void expect_bad_json(const char *text, const char *want)
{
    elm_record_t r;
    elm_diag_t d;
    cJSON *j = cJSON_Parse(text);
    assert_non_null(j);
    assert_int_equal(elm_record_from_json(j, &r, &d), ELM_EINVAL);
    cJSON_Delete(j);
    if (!strstr(d.msg, want)) fail_msg("\"%s\" does not contain \"%s\"", d.msg, want);
    assert_string_equal(r.model, ""); /* the out-parameter is cleared */
}

static void test_wrong_types(void **state)
{
    (void)state;
    expect_bad_json("[1]", "not a JSON object");
    expect_bad_json("{\"model\": \"m\", \"threads\": \"x\"}",
                    "record field \"threads\" must be a number");
    expect_bad_json("{\"model\": \"m\", \"n_gen\": -1}", "\"n_gen\" is out of range");
    expect_bad_json("{\"model\": \"m\", \"quant\": 4}", "\"quant\" must be a string");
    expect_bad_json("{\"model\": \"m\", \"power_estimated\": 1}", "\"power_estimated\" must be true");
    expect_bad_json("{\"model\": \"m\", \"gen_tps\": {\"mean\": 1}}",
                    "\"gen_tps\" must be {\"mean\", \"sd\", \"n\"} or {\"unavailable\": why}");
    expect_bad_json("{\"model\": \"m\", \"energy\": {\"prefill\": {\"avg_w\": 5}}}",
                    "\"energy.prefill.avg_w\" must be");
    expect_bad_json("{\"model\": \"m\", \"perf_per_token\": {\"cycles\": \"x\"}}",
                    "\"perf_per_token.cycles\"");
    expect_bad_json("{\"model\": \"m\", \"rss_timeline\": {\"t_ms\": [1, 2], \"bytes\": [1]}}",
                    "\"rss_timeline\" must hold arrays");
    expect_bad_json("{\"model\": \"m\", \"target\": {\"ttft_ms\": {\"mean\": 1}}}",
                    "\"target.ttft_ms\" must be {\"mean\", \"p50\"");
    /* numbers a record cannot write back (found by fuzz/fuzz_record.c): infinity, and a time
     * beyond a float's range */
    expect_bad_json("{\"model\": \"m\", \"target\": {\"window_s\": 1e999}}",
                    "\"target.window_s\" is out of range");
    expect_bad_json("{\"model\": \"m\", \"rss_timeline\": {\"t_ms\": [1e300], \"bytes\": [1]}}",
                    "\"rss_timeline.t_ms\" must hold finite numbers only");
    expect_bad_json("{\"model\": \"m\", \"target\": 3}", "\"target\" must be an object");
}

/* ---- rows ---- */

static void temp_store(char *dir, char *path, size_t cap, elm_store_t **s)
{
    elm_diag_t d;
    assert_non_null(mkdtemp(dir));
    snprintf(path, cap, "%s/results.db", dir);
    assert_int_equal(elm_store_open(path, s, &d), 0);
}

static void remove_store(const char *dir, const char *path)
{
    unlink(path);
    rmdir(dir);
}

static void test_empty(void **state)
{
    (void)state;
    char dir[] = "/tmp/elm-read-XXXXXX", path[256];
    elm_store_t *s;
    elm_diag_t d;
    temp_store(dir, path, sizeof path, &s);
    elm_record_t *recs = (elm_record_t *)1;
    int64_t *ids = (int64_t *)1;
    size_t n = 7;
    assert_int_equal(elm_store_runs(s, NULL, &recs, &ids, &n, &d), 0);
    assert_int_equal(n, 0);
    assert_null(recs);
    assert_null(ids);
    elm_store_eval_row_t *ev = (elm_store_eval_row_t *)1;
    n = 7;
    assert_int_equal(elm_store_evals(s, NULL, &ev, &n, &d), 0);
    assert_int_equal(n, 0);
    assert_null(ev);
    elm_store_close(s);
    remove_store(dir, path);
}

static void test_filters(void **state)
{
    (void)state;
    char dir[] = "/tmp/elm-read-XXXXXX", path[256];
    elm_store_t *s;
    elm_diag_t d;
    temp_store(dir, path, sizeof path, &s);
    static const struct {
        const char *model, *ts;
    } rows[] = {
        {"models/a%b_c.gguf", "2026-01-01T23:59:59Z"},
        {"models/axbyc.gguf", "2026-01-02T00:00:00Z"},
        {"models/a%b_c.gguf", "2026-01-02T10:00:00Z"},
        {"models/abc.gguf", "2026-01-03T08:00:00Z"},
    };
    elm_record_t *r = malloc(sizeof *r);
    assert_non_null(r);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        full_record(r, rows[i].model, rows[i].ts);
        r->threads = (int)i + 1;
        r->is_target = i == 1;
        assert_int_equal(elm_store_add(s, r, NULL, &d), 0);
    }
    elm_record_t *recs;
    int64_t *ids;
    size_t n;

    /* all, oldest first, each equal to what was added */
    assert_int_equal(elm_store_runs(s, NULL, &recs, &ids, &n, &d), 0);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ids[i], (int64_t)i + 1);
        full_record(r, rows[i].model, rows[i].ts);
        r->threads = (int)i + 1;
        r->is_target = i == 1;
        assert_record_eq(r, &recs[i], 4 * DBL_EPSILON);
    }
    free(recs);
    free(ids);

    /* '%' and '_' are plain characters, not LIKE wildcards */
    elm_store_filter_t f = {.match = "a%b_c"};
    assert_int_equal(elm_store_runs(s, &f, &recs, &ids, &n, &d), 0);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 3);
    free(recs);
    free(ids);
    f.match = "_";
    assert_int_equal(elm_store_runs(s, &f, &recs, NULL, &n, &d), 0);
    assert_int_equal(n, 2);
    free(recs);

    /* since is a prefix: the day includes its midnight, not the second before */
    f = (elm_store_filter_t){.match = "", .since = "2026-01-02"};
    assert_int_equal(elm_store_runs(s, &f, &recs, &ids, &n, &d), 0);
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], 2);
    assert_string_equal(recs[0].timestamp, "2026-01-02T00:00:00Z");
    free(recs);
    free(ids);
    f = (elm_store_filter_t){.match = "a%b", .since = "2026-01-02T10:00:00Z"};
    assert_int_equal(elm_store_runs(s, &f, &recs, &ids, &n, &d), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], 3);
    free(recs);
    free(ids);
    f = (elm_store_filter_t){.match = "nothing"};
    assert_int_equal(elm_store_runs(s, &f, &recs, &ids, &n, &d), 0);
    assert_int_equal(n, 0);
    assert_null(recs);
    assert_null(ids);

    /* evals: the same filter, since against `created`; a NaN err is stored NULL, read as NaN */
    elm_eval_rec_t ppl = {.kind = ELM_EVAL_PPL, .model = "models/a%b_c.gguf",
                          .model_bytes = 1000, .quant = "Q8_0", .n = 512, .value = 12.5,
                          .err = 0.25};
    elm_eval_rec_t gsm = {.kind = ELM_EVAL_GSM8K, .model = "models/axbyc.gguf", .n = 50,
                          .value = 0.32, .err = NAN};
    assert_int_equal(elm_store_add_eval(s, &ppl, NULL, 0, NULL, &d), 0);
    assert_int_equal(elm_store_add_eval(s, &gsm, NULL, 0, NULL, &d), 0);
    elm_store_eval_row_t *ev;
    assert_int_equal(elm_store_evals(s, NULL, &ev, &n, &d), 0);
    assert_int_equal(n, 2);
    assert_int_equal(ev[0].kind, ELM_EVAL_PPL);
    assert_string_equal(ev[0].model, "models/a%b_c.gguf");
    assert_int_equal(ev[0].model_bytes, 1000);
    assert_string_equal(ev[0].quant, "Q8_0");
    assert_int_equal(ev[0].n, 512);
    assert_true(ev[0].value == 12.5 && ev[0].err == 0.25);
    assert_int_equal(strlen(ev[0].created), 20); /* 2026-01-02T03:04:05Z */
    assert_int_equal(ev[1].kind, ELM_EVAL_GSM8K);
    assert_string_equal(ev[1].quant, "");
    assert_true(isnan(ev[1].err));
    assert_true(ev[1].id > ev[0].id);
    free(ev);
    f = (elm_store_filter_t){.match = "a%b"};
    assert_int_equal(elm_store_evals(s, &f, &ev, &n, &d), 0);
    assert_int_equal(n, 1);
    assert_string_equal(ev[0].model, "models/a%b_c.gguf");
    free(ev);
    f = (elm_store_filter_t){.since = "2026-01-01"};
    assert_int_equal(elm_store_evals(s, &f, &ev, &n, &d), 0);
    assert_int_equal(n, 2);
    free(ev);
    f = (elm_store_filter_t){.since = "9999"};
    assert_int_equal(elm_store_evals(s, &f, &ev, &n, &d), 0);
    assert_int_equal(n, 0);
    assert_null(ev);

    free(r);
    elm_store_close(s);
    remove_store(dir, path);
}

/* A row whose record does not parse: ELM_EINVAL naming the store, the row and the field. */
static void test_corrupt_row(void **state)
{
    (void)state;
    char dir[] = "/tmp/elm-read-XXXXXX", path[256];
    elm_store_t *s;
    elm_diag_t d;
    temp_store(dir, path, sizeof path, &s);
    elm_record_t *r = malloc(sizeof *r);
    assert_non_null(r);
    full_record(r, "models/m.gguf", "2026-01-02T03:04:05Z");
    assert_int_equal(elm_store_add(s, r, NULL, &d), 0);
    assert_int_equal(elm_store_add(s, r, NULL, &d), 0);
    free(r);

    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "UPDATE runs SET record = '{\"threads\":\"x\"}' WHERE id = 2", NULL,
                     NULL, NULL),
        SQLITE_OK);
    elm_record_t *recs = (elm_record_t *)1;
    int64_t *ids = (int64_t *)1;
    size_t n = 7;
    char want[320];
    assert_int_equal(elm_store_runs(s, NULL, &recs, &ids, &n, &d), ELM_EINVAL);
    snprintf(want, sizeof want, "%s: run 2: record field \"threads\" must be a number", path);
    assert_string_equal(d.msg, want);
    assert_null(recs);
    assert_null(ids);
    assert_int_equal(n, 0);

    assert_int_equal(sqlite3_exec(db, "UPDATE runs SET record = '{not json' WHERE id = 2", NULL,
                                  NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(elm_store_runs(s, NULL, &recs, NULL, &n, &d), ELM_EINVAL);
    snprintf(want, sizeof want, "%s: run 2: the record is not JSON", path);
    assert_string_equal(d.msg, want);
    sqlite3_close(db);
    elm_store_close(s);
    remove_store(dir, path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip), cmocka_unit_test(test_missing_fields),
        cmocka_unit_test(test_wrong_types), cmocka_unit_test(test_empty),
        cmocka_unit_test(test_filters),    cmocka_unit_test(test_corrupt_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
