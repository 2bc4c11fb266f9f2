/* Decode benchmark: one activation row times every row of a weight matrix larger than the caches
 * (qwen2.5-0.5b's ffn_down, 896 rows of 4864 values, a length every block size divides, repeated
 * until it holds about 1.1 GB), the way a decode step streams its weights. For each type and 1
 * and 2 threads (rows split between plain pthreads) it times the AVX2 and the AVX-512 tier's
 * vec_dot and the read loop (elm_bench_read_sum: the tier's widest loads) over the same bytes,
 * back to back in rounds, and prints
 * effective GB/s (weight bytes / time) and the ratio kernel / read: 1.0 means decode runs at the
 * memory roofline; where a tier has a matrix × vector kernel (a gemv, or the f16 / bf16
 * vec_dots), that too, over tiles of rows as the engine decodes, a gemv's activation laid out
 * once per pass; and where the AVX-512 tier repacks the type into weight panels
 * (kernels/panel.h), the panels, as the engine decodes those. Then one row from the caches (the
 * kernels' compute ceiling) and the activation quantizers. Not a test.
 *
 * Usage: decode_bench [--cols N] [TYPE...]   (default: every type below; e.g. `decode_bench q6_K
 * q4_K`) */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "edgelm/bench.h"
#include "edgelm/kernels.h"
#include "kernels/cpu.h"
#include "kernels/panel.h"

enum { REPS = 15, MAX_THREADS = 2 };
/* The matrix: qwen2.5-0.5b's ffn_down unless --cols asks for rows of another length (its other
 * matrices' 896, say), with as many rows as keep about the same size. */
enum { ROWS_DEFAULT = 896, COLS_DEFAULT = 4864 };
static int mat_rows = ROWS_DEFAULT, mat_cols = COLS_DEFAULT;
enum { DECODE_TILE = 16 }; /* output rows per gemv call, as src/engine/matmul.c's decode tiles */
/* Past 1 GiB, far beyond any cache and any TLB reach, so the read loop measures memory alone. */
static const double TARGET_BYTES = 1.1e9;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- one pass over the weights, rows split between threads ---- */

typedef struct {
    const elm_type_traits_t *tr; /* NULL: the read loop (elm_bench_read_sum, the roofline) */
    bool gemv;                   /* mv_tile over tiles of rows instead of one vec_dot a row */
    const elm__panel_t *panel;   /* the panels at pw instead of w's rows */
    const uint8_t *w;            /* (n_rows, row_bytes) */
    const uint8_t *pw;           /* w repacked into panels, panel_bytes each */
    size_t panel_bytes;
    size_t row_bytes;
    int64_t n_rows;
    const void *act; /* one row in tr->vec_dot_type */
    void *prep;      /* gemv: act laid out by tr->gemv_prepare (once per pass, as the engine) */
    float *out;      /* (n_rows) */
    int thread, n_threads;
    uint64_t sink;
} pass_t;

/* The tier's matrix × vector kernel for this type, if it has one: what the engine decodes with. */
static bool has_mv(const elm_type_traits_t *tr)
{
    return tr->gemv || tr->vec_dots;
}

/* n_out rows of w times the activation: the gemv on its layout prep, else vec_dots on act. */
static void mv_tile(const elm_type_traits_t *tr, int64_t n_out, const uint8_t *w, size_t row_bytes,
                    const void *act, const void *prep, float *out)
{
    if (tr->gemv)
        tr->gemv(mat_cols, n_out, w, row_bytes, prep, out);
    else
        tr->vec_dots(mat_cols, n_out, w, row_bytes, act, out);
}

static void *pass_run(void *arg)
{
    pass_t *p = arg;
    const int64_t r0 = p->n_rows * p->thread / p->n_threads;
    const int64_t r1 = p->n_rows * (p->thread + 1) / p->n_threads;
    if (!p->tr) {
        p->sink =
            elm_bench_read_sum(p->w + (size_t)r0 * p->row_bytes, (size_t)(r1 - r0) * p->row_bytes);
        return NULL;
    }
    if (p->panel) { /* a panel at a time, each thread a share of them */
        const int64_t n_panels = p->n_rows / ELM__PANEL_ROWS;
        const int64_t k0 = n_panels * p->thread / p->n_threads,
                      k1 = n_panels * (p->thread + 1) / p->n_threads;
        const void *in = p->panel->prepare ? p->prep : p->act;
        for (int64_t k = k0; k < k1; k++)
            p->panel->rows(mat_cols, ELM__PANEL_ROWS, p->pw + (size_t)k * p->panel_bytes,
                           p->panel_bytes, in, 0, 1, &p->out[k * ELM__PANEL_ROWS], ELM__PANEL_ROWS);
        return NULL;
    }
    if (p->gemv) { /* as the engine decodes: tiles of DECODE_TILE rows */
        for (int64_t r = r0; r < r1; r += DECODE_TILE)
            mv_tile(p->tr, r1 - r < DECODE_TILE ? r1 - r : DECODE_TILE,
                    p->w + (size_t)r * p->row_bytes, p->row_bytes, p->act, p->prep, &p->out[r]);
        return NULL;
    }
    for (int64_t r = r0; r < r1; r++)
        p->tr->vec_dot(mat_cols, &p->out[r], p->w + (size_t)r * p->row_bytes, p->act);
    return NULL;
}

static uint64_t sink;

/* The median of REPS values (sorts them). */
static double median(double *v)
{
    elm_stats_sort(v, REPS);
    return v[REPS / 2];
}

/* Seconds for one pass with n_threads threads (the first runs on the calling thread). */
static double time_pass(pass_t base, int n_threads)
{
    pass_t p[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    const double t0 = now_s();
    if (base.gemv && base.tr->gemv) base.tr->gemv_prepare(mat_cols, base.act, base.prep);
    if (base.panel && base.panel->prepare) base.panel->prepare(mat_cols, base.act, base.prep);
    for (int t = 0; t < n_threads; t++) {
        p[t] = base;
        p[t].thread = t;
        p[t].n_threads = n_threads;
        if (t > 0 && pthread_create(&tid[t], NULL, pass_run, &p[t]) != 0) {
            fprintf(stderr, "decode: pthread_create failed\n");
            exit(1);
        }
    }
    pass_run(&p[0]);
    for (int t = 1; t < n_threads; t++)
        pthread_join(tid[t], NULL);
    const double dt = now_s() - t0;
    for (int t = 0; t < n_threads; t++)
        sink += p[t].sink;
    return dt;
}

/* ---- main ---- */

int main(int argc, char **argv)
{
    static const int all[] = {ELM_TYPE_Q4_0, ELM_TYPE_Q8_0, ELM_TYPE_Q5_0,
                              ELM_TYPE_Q4_1, ELM_TYPE_Q4_K, ELM_TYPE_Q5_K,
                              ELM_TYPE_Q6_K, ELM_TYPE_F16,  ELM_TYPE_BF16};
    enum { N_ALL = sizeof all / sizeof all[0] };
    int types[N_ALL];
    size_t n_types = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--cols") == 0) {
            char *end = NULL;
            const long c = i + 1 < argc ? strtol(argv[++i], &end, 10) : 0;
            if (!end || *end || c < 32 || c > 65536 || c % 32) {
                fprintf(stderr, "decode_bench: --cols %s: give a multiple of 32 from 32 to 65536\n",
                        end ? argv[i] : "(missing)");
                return 2;
            }
            mat_cols = (int)c;
            mat_rows = (int)(((long)ROWS_DEFAULT * COLS_DEFAULT / c + 15) / 16 * 16);
            continue;
        }
        size_t k = 0;
        while (k < N_ALL && strcmp(argv[i], elm_traits_ref(all[k])->name) != 0)
            k++;
        if (k == N_ALL || n_types == N_ALL) {
            const bool help = strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0;
            if (!help)
                fprintf(stderr, "decode_bench: %s '%s'\n",
                        k == N_ALL ? "unknown type" : "too many types at", argv[i]);
            fprintf(help ? stdout : stderr,
                    "usage: %s [--cols N] [TYPE...]\n  times the decode kernels of each TYPE "
                    "(default: all of",
                    argv[0]);
            for (size_t j = 0; j < N_ALL; j++)
                fprintf(help ? stdout : stderr, " %s", elm_traits_ref(all[j])->name);
            fprintf(help ? stdout : stderr,
                    ") on a matrix of %d rows of %d values (qwen2.5-0.5b's ffn_down), or with "
                    "--cols on rows of N values, as many as make the same size\n",
                    ROWS_DEFAULT, COLS_DEFAULT);
            return help ? 0 : 2;
        }
        types[n_types++] = all[k];
    }
    if (n_types == 0) {
        memcpy(types, all, sizeof all);
        n_types = N_ALL;
    }
    const unsigned cpu = elm__cpu_flags();
    const int has_avx2 = (cpu & ELM__CPU_TIER_AVX2) == ELM__CPU_TIER_AVX2;
    const int has_avx512 = (cpu & ELM__CPU_TIER_AVX512) == ELM__CPU_TIER_AVX512;
    static elm_type_traits_t tier[2][ELM_TYPE_COUNT];
    elm__traits_fill(tier[0], cpu & ELM__CPU_TIER_AVX2);
    elm__traits_fill(tier[1], cpu & ELM__CPU_TIER_AVX512);
    printf("cpu features: %s\n", elm_cpu_features());
    if (!has_avx2) printf("no AVX2 tier on this CPU: the avx2 column is the scalar reference\n");
    if (!has_avx512) printf("no AVX-512 tier on this CPU: the avx512 column is the avx2 one\n");
    printf("matrix %d rows x %d, repeated to about %.0f MB; %d rounds of read loop, avx2, avx512 "
           "back to back: GB/s of the best pass, ratios the median of the rounds'\n",
           mat_rows, mat_cols, TARGET_BYTES / 1e6, REPS);
    printf("gemv: the tier's matrix x vector kernel where it has one (a gemv, its activation "
           "laid out once per pass, or the f16 / bf16 vec_dots), over tiles of %d rows as the "
           "engine decodes (else the engine loops over vec_dot, as in the avx2 / avx512 "
           "columns)\n",
           DECODE_TILE);
    printf("panels: the AVX-512 tier's weight panels where it repacks the type (what the engine "
           "decodes those with), a panel of %d rows a call\n",
           ELM__PANEL_ROWS);
    printf(
        "| type | th | MB | read GB/s | avx2 GB/s | avx2/read | avx512 GB/s | avx512/read | "
        "avx512/avx2 | avx2 gemv GB/s | gemv/read | avx512 gemv GB/s | gemv/read | panels GB/s | "
        "panels/read |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: |\n");

    float *x = malloc(sizeof(float) * mat_rows * mat_cols), *a = malloc(sizeof(float) * mat_cols);
    if (!x || !a) return 1;
    srand(1);
    for (int64_t i = 0; i < (int64_t)mat_rows * mat_cols; i++)
        x[i] = (float)((double)rand() / RAND_MAX * 2 - 1);
    for (int i = 0; i < mat_cols; i++)
        a[i] = (float)((double)rand() / RAND_MAX * 2 - 1);

    double cached[N_ALL][5]; /* GB/s from L1/L2: one row's vec_dot per tier, a gemv tile, a
                                  panel */
    for (size_t ti = 0; ti < n_types; ti++) {
        const elm_type_traits_t *ref = elm_traits_ref(types[ti]);
        const elm_type_traits_t *vref = elm_traits_ref(ref->vec_dot_type);
        if (mat_cols % ref->blck_size || mat_cols % vref->blck_size) {
            printf("| %s | skipped: rows of %d values are not whole blocks of %d |\n", ref->name,
                   mat_cols, ref->blck_size > vref->blck_size ? ref->blck_size : vref->blck_size);
            cached[ti][0] = -1;
            continue;
        }
        const size_t row_bytes = mat_cols / ref->blck_size * ref->type_size;
        const size_t mat_bytes = row_bytes * mat_rows;
        const int copies = (int)((TARGET_BYTES + mat_bytes - 1) / mat_bytes);
        const int64_t n_rows = (int64_t)mat_rows * copies;
        uint8_t *w = elm_big_alloc(mat_bytes * copies); /* huge pages, as weights in memory */
        uint8_t *act = malloc(mat_cols * 4);
        float *out = malloc(sizeof(float) * n_rows);
        void *prep =
            aligned_alloc(64, mat_cols * 4); /* room for every layout: at most 2.5 B/value */
        if (!w || !act || !out || !prep) return 1;
        ref->quantize(x, w, (int64_t)mat_rows * mat_cols);
        for (int c = 1; c < copies; c++)
            memcpy(w + mat_bytes * c, w, mat_bytes);
        const elm__panel_t *pk = elm__panel_tier(types[ti], cpu);
        const size_t pb = pk ? elm__panel_bytes(pk, mat_cols) : 0,
                     pmat = pb * (mat_rows / ELM__PANEL_ROWS);
        uint8_t *pw = pk ? elm_big_alloc(pmat * copies) : NULL;
        if (pk && !pw) return 1;
        for (int64_t o = 0; pk && o < mat_rows; o += ELM__PANEL_ROWS)
            elm__panel_pack(pk, mat_cols, w + (size_t)o * row_bytes, row_bytes,
                            pw + (size_t)(o / ELM__PANEL_ROWS) * pb);
        for (int c = 1; pk && c < copies; c++)
            memcpy(pw + pmat * c, pw, pmat);
        vref->from_float(a, act, mat_cols);
        const double bytes = (double)mat_bytes * copies;
        for (int nt = 1; nt <= MAX_THREADS; nt++) {
            pass_t base = {NULL,   false, NULL, w,   pw, pb, row_bytes,
                           n_rows, act,   prep, out, 0,  1,  0};
            /* Each round times the read loop and both tiers back to back; the ratios are the
             * medians of the rounds' ratios, which the host's swings in bandwidth move less
             * than a ratio of best times taken at different moments. */
            /* read, avx2, avx512 (vec_dot loops), avx2 gemv, avx512 gemv, panels */
            const bool gemv[6] = {
                false,     false, false, has_mv(&tier[0][types[ti]]), has_mv(&tier[1][types[ti]]),
                pk != NULL};
            double best[6] = {1e30, 1e30, 1e30, 1e30, 1e30, 1e30};
            /* avx2/read, avx512/read, avx512/avx2, gemv/read, gemv/read, panels/read */
            double ratio[6][REPS];
            for (int r = 0; r < REPS; r++) {
                double dt[6];
                for (int k = 0; k < 6; k++) {
                    if (k >= 3 && !gemv[k]) continue;
                    base.tr = k == 0 ? NULL : &tier[k == 1 || k == 3 ? 0 : 1][types[ti]];
                    base.gemv = k == 3 || k == 4;
                    base.panel = k == 5 ? pk : NULL;
                    dt[k] = time_pass(base, nt);
                    if (dt[k] < best[k]) best[k] = dt[k];
                }
                ratio[0][r] = dt[0] / dt[1];
                ratio[1][r] = dt[0] / dt[2];
                ratio[2][r] = dt[1] / dt[2];
                for (int k = 3; k < 6; k++)
                    ratio[k][r] = gemv[k] ? dt[0] / dt[k] : 0;
            }
            char gv[3][64] = {"- | -", "- | -", "- | -"};
            for (int k = 3; k < 6; k++)
                if (gemv[k])
                    snprintf(gv[k - 3], sizeof gv[0], "%.1f | %.2f", bytes / best[k] / 1e9,
                             median(ratio[k]));
            printf("| %s | %d | %.0f | %.1f | %.1f | %.2f | %.1f | %.2f | %.2fx | %s | %s | %s |\n",
                   ref->name, nt, bytes / 1e6, bytes / best[0] / 1e9, bytes / best[1] / 1e9,
                   median(ratio[0]), bytes / best[2] / 1e9, median(ratio[1]), median(ratio[2]),
                   gv[0], gv[1], gv[2]);
            fflush(stdout);
        }
        /* The compute ceiling: one row over and over, from the caches. */
        for (int k = 0; k < 2; k++)
            cached[ti][k] = 1e30;
        for (int r = 0; r < 2000; r++)
            for (int k = 0; k < 2; k++) {
                const double t0 = now_s();
                for (int c = 0; c < 8; c++)
                    tier[k][types[ti]].vec_dot(mat_cols, &out[c], w, act);
                const double dt = (now_s() - t0) / 8;
                if (dt < cached[ti][k]) cached[ti][k] = dt;
            }
        for (int k = 0; k < 2; k++)
            cached[ti][k] = row_bytes / cached[ti][k] / 1e9;
        for (int k = 0; k < 2; k++) {
            cached[ti][2 + k] = 0;
            const elm_type_traits_t *tr = &tier[k][types[ti]];
            if (!has_mv(tr)) continue;
            double dt_best = 1e30;
            for (int r = 0; r < 2000; r++) {
                const double t0 = now_s();
                if (tr->gemv) tr->gemv_prepare(mat_cols, act, prep);
                mv_tile(tr, DECODE_TILE, w, row_bytes, act, prep, out);
                const double dt = now_s() - t0;
                if (dt < dt_best) dt_best = dt;
            }
            cached[ti][2 + k] = row_bytes * DECODE_TILE / dt_best / 1e9;
        }
        cached[ti][4] = 0;
        if (pk) {
            double dt_best = 1e30;
            const void *in = pk->prepare ? prep : act;
            for (int r = 0; r < 2000; r++) {
                const double t0 = now_s();
                if (pk->prepare) pk->prepare(mat_cols, act, prep);
                pk->rows(mat_cols, ELM__PANEL_ROWS, pw, pb, in, 0, 1, out, ELM__PANEL_ROWS);
                const double dt = now_s() - t0;
                if (dt < dt_best) dt_best = dt;
            }
            cached[ti][4] = pb / dt_best / 1e9;
        }
        elm_big_free(w, mat_bytes * copies), free(act), free(out), free(prep);
        if (pw) elm_big_free(pw, pmat * copies);
    }
    printf("\none row from the caches, 1 thread (the kernels' compute ceiling, best of 2000; gemv: "
           "the activation's layout, if any, and one tile of %d rows; panels: the layout, if "
           "any, and one panel):\n"
           "| type | avx2 GB/s | avx512 GB/s | avx512/avx2 | avx2 gemv GB/s | avx512 gemv GB/s | "
           "panels GB/s |\n"
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
           DECODE_TILE);
    for (size_t ti = 0; ti < n_types; ti++) {
        if (cached[ti][0] < 0) continue;
        char gv[3][32] = {"-", "-", "-"};
        for (int k = 0; k < 3; k++)
            if (cached[ti][2 + k] > 0) snprintf(gv[k], sizeof gv[k], "%.1f", cached[ti][2 + k]);
        printf("| %s | %.1f | %.1f | %.2fx | %s | %s | %s |\n", elm_traits_ref(types[ti])->name,
               cached[ti][0], cached[ti][1], cached[ti][1] / cached[ti][0], gv[0], gv[1], gv[2]);
    }
    /* The activation quantizers run once per matrix product, on one row: far from the weights'
     * cost, but timed the same way. */
    printf("\nactivation quantizer, one %d-long row (ns, best of 2000):\n", mat_cols);
    static const int acts[] = {ELM_TYPE_Q8_0, ELM_TYPE_Q8_K};
    uint8_t *q = malloc(mat_cols * 4);
    if (!q) return 1;
    for (size_t ai = 0; ai < sizeof acts / sizeof acts[0]; ai++) {
        if (mat_cols % elm_traits_ref(acts[ai])->blck_size) continue;
        double best[2] = {1e30, 1e30};
        for (int r = 0; r < 2000; r++)
            for (int k = 0; k < 2; k++) {
                const double t0 = now_s();
                tier[k][acts[ai]].from_float(a, q, mat_cols);
                const double dt = now_s() - t0;
                sink += q[0];
                if (dt < best[k]) best[k] = dt;
            }
        printf("  %s: avx2 %.0f ns, avx512 %.0f ns (%.2fx)\n", elm_traits_ref(acts[ai])->name,
               best[0] * 1e9, best[1] * 1e9, best[0] / best[1]);
    }
    free(q);
    free(x), free(a);
    return sink == 42 ? 2 : 0; /* keeps the read loop's sums alive */
}
