/* Sessions: the KV caches and scratch of one or several sequences (conversations), and the
 * forward pass of the llama block over a batch of rows drawn from any of them (README §2.2 of
 * the reference data; gemma2's scales, soft-caps, window, post-norms and GELU, §7.2, are
 * branches of it): embedding, per layer RMSNorm,
 * Q/K/V (+ biases), RoPE, causal attention with GQA, output projection, SwiGLU FFN, and the
 * final norm and output matrix for the rows that want logits. Each layer is five pool loops:
 * Q/K/V as one (bias, RoPE and the cache store fused in), attention, the output projection
 * (residual add fused), gate/up as one (SiLU × up fused), and down (residual add fused). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "edgelm/ops.h"
#include "engine/engine_internal.h"

struct elm_session {
    const elm_model_t *m;
    elm_session_params_t p;
    elm_pool_t *pool;
    elm__kv_t *kv;     /* (n_seq) one cache of n_ctx positions per sequence */
    uint32_t *n_past;  /* (n_seq) positions each sequence holds */
    uint32_t *counter; /* (n_seq) scratch of a batch: next position, then rows of a pass */
    uint32_t n_seq, n_ctx;
    uint32_t q_dim, kv_dim;
    float *x;        /* (n_batch, n_embd) residual stream */
    float *xb;       /* (n_batch, n_embd) normed input / projection output */
    float *q;        /* (n_batch, q_dim) */
    float *k, *v;    /* (n_batch, kv_dim) */
    float *att_out;  /* (n_batch, q_dim) */
    float *hb;       /* (n_batch, n_ff) */
    float *up_tiles; /* the FFN's up, a tile per pool thread */
    size_t up_tile_floats;
    float *rope;                 /* (n_batch, n_rot) cos, sin pairs of each row's position */
    uint32_t *row_seq, *row_pos; /* (n_batch) sequence and position of each row of a segment */
    uint32_t *order;             /* (n_batch) a pass's rows (batch indices), segment by segment */
    elm__attn_t *attn;           /* (n_batch) the attention blocks of a segment's rows */
    void *att;                   /* (pool threads, elm__attn_scratch) attention scratch */
    void *qbuf;                  /* activations converted for a matrix product */
    int nt_batch;                /* threads for batches of more than one token */
    float *logits;               /* (logits_cap, n_vocab) */
    uint32_t logits_cap, n_logits;
    int32_t *slot; /* (n_rows) the logits row of each row of the last batch; -1: none */
    uint32_t slot_cap, n_rows;
    elm_batch_row_t *rows; /* (rows_cap) elm_session_decode's tokens as rows of sequence 0 */
    uint32_t rows_cap;
    const float *rope_factors; /* (n_rot/2) the model's, chosen for n_ctx; NULL: none */
    /* encoder-decoder models: the encoder input of a sequence is at most n_ctx tokens, run in
     * one pass, so the row buffers above hold max(n_batch, n_ctx) rows */
    elm__kv_t *cross;   /* (n_seq) cross-attention keys and values of every decoder layer */
    uint32_t *n_enc;    /* (n_seq) encoder positions each sequence holds; 0: no input */
    elm__kv_t enc;      /* one layer's keys and values inside the encoder pass */
    uint32_t n_enc_out; /* rows of the last encoder output (in xb); 0: none */
    uint8_t *buckets;   /* the two bucket tables below */
    /* buckets of the encoder and the decoder, indexed by key − query position d, |d| < n_ctx */
    const uint8_t *bucket_enc, *bucket_dec;
};

elm_session_params_t elm_session_default_params(void)
{
    return (elm_session_params_t){
        .n_ctx = 0, .n_batch = 512, .n_threads = 1, .kv_type = ELM_TYPE_F16, .n_seq = 1};
}

/* ---- creation ---- */

/* The most scratch any product of a layer of ls (n of them) needs, or best if more. */
static size_t stack_scratch(const elm__layer_t *ls, uint32_t n, int64_t n_rows, int64_t n_solo,
                            size_t best)
{
    for (uint32_t il = 0; ls && il < n; il++) {
        const elm__weight_t *ws[ELM__LAYER_MATRICES];
        size_t n_ws = 0;
        for (size_t i = 0; i < ELM__LAYER_MATRICES; i++) {
            const elm__weight_t *w = elm__layer_matrix(&ls[il], i);
            if (w->data) ws[n_ws++] = w;
        }
        size_t s = elm__matmul_scratch(ws, n_ws, n_rows, n_solo);
        if (s > best) best = s;
    }
    return best;
}

static size_t max_scratch(const elm_model_t *m, int64_t n_rows, int64_t n_solo)
{
    const elm__weight_t *out = &m->output;
    size_t best = elm__matmul_scratch(&out, 1, n_rows, n_solo);
    best = stack_scratch(m->layers, m->hp.n_layer, n_rows, n_solo, best);
    return stack_scratch(m->enc_layers, m->hp.n_layer, n_rows, n_solo, best);
}

/* The encoder's bidirectional and the decoder's causal bucket of every distance in the
 * context, as bytes centred on distance 0. */
static int bucket_tables(elm_session_t *s, elm_diag_t *diag)
{
    const uint32_t n = s->n_ctx, nb = s->m->hp.n_rel_buckets;
    const size_t span = 2 * (size_t)n - 1;
    s->buckets = malloc(2 * span);
    if (!s->buckets) return elm_diag(diag, ELM_ENOMEM, "session: out of memory");
    for (size_t i = 0; i < span; i++) {
        const int32_t d = (int32_t)i - (int32_t)(n - 1);
        s->buckets[i] = (uint8_t)elm__t5_bucket(d, true, nb);
        s->buckets[span + i] = (uint8_t)elm__t5_bucket(d, false, nb);
    }
    s->bucket_enc = s->buckets + (n - 1);
    s->bucket_dec = s->buckets + span + (n - 1);
    return 0;
}

/* An encoder-decoder model's parts of a session: cross caches, the encoder's layer cache and
 * the bucket tables. */
static int encdec_init(elm_session_t *s, elm_diag_t *diag)
{
    const elm_hparams_t *hp = &s->m->hp;
    s->cross = calloc(s->n_seq, sizeof *s->cross);
    s->n_enc = calloc(s->n_seq, sizeof *s->n_enc);
    if (!s->cross || !s->n_enc) return elm_diag(diag, ELM_ENOMEM, "session: out of memory");
    int rc;
    for (uint32_t q = 0; q < s->n_seq; q++)
        if ((rc = elm__kv_init(&s->cross[q], s->p.kv_type, hp->n_layer, s->n_ctx, s->q_dim, diag)))
            return rc;
    if ((rc = elm__kv_init(&s->enc, s->p.kv_type, 1, s->n_ctx, s->kv_dim, diag))) return rc;
    return bucket_tables(s, diag);
}

int elm_session_create(const elm_model_t *m, const elm_session_params_t *p, elm_session_t **out,
                       elm_diag_t *diag)
{
    *out = NULL;
    const elm_hparams_t *hp = &m->hp;
    elm_session_params_t sp = p ? *p : elm_session_default_params();
    if (sp.n_batch == 0)
        return elm_diag(diag, ELM_EINVAL, "session: batch size must be at least 1");
    if (sp.n_seq == 0) sp.n_seq = 1;
    if (sp.n_seq > ELM_SESSION_MAX_SEQ)
        return elm_diag(diag, ELM_ERANGE, "session: sequence count %u is out of range (1..%d)",
                        sp.n_seq, ELM_SESSION_MAX_SEQ);
    if (sp.n_threads < 1 || sp.n_threads > ELM_POOL_MAX_THREADS)
        return elm_diag(diag, ELM_ERANGE, "session: thread count %d is out of range (1..%d)",
                        sp.n_threads, ELM_POOL_MAX_THREADS);
    if (sp.n_threads_batch < 0 || sp.n_threads_batch > ELM_POOL_MAX_THREADS)
        return elm_diag(diag, ELM_ERANGE,
                        "session: batch thread count %d is out of range (1..%d, or 0 for the "
                        "generation thread count)",
                        sp.n_threads_batch, ELM_POOL_MAX_THREADS);
    if (sp.n_ctx == 0) sp.n_ctx = hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096;
    if (sp.n_ctx > hp->n_ctx_train)
        elm_log(ELM_LOG_WARN,
                "context of %u tokens is above the %u the model was trained with: expect worse "
                "output past %u",
                sp.n_ctx, hp->n_ctx_train, hp->n_ctx_train);
    if (sp.n_batch > sp.n_ctx) sp.n_batch = sp.n_ctx;

    elm_session_t *s = calloc(1, sizeof *s);
    if (!s) return elm_diag(diag, ELM_ENOMEM, "session: out of memory");
    s->m = m;
    s->p = sp;
    s->n_ctx = sp.n_ctx;
    s->n_seq = sp.n_seq;
    /* every sequence holds n_ctx positions: llama.cpp's n_ctx / n_seq_max */
    s->rope_factors = elm__rope_factors(m, s->n_ctx);
    s->q_dim = hp->n_head * hp->head_dim;
    s->kv_dim = hp->n_head_kv * hp->head_dim;
    int rc;
    s->nt_batch = sp.n_threads_batch ? sp.n_threads_batch : sp.n_threads;
    const int n_pool = sp.n_threads > s->nt_batch ? sp.n_threads : s->nt_batch;
    s->kv = calloc(sp.n_seq, sizeof *s->kv);
    s->n_past = calloc(sp.n_seq, sizeof *s->n_past);
    s->counter = calloc(sp.n_seq, sizeof *s->counter);
    if (!s->kv || !s->n_past || !s->counter) {
        rc = elm_diag(diag, ELM_ENOMEM, "session: out of memory");
        goto fail;
    }
    for (uint32_t q = 0; q < sp.n_seq; q++)
        if ((rc = elm__kv_init(&s->kv[q], sp.kv_type, hp->n_layer, s->n_ctx, s->kv_dim, diag)))
            goto fail;
    if (n_pool > 1 && (rc = elm_pool_create(n_pool, &s->pool, diag))) goto fail;
    if (hp->has_encoder && (rc = encdec_init(s, diag))) goto fail;
    const size_t B = hp->has_encoder && s->n_ctx > sp.n_batch ? s->n_ctx : sp.n_batch;
    s->x = malloc(B * hp->n_embd * sizeof(float));
    s->xb = malloc(B * hp->n_embd * sizeof(float));
    s->q = malloc(B * s->q_dim * sizeof(float));
    s->k = malloc(B * s->kv_dim * sizeof(float));
    s->v = malloc(B * s->kv_dim * sizeof(float));
    s->att_out = malloc(B * s->q_dim * sizeof(float));
    s->hb = malloc(B * hp->n_ff * sizeof(float));
    const int64_t n_solo = sp.n_seq < B ? (int64_t)sp.n_seq : (int64_t)B;
    s->up_tile_floats = elm__matmul_tile_floats(1, n_solo);
    s->up_tiles = malloc((size_t)n_pool * s->up_tile_floats * sizeof(float));
    s->rope = malloc(B * hp->n_rot * sizeof(float));
    s->row_seq = malloc(B * sizeof *s->row_seq);
    s->row_pos = malloc(B * sizeof *s->row_pos);
    s->order = malloc(B * sizeof *s->order);
    s->attn = malloc(B * sizeof *s->attn);
    s->att = malloc((size_t)n_pool * elm__attn_scratch(s->n_ctx, hp->head_dim, hp->n_head,
                                                       hp->n_head_kv, s->kv[0].esize));
    /* the decode rows of a pass are of distinct sequences: at most n_seq of them */
    s->qbuf = malloc(max_scratch(m, (int64_t)B, n_solo) + 1);
    if (!s->x || !s->xb || !s->q || !s->k || !s->v || !s->att_out || !s->hb || !s->up_tiles ||
        !s->rope || !s->row_seq || !s->row_pos || !s->order || !s->attn || !s->att || !s->qbuf) {
        rc = elm_diag(diag, ELM_ENOMEM, "session: cannot allocate scratch for batches of %u tokens",
                      sp.n_batch);
        goto fail;
    }
    *out = s;
    return 0;
fail:
    elm_session_free(s);
    return rc;
}

void elm_session_free(elm_session_t *s)
{
    if (!s) return;
    for (uint32_t q = 0; s->kv && q < s->n_seq; q++)
        elm__kv_free(&s->kv[q]);
    for (uint32_t q = 0; s->cross && q < s->n_seq; q++)
        elm__kv_free(&s->cross[q]);
    free(s->kv);
    free(s->cross);
    free(s->n_enc);
    elm__kv_free(&s->enc);
    free(s->buckets);
    free(s->n_past);
    free(s->counter);
    free(s->row_seq);
    free(s->row_pos);
    free(s->order);
    free(s->attn);
    free(s->slot);
    free(s->rows);
    elm_pool_free(s->pool);
    free(s->x);
    free(s->xb);
    free(s->q);
    free(s->k);
    free(s->v);
    free(s->att_out);
    free(s->hb);
    free(s->up_tiles);
    free(s->rope);
    free(s->att);
    free(s->qbuf);
    free(s->logits);
    free(s);
}

uint32_t elm_session_n_ctx(const elm_session_t *s)
{
    return s->n_ctx;
}
uint32_t elm_session_n_seq(const elm_session_t *s)
{
    return s->n_seq;
}
uint32_t elm_session_n_past(const elm_session_t *s)
{
    return s->n_past[0];
}
uint32_t elm_session_seq_len(const elm_session_t *s, uint32_t seq)
{
    return seq < s->n_seq ? s->n_past[seq] : 0;
}
const elm_model_t *elm_session_model(const elm_session_t *s)
{
    return s->m;
}
uint64_t elm__session_dispatches(const elm_session_t *s)
{
    return elm_pool_dispatches(s->pool);
}

uint32_t elm_session_n_logits(const elm_session_t *s)
{
    return s->n_logits;
}

const float *elm_session_logits(const elm_session_t *s, uint32_t i)
{
    if (i >= s->n_logits) return NULL;
    return s->logits + (size_t)i * s->m->hp.n_vocab;
}

const float *elm_session_batch_logits(const elm_session_t *s, uint32_t row)
{
    if (row >= s->n_rows || s->slot[row] < 0) return NULL;
    return elm_session_logits(s, (uint32_t)s->slot[row]);
}

int elm_session_seq_truncate(elm_session_t *s, uint32_t seq, uint32_t n_past)
{
    if (seq >= s->n_seq) return ELM_EINVAL;
    if (n_past > s->n_past[seq]) return ELM_ERANGE;
    s->n_past[seq] = n_past;
    return 0;
}

void elm_session_seq_reset(elm_session_t *s, uint32_t seq)
{
    if (seq >= s->n_seq) return;
    s->n_past[seq] = 0;
    if (s->n_enc) s->n_enc[seq] = 0;
}

uint32_t elm_session_seq_enc_len(const elm_session_t *s, uint32_t seq)
{
    return s->n_enc && seq < s->n_seq ? s->n_enc[seq] : 0;
}

const float *elm_session_enc_output(const elm_session_t *s)
{
    return s->n_enc_out ? s->xb : NULL;
}

int elm_session_truncate(elm_session_t *s, uint32_t n_past)
{
    return elm_session_seq_truncate(s, 0, n_past);
}

void elm_session_reset(elm_session_t *s)
{
    elm_session_seq_reset(s, 0);
    s->n_logits = 0;
    s->n_rows = 0;
}

/* ---- layer pieces ---- */

/* cos (cs[i]) and sin (cs[n_rot/2 + i]) of every rotated pair i at position pos, computed as
 * ggml's rope cache does: θ_i = pos · base^(−2i/n_rot) / f_i, with the power built up by
 * repeated multiplication, both times the attention factor (ggml's mscale; 1 but for phi3). */
static void rope_table(float *cs, uint32_t pos, const elm_hparams_t *hp, const float *freqs)
{
    const float theta_scale = powf(hp->rope_base, -2.0f / (float)hp->n_rot);
    const float mscale = hp->rope_attn_factor;
    const uint32_t half = hp->n_rot / 2;
    float theta = (float)pos;
    for (uint32_t i = 0; i < half; i++) {
        const float t = freqs ? theta / freqs[i] : theta;
        cs[i] = cosf(t) * mscale;
        cs[half + i] = sinf(t) * mscale;
        theta *= theta_scale;
    }
}

/* ---- fused epilogues ----
 * What follows each tile of a product, run by the thread that computed it. */

typedef struct {
    elm_session_t *s;
    const elm__layer_t *L;
    uint32_t layer;
    elm__kv_t *kv; /* where K and V go; NULL: the cache of each row's sequence */
    int which0;    /* the group's first product: 0 for Q, K, V; 1 for K, V alone */
} qkv_ctx_t;

/* Q, K and V tiles (whole heads): bias, RoPE on Q and K, K and V into the cache of each row's
 * sequence at its position. */
static void qkv_epilogue(void *ctx, int which, int64_t r0, int64_t r1, int64_t o0, int64_t o1,
                         const float *tile)
{
    (void)tile;
    const qkv_ctx_t *c = ctx;
    elm_session_t *s = c->s;
    const elm_hparams_t *hp = &s->m->hp;
    which += c->which0;
    const elm__vec_t *bias = which == 0 ? &c->L->bq : which == 1 ? &c->L->bk : &c->L->bv;
    float *base = which == 0 ? s->q : which == 1 ? s->k : s->v;
    const size_t dim = which == 0 ? s->q_dim : s->kv_dim;
    const uint32_t n = (uint32_t)(o1 - o0), off = (uint32_t)o0;
    const bool rope = !s->m->arch->encdec;
    for (int64_t r = r0; r < r1; r++) {
        float *y = base + (size_t)r * dim + o0;
        const uint32_t pos = s->row_pos[r];
        elm__kv_t *kv = c->kv ? c->kv : &s->kv[s->row_seq[r]];
        if (bias->v) elm_ops()->add(y, bias->v + o0, n);
        if (which < 2 && rope)
            elm_ops()->rope(y, n / hp->head_dim, hp->head_dim, hp->n_rot,
                            s->rope + (size_t)r * hp->n_rot, hp->rope_neox);
        if (which == 0 && s->m->q_scale) elm_ops()->scale(y, y, s->m->q_scale, n);
        if (which == 1) elm__kv_store_k(kv, c->layer, pos, off, y, n);
        if (which == 2) elm__kv_store_v(kv, c->layer, pos, off, y, n);
    }
}

typedef struct {
    float *x, *y; /* (rows, ld) */
    size_t ld;
    void (*glu)(float *g, const float *u, int64_t n); /* the gated FFN's op: SwiGLU or GELU */
} rows_ctx_t;

/* x += y over the tile: the residual add after the output and down projections. */
static void residual_epilogue(void *ctx, int which, int64_t r0, int64_t r1, int64_t o0, int64_t o1,
                              const float *tile)
{
    (void)tile;
    (void)which;
    const rows_ctx_t *c = ctx;
    for (int64_t r = r0; r < r1; r++)
        elm_ops()->add(c->x + r * c->ld + o0, c->y + r * c->ld + o0, o1 - o0);
}

/* x = act(x) × up over the tile (SiLU, or gemma2's GELU): gate and up, computed by the same
 * task, up in the tile's buffer. */
static void glu_epilogue(void *ctx, int which, int64_t r0, int64_t r1, int64_t o0, int64_t o1,
                         const float *tile)
{
    (void)which;
    const rows_ctx_t *c = ctx;
    for (int64_t r = r0; r < r1; r++)
        c->glu(c->x + r * c->ld + o0, tile + (r - r0) * (o1 - o0), o1 - o0);
}

/* x += rmsnorm(y) · w for n rows of E values: gemma2's post-norms, which need whole rows of the
 * product, so they follow it instead of being an epilogue. */
static void post_norm_add(float *x, float *y, const elm__vec_t *w, uint32_t n, uint32_t E,
                          float eps)
{
    const elm_ops_t *ops = elm_ops();
    for (uint32_t r = 0; r < n; r++) {
        ops->rmsnorm(y + (size_t)r * E, y + (size_t)r * E, w->v, E, eps);
        ops->add(x + (size_t)r * E, y + (size_t)r * E, E);
    }
}

/* ---- forward pass ---- */

/* The attention blocks of rows r0..n-1 of a segment, filled from t: one block per row when
 * solo (each over its own sequence), else one for the chunk; caches[q] is sequence q's cache
 * and n_keys[q], when given, the keys every row of it sees. Returns the count. */
static uint32_t attn_blocks(elm_session_t *s, elm__kv_t *caches, const uint32_t *n_keys,
                            uint32_t r0, uint32_t n, bool solo, const elm__attn_t *t)
{
    uint32_t n_at = 0;
    for (uint32_t a0 = r0; a0 < n; a0 = solo ? a0 + 1 : n) {
        const uint32_t q = s->row_seq[a0];
        elm__attn_t *a = &s->attn[n_at++];
        *a = *t;
        a->kv = &caches[q];
        a->q = t->q + (size_t)a0 * t->q_stride;
        a->out = t->out + (size_t)a0 * t->out_stride;
        a->n_rows = solo ? 1 : n - a0;
        a->pos0 = s->row_pos[a0];
        a->n_keys = n_keys ? n_keys[q] : 0;
    }
    return n_at;
}

/* The template of a layer's self-attention blocks over q and att_out. */
static elm__attn_t self_attn(const elm_session_t *s, const elm__layer_t *L, uint32_t layer,
                             const uint8_t *bucket)
{
    const elm_hparams_t *hp = &s->m->hp;
    return (elm__attn_t){.layer = layer,
                         .q = s->q,
                         .q_stride = s->q_dim,
                         .out = s->att_out,
                         .out_stride = s->q_dim,
                         .n_head = hp->n_head,
                         .n_head_kv = hp->n_head_kv,
                         .head_dim = hp->head_dim,
                         .scale = s->m->attn_scale,
                         .softcap = hp->attn_softcap,
                         .window = L->n_swa,
                         .bias = L->rel_bias,
                         .bucket = bucket};
}

/* x += a · wᵀ over nr rows (the output projection of an attention, or the FFN's down), through a
 * post-norm when there is one. */
static void project_add(elm_session_t *s, const elm__weight_t *wo, const elm__vec_t *post_norm,
                        float *x, float *xb, const float *att, uint32_t nr, bool solo, int nt)
{
    const elm_hparams_t *hp = &s->m->hp;
    const uint32_t E = hp->n_embd;
    rows_ctx_t res = {x, xb, E, NULL};
    /* with post-norms (gemma2) the residual add waits for whole rows */
    const elm__mm_group_t g = {.out = {{wo, xb, E}},
                               .n_out = 1,
                               .align = 1,
                               .solo_rows = solo,
                               .epilogue = post_norm->v ? NULL : residual_epilogue,
                               .ctx = &res};
    elm__matmul_group(s->pool, nt, &g, att, nr, s->qbuf);
    if (post_norm->v) post_norm_add(x, xb, post_norm, nr, E, hp->rms_eps);
}

/* x += FFN(norm(x)) over nr rows: the gated FFN (SwiGLU, or GELU for gemma2 and t5). */
static void ffn_block(elm_session_t *s, const elm__layer_t *L, float *x, float *xb, uint32_t nr,
                      bool solo, int nt)
{
    const elm_model_t *m = s->m;
    const elm_hparams_t *hp = &m->hp;
    const elm_ops_t *ops = elm_ops();
    const uint32_t E = hp->n_embd, F = hp->n_ff;
    for (uint32_t r = 0; r < nr; r++)
        ops->rmsnorm(xb + (size_t)r * E, x + (size_t)r * E, L->ffn_norm.v, E, hp->rms_eps);
    rows_ctx_t glu = {s->hb, NULL, F, m->arch->gelu ? ops->gelu_mul : ops->silu_mul};
    if (solo && 2 * (size_t)nr <= s->p.n_batch) {
        /* Decode rows: gate, then up into hb's spare rows, then the GLU over whole rows. Read in
         * turn, a panel of each, the two matrices streamed a tenth slower; and gemma2's GELU
         * table, read between the weights' lines, lost as much again. */
        float *up = s->hb + (size_t)nr * F;
        const elm__mm_group_t g = {.out = {{&L->w_gate, s->hb, F}, {&L->w_up, up, F}},
                                   .n_out = 2,
                                   .align = 1,
                                   .solo_rows = true};
        elm__matmul_group(s->pool, nt, &g, xb, nr, s->qbuf);
        glu_epilogue(&glu, 0, 0, nr, 0, F, up);
    } else {
        const elm__mm_group_t gate_up = {
            .out = {{&L->w_gate, s->hb, F}, {&L->w_up, s->up_tiles, s->up_tile_floats, true}},
            .n_out = 2,
            .paired = true,
            .align = 1,
            .solo_rows = solo,
            .epilogue = glu_epilogue,
            .ctx = &glu};
        elm__matmul_group(s->pool, nt, &gate_up, xb, nr, s->qbuf);
    }
    project_add(s, &L->w_down, &L->post_ffn_norm, x, xb, s->hb, nr, solo, nt);
}

/* The normed rows of x into xb, and their Q, K and V: K and V into kv (NULL: each row's own
 * sequence's cache) at layer. */
static void qkv_block(elm_session_t *s, const elm__layer_t *L, uint32_t layer, elm__kv_t *kv,
                      uint32_t n, bool solo, int nt)
{
    const elm_hparams_t *hp = &s->m->hp;
    const uint32_t E = hp->n_embd;
    for (uint32_t r = 0; r < n; r++)
        elm_ops()->rmsnorm(s->xb + (size_t)r * E, s->x + (size_t)r * E, L->attn_norm.v, E,
                           hp->rms_eps);
    qkv_ctx_t qc = {s, L, layer, kv, 0};
    const elm__mm_group_t qkv = {
        .out = {{&L->wq, s->q, s->q_dim}, {&L->wk, s->k, s->kv_dim}, {&L->wv, s->v, s->kv_dim}},
        .n_out = 3,
        .align = hp->head_dim,
        .solo_rows = solo,
        .epilogue = qkv_epilogue,
        .ctx = &qc};
    elm__matmul_group(s->pool, nt, &qkv, s->xb, n, s->qbuf);
}

/* t5's cross-attention of rows r0..n-1 over their sequences' encoder outputs:
 * x += co · attention(cq · norm(x), cross keys and values), no bias, no mask, no scaling. */
static void cross_attn(elm_session_t *s, const elm__layer_t *L, uint32_t layer, uint32_t r0,
                       uint32_t n, bool solo, int nt)
{
    const elm_hparams_t *hp = &s->m->hp;
    const uint32_t E = hp->n_embd, nr = n - r0;
    float *x = s->x + (size_t)r0 * E, *xb = s->xb + (size_t)r0 * E;
    for (uint32_t r = 0; r < nr; r++)
        elm_ops()->rmsnorm(xb + (size_t)r * E, x + (size_t)r * E, L->cross_norm.v, E, hp->rms_eps);
    const elm__mm_group_t cq = {.out = {{&L->cq, s->q + (size_t)r0 * s->q_dim, s->q_dim}},
                                .n_out = 1,
                                .align = 1,
                                .solo_rows = solo};
    elm__matmul_group(s->pool, nt, &cq, xb, nr, s->qbuf);
    elm__attn_t t = self_attn(s, L, layer, NULL);
    t.bias = NULL;
    const uint32_t n_at = attn_blocks(s, s->cross, s->n_enc, r0, n, solo, &t);
    elm__attention(s->pool, nt, s->attn, n_at, s->att);
    static const elm__vec_t no_norm = {0};
    project_add(s, &L->co, &no_norm, x, xb, s->att_out + (size_t)r0 * s->q_dim, nr, solo, nt);
}

/* Evaluate one segment of a pass: the n (<= n_batch) rows rows[idx[0..n)], either consecutive
 * positions of one sequence (a prompt chunk) or, solo, rows of distinct sequences (one decode
 * token each, every row computed as if alone), and store their keys and values in their
 * sequences' caches. The logits of the rows that ask for them go to out, one after the other.
 * For t5 this is the decoder. */
static void forward(elm_session_t *s, const elm_batch_row_t *rows, const uint32_t *idx, uint32_t n,
                    bool solo, float *out)
{
    const elm_model_t *m = s->m;
    const elm_hparams_t *hp = &m->hp;
    const elm_ops_t *ops = elm_ops();
    const uint32_t E = hp->n_embd;
    const int nt = n > 1 ? s->nt_batch : s->p.n_threads;
    uint32_t first = n; /* the first row that wants logits */

    for (uint32_t r = 0; r < n; r++) {
        const elm_batch_row_t *row = &rows[idx[r]];
        elm__weight_row(&m->tok_embd, row->token, s->x + (size_t)r * E);
        if (m->embd_scale) ops->scale(s->x + (size_t)r * E, s->x + (size_t)r * E, m->embd_scale, E);
        s->row_seq[r] = row->seq;
        s->row_pos[r] = row->pos;
        if (!m->arch->encdec)
            rope_table(s->rope + (size_t)r * hp->n_rot, row->pos, hp, s->rope_factors);
        if (row->logits && first == n) first = r;
    }
    s->n_enc_out = 0; /* xb is overwritten */

    for (uint32_t il = 0; il < hp->n_layer; il++) {
        const elm__layer_t *L = &m->layers[il];
        /* The last layer only needs the rows that produce logits once K and V are cached. */
        const uint32_t r0 = il + 1 == hp->n_layer ? first : 0, nr = n - r0;
        qkv_block(s, L, il, NULL, n, solo, nt);
        const elm__attn_t t = self_attn(s, L, il, s->bucket_dec);
        elm__attention(s->pool, nt, s->attn, attn_blocks(s, s->kv, NULL, r0, n, solo, &t), s->att);
        float *x = s->x + (size_t)r0 * E, *xb = s->xb + (size_t)r0 * E;
        project_add(s, &L->wo, &L->post_attn_norm, x, xb, s->att_out + (size_t)r0 * s->q_dim, nr,
                    solo, nt);
        if (L->co.data) cross_attn(s, L, il, r0, n, solo, nt);
        ffn_block(s, L, x, xb, nr, solo, nt);
    }

    /* The rows that want logits, normed and packed from row first on. */
    uint32_t n_out = 0;
    for (uint32_t r = first; r < n; r++) {
        if (!rows[idx[r]].logits) continue;
        ops->rmsnorm(s->xb + (size_t)(first + n_out) * E, s->x + (size_t)r * E, m->output_norm.v, E,
                     hp->rms_eps);
        n_out++;
    }
    const elm__mm_group_t output = {
        .out = {{&m->output, out, hp->n_vocab}}, .n_out = 1, .align = 1, .solo_rows = solo};
    elm__matmul_group(s->pool, nt, &output, s->xb + (size_t)first * E, n_out, s->qbuf);
    if (hp->final_softcap)
        for (uint32_t r = 0; r < n_out; r++)
            ops->softcap(out + (size_t)r * hp->n_vocab, hp->n_vocab, hp->final_softcap);
}

/* t5's encoder over n tokens of sequence seq in one pass (README §6.3): bidirectional
 * self-attention with the encoder's bucket bias, the gated-GELU FFN, the final norm into xb;
 * then each decoder layer's cross-attention keys and values from that output into the
 * sequence's cross cache. */
static void encode(elm_session_t *s, uint32_t seq, const int32_t *tokens, uint32_t n)
{
    const elm_model_t *m = s->m;
    const elm_hparams_t *hp = &m->hp;
    const uint32_t E = hp->n_embd;
    const int nt = n > 1 ? s->nt_batch : s->p.n_threads;
    for (uint32_t r = 0; r < n; r++) {
        elm__weight_row(&m->tok_embd, tokens[r], s->x + (size_t)r * E);
        s->row_seq[r] = seq;
        s->row_pos[r] = r;
    }
    for (uint32_t il = 0; il < hp->n_layer; il++) {
        const elm__layer_t *L = &m->enc_layers[il];
        qkv_block(s, L, 0, &s->enc, n, false, nt);
        elm__attn_t t = self_attn(s, L, 0, s->bucket_enc);
        t.kv = &s->enc;
        t.n_rows = n;
        t.n_keys = n;
        elm__attention(s->pool, nt, &t, 1, s->att);
        project_add(s, &L->wo, &L->post_attn_norm, s->x, s->xb, s->att_out, n, false, nt);
        ffn_block(s, L, s->x, s->xb, n, false, nt);
    }
    for (uint32_t r = 0; r < n; r++)
        elm_ops()->rmsnorm(s->xb + (size_t)r * E, s->x + (size_t)r * E, m->enc_norm.v, E,
                           hp->rms_eps);
    for (uint32_t il = 0; il < hp->n_layer; il++) {
        const elm__layer_t *L = &m->layers[il];
        qkv_ctx_t qc = {s, L, il, &s->cross[seq], 1};
        const elm__mm_group_t kv = {.out = {{&L->ck, s->k, s->kv_dim}, {&L->cv, s->v, s->kv_dim}},
                                    .n_out = 2,
                                    .align = hp->head_dim,
                                    .epilogue = qkv_epilogue,
                                    .ctx = &qc};
        elm__matmul_group(s->pool, nt, &kv, s->xb, n, s->qbuf);
    }
    s->n_enc[seq] = n;
    s->n_enc_out = n;
}

/* Make room for the logits of n_logits rows and the slots of n rows. */
static int reserve(elm_session_t *s, uint32_t n_logits, uint32_t n, elm_diag_t *diag)
{
    const uint32_t nv = s->m->hp.n_vocab;
    if (n_logits > s->logits_cap) {
        float *l = realloc(s->logits, (size_t)n_logits * nv * sizeof(float));
        if (!l)
            return elm_diag(diag, ELM_ENOMEM, "decode: cannot allocate logits for %u rows",
                            n_logits);
        s->logits = l;
        s->logits_cap = n_logits;
    }
    if (n > s->slot_cap) {
        int32_t *sl = realloc(s->slot, (size_t)n * sizeof *sl);
        if (!sl) return elm_diag(diag, ELM_ENOMEM, "decode: cannot allocate %u rows", n);
        s->slot = sl;
        s->slot_cap = n;
    }
    return 0;
}

/* Run n valid rows (reserve done) in passes of at most n_batch rows. A pass is cut into
 * segments, each a forward of its own: first the rows that are their sequence's only row in the
 * pass (decode tokens, solo), then the rows of each other sequence as one chunk. So a
 * sequence's numbers depend only on its own rows, never on what else the pass holds. */
static void run_rows(elm_session_t *s, const elm_batch_row_t *rows, uint32_t n)
{
    const uint32_t nv = s->m->hp.n_vocab;
    uint32_t *cnt = s->counter;
    s->n_logits = 0;
    s->n_rows = n;
    for (uint32_t done = 0; done < n;) {
        const uint32_t nb = n - done < s->p.n_batch ? n - done : s->p.n_batch, end = done + nb;
        for (uint32_t i = done; i < end; i++)
            cnt[rows[i].seq] = 0;
        for (uint32_t i = done; i < end; i++)
            cnt[rows[i].seq]++;
        uint32_t n_solo = 0;
        for (uint32_t i = done; i < end; i++)
            if (cnt[rows[i].seq] == 1) s->order[n_solo++] = i;
        uint32_t at = n_solo;
        for (uint32_t i = done; i < end; i++) {
            const uint32_t q = rows[i].seq;
            if (cnt[q] < 2) continue;
            for (uint32_t k = i; k < end; k++)
                if (rows[k].seq == q) s->order[at++] = k;
            cnt[q] = 0; /* taken */
        }
        for (uint32_t seg = 0; seg < nb;) {
            const bool solo = seg < n_solo;
            uint32_t len = solo ? n_solo : 1;
            while (!solo && seg + len < nb &&
                   rows[s->order[seg + len]].seq == rows[s->order[seg]].seq)
                len++;
            forward(s, rows, s->order + seg, len, solo, s->logits + (size_t)s->n_logits * nv);
            for (uint32_t r = seg; r < seg + len; r++) {
                const uint32_t i = s->order[r];
                s->slot[i] = rows[i].logits ? (int32_t)s->n_logits++ : -1;
                s->n_past[rows[i].seq]++;
            }
            seg += len;
        }
        done = end;
    }
}

/* An encoder-decoder model's sequence decodes only after its encoder input. */
static int check_encoded(const elm_session_t *s, uint32_t seq, elm_diag_t *diag)
{
    if (!s->n_enc || s->n_enc[seq]) return 0;
    return elm_diag(diag, ELM_EINVAL,
                    "decode: sequence %u has no encoder input (architecture %s is an "
                    "encoder-decoder: encode the prompt first)",
                    seq, s->m->hp.arch);
}

int elm_session_encode(elm_session_t *s, uint32_t seq, const int32_t *tokens, uint32_t n,
                       elm_diag_t *diag)
{
    const elm_hparams_t *hp = &s->m->hp;
    if (!hp->has_encoder)
        return elm_diag(diag, ELM_ENOTSUP, "encode: architecture %s has no encoder", hp->arch);
    if (seq >= s->n_seq)
        return elm_diag(diag, ELM_EINVAL, "encode: sequence %u, but the session holds %u", seq,
                        s->n_seq);
    if (n == 0) return elm_diag(diag, ELM_EINVAL, "encode: no tokens given");
    if (n > s->n_ctx)
        return elm_diag(diag, ELM_ERANGE,
                        "encode: an input of %u tokens does not fit the context of %u (use a "
                        "larger context)",
                        n, s->n_ctx);
    for (uint32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || (uint32_t)tokens[i] >= hp->n_vocab)
            return elm_diag(diag, ELM_EINVAL,
                            "encode: token id %d at index %u is outside the vocabulary of %u",
                            tokens[i], i, hp->n_vocab);
    encode(s, seq, tokens, n);
    s->n_past[seq] = 0;
    s->n_logits = 0;
    s->n_rows = 0;
    return 0;
}

int elm_session_decode(elm_session_t *s, const int32_t *tokens, uint32_t n, bool all_logits,
                       elm_diag_t *diag)
{
    const elm_hparams_t *hp = &s->m->hp;
    const uint32_t n_past = s->n_past[0];
    if (n == 0) return elm_diag(diag, ELM_EINVAL, "decode: no tokens given");
    int rc;
    if ((rc = check_encoded(s, 0, diag))) return rc;
    if (n > s->n_ctx - n_past)
        return elm_diag(diag, ELM_ERANGE,
                        "decode: %u tokens after the %u held do not fit the context of %u", n,
                        n_past, s->n_ctx);
    for (uint32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || (uint32_t)tokens[i] >= hp->n_vocab)
            return elm_diag(diag, ELM_EINVAL,
                            "decode: token id %d at index %u is outside the "
                            "vocabulary of %u",
                            tokens[i], i, hp->n_vocab);
    if ((rc = reserve(s, all_logits ? n : 1, n, diag))) return rc;
    if (n > s->rows_cap) {
        elm_batch_row_t *r = realloc(s->rows, (size_t)n * sizeof *r);
        if (!r) return elm_diag(diag, ELM_ENOMEM, "decode: cannot allocate %u rows", n);
        s->rows = r;
        s->rows_cap = n;
    }
    for (uint32_t i = 0; i < n; i++)
        s->rows[i] = (elm_batch_row_t){
            .token = tokens[i], .seq = 0, .pos = n_past + i, .logits = all_logits || i + 1 == n};
    run_rows(s, s->rows, n);
    return 0;
}

int elm_session_decode_batch(elm_session_t *s, const elm_batch_row_t *rows, uint32_t n,
                             elm_diag_t *diag)
{
    const uint32_t nv = s->m->hp.n_vocab;
    if (n == 0) return elm_diag(diag, ELM_EINVAL, "decode: no rows given");
    /* every check before anything runs, so that an error leaves every cache as it was */
    uint32_t *next = s->counter, n_logits = 0;
    memcpy(next, s->n_past, s->n_seq * sizeof *next);
    for (uint32_t i = 0; i < n; i++) {
        const elm_batch_row_t *r = &rows[i];
        if (r->seq >= s->n_seq)
            return elm_diag(diag, ELM_EINVAL,
                            "decode: row %u names sequence %u, but the session holds %u", i, r->seq,
                            s->n_seq);
        if (r->pos != next[r->seq])
            return elm_diag(diag, ELM_EINVAL,
                            "decode: row %u (sequence %u) is at position %u, but the sequence's "
                            "next position is %u (rows append in order)",
                            i, r->seq, r->pos, next[r->seq]);
        if (r->pos >= s->n_ctx)
            return elm_diag(diag, ELM_ERANGE,
                            "decode: row %u (sequence %u, position %u) is past the context of %u",
                            i, r->seq, r->pos, s->n_ctx);
        if (r->token < 0 || (uint32_t)r->token >= nv)
            return elm_diag(diag, ELM_EINVAL,
                            "decode: row %u (sequence %u, position %u): token id %d is outside "
                            "the vocabulary of %u",
                            i, r->seq, r->pos, r->token, nv);
        next[r->seq]++;
        n_logits += r->logits;
    }
    int rc;
    for (uint32_t i = 0; i < n; i++)
        if ((rc = check_encoded(s, rows[i].seq, diag))) return rc;
    if ((rc = reserve(s, n_logits, n, diag))) return rc;
    run_rows(s, rows, n);
    return 0;
}
