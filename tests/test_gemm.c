/* kernels/: the matrix products (elm_gemm_fn) and matrix × vector products (elm_gemv_fn) of
 * every SIMD tier the running CPU can execute,
 * against n_out x n_act reference vec_dots (elm_traits_ref) on shapes that are not multiples of
 * the kernels' tiles, rows longer than one packed chunk (gemm) or than L1 holds of their layout
 * (gemv), strides that are not multiples of a block, ldy > n_out, and random data with
 * large-magnitude and all-zero blocks. Tolerance: |gemm - ref| <= 1e-5 * sum |w_i a_i| (the
 * dequantized terms), as for the vec_dots in test_kernels_simd.c; the kernels' integer sums are
 * exact and only the f32 sums of scaled blocks are ordered differently. y outside the n_out columns
 * must stay untouched. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "edgelm/gguf.h"
#include "edgelm/kernels.h"
#include "kernels/cpu.h"
#include "kernels/panel.h"
#include "testutil.h"

static const double TOL = 1e-5;
static const float SENTINEL = -12345.5f;

static elm_test_rng_t rng = {0x6E33};

/* n normal values in runs of 32: mostly unit scale, some runs 1000 times larger, some all zero,
 * some 1e-3 smaller. */
static void fill_random(float *x, int64_t n)
{
    for (int64_t b = 0; b < n; b += 32) {
        const double u = elm_test_uniform(&rng);
        const float scale = u < 0.1 ? 1000.f : u < 0.2 ? 0.f : u < 0.3 ? 1e-3f : 1.f;
        for (int64_t i = b; i < n && i < b + 32; i++)
            x[i] = elm_test_normal(&rng) * scale;
    }
}

/* The CPU tiers whose tables the test fills: each is checked only where the CPU has it. */
static const struct {
    const char *name;
    unsigned flags;
} tiers[] = {
    {"avx2", ELM__CPU_TIER_AVX2},
    {"avx512", ELM__CPU_TIER_AVX512},
};

static int tier_runs(unsigned flags)
{
    return flags != 0 && (elm__cpu_flags() & flags) == flags;
}

/* A quantized matrix of rows rows of n values, stride bytes apart, at a 2-byte-aligned address
 * (as inside a GGUF mapping), and its dequantized values. */
typedef struct {
    uint8_t *buf;
    uint8_t *data;
    float *deq; /* (rows, n) */
} matrix_t;

static void make_matrix(matrix_t *m, const elm_type_traits_t *tr, int quantize, int64_t rows,
                        int64_t n, size_t stride, int64_t zero_row)
{
    const size_t row_bytes = (size_t)n / tr->blck_size * tr->type_size;
    m->buf = malloc(2 + (size_t)(rows - 1) * stride + row_bytes);
    m->deq = malloc(sizeof(float) * (size_t)(rows * n));
    float *x = malloc(sizeof(float) * (size_t)n);
    assert_true(m->buf && m->deq && x);
    m->data = m->buf + 2;
    for (int64_t r = 0; r < rows; r++) {
        fill_random(x, n);
        if (r == zero_row) memset(x, 0, sizeof(float) * (size_t)n);
        uint8_t *row = m->data + (size_t)r * stride;
        if (quantize)
            tr->quantize(x, row, n);
        else
            tr->from_float(x, row, n);
        tr->to_float(row, m->deq + r * n, n);
    }
    free(x);
}

static void free_matrix(matrix_t *m)
{
    free(m->buf);
    free(m->deq);
}

/* y (n_act rows of n_out, ldy apart) against the reference vec_dots of w's rows with a's: within
 * TOL of the sum of |terms|, and nothing written past n_out. Returns the worst relative error. */
static double check_y(const char *tier, const char *what, const elm_type_traits_t *ref, int64_t n,
                      int64_t n_out, int64_t n_act, const matrix_t *w, size_t w_stride,
                      const matrix_t *a, size_t a_stride, const float *y, size_t ldy)
{
    double worst = 0;
    for (int64_t r = 0; r < n_act; r++) {
        for (int64_t o = 0; o < n_out; o++) {
            float want = NAN;
            ref->vec_dot(n, &want, w->data + (size_t)o * w_stride, a->data + (size_t)r * a_stride);
            const float got = y[(size_t)r * ldy + (size_t)o];
            double mag = 0;
            for (int64_t i = 0; i < n; i++)
                mag += fabs((double)w->deq[o * n + i] * a->deq[r * n + i]);
            const double err = fabs((double)got - want);
            if (mag == 0 ? got != 0 : !(err <= TOL * mag))
                fail_msg("%s %s %s n=%lld n_out=%lld n_act=%lld: y[%lld][%lld] = %.9g, reference "
                         "vec_dot %.9g (error %.3g, sum |terms| %.6g, tolerance %.0e of it)",
                         tier, ref->name, what, (long long)n, (long long)n_out, (long long)n_act,
                         (long long)r, (long long)o, got, want, err, mag, TOL);
            if (mag > 0 && err / mag > worst) worst = err / mag;
        }
        for (size_t o = (size_t)n_out; o < ldy; o++)
            if (memcmp(&y[(size_t)r * ldy + o], &SENTINEL, sizeof SENTINEL) != 0)
                fail_msg("%s %s %s n=%lld n_out=%lld n_act=%lld: wrote y[%lld][%zu], past n_out",
                         tier, ref->name, what, (long long)n, (long long)n_out, (long long)n_act,
                         (long long)r, o);
    }
    return worst;
}

/* One gemm (or, with gemv, one gemv: n_act is 1) on one shape against the reference vec_dots;
 * returns the worst relative error. */
static double check_shape(const char *tier, const elm_type_traits_t *tr, bool gemv, int64_t n,
                          int64_t n_out, int64_t n_act)
{
    const char *what = gemv ? "gemv" : "gemm";
    const elm_type_traits_t *ref = elm_traits_ref((int)tr->type);
    const elm_type_traits_t *act = elm_traits_ref((int)ref->vec_dot_type);
    const size_t w_row = (size_t)n / tr->blck_size * tr->type_size;
    const size_t a_row = (size_t)n / act->blck_size * act->type_size;
    const size_t w_stride = w_row + 2, a_stride = a_row + 6, ldy = (size_t)n_out + 3;
    matrix_t w, a;
    /* An all-zero weight row and an all-zero activation row, where the shape has them. */
    make_matrix(&w, ref, 1, n_out, n, w_stride, 2);
    make_matrix(&a, act, 0, n_act, n, a_stride, 1);
    float *y = malloc(sizeof(float) * ldy * (size_t)n_act);
    assert_non_null(y);
    for (size_t i = 0; i < ldy * (size_t)n_act; i++)
        y[i] = SENTINEL;
    if (gemv) {
        /* the layout in a buffer of exactly the size it reports (64-byte aligned), followed by
         * guard bytes it must leave alone */
        const size_t bytes = tr->gemv_prepare(n, NULL, NULL), guard = 64;
        uint8_t *prep = aligned_alloc(64, (bytes + guard + 63) / 64 * 64);
        assert_non_null(prep);
        memset(prep, 0xA5, bytes + guard);
        assert_int_equal(tr->gemv_prepare(n, a.data, prep), bytes);
        for (size_t i = bytes; i < bytes + guard; i++)
            if (prep[i] != 0xA5)
                fail_msg("%s %s gemv_prepare n=%lld: wrote byte %zu, past the %zu it reports", tier,
                         tr->name, (long long)n, i, bytes);
        tr->gemv(n, n_out, w.data, w_stride, prep, y);
        free(prep);
    } else
        tr->gemm(n, n_out, n_act, w.data, w_stride, a.data, a_stride, y, ldy);
    const double worst =
        check_y(tier, what, ref, n, n_out, n_act, &w, w_stride, &a, a_stride, y, ldy);
    free(y);
    free_matrix(&w);
    free_matrix(&a);
    return worst;
}

/* Row lengths per block size: one block, a few, and more than one packed chunk of 32 blocks of
 * 32 values (1024) with a remainder. */
static const int64_t len_32[] = {32, 96, 1120};
static const int64_t len_256[] = {256, 1280};
static const int64_t len_1[] = {1, 7, 33, 1031};

/* (n_out, n_act): 1, 3, 17, 64 and 67 on both sides, below and above the tiles (16 or 8 weight
 * rows, 4 activation rows, 64-row chunks) and the small-n_act cut-over to vec_dots. */
static const int64_t shapes[][2] = {{1, 1},   {1, 67}, {3, 3},  {3, 17},  {17, 64}, {17, 5},
                                    {64, 67}, {64, 3}, {67, 1}, {67, 64}, {67, 67}};

#define COUNT(a) (sizeof a / sizeof a[0])

static void check_gemm(const char *tier, const elm_type_traits_t *tr)
{
    const int64_t *lens = tr->blck_size == 1 ? len_1 : tr->blck_size == 32 ? len_32 : len_256;
    const size_t n_lens = tr->blck_size == 1    ? COUNT(len_1)
                          : tr->blck_size == 32 ? COUNT(len_32)
                                                : COUNT(len_256);
    double worst = 0;
    int n_shapes = 0;
    for (size_t li = 0; li < n_lens; li++)
        for (size_t si = 0; si < COUNT(shapes); si++) {
            const double e = check_shape(tier, tr, false, lens[li], shapes[si][0], shapes[si][1]);
            if (e > worst) worst = e;
            n_shapes++;
        }
    printf("%-6s %-5s gemm: %d shapes, worst error %.2e of sum |terms| (tolerance %.0e)\n", tier,
           tr->name, n_shapes, worst, TOL);
}

/* gemv row lengths: whole groups (4 blocks of 32 values; one super-block of 256), from one to
 * more than the L1 cache holds of their layout (16384 values and more), and for the 32-value
 * blocks lengths that are not whole groups, which the gemv must refuse (gemv_prepare returns
 * 0: the engine loops over vec_dot there). gemv rows: 1, 3, 17, 64, 67. */
static const int64_t gemv_len_32[] = {32, 96, 128, 896, 16384, 16512, 32896};
static const int64_t gemv_len_256[] = {256, 768, 4096, 4352, 16384, 16640, 33024};
static const int64_t gemv_rows[] = {1, 3, 17, 64, 67};

static void check_gemv(const char *tier, const elm_type_traits_t *tr)
{
    const int64_t *lens = tr->blck_size == 32 ? gemv_len_32 : gemv_len_256;
    const size_t n_lens = tr->blck_size == 32 ? COUNT(gemv_len_32) : COUNT(gemv_len_256);
    const int64_t group = tr->blck_size == 32 ? 128 : 256;
    assert_non_null(tr->gemv_prepare);
    double worst = 0;
    int n_shapes = 0, n_refused = 0;
    for (size_t li = 0; li < n_lens; li++) {
        const size_t bytes = tr->gemv_prepare(lens[li], NULL, NULL);
        if ((bytes == 0) != (lens[li] % group != 0))
            fail_msg("%s %s gemv_prepare n=%lld: %zu bytes; want 0 exactly when n is not a "
                     "multiple of %lld",
                     tier, tr->name, (long long)lens[li], bytes, (long long)group);
        if (bytes == 0) {
            n_refused++;
            continue;
        }
        for (size_t ri = 0; ri < COUNT(gemv_rows); ri++) {
            const double e = check_shape(tier, tr, true, lens[li], gemv_rows[ri], 1);
            if (e > worst) worst = e;
            n_shapes++;
        }
    }
    printf("%-6s %-5s gemv: %d shapes, worst error %.2e of sum |terms| (tolerance %.0e); %d "
           "lengths refused\n",
           tier, tr->name, n_shapes, worst, TOL, n_refused);
}

/* Every installed gemm and gemv of every tier the CPU has; on an AVX2 CPU, the ones a Q4_0 model
 * file needs (q4_0 and q8_0 gemm, q4_0 gemv) and the gemms of a Q4_K_M file's K-quants (q4_K,
 * q5_K for phi3's fused attn_qkv, q6_K) must be installed, so the comparisons test something. */
static void test_gemm_tiers(void **state)
{
    (void)state;
    static elm_type_traits_t table[ELM_TYPE_COUNT];
    for (size_t ti = 0; ti < COUNT(tiers); ti++) {
        if (!tier_runs(tiers[ti].flags)) {
            printf("%s: skipped, this CPU lacks the tier's features (cpu features: %s)\n",
                   tiers[ti].name, *elm_cpu_features() ? elm_cpu_features() : "none");
            continue;
        }
        elm__traits_fill(table, tiers[ti].flags);
        assert_non_null(table[ELM_TYPE_Q4_0].gemm);
        assert_non_null(table[ELM_TYPE_Q8_0].gemm);
        assert_non_null(table[ELM_TYPE_Q4_0].gemv);
        assert_non_null(table[ELM_TYPE_Q4_K].gemm);
        assert_non_null(table[ELM_TYPE_Q5_K].gemm);
        assert_non_null(table[ELM_TYPE_Q6_K].gemm);
        for (int t = 0; t < ELM_TYPE_COUNT; t++) {
            if ((table[t].gemv == NULL) != (table[t].gemv_prepare == NULL))
                fail_msg("%s %s: a gemv without its gemv_prepare, or the reverse", tiers[ti].name,
                         table[t].name);
            if (table[t].name && table[t].gemm) check_gemm(tiers[ti].name, &table[t]);
            if (table[t].name && table[t].gemv) check_gemv(tiers[ti].name, &table[t]);
        }
    }
}

/* The reference table has no gemm or gemv: callers fall back to vec_dot loops. */
static void test_reference_has_none(void **state)
{
    (void)state;
    for (int t = 0; t < ELM_TYPE_COUNT; t++) {
        const elm_type_traits_t *ref = elm_traits_ref(t);
        if (ref) assert_null(ref->gemm);
        if (ref) assert_null(ref->gemv);
        if (ref) assert_null(ref->gemv_prepare);
    }
}

/* ---- weight panels (kernels/panel.h) ----
 * Each panel kernel of each tier the CPU has, on lengths of one block, an odd number of blocks
 * (a short last pair), an even number, and more than 16 blocks; 16 and 48 outputs; 1 to 17
 * activations across its chunks of rows. Packed rows read back through row_to_float are the
 * original rows' to_float bit for bit; each product is within TOL of the reference vec_dot; and
 * every activation row's outputs are the same bits alone as among the others. */
static void check_panel(const char *tier, const elm__panel_t *pk, int64_t n, int64_t n_out)
{
    static const int64_t acts[] = {1, 3, 8, 9, 17};
    const int64_t n_act = 17;
    const elm_type_traits_t *ref = elm_traits_ref((int)pk->type);
    const elm_type_traits_t *q8 = elm_traits_ref((int)ref->vec_dot_type);
    const size_t w_row = (size_t)n / ref->blck_size * ref->type_size, w_stride = w_row + 2;
    const size_t a_row = (size_t)n / q8->blck_size * q8->type_size, ldy = (size_t)n_out + 3;
    matrix_t w, a;
    make_matrix(&w, ref, 1, n_out, n, w_stride, 2);
    make_matrix(&a, q8, 0, n_act, n, a_row, 1);
    const size_t pb = elm__panel_bytes(pk, n), n_panels = (size_t)n_out / ELM__PANEL_ROWS;
    uint8_t *panels = aligned_alloc(64, pb * n_panels);
    float *row = malloc(sizeof(float) * (size_t)n), *want = malloc(sizeof(float) * (size_t)n);
    assert_true(panels && row && want);
    for (size_t k = 0; k < n_panels; k++)
        elm__panel_pack(pk, n, w.data + k * ELM__PANEL_ROWS * w_stride, w_stride, panels + k * pb);
    for (int64_t o = 0; o < n_out; o++) {
        elm__panel_row_to_float(pk, n, panels + (size_t)o / ELM__PANEL_ROWS * pb,
                                (int)(o % ELM__PANEL_ROWS), row);
        ref->to_float(w.data + (size_t)o * w_stride, want, n);
        if (memcmp(row, want, sizeof(float) * (size_t)n) != 0)
            fail_msg("%s %s panel n=%lld: row %lld read back differs from the original row", tier,
                     ref->name, (long long)n, (long long)o);
    }
    /* the activations laid out in buffers of the size prepare reports, guard bytes after (no
     * prepare: the rows as they are) */
    const size_t bytes = pk->prepare ? pk->prepare(n, NULL, NULL) : a_row,
                 ps = (bytes + 64 + 63) / 64 * 64;
    uint8_t *p = aligned_alloc(64, ps * (size_t)n_act);
    float *y = malloc(sizeof(float) * ldy * (size_t)n_act), *one = malloc(sizeof(float) * ldy);
    assert_true(p && y && one);
    memset(p, 0xA5, ps * (size_t)n_act);
    for (int64_t r = 0; r < n_act; r++) {
        if (!pk->prepare) {
            memcpy(p + (size_t)r * ps, a.data + (size_t)r * a_row, a_row);
            continue;
        }
        assert_int_equal(pk->prepare(n, a.data + (size_t)r * a_row, p + (size_t)r * ps), bytes);
        for (size_t i = bytes; i < ps; i++)
            if (p[(size_t)r * ps + i] != 0xA5)
                fail_msg("%s %s panel prepare n=%lld: wrote byte %zu, past the %zu it reports",
                         tier, ref->name, (long long)n, i, bytes);
    }
    for (size_t ai = 0; ai < COUNT(acts); ai++) {
        for (size_t i = 0; i < ldy * (size_t)n_act; i++)
            y[i] = SENTINEL;
        pk->rows(n, n_out, panels, pb, p, ps, acts[ai], y, ldy);
        check_y(tier, "panel rows", ref, n, n_out, acts[ai], &w, w_stride, &a, a_row, y, ldy);
        for (int64_t r = 0; r < acts[ai]; r++) {
            pk->rows(n, n_out, panels, pb, p + (size_t)r * ps, ps, 1, one, ldy);
            if (memcmp(one, y + (size_t)r * ldy, sizeof(float) * (size_t)n_out) != 0)
                fail_msg("%s %s panel rows n=%lld n_out=%lld: activation %lld of %lld differs "
                         "from the same activation alone",
                         tier, ref->name, (long long)n, (long long)n_out, (long long)r,
                         (long long)acts[ai]);
        }
    }
    free(panels);
    free(row);
    free(want);
    free(p);
    free(y);
    free(one);
    free_matrix(&w);
    free_matrix(&a);
}

static void test_panels(void **state)
{
    (void)state;
    static const int64_t lens_32[] = {32, 96, 896, 1120}, lens_256[] = {256, 768, 2048, 4352};
    static const int types[] = {ELM_TYPE_Q4_0, ELM_TYPE_Q5_0, ELM_TYPE_Q8_0,
                                ELM_TYPE_Q4_K, ELM_TYPE_Q5_K, ELM_TYPE_Q6_K};
    int checked = 0;
    for (size_t ti = 0; ti < COUNT(tiers); ti++) {
        if (!tier_runs(tiers[ti].flags)) continue;
        for (size_t k = 0; k < COUNT(types); k++) {
            const elm__panel_t *pk = elm__panel_tier(types[k], tiers[ti].flags);
            if (!pk) {
                if ((tiers[ti].flags & ELM__CPU_TIER_AVX512) == ELM__CPU_TIER_AVX512)
                    fail_msg("the AVX-512 tier has no panel kernels for %s",
                             elm_traits_ref(types[k])->name);
                continue;
            }
            const bool k_quant = elm_traits_ref(types[k])->blck_size == 256;
            for (size_t li = 0; li < 4; li++) {
                const int64_t n = k_quant ? lens_256[li] : lens_32[li];
                check_panel(tiers[ti].name, pk, n, 16);
                check_panel(tiers[ti].name, pk, n, 48);
                checked++;
            }
        }
    }
    if (!tier_runs(ELM__CPU_TIER_AVX512))
        printf("panels: skipped, this CPU lacks the AVX-512 tier (cpu features: %s)\n",
               *elm_cpu_features() ? elm_cpu_features() : "none");
    else
        printf("panels: %d (type, length) pairs checked\n", checked);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_has_none),
        cmocka_unit_test(test_gemm_tiers),
        cmocka_unit_test(test_panels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
