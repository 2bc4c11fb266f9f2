/* report/: bench figures 6 and 7 — load time, prefill and generation throughput for all models,
 * the cold TTFT broken into load and prefill, energy per token by configuration and by model, and
 * action per token S = E/t. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fig_bench.h"

/* One categorical chart of g per value, bars per series, log where the values span decades. */
static int bar_charts(elm__report_t *r, const elm__grid_t *g, const char *xlabel,
                      const elm__val_t *vals, const char *const *ylabels, size_t nv,
                      elm__labels_t *why)
{
    for (size_t k = 0; k < nv; k++) {
        elm_plot_t *p =
            elm__chart_cats(g, NULL, xlabel, ylabels[k], elm__grid_wide(g, &vals[k], 1));
        if (!p || elm__add_rows(p, g, &vals[k], &(elm__rows_t){.kind = ELM_PLOT_BAR}, why)) {
            elm_plot_free(p);
            return ELM_ENOMEM;
        }
        int rc = elm__fig_chart(r, p);
        if (rc) return rc;
    }
    return 0;
}

/* ---- 6. load, prefill and generation; the TTFT breakdown ---- */

int elm__fig_phases(elm__bench_t *b)
{
    elm__report_t *r = b->r;
    elm__labels_t why = {0};
    int rc = 0;
    elm__fig_begin(r, "fig-phases", "Load time, prefill and generation throughput for all models",
                   "Sometimes Painful Fig. 8");
    if (!b->n_runs) {
        elm__fig_missing(r, "No in-process bench runs in the store.", ELM__CMD_BENCH);
        goto done;
    }
    const elm__val_t vals[] = {ELM__STAT(load_ms, 1e-3), ELM__STAT(prefill_tps, 1),
                               ELM__STAT(gen_tps, 1)};
    const char *const ylabels[] = {"load time (s)", "prefill (tokens/s)", "generation (tokens/s)"};
    if ((rc = bar_charts(r, b->md, "model (by parameters)", vals, ylabels, 3, &why))) goto done;
    elm__caption(
        r, b->md, &why,
        "Warm model load time (the repetitions after the warm-up, page cache filled), prefill "
        "and generation tokens/s per model and device, ±1 sd; log axis where values span "
        "more than two decades. The same runs as figure 1 (the fastest per model and "
        "device).");
done:
    elm__labels_free(&why);
    elm__fig_end(r);
    return rc;
}

/* One device's TTFT breakdown: load and prefill stacked per model, the measured cold TTFT as a
 * point. */
static int draw_ttft(elm__bench_t *b, const elm__grid_t *g, void *user)
{
    elm__labels_t *why = user;
    elm_plot_t *p = elm__chart_cats(g, b->dev, "model (by parameters)", "time (s)", false);
    if (!p ||
        elm__add_rows(p, g, &ELM__STAT(load_ms, 1e-3),
                      &(elm__rows_t){.kind = ELM_PLOT_STACK, .suffix = "load"}, why) ||
        elm__add_rows(p, g, &ELM__STAT(ttft_ms, 1e-3),
                      &(elm__rows_t){.kind = ELM_PLOT_STACK,
                                     .suffix = "prefill to first token",
                                     .color0 = 1,
                                     .quiet = true},
                      why) ||
        elm__add_rows(
            p, g, &ELM__STAT(ttft_cold_ms, 1e-3),
            &(elm__rows_t){
                .kind = ELM_PLOT_POINT, .suffix = "measured cold TTFT", .color0 = 3, .quiet = true},
            why)) {
        elm_plot_free(p);
        return ELM_ENOMEM;
    }
    return elm__fig_chart(b->r, p);
}

int elm__fig_ttft(elm__bench_t *b)
{
    elm__report_t *r = b->r;
    elm__labels_t why = {0};
    int rc = 0;
    elm__fig_begin(r, "fig-ttft", "TTFT breakdown", "Sometimes Painful Fig. 8");
    if (!b->n_runs) {
        elm__fig_missing(r, "No in-process bench runs in the store.", ELM__CMD_BENCH);
        goto done;
    }
    const elm__val_t v = ELM__STAT(ttft_ms, 1);
    if ((rc = elm__per_device(b, elm__key_model, elm__key_none, elm__order_params, &v, 1, draw_ttft,
                              &why, &why)))
        goto done;
    elm__caption(
        r, b->md, &why,
        "Cold time to first token as the sum of the model load (warm page cache) and prefill "
        "up to the first token, one chart per device; the points are the cold TTFT measured "
        "directly (load start to first token, session set-up included). Where several runs "
        "share a bar, the one with the highest generation speed is shown.");
done:
    elm__labels_free(&why);
    elm__fig_end(r);
    return rc;
}

/* ---- 7. energy and action per token ---- */

static const elm__val_t e_tok[2] = {
    {offsetof(elm_record_t, energy[ELM_REC_PREFILL].j_per_token), 1, NULL},
    {offsetof(elm_record_t, energy[ELM_REC_GEN].j_per_token), 1, NULL}};

/* Prefill and generation energy per token of g as one chart titled title (log when they span
 * decades), the generation bars in the colours after the prefill ones. */
static int energy_chart(elm__report_t *r, const elm__grid_t *g, const char *title,
                        const char *xlabel, elm__labels_t *why)
{
    elm_plot_t *p =
        elm__chart_cats(g, title, xlabel, "energy per token (J)", elm__grid_wide(g, e_tok, 2));
    if (!p ||
        elm__add_rows(p, g, &e_tok[0], &(elm__rows_t){.kind = ELM_PLOT_BAR, .suffix = " prefill"},
                      why) ||
        elm__add_rows(
            p, g, &e_tok[1],
            &(elm__rows_t){.kind = ELM_PLOT_BAR, .suffix = " generation", .color0 = (int)g->ser.n},
            why)) {
        elm_plot_free(p);
        return ELM_ENOMEM;
    }
    return elm__fig_chart(r, p);
}

static int draw_energy_config(elm__bench_t *b, const elm__grid_t *g, void *user)
{
    return energy_chart(b->r, g, b->dev, "configuration (threads, governor)", user);
}

int elm__fig_energy_token(elm__bench_t *b)
{
    elm__report_t *r = b->r;
    elm__labels_t why = {0};
    int rc = 0;
    elm__fig_begin(r, "fig-energy-token", "Energy per token", "Sometimes Painful Figs. 9-10");
    if (!elm__grid_any(b->md, &e_tok[1])) {
        elm__fig_none(b, &e_tok[1], "No energy measurements in the store", ELM__CMD_ENERGY);
        goto done;
    }
    const char *model = elm__config_model(b);
    b->only = model;
    rc = elm__per_device(b, elm__key_config, elm__key_none, elm__order_threads, e_tok, 2,
                         draw_energy_config, &why, &why);
    b->only = NULL;
    if (rc || (rc = energy_chart(r, b->md, "Every model", "model (by parameters)", &why)))
        goto done;
    elm__caption(
        r, b->md, &why,
        "Energy per prompt token in prefill and per generated token (after the first) in "
        "generation, in joules, ±1 sd: first %s by thread count and governor or power mode, "
        "one chart per device with energy; then every model (the fastest run per model and "
        "device).",
        elm__model_label(model));
done:
    elm__labels_free(&why);
    elm__fig_end(r);
    return rc;
}

int elm__fig_action(elm__bench_t *b)
{
    elm__report_t *r = b->r;
    elm__labels_t why = {0};
    int rc = 0;
    elm__fig_begin(r, "fig-action", "Action per token S = E/t", "Sometimes Painful Figs. 13-15");
    const elm__val_t s = ELM__STAT(action_s, 1);
    if (!elm__grid_any(b->md, &s)) {
        elm__fig_none(b, &s, "No energy measurements in the store", ELM__CMD_ENERGY);
        goto done;
    }
    if ((rc = bar_charts(r, b->md, "model (by parameters)", &s,
                         (const char *const[]){"S = E/t (J per generated token)"}, 1, &why)))
        goto done;
    elm__caption(r, b->md, &why,
                 "Action per token: the energy of prefill and generation divided by the tokens "
                 "generated, per model and device, ±1 sd (the fastest run per model and device).");
done:
    elm__labels_free(&why);
    elm__fig_end(r);
    return rc;
}
