/* The results store: a measurement record's JSON form and the SQLite file (a schema_version
 * table and one `runs` row per record: configuration columns, the headline figures as mean and
 * sd columns, NULL where unavailable, and the full JSON record), created or upgraded on open.
 * Eval results live in evals.c. Schema: docs/store.md. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "edgelm/store.h"
#include "internal.h"

const char *elm_rec_phase_name(elm_rec_phase_t ph)
{
    static const char *const names[ELM_REC_PHASES] = {"load", "prefill", "generation"};
    return (unsigned)ph < ELM_REC_PHASES ? names[ph] : "?";
}

/* ---- JSON ---- */

static cJSON *stat_json(const elm_stat_t *s)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    if (s->valid) {
        cJSON_AddNumberToObject(o, "mean", s->mean);
        cJSON_AddNumberToObject(o, "sd", s->sd);
        cJSON_AddNumberToObject(o, "n", s->n);
    } else {
        cJSON_AddStringToObject(o, "unavailable", s->why);
    }
    return o;
}

static void add_stat(cJSON *o, const char *name, const elm_stat_t *s)
{
    cJSON *j = stat_json(s);
    if (j) cJSON_AddItemToObject(o, name, j);
}

static cJSON *dist_json(const elm_dist_t *x)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    if (x->valid) {
        cJSON_AddNumberToObject(o, "mean", x->mean);
        cJSON_AddNumberToObject(o, "p50", x->p50);
        cJSON_AddNumberToObject(o, "p90", x->p90);
        cJSON_AddNumberToObject(o, "p99", x->p99);
        cJSON_AddNumberToObject(o, "n", x->n);
    } else {
        cJSON_AddStringToObject(o, "unavailable", x->why);
    }
    return o;
}

static cJSON *target_json(const elm_rec_target_t *t)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "url", t->url);
    cJSON_AddStringToObject(o, "model", t->model);
    cJSON_AddStringToObject(o, "arrival", t->arrival);
    cJSON_AddNumberToObject(o, "concurrency", t->concurrency);
    cJSON_AddNumberToObject(o, "requests", t->n_requests);
    cJSON_AddNumberToObject(o, "ok", t->n_ok);
    cJSON_AddNumberToObject(o, "errors", t->n_errors);
    cJSON_AddStringToObject(o, "error_detail", t->errors);
    cJSON_AddNumberToObject(o, "max_tokens", t->max_tokens);
    cJSON_AddNumberToObject(o, "tokens", (double)t->tokens);
    cJSON_AddStringToObject(o, "token_count", t->token_source);
    cJSON_AddItemToObject(o, "ttft_ms", dist_json(&t->ttft_ms));
    cJSON_AddItemToObject(o, "itl_ms", dist_json(&t->itl_ms));
    cJSON_AddItemToObject(o, "tps", dist_json(&t->tps));
    cJSON_AddItemToObject(o, "e2e_ms", dist_json(&t->e2e_ms));
    cJSON_AddNumberToObject(o, "window_s", t->window_s);
    cJSON_AddNumberToObject(o, "throughput_tps", t->throughput_tps);
    cJSON_AddNumberToObject(o, "req_per_s", t->req_per_s);
    add_stat(o, "energy_per_request_j", &t->energy_per_req_j);
    return o;
}

cJSON *elm_record_to_json(const elm_record_t *r)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "timestamp", r->timestamp);
    cJSON_AddStringToObject(o, "edgelm_version", r->version);
    cJSON_AddStringToObject(o, "device", r->device);
    cJSON_AddStringToObject(o, "cpu_model", r->cpu_model);
    cJSON_AddNumberToObject(o, "n_cpus", r->n_cpus);
    cJSON_AddStringToObject(o, "kernel", r->kernel);
    cJSON_AddStringToObject(o, "model", r->model);
    cJSON_AddNumberToObject(o, "model_bytes", (double)r->model_bytes);
    cJSON_AddStringToObject(o, "quant", r->quant);
    cJSON_AddStringToObject(o, "arch", r->arch);
    cJSON_AddNumberToObject(o, "weight_bytes", (double)r->weight_bytes);
    cJSON_AddNumberToObject(o, "threads", r->threads);
    cJSON_AddNumberToObject(o, "threads_batch", r->threads_batch);
    cJSON_AddNumberToObject(o, "n_prompt", r->n_prompt);
    cJSON_AddNumberToObject(o, "n_gen", r->n_gen);
    cJSON_AddNumberToObject(o, "n_ctx", r->n_ctx);
    cJSON_AddNumberToObject(o, "reps", r->reps);
    cJSON_AddStringToObject(o, "power_source", r->power_source);
    cJSON_AddStringToObject(o, "power_detail", r->power_detail);
    cJSON_AddBoolToObject(o, "power_estimated", r->power_estimated);
    cJSON_AddStringToObject(o, "cold_load", r->cold_note);
    cJSON_AddStringToObject(o, "git_hash", r->git_hash);
    cJSON_AddStringToObject(o, "model_sha256", r->model_sha256);
    cJSON_AddStringToObject(o, "cpufreq", r->cpufreq);
    cJSON_AddStringToObject(o, "nvpmodel", r->nvpmodel);
    add_stat(o, "load_cold_ms", &r->load_cold_ms);
    add_stat(o, "load_ms", &r->load_ms);
    add_stat(o, "prefill_tps", &r->prefill_tps);
    add_stat(o, "ttft_ms", &r->ttft_ms);
    add_stat(o, "ttft_cold_ms", &r->ttft_cold_ms);
    add_stat(o, "gen_tps", &r->gen_tps);
    add_stat(o, "e2e_ms", &r->e2e_ms);
    cJSON *en = cJSON_AddObjectToObject(o, "energy");
    if (en) {
        for (int p = 0; p < ELM_REC_PHASES; p++) {
            cJSON *ph = cJSON_AddObjectToObject(en, elm_rec_phase_name((elm_rec_phase_t)p));
            if (!ph) continue;
            add_stat(ph, "energy_j", &r->energy[p].energy_j);
            add_stat(ph, "j_per_token", &r->energy[p].j_per_token);
            add_stat(ph, "avg_w", &r->energy[p].avg_w);
            add_stat(ph, "peak_w", &r->energy[p].peak_w);
        }
    }
    add_stat(o, "energy_j", &r->energy_j);
    add_stat(o, "action_per_token_j", &r->action_s);
    add_stat(o, "peak_rss_bytes", &r->peak_rss_bytes);
    cJSON *pf = cJSON_AddObjectToObject(o, "perf_per_token");
    if (pf)
        for (int e = 0; e < ELM_PERF_COUNT; e++)
            add_stat(pf, elm_perf_event_name((elm_perf_event_t)e), &r->perf_per_token[e]);
    if (r->gen_tps.valid) {
        cJSON *rd = cJSON_AddObjectToObject(o, "reading_speed");
        if (rd) {
            cJSON_AddBoolToObject(rd, "faster", r->reading_fast);
            cJSON_AddNumberToObject(rd, "ratio", r->reading_ratio);
        }
    } else {
        cJSON *rd = cJSON_AddObjectToObject(o, "reading_speed");
        if (rd) cJSON_AddStringToObject(rd, "unavailable", r->gen_tps.why);
    }
    cJSON *tl = cJSON_AddObjectToObject(o, "rss_timeline");
    if (tl) {
        cJSON *t = cJSON_AddArrayToObject(tl, "t_ms"), *b = cJSON_AddArrayToObject(tl, "bytes");
        for (uint32_t i = 0; t && b && i < r->n_rss && i < ELM_REC_RSS_POINTS; i++) {
            cJSON_AddItemToArray(t, cJSON_CreateNumber(r->rss_t_ms[i]));
            cJSON_AddItemToArray(b, cJSON_CreateNumber(r->rss_bytes[i]));
        }
    }
    if (r->is_target) cJSON_AddItemToObject(o, "target", target_json(&r->target));
    return o;
}

/* ---- SQLite ---- */

/* The figure columns: name, then a mean and (when sd) a <name>_sd column. */
static const struct {
    const char *name;
    size_t off;
    bool sd;
} stat_cols[] = {
    {"load_cold_ms", offsetof(elm_record_t, load_cold_ms), false},
    {"load_ms", offsetof(elm_record_t, load_ms), true},
    {"prefill_tps", offsetof(elm_record_t, prefill_tps), true},
    {"ttft_ms", offsetof(elm_record_t, ttft_ms), true},
    {"ttft_cold_ms", offsetof(elm_record_t, ttft_cold_ms), true},
    {"gen_tps", offsetof(elm_record_t, gen_tps), true},
    {"e2e_ms", offsetof(elm_record_t, e2e_ms), true},
    {"load_j", offsetof(elm_record_t, energy[ELM_REC_LOAD].energy_j), false},
    {"prefill_j", offsetof(elm_record_t, energy[ELM_REC_PREFILL].energy_j), true},
    {"prefill_j_per_token", offsetof(elm_record_t, energy[ELM_REC_PREFILL].j_per_token), false},
    {"prefill_avg_w", offsetof(elm_record_t, energy[ELM_REC_PREFILL].avg_w), false},
    {"prefill_peak_w", offsetof(elm_record_t, energy[ELM_REC_PREFILL].peak_w), false},
    {"gen_j", offsetof(elm_record_t, energy[ELM_REC_GEN].energy_j), true},
    {"gen_j_per_token", offsetof(elm_record_t, energy[ELM_REC_GEN].j_per_token), false},
    {"gen_avg_w", offsetof(elm_record_t, energy[ELM_REC_GEN].avg_w), false},
    {"gen_peak_w", offsetof(elm_record_t, energy[ELM_REC_GEN].peak_w), false},
    {"energy_j", offsetof(elm_record_t, energy_j), true},
    {"action_per_token_j", offsetof(elm_record_t, action_s), true},
    {"peak_rss_bytes", offsetof(elm_record_t, peak_rss_bytes), false},
};
#define N_STAT_COLS (sizeof stat_cols / sizeof stat_cols[0])

/* Configuration columns, bound in this order by elm_store_add. */
static const char config_cols[] =
    "timestamp TEXT NOT NULL, edgelm_version TEXT NOT NULL, device TEXT, cpu_model TEXT, "
    "n_cpus INTEGER, kernel TEXT, model TEXT NOT NULL, model_bytes INTEGER, quant TEXT, "
    "arch TEXT, weight_bytes INTEGER, threads INTEGER, threads_batch INTEGER, "
    "n_prompt INTEGER, n_gen INTEGER, n_ctx INTEGER, reps INTEGER, power_source TEXT, "
    "power_detail TEXT, power_estimated INTEGER, cold_load TEXT, reading_fast INTEGER";
#define N_CONFIG_COLS 22

/* Columns schema v3 added to `runs`: provenance and the HTTP target's figures, bound after the
 * v1 ones by elm_store_add. A v2 store gets them by ALTER TABLE (NULL in its old rows). */
static const char *const v3_cols[] = {
    "git_hash TEXT",          "model_sha256 TEXT",     "cpufreq TEXT",
    "nvpmodel TEXT",          "target_url TEXT",       "target_arrival TEXT",
    "concurrency INTEGER",    "requests INTEGER",      "errors INTEGER",
    "error_detail TEXT",      "ttft_p50_ms REAL",      "ttft_p90_ms REAL",
    "ttft_p99_ms REAL",       "itl_p50_ms REAL",       "itl_p90_ms REAL",
    "itl_p99_ms REAL",        "tps_p50 REAL",          "e2e_p50_ms REAL",
    "e2e_p99_ms REAL",        "throughput_tps REAL",   "energy_per_request_j REAL"};
#define N_V3_COLS (sizeof v3_cols / sizeof v3_cols[0])

/* Whether `runs` has the column name[0..len). */
static bool has_column(elm_store_t *s, const char *name, size_t len)
{
    sqlite3_stmt *st = NULL;
    bool found = false;
    if (sqlite3_prepare_v2(s->db, "SELECT name FROM pragma_table_info('runs')", -1, &st, NULL) ==
        SQLITE_OK)
        while (!found && sqlite3_step(st) == SQLITE_ROW) {
            const char *c = (const char *)sqlite3_column_text(st, 0);
            found = c && strlen(c) == len && !strncmp(c, name, len);
        }
    sqlite3_finalize(st);
    return found;
}

/* Add the v3 columns to an existing `runs` (schema v2 -> v3); columns already there (a store
 * created by this version whose version row was rewritten) are kept. */
static int upgrade_v3(elm_store_t *s, elm_diag_t *d)
{
    char sql[128];
    for (size_t i = 0; i < N_V3_COLS; i++) {
        if (has_column(s, v3_cols[i], strcspn(v3_cols[i], " "))) continue;
        snprintf(sql, sizeof sql, "ALTER TABLE runs ADD COLUMN %s", v3_cols[i]);
        int rc = elm__store_exec(s, sql, d);
        if (rc) return rc;
    }
    return 0;
}

int elm__store_fail(sqlite3 *db, const char *path, const char *what, elm_diag_t *d)
{
    return elm_diag(d, ELM_EIO, "%s: %s: %s", path, what, db ? sqlite3_errmsg(db) : "out of memory");
}

/* mkdir -p of path's parent directory. */
static int make_parents(const char *path, elm_diag_t *d)
{
    char buf[512];
    size_t len = strlen(path);
    if (len >= sizeof buf) return elm_diag(d, ELM_ERANGE, "%s: path too long", path);
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) && errno != EEXIST)
            return elm_diag(d, elm_from_errno(errno), "%s: cannot create directory (%s)", buf,
                            strerror(errno));
        *p = '/';
    }
    return 0;
}

int elm_store_default_path(const char *xdg_data_home, const char *home, char *buf, size_t cap,
                           elm_diag_t *d)
{
    int n;
    if (xdg_data_home && *xdg_data_home)
        n = snprintf(buf, cap, "%s/edgelm/results.db", xdg_data_home);
    else if (home && *home)
        n = snprintf(buf, cap, "%s/.local/share/edgelm/results.db", home);
    else
        return elm_diag(d, ELM_ENOENT, "neither XDG_DATA_HOME nor HOME is set: give --db FILE "
                                       "or --no-db");
    if (n < 0 || (size_t)n >= cap) return elm_diag(d, ELM_ERANGE, "results store path too long");
    return 0;
}

int elm__store_exec(elm_store_t *s, const char *sql, elm_diag_t *d)
{
    char *err = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        int rc = elm_diag(d, ELM_EIO, "%s: %s", s->path, err ? err : "SQL error");
        sqlite3_free(err);
        return rc;
    }
    return 0;
}

void elm__store_text(char *dst, size_t cap, const unsigned char *src)
{
    snprintf(dst, cap, "%s", src ? (const char *)src : "");
}

int elm__store_grow(elm_store_t *s, void *arrp, size_t *cap, size_t cnt, size_t elem,
                    elm_diag_t *d)
{
    if (cnt < *cap) return 0;
    void *arr, *p = NULL;
    size_t nc = *cap ? 2 * *cap : 8;
    memcpy(&arr, arrp, sizeof arr); /* arrp is a T **: copied, not cast, to stay alias-clean */
    if (nc > SIZE_MAX / elem || !(p = realloc(arr, nc * elem)))
        return elm_diag(d, ELM_ENOMEM, "out of memory reading %s", s->path);
    memcpy(arrp, &p, sizeof p);
    *cap = nc;
    return 0;
}

int elm__store_collect(elm_store_t *s, sqlite3_stmt *st, size_t elem, elm__store_row_fn row,
                       void *ctx, const char *what, void *outp, size_t *n, elm_diag_t *d)
{
    char *arr = NULL;
    size_t cnt = 0, cap = 0;
    int rc = 0, step;
    memcpy(outp, &arr, sizeof arr);
    *n = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if ((rc = elm__store_grow(s, &arr, &cap, cnt, elem, d))) goto fail;
        memset(arr + cnt * elem, 0, elem);
        if ((rc = row(s, st, cnt, arr + cnt * elem, ctx, d))) goto fail;
        cnt++;
    }
    if (step != SQLITE_DONE) {
        rc = elm__store_fail(s->db, s->path, what, d);
        goto fail;
    }
    sqlite3_finalize(st);
    memcpy(outp, &arr, sizeof arr);
    *n = cnt;
    return 0;
fail:
    sqlite3_finalize(st);
    free(arr);
    return rc;
}

/* The schema version of the open store (0 for an empty file). */
static int read_version(elm_store_t *s, int *version, elm_diag_t *d)
{
    sqlite3_stmt *st = NULL;
    *version = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT max(version) FROM schema_version", -1, &st, NULL) !=
        SQLITE_OK)
        return elm__store_fail(s->db, s->path, "reading the schema version", d);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        *version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (step != SQLITE_ROW) return elm__store_fail(s->db, s->path, "reading the schema version", d);
    return 0;
}

/* CREATE TABLE runs (schema v1). */
static int create_runs(elm_store_t *s, elm_diag_t *d)
{
    char sql[4096];
    int n = snprintf(sql, sizeof sql, "CREATE TABLE runs (id INTEGER PRIMARY KEY, %s", config_cols);
    for (size_t i = 0; i < N_STAT_COLS; i++) {
        n += snprintf(sql + n, sizeof sql - (size_t)n, ", %s REAL", stat_cols[i].name);
        if (stat_cols[i].sd)
            n += snprintf(sql + n, sizeof sql - (size_t)n, ", %s_sd REAL", stat_cols[i].name);
    }
    snprintf(sql + n, sizeof sql - (size_t)n, ", record TEXT NOT NULL)");
    return elm__store_exec(s, sql, d);
}

/* Create the schema in an empty file, upgrade an older one, or check that it is current; all in
 * one write transaction, so two processes opening one new file do not both create it. */
static int init_schema(elm_store_t *s, elm_diag_t *d)
{
    int rc, version;
    if ((rc = elm__store_exec(
             s, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)", d)))
        return rc;
    if ((rc = elm__store_exec(s, "BEGIN IMMEDIATE", d))) return rc;
    if ((rc = read_version(s, &version, d))) goto fail;
    if (version > ELM_STORE_SCHEMA_VERSION) {
        rc = elm_diag(d, ELM_ENOTSUP,
                      "%s: results store schema version %d is newer than this edgelm's (%d): "
                      "upgrade edgelm or use another --db",
                      s->path, version, ELM_STORE_SCHEMA_VERSION);
        goto fail;
    }
    if (version < ELM_STORE_SCHEMA_VERSION) {
        char bump[128];
        snprintf(bump, sizeof bump,
                 "DELETE FROM schema_version; INSERT INTO schema_version VALUES (%d)",
                 ELM_STORE_SCHEMA_VERSION);
        if ((version < 1 && (rc = create_runs(s, d))) ||
            (version < 2 && (rc = elm__store_exec(s, elm__store_evals_schema, d))) ||
            (version < 3 && (rc = upgrade_v3(s, d))) ||
            (rc = elm__store_exec(s, bump, d)))
            goto fail;
    }
    if ((rc = elm__store_exec(s, "COMMIT", d))) goto fail;
    return 0;
fail:
    elm__store_exec(s, "ROLLBACK", NULL);
    return rc;
}

int elm_store_open(const char *path, elm_store_t **out, elm_diag_t *d)
{
    int rc;
    *out = NULL;
    elm_store_t *s = calloc(1, sizeof *s);
    if (!s) return elm_diag(d, ELM_ENOMEM, "out of memory opening %s", path);
    snprintf(s->path, sizeof s->path, "%s", path);
    if ((rc = make_parents(path, d))) goto fail;
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        rc = elm__store_fail(s->db, path, "cannot open the results store", d);
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 5000);
    if ((rc = init_schema(s, d))) goto fail;
    *out = s;
    return 0;
fail:
    elm_store_close(s);
    return rc;
}

void elm_store_close(elm_store_t *s)
{
    if (!s) return;
    sqlite3_close(s->db);
    free(s);
}

static void bind_real(sqlite3_stmt *st, int k, bool valid, double v)
{
    if (valid) sqlite3_bind_double(st, k, v);
    else sqlite3_bind_null(st, k);
}

static void bind_text(sqlite3_stmt *st, int k, bool valid, const char *v)
{
    if (valid) sqlite3_bind_text(st, k, v, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, k);
}

/* The v3 columns, in v3_cols' order, from bind index k; returns the next index. */
static int bind_v3(sqlite3_stmt *st, int k, const elm_record_t *r)
{
    const elm_rec_target_t *t = &r->target;
    bool tg = r->is_target;
    sqlite3_bind_text(st, k++, r->git_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, k++, r->model_sha256, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, k++, r->cpufreq, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, k++, r->nvpmodel, -1, SQLITE_STATIC);
    bind_text(st, k++, tg, t->url);
    bind_text(st, k++, tg, t->arrival);
    bind_real(st, k++, tg, t->concurrency);
    bind_real(st, k++, tg, t->n_requests);
    bind_real(st, k++, tg, t->n_errors);
    bind_text(st, k++, tg, t->errors);
    bind_real(st, k++, tg && t->ttft_ms.valid, t->ttft_ms.p50);
    bind_real(st, k++, tg && t->ttft_ms.valid, t->ttft_ms.p90);
    bind_real(st, k++, tg && t->ttft_ms.valid, t->ttft_ms.p99);
    bind_real(st, k++, tg && t->itl_ms.valid, t->itl_ms.p50);
    bind_real(st, k++, tg && t->itl_ms.valid, t->itl_ms.p90);
    bind_real(st, k++, tg && t->itl_ms.valid, t->itl_ms.p99);
    bind_real(st, k++, tg && t->tps.valid, t->tps.p50);
    bind_real(st, k++, tg && t->e2e_ms.valid, t->e2e_ms.p50);
    bind_real(st, k++, tg && t->e2e_ms.valid, t->e2e_ms.p99);
    bind_real(st, k++, tg && t->window_s > 0, t->throughput_tps);
    bind_real(st, k++, tg && t->energy_per_req_j.valid, t->energy_per_req_j.mean);
    return k;
}

int elm_store_add(elm_store_t *s, const elm_record_t *r, int64_t *id, elm_diag_t *d)
{
    char sql[6144];
    int n = snprintf(sql, sizeof sql,
                     "INSERT INTO runs (timestamp, edgelm_version, device, cpu_model, n_cpus, "
                     "kernel, model, model_bytes, quant, arch, weight_bytes, threads, "
                     "threads_batch, n_prompt, n_gen, n_ctx, reps, power_source, power_detail, "
                     "power_estimated, cold_load, reading_fast");
    int n_bind = N_CONFIG_COLS;
    for (size_t i = 0; i < N_STAT_COLS; i++) {
        n += snprintf(sql + n, sizeof sql - (size_t)n, ", %s", stat_cols[i].name);
        n_bind++;
        if (stat_cols[i].sd) {
            n += snprintf(sql + n, sizeof sql - (size_t)n, ", %s_sd", stat_cols[i].name);
            n_bind++;
        }
    }
    for (size_t i = 0; i < N_V3_COLS; i++) {
        n += snprintf(sql + n, sizeof sql - (size_t)n, ", %.*s", (int)strcspn(v3_cols[i], " "),
                      v3_cols[i]);
        n_bind++;
    }
    n += snprintf(sql + n, sizeof sql - (size_t)n, ", record) VALUES (");
    for (int i = 0; i <= n_bind; i++)
        n += snprintf(sql + n, sizeof sql - (size_t)n, i ? ", ?" : "?");
    snprintf(sql + n, sizeof sql - (size_t)n, ")");

    int rc = 0;
    char *json = NULL;
    sqlite3_stmt *st = NULL;
    cJSON *j = elm_record_to_json(r);
    if (!j || !(json = cJSON_PrintUnformatted(j))) {
        rc = elm_diag(d, ELM_ENOMEM, "out of memory writing a record to %s", s->path);
        goto done;
    }
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = elm__store_fail(s->db, s->path, "preparing the insert", d);
        goto done;
    }
    int k = 1;
    sqlite3_bind_text(st, k++, r->timestamp, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, k++, r->version, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, k++, r->device, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, k++, r->cpu_model, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, k++, r->n_cpus);
    sqlite3_bind_text(st, k++, r->kernel, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, k++, r->model, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, k++, (sqlite3_int64)r->model_bytes);
    sqlite3_bind_text(st, k++, r->quant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, k++, r->arch, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, k++, (sqlite3_int64)r->weight_bytes);
    sqlite3_bind_int(st, k++, r->threads);
    sqlite3_bind_int(st, k++, r->threads_batch);
    sqlite3_bind_int64(st, k++, r->n_prompt);
    sqlite3_bind_int64(st, k++, r->n_gen);
    sqlite3_bind_int64(st, k++, r->n_ctx);
    sqlite3_bind_int64(st, k++, r->reps);
    sqlite3_bind_text(st, k++, r->power_source, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, k++, r->power_detail, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, k++, r->power_estimated);
    sqlite3_bind_text(st, k++, r->cold_note, -1, SQLITE_STATIC);
    if (r->gen_tps.valid)
        sqlite3_bind_int(st, k++, r->reading_fast);
    else
        sqlite3_bind_null(st, k++);
    for (size_t i = 0; i < N_STAT_COLS; i++) {
        const elm_stat_t *x = (const elm_stat_t *)((const char *)r + stat_cols[i].off);
        if (x->valid)
            sqlite3_bind_double(st, k++, x->mean);
        else
            sqlite3_bind_null(st, k++);
        if (!stat_cols[i].sd) continue;
        if (x->valid)
            sqlite3_bind_double(st, k++, x->sd);
        else
            sqlite3_bind_null(st, k++);
    }
    k = bind_v3(st, k, r);
    sqlite3_bind_text(st, k, json, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = elm__store_fail(s->db, s->path, "appending a record", d);
        goto done;
    }
    if (id) *id = sqlite3_last_insert_rowid(s->db);
done:
    sqlite3_finalize(st);
    free(json);
    cJSON_Delete(j);
    return rc;
}

int elm_store_count(elm_store_t *s, int64_t *n, elm_diag_t *d)
{
    sqlite3_stmt *st = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM runs", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        int rc = elm__store_fail(s->db, s->path, "counting runs", d);
        sqlite3_finalize(st);
        return rc;
    }
    *n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return 0;
}

int elm_store_get_json(elm_store_t *s, int64_t id, char **json, elm_diag_t *d)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;
    *json = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT record FROM runs WHERE id = ?", -1, &st, NULL) !=
        SQLITE_OK)
        return elm__store_fail(s->db, s->path, "reading a record", d);
    sqlite3_bind_int64(st, 1, id);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        if (!t || !(*json = strdup((const char *)t)))
            rc = elm_diag(d, ELM_ENOMEM, "out of memory reading run %lld", (long long)id);
    } else if (step == SQLITE_DONE) {
        rc = elm_diag(d, ELM_ENOENT, "%s: no run with id %lld", s->path, (long long)id);
    } else {
        rc = elm__store_fail(s->db, s->path, "reading a record", d);
    }
    sqlite3_finalize(st);
    return rc;
}
