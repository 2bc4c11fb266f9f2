/* The cloud price table: built-in defaults (the same as data/prices.json) and a JSON loader, so
 * users price other models or newer list prices without rebuilding. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "edgelm/metrics.h"

/* Keep in step with data/prices.json (test_metrics checks it). */
static elm_price_t default_items[] = {
    {"gpt-4o-mini", 0.15, 0.60, "OpenAI list price since July 2024"},
    {"gpt-4o", 2.50, 10.00,
     "OpenAI list price since August 2024 (gpt-4o-2024-08-06; $5/$15 at launch in May 2024)"},
    {"gpt-4", 30.00, 60.00,
     "GPT-4 8k context, $0.03/$0.06 per 1K tokens: the model and price of Edge-First Table I "
     "(48 in / 249 out tokens gives 1.638 cents; the paper prints 1.65, see docs/metrics.md)"},
};

static const elm_price_table_t default_table = {default_items,
                                                sizeof default_items / sizeof default_items[0]};

const elm_price_table_t *elm_prices_default(void)
{
    return &default_table;
}

void elm_prices_free(elm_price_table_t *t)
{
    if (!t) return;
    free(t->items);
    t->items = NULL;
    t->n = 0;
}

const elm_price_t *elm_prices_find(const elm_price_table_t *t, const char *name)
{
    if (!t || !name) return NULL;
    for (size_t i = 0; i < t->n; i++)
        if (!strcasecmp(t->items[i].name, name)) return &t->items[i];
    return NULL;
}

/* One price field of entry i: present, a number, finite and >= 0. */
static int get_price(const cJSON *e, const char *key, const char *origin, const char *name,
                     double *out, elm_diag_t *d)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, key);
    if (!v)
        return elm_diag(d, ELM_ENOKEY,
                        "%s: model \"%s\" has no \"%s\" (US dollars per million "
                        "tokens)",
                        origin, name, key);
    if (!cJSON_IsNumber(v))
        return elm_diag(d, ELM_EKEYTYPE,
                        "%s: model \"%s\": \"%s\" must be a number of US dollars "
                        "per million tokens",
                        origin, name, key);
    if (!isfinite(v->valuedouble) || v->valuedouble < 0)
        return elm_diag(d, ELM_EINVAL,
                        "%s: model \"%s\": \"%s\" is negative (%g); prices must "
                        "be >= 0",
                        origin, name, key, v->valuedouble);
    *out = v->valuedouble;
    return 0;
}

int elm_prices_parse(const char *json, size_t len, const char *origin, elm_price_table_t *out,
                     elm_diag_t *d)
{
    int rc = 0;
    out->items = NULL;
    out->n = 0;
    if (!origin) origin = "price table";
    elm_price_t *items = NULL;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) {
        rc = elm_diag(d, ELM_EINVAL, "%s: not valid JSON (near byte %td)", origin,
                      cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() - json : (ptrdiff_t)0);
        goto fail;
    }
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "prices");
    if (!cJSON_IsArray(arr)) {
        rc = elm_diag(d, ELM_ENOKEY,
                      "%s: no \"prices\" array (see share/edgelm/prices.json for the shape)",
                      origin);
        goto fail;
    }
    int n = cJSON_GetArraySize(arr);
    if (n == 0) {
        rc = elm_diag(d, ELM_EINVAL, "%s: \"prices\" is empty; list at least one model", origin);
        goto fail;
    }
    items = calloc((size_t)n, sizeof *items);
    if (!items) {
        rc = elm_diag(d, ELM_ENOMEM, "%s: out of memory", origin);
        goto fail;
    }
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        elm_price_t *p = &items[i];
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
        if (!cJSON_IsString(name) || !name->valuestring[0]) {
            rc = elm_diag(d, ELM_ENOKEY, "%s: price entry %d has no \"name\" string", origin, i);
            goto fail;
        }
        if (strlen(name->valuestring) >= sizeof p->name) {
            rc = elm_diag(d, ELM_EINVAL, "%s: price entry %d: name is longer than %zu bytes",
                          origin, i, sizeof p->name - 1);
            goto fail;
        }
        strcpy(p->name, name->valuestring);
        for (int j = 0; j < i; j++)
            if (!strcasecmp(items[j].name, p->name)) {
                rc = elm_diag(d, ELM_EEXIST, "%s: model \"%s\" is listed twice", origin, p->name);
                goto fail;
            }
        if ((rc = get_price(e, "usd_per_m_input", origin, p->name, &p->usd_per_m_in, d)) ||
            (rc = get_price(e, "usd_per_m_output", origin, p->name, &p->usd_per_m_out, d)))
            goto fail;
        const cJSON *note = cJSON_GetObjectItemCaseSensitive(e, "note");
        if (cJSON_IsString(note)) snprintf(p->note, sizeof p->note, "%s", note->valuestring);
        i++;
    }
    cJSON_Delete(root);
    out->items = items;
    out->n = (size_t)n;
    return 0;
fail:
    free(items);
    cJSON_Delete(root);
    return rc;
}

int elm_prices_load(const char *path, elm_price_table_t *out, elm_diag_t *d)
{
    char *buf;
    size_t len;
    out->items = NULL;
    out->n = 0;
    int rc = elm_file_read(path, 64u << 20, &buf, &len, d);
    if (rc) return rc;
    rc = elm_prices_parse(buf, len, path, out, d);
    free(buf);
    return rc;
}
