/* kernels/x86 internals: the AVX-512 (+VNNI) tier's dot products, quantizers and gemv
 * (avx512_dot.c, avx512_gemv.c), installed over the AVX2 tier when the CPU has
 * ELM__CPU_TIER_AVX512, and the inline helpers they share. Each computes what its kernels/ref
 * counterpart defines: the integer dot product of every block is exact, and only the order of the
 * float sums differs. */
#ifndef ELM_KERNELS_X86_AVX512_H
#define ELM_KERNELS_X86_AVX512_H

#if defined(__x86_64__)
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

/* The attribute of the AVX-512 tier (ELM__CPU_TIER_AVX512, which includes the AVX2 tier). */
#define ELM__AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

/* 64 bytes of weights at any address, as two 32-byte loads. Weight rows stream from memory,
 * and their blocks (18, 22, 34, 144, 210 bytes) put most 64-byte loads across two cache lines,
 * where a 512-bit load that misses the caches costs far more than two 256-bit ones.
 * Activations, in L1, take plain 512-bit loads. */
#define ELM__LOAD_WEIGHTS_512(p)                                                         \
    _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(p))), \
                       _mm256_loadu_si256((const __m256i *)((const char *)(p) + 32)), 1)

/* Word indices that spread word a over 16 words, then word b over the next 16. */
#define SPREAD2(a, b)                                                                  \
    _mm512_setr_epi32((a)*0x10001, (a)*0x10001, (a)*0x10001, (a)*0x10001, (a)*0x10001, \
                      (a)*0x10001, (a)*0x10001, (a)*0x10001, (b)*0x10001, (b)*0x10001, \
                      (b)*0x10001, (b)*0x10001, (b)*0x10001, (b)*0x10001, (b)*0x10001, \
                      (b)*0x10001)

/* The 4x4 transpose of the dwords of v[0..3] within each 128-bit lane: dword 4b + g of t[j] is
 * dword 4b + j of v[g] (the gemm's tiles of rows, the q4_0 gemv's quads of groups). */
ELM__AVX512 static inline __attribute__((always_inline)) void
elm__transpose_dwords(const __m512i *v, __m512i *t)
{
    const __m512i t0 = _mm512_unpacklo_epi32(v[0], v[1]), t1 = _mm512_unpackhi_epi32(v[0], v[1]);
    const __m512i t2 = _mm512_unpacklo_epi32(v[2], v[3]), t3 = _mm512_unpackhi_epi32(v[2], v[3]);
    t[0] = _mm512_unpacklo_epi64(t0, t2);
    t[1] = _mm512_unpackhi_epi64(t0, t2);
    t[2] = _mm512_unpacklo_epi64(t1, t3);
    t[3] = _mm512_unpackhi_epi64(t1, t3);
}

/* ---- the q4_K / q5_K super-block steps the dot product (avx512_dot.c) and the gemv
 * (avx512_gemv.c) share ---- */

/* The levels of 64 bytes of nibbles (half c of a super-block's 128): *lo the low nibbles
 * (values 0-31 and 64-95 of the half's 128: sub-blocks 4c and 4c+2), *hi the high ones
 * (sub-blocks 4c+1 and 4c+3). For q5_K (qh not NULL) bit 2c' of qh[l] is the fifth bit of the low
 * nibble of qs[32c' + l] and bit 2c'+1 of its high nibble: lo's two 256-bit halves are chunks 2c
 * and 2c+1 (bits 4c and 4c+2), hi's bits 4c+1 and 4c+3. */
ELM__AVX512 static inline __attribute__((always_inline)) void
elm__k4_levels(const uint8_t *qs, const uint8_t *qh, int c, __m512i *lo, __m512i *hi)
{
    const __m512i m4 = _mm512_set1_epi8(0x0F), sixteen = _mm512_set1_epi8(16);
    const __m512i q = ELM__LOAD_WEIGHTS_512(qs + 64 * c);
    *lo = _mm512_and_si512(q, m4);
    *hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
    if (qh) {
        const __m512i h = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)qh));
        const __m512i bit_lo = _mm512_inserti64x4(_mm512_set1_epi8((char)(1 << 4 * c)),
                                                  _mm256_set1_epi8((char)(4 << 4 * c)), 1);
        const __m512i bit_hi = _mm512_add_epi8(bit_lo, bit_lo);
        *lo = _mm512_mask_add_epi8(*lo, _mm512_test_epi8_mask(h, bit_lo), *lo, sixteen);
        *hi = _mm512_mask_add_epi8(*hi, _mm512_test_epi8_mask(h, bit_hi), *hi, sixteen);
    }
}

/* sumi + the int32 products of half c's levels (elm__k4_levels) with the activation values that
 * meet them (y_lo, y_hi), each int16 pair times its sub-block's scale (sc16: the 8 scales as
 * words 0-7). Levels (0..31) × int8 pairs fit maddubs' int16 (2 · 31 · 128). */
ELM__AVX512 static inline __attribute__((always_inline)) __m512i
elm__k4_half_dot(__m512i sumi, __m512i lo, __m512i hi, __m512i y_lo, __m512i y_hi, __m512i sc16,
                 int c)
{
    const __m512i spread[4] = {SPREAD2(0, 2), SPREAD2(1, 3), SPREAD2(4, 6), SPREAD2(5, 7)};
    sumi = _mm512_dpwssd_epi32(sumi, _mm512_maddubs_epi16(lo, y_lo),
                               _mm512_permutexvar_epi16(spread[2 * c], sc16));
    return _mm512_dpwssd_epi32(sumi, _mm512_maddubs_epi16(hi, y_hi),
                               _mm512_permutexvar_epi16(spread[2 * c + 1], sc16));
}

/* ---- AVX-512 tier (avx512_dot.c) ----
 * q8_0 operands must hold values in [-127, 127], as every q8_0 quantizer writes them. */

void elm__vec_dot_q4_0_q8_0_avx512(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_q5_0_q8_0_avx512(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_q8_0_q8_0_avx512(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_q4_1_q8_1_avx512(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_q4_K_q8_K_avx512(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_q5_K_q8_K_avx512(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_q6_K_q8_K_avx512(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_f16_avx512(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_bf16_avx512(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dots_f16_avx512(int64_t n, int64_t n_out, const void *x, size_t x_stride,
                              const void *y, float *s);
void elm__vec_dots_bf16_avx512(int64_t n, int64_t n_out, const void *x, size_t x_stride,
                               const void *y, float *s);
void elm__quantize_q8_0_act_avx512(const float *x, void *y, int64_t n);
void elm__quantize_q8_K_avx512(const float *x, void *y, int64_t n);

/* ---- AVX-512 tier, matrix × vector (avx512_gemv.c) ----
 * elm__gemv_prepare_k_avx512 lays out q8_K activations for both the q4_K and the q5_K gemv. */

size_t elm__gemv_prepare_q4_0_avx512(int64_t n, const void *a, void *p);
size_t elm__gemv_prepare_q5_0_avx512(int64_t n, const void *a, void *p);
size_t elm__gemv_prepare_q8_0_avx512(int64_t n, const void *a, void *p);
size_t elm__gemv_prepare_q4_1_avx512(int64_t n, const void *a, void *p);
size_t elm__gemv_prepare_k_avx512(int64_t n, const void *a, void *p);
void elm__gemv_rows_q4_0_q8_0_avx512(int64_t n, int64_t n_out, const void *w, size_t w_stride,
                                     const void *p, size_t p_stride, int64_t n_act, float *y,
                                     size_t ldy);
void elm__gemv_rows_q8_0_q8_0_avx512(int64_t n, int64_t n_out, const void *w, size_t w_stride,
                                     const void *p, size_t p_stride, int64_t n_act, float *y,
                                     size_t ldy);
void elm__gemv_q4_0_q8_0_avx512(int64_t n, int64_t n_out, const void *w, size_t w_stride,
                                const void *p, float *y);
void elm__gemv_q5_0_q8_0_avx512(int64_t n, int64_t n_out, const void *w, size_t w_stride,
                                const void *p, float *y);
void elm__gemv_q8_0_q8_0_avx512(int64_t n, int64_t n_out, const void *w, size_t w_stride,
                                const void *p, float *y);
void elm__gemv_q4_1_q8_1_avx512(int64_t n, int64_t n_out, const void *w, size_t w_stride,
                                const void *p, float *y);
void elm__gemv_q4_K_q8_K_avx512(int64_t n, int64_t n_out, const void *w, size_t w_stride,
                                const void *p, float *y);
void elm__gemv_q5_K_q8_K_avx512(int64_t n, int64_t n_out, const void *w, size_t w_stride,
                                const void *p, float *y);

#endif
#endif
