/* kernels/x86 internals: the AVX-512 (+VNNI) decode kernels (x86_avx512.c), installed over the
 * AVX2 tier when the CPU has ELM__CPU_TIER_AVX512, and the AVX2 kernels the first AVX2 files
 * lack (x86_avx2_more.c). Each computes what its kernels/ref counterpart defines: the integer
 * dot product of every block is exact, and only the order of the float sums differs. */
#ifndef ELM_KERNELS_X86_AVX512_H
#define ELM_KERNELS_X86_AVX512_H

#if defined(__x86_64__)
#include <stddef.h>
#include <stdint.h>

/* The attribute of the AVX-512 tier (ELM__CPU_TIER_AVX512, which includes the AVX2 tier). */
#define ELM__AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

/* 64 bytes of weights at any address, as two 32-byte loads. Weight rows stream from memory,
 * and their blocks (18, 22, 34, 144, 210 bytes) put most 64-byte loads across two cache lines:
 * on Zen 4 such a 512-bit load that misses the caches costs far more than two 256-bit ones
 * (`make bench-decode`: the AVX-512 q4_0 gemv from memory went from 0.65-0.85 to 0.86-0.96 of
 * the read loop; the same from the caches). Activations, in L1, take plain 512-bit loads. */
#define ELM__LOAD_WEIGHTS_512(p)                                                         \
    _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(p))), \
                       _mm256_loadu_si256((const __m256i *)((const char *)(p) + 32)), 1)

/* Word indices that spread word a over 16 words, then word b over the next 16. */
#define SPREAD2(a, b)                                                                  \
    _mm512_setr_epi32((a)*0x10001, (a)*0x10001, (a)*0x10001, (a)*0x10001, (a)*0x10001, \
                      (a)*0x10001, (a)*0x10001, (a)*0x10001, (b)*0x10001, (b)*0x10001, \
                      (b)*0x10001, (b)*0x10001, (b)*0x10001, (b)*0x10001, (b)*0x10001, \
                      (b)*0x10001)

/* ---- AVX-512 tier (x86_avx512.c) ----
 * q8_0 operands must hold values in [-127, 127], as every q8_0 quantizer writes them. */

void elm__vec_dot_q4_0_q8_0_avx512(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_q5_0_q8_0_avx512(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_q8_0_q8_0_avx512(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_q4_1_q8_1_avx512(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_q4_K_q8_K_avx512(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_q5_K_q8_K_avx512(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_q6_K_q8_K_avx512(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_f16_avx512(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_bf16_avx512(int64_t n, float *s, const void *x, const void *y);
void elm__quantize_q8_0_act_avx512(const float *x, void *y, int64_t n);
void elm__quantize_q8_K_avx512(const float *x, void *y, int64_t n);

/* ---- AVX-512 tier, matrix × vector (x86_gemv.c) ---- */

void elm__gemv_q4_0_q8_0_avx512(int64_t n, int64_t n_out, const void *w, size_t w_stride,
                                const void *a, float *y);
void elm__gemv_q5_0_q8_0_avx512(int64_t n, int64_t n_out, const void *w, size_t w_stride,
                                const void *a, float *y);
void elm__gemv_q4_K_q8_K_avx512(int64_t n, int64_t n_out, const void *w, size_t w_stride,
                                const void *a, float *y);
void elm__gemv_q5_K_q8_K_avx512(int64_t n, int64_t n_out, const void *w, size_t w_stride,
                                const void *a, float *y);

/* ---- AVX2 tier, more types (x86_avx2_more.c) ---- */

void elm__vec_dot_q4_1_q8_1_avx2(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_q5_K_q8_K_avx2(int64_t n, float *s, const void *x, const void *y);
void elm__vec_dot_bf16_avx2(int64_t n, float *s, const void *x, const void *y);

#endif
#endif
