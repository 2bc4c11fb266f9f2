/* edgelm results store: the measurement record (full configuration and every measured figure,
 * each either a mean ± sd over repetitions or "unavailable: <reason>"), its JSON form, and the
 * SQLite file bench records and eval results are appended to and read back from (schema in
 * docs/store.md). */
#ifndef EDGELM_STORE_H
#define EDGELM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "edgelm/base.h"
#include "edgelm/probe.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the record ---- */

/* One figure over the measured repetitions: mean and sample standard deviation of n values
 * (sd is 0 when n is 1), or not valid with the reason. */
typedef struct {
    bool valid;
    double mean, sd;
    uint32_t n;
    char why[192]; /* when !valid */
} elm_stat_t;

typedef enum { ELM_REC_LOAD = 0, ELM_REC_PREFILL, ELM_REC_GEN, ELM_REC_PHASES } elm_rec_phase_t;

/* Energy of one phase from the power source: joules, joules per token (prefill: per prompt
 * token; generation: per generated token after the first), average and peak watts. */
typedef struct {
    elm_stat_t energy_j, j_per_token, avg_w, peak_w;
} elm_rec_energy_t;

#define ELM_REC_RSS_POINTS 128

/* A distribution over requests (HTTP target): mean and the 50th, 90th, 99th percentiles, or not
 * valid with the reason. */
typedef struct {
    bool valid;
    double mean, p50, p90, p99;
    uint32_t n; /* values it was computed from */
    char why[192];
} elm_dist_t;

/* What an HTTP target run measured: per-request figures as distributions over the completed
 * requests (ITL pooled over all of them), and the window's totals. */
typedef struct {
    char url[256];
    char model[128];        /* the request's "model" */
    char arrival[64];       /* "closed", "poisson:2 (seed 1)", "bursty:4/2s" */
    uint32_t concurrency, n_requests, n_ok, n_errors, max_tokens;
    char token_source[96];  /* how output tokens were counted: usage, content chunks, or both */
    uint64_t tokens;        /* output tokens over the completed requests */
    elm_dist_t ttft_ms;     /* send .. first content chunk */
    elm_dist_t itl_ms;      /* between consecutive content chunks */
    elm_dist_t tps;         /* per request: (tokens - 1) / (last - first content chunk) */
    elm_dist_t e2e_ms;      /* send .. end of the response */
    double window_s;        /* first send .. last response end */
    double throughput_tps;  /* output tokens / window */
    double req_per_s;       /* completed requests / window */
    elm_stat_t energy_per_req_j; /* window energy / completed requests */
    char errors[512];       /* "2 x HTTP 500: model not loaded; 1 x timed out ..."; "" */
} elm_rec_target_t;

typedef struct {
    /* configuration */
    char model[512];      /* the path as given */
    uint64_t model_bytes; /* file size */
    char quant[16];       /* general.file_type's name ("Q4_0"), "?" when absent */
    char arch[32];
    uint64_t weight_bytes;
    int threads;       /* generation */
    int threads_batch; /* prefill */
    uint32_t n_prompt, n_gen, n_ctx;
    uint32_t reps;     /* measured repetitions (the warm-up one not counted) */
    char power_source[32];  /* "constant", "rapl", ...; "none" when unavailable */
    char power_detail[256]; /* what it measures, or why no source is available */
    bool power_estimated;   /* the estimate source: every output labels it "estimated" */
    char device[128];       /* board model when known, else the CPU model */
    char cpu_model[128];
    int n_cpus;
    char kernel[64];
    char version[32];   /* edgelm version */
    char timestamp[32]; /* UTC, ISO 8601 */
    char cold_note[320]; /* how the cold load was made ("page cache dropped", "not dropped: ...") */
    /* figures */
    elm_stat_t load_cold_ms;    /* the first (warm-up) load of the point */
    elm_stat_t load_ms;         /* loads of the measured repetitions */
    elm_stat_t prefill_tps;
    elm_stat_t ttft_ms;         /* warm: prefill start .. first token */
    elm_stat_t ttft_cold_ms;    /* cold: load start .. first token */
    elm_stat_t gen_tps;         /* excludes the first token */
    elm_stat_t e2e_ms;          /* prefill start .. last token */
    elm_rec_energy_t energy[ELM_REC_PHASES];
    elm_stat_t energy_j;        /* prefill + generation */
    elm_stat_t action_s;        /* S = E / t (Sometimes Painful §6.1): energy_j / generated tokens */
    elm_stat_t peak_rss_bytes;  /* VmHWM after the request */
    elm_stat_t perf_per_token[ELM_PERF_COUNT]; /* counts over prefill + generation / tokens */
    bool reading_fast;          /* gen_tps >= 5.3 tok/s; meaningful when gen_tps is valid */
    double reading_ratio;
    /* provenance (store v3) */
    char git_hash[24];     /* of the edgelm build, "unknown" outside a git checkout */
    char model_sha256[72]; /* hex digest of the model file, or "unavailable: <reason>" */
    char cpufreq[256];     /* "performance 2400 MHz (cpu0-3)", runs of CPUs that agree folded
                              together, or "unavailable: why" */
    char nvpmodel[128];    /* Jetson power mode, or "unavailable: why" */
    /* RSS over the measured repetitions' sampling windows (ms since each window's start, bytes),
     * sampled with the power sampler; n_rss 0 when nothing was sampled. */
    uint32_t n_rss;
    float rss_t_ms[ELM_REC_RSS_POINTS];
    double rss_bytes[ELM_REC_RSS_POINTS];
    /* an HTTP target (--target) instead of the in-process engine; is_target false otherwise */
    bool is_target;
    elm_rec_target_t target;
} elm_record_t;

/* Names of the phases ("load", "prefill", "generation"). */
const char *elm_rec_phase_name(elm_rec_phase_t ph);

/* The record as a new cJSON object (caller owns; cJSON_Delete): configuration fields by name and
 * each figure as {"mean", "sd", "n"} or {"unavailable": reason}. NULL when out of memory. */
cJSON *elm_record_to_json(const elm_record_t *r);

/* ---- the SQLite store ---- */

#define ELM_STORE_SCHEMA_VERSION 3

typedef struct elm_store elm_store_t;

/* The default store path: $XDG_DATA_HOME/edgelm/results.db, else $HOME/.local/share/edgelm/
 * results.db; the caller passes the two variables (NULL or "" when unset: the library reads no
 * environment). ELM_ENOENT when both are unset, ELM_ERANGE when cap is too small. */
int elm_store_default_path(const char *xdg_data_home, const char *home, char *buf, size_t cap,
                           elm_diag_t *d);

/* Open (creating the file, its missing parent directories and the schema) the store at path. An
 * older schema is upgraded in place in one transaction (v1 -> v2 adds `evals` and `eval_items`; v2
 * -> v3 adds the provenance and HTTP-target columns to `runs`); a store written by a newer schema
 * is ELM_ENOTSUP, naming both versions. Caller owns *out (elm_store_close); *out is NULL on
 * failure. */
int elm_store_open(const char *path, elm_store_t **out, elm_diag_t *d);

/* Close; accepts NULL. */
void elm_store_close(elm_store_t *s);

/* Append one record as a row of `runs`; *id (may be NULL) gets its rowid. */
int elm_store_add(elm_store_t *s, const elm_record_t *r, int64_t *id, elm_diag_t *d);

/* Rows in `runs`. */
int elm_store_count(elm_store_t *s, int64_t *n, elm_diag_t *d);

/* The full JSON record of row id (malloc'd, caller frees); ELM_ENOENT when there is no such
 * row. */
int elm_store_get_json(elm_store_t *s, int64_t id, char **json, elm_diag_t *d);

/* ---- eval results (src/store/evals.c) ---- */

typedef enum { ELM_EVAL_PPL = 0, ELM_EVAL_GSM8K } elm_eval_kind_t;

/* "ppl" or "gsm8k" (the `kind` column). */
const char *elm_eval_kind_name(elm_eval_kind_t k);

/* One final eval result, a row of `evals`. */
typedef struct {
    elm_eval_kind_t kind;
    const char *model;    /* the path as given */
    uint64_t model_bytes; /* file size */
    const char *quant;    /* as in the bench record (elm_bench_quant_name); may be NULL */
    uint32_t n;           /* ppl: n_ctx; gsm8k: questions answered */
    double value;         /* ppl: perplexity; gsm8k: accuracy in [0, 1] */
    double err;           /* ppl: its standard error; gsm8k: half-width of the 95% Wilson CI */
    const char *config;   /* JSON object text with the rest of the configuration; may be NULL */
} elm_eval_rec_t;

/* One per-question record of a GSM8K run, a row of `eval_items`. */
typedef struct {
    int64_t item;     /* the question's 0-based index in the data file */
    const char *json; /* its JSON record */
} elm_eval_item_t;

/* Append e and its n_items items (items may be NULL when n_items is 0) in one transaction: all
 * rows or none. The `created` column is the current UTC time. *id (may be NULL) gets the eval's
 * rowid. The strings are copied; the caller keeps ownership. */
int elm_store_add_eval(elm_store_t *s, const elm_eval_rec_t *e, const elm_eval_item_t *items,
                       size_t n_items, int64_t *id, elm_diag_t *d);

/* Rows in `evals`. */
int elm_store_count_evals(elm_store_t *s, int64_t *n, elm_diag_t *d);

/* One model's inputs to Edge-First's Table I, joined from the store. */
typedef struct {
    char model[512];
    char quant[16];
    double q;        /* accuracy of the newest GSM8K eval of the model */
    uint32_t q_n;    /* its questions */
    double ttft_s;   /* warm TTFT of the newest bench row of the model that has one */
    bool has_wh;
    double wh;       /* that row's prefill + generation energy (one response) / 3600 */
    char why[192];   /* when !has_wh: the record's reason */
} elm_store_cost_row_t;

/* The Table I rows: one per model path that has both a GSM8K eval and a bench row with a TTFT,
 * the model path containing match (NULL or "" for all), ordered by model. *rows is malloc'd
 * (caller frees; NULL when *n is 0). */
int elm_store_cost_rows(elm_store_t *s, const char *match, elm_store_cost_row_t **rows, size_t *n,
                        elm_diag_t *d);

/* ---- reading rows back (src/store/read.c) ---- */

/* Which rows to read: the model path containing match, and created at or after since. */
typedef struct {
    const char *match; /* substring of the model path; NULL or "": every model */
    const char *since; /* "2026-01-02" or "2026-01-02T03:04:05Z": rows whose UTC timestamp is at
                          or after it; NULL or "": all */
} elm_store_filter_t;

/* The record of a JSON object in elm_record_to_json's form into *r (the inverse of that
 * function: every field it writes is read back; a figure written as {"unavailable": why} comes
 * back not valid with its reason). Fields missing from older records stay at their zero / not
 * valid ("not recorded") values. Returns 0, or ELM_EINVAL naming the field that has the wrong
 * type. */
int elm_record_from_json(const cJSON *j, elm_record_t *r, elm_diag_t *d);

/* The rows of `runs` that pass f (NULL: all), oldest first, rebuilt from their JSON records.
 * *out is a malloc'd array of *n records (NULL when none; caller frees); ids (may be NULL) gets
 * a malloc'd array of their rowids. A row whose record does not parse is ELM_EINVAL naming its
 * id. On failure *out, *ids are NULL and *n is 0. */
int elm_store_runs(elm_store_t *s, const elm_store_filter_t *f, elm_record_t **out, int64_t **ids,
                   size_t *n, elm_diag_t *d);

/* One row of `evals`. */
typedef struct {
    int64_t id;
    char created[32];
    elm_eval_kind_t kind;
    char model[512];
    uint64_t model_bytes;
    char quant[16]; /* "" when NULL */
    uint32_t n;
    double value, err; /* err NaN when NULL */
} elm_store_eval_row_t;

/* The rows of `evals` that pass f (NULL: all; since compares with `created`), oldest first.
 * *out is a malloc'd array of *n (NULL when none; caller frees); on failure NULL and 0. */
int elm_store_evals(elm_store_t *s, const elm_store_filter_t *f, elm_store_eval_row_t **out,
                    size_t *n, elm_diag_t *d);

#ifdef __cplusplus
}
#endif
#endif
