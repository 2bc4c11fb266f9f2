/* The report's figures 8-11 (src/report/fig_quality.c, fig_cost.c, fig_route.c) on a fixture store
 * built here: the perplexity and GSM8K bars carry the evals' values, an F16 / Q4_0 pair's factors
 * are the ratio of the runs (a decrease marked, a missing figure n/a with its reason), Table I's
 * cells are what the cost library computes from the store (as `edgelm cost --db`), the routing
 * bars are a simulator comparison's means and an access log's counts, a bad simulator document
 * fails the report naming the field, and empty inputs say which command to run. */
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

#include "edgelm/report.h"
#include "edgelm/sim.h"
#include "testutil.h"

#define PI   "Raspberry Pi 5 Model B Rev 1.0"
#define LAPTOP "Intel(R) Core(TM) i7-1260P"

/* ---- the fixture ---- */

static void set_stat(elm_stat_t *s, double mean)
{
    *s = (elm_stat_t){.valid = true, .mean = mean, .n = 3};
}

static void unavailable(elm_stat_t *s, const char *why)
{
    *s = (elm_stat_t){.valid = false};
    snprintf(s->why, sizeof s->why, "%s", why);
}

/* A bench run of model on device at 4 threads; energy figures scale with jpt (0: no power). */
static void add_run(elm_store_t *s, const char *model, const char *quant, uint64_t bytes,
                    const char *device, double gen_tps, double peak_mb, double jpt)
{
    elm_record_t *r = calloc(1, sizeof *r);
    assert_non_null(r);
    snprintf(r->model, sizeof r->model, "%s", model);
    snprintf(r->quant, sizeof r->quant, "%s", quant);
    snprintf(r->device, sizeof r->device, "%s", device);
    snprintf(r->cpu_model, sizeof r->cpu_model, "%s", device);
    snprintf(r->version, sizeof r->version, "0.3.0");
    snprintf(r->timestamp, sizeof r->timestamp, "2026-11-02T10:00:00Z");
    r->model_bytes = r->weight_bytes = bytes;
    r->threads = r->threads_batch = 4;
    r->n_prompt = 64, r->n_gen = 128, r->n_ctx = 512, r->reps = 3, r->n_cpus = 4;
    set_stat(&r->prefill_tps, gen_tps * 6);
    set_stat(&r->gen_tps, gen_tps);
    set_stat(&r->ttft_ms, 640 / gen_tps * 10);
    set_stat(&r->e2e_ms, 128 / gen_tps * 1000);
    set_stat(&r->peak_rss_bytes, peak_mb * 1048576);
    if (jpt > 0) {
        set_stat(&r->energy[ELM_REC_PREFILL].j_per_token, jpt / 5);
        set_stat(&r->energy[ELM_REC_GEN].j_per_token, jpt);
        set_stat(&r->energy_j, jpt * 128 + jpt / 5 * 64);
        snprintf(r->power_source, sizeof r->power_source, "rapl");
    } else {
        for (int ph = 0; ph < ELM_REC_PHASES; ph++)
            unavailable(&r->energy[ph].j_per_token, "no power source: RAPL is not readable");
        unavailable(&r->energy_j, "no power source: RAPL is not readable");
        snprintf(r->power_source, sizeof r->power_source, "none");
    }
    elm_diag_t d;
    assert_int_equal(elm_store_add(s, r, NULL, &d), 0);
    free(r);
}

static void add_eval(elm_store_t *s, elm_eval_kind_t k, const char *model, const char *quant,
                     uint32_t n, double value, double err)
{
    elm_eval_rec_t e = {.kind = k, .model = model, .model_bytes = 1000000, .quant = quant, .n = n,
                        .value = value, .err = err};
    elm_diag_t d;
    assert_int_equal(elm_store_add_eval(s, &e, NULL, 0, NULL, &d), 0);
}

#define F16 "/models/tiny-f16.gguf"
#define Q40 "/models/tiny-q4_0.gguf"

/* Two devices, an F16 and a Q4_0 model; the laptop's Q4_0 run has no power source. */
static elm_store_t *fixture(char *dir, char *path, size_t cap)
{
    elm_store_t *s = NULL;
    elm_diag_t d;
    assert_non_null(mkdtemp(dir));
    snprintf(path, cap, "%s/results.db", dir);
    assert_int_equal(elm_store_open(path, &s, &d), 0);
    add_run(s, F16, "F16", 4000000, PI, 8, 600, 0.5);
    add_run(s, Q40, "Q4_0", 1100000, PI, 20, 180, 0.2);
    add_run(s, F16, "F16", 4000000, LAPTOP, 30, 610, 1.5);
    add_run(s, Q40, "Q4_0", 1100000, LAPTOP, 75, 190, 0);
    add_eval(s, ELM_EVAL_PPL, F16, "F16", 512, 12.5, 0.2);
    add_eval(s, ELM_EVAL_PPL, Q40, "Q4_0", 512, 13.1, 0.25);
    add_eval(s, ELM_EVAL_GSM8K, Q40, "Q4_0", 100, 0.32, 0.09);
    add_eval(s, ELM_EVAL_GSM8K, F16, "F16", 100, 0.35, 0.093);
    return s;
}

static elm_report_opts_t opts_of(elm_store_t *s, const char *path)
{
    elm_cost_opts_t cost = elm_cost_opts_default();
    cost.has_alpha = true;
    cost.cents_per_kwh = 25, cost.has_kwh = true;
    return (elm_report_opts_t){.store = s, .store_path = path, .cost = cost,
                               .generated = "2026-12-04T00:00:00Z", .version = "test"};
}

static char *report(const elm_report_opts_t *o)
{
    char *html = NULL;
    size_t len = 0;
    elm_diag_t d;
    elm_diag_clear(&d);
    int rc = elm_report_html(o, &html, &len, &d);
    if (rc) fprintf(stderr, "report: %s\n", d.msg);
    assert_int_equal(rc, 0);
    assert_non_null(html);
    assert_int_equal(strlen(html), len);
    return html;
}

/* The data-value of the mark for (series, x), or "" when there is none (static buffer). */
static const char *mark(const char *html, const char *series, const char *x)
{
    static char v[64];
    char key[512];
    snprintf(key, sizeof key, "data-series=\"%s\" data-x=\"%s\" data-value=\"", series, x);
    const char *p = strstr(html, key);
    v[0] = '\0';
    if (p) {
        p += strlen(key);
        size_t n = strcspn(p, "\"");
        snprintf(v, sizeof v, "%.*s", (int)(n < 63 ? n : 63), p);
    }
    return v;
}

static const char *num(double v)
{
    static char b[64];
    snprintf(b, sizeof b, "%.6g", v);
    return b;
}

static void cleanup(elm_store_t *s, const char *dir, const char *path)
{
    elm_store_close(s);
    unlink(path);
    rmdir(dir);
}

/* ---- tests ---- */

static void test_quality_and_factors(void **state)
{
    (void)state;
    char dir[] = "/tmp/elm-rep-XXXXXX", path[256], cell[64];
    elm_store_t *s = fixture(dir, path, sizeof path);
    elm_report_opts_t o = opts_of(s, path);
    char *html = report(&o);
    assert_non_null(strstr(html, "Quality: perplexity by model and quantization"));
    assert_non_null(strstr(html, "GSM8K pass@1 by model"));
    assert_non_null(strstr(html, "Quantization change factors against F16"));
    assert_string_equal(mark(html, "Q4_0", "tiny"), num(13.1));
    assert_string_equal(mark(html, "F16", "tiny"), num(12.5));
    /* GSM8K: the value is pass@1 as a fraction, with n in the caption */
    const char *g = strstr(html, "id=\"fig-gsm8k\"");
    assert_non_null(g);
    assert_string_equal(mark(g, "Q4_0", "tiny"), num(0.32));
    assert_non_null(strstr(g, "tiny Q4_0: 100 questions"));
    /* factors: Q4_0 over F16 on the Pi; memory fell (marked), generation rose */
    snprintf(cell, sizeof cell, "<td class=\"dec\">%.2f×</td>", 180.0 / 600.0);
    assert_non_null(strstr(html, cell));
    snprintf(cell, sizeof cell, "<td>%.2f×</td>", 20.0 / 8.0);
    assert_non_null(strstr(html, cell));
    /* the laptop's Q4_0 run had no power: n/a with the reason as a note */
    assert_non_null(strstr(html, "<td>n/a [1]</td>"));
    assert_non_null(strstr(html, "[1] Q4_0 run: no power source: RAPL is not readable"));
    free(html);
    cleanup(s, dir, path);
}

static void test_cost_table(void **state)
{
    (void)state;
    char dir[] = "/tmp/elm-rep-XXXXXX", path[256], row[1024];
    elm_store_t *s = fixture(dir, path, sizeof path);
    elm_report_opts_t o = opts_of(s, path);
    char *html = report(&o);
    /* what `edgelm cost --db` computes from the same store */
    elm_cost_row_t *rows = NULL;
    size_t n = 0;
    elm_diag_t d;
    assert_int_equal(elm_cost_rows_from_store(s, NULL, path, &o.cost, &rows, &n, &d), 0);
    assert_int_equal(n, 2);
    elm_cost_table_compute(rows, n, &o.cost);
    for (size_t i = 0; i < n; i++) {
        const elm_cost_row_t *w = &rows[i];
        if (!w->has_cpr) {
            /* the newest Q4_0 run (the laptop's) had no power: n/a with the library's reason */
            assert_string_equal(w->platform, "tiny-q4_0.gguf");
            snprintf(row, sizeof row, "<tr><td>%s</td><td>n/a [", w->platform);
            assert_non_null(strstr(html, row));
            assert_non_null(strstr(html, w->why));
            continue;
        }
        snprintf(row, sizeof row,
                 "<tr><td>%s</td><td>%.4g</td><td>%g</td><td>%.3g</td><td>%.4g</td><td>%.4g</td>"
                 "<td>%.2f</td><td>%.2f</td></tr>",
                 w->platform, w->cpr, w->cpr_paper, w->q, w->r, w->u, w->pcr, w->pcr_paper);
        assert_non_null(strstr(html, row));
    }
    free(rows);
    /* a cloud row: CPR from the price table at the runs' mean tokens, Q and R n/a */
    const elm_price_t *p = elm_prices_find(elm_prices_default(), "gpt-4o");
    double cpr;
    assert_int_equal(elm_cpr_cloud(64, 128, p, &cpr, &d), 0);
    snprintf(row, sizeof row, "<tr><td>gpt-4o</td><td>%.4g</td>", cpr);
    assert_non_null(strstr(html, row));
    assert_non_null(strstr(html, "α = 0.5"));
    /* cost per million tokens: the Pi's Q4_0 output at 25 ¢/kWh, and the cloud's list price */
    double usd;
    assert_int_equal(elm_cost_per_mtok(0.2, 25, &usd, &d), 0);
    assert_string_equal(mark(html, "output (generation)", "tiny-q4_0 · Raspberry Pi 5"), num(usd));
    assert_string_equal(mark(html, "output (generation)", "gpt-4o (cloud)"),
                        num(p->usd_per_m_out));
    assert_string_equal(mark(html, "output (generation)", "tiny-q4_0 · Intel Core i7-1260P"), "nan");
    /* battery: the Pi on 37 Wh */
    elm_battery_t b;
    assert_int_equal(elm_battery(37, (0.2 * 128 + 0.04 * 64) / 3600, 128.0 / 20, &b, &d), 0);
    assert_string_equal(mark(html, "runs", "tiny-q4_0 · Raspberry Pi 5"), num(b.runs));
    /* break-even: the two devices on the F16 model, a heatmap of cells */
    const char *be = strstr(html, "id=\"fig-breakeven\"");
    assert_non_null(be);
    assert_non_null(strstr(be, "class=\"cell\""));
    free(html);
    cleanup(s, dir, path);
}

static char *write_temp(const char *text, const char *suffix)
{
    char *path = malloc(64);
    assert_non_null(path);
    snprintf(path, 64, "/tmp/elm-rep-XXXXXX%s", suffix);
    int fd = mkstemps(path, (int)strlen(suffix));
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static const char access_log[] =
    "{\"t_ms\":1000,\"id\":1,\"endpoint\":\"chat\",\"stream\":true,\"est_in\":20,\"est_out\":40,"
    "\"estimated\":true,\"decision\":\"device\",\"reason\":\"ok\",\"device\":\"pi\",\"attempts\":1,"
    "\"status\":200,\"prompt_tokens\":18,\"completion_tokens\":40,\"ttft_ms\":30,\"duration_ms\":"
    "900,\"tokens_per_s\":44,\"cost_usd\":0,\"outcome\":\"served\"}\n"
    "{\"t_ms\":1500,\"id\":2,\"endpoint\":\"chat\",\"stream\":true,\"est_in\":20,\"est_out\":40,"
    "\"estimated\":true,\"decision\":\"device\",\"reason\":\"ok\",\"device\":\"pi\",\"attempts\":1,"
    "\"status\":200,\"prompt_tokens\":18,\"completion_tokens\":40,\"ttft_ms\":30,\"duration_ms\":"
    "900,\"tokens_per_s\":44,\"cost_usd\":0,\"outcome\":\"served\"}\n"
    "{\"t_ms\":1700,\"id\":3,\"endpoint\":\"chat\",\"stream\":true,\"est_in\":20,\"est_out\":40,"
    "\"estimated\":true,\"decision\":\"device\",\"reason\":\"ok\",\"device\":\"jetson\","
    "\"attempts\":1,\"status\":200,\"prompt_tokens\":18,\"completion_tokens\":40,\"ttft_ms\":30,"
    "\"duration_ms\":900,\"tokens_per_s\":44,\"cost_usd\":0,\"outcome\":\"served\"}\n"
    "{\"t_ms\":1800,\"id\":4,\"endpoint\":\"chat\",\"stream\":true,\"est_in\":20,\"est_out\":40,"
    "\"estimated\":true,\"decision\":\"cloud\",\"reason\":\"concurrency_full\",\"device\":"
    "\"cloud\",\"attempts\":1,\"status\":200,\"prompt_tokens\":18,\"completion_tokens\":40,"
    "\"ttft_ms\":30,\"duration_ms\":900,\"tokens_per_s\":44,\"cost_usd\":0.0001,\"outcome\":"
    "\"redirected\"}\n";

static void test_routing(void **state)
{
    (void)state;
    elm_cluster_config_t c;
    elm_sim_scenario_t sc[4];
    elm_sim_compare_t x;
    elm_diag_t d;
    assert_int_equal(elm_sim_cluster_builtin(&c, &d), 0);
    uint32_t n = elm_sim_scenarios_paper(sc);
    elm_sim_sweep_t sw = {.n_users = 30, .duration_ms = 10 * 60000, .step_ms = 60000, .seed = 1,
                          .n_seeds = 3, .keep_runs = true};
    assert_int_equal(elm_sim_compare(&c, sc, n, &sw, NULL, NULL, &x, &d), 0);
    char *json = elm_sim_json(&x);
    assert_non_null(json);
    char *sim = write_temp(json, ".json"), *log = write_temp(access_log, ".jsonl");
    const char *sims[] = {sim}, *logs[] = {log};
    elm_report_opts_t o = opts_of(NULL, NULL);
    o.sim_paths = sims, o.n_sim = 1;
    char *html = report(&o);
    assert_non_null(strstr(html, "id=\"fig-routing\""));
    for (uint32_t i = 0; i < n; i++) {
        const elm_sim_summary_t *s = &x.sc[i];
        assert_string_equal(mark(html, "processed on a device", s->label),
                            num(s->mean[ELM_SIM_M_PROCESSED]));
        assert_string_equal(mark(html, "rejected", s->label), num(s->mean[ELM_SIM_M_REJECTED]));
        assert_string_equal(mark(html, "tokens redirected", s->label),
                            num(s->mean[ELM_SIM_M_TOK_REDIRECTED]));
        assert_string_equal(mark(html, x.dev_name[0], s->label), num(s->dev_util[0]));
    }
    free(html);
    /* with a log too: labels name their files, the log's bars are its counts and shares */
    o.log_paths = logs, o.n_log = 1;
    html = report(&o);
    char label[256];
    snprintf(label, sizeof label, "%s: %s", strrchr(sim, '/') + 1, x.sc[0].label);
    assert_string_equal(mark(html, "processed on a device", label),
                        num(x.sc[0].mean[ELM_SIM_M_PROCESSED]));
    snprintf(label, sizeof label, "%s (recorded)", strrchr(log, '/') + 1);
    assert_string_equal(mark(html, "processed on a device", label), "3");
    assert_string_equal(mark(html, "redirected to the cloud", label), "1");
    assert_string_equal(mark(html, "pi", label), num(2.0 / 3));
    free(html);
    /* a document without a field fails the report, naming the file and the field */
    char *bad = strstr(json, "\"ci95\"");
    assert_non_null(bad);
    memcpy(bad, "\"ci96\"", 6);
    char *badp = write_temp(json, ".json");
    sims[0] = badp;
    o.n_log = 0;
    char *out = (char *)1;
    size_t len;
    assert_int_equal(elm_report_html(&o, &out, &len, &d), ELM_EINVAL);
    assert_null(out);
    assert_non_null(strstr(d.msg, badp));
    assert_non_null(strstr(d.msg, "scenarios[0].summary.processed.ci95"));
    /* names that do not match the runs' devices one for one fail it too */
    memcpy(bad, "\"ci95\"", 6);
    char *first = strstr(json, "\"raspberry-pi-5\", ");
    assert_non_null(first);
    memmove(first, first + 18, strlen(first + 18) + 1);
    char *badn = write_temp(json, ".json");
    sims[0] = badn;
    out = (char *)1;
    assert_int_equal(elm_report_html(&o, &out, &len, &d), ELM_EINVAL);
    assert_null(out);
    assert_non_null(strstr(d.msg, "devices: 2 names for 3 devices"));
    unlink(sim), unlink(log), unlink(badp), unlink(badn);
    free(sim), free(log), free(badp), free(badn), free(json);
    elm_sim_compare_free(&x);
}

static void test_empty(void **state)
{
    (void)state;
    char dir[] = "/tmp/elm-rep-XXXXXX", path[256];
    elm_store_t *s = NULL;
    elm_diag_t d;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/results.db", dir);
    assert_int_equal(elm_store_open(path, &s, &d), 0);
    for (int with_store = 0; with_store < 2; with_store++) {
        elm_report_opts_t o = opts_of(with_store ? s : NULL, path);
        char *html = report(&o);
        static const char *const want[] = {
            "No perplexity result in the store.",
            "edgelm eval ppl -m MODEL.gguf -f wiki.test.raw -c 512",
            "No GSM8K result in the store.",
            "edgelm eval gsm8k -m MODEL.gguf -n 250",
            "No model family with both an F16",
            "No model in the store has both a GSM8K result",
            "No bench run with energy per token in the store.",
            "No bench run with energy and end-to-end time in the store.",
            "No model measured with energy per token on two devices",
            "No simulator comparison or gateway access log given.",
            "edgelm simulate --compare --json sim.json"};
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
            if (!strstr(html, want[i])) fprintf(stderr, "missing: %s\n", want[i]);
            assert_non_null(strstr(html, want[i]));
        }
        free(html);
    }
    cleanup(s, dir, path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quality_and_factors),
        cmocka_unit_test(test_cost_table),
        cmocka_unit_test(test_routing),
        cmocka_unit_test(test_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
