/* AVX-512 VNNI matrix products (x86_gemm_tier.h compiled for the AVX-512 tier): packed tiles of
 * 16 weight rows, one per 32-bit lane of a 512-bit vector.
 *
 * A tile's levels are unpacked once per call into 8 vectors per 32 values, vector g holding
 * levels 4g..4g+3 of every row, all as unsigned bytes (q8_0's offset by 128); vpdpbusd multiplies
 * them by 4 activation bytes broadcast to all lanes and adds the 4 products into each lane: 8
 * instructions give 16 rows' integer dot products over 32 values. vpdpwssd folds in the
 * K-quants' bsums, vpmulld their sub-block scales. */
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

enum {
    TR = 16, /* weight rows per tile: the lanes of a vector */
    RN = 4,  /* activation rows per micro-kernel call: 4 accumulators, 8 weight vectors */
};

/* One packed tile: GEMM_KC blocks of 32 values of TR rows. */
typedef struct {
    __m512i q[GEMM_KC][8]; /* block b, group g: lane i = levels 4g..4g+3 of row i, unsigned */
    __m512 d[GEMM_KC];     /* block (super-block for K-quants) b: lane i = row i's scale */
    /* K-quants, per super-block: */
    __m512 dmin[GEMM_KC_K];     /* q4_K's and q5_K's min scale */
    __m512i sc[GEMM_KC_K][16];  /* sub-block scales (q4_K, q5_K: 8 of 32 values; q6_K: 16 of 16) */
    __m512i pair[GEMM_KC_K][8]; /* int16 pairs for the bsums (x86_gemm.h) */
} tile_t;

/* ---- packing ----
 * Straight from the weight blocks: 16 bytes at the same offset of each of the 16 rows are
 * transposed into 4 vectors of one dword per row, and levels are split out of them in
 * registers, so a row's scales and levels are decoded with vector operations across the tile. */

/* Dword j (0..3) of the 16 bytes at row[i] + off, in lane i of out[j]. */
ELM__AVX512_GEMM static inline void load_t16(const uint8_t *const *row, size_t off, __m512i *out)
{
    /* z[q] holds rows q, 4+q, 8+q, 12+q in its 128-bit lanes: after a 4x4 transpose of dwords
     * in each 128-bit lane, lane 4c+q of the result is row 4c+q. */
    __m512i z[4];
    GEMM_UNROLL
    for (int q = 0; q < 4; q++) {
        __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(row[q] + off)));
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(row[4 + q] + off)), 1);
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(row[8 + q] + off)), 2);
        z[q] = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(row[12 + q] + off)), 3);
    }
    elm__transpose_dwords(z, out);
}

/* The 32 bytes at row[i] + off as 8 vectors. */
ELM__AVX512_GEMM static inline void load_t32(const uint8_t *const *row, size_t off, __m512i *out)
{
    load_t16(row, off, out);
    load_t16(row, off + 16, out + 4);
}

/* The fp16 at row[i] + off of the 16 rows, as floats. */
ELM__AVX512_GEMM static inline __m512 load_fp16s(const uint8_t *const *row, size_t off)
{
    _Alignas(32) uint16_t h[TR];
    for (int i = 0; i < TR; i++)
        h[i] = gemm_load_u16(row[i] + off);
    return _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)h));
}

/* Byte k (0..3) of each dword of x, as an int: unsigned, or sign-extended. */
ELM__AVX512_GEMM static inline __m512i byte_u(__m512i x, int k)
{
    return _mm512_and_si512(_mm512_srli_epi32(x, 8 * k), _mm512_set1_epi32(0xFF));
}

ELM__AVX512_GEMM static inline __m512i byte_s(__m512i x, int k)
{
    return _mm512_srai_epi32(_mm512_slli_epi32(x, 24 - 8 * k), 24);
}

/* The 4-bit nibbles of every byte: low (hi == 0) or high. */
ELM__AVX512_GEMM static inline __m512i nibbles(__m512i x, int hi)
{
    return _mm512_and_si512(hi ? _mm512_srli_epi16(x, 4) : x, _mm512_set1_epi8(0x0F));
}

/* q5_0's fifth bits of levels 4g..4g+3 (bits 4g.. of qh), as 0x10 in the matching bytes: the
 * multiply moves bit k of a 4-bit value to bit 8k (the shifted copies do not overlap). */
ELM__AVX512_GEMM static inline __m512i fifth_bits(__m512i qh, int g)
{
    const __m512i x = _mm512_and_si512(_mm512_srli_epi32(qh, 4 * g), _mm512_set1_epi32(0xF));
    const __m512i spread = _mm512_and_si512(_mm512_mullo_epi32(x, _mm512_set1_epi32(0x00204081)),
                                            _mm512_set1_epi32(0x01010101));
    return _mm512_slli_epi32(spread, 4);
}

/* One 32-value block of q4_0, q5_0 or q8_0 at offset o of every row. */
ELM__AVX512_GEMM static inline void pack_q(int type, const uint8_t *const *row, size_t o,
                                           __m512i *q, __m512 *d)
{
    *d = load_fp16s(row, o);
    if (type == ELM_TYPE_Q8_0) {
        load_t32(row, o + offsetof(elm_block_q8_0, qs), q);
        GEMM_UNROLL
        for (int g = 0; g < 8; g++)
            q[g] = _mm512_xor_si512(q[g], _mm512_set1_epi8((char)0x80));
        return;
    }
    __m512i x[4];
    load_t16(
        row,
        o + (type == ELM_TYPE_Q4_0 ? offsetof(elm_block_q4_0, qs) : offsetof(elm_block_q5_0, qs)),
        x);
    GEMM_UNROLL
    for (int g = 0; g < 4; g++) {
        q[g] = nibbles(x[g], 0);
        q[4 + g] = nibbles(x[g], 1);
    }
    if (type == ELM_TYPE_Q5_0) {
        _Alignas(64) int32_t h[TR];
        for (int i = 0; i < TR; i++)
            h[i] = gemm_load_i32(row[i] + o + offsetof(elm_block_q5_0, qh));
        const __m512i qh = _mm512_load_si512(h);
        GEMM_UNROLL
        for (int g = 0; g < 8; g++)
            q[g] = _mm512_or_si512(q[g], fifth_bits(qh, g));
    }
}

/* q5_K's fifth bits of sub-block j: bit j of each byte of qh, as 0x10 in that byte. */
ELM__AVX512_GEMM static inline __m512i fifth_bits_k(__m512i qh, int j)
{
    const __m512i x = j < 4 ? _mm512_slli_epi16(qh, 4 - j) : _mm512_srli_epi16(qh, j - 4);
    return _mm512_and_si512(x, _mm512_set1_epi8(0x10));
}

/* One q4_K or q5_K super-block at offset o of every row: levels of its 8 sub-blocks, scales and
 * mins (elm__k4_scale_min, in lanes). */
ELM__AVX512_GEMM static inline void pack_k4(int type, const uint8_t *const *row, size_t o,
                                            tile_t *t, int b)
{
    t->d[b] = load_fp16s(row, o + offsetof(elm_block_q4_K, d));
    t->dmin[b] = load_fp16s(row, o + offsetof(elm_block_q4_K, dmin));
    __m512i s[4]; /* scales bytes 0..3, 4..7, 8..11 (and 4 bytes of levels) */
    load_t16(row, o + offsetof(elm_block_q4_K, scales), s);
    const __m512i m6 = _mm512_set1_epi32(63), m4 = _mm512_set1_epi32(0xF),
                  m2 = _mm512_set1_epi32(3);
    GEMM_UNROLL
    for (int j = 0; j < 8; j++) {
        __m512i sc, m;
        if (j < 4) {
            sc = _mm512_and_si512(byte_u(s[0], j), m6);
            m = _mm512_and_si512(byte_u(s[1], j), m6);
        } else {
            const __m512i lo = byte_u(s[2], j - 4);
            const __m512i top_sc = _mm512_and_si512(_mm512_srli_epi32(byte_u(s[0], j - 4), 6), m2);
            const __m512i top_m = _mm512_and_si512(_mm512_srli_epi32(byte_u(s[1], j - 4), 6), m2);
            sc = _mm512_or_si512(_mm512_and_si512(lo, m4), _mm512_slli_epi32(top_sc, 4));
            m = _mm512_or_si512(_mm512_srli_epi32(lo, 4), _mm512_slli_epi32(top_m, 4));
        }
        t->sc[b][j] = sc;
        t->pair[b][j] = _mm512_or_si512(m, _mm512_slli_epi32(m, 16));
    }
    /* 32 bytes of levels c hold sub-block 2c in their low nibbles, 2c+1 in the high ones; q5_K
     * adds bit j of qh[l] to value l of sub-block j. */
    const int q5 = type == ELM_TYPE_Q5_K;
    __m512i qh[8];
    if (q5) load_t32(row, o + offsetof(elm_block_q5_K, qh), qh);
    const size_t qs = q5 ? offsetof(elm_block_q5_K, qs) : offsetof(elm_block_q4_K, qs);
    for (int c = 0; c < 4; c++) {
        __m512i x[8];
        load_t32(row, o + qs + 32 * (size_t)c, x);
        GEMM_UNROLL
        for (int g = 0; g < 8; g++) {
            __m512i lo = nibbles(x[g], 0), hi = nibbles(x[g], 1);
            if (q5) {
                lo = _mm512_or_si512(lo, fifth_bits_k(qh[g], 2 * c));
                hi = _mm512_or_si512(hi, fifth_bits_k(qh[g], 2 * c + 1));
            }
            t->q[8 * b + 2 * c][g] = lo;
            t->q[8 * b + 2 * c + 1][g] = hi;
        }
    }
}

/* One q6_K super-block at offset o of every row: levels (x86_gemm.h, gemm_k_levels), the 16
 * signed scales, and -32 * scale in int16 pairs. */
ELM__AVX512_GEMM static inline void pack_q6_K(const uint8_t *const *row, size_t o, tile_t *t, int b)
{
    t->d[b] = load_fp16s(row, o + offsetof(elm_block_q6_K, d));
    __m512i s[4];
    load_t16(row, o + offsetof(elm_block_q6_K, scales), s);
    GEMM_UNROLL
    for (int k = 0; k < 16; k++)
        t->sc[b][k] = byte_s(s[k / 4], k % 4);
    const __m512i low16 = _mm512_set1_epi32(0xFFFF);
    GEMM_UNROLL
    for (int k = 0; k < 8; k++) {
        const __m512i p0 =
            _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(t->sc[b][2 * k], 5));
        const __m512i p1 =
            _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(t->sc[b][2 * k + 1], 5));
        t->pair[b][k] = _mm512_or_si512(_mm512_and_si512(p0, low16), _mm512_slli_epi32(p1, 16));
    }
    const __m512i m4 = _mm512_set1_epi8(0x0F), m2 = _mm512_set1_epi8(3);
    for (int h = 0; h < 2; h++) {
        __m512i l[2][8], qh[8];
        load_t32(row, o + offsetof(elm_block_q6_K, ql) + 64 * (size_t)h, l[0]);
        load_t32(row, o + offsetof(elm_block_q6_K, ql) + 64 * (size_t)h + 32, l[1]);
        load_t32(row, o + offsetof(elm_block_q6_K, qh) + 32 * (size_t)h, qh);
        GEMM_UNROLL
        for (int jj = 0; jj < 4; jj++) {
            GEMM_UNROLL
            for (int g = 0; g < 8; g++) {
                const __m512i lo =
                    _mm512_and_si512(_mm512_srli_epi16(l[jj & 1][g], 4 * (jj >> 1)), m4);
                const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(qh[g], 2 * jj), m2);
                t->q[8 * b + 4 * h + jj][g] = _mm512_or_si512(lo, _mm512_slli_epi16(hi, 4));
            }
        }
    }
}

/* Unpack blocks (super-blocks for K-quants) b0..b0+nb of rows rows (at most TR) of w into t.
 * Lanes past rows repeat row 0: they are computed and never stored. */
ELM__AVX512_GEMM static void pack_tile(int type, const uint8_t *w, size_t w_stride, int rows,
                                       int64_t b0, int nb, tile_t *t)
{
    const size_t bb = gemm_block_bytes(type);
    const uint8_t *row[TR];
    for (int i = 0; i < TR; i++)
        row[i] = w + (size_t)(i < rows ? i : 0) * w_stride + b0 * bb;
    for (int b = 0; b < nb; b++) {
        const size_t o = (size_t)b * bb;
        if (gemm_has_mins(type))
            pack_k4(type, row, o, t, b);
        else if (type == ELM_TYPE_Q6_K)
            pack_q6_K(row, o, t, b);
        else
            pack_q(type, row, o, t->q[b], &t->d[b]);
    }
}

/* ---- the tier's integer products ---- */

/* 4 activation bytes broadcast to every lane. */
ELM__AVX512_GEMM static inline __m512i bcast4(const uint8_t *q)
{
    return _mm512_set1_epi32(gemm_load_i32(q));
}

/* sum0 + levels of groups 0..3 · qa[0..15], and levels of groups 4..7 · qa[16..31]: two chains
 * of 4 dependent vpdpbusd, the same for every type (every level is unsigned here). */
ELM__AVX512_GEMM static inline void dot32(int type, const __m512i *q, const uint8_t *qa,
                                          __m512i sum0, __m512i *lo, __m512i *hi)
{
    (void)type;
    __m512i s0 = sum0, s1 = _mm512_setzero_si512();
    GEMM_UNROLL
    for (int g = 0; g < 4; g++) {
        s0 = _mm512_dpbusd_epi32(s0, q[g], bcast4(qa + 4 * g));
        s1 = _mm512_dpbusd_epi32(s1, q[4 + g], bcast4(qa + 16 + 4 * g));
    }
    *lo = s0;
    *hi = s1;
}

/* ---- the tier's vector operations, for the template ---- */

#define GEMM_TIER(name) name##_avx512
#define GEMM_ATTR       ELM__AVX512_GEMM
#define GEMM_Q8_BIAS    128 /* q8_0's levels packed unsigned, as vpdpbusd takes them */
#define VI              __m512i
#define VF              __m512
#define VMASK           __mmask16
#define VI_ZERO         _mm512_setzero_si512
#define VI_SET1         _mm512_set1_epi32
#define VI_ADD          _mm512_add_epi32
#define VI_MULLO        _mm512_mullo_epi32
#define VI_DPWSSD       _mm512_dpwssd_epi32
#define VF_ZERO         _mm512_setzero_ps
#define VF_SET1         _mm512_set1_ps
#define VF_CVT          _mm512_cvtepi32_ps
#define VF_ADD          _mm512_add_ps
#define VF_MUL          _mm512_mul_ps
#define VF_FMADD        _mm512_fmadd_ps
#define VF_FMSUB        _mm512_fmsub_ps
#define VF_MASKLOAD(p, m)     _mm512_maskz_loadu_ps((m), (p))
#define VF_MASKSTORE(p, m, v) _mm512_mask_storeu_ps((p), (m), (v))
#define VMASK_ROWS(m)         ((__mmask16)((1u << (m)) - 1))

#include "kernels/x86/x86_gemm_tier.h"

#endif
