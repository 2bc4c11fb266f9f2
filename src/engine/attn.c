/* Causal self-attention over the KV cache with grouped KV heads, optionally soft-capped and
 * limited to a sliding window (gemma2), or over a fixed set of keys with a relative position
 * bias (t5's encoder, and its cross-attention without the bias). A task is a block of query rows
 * of all the query heads that share one KV head: its queries are converted to the cache type
 * once, scored against every cached position in one product (the kernels' gemm, or vec_dot per
 * score), turned into softmax numerators in place, and multiplied by the transposed values in a
 * second product. Scratch is O(n_ctx) rows per thread, never O(n²). */
#include <math.h>
#include <string.h>

#include "edgelm/ops.h"
#include "engine/engine_internal.h"

/* Prefill: about this many queries (heads × rows) per task, so the products reuse each key and
 * value row across many queries. */
#define ATTN_QUERIES 64

typedef struct {
    const elm__attn_t *a;
    char *scratch;
    size_t per_thread;
    uint32_t rb; /* rows per task (of every head of the group) */
    uint32_t n_rb;
    int64_t first; /* its first item in the loop over every block */
} attn_job_t;

/* The blocks of one pool loop. */
typedef struct {
    attn_job_t job[ELM__ATTN_MAX_BLOCKS];
    uint32_t n;
} attn_loop_t;

static uint32_t max_queries(uint32_t group)
{
    return group > ATTN_QUERIES ? group : ATTN_QUERIES;
}

/* Bytes a piece of scratch takes: rounded up to a cache line, one line apart from the next. */
static size_t piece(size_t bytes)
{
    return (bytes + 63) / 64 * 64 + 64;
}

size_t elm__attn_scratch(uint32_t n_ctx, uint32_t head_dim, uint32_t n_head, uint32_t n_head_kv,
                         size_t esize)
{
    const size_t nq = max_queries(n_head / n_head_kv);
    /* queries, scores, probabilities, outputs, 1/sums */
    return piece(nq * head_dim * esize) + piece(nq * n_ctx * sizeof(float)) +
           piece(nq * n_ctx * esize) + piece(nq * head_dim * sizeof(float)) +
           piece(nq * sizeof(float));
}

static char *carve(char **at, size_t bytes)
{
    char *p = *at;
    *at += piece(bytes);
    return p;
}

static void attn_task(const attn_job_t *j, int64_t item, int thread)
{
    const elm__attn_t *a = j->a;
    const elm__kv_t *kv = a->kv;
    const elm_type_traits_t *tr = kv->tr;
    const elm_ops_t *ops = elm_ops();
    const uint32_t hd = a->head_dim, group = a->n_head / a->n_head_kv, n_ctx = kv->n_ctx;
    const size_t es = kv->esize;
    const uint32_t rblk = (uint32_t)(item % j->n_rb), kvh = (uint32_t)(item / j->n_rb);
    const uint32_t r0 = rblk * j->rb, r1 = r0 + j->rb < a->n_rows ? r0 + j->rb : a->n_rows;
    const uint32_t h0 = kvh * group, nq = (r1 - r0) * group;
    const uint32_t np = a->n_keys ? a->n_keys : a->pos0 + r1; /* positions the last row sees */
    const float scale = a->scale ? a->scale : 1.0f / sqrtf((float)hd);
    /* With a window, positions before the first row's window are seen by no row of the task. */
    const uint32_t n_first = a->pos0 + r0 + 1;
    const uint32_t k0 = a->window && n_first > a->window ? n_first - a->window : 0;

    char *at = j->scratch + (size_t)thread * j->per_thread;
    const size_t nqm = max_queries(group);
    char *q = carve(&at, nqm * hd * es);
    float *s = (float *)(void *)carve(&at, nqm * n_ctx * sizeof(float));
    char *p = carve(&at, nqm * n_ctx * es);
    float *o = (float *)(void *)carve(&at, nqm * hd * sizeof(float));
    float *inv = (float *)(void *)carve(&at, nqm * sizeof(float));

    /* query qi = (row - r0) * hg + head - h0 */
    for (uint32_t r = r0; r < r1; r++)
        for (uint32_t hl = 0; hl < group; hl++)
            tr->from_float(a->q + (size_t)r * a->q_stride + (size_t)(h0 + hl) * hd,
                           q + (size_t)((r - r0) * group + hl) * hd * es, hd);

    /* scores of every query against positions 0..np-1 */
    const char *k = elm__kv_k(kv, a->layer, 0, kvh * hd);
    const size_t k_stride = (size_t)kv->dim * es;
    elm__matmul_block(tr, hd, np - k0, nq, k + (size_t)k0 * k_stride, k_stride, q, hd * es, s + k0,
                      n_ctx);

    /* causal softmax numerators over positions lo..n-1 (lo > 0 only with a window), zero
     * elsewhere in k0..np-1 */
    for (uint32_t qi = 0; qi < nq; qi++) {
        float *row = s + (size_t)qi * n_ctx;
        const uint32_t qpos = a->pos0 + r0 + qi / group, n = a->n_keys ? a->n_keys : qpos + 1;
        const uint32_t lo = a->window && n > a->window ? n - a->window : 0;
        if (a->bias) {
            const float *b = a->bias + h0 + qi % group;
            for (uint32_t key = lo; key < n; key++)
                row[key] += b[(size_t)a->bucket[(ptrdiff_t)key - (ptrdiff_t)qpos] * a->n_head];
        }
        if (a->softcap) ops->softcap(row + lo, n - lo, a->softcap);
        inv[qi] = 1.0f / ops->softmax_exp(row + lo, n - lo, scale);
        memset(row + k0, 0, (lo - k0) * sizeof(float));
        memset(row + n, 0, (np - n) * sizeof(float));
        tr->from_float(row + k0, p + ((size_t)qi * n_ctx + k0) * es, np - k0);
    }

    /* o = p · v over positions, with v stored transposed: one row per value dimension */
    const char *vt = elm__kv_vt(kv, a->layer, kvh * hd);
    const size_t vt_stride = (size_t)n_ctx * es;
    elm__matmul_block(tr, np - k0, hd, nq, vt + (size_t)k0 * es, vt_stride, p + (size_t)k0 * es,
                      n_ctx * es, o, hd);

    for (uint32_t qi = 0; qi < nq; qi++) {
        const uint32_t r = r0 + qi / group, h = h0 + qi % group;
        ops->scale(a->out + (size_t)r * a->out_stride + (size_t)h * hd, o + (size_t)qi * hd,
                   inv[qi], hd);
    }
}

static void attn_items(void *ctx, int64_t begin, int64_t end, int thread)
{
    const attn_loop_t *l = ctx;
    uint32_t b = 0;
    for (int64_t it = begin; it < end; it++) {
        while (b + 1 < l->n && it >= l->job[b + 1].first)
            b++;
        attn_task(&l->job[b], it - l->job[b].first, thread);
    }
}

void elm__attention(elm_pool_t *pool, int n_threads, const elm__attn_t *a, uint32_t n_a,
                    void *scratch)
{
    for (uint32_t b0 = 0; b0 < n_a; b0 += ELM__ATTN_MAX_BLOCKS) {
        attn_loop_t l = {.n = n_a - b0 < ELM__ATTN_MAX_BLOCKS ? n_a - b0 : ELM__ATTN_MAX_BLOCKS};
        int64_t n_items = 0, work = 0;
        for (uint32_t b = 0; b < l.n; b++) {
            const elm__attn_t *ab = &a[b0 + b];
            const uint32_t group = ab->n_head / ab->n_head_kv;
            attn_job_t *j = &l.job[b];
            *j = (attn_job_t){.a = ab, .scratch = scratch, .first = n_items};
            j->per_thread = elm__attn_scratch(ab->kv->n_ctx, ab->head_dim, ab->n_head,
                                              ab->n_head_kv, ab->kv->esize);
            /* Every head of the group in one task, with a block of rows, so that each cache
             * row is converted once for all the queries that read it (in decode too: the
             * group's heads are enough tasks for the threads, one per KV head). */
            j->rb = max_queries(group) / group;
            j->n_rb = (ab->n_rows + j->rb - 1) / j->rb;
            n_items += (int64_t)ab->n_head_kv * j->n_rb;
            const uint32_t keys = ab->n_keys ? ab->n_keys : ab->pos0 + ab->n_rows;
            const int64_t w = (int64_t)group * j->rb * keys * ab->head_dim * 2;
            if (w > work) work = w;
        }
        elm_pool_for_threads(pool, n_threads, n_items, elm__min_chunk(work, 1), attn_items, &l);
    }
}
