/* Internal declarations of engine/: the bound model (weights pointing into the mapping), the
 * per-architecture description, the matrix product and the session layout. */
#ifndef ELM_ENGINE_INTERNAL_H
#define ELM_ENGINE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "edgelm/engine.h"
#include "edgelm/kernels.h"
#include "edgelm/pool.h"
#include "kernels/panel.h"

/* A weight matrix: rows of ne0 values, ne1 rows, used in place, or repacked at load into panels
 * of 16 rows (kernels/panel.h) where the CPU has panel kernels for its type. */
typedef struct {
    const char *name;            /* the tensor's name in the file */
    const void *data;            /* into the mapping, or the model's panels */
    const elm_type_traits_t *tr; /* its type's kernels */
    int64_t ne0, ne1;
    size_t row_bytes;          /* of a row in the file */
    const elm__panel_t *panel; /* NULL: rows as in the file */
    size_t panel_bytes;        /* of one panel */
} elm__weight_t;

/* Row o of w as floats (the embedding lookup), from rows or panels alike. */
void elm__weight_row(const elm__weight_t *w, int64_t o, float *y);

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
    /* phi3's fused blk.N.attn_qkv and ffn_up are bound as the views above (wq, wk, wv over the
     * q, k, v rows; w_gate, w_up over the two halves of ffn_up): no copy, and the forward pass
     * runs them as it runs separate tensors. */
    elm__vec_t post_attn_norm; /* (n_embd) gemma2: normalizes Wo's output; else absent */
    elm__vec_t post_ffn_norm;  /* (n_embd) gemma2: normalizes Wdown's output; else absent */
    uint32_t n_swa;            /* this layer's sliding attention window; 0: plain causal */
    /* t5 (README §6.3 of the reference data) */
    const float *rel_bias; /* (n_rel_buckets, n_head) added to q·k: its own or block 0's table */
    elm__vec_t rel_own;    /* the layer's own attn_rel_b, when the file has one */
    elm__vec_t cross_norm; /* (n_embd) decoder layers: before the cross-attention */
    elm__weight_t cq, ck, cv, co; /* decoder layers: cross-attention over the encoder output */
} elm__layer_t;

/* Where each matrix of a layer sits in elm__layer_t, each once (the cross-attention's have data
 * NULL outside t5's decoder): what walks every matrix of a model. */
static const size_t elm__layer_matrix_at[] = {
    offsetof(elm__layer_t, wq),     offsetof(elm__layer_t, wk),     offsetof(elm__layer_t, wv),
    offsetof(elm__layer_t, wo),     offsetof(elm__layer_t, w_gate), offsetof(elm__layer_t, w_up),
    offsetof(elm__layer_t, w_down), offsetof(elm__layer_t, cq),     offsetof(elm__layer_t, ck),
    offsetof(elm__layer_t, cv),     offsetof(elm__layer_t, co)};
enum { ELM__LAYER_MATRICES = sizeof elm__layer_matrix_at / sizeof elm__layer_matrix_at[0] };

/* Matrix i of layer L (as strchr, mutable only if L is). */
static inline elm__weight_t *elm__layer_matrix(const elm__layer_t *L, size_t i)
{
    return (elm__weight_t *)(uintptr_t)((const char *)L + elm__layer_matrix_at[i]);
}

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
    /* phi3's block (README §7.3 of the reference data) */
    bool fused_qkv;     /* blk.N.attn_qkv: q, k and v rows in that order, no attn_q/k/v */
    bool fused_gate_up; /* blk.N.ffn_up: 2*n_ff rows, gate then up; no ffn_gate */
    int rope_factors;   /* ELM__NEED_* for rope_factors_{long,short}.weight (LongRoPE) */
    int swa;            /* ELM__SWA_*: layers that use <arch>.attention.sliding_window */
    /* gemma2's block (README §7.2 of the reference data) */
    bool embd_scale; /* token embeddings times sqrt(n_embd) */
    bool post_norms; /* blk.N.post_attention_norm / post_ffw_norm after Wo and Wdown */
    bool gelu;       /* GELU-gated FFN (ggml's fp16-table GELU) instead of SwiGLU */
    bool softcap;    /* tanh soft-caps of the attention scores and of the logits */
    bool q_prescale; /* q times 1/sqrt(head_dim) after RoPE; the soft-max scale is then 1 */
    /* t5's encoder-decoder (README §6.3): enc.blk / dec.blk stacks, attn_o, relative position
     * buckets instead of RoPE, unscaled attention, cross-attention in the decoder */
    bool encdec;
} elm__arch_t;

enum { ELM__NEED_NO = 0, ELM__NEED_OPTIONAL = 1, ELM__NEED_REQUIRED = 2 };
enum { ELM__SWA_NONE = 0, ELM__SWA_EVEN = 1 /* layers 0, 2, 4, ... */, ELM__SWA_ALL = 2 };

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
    elm__vec_t rope_long, rope_short; /* (head_dim/2) LongRoPE factors, or absent */
    float embd_scale; /* embeddings are multiplied by it; 0: not scaled */
    float q_scale;    /* q is multiplied by it after RoPE (soft-max scale 1); 0: not */
    float attn_scale; /* the soft-max's scale of q·k; 0: 1/sqrt(head_dim) */
    /* encoder-decoder models: the encoder stack (n_layer) and its final norm; layers and
     * output_norm above are the decoder's */
    elm__layer_t *enc_layers;
    elm__vec_t enc_norm;
    void *panels; /* the repacked weights (elm_big_alloc), panels_bytes long */
    size_t panels_bytes;
};

/* T5's relative position bucket of a key at rel = key − query positions from the query
 * (llama.cpp's llama_relative_position_bucket, max distance 128): bidirectional for the encoder,
 * causal (only rel <= 0 distinguished) for the decoder. */
uint32_t elm__t5_bucket(int32_t rel, bool bidirectional, uint32_t n_buckets);

/* The factors that divide each rotated pair's frequency in a session whose sequences hold up to
 * n_ctx positions each: LongRoPE's long set when n_ctx exceeds the original context
 * (hp.n_ctx_orig) and its short set otherwise, as llama.cpp's build_rope_factors chooses by
 * the context size and not by the sequence length; else rope_freqs.weight; NULL: none. The
 * vector is the model's. */
const float *elm__rope_factors(const elm_model_t *m, uint32_t n_ctx);

/* ---- matrix product ---- */

/* One product of a group: y[r * ldy + o] = w_o · x[r] for o < w->ne1. With per_tile, only the
 * epilogue sees its outputs, a tile at a time: y holds one buffer of ldy floats (at least
 * elm__matmul_tile_floats) per pool thread, and the thread that computes tile [r0, r1) ×
 * [o0, o1) writes output (r, o) at (r - r0) * (o1 - o0) + o - o0 of its own (gate and up's up,
 * which nothing reads after prefill's epilogue, needs no buffer of all the rows). */
typedef struct {
    const elm__weight_t *w;
    float *y; /* (n_rows, ldy), or per_tile buffers */
    size_t ldy;
    bool per_tile;
} elm__mm_out_t;

/* Called once per finished tile: output columns [o0, o1) of product `which` (of every product
 * when paired) for activation rows [r0, r1); tile is the computing thread's buffer of the
 * group's per_tile product (NULL: none). Runs on the pool thread that computed the tile, so it
 * may only touch those elements (and what they alone feed). */
typedef void (*elm__mm_epilogue_fn)(void *ctx, int which, int64_t r0, int64_t r1, int64_t o0,
                                    int64_t o1, const float *tile);

#define ELM__MM_MAX_OUT 3

/* Products that read the same activations, run as one pool loop: the activations are converted
 * once per distinct vec_dot_type, and the tiles of every product share the loop. */
typedef struct {
    elm__mm_out_t out[ELM__MM_MAX_OUT];
    int n_out;
    /* Every product has the same ne1 and a task computes the same columns of each (prefill's
     * gate and up, whose epilogue needs both). */
    bool paired;
    int64_t align;                /* tiles of output columns start at multiples of align (1: any) */
    /* Every activation row is computed exactly as a product of that row alone would be (the
     * gemv, or vec_dot per output), each tile of weights walked for every row while it is in
     * cache: the decode rows of several sequences, whose results must not depend on each
     * other. A one-row product is always solo. */
    bool solo_rows;
    elm__mm_epilogue_fn epilogue; /* NULL: none */
    void *ctx;
} elm__mm_group_t;

/* The most outputs one tile of a group with this align has, in prefill or in a solo_rows
 * product of up to n_solo rows: the size of a per_tile product's buffers. */
size_t elm__matmul_tile_floats(int64_t align, int64_t n_solo);

/* Bytes of scratch elm__matmul_group needs for n_rows activation rows of the products of any
 * group over these weights, or n_solo rows of a solo_rows group (room for ELM__MM_MAX_OUT
 * conversions). */
size_t elm__matmul_scratch(const elm__weight_t *const *ws, size_t n_ws, int64_t n_rows,
                           int64_t n_solo);

/* Run the group over x (n_rows, ne0) on n_threads of the pool, qbuf holding the converted
 * activations. One activation row (decode), or each row of a solo_rows group, goes through the
 * weight type's gemv, its activation laid out once for the whole product (or one vec_dot per
 * output row); more rows are split
 * into 2-D tiles (output columns × activation rows, sized so a tile's weight slice stays in L2)
 * computed by the type's gemm kernel, or by vec_dot loops where it has none. The tiling depends
 * only on the shapes, never on the thread count, so results do not either. */
void elm__matmul_group(elm_pool_t *pool, int n_threads, const elm__mm_group_t *g, const float *x,
                       int64_t n_rows, void *qbuf);

/* y[r * ldy + o] = dot(row o of w, row r of a), the elm_gemm_fn contract, through tr's gemm
 * when there are several activation rows and the type has one, else vec_dot per element (weight
 * row outer, so each stays in L1 across the activations). Never the gemv, whose activation must
 * be laid out first. */
void elm__matmul_block(const elm_type_traits_t *tr, int64_t n, int64_t n_out, int64_t n_act,
                       const void *w, size_t w_stride, const void *a, size_t a_stride, float *y,
                       size_t ldy);

/* One product y (n_rows, w->ne1) = x · wᵀ with no epilogue. */
void elm__matmul(elm_pool_t *pool, int n_threads, const elm__weight_t *w, const float *x,
                 int64_t n_rows, float *y, void *qbuf);

/* The smallest range of items worth one task of the pool, when each item costs about
 * work_per_item multiply-adds: at least floor items and ELM__TASK_MIN_WORK work in all. */
#define ELM__TASK_MIN_WORK 65536
static inline int64_t elm__min_chunk(int64_t work_per_item, int64_t floor)
{
    int64_t n = work_per_item > 0 ? (ELM__TASK_MIN_WORK + work_per_item - 1) / work_per_item : 1;
    return n > floor ? n : floor;
}

/* ---- KV cache ---- */

/* Keys and values of every layer and position, f32 or f16. */
typedef struct {
    elm_type_t type;
    const elm_type_traits_t *tr;  /* the element type's kernels (dot products on cache rows) */
    size_t esize;                 /* bytes per element */
    uint32_t n_layer, n_ctx, dim; /* dim = n_head_kv * head_dim */
    void *k;                      /* (n_layer, n_ctx, dim) */
    void *v;                      /* (n_layer, dim, n_ctx): transposed */
} elm__kv_t;

/* Allocate the cache (zeroed). ELM_ENOTSUP for a type other than f32/f16. */
int elm__kv_init(elm__kv_t *kv, elm_type_t type, uint32_t n_layer, uint32_t n_ctx, uint32_t dim,
                 elm_diag_t *diag);
void elm__kv_free(elm__kv_t *kv);
/* Bytes the cache holds. */
uint64_t elm__kv_bytes(const elm__kv_t *kv);
/* Element off of the key row of (layer, pos); key rows are dim elements apart. */
const void *elm__kv_k(const elm__kv_t *kv, uint32_t layer, uint32_t pos, uint32_t off);
/* Value dimension d of layer over positions 0..n_ctx-1: a row of n_ctx elements. */
const void *elm__kv_vt(const elm__kv_t *kv, uint32_t layer, uint32_t d);
/* Store n key (value) elements of (layer, pos) from column off on. */
void elm__kv_store_k(elm__kv_t *kv, uint32_t layer, uint32_t pos, uint32_t off, const float *k,
                     uint32_t n);
void elm__kv_store_v(elm__kv_t *kv, uint32_t layer, uint32_t pos, uint32_t off, const float *v,
                     uint32_t n);

/* ---- attention ---- */

/* Causal attention of n_rows query rows at positions pos0.. over the cache (which already holds
 * those positions), with grouped KV heads. */
typedef struct {
    const elm__kv_t *kv;
    uint32_t layer;
    const float *q; /* (n_rows, q_stride): head h at column h * head_dim, roped */
    size_t q_stride;
    float *out; /* (n_rows, out_stride): head h at column h * head_dim */
    size_t out_stride;
    uint32_t n_rows, pos0;
    uint32_t n_head, n_head_kv, head_dim;
    float scale;     /* the soft-max's scale of q·k; 0: 1/sqrt(head_dim) */
    float softcap;   /* scores become softcap·tanh(score/softcap) first; 0: not capped */
    uint32_t window; /* 0: causal; else the query at p sees only p - window < j <= p */
    /* 0: causal over the cache; else every row sees keys 0..n_keys-1 (t5's encoder and
     * cross-attention) */
    uint32_t n_keys;
    /* t5: bias[bucket[j − p] · n_head + h] is added to head h's score of key j from the query
     * at p (bucket is indexed by the signed distance); NULL: none */
    const float *bias;
    const uint8_t *bucket;
} elm__attn_t;

/* Bytes of per-thread scratch elm__attention needs for a cache of n_ctx positions. */
size_t elm__attn_scratch(uint32_t n_ctx, uint32_t head_dim, uint32_t n_head, uint32_t n_head_kv,
                         size_t esize);

/* softmax(q·kᵀ / sqrt(head_dim)) · v (or each block's scale, soft-cap, window, keys and bias) for every
 * query row and head of the n_a blocks a (each its
 * own cache and rows: the decode rows of several sequences), in one pool loop on n_threads of
 * the pool; a block's result does not depend on the others. scratch holds elm__attn_scratch
 * bytes per pool thread. Memory is O(n_ctx) per thread,
 * never O(n²): a task is a block of query rows of some heads of one KV head, scored against
 * every position at once (the kernels' gemm, or vec_dot) with rows of n_ctx scores. */
void elm__attention(elm_pool_t *pool, int n_threads, const elm__attn_t *a, uint32_t n_a,
                    void *scratch);

/* Blocks elm__attention runs in one pool loop; more take several loops. */
#define ELM__ATTN_MAX_BLOCKS 32

/* ---- session ---- */

/* Pool loops the session has handed to worker threads so far (elm_pool_dispatches of its pool;
 * 0 on one thread): dispatches per token, for measurements. */
uint64_t elm__session_dispatches(const elm_session_t *s);

#endif
