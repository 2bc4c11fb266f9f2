/* edgelm engine: a model loaded from GGUF (weights used in place from the mapping), sessions
 * that hold the KV caches of one or more sequences and run the forward pass (batched prefill,
 * one-token decode, batches of rows from several sequences; the encoder pass of an
 * encoder-decoder model), the
 * sampler chain, and the generation loop that reports its phases through one hook struct —
 * the hooks `run`, `bench`, `serve` and `eval` time themselves with. */
#ifndef EDGELM_ENGINE_H
#define EDGELM_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "edgelm/base.h"
#include "edgelm/gguf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- phase hooks ----
 * One struct of callbacks, every one optional (NULL), each given the time of the event from
 * elm_time_ns() and the user pointer. */

typedef enum {
    ELM_STOP_LENGTH = 0, /* n_predict tokens were generated */
    ELM_STOP_EOS = 1,    /* the end-of-sequence token was generated */
    ELM_STOP_CTX = 2,    /* the context is full */
    ELM_STOP_HOOK = 3,   /* on_token asked to stop */
    ELM_STOP_ERROR = 4   /* a forward pass failed */
} elm_stop_reason_t;

typedef struct {
    void *user;
    void (*on_load_start)(void *user, uint64_t t_ns);
    void (*on_load_done)(void *user, uint64_t t_ns);
    void (*on_prefill_start)(void *user, uint64_t t_ns, uint32_t n_prompt);
    void (*on_prefill_end)(void *user, uint64_t t_ns, uint32_t n_prompt);
    /* A sampled token, with the logits it was chosen from (n_vocab floats, valid only during
     * the call). Return false to stop generation after this token. */
    bool (*on_token)(void *user, uint64_t t_ns, int32_t token, const float *logits,
                     uint32_t n_vocab);
    void (*on_done)(void *user, uint64_t t_ns, uint32_t n_generated, elm_stop_reason_t why);
} elm_hooks_t;

/* Phase timestamps gathered from the hooks; the one place TTFT and tokens/s come from. */
typedef struct {
    uint64_t t_load_start, t_load_done;
    uint64_t t_prefill_start, t_prefill_end;
    uint64_t t_first_token, t_last_token;
    uint32_t n_prompt, n_generated;
    elm_stop_reason_t stop;
    elm_hooks_t next; /* forwarded to after recording */
} elm_timings_t;

/* Fill *out with hooks that record into t and then call next (NULL: none). t->next is set
 * from next; t's timestamps are zeroed. */
void elm_timings_hooks(elm_timings_t *t, const elm_hooks_t *next, elm_hooks_t *out);

typedef struct {
    double load_ms;      /* load start .. load done */
    double prefill_ms;   /* prefill start .. end */
    double prefill_tps;  /* prompt tokens / prefill time */
    double ttft_ms;      /* prefill start .. first token (a warm request) */
    double ttft_cold_ms; /* load start .. first token (a cold request) */
    double gen_tps;      /* (generated - 1) / (last token - first token): excludes the first */
    uint32_t n_prompt, n_generated;
} elm_timing_summary_t;

/* The summary figures of recorded timings; a figure whose phase did not happen is 0. */
void elm_timings_summary(const elm_timings_t *t, elm_timing_summary_t *out);

/* ---- model ---- */

typedef struct {
    char arch[32]; /* general.architecture: "llama", "qwen2", "internlm2", "phi3", "gemma2", "t5" */
    uint32_t n_vocab;
    uint32_t n_ctx_train; /* <arch>.context_length */
    uint32_t n_embd;
    uint32_t n_ff;
    uint32_t n_layer;
    uint32_t n_head;
    uint32_t n_head_kv;
    uint32_t head_dim; /* <arch>.attention.key_length, else n_embd / n_head */
    uint32_t n_rot;    /* <arch>.rope.dimension_count, else head_dim */
    float rms_eps;
    float rope_base;        /* <arch>.rope.freq_base, else the architecture's default */
    bool rope_neox;         /* pairs (i, i + n_rot/2) instead of (2i, 2i+1) */
    bool tied_output;       /* no output.weight: token_embd is the output matrix */
    bool rope_freqs;        /* rope_freqs.weight divides each pair's frequency (llama3) */
    int32_t bos_id, eos_id; /* tokenizer.ggml.{bos,eos}_token_id, -1 when absent */
    uint32_t n_ctx_orig;    /* <arch>.rope.scaling.original_context_length, else n_ctx_train */
    float rope_attn_factor; /* <arch>.rope.scaling.attn_factor (scales RoPE's cos, sin), else 1 */
    bool rope_longrope;     /* rope_factors_long/short (phi3): long when n_ctx > n_ctx_orig */
    uint32_t n_swa;         /* <arch>.attention.sliding_window where used (phi3, gemma2); 0: none */
    float attn_softcap;     /* gemma2: <arch>.attn_logit_softcapping; 0: scores not capped */
    float final_softcap;    /* gemma2: <arch>.final_logit_softcapping; 0: logits not capped */
    /* Encoder-decoder models (t5): n_layer encoder and n_layer decoder layers (llama.cpp's one
     * block_count), relative position buckets instead of RoPE, and the token the decoder starts
     * from (<arch>.decoder_start_token_id, else tokenizer.ggml.padding_token_id, else 0). */
    bool has_encoder;
    uint32_t n_rel_buckets;      /* <arch>.attention.relative_buckets_count, else 32 */
    int32_t decoder_start_id;    /* -1 for decoder-only models */
} elm_hparams_t;

typedef struct elm_model elm_model_t;

typedef struct {
    /* true (the default): mmap the file, as llama.cpp does. false (`--no-mmap`): read it into
     * anonymous memory with huge pages; slower to load, and steadier decode on hosts where
     * streaming a large file mapping is slow (docs/speed.md). */
    bool use_mmap;
} elm_model_params_t;

elm_model_params_t elm_model_default_params(void);

/* Open path, validate it and bind the model's tensors; calls hooks->on_load_start and
 * on_load_done (hooks may be NULL). p NULL means the defaults. The model owns the mapping. On
 * AVX-512 CPUs it repacks the q4_0, q5_0, q8_0, q4_K and q6_K matrices into the layout of their
 * fastest product (docs/kernels.md, weight panels; EDGELM_NO_REPACK=1 keeps the file's rows). On
 * failure *out is NULL and diag names the file, and the tensor or key at fault with the
 * architecture. */
int elm_model_load(const char *path, const elm_model_params_t *p, const elm_hooks_t *hooks,
                   elm_model_t **out, elm_diag_t *diag);

/* Bind a model over an open GGUF file that the caller keeps open until elm_model_free(). */
int elm_model_from_gguf(const elm_gguf_t *g, elm_model_t **out, elm_diag_t *diag);

/* Free the model (and the mapping, when elm_model_load opened it). Accepts NULL. Free every
 * session of the model first. */
void elm_model_free(elm_model_t *m);

const elm_hparams_t *elm_model_hparams(const elm_model_t *m);

/* The GGUF file the model reads from (metadata, tokenizer), valid while the model lives. The
 * data of the matrices elm_model_load repacked (q4_0, q5_0, q8_0, q4_K and q6_K on AVX-512 CPUs,
 * unless EDGELM_NO_REPACK=1) is not kept there: their pages are released as they are packed. */
const elm_gguf_t *elm_model_gguf(const elm_model_t *m);

/* Bytes of weights the model maps (its tensors' sizes). */
uint64_t elm_model_weight_bytes(const elm_model_t *m);

/* The architectures the engine runs, as a space-separated list ("llama qwen2 internlm2 phi3
 * gemma2 t5"). */
const char *elm_engine_archs(void);

/* ---- session: KV cache and forward pass ---- */

typedef struct {
    uint32_t n_ctx;     /* KV cache positions; 0 = the trained context, at most 4096 */
    uint32_t n_batch;   /* most tokens per forward pass (prefill is cut into such batches) */
    int n_threads;      /* threads for one-token decodes (generation), caller included */
    elm_type_t kv_type; /* ELM_TYPE_F32 or ELM_TYPE_F16 */
    /* threads for batches of more than one token (prefill), llama.cpp's -tb; 0: n_threads.
     * The session keeps one pool of max(n_threads, n_threads_batch) threads. Logits do not
     * depend on either count. */
    int n_threads_batch;
    /* independent sequences (0 counts as 1), each with a cache of n_ctx positions of its own:
     * the KV memory is n_seq times one sequence's. At most ELM_SESSION_MAX_SEQ. */
    uint32_t n_seq;
} elm_session_params_t;

#define ELM_SESSION_MAX_SEQ 256

/* n_ctx 0, n_batch 512, 1 thread (for batches too), F16 cache (llama.cpp's default), one
 * sequence. */
elm_session_params_t elm_session_default_params(void);

typedef struct elm_session elm_session_t;

/* A session over m with an empty cache. An n_ctx above the trained context is allowed with a
 * warning through elm_log. On failure *out is NULL. The model must outlive the session. */
int elm_session_create(const elm_model_t *m, const elm_session_params_t *p, elm_session_t **out,
                       elm_diag_t *diag);

void elm_session_free(elm_session_t *s); /* accepts NULL */

uint32_t elm_session_n_ctx(const elm_session_t *s); /* positions of each sequence's cache */
uint32_t elm_session_n_seq(const elm_session_t *s); /* sequences the session holds */
uint32_t elm_session_n_past(const elm_session_t *s); /* positions sequence 0 holds */
const elm_model_t *elm_session_model(const elm_session_t *s);

/* The calls below up to elm_session_reset act on sequence 0 (the whole session when n_seq is
 * 1); a batch's rows name their sequences.
 *
 * Evaluate n tokens at positions n_past .. n_past+n-1 (causal attention over the cache), in
 * batches of at most n_batch, and append them to the cache. Afterwards the logits of the last
 * token, or of every token when all_logits, are available through elm_session_logits.
 * ELM_ERANGE when the tokens do not fit in the context, ELM_EINVAL for a token id outside the
 * vocabulary; the cache is then unchanged. */
int elm_session_decode(elm_session_t *s, const int32_t *tokens, uint32_t n, bool all_logits,
                       elm_diag_t *diag);

/* Rows of logits the last decode produced (1, or n with all_logits; for a batch, its rows
 * with logits set). */
uint32_t elm_session_n_logits(const elm_session_t *s);

/* Row i (n_vocab floats) of the last decode's logits, or NULL if i is out of range. Row i is
 * the prediction after the i-th token of that decode (the last one when only one row). Valid
 * until the next decode. */
const float *elm_session_logits(const elm_session_t *s, uint32_t i);

/* Keep only the first n_past positions of sequence 0 (ELM_ERANGE if beyond what is held). */
int elm_session_truncate(elm_session_t *s, uint32_t n_past);

/* Empty sequence 0's cache and forget the last decode's logits. */
void elm_session_reset(elm_session_t *s);

/* ---- batches of several sequences ----
 * llama.cpp's llama_batch: one forward pass over rows drawn from any of the session's
 * sequences, each sequence attending only to its own positions. A sequence's logits depend only
 * on its own rows in each pass (of at most n_batch rows) and which of them ask for logits, never
 * on the other sequences' rows: a sequence with one row in a pass is computed exactly as a
 * one-token elm_session_decode, one with several rows exactly as an elm_session_decode of those
 * tokens when its last row, or every row, asks for logits. The one-row sequences of a pass share
 * each read of the weights (the kernels' multi-row gemv). Cutting a prompt into other chunks may
 * change the last bits of its logits (a one-row chunk runs on the decode kernels, several rows
 * on the matrix-product kernels), so a caller that wants the same numbers every time cuts the
 * same prompt the same way. */

typedef struct {
    int32_t token;
    uint32_t seq; /* < n_seq */
    uint32_t pos; /* the sequence's length before this row (rows append, in order) */
    bool logits;  /* keep this row's logits */
} elm_batch_row_t;

/* Evaluate n rows and append each to its sequence's cache, in passes of at most n_batch rows
 * (cut in the order given). The rows of one sequence must have consecutive positions starting
 * at its current length (elm_session_seq_len), in order; a row attends to its own sequence's
 * positions up to its own. Afterwards the logits of the rows with logits set are available
 * through elm_session_batch_logits. ELM_EINVAL for no rows, a sequence >= n_seq, a position
 * other than the sequence's next or a token outside the vocabulary, ELM_ERANGE for a row past
 * n_ctx, with a message naming the row, its sequence and position and the limit; every cache is
 * then unchanged. rows stay the caller's. */
int elm_session_decode_batch(elm_session_t *s, const elm_batch_row_t *rows, uint32_t n,
                             elm_diag_t *diag);

/* The logits (n_vocab floats) of row `row` of the last batch (or of token `row` of the last
 * elm_session_decode), or NULL when that row did not ask for logits or is out of range. Valid
 * until the next decode. */
const float *elm_session_batch_logits(const elm_session_t *s, uint32_t row);

/* Positions sequence seq holds (0 for a sequence out of range). */
uint32_t elm_session_seq_len(const elm_session_t *s, uint32_t seq);

/* Keep only the first n_past positions of sequence seq, e.g. the prefix a new prompt shares
 * with the last one. ELM_EINVAL for seq >= n_seq, ELM_ERANGE if n_past is beyond what it
 * holds. The other sequences are untouched. */
int elm_session_seq_truncate(elm_session_t *s, uint32_t seq, uint32_t n_past);

/* Empty sequence seq's cache, and its encoder input (nothing for seq >= n_seq); the others are
 * untouched. */
void elm_session_seq_reset(elm_session_t *s, uint32_t seq);

/* ---- encoder-decoder models (t5) ----
 * A sequence of such a model is an encoder input and the decoder tokens that follow it: encode
 * first, then decode (or decode_batch) from hparams.decoder_start_id on, each decoder row
 * attending to its own earlier rows and, through cross-attention, to its sequence's encoder
 * output. Decoding a sequence that has no encoder input is ELM_EINVAL. */

/* Run the encoder over n tokens (bidirectional attention, one pass) as sequence seq's input:
 * the cross-attention keys and values of every decoder layer are computed from its output once
 * and kept, and the sequence's decoder cache is emptied. ELM_ENOTSUP for a decoder-only model,
 * ELM_EINVAL for no tokens, seq >= n_seq or a token outside the vocabulary, ELM_ERANGE when n
 * exceeds the session's context; the sequence is then unchanged. */
int elm_session_encode(elm_session_t *s, uint32_t seq, const int32_t *tokens, uint32_t n,
                       elm_diag_t *diag);

/* Tokens of sequence seq's encoder input (0: none, a decoder-only model, or seq out of range). */
uint32_t elm_session_seq_enc_len(const elm_session_t *s, uint32_t seq);

/* The encoder output of the last elm_session_encode, (n, n_embd) floats after the encoder's
 * final norm, or NULL before any; valid until the next encode or decode. For tests and tools
 * that compare against a reference. */
const float *elm_session_enc_output(const elm_session_t *s);

/* ---- sampling ----
 * The chain, in llama.cpp's default order (docs/sampling.md): penalties → top-k → top-p →
 * min-p → temperature → draw. temp <= 0 is greedy: the first token with the largest logit
 * after penalties. */

typedef struct {
    float temp;             /* <= 0: greedy */
    int32_t top_k;          /* <= 0: off */
    float top_p;            /* >= 1: off */
    float min_p;            /* <= 0: off */
    float repeat_penalty;   /* 1: off; divides positive logits, multiplies negative ones */
    float freq_penalty;     /* 0: off; subtracted once per occurrence */
    float presence_penalty; /* 0: off; subtracted once if the token occurred */
    int32_t penalty_last_n; /* how many recent tokens the penalties look at; 0: off */
    uint64_t seed;
} elm_sampler_params_t;

/* llama.cpp's defaults: temp 0.8, top_k 40, top_p 0.95, min_p 0.05, penalties off
 * (repeat 1, last_n 64), seed 0. */
elm_sampler_params_t elm_sampler_default_params(void);

typedef struct elm_sampler elm_sampler_t;

/* A sampler over a vocabulary of n_vocab. ELM_EINVAL for a parameter out of range (negative
 * temp is fine; top_p, min_p outside [0, 1], repeat_penalty <= 0, negative last_n). */
int elm_sampler_create(const elm_sampler_params_t *p, uint32_t n_vocab, elm_sampler_t **out,
                       elm_diag_t *diag);
void elm_sampler_free(elm_sampler_t *s); /* accepts NULL */

/* Remember token for the penalties (prompt tokens too, as llama.cpp does). */
void elm_sampler_accept(elm_sampler_t *s, int32_t token);

/* Forget the history and restart the random stream from the seed. */
void elm_sampler_reset(elm_sampler_t *s);

/* Choose a token from n_vocab logits (not modified). */
int32_t elm_sampler_sample(elm_sampler_t *s, const float *logits);

typedef struct {
    int32_t id;
    float logit; /* after penalties and temperature */
    float p;     /* probability among the survivors */
} elm_token_prob_t;

/* The candidates that survive the chain before the draw, best first, with their probabilities:
 * what elm_sampler_sample draws from. out holds n_vocab entries; returns the count (1 when
 * greedy). */
uint32_t elm_sampler_candidates(elm_sampler_t *s, const float *logits, elm_token_prob_t *out);

/* ---- generation ---- */

typedef struct {
    uint32_t n_predict; /* most tokens to generate (>= 1) */
    int32_t eos_id;     /* stop after this token; -1: never */
} elm_generate_params_t;

/* Prefill the prompt (n_prompt >= 1 tokens) after what the session holds, then sample and
 * decode until n_predict tokens, EOS, a full context, or on_token returning false. Calls the
 * prefill and token hooks and on_done. For an encoder-decoder model the prompt is the encoder
 * input instead (it replaces sequence 0's) and the prefill hooks time the encoder pass; the
 * decoder then starts from hparams.decoder_start_id, so TTFT covers the encoder and the first
 * decoder step. Prompt tokens are accepted into the sampler. Stores up
 * to n_predict tokens in out (may be NULL) and their count in *n_out (may be NULL). A prompt
 * that does not fit the context is ELM_ERANGE before anything runs. */
int elm_generate(elm_session_t *s, elm_sampler_t *smp, const int32_t *prompt, uint32_t n_prompt,
                 const elm_generate_params_t *gp, const elm_hooks_t *hooks, int32_t *out,
                 uint32_t *n_out, elm_diag_t *diag);

#ifdef __cplusplus
}
#endif
#endif
