/* route/: the router — one limiter per device, the strategy's pick, the device / cloud / reject
 * decision with its reason, and the accounting of tokens, money and energy. Everything is sized at
 * creation; deciding and completing never allocate. */
#include <stdlib.h>
#include <string.h>

#include "route_internal.h"

struct elm_router {
    elm_cluster_config_t cfg;
    const elm_route_strategy_t *strategy;
    elm_route_pick_state_t st;
    elm_limiter_t lim[ELM_ROUTE_MAX_DEVICES];
    uint64_t outstanding[ELM_ROUTE_MAX_DEVICES]; /* reserved tokens in flight */
    elm_route_view_t view[ELM_ROUTE_MAX_DEVICES];
    elm_route_stats_t stats;
};

/* The sliding log's size when the config leaves it out: one entry per token (every admission
 * reserves at least one), capped at 4096 live requests per window. */
static uint32_t log_size(const elm_device_spec_t *s)
{
    if (s->max_requests) return s->max_requests;
    return s->window_tokens < 4096 ? (uint32_t)s->window_tokens : 4096;
}

int elm_router_create(const elm_cluster_config_t *c, const elm_route_strategy_t *strategy,
                      uint64_t seed, elm_router_t **out, elm_diag_t *d)
{
    *out = NULL;
    if (!strategy) strategy = elm_route_strategy_find(c->strategy);
    if (!strategy)
        return elm_diag(d, ELM_EINVAL,
                        "unknown routing strategy '%s' (see 'edgelm simulate --help')",
                        c->strategy);
    if (!c->n_devices || c->n_devices > ELM_ROUTE_MAX_DEVICES)
        return elm_diag(d, ELM_EINVAL, "a cluster needs 1 to %d devices (%u given)",
                        ELM_ROUTE_MAX_DEVICES, c->n_devices);
    elm_router_t *r = calloc(1, sizeof *r);
    if (!r) return elm_diag(d, ELM_ENOMEM, "router: out of memory");
    r->cfg = *c;
    r->strategy = strategy;
    elm_rng_seed(&r->st.rng, seed);
    int rc = 0;
    for (uint32_t i = 0; i < c->n_devices; i++) {
        const elm_device_spec_t *s = &c->devices[i];
        if (!(s->tokens_per_s > 0) || !(s->power_w >= 0) || !(s->cost_per_mtok >= 0)) {
            rc = elm_diag(d, ELM_EINVAL,
                          "device %s: tokens_per_s must be > 0, power_w and "
                          "cost_per_mtok >= 0",
                          s->name);
            goto fail;
        }
        rc = elm_limiter_init(&r->lim[i], s->window_tokens, c->window_ms, s->max_parallel,
                              log_size(s));
        if (rc) {
            elm_diag(d, rc,
                     "device %s: window_tokens, max_parallel and the window must be > 0, "
                     "max_requests at most %d",
                     s->name, ELM_ROUTE_MAX_LOG);
            goto fail;
        }
        r->view[i].spec = &r->cfg.devices[i];
    }
    *out = r;
    return 0;
fail:
    elm_router_free(r);
    return rc;
}

void elm_router_free(elm_router_t *r)
{
    if (!r) return;
    for (uint32_t i = 0; i < r->cfg.n_devices; i++)
        elm_limiter_free(&r->lim[i]);
    free(r);
}

double elm_route_cloud_cost(const elm_cloud_spec_t *cloud, uint64_t in_tokens, uint64_t out_tokens)
{
    return ((double)in_tokens * cloud->input_per_mtok +
            (double)out_tokens * cloud->output_per_mtok) /
           1e6;
}

/* ---- decision ---- */

elm_route_decision_t elm_router_decide(elm_router_t *r, int64_t now_ms, const elm_route_req_t *req)
{
    elm_route_decision_t dec = {ELM_ROUTE_TO_DEVICE, ELM_ROUTE_OK, -1, 0, 0};
    uint64_t tokens = (uint64_t)req->in_tokens + req->out_tokens;
    uint32_t n = r->cfg.n_devices, n_healthy = 0, n_eligible = 0;
    dec.reserved = tokens;
    for (uint32_t i = 0; i < n; i++) {
        elm_route_view_t *v = &r->view[i];
        elm_limiter_t *l = &r->lim[i];
        v->available = elm_limiter_available(l, now_ms);
        v->in_flight = l->in_flight;
        v->outstanding = r->outstanding[i];
        n_healthy += v->spec->healthy;
        v->eligible = v->spec->healthy && tokens <= l->capacity && !(req->exclude >> i & 1);
        n_eligible += v->eligible;
        v->can_admit = v->eligible && elm_limiter_check(l, now_ms, tokens) == ELM_ROUTE_OK;
    }
    if (!req->exclude) r->stats.requests++;
    int pick = n_eligible ? r->strategy->pick(r->view, n, req, &r->st) : -1;
    if (pick >= 0 && (uint32_t)pick < n && r->view[pick].eligible) {
        dec.device = pick;
        dec.reason = elm_limiter_admit(&r->lim[pick], now_ms, tokens, &dec.seq);
        if (dec.reason == ELM_ROUTE_OK) {
            r->outstanding[pick] += tokens;
            r->stats.processed++;
            r->stats.dev[pick].admitted++;
            return dec;
        }
    } else if (req->exclude && n_healthy) {
        /* the healthy ones left were tried */
        dec.reason = req->excluded_why ? req->excluded_why : ELM_ROUTE_FAILED;
    } else {
        dec.reason = n_healthy ? ELM_ROUTE_TOO_LARGE : ELM_ROUTE_UNHEALTHY;
    }
    elm_route_decision_t fb = elm_router_fallback(r, req, dec.reason);
    fb.device = dec.device;
    return fb;
}

elm_route_decision_t elm_router_fallback(elm_router_t *r, const elm_route_req_t *req,
                                         elm_route_reason_t reason)
{
    elm_route_decision_t dec = {ELM_ROUTE_TO_CLOUD, reason, -1, 0, 0};
    dec.reserved = (uint64_t)req->in_tokens + req->out_tokens;
    r->stats.by_reason[reason]++;
    if (r->cfg.cloud.enabled) {
        r->stats.redirected++;
    } else {
        dec.kind = ELM_ROUTE_TO_REJECT;
        r->stats.rejected++;
        r->stats.rejected_tokens += dec.reserved;
    }
    return dec;
}

/* Release a device decision's reservation and slot with 0 tokens. */
static int release_unserved(elm_router_t *r, int64_t now_ms, const elm_route_decision_t *dec)
{
    if (dec->kind != ELM_ROUTE_TO_DEVICE || dec->device < 0 ||
        (uint32_t)dec->device >= r->cfg.n_devices)
        return ELM_EINVAL;
    uint32_t i = (uint32_t)dec->device;
    int rc = elm_limiter_release(&r->lim[i], now_ms, dec->seq, 0);
    if (rc) return rc;
    r->outstanding[i] -= dec->reserved <= r->outstanding[i] ? dec->reserved : r->outstanding[i];
    r->stats.processed--;
    return 0;
}

int elm_router_undo(elm_router_t *r, int64_t now_ms, const elm_route_decision_t *dec)
{
    return release_unserved(r, now_ms, dec);
}

int elm_router_fail(elm_router_t *r, int64_t now_ms, const elm_route_decision_t *dec)
{
    int rc = release_unserved(r, now_ms, dec);
    if (!rc) r->stats.dev[dec->device].failed++;
    return rc;
}

/* ---- completion and accounting ---- */

int elm_router_complete(elm_router_t *r, int64_t now_ms, const elm_route_decision_t *dec,
                        uint32_t in_tokens, uint32_t out_tokens)
{
    elm_route_stats_t *s = &r->stats;
    uint64_t tokens = (uint64_t)in_tokens + out_tokens;
    if (dec->kind == ELM_ROUTE_TO_CLOUD) {
        s->cloud_in_tokens += in_tokens;
        s->cloud_out_tokens += out_tokens;
        s->cloud_cost += elm_route_cloud_cost(&r->cfg.cloud, in_tokens, out_tokens);
        return 0;
    }
    if (dec->kind != ELM_ROUTE_TO_DEVICE || dec->device < 0 ||
        (uint32_t)dec->device >= r->cfg.n_devices)
        return ELM_EINVAL;
    uint32_t i = (uint32_t)dec->device;
    int rc = elm_limiter_release(&r->lim[i], now_ms, dec->seq, tokens);
    if (rc) return rc;
    r->outstanding[i] -= dec->reserved <= r->outstanding[i] ? dec->reserved : r->outstanding[i];
    const elm_device_spec_t *spec = &r->cfg.devices[i];
    elm_route_dev_stats_t *ds = &s->dev[i];
    double busy = (double)out_tokens / spec->tokens_per_s;
    ds->requests++;
    ds->tokens += tokens;
    ds->busy_s += busy;
    ds->energy_j += busy * spec->power_w;
    ds->cost += (double)tokens * spec->cost_per_mtok / 1e6;
    s->edge_tokens += tokens;
    s->edge_energy_j += busy * spec->power_w;
    s->edge_cost += (double)tokens * spec->cost_per_mtok / 1e6;
    return 0;
}

/* ---- accessors ---- */

void elm_router_set_health(elm_router_t *r, uint32_t device, bool healthy)
{
    if (device < r->cfg.n_devices) r->cfg.devices[device].healthy = healthy;
}

void elm_router_set_speed(elm_router_t *r, uint32_t device, double tokens_per_s)
{
    if (device < r->cfg.n_devices && tokens_per_s > 0 && tokens_per_s < 1e9)
        r->cfg.devices[device].tokens_per_s = tokens_per_s;
}

uint32_t elm_router_n_devices(const elm_router_t *r)
{
    return r->cfg.n_devices;
}

const elm_device_spec_t *elm_router_device(const elm_router_t *r, uint32_t device)
{
    return device < r->cfg.n_devices ? &r->cfg.devices[device] : NULL;
}

const elm_route_strategy_t *elm_router_strategy(const elm_router_t *r)
{
    return r->strategy;
}

elm_limiter_t *elm_router_limiter(elm_router_t *r, uint32_t device)
{
    return device < r->cfg.n_devices ? &r->lim[device] : NULL;
}

const elm_route_stats_t *elm_router_stats(const elm_router_t *r)
{
    return &r->stats;
}
