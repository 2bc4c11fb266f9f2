/* The cost table of Edge-First (Table I): rows of CPR, U and PCR, their defaults, the R a row
 * takes from a time to first token, and the rows the results store holds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgelm/metrics.h"
#include "edgelm/store.h"

elm_cost_opts_t elm_cost_opts_default(void)
{
    return (elm_cost_opts_t){.alpha = 0.5, .r_ref = 1.0};
}

void elm_cost_row_init(elm_cost_row_t *w)
{
    memset(w, 0, sizeof *w);
    w->cents_per_kwh = -1;
}

int elm_cost_row_set_ttft(elm_cost_row_t *w, const elm_cost_opts_t *o, double ttft_s, elm_diag_t *d)
{
    if (o->r_norm) {
        strcpy(w->r_source, "normalized");
        int rc = elm_responsiveness_norm(ttft_s, o->r_ref, &w->r, d);
        w->has_r = rc == 0;
        return rc;
    }
    /* Edge-First puts TTFT in seconds straight into Eq. 1 */
    strcpy(w->r_source, "ttft_s");
    w->r = ttft_s;
    w->has_r = true;
    return 0;
}

/* ---- computing ---- */

/* One row's figures; a later failure's reason replaces an earlier one's, and the last is kept. */
static void row_compute(elm_cost_row_t *w, const elm_cost_opts_t *o)
{
    elm_diag_t d;
    elm_diag_clear(&d);
    if (w->cloud) {
        w->has_cpr = elm_cpr_cloud(w->n_in, w->n_out, &w->price, &w->cpr, &d) == 0;
    } else if (w->no_wh) {
        /* the reason is already in why */
    } else if (!o->has_kwh && w->cents_per_kwh < 0) {
        elm_diag(&d, ELM_EINVAL,
                 "CPR needs an electricity price: give --cents-per-kwh or \"cents_per_kwh\"");
    } else {
        double kwh = w->cents_per_kwh >= 0 ? w->cents_per_kwh : o->cents_per_kwh;
        w->has_cpr = elm_cpr_edge(w->wh, kwh, &w->cpr, &d) == 0;
    }
    if (w->has_cpr) w->cpr_paper = elm_round_paper(w->cpr);
    if (w->has_r) w->has_u = elm_utility(o->alpha, w->q, w->r, &w->u, &d) == 0;
    if (w->has_u && w->has_cpr) {
        w->has_pcr = elm_pcr(w->u, w->cpr, &w->pcr, &d) == 0;
        /* Table I divides U by the CPR as printed, rounded */
        if (w->has_pcr && elm_pcr(w->u, w->cpr_paper, &w->pcr_paper, &d) != 0) w->has_pcr = false;
    }
    if (d.code) {
        size_t used = strlen(w->why);
        snprintf(w->why + used, sizeof w->why - used, "%s%s", used ? "; " : "", d.msg);
    }
}

void elm_cost_table_compute(elm_cost_row_t *rows, size_t n, const elm_cost_opts_t *o)
{
    for (size_t i = 0; i < n; i++)
        row_compute(&rows[i], o);
}

/* ---- rows from the results store ---- */

int elm_cost_rows_from_store(struct elm_store *s, const char *match, const char *origin,
                             const elm_cost_opts_t *o, elm_cost_row_t **rows, size_t *n,
                             elm_diag_t *d)
{
    elm_store_cost_row_t *src = NULL;
    elm_cost_row_t *out = NULL;
    size_t n_src = 0;
    int rc;
    *rows = NULL;
    *n = 0;
    if (!origin) origin = "results store";
    if ((rc = elm_store_cost_rows(s, match, &src, &n_src, d))) goto fail;
    if (n_src == 0) {
        rc = elm_diag(d, ELM_ENOENT,
                      "%s: no model%s%s%s has both an 'edgelm eval gsm8k' result and an 'edgelm "
                      "bench' record with a TTFT (run both with the same -m path)",
                      origin, match ? " matching '" : "", match ? match : "", match ? "'" : "");
        goto fail;
    }
    if (!(out = calloc(n_src, sizeof *out))) {
        rc = elm_diag(d, ELM_ENOMEM, "%s: out of memory", origin);
        goto fail;
    }
    for (size_t i = 0; i < n_src; i++) {
        elm_cost_row_t *w = &out[i];
        const char *slash = strrchr(src[i].model, '/');
        elm_cost_row_init(w);
        snprintf(w->platform, sizeof w->platform, "%.63s", slash ? slash + 1 : src[i].model);
        w->q = src[i].q;
        w->wh = src[i].wh;
        if (!src[i].has_wh) {
            w->no_wh = true;
            snprintf(w->why, sizeof w->why, "CPR unavailable: %s", src[i].why);
        }
        /* a TTFT the store holds is >= 0, so only a bad r_ref fails here: R stays unavailable */
        elm_diag_t dd;
        elm_cost_row_set_ttft(w, o, src[i].ttft_s, &dd);
    }
    free(src);
    *rows = out;
    *n = n_src;
    return 0;
fail:
    free(out);
    free(src);
    return rc;
}
