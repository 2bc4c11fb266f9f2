/* Synthetic models: a plan (metadata + tensor list with llama-quantize's types, and the exact file
 * size) built from a shape table entry, then written with seeded random weights, streamed a chunk
 * at a time through the GGUF writer. The plan is the one code path for both the size estimate
 * and the file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/convert_internal.h"

struct elm_synth_plan_s {
    const elm_synth_shape_t *shape;
    elm_ftype_t ftype;
    elm__kvlist_t kv;
    elm_gguf_t *vocab;    /* the --vocab file; kv borrows its strings */
    elm_tensor_desc_t *t; /* [n], types chosen */
    char **names;         /* [n] */
    size_t n;
    uint64_t file_size;
};

static uint64_t align_up(uint64_t x, uint64_t a)
{
    return (x + a - 1) / a * a;
}

static uint64_t tensor_bytes(const elm_tensor_desc_t *t)
{
    uint64_t rows = 1, row = 0;
    for (uint32_t d = 1; d < t->n_dims; d++)
        rows *= (uint64_t)t->ne[d];
    elm_type_row_size(t->type, (uint64_t)t->ne[0], &row);
    return row * rows;
}

/* The t5.* keys in the order T5Model.set_gguf_parameters writes them (reference README §6.4):
 * no head_count_kv, no rope; both epsilons are T5's layer_norm_epsilon. */
static int add_t5_keys(elm__kvlist_t *l, const elm_synth_shape_t *s, elm_ftype_t ftype)
{
    int rc;
    if ((rc = elm__kvlist_add_u32(l, "t5.context_length", s->n_ctx_train)) ||
        (rc = elm__kvlist_add_u32(l, "t5.embedding_length", s->n_embd)) ||
        (rc = elm__kvlist_add_u32(l, "t5.feed_forward_length", s->n_ff)) ||
        (rc = elm__kvlist_add_u32(l, "t5.block_count", s->n_layer)) ||
        (rc = elm__kvlist_add_u32(l, "t5.attention.head_count", s->n_head)) ||
        (rc = elm__kvlist_add_u32(l, "t5.attention.key_length", s->head_dim)) ||
        (rc = elm__kvlist_add_u32(l, "t5.attention.value_length", s->head_dim)) ||
        (rc = elm__kvlist_add_f32(l, "t5.attention.layer_norm_epsilon", s->rms_eps)) ||
        (rc = elm__kvlist_add_u32(l, "t5.attention.relative_buckets_count", s->n_rel_buckets)) ||
        (rc = elm__kvlist_add_f32(l, "t5.attention.layer_norm_rms_epsilon", s->rms_eps)) ||
        /* Flan-T5's decoder_start_token_id: <pad> */
        (rc = elm__kvlist_add_u32(l, "t5.decoder_start_token_id", 0)))
        return rc;
    return elm__kvlist_add_u32(l, "general.file_type", (uint32_t)ftype);
}

/* The <arch>.* keys of a decoder-only model, in convert_hf_to_gguf.py's order. */
static int add_arch_keys(elm__kvlist_t *l, const elm_synth_shape_t *s, elm_ftype_t ftype)
{
    char k[128];
    int rc;
#define KEY(suffix) (snprintf(k, sizeof k, "%s." suffix, s->arch), k)
    bool llama = !strcmp(s->arch, "llama"), llama3 = s->rope_scale_factor > 0;
    bool gemma2 = !strcmp(s->arch, "gemma2"), phi3 = !strcmp(s->arch, "phi3");
    if ((rc = elm__kvlist_add_u32(l, KEY("block_count"), s->n_layer)) ||
        (rc = elm__kvlist_add_u32(l, KEY("context_length"), s->n_ctx_train)) ||
        (rc = elm__kvlist_add_u32(l, KEY("embedding_length"), s->n_embd)) ||
        (rc = elm__kvlist_add_u32(l, KEY("feed_forward_length"), s->n_ff)) ||
        (rc = elm__kvlist_add_u32(l, KEY("attention.head_count"), s->n_head)) ||
        (rc = elm__kvlist_add_u32(l, KEY("attention.head_count_kv"), s->n_head_kv)))
        return rc;
    /* Gemma2Model writes no rope.freq_base (llama.cpp's default 10000 is Gemma 2's) */
    if ((!gemma2 && (rc = elm__kvlist_add_f32(l, KEY("rope.freq_base"), s->rope_theta))) ||
        (rc = elm__kvlist_add_f32(l, KEY("attention.layer_norm_rms_epsilon"), s->rms_eps)))
        return rc;
    /* convert_hf_to_gguf.py writes key/value_length only when config.json has head_dim (Llama
     * 3.2/3.1, Gemma 2), and vocab_size + rope.dimension_count for the llama architecture. */
    if ((llama3 || gemma2) &&
        ((rc = elm__kvlist_add_u32(l, KEY("attention.key_length"), s->head_dim)) ||
         (rc = elm__kvlist_add_u32(l, KEY("attention.value_length"), s->head_dim))))
        return rc;
    if ((rc = elm__kvlist_add_u32(l, "general.file_type", (uint32_t)ftype))) return rc;
    if (llama && ((rc = elm__kvlist_add_u32(l, KEY("vocab_size"), s->n_vocab)) ||
                  (rc = elm__kvlist_add_u32(l, KEY("rope.dimension_count"), s->head_dim))))
        return rc;
    if (s->attn_softcap > 0 &&
        ((rc = elm__kvlist_add_f32(l, KEY("attn_logit_softcapping"), s->attn_softcap)) ||
         (rc = elm__kvlist_add_f32(l, KEY("final_logit_softcapping"), s->final_softcap))))
        return rc;
    if (phi3 && ((rc = elm__kvlist_add_u32(l, KEY("rope.scaling.original_context_length"),
                                           s->n_ctx_orig)) ||
                 (rc = elm__kvlist_add_u32(l, KEY("rope.dimension_count"), s->head_dim))))
        return rc;
    if (s->sliding_window &&
        (rc = elm__kvlist_add_u32(l, KEY("attention.sliding_window"), s->sliding_window)))
        return rc;
    if (s->n_ctx_orig) {
        /* Phi3MiniModel: attn_factor = sqrt(1 + ln(s) / ln(orig)), s = context / orig (1 if
         * s <= 1), computed in double and written as f32 */
        double sc = (double)s->n_ctx_train / (double)s->n_ctx_orig;
        double af = sc > 1.0 ? sqrt(1.0 + log(sc) / log((double)s->n_ctx_orig)) : 1.0;
        return elm__kvlist_add_f32(l, KEY("rope.scaling.attn_factor"), (float)af);
    }
#undef KEY
    return 0;
}

static int add_metadata(elm_synth_plan_t *p, const char *vocab_path, elm_diag_t *diag)
{
    const elm_synth_shape_t *s = p->shape;
    elm__kvlist_t *l = &p->kv;
    int rc;
    if ((rc = elm__kvlist_add_str(l, "general.architecture", s->arch)) ||
        (rc = elm__kvlist_add_str(l, "general.type", "model")) ||
        (rc = elm__kvlist_add_str(l, "general.name", s->hf_name)))
        goto fail;
    rc = s->n_rel_buckets ? add_t5_keys(l, s, p->ftype) : add_arch_keys(l, s, p->ftype);
    if (rc) goto fail;
    if ((rc = elm__vocab_add(l, s, vocab_path, &p->vocab, diag))) return rc;
    if ((rc = elm__kvlist_add_u32(l, "general.quantization_version", 2))) goto fail;
    return 0;
fail:
    return elm_diag(diag, rc, "building the metadata: %s", elm_strerror(rc));
}

int elm_synth_plan(const char *spec, const elm_synth_opts_t *opts, elm_synth_plan_t **out,
                   elm_diag_t *diag)
{
    *out = NULL;
    char name[64];
    const char *colon = spec ? strchr(spec, ':') : NULL;
    if (!colon || (size_t)(colon - spec) >= sizeof name)
        return elm_diag(diag, ELM_EINVAL, "'%s': expected SHAPE:QUANT, e.g. qwen2.5-0.5b:Q4_K_M",
                        spec ? spec : "");
    memcpy(name, spec, (size_t)(colon - spec));
    name[colon - spec] = 0;
    const elm_synth_shape_t *shape = elm_synth_shape_find(name);
    if (!shape) {
        char known[512] = "";
        size_t n;
        const elm_synth_shape_t *all = elm_synth_shapes(&n);
        for (size_t i = 0; i < n; i++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "",
                     all[i].name);
        return elm_diag(diag, ELM_EINVAL, "unknown shape '%s' (known: %s)", name, known);
    }
    elm_ftype_t ftype;
    if (elm_ftype_from_name(colon + 1, &ftype))
        return elm_diag(diag, ELM_EINVAL, "unknown quantization type '%s' (valid: %s)", colon + 1,
                        elm_ftype_list(true));
    return elm__synth_plan_shape(shape, ftype, opts, out, diag);
}

int elm__synth_plan_shape(const elm_synth_shape_t *shape, elm_ftype_t ftype,
                          const elm_synth_opts_t *opts, elm_synth_plan_t **out, elm_diag_t *diag)
{
    *out = NULL;
    elm_synth_plan_t *p = calloc(1, sizeof *p);
    if (!p) return elm_diag(diag, ELM_ENOMEM, "out of memory");
    p->shape = shape;
    p->ftype = ftype;
    elm_type_t *types = NULL;
    int rc = elm__shape_tensors(shape, &p->t, &p->names, &p->n);
    if (rc) {
        elm_diag(diag, rc, "building the tensor list: %s", elm_strerror(rc));
        goto fail;
    }
    if (!(types = malloc(p->n * sizeof *types))) {
        rc = elm_diag(diag, ELM_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = elm_choose_types(p->t, p->n, shape->n_layer, ftype, types, diag))) goto fail;
    for (size_t i = 0; i < p->n; i++)
        p->t[i].type = types[i];
    if ((rc = add_metadata(p, opts ? opts->vocab_path : NULL, diag))) goto fail;
    /* the layout elm_gguf_writer_* produces: header, metadata, tensor infos, padding, then each
     * tensor's data padded to the alignment */
    uint64_t head = 4 + 4 + 8 + 8 + elm__kvlist_bytes(&p->kv), data = 0;
    for (size_t i = 0; i < p->n; i++) {
        head += 8 + strlen(p->t[i].name) + 4 + 8ull * p->t[i].n_dims + 4 + 8;
        data += align_up(tensor_bytes(&p->t[i]), ELM_GGUF_DEFAULT_ALIGNMENT);
    }
    p->file_size = align_up(head, ELM_GGUF_DEFAULT_ALIGNMENT) + data;
    free(types);
    *out = p;
    return 0;
fail:
    free(types);
    elm_synth_plan_free(p);
    return rc;
}

void elm_synth_plan_free(elm_synth_plan_t *p)
{
    if (!p) return;
    elm__kvlist_free(&p->kv);
    elm_gguf_close(p->vocab);
    for (size_t i = 0; p->names && i < p->n; i++)
        free(p->names[i]);
    free(p->names);
    free(p->t);
    free(p);
}

uint64_t elm_synth_plan_file_size(const elm_synth_plan_t *p)
{
    return p->file_size;
}
uint64_t elm_synth_plan_n_tensors(const elm_synth_plan_t *p)
{
    return p->n;
}
const elm_synth_shape_t *elm_synth_plan_shape(const elm_synth_plan_t *p)
{
    return p->shape;
}
elm_ftype_t elm_synth_plan_ftype(const elm_synth_plan_t *p)
{
    return p->ftype;
}

uint64_t elm_synth_plan_type_count(const elm_synth_plan_t *p, elm_type_t type)
{
    uint64_t c = 0;
    for (size_t i = 0; i < p->n; i++)
        c += p->t[i].type == type;
    return c;
}

/* ---- weights ---- */

typedef struct {
    uint64_t seed; /* per tensor */
    float mean, std;
    const float *fixed; /* rope_freqs: the values themselves */
} fill_t;

/* Row r of a tensor: normals from a per-row splitmix64 stream (so the bytes do not depend on the
 * thread count). A normal is approximated by the sum of four 16-bit uniforms (Irwin–Hall, n = 4),
 * rescaled to unit variance: one PRNG call per value. */
static void fill_row(void *user, int64_t row, float *dst, int64_t ne0)
{
    const fill_t *f = user;
    if (f->fixed) {
        memcpy(dst, f->fixed, (size_t)ne0 * sizeof *dst);
        return;
    }
    uint64_t s = f->seed ^ ((uint64_t)row * 0xD1B54A32D192ED03ull);
    const float k = f->std * 1.7320508f / 65536.0f; /* sqrt(3) / 2^16: unit variance */
    for (int64_t i = 0; i < ne0; i++) {
        uint64_t z = elm__splitmix64(&s);
        float u = (float)((z & 0xFFFF) + ((z >> 16) & 0xFFFF) + ((z >> 32) & 0xFFFF) + (z >> 48));
        dst[i] = f->mean + (u - 131070.0f) * k;
    }
}

typedef struct {
    fill_t f;
    int64_t ne0;
} fill_job_t;

static void fill_cb(void *user, int64_t row, float *dst)
{
    fill_job_t *j = user;
    fill_row(&j->f, row, dst, j->ne0);
}

/* T5 has no 1/sqrt(d) in its attention (Mesh-TF folds it into Wq's initialisation), so q and k
 * (self and cross) are drawn small enough that q·k has a std of about 1.8 at any width, as
 * tiny-t5's 0.03 at n_embd 256 gives (reference README §6.4): each of q, k then has a std of
 * 0.48 per element for an RMS-normed input. Every other weight: 0.02. */
static float weight_std(const elm_synth_shape_t *s, const char *name)
{
    if (s->n_rel_buckets && (strstr(name, "attn_q.weight") || strstr(name, "attn_k.weight")))
        return 0.48f / sqrtf((float)s->n_embd);
    return 0.02f;
}

int elm_synth_write(const elm_synth_plan_t *p, const char *out_path, const elm_synth_opts_t *opts,
                    elm_convert_stats_t *stats, elm_diag_t *diag)
{
    uint64_t t0 = elm_time_ns();
    int n_threads = elm__resolve_threads(opts ? opts->n_threads : 0);
    uint64_t seed = opts ? opts->seed : 0;
    elm_gguf_writer_t *w = NULL;
    uint8_t *buf = NULL;
    float *scratch = NULL, *rope = NULL;
    int64_t max_ne0 = 1;
    elm__progress_t pr = {opts ? opts->progress : NULL, opts ? opts->progress_user : NULL, 0, 0};
    if (stats) memset(stats, 0, sizeof *stats);
    for (size_t i = 0; i < p->n; i++) {
        if (p->t[i].ne[0] > max_ne0) max_ne0 = p->t[i].ne[0];
        pr.total += tensor_bytes(&p->t[i]);
    }
    int rc = elm_gguf_writer_open(out_path, &w, diag);
    if (rc) return rc;
    for (size_t i = 0; i < p->kv.n && !rc; i++)
        rc = elm_gguf_writer_add_value(w, p->kv.kv[i].key, &p->kv.kv[i].v);
    for (size_t i = 0; i < p->n && !rc; i++)
        rc = elm_gguf_writer_add_tensor(w, p->t[i].name, p->t[i].type, p->t[i].n_dims, p->t[i].ne);
    if (rc) {
        elm_diag(diag, rc, "%s: declaring metadata and tensors failed (%s)", out_path,
                 elm_strerror(rc));
        goto fail;
    }
    buf = malloc(ELM__CHUNK_BYTES + (size_t)max_ne0 * 8);
    scratch = malloc((size_t)n_threads * (size_t)max_ne0 * sizeof *scratch);
    rope = malloc((size_t)max_ne0 * sizeof *rope);
    if (!buf || !scratch || !rope) {
        rc = elm_diag(diag, ELM_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < p->n; i++) {
        const elm_tensor_desc_t *t = &p->t[i];
        fill_job_t fj = {{seed ^ elm__fnv1a64(t->name), 0.0f, weight_std(p->shape, t->name), NULL},
                         t->ne[0]};
        if (strstr(t->name, "_norm.weight")) {
            fj.f.mean = 1.0f;
        } else if (!strcmp(t->name, "rope_freqs.weight")) {
            elm_llama3_rope_factors(p->shape->rope_theta, p->shape->head_dim,
                                    p->shape->rope_scale_factor, rope);
            fj.f.fixed = rope;
        } else if (!strcmp(t->name, "rope_factors_long.weight")) {
            fj.f.fixed = p->shape->rope_long;
        } else if (!strcmp(t->name, "rope_factors_short.weight")) {
            fj.f.fixed = p->shape->rope_short;
        }
        elm__encode_t job = {t->ne[0], 1, 0, fill_cb, &fj, NULL, scratch};
        for (uint32_t d = 1; d < t->n_dims; d++)
            job.n_rows *= t->ne[d];
        uint64_t rb = 0;
        elm_type_row_size(t->type, (uint64_t)t->ne[0], &rb);
        job.row_bytes = (size_t)rb;
        if (t->type != ELM_TYPE_F32) {
            const elm_type_traits_t *tr = elm_traits(t->type);
            if (!tr || !tr->quantize) {
                rc = elm_diag(diag, ELM_ENOTSUP, "tensor %s: the kernels cannot make type %s yet",
                              t->name, elm_type_info(t->type)->name);
                goto fail;
            }
            job.quantize = tr->quantize;
        }
        if ((rc = elm__encode_tensor(w, &job, n_threads, buf, ELM__CHUNK_BYTES, &pr))) {
            elm_diag(diag, rc, "%s: writing tensor %s failed (%s)", out_path, t->name,
                     elm_strerror(rc));
            goto fail;
        }
        if (stats) {
            stats->type_count[t->type]++;
            stats->n_params += (uint64_t)job.n_rows * (uint64_t)t->ne[0];
        }
    }
    free(buf);
    free(scratch);
    free(rope);
    buf = NULL;
    scratch = rope = NULL;
    rc = elm_gguf_writer_finish(w, diag);
    w = NULL;
    if (rc) goto fail;
    if (stats) {
        stats->n_tensors = p->n;
        stats->out_bytes = p->file_size;
        stats->seconds = (double)(elm_time_ns() - t0) / 1e9;
    }
    return 0;
fail:
    elm_gguf_writer_free(w);
    free(buf);
    free(scratch);
    free(rope);
    return rc;
}
