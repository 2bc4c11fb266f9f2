/* edgelm ops: the small elementwise and row steps of the forward pass (RMSNorm, the softmax's
 * exponentials, SiLU × up, GELU × up, soft-caps, residual adds, RoPE) behind one dispatch table
 * filled once from CPU features, as the matrix kernels are. The scalar reference defines the
 * numbers; the SIMD ones differ only in the order of sums and in the last bits of exp. */
#ifndef EDGELM_OPS_H
#define EDGELM_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    /* y = x / sqrt(mean(x²) + eps) * w over n values, ggml's rms_norm then mul (the sum of
     * squares in double). y may equal x. */
    void (*rmsnorm)(float *y, const float *x, const float *w, int64_t n, float eps);
    /* x[i] = exp(scale * x[i] - m) for i < n, m = max(scale * x); returns Σ x[i] (summed in
     * double): the numerators of a softmax and its denominator. n >= 1. */
    float (*softmax_exp)(float *x, int64_t n, float scale);
    /* g[i] = g[i] / (1 + exp(-g[i])) * u[i]: SwiGLU's SiLU(gate) × up. */
    void (*silu_mul)(float *g, const float *u, int64_t n);
    /* y[i] += x[i]: the residual add. */
    void (*add)(float *y, const float *x, int64_t n);
    /* y[i] = a * x[i]. y may equal x. */
    void (*scale)(float *y, const float *x, float a, int64_t n);
    /* RoPE: rotate the first n_rot values (even, <= head_dim) of each of n_heads heads of
     * head_dim values at x by the angles whose cosines are cs[0 .. n_rot/2) and sines
     * cs[n_rot/2 .. n_rot): pairs (2i, 2i+1) in llama's NORM mode, (i, i + n_rot/2) with neox.
     * Each value is x0·c − x1·s or x0·s + x1·c, two rounded products and one rounded sum, so
     * every tier gives the reference's bits. */
    void (*rope)(float *x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const float *cs,
                 bool neox);
    /* g[i] = gelu(g[i]) * u[i]: gemma2's GELU-gated FFN, with ggml's CPU GELU: 0 for g <= -10,
     * g for g >= 10, else its fp16 table (tanh-GELU computed in f32) at fp16(g). */
    void (*gelu_mul)(float *g, const float *u, int64_t n);
    /* x[i] = tanh(x[i] * (1 / cap)) * cap: gemma2's attention and final-logit soft-caps, in
     * ggml's order (scale, tanh, scale). cap > 0. */
    void (*softcap)(float *x, int64_t n, float cap);
    /* The read loop the benchmarks' memory roofline is measured with: the sum of buf[0..n) as
     * 64-bit words (the last n % 8 bytes added one by one), read with the tier's widest loads
     * (16, 32 or 64 bytes) into four independent accumulators, so that loads, not adds, bound
     * it. Every tier gives the same sum; it means nothing but must be used, or the compiler
     * drops the loop. */
    uint64_t (*read_sum)(const void *buf, size_t n);
} elm_ops_t;

/* The ops for the running CPU, filled once (thread-safe). EDGELM_NO_SIMD keeps the reference
 * and EDGELM_SIMD_MAX caps the tier, read once, as for the matrix kernels (elm_kernels_init). */
const elm_ops_t *elm_ops(void);

/* The scalar reference ops: the oracle the SIMD ones are tested against. */
const elm_ops_t *elm_ops_ref(void);

#ifdef __cplusplus
}
#endif
#endif
