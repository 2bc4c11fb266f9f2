/* engine/ on t5, the encoder-decoder (README §6.3–6.8 of the reference data): the bucket
 * function against §6.3's tables, every tiny-t5 file against llama.cpp's encoder output,
 * teacher-forced decoder logits and greedy rows at §6.8's tolerances, the generation loop's
 * start from the decoder start token, batches of several encoded sequences, and the errors of
 * decoding without an encoder input. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "edgelm/engine.h"
#include "engine/engine_internal.h"
#include "testutil.h"

#define N_VOCAB 512
#define N_EMBD  256
#define N_DEC   16 /* teacher-forced decoder rows, and greedy rows, per sequence */
#define MAX_ENC 64

/* ---- buckets ---- */

/* README §6.3's tables as (first distance, bucket) steps: a distance maps to the bucket of the
 * last step at or below it. */
typedef struct {
    int a;
    uint32_t bucket;
} step_t;

static const step_t enc_steps[] = {{0, 0},   {1, 1},   {2, 2},   {3, 3},  {4, 4},   {5, 5},
                                   {6, 6},   {7, 7},   {8, 8},   {12, 9}, {16, 10}, {23, 11},
                                   {32, 12}, {46, 13}, {64, 14}, {91, 15}};
/* the decoder's buckets 0..15 are the distance itself */
static const step_t dec_steps[] = {{16, 16}, {19, 17}, {21, 18}, {24, 19}, {27, 20}, {31, 21},
                                   {35, 22}, {40, 23}, {46, 24}, {52, 25}, {59, 26}, {67, 27},
                                   {77, 28}, {87, 29}, {99, 30}, {113, 31}};

static uint32_t from_steps(const step_t *st, size_t n, int a)
{
    uint32_t b = (uint32_t)a;
    for (size_t i = 0; i < n && st[i].a <= a; i++)
        b = st[i].bucket;
    return b;
}

static void test_buckets(void **state)
{
    (void)state;
    const size_t ne = sizeof enc_steps / sizeof enc_steps[0];
    const size_t nd = sizeof dec_steps / sizeof dec_steps[0];
    for (int a = 0; a <= 700; a++) {
        /* encoder: a key before the query (rel = -a), after it (rel = a, 16 + the same) */
        const uint32_t e = from_steps(enc_steps, ne, a);
        assert_int_equal(elm__t5_bucket(-a, true, 32), e);
        if (a > 0) assert_int_equal(elm__t5_bucket(a, true, 32), 16 + e);
        /* decoder: only keys at or before the query are distinguished */
        assert_int_equal(elm__t5_bucket(-a, false, 32), from_steps(dec_steps, nd, a));
        if (a > 0) assert_int_equal(elm__t5_bucket(a, false, 32), 0);
    }
}

/* ---- the reference files ---- */

typedef struct {
    int32_t enc[3][MAX_ENC];
    int n_enc[3];
    int32_t dec[3][N_DEC];
    int32_t greedy[3][N_DEC];
    double margins[3][N_DEC];
    int32_t start;
} t5_ref_t;

/* elm_test_data skips (or, when data is required, fails) the test when a file is missing, so the
 * loaders below return only what they found. */
static t5_ref_t *load_ref(const char *name)
{
    char rel[128];
    snprintf(rel, sizeof rel, "reference/models/%s.json", name);
    const char *path = elm_test_data(rel);
    t5_ref_t *r = calloc(1, sizeof *r);
    assert_non_null(r);
    size_t len = 0;
    char *text = elm_test_read_file(path, &len);
    assert_non_null(text);
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    assert_non_null(root);
    r->start = (int32_t)cJSON_GetObjectItem(root, "decoder_start_token_id")->valuedouble;
    const cJSON *seqs = cJSON_GetObjectItem(root, "sequences");
    assert_int_equal(cJSON_GetArraySize(seqs), 3);
    for (int q = 0; q < 3; q++) {
        const cJSON *s = cJSON_GetArrayItem(seqs, q);
        int n;
        r->n_enc[q] =
            elm_test_json_ints(cJSON_GetObjectItem(s, "encoder_tokens"), r->enc[q], MAX_ENC);
        n = elm_test_json_ints(cJSON_GetObjectItem(s, "decoder_tokens"), r->dec[q], N_DEC);
        assert_int_equal(n, N_DEC);
        n = elm_test_json_ints(cJSON_GetObjectItem(s, "greedy_tokens"), r->greedy[q], N_DEC);
        assert_int_equal(n, N_DEC);
        int i = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(s, "greedy_margins"))
        {
            if (i < N_DEC) r->margins[q][i++] = it->valuedouble;
        }
    }
    cJSON_Delete(root);
    return r;
}

static float *ref_file(const char *name, const char *ext, size_t want)
{
    char rel[128];
    snprintf(rel, sizeof rel, "reference/models/%s%s", name, ext);
    const char *path = elm_test_data(rel);
    assert_non_null(path);
    size_t n = 0;
    float *f = elm_test_read_file(path, &n);
    assert_non_null(f);
    assert_int_equal(n, want);
    return f;
}

/* ---- comparison ---- */

typedef struct {
    double max, sum_sq;
    uint64_t n;
    int rows, agree, must_fail; /* rows; argmax equal; unequal where the margin is above thr */
} cmp_t;

#define argmax elm_test_argmax
#define margin elm_test_margin

static void compare(cmp_t *c, const float *got, const float *ref, int n, double thr)
{
    for (int i = 0; i < n; i++) {
        const double d = fabs((double)got[i] - ref[i]);
        if (!(d <= c->max)) c->max = isnan(d) ? INFINITY : d;
        c->sum_sq += d * d;
    }
    c->n += (uint64_t)n;
    if (n != N_VOCAB) return;
    c->rows++;
    const bool same = argmax(got, n) == argmax(ref, n);
    c->agree += same;
    if (!same && margin(ref, n) > thr) c->must_fail++;
}

static double rms(const cmp_t *c)
{
    return c->n ? sqrt(c->sum_sq / (double)c->n) : 0;
}

/* README §6.8: the fp16-table GELU is emulated, so F32 agrees to 5e-3. */
typedef struct {
    const char *name;
    double max, rms, margin, agree_pct, enc_max;
} t5_file_t;

static const t5_file_t files[] = {
    {"tiny-t5-F32", 5e-3, 5e-4, 0.03, 100, 5e-4},
    {"tiny-t5-F16", 0.06, 0.01, 0.06, 0, 0.01},
    {"tiny-t5-Q8_0", 1.5, 0.25, INFINITY, 90, 0.05},
};

static elm_session_t *session(const elm_model_t *m, uint32_t n_seq, int threads)
{
    elm_session_params_t sp = elm_session_default_params();
    sp.n_ctx = 512;
    sp.n_threads = threads;
    sp.kv_type = ELM_TYPE_F32;
    sp.n_seq = n_seq;
    elm_session_t *s = NULL;
    elm_diag_t d;
    if (elm_session_create(m, &sp, &s, &d)) fail_msg("%s", d.msg);
    return s;
}

static elm_model_t *load_model(const char *name)
{
    char rel[128];
    snprintf(rel, sizeof rel, "reference/models/%s.gguf", name);
    const char *gguf = elm_test_data(rel);
    elm_model_t *m = NULL;
    elm_diag_t d;
    if (elm_model_load(gguf, NULL, NULL, &m, &d)) fail_msg("%s", d.msg);
    return m;
}

static void check_file(const t5_file_t *f)
{
    elm_model_t *m = load_model(f->name);
    t5_ref_t *r = load_ref(f->name);
    const size_t n_enc_all = (size_t)r->n_enc[0] + r->n_enc[1] + r->n_enc[2];
    float *enc_out = ref_file(f->name, ".enc_out.bin", n_enc_all * N_EMBD * sizeof(float));
    float *logits = ref_file(f->name, ".logits.bin", 3 * N_DEC * N_VOCAB * sizeof(float));
    float *gen = ref_file(f->name, ".gen_logits.bin", 3 * N_DEC * N_VOCAB * sizeof(float));

    elm_diag_t d;
    const elm_hparams_t *hp = elm_model_hparams(m);
    assert_true(hp->has_encoder);
    assert_int_equal(hp->decoder_start_id, r->start);
    elm_session_t *s = session(m, 1, 2);

    cmp_t enc = {0}, tf = {0}, gr = {0};
    const float *enc_ref = enc_out;
    for (int q = 0; q < 3; q++) {
        if (elm_session_encode(s, 0, r->enc[q], (uint32_t)r->n_enc[q], &d)) fail_msg("%s", d.msg);
        compare(&enc, elm_session_enc_output(s), enc_ref, r->n_enc[q] * N_EMBD, 0);
        enc_ref += (size_t)r->n_enc[q] * N_EMBD;
        /* the 16 decoder tokens in one decode, logits for every row */
        if (elm_session_decode(s, r->dec[q], N_DEC, true, &d)) fail_msg("%s", d.msg);
        for (int p = 0; p < N_DEC; p++)
            compare(&tf, elm_session_logits(s, (uint32_t)p),
                    logits + ((size_t)q * N_DEC + p) * N_VOCAB, N_VOCAB, f->margin);
        /* greedy rows: token k-1 alone at position 16 + k - 1 */
        compare(&gr, elm_session_logits(s, N_DEC - 1), gen + (size_t)q * N_DEC * N_VOCAB, N_VOCAB,
                f->margin);
        for (int k = 1; k < N_DEC; k++) {
            if (elm_session_decode(s, &r->greedy[q][k - 1], 1, false, &d)) fail_msg("%s", d.msg);
            compare(&gr, elm_session_logits(s, 0), gen + ((size_t)q * N_DEC + k) * N_VOCAB, N_VOCAB,
                    f->margin);
        }
    }
    printf("  %-13s encoder max %.3g | teacher-forced max %.3g rms %.3g argmax %d/%d | "
           "greedy rows max %.3g rms %.3g argmax %d/%d\n",
           f->name, enc.max, tf.max, rms(&tf), tf.agree, tf.rows, gr.max, rms(&gr), gr.agree,
           gr.rows);
    assert_true(enc.max <= f->enc_max);
    assert_true(tf.max <= f->max && gr.max <= f->max);
    assert_true(rms(&tf) <= f->rms && rms(&gr) <= f->rms);
    assert_int_equal(tf.must_fail + gr.must_fail, 0);
    assert_true(100.0 * tf.agree / tf.rows >= f->agree_pct);
    assert_true(100.0 * gr.agree / gr.rows >= f->agree_pct);

    elm_session_free(s);
    elm_model_free(m);
    free(enc_out);
    free(logits);
    free(gen);
    free(r);
}

static void test_reference_files(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        check_file(&files[i]);
}

/* ---- generation and batches ---- */

/* elm_generate encodes the prompt and starts the decoder from the start token: its first
 * token is llama.cpp's argmax after the start token alone (logits.bin row 0), and its tokens
 * are the argmax chain of encode + decode one token at a time. */
static void test_generate(void **state)
{
    (void)state;
    elm_model_t *m = load_model("tiny-t5-F32");
    t5_ref_t *r = load_ref("tiny-t5-F32");
    float *logits = ref_file("tiny-t5-F32", ".logits.bin", 3 * N_DEC * N_VOCAB * sizeof(float));
    elm_session_t *s = session(m, 1, 1);
    elm_sampler_params_t sp = elm_sampler_default_params();
    sp.temp = 0;
    elm_sampler_t *smp = NULL;
    assert_int_equal(elm_sampler_create(&sp, N_VOCAB, &smp, NULL), 0);
    const elm_generate_params_t gp = {.n_predict = 12, .eos_id = -1};
    elm_diag_t d;
    for (int q = 0; q < 3; q++) {
        int32_t out[12];
        uint32_t n_out = 0;
        elm_sampler_reset(smp);
        if (elm_generate(s, smp, r->enc[q], (uint32_t)r->n_enc[q], &gp, NULL, out, &n_out, &d))
            fail_msg("%s", d.msg);
        assert_int_equal(n_out, 12);
        const float *row0 = logits + (size_t)q * N_DEC * N_VOCAB;
        assert_true(margin(row0, N_VOCAB) > 0.03);
        assert_int_equal(out[0], argmax(row0, N_VOCAB));
        /* the same chain by hand */
        assert_int_equal(elm_session_encode(s, 0, r->enc[q], (uint32_t)r->n_enc[q], &d), 0);
        int32_t tok = elm_model_hparams(m)->decoder_start_id;
        for (int k = 0; k < 12; k++) {
            assert_int_equal(elm_session_decode(s, &tok, 1, false, &d), 0);
            tok = argmax(elm_session_logits(s, 0), N_VOCAB);
            assert_int_equal(tok, out[k]);
        }
        assert_int_equal(elm_session_n_past(s), 12);
    }
    elm_sampler_free(smp);
    elm_session_free(s);
    elm_model_free(m);
    free(logits);
    free(r);
}

/* Three sequences encoded in one session and decoded in one batch: each row's logits are the
 * bits of that sequence decoded alone (its own encoder output, its own cache). */
static void test_batch_of_sequences(void **state)
{
    (void)state;
    elm_model_t *m = load_model("tiny-t5-F32");
    t5_ref_t *r = load_ref("tiny-t5-F32");
    elm_diag_t d;
    float alone[3][4][N_VOCAB];
    elm_session_t *s1 = session(m, 1, 2);
    for (int q = 0; q < 3; q++) {
        assert_int_equal(elm_session_encode(s1, 0, r->enc[q], (uint32_t)r->n_enc[q], &d), 0);
        for (int k = 0; k < 4; k++) {
            assert_int_equal(elm_session_decode(s1, &r->dec[q][k], 1, false, &d), 0);
            memcpy(alone[q][k], elm_session_logits(s1, 0), sizeof alone[q][k]);
        }
    }
    elm_session_free(s1);

    elm_session_t *s = session(m, 3, 2);
    /* sequence 1 first, so the cross caches are not in sequence order of encoding */
    const int order[3] = {1, 2, 0};
    for (int i = 0; i < 3; i++) {
        const int q = order[i];
        assert_int_equal(elm_session_encode(s, (uint32_t)q, r->enc[q], (uint32_t)r->n_enc[q], &d),
                         0);
        assert_int_equal(elm_session_seq_enc_len(s, (uint32_t)q), r->n_enc[q]);
    }
    for (int k = 0; k < 4; k++) {
        elm_batch_row_t rows[3];
        for (int q = 0; q < 3; q++)
            rows[q] = (elm_batch_row_t){
                .token = r->dec[q][k], .seq = (uint32_t)q, .pos = (uint32_t)k, .logits = true};
        if (elm_session_decode_batch(s, rows, 3, &d)) fail_msg("%s", d.msg);
        for (int q = 0; q < 3; q++)
            assert_memory_equal(elm_session_batch_logits(s, (uint32_t)q), alone[q][k],
                                sizeof alone[q][k]);
    }
    /* a reset sequence has no encoder input any more */
    elm_session_seq_reset(s, 2);
    assert_int_equal(elm_session_seq_enc_len(s, 2), 0);
    const elm_batch_row_t row = {.token = 0, .seq = 2, .pos = 0, .logits = true};
    assert_int_equal(elm_session_decode_batch(s, &row, 1, &d), ELM_EINVAL);
    assert_non_null(strstr(d.msg, "sequence 2 has no encoder input"));
    elm_session_free(s);
    elm_model_free(m);
    free(r);
}

static void test_errors(void **state)
{
    (void)state;
    elm_model_t *m = load_model("tiny-t5-F32");
    elm_session_t *s = session(m, 1, 1);
    elm_diag_t d;
    const int32_t tok = 0;
    assert_int_equal(elm_session_decode(s, &tok, 1, false, &d), ELM_EINVAL);
    assert_non_null(strstr(d.msg, "encoder-decoder: encode the prompt first"));
    assert_int_equal(elm_session_encode(s, 0, &tok, 0, &d), ELM_EINVAL);
    assert_int_equal(elm_session_encode(s, 1, &tok, 1, &d), ELM_EINVAL);
    const int32_t bad = N_VOCAB;
    assert_int_equal(elm_session_encode(s, 0, &bad, 1, &d), ELM_EINVAL);
    assert_non_null(strstr(d.msg, "outside the vocabulary of 512"));
    int32_t *many = calloc(513, sizeof *many);
    assert_int_equal(elm_session_encode(s, 0, many, 513, &d), ELM_ERANGE);
    assert_non_null(strstr(d.msg, "does not fit the context of 512"));
    free(many);
    assert_int_equal(elm_session_seq_enc_len(s, 0), 0);
    assert_null(elm_session_enc_output(s));
    elm_session_free(s);
    elm_model_free(m);

    /* a decoder-only model has no encoder */
    m = load_model("stories260K-F32");
    assert_false(elm_model_hparams(m)->has_encoder);
    assert_int_equal(elm_model_hparams(m)->decoder_start_id, -1);
    s = session(m, 1, 1);
    assert_int_equal(elm_session_encode(s, 0, &tok, 1, &d), ELM_ENOTSUP);
    assert_non_null(strstr(d.msg, "has no encoder"));
    elm_session_free(s);
    elm_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets),  cmocka_unit_test(test_reference_files),
        cmocka_unit_test(test_generate), cmocka_unit_test(test_batch_of_sequences),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
