/* kernels/ internals shared with engine/: weight panels. A panel is 16 rows of a q4_0 or q8_0
 * matrix repacked at load so that one 512-bit register holds four values of each of the 16 rows,
 * row r in int32 lane r: every vpdpbusd then multiplies 16 rows by four activation values
 * broadcast from memory, a block's integer sums land in the lanes of their rows, and the float
 * work is one FMA per block for 16 rows, with no reduction across lanes. The same kernel takes 1
 * activation row (decode) or many (several sequences, prefill), each row's sums in the same
 * order, so a sequence's numbers never depend on what else is in the batch or pass.
 *
 * Panel layout (nb = n / 32 blocks a row), one stream front to back: blocks in pairs, each pair
 * a 64-byte line of the two blocks' scales (16 fp16 each, row order) and then the two blocks'
 * values (q4_0: 256 bytes, four lines whose lane r holds bytes 4j..4j+3 of row r's nibbles; q8_0:
 * 512 bytes, eight lines whose lane r holds values 4j..4j+3 of row r, plus 128 to make them
 * unsigned); an odd last block's pair is padded with zeros. */
#ifndef ELM_KERNELS_PANEL_H
#define ELM_KERNELS_PANEL_H

#include <stddef.h>
#include <stdint.h>

#include "edgelm/kernels.h"

enum { ELM__PANEL_ROWS = 16, ELM__PANEL_SCALES = 64 /* bytes of a pair's scales */ };

/* Where block b's values and scales start in a panel whose blocks have vb bytes of values. */
static inline size_t elm__panel_values_at(int64_t b, size_t vb)
{
    return (size_t)(b >> 1) * (ELM__PANEL_SCALES + 2 * vb) + ELM__PANEL_SCALES +
           (size_t)(b & 1) * vb;
}

static inline size_t elm__panel_scales_at(int64_t b, size_t vb)
{
    return (size_t)(b >> 1) * (ELM__PANEL_SCALES + 2 * vb) +
           (size_t)(b & 1) * ELM__PANEL_SCALES / 2;
}

typedef struct {
    elm_type_t type; /* the weight type it repacks */
    /* Bytes of one panel of rows of n values. */
    size_t (*panel_bytes)(int64_t n);
    /* 16 rows of n values, row_bytes apart at src, into the panel at dst (64-byte aligned). */
    void (*pack)(int64_t n, const void *src, size_t row_bytes, void *dst);
    /* Row `lane` of the panel at src as floats: the type's to_float of the original row, bit for
     * bit (the embedding rows of a model whose output matrix is its embedding). */
    void (*row_to_float)(int64_t n, const void *panel, int lane, float *y);
    /* Lays out an activation row of n values in q8_0 for rows (p NULL: the bytes only). */
    elm_gemv_prepare_fn prepare;
    /* y[r * ldy + o] = dot(row o, activation r) for o < n_out (a multiple of 16; panels
     * w_stride bytes apart) and r < n_act (laid out by prepare, p_stride bytes apart). */
    elm_gemv_rows_fn rows;
} elm__panel_t;

/* The panel kernels of a weight type on this CPU's kernel tier (the AVX-512 tier only), or NULL.
 * EDGELM_NO_REPACK set to anything but "" or "0" turns them off (to compare). */
const elm__panel_t *elm__panel(int type);

/* The same regardless of EDGELM_NO_REPACK (tests). */
const elm__panel_t *elm__panel_tier(int type, unsigned cpu);

#endif
