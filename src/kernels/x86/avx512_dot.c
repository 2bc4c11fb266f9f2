/* AVX-512 (+VNNI) dot products for decode, where one activation row meets every weight row and
 * the kernels must keep pace with the memory: q4_0 / q5_0 / q8_0 with q8_0 activations, q4_1
 * with q8_1, q4_K / q5_K / q6_K with q8_K, and f16 / bf16 rows; and the q8_0 / q8_K activation
 * quantizers (the same bytes as kernels/ref's). 512-bit registers hold two 32-value blocks or
 * half a K-quant super-block; vpdpbusd (unsigned x signed bytes into int32) and vpdpwssd (int16
 * pairs into int32) replace AVX2's maddubs / madd / add chains. Integer sums per block are exact,
 * as in the reference; only the order of the float sums differs. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "edgelm/kernels.h"
#include "kernels/ref/ref.h"
#include "kernels/x86/avx512.h"
#include "kernels/x86/x86_common.h"

#define ELM__INLINE ELM__AVX512 static inline __attribute__((always_inline))

/* ---- 32-value blocks ----
 * Blocks go in pairs: lanes 0-7 of a 512-bit int32 sum belong to the first block, lanes 8-15 to
 * the second, so one FMA scales both. Every block type starts with its fp16 scale d. */

/* (dx0 * dy0) in lanes 0-7 and (dx1 * dy1) in lanes 8-15, from fp16 scales: the reference's
 * product of the two block scales. The four halves are packed in a general register and moved
 * over once (cheaper than inserting them one by one). */
ELM__INLINE __m512 pair_scales(uint16_t dx0, uint16_t dx1, uint16_t dy0, uint16_t dy1)
{
    const uint64_t w = dx0 | (uint64_t)dx1 << 16 | (uint64_t)dy0 << 32 | (uint64_t)dy1 << 48;
    const __m128 f = _mm_cvtph_ps(_mm_cvtsi64_si128((long long)w));
    const __m128 p = _mm_mul_ps(f, _mm_movehl_ps(f, f));
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
                                 _mm512_castps128_ps512(p));
}

/* The 32 int8 of q8_0 block a, then those of block b. */
ELM__INLINE __m512i q8_0_pair(const elm_block_q8_0 *a, const elm_block_q8_0 *b)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a->qs)),
                              _mm256_loadu_si256((const __m256i *)b->qs), 1);
}

/* The 32 nibbles of 16 bytes qa as bytes (low nibbles, then high: q4_0 / q5_0 value order),
 * then those of qb. */
ELM__INLINE __m512i nibbles_pair(const uint8_t *qa, const uint8_t *qb)
{
    const __m256i ab =
        _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)qa)),
                                _mm_loadu_si128((const __m128i *)qb), 1);
    const __m512i t = _mm512_castsi256_si512(ab);
    const __m512i aabb = _mm512_shuffle_i64x2(t, t, _MM_SHUFFLE(1, 1, 0, 0));
    return _mm512_and_si512(_mm512_srlv_epi64(aabb, _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4)),
                            _mm512_set1_epi8(0x0F));
}

/* Sums of 4 adjacent products of unsigned levels u (0..31) minus an offset, times y: u * y -
 * offset * y, with vpdpbusd for both. */
ELM__INLINE __m512i dot_u8_offset(__m512i u, __m512i y, char offset)
{
    const __m512i zero = _mm512_setzero_si512();
    return _mm512_sub_epi32(_mm512_dpbusd_epi32(zero, u, y),
                            _mm512_dpbusd_epi32(zero, _mm512_set1_epi8(offset), y));
}

/* The int32 sums of blocks i (lanes 0-7) and j (lanes 8-15) of x against y. */
typedef __m512i (*pair_dot_fn)(const void *x, int64_t i, int64_t j, const elm_block_q8_0 *y);

ELM__INLINE __m512i pair_q4_0(const void *vx, int64_t i, int64_t j, const elm_block_q8_0 *y)
{
    const elm_block_q4_0 *x = vx;
    return dot_u8_offset(nibbles_pair(x[i].qs, x[j].qs), q8_0_pair(&y[i], &y[j]), 8);
}

ELM__INLINE __m512i pair_q5_0(const void *vx, int64_t i, int64_t j, const elm_block_q8_0 *y)
{
    const elm_block_q5_0 *x = vx;
    uint32_t hi, hj;
    memcpy(&hi, x[i].qh, sizeof hi);
    memcpy(&hj, x[j].qh, sizeof hj);
    /* Bit k of qh is the fifth bit of value k: one mask bit per byte, in value order. */
    const __m512i n = nibbles_pair(x[i].qs, x[j].qs);
    const __m512i lv = _mm512_mask_add_epi8(n, (__mmask64)hj << 32 | hi, n, _mm512_set1_epi8(16));
    return dot_u8_offset(lv, q8_0_pair(&y[i], &y[j]), 16);
}

ELM__INLINE __m512i pair_q8_0(const void *vx, int64_t i, int64_t j, const elm_block_q8_0 *y)
{
    const elm_block_q8_0 *x = vx;
    const __m512i qx = q8_0_pair(&x[i], &x[j]), qy = q8_0_pair(&y[i], &y[j]);
    /* vpdpbusd multiplies unsigned by signed bytes: x's sign moves onto y (x is never -128). */
    const __m512i sy =
        _mm512_mask_sub_epi8(qy, _mm512_movepi8_mask(qx), _mm512_setzero_si512(), qy);
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(qx), sy);
}

/* sum over the nb blocks of x (block_size bytes each) of (dx * dy) * (integer dot product). An
 * odd last block pairs with itself, its second copy scaled by 0. */
ELM__INLINE float dot_pairs(int64_t nb, const void *x, size_t block_size, const elm_block_q8_0 *y,
                            pair_dot_fn dot)
{
    const uint8_t *xb = x;
    __m512 acc = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        uint16_t d0, d1;
        memcpy(&d0, xb + (size_t)i * block_size, sizeof d0);
        memcpy(&d1, xb + (size_t)(i + 1) * block_size, sizeof d1);
        const __m512 d = pair_scales(d0, d1, y[i].d, y[i + 1].d);
        acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(dot(x, i, i + 1, y)), acc);
    }
    if (i < nb) {
        uint16_t d0;
        memcpy(&d0, xb + (size_t)i * block_size, sizeof d0);
        const __m512 d = pair_scales(d0, 0, y[i].d, 0);
        acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(dot(x, i, i, y)), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

ELM__AVX512 void elm__vec_dot_q4_0_q8_0_avx512(int64_t n, float *s, const void *x, const void *y)
{
    *s = dot_pairs(n / ELM_QK, x, sizeof(elm_block_q4_0), y, pair_q4_0);
}

ELM__AVX512 void elm__vec_dot_q5_0_q8_0_avx512(int64_t n, float *s, const void *x, const void *y)
{
    *s = dot_pairs(n / ELM_QK, x, sizeof(elm_block_q5_0), y, pair_q5_0);
}

ELM__AVX512 void elm__vec_dot_q8_0_q8_0_avx512(int64_t n, float *s, const void *x, const void *y)
{
    *s = dot_pairs(n / ELM_QK, x, sizeof(elm_block_q8_0), y, pair_q8_0);
}

/* q4_1: nibbles without offset against q8_1, plus each block's min m times the activation
 * block's stored s = fp16(d * sum(q)), as the reference adds it. */
ELM__AVX512 void elm__vec_dot_q4_1_q8_1_avx512(int64_t n, float *s, const void *vx, const void *vy)
{
    const elm_block_q4_1 *x = vx;
    const elm_block_q8_1 *y = vy;
    const int64_t nb = n / ELM_QK;
    __m512 acc = _mm512_setzero_ps();
    __m128 acc_min = _mm_setzero_ps();
    for (int64_t i = 0; i < nb; i += 2) {
        /* An odd last block pairs with itself, its second copy scaled by 0. */
        const int64_t j = i + 1 < nb ? i + 1 : i;
        const uint64_t k = i + 1 < nb ? ~0ull : 0xFFFFull;
        const uint64_t wd =
            (x[i].d | (uint64_t)x[j].d << 16 | (uint64_t)y[i].d << 32 | (uint64_t)y[j].d << 48) &
            (k | k << 32);
        const uint64_t wm =
            (x[i].m | (uint64_t)x[j].m << 16 | (uint64_t)y[i].s << 32 | (uint64_t)y[j].s << 48) &
            (k | k << 32);
        /* [dx_i dx_j dy_i dy_j m_i m_j s_i s_j] -> dx * dy in lanes 0, 1, m * s in 4, 5. */
        const __m256 f = _mm256_cvtph_ps(_mm_set_epi64x((long long)wm, (long long)wd));
        const __m256 p = _mm256_mul_ps(f, _mm256_permute_ps(f, _MM_SHUFFLE(1, 0, 3, 2)));
        acc_min = _mm_add_ps(acc_min, _mm256_extractf128_ps(p, 1));
        const __m512 d =
            _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
                                  _mm512_castps256_ps512(p));
        const __m512i qy =
            _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)y[i].qs)),
                               _mm256_loadu_si256((const __m256i *)y[j].qs), 1);
        const __m512i sumi =
            _mm512_dpbusd_epi32(_mm512_setzero_si512(), nibbles_pair(x[i].qs, x[j].qs), qy);
        acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(sumi), acc);
    }
    acc_min = _mm_add_ss(acc_min, _mm_movehdup_ps(acc_min));
    *s = _mm512_reduce_add_ps(acc) + _mm_cvtss_f32(acc_min);
}

/* ---- K-quant super-blocks ----
 * Levels times activations go through maddubs into int16 pairs, then vpdpwssd multiplies each
 * pair by its sub-block's scale and adds it into int32 lanes. */

/* Word indices that spread words k, k+1, k+2, k+3 over 8 words each. */
#define SPREAD4(k)                                                                                \
    _mm512_setr_epi32((k)*0x10001, (k)*0x10001, (k)*0x10001, (k)*0x10001, (k + 1) * 0x10001,      \
                      (k + 1) * 0x10001, (k + 1) * 0x10001, (k + 1) * 0x10001, (k + 2) * 0x10001, \
                      (k + 2) * 0x10001, (k + 2) * 0x10001, (k + 2) * 0x10001, (k + 3) * 0x10001, \
                      (k + 3) * 0x10001, (k + 3) * 0x10001, (k + 3) * 0x10001)

/* The q4_K / q5_K dot product: the same 8 (scale, min) pairs of 32 values and nibbles; q5_K's
 * fifth bits come from qh (NULL for q4_K), bit 2c of qh[l] for the low nibble of qs[32c + l],
 * bit 2c + 1 for its high nibble. */
ELM__INLINE float dot_k4(int64_t nb, const uint8_t *x, size_t size, const elm_block_q8_K *y,
                         int has_qh)
{
    __m512 acc = _mm512_setzero_ps();
    __m256 acc_min = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++, x += size) {
        /* Both layouts start d, dmin, scales[12]; then q4_K has qs, q5_K qh[32] and qs. */
        const uint8_t *qs = x + 16 + (has_qh ? 32 : 0), *qh = x + 16;
        uint16_t d, dmin;
        memcpy(&d, x, sizeof d);
        memcpy(&dmin, x + 2, sizeof dmin);
        const __m128i sc_m = k4_scales_mins(x + 4);
        const __m512i sc16 = _mm512_castsi128_si512(_mm_cvtepu8_epi16(sc_m));
        /* min k times the activation sums of its 32 values (bsums 2k, 2k+1). */
        const __m128i m8 = _mm_unpackhi_epi64(sc_m, sc_m);
        const __m256i m16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
        const __m256i mins =
            _mm256_madd_epi16(m16, _mm256_loadu_si256((const __m256i *)y[i].bsums));

        const int8_t *q8 = y[i].qs;
        __m512i sumi = _mm512_setzero_si512();
        for (int c = 0; c < 2; c++, q8 += 128) {
            __m512i lo, hi;
            elm__k4_levels(qs, has_qh ? qh : NULL, c, &lo, &hi);
            const __m512i a = _mm512_loadu_si512(q8), b = _mm512_loadu_si512(q8 + 64);
            sumi =
                elm__k4_half_dot(sumi, lo, hi, _mm512_shuffle_i64x2(a, b, _MM_SHUFFLE(1, 0, 1, 0)),
                                 _mm512_shuffle_i64x2(a, b, _MM_SHUFFLE(3, 2, 3, 2)), sc16, c);
        }
        const float dy = elm__q8k_d(&y[i]);
        acc = _mm512_fmadd_ps(_mm512_set1_ps(dy * fp16_to_f32(d)), _mm512_cvtepi32_ps(sumi), acc);
        acc_min = _mm256_fmadd_ps(_mm256_set1_ps(dy * fp16_to_f32(dmin)), _mm256_cvtepi32_ps(mins),
                                  acc_min);
    }
    return _mm512_reduce_add_ps(acc) - hsum_f32x8(acc_min);
}

ELM__AVX512 void elm__vec_dot_q4_K_q8_K_avx512(int64_t n, float *s, const void *x, const void *y)
{
    *s = dot_k4(n / ELM_QK_K, x, sizeof(elm_block_q4_K), y, 0);
}

ELM__AVX512 void elm__vec_dot_q5_K_q8_K_avx512(int64_t n, float *s, const void *x, const void *y)
{
    *s = dot_k4(n / ELM_QK_K, x, sizeof(elm_block_q5_K), y, 1);
}

ELM__AVX512 void elm__vec_dot_q6_K_q8_K_avx512(int64_t n, float *s, const void *vx, const void *vy)
{
    const elm_block_q6_K *x = vx;
    const elm_block_q8_K *y = vy;
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    /* Shifts that bring bits 2j, 2j+1 of qh to bits 4, 5: j = 0, 1 left by 4, 2; j = 2, 3 right
     * by 0, 2 (bits crossing into a neighbouring byte are masked away). */
    const __m512i shl01 = _mm512_setr_epi64(4, 4, 4, 4, 2, 2, 2, 2);
    const __m512i shr23 = _mm512_setr_epi64(0, 0, 0, 0, 2, 2, 2, 2);
    const __m512i spread[4] = {SPREAD4(0), SPREAD4(4), SPREAD4(8), SPREAD4(12)};
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / ELM_QK_K; i++) {
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *q8 = y[i].qs;
        const __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales));
        const __m512i sc16 = _mm512_castsi256_si512(sc);
        __m512i sumi = _mm512_setzero_si512();
        /* Half h: 64 bytes of ql hold values 128h + 0..63 (low nibbles) and 128h + 64..127
         * (high nibbles); value 128h + 32j + l takes bits 2j, 2j+1 of qh[32h + l]. */
        for (int h = 0; h < 2; h++, ql += 64, qh += 32, q8 += 128) {
            const __m512i l = ELM__LOAD_WEIGHTS_512(ql);
            const __m512i hb = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)qh));
            const __m512i q01 = _mm512_or_si512(
                _mm512_and_si512(l, m4), _mm512_and_si512(_mm512_sllv_epi64(hb, shl01), m30));
            const __m512i q23 =
                _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4),
                                _mm512_and_si512(_mm512_srlv_epi64(hb, shr23), m30));
            /* (level + 32) * q8 pairs fit maddubs' int16 (2 * 63 * 128); the 32 comes off below. */
            sumi = _mm512_dpwssd_epi32(sumi, _mm512_maddubs_epi16(q01, _mm512_loadu_si512(q8)),
                                       _mm512_permutexvar_epi16(spread[2 * h], sc16));
            sumi = _mm512_dpwssd_epi32(sumi, _mm512_maddubs_epi16(q23, _mm512_loadu_si512(q8 + 64)),
                                       _mm512_permutexvar_epi16(spread[2 * h + 1], sc16));
        }
        /* sum scale_g * (level + 32) * q8 - 32 * sum scale_g * bsums_g: q8_K's bsums are the
         * sums of the 16 values of each scale. */
        const __m256i off = _mm256_madd_epi16(sc, _mm256_loadu_si256((const __m256i *)y[i].bsums));
        const __m256i s8 = _mm256_sub_epi32(
            _mm256_add_epi32(_mm512_castsi512_si256(sumi), _mm512_extracti64x4_epi64(sumi, 1)),
            _mm256_slli_epi32(off, 5));
        const float d = fp16_to_f32(x[i].d) * elm__q8k_d(&y[i]);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(s8), acc);
    }
    *s = hsum_f32x8(acc);
}

/* ---- float rows ----
 * 16 values per register, four accumulators; the tail of under 16 values is a masked load
 * (masked-off lanes read nothing and are 0). */

/* 16 halves (f16, or bf16 when bf16 is set) at any even address as floats; only the lanes of
 * mask are read. */
ELM__INLINE __m512 load_halves(const uint16_t *p, __mmask16 mask, int bf16)
{
    const __m256i h = _mm256_maskz_loadu_epi16(mask, p);
    if (bf16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    return _mm512_cvtph_ps(h);
}

/* The sum of v's 16 lanes, in a fixed order (GCC's _mm512_reduce_add_ps's, spelled out so that
 * sum_lanes_4 can repeat it for four vectors at once): lanes i + (i + 8), then those + (i + 4),
 * then (0 + 2) + (1 + 3). */
ELM__INLINE float sum_lanes(__m512 v)
{
    const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    const __m256 t8 = _mm256_add_ps(hi, _mm512_castps512_ps256(v));
    const __m128 t4 = _mm_add_ps(_mm256_extractf128_ps(t8, 1), _mm256_castps256_ps128(t8));
    const __m128 t2 = _mm_add_ps(t4, _mm_shuffle_ps(t4, t4, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm_cvtss_f32(_mm_add_ss(t2, _mm_movehdup_ps(t2)));
}

/* sum_lanes of v[0..3] into s[0..3], every addition of the same two values, with a quarter of
 * the shuffles: 128-bit lanes of two vectors side by side, then of all four. */
ELM__INLINE void sum_lanes_4(const __m512 *v, float *s)
{
    /* [v0 lanes 0-3 + 8-11, v0 4-7 + 12-15, v1 likewise]: the 256-bit halves' sums */
    const __m512 u = _mm512_add_ps(_mm512_shuffle_f32x4(v[0], v[1], _MM_SHUFFLE(1, 0, 1, 0)),
                                   _mm512_shuffle_f32x4(v[0], v[1], _MM_SHUFFLE(3, 2, 3, 2)));
    const __m512 w = _mm512_add_ps(_mm512_shuffle_f32x4(v[2], v[3], _MM_SHUFFLE(1, 0, 1, 0)),
                                   _mm512_shuffle_f32x4(v[2], v[3], _MM_SHUFFLE(3, 2, 3, 2)));
    /* 128-bit lane k: the four sums of vector k */
    const __m512 t4 = _mm512_add_ps(_mm512_shuffle_f32x4(u, w, _MM_SHUFFLE(3, 1, 3, 1)),
                                    _mm512_shuffle_f32x4(u, w, _MM_SHUFFLE(2, 0, 2, 0)));
    const __m512 t2 = _mm512_add_ps(t4, _mm512_permute_ps(t4, _MM_SHUFFLE(1, 0, 3, 2)));
    const __m512 t1 = _mm512_add_ps(t2, _mm512_movehdup_ps(t2));
    _mm_storeu_ps(s, _mm512_castps512_ps128(_mm512_permutexvar_ps(
                         _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), t1)));
}

ELM__INLINE float dot_halves(int64_t n, const uint16_t *x, const uint16_t *y, int bf16)
{
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                     _mm512_setzero_ps()};
    int64_t i = 0;
    for (; i + 64 <= n; i += 64)
        _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++)
            acc[k] = _mm512_fmadd_ps(load_halves(x + i + 16 * k, 0xFFFF, bf16),
                                     load_halves(y + i + 16 * k, 0xFFFF, bf16), acc[k]);
    for (; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        acc[0] = _mm512_fmadd_ps(load_halves(x + i, m, bf16), load_halves(y + i, m, bf16), acc[0]);
    }
    return sum_lanes(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
}

ELM__AVX512 void elm__vec_dot_f16_avx512(int64_t n, float *s, const void *x, const void *y)
{
    *s = dot_halves(n, x, y, 0);
}

ELM__AVX512 void elm__vec_dot_bf16_avx512(int64_t n, float *s, const void *x, const void *y)
{
    *s = dot_halves(n, x, y, 1);
}

/* How far ahead each row's stream in dots_halves prefetches, in bytes: into the same row of the
 * next W once past its end. The converts leave the hardware prefetchers too few misses in flight:
 * without it a one-thread f16 decode reads at half the bandwidth of a plain read loop. */
#define HALVES_AHEAD 2048

/* dot_halves of W rows of x (x_stride bytes apart) with y into s[0..W-1]: its operations in its
 * order for each row, y's values converted once for the W rows, or read as floats from yf. */
ELM__INLINE void dots_halves(int W, int64_t n, const uint8_t *x, size_t x_stride,
                             const uint16_t *y, const float *yf, float *s, int bf16)
{
    enum { W_MAX = 4 };
    __m512 acc[W_MAX][4];
    _Pragma("GCC unroll 4") for (int w = 0; w < W; w++)
        _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++)
            acc[w][k] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512 yv[4];
        _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++)
            yv[k] = yf ? _mm512_load_ps(yf + i + 16 * k)
                       : load_halves(y + i + 16 * k, 0xFFFF, bf16);
        _Pragma("GCC unroll 4") for (int w = 0; w < W; w++) {
            const uint16_t *xw = (const uint16_t *)(const void *)(x + (size_t)w * x_stride);
            const size_t ahead = 2 * (size_t)i + HALVES_AHEAD;
            const char *pf = (const char *)xw + (ahead < 2 * (size_t)n
                                                     ? ahead
                                                     : ahead - 2 * (size_t)n + W * x_stride);
            _mm_prefetch(pf, _MM_HINT_T0);
            _mm_prefetch(pf + 64, _MM_HINT_T0);
            _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++)
                acc[w][k] = _mm512_fmadd_ps(load_halves(xw + i + 16 * k, 0xFFFF, bf16), yv[k],
                                            acc[w][k]);
        }
    }
    for (; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        const __m512 yv = yf ? _mm512_maskz_load_ps(m, yf + i) : load_halves(y + i, m, bf16);
        _Pragma("GCC unroll 4") for (int w = 0; w < W; w++) {
            const uint16_t *xw = (const uint16_t *)(const void *)(x + (size_t)w * x_stride);
            acc[w][0] = _mm512_fmadd_ps(load_halves(xw + i, m, bf16), yv, acc[w][0]);
        }
    }
    __m512 v[W_MAX];
    _Pragma("GCC unroll 4") for (int w = 0; w < W; w++)
        v[w] = _mm512_add_ps(_mm512_add_ps(acc[w][0], acc[w][1]),
                             _mm512_add_ps(acc[w][2], acc[w][3]));
    if (W == W_MAX) {
        sum_lanes_4(v, s);
        return;
    }
    _Pragma("GCC unroll 4") for (int w = 0; w < W; w++)
        s[w] = sum_lanes(v[w]);
}

/* Rows at least HALVES_AHEAD bytes long go four at a time, four streams; shorter ones one at a
 * time, their stream running on into the next rows, with y converted once: four short rows read
 * together lost the hardware prefetchers (qwen2.5-0.5b's 896 values a row: 0.81 of the read loop,
 * one at a time 1.01-1.06). */
ELM__INLINE void vec_dots_halves(int64_t n, int64_t n_out, const void *x, size_t x_stride,
                                 const void *y, float *s, int bf16)
{
    const uint8_t *xb = x;
    int64_t o = 0;
    if (2 * n < HALVES_AHEAD) {
        float yf[HALVES_AHEAD / 2] __attribute__((aligned(64)));
        for (int64_t i = 0; i < n; i += 16) {
            const __mmask16 m = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1);
            _mm512_mask_store_ps(yf + i, m, load_halves((const uint16_t *)y + i, m, bf16));
        }
        for (; o < n_out; o++)
            dots_halves(1, n, xb + (size_t)o * x_stride, x_stride, y, yf, s + o, bf16);
        return;
    }
    for (; o + 4 <= n_out; o += 4)
        dots_halves(4, n, xb + (size_t)o * x_stride, x_stride, y, NULL, s + o, bf16);
    for (; o < n_out; o++)
        dots_halves(1, n, xb + (size_t)o * x_stride, x_stride, y, NULL, s + o, bf16);
}

ELM__AVX512 void elm__vec_dots_f16_avx512(int64_t n, int64_t n_out, const void *x,
                                          size_t x_stride, const void *y, float *s)
{
    vec_dots_halves(n, n_out, x, x_stride, y, s, 0);
}

ELM__AVX512 void elm__vec_dots_bf16_avx512(int64_t n, int64_t n_out, const void *x,
                                           size_t x_stride, const void *y, float *s)
{
    vec_dots_halves(n, n_out, x, x_stride, y, s, 1);
}

/* ---- activation quantizers ----
 * 16 floats per register; vcvtps2dq with round-to-nearest-even is the reference's
 * elm__nearest_int for these magnitudes, and vpmovsdb packs in order (its saturation is a
 * no-op: |x * id| is at most 127 and a rounding error). */

/* Round x[k] * id, 16 values, to int32. */
ELM__INLINE __m512i round_16(const float *x, __m512 id)
{
    return _mm512_cvt_roundps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x), id),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

/* The largest |x[k]| of n values, n a multiple of 16. */
ELM__INLINE float absmax_16(const float *x, int n)
{
    __m512 m = _mm512_setzero_ps();
    for (int j = 0; j < n; j += 16)
        m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(x + j)));
    return _mm512_reduce_max_ps(m);
}

ELM__AVX512 void elm__quantize_q8_0_act_avx512(const float *x, void *vy, int64_t n)
{
    elm_block_q8_0 *y = vy;
    for (int64_t i = 0; i < n / ELM_QK; i++, x += ELM_QK) {
        const float amax = absmax_16(x, ELM_QK);
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        if (!isfinite(id) || !isfinite(amax)) {
            /* amax below 127 / FLT_MAX, or infinite: the reference's integer conversion of
             * infinite or NaN products is what defines these bytes. */
            elm__quantize_q8_0_act(x, &y[i], ELM_QK);
            continue;
        }
        y[i].d = f32_to_fp16(amax / 127);
        const __m512 vid = _mm512_set1_ps(id);
        _mm_storeu_si128((__m128i *)y[i].qs, _mm512_cvtsepi32_epi8(round_16(x, vid)));
        _mm_storeu_si128((__m128i *)(y[i].qs + 16), _mm512_cvtsepi32_epi8(round_16(x + 16, vid)));
    }
}

ELM__AVX512 void elm__quantize_q8_K_avx512(const float *x, void *vy, int64_t n)
{
    elm_block_q8_K *y = vy;
    for (int64_t i = 0; i < n / ELM_QK_K; i++, x += ELM_QK_K) {
        const float amax = absmax_16(x, ELM_QK_K);
        /* The reference scales by the first value of largest magnitude, with its sign. */
        float max = 0;
        const __m512 va = _mm512_set1_ps(amax);
        for (int j = 0; j < ELM_QK_K; j += 16) {
            const __mmask16 hit =
                _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + j)), va, _CMP_EQ_OQ);
            if (hit) {
                max = x[j + __builtin_ctz(hit)];
                break;
            }
        }
        const float iscale = max != 0.0f ? -127.f / max : 0.0f;
        if (!max || !isfinite(iscale) || !isfinite(max)) {
            /* All zero, or a scale that overflows: the reference defines these bytes. */
            elm__quantize_q8_K_ref(x, &y[i], ELM_QK_K);
            continue;
        }
        const __m512 vs = _mm512_set1_ps(iscale);
        for (int k = 0; k < ELM_QK_K / 16; k++) {
            const __m512i q = round_16(x + 16 * k, vs);
            _mm_storeu_si128((__m128i *)(y[i].qs + 16 * k), _mm512_cvtsepi32_epi8(q));
            y[i].bsums[k] = (int16_t)_mm512_reduce_add_epi32(q);
        }
        elm__q8k_set_d(&y[i], 1 / iscale);
    }
}

#endif
