/* `edgelm simulate`: compare routing strategies on a synthetic workload — Edge-First's four
 * scenarios by default, every strategy on every workload with --compare — or on a gateway's
 * replayed access log (--replay), as a table, CSV, JSON and SVG. The comparison and its forms are
 * the library's (edgelm/sim.h); this file parses, calls and prints. */
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
    "steady+random, steady+weighted, bursty+random, bursty+load-aware.\n"
    "\n"
    "With --replay LOG it replays a gateway's access log (edgelm gateway --log) instead: the\n"
    "recorded arrivals and token counts through the config's strategy (--strategy: another one,\n"
    "--compare: every one), next to what the gateway recorded.\n";

static const char CMD[] = "simulate";

/* ---- arguments ---- */

typedef struct {
    const char *config, *strategy, *workload, *csv, *json, *svg, *replay;
    bool compare, no_cloud, config_speeds;
    int64_t seeds, seed, users, minutes, step_s, prompt;
} sim_args_t;

/* Returns ELM_CLI_GO, or the exit status of --help or a usage error. */
static int parse_args(sim_args_t *a, int argc, char **argv)
{
    /* -1: not given (--replay refuses the synthetic workload's options) */
    *a = (sim_args_t){.seed = 1, .users = -1, .minutes = -1, .step_s = 60, .prompt = -1};
    elm_opt_t opts[] = {
        ELM_OPT_STR("--config", NULL, "FILE", &a->config,
                    "cluster JSON (docs/cluster-config.md); default: the built-in cluster,\n"
                    "the same as share/edgelm/cluster.json"),
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
        ELM_OPT_STR("--replay", NULL, "LOG", &a->replay,
                    "replay a gateway's access log (needs --config; docs/simulate.md)"),
        ELM_OPT_FLAG("--config-speeds", NULL, &a->config_speeds,
                     "with --replay: the config's tokens_per_s, not the log's measured ones"),
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
    if (a->replay && (a->workload || a->users >= 0 || a->minutes >= 0 || a->prompt >= 0))
        return elm_cli_usage_error(CMD, "--replay takes the arrivals and tokens from the log; "
                                        "drop --workload/--users/--minutes/--prompt-tokens");
    if (a->replay && !a->config)
        return elm_cli_usage_error(CMD, "--replay needs --config: the gateway's cluster file");
    if (a->config_speeds && !a->replay)
        return elm_cli_usage_error(CMD, "--config-speeds goes with --replay");
    if (a->users < 0) a->users = 30;
    if (a->minutes < 0) a->minutes = 60;
    if (a->prompt < 0) a->prompt = 0;
    if (a->minutes * 60 < a->step_s)
        return elm_cli_usage_error(CMD, "--minutes must cover at least one --step-s");
    /* a replay has one arrival sequence: only the random strategies vary with the seed */
    if (!a->seeds) a->seeds = a->compare && !a->replay ? 10 : 1;
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
    if (a->replay) {
        uint32_t n = 0;
        for (uint32_t k = 0; a->compare && k < elm_route_strategy_count(); k++)
            sc[n++] = (elm_sim_scenario_t){ELM_SIM_REPLAY, elm_route_strategy_at(k)};
        if (!a->compare)
            sc[n++] = (elm_sim_scenario_t){
                ELM_SIM_REPLAY, elm_route_strategy_find(a->strategy ? a->strategy : cfg->strategy)};
        return n;
    }
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

/* ---- replay ---- */

/* Read and parse the log at path into *log. */
static int load_log(const char *path, elm_sim_log_t *log, elm_diag_t *d)
{
    char *text;
    size_t len;
    int rc = elm_file_read(path, 0, &text, &len, d);
    if (rc) return rc;
    rc = elm_sim_log_parse(text, len, path, log, d);
    free(text);
    return rc;
}

/* What the log holds, where the speeds come from (measuring them into cfg unless
 * --config-speeds) and what the gateway recorded. Returns 0 or ELM_ENOMEM. */
static int print_log(const sim_args_t *a, const elm_sim_log_t *log, elm_cluster_config_t *cfg)
{
    uint32_t n_samples[ELM_ROUTE_MAX_DEVICES] = {0};
    printf("replay of %s: %u requests over %.1f s", a->replay, log->n, log->span_ms / 1000.0);
    if (log->skipped_invalid + log->skipped_key)
        printf(" (%llu lines skipped: %llu invalid, %llu over a client key's limits)",
               (unsigned long long)(log->skipped_invalid + log->skipped_key),
               (unsigned long long)log->skipped_invalid, (unsigned long long)log->skipped_key);
    if (!a->config_speeds && elm_sim_log_speeds(log, cfg, n_samples)) return ELM_ENOMEM;
    printf("\nspeeds %s:", a->config_speeds ? "from the config" : "measured from the log");
    for (uint32_t i = 0; i < cfg->n_devices; i++) {
        printf("%s %s %.1f tok/s", i ? "," : "", cfg->devices[i].name,
               cfg->devices[i].tokens_per_s);
        if (n_samples[i])
            printf(" (%u request%s)", n_samples[i], n_samples[i] == 1 ? "" : "s");
        else if (!a->config_speeds)
            printf(" (config prior)");
    }
    printf("\nrecorded outcomes: %llu served, %llu redirected, %llu rejected, %llu failed, "
           "%llu cancelled\n",
           (unsigned long long)log->served, (unsigned long long)log->out_redirected,
           (unsigned long long)log->out_rejected, (unsigned long long)log->failed,
           (unsigned long long)log->cancelled);
    for (uint32_t j = 0; j < log->n_devices; j++) {
        bool known = false;
        for (uint32_t i = 0; i < cfg->n_devices; i++)
            known |= !strcmp(log->dev_name[j], cfg->devices[i].name);
        if (!known) printf("note: the log's device %s is not in the config\n", log->dev_name[j]);
    }
    return 0;
}

/* The recorded run as a row of the table (its utilization is not measured: "-"). */
static void print_recorded_row(const elm_sim_log_t *log, const char *strategy)
{
    printf("%-8s %-27s %10llu %10llu %9llu %13llu %11.4f %9s %9s\n", "recorded", strategy,
           (unsigned long long)log->processed, (unsigned long long)log->redirected,
           (unsigned long long)log->rejected, (unsigned long long)log->tok_redirected,
           log->cloud_cost, "-", "-");
}

/* Requests served per device: recorded, then each replayed strategy (mean over the seeds). */
static void print_served(const elm_sim_log_t *log, const elm_sim_compare_t *x)
{
    printf("\n%-36s", "served per device");
    for (uint32_t i = 0; i < x->n_devices; i++)
        printf(" %12s", x->dev_name[i]);
    printf("\n%-36s", "recorded");
    for (uint32_t i = 0; i < x->n_devices; i++) {
        uint64_t n = 0;
        for (uint32_t j = 0; j < log->n_devices; j++)
            if (!strcmp(log->dev_name[j], x->dev_name[i])) n = log->dev_served[j];
        printf(" %12llu", (unsigned long long)n);
    }
    for (uint32_t k = 0; k < x->n_scenarios; k++) {
        printf("\n%-36s", x->sc[k].label);
        for (uint32_t i = 0; i < x->n_devices; i++)
            printf(" %12.0f", x->sc[k].dev_served[i]);
    }
    printf("\n");
}

/* ---- the command ---- */

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
    elm_sim_log_t log = {0};
    if (a.replay && (rc = load_log(a.replay, &log, &d))) return elm_cli_fail(&d, rc);
    if (a.replay && print_log(&a, &log, &cfg)) {
        elm_sim_log_free(&log);
        return elm_cli_fail(NULL, ELM_ENOMEM);
    }

    FILE *fcsv = NULL;
    if (a.csv && !(fcsv = fopen(a.csv, "w"))) {
        fprintf(stderr, "edgelm: %s: cannot write (%s)\n", a.csv, strerror(errno));
        elm_sim_log_free(&log);
        return 1;
    }
    const elm_sim_sweep_t sw = {.n_users = (uint32_t)a.users,
                                .duration_ms = a.minutes * 60000,
                                .step_ms = a.step_s * 1000,
                                .prompt_tokens = (uint32_t)a.prompt,
                                .seed = (uint64_t)a.seed,
                                .n_seeds = (uint32_t)a.seeds,
                                .keep_runs = a.csv || a.json,
                                .log = a.replay ? &log : NULL};
    elm_sim_compare_t cmp;
    printf("%-8s %-27s %10s %10s %9s %13s %11s %9s %9s\n", "workload", "strategy", "processed",
           "redirected", "rejected", "tok_redirect", "cloud_$", "util", "spread");
    if (a.replay) print_recorded_row(&log, log.strategy[0] ? log.strategy : cfg.strategy);
    if ((rc = elm_sim_compare(&cfg, sc, n, &sw, print_row, &a, &cmp, &d))) {
        if (fcsv) fclose(fcsv);
        elm_sim_log_free(&log);
        return elm_cli_fail(&d, rc);
    }
    if (a.seeds > 1)
        printf("(mean ± 95%% CI over %lld seeds from %lld)\n", (long long)a.seeds,
               (long long)a.seed);
    if (a.replay) print_served(&log, &cmp);
    status = write_outputs(&a, &cmp, fcsv);
    elm_sim_compare_free(&cmp);
    elm_sim_log_free(&log);
    return status;
}
