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

/* Activation rows at a time: the 32-value types' accumulators and unpacked block fit the 32
 * registers; the K-quants' spill some, but 8 rows still beat 4 (q4_K 170-177 against 144-158
 * GMAC/s in prefill, q6_K 114-131 against 92-107). */
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

ELM__AVX512 size_t elm__panel_prepare_q5_0_avx512(int64_t n, const void *a, void *p)
{
    return prepare(n, a, p, 16);
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

/* Bit j of each byte of h at bit 4 (the fifth bits of q5_0's line j, of q5_K's sub-block j; the
 * caller masks the rest): a whole-dword shift keeps the bit in its byte. */
ELM__INLINE __m512i bit_to_4(__m512i h, int j)
{
    return j < 4 ? _mm512_slli_epi32(h, 4 - j) : j > 4 ? _mm512_srli_epi32(h, j - 4) : h;
}

/* q5_0: a line of fifth bits (byte k of lane r: bit j is that of row r's value 4j + k), then
 * q4_0's four lines; line j takes its fifth bits from bit j of each byte, shifted to bit 4. */
ELM__INLINE void lines_q5_0(const uint8_t *v, __m512i *w)
{
    const __m512i h = _mm512_load_si512(v), b4 = _mm512_set1_epi8(0x10);
    lines_q4_0(v + 64, w);
    for (int j = 0; j < 8; j++)
        w[j] = _mm512_ternarylogic_epi32(w[j], bit_to_4(h, j), b4, 0xF8); /* w | (bit & b4) */
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

/* How far ahead the panels prefetch, as measured (docs/kernels.md, `make bench-decode`): the
 * K-quants 1 KiB, a part of the block at a time as they read it (a whole q6_K block's prefetches
 * at once held its loads up); the 32-value types a whole number of groups, about 2 KiB (not a
 * whole number of groups, q5_0 read 0.89-0.92 of the read loop against 0.94-1.01). */
enum { PREFETCH = 1024, PREFETCH_GROUPS = 3, PREFETCH_GROUPS_Q8_0 = 2 };

/* Prefetches `bytes` of the panel at `at`, dist bytes ahead. */
ELM__INLINE void prefetch_ahead(const uint8_t *at, size_t bytes, size_t dist)
{
    for (size_t l = 0; l < bytes; l += 64)
        _mm_prefetch((const char *)at + dist + l, _MM_HINT_T0);
}

/* Part `part` of `parts` of prefetch_ahead(at, bytes, dist), in whole lines. */
ELM__INLINE void prefetch_part(const uint8_t *at, size_t bytes, int part, int parts, size_t dist)
{
    const size_t from = bytes * (size_t)part / (size_t)parts / 64 * 64,
                 to = part + 1 == parts ? bytes
                                        : bytes * (size_t)(part + 1) / (size_t)parts / 64 * 64;
    prefetch_ahead(at + from, to - from, dist);
}

/* One panel of nb blocks (values_bytes a block) times R prepared activations (p, p_stride bytes
 * apart) into y[r * ldy + 0..15]. */
enum { KIND_Q4_0, KIND_Q8_0, KIND_Q5_0 };

ELM__INLINE void panel(int R, int kind, int64_t nb, const uint8_t *w, size_t values_bytes,
                       const char *p, size_t p_stride, float *y, size_t ldy)
{
    __m512 acc[ROWS_MAX];
    UNROLL
    for (int r = 0; r < R; r++)
        acc[r] = _mm512_setzero_ps();
    const size_t dist = (ELM__PANEL_HEAD + 2 * values_bytes) *
                        (kind == KIND_Q8_0 ? PREFETCH_GROUPS_Q8_0 : PREFETCH_GROUPS);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *v = w + elm__panel_lines_at(b, values_bytes, 2);
        if (b % 2 == 0) prefetch_ahead(v - ELM__PANEL_HEAD, ELM__PANEL_HEAD, dist);
        prefetch_ahead(v, values_bytes, dist);
        __m512i line[8];
        if (kind == KIND_Q8_0)
            lines_q8_0(v, line);
        else if (kind == KIND_Q5_0)
            lines_q5_0(v, line);
        else
            lines_q4_0(v, line);
        const __m512 d = _mm512_cvtph_ps(
            _mm256_load_si256((const __m256i *)(w + elm__panel_head_at(b, values_bytes, 2, 1, 0))));
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

/* Every panel times every activation, ROWS_MAX activations at a time for each panel, so the
 * panel is read from memory once and from the caches after: CALL(R) runs one panel (wp) times R
 * activations (pr) into yo. */
#define EVERY_PANEL(CALL)                                                                  \
    for (int64_t o = 0; o < n_out; o += ELM__PANEL_ROWS) {                                 \
        const uint8_t *wp = (const uint8_t *)w + (size_t)(o / ELM__PANEL_ROWS) * w_stride; \
        for (int64_t r0 = 0; r0 < n_act; r0 += ROWS_MAX) {                                 \
            const char *pr = (const char *)p + (size_t)r0 * p_stride;                      \
            float *yo = y + (size_t)r0 * ldy + o;                                          \
            switch (n_act - r0 < ROWS_MAX ? n_act - r0 : ROWS_MAX) {                       \
            case 8: CALL(8); break;                                                        \
            case 7: CALL(7); break;                                                        \
            case 6: CALL(6); break;                                                        \
            case 5: CALL(5); break;                                                        \
            case 4: CALL(4); break;                                                        \
            case 3: CALL(3); break;                                                        \
            case 2: CALL(2); break;                                                        \
            default: CALL(1); break;                                                       \
            }                                                                              \
        }                                                                                  \
    }

#define PANEL_CALL(K) panel(K, kind, nb, wp, values_bytes, pr, p_stride, yo, ldy)

ELM__INLINE void rows(int kind, int64_t n, int64_t n_out, const void *w, size_t w_stride,
                      const void *p, size_t p_stride, int64_t n_act, float *y, size_t ldy)
{
    const int64_t nb = n / ELM_QK;
    const size_t values_bytes = (size_t)ELM__PANEL_ROWS * (kind == KIND_Q8_0   ? ELM_QK
                                                           : kind == KIND_Q5_0 ? ELM_QK / 2 + 4
                                                                               : ELM_QK / 2);
    EVERY_PANEL(PANEL_CALL)
}

ELM__AVX512 void elm__panel_rows_q4_0_avx512(int64_t n, int64_t n_out, const void *w,
                                             size_t w_stride, const void *p, size_t p_stride,
                                             int64_t n_act, float *y, size_t ldy)
{
    rows(KIND_Q4_0, n, n_out, w, w_stride, p, p_stride, n_act, y, ldy);
}

ELM__AVX512 void elm__panel_rows_q8_0_avx512(int64_t n, int64_t n_out, const void *w,
                                             size_t w_stride, const void *p, size_t p_stride,
                                             int64_t n_act, float *y, size_t ldy)
{
    rows(KIND_Q8_0, n, n_out, w, w_stride, p, p_stride, n_act, y, ldy);
}

ELM__AVX512 void elm__panel_rows_q5_0_avx512(int64_t n, int64_t n_out, const void *w,
                                             size_t w_stride, const void *p, size_t p_stride,
                                             int64_t n_act, float *y, size_t ldy)
{
    rows(KIND_Q5_0, n, n_out, w, w_stride, p, p_stride, n_act, y, ldy);
}

/* ---- q4_K, q5_K and q6_K panels with q8_K activations ----
 * They read the activation rows as q8_K has them (no prepare). A sub-block's integer sum (32
 * values of q4_K and q5_K, 16 of q6_K, each its own scale) is a chain of vpdpbusd over its lines,
 * times its 16 rows' scales (vpmulld) into the super-block's sum; the terms that do not depend on
 * the values (q4_K's and q5_K's mins, q6_K's offset of 32) are vpdpwssd of the rows' scales or
 * mins, as int16 pairs, with q8_K's sums of 16 values, two to a dword. */

/* The int32 lanes of v with only byte k of each, zero-extended (unsigned) or sign-extended. */
ELM__INLINE __m512i byte_u(__m512i v, int k)
{
    return _mm512_and_si512(_mm512_srli_epi32(v, 8 * k), _mm512_set1_epi32(0xFF));
}

ELM__INLINE __m512i byte_s(__m512i v, int k)
{
    return _mm512_srai_epi32(_mm512_slli_epi32(v, 24 - 8 * k), 24);
}

/* Each int32 lane of v with its bytes picked by sel: byte i of the result is byte (sel >> 8i) &
 * 0xFF of the lane, or 0 where that is 0x80. */
ELM__INLINE __m512i pick_bytes(__m512i v, uint32_t sel)
{
    /* vpshufb indexes bytes within 128-bit lanes: lane k of four starts at byte 4k */
    const __m512i at = _mm512_set4_epi32(0x0C0C0C0C, 0x08080808, 0x04040404, 0);
    return _mm512_shuffle_epi8(v, _mm512_add_epi8(at, _mm512_set1_epi32((int)sel)));
}

/* Bytes k and k + 1 of each lane as two sign-extended int16: the pair that meets q8_K's sums of
 * 16 values k and k + 1 (one dword). */
ELM__INLINE __m512i pair_s16(__m512i v, int k)
{
    return _mm512_srai_epi16(
        pick_bytes(v, 0x00800080u | (uint32_t)k << 8 | (uint32_t)(k + 1) << 24), 8);
}

/* Σ over the 8 dwords of q8_K's sums of 16 values (two to a dword) of pairs[k] · dword k: the
 * rows' mins or scales as int16 pairs against the activation's sums. */
ELM__INLINE __m512i bsums_dot(const __m512i *pairs, const elm_block_q8_K *a)
{
    __m512i s = _mm512_setzero_si512();
    for (int k = 0; k < 8; k++)
        s = _mm512_dpwssd_epi32(s, pairs[k], bcast4((const int8_t *)&a->bsums[2 * k]));
    return s;
}

ELM__INLINE const elm_block_q8_K *act_k(const char *p, size_t p_stride, int r, int64_t b)
{
    return (const elm_block_q8_K *)(const void *)(p + (size_t)r * p_stride) + b;
}

/* One q4_K or (five) q5_K panel of nb super-blocks times R activations. Lines of a super-block:
 * 3 of (scale, min) pairs; q5_K's 8 of fifth bits, line t holding bytes 4t.. of qh, whose bit j
 * is that of sub-block j's values 4t..; then 32 of nibbles, line 8c + t holding bytes 32c + 4t..
 * of qs, whose low nibbles are values 64c + 4t.. (sub-block 2c) and high nibbles values 64c + 32
 * + 4t.. (2c + 1). A value's fifth bit goes to its bit 4 by a shift and a vpternlogd. */
ELM__INLINE void panel_k4(int R, bool five, int64_t nb, const uint8_t *w, const char *p,
                          size_t p_stride, float *y, size_t ldy)
{
    enum { QH_LINES = ELM_QK_K / 8 / 4 };
    const size_t VB =
        ELM__PANEL_ROWS * (ELM_K_SCALE_SIZE + ELM_QK_K / 2 + (five ? ELM_QK_K / 8 : 0));
    const __m512i m4 = _mm512_set1_epi8(0x0F), m6 = _mm512_set1_epi8(0x3F),
                  hi2 = _mm512_set1_epi8(0x30), b4 = _mm512_set1_epi8(0x10);
    __m512 acc[ROWS_MAX];
    UNROLL
    for (int r = 0; r < R; r++)
        acc[r] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *head = w + elm__panel_head_at(b, VB, 1, 2, 0),
                      *lines = w + elm__panel_lines_at(b, VB, 1);
        const __m512i l0 = _mm512_load_si512(lines), l1 = _mm512_load_si512(lines + 64),
                      l2 = _mm512_load_si512(lines + 128);
        const uint8_t *qh = lines + 64 * 3, *nib = qh + (five ? 64 * QH_LINES : 0);
        /* get_scale_min_k4 on 16 rows: scales 0-3 and mins 0-3 are the low six bits of bytes
         * 0-3 and 4-7; scales and mins 4-7 take their low four bits from bytes 8-11 and their top
         * two from the top bits of bytes 0-3 and 4-7 */
        const __m512i sc03 = _mm512_and_si512(l0, m6), mn03 = _mm512_and_si512(l1, m6),
                      sc47 = _mm512_or_si512(_mm512_and_si512(l2, m4),
                                             _mm512_and_si512(_mm512_srli_epi32(l0, 2), hi2)),
                      mn47 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(l2, 4), m4),
                                             _mm512_and_si512(_mm512_srli_epi32(l1, 2), hi2));
        __m512i isum[ROWS_MAX];
        UNROLL
        for (int r = 0; r < R; r++)
            isum[r] = _mm512_setzero_si512();
        /* decode (one row): each line read once for both sub-blocks it holds, as four chains,
         * reads closer to the read loop than a sub-block at a time (docs/kernels.md); with more
         * rows the 16 lines of nibbles would spill */
        if (R == 1) {
            _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++)
            {
                const uint8_t *v = nib + 64 * 8 * c;
                prefetch_part(head, ELM__PANEL_HEAD + VB, c, 4, PREFETCH);
                const int8_t *qs = act_k(p, p_stride, 0, b)->qs + 64 * c;
                /* sub-block 2c's values 0-15 and 16-31, then 2c + 1's */
                __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512(),
                        s2 = _mm512_setzero_si512(), s3 = _mm512_setzero_si512();
                for (int t = 0; t < 8; t++) {
                    const __m512i x = _mm512_load_si512(v + 64 * t);
                    __m512i lo = _mm512_and_si512(x, m4),
                            hi = _mm512_and_si512(_mm512_srli_epi16(x, 4), m4);
                    if (five) {
                        const __m512i h = _mm512_load_si512(qh + 64 * t);
                        lo = _mm512_ternarylogic_epi32(lo, bit_to_4(h, 2 * c), b4, 0xF8);
                        hi = _mm512_ternarylogic_epi32(hi, bit_to_4(h, 2 * c + 1), b4, 0xF8);
                    }
                    if (t < 4) {
                        s0 = _mm512_dpbusd_epi32(s0, lo, bcast4(qs + 4 * t));
                        s2 = _mm512_dpbusd_epi32(s2, hi, bcast4(qs + 32 + 4 * t));
                    } else {
                        s1 = _mm512_dpbusd_epi32(s1, lo, bcast4(qs + 4 * t));
                        s3 = _mm512_dpbusd_epi32(s3, hi, bcast4(qs + 32 + 4 * t));
                    }
                }
                const __m512i sc = c < 2 ? sc03 : sc47;
                isum[0] = _mm512_add_epi32(
                    isum[0], _mm512_mullo_epi32(_mm512_add_epi32(s0, s1), byte_u(sc, 2 * c % 4)));
                isum[0] =
                    _mm512_add_epi32(isum[0], _mm512_mullo_epi32(_mm512_add_epi32(s2, s3),
                                                                 byte_u(sc, (2 * c + 1) % 4)));
            }
        } else {
            _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++)
            {
                const uint8_t *v = nib + 64 * 8 * (j / 2);
                prefetch_part(head, ELM__PANEL_HEAD + VB, j, 8, PREFETCH);
                __m512i q[8];
                for (int t = 0; t < 8; t++) {
                    const __m512i x = _mm512_load_si512(v + 64 * t);
                    q[t] = _mm512_and_si512(j % 2 ? _mm512_srli_epi16(x, 4) : x, m4);
                    if (five) /* q | (fifth bits & b4) */
                        q[t] = _mm512_ternarylogic_epi32(
                            q[t], bit_to_4(_mm512_load_si512(qh + 64 * t), j), b4, 0xF8);
                }
                const __m512i sc = byte_u(j < 4 ? sc03 : sc47, j % 4);
                UNROLL
                for (int r = 0; r < R; r++) {
                    const int8_t *qs = act_k(p, p_stride, r, b)->qs + 64 * (j / 2) + 32 * (j % 2);
                    __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
                    for (int t = 0; t < 4; t++) {
                        s0 = _mm512_dpbusd_epi32(s0, q[t], bcast4(qs + 4 * t));
                        s1 = _mm512_dpbusd_epi32(s1, q[t + 4], bcast4(qs + 16 + 4 * t));
                    }
                    isum[r] =
                        _mm512_add_epi32(isum[r], _mm512_mullo_epi32(_mm512_add_epi32(s0, s1), sc));
                }
            }
        }
        /* min j twice in a lane (int16), to meet the sums of 16 values 2j and 2j + 1 */
        __m512i mn[8];
        for (int j = 0; j < 8; j++)
            mn[j] = pick_bytes(j < 4 ? mn03 : mn47, 0x80008000u | (uint32_t)(j % 4) * 0x10001u);
        const __m512 d = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)head)),
                     dmin = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(head + 32)));
        UNROLL
        for (int r = 0; r < R; r++) {
            const elm_block_q8_K *a = act_k(p, p_stride, r, b);
            const __m512i imin = bsums_dot(mn, a);
            const __m512 da = _mm512_set1_ps(elm__q8k_d(a));
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[r]), _mm512_mul_ps(d, da), acc[r]);
            acc[r] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(imin), _mm512_mul_ps(dmin, da), acc[r]);
        }
    }
    UNROLL
    for (int r = 0; r < R; r++)
        _mm512_storeu_ps(y + (size_t)r * ldy, acc[r]);
}

/* Value qv of the four that q6_K's recoded lines a, b, c hold (panel.c's recode_q6_K), plus 32, in
 * each byte: v0, v1 and v3 times 4, v2 as it is. */
ELM__INLINE __m512i q6_values(__m512i a, __m512i b, __m512i c, int qv)
{
    const __m512i up6 = _mm512_set1_epi8((char)0xFC), m2 = _mm512_set1_epi8(3);
    if (qv == 0) return _mm512_and_si512(a, up6);
    if (qv == 1) return _mm512_and_si512(b, up6);
    if (qv == 2) return _mm512_and_si512(c, _mm512_set1_epi8(0x3F));
    /* v3: bits 0-1 and 2-3 (a's and b's low two) to bits 2-3 and 4-5 by table (vpshufb), bits
     * 4-5 already at 6-7 of c */
    const __m512i to2 = _mm512_set4_epi32(0, 0, 0, 0x0C080400),
                  to4 = _mm512_set4_epi32(0, 0, 0, 0x30201000);
    return _mm512_ternarylogic_epi32(_mm512_and_si512(c, _mm512_set1_epi8((char)0xC0)),
                                     _mm512_shuffle_epi8(to2, _mm512_and_si512(a, m2)),
                                     _mm512_shuffle_epi8(to4, _mm512_and_si512(b, m2)),
                                     0xFE); /* the three ORed */
}

/* The 16 rows' scale of group g of a q6_K super-block whose values are qv of four: times 4 for
 * v2, so that every group's sum is 4 times the true one. */
ELM__INLINE __m512i q6_scale(const uint8_t *lines, int g, int qv)
{
    const __m512i sc = byte_s(_mm512_load_si512(lines + 64 * (g / 4)), g % 4);
    return qv == 2 ? _mm512_slli_epi32(sc, 2) : sc;
}

/* One q6_K panel of nb super-blocks times R activations. Lines of a super-block: 4 of scales, then
 * for each quarter hq = 2h + t of a row's values 12 lines (panel.h): 4 recoded from ql bytes 64h +
 * 16t.., 4 from ql 32 further, 4 from qh bytes 32h + 16t... Line i (< 4) of the three hold values
 * 128h + 16t + 4i.. and 32, 64 and 96 further (v0..v3, q6_values): value 128h + 32q + 16t + 4i..
 * is in group 8h + 2q + t of 16. The integer sums are 4 times the true ones, taken back out in the
 * float scale (a power of two: the same bits). */
ELM__INLINE void panel_q6_K(int R, int64_t nb, const uint8_t *w, const char *p, size_t p_stride,
                            float *y, size_t ldy)
{
    enum { VB = ELM__PANEL_ROWS * (ELM_QK_K / 16 + ELM_QK_K / 2 + ELM_QK_K / 4) };
    __m512 acc[ROWS_MAX];
    UNROLL
    for (int r = 0; r < R; r++)
        acc[r] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *lines = w + elm__panel_lines_at(b, VB, 2);
        if (b % 2 == 0)
            prefetch_ahead(w + elm__panel_head_at(b, VB, 2, 1, 0), ELM__PANEL_HEAD, PREFETCH);
        __m512i isum[ROWS_MAX];
        UNROLL
        for (int r = 0; r < R; r++)
            isum[r] = _mm512_setzero_si512();
        /* four quarters of 16 values a row's half. Decode (one row) reads each line once for
         * the four values it holds, as four chains, as q4_K, with the quarters unrolled; with
         * more rows a group at a time, the quarters not unrolled, which would spill */
        if (R == 1) {
            const int8_t *qs = act_k(p, p_stride, 0, b)->qs;
            _Pragma("GCC unroll 4") for (int hq = 0; hq < 4; hq++)
            {
                const int h = hq / 2, tq = hq % 2;
                const uint8_t *al = lines + 64 * (4 + 12 * hq), *bl = al + 64 * 4,
                              *cl = al + 64 * 8;
                __m512i s[4];
                for (int qv = 0; qv < 4; qv++)
                    s[qv] = _mm512_setzero_si512();
                for (int t = 0; t < 4; t++) {
                    prefetch_part(lines, VB, 4 * hq + t, 16, PREFETCH);
                    const __m512i x = _mm512_load_si512(al + 64 * t),
                                  z = _mm512_load_si512(bl + 64 * t),
                                  c = _mm512_load_si512(cl + 64 * t);
                    for (int qv = 0; qv < 4; qv++)
                        s[qv] =
                            _mm512_dpbusd_epi32(s[qv], q6_values(x, z, c, qv),
                                                bcast4(qs + 128 * h + 16 * tq + 32 * qv + 4 * t));
                }
                for (int qv = 0; qv < 4; qv++)
                    isum[0] = _mm512_add_epi32(
                        isum[0],
                        _mm512_mullo_epi32(s[qv], q6_scale(lines, 8 * h + 2 * qv + tq, qv)));
            }
        } else {
            _Pragma("GCC unroll 1") for (int hq = 0; hq < 4; hq++)
            {
                const int h = hq / 2, tq = hq % 2;
                const uint8_t *al = lines + 64 * (4 + 12 * hq), *bl = al + 64 * 4,
                              *cl = al + 64 * 8;
                _Pragma("GCC unroll 4") for (int qv = 0; qv < 4; qv++)
                {
                    prefetch_part(lines, VB, 4 * hq + qv, 16, PREFETCH);
                    __m512i q[4];
                    for (int t = 0; t < 4; t++)
                        q[t] = q6_values(_mm512_load_si512(al + 64 * t),
                                         _mm512_load_si512(bl + 64 * t),
                                         _mm512_load_si512(cl + 64 * t), qv);
                    const __m512i sc = q6_scale(lines, 8 * h + 2 * qv + tq, qv);
                    UNROLL
                    for (int r = 0; r < R; r++) {
                        const int8_t *qs =
                            act_k(p, p_stride, r, b)->qs + 128 * h + 32 * qv + 16 * tq;
                        __m512i s0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[0], bcast4(qs)),
                                s1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[1],
                                                         bcast4(qs + 4));
                        s0 = _mm512_dpbusd_epi32(s0, q[2], bcast4(qs + 8));
                        s1 = _mm512_dpbusd_epi32(s1, q[3], bcast4(qs + 12));
                        isum[r] = _mm512_add_epi32(
                            isum[r], _mm512_mullo_epi32(_mm512_add_epi32(s0, s1), sc));
                    }
                }
            }
        }
        /* the levels are stored plus 32 (times 4): take 128 · Σ scale · sum of its 16 activation
         * values back out, the scales paired as int16 (2i, 2i + 1) */
        __m512i scp[8];
        for (int k = 0; k < 4; k++) {
            const __m512i l = _mm512_load_si512(lines + 64 * k);
            scp[2 * k] = pair_s16(l, 0);
            scp[2 * k + 1] = pair_s16(l, 2);
        }
        const __m512 d = _mm512_cvtph_ps(
            _mm256_load_si256((const __m256i *)(w + elm__panel_head_at(b, VB, 2, 1, 0))));
        UNROLL
        for (int r = 0; r < R; r++) {
            const elm_block_q8_K *a = act_k(p, p_stride, r, b);
            const __m512i s = _mm512_sub_epi32(isum[r], _mm512_slli_epi32(bsums_dot(scp, a), 7));
            acc[r] =
                _mm512_fmadd_ps(_mm512_cvtepi32_ps(s),
                                _mm512_mul_ps(d, _mm512_set1_ps(elm__q8k_d(a) * 0.25f)), acc[r]);
        }
    }
    UNROLL
    for (int r = 0; r < R; r++)
        _mm512_storeu_ps(y + (size_t)r * ldy, acc[r]);
}

#define Q4_K_CALL(K) panel_k4(K, false, nb, wp, pr, p_stride, yo, ldy)
#define Q5_K_CALL(K) panel_k4(K, true, nb, wp, pr, p_stride, yo, ldy)
#define Q6_K_CALL(K) panel_q6_K(K, nb, wp, pr, p_stride, yo, ldy)

ELM__AVX512 void elm__panel_rows_q4_K_avx512(int64_t n, int64_t n_out, const void *w,
                                             size_t w_stride, const void *p, size_t p_stride,
                                             int64_t n_act, float *y, size_t ldy)
{
    const int64_t nb = n / ELM_QK_K;
    EVERY_PANEL(Q4_K_CALL)
}

ELM__AVX512 void elm__panel_rows_q5_K_avx512(int64_t n, int64_t n_out, const void *w,
                                             size_t w_stride, const void *p, size_t p_stride,
                                             int64_t n_act, float *y, size_t ldy)
{
    const int64_t nb = n / ELM_QK_K;
    EVERY_PANEL(Q5_K_CALL)
}

ELM__AVX512 void elm__panel_rows_q6_K_avx512(int64_t n, int64_t n_out, const void *w,
                                             size_t w_stride, const void *p, size_t p_stride,
                                             int64_t n_act, float *y, size_t ldy)
{
    const int64_t nb = n / ELM_QK_K;
    EVERY_PANEL(Q6_K_CALL)
}

#endif
