/* report/: what the report's files share — the inputs loaded once, the page being written, the
 * figure frame (heading, contents entry, caption, "what to run") and the labels every figure
 * groups by (model, family, device, governor). */
#ifndef EDGELM_REPORT_INTERNAL_H
#define EDGELM_REPORT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "edgelm/plot.h"
#include "edgelm/report.h"

typedef struct {
    const elm_report_opts_t *o;
    elm_record_t *runs; /* (n_runs) the store's rows passing the filter, oldest first */
    size_t n_runs;
    elm_store_eval_row_t *evals; /* (n_evals) */
    size_t n_evals;
    elm_sbuf_t body; /* the figures' HTML */
    elm_sbuf_t toc;  /* the contents list's items */
    int n_fig;       /* figures begun so far */
    elm_diag_t *d;
} elm__report_t;

/* ---- the figure frame (report.c) ---- */

/* Begin figure n ("fig-speed" as its anchor id): its heading "n. title" in the body and its entry
 * in the contents list. source names the paper's figure ("Edge-First Fig. 3 (top)"). */
void elm__fig_begin(elm__report_t *r, const char *id, const char *title, const char *source);
/* Add a chart: svg is taken (freed here); NULL means out of memory and sets r's error. */
void elm__fig_svg(elm__report_t *r, char *svg);
/* The caption under the chart: what was measured, on which devices and builds, how many
 * repetitions (printf-style; the text is escaped). */
void elm__fig_caption(elm__report_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* In place of a chart: no data for it, and the command that produces it (both escaped). */
void elm__fig_missing(elm__report_t *r, const char *what, const char *command);
/* End the figure begun last. */
void elm__fig_end(elm__report_t *r);

/* A new chart titled title (NULL: none) over n categories (x axis xlabel) with a left y axis
 * ylabel (log scale when log, else from 0). Returns NULL when out of memory; free with
 * elm_plot_free. */
elm_plot_t *elm__chart_new(const char *title, const char *xlabel, size_t n,
                           const char *const *cats, const char *ylabel, bool log);
/* Put p's SVG in the figure and free p (NULL: out of memory); 0 or ELM_ENOMEM. */
int elm__fig_chart(elm__report_t *r, elm_plot_t *p);

/* An HTML table: a header row of n cells, then rows of n cells added with elm__table_row; cells
 * are escaped; a cell starting with "\x01" is marked as a decrease (the quantization factors). */
void elm__table_begin(elm__report_t *r, size_t n, const char *const *head);
void elm__table_row(elm__report_t *r, size_t n, const char *const *cells);
void elm__table_end(elm__report_t *r);

/* ---- labels (report.c) ---- */

/* The model's file name without directories ("qwen2.5-0.5b-q4_0.gguf"). */
const char *elm__model_label(const char *path);
/* The model's family: the file name without ".gguf" and without its quantization
 * ("qwen2.5-0.5b-q4_0.gguf" with quant Q4_0 -> "qwen2.5-0.5b") into buf. */
void elm__model_family(const char *path, const char *quant, char *buf, size_t cap);
/* Parameters estimated from the weights' bytes and the quantization's bits per weight, to order
 * models by size; 0 when unknown. */
double elm__model_params(const elm_record_t *rec);
/* The governor or power mode of a record: "performance", "powersave", the Jetson mode, or
 * "unknown"; into buf. */
void elm__governor(const elm_record_t *rec, char *buf, size_t cap);

/* A set of distinct strings in first-seen order (labels of series or categories). */
typedef struct {
    char **s;
    size_t n, cap;
} elm__labels_t;
/* Index of v in l, adding it when absent; -1 when out of memory. */
int elm__labels_add(elm__labels_t *l, const char *v);
/* Index of v in l, or -1. */
int elm__labels_find(const elm__labels_t *l, const char *v);
void elm__labels_free(elm__labels_t *l);

/* ---- the figures, in page order (each writes one or more figures, returns 0 or ELM_ENOMEM) ---- */

/* fig_bench.c: 1 speed and TTFT, 2 energy per query and power, 3 peak memory and the memory
 * timeline, 4 threads and governors, 5 perf counters, 6 load / prefill / generation and the TTFT
 * breakdown, 7 energy per token and action per token. */
int elm__report_bench(elm__report_t *r);
/* fig_quality.c: 8 perplexity and GSM8K, 9 quantization change factors. */
int elm__report_quality(elm__report_t *r);
/* fig_cost.c: 10 Table I, cost per million tokens, battery runs, break-even heatmap. */
int elm__report_cost(elm__report_t *r);
/* fig_route.c: 11 routing from simulator JSON and gateway access logs. */
int elm__report_route(elm__report_t *r);

#endif
