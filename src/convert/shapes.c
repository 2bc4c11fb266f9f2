/* The shapes of real models that synth reproduces (values from each model's config.json on the
 * Hugging Face hub, as convert_hf_to_gguf.py turns them into GGUF keys and tensors), their tensor
 * lists, and Llama 3's rope scaling factors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "convert/convert_internal.h"

/* Phi-3.5-mini-instruct's config.json rope_scaling (type "longrope"): long_factor and
 * short_factor, one per rotated pair of its head_dim 96, as the f32 values the file prints;
 * convert_hf_to_gguf.py (Phi3MiniModel) stores them as rope_factors_long/short.weight. Every
 * third value (0, 3, ..., 45) is what tiny-phi3 stores (reference README §7.4; test_convert
 * checks them bit for bit). */
static const float phi35_long[48] = {
    1.0800000429153442f, 1.1100000143051147f, 1.1399999856948853f, 1.340000033378601f,
    1.5899999141693115f, 1.600000023841858f,  1.6200000047683716f, 2.620000123977661f,
    3.2300000190734863f, 3.2300000190734863f, 4.789999961853027f,  7.400000095367432f,
    7.700000286102295f,  9.09000015258789f,   12.199999809265137f, 17.670000076293945f,
    24.46000099182129f,  28.57000160217285f,  30.420001983642578f, 30.840002059936523f,
    32.590003967285156f, 32.93000411987305f,  42.320003509521484f, 44.96000289916992f,
    50.340003967285156f, 50.45000457763672f,  57.55000305175781f,  57.93000411987305f,
    58.21000289916992f,  60.1400032043457f,   62.61000442504883f,  62.62000274658203f,
    62.71000289916992f,  63.1400032043457f,   63.1400032043457f,   63.77000427246094f,
    63.93000411987305f,  63.96000289916992f,  63.970001220703125f, 64.02999877929688f,
    64.06999969482422f,  64.08000183105469f,  64.12000274658203f,  64.41000366210938f,
    64.4800033569336f,   64.51000213623047f,  64.52999877929688f,  64.83999633300781f};
static const float phi35_short[48] = {1.0f,
                                      1.0199999809265137f,
                                      1.0299999713897705f,
                                      1.0299999713897705f,
                                      1.0499999523162842f,
                                      1.0499999523162842f,
                                      1.0499999523162842f,
                                      1.0499999523162842f,
                                      1.0499999523162842f,
                                      1.0699999332427979f,
                                      1.0999999046325684f,
                                      1.1099998950958252f,
                                      1.1599998474121094f,
                                      1.1599998474121094f,
                                      1.1699998378753662f,
                                      1.2899998426437378f,
                                      1.339999794960022f,
                                      1.679999828338623f,
                                      1.7899998426437378f,
                                      1.8199998140335083f,
                                      1.8499997854232788f,
                                      1.8799997568130493f,
                                      1.9099997282028198f,
                                      1.9399996995925903f,
                                      1.9899996519088745f,
                                      2.0199997425079346f,
                                      2.0199997425079346f,
                                      2.0199997425079346f,
                                      2.0199997425079346f,
                                      2.0199997425079346f,
                                      2.0199997425079346f,
                                      2.0299997329711914f,
                                      2.0299997329711914f,
                                      2.0299997329711914f,
                                      2.0299997329711914f,
                                      2.0299997329711914f,
                                      2.0299997329711914f,
                                      2.0299997329711914f,
                                      2.0299997329711914f,
                                      2.0299997329711914f,
                                      2.0799996852874756f,
                                      2.0899996757507324f,
                                      2.189999580383301f,
                                      2.2199995517730713f,
                                      2.5899994373321533f,
                                      2.729999542236328f,
                                      2.749999523162842f,
                                      2.8399994373321533f};

/* name, arch, family, general.name, n_embd, n_ff, n_layer, n_head, n_head_kv, head_dim, n_vocab,
 * n_ctx_train, tied, qkv_bias, rope_theta, rms_eps, llama3 rope factor; then (gemma2, phi3)
 * attention and final soft-caps, sliding window, LongRoPE original context and factors.
 * config.json names: hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
 * num_key_value_heads, head_dim (else hidden_size / heads), vocab_size, max_position_embeddings,
 * tie_word_embeddings, rope_theta, rms_norm_eps, rope_scaling, attn_logit_softcapping,
 * final_logit_softcapping, sliding_window, original_max_position_embeddings. */
static const elm_synth_shape_t shapes[] = {
    {"qwen2.5-0.5b", "qwen2", "qwen2", "Qwen2.5 0.5B Instruct", 896, 4864, 24, 14, 2, 64, 151936,
     32768, true, true, 1e6f, 1e-6f, 0},
    {"qwen2.5-1.5b", "qwen2", "qwen2", "Qwen2.5 1.5B Instruct", 1536, 8960, 28, 12, 2, 128, 151936,
     32768, true, true, 1e6f, 1e-6f, 0},
    {"qwen2.5-3b", "qwen2", "qwen2", "Qwen2.5 3B Instruct", 2048, 11008, 36, 16, 2, 128, 151936,
     32768, true, true, 1e6f, 1e-6f, 0},
    {"qwen2.5-7b", "qwen2", "qwen2", "Qwen2.5 7B Instruct", 3584, 18944, 28, 28, 4, 128, 152064,
     32768, false, true, 1e6f, 1e-6f, 0},
    {"llama3.2-1b", "llama", "llama3", "Llama 3.2 1B Instruct", 2048, 8192, 16, 32, 8, 64, 128256,
     131072, true, false, 500000.0f, 1e-5f, 32.0f},
    {"llama3.2-3b", "llama", "llama3", "Llama 3.2 3B Instruct", 3072, 8192, 28, 24, 8, 128, 128256,
     131072, true, false, 500000.0f, 1e-5f, 32.0f},
    {"llama3.1-8b", "llama", "llama3", "Meta Llama 3.1 8B Instruct", 4096, 14336, 32, 32, 8, 128,
     128256, 131072, false, false, 500000.0f, 1e-5f, 8.0f},
    {"smollm2-135m", "llama", "smollm2", "SmolLM2 135M Instruct", 576, 1536, 30, 9, 3, 64, 49152,
     8192, true, false, 100000.0f, 1e-5f, 0},
    {"smollm2-360m", "llama", "smollm2", "SmolLM2 360M Instruct", 960, 2560, 32, 15, 5, 64, 49152,
     8192, true, false, 100000.0f, 1e-5f, 0},
    {"smollm2-1.7b", "llama", "smollm2", "SmolLM2 1.7B Instruct", 2048, 8192, 24, 32, 32, 64, 49152,
     8192, true, false, 130000.0f, 1e-5f, 0},
    /* google/gemma-2-2b-it: head_dim 256 (8 × 256 = 2048 query rows < n_embd 2304), no
     * rope_theta key (10000, the converter writes none), embeddings tied (Gemma2ForCausalLM) */
    {"gemma2-2b", "gemma2", "gemma2", "Gemma 2 2b It", 2304,     9216,  26, 8,     4,     256,
     256000,      8192,     true,     false,           10000.0f, 1e-6f, 0,  50.0f, 30.0f, 4096,
     0,           NULL,     NULL},
    /* google/gemma-2-9b-it */
    {"gemma2-9b", "gemma2", "gemma2", "Gemma 2 9b It", 3584,     14336, 42, 16,    8,     256,
     256000,      8192,     true,     false,           10000.0f, 1e-6f, 0,  50.0f, 30.0f, 4096,
     0,           NULL,     NULL},
    /* microsoft/Phi-3.5-mini-instruct: no GQA (32 kv heads), head_dim 3072 / 32 = 96, fused
     * qkv_proj and gate_up_proj, untied lm_head, LongRoPE from 4096 to 131072 */
    {"phi3.5-mini",
     "phi3",
     "phi3",
     "Phi 3.5 Mini Instruct",
     3072,
     8192,
     32,
     32,
     32,
     96,
     32064,
     131072,
     false,
     false,
     10000.0f,
     1e-5f,
     0,
     0,
     0,
     262144,
     4096,
     phi35_long,
     phi35_short},
    /* internlm/internlm2_5-7b-chat: the converter splits the grouped wqkv into attn_q/k/v and
     * writes no rope scaling for its "dynamic" rope_scaling (reference README §6.2) */
    {"internlm2.5-7b", "internlm2", "internlm2", "Internlm2_5 7b Chat", 4096, 14336, 32, 32, 8, 128,
     92544, 32768, false, false, 1e6f, 1e-5f, 0},
    /* 01-ai/Yi-1.5-6B-Chat: LlamaForCausalLM */
    {"yi-1.5-6b", "llama", "yi", "Yi 1.5 6B Chat", 4096, 11008, 32, 32, 4, 128, 64000, 4096, false,
     false, 5000000.0f, 1e-6f, 0},
    /* google/flan-t5-large and -base (T5ForConditionalGeneration): num_layers encoder blocks and
     * as many decoder blocks, d_ff of the gated-GELU FFN, d_kv per head, 32 relative buckets,
     * untied lm_head, vocab_size 32128 (32000 SentencePiece pieces + 128 padding/extra ids),
     * n_positions 512, layer_norm_epsilon 1e-6 */
    /* clang-format off */
    {.name = "flan-t5-large", .arch = "t5", .family = "t5", .hf_name = "Flan T5 Large",
     .n_embd = 1024, .n_ff = 2816, .n_layer = 24, .n_head = 16, .n_head_kv = 16, .head_dim = 64,
     .n_vocab = 32128, .n_ctx_train = 512, .rms_eps = 1e-6f, .n_rel_buckets = 32},
    {.name = "flan-t5-base", .arch = "t5", .family = "t5", .hf_name = "Flan T5 Base",
     .n_embd = 768, .n_ff = 2048, .n_layer = 12, .n_head = 12, .n_head_kv = 12, .head_dim = 64,
     .n_vocab = 32128, .n_ctx_train = 512, .rms_eps = 1e-6f, .n_rel_buckets = 32},
    /* clang-format on */
};

const elm_synth_shape_t *elm_synth_shapes(size_t *n)
{
    *n = sizeof shapes / sizeof shapes[0];
    return shapes;
}

const elm_synth_shape_t *elm_synth_shape_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof shapes / sizeof shapes[0]; i++)
        if (!strcasecmp(name, shapes[i].name)) return &shapes[i];
    return NULL;
}

void elm_llama3_rope_factors(float base, uint32_t head_dim, float factor, float *out)
{
    /* convert_hf_to_gguf.py (LlamaModel), in f32 as torch computes it:
     * freqs = 1 / base^(arange(0, dim, 2) / dim); wavelen = 2π / freq; factors 1 for short
     * wavelengths, `factor` for long ones, and 1 / ((1 - smooth) / factor + smooth) between. */
    const float low_freq_factor = 1.0f, high_freq_factor = 4.0f, old_ctx = 8192.0f;
    const float low_freq_wavelen = old_ctx / low_freq_factor;
    const float high_freq_wavelen = old_ctx / high_freq_factor;
    for (uint32_t i = 0; i < head_dim / 2; i++) {
        float freq = 1.0f / powf(base, (float)(2 * i) / (float)head_dim);
        float wavelen = (float)(2.0 * M_PI) / freq;
        if (wavelen < high_freq_wavelen) {
            out[i] = 1.0f;
        } else if (wavelen > low_freq_wavelen) {
            out[i] = factor;
        } else {
            float smooth =
                (old_ctx / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
            out[i] = 1.0f / ((1.0f - smooth) / factor + smooth);
        }
    }
}

/* ---- tensor list ---- */

static int add(elm_tensor_desc_t *t, char **names, size_t *n, const char *name, int64_t ne0,
               int64_t ne1)
{
    names[*n] = strdup(name);
    if (!names[*n]) return ELM_ENOMEM;
    t[*n] = (elm_tensor_desc_t){names[*n], ELM_TYPE_F32, ne1 ? 2 : 1, {ne0, ne1 ? ne1 : 1, 1, 1}};
    (*n)++;
    return 0;
}

/* One T5 stack ("enc" or "dec") as T5Model's converter names it (reference README §6.4): self-
 * attention q/k/v/o, the bias table in block 0 only ([n_head, buckets]: a row per bucket), the
 * decoder's cross-attention, the gated-GELU FFN, and a norm before each part. */
static int add_t5_stack(const elm_synth_shape_t *s, bool dec, elm_tensor_desc_t *t, char **names,
                        size_t *n)
{
    const char *st = dec ? "dec" : "enc";
    int64_t E = s->n_embd, F = s->n_ff, I = (int64_t)s->n_head * s->head_dim;
    char b[80];
    int rc = 0;
#define T(suffix, ne0, ne1)                            \
    snprintf(b, sizeof b, "%s.blk.%u." suffix, st, l); \
    if ((rc = add(t, names, n, b, ne0, ne1))) return rc;
    for (uint32_t l = 0; l < s->n_layer; l++) {
        T("attn_q.weight", E, I);
        T("attn_k.weight", E, I);
        T("attn_v.weight", E, I);
        T("attn_o.weight", I, E);
        if (l == 0) {
            T("attn_rel_b.weight", s->n_head, s->n_rel_buckets);
        }
        T("attn_norm.weight", E, 0);
        if (dec) {
            T("cross_attn_q.weight", E, I);
            T("cross_attn_k.weight", E, I);
            T("cross_attn_v.weight", E, I);
            T("cross_attn_o.weight", I, E);
            T("cross_attn_norm.weight", E, 0);
        }
        T("ffn_gate.weight", E, F);
        T("ffn_up.weight", E, F);
        T("ffn_down.weight", F, E);
        T("ffn_norm.weight", E, 0);
    }
#undef T
    snprintf(b, sizeof b, "%s.output_norm.weight", st);
    return add(t, names, n, b, E, 0);
}

/* A decoder-only model as llama.cpp names it: embedding, final norm, lm head unless tied, rope
 * factors, then per block "blk.N.*". */
static int add_decoder_only(const elm_synth_shape_t *s, elm_tensor_desc_t *t, char **names,
                            size_t *n)
{
    int64_t E = s->n_embd, F = s->n_ff, V = s->n_vocab;
    int64_t Q = (int64_t)s->n_head * s->head_dim, KV = (int64_t)s->n_head_kv * s->head_dim;
    int rc;
    if ((rc = add(t, names, n, "token_embd.weight", E, V))) return rc;
    if ((rc = add(t, names, n, "output_norm.weight", E, 0))) return rc;
    if (!s->tied && (rc = add(t, names, n, "output.weight", E, V))) return rc;
    if (s->rope_scale_factor > 0 &&
        (rc = add(t, names, n, "rope_freqs.weight", s->head_dim / 2, 0)))
        return rc;
    if (s->rope_long && ((rc = add(t, names, n, "rope_factors_long.weight", s->head_dim / 2, 0)) ||
                         (rc = add(t, names, n, "rope_factors_short.weight", s->head_dim / 2, 0))))
        return rc;
    /* phi3 keeps Phi-3's fused qkv_proj (Q rows, then K, then V) and gate_up_proj (gate rows,
     * then up); gemma2 adds a norm after attention and after the FFN (reference README §7) */
    bool fused = !strcmp(s->arch, "phi3"), post_norms = !strcmp(s->arch, "gemma2");
    for (uint32_t l = 0; l < s->n_layer; l++) {
        char b[64];
#define T(suffix, ne0, ne1)                     \
    snprintf(b, sizeof b, "blk.%u." suffix, l); \
    if ((rc = add(t, names, n, b, ne0, ne1))) return rc;
        T("attn_norm.weight", E, 0);
        if (fused) {
            T("attn_qkv.weight", E, Q + 2 * KV);
        } else {
            T("attn_q.weight", E, Q);
            T("attn_k.weight", E, KV);
            T("attn_v.weight", E, KV);
        }
        if (s->qkv_bias) {
            T("attn_q.bias", Q, 0);
            T("attn_k.bias", KV, 0);
            T("attn_v.bias", KV, 0);
        }
        T("attn_output.weight", Q, E);
        if (post_norms) {
            T("post_attention_norm.weight", E, 0);
        }
        T("ffn_norm.weight", E, 0);
        if (fused) {
            T("ffn_up.weight", E, 2 * F);
        } else {
            T("ffn_gate.weight", E, F);
            T("ffn_up.weight", E, F);
        }
        T("ffn_down.weight", F, E);
        if (post_norms) {
            T("post_ffw_norm.weight", E, 0);
        }
#undef T
    }
    return 0;
}

/* T5: the shared embedding, the encoder and decoder stacks, the untied lm head. */
static int add_encoder_decoder(const elm_synth_shape_t *s, elm_tensor_desc_t *t, char **names,
                               size_t *n)
{
    int64_t E = s->n_embd, V = s->n_vocab;
    int rc;
    if ((rc = add(t, names, n, "token_embd.weight", E, V)) ||
        (rc = add_t5_stack(s, false, t, names, n)) || (rc = add_t5_stack(s, true, t, names, n)))
        return rc;
    return add(t, names, n, "output.weight", E, V);
}

int elm__shape_tensors(const elm_synth_shape_t *s, elm_tensor_desc_t **out_t, char ***out_names,
                       size_t *out_n)
{
    size_t cap = 8 + (size_t)s->n_layer * 32, n = 0;
    elm_tensor_desc_t *t = calloc(cap, sizeof *t);
    char **names = calloc(cap, sizeof *names);
    int rc = ELM_ENOMEM;
    if (!t || !names) goto fail;
    rc =
        s->n_rel_buckets ? add_encoder_decoder(s, t, names, &n) : add_decoder_only(s, t, names, &n);
    if (rc) goto fail;
    /* llama.cpp's order, which the type rules' layer counters assume */
    size_t *order = malloc(n * sizeof *order);
    elm_tensor_desc_t *sorted = malloc(n * sizeof *sorted);
    char **snames = malloc(n * sizeof *snames);
    if (!order || !sorted || !snames) {
        free(order);
        free(sorted);
        free(snames);
        rc = ELM_ENOMEM;
        goto fail;
    }
    elm_tensor_order(t, n, order);
    for (size_t i = 0; i < n; i++) {
        sorted[i] = t[order[i]];
        snames[i] = names[order[i]];
    }
    free(order);
    free(t);
    free(names);
    *out_t = sorted;
    *out_names = snames;
    *out_n = n;
    return 0;
fail:
    for (size_t i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
    free(t);
    *out_t = NULL;
    *out_names = NULL;
    *out_n = 0;
    return rc;
}
