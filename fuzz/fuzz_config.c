/* libFuzzer harness for the cluster config parser and the client keys file parser: parse arbitrary
 * bytes as both; on success the result must satisfy every promise the parser makes (the config
 * builds a router, every key is found by its own bytes); on failure the outputs must be the
 * defaults (a zeroed keys list) and a message. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "edgelm/route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_gateway(const elm_cluster_config_t *c)
{
    const elm_gateway_spec_t *g = &c->gateway;
    if (!(g->connect_timeout_s > 0) || !(g->first_byte_timeout_s > 0) || !(g->idle_timeout_s > 0) ||
        !(g->total_timeout_s > 0) || g->retries > 16 || !(g->health_interval_s >= 0) ||
        g->health_path[0] != '/' || !g->breaker_failures || g->breaker_failures > 1000 ||
        !(g->breaker_cooldown_s > 0) || !g->default_max_tokens ||
        g->default_max_tokens > 1000000 || !g->gateways || g->gateways > 64 || !g->model_id[0])
        __builtin_trap();
    elm_route_redis_url_t ru;
    if (g->redis[0] && elm_route_redis_url_parse(g->redis, &ru)) __builtin_trap();
    if (!strncmp(c->cloud.url, "https://", 8)) __builtin_trap();
    for (uint32_t i = 0; i < c->n_devices; i++)
        if (!strncmp(c->devices[i].url, "https://", 8)) __builtin_trap();
}

static void fuzz_keys(const uint8_t *data, size_t size)
{
    elm_route_keys_t k;
    elm_diag_t d;
    elm_diag_clear(&d);
    int rc = elm_route_keys_parse((const char *)data, size, "keys.json", &k, &d);
    if (rc) {
        if ((rc != ELM_EINVAL && rc != ELM_ENOMEM) || !d.msg[0] || k.n || k.keys) __builtin_trap();
        return;
    }
    if (!k.n || k.n > ELM_ROUTE_MAX_KEYS || !k.keys) __builtin_trap();
    for (uint32_t i = 0; i < k.n; i++) {
        size_t n = strlen(k.keys[i].key);
        if (n < 8 || n >= ELM_ROUTE_KEY_MAX || !k.keys[i].name[0]) __builtin_trap();
    }
    /* A find walks every key: look up the first few and the last, not all (n^2 on big inputs). */
    for (uint32_t i = 0; i < k.n; i = i < 8 ? i + 1 : (i < k.n - 1 ? k.n - 1 : k.n))
        if (elm_route_keys_find(&k, k.keys[i].key) != &k.keys[i]) __builtin_trap();
    elm_route_keys_free(&k);
    if (k.n || k.keys) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_keys(data, size);
    elm_cluster_config_t c;
    elm_diag_t d;
    elm_diag_clear(&d);
    int rc = elm_cluster_config_parse((const char *)data, size, "fuzz.json", &c, &d);
    if (rc) {
        if (rc != ELM_EINVAL || !d.msg[0] || c.n_devices != 0) __builtin_trap();
        return 0;
    }
    if (!c.n_devices || c.n_devices > ELM_ROUTE_MAX_DEVICES || c.window_ms <= 0) __builtin_trap();
    for (uint32_t i = 0; i < c.n_devices; i++) {
        const elm_device_spec_t *s = &c.devices[i];
        if (!(s->tokens_per_s > 0) || !s->window_tokens || !s->max_parallel || !s->name[0] ||
            s->max_requests > ELM_ROUTE_MAX_LOG)
            __builtin_trap();
    }
    check_gateway(&c);
    /* Keep the router small: the log is sized by max_requests or the window. */
    for (uint32_t i = 0; i < c.n_devices; i++)
        if (c.devices[i].window_tokens > 4096 && !c.devices[i].max_requests)
            c.devices[i].max_requests = 64;
    elm_router_t *r = NULL;
    if (elm_router_create(&c, NULL, 1, &r, &d)) __builtin_trap();
    elm_route_req_t req = {10, 100, 0};
    for (int64_t t = 0; t < 8; t++) {
        elm_route_decision_t dec = elm_router_decide(r, t * 1000, &req);
        if (dec.kind != ELM_ROUTE_TO_REJECT) elm_router_complete(r, t * 1000 + 500, &dec, 10, 50);
    }
    elm_router_free(r);
    return 0;
}
