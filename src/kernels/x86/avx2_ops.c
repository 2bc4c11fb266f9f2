/* AVX2 variants of the forward pass's small ops (edgelm/ops.h): 8 lanes at a time with a
 * scalar tail, sums of squares and of exponentials in double as the reference does, and an
 * exp of our own (range reduction by ln 2, degree-6 Taylor polynomial: within 2 ulp of expf
 * over the range the ops use); and the benchmarks' read loop, with 32-byte loads here and
 * 64-byte ones on the AVX-512 tier. Compiled with target attributes; installed only on AVX2 CPUs.
 */
#include <math.h>

#include "kernels/cpu.h"
#include "kernels/ops_internal.h"
#include "kernels/x86/avx512.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))

/* e^x for 8 lanes. Inputs are clamped to [-87.3, 88.3], where 2^n stays a normal float: the
 * softmax only passes x <= 0, SiLU's exp(-g) saturating at e^88 still gives g / e^88 ≈ 0, and the
 * soft-cap's tanh is 1 there. */
AVX2 static inline __m256 exp8(__m256 x)
{
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    /* r = x - n ln 2, with ln 2 split in two so the product is exact */
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.0f / 720);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256i e =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/* Σ of the 4 doubles of v. */
AVX2 static inline double hsum_f64x4(__m256d v)
{
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

/* Add the 8 floats of v, widened to double, into two accumulators. */
AVX2 static inline void acc_f64(__m256d acc[2], __m256 v)
{
    acc[0] = _mm256_add_pd(acc[0], _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    acc[1] = _mm256_add_pd(acc[1], _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}

AVX2 static void rmsnorm_avx2(float *y, const float *x, const float *w, int64_t n, float eps)
{
    __m256d acc[2] = {_mm256_setzero_pd(), _mm256_setzero_pd()};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        acc_f64(acc, _mm256_mul_ps(v, v));
    }
    double sum = hsum_f64x4(_mm256_add_pd(acc[0], acc[1]));
    for (; i < n; i++)
        sum += (double)(x[i] * x[i]);
    const float scale = 1.0f / sqrtf((float)(sum / (double)n) + eps);
    const __m256 vs = _mm256_set1_ps(scale);
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vs),
                                              _mm256_loadu_ps(w + i)));
    for (; i < n; i++)
        y[i] = (x[i] * scale) * w[i];
}

AVX2 static float softmax_exp_avx2(float *x, int64_t n, float scale)
{
    const __m256 vs = _mm256_set1_ps(scale);
    __m256 vmax = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        vmax = _mm256_max_ps(vmax, _mm256_mul_ps(_mm256_loadu_ps(x + i), vs));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    float max = _mm_cvtss_f32(m4);
    for (; i < n; i++)
        if (x[i] * scale > max) max = x[i] * scale;
    const __m256 vm = _mm256_set1_ps(max);
    __m256d acc[2] = {_mm256_setzero_pd(), _mm256_setzero_pd()};
    for (i = 0; i + 8 <= n; i += 8) {
        const __m256 e = exp8(_mm256_fmsub_ps(_mm256_loadu_ps(x + i), vs, vm));
        _mm256_storeu_ps(x + i, e);
        acc_f64(acc, e);
    }
    double sum = hsum_f64x4(_mm256_add_pd(acc[0], acc[1]));
    for (; i < n; i++) {
        x[i] = expf(x[i] * scale - max);
        sum += x[i];
    }
    return (float)sum;
}

AVX2 static void silu_mul_avx2(float *g, const float *u, int64_t n)
{
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(g + i);
        const __m256 e = exp8(_mm256_sub_ps(zero, v));
        _mm256_storeu_ps(
            g + i, _mm256_mul_ps(_mm256_div_ps(v, _mm256_add_ps(one, e)), _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++)
        g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

/* GELU × up by ggml's table, 8 lanes at a time: rounded to fp16 (F16C, to nearest even as
 * elm_fp32_to_fp16), the entries gathered, back to f32; the same bits as the reference. */
AVX2 static void gelu_mul_avx2(float *g, const float *u, int64_t n)
{
    const uint16_t *table = elm__gelu_table();
    const __m256 lo = _mm256_set1_ps(-10.0f), hi = _mm256_set1_ps(10.0f);
    const __m256i low16 = _mm256_set1_epi32(0xFFFF);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(g + i);
        const __m256i h = _mm256_cvtepu16_epi32(
            _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        /* 4-byte gathers at 2-byte steps: entry h in the low half (the table has one spare) */
        const __m256i e =
            _mm256_and_si256(_mm256_i32gather_epi32((const int *)(const void *)table, h, 2), low16);
        const __m128i e16 = _mm256_castsi256_si128(
            _mm256_permute4x64_epi64(_mm256_packus_epi32(e, e), 0x08)); /* 8 × uint16 */
        __m256 y = _mm256_cvtph_ps(e16);
        y = _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, hi, _CMP_GE_OQ));
        y = _mm256_andnot_ps(_mm256_cmp_ps(x, lo, _CMP_LE_OQ), y);
        _mm256_storeu_ps(g + i, _mm256_mul_ps(y, _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++)
        g[i] = elm__gelu(table, g[i]) * u[i];
}

/* cap · tanh(x / cap), tanh(t) = 1 - 2 / (e^2|t| + 1) with t's sign put back: off by a few ulp of
 * 1 at most, which the cap scales (test_softcap), at most the cap, and NaN stays NaN. */
AVX2 static void softcap_avx2(float *x, int64_t n, float cap)
{
    const float inv = 1.0f / cap;
    const __m256 vinv = _mm256_set1_ps(inv), vcap = _mm256_set1_ps(cap), one = _mm256_set1_ps(1.0f),
                 two = _mm256_set1_ps(2.0f), sign = _mm256_set1_ps(-0.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i), t = _mm256_mul_ps(v, vinv),
                     a = _mm256_andnot_ps(sign, t), e = exp8(_mm256_add_ps(a, a));
        const __m256 r = _mm256_sub_ps(one, _mm256_div_ps(two, _mm256_add_ps(e, one)));
        const __m256 y = _mm256_mul_ps(_mm256_or_ps(r, _mm256_and_ps(sign, t)), vcap);
        _mm256_storeu_ps(x + i, _mm256_blendv_ps(y, v, _mm256_cmp_ps(v, v, _CMP_UNORD_Q)));
    }
    for (; i < n; i++)
        x[i] = tanhf(x[i] * inv) * cap;
}

AVX2 static void add_avx2(float *y, const float *x, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(x + i)));
    for (; i < n; i++)
        y[i] += x[i];
}

AVX2 static void scale_avx2(float *y, const float *x, float a, int64_t n)
{
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), va));
    for (; i < n; i++)
        y[i] = a * x[i];
}

/* Rounded products, then a rounded sum or difference: the reference's x0·c − x1·s and
 * x0·s + x1·c to the bit (no FMA). */
AVX2 static void rope_avx2(float *x, int64_t n_heads, int64_t head_dim, int64_t n_rot,
                           const float *cs, bool neox)
{
    const int64_t half = n_rot / 2;
    const float *c_ = cs, *s_ = cs + half;
    const __m256i dup = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
    for (int64_t h = 0; h < n_heads; h++) {
        float *v = x + h * head_dim;
        int64_t i = 0;
        if (neox) {
            for (; i + 8 <= half; i += 8) {
                const __m256 x0 = _mm256_loadu_ps(v + i), x1 = _mm256_loadu_ps(v + half + i);
                const __m256 c = _mm256_loadu_ps(c_ + i), sn = _mm256_loadu_ps(s_ + i);
                _mm256_storeu_ps(v + i, _mm256_sub_ps(_mm256_mul_ps(x0, c), _mm256_mul_ps(x1, sn)));
                _mm256_storeu_ps(v + half + i,
                                 _mm256_add_ps(_mm256_mul_ps(x0, sn), _mm256_mul_ps(x1, c)));
            }
        } else {
            /* four pairs per register: cos and sin spread to both values of their pair, and
             * addsub (even lanes a − b, odd a + b) against the pairs swapped */
            for (; i + 4 <= half; i += 4) {
                const __m256 xv = _mm256_loadu_ps(v + 2 * i);
                const __m256 c =
                    _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_loadu_ps(c_ + i)), dup);
                const __m256 sn =
                    _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_loadu_ps(s_ + i)), dup);
                const __m256 sw = _mm256_permute_ps(xv, 0xB1); /* (x1, x0) of each pair */
                _mm256_storeu_ps(v + 2 * i,
                                 _mm256_addsub_ps(_mm256_mul_ps(xv, c), _mm256_mul_ps(sw, sn)));
            }
        }
        for (; i < half; i++)
            elm__rope_pair(v, i, half, c_[i], s_[i], neox);
    }
}

/* ---- the read loop: 32-byte loads here, 64-byte ones on the AVX-512 tier ---- */

AVX2 static uint64_t read_sum_avx2(const void *buf, size_t n)
{
    const uint8_t *p = buf;
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 128 <= n; i += 128) {
        a0 = _mm256_add_epi64(a0, _mm256_loadu_si256((const __m256i *)(p + i)));
        a1 = _mm256_add_epi64(a1, _mm256_loadu_si256((const __m256i *)(p + i + 32)));
        a2 = _mm256_add_epi64(a2, _mm256_loadu_si256((const __m256i *)(p + i + 64)));
        a3 = _mm256_add_epi64(a3, _mm256_loadu_si256((const __m256i *)(p + i + 96)));
    }
    const __m256i s = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    uint64_t lanes[4];
    _mm256_storeu_si256((__m256i *)lanes, s);
    return lanes[0] + lanes[1] + lanes[2] + lanes[3] + elm__read_sum_tail(p, i, n);
}

ELM__AVX512 static uint64_t read_sum_avx512(const void *buf, size_t n)
{
    const uint8_t *p = buf;
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 256 <= n; i += 256) {
        a0 = _mm512_add_epi64(a0, _mm512_loadu_si512(p + i));
        a1 = _mm512_add_epi64(a1, _mm512_loadu_si512(p + i + 64));
        a2 = _mm512_add_epi64(a2, _mm512_loadu_si512(p + i + 128));
        a3 = _mm512_add_epi64(a3, _mm512_loadu_si512(p + i + 192));
    }
    const __m512i s = _mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3));
    /* summed as unsigned: GCC's _mm512_reduce_add_epi64 adds as signed, which may overflow */
    uint64_t lanes[8], sum = 0;
    _mm512_storeu_si512(lanes, s);
    for (int k = 0; k < 8; k++)
        sum += lanes[k];
    return sum + elm__read_sum_tail(p, i, n);
}

void elm__ops_install_x86(elm_ops_t *t, unsigned cpu)
{
    if ((cpu & ELM__CPU_TIER_AVX512) == ELM__CPU_TIER_AVX512) t->read_sum = read_sum_avx512;
    if ((cpu & (ELM__CPU_AVX2 | ELM__CPU_FMA)) != (ELM__CPU_AVX2 | ELM__CPU_FMA)) return;
    if (!(cpu & ELM__CPU_AVX512F)) t->read_sum = read_sum_avx2;
    t->rope = rope_avx2;
    t->rmsnorm = rmsnorm_avx2;
    t->softmax_exp = softmax_exp_avx2;
    t->silu_mul = silu_mul_avx2;
    if (cpu & ELM__CPU_F16C) t->gelu_mul = gelu_mul_avx2;
    t->softcap = softcap_avx2;
    t->add = add_avx2;
    t->scale = scale_avx2;
}

#else

void elm__ops_install_x86(elm_ops_t *t, unsigned cpu)
{
    (void)t;
    (void)cpu;
}

#endif
