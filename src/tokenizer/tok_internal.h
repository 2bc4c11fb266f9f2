/* Internal to src/tokenizer: the tokenizer object, its hash tables, the pre-tokenizer, and the
 * per-algorithm encoders that encode.c dispatches to. */
#ifndef ELM_TOK_INTERNAL_H
#define ELM_TOK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgelm/tokenizer.h"

#define ELM__N_BYTE_CP 324 /* the byte-level alphabet's code points are all below this */

/* ---- growable arrays (containers.c) ---- */

/* Room for one more element in an array of *cap elements of size bytes, all in use: the array
 * reallocated to twice the capacity (first when *cap is 0), *cap updated; NULL (v and *cap left
 * as they were) when the memory is not there. */
void *elm__grow(void *v, size_t *cap, size_t size, size_t first);

typedef struct {
    int32_t *v;
    size_t n, cap;
} elm__ids_t;

int elm__ids_push(elm__ids_t *a, int32_t id);

/* ---- merge candidates: a binary heap, smallest key first, then leftmost (containers.c) ---- */

typedef struct {
    float key;           /* BPE: merge rank; SPM: minus the merged token's score */
    int32_t left, right; /* symbol indices */
    int32_t a, b, c;     /* what the encoder needs to check and apply the merge */
} elm__cand_t;

typedef struct {
    elm__cand_t *v;
    size_t n, cap;
} elm__heap_t;

int elm__heap_push(elm__heap_t *h, elm__cand_t c);
/* Remove and return the first candidate; the caller keeps h->n > 0. */
elm__cand_t elm__heap_pop(elm__heap_t *h);

/* ---- pre-tokenizer (pretok.c) ---- */

typedef struct elm__pretok elm__pretok_t;

/* A byte range [off, off + len) of the text. */
typedef struct {
    size_t off, len;
} elm__span_t;

typedef struct {
    elm__span_t *v;
    size_t n, cap;
} elm__spans_t;

/* Compile the regexes of a pre-tokenizer by name ("qwen2", "llama-bpe", ...). ELM_ENOTSUP with
 * diag naming the pre-tokenizer when it is unknown. */
int elm__pretok_create(const char *name, elm__pretok_t **out, elm_diag_t *diag);
void elm__pretok_free(elm__pretok_t *p);
/* Whether the whole pre-token is looked up before merging (llama3's ignore_merges). */
bool elm__pretok_ignore_merges(const elm__pretok_t *p);
/* Split text[0..len) into pre-tokens, appended to out as spans relative to text. Each regex in
 * turn splits every piece the previous one produced; unmatched gaps stay pieces of their own. */
int elm__pretok_split(const elm__pretok_t *p, const char *text, size_t len, elm__spans_t *out);

/* ---- the tokenizer ---- */

typedef struct elm__ugm elm__ugm_t; /* the unigram model's normalizer and piece trie (ugm.c) */

typedef struct {
    uint32_t off; /* into text arena */
    uint32_t len;
    float score;
    uint8_t type; /* elm_token_type_t */
} elm__token_t;

/* One merge: key (left id << 32 | right id) → rank and the merged token. */
typedef struct {
    uint64_t key;
    int32_t rank;
    int32_t result;
} elm__merge_t;

struct elm_tokenizer {
    elm_tok_kind_t kind;
    char pre[64];
    int32_t n_vocab;
    elm__token_t *tokens;
    char *arena; /* all token texts, each NUL-terminated */
    /* text → id: open addressing, capacity a power of two, -1 empty */
    int32_t *tok_hash;
    uint32_t tok_hash_mask;
    /* BPE */
    elm__merge_t *merges; /* open addressing, key 0 with rank -1 empty */
    uint64_t merge_mask;
    int32_t byte_tok[256]; /* BPE: token of the byte-level character of each byte; SPM: <0xNN> */
    int16_t cp_byte[ELM__N_BYTE_CP]; /* BPE: byte-level character → byte, -1 for none */
    elm__pretok_t *pretok;
    /* SPM and UGM */
    bool add_space_prefix;
    uint8_t spm_break[256]; /* ASCII bytes no token longer than one byte contains */
    /* UGM */
    elm__ugm_t *ugm;
    /* specials */
    int32_t bos, eos, eot, pad, unk;
    bool add_bos, add_eos;
    uint8_t *is_eog;  /* per token */
    int32_t *special; /* ids matched in text (control/user-defined/unknown), longest text first */
    int32_t n_special;
    char *chat_template;
    elm_chat_tmpl_t arch_chat; /* the family general.architecture implies, for files without a
                                  chat template (UNKNOWN: none) */
};

/* ---- hashes (containers.c) ---- */

/* FNV-1a over bytes. */
uint32_t elm__hash_bytes(const char *s, size_t n);
/* A 64-bit finalizer (MurmurHash3's first half): the merge table's slot of an id pair key. */
uint64_t elm__mix64(uint64_t k);

/* ---- byte-level alphabet (bytes.c) ---- */

/* Fill inv[cp] with the byte code point cp stands for, or -1 (the inverse of
 * elm_tokenizer_byte_text, tokenizer.h). */
void elm__byte_alphabet_inverse(int16_t inv[ELM__N_BYTE_CP]);

/* ---- encoders ---- */

/* Append the tokens of one raw-text fragment (no special tokens inside). */
int elm__bpe_encode(const elm_tokenizer_t *t, const char *text, size_t len, elm__ids_t *out);
/* prefix_space: add_space_prefix applies (first fragment or after a special token). */
int elm__spm_encode(const elm_tokenizer_t *t, const char *text, size_t len, bool prefix_space,
                    elm__ids_t *out);

/* UGM: read the charsmap (validated: ELM_EINVAL naming the key when corrupt) and
 * remove_extra_whitespaces, build the piece trie; t->ugm is set even on failure, for
 * elm_tokenizer_free. Needs the tokens and special ids read. */
int elm__ugm_create(elm_tokenizer_t *t, const elm_gguf_t *g, const char *name, elm_diag_t *d);
void elm__ugm_free(elm__ugm_t *u);
/* Normalize and segment one raw-text fragment; each fragment gets its own space prefix. */
int elm__ugm_encode(const elm_tokenizer_t *t, const char *text, size_t len, elm__ids_t *out);

/* ---- UTF-8 ---- */

/* Length of the well-formed UTF-8 character at s[0..n): 1..4, 0 when s is a valid but
 * unfinished prefix (more bytes could complete it), -1 when s[0] cannot start a character here. */
int elm__utf8_char(const uint8_t *s, size_t n);

#endif
