/* Reading the results store back: a record rebuilt from its JSON form (the inverse of
 * elm_record_to_json), and the `runs` and `evals` rows that pass a model / date filter, for
 * `edgelm report`. Schema: docs/store.md. */
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "edgelm/store.h"
#include "internal.h"

/* ---- JSON -> record ---- */

/* The reason a figure missing from an older record carries. */
#define NOT_RECORDED "not recorded"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* What a field is read as. */
typedef enum { F_STR, F_INT, F_U32, F_U64, F_DBL, F_BOOL, F_STAT, F_DIST } field_kind_t;

typedef struct {
    const char *name; /* the JSON key */
    field_kind_t kind;
    size_t off, cap; /* offset in the struct; F_STR: the buffer's size */
} field_t;

#define STR(T, key, member) {key, F_STR, offsetof(T, member), sizeof(((T *)0)->member)}
#define NUM(T, key, member, kind) {key, kind, offsetof(T, member), 0}

/* elm_record_to_json's top-level fields; the energy phases, perf counters, reading speed, RSS
 * timeline and target are nested and read apart. */
static const field_t record_fields[] = {
    STR(elm_record_t, "timestamp", timestamp),
    STR(elm_record_t, "edgelm_version", version),
    STR(elm_record_t, "device", device),
    STR(elm_record_t, "cpu_model", cpu_model),
    NUM(elm_record_t, "n_cpus", n_cpus, F_INT),
    STR(elm_record_t, "kernel", kernel),
    STR(elm_record_t, "model", model),
    NUM(elm_record_t, "model_bytes", model_bytes, F_U64),
    STR(elm_record_t, "quant", quant),
    STR(elm_record_t, "arch", arch),
    NUM(elm_record_t, "weight_bytes", weight_bytes, F_U64),
    NUM(elm_record_t, "threads", threads, F_INT),
    NUM(elm_record_t, "threads_batch", threads_batch, F_INT),
    NUM(elm_record_t, "n_prompt", n_prompt, F_U32),
    NUM(elm_record_t, "n_gen", n_gen, F_U32),
    NUM(elm_record_t, "n_ctx", n_ctx, F_U32),
    NUM(elm_record_t, "reps", reps, F_U32),
    STR(elm_record_t, "power_source", power_source),
    STR(elm_record_t, "power_detail", power_detail),
    NUM(elm_record_t, "power_estimated", power_estimated, F_BOOL),
    STR(elm_record_t, "cold_load", cold_note),
    STR(elm_record_t, "git_hash", git_hash),
    STR(elm_record_t, "model_sha256", model_sha256),
    STR(elm_record_t, "cpufreq", cpufreq),
    STR(elm_record_t, "nvpmodel", nvpmodel),
    NUM(elm_record_t, "load_cold_ms", load_cold_ms, F_STAT),
    NUM(elm_record_t, "load_ms", load_ms, F_STAT),
    NUM(elm_record_t, "prefill_tps", prefill_tps, F_STAT),
    NUM(elm_record_t, "ttft_ms", ttft_ms, F_STAT),
    NUM(elm_record_t, "ttft_cold_ms", ttft_cold_ms, F_STAT),
    NUM(elm_record_t, "gen_tps", gen_tps, F_STAT),
    NUM(elm_record_t, "e2e_ms", e2e_ms, F_STAT),
    NUM(elm_record_t, "energy_j", energy_j, F_STAT),
    NUM(elm_record_t, "action_per_token_j", action_s, F_STAT),
    NUM(elm_record_t, "peak_rss_bytes", peak_rss_bytes, F_STAT),
};

static const field_t energy_fields[] = {
    NUM(elm_rec_energy_t, "energy_j", energy_j, F_STAT),
    NUM(elm_rec_energy_t, "j_per_token", j_per_token, F_STAT),
    NUM(elm_rec_energy_t, "avg_w", avg_w, F_STAT),
    NUM(elm_rec_energy_t, "peak_w", peak_w, F_STAT),
};

static const field_t target_fields[] = {
    STR(elm_rec_target_t, "url", url),
    STR(elm_rec_target_t, "model", model),
    STR(elm_rec_target_t, "arrival", arrival),
    NUM(elm_rec_target_t, "concurrency", concurrency, F_U32),
    NUM(elm_rec_target_t, "requests", n_requests, F_U32),
    NUM(elm_rec_target_t, "ok", n_ok, F_U32),
    NUM(elm_rec_target_t, "errors", n_errors, F_U32),
    STR(elm_rec_target_t, "error_detail", errors),
    NUM(elm_rec_target_t, "max_tokens", max_tokens, F_U32),
    NUM(elm_rec_target_t, "tokens", tokens, F_U64),
    STR(elm_rec_target_t, "token_count", token_source),
    NUM(elm_rec_target_t, "ttft_ms", ttft_ms, F_DIST),
    NUM(elm_rec_target_t, "itl_ms", itl_ms, F_DIST),
    NUM(elm_rec_target_t, "tps", tps, F_DIST),
    NUM(elm_rec_target_t, "e2e_ms", e2e_ms, F_DIST),
    NUM(elm_rec_target_t, "window_s", window_s, F_DBL),
    NUM(elm_rec_target_t, "throughput_tps", throughput_tps, F_DBL),
    NUM(elm_rec_target_t, "req_per_s", req_per_s, F_DBL),
    NUM(elm_rec_target_t, "energy_per_request_j", energy_per_req_j, F_STAT),
};

/* ELM_EINVAL naming the field: its key under the object at path ("" at the top). */
static int bad_field(const char *path, const char *key, const char *want, elm_diag_t *d)
{
    return elm_diag(d, ELM_EINVAL, "record field \"%s%s%s\" %s", path, *path ? "." : "", key,
                    want);
}

/* The number at key of o into *v: 0 when it is a finite number in [lo, hi], 1 when absent, else
 * ELM_EINVAL (an infinity, from 1e999, would be written back as null). */
static int get_num(const cJSON *o, const char *path, const char *key, double lo, double hi,
                   double *v, elm_diag_t *d)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!x) return 1;
    if (!cJSON_IsNumber(x)) return bad_field(path, key, "must be a number", d);
    if (!isfinite(x->valuedouble) || !(x->valuedouble >= lo && x->valuedouble <= hi))
        return bad_field(path, key, "is out of range", d);
    *v = x->valuedouble;
    return 0;
}

/* A figure under key, x its value: absent gives NOT_RECORDED and {"unavailable": why} its reason
 * in why (returns 0); otherwise x must be an object of the numbers keys (the last one "n", a
 * count), read into v (returns 1). ELM_EINVAL naming the field and form, what it must be. */
static int get_figure(const cJSON *x, const char *path, const char *key, const char *const *keys,
                      size_t nk, const char *form, double *v, char *why, size_t cap,
                      elm_diag_t *d)
{
    char sub[96];
    if (!x) {
        snprintf(why, cap, NOT_RECORDED);
        return 0;
    }
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(x, "unavailable");
    if (cJSON_IsString(u)) {
        snprintf(why, cap, "%s", u->valuestring);
        return 0;
    }
    snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", key);
    if (!cJSON_IsObject(x) || u) return bad_field(path, key, form, d);
    for (size_t i = 0; i < nk; i++)
        if (get_num(x, sub, keys[i], i + 1 < nk ? -INFINITY : 0,
                    i + 1 < nk ? INFINITY : UINT32_MAX, &v[i], d))
            return bad_field(path, key, form, d);
    return 1;
}

static int get_stat(const cJSON *x, const char *path, const char *key, elm_stat_t *s,
                    elm_diag_t *d)
{
    static const char *const keys[] = {"mean", "sd", "n"};
    double v[3];
    *s = (elm_stat_t){.valid = false};
    int rc = get_figure(x, path, key, keys, COUNT(keys),
                        "must be {\"mean\", \"sd\", \"n\"} or {\"unavailable\": why}", v,
                        s->why, sizeof s->why, d);
    if (rc <= 0) return rc;
    *s = (elm_stat_t){.valid = true, .mean = v[0], .sd = v[1], .n = (uint32_t)v[2]};
    return 0;
}

static int get_dist(const cJSON *x, const char *path, const char *key, elm_dist_t *s,
                    elm_diag_t *d)
{
    static const char *const keys[] = {"mean", "p50", "p90", "p99", "n"};
    double v[5];
    *s = (elm_dist_t){.valid = false};
    int rc = get_figure(x, path, key, keys, COUNT(keys),
                        "must be {\"mean\", \"p50\", \"p90\", \"p99\", \"n\"} or "
                        "{\"unavailable\": why}",
                        v, s->why, sizeof s->why, d);
    if (rc <= 0) return rc;
    *s = (elm_dist_t){
        .valid = true, .mean = v[0], .p50 = v[1], .p90 = v[2], .p99 = v[3], .n = (uint32_t)v[4]};
    return 0;
}

/* The fields of table under o into the struct at base; absent fields are left alone, except
 * figures, which become NOT_RECORDED. */
static int read_fields(const cJSON *o, const char *path, const field_t *table, size_t n,
                       void *base, elm_diag_t *d)
{
    for (size_t i = 0; i < n; i++) {
        const field_t *f = &table[i];
        char *p = (char *)base + f->off;
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, f->name);
        double v = 0;
        int rc = 0;
        switch (f->kind) {
        case F_STR:
            if (x && !cJSON_IsString(x)) return bad_field(path, f->name, "must be a string", d);
            if (x) snprintf(p, f->cap, "%s", x->valuestring);
            break;
        case F_BOOL:
            if (x && !cJSON_IsBool(x)) return bad_field(path, f->name, "must be true or false", d);
            if (x) *(bool *)p = cJSON_IsTrue(x);
            break;
        case F_INT:
            if ((rc = get_num(o, path, f->name, INT32_MIN, INT32_MAX, &v, d)) < 0) return rc;
            if (!rc) *(int *)p = (int)v;
            break;
        case F_U32:
            if ((rc = get_num(o, path, f->name, 0, UINT32_MAX, &v, d)) < 0) return rc;
            if (!rc) *(uint32_t *)p = (uint32_t)v;
            break;
        case F_U64: /* written through a double: exact below 2^53 */
            if ((rc = get_num(o, path, f->name, 0, 18446744073709549568.0, &v, d)) < 0) return rc;
            if (!rc) *(uint64_t *)p = (uint64_t)v;
            break;
        case F_DBL:
            if ((rc = get_num(o, path, f->name, -INFINITY, INFINITY, &v, d)) < 0) return rc;
            if (!rc) *(double *)p = v;
            break;
        case F_STAT:
            if ((rc = get_stat(x, path, f->name, (elm_stat_t *)(void *)p, d))) return rc;
            break;
        case F_DIST:
            if ((rc = get_dist(x, path, f->name, (elm_dist_t *)(void *)p, d))) return rc;
            break;
        }
    }
    return 0;
}

/* An object member: NULL when absent, else it must be an object. */
static int get_object(const cJSON *o, const char *path, const char *key, const cJSON **out,
                      elm_diag_t *d)
{
    *out = cJSON_GetObjectItemCaseSensitive(o, key);
    if (*out && !cJSON_IsObject(*out)) return bad_field(path, key, "must be an object", d);
    return 0;
}

/* energy.{load,prefill,generation} and perf_per_token.<event>: absent ones NOT_RECORDED. */
static int read_energy_perf(const cJSON *o, elm_record_t *r, elm_diag_t *d)
{
    const cJSON *en, *pf;
    char path[48];
    int rc;
    if ((rc = get_object(o, "", "energy", &en, d))) return rc;
    for (int p = 0; p < ELM_REC_PHASES; p++) {
        const char *name = elm_rec_phase_name((elm_rec_phase_t)p);
        const cJSON *ph;
        if ((rc = get_object(en, "energy", name, &ph, d))) return rc;
        snprintf(path, sizeof path, "energy.%s", name);
        if ((rc = read_fields(ph, path, energy_fields, COUNT(energy_fields), &r->energy[p], d)))
            return rc;
    }
    if ((rc = get_object(o, "", "perf_per_token", &pf, d))) return rc;
    for (int e = 0; e < ELM_PERF_COUNT; e++) {
        const char *name = elm_perf_event_name((elm_perf_event_t)e);
        if ((rc = get_stat(cJSON_GetObjectItemCaseSensitive(pf, name), "perf_per_token", name,
                           &r->perf_per_token[e], d)))
            return rc;
    }
    return 0;
}

/* reading_speed {"faster", "ratio"} (its "unavailable" form repeats gen_tps's reason). */
static int read_reading(const cJSON *o, elm_record_t *r, elm_diag_t *d)
{
    const cJSON *rd, *f;
    double v;
    int rc;
    if ((rc = get_object(o, "", "reading_speed", &rd, d))) return rc;
    if ((f = cJSON_GetObjectItemCaseSensitive(rd, "faster"))) {
        if (!cJSON_IsBool(f)) return bad_field("reading_speed", "faster", "must be true or false", d);
        r->reading_fast = cJSON_IsTrue(f);
    }
    if ((rc = get_num(rd, "reading_speed", "ratio", -INFINITY, INFINITY, &v, d)) < 0) return rc;
    if (!rc) r->reading_ratio = v;
    return 0;
}

/* rss_timeline {"t_ms": [...], "bytes": [...]}: two numeric arrays of one length; points past
 * ELM_REC_RSS_POINTS are dropped, as elm_record_to_json never writes them. */
static int read_rss(const cJSON *o, elm_record_t *r, elm_diag_t *d)
{
    const cJSON *tl;
    int rc;
    if ((rc = get_object(o, "", "rss_timeline", &tl, d)) || !tl) return rc;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(tl, "t_ms");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(tl, "bytes");
    if (!cJSON_IsArray(t) || !cJSON_IsArray(b) || cJSON_GetArraySize(t) != cJSON_GetArraySize(b))
        return bad_field("", "rss_timeline", "must hold arrays \"t_ms\" and \"bytes\" of one length",
                         d);
    uint32_t n = 0;
    for (const cJSON *x = t->child, *y = b->child; x && y && n < ELM_REC_RSS_POINTS;
         x = x->next, y = y->next, n++) {
        /* t_ms is kept as a float: a time beyond its range would come back infinite */
        bool tx = cJSON_IsNumber(x) && fabs(x->valuedouble) <= FLT_MAX;
        if (!tx || !cJSON_IsNumber(y) || !isfinite(y->valuedouble))
            return bad_field("rss_timeline", tx ? "bytes" : "t_ms", "must hold finite numbers only",
                             d);
        r->rss_t_ms[n] = (float)x->valuedouble;
        r->rss_bytes[n] = y->valuedouble;
    }
    r->n_rss = n;
    return 0;
}

int elm_record_from_json(const cJSON *j, elm_record_t *r, elm_diag_t *d)
{
    const cJSON *tg;
    int rc;
    memset(r, 0, sizeof *r);
    if (!cJSON_IsObject(j)) {
        rc = elm_diag(d, ELM_EINVAL, "the record is not a JSON object");
        goto fail;
    }
    if ((rc = read_fields(j, "", record_fields, COUNT(record_fields), r, d)) ||
        (rc = read_energy_perf(j, r, d)) || (rc = read_reading(j, r, d)) ||
        (rc = read_rss(j, r, d)) || (rc = get_object(j, "", "target", &tg, d)))
        goto fail;
    r->is_target = tg != NULL;
    if (tg && (rc = read_fields(tg, "target", target_fields, COUNT(target_fields), &r->target, d)))
        goto fail;
    return 0;
fail:
    memset(r, 0, sizeof *r);
    return rc;
}

/* ---- rows ---- */

/* Prepare sql, whose ?1 is the model substring and ?2 the earliest date, with f bound. */
static int prepare_filtered(elm_store_t *s, const char *sql, const elm_store_filter_t *f,
                            const char *what, sqlite3_stmt **st, elm_diag_t *d)
{
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
        return elm__store_fail(s->db, s->path, what, d);
    sqlite3_bind_text(*st, 1, f && f->match ? f->match : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(*st, 2, f && f->since ? f->since : "", -1, SQLITE_STATIC);
    return 0;
}

/* The rowids of elm_store_runs, kept beside its records. */
typedef struct {
    int64_t *ids;
    size_t cap;
    bool want;
} run_ids_t;

/* One `runs` row (id, record) into dst; ELM_EINVAL naming the store and the row when the record
 * does not parse. */
static int run_row(elm_store_t *s, sqlite3_stmt *st, size_t index, void *dst, void *ctx,
                   elm_diag_t *d)
{
    run_ids_t *x = ctx;
    elm_diag_t why = {0};
    int64_t id = sqlite3_column_int64(st, 0);
    const unsigned char *text = sqlite3_column_text(st, 1);
    cJSON *j = text ? cJSON_Parse((const char *)text) : NULL;
    int rc = 0;
    if (!j)
        rc = elm_diag(d, ELM_EINVAL, "%s: run %lld: the record is not JSON", s->path,
                      (long long)id);
    else if (elm_record_from_json(j, dst, &why))
        rc = elm_diag(d, ELM_EINVAL, "%s: run %lld: %s", s->path, (long long)id, why.msg);
    else if (x->want && !(rc = elm__store_grow(s, &x->ids, &x->cap, index, sizeof *x->ids, d)))
        x->ids[index] = id;
    cJSON_Delete(j);
    return rc;
}

int elm_store_runs(elm_store_t *s, const elm_store_filter_t *f, elm_record_t **out, int64_t **ids,
                   size_t *n, elm_diag_t *d)
{
    /* instr, not LIKE: '%' and '_' in a model path are plain characters; an ISO 8601 prefix
     * sorts before every timestamp it starts, so >= takes since as a prefix. */
    static const char sql[] = "SELECT id, record FROM runs WHERE instr(model, ?1) > 0 "
                              "AND timestamp >= ?2 ORDER BY id";
    sqlite3_stmt *st = NULL;
    run_ids_t x = {.want = ids != NULL};
    int rc;
    *out = NULL;
    if (ids) *ids = NULL;
    *n = 0;
    if ((rc = prepare_filtered(s, sql, f, "reading runs", &st, d)) ||
        (rc = elm__store_collect(s, st, sizeof **out, run_row, &x, "reading runs", out, n, d)))
        goto fail;
    if (ids) *ids = x.ids;
    return 0;
fail:
    free(x.ids);
    return rc;
}

/* One `evals` row into dst. */
static int eval_row(elm_store_t *s, sqlite3_stmt *st, size_t index, void *dst, void *ctx,
                    elm_diag_t *d)
{
    (void)s, (void)index, (void)ctx, (void)d;
    elm_store_eval_row_t *w = dst;
    w->id = sqlite3_column_int64(st, 0);
    elm__store_text(w->created, sizeof w->created, sqlite3_column_text(st, 1));
    const unsigned char *kind = sqlite3_column_text(st, 2);
    w->kind = kind && !strcmp((const char *)kind, "gsm8k") ? ELM_EVAL_GSM8K : ELM_EVAL_PPL;
    elm__store_text(w->model, sizeof w->model, sqlite3_column_text(st, 3));
    w->model_bytes = (uint64_t)sqlite3_column_int64(st, 4);
    elm__store_text(w->quant, sizeof w->quant, sqlite3_column_text(st, 5));
    w->n = (uint32_t)sqlite3_column_int64(st, 6);
    w->value = sqlite3_column_double(st, 7);
    w->err = sqlite3_column_type(st, 8) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 8);
    return 0;
}

int elm_store_evals(elm_store_t *s, const elm_store_filter_t *f, elm_store_eval_row_t **out,
                    size_t *n, elm_diag_t *d)
{
    static const char sql[] =
        "SELECT id, created, kind, model, model_bytes, quant, n, value, err FROM evals "
        "WHERE instr(model, ?1) > 0 AND created >= ?2 ORDER BY id";
    sqlite3_stmt *st = NULL;
    int rc;
    *out = NULL;
    *n = 0;
    if ((rc = prepare_filtered(s, sql, f, "reading evals", &st, d))) return rc;
    return elm__store_collect(s, st, sizeof **out, eval_row, NULL, "reading evals", out, n, d);
}
