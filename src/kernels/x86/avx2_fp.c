/* AVX2 kernels of the float rows: the f32, f16 and bf16 dot products (F16C conversion, or a bf16
 * shifted into the top half of an f32, which is exact; FMA into four f32 accumulators of 8
 * lanes; the reference sums in double, so results differ in the last bits) and the f16 row
 * converter (vcvtps2ph rounds to nearest even, the same bits as elm_fp32_to_fp16, NaNs
 * included). Rows may sit at any address. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#include "edgelm/kernels.h"
#include "kernels/ref/ref.h"
#include "kernels/x86/x86.h"
#include "kernels/x86/x86_common.h"

/* One float of a row, read whole from any address. */
ELM__AVX2 static inline float f32_at(const float *p)
{
    float v;
    memcpy(&v, p, sizeof v);
    return v;
}

ELM__AVX2 void elm__vec_dot_f32_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
    const float *x = vx, *y = vy;
    ELM__AVX2_DOT_FLOAT_ROWS(n, s, x, y, _mm256_loadu_ps, f32_at);
}

/* 8 halves from any even address, as floats. */
ELM__AVX2 static inline __m256 load_f16x8(const uint16_t *h)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h));
}

ELM__AVX2 static inline float f16_at(const uint16_t *h)
{
    return elm_fp16_to_fp32(*h);
}

ELM__AVX2 void elm__vec_dot_f16_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
    const uint16_t *x = vx, *y = vy;
    ELM__AVX2_DOT_FLOAT_ROWS(n, s, x, y, load_f16x8, f16_at);
}

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

ELM__AVX2 void elm__f16_from_float_avx2(const float *x, void *vy, int64_t n)
{
    uint16_t *y = vy;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        y[i] = elm_fp32_to_fp16(x[i]);
}

#endif
