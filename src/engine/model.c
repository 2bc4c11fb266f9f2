/* Model loading: the architecture table, hyperparameters from `<arch>.*` keys, and binding of
 * every tensor by name with its expected shape. Matrices stay in the mapping; the small vectors
 * (norms, biases, rope factors) are converted to f32. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine/engine_internal.h"

/* ---- architectures ----
 * Both run the llama block (pre-norm attention with RoPE and GQA, SwiGLU FFN). phi3 (fused QKV),
 * gemma2 (soft-capping, extra norms) and internlm2 add columns here and a branch where their
 * block differs, not a copy of the forward pass. */

static const elm__arch_t archs[] = {
    {.name = "llama",
     .rope_base = 10000.0f,
     .rms_eps = 1e-5f,
     .rope_neox = false,
     .qkv_bias = ELM__NEED_OPTIONAL,
     .rope_freqs = ELM__NEED_OPTIONAL,
     .output = ELM__NEED_OPTIONAL},
    {.name = "qwen2",
     .rope_base = 1e6f,
     .rms_eps = 1e-6f,
     .rope_neox = true,
     .qkv_bias = ELM__NEED_REQUIRED,
     .rope_freqs = ELM__NEED_NO,
     .output = ELM__NEED_OPTIONAL},
    /* The llama block with NORM RoPE; the converter has split InternLM's grouped wqkv into
     * attn_q/k/v (README §6.2). llama.cpp's loader wants output.weight and no biases. */
    {.name = "internlm2",
     .rope_base = 10000.0f,
     .rms_eps = 1e-5f,
     .rope_neox = false,
     .qkv_bias = ELM__NEED_NO,
     .rope_freqs = ELM__NEED_NO,
     .output = ELM__NEED_REQUIRED},
    /* Fused attn_qkv and gate/up, NEOX RoPE with LongRoPE factors and the attention factor
     * (README §7.3); head_dim is n_embd / n_head. */
    {.name = "phi3",
     .rope_base = 10000.0f,
     .rms_eps = 1e-5f,
     .rope_neox = true,
     .qkv_bias = ELM__NEED_NO,
     .rope_freqs = ELM__NEED_NO,
     .output = ELM__NEED_REQUIRED,
     .fused_qkv = true,
     .fused_gate_up = true,
     .rope_factors = ELM__NEED_OPTIONAL,
     .swa = ELM__SWA_ALL},
    /* README §7.2: the output is always token_embd (llama.cpp never reads output.weight) */
    {.name = "gemma2",
     .rope_base = 10000.0f,
     .rms_eps = 1e-6f,
     .rope_neox = true,
     .qkv_bias = ELM__NEED_NO,
     .rope_freqs = ELM__NEED_NO,
     .output = ELM__NEED_NO,
     .embd_scale = true,
     .post_norms = true,
     .gelu = true,
     .softcap = true,
     .q_prescale = true,
     .swa = ELM__SWA_EVEN},
    /* README §6.3: Flan-T5's encoder-decoder with gated GELU (ggml's fp16 table, as gemma2) */
    {.name = "t5",
     .rope_base = 10000.0f,
     .rms_eps = 1e-6f,
     .qkv_bias = ELM__NEED_NO,
     .rope_freqs = ELM__NEED_NO,
     .output = ELM__NEED_OPTIONAL,
     .gelu = true,
     .encdec = true},
};

const char *elm_engine_archs(void)
{
    return "llama qwen2 internlm2 phi3 gemma2 t5";
}

static const elm__arch_t *find_arch(const char *name)
{
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (!strcmp(archs[i].name, name)) return &archs[i];
    return NULL;
}

/* ---- hyperparameters ---- */

typedef struct {
    const elm_gguf_t *g;
    const char *arch;
    const char *file;
    elm_diag_t *diag;
} keys_t;

/* <arch>.<name> as u32: 0 and *out set; absent: *out = dflt and 0 unless required. */
static int key_u32(const keys_t *k, const char *name, bool required, uint32_t dflt, uint32_t *out)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", k->arch, name);
    int rc = elm_gguf_get_u32(k->g, key, out);
    if (rc == ELM_ENOKEY && !required) {
        *out = dflt;
        return 0;
    }
    if (rc == ELM_ENOKEY)
        return elm_diag(k->diag, rc, "%s: key %s is missing (needed for architecture %s)", k->file,
                        key, k->arch);
    if (rc) return elm_diag(k->diag, rc, "%s: key %s: %s", k->file, key, elm_strerror(rc));
    return 0;
}

static int key_f32(const keys_t *k, const char *name, float dflt, float *out)
{
    char key[128];
    double v;
    snprintf(key, sizeof key, "%s.%s", k->arch, name);
    int rc = elm_gguf_get_f64(k->g, key, &v);
    if (rc == ELM_ENOKEY) {
        *out = dflt;
        return 0;
    }
    if (rc) return elm_diag(k->diag, rc, "%s: key %s: %s", k->file, key, elm_strerror(rc));
    *out = (float)v;
    return 0;
}

static int32_t token_id_key(const elm_gguf_t *g, const char *key)
{
    uint32_t v;
    return elm_gguf_get_u32(g, key, &v) == 0 && v <= INT32_MAX ? (int32_t)v : -1;
}

/* The soft-caps, embedding and query scales of the architectures that have them (gemma2), with
 * llama.cpp's defaults for absent keys (README §7.2). */
static int read_gemma2_hparams(elm_model_t *m, const keys_t *k)
{
    elm_hparams_t *hp = &m->hp;
    const elm__arch_t *a = m->arch;
    int rc;
    if (a->softcap && ((rc = key_f32(k, "attn_logit_softcapping", 50.0f, &hp->attn_softcap)) ||
                       (rc = key_f32(k, "final_logit_softcapping", 30.0f, &hp->final_softcap))))
        return rc;
    if (a->softcap && !(hp->attn_softcap > 0 && hp->final_softcap > 0))
        return elm_diag(k->diag, ELM_EINVAL, "%s: architecture %s: soft-caps must be positive",
                        k->file, hp->arch);
    if (a->embd_scale) m->embd_scale = sqrtf((float)hp->n_embd);
    /* llama.cpp's "27B" (46 layers) scales by n_embd / n_head, as Gemma 2's
     * query_pre_attn_scalar does; every other size by the key length */
    if (a->q_prescale)
        m->q_scale =
            1.0f / sqrtf((float)(hp->n_layer == 46 ? hp->n_embd / hp->n_head : hp->head_dim));
    return 0;
}

/* The bucket count and the decoder's start token of an encoder-decoder model (README §6.3). */
static int read_t5_hparams(elm_model_t *m, const keys_t *k)
{
    elm_hparams_t *hp = &m->hp;
    hp->decoder_start_id = -1;
    if (!m->arch->encdec) return 0;
    hp->has_encoder = true;
    uint32_t start;
    int rc;
    if ((rc = key_u32(k, "attention.relative_buckets_count", false, 32, &hp->n_rel_buckets)) ||
        (rc = key_u32(k, "decoder_start_token_id", false, UINT32_MAX, &start)))
        return rc;
    /* buckets are stored as bytes; a bidirectional table needs at least 2 per direction */
    if (hp->n_rel_buckets < 4 || hp->n_rel_buckets > 256)
        return elm_diag(k->diag, ELM_EINVAL,
                        "%s: key %s.attention.relative_buckets_count is %" PRIu32
                        " (expected 4..256)",
                        k->file, k->arch, hp->n_rel_buckets);
    if (hp->n_head_kv != hp->n_head)
        return elm_diag(k->diag, ELM_ENOTSUP,
                        "%s: architecture %s with %" PRIu32 " KV heads for %" PRIu32
                        " query heads is not supported",
                        k->file, k->arch, hp->n_head_kv, hp->n_head);
    /* Hugging Face's T5 starts the decoder from <pad> when the key is absent */
    if (start == UINT32_MAX) {
        const int32_t pad = token_id_key(m->g, "tokenizer.ggml.padding_token_id");
        start = pad >= 0 ? (uint32_t)pad : 0;
    }
    if (start > INT32_MAX)
        return elm_diag(k->diag, ELM_EINVAL, "%s: key %s.decoder_start_token_id is out of range",
                        k->file, k->arch);
    hp->decoder_start_id = (int32_t)start;
    return 0;
}

uint32_t elm__t5_bucket(int32_t rel, bool bidirectional, uint32_t n_buckets)
{
    uint32_t base = 0, nb = n_buckets;
    int64_t a;
    if (bidirectional) {
        nb /= 2;
        base = rel > 0 ? nb : 0;
        a = rel < 0 ? -(int64_t)rel : rel;
    } else {
        a = rel < 0 ? -(int64_t)rel : 0;
    }
    const uint32_t exact = nb / 2;
    if (a < exact) return base + (uint32_t)a;
    /* the logarithmic buckets up to the max distance 128, as llama.cpp computes them in float */
    const float f = (float)exact + logf((float)a / (float)exact) / logf(128.0f / (float)exact) *
                                       (float)(nb - exact);
    const uint32_t large = (uint32_t)floorf(f);
    return base + (large < nb - 1 ? large : nb - 1);
}

static int read_hparams(elm_model_t *m, const char *file, elm_diag_t *diag)
{
    elm_hparams_t *hp = &m->hp;
    const keys_t k = {m->g, hp->arch, file, diag};
    int rc;
    if ((rc = key_u32(&k, "block_count", true, 0, &hp->n_layer)) ||
        (rc = key_u32(&k, "embedding_length", true, 0, &hp->n_embd)) ||
        (rc = key_u32(&k, "feed_forward_length", true, 0, &hp->n_ff)) ||
        (rc = key_u32(&k, "attention.head_count", true, 0, &hp->n_head)) ||
        (rc = key_u32(&k, "attention.head_count_kv", false, hp->n_head, &hp->n_head_kv)) ||
        (rc = key_u32(&k, "context_length", false, 2048, &hp->n_ctx_train)) ||
        (rc = key_f32(&k, "attention.layer_norm_rms_epsilon", m->arch->rms_eps, &hp->rms_eps)) ||
        (rc = key_f32(&k, "rope.freq_base", m->arch->rope_base, &hp->rope_base)))
        return rc;
    if (hp->n_layer == 0 || hp->n_embd == 0 || hp->n_ff == 0 || hp->n_head == 0 ||
        hp->n_head_kv == 0 || hp->n_head % hp->n_head_kv != 0 || hp->n_embd % hp->n_head != 0)
        return elm_diag(
            diag, ELM_EINVAL,
            "%s: architecture %s: inconsistent sizes (n_layer %" PRIu32 ", n_embd %" PRIu32
            ", n_ff %" PRIu32 ", n_head %" PRIu32 ", n_head_kv %" PRIu32 ")",
            file, hp->arch, hp->n_layer, hp->n_embd, hp->n_ff, hp->n_head, hp->n_head_kv);
    if ((rc = key_u32(&k, "attention.key_length", false, hp->n_embd / hp->n_head, &hp->head_dim)) ||
        (rc = key_u32(&k, "rope.dimension_count", false, hp->head_dim, &hp->n_rot)))
        return rc;
    uint32_t v_len;
    if ((rc = key_u32(&k, "attention.value_length", false, hp->head_dim, &v_len))) return rc;
    if (v_len != hp->head_dim || hp->head_dim == 0 || hp->n_rot == 0 || hp->n_rot % 2 ||
        hp->n_rot > hp->head_dim)
        return elm_diag(diag, ELM_ENOTSUP,
                        "%s: architecture %s: head sizes key %" PRIu32 " / value %" PRIu32
                        " with %" PRIu32 " rotary dimensions are not supported",
                        file, hp->arch, hp->head_dim, v_len, hp->n_rot);
    if (hp->rms_eps <= 0 || hp->rope_base <= 0)
        return elm_diag(diag, ELM_EINVAL,
                        "%s: architecture %s: rms epsilon and rope base must be positive", file,
                        hp->arch);
    hp->rope_neox = m->arch->rope_neox;
    /* llama.cpp reads both for every architecture: the factor scales cos and sin (its
     * yarn_attn_factor), the original context chooses phi3's LongRoPE factors. */
    if ((rc = key_u32(&k, "rope.scaling.original_context_length", false, hp->n_ctx_train,
                      &hp->n_ctx_orig)) ||
        (rc = key_f32(&k, "rope.scaling.attn_factor", 1.0f, &hp->rope_attn_factor)) ||
        (m->arch->swa && (rc = key_u32(&k, "attention.sliding_window", false,
                                       m->arch->swa == ELM__SWA_EVEN ? 4096 : 0, &hp->n_swa))))
        return rc;
    if (!(hp->rope_attn_factor > 0) || isinf(hp->rope_attn_factor))
        return elm_diag(diag, ELM_EINVAL,
                        "%s: key %s.rope.scaling.attn_factor must be a positive number", file,
                        hp->arch);
    if ((rc = read_gemma2_hparams(m, &k)) || (rc = read_t5_hparams(m, &k))) return rc;
    m->attn_scale = m->q_scale || m->arch->encdec ? 1.0f : 0.0f;
    hp->bos_id = token_id_key(m->g, "tokenizer.ggml.bos_token_id");
    hp->eos_id = token_id_key(m->g, "tokenizer.ggml.eos_token_id");
    return 0;
}

/* ---- tensor binding ---- */

typedef struct {
    elm_model_t *m;
    const char *file;
    elm_diag_t *diag;
} binder_t;

static const elm_gguf_tensor_t *find(const binder_t *b, const char *name, int need, int *rc)
{
    *rc = 0;
    const elm_gguf_tensor_t *t = elm_gguf_find_tensor(b->m->g, name);
    if (!t && need == ELM__NEED_REQUIRED)
        *rc = elm_diag(b->diag, ELM_ENOKEY, "%s: tensor %s is missing (architecture %s)", b->file,
                       name, b->m->hp.arch);
    return t;
}

static int shape_error(const binder_t *b, const elm_gguf_tensor_t *t, int64_t e0, int64_t e1)
{
    char got[64], want[64];
    if (t->n_dims == 1)
        snprintf(got, sizeof got, "%" PRId64, t->ne[0]);
    else
        snprintf(got, sizeof got, "%" PRId64 " x %" PRId64 "%s", t->ne[0], t->ne[1],
                 t->n_dims > 2 ? " x ..." : "");
    if (e1 < 0)
        snprintf(want, sizeof want, "%" PRId64, e0);
    else
        snprintf(want, sizeof want, "%" PRId64 " x %" PRId64, e0, e1);
    return elm_diag(b->diag, ELM_EINVAL,
                    "%s: tensor %s has shape %s, expected %s (architecture %s)", b->file, t->name,
                    got, want, b->m->hp.arch);
}

/* A matrix of e1 rows of e0 values, used in place. */
static int bind_matrix(const binder_t *b, const char *name, int need, int64_t e0, int64_t e1,
                       elm__weight_t *w)
{
    int rc;
    const elm_gguf_tensor_t *t = find(b, name, need, &rc);
    if (!t || need == ELM__NEED_NO) return rc;
    if (t->n_dims != 2 || t->ne[0] != e0 || t->ne[1] != e1) return shape_error(b, t, e0, e1);
    const elm_type_traits_t *tr = elm_traits(t->type);
    const elm_type_traits_t *vt = tr ? elm_traits(tr->vec_dot_type) : NULL;
    if (!tr || !tr->vec_dot || !vt || (tr->vec_dot_type != ELM_TYPE_F32 && !vt->from_float))
        return elm_diag(b->diag, ELM_ENOTSUP,
                        "%s: tensor %s has type %s, which the engine cannot multiply yet", b->file,
                        name, elm_type_info(t->type) ? elm_type_info(t->type)->name : "?");
    if (e0 % vt->blck_size)
        return elm_diag(b->diag, ELM_EINVAL,
                        "%s: tensor %s rows of %" PRId64 " values do not fill %s blocks of %u",
                        b->file, name, e0, vt->name, vt->blck_size);
    w->name = t->name;
    w->data = t->data;
    w->tr = tr;
    w->ne0 = e0;
    w->ne1 = e1;
    w->row_bytes = (size_t)(t->size / (uint64_t)e1);
    b->m->weight_bytes += t->size;
    return 0;
}

/* A vector of e0 values (e1 < 0), or a small table of e1 rows of e0 values (t5's bias), converted
 * to f32 (owned by the model). */
static int bind_f32(const binder_t *b, const char *name, int need, int64_t e0, int64_t e1,
                    elm__vec_t *v)
{
    int rc;
    const elm_gguf_tensor_t *t = find(b, name, need, &rc);
    if (!t || need == ELM__NEED_NO) return rc;
    if (t->n_dims != (e1 < 0 ? 1 : 2) || t->ne[0] != e0 || (e1 >= 0 && t->ne[1] != e1))
        return shape_error(b, t, e0, e1);
    const elm_type_traits_t *tr = elm_traits(t->type);
    const int64_t n = e1 < 0 ? e0 : e0 * e1;
    if (!tr || !tr->to_float || n % tr->blck_size)
        return elm_diag(b->diag, ELM_ENOTSUP, "%s: tensor %s has a type the engine cannot read",
                        b->file, name);
    v->v = malloc((size_t)n * sizeof(float));
    if (!v->v) return elm_diag(b->diag, ELM_ENOMEM, "%s: out of memory", b->file);
    tr->to_float(t->data, v->v, n);
    v->n = n;
    b->m->weight_bytes += t->size;
    return 0;
}

static int bind_vec(const binder_t *b, const char *name, int need, int64_t n, elm__vec_t *v)
{
    return bind_f32(b, name, need, n, -1, v);
}

/* A fused matrix of e0-value rows, made of n blocks of rows[i] rows one after the other (phi3's
 * attn_qkv, ffn_up): bound as one tensor, and each block becomes a matrix out[i] that views
 * its rows in place, so the products read the fused tensor with no copy. */
static int bind_fused(const binder_t *b, const char *name, int64_t e0, const int64_t *rows,
                      elm__weight_t *const *out, int n)
{
    elm__weight_t whole = {0};
    int64_t total = 0;
    for (int i = 0; i < n; i++)
        total += rows[i];
    int rc = bind_matrix(b, name, ELM__NEED_REQUIRED, e0, total, &whole);
    if (rc) return rc;
    int64_t r0 = 0;
    for (int i = 0; i < n; i++) {
        *out[i] = whole;
        out[i]->data = (const char *)whole.data + (size_t)r0 * whole.row_bytes;
        out[i]->ne1 = rows[i];
        r0 += rows[i];
    }
    return 0;
}

/* Stacks of layers: decoder-only models have one, "blk"; t5 an encoder and a decoder. */
typedef enum { STACK_ONLY, STACK_ENC, STACK_DEC } stack_t;

/* t5's parts of a layer: the bias table (block 0 must have one; later blocks reuse it unless
 * they have their own, as llama.cpp does), the decoder's cross-attention, and the gate its
 * gated-GELU FFN needs. */
static int bind_t5_parts(const binder_t *b, stack_t st, uint32_t il, const elm__layer_t *first,
                         elm__layer_t *L)
{
    const elm_hparams_t *hp = &b->m->hp;
    const char *pre = st == STACK_ENC ? "enc.blk" : "dec.blk";
    const int64_t embd = hp->n_embd, q_dim = (int64_t)hp->n_head * hp->head_dim;
    const int R = ELM__NEED_REQUIRED;
    char name[96];
    int rc;
    snprintf(name, sizeof name, "%s.%u.attn_rel_b.weight", pre, il);
    /* attn_rel_b: n_head values per bucket */
    if ((rc = bind_f32(b, name, il == 0 ? R : ELM__NEED_OPTIONAL, hp->n_head, hp->n_rel_buckets,
                       &L->rel_own)))
        return rc;
    L->rel_bias = L->rel_own.v ? L->rel_own.v : first->rel_own.v;
    if (!L->w_gate.data) {
        snprintf(name, sizeof name, "%s.%u.ffn_gate.weight", pre, il);
        return elm_diag(b->diag, ELM_ENOTSUP,
                        "%s: tensor %s is missing: T5 v1.0's ReLU feed-forward is not supported, "
                        "only the gated GELU of T5 v1.1 and Flan-T5",
                        b->file, name);
    }
    if (st != STACK_DEC) return 0;
    static const char *const fmt[] = {
        "dec.blk.%u.cross_attn_norm.weight", "dec.blk.%u.cross_attn_q.weight",
        "dec.blk.%u.cross_attn_k.weight", "dec.blk.%u.cross_attn_v.weight",
        "dec.blk.%u.cross_attn_o.weight"};
    char n[5][96];
    for (int i = 0; i < 5; i++)
        snprintf(n[i], sizeof n[i], fmt[i], il);
    if ((rc = bind_vec(b, n[0], R, embd, &L->cross_norm)) ||
        (rc = bind_matrix(b, n[1], R, embd, q_dim, &L->cq)) ||
        (rc = bind_matrix(b, n[2], R, embd, q_dim, &L->ck)) ||
        (rc = bind_matrix(b, n[3], R, embd, q_dim, &L->cv)) ||
        (rc = bind_matrix(b, n[4], R, q_dim, embd, &L->co)))
        return rc;
    return 0;
}

static int bind_layer(const binder_t *b, stack_t st, uint32_t il, const elm__layer_t *first,
                      elm__layer_t *L)
{
    const elm_hparams_t *hp = &b->m->hp;
    const int64_t embd = hp->n_embd, ff = hp->n_ff;
    const int64_t q_dim = (int64_t)hp->n_head * hp->head_dim;
    const int64_t kv_dim = (int64_t)hp->n_head_kv * hp->head_dim;
    const int bias = b->m->arch->qkv_bias;
    static const char *const fmt[] = {
        "%s.%u.attn_norm.weight", "%s.%u.attn_q.weight",  "%s.%u.attn_k.weight",
        "%s.%u.attn_v.weight",    "%s.%u.attn_%s.weight", "%s.%u.attn_q.bias",
        "%s.%u.attn_k.bias",      "%s.%u.attn_v.bias",    "%s.%u.ffn_norm.weight",
        "%s.%u.ffn_gate.weight",  "%s.%u.ffn_up.weight",  "%s.%u.ffn_down.weight"};
    const char *pre = st == STACK_ONLY ? "blk" : st == STACK_ENC ? "enc.blk" : "dec.blk";
    char n[sizeof fmt / sizeof fmt[0]][96];
    for (size_t i = 0; i < sizeof fmt / sizeof fmt[0]; i++)
        snprintf(n[i], sizeof n[i], fmt[i], pre, il, st == STACK_ONLY ? "output" : "o");
    const int R = ELM__NEED_REQUIRED;
    const elm__arch_t *a = b->m->arch;
    /* the separate tensors, or none where the fused ones take their place */
    const int qkv = a->fused_qkv ? ELM__NEED_NO : R, gu = a->fused_gate_up ? ELM__NEED_NO : R;
    /* t5's gate is required too, with its own message (bind_t5_parts) */
    const int gate = a->encdec ? ELM__NEED_OPTIONAL : gu;
    int rc;
    if ((rc = bind_vec(b, n[0], R, embd, &L->attn_norm)) ||
        (rc = bind_matrix(b, n[1], qkv, embd, q_dim, &L->wq)) ||
        (rc = bind_matrix(b, n[2], qkv, embd, kv_dim, &L->wk)) ||
        (rc = bind_matrix(b, n[3], qkv, embd, kv_dim, &L->wv)) ||
        (rc = bind_matrix(b, n[4], R, q_dim, embd, &L->wo)) ||
        (rc = bind_vec(b, n[5], bias, q_dim, &L->bq)) ||
        (rc = bind_vec(b, n[6], bias, kv_dim, &L->bk)) ||
        (rc = bind_vec(b, n[7], bias, kv_dim, &L->bv)) ||
        (rc = bind_vec(b, n[8], R, embd, &L->ffn_norm)) ||
        (rc = bind_matrix(b, n[9], gate, embd, ff, &L->w_gate)) ||
        (rc = bind_matrix(b, n[10], gu, embd, ff, &L->w_up)) ||
        (rc = bind_matrix(b, n[11], R, ff, embd, &L->w_down)))
        return rc;
    char name[64];
    if (a->fused_qkv) {
        snprintf(name, sizeof name, "blk.%u.attn_qkv.weight", il);
        const int64_t rows[] = {q_dim, kv_dim, kv_dim};
        elm__weight_t *const out[] = {&L->wq, &L->wk, &L->wv};
        if ((rc = bind_fused(b, name, embd, rows, out, 3))) return rc;
    }
    if (a->fused_gate_up) {
        const int64_t rows[] = {ff, ff};
        elm__weight_t *const out[] = {&L->w_gate, &L->w_up};
        if ((rc = bind_fused(b, n[10], embd, rows, out, 2))) return rc;
    }
    if (a->post_norms) {
        snprintf(name, sizeof name, "blk.%u.post_attention_norm.weight", il);
        if ((rc = bind_vec(b, name, R, embd, &L->post_attn_norm))) return rc;
        snprintf(name, sizeof name, "blk.%u.post_ffw_norm.weight", il);
        if ((rc = bind_vec(b, name, R, embd, &L->post_ffn_norm))) return rc;
    }
    L->n_swa = a->swa == ELM__SWA_ALL || (a->swa == ELM__SWA_EVEN && il % 2 == 0) ? hp->n_swa : 0;
    return st == STACK_ONLY ? 0 : bind_t5_parts(b, st, il, first, L);
}

/* The n_layer layers of one stack. */
static int bind_stack(const binder_t *b, stack_t st, elm__layer_t **out)
{
    const uint32_t n = b->m->hp.n_layer;
    elm__layer_t *ls = *out = calloc(n, sizeof *ls);
    if (!ls) return elm_diag(b->diag, ELM_ENOMEM, "%s: out of memory", b->file);
    int rc;
    for (uint32_t il = 0; il < n; il++)
        if ((rc = bind_layer(b, st, il, &ls[0], &ls[il]))) return rc;
    return 0;
}

static int bind_tensors(elm_model_t *m, const char *file, elm_diag_t *diag)
{
    elm_hparams_t *hp = &m->hp;
    const binder_t b = {m, file, diag};
    int rc;
    const elm_gguf_tensor_t *emb = find(&b, "token_embd.weight", ELM__NEED_REQUIRED, &rc);
    if (!emb) return rc;
    if (emb->n_dims != 2 || emb->ne[0] != hp->n_embd || emb->ne[1] < 1 || emb->ne[1] > INT32_MAX)
        return shape_error(&b, emb, hp->n_embd, emb->n_dims == 2 ? emb->ne[1] : 0);
    hp->n_vocab = (uint32_t)emb->ne[1];
    uint32_t key_vocab;
    char key[128];
    snprintf(key, sizeof key, "%s.vocab_size", hp->arch);
    if (elm_gguf_get_u32(m->g, key, &key_vocab) == 0 && key_vocab != hp->n_vocab)
        return elm_diag(diag, ELM_EINVAL,
                        "%s: %s is %" PRIu32 " but token_embd.weight has %" PRIu32
                        " rows (architecture %s)",
                        file, key, key_vocab, hp->n_vocab, hp->arch);
    /* The embedding is read a row at a time with to_float, so any type with one will do. */
    if ((rc = bind_matrix(&b, "token_embd.weight", ELM__NEED_REQUIRED, hp->n_embd, hp->n_vocab,
                          &m->tok_embd)))
        return rc;
    const bool encdec = m->arch->encdec;
    if ((rc = bind_vec(&b, encdec ? "dec.output_norm.weight" : "output_norm.weight",
                       ELM__NEED_REQUIRED, hp->n_embd, &m->output_norm)) ||
        (encdec && (rc = bind_vec(&b, "enc.output_norm.weight", ELM__NEED_REQUIRED, hp->n_embd,
                                  &m->enc_norm))))
        return rc;
    if ((rc = bind_matrix(&b, "output.weight", m->arch->output, hp->n_embd, hp->n_vocab,
                          &m->output)))
        return rc;
    hp->tied_output = m->output.data == NULL;
    if (hp->tied_output) m->output = m->tok_embd;
    if ((rc =
             bind_vec(&b, "rope_freqs.weight", m->arch->rope_freqs, hp->n_rot / 2, &m->rope_freqs)))
        return rc;
    hp->rope_freqs = m->rope_freqs.v != NULL;
    /* LongRoPE: both sets or neither, one value per rotated pair of a head, shared by layers */
    const int lr = m->arch->rope_factors;
    if ((rc = bind_vec(&b, "rope_factors_long.weight", lr, hp->head_dim / 2, &m->rope_long)) ||
        (rc = bind_vec(&b, "rope_factors_short.weight", m->rope_long.v ? ELM__NEED_REQUIRED : lr,
                       hp->head_dim / 2, &m->rope_short)))
        return rc;
    if (m->rope_short.v && !m->rope_long.v)
        return elm_diag(diag, ELM_ENOKEY,
                        "%s: tensor rope_factors_long.weight is missing while "
                        "rope_factors_short.weight is present (architecture %s)",
                        file, hp->arch);
    hp->rope_longrope = m->rope_long.v != NULL;
    if (encdec && (rc = bind_stack(&b, STACK_ENC, &m->enc_layers))) return rc;
    return bind_stack(&b, encdec ? STACK_DEC : STACK_ONLY, &m->layers);
}

/* ---- LongRoPE ---- */

const float *elm__rope_factors(const elm_model_t *m, uint32_t n_ctx)
{
    if (!m->hp.rope_longrope) return m->rope_freqs.v;
    return n_ctx > m->hp.n_ctx_orig ? m->rope_long.v : m->rope_short.v;
}

/* ---- panels ---- */

/* The model's matrices, each once (a tied output is the embedding's own struct until repacked). */
static size_t list_weights(elm_model_t *m, elm__weight_t **ws, size_t cap)
{
    size_t n = 0;
    if (m->output.data && n < cap) ws[n++] = &m->output;
    elm__layer_t *stacks[2] = {m->layers, m->enc_layers};
    for (int s = 0; s < 2; s++)
        for (uint32_t il = 0; stacks[s] && il < m->hp.n_layer; il++)
            for (size_t i = 0; i < ELM__LAYER_MATRICES; i++) {
                elm__weight_t *w = elm__layer_matrix(&stacks[s][il], i);
                if (w->data && n < cap) ws[n++] = w;
            }
    return n;
}

/* Drop the pages wholly inside [p, p + n) from the process (a mapping reads them from the file
 * again if touched; a copy is no longer needed once repacked). */
static void release(const void *p, size_t n)
{
    const long ps = sysconf(_SC_PAGESIZE);
    const size_t page = ps > 0 ? (size_t)ps : 4096;
    const uintptr_t a = ((uintptr_t)p + page - 1) / page * page,
                    e = ((uintptr_t)p + n) / page * page;
    if (e > a) (void)madvise((void *)a, e - a, MADV_DONTNEED);
}

/* Rows of a matrix packed as one piece of the work, after which their pages are released: small,
 * so that the peak memory is the model plus a piece per thread. */
#define PIECE_BYTES ((size_t)2 << 20)

/* Panels [k0, k1) of matrix w, into its panels at dst. */
typedef struct {
    elm__weight_t *w;
    char *dst;
    size_t k0, k1;
} piece_t;

static void pack_pieces(void *ctx, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const piece_t *pc = ctx;
    for (int64_t i = begin; i < end; i++) {
        const elm__weight_t *w = pc[i].w;
        const size_t rows = ELM__PANEL_ROWS * w->row_bytes;
        for (size_t k = pc[i].k0; k < pc[i].k1; k++)
            elm__panel_pack(w->panel, w->ne0, (const char *)w->data + k * rows, w->row_bytes,
                            pc[i].dst + k * w->panel_bytes);
        release((const char *)w->data + pc[i].k0 * rows, (pc[i].k1 - pc[i].k0) * rows);
    }
}

/* The CPUs to pack with (up to 8): the writes to fresh pages, which the kernel zeroes first, and
 * the repacking both scale with them. */
static int pack_threads(void)
{
    const long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    return ncpu < 1 ? 1 : ncpu > 8 ? 8 : (int)ncpu;
}

/* Panels of w per piece. */
static size_t piece_panels(const elm__weight_t *w)
{
    const size_t per = PIECE_BYTES / (ELM__PANEL_ROWS * w->row_bytes);
    return per ? per : 1;
}

static int by_address(const void *a, const void *b)
{
    const uintptr_t x = (uintptr_t)(*(elm__weight_t *const *)a)->data,
                    y = (uintptr_t)(*(elm__weight_t *const *)b)->data;
    return x < y ? -1 : x > y;
}

/* Release the file's copy of the repacked matrices again, as runs of neighbours: the pages that
 * straddle two pieces, or two matrices, which neither could release. Matrices less than the
 * file's alignment apart have no tensor between them. Sorts ws. */
static void release_runs(elm__weight_t **ws, size_t n, uint32_t align)
{
    qsort(ws, n, sizeof *ws, by_address);
    for (size_t i = 0; i < n;) {
        if (!ws[i]->panel) {
            i++;
            continue;
        }
        const char *start = ws[i]->data, *end = start + (size_t)ws[i]->ne1 * ws[i]->row_bytes;
        for (i++; i < n && ws[i]->panel && (const char *)ws[i]->data >= end &&
                  (size_t)((const char *)ws[i]->data - end) < align;
             i++)
            end = (const char *)ws[i]->data + (size_t)ws[i]->ne1 * ws[i]->row_bytes;
        release(start, (size_t)(end - start));
    }
}

/* Repack every matrix the CPU has panel kernels for (rows a multiple of 16) into panels, on every
 * CPU, and let the file's copy go piece by piece. */
static int repack(elm_model_t *m, const char *file, elm_diag_t *diag)
{
    const size_t cap = 1 + ELM__LAYER_MATRICES * 2 * (size_t)m->hp.n_layer;
    elm__weight_t **ws = malloc(cap * sizeof *ws);
    if (!ws) return elm_diag(diag, ELM_ENOMEM, "%s: out of memory", file);
    const size_t n = list_weights(m, ws, cap);
    size_t total = 0, n_pieces = 0;
    for (size_t i = 0; i < n; i++) {
        elm__weight_t *w = ws[i];
        const elm__panel_t *pk = elm__panel(w->tr->type);
        if (!pk || w->ne1 % ELM__PANEL_ROWS) continue;
        w->panel = pk;
        w->panel_bytes = elm__panel_bytes(pk, w->ne0);
        const size_t n_panels = (size_t)(w->ne1 / ELM__PANEL_ROWS);
        const size_t per = piece_panels(w);
        total += w->panel_bytes * n_panels;
        n_pieces += (n_panels + per - 1) / per;
    }
    piece_t *pc = total ? malloc(n_pieces * sizeof *pc) : NULL;
    if (total && (!pc || !(m->panels = elm_big_alloc(total)))) {
        for (size_t i = 0; i < n; i++)
            ws[i]->panel = NULL;
        free(pc);
        free(ws);
        return elm_diag(diag, ELM_ENOMEM,
                        "%s: out of memory for the repacked weights (%zu MiB); "
                        "EDGELM_NO_REPACK=1 uses them as they are in the file",
                        file, total >> 20);
    }
    m->panels_bytes = total;
    char *at = m->panels;
    size_t np = 0;
    for (size_t i = 0; i < n; i++) {
        elm__weight_t *w = ws[i];
        if (!w->panel) continue;
        const size_t n_panels = (size_t)(w->ne1 / ELM__PANEL_ROWS), per = piece_panels(w);
        for (size_t k = 0; k < n_panels; k += per)
            pc[np++] = (piece_t){w, at, k, k + per < n_panels ? k + per : n_panels};
        at += n_panels * w->panel_bytes;
    }
    if (np) {
        elm_pool_t *pool = NULL;
        (void)elm_pool_create(pack_threads(), &pool, NULL); /* NULL: packed on this thread */
        elm_pool_for(pool, (int64_t)np, 1, pack_pieces, pc);
        elm_pool_free(pool);
    }
    release_runs(ws, n, elm_gguf_alignment(m->g));
    /* the panels' last huge page past their end, which the first write to it brought in */
    if (total)
        release(m->panels + total, ELM_BIG_ALIGN - 1 - (total + ELM_BIG_ALIGN - 1) % ELM_BIG_ALIGN);
    for (size_t i = 0; i < np; i++)
        pc[i].w->data = pc[i].dst;
    if (m->hp.tied_output) m->tok_embd = m->output;
    free(pc);
    free(ws);
    return 0;
}

void elm__weight_row(const elm__weight_t *w, int64_t o, float *y)
{
    if (w->panel)
        elm__panel_row_to_float(w->panel, w->ne0,
                                (const char *)w->data +
                                    (size_t)(o / ELM__PANEL_ROWS) * w->panel_bytes,
                                (int)(o % ELM__PANEL_ROWS), y);
    else
        w->tr->to_float((const char *)w->data + (size_t)o * w->row_bytes, y, w->ne0);
}

/* ---- public ---- */

const elm_gguf_t *elm_model_gguf(const elm_model_t *m)
{
    return m->g;
}

int elm_model_from_gguf(const elm_gguf_t *g, elm_model_t **out, elm_diag_t *diag)
{
    *out = NULL;
    const char *file = elm_gguf_name(g);
    elm_model_t *m = calloc(1, sizeof *m);
    if (!m) return elm_diag(diag, ELM_ENOMEM, "%s: out of memory", file);
    m->g = g;
    int rc;
    elm_str_t arch;
    if (elm_gguf_get_str(g, "general.architecture", &arch) != 0) {
        rc = elm_diag(diag, ELM_ENOKEY,
                      "%s: key general.architecture is missing (not a model file?)", file);
        goto fail;
    }
    if (arch.len >= sizeof m->hp.arch || memchr(arch.ptr, '\0', arch.len)) {
        rc = elm_diag(diag, ELM_ENOTSUP, "%s: architecture name is too long or malformed", file);
        goto fail;
    }
    memcpy(m->hp.arch, arch.ptr, arch.len);
    m->arch = find_arch(m->hp.arch);
    if (!m->arch) {
        rc = elm_diag(diag, ELM_ENOTSUP, "%s: architecture '%s' is not supported (supported: %s)",
                      file, m->hp.arch, elm_engine_archs());
        goto fail;
    }
    if ((rc = read_hparams(m, file, diag)) || (rc = bind_tensors(m, file, diag))) goto fail;
    *out = m;
    return 0;
fail:
    elm_model_free(m);
    return rc;
}

elm_model_params_t elm_model_default_params(void)
{
    return (elm_model_params_t){.use_mmap = true};
}

int elm_model_load(const char *path, const elm_model_params_t *p, const elm_hooks_t *hooks,
                   elm_model_t **out, elm_diag_t *diag)
{
    *out = NULL;
    elm_model_params_t dp = elm_model_default_params();
    if (!p) p = &dp;
    if (hooks && hooks->on_load_start) hooks->on_load_start(hooks->user, elm_time_ns());
    elm_gguf_t *g = NULL;
    int rc = elm_gguf_open_as(path, p->use_mmap ? ELM_GGUF_MAP : ELM_GGUF_COPY, &g, diag);
    if (rc) return rc;
    if ((rc = elm_model_from_gguf(g, out, diag))) {
        elm_gguf_close(g);
        return rc;
    }
    (*out)->owned = g;
    if ((rc = repack(*out, elm_gguf_name(g), diag))) {
        elm_model_free(*out);
        *out = NULL;
        return rc;
    }
    if (hooks && hooks->on_load_done) hooks->on_load_done(hooks->user, elm_time_ns());
    return 0;
}

static void free_vec(elm__vec_t *v)
{
    free(v->v);
    v->v = NULL;
}

static void free_stack(elm__layer_t *ls, uint32_t n)
{
    for (uint32_t il = 0; ls && il < n; il++) {
        elm__layer_t *L = &ls[il];
        free_vec(&L->attn_norm);
        free_vec(&L->ffn_norm);
        free_vec(&L->bq);
        free_vec(&L->bk);
        free_vec(&L->bv);
        free_vec(&L->post_attn_norm);
        free_vec(&L->post_ffn_norm);
        free_vec(&L->rel_own);
        free_vec(&L->cross_norm);
    }
    free(ls);
}

void elm_model_free(elm_model_t *m)
{
    if (!m) return;
    free_stack(m->layers, m->hp.n_layer);
    free_stack(m->enc_layers, m->hp.n_layer);
    free_vec(&m->enc_norm);
    free_vec(&m->output_norm);
    free_vec(&m->rope_freqs);
    free_vec(&m->rope_long);
    free_vec(&m->rope_short);
    elm_gguf_close(m->owned);
    if (m->panels) elm_big_free(m->panels, m->panels_bytes);
    free(m);
}

const elm_hparams_t *elm_model_hparams(const elm_model_t *m)
{
    return &m->hp;
}

uint64_t elm_model_weight_bytes(const elm_model_t *m)
{
    return m->weight_bytes;
}
