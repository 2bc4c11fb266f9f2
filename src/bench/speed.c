/* llama-bench's ppN and tgN tests on a loaded model, timed around the engine's decode calls, and
 * the streaming read loop whose bandwidth is their roofline: the pieces benchmarks/speed.c and
 * benchmarks/decode.c measure with. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgelm/bench.h"
#include "edgelm/ops.h"

/* ---- ppN / tgN ---- */

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}

int elm_bench_pptg(const elm_model_t *m, int threads, uint32_t n_prompt, uint32_t n_gen,
                   uint32_t reps, elm_stat_t *tps, elm_diag_t *d)
{
    elm_session_t *s = NULL;
    int32_t *tok = NULL;
    double *x = NULL;
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    uint32_t n = n_prompt ? n_prompt : n_gen, n_vocab = elm_model_hparams(m)->n_vocab;
    elm_session_params_t sp = elm_session_default_params();
    int rc;
    memset(tps, 0, sizeof *tps);
    snprintf(tps->why, sizeof tps->why, "not measured");
    if ((n_prompt == 0) == (n_gen == 0) || reps == 0) {
        rc = elm_diag(d, ELM_EINVAL,
                      "a speed test is ppN or tgN (one of %u prompt and %u generated "
                      "tokens, the other 0) over at least one repetition, not %u",
                      n_prompt, n_gen, reps);
        goto fail;
    }
    sp.n_ctx = n_prompt + n_gen;
    sp.n_threads = threads;
    sp.n_threads_batch = threads; /* llama-bench -t: one count for prefill and generation */
    tok = malloc(sizeof *tok * n);
    x = malloc(sizeof *x * reps);
    if (!tok || !x) {
        rc = elm_diag(d, ELM_ENOMEM, "out of memory for a speed test of %u tokens", n);
        goto fail;
    }
    if ((rc = elm_session_create(m, &sp, &s, d))) goto fail;
    for (uint32_t i = 0; i < n; i++)
        tok[i] = (int32_t)(rng_next(&seed) % n_vocab);
    /* An encoder-decoder model's ppN is its encoder over N tokens; its tgN decodes N tokens
     * after an untimed encoder input of N tokens, so cross-attention reads as much as it
     * writes. */
    const bool enc = elm_model_hparams(m)->has_encoder;
    for (int64_t r = -1; r < (int64_t)reps; r++) { /* r = -1: the warm-up */
        uint64_t ns = 0;
        elm_session_reset(s);
        if (n_prompt) {
            uint64_t t0 = elm_time_ns();
            if ((rc = enc ? elm_session_encode(s, 0, tok, n, d)
                          : elm_session_decode(s, tok, n, false, d)))
                goto fail;
            ns = elm_time_ns() - t0;
        } else {
            if (enc && (rc = elm_session_encode(s, 0, tok, n, d))) goto fail;
            for (uint32_t i = 0; i < (r < 0 ? 1 : n); i++) {
                int32_t t = (int32_t)(rng_next(&seed) % n_vocab);
                uint64_t t0 = elm_time_ns();
                if ((rc = elm_session_decode(s, &t, 1, false, d))) goto fail;
                ns += elm_time_ns() - t0;
            }
        }
        if (r >= 0) x[r] = n / (ns * 1e-9);
    }
    elm_bench_stat(x, reps, tps);
fail:
    elm_session_free(s);
    free(tok);
    free(x);
    return rc;
}

/* ---- read bandwidth ---- */

uint64_t elm_bench_read_sum(const void *buf, size_t n)
{
    return elm_ops()->read_sum(buf, n);
}

typedef struct {
    const uint8_t *p;
    size_t n;
    uint64_t sum;
} share_t;

static void *sum_share(void *arg)
{
    share_t *sh = arg;
    sh->sum = elm_bench_read_sum(sh->p, sh->n);
    return NULL;
}

/* Keeps the sums, so the compiler keeps the loop. */
static volatile uint64_t read_sink;

int elm_bench_read_gbs(const void *buf, size_t bytes, int threads, uint32_t passes, double *gbs,
                       elm_diag_t *d)
{
    pthread_t tid[ELM_BENCH_MAX_READ_THREADS];
    share_t sh[ELM_BENCH_MAX_READ_THREADS];
    size_t per = threads > 0 ? bytes / (size_t)threads / 64 * 64 : 0;
    int rc = 0;
    *gbs = 0;
    if (threads < 1 || threads > ELM_BENCH_MAX_READ_THREADS || passes == 0 || per == 0)
        return elm_diag(d, ELM_EINVAL,
                        "read bandwidth: %d threads (1..%d), %u passes (>= 1) "
                        "and %zu bytes (>= 64 a thread) do not make a measurement",
                        threads, ELM_BENCH_MAX_READ_THREADS, passes, bytes);
    for (uint32_t pass = 0; pass <= passes; pass++) { /* pass 0 warms the TLB and thread start */
        int started = 1, err = 0;
        uint64_t t0 = elm_time_ns();
        for (int i = 0; i < threads; i++)
            sh[i] = (share_t){(const uint8_t *)buf + (size_t)i * per, per, 0};
        for (; started < threads && !err; started++)
            err = pthread_create(&tid[started], NULL, sum_share, &sh[started]);
        if (err) started--;
        sum_share(&sh[0]);
        for (int i = 1; i < started; i++)
            pthread_join(tid[i], NULL);
        double s = (double)(elm_time_ns() - t0) * 1e-9;
        if (err) {
            rc = elm_diag(d, elm_from_errno(err),
                          "read bandwidth: cannot start thread %d of %d (%s)", started + 1, threads,
                          strerror(err));
            *gbs = 0;
            break;
        }
        for (int i = 0; i < threads; i++)
            read_sink += sh[i].sum;
        double g = (double)(per * (size_t)threads) / s * 1e-9;
        if (pass > 0 && g > *gbs) *gbs = g;
    }
    return rc;
}
