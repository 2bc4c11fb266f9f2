/* AVX-512 VNNI products of weight panels (kernels/panel.h) with q8_0 activations. A block of 16
 * rows is eight vpdpbusd, each the 16 rows' four values (unsigned: q4_0's nibbles, q8_0's values
 * plus 128) times four activation values broadcast from memory; the integer sum starts from the
 * activation block's -bias · Σ values, which takes the weights' offset (8, 128) back out, and
 * ends in one FMA with the 16 rows' scales times the activation's. Every activation row goes
 * through the same instructions whatever the number of rows, so its sums are the same bits. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#include "edgelm/kernels.h"
#include "kernels/panel.h"
#include "kernels/ref/ref.h"
#include "kernels/x86/avx512.h"
#include "kernels/x86/x86.h"

#define ELM__INLINE ELM__AVX512 static inline __attribute__((always_inline))

/* Activation rows at a time: their accumulators and the unpacked block fit the 32 registers. */
enum { ROWS_MAX = 8 };
/* Before the loops over rows: unrolled, each row's accumulator stays in a register. */
#define UNROLL _Pragma("GCC unroll 8")

/* The prepared activation of nb blocks: the q8_0 values of every block, back to back, then each
 * block's scale as a float, then -bias · the sum of its values. */
static size_t act_bytes(int64_t nb)
{
    const size_t b = (size_t)nb * (ELM_QK + sizeof(float) + sizeof(int32_t));
    return (b + 63) / 64 * 64;
}

static ELM__AVX512 size_t prepare(int64_t n, const void *a, void *p, int32_t bias)
{
    if (n <= 0 || n % ELM_QK != 0) return 0;
    const int64_t nb = n / ELM_QK;
    if (p) {
        const elm_block_q8_0 *y = a;
        int8_t *qs = p;
        float *d = (float *)(void *)(qs + nb * ELM_QK);
        int32_t *c = (int32_t *)(void *)(d + nb);
        for (int64_t b = 0; b < nb; b++) {
            memcpy(qs + b * ELM_QK, y[b].qs, ELM_QK);
            d[b] = elm_fp16_to_fp32(y[b].d);
            int32_t sum = 0;
            for (int i = 0; i < ELM_QK; i++)
                sum += y[b].qs[i];
            c[b] = -bias * sum;
        }
    }
    return act_bytes(nb);
}

ELM__AVX512 size_t elm__panel_prepare_q4_0_avx512(int64_t n, const void *a, void *p)
{
    return prepare(n, a, p, 8);
}

ELM__AVX512 size_t elm__panel_prepare_q8_0_avx512(int64_t n, const void *a, void *p)
{
    return prepare(n, a, p, 128);
}

/* Line j of a block: lane r holds the four values of row r that meet activation values
 * 4j..4j+3. q4_0's four stored lines hold lines 0-3 in their low nibbles, 4-7 in the high. */
ELM__INLINE void lines_q4_0(const uint8_t *v, __m512i *w)
{
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    for (int j = 0; j < 4; j++) {
        const __m512i x = _mm512_load_si512(v + 64 * j);
        w[j] = _mm512_and_si512(x, m4);
        w[j + 4] = _mm512_and_si512(_mm512_srli_epi16(x, 4), m4);
    }
}

ELM__INLINE void lines_q8_0(const uint8_t *v, __m512i *w)
{
    for (int j = 0; j < 8; j++)
        w[j] = _mm512_load_si512(v + 64 * j);
}

ELM__INLINE __m512i bcast4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return _mm512_set1_epi32(v);
}

/* One panel of nb blocks (values_bytes a block) times R prepared activations (p, p_stride bytes
 * apart) into y[r * ldy + 0..15]. */
ELM__INLINE void panel(int R, int q8, int64_t nb, const uint8_t *w, size_t values_bytes,
                       const char *p, size_t p_stride, float *y, size_t ldy)
{
    __m512 acc[ROWS_MAX];
    UNROLL
    for (int r = 0; r < R; r++)
        acc[r] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *v = w + elm__panel_values_at(b, values_bytes);
        /* 4 KiB ahead, as the row-major gemv: it helps multi-threaded decode */
        for (size_t l = 0; l < values_bytes; l += 64)
            _mm_prefetch((const char *)v + 4096 + l, _MM_HINT_T0);
        __m512i line[8];
        if (q8)
            lines_q8_0(v, line);
        else
            lines_q4_0(v, line);
        const __m512 d = _mm512_cvtph_ps(
            _mm256_load_si256((const __m256i *)(w + elm__panel_scales_at(b, values_bytes))));
        UNROLL
        for (int r = 0; r < R; r++) {
            const int8_t *qs = (const int8_t *)(p + (size_t)r * p_stride) + b * ELM_QK;
            const float *da =
                (const float *)(const void *)((const int8_t *)(p + (size_t)r * p_stride) +
                                              nb * ELM_QK);
            const int32_t *c = (const int32_t *)(const void *)(da + nb);
            __m512i s0 = _mm512_set1_epi32(c[b]), s1 = _mm512_setzero_si512();
            for (int j = 0; j < 4; j++) {
                s0 = _mm512_dpbusd_epi32(s0, line[j], bcast4(qs + 4 * j));
                s1 = _mm512_dpbusd_epi32(s1, line[j + 4], bcast4(qs + 16 + 4 * j));
            }
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)),
                                     _mm512_mul_ps(d, _mm512_set1_ps(da[b])), acc[r]);
        }
    }
    UNROLL
    for (int r = 0; r < R; r++)
        _mm512_storeu_ps(y + (size_t)r * ldy, acc[r]);
}

#define PANEL_CALL(K) panel(K, q8, nb, wp, values_bytes, pr, p_stride, yo, ldy)

/* Every panel times every activation, ROWS_MAX activations at a time for each panel, so the
 * panel is read from memory once and from the caches after. */
ELM__INLINE void rows(int q8, int64_t n, int64_t n_out, const void *w, size_t w_stride,
                      const void *p, size_t p_stride, int64_t n_act, float *y, size_t ldy)
{
    const int64_t nb = n / ELM_QK;
    const size_t values_bytes = (size_t)ELM__PANEL_ROWS * (q8 ? ELM_QK : ELM_QK / 2);
    for (int64_t o = 0; o < n_out; o += ELM__PANEL_ROWS) {
        const uint8_t *wp = (const uint8_t *)w + (size_t)(o / ELM__PANEL_ROWS) * w_stride;
        for (int64_t r0 = 0; r0 < n_act; r0 += ROWS_MAX) {
            const char *pr = (const char *)p + (size_t)r0 * p_stride;
            float *yo = y + (size_t)r0 * ldy + o;
            switch (n_act - r0 < ROWS_MAX ? n_act - r0 : ROWS_MAX) {
            case 8: PANEL_CALL(8); break;
            case 7: PANEL_CALL(7); break;
            case 6: PANEL_CALL(6); break;
            case 5: PANEL_CALL(5); break;
            case 4: PANEL_CALL(4); break;
            case 3: PANEL_CALL(3); break;
            case 2: PANEL_CALL(2); break;
            default: PANEL_CALL(1); break;
            }
        }
    }
}

ELM__AVX512 void elm__panel_rows_q4_0_avx512(int64_t n, int64_t n_out, const void *w,
                                             size_t w_stride, const void *p, size_t p_stride,
                                             int64_t n_act, float *y, size_t ldy)
{
    rows(0, n, n_out, w, w_stride, p, p_stride, n_act, y, ldy);
}

ELM__AVX512 void elm__panel_rows_q8_0_avx512(int64_t n, int64_t n_out, const void *w,
                                             size_t w_stride, const void *p, size_t p_stride,
                                             int64_t n_act, float *y, size_t ldy)
{
    rows(1, n, n_out, w, w_stride, p, p_stride, n_act, y, ldy);
}

#endif
