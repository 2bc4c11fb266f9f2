/* The KV cache: per layer, one key row per position (position-major) and the values transposed
 * (one row per value dimension, position-minor), stored as f32 or f16 (the conversion is
 * round-to-nearest-even, as ggml's cpy does). Keys position-major make q·k a dot product over
 * a key row; values transposed make the weighted sum of values a dot product over positions, so
 * attention runs on the kernels' f16/f32 dot products and matrix products. */
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
    kv->tr = elm_traits(type);
    kv->esize = type == ELM_TYPE_F16 ? 2 : 4;
    kv->n_layer = n_layer;
    kv->n_ctx = n_ctx;
    kv->dim = dim;
    uint64_t bytes = elm__kv_bytes(kv) / 2;
    if (bytes > SIZE_MAX / 2)
        return elm_diag(diag, ELM_ERANGE, "KV cache of %u positions is too large", n_ctx);
    /* Huge pages where the kernel allows: a decode step stores one value in each of the dim
     * transposed value rows, n_ctx elements apart, and attention reads every row back; with
     * 4 KiB pages each of those would be a TLB miss of its own. */
    kv->k = elm_big_alloc((size_t)bytes);
    kv->v = elm_big_alloc((size_t)bytes);
    if (!kv->k || !kv->v) {
        elm__kv_free(kv);
        return elm_diag(diag, ELM_ENOMEM, "KV cache: cannot allocate %llu bytes for %u positions",
                        (unsigned long long)bytes * 2, n_ctx);
    }
    return 0;
}

void elm__kv_free(elm__kv_t *kv)
{
    const size_t bytes = (size_t)(elm__kv_bytes(kv) / 2);
    elm_big_free(kv->k, bytes);
    elm_big_free(kv->v, bytes);
    kv->k = kv->v = NULL;
}

uint64_t elm__kv_bytes(const elm__kv_t *kv)
{
    return 2ull * kv->n_layer * kv->n_ctx * kv->dim * kv->esize;
}

const void *elm__kv_k(const elm__kv_t *kv, uint32_t layer, uint32_t pos, uint32_t off)
{
    return (const char *)kv->k + (((size_t)layer * kv->n_ctx + pos) * kv->dim + off) * kv->esize;
}

const void *elm__kv_vt(const elm__kv_t *kv, uint32_t layer, uint32_t d)
{
    return (const char *)kv->v + (((size_t)layer * kv->dim + d) * kv->n_ctx) * kv->esize;
}

void elm__kv_store_k(elm__kv_t *kv, uint32_t layer, uint32_t pos, uint32_t off, const float *k,
                     uint32_t n)
{
    kv->tr->from_float(k, (void *)elm__kv_k(kv, layer, pos, off), n);
}

void elm__kv_store_v(elm__kv_t *kv, uint32_t layer, uint32_t pos, uint32_t off, const float *v,
                     uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        char *at = (char *)elm__kv_vt(kv, layer, off + i) + (size_t)pos * kv->esize;
        if (kv->type == ELM_TYPE_F16)
            *(uint16_t *)(void *)at = elm_fp32_to_fp16(v[i]);
        else
            memcpy(at, &v[i], sizeof(float));
    }
}
