/* kernels/x86 internals: small AVX2 helpers shared by the x86 kernel files (horizontal sums,
 * the int8 product of the 32-block types, nibble and bit unpacking). All loads are unaligned:
 * blocks inside a GGUF mapping are only 2-byte aligned. */
#ifndef ELM_KERNELS_X86_COMMON_H
#define ELM_KERNELS_X86_COMMON_H

#if defined(__x86_64__)
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "kernels/ref/ref.h"
#include "kernels/x86/x86.h"

/* fp16 scales with F16C, inline: the same values and bits as elm_fp16_to_fp32 and
 * elm_fp32_to_fp16 (round to nearest even). */
ELM__AVX2 static inline float fp16_to_f32(uint16_t h)
{
    return _cvtsh_ss(h);
}

ELM__AVX2 static inline uint16_t f32_to_fp16(float f)
{
    return (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
}

/* Sum of the 4 floats of v. */
ELM__AVX2 static inline float hsum_f32x4(__m128 v)
{
    v = _mm_add_ps(v, _mm_movehl_ps(v, v));
    return _mm_cvtss_f32(_mm_add_ss(v, _mm_movehdup_ps(v)));
}

/* Sum of the 8 floats of v. */
ELM__AVX2 static inline float hsum_f32x8(__m256 v)
{
    return hsum_f32x4(_mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1)));
}

/* The loop of the AVX2 float-row dot products (f32, f16, bf16): *s = sum of x[i] * y[i] over n
 * values, load(p) giving the 8 floats at element pointer p and at(p) the one float at p.
 * Four accumulators hide the FMA latency; a row's tail of under 32 values goes 8, then 1 at a
 * time. */
#define ELM__AVX2_DOT_FLOAT_ROWS(n, s, x, y, load, at)                                           \
    do {                                                                                         \
        __m256 acc_[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),         \
                          _mm256_setzero_ps()};                                                  \
        int64_t i_ = 0;                                                                          \
        for (; i_ + 32 <= (n); i_ += 32)                                                         \
            for (int k_ = 0; k_ < 4; k_++)                                                       \
                acc_[k_] =                                                                       \
                    _mm256_fmadd_ps(load((x) + i_ + 8 * k_), load((y) + i_ + 8 * k_), acc_[k_]); \
        for (; i_ + 8 <= (n); i_ += 8)                                                           \
            acc_[0] = _mm256_fmadd_ps(load((x) + i_), load((y) + i_), acc_[0]);                  \
        float sum_ = hsum_f32x8(                                                                 \
            _mm256_add_ps(_mm256_add_ps(acc_[0], acc_[1]), _mm256_add_ps(acc_[2], acc_[3])));    \
        for (; i_ < (n); i_++)                                                                   \
            sum_ += at((x) + i_) * at((y) + i_);                                                 \
        *(s) = sum_;                                                                             \
    } while (0)

/* The 8 six-bit (scale, min) pairs of a q4_K / q5_K block (elm__k4_scale_min), four at a
 * time from the 12 packed bytes: scales 0-7 in bytes 0-7 of the result, mins in bytes 8-15.
 * With the packed words w0 w1 w2: scales 0-3 = w0 & 0x3f.., 4-7 = (w2 & 0x0f..) | (w0 >> 6 &
 * 0x03..) << 4, mins 0-3 = w1 & 0x3f.., 4-7 = (w2 >> 4 & 0x0f..) | (w1 >> 6 & 0x03..) << 4: all
 * four lanes at once. Reads 16 bytes at packed (the block's first 4 bytes of levels follow its
 * scales in q4_K and q5_K, and are masked off). */
ELM__AVX2 static inline __m128i k4_scales_mins(const uint8_t *packed)
{
    const __m128i w = _mm_loadu_si128((const __m128i *)packed); /* w0 w1 w2 (w3) */
    const __m128i low = _mm_and_si128(
        _mm_srlv_epi32(_mm_shuffle_epi32(w, _MM_SHUFFLE(2, 1, 2, 0)), _mm_setr_epi32(0, 0, 0, 4)),
        _mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f));
    const __m128i high =
        _mm_and_si128(_mm_srli_epi32(_mm_shuffle_epi32(w, _MM_SHUFFLE(1, 1, 0, 0)), 2),
                      _mm_setr_epi32(0, 0x30303030, 0, 0x30303030));
    return _mm_or_si128(low, high);
}

/* Sum of the 8 int32 of v. */
ELM__AVX2 static inline int hsum_i32x8(__m256i v)
{
    __m128i r = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    r = _mm_add_epi32(r, _mm_shuffle_epi32(r, _MM_SHUFFLE(1, 0, 3, 2)));
    r = _mm_add_epi32(r, _mm_shuffle_epi32(r, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(r);
}

/* Sums of 4 adjacent products x[i] * y[i] of 32 int8 pairs, as 8 int32. x must not hold -128:
 * maddubs multiplies unsigned by signed bytes, so x's sign moves onto y. */
ELM__AVX2 static inline __m256i mul_sum_i8_quads(__m256i x, __m256i y)
{
    const __m256i ax = _mm256_sign_epi8(x, x);
    const __m256i sy = _mm256_sign_epi8(y, x);
    const __m256i p16 = _mm256_maddubs_epi16(ax, sy);
    return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

/* The 32 nibbles of 16 bytes as bytes 0..15 (low nibbles) then 16..31 (high nibbles): the
 * order of q4_0 / q5_0 levels. */
ELM__AVX2 static inline __m256i nibbles_32(const uint8_t *q)
{
    const __m128i b = _mm_loadu_si128((const __m128i *)q);
    const __m256i both =
        _mm256_inserti128_si256(_mm256_castsi128_si256(b), _mm_srli_epi16(b, 4), 1);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

/* The 32 bits of w as bytes: 0xFF where bit i is set, 0 elsewhere. */
ELM__AVX2 static inline __m256i bits_of(uint32_t w)
{
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32((int)w),
        _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
    /* Byte i keeps bit i % 8 of its source byte; all others are forced to 1. */
    const __m256i others = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe);
    return _mm256_cmpeq_epi8(_mm256_or_si256(spread, others), _mm256_set1_epi64x(-1));
}

/* bits_of the little-endian word at q. */
ELM__AVX2 static inline __m256i bits_32(const uint8_t *q)
{
    uint32_t w;
    memcpy(&w, q, sizeof w);
    return bits_of(w);
}

/* Round x[i] * id to the nearest integer, ties to even (the reference's elm__nearest_int for
 * these magnitudes), for 32 values, and pack them in order into int8 with saturation (a no-op:
 * |x * id| is at most 127 and a rounding error). */
ELM__AVX2 static inline __m256i round_pack_32(const float *x, __m256 id)
{
    __m256i q[4];
    for (int k = 0; k < 4; k++)
        q[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), id),
                                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    /* packs works within 128-bit lanes: the result's dwords come out as 0 4 1 5 2 6 3 7. */
    const __m256i p16a = _mm256_packs_epi32(q[0], q[1]);
    const __m256i p16b = _mm256_packs_epi32(q[2], q[3]);
    const __m256i p8 = _mm256_packs_epi16(p16a, p16b);
    return _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* The largest |x[i]| of n values, n a multiple of 32. */
ELM__AVX2 static inline float absmax_f32(const float *x, int n)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m0 = _mm256_setzero_ps(), m1 = _mm256_setzero_ps();
    for (int j = 0; j < n; j += 16) {
        m0 = _mm256_max_ps(m0, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)));
        m1 = _mm256_max_ps(m1, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + j + 8)));
    }
    const __m256 m = _mm256_max_ps(m0, m1);
    __m128 r = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    r = _mm_max_ps(r, _mm_movehl_ps(r, r));
    r = _mm_max_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

/* One q4_K or q5_K super-block (scales, 128 nibble bytes, and for q5_K the 32 bytes of fifth bits
 * qh; NULL for q4_K) against q8_K block y: the integer sums scaled by d * dy are added to *acc,
 * the min term dmin * dy * sum(min * bsums) to *acc_min. Chunk c holds 32 bytes whose low
 * nibbles are values 64c.. (scale 2c, fifth bit 2c) and high nibbles values 64c+32.. (scale
 * 2c+1, bit 2c+1); levels (0..31) * int8 pairs fit maddubs' int16 (2 * 31 * 128). */
ELM__AVX2 static inline __attribute__((always_inline)) void
k45_superblock(const uint8_t *scales, const uint8_t *qs, const uint8_t *qh, uint16_t d,
               uint16_t dmin, const elm_block_q8_K *y, __m256 *acc, __m128 *acc_min)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F), sixteen = _mm256_set1_epi8(16);
    const float dy = elm__q8k_d(y);
    const __m128i sc_m = k4_scales_mins(scales);
    /* min k times the activation sums of its 32 values (bsums 2k + 2k+1: |.| <= 32 · 128) */
    const __m128i bsum32 = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)y->bsums),
                                          _mm_loadu_si128((const __m128i *)(y->bsums + 8)));
    const __m128i mins = _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_unpackhi_epi64(sc_m, sc_m)), bsum32);
    /* the 8 scales as int16 in both lanes; a byte shuffle spreads scale k over a register */
    const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sc_m));
    const __m256i hb = qh ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
    const int8_t *q8 = y->qs;
    __m256i sumi = _mm256_setzero_si256();
    for (int c = 0; c < 4; c++, qs += 32, q8 += 64) {
        const __m256i bits = _mm256_loadu_si256((const __m256i *)qs);
        __m256i lo = _mm256_and_si256(bits, m4);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
        if (qh) {
            const __m256i b_lo = _mm256_set1_epi8((char)(1 << 2 * c));
            const __m256i b_hi = _mm256_set1_epi8((char)(2 << 2 * c));
            lo = _mm256_add_epi8(
                lo, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hb, b_lo), b_lo), sixteen));
            hi = _mm256_add_epi8(
                hi, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hb, b_hi), b_hi), sixteen));
        }
        const __m256i p_lo = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)q8));
        const __m256i p_hi =
            _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(q8 + 32)));
        /* bytes 4c, 4c+1 (scale 2c) and 4c+2, 4c+3 (scale 2c+1) of sc16, in every word */
        const __m256i s_lo =
            _mm256_shuffle_epi8(sc16, _mm256_set1_epi16((short)(0x0100 + 0x0404 * c)));
        const __m256i s_hi =
            _mm256_shuffle_epi8(sc16, _mm256_set1_epi16((short)(0x0302 + 0x0404 * c)));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(s_lo, p_lo));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(s_hi, p_hi));
    }
    *acc = _mm256_fmadd_ps(_mm256_set1_ps(dy * fp16_to_f32(d)), _mm256_cvtepi32_ps(sumi), *acc);
    *acc_min = _mm_fmadd_ps(_mm_set1_ps(dy * fp16_to_f32(dmin)), _mm_cvtepi32_ps(mins), *acc_min);
}

#endif
#endif
