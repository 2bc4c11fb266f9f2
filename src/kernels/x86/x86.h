/* kernels/x86 internals: the x86 SIMD kernels traits.c installs over the reference ones when the
 * CPU has the features (kernels/cpu.h): here the AVX2 tier's and both tiers' matrix products,
 * in avx512.h the rest of the AVX-512 tier. Each kernel computes what its kernels/ref counterpart
 * defines: the activation quantizers write the same bytes; the dot products differ only in the
 * order of their float sums. Every function is compiled for its ISA with a target attribute, so
 * the library still runs on any x86-64; callers check the CPU first.
 *
 * File names say the tier: avx2_*.c hold AVX2 kernels, avx512_*.c AVX-512 (+VNNI) ones, and
 * x86_* files what both tiers share (these headers, the f16 matrix product of both). */
#ifndef ELM_KERNELS_X86_H
#define ELM_KERNELS_X86_H

#if defined(__x86_64__)
#include <stddef.h>
#include <stdint.h>

/* The attribute of the AVX2 tier (ELM__CPU_TIER_AVX2). */
#define ELM__AVX2 __attribute__((target("avx2,fma,f16c")))

/* ---- 32-value blocks (avx2_q8.c) ----
 * q8_0 operands must hold values in [-127, 127], as every q8_0 quantizer writes them: the sign
 * trick of the int8 products cannot negate -128. */

void elm__vec_dot_q4_0_q8_0_avx2(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_q5_0_q8_0_avx2(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_q8_0_q8_0_avx2(int64_t n, float *s, const void *x, const void *y);
void elm__quantize_q8_0_act_avx2(const float *x, void *y, int64_t n);
void elm__vec_dot_q4_1_q8_1_avx2(int64_t n, float *s, const void *x, const void *y);

/* ---- matrix × vector (avx2_gemv.c; the AVX-512 one is in avx512.h) ---- */

size_t elm__gemv_prepare_q4_0_avx2(int64_t n, const void *a, void *p);
size_t elm__gemv_prepare_q5_0_avx2(int64_t n, const void *a, void *p);
void elm__gemv_q4_0_q8_0_avx2(int64_t n, int64_t n_out, const void *w, size_t w_stride,
                              const void *p, float *y);
void elm__gemv_q5_0_q8_0_avx2(int64_t n, int64_t n_out, const void *w, size_t w_stride,
                              const void *p, float *y);

/* ---- K-quant super-blocks (avx2_kquants.c) ---- */

void elm__vec_dot_q4_K_q8_K_avx2(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_q5_K_q8_K_avx2(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_q6_K_q8_K_avx2(int64_t n, float *s, const void *x, const void *y);
void elm__quantize_q8_K_avx2(const float *x, void *y, int64_t n);

/* ---- float rows (avx2_fp.c) ---- */

void elm__vec_dot_f32_avx2(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_f16_avx2(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_bf16_avx2(int64_t n, float *s, const void *x, const void *y);
void elm__f16_from_float_avx2(const float *x, void *y, int64_t n);

/* ---- matrix products (x86_gemm_tier.h, compiled for AVX2 by avx2_gemm.c and for AVX-512 VNNI
 * by avx512_gemm.c; x86_gemm_f16.c: f16 in both) ----
 * elm_gemm_fn kernels: activations in the weight type's vec_dot_type, any n_out, n_act >= 1 and
 * strides; the q8_0 activations of the AVX2 q8_0 kernel must hold values in [-127, 127]. */

void elm__gemm_q4_0_q8_0_avx2(int64_t n, int64_t n_out, int64_t n_act, const void *w,
                              size_t w_stride, const void *a, size_t a_stride, float *y,
                              size_t ldy);
void elm__gemm_q5_0_q8_0_avx2(int64_t n, int64_t n_out, int64_t n_act, const void *w,
                              size_t w_stride, const void *a, size_t a_stride, float *y,
                              size_t ldy);
void elm__gemm_q8_0_q8_0_avx2(int64_t n, int64_t n_out, int64_t n_act, const void *w,
                              size_t w_stride, const void *a, size_t a_stride, float *y,
                              size_t ldy);
void elm__gemm_q4_K_q8_K_avx2(int64_t n, int64_t n_out, int64_t n_act, const void *w,
                              size_t w_stride, const void *a, size_t a_stride, float *y,
                              size_t ldy);
void elm__gemm_q5_K_q8_K_avx2(int64_t n, int64_t n_out, int64_t n_act, const void *w,
                              size_t w_stride, const void *a, size_t a_stride, float *y,
                              size_t ldy);
void elm__gemm_q6_K_q8_K_avx2(int64_t n, int64_t n_out, int64_t n_act, const void *w,
                              size_t w_stride, const void *a, size_t a_stride, float *y,
                              size_t ldy);
void elm__gemm_f16_f16_avx2(int64_t n, int64_t n_out, int64_t n_act, const void *w,
                            size_t w_stride, const void *a, size_t a_stride, float *y, size_t ldy);
void elm__gemm_q4_0_q8_0_avx512(int64_t n, int64_t n_out, int64_t n_act, const void *w,
                                size_t w_stride, const void *a, size_t a_stride, float *y,
                                size_t ldy);
void elm__gemm_q5_0_q8_0_avx512(int64_t n, int64_t n_out, int64_t n_act, const void *w,
                                size_t w_stride, const void *a, size_t a_stride, float *y,
                                size_t ldy);
void elm__gemm_q8_0_q8_0_avx512(int64_t n, int64_t n_out, int64_t n_act, const void *w,
                                size_t w_stride, const void *a, size_t a_stride, float *y,
                                size_t ldy);
void elm__gemm_q4_K_q8_K_avx512(int64_t n, int64_t n_out, int64_t n_act, const void *w,
                                size_t w_stride, const void *a, size_t a_stride, float *y,
                                size_t ldy);
void elm__gemm_q5_K_q8_K_avx512(int64_t n, int64_t n_out, int64_t n_act, const void *w,
                                size_t w_stride, const void *a, size_t a_stride, float *y,
                                size_t ldy);
void elm__gemm_q6_K_q8_K_avx512(int64_t n, int64_t n_out, int64_t n_act, const void *w,
                                size_t w_stride, const void *a, size_t a_stride, float *y,
                                size_t ldy);
void elm__gemm_f16_f16_avx512(int64_t n, int64_t n_out, int64_t n_act, const void *w,
                              size_t w_stride, const void *a, size_t a_stride, float *y,
                              size_t ldy);

/* Weight panels (kernels/panel.h), AVX-512 tier. */
size_t elm__panel_prepare_q4_0_avx512(int64_t n, const void *a, void *p);
size_t elm__panel_prepare_q8_0_avx512(int64_t n, const void *a, void *p);
size_t elm__panel_prepare_q5_0_avx512(int64_t n, const void *a, void *p);
void elm__panel_rows_q4_0_avx512(int64_t n, int64_t n_out, const void *w, size_t w_stride,
                                 const void *p, size_t p_stride, int64_t n_act, float *y,
                                 size_t ldy);
void elm__panel_rows_q8_0_avx512(int64_t n, int64_t n_out, const void *w, size_t w_stride,
                                 const void *p, size_t p_stride, int64_t n_act, float *y,
                                 size_t ldy);
void elm__panel_rows_q5_0_avx512(int64_t n, int64_t n_out, const void *w, size_t w_stride,
                                 const void *p, size_t p_stride, int64_t n_act, float *y,
                                 size_t ldy);
/* the K-quants' panels read their q8_K activations as they are (no prepare) */
void elm__panel_rows_q4_K_avx512(int64_t n, int64_t n_out, const void *w, size_t w_stride,
                                 const void *p, size_t p_stride, int64_t n_act, float *y,
                                 size_t ldy);
void elm__panel_rows_q5_K_avx512(int64_t n, int64_t n_out, const void *w, size_t w_stride,
                                 const void *p, size_t p_stride, int64_t n_act, float *y,
                                 size_t ldy);
void elm__panel_rows_q6_K_avx512(int64_t n, int64_t n_out, const void *w, size_t w_stride,
                                 const void *p, size_t p_stride, int64_t n_act, float *y,
                                 size_t ldy);

#endif
#endif
