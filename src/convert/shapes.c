/* The shapes of real models that synth reproduces (values from each model's config.json on the
 * Hugging Face hub), their tensor lists, and Llama 3's rope scaling factors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "convert/convert_internal.h"

/* name, arch, family, general.name, n_embd, n_ff, n_layer, n_head, n_head_kv, head_dim, n_vocab,
 * n_ctx_train, tied, qkv_bias, rope_theta, rms_eps, llama3 rope factor */
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

int elm__shape_tensors(const elm_synth_shape_t *s, elm_tensor_desc_t **out_t, char ***out_names,
                       size_t *out_n)
{
    size_t cap = 4 + (size_t)s->n_layer * 12, n = 0;
    elm_tensor_desc_t *t = calloc(cap, sizeof *t);
    char **names = calloc(cap, sizeof *names);
    int64_t E = s->n_embd, F = s->n_ff, V = s->n_vocab;
    int64_t Q = (int64_t)s->n_head * s->head_dim, KV = (int64_t)s->n_head_kv * s->head_dim;
    int rc = ELM_ENOMEM;
    if (!t || !names) goto fail;
    if ((rc = add(t, names, &n, "token_embd.weight", E, V))) goto fail;
    if ((rc = add(t, names, &n, "output_norm.weight", E, 0))) goto fail;
    if (!s->tied && (rc = add(t, names, &n, "output.weight", E, V))) goto fail;
    if (s->rope_scale_factor > 0 &&
        (rc = add(t, names, &n, "rope_freqs.weight", s->head_dim / 2, 0)))
        goto fail;
    for (uint32_t l = 0; l < s->n_layer; l++) {
        char b[64];
#define T(suffix, ne0, ne1)                     \
    snprintf(b, sizeof b, "blk.%u." suffix, l); \
    if ((rc = add(t, names, &n, b, ne0, ne1))) goto fail;
        T("attn_norm.weight", E, 0);
        T("attn_q.weight", E, Q);
        T("attn_k.weight", E, KV);
        T("attn_v.weight", E, KV);
        if (s->qkv_bias) {
            T("attn_q.bias", Q, 0);
            T("attn_k.bias", KV, 0);
            T("attn_v.bias", KV, 0);
        }
        T("attn_output.weight", Q, E);
        T("ffn_norm.weight", E, 0);
        T("ffn_gate.weight", E, F);
        T("ffn_up.weight", E, F);
        T("ffn_down.weight", F, E);
#undef T
    }
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
