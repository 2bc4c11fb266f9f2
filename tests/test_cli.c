/* tools/edgelm/cli.c: the option table every command parses its arguments with, the number
 * parsers under it (src/base/parse.c), and the option values several commands share. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cli.h"
#include "edgelm/base.h"
#include "testutil.h"

static void test_parse_numbers(void **state)
{
    (void)state;
    int64_t i = 5;
    assert_int_equal(elm_parse_i64("42", 0, 100, &i), 0);
    assert_int_equal(i, 42);
    assert_int_equal(elm_parse_i64("101", 0, 100, &i), ELM_ERANGE);
    assert_int_equal(elm_parse_i64("99999999999999999999", 0, INT64_MAX, &i), ELM_ERANGE);
    assert_int_equal(elm_parse_i64("4x", 0, 100, &i), ELM_EINVAL);
    assert_int_equal(elm_parse_i64("", 0, 100, &i), ELM_EINVAL);
    assert_int_equal(elm_parse_i64(NULL, 0, 100, &i), ELM_EINVAL);
    assert_int_equal(i, 42); /* left alone on failure */
    double d = 1;
    assert_int_equal(elm_parse_f64("0.25", 0, 1, &d), 0);
    assert_true(d == 0.25);
    assert_int_equal(elm_parse_f64("1e400", -1e300, 1e300, &d), ELM_ERANGE);
    assert_int_equal(elm_parse_f64("inf", -INFINITY, INFINITY, &d), ELM_ERANGE);
    assert_int_equal(elm_parse_f64("nan", -INFINITY, INFINITY, &d), ELM_EINVAL);
    assert_int_equal(elm_parse_f64("1.5 ", 0, 10, &d), ELM_EINVAL);
    assert_int_equal(elm_parse_f64("-0.1", 0, 1, &d), ELM_ERANGE);
    assert_true(d == 0.25);
}

/* The options a test command takes, and where they land. */
typedef struct {
    const char *model;
    bool chat;
    int threads;
    int64_t seed;
    double alpha, rate;
    float temp;
    int pairs;
} vals_t;

static int parse_pair(const char *value, void *dst, char *err, size_t err_len)
{
    if (!strchr(value, ':')) {
        snprintf(err, err_len, "expected SHAPE:QUANT");
        return -1;
    }
    (*(int *)dst)++;
    return 0;
}

/* Run the parser over a NULL-terminated argument list; *npos gets the positional count. */
static int parse(vals_t *v, elm_cli_spec_t *spec_out, char **argv, int *npos)
{
    static elm_opt_t opts[9];
    elm_opt_t table[] = {
        ELM_OPT_STR("--model", "-m", "FILE", &v->model, "the model"),
        ELM_OPT_FLAG("--chat", NULL, &v->chat, "chat"),
        ELM_OPT_INT("--threads", "-t", "N", &v->threads, 1, 8, "threads"),
        ELM_OPT_I64("--seed", NULL, "S", &v->seed, 0, INT64_MAX, "seed"),
        ELM_OPT_NUM("--alpha", NULL, "A", &v->alpha, 0, 1, "weight"),
        ELM_OPT_POS("--rate", NULL, "R", &v->rate, 0, 1e9, "rate"),
        ELM_OPT_F32("--temp", NULL, "T", &v->temp, 0, 100, "temperature"),
        ELM_OPT_FN("--synthetic", NULL, "S:Q", parse_pair, &v->pairs, "shapes"),
        ELM_OPT_END,
    };
    memcpy(opts, table, sizeof table);
    *spec_out =
        (elm_cli_spec_t){.cmd = "test", .head = "usage: test\n", .opts = opts, .max_pos = 2};
    int argc = 0;
    while (argv[argc])
        argc++;
    return elm_cli_parse(spec_out, argc, argv, npos);
}

static void test_options_land(void **state)
{
    (void)state;
    vals_t v = {.threads = 4};
    elm_cli_spec_t spec;
    int npos = -1;
    char *argv[] = {"test",        "in.gguf", "-m",  "a.gguf", "--chat", "-t",     "2",
                    "--seed=7",    "--alpha", "0.5", "--rate", "3",      "--temp", "0.25",
                    "--synthetic", "x:q4_0",  "--",  "-x",     NULL};
    assert_int_equal(parse(&v, &spec, argv, &npos), ELM_CLI_GO);
    assert_string_equal(v.model, "a.gguf");
    assert_true(v.chat);
    assert_int_equal(v.threads, 2);
    assert_int_equal(v.seed, 7);
    assert_true(v.alpha == 0.5 && v.rate == 3 && v.temp == 0.25f);
    assert_int_equal(v.pairs, 1);
    /* Positionals in order at argv[1..], including one after "--" that starts with '-'. */
    assert_int_equal(npos, 2);
    assert_string_equal(argv[1], "in.gguf");
    assert_string_equal(argv[2], "-x");
    assert_true(elm_cli_given(&spec, "--seed"));
    assert_true(elm_cli_given(&spec, "--model"));
}

static void test_option_errors(void **state)
{
    (void)state;
    static char *bad[][4] = {
        {"test", "--bogus", NULL},        {"test", "-t", NULL},
        {"test", "-t", "0", NULL},        {"test", "-t", "two", NULL},
        {"test", "--alpha", "1.5", NULL}, {"test", "--rate", "0", NULL},
        {"test", "--chat=yes", NULL},     {"test", "--synthetic", "nocolon", NULL},
        {"test", "a", "b", "c"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        vals_t v = {.threads = 4};
        elm_cli_spec_t spec;
        char *argv[5] = {0};
        memcpy(argv, bad[k], sizeof bad[k]);
        assert_int_equal(parse(&v, &spec, argv, NULL), 2);
        assert_int_equal(v.threads, 4); /* a refused value is not stored */
    }
    /* --help exits 0; nothing given is reported as given. */
    vals_t v = {0};
    elm_cli_spec_t spec;
    char *help[] = {"test", "--help", NULL};
    assert_int_equal(parse(&v, &spec, help, NULL), 0);
    assert_false(elm_cli_given(&spec, "--model"));
    assert_int_equal(elm_cli_missing(&spec, "--model"), 2);
}

static void test_help_lists_every_option(void **state)
{
    (void)state;
    vals_t v = {0};
    elm_cli_spec_t spec;
    char *argv[] = {"test", NULL};
    assert_int_equal(parse(&v, &spec, argv, NULL), ELM_CLI_GO);
    char buf[4096] = "";
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    assert_non_null(f);
    elm_cli_help(&spec, f);
    fclose(f);
    assert_non_null(strstr(buf, "usage: test\n\noptions:\n"));
    assert_non_null(strstr(buf, "  -m, --model FILE       the model\n"));
    assert_non_null(strstr(buf, "  --chat                 chat\n"));
    assert_non_null(strstr(buf, "  --synthetic S:Q        shapes\n"));
    assert_non_null(strstr(buf, "  -h, --help             this text\n"));
}

/* ELM_OPT_LIST: llama-bench's lists land in the list, a bad one is refused. */
static void test_list_option(void **state)
{
    (void)state;
    elm_bench_list_t threads = {0};
    elm_opt_t opts[] = {
        ELM_OPT_LIST("--threads", "-t", &threads, 1, 8, "threads"),
        ELM_OPT_END,
    };
    elm_cli_spec_t spec = {.cmd = "test", .head = "usage: test\n", .opts = opts};
    char *ok[] = {"test", "-t", "1-3,8", NULL};
    assert_int_equal(elm_cli_parse(&spec, 3, ok, NULL), ELM_CLI_GO);
    assert_int_equal(threads.n, 4);
    assert_int_equal(threads.v[0], 1);
    assert_int_equal(threads.v[2], 3);
    assert_int_equal(threads.v[3], 8);
    char *out_of_range[] = {"test", "--threads=9", NULL};
    assert_int_equal(elm_cli_parse(&spec, 2, out_of_range, NULL), 2);
    char *not_a_list[] = {"test", "-t", "1-", NULL};
    assert_int_equal(elm_cli_parse(&spec, 3, not_a_list, NULL), 2);
    char err[160];
    elm_cli_list_t dst = {&threads, 1, 8};
    assert_int_equal(elm_cli_parse_list("0", &dst, err, sizeof err), -1);
    assert_string_equal(err, "values must lie in 1..8, not '0'"); /* no "-t: " of its own */
}

/* A library message loses the option name it opens with; others are kept whole. */
static void test_reason(void **state)
{
    (void)state;
    elm_diag_t d = {0};
    char err[160] = "untouched";
    assert_int_equal(elm_cli_reason(0, &d, err, sizeof err), 0);
    assert_string_equal(err, "untouched");
    snprintf(d.msg, sizeof d.msg, "--target http://h:99999: the port must be 1..65535");
    assert_int_equal(elm_cli_reason(ELM_EINVAL, &d, err, sizeof err), -1);
    assert_string_equal(err, "the port must be 1..65535");
    snprintf(d.msg, sizeof d.msg, "unknown output format 'xml' (md, json, jsonl, csv)");
    assert_int_equal(elm_cli_reason(ELM_EINVAL, &d, err, sizeof err), -1);
    assert_string_equal(err, "unknown output format 'xml' (md, json, jsonl, csv)");
}

/* The value parsers bench and probe share: what lands, and what a bad value says. */
static void test_shared_values(void **state)
{
    (void)state;
    char err[256];
    elm_bench_format_t fmt = ELM_BENCH_MD;
    assert_int_equal(elm_cli_parse_format("csv", &fmt, err, sizeof err), 0);
    assert_int_equal(fmt, ELM_BENCH_CSV);
    assert_int_equal(elm_cli_parse_format("xml", &fmt, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown output format 'xml'"));

    elm_arrival_t arr;
    assert_int_equal(elm_cli_parse_arrival("poisson:2", &arr, err, sizeof err), 0);
    assert_int_equal(arr.kind, ELM_ARRIVAL_POISSON);
    assert_true(arr.rate == 2);
    assert_int_equal(elm_cli_parse_arrival("poisson:0", &arr, err, sizeof err), -1);
    assert_true(!strncmp(err, "expected closed, poisson:RATE", 29));

    const char *url = NULL;
    assert_int_equal(elm_cli_parse_url("http://127.0.0.1:8080/v1", &url, err, sizeof err), 0);
    assert_string_equal(url, "http://127.0.0.1:8080/v1");
    assert_int_equal(elm_cli_parse_url("https://h:1", &url, err, sizeof err), -1);
    assert_true(!strncmp(err, "https is not supported", 22));
    assert_string_equal(url, "http://127.0.0.1:8080/v1"); /* a refused URL is not stored */

    elm_power_kind_t kind = ELM_POWER_KIND_COUNT;
    assert_int_equal(elm_cli_parse_power("hwmon", &kind, err, sizeof err), 0);
    assert_int_equal(kind, ELM_POWER_HWMON);
    assert_int_equal(elm_cli_parse_power("bogus", &kind, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown power source 'bogus'"));
}

/* --synthetic: every SHAPE:QUANT of the list must name a known shape and type, F32 included. */
static void test_synthetic_specs(void **state)
{
    (void)state;
    assert_true(elm_cli_synth_spec_valid("smollm2-135m:q4_0"));
    assert_true(elm_cli_synth_spec_valid("qwen2.5-0.5b:Q4_K_M"));
    assert_true(elm_cli_synth_spec_valid("smollm2-135m:f32"));
    assert_false(elm_cli_synth_spec_valid("gpt5:q4_0"));
    assert_false(elm_cli_synth_spec_valid("smollm2-135m:q3_k_xl"));
    assert_false(elm_cli_synth_spec_valid("smollm2-135m"));
    char err[256];
    const char *list = NULL;
    assert_int_equal(
        elm_cli_parse_synthetic("smollm2-135m:q4_0,qwen2.5-0.5b:f16", &list, err, sizeof err), 0);
    assert_string_equal(list, "smollm2-135m:q4_0,qwen2.5-0.5b:f16");
    list = NULL;
    assert_int_equal(
        elm_cli_parse_synthetic("smollm2-135m:q4_0,nosuch:q4_0", &list, err, sizeof err), -1);
    assert_null(list);
    assert_non_null(strstr(err, "expected SHAPE:QUANT"));
    assert_int_equal(elm_cli_parse_synthetic("", &list, err, sizeof err), -1);
}

/* The rules between --power and the values its source needs. */
static void test_power_check(void **state)
{
    (void)state;
    elm_probe_ctx_t ctx = {0};
    assert_int_equal(elm_cli_power_check("test", false, ELM_POWER_KIND_COUNT, &ctx), ELM_CLI_GO);
    assert_int_equal(elm_cli_power_check("test", true, ELM_POWER_CONSTANT, &ctx), 2);
    assert_int_equal(elm_cli_power_check("test", true, ELM_POWER_CMD, &ctx), 2);
    assert_int_equal(elm_cli_power_check("test", true, ELM_POWER_ESTIMATE, &ctx), 2);
    ctx.watts = 5;
    assert_int_equal(elm_cli_power_check("test", true, ELM_POWER_CONSTANT, &ctx), ELM_CLI_GO);
    ctx.command = "echo 3";
    assert_int_equal(elm_cli_power_check("test", true, ELM_POWER_CMD, &ctx), ELM_CLI_GO);
    ctx.tdp_w = 15;
    assert_int_equal(elm_cli_power_check("test", true, ELM_POWER_ESTIMATE, &ctx), ELM_CLI_GO);
    assert_int_equal(elm_cli_power_check("test", false, ELM_POWER_KIND_COUNT, &ctx), 2);
    assert_int_equal(elm_cli_power_check("test", true, ELM_POWER_RAPL, &ctx), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_numbers), cmocka_unit_test(test_options_land),
        cmocka_unit_test(test_option_errors), cmocka_unit_test(test_help_lists_every_option),
        cmocka_unit_test(test_list_option),   cmocka_unit_test(test_reason),
        cmocka_unit_test(test_shared_values), cmocka_unit_test(test_synthetic_specs),
        cmocka_unit_test(test_power_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
