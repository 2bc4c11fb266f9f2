/* Sessions: the KV cache and scratch of one conversation, and the forward pass of the llama
 * block over a batch of tokens (README §2.2 of the reference data): embedding, per layer RMSNorm,
 * Q/K/V (+ biases), RoPE, causal attention with GQA, output projection, SwiGLU FFN, and the
 * final norm and output matrix for the rows that want logits. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

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
    float *att;      /* (n_threads, n_ctx) attention scores of one query row */
    void *qbuf;      /* activations converted for a matrix product */
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
    size_t best = elm__matmul_scratch(&m->output, n_rows);
    for (uint32_t il = 0; il < m->hp.n_layer; il++) {
        const elm__layer_t *L = &m->layers[il];
        const elm__weight_t *ws[] = {&L->wq,     &L->wk,   &L->wv,    &L->wo,
                                     &L->w_gate, &L->w_up, &L->w_down};
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) {
            size_t s = elm__matmul_scratch(ws[i], n_rows);
            if (s > best) best = s;
        }
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
    if ((rc = elm__kv_init(&s->kv, sp.kv_type, hp->n_layer, s->n_ctx, s->kv_dim, diag))) goto fail;
    if (sp.n_threads > 1 && (rc = elm_pool_create(sp.n_threads, &s->pool, diag))) goto fail;
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
    s->att = malloc((size_t)sp.n_threads * s->n_ctx * sizeof(float));
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

/* y = x / sqrt(mean(x²) + eps) * w, ggml's rms_norm (sum in double) followed by the mul. */
static void rmsnorm(float *y, const float *x, const float *w, uint32_t n, float eps)
{
    double sum = 0;
    for (uint32_t i = 0; i < n; i++)
        sum += (double)(x[i] * x[i]);
    const float mean = (float)(sum / n);
    const float scale = 1.0f / sqrtf(mean + eps);
    for (uint32_t i = 0; i < n; i++)
        y[i] = (x[i] * scale) * w[i];
}

/* cos and sin of every rotated pair at position pos, computed as ggml's rope cache does:
 * θ_i = pos · base^(−2i/n_rot) / f_i, with the power built up by repeated multiplication. */
static void rope_table(float *cs, uint32_t pos, const elm_hparams_t *hp, const float *freqs)
{
    const float theta_scale = powf(hp->rope_base, -2.0f / (float)hp->n_rot);
    float theta = (float)pos;
    for (uint32_t i = 0; i < hp->n_rot / 2; i++) {
        const float t = freqs ? theta / freqs[i] : theta;
        cs[2 * i] = cosf(t);
        cs[2 * i + 1] = sinf(t);
        theta *= theta_scale;
    }
}

/* Rotate the first n_rot values of each of n_heads heads: pairs (2i, 2i+1) in llama's NORM
 * mode, (i, i + n_rot/2) in NEOX mode. */
static void rope_apply(float *x, uint32_t n_heads, uint32_t head_dim, const float *cs,
                       const elm_hparams_t *hp)
{
    const uint32_t half = hp->n_rot / 2;
    for (uint32_t h = 0; h < n_heads; h++) {
        float *v = x + (size_t)h * head_dim;
        for (uint32_t i = 0; i < half; i++) {
            const uint32_t a = hp->rope_neox ? i : 2 * i, b = hp->rope_neox ? i + half : 2 * i + 1;
            const float c = cs[2 * i], sn = cs[2 * i + 1];
            const float x0 = v[a], x1 = v[b];
            v[a] = x0 * c - x1 * sn;
            v[b] = x0 * sn + x1 * c;
        }
    }
}

static void add_bias(float *x, const elm__vec_t *b, uint32_t n_rows, uint32_t dim)
{
    if (!b->v) return;
    for (uint32_t r = 0; r < n_rows; r++)
        for (uint32_t i = 0; i < dim; i++)
            x[(size_t)r * dim + i] += b->v[i];
}

/* ---- attention ---- */

typedef struct {
    elm_session_t *s;
    uint32_t layer;
    uint32_t pos0;  /* position of batch row 0 */
    uint32_t first; /* first batch row that needs attention */
} attn_job_t;

/* One (query row, head) per item: softmax(q·k_j / sqrt(head_dim)) over j <= pos, then the
 * weighted sum of v_j, with a per-thread score row of n_ctx floats (never n × n). */
static void attn_items(void *ctx, int64_t begin, int64_t end, int thread)
{
    const attn_job_t *j = ctx;
    elm_session_t *s = j->s;
    const elm_hparams_t *hp = &s->m->hp;
    const uint32_t hd = hp->head_dim, group = hp->n_head / hp->n_head_kv;
    const float scale = 1.0f / sqrtf((float)hd);
    float *att = s->att + (size_t)thread * s->n_ctx;
    for (int64_t it = begin; it < end; it++) {
        const uint32_t r = j->first + (uint32_t)(it / hp->n_head), h = (uint32_t)(it % hp->n_head);
        const uint32_t pos = j->pos0 + r, koff = (h / group) * hd;
        const float *q = s->q + (size_t)r * s->q_dim + (size_t)h * hd;
        float max = -INFINITY;
        for (uint32_t t = 0; t <= pos; t++) {
            att[t] = elm__kv_dot_k(&s->kv, j->layer, t, koff, q, hd) * scale;
            if (att[t] > max) max = att[t];
        }
        double sum = 0;
        for (uint32_t t = 0; t <= pos; t++) {
            att[t] = expf(att[t] - max);
            sum += att[t];
        }
        const float inv = (float)(1.0 / sum);
        float *o = s->att_out + (size_t)r * s->q_dim + (size_t)h * hd;
        memset(o, 0, hd * sizeof(float));
        for (uint32_t t = 0; t <= pos; t++)
            elm__kv_axpy_v(&s->kv, j->layer, t, koff, att[t] * inv, o, hd);
    }
}

/* ---- forward pass ---- */

/* Evaluate n (<= n_batch) tokens at positions n_past.., append them to the cache and write the
 * logits of rows [first, n) to out. */
static void forward(elm_session_t *s, const int32_t *tokens, uint32_t n, uint32_t first, float *out)
{
    const elm_model_t *m = s->m;
    const elm_hparams_t *hp = &m->hp;
    const uint32_t E = hp->n_embd, F = hp->n_ff, pos0 = s->n_past;
    elm_pool_t *pool = s->pool;

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
            rmsnorm(s->xb + (size_t)r * E, s->x + (size_t)r * E, L->attn_norm.v, E, hp->rms_eps);
        elm__matmul(pool, &L->wq, s->xb, n, s->q, s->qbuf);
        elm__matmul(pool, &L->wk, s->xb, n, s->k, s->qbuf);
        elm__matmul(pool, &L->wv, s->xb, n, s->v, s->qbuf);
        add_bias(s->q, &L->bq, n, s->q_dim);
        add_bias(s->k, &L->bk, n, s->kv_dim);
        add_bias(s->v, &L->bv, n, s->kv_dim);
        for (uint32_t r = 0; r < n; r++) {
            const float *cs = s->rope + (size_t)r * hp->n_rot;
            rope_apply(s->q + (size_t)r * s->q_dim, hp->n_head, hp->head_dim, cs, hp);
            rope_apply(s->k + (size_t)r * s->kv_dim, hp->n_head_kv, hp->head_dim, cs, hp);
            elm__kv_store(&s->kv, il, pos0 + r, s->k + (size_t)r * s->kv_dim,
                          s->v + (size_t)r * s->kv_dim);
        }
        attn_job_t aj = {s, il, pos0, r0};
        elm_pool_for(pool, (int64_t)nr * hp->n_head,
                     elm__min_chunk((int64_t)(pos0 + r0 + nr) * hp->head_dim * 2, 1), attn_items,
                     &aj);

        float *x = s->x + (size_t)r0 * E, *xb = s->xb + (size_t)r0 * E;
        elm__matmul(pool, &L->wo, s->att_out + (size_t)r0 * s->q_dim, nr, xb, s->qbuf);
        for (size_t i = 0; i < (size_t)nr * E; i++)
            x[i] += xb[i];

        for (uint32_t r = 0; r < nr; r++)
            rmsnorm(xb + (size_t)r * E, x + (size_t)r * E, L->ffn_norm.v, E, hp->rms_eps);
        elm__matmul(pool, &L->w_gate, xb, nr, s->hb, s->qbuf);
        elm__matmul(pool, &L->w_up, xb, nr, s->hb2, s->qbuf);
        for (size_t i = 0; i < (size_t)nr * F; i++) {
            const float g = s->hb[i];
            s->hb[i] = g / (1.0f + expf(-g)) * s->hb2[i];
        }
        elm__matmul(pool, &L->w_down, s->hb, nr, xb, s->qbuf);
        for (size_t i = 0; i < (size_t)nr * E; i++)
            x[i] += xb[i];
    }

    for (uint32_t r = first; r < n; r++)
        rmsnorm(s->xb + (size_t)r * E, s->x + (size_t)r * E, m->output_norm.v, E, hp->rms_eps);
    if (first < n)
        elm__matmul(pool, &m->output, s->xb + (size_t)first * E, n - first, out, s->qbuf);
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
