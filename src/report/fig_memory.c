/* report/: bench figures 3 to 5 — peak memory by model and quantization, the memory timeline of
 * one run with its phases shaded, latency and throughput across threads and governors, and the
 * perf counters per token. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fig_bench.h"

/* A chart titled title (NULL: none) with the numeric x axis x, width x height, or NULL when out
 * of memory. */
static elm_plot_t *chart_num(const char *title, const elm_plot_axis_t *x, const char *ylabel,
                             bool log, double w, double h)
{
    elm_plot_t *p = elm_plot_new(title, w, h);
    elm_plot_axis_t y = {.label = ylabel, .log = log, .min = NAN, .max = NAN};
    if (!p || elm_plot_x_numeric(p, x) || elm_plot_y(p, ELM_PLOT_LEFT, &y)) {
        elm_plot_free(p);
        return NULL;
    }
    return p;
}

/* Bytes shown in GB when the largest is at least one, else MB. */
static double mem_scale(double max_bytes, const char **unit)
{
    *unit = max_bytes >= 1e9 ? "GB" : "MB";
    return max_bytes >= 1e9 ? 1e-9 : 1e-6;
}

/* ---- 3. peak memory and the timeline ---- */

int elm__fig_memory(elm__bench_t *b)
{
    elm__report_t *r = b->r;
    elm__grid_t g = {0};
    elm__labels_t why = {0};
    int rc;
    elm__fig_begin(r, "fig-memory", "Peak memory by model and quantization",
                   "Sometimes Painful Fig. 3");
    if ((rc = elm__grid_build(&g, b, elm__key_family, elm__key_quant, elm__order_params)))
        goto fail;
    double max = 0;
    for (size_t i = 0; i < r->n_runs; i++)
        if (!r->runs[i].is_target && r->runs[i].peak_rss_bytes.valid &&
            r->runs[i].peak_rss_bytes.mean > max)
            max = r->runs[i].peak_rss_bytes.mean;
    const char *unit;
    const elm__val_t v = ELM__STAT(peak_rss_bytes, mem_scale(max, &unit));
    if (!elm__grid_any(&g, &v)) {
        elm__fig_none(b, &v, "No peak memory in the store", ELM__CMD_BENCH);
        goto done;
    }
    char ylabel[64];
    snprintf(ylabel, sizeof ylabel, "peak RSS (%s)", unit);
    elm_plot_t *p = elm__chart_cats(&g, NULL, "model family (by parameters)", ylabel, false);
    rc = ELM_ENOMEM;
    if (!p || elm__add_rows(p, &g, &v, &(elm__rows_t){.kind = ELM_PLOT_BAR}, &why)) {
        elm_plot_free(p);
        goto fail;
    }
    if ((rc = elm__fig_chart(r, p))) goto fail;
    elm__caption(r, &g, &why,
                 "Peak resident memory (VmHWM after the request: weights, KV cache and "
                 "buffers) per model family, one bar per quantization%s, ±1 sd. Where several "
                 "runs share a bar, the one with the highest generation speed is shown.",
                 b->multi_dev ? " and device" : "");
done:
    rc = 0;
fail:
    elm__grid_free(&g);
    elm__labels_free(&why);
    elm__fig_end(r);
    return rc;
}

/* The run whose timeline is shown: the largest model's newest run with RSS samples. */
static const elm_record_t *timeline_run(const elm__bench_t *b)
{
    const elm_record_t *best = NULL;
    for (size_t i = 0; i < b->r->n_runs; i++) {
        const elm_record_t *rec = &b->r->runs[i];
        if (rec->is_target || rec->n_rss < 2) continue;
        if (!best || elm__order_params(b, rec) >= elm__order_params(b, best)) best = rec;
    }
    return best;
}

int elm__fig_timeline(elm__bench_t *b)
{
    elm__report_t *r = b->r;
    double *xy = NULL;
    int rc = 0;
    elm__fig_begin(r, "fig-timeline", "Memory over one run", "Sometimes Painful Fig. 4");
    const elm_record_t *rec = timeline_run(b);
    if (!rec) {
        elm__fig_missing(r, "No RSS timeline in the store (bench records one per run).",
                         "edgelm bench -m MODEL.gguf -t 4 -r 3");
        goto done;
    }
    rc = ELM_ENOMEM;
    uint32_t n = rec->n_rss;
    if (!(xy = malloc(2 * n * sizeof *xy))) goto done;
    double max = 0;
    for (uint32_t i = 0; i < n; i++)
        max = fmax(max, rec->rss_bytes[i]);
    const char *unit;
    double k = mem_scale(max, &unit);
    for (uint32_t i = 0; i < n; i++) {
        xy[i] = rec->rss_t_ms[i] / 1000.0;
        xy[n + i] = rec->rss_bytes[i] * k;
    }
    char ylabel[64], name[640], gov[128];
    snprintf(ylabel, sizeof ylabel, "RSS (%s)", unit);
    elm__key_model(b, rec, name, sizeof name);
    elm_plot_t *p =
        chart_num(NULL, &(elm_plot_axis_t){"time since the sampler started (s)", false, NAN, NAN},
                  ylabel, false, 0, 0);
    if (!p) goto done;
    /* phases laid end to end from t = 0 (the load starts with the sampler) with the run's mean
     * times: the session's set-up between load and prefill is not a phase of its own */
    double t_load = rec->load_ms.valid ? rec->load_ms.mean / 1000 : NAN;
    double t_first = t_load + (rec->ttft_ms.valid ? rec->ttft_ms.mean / 1000 : NAN);
    double t_end = t_load + (rec->e2e_ms.valid ? rec->e2e_ms.mean / 1000 : NAN);
    elm_plot_series_t s = {
        .name = name, .kind = ELM_PLOT_LINE, .n = n, .x = xy, .y = xy + n, .color = 0};
    if ((isfinite(t_load) && elm_plot_band(p, 0, t_load, "load", 1)) ||
        (isfinite(t_first) && elm_plot_band(p, t_load, t_first, "prefill", 2)) ||
        (isfinite(t_end) && elm_plot_band(p, t_first, t_end, "generation", 3)) ||
        elm_plot_add(p, &s)) {
        elm_plot_free(p);
        goto done;
    }
    if ((rc = elm__fig_chart(r, p))) goto done;
    elm__governor(rec, gov, sizeof gov);
    elm__fig_caption(
        r,
        "Resident memory of %s on %s (%d thread%s, %s; %u prompt / %u generated tokens), "
        "the last measured repetition of the largest model's newest run (%s), %u "
        "samples from the start of the model load. Shaded: load, prefill and "
        "generation, placed with the run's mean load time, TTFT and end-to-end time.",
        elm__model_label(rec->model), rec->device, rec->threads, rec->threads == 1 ? "" : "s", gov,
        (unsigned)rec->n_prompt, (unsigned)rec->n_gen, rec->timestamp, (unsigned)n);
done:
    free(xy);
    elm__fig_end(r);
    return rc;
}

/* ---- 4. threads and governors ---- */

/* The distinct thread counts of model's in-process runs. */
static size_t thread_points(const elm__report_t *r, const char *model)
{
    int seen[64];
    size_t n = 0;
    for (size_t i = 0; i < r->n_runs; i++) {
        const elm_record_t *rec = &r->runs[i];
        if (rec->is_target || strcmp(rec->model, model) != 0) continue;
        size_t j = 0;
        while (j < n && seen[j] != rec->threads)
            j++;
        if (j == n && n < sizeof seen / sizeof seen[0]) seen[n++] = rec->threads;
    }
    return n;
}

const char *elm__config_model(const elm__bench_t *b)
{
    const elm_record_t *best = NULL;
    size_t best_n = 0;
    elm__labels_t seen = {0};
    for (size_t i = 0; i < b->r->n_runs; i++) {
        const elm_record_t *rec = &b->r->runs[i];
        if (rec->is_target || elm__labels_find(&seen, rec->model) >= 0) continue;
        /* out of memory: the best so far is still a fair choice */
        if (elm__labels_add(&seen, rec->model) < 0) break;
        size_t n = thread_points(b->r, rec->model);
        if (!best || n > best_n ||
            (n == best_n && elm__order_params(b, rec) > elm__order_params(b, best))) {
            best = rec;
            best_n = n;
        }
    }
    elm__labels_free(&seen);
    return best ? best->model : NULL;
}

/* One chart per value of vals against the thread count of g's categories, lines per series, the
 * first titled title (may be NULL). */
static int thread_charts(elm__report_t *r, const elm__grid_t *g, const char *title,
                         const elm__val_t *vals, const char *const *ylabels, size_t nv,
                         elm__labels_t *why)
{
    int rc = ELM_ENOMEM;
    double *x = malloc(g->cat.n * sizeof *x);
    if (!x) return rc;
    for (size_t c = 0; c < g->cat.n; c++)
        x[c] = g->order[c];
    const elm__rows_t o = {.kind = ELM_PLOT_LINE, .x = x};
    /* the measured thread counts span the axis (one count: from 0), ticks at whole threads */
    const elm_plot_axis_t ax = {.label = "threads",
                                .min = g->cat.n > 1 ? x[0] : NAN,
                                .max = g->cat.n > 1 ? x[g->cat.n - 1] : NAN,
                                .integer = true};
    for (size_t k = 0; k < nv; k++) {
        elm_plot_t *p = chart_num(k ? NULL : title, &ax, ylabels[k],
                                  elm__grid_wide(g, &vals[k], 1), 720, 250);
        if (!p || elm__add_rows(p, g, &vals[k], &o, why)) {
            elm_plot_free(p);
            goto fail;
        }
        if ((rc = elm__fig_chart(r, p))) goto fail;
        rc = ELM_ENOMEM;
    }
    rc = 0;
fail:
    free(x);
    return rc;
}

int elm__fig_threads(elm__bench_t *b)
{
    elm__report_t *r = b->r;
    elm__grid_t g = {0};
    elm__labels_t why = {0};
    int rc = 0;
    elm__fig_begin(r, "fig-threads", "Latency and throughput across threads and governors",
                   "Sometimes Painful Fig. 5");
    const char *model = elm__config_model(b);
    if (!model || thread_points(r, model) < 2) {
        elm__fig_missing(r, "No model with runs at two or more thread counts in the store.",
                         "edgelm bench -m MODEL.gguf -t 1,2,3,4 -r 5, once per governor "
                         "(cpupower frequency-set -g performance, then -g powersave)");
        goto done;
    }
    b->only = model;
    rc = elm__grid_build(&g, b, elm__key_threads, elm__key_governor, elm__order_threads);
    b->only = NULL;
    if (rc) goto done;
    const elm__val_t vals[] = {ELM__STAT(e2e_ms, 1e-3), ELM__STAT(prefill_tps, 1),
                               ELM__STAT(gen_tps, 1)};
    const char *const ylabels[] = {"end-to-end latency (s)", "prefill (tokens/s)",
                                   "generation (tokens/s)"};
    if ((rc = thread_charts(r, &g, NULL, vals, ylabels, 3, &why))) goto done;
    elm__caption(r, &g, &why,
                 "%s, the model with the most thread counts measured: end-to-end latency "
                 "(prefill start to last token), prefill and generation tokens/s against "
                 "threads, one line per governor or power mode%s, error bars ±1 sd.",
                 elm__model_label(model), b->multi_dev ? " and device" : "");
done:
    elm__grid_free(&g);
    elm__labels_free(&why);
    elm__fig_end(r);
    return rc;
}

/* ---- 5. perf counters ---- */

static const elm_perf_event_t perf_ev[] = {ELM_PERF_LLC_MISSES, ELM_PERF_CONTEXT_SWITCHES};
#define N_PERF (sizeof perf_ev / sizeof perf_ev[0])

/* One device's counters: a chart per event it recorded against threads, a line per model; the
 * events it did not record go into the caption's reasons. */
static int draw_perf(elm__bench_t *b, const elm__grid_t *g, void *user)
{
    elm__labels_t *why = user;
    char ylabels[N_PERF][96], text[512];
    const char *yl[N_PERF];
    elm__val_t vals[N_PERF];
    size_t n = 0;
    for (size_t k = 0; k < N_PERF; k++) {
        elm__val_t v = ELM__STAT(perf_per_token[0], 1);
        v.off += perf_ev[k] * sizeof(elm_stat_t);
        if (!elm__grid_any(g, &v)) {
            const char *w = elm__grid_why(g, &v);
            snprintf(text, sizeof text, "%s on %s: %s", elm_perf_event_name(perf_ev[k]), b->dev,
                     w ? w : "not recorded");
            if (elm__labels_add(why, text) < 0) return ELM_ENOMEM;
            continue;
        }
        snprintf(ylabels[n], sizeof ylabels[n], "%s per token", elm_perf_event_name(perf_ev[k]));
        yl[n] = ylabels[n];
        vals[n++] = v;
    }
    return thread_charts(b->r, g, b->dev, vals, yl, n, NULL);
}

int elm__fig_perf(elm__bench_t *b)
{
    elm__report_t *r = b->r;
    elm__labels_t why = {0};
    int rc = 0;
    elm__fig_begin(r, "fig-perf", "Cache misses and context switches per token",
                   "Sometimes Painful Figs. 6-7");
    elm__val_t vals[N_PERF];
    bool any = false;
    for (size_t k = 0; k < N_PERF; k++) {
        vals[k] = ELM__STAT(perf_per_token[0], 1);
        vals[k].off += perf_ev[k] * sizeof(elm_stat_t);
        any = any || elm__grid_any(b->md, &vals[k]);
    }
    if (!any) {
        elm__fig_none(b, &vals[0], "No perf counters in the store",
                      "sudo sysctl kernel.perf_event_paranoid=1, then: edgelm bench -m MODEL.gguf "
                      "-t 1,2,4 -r 5");
        goto done;
    }
    if ((rc = elm__per_device(b, elm__key_threads, elm__key_model, elm__order_threads, vals, N_PERF,
                              draw_perf, &why, &why)))
        goto done;
    elm__caption(r, b->md, &why,
                 "Last-level cache misses and context switches over prefill and generation, "
                 "divided by the tokens processed, against threads: one chart per device with "
                 "counters, one line per model (the fastest run per point), ±1 sd; log axis "
                 "where values span more than two decades.");
done:
    elm__labels_free(&why);
    elm__fig_end(r);
    return rc;
}
