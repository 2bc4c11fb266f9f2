/* libFuzzer harness for the gateway access-log parser behind `simulate --replay`: parse arbitrary
 * bytes; on success the log must keep every promise (sorted arrivals from 0, valid device indexes,
 * totals that add up) and replay through the built-in cluster accounting for every request; on
 * failure it must be zeroed with a message. */
#include <stddef.h>
#include <stdint.h>

#include "edgelm/sim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    elm_sim_log_t g;
    elm_diag_t d;
    elm_diag_clear(&d);
    int rc = elm_sim_log_parse((const char *)data, size, "fuzz.jsonl", &g, &d);
    if (rc) {
        if (g.req || g.n || g.lines || !d.msg[0] || rc != d.code) __builtin_trap();
        return 0;
    }
    if (!g.n || !g.req || g.req[0].t_ms != 0 || g.req[g.n - 1].t_ms != g.span_ms ||
        g.n + g.skipped_invalid + g.skipped_key != g.lines ||
        g.processed + g.redirected + g.rejected != g.n ||
        g.served + g.out_redirected + g.out_rejected + g.failed + g.cancelled != g.n ||
        g.n_devices > ELM_ROUTE_MAX_DEVICES)
        __builtin_trap();
    for (uint32_t i = 0; i < g.n; i++) {
        const elm_sim_replay_req_t *q = &g.req[i];
        if ((i && q->t_ms < g.req[i - 1].t_ms) || q->device >= (int32_t)g.n_devices ||
            q->device < -1 || q->tokens_per_s < 0 || (q->device < 0 && q->tokens_per_s != 0))
            __builtin_trap();
    }
    elm_cluster_config_t c;
    uint32_t n_samples[ELM_ROUTE_MAX_DEVICES];
    if (elm_sim_cluster_builtin(&c, &d) || elm_sim_log_speeds(&g, &c, n_samples)) __builtin_trap();
    for (uint32_t i = 0; i < c.n_devices; i++)
        if (!(c.devices[i].tokens_per_s > 0)) __builtin_trap();
    /* about 64 steps whatever the span, so that a long log stays quick */
    elm_sim_result_t r;
    if (elm_sim_replay(&c, NULL, &g, g.span_ms / 64 + 1, 1, &r, &d)) __builtin_trap();
    if (r.total.requests != g.n || r.total.processed + r.total.redirected + r.total.rejected != g.n)
        __builtin_trap();
    elm_sim_result_free(&r);
    elm_sim_log_free(&g);
    return 0;
}
