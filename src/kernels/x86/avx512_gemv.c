/* AVX-512 VNNI matrix × vector for decode (elm_gemv_fn; the layout is x86_gemv.h's): q4_0, q5_0
 * and q8_0 weights with q8_0 activations, q4_1 with q8_1, q4_K and q5_K with q8_K. A q4_0 weight
 * group (four 18-byte blocks) is two loads, a word permute that packs the blocks' 16 nibble
 * bytes into the four lanes, two vpdpbusd, and one FMA of the int32 sums with dx · dy: about half
 * the instructions of elm__vec_dot_q4_0_q8_0_avx512 per block. q5_0 adds a second word permute
 * that lines up the blocks' fifth bits as two byte masks, and two masked adds of 16. Integer sums
 * per block are exact; the float sums run in another order than the reference's. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#include "edgelm/kernels.h"
#include "kernels/ref/ref.h"
#include "kernels/x86/x86.h"
#include "kernels/x86/avx512.h"
#include "kernels/x86/x86_common.h"
#include "kernels/x86/x86_gemv.h"

#define ELM__INLINE ELM__AVX512 static inline __attribute__((always_inline))

/* The 16 bytes at p, then those at p + s, p + 2s, p + 3s: the same part of four activation
 * blocks of s bytes. */
ELM__INLINE __m512i gather_lanes(const int8_t *p, size_t s)
{
    const __m256i a =
        _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)p)),
                                _mm_loadu_si128((const __m128i *)(p + s)), 1);
    const __m256i b = _mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(p + 2 * s))),
        _mm_loadu_si128((const __m128i *)(p + 3 * s)), 1);
    return _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
}

/* Four fp16 values as floats, value b in lanes 4b..4b+3. */
ELM__INLINE __m512 spread_4_halves(uint16_t h0, uint16_t h1, uint16_t h2, uint16_t h3)
{
    const __m128i h = _mm_setr_epi16((short)h0, (short)h1, (short)h2, (short)h3, 0, 0, 0, 0);
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3),
                                 _mm512_castps128_ps512(_mm_cvtph_ps(h)));
}

/* Lay out n_groups groups of the q8_0 row y for weights whose levels carry the offset bias (8
 * for q4_0, 16 for q5_0). */
static ELM__AVX512 void prepare(int64_t n_groups, const elm_block_q8_0 *y, act_group_t *p,
                                char bias)
{
    const __m512i bias_v = _mm512_set1_epi8(bias);
    for (int64_t g = 0; g < n_groups; g++, y += GROUP_BLOCKS) {
        const __m512i lo = gather_lanes(y[0].qs, sizeof *y),
                      hi = gather_lanes(y[0].qs + 16, sizeof *y);
        _mm512_store_si512(p[g].lo, lo);
        _mm512_store_si512(p[g].hi, hi);
        const __m512i sum8 = _mm512_dpbusd_epi32(
            _mm512_dpbusd_epi32(_mm512_setzero_si512(), bias_v, lo), bias_v, hi);
        _mm512_store_si512(p[g].offset, _mm512_sub_epi32(_mm512_setzero_si512(), sum8));
        _mm512_store_ps(p[g].dy, spread_4_halves(y[0].d, y[1].d, y[2].d, y[3].d));
    }
}

/* Lay out the q8_0 row y for q4_0 weights: one act_quad_t per four groups, the last one's
 * missing groups zero. */
static ELM__AVX512 void lay_out_q4_0(int64_t n_groups, const void *a, void *vp)
{
    const elm_block_q8_0 *y = a;
    act_quad_t *p = vp;
    const __m512i bias_v = _mm512_set1_epi8(8);
    for (int64_t g0 = 0; g0 < n_groups; g0 += QUAD_GROUPS, p++) {
        __m512i lo[QUAD_GROUPS], hi[QUAD_GROUPS], t[QUAD_GROUPS];
        uint16_t d[QUAD_GROUPS * GROUP_BLOCKS] = {0};
        for (int g = 0; g < QUAD_GROUPS; g++) {
            const elm_block_q8_0 *yg = y + (g0 + g) * GROUP_BLOCKS;
            lo[g] = hi[g] = _mm512_setzero_si512();
            if (g0 + g >= n_groups) continue;
            lo[g] = gather_lanes(yg[0].qs, sizeof *yg);
            hi[g] = gather_lanes(yg[0].qs + 16, sizeof *yg);
            for (int b = 0; b < GROUP_BLOCKS; b++)
                d[4 * b + g] = yg[b].d;
        }
        __m512i sum8 = _mm512_setzero_si512();
        elm__transpose_dwords(lo, t);
        for (int j = 0; j < QUAD_GROUPS; j++) {
            _mm512_store_si512(p->lo[j], t[j]);
            sum8 = _mm512_dpbusd_epi32(sum8, bias_v, t[j]);
        }
        elm__transpose_dwords(hi, t);
        for (int j = 0; j < QUAD_GROUPS; j++) {
            _mm512_store_si512(p->hi[j], t[j]);
            sum8 = _mm512_dpbusd_epi32(sum8, bias_v, t[j]);
        }
        _mm512_store_si512(p->offset, _mm512_sub_epi32(_mm512_setzero_si512(), sum8));
        _mm512_store_ps(p->dy, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)d)));
    }
}

static ELM__AVX512 void lay_out_q5_0(int64_t n_groups, const void *y, void *p)
{
    prepare(n_groups, y, p, 16);
}

/* The activation's side of a q4_1 group: q4_0's lines, offset 0, and each block's stored sum s
 * (fp16(d · Σq), as the reference takes it) over 4 in the four lanes of its block. */
typedef struct {
    act_group_t g;
    float s4[16];
} act_group1_t;

/* Dot product of n_groups groups of a q4_0 row x (18-byte blocks: fp16 d, 16 bytes of nibbles)
 * or, with_min, of a q4_1 row (20-byte blocks: fp16 d, fp16 min m, 16 bytes of nibbles) with
 * the prepared activation vp (act_group_t groups, act_group1_t with_min). */
ELM__INLINE float row_nibbles(int64_t n_groups, const uint8_t *x, const void *vp, int with_min)
{
    /* Block b starts at word 9b (q4_0; d is word 9b, the nibbles words 9b+1 .. 9b+8) or 10b
     * (q4_1; d, then m, then the nibbles). The second operand holds the group's bytes 64-71
     * (q4_0) or 64-79 (q4_1): words 32 and up. Words are listed highest first. */
    const __m512i qs_words =
        with_min ? _mm512_set_epi16(39, 38, 37, 36, 35, 34, 33, 32, 29, 28, 27, 26, 25, 24, 23, 22,
                                    19, 18, 17, 16, 15, 14, 13, 12, 9, 8, 7, 6, 5, 4, 3, 2)
                 : _mm512_set_epi16(35, 34, 33, 32, 31, 30, 29, 28, 26, 25, 24, 23, 22, 21, 20, 19,
                                    17, 16, 15, 14, 13, 12, 11, 10, 8, 7, 6, 5, 4, 3, 2, 1);
    const __m512i d_words = _mm512_castsi256_si512(
        with_min ? _mm256_setr_epi16(0, 0, 0, 0, 10, 10, 10, 10, 20, 20, 20, 20, 30, 30, 30, 30)
                 : _mm256_setr_epi16(0, 0, 0, 0, 9, 9, 9, 9, 18, 18, 18, 18, 27, 27, 27, 27));
    const __m512i m_words = _mm512_castsi256_si512(
        _mm256_setr_epi16(1, 1, 1, 1, 11, 11, 11, 11, 21, 21, 21, 21, 31, 31, 31, 31));
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const size_t bsize = with_min ? sizeof(elm_block_q4_1) : sizeof(elm_block_q4_0);
    const size_t psize = with_min ? sizeof(act_group1_t) : sizeof(act_group_t);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t g = 0; g < n_groups; g++, x += GROUP_BLOCKS * bsize) {
        /* 4 KiB ahead: it speeds up multi-threaded decode, where nearer distances do not */
        _mm_prefetch((const char *)x + 4096, _MM_HINT_T0);
        const __m512i a = ELM__LOAD_WEIGHTS_512(x); /* bytes 0-63 of the group's 72 or 80 */
        const __m512i b =
            _mm512_castsi128_si512(with_min ? _mm_loadu_si128((const __m128i *)(x + 64))
                                            : _mm_loadl_epi64((const __m128i *)(x + 64)));
        const __m512i q = _mm512_permutex2var_epi16(a, qs_words, b);
        const __m512i lo = _mm512_and_si512(q, m4),
                      hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
        const act_group_t *pg = (const act_group_t *)(const void *)((const char *)vp + g * psize);
        __m512i s =
            _mm512_dpbusd_epi32(_mm512_load_si512(pg->offset), lo, _mm512_load_si512(pg->lo));
        s = _mm512_dpbusd_epi32(s, hi, _mm512_load_si512(pg->hi));
        const __m512 dx =
            _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(d_words, a)));
        acc =
            _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dx, _mm512_load_ps(pg->dy)), acc);
        if (with_min) {
            const __m512 mx =
                _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(m_words, a)));
            acc = _mm512_fmadd_ps(mx, _mm512_load_ps(((const act_group1_t *)pg)->s4), acc);
        }
    }
    return _mm512_reduce_add_ps(acc);
}

/* Four q4_0 weight groups from x (n_left of them there, the others zero) laid out as an
 * act_quad_t's lines: lo[j] / hi[j] the levels that meet its lo[j] / hi[j], dx its blocks'
 * scales in the lanes of its dy. */
ELM__INLINE void quad_q4_0(const uint8_t *x, int64_t n_left, __m512i *lo, __m512i *hi, __m512 *dx)
{
    const __m512i qs_words =
        _mm512_set_epi16(35, 34, 33, 32, 31, 30, 29, 28, 26, 25, 24, 23, 22, 21, 20, 19, 17, 16,
                         15, 14, 13, 12, 11, 10, 8, 7, 6, 5, 4, 3, 2, 1);
    /* block b's scale (word 9b of its group) to words 4b + g: groups 0 and 1 at g = 0, 1 (the
     * second operand's words are 32 and up), groups 2 and 3 at g = 2, 3 */
    const __m512i d01 = _mm512_castsi256_si512(
        _mm256_setr_epi16(0, 32, 0, 0, 9, 41, 0, 0, 18, 50, 0, 0, 27, 59, 0, 0));
    const __m512i d23 = _mm512_castsi256_si512(
        _mm256_setr_epi16(0, 0, 0, 32, 0, 0, 9, 41, 0, 0, 18, 50, 0, 0, 27, 59));
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    __m512i a[QUAD_GROUPS], q[QUAD_GROUPS], t[QUAD_GROUPS];
    GEMV_UNROLL
    for (int g = 0; g < QUAD_GROUPS; g++) {
        const uint8_t *xg = x + (size_t)g * GROUP_BLOCKS * sizeof(elm_block_q4_0);
        /* 4 KiB ahead: it speeds up multi-threaded decode, where nearer distances do not */
        if (g < n_left) _mm_prefetch((const char *)xg + 4096, _MM_HINT_T0);
        a[g] = g < n_left ? ELM__LOAD_WEIGHTS_512(xg) : _mm512_setzero_si512();
        q[g] = g < n_left ? _mm512_permutex2var_epi16(
                                a[g], qs_words,
                                _mm512_castsi128_si512(_mm_loadl_epi64((const __m128i *)(xg + 64))))
                          : _mm512_setzero_si512();
    }
    elm__transpose_dwords(q, t);
    GEMV_UNROLL
    for (int j = 0; j < QUAD_GROUPS; j++) {
        lo[j] = _mm512_and_si512(t[j], m4);
        hi[j] = _mm512_and_si512(_mm512_srli_epi16(t[j], 4), m4);
    }
    const __m512i d = _mm512_mask_blend_epi16(0xCCCC, _mm512_permutex2var_epi16(a[0], d01, a[1]),
                                              _mm512_permutex2var_epi16(a[2], d23, a[3]));
    *dx = _mm512_cvtph_ps(_mm512_castsi512_si256(d));
}

/* acc plus one quad of a weight row (quad_q4_0's lines) with the prepared activation pq: each
 * lane's integer sum is a whole block's (two chains of four vpdpbusd, then their sum: exact),
 * converted and scaled once. */
ELM__INLINE __m512 quad_dot_q4_0(__m512 acc, const __m512i *lo, const __m512i *hi, __m512 dx,
                                 const act_quad_t *pq)
{
    __m512i s0 = _mm512_load_si512(pq->offset), s1 = _mm512_setzero_si512();
    GEMV_UNROLL
    for (int j = 0; j < QUAD_GROUPS; j++) {
        s0 = _mm512_dpbusd_epi32(s0, lo[j], _mm512_load_si512(pq->lo[j]));
        s1 = _mm512_dpbusd_epi32(s1, hi[j], _mm512_load_si512(pq->hi[j]));
    }
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)),
                           _mm512_mul_ps(dx, _mm512_load_ps(pq->dy)), acc);
}

/* Dot product of n_groups groups of a q4_0 row x with the prepared activation p, a quad (four
 * groups) at a time. */
ELM__INLINE float row_q4_0(int64_t n_groups, const uint8_t *x, const void *p)
{
    const act_quad_t *pq = p;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t g = 0; g < n_groups; g += QUAD_GROUPS, pq++) {
        __m512i lo[QUAD_GROUPS], hi[QUAD_GROUPS];
        __m512 dx;
        const uint8_t *xq = x + (size_t)g * GROUP_BLOCKS * sizeof(elm_block_q4_0);
        if (n_groups - g >= QUAD_GROUPS) quad_q4_0(xq, QUAD_GROUPS, lo, hi, &dx);
        else quad_q4_0(xq, n_groups - g, lo, hi, &dx);
        acc = quad_dot_q4_0(acc, lo, hi, dx, pq);
    }
    return _mm512_reduce_add_ps(acc);
}

/* Quads [u0, u1) of row_q4_0 of the q4_0 weight row x (of n values) with R prepared
 * activations (vp, p_stride bytes apart): row_q4_0's operations in its order for each
 * activation, each weight quad loaded and unpacked once for all of them. The sums carry over in
 * acc (one vector per activation) and go to y[r * ldy] after the last quad. */
ELM__INLINE void rows_q4_0(int R, int64_t u0, int64_t u1, int64_t n_units, int64_t n,
                           const uint8_t *x, const char *vp, size_t p_stride, __m512 *acc,
                           float *y, size_t ldy)
{
    const int64_t n_groups = n / GROUP_VALUES;
    __m512 a_r[GEMV_ROWS_MAX];
    GEMV_UNROLL
    for (int r = 0; r < R; r++)
        a_r[r] = u0 ? acc[r] : _mm512_setzero_ps();
    for (int64_t u = u0; u < u1; u++) {
        __m512i lo[QUAD_GROUPS], hi[QUAD_GROUPS];
        __m512 dx;
        const int64_t g = u * QUAD_GROUPS;
        const uint8_t *xq = x + (size_t)g * GROUP_BLOCKS * sizeof(elm_block_q4_0);
        if (n_groups - g >= QUAD_GROUPS) quad_q4_0(xq, QUAD_GROUPS, lo, hi, &dx);
        else quad_q4_0(xq, n_groups - g, lo, hi, &dx);
        GEMV_UNROLL
        for (int r = 0; r < R; r++)
            a_r[r] = quad_dot_q4_0(a_r[r], lo, hi, dx,
                                   (const act_quad_t *)(const void *)(vp + (size_t)r * p_stride) + u);
    }
    GEMV_UNROLL
    for (int r = 0; r < R; r++) {
        if (u1 == n_units) y[(size_t)r * ldy] = _mm512_reduce_add_ps(a_r[r]);
        else acc[r] = a_r[r];
    }
}

ELM__INLINE float row_q4_1(int64_t n_groups, const uint8_t *x, const void *p)
{
    return row_nibbles(n_groups, x, p, 1);
}

/* The same for a q5_0 row (22-byte blocks: fp16 d, 32 fifth bits qh, 16 bytes of nibbles). */
ELM__INLINE float row_q5_0(int64_t n_groups, const uint8_t *x, const act_group_t *p)
{
    /* Block b starts at word 11b: d is word 11b, qh words 11b+1..11b+2, the nibbles words
     * 11b+3 .. 11b+10. Words 0-31 are the first operand's; the second holds the group's bytes
     * 56-87 (an unmasked load that stays inside the group: a masked load of bytes 64-87 was
     * as fast from the caches and half as fast from memory), so word w >= 32 is index w + 4. */
    const __m512i qs_words =
        _mm512_set_epi16(47, 46, 45, 44, 43, 42, 41, 40, 36, 31, 30, 29, 28, 27, 26, 25, 21, 20, 19,
                         18, 17, 16, 15, 14, 10, 9, 8, 7, 6, 5, 4, 3); /* highest word first */
    const __m512i d_words = _mm512_castsi256_si512(
        _mm256_setr_epi16(0, 0, 0, 0, 11, 11, 11, 11, 22, 22, 22, 22, 37, 37, 37, 37));
    const __m512i qh_words = _mm512_castsi128_si512(_mm_setr_epi16(1, 12, 23, 38, 2, 13, 24, 39));
    const __m512i m4 = _mm512_set1_epi8(0x0F), sixteen = _mm512_set1_epi8(16);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t g = 0; g < n_groups; g++, x += GROUP_BLOCKS * sizeof(elm_block_q5_0)) {
        _mm_prefetch((const char *)x + 4096, _MM_HINT_T0); /* as row_nibbles */
        const __m512i a = ELM__LOAD_WEIGHTS_512(x);        /* bytes 0-63 of 88 */
        const __m512i b = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(x + 56)));
        const __m512i q = _mm512_permutex2var_epi16(a, qs_words, b);
        /* bit k of a block's qh is the fifth bit of its value k: values 0-15 are the low
         * nibbles, 16-31 the high. One word permute lines up the four blocks' low qh halves
         * (one mask bit per byte of lo) and then their high halves (of hi). */
        const __m128i h = _mm512_castsi512_si128(_mm512_permutex2var_epi16(a, qh_words, b));
        const __mmask64 m_lo = _cvtu64_mask64((uint64_t)_mm_cvtsi128_si64(h));
        const __mmask64 m_hi = _cvtu64_mask64((uint64_t)_mm_extract_epi64(h, 1));
        __m512i lo = _mm512_and_si512(q, m4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
        lo = _mm512_mask_add_epi8(lo, m_lo, lo, sixteen);
        hi = _mm512_mask_add_epi8(hi, m_hi, hi, sixteen);
        __m512i s =
            _mm512_dpbusd_epi32(_mm512_load_si512(p[g].offset), lo, _mm512_load_si512(p[g].lo));
        s = _mm512_dpbusd_epi32(s, hi, _mm512_load_si512(p[g].hi));
        const __m512 dx =
            _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutex2var_epi16(a, d_words, b)));
        acc =
            _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dx, _mm512_load_ps(p[g].dy)), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

ELM__AVX512 size_t elm__gemv_prepare_q4_0_avx512(int64_t n, const void *a, void *p)
{
    if (n <= 0 || n % GROUP_VALUES != 0) return 0;
    const int64_t n_groups = n / GROUP_VALUES;
    if (p) lay_out_q4_0(n_groups, a, p);
    return (size_t)((n_groups + QUAD_GROUPS - 1) / QUAD_GROUPS) * sizeof(act_quad_t);
}

ELM__AVX512 size_t elm__gemv_prepare_q5_0_avx512(int64_t n, const void *a, void *p)
{
    return prepare_groups(n, GROUP_VALUES, sizeof(act_group_t), a, p, lay_out_q5_0);
}

ELM__AVX512 void elm__gemv_q4_0_q8_0_avx512(int64_t n, int64_t n_out, const void *w,
                                            size_t w_stride, const void *p, float *y)
{
    GEMV(GROUP_VALUES, row_q4_0);
}

ELM__AVX512 void elm__gemv_q5_0_q8_0_avx512(int64_t n, int64_t n_out, const void *w,
                                            size_t w_stride, const void *p, float *y)
{
    GEMV(GROUP_VALUES, row_q5_0);
}

ELM__AVX512 void elm__gemv_rows_q4_0_q8_0_avx512(int64_t n, int64_t n_out, const void *w,
                                                 size_t w_stride, const void *p, size_t p_stride,
                                                 int64_t n_act, float *y, size_t ldy)
{
    GEMV_ROWS((n / GROUP_VALUES + QUAD_GROUPS - 1) / QUAD_GROUPS, sizeof(act_quad_t), rows_q4_0);
}

/* ---- q4_1 with q8_1 activations (AVX-512) ----
 * q4_1's levels carry no offset but each block adds its min m times the activation block's
 * stored sum s: the q4_0 row (row_nibbles) with an offset of 0, and s / 4 laid out in the four
 * lanes of its block, so an FMA of the blocks' m spread the same way adds m · s. */

static ELM__AVX512 void lay_out_q4_1(int64_t n_groups, const void *a, void *vp)
{
    const elm_block_q8_1 *y = a;
    act_group1_t *p = vp;
    for (int64_t g = 0; g < n_groups; g++, y += GROUP_BLOCKS) {
        _mm512_store_si512(p[g].g.lo, gather_lanes(y[0].qs, sizeof *y));
        _mm512_store_si512(p[g].g.hi, gather_lanes(y[0].qs + 16, sizeof *y));
        _mm512_store_si512(p[g].g.offset, _mm512_setzero_si512());
        _mm512_store_ps(p[g].g.dy, spread_4_halves(y[0].d, y[1].d, y[2].d, y[3].d));
        _mm512_store_ps(p[g].s4, _mm512_mul_ps(spread_4_halves(y[0].s, y[1].s, y[2].s, y[3].s),
                                               _mm512_set1_ps(0.25f)));
    }
}

ELM__AVX512 size_t elm__gemv_prepare_q4_1_avx512(int64_t n, const void *a, void *p)
{
    return prepare_groups(n, GROUP_VALUES, sizeof(act_group1_t), a, p, lay_out_q4_1);
}

ELM__AVX512 void elm__gemv_q4_1_q8_1_avx512(int64_t n, int64_t n_out, const void *w,
                                            size_t w_stride, const void *p, float *y)
{
    GEMV(GROUP_VALUES, row_q4_1);
}

/* ---- q8_0 with q8_0 activations (AVX-512) ----
 * vpdpbusd multiplies unsigned by signed bytes. The activation is laid out once as y + 128
 * (unsigned: 1..255), its blocks' values back to back, followed by the blocks' scales as floats;
 * a weight row's int8 x meets it as (y + 128) · x, and a second vpdpbusd of 128 with x takes the
 * 128 · x back out. The dot product instead moves x's sign onto y for every row (three more
 * instructions per pair of blocks) and converts four fp16 scales per pair, not per group. */

static ELM__AVX512 void lay_out_q8_0(int64_t n_groups, const void *a, void *p)
{
    const elm_block_q8_0 *y = a;
    uint8_t *yu = p;
    float *dy = (float *)(void *)(yu + n_groups * GROUP_VALUES);
    const __m256i c128 = _mm256_set1_epi8((char)0x80);
    for (int64_t b = 0; b < n_groups * GROUP_BLOCKS; b++) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)y[b].qs);
        _mm256_store_si256((__m256i *)(void *)(yu + ELM_QK * b), _mm256_xor_si256(v, c128));
        dy[b] = elm_fp16_to_fp32(y[b].d);
    }
}

ELM__AVX512 size_t elm__gemv_prepare_q8_0_avx512(int64_t n, const void *a, void *p)
{
    return prepare_groups(n, GROUP_VALUES, GROUP_VALUES + GROUP_BLOCKS * sizeof(float), a, p,
                          lay_out_q8_0);
}

/* The 32 values of the q8_0 block at x, then those of the block after it. */
ELM__INLINE __m512i q8_0_values_pair(const uint8_t *x)
{
    const size_t s = sizeof(elm_block_q8_0), qs = offsetof(elm_block_q8_0, qs);
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(x + qs))),
                              _mm256_loadu_si256((const __m256i *)(x + s + qs)), 1);
}

/* Dot product of n_groups groups of the q8_0 row x with the prepared activation yu. */
ELM__INLINE float row_q8_0(int64_t n_groups, const uint8_t *x, const uint8_t *yu)
{
    const float *dy = (const float *)(const void *)(yu + n_groups * GROUP_VALUES);
    const size_t bs = sizeof(elm_block_q8_0);
    const __m512i c128 = _mm512_set1_epi8((char)0x80), zero = _mm512_setzero_si512();
    const __m512i lanes[2] = {_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
                              _mm512_setr_epi32(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3)};
    __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int64_t g = 0; g < n_groups; g++, x += GROUP_BLOCKS * bs, yu += GROUP_VALUES, dy += 4) {
        uint16_t d[GROUP_BLOCKS];
        for (int k = 0; k < GROUP_BLOCKS; k++)
            memcpy(&d[k], x + k * bs, sizeof d[k]);
        const uint64_t dw =
            d[0] | (uint64_t)d[1] << 16 | (uint64_t)d[2] << 32 | (uint64_t)d[3] << 48;
        /* dx · dy of the four blocks in lanes 0-3 */
        const __m512 dd = _mm512_castps128_ps512(
            _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi64_si128((long long)dw)), _mm_load_ps(dy)));
        for (int h = 0; h < 2; h++) {
            const __m512i q = q8_0_values_pair(x + 2 * h * bs);
            const __m512i sum =
                _mm512_sub_epi32(_mm512_dpbusd_epi32(zero, _mm512_load_si512(yu + 64 * h), q),
                                 _mm512_dpbusd_epi32(zero, c128, q));
            acc[h] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_permutexvar_ps(lanes[h], dd),
                                     acc[h]);
        }
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc[0], acc[1]));
}

ELM__AVX512 void elm__gemv_q8_0_q8_0_avx512(int64_t n, int64_t n_out, const void *w,
                                            size_t w_stride, const void *p, float *y)
{
    GEMV(GROUP_VALUES, row_q8_0);
}

/* Groups [g0, g1) of row_q8_0 of the q8_0 weight row x with R prepared activations (vp,
 * p_stride bytes apart), its operations in its order for each activation, the weight blocks,
 * their scales and the 128 · x terms loaded or computed once for all of them. The sums carry
 * over in acc (two vectors per activation) and go to y[r * ldy] after the last group. */
ELM__INLINE void rows_q8_0(int R, int64_t g0, int64_t g1, int64_t n_groups, int64_t n,
                           const uint8_t *x, const char *vp, size_t p_stride, __m512 *acc,
                           float *y, size_t ldy)
{
    (void)n;
    const size_t bs = sizeof(elm_block_q8_0);
    const __m512i c128 = _mm512_set1_epi8((char)0x80), zero = _mm512_setzero_si512();
    const __m512i lanes[2] = {_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
                              _mm512_setr_epi32(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3)};
    __m512 a_r[GEMV_ROWS_MAX][2];
    GEMV_UNROLL
    for (int r = 0; r < R; r++) {
        a_r[r][0] = g0 ? acc[2 * r] : _mm512_setzero_ps();
        a_r[r][1] = g0 ? acc[2 * r + 1] : _mm512_setzero_ps();
    }
    x += g0 * GROUP_BLOCKS * bs;
    for (int64_t g = g0; g < g1; g++, x += GROUP_BLOCKS * bs) {
        uint16_t d[GROUP_BLOCKS];
        for (int k = 0; k < GROUP_BLOCKS; k++)
            memcpy(&d[k], x + k * bs, sizeof d[k]);
        const uint64_t dw =
            d[0] | (uint64_t)d[1] << 16 | (uint64_t)d[2] << 32 | (uint64_t)d[3] << 48;
        const __m128 dx = _mm_cvtph_ps(_mm_cvtsi64_si128((long long)dw));
        __m512i q[2], q128[2];
        for (int h = 0; h < 2; h++) {
            q[h] = q8_0_values_pair(x + 2 * h * bs);
            q128[h] = _mm512_dpbusd_epi32(zero, c128, q[h]);
        }
        GEMV_UNROLL
        for (int r = 0; r < R; r++) {
            const uint8_t *yu = (const uint8_t *)vp + (size_t)r * p_stride + g * GROUP_VALUES;
            const float *dy =
                (const float *)(const void *)((const uint8_t *)vp + (size_t)r * p_stride +
                                              n_groups * GROUP_VALUES) +
                4 * g;
            const __m512 dd = _mm512_castps128_ps512(_mm_mul_ps(dx, _mm_load_ps(dy)));
            GEMV_UNROLL
            for (int h = 0; h < 2; h++) {
                const __m512i sum = _mm512_sub_epi32(
                    _mm512_dpbusd_epi32(zero, _mm512_load_si512(yu + 64 * h), q[h]), q128[h]);
                a_r[r][h] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum),
                                            _mm512_permutexvar_ps(lanes[h], dd), a_r[r][h]);
            }
        }
    }
    GEMV_UNROLL
    for (int r = 0; r < R; r++) {
        if (g1 == n_groups) {
            y[(size_t)r * ldy] = _mm512_reduce_add_ps(_mm512_add_ps(a_r[r][0], a_r[r][1]));
        } else {
            acc[2 * r] = a_r[r][0];
            acc[2 * r + 1] = a_r[r][1];
        }
    }
}

ELM__AVX512 void elm__gemv_rows_q8_0_q8_0_avx512(int64_t n, int64_t n_out, const void *w,
                                                 size_t w_stride, const void *p, size_t p_stride,
                                                 int64_t n_act, float *y, size_t ldy)
{
    GEMV_ROWS(n / GROUP_VALUES, GROUP_VALUES + GROUP_BLOCKS * sizeof(float), rows_q8_0);
}

/* ---- q4_K and q5_K with q8_K activations (AVX-512) ----
 * A q4_K super-block is 256 values: fp16 d and dmin, 8 six-bit (scale, min) pairs of 32
 * values, and 128 bytes of nibbles in two halves of 64 bytes, whose low nibbles are values
 * 0-31 and 64-95 of their 128 and whose high nibbles 32-63 and 96-127. The activation's side
 * is laid out once per super-block in that order, with the sums of its 32-value sub-blocks
 * for the mins, so a weight super-block is two loads, four maddubs whose int16 pairs vpdpwssd
 * multiplies by their sub-block's scale into int32 lanes, and the (scale, min) unpacking. */

typedef struct {
    /* the values that meet the low, the high nibbles of qs[0..63], then those of qs[64..127] */
    _Alignas(64) int8_t y[4][64];
    int16_t sums[8]; /* the sum of each 32 values (sub-block j: scale and min j) */
    float dy;
} act_k_t;

static ELM__AVX512 void lay_out_k(int64_t nb, const void *vy, void *vp)
{
    const elm_block_q8_K *y = vy;
    act_k_t *p = vp;
    for (int64_t i = 0; i < nb; i++) {
        for (int c = 0; c < 2; c++) {
            const __m512i a = _mm512_loadu_si512(y[i].qs + 128 * c),
                          b = _mm512_loadu_si512(y[i].qs + 128 * c + 64);
            _mm512_store_si512(p[i].y[2 * c], _mm512_shuffle_i64x2(a, b, _MM_SHUFFLE(1, 0, 1, 0)));
            _mm512_store_si512(p[i].y[2 * c + 1],
                               _mm512_shuffle_i64x2(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
        }
        const __m128i b0 = _mm_loadu_si128((const __m128i *)y[i].bsums),
                      b1 = _mm_loadu_si128((const __m128i *)(y[i].bsums + 8));
        _mm_storeu_si128((__m128i *)p[i].sums, _mm_hadd_epi16(b0, b1)); /* |sum| <= 32 * 128 */
        p[i].dy = elm__q8k_d(&y[i]);
    }
}

/* Dot product of nb super-blocks of a q4_K row (has_qh 0) or q5_K row (has_qh 1: 32 bytes of
 * fifth bits between the scales and the nibbles, bit 2c of qh[l] for the low nibble of
 * qs[32c + l], bit 2c + 1 for its high nibble, as in dot_k4) with the prepared activation p. */
ELM__INLINE float row_k4(int64_t nb, const uint8_t *x, size_t size, int has_qh, const act_k_t *p)
{
    __m512 acc = _mm512_setzero_ps();
    __m128 acc_min = _mm_setzero_ps();
    for (int64_t i = 0; i < nb; i++, x += size) {
        /* no software prefetch: unlike row_nibbles', it slows K-quant decode down */
        const uint8_t *qs = x + 16 + (has_qh ? 32 : 0), *qh = x + 16;
        uint32_t d_dmin;
        memcpy(&d_dmin, x, sizeof d_dmin);
        /* [d · dy, dmin · dy, 0, 0] */
        const __m128 dd =
            _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128((int)d_dmin)), _mm_set1_ps(p[i].dy));
        const __m128i sc_m = k4_scales_mins(x + 4);
        const __m512i sc16 = _mm512_castsi128_si512(_mm_cvtepu8_epi16(sc_m));
        const __m128i mins = _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_unpackhi_epi64(sc_m, sc_m)),
                                            _mm_load_si128((const __m128i *)p[i].sums));
        __m512i sumi = _mm512_setzero_si512();
        for (int c = 0; c < 2; c++) {
            __m512i lo, hi;
            elm__k4_levels(qs, has_qh ? qh : NULL, c, &lo, &hi);
            sumi = elm__k4_half_dot(sumi, lo, hi, _mm512_load_si512(p[i].y[2 * c]),
                                    _mm512_load_si512(p[i].y[2 * c + 1]), sc16, c);
        }
        acc = _mm512_fmadd_ps(_mm512_broadcastss_ps(dd), _mm512_cvtepi32_ps(sumi), acc);
        acc_min = _mm_fmadd_ps(_mm_permute_ps(dd, _MM_SHUFFLE(1, 1, 1, 1)), _mm_cvtepi32_ps(mins),
                               acc_min);
    }
    return _mm512_reduce_add_ps(acc) - hsum_f32x4(acc_min);
}

ELM__INLINE float row_q4_K(int64_t nb, const uint8_t *x, const act_k_t *p)
{
    return row_k4(nb, x, sizeof(elm_block_q4_K), 0, p);
}

ELM__INLINE float row_q5_K(int64_t nb, const uint8_t *x, const act_k_t *p)
{
    return row_k4(nb, x, sizeof(elm_block_q5_K), 1, p);
}

ELM__AVX512 size_t elm__gemv_prepare_k_avx512(int64_t n, const void *a, void *p)
{
    return prepare_groups(n, ELM_QK_K, sizeof(act_k_t), a, p, lay_out_k);
}

ELM__AVX512 void elm__gemv_q4_K_q8_K_avx512(int64_t n, int64_t n_out, const void *w,
                                            size_t w_stride, const void *p, float *y)
{
    GEMV(ELM_QK_K, row_q4_K);
}

ELM__AVX512 void elm__gemv_q5_K_q8_K_avx512(int64_t n, int64_t n_out, const void *w,
                                            size_t w_stride, const void *p, float *y)
{
    GEMV(ELM_QK_K, row_q5_K);
}

#endif
