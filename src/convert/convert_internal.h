/* convert/ internals shared by quantize, synth and the vocabulary generator: the row-parallel
 * worker, the seeded random numbers, and the metadata list with its exact on-disk size. */
#ifndef EDGELM_CONVERT_INTERNAL_H
#define EDGELM_CONVERT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgelm/convert.h"
#include "edgelm/kernels.h"

/* Output buffers are filled and written in chunks of about this many bytes per tensor. */
#define ELM__CHUNK_BYTES (4u << 20)

/* True for the tensors llama-quantize converts at all (2-D+ "weight", not a norm). */
bool elm__tensor_is_quantizable(const elm_tensor_desc_t *t);

/* ---- row-parallel work ---- */

/* Process rows [r0, r1) of one chunk; tid < n_threads picks the thread's scratch buffer. */
typedef void (*elm__rows_fn)(void *ctx, int64_t r0, int64_t r1, int tid);

/* Split rows [0, n_rows) into n_threads contiguous ranges and run fn on each, the first on the
 * calling thread. Returns 0 or ELM_ENOMEM (thread creation failed: then runs serially). */
int elm__parallel_rows(int n_threads, int64_t n_rows, elm__rows_fn fn, void *ctx);

/* Threads to use for a request (<= 0: the number of online CPUs), clamped to [1, 256]. */
int elm__resolve_threads(int n);

/* Progress over a whole run, in bytes of tensor data written. */
typedef struct {
    elm_progress_fn fn;
    void *user;
    uint64_t done, total;
} elm__progress_t;

void elm__progress_add(elm__progress_t *pr, uint64_t bytes);

/* One tensor to encode: fill() produces row r as ne0 floats, quantize() turns them into
 * row_bytes of the output type (NULL: the output is F32 and fill() writes it in place). */
typedef struct {
    int64_t ne0, n_rows;
    size_t row_bytes;
    void (*fill)(void *user, int64_t row, float *dst);
    void *user;
    elm_from_float_fn quantize;
    float *scratch; /* n_threads * ne0 floats */
} elm__encode_t;

/* Encode job's rows a chunk at a time into buf (buf_bytes, at least one row) on n_threads and
 * append each chunk to w. Returns 0 or the writer's error. */
int elm__encode_tensor(elm_gguf_writer_t *w, const elm__encode_t *job, int n_threads, uint8_t *buf,
                       size_t buf_bytes, elm__progress_t *pr);

/* ---- random numbers ---- */

static inline uint64_t elm__splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* FNV-1a 64 of a string. */
uint64_t elm__fnv1a64(const char *s);

/* ---- metadata list ---- */

/* An ordered list of metadata key/values with the exact bytes they take in a GGUF v3 header.
 * Values of kind STRING / string arrays point at memory the list owns (or borrows from a reader
 * that outlives it). */
typedef struct {
    char *key;
    elm_gguf_value_t v;
} elm__kv_t;

typedef struct {
    elm__kv_t *kv;
    size_t n, cap;
    void **owned; /* allocations to free with the list */
    size_t n_owned, cap_owned;
} elm__kvlist_t;

void elm__kvlist_free(elm__kvlist_t *l);
/* Append; the value is shallow-copied (its pointers must outlive the list). Returns 0/ENOMEM. */
int elm__kvlist_add(elm__kvlist_t *l, const char *key, const elm_gguf_value_t *v);
int elm__kvlist_add_u32(elm__kvlist_t *l, const char *key, uint32_t v);
int elm__kvlist_add_f32(elm__kvlist_t *l, const char *key, float v);
int elm__kvlist_add_bool(elm__kvlist_t *l, const char *key, bool v);
/* Strings are copied into the list. */
int elm__kvlist_add_str(elm__kvlist_t *l, const char *key, const char *s);
/* Take ownership of a malloc'd block, freed with the list (freed at once on failure). */
int elm__kvlist_own(elm__kvlist_t *l, void *p);
/* Bytes the list's metadata takes in a GGUF v3 header. */
uint64_t elm__kvlist_bytes(const elm__kvlist_t *l);
/* Bytes one value takes (type id not included for scalars in arrays). */
uint64_t elm__value_bytes(const elm_gguf_value_t *v);

/* ---- shapes ---- */

/* The tensors of shape s in llama.cpp's order, all typed F32 (the type rules pick the real
 * types). *t and *names (each name malloc'd; t[i].name == names[i]) are owned by the caller.
 * Returns 0 or ELM_ENOMEM. */
int elm__shape_tensors(const elm_synth_shape_t *s, elm_tensor_desc_t **t, char ***names, size_t *n);

/* ---- synth ---- */

/* elm_synth_plan() for a shape given directly (it must outlive the plan): what the spec's shape
 * name and quant resolve to. *out is owned by the caller, NULL on failure. */
int elm__synth_plan_shape(const elm_synth_shape_t *shape, elm_ftype_t ftype,
                          const elm_synth_opts_t *opts, elm_synth_plan_t **out, elm_diag_t *diag);

/* ---- vocabulary ---- */

/* Add the tokenizer.* keys for shape: copied from vocab_path (padded to n_vocab with "[PAD<id>]"
 * UNUSED tokens, as convert_hf_to_gguf.py pads) when given, else a generated vocabulary of n_vocab
 * tokens: byte-level BPE, or Unigram for the t5 family. *vocab_file receives the open reader
 * (caller closes it after the list is freed), or NULL. */
int elm__vocab_add(elm__kvlist_t *l, const elm_synth_shape_t *shape, const char *vocab_path,
                   elm_gguf_t **vocab_file, elm_diag_t *diag);

/* Add the tokenizer.* keys of a generated SentencePiece Unigram vocabulary of shape->n_vocab
 * entries laid out as a T5 model's (vocab_ugm.c). Returns 0, ELM_ENOMEM, or ELM_EINVAL (fewer
 * than 4 ids). */
int elm__vocab_ugm(elm__kvlist_t *l, const elm_synth_shape_t *shape);

#endif
