/* edgelm sim: the cluster simulator behind `edgelm simulate` — synthetic users (steady or bursty)
 * or a gateway's replayed access log in discrete simulated time drive the routing policy of
 * edgelm/route.h over modeled devices (a request holds a slot for its output tokens /
 * tokens_per_s), with per-step and total statistics, comparisons of scenarios over seeds (means
 * and confidence intervals), and their CSV, JSON and SVG forms. */
#ifndef EDGELM_SIM_H
#define EDGELM_SIM_H

#include <stdio.h>

#include "edgelm/route.h"

#ifdef __cplusplus
extern "C" {
#endif

/* REPLAY: the requests of a gateway's access log (elm_sim_log_t) instead of synthetic users. */
typedef enum { ELM_SIM_STEADY = 0, ELM_SIM_BURSTY = 1, ELM_SIM_REPLAY = 2 } elm_sim_workload_t;

/* "steady" / "bursty" / "replay". */
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
    uint64_t dev_served[ELM_ROUTE_MAX_DEVICES]; /* requests each device completed */
    double energy_j;                            /* edge energy */
    double dev_util[ELM_ROUTE_MAX_DEVICES];     /* over the whole run */
    double util_mean, util_spread;              /* mean and population std dev across devices */
    char dev_name[ELM_ROUTE_MAX_DEVICES][ELM_ROUTE_NAME_MAX];
} elm_sim_result_t;

/* Simulate the cluster c under strategy s with workload p. Allocates the per-step arrays of *out
 * (free with elm_sim_result_free). Returns 0, ELM_EINVAL (bad parameters or cluster; the diag
 * says which), ELM_ENOMEM. */
int elm_sim_run(const elm_cluster_config_t *c, const elm_route_strategy_t *s,
                const elm_sim_params_t *p, elm_sim_result_t *out, elm_diag_t *d);
/* Free what elm_sim_run or elm_sim_replay allocated; accepts NULL and a zeroed result. */
void elm_sim_result_free(elm_sim_result_t *r);

/* ---- replay of a gateway's access log ---- */

/* One request of a log as the replay drives it. */
typedef struct {
    int64_t t_ms;             /* arrival, ms after the log's first */
    uint32_t est_in, est_out; /* what the gateway reserved: estimated prompt + max_tokens */
    uint32_t in, out;         /* what it completes with: prompt_tokens (est_in when null) and
                                 completion_tokens (est_out when rejected or failed) */
    int32_t device;           /* index into the log's dev_name where it was served; -1: none */
    double tokens_per_s;      /* its observed generation speed; 0: none */
} elm_sim_replay_req_t;

/* A parsed access log: the requests that reached the router, by arrival, and what the recorded
 * run did with them. */
typedef struct {
    uint32_t n;                /* requests to replay */
    elm_sim_replay_req_t *req; /* (n), sorted by arrival (ties in log order) */
    int64_t span_ms;           /* the last arrival */
    uint64_t lines;            /* non-blank lines read */
    uint64_t skipped_invalid;  /* reason "invalid": refused before routing */
    uint64_t skipped_key;      /* key_window_full / key_concurrency_full: refused by a client
                                  key's limits before routing */
    /* the recorded run over the n requests: the gateway's final decision ... */
    uint64_t processed, redirected, rejected, tok_redirected;
    double cloud_cost; /* sum of cost_usd */
    /* ... and each request's outcome */
    uint64_t served, out_redirected, out_rejected, failed, cancelled;
    uint32_t n_devices; /* devices the log names in device decisions */
    char dev_name[ELM_ROUTE_MAX_DEVICES][ELM_ROUTE_NAME_MAX];
    uint64_t dev_served[ELM_ROUTE_MAX_DEVICES]; /* requests decided to that device */
    char strategy[ELM_ROUTE_NAME_MAX]; /* the strategy the lines name (the last); "": none */
} elm_sim_log_t;

/* Parse len bytes of a gateway's access log (`edgelm gateway --log`: one JSON object a line;
 * blank lines are ignored). Lines with reason "invalid" or a key_* reason are counted and skipped:
 * they never reached the router. fname names the log in errors, which give the line and the
 * field ("access.jsonl:17: est_out must be a non-negative integer"). On success *out owns its
 * array (free with elm_sim_log_free); on failure *out is zeroed. Returns 0, ELM_EINVAL (a bad
 * line, more than ELM_ROUTE_MAX_DEVICES device names, no request to replay), ELM_ENOMEM. */
int elm_sim_log_parse(const char *text, size_t len, const char *fname, elm_sim_log_t *out,
                      elm_diag_t *d);
/* Free what elm_sim_log_parse allocated; accepts NULL and a zeroed log; leaves *l zeroed. */
void elm_sim_log_free(elm_sim_log_t *l);

/* Replace the speed of each device of c by the median tokens_per_s of the log's requests that
 * device served (matched by name); n_samples[i] (c->n_devices of them) gets how many there were,
 * 0 where the config's speed stays. Returns 0 or ELM_ENOMEM (c untouched). */
int elm_sim_log_speeds(const elm_sim_log_t *log, elm_cluster_config_t *c, uint32_t *n_samples);

/* Replay the log's requests through cluster c under strategy s (router seed seed): each arrives
 * at its t_ms, reserves est_in + est_out, and on a device holds a slot for out / tokens_per_s,
 * then completes with in + out. Per-step statistics in steps of step_ms; the utilization over
 * the whole run is over the time up to the last completion. Allocates as elm_sim_run
 * does (free with elm_sim_result_free). Returns 0, ELM_EINVAL (bad cluster, step_ms <= 0, more
 * than 10^7 steps; the diag says which), ELM_ENOMEM. */
int elm_sim_replay(const elm_cluster_config_t *c, const elm_route_strategy_t *s,
                   const elm_sim_log_t *log, int64_t step_ms, uint64_t seed, elm_sim_result_t *out,
                   elm_diag_t *d);

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
    const elm_sim_log_t *log; /* the requests of ELM_SIM_REPLAY scenarios (which use step_ms and
                                 ignore n_users, duration_ms and prompt_tokens); NULL: none */
} elm_sim_sweep_t;

/* One scenario over the seeds. */
typedef struct {
    elm_sim_scenario_t sc;
    char label[96];                           /* "steady+random" */
    double *m;                                /* (ELM_SIM_M_COUNT, n_seeds): each run's metrics */
    double mean[ELM_SIM_M_COUNT];             /* over the seeds */
    double ci95[ELM_SIM_M_COUNT];             /* half-width, elm_stats_ci95; 0 for one seed */
    double dev_util[ELM_ROUTE_MAX_DEVICES];   /* each device's utilization, mean over the seeds */
    double dev_served[ELM_ROUTE_MAX_DEVICES]; /* requests each device served, mean over seeds */
    elm_sim_result_t *runs;                   /* (n_seeds) with keep_runs, else NULL */
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

/* x as a JSON document: the sweep, the device names ("devices", in the order of every run's
 * "util" array), and per scenario its runs (totals and steps) and the summary (mean and ci95 of
 * every metric). Needs keep_runs. Returns a malloc'd string the caller frees,
 * or NULL when out of memory or x kept no runs. */
char *elm_sim_json(const elm_sim_compare_t *x);

/* The charts of a comparison: outcomes, redirected tokens, cloud cost, per-device utilization. */
#define ELM_SIM_N_CHARTS 4
/* Chart i's file name: "outcomes.svg", "redirected_tokens.svg", "cloud_cost.svg",
 * "utilization.svg"; NULL past the last. */
const char *elm_sim_chart_file(uint32_t i);
/* Chart i of x as an SVG document drawn by elm_plot_* (grouped bars of the means per scenario
 * with their 95 % CI as error bars, the chart's title inside). Returns a malloc'd string the
 * caller frees, or NULL when out of memory or i is past the last chart. */
char *elm_sim_chart_svg(const elm_sim_compare_t *x, uint32_t i);

#ifdef __cplusplus
}
#endif
#endif
