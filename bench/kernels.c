/* Kernel benchmark: nanoseconds per vec_dot of one 4096-long row (and per activation row
 * quantized by from_float) for the dispatched kernels and the scalar reference, measured
 * alternately in the same run; prints the speed-up ref / dispatched. Not a test. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "edgelm/kernels.h"

enum { N = 4096, REPS = 7 };

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
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

int main(void)
{
    static const int types[] = {ELM_TYPE_Q4_0, ELM_TYPE_Q5_0, ELM_TYPE_Q8_0, ELM_TYPE_Q4_K,
                                ELM_TYPE_Q6_K, ELM_TYPE_F16,  ELM_TYPE_F32};
    static const int acts[] = {ELM_TYPE_Q8_0, ELM_TYPE_Q8_K, ELM_TYPE_F16};
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
    return sink == 12345.f; /* keeps the results live */
}
