/* engine/: the forward pass against llama.cpp's logits for every reference model (batched
 * prefill rows and teacher-forced single-token rows, README §2.7 tolerances), greedy
 * continuations, the llama2.c golden text of stories260K, session mechanics (batching, threads,
 * truncate), and named errors for bad models and inputs. */
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

static int argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static double margin(const float *x, int n)
{
    int a = argmax(x, n);
    double second = -INFINITY;
    for (int i = 0; i < n; i++)
        if (i != a && x[i] > second) second = x[i];
    return x[a] - second;
}

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

static void read_int_array(const cJSON *a, int32_t *out, int max, int *n)
{
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, a)
    {
        assert_true(i < max);
        out[i++] = (int32_t)it->valuedouble;
    }
    if (n) *n = i;
}

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
        read_int_array(cJSON_GetObjectItem(seq, "tokens"), r->tokens[s], 64, &r->n_tokens[s]);
        int n;
        read_int_array(cJSON_GetObjectItem(seq, "greedy_tokens"), r->greedy[s], N_GEN, &n);
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

typedef struct {
    const char *name;
    kind_t kind;
} ref_model_t;

static const ref_model_t ref_models[] = {
    {"stories260K-F32", KIND_F32},      {"stories260K-F16", KIND_F16},
    {"tiny-qwen2-F32", KIND_F32},       {"tiny-qwen2-F16", KIND_F16},
    {"tiny-qwen2-Q8_0", KIND_QUANT},    {"tiny-qwen2-Q4_0", KIND_QUANT},
    {"tiny-qwen2-Q4_K_M", KIND_QUANT},  {"tiny-qwen2-Q6_K", KIND_QUANT},
    {"tiny-llama3-F32", KIND_F32},      {"tiny-llama3-F16", KIND_F16},
    {"tiny-llama3-Q8_0", KIND_QUANT},   {"tiny-llama3-Q4_0", KIND_QUANT},
    {"tiny-llama3-Q4_K_M", KIND_QUANT}, {"tiny-llama3-Q6_K", KIND_QUANT},
};

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
    int rc = elm_model_load(gguf, NULL, &m, &d);
    if (rc) fail_msg("%s: %s", rm->name, d.msg);
    assert_int_equal(elm_model_hparams(m)->n_vocab, N_VOCAB);
    /* Two threads: the pool is exercised, and results do not depend on the split. */
    elm_session_t *s = new_session(m, 2, ELM_TYPE_F32);

    const double thr = rm->kind == KIND_F32 ? 1e-3 : rm->kind == KIND_F16 ? 0.05 : INFINITY;
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
            if (rm->kind == KIND_F32 && (row.max > 1e-3 || rms_of(&row) > 1e-4))
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
            if (rm->kind == KIND_F32 && (row.max > 1e-3 || rms_of(&row) > 1e-4))
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
        assert_true(pre.max <= 0.05 && gen.max <= 0.05);
        assert_true(rms_of(&pre) <= 0.005 && rms_of(&gen) <= 0.005);
        assert_int_equal(pre.must_agree_failed + gen.must_agree_failed, 0);
        break;
    case KIND_QUANT:
        assert_true(pre.max <= 1.0 && gen.max <= 1.0);
        assert_true(rms_of(&pre) <= 0.1 && rms_of(&gen) <= 0.1);
        assert_true(agree_pre >= 95.0 && agree_gen >= 95.0);
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
        assert_int_equal(elm_model_load(gguf, NULL, &m, NULL), 0);
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
    read_int_array(cJSON_GetObjectItem(want, "prompt_ids"), prompt, 16, &n_prompt);
    read_int_array(cJSON_GetObjectItem(want, "generated_ids"), golden, 128, &n_golden);
    cJSON_Delete(root);

    const char *mp = elm_test_data("reference/models/stories260K-F32.gguf");
    if (!mp) return;
    elm_model_t *m = NULL;
    assert_int_equal(elm_model_load(mp, NULL, &m, NULL), 0);
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
    assert_int_equal(elm_model_load(p, NULL, &m, &d), ELM_ENOTSUP);
    assert_null(m);
    assert_non_null(strstr(d.msg, "architecture 'gpt9' is not supported"));
    unlink(p);

    p = tiny(TINY_MISSING, "llama");
    assert_int_equal(elm_model_load(p, NULL, &m, &d), ELM_ENOKEY);
    assert_non_null(strstr(d.msg, "tensor blk.0.ffn_up.weight is missing (architecture llama)"));
    unlink(p);

    p = tiny(TINY_SHAPE, "qwen2");
    assert_int_equal(elm_model_load(p, NULL, &m, &d), ELM_EINVAL);
    assert_non_null(strstr(d.msg, "tensor blk.0.attn_k.weight has shape 32 x 32, expected 32 x 16 "
                                  "(architecture qwen2)"));
    unlink(p);

    p = tiny(TINY_NO_HEADS, "llama");
    assert_int_equal(elm_model_load(p, NULL, &m, &d), ELM_ENOKEY);
    assert_non_null(strstr(d.msg, "llama.attention.head_count is missing"));
    unlink(p);

    assert_int_equal(elm_model_load("/nonexistent/model.gguf", NULL, &m, &d), ELM_ENOENT);
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
        if (elm_model_load(p, NULL, &m, &d)) fail_msg("%s", d.msg);
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
    assert_int_equal(elm_model_load(p, &hooks, &m, NULL), 0);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_models),        cmocka_unit_test(test_session_mechanics),
        cmocka_unit_test(test_hooks_and_timings), cmocka_unit_test(test_stories_golden),
        cmocka_unit_test(test_f16_kv_cache),      cmocka_unit_test(test_reference_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
