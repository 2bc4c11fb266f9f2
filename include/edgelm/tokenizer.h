/* edgelm tokenizer: the vocabularies llama.cpp reads from GGUF (SentencePiece "llama", byte-level
 * BPE "gpt2" with its pre-tokenizers, and SentencePiece unigram "t5" with its precompiled_charsmap
 * normalizer), special tokens, streaming-safe detokenization, and chat templates recognized from
 * tokenizer.chat_template as llama.cpp recognizes them.
 * A tokenizer is immutable after loading: one may be shared by several threads. */
#ifndef EDGELM_TOKENIZER_H
#define EDGELM_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgelm/base.h"
#include "edgelm/gguf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct elm_tokenizer elm_tokenizer_t;

/* tokenizer.ggml.model */
typedef enum {
    ELM_TOK_SPM = 1, /* "llama": SentencePiece, score-ordered merges, byte fallback */
    ELM_TOK_BPE = 2, /* "gpt2": byte-level BPE, rank-ordered merges, regex pre-tokenizer */
    ELM_TOK_UGM = 3, /* "t5": unigram (T5, Flan-T5), charsmap normalizer, Viterbi over pieces */
} elm_tok_kind_t;

/* tokenizer.ggml.token_type values (llama.cpp's numbering). */
typedef enum {
    ELM_TOKEN_UNDEFINED = 0,
    ELM_TOKEN_NORMAL = 1,
    ELM_TOKEN_UNKNOWN = 2,
    ELM_TOKEN_CONTROL = 3,
    ELM_TOKEN_USER_DEFINED = 4,
    ELM_TOKEN_UNUSED = 5,
    ELM_TOKEN_BYTE = 6,
} elm_token_type_t;

/* ---- loading ---- */

/* Build a tokenizer from the tokenizer.* keys of an open GGUF file (a vocab-only file will do).
 * Everything needed is copied: g may be closed afterwards. Errors, with diag naming the key:
 * ELM_ENOKEY (tokenizer.ggml.model / tokens missing, merges missing for gpt2, scores missing
 * for llama), ELM_ENOTSUP (an unknown tokenizer model or pre-tokenizer, named), ELM_EINVAL
 * (inconsistent arrays, special ids out of range; for t5 a corrupt
 * tokenizer.ggml.precompiled_charsmap or no <unk> token). *out is NULL on failure. */
int elm_tokenizer_from_gguf(const elm_gguf_t *g, elm_tokenizer_t **out, elm_diag_t *diag);

/* elm_gguf_open() + elm_tokenizer_from_gguf() + elm_gguf_close(). */
int elm_tokenizer_load(const char *path, elm_tokenizer_t **out, elm_diag_t *diag);

/* Free a tokenizer. Accepts NULL. */
void elm_tokenizer_free(elm_tokenizer_t *t);

/* ---- facts ---- */

elm_tok_kind_t elm_tokenizer_kind(const elm_tokenizer_t *t);
/* The pre-tokenizer name ("qwen2", "llama-bpe", ...; "default" when absent, as for llama and t5
 * files, which have none); never NULL. */
const char *elm_tokenizer_pre(const elm_tokenizer_t *t);
int32_t elm_tokenizer_n_vocab(const elm_tokenizer_t *t);
/* Special token ids, or -1 when the vocabulary has none. EOT is tokenizer.ggml.eot_token_id or,
 * failing that, a token whose text is a known end-of-turn marker (<|eot_id|>, <|im_end|>, ...). */
int32_t elm_tokenizer_bos(const elm_tokenizer_t *t);
int32_t elm_tokenizer_eos(const elm_tokenizer_t *t);
int32_t elm_tokenizer_eot(const elm_tokenizer_t *t);
int32_t elm_tokenizer_pad(const elm_tokenizer_t *t);
/* Whether ELM_TOK_ADD_SPECIAL adds BOS / EOS (tokenizer.ggml.add_bos_token / add_eos_token; by
 * default BOS for SPM, none for BPE, EOS only for UGM, as llama.cpp does). */
bool elm_tokenizer_add_bos(const elm_tokenizer_t *t);
bool elm_tokenizer_add_eos(const elm_tokenizer_t *t);
/* True for EOS, EOT and other end-of-generation tokens. */
bool elm_tokenizer_is_eog(const elm_tokenizer_t *t, int32_t id);
/* The stored text of a token (SPM/UGM spaces as U+2581, BPE bytes in the byte-level alphabet) and
 * its length; NULL for an id out of range. Points into t. */
const char *elm_tokenizer_token_text(const elm_tokenizer_t *t, int32_t id, size_t *len);
/* The token type, ELM_TOKEN_UNDEFINED for an id out of range. */
elm_token_type_t elm_tokenizer_token_type(const elm_tokenizer_t *t, int32_t id);
/* The character byte b stands for in GPT-2's byte-level alphabet (how byte-level BPE vocabularies
 * store bytes: printable Latin-1 as itself, the others from U+0100 up) as UTF-8 into out;
 * returns its length, 1 or 2. */
int elm_tokenizer_byte_text(uint8_t b, char out[2]);
/* The id of the token whose stored text is exactly text[0..len), or -1. */
int32_t elm_tokenizer_find(const elm_tokenizer_t *t, const char *text, size_t len);
/* tokenizer.chat_template (NUL-terminated, owned by t), or NULL when the file has none. */
const char *elm_tokenizer_chat_template(const elm_tokenizer_t *t);

/* ---- encoding ---- */

enum {
    ELM_TOK_ADD_SPECIAL = 1u << 0, /* add BOS / EOS as the vocabulary asks */
    ELM_TOK_PARSE_SPECIAL =
        1u << 1, /* turn control-token text such as <|im_start|> into the token */
};

/* Tokenize text[0..len) into a new array *ids of *n_ids ids (caller frees; NULL when empty).
 * User-defined tokens are always matched as whole tokens; control tokens only with
 * ELM_TOK_PARSE_SPECIAL, as in llama.cpp. Invalid UTF-8 is not an error: with BPE each invalid byte
 * becomes its own pre-token and goes through the byte alphabet; with SPM it takes the byte
 * fallback <0xNN> (or UNK when the vocabulary has no byte tokens), so decoding gives back the
 * same bytes whenever the vocabulary can represent them. UGM normalizes first (charsmap, spaces
 * merged, each invalid byte U+FFFD) and gives one UNK for each run of characters no piece covers,
 * so its decoding is lossy. ELM_ENOMEM is the only failure. */
int elm_tokenize(const elm_tokenizer_t *t, const char *text, size_t len, unsigned flags,
                 int32_t **ids, size_t *n_ids, elm_diag_t *diag);

/* ---- decoding ---- */

enum {
    ELM_DETOK_SPECIAL = 1u << 0,    /* print the text of control (UGM: and <unk>) tokens instead of
                                       nothing */
    ELM_DETOK_KEEP_SPACE = 1u << 1, /* keep the space add_space_prefix put before the text (SPM,
                                       UGM) */
};

/* The bytes one token stands for, appended to nothing: *piece points into a buffer owned by the
 * caller-provided buf[cap] and *len is set; ELM_ERANGE (diag names the id and vocabulary size)
 * for an id out of range, ELM_EINVAL when cap is too small (the needed size is in *len). A piece
 * may be part of a UTF-8 sequence. */
int elm_token_to_piece(const elm_tokenizer_t *t, int32_t id, unsigned flags, char *buf, size_t cap,
                       size_t *len, elm_diag_t *diag);

/* Decode ids into a new NUL-terminated string *text of *len bytes (caller frees). Invalid or
 * unfinished UTF-8 in the result is kept byte for byte, so detokenize(tokenize(x)) == x (for SPM:
 * unless x holds U+2581, which SentencePiece cannot tell from an escaped space, or special tokens,
 * after which add_space_prefix adds a space; for UGM only for text the normalizer leaves alone:
 * words of covered characters separated by single spaces). UGM, as llama.cpp, drops the first
 * piece's leading space only from the first id, even when that one prints nothing.
 * ELM_ERANGE names the first id out of range; *text is NULL on failure. */
int elm_detokenize(const elm_tokenizer_t *t, const int32_t *ids, size_t n, unsigned flags,
                   char **text, size_t *len, elm_diag_t *diag);

/* Streaming detokenization for generation: push one id at a time and get only whole UTF-8
 * characters back; bytes of an unfinished character wait for the next token. An ill-formed
 * sequence comes out as U+FFFD, one per maximal well-formed prefix (Unicode's recommended
 * practice). One stream per generation. */
typedef struct elm_detok_stream elm_detok_stream_t;

/* A new stream over t (which must outlive it); flags as for elm_detokenize. */
int elm_detok_stream_create(const elm_tokenizer_t *t, unsigned flags, elm_detok_stream_t **out);

/* Add one token; *text and *len receive the complete characters now ready (possibly none), valid
 * until the next call on s. ELM_ERANGE for an id out of range (the stream stays usable). */
int elm_detok_stream_push(elm_detok_stream_t *s, int32_t id, const char **text, size_t *len,
                          elm_diag_t *diag);

/* End of generation: whatever unfinished bytes remain come out as one U+FFFD (or nothing). */
int elm_detok_stream_flush(elm_detok_stream_t *s, const char **text, size_t *len);

/* Free a stream. Accepts NULL. */
void elm_detok_stream_free(elm_detok_stream_t *s);

/* ---- chat templates ---- */

typedef enum {
    ELM_CHAT_UNKNOWN = 0,
    ELM_CHAT_CHATML,
    ELM_CHAT_LLAMA2,
    ELM_CHAT_LLAMA2_SYS,
    ELM_CHAT_LLAMA2_SYS_BOS,
    ELM_CHAT_LLAMA2_SYS_STRIP,
    ELM_CHAT_MISTRAL_V1,
    ELM_CHAT_MISTRAL_V3,
    ELM_CHAT_MISTRAL_V3_TEKKEN,
    ELM_CHAT_MISTRAL_V7,
    ELM_CHAT_PHI3,
    ELM_CHAT_PHI4,
    ELM_CHAT_FALCON3,
    ELM_CHAT_ZEPHYR,
    ELM_CHAT_MONARCH,
    ELM_CHAT_GEMMA,
    ELM_CHAT_OPENCHAT,
    ELM_CHAT_VICUNA,
    ELM_CHAT_VICUNA_ORCA,
    ELM_CHAT_DEEPSEEK,
    ELM_CHAT_DEEPSEEK2,
    ELM_CHAT_DEEPSEEK3,
    ELM_CHAT_COMMAND_R,
    ELM_CHAT_LLAMA3,
    ELM_CHAT_GRANITE,
    ELM_CHAT_PLAIN, /* the contents alone, one message a line, no roles (Flan-T5) */
    ELM_CHAT_COUNT
} elm_chat_tmpl_t;

typedef struct {
    const char *role; /* "system", "user" or "assistant" */
    const char *content;
} elm_chat_msg_t;

/* The family of a Jinja chat template, by the markers llama.cpp's llm_chat_detect_template looks
 * for; a template that is exactly a family name ("chatml") is that family. ELM_CHAT_UNKNOWN when
 * nothing matches. */
elm_chat_tmpl_t elm_chat_detect(const char *tmpl);

/* "chatml", "llama3", ...; "unknown" for ELM_CHAT_UNKNOWN or an out-of-range value. */
const char *elm_chat_name(elm_chat_tmpl_t tmpl);

/* A family by its name; ELM_EINVAL (diag lists the names) when there is none. */
int elm_chat_from_name(const char *name, elm_chat_tmpl_t *out, elm_diag_t *diag);

/* The family of an architecture's instruct models (general.architecture): gemma, gemma2 and
 * gemma3 → ELM_CHAT_GEMMA, phi3 → ELM_CHAT_PHI3, internlm2 → ELM_CHAT_CHATML, t5 →
 * ELM_CHAT_PLAIN; ELM_CHAT_UNKNOWN
 * for any other (llama and qwen2 files are shared by too many template families to guess). */
elm_chat_tmpl_t elm_chat_for_arch(const char *arch);

/* The family to use for t: override_name when given (ELM_EINVAL if it names none), else the
 * detected family of t's template; a file without a template gets its architecture's family
 * (elm_chat_for_arch) when there is one; otherwise a missing or unrecognized template gives
 * ChatML and a warning through elm_log. */
int elm_chat_pick(const elm_tokenizer_t *t, const char *override_name, elm_chat_tmpl_t *out,
                  elm_diag_t *diag);

/* Format n messages in the family's prompt format, plus the assistant's turn opening when
 * add_generation_prompt, into a new NUL-terminated string *out (caller frees). The text contains
 * special-token text: tokenize it with ELM_TOK_PARSE_SPECIAL. ELM_EINVAL for a NULL role or
 * content or an unknown family. */
int elm_chat_format(elm_chat_tmpl_t tmpl, const elm_chat_msg_t *msgs, size_t n,
                    bool add_generation_prompt, char **out, elm_diag_t *diag);

#ifdef __cplusplus
}
#endif
#endif
