/* kernels/ internals of the ops (edgelm/ops.h): how ops.c fills the dispatch table and the
 * per-ISA files install their variants. Shared by the files of kernels/ and its tests only. */
#ifndef ELM_KERNELS_OPS_INTERNAL_H
#define ELM_KERNELS_OPS_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "edgelm/kernels.h"
#include "edgelm/ops.h"

/* Fill t as the dispatch table would be on a CPU with the features cpu (ELM__CPU_* bits of
 * kernels/cpu.h; 0 for the reference alone). */
void elm__ops_fill(elm_ops_t *t, unsigned cpu);

/* Install the x86 variants the features cpu allow over t (avx2_ops.c; no-op elsewhere). */
void elm__ops_install_x86(elm_ops_t *t, unsigned cpu);

/* Install the NEON variants over t when cpu has NEON (arm/arm_ops.c; aarch64 only). */
void elm__ops_install_arm(elm_ops_t *t, unsigned cpu);

/* RoPE of pair i (of n_rot / 2 = half) of the head at v, cosine c and sine s: the reference's
 * arithmetic, which every tier's scalar tail shares. */
static inline void elm__rope_pair(float *v, int64_t i, int64_t half, float c, float s, bool neox)
{
    float *p0 = neox ? &v[i] : &v[2 * i], *p1 = neox ? &v[i + half] : &v[2 * i + 1];
    const float x0 = *p0, x1 = *p1;
    *p0 = x0 * c - x1 * s;
    *p1 = x0 * s + x1 * c;
}

/* read_sum's tail from byte i on: whole 64-bit words, then single bytes. */
static inline uint64_t elm__read_sum_tail(const uint8_t *p, size_t i, size_t n)
{
    uint64_t sum = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, sizeof w);
        sum += w;
    }
    for (; i < n; i++)
        sum += p[i];
    return sum;
}

/* ggml's GELU table (ops.c): entry h is tanh-GELU of fp16 h, as fp16; one entry past the end
 * (zero) so that a 4-byte gather of the last entry stays inside it. */
const uint16_t *elm__gelu_table(void);

/* GELU of x by the table: x rounded to fp16 looked up, the ±10 tests on the unrounded input, as
 * ggml_vec_gelu_f32 does. */
static inline float elm__gelu(const uint16_t *table, float x)
{
    return x <= -10.0f ? 0.0f : x >= 10.0f ? x : elm_fp16_to_fp32(table[elm_fp32_to_fp16(x)]);
}

#endif
