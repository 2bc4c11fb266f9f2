/* Batched decode benchmark: the engine's output tokens per CPU-second when 1, 2, 4 and 8
 * sequences decode together (one row each per pass, as `edgelm serve` steps them) after prompts
 * of the same length, on one thread, and each against one sequence's: the throughput ratio of
 * `make bench-serve` without HTTP, and measured in process CPU time so that other work on a
 * shared machine moves it less; the best of three runs. Not a test.
 *
 *     batch_bench MODEL.gguf [PROMPT_TOKENS (390)] [STEPS (32)] [CTX (2048, serve's default)] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "edgelm/engine.h"

enum { MAX_SEQ = 8, REPS = 3 };

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Sequence q's token at position p: every sequence its own text. */
static int32_t tok(uint32_t n_vocab, uint32_t q, uint32_t p)
{
    return (int32_t)((q * 7919u + p * 104729u + 11u) % (n_vocab - 1000u) + 500u);
}

static int run(elm_session_t *s, const elm_batch_row_t *rows, uint32_t n)
{
    elm_diag_t d;
    if (elm_session_decode_batch(s, rows, n, &d) == 0) return 0;
    fprintf(stderr, "batch_bench: %s\n", d.msg);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: batch_bench MODEL.gguf [PROMPT_TOKENS] [STEPS] [CTX]\n");
        return 2;
    }
    const uint32_t n_prompt = argc > 2 ? (uint32_t)atoi(argv[2]) : 390;
    const uint32_t steps = argc > 3 ? (uint32_t)atoi(argv[3]) : 32;
    const uint32_t n_ctx = argc > 4 ? (uint32_t)atoi(argv[4]) : 2048;
    elm_model_t *m = NULL;
    elm_session_t *s = NULL;
    elm_batch_row_t *rows = malloc(sizeof *rows * (n_prompt > MAX_SEQ ? n_prompt : MAX_SEQ));
    elm_diag_t d;
    int rc = 1;
    if (!rows || n_prompt < 1 || steps < 1 || n_ctx < n_prompt + steps) goto fail;
    if (elm_model_load(argv[1], NULL, NULL, &m, &d)) {
        fprintf(stderr, "batch_bench: %s\n", d.msg);
        goto fail;
    }
    const uint32_t nv = elm_model_hparams(m)->n_vocab;
    elm_session_params_t sp = elm_session_default_params();
    sp.n_seq = MAX_SEQ;
    sp.n_ctx = n_ctx;
    sp.n_threads = 1;
    if (elm_session_create(m, &sp, &s, &d)) {
        fprintf(stderr, "batch_bench: %s\n", d.msg);
        goto fail;
    }
    for (uint32_t q = 0; q < MAX_SEQ; q++) {
        for (uint32_t p = 0; p < n_prompt; p++)
            rows[p] = (elm_batch_row_t){tok(nv, q, p), q, p, p + 1 == n_prompt};
        if (run(s, rows, n_prompt)) goto fail;
    }
    printf("decode after %u-token prompts, %u passes, one thread (process CPU time, best of %d):\n",
           n_prompt, steps, REPS);
    double one = 0;
    for (uint32_t k = 1; k <= MAX_SEQ; k *= 2) {
        double best = 1e300;
        for (int rep = 0; rep < REPS; rep++) {
            for (uint32_t q = 0; q < k; q++)
                if (elm_session_seq_truncate(s, q, n_prompt)) goto fail;
            const double t0 = cpu_s();
            for (uint32_t st = 0; st < steps; st++) {
                for (uint32_t q = 0; q < k; q++)
                    rows[q] = (elm_batch_row_t){tok(nv, q, n_prompt + st), q, n_prompt + st, true};
                if (run(s, rows, k)) goto fail;
            }
            const double t = cpu_s() - t0;
            if (t < best) best = t;
        }
        const double tps = k * steps / best;
        if (k == 1) one = tps;
        printf("%u sequences: %7.1f tok/s  %5.2fx one sequence\n", k, tps, tps / one);
    }
    rc = 0;
fail:
    elm_session_free(s);
    elm_model_free(m);
    free(rows);
    return rc;
}
