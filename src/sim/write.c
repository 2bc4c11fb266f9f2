/* sim/: a comparison's outside forms — every run's steps as CSV, the runs and summaries as JSON,
 * and the charts (drawn by plot/) — for `edgelm simulate` and, later, the report. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "edgelm/plot.h"
#include "edgelm/sim.h"

/* ---- CSV ---- */

static void csv_row(FILE *f, const elm_sim_scenario_t *sc, uint64_t seed, const char *step,
                    const elm_sim_step_t *s, const double *util, uint32_t nd)
{
    fprintf(f,
            "%s,%s,%" PRIu64 ",%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
            ",%" PRIu64 ",%" PRIu64 ",%.6f",
            elm_sim_workload_name(sc->workload), sc->strategy->name, seed, step, s->requests,
            s->processed, s->redirected, s->rejected, s->tok_processed, s->tok_redirected,
            s->tok_rejected, s->cloud_cost);
    for (uint32_t i = 0; i < nd; i++)
        fprintf(f, ",%.4f", util[i]);
    fputc('\n', f);
}

int elm_sim_write_csv(FILE *f, const elm_sim_compare_t *x)
{
    for (uint32_t i = 0; i < x->n_scenarios; i++)
        if (!x->sc[i].runs) return ELM_EINVAL;
    fprintf(f, "workload,strategy,seed,step,requests,processed,redirected,rejected,"
               "tok_processed,tok_redirected,tok_rejected,cloud_cost");
    for (uint32_t i = 0; i < x->n_devices; i++)
        fprintf(f, ",util_%s", x->dev_name[i]);
    fputc('\n', f);
    for (uint32_t i = 0; i < x->n_scenarios; i++)
        for (uint32_t k = 0; k < x->sweep.n_seeds; k++) {
            const elm_sim_result_t *r = &x->sc[i].runs[k];
            uint64_t seed = x->sweep.seed + k;
            char step[16];
            for (uint32_t t = 0; t < r->n_steps; t++) {
                snprintf(step, sizeof step, "%u", t);
                csv_row(f, &x->sc[i].sc, seed, step, &r->steps[t], r->util + t * r->n_devices,
                        r->n_devices);
            }
            csv_row(f, &x->sc[i].sc, seed, "total", &r->total, r->dev_util, r->n_devices);
        }
    return ferror(f) ? ELM_EIO : 0;
}

/* ---- JSON ---- */

static cJSON *step_json(const elm_sim_step_t *s, const double *util, uint32_t nd)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "requests", (double)s->requests);
    cJSON_AddNumberToObject(o, "processed", (double)s->processed);
    cJSON_AddNumberToObject(o, "redirected", (double)s->redirected);
    cJSON_AddNumberToObject(o, "rejected", (double)s->rejected);
    cJSON_AddNumberToObject(o, "tok_processed", (double)s->tok_processed);
    cJSON_AddNumberToObject(o, "tok_redirected", (double)s->tok_redirected);
    cJSON_AddNumberToObject(o, "tok_rejected", (double)s->tok_rejected);
    cJSON_AddNumberToObject(o, "cloud_cost", s->cloud_cost);
    cJSON_AddItemToObject(o, "util", cJSON_CreateDoubleArray(util, (int)nd));
    return o;
}

static cJSON *run_json(uint64_t seed, const elm_sim_result_t *r)
{
    cJSON *run = cJSON_CreateObject();
    cJSON_AddNumberToObject(run, "seed", (double)seed);
    cJSON *tot = step_json(&r->total, r->dev_util, r->n_devices);
    cJSON_AddNumberToObject(tot, "util_mean", r->util_mean);
    cJSON_AddNumberToObject(tot, "util_spread", r->util_spread);
    cJSON_AddNumberToObject(tot, "energy_j", r->energy_j);
    cJSON_AddItemToObject(run, "totals", tot);
    cJSON *steps = cJSON_AddArrayToObject(run, "steps");
    for (uint32_t t = 0; t < r->n_steps; t++)
        cJSON_AddItemToArray(steps,
                             step_json(&r->steps[t], r->util + t * r->n_devices, r->n_devices));
    return run;
}

static cJSON *scenario_json(const elm_sim_summary_t *s, const elm_sim_sweep_t *sw)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "workload", elm_sim_workload_name(s->sc.workload));
    cJSON_AddStringToObject(o, "strategy", s->sc.strategy->name);
    cJSON *runs = cJSON_AddArrayToObject(o, "runs");
    for (uint32_t k = 0; k < sw->n_seeds; k++)
        cJSON_AddItemToArray(runs, run_json(sw->seed + k, &s->runs[k]));
    cJSON *sum = cJSON_AddObjectToObject(o, "summary");
    for (int m = 0; m < ELM_SIM_M_COUNT; m++) {
        cJSON *v = cJSON_AddObjectToObject(sum, elm_sim_metric_name((elm_sim_metric_t)m));
        cJSON_AddNumberToObject(v, "mean", s->mean[m]);
        cJSON_AddNumberToObject(v, "ci95", s->ci95[m]);
    }
    return o;
}

char *elm_sim_json(const elm_sim_compare_t *x)
{
    for (uint32_t i = 0; i < x->n_scenarios; i++)
        if (!x->sc[i].runs) return NULL;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "seeds", (double)x->sweep.n_seeds);
    cJSON_AddNumberToObject(root, "users", (double)x->sweep.n_users);
    cJSON_AddNumberToObject(root, "minutes", (double)x->sweep.duration_ms / 60000);
    cJSON_AddNumberToObject(root, "step_s", (double)x->sweep.step_ms / 1000);
    /* the cluster's names in its order: a reader labels each run's util[i] with devices[i] */
    cJSON *devs = cJSON_AddArrayToObject(root, "devices");
    for (uint32_t i = 0; i < x->n_devices; i++)
        cJSON_AddItemToArray(devs, cJSON_CreateString(x->dev_name[i]));
    cJSON *scs = cJSON_AddArrayToObject(root, "scenarios");
    for (uint32_t i = 0; i < x->n_scenarios; i++)
        cJSON_AddItemToArray(scs, scenario_json(&x->sc[i], &x->sweep));
    /* cJSON's builders ignore NULL items, so an allocation failure anywhere leaves a document
     * that prints; the result is NULL only when printing itself fails. */
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}

/* ---- charts ---- */

static const struct {
    const char *file, *title, *ylabel;
    elm_sim_metric_t m[3];
    uint32_t nm; /* 0: per-device utilization and its spread */
} chart[ELM_SIM_N_CHARTS] = {
    {"outcomes.svg",
     "Requests by outcome",
     "requests",
     {ELM_SIM_M_PROCESSED, ELM_SIM_M_REDIRECTED, ELM_SIM_M_REJECTED},
     3},
    {"redirected_tokens.svg",
     "Tokens redirected to the cloud",
     "tokens",
     {ELM_SIM_M_TOK_REDIRECTED},
     1},
    {"cloud_cost.svg", "Cloud cost", "US$", {ELM_SIM_M_COST}, 1},
    {"utilization.svg", "Per-device utilization and its spread", "busy fraction", {0}, 0},
};

const char *elm_sim_chart_file(uint32_t i)
{
    return i < ELM_SIM_N_CHARTS ? chart[i].file : NULL;
}

char *elm_sim_chart_svg(const elm_sim_compare_t *x, uint32_t i)
{
    if (i >= ELM_SIM_N_CHARTS) return NULL;
    uint32_t n = x->n_scenarios, nd = x->n_devices, ns = chart[i].nm ? chart[i].nm : nd + 1;
    const char **groups = malloc((n ? n : 1) * sizeof *groups);
    double *val = calloc((size_t)(n ? n : 1) * ns, sizeof *val);
    double *err = calloc((size_t)(n ? n : 1) * ns, sizeof *err);
    elm_plot_t *p = elm_plot_new(chart[i].title, 760, 420);
    char *svg = NULL;
    if (!groups || !val || !err || !p) goto done;
    /* val and err are (series, scenario): one row per series for elm_plot_add. */
    for (uint32_t g = 0; g < n; g++) {
        const elm_sim_summary_t *s = &x->sc[g];
        groups[g] = s->label;
        for (uint32_t k = 0; k < ns; k++) {
            /* The utilization chart's device bars carry no error bar; its spread does. */
            elm_sim_metric_t m = chart[i].nm ? chart[i].m[k] : ELM_SIM_M_SPREAD;
            bool dev = !chart[i].nm && k < nd;
            val[(size_t)k * n + g] = dev ? s->dev_util[k] : s->mean[m];
            err[(size_t)k * n + g] = dev ? NAN : s->ci95[m];
        }
    }
    elm_plot_axis_t y = {chart[i].ylabel, false, NAN, NAN};
    if (elm_plot_x_categories(p, "scenario", n, groups) || elm_plot_y(p, ELM_PLOT_LEFT, &y)) goto done;
    for (uint32_t k = 0; k < ns; k++) {
        elm_plot_series_t s = {chart[i].nm ? elm_sim_metric_name(chart[i].m[k])
                               : k < nd    ? x->dev_name[k]
                                           : "spread (std dev)",
                               ELM_PLOT_BAR, ELM_PLOT_LEFT, n, NULL, val + (size_t)k * n,
                               err + (size_t)k * n, NULL, -1};
        if (elm_plot_add(p, &s)) goto done;
    }
    svg = elm_plot_svg(p);
done:
    elm_plot_free(p);
    free(groups);
    free(val);
    free(err);
    return svg;
}
