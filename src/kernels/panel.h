/* kernels/ internals shared with engine/: weight panels. A panel is 16 rows of a q4_0, q5_0, q8_0,
 * q4_K, q5_K or q6_K matrix repacked at load so that one 512-bit register holds four values of
 * each of the 16 rows, row r in int32 lane r: every vpdpbusd then multiplies 16 rows by four
 * activation values broadcast from memory, a block's integer sums land in the lanes of their rows,
 * and the float work is one FMA per block for 16 rows, with no reduction across lanes. The same
 * kernel takes 1 activation row (decode) or many (several sequences, prefill), each row's sums in
 * the same order, so a sequence's numbers never depend on what else is in the batch or pass.
 *
 * Panel layout, one stream front to back, as many bytes as the 16 rows in the file: blocks in
 * groups (pairs for q4_0, q5_0, q8_0 and q6_K; single q4_K and q5_K super-blocks), each group a
 * 64-byte line of its blocks' fp16 fields in row order (d of the first block's 16 rows, then the
 * second's; q4_K and q5_K: d, then dmin), then each block's other bytes as lines: line j of a
 * field holds in lane r the field's bytes 4j..4j+3 of row r. The fields, in panel order: q4_0 its
 * 16 bytes of nibbles; q5_0 its 32 fifth bits, regrouped, then its nibbles; q8_0 its 32 values
 * plus 128 (unsigned); q4_K its 12 bytes of six-bit (scale, min) pairs, then its 128 bytes of
 * nibbles; q5_K the same with its 32 bytes of fifth bits between them; q6_K its 16 scales, then
 * for each quarter of its values the 48 bytes of ql and qh that hold them, their bits recoded so
 * that masks take the values out without shifts (panel.c), in the order its kernel reads them. A
 * short last group has its whole head line (zeros for the missing block) and only its block's
 * lines. */
#ifndef ELM_KERNELS_PANEL_H
#define ELM_KERNELS_PANEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgelm/kernels.h"

enum { ELM__PANEL_ROWS = 16, ELM__PANEL_HEAD = 64 /* bytes of a group's fp16 fields */ };

/* Where the lines of block b start in a panel of groups of g blocks, vb bytes of lines each. */
static inline size_t elm__panel_lines_at(int64_t b, size_t vb, int g)
{
    return (size_t)(b / g) * (ELM__PANEL_HEAD + (size_t)g * vb) + ELM__PANEL_HEAD +
           (size_t)(b % g) * vb;
}

/* Where fp16 field k of block b's 16 rows starts, with h such fields a block. */
static inline size_t elm__panel_head_at(int64_t b, size_t vb, int g, int h, int k)
{
    return (size_t)(b / g) * (ELM__PANEL_HEAD + (size_t)g * vb) +
           (size_t)((b % g) * h + k) * ELM__PANEL_ROWS * 2;
}

/* A field of a block that a panel spreads over lines: `bytes` bytes (a multiple of 4) at `at` in
 * the block, each 4-byte word xor `flip` (q8_0's values made unsigned), and with `regroup` its
 * bits regrouped (q5_0's fifth bits: bit 4j + k of the word to bit j of byte k). */
typedef struct {
    uint16_t at, bytes;
    uint32_t flip;
    bool regroup;
} elm__panel_field_t;

typedef struct {
    elm_type_t type;  /* the weight type it repacks */
    uint16_t block;   /* bytes of a block in the file */
    uint8_t group;    /* blocks a group */
    uint8_t n_halves; /* fp16 fields of a block, in the group's head */
    uint16_t half_at[2];
    uint8_t n_fields;             /* the rest of a block, as lines */
    elm__panel_field_t field[13]; /* q6_K has the most: its scales and 4 × (ql, ql, qh) */
    /* Rewrites the bits of a block (a copy) into the panel's encoding (in) or back (!in), bytes
     * staying where they are; NULL: the file's bits. */
    void (*recode)(uint8_t *block, bool in);
    /* Lays out an activation row of n values in the weight type's vec_dot_type for rows (p
     * NULL: the bytes only); NULL: rows reads the activations in vec_dot_type as they are. */
    elm_gemv_prepare_fn prepare;
    /* y[r * ldy + o] = dot(row o, activation r) for o < n_out (a multiple of 16; panels
     * w_stride bytes apart) and r < n_act (laid out by prepare, or in vec_dot_type; p_stride
     * bytes apart). */
    elm_gemv_rows_fn rows;
} elm__panel_t;

/* Bytes of one panel of rows of n values. */
size_t elm__panel_bytes(const elm__panel_t *pk, int64_t n);

/* Bytes of the lines of one block of a panel (16 rows). */
size_t elm__panel_block_lines(const elm__panel_t *pk);

/* 16 rows of n values, row_bytes apart at src, into the panel at dst (64-byte aligned). */
void elm__panel_pack(const elm__panel_t *pk, int64_t n, const void *src, size_t row_bytes,
                     void *dst);

/* Row `lane` of the panel at src as floats: the type's to_float of the original row, bit for bit
 * (the embedding rows of a model whose output matrix is its embedding). */
void elm__panel_row_to_float(const elm__panel_t *pk, int64_t n, const void *panel, int lane,
                             float *y);

/* The panel kernels of a weight type on this CPU's kernel tier (the AVX-512 tier only), or NULL.
 * EDGELM_NO_REPACK set to anything but "" or "0" turns them off (to compare). */
const elm__panel_t *elm__panel(int type);

/* The same regardless of EDGELM_NO_REPACK (tests). */
const elm__panel_t *elm__panel_tier(int type, unsigned cpu);

#endif
