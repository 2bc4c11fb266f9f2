/* report/: what the bench figures' files (fig_bench.c, fig_memory.c, fig_phases.c) share — a grid
 * of one chosen run per (category, series), the values a chart takes from a run, and the chart and
 * caption helpers built on them. */
#ifndef EDGELM_FIG_BENCH_H
#define EDGELM_FIG_BENCH_H

#include "report_internal.h"

typedef struct elm__grid elm__grid_t;

/* The bench figures' view of the report: its in-process runs and whether they span devices. */
typedef struct {
    elm__report_t *r;
    size_t n_runs;      /* in-process (not --target) runs */
    bool multi_dev;     /* they come from more than one device */
    const char *only;   /* a grid keeps only runs of this model path; NULL: all */
    const char *dev;    /* and only runs on this device; NULL: all */
    bool oom;           /* a grid also takes --target runs that failed for memory, as OOM cells */
    elm__grid_t *md;    /* model x device, with OOM cells: the per-model figures' grid */
    elm__labels_t fam;  /* the model families of the runs */
    double *fam_params; /* (fam.n) the largest parameter estimate of each */
} elm__bench_t;

/* A label of a run (its category or series) into buf. */
typedef void (*elm__key_fn)(const elm__bench_t *b, const elm_record_t *rec, char *buf, size_t cap);
/* The order of a run's category (smaller first): parameters, threads. */
typedef double (*elm__order_fn)(const elm__bench_t *b, const elm_record_t *rec);

/* Labels: "qwen2.5-0.5b Q4_0" (with the device when there are several: model_device); "" (one
 * series); the family; the device; the quantization or governor, with the
 * device when there are several; the thread count; "2 threads, powersave". */
void elm__key_model(const elm__bench_t *b, const elm_record_t *rec, char *buf, size_t cap);
void elm__key_model_device(const elm__bench_t *b, const elm_record_t *rec, char *buf, size_t cap);
void elm__key_none(const elm__bench_t *b, const elm_record_t *rec, char *buf, size_t cap);
void elm__key_family(const elm__bench_t *b, const elm_record_t *rec, char *buf, size_t cap);
void elm__key_device(const elm__bench_t *b, const elm_record_t *rec, char *buf, size_t cap);
void elm__key_quant(const elm__bench_t *b, const elm_record_t *rec, char *buf, size_t cap);
void elm__key_governor(const elm__bench_t *b, const elm_record_t *rec, char *buf, size_t cap);
void elm__key_threads(const elm__bench_t *b, const elm_record_t *rec, char *buf, size_t cap);
void elm__key_config(const elm__bench_t *b, const elm_record_t *rec, char *buf, size_t cap);
/* Parameters of the run's model family (its quantizations estimate them differently; one family
 * stays together), a model known only by a server's name last; threads. */
double elm__order_params(const elm__bench_t *b, const elm_record_t *rec);
double elm__order_threads(const elm__bench_t *b, const elm_record_t *rec);

/* One run per (series, category) of the in-process runs (and of b->oom's --target runs): where
 * several share a cell, a measured run over an OOM one, then the one with the highest generation
 * speed (the best configuration), the newest among equals. Categories are ordered by order, then
 * by name; series in first-seen order. */
struct elm__grid {
    elm__labels_t cat, ser;
    double *order;             /* (cat.n) each category's order key (the smallest of its runs) */
    const elm_record_t **cell; /* (ser.n, cat.n) the chosen run; NULL where none */
};

/* Build g from b's runs; returns 0 or ELM_ENOMEM (g is then empty and freeable). */
int elm__grid_build(elm__grid_t *g, const elm__bench_t *b, elm__key_fn cat, elm__key_fn ser,
                    elm__order_fn order);
void elm__grid_free(elm__grid_t *g);
/* The chosen run of (series s, category c), or NULL. */
const elm_record_t *elm__grid_at(const elm__grid_t *g, size_t s, size_t c);

/* What a chart takes from a run: the figure at byte offset off of the record (an elm_stat_t)
 * times scale, or fn's value when fn is set. Unavailable: NaN and *why the run's reason ("OOM"
 * for a --target run that failed for memory). */
typedef struct {
    size_t off;
    double scale;
    double (*fn)(const elm_record_t *rec, double *err, const char **why);
} elm__val_t;
#define ELM__STAT(field, scale) ((elm__val_t){offsetof(elm_record_t, field), (scale), NULL})

/* The value of v for rec (NaN when unavailable, with *why), *err its sd (NaN when one value). */
double elm__val(const elm__val_t *v, const elm_record_t *rec, double *err, const char **why);

/* How elm__add_rows draws a grid's values. */
typedef struct {
    elm_plot_kind_t kind;
    elm_plot_side_t side;
    const char *suffix; /* after each grid series' name in its legend entry; NULL: none */
    int color0;         /* palette index of the first series (the others follow) */
    const double *x;    /* (cat.n) numeric positions; NULL on a categorical axis */
    bool quiet;         /* unavailable cells get an empty note: another series already says it */
} elm__rows_t;

/* A chart's series from a grid: one per grid series, values v of each cell; an unavailable cell
 * carries its reason cut short ("no power sensor"), and why (may be NULL) collects the full
 * reasons for the caption. Returns 0 or an ELM_E* of elm_plot_add. */
int elm__add_rows(elm_plot_t *p, const elm__grid_t *g, const elm__val_t *v, const elm__rows_t *o,
                  elm__labels_t *why);

/* A new categorical chart over g's categories titled title (NULL: none) with the left axis label
 * (log when log), or NULL when out of memory. */
elm_plot_t *elm__chart_cats(const elm__grid_t *g, const char *title, const char *xlabel,
                            const char *ylabel, bool log);

/* Whether any cell of g has v available; and whether the available values of the nv values v
 * span more than two decades (then a log axis). */
bool elm__grid_any(const elm__grid_t *g, const elm__val_t *v);
/* The reason of g's first run without v, or NULL. */
const char *elm__grid_why(const elm__grid_t *g, const elm__val_t *v);
bool elm__grid_wide(const elm__grid_t *g, const elm__val_t *v, size_t nv);

/* In place of a chart: "what: the first in-process run's reason for v." (or "what." when none is
 * unavailable) and the command that produces it. */
void elm__fig_none(const elm__bench_t *b, const elm__val_t *v, const char *what, const char *cmd);

/* The commands that produce the bench figures' data. */
#define ELM__CMD_BENCH "edgelm bench -m SMALL.gguf,LARGE.gguf -t 1,2,4 -r 5"
#define ELM__CMD_ENERGY                                                                        \
    "edgelm probe (lists the power sensors found), then: edgelm bench -m MODEL.gguf -t 1,2,4 " \
    "-r 5 (the first sensor found; or --power-cmd CMD for a USB meter, --watts W)"

/* The figure's caption: the text (printf-style), then the runs behind g ("7 runs shown, measured
 * on A; B; build 0.3.0 (abc1234); 4 repetitions each after a warm-up; 64 prompt / 32 generated
 * tokens.") and why's reasons ("Unavailable: a; b."). */
void elm__caption(elm__report_t *r, const elm__grid_t *g, const elm__labels_t *why, const char *fmt,
                  ...) __attribute__((format(printf, 4, 5)));

/* Draws one device's chart(s) of a figure from g (b->dev names the device); 0 or ELM_ENOMEM. */
typedef int (*elm__draw_fn)(elm__bench_t *b, const elm__grid_t *g, void *user);

/* For each device of the runs, the grid of its runs (cat, ser, order) drawn by draw when any of
 * the nv values vals is available in it; a device where none is goes into why as "device:
 * reason". Returns 0 or ELM_ENOMEM. */
int elm__per_device(elm__bench_t *b, elm__key_fn cat, elm__key_fn ser, elm__order_fn order,
                    const elm__val_t *vals, size_t nv, elm__draw_fn draw, void *user,
                    elm__labels_t *why);


/* The figures of fig_memory.c (3 memory and timeline, 4 threads, 5 perf) and fig_phases.c (6
 * phases and TTFT, 7 energy and action per token); each returns 0 or ELM_ENOMEM. */
int elm__fig_memory(elm__bench_t *b);
int elm__fig_timeline(elm__bench_t *b);
int elm__fig_threads(elm__bench_t *b);
int elm__fig_perf(elm__bench_t *b);
int elm__fig_phases(elm__bench_t *b);
int elm__fig_ttft(elm__bench_t *b);
int elm__fig_energy_token(elm__bench_t *b);
int elm__fig_action(elm__bench_t *b);

/* The model path whose runs have the most distinct thread counts (the largest model among
 * equals), or NULL when there are no runs: the configuration figures' model. */
const char *elm__config_model(const elm__bench_t *b);

#endif
