/* kernels/: the reference kernels against ggml's own vectors (reference/quant/quant-vectors.gguf:
 * dequantization, quantization, activation quantizers, dot products), fp16/bf16 edge cases,
 * quantize/dequantize error bounds on random data, and the traits table's consistency. */
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
#include "testutil.h"

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float float_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* ---- deterministic random numbers ---- */

static elm_test_rng_t rng = {0x5EED};

static float rng_normal(void)
{
    return elm_test_normal(&rng);
}

/* ---- traits ---- */

static void test_traits_match_type_info(void **state)
{
    (void)state;
    static const int with_kernels[] = {
        ELM_TYPE_F32,  ELM_TYPE_F16,  ELM_TYPE_BF16, ELM_TYPE_Q4_0, ELM_TYPE_Q4_1,
        ELM_TYPE_Q5_0, ELM_TYPE_Q5_1, ELM_TYPE_Q8_0, ELM_TYPE_Q8_1, ELM_TYPE_Q2_K,
        ELM_TYPE_Q3_K, ELM_TYPE_Q4_K, ELM_TYPE_Q5_K, ELM_TYPE_Q6_K, ELM_TYPE_Q8_K,
        ELM_TYPE_IQ4_NL};
    int n_with = 0;
    for (int t = -1; t <= ELM_TYPE_COUNT; t++) {
        const elm_type_traits_t *tr = elm_traits(t);
        const elm_type_traits_t *ref = elm_traits_ref(t);
        int expected = 0;
        for (size_t i = 0; i < sizeof with_kernels / sizeof with_kernels[0]; i++)
            expected |= with_kernels[i] == t;
        assert_int_equal(tr != NULL, expected);
        assert_int_equal(ref != NULL, expected);
        if (!tr) continue;
        n_with++;
        const elm_type_info_t *ti = elm_type_info(t);
        assert_non_null(ti);
        assert_int_equal(tr->type, t);
        assert_string_equal(tr->name, ti->name);
        assert_int_equal(tr->blck_size, ti->blck_size);
        assert_int_equal(tr->type_size, ti->type_size);
        assert_non_null(tr->to_float);
        assert_non_null(tr->quantize);
        /* A weight type's activations have a type with an activation quantizer and the same
         * block size, or a multiple of it. */
        if (tr->vec_dot) {
            const elm_type_traits_t *vt = elm_traits(tr->vec_dot_type);
            assert_non_null(vt);
            assert_non_null(vt->from_float);
            assert_int_equal(vt->blck_size, tr->blck_size);
        }
    }
    assert_int_equal(n_with, (int)(sizeof with_kernels / sizeof with_kernels[0]));
    /* Activation-only types have no dot product of their own. */
    assert_null(elm_traits(ELM_TYPE_Q8_1)->vec_dot);
    assert_null(elm_traits(ELM_TYPE_Q8_K)->vec_dot);
    assert_null(elm_traits(ELM_TYPE_IQ2_XXS));
    assert_null(elm_traits(ELM_TYPE_MXFP4));
    assert_null(elm_traits(4)); /* retired id */
}

/* ---- fp16 / bf16 ---- */

/* The correctly rounded fp16 value of a finite f, computed in double: round |f| to a multiple of
 * the fp16 ulp at its exponent (2^-24 below 2^-14), ties to even; inf from 65520 up. */
static float fp16_oracle(float f)
{
    const double a = fabs((double)f);
    if (a >= 65520.0) return copysignf(INFINITY, f);
    int e;
    frexp(a, &e); /* a = m * 2^e, m in [0.5, 1) */
    if (e < -13) e = -13;
    const double ulp = ldexp(1.0, e - 11);
    const double q = nearbyint(a / ulp); /* a / ulp is exact; default rounding is to even */
    return copysignf((float)(q * ulp), f);
}

static void test_fp16_edges(void **state)
{
    (void)state;
    static const struct {
        uint32_t f;
        uint16_t h;
    } cases[] = {
        {0x00000000, 0x0000}, {0x80000000, 0x8000}, /* +-0 */
        {0x3f800000, 0x3c00}, {0xc0000000, 0xc000}, /* 1, -2 */
        {0x477fe000, 0x7bff},                       /* 65504, the largest finite */
        {0x477fefff, 0x7bff},                       /* just below the midpoint to 65536 */
        {0x477ff000, 0x7c00},                       /* 65520: the tie rounds to even = inf */
        {0x49742400, 0x7c00}, {0xc9742400, 0xfc00}, /* +-1e6 overflow */
        {0x7f800000, 0x7c00}, {0xff800000, 0xfc00}, /* +-inf */
        {0x38800000, 0x0400},                       /* 2^-14, the smallest normal */
        {0x387fc000, 0x03ff},                       /* the largest subnormal */
        {0x33800000, 0x0001},                       /* 2^-24, the smallest subnormal */
        {0x33000000, 0x0000},                       /* 2^-25: tie between 0 and 1, to even */
        {0x33000001, 0x0001},                       /* just above it */
        {0x33c00000, 0x0002},                       /* 1.5 * 2^-24: tie, to even 2 */
        {0x34200000, 0x0002},                       /* 2.5 * 2^-24: tie, to even 2 */
        {0x3f801000, 0x3c00},                       /* 1 + 2^-11: tie, to even */
        {0x3f803000, 0x3c02},                       /* 1 + 3*2^-11: tie, to even */
        {0x3f801001, 0x3c01},                       /* just above the tie */
        {0x387fe000, 0x0400},                       /* rounds up from subnormal to normal */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const uint16_t h = elm_fp32_to_fp16(float_of(cases[i].f));
        if (h != cases[i].h) fail_msg("fp16(0x%08x) = 0x%04x, want 0x%04x", cases[i].f, h, cases[i].h);
    }
    /* NaN stays NaN, with its sign. */
    assert_int_equal(elm_fp32_to_fp16(float_of(0x7fc00000)) & 0x7e00, 0x7e00);
    assert_true(isnan(elm_fp16_to_fp32(elm_fp32_to_fp16(float_of(0x7f800001)))));
    assert_true(isnan(elm_fp16_to_fp32(elm_fp32_to_fp16(float_of(0xffc00000)))));
    assert_int_equal(elm_fp32_to_fp16(float_of(0xffc00000)) & 0x8000, 0x8000);

    /* fp16 -> fp32 is exact, and every non-NaN fp16 value survives the round trip. */
    assert_true(elm_fp16_to_fp32(0x0001) == 0x1p-24f);
    assert_true(elm_fp16_to_fp32(0x8400) == -0x1p-14f);
    assert_true(elm_fp16_to_fp32(0x7bff) == 65504.f);
    assert_true(isinf(elm_fp16_to_fp32(0xfc00)) && elm_fp16_to_fp32(0xfc00) < 0);
    for (uint32_t h = 0; h < 0x10000; h++) {
        const float f = elm_fp16_to_fp32((uint16_t)h);
        if (isnan(f)) {
            assert_true((h & 0x7c00) == 0x7c00 && (h & 0x3ff));
            continue;
        }
        if (elm_fp32_to_fp16(f) != h) fail_msg("fp16 0x%04x does not round-trip", h);
    }

    /* Rounding of arbitrary f32 values agrees with a double-precision oracle: random bit
     * patterns over the whole finite range, and a dense sweep around the subnormal/normal and
     * overflow boundaries. */
    uint64_t s = 12345;
    for (int i = 0; i < 2000000; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t u = (uint32_t)(s >> 32);
        if (i % 2) u = (u & 0x807fffffu) | ((uint32_t)(100 + (u >> 23) % 50) << 23); /* |f| near fp16 range */
        const float f = float_of(u);
        if (!isfinite(f)) continue;
        const float got = elm_fp16_to_fp32(elm_fp32_to_fp16(f));
        const float want = fp16_oracle(f);
        if (bits_of(got) != bits_of(want)) fail_msg("fp16 rounding of %a: got %a, want %a", f, got, want);
    }
    for (uint32_t u = 0x33000000; u < 0x39000000; u += 0x7f) {
        const float got = elm_fp16_to_fp32(elm_fp32_to_fp16(float_of(u)));
        assert_true(bits_of(got) == bits_of(fp16_oracle(float_of(u))));
    }
}

static void test_bf16_edges(void **state)
{
    (void)state;
    static const struct {
        uint32_t f;
        uint16_t h;
    } cases[] = {
        {0x00000000, 0x0000}, {0x80000000, 0x8000}, {0x3f800000, 0x3f80},
        {0x3f808000, 0x3f80}, /* tie, to even */
        {0x3f818000, 0x3f82}, /* tie, to even (up) */
        {0x3f808001, 0x3f81}, /* above the tie */
        {0x3f807fff, 0x3f80}, /* below the tie */
        {0x7f800000, 0x7f80}, {0xff800000, 0xff80},     /* +-inf */
        {0x7f7fffff, 0x7f80},                           /* FLT_MAX overflows to inf */
        {0x00010000, 0x0001}, {0x00008000, 0x0000},     /* subnormals are kept, ties to even */
        {0x7f800001, 0x7fc0}, {0xff800001, 0xffc0},     /* signalling NaN: (u >> 16) | 64 */
        {0x7fc00000, 0x7fc0}, {0x7fffffff, 0x7fff},     /* quiet NaN keeps its top bits */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const uint16_t h = elm_fp32_to_bf16(float_of(cases[i].f));
        if (h != cases[i].h) fail_msg("bf16(0x%08x) = 0x%04x, want 0x%04x", cases[i].f, h, cases[i].h);
    }
    for (uint32_t h = 0; h < 0x10000; h++) {
        const float f = elm_bf16_to_fp32((uint16_t)h);
        assert_true(bits_of(f) == h << 16);
        if (!isnan(f)) assert_int_equal(elm_fp32_to_bf16(f), h);
    }
}

/* ---- ggml's vectors ---- */

static const elm_gguf_tensor_t *need_tensor(const elm_gguf_t *g, const char *name, int type,
                                            uint64_t size)
{
    const elm_gguf_tensor_t *t = elm_gguf_find_tensor(g, name);
    if (!t) fail_msg("quant-vectors.gguf: tensor %s is missing", name);
    assert_int_equal(t->type, type);
    assert_int_equal(t->size, size);
    return t;
}

/* Checks 1-4 of one type T (see the README of the vectors, section 1). */
static void check_vector_type(const elm_gguf_t *g, const char *tname, const float *src,
                              const float *x)
{
    enum { ROWS = 16, COLS = 1024 };
    char key[128];
    elm_type_t type;
    assert_int_equal(elm_type_from_name(tname, &type), 0);
    const elm_type_traits_t *tr = elm_traits(type);
    if (!tr) fail_msg("%s: no traits", tname);
    const size_t rs = (size_t)tr->type_size * (COLS / tr->blck_size);
    const uint8_t *T = need_tensor(g, tname, type, rs * ROWS)->data;

    /* 1. dequantization: bit-exact with ggml. */
    float *deq = malloc(sizeof(float) * ROWS * COLS);
    assert_non_null(deq);
    snprintf(key, sizeof key, "%s.deq", tname);
    const float *want_deq = need_tensor(g, key, ELM_TYPE_F32, sizeof(float) * ROWS * COLS)->data;
    for (int r = 0; r < ROWS; r++) tr->to_float(T + r * rs, deq + r * COLS, COLS);
    if (memcmp(deq, want_deq, sizeof(float) * ROWS * COLS) != 0) fail_msg("dequantize %s differs", tname);

    /* 2. weight quantization: bit-exact with ggml_quantize_chunk (no imatrix). */
    uint8_t *q = malloc(rs * ROWS);
    assert_non_null(q);
    for (int r = 0; r < ROWS; r++) tr->quantize(src + r * COLS, q + r * rs, COLS);
    const size_t nblk = rs * ROWS / tr->type_size;
    size_t ndiff = 0;
    for (size_t b = 0; b < nblk; b++)
        ndiff += memcmp(q + b * tr->type_size, T + b * tr->type_size, tr->type_size) != 0;
    if (ndiff == 0) print_message("quantize %-6s: bit-exact (%zu blocks)\n", tname, nblk);
    else print_message("quantize %-6s: %zu of %zu blocks differ\n", tname, ndiff, nblk);
    assert_int_equal(ndiff, 0);

    /* 3. activations: the CPU quantizer gives x.V, the reference one x.V.ref. */
    const elm_type_traits_t *vt = elm_traits(tr->vec_dot_type);
    assert_non_null(vt);
    elm_str_t vname;
    snprintf(key, sizeof key, "vec_dot_type.%s", tname);
    assert_int_equal(elm_gguf_get_str(g, key, &vname), 0);
    assert_int_equal(vname.len, strlen(vt->name));
    assert_memory_equal(vname.ptr, vt->name, vname.len);
    const size_t vrs = (size_t)vt->type_size * (COLS / vt->blck_size);
    uint8_t *xv = malloc(vrs);
    assert_non_null(xv);
    snprintf(key, sizeof key, "x.%s", vt->name);
    const uint8_t *want_xv = need_tensor(g, key, vt->type, vrs)->data;
    vt->from_float(x, xv, COLS);
    if (memcmp(xv, want_xv, vrs) != 0) fail_msg("from_float %s differs from ggml's CPU bytes", vt->name);
    snprintf(key, sizeof key, "x.%s.ref", vt->name);
    const uint8_t *want_xr = need_tensor(g, key, vt->type, vrs)->data;
    elm_traits_ref(vt->type)->quantize(x, xv, COLS);
    if (memcmp(xv, want_xr, vrs) != 0) fail_msg("reference quantize %s differs", vt->name);

    /* 4. dot products with ggml's x.V: 1e-5 relative, exactly 0 for the zero row. */
    snprintf(key, sizeof key, "%s.dot", tname);
    const float *want_dot = need_tensor(g, key, ELM_TYPE_F32, sizeof(float) * ROWS)->data;
    double worst = 0;
    for (int r = 0; r < ROWS; r++) {
        float s = NAN;
        tr->vec_dot(COLS, &s, T + r * rs, want_xv);
        const double rel = fabs((double)s - want_dot[r]) / fmax(fabs((double)want_dot[r]), 1e-6);
        if (rel > 1e-5) fail_msg("vec_dot %s row %d: %.9g, ggml %.9g", tname, r, s, want_dot[r]);
        if (r == 13) assert_true(s == 0.0f);
        worst = fmax(worst, rel);
    }
    print_message("vec_dot  %-6s: worst relative difference %.2e\n", tname, worst);
    free(xv);
    free(q);
    free(deq);
}

static void test_ggml_vectors(void **state)
{
    (void)state;
    const char *p = elm_test_data("reference/quant/quant-vectors.gguf");
    if (!p) return;
    elm_gguf_t *g = NULL;
    elm_diag_t d;
    if (elm_gguf_open(p, &g, &d) != 0) fail_msg("%s", d.msg);
    const float *src = need_tensor(g, "src", ELM_TYPE_F32, 4 * 16 * 1024)->data;
    const float *x = need_tensor(g, "x", ELM_TYPE_F32, 4 * 1024)->data;
    const elm_gguf_value_t *types;
    assert_int_equal(elm_gguf_get_arr(g, "vectors.types", &types), 0);
    assert_int_equal(types->arr.type, ELM_GGUF_STRING);
    assert_int_equal(types->arr.n, 13);
    for (uint64_t i = 0; i < types->arr.n; i++) {
        char name[32];
        const elm_str_t s = types->arr.items[i].s;
        assert_true(s.len < sizeof name);
        memcpy(name, s.ptr, s.len);
        name[s.len] = '\0';
        check_vector_type(g, name, src, x);
    }
    elm_gguf_close(g);
}

/* ---- random data ---- */

/* Quantize then dequantize normal data (with a few outliers) at lengths that are multiples of the
 * block size: the RMS error relative to the data's RMS stays under a bound per type, the
 * quantizers are deterministic, and the dot product agrees with the dequantized values. */
static void test_random_round_trip(void **state)
{
    (void)state;
    static const struct {
        int type;
        double max_rel_rms; /* bound on rms(deq - x) / rms(x): about 1.4x the worst seen at any length */
    } bounds[] = {
        {ELM_TYPE_F32, 0},      {ELM_TYPE_F16, 4e-4},   {ELM_TYPE_BF16, 3e-3},
        {ELM_TYPE_Q8_0, 0.012}, {ELM_TYPE_Q8_1, 0.012}, {ELM_TYPE_Q8_K, 0.035},
        {ELM_TYPE_Q4_0, 0.18},  {ELM_TYPE_Q4_1, 0.16},  {ELM_TYPE_Q5_0, 0.10},
        {ELM_TYPE_Q5_1, 0.08},  {ELM_TYPE_IQ4_NL, 0.14}, {ELM_TYPE_Q2_K, 0.50},
        {ELM_TYPE_Q3_K, 0.27},  {ELM_TYPE_Q4_K, 0.13},  {ELM_TYPE_Q5_K, 0.065},
        {ELM_TYPE_Q6_K, 0.035},
    };
    static const int lengths[] = {32, 256, 4096};
    enum { NMAX = 4096 };
    float *x = malloc(sizeof(float) * NMAX), *y = malloc(sizeof(float) * NMAX);
    float *deq = malloc(sizeof(float) * NMAX), *ydeq = malloc(sizeof(float) * NMAX);
    uint8_t *qbuf = malloc(NMAX * 4 + 2), *q2 = malloc(NMAX * 4), *yq = malloc(NMAX * 4);
    assert_true(x && y && deq && ydeq && qbuf && q2 && yq);
    /* Blocks inside a GGUF mapping are only 2-byte aligned: run the kernels on such an address. */
    uint8_t *q = qbuf + 2;
    for (size_t b = 0; b < sizeof bounds / sizeof bounds[0]; b++) {
        const elm_type_traits_t *tr = elm_traits(bounds[b].type);
        assert_non_null(tr);
        for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++) {
            const int n = lengths[li];
            if (n % (int)tr->blck_size) continue;
            for (int i = 0; i < n; i++) x[i] = rng_normal() * (i % 97 == 5 ? 6.f : 1.f);
            tr->quantize(x, q, n);
            tr->quantize(x, q2, n);
            assert_memory_equal(q, q2, (size_t)n / tr->blck_size * tr->type_size);
            tr->to_float(q, deq, n);
            double err2 = 0, x2 = 0;
            for (int i = 0; i < n; i++) {
                err2 += ((double)deq[i] - x[i]) * ((double)deq[i] - x[i]);
                x2 += (double)x[i] * x[i];
            }
            const double rel = sqrt(err2 / x2);
            if (rel > bounds[b].max_rel_rms)
                fail_msg("%s n=%d: relative rms error %.4f > %.4f", tr->name, n, rel, bounds[b].max_rel_rms);
            if (!tr->vec_dot) continue;

            /* vec_dot against the double sum over the dequantized operands (q4_1 / q5_1 use the
             * activation block's fp16 sum for the min term, so their bound is looser). */
            const elm_type_traits_t *vt = elm_traits(tr->vec_dot_type);
            for (int i = 0; i < n; i++) y[i] = rng_normal();
            vt->from_float(y, yq, n);
            vt->to_float(yq, ydeq, n);
            double want = 0, mag = 0;
            for (int i = 0; i < n; i++) {
                want += (double)deq[i] * ydeq[i];
                mag += fabs((double)deq[i] * ydeq[i]);
            }
            float s = NAN;
            tr->vec_dot(n, &s, q, yq);
            const double tol = tr->vec_dot_type == ELM_TYPE_Q8_1 ? 2e-3 : 1e-5;
            if (fabs(s - want) > tol * mag)
                fail_msg("%s n=%d: vec_dot %.9g, dequantized sum %.9g", tr->name, n, s, want);
        }
    }
    free(x), free(y), free(deq), free(ydeq), free(qbuf), free(q2), free(yq);
}

/* Zero blocks quantize to zero scales and dequantize to exact zeros; all-equal blocks survive. */
static void test_zero_and_constant_blocks(void **state)
{
    (void)state;
    float x[512], deq[512];
    uint8_t q[2048];
    for (int t = 0; t < ELM_TYPE_COUNT; t++) {
        const elm_type_traits_t *tr = elm_traits(t);
        if (!tr) continue;
        memset(x, 0, sizeof x);
        tr->quantize(x, q, 512);
        tr->to_float(q, deq, 512);
        for (int i = 0; i < 512; i++)
            if (deq[i] != 0.0f) fail_msg("%s: zero input dequantizes to %g at %d", tr->name, deq[i], i);
        for (int i = 0; i < 512; i++) x[i] = 0.75f;
        tr->quantize(x, q, 512);
        tr->to_float(q, deq, 512);
        for (int i = 0; i < 512; i++)
            if (fabsf(deq[i] - 0.75f) > 0.75f * 0.01f) fail_msg("%s: 0.75 dequantizes to %g", tr->name, deq[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_traits_match_type_info),
        cmocka_unit_test(test_fp16_edges),
        cmocka_unit_test(test_bf16_edges),
        cmocka_unit_test(test_ggml_vectors),
        cmocka_unit_test(test_random_round_trip),
        cmocka_unit_test(test_zero_and_constant_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
