/* sim/: seed determinism, the workload's demand mix, confidence intervals, the
 * comparison over seeds and its CSV, JSON and chart forms, the workload names and built-in cluster,
 * Edge-First's findings on the built-in scenarios as assertions on means over several seeds, and
 * the replay of access logs: the parser (good lines, each error), measured speeds, the run. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "edgelm/sim.h"
#include "testutil.h"

static void load_cluster(elm_cluster_config_t *c)
{
    size_t len = 0;
    char *text = elm_test_read_file(ELM_FIXTURES_DIR "/../../examples/cluster.json", &len);
    assert_non_null(text);
    elm_diag_t d;
    assert_int_equal(elm_cluster_config_parse(text, len, "cluster.json", c, &d), 0);
    free(text);
}

static void run(const elm_cluster_config_t *c, const char *strategy, elm_sim_workload_t w,
                uint64_t seed, elm_sim_result_t *r)
{
    elm_sim_params_t p;
    elm_sim_params_default(&p, w);
    p.seed = seed;
    elm_diag_t d;
    assert_int_equal(elm_sim_run(c, elm_route_strategy_find(strategy), &p, r, &d), 0);
}

static void test_determinism(void **state)
{
    (void)state;
    elm_cluster_config_t c;
    load_cluster(&c);
    elm_sim_result_t a, b, x;
    run(&c, "random", ELM_SIM_BURSTY, 7, &a);
    run(&c, "random", ELM_SIM_BURSTY, 7, &b);
    run(&c, "random", ELM_SIM_BURSTY, 8, &x);
    assert_int_equal(a.n_steps, 60);
    assert_memory_equal(a.steps, b.steps, a.n_steps * sizeof *a.steps);
    assert_memory_equal(a.util, b.util, a.n_steps * a.n_devices * sizeof *a.util);
    assert_true(memcmp(a.steps, x.steps, a.n_steps * sizeof *a.steps) != 0);
    /* Every request has exactly one outcome, in every step and in total. */
    uint64_t req = 0;
    for (uint32_t s = 0; s < a.n_steps; s++) {
        const elm_sim_step_t *st = &a.steps[s];
        assert_int_equal(st->requests, st->processed + st->redirected + st->rejected);
        req += st->requests;
        for (uint32_t i = 0; i < a.n_devices; i++)
            assert_true(a.util[s * a.n_devices + i] >= 0 &&
                        a.util[s * a.n_devices + i] <= 1 + 1e-9);
    }
    assert_int_equal(req, a.total.requests);
    elm_sim_result_free(&a);
    elm_sim_result_free(&b);
    elm_sim_result_free(&x);
    elm_sim_result_free(NULL);

    /* A finer step keeps the rate: 10 s steps send about as many requests as 1 min steps. */
    elm_sim_params_t p;
    elm_sim_params_default(&p, ELM_SIM_STEADY);
    p.step_ms = 10000;
    elm_diag_t d;
    assert_int_equal(elm_sim_run(&c, elm_route_strategy_find("weighted"), &p, &a, &d), 0);
    assert_int_equal(a.n_steps, 360);
    assert_true(a.total.requests > 380 && a.total.requests < 700); /* 1 - 0.7^(1/6) per 10 s */
    elm_sim_result_free(&a);
    p.step_ms = 0;
    assert_int_equal(elm_sim_run(&c, elm_route_strategy_find("weighted"), &p, &a, &d), ELM_EINVAL);
}

static void test_demand_mix(void **state)
{
    (void)state;
    elm_rng_t rng;
    elm_rng_seed(&rng, 3);
    int n[501] = {0};
    for (int i = 0; i < 100000; i++)
        n[elm_sim_demand(&rng)]++;
    assert_int_equal(n[50] + n[100] + n[200] + n[300] + n[500], 100000);
    assert_true(n[50] > 34000 && n[50] < 36000);
    assert_true(n[100] > 24000 && n[100] < 26000);
    assert_true(n[500] > 7400 && n[500] < 8600);
}

/* ---- comparisons ---- */

static void count_scenario(void *user, const elm_sim_summary_t *s, uint32_t i)
{
    uint32_t *calls = user;
    assert_int_equal(i, *calls);
    assert_non_null(s->sc.strategy);
    (*calls)++;
}

/* A comparison over two seeds is the mean of the two single-seed runs, metric by metric, with
 * Student's t for one degree of freedom as the interval, and keeps those runs when asked. */
static void test_compare_is_mean_of_seeds(void **state)
{
    (void)state;
    elm_cluster_config_t c;
    elm_diag_t d;
    assert_int_equal(elm_sim_cluster_builtin(&c, &d), 0);
    elm_sim_scenario_t sc[4];
    assert_int_equal(elm_sim_scenarios_paper(sc), 4);
    const elm_sim_sweep_t sw = {.n_users = 30,
                                .duration_ms = 20 * 60000,
                                .step_ms = 60000,
                                .prompt_tokens = 10,
                                .seed = 11,
                                .n_seeds = 2,
                                .keep_runs = true};
    elm_sim_compare_t x;
    uint32_t calls = 0;
    assert_int_equal(elm_sim_compare(&c, sc, 4, &sw, count_scenario, &calls, &x, &d), 0);
    assert_int_equal(calls, 4);
    assert_int_equal(x.n_scenarios, 4);
    assert_int_equal(x.n_devices, c.n_devices);
    assert_string_equal(x.dev_name[2], "jetson-orin-nano");
    assert_string_equal(x.sc[3].label, "bursty+load-aware");
    for (uint32_t i = 0; i < 4; i++) {
        elm_sim_result_t r[2];
        for (uint32_t k = 0; k < 2; k++) {
            elm_sim_params_t p;
            elm_sim_params_default(&p, sc[i].workload);
            p.duration_ms = sw.duration_ms;
            p.prompt_tokens = sw.prompt_tokens;
            p.seed = sw.seed + k;
            assert_int_equal(elm_sim_run(&c, sc[i].strategy, &p, &r[k], &d), 0);
            assert_int_equal(x.sc[i].runs[k].n_steps, 20);
            assert_memory_equal(x.sc[i].runs[k].steps, r[k].steps, 20 * sizeof *r[k].steps);
        }
        for (int m = 0; m < ELM_SIM_M_COUNT; m++) {
            double a = elm_sim_metric(&r[0], (elm_sim_metric_t)m);
            double b = elm_sim_metric(&r[1], (elm_sim_metric_t)m);
            assert_true(fabs(x.sc[i].mean[m] - (a + b) / 2) <= 1e-12 * (1 + fabs(a + b)));
            assert_true(fabs(x.sc[i].ci95[m] - 12.706 * fabs(a - b) / 2) <=
                        1e-9 * (1 + fabs(a - b)));
        }
        for (uint32_t k = 0; k < c.n_devices; k++)
            assert_true(fabs(x.sc[i].dev_util[k] - (r[0].dev_util[k] + r[1].dev_util[k]) / 2) <
                        1e-12);
        elm_sim_result_free(&r[0]);
        elm_sim_result_free(&r[1]);
    }
    /* The metrics are the run's totals. */
    assert_true(x.sc[0].mean[ELM_SIM_M_PROCESSED] ==
                (double)(x.sc[0].runs[0].total.processed + x.sc[0].runs[1].total.processed) / 2);
    elm_sim_compare_free(&x);
    elm_sim_compare_free(&x);
    elm_sim_compare_free(NULL);

    /* Without keep_runs there are no runs to write; no seeds is an error that zeroes *out. */
    elm_sim_sweep_t one = sw;
    one.n_seeds = 1;
    one.keep_runs = false;
    assert_int_equal(elm_sim_compare(&c, sc, 1, &one, NULL, NULL, &x, &d), 0);
    assert_null(x.sc[0].runs);
    assert_true(x.sc[0].ci95[ELM_SIM_M_PROCESSED] == 0);
    assert_int_equal(elm_sim_write_csv(stdout, &x), ELM_EINVAL);
    assert_null(elm_sim_json(&x));
    elm_sim_compare_free(&x);
    one.n_seeds = 0;
    assert_int_equal(elm_sim_compare(&c, sc, 1, &one, NULL, NULL, &x, &d), ELM_EINVAL);
    assert_int_equal(x.n_scenarios, 0);
    assert_null(x.sc);
}

/* A comparison of one scenario, one seed and one step on two devices, built by hand. */
typedef struct {
    elm_sim_step_t step;
    double util[2];
    elm_sim_result_t run;
    elm_sim_summary_t sum;
    elm_sim_compare_t x;
} tiny_t;

static void tiny_init(tiny_t *t)
{
    memset(t, 0, sizeof *t);
    t->step = (elm_sim_step_t){.requests = 3,
                               .processed = 2,
                               .redirected = 1,
                               .tok_processed = 250,
                               .tok_redirected = 100,
                               .cloud_cost = 0.25};
    t->util[0] = 0.5;
    t->util[1] = 0.25;
    t->run = (elm_sim_result_t){.n_steps = 1,
                                .n_devices = 2,
                                .steps = &t->step,
                                .util = t->util,
                                .total = t->step,
                                .energy_j = 40,
                                .dev_util = {0.5, 0.25},
                                .util_mean = 0.375,
                                .util_spread = 0.125};
    t->sum.sc = (elm_sim_scenario_t){ELM_SIM_BURSTY, elm_route_strategy_find("random")};
    snprintf(t->sum.label, sizeof t->sum.label, "bursty+random");
    for (int m = 0; m < ELM_SIM_M_COUNT; m++) {
        t->sum.mean[m] = m + 1;
        t->sum.ci95[m] = 0.5;
    }
    t->sum.dev_util[0] = 0.5;
    t->sum.dev_util[1] = 0.25;
    t->sum.runs = &t->run;
    t->x = (elm_sim_compare_t){.sweep = {.n_users = 4,
                                         .duration_ms = 60000,
                                         .step_ms = 60000,
                                         .seed = 7,
                                         .n_seeds = 1,
                                         .keep_runs = true},
                               .n_scenarios = 1,
                               .sc = &t->sum,
                               .n_devices = 2};
    snprintf(t->x.dev_name[0], sizeof t->x.dev_name[0], "pi");
    snprintf(t->x.dev_name[1], sizeof t->x.dev_name[1], "orin");
}

static void test_csv_shape(void **state)
{
    (void)state;
    tiny_t t;
    tiny_init(&t);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(elm_sim_write_csv(f, &t.x), 0);
    assert_int_equal(fclose(f), 0);
    assert_string_equal(buf, "workload,strategy,seed,step,requests,processed,redirected,rejected,"
                             "tok_processed,tok_redirected,tok_rejected,cloud_cost,util_pi,"
                             "util_orin\n"
                             "bursty,random,7,0,3,2,1,0,250,100,0,0.250000,0.5000,0.2500\n"
                             "bursty,random,7,total,3,2,1,0,250,100,0,0.250000,0.5000,0.2500\n");
    free(buf);
}

/* The tiny step as cJSON prints it, each line indented by ind. */
static void step_text(char *out, size_t n, const char *ind)
{
    snprintf(out, n,
             "%s\"requests\":\t3,\n%s\"processed\":\t2,\n%s\"redirected\":\t1,\n"
             "%s\"rejected\":\t0,\n%s\"tok_processed\":\t250,\n%s\"tok_redirected\":\t100,\n"
             "%s\"tok_rejected\":\t0,\n%s\"cloud_cost\":\t0.25,\n%s\"util\":\t[0.5, 0.25]",
             ind, ind, ind, ind, ind, ind, ind, ind, ind);
}

static void test_json_shape(void **state)
{
    (void)state;
    tiny_t t;
    tiny_init(&t);
    char *json = elm_sim_json(&t.x);
    assert_non_null(json);
    /* The same object as a run's totals (6 tabs deep) and as an item of its steps (7). */
    char tot[512], step[512], want[4096];
    step_text(tot, sizeof tot, "\t\t\t\t\t\t");
    step_text(step, sizeof step, "\t\t\t\t\t\t\t");
    int n =
        snprintf(want, sizeof want,
                 "{\n\t\"seeds\":\t1,\n\t\"users\":\t4,\n\t\"minutes\":\t1,\n\t\"step_s\":\t60,\n"
                 "\t\"devices\":\t[\"pi\", \"orin\"],\n"
                 "\t\"scenarios\":\t[{\n"
                 "\t\t\t\"workload\":\t\"bursty\",\n"
                 "\t\t\t\"strategy\":\t\"random\",\n"
                 "\t\t\t\"runs\":\t[{\n"
                 "\t\t\t\t\t\"seed\":\t7,\n"
                 "\t\t\t\t\t\"totals\":\t{\n%s,\n"
                 "\t\t\t\t\t\t\"util_mean\":\t0.375,\n"
                 "\t\t\t\t\t\t\"util_spread\":\t0.125,\n"
                 "\t\t\t\t\t\t\"energy_j\":\t40\n"
                 "\t\t\t\t\t},\n"
                 "\t\t\t\t\t\"steps\":\t[{\n%s\n"
                 "\t\t\t\t\t\t}]\n"
                 "\t\t\t\t}],\n"
                 "\t\t\t\"summary\":\t{\n",
                 tot, step);
    /* The summary: every metric in order, with the means 1..8 and intervals 0.5 set above. */
    static const char *const key[ELM_SIM_M_COUNT] = {"processed",      "redirected", "rejected",
                                                     "tok_redirected", "cloud_cost", "util_mean",
                                                     "util_spread",    "energy_j"};
    for (int m = 0; m < ELM_SIM_M_COUNT; m++)
        n += snprintf(want + n, sizeof want - (size_t)n,
                      "\t\t\t\t\"%s\":\t{\n\t\t\t\t\t\"mean\":\t%d,\n\t\t\t\t\t\"ci95\":\t0.5\n"
                      "\t\t\t\t}%s\n",
                      key[m], m + 1, m + 1 < ELM_SIM_M_COUNT ? "," : "");
    snprintf(want + n, sizeof want - (size_t)n, "\t\t\t}\n\t\t}]\n}");
    assert_string_equal(json, want);
    free(json);
}

static void test_charts(void **state)
{
    (void)state;
    tiny_t t;
    tiny_init(&t);
    static const char *const file[] = {"outcomes.svg", "redirected_tokens.svg", "cloud_cost.svg",
                                       "utilization.svg"};
    /* each chart's bars carry the means (the tiny summary's metric m is m + 1), the title inside */
    static const char *const has[] = {"data-series=\"rejected\" data-x=\"bursty+random\" data-value=\"3\"",
                                      ">Tokens redirected to the cloud</text>",
                                      "data-series=\"cloud_cost\" data-x=\"bursty+random\" data-value=\"5\"",
                                      "data-series=\"spread (std dev)\" data-x=\"bursty+random\" data-value=\"7\""};
    for (uint32_t i = 0; i < ELM_SIM_N_CHARTS; i++) {
        assert_string_equal(elm_sim_chart_file(i), file[i]);
        char *svg = elm_sim_chart_svg(&t.x, i);
        assert_non_null(svg);
        assert_non_null(strstr(svg, "bursty+random"));
        assert_non_null(strstr(svg, has[i]));
        if (i == 3) assert_non_null(strstr(svg, "data-series=\"orin\" data-x=\"bursty+random\" data-value=\"0.25\""));
        free(svg);
    }
    assert_null(elm_sim_chart_file(ELM_SIM_N_CHARTS));
    assert_null(elm_sim_chart_svg(&t.x, ELM_SIM_N_CHARTS));
}

/* The workload names parse back; the built-in cluster is examples/cluster.json. */
static void test_names_and_builtin(void **state)
{
    (void)state;
    elm_sim_workload_t w = ELM_SIM_BURSTY;
    assert_int_equal(elm_sim_workload_parse("steady", &w), 0);
    assert_int_equal(w, ELM_SIM_STEADY);
    assert_int_equal(elm_sim_workload_parse("bursty", &w), 0);
    assert_int_equal(w, ELM_SIM_BURSTY);
    assert_int_equal(elm_sim_workload_parse("Steady", &w), ELM_EINVAL);
    assert_int_equal(elm_sim_workload_parse("", &w), ELM_EINVAL);
    assert_int_equal(w, ELM_SIM_BURSTY);
    assert_string_equal(elm_sim_metric_name(ELM_SIM_M_TOK_REDIRECTED), "tok_redirected");
    assert_string_equal(elm_sim_metric_name(ELM_SIM_M_ENERGY), "energy_j");
    elm_sim_scenario_t all[32];
    assert_int_equal(elm_sim_scenarios_all(all, 32), 2 * elm_route_strategy_count());
    assert_int_equal(all[elm_route_strategy_count()].workload, ELM_SIM_BURSTY);
    assert_int_equal(elm_sim_scenarios_all(all, 3), 3);

    elm_cluster_config_t b, e;
    elm_diag_t d;
    assert_int_equal(elm_sim_cluster_builtin(&b, &d), 0);
    load_cluster(&e);
    assert_int_equal(b.window_ms, e.window_ms);
    assert_string_equal(b.strategy, e.strategy);
    assert_int_equal(b.cloud.enabled, e.cloud.enabled);
    assert_string_equal(b.cloud.name, e.cloud.name);
    assert_true(b.cloud.input_per_mtok == e.cloud.input_per_mtok &&
                b.cloud.output_per_mtok == e.cloud.output_per_mtok);
    assert_int_equal(b.n_devices, e.n_devices);
    for (uint32_t i = 0; i < b.n_devices; i++)
        assert_memory_equal(&b.devices[i], &e.devices[i], sizeof b.devices[i]);
}

/* Mean of one total over seeds 1..K. */
static double mean_over_seeds(const elm_cluster_config_t *c, const char *strategy,
                              elm_sim_workload_t w, double (*get)(const elm_sim_result_t *))
{
    enum { K = 8 };
    double sum = 0;
    for (uint64_t s = 1; s <= K; s++) {
        elm_sim_result_t r;
        run(c, strategy, w, s, &r);
        sum += get(&r);
        elm_sim_result_free(&r);
    }
    return sum / K;
}

static double tok_redirected(const elm_sim_result_t *r)
{
    return (double)r->total.tok_redirected;
}
static double cloud_cost(const elm_sim_result_t *r)
{
    return r->total.cloud_cost;
}
static double overflowed(const elm_sim_result_t *r)
{
    return (double)(r->total.redirected + r->total.rejected);
}
static double spread(const elm_sim_result_t *r)
{
    return r->util_spread;
}

static void test_paper_findings(void **state)
{
    (void)state;
    elm_cluster_config_t c;
    load_cluster(&c);
    /* Steady load: capacity-weighted routing redirects fewer tokens and costs less than random. */
    double rt = mean_over_seeds(&c, "random", ELM_SIM_STEADY, tok_redirected);
    double wt = mean_over_seeds(&c, "weighted", ELM_SIM_STEADY, tok_redirected);
    assert_true(wt < 0.75 * rt);
    assert_true(mean_over_seeds(&c, "weighted", ELM_SIM_STEADY, cloud_cost) <
                0.75 * mean_over_seeds(&c, "random", ELM_SIM_STEADY, cloud_cost));
    /* Bursty load: load-aware overflows fewer requests than random and spreads the load more
     * evenly across devices. */
    assert_true(mean_over_seeds(&c, "load-aware", ELM_SIM_BURSTY, overflowed) <
                0.6 * mean_over_seeds(&c, "random", ELM_SIM_BURSTY, overflowed));
    assert_true(mean_over_seeds(&c, "load-aware", ELM_SIM_BURSTY, spread) <
                0.85 * mean_over_seeds(&c, "random", ELM_SIM_BURSTY, spread));
    /* Without a cloud the same overflow is rejected instead. */
    c.cloud.enabled = false;
    elm_sim_result_t r;
    run(&c, "random", ELM_SIM_BURSTY, 1, &r);
    assert_int_equal(r.total.redirected, 0);
    assert_true(r.total.rejected > 0);
    assert_true(r.total.cloud_cost == 0);
    elm_sim_result_free(&r);
}

/* ---- replay ---- */

/* One access-log line as the gateway writes it, with the fields a test varies. */
static char *log_line(char *buf, size_t cap, long long t, const char *decision, const char *reason,
                      const char *device, const char *prompt, int out, const char *tps,
                      const char *outcome)
{
    snprintf(buf, cap,
             "{\"t_ms\":%lld,\"id\":1,\"endpoint\":\"chat\",\"stream\":true,\"est_in\":5,"
             "\"est_out\":40,\"estimated\":true,\"decision\":\"%s\",\"reason\":\"%s\","
             "\"device\":%s,\"attempts\":1,\"status\":200,\"prompt_tokens\":%s,"
             "\"completion_tokens\":%d,\"ttft_ms\":1.5,\"duration_ms\":20,\"tokens_per_s\":%s,"
             "\"cost_usd\":0.25,\"outcome\":\"%s\"}\n",
             t, decision, reason, device, prompt, out, tps, outcome);
    return buf;
}

static void test_log_parse(void **state)
{
    (void)state;
    char l[8][512], text[4096];
    snprintf(
        text, sizeof text, "%s\r\n%s%s   \n%s%s%s",
        log_line(l[0], 512, 1700000002000, "device", "ok", "\"b\"", "7", 30, "20", "served"),
        log_line(l[1], 512, 1700000001000, "device", "ok", "\"a\"", "null", 40, "10.5", "served"),
        log_line(l[2], 512, 1700000000500, "reject", "invalid", "null", "null", 0, "null",
                 "rejected"),
        log_line(l[3], 512, 1700000001000, "cloud", "window_full", "\"cloud\"", "6", 12, "900",
                 "redirected"),
        log_line(l[4], 512, 1700000003000, "reject", "concurrency_full", "null", "null", 0, "null",
                 "rejected"),
        log_line(l[5], 512, 1700000004000, "reject", "key_window_full", "null", "null", 0, "null",
                 "rejected"));
    elm_sim_log_t g;
    elm_diag_t d;
    assert_int_equal(elm_sim_log_parse(text, strlen(text), "a.jsonl", &g, &d), 0);
    assert_int_equal(g.lines, 6);
    assert_int_equal(g.n, 4);
    assert_int_equal(g.skipped_invalid, 1);
    assert_int_equal(g.skipped_key, 1);
    /* by arrival from the first routed one (the invalid line's earlier time does not count);
     * equal times keep the log's order */
    assert_int_equal(g.req[0].t_ms, 0);
    assert_int_equal(g.req[1].t_ms, 0);
    assert_int_equal(g.req[2].t_ms, 1000);
    assert_int_equal(g.req[3].t_ms, 2000);
    assert_int_equal(g.span_ms, 2000);
    /* a: prompt_tokens null gives est_in; the cloud's speed is not a device's */
    assert_int_equal(g.req[0].est_in, 5);
    assert_int_equal(g.req[0].est_out, 40);
    assert_int_equal(g.req[0].in, 5);
    assert_int_equal(g.req[0].out, 40);
    assert_string_equal(g.dev_name[g.req[0].device], "a");
    assert_true(g.req[0].tokens_per_s == 10.5);
    assert_int_equal(g.req[1].device, -1);
    assert_int_equal(g.req[1].in, 6);
    assert_int_equal(g.req[1].out, 12);
    assert_true(g.req[1].tokens_per_s == 0);
    assert_int_equal(g.req[2].in, 7);
    assert_int_equal(g.req[2].out, 30);
    /* a rejected request would have produced its est_out */
    assert_int_equal(g.req[3].out, 40);
    assert_int_equal(g.processed, 2);
    assert_int_equal(g.redirected, 1);
    assert_int_equal(g.rejected, 1);
    assert_int_equal(g.tok_redirected, 18);
    assert_true(fabs(g.cloud_cost - 1.0) < 1e-12);
    assert_int_equal(g.served, 2);
    assert_int_equal(g.out_redirected, 1);
    assert_int_equal(g.out_rejected, 1);
    assert_int_equal(g.n_devices, 2);
    assert_string_equal(g.dev_name[0], "b");
    assert_int_equal(g.dev_served[0], 1);
    assert_int_equal(g.dev_served[1], 1);
    elm_sim_log_free(&g);
    assert_null(g.req);
}

static void test_log_errors(void **state)
{
    (void)state;
    char good[512];
    log_line(good, sizeof good, 1000, "device", "ok", "\"a\"", "3", 4, "null", "served");
    static const struct {
        const char *from, *to, *msg;
    } cases[] = {
        {"{", "[", "x.jsonl:2: not valid JSON"},
        {"\"id\":1", "\"id\":1}{", "x.jsonl:2: text after the JSON object"},
        {"\"reason\":\"ok\"", "\"reason\":\"bad\"", "x.jsonl:2: reason must be one of ok, "},
        {"\"decision\":\"device\"", "\"decision\":7", "x.jsonl:2: decision must be one of device"},
        {"\"outcome\":\"served\"", "\"outcome\":\"done\"", "x.jsonl:2: outcome must be one of"},
        {"\"t_ms\":1000", "\"t_ms\":-1", "x.jsonl:2: t_ms must be a non-negative integer"},
        {"\"est_in\":5", "\"est_in\":5.5", "x.jsonl:2: est_in must be a non-negative integer"},
        {"\"est_out\":40", "\"est_out\":-3", "x.jsonl:2: est_out must be a non-negative integer"},
        {"\"est_out\":40", "\"est_out\":4294967296",
         "x.jsonl:2: est_out must be a non-negative integer"},
        {"\"prompt_tokens\":3", "\"prompt_tokens\":\"3\"",
         "x.jsonl:2: prompt_tokens must be a non-negative integer or null"},
        {"\"completion_tokens\":4", "\"completion\":4",
         "x.jsonl:2: completion_tokens must be a non-negative integer"},
        {"\"tokens_per_s\":null", "\"tokens_per_s\":0",
         "x.jsonl:2: tokens_per_s must be a positive number or null"},
        {"\"cost_usd\":0.25", "\"cost_usd\":-1",
         "x.jsonl:2: cost_usd must be a non-negative number"},
        {"\"device\":\"a\"", "\"device\":null", "x.jsonl:2: device must name the device"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char bad[600], text[1200];
        const char *at = strstr(good, cases[i].from);
        assert_non_null(at);
        snprintf(bad, sizeof bad, "%.*s%s%s", (int)(at - good), good, cases[i].to,
                 at + strlen(cases[i].from));
        snprintf(text, sizeof text, "%s%s", good, bad);
        elm_sim_log_t g;
        elm_diag_t d;
        elm_diag_clear(&d);
        assert_int_equal(elm_sim_log_parse(text, strlen(text), "x.jsonl", &g, &d), ELM_EINVAL);
        if (!strstr(d.msg, cases[i].msg)) fail_msg("case %zu: %s", i, d.msg);
        assert_int_equal(g.n, 0);
        assert_null(g.req);
    }
    /* 65 device names: one more than a cluster holds */
    size_t cap = 65 * 600, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    for (int i = 0; i < 65; i++) {
        char dev[16], line[600];
        snprintf(dev, sizeof dev, "\"d%d\"", i);
        log_line(line, sizeof line, 1000 + i, "device", "ok", dev, "3", 4, "null", "served");
        len += (size_t)snprintf(text + len, cap - len, "%s", line);
    }
    elm_sim_log_t g;
    elm_diag_t d;
    assert_int_equal(elm_sim_log_parse(text, len, "x.jsonl", &g, &d), ELM_EINVAL);
    assert_non_null(strstr(d.msg, "x.jsonl:65: device names more devices than a cluster holds"));
    /* nothing that reached the router */
    log_line(text, cap, 1000, "reject", "invalid", "null", "null", 0, "null", "rejected");
    assert_int_equal(elm_sim_log_parse(text, strlen(text), "x.jsonl", &g, &d), ELM_EINVAL);
    assert_non_null(strstr(d.msg, "x.jsonl: no request that reached the router (1 lines)"));
    assert_int_equal(elm_sim_log_parse("\n \n", 3, "x.jsonl", &g, &d), ELM_EINVAL);
    free(text);
}

/* A one-device cluster: window 100 tokens per 10 s, 4 slots, 1000 tok/s. */
static void small_cluster(elm_cluster_config_t *c)
{
    static const char json[] =
        "{\"window_s\": 10, \"strategy\": \"load-aware\", \"cloud\": {\"enabled\": true},"
        " \"devices\": [{\"name\": \"a\", \"tokens_per_s\": 1000, \"window_tokens\": 100,"
        " \"max_parallel\": 4}, {\"name\": \"b\", \"tokens_per_s\": 5, \"window_tokens\": 1,"
        " \"max_parallel\": 1}]}";
    elm_diag_t d;
    assert_int_equal(elm_cluster_config_parse(json, sizeof json - 1, "small.json", c, &d), 0);
}

static void test_log_speeds(void **state)
{
    (void)state;
    char l[4][512], text[2048];
    snprintf(text, sizeof text, "%s%s%s%s",
             log_line(l[0], 512, 0, "device", "ok", "\"a\"", "1", 1, "30", "served"),
             log_line(l[1], 512, 1, "device", "ok", "\"a\"", "1", 1, "10", "served"),
             log_line(l[2], 512, 2, "device", "ok", "\"a\"", "1", 1, "null", "served"),
             log_line(l[3], 512, 3, "device", "ok", "\"z\"", "1", 1, "99", "served"));
    elm_sim_log_t g;
    elm_diag_t d;
    assert_int_equal(elm_sim_log_parse(text, strlen(text), "s.jsonl", &g, &d), 0);
    elm_cluster_config_t c;
    small_cluster(&c);
    uint32_t n[ELM_ROUTE_MAX_DEVICES];
    assert_int_equal(elm_sim_log_speeds(&g, &c, n), 0);
    /* the median of an even count is the mean of the middle two; b has no sample */
    assert_int_equal(n[0], 2);
    assert_true(c.devices[0].tokens_per_s == 20);
    assert_int_equal(n[1], 0);
    assert_true(c.devices[1].tokens_per_s == 5);
    elm_sim_log_free(&g);
}

static void test_replay_run(void **state)
{
    (void)state;
    /* a reserves 45 and completes with 15 at 10 ms, so b (45 more at 100 ms) fits the 100-token
     * window; c's 45 do not: 60 + 45 > 100 */
    char l[3][512], text[2048];
    snprintf(text, sizeof text, "%s%s%s",
             log_line(l[0], 512, 5000, "device", "ok", "\"a\"", "5", 10, "null", "served"),
             log_line(l[1], 512, 5100, "device", "ok", "\"a\"", "5", 40, "null", "served"),
             log_line(l[2], 512, 5200, "device", "ok", "\"a\"", "5", 40, "null", "served"));
    elm_sim_log_t g;
    elm_diag_t d;
    assert_int_equal(elm_sim_log_parse(text, strlen(text), "r.jsonl", &g, &d), 0);
    elm_cluster_config_t c;
    small_cluster(&c);
    c.n_devices = 1;
    elm_sim_result_t r;
    assert_int_equal(elm_sim_replay(&c, NULL, &g, 100, 1, &r, &d), 0);
    assert_int_equal(r.n_steps, 3);
    assert_int_equal(r.total.requests, 3);
    assert_int_equal(r.total.processed, 2);
    assert_int_equal(r.total.redirected, 1);
    assert_int_equal(r.total.tok_processed, 15 + 45);
    assert_int_equal(r.total.tok_redirected, 45);
    assert_int_equal(r.dev_served[0], 2);
    assert_int_equal(r.steps[2].redirected, 1);
    /* 10 + 40 ms busy of 4 slots over the 200 ms up to the last event */
    assert_true(fabs(r.dev_util[0] - 50.0 / (200 * 4)) < 1e-12);
    elm_sim_result_free(&r);
    assert_int_equal(elm_sim_replay(&c, NULL, &g, 0, 1, &r, &d), ELM_EINVAL);
    /* the same through a comparison's replay scenario */
    elm_sim_scenario_t sc = {ELM_SIM_REPLAY, elm_route_strategy_find("load-aware")};
    elm_sim_sweep_t sw = {.step_ms = 1000, .seed = 1, .n_seeds = 2, .log = &g};
    elm_sim_compare_t x;
    assert_int_equal(elm_sim_compare(&c, &sc, 1, &sw, NULL, NULL, &x, &d), 0);
    assert_string_equal(x.sc[0].label, "replay+load-aware");
    assert_true(x.sc[0].mean[ELM_SIM_M_REDIRECTED] == 1 && x.sc[0].ci95[ELM_SIM_M_REDIRECTED] == 0);
    assert_true(x.sc[0].dev_served[0] == 2);
    elm_sim_compare_free(&x);
    sw.log = NULL;
    assert_int_equal(elm_sim_compare(&c, &sc, 1, &sw, NULL, NULL, &x, &d), ELM_EINVAL);
    assert_non_null(strstr(d.msg, "needs the sweep's log"));
    elm_sim_log_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_determinism),    cmocka_unit_test(test_demand_mix),
        cmocka_unit_test(test_compare_is_mean_of_seeds),
        cmocka_unit_test(test_csv_shape),      cmocka_unit_test(test_json_shape),
        cmocka_unit_test(test_charts),         cmocka_unit_test(test_names_and_builtin),
        cmocka_unit_test(test_paper_findings), cmocka_unit_test(test_log_parse),
        cmocka_unit_test(test_log_errors),     cmocka_unit_test(test_log_speeds),
        cmocka_unit_test(test_replay_run),
    };
    return cmocka_run_group_tests_name("sim", tests, NULL, NULL);
}
