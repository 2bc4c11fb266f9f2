/* NEON activation quantizers: q8_0 (the CPU rounding of elm__quantize_q8_0_act: id = 127 / amax,
 * round half to even) and q8_K, both writing the reference's bytes. fcvtns rounds to nearest,
 * ties to even, as elm__nearest_int does for these magnitudes; the product x * id is the same
 * single f32 multiplication as the reference's. Blocks the reference treats specially (all zero,
 * a scale that overflows, NaN or infinite values) go through the reference itself. */
#if defined(__aarch64__)
#include <arm_neon.h>
#include <math.h>

#include "edgelm/kernels.h"
#include "kernels/arm/arm.h"
#include "kernels/ref/ref.h"

/* The largest |x[i]| of n values, n a multiple of 16; NaN if any value is NaN (fmaxv propagates
 * it), which sends the block to the reference. */
static inline float absmax_f32(const float *x, int n)
{
    float32x4_t m[4] = {vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0)};
    for (int j = 0; j < n; j += 16)
        for (int k = 0; k < 4; k++)
            m[k] = vmaxq_f32(m[k], vabsq_f32(vld1q_f32(x + j + 4 * k)));
    return vmaxvq_f32(vmaxq_f32(vmaxq_f32(m[0], m[1]), vmaxq_f32(m[2], m[3])));
}

/* Round x[i] * scale to the nearest integer, ties to even, for 16 values, and narrow them in
 * order to int8 with saturation (a no-op: |x * scale| is at most 127 and a rounding error). */
static inline int8x16_t round_pack_16(const float *x, float scale)
{
    int32x4_t q[4];
    for (int k = 0; k < 4; k++)
        q[k] = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 4 * k), scale));
    const int16x8_t lo = vcombine_s16(vqmovn_s32(q[0]), vqmovn_s32(q[1]));
    const int16x8_t hi = vcombine_s16(vqmovn_s32(q[2]), vqmovn_s32(q[3]));
    return vcombine_s8(vqmovn_s16(lo), vqmovn_s16(hi));
}

void elm__quantize_q8_0_act_neon(const float *x, void *vy, int64_t n)
{
    elm_block_q8_0 *y = vy;
    for (int64_t i = 0; i < n / ELM_QK; i++, x += ELM_QK) {
        const float amax = absmax_f32(x, ELM_QK);
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        if (!isfinite(id) || !isfinite(amax)) {
            elm__quantize_q8_0_act(x, &y[i], ELM_QK);
            continue;
        }
        y[i].d = elm_fp32_to_fp16(amax / 127);
        vst1q_s8(y[i].qs, round_pack_16(x, id));
        vst1q_s8(y[i].qs + 16, round_pack_16(x + 16, id));
    }
}

/* The first of 256 values whose magnitude is amax (one of them is), with its sign. */
static inline float first_with_magnitude(const float *x, float amax)
{
    const float32x4_t va = vdupq_n_f32(amax);
    for (int j = 0; j < ELM_QK_K; j += 4) {
        const uint32x4_t hit = vceqq_f32(vabsq_f32(vld1q_f32(x + j)), va);
        if (vmaxvq_u32(hit))
            for (int k = 0; k < 4; k++)
                if (fabsf(x[j + k]) == amax) return x[j + k];
    }
    return 0;
}

void elm__quantize_q8_K_neon(const float *x, void *vy, int64_t n)
{
    elm_block_q8_K *y = vy;
    for (int64_t i = 0; i < n / ELM_QK_K; i++, x += ELM_QK_K) {
        const float amax = absmax_f32(x, ELM_QK_K);
        /* The reference scales by the first value of largest magnitude, with its sign. */
        const float max = isfinite(amax) ? first_with_magnitude(x, amax) : 0.0f;
        const float iscale = max != 0.0f ? -127.f / max : 0.0f;
        if (!max || !isfinite(iscale)) {
            elm__quantize_q8_K_ref(x, &y[i], ELM_QK_K);
            continue;
        }
        for (int c = 0; c < ELM_QK_K / 16; c++) {
            const int8x16_t q = round_pack_16(x + 16 * c, iscale);
            vst1q_s8(y[i].qs + 16 * c, q);
            y[i].bsums[c] = vaddlvq_s8(q);
        }
        elm__q8k_set_d(&y[i], 1 / iscale);
    }
}

#endif
