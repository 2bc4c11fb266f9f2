/* gateway/: the gateway's life cycle and its small endpoints — set-up from the cluster config
 * (targets, router, metrics, health checks, access log), the server backend that hands
 * generation requests to forward.c and answers /v1/models, /health, /metrics and /v1/cluster. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "gateway_internal.h"

void elm_gateway_params_default(elm_gateway_params_t *p)
{
    memset(p, 0, sizeof *p);
    p->config_name = "cluster.json";
    p->host = "127.0.0.1";
    p->port = 8000;
    p->max_clients = 4096;
    p->max_body = 1u << 20;
    p->stop_timeout_s = 10;
    p->seed = 1;
}

int64_t gw_now_ms(void)
{
    return (int64_t)(elm_time_ns() / 1000000);
}

void gw_log(elm_gateway_t *g, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (g->p.log) g->p.log(g->p.log_user, line);
    else elm_log(ELM_LOG_INFO, "%s", line);
}

/* ---- the small endpoints ---- */

static void reply_json(elm_server_req_t *req, int status, char *body)
{
    if (!body) {
        elm_server_reply_error(req, 500, "server_error", NULL, NULL, "out of memory");
        return;
    }
    elm_server_reply(req, status, "application/json", body, strlen(body));
    free(body);
}

static void handle_health(elm_gateway_t *g, elm_server_req_t *req)
{
    uint32_t healthy = 0;
    for (uint32_t i = 0; i < g->cfg.n_devices; i++) healthy += g->dev[i].breaker == GW_CLOSED;
    bool ok = healthy > 0 || g->cfg.cloud.enabled;
    char body[160];
    snprintf(body, sizeof body, "{\"status\":\"%s\",\"devices_healthy\":%u,\"devices\":%u,"
                                "\"cloud\":%s}",
             ok ? "ok" : "unavailable", healthy, g->cfg.n_devices,
             g->cfg.cloud.enabled ? "true" : "false");
    elm_server_reply(req, ok ? 200 : 503, "application/json", body, strlen(body));
}

/* The client's key from "Authorization: Bearer KEY": its index in g->keys, or -1. */
static int find_key(elm_gateway_t *g, elm_server_req_t *req)
{
    const char *h = elm_server_req_header(req, "Authorization");
    if (!h) return -1;
    while (*h == ' ') h++;
    if (strncasecmp(h, "Bearer ", 7) != 0) return -1;
    h += 7;
    while (*h == ' ') h++;
    char key[ELM_ROUTE_KEY_MAX];
    size_t n = strcspn(h, " \t");
    if (n == 0 || n >= sizeof key) return -1;
    memcpy(key, h, n);
    key[n] = '\0';
    const elm_route_key_t *k = elm_route_keys_find(&g->keys, key);
    return k ? (int)(k - g->keys.keys) : -1;
}

/* /v1/ paths need a key when keys are configured; the others are open, as in serve. */
static void handle(void *user, elm_server_req_t *req)
{
    elm_gateway_t *g = user;
    elm_server_endpoint_t ep = elm_server_req_endpoint(req);
    int key = -1;
    if (g->keys.n && ep != ELM_SERVER_EP_HEALTH && ep != ELM_SERVER_EP_METRICS &&
        (key = find_key(g, req)) < 0) {
        elm_server_req_set_header(req, "WWW-Authenticate", "Bearer");
        elm_server_reply_error(req, 401, "authentication_error", NULL, "invalid_api_key",
                               "missing or invalid API key: send \"Authorization: Bearer KEY\" "
                               "with a key of the gateway's keys file");
        return;
    }
    switch (ep) {
    case ELM_SERVER_EP_CHAT:
    case ELM_SERVER_EP_COMPLETIONS: gw_forward(g, req, key); return;
    case ELM_SERVER_EP_MODELS:
        reply_json(req, 200, elm_serve_models_json(g->cfg.gateway.model_id, (int64_t)time(NULL),
                                                   "edgelm-gateway"));
        return;
    case ELM_SERVER_EP_HEALTH: handle_health(g, req); return;
    case ELM_SERVER_EP_METRICS: {
        gw_metrics_refresh(g, gw_now_ms());
        char *text = elm_metrics_render(g->metrics);
        if (!text) {
            elm_server_reply_error(req, 500, "server_error", NULL, NULL, "out of memory");
            return;
        }
        elm_server_reply(req, 200, "text/plain; version=0.0.4", text, strlen(text));
        free(text);
        return;
    }
    case ELM_SERVER_EP_CLUSTER: reply_json(req, 200, gw_cluster_json(g, gw_now_ms())); return;
    default: elm_server_reply_error(req, 404, "not_found_error", NULL, "not_found", "no such endpoint");
    }
}

static void cancel(void *user, elm_server_req_t *req)
{
    gw_forward_cancel(user, req);
}

/* ---- life cycle ---- */

static int set_up_targets(elm_gateway_t *g, elm_diag_t *d)
{
    const elm_cluster_config_t *c = &g->cfg;
    char key[48];
    for (uint32_t i = 0; i < c->n_devices; i++) {
        const elm_device_spec_t *s = &c->devices[i];
        snprintf(key, sizeof key, "devices[%u]", i);
        int rc = gw_target_init(&g->dev[i], s->name, s->url, s->model, s->api_key_env, key,
                                g->config_name, d);
        if (rc) return rc;
        g->dev[i].g = g;
        g->dev[i].device = (int)i;
        g->dev[i].breaker = s->healthy ? GW_CLOSED : GW_OPEN;
    }
    if (c->cloud.enabled) {
        int rc = gw_target_init(&g->cloud, c->cloud.name, c->cloud.url, c->cloud.model,
                                c->cloud.api_key_env, "cloud", g->config_name, d);
        if (rc) return rc;
        g->cloud.g = g;
        g->cloud.device = -1;
    }
    return 0;
}

/* The keys file, and a limiter per key that has limits (its log: one entry per token of the
 * window, at most ELM_ROUTE_MAX_LOG, so the log never refuses before the tokens do). */
static int load_keys(elm_gateway_t *g, elm_diag_t *d)
{
    const char *path = g->cfg.gateway.keys_file;
    char *text = NULL;
    size_t len;
    int rc = elm_file_read(path, 16u << 20, &text, &len, d);
    if (!rc) rc = elm_route_keys_parse(text, len, path, &g->keys, d);
    free(text);
    if (rc) return rc;
    if (!(g->key_lim = calloc(g->keys.n, sizeof *g->key_lim)))
        return elm_diag(d, ELM_ENOMEM, "out of memory");
    for (uint32_t i = 0; i < g->keys.n; i++) {
        const elm_route_key_t *k = &g->keys.keys[i];
        if (!k->window_tokens && !k->max_parallel) continue;
        uint64_t w = k->window_tokens ? k->window_tokens : UINT64_MAX / 4;
        rc = elm_limiter_init(&g->key_lim[i], w, g->cfg.window_ms,
                              k->max_parallel ? k->max_parallel : UINT32_MAX,
                              w < ELM_ROUTE_MAX_LOG ? (uint32_t)w : ELM_ROUTE_MAX_LOG);
        if (rc) return elm_diag(d, rc, "%s: keys[%u]: cannot set up its limiter", path, i);
    }
    return 0;
}

int elm_gateway_create(const elm_gateway_params_t *p, elm_gateway_t **out, elm_diag_t *d)
{
    int rc = ELM_ENOMEM;
    *out = NULL;
    elm_gateway_t *g = calloc(1, sizeof *g);
    if (!g) return elm_diag(d, ELM_ENOMEM, "gateway: out of memory");
    g->cfg = *p->cluster;
    g->p = *p;
    g->config_name = strdup(p->config_name ? p->config_name : "cluster.json");
    g->host = strdup(p->host ? p->host : "127.0.0.1");
    if (!g->config_name || !g->host) goto oom;
    g->p.config_name = g->config_name;
    g->p.host = g->host;
    g->p.access_log = NULL;
    if ((rc = set_up_targets(g, d))) goto fail;
    if (g->cfg.gateway.vocab[0] && (rc = elm_tokenizer_load(g->cfg.gateway.vocab, &g->tok, d)))
        goto fail;
    if (g->cfg.gateway.keys_file[0] && (rc = load_keys(g, d))) goto fail;
    if ((rc = elm_router_create(&g->cfg, NULL, p->seed, &g->router, d))) goto fail;
    for (uint32_t i = 0; i < g->cfg.n_devices; i++)
        if (g->dev[i].breaker != GW_CLOSED) elm_router_set_health(g->router, i, false);
    if (p->access_log && !(g->access = fopen(p->access_log, "a"))) {
        rc = elm_diag(d, ELM_EIO, "%s: cannot open the access log for appending (%s)",
                      p->access_log, strerror(errno));
        goto fail;
    }
    if ((rc = gw_metrics_create(g))) goto oom;

    elm_server_params_t sp;
    elm_server_params_default(&sp);
    sp.host = g->host;
    sp.port = p->port;
    sp.max_body = p->max_body;
    sp.slots = p->max_clients;
    sp.max_queue = 0;
    sp.timeout_s = p->stop_timeout_s;
    sp.endpoints = ELM_SERVER_EPS_GATEWAY;
    sp.log = p->log;
    sp.log_user = p->log_user;
    sp.log_json = true;
    elm_server_backend_t be = {g, handle, cancel};
    if ((rc = elm_server_create(&sp, &be, &g->srv, d))) goto fail;
    g->base = elm_server_event_base(g->srv);
    if ((rc = gw_health_start(g))) goto oom;
    snprintf(g->lease_prefix, sizeof g->lease_prefix, "%08x%08x", (unsigned)getpid(),
             (unsigned)(elm_time_ns() & 0xffffffffu));
    if ((rc = gw_limits_start(g, d))) goto fail;
    *out = g;
    return 0;
oom:
    rc = elm_diag(d, ELM_ENOMEM, "gateway: out of memory");
fail:
    elm_gateway_free(g);
    return rc;
}

int elm_gateway_port(const elm_gateway_t *g)
{
    return elm_server_port(g->srv);
}

int elm_gateway_run(elm_gateway_t *g)
{
    return elm_server_run(g->srv);
}

void elm_gateway_stop(elm_gateway_t *g)
{
    elm_server_stop(g->srv);
}

void elm_gateway_free(elm_gateway_t *g)
{
    if (!g) return;
    g->stopping = true;
    if (g->base) gw_health_stop(g);
    gw_limits_stop(g);
    gw_exchanges_free(g);
    for (uint32_t i = 0; i < g->cfg.n_devices; i++) {
        gw_target_close(&g->dev[i]);
        free(g->dev[i].auth);
    }
    gw_target_close(&g->cloud);
    free(g->cloud.auth);
    elm_server_free(g->srv);
    elm_router_free(g->router);
    elm_metrics_free(g->metrics);
    elm_tokenizer_free(g->tok);
    for (uint32_t i = 0; g->key_lim && i < g->keys.n; i++) elm_limiter_free(&g->key_lim[i]);
    free(g->key_lim);
    elm_route_keys_free(&g->keys);
    if (g->access) fclose(g->access);
    free(g->config_name);
    free(g->host);
    free(g);
}
