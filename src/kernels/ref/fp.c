/* Scalar float formats: fp16 and bf16 conversions (bit-exact with ggml on x86, i.e. IEEE
 * round-to-nearest-even), and the reference F32 / F16 / BF16 rows: to_float, quantize, vec_dot. */
#include <string.h>

#include "edgelm/kernels.h"
#include "kernels/ref/ref.h"

/* ---- scalar conversions ---- */

static inline uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float elm_fp16_to_fp32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    if (exp == 0) {
        /* Zero or subnormal: mant * 2^-24, exact in f32. */
        float v = (float)mant * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    if (exp == 31) return f32_from_bits(sign | 0x7f800000u | mant << 13);
    return f32_from_bits(sign | (exp + 112) << 23 | mant << 13);
}

uint16_t elm_fp32_to_fp16(float f)
{
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) {
        /* NaN: quiet it and keep the top of the payload, as F16C's vcvtps2ph does. */
        return (uint16_t)(sign | 0x7e00 | (a >> 13 & 0x1ff));
    }
    if (a >= 0x477ff000u) {
        /* At or above the midpoint between 65504 and 65536: ties go to the even 65536 = inf. */
        return (uint16_t)(sign | 0x7c00);
    }
    if (a < 0x38800000u) {
        /* Below 2^-14, the result is subnormal: adding 0.5 (whose ulp is 2^-24, the fp16
         * subnormal step) makes the FPU round to a whole number of steps, ties to even. */
        float v = f32_from_bits(a) + 0.5f;
        return (uint16_t)(sign | (f32_bits(v) - 0x3f000000u));
    }
    /* Normal: rebias the exponent and round the 13 dropped bits to nearest even. */
    uint32_t odd = (a >> 13) & 1;
    a += ((uint32_t)(15 - 127) << 23) + 0xfff + odd;
    return (uint16_t)(sign | (a >> 13));
}

float elm_bf16_to_fp32(uint16_t h)
{
    return f32_from_bits((uint32_t)h << 16);
}

uint16_t elm_fp32_to_bf16(float f)
{
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 64); /* stays NaN */
    return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

/* ---- F32 ---- */

void elm__f32_to_float(const void *x, float *y, int64_t n)
{
    memcpy(y, x, (size_t)n * sizeof(float));
}

void elm__f32_from_float(const float *x, void *y, int64_t n)
{
    memcpy(y, x, (size_t)n * sizeof(float));
}

/* Like the other rows, f32 rows are read bytewise, so any address works. */
void elm__vec_dot_f32(int64_t n, float *s, const void *x, const void *y)
{
    const unsigned char *a = x, *b = y;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        float u, v;
        memcpy(&u, a + 4 * i, sizeof u);
        memcpy(&v, b + 4 * i, sizeof v);
        sum += (double)u * v;
    }
    *s = (float)sum;
}

/* ---- F16 and BF16 ----
 * Rows of 16-bit values may sit at any even address; they are read through uint16_t. The dot
 * products accumulate exact f32 products in double, so they agree with ggml's f32 SIMD sums to
 * well within 1e-5 relative. */

void elm__f16_to_float(const void *x, float *y, int64_t n)
{
    const uint16_t *h = x;
    for (int64_t i = 0; i < n; i++) y[i] = elm_fp16_to_fp32(h[i]);
}

void elm__f16_from_float(const float *x, void *y, int64_t n)
{
    uint16_t *h = y;
    for (int64_t i = 0; i < n; i++) h[i] = elm_fp32_to_fp16(x[i]);
}

void elm__vec_dot_f16(int64_t n, float *s, const void *x, const void *y)
{
    const uint16_t *a = x, *b = y;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += (double)elm_fp16_to_fp32(a[i]) * elm_fp16_to_fp32(b[i]);
    *s = (float)sum;
}

void elm__bf16_to_float(const void *x, float *y, int64_t n)
{
    const uint16_t *h = x;
    for (int64_t i = 0; i < n; i++) y[i] = elm_bf16_to_fp32(h[i]);
}

void elm__bf16_from_float(const float *x, void *y, int64_t n)
{
    uint16_t *h = y;
    for (int64_t i = 0; i < n; i++) h[i] = elm_fp32_to_bf16(x[i]);
}

void elm__vec_dot_bf16(int64_t n, float *s, const void *x, const void *y)
{
    const uint16_t *a = x, *b = y;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += (double)elm_bf16_to_fp32(a[i]) * elm_bf16_to_fp32(b[i]);
    *s = (float)sum;
}
