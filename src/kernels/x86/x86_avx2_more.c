/* AVX2 kernels of the types the first AVX2 files lack: the q4_1 x q8_1 and q5_K x q8_K dot
 * products (integer sums per block exact, as in the reference; blocks scaled and summed in f32
 * lanes) and the bf16 one (a bf16 value is the top half of an f32, so widening and shifting
 * converts it exactly; the reference sums in double, so results differ in the last bits). */
#if defined(__x86_64__)
#include <immintrin.h>

#include "edgelm/kernels.h"
#include "kernels/ref/ref.h"
#include "kernels/x86/x86.h"
#include "kernels/x86/x86_avx512.h"
#include "kernels/x86/x86_common.h"

/* ---- q4_1 ---- */

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

/* ---- q5_K ---- */

ELM__AVX2 void elm__vec_dot_q5_K_q8_K_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
    const elm_block_q5_K *x = vx;
    const elm_block_q8_K *y = vy;
    const __m256i m4 = _mm256_set1_epi8(0x0F), sixteen = _mm256_set1_epi8(16);
    __m256 acc = _mm256_setzero_ps();
    float acc_min = 0;
    for (int64_t i = 0; i < n / ELM_QK_K; i++) {
        const float dy = elm__q8k_d(&y[i]);
        uint8_t sc[8], m[8];
        int summs = 0;
        for (int k = 0; k < 8; k++) {
            elm__k4_scale_min(k, x[i].scales, &sc[k], &m[k]);
            summs += m[k] * (y[i].bsums[2 * k] + y[i].bsums[2 * k + 1]);
        }
        const __m256i hb = _mm256_loadu_si256((const __m256i *)x[i].qh);
        const uint8_t *q4 = x[i].qs;
        const int8_t *q8 = y[i].qs;
        __m256i sumi = _mm256_setzero_si256();
        /* Chunk c: 32 bytes whose low nibbles are values 64c.. (scale 2c, fifth bit 2c of qh)
         * and high nibbles values 64c+32.. (scale 2c+1, bit 2c+1). Levels (0..31) * int8 pairs
         * fit maddubs' int16 (2 * 31 * 128). */
        for (int c = 0; c < 4; c++, q4 += 32, q8 += 64) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)q4);
            const __m256i b_lo = _mm256_set1_epi8((char)(1 << 2 * c));
            const __m256i b_hi = _mm256_set1_epi8((char)(2 << 2 * c));
            const __m256i lo = _mm256_add_epi8(
                _mm256_and_si256(bits, m4),
                _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hb, b_lo), b_lo), sixteen));
            const __m256i hi = _mm256_add_epi8(
                _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4),
                _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hb, b_hi), b_hi), sixteen));
            const __m256i p_lo = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)q8));
            const __m256i p_hi =
                _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(q8 + 32)));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_set1_epi16(sc[2 * c]), p_lo));
            sumi =
                _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_set1_epi16(sc[2 * c + 1]), p_hi));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dy * fp16_to_f32(x[i].d)), _mm256_cvtepi32_ps(sumi),
                              acc);
        acc_min += dy * fp16_to_f32(x[i].dmin) * summs;
    }
    *s = hsum_f32x8(acc) - acc_min;
}

/* ---- float rows ---- */

/* 8 bf16 from any even address, as floats. */
ELM__AVX2 static inline __m256 load_bf16x8(const uint16_t *h)
{
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)h));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

ELM__AVX2 void elm__vec_dot_bf16_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
    const uint16_t *x = vx, *y = vy;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; k++)
            acc[k] =
                _mm256_fmadd_ps(load_bf16x8(x + i + 8 * k), load_bf16x8(y + i + 8 * k), acc[k]);
    for (; i + 8 <= n; i += 8)
        acc[0] = _mm256_fmadd_ps(load_bf16x8(x + i), load_bf16x8(y + i), acc[0]);
    float sum =
        hsum_f32x8(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; i < n; i++)
        sum += elm_bf16_to_fp32(x[i]) * elm_bf16_to_fp32(y[i]);
    *s = sum;
}

#endif
