/* Weight panels (panel.h): the repacking, which any CPU can do, one piece of code for every type
 * driven by its layout, and the lookup of the tier's kernels. */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "kernels/cpu.h"
#include "kernels/panel.h"
#include "kernels/ref/ref.h"
#include "kernels/x86/x86.h"

enum { WORD = 4 /* bytes of a row in a lane of a line */, LINE = 64 };

size_t elm__panel_block_lines(const elm__panel_t *pk)
{
    size_t bytes = 0;
    for (int f = 0; f < pk->n_fields; f++)
        bytes += pk->field[f].bytes;
    return bytes * ELM__PANEL_ROWS;
}

size_t elm__panel_bytes(const elm__panel_t *pk, int64_t n)
{
    const int64_t nb = n / elm_traits(pk->type)->blck_size, rest = nb % pk->group;
    const size_t vb = elm__panel_block_lines(pk);
    return (size_t)(nb / pk->group) * (ELM__PANEL_HEAD + pk->group * vb) +
           (rest ? ELM__PANEL_HEAD + (size_t)rest * vb : 0);
}

/* Bit 4j + k of q to bit 8k + j (in), or back (!in). */
static uint32_t regroup(uint32_t q, bool in)
{
    uint32_t out = 0;
    for (int j = 0; j < 8; j++)
        for (int k = 0; k < 4; k++) {
            const int a = 4 * j + k, b = 8 * k + j;
            out |= (q >> (in ? a : b) & 1u) << (in ? b : a);
        }
    return out;
}

/* q6_K's four six-bit values l, l + 32, l + 64 and l + 96 of each half (v0..v3, stored plus 32)
 * are ql[l] (v0's low nibble, v2's high), ql[l + 32] (v1, v3) and qh[l] (their top bits, v0's
 * lowest). In the panel the same three bytes hold them so that AND masks take them out: ql[l] =
 * v0 << 2 | v3's bits 0-1, ql[l + 32] = v1 << 2 | v3's bits 2-3, qh[l] = v2 | v3's bits 4-5 << 6.
 * So the kernel reads v0, v1 and v3 times 4 and v2 as it is, with no shifts (on Intel, vector
 * shifts take the port that runs vpdpbusd). */
static void recode_q6_K(uint8_t *block, bool in)
{
    enum { SPAN = sizeof(uint64_t) };
    const uint64_t m2 = 0x0303030303030303u, m4 = 0x0F0F0F0F0F0F0F0Fu, m6 = 0x3F3F3F3F3F3F3F3Fu;
    elm_block_q6_K *x = (elm_block_q6_K *)(void *)block;
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l += SPAN) { /* eight bytes at a time, every shift masked */
            uint8_t *pa = &x->ql[64 * h + l], *pb = pa + 32, *pc = &x->qh[32 * h + l];
            uint64_t a, b, c, v0, v1, v2, v3;
            memcpy(&a, pa, SPAN);
            memcpy(&b, pb, SPAN);
            memcpy(&c, pc, SPAN);
            if (in) {
                v0 = (a & m4) | (c & m2) << 4;
                v1 = (b & m4) | (c >> 2 & m2) << 4;
                v2 = (a >> 4 & m4) | (c >> 4 & m2) << 4;
                v3 = (b >> 4 & m4) | (c >> 6 & m2) << 4;
                a = v0 << 2 | (v3 & m2);
                b = v1 << 2 | (v3 >> 2 & m2);
                c = v2 | (v3 >> 4 & m2) << 6;
            } else {
                v0 = a >> 2 & m6;
                v1 = b >> 2 & m6;
                v2 = c & m6;
                v3 = (a & m2) | (b & m2) << 2 | (c >> 6 & m2) << 4;
                a = (v0 & m4) | (v2 & m4) << 4;
                b = (v1 & m4) | (v3 & m4) << 4;
                c = (v0 >> 4 & m2) | (v1 >> 4 & m2) << 2 | (v2 >> 4 & m2) << 4 |
                    (v3 >> 4 & m2) << 6;
            }
            memcpy(pa, &a, SPAN);
            memcpy(pb, &b, SPAN);
            memcpy(pc, &c, SPAN);
        }
}

/* Moves row `lane`'s words of each field between a block in the file (x) and block b of a panel:
 * to the panel when `in`, back to x when not. */
static void move_block(const elm__panel_t *pk, int64_t b, int lane, uint8_t *x, uint8_t *panel,
                       bool in)
{
    const size_t vb = elm__panel_block_lines(pk);
    uint8_t recoded[sizeof(elm_block_q6_K)]; /* q6_K's, the one type recoded */
    if (in && pk->recode) {
        memcpy(recoded, x, pk->block);
        pk->recode(recoded, true);
        x = recoded;
    }
    for (int k = 0; k < pk->n_halves; k++) {
        uint8_t *h = panel + elm__panel_head_at(b, vb, pk->group, pk->n_halves, k) + 2 * lane;
        if (in)
            memcpy(h, x + pk->half_at[k], 2);
        else
            memcpy(x + pk->half_at[k], h, 2);
    }
    uint8_t *line = panel + elm__panel_lines_at(b, vb, pk->group);
    for (int f = 0; f < pk->n_fields; f++) {
        const elm__panel_field_t *fd = &pk->field[f];
        for (size_t j = 0; j < fd->bytes / WORD; j++, line += LINE) {
            uint32_t q;
            memcpy(&q, in ? x + fd->at + WORD * j : line + WORD * lane, WORD);
            q ^= fd->flip;
            if (fd->regroup) q = regroup(q, in);
            memcpy(in ? line + WORD * lane : x + fd->at + WORD * j, &q, WORD);
        }
    }
    if (!in && pk->recode) pk->recode(x, false);
}

void elm__panel_pack(const elm__panel_t *pk, int64_t n, const void *src, size_t row_bytes,
                     void *dst)
{
    const int64_t nb = n / elm_traits(pk->type)->blck_size;
    const size_t vb = elm__panel_block_lines(pk);
    for (int64_t b = nb; b % pk->group; b++) /* the heads of a short last group's missing blocks */
        for (int k = 0; k < pk->n_halves; k++)
            memset((uint8_t *)dst + elm__panel_head_at(b, vb, pk->group, pk->n_halves, k), 0,
                   2 * ELM__PANEL_ROWS);
    for (int r = 0; r < ELM__PANEL_ROWS; r++)
        for (int64_t b = 0; b < nb; b++)
            move_block(pk, b, r,
                       (uint8_t *)(uintptr_t)src + (size_t)r * row_bytes + (size_t)b * pk->block,
                       dst, true);
}

/* Row `lane`'s original blocks, one at a time, through the type's own to_float. */
void elm__panel_row_to_float(const elm__panel_t *pk, int64_t n, const void *panel, int lane,
                             float *y)
{
    const elm_type_traits_t *tr = elm_traits(pk->type);
    uint8_t x[sizeof(elm_block_q6_K)];
    for (int64_t b = 0; b < n / tr->blck_size; b++) {
        move_block(pk, b, lane, x, (uint8_t *)(uintptr_t)panel, false);
        tr->to_float(x, y + b * tr->blck_size, tr->blck_size);
    }
}

/* The kernels of the tier that has them: AVX-512 with VNNI. */
#if defined(__x86_64__)
#define PANEL_TIER   ELM__CPU_TIER_AVX512
#define PREPARE_Q4_0 elm__panel_prepare_q4_0_avx512
#define PREPARE_Q8_0 elm__panel_prepare_q8_0_avx512
#define PREPARE_Q5_0 elm__panel_prepare_q5_0_avx512
#define ROWS_Q4_0    elm__panel_rows_q4_0_avx512
#define ROWS_Q8_0    elm__panel_rows_q8_0_avx512
#define ROWS_Q5_0    elm__panel_rows_q5_0_avx512
#define ROWS_Q4_K    elm__panel_rows_q4_K_avx512
#define ROWS_Q5_K    elm__panel_rows_q5_K_avx512
#define ROWS_Q6_K    elm__panel_rows_q6_K_avx512
#else
#define PANEL_TIER   0u
#define PREPARE_Q4_0 NULL
#define PREPARE_Q8_0 NULL
#define PREPARE_Q5_0 NULL
#define ROWS_Q4_0    NULL
#define ROWS_Q8_0    NULL
#define ROWS_Q5_0    NULL
#define ROWS_Q4_K    NULL
#define ROWS_Q5_K    NULL
#define ROWS_Q6_K    NULL
#endif

#define AT(T, f) ((uint16_t)offsetof(T, f))

static const elm__panel_t panel_q4_0 = {.type = ELM_TYPE_Q4_0,
                                        .block = sizeof(elm_block_q4_0),
                                        .group = 2,
                                        .n_halves = 1,
                                        .half_at = {AT(elm_block_q4_0, d)},
                                        .n_fields = 1,
                                        .field = {{AT(elm_block_q4_0, qs), ELM_QK / 2, 0}},
                                        .prepare = PREPARE_Q4_0,
                                        .rows = ROWS_Q4_0};
static const elm__panel_t panel_q8_0 = {.type = ELM_TYPE_Q8_0,
                                        .block = sizeof(elm_block_q8_0),
                                        .group = 2,
                                        .n_halves = 1,
                                        .half_at = {AT(elm_block_q8_0, d)},
                                        .n_fields = 1,
                                        .field = {{AT(elm_block_q8_0, qs), ELM_QK, 0x80808080u}},
                                        .prepare = PREPARE_Q8_0,
                                        .rows = ROWS_Q8_0};
static const elm__panel_t panel_q5_0 = {
    .type = ELM_TYPE_Q5_0,
    .block = sizeof(elm_block_q5_0),
    .group = 2,
    .n_halves = 1,
    .half_at = {AT(elm_block_q5_0, d)},
    .n_fields = 2,
    .field = {{AT(elm_block_q5_0, qh), 4, 0, true}, {AT(elm_block_q5_0, qs), ELM_QK / 2, 0}},
    .prepare = PREPARE_Q5_0,
    .rows = ROWS_Q5_0};
static const elm__panel_t panel_q4_K = {
    .type = ELM_TYPE_Q4_K,
    .block = sizeof(elm_block_q4_K),
    .group = 1,
    .n_halves = 2,
    .half_at = {AT(elm_block_q4_K, d), AT(elm_block_q4_K, dmin)},
    .n_fields = 2,
    .field = {{AT(elm_block_q4_K, scales), ELM_K_SCALE_SIZE, 0},
              {AT(elm_block_q4_K, qs), ELM_QK_K / 2, 0}},
    .prepare = NULL,
    .rows = ROWS_Q4_K};
/* q5_K: q4_K's lines with its 32 bytes of fifth bits between the scales and the nibbles. */
static const elm__panel_t panel_q5_K = {
    .type = ELM_TYPE_Q5_K,
    .block = sizeof(elm_block_q5_K),
    .group = 1,
    .n_halves = 2,
    .half_at = {AT(elm_block_q5_K, d), AT(elm_block_q5_K, dmin)},
    .n_fields = 3,
    .field = {{AT(elm_block_q5_K, scales), ELM_K_SCALE_SIZE, 0},
              {AT(elm_block_q5_K, qh), ELM_QK_K / 8, 0},
              {AT(elm_block_q5_K, qs), ELM_QK_K / 2, 0}},
    .prepare = NULL,
    .rows = ROWS_Q5_K};
/* q6_K's lines in the order its kernel reads them: the scales, then for each quarter of a row's
 * 256 values (half h, t of 2) the 16 bytes of ql at 64h + 16t (recoded, recode_q6_K: values 128h +
 * 16t.. and 64 further), the 16 of ql 32 further (values 32 and 96 further) and the 16 of qh that
 * hold the rest of those four values' bits. */
/* clang-format off */
#define Q6_K_QL(at) {AT(elm_block_q6_K, ql) + (at), 16, 0}
#define Q6_K_QH(at) {AT(elm_block_q6_K, qh) + (at), 16, 0}
static const elm__panel_t panel_q6_K = {
    .type = ELM_TYPE_Q6_K,
    .block = sizeof(elm_block_q6_K),
    .group = 2,
    .n_halves = 1,
    .half_at = {AT(elm_block_q6_K, d)},
    .n_fields = 13,
    .field = {{AT(elm_block_q6_K, scales), ELM_QK_K / 16, 0},
              Q6_K_QL(0),  Q6_K_QL(32),  Q6_K_QH(0),
              Q6_K_QL(16), Q6_K_QL(48),  Q6_K_QH(16),
              Q6_K_QL(64), Q6_K_QL(96),  Q6_K_QH(32),
              Q6_K_QL(80), Q6_K_QL(112), Q6_K_QH(48)},
    .recode = recode_q6_K,
    .prepare = NULL,
    .rows = ROWS_Q6_K};
/* clang-format on */

const elm__panel_t *elm__panel_tier(int type, unsigned cpu)
{
    static const elm__panel_t *const all[] = {&panel_q4_0, &panel_q5_0, &panel_q8_0,
                                              &panel_q4_K, &panel_q5_K, &panel_q6_K};
    if (PANEL_TIER == 0 || (cpu & PANEL_TIER) != PANEL_TIER) return NULL;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if ((int)all[i]->type == type) return all[i];
    return NULL;
}

const elm__panel_t *elm__panel(int type)
{
    return elm__env_switch("EDGELM_NO_REPACK") ? NULL : elm__panel_tier(type, elm__kernel_tier());
}
