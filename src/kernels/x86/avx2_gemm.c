/* AVX2 matrix products (x86_gemm_tier.h compiled for the AVX2 tier): packed tiles of 8 weight
 * rows, one per 32-bit lane of a 256-bit vector.
 *
 * Without vpdpbusd, vpmaddubsw multiplies the unsigned levels by 4 broadcast activation bytes
 * into int16 pairs, and the pairs of several groups are added in int16 before vpmaddwd widens
 * them: 4 groups for levels up to 31 (4 * 2 * 31 * 128 < 2^15), 2 for q6_K's up to 63. q8_0
 * levels do not fit at all: its weights stay signed and take the sign trick of the vec_dot (|w|
 * times a with w's sign), one group at a time. The offsets are folded in as in the AVX-512 tier,
 * with vpmaddwd in place of vpdpwssd. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "edgelm/kernels.h"
#include "kernels/ref/ref.h"
#include "kernels/x86/x86.h"
#include "kernels/x86/x86_common.h"
#include "kernels/x86/x86_gemm.h"

enum {
    TR = 8, /* weight rows per tile: the lanes of a vector */
    RN = 4, /* activation rows per micro-kernel call */
};

typedef struct {
    __m256i q[GEMM_KC][8]; /* block b, group g: lane i = levels 4g..4g+3 of row i */
    __m256 d[GEMM_KC];     /* block (super-block for K-quants) b: lane i = row i's scale */
    __m256 dmin[GEMM_KC_K];
    __m256i sc[GEMM_KC_K][16];
    __m256i pair[GEMM_KC_K][8];
} tile_t;

/* ---- packing ---- */

/* The levels of 32 values of 8 rows (stage[i]: row i) as 8 vectors of 4 levels per lane. */
ELM__AVX2 static inline void transpose_8x32(const uint8_t (*stage)[32], __m256i *out)
{
    /* z[q] holds rows q and 4+q: after the in-lane 4x4 transposes, lane 4c+q is row 4c+q. */
    GEMM_UNROLL
    for (int h = 0; h < 2; h++) {
        __m256i z[4];
        GEMM_UNROLL
        for (int q = 0; q < 4; q++)
            z[q] = _mm256_inserti128_si256(
                _mm256_castsi128_si256(_mm_load_si128((const __m128i *)(stage[q] + 16 * h))),
                _mm_load_si128((const __m128i *)(stage[4 + q] + 16 * h)), 1);
        const __m256i t0 = _mm256_unpacklo_epi32(z[0], z[1]),
                      t1 = _mm256_unpackhi_epi32(z[0], z[1]);
        const __m256i t2 = _mm256_unpacklo_epi32(z[2], z[3]),
                      t3 = _mm256_unpackhi_epi32(z[2], z[3]);
        out[4 * h + 0] = _mm256_unpacklo_epi64(t0, t2);
        out[4 * h + 1] = _mm256_unpackhi_epi64(t0, t2);
        out[4 * h + 2] = _mm256_unpacklo_epi64(t1, t3);
        out[4 * h + 3] = _mm256_unpackhi_epi64(t1, t3);
    }
}

/* Unpack blocks (super-blocks for K-quants) b0..b0+nb of rows rows (at most TR) of w into t;
 * lanes past rows repeat row 0. q8_0 stays signed. */
ELM__AVX2 static void pack_tile(int type, const uint8_t *w, size_t w_stride, int rows, int64_t b0,
                                int nb, tile_t *t)
{
    const size_t bb = gemm_block_bytes(type);
    const uint8_t *row[TR];
    for (int i = 0; i < TR; i++)
        row[i] = w + (size_t)(i < rows ? i : 0) * w_stride + b0 * bb;
    _Alignas(32) uint8_t stage[TR][32];
    _Alignas(16) uint16_t dh[TR], mh[TR];
    for (int b = 0; b < nb; b++) {
        if (!gemm_is_k(type)) {
            for (int i = 0; i < TR; i++) {
                const uint8_t *blk = row[i] + (size_t)b * bb;
                _mm256_store_si256((__m256i *)stage[i], gemm_q_levels(type, blk, 0));
                dh[i] = gemm_load_u16(blk);
            }
            t->d[b] = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)dh));
            transpose_8x32((const uint8_t(*)[32])stage, t->q[b]);
            continue;
        }
        _Alignas(32) int32_t sc[16][TR], pair[8][TR];
        for (int i = 0; i < TR; i++) {
            const uint8_t *blk = row[i] + (size_t)b * bb;
            gemm_k_scales_t s = {0}; /* gcc -O3 cannot see that every type fills it */
            gemm_k_scales(type, blk, &s);
            GEMM_UNROLL
            for (int k = 0; k < 16; k++)
                sc[k][i] = s.sc[k];
            GEMM_UNROLL
            for (int k = 0; k < 8; k++)
                pair[k][i] = s.pair[k];
            if (gemm_has_mins(type)) {
                dh[i] = gemm_load_u16(blk + offsetof(elm_block_q4_K, d));
                mh[i] = gemm_load_u16(blk + offsetof(elm_block_q4_K, dmin));
            } else {
                dh[i] = gemm_load_u16(blk + offsetof(elm_block_q6_K, d));
            }
        }
        t->d[b] = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)dh));
        if (gemm_has_mins(type))
            t->dmin[b] = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)mh));
        GEMM_UNROLL
        for (int k = 0; k < 16; k++)
            t->sc[b][k] = _mm256_load_si256((const __m256i *)sc[k]);
        GEMM_UNROLL
        for (int k = 0; k < 8; k++)
            t->pair[b][k] = _mm256_load_si256((const __m256i *)pair[k]);
        GEMM_UNROLL
        for (int j = 0; j < 8; j++) {
            for (int i = 0; i < TR; i++)
                _mm256_store_si256((__m256i *)stage[i],
                                   gemm_k_levels(type, row[i] + (size_t)b * bb, j));
            transpose_8x32((const uint8_t(*)[32])stage, t->q[8 * b + j]);
        }
    }
}

/* ---- the tier's integer products ---- */

/* 4 activation bytes broadcast to every lane. */
ELM__AVX2 static inline __m256i bcast4(const uint8_t *q)
{
    return _mm256_set1_epi32(gemm_load_i32(q));
}

/* sum0 + the integer dot products of the tile's 8 rows with 32 activation values qa: groups
 * 0..3 into *lo, 4..7 into *hi. */
ELM__AVX2 static inline __attribute__((always_inline)) void
dot32(int type, const __m256i *q, const uint8_t *qa, __m256i sum0, __m256i *lo, __m256i *hi)
{
    const __m256i ones = _mm256_set1_epi16(1);
    if (type == ELM_TYPE_Q8_0) {
        __m256i s[2] = {sum0, _mm256_setzero_si256()};
        GEMM_UNROLL
        for (int g = 0; g < 8; g++) {
            const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(q[g], q[g]),
                                                   _mm256_sign_epi8(bcast4(qa + 4 * g), q[g]));
            s[g / 4] = _mm256_add_epi32(s[g / 4], _mm256_madd_epi16(p, ones));
        }
        *lo = s[0];
        *hi = s[1];
        return;
    }
    /* Groups added in int16 before widening: 2 for q6_K's six-bit levels, 4 otherwise. */
    const int span = type == ELM_TYPE_Q6_K ? 2 : 4;
    __m256i s[2] = {sum0, _mm256_setzero_si256()};
    GEMM_UNROLL
    for (int g0 = 0; g0 < 8; g0 += span) {
        __m256i p = _mm256_maddubs_epi16(q[g0], bcast4(qa + 4 * g0));
        GEMM_UNROLL
        for (int g = g0 + 1; g < g0 + span; g++)
            p = _mm256_add_epi16(p, _mm256_maddubs_epi16(q[g], bcast4(qa + 4 * g)));
        s[g0 / 4] = _mm256_add_epi32(s[g0 / 4], _mm256_madd_epi16(p, ones));
    }
    *lo = s[0];
    *hi = s[1];
}

/* ---- the tier's vector operations, for the template ---- */

#define GEMM_TIER(name) name##_avx2
#define GEMM_ATTR       ELM__AVX2
#define GEMM_Q8_BIAS    0 /* q8_0 stays signed: 255 * 127 byte pairs would saturate vpmaddubsw */
#define VI              __m256i
#define VF              __m256
#define VMASK           __m256i
#define VI_ZERO         _mm256_setzero_si256
#define VI_SET1         _mm256_set1_epi32
#define VI_ADD          _mm256_add_epi32
#define VI_MULLO        _mm256_mullo_epi32
#define VI_DPWSSD(acc, a, b) _mm256_add_epi32((acc), _mm256_madd_epi16((a), (b)))
#define VF_ZERO         _mm256_setzero_ps
#define VF_SET1         _mm256_set1_ps
#define VF_CVT          _mm256_cvtepi32_ps
#define VF_ADD          _mm256_add_ps
#define VF_MUL          _mm256_mul_ps
#define VF_FMADD        _mm256_fmadd_ps
#define VF_FMSUB        _mm256_fmsub_ps
#define VF_MASKLOAD(p, m)     _mm256_maskload_ps((p), (m))
#define VF_MASKSTORE(p, m, v) _mm256_maskstore_ps((p), (m), (v))
#define VMASK_ROWS(m)                                                                            \
    _mm256_cmpgt_epi32(_mm256_set1_epi32(m), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))

#include "kernels/x86/x86_gemm_tier.h"

#endif
