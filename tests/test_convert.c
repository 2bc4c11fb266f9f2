/* convert/: file-type names, llama-quantize's per-tensor types (on the real models' shapes and
 * against llama.cpp's own output for the tiny reference models, byte for byte), synth plans and
 * their file sizes against the real downloads, the Llama 3 rope factors, and the errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "convert/convert_internal.h"
#include "edgelm/convert.h"
#include "edgelm/gguf.h"
#include "edgelm/tokenizer.h"
#include "testutil.h"

static void test_ftype_names(void **state)
{
    (void)state;
    elm_ftype_t f;
    assert_int_equal(elm_ftype_from_name("q4_k_m", &f), 0);
    assert_int_equal(f, ELM_FTYPE_Q4_K_M);
    assert_int_equal(elm_ftype_from_name("Q4_K", &f), 0); /* llama-quantize's alias */
    assert_int_equal(f, ELM_FTYPE_Q4_K_M);
    assert_int_equal(elm_ftype_from_name("Q5_K", &f), 0);
    assert_int_equal(f, ELM_FTYPE_Q5_K_M);
    assert_int_equal(elm_ftype_from_name("bf16", &f), 0);
    assert_int_equal(f, 32);
    assert_int_equal(elm_ftype_from_name("Q8_0", &f), 0);
    assert_int_equal(f, 7);
    assert_int_equal(elm_ftype_from_name("Q6_K", &f), 0);
    assert_int_equal(f, 18);
    assert_int_equal(elm_ftype_from_name("Q3_K_M", &f), ELM_EINVAL);
    assert_int_equal(f, ELM_FTYPE_ALL_F32);
    assert_string_equal(elm_ftype_name(ELM_FTYPE_Q5_K_M), "Q5_K_M");
    assert_int_equal(elm_ftype_base_type(ELM_FTYPE_Q4_K_M), ELM_TYPE_Q4_K);
}

/* ---- the real models' mixes (llamacpp-cpu.md), from the shape table alone ---- */

static elm_synth_plan_t *plan(const char *spec)
{
    elm_synth_plan_t *p = NULL;
    elm_diag_t d = {0};
    int rc = elm_synth_plan(spec, NULL, &p, &d);
    if (rc) fprintf(stderr, "%s: %s\n", spec, d.msg);
    assert_int_equal(rc, 0);
    return p;
}

static void expect_counts(const char *spec, const int *counts /* type, count, ..., -1 */)
{
    elm_synth_plan_t *p = plan(spec);
    uint64_t sum = 0;
    for (const int *c = counts; *c >= 0; c += 2) {
        uint64_t got = elm_synth_plan_type_count(p, (elm_type_t)c[0]);
        if (got != (uint64_t)c[1])
            fprintf(stderr, "%s: %s x%llu, wanted %d\n", spec, elm_type_info(c[0])->name,
                    (unsigned long long)got, c[1]);
        assert_int_equal(got, c[1]);
        sum += got;
    }
    assert_int_equal(sum, elm_synth_plan_n_tensors(p)); /* and no other types */
    elm_synth_plan_free(p);
}

static void test_real_mixes(void **state)
{
    (void)state;
    /* qwen2.5-0.5b: 24 layers × (7 matrices + 2 norms + 3 biases) + token_embd + output_norm */
    expect_counts("qwen2.5-0.5b:Q4_K_M",
                  (const int[]){ELM_TYPE_Q5_0, 132, ELM_TYPE_Q8_0, 13, ELM_TYPE_Q4_K, 12,
                                ELM_TYPE_Q6_K, 12, ELM_TYPE_F32, 121, -1});
    expect_counts("qwen2.5-0.5b:Q4_0",
                  (const int[]){ELM_TYPE_Q4_0, 168, ELM_TYPE_Q8_0, 1, ELM_TYPE_F32, 121, -1});
    /* llama3.2-1b: 16 × (7 + 2) + token_embd + output_norm + rope_freqs */
    expect_counts("llama3.2-1b:Q4_K_M",
                  (const int[]){ELM_TYPE_Q4_K, 96, ELM_TYPE_Q6_K, 17, ELM_TYPE_F32, 34, -1});
    expect_counts("llama3.2-1b:Q4_0",
                  (const int[]){ELM_TYPE_Q4_0, 112, ELM_TYPE_Q6_K, 1, ELM_TYPE_F32, 34, -1});
    expect_counts("llama3.2-1b:Q8_0", (const int[]){ELM_TYPE_Q8_0, 113, ELM_TYPE_F32, 34, -1});
    expect_counts("llama3.2-1b:F16", (const int[]){ELM_TYPE_F16, 113, ELM_TYPE_F32, 34, -1});
    expect_counts("llama3.2-1b:F32", (const int[]){ELM_TYPE_F32, 147, -1});
    /* phi3.5-mini: 32 × (attn_qkv, attn_output, ffn_up, ffn_down + 2 norms) + token_embd, output,
     * output_norm and the two LongRoPE factor tensors; attn_qkv is Q5_K in every layer */
    expect_counts("phi3.5-mini:Q4_K_M", (const int[]){ELM_TYPE_Q4_K, 81, ELM_TYPE_Q5_K, 32,
                                                      ELM_TYPE_Q6_K, 17, ELM_TYPE_F32, 67, -1});
    /* gemma2-2b: 26 × (7 matrices + 4 norms) + token_embd (tied: the output, Q6_K) + output_norm */
    expect_counts("gemma2-2b:Q4_K_M",
                  (const int[]){ELM_TYPE_Q4_K, 156, ELM_TYPE_Q6_K, 27, ELM_TYPE_F32, 105, -1});
    expect_counts("gemma2-2b:Q4_0",
                  (const int[]){ELM_TYPE_Q4_0, 182, ELM_TYPE_Q6_K, 1, ELM_TYPE_F32, 105, -1});
    expect_counts("internlm2.5-7b:Q4_K_M",
                  (const int[]){ELM_TYPE_Q4_K, 193, ELM_TYPE_Q6_K, 33, ELM_TYPE_F32, 65, -1});
    /* flan-t5-large: 24 × 7 encoder + 24 × 11 decoder matrices + token_embd + output = 434;
     * F32: 24 × 2 + 24 × 3 norms, 2 output norms, 2 attn_rel_b = 124. Q4_K_M: the 72 attn_v
     * (enc attn_v, dec attn_v, dec cross_attn_v) get Q6_K where use_more_bits(i, 72): i < 9,
     * i >= 63, and (i - 9) % 3 == 2 between = 9 + 9 + 18 = 36; the 48 ffn_down count against
     * n_layer 24: i < 3, i >= 21 (27 of them), 6 between = 36; + output = 73 Q6_K. */
    expect_counts("flan-t5-large:Q4_K_M",
                  (const int[]){ELM_TYPE_Q4_K, 361, ELM_TYPE_Q6_K, 73, ELM_TYPE_F32, 124, -1});
    expect_counts("flan-t5-large:Q4_0",
                  (const int[]){ELM_TYPE_Q4_0, 433, ELM_TYPE_Q6_K, 1, ELM_TYPE_F32, 124, -1});
    expect_counts("flan-t5-large:Q8_0", (const int[]){ELM_TYPE_Q8_0, 434, ELM_TYPE_F32, 124, -1});
    /* flan-t5-base: 12 × 18 + 2 = 218 matrices, 12 × 5 + 4 = 64 F32 */
    expect_counts("flan-t5-base:F16", (const int[]){ELM_TYPE_F16, 218, ELM_TYPE_F32, 64, -1});
}

/* The T5 tensor of each name, from the shape's tensor list (llama.cpp's order). */
static const elm_tensor_desc_t *find_desc(const elm_tensor_desc_t *t, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(t[i].name, name)) return &t[i];
    return NULL;
}

static void free_descs(elm_tensor_desc_t *t, char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(t);
}

/* tiny-t5's shape (reference README §6.4): flan-t5-base cut to 2 + 2 blocks of width 256, 4
 * heads of 64, FFN 512, 512 ids */
static elm_synth_shape_t tiny_t5(void)
{
    elm_synth_shape_t s = *elm_synth_shape_find("flan-t5-base");
    s.name = "tiny-t5";
    s.n_embd = 256;
    s.n_ff = 512;
    s.n_layer = 2;
    s.n_head = s.n_head_kv = 4;
    s.n_vocab = 512;
    return s;
}

static void test_t5_types(void **state)
{
    (void)state;
    elm_tensor_desc_t *t = NULL;
    char **names = NULL;
    size_t n = 0;
    elm_synth_shape_t tiny = tiny_t5();
    assert_int_equal(elm__shape_tensors(&tiny, &t, &names, &n), 0);
    assert_int_equal(n, 52);
    elm_type_t out[52];
    /* The written order is strcmp's (no "blk.N." prefix): the attn_v counter runs over
     * dec.0.attn_v, dec.0.cross_attn_v, dec.1.attn_v, dec.1.cross_attn_v, enc.0.attn_v,
     * enc.1.attn_v (i = 0..5 of n_attention_wv = 3 · 2); use_more_bits(i, 6) holds for i = 2
     * ((i - 0) % 3 == 2) and i = 5 (>= 7·6/8). ffn_down: dec.0, dec.1, enc.0, enc.1 (i = 0..3)
     * against n_ffn_down = 2: i >= 7·2/8 = 1 holds for all but dec.0. Q4_K_S: attn_v i < 4 get
     * Q5_K, ffn_down i < 2/8 = 0 none. output: Q6_K; token_embd: the base type. */
    static const struct {
        const char *name;
        elm_type_t q4_k_m, q4_k_s, q4_0, q5_k_m;
    } want[] = {
        {"dec.blk.0.attn_v.weight", ELM_TYPE_Q4_K, ELM_TYPE_Q5_K, ELM_TYPE_Q4_0, ELM_TYPE_Q5_K},
        {"dec.blk.0.cross_attn_v.weight", ELM_TYPE_Q4_K, ELM_TYPE_Q5_K, ELM_TYPE_Q4_0,
         ELM_TYPE_Q5_K},
        {"dec.blk.1.attn_v.weight", ELM_TYPE_Q6_K, ELM_TYPE_Q5_K, ELM_TYPE_Q4_0, ELM_TYPE_Q6_K},
        {"dec.blk.1.cross_attn_v.weight", ELM_TYPE_Q4_K, ELM_TYPE_Q5_K, ELM_TYPE_Q4_0,
         ELM_TYPE_Q5_K},
        {"enc.blk.0.attn_v.weight", ELM_TYPE_Q4_K, ELM_TYPE_Q4_K, ELM_TYPE_Q4_0, ELM_TYPE_Q5_K},
        {"enc.blk.1.attn_v.weight", ELM_TYPE_Q6_K, ELM_TYPE_Q4_K, ELM_TYPE_Q4_0, ELM_TYPE_Q6_K},
        {"dec.blk.0.ffn_down.weight", ELM_TYPE_Q4_K, ELM_TYPE_Q4_K, ELM_TYPE_Q4_0, ELM_TYPE_Q5_K},
        {"dec.blk.1.ffn_down.weight", ELM_TYPE_Q6_K, ELM_TYPE_Q4_K, ELM_TYPE_Q4_0, ELM_TYPE_Q6_K},
        {"enc.blk.0.ffn_down.weight", ELM_TYPE_Q6_K, ELM_TYPE_Q4_K, ELM_TYPE_Q4_0, ELM_TYPE_Q6_K},
        {"enc.blk.1.ffn_down.weight", ELM_TYPE_Q6_K, ELM_TYPE_Q4_K, ELM_TYPE_Q4_0, ELM_TYPE_Q6_K},
        {"output.weight", ELM_TYPE_Q6_K, ELM_TYPE_Q6_K, ELM_TYPE_Q6_K, ELM_TYPE_Q6_K},
        {"token_embd.weight", ELM_TYPE_Q4_K, ELM_TYPE_Q4_K, ELM_TYPE_Q4_0, ELM_TYPE_Q5_K},
        {"dec.blk.1.cross_attn_k.weight", ELM_TYPE_Q4_K, ELM_TYPE_Q4_K, ELM_TYPE_Q4_0,
         ELM_TYPE_Q5_K},
        {"enc.blk.0.attn_o.weight", ELM_TYPE_Q4_K, ELM_TYPE_Q4_K, ELM_TYPE_Q4_0, ELM_TYPE_Q5_K},
        /* never quantized: the bias tables and the norms */
        {"enc.blk.0.attn_rel_b.weight", ELM_TYPE_F32, ELM_TYPE_F32, ELM_TYPE_F32, ELM_TYPE_F32},
        {"dec.blk.0.attn_rel_b.weight", ELM_TYPE_F32, ELM_TYPE_F32, ELM_TYPE_F32, ELM_TYPE_F32},
        {"dec.blk.1.cross_attn_norm.weight", ELM_TYPE_F32, ELM_TYPE_F32, ELM_TYPE_F32,
         ELM_TYPE_F32},
        {"enc.output_norm.weight", ELM_TYPE_F32, ELM_TYPE_F32, ELM_TYPE_F32, ELM_TYPE_F32},
    };
    const elm_ftype_t ft[4] = {ELM_FTYPE_Q4_K_M, ELM_FTYPE_Q4_K_S, ELM_FTYPE_Q4_0,
                               ELM_FTYPE_Q5_K_M};
    for (int f = 0; f < 4; f++) {
        assert_int_equal(elm_choose_types(t, n, 2, ft[f], out, NULL), 0);
        for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
            const elm_tensor_desc_t *d = find_desc(t, n, want[w].name);
            assert_non_null(d);
            elm_type_t got = out[d - t];
            elm_type_t exp = f == 0   ? want[w].q4_k_m
                             : f == 1 ? want[w].q4_k_s
                             : f == 2 ? want[w].q4_0
                                      : want[w].q5_k_m;
            if (got != exp)
                fprintf(stderr, "%s %s: %s, wanted %s\n", elm_ftype_name(ft[f]), want[w].name,
                        elm_type_info(got)->name, elm_type_info(exp)->name);
            assert_int_equal(got, exp);
        }
    }
    free_descs(t, names, n);
}

/* flan-t5-large's tensors: the shapes T5Model writes from google/flan-t5-large's config.json */
static void test_t5_shapes(void **state)
{
    (void)state;
    elm_tensor_desc_t *t = NULL;
    char **names = NULL;
    size_t n = 0;
    assert_int_equal(elm__shape_tensors(elm_synth_shape_find("flan-t5-large"), &t, &names, &n), 0);
    assert_int_equal(n, 558);
    static const struct {
        const char *name;
        int64_t ne0, ne1;
    } want[] = {
        {"token_embd.weight", 1024, 32128},
        {"output.weight", 1024, 32128},
        {"enc.blk.0.attn_q.weight", 1024, 1024},
        {"enc.blk.23.attn_o.weight", 1024, 1024},
        {"enc.blk.0.attn_rel_b.weight", 16, 32},
        {"dec.blk.0.attn_rel_b.weight", 16, 32},
        {"enc.blk.5.ffn_gate.weight", 1024, 2816},
        {"dec.blk.23.ffn_up.weight", 1024, 2816},
        {"dec.blk.23.ffn_down.weight", 2816, 1024},
        {"dec.blk.7.cross_attn_k.weight", 1024, 1024},
        {"dec.blk.7.cross_attn_norm.weight", 1024, 1},
        {"enc.output_norm.weight", 1024, 1},
        {"dec.output_norm.weight", 1024, 1},
    };
    for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
        const elm_tensor_desc_t *d = find_desc(t, n, want[w].name);
        if (!d) fprintf(stderr, "no %s\n", want[w].name);
        assert_non_null(d);
        assert_int_equal(d->n_dims, want[w].ne1 > 1 ? 2 : 1);
        assert_int_equal(d->ne[0], want[w].ne0);
        assert_int_equal(d->ne[1], want[w].ne1);
    }
    /* the bias table lives in block 0 of each stack only; the encoder has no cross-attention */
    assert_null(find_desc(t, n, "enc.blk.1.attn_rel_b.weight"));
    assert_null(find_desc(t, n, "dec.blk.23.attn_rel_b.weight"));
    assert_null(find_desc(t, n, "enc.blk.0.cross_attn_q.weight"));
    assert_null(find_desc(t, n, "output_norm.weight"));
    free_descs(t, names, n);
}

static void test_use_more_bits_layers(void **state)
{
    (void)state;
    /* 4 layers (the tiny models): attn_v and ffn_down get Q6_K in layers 2 and 3 only */
    elm_tensor_desc_t t[8];
    char names[8][40];
    int k = 0;
    for (int l = 0; l < 4; l++) {
        snprintf(names[k], 40, "blk.%d.attn_v.weight", l);
        t[k] = (elm_tensor_desc_t){names[k], ELM_TYPE_F32, 2, {256, 64, 1, 1}};
        k++;
        snprintf(names[k], 40, "blk.%d.ffn_down.weight", l);
        t[k] = (elm_tensor_desc_t){names[k], ELM_TYPE_F32, 2, {768, 256, 1, 1}};
        k++;
    }
    elm_type_t out[8];
    assert_int_equal(elm_choose_types(t, 8, 4, ELM_FTYPE_Q4_K_M, out, NULL), 0);
    for (int i = 0; i < 8; i++)
        assert_int_equal(out[i], i >= 4 ? ELM_TYPE_Q6_K : ELM_TYPE_Q4_K);
    /* 768-wide rows: Q4_K fits; 896-wide (Qwen2.5-0.5B) falls back to Q5_0, Q6_K to Q8_0 */
    for (int i = 0; i < 8; i++)
        t[i].ne[0] = 896;
    assert_int_equal(elm_choose_types(t, 8, 4, ELM_FTYPE_Q4_K_M, out, NULL), 0);
    for (int i = 0; i < 8; i++)
        assert_int_equal(out[i], i >= 4 ? ELM_TYPE_Q8_0 : ELM_TYPE_Q5_0);
    /* a row length that fits no block: a clear error naming the tensor */
    elm_tensor_desc_t bad = {"blk.0.attn_q.weight", ELM_TYPE_F32, 2, {100, 64, 1, 1}};
    elm_diag_t d = {0};
    assert_int_equal(elm_choose_types(&bad, 1, 1, ELM_FTYPE_Q4_0, out, &d), ELM_ENOTSUP);
    assert_non_null(strstr(d.msg, "blk.0.attn_q.weight"));
    /* F16 does not care about blocks; 1-D tensors and norms keep their type */
    elm_tensor_desc_t keep[2] = {{"blk.0.attn_q.bias", ELM_TYPE_F32, 1, {100, 1, 1, 1}},
                                 {"blk.0.attn_norm.weight", ELM_TYPE_F32, 1, {100, 1, 1, 1}}};
    assert_int_equal(elm_choose_types(keep, 2, 1, ELM_FTYPE_F16, out, NULL), 0);
    assert_int_equal(out[0], ELM_TYPE_F32);
    assert_int_equal(out[1], ELM_TYPE_F32);
}

/* ---- file sizes against the real downloads, without writing anything ---- */

static void expect_size(const char *spec, uint64_t real)
{
    elm_synth_plan_t *p = plan(spec);
    uint64_t got = elm_synth_plan_file_size(p);
    double rel = ((double)got - (double)real) / (double)real;
    printf("  %-22s plan %llu bytes, real %llu (%+.3f %%)\n", spec, (unsigned long long)got,
           (unsigned long long)real, 100 * rel);
    assert_true(rel < 0.01 && rel > -0.01);
    elm_synth_plan_free(p);
}

static void test_plan_sizes(void **state)
{
    (void)state;
    expect_size("qwen2.5-0.5b:Q4_0", 352152224);
    expect_size("qwen2.5-0.5b:Q4_K_M", 397805216);
    expect_size("llama3.2-1b:Q4_K_M", 807690400);
    expect_size("llama3.2-1b:Q8_0", 1321078944);
}

/* ---- vocabularies ---- */

/* The planned file size with vocab (0 on failure, *rc set). */
static uint64_t plan_with_vocab(const char *spec, const char *vocab, int *rc, elm_diag_t *d)
{
    elm_synth_opts_t o = {.vocab_path = vocab};
    elm_synth_plan_t *p = NULL;
    *rc = elm_synth_plan(spec, &o, &p, d);
    uint64_t size = p ? elm_synth_plan_file_size(p) : 0;
    elm_synth_plan_free(p);
    return size;
}

static void test_vocab_option(void **state)
{
    (void)state;
    const char *qv = elm_test_data("vocab/ggml-vocab-qwen2.gguf");
    if (!qv) return;
    int rc;
    elm_diag_t d = {0};
    uint64_t size = plan_with_vocab("qwen2.5-0.5b:Q4_0", qv, &rc, &d);
    assert_int_equal(rc, 0);
    /* with the real tokenizer the layout matches the real download to a few general.* keys */
    printf("  qwen2.5-0.5b:Q4_0 with the real vocab: %llu bytes, real 352152224\n",
           (unsigned long long)size);
    assert_true(size > 352152224 - 1024 && size < 352152224 + 1024);
    /* 151936 tokens do not fit smollm2's 49152 rows */
    plan_with_vocab("smollm2-135m:Q8_0", qv, &rc, &d);
    assert_int_equal(rc, ELM_EINVAL);
    assert_non_null(strstr(d.msg, "151936 tokens"));
    /* a file that is not a vocabulary */
    const char *m = elm_test_data("reference/models/tiny-qwen2-F32.gguf");
    if (!m) return;
    plan_with_vocab("qwen2.5-0.5b:Q4_0", "/nonexistent/v.gguf", &rc, &d);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(d.msg, "/nonexistent/v.gguf"));
}

/* A synthetic file with a vocab smaller than the model (llama-spm, 32000 tokens, with scores):
 * padded with [PAD<id>] UNUSED tokens; written, read back, size equal to the plan. */
static void test_vocab_padding_written(void **state)
{
    (void)state;
    const char *gv = elm_test_data("vocab/ggml-vocab-llama-spm.gguf");
    if (!gv) return;
    elm_synth_opts_t o = {.vocab_path = gv, .seed = 1, .n_threads = 2};
    elm_synth_plan_t *p = NULL;
    elm_diag_t d = {0};
    assert_int_equal(elm_synth_plan("smollm2-135m:Q4_0", &o, &p, &d), 0);
    char path[] = "/tmp/elm_test_synthXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    elm_convert_stats_t st;
    int rc = elm_synth_write(p, path, &o, &st, &d);
    if (rc) fprintf(stderr, "%s\n", d.msg);
    assert_int_equal(rc, 0);
    elm_gguf_t *g = NULL;
    assert_int_equal(elm_gguf_open(path, &g, &d), 0);
    assert_int_equal(elm_gguf_file_size(g), elm_synth_plan_file_size(p));
    const elm_gguf_value_t *tok;
    assert_int_equal(elm_gguf_get_arr(g, "tokenizer.ggml.tokens", &tok), 0);
    assert_int_equal(tok->arr.n, 49152);
    const elm_str_t *last = &tok->arr.items[49151].s;
    assert_int_equal(last->len, strlen("[PAD49151]"));
    assert_memory_equal(last->ptr, "[PAD49151]", last->len);
    const elm_gguf_value_t *tt;
    assert_int_equal(elm_gguf_get_arr(g, "tokenizer.ggml.token_type", &tt), 0);
    assert_int_equal(elm_gguf_arr_i64(tt, 49151), 5);
    assert_int_equal(elm_gguf_get_arr(g, "tokenizer.ggml.scores", &tt), 0);
    assert_int_equal(tt->arr.n, 49152);
    assert_int_equal(elm_gguf_n_tensors(g), 272);
    elm_gguf_close(g);
    unlink(path);
    elm_synth_plan_free(p);
}

/* ---- llama3 rope factors against convert_hf_to_gguf.py's, as stored in tiny-llama3 ---- */

static void test_rope_factors(void **state)
{
    (void)state;
    const char *m = elm_test_data("reference/models/tiny-llama3-F32.gguf");
    if (!m) return;
    elm_gguf_t *g = NULL;
    assert_int_equal(elm_gguf_open(m, &g, NULL), 0);
    const elm_gguf_tensor_t *t = elm_gguf_find_tensor(g, "rope_freqs.weight");
    assert_non_null(t);
    assert_int_equal(t->ne[0], 16);
    float f[16];
    elm_llama3_rope_factors(500000.0f, 32, 32.0f, f);
    assert_memory_equal(f, t->data, sizeof f);
    elm_gguf_close(g);
}

/* ---- the new architectures' layout against llama.cpp's reference files ---- */

/* Synthesize shape (the hyperparameters of a reference model) as ftype and compare with
 * llama.cpp's ref_rel (of that type): every <arch>.* key with its type and value, and every
 * tensor's name, type and shape, in the same order; 1-D F32 tensors (the LongRoPE factors) also
 * by value. The generated vocabulary's chat template must be detected as *chat (NULL: the
 * tokenizer is not loaded). */
static void expect_layout_like(const elm_synth_shape_t *shape, elm_ftype_t ftype,
                               const char *ref_rel, const elm_chat_tmpl_t *chat)
{
    const char *rp = elm_test_data(ref_rel);
    if (!rp) return;
    char out[128];
    snprintf(out, sizeof out, "/tmp/elm_test_layout_%d_%s.gguf", (int)getpid(), shape->name);
    elm_synth_opts_t o = {.seed = 1, .n_threads = 2};
    elm_synth_plan_t *p = NULL;
    elm_diag_t d = {0};
    elm_gguf_t *a = NULL, *b = NULL;
    assert_int_equal(elm__synth_plan_shape(shape, ftype, &o, &p, &d), 0);
    int rc = elm_synth_write(p, out, &o, NULL, &d);
    if (rc) fprintf(stderr, "%s\n", d.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(elm_gguf_open(out, &a, &d), 0);
    assert_int_equal(elm_gguf_open(rp, &b, &d), 0);
    size_t al = strlen(shape->arch);
    int n_keys = 0;
    for (uint64_t i = 0; i < elm_gguf_n_kv(b); i++) {
        const elm_gguf_kv_t *kv = elm_gguf_kv_at(b, i);
        if (strncmp(kv->key, shape->arch, al) || kv->key[al] != '.') continue;
        const elm_gguf_value_t *v = elm_gguf_get(a, kv->key);
        if (!v) fprintf(stderr, "%s: synth lacks %s\n", shape->name, kv->key);
        assert_non_null(v);
        assert_int_equal(v->type, kv->value.type);
        if (v->u != kv->value.u)
            fprintf(stderr, "%s: %s differs (%g vs %g, %llu vs %llu)\n", shape->name, kv->key, v->f,
                    kv->value.f, (unsigned long long)v->u, (unsigned long long)kv->value.u);
        assert_true(v->u == kv->value.u); /* the same bits: u aliases f */
        n_keys++;
    }
    assert_true(n_keys >= 8);
    assert_int_equal(elm_gguf_n_tensors(a), elm_gguf_n_tensors(b));
    for (uint64_t i = 0; i < elm_gguf_n_tensors(b); i++) {
        const elm_gguf_tensor_t *y = elm_gguf_tensor_at(b, i);
        const elm_gguf_tensor_t *x = elm_gguf_tensor_at(a, i);
        if (strcmp(x->name, y->name))
            fprintf(stderr, "%s: tensor %llu is %s, llama.cpp's %s\n", shape->name,
                    (unsigned long long)i, x->name, y->name);
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->type, y->type);
        assert_int_equal(x->n_dims, y->n_dims);
        for (uint32_t k = 0; k < y->n_dims; k++)
            assert_int_equal(x->ne[k], y->ne[k]);
        if (y->n_dims == 1 && y->type == ELM_TYPE_F32 && !strstr(y->name, "norm"))
            assert_memory_equal(x->data, y->data, y->size);
    }
    if (chat) {
        elm_tokenizer_t *tok = NULL;
        assert_int_equal(elm_tokenizer_from_gguf(a, &tok, &d), 0);
        assert_int_equal(elm_chat_detect(elm_tokenizer_chat_template(tok)), *chat);
        elm_tokenizer_free(tok);
    }
    printf("  %s: %d %s.* keys and %llu tensors as in %s\n", shape->name, n_keys, shape->arch,
           (unsigned long long)elm_gguf_n_tensors(b), ref_rel);
    elm_gguf_close(a);
    elm_gguf_close(b);
    elm_synth_plan_free(p);
    unlink(out);
}

static void test_layout_phi3(void **state)
{
    (void)state;
    /* tiny-phi3 (reference README §7.4) stores every third of Phi-3.5-mini's 48 factors */
    const elm_synth_shape_t *real = elm_synth_shape_find("phi3.5-mini");
    assert_non_null(real);
    float lf[16], sf[16];
    for (int i = 0; i < 16; i++) {
        lf[i] = real->rope_long[3 * i];
        sf[i] = real->rope_short[3 * i];
    }
    elm_synth_shape_t tiny = {"tiny-phi3", "phi3", "phi3", "tiny", 256,   768,   4,        8,
                              2,           32,     512,    512,    false, false, 10000.0f, 1e-5f,
                              0,           0,      0,      262144, 128,   lf,    sf};
    expect_layout_like(&tiny, ELM_FTYPE_Q4_0, "reference/models/tiny-phi3-Q4_0.gguf",
                       &(elm_chat_tmpl_t){ELM_CHAT_PHI3});
}

static void test_layout_gemma2(void **state)
{
    (void)state;
    elm_synth_shape_t tiny = {
        "tiny-gemma2", "gemma2", "gemma2", "tiny", 256, 768,  26,    8,  2, 32,   512, 512,
        true,          false,    10000.0f, 1e-6f,  0,   8.0f, 30.0f, 16, 0, NULL, NULL};
    expect_layout_like(&tiny, ELM_FTYPE_Q4_0, "reference/models/tiny-gemma2-Q4_0.gguf",
                       &(elm_chat_tmpl_t){ELM_CHAT_GEMMA});
}

static void test_layout_internlm2(void **state)
{
    (void)state;
    elm_synth_shape_t tiny = {"tiny-internlm2",
                              "internlm2",
                              "internlm2",
                              "tiny",
                              256,
                              768,
                              4,
                              8,
                              2,
                              32,
                              512,
                              512,
                              false,
                              false,
                              1e6f,
                              1e-5f,
                              0};
    expect_layout_like(&tiny, ELM_FTYPE_Q4_0, "reference/models/tiny-internlm2-Q4_0.gguf",
                       &(elm_chat_tmpl_t){ELM_CHAT_CHATML});
}

/* tiny-t5 as llama-quantize wrote its Q8_0: the t5.* keys, the 52 tensors in the same order.
 * T5 has no chat template; its Unigram tokenizer is checked by test_t5_vocab's keys. */
static void test_layout_t5(void **state)
{
    (void)state;
    elm_synth_shape_t tiny = tiny_t5();
    expect_layout_like(&tiny, ELM_FTYPE_Q8_0, "reference/models/tiny-t5-Q8_0.gguf", NULL);
}

static bool str_is(elm_str_t x, const char *s)
{
    return x.len == strlen(s) && !memcmp(x.ptr, s, x.len);
}

static int cmp_str(const void *a, const void *b)
{
    const elm_str_t *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->ptr, y->ptr, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* flan-t5-base cut to one block of each stack (the vocabulary and widths are the real ones),
 * written as Q4_0 and read back: its t5.* keys, and a Unigram vocabulary laid out as T5Model
 * writes Flan-T5's (reference README §6.6). The tokenizer itself is tested with the UGM code. */
static void test_t5_vocab(void **state)
{
    (void)state;
    elm_synth_shape_t base = *elm_synth_shape_find("flan-t5-base");
    base.n_layer = 1;
    char out[128];
    snprintf(out, sizeof out, "/tmp/elm_test_t5_%d.gguf", (int)getpid());
    elm_synth_opts_t o = {.seed = 1, .n_threads = 2};
    elm_synth_plan_t *p = NULL;
    elm_diag_t d = {0};
    assert_int_equal(elm__synth_plan_shape(&base, ELM_FTYPE_Q4_0, &o, &p, &d), 0);
    assert_int_equal(elm_synth_write(p, out, &o, NULL, &d), 0);
    elm_gguf_t *g = NULL;
    assert_int_equal(elm_gguf_open(out, &g, &d), 0);

    elm_str_t str;
    uint32_t u = 99;
    double f = 0;
    bool b = false;
    assert_int_equal(elm_gguf_get_str(g, "general.architecture", &str), 0);
    assert_true(str_is(str, "t5"));
    static const struct {
        const char *key;
        uint32_t v;
    } keys[] = {{"t5.context_length", 512},
                {"t5.embedding_length", 768},
                {"t5.feed_forward_length", 2048},
                {"t5.block_count", 1},
                {"t5.attention.head_count", 12},
                {"t5.attention.key_length", 64},
                {"t5.attention.value_length", 64},
                {"t5.attention.relative_buckets_count", 32},
                {"t5.decoder_start_token_id", 0},
                {"tokenizer.ggml.eos_token_id", 1},
                {"tokenizer.ggml.unknown_token_id", 2},
                {"tokenizer.ggml.padding_token_id", 0}};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        assert_int_equal(elm_gguf_get_u32(g, keys[i].key, &u), 0);
        assert_int_equal(u, keys[i].v);
    }
    assert_null(elm_gguf_get(g, "t5.attention.head_count_kv")); /* T5Model writes none */
    assert_int_equal(elm_gguf_get_f64(g, "t5.attention.layer_norm_rms_epsilon", &f), 0);
    assert_true(f == (double)1e-6f);
    assert_int_equal(elm_gguf_get_f64(g, "t5.attention.layer_norm_epsilon", &f), 0);
    assert_true(f == (double)1e-6f);
    assert_int_equal(elm_gguf_get_str(g, "tokenizer.ggml.model", &str), 0);
    assert_true(str_is(str, "t5"));
    assert_int_equal(elm_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b), 0);
    assert_false(b);
    assert_int_equal(elm_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &b), 0);
    assert_true(b);
    assert_int_equal(elm_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &b), 0);
    assert_true(b);
    assert_int_equal(elm_gguf_get_bool(g, "tokenizer.ggml.remove_extra_whitespaces", &b), 0);
    assert_true(b);

    const elm_gguf_value_t *tok = NULL, *sc = NULL, *ty = NULL;
    assert_int_equal(elm_gguf_get_arr(g, "tokenizer.ggml.tokens", &tok), 0);
    assert_int_equal(elm_gguf_get_arr(g, "tokenizer.ggml.scores", &sc), 0);
    assert_int_equal(elm_gguf_get_arr(g, "tokenizer.ggml.token_type", &ty), 0);
    assert_int_equal(tok->arr.n, 32128);
    assert_int_equal(sc->arr.type, ELM_GGUF_FLOAT32);
    assert_int_equal(sc->arr.n, 32128);
    assert_int_equal(ty->arr.type, ELM_GGUF_INT32);
    assert_int_equal(ty->arr.n, 32128);
    float *scores = malloc(32128 * sizeof *scores);
    int32_t *types = malloc(32128 * sizeof *types);
    elm_str_t *texts = malloc(32128 * sizeof *texts);
    assert_non_null(scores);
    assert_non_null(types);
    assert_non_null(texts);
    memcpy(scores, sc->arr.data, 32128 * sizeof *scores);
    memcpy(types, ty->arr.data, 32128 * sizeof *types);
    const char *special[3] = {"<pad>", "</s>", "<unk>"};
    for (int i = 0; i < 3; i++) {
        assert_true(str_is(tok->arr.items[i].s, special[i]));
        assert_int_equal(types[i], i == 2 ? 2 : 3); /* UNKNOWN, CONTROL */
        assert_true(scores[i] == 0.0f);
    }
    assert_true(str_is(tok->arr.items[3].s, "\xe2\x96\x81")); /* "▁" scores highest */
    /* 31997 NORMAL pieces (the SentencePiece model's 32000 less the specials), scores strictly
     * descending; then Flan-T5's 128 padding / extra ids */
    for (int i = 3; i < 32000; i++) {
        assert_int_equal(types[i], 1);
        assert_true(scores[i] < 0.0f && scores[i] > -100.0f);
        if (i > 3 && !(scores[i] < scores[i - 1]))
            fprintf(stderr, "scores %d, %d: %g, %g\n", i - 1, i, scores[i - 1], scores[i]);
        if (i > 3) assert_true(scores[i] < scores[i - 1]);
    }
    for (int i = 32000; i < 32128; i++) {
        char want[32];
        snprintf(want, sizeof want, "[PAD%d]", i);
        assert_true(str_is(tok->arr.items[i].s, want));
        assert_int_equal(types[i], 5); /* UNUSED */
        assert_true(scores[i] == -10000.0f);
    }
    /* no piece twice (the tokenizer's trie would drop one); every printable ASCII character but
     * T5's missing ones is a piece, so English text never needs <unk> */
    for (int i = 0; i < 32128; i++)
        texts[i] = tok->arr.items[i].s;
    qsort(texts, 32128, sizeof *texts, cmp_str);
    for (int i = 1; i < 32128; i++)
        assert_int_not_equal(cmp_str(&texts[i - 1], &texts[i]), 0);
    for (int c = '!'; c <= '~'; c++) {
        elm_str_t key = {(const char *)&(char){(char)c}, 1};
        bool have = bsearch(&key, texts, 32128, sizeof *texts, cmp_str) != NULL;
        assert_int_equal(have, !strchr("{}<~\\^|`", c));
    }
    elm_str_t the = {"\xe2\x96\x81the", 6};
    assert_non_null(bsearch(&the, texts, 32128, sizeof *texts, cmp_str));

    /* the same tokenizer.* keys, of the same types, as llama.cpp's tiny-t5 vocab, less the
     * normalizer's charsmap (not generated) */
    const char *vp = elm_test_data("vocab/ggml-vocab-tiny-t5.gguf");
    elm_gguf_t *v = NULL;
    if (vp && elm_gguf_open(vp, &v, &d) == 0) {
        int n_tok_keys = 0;
        for (uint64_t i = 0; i < elm_gguf_n_kv(v); i++) {
            const elm_gguf_kv_t *kv = elm_gguf_kv_at(v, i);
            if (strncmp(kv->key, "tokenizer.", 10) ||
                !strcmp(kv->key, "tokenizer.ggml.precompiled_charsmap"))
                continue;
            const elm_gguf_value_t *x = elm_gguf_get(g, kv->key);
            if (!x) fprintf(stderr, "synth lacks %s\n", kv->key);
            assert_non_null(x);
            assert_int_equal(x->type, kv->value.type);
            n_tok_keys++;
        }
        assert_int_equal(n_tok_keys, 12);
        elm_gguf_close(v);
    }
    const elm_gguf_tensor_t *rb = elm_gguf_find_tensor(g, "enc.blk.0.attn_rel_b.weight");
    assert_non_null(rb);
    assert_int_equal(rb->type, ELM_TYPE_F32);
    assert_int_equal(rb->ne[0], 12);
    assert_int_equal(rb->ne[1], 32);
    assert_int_equal(elm_gguf_n_tensors(g), 1 + 11 + 16 + 1); /* 1 + 1 blocks */
    free(scores);
    free(types);
    free(texts);
    elm_gguf_close(g);
    elm_synth_plan_free(p);
    unlink(out);
}

/* A T5 vocab copied with --vocab into more rows is padded as T5Model pads Flan-T5's: UNUSED
 * "[PAD<id>]" at score -10000 (a Unigram tokenizer matches UNUSED pieces by score). */
static void test_t5_vocab_padding(void **state)
{
    (void)state;
    const char *tv = elm_test_data("vocab/ggml-vocab-tiny-t5.gguf");
    if (!tv) return;
    elm_synth_shape_t s = *elm_synth_shape_find("flan-t5-base");
    s.n_embd = 256;
    s.n_ff = 512;
    s.n_layer = 1;
    s.n_head = s.n_head_kv = 4;
    s.n_vocab = 1024;
    elm_synth_opts_t o = {.vocab_path = tv, .seed = 1, .n_threads = 2};
    elm_synth_plan_t *p = NULL;
    elm_diag_t d = {0};
    assert_int_equal(elm__synth_plan_shape(&s, ELM_FTYPE_Q8_0, &o, &p, &d), 0);
    char path[] = "/tmp/elm_test_t5vXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(elm_synth_write(p, path, &o, NULL, &d), 0);
    elm_gguf_t *g = NULL;
    assert_int_equal(elm_gguf_open(path, &g, &d), 0);
    const elm_gguf_value_t *tok, *sc, *ty;
    assert_int_equal(elm_gguf_get_arr(g, "tokenizer.ggml.tokens", &tok), 0);
    assert_int_equal(elm_gguf_get_arr(g, "tokenizer.ggml.scores", &sc), 0);
    assert_int_equal(elm_gguf_get_arr(g, "tokenizer.ggml.token_type", &ty), 0);
    assert_int_equal(tok->arr.n, 1024);
    assert_true(str_is(tok->arr.items[1000].s, "[PAD1000]"));
    assert_int_equal(elm_gguf_arr_i64(ty, 1000), 5);
    float f;
    memcpy(&f, (const char *)sc->arr.data + 1000 * sizeof f, sizeof f);
    assert_true(f == -10000.0f);
    assert_non_null(elm_gguf_get(g, "tokenizer.ggml.precompiled_charsmap"));
    elm_gguf_close(g);
    unlink(path);
    elm_synth_plan_free(p);
}

/* ---- quantize against llama-quantize's own files ---- */

/* model-src.gguf quantized to type against llama.cpp's model-type.gguf (src is F32, or F16 for
 * gemma2, whose F32 file is not stored; its F16 file holds the same values). */
static void quantize_like_llama_cpp(const char *model, const char *src, const char *type)
{
    char in_rel[128], ref_rel[128], out[128];
    snprintf(in_rel, sizeof in_rel, "reference/models/%s-%s.gguf", model, src);
    snprintf(ref_rel, sizeof ref_rel, "reference/models/%s-%s.gguf", model, type);
    const char *p = elm_test_data(in_rel);
    if (!p) return;
    char in[4096];
    snprintf(in, sizeof in, "%s", p);
    p = elm_test_data(ref_rel);
    if (!p) return;
    char ref[4096];
    snprintf(ref, sizeof ref, "%s", p);
    snprintf(out, sizeof out, "/tmp/elm_test_q_%d_%s-%s.gguf", (int)getpid(), model, type);

    elm_ftype_t ft;
    assert_int_equal(elm_ftype_from_name(type, &ft), 0);
    elm_convert_opts_t o = {.n_threads = 2};
    elm_diag_t d = {0};
    elm_convert_stats_t st;
    int rc = elm_quantize(in, out, ft, &o, &st, &d);
    if (rc) fprintf(stderr, "%s\n", d.msg);
    assert_int_equal(rc, 0);

    elm_gguf_t *a = NULL, *b = NULL;
    assert_int_equal(elm_gguf_open(out, &a, &d), 0);
    assert_int_equal(elm_gguf_open(ref, &b, &d), 0);
    assert_int_equal(elm_gguf_n_tensors(a), elm_gguf_n_tensors(b));
    uint32_t fta = 0, ftb = 1;
    assert_int_equal(elm_gguf_get_u32(a, "general.file_type", &fta), 0);
    assert_int_equal(elm_gguf_get_u32(b, "general.file_type", &ftb), 0);
    assert_int_equal(fta, ftb);
    int n_diff_bytes = 0;
    for (uint64_t i = 0; i < elm_gguf_n_tensors(a); i++) {
        const elm_gguf_tensor_t *x = elm_gguf_tensor_at(a, i), *y = elm_gguf_tensor_at(b, i);
        assert_string_equal(x->name, y->name); /* same order as llama.cpp */
        if (x->type != y->type)
            fprintf(stderr, "%s-%s %s: %s, llama.cpp %s\n", model, type, x->name,
                    elm_type_info(x->type)->name, elm_type_info(y->type)->name);
        assert_int_equal(x->type, y->type);
        assert_int_equal(x->size, y->size);
        if (memcmp(x->data, y->data, x->size)) {
            fprintf(stderr, "%s-%s %s (%s): bytes differ from llama.cpp's\n", model, type, x->name,
                    elm_type_info(x->type)->name);
            n_diff_bytes++;
        }
    }
    /* the whole file: metadata in llama.cpp's order, same layout */
    size_t na, nb;
    void *fa = elm_test_read_file(out, &na), *fb = elm_test_read_file(ref, &nb);
    bool same = fa && fb && na == nb && !memcmp(fa, fb, na);
    printf("  %s-%s: %s\n", model, type,
           same           ? "file byte-identical to llama-quantize's"
           : n_diff_bytes ? "tensor bytes differ (see above)"
                          : "tensor data identical, header differs");
    free(fa);
    free(fb);
    elm_gguf_close(a);
    elm_gguf_close(b);
    unlink(out);
    assert_int_equal(n_diff_bytes, 0);
    assert_true(same);
}

/* One byte-identity case: model, source type, target type (the test's initial state). */
typedef struct {
    const char *model, *src, *type;
} quant_case_t;

static void test_quantize(void **state)
{
    const quant_case_t *c = *state;
    quantize_like_llama_cpp(c->model, c->src, c->type);
}

/* A test named after its case, e.g. "quantize tiny-phi3-F32 -> Q4_K_M". */
/* clang-format off */
#define QUANT_CASE(model, src, type)                                    \
    {"quantize " model "-" src " -> " type, test_quantize, NULL, NULL,  \
     &(quant_case_t){model, src, type}}
/* clang-format on */

static void test_quantize_errors(void **state)
{
    (void)state;
    elm_diag_t d = {0};
    /* a missing input: the reader's message names the file */
    int rc =
        elm_quantize("/nonexistent/in.gguf", "/tmp/elm_never.gguf", ELM_FTYPE_Q4_0, NULL, NULL, &d);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(d.msg, "/nonexistent/in.gguf"));
    /* already quantized input is refused, naming the tensor and the way out */
    const char *q = elm_test_data("reference/models/tiny-qwen2-Q4_0.gguf");
    if (!q) return;
    rc = elm_quantize(q, "/tmp/elm_never.gguf", ELM_FTYPE_Q8_0, NULL, NULL, &d);
    assert_int_equal(rc, ELM_ENOTSUP);
    assert_non_null(strstr(d.msg, "already quantized"));
    assert_non_null(strstr(d.msg, "requantiz"));
    assert_int_not_equal(access("/tmp/elm_never.gguf", F_OK), 0);
}

static void test_synth_errors(void **state)
{
    (void)state;
    elm_synth_plan_t *p = (elm_synth_plan_t *)1;
    elm_diag_t d = {0};
    assert_int_equal(elm_synth_plan("gpt5:Q4_0", NULL, &p, &d), ELM_EINVAL);
    assert_null(p);
    assert_non_null(strstr(d.msg, "unknown shape 'gpt5'"));
    assert_non_null(strstr(d.msg, "qwen2.5-0.5b"));
    assert_non_null(strstr(d.msg, "smollm2-1.7b"));
    assert_int_equal(elm_synth_plan("qwen2.5-0.5b:Q3_K", NULL, &p, &d), ELM_EINVAL);
    assert_non_null(strstr(d.msg, "Q4_K_M"));
    assert_int_equal(elm_synth_plan("qwen2.5-0.5b", NULL, &p, &d), ELM_EINVAL);
    assert_non_null(strstr(d.msg, "SHAPE:QUANT"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ftype_names),
        cmocka_unit_test(test_real_mixes),
        cmocka_unit_test(test_t5_types),
        cmocka_unit_test(test_t5_shapes),
        cmocka_unit_test(test_use_more_bits_layers),
        cmocka_unit_test(test_plan_sizes),
        cmocka_unit_test(test_vocab_option),
        cmocka_unit_test(test_vocab_padding_written),
        cmocka_unit_test(test_rope_factors),
        cmocka_unit_test(test_layout_phi3),
        cmocka_unit_test(test_layout_gemma2),
        cmocka_unit_test(test_layout_internlm2),
        cmocka_unit_test(test_layout_t5),
        cmocka_unit_test(test_t5_vocab),
        cmocka_unit_test(test_t5_vocab_padding),
        QUANT_CASE("tiny-qwen2", "F32", "Q8_0"),
        QUANT_CASE("tiny-qwen2", "F32", "Q4_0"),
        QUANT_CASE("tiny-qwen2", "F32", "Q4_K_M"),
        QUANT_CASE("tiny-qwen2", "F32", "Q6_K"),
        QUANT_CASE("tiny-qwen2", "F32", "F16"),
        QUANT_CASE("tiny-llama3", "F32", "Q8_0"),
        QUANT_CASE("tiny-llama3", "F32", "Q4_0"),
        QUANT_CASE("tiny-llama3", "F32", "Q4_K_M"),
        QUANT_CASE("tiny-llama3", "F32", "Q6_K"),
        QUANT_CASE("tiny-llama3", "F32", "F16"),
        QUANT_CASE("tiny-internlm2", "F32", "Q8_0"),
        QUANT_CASE("tiny-internlm2", "F32", "Q4_0"),
        QUANT_CASE("tiny-internlm2", "F32", "Q4_K_M"),
        QUANT_CASE("tiny-internlm2", "F32", "Q6_K"),
        QUANT_CASE("tiny-internlm2", "F32", "F16"),
        QUANT_CASE("tiny-phi3", "F32", "Q8_0"),
        QUANT_CASE("tiny-phi3", "F32", "Q4_0"),
        QUANT_CASE("tiny-phi3", "F32", "Q4_K_M"),
        QUANT_CASE("tiny-phi3", "F32", "Q6_K"),
        QUANT_CASE("tiny-phi3", "F32", "F16"),
        QUANT_CASE("tiny-gemma2", "F16", "Q4_0"),
        QUANT_CASE("tiny-gemma2", "F16", "Q4_K_M"),
        QUANT_CASE("tiny-t5", "F32", "Q8_0"),
        QUANT_CASE("tiny-t5", "F32", "F16"),
        cmocka_unit_test(test_quantize_errors),
        cmocka_unit_test(test_synth_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
