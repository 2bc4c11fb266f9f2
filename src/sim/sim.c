/* sim/: the simulation driver — arrivals per step (synthetic or replayed from a log), routing
 * through the shared policy, device occupancy (a request holds one slot for out_tokens /
 * tokens_per_s), completions in time order and the per-step and total statistics. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgelm/sim.h"

typedef struct {
    int64_t finish_ms;
    elm_route_decision_t dec;
    uint32_t in, out;
} job_t;

/* ---- in-flight jobs: a binary min-heap on finish time ---- */

typedef struct {
    job_t *a;
    uint32_t n, cap;
} heap_t;

static void heap_push(heap_t *h, job_t j)
{
    uint32_t i = h->n++;
    while (i && h->a[(i - 1) / 2].finish_ms > j.finish_ms) {
        h->a[i] = h->a[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->a[i] = j;
}

static job_t heap_pop(heap_t *h)
{
    job_t top = h->a[0], last = h->a[--h->n];
    uint32_t i = 0;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && h->a[c + 1].finish_ms < h->a[c].finish_ms) c++;
        if (h->a[c].finish_ms >= last.finish_ms) break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (h->n) h->a[i] = last;
    return top;
}

/* ---- the run ---- */

typedef struct {
    const elm_cluster_config_t *c;
    elm_router_t *r;
    heap_t h;
    elm_sim_result_t *res;
    int64_t step_ms;
    int64_t last_ms; /* the latest arrival or completion so far */
} run_t;

static void complete_until(run_t *x, int64_t now_ms)
{
    while (x->h.n && x->h.a[0].finish_ms <= now_ms) {
        job_t j = heap_pop(&x->h);
        elm_router_complete(x->r, j.finish_ms, &j.dec, j.in, j.out);
    }
}

/* Spread a busy interval [t0, t1) of device dev over the steps it covers. */
static void add_busy(run_t *x, uint32_t dev, int64_t t0, int64_t t1)
{
    elm_sim_result_t *res = x->res;
    for (int64_t s = t0 / x->step_ms; s < res->n_steps && s * x->step_ms < t1; s++) {
        int64_t a = t0 > s * x->step_ms ? t0 : s * x->step_ms;
        int64_t b = t1 < (s + 1) * x->step_ms ? t1 : (s + 1) * x->step_ms;
        res->util[s * res->n_devices + dev] += (double)(b - a);
    }
}

/* Arrival times within one step, sorted (insertion sort: at most n_users of them). */
static uint32_t arrivals(elm_rng_t *rng, const elm_sim_params_t *p, int64_t t0, int64_t *at)
{
    bool burst = p->workload == ELM_SIM_BURSTY && t0 % p->burst_every_ms < p->burst_len_ms;
    double p1 = burst ? p->p_burst : p->p_active;
    /* The probabilities are per minute; a finer step keeps the same rate. */
    double ps = 1 - pow(1 - p1, (double)p->step_ms / 60000.0);
    uint32_t n = 0;
    for (uint32_t u = 0; u < p->n_users; u++) {
        if (elm_rng_uniform(rng) >= ps) continue;
        int64_t t = t0 + (int64_t)(elm_rng_uniform(rng) * (double)p->step_ms);
        uint32_t i = n++;
        while (i && at[i - 1] > t) {
            at[i] = at[i - 1];
            i--;
        }
        at[i] = t;
    }
    return n;
}

static void step_add(elm_sim_step_t *s, const elm_route_decision_t *dec, uint64_t tokens,
                     double cost)
{
    s->requests++;
    if (dec->kind == ELM_ROUTE_TO_DEVICE) {
        s->processed++;
        s->tok_processed += tokens;
    } else if (dec->kind == ELM_ROUTE_TO_CLOUD) {
        s->redirected++;
        s->tok_redirected += tokens;
        s->cloud_cost += cost;
    } else {
        s->rejected++;
        s->tok_rejected += tokens;
    }
}

/* horizon_ms: the time the whole-run utilization is over. */
static void finish_stats(elm_sim_result_t *res, const elm_cluster_config_t *c, int64_t step_ms,
                         double horizon_ms, const elm_route_stats_t *rs)
{
    uint32_t nd = res->n_devices;
    double busy[ELM_ROUTE_MAX_DEVICES] = {0};
    for (uint32_t s = 0; s < res->n_steps; s++) {
        elm_sim_step_t *st = &res->steps[s];
        elm_sim_step_t *t = &res->total;
        t->requests += st->requests;
        t->processed += st->processed;
        t->redirected += st->redirected;
        t->rejected += st->rejected;
        t->tok_processed += st->tok_processed;
        t->tok_redirected += st->tok_redirected;
        t->tok_rejected += st->tok_rejected;
        t->cloud_cost += st->cloud_cost;
        for (uint32_t i = 0; i < nd; i++) {
            double *u = &res->util[s * nd + i];
            busy[i] += *u;
            *u /= (double)step_ms * c->devices[i].max_parallel;
        }
    }
    double sum = 0, sq = 0;
    for (uint32_t i = 0; i < nd; i++) {
        res->dev_util[i] = busy[i] / (horizon_ms * c->devices[i].max_parallel);
        res->dev_served[i] = rs->dev[i].requests;
        sum += res->dev_util[i];
    }
    res->util_mean = sum / nd;
    for (uint32_t i = 0; i < nd; i++)
        sq += pow(res->dev_util[i] - res->util_mean, 2);
    res->util_spread = sqrt(sq / nd);
    res->energy_j = rs->edge_energy_j;
}

/* Set up x for a run of n_steps steps of step_ms over cluster c: the router, the heap of
 * in-flight jobs and the result's arrays. On failure everything is freed and *out is zeroed. */
static int run_begin(run_t *x, const elm_cluster_config_t *c, const elm_route_strategy_t *s,
                     uint64_t seed, uint32_t n_steps, int64_t step_ms, elm_sim_result_t *out,
                     elm_diag_t *d)
{
    *x = (run_t){c, NULL, {NULL, 0, 0}, out, step_ms, 0};
    int rc = elm_router_create(c, s, seed, &x->r, d);
    if (rc) return rc;
    for (uint32_t i = 0; i < c->n_devices; i++) {
        x->h.cap += c->devices[i].max_parallel;
        snprintf(out->dev_name[i], sizeof out->dev_name[i], "%s", c->devices[i].name);
    }
    out->n_devices = c->n_devices;
    out->n_steps = n_steps;
    out->steps = calloc(out->n_steps, sizeof *out->steps);
    out->util = calloc((size_t)out->n_steps * c->n_devices, sizeof *out->util);
    x->h.a = malloc(x->h.cap * sizeof *x->h.a);
    if (!out->steps || !out->util || !x->h.a) {
        rc = elm_diag(d, ELM_ENOMEM, "simulation: out of memory for %u steps", out->n_steps);
        goto fail;
    }
    return 0;
fail:
    elm_router_free(x->r);
    free(x->h.a);
    elm_sim_result_free(out);
    memset(out, 0, sizeof *out);
    return rc;
}

/* Route one request arriving at t (in step st) that reserves est and completes with in + out
 * tokens: the cloud completes it at once, a device holds a slot for out / tokens_per_s. */
static void run_request(run_t *x, uint32_t st, int64_t t, const elm_route_req_t *est, uint32_t in,
                        uint32_t out)
{
    complete_until(x, t);
    elm_route_decision_t dec = elm_router_decide(x->r, t, est);
    step_add(&x->res->steps[st], &dec, (uint64_t)in + out,
             elm_route_cloud_cost(&x->c->cloud, in, out));
    if (dec.kind == ELM_ROUTE_TO_CLOUD) {
        elm_router_complete(x->r, t, &dec, in, out);
    } else if (dec.kind == ELM_ROUTE_TO_DEVICE) {
        const elm_device_spec_t *ds = &x->c->devices[dec.device];
        int64_t dur = (int64_t)ceil(out * 1000.0 / ds->tokens_per_s);
        heap_push(&x->h, (job_t){t + dur, dec, in, out});
        add_busy(x, (uint32_t)dec.device, t, t + dur);
        if (t + dur > x->last_ms) x->last_ms = t + dur;
    }
    if (t > x->last_ms) x->last_ms = t;
}

/* Complete what is in flight, total the statistics (utilization over horizon_ms) and free the
 * run's state (not the result). */
static void run_end(run_t *x, double horizon_ms)
{
    complete_until(x, INT64_MAX);
    finish_stats(x->res, x->c, x->step_ms, horizon_ms, elm_router_stats(x->r));
    elm_router_free(x->r);
    free(x->h.a);
}

int elm_sim_run(const elm_cluster_config_t *c, const elm_route_strategy_t *s,
                const elm_sim_params_t *p, elm_sim_result_t *out, elm_diag_t *d)
{
    memset(out, 0, sizeof *out);
    if (!p->n_users || p->n_users > 1000000 || p->step_ms <= 0 || p->duration_ms < p->step_ms ||
        p->duration_ms / p->step_ms > 10000000 || !(p->p_active >= 0 && p->p_active <= 1) ||
        !(p->p_burst >= 0 && p->p_burst <= 1) || p->burst_every_ms <= 0 || p->burst_len_ms < 0)
        return elm_diag(d, ELM_EINVAL,
                        "simulation: users, step and duration must be > 0 (duration "
                        "at least one step, at most 10^7 steps), probabilities in [0, 1]");
    run_t x;
    int rc = run_begin(&x, c, s, p->seed ^ 0x5eed5eedull, (uint32_t)(p->duration_ms / p->step_ms),
                       p->step_ms, out, d);
    if (rc) return rc;
    int64_t *at = malloc(p->n_users * sizeof *at);
    if (!at) {
        rc = elm_diag(d, ELM_ENOMEM, "simulation: out of memory for %u steps", out->n_steps);
        goto fail;
    }
    elm_rng_t rng;
    elm_rng_seed(&rng, p->seed);
    for (uint32_t st = 0; st < out->n_steps; st++) {
        uint32_t n = arrivals(&rng, p, (int64_t)st * p->step_ms, at);
        for (uint32_t k = 0; k < n; k++) {
            /* the synthetic demand is known exactly: the reservation is the actual count */
            elm_route_req_t req = {p->prompt_tokens, elm_sim_demand(&rng)};
            run_request(&x, st, at[k], &req, req.in_tokens, req.out_tokens);
        }
    }
    run_end(&x, (double)out->n_steps * (double)p->step_ms);
    free(at);
    return 0;
fail:
    elm_router_free(x.r);
    free(x.h.a);
    elm_sim_result_free(out);
    return rc;
}

int elm_sim_replay(const elm_cluster_config_t *c, const elm_route_strategy_t *s,
                   const elm_sim_log_t *log, int64_t step_ms, uint64_t seed, elm_sim_result_t *out,
                   elm_diag_t *d)
{
    memset(out, 0, sizeof *out);
    if (step_ms <= 0 || log->span_ms < 0 || log->span_ms / step_ms >= 10000000)
        return elm_diag(d, ELM_EINVAL,
                        "replay: the step must be > 0 and the log at most 10^7 steps long");
    run_t x;
    int rc = run_begin(&x, c, s, seed ^ 0x5eed5eedull, (uint32_t)(log->span_ms / step_ms + 1),
                       step_ms, out, d);
    if (rc) return rc;
    for (uint32_t i = 0; i < log->n; i++) {
        const elm_sim_replay_req_t *q = &log->req[i];
        elm_route_req_t est = {q->est_in, q->est_out, 0};
        run_request(&x, (uint32_t)(q->t_ms / step_ms), q->t_ms, &est, q->in, q->out);
    }
    /* A log rarely ends on a step: its utilization is over the time it covers, up to the last
     * completion (busy time past the last step is not counted, nor is that time). */
    double steps_ms = (double)out->n_steps * (double)step_ms;
    double horizon = x.last_ms > 0 ? (double)x.last_ms : 1;
    run_end(&x, horizon < steps_ms ? horizon : steps_ms);
    return 0;
}

void elm_sim_result_free(elm_sim_result_t *r)
{
    if (!r) return;
    free(r->steps);
    free(r->util);
    r->steps = NULL;
    r->util = NULL;
}
