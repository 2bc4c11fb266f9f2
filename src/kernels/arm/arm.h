/* kernels/arm internals: the aarch64 NEON kernels traits.c installs over the reference ones when
 * the CPU has the features (kernels/cpu.h). Each kernel computes what its kernels/ref counterpart
 * defines: the activation quantizers write the same bytes; the dot products differ only in the
 * order of their float sums. Two tiers: plain NEON, which every ARMv8-A CPU runs, and the integer
 * kernels again with sdot (the dotprod extension), compiled for it with a target attribute so the
 * library still runs on a Cortex-A53; callers check the CPU first. */
#ifndef ELM_KERNELS_ARM_H
#define ELM_KERNELS_ARM_H

#if defined(__aarch64__)
#include <stddef.h>
#include <stdint.h>

/* The attribute of the dotprod tier (ELM__CPU_TIER_DOTPROD). GCC takes it per function; clang
 * before 16 does not, so there the tier exists only when the whole build targets a dotprod CPU
 * (-march=armv8.2-a+dotprod or -mcpu=cortex-a76). */
#if defined(__ARM_FEATURE_DOTPROD)
#define ELM__DOTPROD
#define ELM__HAVE_DOTPROD 1
#elif defined(__GNUC__) && !defined(__clang__)
#define ELM__DOTPROD      __attribute__((target("arch=armv8.2-a+dotprod")))
#define ELM__HAVE_DOTPROD 1
#else
#define ELM__HAVE_DOTPROD 0
#endif

/* ---- integer dot products and matrix products (arm_int8.h, compiled once per tier) ----
 * q8_0 and q8_K operands hold values in [-127, 127], as every quantizer writes them. */

void elm__vec_dot_q4_0_q8_0_neon(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_q5_0_q8_0_neon(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_q8_0_q8_0_neon(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_q4_K_q8_K_neon(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_q6_K_q8_K_neon(int64_t n, float *s, const void *x, const void *y);
void elm__gemm_q4_0_q8_0_neon(int64_t n, int64_t n_out, int64_t n_act, const void *w,
                              size_t w_stride, const void *a, size_t a_stride, float *y,
                              size_t ldy);
void elm__gemm_q5_0_q8_0_neon(int64_t n, int64_t n_out, int64_t n_act, const void *w,
                              size_t w_stride, const void *a, size_t a_stride, float *y,
                              size_t ldy);
void elm__gemm_q8_0_q8_0_neon(int64_t n, int64_t n_out, int64_t n_act, const void *w,
                              size_t w_stride, const void *a, size_t a_stride, float *y,
                              size_t ldy);

#if ELM__HAVE_DOTPROD
void elm__vec_dot_q4_0_q8_0_dotprod(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_q5_0_q8_0_dotprod(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_q8_0_q8_0_dotprod(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_q4_K_q8_K_dotprod(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_q6_K_q8_K_dotprod(int64_t n, float *s, const void *x, const void *y);
void elm__gemm_q4_0_q8_0_dotprod(int64_t n, int64_t n_out, int64_t n_act, const void *w,
                                 size_t w_stride, const void *a, size_t a_stride, float *y,
                                 size_t ldy);
void elm__gemm_q5_0_q8_0_dotprod(int64_t n, int64_t n_out, int64_t n_act, const void *w,
                                 size_t w_stride, const void *a, size_t a_stride, float *y,
                                 size_t ldy);
void elm__gemm_q8_0_q8_0_dotprod(int64_t n, int64_t n_out, int64_t n_act, const void *w,
                                 size_t w_stride, const void *a, size_t a_stride, float *y,
                                 size_t ldy);
#endif

/* ---- activation quantizers (arm_quantize.c) ---- */

void elm__quantize_q8_0_act_neon(const float *x, void *y, int64_t n);
void elm__quantize_q8_K_neon(const float *x, void *y, int64_t n);

/* ---- float rows (arm_fp.c) ---- */

void elm__vec_dot_f32_neon(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_f16_neon(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_bf16_neon(int64_t n, float *s, const void *x, const void *y);
void elm__f16_from_float_neon(const float *x, void *y, int64_t n);

#endif
#endif
