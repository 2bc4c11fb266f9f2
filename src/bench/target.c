/* `edgelm bench --target`: measure an OpenAI-compatible streaming server. Each request POSTs a
 * chat completion with "stream": true through src/http (http.h), whose response parser calls
 * back at each content chunk, stamped with the time its bytes were read. Worker threads, at most
 * `concurrency` of them, take the requests in order and start each at its arrival time; the
 * figures over the requests become percentiles, and the power source is sampled over the whole
 * window. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "edgelm/bench.h"
#include "edgelm/metrics.h"
#include "internal.h"

#define put elm__bench_put

/* ---- arrivals ---- */

int elm_arrival_parse(const char *s, elm_arrival_t *out, elm_diag_t *d)
{
    memset(out, 0, sizeof *out);
    if (!strcmp(s, "closed")) return 0;
    if (!strncmp(s, "poisson:", 8)) {
        out->kind = ELM_ARRIVAL_POISSON;
        if (!elm_parse_f64(s + 8, 0, 1e6, &out->rate) && out->rate > 0) return 0;
    } else if (!strncmp(s, "bursty:", 7)) {
        /* B and S split at the first '/' or ':'; S may end in "s" */
        char b[32], p[64];
        size_t bl = strcspn(s + 7, "/:"), pl;
        int64_t burst;
        if (s[7 + bl] && bl < sizeof b && (pl = strlen(s + 8 + bl)) < sizeof p) {
            memcpy(b, s + 7, bl);
            b[bl] = '\0';
            memcpy(p, s + 8 + bl, pl + 1);
            if (pl > 1 && p[pl - 1] == 's') p[pl - 1] = '\0';
            if (!elm_parse_i64(b, 1, 100000, &burst) &&
                !elm_parse_f64(p, 0, 86400, &out->period_s) && out->period_s > 0) {
                out->kind = ELM_ARRIVAL_BURSTY;
                out->burst = (uint32_t)burst;
                return 0;
            }
        }
    }
    memset(out, 0, sizeof *out);
    return elm_diag(d, ELM_EINVAL, "--arrival '%s': expected closed, poisson:RATE (requests/s) "
                                   "or bursty:B/S (B requests every S seconds)", s);
}

void elm_arrival_name(const elm_arrival_t *a, char *buf, size_t cap)
{
    if (a->kind == ELM_ARRIVAL_POISSON) put(buf, cap, "poisson:%g", a->rate);
    else if (a->kind == ELM_ARRIVAL_BURSTY) put(buf, cap, "bursty:%" PRIu32 "/%gs", a->burst, a->period_s);
    else put(buf, cap, "closed");
}

/* splitmix64: a small seeded generator, the same sequence on every machine. */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void elm_arrival_schedule(const elm_arrival_t *a, uint64_t seed, uint32_t n, double *t)
{
    uint64_t s = seed;
    double at = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (a->kind == ELM_ARRIVAL_POISSON) {
            /* Exponential gap by inversion; u in (0, 1]. */
            double u = ((double)(next_u64(&s) >> 11) + 1.0) / 9007199254740992.0;
            if (i > 0) at += -log(u) / a->rate;
            t[i] = at;
        } else if (a->kind == ELM_ARRIVAL_BURSTY) {
            t[i] = (double)(i / a->burst) * a->period_s;
        } else {
            t[i] = 0;
        }
    }
}

/* ---- statistics ---- */

void elm_bench_dist(double *x, size_t n, const char *why, elm_dist_t *out)
{
    memset(out, 0, sizeof *out);
    if (n == 0) {
        put(out->why, sizeof out->why, "%s", why ? why : "no values");
        return;
    }
    double sd;
    elm_stats_sort(x, n);
    elm_stats_mean_sd(x, n, &out->mean, &sd);
    out->valid = true;
    out->p50 = elm_stats_percentile(x, n, 50);
    out->p90 = elm_stats_percentile(x, n, 90);
    out->p99 = elm_stats_percentile(x, n, 99);
    out->n = (uint32_t)n;
}

/* ---- one request ---- */

typedef struct {
    uint64_t t_send, t_end;
    uint64_t *tok_t; /* content chunk times (malloc'd) */
    uint32_t n_tok, cap_tok;
    bool oom;
    int64_t usage;   /* usage.completion_tokens, -1 when absent */
    bool ok;
    char err[256];
} req_t;

typedef struct {
    const elm_target_opts_t *o;
    const elm_http_url_t *u;
    struct addrinfo *ai;
    const char *text; /* the request head and body */
    size_t len;
    const double *arrive;
    req_t *reqs;
    pthread_mutex_t mu;
    uint32_t next;
    uint64_t t0;
} run_t;

static void on_content(void *user, uint64_t t)
{
    req_t *q = user;
    if (q->n_tok == q->cap_tok) {
        uint32_t cap = q->cap_tok ? q->cap_tok * 2 : 256;
        uint64_t *p = realloc(q->tok_t, cap * sizeof *p);
        if (!p) {
            q->oom = true;
            return;
        }
        q->tok_t = p;
        q->cap_tok = cap;
    }
    q->tok_t[q->n_tok++] = t;
}

static void request(const run_t *r, req_t *q)
{
    elm_http_resp_t *resp = NULL;
    elm_diag_t d;
    q->usage = -1;
    q->t_send = elm_time_ns();
    uint64_t deadline = q->t_send + (uint64_t)(r->o->timeout_s * 1e9);
    if (elm_http_resp_create(on_content, q, &resp, &d) ||
        elm_http_exchange(r->u, r->ai, r->text, r->len, deadline, r->o->timeout_s, resp, &d)) {
        put(q->err, sizeof q->err, "%s", d.msg);
        goto done;
    }
    q->t_end = elm_time_ns();
    const elm_http_summary_t *s = elm_http_resp_summary(resp);
    q->usage = s->usage_tokens;
    if (s->status / 100 != 2)
        put(q->err, sizeof q->err, "HTTP %d %s: %s", s->status, s->reason,
            s->error[0] ? s->error : "(no message)");
    else if (s->error[0])
        put(q->err, sizeof q->err, "error event in the stream: %s", s->error);
    else if (q->oom)
        put(q->err, sizeof q->err, "out of memory recording token times");
    else if (q->n_tok == 0)
        put(q->err, sizeof q->err, "the stream carried no content (is this a chat model? does "
                                   "--model name one the server has?)");
    else
        q->ok = true;
done:
    if (!q->t_end) q->t_end = elm_time_ns();
    elm_http_resp_free(resp);
}

static void sleep_until(uint64_t t)
{
    uint64_t now = elm_time_ns();
    if (now >= t) return;
    uint64_t ns = t - now;
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) && errno == EINTR) {}
}

static void *worker(void *arg)
{
    run_t *r = arg;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        uint32_t i = r->next < r->o->n_requests ? r->next++ : UINT32_MAX;
        pthread_mutex_unlock(&r->mu);
        if (i == UINT32_MAX) return NULL;
        sleep_until(r->t0 + (uint64_t)(r->arrive[i] * 1e9));
        request(r, &r->reqs[i]);
    }
}

/* ---- the request text ---- */

static char *request_text(const elm_target_opts_t *o, const elm_http_url_t *u, size_t *len)
{
    char *body = NULL, *text = NULL;
    cJSON *j = cJSON_CreateObject(), *msgs, *m, *so;
    if (!j || !cJSON_AddStringToObject(j, "model", o->model) ||
        !(msgs = cJSON_AddArrayToObject(j, "messages")) || !(m = cJSON_CreateObject()))
        goto done;
    cJSON_AddItemToArray(msgs, m);
    if (!cJSON_AddStringToObject(m, "role", "user") ||
        !cJSON_AddStringToObject(m, "content", o->prompt ? o->prompt : elm_bench_default_prompt) ||
        !cJSON_AddNumberToObject(j, "max_tokens", o->max_tokens) ||
        !cJSON_AddBoolToObject(j, "stream", 1) ||
        !(so = cJSON_AddObjectToObject(j, "stream_options")) ||
        !cJSON_AddBoolToObject(so, "include_usage", 1) ||
        !cJSON_AddNumberToObject(j, "temperature", 0) || !(body = cJSON_PrintUnformatted(j)))
        goto done;
    text = elm_http_post_text(u, body, len);
done:
    free(body);
    cJSON_Delete(j);
    return text;
}

/* ---- the record ---- */

/* The in-process figures a target run has no way to measure. */
static void not_measured(elm_record_t *rec)
{
    elm_stat_t *na[] = {&rec->load_cold_ms, &rec->load_ms, &rec->prefill_tps, &rec->ttft_cold_ms,
                        &rec->peak_rss_bytes, &rec->energy[ELM_REC_LOAD].energy_j,
                        &rec->energy[ELM_REC_LOAD].j_per_token, &rec->energy[ELM_REC_LOAD].avg_w,
                        &rec->energy[ELM_REC_LOAD].peak_w,
                        &rec->energy[ELM_REC_PREFILL].energy_j,
                        &rec->energy[ELM_REC_PREFILL].j_per_token,
                        &rec->energy[ELM_REC_PREFILL].avg_w, &rec->energy[ELM_REC_PREFILL].peak_w};
    for (size_t i = 0; i < sizeof na / sizeof na[0]; i++)
        put(na[i]->why, sizeof na[i]->why, "not measured for an HTTP target (the server's "
                                           "process is not ours)");
    for (int e = 0; e < ELM_PERF_COUNT; e++)
        put(rec->perf_per_token[e].why, sizeof rec->perf_per_token[e].why,
            "not measured for an HTTP target (the server's process is not ours)");
}

/* "2 x HTTP 500 ...: msg; 1 x timed out ..." over the failed requests, most frequent first. */
static void name_errors(const req_t *q, uint32_t n, char *out, size_t cap)
{
    elm_sbuf_t b = {0};
    bool *seen = calloc(n ? n : 1, sizeof *seen);
    if (!seen) {
        put(out, cap, "(out of memory naming the errors)");
        return;
    }
    for (int round = 0; round < 8; round++) {
        uint32_t best = UINT32_MAX, best_n = 0;
        for (uint32_t i = 0; i < n; i++) {
            if (q[i].ok || seen[i]) continue;
            uint32_t c = 0;
            for (uint32_t k = i; k < n; k++) c += !q[k].ok && !seen[k] && !strcmp(q[k].err, q[i].err);
            if (c > best_n) best = i, best_n = c;
        }
        if (best == UINT32_MAX) break;
        for (uint32_t k = best; k < n; k++)
            if (!q[k].ok && !strcmp(q[k].err, q[best].err)) seen[k] = true;
        elm_sbuf_printf(&b, "%s%" PRIu32 " x %s", b.len ? "; " : "", best_n, q[best].err);
    }
    free(seen);
    put(out, cap, "%s", b.p ? b.p : "");
    free(b.p);
}

static void stat_of(const double *x, uint32_t n, const char *why, elm_stat_t *s)
{
    if (n) {
        elm_bench_stat(x, n, s);
        return;
    }
    memset(s, 0, sizeof *s);
    put(s->why, sizeof s->why, "%s", why);
}

/* The figures over the requests into rec. */
static int summarize(const elm_target_opts_t *o, req_t *q, elm_record_t *rec, elm_diag_t *d)
{
    elm_rec_target_t *tg = &rec->target;
    uint32_t n = o->n_requests, n_itl = 0, n_usage = 0, n_mismatch = 0;
    for (uint32_t i = 0; i < n; i++)
        if (q[i].ok) n_itl += q[i].n_tok - 1;
    double *ttft = malloc(n * sizeof *ttft), *tps = malloc(n * sizeof *tps),
           *e2e = malloc(n * sizeof *e2e), *itl = malloc((n_itl ? n_itl : 1) * sizeof *itl);
    if (!ttft || !tps || !e2e || !itl) {
        free(ttft), free(tps), free(e2e), free(itl);
        return elm_diag(d, ELM_ENOMEM, "out of memory summarizing %" PRIu32 " requests", n);
    }
    uint32_t n_ok = 0, n_tps = 0;
    uint64_t first = UINT64_MAX, last = 0;
    n_itl = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (q[i].t_send < first) first = q[i].t_send;
        if (q[i].t_end > last) last = q[i].t_end;
        if (!q[i].ok) continue;
        const req_t *r = &q[i];
        uint64_t tokens = r->usage >= 0 ? (uint64_t)r->usage : r->n_tok;
        n_usage += r->usage >= 0;
        n_mismatch += r->usage >= 0 && (uint64_t)r->usage != r->n_tok;
        tg->tokens += tokens;
        ttft[n_ok] = (double)(r->tok_t[0] - r->t_send) / 1e6;
        e2e[n_ok] = (double)(r->t_end - r->t_send) / 1e6;
        n_ok++;
        for (uint32_t k = 1; k < r->n_tok; k++) itl[n_itl++] = (double)(r->tok_t[k] - r->tok_t[k - 1]) / 1e6;
        uint64_t span = r->tok_t[r->n_tok - 1] - r->tok_t[0];
        if (tokens >= 2 && span > 0) tps[n_tps++] = (double)(tokens - 1) / ((double)span / 1e9);
    }
    tg->n_ok = n_ok;
    tg->n_errors = n - n_ok;
    const char *none = "no request completed";
    stat_of(ttft, n_ok, none, &rec->ttft_ms);
    stat_of(e2e, n_ok, none, &rec->e2e_ms);
    stat_of(tps, n_tps, n_ok ? "every response had one content chunk: generation speed excludes "
                               "the first token" : none, &rec->gen_tps);
    elm_bench_dist(ttft, n_ok, none, &tg->ttft_ms);
    elm_bench_dist(e2e, n_ok, none, &tg->e2e_ms);
    elm_bench_dist(tps, n_tps, rec->gen_tps.why, &tg->tps);
    elm_bench_dist(itl, n_itl, n_ok ? "no response had two content chunks" : none, &tg->itl_ms);
    free(ttft), free(tps), free(e2e), free(itl);
    if (rec->gen_tps.valid)
        elm_reading_speed(rec->gen_tps.mean, &rec->reading_fast, &rec->reading_ratio, NULL);
    tg->window_s = last > first ? (double)(last - first) / 1e9 : 0;
    if (tg->window_s > 0) {
        tg->throughput_tps = (double)tg->tokens / tg->window_s;
        tg->req_per_s = n_ok / tg->window_s;
    }
    if (n_ok == 0)
        put(tg->token_source, sizeof tg->token_source, "none (no request completed)");
    else if (n_usage == n_ok)
        put(tg->token_source, sizeof tg->token_source, "usage.completion_tokens%s",
            n_mismatch ? " (differs from the content chunks: several tokens per chunk)" : "");
    else if (n_usage == 0)
        put(tg->token_source, sizeof tg->token_source, "content chunks (no usage object)");
    else
        put(tg->token_source, sizeof tg->token_source,
            "usage.completion_tokens for %" PRIu32 " requests, content chunks for %" PRIu32,
            n_usage, n_ok - n_usage);
    name_errors(q, n, tg->errors, sizeof tg->errors);
    return 0;
}

/* Energy over the window from the sampler's one phase: per request and per token. */
static void energy(elm_probe_sampler_t *smp, const char *why, elm_record_t *rec)
{
    elm_rec_target_t *tg = &rec->target;
    elm_rec_energy_t *g = &rec->energy[ELM_REC_GEN];
    elm_phase_t ph;
    char reason[192];
    if (!smp) {
        put(reason, sizeof reason, "%s", why);
    } else if (elm_probe_sampler_n_phases(smp) < 1 || elm_probe_sampler_phase(smp, 0, &ph)) {
        put(reason, sizeof reason, "the sampler recorded no window");
    } else {
        const elm_phase_power_t *pw = &ph.src[0];
        const elm_probe_fig_t *f[] = {&pw->energy_j, &pw->avg_w, &pw->peak_w};
        elm_stat_t *s[] = {&g->energy_j, &g->avg_w, &g->peak_w};
        for (int i = 0; i < 3; i++) {
            if (f[i]->valid) elm_bench_stat(&f[i]->value, 1, s[i]);
            else put(s[i]->why, sizeof s[i]->why, "%s", f[i]->why);
        }
        if (!pw->energy_j.valid) {
            put(reason, sizeof reason, "%s", pw->energy_j.why);
        } else {
            double e = pw->energy_j.value, x;
            rec->energy_j = g->energy_j;
            if (tg->n_ok) x = e / tg->n_ok, elm_bench_stat(&x, 1, &tg->energy_per_req_j);
            else put(tg->energy_per_req_j.why, sizeof tg->energy_per_req_j.why, "no request completed");
            if (tg->tokens > 1) {
                x = e / (double)tg->tokens;
                elm_bench_stat(&x, 1, &g->j_per_token);
                elm_bench_stat(&x, 1, &rec->action_s);
            } else {
                put(g->j_per_token.why, sizeof g->j_per_token.why, "no tokens");
                put(rec->action_s.why, sizeof rec->action_s.why, "no tokens");
            }
            return;
        }
    }
    elm_stat_t *all[] = {&g->energy_j, &g->avg_w, &g->peak_w, &g->j_per_token, &rec->energy_j,
                         &rec->action_s, &tg->energy_per_req_j};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (!all[i]->valid && !all[i]->why[0]) put(all[i]->why, sizeof all[i]->why, "%s", reason);
}

int elm_bench_target(elm_bench_t *b, const elm_target_opts_t *o, elm_record_t *rec,
                     elm_diag_t *d)
{
    memset(rec, 0, sizeof *rec);
    if (!o->model || !*o->model)
        return elm_diag(d, ELM_EINVAL, "--target needs the request's model name (--model NAME)");
    if (o->concurrency < 1 || o->n_requests < 1 || o->max_tokens < 1 || !(o->timeout_s > 0))
        return elm_diag(d, ELM_EINVAL, "--concurrency, --requests, -n and --timeout must be "
                                       "positive");
    elm_http_url_t u;
    int rc = elm_http_url_parse(o->url, &u, d);
    if (rc) return rc;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    int g = getaddrinfo(u.host, u.port, &hints, &ai);
    if (g)
        return elm_diag(d, ELM_ENOENT, "--target %s: cannot resolve '%s': %s (check the host "
                                       "name)", o->url, u.host, gai_strerror(g));
    run_t r = {.o = o, .u = &u, .ai = ai};
    pthread_t *th = NULL;
    double *arrive = NULL;
    elm_probe_sampler_t *smp = NULL;
    uint32_t n_th = 0;
    pthread_mutex_init(&r.mu, NULL);
    r.reqs = calloc(o->n_requests, sizeof *r.reqs);
    arrive = malloc(o->n_requests * sizeof *arrive);
    uint32_t workers = o->concurrency < o->n_requests ? o->concurrency : o->n_requests;
    th = calloc(workers, sizeof *th);
    if (!r.reqs || !arrive || !th || !(r.text = request_text(o, &u, &r.len))) {
        rc = elm_diag(d, ELM_ENOMEM, "out of memory for %" PRIu32 " requests", o->n_requests);
        goto done;
    }
    elm_arrival_schedule(&o->arrival, o->seed, o->n_requests, arrive);
    r.arrive = arrive;

    elm__bench_describe_system(b, rec);
    rec->is_target = true;
    elm_rec_target_t *tg = &rec->target;
    put(rec->model, sizeof rec->model, "%s", o->model);
    put(rec->quant, sizeof rec->quant, "?");
    put(rec->arch, sizeof rec->arch, "?");
    put(rec->cold_note, sizeof rec->cold_note, "not applicable (HTTP target)");
    put(rec->model_sha256, sizeof rec->model_sha256, "unavailable: the model is the server's");
    rec->n_gen = o->max_tokens;
    rec->reps = o->n_requests;
    put(tg->url, sizeof tg->url, "%s", o->url);
    put(tg->model, sizeof tg->model, "%s", o->model);
    elm_arrival_name(&o->arrival, tg->arrival, sizeof tg->arrival);
    if (o->arrival.kind == ELM_ARRIVAL_POISSON) {
        size_t l = strlen(tg->arrival);
        put(tg->arrival + l, sizeof tg->arrival - l, " (seed %" PRIu64 ")", o->seed);
    }
    tg->concurrency = o->concurrency;
    tg->n_requests = o->n_requests;
    tg->max_tokens = o->max_tokens;
    not_measured(rec);

    if (b->power) {
        elm_probe_sampler_opts_t so = {.interval_ms = b->o.interval_ms, .ctx = &b->probe};
        elm_power_source_t *src[1] = {b->power};
        if ((rc = elm_probe_sampler_create(src, 1, &so, &smp, d)) ||
            (rc = elm_probe_sampler_start(smp, d)))
            goto done;
        elm_probe_mark(smp, "requests");
    }
    r.t0 = elm_time_ns();
    for (; n_th < workers; n_th++)
        if (pthread_create(&th[n_th], NULL, worker, &r)) break;
    if (n_th == 0) {
        rc = elm_diag(d, ELM_ENOMEM, "cannot start a request thread");
        goto done;
    }
    for (uint32_t i = 0; i < n_th; i++) pthread_join(th[i], NULL);
    if (smp) elm_probe_sampler_stop(smp);
    if ((rc = summarize(o, r.reqs, rec, d))) goto done;
    energy(smp, b->power_why, rec);
done:
    elm_probe_sampler_free(smp);
    if (r.reqs)
        for (uint32_t i = 0; i < o->n_requests; i++) free(r.reqs[i].tok_t);
    free(r.reqs);
    free((char *)r.text);
    free(arrive);
    free(th);
    pthread_mutex_destroy(&r.mu);
    freeaddrinfo(ai);
    return rc;
}
