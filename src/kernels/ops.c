/* The scalar reference of the forward pass's small ops (edgelm/ops.h) and their dispatch
 * table, filled once from the CPU features like the traits table. */
#include <math.h>
#include <pthread.h>

#include "kernels/cpu.h"
#include "kernels/ops_internal.h"

/* ---- reference ---- */

static void rmsnorm_ref(float *y, const float *x, const float *w, int64_t n, float eps)
{
    double sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(x[i] * x[i]);
    const float scale = 1.0f / sqrtf((float)(sum / (double)n) + eps);
    for (int64_t i = 0; i < n; i++)
        y[i] = (x[i] * scale) * w[i];
}

static float softmax_exp_ref(float *x, int64_t n, float scale)
{
    float max = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (x[i] * scale > max) max = x[i] * scale;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] * scale - max);
        sum += x[i];
    }
    return (float)sum;
}

static void silu_mul_ref(float *g, const float *u, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

static void add_ref(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] += x[i];
}

static void scale_ref(float *y, const float *x, float a, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = a * x[i];
}

static void rope_ref(float *x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const float *cs,
                     bool neox)
{
    const int64_t half = n_rot / 2;
    const float *c_ = cs, *s_ = cs + half;
    for (int64_t h = 0; h < n_heads; h++) {
        float *v = x + h * head_dim;
        for (int64_t i = 0; i < half; i++)
            elm__rope_pair(v, i, half, c_[i], s_[i], neox);
    }
}

static const elm_ops_t ref_ops = {rmsnorm_ref, softmax_exp_ref, silu_mul_ref,
                                  add_ref,     scale_ref,       rope_ref};

/* ---- dispatch ---- */

static elm_ops_t ops;
static pthread_once_t ops_once = PTHREAD_ONCE_INIT;

void elm__ops_fill(elm_ops_t *t, unsigned cpu)
{
    *t = ref_ops;
#if defined(__aarch64__)
    elm__ops_install_arm(t, cpu);
#else
    elm__ops_install_x86(t, cpu);
#endif
}

static void ops_fill(void)
{
    elm__ops_fill(&ops, elm__kernel_tier());
}

const elm_ops_t *elm_ops(void)
{
    pthread_once(&ops_once, ops_fill);
    return &ops;
}

const elm_ops_t *elm_ops_ref(void)
{
    return &ref_ops;
}
