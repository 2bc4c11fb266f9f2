/* sim/: seed determinism, the workload's demand mix, confidence intervals, the SVG writer, and
 * paper 000's findings on the built-in scenarios as assertions on means over several seeds. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

static void test_ci_and_svg(void **state)
{
    (void)state;
    double m, h, x[] = {1, 2, 3, 4};
    elm_sim_ci95(x, 4, &m, &h);
    assert_true(fabs(m - 2.5) < 1e-12);
    assert_true(fabs(h - 3.182 * sqrt(5.0 / 3) / 2) < 1e-9);
    elm_sim_ci95(x, 1, &m, &h);
    assert_true(m == 1 && h == 0);
    const char *groups[] = {"steady+random", "a<b&c"}, *series[] = {"processed", "redirected"};
    double val[] = {10, 2, 8, 4}, err[] = {1, 0.5, 1, 0.5};
    char *svg = elm_sim_svg_bars("Requests", "requests", 2, groups, 2, series, val, err);
    assert_non_null(svg);
    assert_non_null(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert_non_null(strstr(svg, "a&lt;b&amp;c"));
    assert_non_null(strstr(svg, "<title>10</title>"));
    assert_non_null(strstr(svg, "</svg>"));
    free(svg);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_demand_mix),
        cmocka_unit_test(test_ci_and_svg),
        cmocka_unit_test(test_paper_findings),
    };
    return cmocka_run_group_tests_name("sim", tests, NULL, NULL);
}
