/* kernels/arm: every NEON tier the running CPU has, not only the one the dispatch table picks:
 * CPU detection (against EDGELM_TEST_EXPECT_FEATURES when set, as tests/cross/run.sh does for
 * each qemu CPU model), which kernels each tier installs, their dot products and matrix products
 * against the scalar reference on awkward lengths and shapes, and the activation quantizers byte
 * for byte. Built for aarch64 only (tests/cross/CMakeLists.txt). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "edgelm/gguf.h"
#include "edgelm/kernels.h"
#include "kernels/cpu.h"
#include "testutil.h"

static elm_test_rng_t rng = {0xA64};

/* n normal values in runs of 32: mostly unit scale, some runs 1000 times larger, some zero. */
static void fill_random(float *x, int64_t n)
{
    for (int64_t b = 0; b < n; b += 32) {
        const double u = elm_test_uniform(&rng);
        const float scale = u < 0.1 ? 1000.f : u < 0.2 ? 0.f : 1.f;
        for (int64_t i = b; i < n && i < b + 32; i++)
            x[i] = elm_test_normal(&rng) * scale;
    }
}

/* ---- tiers ---- */

static const struct {
    const char *name;
    unsigned bits;
} tiers[] = {{"neon", ELM__CPU_TIER_NEON}, {"dotprod", ELM__CPU_TIER_DOTPROD}};

enum { N_TIERS = sizeof tiers / sizeof tiers[0] };

/* The integer weight types both tiers install, and the float ones only NEON does. */
static const int int_types[] = {ELM_TYPE_Q4_0, ELM_TYPE_Q5_0, ELM_TYPE_Q8_0, ELM_TYPE_Q4_K,
                                ELM_TYPE_Q6_K};
static const int float_types[] = {ELM_TYPE_F32, ELM_TYPE_F16, ELM_TYPE_BF16};

#define COUNT(a) (sizeof a / sizeof a[0])

static elm_type_traits_t tables[N_TIERS][ELM_TYPE_COUNT];

/* The table of each tier the CPU can run; returns how many (the first ones of tiers[]). */
static int fill_tiers(void)
{
    const unsigned cpu = elm__cpu_flags();
    int n = 0;
    while (n < N_TIERS && (cpu & tiers[n].bits) == tiers[n].bits) {
        elm__traits_fill(tables[n], tiers[n].bits);
        n++;
    }
    return n;
}

/* The features detected are the CPU model's (qemu's -cpu / QEMU_CPU): "neon dotprod" on a
 * Cortex-A76, "neon" on a Cortex-A53. */
static void test_cpu_detection(void **state)
{
    (void)state;
    const char *features = elm_cpu_features();
    printf("cpu features: %s\n", *features ? features : "(none)");
    assert_non_null(strstr(features, "neon")); /* every aarch64 Linux system has Advanced SIMD */
    const char *expect = getenv("EDGELM_TEST_EXPECT_FEATURES");
    if (expect && *expect) assert_string_equal(features, expect);
}

/* Each tier replaces the reference where it has a kernel; dotprod replaces NEON's integer
 * kernels and keeps its float ones; the dispatch table is the best tier's. */
static void test_tier_tables(void **state)
{
    (void)state;
    const int n = fill_tiers();
    assert_true(n >= 1);
    for (int t = 0; t < n; t++) {
        for (size_t i = 0; i < COUNT(int_types); i++) {
            const int type = int_types[i];
            assert_ptr_not_equal(tables[t][type].vec_dot, elm_traits_ref(type)->vec_dot);
            if (t > 0) assert_ptr_not_equal(tables[t][type].vec_dot, tables[t - 1][type].vec_dot);
        }
        for (size_t i = 0; i < COUNT(float_types); i++)
            assert_ptr_not_equal(tables[t][float_types[i]].vec_dot,
                                 elm_traits_ref(float_types[i])->vec_dot);
        assert_non_null(tables[t][ELM_TYPE_Q4_0].gemm);
        assert_non_null(tables[t][ELM_TYPE_Q5_0].gemm);
        assert_non_null(tables[t][ELM_TYPE_Q8_0].gemm);
        assert_ptr_not_equal(tables[t][ELM_TYPE_Q8_0].from_float,
                             elm_traits_ref(ELM_TYPE_Q8_0)->from_float);
        assert_ptr_not_equal(tables[t][ELM_TYPE_Q8_K].from_float,
                             elm_traits_ref(ELM_TYPE_Q8_K)->from_float);
    }
    const char *no_simd = getenv("EDGELM_NO_SIMD");
    if (!(no_simd && *no_simd && strcmp(no_simd, "0") != 0))
        assert_ptr_equal(elm_traits(ELM_TYPE_Q4_0)->vec_dot, tables[n - 1][ELM_TYPE_Q4_0].vec_dot);
    printf("tiers tested: %s%s\n", tiers[0].name, n > 1 ? " dotprod" : "");
}

/* ---- dot products and matrix products ---- */

enum { NMAX = 4096 + 256, MAX_OUT = 9, MAX_ACT = 7 };

/* Rows of n values: x quantized by the weight type's reference quantizer, y by its activation
 * type's reference from_float; |tier - reference| <= tol * sum |x_i y_i| of the dequantized
 * values (the integer parts are exact; only float sums are reordered). */
typedef struct {
    const elm_type_traits_t *ref, *vref;
    size_t x_row, y_row; /* bytes of one row */
} rows_t;

static rows_t rows_of(int type, int n)
{
    rows_t r;
    r.ref = elm_traits_ref(type);
    r.vref = elm_traits_ref(r.ref->vec_dot_type);
    r.x_row = (size_t)n / r.ref->blck_size * r.ref->type_size;
    r.y_row = (size_t)n / r.vref->blck_size * r.vref->type_size;
    return r;
}

/* sum |x_i y_i| of row xq (weight type) and yq (activation type), in double. */
static double magnitude(const rows_t *r, int n, const void *xq, const void *yq, float *xd,
                        float *yd)
{
    r->ref->to_float(xq, xd, n);
    r->vref->to_float(yq, yd, n);
    double mag = 0;
    for (int i = 0; i < n; i++)
        mag += fabs((double)xd[i] * yd[i]);
    return mag;
}

static void check_close(const char *what, const char *tier, int n, float got, float want,
                        double mag, double tol)
{
    const double err = fabs((double)got - want);
    if (mag == 0 ? got != 0 : err > tol * mag)
        fail_msg("%s (%s) n=%d: %.9g, reference %.9g (error %.3g of sum |terms| %.6g, "
                 "tolerance %.0e)",
                 what, tier, n, got, want, mag ? err / mag : err, mag, tol);
}

static const int len_1[] = {1, 7, 17, 33, 255, 1023, 4097};
static const int len_32[] = {32, 64, 96, 224, 1024, 4096 + 32};
static const int len_256[] = {256, 512, 768, 4096 + 256};

static void test_vec_dot_tiers(void **state)
{
    (void)state;
    const double tol = 1e-5;
    const int n_tiers = fill_tiers();
    int types[COUNT(int_types) + COUNT(float_types)];
    memcpy(types, int_types, sizeof int_types);
    memcpy(types + COUNT(int_types), float_types, sizeof float_types);
    float *x = malloc(sizeof(float) * NMAX), *y = malloc(sizeof(float) * NMAX);
    float *xd = malloc(sizeof(float) * NMAX), *yd = malloc(sizeof(float) * NMAX);
    uint8_t *xbuf = malloc(NMAX * 4 + 2), *ybuf = malloc(NMAX * 4 + 2);
    assert_true(x && y && xd && yd && xbuf && ybuf);
    uint8_t *xq = xbuf + 2, *yq = ybuf + 2; /* blocks in a GGUF mapping are 2-byte aligned */
    for (size_t ti = 0; ti < COUNT(types); ti++) {
        const int type = types[ti];
        const uint32_t blck = elm_traits_ref(type)->blck_size;
        const int *lens = blck == 1 ? len_1 : blck == 32 ? len_32 : len_256;
        const size_t n_lens = blck == 1    ? COUNT(len_1)
                              : blck == 32 ? COUNT(len_32)
                                           : COUNT(len_256);
        for (size_t li = 0; li < n_lens; li++) {
            const int n = lens[li];
            const rows_t r = rows_of(type, n);
            for (int trial = 0; trial < 4; trial++) {
                fill_random(x, n);
                fill_random(y, n);
                r.ref->quantize(x, xq, n);
                r.vref->from_float(y, yq, n);
                const double mag = magnitude(&r, n, xq, yq, xd, yd);
                float want = NAN;
                r.ref->vec_dot(n, &want, xq, yq);
                for (int t = 0; t < n_tiers; t++) {
                    float got = NAN;
                    tables[t][type].vec_dot(n, &got, xq, yq);
                    check_close(r.ref->name, tiers[t].name, n, got, want, mag, tol);
                }
            }
        }
    }
    free(x), free(y), free(xd), free(yd), free(xbuf), free(ybuf);
}

/* gemm on every shape of up to 9 weight rows x 7 activations (full 4 x 4 tiles and every kind of
 * edge), rows at odd strides, against the reference vec_dot of each pair; the gaps of y between
 * n_out and ldy stay untouched. */
static void check_gemm(int type, int n, int n_tiers)
{
    const rows_t r = rows_of(type, n);
    const size_t w_stride = r.x_row + 2, a_stride = r.y_row + 6, ldy = MAX_OUT + 3;
    float *x = malloc(sizeof(float) * (size_t)n), *xd = malloc(sizeof(float) * (size_t)n);
    float *yd = malloc(sizeof(float) * (size_t)n);
    uint8_t *w = malloc(w_stride * MAX_OUT + 2), *a = malloc(a_stride * MAX_ACT + 2);
    float *out = malloc(sizeof(float) * ldy * MAX_ACT);
    float want[MAX_ACT][MAX_OUT];
    double mag[MAX_ACT][MAX_OUT];
    assert_true(x && xd && yd && w && a && out);
    for (int o = 0; o < MAX_OUT; o++) {
        fill_random(x, n);
        r.ref->quantize(x, w + 2 + o * w_stride, n);
    }
    for (int k = 0; k < MAX_ACT; k++) {
        fill_random(x, n);
        r.vref->from_float(x, a + 2 + k * a_stride, n);
    }
    for (int k = 0; k < MAX_ACT; k++)
        for (int o = 0; o < MAX_OUT; o++) {
            const void *wr = w + 2 + o * w_stride, *ar = a + 2 + k * a_stride;
            r.ref->vec_dot(n, &want[k][o], wr, ar);
            mag[k][o] = magnitude(&r, n, wr, ar, xd, yd);
        }
    for (int t = 0; t < n_tiers; t++)
        for (int n_out = 1; n_out <= MAX_OUT; n_out++)
            for (int n_act = 1; n_act <= MAX_ACT; n_act++) {
                for (size_t i = 0; i < ldy * MAX_ACT; i++)
                    out[i] = -12345.f;
                tables[t][type].gemm(n, n_out, n_act, w + 2, w_stride, a + 2, a_stride, out, ldy);
                for (int k = 0; k < MAX_ACT; k++)
                    for (int o = 0; o < (int)ldy; o++) {
                        const float got = out[k * ldy + o];
                        if (k >= n_act || o >= n_out) {
                            if (got != -12345.f)
                                fail_msg("%s gemm (%s) %dx%d wrote y[%d][%d] outside the product",
                                         r.ref->name, tiers[t].name, n_out, n_act, k, o);
                            continue;
                        }
                        char what[64];
                        snprintf(what, sizeof what, "%s gemm %dx%d [%d][%d]", r.ref->name, n_out,
                                 n_act, k, o);
                        check_close(what, tiers[t].name, n, got, want[k][o], mag[k][o], 1e-5);
                    }
            }
    free(x), free(xd), free(yd), free(w), free(a), free(out);
}

static void test_gemm_tiers(void **state)
{
    (void)state;
    const int n_tiers = fill_tiers();
    static const int lens[] = {32, 96, 1024 + 32};
    for (size_t i = 0; i < COUNT(lens); i++) {
        check_gemm(ELM_TYPE_Q4_0, lens[i], n_tiers);
        check_gemm(ELM_TYPE_Q5_0, lens[i], n_tiers);
        check_gemm(ELM_TYPE_Q8_0, lens[i], n_tiers);
    }
}

/* ---- activation quantizers ---- */

/* Each tier's from_float writes the reference's bytes, on random rows and on rows with rounding
 * ties, both-signed maxima, huge and denormal values, and an infinity. */
static void test_from_float_tiers(void **state)
{
    (void)state;
    const int n_tiers = fill_tiers();
    static const int types[] = {ELM_TYPE_Q8_0, ELM_TYPE_Q8_K, ELM_TYPE_F16};
    enum { N = 1024 };
    float *x = malloc(sizeof(float) * N);
    uint8_t *want = malloc(N * 4), *got = malloc(N * 4 + 2);
    assert_true(x && want && got);
    for (size_t ti = 0; ti < COUNT(types); ti++) {
        const elm_type_traits_t *ref = elm_traits_ref(types[ti]);
        const size_t bytes = N / ref->blck_size * ref->type_size;
        for (int pattern = 0; pattern < 6; pattern++) {
            fill_random(x, N);
            for (int i = 0; i < N; i++) {
                if (pattern == 1) x[i] = (float)((i % 255) - 127) + ((i & 1) ? 0.5f : -0.5f);
                if (pattern == 2) x[i] = (float)(i % 9) - 4;
                if (pattern == 3) x[i] *= 1e30f;
                if (pattern == 4) x[i] *= 1e-41f;
            }
            if (pattern == 5) x[N / 2 + 3] = INFINITY;
            ref->from_float(x, want, N);
            for (int t = 0; t < n_tiers; t++) {
                memset(got, 0x5A, bytes + 2);
                tables[t][types[ti]].from_float(x, got + 2, N);
                for (size_t k = 0; k < bytes; k++)
                    if (got[2 + k] != want[k])
                        fail_msg("%s from_float (%s) pattern %d: byte %zu is 0x%02x, reference "
                                 "0x%02x",
                                 ref->name, tiers[t].name, pattern, k, got[2 + k], want[k]);
            }
        }
    }
    free(x), free(want), free(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_detection),    cmocka_unit_test(test_tier_tables),
        cmocka_unit_test(test_vec_dot_tiers),    cmocka_unit_test(test_gemm_tiers),
        cmocka_unit_test(test_from_float_tiers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
