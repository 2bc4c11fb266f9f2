/* NEON variants of the forward pass's small ops (edgelm/ops.h), the aarch64 counterpart of
 * avx2_ops.c: 4 lanes at a time with a scalar tail, sums of squares and of exponentials in double
 * as the reference does, and the same exp of our own (range reduction by ln 2, degree-6 Taylor
 * polynomial). Every ARMv8-A CPU has NEON, so these are installed whenever the CPU reports it.
 * Tested against the reference under qemu-user (`make test-arm`); not timed on ARM hardware. */
#include <math.h>

#include "kernels/cpu.h"
#include "kernels/ops_internal.h"

#if defined(__aarch64__)
#include <arm_neon.h>

/* e^x for 4 lanes, clamped to [-87.3, 88.3] as exp8 in avx2_ops.c (2^n stays a normal float). */
static inline float32x4_t exp4(float32x4_t x)
{
    x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-87.3f)), vdupq_n_f32(88.3f));
    const float32x4_t n = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(1.44269504088896341f)));
    /* r = x - n ln 2, with ln 2 split in two so the product is exact */
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));
    r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
    float32x4_t p = vdupq_n_f32(1.0f / 720);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 120), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 24), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 6), p, r);
    p = vfmaq_f32(vdupq_n_f32(0.5f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    const int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    return vmulq_f32(p, vreinterpretq_f32_s32(e));
}

/* Add the 4 floats of v, widened to double, into acc. */
static inline float64x2_t acc_f64(float64x2_t acc, float32x4_t v)
{
    return vaddq_f64(vaddq_f64(acc, vcvt_f64_f32(vget_low_f32(v))), vcvt_high_f64_f32(v));
}

static void rmsnorm_neon(float *y, const float *x, const float *w, int64_t n, float eps)
{
    float64x2_t acc = vdupq_n_f64(0);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t v = vld1q_f32(x + i);
        acc = acc_f64(acc, vmulq_f32(v, v));
    }
    double sum = vaddvq_f64(acc);
    for (; i < n; i++)
        sum += (double)(x[i] * x[i]);
    const float scale = 1.0f / sqrtf((float)(sum / (double)n) + eps);
    for (i = 0; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vmulq_f32(vmulq_n_f32(vld1q_f32(x + i), scale), vld1q_f32(w + i)));
    for (; i < n; i++)
        y[i] = (x[i] * scale) * w[i];
}

static float softmax_exp_neon(float *x, int64_t n, float scale)
{
    float32x4_t vmax = vdupq_n_f32(-INFINITY);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vmax = vmaxq_f32(vmax, vmulq_n_f32(vld1q_f32(x + i), scale));
    float max = vmaxvq_f32(vmax);
    for (; i < n; i++)
        if (x[i] * scale > max) max = x[i] * scale;
    const float32x4_t vs = vdupq_n_f32(scale), vm = vdupq_n_f32(max);
    float64x2_t acc = vdupq_n_f64(0);
    for (i = 0; i + 4 <= n; i += 4) {
        /* x · scale − max in one rounding, as x86's vfmsub */
        const float32x4_t e = exp4(vnegq_f32(vfmsq_f32(vm, vld1q_f32(x + i), vs)));
        vst1q_f32(x + i, e);
        acc = acc_f64(acc, e);
    }
    double sum = vaddvq_f64(acc);
    for (; i < n; i++) {
        x[i] = expf(x[i] * scale - max);
        sum += x[i];
    }
    return (float)sum;
}

static void silu_mul_neon(float *g, const float *u, int64_t n)
{
    const float32x4_t one = vdupq_n_f32(1.0f);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t v = vld1q_f32(g + i);
        const float32x4_t e = exp4(vnegq_f32(v));
        vst1q_f32(g + i, vmulq_f32(vdivq_f32(v, vaddq_f32(one, e)), vld1q_f32(u + i)));
    }
    for (; i < n; i++)
        g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

static void add_neon(float *y, const float *x, int64_t n)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vaddq_f32(vld1q_f32(y + i), vld1q_f32(x + i)));
    for (; i < n; i++)
        y[i] += x[i];
}

static void scale_neon(float *y, const float *x, float a, int64_t n)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vmulq_n_f32(vld1q_f32(x + i), a));
    for (; i < n; i++)
        y[i] = a * x[i];
}

/* Rounded products, then a rounded sum or difference: the reference's x0·c − x1·s and
 * x0·s + x1·c to the bit (separate vmul and vadd / vsub; this file is built without FP
 * contraction, as ISO C mode implies). */
static void rope_neon(float *x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const float *cs,
                      bool neox)
{
    const int64_t half = n_rot / 2;
    const float *c_ = cs, *s_ = cs + half;
    for (int64_t h = 0; h < n_heads; h++) {
        float *v = x + h * head_dim;
        int64_t i = 0;
        if (neox) {
            for (; i + 4 <= half; i += 4) {
                const float32x4_t x0 = vld1q_f32(v + i), x1 = vld1q_f32(v + half + i);
                const float32x4_t c = vld1q_f32(c_ + i), sn = vld1q_f32(s_ + i);
                vst1q_f32(v + i, vsubq_f32(vmulq_f32(x0, c), vmulq_f32(x1, sn)));
                vst1q_f32(v + half + i, vaddq_f32(vmulq_f32(x0, sn), vmulq_f32(x1, c)));
            }
        } else {
            /* four pairs: vld2 splits them into the even (x0) and odd (x1) values */
            for (; i + 4 <= half; i += 4) {
                const float32x4x2_t p = vld2q_f32(v + 2 * i);
                const float32x4_t c = vld1q_f32(c_ + i), sn = vld1q_f32(s_ + i);
                float32x4x2_t r;
                r.val[0] = vsubq_f32(vmulq_f32(p.val[0], c), vmulq_f32(p.val[1], sn));
                r.val[1] = vaddq_f32(vmulq_f32(p.val[0], sn), vmulq_f32(p.val[1], c));
                vst2q_f32(v + 2 * i, r);
            }
        }
        for (; i < half; i++)
            elm__rope_pair(v, i, half, c_[i], s_[i], neox);
    }
}

void elm__ops_install_arm(elm_ops_t *t, unsigned cpu)
{
    if (!(cpu & ELM__CPU_NEON)) return;
    t->rmsnorm = rmsnorm_neon;
    t->softmax_exp = softmax_exp_neon;
    t->silu_mul = silu_mul_neon;
    t->add = add_neon;
    t->scale = scale_neon;
    t->rope = rope_neon;
}

#endif
