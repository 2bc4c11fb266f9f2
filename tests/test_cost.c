/* The cost table (metrics/costtable.c, metrics/records.c): the records format with every named
 * error, Edge-First's Table I computed from its records, unavailable figures and their reasons,
 * and the store's "no rows" answer. */
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
#include "edgelm/store.h"
#include "testutil.h"

#define assert_near(a, b, tol) assert_true(fabs((double)(a) - (double)(b)) <= (tol))

/* Parse json with default options (or *o); fails the test on an error. */
static elm_cost_row_t *parse_ok(const char *json, elm_cost_opts_t *o, size_t *n)
{
    elm_cost_row_t *rows = NULL;
    elm_diag_t d;
    elm_diag_clear(&d);
    int rc = elm_cost_records_parse(json, strlen(json), "t.json", NULL, o, &rows, n, &d);
    if (rc) fail_msg("parse failed: %s", d.msg);
    assert_non_null(rows);
    return rows;
}

/* ---- Edge-First Table I from its records ---- */

static void test_table1(void **state)
{
    (void)state;
    size_t len, n;
    char *text = elm_test_read_file(elm_test_fixture("metrics/table1.json"), &len);
    assert_non_null(text);
    char *json = realloc(text, len + 1);
    assert_non_null(json);
    json[len] = '\0';
    elm_cost_opts_t o = elm_cost_opts_default();
    elm_cost_row_t *w = parse_ok(json, &o, &n);
    free(json);
    /* the document's alpha and electricity price */
    assert_int_equal(n, 3);
    assert_near(o.alpha, 0.5, 0);
    assert_true(o.has_kwh);
    assert_near(o.cents_per_kwh, 25, 0);
    assert_true(w[0].cloud);
    assert_string_equal(w[0].price.name, "gpt-4");
    assert_string_equal(w[0].r_source, "ttft_s");
    assert_false(w[1].cloud);
    assert_near(w[1].cents_per_kwh, -1, 0);

    elm_cost_table_compute(w, n, &o);
    /* GPT-4: 48 × $30/M + 249 × $60/M = 1.638 ¢ (paper 1.64); U = (0.97 + 0.71) / 2 = 0.84 */
    assert_true(w[0].has_cpr && w[0].has_u && w[0].has_pcr);
    assert_near(w[0].cpr, 1.638, 1e-12);
    assert_near(w[0].cpr_paper, 1.64, 1e-12);
    assert_near(w[0].u, 0.84, 1e-12);
    assert_near(w[0].pcr, 0.84 / 1.638, 1e-12);
    assert_near(round(w[0].pcr_paper * 100) / 100, 0.51, 1e-12);
    /* edge: 0.1646 Wh × 25 ¢/kWh = 0.004115 ¢ (paper 0.0041); U = 0.595; PCR 145.12 printed */
    assert_near(w[1].cpr, 0.004115, 1e-12);
    assert_near(w[1].cpr_paper, 0.0041, 1e-15);
    assert_near(w[1].u, 0.595, 1e-12);
    assert_near(w[1].pcr, 144.5929526, 1e-6);
    assert_near(w[1].pcr_paper, 0.595 / 0.0041, 1e-9);
    assert_near(round(w[1].pcr_paper * 100) / 100, 145.12, 1e-9);
    /* 0.0687 Wh: 0.0017175 ¢ (paper 0.0017); U = 0.565; PCR 332.35 printed */
    assert_near(w[2].cpr, 0.0017175, 1e-12);
    assert_near(w[2].u, 0.565, 1e-12);
    assert_near(round(w[2].pcr_paper * 100) / 100, 332.35, 1e-9);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(w[i].why, "");
    free(w);
}

/* ---- options, prices, R ---- */

static void test_records_options(void **state)
{
    (void)state;
    size_t n;
    /* the caller's alpha and price win over the document's */
    elm_cost_opts_t o = elm_cost_opts_default();
    o.alpha = 1;
    o.has_alpha = true;
    o.cents_per_kwh = 10;
    o.has_kwh = true;
    elm_cost_row_t *w = parse_ok("{\"alpha\": 0.2, \"cents_per_kwh\": 99, \"records\": ["
                                 "{\"platform\": \"pi\", \"wh_per_response\": 2, \"q\": 0.5, "
                                 "\"r\": 0.25},"
                                 "{\"platform\": \"own\", \"wh_per_response\": 2, \"q\": 0.5, "
                                 "\"r\": 0.25, \"cents_per_kwh\": 50}]}",
                                 &o, &n);
    assert_near(o.alpha, 1, 0);
    assert_near(o.cents_per_kwh, 10, 0);
    elm_cost_table_compute(w, n, &o);
    assert_near(w[0].cpr, 2.0 / 1000 * 10, 1e-15);
    assert_near(w[1].cpr, 2.0 / 1000 * 50, 1e-15); /* a row's own price */
    assert_near(w[0].u, 0.5, 0);
    assert_string_equal(w[0].r_source, "r");
    free(w);

    /* a top-level array; a price pair of its own names the price after the platform */
    o = elm_cost_opts_default();
    w = parse_ok("[{\"platform\": \"api\", \"input_tokens\": 1000, \"output_tokens\": 500, "
                 "\"usd_per_m_input\": 2, \"usd_per_m_output\": 8, \"q\": 1, \"r\": 0}]",
                 &o, &n);
    assert_int_equal(n, 1);
    assert_string_equal(w[0].price.name, "api");
    elm_cost_table_compute(w, n, &o);
    /* (1000 × 2 + 500 × 8) / 1e6 dollars = 0.6 ¢; U = 0.5 */
    assert_near(w[0].cpr, 0.6, 1e-12);
    assert_near(w[0].pcr, 0.5 / 0.6, 1e-12);
    free(w);

    /* normalized R: from ttft_s only; a record with just "r" has none, and says why */
    o = elm_cost_opts_default();
    o.r_norm = true;
    o.r_ref = 1;
    w = parse_ok("[{\"platform\": \"a\", \"model\": \"GPT-4\", \"input_tokens\": 48, "
                 "\"output_tokens\": 249, \"q\": 0.97, \"ttft_s\": 0.71, \"r\": 5},"
                 "{\"platform\": \"b\", \"wh_per_response\": 1, \"q\": 0.5, \"r\": 0.3}]",
                 &o, &n);
    assert_true(w[0].has_r);
    assert_string_equal(w[0].r_source, "normalized");
    assert_near(w[0].r, 1 / 1.71, 1e-12);
    assert_false(w[1].has_r);
    assert_string_equal(w[1].why, "normalized R needs \"ttft_s\"");
    free(w);
}

/* ---- every validation error, with its message ---- */

static void expect_bad(const char *json, int code, const char *needle)
{
    elm_cost_opts_t o = elm_cost_opts_default();
    elm_cost_row_t *rows = (elm_cost_row_t *)1;
    size_t n = 7;
    elm_diag_t d;
    elm_diag_clear(&d);
    int rc = elm_cost_records_parse(json, strlen(json), "t.json", NULL, &o, &rows, &n, &d);
    if (rc != code) fail_msg("%s: got %d (%s), want %d", json, rc, d.msg, code);
    assert_null(rows);
    assert_int_equal(n, 0);
    if (!strstr(d.msg, needle)) fail_msg("message '%s' lacks '%s'", d.msg, needle);
}

#define EDGE  "\"platform\": \"x\", \"wh_per_response\": 1"
#define CLOUD "\"platform\": \"x\", \"input_tokens\": 3, \"output_tokens\": 4"

static void test_records_errors(void **state)
{
    (void)state;
    expect_bad("{", ELM_EINVAL, "t.json: not valid JSON");
    expect_bad("{\"alpha\": 2, \"records\": []}", ELM_EINVAL,
               "t.json: \"alpha\" must be a number in [0, 1]");
    expect_bad("{\"cents_per_kwh\": \"x\"}", ELM_EINVAL,
               "t.json: \"cents_per_kwh\" must be a number >= 0");
    expect_bad("{\"records\": []}", ELM_ENOKEY, "t.json: no records (want a non-empty");
    expect_bad("{}", ELM_ENOKEY, "no records");
    expect_bad("[3]", ELM_EINVAL, "t.json: record 0 is not an object");
    expect_bad("[{\"q\": 0.5}]", ELM_ENOKEY, "t.json: record 0 has no \"platform\" name");
    expect_bad("[{\"platform\": \"\", \"q\": 0.5}]", ELM_ENOKEY, "has no \"platform\" name");
    expect_bad("[{" EDGE ", \"q\": \"a\"}]", ELM_EKEYTYPE,
               "t.json: record 0: \"q\" must be a number");
    expect_bad("[{\"platform\": \"x\", \"model\": \"gpt-4\", \"input_tokens\": -5, "
               "\"output_tokens\": 1, \"q\": 0.5, \"r\": 1}]",
               ELM_EINVAL,
               "t.json: record 0: \"input_tokens\" is negative (-5); give a value >= 0");
    expect_bad("[{" EDGE "}]", ELM_ENOKEY, "t.json: record 0 (x) has no quality \"q\"");
    expect_bad("[{" EDGE ", \"q\": 1.5}]", ELM_EINVAL,
               "t.json: record 0 (x): quality \"q\" is 1.5; it must lie in [0, 1]");
    expect_bad("[{" EDGE ", \"q\": 0.5, \"input_tokens\": 3}]", ELM_EINVAL,
               "record 0 (x) has both cloud tokens and \"wh_per_response\"; give one");
    expect_bad("[{\"platform\": \"x\", \"q\": 0.5}]", ELM_ENOKEY,
               "record 0 (x) has neither \"input_tokens\"/\"output_tokens\" (cloud) nor "
               "\"wh_per_response\" (edge)");
    expect_bad("[{\"platform\": \"x\", \"q\": 0.5, \"input_tokens\": 3}]", ELM_ENOKEY,
               "record 0 (x) needs both \"input_tokens\" and \"output_tokens\"");
    expect_bad("[{" CLOUD ", \"q\": 0.5, \"usd_per_m_input\": 1}]", ELM_ENOKEY,
               "record 0 (x): price missing; give both \"usd_per_m_input\" and "
               "\"usd_per_m_output\"");
    expect_bad("[{" CLOUD ", \"q\": 0.5}]", ELM_ENOKEY,
               "record 0 (x): price missing; give \"model\" (a name in the price table)");
    expect_bad("[{" CLOUD ", \"q\": 0.5, \"model\": 5}]", ELM_ENOKEY, "price missing");
    expect_bad("[{" CLOUD ", \"q\": 0.5, \"model\": \"nope\"}]", ELM_ENOKEY,
               "record 0 (x): model \"nope\" is not in the price table (see 'edgelm cost "
               "prices')");
    /* the record's index in the message */
    expect_bad("[{" EDGE ", \"q\": 0.5, \"r\": 1}, {" EDGE ", \"q\": 0.5, \"r\": -1}]", ELM_EINVAL,
               "t.json: record 1: \"r\" is negative");
}

/* ---- unavailable figures ---- */

static void test_unavailable(void **state)
{
    (void)state;
    size_t n;
    elm_cost_opts_t o = elm_cost_opts_default();
    elm_cost_row_t *w = parse_ok("[{" EDGE ", \"q\": 0.5, \"r\": 1},"
                                 "{\"platform\": \"z\", \"wh_per_response\": 0, \"q\": 0.5, "
                                 "\"r\": 1, \"cents_per_kwh\": 25},"
                                 "{" EDGE ", \"q\": 0.5, \"cents_per_kwh\": 25}]",
                                 &o, &n);
    elm_cost_table_compute(w, n, &o);
    /* no electricity price anywhere: no CPR, U still */
    assert_false(w[0].has_cpr);
    assert_true(w[0].has_u);
    assert_false(w[0].has_pcr);
    assert_string_equal(w[0].why, "CPR needs an electricity price: give --cents-per-kwh or "
                                  "\"cents_per_kwh\"");
    /* a zero cost: PCR unavailable, never 0 or infinite */
    assert_true(w[1].has_cpr);
    assert_near(w[1].cpr, 0, 0);
    assert_false(w[1].has_pcr);
    assert_string_equal(w[1].why, "PCR unavailable: the cost per response is 0 (U / 0)");
    /* no R: CPR yes, U and PCR no, the parse-time reason kept */
    assert_true(w[2].has_cpr);
    assert_false(w[2].has_u);
    assert_string_equal(w[2].why, "no responsiveness: give \"r\" or \"ttft_s\"");
    free(w);

    /* a reason from parsing and one from computing are joined */
    elm_cost_row_t row;
    elm_cost_row_init(&row);
    strcpy(row.platform, "pi");
    row.no_wh = true;
    strcpy(row.why, "CPR unavailable: no power sensor");
    row.q = 2; /* out of range: U fails too */
    row.r = 0.5;
    row.has_r = true;
    elm_cost_table_compute(&row, 1, &o);
    assert_false(row.has_cpr || row.has_u || row.has_pcr);
    assert_string_equal(row.why, "CPR unavailable: no power sensor; quality Q is 2; it must lie in "
                                 "[0, 1]");
}

static void test_set_ttft(void **state)
{
    (void)state;
    elm_cost_row_t w;
    elm_diag_t d;
    elm_cost_opts_t o = elm_cost_opts_default();
    elm_cost_row_init(&w);
    assert_near(w.cents_per_kwh, -1, 0);
    assert_int_equal(elm_cost_row_set_ttft(&w, &o, 0.28, &d), 0);
    assert_true(w.has_r);
    assert_near(w.r, 0.28, 0); /* Edge-First: TTFT in s, as it is */
    assert_string_equal(w.r_source, "ttft_s");
    o.r_norm = true;
    o.r_ref = 2;
    assert_int_equal(elm_cost_row_set_ttft(&w, &o, 2, &d), 0);
    assert_near(w.r, 0.5, 1e-15);
    o.r_ref = 0;
    assert_int_equal(elm_cost_row_set_ttft(&w, &o, 2, &d), ELM_EINVAL);
    assert_false(w.has_r);
    assert_non_null(strstr(d.msg, "t_ref"));
}

/* ---- the store ---- */

static void test_store_no_rows(void **state)
{
    (void)state;
    char dir[] = "/tmp/elm-cost-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/r.db", dir);
    elm_store_t *s;
    elm_diag_t d;
    assert_int_equal(elm_store_open(path, &s, &d), 0);
    elm_cost_opts_t o = elm_cost_opts_default();
    elm_cost_row_t *rows = (elm_cost_row_t *)1;
    size_t n = 7;
    assert_int_equal(elm_cost_rows_from_store(s, "qwen", "r.db", &o, &rows, &n, &d), ELM_ENOENT);
    assert_null(rows);
    assert_int_equal(n, 0);
    assert_non_null(strstr(d.msg, "r.db: no model matching 'qwen' has both an 'edgelm eval gsm8k' "
                                  "result and an 'edgelm bench' record with a TTFT"));
    assert_int_equal(elm_cost_rows_from_store(s, NULL, "r.db", &o, &rows, &n, &d), ELM_ENOENT);
    assert_non_null(strstr(d.msg, "r.db: no model has both"));
    elm_store_close(s);
    remove(path);
    remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table1),         cmocka_unit_test(test_records_options),
        cmocka_unit_test(test_records_errors), cmocka_unit_test(test_unavailable),
        cmocka_unit_test(test_set_ttft),       cmocka_unit_test(test_store_no_rows),
    };
    return cmocka_run_group_tests_name("cost", tests, NULL, NULL);
}
