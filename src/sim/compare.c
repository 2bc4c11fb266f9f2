/* sim/: comparisons — each scenario (a workload through a strategy) run over a range of seeds and
 * summarized by the mean and 95 % confidence interval of its totals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgelm/sim.h"

static const char *const metric_name[ELM_SIM_M_COUNT] = {
    "processed",  "redirected", "rejected",    "tok_redirected",
    "cloud_cost", "util_mean",  "util_spread", "energy_j"};

const char *elm_sim_metric_name(elm_sim_metric_t m)
{
    return (unsigned)m < ELM_SIM_M_COUNT ? metric_name[m] : "?";
}

double elm_sim_metric(const elm_sim_result_t *r, elm_sim_metric_t m)
{
    switch (m) {
    case ELM_SIM_M_PROCESSED: return (double)r->total.processed;
    case ELM_SIM_M_REDIRECTED: return (double)r->total.redirected;
    case ELM_SIM_M_REJECTED: return (double)r->total.rejected;
    case ELM_SIM_M_TOK_REDIRECTED: return (double)r->total.tok_redirected;
    case ELM_SIM_M_COST: return r->total.cloud_cost;
    case ELM_SIM_M_UTIL: return r->util_mean;
    case ELM_SIM_M_SPREAD: return r->util_spread;
    default: return r->energy_j;
    }
}

uint32_t elm_sim_scenarios_paper(elm_sim_scenario_t *out)
{
    static const struct {
        elm_sim_workload_t w;
        const char *s;
    } paper[] = {{ELM_SIM_STEADY, "random"},
                 {ELM_SIM_STEADY, "weighted"},
                 {ELM_SIM_BURSTY, "random"},
                 {ELM_SIM_BURSTY, "load-aware"}};
    for (uint32_t i = 0; i < 4; i++)
        out[i] = (elm_sim_scenario_t){paper[i].w, elm_route_strategy_find(paper[i].s)};
    return 4;
}

uint32_t elm_sim_scenarios_all(elm_sim_scenario_t *out, uint32_t cap)
{
    uint32_t n = 0;
    for (int w = 0; w < 2; w++)
        for (uint32_t k = 0; k < elm_route_strategy_count() && n < cap; k++)
            out[n++] = (elm_sim_scenario_t){(elm_sim_workload_t)w, elm_route_strategy_at(k)};
    return n;
}

/* One run of scenario sc with seed: the synthetic workload, or the sweep's log replayed. */
static int run_one(const elm_cluster_config_t *c, elm_sim_scenario_t sc, const elm_sim_sweep_t *sw,
                   uint64_t seed, elm_sim_result_t *res, elm_diag_t *d)
{
    if (sc.workload == ELM_SIM_REPLAY) {
        if (!sw->log) {
            memset(res, 0, sizeof *res);
            return elm_diag(d, ELM_EINVAL, "simulation: a replay scenario needs the sweep's log");
        }
        return elm_sim_replay(c, sc.strategy, sw->log, sw->step_ms, seed, res, d);
    }
    elm_sim_params_t p;
    elm_sim_params_default(&p, sc.workload);
    p.n_users = sw->n_users;
    p.duration_ms = sw->duration_ms;
    p.step_ms = sw->step_ms;
    p.prompt_tokens = sw->prompt_tokens;
    p.seed = seed;
    return elm_sim_run(c, sc.strategy, &p, res, d);
}

/* Run one scenario over the seeds into s (whose arrays are allocated here). */
static int run_scenario(const elm_cluster_config_t *c, const elm_sim_sweep_t *sw,
                        elm_sim_summary_t *s, elm_diag_t *d)
{
    uint32_t ns = sw->n_seeds;
    snprintf(s->label, sizeof s->label, "%s+%s", elm_sim_workload_name(s->sc.workload),
             s->sc.strategy->name);
    s->m = calloc((size_t)ns * ELM_SIM_M_COUNT, sizeof *s->m);
    if (sw->keep_runs) s->runs = calloc(ns, sizeof *s->runs);
    if (!s->m || (sw->keep_runs && !s->runs))
        return elm_diag(d, ELM_ENOMEM, "simulation: out of memory for %u seeds", ns);
    for (uint32_t k = 0; k < ns; k++) {
        elm_sim_result_t res;
        int rc = run_one(c, s->sc, sw, sw->seed + k, &res, d);
        if (rc) return rc;
        for (int m = 0; m < ELM_SIM_M_COUNT; m++)
            s->m[(size_t)m * ns + k] = elm_sim_metric(&res, (elm_sim_metric_t)m);
        for (uint32_t i = 0; i < res.n_devices; i++) {
            s->dev_util[i] += res.dev_util[i] / ns;
            s->dev_served[i] += (double)res.dev_served[i] / ns;
        }
        if (s->runs)
            s->runs[k] = res; /* the summary owns its steps now */
        else
            elm_sim_result_free(&res);
    }
    for (int m = 0; m < ELM_SIM_M_COUNT; m++)
        elm_stats_ci95(s->m + (size_t)m * ns, ns, &s->mean[m], &s->ci95[m]);
    return 0;
}

int elm_sim_compare(const elm_cluster_config_t *c, const elm_sim_scenario_t *sc, uint32_t n,
                    const elm_sim_sweep_t *sw, elm_sim_on_scenario_fn on_scenario, void *user,
                    elm_sim_compare_t *out, elm_diag_t *d)
{
    int rc;
    memset(out, 0, sizeof *out);
    if (!sw->n_seeds) return elm_diag(d, ELM_EINVAL, "simulation: at least one seed is needed");
    for (uint32_t i = 0; i < n; i++)
        if (!sc[i].strategy)
            return elm_diag(d, ELM_EINVAL, "simulation: scenario %u has no strategy", i);
    out->sweep = *sw;
    out->n_devices = c->n_devices;
    for (uint32_t i = 0; i < c->n_devices; i++)
        snprintf(out->dev_name[i], sizeof out->dev_name[i], "%s", c->devices[i].name);
    out->sc = calloc(n ? n : 1, sizeof *out->sc);
    if (!out->sc) return elm_diag(d, ELM_ENOMEM, "simulation: out of memory for %u scenarios", n);
    out->n_scenarios = n;
    for (uint32_t i = 0; i < n; i++) {
        out->sc[i].sc = sc[i];
        if ((rc = run_scenario(c, sw, &out->sc[i], d))) goto fail;
        if (on_scenario) on_scenario(user, &out->sc[i], i);
    }
    return 0;
fail:
    elm_sim_compare_free(out);
    return rc;
}

void elm_sim_compare_free(elm_sim_compare_t *x)
{
    if (!x) return;
    for (uint32_t i = 0; x->sc && i < x->n_scenarios; i++) {
        for (uint32_t k = 0; x->sc[i].runs && k < x->sweep.n_seeds; k++)
            elm_sim_result_free(&x->sc[i].runs[k]);
        free(x->sc[i].runs);
        free(x->sc[i].m);
    }
    free(x->sc);
    memset(x, 0, sizeof *x);
}
