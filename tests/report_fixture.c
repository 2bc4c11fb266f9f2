/* The fixture data of the `edgelm report` tests, written with the library's public API only and
 * the same on every run: a results store of made-up but plausible bench records and evals, its
 * values as plain JSON, a simulator comparison and a gateway access log. Usage: report_fixture
 * OUTDIR (created if missing); it reads every file back and exits 1 with the reason if one does
 * not parse. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "edgelm/base.h"
#include "edgelm/metrics.h"
#include "edgelm/route.h"
#include "edgelm/sim.h"
#include "edgelm/store.h"

/* ---- what is made up ---- */

#define N_PROMPT 128
#define N_GEN 64
#define N_CTX 192
#define REPS 3
#define N_THREADS 4
#define N_GOVERNORS 2
#define RSS_POINTS 60

typedef struct {
    const char *device, *cpu, *kernel, *git_hash, *day, *power, *power_detail, *cold_note;
    int n_cpus;
    double mhz[N_GOVERNORS];  /* performance, powersave */
    double speed;             /* throughput relative to the laptop */
    double prefill_speed;
    double load_bps, cold_bps; /* warm (page cache) and cold (storage) load bandwidth */
    double idle_w, prefill_w, gen_w, load_w; /* per busy thread for prefill and generation */
    const char *perf_why;      /* NULL: the counters were read */
    int start_h;               /* the first row's hour that day */
    int step_s;                /* seconds between rows */
} device_t;

static const char *const governors[N_GOVERNORS] = {"performance", "powersave"};

static const device_t devices[] = {
    {"Raspberry Pi 5 Model B Rev 1.0", "Cortex-A76", "6.6.51+rpt-rpi-2712", "32a7fbd", "2026-03-14",
     "rpi5",
     "PMIC, sum of A x V over 12 rails; EXT5V has no current sensor, so board input is "
     "underestimated (conversion losses, USB and peripherals are missing)",
     "model file pages evicted (posix_fadvise DONTNEED); page cache dropped "
     "(/proc/sys/vm/drop_caches); model mapped (mmap)",
     4, {2400, 1500}, 0.31, 0.19, 1.1e9, 85e6, 2.9, 0.95, 0.75, 3.4,
     "unsupported: not permitted (Permission denied; lower /proc/sys/kernel/perf_event_paranoid "
     "or run as root)",
     9, 97},
    {"AMD Ryzen 7 7840U w/ Radeon 780M Graphics", "AMD Ryzen 7 7840U w/ Radeon 780M Graphics",
     "6.8.0-52-generic", "5b31d14", "2026-03-15", "rapl", "energy counters; total = package-0",
     "model file pages evicted (posix_fadvise DONTNEED); page cache not dropped: "
     "/proc/sys/vm/drop_caches: Permission denied (needs root); model mapped (mmap)",
     8, {3300, 1900}, 1.0, 1.0, 3.2e9, 1.6e9, 3.1, 4.4, 3.6, 7.5, NULL, 14, 41},
};
#define N_DEVICES (sizeof devices / sizeof devices[0])

typedef struct {
    const char *family, *path, *quant, *arch;
    double params_b;      /* parameters, billions */
    uint64_t model_bytes; /* file size; weights are it less the tokenizer's metadata */
    uint64_t meta_bytes;
    double kv_bytes_per_token;
    double gen_tps, prefill_tps; /* the laptop at 4 threads, performance governor */
    double ppl;                  /* wikitext-2 perplexity at n_ctx 512 */
} model_t;

static const model_t models[] = {
    {"qwen2.5-0.5b", "models/qwen2.5-0.5b-q4_0.gguf", "Q4_0", "qwen2", 0.494, 352474080, 7471104,
     12288, 58.3, 402, 14.02},
    {"qwen2.5-0.5b", "models/qwen2.5-0.5b-q8_0.gguf", "Q8_0", "qwen2", 0.494, 531068160, 7471104,
     12288, 41.2, 447, 13.14},
    {"qwen2.5-0.5b", "models/qwen2.5-0.5b-f16.gguf", "F16", "qwen2", 0.494, 994156448, 7471104,
     12288, 23.8, 311, 13.10},
    {"llama3.2-1b", "models/llama3.2-1b-q4_k_m.gguf", "Q4_K_M", "llama", 1.236, 807694464,
     5468160, 32768, 27.6, 158, 11.97},
    {"llama3.2-1b", "models/llama3.2-1b-q8_0.gguf", "Q8_0", "llama", 1.236, 1321083008, 5468160,
     32768, 18.9, 176, 11.62},
    {"qwen2.5-1.5b", "models/qwen2.5-1.5b-q4_0.gguf", "Q4_0", "qwen2", 1.544, 1065626880, 7471104,
     28672, 21.4, 121, 10.21},
    {"qwen2.5-1.5b", "models/qwen2.5-1.5b-q8_0.gguf", "Q8_0", "qwen2", 1.544, 1894532128, 7471104,
     28672, 13.7, 137, 9.66},
};
#define N_MODELS (sizeof models / sizeof models[0])

/* GSM8K pass@1 of each family's first (smallest) quantization: questions right of 50. */
static const struct {
    const char *path;
    size_t right;
} gsm8k[] = {
    {"models/qwen2.5-0.5b-q4_0.gguf", 17},
    {"models/llama3.2-1b-q4_k_m.gguf", 22},
    {"models/qwen2.5-1.5b-q4_0.gguf", 33},
};
#define GSM8K_N 50

/* The one row with no power source, and why (bench's own wording when no sensor opens). */
#define NO_POWER_DEVICE 0
#define NO_POWER_MODEL 6
#define NO_POWER_THREADS 1
#define NO_POWER_GOVERNOR 1
#define NO_POWER_WHY                                                                               \
    "no power sensor (--watts W or --power-cmd CMD give one): rapl: /sys/class/powercap: no "      \
    "intel-rapl zone; hwmon: no power or energy input under /sys/class/hwmon"

/* The HTTP target row: a model the Pi cannot hold. */
#define OOM_MODEL "models/llama3.1-8b-q4_k_m.gguf"
#define OOM_ERRORS                                                                                 \
    "4 x HTTP 500: failed to load " OOM_MODEL ": out of memory (4.58 GiB of weights, 3.1 GiB "     \
    "available)"

/* ---- numbers ---- */

/* A fixed pseudo-random number in [0, 1) for row i, slot k (splitmix64): the jitter of the
 * made-up measurements, the same on every run. */
static double jitter01(uint64_t i, uint64_t k)
{
    uint64_t z = i * 0x9E3779B97F4A7C15ull + k * 0xBF58476D1CE4E5B9ull + 0x94D049BB133111EBull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
}

/* x rounded to a multiple of step (a power of ten, or a whole number): the fixture's values
 * read like measurements. Below 1 it divides by the inverse, so 1714.3 prints as 1714.3. */
static double round_to(double x, double step)
{
    if (step >= 1) return round(x / step) * step;
    double inv = round(1 / step);
    return round(x * inv) / inv;
}

/* mean within +-1 % of x, sd 1..3 % of it, over REPS repetitions. */
static void measured(elm_stat_t *s, double x, double step, uint64_t row, uint64_t slot)
{
    double mean = round_to(x * (0.99 + 0.02 * jitter01(row, slot)), step);
    double sd = round_to(mean * (0.01 + 0.02 * jitter01(row, slot + 100)), step / 10);
    *s = (elm_stat_t){.valid = true, .mean = mean, .sd = sd, .n = REPS};
}

static void unavailable(elm_stat_t *s, const char *why)
{
    *s = (elm_stat_t){.valid = false};
    snprintf(s->why, sizeof s->why, "%s", why);
}

/* Threads' speed-up over one thread: generation is bound by memory bandwidth and saturates,
 * prefill is bound by compute and scales almost linearly. */
static double gen_scale(int t)
{
    return t / (1 + 0.3 * (t - 1));
}

static double prefill_scale(int t)
{
    return t / (1 + 0.05 * (t - 1));
}

/* A hex digest that stands for the model file's SHA-256 (FNV-1a of its path, spread). */
static void fake_sha256(const char *path, char *out, size_t cap)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *p = path; *p; p++) h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
    size_t n = 0;
    for (int k = 0; k < 4 && n + 16 < cap; k++, n += 16)
        snprintf(out + n, cap - n, "%016llx", (unsigned long long)(h * (2 * k + 1) + k));
}

/* "2026-03-14T09:01:37Z": the row's time on its device's day. */
static void timestamp(const device_t *dv, int row, char *out, size_t cap)
{
    int s = dv->start_h * 3600 + row * dv->step_s;
    snprintf(out, cap, "%sT%02d:%02d:%02dZ", dv->day, s / 3600 % 24, s / 60 % 60, s % 60);
}

/* ---- bench records ---- */

/* RSS over load, prefill and generation: the model's pages come in during load, the KV cache and
 * compute buffers in prefill, and generation adds the last KV rows up to the peak. */
static void rss_timeline(elm_record_t *r, double load_ms, double prefill_ms, double gen_ms,
                         double base, double model, double kv, double peak)
{
    double total = load_ms + prefill_ms + gen_ms;
    r->n_rss = RSS_POINTS;
    for (int i = 0; i < RSS_POINTS; i++) {
        double t = total * i / (RSS_POINTS - 1), b;
        if (t <= load_ms)
            b = base + 0.35 * model * t / load_ms;
        else if (t <= load_ms + prefill_ms)
            b = base + model * (0.35 + 0.65 * (t - load_ms) / prefill_ms) +
                kv * N_PROMPT / N_CTX * (t - load_ms) / prefill_ms;
        else
            b = peak - (peak - base - model - kv * N_PROMPT / N_CTX) *
                           (1 - (t - load_ms - prefill_ms) / gen_ms);
        r->rss_t_ms[i] = (float)round_to(t, 0.1);
        r->rss_bytes[i] = round_to(b, 4096);
    }
}

/* The energy figures of one phase: avg_w over ms, per token when tokens > 0. */
static void phase_energy(elm_rec_energy_t *e, double avg_w, double ms, uint32_t tokens, int row,
                         int slot)
{
    measured(&e->avg_w, avg_w, 0.01, (uint64_t)row, (uint64_t)slot);
    measured(&e->peak_w, avg_w * 1.18, 0.01, (uint64_t)row, (uint64_t)slot + 1);
    measured(&e->energy_j, e->avg_w.mean * ms / 1e3, 0.001, (uint64_t)row, (uint64_t)slot + 2);
    if (tokens)
        measured(&e->j_per_token, e->energy_j.mean / tokens, 0.0001, (uint64_t)row,
                 (uint64_t)slot + 3);
    else
        unavailable(&e->j_per_token, "load produces no tokens");
}

/* Per-token counters over prefill + generation (a prefill batch reads the weights once for 32
 * tokens, each generated token reads them all). */
static void perf_counters(elm_record_t *r, const model_t *m, int threads, int row)
{
    double weights = (double)(m->model_bytes - m->meta_bytes);
    double reads = (N_GEN + N_PROMPT / 32.0) / (N_PROMPT + N_GEN); /* weight passes per token */
    double per_token[ELM_PERF_COUNT] = {
        [ELM_PERF_INSTRUCTIONS] = m->params_b * 1e9 * 1.2 * reads * 2,
        [ELM_PERF_L1D_READ_MISSES] = weights / 64 * 1.3 * reads,
        [ELM_PERF_LLC_MISSES] = weights / 64 * 0.35 * reads,
        [ELM_PERF_CONTEXT_SWITCHES] = 0.01 + 0.02 * threads,
        [ELM_PERF_CPU_MIGRATIONS] = 0.004 * threads,
        [ELM_PERF_PAGE_FAULTS] = 0.3,
    };
    per_token[ELM_PERF_CYCLES] = per_token[ELM_PERF_INSTRUCTIONS] / 1.6;
    for (int e = 0; e < ELM_PERF_COUNT; e++)
        measured(&r->perf_per_token[e], per_token[e], per_token[e] < 10 ? 0.0001 : 1,
                 (uint64_t)row, 40 + (uint64_t)e);
}

/* One in-process bench row: device dv, model m, threads, governor g; row numbers it. */
static void bench_record(elm_record_t *r, size_t di, size_t mi, int threads, int g, int row,
                         int day_row)
{
    const device_t *dv = &devices[di];
    const model_t *m = &models[mi];
    memset(r, 0, sizeof *r);
    snprintf(r->model, sizeof r->model, "%s", m->path);
    r->model_bytes = m->model_bytes;
    r->weight_bytes = m->model_bytes - m->meta_bytes;
    snprintf(r->quant, sizeof r->quant, "%s", m->quant);
    snprintf(r->arch, sizeof r->arch, "%s", m->arch);
    r->threads = r->threads_batch = threads;
    r->n_prompt = N_PROMPT;
    r->n_gen = N_GEN;
    r->n_ctx = N_CTX;
    r->reps = REPS;
    snprintf(r->device, sizeof r->device, "%s", dv->device);
    snprintf(r->cpu_model, sizeof r->cpu_model, "%s", dv->cpu);
    r->n_cpus = dv->n_cpus;
    snprintf(r->kernel, sizeof r->kernel, "%s", dv->kernel);
    snprintf(r->version, sizeof r->version, "0.1.0");
    timestamp(dv, day_row, r->timestamp, sizeof r->timestamp);
    snprintf(r->cold_note, sizeof r->cold_note, "%s", dv->cold_note);
    snprintf(r->git_hash, sizeof r->git_hash, "%s", dv->git_hash);
    fake_sha256(m->path, r->model_sha256, sizeof r->model_sha256);
    snprintf(r->cpufreq, sizeof r->cpufreq, "%s %.0f MHz (cpu0-%d)", governors[g], dv->mhz[g],
             dv->n_cpus - 1);
    snprintf(r->nvpmodel, sizeof r->nvpmodel,
             "unavailable: not a Jetson, or nvpmodel never ran");

    /* speed: the laptop's 4-thread figure, scaled by device, threads and clock */
    double f = dv->mhz[g] / dv->mhz[0];
    uint64_t k = (uint64_t)row;
    measured(&r->gen_tps, m->gen_tps * dv->speed * gen_scale(threads) / gen_scale(4) * pow(f, 0.6),
             0.01, k, 1);
    measured(&r->prefill_tps,
             m->prefill_tps * dv->prefill_speed * prefill_scale(threads) / prefill_scale(4) *
                 pow(f, 0.95),
             0.01, k, 2);
    double prefill_ms = N_PROMPT / r->prefill_tps.mean * 1e3;
    double gen_ms = (N_GEN - 1) / r->gen_tps.mean * 1e3;
    measured(&r->load_ms, (double)m->model_bytes / dv->load_bps * 1e3, 0.1, k, 3);
    measured(&r->load_cold_ms, (double)m->model_bytes / dv->cold_bps * 1e3, 0.1, k, 4);
    r->load_cold_ms.sd = 0; /* one cold load per point */
    r->load_cold_ms.n = 1;
    measured(&r->ttft_ms, prefill_ms + 1e3 / r->gen_tps.mean, 0.1, k, 5);
    measured(&r->ttft_cold_ms, r->load_cold_ms.mean + r->ttft_ms.mean, 0.1, k, 6);
    measured(&r->e2e_ms, r->ttft_ms.mean + gen_ms, 0.1, k, 7);
    elm_reading_speed(r->gen_tps.mean, &r->reading_fast, &r->reading_ratio, NULL);

    /* memory: runtime, the mapped weights, the KV cache and per-thread scratch */
    double base = 18e6, kv = m->kv_bytes_per_token * N_CTX;
    double peak = base + (double)m->model_bytes + kv + 25e6 + 2e6 * threads;
    measured(&r->peak_rss_bytes, peak, 4096, k, 8);
    r->peak_rss_bytes.sd = round_to(r->peak_rss_bytes.sd / 10, 4096); /* RSS barely varies */
    rss_timeline(r, r->load_ms.mean, prefill_ms, gen_ms, base, (double)m->model_bytes, kv,
                 r->peak_rss_bytes.mean);

    /* energy: idle plus per busy thread, lower with the clock (voltage falls with it) */
    if (di == NO_POWER_DEVICE && mi == NO_POWER_MODEL && threads == NO_POWER_THREADS &&
        g == NO_POWER_GOVERNOR) {
        snprintf(r->power_source, sizeof r->power_source, "none");
        snprintf(r->power_detail, sizeof r->power_detail, "%s", NO_POWER_WHY);
        for (int p = 0; p < ELM_REC_PHASES; p++) {
            unavailable(&r->energy[p].energy_j, NO_POWER_WHY);
            unavailable(&r->energy[p].j_per_token, NO_POWER_WHY);
            unavailable(&r->energy[p].avg_w, NO_POWER_WHY);
            unavailable(&r->energy[p].peak_w, NO_POWER_WHY);
        }
        unavailable(&r->energy_j, NO_POWER_WHY);
        unavailable(&r->action_s, NO_POWER_WHY);
    } else {
        snprintf(r->power_source, sizeof r->power_source, "%s", dv->power);
        snprintf(r->power_detail, sizeof r->power_detail, "%s", dv->power_detail);
        double fw = pow(f, 1.6);
        phase_energy(&r->energy[ELM_REC_LOAD], dv->load_w, r->load_ms.mean, 0, row, 10);
        phase_energy(&r->energy[ELM_REC_PREFILL], dv->idle_w + dv->prefill_w * threads * fw,
                     prefill_ms, N_PROMPT, row, 20);
        phase_energy(&r->energy[ELM_REC_GEN], dv->idle_w + dv->gen_w * threads * fw, gen_ms,
                     N_GEN - 1, row, 30);
        double e = r->energy[ELM_REC_PREFILL].energy_j.mean + r->energy[ELM_REC_GEN].energy_j.mean;
        measured(&r->energy_j, e, 0.001, k, 9);
        r->energy_j.mean = round_to(e, 0.001); /* the sum of its phases, as bench has it */
        measured(&r->action_s, r->energy_j.mean / N_GEN, 0.0001, k, 11);
    }
    if (dv->perf_why)
        for (int e = 0; e < ELM_PERF_COUNT; e++) unavailable(&r->perf_per_token[e], dv->perf_why);
    else
        perf_counters(r, m, threads, row);
}

/* The HTTP target row: bench --target against a Pi serving a model too large for it. */
static void oom_record(elm_record_t *r)
{
    const device_t *dv = &devices[0];
    static const char *const na = "not measured for an HTTP target (the server's process is not "
                                  "ours)";
    memset(r, 0, sizeof *r);
    r->is_target = true;
    snprintf(r->model, sizeof r->model, OOM_MODEL);
    snprintf(r->quant, sizeof r->quant, "?");
    snprintf(r->arch, sizeof r->arch, "?");
    r->n_gen = N_GEN;
    r->reps = 4;
    snprintf(r->device, sizeof r->device, "%s", dv->device);
    snprintf(r->cpu_model, sizeof r->cpu_model, "%s", dv->cpu);
    r->n_cpus = dv->n_cpus;
    snprintf(r->kernel, sizeof r->kernel, "%s", dv->kernel);
    snprintf(r->version, sizeof r->version, "0.1.0");
    snprintf(r->timestamp, sizeof r->timestamp, "%sT18:30:00Z", dv->day);
    snprintf(r->cold_note, sizeof r->cold_note, "not applicable (HTTP target)");
    snprintf(r->git_hash, sizeof r->git_hash, "%s", dv->git_hash);
    snprintf(r->model_sha256, sizeof r->model_sha256, "unavailable: the model is the server's");
    snprintf(r->cpufreq, sizeof r->cpufreq, "performance 2400 MHz (cpu0-3)");
    snprintf(r->nvpmodel, sizeof r->nvpmodel, "unavailable: not a Jetson, or nvpmodel never ran");
    snprintf(r->power_source, sizeof r->power_source, "%s", dv->power);
    snprintf(r->power_detail, sizeof r->power_detail, "%s", dv->power_detail);
    elm_stat_t *not_ours[] = {&r->load_cold_ms, &r->load_ms, &r->prefill_tps, &r->ttft_cold_ms,
                              &r->peak_rss_bytes};
    for (size_t i = 0; i < sizeof not_ours / sizeof not_ours[0]; i++) unavailable(not_ours[i], na);
    for (int p = 0; p < ELM_REC_PHASES; p++) {
        const char *why = p == ELM_REC_GEN ? "no request completed" : na;
        unavailable(&r->energy[p].energy_j, why);
        unavailable(&r->energy[p].j_per_token, why);
        unavailable(&r->energy[p].avg_w, why);
        unavailable(&r->energy[p].peak_w, why);
    }
    for (int e = 0; e < ELM_PERF_COUNT; e++) unavailable(&r->perf_per_token[e], na);
    unavailable(&r->ttft_ms, "no request completed");
    unavailable(&r->gen_tps, "no request completed");
    unavailable(&r->e2e_ms, "no request completed");
    unavailable(&r->energy_j, "no request completed");
    unavailable(&r->action_s, "no tokens");
    elm_rec_target_t *t = &r->target;
    snprintf(t->url, sizeof t->url, "http://raspberrypi.local:8080/v1/chat/completions");
    snprintf(t->model, sizeof t->model, OOM_MODEL);
    snprintf(t->arrival, sizeof t->arrival, "closed");
    t->concurrency = 1;
    t->n_requests = 4;
    t->n_errors = 4;
    t->max_tokens = N_GEN;
    snprintf(t->token_source, sizeof t->token_source, "usage");
    snprintf(t->errors, sizeof t->errors, OOM_ERRORS);
    elm_dist_t *d[] = {&t->ttft_ms, &t->itl_ms, &t->tps, &t->e2e_ms};
    for (size_t i = 0; i < 4; i++) {
        *d[i] = (elm_dist_t){.valid = false};
        snprintf(d[i]->why, sizeof d[i]->why, "no request completed");
    }
    t->window_s = 2.41;
    unavailable(&t->energy_per_req_j, "no request completed");
}

/* ---- fixture.json ---- */

static void add_stat(cJSON *o, const char *name, const elm_stat_t *s)
{
    char key[64];
    if (s->valid) {
        cJSON_AddNumberToObject(o, name, s->mean);
        snprintf(key, sizeof key, "%s_sd", name);
        cJSON_AddNumberToObject(o, key, s->sd);
    } else {
        cJSON_AddNullToObject(o, name);
        snprintf(key, sizeof key, "%s_unavailable", name);
        cJSON_AddStringToObject(o, key, s->why);
    }
}

/* One row of `runs` as the report tests read it: the plain values, each figure's mean with
 * <name>_sd, or null with <name>_unavailable. */
static cJSON *run_json(const elm_record_t *r, int64_t id, const char *family, double params_b,
                       const char *governor, double mhz)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)id);
    cJSON_AddStringToObject(o, "timestamp", r->timestamp);
    cJSON_AddStringToObject(o, "device", r->device);
    cJSON_AddStringToObject(o, "cpu_model", r->cpu_model);
    cJSON_AddNumberToObject(o, "n_cpus", r->n_cpus);
    cJSON_AddStringToObject(o, "git_hash", r->git_hash);
    cJSON_AddStringToObject(o, "model", r->model);
    cJSON_AddStringToObject(o, "family", family);
    cJSON_AddNumberToObject(o, "params_b", params_b);
    cJSON_AddNumberToObject(o, "model_bytes", (double)r->model_bytes);
    cJSON_AddNumberToObject(o, "weight_bytes", (double)r->weight_bytes);
    cJSON_AddStringToObject(o, "quant", r->quant);
    cJSON_AddNumberToObject(o, "threads", r->threads);
    cJSON_AddStringToObject(o, "governor", governor);
    cJSON_AddNumberToObject(o, "mhz", mhz);
    cJSON_AddStringToObject(o, "cpufreq", r->cpufreq);
    cJSON_AddStringToObject(o, "power_source", r->power_source);
    cJSON_AddNumberToObject(o, "n_prompt", r->n_prompt);
    cJSON_AddNumberToObject(o, "n_gen", r->n_gen);
    cJSON_AddNumberToObject(o, "reps", r->reps);
    cJSON_AddBoolToObject(o, "is_target", r->is_target);
    if (r->is_target) {
        cJSON_AddStringToObject(o, "errors", r->target.errors);
        cJSON_AddBoolToObject(o, "oom", strstr(r->target.errors, "out of memory") != NULL);
    }
    add_stat(o, "gen_tps", &r->gen_tps);
    add_stat(o, "prefill_tps", &r->prefill_tps);
    add_stat(o, "ttft_ms", &r->ttft_ms);
    add_stat(o, "ttft_cold_ms", &r->ttft_cold_ms);
    add_stat(o, "e2e_ms", &r->e2e_ms);
    add_stat(o, "load_ms", &r->load_ms);
    add_stat(o, "load_cold_ms", &r->load_cold_ms);
    add_stat(o, "peak_rss_bytes", &r->peak_rss_bytes);
    static const char *const ph[ELM_REC_PHASES] = {"load", "prefill", "gen"};
    for (int p = 0; p < ELM_REC_PHASES; p++) {
        char k[48];
        snprintf(k, sizeof k, "%s_j", ph[p]);
        add_stat(o, k, &r->energy[p].energy_j);
        snprintf(k, sizeof k, "%s_j_per_token", ph[p]);
        add_stat(o, k, &r->energy[p].j_per_token);
        snprintf(k, sizeof k, "%s_avg_w", ph[p]);
        add_stat(o, k, &r->energy[p].avg_w);
    }
    add_stat(o, "energy_j", &r->energy_j);
    if (r->energy_j.valid) cJSON_AddNumberToObject(o, "wh_per_query", r->energy_j.mean / 3600);
    else cJSON_AddNullToObject(o, "wh_per_query");
    add_stat(o, "action_per_token_j", &r->action_s);
    cJSON *pf = cJSON_AddObjectToObject(o, "perf_per_token");
    for (int e = 0; e < ELM_PERF_COUNT; e++)
        add_stat(pf, elm_perf_event_name((elm_perf_event_t)e), &r->perf_per_token[e]);
    cJSON_AddNumberToObject(o, "rss_points", r->n_rss);
    return o;
}

/* ---- writing ---- */

static int fail(const char *what, const elm_diag_t *d)
{
    fprintf(stderr, "report_fixture: %s: %s\n", what, d ? d->msg : "out of memory");
    return 1;
}

static int write_text(const char *dir, const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f)) {
        fprintf(stderr, "report_fixture: cannot write %s\n", path);
        return 1;
    }
    return 0;
}

/* results.db and the runs / evals arrays of fixture.json; the store is read back and must hold
 * exactly what was added. */
static int write_store(const char *dir, cJSON *runs, cJSON *evals)
{
    char path[1024];
    elm_diag_t d;
    elm_store_t *s = NULL;
    elm_record_t *r = malloc(sizeof *r), *back = NULL;
    elm_store_eval_row_t *ev = NULL;
    int64_t id, n_added = 0;
    size_t n = 0;
    int rc = 1;
    snprintf(path, sizeof path, "%s/results.db", dir);
    unlink(path); /* a fresh store: appending to an old one would double the rows */
    if (!r) return fail("allocating a record", NULL);
    if (elm_store_open(path, &s, &d)) {
        rc = fail(path, &d);
        goto done;
    }
    for (size_t di = 0; di < N_DEVICES; di++) {
        int day_row = 0;
        for (size_t mi = 0; mi < N_MODELS; mi++)
            for (int g = 0; g < N_GOVERNORS; g++)
                for (int t = 1; t <= N_THREADS; t++) {
                    bench_record(r, di, mi, t, g, (int)n_added, day_row++);
                    if (elm_store_add(s, r, &id, &d)) {
                        rc = fail(path, &d);
                        goto done;
                    }
                    n_added++;
                    cJSON_AddItemToArray(runs, run_json(r, id, models[mi].family,
                                                        models[mi].params_b, governors[g],
                                                        devices[di].mhz[g]));
                }
    }
    oom_record(r);
    if (elm_store_add(s, r, &id, &d)) {
        rc = fail(path, &d);
        goto done;
    }
    n_added++;
    cJSON_AddItemToArray(runs, run_json(r, id, "llama3.1-8b", 8.03, "performance", 2400));

    /* perplexity of every model file, GSM8K of each family's smallest */
    for (size_t mi = 0; mi < N_MODELS; mi++) {
        const model_t *m = &models[mi];
        elm_eval_rec_t e = {.kind = ELM_EVAL_PPL, .model = m->path, .model_bytes = m->model_bytes,
                            .quant = m->quant, .n = 512, .value = m->ppl,
                            .err = round_to(m->ppl * 0.0085, 0.001),
                            .config = "{\"data\": \"wikitext-2-raw/wiki.test.raw\", \"n_ctx\": "
                                      "512, \"n_chunks\": 40}"};
        if (elm_store_add_eval(s, &e, NULL, 0, NULL, &d)) {
            rc = fail(path, &d);
            goto done;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "kind", "ppl");
        cJSON_AddStringToObject(o, "model", m->path);
        cJSON_AddStringToObject(o, "family", m->family);
        cJSON_AddStringToObject(o, "quant", m->quant);
        cJSON_AddNumberToObject(o, "n", e.n);
        cJSON_AddNumberToObject(o, "value", e.value);
        cJSON_AddNumberToObject(o, "err", e.err);
        cJSON_AddItemToArray(evals, o);
    }
    for (size_t i = 0; i < sizeof gsm8k / sizeof gsm8k[0]; i++) {
        const model_t *m = NULL;
        for (size_t mi = 0; mi < N_MODELS && !m; mi++)
            if (!strcmp(models[mi].path, gsm8k[i].path)) m = &models[mi];
        double lo, hi;
        elm_stats_wilson95(gsm8k[i].right, GSM8K_N, &lo, &hi);
        elm_eval_rec_t e = {.kind = ELM_EVAL_GSM8K, .model = m->path,
                            .model_bytes = m->model_bytes, .quant = m->quant, .n = GSM8K_N,
                            .value = (double)gsm8k[i].right / GSM8K_N, .err = (hi - lo) / 2,
                            .config = "{\"data\": \"gsm8k/test.jsonl\", \"seed\": 1, "
                                      "\"shots\": 8}"};
        if (elm_store_add_eval(s, &e, NULL, 0, NULL, &d)) {
            rc = fail(path, &d);
            goto done;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "kind", "gsm8k");
        cJSON_AddStringToObject(o, "model", m->path);
        cJSON_AddStringToObject(o, "family", m->family);
        cJSON_AddStringToObject(o, "quant", m->quant);
        cJSON_AddNumberToObject(o, "n", e.n);
        cJSON_AddNumberToObject(o, "value", e.value);
        cJSON_AddNumberToObject(o, "err", e.err);
        cJSON_AddNumberToObject(o, "lo", lo);
        cJSON_AddNumberToObject(o, "hi", hi);
        cJSON_AddItemToArray(evals, o);
    }

    /* read back */
    if (elm_store_runs(s, NULL, &back, NULL, &n, &d)) {
        rc = fail(path, &d);
        goto done;
    }
    if ((int64_t)n != n_added || !back[n - 1].is_target) {
        fprintf(stderr, "report_fixture: %s: read %zu runs back of %lld\n", path, n,
                (long long)n_added);
        goto done;
    }
    if (elm_store_evals(s, NULL, &ev, &n, &d)) {
        rc = fail(path, &d);
        goto done;
    }
    if (n != N_MODELS + sizeof gsm8k / sizeof gsm8k[0]) {
        fprintf(stderr, "report_fixture: %s: read %zu evals back\n", path, n);
        goto done;
    }
    rc = 0;
done:
    free(ev);
    free(back);
    free(r);
    elm_store_close(s);
    return rc;
}

/* sim.json: Edge-First's four scenarios on the built-in cluster, two seeds of ten minutes. */
static int write_sim(const char *dir, cJSON *fx)
{
    static elm_cluster_config_t c; /* large: 64 device specs */
    elm_sim_scenario_t sc[4];
    elm_sim_compare_t x;
    elm_diag_t d;
    if (elm_sim_cluster_builtin(&c, &d)) return fail("the built-in cluster", &d);
    uint32_t n = elm_sim_scenarios_paper(sc);
    elm_sim_sweep_t sw = {.n_users = 30, .duration_ms = 10 * 60000, .step_ms = 60000,
                          .seed = 1, .n_seeds = 2, .keep_runs = true};
    if (elm_sim_compare(&c, sc, n, &sw, NULL, NULL, &x, &d)) return fail("the comparison", &d);
    char *json = elm_sim_json(&x);
    cJSON *labels = cJSON_AddArrayToObject(fx, "sim_scenarios");
    for (uint32_t i = 0; i < x.n_scenarios; i++)
        cJSON_AddItemToArray(labels, cJSON_CreateString(x.sc[i].label));
    elm_sim_compare_free(&x);
    int rc = json ? write_text(dir, "sim.json", json) : fail("sim.json", NULL);
    cJSON *back = json ? cJSON_Parse(json) : NULL;
    if (!rc && !back) rc = fail("sim.json does not parse", NULL);
    cJSON_Delete(back);
    free(json);
    return rc;
}

/* One access-log line, its fields in the order src/gateway/forward.c writes them. */
typedef struct {
    int64_t dt_ms; /* after the first */
    bool stream;
    uint32_t est_in, est_out;
    const char *decision, *reason, *device; /* device NULL: none */
    int status;
    int64_t prompt, completion; /* prompt < 0: null */
    double ttft_ms, duration_ms, tps; /* ttft_ms, tps <= 0: null */
    const char *outcome;
} access_line_t;

static const access_line_t access_lines[] = {
    {0, true, 42, 128, "device", "ok", "raspberry-pi-5", 200, 40, 128, 2310.4, 18420.7, 7.83, "served"},
    {850, true, 37, 256, "device", "ok", "laptop-cpu", 200, 35, 201, 412.9, 14120.3, 14.61, "served"},
    {2100, false, 120, 300, "device", "ok", "laptop-cpu", 200, 118, 300, 1320.5, 21870.1, 14.12, "served"},
    {3900, true, 18, 64, "device", "ok", "raspberry-pi-5", 200, 17, 64, 1180.2, 9310.6, 7.92, "served"},
    {4400, true, 64, 512, "cloud", "concurrency_full", "gpt-4o-mini", 200, 61, 388, 520.3, 6120.9, 64.2, "redirected"},
    {5200, true, 25, 128, "cloud", "concurrency_full", "gpt-4o-mini", 200, 24, 97, 480.1, 2210.4, 59.8, "redirected"},
    {7300, true, 30, 128, "device", "ok", "raspberry-pi-5", 200, 29, 128, 1640.7, 17960.2, 7.85, "served"},
    {9050, false, 9000, 4096, "reject", "too_large", NULL, 400, -1, 0, 0, 1.2, 0, "rejected"},
    {10400, true, 51, 200, "device", "ok", "laptop-cpu", 200, 49, 200, 610.2, 14380.8, 14.52, "served"},
    {11900, true, 44, 256, "device", "ok", "laptop-cpu", 200, 43, 179, 590.6, 12790.4, 14.47, "served"},
    {12300, true, 70, 300, "cloud", "window_full", "gpt-4o-mini", 200, 66, 300, 610.8, 5240.3, 61.3, "redirected"},
    {14800, true, 22, 100, "device", "ok", "raspberry-pi-5", 200, 21, 100, 1290.3, 13880.5, 7.88, "served"},
    {16200, true, 35, 150, "device", "ok", "laptop-cpu", 200, 33, 150, 470.4, 10710.2, 14.66, "served"},
    {18000, true, 90, 400, "cloud", "window_full", "gpt-4o-mini", 200, 87, 351, 701.2, 6310.7, 58.4, "redirected"},
};
#define N_ACCESS (sizeof access_lines / sizeof access_lines[0])

/* access.jsonl: served on two devices, redirected to the cloud with its cost, one rejected; it
 * must parse with elm_sim_log_parse, as the report reads it. */
static int write_access(const char *dir, cJSON *fx)
{
    const int64_t t0 = 1773586800000; /* 2026-03-15T15:00:00Z */
    elm_sbuf_t b = {0};
    double cost = 0;
    for (size_t i = 0; i < N_ACCESS; i++) {
        const access_line_t *a = &access_lines[i];
        /* GPT-4o-mini's prices: $0.15 per M input tokens, $0.60 per M output tokens */
        double usd = !strcmp(a->decision, "cloud") ? (a->prompt * 0.15 + a->completion * 0.60) / 1e6
                                                   : 0;
        cost += usd;
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "t_ms", (double)(t0 + a->dt_ms));
        cJSON_AddNumberToObject(j, "id", (double)(i + 1));
        cJSON_AddStringToObject(j, "endpoint", "chat");
        cJSON_AddBoolToObject(j, "stream", a->stream);
        cJSON_AddNumberToObject(j, "est_in", a->est_in);
        cJSON_AddNumberToObject(j, "est_out", a->est_out);
        cJSON_AddBoolToObject(j, "estimated", true);
        cJSON_AddStringToObject(j, "decision", a->decision);
        cJSON_AddStringToObject(j, "reason", a->reason);
        cJSON_AddStringToObject(j, "strategy", "load-aware");
        if (a->device) cJSON_AddStringToObject(j, "device", a->device);
        else cJSON_AddNullToObject(j, "device");
        cJSON_AddNumberToObject(j, "attempts", a->device ? 1 : 0);
        cJSON_AddNumberToObject(j, "status", a->status);
        if (a->prompt >= 0) cJSON_AddNumberToObject(j, "prompt_tokens", (double)a->prompt);
        else cJSON_AddNullToObject(j, "prompt_tokens");
        cJSON_AddNumberToObject(j, "completion_tokens", (double)a->completion);
        if (a->ttft_ms > 0) cJSON_AddNumberToObject(j, "ttft_ms", a->ttft_ms);
        else cJSON_AddNullToObject(j, "ttft_ms");
        cJSON_AddNumberToObject(j, "duration_ms", a->duration_ms);
        if (a->tps > 0) cJSON_AddNumberToObject(j, "tokens_per_s", a->tps);
        else cJSON_AddNullToObject(j, "tokens_per_s");
        cJSON_AddNumberToObject(j, "cost_usd", usd);
        cJSON_AddStringToObject(j, "outcome", a->outcome);
        char *line = cJSON_PrintUnformatted(j);
        if (line) elm_sbuf_printf(&b, "%s\n", line);
        free(line);
        cJSON_Delete(j);
    }
    if (b.oom || !b.p) return fail("access.jsonl", NULL);
    elm_sim_log_t log;
    elm_diag_t d;
    int rc = elm_sim_log_parse(b.p, b.len, "access.jsonl", &log, &d) ? fail("access.jsonl", &d)
                                                                     : write_text(dir, "access.jsonl", b.p);
    if (!rc) {
        cJSON *o = cJSON_AddObjectToObject(fx, "access");
        cJSON_AddNumberToObject(o, "lines", (double)log.lines);
        cJSON_AddNumberToObject(o, "processed", (double)log.processed);
        cJSON_AddNumberToObject(o, "redirected", (double)log.redirected);
        cJSON_AddNumberToObject(o, "rejected", (double)log.rejected);
        cJSON_AddNumberToObject(o, "tok_redirected", (double)log.tok_redirected);
        cJSON_AddNumberToObject(o, "cloud_cost", log.cloud_cost);
        cJSON *dv = cJSON_AddObjectToObject(o, "served");
        for (uint32_t i = 0; i < log.n_devices; i++)
            cJSON_AddNumberToObject(dv, log.dev_name[i], (double)log.dev_served[i]);
        if (fabs(log.cloud_cost - cost) > 1e-12) rc = fail("access.jsonl: cost read back", NULL);
    }
    elm_sim_log_free(&log);
    free(b.p);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: report_fixture OUTDIR\n");
        return 2;
    }
    const char *dir = argv[1];
    if (mkdir(dir, 0755) && errno != EEXIST) {
        fprintf(stderr, "report_fixture: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    cJSON *fx = cJSON_CreateObject();
    cJSON *runs = cJSON_AddArrayToObject(fx, "runs"), *evals = cJSON_AddArrayToObject(fx, "evals");
    int rc = write_store(dir, runs, evals) || write_sim(dir, fx) || write_access(dir, fx);
    char *text = rc ? NULL : cJSON_Print(fx);
    if (!rc) rc = text ? write_text(dir, "fixture.json", text) : fail("fixture.json", NULL);
    free(text);
    cJSON_Delete(fx);
    return rc;
}
