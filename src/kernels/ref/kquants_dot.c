/* Scalar reference dequantization of the K-quants (bit-exact with ggml's dequantize_row_qN_K:
 * same f32 operations in the same order) and their dot products with q8_K activations. */
#include <string.h>

#include "edgelm/kernels.h"
#include "kernels/ref/ref.h"

#define FP16(h) elm_fp16_to_fp32(h)

/* ---- dequantize ---- */

void elm__dequantize_q2_K(const void *vx, float *y, int64_t n)
{
    const elm_block_q2_K *x = vx;
    for (int64_t i = 0; i < n / ELM_QK_K; i++) {
        const float d = FP16(x[i].d), min = FP16(x[i].dmin);
        /* Value 128h + 32j + 16k + l: bits 2j of qs[32h + 16k + l], sub-block scale 8h+2j+k. */
        for (int h = 0; h < 2; h++) {
            const uint8_t *q = x[i].qs + 32 * h;
            for (int j = 0; j < 4; j++) {
                for (int k = 0; k < 2; k++) {
                    const uint8_t sc = x[i].scales[8 * h + 2 * j + k];
                    const float dl = d * (sc & 0xF), ml = min * (sc >> 4);
                    for (int l = 0; l < 16; l++) *y++ = dl * ((q[16 * k + l] >> (2 * j)) & 3) - ml;
                }
            }
        }
    }
}

void elm__dequantize_q3_K(const void *vx, float *y, int64_t n)
{
    const elm_block_q3_K *x = vx;
    int8_t sc[16];
    for (int64_t i = 0; i < n / ELM_QK_K; i++) {
        const float d_all = FP16(x[i].d);
        elm__q3k_scales(x[i].scales, sc);
        for (int h = 0; h < 2; h++) {
            const uint8_t *q = x[i].qs + 32 * h;
            for (int j = 0; j < 4; j++) {
                const uint8_t m = (uint8_t)(1u << (4 * h + j));
                for (int k = 0; k < 2; k++) {
                    const float dl = d_all * sc[8 * h + 2 * j + k];
                    for (int l = 0; l < 16; l++) {
                        const int lo = (q[16 * k + l] >> (2 * j)) & 3;
                        *y++ = dl * (lo - ((x[i].hmask[16 * k + l] & m) ? 0 : 4));
                    }
                }
            }
        }
    }
}

void elm__dequantize_q4_K(const void *vx, float *y, int64_t n)
{
    const elm_block_q4_K *x = vx;
    for (int64_t i = 0; i < n / ELM_QK_K; i++) {
        const float d = FP16(x[i].d), min = FP16(x[i].dmin);
        const uint8_t *q = x[i].qs;
        for (int c = 0; c < 4; c++, q += 32) {
            uint8_t sc, m;
            elm__k4_scale_min(2 * c, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            elm__k4_scale_min(2 * c + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (q[l] >> 4) - m2;
        }
    }
}

void elm__dequantize_q5_K(const void *vx, float *y, int64_t n)
{
    const elm_block_q5_K *x = vx;
    for (int64_t i = 0; i < n / ELM_QK_K; i++) {
        const float d = FP16(x[i].d), min = FP16(x[i].dmin);
        const uint8_t *ql = x[i].qs, *qh = x[i].qh;
        for (int c = 0; c < 4; c++, ql += 32) {
            uint8_t sc, m;
            elm__k4_scale_min(2 * c, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            elm__k4_scale_min(2 * c + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            const uint8_t u1 = (uint8_t)(1u << (2 * c)), u2 = (uint8_t)(2u << (2 * c));
            for (int l = 0; l < 32; l++) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
        }
    }
}

/* The 256 signed six-bit levels (-32..31) of a q6_K block, in value order. */
static void q6k_levels(const elm_block_q6_K *b, int8_t *v)
{
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
        int8_t *o = v + 128 * h;
        for (int l = 0; l < 32; l++) {
            o[l] = (int8_t)(((ql[l] & 0xF) | ((qh[l] >> 0) & 3) << 4) - 32);
            o[l + 32] = (int8_t)(((ql[l + 32] & 0xF) | ((qh[l] >> 2) & 3) << 4) - 32);
            o[l + 64] = (int8_t)(((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32);
            o[l + 96] = (int8_t)(((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32);
        }
    }
}

void elm__dequantize_q6_K(const void *vx, float *y, int64_t n)
{
    const elm_block_q6_K *x = vx;
    int8_t v[ELM_QK_K];
    for (int64_t i = 0; i < n / ELM_QK_K; i++, y += ELM_QK_K) {
        const float d = FP16(x[i].d);
        q6k_levels(&x[i], v);
        /* Value j uses scale j/16; ggml multiplies (d * scale) * level. */
        for (int j = 0; j < ELM_QK_K; j++) y[j] = d * x[i].scales[j / 16] * v[j];
    }
}

void elm__dequantize_q8_K(const void *vx, float *y, int64_t n)
{
    const elm_block_q8_K *x = vx;
    for (int64_t i = 0; i < n / ELM_QK_K; i++) {
        const float d = elm__q8k_d(&x[i]);
        for (int j = 0; j < ELM_QK_K; j++) *y++ = d * x[i].qs[j];
    }
}

/* ---- dot products with q8_K ----
 * Every kernel forms exact integer sums per sub-block, scales them by the sub-block's integer
 * scale, and combines blocks in f32 with d = d_w * d_x. */

/* Integer dot product of 16 or 32 levels with q8 values. */
static inline int dot_i8(const int8_t *a, const int8_t *b, int n)
{
    int s = 0;
    for (int j = 0; j < n; j++) s += a[j] * b[j];
    return s;
}

void elm__vec_dot_q2_K_q8_K(int64_t n, float *s, const void *vx, const void *vy)
{
    const elm_block_q2_K *x = vx;
    const elm_block_q8_K *y = vy;
    int8_t v[ELM_QK_K];
    float sum = 0;
    for (int64_t i = 0; i < n / ELM_QK_K; i++) {
        for (int h = 0; h < 2; h++)
            for (int j = 0; j < 4; j++)
                for (int l = 0; l < 32; l++)
                    v[128 * h + 32 * j + l] = (int8_t)((x[i].qs[32 * h + l] >> (2 * j)) & 3);
        int isum = 0, summs = 0;
        for (int k = 0; k < 16; k++) {
            isum += (x[i].scales[k] & 0xF) * dot_i8(v + 16 * k, y[i].qs + 16 * k, 16);
            summs += (x[i].scales[k] >> 4) * y[i].bsums[k];
        }
        const float dy = elm__q8k_d(&y[i]);
        sum += dy * FP16(x[i].d) * isum - dy * FP16(x[i].dmin) * summs;
    }
    *s = sum;
}

void elm__vec_dot_q3_K_q8_K(int64_t n, float *s, const void *vx, const void *vy)
{
    const elm_block_q3_K *x = vx;
    const elm_block_q8_K *y = vy;
    int8_t v[ELM_QK_K], sc[16];
    float sum = 0;
    for (int64_t i = 0; i < n / ELM_QK_K; i++) {
        for (int h = 0; h < 2; h++)
            for (int j = 0; j < 4; j++)
                for (int l = 0; l < 32; l++) {
                    const int lo = (x[i].qs[32 * h + l] >> (2 * j)) & 3;
                    const int hi = (x[i].hmask[l] >> (4 * h + j)) & 1;
                    v[128 * h + 32 * j + l] = (int8_t)(lo - (hi ? 0 : 4));
                }
        elm__q3k_scales(x[i].scales, sc);
        int isum = 0;
        for (int k = 0; k < 16; k++) isum += sc[k] * dot_i8(v + 16 * k, y[i].qs + 16 * k, 16);
        sum += FP16(x[i].d) * elm__q8k_d(&y[i]) * isum;
    }
    *s = sum;
}

/* q4_K and q5_K: levels v (0..31) in value order, 8 (scale, min) pairs of 32 values. */
static float dot_k4(const uint8_t *scales, uint16_t d, uint16_t dmin, const int8_t *v,
                    const elm_block_q8_K *y)
{
    int isum = 0, summs = 0;
    for (int k = 0; k < 8; k++) {
        uint8_t sc, m;
        elm__k4_scale_min(k, scales, &sc, &m);
        isum += sc * dot_i8(v + 32 * k, y->qs + 32 * k, 32);
        summs += m * (y->bsums[2 * k] + y->bsums[2 * k + 1]);
    }
    const float dy = elm__q8k_d(y);
    return dy * FP16(d) * isum - dy * FP16(dmin) * summs;
}

void elm__vec_dot_q4_K_q8_K(int64_t n, float *s, const void *vx, const void *vy)
{
    const elm_block_q4_K *x = vx;
    const elm_block_q8_K *y = vy;
    int8_t v[ELM_QK_K];
    float sum = 0;
    for (int64_t i = 0; i < n / ELM_QK_K; i++) {
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                v[64 * c + l] = (int8_t)(x[i].qs[32 * c + l] & 0xF);
                v[64 * c + 32 + l] = (int8_t)(x[i].qs[32 * c + l] >> 4);
            }
        sum += dot_k4(x[i].scales, x[i].d, x[i].dmin, v, &y[i]);
    }
    *s = sum;
}

void elm__vec_dot_q5_K_q8_K(int64_t n, float *s, const void *vx, const void *vy)
{
    const elm_block_q5_K *x = vx;
    const elm_block_q8_K *y = vy;
    int8_t v[ELM_QK_K];
    float sum = 0;
    for (int64_t i = 0; i < n / ELM_QK_K; i++) {
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                const uint8_t q = x[i].qs[32 * c + l], h = x[i].qh[l];
                v[64 * c + l] = (int8_t)((q & 0xF) | ((h >> (2 * c)) & 1) << 4);
                v[64 * c + 32 + l] = (int8_t)((q >> 4) | ((h >> (2 * c + 1)) & 1) << 4);
            }
        sum += dot_k4(x[i].scales, x[i].d, x[i].dmin, v, &y[i]);
    }
    *s = sum;
}

void elm__vec_dot_q6_K_q8_K(int64_t n, float *s, const void *vx, const void *vy)
{
    const elm_block_q6_K *x = vx;
    const elm_block_q8_K *y = vy;
    int8_t v[ELM_QK_K];
    float sum = 0;
    for (int64_t i = 0; i < n / ELM_QK_K; i++) {
        q6k_levels(&x[i], v);
        int isum = 0;
        for (int k = 0; k < 16; k++) isum += x[i].scales[k] * dot_i8(v + 16 * k, y[i].qs + 16 * k, 16);
        sum += FP16(x[i].d) * elm__q8k_d(&y[i]) * isum;
    }
    *s = sum;
}
