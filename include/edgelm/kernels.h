/* edgelm kernels: per-type traits (block layout, dequantize, quantize, dot product) — the single
 * dispatch point. kernels/ref holds the scalar reference that defines the numbers; SIMD variants
 * plug into the same table, chosen once from CPU features. */
#ifndef EDGELM_KERNELS_H
#define EDGELM_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "edgelm/gguf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- scalar conversions ---- */

float elm_fp16_to_fp32(uint16_t h);
uint16_t elm_fp32_to_fp16(float f); /* IEEE round-to-nearest-even */
float elm_bf16_to_fp32(uint16_t h);
uint16_t elm_fp32_to_bf16(float f); /* round-to-nearest-even; NaN stays NaN (ggml's rule) */

/* ---- traits ---- */

/* Dequantize n values (n a multiple of the block size) from blocks x into y. */
typedef void (*elm_to_float_fn)(const void *x, float *y, int64_t n);
/* Quantize n values (n a multiple of the block size) from x into blocks y. */
typedef void (*elm_from_float_fn)(const float *x, void *y, int64_t n);
/* *s = dot product of n values: x in the weight type, y in the traits' vec_dot_type. */
typedef void (*elm_vec_dot_fn)(int64_t n, float *s, const void *x, const void *y);
/* A block of a matrix product: y[r * ldy + o] = dot(row o of w, row r of a) for o < n_out and
 * r < n_act, rows of n values. w holds n_out weight rows w_stride bytes apart; a holds n_act
 * activation rows in vec_dot_type, a_stride bytes apart. Equal to n_out × n_act vec_dot calls up
 * to the order of float sums, and faster: each weight block is read once for many activations. */
typedef void (*elm_gemm_fn)(int64_t n, int64_t n_out, int64_t n_act, const void *w,
                            size_t w_stride, const void *a, size_t a_stride, float *y, size_t ldy);
/* Lay out one activation row a (n values in vec_dot_type) for the type's gemv into p (64-byte
 * aligned) and return the bytes written. With p NULL, only return the bytes it would take; 0
 * means the gemv cannot take rows of n values (the caller loops over vec_dot). */
typedef size_t (*elm_gemv_prepare_fn)(int64_t n, const void *a, void *p);
/* A matrix × vector (decode): y[o] = dot(row o of w, a) for o < n_out, rows of n values, w's
 * rows w_stride bytes apart, p the activation row a as gemv_prepare laid it out. Equal to n_out
 * vec_dot calls up to the order of float sums, and faster: the activation's side of every block
 * product is prepared once for every row of the matrix (and every thread), and each weight row
 * is walked front to back, as the memory prefetchers like best. */
typedef void (*elm_gemv_fn)(int64_t n, int64_t n_out, const void *w, size_t w_stride, const void *p,
                            float *y);
/* The gemv of n_act activation rows at once (the decode rows of several sequences): y[r * ldy +
 * o] = dot(row o of w, activation r), the activations laid out by gemv_prepare p_stride bytes
 * apart. Bit for bit n_act calls of the type's gemv, each row's sums in the same order, with
 * each weight block read and unpacked once for several rows. */
typedef void (*elm_gemv_rows_fn)(int64_t n, int64_t n_out, const void *w, size_t w_stride,
                                 const void *p, size_t p_stride, int64_t n_act, float *y,
                                 size_t ldy);
/* n_out dot products with one row: s[o] = dot(row o of x, y) for o < n_out, rows of n values
 * (any n), x's rows x_stride bytes apart, y in vec_dot_type as it is. Bit for bit n_out calls of
 * the type's vec_dot, and faster: y is loaded and converted once for several rows, without a
 * call per row (attention's scores and its sums over values in decode). */
typedef void (*elm_vec_dots_fn)(int64_t n, int64_t n_out, const void *x, size_t x_stride,
                                const void *y, float *s);

typedef struct {
    elm_type_t type;
    const char *name;            /* ggml name: "q4_K" */
    uint32_t blck_size;          /* values per block */
    uint32_t type_size;          /* bytes per block */
    elm_to_float_fn to_float;
    /* What llama-quantize does to a weight row without an importance matrix (ggml's reference
     * quantizer, `quantize_row_*_ref`): bit-exact with ggml. NULL if the type cannot be made. */
    elm_from_float_fn quantize;
    /* What matrix products do to activations of this type (ggml's CPU from_float; differs from
     * quantize for q8_0/q8_1 in rounding). NULL for types never used as activations. */
    elm_from_float_fn from_float;
    elm_vec_dot_fn vec_dot;      /* NULL for activation-only types */
    elm_type_t vec_dot_type;     /* the type vec_dot wants its second operand in */
    elm_gemm_fn gemm;            /* NULL: the caller loops over vec_dot (the reference has none) */
    elm_gemv_fn gemv;            /* NULL: the caller loops over vec_dot */
    elm_gemv_prepare_fn gemv_prepare; /* set with gemv */
    elm_gemv_rows_fn gemv_rows;       /* NULL: the caller loops over gemv */
    elm_vec_dots_fn vec_dots;         /* NULL: the caller loops over vec_dot */
} elm_type_traits_t;

/* Fill the traits table from CPU features; idempotent and thread-safe. Called by elm_traits().
 * Setting the environment variable EDGELM_NO_SIMD to anything but "" or "0" before the first
 * call keeps the scalar reference kernels for every type; EDGELM_SIMD_MAX=avx2 keeps the AVX2
 * tier on a CPU that has AVX-512, EDGELM_SIMD_MAX=neon the plain NEON tier on a dotprod CPU (to
 * compare tiers). Both are read once, at this first call, and cap elm_ops() the same way. */
void elm_kernels_init(void);

/* The SIMD features detected on the running CPU that the kernels can use, space-separated in a
 * static string (e.g. "avx2 fma f16c avx512f avx512bw avx512vl avx512vnni"; "" when none).
 * Reports the hardware, whether or not EDGELM_NO_SIMD is set. */
const char *elm_cpu_features(void);

/* The traits of a type, or NULL when the library cannot compute with it (unknown, retired, or a
 * type without kernels yet, such as the IQ2/IQ3 families). */
const elm_type_traits_t *elm_traits(int type);

/* The scalar reference traits, regardless of CPU: the oracle SIMD kernels are tested against. */
const elm_type_traits_t *elm_traits_ref(int type);

#ifdef __cplusplus
}
#endif
#endif
