/* gguf/: the streaming GGUF v3 writer. Metadata and tensor infos are declared first and kept in
 * memory; tensor data is streamed through a large stdio buffer into PATH.tmp, which finish()
 * fsyncs and renames into place. The first error is remembered and reported by finish(). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf_internal.h"

#define WRITE_BUFFER_BYTES (4u << 20)
/* llama.cpp refuses tensor names of GGML_MAX_NAME (64) bytes or more; never write one. */
#define MAX_TENSOR_NAME 63

typedef struct {
    char *key;
    elm_gguf_value_t v; /* deep copy, owned */
} wkv_t;

typedef struct {
    char *name;
    elm_type_t type;
    uint32_t n_dims;
    int64_t ne[ELM_GGUF_MAX_DIMS];
    uint64_t size;   /* bytes */
    uint64_t offset; /* from the start of the data section, set when the header is written */
} wtensor_t;

struct elm_gguf_writer {
    char *path;
    char *tmp;  /* path + ".tmp" */
    FILE *f;
    char *buf;  /* stdio buffer */

    wkv_t *kv;
    size_t n_kv, cap_kv;
    elm__index_t kv_index;
    wtensor_t *t;
    size_t n_t, cap_t;
    elm__index_t t_index;
    uint32_t alignment;

    bool started;        /* header written */
    size_t cur;          /* tensor receiving data */
    uint64_t cur_done;   /* bytes of it written */
    uint64_t pos;        /* bytes written to the data section, padding included */

    elm_diag_t err;      /* the first error; code 0 while all is well */
};

static const char *wkv_name(const void *e, size_t i) { return ((const wkv_t *)e)[i].key; }
static const char *wtensor_name(const void *e, size_t i) { return ((const wtensor_t *)e)[i].name; }

/* Remember the first error (later ones are usually its consequences) and return code. */
static int fail(elm_gguf_writer_t *w, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(elm_gguf_writer_t *w, int code, const char *fmt, ...)
{
    if (w->err.code != 0) return code;
    char msg[sizeof w->err.msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    elm_diag(&w->err, code, "%s", msg);
    return code;
}

/* ---- value copies ---- */

static void free_value(elm_gguf_value_t *v)
{
    if (v->type == ELM_GGUF_STRING) {
        free((void *)v->s.ptr);
    } else if (v->type == ELM_GGUF_ARRAY) {
        if (v->arr.items) {
            elm_gguf_value_t *items = (elm_gguf_value_t *)v->arr.items;
            for (uint64_t i = 0; i < v->arr.n; i++) free_value(&items[i]);
            free(items);
        }
        free((void *)v->arr.data);
    }
    memset(v, 0, sizeof *v);
}

static bool scalar_in_range(const elm_gguf_value_t *v)
{
    switch (v->type) {
    case ELM_GGUF_UINT8: return v->u <= UINT8_MAX;
    case ELM_GGUF_UINT16: return v->u <= UINT16_MAX;
    case ELM_GGUF_UINT32: return v->u <= UINT32_MAX;
    case ELM_GGUF_BOOL: return v->u <= 1;
    case ELM_GGUF_INT8: return v->i >= INT8_MIN && v->i <= INT8_MAX;
    case ELM_GGUF_INT16: return v->i >= INT16_MIN && v->i <= INT16_MAX;
    case ELM_GGUF_INT32: return v->i >= INT32_MIN && v->i <= INT32_MAX;
    default: return true;
    }
}

/* Deep-copy src into dst (zeroed here). On failure dst holds what was built, for free_value(). */
static int copy_value(elm_gguf_value_t *dst, const elm_gguf_value_t *src, int depth)
{
    memset(dst, 0, sizeof *dst);
    if ((int)src->type < 0 || src->type >= ELM_GGUF_VTYPE_COUNT) return ELM_EINVAL;
    if (src->type == ELM_GGUF_STRING) {
        if (!src->s.ptr && src->s.len) return ELM_EINVAL;
        if (src->s.len >= SIZE_MAX) return ELM_ERANGE;
        char *p = malloc((size_t)src->s.len + 1);
        if (!p) return ELM_ENOMEM;
        if (src->s.len) memcpy(p, src->s.ptr, (size_t)src->s.len);
        p[src->s.len] = '\0';
        dst->type = ELM_GGUF_STRING;
        dst->s.ptr = p;
        dst->s.len = src->s.len;
        return ELM_OK;
    }
    if (src->type != ELM_GGUF_ARRAY) {
        if (!scalar_in_range(src)) return ELM_ERANGE;
        *dst = *src;
        return ELM_OK;
    }
    if (depth >= ELM__GGUF_MAX_NESTING) return ELM_EINVAL;
    int et = (int)src->arr.type;
    uint64_t n = src->arr.n;
    if (et < 0 || et >= ELM_GGUF_VTYPE_COUNT) return ELM_EINVAL;
    dst->type = ELM_GGUF_ARRAY;
    dst->arr.type = (elm_gguf_vtype_t)et;
    size_t es = elm_gguf_vtype_size(et);
    if (es > 0) {
        uint64_t bytes;
        if (elm_mul_u64(n, es, &bytes) || bytes >= SIZE_MAX) return ELM_ERANGE;
        if (n && !src->arr.data) return ELM_EINVAL;
        void *data = malloc(bytes ? (size_t)bytes : 1);
        if (!data) return ELM_ENOMEM;
        if (bytes) memcpy(data, src->arr.data, (size_t)bytes);
        dst->arr.data = data;
        dst->arr.n = n;
        return ELM_OK;
    }
    if (n && !src->arr.items) return ELM_EINVAL;
    if (n > SIZE_MAX / sizeof(elm_gguf_value_t)) return ELM_ERANGE;
    elm_gguf_value_t *items = calloc(n ? (size_t)n : 1, sizeof *items);
    if (!items) return ELM_ENOMEM;
    dst->arr.items = items;
    dst->arr.n = n;
    for (uint64_t i = 0; i < n; i++) {
        if (src->arr.items[i].type != src->arr.type) return ELM_EINVAL;
        int rc = copy_value(&items[i], &src->arr.items[i], depth + 1);
        if (rc) return rc;
    }
    return ELM_OK;
}

/* ---- declarations ---- */

/* Make room for entry n in a growing array; when it moves, rebuild its index at the new size. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem, elm__index_t *ix,
                elm__index_name_fn name_of)
{
    if (n < *cap) return ELM_OK;
    size_t ncap = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, ncap * elem);
    if (!p) return ELM_ENOMEM;
    *arr = p;
    *cap = ncap;
    elm__index_free(ix);
    if (elm__index_init(ix, ncap)) return ELM_ENOMEM;
    for (size_t i = 0; i < n; i++) elm__index_put(ix, p, name_of, name_of(p, i), i);
    return ELM_OK;
}

static int check_open_for_decl(elm_gguf_writer_t *w, const char *what, const char *name)
{
    if (w->err.code) return w->err.code;
    if (w->started)
        return fail(w, ELM_EINVAL, "%s: %s %s declared after tensor data was written (declare "
                    "all metadata and tensors first)", w->path, what, name ? name : "(null)");
    if (!name || !*name)
        return fail(w, ELM_EINVAL, "%s: %s with an empty or NULL name", w->path, what);
    return ELM_OK;
}

int elm_gguf_writer_add_value(elm_gguf_writer_t *w, const char *key, const elm_gguf_value_t *v)
{
    int rc = check_open_for_decl(w, "metadata key", key);
    if (rc) return rc;
    if (!v) return fail(w, ELM_EINVAL, "%s: metadata key %s has a NULL value", w->path, key);
    if (elm__index_get(&w->kv_index, w->kv, wkv_name, key) != SIZE_MAX)
        return fail(w, ELM_EEXIST, "%s: metadata key %s added twice", w->path, key);
    if (strcmp(key, "general.alignment") == 0) {
        if (v->type != ELM_GGUF_UINT32 || v->u == 0 || v->u > UINT32_MAX || (v->u & (v->u - 1)))
            return fail(w, ELM_EINVAL, "%s: general.alignment must be a uint32 power of two",
                        w->path);
        w->alignment = (uint32_t)v->u;
    }
    if (grow((void **)&w->kv, &w->cap_kv, w->n_kv, sizeof *w->kv, &w->kv_index, wkv_name))
        return fail(w, ELM_ENOMEM, "%s: out of memory", w->path);
    wkv_t *kv = &w->kv[w->n_kv];
    kv->key = strdup(key);
    rc = kv->key ? copy_value(&kv->v, v, 0) : ELM_ENOMEM;
    if (rc) {
        free_value(&kv->v);
        free(kv->key);
        const char *why = rc == ELM_ENOMEM ? "out of memory"
                          : rc == ELM_ERANGE ? "a value does not fit its type"
                                             : "invalid value (bad type id, NULL data, mismatched "
                                               "item types or arrays nested too deeply)";
        return fail(w, rc, "%s: metadata key %s: %s", w->path, key, why);
    }
    elm__index_put(&w->kv_index, w->kv, wkv_name, kv->key, w->n_kv);
    w->n_kv++;
    return ELM_OK;
}

static int add_scalar(elm_gguf_writer_t *w, const char *key, elm_gguf_vtype_t type, uint64_t u,
                      int64_t i, double f)
{
    elm_gguf_value_t v = {.type = type};
    if (type == ELM_GGUF_INT32) v.i = i;
    else if (type == ELM_GGUF_FLOAT32) v.f = f;
    else v.u = u;
    return elm_gguf_writer_add_value(w, key, &v);
}

int elm_gguf_writer_add_u32(elm_gguf_writer_t *w, const char *key, uint32_t v)
{
    return add_scalar(w, key, ELM_GGUF_UINT32, v, 0, 0);
}
int elm_gguf_writer_add_i32(elm_gguf_writer_t *w, const char *key, int32_t v)
{
    return add_scalar(w, key, ELM_GGUF_INT32, 0, v, 0);
}
int elm_gguf_writer_add_u64(elm_gguf_writer_t *w, const char *key, uint64_t v)
{
    return add_scalar(w, key, ELM_GGUF_UINT64, v, 0, 0);
}
int elm_gguf_writer_add_f32(elm_gguf_writer_t *w, const char *key, float v)
{
    return add_scalar(w, key, ELM_GGUF_FLOAT32, 0, 0, v);
}
int elm_gguf_writer_add_bool(elm_gguf_writer_t *w, const char *key, bool v)
{
    return add_scalar(w, key, ELM_GGUF_BOOL, v ? 1 : 0, 0, 0);
}

int elm_gguf_writer_add_str(elm_gguf_writer_t *w, const char *key, const char *s)
{
    if (!s) return fail(w, ELM_EINVAL, "%s: metadata key %s: NULL string", w->path, key ? key : "(null)");
    elm_gguf_value_t v = {.type = ELM_GGUF_STRING, .s = {s, strlen(s)}};
    return elm_gguf_writer_add_value(w, key, &v);
}

int elm_gguf_writer_add_arr(elm_gguf_writer_t *w, const char *key, elm_gguf_vtype_t vtype,
                            const void *data, uint64_t n)
{
    if (elm_gguf_vtype_size(vtype) == 0)
        return fail(w, ELM_EINVAL, "%s: metadata key %s: add_arr takes numeric element types, not %s",
                    w->path, key ? key : "(null)", elm_gguf_vtype_name(vtype));
    elm_gguf_value_t v = {.type = ELM_GGUF_ARRAY};
    v.arr.type = vtype;
    v.arr.n = n;
    v.arr.data = data;
    return elm_gguf_writer_add_value(w, key, &v);
}

int elm_gguf_writer_add_arr_str(elm_gguf_writer_t *w, const char *key, const char *const *strs,
                                uint64_t n)
{
    if ((n && !strs) || n > SIZE_MAX / sizeof(elm_gguf_value_t))
        return fail(w, ELM_EINVAL, "%s: metadata key %s: bad string array", w->path, key ? key : "(null)");
    elm_gguf_value_t *items = calloc(n ? (size_t)n : 1, sizeof *items);
    if (!items) return fail(w, ELM_ENOMEM, "%s: out of memory", w->path);
    for (uint64_t i = 0; i < n; i++) {
        if (!strs[i]) {
            free(items);
            return fail(w, ELM_EINVAL, "%s: metadata key %s: string %" PRIu64 " is NULL", w->path,
                        key ? key : "(null)", i);
        }
        items[i].type = ELM_GGUF_STRING;
        items[i].s.ptr = strs[i];
        items[i].s.len = strlen(strs[i]);
    }
    elm_gguf_value_t v = {.type = ELM_GGUF_ARRAY};
    v.arr.type = ELM_GGUF_STRING;
    v.arr.n = n;
    v.arr.items = items;
    int rc = elm_gguf_writer_add_value(w, key, &v);
    free(items);
    return rc;
}

int elm_gguf_writer_add_tensor(elm_gguf_writer_t *w, const char *name, elm_type_t type,
                               uint32_t n_dims, const int64_t *ne)
{
    int rc = check_open_for_decl(w, "tensor", name);
    if (rc) return rc;
    if (strlen(name) > MAX_TENSOR_NAME)
        return fail(w, ELM_EINVAL, "%s: tensor name %s is longer than %d bytes (llama.cpp could not "
                    "load the file)", w->path, name, MAX_TENSOR_NAME);
    const elm_type_info_t *ti = elm_type_info((int)type);
    if (!ti) return fail(w, ELM_EINVAL, "%s: tensor %s has unknown type id %d", w->path, name, (int)type);
    if (n_dims < 1 || n_dims > ELM_GGUF_MAX_DIMS || !ne)
        return fail(w, ELM_EINVAL, "%s: tensor %s has %" PRIu32 " dimensions, must be 1 to %d",
                    w->path, name, n_dims, ELM_GGUF_MAX_DIMS);
    wtensor_t t = {.type = type, .n_dims = n_dims, .ne = {1, 1, 1, 1}};
    uint64_t n = 1;
    for (uint32_t j = 0; j < n_dims; j++) {
        if (ne[j] < 0)
            return fail(w, ELM_EINVAL, "%s: tensor %s has a negative dimension ne[%" PRIu32 "] = %" PRId64,
                        w->path, name, j, ne[j]);
        t.ne[j] = ne[j];
        if (elm_mul_u64(n, (uint64_t)ne[j], &n) || n > INT64_MAX)
            return fail(w, ELM_ERANGE, "%s: tensor %s has too many elements", w->path, name);
    }
    uint64_t row;
    if (t.ne[0] % ti->blck_size != 0)
        return fail(w, ELM_EINVAL, "%s: tensor %s of type %s has rows of %" PRId64
                    " values, not a multiple of the block size %" PRIu32, w->path, name, ti->name,
                    t.ne[0], ti->blck_size);
    if (elm_type_row_size((int)type, (uint64_t)t.ne[0], &row) ||
        elm_mul_u64(row, t.ne[0] ? n / (uint64_t)t.ne[0] : 0, &t.size))
        return fail(w, ELM_ERANGE, "%s: tensor %s is too large", w->path, name);
    if (elm__index_get(&w->t_index, w->t, wtensor_name, name) != SIZE_MAX)
        return fail(w, ELM_EEXIST, "%s: tensor %s added twice", w->path, name);
    if (grow((void **)&w->t, &w->cap_t, w->n_t, sizeof *w->t, &w->t_index, wtensor_name))
        return fail(w, ELM_ENOMEM, "%s: out of memory", w->path);
    if (!(t.name = strdup(name))) return fail(w, ELM_ENOMEM, "%s: out of memory", w->path);
    w->t[w->n_t] = t;
    elm__index_put(&w->t_index, w->t, wtensor_name, t.name, w->n_t);
    w->n_t++;
    return ELM_OK;
}

/* ---- encoding ---- */

static void put(elm_gguf_writer_t *w, const void *p, size_t n)
{
    if (w->err.code || n == 0) return;
    if (fwrite(p, 1, n, w->f) != n)
        fail(w, ELM_EIO, "%s: write failed (%s; disk full?)", w->tmp, strerror(errno));
}

static void put_le(elm_gguf_writer_t *w, uint64_t v, size_t n)
{
    uint8_t b[8];
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)(v >> (8 * i));
    put(w, b, n);
}

static void put_str(elm_gguf_writer_t *w, const char *s, uint64_t len)
{
    put_le(w, len, 8);
    put(w, s, (size_t)len);
}

static void put_zeros(elm_gguf_writer_t *w, uint64_t n)
{
    static const uint8_t zeros[256];
    while (n > 0) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        put(w, zeros, k);
        n -= k;
    }
}

static void put_value(elm_gguf_writer_t *w, const elm_gguf_value_t *v)
{
    size_t es = elm_gguf_vtype_size(v->type);
    if (v->type == ELM_GGUF_FLOAT32) {
        float f = (float)v->f;
        uint32_t bits;
        memcpy(&bits, &f, 4);
        put_le(w, bits, 4);
    } else if (v->type == ELM_GGUF_FLOAT64) {
        uint64_t bits;
        memcpy(&bits, &v->f, 8);
        put_le(w, bits, 8);
    } else if (es > 0) {
        put_le(w, v->u, es); /* signed values share the two's complement bits */
    } else if (v->type == ELM_GGUF_STRING) {
        put_str(w, v->s.ptr, v->s.len);
    } else {
        put_le(w, v->arr.type, 4);
        put_le(w, v->arr.n, 8);
        size_t ees = elm_gguf_vtype_size(v->arr.type);
        if (ees > 0) put(w, v->arr.data, (size_t)(v->arr.n * ees));
        else
            for (uint64_t i = 0; i < v->arr.n; i++) put_value(w, &v->arr.items[i]);
    }
}

static uint64_t align_up(uint64_t x, uint32_t a) { return (x + a - 1) / a * a; }

/* Lay out the tensors and write header, metadata, tensor infos and the padding before the data. */
static int start_data(elm_gguf_writer_t *w)
{
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        w->t[i].offset = off;
        if (elm_add_u64(off, w->t[i].size, &off) || off > UINT64_MAX - w->alignment)
            return fail(w, ELM_ERANGE, "%s: tensor data is too large", w->path);
        off = align_up(off, w->alignment);
    }
    w->started = true;
    put(w, "GGUF", 4);
    put_le(w, 3, 4);
    put_le(w, w->n_t, 8);
    put_le(w, w->n_kv, 8);
    for (size_t i = 0; i < w->n_kv; i++) {
        put_str(w, w->kv[i].key, strlen(w->kv[i].key));
        put_le(w, w->kv[i].v.type, 4);
        put_value(w, &w->kv[i].v);
    }
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor_t *t = &w->t[i];
        put_str(w, t->name, strlen(t->name));
        put_le(w, t->n_dims, 4);
        for (uint32_t j = 0; j < t->n_dims; j++) put_le(w, (uint64_t)t->ne[j], 8);
        put_le(w, (uint32_t)t->type, 4);
        put_le(w, t->offset, 8);
    }
    if (w->err.code) return w->err.code;
    long here = ftell(w->f);
    if (here < 0) return fail(w, ELM_EIO, "%s: ftell failed (%s)", w->tmp, strerror(errno));
    put_zeros(w, align_up((uint64_t)here, w->alignment) - (uint64_t)here);
    return w->err.code;
}

/* Step past finished (and empty) tensors. */
static void skip_done(elm_gguf_writer_t *w)
{
    while (w->cur < w->n_t && w->cur_done == w->t[w->cur].size) {
        w->cur++;
        w->cur_done = 0;
    }
}

int elm_gguf_writer_write(elm_gguf_writer_t *w, const void *data, size_t size)
{
    if (w->err.code) return w->err.code;
    if (!w->started && start_data(w)) return w->err.code;
    const uint8_t *p = data;
    skip_done(w);
    while (size > 0) {
        if (w->cur == w->n_t)
            return fail(w, ELM_ERANGE, "%s: %zu bytes written past the end of the last declared tensor",
                        w->path, size);
        wtensor_t *t = &w->t[w->cur];
        if (w->cur_done == 0 && w->pos < t->offset) {
            put_zeros(w, t->offset - w->pos);
            w->pos = t->offset;
        }
        uint64_t room = t->size - w->cur_done;
        size_t k = size < room ? size : (size_t)room;
        put(w, p, k);
        p += k;
        size -= k;
        w->cur_done += k;
        w->pos += k;
        skip_done(w);
    }
    return w->err.code;
}

/* ---- open / finish ---- */

int elm_gguf_writer_open(const char *path, elm_gguf_writer_t **out, elm_diag_t *diag)
{
    *out = NULL;
    if (!path || !*path) return elm_diag(diag, ELM_EINVAL, "elm_gguf_writer_open: empty path");
    elm_gguf_writer_t *w = calloc(1, sizeof *w);
    size_t n = strlen(path);
    if (!w || !(w->path = strdup(path)) || !(w->tmp = malloc(n + 5)) ||
        !(w->buf = malloc(WRITE_BUFFER_BYTES)) || elm__index_init(&w->kv_index, 0) ||
        elm__index_init(&w->t_index, 0)) {
        elm_gguf_writer_free(w);
        return elm_diag(diag, ELM_ENOMEM, "%s: out of memory", path);
    }
    memcpy(w->tmp, path, n);
    memcpy(w->tmp + n, ".tmp", 5);
    w->alignment = ELM_GGUF_DEFAULT_ALIGNMENT;
    w->f = fopen(w->tmp, "wb");
    if (!w->f) {
        int e = errno;
        elm_diag(diag, elm_from_errno(e), "%s: cannot create (%s)", w->tmp, strerror(e));
        elm_gguf_writer_free(w);
        return elm_from_errno(e);
    }
    setvbuf(w->f, w->buf, _IOFBF, WRITE_BUFFER_BYTES);
    elm_diag_clear(diag);
    *out = w;
    return ELM_OK;
}

int elm_gguf_writer_finish(elm_gguf_writer_t *w, elm_diag_t *diag)
{
    if (!w) return elm_diag(diag, ELM_EINVAL, "elm_gguf_writer_finish: NULL writer");
    if (!w->err.code && !w->started) start_data(w);
    if (!w->err.code) {
        skip_done(w);
        if (w->cur < w->n_t)
            fail(w, ELM_EINVAL, "%s: tensor %s got %" PRIu64 " of its %" PRIu64
                 " bytes of data (%zu tensors declared, data stopped early)", w->path,
                 w->t[w->cur].name, w->cur_done, w->t[w->cur].size, w->n_t);
    }
    if (!w->err.code) {
        put_zeros(w, align_up(w->pos, w->alignment) - w->pos);
        if (!w->err.code && (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0))
            fail(w, ELM_EIO, "%s: flush failed (%s; disk full?)", w->tmp, strerror(errno));
    }
    if (w->f) {
        if (fclose(w->f) != 0 && !w->err.code)
            fail(w, ELM_EIO, "%s: close failed (%s; disk full?)", w->tmp, strerror(errno));
        w->f = NULL;
    }
    if (!w->err.code) {
        if (rename(w->tmp, w->path) != 0) {
            int e = errno;
            fail(w, elm_from_errno(e), "%s: cannot rename to %s (%s)", w->tmp, w->path, strerror(e));
        } else {
            free(w->tmp); /* nothing left to remove */
            w->tmp = NULL;
        }
    }
    int rc = w->err.code;
    if (diag) *diag = w->err;
    elm_gguf_writer_free(w); /* removes the temporary file if the rename did not happen */
    return rc;
}

void elm_gguf_writer_free(elm_gguf_writer_t *w)
{
    if (!w) return;
    if (w->f) fclose(w->f);
    if (w->tmp) unlink(w->tmp);
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free_value(&w->kv[i].v);
    }
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->kv);
    free(w->t);
    elm__index_free(&w->kv_index);
    elm__index_free(&w->t_index);
    free(w->buf);
    free(w->tmp);
    free(w->path);
    free(w);
}
