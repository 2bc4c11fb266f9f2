/* kernels/x86 internals: what the matrix products of both tiers (x86_gemm_tier.h as avx2_gemm.c
 * and avx512_gemm.c compile it, and x86_gemm_f16.c) share: the blocking constants, the levels of
 * a weight block as unsigned bytes, and the per-block activation scales and sums they fold into
 * the integer products.
 *
 * Both tiers compute a tile of weight rows at once with one row per 32-bit lane: the weights of
 * the tile are unpacked once per call into a small buffer (a "packed tile", on the stack; the
 * model's weights are never repacked), so that 4 weight levels of each row sit in one lane and 4
 * activation values, broadcast to every lane, meet them in one multiply-add of 4 byte pairs. */
#ifndef ELM_KERNELS_X86_GEMM_H
#define ELM_KERNELS_X86_GEMM_H

#if defined(__x86_64__)
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "edgelm/gguf.h"
#include "kernels/ref/ref.h"
#include "kernels/x86/x86.h"
#include "kernels/x86/x86_common.h"

/* The attribute of the AVX-512 tier's matrix products (ELM__CPU_TIER_AVX512). */
#define ELM__AVX512_GEMM \
    __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

/* Put before the loops over a register tile and over the groups of a block: GCC's -O2 leaves
 * them rolled, and the accumulators then live in memory. */
#define GEMM_UNROLL _Pragma("GCC unroll 16")

/* Blocking of both tiers: a packed tile covers GEMM_KC blocks of 32 values (16 KiB of levels at
 * 16 rows: it stays in L1 while GEMM_RC activation rows stream past it), that is GEMM_KC_K
 * K-quant super-blocks. Below GEMM_MIN_ACT activation rows (GEMM_MIN_ACT_K for the K-quants,
 * whose scales cost more to unpack), unpacking a tile costs more than it saves: the kernels run
 * the tier's vec_dot for each output instead (the crossovers the kernels benchmark finds). */
enum {
    GEMM_KC = 32,
    GEMM_KC_K = GEMM_KC * ELM_QK / ELM_QK_K,
    GEMM_RC = 64,
    GEMM_MIN_ACT = 3,
    GEMM_MIN_ACT_K = 5,
};

static inline int gemm_is_k(int type)
{
    return type == ELM_TYPE_Q4_K || type == ELM_TYPE_Q5_K || type == ELM_TYPE_Q6_K;
}

/* q4_K and q5_K share their head (d, dmin, the packed 6-bit scales and mins at the same
 * offsets) and value = d * sc * level - dmin * m; only where the levels come from differs. */
_Static_assert(offsetof(elm_block_q4_K, d) == offsetof(elm_block_q5_K, d) &&
                   offsetof(elm_block_q4_K, dmin) == offsetof(elm_block_q5_K, dmin) &&
                   offsetof(elm_block_q4_K, scales) == offsetof(elm_block_q5_K, scales),
               "q4_K and q5_K heads");

static inline int gemm_has_mins(int type)
{
    return type == ELM_TYPE_Q4_K || type == ELM_TYPE_Q5_K;
}

/* The product as n_out x n_act calls of a vec_dot. */
static inline void gemm_by_vec_dot(elm_vec_dot_fn dot, int64_t n, int64_t n_out, int64_t n_act,
                                   const uint8_t *w, size_t w_stride, const uint8_t *a,
                                   size_t a_stride, float *y, size_t ldy)
{
    for (int64_t r = 0; r < n_act; r++)
        for (int64_t o = 0; o < n_out; o++)
            dot(n, &y[(size_t)r * ldy + (size_t)o], w + (size_t)o * w_stride,
                a + (size_t)r * a_stride);
}

/* The 32-value weight types as unsigned levels: value = d * (level - bias). The AVX2 tier keeps
 * q8_0 signed (its byte products saturate on 255 * 127 pairs), so it asks for bias 0 there. */
static inline int gemm_q_bias(int type)
{
    return type == ELM_TYPE_Q4_0 ? 8 : type == ELM_TYPE_Q5_0 ? 16 : 128;
}

/* The bytes of one block (super-block for the K-quants) of a weight type the kernels take. */
static inline size_t gemm_block_bytes(int type)
{
    return type == ELM_TYPE_Q4_0   ? sizeof(elm_block_q4_0)
           : type == ELM_TYPE_Q5_0 ? sizeof(elm_block_q5_0)
           : type == ELM_TYPE_Q4_K ? sizeof(elm_block_q4_K)
           : type == ELM_TYPE_Q5_K ? sizeof(elm_block_q5_K)
           : type == ELM_TYPE_Q6_K ? sizeof(elm_block_q6_K)
                                   : sizeof(elm_block_q8_0);
}

/* The 32 levels of one weight block, in value order, as bytes: level + 128 for q8_0 when
 * unsigned_q8 (that is, q8_0's two's complement with the top bit flipped), its signed bytes
 * otherwise. Every block type starts with its fp16 scale d. */
ELM__AVX2 static inline __m256i gemm_q_levels(int type, const uint8_t *blk, int unsigned_q8)
{
    if (type == ELM_TYPE_Q4_0) return nibbles_32(((const elm_block_q4_0 *)blk)->qs);
    if (type == ELM_TYPE_Q5_0) {
        const elm_block_q5_0 *b = (const elm_block_q5_0 *)blk;
        return _mm256_or_si256(nibbles_32(b->qs),
                               _mm256_and_si256(bits_32(b->qh), _mm256_set1_epi8(0x10)));
    }
    const __m256i q = _mm256_loadu_si256((const __m256i *)((const elm_block_q8_0 *)blk)->qs);
    return unsigned_q8 ? _mm256_xor_si256(q, _mm256_set1_epi8((char)0x80)) : q;
}

/* The 32 levels of sub-block j (0..7) of a K-quant super-block as unsigned bytes: q4_K's
 * nibbles (0..15, value = d * sc * level - dmin * m), q5_K's nibbles plus 16 times bit j of
 * qh[l] (0..31, the same value), or q6_K's six-bit levels (0..63, value = d * sc * (level -
 * 32)), in value order. */
ELM__AVX2 static inline __m256i gemm_k_levels(int type, const uint8_t *blk, int j)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    if (type == ELM_TYPE_Q4_K) {
        const __m256i q =
            _mm256_loadu_si256((const __m256i *)(((const elm_block_q4_K *)blk)->qs + 32 * (j / 2)));
        return _mm256_and_si256(_mm256_srli_epi16(q, 4 * (j & 1)), m4);
    }
    if (type == ELM_TYPE_Q5_K) {
        const elm_block_q5_K *b = (const elm_block_q5_K *)blk;
        const __m256i q = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * (j / 2)));
        const __m256i qh = _mm256_loadu_si256((const __m256i *)b->qh);
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qh, j), _mm256_set1_epi8(1));
        return _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4 * (j & 1)), m4),
                               _mm256_slli_epi16(hi, 4));
    }
    /* q6_K: values 128h + 32jj + l take a nibble of ql[64h + 32(jj & 1) + l] and bits 2jj of
     * qh[32h + l]. */
    const elm_block_q6_K *b = (const elm_block_q6_K *)blk;
    const int h = j / 4, jj = j % 4;
    const __m256i ql = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32 * (jj & 1)));
    const __m256i qh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
    const __m256i lo = _mm256_and_si256(_mm256_srli_epi16(ql, 4 * (jj >> 1)), m4);
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * jj), _mm256_set1_epi8(3));
    return _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
}

/* Per weight row and super-block, the integers a K-quant tile needs besides its levels: the
 * scale of each 32 (q4_K, q5_K) or 16 (q6_K) values, and for each pair of q8_K bsums (dword k of
 * bsums: values 32k..32k+31) the int16 pair they are multiplied by: q4_K's and q5_K's min
 * (m_k, m_k), whose sum is then scaled by -dmin; q6_K's (-32 sc_2k, -32 sc_2k+1), the level
 * offset folded in. */
typedef struct {
    int32_t sc[16];
    int32_t pair[8];
} gemm_k_scales_t;

static inline void gemm_k_scales(int type, const uint8_t *blk, gemm_k_scales_t *s)
{
    if (gemm_has_mins(type)) {
        const elm_block_q4_K *b = (const elm_block_q4_K *)blk; /* q5_K's head is the same */
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            elm__k4_scale_min(j, b->scales, &sc, &m);
            s->sc[j] = sc;
            s->pair[j] = (int32_t)((uint32_t)m | (uint32_t)m << 16);
        }
        return;
    }
    const elm_block_q6_K *b = (const elm_block_q6_K *)blk;
    for (int k = 0; k < 16; k++)
        s->sc[k] = b->scales[k];
    for (int k = 0; k < 8; k++)
        s->pair[k] = (int32_t)((uint32_t)(uint16_t)(int16_t)(-32 * s->sc[2 * k]) |
                               (uint32_t)(uint16_t)(int16_t)(-32 * s->sc[2 * k + 1]) << 16);
}

static inline uint16_t gemm_load_u16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline int32_t gemm_load_i32(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Per activation block: its scale, and -bias * (sum of its 32 values), the term that turns
 * sum(level * a) into sum((level - bias) * a). */
typedef struct {
    float d[GEMM_RC][GEMM_KC];
    int32_t corr[GEMM_RC][GEMM_KC];
} gemm_q_acts_t;

/* Fill acts for rows rows of q8_0 activations (a_stride bytes apart) and nb blocks from block
 * b0. */
ELM__AVX2 static inline void gemm_q_prep_acts(const uint8_t *a, size_t a_stride, int rows,
                                              int64_t b0, int nb, int bias, gemm_q_acts_t *p)
{
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    for (int r = 0; r < rows; r++) {
        const elm_block_q8_0 *blk = (const elm_block_q8_0 *)(a + (size_t)r * a_stride) + b0;
        for (int b = 0; b < nb; b++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)blk[b].qs);
            const int sum = hsum_i32x8(_mm256_madd_epi16(_mm256_maddubs_epi16(ones8, q), ones16));
            p->d[r][b] = fp16_to_f32(blk[b].d);
            p->corr[r][b] = -bias * sum;
        }
    }
}

#endif
#endif
