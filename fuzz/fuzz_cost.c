/* libFuzzer harness for the cost records parser: parse arbitrary bytes; on success every row must
 * keep the parser's promises and the table must compute without a figure that is not finite; on
 * failure the outputs must be empty and the message say why. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "edgelm/metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A figure the table shows is a number >= 0; a product of huge inputs may overflow to infinity. */
static int bad_figure(bool has, double v)
{
    return has && (isnan(v) || v < 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    elm_cost_opts_t o = elm_cost_opts_default();
    elm_cost_row_t *rows = NULL;
    size_t n = 0;
    elm_diag_t d;
    elm_diag_clear(&d);
    /* half the inputs with normalized R, so both ways of reading TTFT are reached */
    o.r_norm = size % 2;
    int rc = elm_cost_records_parse((const char *)data, size, "fuzz.json", NULL, &o, &rows, &n, &d);
    if (rc) {
        if (rows || n || !d.msg[0] || rc != d.code) __builtin_trap();
        return 0;
    }
    if (!rows || !n || !(o.alpha >= 0 && o.alpha <= 1)) __builtin_trap();
    if (o.has_kwh && !(o.cents_per_kwh >= 0)) __builtin_trap();
    for (size_t i = 0; i < n; i++) {
        const elm_cost_row_t *w = &rows[i];
        if (!w->platform[0] || !(w->q >= 0 && w->q <= 1)) __builtin_trap();
        if (w->cloud && !(w->price.usd_per_m_in >= 0 && w->price.usd_per_m_out >= 0))
            __builtin_trap();
        if (!w->has_r && !w->why[0]) __builtin_trap();
    }
    elm_cost_table_compute(rows, n, &o);
    for (size_t i = 0; i < n; i++) {
        const elm_cost_row_t *w = &rows[i];
        if (bad_figure(w->has_cpr, w->cpr) || bad_figure(w->has_cpr, w->cpr_paper) ||
            bad_figure(w->has_u, w->u) || bad_figure(w->has_pcr, w->pcr) ||
            bad_figure(w->has_pcr, w->pcr_paper))
            __builtin_trap();
        if (w->has_pcr && (!w->has_u || !w->has_cpr || !(w->cpr > 0))) __builtin_trap();
        if ((!w->has_cpr || !w->has_u) && !w->why[0]) __builtin_trap();
    }
    free(rows);
    return 0;
}
