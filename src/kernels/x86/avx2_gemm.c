/* AVX2 matrix products: the AVX2 tier's counterpart of avx512_gemm.c (q4_0, q5_0, q8_0 with
 * q8_0 activations; q4_K, q6_K with q8_K activations), with the same packed tiles at 8 rows, one
 * per 32-bit lane of a 256-bit vector.
 *
 * Without vpdpbusd, vpmaddubsw multiplies the unsigned levels by 4 broadcast activation bytes
 * into int16 pairs, and the pairs of several groups are added in int16 before vpmaddwd widens
 * them: 4 groups for levels up to 31 (4 * 2 * 31 * 128 < 2^15), 2 for q6_K's up to 63. q8_0
 * levels do not fit at all: its weights stay signed and take the sign trick of the vec_dot (|w|
 * times a with w's sign), one group at a time. The offsets are folded in as in the AVX-512 file,
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

static inline size_t block_bytes(int type)
{
    return type == ELM_TYPE_Q4_K   ? sizeof(elm_block_q4_K)
           : type == ELM_TYPE_Q6_K ? sizeof(elm_block_q6_K)
                                   : gemm_q_block_bytes(type);
}

/* Unpack blocks (super-blocks for K-quants) b0..b0+nb of rows rows (at most TR) of w into t;
 * lanes past rows repeat row 0. q8_0 stays signed. */
ELM__AVX2 static void pack_tile(int type, const uint8_t *w, size_t w_stride, int rows, int64_t b0,
                                int nb, tile_t *t)
{
    const size_t bb = block_bytes(type);
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
            gemm_k_scales_t s;
            gemm_k_scales(type, blk, &s);
            GEMM_UNROLL
            for (int k = 0; k < 16; k++)
                sc[k][i] = s.sc[k];
            GEMM_UNROLL
            for (int k = 0; k < 8; k++)
                pair[k][i] = s.pair[k];
            if (type == ELM_TYPE_Q4_K) {
                dh[i] = gemm_load_u16(blk + offsetof(elm_block_q4_K, d));
                mh[i] = gemm_load_u16(blk + offsetof(elm_block_q4_K, dmin));
            } else {
                dh[i] = gemm_load_u16(blk + offsetof(elm_block_q6_K, d));
            }
        }
        t->d[b] = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)dh));
        if (type == ELM_TYPE_Q4_K)
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

/* ---- micro-kernels (see avx512_gemm.c) ---- */

/* 4 activation bytes broadcast to every lane. */
ELM__AVX2 static inline __m256i bcast4(const uint8_t *q)
{
    return _mm256_set1_epi32(gemm_load_i32(q));
}

/* The integer dot products of the tile's 8 rows with 32 activation values qa: groups 0..3 into
 * *lo, 4..7 into *hi. */
ELM__AVX2 static inline __attribute__((always_inline)) void
dot32(int type, const __m256i *q, const uint8_t *qa, __m256i *lo, __m256i *hi)
{
    const __m256i ones = _mm256_set1_epi16(1);
    if (type == ELM_TYPE_Q8_0) {
        __m256i s[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
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
    __m256i s[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
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

ELM__AVX2 static inline void store_rows(const __m256 *acc, int r, int nr, float *y, size_t ldy,
                                        __m256i mask, int accumulate)
{
    GEMM_UNROLL
    for (int i = 0; i < nr; i++) {
        float *yr = y + (size_t)(r + i) * ldy;
        __m256 v = acc[i];
        if (accumulate) v = _mm256_add_ps(v, _mm256_maskload_ps(yr, mask));
        _mm256_maskstore_ps(yr, mask, v);
    }
}

ELM__AVX2 static inline __attribute__((always_inline)) void
micro_q(int type, const tile_t *t, int nb, const uint8_t *a, size_t a_stride, int64_t b0,
        const gemm_q_acts_t *p, int r, int nr, float *y, size_t ldy, __m256i mask, int accumulate)
{
    __m256 acc[RN];
    GEMM_UNROLL
    for (int i = 0; i < nr; i++)
        acc[i] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        GEMM_UNROLL
        for (int i = 0; i < nr; i++) {
            const uint8_t *qa =
                (const uint8_t *)((const elm_block_q8_0 *)(a + (size_t)(r + i) * a_stride) + b0 + b)
                    ->qs;
            __m256i lo, hi;
            dot32(type, t->q[b], qa, &lo, &hi);
            __m256i s = _mm256_add_epi32(lo, hi);
            if (type != ELM_TYPE_Q8_0)
                s = _mm256_add_epi32(s, _mm256_set1_epi32(p->corr[r + i][b]));
            const __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(p->d[r + i][b]));
            acc[i] = _mm256_fmadd_ps(f, t->d[b], acc[i]);
        }
    }
    store_rows(acc, r, nr, y, ldy, mask, accumulate);
}

ELM__AVX2 static inline __attribute__((always_inline)) void
micro_k(int type, const tile_t *t, int nb, const uint8_t *a, size_t a_stride, int64_t b0, int r,
        int nr, float *y, size_t ldy, __m256i mask, int accumulate)
{
    __m256 acc[RN];
    GEMM_UNROLL
    for (int i = 0; i < nr; i++)
        acc[i] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const elm_block_q8_K *blk[RN];
        __m256i isum[RN], corr[RN];
        GEMM_UNROLL
        for (int i = 0; i < nr; i++) {
            blk[i] = (const elm_block_q8_K *)(a + (size_t)(r + i) * a_stride) + b0 + b;
            const uint8_t *bs = (const uint8_t *)blk[i]->bsums;
            corr[i] = _mm256_setzero_si256();
            GEMM_UNROLL
            for (int k = 0; k < 8; k++)
                corr[i] =
                    _mm256_add_epi32(corr[i], _mm256_madd_epi16(t->pair[b][k], bcast4(bs + 4 * k)));
            isum[i] = _mm256_setzero_si256();
        }
        GEMM_UNROLL
        for (int j = 0; j < 8; j++) {
            const __m256i *q = t->q[8 * b + j];
            GEMM_UNROLL
            for (int i = 0; i < nr; i++) {
                __m256i lo, hi;
                dot32(type, q, (const uint8_t *)blk[i]->qs + 32 * j, &lo, &hi);
                if (type == ELM_TYPE_Q4_K) {
                    isum[i] = _mm256_add_epi32(
                        isum[i], _mm256_mullo_epi32(_mm256_add_epi32(lo, hi), t->sc[b][j]));
                } else {
                    isum[i] = _mm256_add_epi32(isum[i], _mm256_mullo_epi32(lo, t->sc[b][2 * j]));
                    isum[i] =
                        _mm256_add_epi32(isum[i], _mm256_mullo_epi32(hi, t->sc[b][2 * j + 1]));
                }
            }
        }
        GEMM_UNROLL
        for (int i = 0; i < nr; i++) {
            const __m256 dy = _mm256_set1_ps(elm__q8k_d(blk[i]));
            __m256 f;
            if (type == ELM_TYPE_Q4_K) /* d * sum - dmin * mins */
                f = _mm256_fmsub_ps(_mm256_cvtepi32_ps(isum[i]), t->d[b],
                                    _mm256_mul_ps(_mm256_cvtepi32_ps(corr[i]), t->dmin[b]));
            else
                f = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(isum[i], corr[i])), t->d[b]);
            acc[i] = _mm256_fmadd_ps(f, dy, acc[i]);
        }
    }
    store_rows(acc, r, nr, y, ldy, mask, accumulate);
}

/* ---- driver (see avx512_gemm.c) ---- */

ELM__AVX2 static inline __attribute__((always_inline)) void
gemm(int type, elm_vec_dot_fn dot, int64_t n, int64_t n_out, int64_t n_act, const void *vw,
     size_t w_stride, const void *va, size_t a_stride, float *y, size_t ldy)
{
    const uint8_t *w = vw, *a = va;
    const int k = gemm_is_k(type);
    const int64_t nb_all = n / (k ? ELM_QK_K : ELM_QK);
    const int kc_max = k ? GEMM_KC_K : GEMM_KC;
    const int bias = type == ELM_TYPE_Q8_0 ? 0 : gemm_q_bias(type);
    tile_t tile;
    gemm_q_acts_t acts;
    if (n_act < (k ? GEMM_MIN_ACT_K : GEMM_MIN_ACT) || nb_all == 0) {
        gemm_by_vec_dot(dot, n, n_out, n_act, w, w_stride, a, a_stride, y, ldy);
        return;
    }
    for (int64_t r0 = 0; r0 < n_act; r0 += GEMM_RC) {
        const int rc = (int)ELM__MIN(GEMM_RC, n_act - r0);
        const uint8_t *ar = a + (size_t)r0 * a_stride;
        for (int64_t k0 = 0; k0 < nb_all; k0 += kc_max) {
            const int kc = (int)ELM__MIN(kc_max, nb_all - k0);
            if (!k) gemm_q_prep_acts(ar, a_stride, rc, k0, kc, bias, &acts);
            for (int64_t o0 = 0; o0 < n_out; o0 += TR) {
                const int m = (int)ELM__MIN(TR, n_out - o0);
                const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(m),
                                                        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
                pack_tile(type, w + (size_t)o0 * w_stride, w_stride, m, k0, kc, &tile);
                float *yt = y + (size_t)r0 * ldy + o0;
                int r = 0;
                if (k) {
                    for (; r + RN <= rc; r += RN)
                        micro_k(type, &tile, kc, ar, a_stride, k0, r, RN, yt, ldy, mask, k0 > 0);
                    for (; r < rc; r++)
                        micro_k(type, &tile, kc, ar, a_stride, k0, r, 1, yt, ldy, mask, k0 > 0);
                } else {
                    for (; r + RN <= rc; r += RN)
                        micro_q(type, &tile, kc, ar, a_stride, k0, &acts, r, RN, yt, ldy, mask,
                                k0 > 0);
                    for (; r < rc; r++)
                        micro_q(type, &tile, kc, ar, a_stride, k0, &acts, r, 1, yt, ldy, mask,
                                k0 > 0);
                }
            }
        }
    }
}

/* ---- entry points ---- */

#define GEMM_ENTRY(W, A, TYPE)                                                                  \
    ELM__AVX2 void elm__gemm_##W##_##A##_avx2(int64_t n, int64_t n_out, int64_t n_act,          \
                                              const void *w, size_t w_stride, const void *a,    \
                                              size_t a_stride, float *y, size_t ldy)            \
    {                                                                                           \
        gemm(TYPE, elm__vec_dot_##W##_##A##_avx2, n, n_out, n_act, w, w_stride, a, a_stride, y, \
             ldy);                                                                              \
    }

GEMM_ENTRY(q4_0, q8_0, ELM_TYPE_Q4_0)
GEMM_ENTRY(q5_0, q8_0, ELM_TYPE_Q5_0)
GEMM_ENTRY(q8_0, q8_0, ELM_TYPE_Q8_0)
GEMM_ENTRY(q4_K, q8_K, ELM_TYPE_Q4_K)
GEMM_ENTRY(q6_K, q8_K, ELM_TYPE_Q6_K)

#endif
