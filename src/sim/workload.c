/* sim/: the synthetic workload of Edge-First §V — users who each send at most one request per step,
 * steadily or with a burst every ten minutes, and a token demand weighted toward small requests —
 * and the built-in cluster it runs on by default. */
#include <math.h>
#include <string.h>

#include "edgelm/sim.h"

const char *elm_sim_workload_name(elm_sim_workload_t w)
{
    return w == ELM_SIM_REPLAY ? "replay" : w == ELM_SIM_BURSTY ? "bursty" : "steady";
}

int elm_sim_workload_parse(const char *name, elm_sim_workload_t *out)
{
    if (!strcmp(name, "steady"))
        *out = ELM_SIM_STEADY;
    else if (!strcmp(name, "bursty"))
        *out = ELM_SIM_BURSTY;
    else
        return ELM_EINVAL;
    return 0;
}

/* Keep in step with examples/cluster.json (tests/cli_simulate.sh compares the two). */
static const char builtin_cluster[] =
    "{\"window_s\": 60, \"strategy\": \"load-aware\","
    " \"cloud\": {\"enabled\": true, \"name\": \"gpt-4o-mini\", \"input_per_mtok\": 0.15,"
    " \"output_per_mtok\": 0.60}, \"devices\": ["
    " {\"name\": \"raspberry-pi-5\", \"tokens_per_s\": 8, \"max_parallel\": 1, \"power_w\": 8.0},"
    " {\"name\": \"laptop-cpu\", \"tokens_per_s\": 15, \"max_parallel\": 1, \"power_w\": 35.0},"
    " {\"name\": \"jetson-orin-nano\", \"tokens_per_s\": 25, \"max_parallel\": 2, \"power_w\": "
    "15.0}]}";

int elm_sim_cluster_builtin(elm_cluster_config_t *out, elm_diag_t *d)
{
    return elm_cluster_config_parse(builtin_cluster, sizeof builtin_cluster - 1, "built-in cluster",
                                    out, d);
}

void elm_sim_params_default(elm_sim_params_t *p, elm_sim_workload_t w)
{
    p->workload = w;
    p->n_users = 30;
    p->duration_ms = 60 * 60000;
    p->step_ms = 60000;
    p->p_active = w == ELM_SIM_BURSTY ? 0.15 : 0.3;
    p->p_burst = 0.9;
    p->burst_every_ms = 10 * 60000;
    p->burst_len_ms = 60000;
    p->prompt_tokens = 0;
    p->seed = 1;
}

uint32_t elm_sim_demand(elm_rng_t *rng)
{
    static const uint32_t tokens[] = {50, 100, 200, 300, 500};
    static const uint32_t pct[] = {35, 25, 20, 12, 8}; /* cumulative 35, 60, 80, 92, 100 */
    uint32_t x = elm_rng_below(rng, 100);
    for (int i = 0; i < 5; i++) {
        if (x < pct[i]) return tokens[i];
        x -= pct[i];
    }
    return tokens[4];
}
