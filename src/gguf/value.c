/* gguf/: metadata values (type names and sizes, array element access), the name index used for
 * O(1) lookups, and the reader's accessors and typed getters. */
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf_internal.h"

/* ---- value types ---- */

static const char *const vtype_names[ELM_GGUF_VTYPE_COUNT] = {
    "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
    "bool",  "string", "array", "uint64", "int64", "float64",
};

static const size_t vtype_sizes[ELM_GGUF_VTYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char *elm_gguf_vtype_name(int vtype)
{
    if (vtype < 0 || vtype >= ELM_GGUF_VTYPE_COUNT) return "?";
    return vtype_names[vtype];
}

size_t elm_gguf_vtype_size(int vtype)
{
    if (vtype < 0 || vtype >= ELM_GGUF_VTYPE_COUNT) return 0;
    return vtype_sizes[vtype];
}

/* Decode one packed little-endian scalar of vtype at p as either a signed or a float value. */
static void decode_scalar(int vtype, const uint8_t *p, int64_t *iv, double *fv)
{
    uint32_t u32;
    uint64_t u64;
    float f;
    switch (vtype) {
    case ELM_GGUF_UINT8: case ELM_GGUF_BOOL: *iv = p[0]; *fv = p[0]; return;
    case ELM_GGUF_INT8: *iv = (int8_t)p[0]; *fv = (double)*iv; return;
    case ELM_GGUF_UINT16: *iv = elm__rd16(p); *fv = (double)*iv; return;
    case ELM_GGUF_INT16: *iv = (int16_t)elm__rd16(p); *fv = (double)*iv; return;
    case ELM_GGUF_UINT32: *iv = elm__rd32(p); *fv = (double)*iv; return;
    case ELM_GGUF_INT32: *iv = (int32_t)elm__rd32(p); *fv = (double)*iv; return;
    case ELM_GGUF_UINT64: u64 = elm__rd64(p); *iv = (int64_t)u64; *fv = (double)u64; return;
    case ELM_GGUF_INT64: *iv = (int64_t)elm__rd64(p); *fv = (double)*iv; return;
    case ELM_GGUF_FLOAT32:
        u32 = elm__rd32(p);
        memcpy(&f, &u32, 4);
        *fv = f;
        *iv = (f > -9.2e18f && f < 9.2e18f) ? (int64_t)f : 0;
        return;
    case ELM_GGUF_FLOAT64:
        u64 = elm__rd64(p);
        memcpy(fv, &u64, 8);
        *iv = (*fv > -9.2e18 && *fv < 9.2e18) ? (int64_t)*fv : 0;
        return;
    default: *iv = 0; *fv = 0; return;
    }
}

/* Element i of a numeric array; 0 for anything the caller should not have asked for. */
static void arr_elem(const elm_gguf_value_t *arr, uint64_t i, int64_t *iv, double *fv)
{
    *iv = 0;
    *fv = 0;
    if (!arr || arr->type != ELM_GGUF_ARRAY || i >= arr->arr.n || !arr->arr.data) return;
    size_t es = elm_gguf_vtype_size(arr->arr.type);
    if (es == 0) return;
    decode_scalar(arr->arr.type, (const uint8_t *)arr->arr.data + i * es, iv, fv);
}

double elm_gguf_arr_f64(const elm_gguf_value_t *arr, uint64_t i)
{
    int64_t iv;
    double fv;
    arr_elem(arr, i, &iv, &fv);
    return fv;
}

int64_t elm_gguf_arr_i64(const elm_gguf_value_t *arr, uint64_t i)
{
    int64_t iv;
    double fv;
    arr_elem(arr, i, &iv, &fv);
    return iv;
}

/* ---- name index ---- */

/* FNV-1a, 64 bit. */
static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

int elm__index_init(elm__index_t *ix, size_t n)
{
    size_t cap = 8;
    while (cap / 2 < n) {
        if (cap > SIZE_MAX / 4 / sizeof(size_t)) return ELM_ENOMEM;
        cap *= 2;
    }
    ix->slots = calloc(cap, sizeof *ix->slots);
    ix->cap = ix->slots ? cap : 0;
    return ix->slots ? ELM_OK : ELM_ENOMEM;
}

void elm__index_free(elm__index_t *ix)
{
    free(ix->slots);
    ix->slots = NULL;
    ix->cap = 0;
}

size_t elm__index_put(elm__index_t *ix, const void *entries, elm__index_name_fn name_of,
                      const char *name, size_t i)
{
    size_t mask = ix->cap - 1;
    for (size_t s = (size_t)hash_name(name) & mask;; s = (s + 1) & mask) {
        if (ix->slots[s] == 0) {
            ix->slots[s] = i + 1;
            return SIZE_MAX;
        }
        if (strcmp(name_of(entries, ix->slots[s] - 1), name) == 0) return ix->slots[s] - 1;
    }
}

size_t elm__index_get(const elm__index_t *ix, const void *entries, elm__index_name_fn name_of,
                      const char *name)
{
    if (!ix->slots || !name) return SIZE_MAX;
    size_t mask = ix->cap - 1;
    for (size_t s = (size_t)hash_name(name) & mask; ix->slots[s] != 0; s = (s + 1) & mask) {
        if (strcmp(name_of(entries, ix->slots[s] - 1), name) == 0) return ix->slots[s] - 1;
    }
    return SIZE_MAX;
}

const char *elm__kv_name(const void *entries, size_t i)
{
    return ((const elm_gguf_kv_t *)entries)[i].key;
}

const char *elm__tensor_name(const void *entries, size_t i)
{
    return ((const elm_gguf_tensor_t *)entries)[i].name;
}

/* ---- accessors ---- */

const char *elm_gguf_name(const elm_gguf_t *g) { return g->name; }
uint32_t elm_gguf_version(const elm_gguf_t *g) { return g->version; }
uint64_t elm_gguf_file_size(const elm_gguf_t *g) { return g->size; }
uint32_t elm_gguf_alignment(const elm_gguf_t *g) { return g->alignment; }
uint64_t elm_gguf_data_offset(const elm_gguf_t *g) { return g->data_offset; }
uint64_t elm_gguf_n_kv(const elm_gguf_t *g) { return g->n_kv; }
uint64_t elm_gguf_n_tensors(const elm_gguf_t *g) { return g->n_tensors; }

const elm_gguf_kv_t *elm_gguf_kv_at(const elm_gguf_t *g, uint64_t i)
{
    return i < g->n_kv ? &g->kv[i] : NULL;
}

const elm_gguf_value_t *elm_gguf_get(const elm_gguf_t *g, const char *key)
{
    size_t i = elm__index_get(&g->kv_index, g->kv, elm__kv_name, key);
    return i == SIZE_MAX ? NULL : &g->kv[i].value;
}

const elm_gguf_tensor_t *elm_gguf_tensor_at(const elm_gguf_t *g, uint64_t i)
{
    return i < g->n_tensors ? &g->tensors[i] : NULL;
}

const elm_gguf_tensor_t *elm_gguf_find_tensor(const elm_gguf_t *g, const char *name)
{
    size_t i = elm__index_get(&g->tensor_index, g->tensors, elm__tensor_name, name);
    return i == SIZE_MAX ? NULL : &g->tensors[i];
}

/* ---- typed getters ---- */

static bool is_unsigned(int t)
{
    return t == ELM_GGUF_UINT8 || t == ELM_GGUF_UINT16 || t == ELM_GGUF_UINT32 || t == ELM_GGUF_UINT64;
}

static bool is_signed(int t)
{
    return t == ELM_GGUF_INT8 || t == ELM_GGUF_INT16 || t == ELM_GGUF_INT32 || t == ELM_GGUF_INT64;
}

/* Look key up and check that its type passes accept(); the common head of every getter. */
static int get_typed(const elm_gguf_t *g, const char *key, bool (*accept)(int),
                     const elm_gguf_value_t **v)
{
    *v = elm_gguf_get(g, key);
    if (!*v) return ELM_ENOKEY;
    return accept((*v)->type) ? ELM_OK : ELM_EKEYTYPE;
}

static bool is_integer(int t) { return is_unsigned(t) || is_signed(t); }
static bool is_number(int t) { return is_integer(t) || t == ELM_GGUF_FLOAT32 || t == ELM_GGUF_FLOAT64; }
static bool is_bool(int t) { return t == ELM_GGUF_BOOL; }
static bool is_string(int t) { return t == ELM_GGUF_STRING; }
static bool is_array(int t) { return t == ELM_GGUF_ARRAY; }

int elm_gguf_get_u64(const elm_gguf_t *g, const char *key, uint64_t *out)
{
    const elm_gguf_value_t *v;
    *out = 0;
    int rc = get_typed(g, key, is_integer, &v);
    if (rc) return rc;
    if (is_signed(v->type) && v->i < 0) return ELM_ERANGE;
    *out = v->u; /* the same bits for non-negative signed values */
    return ELM_OK;
}

int elm_gguf_get_u32(const elm_gguf_t *g, const char *key, uint32_t *out)
{
    uint64_t u;
    *out = 0;
    int rc = elm_gguf_get_u64(g, key, &u);
    if (rc) return rc;
    if (u > UINT32_MAX) return ELM_ERANGE;
    *out = (uint32_t)u;
    return ELM_OK;
}

int elm_gguf_get_i64(const elm_gguf_t *g, const char *key, int64_t *out)
{
    const elm_gguf_value_t *v;
    *out = 0;
    int rc = get_typed(g, key, is_integer, &v);
    if (rc) return rc;
    if (is_unsigned(v->type) && v->u > INT64_MAX) return ELM_ERANGE;
    *out = v->i;
    return ELM_OK;
}

int elm_gguf_get_f64(const elm_gguf_t *g, const char *key, double *out)
{
    const elm_gguf_value_t *v;
    *out = 0;
    int rc = get_typed(g, key, is_number, &v);
    if (rc) return rc;
    if (v->type == ELM_GGUF_FLOAT32 || v->type == ELM_GGUF_FLOAT64) *out = v->f;
    else if (is_signed(v->type)) *out = (double)v->i;
    else *out = (double)v->u;
    return ELM_OK;
}

int elm_gguf_get_bool(const elm_gguf_t *g, const char *key, bool *out)
{
    const elm_gguf_value_t *v;
    *out = false;
    int rc = get_typed(g, key, is_bool, &v);
    if (rc) return rc;
    *out = v->u != 0;
    return ELM_OK;
}

int elm_gguf_get_str(const elm_gguf_t *g, const char *key, elm_str_t *out)
{
    const elm_gguf_value_t *v;
    out->ptr = "";
    out->len = 0;
    int rc = get_typed(g, key, is_string, &v);
    if (rc) return rc;
    *out = v->s;
    return ELM_OK;
}

int elm_gguf_get_arr(const elm_gguf_t *g, const char *key, const elm_gguf_value_t **out)
{
    const elm_gguf_value_t *v;
    *out = NULL;
    int rc = get_typed(g, key, is_array, &v);
    if (rc) return rc;
    *out = v;
    return ELM_OK;
}
