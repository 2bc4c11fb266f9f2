/* kernels/arm internals: the integer kernels of one NEON tier, written once and compiled twice:
 * arm_neon.c (plain ARMv8-A: int8 products widened with smull and pairwise-added into int32) and
 * arm_dotprod.c (sdot: four int8 products summed into each int32 lane in one instruction). The
 * including file defines
 *   ARM_TIER(name)  the name of a kernel of the tier (name##_neon)
 *   ARM_ATTR        the tier's function attribute (empty, or ELM__DOTPROD)
 *   ARM_SDOT        1 to use sdot
 * The q4_0 / q5_0 / q8_0 dot products with q8_0 activations and their matrix products share one
 * tile loop; q4_K and q6_K take q8_K activations. Every integer sum is exact, as in the
 * reference; only the f32 sums of scaled blocks are ordered differently (by lane), so results
 * differ from the reference in the last bits. All loads are unaligned: blocks inside a GGUF
 * mapping are only 2-byte aligned. */
#if defined(__aarch64__)
#include <arm_neon.h>
#include <string.h>

#include "edgelm/kernels.h"
#include "kernels/arm/arm.h"
#include "kernels/ref/ref.h"

#define ARM_INLINE ARM_ATTR static inline __attribute__((always_inline))

/* fp16 scales, with one fcvt: the same values as elm_fp16_to_fp32. */
ARM_INLINE float fp16_to_f32(const void *p)
{
    __fp16 h;
    memcpy(&h, p, sizeof h);
    return (float)h;
}

/* acc + the 16 products a[i] * b[i], summed four at a time into the four int32 lanes (sdot), or
 * eight at a time (smull + sadalp); only the sum of the lanes is used. */
ARM_INLINE int32x4_t dot_i8x16(int32x4_t acc, int8x16_t a, int8x16_t b)
{
#if ARM_SDOT
    return vdotq_s32(acc, a, b);
#else
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
#endif
}

/* ---- 32-value blocks ---- */

/* The 32 levels of a weight block, as int8 values 0..15 (lo) and 16..31 (hi), with the offset
 * of the type removed. Every 32-block type starts with its fp16 scale d. */
typedef void (*levels_fn)(const uint8_t *block, int8x16_t *lo, int8x16_t *hi);

ARM_INLINE void levels_q4_0(const uint8_t *block, int8x16_t *lo, int8x16_t *hi)
{
    const uint8x16_t b = vld1q_u8(((const elm_block_q4_0 *)(const void *)block)->qs);
    const int8x16_t eight = vdupq_n_s8(8);
    *lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(b, vdupq_n_u8(0x0F))), eight);
    *hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(b, 4)), eight);
}

/* Bytes 0xFF where bit i of the 16-bit word h is set, 0 elsewhere. */
ARM_INLINE uint8x16_t bits_16(uint32_t h)
{
    const uint8x16_t bytes = vcombine_u8(vdup_n_u8((uint8_t)h), vdup_n_u8((uint8_t)(h >> 8)));
    return vtstq_u8(bytes, vreinterpretq_u8_u64(vdupq_n_u64(0x8040201008040201ull)));
}

ARM_INLINE void levels_q5_0(const uint8_t *block, int8x16_t *lo, int8x16_t *hi)
{
    const elm_block_q5_0 *x = (const elm_block_q5_0 *)(const void *)block;
    uint32_t h;
    memcpy(&h, x->qh, sizeof h);
    const uint8x16_t b = vld1q_u8(x->qs), m4 = vdupq_n_u8(0x0F), top = vdupq_n_u8(0xF0);
    /* level - 16 = nibble + 16 * bit - 16: where the fifth bit is clear, setting the top nibble
     * to 0xF subtracts 16 in two's complement. */
    *lo = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(b, m4), vbicq_u8(top, bits_16(h))));
    *hi = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(b, 4), vbicq_u8(top, bits_16(h >> 16))));
}

ARM_INLINE void levels_q8_0(const uint8_t *block, int8x16_t *lo, int8x16_t *hi)
{
    const elm_block_q8_0 *x = (const elm_block_q8_0 *)(const void *)block;
    *lo = vld1q_s8(x->qs);
    *hi = vld1q_s8(x->qs + 16);
}

/* y[r * ldy + o] = dot(weight row o, activation row r) for o < ro (at most TILE_O), r < ra (at
 * most TILE_A), rows of nb blocks of bsize bytes, weight rows w_stride and q8_0 activation rows
 * a_stride bytes apart. Each weight block is unpacked once for the ra activations; each (o, r)
 * pair keeps four f32 lanes of scaled block sums. With constant ro and ra the loops unroll (the
 * pragmas: GCC does not at -O2) and the 8 accumulators, 8 activation vectors and the unpacked
 * weights fit in the 32 NEON registers. */
enum { TILE_O = 2, TILE_A = 4 };

ARM_INLINE void tile_32(int64_t nb, int ro, int ra, const uint8_t *w, size_t w_stride, size_t bsize,
                        levels_fn levels, const uint8_t *a, size_t a_stride, float *y, size_t ldy)
{
    float32x4_t acc[TILE_O][TILE_A];
#pragma GCC unroll 4
    for (int o = 0; o < ro; o++)
#pragma GCC unroll 4
        for (int r = 0; r < ra; r++)
            acc[o][r] = vdupq_n_f32(0);
    for (int64_t b = 0; b < nb; b++) {
        int8x16_t alo[TILE_A], ahi[TILE_A];
        float ad[TILE_A];
#pragma GCC unroll 4
        for (int r = 0; r < ra; r++) {
            const elm_block_q8_0 *ab = (const elm_block_q8_0 *)(const void *)(a + r * a_stride) + b;
            alo[r] = vld1q_s8(ab->qs);
            ahi[r] = vld1q_s8(ab->qs + 16);
            ad[r] = fp16_to_f32(&ab->d);
        }
#pragma GCC unroll 4
        for (int o = 0; o < ro; o++) {
            const uint8_t *wb = w + o * w_stride + (size_t)b * bsize;
            int8x16_t lo, hi;
            levels(wb, &lo, &hi);
            const float wd = fp16_to_f32(wb);
#pragma GCC unroll 4
            for (int r = 0; r < ra; r++) {
                const int32x4_t sumi = dot_i8x16(dot_i8x16(vdupq_n_s32(0), lo, alo[r]), hi, ahi[r]);
                acc[o][r] = vfmaq_n_f32(acc[o][r], vcvtq_f32_s32(sumi), wd * ad[r]);
            }
        }
    }
#pragma GCC unroll 4
    for (int o = 0; o < ro; o++)
#pragma GCC unroll 4
        for (int r = 0; r < ra; r++)
            y[r * ldy + o] = vaddvq_f32(acc[o][r]);
}

/* The matrix product of the elm_gemm_fn contract in TILE_O x TILE_A tiles, the edges in
 * TILE_O x 1 and 1 x 1 tiles. */
ARM_INLINE void gemm_32(int64_t n, int64_t n_out, int64_t n_act, const void *vw, size_t w_stride,
                        size_t bsize, levels_fn levels, const void *va, size_t a_stride, float *y,
                        size_t ldy)
{
    const uint8_t *w = vw, *a = va;
    const int64_t nb = n / ELM_QK;
    int64_t o = 0;
    for (; o + TILE_O <= n_out; o += TILE_O) {
        int64_t r = 0;
        for (; r + TILE_A <= n_act; r += TILE_A)
            tile_32(nb, TILE_O, TILE_A, w + o * w_stride, w_stride, bsize, levels, a + r * a_stride,
                    a_stride, y + r * ldy + o, ldy);
        for (; r < n_act; r++)
            tile_32(nb, TILE_O, 1, w + o * w_stride, w_stride, bsize, levels, a + r * a_stride,
                    a_stride, y + r * ldy + o, ldy);
    }
    for (; o < n_out; o++)
        for (int64_t r = 0; r < n_act; r++)
            tile_32(nb, 1, 1, w + o * w_stride, w_stride, bsize, levels, a + r * a_stride, a_stride,
                    y + r * ldy + o, ldy);
}

ARM_ATTR void ARM_TIER(elm__vec_dot_q4_0_q8_0)(int64_t n, float *s, const void *x, const void *y)
{
    tile_32(n / ELM_QK, 1, 1, x, 0, sizeof(elm_block_q4_0), levels_q4_0, y, 0, s, 0);
}

ARM_ATTR void ARM_TIER(elm__vec_dot_q5_0_q8_0)(int64_t n, float *s, const void *x, const void *y)
{
    tile_32(n / ELM_QK, 1, 1, x, 0, sizeof(elm_block_q5_0), levels_q5_0, y, 0, s, 0);
}

ARM_ATTR void ARM_TIER(elm__vec_dot_q8_0_q8_0)(int64_t n, float *s, const void *x, const void *y)
{
    tile_32(n / ELM_QK, 1, 1, x, 0, sizeof(elm_block_q8_0), levels_q8_0, y, 0, s, 0);
}

ARM_ATTR void ARM_TIER(elm__gemm_q4_0_q8_0)(int64_t n, int64_t n_out, int64_t n_act, const void *w,
                                            size_t w_stride, const void *a, size_t a_stride,
                                            float *y, size_t ldy)
{
    gemm_32(n, n_out, n_act, w, w_stride, sizeof(elm_block_q4_0), levels_q4_0, a, a_stride, y, ldy);
}

ARM_ATTR void ARM_TIER(elm__gemm_q5_0_q8_0)(int64_t n, int64_t n_out, int64_t n_act, const void *w,
                                            size_t w_stride, const void *a, size_t a_stride,
                                            float *y, size_t ldy)
{
    gemm_32(n, n_out, n_act, w, w_stride, sizeof(elm_block_q5_0), levels_q5_0, a, a_stride, y, ldy);
}

ARM_ATTR void ARM_TIER(elm__gemm_q8_0_q8_0)(int64_t n, int64_t n_out, int64_t n_act, const void *w,
                                            size_t w_stride, const void *a, size_t a_stride,
                                            float *y, size_t ldy)
{
    gemm_32(n, n_out, n_act, w, w_stride, sizeof(elm_block_q8_0), levels_q8_0, a, a_stride, y, ldy);
}

/* ---- K-quant super-blocks ---- */

ARM_ATTR void ARM_TIER(elm__vec_dot_q4_K_q8_K)(int64_t n, float *s, const void *vx, const void *vy)
{
    const elm_block_q4_K *x = vx;
    const elm_block_q8_K *y = vy;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    float sum = 0;
    for (int64_t i = 0; i < n / ELM_QK_K; i++) {
        uint8_t sc[8], m[8];
        for (int k = 0; k < 8; k++)
            elm__k4_scale_min(k, x[i].scales, &sc[k], &m[k]);
        /* The mins meet the sums of each 32 activations: pairs of the 16-value bsums. */
        const int16x8_t bs = vpaddq_s16(vld1q_s16(y[i].bsums), vld1q_s16(y[i].bsums + 8));
        const int16x8_t mins = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(m)));
        const int summs = vaddvq_s32(
            vaddq_s32(vmull_s16(vget_low_s16(bs), vget_low_s16(mins)), vmull_high_s16(bs, mins)));
        const uint8_t *q4 = x[i].qs;
        const int8_t *q8 = y[i].qs;
        int32x4_t sumi = vdupq_n_s32(0);
        /* Chunk c: 32 bytes whose low nibbles are values 64c.. (scale 2c) and high nibbles
         * values 64c+32.. (scale 2c+1). */
        for (int c = 0; c < 4; c++, q4 += 32, q8 += 64) {
            const uint8x16_t b0 = vld1q_u8(q4), b1 = vld1q_u8(q4 + 16);
            const int8x16_t lo0 = vreinterpretq_s8_u8(vandq_u8(b0, m4));
            const int8x16_t lo1 = vreinterpretq_s8_u8(vandq_u8(b1, m4));
            const int8x16_t hi0 = vreinterpretq_s8_u8(vshrq_n_u8(b0, 4));
            const int8x16_t hi1 = vreinterpretq_s8_u8(vshrq_n_u8(b1, 4));
            const int32x4_t p_lo =
                dot_i8x16(dot_i8x16(vdupq_n_s32(0), lo0, vld1q_s8(q8)), lo1, vld1q_s8(q8 + 16));
            const int32x4_t p_hi = dot_i8x16(dot_i8x16(vdupq_n_s32(0), hi0, vld1q_s8(q8 + 32)), hi1,
                                             vld1q_s8(q8 + 48));
            sumi = vmlaq_n_s32(sumi, p_lo, sc[2 * c]);
            sumi = vmlaq_n_s32(sumi, p_hi, sc[2 * c + 1]);
        }
        const float dy = elm__q8k_d(&y[i]);
        sum += dy * fp16_to_f32(&x[i].d) * vaddvq_s32(sumi) - dy * fp16_to_f32(&x[i].dmin) * summs;
    }
    *s = sum;
}

ARM_ATTR void ARM_TIER(elm__vec_dot_q6_K_q8_K)(int64_t n, float *s, const void *vx, const void *vy)
{
    const elm_block_q6_K *x = vx;
    const elm_block_q8_K *y = vy;
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m2 = vdupq_n_u8(3);
    const int8x16_t m32 = vdupq_n_s8(32);
    float sum = 0;
    for (int64_t i = 0; i < n / ELM_QK_K; i++) {
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *q8 = y[i].qs;
        int32x4_t sumi = vdupq_n_s32(0);
        /* Half h: values 128h + 32j + l, j = 0..3, take the low (j < 2) or high nibbles of
         * ql[64h + 32(j&1) + l] and bits 2j of qh[32h + l]; value v uses scale v / 16. */
        for (int h = 0; h < 2; h++, ql += 64, qh += 32) {
            const uint8x16_t l[4] = {vld1q_u8(ql), vld1q_u8(ql + 16), vld1q_u8(ql + 32),
                                     vld1q_u8(ql + 48)};
            const uint8x16_t hb[2] = {vld1q_u8(qh), vld1q_u8(qh + 16)};
            for (int j = 0; j < 4; j++, q8 += 32) {
                const int k = 8 * h + 2 * j; /* scale of the first 16 values */
                for (int half = 0; half < 2; half++) {
                    const uint8x16_t src = l[2 * (j & 1) + half];
                    const uint8x16_t low = j < 2 ? vandq_u8(src, m4) : vshrq_n_u8(src, 4);
                    const uint8x16_t top = vshlq_n_u8(
                        vandq_u8(vshlq_u8(hb[half], vdupq_n_s8((int8_t)(-2 * j))), m2), 4);
                    const int8x16_t q6 = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(low, top)), m32);
                    const int32x4_t p = dot_i8x16(vdupq_n_s32(0), q6, vld1q_s8(q8 + 16 * half));
                    sumi = vmlaq_n_s32(sumi, p, x[i].scales[k + half]);
                }
            }
        }
        sum += fp16_to_f32(&x[i].d) * elm__q8k_d(&y[i]) * vaddvq_s32(sumi);
    }
    *s = sum;
}

#undef ARM_INLINE
#endif
