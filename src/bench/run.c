/* Running one point of the plan with the in-process engine: for each repetition, perf counters
 * opened before the engine's threads exist, the power sampler started, then load → prefill →
 * generation with a phase mark at each engine hook, and the figures of the request gathered
 * from the hooks' timings (never re-timed), the sampler's phases, the counters and VmHWM. The
 * first repetition is the warm-up and only gives the cold load time. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "edgelm/bench.h"
#include "edgelm/convert.h"
#include "edgelm/engine.h"
#include "edgelm/metrics.h"
#include "edgelm/tokenizer.h"
#include "elm_githash.h" /* generated: ELM_GIT_HASH */
#include "internal.h"

#define MAX_REPS 1000

const char elm_bench_default_prompt[] =
    "Summarize this short story in two sentences.\n\n"
    "Mira kept a lighthouse on a rock where nothing grew. Each night she climbed the stairs, "
    "wound the clock and lit the lamp. One winter the supply boat stopped coming. She burned "
    "the chairs, then the books, to keep the light alive. In spring a fishing fleet came home "
    "through the fog, and the captain left a sack of seeds on her step.";

void elm__bench_put(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, n, fmt, ap);
    va_end(ap);
}

#define put elm__bench_put

elm_bench_opts_t elm_bench_default_opts(void)
{
    return (elm_bench_opts_t){.reps = 5, .power_auto = true};
}

/* ---- harness ---- */

/* Open the first available source in auto mode; otherwise power_why says why. */
static void open_auto(elm_bench_t *b)
{
    elm_diag_t d;
    if (elm_power_open_auto(&b->probe, &b->power, &d))
        put(b->power_why, sizeof b->power_why, "%s", d.msg);
}

int elm_bench_create(const elm_bench_opts_t *o, elm_bench_t **out, elm_diag_t *d)
{
    int rc;
    *out = NULL;
    if (o->reps < 2 || o->reps > MAX_REPS)
        return elm_diag(d, ELM_EINVAL, "repetitions must be 2..%d (the first is a warm-up), not %"
                                       PRIu32, MAX_REPS, o->reps);
    elm_bench_t *b = calloc(1, sizeof *b);
    if (!b || !(b->sys = calloc(1, sizeof *b->sys))) {
        free(b);
        return elm_diag(d, ELM_ENOMEM, "out of memory creating the bench harness");
    }
    b->o = *o;
    if (o->probe) b->probe = *o->probe;
    if (o->power_auto) {
        open_auto(b);
    } else if ((rc = elm_power_open(o->power_kind, &b->probe, &b->power, d))) {
        goto fail;
    }
    if ((rc = elm_sys_info(&b->probe, b->sys, d))) goto fail;
    *out = b;
    return 0;
fail:
    elm_bench_free(b);
    return rc;
}

void elm_bench_free(elm_bench_t *b)
{
    if (!b) return;
    elm_power_close(b->power);
    free(b->sys);
    free(b);
}

const char *elm_bench_power(const elm_bench_t *b, const char **why)
{
    if (why) *why = b->power ? elm_power_detail(b->power) : b->power_why;
    return b->power ? elm_power_kind_name(elm_power_kind(b->power)) : "none";
}

/* ---- statistics ---- */

void elm_bench_stat(const double *x, uint32_t n, elm_stat_t *s)
{
    double mean, sd;
    elm_stats_mean_sd(x, n, &mean, &sd);
    *s = (elm_stat_t){.valid = true, .mean = mean, .sd = sd, .n = n};
}

/* One figure's values over the repetitions; the first reason it was unavailable wins. */
typedef struct {
    double x[MAX_REPS];
    uint32_t n;
    bool bad;
    char why[192];
} acc_t;

static void acc_add(acc_t *a, double v)
{
    if (!a->bad) a->x[a->n++] = v;
}

static void acc_bad(acc_t *a, const char *why)
{
    if (a->bad) return;
    a->bad = true;
    put(a->why, sizeof a->why, "%s", why);
}

static void acc_fig(acc_t *a, const elm_probe_fig_t *f)
{
    if (f->valid)
        acc_add(a, f->value);
    else
        acc_bad(a, f->why);
}

static void acc_stat(const acc_t *a, elm_stat_t *s)
{
    if (a->bad || a->n == 0) {
        *s = (elm_stat_t){.valid = false};
        put(s->why, sizeof s->why, "%s", a->bad ? a->why : "not measured");
        return;
    }
    elm_bench_stat(a->x, a->n, s);
}

/* Everything gathered over the measured repetitions. */
typedef struct {
    acc_t load_ms, prefill_tps, ttft_ms, ttft_cold_ms, gen_tps, e2e_ms;
    acc_t energy[ELM_REC_PHASES][4]; /* energy_j, j_per_token, avg_w, peak_w */
    acc_t energy_j, action_s, peak_rss, perf[ELM_PERF_COUNT];
    double load_cold_ms;
} accs_t;

/* ---- one request ---- */

/* The phase marks the engine's hooks make. */
typedef struct {
    elm_probe_sampler_t *smp;
    bool first_seen;
} marks_t;

static void mark_load(void *u, uint64_t t)
{
    (void)t;
    marks_t *m = u;
    if (m->smp) elm_probe_mark(m->smp, "load");
}

static void mark_end(void *u, uint64_t t)
{
    (void)t;
    marks_t *m = u;
    if (m->smp) elm_probe_mark(m->smp, NULL);
}

static void mark_prefill(void *u, uint64_t t, uint32_t n)
{
    (void)t;
    (void)n;
    marks_t *m = u;
    m->first_seen = false;
    if (m->smp) elm_probe_mark(m->smp, "prefill");
}

static bool mark_token(void *u, uint64_t t, int32_t tok, const float *l, uint32_t nv)
{
    (void)t;
    (void)tok;
    (void)l;
    (void)nv;
    marks_t *m = u;
    /* The first token ends prefill; generation is timed from it, so it is not counted. */
    if (!m->first_seen && m->smp) elm_probe_mark(m->smp, "generation");
    m->first_seen = true;
    return true;
}

static void mark_done(void *u, uint64_t t, uint32_t n, elm_stop_reason_t why)
{
    (void)n;
    (void)why;
    mark_end(u, t);
}

/* The figures of one repetition. */
typedef struct {
    elm_timing_summary_t tm;       /* the request's timings (prefill and generation) */
    uint64_t gen_span_ns;          /* first .. last generated token */
    elm_probe_fig_t perf[ELM_PERF_COUNT];
    double tokens;                 /* tokens the counted forward passes processed */
    elm_phase_t ph[ELM_REC_PHASES];
    bool have_ph[ELM_REC_PHASES];
    elm_probe_fig_t rss;
    char energy_why[192];
    uint32_t n_rss; /* the RSS timeline of the request */
    float rss_t_ms[ELM_REC_RSS_POINTS];
    double rss_bytes[ELM_REC_RSS_POINTS];
} one_t;

void elm_bench_quant_name(const elm_model_t *m, char *buf, size_t cap)
{
    const elm_gguf_t *g = elm_model_gguf(m);
    uint32_t ft;
    const elm_gguf_tensor_t *t = elm_gguf_find_tensor(g, "blk.0.attn_q.weight");
    const elm_type_info_t *ti = t ? elm_type_info(t->type) : NULL;
    if (cap == 0) return;
    if (elm_gguf_get_u32(g, "general.file_type", &ft) == 0 &&
        strcmp(elm_ftype_name((elm_ftype_t)ft), "?"))
        put(buf, cap, "%s", elm_ftype_name((elm_ftype_t)ft));
    else if (ti)
        for (size_t i = 0; i < cap; i++) {
            buf[i] = (char)toupper((unsigned char)ti->name[i]);
            if (!ti->name[i]) break;
        }
    else
        put(buf, cap, "?");
    buf[cap - 1] = '\0';
}

/* Quant and architecture from the model file's metadata. */
static void describe_model(const elm_model_t *m, elm_record_t *rec)
{
    elm_bench_quant_name(m, rec->quant, sizeof rec->quant);
    put(rec->arch, sizeof rec->arch, "%s", elm_model_hparams(m)->arch);
    rec->weight_bytes = elm_model_weight_bytes(m);
}

static int find_phase(elm_probe_sampler_t *smp, const char *name, elm_phase_t *out)
{
    int n = elm_probe_sampler_n_phases(smp);
    for (int i = n - 1; i >= 0; i--)
        if (elm_probe_sampler_phase(smp, i, out) == 0 && !strcmp(out->name, name)) return 1;
    return 0;
}

static int request(elm_bench_t *b, const elm_bench_point_t *p, const int32_t *prompt,
                   uint32_t n_prompt, uint32_t n_ctx, one_t *r, elm_record_t *rec,
                   elm_diag_t *d)
{
    int rc;
    elm_perf_t *perf = NULL;
    elm_probe_sampler_t *smp = NULL;
    elm_model_t *m = NULL;
    elm_session_t *sess = NULL;
    elm_sampler_t *sampler = NULL;
    elm_diag_t pd;
    memset(r, 0, sizeof *r);

    /* Counters first: they follow the threads the session creates afterwards. */
    if (elm_perf_open(&perf, &pd)) {
        for (int e = 0; e < ELM_PERF_COUNT; e++)
            put(r->perf[e].why, sizeof r->perf[e].why, "unsupported: %s", pd.msg);
    }
    /* The sampler runs without a power source too: it samples the RSS timeline. */
    elm_probe_sampler_opts_t so = {.interval_ms = b->o.interval_ms, .ctx = &b->probe,
                                   .sample_rss = true};
    elm_power_source_t *src[1] = {b->power};
    if ((rc = elm_probe_sampler_create(src, b->power ? 1 : 0, &so, &smp, d)) ||
        (rc = elm_probe_sampler_start(smp, d)))
        goto done;
    if (!b->power) put(r->energy_why, sizeof r->energy_why, "%s", b->power_why);
    marks_t mk = {.smp = smp};
    const elm_hooks_t mine = {.user = &mk,
                              .on_load_start = mark_load,
                              .on_load_done = mark_end,
                              .on_prefill_start = mark_prefill,
                              .on_token = mark_token,
                              .on_done = mark_done};
    elm_timings_t tm;
    elm_hooks_t hooks;
    elm_timings_hooks(&tm, &mine, &hooks);
    elm_model_params_t mp = elm_model_default_params();
    mp.use_mmap = !b->o.no_mmap;
    if ((rc = elm_model_load(p->model, &mp, &hooks, &m, d))) goto done;
    if (rec) describe_model(m, rec);
    const elm_hparams_t *hp = elm_model_hparams(m);
    elm_session_params_t ssp = elm_session_default_params();
    ssp.n_ctx = n_ctx;
    ssp.n_threads = p->threads;
    ssp.n_threads_batch = p->threads_batch;
    if ((rc = elm_session_create(m, &ssp, &sess, d))) goto done;
    elm_sampler_params_t sp = elm_sampler_default_params();
    sp.temp = 0; /* greedy: the same tokens every repetition */
    if ((rc = elm_sampler_create(&sp, hp->n_vocab, &sampler, d))) goto done;

    if (perf) elm_perf_start(perf);
    /* eos_id -1: never stop early, so the token counts are exact (--ignore-eos). */
    elm_generate_params_t gp = {.n_predict = p->n_gen, .eos_id = -1};
    if ((rc = elm_generate(sess, sampler, prompt, n_prompt, &gp, &hooks, NULL, NULL, d))) goto done;
    elm_timings_summary(&tm, &r->tm);
    r->gen_span_ns = tm.t_last_token - tm.t_first_token;
    r->tokens = (double)n_prompt + tm.n_generated;
    if (perf) {
        elm_perf_stop(perf);
        elm_perf_read(perf, r->perf);
    }
    if (smp) {
        elm_probe_sampler_stop(smp);
        static const char *const names[ELM_REC_PHASES] = {"load", "prefill", "generation"};
        for (int i = 0; i < ELM_REC_PHASES; i++)
            r->have_ph[i] = find_phase(smp, names[i], &r->ph[i]);
        r->n_rss = elm_probe_sampler_rss_timeline(smp, r->rss_t_ms, r->rss_bytes,
                                                  ELM_REC_RSS_POINTS);
    }
    uint64_t rss;
    if (elm_mem_peak_rss(&b->probe, &rss, &pd) == 0) {
        r->rss.valid = true;
        r->rss.value = (double)rss;
    } else {
        put(r->rss.why, sizeof r->rss.why, "%s", pd.msg);
    }
done:
    elm_sampler_free(sampler);
    elm_session_free(sess);
    elm_model_free(m);
    elm_probe_sampler_free(smp);
    elm_perf_close(perf);
    return rc;
}

/* Add one measured repetition's figures to the accumulators. */
static void gather(const elm_bench_t *b, const one_t *r, accs_t *a)
{
    acc_add(&a->load_ms, r->tm.load_ms);
    acc_add(&a->prefill_tps, r->tm.prefill_tps);
    acc_add(&a->ttft_ms, r->tm.ttft_ms);
    acc_add(&a->ttft_cold_ms, r->tm.ttft_cold_ms);
    if (r->tm.n_generated >= 2)
        acc_add(&a->gen_tps, r->tm.gen_tps);
    else
        acc_bad(&a->gen_tps, "one token generated: generation speed excludes the first token");
    acc_add(&a->e2e_ms, r->tm.ttft_ms + (double)r->gen_span_ns / 1e6);

    const double tokens[ELM_REC_PHASES] = {0, r->tm.n_prompt,
                                           r->tm.n_generated ? r->tm.n_generated - 1.0 : 0};
    double total = 0;
    bool total_ok = b->power != NULL;
    for (int ph = 0; ph < ELM_REC_PHASES; ph++) {
        acc_t *e = a->energy[ph];
        if (!b->power || !r->have_ph[ph]) {
            const char *why = b->power ? "phase not recorded by the sampler" : r->energy_why;
            for (int k = 0; k < 4; k++) acc_bad(&e[k], why);
            if (ph != ELM_REC_LOAD) total_ok = false;
            continue;
        }
        const elm_phase_power_t *pw = &r->ph[ph].src[0];
        acc_fig(&e[0], &pw->energy_j);
        acc_fig(&e[2], &pw->avg_w);
        acc_fig(&e[3], &pw->peak_w);
        if (ph == ELM_REC_LOAD)
            acc_bad(&e[1], "load produces no tokens");
        else if (!pw->energy_j.valid)
            acc_bad(&e[1], pw->energy_j.why);
        else if (tokens[ph] <= 0)
            acc_bad(&e[1], "no tokens in this phase");
        else
            acc_add(&e[1], pw->energy_j.value / tokens[ph]);
        if (ph != ELM_REC_LOAD) {
            if (pw->energy_j.valid)
                total += pw->energy_j.value;
            else
                total_ok = false;
        }
    }
    double s;
    if (total_ok) {
        acc_add(&a->energy_j, total);
        if (elm_action_per_token(total, r->tm.n_generated, &s, NULL) == 0)
            acc_add(&a->action_s, s);
        else
            acc_bad(&a->action_s, "no tokens generated");
    } else {
        const char *why = b->power ? "a phase's energy is unavailable" : r->energy_why;
        acc_bad(&a->energy_j, why);
        acc_bad(&a->action_s, why);
    }
    acc_fig(&a->peak_rss, &r->rss);
    for (int e = 0; e < ELM_PERF_COUNT; e++) {
        if (r->perf[e].valid)
            acc_add(&a->perf[e], r->perf[e].value / r->tokens);
        else
            acc_bad(&a->perf[e], r->perf[e].why[0] ? r->perf[e].why : "unsupported");
    }
}

/* ---- the point ---- */

/* The prompt: the text's tokens, repeated or cut to n tokens (0: as tokenized), the model's
 * BOS kept only at the start. *ids is malloc'd (caller frees). */
static int make_prompt(const elm_bench_t *b, const elm_bench_point_t *p, int32_t **ids,
                       uint32_t *n_ids, elm_diag_t *d)
{
    elm_tokenizer_t *tok = NULL;
    int32_t *t = NULL;
    size_t n = 0;
    const char *text = b->o.prompt ? b->o.prompt : elm_bench_default_prompt;
    int rc = elm_tokenizer_load(p->model, &tok, d);
    if (rc) return rc;
    if ((rc = elm_tokenize(tok, text, strlen(text), ELM_TOK_ADD_SPECIAL, &t, &n, d))) goto done;
    size_t body = 0;
    int32_t bos = elm_tokenizer_bos(tok);
    if (n > 0 && t[0] == bos) body = 1;
    if (n <= body) {
        rc = elm_diag(d, ELM_EINVAL, "the bench prompt has no tokens");
        goto done;
    }
    uint32_t want = p->n_prompt ? p->n_prompt : (uint32_t)n;
    int32_t *out = malloc((size_t)want * sizeof *out);
    if (!out) {
        rc = elm_diag(d, ELM_ENOMEM, "out of memory for a prompt of %" PRIu32 " tokens", want);
        goto done;
    }
    for (uint32_t i = 0; i < want; i++)
        out[i] = i < body ? t[i] : t[body + (i - body) % (n - body)];
    *ids = out;
    *n_ids = want;
done:
    free(t);
    elm_tokenizer_free(tok);
    return rc;
}

static void sleep_s(double s)
{
    if (s <= 0) return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) && errno == EINTR) {}
}

/* Evict the model file's pages so the next load reads it from storage: posix_fadvise
 * (DONTNEED) on the file, which works without root for pages nobody else maps, and, as root, the
 * whole page cache through /proc/sys/vm/drop_caches. The note says what was done. */
static void drop_caches(const elm_bench_t *b, const char *model, char *note, size_t cap)
{
    if (!b->o.drop_caches) {
        put(note, cap, "page cache not dropped (--drop-caches not given): the first load "
                            "may be warm");
        return;
    }
    char fadv[256], sys[320], path[512];
    int fd = open(model, O_RDONLY | O_CLOEXEC);
    int err = fd < 0 ? errno : 0;
    if (fd >= 0) {
        fdatasync(fd);
        err = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
    }
    if (err) put(fadv, sizeof fadv, "model pages not evicted (posix_fadvise: %s)", strerror(err));
    else put(fadv, sizeof fadv, "model file pages evicted (posix_fadvise DONTNEED)");
    const char *root = b->probe.sysfs_root && *b->probe.sysfs_root ? b->probe.sysfs_root : "";
    put(path, sizeof path, "%s/proc/sys/vm/drop_caches", root);
    sync();
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "3\n", 2) != 2) {
        put(sys, sizeof sys, "page cache not dropped: %s: %s%s", path, strerror(errno),
                 errno == EACCES || errno == EPERM ? " (needs root)" : "");
    } else {
        put(sys, sizeof sys, "page cache dropped (%s)", path);
    }
    if (fd >= 0) close(fd);
    put(note, cap, "%s; %s", fadv, sys);
}

/* How the cold load was made: the page cache (above), then how the model came into memory. */
static void describe_cold(const elm_bench_t *b, const char *model, char *note, size_t cap)
{
    char cache[320];
    drop_caches(b, model, cache, sizeof cache);
    put(note, cap, "%s; model %s", cache,
        b->o.no_mmap ? "read into memory (--no-mmap)" : "mapped (mmap)");
}

/* "performance 2400 MHz (cpu0-1)", runs of CPUs that agree folded together. */
static void cpufreq_note(const elm_sys_info_t *s, char *buf, size_t cap)
{
    if (s->n_freq == 0) {
        put(buf, cap, "unavailable: %s", s->cpufreq.why);
        return;
    }
    elm_sbuf_t sb = {0};
    for (int i = 0; i < s->n_freq;) {
        const char *gov = s->freq[i].governor.valid ? s->freq[i].governor.text : "?";
        double mhz = s->freq[i].cur_mhz.valid ? s->freq[i].cur_mhz.value : -1;
        int j = i + 1;
        while (j < s->n_freq && !strcmp(s->freq[j].governor.valid ? s->freq[j].governor.text : "?", gov) &&
               (s->freq[j].cur_mhz.valid ? s->freq[j].cur_mhz.value : -1) == mhz)
            j++;
        elm_sbuf_printf(&sb, "%s%s ", i ? ", " : "", gov);
        if (mhz >= 0) elm_sbuf_printf(&sb, "%.0f MHz", mhz);
        else elm_sbuf_printf(&sb, "? MHz");
        if (j - i > 1) elm_sbuf_printf(&sb, " (cpu%d-%d)", s->freq[i].cpu, s->freq[j - 1].cpu);
        else elm_sbuf_printf(&sb, " (cpu%d)", s->freq[i].cpu);
        i = j;
    }
    put(buf, cap, "%s", sb.p ? sb.p : "unavailable: out of memory");
    free(sb.p);
}

void elm__bench_describe_system(const elm_bench_t *b, elm_record_t *rec)
{
    const elm_sys_info_t *s = b->sys;
    const char *why;
    put(rec->power_source, sizeof rec->power_source, "%s", elm_bench_power(b, &why));
    put(rec->power_detail, sizeof rec->power_detail, "%s", why);
    rec->power_estimated = b->power && elm_power_estimated(b->power);
    put(rec->cpu_model, sizeof rec->cpu_model, "%s",
             s->cpu_model.valid ? s->cpu_model.text : "unknown");
    put(rec->device, sizeof rec->device, "%s",
             s->board.valid ? s->board.text : rec->cpu_model);
    rec->n_cpus = s->n_cpus.valid ? (int)s->n_cpus.value : 0;
    put(rec->kernel, sizeof rec->kernel, "%s", s->kernel.valid ? s->kernel.text : "unknown");
    put(rec->version, sizeof rec->version, "%s", ELM_VERSION);
    put(rec->git_hash, sizeof rec->git_hash, "%s", ELM_GIT_HASH);
    cpufreq_note(s, rec->cpufreq, sizeof rec->cpufreq);
    if (s->nvpmodel.valid)
        put(rec->nvpmodel, sizeof rec->nvpmodel, "%s", s->nvpmodel.text);
    else
        put(rec->nvpmodel, sizeof rec->nvpmodel, "unavailable: %s", s->nvpmodel.why);
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(rec->timestamp, sizeof rec->timestamp, "%Y-%m-%dT%H:%M:%SZ", &tmv);
}

/* The configuration half of the record. */
static void describe(const elm_bench_t *b, const elm_bench_point_t *p, uint32_t n_prompt,
                     uint32_t n_ctx, elm_record_t *rec)
{
    put(rec->model, sizeof rec->model, "%s", p->model);
    struct stat st;
    rec->model_bytes = stat(p->model, &st) == 0 ? (uint64_t)st.st_size : 0;
    rec->threads = p->threads;
    rec->threads_batch = p->threads_batch;
    rec->n_prompt = n_prompt;
    rec->n_gen = p->n_gen;
    rec->n_ctx = n_ctx;
    rec->reps = b->o.reps - 1;
    elm__bench_describe_system(b, rec);
    char hex[65];
    bool cached;
    elm_diag_t d;
    if (elm_sha256_file(p->model, b->o.cache_dir, hex, &cached, &d) == 0)
        put(rec->model_sha256, sizeof rec->model_sha256, "%s", hex);
    else
        put(rec->model_sha256, sizeof rec->model_sha256, "unavailable: %.56s", d.msg);
}

int elm_bench_run(elm_bench_t *b, const elm_bench_point_t *p, size_t index, elm_record_t *rec,
                  elm_diag_t *d)
{
    int32_t *prompt = NULL;
    uint32_t n_prompt = 0;
    memset(rec, 0, sizeof *rec);
    accs_t *a = calloc(1, sizeof *a);
    if (!a) return elm_diag(d, ELM_ENOMEM, "out of memory for the bench figures");
    int rc = make_prompt(b, p, &prompt, &n_prompt, d);
    if (rc) goto done;
    uint32_t n_ctx = p->n_ctx ? p->n_ctx : n_prompt + p->n_gen;
    if (n_ctx < (uint64_t)n_prompt + p->n_gen) {
        rc = elm_diag(d, ELM_EINVAL, "--ctx %" PRIu32 " cannot hold the prompt of %" PRIu32
                                     " tokens and %" PRIu32 " generated ones",
                      n_ctx, n_prompt, p->n_gen);
        goto done;
    }
    describe(b, p, n_prompt, n_ctx, rec);
    one_t one;
    for (uint32_t rep = 0; rep < b->o.reps; rep++) {
        if (b->o.progress) b->o.progress(b->o.progress_user, index, rep);
        if (rep > 0) sleep_s(b->o.cooldown_s);
        if (rep == 0) describe_cold(b, p->model, rec->cold_note, sizeof rec->cold_note);
        if ((rc = request(b, p, prompt, n_prompt, n_ctx, &one, rep == 0 ? rec : NULL, d)))
            goto done;
        if (rep == 0) {
            a->load_cold_ms = one.tm.load_ms;
            continue;
        }
        gather(b, &one, a);
    }

    elm_bench_stat(&a->load_cold_ms, 1, &rec->load_cold_ms);
    acc_stat(&a->load_ms, &rec->load_ms);
    acc_stat(&a->prefill_tps, &rec->prefill_tps);
    acc_stat(&a->ttft_ms, &rec->ttft_ms);
    acc_stat(&a->ttft_cold_ms, &rec->ttft_cold_ms);
    acc_stat(&a->gen_tps, &rec->gen_tps);
    acc_stat(&a->e2e_ms, &rec->e2e_ms);
    for (int ph = 0; ph < ELM_REC_PHASES; ph++) {
        acc_stat(&a->energy[ph][0], &rec->energy[ph].energy_j);
        acc_stat(&a->energy[ph][1], &rec->energy[ph].j_per_token);
        acc_stat(&a->energy[ph][2], &rec->energy[ph].avg_w);
        acc_stat(&a->energy[ph][3], &rec->energy[ph].peak_w);
    }
    acc_stat(&a->energy_j, &rec->energy_j);
    acc_stat(&a->action_s, &rec->action_s);
    acc_stat(&a->peak_rss, &rec->peak_rss_bytes);
    for (int e = 0; e < ELM_PERF_COUNT; e++) acc_stat(&a->perf[e], &rec->perf_per_token[e]);
    if (rec->gen_tps.valid)
        elm_reading_speed(rec->gen_tps.mean, &rec->reading_fast, &rec->reading_ratio, NULL);
    /* The last measured repetition's RSS timeline. */
    rec->n_rss = one.n_rss;
    memcpy(rec->rss_t_ms, one.rss_t_ms, one.n_rss * sizeof *one.rss_t_ms);
    memcpy(rec->rss_bytes, one.rss_bytes, one.n_rss * sizeof *one.rss_bytes);
done:
    free(prompt);
    free(a);
    return rc;
}
