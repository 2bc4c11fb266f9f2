/* NEON kernels of the float rows: the f32, f16 and bf16 dot products (halves widened to f32,
 * FMA into four f32 accumulators of 4 lanes; the reference sums in double, so results differ in
 * the last bits) and the f16 row converter (fcvtn rounds to nearest even under the default FPCR
 * and quiets NaNs keeping the top of the payload: the same bits as elm_fp32_to_fp16). Plain
 * ARMv8-A NEON: no fp16 arithmetic, which would round the products to half precision. */
#if defined(__aarch64__)
#include <arm_neon.h>
#include <string.h>

#include "edgelm/kernels.h"
#include "kernels/arm/arm.h"

/* 4 floats from any even address: a byte load, since GCC's vld1q_f32 is a float32x4_t access
 * that assumes 4-byte alignment (the instruction itself does not need it). */
static inline float32x4_t load_f32x4(const float *p)
{
    return vreinterpretq_f32_u8(vld1q_u8((const uint8_t *)p));
}

/* Four accumulators hide the FMA latency; a row's tail of under 16 values goes 4 then 1 at a
 * time. */

void elm__vec_dot_f32_neon(int64_t n, float *s, const void *vx, const void *vy)
{
    const float *x = vx, *y = vy;
    float32x4_t acc[4] = {vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0)};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 4; k++)
            acc[k] = vfmaq_f32(acc[k], load_f32x4(x + i + 4 * k), load_f32x4(y + i + 4 * k));
    for (; i + 4 <= n; i += 4)
        acc[0] = vfmaq_f32(acc[0], load_f32x4(x + i), load_f32x4(y + i));
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3])));
    for (; i < n; i++) {
        /* f32 rows may sit at any even address: memcpy, not a float load. */
        float u, v;
        memcpy(&u, x + i, sizeof u);
        memcpy(&v, y + i, sizeof v);
        sum += u * v;
    }
    *s = sum;
}

/* 4 halves as floats: fp16 with fcvtl, bf16 by moving its bits to the top of each f32. */
typedef float32x4_t (*widen_fn)(uint16x4_t h);
typedef float (*widen1_fn)(uint16_t h);

static inline float32x4_t widen_f16(uint16x4_t h)
{
    return vcvt_f32_f16(vreinterpret_f16_u16(h));
}

static inline float32x4_t widen_bf16(uint16x4_t h)
{
    return vreinterpretq_f32_u32(vshll_n_u16(h, 16));
}

/* The dot product of two rows of 16-bit floats, widened by widen (4 at a time) and widen1 (the
 * tail); both are constants once inlined into the two kernels below. */
static inline __attribute__((always_inline)) float
dot_halves(int64_t n, const uint16_t *x, const uint16_t *y, widen_fn widen, widen1_fn widen1)
{
    float32x4_t acc[4] = {vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0)};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 4; k++)
            acc[k] =
                vfmaq_f32(acc[k], widen(vld1_u16(x + i + 4 * k)), widen(vld1_u16(y + i + 4 * k)));
    for (; i + 4 <= n; i += 4)
        acc[0] = vfmaq_f32(acc[0], widen(vld1_u16(x + i)), widen(vld1_u16(y + i)));
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3])));
    for (; i < n; i++)
        sum += widen1(x[i]) * widen1(y[i]);
    return sum;
}

void elm__vec_dot_f16_neon(int64_t n, float *s, const void *x, const void *y)
{
    *s = dot_halves(n, x, y, widen_f16, elm_fp16_to_fp32);
}

void elm__vec_dot_bf16_neon(int64_t n, float *s, const void *x, const void *y)
{
    *s = dot_halves(n, x, y, widen_bf16, elm_bf16_to_fp32);
}

void elm__f16_from_float_neon(const float *x, void *vy, int64_t n)
{
    uint16_t *y = vy;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const float16x8_t h =
            vcvt_high_f16_f32(vcvt_f16_f32(vld1q_f32(x + i)), vld1q_f32(x + i + 4));
        vst1q_u16(y + i, vreinterpretq_u16_f16(h));
    }
    for (; i < n; i++)
        y[i] = elm_fp32_to_fp16(x[i]);
}

#endif
