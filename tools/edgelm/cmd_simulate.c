/* `edgelm simulate`: compare routing strategies on a synthetic workload — paper 000's four
 * scenarios by default, every strategy on every workload with --compare — as a table, CSV, JSON and
 * SVG. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "edgelm/sim.h"

static const char usage_text[] =
    "usage: edgelm simulate [OPTIONS]\n"
    "\n"
    "Drive the routing policy (the same code as the gateway) with synthetic users in simulated\n"
    "time. Without --strategy/--workload/--compare it runs paper 000's four scenarios:\n"
    "steady+random, steady+weighted, bursty+random, bursty+load-aware.\n"
    "\n"
    "options:\n"
    "  --config FILE       cluster JSON (docs/cluster-config.md); default: the built-in cluster\n"
    "                      of examples/cluster.json\n"
    "  --strategy NAME     one strategy: random, weighted, load-aware, round-robin,\n"
    "                      least-predicted-completion, energy-aware\n"
    "  --workload W        steady or bursty\n"
    "  --compare           every strategy on every workload\n"
    "  --seeds K           runs per scenario with seeds S..S+K-1; mean +- 95% CI (default 1;\n"
    "                      10 with --compare)\n"
    "  --seed S            first seed (default 1)\n"
    "  --users N           users (default 30)\n"
    "  --minutes M         duration (default 60)\n"
    "  --step-s S          step in seconds (default 60)\n"
    "  --prompt-tokens N   input tokens per request (default 0)\n"
    "  --no-cloud          no cloud: overflow is rejected (429)\n"
    "  --csv FILE          per-step rows and totals of every run\n"
    "  --json FILE         the same as JSON, with the summaries\n"
    "  --svg DIR           charts: outcomes.svg, redirected_tokens.svg, cloud_cost.svg,\n"
    "                      utilization.svg\n"
    "  -h, --help          this text\n";

/* The built-in cluster: keep in step with examples/cluster.json. */
static const char default_cluster[] =
    "{\"window_s\": 60, \"strategy\": \"load-aware\","
    " \"cloud\": {\"enabled\": true, \"name\": \"gpt-4o-mini\", \"input_per_mtok\": 0.15,"
    " \"output_per_mtok\": 0.60}, \"devices\": ["
    " {\"name\": \"raspberry-pi-5\", \"tokens_per_s\": 8, \"max_parallel\": 1, \"power_w\": 8.0},"
    " {\"name\": \"laptop-cpu\", \"tokens_per_s\": 15, \"max_parallel\": 1, \"power_w\": 35.0},"
    " {\"name\": \"jetson-orin-nano\", \"tokens_per_s\": 25, \"max_parallel\": 2, \"power_w\": "
    "15.0}]}";

enum {
    M_PROCESSED,
    M_REDIRECTED,
    M_REJECTED,
    M_TOK_REDIRECTED,
    M_COST,
    M_UTIL,
    M_SPREAD,
    M_ENERGY,
    M_COUNT
};
static const char *const metric_name[M_COUNT] = {"processed",      "redirected", "rejected",
                                                 "tok_redirected", "cloud_cost", "util_mean",
                                                 "util_spread",    "energy_j"};

typedef struct {
    elm_sim_workload_t workload;
    const elm_route_strategy_t *strategy;
    char label[96];
    double *m; /* (seeds, M_COUNT) */
    double mean[M_COUNT], ci[M_COUNT];
    double dev_util[ELM_ROUTE_MAX_DEVICES];
} scenario_t;

static double metric(const elm_sim_result_t *r, int k)
{
    switch (k) {
    case M_PROCESSED: return (double)r->total.processed;
    case M_REDIRECTED: return (double)r->total.redirected;
    case M_REJECTED: return (double)r->total.rejected;
    case M_TOK_REDIRECTED: return (double)r->total.tok_redirected;
    case M_COST: return r->total.cloud_cost;
    case M_UTIL: return r->util_mean;
    case M_SPREAD: return r->util_spread;
    default: return r->energy_j;
    }
}

static void csv_row(FILE *f, const scenario_t *sc, uint64_t seed, const char *step,
                    const elm_sim_step_t *s, const double *util, uint32_t nd)
{
    fprintf(f,
            "%s,%s,%" PRIu64 ",%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
            ",%" PRIu64 ",%" PRIu64 ",%.6f",
            elm_sim_workload_name(sc->workload), sc->strategy->name, seed, step, s->requests,
            s->processed, s->redirected, s->rejected, s->tok_processed, s->tok_redirected,
            s->tok_rejected, s->cloud_cost);
    for (uint32_t i = 0; i < nd; i++)
        fprintf(f, ",%.4f", util[i]);
    fputc('\n', f);
}

static cJSON *step_json(const elm_sim_step_t *s, const double *util, uint32_t nd)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "requests", (double)s->requests);
    cJSON_AddNumberToObject(o, "processed", (double)s->processed);
    cJSON_AddNumberToObject(o, "redirected", (double)s->redirected);
    cJSON_AddNumberToObject(o, "rejected", (double)s->rejected);
    cJSON_AddNumberToObject(o, "tok_processed", (double)s->tok_processed);
    cJSON_AddNumberToObject(o, "tok_redirected", (double)s->tok_redirected);
    cJSON_AddNumberToObject(o, "tok_rejected", (double)s->tok_rejected);
    cJSON_AddNumberToObject(o, "cloud_cost", s->cloud_cost);
    cJSON_AddItemToObject(o, "util", cJSON_CreateDoubleArray(util, (int)nd));
    return o;
}

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

static int write_charts(const char *dir, scenario_t *sc, uint32_t n, const elm_sim_result_t *r0)
{
    const char *groups[64];
    uint32_t nd = r0->n_devices;
    double *val = calloc((size_t)n * (nd + 3), sizeof *val),
           *err = calloc((size_t)n * (nd + 3), sizeof *err);
    int rc = 0;
    if (!val || !err) goto fail_mem;
    if (mkdir(dir, 0777) && errno != EEXIST) {
        fprintf(stderr, "edgelm: %s: cannot create the chart folder (%s)\n", dir, strerror(errno));
        rc = 1;
        goto done;
    }
    for (uint32_t i = 0; i < n; i++)
        groups[i] = sc[i].label;
    struct {
        const char *file, *title, *ylabel;
        int m[3];
        int nm;
    } charts[] = {
        {"outcomes.svg",
         "Requests by outcome",
         "requests",
         {M_PROCESSED, M_REDIRECTED, M_REJECTED},
         3},
        {"redirected_tokens.svg",
         "Tokens redirected to the cloud",
         "tokens",
         {M_TOK_REDIRECTED},
         1},
        {"cloud_cost.svg", "Cloud cost", "US$", {M_COST}, 1},
    };
    for (size_t c = 0; c < sizeof charts / sizeof charts[0]; c++) {
        const char *series[3];
        for (int k = 0; k < charts[c].nm; k++)
            series[k] = metric_name[charts[c].m[k]];
        for (uint32_t i = 0; i < n; i++)
            for (int k = 0; k < charts[c].nm; k++) {
                val[i * charts[c].nm + k] = sc[i].mean[charts[c].m[k]];
                err[i * charts[c].nm + k] = sc[i].ci[charts[c].m[k]];
            }
        char *svg = elm_sim_svg_bars(charts[c].title, charts[c].ylabel, n, groups,
                                     (uint32_t)charts[c].nm, series, val, err);
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, charts[c].file);
        if (!svg) goto fail_mem;
        rc = write_file(path, svg);
        free(svg);
        if (rc) goto done;
    }
    const char *series[ELM_ROUTE_MAX_DEVICES + 1];
    for (uint32_t k = 0; k < nd; k++)
        series[k] = r0->dev_name[k];
    series[nd] = "spread (std dev)";
    for (uint32_t i = 0; i < n; i++) {
        for (uint32_t k = 0; k < nd; k++)
            val[i * (nd + 1) + k] = sc[i].dev_util[k];
        val[i * (nd + 1) + nd] = sc[i].mean[M_SPREAD];
        memset(err + i * (nd + 1), 0, (nd + 1) * sizeof *err);
        err[i * (nd + 1) + nd] = sc[i].ci[M_SPREAD];
    }
    char *svg = elm_sim_svg_bars("Per-device utilization and its spread", "busy fraction", n,
                                 groups, nd + 1, series, val, err);
    if (!svg) goto fail_mem;
    char path[4096];
    snprintf(path, sizeof path, "%s/utilization.svg", dir);
    rc = write_file(path, svg);
    free(svg);
    goto done;
fail_mem:
    fprintf(stderr, "edgelm: out of memory writing charts\n");
    rc = 1;
done:
    free(val);
    free(err);
    return rc;
}

static char *read_text(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *s = malloc(cap);
    while (s) {
        n += fread(s + n, 1, cap - n, f);
        if (n < cap) break;
        if (cap >= (16u << 20)) break; /* a cluster file is small; the parser reports the cut */
        char *t = realloc(s, cap *= 2);
        if (!t) free(s);
        s = t;
    }
    fclose(f);
    *len = n;
    return s;
}

int elm_cmd_simulate(int argc, char **argv)
{
    const char *config = NULL, *strategy = NULL, *workload = NULL, *csv = NULL, *json = NULL,
               *svg = NULL;
    bool compare = false, no_cloud = false;
    int64_t seeds = 0, seed = 1, users = 30, minutes = 60, step_s = 60, prompt = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_VALUE()                                                                \
    if (!v) return elm_cli_usage_error("simulate", "option '%s' needs a value", a); \
    i++
#define INT_OPT(flag, var, lo, hi)                                                                \
    else if (!strcmp(a, flag))                                                                    \
    {                                                                                             \
        NEED_VALUE();                                                                             \
        if (!elm_cli_parse_i64(v, lo, hi, &var))                                                  \
            return elm_cli_usage_error("simulate",                                                \
                                       "%s wants a whole number in [%lld, %lld], not '%s'", flag, \
                                       (long long)(lo), (long long)(hi), v);                      \
    }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage_text, stdout);
            return 0;
        } else if (!strcmp(a, "--compare")) {
            compare = true;
        } else if (!strcmp(a, "--no-cloud")) {
            no_cloud = true;
        } else if (!strcmp(a, "--config")) {
            NEED_VALUE();
            config = v;
        } else if (!strcmp(a, "--strategy")) {
            NEED_VALUE();
            strategy = v;
        } else if (!strcmp(a, "--workload")) {
            NEED_VALUE();
            workload = v;
        } else if (!strcmp(a, "--csv")) {
            NEED_VALUE();
            csv = v;
        } else if (!strcmp(a, "--json")) {
            NEED_VALUE();
            json = v;
        } else if (!strcmp(a, "--svg")) {
            NEED_VALUE();
            svg = v;
        }
        INT_OPT("--seeds", seeds, 1, 1000)
        INT_OPT("--seed", seed, 0, INT64_MAX)
        INT_OPT("--users", users, 1, 100000)
        INT_OPT("--minutes", minutes, 1, 10 * 24 * 60)
        INT_OPT("--step-s", step_s, 1, 3600)
        INT_OPT("--prompt-tokens", prompt, 0, 100000)
        else return elm_cli_usage_error("simulate", "unknown option '%s'", a);
#undef INT_OPT
#undef NEED_VALUE
    }
    if (workload && strcmp(workload, "steady") && strcmp(workload, "bursty"))
        return elm_cli_usage_error("simulate", "--workload is steady or bursty, not '%s'",
                                   workload);
    if (strategy && !elm_route_strategy_find(strategy))
        return elm_cli_usage_error("simulate", "unknown strategy '%s'", strategy);
    if (compare && (strategy || workload))
        return elm_cli_usage_error("simulate", "--compare runs every strategy and workload; drop "
                                               "--strategy/--workload");
    if (minutes * 60 < step_s)
        return elm_cli_usage_error("simulate", "--minutes must cover at least one --step-s");
    if (!seeds) seeds = compare ? 10 : 1;

    elm_cluster_config_t cfg;
    elm_diag_t d;
    elm_diag_clear(&d);
    size_t len = sizeof default_cluster - 1;
    char *text = config ? read_text(config, &len) : NULL;
    if (config && !text) {
        fprintf(stderr, "edgelm: %s: cannot read the cluster file (%s)\n", config, strerror(errno));
        return 1;
    }
    int rc = elm_cluster_config_parse(text ? text : default_cluster, len,
                                      config ? config : "built-in cluster", &cfg, &d);
    free(text);
    if (rc) return elm_cli_fail(&d, rc);
    if (no_cloud) cfg.cloud.enabled = false;

    /* The scenarios. */
    scenario_t sc[2 * 16];
    uint32_t n = 0;
    static const struct {
        elm_sim_workload_t w;
        const char *s;
    } paper[] = {{ELM_SIM_STEADY, "random"},
                 {ELM_SIM_STEADY, "weighted"},
                 {ELM_SIM_BURSTY, "random"},
                 {ELM_SIM_BURSTY, "load-aware"}};
    memset(sc, 0, sizeof sc);
    if (compare) {
        for (int w = 0; w < 2; w++)
            for (uint32_t k = 0; k < elm_route_strategy_count() && n < 32; k++) {
                sc[n].workload = (elm_sim_workload_t)w;
                sc[n++].strategy = elm_route_strategy_at(k);
            }
    } else if (strategy || workload) {
        sc[0].workload = workload && !strcmp(workload, "bursty") ? ELM_SIM_BURSTY : ELM_SIM_STEADY;
        sc[0].strategy = elm_route_strategy_find(strategy ? strategy : cfg.strategy);
        n = 1;
    } else {
        for (n = 0; n < 4; n++) {
            sc[n].workload = paper[n].w;
            sc[n].strategy = elm_route_strategy_find(paper[n].s);
        }
    }

    FILE *fcsv = NULL;
    cJSON *jroot = NULL, *jsc = NULL;
    elm_sim_result_t res, first;
    memset(&first, 0, sizeof first);
    rc = 0;
    if (csv && !(fcsv = fopen(csv, "w"))) {
        fprintf(stderr, "edgelm: %s: cannot write (%s)\n", csv, strerror(errno));
        return 1;
    }
    if (fcsv) {
        fprintf(fcsv, "workload,strategy,seed,step,requests,processed,redirected,rejected,"
                      "tok_processed,tok_redirected,tok_rejected,cloud_cost");
        for (uint32_t i = 0; i < cfg.n_devices; i++)
            fprintf(fcsv, ",util_%s", cfg.devices[i].name);
        fputc('\n', fcsv);
    }
    if (json) {
        jroot = cJSON_CreateObject();
        cJSON_AddNumberToObject(jroot, "seeds", (double)seeds);
        cJSON_AddNumberToObject(jroot, "users", (double)users);
        cJSON_AddNumberToObject(jroot, "minutes", (double)minutes);
        cJSON_AddNumberToObject(jroot, "step_s", (double)step_s);
        jsc = cJSON_AddArrayToObject(jroot, "scenarios");
    }
    printf("%-8s %-27s %10s %10s %9s %13s %11s %9s %9s\n", "workload", "strategy", "processed",
           "redirected", "rejected", "tok_redirect", "cloud_$", "util", "spread");
    for (uint32_t s = 0; s < n; s++) {
        scenario_t *x = &sc[s];
        snprintf(x->label, sizeof x->label, "%s+%s", elm_sim_workload_name(x->workload),
                 x->strategy->name);
        x->m = calloc((size_t)seeds * M_COUNT, sizeof *x->m);
        if (!x->m) {
            rc = elm_cli_fail(NULL, ELM_ENOMEM);
            goto done;
        }
        cJSON *jruns = NULL;
        if (jsc) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddItemToArray(jsc, o);
            cJSON_AddStringToObject(o, "workload", elm_sim_workload_name(x->workload));
            cJSON_AddStringToObject(o, "strategy", x->strategy->name);
            jruns = cJSON_AddArrayToObject(o, "runs");
        }
        for (int64_t k = 0; k < seeds; k++) {
            elm_sim_params_t p;
            elm_sim_params_default(&p, x->workload);
            p.n_users = (uint32_t)users;
            p.duration_ms = minutes * 60000;
            p.step_ms = step_s * 1000;
            p.prompt_tokens = (uint32_t)prompt;
            p.seed = (uint64_t)(seed + k);
            if ((rc = elm_sim_run(&cfg, x->strategy, &p, &res, &d))) {
                rc = elm_cli_fail(&d, rc);
                goto done;
            }
            for (int m = 0; m < M_COUNT; m++)
                x->m[k * M_COUNT + m] = metric(&res, m);
            for (uint32_t i = 0; i < res.n_devices; i++)
                x->dev_util[i] += res.dev_util[i] / seeds;
            if (fcsv) {
                char step[16];
                for (uint32_t t = 0; t < res.n_steps; t++) {
                    snprintf(step, sizeof step, "%u", t);
                    csv_row(fcsv, x, p.seed, step, &res.steps[t], res.util + t * res.n_devices,
                            res.n_devices);
                }
                csv_row(fcsv, x, p.seed, "total", &res.total, res.dev_util, res.n_devices);
            }
            if (jruns) {
                cJSON *run = cJSON_CreateObject();
                cJSON_AddItemToArray(jruns, run);
                cJSON_AddNumberToObject(run, "seed", (double)p.seed);
                cJSON *tot = step_json(&res.total, res.dev_util, res.n_devices);
                cJSON_AddNumberToObject(tot, "util_mean", res.util_mean);
                cJSON_AddNumberToObject(tot, "util_spread", res.util_spread);
                cJSON_AddNumberToObject(tot, "energy_j", res.energy_j);
                cJSON_AddItemToObject(run, "totals", tot);
                cJSON *steps = cJSON_AddArrayToObject(run, "steps");
                for (uint32_t t = 0; t < res.n_steps; t++)
                    cJSON_AddItemToArray(
                        steps,
                        step_json(&res.steps[t], res.util + t * res.n_devices, res.n_devices));
            }
            if (!first.n_devices) {
                first = res;
                first.steps = NULL;
                first.util = NULL;
            }
            elm_sim_result_free(&res);
        }
        double col[1000];
        for (int m = 0; m < M_COUNT; m++) {
            for (int64_t k = 0; k < seeds; k++)
                col[k] = x->m[k * M_COUNT + m];
            elm_sim_ci95(col, (uint32_t)seeds, &x->mean[m], &x->ci[m]);
        }
        if (jsc) {
            cJSON *sum = cJSON_AddObjectToObject(cJSON_GetArrayItem(jsc, (int)s), "summary");
            for (int m = 0; m < M_COUNT; m++) {
                cJSON *o = cJSON_AddObjectToObject(sum, metric_name[m]);
                cJSON_AddNumberToObject(o, "mean", x->mean[m]);
                cJSON_AddNumberToObject(o, "ci95", x->ci[m]);
            }
        }
        if (seeds > 1)
            printf("%-8s %-27s %5.1f±%-4.1f %5.1f±%-4.1f %4.1f±%-4.1f %6.0f±%-6.0f %.4f±%-.4f "
                   "%.2f±%.2f %.2f±%.2f\n",
                   elm_sim_workload_name(x->workload), x->strategy->name, x->mean[0], x->ci[0],
                   x->mean[1], x->ci[1], x->mean[2], x->ci[2], x->mean[3], x->ci[3], x->mean[4],
                   x->ci[4], x->mean[5], x->ci[5], x->mean[6], x->ci[6]);
        else
            printf("%-8s %-27s %10.0f %10.0f %9.0f %13.0f %11.4f %9.2f %9.2f\n",
                   elm_sim_workload_name(x->workload), x->strategy->name, x->mean[0], x->mean[1],
                   x->mean[2], x->mean[3], x->mean[4], x->mean[5], x->mean[6]);
    }
    if (seeds > 1)
        printf("(mean ± 95%% CI over %lld seeds from %lld)\n", (long long)seeds, (long long)seed);
    if (jroot) {
        char *s = cJSON_Print(jroot);
        rc = s ? write_file(json, s) : elm_cli_fail(NULL, ELM_ENOMEM);
        free(s);
        if (rc) goto done;
    }
    if (svg && (rc = write_charts(svg, sc, n, &first))) goto done;
done:
    if (fcsv && fclose(fcsv) && !rc) {
        fprintf(stderr, "edgelm: %s: cannot write (%s)\n", csv, strerror(errno));
        rc = 1;
    }
    cJSON_Delete(jroot);
    for (uint32_t s = 0; s < n; s++)
        free(sc[s].m);
    return rc;
}
