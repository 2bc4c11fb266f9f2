/* The report's bench figures 1-7 (src/report/fig_bench.c, fig_memory.c, fig_phases.c) from a
 * fixture store of 2 devices x 2 models x 2 quantizations x threads 1, 2 x 2 governors: every
 * title, the bars and points of chosen cells read back from their data attributes, the OOM and
 * unavailable notes, the timeline; and the empty store's commands. */
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
#include "edgelm/store.h"
#include "testutil.h"

static const char PI[] = "Raspberry Pi 5 Model B Rev 1.0";
static const char JETSON[] = "Jetson Orin Nano";
static const char NO_POWER[] = "no power sensor (--watts W or --power-cmd CMD give one)";

static const struct {
    const char *family;
    double params;
} models[] = {{"qwen2.5-0.5b", 0.494e9}, {"llama-3.2-1b", 1.24e9}};

static const struct {
    const char *name, *file;
    double bits;
} quants[] = {{"Q4_0", "q4_0", 4.5}, {"Q8_0", "q8_0", 8.5}};

/* ---- the fixture ---- */

static void stat_set(elm_stat_t *s, double mean, double sd)
{
    *s = (elm_stat_t){.valid = true, .mean = mean, .sd = sd, .n = 4};
}

static void stat_bad(elm_stat_t *s, const char *why)
{
    *s = (elm_stat_t){.valid = false};
    snprintf(s->why, sizeof s->why, "%s", why);
}

/* Generation speed of a configuration: smaller models, Q4_0, two threads, the performance
 * governor and the Jetson are faster; so the best configuration is 2 threads, performance. */
static double gen_tps(int dev, int m, int q, int threads, int gov)
{
    return 10.0 / (models[m].params / 1e9) * (q == 0 ? 1.6 : 1.0) * (threads == 2 ? 1.7 : 1.0) *
           (gov == 0 ? 1.0 : 0.6) * (dev == 0 ? 1.0 : 1.4);
}

static double ttft_ms(int dev, int m, int q, int threads, int gov)
{
    return 64 / (4 * gen_tps(dev, m, q, threads, gov)) * 1000;
}

static double load_ms(int m, int q)
{
    return 150 + models[m].params * quants[q].bits / 8 / 2e6;
}

static double e2e_ms(int dev, int m, int q, int threads, int gov)
{
    return ttft_ms(dev, m, q, threads, gov) + 31 / gen_tps(dev, m, q, threads, gov) * 1000;
}

static void fixture_record(elm_record_t *r, int dev, int m, int q, int threads, int gov, int seq)
{
    memset(r, 0, sizeof *r);
    snprintf(r->model, sizeof r->model, "/models/%s-%s.gguf", models[m].family, quants[q].file);
    snprintf(r->quant, sizeof r->quant, "%s", quants[q].name);
    snprintf(r->arch, sizeof r->arch, m == 0 ? "qwen2" : "llama");
    r->weight_bytes = (uint64_t)(models[m].params * quants[q].bits / 8);
    r->model_bytes = r->weight_bytes + 4000000;
    r->threads = r->threads_batch = threads;
    r->n_prompt = 64, r->n_gen = 32, r->n_ctx = 96, r->reps = 4;
    snprintf(r->device, sizeof r->device, "%s", dev == 0 ? PI : JETSON);
    snprintf(r->cpu_model, sizeof r->cpu_model, dev == 0 ? "Cortex-A76" : "Cortex-A78AE");
    r->n_cpus = dev == 0 ? 4 : 6;
    snprintf(r->version, sizeof r->version, "0.3.0");
    snprintf(r->git_hash, sizeof r->git_hash, "abc1234");
    snprintf(r->timestamp, sizeof r->timestamp, "2026-11-01T10:%02d:%02dZ", seq / 60, seq % 60);
    snprintf(r->cpufreq, sizeof r->cpufreq, "governor %s, 2400 MHz (cpu0)",
             gov == 0 ? "performance" : "powersave");
    if (dev == 0)
        snprintf(r->nvpmodel, sizeof r->nvpmodel, "unavailable: not a Jetson");
    else
        snprintf(r->nvpmodel, sizeof r->nvpmodel, gov == 0 ? "MAXN" : "7W");
    double tps = gen_tps(dev, m, q, threads, gov);
    stat_set(&r->gen_tps, tps, tps / 20);
    stat_set(&r->ttft_ms, ttft_ms(dev, m, q, threads, gov), 3);
    stat_set(&r->prefill_tps, 4 * tps, tps / 5);
    stat_set(&r->load_ms, load_ms(m, q), 5);
    stat_set(&r->load_cold_ms, load_ms(m, q) * 3, 0);
    stat_set(&r->ttft_cold_ms, load_ms(m, q) + 20 + ttft_ms(dev, m, q, threads, gov), 6);
    stat_set(&r->e2e_ms, e2e_ms(dev, m, q, threads, gov), 9);
    stat_set(&r->peak_rss_bytes, (double)r->weight_bytes * 1.1 + 60e6, 1e6);
    if (dev == 0) {
        snprintf(r->power_source, sizeof r->power_source, "rpi5");
        double w = 5.5 + threads;
        stat_set(&r->energy[ELM_REC_LOAD].energy_j, w * load_ms(m, q) / 1000, 0.1);
        stat_bad(&r->energy[ELM_REC_LOAD].j_per_token, "load produces no tokens");
        stat_set(&r->energy[ELM_REC_PREFILL].j_per_token, w / (4 * tps), 0.001);
        stat_set(&r->energy[ELM_REC_GEN].j_per_token, w / tps, 0.01);
        stat_set(&r->energy[ELM_REC_GEN].avg_w, w, 0.2);
        double j = w * e2e_ms(dev, m, q, threads, gov) / 1000;
        stat_set(&r->energy_j, j, j / 50);
        stat_set(&r->action_s, j / 32, j / 1600);
        for (int e = 0; e < ELM_PERF_COUNT; e++)
            stat_bad(&r->perf_per_token[e], "unsupported: not permitted (perf_event_paranoid 3)");
    } else {
        snprintf(r->power_source, sizeof r->power_source, "none");
        for (int p = 0; p < ELM_REC_PHASES; p++) {
            stat_bad(&r->energy[p].energy_j, NO_POWER);
            stat_bad(&r->energy[p].j_per_token, NO_POWER);
            stat_bad(&r->energy[p].avg_w, NO_POWER);
            stat_bad(&r->energy[p].peak_w, NO_POWER);
        }
        stat_bad(&r->energy_j, NO_POWER);
        stat_bad(&r->action_s, NO_POWER);
        for (int e = 0; e < ELM_PERF_COUNT; e++)
            stat_set(&r->perf_per_token[e], 1000.0 * (e + 1) * threads * (m + 1), 10);
    }
    r->n_rss = 40;
    double end = load_ms(m, q) + e2e_ms(dev, m, q, threads, gov);
    for (uint32_t i = 0; i < r->n_rss; i++) {
        r->rss_t_ms[i] = (float)(end * i / (r->n_rss - 1));
        r->rss_bytes[i] = (double)r->weight_bytes * fmin(1.0, 1.5 * i / r->n_rss) + 20e6;
    }
}

/* A --target run that failed for memory: the server's model name and the device. */
static void oom_record(elm_record_t *r, const char *model, const char *device, int seq)
{
    memset(r, 0, sizeof *r);
    r->is_target = true;
    snprintf(r->model, sizeof r->model, "%s", model);
    snprintf(r->quant, sizeof r->quant, "?");
    snprintf(r->device, sizeof r->device, "%s", device);
    snprintf(r->timestamp, sizeof r->timestamp, "2026-11-01T11:00:%02dZ", seq);
    snprintf(r->target.model, sizeof r->target.model, "%s", model);
    r->target.n_requests = 4, r->target.n_errors = 4;
    snprintf(r->target.errors, sizeof r->target.errors,
             "4 x HTTP 500: failed to allocate the KV cache: out of memory");
    stat_bad(&r->gen_tps, "no request completed");
}

typedef struct {
    char dir[64], db[96];
    elm_store_t *store;
    char *html;
    size_t len;
} fx_t;

/* Write the fixture (full: every run; else an empty store) and make its report. */
static void fx_make(fx_t *f, bool full)
{
    elm_diag_t d;
    snprintf(f->dir, sizeof f->dir, "/tmp/elm-report-bench-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof f->db, "%s/results.db", f->dir);
    assert_int_equal(elm_store_open(f->db, &f->store, &d), 0);
    elm_record_t *r = malloc(sizeof *r);
    assert_non_null(r);
    int seq = 0;
    for (int dev = 0; full && dev < 2; dev++)
        for (int m = 0; m < 2; m++)
            for (int q = 0; q < 2; q++)
                for (int t = 1; t <= 2; t++)
                    for (int g = 0; g < 2; g++) {
                        /* the Jetson cannot hold llama Q8_0: its target run says OOM below */
                        if (dev == 1 && m == 1 && q == 1) continue;
                        fixture_record(r, dev, m, q, t, g, seq++);
                        assert_int_equal(elm_store_add(f->store, r, NULL, &d), 0);
                    }
    if (full) {
        oom_record(r, "llama-3.2-1b-q8_0", JETSON, 1);
        assert_int_equal(elm_store_add(f->store, r, NULL, &d), 0);
        oom_record(r, "mistral-7b-q4_0", PI, 2);
        assert_int_equal(elm_store_add(f->store, r, NULL, &d), 0);
    }
    free(r);
    elm_report_opts_t o = {.store = f->store,
                           .store_path = f->db,
                           .cost = elm_cost_opts_default(),
                           .generated = "2026-11-02T00:00:00Z",
                           .version = "0.3.0 (test)"};
    int rc = elm_report_html(&o, &f->html, &f->len, &d);
    if (rc) fprintf(stderr, "report: %s\n", d.msg);
    assert_int_equal(rc, 0);
    assert_non_null(f->html);
}

static void fx_free(fx_t *f)
{
    char path[128];
    elm_store_close(f->store);
    free(f->html);
    snprintf(path, sizeof path, "%s/results.db", f->dir);
    unlink(path);
    rmdir(f->dir);
}

/* ---- reading the page back ---- */

/* The HTML of the figure with anchor id, as a malloc'd string (the test frees it). */
static char *section(const char *html, const char *id)
{
    char key[64];
    snprintf(key, sizeof key, "id=\"%s\"", id);
    const char *s = strstr(html, key);
    if (!s) fail_msg("no figure %s", id);
    const char *e = strstr(s, "</section>");
    assert_non_null(e);
    return strndup(s, (size_t)(e - s));
}

/* The start tag (malloc'd) of the first mark of class cls in sec with data-series and data-x,
 * and *text the text that follows it up to the next tag (malloc'd; may be NULL); NULL when
 * none. */
static char *mark(const char *sec, const char *cls, const char *series, const char *x, char **text)
{
    char cs[64], ss[256], xs[256];
    snprintf(cs, sizeof cs, "class=\"%s\"", cls);
    snprintf(ss, sizeof ss, "data-series=\"%s\"", series);
    snprintf(xs, sizeof xs, "data-x=\"%s\"", x);
    for (const char *p = strstr(sec, ss); p; p = strstr(p + 1, ss)) {
        const char *a = p;
        while (a > sec && *a != '<')
            a--;
        const char *b = strchr(p, '>');
        if (!b) break;
        char *tag = strndup(a, (size_t)(b - a + 1));
        if (strstr(tag, cs) && strstr(tag, xs)) {
            if (text) {
                const char *t = b + 1, *end = strchr(t, '<');
                *text = strndup(t, end ? (size_t)(end - t) : strlen(t));
            }
            return tag;
        }
        free(tag);
    }
    return NULL;
}

/* The data-value of the mark, as text. */
static void value_of(const char *tag, char *buf, size_t cap)
{
    const char *v = strstr(tag, "data-value=\"");
    assert_non_null(v);
    v += 12;
    snprintf(buf, cap, "%.*s", (int)strcspn(v, "\""), v);
}

/* Assert the mark (cls, series, x) in figure id carries value v (%.6g). */
static void assert_mark(const char *html, const char *id, const char *cls, const char *series,
                        const char *x, double v)
{
    char *sec = section(html, id), want[32], got[64];
    char *tag = mark(sec, cls, series, x, NULL);
    if (!tag) fail_msg("%s: no %s for (%s, %s)", id, cls, series, x);
    value_of(tag, got, sizeof got);
    snprintf(want, sizeof want, "%.6g", v);
    if (strcmp(got, want) != 0) fail_msg("%s (%s, %s): %s, not %s", id, series, x, got, want);
    free(tag);
    free(sec);
}

/* Assert the unavailable mark (series, x) in figure id shows note. */
static void assert_note(const char *html, const char *id, const char *series, const char *x,
                        const char *note)
{
    char *sec = section(html, id), *text = NULL, got[64];
    char *tag = mark(sec, "na", series, x, &text);
    if (!tag) fail_msg("%s: no unavailable mark for (%s, %s)", id, series, x);
    value_of(tag, got, sizeof got);
    assert_string_equal(got, "nan");
    assert_non_null(text);
    if (!strstr(text, note))
        fail_msg("%s (%s, %s): note '%s', not '%s'", id, series, x, text, note);
    free(text);
    free(tag);
    free(sec);
}

/* ---- the tests ---- */

static const char *const ids[] = {"fig-speed",        "fig-energy", "fig-memory", "fig-timeline",
                                  "fig-threads",      "fig-perf",   "fig-phases", "fig-ttft",
                                  "fig-energy-token", "fig-action"};
static const char *const titles[] = {"Generation speed and TTFT by model",
                                     "Energy per query and average power by model",
                                     "Peak memory by model and quantization",
                                     "Memory over one run",
                                     "Latency and throughput across threads and governors",
                                     "Cache misses and context switches per token",
                                     "Load time, prefill and generation throughput for all models",
                                     "TTFT breakdown",
                                     "Energy per token",
                                     "Action per token S = E/t"};

static void test_titles_and_charts(void **state)
{
    (void)state;
    fx_t f = {0};
    fx_make(&f, true);
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        if (!strstr(f.html, titles[i])) fail_msg("no title '%s'", titles[i]);
        char *sec = section(f.html, ids[i]);
        /* every figure has data here except the perf counters' Pi half, which are notes */
        if (!strstr(sec, "<svg")) fail_msg("%s: no chart", ids[i]);
        if (strstr(sec, "class=\"missing\"")) fail_msg("%s: says missing", ids[i]);
        free(sec);
    }
    fx_free(&f);
}

static void test_speed(void **state)
{
    (void)state;
    fx_t f = {0};
    fx_make(&f, true);
    /* the best configuration of each (model, device): 2 threads, performance */
    assert_mark(f.html, "fig-speed", "bar", PI, "qwen2.5-0.5b Q4_0", gen_tps(0, 0, 0, 2, 0));
    assert_mark(f.html, "fig-speed", "bar", JETSON, "llama-3.2-1b Q4_0", gen_tps(1, 1, 0, 2, 0));
    char ttft[128];
    snprintf(ttft, sizeof ttft, "%s TTFT", PI);
    assert_mark(f.html, "fig-speed", "pt", ttft, "llama-3.2-1b Q8_0",
                ttft_ms(0, 1, 1, 2, 0) / 1000);
    /* OOM: matched to the measured model it names, and a model only a server knew */
    assert_note(f.html, "fig-speed", JETSON, "llama-3.2-1b Q8_0", "OOM");
    assert_note(f.html, "fig-speed", PI, "mistral-7b-q4_0", "OOM");
    /* models by parameters: qwen before llama, the unknown one last */
    char *sec = section(f.html, "fig-speed");
    const char *q = strstr(sec, "qwen2.5-0.5b Q4_0"), *l = strstr(sec, "llama-3.2-1b Q4_0"),
               *m = strstr(sec, "mistral-7b-q4_0");
    assert_true(q && l && m && q < l && l < m);
    assert_non_null(strstr(sec, "human reading speed"));
    free(sec);
    fx_free(&f);
}

static void test_energy_memory_phases(void **state)
{
    (void)state;
    fx_t f = {0};
    fx_make(&f, true);
    double wh = (5.5 + 2) * e2e_ms(0, 0, 1, 2, 0) / 1000 / 3600;
    assert_mark(f.html, "fig-energy", "bar", PI, "qwen2.5-0.5b Q8_0", wh);
    assert_note(f.html, "fig-energy", JETSON, "qwen2.5-0.5b Q8_0", "no power sensor");
    char *sec = section(f.html, "fig-energy");
    assert_non_null(strstr(sec, NO_POWER)); /* the caption gives the whole reason */
    free(sec);
    char series[128];
    snprintf(series, sizeof series, "Q8_0 · %s", PI);
    elm_record_t r;
    fixture_record(&r, 0, 1, 1, 2, 0, 0);
    assert_mark(f.html, "fig-memory", "bar", series, "llama-3.2-1b", r.peak_rss_bytes.mean * 1e-9);
    assert_mark(f.html, "fig-phases", "bar", JETSON, "qwen2.5-0.5b Q4_0", load_ms(0, 0) / 1000);
    assert_mark(f.html, "fig-action", "bar", PI, "llama-3.2-1b Q4_0",
                (5.5 + 2) * e2e_ms(0, 1, 0, 2, 0) / 1000 / 32);
    assert_note(f.html, "fig-action", JETSON, "llama-3.2-1b Q4_0", "no power sensor");
    fx_free(&f);
}

static void test_timeline_threads_perf(void **state)
{
    (void)state;
    fx_t f = {0};
    fx_make(&f, true);
    char *sec = section(f.html, "fig-timeline");
    /* the largest model's newest run: llama Q4_0 and Q8_0 tie on parameters; Q4_0 on the
     * Jetson was written last; its load phase ends at its mean load time */
    assert_non_null(strstr(sec, "llama-3.2-1b-q4_0.gguf on Jetson Orin Nano"));
    char band[64];
    snprintf(band, sizeof band, "data-x0=\"0\" data-x1=\"%.6g\"", load_ms(1, 0) / 1000);
    if (!strstr(sec, band)) fail_msg("fig-timeline: no load band %s", band);
    assert_non_null(strstr(sec, ">prefill<"));
    assert_non_null(strstr(sec, ">generation<"));
    free(sec);
    /* threads: the model with the most thread counts (llama Q4_0, the largest), a line per
     * governor or power mode and device; the first chart is end-to-end latency */
    char series[128];
    snprintf(series, sizeof series, "performance · %s", PI);
    assert_mark(f.html, "fig-threads", "pt", series, "2", e2e_ms(0, 1, 0, 2, 0) / 1000);
    snprintf(series, sizeof series, "MAXN · %s", JETSON);
    assert_mark(f.html, "fig-threads", "pt", series, "1", e2e_ms(1, 1, 0, 1, 0) / 1000);
    /* perf: the Jetson's counters (LLC misses first), the Pi's reason in the caption */
    assert_mark(f.html, "fig-perf", "pt", "llama-3.2-1b Q4_0", "2", 1000.0 * 4 * 2 * 2);
    sec = section(f.html, "fig-perf");
    snprintf(series, sizeof series, "%s: unsupported: not permitted (perf_event_paranoid 3)", PI);
    assert_non_null(strstr(sec, series));
    free(sec);
    fx_free(&f);
}

static void test_empty_store(void **state)
{
    (void)state;
    fx_t f = {0};
    fx_make(&f, false);
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        if (!strstr(f.html, titles[i])) fail_msg("no title '%s'", titles[i]);
        char *sec = section(f.html, ids[i]);
        if (!strstr(sec, "class=\"missing\"")) fail_msg("%s: not missing", ids[i]);
        if (!strstr(sec, "edgelm bench -m ")) fail_msg("%s: no command", ids[i]);
        if (strstr(sec, "<svg")) fail_msg("%s: an empty chart", ids[i]);
        free(sec);
    }
    fx_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_titles_and_charts),    cmocka_unit_test(test_speed),
        cmocka_unit_test(test_energy_memory_phases), cmocka_unit_test(test_timeline_threads_perf),
        cmocka_unit_test(test_empty_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
