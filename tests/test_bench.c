/* Bench harness and results store: plan expansion, every output format parsed back, the SQLite
 * schema and a round trip, the v1 -> v2 upgrade with eval results and the Table I join, and an
 * end-to-end run on stories260K with a constant 5 W source whose energy must equal W × s per phase,
 * llama-bench's ppN/tgN tests and the read loop. No assertion depends on speed. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "edgelm/bench.h"
#include "edgelm/store.h"
#include "testutil.h"

/* ---- plan ---- */

static void test_parse_list(void **state)
{
    (void)state;
    elm_bench_list_t l;
    elm_diag_t d;
    assert_int_equal(elm_bench_parse_list("-t", "1,2,4", 1, 64, &l, &d), 0);
    assert_int_equal(l.n, 3);
    assert_int_equal(l.v[2], 4);
    assert_int_equal(elm_bench_parse_list("-t", "1-4", 1, 64, &l, &d), 0);
    assert_int_equal(l.n, 4);
    assert_int_equal(l.v[3], 4);
    assert_int_equal(elm_bench_parse_list("-t", "1-8+3", 1, 64, &l, &d), 0);
    assert_int_equal(l.n, 3);
    assert_int_equal(l.v[2], 7);
    assert_int_equal(elm_bench_parse_list("-p", "16,64-65", 1, 1024, &l, &d), 0);
    assert_int_equal(l.n, 3);
    assert_int_equal(l.v[0], 16);
    assert_int_equal(l.v[2], 65);
    const char *bad[] = {"", "1,", ",1", "a", "1-", "3-1", "1-4+0", "1.5", "-1", "1 2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(elm_bench_parse_list("-tb", bad[i], 1, 64, &l, &d), ELM_EINVAL);
        assert_non_null(strstr(d.msg, "-tb"));
        assert_int_equal(l.n, 0);
    }
    assert_int_equal(elm_bench_parse_list("-t", "0,1", 1, 64, &l, &d), ELM_EINVAL);
    assert_non_null(strstr(d.msg, "1..64"));
    assert_int_equal(elm_bench_parse_list("-n", "1-100", 1, 1000, &l, &d), ELM_ERANGE);
}

static void test_plan(void **state)
{
    (void)state;
    elm_bench_spec_t s = {0};
    elm_diag_t d;
    char models[] = "a.gguf,b.gguf";
    assert_int_equal(elm_bench_parse_models(models, &s, &d), 0);
    assert_int_equal(s.n_models, 2);
    assert_string_equal(s.models[1], "b.gguf");
    assert_int_equal(elm_bench_parse_list("-t", "1,2", 1, 64, &s.threads, &d), 0);
    assert_int_equal(elm_bench_parse_list("-p", "64", 1, 4096, &s.n_prompt, &d), 0);
    assert_int_equal(elm_bench_parse_list("-n", "16,32", 1, 4096, &s.n_gen, &d), 0);
    elm_bench_point_t *p;
    size_t n;
    assert_int_equal(elm_bench_plan(&s, &p, &n, &d), 0);
    assert_int_equal(n, 8);
    /* threads vary fastest, models slowest; prefill threads default to the threads */
    assert_string_equal(p[0].model, "a.gguf");
    assert_int_equal(p[0].threads, 1);
    assert_int_equal(p[1].threads, 2);
    assert_int_equal(p[1].threads_batch, 2);
    assert_int_equal(p[2].n_gen, 32);
    assert_int_equal(p[3].n_prompt, 64);
    assert_string_equal(p[4].model, "b.gguf");
    assert_int_equal(p[7].n_ctx, 0);
    free(p);

    assert_int_equal(elm_bench_parse_list("-tb", "1-2", 1, 64, &s.threads_batch, &d), 0);
    assert_int_equal(elm_bench_plan(&s, &p, &n, &d), 0);
    assert_int_equal(n, 16);
    assert_int_equal(p[2].threads_batch, 2);
    assert_int_equal(p[2].threads, 1);
    free(p);

    assert_int_equal(elm_bench_parse_list("--ctx", "64", 1, 4096, &s.n_ctx, &d), 0);
    assert_int_equal(elm_bench_plan(&s, &p, &n, &d), ELM_EINVAL);
    assert_null(p);
    assert_non_null(strstr(d.msg, "--ctx 64"));

    char empty[] = "a,,b";
    elm_bench_spec_t s2 = {0};
    assert_int_equal(elm_bench_parse_models(empty, &s2, &d), ELM_EINVAL);
}

static void test_stat(void **state)
{
    (void)state;
    const double x[] = {1, 2, 3, 4};
    elm_stat_t s;
    elm_bench_stat(x, 4, &s);
    assert_true(s.valid);
    assert_true(fabs(s.mean - 2.5) < 1e-12);
    assert_true(fabs(s.sd - 1.2909944487358056) < 1e-12);
    elm_bench_stat(x, 1, &s);
    assert_true(s.sd == 0 && s.n == 1);
}

/* ---- output formats ---- */

static void set_stat(elm_stat_t *s, double mean, double sd)
{
    *s = (elm_stat_t){.valid = true, .mean = mean, .sd = sd, .n = 4};
}

static void set_bad(elm_stat_t *s, const char *why)
{
    *s = (elm_stat_t){.valid = false};
    snprintf(s->why, sizeof s->why, "%s", why);
}

static void fake_record(elm_record_t *r, int threads, bool energy)
{
    memset(r, 0, sizeof *r);
    snprintf(r->model, sizeof r->model, "/m/qwen2.5-0.5b-q4_0.gguf");
    snprintf(r->quant, sizeof r->quant, "Q4_0");
    snprintf(r->arch, sizeof r->arch, "qwen2");
    snprintf(r->timestamp, sizeof r->timestamp, "2026-01-02T03:04:05Z");
    snprintf(r->version, sizeof r->version, "0.1.0");
    snprintf(r->cpu_model, sizeof r->cpu_model, "Test CPU, 2 cores");
    snprintf(r->device, sizeof r->device, "%s", r->cpu_model);
    snprintf(r->cold_note, sizeof r->cold_note, "page cache not dropped");
    r->model_bytes = 352474080;
    r->threads = r->threads_batch = threads;
    r->n_prompt = 64;
    r->n_gen = 32;
    r->n_ctx = 96;
    r->reps = 4;
    set_stat(&r->load_cold_ms, 12, 0);
    set_stat(&r->load_ms, 8, 0.5);
    set_stat(&r->prefill_tps, 47.5, 1.25);
    set_stat(&r->ttft_ms, 1345, 10);
    set_stat(&r->ttft_cold_ms, 1355, 11);
    set_stat(&r->gen_tps, 26.5, 0.75);
    set_stat(&r->e2e_ms, 2515, 20);
    set_stat(&r->peak_rss_bytes, 360e6, 0);
    r->reading_fast = true;
    r->reading_ratio = 26.5 / 5.3;
    for (int p = 0; p < ELM_REC_PHASES; p++) {
        elm_rec_energy_t *e = &r->energy[p];
        if (energy) {
            set_stat(&e->energy_j, 5 + p, 0.1);
            set_stat(&e->avg_w, 5, 0);
            set_stat(&e->peak_w, 5, 0);
            if (p == ELM_REC_LOAD)
                set_bad(&e->j_per_token, "load produces no tokens");
            else
                set_stat(&e->j_per_token, 0.2, 0.01);
        } else {
            set_bad(&e->energy_j, "no power sensor, here");
            set_bad(&e->avg_w, "no power sensor, here");
            set_bad(&e->peak_w, "no power sensor, here");
            set_bad(&e->j_per_token, "no power sensor, here");
        }
    }
    snprintf(r->power_source, sizeof r->power_source, energy ? "constant" : "none");
    snprintf(r->power_detail, sizeof r->power_detail, energy ? "5 W" : "no power sensor, here");
    if (energy) {
        set_stat(&r->energy_j, 13, 0.2);
        set_stat(&r->action_s, 13.0 / 32, 0.01);
    } else {
        set_bad(&r->energy_j, "no power sensor, here");
        set_bad(&r->action_s, "no power sensor, here");
    }
    for (int e = 0; e < ELM_PERF_COUNT; e++) {
        if (e < ELM_PERF_CONTEXT_SWITCHES)
            set_bad(&r->perf_per_token[e], "unsupported: no hardware PMU event here");
        else
            set_stat(&r->perf_per_token[e], 0.5, 0.1);
    }
}

/* Not inlined: gcc 12 at -O3 otherwise takes the returned buffer for a pointer to the local
 * that received it (a false -Wdangling-pointer). */
__attribute__((noinline)) static char *format(elm_bench_format_t f, const elm_record_t *r,
                                              size_t n)
{
    char *s = NULL;
    elm_diag_t d;
    assert_int_equal(elm_bench_format(f, r, n, ELM_BENCH_ALL, true, &s, &d), 0);
    assert_non_null(s);
    return s;
}

static void test_format_md(void **state)
{
    (void)state;
    elm_record_t r[2];
    fake_record(&r[0], 1, false);
    fake_record(&r[1], 2, true);
    char *s = format(ELM_BENCH_MD, r, 2);
    assert_non_null(strstr(s, "| model | quant |"));
    assert_non_null(strstr(s, "| qwen2.5-0.5b-q4_0.gguf | Q4_0 | 336.1 MiB | 1 | 1 | 64 | 32 |"));
    assert_non_null(strstr(s, "47.50 ± 1.25"));
    assert_non_null(strstr(s, "| unavailable |"));
    assert_non_null(strstr(s, "energy: unavailable: no power sensor, here"));
    assert_non_null(strstr(s, "cycles instructions L1d-read-misses LLC-misses: unsupported"));
    assert_non_null(strstr(s, "yes (5.0x)"));
    free(s);
    /* streaming: header+row, row, footer gives the same text */
    char *a, *b, *c;
    assert_int_equal(elm_bench_format(ELM_BENCH_MD, &r[0], 1, ELM_BENCH_HEADER | ELM_BENCH_ROWS,
                                      true, &a, NULL), 0);
    assert_int_equal(elm_bench_format(ELM_BENCH_MD, &r[1], 1, ELM_BENCH_ROWS, false, &b, NULL), 0);
    assert_int_equal(elm_bench_format(ELM_BENCH_MD, r, 2, ELM_BENCH_FOOTER, false, &c, NULL), 0);
    s = format(ELM_BENCH_MD, r, 2);
    size_t la = strlen(a), lb = strlen(b);
    assert_memory_equal(s, a, la);
    assert_memory_equal(s + la, b, lb);
    assert_string_equal(s + la + lb, c);
    free(a);
    free(b);
    free(c);
    free(s);
}

static void test_format_json(void **state)
{
    (void)state;
    elm_record_t r[2];
    fake_record(&r[0], 1, false);
    fake_record(&r[1], 2, true);
    char *s = format(ELM_BENCH_JSON, r, 2);
    cJSON *j = cJSON_Parse(s);
    assert_non_null(j);
    assert_true(cJSON_IsArray(j));
    assert_int_equal(cJSON_GetArraySize(j), 2);
    cJSON *o = cJSON_GetArrayItem(j, 1);
    assert_int_equal(cJSON_GetObjectItem(o, "threads")->valueint, 2);
    assert_string_equal(cJSON_GetObjectItem(o, "quant")->valuestring, "Q4_0");
    cJSON *g = cJSON_GetObjectItem(o, "gen_tps");
    assert_true(fabs(cJSON_GetObjectItem(g, "mean")->valuedouble - 26.5) < 1e-9);
    assert_true(fabs(cJSON_GetObjectItem(g, "sd")->valuedouble - 0.75) < 1e-9);
    cJSON *e = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "energy"), "generation");
    assert_true(fabs(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "energy_j"), "mean")->valuedouble -
                     7) < 1e-9);
    cJSON *o0 = cJSON_GetArrayItem(j, 0);
    cJSON *u = cJSON_GetObjectItem(cJSON_GetObjectItem(o0, "energy_j"), "unavailable");
    assert_string_equal(u->valuestring, "no power sensor, here");
    u = cJSON_GetObjectItem(cJSON_GetObjectItem(o0, "perf_per_token"), "cycles");
    assert_non_null(strstr(cJSON_GetObjectItem(u, "unavailable")->valuestring, "unsupported"));
    assert_true(cJSON_IsTrue(
        cJSON_GetObjectItem(cJSON_GetObjectItem(o0, "reading_speed"), "faster")));
    cJSON_Delete(j);
    free(s);

    s = format(ELM_BENCH_JSONL, r, 2);
    char *nl = strchr(s, '\n');
    assert_non_null(nl);
    *nl = '\0';
    j = cJSON_Parse(s);
    assert_non_null(j);
    assert_int_equal(cJSON_GetObjectItem(j, "threads")->valueint, 1);
    cJSON_Delete(j);
    j = cJSON_Parse(nl + 1);
    assert_non_null(j);
    assert_int_equal(cJSON_GetObjectItem(j, "threads")->valueint, 2);
    cJSON_Delete(j);
    free(s);
}

/* Split a line on commas into at most max fields (modifies it); returns the count. */
static int split(char *line, char **f, int max)
{
    int n = 0;
    for (char *p = line;;) {
        char *c = strchr(p, ',');
        if (n < max) f[n] = p;
        n++;
        if (!c) break;
        *c = '\0';
        p = c + 1;
    }
    return n;
}

static int column(char **head, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(head[i], name)) return i;
    fail_msg("no CSV column %s", name);
    return -1;
}

static void test_format_csv(void **state)
{
    (void)state;
    elm_record_t r[2];
    fake_record(&r[0], 1, false);
    fake_record(&r[1], 2, true);
    char *s = format(ELM_BENCH_CSV, r, 2);
    char *l1 = strchr(s, '\n');
    assert_non_null(l1);
    *l1++ = '\0';
    char *l2 = strchr(l1, '\n');
    assert_non_null(l2);
    *l2++ = '\0';
    char *end = strchr(l2, '\n');
    assert_non_null(end);
    *end = '\0';
    assert_string_equal(end + 1, "");
    char *h[256], *a[256], *b[256];
    int nh = split(s, h, 256), na = split(l1, a, 256), nb = split(l2, b, 256);
    assert_true(nh < 256);
    assert_int_equal(na, nh);
    assert_int_equal(nb, nh);
    assert_string_equal(a[column(h, nh, "cpu_model")], "Test CPU; 2 cores");
    assert_string_equal(b[column(h, nh, "threads")], "2");
    assert_true(fabs(atof(b[column(h, nh, "gen_tps")]) - 26.5) < 1e-9);
    assert_true(fabs(atof(b[column(h, nh, "gen_tps_sd")]) - 0.75) < 1e-9);
    assert_true(fabs(atof(b[column(h, nh, "gen_j")]) - 7) < 1e-9);
    assert_string_equal(a[column(h, nh, "gen_j")], "unavailable: no power sensor; here");
    assert_string_equal(a[column(h, nh, "gen_j_sd")], "");
    assert_non_null(strstr(a[column(h, nh, "cycles_per_token")], "unavailable: unsupported"));
    assert_string_equal(a[column(h, nh, "page_faults_per_token")], "0.5");
    assert_string_equal(b[column(h, nh, "reading_fast")], "1");
    free(s);
    elm_bench_format_t f;
    elm_diag_t d;
    assert_int_equal(elm_bench_format_parse("csv", &f, &d), 0);
    assert_int_equal(f, ELM_BENCH_CSV);
    assert_int_equal(elm_bench_format_parse("xml", &f, &d), ELM_EINVAL);
    assert_non_null(strstr(d.msg, "jsonl"));
}

/* ---- store ---- */

static void test_store(void **state)
{
    (void)state;
    char dir[] = "/tmp/elm-store-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/sub/dir/results.db", dir);
    elm_store_t *s;
    elm_diag_t d;
    assert_int_equal(elm_store_open(path, &s, &d), 0);
    elm_record_t r;
    fake_record(&r, 2, true);
    int64_t id1, id2, n;
    assert_int_equal(elm_store_add(s, &r, &id1, &d), 0);
    fake_record(&r, 1, false);
    assert_int_equal(elm_store_add(s, &r, &id2, &d), 0);
    assert_int_equal(elm_store_count(s, &n, &d), 0);
    assert_int_equal(n, 2);
    char *json;
    assert_int_equal(elm_store_get_json(s, id2, &json, &d), 0);
    cJSON *want = elm_record_to_json(&r), *got = cJSON_Parse(json);
    assert_true(cJSON_Compare(want, got, true));
    cJSON_Delete(want);
    cJSON_Delete(got);
    free(json);
    assert_int_equal(elm_store_get_json(s, 99, &json, &d), ELM_ENOENT);
    assert_null(json);
    elm_store_close(s);

    /* the schema, read with plain SQLite */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT version FROM schema_version", -1, &st, NULL), 0);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), ELM_STORE_SCHEMA_VERSION);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT threads, quant, model_bytes, gen_tps, gen_tps_sd, "
                                        "gen_j, power_source FROM runs ORDER BY id",
                                        -1, &st, NULL),
                     0);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 2);
    assert_string_equal((const char *)sqlite3_column_text(st, 1), "Q4_0");
    assert_int_equal(sqlite3_column_int64(st, 2), 352474080);
    assert_true(fabs(sqlite3_column_double(st, 3) - 26.5) < 1e-9);
    assert_true(fabs(sqlite3_column_double(st, 4) - 0.75) < 1e-9);
    assert_true(fabs(sqlite3_column_double(st, 5) - 7) < 1e-9);
    assert_string_equal((const char *)sqlite3_column_text(st, 6), "constant");
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_type(st, 5), SQLITE_NULL); /* unavailable energy */
    assert_string_equal((const char *)sqlite3_column_text(st, 6), "none");
    sqlite3_finalize(st);
    /* a newer schema is refused by name */
    assert_int_equal(sqlite3_exec(db, "INSERT INTO schema_version VALUES (99)", NULL, NULL, NULL), 0);
    sqlite3_close(db);
    assert_int_equal(elm_store_open(path, &s, &d), ELM_ENOTSUP);
    assert_null(s);
    assert_non_null(strstr(d.msg, "schema version 99"));

    char buf[256];
    assert_int_equal(elm_store_default_path("/x/data", "/home/u", buf, sizeof buf, &d), 0);
    assert_string_equal(buf, "/x/data/edgelm/results.db");
    assert_int_equal(elm_store_default_path("", "/home/u", buf, sizeof buf, &d), 0);
    assert_string_equal(buf, "/home/u/.local/share/edgelm/results.db");
    assert_int_equal(elm_store_default_path(NULL, NULL, buf, sizeof buf, &d), ELM_ENOENT);
    assert_non_null(strstr(d.msg, "--no-db"));

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* Column 0 of the first row of sql, an integer. */
static int64_t query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void test_store_evals(void **state)
{
    (void)state;
    char dir[] = "/tmp/elm-store-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/results.db", dir);
    elm_store_t *s;
    elm_diag_t d;
    elm_record_t r;
    int64_t n, id;

    /* a v1 store: runs and schema_version only */
    assert_int_equal(elm_store_open(path, &s, &d), 0);
    fake_record(&r, 2, true);
    assert_int_equal(elm_store_add(s, &r, NULL, &d), 0);
    fake_record(&r, 1, false);
    snprintf(r.model, sizeof r.model, "/m/other.gguf");
    assert_int_equal(elm_store_add(s, &r, NULL, &d), 0);
    elm_store_close(s);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "DROP TABLE eval_items; DROP TABLE evals; "
                                  "UPDATE schema_version SET version = 1",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    /* and without the v3 columns of `runs` (docs/store.md) */
    static const char *const v3[] = {
        "git_hash", "model_sha256", "cpufreq", "nvpmodel", "target_url", "target_arrival",
        "concurrency", "requests", "errors", "error_detail", "ttft_p50_ms", "ttft_p90_ms",
        "ttft_p99_ms", "itl_p50_ms", "itl_p90_ms", "itl_p99_ms", "tps_p50", "e2e_p50_ms",
        "e2e_p99_ms", "throughput_tps", "energy_per_request_j"};
    for (size_t i = 0; i < sizeof v3 / sizeof v3[0]; i++) {
        char sql[96];
        snprintf(sql, sizeof sql, "ALTER TABLE runs DROP COLUMN %s", v3[i]);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    }
    sqlite3_close(db);

    /* opening upgrades it in place, keeping the runs */
    assert_int_equal(elm_store_open(path, &s, &d), 0);
    assert_int_equal(elm_store_count(s, &n, &d), 0);
    assert_int_equal(n, 2);
    assert_int_equal(elm_store_count_evals(s, &n, &d), 0);
    assert_int_equal(n, 0);

    elm_eval_rec_t ppl = {.kind = ELM_EVAL_PPL, .model = "/m/qwen2.5-0.5b-q4_0.gguf",
                          .model_bytes = 352474080, .quant = "Q4_0", .n = 128, .value = 6.8453,
                          .err = 0.74214, .config = "{\"kv_type\":\"f32\"}"};
    assert_int_equal(elm_store_add_eval(s, &ppl, NULL, 0, &id, &d), 0);
    assert_true(id > 0);
    elm_eval_item_t items[2] = {{.item = 7, .json = "{\"id\":7,\"correct\":true}"},
                                {.item = 9, .json = "{\"id\":9,\"correct\":false}"}};
    elm_eval_rec_t g = {.kind = ELM_EVAL_GSM8K, .model = "/m/qwen2.5-0.5b-q4_0.gguf",
                        .quant = "Q4_0", .n = 2, .value = 0.5, .err = 0.4};
    assert_int_equal(elm_store_add_eval(s, &g, items, 2, &id, &d), 0);
    g.model = "/m/other.gguf";
    g.value = 0.25;
    assert_int_equal(elm_store_add_eval(s, &g, NULL, 0, NULL, &d), 0);
    /* a failing item (duplicate) leaves nothing behind */
    elm_eval_item_t dup[2] = {items[0], items[0]};
    int64_t bad_id = 1;
    assert_int_equal(elm_store_add_eval(s, &g, dup, 2, &bad_id, &d), ELM_EIO);
    assert_int_equal(bad_id, 0);
    assert_int_equal(elm_store_count_evals(s, &n, &d), 0);
    assert_int_equal(n, 3);

    /* Table I rows: GSM8K accuracy joined with the bench row's TTFT and energy */
    elm_store_cost_row_t *rows;
    size_t nr;
    assert_int_equal(elm_store_cost_rows(s, NULL, &rows, &nr, &d), 0);
    assert_int_equal(nr, 2);
    assert_string_equal(rows[0].model, "/m/other.gguf");
    assert_true(fabs(rows[0].q - 0.25) < 1e-12);
    assert_false(rows[0].has_wh);
    assert_string_equal(rows[0].why, "no power sensor, here");
    assert_string_equal(rows[1].model, "/m/qwen2.5-0.5b-q4_0.gguf");
    assert_string_equal(rows[1].quant, "Q4_0");
    assert_true(fabs(rows[1].q - 0.5) < 1e-12);
    assert_int_equal(rows[1].q_n, 2);
    assert_true(fabs(rows[1].ttft_s - 1.345) < 1e-12);
    assert_true(rows[1].has_wh);
    assert_true(fabs(rows[1].wh - 13.0 / 3600) < 1e-12);
    free(rows);
    assert_int_equal(elm_store_cost_rows(s, "qwen", &rows, &nr, &d), 0);
    assert_int_equal(nr, 1);
    free(rows);
    assert_int_equal(elm_store_cost_rows(s, "nothing", &rows, &nr, &d), 0);
    assert_int_equal(nr, 0);
    assert_null(rows);
    elm_store_close(s);

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(query_int(db, "SELECT version FROM schema_version"), 3);
    assert_int_equal(query_int(db, "SELECT count(*) FROM schema_version"), 1);
    /* the upgrade added the v3 columns: NULL in the old rows */
    assert_int_equal(query_int(db, "SELECT count(*) FROM runs WHERE git_hash IS NULL AND "
                                   "energy_per_request_j IS NULL"), 2);
    assert_int_equal(query_int(db, "SELECT count(*) FROM eval_items WHERE eval_id = 2"), 2);
    assert_int_equal(query_int(db, "SELECT n FROM evals WHERE kind = 'ppl'"), 128);
    assert_int_equal(query_int(db, "SELECT model_bytes FROM evals WHERE id = 1"), 352474080);
    assert_int_equal(query_int(db, "SELECT count(*) FROM evals WHERE created LIKE '20__-__-__T%Z'"),
                     3);
    sqlite3_close(db);

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* ---- end to end ---- */

/* |a - b| within a relative tolerance plus an absolute one. */
static void assert_near(double a, double b, double rel, double abs_tol)
{
    if (!(fabs(a - b) <= rel * fabs(b) + abs_tol)) fail_msg("%g is not near %g", a, b);
}

static void run_point(elm_bench_t *b, const char *model, int t, int tb, elm_record_t *r)
{
    elm_bench_point_t p = {.model = model, .threads = t, .threads_batch = tb, .n_prompt = 12,
                           .n_gen = 6};
    elm_diag_t d;
    int rc = elm_bench_run(b, &p, 0, r, &d);
    if (rc) fail_msg("bench run: %s", d.msg);
    assert_int_equal(r->n_prompt, 12);
    assert_int_equal(r->n_gen, 6);
    assert_int_equal(r->n_ctx, 18);
    assert_int_equal(r->reps, 1);
    assert_string_equal(r->quant, "F32");
    assert_string_equal(r->arch, "llama");
    assert_true(r->model_bytes > 0);
    assert_true(r->load_cold_ms.valid && r->load_ms.valid && r->ttft_ms.valid);
    assert_true(r->ttft_cold_ms.mean >= r->ttft_ms.mean);
    assert_true(r->prefill_tps.valid && r->prefill_tps.mean > 0);
    assert_true(r->gen_tps.valid && r->gen_tps.mean > 0);
    assert_true(r->e2e_ms.mean >= r->ttft_ms.mean);
    assert_true(r->peak_rss_bytes.valid && r->peak_rss_bytes.mean > 0);
    assert_string_equal(r->power_source, "constant");
    /* the RSS timeline of the last run: sampled from its start, times in order */
    assert_true(r->n_rss >= 1 && r->n_rss <= ELM_REC_RSS_POINTS);
    for (uint32_t i = 0; i < r->n_rss; i++) {
        assert_true(r->rss_bytes[i] > 0);
        if (i) assert_true(r->rss_t_ms[i] >= r->rss_t_ms[i - 1]);
    }
    /* J = W × s per phase, with W = 5: the phase times from the hooks */
    const double w = 5;
    const elm_rec_energy_t *pp = &r->energy[ELM_REC_PREFILL], *tg = &r->energy[ELM_REC_GEN];
    assert_true(pp->energy_j.valid && tg->energy_j.valid && r->energy[ELM_REC_LOAD].energy_j.valid);
    assert_near(pp->avg_w.mean, w, 1e-9, 0);
    assert_near(tg->peak_w.mean, w, 1e-9, 0);
    double t_pp = 12 / r->prefill_tps.mean, t_tg = 5 / r->gen_tps.mean;
    assert_near(pp->energy_j.mean, w * t_pp, 0.25, w * 0.002);
    assert_near(tg->energy_j.mean, w * t_tg, 0.25, w * 0.002);
    assert_near(pp->j_per_token.mean, pp->energy_j.mean / 12, 1e-9, 0);
    assert_near(tg->j_per_token.mean, tg->energy_j.mean / 5, 1e-9, 0);
    assert_near(r->energy_j.mean, pp->energy_j.mean + tg->energy_j.mean, 1e-9, 0);
    assert_near(r->action_s.mean, r->energy_j.mean / 6, 1e-9, 0);
    /* counters: valid or a reason, never a silent 0 */
    for (int e = 0; e < ELM_PERF_COUNT; e++)
        assert_true(r->perf_per_token[e].valid || r->perf_per_token[e].why[0]);
    assert_true(r->reading_ratio > 0);
}

static void test_end_to_end(void **state)
{
    (void)state;
    const char *model = elm_test_data("models/stories260K-f32.gguf");
    if (!model) return;
    elm_probe_ctx_t ctx = {.watts = 5};
    elm_bench_opts_t o = elm_bench_default_opts();
    o.reps = 2;
    o.power_auto = false;
    o.power_kind = ELM_POWER_CONSTANT;
    o.probe = &ctx;
    elm_bench_t *b;
    elm_diag_t d;
    int rc = elm_bench_create(&o, &b, &d);
    if (rc) fail_msg("bench create: %s", d.msg);
    elm_record_t r;
    run_point(b, model, 1, 1, &r);
    run_point(b, model, 2, 1, &r); /* prefill and generation on different thread counts */
    assert_int_equal(r.threads, 2);
    assert_int_equal(r.threads_batch, 1);
    elm_bench_point_t bad = {.model = "/nonexistent.gguf", .threads = 1, .threads_batch = 1,
                             .n_gen = 2};
    assert_int_not_equal(elm_bench_run(b, &bad, 0, &r, &d), 0);
    assert_non_null(strstr(d.msg, "/nonexistent.gguf"));
    elm_bench_free(b);

    /* no source: energy is unavailable with the reason, never 0 */
    ctx = (elm_probe_ctx_t){.sysfs_root = "/nonexistent-root"};
    o.power_auto = true;
    o.drop_caches = true;
    assert_int_equal(elm_bench_create(&o, &b, &d), 0);
    const char *why;
    assert_string_equal(elm_bench_power(b, &why), "none");
    elm_bench_point_t p = {.model = model, .threads = 1, .threads_batch = 1, .n_gen = 3};
    rc = elm_bench_run(b, &p, 0, &r, &d);
    if (rc) fail_msg("bench run: %s", d.msg);
    assert_true(r.n_prompt > 40); /* the built-in prompt as tokenized */
    assert_false(r.energy_j.valid);
    assert_non_null(strstr(r.energy_j.why, "no power sensor"));
    assert_false(r.energy[ELM_REC_GEN].j_per_token.valid);
    assert_non_null(strstr(r.cold_note, "not dropped"));
    /* the model file's pages are evicted without root; provenance and the RSS timeline */
    assert_non_null(strstr(r.cold_note, "model file pages evicted (posix_fadvise DONTNEED)"));
    assert_int_equal(strlen(r.model_sha256), 64);
    assert_true(r.git_hash[0] != '\0');
    assert_true(!strncmp(r.cpufreq, "unavailable: ", 13)); /* no cpufreq under the fake root */
    assert_int_equal(r.n_rss, 0); /* no /proc under the fake root: no RSS timeline */
    elm_bench_free(b);

    /* repetitions below 2 leave no measured run */
    o.reps = 1;
    assert_int_equal(elm_bench_create(&o, &b, &d), ELM_EINVAL);
    assert_null(b);
}

/* ---- llama-bench's tests and the read roofline ---- */

static void test_read_sum(void **state)
{
    (void)state;
    uint8_t buf[64 * 3 + 5];
    memset(buf, 1, sizeof buf);
    /* 24 whole words of 0x0101010101010101, then 5 bytes of 1: every byte is read once */
    assert_true(elm_bench_read_sum(buf, sizeof buf) == 24 * 0x0101010101010101ull + 5);
    assert_true(elm_bench_read_sum(buf + 1, 7) == 7); /* unaligned, shorter than a line */
    assert_true(elm_bench_read_sum(buf, 0) == 0);
}

static void test_read_gbs(void **state)
{
    (void)state;
    size_t bytes = 1 << 20;
    void *buf = calloc(1, bytes);
    assert_non_null(buf);
    elm_diag_t d;
    double gbs = -1;
    for (int t = 1; t <= 2; t++) {
        assert_int_equal(elm_bench_read_gbs(buf, bytes, t, 2, &gbs, &d), 0);
        assert_true(gbs > 0 && isfinite(gbs));
    }
    /* no threads, no passes, or under 64 bytes a thread: an error naming it, and 0 GB/s */
    assert_int_equal(elm_bench_read_gbs(buf, bytes, 0, 2, &gbs, &d), ELM_EINVAL);
    assert_true(gbs == 0);
    assert_non_null(strstr(d.msg, "0 threads"));
    assert_int_equal(elm_bench_read_gbs(buf, bytes, 1, 0, &gbs, &d), ELM_EINVAL);
    assert_int_equal(elm_bench_read_gbs(buf, 100, 2, 1, &gbs, &d), ELM_EINVAL);
    assert_int_equal(elm_bench_read_gbs(buf, bytes, ELM_BENCH_MAX_READ_THREADS + 1, 1, &gbs, &d),
                     ELM_EINVAL);
    free(buf);
}

static void test_pptg(void **state)
{
    (void)state;
    const char *path = elm_test_data("models/stories260K-f32.gguf");
    if (!path) return;
    elm_model_params_t mp = elm_model_default_params();
    elm_model_t *m = NULL;
    elm_diag_t d;
    if (elm_model_load(path, &mp, NULL, &m, &d)) fail_msg("load: %s", d.msg);
    elm_stat_t st;
    /* pp16 over 3 repetitions, tg8 over 1 (sd 0), on 1 and 2 threads */
    for (int t = 1; t <= 2; t++) {
        assert_int_equal(elm_bench_pptg(m, t, 16, 0, 3, &st, &d), 0);
        assert_true(st.valid);
        assert_int_equal(st.n, 3);
        assert_true(st.mean > 0 && isfinite(st.mean) && st.sd >= 0);
        assert_int_equal(elm_bench_pptg(m, t, 0, 8, 1, &st, &d), 0);
        assert_true(st.valid && st.n == 1 && st.mean > 0 && st.sd == 0);
    }
    /* a test is ppN or tgN, never both or neither, over at least one repetition */
    assert_int_equal(elm_bench_pptg(m, 1, 16, 8, 1, &st, &d), ELM_EINVAL);
    assert_false(st.valid);
    assert_non_null(strstr(d.msg, "ppN or tgN"));
    assert_int_equal(elm_bench_pptg(m, 1, 0, 0, 1, &st, &d), ELM_EINVAL);
    assert_int_equal(elm_bench_pptg(m, 1, 16, 0, 0, &st, &d), ELM_EINVAL);
    /* the engine's errors are passed on: a thread count out of its range */
    assert_int_equal(elm_bench_pptg(m, 1 << 20, 16, 0, 1, &st, &d), ELM_ERANGE);
    assert_non_null(strstr(d.msg, "thread count"));
    assert_false(st.valid);
    elm_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_list), cmocka_unit_test(test_plan),
        cmocka_unit_test(test_stat),       cmocka_unit_test(test_format_md),
        cmocka_unit_test(test_format_json), cmocka_unit_test(test_format_csv),
        cmocka_unit_test(test_store),      cmocka_unit_test(test_store_evals),
        cmocka_unit_test(test_end_to_end), cmocka_unit_test(test_read_sum),
        cmocka_unit_test(test_read_gbs),   cmocka_unit_test(test_pptg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
