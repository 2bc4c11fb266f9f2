/* The scalar reference of the forward pass's small ops (edgelm/ops.h) and their dispatch
 * table, filled once from the CPU features like the traits table. */
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "edgelm/kernels.h"

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

/* ---- GELU ----
 * ggml's CPU GELU (GGML_GELU_FP16): tanh-GELU computed in f32 once per fp16 input, looked up at
 * the input rounded to fp16 (README §6.3 of the reference data). The table is 128 KiB of
 * constants, filled on first use. */

static uint16_t gelu_table[(1 << 16) + 1];
static pthread_once_t gelu_once = PTHREAD_ONCE_INIT;

static void gelu_fill(void)
{
    const float sqrt_2_over_pi = 0.79788456080286535587989211986876f, coef_a = 0.044715f;
    for (uint32_t i = 0; i < 1u << 16; i++) {
        const float x = elm_fp16_to_fp32((uint16_t)i);
        /* 1 + a·x·x is one fused multiply-add, as the compiler contracts it in ggml's build:
         * unfused, one entry (x = -1.999) differs from llama.cpp's table by an fp16 ulp */
        const float inner = fmaf(coef_a * x, x, 1.0f);
        gelu_table[i] = elm_fp32_to_fp16(0.5f * x * (1.0f + tanhf(sqrt_2_over_pi * x * inner)));
    }
}

const uint16_t *elm__gelu_table(void)
{
    pthread_once(&gelu_once, gelu_fill);
    return gelu_table;
}

static void gelu_mul_ref(float *g, const float *u, int64_t n)
{
    const uint16_t *table = elm__gelu_table();
    for (int64_t i = 0; i < n; i++)
        g[i] = elm__gelu(table, g[i]) * u[i];
}

static void softcap_ref(float *x, int64_t n, float cap)
{
    const float inv = 1.0f / cap;
    for (int64_t i = 0; i < n; i++)
        x[i] = tanhf(x[i] * inv) * cap;
}

/* GCC's vector extension: 16-byte lanes, SSE2 on any x86-64, NEON on aarch64. */
typedef uint64_t u64x2 __attribute__((vector_size(16)));

static inline u64x2 load_u64x2(const uint8_t *p)
{
    u64x2 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint64_t read_sum_ref(const void *buf, size_t n)
{
    const uint8_t *p = buf;
    u64x2 a0 = {0, 0}, a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 += load_u64x2(p + i);
        a1 += load_u64x2(p + i + 16);
        a2 += load_u64x2(p + i + 32);
        a3 += load_u64x2(p + i + 48);
    }
    const u64x2 s = a0 + a1 + a2 + a3;
    return s[0] + s[1] + elm__read_sum_tail(p, i, n);
}

static const elm_ops_t ref_ops = {rmsnorm_ref,  softmax_exp_ref, silu_mul_ref,
                                  add_ref,      scale_ref,       rope_ref,
                                  gelu_mul_ref, softcap_ref,     read_sum_ref};

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
