/* report/: what the quality, cost and routing figures share — a categorical chart in two calls —
 * and the reader of `edgelm simulate --json` documents that fig_route.c draws from (declared here
 * for its fuzz harness and tests). */
#ifndef EDGELM_REPORT_FIG_OTHER_H
#define EDGELM_REPORT_FIG_OTHER_H

#include <stdbool.h>
#include <stddef.h>

#include "edgelm/sim.h"
#include "report_internal.h"

/* ---- series on category charts (elm__chart_new in report_internal.h) ---- */

/* Add series name of kind k on side with y, err (may be NULL) and notes (may be NULL), n points.
 * Returns 0 or the error of elm_plot_add. */
int elm__chart_add(elm_plot_t *p, const char *name, elm_plot_kind_t k, elm_plot_side_t side,
                   size_t n, const double *y, const double *err, const char *const *note);

/* ---- unavailable table cells ---- */

/* "n/a [k]" into cell, k the number of why among notes (added when new): a table's footnote.
 * Returns 0 or ELM_ENOMEM. */
int elm__note_cell(elm__labels_t *notes, const char *why, char *cell, size_t cap);
/* The footnotes "[1] why; [2] why" of notes into b, after lead; nothing when there are none. */
void elm__notes_text(const elm__labels_t *notes, const char *lead, elm_sbuf_t *b);

/* ---- routing scenarios ---- */

/* One routing scenario as the report draws it: a simulated workload + strategy (means and 95 %
 * CIs over seeds) or a gateway access log (one recorded run, no CI). */
typedef struct {
    char label[192];                /* "steady+random", "access.jsonl (load-aware)" */
    bool from_log;                  /* a log: no CI; dev_util holds shares of served requests */
    uint32_t n_runs;                /* seeds (1 for a log) */
    double mean[ELM_SIM_M_COUNT];   /* by elm_sim_metric_t */
    double ci95[ELM_SIM_M_COUNT];   /* half-widths; NaN for a log */
    uint32_t n_dev;
    double dev_util[ELM_ROUTE_MAX_DEVICES]; /* mean over the runs, or the share served */
    char dev_name[ELM_ROUTE_MAX_DEVICES][ELM_ROUTE_NAME_MAX];
} elm__route_scn_t;

/* A growing list of scenarios (free with elm__route_set_free). */
typedef struct {
    elm__route_scn_t *s;
    size_t n, cap;
} elm__route_set_t;

/* Parse len bytes of an `edgelm simulate --json` document (elm_sim_json's shape) and append one
 * scenario per entry of its "scenarios" to set. Strict: a missing or mistyped field, a negative
 * or non-finite number, runs whose "util" arrays differ in length give ELM_EINVAL with *d naming
 * fname and the field ("sim.json: scenarios[1].summary.rejected.ci95: missing or not a number");
 * then set is as it was. Returns 0, ELM_EINVAL or ELM_ENOMEM. */
int elm__route_sim_parse(const char *text, size_t len, const char *fname, elm__route_set_t *set,
                         elm_diag_t *d);
/* Append the scenario of a parsed gateway access log named fname. Returns 0 or ELM_ENOMEM. */
int elm__route_log_add(const elm_sim_log_t *log, const char *fname, elm__route_set_t *set,
                       elm_diag_t *d);
void elm__route_set_free(elm__route_set_t *set);

#endif
