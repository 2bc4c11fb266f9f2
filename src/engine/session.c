/* Sessions: the KV cache and scratch of one conversation, and the forward pass of the llama
 * block over a batch of tokens (README §2.2 of the reference data): embedding, per layer RMSNorm,
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
    elm__kv_t kv;
    uint32_t n_ctx, n_past;
    uint32_t q_dim, kv_dim;
    float *x;        /* (n_batch, n_embd) residual stream */
    float *xb;       /* (n_batch, n_embd) normed input / projection output */
    float *q;        /* (n_batch, q_dim) */
    float *k, *v;    /* (n_batch, kv_dim) */
    float *att_out;  /* (n_batch, q_dim) */
    float *hb, *hb2; /* (n_batch, n_ff) */
    float *rope;     /* (n_batch, n_rot) cos, sin pairs of each row's position */
    void *att;       /* (pool threads, elm__attn_scratch) attention scratch */
    void *qbuf;      /* activations converted for a matrix product */
    int nt_batch;    /* threads for batches of more than one token */
    float *logits;   /* (logits_cap, n_vocab) */
    uint32_t logits_cap, n_logits;
};

elm_session_params_t elm_session_default_params(void)
{
    return (elm_session_params_t){
        .n_ctx = 0, .n_batch = 512, .n_threads = 1, .kv_type = ELM_TYPE_F16};
}

/* ---- creation ---- */

static size_t max_scratch(const elm_model_t *m, int64_t n_rows)
{
    const elm__weight_t *out = &m->output;
    size_t best = elm__matmul_scratch(&out, 1, n_rows);
    for (uint32_t il = 0; il < m->hp.n_layer; il++) {
        const elm__layer_t *L = &m->layers[il];
        const elm__weight_t *ws[] = {&L->wq,     &L->wk,   &L->wv,    &L->wo,
                                     &L->w_gate, &L->w_up, &L->w_down};
        size_t s = elm__matmul_scratch(ws, sizeof ws / sizeof ws[0], n_rows);
        if (s > best) best = s;
    }
    return best;
}

int elm_session_create(const elm_model_t *m, const elm_session_params_t *p, elm_session_t **out,
                       elm_diag_t *diag)
{
    *out = NULL;
    const elm_hparams_t *hp = &m->hp;
    elm_session_params_t sp = p ? *p : elm_session_default_params();
    if (sp.n_batch == 0)
        return elm_diag(diag, ELM_EINVAL, "session: batch size must be at least 1");
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
    s->q_dim = hp->n_head * hp->head_dim;
    s->kv_dim = hp->n_head_kv * hp->head_dim;
    int rc;
    s->nt_batch = sp.n_threads_batch ? sp.n_threads_batch : sp.n_threads;
    const int n_pool = sp.n_threads > s->nt_batch ? sp.n_threads : s->nt_batch;
    if ((rc = elm__kv_init(&s->kv, sp.kv_type, hp->n_layer, s->n_ctx, s->kv_dim, diag))) goto fail;
    if (n_pool > 1 && (rc = elm_pool_create(n_pool, &s->pool, diag))) goto fail;
    const size_t B = sp.n_batch;
    s->x = malloc(B * hp->n_embd * sizeof(float));
    s->xb = malloc(B * hp->n_embd * sizeof(float));
    s->q = malloc(B * s->q_dim * sizeof(float));
    s->k = malloc(B * s->kv_dim * sizeof(float));
    s->v = malloc(B * s->kv_dim * sizeof(float));
    s->att_out = malloc(B * s->q_dim * sizeof(float));
    s->hb = malloc(B * hp->n_ff * sizeof(float));
    s->hb2 = malloc(B * hp->n_ff * sizeof(float));
    s->rope = malloc(B * hp->n_rot * sizeof(float));
    s->att = malloc((size_t)n_pool * elm__attn_scratch(s->n_ctx, hp->head_dim, hp->n_head,
                                                       hp->n_head_kv, s->kv.esize));
    s->qbuf = malloc(max_scratch(m, (int64_t)B) + 1);
    if (!s->x || !s->xb || !s->q || !s->k || !s->v || !s->att_out || !s->hb || !s->hb2 ||
        !s->rope || !s->att || !s->qbuf) {
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
    elm__kv_free(&s->kv);
    elm_pool_free(s->pool);
    free(s->x);
    free(s->xb);
    free(s->q);
    free(s->k);
    free(s->v);
    free(s->att_out);
    free(s->hb);
    free(s->hb2);
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
uint32_t elm_session_n_past(const elm_session_t *s)
{
    return s->n_past;
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

int elm_session_truncate(elm_session_t *s, uint32_t n_past)
{
    if (n_past > s->n_past) return ELM_ERANGE;
    s->n_past = n_past;
    return 0;
}

void elm_session_reset(elm_session_t *s)
{
    s->n_past = 0;
    s->n_logits = 0;
}

/* ---- layer pieces ---- */

/* cos (cs[i]) and sin (cs[n_rot/2 + i]) of every rotated pair i at position pos, computed as
 * ggml's rope cache does: θ_i = pos · base^(−2i/n_rot) / f_i, with the power built up by
 * repeated multiplication. */
static void rope_table(float *cs, uint32_t pos, const elm_hparams_t *hp, const float *freqs)
{
    const float theta_scale = powf(hp->rope_base, -2.0f / (float)hp->n_rot);
    const uint32_t half = hp->n_rot / 2;
    float theta = (float)pos;
    for (uint32_t i = 0; i < half; i++) {
        const float t = freqs ? theta / freqs[i] : theta;
        cs[i] = cosf(t);
        cs[half + i] = sinf(t);
        theta *= theta_scale;
    }
}

/* ---- fused epilogues ----
 * What follows each tile of a product, run by the thread that computed it. */

typedef struct {
    elm_session_t *s;
    const elm__layer_t *L;
    uint32_t layer, pos0;
} qkv_ctx_t;

/* Q, K and V tiles (whole heads): bias, RoPE on Q and K, K and V into the cache. */
static void qkv_epilogue(void *ctx, int which, int64_t r0, int64_t r1, int64_t o0, int64_t o1)
{
    const qkv_ctx_t *c = ctx;
    elm_session_t *s = c->s;
    const elm_hparams_t *hp = &s->m->hp;
    const elm__vec_t *bias = which == 0 ? &c->L->bq : which == 1 ? &c->L->bk : &c->L->bv;
    float *base = which == 0 ? s->q : which == 1 ? s->k : s->v;
    const size_t dim = which == 0 ? s->q_dim : s->kv_dim;
    const uint32_t n = (uint32_t)(o1 - o0), off = (uint32_t)o0;
    for (int64_t r = r0; r < r1; r++) {
        float *y = base + (size_t)r * dim + o0;
        const uint32_t pos = c->pos0 + (uint32_t)r;
        if (bias->v) elm_ops()->add(y, bias->v + o0, n);
        if (which < 2)
            elm_ops()->rope(y, n / hp->head_dim, hp->head_dim, hp->n_rot,
                            s->rope + (size_t)r * hp->n_rot, hp->rope_neox);
        if (which == 1) elm__kv_store_k(&s->kv, c->layer, pos, off, y, n);
        if (which == 2) elm__kv_store_v(&s->kv, c->layer, pos, off, y, n);
    }
}

typedef struct {
    float *x, *y; /* (rows, ld) */
    size_t ld;
} rows_ctx_t;

/* x += y over the tile: the residual add after the output and down projections. */
static void residual_epilogue(void *ctx, int which, int64_t r0, int64_t r1, int64_t o0, int64_t o1)
{
    (void)which;
    const rows_ctx_t *c = ctx;
    for (int64_t r = r0; r < r1; r++)
        elm_ops()->add(c->x + r * c->ld + o0, c->y + r * c->ld + o0, o1 - o0);
}

/* x = SiLU(x) × y over the tile: gate and up, computed by the same task. */
static void swiglu_epilogue(void *ctx, int which, int64_t r0, int64_t r1, int64_t o0, int64_t o1)
{
    (void)which;
    const rows_ctx_t *c = ctx;
    for (int64_t r = r0; r < r1; r++)
        elm_ops()->silu_mul(c->x + r * c->ld + o0, c->y + r * c->ld + o0, o1 - o0);
}

/* ---- forward pass ---- */

/* Evaluate n (<= n_batch) tokens at positions n_past.., append them to the cache and write the
 * logits of rows [first, n) to out. */
static void forward(elm_session_t *s, const int32_t *tokens, uint32_t n, uint32_t first, float *out)
{
    const elm_model_t *m = s->m;
    const elm_hparams_t *hp = &m->hp;
    const elm_ops_t *ops = elm_ops();
    const uint32_t E = hp->n_embd, F = hp->n_ff, pos0 = s->n_past;
    elm_pool_t *pool = s->pool;
    const int nt = n > 1 ? s->nt_batch : s->p.n_threads;

    for (uint32_t r = 0; r < n; r++) {
        const elm__weight_t *te = &m->tok_embd;
        te->tr->to_float((const char *)te->data + (size_t)tokens[r] * te->row_bytes,
                         s->x + (size_t)r * E, E);
        rope_table(s->rope + (size_t)r * hp->n_rot, pos0 + r, hp, m->rope_freqs.v);
    }

    for (uint32_t il = 0; il < hp->n_layer; il++) {
        const elm__layer_t *L = &m->layers[il];
        /* The last layer only needs the rows that produce logits once K and V are cached. */
        const uint32_t r0 = il + 1 == hp->n_layer ? first : 0, nr = n - r0;

        for (uint32_t r = 0; r < n; r++)
            ops->rmsnorm(s->xb + (size_t)r * E, s->x + (size_t)r * E, L->attn_norm.v, E,
                         hp->rms_eps);
        qkv_ctx_t qc = {s, L, il, pos0};
        const elm__mm_group_t qkv = {
            .out = {{&L->wq, s->q, s->q_dim}, {&L->wk, s->k, s->kv_dim}, {&L->wv, s->v, s->kv_dim}},
            .n_out = 3,
            .align = hp->head_dim,
            .epilogue = qkv_epilogue,
            .ctx = &qc};
        elm__matmul_group(pool, nt, &qkv, s->xb, n, s->qbuf);

        const elm__attn_t at = {.kv = &s->kv,
                                .layer = il,
                                .q = s->q + (size_t)r0 * s->q_dim,
                                .q_stride = s->q_dim,
                                .out = s->att_out + (size_t)r0 * s->q_dim,
                                .out_stride = s->q_dim,
                                .n_rows = nr,
                                .pos0 = pos0 + r0,
                                .n_head = hp->n_head,
                                .n_head_kv = hp->n_head_kv,
                                .head_dim = hp->head_dim};
        elm__attention(pool, nt, &at, s->att);

        float *x = s->x + (size_t)r0 * E, *xb = s->xb + (size_t)r0 * E;
        rows_ctx_t res = {x, xb, E};
        const elm__mm_group_t wo = {.out = {{&L->wo, xb, E}},
                                    .n_out = 1,
                                    .align = 1,
                                    .epilogue = residual_epilogue,
                                    .ctx = &res};
        elm__matmul_group(pool, nt, &wo, s->att_out + (size_t)r0 * s->q_dim, nr, s->qbuf);

        for (uint32_t r = 0; r < nr; r++)
            ops->rmsnorm(xb + (size_t)r * E, x + (size_t)r * E, L->ffn_norm.v, E, hp->rms_eps);
        rows_ctx_t glu = {s->hb, s->hb2, F};
        const elm__mm_group_t gate_up = {.out = {{&L->w_gate, s->hb, F}, {&L->w_up, s->hb2, F}},
                                         .n_out = 2,
                                         .paired = true,
                                         .align = 1,
                                         .epilogue = swiglu_epilogue,
                                         .ctx = &glu};
        elm__matmul_group(pool, nt, &gate_up, xb, nr, s->qbuf);
        const elm__mm_group_t down = {.out = {{&L->w_down, xb, E}},
                                      .n_out = 1,
                                      .align = 1,
                                      .epilogue = residual_epilogue,
                                      .ctx = &res};
        elm__matmul_group(pool, nt, &down, s->hb, nr, s->qbuf);
    }

    for (uint32_t r = first; r < n; r++)
        ops->rmsnorm(s->xb + (size_t)r * E, s->x + (size_t)r * E, m->output_norm.v, E, hp->rms_eps);
    if (first < n)
        elm__matmul(pool, nt, &m->output, s->xb + (size_t)first * E, n - first, out, s->qbuf);
    s->n_past += n;
}

int elm_session_decode(elm_session_t *s, const int32_t *tokens, uint32_t n, bool all_logits,
                       elm_diag_t *diag)
{
    const elm_hparams_t *hp = &s->m->hp;
    if (n == 0) return elm_diag(diag, ELM_EINVAL, "decode: no tokens given");
    if (n > s->n_ctx - s->n_past)
        return elm_diag(diag, ELM_ERANGE,
                        "decode: %u tokens after the %u held do not fit the context of %u", n,
                        s->n_past, s->n_ctx);
    for (uint32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || (uint32_t)tokens[i] >= hp->n_vocab)
            return elm_diag(diag, ELM_EINVAL,
                            "decode: token id %d at index %u is outside the "
                            "vocabulary of %u",
                            tokens[i], i, hp->n_vocab);
    const uint32_t rows = all_logits ? n : 1;
    if (rows > s->logits_cap) {
        float *l = realloc(s->logits, (size_t)rows * hp->n_vocab * sizeof(float));
        if (!l)
            return elm_diag(diag, ELM_ENOMEM, "decode: cannot allocate logits for %u rows", rows);
        s->logits = l;
        s->logits_cap = rows;
    }
    s->n_logits = 0;
    for (uint32_t done = 0; done < n;) {
        const uint32_t nb = n - done < s->p.n_batch ? n - done : s->p.n_batch;
        const bool last = done + nb == n;
        if (all_logits)
            forward(s, tokens + done, nb, 0, s->logits + (size_t)done * hp->n_vocab);
        else
            forward(s, tokens + done, nb, last ? nb - 1 : nb, s->logits);
        done += nb;
    }
    s->n_logits = rows;
    return 0;
}
