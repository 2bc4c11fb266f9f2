/* kernels/ref internals: the block layouts of every quantized type (bit-for-bit ggml's) and the
 * scalar reference kernels that traits.c installs. Shared by the files of kernels/ only. */
#ifndef ELM_KERNELS_REF_H
#define ELM_KERNELS_REF_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* The reference kernels define the numbers to the bit, so a*b + c must stay two roundings: forbid
 * fusing it into one FMA (GCC fuses under -ffp-contract=fast, its default in GNU C modes; clang
 * within an expression when FMA is available). The pragma covers each file that includes this. */
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

/* ---- block layouts ----
 * Fields are fp16 (uint16_t) and bytes only, so every block has an alignment of at most 2: blocks
 * inside a GGUF mapping are only guaranteed 2-byte alignment. q8_K's f32 scale is kept as bytes
 * and read with elm__q8k_d(). */

#define ELM_QK 32   /* values per block of the 32-block types */
#define ELM_QK_K 256 /* values per K-quant super-block */
#define ELM_K_SCALE_SIZE 12

typedef struct {
    uint16_t d;
    int8_t qs[ELM_QK];
} elm_block_q8_0;

typedef struct {
    uint16_t d;
    uint16_t s; /* fp16(d * sum(qs)) */
    int8_t qs[ELM_QK];
} elm_block_q8_1;

typedef struct {
    uint16_t d;
    uint8_t qs[ELM_QK / 2];
} elm_block_q4_0;

typedef struct {
    uint16_t d;
    uint16_t m;
    uint8_t qs[ELM_QK / 2];
} elm_block_q4_1;

typedef struct {
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[ELM_QK / 2];
} elm_block_q5_0;

typedef struct {
    uint16_t d;
    uint16_t m;
    uint8_t qh[4];
    uint8_t qs[ELM_QK / 2];
} elm_block_q5_1;

typedef struct {
    uint16_t d;
    uint8_t qs[ELM_QK / 2];
} elm_block_iq4_nl;

typedef struct {
    uint8_t scales[ELM_QK_K / 16]; /* low nibble: scale, high nibble: min */
    uint8_t qs[ELM_QK_K / 4];
    uint16_t d;
    uint16_t dmin;
} elm_block_q2_K;

typedef struct {
    uint8_t hmask[ELM_QK_K / 8];
    uint8_t qs[ELM_QK_K / 4];
    uint8_t scales[12]; /* 16 six-bit scales */
    uint16_t d;
} elm_block_q3_K;

typedef struct {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[ELM_K_SCALE_SIZE]; /* 8 six-bit (scale, min) pairs */
    uint8_t qs[ELM_QK_K / 2];
} elm_block_q4_K;

typedef struct {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[ELM_K_SCALE_SIZE];
    uint8_t qh[ELM_QK_K / 8];
    uint8_t qs[ELM_QK_K / 2];
} elm_block_q5_K;

typedef struct {
    uint8_t ql[ELM_QK_K / 2];
    uint8_t qh[ELM_QK_K / 4];
    int8_t scales[ELM_QK_K / 16];
    uint16_t d;
} elm_block_q6_K;

typedef struct {
    uint8_t d[4]; /* f32, little-endian; use elm__q8k_d / elm__q8k_set_d */
    int8_t qs[ELM_QK_K];
    int16_t bsums[ELM_QK_K / 16]; /* sum of each 16 qs */
} elm_block_q8_K;

_Static_assert(sizeof(elm_block_q8_0) == 34, "q8_0 block");
_Static_assert(sizeof(elm_block_q8_1) == 36, "q8_1 block");
_Static_assert(sizeof(elm_block_q4_0) == 18, "q4_0 block");
_Static_assert(sizeof(elm_block_q4_1) == 20, "q4_1 block");
_Static_assert(sizeof(elm_block_q5_0) == 22, "q5_0 block");
_Static_assert(sizeof(elm_block_q5_1) == 24, "q5_1 block");
_Static_assert(sizeof(elm_block_iq4_nl) == 18, "iq4_nl block");
_Static_assert(sizeof(elm_block_q2_K) == 84, "q2_K block");
_Static_assert(sizeof(elm_block_q3_K) == 110, "q3_K block");
_Static_assert(sizeof(elm_block_q4_K) == 144, "q4_K block");
_Static_assert(sizeof(elm_block_q5_K) == 176, "q5_K block");
_Static_assert(sizeof(elm_block_q6_K) == 210, "q6_K block");
_Static_assert(sizeof(elm_block_q8_K) == 292, "q8_K block");

static inline float elm__q8k_d(const elm_block_q8_K *b)
{
    float d;
    memcpy(&d, b->d, sizeof d);
    return d;
}

static inline void elm__q8k_set_d(elm_block_q8_K *b, float d)
{
    memcpy(b->d, &d, sizeof d);
}

/* Round to the nearest integer, ties to even, for |f| <= 2^22: ggml's nearest_int (adding
 * 1.5*2^23 leaves the rounded integer in the low mantissa bits). */
static inline int elm__nearest_int(float f)
{
    float v = f + 12582912.f;
    int32_t i;
    memcpy(&i, &v, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

/* The value of largest magnitude, with its sign (the first one on ties). */
static inline float elm__signed_absmax(const float *x, int n)
{
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    }
    return max;
}

#define ELM__MIN(a, b) ((a) < (b) ? (a) : (b))
#define ELM__MAX(a, b) ((a) > (b) ? (a) : (b))

/* ---- float formats (fp.c) ---- */

void elm__f32_to_float(const void *x, float *y, int64_t n);
void elm__f32_from_float(const float *x, void *y, int64_t n);
void elm__vec_dot_f32(int64_t n, float *s, const void *x, const void *y);
void elm__f16_to_float(const void *x, float *y, int64_t n);
void elm__f16_from_float(const float *x, void *y, int64_t n);
void elm__vec_dot_f16(int64_t n, float *s, const void *x, const void *y);
void elm__bf16_to_float(const void *x, float *y, int64_t n);
void elm__bf16_from_float(const float *x, void *y, int64_t n);
void elm__vec_dot_bf16(int64_t n, float *s, const void *x, const void *y);

/* ---- 32-value blocks (quants.c) ---- */

void elm__dequantize_q4_0(const void *x, float *y, int64_t n);
void elm__dequantize_q4_1(const void *x, float *y, int64_t n);
void elm__dequantize_q5_0(const void *x, float *y, int64_t n);
void elm__dequantize_q5_1(const void *x, float *y, int64_t n);
void elm__dequantize_q8_0(const void *x, float *y, int64_t n);
void elm__dequantize_q8_1(const void *x, float *y, int64_t n);
void elm__dequantize_iq4_nl(const void *x, float *y, int64_t n);

void elm__quantize_q4_0_ref(const float *x, void *y, int64_t n);
void elm__quantize_q4_1_ref(const float *x, void *y, int64_t n);
void elm__quantize_q5_0_ref(const float *x, void *y, int64_t n);
void elm__quantize_q5_1_ref(const float *x, void *y, int64_t n);
void elm__quantize_q8_0_ref(const float *x, void *y, int64_t n);
void elm__quantize_q8_1_ref(const float *x, void *y, int64_t n);
void elm__quantize_iq4_nl(const float *x, void *y, int64_t n);

void elm__quantize_q8_0_act(const float *x, void *y, int64_t n);
void elm__quantize_q8_1_act(const float *x, void *y, int64_t n);

void elm__vec_dot_q4_0_q8_0(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_q4_1_q8_1(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_q5_0_q8_0(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_q5_1_q8_1(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_q8_0_q8_0(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_iq4_nl_q8_0(int64_t n, float *s, const void *x, const void *y);

/* ---- K-quant super-blocks (kquants.c, kquants_dot.c) ---- */

void elm__dequantize_q2_K(const void *x, float *y, int64_t n);
void elm__dequantize_q3_K(const void *x, float *y, int64_t n);
void elm__dequantize_q4_K(const void *x, float *y, int64_t n);
void elm__dequantize_q5_K(const void *x, float *y, int64_t n);
void elm__dequantize_q6_K(const void *x, float *y, int64_t n);
void elm__dequantize_q8_K(const void *x, float *y, int64_t n);

void elm__quantize_q2_K_ref(const float *x, void *y, int64_t n);
void elm__quantize_q3_K_ref(const float *x, void *y, int64_t n);
void elm__quantize_q4_K_ref(const float *x, void *y, int64_t n);
void elm__quantize_q5_K_ref(const float *x, void *y, int64_t n);
void elm__quantize_q6_K_ref(const float *x, void *y, int64_t n);
void elm__quantize_q8_K_ref(const float *x, void *y, int64_t n);

void elm__vec_dot_q2_K_q8_K(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_q3_K_q8_K(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_q4_K_q8_K(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_q5_K_q8_K(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_q6_K_q8_K(int64_t n, float *s, const void *x, const void *y);

/* The (scale, min) pair j (0..7) of a q4_K / q5_K block's packed 6-bit scales. */
static inline void elm__k4_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* The 16 signed six-bit scales of a q3_K block. */
static inline void elm__q3k_scales(const uint8_t *packed, int8_t *out)
{
    for (int i = 0; i < 16; i++) {
        int lo = i < 8 ? packed[i] & 15 : packed[i - 8] >> 4;
        int hi = (packed[8 + i % 4] >> (2 * (i / 4))) & 3;
        out[i] = (int8_t)((lo | hi << 4) - 32);
    }
}

#endif
