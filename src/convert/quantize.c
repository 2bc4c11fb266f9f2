/* `quantize`: read a GGUF of F32/F16/BF16 tensors and write it again with llama-quantize's
 * per-tensor types (mix.c), a tensor at a time, rows split across threads. Metadata is copied
 * as-is; general.quantization_version and general.file_type move to the end, as llama.cpp's
 * gguf_set_val_u32 (remove, then append) leaves them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/convert_internal.h"

typedef struct {
    const uint8_t *src; /* the tensor's data in the mapping */
    size_t src_row_bytes;
    elm_to_float_fn to_float; /* NULL: the source is F32 */
    int64_t ne0;
} src_rows_t;

static void dequant_row(void *user, int64_t row, float *dst)
{
    const src_rows_t *s = user;
    const uint8_t *p = s->src + (size_t)row * s->src_row_bytes;
    if (s->to_float)
        s->to_float(p, dst, s->ne0);
    else
        memcpy(dst, p, (size_t)s->ne0 * sizeof *dst);
}

static bool is_float_type(elm_type_t t)
{
    return t == ELM_TYPE_F32 || t == ELM_TYPE_F16 || t == ELM_TYPE_BF16;
}

int elm_quantize(const char *in_path, const char *out_path, elm_ftype_t ftype,
                 const elm_convert_opts_t *opts, elm_convert_stats_t *stats, elm_diag_t *diag)
{
    uint64_t t0 = elm_time_ns();
    elm_gguf_t *g = NULL;
    elm_gguf_writer_t *w = NULL;
    elm_tensor_desc_t *t = NULL;
    size_t *order = NULL;
    elm_type_t *types = NULL;
    uint8_t *buf = NULL;
    float *scratch = NULL;
    int n_threads = elm__resolve_threads(opts ? opts->n_threads : 0);
    elm__progress_t pr = {opts ? opts->progress : NULL, opts ? opts->progress_user : NULL, 0, 0};
    if (stats) memset(stats, 0, sizeof *stats);
    if (ftype == ELM_FTYPE_ALL_F32 || !strcmp(elm_ftype_name(ftype), "?"))
        return elm_diag(diag, ELM_EINVAL, "quantize: type must be one of %s",
                        elm_ftype_list(false));
    int rc = elm_gguf_open(in_path, &g, diag);
    if (rc) return rc;
    size_t n = (size_t)elm_gguf_n_tensors(g);
    uint64_t n_layer = 0;
    const elm_gguf_value_t *arch = elm_gguf_get(g, "general.architecture");
    if (arch && arch->type == ELM_GGUF_STRING && arch->s.len < 64) {
        char key[96];
        snprintf(key, sizeof key, "%.*s.block_count", (int)arch->s.len, arch->s.ptr);
        elm_gguf_get_u64(g, key, &n_layer);
    }
    t = malloc((n ? n : 1) * sizeof *t);
    order = malloc((n ? n : 1) * sizeof *order);
    types = malloc((n ? n : 1) * sizeof *types);
    if (!t || !order || !types) {
        rc = elm_diag(diag, ELM_ENOMEM, "out of memory");
        goto fail;
    }
    int64_t max_ne0 = 1;
    {
        elm_tensor_desc_t *all = malloc((n ? n : 1) * sizeof *all);
        if (!all) {
            rc = elm_diag(diag, ELM_ENOMEM, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < n; i++) {
            const elm_gguf_tensor_t *gt = elm_gguf_tensor_at(g, i);
            all[i] = (elm_tensor_desc_t){gt->name, gt->type, gt->n_dims, {0}};
            memcpy(all[i].ne, gt->ne, sizeof all[i].ne);
            if (gt->ne[0] > max_ne0) max_ne0 = gt->ne[0];
        }
        elm_tensor_order(all, n, order);
        for (size_t i = 0; i < n; i++)
            t[i] = all[order[i]];
        free(all);
    }
    if ((rc = elm_choose_types(t, n, (uint32_t)n_layer, ftype, types, diag))) {
        char m[sizeof diag->msg];
        snprintf(m, sizeof m, "%s", diag ? diag->msg : "");
        rc = elm_diag(diag, rc, "%s: %s", in_path, m);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        if (types[i] == t[i].type) continue;
        if (!is_float_type(t[i].type)) {
            rc = elm_diag(diag, ELM_ENOTSUP,
                          "%s: tensor %s is already quantized (%s); requantizing is not supported "
                          "(llama-quantize's --allow-requantize is out of scope): start from the "
                          "F32, F16 or BF16 file",
                          in_path, t[i].name, elm_type_info(t[i].type)->name);
            goto fail;
        }
        const elm_type_traits_t *tr = elm_traits(types[i]), *src = elm_traits(t[i].type);
        if (!tr || !tr->quantize || (t[i].type != ELM_TYPE_F32 && (!src || !src->to_float))) {
            rc = elm_diag(diag, ELM_ENOTSUP, "tensor %s: the kernels cannot convert %s to %s yet",
                          t[i].name, elm_type_info(t[i].type)->name, elm_type_info(types[i])->name);
            goto fail;
        }
    }
    if ((rc = elm_gguf_writer_open(out_path, &w, diag))) goto fail;
    for (uint64_t i = 0; i < elm_gguf_n_kv(g) && !rc; i++) {
        const elm_gguf_kv_t *kv = elm_gguf_kv_at(g, i);
        if (!strcmp(kv->key, "general.file_type") ||
            !strcmp(kv->key, "general.quantization_version"))
            continue;
        rc = elm_gguf_writer_add_value(w, kv->key, &kv->value);
    }
    if (!rc) rc = elm_gguf_writer_add_u32(w, "general.quantization_version", 2);
    if (!rc) rc = elm_gguf_writer_add_u32(w, "general.file_type", (uint32_t)ftype);
    for (size_t i = 0; i < n && !rc; i++) {
        rc = elm_gguf_writer_add_tensor(w, t[i].name, types[i], t[i].n_dims, t[i].ne);
        uint64_t rb = 0;
        elm_type_row_size(types[i], (uint64_t)t[i].ne[0], &rb);
        pr.total += rb * (elm_gguf_tensor_at(g, order[i])->n_elements / (uint64_t)t[i].ne[0]);
    }
    if (rc) {
        elm_diag(diag, rc, "%s: declaring metadata and tensors failed (%s)", out_path,
                 elm_strerror(rc));
        goto fail;
    }
    buf = malloc(ELM__CHUNK_BYTES + (size_t)max_ne0 * 8);
    scratch = malloc((size_t)n_threads * (size_t)max_ne0 * sizeof *scratch);
    if (!buf || !scratch) {
        rc = elm_diag(diag, ELM_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        const elm_gguf_tensor_t *gt = elm_gguf_tensor_at(g, order[i]);
        int64_t n_rows = (int64_t)(gt->n_elements / (uint64_t)gt->ne[0]);
        if (types[i] == gt->type) {
            /* unchanged: copy the bytes straight from the mapping */
            for (uint64_t off = 0; off < gt->size && !rc; off += ELM__CHUNK_BYTES) {
                size_t k =
                    gt->size - off < ELM__CHUNK_BYTES ? (size_t)(gt->size - off) : ELM__CHUNK_BYTES;
                rc = elm_gguf_writer_write(w, (const uint8_t *)gt->data + off, k);
                if (!rc) elm__progress_add(&pr, k);
            }
        } else {
            const elm_type_traits_t *src = elm_traits(gt->type);
            src_rows_t s = {gt->data, (size_t)(gt->size / (uint64_t)n_rows),
                            gt->type == ELM_TYPE_F32 ? NULL : src->to_float, gt->ne[0]};
            uint64_t rb = 0;
            elm_type_row_size(types[i], (uint64_t)gt->ne[0], &rb);
            elm__encode_t job = {gt->ne[0], n_rows, (size_t)rb, dequant_row, &s, NULL, scratch};
            if (types[i] != ELM_TYPE_F32) job.quantize = elm_traits(types[i])->quantize;
            rc = elm__encode_tensor(w, &job, n_threads, buf, ELM__CHUNK_BYTES, &pr);
        }
        if (rc) {
            elm_diag(diag, rc, "%s: writing tensor %s failed (%s)", out_path, gt->name,
                     elm_strerror(rc));
            goto fail;
        }
        if (stats) {
            stats->type_count[types[i]]++;
            stats->n_params += gt->n_elements;
        }
    }
    rc = elm_gguf_writer_finish(w, diag);
    w = NULL;
    if (rc) goto fail;
    if (stats) {
        stats->in_bytes = elm_gguf_file_size(g);
        stats->n_tensors = n;
        stats->seconds = (double)(elm_time_ns() - t0) / 1e9;
        elm_gguf_t *o = NULL;
        if (elm_gguf_open(out_path, &o, NULL) == 0) stats->out_bytes = elm_gguf_file_size(o);
        elm_gguf_close(o);
    }
fail:
    elm_gguf_writer_free(w);
    elm_gguf_close(g);
    free(t);
    free(order);
    free(types);
    free(buf);
    free(scratch);
    return rc;
}
