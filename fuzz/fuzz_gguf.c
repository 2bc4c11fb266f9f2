/* libFuzzer harness for the GGUF reader: open arbitrary bytes, then touch everything the reader
 * hands out (every kv, array item, string byte, tensor and its data) and every lookup, so ASan
 * catches any read outside the input or use of memory the reader did not own. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "edgelm/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t sink;

static void touch(const void *p, uint64_t n)
{
    const uint8_t *b = p;
    uint64_t h = 0;
    for (uint64_t i = 0; i < n; i++) h = h * 31 + b[i];
    sink += h;
}

static void walk_value(const elm_gguf_value_t *v, int depth)
{
    if (depth > 64) __builtin_trap(); /* the reader caps nesting far below this */
    switch (v->type) {
    case ELM_GGUF_STRING: touch(v->s.ptr, v->s.len); break;
    case ELM_GGUF_ARRAY: {
        size_t es = elm_gguf_vtype_size(v->arr.type);
        if (es > 0) {
            touch(v->arr.data, v->arr.n * es);
            for (uint64_t i = 0; i < v->arr.n; i++) {
                sink += (uint64_t)elm_gguf_arr_i64(v, i);
                sink += (uint64_t)(elm_gguf_arr_f64(v, i) != 0);
            }
        } else {
            if (v->arr.n && !v->arr.items) __builtin_trap();
            for (uint64_t i = 0; i < v->arr.n; i++) {
                if (v->arr.items[i].type != v->arr.type) __builtin_trap();
                walk_value(&v->arr.items[i], depth + 1);
            }
        }
        break;
    }
    default: sink += v->u; break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    elm_gguf_t *g = NULL;
    elm_diag_t d;
    int rc = elm_gguf_open_memory(data, size, "fuzz.gguf", &g, &d);
    if (rc != 0) {
        if (g || d.code != rc || !strstr(d.msg, "fuzz.gguf")) __builtin_trap();
        return 0;
    }
    uint32_t align = elm_gguf_alignment(g);
    if (align == 0 || (align & (align - 1)) || elm_gguf_data_offset(g) % align) __builtin_trap();
    for (uint64_t i = 0; i < elm_gguf_n_kv(g); i++) {
        const elm_gguf_kv_t *kv = elm_gguf_kv_at(g, i);
        touch(kv->key, strlen(kv->key) + 1);
        walk_value(&kv->value, 0);
        if (elm_gguf_get(g, kv->key) != &kv->value) __builtin_trap();
        uint64_t u;
        int64_t i64;
        uint32_t u32;
        double f;
        bool b;
        elm_str_t s;
        const elm_gguf_value_t *a;
        sink += (uint64_t)elm_gguf_get_u64(g, kv->key, &u) + u;
        sink += (uint64_t)elm_gguf_get_u32(g, kv->key, &u32) + u32;
        sink += (uint64_t)elm_gguf_get_i64(g, kv->key, &i64) + (uint64_t)i64;
        sink += (uint64_t)elm_gguf_get_f64(g, kv->key, &f) + (f != 0);
        sink += (uint64_t)elm_gguf_get_bool(g, kv->key, &b) + b;
        if (elm_gguf_get_str(g, kv->key, &s) == 0) touch(s.ptr, s.len);
        if (elm_gguf_get_arr(g, kv->key, &a) == 0 && a != &kv->value) __builtin_trap();
    }
    if (elm_gguf_kv_at(g, elm_gguf_n_kv(g))) __builtin_trap();
    for (uint64_t i = 0; i < elm_gguf_n_tensors(g); i++) {
        const elm_gguf_tensor_t *t = elm_gguf_tensor_at(g, i);
        touch(t->name, strlen(t->name) + 1);
        if (elm_gguf_find_tensor(g, t->name) != t) __builtin_trap();
        if (t->n_dims < 1 || t->n_dims > ELM_GGUF_MAX_DIMS || !elm_type_info(t->type)) __builtin_trap();
        if (t->size > 0) {
            const uint8_t *p = t->data;
            sink += p[0] + p[t->size - 1];
        }
    }
    if (elm_gguf_tensor_at(g, elm_gguf_n_tensors(g))) __builtin_trap();
    sink += elm_gguf_find_tensor(g, "token_embd.weight") != NULL;
    sink += elm_gguf_get(g, "general.architecture") != NULL;
    elm_gguf_close(g);
    return 0;
}
