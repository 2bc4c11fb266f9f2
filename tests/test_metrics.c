/* metrics/: the papers' numbers (Edge-First Table I, Sometimes Painful's break-even inputs), the
 * price table and its file, and the named errors for bad input. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "edgelm/metrics.h"
#include "testutil.h"

#define assert_near(a, b, tol) assert_true(fabs((double)(a) - (double)(b)) <= (tol))

/* ---- Edge-First Table I ---- */

static void test_table1_cpr(void **state)
{
    (void)state;
    elm_diag_t d;
    double cpr = -1;
    const elm_price_t *gpt4 = elm_prices_find(elm_prices_default(), "gpt-4");
    assert_non_null(gpt4);
    /* 48 × $30/M + 249 × $60/M = $0.01638: 1.638 ¢, printed 1.65 ¢ by the paper */
    assert_int_equal(elm_cpr_cloud(48, 249, gpt4, &cpr, &d), 0);
    assert_near(cpr, 1.638, 1e-12);
    assert_near(cpr, 1.65, 0.0125);
    assert_near(elm_round_paper(cpr), 1.64, 1e-12);
    /* the paper's 1.65 is exactly 50 in / 250 out at the same prices */
    assert_int_equal(elm_cpr_cloud(50, 250, gpt4, &cpr, &d), 0);
    assert_near(cpr, 1.65, 1e-12);

    /* edge: Wh / 1000 × 25 ¢/kWh */
    assert_int_equal(elm_cpr_edge(0.1646, 25, &cpr, &d), 0);
    assert_near(cpr, 0.004115, 1e-12);
    assert_near(elm_round_paper(cpr), 0.0041, 1e-15);
    assert_int_equal(elm_cpr_edge(0.0687, 25, &cpr, &d), 0);
    assert_near(cpr, 0.0017175, 1e-12);
    assert_near(elm_round_paper(cpr), 0.0017, 1e-15);
}

static void test_table1_u_pcr(void **state)
{
    (void)state;
    static const double q[3] = {0.97, 0.91, 0.80}, r[3] = {0.71, 0.28, 0.33};
    static const double u_paper[3] = {0.84, 0.595, 0.565};
    static const double cpr[3] = {1.638, 0.004115, 0.0017175};
    static const double pcr_paper[3] = {0.51, 145.12, 332.35};
    static const double pcr_exact[3] = {0.5128205, 144.5929526, 328.9665211};
    elm_diag_t d;
    for (int i = 0; i < 3; i++) {
        double u, p, p_paper;
        assert_int_equal(elm_utility(0.5, q[i], r[i], &u, &d), 0);
        assert_near(u, u_paper[i], 1e-12);
        /* the paper divides by its rounded CPRs: reproduce its printed digits */
        assert_int_equal(elm_pcr(u, elm_round_paper(cpr[i]), &p_paper, &d), 0);
        assert_near(round(p_paper * 100) / 100, pcr_paper[i], 1e-9);
        assert_int_equal(elm_pcr(u, cpr[i], &p, &d), 0);
        assert_near(p, pcr_exact[i], 1e-6);
    }
    /* PCR with the printed 1.65 ¢ gives the same 0.51 */
    double p;
    assert_int_equal(elm_pcr(0.84, 1.65, &p, &d), 0);
    assert_near(round(p * 100) / 100, 0.51, 1e-12);
}

static void test_round_paper(void **state)
{
    (void)state;
    assert_near(elm_round_paper(1.638), 1.64, 1e-12);
    assert_near(elm_round_paper(0.0051), 0.01, 1e-12);
    assert_near(elm_round_paper(0.00049876), 0.0005, 1e-15);
    assert_near(elm_round_paper(12.345), 12.35, 1e-9);
    assert_true(elm_round_paper(0) == 0);
    /* a subnormal cost (fuzz_cost found it) stays itself, not NaN */
    assert_true(elm_round_paper(9.881e-324) == 9.881e-324);
}

static void test_responsiveness_norm(void **state)
{
    (void)state;
    elm_diag_t d;
    double r = -1;
    assert_int_equal(elm_responsiveness_norm(0, 1, &r, &d), 0);
    assert_near(r, 1, 0);
    assert_int_equal(elm_responsiveness_norm(1, 1, &r, &d), 0);
    assert_near(r, 0.5, 1e-15);
    assert_int_equal(elm_responsiveness_norm(3, 1, &r, &d), 0);
    assert_near(r, 0.25, 1e-15);
    r = -1;
    assert_int_equal(elm_responsiveness_norm(1, 0, &r, &d), ELM_EINVAL);
    assert_non_null(strstr(d.msg, "t_ref"));
    assert_near(r, -1, 0);
}

/* ---- Sometimes Painful §6 ---- */

static void test_energy_figures(void **state)
{
    (void)state;
    elm_diag_t d;
    double s, usd;
    assert_int_equal(elm_action_per_token(120, 40, &s, &d), 0);
    assert_near(s, 3, 0);
    /* 3.6 J/token is 1 kWh per million tokens: the price per kWh, in dollars */
    assert_int_equal(elm_cost_per_mtok(3.6, 20, &usd, &d), 0);
    assert_near(usd, 0.20, 1e-12);
    assert_int_equal(elm_cost_per_mtok(0.36, 25, &usd, &d), 0);
    assert_near(usd, 0.025, 1e-12);

    elm_battery_t b;
    /* 18.84 Wh battery, 0.5 Wh per 60 s run: 37.68 runs, 37 whole, 0.628 h, 30 W */
    assert_int_equal(elm_battery(18.84, 0.5, 60, &b, &d), 0);
    assert_near(b.runs, 37.68, 1e-9);
    assert_near(b.runs_whole, 37, 0);
    assert_near(b.hours, 0.628, 1e-9);
    assert_near(b.mean_w, 30, 1e-9);

    bool fast;
    double ratio;
    assert_near(ELM_READING_WORDS_PER_S / ELM_WORDS_PER_TOKEN, 5.333, 0.001);
    assert_int_equal(elm_reading_speed(5.3, &fast, &ratio, &d), 0);
    assert_true(fast);
    assert_int_equal(elm_reading_speed(5.29, &fast, &ratio, &d), 0);
    assert_false(fast);
    assert_int_equal(elm_reading_speed(10.6, &fast, &ratio, &d), 0);
    assert_near(ratio, 2, 1e-12);
}

static void test_breakeven_sometimes_painful(void **state)
{
    (void)state;
    elm_diag_t d;
    /* Sometimes Painful's prices: Raspberry Pi 5 $97, Jetson Orin $598.80, 20 ¢/kWh. The energies
     * are illustrative: the Pi spends 0.5 J per input and 2.0 J per output token, the Orin 0.1/0.5.
     */
    elm_device_econ_t pi = {"rpi5", 97.0, 0.5, 2.0, 0};
    elm_device_econ_t orin = {"orin", 598.80, 0.1, 0.5, 0};
    elm_workload_t wl = {1.0, 1.0, 10.0, 20.0};
    elm_breakeven_t r;
    assert_int_equal(elm_breakeven(&pi, &orin, &wl, &r, &d), 0);
    assert_int_equal(r.cheaper, 0);
    assert_near(r.price_diff_usd, 501.80, 1e-9);
    assert_near(r.j_per_token[0], 1.25, 1e-12);
    assert_near(r.j_per_token[1], 0.30, 1e-12);
    /* 9.5 W saved at $0.20/kWh: $0.0019 per hour; 501.80 / 0.0019 h */
    assert_near(r.saving_usd_per_h, 0.0019, 1e-12);
    assert_near(r.seconds / 3600, 501.80 / 0.0019, 1e-6);
    /* tokens at break-even = ΔP / (Δe × price) = 501.80 × 3.6e6 / (0.95 × 0.20) */
    assert_near(r.tokens / (501.80 * 3.6e6 / (0.95 * 0.20)), 1, 1e-12);

    /* half the utilization: twice the time, same tokens (no idle power) */
    elm_breakeven_t h;
    wl.mu = 0.5;
    assert_int_equal(elm_breakeven(&orin, &pi, &wl, &h, &d), 0);
    assert_int_equal(h.cheaper, 1);
    assert_near(h.seconds / r.seconds, 2, 1e-12);
    assert_near(h.tokens / r.tokens, 1, 1e-12);

    /* idle power: an Orin idling at 5 W against a Pi at 2 W eats into the saving */
    pi.idle_w = 2;
    orin.idle_w = 5;
    assert_int_equal(elm_breakeven(&pi, &orin, &wl, &h, &d), 0);
    assert_near(h.w[0], 0.5 * 10 * 1.25 + 0.5 * 2, 1e-12);
    assert_near(h.w[1], 0.5 * 10 * 0.30 + 0.5 * 5, 1e-12);
    assert_true(h.seconds > 2 * r.seconds);

    /* the cheaper device also draws less: never */
    elm_device_econ_t frugal = {"frugal", 97.0, 0.01, 0.01, 0};
    pi.idle_w = orin.idle_w = 0;
    r.seconds = -1;
    assert_int_equal(elm_breakeven(&frugal, &orin, &wl, &r, &d), ELM_ERANGE);
    assert_non_null(strstr(d.msg, "never pays back"));
    assert_near(r.seconds, -1, 0);
}

/* ---- prices ---- */

static void test_prices_default_matches_file(void **state)
{
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s/../../data/prices.json", ELM_FIXTURES_DIR);
    elm_price_table_t t;
    elm_diag_t d;
    assert_int_equal(elm_prices_load(path, &t, &d), 0);
    const elm_price_table_t *def = elm_prices_default();
    assert_int_equal(t.n, def->n);
    for (size_t i = 0; i < t.n; i++) {
        assert_string_equal(t.items[i].name, def->items[i].name);
        assert_true(t.items[i].usd_per_m_in == def->items[i].usd_per_m_in);
        assert_true(t.items[i].usd_per_m_out == def->items[i].usd_per_m_out);
        assert_string_equal(t.items[i].note, def->items[i].note);
    }
    const elm_price_t *mini = elm_prices_find(&t, "GPT-4o-mini");
    assert_non_null(mini);
    assert_true(mini->usd_per_m_in == 0.15 && mini->usd_per_m_out == 0.60);
    assert_null(elm_prices_find(&t, "gpt-5"));
    elm_prices_free(&t);
    assert_null(t.items);
    elm_prices_free(NULL);
}

static void expect_bad_prices(const char *json, int code, const char *needle)
{
    elm_price_table_t t = {(elm_price_t *)1, 7};
    elm_diag_t d;
    assert_int_equal(elm_prices_parse(json, strlen(json), "p.json", &t, &d), code);
    assert_null(t.items);
    assert_int_equal(t.n, 0);
    if (!strstr(d.msg, needle)) fail_msg("message '%s' lacks '%s'", d.msg, needle);
}

static void test_prices_bad(void **state)
{
    (void)state;
    expect_bad_prices("{", ELM_EINVAL, "p.json: not valid JSON");
    expect_bad_prices("{}", ELM_ENOKEY, "no \"prices\" array");
    expect_bad_prices("{\"prices\": []}", ELM_EINVAL, "empty");
    expect_bad_prices("{\"prices\": [{\"usd_per_m_input\": 1, \"usd_per_m_output\": 2}]}",
                      ELM_ENOKEY, "no \"name\"");
    expect_bad_prices("{\"prices\": [{\"name\": \"x\", \"usd_per_m_input\": 1}]}", ELM_ENOKEY,
                      "model \"x\" has no \"usd_per_m_output\"");
    expect_bad_prices("{\"prices\": [{\"name\": \"x\", \"usd_per_m_input\": -1, "
                      "\"usd_per_m_output\": 2}]}",
                      ELM_EINVAL, "\"usd_per_m_input\" is negative");
    expect_bad_prices("{\"prices\": [{\"name\": \"x\", \"usd_per_m_input\": \"1\", "
                      "\"usd_per_m_output\": 2}]}",
                      ELM_EKEYTYPE, "must be a number");
    expect_bad_prices("{\"prices\": [{\"name\": \"x\", \"usd_per_m_input\": 1, "
                      "\"usd_per_m_output\": 2}, {\"name\": \"X\", \"usd_per_m_input\": 1, "
                      "\"usd_per_m_output\": 2}]}",
                      ELM_EEXIST, "listed twice");

    elm_price_table_t t;
    elm_diag_t d;
    assert_int_equal(elm_prices_load("/nonexistent/prices.json", &t, &d), ELM_ENOENT);
    assert_non_null(strstr(d.msg, "/nonexistent/prices.json"));
}

/* ---- bad input: named errors, outputs untouched ---- */

static void test_bad_input(void **state)
{
    (void)state;
    elm_diag_t d;
    double x = -7;
    elm_price_t neg = {"neg", -1, 2, ""};
    assert_int_equal(elm_cpr_cloud(1, 1, &neg, &x, &d), ELM_EINVAL);
    assert_non_null(strstr(d.msg, "neg: price is negative"));
    assert_int_equal(elm_cpr_cloud(1, 1, NULL, &x, &d), ELM_EINVAL);
    assert_non_null(strstr(d.msg, "no price"));
    assert_int_equal(elm_cpr_cloud(-1, 1, elm_prices_default()->items, &x, &d), ELM_EINVAL);
    assert_non_null(strstr(d.msg, "input tokens is negative"));
    assert_int_equal(elm_cpr_edge(0.1, -25, &x, &d), ELM_EINVAL);
    assert_non_null(strstr(d.msg, "electricity price"));
    assert_int_equal(elm_cpr_edge(NAN, 25, &x, &d), ELM_EINVAL);
    assert_non_null(strstr(d.msg, "not a finite number"));
    assert_int_equal(elm_utility(1.5, 0.9, 0.3, &x, &d), ELM_EINVAL);
    assert_non_null(strstr(d.msg, "alpha is 1.5; it must lie in [0, 1]"));
    assert_int_equal(elm_utility(-0.1, 0.9, 0.3, &x, &d), ELM_EINVAL);
    assert_int_equal(elm_utility(0.5, 1.2, 0.3, &x, &d), ELM_EINVAL);
    assert_non_null(strstr(d.msg, "quality Q"));
    assert_int_equal(elm_pcr(0.8, 0, &x, &d), ELM_ERANGE);
    assert_non_null(strstr(d.msg, "PCR unavailable"));
    assert_int_equal(elm_action_per_token(10, 0, &x, &d), ELM_EINVAL);
    assert_non_null(strstr(d.msg, "token count is zero"));
    elm_battery_t b = {-1, -1, -1, -1};
    assert_int_equal(elm_battery(18.84, 0.5, 0, &b, &d), ELM_EINVAL);
    assert_non_null(strstr(d.msg, "duration of a run (s) is zero"));
    assert_int_equal(elm_battery(0, 0.5, 10, &b, &d), ELM_EINVAL);
    assert_near(b.runs, -1, 0);
    assert_near(x, -7, 0);

    elm_device_econ_t a = {"a", 1, 1, 1, 0}, bb = {"b", -2, 1, 1, 0};
    elm_workload_t wl = {1, 1, 1, 20};
    elm_breakeven_t r;
    assert_int_equal(elm_breakeven(&a, &bb, &wl, &r, &d), ELM_EINVAL);
    assert_non_null(strstr(d.msg, "b: purchase price"));
    bb.price_usd = 2;
    wl.mu = 0;
    assert_int_equal(elm_breakeven(&a, &bb, &wl, &r, &d), ELM_EINVAL);
    assert_non_null(strstr(d.msg, "utilization mu"));
    wl.mu = 1;
    wl.tokens_per_s = 0;
    assert_int_equal(elm_breakeven(&a, &bb, &wl, &r, &d), ELM_EINVAL);
    assert_non_null(strstr(d.msg, "tokens per second is zero"));
    assert_int_equal(elm_cpr_cloud(1, 1, &neg, &x, NULL), ELM_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table1_cpr),
        cmocka_unit_test(test_table1_u_pcr),
        cmocka_unit_test(test_round_paper),
        cmocka_unit_test(test_responsiveness_norm),
        cmocka_unit_test(test_energy_figures),
        cmocka_unit_test(test_breakeven_sometimes_painful),
        cmocka_unit_test(test_prices_default_matches_file),
        cmocka_unit_test(test_prices_bad),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
