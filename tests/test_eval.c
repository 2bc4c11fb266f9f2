/* eval/: perplexity equal to llama-perplexity's on stories260K, its trailing-newline rule and
 * record, the short-text error, GSM8K answer extraction on crafted responses, the JSON-lines
 * errors, the stratified sampler's proportions and determinism, the prompt, a whole GSM8K run with
 * its callback, summary and records, the default data path and its error, and the Wilson
 * interval. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "edgelm/eval.h"
#include "testutil.h"

#define assert_near(a, b, tol) assert_true(fabs((double)(a) - (double)(b)) <= (tol))

/* Field k of the record r is the string (the number) want. */
static void field_str(const cJSON *r, const char *k, const char *want)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, k);
    assert_true(cJSON_IsString(v));
    assert_string_equal(v->valuestring, want);
}

static void field_num(const cJSON *r, const char *k, double want)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, k);
    assert_true(cJSON_IsNumber(v));
    assert_near(v->valuedouble, want, 0);
}

/* ---- perplexity ---- */

typedef struct {
    const double *want; /* llama-perplexity's printed running values */
    size_t n_seen;
} chunk_check_t;

static bool check_chunk(void *user, const elm_ppl_chunk_t *c)
{
    chunk_check_t *k = user;
    assert_int_equal(c->chunk, k->n_seen);
    assert_near(c->cum_ppl, k->want[c->chunk], 0.00005 + 1e-9);
    k->n_seen++;
    return true;
}

/* The sample text as the file holds it, ending in a newline. */
static char *sample_text(size_t *len)
{
    const char *path = elm_test_data("reference/ppl/tinystories_sample.txt");
    if (!path) return NULL;
    char *text = elm_test_read_file(path, len);
    assert_non_null(text);
    assert_true(*len > 0 && text[*len - 1] == '\n');
    return text;
}

static void test_ppl_matches_llama(void **state)
{
    (void)state;
    const char *found = elm_test_data("reference/models/stories260K-F32.gguf");
    if (!found) return;
    char mp[4096];
    snprintf(mp, sizeof mp, "%s", found); /* elm_test_data's buffer is reused below */
    size_t len;
    char *text = sample_text(&len);
    if (!text) return;
    elm_model_t *m = NULL;
    elm_diag_t d;
    assert_int_equal(elm_model_load(mp, NULL, NULL, &m, &d), 0);

    /* -c 128 -ctk f32 -ctv f32: PPL 6.8453 +/- 0.74214; the replica's unrounded 6.845286511 */
    static const double c128[] = {4.0931, 3.7347, 5.6346, 5.7087, 5.1441, 6.8430, 5.9675,
                                  7.7287, 7.4637, 7.1539, 7.7833, 7.6982, 7.3455, 6.8453};
    chunk_check_t k = {c128, 0};
    elm_ppl_params_t p = elm_ppl_default_params(); /* drops the newline, as llama's -f does */
    p.n_ctx = 128;
    p.n_threads = 2;
    p.kv_type = ELM_TYPE_F32;
    elm_ppl_result_t r;
    assert_int_equal(elm_ppl_text(m, text, len, &p, check_chunk, &k, &r, &d), 0);
    assert_int_equal(k.n_seen, 14);
    assert_int_equal(r.n_tokens, 1882);
    assert_int_equal(r.n_chunks, 14);
    assert_int_equal(r.n_scored, 14 * 63);
    assert_true(fabs(r.ppl / 6.845286511 - 1) < 1e-5);
    assert_near(r.ppl_err, 0.74214, 0.000005 + 1e-9);

    /* -c 256 with the default f16 cache: 6.8983 +/- 0.77037, within 0.1 % */
    p.n_ctx = 256;
    p.kv_type = ELM_TYPE_F16;
    assert_int_equal(elm_ppl_text(m, text, len, &p, NULL, NULL, &r, &d), 0);
    assert_int_equal(r.n_chunks, 7);
    assert_true(fabs(r.ppl / 6.8983 - 1) < 1e-3);

    /* fewer than two chunks' worth: named, with the count needed */
    p.n_ctx = 1024;
    assert_int_equal(elm_ppl_text(m, text, len, &p, NULL, NULL, &r, &d), ELM_EINVAL);
    assert_non_null(strstr(d.msg, "1882 tokens"));
    assert_non_null(strstr(d.msg, "at least 2048 tokens"));
    assert_int_equal(r.n_chunks, 0);

    elm_model_free(m);
    free(text);
}

/* The text rule is a parameter: the default drops one trailing newline, so the whole file gives
 * what the trimmed text gives without the rule (the command and a library caller agree); keeping
 * the newline tokenizes it too. The record carries the run's settings and result. */
static void test_ppl_text_rule_and_record(void **state)
{
    (void)state;
    const char *found = elm_test_data("reference/models/stories260K-F32.gguf");
    if (!found) return;
    char mp[4096];
    snprintf(mp, sizeof mp, "%s", found);
    size_t len;
    char *text = sample_text(&len);
    if (!text) return;
    elm_model_t *m = NULL;
    elm_diag_t d;
    assert_int_equal(elm_model_load(mp, NULL, NULL, &m, &d), 0);
    elm_ppl_params_t p = elm_ppl_default_params();
    assert_true(p.drop_trailing_newline);
    p.n_ctx = 128;
    p.n_threads = 2;
    p.kv_type = ELM_TYPE_F32;
    elm_ppl_result_t whole, trimmed, kept;
    assert_int_equal(elm_ppl_text(m, text, len, &p, NULL, NULL, &whole, &d), 0);
    p.drop_trailing_newline = false;
    assert_int_equal(elm_ppl_text(m, text, len - 1, &p, NULL, NULL, &trimmed, &d), 0);
    assert_int_equal(elm_ppl_text(m, text, len, &p, NULL, NULL, &kept, &d), 0);
    assert_int_equal(whole.n_tokens, 1882);
    assert_int_equal(trimmed.n_tokens, whole.n_tokens);
    assert_true(whole.ppl == trimmed.ppl && whole.ppl_err == trimmed.ppl_err);
    assert_int_equal(kept.n_tokens, 1883);

    p.drop_trailing_newline = true;
    cJSON *r = elm_ppl_record("m.gguf", "t.txt", &p, &whole, 1.5);
    assert_non_null(r);
    field_str(r, "model", "m.gguf");
    field_str(r, "file", "t.txt");
    field_str(r, "kv_type", "f32");
    field_num(r, "n_ctx", 128);
    field_num(r, "n_batch", 512);
    field_num(r, "threads", 2);
    field_num(r, "n_tokens", 1882);
    field_num(r, "n_chunks", 14);
    field_num(r, "n_scored", 882);
    field_num(r, "mean_nll", whole.mean_nll);
    field_num(r, "ppl", whole.ppl);
    field_num(r, "ppl_err", whole.ppl_err);
    field_num(r, "seconds", 1.5);
    cJSON_Delete(r);

    const elm_ppl_chunk_t c = {.chunk = 2, .ppl = 5.5, .cum_ppl = 4.25, .cum_err = 0.5};
    r = elm_ppl_chunk_record(&c);
    assert_non_null(r);
    field_num(r, "chunk", 3); /* 1-based, as printed */
    field_num(r, "ppl", 5.5);
    field_num(r, "cumulative_ppl", 4.25);
    field_num(r, "cumulative_err", 0.5);
    cJSON_Delete(r);
    elm_model_free(m);
    free(text);
}

static void test_ppl_short_tokens(void **state)
{
    (void)state;
    const char *mp = elm_test_data("reference/models/stories260K-F32.gguf");
    if (!mp) return;
    elm_model_t *m = NULL;
    elm_diag_t d;
    assert_int_equal(elm_model_load(mp, NULL, NULL, &m, &d), 0);
    int32_t toks[15] = {1};
    elm_ppl_params_t p = elm_ppl_default_params();
    p.n_ctx = 8;
    elm_ppl_result_t r;
    assert_int_equal(elm_ppl_tokens(m, toks, 15, 1, &p, NULL, NULL, &r, &d), ELM_EINVAL);
    assert_non_null(strstr(d.msg, "needs at least 16 tokens"));
    p.n_ctx = 2;
    assert_int_equal(elm_ppl_tokens(m, toks, 15, 1, &p, NULL, NULL, &r, &d), ELM_EINVAL);
    assert_non_null(strstr(d.msg, "at least 4"));
    /* 16 tokens, 2 chunks of 8, 3 scored each */
    for (int i = 1; i < 15; i++)
        toks[i] = 300 + i;
    p.n_ctx = 8;
    int32_t sixteen[16];
    memcpy(sixteen, toks, sizeof toks);
    sixteen[15] = 42;
    assert_int_equal(elm_ppl_tokens(m, sixteen, 16, 1, &p, NULL, NULL, &r, &d), 0);
    assert_int_equal(r.n_chunks, 2);
    assert_int_equal(r.n_scored, 6);
    assert_true(r.ppl > 1 && isfinite(r.ppl));
    sixteen[3] = 9999;
    assert_int_equal(elm_ppl_tokens(m, sixteen, 16, 1, &p, NULL, NULL, &r, &d), ELM_EINVAL);
    assert_non_null(strstr(d.msg, "outside the vocabulary"));
    elm_model_free(m);
}

/* ---- answer extraction ---- */

static void test_extract(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        bool found;
        double value;
    } cases[] = {
        {"She makes 9 * 2 = $18 every day.\n#### 18", true, 18},
        {"#### -7", true, -7},
        {"The loss was 5-3 = 2 dollars.\n#### -12.5", true, -12.5},
        {"The answer is 1,234.", true, 1234},
        {"So the answer is $5.00", true, 5},
        {"THE ANSWER IS: 42 apples", true, 42},
        {"It costs $5.00 in total.", true, 5},
        {"She walks 3.75 miles.", true, 3.75},
        {"16 - 3 - 4 = 9 eggs", true, 9},
        {"5-3", true, 3},
        {"It was -5 degrees, then 7.", true, 7},
        {"It dropped to -5 degrees.", true, -5},
        {"#### 1,000,000", true, 1000000},
        {"I said 12. The answer is 7. Then 99.", true, 7},
        {"#### 3\nLater 5\n#### 4 dollars", true, 4},
        {"#### none. The total is 8 cm.", true, 8},
        {"Answer: 10.5.", true, 10.5},
        {"a list 1, 2, 3", true, 3},
        {"no number here", false, 0},
        {"", false, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double v = -1;
        bool found = elm_gsm8k_extract(cases[i].text, &v);
        if (found != cases[i].found || v != cases[i].value)
            fail_msg("'%s': got %d %g, wanted %d %g", cases[i].text, found, v, cases[i].found,
                     cases[i].value);
    }
}

/* ---- data ---- */

static void test_parse(void **state)
{
    (void)state;
    elm_gsm8k_set_t *s = NULL;
    elm_diag_t d;
    const char good[] =
        "{\"question\": \"Two plus two?\", \"answer\": \"2+2=<<2+2=4>>4\\n#### 4\", "
        "\"x\": 1}\n\n  \n{\"answer\": \"#### 1,250\", \"question\": \"q\"}\n";
    assert_int_equal(elm_gsm8k_parse(good, strlen(good), "t.jsonl", &s, &d), 0);
    assert_int_equal(s->n, 2);
    assert_string_equal(s->items[0].question, "Two plus two?");
    assert_near(s->items[0].expected, 4, 0);
    assert_int_equal(s->items[1].line, 4);
    assert_near(s->items[1].expected, 1250, 0);

    /* the prompt: worked examples without calculator annotations, then the question */
    char *prompt = NULL;
    assert_int_equal(elm_gsm8k_prompt(s, 1, "How many?", ELM_CHAT_CHATML, &prompt, &d), 0);
    assert_non_null(strstr(prompt, "<|im_start|>user\nTwo plus two?"));
    assert_non_null(strstr(prompt, "<|im_start|>assistant\n2+2=4\n#### 4<|im_end|>"));
    assert_null(strstr(prompt, "<<"));
    assert_non_null(strstr(prompt, "How many?"));
    assert_non_null(strstr(prompt, "####"));
    free(prompt);
    assert_int_equal(elm_gsm8k_prompt(s, 3, "q", ELM_CHAT_CHATML, &prompt, &d), ELM_EINVAL);
    assert_null(prompt);
    assert_non_null(strstr(d.msg, "3 worked examples asked for, 2 available"));
    elm_gsm8k_free(s);

    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"{\"question\": \"a\", \"answer\": \"#### 1\"}\n{\"question\": \"b\", \"answer\n",
         "x.jsonl: line 2: not valid JSON"},
        {"{\"question\": \"a\"}\n", "x.jsonl: line 1: no \"answer\" field"},
        {"\n{\"answer\": \"#### 2\"}", "x.jsonl: line 2: no \"question\" field"},
        {"{\"question\": \"a\", \"answer\": 3}", "line 1: \"answer\" is not a string"},
        {"{\"question\": \"a\", \"answer\": \"three\"}", "line 1: the answer has no final"},
        {"[1, 2]", "line 1: not a JSON object"},
        {"{\"question\": \"a\", \"answer\": \"#### 1\"} trailing", "line 1: not valid JSON"},
        {"\n\n", "x.jsonl: no questions"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s = (elm_gsm8k_set_t *)1;
        assert_int_equal(elm_gsm8k_parse(bad[i].text, strlen(bad[i].text), "x.jsonl", &s, &d),
                         ELM_EINVAL);
        assert_null(s);
        if (!strstr(d.msg, bad[i].msg)) fail_msg("case %zu: '%s' lacks '%s'", i, d.msg, bad[i].msg);
    }
    assert_int_equal(elm_gsm8k_load("/nonexistent/test.jsonl", &s, &d), ELM_ENOENT);
    assert_non_null(strstr(d.msg, "/nonexistent/test.jsonl"));
}

/* ---- stratified sample ---- */

/* 100 questions whose lengths are 100, 99, ..., 1 characters. */
static elm_gsm8k_set_t *ladder(void)
{
    elm_gsm8k_set_t *s = calloc(1, sizeof *s);
    s->n = 100;
    s->items = calloc(s->n, sizeof *s->items);
    for (size_t i = 0; i < s->n; i++) {
        size_t len = 100 - i;
        s->items[i].question = malloc(len + 1);
        memset(s->items[i].question, 'q', len);
        s->items[i].question[len] = '\0';
    }
    return s;
}

static void test_sample(void **state)
{
    (void)state;
    elm_gsm8k_set_t *s = ladder();
    elm_diag_t d;
    size_t ids[100], again[100], per[4];

    /* 10 of 100 in quartiles of 25: 2.5 each, the remainders go to the shorter strata */
    assert_int_equal(elm_gsm8k_sample(s, 10, 7, 4, ids, per, &d), 0);
    size_t want[4] = {3, 3, 2, 2}, got[4] = {0};
    for (size_t i = 0; i < 10; i++) {
        if (i) assert_true(ids[i] > ids[i - 1]); /* increasing, so distinct */
        assert_true(ids[i] < 100);
        size_t len = strlen(s->items[ids[i]].question);
        got[(len - 1) / 25]++;
    }
    for (size_t k = 0; k < 4; k++) {
        assert_int_equal(per[k], want[k]);
        assert_int_equal(got[k], want[k]);
    }
    /* reproducible; another seed draws other questions */
    assert_int_equal(elm_gsm8k_sample(s, 10, 7, 4, again, NULL, &d), 0);
    assert_memory_equal(ids, again, sizeof(size_t) * 10);
    assert_int_equal(elm_gsm8k_sample(s, 10, 8, 4, again, NULL, &d), 0);
    assert_memory_not_equal(ids, again, sizeof(size_t) * 10);

    /* 40 of 100 in 3 strata of 33/33/34: 13.2, 13.2, 13.6 -> 13, 13, 14 */
    size_t per3[3];
    assert_int_equal(elm_gsm8k_sample(s, 40, 1, 3, ids, per3, &d), 0);
    assert_int_equal(per3[0], 13);
    assert_int_equal(per3[1], 13);
    assert_int_equal(per3[2], 14);

    /* the whole set, in order */
    assert_int_equal(elm_gsm8k_sample(s, 500, 1, 4, ids, per, &d), 0);
    for (size_t i = 0; i < 100; i++)
        assert_int_equal(ids[i], i);
    assert_int_equal(elm_gsm8k_sample(s, 0, 1, 4, ids, per, &d), ELM_EINVAL);
    assert_int_equal(elm_gsm8k_sample(s, 5, 1, 0, ids, per, &d), ELM_EINVAL);
    elm_gsm8k_free(s);
}

static void test_sample_gsm8k_test_split(void **state)
{
    (void)state;
    const char *path = elm_test_data("gsm8k/test.jsonl");
    if (!path) return;
    elm_gsm8k_set_t *s = NULL;
    elm_diag_t d;
    assert_int_equal(elm_gsm8k_load(path, &s, &d), 0);
    assert_int_equal(s->n, 1319);
    assert_near(s->items[0].expected, 18, 0);
    size_t ids[100], per[4];
    assert_int_equal(elm_gsm8k_sample(s, 100, 0, 4, ids, per, &d), 0);
    for (size_t k = 0; k < 4; k++)
        assert_int_equal(per[k], 25);

    /* the worked examples default to train.jsonl beside the questions */
    elm_gsm8k_set_t *shots = NULL;
    assert_int_equal(elm_gsm8k_load_shots(s, NULL, &shots, &d), 0);
    size_t n = strlen(shots->name);
    assert_true(n > 17 && !strcmp(shots->name + n - 17, "gsm8k/train.jsonl"));
    assert_int_equal(shots->n, 7473);
    elm_gsm8k_free(shots);
    assert_int_equal(elm_gsm8k_load_shots(s, "/nonexistent/t.jsonl", &shots, &d), ELM_ENOENT);
    assert_null(shots);
    assert_non_null(strstr(d.msg, "/nonexistent/t.jsonl: cannot open"));
    elm_gsm8k_free(s);
}

/* ---- a whole GSM8K run ---- */

typedef struct {
    size_t calls, correct, stop_after;
    uint64_t tokens;
    double time_ms;
    size_t ids[4];
} run_log_t;

static int log_item(void *user, const elm_gsm8k_step_t *st, elm_diag_t *d)
{
    run_log_t *k = user;
    assert_int_equal(st->i, k->calls);
    assert_int_equal(st->n, 2);
    assert_non_null(strstr(st->prompt, st->item->question));
    assert_true(st->answer->n_tokens >= 1 && st->answer->n_tokens <= 3);
    assert_true(st->answer->n_prompt > 0);
    assert_non_null(st->answer->response);
    assert_true(st->answer->correct == (st->answer->has_answer &&
                                        st->answer->extracted == st->item->expected));
    cJSON *r = elm_gsm8k_item_record(st);
    assert_non_null(r);
    field_str(r, "type", "question");
    field_num(r, "id", st->id);
    field_num(r, "line", st->item->line);
    field_str(r, "prompt", st->prompt);
    field_str(r, "response", st->answer->response);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(r, "extracted")) == !st->answer->has_answer);
    field_num(r, "expected", st->item->expected);
    field_num(r, "tokens", st->answer->n_tokens);
    cJSON_Delete(r);
    k->ids[k->calls] = st->id;
    k->correct += st->answer->correct;
    k->tokens += st->answer->n_tokens;
    k->time_ms += st->answer->time_ms;
    if (++k->calls == k->stop_after) return elm_diag(d, ELM_EIO, "sink full");
    return 0;
}

static void test_gsm8k_run(void **state)
{
    (void)state;
    const char *mp = elm_test_data("reference/models/stories260K-F32.gguf");
    if (!mp) return;
    const char data[] = "{\"question\": \"One plus one?\", \"answer\": \"#### 2\"}\n"
                        "{\"question\": \"Three times three, then minus one?\", \"answer\": \"#### 8\"}\n"
                        "{\"question\": \"Ten?\", \"answer\": \"#### 10\"}\n";
    elm_diag_t d;
    elm_gsm8k_set_t *set = NULL;
    elm_model_t *m = NULL;
    elm_tokenizer_t *tok = NULL;
    elm_session_t *s = NULL;
    assert_int_equal(elm_gsm8k_parse(data, strlen(data), "tiny.jsonl", &set, &d), 0);
    assert_string_equal(set->name, "tiny.jsonl");
    assert_int_equal(elm_model_load(mp, NULL, NULL, &m, &d), 0);
    assert_int_equal(elm_tokenizer_from_gguf(elm_model_gguf(m), &tok, &d), 0);
    elm_session_params_t sp = elm_session_default_params();
    assert_int_equal(elm_session_create(m, &sp, &s, &d), 0);

    elm_gsm8k_params_t p = elm_gsm8k_default_params();
    assert_int_equal(p.n, 100);
    assert_int_equal(p.n_strata, 4);
    assert_int_equal(p.max_tokens, 256);
    p.n = 2;
    p.n_strata = 1;
    p.seed = 7;
    p.max_tokens = 3;
    elm_gsm8k_summary_t sum;
    assert_int_equal(elm_gsm8k_plan(set, &p, &sum, &d), 0);
    assert_int_equal(sum.n, 2);
    assert_int_equal(sum.n_total, 3);
    assert_int_equal(sum.n_strata, 1);
    assert_int_equal(sum.per_stratum[0], 2);
    assert_true(sum.ids[0] < sum.ids[1] && sum.ids[1] < 3);

    run_log_t k = {0};
    assert_int_equal(
        elm_gsm8k_run(s, tok, ELM_CHAT_CHATML, set, NULL, &p, log_item, &k, &sum, &d), 0);
    assert_int_equal(k.calls, 2);
    assert_int_equal(k.ids[0], sum.ids[0]);
    assert_int_equal(k.ids[1], sum.ids[1]);
    assert_int_equal(sum.correct, k.correct);
    assert_int_equal(sum.tokens, k.tokens);
    assert_near(sum.time_ms, k.time_ms, 1e-9);
    assert_near(sum.accuracy, k.correct / 2.0, 0);
    double lo, hi;
    elm_stats_wilson95(k.correct, 2, &lo, &hi);
    assert_near(sum.ci95_low, lo, 0);
    assert_near(sum.ci95_high, hi, 0);

    cJSON *r = elm_gsm8k_summary_record("m.gguf", set, &p, ELM_CHAT_CHATML, &sum);
    assert_non_null(r);
    field_str(r, "type", "summary");
    field_str(r, "data", "tiny.jsonl");
    field_str(r, "chat_template", "chatml");
    field_num(r, "n", 2);
    field_num(r, "n_total", 3);
    field_num(r, "seed", 7);
    field_num(r, "max_tokens", 3);
    field_num(r, "tokens", (double)k.tokens);
    cJSON *ids = cJSON_GetObjectItem(r, "ids");
    assert_int_equal(cJSON_GetArraySize(ids), 2);
    assert_near(cJSON_GetArrayItem(ids, 1)->valuedouble, sum.ids[1], 0);
    cJSON_Delete(r);

    /* the callback's error stops the run after that question and comes back unchanged */
    run_log_t stop = {.stop_after = 1};
    assert_int_equal(
        elm_gsm8k_run(s, tok, ELM_CHAT_CHATML, set, NULL, &p, log_item, &stop, &sum, &d), ELM_EIO);
    assert_int_equal(stop.calls, 1);
    assert_string_equal(d.msg, "sink full");

    /* a failed answer names the set, the question and its line */
    elm_session_free(s);
    sp.n_ctx = 8;
    assert_int_equal(elm_session_create(m, &sp, &s, &d), 0);
    assert_int_equal(elm_gsm8k_run(s, tok, ELM_CHAT_CHATML, set, NULL, &p, NULL, NULL, &sum, &d),
                     ELM_ERANGE);
    char want[64];
    snprintf(want, sizeof want, "tiny.jsonl: question %zu (line %zu): ", sum.ids[0],
             sum.ids[0] + 1);
    assert_non_null(strstr(d.msg, want));
    assert_non_null(strstr(d.msg, "leaves no room"));

    elm_gsm8k_summary_free(&sum);
    assert_null(sum.ids);
    elm_gsm8k_summary_free(NULL);
    elm_session_free(s);
    elm_tokenizer_free(tok);
    elm_model_free(m);
    elm_gsm8k_free(set);
}

/* The users' default data: under XDG_DATA_HOME, else HOME; missing, an error naming the path and
 * the fix. */
static void test_gsm8k_default_path(void **state)
{
    (void)state;
    char dir[] = "/tmp/elm-eval-XXXXXX", buf[512], want[512];
    elm_diag_t d;
    assert_non_null(mkdtemp(dir));
    snprintf(want, sizeof want, "%s/edgelm/gsm8k/test.jsonl", dir);
    assert_int_equal(elm_gsm8k_default_path(dir, "/nohome", buf, sizeof buf, &d), ELM_ENOENT);
    assert_string_equal(buf, want);
    assert_non_null(strstr(d.msg, want));
    assert_non_null(strstr(d.msg, "give --data FILE, or copy GSM8K's test.jsonl"));

    char sub[600];
    snprintf(sub, sizeof sub, "%s/edgelm", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(sub, sizeof sub, "%s/edgelm/gsm8k", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    FILE *f = fopen(want, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(elm_gsm8k_default_path(dir, "/nohome", buf, sizeof buf, &d), 0);
    assert_string_equal(buf, want);

    assert_int_equal(elm_gsm8k_default_path("", "/nohome", buf, sizeof buf, &d), ELM_ENOENT);
    assert_string_equal(buf, "/nohome/.local/share/edgelm/gsm8k/test.jsonl");
    assert_int_equal(elm_gsm8k_default_path(NULL, NULL, buf, sizeof buf, &d), ELM_ENOENT);
    assert_non_null(strstr(d.msg, "give --data FILE"));
    assert_int_equal(elm_gsm8k_default_path(dir, NULL, buf, 8, &d), ELM_ERANGE);

    unlink(want);
    rmdir(sub);
    snprintf(sub, sizeof sub, "%s/edgelm", dir);
    rmdir(sub);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ppl_matches_llama),
        cmocka_unit_test(test_ppl_text_rule_and_record),
        cmocka_unit_test(test_ppl_short_tokens),
        cmocka_unit_test(test_extract),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_sample),
        cmocka_unit_test(test_sample_gsm8k_test_split),
        cmocka_unit_test(test_gsm8k_run),
        cmocka_unit_test(test_gsm8k_default_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
