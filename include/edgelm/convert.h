/* edgelm convert: quantize a GGUF model (F32/F16/BF16 → F16, BF16, Q8_0, Q4_0, …, Q4_K_M) with
 * llama.cpp's per-tensor type rules, and synthesize random-weight GGUF files with the exact
 * tensor names, shapes, types and metadata of real models. Both stream one tensor at a time. */
#ifndef EDGELM_CONVERT_H
#define EDGELM_CONVERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgelm/base.h"
#include "edgelm/gguf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- file types ---- */

/* What a whole file is quantized to: llama.cpp's LLAMA_FTYPE numbers, as written to
 * general.file_type. Only the values below are produced by edgelm. */
typedef enum {
    ELM_FTYPE_ALL_F32 = 0,
    ELM_FTYPE_F16 = 1,
    ELM_FTYPE_Q4_0 = 2,
    ELM_FTYPE_Q4_1 = 3,
    ELM_FTYPE_Q8_0 = 7,
    ELM_FTYPE_Q5_0 = 8,
    ELM_FTYPE_Q5_1 = 9,
    ELM_FTYPE_Q4_K_S = 14,
    ELM_FTYPE_Q4_K_M = 15,
    ELM_FTYPE_Q5_K_S = 16,
    ELM_FTYPE_Q5_K_M = 17,
    ELM_FTYPE_Q6_K = 18,
    ELM_FTYPE_BF16 = 32
} elm_ftype_t;

/* Parse a file-type name, case-insensitively: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
 * Q6_K, Q4_K_S, Q4_K_M, Q5_K_S, Q5_K_M, and llama-quantize's aliases Q4_K (= Q4_K_M) and Q5_K
 * (= Q5_K_M). Returns 0 or ELM_EINVAL (then *out is ELM_FTYPE_ALL_F32). */
int elm_ftype_from_name(const char *name, elm_ftype_t *out);

/* "Q4_K_M", "F16", ...; "?" for a value not listed above. */
const char *elm_ftype_name(elm_ftype_t ftype);

/* The names elm_ftype_from_name() accepts, comma-separated, for messages; with_f32 adds "F32"
 * (synth accepts it, quantize does not). Static string. */
const char *elm_ftype_list(bool with_f32);

/* The tensor type most weights get under ftype (Q4_K for Q4_K_M, F16 for F16, ...). */
elm_type_t elm_ftype_base_type(elm_ftype_t ftype);

/* ---- per-tensor type choice (llama.cpp's llama_tensor_get_type) ---- */

/* One tensor as the type chooser sees it. */
typedef struct {
    const char *name;
    elm_type_t type; /* its type now (in the source file) */
    uint32_t n_dims;
    int64_t ne[ELM_GGUF_MAX_DIMS];
} elm_tensor_desc_t;

/* Order tensors as llama.cpp writes them (non-layer tensors first, then by layer number, then by
 * name): permutes order[0..n) (indices into t). This order also drives the layer counters below. */
void elm_tensor_order(const elm_tensor_desc_t *t, size_t n, size_t *order);

/* Choose the type of every tensor t[0..n) (given in elm_tensor_order()'s order) for ftype, as
 * llama-quantize does without an imatrix: which tensors are quantized at all, the output /
 * tied-embedding rule, the _M and _S rules for attn_v and ffn_down, and the fallback for rows
 * that are not a whole number of blocks. n_layer is the model's block count. Fills out[n].
 * Returns 0, or ELM_ENOTSUP when a tensor's rows fit no usable type (diag names it). */
int elm_choose_types(const elm_tensor_desc_t *t, size_t n, uint32_t n_layer, elm_ftype_t ftype,
                     elm_type_t *out, elm_diag_t *diag);

/* ---- progress and results ---- */

/* Called from the calling thread after each piece of work: done of total units (bytes written). */
typedef void (*elm_progress_fn)(uint64_t done, uint64_t total, void *user);

/* What a quantize or synth run produced. */
typedef struct {
    uint64_t in_bytes;  /* input file size (0 for synth) */
    uint64_t out_bytes; /* output file size */
    uint64_t n_tensors;
    uint64_t type_count[ELM_TYPE_COUNT]; /* tensors of each type in the output */
    uint64_t n_params;                   /* total elements of all tensors */
    double seconds;
} elm_convert_stats_t;

/* "q4_0 168, q8_0 1, f32 121" (types by descending count) into buf; returns buf. */
const char *elm_convert_stats_types(const elm_convert_stats_t *s, char *buf, size_t len);

/* ---- quantize ---- */

typedef struct {
    int n_threads;            /* <= 0: number of online CPUs */
    elm_progress_fn progress; /* optional */
    void *progress_user;
} elm_convert_opts_t;

/* Quantize in_path (tensors F32, F16 or BF16) into out_path under ftype. All metadata is copied;
 * general.quantization_version = 2 and general.file_type = ftype are (re)set at the end, as
 * llama-quantize does. Tensors are written in llama.cpp's order. Already-quantized input is
 * refused (requantizing is not supported). stats may be NULL. Returns 0 or ELM_E*, with diag
 * naming the file, the tensor and the fix; a failed run leaves no out_path behind. */
int elm_quantize(const char *in_path, const char *out_path, elm_ftype_t ftype,
                 const elm_convert_opts_t *opts, elm_convert_stats_t *stats, elm_diag_t *diag);

/* ---- synthetic models ---- */

/* The architecture-level facts of a real model (from its config.json). */
typedef struct {
    const char *name; /* "qwen2.5-0.5b" */
    const char *arch; /* GGUF architecture: "qwen2", "llama", "gemma2", "phi3", "internlm2", "t5" */
    const char *family; /* "qwen2", "llama3", "smollm2", "gemma2", "t5", ...: tokenizer, template */
    const char *hf_name; /* general.name of the real files */
    uint32_t n_embd, n_ff, n_layer, n_head, n_head_kv, head_dim;
    uint32_t n_vocab;     /* rows of token_embd */
    uint32_t n_ctx_train; /* context_length */
    bool tied;            /* no output.weight: token_embd is the output matrix */
    bool qkv_bias;        /* qwen2: attn_{q,k,v}.bias */
    float rope_theta, rms_eps;
    float rope_scale_factor; /* llama3 rope scaling factor (0: none → no rope_freqs) */
    /* gemma2 and phi3 only (0 / NULL elsewhere) */
    float attn_softcap, final_softcap; /* gemma2: attn_logit_ / final_logit_softcapping */
    uint32_t sliding_window;           /* <arch>.attention.sliding_window (0: no key) */
    uint32_t n_ctx_orig; /* phi3 LongRoPE: rope.scaling.original_context_length (0: none) */
    const float *rope_long, *rope_short; /* phi3: LongRoPE factors, head_dim/2 each, or NULL */
    /* t5 only: n_layer encoder and n_layer decoder blocks (llama.cpp's one block_count), n_ff
     * the gated-GELU width, head_dim d_kv, rms_eps T5's LayerNorm epsilon, no rope */
    uint32_t n_rel_buckets; /* relative_attention_num_buckets (0: not an encoder-decoder) */
} elm_synth_shape_t;

/* The known shapes: *n gets their count. Static table. */
const elm_synth_shape_t *elm_synth_shapes(size_t *n);

/* A shape by name (case-insensitive), or NULL. */
const elm_synth_shape_t *elm_synth_shape_find(const char *name);

/* Llama 3 rope scaling factors (rope_freqs.weight, head_dim/2 values), computed in f32 as
 * convert_hf_to_gguf.py does (low_freq_factor 1, high_freq_factor 4, original context 8192). */
void elm_llama3_rope_factors(float base, uint32_t head_dim, float factor, float *out);

/* Everything a synth run will write: the metadata and the tensor list with types. (The struct
 * tag is not elm_synth_plan, the function's name: C++ would take one for the other.) */
typedef struct elm_synth_plan_s elm_synth_plan_t;

typedef struct {
    uint64_t seed;          /* weights' PRNG seed */
    const char *vocab_path; /* optional vocab GGUF whose tokenizer.* keys are copied */
    int n_threads;          /* <= 0: number of online CPUs */
    elm_progress_fn progress;
    void *progress_user;
} elm_synth_opts_t;

/* Build the plan for spec "SHAPE:QUANT" (QUANT any elm_ftype_from_name() name or F32). Reads the
 * vocab file if opts names one. *out is owned by the caller (elm_synth_plan_free()), NULL on
 * failure. */
int elm_synth_plan(const char *spec, const elm_synth_opts_t *opts, elm_synth_plan_t **out,
                   elm_diag_t *diag);

void elm_synth_plan_free(elm_synth_plan_t *p);

/* The exact size of the file the plan writes, in bytes, and its tensor count. */
uint64_t elm_synth_plan_file_size(const elm_synth_plan_t *p);
uint64_t elm_synth_plan_n_tensors(const elm_synth_plan_t *p);
/* The number of tensors of a given type in the plan. */
uint64_t elm_synth_plan_type_count(const elm_synth_plan_t *p, elm_type_t type);
const elm_synth_shape_t *elm_synth_plan_shape(const elm_synth_plan_t *p);
elm_ftype_t elm_synth_plan_ftype(const elm_synth_plan_t *p);

/* Write the plan's file to out_path with seeded random weights (normal × 0.02; norms ≈ 1;
 * rope_freqs computed; LongRoPE factors copied from the shape; T5's attention q/k smaller, as it
 * has no 1/sqrt(d) scaling), streamed through the GGUF writer.
 * stats may be NULL. */
int elm_synth_write(const elm_synth_plan_t *p, const char *out_path, const elm_synth_opts_t *opts,
                    elm_convert_stats_t *stats, elm_diag_t *diag);

#ifdef __cplusplus
}
#endif
#endif
