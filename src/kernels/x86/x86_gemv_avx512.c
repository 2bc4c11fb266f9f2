/* AVX-512 matrix × vector for decode: one activation row against many weight rows.
 *
 * A dot product of a q4_0 row with a q8_0 row spends half its instructions on the activation's
 * side (unpacking its blocks, scales, the offset of the weights' levels), work that is the same
 * for every weight row. Here that side is laid out once per call, for a chunk of up to 16384
 * values at a time (32 KiB; rows up to that length are walked front to back, one after the
 * other, as the memory prefetchers like best: cutting them into pieces made decode slower):
 *   for each group of four blocks, one 512-bit line with values 0-15 of each block in its
 *   128-bit lane and one with values 16-31 (the order of a q4_0 block's low and high nibbles),
 *   each block's scale dy four times, and -8 · (sums of four adjacent values) in int32 lanes:
 *   the weights' offset of 8, folded in as the starting value of the integer accumulator.
 * A weight group (four 18-byte blocks) is then one load, a word permute that packs the blocks'
 * 16 nibble bytes into the four lanes, two vpdpbusd, and one FMA of the int32 sums with
 * dx · dy: about half the instructions of elm__vec_dot_q4_0_q8_0_avx512 per block. Integer sums
 * per block are exact; the float sums run in another order than the reference's. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#include "edgelm/kernels.h"
#include "kernels/ref/ref.h"
#include "kernels/x86/x86_avx512.h"

#define ELM__INLINE ELM__AVX512 static inline __attribute__((always_inline))

enum {
    GROUP_BLOCKS = 4,                     /* blocks of 32 values in a 512-bit group */
    GROUP_VALUES = GROUP_BLOCKS * ELM_QK, /* 128 */
    CHUNK_GROUPS = 128,                   /* groups prepared at a time: 16384 values */
};

/* The activation's side of one group of four blocks. */
typedef struct {
    int8_t lo[64], hi[64]; /* values 0-15 / 16-31 of block b in bytes 16b..16b+15 */
    int32_t offset[16];    /* -8 · (sum of the 4 values of lo and of hi that meet lane k) */
    float dy[16];          /* block b's scale in lanes 4b..4b+3 */
} q4_0_group_t;

/* The 16 bytes at p, then those at p + 34, p + 68, p + 102: the same part of four q8_0 blocks. */
ELM__INLINE __m512i gather_lanes(const int8_t *p)
{
    const size_t s = sizeof(elm_block_q8_0);
    const __m256i a =
        _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)p)),
                                _mm_loadu_si128((const __m128i *)(p + s)), 1);
    const __m256i b = _mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(p + 2 * s))),
        _mm_loadu_si128((const __m128i *)(p + 3 * s)), 1);
    return _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
}

static ELM__AVX512 void prepare_q4_0(int64_t n_groups, const elm_block_q8_0 *y, q4_0_group_t *p)
{
    const __m512i eight = _mm512_set1_epi8(8);
    for (int64_t g = 0; g < n_groups; g++, y += GROUP_BLOCKS) {
        const __m512i lo = gather_lanes(y[0].qs), hi = gather_lanes(y[0].qs + 16);
        _mm512_store_si512(p[g].lo, lo);
        _mm512_store_si512(p[g].hi, hi);
        const __m512i sum8 =
            _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), eight, lo), eight, hi);
        _mm512_store_si512(p[g].offset, _mm512_sub_epi32(_mm512_setzero_si512(), sum8));
        const __m128i d =
            _mm_setr_epi16((short)y[0].d, (short)y[1].d, (short)y[2].d, (short)y[3].d, 0, 0, 0, 0);
        const __m512 d4 = _mm512_castps128_ps512(_mm_cvtph_ps(d));
        _mm512_store_ps(p[g].dy,
                        _mm512_permutexvar_ps(
                            _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3), d4));
    }
}

/* Dot product of n_groups groups of the q4_0 row x with the prepared activation p. */
ELM__INLINE float row_q4_0(int64_t n_groups, const uint8_t *x, const q4_0_group_t *p)
{
    /* Block b (18 bytes: fp16 d, 16 bytes of nibbles) starts at word 9b: d is word 9b, the
     * nibbles words 9b+1 .. 9b+8. Words 32-35 (the group's last 8 bytes) come from b. */
    const __m512i qs_words =
        _mm512_set_epi16(35, 34, 33, 32, 31, 30, 29, 28, 26, 25, 24, 23, 22, 21, 20, 19, 17, 16, 15,
                         14, 13, 12, 11, 10, 8, 7, 6, 5, 4, 3, 2, 1); /* highest word first */
    const __m256i d_words =
        _mm256_setr_epi16(0, 0, 0, 0, 9, 9, 9, 9, 18, 18, 18, 18, 27, 27, 27, 27);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t g = 0; g < n_groups; g++, x += GROUP_BLOCKS * sizeof(elm_block_q4_0)) {
        const __m512i a = _mm512_loadu_si512(x); /* bytes 0-63 of the group's 72 */
        const __m512i b = _mm512_castsi128_si512(_mm_loadl_epi64((const __m128i *)(x + 64)));
        const __m512i q = _mm512_permutex2var_epi16(a, qs_words, b);
        const __m512i lo = _mm512_and_si512(q, m4),
                      hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
        __m512i s =
            _mm512_dpbusd_epi32(_mm512_load_si512(p[g].offset), lo, _mm512_load_si512(p[g].lo));
        s = _mm512_dpbusd_epi32(s, hi, _mm512_load_si512(p[g].hi));
        const __m512 dx = _mm512_cvtph_ps(
            _mm512_castsi512_si256(_mm512_permutexvar_epi16(_mm512_castsi256_si512(d_words), a)));
        acc =
            _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dx, _mm512_load_ps(p[g].dy)), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

ELM__AVX512 void elm__gemv_q4_0_q8_0_avx512(int64_t n, int64_t n_out, const void *w,
                                            size_t w_stride, const void *a, float *y)
{
    if (n % GROUP_VALUES != 0) { /* rows that are not whole groups: one dot product per row */
        for (int64_t o = 0; o < n_out; o++)
            elm__vec_dot_q4_0_q8_0_avx512(n, &y[o], (const char *)w + (size_t)o * w_stride, a);
        return;
    }
    const int64_t n_groups = n / GROUP_VALUES;
    const size_t group_bytes = GROUP_BLOCKS * sizeof(elm_block_q4_0);
    q4_0_group_t p[CHUNK_GROUPS] __attribute__((aligned(64)));
    for (int64_t g0 = 0; g0 < n_groups; g0 += CHUNK_GROUPS) {
        const int64_t ng = n_groups - g0 < CHUNK_GROUPS ? n_groups - g0 : CHUNK_GROUPS;
        prepare_q4_0(ng, (const elm_block_q8_0 *)a + g0 * GROUP_BLOCKS, p);
        const uint8_t *x = (const uint8_t *)w + (size_t)g0 * group_bytes;
        for (int64_t o = 0; o < n_out; o++, x += w_stride) {
            const float s = row_q4_0(ng, x, p);
            y[o] = g0 == 0 ? s : y[o] + s;
        }
    }
}
#endif
