/* engine/: the forward pass against llama.cpp's logits for every reference model (batched
 * prefill rows and teacher-forced single-token rows, README §2.7 tolerances, §7.6 for gemma2),
 * greedy continuations, the llama2.c golden text of stories260K, session mechanics (batching,
 * threads, truncate), and named errors for bad models and inputs; the same logits on any -t / -tb;
 * attention against a naive reference; grouped matrix products against separate ones. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "edgelm/engine.h"
#include "edgelm/gguf.h"
#include "engine/engine_internal.h"
#include "testutil.h"

#define N_VOCAB 512
#define N_GEN   32

/* ---- comparison statistics ---- */

typedef struct {
    double max;    /* largest |Δlogit| */
    double sum_sq; /* Σ Δ² over every logit */
    double worst_row_rms;
    uint64_t n;            /* logits compared */
    int rows, agree;       /* rows compared, rows whose argmax agrees */
    int must_agree_failed; /* rows with margin above the threshold whose argmax differs */
} stats_t;

#define argmax elm_test_argmax
#define margin elm_test_margin

static void compare_row(stats_t *st, const float *got, const float *ref, double margin_thr)
{
    double sq = 0;
    for (int i = 0; i < N_VOCAB; i++) {
        const double d = fabs((double)got[i] - ref[i]);
        if (d > st->max || isnan(d)) st->max = isnan(d) ? INFINITY : d;
        sq += d * d;
    }
    st->sum_sq += sq;
    st->n += N_VOCAB;
    const double rms = sqrt(sq / N_VOCAB);
    if (rms > st->worst_row_rms) st->worst_row_rms = rms;
    st->rows++;
    const bool same = argmax(got, N_VOCAB) == argmax(ref, N_VOCAB);
    st->agree += same;
    if (!same && margin(ref, N_VOCAB) > margin_thr) st->must_agree_failed++;
}

static double rms_of(const stats_t *st)
{
    return st->n ? sqrt(st->sum_sq / (double)st->n) : 0;
}

/* ---- reference files ---- */

typedef struct {
    int32_t tokens[3][64];
    int n_tokens[3];
    int32_t greedy[3][N_GEN];
    double margins[3][N_GEN];
} ref_json_t;

static void load_ref_json(const char *path, ref_json_t *r)
{
    size_t len = 0;
    char *text = elm_test_read_file(path, &len);
    assert_non_null(text);
    cJSON *root = cJSON_ParseWithLength(text, len); /* the file is not NUL-terminated */
    free(text);
    assert_non_null(root);
    const cJSON *seqs = cJSON_GetObjectItem(root, "sequences");
    assert_int_equal(cJSON_GetArraySize(seqs), 3);
    for (int s = 0; s < 3; s++) {
        const cJSON *seq = cJSON_GetArrayItem(seqs, s);
        r->n_tokens[s] = elm_test_json_ints(cJSON_GetObjectItem(seq, "tokens"), r->tokens[s], 64);
        int n;
        n = elm_test_json_ints(cJSON_GetObjectItem(seq, "greedy_tokens"), r->greedy[s], N_GEN);
        assert_int_equal(n, N_GEN);
        int i = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(seq, "greedy_margins"))
        {
            if (i < N_GEN) r->margins[s][i++] = it->valuedouble;
        }
    }
    cJSON_Delete(root);
}

/* ---- the reference models ---- */

typedef enum { KIND_F32, KIND_F16, KIND_QUANT } kind_t;

/* The tolerances of a weight kind: per-logit max |Δ|, rms |Δ|, the margin above which argmax
 * must agree and the greedy continuation is compared, and the share of rows whose argmax must
 * agree (quantized kinds). */
typedef struct {
    double max, rms, margin, agree_pct;
} tol_t;

/* README §2.7, by kind_t. */
static const tol_t tol_std[] = {
    {1e-3, 1e-4, 1e-3, 0}, {0.05, 0.005, 0.05, 0}, {1.0, 0.1, INFINITY, 95}};
/* README §7.6: gemma2's fp16-table GELU sets a floor of about 0.01 even for F32 weights. */
static const tol_t tol_gemma2[] = {
    {0.05, 0.005, 0.05, 0}, {0.1, 0.015, 0.1, 0}, {1.5, 0.2, INFINITY, 90}};

typedef struct {
    const char *name;
    kind_t kind;
    const tol_t *tol; /* by kind; NULL: tol_std */
} ref_model_t;

/* clang-format off */
static const ref_model_t ref_models[] = {
    {"stories260K-F32", KIND_F32},      {"stories260K-F16", KIND_F16},
    {"tiny-qwen2-F32", KIND_F32},       {"tiny-qwen2-F16", KIND_F16},
    {"tiny-qwen2-Q8_0", KIND_QUANT},    {"tiny-qwen2-Q4_0", KIND_QUANT},
    {"tiny-qwen2-Q4_K_M", KIND_QUANT},  {"tiny-qwen2-Q6_K", KIND_QUANT},
    {"tiny-llama3-F32", KIND_F32},      {"tiny-llama3-F16", KIND_F16},
    {"tiny-llama3-Q8_0", KIND_QUANT},   {"tiny-llama3-Q4_0", KIND_QUANT},
    {"tiny-llama3-Q4_K_M", KIND_QUANT}, {"tiny-llama3-Q6_K", KIND_QUANT},
    {"tiny-internlm2-F32", KIND_F32},   {"tiny-internlm2-F16", KIND_F16},
    {"tiny-internlm2-Q8_0", KIND_QUANT}, {"tiny-internlm2-Q4_0", KIND_QUANT},
    {"tiny-internlm2-Q4_K_M", KIND_QUANT}, {"tiny-internlm2-Q6_K", KIND_QUANT},
    {"tiny-phi3-F32", KIND_F32},        {"tiny-phi3-F16", KIND_F16},
    {"tiny-phi3-Q8_0", KIND_QUANT},     {"tiny-phi3-Q4_0", KIND_QUANT},
    {"tiny-phi3-Q4_K_M", KIND_QUANT},   {"tiny-phi3-Q6_K", KIND_QUANT},
    /* gemma2's F32, Q8_0 and Q6_K files are not stored (README §7.1) */
    {"tiny-gemma2-F16", KIND_F16, tol_gemma2}, {"tiny-gemma2-Q4_0", KIND_QUANT, tol_gemma2},
    {"tiny-gemma2-Q4_K_M", KIND_QUANT, tol_gemma2},
};
/* clang-format on */

static char *data_path(const char *name, const char *ext)
{
    char rel[256];
    snprintf(rel, sizeof rel, "reference/models/%s%s", name, ext);
    const char *p = elm_test_data(rel);
    return p ? strdup(p) : NULL;
}

static elm_session_t *new_session(const elm_model_t *m, int threads, elm_type_t kv)
{
    elm_session_params_t sp = elm_session_default_params();
    sp.n_ctx = 512;
    sp.n_threads = threads;
    sp.kv_type = kv;
    elm_session_t *s = NULL;
    elm_diag_t d;
    assert_int_equal(elm_session_create(m, &sp, &s, &d), 0);
    return s;
}

static const int row_offset[3] = {0, 48, 112};

static void check_model(const ref_model_t *rm)
{
    char *gguf = data_path(rm->name, ".gguf");
    if (!gguf) return;
    char *jpath = data_path(rm->name, ".json"), *lpath = data_path(rm->name, ".logits.bin"),
         *gpath = data_path(rm->name, ".gen_logits.bin");
    assert_non_null(jpath);
    ref_json_t *rj = calloc(1, sizeof *rj);
    load_ref_json(jpath, rj);
    size_t nl = 0, ng = 0;
    float *ref_logits = elm_test_read_file(lpath, &nl), *ref_gen = elm_test_read_file(gpath, &ng);
    assert_int_equal(nl, 113 * N_VOCAB * sizeof(float));
    assert_int_equal(ng, 3 * N_GEN * N_VOCAB * sizeof(float));

    elm_model_t *m = NULL;
    elm_diag_t d;
    int rc = elm_model_load(gguf, NULL, NULL, &m, &d);
    if (rc) fail_msg("%s: %s", rm->name, d.msg);
    assert_int_equal(elm_model_hparams(m)->n_vocab, N_VOCAB);
    /* Two threads: the pool is exercised, and results do not depend on the split. */
    elm_session_t *s = new_session(m, 2, ELM_TYPE_F32);

    const tol_t *tol = rm->tol ? &rm->tol[rm->kind] : &tol_std[rm->kind];
    const double thr = tol->margin;
    stats_t pre = {0}, gen = {0};
    int greedy_checked = 0;
    for (int q = 0; q < 3; q++) {
        /* batched prefill, every position */
        elm_session_reset(s);
        rc = elm_session_decode(s, rj->tokens[q], (uint32_t)rj->n_tokens[q], true, &d);
        if (rc) fail_msg("%s: %s", rm->name, d.msg);
        assert_int_equal(elm_session_n_logits(s), rj->n_tokens[q]);
        for (int p = 0; p < rj->n_tokens[q]; p++) {
            stats_t row = {0};
            const float *ref = ref_logits + (size_t)(row_offset[q] + p) * N_VOCAB;
            compare_row(&row, elm_session_logits(s, (uint32_t)p), ref, thr);
            compare_row(&pre, elm_session_logits(s, (uint32_t)p), ref, thr);
            if (rm->kind == KIND_F32 && (row.max > tol->max || rms_of(&row) > tol->rms))
                fail_msg("%s seq %d pos %d: max %.3g rms %.3g above the F32 tolerance", rm->name, q,
                         p, row.max, rms_of(&row));
        }
        /* teacher-forced single-token decode: row 0 is the prefill's last row */
        for (int k = 1; k < N_GEN; k++) {
            rc = elm_session_decode(s, &rj->greedy[q][k - 1], 1, false, &d);
            if (rc) fail_msg("%s: %s", rm->name, d.msg);
            stats_t row = {0};
            const float *ref = ref_gen + ((size_t)q * N_GEN + k) * N_VOCAB;
            compare_row(&row, elm_session_logits(s, 0), ref, thr);
            compare_row(&gen, elm_session_logits(s, 0), ref, thr);
            if (rm->kind == KIND_F32 && (row.max > tol->max || rms_of(&row) > tol->rms))
                fail_msg("%s seq %d gen %d: max %.3g rms %.3g above the F32 tolerance", rm->name, q,
                         k, row.max, rms_of(&row));
        }
        /* free-running greedy, up to the first step whose reference margin is below thr */
        if (rm->kind != KIND_QUANT) {
            elm_session_reset(s);
            elm_sampler_params_t sp = elm_sampler_default_params();
            sp.temp = 0;
            elm_sampler_t *smp = NULL;
            assert_int_equal(elm_sampler_create(&sp, N_VOCAB, &smp, NULL), 0);
            elm_generate_params_t gp = {.n_predict = N_GEN, .eos_id = -1};
            int32_t out[N_GEN];
            uint32_t n_out = 0;
            assert_int_equal(elm_generate(s, smp, rj->tokens[q], (uint32_t)rj->n_tokens[q], &gp,
                                          NULL, out, &n_out, &d),
                             0);
            assert_int_equal(n_out, N_GEN);
            for (int k = 0; k < N_GEN && rj->margins[q][k] >= thr; k++) {
                if (out[k] != rj->greedy[q][k])
                    fail_msg("%s seq %d: greedy token %d is %d, llama.cpp chose %d (margin %.4f)",
                             rm->name, q, k, out[k], rj->greedy[q][k], rj->margins[q][k]);
                greedy_checked++;
            }
            elm_sampler_free(smp);
        }
    }
    const double agree_pre = 100.0 * pre.agree / pre.rows, agree_gen = 100.0 * gen.agree / gen.rows;
    printf("  %-20s prefill %3d rows: max %.3g rms %.3g (worst row %.3g) argmax %.1f%% | "
           "decode %2d rows: max %.3g rms %.3g argmax %.1f%%",
           rm->name, pre.rows, pre.max, rms_of(&pre), pre.worst_row_rms, agree_pre, gen.rows,
           gen.max, rms_of(&gen), agree_gen);
    if (rm->kind != KIND_QUANT) printf(" | greedy %d steps equal", greedy_checked);
    printf("\n");
    switch (rm->kind) {
    case KIND_F32: assert_int_equal(pre.must_agree_failed + gen.must_agree_failed, 0); break;
    case KIND_F16:
        assert_true(pre.max <= tol->max && gen.max <= tol->max);
        assert_true(rms_of(&pre) <= tol->rms && rms_of(&gen) <= tol->rms);
        assert_int_equal(pre.must_agree_failed + gen.must_agree_failed, 0);
        break;
    case KIND_QUANT:
        assert_true(pre.max <= tol->max && gen.max <= tol->max);
        assert_true(rms_of(&pre) <= tol->rms && rms_of(&gen) <= tol->rms);
        assert_true(agree_pre >= tol->agree_pct && agree_gen >= tol->agree_pct);
        break;
    }
    elm_session_free(s);
    elm_model_free(m);
    free(ref_logits);
    free(ref_gen);
    free(rj);
    free(gguf);
    free(jpath);
    free(lpath);
    free(gpath);
}

static void test_reference_models(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof ref_models / sizeof ref_models[0]; i++)
        check_model(&ref_models[i]);
}

/* An F16 KV cache (llama.cpp's default) on the F32 models stays within the F16 tolerance. */
static void test_f16_kv_cache(void **state)
{
    (void)state;
    static const char *const names[] = {"stories260K-F32", "tiny-qwen2-F32", "tiny-llama3-F32"};
    for (int i = 0; i < 3; i++) {
        char *gguf = data_path(names[i], ".gguf");
        if (!gguf) return;
        char *lpath = data_path(names[i], ".logits.bin"), *jpath = data_path(names[i], ".json");
        float *ref = elm_test_read_file(lpath, NULL);
        assert_non_null(ref);
        ref_json_t *rj = calloc(1, sizeof *rj);
        load_ref_json(jpath, rj);
        elm_model_t *m = NULL;
        assert_int_equal(elm_model_load(gguf, NULL, NULL, &m, NULL), 0);
        elm_session_t *s = new_session(m, 1, ELM_TYPE_F16);
        stats_t st = {0};
        for (int q = 0; q < 3; q++) {
            elm_session_reset(s);
            assert_int_equal(
                elm_session_decode(s, rj->tokens[q], (uint32_t)rj->n_tokens[q], true, NULL), 0);
            for (int p = 0; p < rj->n_tokens[q]; p++)
                compare_row(&st, elm_session_logits(s, (uint32_t)p),
                            ref + (size_t)(row_offset[q] + p) * N_VOCAB, 0.05);
        }
        printf("  %-20s f16 KV cache: max %.3g rms %.3g argmax %.1f%%\n", names[i], st.max,
               rms_of(&st), 100.0 * st.agree / st.rows);
        assert_true(st.max <= 0.05 && rms_of(&st) <= 0.005);
        assert_int_equal(st.must_agree_failed, 0);
        elm_session_free(s);
        elm_model_free(m);
        free(rj);
        free(ref);
        free(gguf);
        free(lpath);
        free(jpath);
    }
}

/* ---- phi3: LongRoPE and the sliding window ---- */

/* seq 1's 64 tokens through a one-thread session of n_ctx positions: its logits (caller frees). */
static float *phi3_logits(const elm_model_t *m, uint32_t n_ctx, const ref_json_t *rj)
{
    elm_session_params_t sp = elm_session_default_params();
    sp.n_ctx = n_ctx;
    sp.kv_type = ELM_TYPE_F32;
    elm_session_t *s = NULL;
    assert_int_equal(elm_session_create(m, &sp, &s, NULL), 0);
    const uint32_t n = (uint32_t)rj->n_tokens[1];
    assert_int_equal(elm_session_decode(s, rj->tokens[1], n, true, NULL), 0);
    float *out = malloc((size_t)n * N_VOCAB * sizeof(float));
    assert_non_null(out);
    for (uint32_t p = 0; p < n; p++)
        memcpy(out + (size_t)p * N_VOCAB, elm_session_logits(s, p), N_VOCAB * sizeof(float));
    elm_session_free(s);
    return out;
}

static double max_diff(const float *a, const float *b, size_t n)
{
    double d = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs((double)a[i] - b[i]) > d) d = fabs((double)a[i] - b[i]);
    return d;
}

/* tiny-phi3 (original context 128): a session of 128 positions uses rope_factors_short, one
 * of 129 or more rope_factors_long, whatever the sequence's length, as llama.cpp chooses
 * (README §7.3). A short-context session gives the logits of a model whose long factors are
 * the short ones, and differs from a long-context one by far more than rounding. A window
 * shorter than the sequence masks on every layer. */
static void test_phi3_longrope(void **state)
{
    (void)state;
    char *gguf = data_path("tiny-phi3-F32", ".gguf");
    if (!gguf) return;
    char *jpath = data_path("tiny-phi3-F32", ".json");
    ref_json_t *rj = calloc(1, sizeof *rj);
    load_ref_json(jpath, rj);
    elm_model_t *m = NULL, *m2 = NULL;
    assert_int_equal(elm_model_load(gguf, NULL, NULL, &m, NULL), 0);
    const elm_hparams_t *hp = elm_model_hparams(m);
    assert_true(hp->rope_longrope);
    assert_int_equal(hp->n_ctx_orig, 128);
    assert_int_equal(hp->n_swa, 262144);
    assert_true(fabsf(hp->rope_attn_factor - 1.1338934f) < 1e-6f);
    assert_ptr_equal(elm__rope_factors(m, 64), m->rope_short.v);
    assert_ptr_equal(elm__rope_factors(m, 128), m->rope_short.v);
    assert_ptr_equal(elm__rope_factors(m, 129), m->rope_long.v);
    assert_ptr_equal(elm__rope_factors(m, 512), m->rope_long.v);

    const size_t n = (size_t)rj->n_tokens[1] * N_VOCAB;
    float *at128 = phi3_logits(m, 128, rj), *at129 = phi3_logits(m, 129, rj),
          *at512 = phi3_logits(m, 512, rj);
    /* m2's long factors are m's short ones: at 512 it runs what m should run at 128 */
    assert_int_equal(elm_model_load(gguf, NULL, NULL, &m2, NULL), 0);
    memcpy(m2->rope_long.v, m->rope_short.v, (size_t)m->rope_short.n * sizeof(float));
    float *short512 = phi3_logits(m2, 512, rj);
    const double d_short = max_diff(at128, short512, n), d_long = max_diff(at129, at512, n),
                 d_sets = max_diff(at128, at512, n);
    printf("  tiny-phi3-F32 LongRoPE: n_ctx 128 vs short factors %.3g, 129 vs 512 %.3g, "
           "128 vs 512 %.3g\n",
           d_short, d_long, d_sets);
    assert_true(d_short < 1e-5 && d_long < 1e-5);
    assert_true(d_sets > 1.0);

    /* Every phi3 layer has the window (README §7.3): one of 16 leaves positions 0..15 as they
     * were, bit for bit, and changes every later one. */
    for (uint32_t il = 0; il < hp->n_layer; il++) {
        assert_int_equal(m->layers[il].n_swa, 262144);
        m->layers[il].n_swa = 16;
    }
    float *win16 = phi3_logits(m, 512, rj);
    assert_memory_equal(win16, at512, 16 * N_VOCAB * sizeof(float));
    for (int p = 16; p < rj->n_tokens[1]; p++)
        assert_true(max_diff(win16 + (size_t)p * N_VOCAB, at512 + (size_t)p * N_VOCAB, N_VOCAB) >
                    0.01);
    free(win16);

    free(at128);
    free(at129);
    free(at512);
    free(short512);
    elm_model_free(m);
    elm_model_free(m2);
    free(rj);
    free(gguf);
    free(jpath);
}

/* stories260K, "Once upon a time", 64 greedy tokens: llama2.c's run.c golden. */
static void test_stories_golden(void **state)
{
    (void)state;
    const char *gp_ = elm_test_data("llama2c/stories260K_greedy.json");
    if (!gp_) return;
    size_t len = 0;
    char *text = elm_test_read_file(gp_, &len);
    assert_non_null(text);
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    assert_non_null(root);
    const cJSON *c, *want = NULL;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "cases"))
    {
        const cJSON *pr = cJSON_GetObjectItem(c, "prompt");
        if (cJSON_IsString(pr) && !strcmp(pr->valuestring, "Once upon a time")) want = c;
    }
    assert_non_null(want);
    int32_t prompt[16], golden[128];
    int n_prompt, n_golden;
    n_prompt = elm_test_json_ints(cJSON_GetObjectItem(want, "prompt_ids"), prompt, 16);
    n_golden = elm_test_json_ints(cJSON_GetObjectItem(want, "generated_ids"), golden, 128);
    cJSON_Delete(root);

    const char *mp = elm_test_data("reference/models/stories260K-F32.gguf");
    if (!mp) return;
    elm_model_t *m = NULL;
    assert_int_equal(elm_model_load(mp, NULL, NULL, &m, NULL), 0);
    elm_session_t *s = new_session(m, 1, ELM_TYPE_F32);
    elm_sampler_params_t sp = elm_sampler_default_params();
    sp.temp = 0;
    elm_sampler_t *smp = NULL;
    assert_int_equal(elm_sampler_create(&sp, N_VOCAB, &smp, NULL), 0);
    int32_t out[128];
    uint32_t n_out = 0;
    elm_generate_params_t gp = {.n_predict = (uint32_t)n_golden, .eos_id = -1};
    assert_int_equal(elm_generate(s, smp, prompt, (uint32_t)n_prompt, &gp, NULL, out, &n_out, NULL),
                     0);
    assert_int_equal(n_out, n_golden);
    for (int i = 0; i < n_golden; i++)
        assert_int_equal(out[i], golden[i]);
    printf("  stories260K-F32 greedy: %d tokens equal to the llama2.c golden\n", n_golden);
    elm_sampler_free(smp);
    elm_session_free(s);
    elm_model_free(m);
}

/* ---- a tiny model written here ---- */

typedef enum {
    TINY_OK,
    TINY_ARCH,     /* unsupported architecture */
    TINY_MISSING,  /* no blk.0.ffn_up.weight */
    TINY_SHAPE,    /* blk.0.attn_k.weight of the wrong shape */
    TINY_NO_HEADS, /* head_count key missing */
} tiny_variant_t;

#define T_EMBD  32
#define T_FF    64
#define T_VOCAB 16
#define T_CTX   32

static uint64_t tiny_rng = 1;

static float tiny_rand(void)
{
    tiny_rng = tiny_rng * 6364136223846793005ull + 1442695040888963407ull;
    return ((float)(tiny_rng >> 40) / (float)(1u << 24) - 0.5f) * 0.5f;
}

static void add_f32_tensor(elm_gguf_writer_t *w, const char *name, int64_t ne0, int64_t ne1)
{
    const int64_t ne[2] = {ne0, ne1};
    assert_int_equal(elm_gguf_writer_add_tensor(w, name, ELM_TYPE_F32, ne1 ? 2 : 1, ne), 0);
}

static void write_tiny(const char *path, tiny_variant_t v, const char *arch)
{
    elm_gguf_writer_t *w = NULL;
    assert_int_equal(elm_gguf_writer_open(path, &w, NULL), 0);
    char key[64];
    assert_int_equal(
        elm_gguf_writer_add_str(w, "general.architecture", v == TINY_ARCH ? "gpt9" : arch), 0);
#define KEY(k, val)                                                            \
    do {                                                                       \
        snprintf(key, sizeof key, "%s.%s", v == TINY_ARCH ? "gpt9" : arch, k); \
        assert_int_equal(elm_gguf_writer_add_u32(w, key, val), 0);             \
    } while (0)
    KEY("block_count", 2);
    KEY("context_length", T_CTX);
    KEY("embedding_length", T_EMBD);
    KEY("feed_forward_length", T_FF);
    if (v != TINY_NO_HEADS) KEY("attention.head_count", 4);
    KEY("attention.head_count_kv", 2);
#undef KEY
    const bool qwen = !strcmp(arch, "qwen2");
    add_f32_tensor(w, "token_embd.weight", T_EMBD, T_VOCAB);
    add_f32_tensor(w, "output_norm.weight", T_EMBD, 0);
    uint64_t n_floats = T_EMBD * T_VOCAB + T_EMBD;
    for (int l = 0; l < 2; l++) {
        char n[64];
#define T(fmt, a, b)                                             \
    do {                                                         \
        const int64_t ne1_ = (b);                                \
        snprintf(n, sizeof n, fmt, l);                           \
        add_f32_tensor(w, n, a, ne1_);                           \
        n_floats += (uint64_t)(a) * (uint64_t)(ne1_ ? ne1_ : 1); \
    } while (0)
        T("blk.%d.attn_norm.weight", T_EMBD, 0);
        T("blk.%d.attn_q.weight", T_EMBD, T_EMBD);
        T("blk.%d.attn_k.weight", T_EMBD, (v == TINY_SHAPE && l == 0) ? T_EMBD : T_EMBD / 2);
        T("blk.%d.attn_v.weight", T_EMBD, T_EMBD / 2);
        T("blk.%d.attn_output.weight", T_EMBD, T_EMBD);
        if (qwen) {
            T("blk.%d.attn_q.bias", T_EMBD, 0);
            T("blk.%d.attn_k.bias", T_EMBD / 2, 0);
            T("blk.%d.attn_v.bias", T_EMBD / 2, 0);
        }
        T("blk.%d.ffn_norm.weight", T_EMBD, 0);
        T("blk.%d.ffn_gate.weight", T_EMBD, T_FF);
        if (!(v == TINY_MISSING && l == 0)) T("blk.%d.ffn_up.weight", T_EMBD, T_FF);
        T("blk.%d.ffn_down.weight", T_FF, T_EMBD);
#undef T
    }
    tiny_rng = 1;
    for (uint64_t i = 0; i < n_floats; i++) {
        float f = tiny_rand();
        assert_int_equal(elm_gguf_writer_write(w, &f, sizeof f), 0);
    }
    elm_diag_t d;
    if (elm_gguf_writer_finish(w, &d)) fail_msg("%s", d.msg);
}

static char tiny_path[256];

static const char *tiny(tiny_variant_t v, const char *arch)
{
    snprintf(tiny_path, sizeof tiny_path, "/tmp/edgelm-test-engine-%d-%d-%s.gguf", (int)getpid(),
             (int)v, arch);
    write_tiny(tiny_path, v, arch);
    return tiny_path;
}

static void test_bad_models(void **state)
{
    (void)state;
    elm_model_t *m = (elm_model_t *)&m;
    elm_diag_t d;
    const char *p = tiny(TINY_ARCH, "llama");
    assert_int_equal(elm_model_load(p, NULL, NULL, &m, &d), ELM_ENOTSUP);
    assert_null(m);
    assert_non_null(strstr(d.msg, "architecture 'gpt9' is not supported"));
    unlink(p);

    p = tiny(TINY_MISSING, "llama");
    assert_int_equal(elm_model_load(p, NULL, NULL, &m, &d), ELM_ENOKEY);
    assert_non_null(strstr(d.msg, "tensor blk.0.ffn_up.weight is missing (architecture llama)"));
    unlink(p);

    p = tiny(TINY_SHAPE, "qwen2");
    assert_int_equal(elm_model_load(p, NULL, NULL, &m, &d), ELM_EINVAL);
    assert_non_null(strstr(d.msg, "tensor blk.0.attn_k.weight has shape 32 x 32, expected 32 x 16 "
                                  "(architecture qwen2)"));
    unlink(p);

    p = tiny(TINY_NO_HEADS, "llama");
    assert_int_equal(elm_model_load(p, NULL, NULL, &m, &d), ELM_ENOKEY);
    assert_non_null(strstr(d.msg, "llama.attention.head_count is missing"));
    unlink(p);

    /* a llama block under the name gemma2 lacks gemma2's post-norms */
    p = tiny(TINY_OK, "gemma2");
    assert_int_equal(elm_model_load(p, NULL, NULL, &m, &d), ELM_ENOKEY);
    assert_non_null(
        strstr(d.msg, "tensor blk.0.post_attention_norm.weight is missing (architecture gemma2)"));
    unlink(p);

    assert_int_equal(elm_model_load("/nonexistent/model.gguf", NULL, NULL, &m, &d), ELM_ENOENT);
    assert_null(m);
}

static int warnings;

static void count_warnings(elm_log_level_t level, const char *msg, void *user)
{
    (void)user;
    if (level == ELM_LOG_WARN && strstr(msg, "trained")) warnings++;
}

/* Batched prefill equals token-at-a-time decode; thread count and truncate change nothing. */
static void test_session_mechanics(void **state)
{
    (void)state;
    static const char *const archs[] = {"llama", "qwen2"};
    for (int a = 0; a < 2; a++) {
        const char *p = tiny(TINY_OK, archs[a]);
        elm_model_t *m = NULL;
        elm_diag_t d;
        if (elm_model_load(p, NULL, NULL, &m, &d)) fail_msg("%s", d.msg);
        unlink(p);
        const elm_hparams_t *hp = elm_model_hparams(m);
        assert_int_equal(hp->n_vocab, T_VOCAB);
        assert_int_equal(hp->head_dim, 8);
        assert_int_equal(hp->rope_neox, a == 1);
        assert_true(hp->tied_output);

        const int32_t toks[12] = {1, 5, 9, 2, 15, 0, 7, 7, 3, 11, 4, 8};
        elm_session_params_t sp = elm_session_default_params();
        sp.kv_type = ELM_TYPE_F32;
        sp.n_ctx = 16;
        sp.n_batch = 5; /* prefill of 12 in batches 5, 5, 2 */
        elm_session_t *batched = NULL, *single = NULL;
        assert_int_equal(elm_session_create(m, &sp, &batched, NULL), 0);
        sp.n_threads = 3;
        assert_int_equal(elm_session_create(m, &sp, &single, NULL), 0);
        assert_int_equal(elm_session_decode(batched, toks, 12, true, NULL), 0);
        float all[12][T_VOCAB];
        for (int i = 0; i < 12; i++)
            memcpy(all[i], elm_session_logits(batched, (uint32_t)i), sizeof all[i]);
        double maxd = 0;
        for (int i = 0; i < 12; i++) {
            assert_int_equal(elm_session_decode(single, &toks[i], 1, false, NULL), 0);
            for (int j = 0; j < T_VOCAB; j++)
                maxd = fmax(maxd, fabs(elm_session_logits(single, 0)[j] - all[i][j]));
        }
        assert_true(maxd < 1e-5);
        assert_int_equal(elm_session_n_past(single), 12);
        /* last row only, over several batches: the same row */
        elm_session_reset(batched);
        assert_int_equal(elm_session_decode(batched, toks, 12, false, NULL), 0);
        assert_int_equal(elm_session_n_logits(batched), 1);
        assert_memory_equal(elm_session_logits(batched, 0), all[11], sizeof all[11]);

        /* truncate to 7 and decode the rest again: the same last row */
        assert_int_equal(elm_session_truncate(single, 13), ELM_ERANGE);
        assert_int_equal(elm_session_truncate(single, 7), 0);
        assert_int_equal(elm_session_decode(single, &toks[7], 5, false, NULL), 0);
        assert_int_equal(elm_session_n_logits(single), 1);
        for (int j = 0; j < T_VOCAB; j++)
            assert_float_equal(elm_session_logits(single, 0)[j], all[11][j], 1e-5);
        assert_null(elm_session_logits(single, 1));

        /* bad inputs: the cache is untouched */
        assert_int_equal(elm_session_decode(single, toks, 5, false, &d), ELM_ERANGE);
        assert_non_null(strstr(d.msg, "do not fit the context of 16"));
        const int32_t bad = T_VOCAB;
        assert_int_equal(elm_session_decode(single, &bad, 1, false, &d), ELM_EINVAL);
        assert_non_null(strstr(d.msg, "outside the vocabulary"));
        assert_int_equal(elm_session_decode(single, toks, 0, false, &d), ELM_EINVAL);
        assert_int_equal(elm_session_n_past(single), 12);

        /* a prompt longer than the context is a named error before anything runs */
        elm_session_reset(single);
        assert_int_equal(elm_session_n_past(single), 0);
        elm_sampler_t *smp = NULL;
        assert_int_equal(elm_sampler_create(NULL, T_VOCAB, &smp, NULL), 0);
        int32_t longp[17] = {0};
        elm_generate_params_t gp = {.n_predict = 4, .eos_id = -1};
        assert_int_equal(elm_generate(single, smp, longp, 17, &gp, NULL, NULL, NULL, &d),
                         ELM_ERANGE);
        assert_non_null(strstr(d.msg, "prompt of 17 tokens is longer than the 16"));
        /* generation stops when the context is full */
        uint32_t n_out = 0;
        gp.n_predict = 100;
        assert_int_equal(elm_generate(single, smp, toks, 12, &gp, NULL, NULL, &n_out, NULL), 0);
        assert_int_equal(n_out, 5);
        elm_sampler_free(smp);

        elm_session_free(batched);
        elm_session_free(single);

        /* a context above the trained one warns */
        warnings = 0;
        elm_log_set_hook(count_warnings, NULL);
        sp.n_ctx = T_CTX * 2;
        assert_int_equal(elm_session_create(m, &sp, &single, NULL), 0);
        elm_log_set_hook(NULL, NULL);
        assert_int_equal(warnings, 1);
        elm_session_free(single);
        sp.n_batch = 0;
        assert_int_equal(elm_session_create(m, &sp, &single, &d), ELM_EINVAL);
        assert_null(single);
        elm_model_free(m);
    }
}

/* ---- hooks and timings ---- */

typedef struct {
    int order[8], n;
    int tokens;
} hook_log_t;

static void h_prefill_start(void *u, uint64_t t, uint32_t n)
{
    (void)t;
    hook_log_t *h = u;
    assert_int_equal(n, 3);
    h->order[h->n++] = 1;
}
static void h_prefill_end(void *u, uint64_t t, uint32_t n)
{
    (void)t;
    (void)n;
    hook_log_t *h = u;
    h->order[h->n++] = 2;
}
static bool h_token(void *u, uint64_t t, int32_t tok, const float *logits, uint32_t n_vocab)
{
    (void)t;
    hook_log_t *h = u;
    assert_non_null(logits);
    assert_int_equal(n_vocab, T_VOCAB);
    assert_true(tok >= 0 && tok < T_VOCAB);
    return ++h->tokens < 4; /* stop after the fourth */
}
static void h_done(void *u, uint64_t t, uint32_t n, elm_stop_reason_t why)
{
    (void)t;
    hook_log_t *h = u;
    assert_int_equal(n, 4);
    assert_int_equal(why, ELM_STOP_HOOK);
    h->order[h->n++] = 3;
}

static void test_hooks_and_timings(void **state)
{
    (void)state;
    const char *p = tiny(TINY_OK, "llama");
    hook_log_t log = {0};
    elm_hooks_t user = {.user = &log,
                        .on_prefill_start = h_prefill_start,
                        .on_prefill_end = h_prefill_end,
                        .on_token = h_token,
                        .on_done = h_done};
    elm_timings_t tm;
    elm_hooks_t hooks;
    elm_timings_hooks(&tm, &user, &hooks);
    elm_model_t *m = NULL;
    assert_int_equal(elm_model_load(p, NULL, &hooks, &m, NULL), 0);
    unlink(p);
    assert_true(tm.t_load_start > 0 && tm.t_load_done >= tm.t_load_start);
    elm_session_t *s = new_session(m, 1, ELM_TYPE_F16);
    elm_sampler_params_t spp = elm_sampler_default_params();
    spp.seed = 42;
    elm_sampler_t *smp = NULL;
    assert_int_equal(elm_sampler_create(&spp, T_VOCAB, &smp, NULL), 0);
    const int32_t prompt[3] = {1, 2, 3};
    elm_generate_params_t gp = {.n_predict = 10, .eos_id = -1};
    uint32_t n = 0;
    assert_int_equal(elm_generate(s, smp, prompt, 3, &gp, &hooks, NULL, &n, NULL), 0);
    assert_int_equal(n, 4);
    assert_int_equal(log.n, 3);
    assert_int_equal(log.order[0], 1);
    assert_int_equal(log.order[1], 2);
    assert_int_equal(log.order[2], 3);
    elm_timing_summary_t sum;
    elm_timings_summary(&tm, &sum);
    assert_int_equal(sum.n_prompt, 3);
    assert_int_equal(sum.n_generated, 4);
    assert_true(sum.load_ms > 0 && sum.prefill_tps > 0 && sum.gen_tps > 0);
    assert_true(sum.ttft_ms > 0 && sum.ttft_cold_ms >= sum.ttft_ms);
    elm_sampler_free(smp);
    elm_session_free(s);
    elm_model_free(m);
}

/* ---- thread counts: -t and -tb ---- */

/* Logits of a 40-token prompt (all rows) and of 6 single-token decodes after it. */
static float *run_threads(const elm_model_t *m, int t, int tb, elm_type_t kv, size_t *n_out)
{
    const uint32_t nv = elm_model_hparams(m)->n_vocab, n_prompt = 40, n_gen = 6;
    elm_session_params_t sp = elm_session_default_params();
    sp.n_ctx = 64;
    sp.n_batch = 16; /* batches of 16, 16, 8 */
    sp.n_threads = t;
    sp.n_threads_batch = tb;
    sp.kv_type = kv;
    elm_session_t *s = NULL;
    elm_diag_t d;
    if (elm_session_create(m, &sp, &s, &d)) fail_msg("%s", d.msg);
    int32_t toks[40];
    for (uint32_t i = 0; i < n_prompt; i++)
        toks[i] = (int32_t)((i * 7 + 3) % nv);
    float *out = malloc((size_t)(n_prompt + n_gen) * nv * sizeof *out);
    assert_int_equal(elm_session_decode(s, toks, n_prompt, true, NULL), 0);
    for (uint32_t i = 0; i < n_prompt; i++)
        memcpy(out + (size_t)i * nv, elm_session_logits(s, i), nv * sizeof *out);
    for (uint32_t k = 0; k < n_gen; k++) {
        const int32_t tok = (int32_t)((k * 5 + 1) % nv);
        assert_int_equal(elm_session_decode(s, &tok, 1, false, NULL), 0);
        memcpy(out + (size_t)(n_prompt + k) * nv, elm_session_logits(s, 0), nv * sizeof *out);
    }
    elm_session_free(s);
    *n_out = (size_t)(n_prompt + n_gen) * nv;
    return out;
}

/* The work is split the same way whatever the thread counts, so prefill on -tb threads and
 * generation on -t threads give the very same logits as one thread does. */
static void check_thread_counts(const elm_model_t *m, const char *name, elm_type_t kv)
{
    static const int counts[][2] = {{1, 3}, {2, 0}, {3, 1}, {2, 2}};
    size_t n = 0, n2 = 0;
    float *one = run_threads(m, 1, 0, kv, &n);
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        float *got = run_threads(m, counts[c][0], counts[c][1], kv, &n2);
        assert_int_equal(n2, n);
        if (memcmp(got, one, n * sizeof *got) != 0)
            fail_msg("%s: -t %d -tb %d gives other logits than one thread", name, counts[c][0],
                     counts[c][1]);
        free(got);
    }
    free(one);
}

static void test_thread_counts(void **state)
{
    (void)state;
    const char *p = tiny(TINY_OK, "qwen2");
    elm_model_t *m = NULL;
    elm_diag_t d;
    if (elm_model_load(p, NULL, NULL, &m, &d)) fail_msg("%s", d.msg);
    unlink(p);
    check_thread_counts(m, "tiny qwen2", ELM_TYPE_F32);
    check_thread_counts(m, "tiny qwen2", ELM_TYPE_F16);
    elm_model_free(m);
    static const char *const names[] = {"tiny-qwen2-Q4_K_M", "tiny-llama3-Q4_0", "stories260K-F16"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *gguf = data_path(names[i], ".gguf");
        if (!gguf) continue;
        if (elm_model_load(gguf, NULL, NULL, &m, &d)) fail_msg("%s", d.msg);
        check_thread_counts(m, names[i], ELM_TYPE_F16);
        elm_model_free(m);
        free(gguf);
    }

    /* bad batch thread counts are named errors */
    p = tiny(TINY_OK, "llama");
    assert_int_equal(elm_model_load(p, NULL, NULL, &m, NULL), 0);
    unlink(p);
    elm_session_params_t sp = elm_session_default_params();
    sp.n_threads_batch = -1;
    elm_session_t *s = (elm_session_t *)&sp;
    assert_int_equal(elm_session_create(m, &sp, &s, &d), ELM_ERANGE);
    assert_null(s);
    assert_non_null(strstr(d.msg, "batch thread count -1 is out of range"));
    elm_model_free(m);
}

/* ---- --no-mmap ---- */

/* A model read into anonymous memory runs exactly as the mapped one: same logits, same weight
 * bytes. */
static void test_no_mmap(void **state)
{
    (void)state;
    static const char *const names[] = {"tiny-qwen2-Q4_K_M", "tiny-llama3-Q4_0", "stories260K-F16"};
    const char *tmp = tiny(TINY_OK, "qwen2");
    elm_model_params_t copy = elm_model_default_params();
    assert_true(copy.use_mmap); /* llama.cpp's default */
    copy.use_mmap = false;
    for (size_t i = 0; i <= sizeof names / sizeof names[0]; i++) {
        char *gguf = i == 0 ? strdup(tmp) : data_path(names[i - 1], ".gguf");
        if (!gguf) continue;
        elm_model_t *mapped = NULL, *copied = NULL;
        elm_diag_t d;
        if (elm_model_load(gguf, NULL, NULL, &mapped, &d)) fail_msg("%s", d.msg);
        if (elm_model_load(gguf, &copy, NULL, &copied, &d)) fail_msg("%s", d.msg);
        assert_int_equal(elm_model_weight_bytes(copied), elm_model_weight_bytes(mapped));
        size_t n = 0, n2 = 0;
        float *a = run_threads(mapped, 2, 0, ELM_TYPE_F16, &n);
        float *b = run_threads(copied, 2, 0, ELM_TYPE_F16, &n2);
        assert_int_equal(n2, n);
        if (memcmp(a, b, n * sizeof *a) != 0) fail_msg("%s: --no-mmap changes the logits", gguf);
        free(a);
        free(b);
        elm_model_free(copied);
        elm_model_free(mapped);
        free(gguf);
    }
    unlink(tmp);

    /* a missing file is the same named error either way */
    elm_model_t *m = NULL;
    elm_diag_t d;
    assert_int_equal(elm_model_load("/nonexistent/model.gguf", &copy, NULL, &m, &d), ELM_ENOENT);
    assert_null(m);
    assert_non_null(strstr(d.msg, "no such file"));
}

/* ---- gemma2 ---- */

/* tiny-gemma2 (README §7.4): its keys as read, the window on even layers only, the scales, the
 * tied output, the largest logit of seq 1 squeezed by the final soft-cap of 30 as llama.cpp's
 * is, and the same logits on any -t / -tb. */
static void test_gemma2_model(void **state)
{
    (void)state;
    char *gguf = data_path("tiny-gemma2-F16", ".gguf");
    if (!gguf) return;
    char *jpath = data_path("tiny-gemma2-F16", ".json");
    elm_model_t *m = NULL;
    assert_int_equal(elm_model_load(gguf, NULL, NULL, &m, NULL), 0);
    const elm_hparams_t *hp = elm_model_hparams(m);
    assert_string_equal(hp->arch, "gemma2");
    assert_int_equal(hp->n_layer, 26);
    assert_true(hp->rope_neox && hp->tied_output);
    assert_true(hp->attn_softcap == 8.0f && hp->final_softcap == 30.0f);
    assert_int_equal(hp->n_swa, 16);
    for (uint32_t il = 0; il < hp->n_layer; il++) {
        assert_int_equal(m->layers[il].n_swa, il % 2 == 0 ? 16 : 0);
        assert_non_null(m->layers[il].post_attn_norm.v);
        assert_non_null(m->layers[il].post_ffn_norm.v);
    }
    assert_true(m->embd_scale == 16.0f && m->q_scale == 1.0f / sqrtf(32.0f));
    assert_ptr_equal(m->output.data, m->tok_embd.data);

    ref_json_t *rj = calloc(1, sizeof *rj);
    load_ref_json(jpath, rj);
    elm_session_t *s = new_session(m, 1, ELM_TYPE_F32);
    assert_int_equal(elm_session_decode(s, rj->tokens[1], (uint32_t)rj->n_tokens[1], true, NULL),
                     0);
    float top = 0;
    for (uint32_t p = 0; p < (uint32_t)rj->n_tokens[1]; p++)
        for (int i = 0; i < N_VOCAB; i++) {
            const float z = fabsf(elm_session_logits(s, p)[i]);
            if (z > top) top = z;
        }
    /* llama.cpp's largest |logit| here is 20.85 (README §7.5); uncapped it would be 25.7 */
    assert_true(top > 20.0f && top < 21.5f);
    elm_session_free(s);
    /* the window's first position depends on a task's rows, never on the thread count */
    check_thread_counts(m, "tiny-gemma2-F16", ELM_TYPE_F16);
    elm_model_free(m);
    free(rj);
    free(gguf);
    free(jpath);
}

/* ---- attention against a naive reference ---- */

typedef struct {
    uint32_t n_head, n_head_kv, head_dim;
} attn_shape_t;

/* gemma2's attention options (elm__attn_t's scale, softcap, window); zeros: plain causal. */
typedef struct {
    float scale, softcap;
    uint32_t window;
} attn_mode_t;

/* Softmax attention of one query row in double, over the cache's own (rounded) keys and values
 * and the query rounded as the cache type rounds it, soft-capped and windowed as md says. */
static void naive_attention(const elm__kv_t *kv, const float *q, uint32_t pos, uint32_t kvh,
                            uint32_t hd, const attn_mode_t *md, double *out)
{
    double *sc = malloc((pos + 1) * sizeof *sc), max = -INFINITY, sum = 0;
    float *k = malloc(hd * sizeof *k), *qr = malloc(hd * sizeof *qr);
    uint16_t *tmp = malloc(hd * 4);
    const uint32_t lo = md->window && pos + 1 > md->window ? pos + 1 - md->window : 0;
    const double scale = md->scale ? md->scale : 1 / sqrt((double)hd);
    kv->tr->from_float(q, tmp, hd);
    kv->tr->to_float(tmp, qr, hd);
    for (uint32_t t = lo; t <= pos; t++) {
        kv->tr->to_float(elm__kv_k(kv, 0, t, kvh * hd), k, hd);
        double dot = 0;
        for (uint32_t i = 0; i < hd; i++)
            dot += (double)qr[i] * k[i];
        if (md->softcap) dot = md->softcap * tanh(dot / md->softcap);
        sc[t] = dot * scale;
        max = fmax(max, sc[t]);
    }
    for (uint32_t t = lo; t <= pos; t++)
        sum += sc[t] = exp(sc[t] - max);
    for (uint32_t d = 0; d < hd; d++) {
        float v;
        double acc = 0;
        for (uint32_t t = lo; t <= pos; t++) {
            const char *row = elm__kv_vt(kv, 0, kvh * hd + d);
            kv->tr->to_float(row + (size_t)t * kv->esize, &v, 1);
            acc += sc[t] * v;
        }
        out[d] = acc / sum;
    }
    free(sc);
    free(k);
    free(qr);
    free(tmp);
}

/* Every case (pos0, rows) of one shape and cache type in mode md: within 2e-5 (f32) or 3e-3
 * (f16: probabilities rounded to f16, as llama.cpp does) of the double-precision reference, and
 * the same bits on 1 and 3 threads. Keys and values are uniform in ±2 and ±1, queries in ±qamp.
 * Returns the largest difference between the reference in mode md and the one with md's scale
 * but neither cap nor window: how much the cap and window matter to these numbers. */
static double check_attention(elm_pool_t *pool, const attn_shape_t *sh, elm_type_t kvt,
                              const uint32_t (*cases)[2], size_t n_cases, const attn_mode_t *md,
                              float qamp, uint64_t *rng)
{
    const uint32_t n_ctx = 255;
    const attn_mode_t plain = {md->scale, 0, 0};
    double mode_effect = 0;
    const uint32_t hd = sh->head_dim, q_dim = sh->n_head * hd, dim = sh->n_head_kv * hd;
    elm__kv_t kv;
    assert_int_equal(elm__kv_init(&kv, kvt, 1, n_ctx, dim, NULL), 0);
    float *row = malloc(dim * sizeof *row);
    for (uint32_t t = 0; t < n_ctx; t++) {
        for (uint32_t i = 0; i < dim; i++) {
            *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
            row[i] = ((float)(*rng >> 40) / (float)(1u << 24) - 0.5f) * 4.0f;
        }
        elm__kv_store_k(&kv, 0, t, 0, row, dim);
        for (uint32_t i = 0; i < dim; i++)
            row[i] = row[(i * 7 + 3) % dim] * 0.5f - 0.25f;
        elm__kv_store_v(&kv, 0, t, 0, row, dim);
    }
    const size_t scratch = elm__attn_scratch(n_ctx, hd, sh->n_head, sh->n_head_kv, kv.esize);
    void *sc = malloc(3 * scratch);
    double *ref = malloc(hd * sizeof *ref), *ref_plain = malloc(hd * sizeof *ref_plain);
    for (size_t c = 0; c < n_cases; c++) {
        const uint32_t pos0 = cases[c][0], nr = cases[c][1];
        float *q = malloc((size_t)nr * q_dim * sizeof *q);
        float *o1 = malloc((size_t)nr * q_dim * sizeof *o1);
        float *o3 = malloc((size_t)nr * q_dim * sizeof *o3);
        for (size_t i = 0; i < (size_t)nr * q_dim; i++) {
            *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
            q[i] = ((float)(*rng >> 40) / (float)(1u << 24) - 0.5f) * 2.0f * qamp;
        }
        elm__attn_t a = {.kv = &kv,
                         .layer = 0,
                         .q = q,
                         .q_stride = q_dim,
                         .out = o1,
                         .out_stride = q_dim,
                         .n_rows = nr,
                         .pos0 = pos0,
                         .n_head = sh->n_head,
                         .n_head_kv = sh->n_head_kv,
                         .head_dim = hd,
                         .scale = md->scale,
                         .softcap = md->softcap,
                         .window = md->window};
        elm__attention(NULL, 1, &a, 1, sc);
        a.out = o3;
        elm__attention(pool, 3, &a, 1, sc);
        assert_memory_equal(o1, o3, (size_t)nr * q_dim * sizeof *o1);
        const double tol = kvt == ELM_TYPE_F32 ? 2e-5 : 3e-3;
        for (uint32_t r = 0; r < nr; r++)
            for (uint32_t h = 0; h < sh->n_head; h++) {
                const uint32_t kvh = h / (sh->n_head / sh->n_head_kv);
                const float *qh = q + (size_t)r * q_dim + h * hd;
                naive_attention(&kv, qh, pos0 + r, kvh, hd, md, ref);
                naive_attention(&kv, qh, pos0 + r, kvh, hd, &plain, ref_plain);
                for (uint32_t d = 0; d < hd; d++) {
                    const double got = o1[(size_t)r * q_dim + h * hd + d];
                    mode_effect = fmax(mode_effect, fabs(ref[d] - ref_plain[d]));
                    if (!(fabs(got - ref[d]) <= tol))
                        fail_msg("attention %u heads / %u kv x %u, %s cache, pos0 %u rows %u, "
                                 "softcap %g window %u: row %u head %u [%u] %.7g, reference %.7g",
                                 sh->n_head, sh->n_head_kv, hd, kvt == ELM_TYPE_F32 ? "f32" : "f16",
                                 pos0, nr, md->softcap, md->window, r, h, d, got, ref[d]);
                }
            }
        free(q);
        free(o1);
        free(o3);
    }
    free(ref);
    free(ref_plain);
    free(sc);
    free(row);
    elm__kv_free(&kv);
    return mode_effect;
}

/* Prefill blocks and single rows at awkward positions, GQA groups of 1, 2 and 7, f32 and f16
 * caches, against the reference (check_attention). */
static void test_attention_reference(void **state)
{
    (void)state;
    static const attn_shape_t shapes[] = {{4, 4, 8}, {4, 2, 16}, {14, 2, 64}, {6, 3, 40}};
    static const uint32_t cases[][2] = {{0, 1},   {0, 7},    {5, 17},   {0, 33},
                                        {100, 1}, {37, 100}, {150, 65}, {254, 1}};
    static const elm_type_t kv_types[] = {ELM_TYPE_F32, ELM_TYPE_F16};
    const attn_mode_t plain = {0};
    elm_pool_t *pool = NULL;
    assert_int_equal(elm_pool_create(3, &pool, NULL), 0);
    uint64_t rng = 99;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (size_t ki = 0; ki < 2; ki++)
            check_attention(pool, &shapes[si], kv_types[ki], cases, sizeof cases / sizeof cases[0],
                            &plain, 1.5f, &rng);
    elm_pool_free(pool);
}

/* gemma2's attention (README §7.2): scores soft-capped by tanh before the soft-max (scale 1,
 * q scaled beforehand), and a sliding window in which the query at p sees p - W < j <= p, in
 * prefill blocks that start before, inside and past the window and in single rows; head_dim 256
 * as Gemma 2 has. Each mode must also move the reference by far more than the tolerance, so an
 * engine that ignored the cap or the window would fail here. */
static void test_attention_softcap_window(void **state)
{
    (void)state;
    static const attn_shape_t shapes[] = {{8, 2, 32}, {8, 4, 256}};
    static const uint32_t cases[][2] = {{0, 1},  {0, 7},   {0, 40},   {5, 17},   {14, 3},
                                        {15, 2}, {100, 1}, {37, 100}, {150, 65}, {254, 1}};
    /* the cap bites: queries of ±3 against keys of ±2 give scores well past 8 */
    static const attn_mode_t modes[] = {
        {1.0f, 8.0f, 0}, {1.0f, 0, 16}, {1.0f, 8.0f, 16}, {0, 50.0f, 5}, {1.0f, 8.0f, 1}};
    static const elm_type_t kv_types[] = {ELM_TYPE_F32, ELM_TYPE_F16};
    elm_pool_t *pool = NULL;
    assert_int_equal(elm_pool_create(3, &pool, NULL), 0);
    uint64_t rng = 4711;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (size_t mi = 0; mi < sizeof modes / sizeof modes[0]; mi++)
            for (size_t ki = 0; ki < 2; ki++) {
                const attn_mode_t *md = &modes[mi];
                const double effect =
                    check_attention(pool, &shapes[si], kv_types[ki], cases,
                                    sizeof cases / sizeof cases[0], md, 3.0f, &rng);
                if (!(effect > 0.05))
                    fail_msg("softcap %g window %u moves the attention by only %.3g here",
                             md->softcap, md->window, effect);
            }
    elm_pool_free(pool);
}

/* ---- grouped products against separate ones ---- */

typedef struct {
    int64_t n_rows;
    int *hits; /* (3, n_rows, ld): times the epilogue saw each element */
    int64_t ld;
    float *tiled; /* (n_rows, ld): a per_tile product's outputs, as the epilogue saw them */
} cover_t;

static void count_tile(void *ctx, int which, int64_t r0, int64_t r1, int64_t o0, int64_t o1,
                       const float *tile)
{
    cover_t *c = ctx;
    for (int64_t r = r0; r < r1; r++)
        for (int64_t o = o0; o < o1; o++) {
            c->hits[((size_t)which * c->n_rows + r) * c->ld + o]++;
            if (tile) c->tiled[r * c->ld + o] = tile[(r - r0) * (o1 - o0) + o - o0];
        }
}

/* Random weights of type type, (ne1, ne0), quantized the way files are. */
static elm__weight_t make_weight(elm_type_t type, int64_t ne0, int64_t ne1, uint64_t *rng)
{
    const elm_type_traits_t *tr = elm_traits(type);
    elm__weight_t w = {.name = "w", .tr = tr, .ne0 = ne0, .ne1 = ne1};
    w.row_bytes = (size_t)ne0 / tr->blck_size * tr->type_size;
    float *f = malloc((size_t)ne0 * sizeof *f);
    char *data = malloc(w.row_bytes * (size_t)ne1);
    for (int64_t o = 0; o < ne1; o++) {
        for (int64_t i = 0; i < ne0; i++) {
            *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
            f[i] = (float)(*rng >> 40) / (float)(1u << 24) - 0.5f;
        }
        tr->quantize(f, data + (size_t)o * w.row_bytes, ne0);
    }
    free(f);
    w.data = data;
    return w;
}

/* Q/K/V-like (concatenated, head-aligned tiles) and gate/up-like (paired) groups give what
 * separate products give, the epilogue sees every output element exactly once, and the results
 * do not depend on the thread count; row counts cross the tile sizes. A paired group's second
 * product written tile by tile into per-thread buffers (per_tile, as the FFN's up) reaches the
 * epilogue with the same values, on one thread and on three. Groups of one weight type,
 * and of mixed types as real files have them (qwen2.5 Q4_K_M: q5_0 and q8_0 side by side),
 * whose decode kernels lay out the shared activation each in their own way (q4_K and q5_K in
 * the same way). */
static void test_matmul_groups(void **state)
{
    (void)state;
    static const elm_type_t types[][3] = {
        {ELM_TYPE_Q4_0, ELM_TYPE_Q4_0, ELM_TYPE_Q4_0},
        {ELM_TYPE_Q4_K, ELM_TYPE_Q4_K, ELM_TYPE_Q4_K},
        {ELM_TYPE_F16, ELM_TYPE_F16, ELM_TYPE_F16},
        {ELM_TYPE_F32, ELM_TYPE_F32, ELM_TYPE_F32},
        {ELM_TYPE_Q5_0, ELM_TYPE_Q4_0, ELM_TYPE_Q8_0},
        {ELM_TYPE_Q8_0, ELM_TYPE_Q5_0, ELM_TYPE_Q5_0},
        {ELM_TYPE_Q4_K, ELM_TYPE_Q6_K, ELM_TYPE_Q5_K},
        {ELM_TYPE_Q5_K, ELM_TYPE_Q4_K, ELM_TYPE_Q8_0},
    };
    static const int64_t rows[] = {1, 5, 64, 70, 130};
    elm_pool_t *pool = NULL;
    assert_int_equal(elm_pool_create(3, &pool, NULL), 0);
    uint64_t rng = 7;
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const int64_t ne0 = 256;
        for (int paired = 0; paired < 2; paired++) {
            const int64_t ne1[3] = {paired ? 200 : 160, paired ? 200 : 48, 48};
            const int n_out = paired ? 2 : 3;
            elm__weight_t w[3];
            for (int k = 0; k < n_out; k++)
                w[k] = make_weight(types[ti][k], ne0, ne1[k], &rng);
            const elm__weight_t *wp[3] = {&w[0], &w[1], &w[2]};
            void *qbuf = malloc(elm__matmul_scratch(wp, (size_t)n_out, 130, 1) + 1);
            for (size_t ri = 0; ri < sizeof rows / sizeof rows[0]; ri++) {
                const int64_t nr = rows[ri], ld = 200;
                float *x = malloc((size_t)nr * ne0 * sizeof *x);
                for (int64_t i = 0; i < nr * ne0; i++) {
                    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                    x[i] = ((float)(rng >> 40) / (float)(1u << 24) - 0.5f) * 2.0f;
                }
                float *y1[3], *y3[3], *sep[3];
                cover_t cov = {.n_rows = nr, .ld = ld};
                cov.hits = calloc((size_t)3 * nr * ld, sizeof *cov.hits);
                elm__mm_group_t g = {.n_out = n_out,
                                     .paired = paired,
                                     .align = paired ? 1 : 16,
                                     .epilogue = count_tile,
                                     .ctx = &cov};
                for (int k = 0; k < n_out; k++) {
                    y1[k] = calloc((size_t)nr * ld, sizeof(float));
                    y3[k] = calloc((size_t)nr * ld, sizeof(float));
                    sep[k] = calloc((size_t)nr * ne1[k], sizeof(float));
                    g.out[k] = (elm__mm_out_t){&w[k], y1[k], (size_t)ld};
                    elm__matmul(NULL, 1, &w[k], x, nr, sep[k], qbuf);
                }
                elm__matmul_group(NULL, 1, &g, x, nr, qbuf);
                for (int k = 0; k < n_out; k++)
                    g.out[k].y = y3[k];
                g.epilogue = NULL;
                elm__matmul_group(pool, 3, &g, x, nr, qbuf);
                if (paired) {
                    const size_t tf = elm__matmul_tile_floats(1, 1);
                    float *tiles = malloc(3 * tf * sizeof(float));
                    g.out[1] = (elm__mm_out_t){&w[1], tiles, tf, true};
                    g.epilogue = count_tile;
                    cover_t tc = {.n_rows = nr, .ld = ld};
                    g.ctx = &tc;
                    for (int nt = 1; nt <= 3; nt += 2) {
                        tc.hits = calloc((size_t)3 * nr * ld, sizeof *tc.hits);
                        tc.tiled = calloc((size_t)nr * ld, sizeof(float));
                        elm__matmul_group(nt > 1 ? pool : NULL, nt, &g, x, nr, qbuf);
                        for (int64_t r = 0; r < nr; r++)
                            assert_memory_equal(tc.tiled + r * ld, y1[1] + r * ld,
                                                (size_t)ne1[1] * sizeof(float));
                        free(tc.tiled);
                        free(tc.hits);
                    }
                    free(tiles);
                    g.out[1].y = y3[1]; /* for the checks below, which ran before */
                }
                for (int k = 0; k < n_out; k++) {
                    assert_memory_equal(y1[k], y3[k], (size_t)nr * ld * sizeof(float));
                    for (int64_t r = 0; r < nr; r++)
                        for (int64_t o = 0; o < ld; o++) {
                            const int hit = cov.hits[((size_t)(paired ? 0 : k) * nr + r) * ld + o];
                            const int want = o < ne1[k];
                            /* paired: one epilogue call (which 0) covers both products */
                            if (!paired || k == 0)
                                if (hit != want)
                                    fail_msg("%s group %d rows %lld: product %d (%lld, %lld) "
                                             "seen %d times by the epilogue",
                                             elm_traits(types[ti][k])->name, paired, (long long)nr,
                                             k, (long long)r, (long long)o, hit);
                            if (o >= ne1[k]) continue;
                            const float a = y1[k][r * ld + o], b = sep[k][r * ne1[k] + o];
                            assert_memory_equal(&a, &b, sizeof a);
                        }
                }
                for (int k = 0; k < n_out; k++) {
                    free(y1[k]);
                    free(y3[k]);
                    free(sep[k]);
                }
                free(cov.hits);
                free(x);
            }
            free(qbuf);
            for (int k = 0; k < n_out; k++)
                free((void *)w[k].data);
        }
    }
    elm_pool_free(pool);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_models),        cmocka_unit_test(test_session_mechanics),
        cmocka_unit_test(test_hooks_and_timings), cmocka_unit_test(test_stories_golden),
        cmocka_unit_test(test_f16_kv_cache),      cmocka_unit_test(test_reference_models),
        cmocka_unit_test(test_thread_counts),     cmocka_unit_test(test_no_mmap),
        cmocka_unit_test(test_attention_reference),
        cmocka_unit_test(test_matmul_groups),
        cmocka_unit_test(test_phi3_longrope),
        cmocka_unit_test(test_attention_softcap_window),
        cmocka_unit_test(test_gemma2_model),
    };
    /* clang-format on */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
