/* edgelm eval: model quality on this device. Perplexity by llama-perplexity's method (chunks of
 * n_ctx tokens, BOS first, the second half of each chunk scored), and GSM8K pass@1: the JSON-lines
 * data, a length-stratified sample, the prompt, greedy generation, answer extraction and scoring.
 */
#ifndef EDGELM_EVAL_H
#define EDGELM_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "edgelm/base.h"
#include "edgelm/engine.h"
#include "edgelm/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- perplexity ---- */

typedef struct {
    uint32_t n_ctx;   /* chunk length in tokens (llama-perplexity's -c), >= 4 */
    uint32_t n_batch; /* most tokens per forward pass */
    int n_threads;
    elm_type_t kv_type; /* ELM_TYPE_F16 (llama-perplexity's default) or ELM_TYPE_F32 */
    /* elm_ppl_text drops one '\n' at the end of the text, as llama-perplexity's -f does (its
     * file reader strips the newline that ends the last line), so the same file gives the same
     * tokens and the same number as llama.cpp */
    bool drop_trailing_newline;
} elm_ppl_params_t;

/* n_ctx 512, n_batch 512, 1 thread, F16 cache, one trailing newline dropped: llama-perplexity's
 * defaults. */
elm_ppl_params_t elm_ppl_default_params(void);

/* One finished chunk, with the running estimate over chunks 0..chunk. */
typedef struct {
    uint32_t chunk;    /* 0-based */
    uint32_t n_chunks; /* how many chunks the text gives */
    uint32_t n_scored; /* tokens scored in this chunk: n_ctx/2 - 1 */
    double nll_sum;    /* of this chunk's scored tokens */
    double ppl;        /* exp(nll_sum / n_scored): this chunk alone */
    double cum_ppl;    /* exp(mean NLL) over chunks 0..chunk: what llama-perplexity prints */
    double cum_err;    /* its standard error, as for the final value */
} elm_ppl_chunk_t;

/* Called after each chunk; return false to stop early (the call then fails with ELM_EINVAL
 * "stopped"). */
typedef bool (*elm_ppl_chunk_fn)(void *user, const elm_ppl_chunk_t *c);

typedef struct {
    uint32_t n_tokens; /* of the whole text, BOS included */
    uint32_t n_chunks; /* floor(n_tokens / n_ctx); the tail is not used */
    uint64_t n_scored; /* n_chunks * (n_ctx/2 - 1) */
    double mean_nll;
    double ppl;     /* exp(mean_nll) */
    double ppl_err; /* ppl * sqrt((mean(nll^2) - mean_nll^2) / (n_scored - 1)) */
} elm_ppl_result_t;

/* Perplexity of m over tokens (the whole text, BOS first as the tokenizer adds it), by
 * llama-perplexity's method: chunk i is tokens[i*n_ctx, (i+1)*n_ctx) with its first token
 * replaced by bos (kept when bos is -1: a vocabulary that adds no BOS), evaluated from an empty
 * cache; the logits at positions n_ctx/2 .. n_ctx-2 score the tokens that follow them.
 * on_chunk (may be NULL) sees each chunk. ELM_EINVAL with a message saying how many tokens are
 * needed when there are fewer than 2 * n_ctx; on failure *out is zeroed. */
int elm_ppl_tokens(const elm_model_t *m, const int32_t *tokens, size_t n_tokens, int32_t bos,
                   const elm_ppl_params_t *p, elm_ppl_chunk_fn on_chunk, void *user,
                   elm_ppl_result_t *out, elm_diag_t *diag);

/* elm_ppl_tokens over text tokenized once with the model's tokenizer, special tokens added as the
 * vocabulary asks and not parsed (llama-perplexity's common_tokenize(text, true)), after one
 * trailing newline is dropped when p->drop_trailing_newline is set (the default). */
int elm_ppl_text(const elm_model_t *m, const char *text, size_t len, const elm_ppl_params_t *p,
                 elm_ppl_chunk_fn on_chunk, void *user, elm_ppl_result_t *out, elm_diag_t *diag);

/* One chunk's record, an element of the "chunks" array of `eval ppl --json`: chunk (1-based),
 * ppl, cumulative_ppl, cumulative_err. A new object (caller owns), or NULL when out of memory. */
cJSON *elm_ppl_chunk_record(const elm_ppl_chunk_t *c);

/* The record of one perplexity run, as `eval ppl --json` prints it and the results store keeps
 * it (its config): model, file, n_ctx, n_batch, threads, kv_type, n_tokens, n_chunks, n_scored,
 * mean_nll, ppl, ppl_err, seconds. model and file are labels (the paths as given). A new object
 * (caller owns; cJSON_Delete), or NULL when out of memory. */
cJSON *elm_ppl_record(const char *model, const char *file, const elm_ppl_params_t *p,
                      const elm_ppl_result_t *r, double seconds);

/* ---- GSM8K data ---- */

typedef struct {
    char *question;
    char *answer;    /* the reference solution, ending in "#### <number>" */
    double expected; /* the number after "####" */
    uint32_t line;   /* 1-based line in the file */
} elm_gsm8k_item_t;

typedef struct {
    elm_gsm8k_item_t *items;
    size_t n;
    char *name; /* the name it was parsed under (the file's path), for messages and records */
} elm_gsm8k_set_t;

/* Parse JSON lines, one object per non-blank line with string fields "question" and "answer"
 * (other fields ignored). name labels messages ("test.jsonl: line 7: ..."): a line that is not
 * JSON, a missing or non-string field, an answer with no "#### <number>", or no items at all
 * is ELM_EINVAL. On success *out is a new set (free with elm_gsm8k_free); else NULL. */
int elm_gsm8k_parse(const char *buf, size_t len, const char *name, elm_gsm8k_set_t **out,
                    elm_diag_t *diag);

/* Read path and elm_gsm8k_parse it. */
int elm_gsm8k_load(const char *path, elm_gsm8k_set_t **out, elm_diag_t *diag);

/* The worked examples for a run over set: train when given, else train.jsonl in the folder of
 * set's file (GSM8K's layout), loaded as elm_gsm8k_load does. */
int elm_gsm8k_load_shots(const elm_gsm8k_set_t *set, const char *train, elm_gsm8k_set_t **out,
                         elm_diag_t *diag);

/* The default GSM8K questions for users: $XDG_DATA_HOME/edgelm/gsm8k/test.jsonl, else
 * $HOME/.local/share/edgelm/gsm8k/test.jsonl (the folder of elm_store_default_path, so data and
 * results sit together); the caller passes the two variables (NULL or "" when unset). The path
 * goes to buf even when the file is missing; then ELM_ENOENT with a message naming it and the fix
 * (give --data FILE, or copy GSM8K's test.jsonl there). ELM_ENOENT when both variables are unset,
 * ELM_ERANGE when cap is too small. */
int elm_gsm8k_default_path(const char *xdg_data_home, const char *home, char *buf, size_t cap,
                           elm_diag_t *diag);

void elm_gsm8k_free(elm_gsm8k_set_t *s); /* accepts NULL */

/* ---- sampling the questions ---- */

/* Choose n of s's items (ids are 0-based indices, written to ids[n] in increasing order),
 * stratified by question length in characters: the items sorted by length are cut into n_strata
 * groups of (nearly) equal size, each group gets n * size / total items rounded by largest
 * remainder (ties to the shorter stratum), and the items within a group are drawn uniformly with
 * a generator seeded by seed, so the same (set, n, seed, n_strata) always gives the same ids.
 * per_stratum (may be NULL) receives the n_strata counts. n >= s->n takes every item. ELM_EINVAL
 * for n == 0 or n_strata == 0. */
int elm_gsm8k_sample(const elm_gsm8k_set_t *s, size_t n, uint64_t seed, size_t n_strata,
                     size_t *ids, size_t *per_stratum, elm_diag_t *diag);

/* ---- prompts, answers, scores ---- */

/* The prompt for question: k worked examples from shots (its first k items, may be NULL when k
 * is 0) as user / assistant turns, then the question, formatted with the chat template tmpl and
 * ending with the assistant's turn. Each user turn asks for the answer after "####". *out is
 * malloc'd (caller frees); it contains special-token text (tokenize with ELM_TOK_PARSE_SPECIAL).
 * ELM_EINVAL when k exceeds the shots available. */
int elm_gsm8k_prompt(const elm_gsm8k_set_t *shots, size_t k, const char *question,
                     elm_chat_tmpl_t tmpl, char **out, elm_diag_t *diag);

/* The number a response gives: the first after the last "####", else the first after the last
 * "The answer is" (any case), else the last number in the text. Commas between digits, "$" and
 * units are ignored; a minus sign counts when it does not follow a letter or digit. Returns false
 * (and *value 0) when there is no number where one is looked for. */
bool elm_gsm8k_extract(const char *response, double *value);

/* One question answered by the model. */
typedef struct {
    char *response;    /* generated text, end-of-generation token excluded (malloc'd) */
    uint32_t n_prompt; /* prompt tokens */
    uint32_t n_tokens; /* generated tokens, end-of-generation token included */
    double time_ms;    /* prefill and generation */
    bool has_answer;   /* a number was extracted */
    double extracted;
    bool correct; /* extracted == expected */
} elm_gsm8k_answer_t;

/* Answer prompt (text from elm_gsm8k_prompt) greedily in s from an empty cache: at most
 * max_tokens tokens (fewer when the context is shorter), stopping at an end-of-generation token;
 * then extract the number and compare it exactly with expected. ELM_ERANGE, naming the sizes,
 * when the prompt leaves no room in the context. *out is cleared first; free its response with
 * elm_gsm8k_answer_clear even on failure. */
int elm_gsm8k_answer(elm_session_t *s, const elm_tokenizer_t *tok, const char *prompt,
                     uint32_t max_tokens, double expected, elm_gsm8k_answer_t *out,
                     elm_diag_t *diag);

void elm_gsm8k_answer_clear(elm_gsm8k_answer_t *a);

/* ---- a whole run ---- */

typedef struct {
    size_t n;            /* questions to ask; 0, or n >= the set's size, asks every one */
    size_t n_strata;     /* length strata of the sample (elm_gsm8k_sample) */
    uint64_t seed;       /* of the sample */
    size_t shots;        /* worked examples before each question: the first `shots` of the shots set */
    uint32_t max_tokens; /* most tokens generated per answer */
} elm_gsm8k_params_t;

/* n 100, 4 strata (quartiles), seed 0, 0 shots, 256 tokens. */
elm_gsm8k_params_t elm_gsm8k_default_params(void);

/* The sample of a run and, once it has run, its score. */
typedef struct {
    size_t n;            /* questions asked */
    size_t n_total;      /* questions in the set */
    size_t *ids;         /* (n) their 0-based indices in the set, increasing */
    size_t *per_stratum; /* (n_strata) questions drawn from each length stratum */
    size_t n_strata;
    size_t correct;                     /* filled by elm_gsm8k_run from here on */
    double accuracy, ci95_low, ci95_high; /* correct / n and its Wilson interval */
    uint64_t tokens;                    /* generated, summed over the questions */
    double time_ms;                     /* prefill and generation, summed */
} elm_gsm8k_summary_t;

/* One answered question, as elm_gsm8k_run reports it. Everything points into the run and is
 * valid only during the callback. */
typedef struct {
    size_t i;                        /* 0-based position in the run */
    size_t n;                        /* questions in the run */
    size_t id;                       /* the question's index in the set */
    const elm_gsm8k_item_t *item;
    const char *prompt;              /* as elm_gsm8k_prompt built it */
    const elm_gsm8k_answer_t *answer;
} elm_gsm8k_step_t;

/* Called after each question: return 0 to go on, or an ELM_E* code (with diag set) to stop the
 * run, which then returns that code and diag unchanged. */
typedef int (*elm_gsm8k_item_fn)(void *user, const elm_gsm8k_step_t *step, elm_diag_t *diag);

/* Draw the sample p asks for from set (elm_gsm8k_sample with p's n, seed and n_strata): fills
 * sum's n, n_total, ids, per_stratum and n_strata and zeroes the rest. sum owns the arrays
 * (elm_gsm8k_summary_free, also on failure). */
int elm_gsm8k_plan(const elm_gsm8k_set_t *set, const elm_gsm8k_params_t *p,
                   elm_gsm8k_summary_t *sum, elm_diag_t *diag);

/* Ask the questions sum->ids (from elm_gsm8k_plan over the same set) in order, each with
 * p->shots worked examples from shots (may be NULL when p->shots is 0), formatted with tmpl and
 * answered greedily in s with tok (elm_gsm8k_prompt, elm_gsm8k_answer); on_item (may be NULL)
 * sees each answer. Fills sum's correct, accuracy, ci95_low, ci95_high, tokens and time_ms. A
 * failed answer is its error prefixed with the set's name, the question and its line. */
int elm_gsm8k_run(elm_session_t *s, const elm_tokenizer_t *tok, elm_chat_tmpl_t tmpl,
                  const elm_gsm8k_set_t *set, const elm_gsm8k_set_t *shots,
                  const elm_gsm8k_params_t *p, elm_gsm8k_item_fn on_item, void *user,
                  elm_gsm8k_summary_t *sum, elm_diag_t *diag);

/* Free sum's arrays and zero it; accepts NULL. */
void elm_gsm8k_summary_free(elm_gsm8k_summary_t *sum);

/* A question's record (`eval gsm8k --json` lines, the store's eval_items): type "question", id,
 * line, prompt, response, extracted (null when none), expected, correct, prompt_tokens, tokens,
 * time_ms. A new object (caller owns), or NULL when out of memory. */
cJSON *elm_gsm8k_item_record(const elm_gsm8k_step_t *step);

/* The run's record (the last --json line, the store's config): type "summary", model, data (the
 * set's name), n, n_total, correct, accuracy, ci95_low, ci95_high, shots, seed, max_tokens,
 * chat_template, tokens, time_ms, ids. A new object (caller owns), or NULL when out of memory. */
cJSON *elm_gsm8k_summary_record(const char *model, const elm_gsm8k_set_t *set,
                                const elm_gsm8k_params_t *p, elm_chat_tmpl_t tmpl,
                                const elm_gsm8k_summary_t *sum);

#ifdef __cplusplus
}
#endif
#endif
