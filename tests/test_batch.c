/* engine/ batches of several sequences (elm_session_decode_batch): a sequence's logits are the
 * very bits it gets alone through the single-sequence API, whatever else the batch holds
 * (prompt chunks, decode rows of other sequences, passes cut by n_batch); truncating a
 * sequence and decoding again repeats them; every bad row is a named error that leaves every
 * cache as it was. On stories260K and quantized tiny models (the gemv kernels' types). And the
 * multi-row gemv kernels those decode rows share the weights through: the gemv's very bits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "edgelm/engine.h"
#include "edgelm/kernels.h"
#include "testutil.h"

/* Reference models the tests run on: F16 weights (vec_dot / gemm), q4_0 (the gemv), q4_K_M
 * (q4_K's gemv, q6_K without one, qwen2's biases). */
static const char *const models[] = {"stories260K-F16", "tiny-llama3-Q4_0", "tiny-qwen2-Q4_K_M"};
#define N_MODELS (sizeof models / sizeof models[0])

#define N_SEQ  4
#define N_STEP 8

/* Rows each sequence adds at each step: whole prompts, a late joiner, and a prompt prefilled in
 * chunks while the others decode. */
static const uint32_t chunks[N_SEQ][N_STEP] = {
    {9, 1, 1, 1, 1, 1, 1, 1},
    {13, 1, 1, 1, 1, 1, 1, 1},
    {0, 5, 1, 1, 1, 1, 1, 1},
    {0, 4, 4, 4, 1, 1, 1, 1},
};

static elm_model_t *load(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "reference/models/%s.gguf", name);
    const char *p = elm_test_data(rel);
    if (!p) return NULL;
    elm_model_t *m = NULL;
    elm_diag_t d;
    if (elm_model_load(p, NULL, NULL, &m, &d)) fail_msg("%s", d.msg);
    return m;
}

static elm_session_t *session(const elm_model_t *m, uint32_t n_seq, uint32_t n_ctx,
                              uint32_t n_batch)
{
    elm_session_params_t sp = elm_session_default_params();
    sp.n_seq = n_seq;
    sp.n_ctx = n_ctx;
    sp.n_batch = n_batch;
    sp.n_threads = 2;
    elm_session_t *s = NULL;
    elm_diag_t d;
    if (elm_session_create(m, &sp, &s, &d)) fail_msg("%s", d.msg);
    return s;
}

/* The token of sequence q at position p: every sequence its own prompt. */
static int32_t tok(const elm_model_t *m, uint32_t q, uint32_t p)
{
    return (int32_t)((q * 31 + p * 7 + 3) % elm_model_hparams(m)->n_vocab);
}

/* Append rows of sequence q for positions [p, p + n), logits on the last. */
static uint32_t add_rows(const elm_model_t *m, elm_batch_row_t *rows, uint32_t at, uint32_t q,
                         uint32_t p, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        rows[at + i] = (elm_batch_row_t){tok(m, q, p + i), q, p + i, i + 1 == n};
    return at + n;
}

/* The logits of the last row of each chunk of sequence q, decoded alone through
 * elm_session_decode: ref[step] (NULL where q has no rows). */
static void reference(const elm_model_t *m, uint32_t q, float **ref)
{
    const uint32_t nv = elm_model_hparams(m)->n_vocab;
    elm_session_t *s = session(m, 1, 64, 64);
    uint32_t p = 0;
    for (int st = 0; st < N_STEP; st++) {
        ref[st] = NULL;
        const uint32_t n = chunks[q][st];
        if (!n) continue;
        int32_t toks[64];
        for (uint32_t i = 0; i < n; i++)
            toks[i] = tok(m, q, p + i);
        assert_int_equal(elm_session_decode(s, toks, n, false, NULL), 0);
        ref[st] = malloc(nv * sizeof(float));
        memcpy(ref[st], elm_session_logits(s, 0), nv * sizeof(float));
        p += n;
    }
    elm_session_free(s);
}

/* ---- (a) sequences decoded together ---- */

/* Four sequences decoded together step by step, in an order that changes every step, with
 * prompt chunks and decode rows in the same passes, and then again in passes of 3 rows: each
 * row with logits has the bits of its sequence decoded alone. */
static void check_together(const elm_model_t *m, const char *name, uint32_t n_batch)
{
    const uint32_t nv = elm_model_hparams(m)->n_vocab;
    float *ref[N_SEQ][N_STEP];
    for (uint32_t q = 0; q < N_SEQ; q++)
        reference(m, q, ref[q]);
    elm_session_t *s = session(m, N_SEQ, 64, n_batch);
    uint32_t pos[N_SEQ] = {0};
    for (int st = 0; st < N_STEP; st++) {
        elm_batch_row_t rows[64];
        uint32_t n = 0, last[N_SEQ] = {0};
        for (uint32_t k = 0; k < N_SEQ; k++) {
            const uint32_t q = (k + (uint32_t)st) % N_SEQ, c = chunks[q][st];
            if (!c) continue;
            n = add_rows(m, rows, n, q, pos[q], c);
            last[q] = n - 1;
            pos[q] += c;
        }
        assert_int_equal(elm_session_decode_batch(s, rows, n, NULL), 0);
        for (uint32_t q = 0; q < N_SEQ; q++) {
            assert_int_equal(elm_session_seq_len(s, q), pos[q]);
            if (!ref[q][st]) continue;
            const float *got = elm_session_batch_logits(s, last[q]);
            assert_non_null(got);
            if (memcmp(got, ref[q][st], nv * sizeof(float)) != 0)
                fail_msg("%s, passes of %u: sequence %u at step %d differs from alone", name,
                         n_batch, q, st);
            if (chunks[q][st] > 1) assert_null(elm_session_batch_logits(s, last[q] - 1));
        }
        assert_null(elm_session_batch_logits(s, n));
    }
    elm_session_free(s);
    for (uint32_t q = 0; q < N_SEQ; q++)
        for (int st = 0; st < N_STEP; st++)
            free(ref[q][st]);
}

static void test_together(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_MODELS; i++) {
        elm_model_t *m = load(models[i]);
        if (!m) continue;
        check_together(m, models[i], 64);
        elm_model_free(m);
    }
}

/* Eight sequences, one decode row each, in passes of 3 rows (3, 3, 2): each row is its
 * sequence's one-token decode, bit for bit. */
static void test_decode_rows_in_passes(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_MODELS; i++) {
        elm_model_t *m = load(models[i]);
        if (!m) continue;
        const uint32_t nv = elm_model_hparams(m)->n_vocab;
        elm_session_t *alone = session(m, 1, 32, 3), *s = session(m, 8, 32, 3);
        elm_batch_row_t rows[8];
        for (uint32_t step = 0; step < 3; step++) {
            for (uint32_t q = 0; q < 8; q++)
                rows[q] = (elm_batch_row_t){tok(m, q, step), q, step, q != 5};
            assert_int_equal(elm_session_decode_batch(s, rows, 8, NULL), 0);
            assert_int_equal(elm_session_n_logits(s), 7);
            assert_null(elm_session_batch_logits(s, 5));
            for (uint32_t q = 0; q < 8; q++) {
                if (q == 5) continue;
                elm_session_reset(alone);
                for (uint32_t p = 0; p <= step; p++) {
                    const int32_t t = tok(m, q, p);
                    assert_int_equal(elm_session_decode(alone, &t, 1, false, NULL), 0);
                }
                if (memcmp(elm_session_batch_logits(s, q), elm_session_logits(alone, 0),
                           nv * sizeof(float)) != 0)
                    fail_msg("%s: decode row of sequence %u at step %u differs from alone",
                             models[i], q, step);
            }
        }
        /* sequence 5 had no logits, but its cache grew as the others' did */
        assert_int_equal(elm_session_seq_len(s, 5), 3);
        elm_session_free(alone);
        elm_session_free(s);
        elm_model_free(m);
    }
}

/* ---- (b) one prompt in chunks of any size ---- */

/* The logits after a prompt of 100 tokens of sequence 1 prefilled in chunks of `chunk` rows
 * (one batch, cut into passes by n_batch = chunk), and of two decode steps after it. */
static float *chunked(const elm_model_t *m, uint32_t chunk)
{
    const uint32_t nv = elm_model_hparams(m)->n_vocab, n = 100;
    elm_session_t *s = session(m, 2, 128, chunk);
    elm_batch_row_t rows[100];
    add_rows(m, rows, 0, 1, 0, n);
    assert_int_equal(elm_session_decode_batch(s, rows, n, NULL), 0);
    assert_int_equal(elm_session_n_logits(s), 1);
    float *out = malloc(3 * nv * sizeof(float));
    memcpy(out, elm_session_batch_logits(s, n - 1), nv * sizeof(float));
    for (uint32_t k = 1; k < 3; k++) {
        add_rows(m, rows, 0, 1, n + k - 1, 1);
        assert_int_equal(elm_session_decode_batch(s, rows, 1, NULL), 0);
        memcpy(out + k * nv, elm_session_batch_logits(s, 0), nv * sizeof(float));
    }
    elm_session_free(s);
    return out;
}

/* The same through elm_session_decode of sequence 0, token by token. */
static float *one_by_one(const elm_model_t *m)
{
    const uint32_t nv = elm_model_hparams(m)->n_vocab;
    elm_session_t *s = session(m, 1, 128, 64);
    float *out = malloc(3 * nv * sizeof(float));
    for (uint32_t p = 0; p < 102; p++) {
        const int32_t t = tok(m, 1, p);
        assert_int_equal(elm_session_decode(s, &t, 1, false, NULL), 0);
        if (p >= 99) memcpy(out + (p - 99) * nv, elm_session_logits(s, 0), nv * sizeof(float));
    }
    elm_session_free(s);
    return out;
}

static double max_diff(const float *a, const float *b, size_t n)
{
    double d = 0;
    for (size_t i = 0; i < n; i++)
        d = a[i] - b[i] > d ? a[i] - b[i] : b[i] - a[i] > d ? b[i] - a[i] : d;
    return d;
}

/* Rows of one chunk go through the matrix-product kernels (gemm), a lone row through the
 * decode kernels (gemv): prefilled one row per pass, a prompt has the bits of token-by-token
 * decoding; in chunks of 7 or 64 those of the whole prompt at once up to the kernels' order of
 * float sums (the same bits on the AVX-512 tier; the AVX2 tier's q4_K product runs vec_dot
 * below 5 rows). */
static void test_chunk_sizes(void **state)
{
    (void)state;
    static const uint32_t sizes[] = {7, 64};
    for (size_t i = 0; i < N_MODELS; i++) {
        elm_model_t *m = load(models[i]);
        if (!m) continue;
        const size_t n = 3 * (size_t)elm_model_hparams(m)->n_vocab;
        float *whole = chunked(m, 100), *ones = chunked(m, 1), *decoded = one_by_one(m);
        if (memcmp(ones, decoded, n * sizeof(float)) != 0)
            fail_msg("%s: rows one per pass differ from token-by-token decoding", models[i]);
        for (size_t c = 0; c < sizeof sizes / sizeof sizes[0]; c++) {
            float *got = chunked(m, sizes[c]);
            const double d = max_diff(got, whole, n);
            printf("# %s: chunks of %u vs whole prompt: max |d logit| %.3g\n", models[i],
                   sizes[c], d);
            if (d > 1e-3) fail_msg("%s: chunks of %u are %g from the whole", models[i], sizes[c], d);
            free(got);
        }
        printf("# %s: one row per pass vs whole prompt: max |d logit| %.3g\n", models[i],
               max_diff(ones, whole, n));
        free(whole);
        free(ones);
        free(decoded);
        elm_model_free(m);
    }
}

/* ---- (c) truncate and decode again ---- */

/* Decode k single rows of sequence q from position p on; their logits into out (k rows). */
static void steps(elm_session_t *s, const elm_model_t *m, uint32_t q, uint32_t p, uint32_t k,
                  float *out)
{
    const uint32_t nv = elm_model_hparams(m)->n_vocab;
    for (uint32_t i = 0; i < k; i++) {
        elm_batch_row_t row = {tok(m, q, p + i), q, p + i, true};
        assert_int_equal(elm_session_decode_batch(s, &row, 1, NULL), 0);
        memcpy(out + (size_t)i * nv, elm_session_batch_logits(s, 0), nv * sizeof(float));
    }
}

/* Truncating sequence 1 back to its prompt (the server's prompt cache), or emptying it and
 * prefilling the prompt again, and decoding the same tokens repeats their logits bit for bit;
 * sequence 0 is untouched throughout. */
static void test_truncate_again(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_MODELS; i++) {
        elm_model_t *m = load(models[i]);
        if (!m) continue;
        const size_t nv = elm_model_hparams(m)->n_vocab;
        float *a = malloc(4 * nv * sizeof(float)), *b = malloc(4 * nv * sizeof(float));
        elm_session_t *s = session(m, 2, 64, 64), *alone = session(m, 1, 64, 64);
        elm_batch_row_t rows[40];
        uint32_t n = add_rows(m, rows, 0, 0, 0, 11);
        n = add_rows(m, rows, n, 1, 0, 20);
        assert_int_equal(elm_session_decode_batch(s, rows, n, NULL), 0);
        steps(s, m, 1, 20, 4, a);

        assert_int_equal(elm_session_seq_truncate(s, 1, 25), ELM_ERANGE);
        assert_int_equal(elm_session_seq_truncate(s, 2, 0), ELM_EINVAL);
        assert_int_equal(elm_session_seq_truncate(s, 1, 20), 0);
        assert_int_equal(elm_session_seq_len(s, 1), 20);
        assert_int_equal(elm_session_seq_len(s, 0), 11);
        steps(s, m, 1, 20, 4, b);
        assert_memory_equal(a, b, 4 * nv * sizeof(float));

        elm_session_seq_reset(s, 1);
        elm_session_seq_reset(s, 7); /* out of range: nothing */
        assert_int_equal(elm_session_seq_len(s, 1), 0);
        assert_int_equal(elm_session_seq_len(s, 7), 0);
        add_rows(m, rows, 0, 1, 0, 20);
        assert_int_equal(elm_session_decode_batch(s, rows, 20, NULL), 0);
        steps(s, m, 1, 20, 4, b);
        assert_memory_equal(a, b, 4 * nv * sizeof(float));

        /* sequence 0 goes on as if alone */
        assert_int_equal(elm_session_seq_len(s, 0), 11);
        steps(s, m, 0, 11, 2, a);
        add_rows(m, rows, 0, 0, 0, 11);
        assert_int_equal(elm_session_decode_batch(alone, rows, 11, NULL), 0);
        steps(alone, m, 0, 11, 2, b);
        assert_memory_equal(a, b, 2 * nv * sizeof(float));

        free(a);
        free(b);
        elm_session_free(alone);
        elm_session_free(s);
        elm_model_free(m);
    }
}

/* ---- (d) bad rows ---- */

/* Decode `n` rows expecting error rc with `msg` in the message; every sequence keeps its
 * length. */
static void bad(elm_session_t *s, const elm_batch_row_t *rows, uint32_t n, int rc, const char *msg)
{
    uint32_t len[3];
    for (uint32_t q = 0; q < 3; q++)
        len[q] = elm_session_seq_len(s, q);
    elm_diag_t d;
    assert_int_equal(elm_session_decode_batch(s, rows, n, &d), rc);
    if (!strstr(d.msg, msg)) fail_msg("expected \"%s\" in \"%s\"", msg, d.msg);
    for (uint32_t q = 0; q < 3; q++)
        assert_int_equal(elm_session_seq_len(s, q), len[q]);
}

/* Every bad row is its named error before anything runs: afterwards the sequences decode on
 * with the very logits of a session that never saw the bad batch. */
static void test_bad_rows(void **state)
{
    (void)state;
    elm_model_t *m = load(models[0]);
    if (!m) return;
    const uint32_t nv = elm_model_hparams(m)->n_vocab;
    elm_session_t *s = session(m, 3, 16, 8), *clean = session(m, 3, 16, 8);
    elm_batch_row_t rows[20];
    uint32_t n = add_rows(m, rows, 0, 0, 0, 14);
    n = add_rows(m, rows, n, 1, 0, 3);
    assert_int_equal(elm_session_decode_batch(s, rows, n, NULL), 0);
    assert_int_equal(elm_session_decode_batch(clean, rows, n, NULL), 0);

    /* valid rows first, then the bad one: nothing of the batch runs */
    n = add_rows(m, rows, 0, 1, 3, 2);
    rows[n] = (elm_batch_row_t){1, 3, 0, true};
    bad(s, rows, n + 1, ELM_EINVAL, "row 2 names sequence 3, but the session holds 3");
    rows[n] = (elm_batch_row_t){1, 2, 1, true};
    bad(s, rows, n + 1, ELM_EINVAL,
        "row 2 (sequence 2) is at position 1, but the sequence's next position is 0");
    rows[n] = (elm_batch_row_t){1, 1, 4, true}; /* position 4 twice */
    bad(s, rows, n + 1, ELM_EINVAL,
        "row 2 (sequence 1) is at position 4, but the sequence's next position is 5");
    rows[n] = (elm_batch_row_t){(int32_t)nv, 2, 0, true};
    bad(s, rows, n + 1, ELM_EINVAL, "row 2 (sequence 2, position 0): token id");
    rows[n] = (elm_batch_row_t){-1, 2, 0, true};
    bad(s, rows, n + 1, ELM_EINVAL, "outside the vocabulary");
    /* sequence 0 holds 14 of 16: its rows at 14 and 15 fit, the one at 16 does not */
    n = add_rows(m, rows, 0, 0, 14, 3);
    bad(s, rows, n, ELM_ERANGE, "row 2 (sequence 0, position 16) is past the context of 16");
    bad(s, rows, 0, ELM_EINVAL, "no rows");

    /* the caches are as they were: the same logits as the session that saw none of it */
    n = add_rows(m, rows, 0, 0, 14, 2);
    n = add_rows(m, rows, n, 1, 3, 2);
    n = add_rows(m, rows, n, 2, 0, 1);
    assert_int_equal(elm_session_decode_batch(s, rows, n, NULL), 0);
    static const uint32_t with_logits[] = {1, 3, 4}; /* the last row of each sequence */
    float *a = malloc(3 * (size_t)nv * sizeof(float));
    for (uint32_t k = 0; k < 3; k++)
        memcpy(a + (size_t)k * nv, elm_session_batch_logits(s, with_logits[k]), nv * sizeof(float));
    assert_int_equal(elm_session_decode_batch(clean, rows, n, NULL), 0);
    for (uint32_t k = 0; k < 3; k++)
        assert_memory_equal(a + (size_t)k * nv, elm_session_batch_logits(clean, with_logits[k]),
                            nv * sizeof(float));
    free(a);

    /* the single-sequence calls act on sequence 0 */
    assert_int_equal(elm_session_n_past(s), 16);
    assert_int_equal(elm_session_truncate(s, 3), 0);
    assert_int_equal(elm_session_seq_len(s, 0), 3);
    assert_int_equal(elm_session_seq_len(s, 1), 5);
    elm_session_reset(s);
    assert_int_equal(elm_session_seq_len(s, 0), 0);
    assert_int_equal(elm_session_seq_len(s, 1), 5);
    assert_int_equal(elm_session_n_seq(s), 3);
    elm_session_free(s);
    elm_session_free(clean);

    /* a sequence count beyond the limit is a named error; 0 counts as 1 */
    elm_session_params_t sp = elm_session_default_params();
    assert_int_equal(sp.n_seq, 1);
    sp.n_ctx = 16;
    sp.n_seq = ELM_SESSION_MAX_SEQ + 1;
    elm_diag_t d;
    assert_int_equal(elm_session_create(m, &sp, &s, &d), ELM_ERANGE);
    assert_null(s);
    assert_non_null(strstr(d.msg, "sequence count 257 is out of range"));
    sp.n_seq = 0;
    assert_int_equal(elm_session_create(m, &sp, &s, &d), 0);
    assert_int_equal(elm_session_n_seq(s), 1);
    elm_session_free(s);
    elm_model_free(m);
}

/* ---- multi-row gemv ---- */

/* Every type's gemv_rows gives, for every activation row, the bits of the type's gemv of that
 * row alone, on lengths across its chunks of groups, odd output counts and 1 to 17 rows. */
static void test_gemv_rows(void **state)
{
    (void)state;
    static const int64_t lens[] = {128, 256, 896, 1152, 4864, 8320};
    static const int64_t outs[] = {1, 7, 17, 33}, acts[] = {1, 2, 3, 5, 8, 9, 17};
    elm_test_rng_t rng = {42};
    int tested = 0;
    for (int t = 0; t < ELM_TYPE_COUNT; t++) {
        const elm_type_traits_t *tr = elm_traits(t);
        if (!tr || !tr->gemv_rows) continue;
        const elm_type_traits_t *at = elm_traits(tr->vec_dot_type);
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            const int64_t n = lens[li];
            const size_t pb = tr->gemv_prepare(n, NULL, NULL), ps = (pb + 63) / 64 * 64;
            if (!pb) continue;
            uint64_t wrow = 0, arow = 0;
            assert_int_equal(elm_type_row_size(t, (uint64_t)n, &wrow), 0);
            assert_int_equal(elm_type_row_size(tr->vec_dot_type, (uint64_t)n, &arow), 0);
            float *f = malloc((size_t)n * sizeof *f);
            char *w = malloc(33 * wrow), *a = malloc(arow);
            char *p = aligned_alloc(64, 17 * ps);
            float *y = malloc(17 * 40 * sizeof *y), *one = malloc(40 * sizeof *one);
            for (int o = 0; o < 33; o++) {
                for (int64_t i = 0; i < n; i++)
                    f[i] = elm_test_normal(&rng);
                tr->quantize(f, w + (size_t)o * wrow, n);
            }
            for (int r = 0; r < 17; r++) {
                for (int64_t i = 0; i < n; i++)
                    f[i] = elm_test_normal(&rng) * (float)(r + 1);
                at->from_float(f, a, n);
                tr->gemv_prepare(n, a, p + (size_t)r * ps);
            }
            for (size_t oi = 0; oi < sizeof outs / sizeof outs[0]; oi++)
                for (size_t ai = 0; ai < sizeof acts / sizeof acts[0]; ai++) {
                    const int64_t n_out = outs[oi], n_act = acts[ai];
                    tr->gemv_rows(n, n_out, w, wrow, p, ps, n_act, y, 40);
                    for (int64_t r = 0; r < n_act; r++) {
                        tr->gemv(n, n_out, w, wrow, p + (size_t)r * ps, one);
                        if (memcmp(one, y + r * 40, (size_t)n_out * sizeof *one) != 0)
                            fail_msg("%s gemv_rows: n %lld, %lld outputs, %lld rows: row %lld "
                                     "differs from the gemv",
                                     tr->name, (long long)n, (long long)n_out, (long long)n_act,
                                     (long long)r);
                    }
                }
            tested++;
            free(f);
            free(w);
            free(a);
            free(p);
            free(y);
            free(one);
        }
    }
    printf("# gemv_rows checked on %d (type, length) pairs\n", tested);
}

/* Every type's vec_dots gives the bits of its vec_dot for each row (attention's scores and value
 * sums in decode go through it), on awkward lengths, row counts across its blocks of rows, and a
 * row stride that is not a whole number of rows' vectors. */
static void test_vec_dots(void **state)
{
    (void)state;
    static const int64_t lens[] = {1, 7, 17, 33, 64, 255, 391, 1023, 4097};
    static const int64_t outs[] = {1, 3, 4, 5, 9, 17};
    elm_test_rng_t rng = {7};
    int tested = 0;
    for (int t = 0; t < ELM_TYPE_COUNT; t++) {
        const elm_type_traits_t *tr = elm_traits(t);
        if (!tr || !tr->vec_dots) continue;
        const elm_type_traits_t *at = elm_traits(tr->vec_dot_type);
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            const int64_t n = lens[li];
            if (n % tr->blck_size != 0 || n % at->blck_size != 0) continue;
            uint64_t wrow = 0, arow = 0;
            assert_int_equal(elm_type_row_size(t, (uint64_t)n, &wrow), 0);
            assert_int_equal(elm_type_row_size(tr->vec_dot_type, (uint64_t)n, &arow), 0);
            const size_t stride = wrow + 2;
            float *f = malloc((size_t)n * sizeof *f), s[17], one;
            char *w = malloc(17 * stride), *a = malloc(arow);
            for (int o = 0; o < 17; o++) {
                for (int64_t i = 0; i < n; i++)
                    f[i] = elm_test_normal(&rng);
                tr->quantize(f, w + (size_t)o * stride, n);
            }
            for (int64_t i = 0; i < n; i++)
                f[i] = elm_test_normal(&rng);
            at->from_float(f, a, n);
            for (size_t oi = 0; oi < sizeof outs / sizeof outs[0]; oi++) {
                tr->vec_dots(n, outs[oi], w, stride, a, s);
                for (int64_t o = 0; o < outs[oi]; o++) {
                    tr->vec_dot(n, &one, w + (size_t)o * stride, a);
                    if (memcmp(&one, &s[o], sizeof one) != 0)
                        fail_msg("%s vec_dots: n %lld, %lld rows: row %lld is %.9g, vec_dot %.9g",
                                 tr->name, (long long)n, (long long)outs[oi], (long long)o, s[o],
                                 one);
                }
            }
            tested++;
            free(f);
            free(w);
            free(a);
        }
    }
    printf("# vec_dots checked on %d (type, length) pairs\n", tested);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_together),
        cmocka_unit_test(test_decode_rows_in_passes),
        cmocka_unit_test(test_chunk_sizes),
        cmocka_unit_test(test_truncate_again),
        cmocka_unit_test(test_bad_rows),
        cmocka_unit_test(test_gemv_rows),
        cmocka_unit_test(test_vec_dots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
