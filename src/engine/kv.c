/* The KV cache: one key row and one value row per layer and position, stored as f32 or f16
 * (the conversion is round-to-nearest-even, as ggml's cpy does). */
#include <stdlib.h>
#include <string.h>

#include "engine/engine_internal.h"

int elm__kv_init(elm__kv_t *kv, elm_type_t type, uint32_t n_layer, uint32_t n_ctx, uint32_t dim,
                 elm_diag_t *diag)
{
    memset(kv, 0, sizeof *kv);
    if (type != ELM_TYPE_F32 && type != ELM_TYPE_F16)
        return elm_diag(diag, ELM_ENOTSUP, "KV cache type %s is not supported (use f32 or f16)",
                        elm_type_info(type) ? elm_type_info(type)->name : "?");
    kv->type = type;
    kv->n_layer = n_layer;
    kv->n_ctx = n_ctx;
    kv->dim = dim;
    uint64_t bytes = elm__kv_bytes(kv) / 2;
    if (bytes > SIZE_MAX / 2)
        return elm_diag(diag, ELM_ERANGE, "KV cache of %u positions is too large", n_ctx);
    kv->k = calloc(1, (size_t)bytes);
    kv->v = calloc(1, (size_t)bytes);
    if (!kv->k || !kv->v) {
        elm__kv_free(kv);
        return elm_diag(diag, ELM_ENOMEM, "KV cache: cannot allocate %llu bytes for %u positions",
                        (unsigned long long)bytes * 2, n_ctx);
    }
    return 0;
}

void elm__kv_free(elm__kv_t *kv)
{
    free(kv->k);
    free(kv->v);
    kv->k = kv->v = NULL;
}

static size_t elt_size(const elm__kv_t *kv)
{
    return kv->type == ELM_TYPE_F16 ? 2 : 4;
}

uint64_t elm__kv_bytes(const elm__kv_t *kv)
{
    return 2ull * kv->n_layer * kv->n_ctx * kv->dim * elt_size(kv);
}

static size_t row_index(const elm__kv_t *kv, uint32_t layer, uint32_t pos)
{
    return ((size_t)layer * kv->n_ctx + pos) * kv->dim;
}

void elm__kv_store(elm__kv_t *kv, uint32_t layer, uint32_t pos, const float *k, const float *v)
{
    size_t at = row_index(kv, layer, pos);
    if (kv->type == ELM_TYPE_F32) {
        memcpy((float *)kv->k + at, k, kv->dim * sizeof(float));
        memcpy((float *)kv->v + at, v, kv->dim * sizeof(float));
        return;
    }
    uint16_t *kh = (uint16_t *)kv->k + at, *vh = (uint16_t *)kv->v + at;
    for (uint32_t i = 0; i < kv->dim; i++) {
        kh[i] = elm_fp32_to_fp16(k[i]);
        vh[i] = elm_fp32_to_fp16(v[i]);
    }
}

float elm__kv_dot_k(const elm__kv_t *kv, uint32_t layer, uint32_t pos, uint32_t off, const float *q,
                    uint32_t n)
{
    size_t at = row_index(kv, layer, pos) + off;
    float s = 0;
    if (kv->type == ELM_TYPE_F32) {
        const float *k = (const float *)kv->k + at;
        for (uint32_t i = 0; i < n; i++)
            s += q[i] * k[i];
    } else {
        const uint16_t *k = (const uint16_t *)kv->k + at;
        for (uint32_t i = 0; i < n; i++)
            s += q[i] * elm_fp16_to_fp32(k[i]);
    }
    return s;
}

void elm__kv_axpy_v(const elm__kv_t *kv, uint32_t layer, uint32_t pos, uint32_t off, float a,
                    float *out, uint32_t n)
{
    size_t at = row_index(kv, layer, pos) + off;
    if (kv->type == ELM_TYPE_F32) {
        const float *v = (const float *)kv->v + at;
        for (uint32_t i = 0; i < n; i++)
            out[i] += a * v[i];
    } else {
        const uint16_t *v = (const uint16_t *)kv->v + at;
        for (uint32_t i = 0; i < n; i++)
            out[i] += a * elm_fp16_to_fp32(v[i]);
    }
}
