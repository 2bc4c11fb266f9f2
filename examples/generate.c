/* generate.c: the smallest complete use of libedgelm, and the API's tutorial (docs/library.md).
 * It loads a GGUF model, streams a greedy completion of a prompt to stdout as it is generated,
 * and prints what the engine measured (load, prompt and generation speed, time to first token).
 *
 *   cc generate.c $(pkg-config --cflags --libs edgelm) -o generate
 *   ./generate stories260K-f32.gguf "Once upon a time" 64
 *
 * (examples/CMakeLists.txt builds it with CMake's find_package(edgelm) instead.) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <edgelm/engine.h>
#include <edgelm/tokenizer.h>

/* What the token hook needs: the tokenizer, which knows the end-of-generation tokens, and a
 * streaming detokenizer, which holds back the bytes of a character split across tokens. */
typedef struct {
    const elm_tokenizer_t *tok;
    elm_detok_stream_t *stream;
} printer_t;

/* Called by elm_generate() with each sampled token; returning false stops the generation. */
static bool on_token(void *user, uint64_t t_ns, int32_t token, const float *logits,
                     uint32_t n_vocab)
{
    printer_t *p = user;
    (void)t_ns, (void)logits, (void)n_vocab;
    /* EOS is not the only end: chat models end a turn with their own token (<|im_end|>). */
    if (elm_tokenizer_is_eog(p->tok, token)) return false;
    const char *text;
    size_t len;
    if (elm_detok_stream_push(p->stream, token, &text, &len, NULL) == 0) {
        fwrite(text, 1, len, stdout);
        fflush(stdout); /* stream: show each piece as it comes */
    }
    return true;
}

int main(int argc, char **argv)
{
    const char *text = argc > 2 ? argv[2] : "Once upon a time";
    int64_t n_predict = 64;
    if (argc < 2 || argc > 4 || (argc > 3 && elm_parse_i64(argv[3], 1, 1 << 20, &n_predict))) {
        fprintf(stderr, "usage: %s MODEL.gguf [PROMPT [N_TOKENS (1..1048576, default 64)]]\n",
                argv[0]);
        return 2;
    }
    /* Every call that can fail returns 0 or a negative ELM_E* code and fills an elm_diag_t with
     * a message that names the thing at fault and the fix; the library itself never prints. */
    elm_diag_t diag = {0};
    int rc;
    elm_model_t *model = NULL;
    elm_tokenizer_t *tok = NULL;
    elm_session_t *session = NULL;
    elm_sampler_t *sampler = NULL;
    int32_t *prompt = NULL;
    size_t n_prompt = 0;
    printer_t printer = {0};
    int status = 1;

    /* 1. Hooks: the engine reports each phase (load, prefill, every token, done) through one
     * struct of callbacks. elm_timings_hooks() wraps ours in hooks that first note the time, so
     * the figures at the end come from the same events `edgelm bench` measures. */
    elm_timings_t timings;
    elm_hooks_t mine = {.user = &printer, .on_token = on_token}, hooks;
    elm_timings_hooks(&timings, &mine, &hooks);

    /* 2. The model: the file is mapped, not copied, and each tensor is checked against the
     * architecture's table before use. NULL params: the defaults; the hooks time the load. */
    if ((rc = elm_model_load(argv[1], NULL, &hooks, &model, &diag))) goto fail;
    const elm_hparams_t *hp = elm_model_hparams(model);

    /* 3. Text to token ids with the tokenizer stored in the same file; ADD_SPECIAL puts BOS in
     * front where the model was trained with it. */
    if ((rc = elm_tokenizer_from_gguf(elm_model_gguf(model), &tok, &diag))) goto fail;
    rc = elm_tokenize(tok, text, strlen(text), ELM_TOK_ADD_SPECIAL, &prompt, &n_prompt, &diag);
    if (rc) goto fail;
    if ((rc = elm_detok_stream_create(tok, 0, &printer.stream))) goto fail;
    printer.tok = tok;

    /* 4. A session owns the KV cache and runs the forward pass. Defaults: the trained context
     * (at most 4096 positions) and one thread; set n_threads to use more cores. */
    elm_session_params_t sp = elm_session_default_params();
    if ((rc = elm_session_create(model, &sp, &session, &diag))) goto fail;

    /* 5. The sampler chain with temperature 0 is greedy: the most likely token every time, so
     * the text is the same on every run. elm_sampler_default_params() alone samples as
     * llama.cpp does by default (temperature 0.8, top-k 40, top-p 0.95, min-p 0.05). */
    elm_sampler_params_t smp = elm_sampler_default_params();
    smp.temp = 0;
    if ((rc = elm_sampler_create(&smp, hp->n_vocab, &sampler, &diag))) goto fail;

    /* 6. Prefill the prompt in one forward pass, then sample and decode one token at a time
     * until n_predict tokens, the end of the text (on_token) or a full context. */
    elm_generate_params_t gp = {.n_predict = (uint32_t)n_predict, .eos_id = hp->eos_id};
    uint32_t n = (uint32_t)n_prompt;
    rc = elm_generate(session, sampler, prompt, n, &gp, &hooks, NULL, NULL, &diag);
    const char *rest; /* an unfinished character at the end comes out as U+FFFD */
    size_t len;
    if (elm_detok_stream_flush(printer.stream, &rest, &len) == 0) fwrite(rest, 1, len, stdout);
    printf("\n");
    if (rc) goto fail;

    /* 7. The figures, from the recorded phases. Generation speed leaves out the first token,
     * whose time is in TTFT (prefill and the first decode), as the benchmarks count them. */
    elm_timing_summary_t sum;
    elm_timings_summary(&timings, &sum);
    fprintf(stderr,
            "load %.1f ms | prompt %u tokens, %.1f tok/s | generated %u tokens, %.1f tok/s | "
            "TTFT %.1f ms\n",
            sum.load_ms, (unsigned)sum.n_prompt, sum.prefill_tps, (unsigned)sum.n_generated,
            sum.gen_tps, sum.ttft_ms);
    status = 0;
    goto done;
fail:
    fprintf(stderr, "generate: %s\n", diag.msg[0] ? diag.msg : elm_strerror(rc));
done:
    /* Every _create/_load has a _free that accepts NULL: one cleanup path for all outcomes. */
    elm_detok_stream_free(printer.stream);
    elm_sampler_free(sampler);
    elm_session_free(session);
    elm_tokenizer_free(tok);
    elm_model_free(model);
    free(prompt);
    return status;
}
