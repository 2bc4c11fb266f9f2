/* report/: figure 10, cost — Edge-First's Table I from the store (CPR, Q, R, U, PCR), cost per
 * million tokens against cloud prices (Sometimes Painful Fig. 17), battery runs and hours (Fig. 16)
 * and the devices' break-even time over IO-token ratio and utilization (Fig. 18) — through the
 * formulas of edgelm/metrics.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fig_other.h"

/* Cloud models Table I and the per-token chart compare against, from the top of the price table. */
#define COST_MAX_CLOUD 4
/* Tokens per cloud response when the store has no bench run to take them from. */
#define COST_DEFAULT_IN  128
#define COST_DEFAULT_OUT 256

static const elm_price_table_t *prices_of(const elm__report_t *r)
{
    return r->o->prices ? r->o->prices : elm_prices_default();
}

/* A cell of a figure that may be unavailable: the value, or a footnote with why. */
static int cost_cell(bool ok, const char *fmt, double v, const char *why, elm__labels_t *notes,
                     char *cell, size_t cap)
{
    if (!ok) return elm__note_cell(notes, why, cell, cap);
    snprintf(cell, cap, fmt, v);
    return 0;
}

/* ---- Table I ---- */

/* Mean prompt and generated tokens of the in-process runs: what a cloud response is priced at. */
static void response_tokens(const elm__report_t *r, double *n_in, double *n_out)
{
    double in = 0, out = 0;
    size_t k = 0;
    for (size_t i = 0; i < r->n_runs; i++)
        if (!r->runs[i].is_target) in += r->runs[i].n_prompt, out += r->runs[i].n_gen, k++;
    *n_in = k ? in / k : COST_DEFAULT_IN;
    *n_out = k ? out / k : COST_DEFAULT_OUT;
}

static int table_one(elm__report_t *r)
{
    const elm_report_opts_t *o = r->o;
    elm_cost_row_t *rows = NULL;
    size_t n = 0;
    elm__labels_t notes = {0};
    elm_sbuf_t foot = {0};
    elm_diag_t d;
    int rc = 0;
    elm__fig_begin(r, "fig-cost", "Cost, quality and responsiveness (Table I)",
                   "Edge-First Table I");
    elm_diag_clear(&d);
    if (o->store)
        rc = elm_cost_rows_from_store(o->store, o->filter.match, o->store_path, &o->cost, &rows, &n,
                                      &d);
    if (!o->store || rc == ELM_ENOENT) {
        elm__fig_missing(r,
                         "No model in the store has both a GSM8K result and a bench run with a "
                         "TTFT.",
                         "edgelm eval gsm8k -m MODEL.gguf -n 250 and edgelm bench -m MODEL.gguf "
                         "--power rapl (the same -m path)");
        rc = 0;
        goto done;
    }
    if (rc) {
        elm_diag(r->d, rc, "%s", d.msg);
        goto done;
    }
    const elm_price_table_t *pt = prices_of(r);
    size_t nc = pt->n < COST_MAX_CLOUD ? pt->n : COST_MAX_CLOUD;
    elm_cost_row_t *grown = realloc(rows, (n + nc) * sizeof *rows);
    rc = ELM_ENOMEM;
    if (!grown) goto done;
    rows = grown;
    double n_in, n_out;
    response_tokens(r, &n_in, &n_out);
    for (size_t k = 0; k < nc; k++) {
        elm_cost_row_t *w = &rows[n++];
        elm_cost_row_init(w);
        snprintf(w->platform, sizeof w->platform, "%s", pt->items[k].name);
        w->cloud = true;
        w->price = pt->items[k];
        w->n_in = n_in, w->n_out = n_out;
        w->q = NAN;
        snprintf(w->why, sizeof w->why,
                 "a cloud model's Q and R are not in the store (edgelm cost --platform NAME --q Q "
                 "--ttft S computes its row)");
    }
    elm_cost_table_compute(rows, n, &o->cost);
    static const char *const head[] = {"platform", "CPR (¢)", "CPR as printed", "Q",
                                       "R",        "U",       "PCR",            "PCR as printed"};
    elm__table_begin(r, 8, head);
    for (size_t i = 0; i < n; i++) {
        const elm_cost_row_t *w = &rows[i];
        char c[7][64];
        if ((rc = cost_cell(w->has_cpr, "%.4g", w->cpr, w->why, &notes, c[0], sizeof c[0])) ||
            (rc = cost_cell(w->has_cpr, "%g", w->cpr_paper, w->why, &notes, c[1], sizeof c[1])) ||
            (rc = cost_cell(isfinite(w->q), "%.3g", w->q, w->why, &notes, c[2], sizeof c[2])) ||
            (rc = cost_cell(w->has_r, "%.4g", w->r, w->why, &notes, c[3], sizeof c[3])) ||
            (rc = cost_cell(w->has_u, "%.4g", w->u, w->why, &notes, c[4], sizeof c[4])) ||
            (rc = cost_cell(w->has_pcr, "%.2f", w->pcr, w->why, &notes, c[5], sizeof c[5])) ||
            (rc = cost_cell(w->has_pcr, "%.2f", w->pcr_paper, w->why, &notes, c[6], sizeof c[6])))
            goto done;
        const char *row[8] = {w->platform, c[0], c[1], c[2], c[3], c[4], c[5], c[6]};
        elm__table_row(r, 8, row);
    }
    elm__table_end(r);
    elm__notes_text(&notes, " Not available: ", &foot);
    elm__fig_caption(r,
                     "Per platform: cost per response CPR in US cents (edge: the newest bench "
                     "run's prefill + generation energy at %g ¢/kWh; cloud: %.0f input and %.0f "
                     "output tokens per response, the bench runs' mean, at list price), quality Q "
                     "(the newest GSM8K pass@1), responsiveness R (%s), utility U = αQ + (1 − α)R "
                     "with α = %g (Eq. 1) and PCR = U / CPR (Eq. 2), also over CPR rounded as the "
                     "paper prints it. The same numbers as edgelm cost --db.%s",
                     o->cost.cents_per_kwh, n_in, n_out,
                     o->cost.r_norm ? "normalized: t_ref / (t_ref + TTFT)" : "TTFT in seconds, as "
                                                                             "Edge-First",
                     o->cost.alpha, foot.p ? foot.p : "");
    rc = foot.oom ? ELM_ENOMEM : 0;
done:
    elm__fig_end(r);
    free(foot.p);
    elm__labels_free(&notes);
    free(rows);
    return rc;
}

/* ---- per device and model ---- */

/* The newest in-process run of each (device, model file) into idx (r->n_runs of room), grouped by
 * device in first-seen order; returns how many. */
static size_t newest_models(const elm__report_t *r, size_t *idx)
{
    size_t n = 0;
    for (size_t i = r->n_runs; i-- > 0;) {
        const elm_record_t *a = &r->runs[i];
        bool seen = a->is_target;
        for (size_t k = 0; k < n && !seen; k++)
            seen = !strcmp(r->runs[idx[k]].model, a->model) &&
                   !strcmp(r->runs[idx[k]].device, a->device);
        if (!seen) idx[n++] = i;
    }
    /* insertion sort: by device's first appearance, then by parameters */
    for (size_t i = 1; i < n; i++)
        for (size_t k = i; k > 0; k--) {
            const elm_record_t *a = &r->runs[idx[k - 1]], *b = &r->runs[idx[k]];
            int c = strcmp(a->device, b->device);
            if (c < 0 || (c == 0 && elm__model_params(a) <= elm__model_params(b))) break;
            size_t t = idx[k - 1];
            idx[k - 1] = idx[k], idx[k] = t;
        }
    return n;
}

/* The device's name short enough for an axis label: without trademarks and what follows the
 * model name ("Raspberry Pi 5 Model B Rev 1.0" -> "Raspberry Pi 5", "AMD Ryzen 7 7840U w/ Radeon
 * 780M Graphics" -> "AMD Ryzen 7 7840U"). */
static void short_device(const char *device, char *buf, size_t cap)
{
    static const char *const drop[] = {"(R)", "(TM)", "(tm)"};
    static const char *const cut[] = {" Model", " w/", " with ", " CPU", " @", ",", " Processor"};
    size_t n = 0;
    for (const char *p = device; *p && n + 1 < cap;) {
        size_t skip = 0;
        for (size_t k = 0; k < sizeof drop / sizeof drop[0] && !skip; k++)
            if (!strncmp(p, drop[k], strlen(drop[k]))) skip = strlen(drop[k]);
        if (skip) p += skip;
        else buf[n++] = *p++;
    }
    buf[n] = '\0';
    for (size_t k = 0; k < sizeof cut / sizeof cut[0]; k++) {
        char *c = strstr(buf, cut[k]);
        if (c && c > buf) *c = '\0';
    }
}

/* "model · device" of a run into buf (the file name without .gguf, the device shortened). */
static void run_label(const elm_record_t *rec, char *buf, size_t cap)
{
    char model[256], dev[128];
    elm__model_family(rec->model, NULL, model, sizeof model);
    short_device(rec->device, dev, sizeof dev);
    snprintf(buf, cap, "%.200s · %.120s", model, dev);
}

/* Categories for runs idx[0..n) and then extra names: labels (malloc'd, caller frees with
 * elm__labels_free) in order; 0 or ELM_ENOMEM. */
static int run_cats(const elm__report_t *r, const size_t *idx, size_t n, const char **extra,
                    size_t n_extra, const char ***cats, elm__labels_t *l)
{
    char buf[400];
    *cats = malloc((n + n_extra + 1) * sizeof **cats);
    if (!*cats) return ELM_ENOMEM;
    for (size_t i = 0; i < n + n_extra; i++) {
        if (i < n) run_label(&r->runs[idx[i]], buf, sizeof buf);
        else snprintf(buf, sizeof buf, "%s (cloud)", extra[i - n]);
        /* two devices may shorten to one name, two tables repeat a name: number the repeat */
        if (elm__labels_find(l, buf) >= 0) {
            size_t used = strlen(buf);
            snprintf(buf + used, sizeof buf - used, " #%zu", i + 1);
        }
        if (elm__labels_add(l, buf) < 0) return ELM_ENOMEM;
    }
    for (size_t i = 0; i < l->n; i++) (*cats)[i] = l->s[i];
    return 0;
}

/* A chart of two series over runs idx[0..n) and then the extra names: y (2, n + n_extra); with
 * rlabel the second series is points on a right axis, else both are bars. Log left axis. */
static int runs_chart(elm__report_t *r, const size_t *idx, size_t n, const char **extra,
                      size_t n_extra, const char *xlabel, const char *ylabel, const char *rlabel,
                      const char *const names[2], const double *y)
{
    const char **cats = NULL;
    elm__labels_t l = {0};
    elm_plot_t *p = NULL;
    size_t m = n + n_extra;
    int rc = run_cats(r, idx, n, extra, n_extra, &cats, &l);
    if (rc) goto fail;
    rc = ELM_ENOMEM;
    if (!(p = elm__chart_new(NULL, xlabel, m, cats, ylabel, true)) ||
        (rlabel && elm_plot_y(p, ELM_PLOT_RIGHT, &(elm_plot_axis_t){rlabel, false, 0, NAN})))
        goto fail;
    if ((rc = elm__chart_add(p, names[0], ELM_PLOT_BAR, ELM_PLOT_LEFT, m, y, NULL, NULL)) ||
        (rc = elm__chart_add(p, names[1], rlabel ? ELM_PLOT_POINT : ELM_PLOT_BAR,
                             rlabel ? ELM_PLOT_RIGHT : ELM_PLOT_LEFT, m, y + m, NULL, NULL)))
        goto fail;
    rc = elm__fig_chart(r, p);
    p = NULL;
fail:
    elm_plot_free(p);
    elm__labels_free(&l);
    free(cats);
    return rc;
}

/* Cost per million input and output tokens per (device, model), then the cloud list prices. */
static int permtok(elm__report_t *r, const size_t *idx, size_t n)
{
    static const char *const names[2] = {"input (prefill)", "output (generation)"};
    const elm_cost_opts_t *co = &r->o->cost;
    const elm_price_table_t *pt = prices_of(r);
    size_t nc = pt->n < COST_MAX_CLOUD ? pt->n : COST_MAX_CLOUD, valid = 0;
    const char *cloud[COST_MAX_CLOUD];
    double *y = malloc(2 * (n + nc + 1) * sizeof *y);
    int rc = ELM_ENOMEM;
    elm__fig_begin(r, "fig-permtok", "Cost per million tokens", "Sometimes Painful Fig. 17");
    if (!y) goto done;
    for (size_t k = 0; k < nc; k++) cloud[k] = pt->items[k].name;
    for (size_t s = 0; s < 2; s++)
        for (size_t i = 0; i < n + nc; i++) {
            double *v = &y[s * (n + nc) + i];
            *v = NAN;
            if (i >= n) {
                *v = s ? pt->items[i - n].usd_per_m_out : pt->items[i - n].usd_per_m_in;
                continue;
            }
            const elm_stat_t *j = &r->runs[idx[i]].energy[s ? ELM_REC_GEN : ELM_REC_PREFILL]
                                       .j_per_token;
            if (j->valid && co->has_kwh && !elm_cost_per_mtok(j->mean, co->cents_per_kwh, v, NULL))
                valid++;
        }
    rc = 0;
    if (!valid)
        elm__fig_missing(r,
                         co->has_kwh ? "No bench run with energy per token in the store."
                                     : "No electricity price given.",
                         co->has_kwh ? "edgelm bench -m MODEL.gguf -t 4 --power rapl (or --power "
                                       "constant --watts W, --power-cmd CMD)"
                                     : "edgelm report --cents-per-kwh 25 ...");
    else if (!(rc = runs_chart(r, idx, n, cloud, nc, "model · device, or cloud model",
                               "US$ per million tokens", NULL, names, y)))
        elm__fig_caption(r,
                         "Electricity cost of a million input tokens (prefill energy per prompt "
                         "token) and output tokens (generation energy per generated token) at %g "
                         "¢/kWh, for the newest bench run of each model on each device, next to "
                         "the cloud models' list prices (US$ per million tokens; log scale). n/a: "
                         "the run had no power source.",
                         co->cents_per_kwh);
done:
    elm__fig_end(r);
    free(y);
    return rc;
}

/* The battery assumed for a device: a Raspberry Pi runs from a power bank, the rest from a
 * laptop's battery. */
static double battery_wh(const char *device)
{
    return strstr(device, "Raspberry Pi") ? 37 : 60;
}

/* Runs (bars) and hours (points) on a full battery per (device, model). */
static int battery(elm__report_t *r, const size_t *idx, size_t n)
{
    static const char *const names[2] = {"runs", "hours"};
    double *y = malloc(2 * (n + 1) * sizeof *y);
    size_t valid = 0;
    int rc = ELM_ENOMEM;
    elm__fig_begin(r, "fig-battery", "Battery runs", "Sometimes Painful Fig. 16");
    if (!y) goto done;
    for (size_t i = 0; i < n; i++) {
        const elm_record_t *rec = &r->runs[idx[i]];
        elm_battery_t b;
        y[i] = y[n + i] = NAN;
        if (rec->energy_j.valid && rec->e2e_ms.valid &&
            !elm_battery(battery_wh(rec->device), rec->energy_j.mean / 3600, rec->e2e_ms.mean / 1000,
                         &b, NULL))
            y[i] = b.runs, y[n + i] = b.hours, valid++;
    }
    rc = 0;
    if (!valid)
        elm__fig_missing(r, "No bench run with energy and end-to-end time in the store.",
                         "edgelm bench -m MODEL.gguf -t 4 --power rapl (or --power constant "
                         "--watts W, --power-cmd CMD)");
    else if (!(rc = runs_chart(r, idx, n, NULL, 0, "model · device", "runs on a full charge",
                               "hours of back-to-back runs", names, y)))
        elm__fig_caption(r,
                         "How many bench requests (prompt + generation, the newest run of each "
                         "model on each device; its prefill + generation energy and end-to-end "
                         "time) a full charge gives, and for how many hours back to back. Assumed "
                         "batteries: a Raspberry Pi on a 10,000 mAh power bank (37 Wh), every "
                         "other device on a 60 Wh laptop battery; conversion losses and idle power "
                         "are left out.");
done:
    elm__fig_end(r);
    free(y);
    return rc;
}

/* ---- break-even ---- */

/* The purchase price assumed for a device (stated in the caption). */
static double device_price(const char *device)
{
    static const struct {
        const char *has;
        double usd;
    } t[] = {{"Raspberry Pi 5", 80}, {"Raspberry Pi", 55}, {"Orin Nano", 249}, {"Jetson", 499}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strstr(device, t[i].has)) return t[i].usd;
    return 1000; /* a laptop or desktop */
}

static bool has_energy(const elm_record_t *rec)
{
    return rec->energy[ELM_REC_PREFILL].j_per_token.valid &&
           rec->energy[ELM_REC_GEN].j_per_token.valid && rec->gen_tps.valid &&
           rec->gen_tps.mean > 0;
}

static int breakeven(elm__report_t *r, const size_t *idx, size_t n)
{
    static const double ratio[] = {0.25, 0.5, 1, 2, 4, 8};
    static const double mu[] = {1, 0.5, 0.25, 0.1, 0.05, 0.01};
    static const char *const xc[] = {"0.25", "0.5", "1", "2", "4", "8"};
    static const char *const yc[] = {"100 %", "50 %", "25 %", "10 %", "5 %", "1 %"};
    const elm_record_t *a = NULL, *b = NULL;
    double days[36];
    elm__fig_begin(r, "fig-breakeven", "Break-even time", "Sometimes Painful Fig. 18");
    /* the first two devices that ran the same model with energy per token, smallest model first */
    for (size_t i = 0; i < n; i++)
        for (size_t k = i + 1; k < n; k++) {
            const elm_record_t *x = &r->runs[idx[i]], *y = &r->runs[idx[k]];
            if (has_energy(x) && has_energy(y) && strcmp(x->device, y->device) &&
                !strcmp(elm__model_label(x->model), elm__model_label(y->model)) &&
                (!a || elm__model_params(x) < elm__model_params(a)))
                a = x, b = y;
        }
    if (!b) {
        elm__fig_missing(r,
                         "No model measured with energy per token on two devices in the store.",
                         "edgelm bench -m MODEL.gguf -t 4 --power rapl on each device, into the "
                         "same --db");
        elm__fig_end(r);
        return 0;
    }
    double tps = fmin(a->gen_tps.mean, b->gen_tps.mean);
    elm_device_econ_t ea = {a->device, device_price(a->device),
                            a->energy[ELM_REC_PREFILL].j_per_token.mean,
                            a->energy[ELM_REC_GEN].j_per_token.mean, 0};
    elm_device_econ_t eb = {b->device, device_price(b->device),
                            b->energy[ELM_REC_PREFILL].j_per_token.mean,
                            b->energy[ELM_REC_GEN].j_per_token.mean, 0};
    for (size_t y = 0; y < 6; y++)
        for (size_t x = 0; x < 6; x++) {
            elm_workload_t wl = {mu[y], ratio[x], tps, r->o->cost.cents_per_kwh};
            elm_breakeven_t be;
            /* a dearer device that draws no less power never breaks even: no value */
            days[y * 6 + x] =
                elm_breakeven(&ea, &eb, &wl, &be, NULL) ? NAN : be.seconds / 86400;
        }
    elm__fig_svg(r, elm_plot_heatmap("input tokens per output token", 6, xc, "utilization", 6, yc,
                                     days, "break-even (days)", true));
    elm__fig_caption(r,
                     "Days after which the dearer device's lower energy cost repays its higher "
                     "price, running %s on %s (assumed $%g) against %s (assumed $%g; prices "
                     "assumed: Raspberry Pi 5 $80, other Pi $55, Jetson Orin Nano $249, other "
                     "Jetson $499, any other device $1000), at %.3g tokens/s (the slower device's "
                     "generation speed), %g ¢/kWh, energy per input and output token from each "
                     "run, idle power left out; n/a: never breaks even.",
                     elm__model_label(a->model), a->device, ea.price_usd, b->device, eb.price_usd,
                     tps, r->o->cost.cents_per_kwh);
    elm__fig_end(r);
    return r->body.oom ? ELM_ENOMEM : 0;
}

int elm__report_cost(elm__report_t *r)
{
    size_t *idx = malloc((r->n_runs + 1) * sizeof *idx);
    int rc = ELM_ENOMEM;
    if (!idx) goto fail;
    size_t n = newest_models(r, idx);
    if ((rc = table_one(r)) || (rc = permtok(r, idx, n)) || (rc = battery(r, idx, n)) ||
        (rc = breakeven(r, idx, n)))
        goto fail;
    rc = 0;
fail:
    free(idx);
    return rc;
}
