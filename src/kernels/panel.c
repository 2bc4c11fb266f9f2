/* Weight panels (panel.h): the repacking, which any CPU can do, and the lookup of the tier's
 * kernels. */
#include <stddef.h>
#include <string.h>

#include "kernels/cpu.h"
#include "kernels/panel.h"
#include "kernels/ref/ref.h"
#include "kernels/x86/x86.h"

/* q4_0 and q8_0 blocks alike: an fp16 scale, then QS bytes of values (q4_0: 16 bytes of
 * nibbles; q8_0: 32 values, flipped by 0x80 in a panel to make them unsigned). */
enum { QS_Q4_0 = ELM_QK / 2, QS_Q8_0 = ELM_QK, BLOCK_D = sizeof(uint16_t) };
static const uint32_t FLIP_Q4_0 = 0, FLIP_Q8_0 = 0x80808080u;
_Static_assert(sizeof(elm_block_q4_0) == BLOCK_D + QS_Q4_0 &&
                   offsetof(elm_block_q4_0, qs) == BLOCK_D,
               "q4_0 block layout");
_Static_assert(sizeof(elm_block_q8_0) == BLOCK_D + QS_Q8_0 &&
                   offsetof(elm_block_q8_0, qs) == BLOCK_D,
               "q8_0 block layout");

static size_t panel_size(int64_t n, size_t qs)
{
    return (size_t)((n / ELM_QK + 1) / 2) * (ELM__PANEL_SCALES + 2 * ELM__PANEL_ROWS * qs);
}

static size_t panel_bytes_q4_0(int64_t n)
{
    return panel_size(n, QS_Q4_0);
}

static size_t panel_bytes_q8_0(int64_t n)
{
    return panel_size(n, QS_Q8_0);
}

/* Byte i of line j of a block's values: lane r = i / 4 is row r, and its four bytes are the
 * row's bytes 4j..4j+3 (q4_0: nibbles, the low one value 4j + k, the high one 16 + 4j + k;
 * q8_0: values 4j + k). */
static size_t line_byte(int j, int r)
{
    return (size_t)(64 * j + 4 * r);
}

/* The scales of block b of a panel, one per row. */
static uint16_t *scales(void *panel, int64_t b, size_t vb)
{
    return (uint16_t *)(void *)((uint8_t *)panel + elm__panel_scales_at(b, vb));
}

/* Four bytes from src to dst, flipped by flip. */
static void move4(uint8_t *dst, const uint8_t *src, uint32_t flip)
{
    uint32_t q;
    memcpy(&q, src, 4);
    q ^= flip;
    memcpy(dst, &q, 4);
}

/* 16 rows of blocks with qs bytes of values into a panel; an odd last pair padded with zeros. */
static void pack(int64_t n, const void *src, size_t row_bytes, void *dst, size_t qs, uint32_t flip)
{
    const int64_t nb = n / ELM_QK;
    const size_t vb = ELM__PANEL_ROWS * qs, block = BLOCK_D + qs;
    if (nb % 2) { /* block nb, the missing second block of the last pair */
        memset((uint8_t *)dst + elm__panel_scales_at(nb, vb), 0, ELM__PANEL_SCALES / 2);
        memset((uint8_t *)dst + elm__panel_values_at(nb, vb), 0, vb);
    }
    for (int r = 0; r < ELM__PANEL_ROWS; r++)
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *x = (const uint8_t *)src + (size_t)r * row_bytes + (size_t)b * block;
            uint8_t *v = (uint8_t *)dst + elm__panel_values_at(b, vb);
            for (size_t j = 0; j < qs / 4; j++)
                move4(v + line_byte((int)j, r), x + BLOCK_D + 4 * j, flip);
            memcpy(&scales(dst, b, vb)[r], x, BLOCK_D);
        }
}

/* Row `lane` of a panel: its original blocks, one at a time, through the type's own to_float. */
static void row_to_float(int64_t n, const void *panel, int lane, float *y, size_t qs, uint32_t flip,
                         elm_type_t type)
{
    const size_t vb = ELM__PANEL_ROWS * qs;
    const elm_to_float_fn to_float = elm_traits(type)->to_float;
    uint8_t x[BLOCK_D + QS_Q8_0];
    for (int64_t b = 0; b < n / ELM_QK; b++) {
        const uint8_t *v = (const uint8_t *)panel + elm__panel_values_at(b, vb);
        memcpy(x, &scales((void *)(uintptr_t)panel, b, vb)[lane], BLOCK_D);
        for (size_t j = 0; j < qs / 4; j++)
            move4(x + BLOCK_D + 4 * j, v + line_byte((int)j, lane), flip);
        to_float(x, y + b * ELM_QK, ELM_QK);
    }
}

static void pack_q4_0(int64_t n, const void *src, size_t row_bytes, void *dst)
{
    pack(n, src, row_bytes, dst, QS_Q4_0, FLIP_Q4_0);
}

static void pack_q8_0(int64_t n, const void *src, size_t row_bytes, void *dst)
{
    pack(n, src, row_bytes, dst, QS_Q8_0, FLIP_Q8_0);
}

static void row_to_float_q4_0(int64_t n, const void *panel, int lane, float *y)
{
    row_to_float(n, panel, lane, y, QS_Q4_0, FLIP_Q4_0, ELM_TYPE_Q4_0);
}

static void row_to_float_q8_0(int64_t n, const void *panel, int lane, float *y)
{
    row_to_float(n, panel, lane, y, QS_Q8_0, FLIP_Q8_0, ELM_TYPE_Q8_0);
}

/* The kernels of the tier that has them: AVX-512 with VNNI. */
#if defined(__x86_64__)
#define PANEL_TIER   ELM__CPU_TIER_AVX512
#define PREPARE_Q4_0 elm__panel_prepare_q4_0_avx512
#define PREPARE_Q8_0 elm__panel_prepare_q8_0_avx512
#define ROWS_Q4_0    elm__panel_rows_q4_0_avx512
#define ROWS_Q8_0    elm__panel_rows_q8_0_avx512
#else
#define PANEL_TIER   0u
#define PREPARE_Q4_0 NULL
#define PREPARE_Q8_0 NULL
#define ROWS_Q4_0    NULL
#define ROWS_Q8_0    NULL
#endif

static const elm__panel_t panel_q4_0 = {ELM_TYPE_Q4_0,     panel_bytes_q4_0, pack_q4_0,
                                        row_to_float_q4_0, PREPARE_Q4_0,     ROWS_Q4_0};
static const elm__panel_t panel_q8_0 = {ELM_TYPE_Q8_0,     panel_bytes_q8_0, pack_q8_0,
                                        row_to_float_q8_0, PREPARE_Q8_0,     ROWS_Q8_0};

const elm__panel_t *elm__panel_tier(int type, unsigned cpu)
{
    if (PANEL_TIER == 0 || (cpu & PANEL_TIER) != PANEL_TIER) return NULL;
    if (type == ELM_TYPE_Q4_0) return &panel_q4_0;
    if (type == ELM_TYPE_Q8_0) return &panel_q8_0;
    return NULL;
}

const elm__panel_t *elm__panel(int type)
{
    return elm__env_switch("EDGELM_NO_REPACK") ? NULL : elm__panel_tier(type, elm__kernel_tier());
}
