/* Perplexity by llama-perplexity's method (llama.cpp examples/perplexity/perplexity.cpp,
 * perplexity()): non-overlapping chunks of n_ctx tokens, BOS first, each from an empty cache, the
 * second half of every chunk scored so that each scored token has at least n_ctx/2 of context;
 * and the JSON records of a run and its chunks. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "edgelm/eval.h"

elm_ppl_params_t elm_ppl_default_params(void)
{
    return (elm_ppl_params_t){.n_ctx = 512,
                              .n_batch = 512,
                              .n_threads = 1,
                              .kv_type = ELM_TYPE_F16,
                              .drop_trailing_newline = true};
}

/* -log softmax(logits)[target], computed as llama-perplexity does: f32 exp of the shifted
 * logits, summed in double. */
static double token_nll(const float *logits, uint32_t n_vocab, int32_t target)
{
    float max = logits[0];
    for (uint32_t i = 1; i < n_vocab; i++)
        if (logits[i] > max) max = logits[i];
    double sum = 0;
    for (uint32_t i = 0; i < n_vocab; i++)
        sum += expf(logits[i] - max);
    return -((double)logits[target] - max - log(sum));
}

/* The estimate from the running sums: PPL and its standard error by the delta method,
 * PPL * sqrt(var(nll) / (count - 1)), as llama-perplexity prints it. */
static void estimate(double nll, double nll2, uint64_t count, double *ppl, double *err)
{
    double mean = nll / (double)count;
    *ppl = exp(mean);
    double var = nll2 / (double)count - mean * mean;
    *err = count > 1 && var > 0 ? *ppl * sqrt(var / (double)(count - 1)) : 0;
}

/* Perplexity needs a model that predicts the text's next token from the text before it. */
static int check_decoder_only(const elm_model_t *m, elm_diag_t *diag)
{
    if (!elm_model_hparams(m)->has_encoder) return 0;
    return elm_diag(diag, ELM_ENOTSUP,
                    "perplexity over a text stream is not defined for an encoder-decoder model "
                    "(architecture %s): its decoder predicts an answer to an encoder input, not "
                    "the next token of the text (llama-perplexity has the same limit); use eval "
                    "gsm8k, or a decoder-only model",
                    elm_model_hparams(m)->arch);
}

int elm_ppl_tokens(const elm_model_t *m, const int32_t *tokens, size_t n_tokens, int32_t bos,
                   const elm_ppl_params_t *p, elm_ppl_chunk_fn on_chunk, void *user,
                   elm_ppl_result_t *out, elm_diag_t *diag)
{
    memset(out, 0, sizeof *out);
    const uint32_t n_ctx = p->n_ctx;
    int rc;
    if ((rc = check_decoder_only(m, diag))) return rc;
    if (n_ctx < 4)
        return elm_diag(diag, ELM_EINVAL,
                        "perplexity context of %" PRIu32 " tokens is too small: each chunk scores "
                        "its second half, so give at least 4",
                        n_ctx);
    if (n_tokens / 2 < n_ctx)
        return elm_diag(diag, ELM_EINVAL,
                        "the text is %zu tokens long; perplexity with a context of %" PRIu32
                        " needs at least %" PRIu64 " tokens (two chunks): give a longer text or "
                        "a smaller context",
                        n_tokens, n_ctx, 2 * (uint64_t)n_ctx);
    const elm_hparams_t *hp = elm_model_hparams(m);
    if (bos >= 0 && (uint32_t)bos >= hp->n_vocab)
        return elm_diag(diag, ELM_EINVAL,
                        "BOS token %" PRId32 " is outside the vocabulary of %" PRIu32, bos,
                        hp->n_vocab);
    for (size_t i = 0; i < n_tokens; i++)
        if (tokens[i] < 0 || (uint32_t)tokens[i] >= hp->n_vocab)
            return elm_diag(diag, ELM_EINVAL,
                            "token %zu of the text (%" PRId32 ") is outside the vocabulary of "
                            "%" PRIu32,
                            i, tokens[i], hp->n_vocab);

    elm_session_t *s = NULL;
    int32_t *chunk = malloc(n_ctx * sizeof *chunk);
    if (!chunk) return elm_diag(diag, ELM_ENOMEM, "perplexity: out of memory for a chunk");
    elm_session_params_t sp = elm_session_default_params();
    sp.n_ctx = n_ctx;
    sp.n_batch = p->n_batch;
    sp.n_threads = p->n_threads;
    sp.kv_type = p->kv_type;
    if ((rc = elm_session_create(m, &sp, &s, diag))) goto fail;

    const uint32_t n_chunks = (uint32_t)(n_tokens / n_ctx);
    const uint32_t first = n_ctx / 2;
    double nll = 0, nll2 = 0;
    uint64_t count = 0;
    for (uint32_t c = 0; c < n_chunks; c++) {
        const int32_t *src = tokens + (size_t)c * n_ctx;
        memcpy(chunk, src, n_ctx * sizeof *chunk);
        if (bos >= 0) chunk[0] = bos; /* replaces, not shifts: position 0 is never a target */
        elm_session_reset(s);
        if ((rc = elm_session_decode(s, chunk, n_ctx, true, diag))) goto fail;
        elm_ppl_chunk_t ck = {.chunk = c, .n_chunks = n_chunks, .n_scored = n_ctx - 1 - first};
        for (uint32_t j = first; j + 1 < n_ctx; j++) {
            double v = token_nll(elm_session_logits(s, j), hp->n_vocab, src[j + 1]);
            ck.nll_sum += v;
            nll += v;
            nll2 += v * v;
        }
        count += ck.n_scored;
        ck.ppl = exp(ck.nll_sum / ck.n_scored);
        estimate(nll, nll2, count, &ck.cum_ppl, &ck.cum_err);
        if (on_chunk && !on_chunk(user, &ck)) {
            rc =
                elm_diag(diag, ELM_EINVAL, "perplexity stopped after chunk %" PRIu32 " of %" PRIu32,
                         c + 1, n_chunks);
            goto fail;
        }
    }
    out->n_tokens = (uint32_t)n_tokens;
    out->n_chunks = n_chunks;
    out->n_scored = count;
    out->mean_nll = nll / (double)count;
    estimate(nll, nll2, count, &out->ppl, &out->ppl_err);
    rc = 0;
    goto done;
fail:
    memset(out, 0, sizeof *out);
done:
    elm_session_free(s);
    free(chunk);
    return rc;
}

int elm_ppl_text(const elm_model_t *m, const char *text, size_t len, const elm_ppl_params_t *p,
                 elm_ppl_chunk_fn on_chunk, void *user, elm_ppl_result_t *out, elm_diag_t *diag)
{
    memset(out, 0, sizeof *out);
    elm_tokenizer_t *tok = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    if (p->drop_trailing_newline && len > 0 && text[len - 1] == '\n') len--;
    int rc;
    if ((rc = check_decoder_only(m, diag)) ||
        (rc = elm_tokenizer_from_gguf(elm_model_gguf(m), &tok, diag)))
        return rc;
    if ((rc = elm_tokenize(tok, text, len, ELM_TOK_ADD_SPECIAL, &ids, &n, diag))) goto done;
    /* llama-perplexity swaps BOS in only when the vocabulary adds one (qwen2's does not) */
    int32_t bos = elm_tokenizer_add_bos(tok) ? elm_tokenizer_bos(tok) : -1;
    rc = elm_ppl_tokens(m, ids, n, bos, p, on_chunk, user, out, diag);
done:
    free(ids);
    elm_tokenizer_free(tok);
    return rc;
}

cJSON *elm_ppl_chunk_record(const elm_ppl_chunk_t *c)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    bool ok = cJSON_AddNumberToObject(o, "chunk", c->chunk + 1) &&
              cJSON_AddNumberToObject(o, "ppl", c->ppl) &&
              cJSON_AddNumberToObject(o, "cumulative_ppl", c->cum_ppl) &&
              cJSON_AddNumberToObject(o, "cumulative_err", c->cum_err);
    if (ok) return o;
    cJSON_Delete(o);
    return NULL;
}

cJSON *elm_ppl_record(const char *model, const char *file, const elm_ppl_params_t *p,
                      const elm_ppl_result_t *r, double seconds)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    bool ok = cJSON_AddStringToObject(o, "model", model) &&
              cJSON_AddStringToObject(o, "file", file) &&
              cJSON_AddNumberToObject(o, "n_ctx", p->n_ctx) &&
              cJSON_AddNumberToObject(o, "n_batch", p->n_batch) &&
              cJSON_AddNumberToObject(o, "threads", p->n_threads) &&
              cJSON_AddStringToObject(o, "kv_type", p->kv_type == ELM_TYPE_F32 ? "f32" : "f16") &&
              cJSON_AddNumberToObject(o, "n_tokens", r->n_tokens) &&
              cJSON_AddNumberToObject(o, "n_chunks", r->n_chunks) &&
              cJSON_AddNumberToObject(o, "n_scored", (double)r->n_scored) &&
              cJSON_AddNumberToObject(o, "mean_nll", r->mean_nll) &&
              cJSON_AddNumberToObject(o, "ppl", r->ppl) &&
              cJSON_AddNumberToObject(o, "ppl_err", r->ppl_err) &&
              cJSON_AddNumberToObject(o, "seconds", seconds);
    if (ok) return o;
    cJSON_Delete(o);
    return NULL;
}
