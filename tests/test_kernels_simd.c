/* kernels/: the dispatch table's SIMD kernels against the scalar reference (elm_traits_ref) on
 * awkward lengths, 2-byte-aligned blocks and random data with large-magnitude and all-zero
 * blocks: dot products within a stated tolerance per type, activation quantizers byte for byte;
 * and EDGELM_NO_SIMD, which keeps the reference. On a CPU without the SIMD features every entry is
 * the reference and the comparisons hold trivially. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "edgelm/gguf.h"
#include "edgelm/kernels.h"
#include "kernels/cpu.h"
#include "testutil.h"

/* ---- deterministic random numbers ---- */

static elm_test_rng_t rng = {0x51D};

static double rng_uniform(void)
{
    return elm_test_uniform(&rng);
}

static float rng_normal(void)
{
    return elm_test_normal(&rng);
}

/* n normal values in runs of 32 (one block of the small types): mostly unit scale, some runs
 * 1000 times larger, some all zero, some 1e-3 smaller. */
static void fill_random(float *x, int64_t n)
{
    for (int64_t b = 0; b < n; b += 32) {
        const double u = rng_uniform();
        const float scale = u < 0.1 ? 1000.f : u < 0.2 ? 0.f : u < 0.3 ? 1e-3f : 1.f;
        for (int64_t i = b; i < n && i < b + 32; i++)
            x[i] = rng_normal() * scale;
    }
}

static int same_kernels(const elm_type_traits_t *a, const elm_type_traits_t *b)
{
    return a->to_float == b->to_float && a->quantize == b->quantize &&
           a->from_float == b->from_float && a->vec_dot == b->vec_dot;
}

/* ---- dispatch ---- */

/* EDGELM_NO_SIMD=1 leaves the reference kernels in every entry. The table is filled once per
 * process, so a child process sets the variable before its first elm_traits() call. */
static void test_no_simd_env(void **state)
{
    (void)state;
    fflush(NULL);
    const pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("EDGELM_NO_SIMD", "1", 1);
        int bad = 0;
        for (int t = 0; t < ELM_TYPE_COUNT; t++) {
            const elm_type_traits_t *tr = elm_traits(t), *ref = elm_traits_ref(t);
            if (tr && ref && !same_kernels(tr, ref)) bad = 1;
        }
        _exit(bad);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* On an AVX2 CPU the x86 kernels are installed, on an aarch64 one the NEON kernels: the
 * comparisons below test something. */
static void test_simd_installed(void **state)
{
    (void)state;
    const char *features = elm_cpu_features();
    printf("cpu features: %s\n", *features ? features : "(none)");
    const char *no_simd = getenv("EDGELM_NO_SIMD");
    if (no_simd && *no_simd && strcmp(no_simd, "0") != 0) return;
#if defined(__x86_64__)
    const int simd =
        strstr(features, "avx2") && strstr(features, "fma") && strstr(features, "f16c");
#elif defined(__aarch64__)
    const int simd = strstr(features, "neon") != NULL;
#else
    const int simd = 0;
#endif
    if (simd) {
        static const int types[] = {ELM_TYPE_F32,  ELM_TYPE_F16,  ELM_TYPE_Q4_0, ELM_TYPE_Q5_0,
                                    ELM_TYPE_Q8_0, ELM_TYPE_Q4_K, ELM_TYPE_Q6_K};
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            assert_ptr_not_equal(elm_traits(types[i])->vec_dot, elm_traits_ref(types[i])->vec_dot);
        assert_ptr_not_equal(elm_traits(ELM_TYPE_Q8_0)->from_float,
                             elm_traits_ref(ELM_TYPE_Q8_0)->from_float);
        assert_ptr_not_equal(elm_traits(ELM_TYPE_Q8_K)->from_float,
                             elm_traits_ref(ELM_TYPE_Q8_K)->from_float);
    }
}

/* ---- dot products ---- */

enum { NMAX = 4096 + 256 };

/* The dispatched vec_dot of a type against the reference one, on weights made by the reference
 * quantizer and activations by the reference from_float, both at 2-byte-aligned addresses:
 * |simd - ref| <= tol * sum |x_i y_i| (the dequantized terms, summed in double). */
static void check_vec_dot_of(const char *tier, const elm_type_traits_t *tr, const int *lengths,
                             size_t n_lengths, double tol)
{
    assert_non_null(tr);
    const elm_type_traits_t *ref = elm_traits_ref(tr->type);
    const elm_type_traits_t *vref = elm_traits_ref(ref->vec_dot_type);
    assert_non_null(vref);
    float *x = malloc(sizeof(float) * NMAX), *y = malloc(sizeof(float) * NMAX);
    float *xd = malloc(sizeof(float) * NMAX), *yd = malloc(sizeof(float) * NMAX);
    uint8_t *xbuf = malloc(NMAX * 4 + 2), *ybuf = malloc(NMAX * 4 + 2);
    assert_true(x && y && xd && yd && xbuf && ybuf);
    uint8_t *xq = xbuf + 2, *yq = ybuf + 2;
    double worst = 0;
    for (size_t li = 0; li < n_lengths; li++) {
        const int n = lengths[li];
        assert_true(n <= NMAX && n % (int)tr->blck_size == 0);
        for (int trial = 0; trial < 8; trial++) {
            fill_random(x, n);
            fill_random(y, n);
            ref->quantize(x, xq, n);
            vref->from_float(y, yq, n);
            ref->to_float(xq, xd, n);
            vref->to_float(yq, yd, n);
            double mag = 0;
            for (int i = 0; i < n; i++)
                mag += fabs((double)xd[i] * yd[i]);
            float want = NAN, got = NAN;
            ref->vec_dot(n, &want, xq, yq);
            tr->vec_dot(n, &got, xq, yq);
            const double err = fabs((double)got - want);
            if (mag == 0) {
                if (got != 0) fail_msg("%s%s n=%d: vec_dot of zeros is %g", tier, tr->name, n, got);
                continue;
            }
            if (err > tol * mag)
                fail_msg(
                    "%s%s n=%d trial %d: vec_dot %.9g, reference %.9g (error %.3g of sum |terms| "
                    "%.6g, tolerance %.1g)",
                    tier, tr->name, n, trial, got, want, err / mag, mag, tol);
            if (err / mag > worst) worst = err / mag;
        }
    }
    printf("%s%-5s vec_dot: worst error %.2e of sum |terms| (tolerance %.0e)\n", tier, tr->name,
           worst, tol);
    free(x), free(y), free(xd), free(yd), free(xbuf), free(ybuf);
}

/* The same for the dispatch table's kernel of a type. */
static void check_vec_dot(int type, const int *lengths, size_t n_lengths, double tol)
{
    check_vec_dot_of("", elm_traits(type), lengths, n_lengths, tol);
}

static const int len_32[] = {32, 64, 96, 224, 1024, 4096 + 32};
static const int len_256[] = {256, 512, 768, 4096 + 256};
static const int len_1[] = {1, 7, 17, 33, 255, 1023, 4097};

#define LENGTHS(a) a, sizeof a / sizeof a[0]

/* The integer part of every quantized dot product is exact; only the f32 sums of scaled blocks
 * (or of products, for f32 / f16) are ordered differently, which moves the result by a few ulps
 * of sum |terms| per hundred terms summed (the worst seen is about 2e-7). The types without a
 * SIMD kernel are listed too: whatever a later ISA installs for them is checked. */
static void test_vec_dot(void **state)
{
    (void)state;
    static const struct {
        int type;
        double tol; /* relative to sum |x_i y_i| */
    } cases[] = {
        {ELM_TYPE_Q4_0, 1e-5}, {ELM_TYPE_Q5_0, 1e-5},   {ELM_TYPE_Q8_0, 1e-5},
        {ELM_TYPE_Q4_K, 1e-5}, {ELM_TYPE_Q6_K, 1e-5},   {ELM_TYPE_F16, 1e-5},
        {ELM_TYPE_F32, 1e-5},  {ELM_TYPE_BF16, 1e-5},   {ELM_TYPE_Q4_1, 1e-5},
        {ELM_TYPE_Q5_1, 1e-5}, {ELM_TYPE_IQ4_NL, 1e-5}, {ELM_TYPE_Q2_K, 1e-5},
        {ELM_TYPE_Q3_K, 1e-5}, {ELM_TYPE_Q5_K, 1e-5},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const uint32_t blck = elm_traits(cases[i].type)->blck_size;
        if (blck == 1)
            check_vec_dot(cases[i].type, LENGTHS(len_1), cases[i].tol);
        else if (blck == 32)
            check_vec_dot(cases[i].type, LENGTHS(len_32), cases[i].tol);
        else
            check_vec_dot(cases[i].type, LENGTHS(len_256), cases[i].tol);
    }
}

/* ---- activation quantizers ---- */

/* The dispatched from_float of a type writes the reference's bytes: random data, then blocks
 * that exercise rounding ties, signed maxima of both signs, zeros, denormals, huge values and
 * fp16's special cases. */
static void check_from_float_of(const char *tier, const elm_type_traits_t *tr, const int *lengths,
                                size_t n_lengths)
{
    assert_non_null(tr);
    assert_non_null(tr->from_float);
    const int type = (int)tr->type;
    const elm_type_traits_t *ref = elm_traits_ref(type);
    float *x = malloc(sizeof(float) * NMAX);
    uint8_t *abuf = malloc(NMAX * 4 + 2), *bbuf = malloc(NMAX * 4 + 2);
    assert_true(x && abuf && bbuf);
    uint8_t *a = abuf + 2, *b = bbuf + 2;
    for (size_t li = 0; li < n_lengths; li++) {
        const int n = lengths[li];
        const size_t bytes = (size_t)n / tr->blck_size * tr->type_size;
        for (int pattern = 0; pattern < 8; pattern++) {
            fill_random(x, n);
            for (int i = 0; i < n; i++) {
                switch (pattern) {
                case 1:
                    x[i] = (float)((i % 255) - 127) + ((i & 1) ? 0.5f : -0.5f);
                    break; /* ties */
                case 2: x[i] = (i % 7 == 3) ? -x[i] : x[i]; break;
                case 3: x[i] *= 1e30f; break;
                case 4: x[i] *= 1e-41f; break;            /* denormal */
                case 5: x[i] = (float)(i % 9) - 4; break; /* maxima of both signs */
                case 6: x[i] = (float)(i % 3) * 0.5f; break;
                default: break;
                }
            }
            if (pattern == 7) {
                static const float specials[] = {
                    0.f,      -0.f,     65504.f, 65519.99f, 65520.f,  -65520.f,  6.1e-5f,
                    5.96e-8f, 2.98e-8f, 1e-10f,  3.0e-8f,   INFINITY, -INFINITY, 1.00048828125f};
                for (int i = 0; i < n && type == ELM_TYPE_F16; i++)
                    x[i] = specials[i % (sizeof specials / sizeof specials[0])];
            }
            memset(a, 0xA5, bytes);
            memset(b, 0x5A, bytes);
            ref->from_float(x, a, n);
            tr->from_float(x, b, n);
            for (size_t k = 0; k < bytes; k++)
                if (a[k] != b[k])
                    fail_msg("%s%s from_float n=%d pattern %d: byte %zu is 0x%02x, reference "
                             "0x%02x",
                             tier, tr->name, n, pattern, k, b[k], a[k]);
        }
    }
    free(x), free(abuf), free(bbuf);
}

/* The same for the dispatch table's quantizer of a type. */
static void check_from_float(int type, const int *lengths, size_t n_lengths)
{
    check_from_float_of("", elm_traits(type), lengths, n_lengths);
}

static void test_from_float(void **state)
{
    (void)state;
    check_from_float(ELM_TYPE_Q8_0, LENGTHS(len_32));
    check_from_float(ELM_TYPE_Q8_K, LENGTHS(len_256));
    check_from_float(ELM_TYPE_F16, LENGTHS(len_1));
}

/* ---- every x86 tier the CPU runs ----
 * elm__traits_fill builds the table of one tier, so the AVX2 kernels stay tested on an AVX-512
 * CPU (where the dispatch table holds the AVX-512 ones), and EDGELM_SIMD_MAX=avx2 is not needed.
 * A tier the CPU lacks is skipped with a line saying so. */

static const struct {
    const char *name;
    unsigned flags;
} x86_tiers[] = {{"avx2", ELM__CPU_TIER_AVX2}, {"avx512", ELM__CPU_TIER_AVX512}};

/* Whether this build and CPU can run a tier's kernels; says why not when they cannot. */
static int x86_tier_runs(size_t ti)
{
#if defined(__x86_64__)
    if ((elm__cpu_flags() & x86_tiers[ti].flags) == x86_tiers[ti].flags) return 1;
    printf("tier %s: skipped, this CPU lacks its features (cpu features: %s)\n", x86_tiers[ti].name,
           *elm_cpu_features() ? elm_cpu_features() : "none");
#else
    printf("tier %s: skipped, not an x86-64 build\n", x86_tiers[ti].name);
#endif
    return 0;
}

/* The awkward lengths test_vec_dot uses for a block size. */
static const int *lengths_for(uint32_t blck, size_t *n)
{
    if (blck == 1) return *n = sizeof len_1 / sizeof len_1[0], len_1;
    if (blck == 32) return *n = sizeof len_32 / sizeof len_32[0], len_32;
    return *n = sizeof len_256 / sizeof len_256[0], len_256;
}

/* Every vec_dot a tier installs over the reference matches it within the tolerance test_vec_dot
 * states (1e-5 of sum |terms|, for every type), and every activation quantizer it installs writes
 * the reference's bytes (check_from_float's patterns). On an AVX-512 CPU the AVX-512 tier
 * installs its own kernels for the types of common model files, so the comparisons test them. */
static void test_tiers(void **state)
{
    (void)state;
    static elm_type_traits_t table[ELM_TYPE_COUNT];
    for (size_t ti = 0; ti < sizeof x86_tiers / sizeof x86_tiers[0]; ti++) {
        if (!x86_tier_runs(ti)) continue;
        elm__traits_fill(table, x86_tiers[ti].flags);
        char label[16];
        snprintf(label, sizeof label, "%-7s", x86_tiers[ti].name);
        int dots = 0, quantizers = 0;
        for (int t = 0; t < ELM_TYPE_COUNT; t++) {
            const elm_type_traits_t *ref = elm_traits_ref(t), *tr = &table[t];
            if (!ref) continue;
            size_t n_lengths;
            const int *lengths = lengths_for(tr->blck_size, &n_lengths);
            if (tr->vec_dot && tr->vec_dot != ref->vec_dot) {
                check_vec_dot_of(label, tr, lengths, n_lengths, 1e-5);
                dots++;
            }
            if (tr->from_float && tr->from_float != ref->from_float) {
                check_from_float_of(label, tr, lengths, n_lengths);
                quantizers++;
            }
        }
        printf("tier %s: %d vec_dot kernels checked, %d activation quantizers byte for byte\n",
               x86_tiers[ti].name, dots, quantizers);
        assert_true(dots >= 7);       /* f32 or bf16, f16, q4_0, q5_0, q8_0, q4_K, q6_K */
        assert_true(quantizers >= 3); /* q8_0, q8_K, f16 */
    }
#if defined(__x86_64__)
    if (x86_tier_runs(1)) {
        static elm_type_traits_t avx2[ELM_TYPE_COUNT];
        elm__traits_fill(avx2, x86_tiers[0].flags);
        static const int types[] = {ELM_TYPE_Q4_0, ELM_TYPE_Q8_0, ELM_TYPE_Q4_K, ELM_TYPE_Q6_K,
                                    ELM_TYPE_F16};
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            assert_ptr_not_equal(table[types[i]].vec_dot, avx2[types[i]].vec_dot);
    }
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* First: it needs a process whose table is not filled yet. */
        cmocka_unit_test(test_no_simd_env),
        cmocka_unit_test(test_simd_installed),
        cmocka_unit_test(test_vec_dot),
        cmocka_unit_test(test_from_float),
        cmocka_unit_test(test_tiers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
