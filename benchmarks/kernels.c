/* Kernel benchmark: nanoseconds per vec_dot of one 4096-long row (and per activation row
 * quantized by from_float) for the dispatched kernels and the scalar reference, measured
 * alternately in the same run; prints the speed-up ref / dispatched. Then the matrix products:
 * time per activation row of the multi-row gemvs (decode of several sequences) against the one-row
 * gemv (and the weight panels' product, as the engine runs it on AVX-512, against the same gemv),
 * and GMAC/s of each tier's gemm against the loop of that tier's vec_dots the engine would
 * otherwise run (f16 also as a share of the core's fp32 FMA peak, measured first), on
 * qwen2.5-0.5b's matrix shapes. `kernels_bench gemv_rows` runs only the
 * multi-row part. Single-threaded. Not a test. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "edgelm/kernels.h"
#include "kernels/cpu.h"
#include "kernels/panel.h"

enum { N = 4096, REPS = 7 };

/* The calling thread's CPU time: the benchmark is single-threaded, and on a shared machine wall
 * time would count the time other processes hold the core. */
static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static float sink;

/* Best time per call, in ns, of `iters` calls of a dot product or a row quantizer. */
static double time_dot(elm_vec_dot_fn dot, const void *x, const void *y, int iters)
{
    float s = 0;
    const double t0 = now_ns();
    for (int i = 0; i < iters; i++) {
        dot(N, &s, x, y);
        sink += s;
    }
    return (now_ns() - t0) / iters;
}

static double time_from_float(elm_from_float_fn f, const float *x, void *y, int iters)
{
    const double t0 = now_ns();
    for (int i = 0; i < iters; i++)
        f(x, y, N);
    sink += (float)((const uint8_t *)y)[0];
    return (now_ns() - t0) / iters;
}

/* Alternate the two kernels REPS times and keep each one's best: the machines are noisy. */
static void report(const char *what, const char *name, double ref_best, double fast_best)
{
    printf("%-10s %-6s ref %9.1f ns   dispatched %9.1f ns   speed-up %6.2fx\n", what, name,
           ref_best, fast_best, ref_best / fast_best);
}

static double min2(double a, double b)
{
    return a < b ? a : b;
}

/* ---- matrix products ---- */

/* n_out x n_act dot products the way the engine runs them without a gemm: output row outer. */
static void vec_dot_loop(const elm_type_traits_t *tr, int64_t n, int64_t n_out, int64_t n_act,
                         const uint8_t *w, size_t w_stride, const uint8_t *a, size_t a_stride,
                         float *y)
{
    for (int64_t o = 0; o < n_out; o++)
        for (int64_t r = 0; r < n_act; r++)
            tr->vec_dot(n, &y[r * n_out + o], w + o * w_stride, a + r * a_stride);
}

/* Best seconds of one product, over reps runs of each alternated. */
static void time_gemm(const elm_type_traits_t *tr, int64_t n, int64_t n_out, int64_t n_act,
                      const uint8_t *w, const uint8_t *a, float *y, int reps, double *t_gemm,
                      double *t_loop)
{
    const size_t w_stride = (size_t)n / tr->blck_size * tr->type_size;
    const elm_type_traits_t *at = elm_traits(tr->vec_dot_type);
    const size_t a_stride = (size_t)n / at->blck_size * at->type_size;
    *t_gemm = *t_loop = 1e300;
    for (int rep = 0; rep < reps; rep++) {
        double t0 = now_ns();
        tr->gemm(n, n_out, n_act, w, w_stride, a, a_stride, y, (size_t)n_out);
        *t_gemm = min2(*t_gemm, (now_ns() - t0) * 1e-9);
        sink += y[0];
        t0 = now_ns();
        vec_dot_loop(tr, n, n_out, n_act, w, w_stride, a, a_stride, y);
        *t_loop = min2(*t_loop, (now_ns() - t0) * 1e-9);
        sink += y[0];
    }
}

/* Random weights of n_out rows of n values in type t, and n_act activation rows for them. */
static void fill_product(const elm_type_traits_t *tr, int64_t n, int64_t n_out, int64_t n_act,
                         float *x, uint8_t *w, uint8_t *a)
{
    const elm_type_traits_t *at = elm_traits(tr->vec_dot_type);
    const size_t w_row = (size_t)n / tr->blck_size * tr->type_size;
    const size_t a_row = (size_t)n / at->blck_size * at->type_size;
    for (int64_t o = 0; o < n_out; o++) {
        for (int64_t i = 0; i < n; i++)
            x[i] = (float)rand() / RAND_MAX * 2 - 1;
        elm_traits_ref((int)tr->type)->quantize(x, w + o * w_row, n);
    }
    for (int64_t r = 0; r < n_act; r++) {
        for (int64_t i = 0; i < n; i++)
            x[i] = (float)rand() / RAND_MAX * 2 - 1;
        at->from_float(x, a + r * a_row, n);
    }
}

/* ---- the compute roofline ---- */

#if defined(__x86_64__)
#include <immintrin.h>

/* 12 independent chains of 512-bit FMAs (4-cycle latency, 2 a cycle where there are two
 * units): the most multiply-adds of f32 one core can do, in GMAC/s (one MAC per lane). */
__attribute__((target("avx512f"))) static double fma_peak_avx512(void)
{
    __m512 a[12];
    for (int i = 0; i < 12; i++)
        a[i] = _mm512_set1_ps(1.0f + (float)i * 1e-3f);
    const __m512 b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
    enum { ITERS = 20000000 };
    double best = 1e300;
    for (int rep = 0; rep < 3; rep++) {
        const double t0 = now_ns();
        for (int k = 0; k < ITERS; k++)
            _Pragma("GCC unroll 12") for (int i = 0; i < 12; i++)
                a[i] = _mm512_fmadd_ps(a[i], b, c);
        best = min2(best, (now_ns() - t0) * 1e-9);
    }
    __m512 s = a[0];
    for (int i = 1; i < 12; i++)
        s = _mm512_add_ps(s, a[i]);
    sink += _mm512_reduce_add_ps(s);
    return (double)ITERS * 12 * 16 / best * 1e-9;
}
#endif

/* The fp32 FMA peak of one core, GMAC/s, or 0 where this benchmark has no loop for the CPU. */
static double fma_peak(void)
{
#if defined(__x86_64__)
    if ((elm__cpu_flags() & ELM__CPU_TIER_AVX512) == ELM__CPU_TIER_AVX512) return fma_peak_avx512();
#endif
    return 0;
}

/* qwen2.5-0.5b's shapes: q and o (896 x 896), gate and up (4864 x 896), down (896 x 4864); 1
 * and 4 activation rows show where the gemm starts to pay, 64 is the engine's tile. */
static int bench_gemm(void)
{
    static const struct {
        const char *name;
        unsigned flags;
    } tiers[] = {{"avx2", ELM__CPU_TIER_AVX2}, {"avx512", ELM__CPU_TIER_AVX512}};
    static const int64_t shapes[][2] = {{896, 896}, {4864, 896}, {896, 4864}}; /* n_out, n */
    static const int64_t acts[] = {1, 4, 64, 512};
    enum { NMAX = 4864, NWEIGHTS = 4864 * 896, NACT = 512 };
    static elm_type_traits_t table[ELM_TYPE_COUNT];
    float *x = malloc(sizeof(float) * NMAX);
    uint8_t *w = malloc((size_t)NWEIGHTS * 4), *a = malloc((size_t)NACT * NMAX * 4);
    float *y = malloc(sizeof(float) * NMAX * NACT);
    if (!x || !w || !a || !y) return 1;
    const double peak = fma_peak();
    if (peak > 0)
        printf("fp32 FMA peak, one thread (12 chains of 512-bit FMAs): %.1f GMAC/s\n", peak);
    else
        printf("fp32 FMA peak: unavailable (the loop is written for AVX-512 only)\n");
    printf("gemm vs the loop of the same tier's vec_dots, one thread (GMAC/s, best of 3; f16: "
           "share of the FMA peak):\n");
    for (size_t ti = 0; ti < sizeof tiers / sizeof tiers[0]; ti++) {
        if ((elm__cpu_flags() & tiers[ti].flags) != tiers[ti].flags) {
            printf("%-6s skipped: this CPU lacks the tier\n", tiers[ti].name);
            continue;
        }
        elm__traits_fill(table, tiers[ti].flags);
        for (int t = 0; t < ELM_TYPE_COUNT; t++) {
            const elm_type_traits_t *tr = &table[t];
            if (!tr->name || !tr->gemm) continue;
            for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
                const int64_t n_out = shapes[si][0], n = shapes[si][1];
                fill_product(tr, n, n_out, NACT, x, w, a);
                for (size_t ai = 0; ai < sizeof acts / sizeof acts[0]; ai++) {
                    const int64_t n_act = acts[ai];
                    double tg, tl;
                    time_gemm(tr, n, n_out, n_act, w, a, y, 3, &tg, &tl);
                    const double gmac = (double)n_out * n * n_act * 1e-9;
                    printf("%-6s %-5s %4lld x %4lld, %3lld rows: gemm %7.1f  vec_dot loop %6.1f  "
                           "speed-up %5.2fx",
                           tiers[ti].name, tr->name, (long long)n_out, (long long)n,
                           (long long)n_act, gmac / tg, gmac / tl, tl / tg);
                    if (tr->type == ELM_TYPE_F16 && peak > 0)
                        printf("  %3.0f %% of peak", 100 * gmac / tg / peak);
                    printf("\n");
                }
            }
        }
    }
    free(x), free(w), free(a), free(y);
    return 0;
}

/* ---- multi-row gemv ---- */

/* Best seconds of one gemv_rows over n_act prepared rows (tr->gemv for one row), best of reps. */
static double time_gemv_rows(const elm_type_traits_t *tr, int64_t n, int64_t n_out, int64_t n_act,
                             const uint8_t *w, size_t w_stride, const uint8_t *p, size_t p_stride,
                             float *y, int reps)
{
    double best = 1e300;
    for (int rep = 0; rep < reps; rep++) {
        const double t0 = now_ns();
        if (n_act == 1) tr->gemv(n, n_out, w, w_stride, p, y);
        else tr->gemv_rows(n, n_out, w, w_stride, p, p_stride, n_act, y, (size_t)n_out);
        best = min2(best, (now_ns() - t0) * 1e-9);
        sink += y[0];
    }
    return best;
}

/* Best seconds of the panels' product of n_act prepared rows, best of reps. */
static double time_panels(const elm__panel_t *pk, int64_t n, int64_t n_out, int64_t n_act,
                          const uint8_t *w, const uint8_t *p, size_t p_stride, float *y, int reps)
{
    double best = 1e300;
    for (int rep = 0; rep < reps; rep++) {
        const double t0 = now_ns();
        pk->rows(n, n_out, w, elm__panel_bytes(pk, n), p, p_stride, n_act, y, (size_t)n_out);
        best = min2(best, (now_ns() - t0) * 1e-9);
        sink += y[0];
    }
    return best;
}

/* The panels' line of bench_gemv_rows: the same product repacked (kernels/panel.h), time per
 * activation row against the one-row gemv's. */
static int bench_panels(const elm_type_traits_t *tr, int64_t n, int64_t n_out, const uint8_t *w,
                        const uint8_t *a, const int64_t *acts, size_t n_acts, double one,
                        float *y)
{
    const elm__panel_t *pk = elm__panel(tr->type);
    if (!pk) return 0;
    const elm_type_traits_t *at = elm_traits(tr->vec_dot_type);
    const size_t pb = elm__panel_bytes(pk, n), w_stride = (size_t)n / tr->blck_size * tr->type_size;
    const size_t a_stride = (size_t)n / at->blck_size * at->type_size,
                 p_stride = (pk->prepare(n, NULL, NULL) + 63) / 64 * 64;
    uint8_t *panels = aligned_alloc(64, pb * (size_t)(n_out / ELM__PANEL_ROWS));
    uint8_t *p = aligned_alloc(64, p_stride * 8);
    if (!panels || !p) return 1;
    for (int64_t o = 0; o < n_out; o += ELM__PANEL_ROWS)
        elm__panel_pack(pk, n, w + (size_t)o * w_stride, w_stride,
                        panels + (size_t)(o / ELM__PANEL_ROWS) * pb);
    for (int r = 0; r < 8; r++)
        pk->prepare(n, a + r * a_stride, p + r * p_stride);
    printf("%-5s %4lld x %4lld panels (per row, of the gemv's 1 row):", tr->name, (long long)n_out,
           (long long)n);
    for (size_t ai = 0; ai < n_acts; ai++)
        printf("  %lld %5.2f", (long long)acts[ai],
               time_panels(pk, n, n_out, acts[ai], panels, p, p_stride, y, 5) / acts[ai] / one);
    printf("\n");
    free(panels), free(p);
    return 0;
}

/* Best seconds of n_out dot products with one row: vec_dots, or (loop) a vec_dot per row. */
static double time_vec_dots(const elm_type_traits_t *tr, int64_t n, int64_t n_out,
                            const uint8_t *x, size_t x_stride, const uint8_t *y, float *s,
                            bool loop, int reps)
{
    double best = 1e300;
    for (int rep = 0; rep < reps; rep++) {
        const double t0 = now_ns();
        if (loop)
            for (int64_t o = 0; o < n_out; o++)
                tr->vec_dot(n, &s[o], x + (size_t)o * x_stride, y);
        else tr->vec_dots(n, n_out, x, x_stride, y, s);
        best = min2(best, (now_ns() - t0) * 1e-9);
        sink += s[0];
    }
    return best;
}

/* Decode attention's products of one query head over a 400-position cache (f16): scores (400
 * keys of 64 values, in the cache's rows of 128 values: two KV heads) and the sums over values
 * (64 rows of 400 positions, in rows of 2048), vec_dots against the vec_dot loop. */
static int bench_vec_dots(void)
{
    static const struct {
        const char *what;
        int64_t n, n_out, stride; /* stride in values */
    } shapes[] = {{"scores", 64, 400, 128}, {"values", 400, 64, 2048}};
    const elm_type_traits_t *tr = elm_traits(ELM_TYPE_F16);
    if (!tr->vec_dots) {
        printf("f16 vec_dots skipped: none in this tier\n");
        return 0;
    }
    uint16_t *x = malloc(sizeof(uint16_t) * 64 * 2048), *y = malloc(sizeof(uint16_t) * 2048);
    float *s = malloc(sizeof(float) * 400);
    if (!x || !y || !s) return 1;
    for (int i = 0; i < 64 * 2048; i++)
        x[i] = elm_fp32_to_fp16((float)rand() / RAND_MAX * 2 - 1);
    for (int i = 0; i < 2048; i++)
        y[i] = elm_fp32_to_fp16((float)rand() / RAND_MAX * 2 - 1);
    printf("f16 vec_dots, one thread (best of 50):\n");
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const int64_t n = shapes[i].n, n_out = shapes[i].n_out;
        const size_t stride = (size_t)shapes[i].stride * sizeof(uint16_t);
        double tl = 1e300, td = 1e300;
        for (int r = 0; r < 5; r++) {
            tl = min2(tl, time_vec_dots(tr, n, n_out, (const uint8_t *)x, stride,
                                        (const uint8_t *)y, s, true, 10));
            td = min2(td, time_vec_dots(tr, n, n_out, (const uint8_t *)x, stride,
                                        (const uint8_t *)y, s, false, 10));
        }
        printf("%-6s %4lld rows of %4lld: vec_dot loop %7.2f us  vec_dots %7.2f us  speed-up "
               "%5.2fx\n",
               shapes[i].what, (long long)n_out, (long long)n, tl * 1e6, td * 1e6, tl / td);
    }
    free(x), free(y), free(s);
    return 0;
}

/* Decode of several sequences: the dispatched gemv_rows on 1, 2, 4 and 8 activation rows, time
 * per row against the one-row gemv's, on qwen2.5-0.5b's shapes (the output matrix's q8_0 rows
 * as 8192 of its 151936). */
static int bench_gemv_rows(void)
{
    static const int64_t shapes[][2] = {{4864, 896}, {896, 4864}, {8192, 896}}; /* n_out, n */
    static const int64_t acts[] = {1, 2, 4, 8};
    static const int types[] = {ELM_TYPE_Q4_0, ELM_TYPE_Q8_0};
    enum { NMAX = 4864, NWEIGHTS = 8192 * 896, NACT = 8 };
    float *x = malloc(sizeof(float) * NMAX), *y = malloc(sizeof(float) * 8192 * NACT);
    uint8_t *w = malloc((size_t)NWEIGHTS * 2), *a = malloc((size_t)NACT * NMAX * 2);
    uint8_t *p = aligned_alloc(64, (size_t)NACT * NMAX * 4);
    if (!x || !y || !w || !a || !p) return 1;
    printf("gemv_rows, one thread: time per activation row vs the one-row gemv (best of 5):\n");
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        const elm_type_traits_t *tr = elm_traits(types[t]);
        if (!tr->gemv_rows) {
            printf("%-5s skipped: no gemv_rows in this tier\n", tr->name);
            continue;
        }
        const elm_type_traits_t *at = elm_traits(tr->vec_dot_type);
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            const int64_t n_out = shapes[si][0], n = shapes[si][1];
            const size_t w_stride = (size_t)n / tr->blck_size * tr->type_size;
            const size_t a_stride = (size_t)n / at->blck_size * at->type_size;
            const size_t p_stride = (tr->gemv_prepare(n, NULL, NULL) + 63) / 64 * 64;
            fill_product(tr, n, n_out, NACT, x, w, a);
            for (int r = 0; r < NACT; r++)
                tr->gemv_prepare(n, a + r * a_stride, p + r * p_stride);
            const double one = time_gemv_rows(tr, n, n_out, 1, w, w_stride, p, p_stride, y, 5);
            printf("%-5s %4lld x %4lld: 1 row %8.1f us", tr->name, (long long)n_out, (long long)n,
                   one * 1e6);
            for (size_t ai = 1; ai < sizeof acts / sizeof acts[0]; ai++) {
                const double tk =
                    time_gemv_rows(tr, n, n_out, acts[ai], w, w_stride, p, p_stride, y, 5);
                printf("  %lld rows %5.2f", (long long)acts[ai], tk / acts[ai] / one);
            }
            printf("\n");
            if (bench_panels(tr, n, n_out, w, a, acts, sizeof acts / sizeof acts[0], one, y))
                return 1;
        }
    }
    free(x), free(y), free(w), free(a), free(p);
    return bench_vec_dots();
}

int main(int argc, char **argv)
{
    static const int types[] = {ELM_TYPE_Q4_0, ELM_TYPE_Q5_0, ELM_TYPE_Q8_0, ELM_TYPE_Q4_K,
                                ELM_TYPE_Q6_K, ELM_TYPE_F16,  ELM_TYPE_F32};
    static const int acts[] = {ELM_TYPE_Q8_0, ELM_TYPE_Q8_K, ELM_TYPE_F16};
    if (argc > 1 && strcmp(argv[1], "gemv_rows") == 0) /* only that part */
        return bench_gemv_rows() != 0 || sink == 12345.f;
    float *x = malloc(sizeof(float) * N), *y = malloc(sizeof(float) * N);
    uint8_t *xq = malloc(N * 4), *yq = malloc(N * 4);
    if (!x || !y || !xq || !yq) return 1;
    srand(1);
    for (int i = 0; i < N; i++) {
        x[i] = (float)rand() / RAND_MAX * 2 - 1;
        y[i] = (float)rand() / RAND_MAX * 2 - 1;
    }
    printf("cpu features: %s%s\n", elm_cpu_features(),
           getenv("EDGELM_NO_SIMD") ? " (EDGELM_NO_SIMD set)" : "");
    printf("vec_dot of one %d-long row:\n", N);
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        const elm_type_traits_t *tr = elm_traits(types[t]), *ref = elm_traits_ref(types[t]);
        ref->quantize(x, xq, N);
        elm_traits_ref(ref->vec_dot_type)->from_float(y, yq, N);
        double rb = 1e300, fb = 1e300;
        for (int r = 0; r < REPS; r++) {
            rb = min2(rb, time_dot(ref->vec_dot, xq, yq, 200));
            fb = min2(fb, time_dot(tr->vec_dot, xq, yq, 2000));
        }
        report("vec_dot", tr->name, rb, fb);
    }
    printf("from_float of one %d-long activation row:\n", N);
    for (size_t t = 0; t < sizeof acts / sizeof acts[0]; t++) {
        const elm_type_traits_t *tr = elm_traits(acts[t]), *ref = elm_traits_ref(acts[t]);
        double rb = 1e300, fb = 1e300;
        for (int r = 0; r < REPS; r++) {
            rb = min2(rb, time_from_float(ref->from_float, x, yq, 200));
            fb = min2(fb, time_from_float(tr->from_float, x, yq, 2000));
        }
        report("from_float", tr->name, rb, fb);
    }
    free(x), free(y), free(xq), free(yq);
    if (bench_gemv_rows() != 0) return 1;
    if (bench_gemm() != 0) return 1;
    return sink == 12345.f; /* keeps the results live */
}
