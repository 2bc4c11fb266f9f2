/* edgelm bench: the measurement harness. A plan is the product of models × generation threads ×
 * prefill threads × prompt lengths × generation lengths × context sizes; each point is run
 * with the in-process engine for a number of repetitions (the first a discarded warm-up):
 * load → prefill → generation, timed by the engine's phase hooks, with power sampled per phase,
 * perf counters and peak RSS, into one elm_record_t (store.h) of means ± sd. Output formats:
 * a markdown table like llama-bench's, JSON, JSON lines, CSV. */
#ifndef EDGELM_BENCH_H
#define EDGELM_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgelm/base.h"
#include "edgelm/engine.h"
#include "edgelm/probe.h"
#include "edgelm/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- plan ---- */

#define ELM_BENCH_MAX_LIST 64

/* A list of whole numbers, as llama-bench takes them: "1,2,4", "1-4", "1-8+2" (step), or a mix
 * "1,4-6". */
typedef struct {
    int64_t v[ELM_BENCH_MAX_LIST];
    int n;
} elm_bench_list_t;

/* Parse s into *out, each value in [min, max]. ELM_EINVAL with d naming what (`what`, e.g.
 * "-t") and the bad text; ELM_ERANGE for more than ELM_BENCH_MAX_LIST values. */
int elm_bench_parse_list(const char *what, const char *s, int64_t min, int64_t max,
                         elm_bench_list_t *out, elm_diag_t *d);

typedef struct {
    const char *models[ELM_BENCH_MAX_LIST]; /* borrowed paths */
    int n_models;
    elm_bench_list_t threads;       /* generation threads (-t) */
    elm_bench_list_t threads_batch; /* prefill threads (-tb); empty: the same as -t */
    elm_bench_list_t n_prompt;      /* prompt tokens (-p); 0: the prompt as tokenized */
    elm_bench_list_t n_gen;         /* generated tokens (-n), >= 1 */
    elm_bench_list_t n_ctx;         /* context (--ctx); empty or 0: prompt + generation */
} elm_bench_spec_t;

/* One point of the plan. */
typedef struct {
    const char *model;
    int threads, threads_batch;
    uint32_t n_prompt, n_gen, n_ctx;
} elm_bench_point_t;

/* Split "a.gguf,b.gguf" (modified in place: commas become NULs) into spec->models. */
int elm_bench_parse_models(char *s, elm_bench_spec_t *spec, elm_diag_t *d);

/* Expand the spec into the points of the plan, in the order models, prompt lengths, generation
 * lengths, contexts, prefill threads, threads (the last varies fastest). *points is malloc'd
 * (caller frees); a context smaller than prompt + generation is ELM_EINVAL. */
int elm_bench_plan(const elm_bench_spec_t *spec, elm_bench_point_t **points, size_t *n_points,
                   elm_diag_t *d);

/* ---- running ---- */

/* The built-in prompt: ask for a summary of a short story (about 80 tokens with most
 * tokenizers). */
extern const char elm_bench_default_prompt[];

typedef struct {
    uint32_t reps;       /* repetitions including the warm-up (default 5; at least 2) */
    double cooldown_s;   /* sleep between repetitions */
    bool drop_caches;    /* drop the page cache before the cold (warm-up) load; needs root */
    const char *prompt;  /* prompt text (NULL: elm_bench_default_prompt) */
    const elm_probe_ctx_t *probe; /* where probes look; NULL: the real system */
    /* Power: a source kind, or auto (every sensor tried in order rapl, hwmon, jetson, rpi5,
     * nvml, then cmd / constant when their values are given in probe). */
    bool power_auto;
    elm_power_kind_t power_kind;
    uint32_t interval_ms; /* sampling interval; 0: the source's default */
    /* Called before each repetition (rep 0 is the warm-up); may be NULL. */
    void (*progress)(void *user, size_t point, uint32_t rep);
    void *progress_user;
} elm_bench_opts_t;

/* reps 5, cooldown 0, power auto, everything else off. */
elm_bench_opts_t elm_bench_default_opts(void);

typedef struct elm_bench elm_bench_t;

/* A harness: opens the power source (or records why none is available: that is not an error,
 * the energy figures then read "unavailable: <reason>") and gathers system facts. An explicitly
 * asked source that cannot be opened is an error. Caller owns *out (elm_bench_free). */
int elm_bench_create(const elm_bench_opts_t *o, elm_bench_t **out, elm_diag_t *d);
void elm_bench_free(elm_bench_t *b); /* accepts NULL */

/* The power source in use ("constant"), or "none" with the reason in *why (may be NULL). */
const char *elm_bench_power(const elm_bench_t *b, const char **why);

/* Run one point (index `index` is passed to the progress callback) and fill *rec. Errors are
 * the engine's (a model that does not load, a prompt that does not fit). */
int elm_bench_run(elm_bench_t *b, const elm_bench_point_t *p, size_t index, elm_record_t *rec,
                  elm_diag_t *d);

/* Mean and sample sd of x[0..n) into *s (n >= 1). */
void elm_bench_stat(const double *x, uint32_t n, elm_stat_t *s);

/* ---- output ---- */

typedef enum {
    ELM_BENCH_MD = 0,
    ELM_BENCH_JSON,
    ELM_BENCH_JSONL,
    ELM_BENCH_CSV
} elm_bench_format_t;

/* "md", "json", "jsonl", "csv" into *out; ELM_EINVAL naming the valid ones. */
int elm_bench_format_parse(const char *name, elm_bench_format_t *out, elm_diag_t *d);

enum {
    ELM_BENCH_HEADER = 1u << 0, /* md: the header rows; csv: the header line; json: "[" */
    ELM_BENCH_ROWS = 1u << 1,   /* one row (md, csv), object (json) or line (jsonl) per record */
    ELM_BENCH_FOOTER = 1u << 2, /* md: notes on the records (power, energy, counters); json: "]" */
    ELM_BENCH_ALL = ELM_BENCH_HEADER | ELM_BENCH_ROWS | ELM_BENCH_FOOTER,
};

/* Format n records into a new string *out (malloc'd, caller frees). To stream, call with
 * HEADER|ROWS for the first record, ROWS for each next one, and FOOTER with all records at the
 * end (its notes describe them); or once with ELM_BENCH_ALL. `first` tells the JSON array
 * whether recs[0] is its first element. */
int elm_bench_format(elm_bench_format_t fmt, const elm_record_t *recs, size_t n, unsigned flags,
                     bool first, char **out, elm_diag_t *d);

/* The quant name of m into buf (cap bytes, truncated): general.file_type's name ("Q4_0"), else
 * the type of blk.0.attn_q.weight in upper case ("F32"), else "?". The bench record and `edgelm
 * eval`'s store rows use it, so the two match. */
void elm_bench_quant_name(const elm_model_t *m, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
