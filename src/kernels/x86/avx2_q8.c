/* AVX2 kernels of the 32-value block types: the q4_0 / q5_0 / q8_0 dot products with q8_0
 * activations, q4_1 with q8_1, and the q8_0 activation quantizer (the same bytes as kernels/ref's). Each block's
 * integer dot product is exact, as in the reference; the blocks' scaled sums are kept in eight
 * f32 lanes and added at the end, so results differ from the reference in the last bits. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

#include "edgelm/kernels.h"
#include "kernels/ref/ref.h"
#include "kernels/x86/x86.h"
#include "kernels/x86/x86_common.h"

/* ---- dot products ---- */

/* acc += (dx * dy) * sum, the reference's per-block scaling (one rounding more: the FMA). */
ELM__AVX2 static inline __m256 scale_add(__m256 acc, uint16_t dx, uint16_t dy, __m256i sum)
{
    const __m256 d = _mm256_set1_ps(fp16_to_f32(dx) * fp16_to_f32(dy));
    return _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sum), acc);
}

ELM__AVX2 void elm__vec_dot_q4_0_q8_0_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
    const elm_block_q4_0 *x = vx;
    const elm_block_q8_0 *y = vy;
    const __m256i eight = _mm256_set1_epi8(8);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / ELM_QK; i++) {
        const __m256i qx = _mm256_sub_epi8(nibbles_32(x[i].qs), eight);
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc = scale_add(acc, x[i].d, y[i].d, mul_sum_i8_quads(qx, qy));
    }
    *s = hsum_f32x8(acc);
}

ELM__AVX2 void elm__vec_dot_q5_0_q8_0_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
    const elm_block_q5_0 *x = vx;
    const elm_block_q8_0 *y = vy;
    const __m256i high = _mm256_set1_epi8((char)0xF0);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / ELM_QK; i++) {
        /* level - 16 = nibble + 16 * bit - 16: where the fifth bit is clear, setting the top
         * nibble to 0xF subtracts 16 in two's complement. */
        const __m256i minus = _mm256_andnot_si256(bits_32(x[i].qh), high);
        const __m256i qx = _mm256_or_si256(nibbles_32(x[i].qs), minus);
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc = scale_add(acc, x[i].d, y[i].d, mul_sum_i8_quads(qx, qy));
    }
    *s = hsum_f32x8(acc);
}

ELM__AVX2 void elm__vec_dot_q8_0_q8_0_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
    const elm_block_q8_0 *x = vx;
    const elm_block_q8_0 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / ELM_QK; i++) {
        const __m256i qx = _mm256_loadu_si256((const __m256i *)x[i].qs);
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc = scale_add(acc, x[i].d, y[i].d, mul_sum_i8_quads(qx, qy));
    }
    *s = hsum_f32x8(acc);
}

/* ---- q4_1 with q8_1 activations ---- */

ELM__AVX2 void elm__vec_dot_q4_1_q8_1_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
    const elm_block_q4_1 *x = vx;
    const elm_block_q8_1 *y = vy;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc = _mm256_setzero_ps();
    float acc_min = 0;
    for (int64_t i = 0; i < n / ELM_QK; i++) {
        /* Nibble * int8 pairs fit maddubs' int16 (2 * 15 * 128). */
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        const __m256i sum = _mm256_madd_epi16(_mm256_maddubs_epi16(nibbles_32(x[i].qs), qy), ones);
        const __m256 d = _mm256_set1_ps(fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sum), acc);
        /* The min term uses the activation block's stored s = fp16(d * sum(q)). */
        acc_min += fp16_to_f32(x[i].m) * fp16_to_f32(y[i].s);
    }
    *s = hsum_f32x8(acc) + acc_min;
}

/* ---- activation quantizer ---- */

ELM__AVX2 void elm__quantize_q8_0_act_avx2(const float *x, void *vy, int64_t n)
{
    elm_block_q8_0 *y = vy;
    for (int64_t i = 0; i < n / ELM_QK; i++, x += ELM_QK) {
        const float amax = absmax_f32(x, ELM_QK);
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        if (!isfinite(id) || !isfinite(amax)) {
            /* amax below 127 / FLT_MAX, or infinite: the reference's integer conversion of
             * infinite or NaN products is what defines these bytes. */
            elm__quantize_q8_0_act(x, &y[i], ELM_QK);
            continue;
        }
        y[i].d = f32_to_fp16(amax / 127);
        _mm256_storeu_si256((__m256i *)y[i].qs, round_pack_32(x, _mm256_set1_ps(id)));
    }
}

#endif
