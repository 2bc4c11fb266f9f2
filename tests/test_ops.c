/* kernels/ops.c: every SIMD tier of the forward pass's small ops (RMSNorm, softmax numerators,
 * SiLU × up, add, scale, RoPE) against the scalar reference on awkward lengths, with the tolerances
 * stated per op, plus edge values (large gates, a softmax of one, huge negative scores); GELU × up
 * against llama.cpp's fp16 GELU table for every fp16 input, the tanh soft-cap, and the
 * benchmarks' read loop. */
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

#include "edgelm/kernels.h"
#include "kernels/cpu.h"
#include "kernels/ops_internal.h"
#include "testutil.h"

static const int64_t lengths[] = {1, 7, 8, 17, 33, 255, 896, 1023, 4097};
#define N_LEN (sizeof lengths / sizeof lengths[0])

/* The tiers the running CPU can execute: the reference (0) and the whole feature set. */
static int tiers(unsigned out[2])
{
    out[0] = 0;
    out[1] = elm__cpu_flags();
    return out[1] ? 2 : 1;
}

static void fill(float *x, int64_t n, float sd, elm_test_rng_t *rng)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = sd * elm_test_normal(rng);
}

/* |got - want| <= rel * |want| + abs for every element, or fail naming the op and index. */
static void expect_close(const char *op, unsigned cpu, int64_t n, const float *got,
                         const float *want, double rel, double abs)
{
    for (int64_t i = 0; i < n; i++) {
        const double d = fabs((double)got[i] - want[i]);
        if (!(d <= rel * fabs(want[i]) + abs))
            fail_msg("%s (cpu 0x%x) n %lld [%lld]: %.9g, reference %.9g", op, cpu, (long long)n,
                     (long long)i, got[i], want[i]);
    }
}

static void test_ops_vs_reference(void **state)
{
    (void)state;
    const elm_ops_t *ref = elm_ops_ref();
    unsigned cpus[2];
    const int nt = tiers(cpus);
    elm_test_rng_t rng = {12345};
    const int64_t max = 4097;
    float *x = malloc(max * sizeof *x), *w = malloc(max * sizeof *w), *u = malloc(max * sizeof *u);
    float *a = malloc(max * sizeof *a), *b = malloc(max * sizeof *b);
    for (int t = 0; t < nt; t++) {
        elm_ops_t ops;
        elm__ops_fill(&ops, cpus[t]);
        for (size_t l = 0; l < N_LEN; l++) {
            const int64_t n = lengths[l];
            fill(x, n, 3.0f, &rng);
            fill(w, n, 1.0f, &rng);
            fill(u, n, 2.0f, &rng);
            /* RMSNorm: the sum order differs (in double), the rest is the same float math */
            ref->rmsnorm(a, x, w, n, 1e-6f);
            ops.rmsnorm(b, x, w, n, 1e-6f);
            expect_close("rmsnorm", cpus[t], n, b, a, 1e-6, 0);
            memcpy(a, x, n * sizeof *a);
            ops.rmsnorm(a, a, w, n, 1e-6f); /* in place */
            expect_close("rmsnorm in place", cpus[t], n, a, b, 0, 0);
            /* softmax numerators: exp within a few ulp, the sum likewise */
            memcpy(a, x, n * sizeof *a);
            memcpy(b, x, n * sizeof *b);
            const float sa = ref->softmax_exp(a, n, 0.125f), sb = ops.softmax_exp(b, n, 0.125f);
            expect_close("softmax_exp", cpus[t], n, b, a, 4e-7, 1e-37);
            assert_true(fabs(sa - sb) <= 4e-7 * sa);
            assert_true(sa >= 1.0f); /* the maximum contributes exp(0) = 1 */
            /* SiLU × up */
            memcpy(a, x, n * sizeof *a);
            memcpy(b, x, n * sizeof *b);
            ref->silu_mul(a, u, n);
            ops.silu_mul(b, u, n);
            expect_close("silu_mul", cpus[t], n, b, a, 1e-6, 1e-30);
            /* add and scale are exact */
            memcpy(a, w, n * sizeof *a);
            memcpy(b, w, n * sizeof *b);
            ref->add(a, x, n);
            ops.add(b, x, n);
            expect_close("add", cpus[t], n, b, a, 0, 0);
            ref->scale(a, x, -0.37f, n);
            ops.scale(b, x, -0.37f, n);
            expect_close("scale", cpus[t], n, b, a, 0, 0);
        }
    }
    free(x);
    free(w);
    free(u);
    free(a);
    free(b);
}

/* RoPE in both modes on head sizes and rotated widths that are and are not multiples of the
 * vector widths (partial rotation included: the values past n_rot stay as they were). The
 * reference is checked against the rotation in double; every tier must give its bits. */
static void test_rope(void **state)
{
    (void)state;
    static const int64_t dims[][2] = {{64, 64}, {128, 128}, {64, 32}, {80, 80},
                                      {6, 6},   {18, 10},   {2, 2},   {96, 48}};
    const elm_ops_t *ref = elm_ops_ref();
    unsigned cpus[2];
    const int nt = tiers(cpus);
    elm_test_rng_t rng = {777};
    const int64_t n_heads = 3;
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        const int64_t hd = dims[di][0], n_rot = dims[di][1], half = n_rot / 2, n = n_heads * hd;
        float *x = malloc(n * sizeof *x), *want = malloc(n * sizeof *want);
        float *got = malloc(n * sizeof *got), *cs = malloc(n_rot * sizeof *cs);
        for (int64_t i = 0; i < half; i++) {
            const double t = 7.0 * pow(10000.0, -2.0 * i / n_rot); /* position 7 */
            cs[i] = (float)cos(t);
            cs[half + i] = (float)sin(t);
        }
        for (int neox = 0; neox <= 1; neox++) {
            fill(x, n, 2.0f, &rng);
            memcpy(want, x, n * sizeof *x);
            ref->rope(want, n_heads, hd, n_rot, cs, neox);
            for (int64_t h = 0; h < n_heads; h++) {
                const float *v = x + h * hd, *r = want + h * hd;
                for (int64_t i = 0; i < half; i++) {
                    const int64_t i0 = neox ? i : 2 * i, i1 = neox ? i + half : 2 * i + 1;
                    const double c = cs[i], sn = cs[half + i];
                    const double y0 = v[i0] * c - v[i1] * sn, y1 = v[i0] * sn + v[i1] * c;
                    const double mag = fabs(v[i0]) + fabs(v[i1]);
                    if (fabs(r[i0] - y0) > 2e-7 * mag || fabs(r[i1] - y1) > 2e-7 * mag)
                        fail_msg("rope ref hd %lld n_rot %lld neox %d head %lld pair %lld: (%.9g, "
                                 "%.9g), want (%.9g, %.9g)",
                                 (long long)hd, (long long)n_rot, neox, (long long)h, (long long)i,
                                 r[i0], r[i1], y0, y1);
                }
                for (int64_t i = n_rot; i < hd; i++)
                    if (r[i] != v[i])
                        fail_msg("rope ref hd %lld n_rot %lld: changed value %lld past "
                                 "n_rot",
                                 (long long)hd, (long long)n_rot, (long long)i);
            }
            for (int t = 0; t < nt; t++) {
                elm_ops_t ops;
                elm__ops_fill(&ops, cpus[t]);
                memcpy(got, x, n * sizeof *x);
                ops.rope(got, n_heads, hd, n_rot, cs, neox);
                for (int64_t i = 0; i < n; i++)
                    if (memcmp(&got[i], &want[i], sizeof *got) != 0)
                        fail_msg(
                            "rope (cpu 0x%x) hd %lld n_rot %lld neox %d [%lld]: %.9g, reference "
                            "%.9g (must be the same bits)",
                            cpus[t], (long long)hd, (long long)n_rot, neox, (long long)i, got[i],
                            want[i]);
            }
        }
        free(x);
        free(want);
        free(got);
        free(cs);
    }
}

/* Values at the edges of exp's range: what attention and the FFN hand the ops in practice. */
static void test_ops_edges(void **state)
{
    (void)state;
    unsigned cpus[2];
    const int nt = tiers(cpus);
    for (int t = 0; t < nt; t++) {
        elm_ops_t ops;
        elm__ops_fill(&ops, cpus[t]);
        /* a masked-looking score row: one large score, the rest far below */
        float s[17];
        for (int i = 0; i < 17; i++)
            s[i] = i == 11 ? 50.0f : -1e4f;
        const float sum = ops.softmax_exp(s, 17, 1.0f);
        assert_float_equal(sum, 1.0f, 1e-6);
        assert_float_equal(s[11], 1.0f, 0);
        for (int i = 0; i < 17; i++)
            if (i != 11) assert_true(s[i] >= 0.0f && s[i] < 1e-30f);
        float one = -3.0f;
        assert_float_equal(ops.softmax_exp(&one, 1, 2.0f), 1.0f, 0);
        /* SiLU saturates: large positive gates pass through, large negative ones vanish */
        float g[9] = {-200, -90, -20, -1, 0, 1, 20, 90, 200}, up[9];
        for (int i = 0; i < 9; i++)
            up[i] = 1.0f;
        ops.silu_mul(g, up, 9);
        assert_true(g[0] <= 0 && g[0] > -1e-30f);
        assert_true(g[1] <= 0 && g[1] > -1e-30f);
        assert_float_equal(g[4], 0.0f, 0);
        assert_float_equal(g[5], 1.0f / (1.0f + expf(-1.0f)), 1e-6);
        assert_float_equal(g[6], 20.0f, 1e-5);
        assert_float_equal(g[8], 200.0f, 0);
        for (int i = 0; i < 9; i++)
            assert_false(isnan(g[i]));
    }
}

/* EDGELM_SIMD_MAX caps the ops as it caps the matrix kernels: both tables are filled from
 * elm__kernel_tier(), which drops the tier above the cap. The tables are filled once per
 * process, so a child process sets the variable before its first call. */
static int simd_max_child(void)
{
#if defined(__aarch64__)
    const char *cap = "neon";
    const unsigned want = elm__cpu_flags() & ~(unsigned)ELM__CPU_DOTPROD;
#else
    const char *cap = "avx2";
    const unsigned want = elm__cpu_flags() & ~(unsigned)ELM__CPU_AVX512_ALL;
#endif
    unsetenv("EDGELM_NO_SIMD");
    setenv("EDGELM_SIMD_MAX", cap, 1);
    if (elm__kernel_tier() != want) return 1;
    elm_ops_t capped;
    elm__ops_fill(&capped, want);
    const elm_ops_t *ops = elm_ops();
    if (ops->rmsnorm != capped.rmsnorm || ops->softmax_exp != capped.softmax_exp ||
        ops->silu_mul != capped.silu_mul || ops->add != capped.add || ops->scale != capped.scale ||
        ops->rope != capped.rope || ops->gelu_mul != capped.gelu_mul ||
        ops->softcap != capped.softcap || ops->read_sum != capped.read_sum)
        return 2;
    static elm_type_traits_t traits[ELM_TYPE_COUNT];
    elm__traits_fill(traits, want);
    for (int t = 0; t < ELM_TYPE_COUNT; t++) {
        const elm_type_traits_t *tr = elm_traits(t);
        if (!tr) continue;
        if (tr->vec_dot != traits[t].vec_dot || tr->from_float != traits[t].from_float ||
            tr->gemm != traits[t].gemm || tr->gemv != traits[t].gemv)
            return 3;
    }
    return 0;
}

static void test_simd_max_env(void **state)
{
    (void)state;
    fflush(NULL);
    const pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) _exit(simd_max_child());
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    /* 1: the tier is not capped; 2: the ops are not the capped tier's; 3: the traits are not */
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* GELU × up is ggml's CPU GELU: for every finite fp16 input the output is the entry of
 * llama.cpp's table (reference README §6.3, ggml-gelu-f16.bin, as dumped from build 4748), and
 * the ±10 pass-through tests use the unrounded f32 input. */
static void test_gelu_table(void **state)
{
    (void)state;
    const char *path = elm_test_data("reference/models/ggml-gelu-f16.bin");
    if (!path) return;
    size_t len = 0;
    uint16_t *table = elm_test_read_file(path, &len);
    assert_non_null(table);
    assert_int_equal(len, 65536 * sizeof *table);
    uint16_t *at = malloc(65536 * sizeof *at);
    float *all = malloc(65536 * sizeof *all), *ones = malloc(65536 * sizeof *ones);
    assert_true(at && all && ones);
    unsigned cpus[2];
    const int nt = tiers(cpus);
    for (int t = 0; t < nt; t++) {
        elm_ops_t ops;
        elm__ops_fill(&ops, cpus[t]);
        /* every finite fp16 input in one call (the vector lanes), then each alone (the tail) */
        int n_checked = 0;
        for (uint32_t i = 0; i < 65536; i++)
            if (isfinite(elm_fp16_to_fp32((uint16_t)i))) {
                at[n_checked] = (uint16_t)i;
                all[n_checked] = elm_fp16_to_fp32((uint16_t)i);
                ones[n_checked++] = 1.0f;
            }
        assert_int_equal(n_checked, 65536 - 2 * 1024); /* all but ±inf and the NaNs */
        ops.gelu_mul(all, ones, n_checked);
        for (int k = 0; k < n_checked; k++) {
            float g = elm_fp16_to_fp32(at[k]);
            const float one = 1.0f, want = elm_fp16_to_fp32(table[at[k]]);
            ops.gelu_mul(&g, &one, 1);
            if (g != want || all[k] != want)
                fail_msg("gelu (cpu 0x%x) at fp16 0x%04x (%.9g): %.9g alone, %.9g in a row, "
                         "llama.cpp %.9g",
                         cpus[t], at[k], elm_fp16_to_fp32(at[k]), g, all[k], want);
        }
        /* 9.999 rounds to fp16 10 (table: 10); 10.001 passes through unrounded; -10 and below
         * give 0: in the lanes (the first 8) and in the tail */
        float g[12] = {9.999f,   10.001f, -9.999f, 1.5f,    -10.0f,  10.0f,
                       -10.001f, 12.5f,   9.999f,  10.001f, -9.999f, 1.5f};
        const float u[12] = {1, 1, 1, -2, 1, 1, 1, 1, 1, 1, 1, -2};
        ops.gelu_mul(g, u, 12);
        for (int k = 0; k < 12; k += 8) {
            assert_true(g[k] == 10.0f && g[k + 1] == 10.001f && g[k + 2] == 0.0f);
            assert_true(g[k + 3] == -2.0f * elm_fp16_to_fp32(table[elm_fp32_to_fp16(1.5f)]));
        }
        assert_true(g[4] == 0.0f && g[5] == 10.0f && g[6] == 0.0f && g[7] == 12.5f);
    }
    free(at);
    free(all);
    free(ones);
    free(table);
}

/* The soft-cap is cap · tanh(x / cap) to f32 rounding, bounded by the cap, monotonic, and NaN
 * where its input is. */
static void test_softcap(void **state)
{
    (void)state;
    unsigned cpus[2];
    const int nt = tiers(cpus);
    elm_test_rng_t rng = {4242};
    const int64_t n = 4097;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    for (int t = 0; t < nt; t++) {
        elm_ops_t ops;
        elm__ops_fill(&ops, cpus[t]);
        static const float caps[] = {8.0f, 30.0f, 50.0f};
        for (int c = 0; c < 3; c++) {
            const float cap = caps[c];
            for (int64_t i = 0; i < n; i++)
                x[i] = (float)(i - n / 2) * (4.0f * cap / (float)n) + 0.01f * elm_test_normal(&rng);
            x[0] = -1e30f;
            x[n - 1] = 1e30f;
            memcpy(y, x, n * sizeof *y);
            ops.softcap(y, n, cap);
            for (int64_t i = 0; i < n; i++) {
                const double want = cap * tanh((double)x[i] / cap);
                if (!(fabs(y[i] - want) <= 1e-6 * cap) || fabsf(y[i]) > cap)
                    fail_msg("softcap %g (cpu 0x%x) [%lld] of %.9g: %.9g, want %.9g", cap, cpus[t],
                             (long long)i, x[i], y[i], want);
                if (i > 0 && x[i] > x[i - 1]) assert_true(y[i] >= y[i - 1]);
            }
        }
        /* a NaN logit stays NaN, in the lanes and in the tail, and leaves its neighbours alone */
        for (int64_t i = 0; i < 12; i++)
            y[i] = i % 3 ? NAN : 1.0f;
        ops.softcap(y, 12, 30.0f);
        for (int64_t i = 0; i < 12; i++)
            assert_true(i % 3 ? isnan(y[i])
                              : fabsf(y[i] - 30.0f * tanhf(1.0f / 30.0f)) <= 1e-6f * 30.0f);
    }
    free(x);
    free(y);
}

/* The read loop of every tier (the reference's 16-byte loads, AVX2's 32, AVX-512's 64) sums the
 * 64-bit words and the trailing bytes exactly as its definition, at every length around its
 * strides and from unaligned starts. */
static void test_read_sum(void **state)
{
    (void)state;
    const unsigned all = elm__cpu_flags(), cpus[3] = {0, all & ~(unsigned)ELM__CPU_AVX512_ALL, all};
    enum { MAX = 4096 + 300 };
    uint8_t *buf = malloc(MAX + 8);
    elm_test_rng_t rng = {777};
    for (size_t i = 0; i < MAX + 8; i++)
        buf[i] = (uint8_t)(elm_test_normal(&rng) * 80);
    static const size_t lens[] = {0,   1,   7,   8,   9,   63,  64,  65,   127,  128, 129,
                                  255, 256, 257, 264, 511, 512, 520, 1000, 4096, MAX};
    for (int t = 0; t < 3; t++) {
        elm_ops_t ops;
        elm__ops_fill(&ops, cpus[t]);
        for (size_t off = 0; off < 4; off++)
            for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
                const uint8_t *p = buf + off;
                const size_t n = lens[k];
                uint64_t want = 0;
                size_t i = 0;
                for (; i + 8 <= n; i += 8) {
                    uint64_t w = 0;
                    for (int b = 7; b >= 0; b--)
                        w = w << 8 | p[i + (size_t)b]; /* little-endian, as on x86 and aarch64 */
                    want += w;
                }
                for (; i < n; i++)
                    want += p[i];
                const uint64_t got = ops.read_sum(p, n);
                if (got != want)
                    fail_msg("read_sum (cpu 0x%x) n %zu from +%zu: %llu, want %llu", cpus[t], n,
                             off, (unsigned long long)got, (unsigned long long)want);
            }
    }
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simd_max_env), cmocka_unit_test(test_ops_vs_reference),
        cmocka_unit_test(test_ops_edges),    cmocka_unit_test(test_rope),
        cmocka_unit_test(test_gelu_table),   cmocka_unit_test(test_softcap),
        cmocka_unit_test(test_read_sum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
