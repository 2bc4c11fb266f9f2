/* Eval results in the results store: `edgelm eval`'s final figures (`evals`), GSM8K's
 * per-question records (`eval_items`), and the join of GSM8K accuracy with bench TTFT and
 * energy that `edgelm cost --db` turns into Edge-First's Table I. Schema: docs/store.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "edgelm/store.h"
#include "internal.h"

const char elm__store_evals_schema[] =
    "CREATE TABLE evals (id INTEGER PRIMARY KEY, created TEXT NOT NULL, "
    "kind TEXT NOT NULL CHECK (kind IN ('ppl', 'gsm8k')), model TEXT NOT NULL, "
    "model_bytes INTEGER, quant TEXT, n INTEGER, value REAL NOT NULL, err REAL, config TEXT); "
    "CREATE TABLE eval_items (eval_id INTEGER NOT NULL REFERENCES evals(id), "
    "item INTEGER NOT NULL, record TEXT NOT NULL, PRIMARY KEY (eval_id, item))";

const char *elm_eval_kind_name(elm_eval_kind_t k)
{
    switch (k) {
    case ELM_EVAL_PPL: return "ppl";
    case ELM_EVAL_GSM8K: return "gsm8k";
    }
    return "?";
}

/* ---- appending ---- */

static int insert_eval(elm_store_t *s, const elm_eval_rec_t *e, int64_t *id, elm_diag_t *d)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO evals (created, kind, model, model_bytes, quant, n, "
                           "value, err, config) VALUES (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), "
                           "?, ?, ?, ?, ?, ?, ?, ?)",
                           -1, &st, NULL) != SQLITE_OK)
        return elm__store_fail(s->db, s->path, "preparing the eval insert", d);
    sqlite3_bind_text(st, 1, elm_eval_kind_name(e->kind), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, e->model, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)e->model_bytes);
    if (e->quant)
        sqlite3_bind_text(st, 4, e->quant, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 4);
    sqlite3_bind_int64(st, 5, e->n);
    sqlite3_bind_double(st, 6, e->value);
    sqlite3_bind_double(st, 7, e->err);
    if (e->config)
        sqlite3_bind_text(st, 8, e->config, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 8);
    int rc = 0;
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = elm__store_fail(s->db, s->path, "appending an eval result", d);
    else
        *id = sqlite3_last_insert_rowid(s->db);
    sqlite3_finalize(st);
    return rc;
}

static int insert_items(elm_store_t *s, int64_t eval_id, const elm_eval_item_t *items, size_t n,
                        elm_diag_t *d)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "INSERT INTO eval_items (eval_id, item, record) VALUES (?, ?, ?)",
                           -1, &st, NULL) != SQLITE_OK)
        return elm__store_fail(s->db, s->path, "preparing the eval item insert", d);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        sqlite3_bind_int64(st, 1, eval_id);
        sqlite3_bind_int64(st, 2, items[i].item);
        sqlite3_bind_text(st, 3, items[i].json, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = elm__store_fail(s->db, s->path, "appending an eval item", d);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rc;
}

int elm_store_add_eval(elm_store_t *s, const elm_eval_rec_t *e, const elm_eval_item_t *items,
                       size_t n_items, int64_t *id, elm_diag_t *d)
{
    int rc;
    int64_t eval_id = 0;
    if (id) *id = 0;
    if ((rc = elm__store_exec(s, "BEGIN IMMEDIATE", d))) return rc;
    if ((rc = insert_eval(s, e, &eval_id, d)) ||
        (n_items && (rc = insert_items(s, eval_id, items, n_items, d))) ||
        (rc = elm__store_exec(s, "COMMIT", d))) {
        elm__store_exec(s, "ROLLBACK", NULL);
        return rc;
    }
    if (id) *id = eval_id;
    return 0;
}

int elm_store_count_evals(elm_store_t *s, int64_t *n, elm_diag_t *d)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;
    *n = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM evals", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        rc = elm__store_fail(s->db, s->path, "counting evals", d);
    else
        *n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc;
}

/* ---- Table I rows ---- */

/* The reason the record JSON gives for its unavailable prefill + generation energy. */
static void energy_reason(const unsigned char *record, char *why, size_t cap)
{
    snprintf(why, cap, "the bench record has no energy figure");
    cJSON *j = record ? cJSON_Parse((const char *)record) : NULL;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "energy_j");
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(e, "unavailable");
    if (cJSON_IsString(u) && u->valuestring[0]) snprintf(why, cap, "%s", u->valuestring);
    cJSON_Delete(j);
}

/* One row of the Table I join. */
static int cost_row(elm_store_t *s, sqlite3_stmt *st, size_t index, void *dst, void *ctx,
                    elm_diag_t *d)
{
    (void)s, (void)index, (void)ctx, (void)d;
    elm_store_cost_row_t *w = dst;
    elm__store_text(w->model, sizeof w->model, sqlite3_column_text(st, 0));
    elm__store_text(w->quant, sizeof w->quant, sqlite3_column_text(st, 1));
    w->q = sqlite3_column_double(st, 2);
    w->q_n = (uint32_t)sqlite3_column_int64(st, 3);
    w->ttft_s = sqlite3_column_double(st, 4) / 1e3;
    w->has_wh = sqlite3_column_type(st, 5) != SQLITE_NULL;
    if (w->has_wh)
        w->wh = sqlite3_column_double(st, 5) / 3600.0; /* J per response -> Wh */
    else
        energy_reason(sqlite3_column_text(st, 6), w->why, sizeof w->why);
    return 0;
}

int elm_store_cost_rows(elm_store_t *s, const char *match, elm_store_cost_row_t **rows, size_t *n,
                        elm_diag_t *d)
{
    /* The newest GSM8K eval of each model path, and the newest bench row of the same path that
     * has a warm TTFT. */
    static const char sql[] =
        "SELECT e.model, e.quant, e.value, e.n, r.ttft_ms, r.energy_j, r.record "
        "FROM evals e JOIN runs r ON r.model = e.model "
        "WHERE e.kind = 'gsm8k' AND instr(e.model, ?1) > 0 "
        "AND e.id = (SELECT max(id) FROM evals WHERE kind = 'gsm8k' AND model = e.model) "
        "AND r.id = (SELECT max(id) FROM runs WHERE model = e.model AND ttft_ms IS NOT NULL) "
        "ORDER BY e.model";
    sqlite3_stmt *st = NULL;
    *rows = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return elm__store_fail(s->db, s->path, "reading evals and runs", d);
    sqlite3_bind_text(st, 1, match ? match : "", -1, SQLITE_STATIC);
    return elm__store_collect(s, st, sizeof **rows, cost_row, NULL, "reading evals and runs", rows,
                              n, d);
}
