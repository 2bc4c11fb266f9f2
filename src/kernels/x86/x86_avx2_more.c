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
    __m256 acc = _mm256_setzero_ps();
    __m128 acc_min = _mm_setzero_ps();
    for (int64_t i = 0; i < n / ELM_QK_K; i++)
        k45_superblock(x[i].scales, x[i].qs, x[i].qh, x[i].d, x[i].dmin, &y[i], &acc, &acc_min);
    *s = hsum_f32x8(acc) - hsum_f32x4(acc_min);
}

/* ---- float rows ---- */

/* 8 bf16 from any even address, as floats. */
ELM__AVX2 static inline __m256 load_bf16x8(const uint16_t *h)
{
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)h));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

ELM__AVX2 static inline float bf16_at(const uint16_t *h)
{
    return elm_bf16_to_fp32(*h);
}

ELM__AVX2 void elm__vec_dot_bf16_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
    const uint16_t *x = vx, *y = vy;
    ELM__AVX2_DOT_FLOAT_ROWS(n, s, x, y, load_bf16x8, bf16_at);
}

#endif
