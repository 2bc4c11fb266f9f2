/* gateway/: what the gateway shows of itself — its Prometheus families (docs/gateway.md lists
 * them) and GET /v1/cluster, every device's window, in-flight requests, health, breaker, learned
 * speed and what it served, and the cloud's spend. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "gateway_internal.h"

int gw_metrics_create(elm_gateway_t *g)
{
    static const double latency[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                     0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5,
                                     5,      10,      30,     60,    120,    300};
    static const char *const dev[] = {"device"}, *const dev_out[] = {"device", "outcome"},
                             *const dev_dir[] = {"device", "direction"},
                             *const reason[] = {"reason"};
    static const struct {
        const char *name, *help;
        elm_metric_kind_t kind;
        const char *const *labels;
        size_t n_labels;
    } fam[] = {
        {"edgelm_gateway_requests_total", "requests by the device that took them and outcome",
         ELM_METRIC_COUNTER, dev_out, 2},
        {"edgelm_gateway_tokens_total", "tokens served, in (prompt) and out (completion)",
         ELM_METRIC_COUNTER, dev_dir, 2},
        {"edgelm_gateway_redirects_total", "requests sent to the cloud, by reason",
         ELM_METRIC_COUNTER, reason, 1},
        {"edgelm_gateway_rejections_total", "requests refused (429 or 400), by reason",
         ELM_METRIC_COUNTER, reason, 1},
        {"edgelm_gateway_upstream_failures_total", "attempts that failed before serving",
         ELM_METRIC_COUNTER, dev, 1},
        {"edgelm_gateway_cloud_cost_usd_total", "money spent on the cloud, US$", ELM_METRIC_COUNTER,
         NULL, 0},
        {"edgelm_gateway_window_fill_ratio", "tokens in the sliding window / its capacity",
         ELM_METRIC_GAUGE, dev, 1},
        {"edgelm_gateway_in_flight", "requests in progress on the device", ELM_METRIC_GAUGE, dev, 1},
        {"edgelm_gateway_device_healthy", "1 when the router may choose the device",
         ELM_METRIC_GAUGE, dev, 1},
        {"edgelm_gateway_breaker_state", "0 closed, 1 half-open, 2 open", ELM_METRIC_GAUGE, dev, 1},
        {"edgelm_gateway_device_tokens_per_second", "the speed the router uses: learned, or the "
                                                    "config's prior",
         ELM_METRIC_GAUGE, dev, 1},
        {"edgelm_gateway_ttft_seconds", "request sent to the first token back", ELM_METRIC_HISTOGRAM,
         dev, 1},
        {"edgelm_gateway_itl_seconds", "between two tokens of a stream", ELM_METRIC_HISTOGRAM, dev, 1},
        {"edgelm_gateway_e2e_seconds", "arrival to the end of the answer", ELM_METRIC_HISTOGRAM, dev,
         1},
        {"edgelm_gateway_limits_shared", "1 while the limits are shared through Redis, 0 while "
                                         "they are local (no Redis, or it is unreachable)",
         ELM_METRIC_GAUGE, NULL, 0},
        {"edgelm_gateway_added_latency_seconds",
         "the gateway's own time from a request's arrival to its forwarding", ELM_METRIC_HISTOGRAM,
         NULL, 0},
    };
    int rc = elm_metrics_create(&g->metrics);
    for (size_t i = 0; !rc && i < sizeof fam / sizeof fam[0]; i++) {
        bool h = fam[i].kind == ELM_METRIC_HISTOGRAM;
        rc = elm_metrics_add(g->metrics, fam[i].name, fam[i].help, fam[i].kind, fam[i].labels,
                             fam[i].n_labels, h ? latency : NULL,
                             h ? sizeof latency / sizeof latency[0] : 0);
    }
    return rc;
}

static double fill(elm_gateway_t *g, uint32_t i, int64_t now_ms)
{
    elm_limiter_t *l = elm_router_limiter(g->router, i);
    return (double)elm_limiter_used(l, now_ms) / (double)l->capacity;
}

void gw_metrics_refresh(elm_gateway_t *g, int64_t now_ms)
{
    for (uint32_t i = 0; i < g->cfg.n_devices; i++) {
        const gw_target_t *t = &g->dev[i];
        const char *l[] = {t->name};
        elm_metrics_set(g->metrics, "edgelm_gateway_window_fill_ratio", l, fill(g, i, now_ms));
        elm_metrics_set(g->metrics, "edgelm_gateway_in_flight", l, (double)t->in_flight);
        elm_metrics_set(g->metrics, "edgelm_gateway_device_healthy", l, t->breaker == GW_CLOSED);
        elm_metrics_set(g->metrics, "edgelm_gateway_breaker_state", l, t->breaker);
        elm_metrics_set(g->metrics, "edgelm_gateway_device_tokens_per_second", l,
                        elm_router_device(g->router, i)->tokens_per_s);
    }
}

static void add_served(cJSON *o, const gw_target_t *t)
{
    cJSON_AddNumberToObject(o, "in_flight", (double)t->in_flight);
    cJSON_AddNumberToObject(o, "requests", (double)t->requests);
    cJSON_AddNumberToObject(o, "failures", (double)t->failures);
    cJSON_AddNumberToObject(o, "tokens_in", (double)t->tokens_in);
    cJSON_AddNumberToObject(o, "tokens_out", (double)t->tokens_out);
}

char *gw_cluster_json(elm_gateway_t *g, int64_t now_ms)
{
    static const char *const breaker[] = {"closed", "half-open", "open"};
    cJSON *root = cJSON_CreateObject();
    cJSON *devs = cJSON_AddArrayToObject(root, "devices");
    char *out = NULL;
    if (!devs) goto done;
    cJSON_AddStringToObject(root, "strategy", elm_route_strategy_find(g->cfg.strategy)
                                                  ? g->cfg.strategy
                                                  : elm_router_strategy(g->router)->name);
    cJSON_AddNumberToObject(root, "window_s", (double)g->cfg.window_ms / 1000);
    cJSON_AddStringToObject(root, "limits", gw_limits_mode(g));
    if (gw_limits_why(g)[0]) cJSON_AddStringToObject(root, "limits_down_because", gw_limits_why(g));
    for (uint32_t i = 0; i < g->cfg.n_devices; i++) {
        const gw_target_t *t = &g->dev[i];
        elm_limiter_t *l = elm_router_limiter(g->router, i);
        const elm_device_spec_t *s = elm_router_device(g->router, i);
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(devs, o)) {
            cJSON_Delete(o);
            goto done;
        }
        cJSON_AddStringToObject(o, "name", t->name);
        cJSON_AddStringToObject(o, "url", g->cfg.devices[i].url);
        cJSON_AddBoolToObject(o, "healthy", t->breaker == GW_CLOSED);
        cJSON_AddStringToObject(o, "breaker", breaker[t->breaker]);
        cJSON_AddNumberToObject(o, "window_tokens", (double)l->capacity);
        cJSON_AddNumberToObject(o, "window_used", (double)elm_limiter_used(l, now_ms));
        cJSON_AddNumberToObject(o, "window_fill", fill(g, i, now_ms));
        cJSON_AddNumberToObject(o, "max_parallel", l->max_parallel);
        cJSON_AddNumberToObject(o, "tokens_per_s", s->tokens_per_s);
        cJSON_AddNumberToObject(o, "prior_tokens_per_s", g->cfg.devices[i].tokens_per_s);
        cJSON_AddBoolToObject(o, "speed_learned", t->tps > 0);
        add_served(o, t);
    }
    if (g->cfg.cloud.enabled) {
        cJSON *c = cJSON_AddObjectToObject(root, "cloud");
        if (!c) goto done;
        cJSON_AddStringToObject(c, "name", g->cloud.name);
        add_served(c, &g->cloud);
        cJSON_AddNumberToObject(c, "cost_usd", g->cloud.cost);
    } else {
        cJSON_AddNullToObject(root, "cloud");
    }
    cJSON *o = cJSON_AddObjectToObject(root, "outcomes");
    if (!o) goto done;
    for (int i = 0; i <= GW_CANCELLED; i++)
        cJSON_AddNumberToObject(o, gw_outcome_name((gw_outcome_t)i), (double)g->outcomes[i]);
    out = cJSON_PrintUnformatted(root);
done:
    cJSON_Delete(root);
    return out;
}
