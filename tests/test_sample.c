/* engine/sample.c: each stage of the sampler chain cuts exactly where llama.cpp's does, the
 * penalties follow its formulas, greedy picks the first maximum, and a seed makes draws
 * repeatable. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "edgelm/engine.h"
#include "testutil.h"

#define NV 8

/* Logits whose softmax is easy to reason about: token i has logit log(w[i]). */
static void logits_from_weights(const double *w, float *out)
{
    for (int i = 0; i < NV; i++)
        out[i] = (float)log(w[i]);
}

static elm_sampler_params_t plain(void)
{
    elm_sampler_params_t p = elm_sampler_default_params();
    p.temp = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    return p;
}

static elm_sampler_t *make(const elm_sampler_params_t *p)
{
    elm_sampler_t *s = NULL;
    elm_diag_t d;
    if (elm_sampler_create(p, NV, &s, &d)) fail_msg("%s", d.msg);
    return s;
}

static uint32_t survivors(const elm_sampler_params_t *p, const float *logits, elm_token_prob_t *c)
{
    elm_sampler_t *s = make(p);
    uint32_t n = elm_sampler_candidates(s, logits, c);
    elm_sampler_free(s);
    return n;
}

/* probabilities 0.30 0.25 0.20 0.10 0.08 0.04 0.02 0.01, shuffled over the ids */
static const double weights[NV] = {0.08, 0.30, 0.01, 0.20, 0.04, 0.25, 0.02, 0.10};

static void test_no_filters(void **state)
{
    (void)state;
    float l[NV];
    logits_from_weights(weights, l);
    elm_sampler_params_t p = plain();
    elm_token_prob_t c[NV];
    assert_int_equal(survivors(&p, l, c), NV);
    static const int order[NV] = {1, 5, 3, 7, 0, 4, 6, 2};
    double sum = 0;
    for (int i = 0; i < NV; i++) {
        assert_int_equal(c[i].id, order[i]);
        assert_float_equal(c[i].p, weights[order[i]], 1e-6);
        sum += c[i].p;
    }
    assert_float_equal(sum, 1.0, 1e-6);
}

static void test_top_k(void **state)
{
    (void)state;
    float l[NV];
    logits_from_weights(weights, l);
    elm_sampler_params_t p = plain();
    elm_token_prob_t c[NV];
    p.top_k = 3;
    assert_int_equal(survivors(&p, l, c), 3);
    assert_int_equal(c[0].id, 1);
    assert_int_equal(c[1].id, 5);
    assert_int_equal(c[2].id, 3);
    assert_float_equal(c[0].p, 0.30 / 0.75, 1e-6);
    p.top_k = 1;
    assert_int_equal(survivors(&p, l, c), 1);
    assert_int_equal(c[0].id, 1);
    p.top_k = NV + 5; /* larger than the vocabulary: no cut */
    assert_int_equal(survivors(&p, l, c), NV);
}

static void test_top_p(void **state)
{
    (void)state;
    float l[NV];
    logits_from_weights(weights, l);
    elm_sampler_params_t p = plain();
    elm_token_prob_t c[NV];
    /* cumulative 0.30 0.55 0.75 0.85 ...: the first prefix reaching p is kept */
    p.top_p = 0.5f;
    assert_int_equal(survivors(&p, l, c), 2);
    p.top_p = 0.76f;
    assert_int_equal(survivors(&p, l, c), 4);
    p.top_p = 0.1f;
    assert_int_equal(survivors(&p, l, c), 1);
    /* after top-k, top-p works on the renormalized survivors: 0.30/0.75 = 0.4, 0.55/0.75 = 0.73 */
    p.top_k = 3;
    p.top_p = 0.7f;
    assert_int_equal(survivors(&p, l, c), 2);
}

static void test_min_p(void **state)
{
    (void)state;
    float l[NV];
    logits_from_weights(weights, l);
    elm_sampler_params_t p = plain();
    elm_token_prob_t c[NV];
    /* keep p >= min_p · 0.30 */
    p.min_p = 0.5f; /* >= 0.15: 0.30 0.25 0.20 */
    assert_int_equal(survivors(&p, l, c), 3);
    p.min_p = 0.3f; /* >= 0.09: + 0.10 */
    assert_int_equal(survivors(&p, l, c), 4);
    p.min_p = 1.0f;
    assert_int_equal(survivors(&p, l, c), 1);
}

static void test_temperature(void **state)
{
    (void)state;
    float l[NV];
    logits_from_weights(weights, l);
    elm_sampler_params_t p = plain();
    elm_token_prob_t c[NV];
    p.temp = 0.5f; /* p ∝ w² */
    assert_int_equal(survivors(&p, l, c), NV);
    double z = 0;
    for (int i = 0; i < NV; i++)
        z += weights[i] * weights[i];
    assert_float_equal(c[0].p, 0.09 / z, 1e-5);
    assert_float_equal(c[0].logit, l[1] / 0.5f, 1e-5);
}

static void test_greedy(void **state)
{
    (void)state;
    float l[NV] = {1, 3, 2, 3, 0, -1, 3, 2};
    elm_sampler_params_t p = plain();
    p.temp = 0;
    elm_sampler_t *s = make(&p);
    for (int i = 0; i < 5; i++)
        assert_int_equal(elm_sampler_sample(s, l), 1); /* first maximum */
    elm_sampler_free(s);
    p.temp = -1;
    s = make(&p);
    elm_token_prob_t c[NV];
    assert_int_equal(elm_sampler_candidates(s, l, c), 1);
    assert_int_equal(c[0].id, 1);
    assert_float_equal(c[0].p, 1.0, 0);
    elm_sampler_free(s);
}

static void test_penalties(void **state)
{
    (void)state;
    float l[NV] = {2, -2, 1, 0.5f, 0, 0, 0, 0};
    elm_sampler_params_t p = plain();
    p.repeat_penalty = 2.0f;
    p.freq_penalty = 0.25f;
    p.presence_penalty = 0.5f;
    p.penalty_last_n = 3;
    elm_sampler_t *s = make(&p);
    /* history 2 0 1 0 1: only the last 3 (1 0 1) count */
    const int32_t hist[] = {2, 0, 1, 0, 1};
    for (size_t i = 0; i < 5; i++)
        elm_sampler_accept(s, hist[i]);
    elm_token_prob_t c[NV];
    assert_int_equal(elm_sampler_candidates(s, l, c), NV);
    float got[NV];
    for (int i = 0; i < NV; i++)
        got[c[i].id] = c[i].logit;
    assert_float_equal(got[0], 2.0f / 2 - 1 * 0.25f - 0.5f, 1e-6);  /* positive: divided */
    assert_float_equal(got[1], -2.0f * 2 - 2 * 0.25f - 0.5f, 1e-6); /* negative: multiplied */
    assert_float_equal(got[2], 1.0f, 0);                            /* outside the window */
    assert_float_equal(got[3], 0.5f, 0);
    /* reset forgets the history */
    elm_sampler_reset(s);
    assert_int_equal(elm_sampler_candidates(s, l, c), NV);
    for (int i = 0; i < NV; i++)
        got[c[i].id] = c[i].logit;
    assert_float_equal(got[0], 2.0f, 0);
    elm_sampler_free(s);
}

static void test_seed_repeatable(void **state)
{
    (void)state;
    float l[NV];
    logits_from_weights(weights, l);
    elm_sampler_params_t p = plain();
    p.seed = 1234;
    elm_sampler_t *a = make(&p), *b = make(&p);
    int32_t first[64];
    int hist[NV] = {0};
    for (int i = 0; i < 64; i++) {
        first[i] = elm_sampler_sample(a, l);
        assert_int_equal(elm_sampler_sample(b, l), first[i]);
        hist[first[i]]++;
    }
    /* the draw follows the distribution: the 1 % token is rare, the 30 % one common */
    assert_true(hist[1] > hist[2]);
    elm_sampler_reset(a);
    for (int i = 0; i < 64; i++)
        assert_int_equal(elm_sampler_sample(a, l), first[i]);
    p.seed = 99;
    elm_sampler_t *c = make(&p);
    int same = 0;
    for (int i = 0; i < 64; i++)
        same += elm_sampler_sample(c, l) == first[i];
    assert_true(same < 64);
    /* over many draws the frequencies approach the probabilities */
    int count[NV] = {0};
    for (int i = 0; i < 20000; i++)
        count[elm_sampler_sample(c, l)]++;
    for (int i = 0; i < NV; i++)
        assert_float_equal(count[i] / 20000.0, weights[i], 0.015);
    elm_sampler_free(a);
    elm_sampler_free(b);
    elm_sampler_free(c);
}

static void test_bad_params(void **state)
{
    (void)state;
    elm_sampler_t *s = (elm_sampler_t *)&s;
    elm_diag_t d;
    elm_sampler_params_t p = plain();
    p.top_p = 1.5f;
    assert_int_equal(elm_sampler_create(&p, NV, &s, &d), ELM_EINVAL);
    assert_null(s);
    assert_non_null(strstr(d.msg, "top-p"));
    p = plain();
    p.min_p = -0.1f;
    assert_int_equal(elm_sampler_create(&p, NV, &s, &d), ELM_EINVAL);
    p = plain();
    p.repeat_penalty = 0;
    assert_int_equal(elm_sampler_create(&p, NV, &s, &d), ELM_EINVAL);
    p = plain();
    p.penalty_last_n = -1;
    assert_int_equal(elm_sampler_create(&p, NV, &s, &d), ELM_EINVAL);
    assert_int_equal(elm_sampler_create(NULL, 0, &s, &d), ELM_EINVAL);
}

static int by_logit_then_id(const void *a, const void *b)
{
    const elm_token_prob_t *x = a, *y = b;
    if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* top-k on a large vocabulary selects exactly the k best (the heap path). */
static void test_top_k_large(void **state)
{
    (void)state;
    enum { N = 5000, K = 37 };
    float *l = malloc(N * sizeof *l);
    elm_token_prob_t *c = malloc(N * sizeof *c);
    uint64_t x = 7;
    for (int i = 0; i < N; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        l[i] = (float)((x >> 44) % 200) / 8.0f; /* 200 values: ties everywhere */
    }
    l[4321] = 1e6f;
    elm_sampler_params_t p = plain();
    p.top_k = K;
    elm_sampler_t *s = NULL;
    assert_int_equal(elm_sampler_create(&p, N, &s, NULL), 0);
    assert_int_equal(elm_sampler_candidates(s, l, c), K);
    assert_int_equal(c[0].id, 4321);
    /* sorted best first, and nothing left out is larger than the last one kept */
    for (int i = 1; i < K; i++)
        assert_true(c[i - 1].logit >= c[i].logit);
    int larger = 0;
    for (int i = 0; i < N; i++)
        larger += l[i] > c[K - 1].logit;
    assert_true(larger <= K - 1);
    /* exactly the first K of the whole vocabulary sorted by logit, ties to the lower id */
    elm_token_prob_t *all = malloc(N * sizeof *all);
    for (int i = 0; i < N; i++)
        all[i] = (elm_token_prob_t){i, l[i], 0};
    qsort(all, N, sizeof *all, by_logit_then_id);
    for (int i = 0; i < K; i++)
        assert_int_equal(c[i].id, all[i].id);
    free(all);
    elm_sampler_free(s);
    free(l);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_filters),  cmocka_unit_test(test_top_k),
        cmocka_unit_test(test_top_p),       cmocka_unit_test(test_min_p),
        cmocka_unit_test(test_temperature), cmocka_unit_test(test_greedy),
        cmocka_unit_test(test_penalties),   cmocka_unit_test(test_seed_repeatable),
        cmocka_unit_test(test_bad_params),  cmocka_unit_test(test_top_k_large),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
