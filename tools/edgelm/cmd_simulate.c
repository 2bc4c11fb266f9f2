/* `edgelm simulate`: compare routing strategies on a synthetic workload — Edge-First's four
 * scenarios by default, every strategy on every workload with --compare — as a table, CSV, JSON and
 * SVG. The comparison and its forms are the library's (edgelm/sim.h); this file parses, calls and
 * prints. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "edgelm/eval.h"
#include "edgelm/sim.h"

static const char head_text[] =
    "usage: edgelm simulate [OPTIONS]\n"
    "\n"
    "Drive the routing policy (the same code as the gateway) with synthetic users in simulated\n"
    "time. Without --strategy/--workload/--compare it runs Edge-First's four scenarios:\n"
    "steady+random, steady+weighted, bursty+random, bursty+load-aware.\n";

static const char CMD[] = "simulate";

/* ---- arguments ---- */

typedef struct {
    const char *config, *strategy, *workload, *csv, *json, *svg;
    bool compare, no_cloud;
    int64_t seeds, seed, users, minutes, step_s, prompt;
} sim_args_t;

/* Returns ELM_CLI_GO, or the exit status of --help or a usage error. */
static int parse_args(sim_args_t *a, int argc, char **argv)
{
    *a = (sim_args_t){.seed = 1, .users = 30, .minutes = 60, .step_s = 60};
    elm_opt_t opts[] = {
        ELM_OPT_STR("--config", NULL, "FILE", &a->config,
                    "cluster JSON (docs/cluster-config.md); default: the built-in cluster\n"
                    "of examples/cluster.json"),
        ELM_OPT_STR("--strategy", NULL, "NAME", &a->strategy,
                    "one strategy: random, weighted, load-aware, round-robin,\n"
                    "least-predicted-completion, energy-aware"),
        ELM_OPT_STR("--workload", NULL, "W", &a->workload, "steady or bursty"),
        ELM_OPT_FLAG("--compare", NULL, &a->compare, "every strategy on every workload"),
        ELM_OPT_I64("--seeds", NULL, "K", &a->seeds, 1, 1000,
                    "runs per scenario with seeds S..S+K-1; mean +- 95% CI (default 1;\n"
                    "10 with --compare)"),
        ELM_OPT_I64("--seed", NULL, "S", &a->seed, 0, INT64_MAX, "first seed (default 1)"),
        ELM_OPT_I64("--users", NULL, "N", &a->users, 1, 100000, "users (default 30)"),
        ELM_OPT_I64("--minutes", NULL, "M", &a->minutes, 1, 10 * 24 * 60, "duration (default 60)"),
        ELM_OPT_I64("--step-s", NULL, "S", &a->step_s, 1, 3600, "step in seconds (default 60)"),
        ELM_OPT_I64("--prompt-tokens", NULL, "N", &a->prompt, 0, 100000,
                    "input tokens per request (default 0)"),
        ELM_OPT_FLAG("--no-cloud", NULL, &a->no_cloud, "no cloud: overflow is rejected (429)"),
        ELM_OPT_STR("--csv", NULL, "FILE", &a->csv, "per-step rows and totals of every run"),
        ELM_OPT_STR("--json", NULL, "FILE", &a->json, "the same as JSON, with the summaries"),
        ELM_OPT_STR("--svg", NULL, "DIR", &a->svg,
                    "charts: outcomes.svg, redirected_tokens.svg, cloud_cost.svg,\n"
                    "utilization.svg"),
        ELM_OPT_END,
    };
    elm_cli_spec_t spec = {.cmd = CMD, .head = head_text, .opts = opts};
    int rc = elm_cli_parse(&spec, argc, argv, NULL);
    if (rc != ELM_CLI_GO) return rc;
    elm_sim_workload_t w;
    if (a->workload && elm_sim_workload_parse(a->workload, &w))
        return elm_cli_usage_error(CMD, "--workload is steady or bursty, not '%s'", a->workload);
    if (a->strategy && !elm_route_strategy_find(a->strategy))
        return elm_cli_usage_error(CMD, "unknown strategy '%s'", a->strategy);
    if (a->compare && (a->strategy || a->workload))
        return elm_cli_usage_error(CMD, "--compare runs every strategy and workload; drop "
                                        "--strategy/--workload");
    if (a->minutes * 60 < a->step_s)
        return elm_cli_usage_error(CMD, "--minutes must cover at least one --step-s");
    if (!a->seeds) a->seeds = a->compare ? 10 : 1;
    return ELM_CLI_GO;
}

/* The cluster of --config, or the built-in one. */
static int load_cluster(const char *path, elm_cluster_config_t *cfg, elm_diag_t *d)
{
    return path ? elm_cli_read_cluster(path, cfg, d) : elm_sim_cluster_builtin(cfg, d);
}

/* The scenarios the arguments ask for into sc (room for 32); returns how many. */
static uint32_t pick_scenarios(const sim_args_t *a, const elm_cluster_config_t *cfg,
                               elm_sim_scenario_t *sc)
{
    if (a->compare) return elm_sim_scenarios_all(sc, 32);
    if (!a->strategy && !a->workload) return elm_sim_scenarios_paper(sc);
    sc[0].workload = ELM_SIM_STEADY;
    if (a->workload) elm_sim_workload_parse(a->workload, &sc[0].workload);
    sc[0].strategy = elm_route_strategy_find(a->strategy ? a->strategy : cfg->strategy);
    return 1;
}

/* ---- printing ---- */

/* One scenario's row of the table, as its seeds finish: mean ± CI with several seeds. */
static void print_row(void *user, const elm_sim_summary_t *s, uint32_t i)
{
    (void)i;
    const sim_args_t *a = user;
    const double *m = s->mean, *ci = s->ci95;
    const char *w = elm_sim_workload_name(s->sc.workload), *st = s->sc.strategy->name;
    if (a->seeds > 1)
        printf("%-8s %-27s %5.1f±%-4.1f %5.1f±%-4.1f %4.1f±%-4.1f %6.0f±%-6.0f %.4f±%-.4f "
               "%.2f±%.2f %.2f±%.2f\n",
               w, st, m[0], ci[0], m[1], ci[1], m[2], ci[2], m[3], ci[3], m[4], ci[4], m[5], ci[5],
               m[6], ci[6]);
    else
        printf("%-8s %-27s %10.0f %10.0f %9.0f %13.0f %11.4f %9.2f %9.2f\n", w, st, m[0], m[1],
               m[2], m[3], m[4], m[5], m[6]);
}

/* Write text to path; 0, or 1 after saying why. */
static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f)) {
        if (f) fclose(f);
        fprintf(stderr, "edgelm: %s: cannot write (%s)\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

/* The CSV (into fcsv, opened before the runs so that a bad path fails early, and closed here),
 * the JSON and the charts that the arguments ask for. Returns the exit status. */
static int write_outputs(const sim_args_t *a, const elm_sim_compare_t *x, FILE *fcsv)
{
    if (fcsv) {
        int werr = elm_sim_write_csv(fcsv, x);
        if (fclose(fcsv) || werr) {
            fprintf(stderr, "edgelm: %s: cannot write (%s)\n", a->csv, strerror(errno));
            return 1;
        }
    }
    if (a->json) {
        char *text = elm_sim_json(x);
        int rc = text ? write_file(a->json, text) : elm_cli_fail(NULL, ELM_ENOMEM);
        free(text);
        if (rc) return rc;
    }
    if (!a->svg) return 0;
    if (mkdir(a->svg, 0777) && errno != EEXIST) {
        fprintf(stderr, "edgelm: %s: cannot create the chart folder (%s)\n", a->svg,
                strerror(errno));
        return 1;
    }
    for (uint32_t i = 0; i < ELM_SIM_N_CHARTS; i++) {
        char path[4096], *svg = elm_sim_chart_svg(x, i);
        if (!svg) {
            fprintf(stderr, "edgelm: out of memory writing charts\n");
            return 1;
        }
        snprintf(path, sizeof path, "%s/%s", a->svg, elm_sim_chart_file(i));
        int rc = write_file(path, svg);
        free(svg);
        if (rc) return rc;
    }
    return 0;
}

int elm_cmd_simulate(int argc, char **argv)
{
    sim_args_t a;
    int status = parse_args(&a, argc, argv);
    if (status != ELM_CLI_GO) return status;

    elm_cluster_config_t cfg;
    elm_diag_t d;
    elm_diag_clear(&d);
    int rc = load_cluster(a.config, &cfg, &d);
    if (rc) return elm_cli_fail(&d, rc);
    if (a.no_cloud) cfg.cloud.enabled = false;
    elm_sim_scenario_t sc[32];
    uint32_t n = pick_scenarios(&a, &cfg, sc);

    FILE *fcsv = NULL;
    if (a.csv && !(fcsv = fopen(a.csv, "w"))) {
        fprintf(stderr, "edgelm: %s: cannot write (%s)\n", a.csv, strerror(errno));
        return 1;
    }
    const elm_sim_sweep_t sw = {.n_users = (uint32_t)a.users,
                                .duration_ms = a.minutes * 60000,
                                .step_ms = a.step_s * 1000,
                                .prompt_tokens = (uint32_t)a.prompt,
                                .seed = (uint64_t)a.seed,
                                .n_seeds = (uint32_t)a.seeds,
                                .keep_runs = a.csv || a.json};
    elm_sim_compare_t cmp;
    printf("%-8s %-27s %10s %10s %9s %13s %11s %9s %9s\n", "workload", "strategy", "processed",
           "redirected", "rejected", "tok_redirect", "cloud_$", "util", "spread");
    if ((rc = elm_sim_compare(&cfg, sc, n, &sw, print_row, &a, &cmp, &d))) {
        if (fcsv) fclose(fcsv);
        return elm_cli_fail(&d, rc);
    }
    if (a.seeds > 1)
        printf("(mean ± 95%% CI over %lld seeds from %lld)\n", (long long)a.seeds,
               (long long)a.seed);
    status = write_outputs(&a, &cmp, fcsv);
    elm_sim_compare_free(&cmp);
    return status;
}
