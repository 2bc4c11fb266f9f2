/* edgelm report: the papers' figures and tables from the results store, simulator comparisons and
 * gateway access logs, as one self-contained HTML page (inline SVG from edgelm/plot.h and CSS; no
 * script, nothing fetched) for screen and print. */
#ifndef EDGELM_REPORT_H
#define EDGELM_REPORT_H

#include <stddef.h>

#include "edgelm/base.h"
#include "edgelm/metrics.h"
#include "edgelm/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What goes into a report. */
typedef struct {
    const char *title;         /* NULL: "edgelm report" */
    elm_store_t *store;        /* NULL: no store; every figure from it says what to run */
    const char *store_path;    /* named in the facts block; may be NULL */
    const char *store_why;     /* why there is no store (store NULL), for the facts block */
    elm_store_filter_t filter; /* --model, --since */
    const char *const *sim_paths; /* (n_sim) `edgelm simulate --json` documents */
    size_t n_sim;
    const char *const *log_paths; /* (n_log) `edgelm gateway --log` access logs */
    size_t n_log;
    elm_cost_opts_t cost;           /* alpha and the electricity price of the cost figures */
    const elm_price_table_t *prices; /* cloud prices (elm_prices_default() when NULL) */
    const char *generated;          /* when the report was made, UTC ISO 8601 (the caller's clock) */
    const char *version;            /* the edgelm build that made it ("0.3.0 (abc1234)") */
} elm_report_opts_t;

/* Write the report of o as one HTML document: the title, a facts block (devices, CPUs, builds,
 * dates of the data), a contents list, then each figure — drawn from what the inputs hold, or a
 * note naming the command that produces its data. *html is malloc'd (caller frees), *len its
 * length. Returns 0, ELM_EIO / ELM_EINVAL (a simulator JSON or access log that cannot be read or
 * parsed: the diag names the file and the problem), a store error, or ELM_ENOMEM; on failure
 * *html is NULL. */
int elm_report_html(const elm_report_opts_t *o, char **html, size_t *len, elm_diag_t *d);

#ifdef __cplusplus
}
#endif
#endif
