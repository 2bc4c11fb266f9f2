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
#include "edgelm/http.h"
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
    bool no_mmap;        /* read the model into memory instead of mapping it (--no-mmap) */
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
    const char *cache_dir; /* model sha256 cache ($XDG_CACHE_HOME/edgelm); NULL: no cache */
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

/* ---- llama-bench's tests and the read roofline (src/bench/speed.c) ---- */

/* One llama-bench test on a loaded model at `threads` threads for prefill and generation alike
 * (llama-bench -t). ppN (n_prompt = N, n_gen = 0) times one decode of N random tokens into an
 * empty cache; tgN (n_prompt = 0, n_gen = N) times N one-token decodes of random tokens from an
 * empty cache. One warm-up (the whole prompt, or one token) precedes reps timed runs, each from a
 * reset cache of n_prompt + n_gen positions; *tps gets tokens/s, mean ± sample sd over the reps
 * (not valid, with the reason, on failure). ELM_EINVAL unless exactly one of n_prompt and n_gen
 * is 0 and reps >= 1; the engine's errors as they come. The tokens come from a fixed seed, so
 * every call decodes the same ones. */
int elm_bench_pptg(const elm_model_t *m, int threads, uint32_t n_prompt, uint32_t n_gen,
                   uint32_t reps, elm_stat_t *tps, elm_diag_t *d);

/* The read loop: elm_ops()->read_sum, the sum of buf[0..n) as 64-bit words read with the
 * kernel tier's widest loads (64 bytes on AVX-512, 32 on AVX2, 16 otherwise) into four
 * independent accumulators, so loads, not adds, bound it; a plain read at memory speed to compare
 * a kernel with. The sum means nothing but must be used, or the compiler drops the loop. */
uint64_t elm_bench_read_sum(const void *buf, size_t n);

#define ELM_BENCH_MAX_READ_THREADS 256

/* The read bandwidth at `threads` threads (1..ELM_BENCH_MAX_READ_THREADS, the caller's own among
 * them): each sums an equal share of buf[0..bytes) with elm_bench_read_sum; *gbs gets the best
 * GB/s (1e9 bytes/s) of `passes` such passes, after one untimed pass that warms the TLB and the
 * thread start-up (0 on failure). ELM_EINVAL for threads or passes out of range or under 64
 * bytes a thread; a thread that cannot start is an error (pthread_create's, translated). */
int elm_bench_read_gbs(const void *buf, size_t bytes, int threads, uint32_t passes, double *gbs,
                       elm_diag_t *d);

/* ---- HTTP target (target.c; the client is src/http, http.h) ---- */

/* Arrival process of the requests. closed: `concurrency` users back to back; poisson:RATE:
 * exponential gaps of mean 1/RATE s (seeded); bursty:B/S: B requests at once every S seconds
 * (bursty:B:S is accepted too). At most `concurrency` requests are in flight in every case; a
 * request that arrives while all are busy waits for one (its wait is not in its TTFT). */
typedef enum { ELM_ARRIVAL_CLOSED = 0, ELM_ARRIVAL_POISSON, ELM_ARRIVAL_BURSTY } elm_arrival_kind_t;

typedef struct {
    elm_arrival_kind_t kind;
    double rate;      /* poisson: requests per second */
    uint32_t burst;   /* bursty: requests per burst */
    double period_s;  /* bursty: seconds between bursts */
} elm_arrival_t;

/* Parse "closed", "poisson:RATE", "bursty:B/S"; ELM_EINVAL naming the forms. */
int elm_arrival_parse(const char *s, elm_arrival_t *out, elm_diag_t *d);
/* "closed", "poisson:2", "bursty:4/2s" into buf. */
void elm_arrival_name(const elm_arrival_t *a, char *buf, size_t cap);
/* The arrival offsets in seconds of n requests into t[0..n) (non-decreasing; all 0 when
 * closed), from seed for poisson. */
void elm_arrival_schedule(const elm_arrival_t *a, uint64_t seed, uint32_t n, double *t);

/* Fill *out from x[0..n) (sorted in place; mean and elm_stats_percentile's p50/p90/p99); not
 * valid with why when n is 0. */
void elm_bench_dist(double *x, size_t n, const char *why, elm_dist_t *out);

typedef struct {
    const char *url;       /* http://HOST:PORT[/path] */
    const char *model;     /* the request's "model" (servers with one model ignore it) */
    const char *prompt;    /* the user message (NULL: elm_bench_default_prompt) */
    uint32_t max_tokens;   /* -n */
    uint32_t concurrency;  /* requests in flight at most, >= 1 */
    uint32_t n_requests;   /* requests in all, >= 1 */
    elm_arrival_t arrival;
    uint64_t seed;         /* poisson arrivals */
    double timeout_s;      /* per request, connect to last byte */
} elm_target_opts_t;

/* Measure an OpenAI-compatible streaming server: n_requests POSTs of a chat completion with
 * "stream": true at the arrival process, with the harness's power source sampled over the whole
 * window. Failed requests are counted and named in rec->target.errors, not returned; the call
 * fails only on bad options (ELM_EINVAL), a host that does not resolve (ELM_ENOENT) or no memory. */
int elm_bench_target(elm_bench_t *b, const elm_target_opts_t *t, elm_record_t *rec,
                     elm_diag_t *d);

/* ---- provenance (src/bench/sha256.c, synth.c) ---- */

/* SHA-256 of data[0..n) into out (32 bytes). */
void elm_sha256(const void *data, size_t n, uint8_t out[32]);

/* The SHA-256 of a file as 64 hex digits into hex (65 bytes). With cache_dir (may be NULL) the
 * digest is kept in cache_dir/sha256.tsv keyed by the absolute path, size and mtime, and reused
 * while they match; *cached (may be NULL) says whether it was. */
int elm_sha256_file(const char *path, const char *cache_dir, char hex[65], bool *cached,
                    elm_diag_t *d);

/* The synthetic model for spec ("qwen2.5-0.5b:q4_0") at cache_dir/<shape>-<quant>.gguf, written
 * with the synth code when absent (seed 1). path gets it (cap bytes); *made (may be NULL) says
 * whether it was written now. ELM_EINVAL for an unknown shape or quant. */
int elm_bench_synthetic(const char *spec, const char *cache_dir, int n_threads, char *path,
                        size_t cap, bool *made, elm_diag_t *d);

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
