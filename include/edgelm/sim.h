/* edgelm sim: the cluster simulator behind `edgelm simulate` — synthetic users (steady or bursty)
 * in discrete simulated time drive the routing policy of edgelm/route.h over modeled devices
 * (a request holds a slot for its output tokens / tokens_per_s), with per-step and total
 * statistics, confidence intervals over seeds, and SVG charts. */
#ifndef EDGELM_SIM_H
#define EDGELM_SIM_H

#include "edgelm/route.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { ELM_SIM_STEADY = 0, ELM_SIM_BURSTY = 1 } elm_sim_workload_t;

/* "steady" / "bursty". */
const char *elm_sim_workload_name(elm_sim_workload_t w);

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

/* Mean and half-width of the 95 % confidence interval (Student's t) of x[0..n); half = 0 for
 * n < 2. */
void elm_sim_ci95(const double *x, uint32_t n, double *mean, double *half);

/* A grouped bar chart as a standalone SVG document: val and err (NULL: no error bars) are
 * (n_groups, n_series). Returns a malloc'd string the caller frees, or NULL when out of memory. */
char *elm_sim_svg_bars(const char *title, const char *ylabel, uint32_t n_groups,
                       const char *const *groups, uint32_t n_series, const char *const *series,
                       const double *val, const double *err);

#ifdef __cplusplus
}
#endif
#endif
