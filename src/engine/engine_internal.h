/* Internal declarations of engine/: the bound model (weights pointing into the mapping), the
 * per-architecture description, the matrix product and the session layout. */
#ifndef ELM_ENGINE_INTERNAL_H
#define ELM_ENGINE_INTERNAL_H

#include <stddef.h>

#include "edgelm/engine.h"
#include "edgelm/kernels.h"
#include "edgelm/pool.h"

/* A weight matrix used in place: rows of ne0 values, ne1 rows. */
typedef struct {
    const char *name;            /* the tensor's name in the file */
    const void *data;            /* into the mapping */
    const elm_type_traits_t *tr; /* its type's kernels */
    int64_t ne0, ne1;
    size_t row_bytes;
} elm__weight_t;

/* A vector (norm weight, bias, rope factors), converted to f32 at load. */
typedef struct {
    float *v; /* owned; NULL when the tensor is absent */
    int64_t n;
} elm__vec_t;

typedef struct {
    elm__vec_t attn_norm;  /* (n_embd) */
    elm__weight_t wq;      /* (n_head*head_dim, n_embd) */
    elm__weight_t wk;      /* (n_head_kv*head_dim, n_embd) */
    elm__weight_t wv;      /* (n_head_kv*head_dim, n_embd) */
    elm__weight_t wo;      /* (n_embd, n_head*head_dim) */
    elm__vec_t bq, bk, bv; /* (q_dim), (kv_dim), (kv_dim); absent without biases */
    elm__vec_t ffn_norm;   /* (n_embd) */
    elm__weight_t w_gate;  /* (n_ff, n_embd) */
    elm__weight_t w_up;    /* (n_ff, n_embd) */
    elm__weight_t w_down;  /* (n_embd, n_ff) */
} elm__layer_t;

/* What one architecture is: its defaults and which optional parts it has. A new decoder family
 * that shares the llama block layout is one more row of the table in model.c. */
typedef struct {
    const char *name; /* general.architecture */
    float rope_base;  /* default when <arch>.rope.freq_base is absent */
    float rms_eps;    /* default when the epsilon key is absent */
    bool rope_neox;
    int qkv_bias;   /* ELM__NEED_* for blk.N.attn_{q,k,v}.bias */
    int rope_freqs; /* ELM__NEED_* for rope_freqs.weight */
    int output;     /* ELM__NEED_* for output.weight (absent: tied to token_embd) */
} elm__arch_t;

enum { ELM__NEED_NO = 0, ELM__NEED_OPTIONAL = 1, ELM__NEED_REQUIRED = 2 };

struct elm_model {
    elm_hparams_t hp;
    const elm__arch_t *arch;
    elm_gguf_t *owned; /* the file, when the model opened it */
    const elm_gguf_t *g;
    elm__weight_t tok_embd; /* (n_vocab, n_embd) */
    elm__vec_t output_norm; /* (n_embd) */
    elm__weight_t output;   /* (n_vocab, n_embd); token_embd when tied */
    elm__vec_t rope_freqs;  /* (n_rot/2) or absent */
    elm__layer_t *layers;   /* (n_layer) */
    uint64_t weight_bytes;
};

/* ---- matrix product ---- */

/* Bytes of scratch elm__matmul needs to quantize n rows of n_in activations for w. */
size_t elm__matmul_scratch(const elm__weight_t *w, int64_t n_rows);

/* y[r][o] = w_o · x[r] for r < n_rows, o < w->ne1; x is (n_rows, w->ne0), y is (n_rows,
 * w->ne1). Activations are first converted to the weight's vec_dot_type, once per row, into
 * qbuf (elm__matmul_scratch bytes), as llama.cpp's CPU backend does. Parallel over output rows. */
void elm__matmul(elm_pool_t *pool, const elm__weight_t *w, const float *x, int64_t n_rows, float *y,
                 void *qbuf);

/* The smallest range of items worth one task of the pool, when each item costs about
 * work_per_item multiply-adds: at least floor items and ELM__TASK_MIN_WORK work in all. */
#define ELM__TASK_MIN_WORK 65536
static inline int64_t elm__min_chunk(int64_t work_per_item, int64_t floor)
{
    int64_t n = work_per_item > 0 ? (ELM__TASK_MIN_WORK + work_per_item - 1) / work_per_item : 1;
    return n > floor ? n : floor;
}

#endif

/* ---- KV cache ---- */

/* Keys and values of every layer and position, f32 or f16. */
typedef struct {
    elm_type_t type;
    uint32_t n_layer, n_ctx, dim; /* dim = n_head_kv * head_dim */
    void *k;                      /* (n_layer, n_ctx, dim) */
    void *v;                      /* (n_layer, n_ctx, dim) */
} elm__kv_t;

/* Allocate the cache (zeroed). ELM_ENOTSUP for a type other than f32/f16. */
int elm__kv_init(elm__kv_t *kv, elm_type_t type, uint32_t n_layer, uint32_t n_ctx, uint32_t dim,
                 elm_diag_t *diag);
void elm__kv_free(elm__kv_t *kv);
/* Bytes the cache holds. */
uint64_t elm__kv_bytes(const elm__kv_t *kv);
/* Store one position's key and value rows (dim floats each). */
void elm__kv_store(elm__kv_t *kv, uint32_t layer, uint32_t pos, const float *k, const float *v);
/* q · k[layer][pos][off .. off+n). */
float elm__kv_dot_k(const elm__kv_t *kv, uint32_t layer, uint32_t pos, uint32_t off, const float *q,
                    uint32_t n);
/* out[0..n) += a * v[layer][pos][off .. off+n). */
void elm__kv_axpy_v(const elm__kv_t *kv, uint32_t layer, uint32_t pos, uint32_t off, float a,
                    float *out, uint32_t n);
