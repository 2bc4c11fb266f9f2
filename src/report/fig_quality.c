/* report/: figures 8 and 9 — perplexity and GSM8K pass@1 by model and quantization (Sometimes
 * Painful Fig. 11, Edge-First Fig. 2) from the store's evals, and the quantization change factors
 * against the F16 model of the same family (Sometimes Painful Fig. 12) from its bench runs — and
 * the two-call categorical charts the cost and routing figures use too. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fig_other.h"

/* ---- series on category charts (shared with fig_cost.c and fig_route.c) ---- */

int elm__chart_add(elm_plot_t *p, const char *name, elm_plot_kind_t k, elm_plot_side_t side,
                   size_t n, const double *y, const double *err, const char *const *note)
{
    elm_plot_series_t s = {.name = name, .kind = k, .side = side, .n = n, .y = y, .err = err,
                           .note = note, .color = -1};
    return elm_plot_add(p, &s);
}

int elm__note_cell(elm__labels_t *notes, const char *why, char *cell, size_t cap)
{
    int k = elm__labels_add(notes, why && *why ? why : "not measured");
    if (k < 0) return ELM_ENOMEM;
    snprintf(cell, cap, "n/a [%d]", k + 1);
    return 0;
}

void elm__notes_text(const elm__labels_t *notes, const char *lead, elm_sbuf_t *b)
{
    for (size_t k = 0; k < notes->n; k++)
        elm_sbuf_printf(b, "%s[%zu] %s", k ? "; " : lead, k + 1, notes->s[k]);
}

/* ---- evals by family and quantization ---- */

/* The newest eval of one kind per (family, quantization): families ordered by parameters. */
typedef struct {
    elm__labels_t fam, quant;
    size_t *order;                      /* (fam.n) families by parameters, smallest first */
    const elm_store_eval_row_t **at;    /* (quant.n, fam.n) NULL where none */
    double *params;                     /* (fam.n) */
} grid_t;

static void grid_free(grid_t *g)
{
    elm__labels_free(&g->fam);
    elm__labels_free(&g->quant);
    free(g->order);
    free(g->at);
    free(g->params);
}

typedef struct {
    double params;
    size_t i;
} by_size_t;

static int by_params(const void *a, const void *b)
{
    const by_size_t *x = a, *y = b;
    /* unknown sizes (0) go last, in first-seen order */
    if ((x->params > 0) != (y->params > 0)) return x->params > 0 ? -1 : 1;
    if (x->params != y->params) return x->params < y->params ? -1 : 1;
    return x->i < y->i ? -1 : 1;
}

/* The grid of r's evals of kind k; 0 or ELM_ENOMEM. */
static int grid_build(const elm__report_t *r, elm_eval_kind_t k, grid_t *g)
{
    char fam[512];
    elm_record_t *tmp = calloc(1, sizeof *tmp);
    *g = (grid_t){0};
    if (!tmp) return ELM_ENOMEM;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < r->n_evals; i++) {
            const elm_store_eval_row_t *e = &r->evals[i];
            if (e->kind != k) continue;
            const char *q = e->quant[0] ? e->quant : "?";
            elm__model_family(e->model, e->quant, fam, sizeof fam);
            int f = elm__labels_add(&g->fam, fam), s = elm__labels_add(&g->quant, q);
            if (f < 0 || s < 0) goto fail;
            if (pass == 0) continue;
            /* oldest first: a later eval of the same cell replaces the earlier */
            g->at[(size_t)s * g->fam.n + (size_t)f] = e;
            snprintf(tmp->quant, sizeof tmp->quant, "%s", q);
            tmp->model_bytes = e->model_bytes;
            double pr = elm__model_params(tmp);
            if (pr > g->params[f]) g->params[f] = pr;
        }
        if (pass == 0 && g->fam.n) {
            g->at = calloc(g->fam.n * g->quant.n, sizeof *g->at);
            g->params = calloc(g->fam.n, sizeof *g->params);
            g->order = malloc(g->fam.n * sizeof *g->order);
            if (!g->at || !g->params || !g->order) goto fail;
        }
    }
    by_size_t *o = malloc((g->fam.n ? g->fam.n : 1) * sizeof *o);
    if (!o) goto fail;
    for (size_t f = 0; f < g->fam.n; f++) o[f] = (by_size_t){g->params[f], f};
    qsort(o, g->fam.n, sizeof *o, by_params);
    for (size_t f = 0; f < g->fam.n; f++) g->order[f] = o[f].i;
    free(o);
    free(tmp);
    return 0;
fail:
    free(tmp);
    grid_free(g);
    return ELM_ENOMEM;
}

/* One bar series per quantization over the families, the eval's error as error bars. */
static int grid_chart(elm__report_t *r, const grid_t *g, const char *ylabel, bool log)
{
    size_t nf = g->fam.n;
    const char **cats = malloc(nf * sizeof *cats);
    double *y = malloc(2 * nf * sizeof *y);
    elm_plot_t *p = NULL;
    int rc = ELM_ENOMEM;
    if (!cats || !y) goto fail;
    for (size_t c = 0; c < nf; c++) cats[c] = g->fam.s[g->order[c]];
    if (!(p = elm__chart_new(NULL, "model (by parameters)", nf, cats, ylabel, log))) goto fail;
    for (size_t s = 0; s < g->quant.n; s++) {
        for (size_t c = 0; c < nf; c++) {
            const elm_store_eval_row_t *e = g->at[s * nf + g->order[c]];
            y[c] = e ? e->value : NAN;
            y[nf + c] = e ? e->err : NAN;
        }
        if ((rc = elm__chart_add(p, g->quant.s[s], ELM_PLOT_BAR, ELM_PLOT_LEFT, nf, y, y + nf,
                                 NULL)))
            goto fail;
    }
    rc = elm__fig_chart(r, p);
    p = NULL;
fail:
    elm_plot_free(p);
    free(cats);
    free(y);
    return rc;
}

/* "family QUANT: n, ..." over the grid's cells into b: the sizes behind each bar. */
static void grid_sizes(const grid_t *g, elm_sbuf_t *b, const char *unit)
{
    for (size_t c = 0; c < g->fam.n; c++)
        for (size_t s = 0; s < g->quant.n; s++) {
            const elm_store_eval_row_t *e = g->at[s * g->fam.n + g->order[c]];
            if (e)
                elm_sbuf_printf(b, "%s%s %s: %u %s", b->len ? "; " : "", g->fam.s[g->order[c]],
                                g->quant.s[s], e->n, unit);
        }
}

/* Perplexity with its standard error, or GSM8K pass@1 with its 95 % Wilson interval. */
static int eval_figure(elm__report_t *r, elm_eval_kind_t k)
{
    bool ppl = k == ELM_EVAL_PPL;
    grid_t g;
    elm_sbuf_t sizes = {0};
    int rc = grid_build(r, k, &g);
    if (rc) return rc;
    if (ppl)
        elm__fig_begin(r, "fig-quality", "Quality: perplexity by model and quantization",
                       "Sometimes Painful Fig. 11");
    else
        elm__fig_begin(r, "fig-gsm8k", "GSM8K pass@1 by model", "Edge-First Fig. 2");
    if (g.fam.n == 0) {
        if (ppl)
            elm__fig_missing(r, "No perplexity result in the store.",
                             "edgelm eval ppl -m MODEL.gguf -f wiki.test.raw -c 512 (for each "
                             "model and quantization)");
        else
            elm__fig_missing(r, "No GSM8K result in the store.",
                             "edgelm eval gsm8k -m MODEL.gguf -n 250 (for each model)");
        goto done;
    }
    double lo = INFINITY, hi = 0;
    for (size_t i = 0; i < g.fam.n * g.quant.n; i++)
        if (g.at[i]) lo = fmin(lo, g.at[i]->value), hi = fmax(hi, g.at[i]->value);
    /* perplexities of small and quantized models can span orders of magnitude */
    bool log = ppl && lo > 0 && hi / lo > 30;
    if ((rc = grid_chart(r, &g, ppl ? "perplexity (lower is better)" : "pass@1 (fraction correct)",
                         log)))
        goto done;
    grid_sizes(&g, &sizes, ppl ? "tokens of context" : "questions");
    if (ppl)
        elm__fig_caption(r,
                         "Perplexity (edgelm eval ppl) of each model family (x, ordered by "
                         "parameters) and quantization (bars), the newest result per model file; "
                         "error bars one standard error. Context per window: %s.",
                         sizes.p ? sizes.p : "");
    else
        elm__fig_caption(r,
                         "GSM8K pass@1 (edgelm eval gsm8k: greedy decoding, the answer's final "
                         "number) per model family and quantization, the newest result per model "
                         "file; error bars the 95 %% Wilson interval. Questions answered: %s.",
                         sizes.p ? sizes.p : "");
    rc = sizes.oom ? ELM_ENOMEM : 0;
done:
    elm__fig_end(r);
    free(sizes.p);
    grid_free(&g);
    return rc;
}

/* ---- quantization change factors ---- */

static bool is_base_quant(const char *q)
{
    return !strcasecmp(q, "F16") || !strcasecmp(q, "BF16") || !strcasecmp(q, "F32");
}

/* Whether runs[i] is an in-process run that no later run of the same model file, device and
 * threads replaces. */
static bool newest_run(const elm__report_t *r, size_t i)
{
    const elm_record_t *a = &r->runs[i];
    if (a->is_target) return false;
    for (size_t j = i + 1; j < r->n_runs; j++) {
        const elm_record_t *b = &r->runs[j];
        if (!b->is_target && b->threads == a->threads && !strcmp(b->model, a->model) &&
            !strcmp(b->device, a->device))
            return false;
    }
    return true;
}

typedef struct {
    char fam[256];
    const elm_record_t *base, *q;
} pair_t;

static int by_pair(const void *a, const void *b)
{
    const pair_t *x = a, *y = b;
    int c = strcmp(x->fam, y->fam);
    if (!c) c = strcmp(x->q->device, y->q->device);
    if (!c) c = x->q->threads - y->q->threads;
    if (!c) c = strcmp(x->q->quant, y->q->quant);
    return c;
}

/* The factor q / base of one figure as a cell ("\x01" marks a decrease), or "n/a [k]" with the
 * reason added to notes. */
static int factor_cell(const elm_stat_t *q, const elm_stat_t *base, const char *qname,
                       const char *bname, elm__labels_t *notes, char *cell, size_t cap)
{
    if (q->valid && base->valid && base->mean > 0) {
        double f = q->mean / base->mean;
        snprintf(cell, cap, "%s%.2f×", f < 1 ? "\x01" : "", f);
        return 0;
    }
    char why[300];
    if (!q->valid)
        snprintf(why, sizeof why, "%s run: %s", qname, q->why[0] ? q->why : "not recorded");
    else if (!base->valid)
        snprintf(why, sizeof why, "%s run: %s", bname, base->why[0] ? base->why : "not recorded");
    else
        snprintf(why, sizeof why, "%s run: the figure is 0", bname);
    return elm__note_cell(notes, why, cell, cap);
}

static int quant_figure(elm__report_t *r)
{
    pair_t *pairs = NULL;
    size_t n = 0;
    elm__labels_t notes = {0};
    elm_sbuf_t foot = {0};
    char fb[256];
    int rc = ELM_ENOMEM;
    elm__fig_begin(r, "fig-quant", "Quantization change factors against F16",
                   "Sometimes Painful Fig. 12");
    if (r->n_runs && !(pairs = malloc(r->n_runs * sizeof *pairs))) goto fail;
    for (size_t j = 0; j < r->n_runs; j++) {
        const elm_record_t *q = &r->runs[j];
        if (is_base_quant(q->quant) || !newest_run(r, j)) continue;
        elm__model_family(q->model, q->quant, pairs[n].fam, sizeof pairs[n].fam);
        pairs[n].base = NULL;
        for (size_t i = r->n_runs; i-- > 0 && !pairs[n].base;) {
            const elm_record_t *b = &r->runs[i];
            if (b->is_target || !is_base_quant(b->quant) || b->threads != q->threads ||
                strcmp(b->device, q->device))
                continue;
            elm__model_family(b->model, b->quant, fb, sizeof fb);
            if (!strcmp(fb, pairs[n].fam)) pairs[n].base = b;
        }
        pairs[n].q = q;
        n += pairs[n].base != NULL;
    }
    if (n == 0) {
        elm__fig_missing(r,
                         "No model family with both an F16 (or BF16/F32) run and a quantized run "
                         "on the same device and thread count in the store.",
                         "edgelm bench -m FAMILY-f16.gguf,FAMILY-q4_0.gguf -t 4 --power rapl");
        rc = 0;
        goto fail;
    }
    qsort(pairs, n, sizeof *pairs, by_pair);
    static const char *const head[] = {"family",          "device",         "threads",
                                       "quantization",    "peak memory",    "prefill tok/s",
                                       "generation tok/s", "gen J/token"};
    elm__table_begin(r, 8, head);
    for (size_t i = 0; i < n; i++) {
        const elm_record_t *q = pairs[i].q, *b = pairs[i].base;
        char thr[16], qn[64], c[4][64];
        const elm_stat_t *qs[4] = {&q->peak_rss_bytes, &q->prefill_tps, &q->gen_tps,
                                   &q->energy[ELM_REC_GEN].j_per_token};
        const elm_stat_t *bs[4] = {&b->peak_rss_bytes, &b->prefill_tps, &b->gen_tps,
                                   &b->energy[ELM_REC_GEN].j_per_token};
        snprintf(thr, sizeof thr, "%d", q->threads);
        snprintf(qn, sizeof qn, "%s / %s", q->quant, b->quant);
        for (int k = 0; k < 4; k++)
            if ((rc = factor_cell(qs[k], bs[k], q->quant, b->quant, &notes, c[k], sizeof c[k])))
                goto fail;
        const char *row[8] = {pairs[i].fam, q->device, thr, qn, c[0], c[1], c[2], c[3]};
        elm__table_row(r, 8, row);
    }
    elm__table_end(r);
    elm__notes_text(&notes, " Not available: ", &foot);
    elm__fig_caption(r,
                     "Each quantization's figure divided by that of the F16 (or BF16/F32) model of "
                     "the same family on the same device and thread count (the newest in-process "
                     "run of each file): peak RSS, prefill and generation tokens/s, generation "
                     "energy per token. Factors below 1 are marked: less memory and energy is a "
                     "gain, less throughput a loss.%s",
                     foot.p ? foot.p : "");
    rc = foot.oom ? ELM_ENOMEM : 0;
fail:
    elm__fig_end(r);
    free(foot.p);
    elm__labels_free(&notes);
    free(pairs);
    return rc;
}

int elm__report_quality(elm__report_t *r)
{
    int rc;
    if ((rc = eval_figure(r, ELM_EVAL_PPL)) || (rc = eval_figure(r, ELM_EVAL_GSM8K)) ||
        (rc = quant_figure(r)))
        return rc;
    return 0;
}
