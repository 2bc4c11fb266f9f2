/* AVX2 matrix × vector for decode (elm_gemv_fn; the layout is x86_gemv.h's): q4_0 and q5_0
 * weights with q8_0 activations, the AVX-512 tier's layout taken half a group (two blocks) per
 * 256-bit register, vpmaddubsw and vpmaddwd in place of vpdpbusd. Integer sums per block are
 * exact; the float sums run in another order than the reference's. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#include "edgelm/kernels.h"
#include "kernels/ref/ref.h"
#include "kernels/x86/x86.h"
#include "kernels/x86/x86_common.h"
#include "kernels/x86/x86_gemv.h"

#define ELM__INLINE ELM__AVX2 static inline __attribute__((always_inline))

/* The 16 bytes at p in the low lane, those at p + 34 (the next q8_0 block's) in the high. */
ELM__INLINE __m256i two_lanes(const int8_t *p)
{
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)p)),
                                   _mm_loadu_si128((const __m128i *)(p + sizeof(elm_block_q8_0))),
                                   1);
}

/* Four fp16 scales as floats, each in 4 lanes: blocks 0-1 in *lo, 2-3 in *hi. */
ELM__INLINE void spread_scales(uint16_t d0, uint16_t d1, uint16_t d2, uint16_t d3, __m256 *lo,
                                __m256 *hi)
{
    const uint64_t w = d0 | (uint32_t)d1 << 16 | (uint64_t)d2 << 32 | (uint64_t)d3 << 48;
    const __m256 d = _mm256_castps128_ps256(_mm_cvtph_ps(_mm_cvtsi64_si128((long long)w)));
    *lo = _mm256_permutevar8x32_ps(d, _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1));
    *hi = _mm256_permutevar8x32_ps(d, _mm256_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3));
}

static ELM__AVX2 void prepare_avx2(int64_t n_groups, const elm_block_q8_0 *y, act_group_t *p,
                                   char bias)
{
    const __m256i bias_v = _mm256_set1_epi8(bias), ones = _mm256_set1_epi16(1);
    for (int64_t g = 0; g < n_groups; g++, y += GROUP_BLOCKS) {
        for (int h = 0; h < 2; h++) {
            const __m256i lo = two_lanes(y[2 * h].qs), hi = two_lanes(y[2 * h].qs + 16);
            _mm256_store_si256((__m256i *)(p[g].lo + 32 * h), lo);
            _mm256_store_si256((__m256i *)(p[g].hi + 32 * h), hi);
            /* bias · (y pairs) as int16 (|.| <= 16 · 254 · 2), then pairs of those into int32 */
            const __m256i sum8 =
                _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(bias_v, lo),
                                                   _mm256_maddubs_epi16(bias_v, hi)),
                                  ones);
            _mm256_store_si256((__m256i *)(p[g].offset + 8 * h),
                               _mm256_sub_epi32(_mm256_setzero_si256(), sum8));
        }
        __m256 d01, d23;
        spread_scales(y[0].d, y[1].d, y[2].d, y[3].d, &d01, &d23);
        _mm256_store_ps(p[g].dy, d01);
        _mm256_store_ps(p[g].dy + 8, d23);
    }
}

static ELM__AVX2 void lay_out_q4_0_avx2(int64_t n_groups, const void *y, void *p)
{
    prepare_avx2(n_groups, y, p, 8);
}

static ELM__AVX2 void lay_out_q5_0_avx2(int64_t n_groups, const void *y, void *p)
{
    prepare_avx2(n_groups, y, p, 16);
}

ELM__AVX2 size_t elm__gemv_prepare_q4_0_avx2(int64_t n, const void *a, void *p)
{
    return prepare_groups(n, GROUP_VALUES, sizeof(act_group_t), a, p, lay_out_q4_0_avx2);
}

ELM__AVX2 size_t elm__gemv_prepare_q5_0_avx2(int64_t n, const void *a, void *p)
{
    return prepare_groups(n, GROUP_VALUES, sizeof(act_group_t), a, p, lay_out_q5_0_avx2);
}

/* The levels (0..31, offset not removed) of q4_0 / q5_0 blocks b0 and b1: values 0-15 of b0 in
 * the low lane of *lo and of b1 in the high lane; values 16-31 likewise in *hi. */
typedef void (*levels2_fn)(const uint8_t *b0, const uint8_t *b1, __m256i *lo, __m256i *hi);

ELM__INLINE __m256i nibble_pair(const uint8_t *qs0, const uint8_t *qs1)
{
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)qs0)),
                                   _mm_loadu_si128((const __m128i *)qs1), 1);
}

ELM__INLINE void levels_q4_0(const uint8_t *b0, const uint8_t *b1, __m256i *lo, __m256i *hi)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i q = nibble_pair(((const elm_block_q4_0 *)(const void *)b0)->qs,
                                  ((const elm_block_q4_0 *)(const void *)b1)->qs);
    *lo = _mm256_and_si256(q, m4);
    *hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
}

/* q5_0: each level's fifth bit (bit k of qh is value k's) spread to bytes and or-ed in as 16,
 * the low halves of the two blocks' qh for lo, the high halves for hi. */
ELM__INLINE void levels_q5_0(const uint8_t *b0, const uint8_t *b1, __m256i *lo, __m256i *hi)
{
    const elm_block_q5_0 *x0 = (const elm_block_q5_0 *)(const void *)b0;
    const elm_block_q5_0 *x1 = (const elm_block_q5_0 *)(const void *)b1;
    const __m256i m4 = _mm256_set1_epi8(0x0F), sixteen = _mm256_set1_epi8(16);
    uint32_t h0, h1;
    memcpy(&h0, x0->qh, sizeof h0);
    memcpy(&h1, x1->qh, sizeof h1);
    const __m256i q = nibble_pair(x0->qs, x1->qs);
    *lo = _mm256_or_si256(_mm256_and_si256(q, m4),
                          _mm256_and_si256(bits_of((h0 & 0xFFFF) | h1 << 16), sixteen));
    *hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4),
                          _mm256_and_si256(bits_of(h0 >> 16 | (h1 & 0xFFFF0000u)), sixteen));
}

/* Dot product of n_groups groups of a q4_0 or q5_0 row x (blocks of bsize bytes, each starting
 * with its fp16 scale) with the prepared activation p. */
ELM__INLINE float row_avx2(int64_t n_groups, const uint8_t *x, size_t bsize, levels2_fn levels,
                            const act_group_t *p)
{
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t g = 0; g < n_groups; g++, x += GROUP_BLOCKS * bsize) {
        uint16_t d[GROUP_BLOCKS];
        for (int k = 0; k < GROUP_BLOCKS; k++)
            memcpy(&d[k], x + k * bsize, sizeof d[k]);
        __m256 dx[2];
        spread_scales(d[0], d[1], d[2], d[3], &dx[0], &dx[1]);
        for (int h = 0; h < 2; h++) {
            __m256i lo, hi;
            levels(x + 2 * h * bsize, x + (2 * h + 1) * bsize, &lo, &hi);
            /* levels (0..31) × int8 in int16 pairs: |lo + hi| <= 2 · 2 · 31 · 127 < 2^15 */
            const __m256i s16 = _mm256_add_epi16(
                _mm256_maddubs_epi16(lo, _mm256_load_si256((const __m256i *)(p[g].lo + 32 * h))),
                _mm256_maddubs_epi16(hi, _mm256_load_si256((const __m256i *)(p[g].hi + 32 * h))));
            const __m256i s =
                _mm256_add_epi32(_mm256_madd_epi16(s16, ones),
                                 _mm256_load_si256((const __m256i *)(p[g].offset + 8 * h)));
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s),
                                  _mm256_mul_ps(dx[h], _mm256_load_ps(p[g].dy + 8 * h)), acc);
        }
    }
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    return _mm_cvtss_f32(_mm_add_ss(r, _mm_movehdup_ps(r)));
}

ELM__INLINE float row_q4_0_avx2(int64_t n_groups, const uint8_t *x, const act_group_t *p)
{
    return row_avx2(n_groups, x, sizeof(elm_block_q4_0), levels_q4_0, p);
}

ELM__INLINE float row_q5_0_avx2(int64_t n_groups, const uint8_t *x, const act_group_t *p)
{
    return row_avx2(n_groups, x, sizeof(elm_block_q5_0), levels_q5_0, p);
}

ELM__AVX2 void elm__gemv_q4_0_q8_0_avx2(int64_t n, int64_t n_out, const void *w, size_t w_stride,
                                        const void *p, float *y)
{
    GEMV(GROUP_VALUES, row_q4_0_avx2);
}

ELM__AVX2 void elm__gemv_q5_0_q8_0_avx2(int64_t n, int64_t n_out, const void *w, size_t w_stride,
                                        const void *p, float *y)
{
    GEMV(GROUP_VALUES, row_q5_0_avx2);
}

#endif
