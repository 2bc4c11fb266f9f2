/* Routing-policy benchmark: decisions per second of elm_router_decide + elm_router_complete on one
 * core, for every strategy, over a 3-device cluster under sustained overload (windows full, so
 * every path — admit, overflow, reconcile — is taken). Reports each strategy's rate and its ratio
 * to "random" measured in the same run. */
#include <stdio.h>
#include <stdlib.h>

#include "edgelm/route.h"

static double run(const elm_cluster_config_t *c, const elm_route_strategy_t *s, long n)
{
    elm_router_t *r;
    elm_diag_t d;
    if (elm_router_create(c, s, 1, &r, &d)) {
        fprintf(stderr, "route_bench: %s\n", d.msg);
        exit(1);
    }
    /* Completions lag decisions by a fixed number of requests: a ring of open decisions. */
    enum { LAG = 4 };
    elm_route_decision_t open[LAG];
    int n_open = 0;
    elm_rng_t rng;
    elm_rng_seed(&rng, 7);
    uint64_t t0 = elm_time_ns();
    for (long i = 0; i < n; i++) {
        int64_t now = i; /* 1000 requests per simulated second */
        elm_route_req_t req = {20, 50 + elm_rng_below(&rng, 450)};
        elm_route_decision_t dec = elm_router_decide(r, now, &req);
        if (dec.kind == ELM_ROUTE_TO_REJECT) continue;
        if (n_open == LAG) {
            elm_router_complete(r, now, &open[i % LAG], 20, 100);
            open[i % LAG] = dec;
        } else {
            open[n_open++] = dec;
        }
    }
    double secs = (double)(elm_time_ns() - t0) / 1e9;
    elm_router_free(r);
    return (double)n / secs;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 5000000;
    elm_cluster_config_t c;
    elm_cluster_config_default(&c);
    c.n_devices = 3;
    c.devices[0] = (elm_device_spec_t){"raspberry-pi-5", 8, 480, 1, 0, 8, 0, true};
    c.devices[1] = (elm_device_spec_t){"laptop-cpu", 15, 900, 1, 0, 35, 0, true};
    c.devices[2] = (elm_device_spec_t){"jetson-orin-nano", 25, 3000, 2, 0, 15, 0, true};
    double base = 0;
    printf("%-28s %14s %10s\n", "strategy", "decisions/s", "vs random");
    for (uint32_t k = 0; k < elm_route_strategy_count(); k++) {
        const elm_route_strategy_t *s = elm_route_strategy_at(k);
        double rate = run(&c, s, n);
        if (k == 0) base = rate;
        printf("%-28s %14.0f %9.2fx\n", s->name, rate, rate / base);
    }
    return 0;
}
