/* Weight panels (panel.h): the repacking, which any CPU can do, and the lookup of the tier's
 * kernels. */
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu.h"
#include "kernels/panel.h"
#include "kernels/ref/ref.h"
#include "kernels/x86/x86.h"

static size_t panel_size(int64_t n, size_t vb)
{
    return (size_t)((n / ELM_QK + 1) / 2) * (ELM__PANEL_SCALES + 2 * vb);
}

static size_t panel_bytes_q4_0(int64_t n)
{
    return panel_size(n, ELM__PANEL_ROWS * ELM_QK / 2);
}

static size_t panel_bytes_q8_0(int64_t n)
{
    return panel_size(n, ELM__PANEL_ROWS * ELM_QK);
}

/* Byte i of line j of a block's values: lane r = i / 4 is row r, and its four bytes are the
 * row's bytes 4j..4j+3 (q4_0: nibbles, the low one value 4j + k, the high one 16 + 4j + k;
 * q8_0: values 4j + k). */
static size_t line_byte(int j, int r, int k)
{
    return (size_t)(64 * j + 4 * r + k);
}

/* The scales of block b of a panel, one per row. */
static uint16_t *scales(void *panel, int64_t b, size_t vb)
{
    return (uint16_t *)(void *)((uint8_t *)panel + elm__panel_scales_at(b, vb));
}

/* Zeros in the place of block nb, the missing second block of an odd last pair. */
static void pad(int64_t nb, size_t vb, void *dst)
{
    if (nb % 2 == 0) return;
    memset((uint8_t *)dst + elm__panel_scales_at(nb, vb), 0, ELM__PANEL_SCALES / 2);
    memset((uint8_t *)dst + elm__panel_values_at(nb, vb), 0, vb);
}

static void pack_q4_0(int64_t n, const void *src, size_t row_bytes, void *dst)
{
    const int64_t nb = n / ELM_QK;
    const size_t vb = ELM__PANEL_ROWS * ELM_QK / 2;
    pad(nb, vb, dst);
    for (int r = 0; r < ELM__PANEL_ROWS; r++) {
        const elm_block_q4_0 *x =
            (const elm_block_q4_0 *)(const void *)((const char *)src + (size_t)r * row_bytes);
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *v = (uint8_t *)dst + elm__panel_values_at(b, vb);
            for (int j = 0; j < 4; j++)
                memcpy(v + line_byte(j, r, 0), x[b].qs + 4 * j, 4);
            scales(dst, b, vb)[r] = x[b].d;
        }
    }
}

static void pack_q8_0(int64_t n, const void *src, size_t row_bytes, void *dst)
{
    const int64_t nb = n / ELM_QK;
    const size_t vb = ELM__PANEL_ROWS * ELM_QK;
    pad(nb, vb, dst);
    for (int r = 0; r < ELM__PANEL_ROWS; r++) {
        const elm_block_q8_0 *x =
            (const elm_block_q8_0 *)(const void *)((const char *)src + (size_t)r * row_bytes);
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *v = (uint8_t *)dst + elm__panel_values_at(b, vb);
            for (int j = 0; j < 8; j++) {
                uint32_t q;
                memcpy(&q, x[b].qs + 4 * j, 4);
                q ^= 0x80808080u;
                memcpy(v + line_byte(j, r, 0), &q, 4);
            }
            scales(dst, b, vb)[r] = x[b].d;
        }
    }
}

/* The original blocks of row `lane`, one at a time, through the type's own to_float. */
static void row_to_float_q4_0(int64_t n, const void *panel, int lane, float *y)
{
    const size_t vb = ELM__PANEL_ROWS * ELM_QK / 2;
    const elm_to_float_fn to_float = elm_traits(ELM_TYPE_Q4_0)->to_float;
    for (int64_t b = 0; b < n / ELM_QK; b++) {
        const uint8_t *v = (const uint8_t *)panel + elm__panel_values_at(b, vb);
        elm_block_q4_0 x = {.d = scales((void *)(uintptr_t)panel, b, vb)[lane]};
        for (int j = 0; j < 4; j++)
            memcpy(x.qs + 4 * j, v + line_byte(j, lane, 0), 4);
        to_float(&x, y + b * ELM_QK, ELM_QK);
    }
}

static void row_to_float_q8_0(int64_t n, const void *panel, int lane, float *y)
{
    const size_t vb = ELM__PANEL_ROWS * ELM_QK;
    const elm_to_float_fn to_float = elm_traits(ELM_TYPE_Q8_0)->to_float;
    for (int64_t b = 0; b < n / ELM_QK; b++) {
        const uint8_t *v = (const uint8_t *)panel + elm__panel_values_at(b, vb);
        elm_block_q8_0 x = {.d = scales((void *)(uintptr_t)panel, b, vb)[lane]};
        for (int j = 0; j < 8; j++) {
            uint32_t q;
            memcpy(&q, v + line_byte(j, lane, 0), 4);
            q ^= 0x80808080u;
            memcpy(x.qs + 4 * j, &q, 4);
        }
        to_float(&x, y + b * ELM_QK, ELM_QK);
    }
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

static const elm__panel_t panel_q4_0 = {ELM_TYPE_Q4_0,     ELM__PANEL_ROWS *ELM_QK / 2,
                                        panel_bytes_q4_0,  pack_q4_0,
                                        row_to_float_q4_0, PREPARE_Q4_0,
                                        ROWS_Q4_0};
static const elm__panel_t panel_q8_0 = {ELM_TYPE_Q8_0, ELM__PANEL_ROWS *ELM_QK, panel_bytes_q8_0,
                                        pack_q8_0,     row_to_float_q8_0,       PREPARE_Q8_0,
                                        ROWS_Q8_0};

const elm__panel_t *elm__panel_tier(int type, unsigned cpu)
{
    if (PANEL_TIER == 0 || (cpu & PANEL_TIER) != PANEL_TIER) return NULL;
    if (type == ELM_TYPE_Q4_0) return &panel_q4_0;
    if (type == ELM_TYPE_Q8_0) return &panel_q8_0;
    return NULL;
}

const elm__panel_t *elm__panel(int type)
{
    const char *off = getenv("EDGELM_NO_REPACK");
    if (off && *off && strcmp(off, "0") != 0) return NULL;
    return elm__panel_tier(type, elm__kernel_tier());
}
