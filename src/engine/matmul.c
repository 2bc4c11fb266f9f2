/* The weight × activation product of the forward pass: activations converted once per row to
 * the weight's dot-product type (q8_0, q8_K, f16; f32 weights take them as they are), then one
 * vec_dot per (output row, activation row), spread over the pool by output rows. */
#include <string.h>

#include "engine/engine_internal.h"

size_t elm__matmul_scratch(const elm__weight_t *w, int64_t n_rows)
{
    uint64_t row = 0;
    if (w->tr->vec_dot_type == ELM_TYPE_F32) return 0;
    if (elm_type_row_size(w->tr->vec_dot_type, (uint64_t)w->ne0, &row) != 0) return 0;
    return (size_t)row * (size_t)n_rows;
}

typedef struct {
    const elm__weight_t *w;
    const float *x;
    const void *act; /* activations in vec_dot_type, row stride act_stride */
    size_t act_stride;
    void *qbuf;
    elm_from_float_fn from_float;
    int64_t n_rows;
    float *y;
} matmul_job_t;

static void quantize_rows(void *ctx, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    matmul_job_t *j = ctx;
    for (int64_t r = begin; r < end; r++)
        j->from_float(j->x + r * j->w->ne0, (char *)j->qbuf + (size_t)r * j->act_stride, j->w->ne0);
}

static void dot_rows(void *ctx, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const matmul_job_t *j = ctx;
    const elm__weight_t *w = j->w;
    const elm_vec_dot_fn dot = w->tr->vec_dot;
    for (int64_t o = begin; o < end; o++) {
        const void *wrow = (const char *)w->data + (size_t)o * w->row_bytes;
        for (int64_t r = 0; r < j->n_rows; r++)
            dot(w->ne0, &j->y[r * w->ne1 + o], wrow,
                (const char *)j->act + (size_t)r * j->act_stride);
    }
}

void elm__matmul(elm_pool_t *pool, const elm__weight_t *w, const float *x, int64_t n_rows, float *y,
                 void *qbuf)
{
    matmul_job_t j = {.w = w, .x = x, .n_rows = n_rows, .y = y, .qbuf = qbuf};
    if (n_rows <= 0) return;
    if (w->tr->vec_dot_type == ELM_TYPE_F32) {
        j.act = x;
        j.act_stride = (size_t)w->ne0 * sizeof(float);
    } else {
        j.from_float = elm_traits(w->tr->vec_dot_type)->from_float;
        j.act = qbuf;
        j.act_stride = elm__matmul_scratch(w, 1);
        elm_pool_for(pool, n_rows, elm__min_chunk(w->ne0, 1), quantize_rows, &j);
    }
    /* Output rows in ranges of at least 16, and of enough work that waking a thread pays off
     * (a 64 x 64 matrix of a tiny model is faster on one thread than handed around). */
    int64_t chunk = elm__min_chunk(w->ne0 * (int64_t)n_rows, 16);
    elm_pool_for(pool, w->ne1, chunk, dot_rows, &j);
}
