/* kernels/x86 internals: the integer matrix products of one x86 tier, written once and compiled
 * twice, as arm_int8.h is for the NEON tiers: avx2_gemm.c (8 weight rows per tile in 256-bit
 * vectors, vpmaddubsw and vpmaddwd) and avx512_gemm.c (16 rows in 512-bit vectors, vpdpbusd and
 * vpdpwssd). y[r][o] = dot(weight row o, activation row r) for q4_0, q5_0 and q8_0 weights with
 * q8_0 activations and q4_K, q5_K and q6_K weights with q8_K activations.
 *
 * A packed tile (x86_gemm.h) holds one weight row per 32-bit lane. The weights' offsets are
 * folded in once per activation block, not per product: for the 32-value types each sum starts
 * at -bias * sum(activation block); for the K-quants the q8_K block's bsums (sums of 16 values)
 * are multiplied by each row's mins (q4_K, q5_K) or by -32 * scale (q6_K). K-quant sub-block scales
 * multiply the integer sums, exactly as the reference does; then each block's sums are scaled in
 * f32 and added into one accumulator per (tile, activation row). Only the order of the f32 sums
 * differs from the reference.
 *
 * The including file defines
 *   GEMM_TIER(name)   the name of a kernel of the tier (name##_avx2)
 *   GEMM_ATTR         the tier's function attribute
 *   GEMM_Q8_BIAS      the offset of q8_0's packed levels: 128 (unsigned) or 0 (kept signed)
 *   VI, VF, VMASK     its int32 and f32 vector types, and the mask of a tile's live rows
 *   VI_ZERO, VI_SET1, VI_ADD, VI_MULLO, VI_DPWSSD (acc + int16 pair products), VF_ZERO, VF_SET1,
 *   VF_CVT (int32 to f32), VF_ADD, VF_MUL, VF_FMADD, VF_FMSUB, VF_MASKLOAD(p, m),
 *   VF_MASKSTORE(p, m, v), VMASK_ROWS(m) (rows 0..m-1 live)
 *   TR, RN            weight rows per tile (the lanes), activation rows per micro-kernel call
 *   tile_t            its packed tile: q[block][group], d[block], dmin, sc, pair per super-block
 *   pack_tile()       unpacks blocks b0..b0+nb of up to TR weight rows into a tile_t
 *   bcast4()          4 activation bytes broadcast to every lane
 *   dot32()           sum0 + the integer dot products of a tile's rows with 32 activation bytes:
 *                     groups 0..3 into *lo, 4..7 into *hi */
#if defined(__x86_64__)
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "edgelm/kernels.h"
#include "kernels/ref/ref.h"
#include "kernels/x86/x86.h"
#include "kernels/x86/x86_gemm.h"

#define GEMM_INLINE GEMM_ATTR static inline __attribute__((always_inline))

/* ---- micro-kernels ----
 * Rows r..r+nr-1 of the activations against a packed tile of nb blocks from b0: y rows get the
 * sums (added to what they hold when accumulate, for the blocks after the first chunk). */

GEMM_INLINE void store_rows(const VF *acc, int r, int nr, float *y, size_t ldy, VMASK mask,
                            int accumulate)
{
    GEMM_UNROLL
    for (int i = 0; i < nr; i++) {
        float *yr = y + (size_t)(r + i) * ldy;
        VF v = acc[i];
        if (accumulate) v = VF_ADD(v, VF_MASKLOAD(yr, mask));
        VF_MASKSTORE(yr, mask, v);
    }
}

GEMM_INLINE void micro_q(int type, const tile_t *t, int nb, const uint8_t *a, size_t a_stride,
                         int64_t b0, const gemm_q_acts_t *p, int r, int nr, float *y, size_t ldy,
                         VMASK mask, int accumulate)
{
    VF acc[RN];
    GEMM_UNROLL
    for (int i = 0; i < nr; i++)
        acc[i] = VF_ZERO();
    for (int b = 0; b < nb; b++) {
        GEMM_UNROLL
        for (int i = 0; i < nr; i++) {
            const uint8_t *qa =
                (const uint8_t *)((const elm_block_q8_0 *)(a + (size_t)(r + i) * a_stride) + b0 + b)
                    ->qs;
            VI lo, hi;
            dot32(type, t->q[b], qa, VI_SET1(p->corr[r + i][b]), &lo, &hi);
            const VF f = VF_MUL(VF_CVT(VI_ADD(lo, hi)), VF_SET1(p->d[r + i][b]));
            acc[i] = VF_FMADD(f, t->d[b], acc[i]);
        }
    }
    store_rows(acc, r, nr, y, ldy, mask, accumulate);
}

GEMM_INLINE void micro_k(int type, const tile_t *t, int nb, const uint8_t *a, size_t a_stride,
                         int64_t b0, int r, int nr, float *y, size_t ldy, VMASK mask,
                         int accumulate)
{
    VF acc[RN];
    GEMM_UNROLL
    for (int i = 0; i < nr; i++)
        acc[i] = VF_ZERO();
    for (int b = 0; b < nb; b++) {
        const elm_block_q8_K *blk[RN];
        VI isum[RN], corr[RN];
        GEMM_UNROLL
        for (int i = 0; i < nr; i++) {
            blk[i] = (const elm_block_q8_K *)(a + (size_t)(r + i) * a_stride) + b0 + b;
            const uint8_t *bs = (const uint8_t *)blk[i]->bsums;
            corr[i] = VI_ZERO();
            GEMM_UNROLL
            for (int k = 0; k < 8; k++)
                corr[i] = VI_DPWSSD(corr[i], t->pair[b][k], bcast4(bs + 4 * k));
            isum[i] = VI_ZERO();
        }
        GEMM_UNROLL
        for (int j = 0; j < 8; j++) {
            const VI *q = t->q[8 * b + j];
            GEMM_UNROLL
            for (int i = 0; i < nr; i++) {
                VI lo, hi;
                dot32(type, q, (const uint8_t *)blk[i]->qs + 32 * j, VI_ZERO(), &lo, &hi);
                if (gemm_has_mins(type)) {
                    isum[i] = VI_ADD(isum[i], VI_MULLO(VI_ADD(lo, hi), t->sc[b][j]));
                } else {
                    isum[i] = VI_ADD(isum[i], VI_MULLO(lo, t->sc[b][2 * j]));
                    isum[i] = VI_ADD(isum[i], VI_MULLO(hi, t->sc[b][2 * j + 1]));
                }
            }
        }
        GEMM_UNROLL
        for (int i = 0; i < nr; i++) {
            const VF dy = VF_SET1(elm__q8k_d(blk[i]));
            VF f;
            if (gemm_has_mins(type)) /* d * sum - dmin * mins */
                f = VF_FMSUB(VF_CVT(isum[i]), t->d[b], VF_MUL(VF_CVT(corr[i]), t->dmin[b]));
            else
                f = VF_MUL(VF_CVT(VI_ADD(isum[i], corr[i])), t->d[b]);
            acc[i] = VF_FMADD(f, dy, acc[i]);
        }
    }
    store_rows(acc, r, nr, y, ldy, mask, accumulate);
}

/* ---- driver ---- */

/* The whole product for one weight type: activation rows in chunks of GEMM_RC, blocks in chunks
 * of one packed tile, weight rows in tiles of TR, activation rows RN at a time. */
GEMM_INLINE void gemm(int type, elm_vec_dot_fn dot, int64_t n, int64_t n_out, int64_t n_act,
                      const void *vw, size_t w_stride, const void *va, size_t a_stride, float *y,
                      size_t ldy)
{
    const uint8_t *w = vw, *a = va;
    const int k = gemm_is_k(type);
    const int64_t nb_all = n / (k ? ELM_QK_K : ELM_QK);
    const int kc_max = k ? GEMM_KC_K : GEMM_KC;
    const int bias = type == ELM_TYPE_Q8_0 ? GEMM_Q8_BIAS : gemm_q_bias(type);
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
                const VMASK mask = VMASK_ROWS(m);
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
    GEMM_ATTR void GEMM_TIER(elm__gemm_##W##_##A)(int64_t n, int64_t n_out, int64_t n_act,      \
                                                  const void *w, size_t w_stride, const void *a, \
                                                  size_t a_stride, float *y, size_t ldy)        \
    {                                                                                           \
        gemm(TYPE, GEMM_TIER(elm__vec_dot_##W##_##A), n, n_out, n_act, w, w_stride, a,         \
             a_stride, y, ldy);                                                                 \
    }

GEMM_ENTRY(q4_0, q8_0, ELM_TYPE_Q4_0)
GEMM_ENTRY(q5_0, q8_0, ELM_TYPE_Q5_0)
GEMM_ENTRY(q8_0, q8_0, ELM_TYPE_Q8_0)
GEMM_ENTRY(q4_K, q8_K, ELM_TYPE_Q4_K)
GEMM_ENTRY(q5_K, q8_K, ELM_TYPE_Q5_K)
GEMM_ENTRY(q6_K, q8_K, ELM_TYPE_Q6_K)

#undef GEMM_ENTRY
#undef GEMM_INLINE
#endif
