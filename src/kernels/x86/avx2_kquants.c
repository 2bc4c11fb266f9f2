/* AVX2 kernels of the K-quants: the q4_K, q5_K and q6_K dot products with q8_K activations, and the
 * q8_K activation quantizer (the same bytes as kernels/ref's). Integer sums per sub-block are
 * exact, as in the reference; super-blocks are scaled and summed in eight f32 lanes. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

#include "edgelm/kernels.h"
#include "kernels/ref/ref.h"
#include "kernels/x86/x86.h"
#include "kernels/x86/x86_common.h"

/* ---- dot products ---- */

ELM__AVX2 void elm__vec_dot_q4_K_q8_K_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
    const elm_block_q4_K *x = vx;
    const elm_block_q8_K *y = vy;
    __m256 acc = _mm256_setzero_ps();
    __m128 acc_min = _mm_setzero_ps();
    for (int64_t i = 0; i < n / ELM_QK_K; i++)
        k45_superblock(x[i].scales, x[i].qs, NULL, x[i].d, x[i].dmin, &y[i], &acc, &acc_min);
    *s = hsum_f32x8(acc) - hsum_f32x4(acc_min);
}

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

ELM__AVX2 void elm__vec_dot_q6_K_q8_K_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
    const elm_block_q6_K *x = vx;
    const elm_block_q8_K *y = vy;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i m2 = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / ELM_QK_K; i++) {
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *q8 = y[i].qs;
        /* The 16 scales as int16: 0-7 in the low lane, 8-15 in the high. Levels are stored
         * + 32: sum(scale · (level + 32) · q8) - 32 · sum(scale_k · bsum_k) */
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales));
        const __m256i off =
            _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)y[i].bsums));
        /* scales 8h..8h+7 in both lanes */
        const __m256i sc_half[2] = {_mm256_permute2x128_si256(sc16, sc16, 0x00),
                                    _mm256_permute2x128_si256(sc16, sc16, 0x11)};
        __m256i sumi = _mm256_setzero_si256();
        /* Half h: values 128h + 32j + l, j = 0..3, take low (j even) or high (j odd) nibbles of
         * ql[64h + 32(j&1) + l] and bits 2j of qh[32h + l]; value j * 16 uses scale j / 16. */
        for (int h = 0; h < 2; h++, ql += 64, qh += 32) {
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            const __m256i hb = _mm256_loadu_si256((const __m256i *)qh);
            const __m256i low[4] = {_mm256_and_si256(l0, m4), _mm256_and_si256(l1, m4),
                                    _mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                    _mm256_and_si256(_mm256_srli_epi16(l1, 4), m4)};
            for (int j = 0; j < 4; j++, q8 += 32) {
                const __m256i top =
                    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * j), m2), 4);
                const __m256i q6 = _mm256_or_si256(low[j], top); /* level + 32, in 0..63 */
                /* (level + 32) · q8 in int16 pairs: at most 2 · 63 · 128 */
                const __m256i p16 =
                    _mm256_maddubs_epi16(q6, _mm256_loadu_si256((const __m256i *)q8));
                /* scale 8h + 2j in the low lane's words, 8h + 2j + 1 in the high lane's */
                const __m256i scale = _mm256_shuffle_epi8(
                    sc_half[h], _mm256_setr_epi64x(0x0100010001000100 + 0x0404040404040404 * j,
                                                   0x0100010001000100 + 0x0404040404040404 * j,
                                                   0x0302030203020302 + 0x0404040404040404 * j,
                                                   0x0302030203020302 + 0x0404040404040404 * j));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(scale, p16));
            }
        }
        sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(off, 5));
        const float d = fp16_to_f32(x[i].d) * elm__q8k_d(&y[i]);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum_f32x8(acc);
}

/* ---- q8_K activation quantizer ---- */

/* The first of 256 values whose magnitude is amax (one of them is), with its sign. */
ELM__AVX2 static inline float first_with_magnitude(const float *x, float amax)
{
    const __m256 sign = _mm256_set1_ps(-0.0f), va = _mm256_set1_ps(amax);
    for (int j = 0; j < ELM_QK_K; j += 8) {
        const __m256 a = _mm256_andnot_ps(sign, _mm256_loadu_ps(x + j));
        const int hit = _mm256_movemask_ps(_mm256_cmp_ps(a, va, _CMP_EQ_OQ));
        if (hit) return x[j + __builtin_ctz((unsigned)hit)];
    }
    return 0;
}

ELM__AVX2 void elm__quantize_q8_K_avx2(const float *x, void *vy, int64_t n)
{
    elm_block_q8_K *y = vy;
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    for (int64_t i = 0; i < n / ELM_QK_K; i++, x += ELM_QK_K) {
        const float amax = absmax_f32(x, ELM_QK_K);
        /* The reference scales by the first value of largest magnitude, with its sign. */
        const float max = first_with_magnitude(x, amax);
        const float iscale = max != 0.0f ? -127.f / max : 0.0f;
        if (!max || !isfinite(iscale) || !isfinite(max)) {
            /* All zero, or a scale that overflows: the reference defines these bytes. */
            elm__quantize_q8_K_ref(x, &y[i], ELM_QK_K);
            continue;
        }
        const __m256 vs = _mm256_set1_ps(iscale);
        for (int c = 0; c < ELM_QK_K / 32; c++) {
            const __m256i q = round_pack_32(x + 32 * c, vs);
            _mm256_storeu_si256((__m256i *)(y[i].qs + 32 * c), q);
            /* Sums of each 16 values: quads of bytes as int32, then two horizontal adds leave
             * each 128-bit half's sum in its first dword. */
            const __m256i quads = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, q), ones16);
            const __m256i pairs = _mm256_hadd_epi32(quads, quads);
            const __m256i sums = _mm256_hadd_epi32(pairs, pairs);
            y[i].bsums[2 * c] = (int16_t)_mm256_extract_epi32(sums, 0);
            y[i].bsums[2 * c + 1] = (int16_t)_mm256_extract_epi32(sums, 4);
        }
        elm__q8k_set_d(&y[i], 1 / iscale);
    }
}

#endif
