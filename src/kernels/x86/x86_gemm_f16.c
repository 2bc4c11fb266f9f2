/* f16 x f16 matrix products, AVX2 and AVX-512. Unlike the integer kernels, lanes hold 8 or 16
 * consecutive values of a row, as in the vec_dot: a register tile of GEMM_F16_MR weight rows by
 * GEMM_F16_NR activation rows keeps one f32 accumulator per (weight row, activation row), so
 * each 8 or 16 halves converted to f32 serve 4 FMAs instead of 1 (the converts, not the FMAs,
 * bound the vec_dot). Activation rows are taken GEMM_RC at a time so that they stay in L2
 * while every weight tile passes. Rows shorter than the tile are finished with masked loads
 * (AVX-512) or a scalar tail (AVX2); tiles past n_out or n_act repeat the last row and are not
 * stored. The reference sums in double: results differ in the last bits. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "edgelm/kernels.h"
#include "kernels/ref/ref.h"
#include "kernels/x86/x86.h"
#include "kernels/x86/avx512.h"
#include "kernels/x86/x86_common.h"
#include "kernels/x86/x86_gemm.h"

enum { MR = 4, NR = 4 };

/* The rows of a tile: row i of rows (i < n) or the last one. */
static inline void tile_rows(const uint8_t **p, const uint8_t *base, size_t stride, int n)
{
    for (int i = 0; i < 4; i++)
        p[i] = base + (size_t)(i < n ? i : n - 1) * stride;
}

/* An MR x NR tile: y[j * ldy + i] = dot(w row i, a row j) for i < mr, j < nr. */
typedef void (*micro_f16_fn)(int64_t n, const uint8_t *w, size_t w_stride, int mr, const uint8_t *a,
                             size_t a_stride, int nr, float *y, size_t ldy);

/* The f16 product of both tiers: activation rows in chunks of GEMM_RC, each cut into tiles by
 * micro; fewer than GEMM_MIN_ACT activation rows go to the tier's vec_dot loop. */
static void gemm_f16(micro_f16_fn micro, elm_vec_dot_fn dot, int64_t n, int64_t n_out,
                     int64_t n_act, const void *vw, size_t w_stride, const void *va,
                     size_t a_stride, float *y, size_t ldy)
{
    const uint8_t *w = vw, *a = va;
    if (n_act < GEMM_MIN_ACT) {
        gemm_by_vec_dot(dot, n, n_out, n_act, w, w_stride, a, a_stride, y, ldy);
        return;
    }
    for (int64_t r0 = 0; r0 < n_act; r0 += GEMM_RC) {
        const int64_t rc = ELM__MIN(GEMM_RC, n_act - r0);
        for (int64_t o = 0; o < n_out; o += MR)
            for (int64_t r = r0; r < r0 + rc; r += NR)
                micro(n, w + (size_t)o * w_stride, w_stride, (int)ELM__MIN(MR, n_out - o),
                      a + (size_t)r * a_stride, a_stride, (int)ELM__MIN(NR, r0 + rc - r),
                      y + (size_t)r * ldy + o, ldy);
    }
}

/* ---- AVX2 ---- */

ELM__AVX2 static void micro_f16_avx2(int64_t n, const uint8_t *w, size_t w_stride, int mr,
                                     const uint8_t *a, size_t a_stride, int nr, float *y,
                                     size_t ldy)
{
    const uint8_t *wr[MR], *ar[NR];
    tile_rows(wr, w, w_stride, mr);
    tile_rows(ar, a, a_stride, nr);
    __m256 acc[MR][NR];
    GEMM_UNROLL
    for (int i = 0; i < MR; i++)
        GEMM_UNROLL
    for (int j = 0; j < NR; j++)
        acc[i][j] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 8 <= n; k += 8) {
        __m256 av[NR];
        GEMM_UNROLL
        for (int j = 0; j < NR; j++)
            av[j] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(ar[j] + 2 * k)));
        GEMM_UNROLL
        for (int i = 0; i < MR; i++) {
            const __m256 wv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wr[i] + 2 * k)));
            GEMM_UNROLL
            for (int j = 0; j < NR; j++)
                acc[i][j] = _mm256_fmadd_ps(wv, av[j], acc[i][j]);
        }
    }
    GEMM_UNROLL
    for (int j = 0; j < nr; j++)
        GEMM_UNROLL
    for (int i = 0; i < mr; i++) {
        float s = hsum_f32x8(acc[i][j]);
        for (int64_t t = k; t < n; t++)
            s += fp16_to_f32(gemm_load_u16(wr[i] + 2 * t)) *
                 fp16_to_f32(gemm_load_u16(ar[j] + 2 * t));
        y[(size_t)j * ldy + (size_t)i] = s;
    }
}

ELM__AVX2 void elm__gemm_f16_f16_avx2(int64_t n, int64_t n_out, int64_t n_act, const void *w,
                                      size_t w_stride, const void *a, size_t a_stride, float *y,
                                      size_t ldy)
{
    gemm_f16(micro_f16_avx2, elm__vec_dot_f16_avx2, n, n_out, n_act, w, w_stride, a, a_stride, y,
             ldy);
}

/* ---- AVX-512 ---- */

/* 16 halves as floats; those outside m read as 0 and are not loaded. */
ELM__AVX512_GEMM static inline __m512 load_f16x16(const uint8_t *p, __mmask16 m)
{
    if (m == 0xFFFF) return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

/* acc[i][j] += w row i * a row j over values k..k+15 (those in m). */
ELM__AVX512_GEMM static inline __attribute__((always_inline)) void
f16_step(__m512 (*acc)[NR], const uint8_t *const *wr, const uint8_t *const *ar, int64_t k,
         __mmask16 m)
{
    __m512 av[NR];
    GEMM_UNROLL
    for (int j = 0; j < NR; j++)
        av[j] = load_f16x16(ar[j] + 2 * k, m);
    GEMM_UNROLL
    for (int i = 0; i < MR; i++) {
        const __m512 wv = load_f16x16(wr[i] + 2 * k, m);
        GEMM_UNROLL
        for (int j = 0; j < NR; j++)
            acc[i][j] = _mm512_fmadd_ps(wv, av[j], acc[i][j]);
    }
}

ELM__AVX512_GEMM static void micro_f16_avx512(int64_t n, const uint8_t *w, size_t w_stride, int mr,
                                              const uint8_t *a, size_t a_stride, int nr, float *y,
                                              size_t ldy)
{
    const uint8_t *wr[MR], *ar[NR];
    tile_rows(wr, w, w_stride, mr);
    tile_rows(ar, a, a_stride, nr);
    __m512 acc[MR][NR];
    GEMM_UNROLL
    for (int i = 0; i < MR; i++)
        GEMM_UNROLL
    for (int j = 0; j < NR; j++)
        acc[i][j] = _mm512_setzero_ps();
    /* Full 16-value steps, then one masked step for the rest of the row. */
    int64_t k = 0;
    for (; k + 16 <= n; k += 16)
        f16_step(acc, wr, ar, k, 0xFFFF);
    if (k < n) f16_step(acc, wr, ar, k, (__mmask16)((1u << (n - k)) - 1));
    GEMM_UNROLL
    for (int j = 0; j < nr; j++)
        GEMM_UNROLL
    for (int i = 0; i < mr; i++)
        y[(size_t)j * ldy + (size_t)i] = _mm512_reduce_add_ps(acc[i][j]);
}

ELM__AVX512_GEMM void elm__gemm_f16_f16_avx512(int64_t n, int64_t n_out, int64_t n_act,
                                               const void *w, size_t w_stride, const void *a,
                                               size_t a_stride, float *y, size_t ldy)
{
    gemm_f16(micro_f16_avx512, elm__vec_dot_f16_avx512, n, n_out, n_act, w, w_stride, a, a_stride,
             y, ldy);
}

#endif
