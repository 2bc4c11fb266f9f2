/* libFuzzer harness for the cluster config parser: parse arbitrary bytes; on success the config
 * must satisfy every promise the parser makes (and build a router); on failure the outputs must be
 * the defaults and a message. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "edgelm/route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
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
    /* Keep the router small: the log is sized by max_requests or the window. */
    for (uint32_t i = 0; i < c.n_devices; i++)
        if (c.devices[i].window_tokens > 4096 && !c.devices[i].max_requests)
            c.devices[i].max_requests = 64;
    elm_router_t *r = NULL;
    if (elm_router_create(&c, NULL, 1, &r, &d)) __builtin_trap();
    elm_route_req_t req = {10, 100};
    for (int64_t t = 0; t < 8; t++) {
        elm_route_decision_t dec = elm_router_decide(r, t * 1000, &req);
        if (dec.kind != ELM_ROUTE_TO_REJECT) elm_router_complete(r, t * 1000 + 500, &dec, 10, 50);
    }
    elm_router_free(r);
    return 0;
}
