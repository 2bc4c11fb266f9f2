/* Scalar reference quantizers of the K-quants (q2_K ... q6_K, and q8_K for activations):
 * ggml's quantize_row_qN_K_ref without an importance matrix, with the same scale searches
 * (make_qx_quants, make_q3_quants, make_qkx2_quants) and the same f32 arithmetic in the same
 * order, so the bytes match ggml's. Dequantization and dot products are in kquants_dot.c. */
#include <math.h>
#include <string.h>

#include "edgelm/kernels.h"
#include "kernels/ref/ref.h"

#define GROUP_MAX_EPS 1e-15f

/* ---- scale searches ---- */

/* Symmetric levels in [-nmax, nmax-1] (stored as L + nmax) for n values, weighted by x^2 (ggml's
 * rmse_type 1): start from the scale that maps the extreme value to -nmax, then try 18 nearby
 * scales and keep the one with the best weighted least-squares fit. Returns the scale. */
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L)
{
    const float max = elm__signed_absmax(x, n);
    if (fabsf(max) < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        const int l = ELM__MAX(-nmax, ELM__MIN(nmax - 1, elm__nearest_int(iscale * x[i])));
        L[i] = (int8_t)(l + nmax);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            const int l = ELM__MAX(-nmax, ELM__MIN(nmax - 1, elm__nearest_int(iscale * x[i])));
            const float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) {
                const int l = elm__nearest_int(iscale * x[i]);
                L[i] = (int8_t)(nmax + ELM__MAX(-nmax, ELM__MIN(nmax - 1, l)));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* q3_K's search: levels in [-nmax, nmax-1] (stored as L + nmax), weighted by x^2, improved by up
 * to 5 rounds of moving single values to their best level under the current fit. */
static float make_q3_quants(int n, int nmax, const float *x, int8_t *L)
{
    const float max = elm__signed_absmax(x, n);
    if (fabsf(max) < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    const float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        const int l = ELM__MAX(-nmax, ELM__MIN(nmax - 1, elm__nearest_int(iscale * x[i])));
        L[i] = (int8_t)l;
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * L[i] * L[i];
                int new_l = elm__nearest_int(x[i] * sl2 / slx);
                new_l = ELM__MAX(-nmax, ELM__MIN(nmax - 1, new_l));
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed++;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* Asymmetric levels in [0, nmax] with a scale and a min (x ~ scale*L - the_min), minimising the
 * weighted error (absolute if use_mad, else squared) over nstep+1 candidate scales
 * (rmin + rdelta*is + nmax)/(max - min), each refitted by weighted least squares. */
static float make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L,
                              float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                              int use_mad)
{
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; i++) {
        const int l = elm__nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)ELM__MAX(0, ELM__MIN(nmax, l));
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_error += weights[i] * diff;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            const int l = ELM__MAX(0, ELM__MIN(nmax, elm__nearest_int(iscale * (x[i] - min))));
            Laux[i] = (uint8_t)l;
            const float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                memcpy(L, Laux, (size_t)n);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* Pack 256 two-bit levels: byte l of each 32-byte half holds values l, l+32, l+64, l+96. */
static void pack_2bit(const uint8_t *L, uint8_t *qs)
{
    for (int j = 0; j < ELM_QK_K; j += 128) {
        for (int l = 0; l < 32; l++) {
            qs[j / 4 + l] = (uint8_t)(L[j + l] | L[j + l + 32] << 2 | L[j + l + 64] << 4 |
                                      L[j + l + 96] << 6);
        }
    }
}

/* ---- q2_K ---- */

void elm__quantize_q2_K_ref(const float *x, void *vy, int64_t n)
{
    elm_block_q2_K *y = vy;
    uint8_t L[ELM_QK_K], Laux[16];
    float weights[16], mins[ELM_QK_K / 16], scales[ELM_QK_K / 16];
    const float q4scale = 15.f;

    for (int64_t i = 0; i < n / ELM_QK_K; i++, x += ELM_QK_K) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < ELM_QK_K / 16; j++) {
            for (int l = 0; l < 16; l++) weights[l] = fabsf(x[16 * j + l]);
            scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux,
                                         -0.5f, 0.1f, 15, 1);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }

        /* Scales and mins become 4-bit multiples of d and dmin. */
        if (max_scale > 0) {
            const float iscale = q4scale / max_scale;
            for (int j = 0; j < ELM_QK_K / 16; j++)
                y[i].scales[j] = (uint8_t)elm__nearest_int(iscale * scales[j]);
            y[i].d = elm_fp32_to_fp16(max_scale / q4scale);
        } else {
            memset(y[i].scales, 0, sizeof y[i].scales);
            y[i].d = elm_fp32_to_fp16(0.f);
        }
        if (max_min > 0) {
            const float iscale = q4scale / max_min;
            for (int j = 0; j < ELM_QK_K / 16; j++) {
                const int l = elm__nearest_int(iscale * mins[j]);
                y[i].scales[j] = (uint8_t)(y[i].scales[j] | l << 4);
            }
            y[i].dmin = elm_fp32_to_fp16(max_min / q4scale);
        } else {
            y[i].dmin = elm_fp32_to_fp16(0.f);
        }

        /* Requantize against the stored (rounded) scales. */
        for (int j = 0; j < ELM_QK_K / 16; j++) {
            const float d = elm_fp16_to_fp32(y[i].d) * (y[i].scales[j] & 0xF);
            if (!d) continue;
            const float dm = elm_fp16_to_fp32(y[i].dmin) * (y[i].scales[j] >> 4);
            for (int ii = 0; ii < 16; ii++) {
                const int l = elm__nearest_int((x[16 * j + ii] + dm) / d);
                L[16 * j + ii] = (uint8_t)ELM__MAX(0, ELM__MIN(3, l));
            }
        }
        pack_2bit(L, y[i].qs);
    }
}

/* ---- q3_K ---- */

void elm__quantize_q3_K_ref(const float *x, void *vy, int64_t n)
{
    elm_block_q3_K *y = vy;
    int8_t L[ELM_QK_K];
    uint8_t U[ELM_QK_K];
    float scales[ELM_QK_K / 16];
    int8_t sc[16];

    for (int64_t i = 0; i < n / ELM_QK_K; i++, x += ELM_QK_K) {
        for (int j = 0; j < ELM_QK_K / 16; j++) scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
        const float max_scale = elm__signed_absmax(scales, ELM_QK_K / 16);

        /* 16 six-bit signed scales: low nibbles in scales[0..7], top two bits in scales[8..11]. */
        memset(y[i].scales, 0, sizeof y[i].scales);
        if (max_scale) {
            const float iscale = -32.f / max_scale;
            for (int j = 0; j < ELM_QK_K / 16; j++) {
                int l = (int8_t)elm__nearest_int(iscale * scales[j]);
                l = ELM__MAX(-32, ELM__MIN(31, l)) + 32;
                if (j < 8) y[i].scales[j] = (uint8_t)(l & 0xF);
                else y[i].scales[j - 8] = (uint8_t)(y[i].scales[j - 8] | (l & 0xF) << 4);
                y[i].scales[j % 4 + 8] = (uint8_t)(y[i].scales[j % 4 + 8] | (l >> 4) << (2 * (j / 4)));
            }
            y[i].d = elm_fp32_to_fp16(1 / iscale);
        } else {
            y[i].d = elm_fp32_to_fp16(0.f);
        }

        elm__q3k_scales(y[i].scales, sc);
        for (int j = 0; j < ELM_QK_K / 16; j++) {
            const float d = elm_fp16_to_fp32(y[i].d) * sc[j];
            if (!d) continue;
            for (int ii = 0; ii < 16; ii++) {
                const int l = elm__nearest_int(x[16 * j + ii] / d);
                L[16 * j + ii] = (int8_t)(ELM__MAX(-4, ELM__MIN(3, l)) + 4);
            }
        }

        /* Levels 0..7: the high bit of value j goes to bit j/32 of hmask[j%32]. */
        memset(y[i].hmask, 0, sizeof y[i].hmask);
        for (int j = 0; j < ELM_QK_K; j++) {
            int l = L[j];
            if (l > 3) {
                y[i].hmask[j % 32] = (uint8_t)(y[i].hmask[j % 32] | 1 << (j / 32));
                l -= 4;
            }
            U[j] = (uint8_t)l;
        }
        pack_2bit(U, y[i].qs);
    }
}

/* ---- q4_K and q5_K ---- */

/* The shared first half of q4_K and q5_K: per 32-value sub-block a scale and a min from
 * make_qkx2_quants (weights av_x + |x|), stored as 6-bit multiples of d and dmin; then the levels
 * L (0..nmax) requantized against the stored scales. */
static void quantize_k4_scales(const float *x, int nmax, float rmin, int nstep, uint16_t *yd,
                               uint16_t *ydmin, uint8_t *ysc, uint8_t *L)
{
    uint8_t Laux[32];
    float weights[32], mins[ELM_QK_K / 32], scales[ELM_QK_K / 32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < ELM_QK_K / 32; j++) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += x[32 * j + l] * x[32 * j + l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux,
                                     rmin, 0.1f, nstep, 0);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }

    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < ELM_QK_K / 32; j++) {
        const uint8_t ls = ELM__MIN(63, (uint8_t)elm__nearest_int(inv_scale * scales[j]));
        const uint8_t lm = ELM__MIN(63, (uint8_t)elm__nearest_int(inv_min * mins[j]));
        if (j < 4) {
            ysc[j] = ls;
            ysc[j + 4] = lm;
        } else {
            ysc[j + 4] = (uint8_t)((ls & 0xF) | (lm & 0xF) << 4);
            ysc[j - 4] = (uint8_t)(ysc[j - 4] | (ls >> 4) << 6);
            ysc[j] = (uint8_t)(ysc[j] | (lm >> 4) << 6);
        }
    }
    *yd = elm_fp32_to_fp16(max_scale / 63.f);
    *ydmin = elm_fp32_to_fp16(max_min / 63.f);

    for (int j = 0; j < ELM_QK_K / 32; j++) {
        uint8_t sc, m;
        elm__k4_scale_min(j, ysc, &sc, &m);
        const float d = elm_fp16_to_fp32(*yd) * sc;
        if (!d) continue;
        const float dm = elm_fp16_to_fp32(*ydmin) * m;
        for (int ii = 0; ii < 32; ii++) {
            const int l = elm__nearest_int((x[32 * j + ii] + dm) / d);
            L[32 * j + ii] = (uint8_t)ELM__MAX(0, ELM__MIN(nmax, l));
        }
    }
}

void elm__quantize_q4_K_ref(const float *x, void *vy, int64_t n)
{
    elm_block_q4_K *y = vy;
    uint8_t L[ELM_QK_K];
    for (int64_t i = 0; i < n / ELM_QK_K; i++, x += ELM_QK_K) {
        memset(y[i].scales, 0, sizeof y[i].scales);
        quantize_k4_scales(x, 15, -1.f, 20, &y[i].d, &y[i].dmin, y[i].scales, L);
        /* Each 64 values: byte l holds value l (low nibble) and value l+32 (high nibble). */
        for (int j = 0; j < ELM_QK_K; j += 64) {
            for (int l = 0; l < 32; l++) y[i].qs[j / 2 + l] = (uint8_t)(L[j + l] | L[j + l + 32] << 4);
        }
    }
}

void elm__quantize_q5_K_ref(const float *x, void *vy, int64_t n)
{
    elm_block_q5_K *y = vy;
    uint8_t L[ELM_QK_K];
    for (int64_t i = 0; i < n / ELM_QK_K; i++, x += ELM_QK_K) {
        memset(y[i].scales, 0, sizeof y[i].scales);
        quantize_k4_scales(x, 31, -0.5f, 15, &y[i].d, &y[i].dmin, y[i].scales, L);
        /* As q4_K, with the fifth bit of value 64c+l in bit 2c of qh[l] (2c+1 for l+32). */
        memset(y[i].qh, 0, sizeof y[i].qh);
        for (int c = 0; c < 4; c++) {
            for (int l = 0; l < 32; l++) {
                const int l1 = L[64 * c + l], l2 = L[64 * c + l + 32];
                y[i].qh[l] = (uint8_t)(y[i].qh[l] | (l1 >> 4) << (2 * c) | (l2 >> 4) << (2 * c + 1));
                y[i].qs[32 * c + l] = (uint8_t)((l1 & 0xF) | (l2 & 0xF) << 4);
            }
        }
    }
}

/* ---- q6_K ---- */

void elm__quantize_q6_K_ref(const float *x, void *vy, int64_t n)
{
    elm_block_q6_K *y = vy;
    int8_t L[ELM_QK_K];
    float scales[ELM_QK_K / 16];

    for (int64_t i = 0; i < n / ELM_QK_K; i++, x += ELM_QK_K) {
        for (int ib = 0; ib < ELM_QK_K / 16; ib++)
            scales[ib] = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
        const float max_scale = elm__signed_absmax(scales, ELM_QK_K / 16);
        if (fabsf(max_scale) < GROUP_MAX_EPS) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }

        /* 8-bit signed sub-block scales, the extreme one mapped to -128 (clamped to 127). */
        const float iscale = -128.f / max_scale;
        y[i].d = elm_fp32_to_fp16(1 / iscale);
        for (int ib = 0; ib < ELM_QK_K / 16; ib++)
            y[i].scales[ib] = (int8_t)ELM__MIN(127, elm__nearest_int(iscale * scales[ib]));

        for (int j = 0; j < ELM_QK_K / 16; j++) {
            const float d = elm_fp16_to_fp32(y[i].d) * y[i].scales[j];
            if (!d) continue;
            for (int ii = 0; ii < 16; ii++) {
                const int l = elm__nearest_int(x[16 * j + ii] / d);
                L[16 * j + ii] = (int8_t)(ELM__MAX(-32, ELM__MIN(31, l)) + 32);
            }
        }

        /* Per 128 values: ql[l] = v[l] | v[l+64] << 4, ql[l+32] = v[l+32] | v[l+96] << 4, and
         * the top two bits of v[l + 32k] in bits 2k of qh[l]. */
        for (int h = 0; h < 2; h++) {
            const int8_t *v = L + 128 * h;
            uint8_t *ql = y[i].ql + 64 * h, *qh = y[i].qh + 32 * h;
            for (int l = 0; l < 32; l++) {
                ql[l] = (uint8_t)((v[l] & 0xF) | (v[l + 64] & 0xF) << 4);
                ql[l + 32] = (uint8_t)((v[l + 32] & 0xF) | (v[l + 96] & 0xF) << 4);
                qh[l] = (uint8_t)(v[l] >> 4 | (v[l + 32] >> 4) << 2 | (v[l + 64] >> 4) << 4 |
                                  (v[l + 96] >> 4) << 6);
            }
        }
    }
}

/* ---- q8_K (activations) ---- */

void elm__quantize_q8_K_ref(const float *x, void *vy, int64_t n)
{
    elm_block_q8_K *y = vy;
    for (int64_t i = 0; i < n / ELM_QK_K; i++, x += ELM_QK_K) {
        const float max = elm__signed_absmax(x, ELM_QK_K);
        if (!max) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        /* -127 (not -128) so the largest value maps to -127 or 127, never out of int8 range. */
        const float iscale = -127.f / max;
        for (int j = 0; j < ELM_QK_K; j++)
            y[i].qs[j] = (int8_t)ELM__MIN(127, elm__nearest_int(iscale * x[j]));
        for (int j = 0; j < ELM_QK_K / 16; j++) {
            int sum = 0;
            for (int ii = 0; ii < 16; ii++) sum += y[i].qs[16 * j + ii];
            y[i].bsums[j] = (int16_t)sum;
        }
        elm__q8k_set_d(&y[i], 1 / iscale);
    }
}
