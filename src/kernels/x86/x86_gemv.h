/* kernels/x86 internals: what the AVX2 and AVX-512 matrix × vector products (avx2_gemv.c,
 * avx512_gemv.c) share: the layout of the prepared activation row and the loop over weight rows.
 *
 * A dot product of a q4_0 row with a q8_0 row spends half its instructions on the activation's
 * side (unpacking its blocks, scales, the offset of the weights' levels), work that is the same
 * for every weight row. Here that side is laid out once per matrix product (elm_gemv_prepare_fn,
 * shared by every thread), and each weight row is then walked front to back, one after the
 * other, as the memory prefetchers like best. The q4_0 / q5_0 layout:
 *   for each group of four blocks, one 512-bit line with values 0-15 of each block in its
 *   128-bit lane and one with values 16-31 (the order of a block's low and high nibbles),
 *   -bias · (sums of four adjacent values of each line) in int32 lanes: the weights' offset (8
 *   for q4_0, 16 for q5_0) as the starting value of the integer accumulator, and each block's
 *   scale dy four times. */
#ifndef ELM_KERNELS_X86_GEMV_H
#define ELM_KERNELS_X86_GEMV_H

#if defined(__x86_64__)
#include <stddef.h>
#include <stdint.h>

#include "kernels/ref/ref.h"

enum {
    GROUP_BLOCKS = 4,                     /* blocks of 32 values in a 512-bit group */
    GROUP_VALUES = GROUP_BLOCKS * ELM_QK, /* 128 */
};

/* Lays out n_groups groups of an activation row a at p. */
typedef void (*lay_out_fn)(int64_t n_groups, const void *a, void *p);

/* An elm_gemv_prepare_fn for layouts of group_bytes per group of group_values values: rows of
 * whole groups only (the others go to the dot products). */
static inline size_t prepare_groups(int64_t n, int64_t group_values, size_t group_bytes,
                                    const void *a, void *p, lay_out_fn lay_out)
{
    if (n <= 0 || n % group_values != 0) return 0;
    if (p) lay_out(n / group_values, a, p);
    return (size_t)(n / group_values) * group_bytes;
}

/* The loop of every gemv (inlined into each, so row inlines too): y[o] = row(n_groups, weight
 * row o, prepared activation p). */
#define GEMV(group_values, row)                            \
    do {                                                   \
        const int64_t n_groups = n / (group_values);       \
        const uint8_t *x = w;                              \
        for (int64_t o = 0; o < n_out; o++, x += w_stride) \
            y[o] = row(n_groups, x, p);                    \
    } while (0)

/* The loop of every multi-row gemv over rows of n values in `units` units (the layout's groups:
 * of four blocks, or of sixteen for q4_0). The activations go in blocks of at most GEMV_ROWS_MAX
 * rows, the weight rows in blocks of GEMV_ROWS_OUT, and the units of a row in chunks whose
 * activations (group_bytes a unit and row) fill about GEMV_ROWS_L1 bytes: the chunk of the
 * block's activations stays in L1 while every weight row of the block meets it. rows(k, g0, g1,
 * units, n, weight row, first prepared activation of the block, p_stride, acc, y of (first row,
 * o), ldy) runs units [g0, g1), its sums carried in acc (vectors, so the order of every sum is
 * a gemv's), with k a constant in each call so that they stay in registers. */
enum { GEMV_ROWS_MAX = 8, GEMV_ROWS_OUT = 16, GEMV_ROWS_L1 = 16384 };
/* Before the loops over a block's rows: GCC's -O2 leaves them rolled, and the accumulators
 * then live in memory. */
#define GEMV_UNROLL _Pragma("GCC unroll 8")
#define GEMV_ROWS_CALL(K, rows) rows(K, g0, g1, n_groups, n, x, pr, p_stride, acc[o - o0], yo, ldy)
#define GEMV_ROWS(units, group_bytes, rows)                                                       \
    do {                                                                                          \
        const int64_t n_groups = (units);                                                         \
        int64_t kc = GEMV_ROWS_L1 / (GEMV_ROWS_MAX * (int64_t)(group_bytes));                     \
        if (kc < 1) kc = 1;                                                                       \
        __m512 acc[GEMV_ROWS_OUT][2 * GEMV_ROWS_MAX];                                             \
        for (int64_t r0 = 0; r0 < n_act; r0 += GEMV_ROWS_MAX) {                                   \
            const int64_t k = n_act - r0 < GEMV_ROWS_MAX ? n_act - r0 : GEMV_ROWS_MAX;            \
            const char *pr = (const char *)p + (size_t)r0 * p_stride;                             \
            for (int64_t o0 = 0; o0 < n_out; o0 += GEMV_ROWS_OUT) {                               \
                const int64_t o1 = o0 + GEMV_ROWS_OUT < n_out ? o0 + GEMV_ROWS_OUT : n_out;       \
                for (int64_t g0 = 0; g0 < n_groups; g0 += kc) {                                   \
                    const int64_t g1 = g0 + kc < n_groups ? g0 + kc : n_groups;                   \
                    for (int64_t o = o0; o < o1; o++) {                                           \
                        const uint8_t *x = (const uint8_t *)w + (size_t)o * w_stride;             \
                        float *yo = y + (size_t)r0 * ldy + o;                                     \
                        switch (k) {                                                              \
                        case 8: GEMV_ROWS_CALL(8, rows); break;                                   \
                        case 7: GEMV_ROWS_CALL(7, rows); break;                                   \
                        case 6: GEMV_ROWS_CALL(6, rows); break;                                   \
                        case 5: GEMV_ROWS_CALL(5, rows); break;                                   \
                        case 4: GEMV_ROWS_CALL(4, rows); break;                                   \
                        case 3: GEMV_ROWS_CALL(3, rows); break;                                   \
                        case 2: GEMV_ROWS_CALL(2, rows); break;                                   \
                        default: GEMV_ROWS_CALL(1, rows); break;                                  \
                        }                                                                         \
                    }                                                                             \
                }                                                                                 \
            }                                                                                     \
        }                                                                                         \
    } while (0)

/* The activation's side of one group of four blocks. */
typedef struct {
    int8_t lo[64], hi[64]; /* values 0-15 / 16-31 of block b in bytes 16b..16b+15 */
    int32_t offset[16];    /* -bias · (sum of the 4 values of lo and of hi that meet lane k) */
    float dy[16];          /* block b's scale in lanes 4b..4b+3 */
} act_group_t;

/* The activation's side of a q4_0 quad: four groups (sixteen blocks) with each block in one
 * int32 lane, so that a lane's vpdpbusd sums make the block's whole integer dot product and the
 * float work is once per block, not per four values. Block b of group g is lane 4b + g (the
 * 4x4 transpose of four groups' dwords within 128-bit lanes). */
enum { QUAD_GROUPS = 4 };
typedef struct {
    int8_t lo[QUAD_GROUPS][64]; /* lane 4b + g of lo[j]: values 4j..4j+3 of the block */
    int8_t hi[QUAD_GROUPS][64]; /* values 16 + 4j .. 19 + 4j */
    int32_t offset[16];         /* -8 · (the sum of the block's 32 values) */
    float dy[16];               /* the block's scale */
} act_quad_t;

#endif
#endif
