/* Scalar reference kernels of the 32-value block types: q4_0, q4_1, q5_0, q5_1, q8_0, q8_1 and
 * iq4_nl. Dequantization and the weight quantizers reproduce ggml's bytes and floats exactly
 * (ggml's dequantize_row_* and quantize_row_*_ref / quantize_iq4_nl); the activation quantizers
 * reproduce ggml's CPU from_float for q8_0 / q8_1 (round half to even, id = 127/amax). */
#include <float.h>
#include <math.h>
#include <string.h>

#include "edgelm/kernels.h"
#include "kernels/ref/ref.h"

#define FP16(h) elm_fp16_to_fp32(h)

/* iq4_nl's 16 non-linear levels, sorted. */
static const int8_t iq4nl_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                        1,    13,   25,  38,  53,  69,  89,  113};

/* ---- dequantize ---- */

void elm__dequantize_q4_0(const void *vx, float *y, int64_t n)
{
    const elm_block_q4_0 *x = vx;
    for (int64_t i = 0; i < n / ELM_QK; i++, y += ELM_QK) {
        const float d = FP16(x[i].d);
        for (int j = 0; j < ELM_QK / 2; j++) {
            y[j] = ((x[i].qs[j] & 0x0F) - 8) * d;
            y[j + ELM_QK / 2] = ((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

void elm__dequantize_q4_1(const void *vx, float *y, int64_t n)
{
    const elm_block_q4_1 *x = vx;
    for (int64_t i = 0; i < n / ELM_QK; i++, y += ELM_QK) {
        const float d = FP16(x[i].d), m = FP16(x[i].m);
        for (int j = 0; j < ELM_QK / 2; j++) {
            y[j] = (x[i].qs[j] & 0x0F) * d + m;
            y[j + ELM_QK / 2] = (x[i].qs[j] >> 4) * d + m;
        }
    }
}

static inline uint32_t load_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The 32 five-bit levels (0..31) of a q5 block: low nibbles from qs, fifth bits from qh. */
static inline void q5_levels(const uint8_t *qs, const uint8_t *qh, int *lv)
{
    const uint32_t h = load_u32le(qh);
    for (int j = 0; j < ELM_QK / 2; j++) {
        lv[j] = (qs[j] & 0x0F) | (int)((h >> j) & 1) << 4;
        lv[j + ELM_QK / 2] = (qs[j] >> 4) | (int)((h >> (j + 16)) & 1) << 4;
    }
}

void elm__dequantize_q5_0(const void *vx, float *y, int64_t n)
{
    const elm_block_q5_0 *x = vx;
    int lv[ELM_QK];
    for (int64_t i = 0; i < n / ELM_QK; i++, y += ELM_QK) {
        const float d = FP16(x[i].d);
        q5_levels(x[i].qs, x[i].qh, lv);
        for (int j = 0; j < ELM_QK; j++) y[j] = (lv[j] - 16) * d;
    }
}

void elm__dequantize_q5_1(const void *vx, float *y, int64_t n)
{
    const elm_block_q5_1 *x = vx;
    int lv[ELM_QK];
    for (int64_t i = 0; i < n / ELM_QK; i++, y += ELM_QK) {
        const float d = FP16(x[i].d), m = FP16(x[i].m);
        q5_levels(x[i].qs, x[i].qh, lv);
        for (int j = 0; j < ELM_QK; j++) y[j] = lv[j] * d + m;
    }
}

void elm__dequantize_q8_0(const void *vx, float *y, int64_t n)
{
    const elm_block_q8_0 *x = vx;
    for (int64_t i = 0; i < n / ELM_QK; i++, y += ELM_QK) {
        const float d = FP16(x[i].d);
        for (int j = 0; j < ELM_QK; j++) y[j] = x[i].qs[j] * d;
    }
}

void elm__dequantize_q8_1(const void *vx, float *y, int64_t n)
{
    const elm_block_q8_1 *x = vx;
    for (int64_t i = 0; i < n / ELM_QK; i++, y += ELM_QK) {
        const float d = FP16(x[i].d);
        for (int j = 0; j < ELM_QK; j++) y[j] = x[i].qs[j] * d;
    }
}

void elm__dequantize_iq4_nl(const void *vx, float *y, int64_t n)
{
    const elm_block_iq4_nl *x = vx;
    for (int64_t i = 0; i < n / ELM_QK; i++, y += ELM_QK) {
        const float d = FP16(x[i].d);
        for (int j = 0; j < ELM_QK / 2; j++) {
            y[j] = d * iq4nl_values[x[i].qs[j] & 0x0F];
            y[j + ELM_QK / 2] = d * iq4nl_values[x[i].qs[j] >> 4];
        }
    }
}

/* ---- weight quantizers (ggml's quantize_row_*_ref) ---- */

void elm__quantize_q4_0_ref(const float *x, void *vy, int64_t n)
{
    elm_block_q4_0 *y = vy;
    for (int64_t i = 0; i < n / ELM_QK; i++, x += ELM_QK) {
        /* The extreme value maps to level 0 (-8), so its sign picks the sign of d. */
        const float d = elm__signed_absmax(x, ELM_QK) / -8;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = elm_fp32_to_fp16(d);
        for (int j = 0; j < ELM_QK / 2; j++) {
            /* ggml truncates x*id + 8.5 through an int8_t cast; the values are in [0.5, 16.5]. */
            const int q0 = ELM__MIN(15, (int)(x[j] * id + 8.5f));
            const int q1 = ELM__MIN(15, (int)(x[j + ELM_QK / 2] * id + 8.5f));
            y[i].qs[j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}

static inline void min_max(const float *x, int n, float *mn, float *mx)
{
    *mn = FLT_MAX;
    *mx = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        if (x[j] < *mn) *mn = x[j];
        if (x[j] > *mx) *mx = x[j];
    }
}

void elm__quantize_q4_1_ref(const float *x, void *vy, int64_t n)
{
    elm_block_q4_1 *y = vy;
    for (int64_t i = 0; i < n / ELM_QK; i++, x += ELM_QK) {
        float mn, mx;
        min_max(x, ELM_QK, &mn, &mx);
        const float d = (mx - mn) / 15;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = elm_fp32_to_fp16(d);
        y[i].m = elm_fp32_to_fp16(mn);
        for (int j = 0; j < ELM_QK / 2; j++) {
            const int q0 = ELM__MIN(15, (int)((x[j] - mn) * id + 0.5f));
            const int q1 = ELM__MIN(15, (int)((x[j + ELM_QK / 2] - mn) * id + 0.5f));
            y[i].qs[j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}

/* Pack 32 five-bit levels into qs (low nibbles) and qh (fifth bits, little-endian uint32). */
static inline void q5_pack(const int *lv, uint8_t *qs, uint8_t *qh)
{
    uint32_t h = 0;
    for (int j = 0; j < ELM_QK / 2; j++) {
        const int a = lv[j], b = lv[j + ELM_QK / 2];
        qs[j] = (uint8_t)((a & 0x0F) | (b & 0x0F) << 4);
        h |= (uint32_t)((a >> 4) & 1) << j;
        h |= (uint32_t)((b >> 4) & 1) << (j + ELM_QK / 2);
    }
    for (int k = 0; k < 4; k++) qh[k] = (uint8_t)(h >> (8 * k));
}

void elm__quantize_q5_0_ref(const float *x, void *vy, int64_t n)
{
    elm_block_q5_0 *y = vy;
    int lv[ELM_QK];
    for (int64_t i = 0; i < n / ELM_QK; i++, x += ELM_QK) {
        const float d = elm__signed_absmax(x, ELM_QK) / -16;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = elm_fp32_to_fp16(d);
        for (int j = 0; j < ELM_QK; j++) lv[j] = ELM__MIN(31, (int)(x[j] * id + 16.5f));
        q5_pack(lv, y[i].qs, y[i].qh);
    }
}

void elm__quantize_q5_1_ref(const float *x, void *vy, int64_t n)
{
    elm_block_q5_1 *y = vy;
    int lv[ELM_QK];
    for (int64_t i = 0; i < n / ELM_QK; i++, x += ELM_QK) {
        float mn, mx;
        min_max(x, ELM_QK, &mn, &mx);
        const float d = (mx - mn) / 31;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = elm_fp32_to_fp16(d);
        y[i].m = elm_fp32_to_fp16(mn);
        /* ggml converts through uint8_t without clamping; the values are in [0.5, 31.5]. */
        for (int j = 0; j < ELM_QK; j++) lv[j] = (int)((x[j] - mn) * id + 0.5f);
        q5_pack(lv, y[i].qs, y[i].qh);
    }
}

static inline float absmax(const float *x, int n)
{
    float amax = 0;
    for (int j = 0; j < n; j++) amax = ELM__MAX(amax, fabsf(x[j]));
    return amax;
}

/* One q8 block the way ggml's reference does it (id = 1/d, roundf: half away from zero), or
 * the way its CPU activation path does (id = 127/amax, round half to even). Returns d. */
static float q8_block(const float *x, int8_t *qs, int act)
{
    const float amax = absmax(x, ELM_QK);
    const float d = amax / 127;
    if (act) {
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        for (int j = 0; j < ELM_QK; j++) qs[j] = (int8_t)elm__nearest_int(x[j] * id);
    } else {
        const float id = d ? 1.0f / d : 0.0f;
        for (int j = 0; j < ELM_QK; j++) qs[j] = (int8_t)roundf(x[j] * id);
    }
    return d;
}

static void quantize_q8_0(const float *x, void *vy, int64_t n, int act)
{
    elm_block_q8_0 *y = vy;
    for (int64_t i = 0; i < n / ELM_QK; i++, x += ELM_QK)
        y[i].d = elm_fp32_to_fp16(q8_block(x, y[i].qs, act));
}

static void quantize_q8_1(const float *x, void *vy, int64_t n, int act)
{
    elm_block_q8_1 *y = vy;
    for (int64_t i = 0; i < n / ELM_QK; i++, x += ELM_QK) {
        const float d = q8_block(x, y[i].qs, act);
        int sum = 0;
        for (int j = 0; j < ELM_QK; j++) sum += y[i].qs[j];
        y[i].d = elm_fp32_to_fp16(d);
        y[i].s = elm_fp32_to_fp16(sum * d);
    }
}

void elm__quantize_q8_0_ref(const float *x, void *y, int64_t n) { quantize_q8_0(x, y, n, 0); }
void elm__quantize_q8_1_ref(const float *x, void *y, int64_t n) { quantize_q8_1(x, y, n, 0); }
void elm__quantize_q8_0_act(const float *x, void *y, int64_t n) { quantize_q8_0(x, y, n, 1); }
void elm__quantize_q8_1_act(const float *x, void *y, int64_t n) { quantize_q8_1(x, y, n, 1); }

/* ---- iq4_nl (ggml's quantize_row_iq4_nl_impl for one 32-block, no imatrix, ntry = 7) ---- */

/* Index of the level nearest to v in the sorted table val[n] (ties go up). */
static int best_index_int8(int n, const int8_t *val, float v)
{
    if (v <= val[0]) return 0;
    if (v >= val[n - 1]) return n - 1;
    int lo = 0, hi = n - 1;
    while (hi - lo > 1) {
        const int mid = (lo + hi) / 2;
        if (v < val[mid]) hi = mid;
        else lo = mid;
    }
    return v - val[hi - 1] < val[hi] - v ? hi - 1 : hi;
}

static void iq4_nl_block(const float *x, elm_block_iq4_nl *y)
{
    enum { NTRY = 7 };
    const int8_t *values = iq4nl_values;
    uint8_t L[ELM_QK];
    float w[ELM_QK];
    float amax = 0, max = 0, scale = 0;
    for (int j = 0; j < ELM_QK; j++) {
        w[j] = x[j] * x[j];
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    if (amax >= 1e-15f) {
        /* Start from the scale that maps the extreme value to level 0, fit the least-squares
         * scale for those levels, then try 2*NTRY+1 nearby starting scales. */
        float d = -max / values[0];
        float id = 1 / d;
        float sumqx = 0, sumq2 = 0;
        for (int j = 0; j < ELM_QK; j++) {
            const float q = values[best_index_int8(16, values, id * x[j])];
            sumqx += w[j] * q * x[j];
            sumq2 += w[j] * q * q;
        }
        d = sumqx / sumq2;
        float best = d * sumqx;
        for (int itry = -NTRY; itry <= NTRY; itry++) {
            id = (itry + values[0]) / max;
            sumqx = sumq2 = 0;
            for (int j = 0; j < ELM_QK; j++) {
                const float q = values[best_index_int8(16, values, id * x[j])];
                sumqx += w[j] * q * x[j];
                sumq2 += w[j] * q * q;
            }
            if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                d = sumqx / sumq2;
                best = d * sumqx;
            }
        }
        scale = d;
    }
    y->d = elm_fp32_to_fp16(scale);
    /* The levels are chosen with the f32 scale, not its fp16 rounding, as ggml does. */
    const float id = scale ? 1 / scale : 0;
    for (int j = 0; j < ELM_QK; j++) L[j] = (uint8_t)best_index_int8(16, values, id * x[j]);
    for (int j = 0; j < ELM_QK / 2; j++) y->qs[j] = (uint8_t)(L[j] | L[j + ELM_QK / 2] << 4);
}

void elm__quantize_iq4_nl(const float *x, void *vy, int64_t n)
{
    elm_block_iq4_nl *y = vy;
    for (int64_t i = 0; i < n / ELM_QK; i++) iq4_nl_block(x + i * ELM_QK, &y[i]);
}

/* ---- dot products with q8_0 / q8_1 activations ----
 * Each block's integer dot product is exact; blocks are scaled and summed in f32, as ggml's
 * generic kernels do. */

void elm__vec_dot_q4_0_q8_0(int64_t n, float *s, const void *vx, const void *vy)
{
    const elm_block_q4_0 *x = vx;
    const elm_block_q8_0 *y = vy;
    float sum = 0;
    for (int64_t i = 0; i < n / ELM_QK; i++) {
        int sumi = 0;
        for (int j = 0; j < ELM_QK / 2; j++) {
            sumi += ((x[i].qs[j] & 0x0F) - 8) * y[i].qs[j];
            sumi += ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + ELM_QK / 2];
        }
        sum += sumi * (FP16(x[i].d) * FP16(y[i].d));
    }
    *s = sum;
}

void elm__vec_dot_q4_1_q8_1(int64_t n, float *s, const void *vx, const void *vy)
{
    const elm_block_q4_1 *x = vx;
    const elm_block_q8_1 *y = vy;
    float sum = 0;
    for (int64_t i = 0; i < n / ELM_QK; i++) {
        int sumi = 0;
        for (int j = 0; j < ELM_QK / 2; j++) {
            sumi += (x[i].qs[j] & 0x0F) * y[i].qs[j];
            sumi += (x[i].qs[j] >> 4) * y[i].qs[j + ELM_QK / 2];
        }
        /* The min term uses the activation block's stored sum s = fp16(d * sum(q)). */
        sum += (FP16(x[i].d) * FP16(y[i].d)) * sumi + FP16(x[i].m) * FP16(y[i].s);
    }
    *s = sum;
}

void elm__vec_dot_q5_0_q8_0(int64_t n, float *s, const void *vx, const void *vy)
{
    const elm_block_q5_0 *x = vx;
    const elm_block_q8_0 *y = vy;
    int lv[ELM_QK];
    float sum = 0;
    for (int64_t i = 0; i < n / ELM_QK; i++) {
        q5_levels(x[i].qs, x[i].qh, lv);
        int sumi = 0;
        for (int j = 0; j < ELM_QK; j++) sumi += (lv[j] - 16) * y[i].qs[j];
        sum += sumi * (FP16(x[i].d) * FP16(y[i].d));
    }
    *s = sum;
}

void elm__vec_dot_q5_1_q8_1(int64_t n, float *s, const void *vx, const void *vy)
{
    const elm_block_q5_1 *x = vx;
    const elm_block_q8_1 *y = vy;
    int lv[ELM_QK];
    float sum = 0;
    for (int64_t i = 0; i < n / ELM_QK; i++) {
        q5_levels(x[i].qs, x[i].qh, lv);
        int sumi = 0;
        for (int j = 0; j < ELM_QK; j++) sumi += lv[j] * y[i].qs[j];
        sum += (FP16(x[i].d) * FP16(y[i].d)) * sumi + FP16(x[i].m) * FP16(y[i].s);
    }
    *s = sum;
}

void elm__vec_dot_q8_0_q8_0(int64_t n, float *s, const void *vx, const void *vy)
{
    const elm_block_q8_0 *x = vx;
    const elm_block_q8_0 *y = vy;
    float sum = 0;
    for (int64_t i = 0; i < n / ELM_QK; i++) {
        int sumi = 0;
        for (int j = 0; j < ELM_QK; j++) sumi += x[i].qs[j] * y[i].qs[j];
        sum += sumi * (FP16(x[i].d) * FP16(y[i].d));
    }
    *s = sum;
}

void elm__vec_dot_iq4_nl_q8_0(int64_t n, float *s, const void *vx, const void *vy)
{
    const elm_block_iq4_nl *x = vx;
    const elm_block_q8_0 *y = vy;
    float sum = 0;
    for (int64_t i = 0; i < n / ELM_QK; i++) {
        int sumi = 0;
        for (int j = 0; j < ELM_QK / 2; j++) {
            sumi += iq4nl_values[x[i].qs[j] & 0x0F] * y[i].qs[j];
            sumi += iq4nl_values[x[i].qs[j] >> 4] * y[i].qs[j + ELM_QK / 2];
        }
        sum += sumi * (FP16(x[i].d) * FP16(y[i].d));
    }
    *s = sum;
}
