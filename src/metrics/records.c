/* The cost records format: a JSON document of Table I rows (cloud tokens and price, or edge energy
 * per response; Q; R or TTFT), validated field by field with messages that name the record. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "edgelm/metrics.h"

/* A record's optional number: absent (*present false), or a finite number >= 0. */
static int rec_number(const cJSON *rec, const char *key, double *v, bool *present,
                      const char *origin, int idx, elm_diag_t *d)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(rec, key);
    *present = x != NULL;
    if (!x) return 0;
    if (!cJSON_IsNumber(x))
        return elm_diag(d, ELM_EKEYTYPE, "%s: record %d: \"%s\" must be a number", origin, idx,
                        key);
    if (!isfinite(x->valuedouble) || x->valuedouble < 0)
        return elm_diag(d, ELM_EINVAL, "%s: record %d: \"%s\" is negative (%g); give a value >= 0",
                        origin, idx, key, x->valuedouble);
    *v = x->valuedouble;
    return 0;
}

/* What a record gave, besides what goes straight into the row. */
typedef struct {
    bool in, out, wh, q, r, ttft, kwh, uin, uout;
    double ttft_s;
} given_t;

static int rec_numbers(const cJSON *rec, const char *origin, int idx, elm_cost_row_t *w, given_t *g,
                       elm_diag_t *d)
{
    int rc;
    if ((rc = rec_number(rec, "input_tokens", &w->n_in, &g->in, origin, idx, d)) ||
        (rc = rec_number(rec, "output_tokens", &w->n_out, &g->out, origin, idx, d)) ||
        (rc = rec_number(rec, "wh_per_response", &w->wh, &g->wh, origin, idx, d)) ||
        (rc = rec_number(rec, "q", &w->q, &g->q, origin, idx, d)) ||
        (rc = rec_number(rec, "r", &w->r, &g->r, origin, idx, d)) ||
        (rc = rec_number(rec, "ttft_s", &g->ttft_s, &g->ttft, origin, idx, d)) ||
        (rc = rec_number(rec, "cents_per_kwh", &w->cents_per_kwh, &g->kwh, origin, idx, d)) ||
        (rc =
             rec_number(rec, "usd_per_m_input", &w->price.usd_per_m_in, &g->uin, origin, idx, d)) ||
        (rc = rec_number(rec, "usd_per_m_output", &w->price.usd_per_m_out, &g->uout, origin, idx,
                         d)))
        return rc;
    return 0;
}

/* A cloud record's price: its own pair, or its "model" looked up in prices. */
static int rec_price(const cJSON *rec, const char *origin, int idx, const elm_price_table_t *prices,
                     const given_t *g, elm_cost_row_t *w, elm_diag_t *d)
{
    if (!g->in || !g->out)
        return elm_diag(d, ELM_ENOKEY,
                        "%s: record %d (%s) needs both \"input_tokens\" and \"output_tokens\"",
                        origin, idx, w->platform);
    if (g->uin || g->uout) {
        if (!g->uin || !g->uout)
            return elm_diag(d, ELM_ENOKEY,
                            "%s: record %d (%s): price missing; give both \"usd_per_m_input\" "
                            "and \"usd_per_m_output\"",
                            origin, idx, w->platform);
        snprintf(w->price.name, sizeof w->price.name, "%s", w->platform);
        return 0;
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(rec, "model");
    if (!cJSON_IsString(model))
        return elm_diag(d, ELM_ENOKEY,
                        "%s: record %d (%s): price missing; give \"model\" (a name in the price "
                        "table) or \"usd_per_m_input\" and \"usd_per_m_output\"",
                        origin, idx, w->platform);
    const elm_price_t *p = elm_prices_find(prices, model->valuestring);
    if (!p)
        return elm_diag(d, ELM_ENOKEY,
                        "%s: record %d (%s): model \"%s\" is not in the price table (see "
                        "'edgelm cost prices')",
                        origin, idx, w->platform, model->valuestring);
    w->price = *p;
    return 0;
}

/* R from "r" (unless R is normalized) or "ttft_s"; a row without one keeps the reason, which is
 * not an error: the table shows its U and PCR as unavailable. */
static void rec_responsiveness(const given_t *g, const elm_cost_opts_t *o, elm_cost_row_t *w)
{
    elm_diag_t dd;
    if (g->r && !o->r_norm) {
        w->has_r = true;
        strcpy(w->r_source, "r");
    } else if (!g->ttft) {
        snprintf(w->why, sizeof w->why, "%s",
                 o->r_norm ? "normalized R needs \"ttft_s\""
                           : "no responsiveness: give \"r\" or \"ttft_s\"");
    } else if (elm_cost_row_set_ttft(w, o, g->ttft_s, &dd)) {
        snprintf(w->why, sizeof w->why, "%s", dd.msg);
    }
}

/* One record (index idx) into *w. */
static int row_from_json(const cJSON *rec, const char *origin, int idx,
                         const elm_price_table_t *prices, const elm_cost_opts_t *o,
                         elm_cost_row_t *w, elm_diag_t *d)
{
    int rc;
    given_t g = {0};
    elm_cost_row_init(w);
    if (!cJSON_IsObject(rec))
        return elm_diag(d, ELM_EINVAL, "%s: record %d is not an object", origin, idx);
    const cJSON *pl = cJSON_GetObjectItemCaseSensitive(rec, "platform");
    if (!cJSON_IsString(pl) || !pl->valuestring[0])
        return elm_diag(d, ELM_ENOKEY, "%s: record %d has no \"platform\" name", origin, idx);
    snprintf(w->platform, sizeof w->platform, "%s", pl->valuestring);
    if ((rc = rec_numbers(rec, origin, idx, w, &g, d))) return rc;
    if (!g.q)
        return elm_diag(d, ELM_ENOKEY, "%s: record %d (%s) has no quality \"q\"", origin, idx,
                        w->platform);
    if (w->q > 1)
        return elm_diag(d, ELM_EINVAL,
                        "%s: record %d (%s): quality \"q\" is %g; it must lie in [0, 1]", origin,
                        idx, w->platform, w->q);
    w->cloud = g.in || g.out || cJSON_GetObjectItemCaseSensitive(rec, "model") || g.uin || g.uout;
    if (w->cloud && g.wh)
        return elm_diag(d, ELM_EINVAL,
                        "%s: record %d (%s) has both cloud tokens and \"wh_per_response\"; give "
                        "one",
                        origin, idx, w->platform);
    if (!w->cloud && !g.wh)
        return elm_diag(d, ELM_ENOKEY,
                        "%s: record %d (%s) has neither \"input_tokens\"/\"output_tokens\" "
                        "(cloud) nor \"wh_per_response\" (edge)",
                        origin, idx, w->platform);
    if (w->cloud && (rc = rec_price(rec, origin, idx, prices, &g, w, d))) return rc;
    rec_responsiveness(&g, o, w);
    return 0;
}

/* The document's "alpha" and "cents_per_kwh", where the caller has not set them. */
static int doc_settings(const cJSON *root, const char *origin, elm_cost_opts_t *o, elm_diag_t *d)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "alpha");
    if (a && !o->has_alpha) {
        if (!cJSON_IsNumber(a) || a->valuedouble < 0 || a->valuedouble > 1)
            return elm_diag(d, ELM_EINVAL, "%s: \"alpha\" must be a number in [0, 1]", origin);
        o->alpha = a->valuedouble;
    }
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(root, "cents_per_kwh");
    if (k && !o->has_kwh) {
        if (!cJSON_IsNumber(k) || k->valuedouble < 0)
            return elm_diag(d, ELM_EINVAL, "%s: \"cents_per_kwh\" must be a number >= 0", origin);
        o->cents_per_kwh = k->valuedouble;
        o->has_kwh = true;
    }
    return 0;
}

int elm_cost_records_parse(const char *json, size_t len, const char *origin,
                           const elm_price_table_t *prices, elm_cost_opts_t *o,
                           elm_cost_row_t **rows, size_t *n, elm_diag_t *d)
{
    int rc = 0;
    elm_cost_row_t *out = NULL;
    *rows = NULL;
    *n = 0;
    if (!origin) origin = "cost records";
    if (!prices) prices = elm_prices_default();
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return elm_diag(d, ELM_EINVAL, "%s: not valid JSON", origin);
    const cJSON *arr = root;
    if (cJSON_IsObject(root)) {
        arr = cJSON_GetObjectItemCaseSensitive(root, "records");
        if ((rc = doc_settings(root, origin, o, d))) goto fail;
    }
    int count = cJSON_GetArraySize(arr);
    if (!cJSON_IsArray(arr) || count == 0) {
        rc = elm_diag(d, ELM_ENOKEY,
                      "%s: no records (want a non-empty \"records\" array, or a top-level array)",
                      origin);
        goto fail;
    }
    if (!(out = calloc((size_t)count, sizeof *out))) {
        rc = elm_diag(d, ELM_ENOMEM, "%s: out of memory", origin);
        goto fail;
    }
    int i = 0;
    const cJSON *rec;
    cJSON_ArrayForEach(rec, arr)
    {
        if ((rc = row_from_json(rec, origin, i, prices, o, &out[i], d))) goto fail;
        i++;
    }
    cJSON_Delete(root);
    *rows = out;
    *n = (size_t)count;
    return 0;
fail:
    free(out);
    cJSON_Delete(root);
    return rc;
}
