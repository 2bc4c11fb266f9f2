/* edgelm sim: the cluster simulator behind `edgelm simulate` — synthetic users (steady or bursty)
 * in discrete simulated time drive the routing policy of edgelm/route.h over modeled devices
 * (a request holds a slot for its output tokens / tokens_per_s), with per-step and total
 * statistics, comparisons of scenarios over seeds (means and confidence intervals), and their
 * CSV, JSON and SVG forms. */
#ifndef EDGELM_SIM_H
#define EDGELM_SIM_H

#include <stdio.h>

#include "edgelm/route.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { ELM_SIM_STEADY = 0, ELM_SIM_BURSTY = 1 } elm_sim_workload_t;

/* "steady" / "bursty". */
const char *elm_sim_workload_name(elm_sim_workload_t w);
/* The workload named name ("steady" or "bursty") into *out. Returns 0, or ELM_EINVAL (*out
 * untouched) for any other name. */
int elm_sim_workload_parse(const char *name, elm_sim_workload_t *out);

typedef struct {
    elm_sim_workload_t workload;
    uint32_t n_users;    /* 30 */
    int64_t duration_ms; /* 60 min */
    int64_t step_ms;     /* 1 min; requests arrive at uniform times inside their step */
    double p_active;     /* chance a user sends a request in a step (scaled to 1-min steps): 0.3 */
    double p_burst;      /* the same during a burst: 0.9 */
    int64_t burst_every_ms; /* 10 min */
    int64_t burst_len_ms;   /* 1 min */
    uint32_t prompt_tokens; /* input tokens per request: 0 (the demand is output tokens) */
    uint64_t seed;
} elm_sim_params_t;

/* The defaults above for workload w. */
void elm_sim_params_default(elm_sim_params_t *p, elm_sim_workload_t w);

/* Token demand of one request: {50, 100, 200, 300, 500} weighted {35, 25, 20, 12, 8} %. */
uint32_t elm_sim_demand(elm_rng_t *rng);

typedef struct {
    uint64_t requests, processed, redirected, rejected;
    uint64_t tok_processed, tok_redirected, tok_rejected; /* demand (in + out) by decision */
    double cloud_cost;                                    /* $ in this step */
} elm_sim_step_t;

typedef struct {
    uint32_t n_steps, n_devices;
    elm_sim_step_t *steps; /* (n_steps) */
    double *util;          /* (n_steps, n_devices): busy slot time / (step * max_parallel) */
    elm_sim_step_t total;
    double energy_j;                        /* edge energy */
    double dev_util[ELM_ROUTE_MAX_DEVICES]; /* over the whole run */
    double util_mean, util_spread;          /* mean and population std dev across devices */
    char dev_name[ELM_ROUTE_MAX_DEVICES][ELM_ROUTE_NAME_MAX];
} elm_sim_result_t;

/* Simulate the cluster c under strategy s with workload p. Allocates the per-step arrays of *out
 * (free with elm_sim_result_free). Returns 0, ELM_EINVAL (bad parameters or cluster; the diag
 * says which), ELM_ENOMEM. */
int elm_sim_run(const elm_cluster_config_t *c, const elm_route_strategy_t *s,
                const elm_sim_params_t *p, elm_sim_result_t *out, elm_diag_t *d);
/* Free what elm_sim_run allocated; accepts NULL and a zeroed result. */
void elm_sim_result_free(elm_sim_result_t *r);

/* The built-in cluster (examples/cluster.json: a Raspberry Pi 5, a laptop CPU and a Jetson Orin
 * Nano behind a load-aware router with a GPT-4o-mini cloud) into *out. Returns 0 (the diag is
 * only used should the built-in text ever fail to parse). */
int elm_sim_cluster_builtin(elm_cluster_config_t *out, elm_diag_t *d);

/* ---- comparisons: scenarios over seeds ---- */

/* The totals of a run that a comparison summarizes over seeds, in the order of the summary. */
typedef enum {
    ELM_SIM_M_PROCESSED,
    ELM_SIM_M_REDIRECTED,
    ELM_SIM_M_REJECTED,
    ELM_SIM_M_TOK_REDIRECTED,
    ELM_SIM_M_COST,
    ELM_SIM_M_UTIL,
    ELM_SIM_M_SPREAD,
    ELM_SIM_M_ENERGY,
    ELM_SIM_M_COUNT
} elm_sim_metric_t;

/* The metric's key in the JSON summary and the charts: "processed", "redirected", "rejected",
 * "tok_redirected", "cloud_cost", "util_mean", "util_spread", "energy_j". */
const char *elm_sim_metric_name(elm_sim_metric_t m);
/* The metric m of the finished run r. */
double elm_sim_metric(const elm_sim_result_t *r, elm_sim_metric_t m);

/* One line of a comparison: a workload driven through a strategy. */
typedef struct {
    elm_sim_workload_t workload;
    const elm_route_strategy_t *strategy;
} elm_sim_scenario_t;

/* Edge-First's four scenarios into out[0..4): steady+random, steady+weighted, bursty+random,
 * bursty+load-aware. Returns 4. */
uint32_t elm_sim_scenarios_paper(elm_sim_scenario_t *out);
/* Every strategy on every workload (steady first) into out[0..cap). Returns how many. */
uint32_t elm_sim_scenarios_all(elm_sim_scenario_t *out, uint32_t cap);

/* What every scenario of a comparison shares: the workload's size and the seeds. The rest of each
 * run's parameters are elm_sim_params_default() for its workload. */
typedef struct {
    uint32_t n_users;
    int64_t duration_ms, step_ms;
    uint32_t prompt_tokens;
    uint64_t seed;    /* the first seed; run k uses seed + k */
    uint32_t n_seeds; /* >= 1 */
    bool keep_runs;   /* keep every run's steps (elm_sim_write_csv and elm_sim_json need them) */
} elm_sim_sweep_t;

/* One scenario over the seeds. */
typedef struct {
    elm_sim_scenario_t sc;
    char label[96];                         /* "steady+random" */
    double *m;                              /* (ELM_SIM_M_COUNT, n_seeds): each run's metrics */
    double mean[ELM_SIM_M_COUNT];           /* over the seeds */
    double ci95[ELM_SIM_M_COUNT];           /* half-width, elm_stats_ci95; 0 for one seed */
    double dev_util[ELM_ROUTE_MAX_DEVICES]; /* each device's utilization, mean over the seeds */
    elm_sim_result_t *runs;                 /* (n_seeds) with keep_runs, else NULL */
} elm_sim_summary_t;

typedef struct {
    elm_sim_sweep_t sweep;
    uint32_t n_scenarios;
    elm_sim_summary_t *sc; /* (n_scenarios) */
    uint32_t n_devices;
    char dev_name[ELM_ROUTE_MAX_DEVICES][ELM_ROUTE_NAME_MAX];
} elm_sim_compare_t;

/* Called as each scenario's summary is complete (index i of n), e.g. to print its row. */
typedef void (*elm_sim_on_scenario_fn)(void *user, const elm_sim_summary_t *s, uint32_t i);

/* Run the n scenarios sc of cluster c over sw's seeds and summarize each (mean and 95 % CI of
 * every metric, mean device utilization), calling on_scenario (may be NULL) after each. *out
 * owns its arrays (free with elm_sim_compare_free); on failure it is zeroed. Returns 0,
 * ELM_EINVAL (bad sweep or cluster; the diag says which), ELM_ENOMEM. */
int elm_sim_compare(const elm_cluster_config_t *c, const elm_sim_scenario_t *sc, uint32_t n,
                    const elm_sim_sweep_t *sw, elm_sim_on_scenario_fn on_scenario, void *user,
                    elm_sim_compare_t *out, elm_diag_t *d);
/* Free what elm_sim_compare allocated; accepts NULL and a zeroed comparison. */
void elm_sim_compare_free(elm_sim_compare_t *x);

/* ---- writers ---- */

/* Every run of x (kept with keep_runs) as CSV on f: a header, then per run one row per step and a
 * "total" row (workload, strategy, seed, step, the counts, cloud_cost, util_<device>...).
 * Returns 0, ELM_EINVAL (x kept no runs) or ELM_EIO (f reports a write error). */
int elm_sim_write_csv(FILE *f, const elm_sim_compare_t *x);

/* x as a JSON document: the sweep, and per scenario its runs (totals and steps) and the summary
 * (mean and ci95 of every metric). Needs keep_runs. Returns a malloc'd string the caller frees,
 * or NULL when out of memory or x kept no runs. */
char *elm_sim_json(const elm_sim_compare_t *x);

/* The charts of a comparison: outcomes, redirected tokens, cloud cost, per-device utilization. */
#define ELM_SIM_N_CHARTS 4
/* Chart i's file name: "outcomes.svg", "redirected_tokens.svg", "cloud_cost.svg",
 * "utilization.svg"; NULL past the last. */
const char *elm_sim_chart_file(uint32_t i);
/* Chart i of x as an SVG document (means with 95 % CI bars per scenario). Returns a malloc'd
 * string the caller frees, or NULL when out of memory or i is past the last chart. */
char *elm_sim_chart_svg(const elm_sim_compare_t *x, uint32_t i);

/* A grouped bar chart as a standalone SVG document: val and err (NULL: no error bars) are
 * (n_groups, n_series). Returns a malloc'd string the caller frees, or NULL when out of memory. */
char *elm_sim_svg_bars(const char *title, const char *ylabel, uint32_t n_groups,
                       const char *const *groups, uint32_t n_series, const char *const *series,
                       const double *val, const double *err);

#ifdef __cplusplus
}
#endif
#endif
