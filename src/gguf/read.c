/* gguf/: the GGUF v2/v3 reader. It maps the file read-only (or reads a caller's buffer), checks
 * every count, length, type, shape and offset against the file before using or allocating from it,
 * and builds hash indexes so keys and tensor names are found in O(1). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf/gguf_internal.h"

/* Smallest encodings, used to bound counts before allocating: a kv is a key length, a value type
 * and at least one byte of value; a tensor info is a name length, n_dims, one dim, type, offset. */
#define MIN_KV_BYTES 13
#define MIN_TENSOR_INFO_BYTES 32
#define MIN_STRING_BYTES 8
#define MIN_ARRAY_BYTES 12

/* ---- owned allocations ---- */

typedef union block {
    union block *next;
    max_align_t align;
} block_t;

/* Memory owned by g and freed by elm_gguf_close(); NULL when out of memory. */
static void *g_alloc(elm_gguf_t *g, size_t n)
{
    if (n > SIZE_MAX - sizeof(block_t)) return NULL;
    block_t *b = malloc(sizeof(block_t) + n);
    if (!b) return NULL;
    b->next = g->blocks;
    g->blocks = b;
    return b + 1;
}

/* ---- cursor over the file ---- */

typedef struct {
    elm_gguf_t *g;
    size_t pos;
    elm_diag_t *d;
} cursor_t;

static size_t left(const cursor_t *c) { return c->g->size - c->pos; }

/* Make sure n more bytes exist; what names the thing being read ("metadata key general.name"). */
static int need(cursor_t *c, uint64_t n, const char *what, const char *name)
{
    if (n <= left(c)) return ELM_OK;
    return elm_diag(c->d, ELM_EGGUF_TRUNCATED,
                    "%s: file ends at byte %zu while reading %s%s (needs %" PRIu64
                    " more bytes; truncated download?)",
                    c->g->name, c->g->size, what, name, n - left(c));
}

static int take_u32(cursor_t *c, uint32_t *v, const char *what, const char *name)
{
    int rc = need(c, 4, what, name);
    if (rc) return rc;
    *v = elm__rd32(c->g->base + c->pos);
    c->pos += 4;
    return ELM_OK;
}

static int take_u64(cursor_t *c, uint64_t *v, const char *what, const char *name)
{
    int rc = need(c, 8, what, name);
    if (rc) return rc;
    *v = elm__rd64(c->g->base + c->pos);
    c->pos += 8;
    return ELM_OK;
}

static int take_str(cursor_t *c, elm_str_t *s, const char *what, const char *name)
{
    uint64_t len;
    int rc = take_u64(c, &len, what, name);
    if (rc) return rc;
    if (len > left(c))
        return elm_diag(c->d, ELM_EGGUF_STRING,
                        "%s: %s%s is a string of %" PRIu64 " bytes at offset %zu but only %zu bytes "
                        "remain in the file (corrupt or truncated file?)",
                        c->g->name, what, name, len, c->pos - 8, left(c));
    s->ptr = (const char *)c->g->base + c->pos;
    s->len = len;
    c->pos += (size_t)len;
    return ELM_OK;
}

/* A NUL-terminated owned copy of s; NULL when out of memory. */
static char *copy_name(elm_gguf_t *g, elm_str_t s)
{
    char *p = g_alloc(g, (size_t)s.len + 1);
    if (!p) return NULL;
    memcpy(p, s.ptr, (size_t)s.len);
    p[s.len] = '\0';
    return p;
}

/* ---- metadata ---- */

static int oom(cursor_t *c) { return elm_diag(c->d, ELM_ENOMEM, "%s: out of memory", c->g->name); }

/* Decode one value of vtype (already checked to be valid) at the cursor; depth counts the arrays
 * enclosing it. key names the entry in messages. */
static int parse_value(cursor_t *c, int vtype, elm_gguf_value_t *v, int depth, const char *key)
{
    const uint8_t *p = c->g->base + c->pos;
    size_t es = elm_gguf_vtype_size(vtype);
    int rc;

    v->type = (elm_gguf_vtype_t)vtype;
    if (es > 0) {
        if ((rc = need(c, es, "the value of metadata key ", key))) return rc;
        switch (vtype) {
        case ELM_GGUF_UINT8: v->u = p[0]; break;
        case ELM_GGUF_INT8: v->i = (int8_t)p[0]; break;
        case ELM_GGUF_BOOL: v->u = p[0] != 0; break;
        case ELM_GGUF_UINT16: v->u = elm__rd16(p); break;
        case ELM_GGUF_INT16: v->i = (int16_t)elm__rd16(p); break;
        case ELM_GGUF_UINT32: v->u = elm__rd32(p); break;
        case ELM_GGUF_INT32: v->i = (int32_t)elm__rd32(p); break;
        case ELM_GGUF_UINT64: v->u = elm__rd64(p); break;
        case ELM_GGUF_INT64: v->i = (int64_t)elm__rd64(p); break;
        case ELM_GGUF_FLOAT32: {
            uint32_t bits = elm__rd32(p);
            float f;
            memcpy(&f, &bits, 4);
            v->f = f;
            break;
        }
        default: { /* FLOAT64 */
            uint64_t bits = elm__rd64(p);
            memcpy(&v->f, &bits, 8);
            break;
        }
        }
        c->pos += es;
        return ELM_OK;
    }
    if (vtype == ELM_GGUF_STRING) return take_str(c, &v->s, "the value of metadata key ", key);

    /* ARRAY */
    if (depth >= ELM__GGUF_MAX_NESTING)
        return elm_diag(c->d, ELM_EGGUF_NESTING,
                        "%s: metadata key %s holds arrays nested more than %d deep (corrupt file?)",
                        c->g->name, key, ELM__GGUF_MAX_NESTING);
    uint32_t et;
    uint64_t n;
    if ((rc = take_u32(c, &et, "the array element type of metadata key ", key))) return rc;
    if (et >= ELM_GGUF_VTYPE_COUNT)
        return elm_diag(c->d, ELM_EGGUF_KV_TYPE,
                        "%s: metadata key %s is an array of unknown value type %" PRIu32
                        " (corrupt file, or written by a newer GGUF version?)",
                        c->g->name, key, et);
    if ((rc = take_u64(c, &n, "the array length of metadata key ", key))) return rc;
    size_t ees = elm_gguf_vtype_size((int)et);
    size_t min = ees ? ees : et == ELM_GGUF_STRING ? MIN_STRING_BYTES : MIN_ARRAY_BYTES;
    if (n > left(c) / min)
        return elm_diag(c->d, ELM_EGGUF_ARRAY,
                        "%s: metadata key %s is an array of %" PRIu64 " %s values, more than the "
                        "%zu bytes left in the file can hold (corrupt or truncated file?)",
                        c->g->name, key, n, elm_gguf_vtype_name((int)et), left(c));
    v->arr.type = (elm_gguf_vtype_t)et;
    v->arr.n = n;
    v->arr.data = c->g->base + c->pos;
    v->arr.items = NULL;
    if (ees > 0) {
        c->pos += (size_t)n * ees;
        return ELM_OK;
    }
    if (n == 0) return ELM_OK;
    elm_gguf_value_t *items = g_alloc(c->g, (size_t)n * sizeof *items);
    if (!items) return oom(c);
    memset(items, 0, (size_t)n * sizeof *items);
    for (uint64_t i = 0; i < n; i++)
        if ((rc = parse_value(c, (int)et, &items[i], depth + 1, key))) return rc;
    v->arr.items = items;
    return ELM_OK;
}

static int parse_kv(cursor_t *c)
{
    elm_gguf_t *g = c->g;
    int rc;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        elm_gguf_kv_t *kv = &g->kv[i];
        elm_str_t ks = {0};
        char idx[48];
        snprintf(idx, sizeof idx, "%" PRIu64, i);
        if ((rc = take_str(c, &ks, "the key of metadata entry ", idx))) return rc;
        if (ks.len == 0)
            return elm_diag(c->d, ELM_EGGUF_KEY,
                            "%s: metadata entry %" PRIu64 " has an empty key (corrupt file?)",
                            g->name, i);
        if (memchr(ks.ptr, '\0', (size_t)ks.len))
            return elm_diag(c->d, ELM_EGGUF_KEY,
                            "%s: metadata key %.*s... of entry %" PRIu64
                            " contains a NUL byte (corrupt file?)",
                            g->name, (int)strnlen(ks.ptr, 200), ks.ptr, i);
        if (!(kv->key = copy_name(g, ks))) return oom(c);
        size_t prev = elm__index_put(&g->kv_index, g->kv, elm__kv_name, kv->key, (size_t)i);
        if (prev != SIZE_MAX)
            return elm_diag(c->d, ELM_EGGUF_DUP_KEY,
                            "%s: metadata key %s appears twice (entries %zu and %" PRIu64
                            "; corrupt or badly merged file?)",
                            g->name, kv->key, prev, i);
        uint32_t vt;
        if ((rc = take_u32(c, &vt, "the value type of metadata key ", kv->key))) return rc;
        if (vt >= ELM_GGUF_VTYPE_COUNT)
            return elm_diag(c->d, ELM_EGGUF_KV_TYPE,
                            "%s: metadata key %s has unknown value type %" PRIu32
                            " (corrupt file, or written by a newer GGUF version?)",
                            g->name, kv->key, vt);
        if ((rc = parse_value(c, (int)vt, &kv->value, 0, kv->key))) return rc;
    }
    return ELM_OK;
}

static int read_alignment(cursor_t *c)
{
    elm_gguf_t *g = c->g;
    const elm_gguf_value_t *v = elm_gguf_get(g, "general.alignment");
    g->alignment = ELM_GGUF_DEFAULT_ALIGNMENT;
    if (!v) return ELM_OK;
    if (v->type != ELM_GGUF_UINT32)
        return elm_diag(c->d, ELM_EGGUF_ALIGN,
                        "%s: metadata key general.alignment is a %s, must be a uint32 (corrupt file?)",
                        g->name, elm_gguf_vtype_name(v->type));
    if (v->u == 0 || (v->u & (v->u - 1)) != 0)
        return elm_diag(c->d, ELM_EGGUF_ALIGN,
                        "%s: metadata key general.alignment is %" PRIu64
                        ", must be a nonzero power of two (corrupt file?)",
                        g->name, v->u);
    g->alignment = (uint32_t)v->u;
    return ELM_OK;
}

/* ---- tensor infos ---- */

static int parse_tensor(cursor_t *c, uint64_t i)
{
    elm_gguf_t *g = c->g;
    elm_gguf_tensor_t *t = &g->tensors[i];
    elm_str_t ns;
    char idx[48];
    int rc;

    snprintf(idx, sizeof idx, "%" PRIu64, i);
    if ((rc = take_str(c, &ns, "the name of tensor info ", idx))) return rc;
    if (memchr(ns.ptr, '\0', (size_t)ns.len))
        return elm_diag(c->d, ELM_EGGUF_STRING,
                        "%s: the name of tensor %" PRIu64 " (%.*s...) contains a NUL byte (corrupt file?)",
                        g->name, i, (int)strnlen(ns.ptr, 200), ns.ptr);
    if (!(t->name = copy_name(g, ns))) return oom(c);
    if ((rc = take_u32(c, &t->n_dims, "the dimension count of tensor ", t->name))) return rc;
    if (t->n_dims < 1 || t->n_dims > ELM_GGUF_MAX_DIMS)
        return elm_diag(c->d, ELM_EGGUF_NDIM,
                        "%s: tensor %s has %" PRIu32 " dimensions, must be 1 to %d (corrupt file?)",
                        g->name, t->name, t->n_dims, ELM_GGUF_MAX_DIMS);
    uint64_t n = 1;
    bool overflow = false;
    for (uint32_t j = 0; j < ELM_GGUF_MAX_DIMS; j++) {
        uint64_t dim = 1;
        if (j < t->n_dims && (rc = take_u64(c, &dim, "the shape of tensor ", t->name))) return rc;
        t->ne[j] = (int64_t)dim;
        if (t->ne[j] < 0)
            return elm_diag(c->d, ELM_EGGUF_SHAPE,
                            "%s: tensor %s has a negative dimension ne[%" PRIu32 "] = %" PRId64
                            " (corrupt file?)",
                            g->name, t->name, j, t->ne[j]);
        if (elm_mul_u64(n, dim, &n)) overflow = true;
    }
    if (overflow || n > INT64_MAX)
        return elm_diag(c->d, ELM_EGGUF_SHAPE,
                        "%s: tensor %s has shape [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64
                        "] whose element count overflows (corrupt file?)",
                        g->name, t->name, t->ne[0], t->ne[1], t->ne[2], t->ne[3]);
    t->n_elements = n;
    uint32_t type;
    if ((rc = take_u32(c, &type, "the type of tensor ", t->name))) return rc;
    const elm_type_info_t *ti = elm_type_info((int)type);
    if (!ti)
        return elm_diag(c->d, ELM_EGGUF_TENSOR_TYPE,
                        "%s: tensor %s has unknown or retired type id %" PRIu32
                        " (written by a newer ggml?)",
                        g->name, t->name, type);
    t->type = (elm_type_t)type;
    if ((uint64_t)t->ne[0] % ti->blck_size != 0)
        return elm_diag(c->d, ELM_EGGUF_BLOCK,
                        "%s: tensor %s of type %s has rows of %" PRId64
                        " values, not a multiple of the block size %" PRIu32 " (corrupt file?)",
                        g->name, t->name, ti->name, t->ne[0], ti->blck_size);
    uint64_t row;
    if (elm_type_row_size((int)type, (uint64_t)t->ne[0], &row) ||
        elm_mul_u64(row, t->ne[0] ? n / (uint64_t)t->ne[0] : 0, &t->size))
        return elm_diag(c->d, ELM_EGGUF_SHAPE, "%s: tensor %s is too large (corrupt file?)",
                        g->name, t->name);
    if ((rc = take_u64(c, &t->offset, "the data offset of tensor ", t->name))) return rc;
    if (t->offset % g->alignment != 0)
        return elm_diag(c->d, ELM_EGGUF_OFFSET,
                        "%s: tensor %s has data offset %" PRIu64
                        ", not a multiple of the alignment %" PRIu32 " (corrupt file?)",
                        g->name, t->name, t->offset, g->alignment);
    size_t prev = elm__index_put(&g->tensor_index, g->tensors, elm__tensor_name, t->name, (size_t)i);
    if (prev != SIZE_MAX)
        return elm_diag(c->d, ELM_EGGUF_DUP_TENSOR,
                        "%s: tensor %s appears twice (tensors %zu and %" PRIu64
                        "; corrupt or badly merged file?)",
                        g->name, t->name, prev, i);
    return ELM_OK;
}

static int by_offset(const void *a, const void *b)
{
    const elm_gguf_tensor_t *x = *(const elm_gguf_tensor_t *const *)a;
    const elm_gguf_tensor_t *y = *(const elm_gguf_tensor_t *const *)b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Every tensor's bytes lie inside the file, and no two tensors share a byte. */
static int check_layout(cursor_t *c)
{
    elm_gguf_t *g = c->g;
    int rc = ELM_OK;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        elm_gguf_tensor_t *t = &g->tensors[i];
        uint64_t start, end;
        if (elm_add_u64(g->data_offset, t->offset, &start) || elm_add_u64(start, t->size, &end) ||
            end > g->size)
            return elm_diag(c->d, ELM_EGGUF_BOUNDS,
                            "%s: tensor %s data [offset %" PRIu64 ", %" PRIu64
                            " bytes] extends past the end of the file (size %zu; truncated download?)",
                            g->name, t->name, t->offset, t->size, g->size);
        t->data = g->base + start;
    }
    if (g->n_tensors < 2) return ELM_OK;
    const elm_gguf_tensor_t **sorted = malloc((size_t)g->n_tensors * sizeof *sorted);
    if (!sorted) return oom(c);
    for (uint64_t i = 0; i < g->n_tensors; i++) sorted[i] = &g->tensors[i];
    qsort(sorted, (size_t)g->n_tensors, sizeof *sorted, by_offset);
    const elm_gguf_tensor_t *last = sorted[0]; /* the tensor reaching furthest so far */
    for (uint64_t i = 1; i < g->n_tensors; i++) {
        const elm_gguf_tensor_t *t = sorted[i];
        if (t->size > 0 && t->offset < last->offset + last->size) {
            rc = elm_diag(c->d, ELM_EGGUF_OVERLAP,
                          "%s: tensor %s data [offset %" PRIu64 ", %" PRIu64
                          " bytes] overlaps tensor %s [offset %" PRIu64 ", %" PRIu64
                          " bytes] (corrupt file?)",
                          g->name, t->name, t->offset, t->size, last->name, last->offset, last->size);
            break;
        }
        if (t->offset + t->size > last->offset + last->size) last = t;
    }
    free(sorted);
    return rc;
}

/* ---- header ---- */

static uint32_t bswap32(uint32_t v)
{
    return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}

static int check_magic(cursor_t *c)
{
    elm_gguf_t *g = c->g;
    const uint8_t *p = g->base;
    size_t n = g->size < 4 ? g->size : 4;
    if (g->size == 0)
        return elm_diag(c->d, ELM_EGGUF_TRUNCATED, "%s: file is empty (0 bytes; truncated download?)",
                        g->name);
    if (n == 4 && memcmp(p, "FUGG", 4) == 0)
        return elm_diag(c->d, ELM_EGGUF_MAGIC,
                        "%s: big-endian GGUF is not supported (convert the model as little-endian)",
                        g->name);
    if (memcmp(p, "GGUF", n) != 0) {
        const char *hint = "not a GGUF file";
        if (g->size >= 7 && memcmp(p, "version", 7) == 0)
            hint = "this looks like a Git LFS pointer; run git lfs pull";
        else if (p[0] == '<')
            hint = "this looks like an HTML page; the download probably failed";
        else if (g->size >= 4 && memcmp(p, "ggjt", 4) == 0)
            hint = "this is an old GGML/GGJT file; convert it to GGUF";
        return elm_diag(c->d, ELM_EGGUF_MAGIC, "%s: bad magic, expected \"GGUF\" (%s)", g->name, hint);
    }
    return need(c, 4 + 4 + 8 + 8, "the header", "");
}

/* A count from the header cannot exceed what the rest of the file holds at min_bytes apiece. */
static int check_count(cursor_t *c, uint64_t n, size_t min_bytes, const char *what)
{
    if (n <= left(c) / min_bytes) return ELM_OK;
    return elm_diag(c->d, ELM_EGGUF_COUNT,
                    "%s: header declares %" PRIu64 " %s, more than the %zu bytes left in the file "
                    "at offset %zu can hold (corrupt or truncated file?)",
                    c->g->name, n, what, left(c), c->pos);
}

static int parse(cursor_t *c)
{
    elm_gguf_t *g = c->g;
    int rc;
    if ((rc = check_magic(c))) return rc;
    c->pos = 4;
    take_u32(c, &g->version, "the version", "");
    if (g->version == 1)
        return elm_diag(c->d, ELM_EGGUF_VERSION,
                        "%s: GGUF version 1 is too old (reconvert the model with a current "
                        "llama.cpp convert script)",
                        g->name);
    if (g->version < 2 || g->version > 3) {
        uint32_t sw = bswap32(g->version);
        if (sw >= 1 && sw <= 3)
            return elm_diag(c->d, ELM_EGGUF_VERSION,
                            "%s: big-endian GGUF is not supported (convert the model as little-endian)",
                            g->name);
        return elm_diag(c->d, ELM_EGGUF_VERSION,
                        "%s: unsupported GGUF version %" PRIu32
                        " (versions 2 and 3 are supported; newer writer or corrupt file?)",
                        g->name, g->version);
    }
    take_u64(c, &g->n_tensors, "the tensor count", "");
    take_u64(c, &g->n_kv, "the metadata count", "");
    if ((rc = check_count(c, g->n_kv, MIN_KV_BYTES, "metadata entries")) ||
        (rc = check_count(c, g->n_tensors, MIN_TENSOR_INFO_BYTES, "tensors")))
        return rc;
    g->kv = g_alloc(g, (size_t)g->n_kv * sizeof *g->kv + 1);
    g->tensors = g_alloc(g, (size_t)g->n_tensors * sizeof *g->tensors + 1);
    if (!g->kv || !g->tensors || elm__index_init(&g->kv_index, (size_t)g->n_kv) ||
        elm__index_init(&g->tensor_index, (size_t)g->n_tensors))
        return oom(c);
    memset(g->kv, 0, (size_t)g->n_kv * sizeof *g->kv);
    memset(g->tensors, 0, (size_t)g->n_tensors * sizeof *g->tensors);

    if ((rc = parse_kv(c)) || (rc = read_alignment(c))) return rc;
    if ((rc = check_count(c, g->n_tensors, MIN_TENSOR_INFO_BYTES, "tensors"))) return rc;
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if ((rc = parse_tensor(c, i))) return rc;
    g->data_offset = ((uint64_t)c->pos + g->alignment - 1) / g->alignment * g->alignment;
    return check_layout(c);
}

/* ---- open / close ---- */

static int open_common(elm_gguf_t *g, elm_gguf_t **out, elm_diag_t *diag)
{
    cursor_t c = {.g = g, .pos = 0, .d = diag};
    int rc = parse(&c);
    if (rc) {
        elm_gguf_close(g);
        return rc;
    }
    *out = g;
    elm_diag_clear(diag);
    return ELM_OK;
}

static elm_gguf_t *new_reader(const char *name)
{
    elm_gguf_t *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->name = strdup(name);
    if (!g->name) {
        free(g);
        return NULL;
    }
    return g;
}

int elm_gguf_open_memory(const void *buf, size_t size, const char *name, elm_gguf_t **out,
                         elm_diag_t *diag)
{
    *out = NULL;
    if (!name) name = "<memory>";
    if (!buf && size > 0) return elm_diag(diag, ELM_EINVAL, "%s: NULL buffer", name);
    elm_gguf_t *g = new_reader(name);
    if (!g) return elm_diag(diag, ELM_ENOMEM, "%s: out of memory", name);
    g->base = buf ? buf : (const uint8_t *)"";
    g->size = size;
    return open_common(g, out, diag);
}

/* The file read into a buffer of its own (elm_big_alloc: 2 MiB aligned, advised for transparent
 * huge pages, so a decode pass over the weights walks few TLB entries). */
static int read_copy(elm_gguf_t *g, int fd, const char *path, elm_diag_t *diag)
{
    uint8_t *p = elm_big_alloc(g->size);
    if (!p)
        return elm_diag(diag, ELM_ENOMEM,
                        "%s: cannot allocate %zu MiB to read the model into memory (free memory, "
                        "or load it mapped: drop --no-mmap)",
                        path, g->size >> 20);
    g->map = p;
    g->map_size = g->size;
    g->copied = true;
    g->base = p;
    size_t done = 0;
    while (done < g->size) {
        size_t want = g->size - done;
        if (want > ((size_t)64 << 20)) want = (size_t)64 << 20;
        ssize_t r = pread(fd, p + done, want, (off_t)done);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            return elm_diag(diag, elm_from_errno(e), "%s: cannot read at offset %zu (%s)", path,
                            done, strerror(e));
        }
        if (r == 0)
            return elm_diag(diag, ELM_EGGUF_TRUNCATED,
                            "%s: file shrank to %zu bytes while being read (was it being rewritten?)",
                            path, done);
        done += (size_t)r;
    }
    return ELM_OK;
}

int elm_gguf_open_as(const char *path, elm_gguf_load_t how, elm_gguf_t **out, elm_diag_t *diag)
{
    *out = NULL;
    if (!path) return elm_diag(diag, ELM_EINVAL, "elm_gguf_open: NULL path");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        int code = elm_from_errno(e);
        if (code == ELM_ENOENT) return elm_diag(diag, code, "%s: no such file", path);
        if (code == ELM_EACCES) return elm_diag(diag, code, "%s: permission denied (check the file's permissions)", path);
        return elm_diag(diag, code, "%s: cannot open (%s)", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return elm_diag(diag, elm_from_errno(e), "%s: cannot stat (%s)", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return elm_diag(diag, ELM_EINVAL, "%s: is a directory, not a GGUF file", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return elm_diag(diag, ELM_EINVAL, "%s: is not a regular file", path);
    }
    if ((uint64_t)st.st_size > SIZE_MAX / 2) {
        close(fd);
        return elm_diag(diag, ELM_ERANGE, "%s: file is too large to map", path);
    }
    elm_gguf_t *g = new_reader(path);
    if (!g) {
        close(fd);
        return elm_diag(diag, ELM_ENOMEM, "%s: out of memory", path);
    }
    g->size = (size_t)st.st_size;
    g->base = (const uint8_t *)"";
    int rc = ELM_OK;
    if (g->size > 0 && how == ELM_GGUF_COPY) {
        rc = read_copy(g, fd, path, diag);
    } else if (g->size > 0) {
        void *m = mmap(NULL, g->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            rc = elm_diag(diag, elm_from_errno(e), "%s: cannot map the file (%s)", path, strerror(e));
        } else {
            g->base = m;
            g->map = m;
            g->map_size = g->size;
        }
    }
    close(fd);
    if (rc) {
        elm_gguf_close(g);
        return rc;
    }
    return open_common(g, out, diag);
}

int elm_gguf_open(const char *path, elm_gguf_t **out, elm_diag_t *diag)
{
    return elm_gguf_open_as(path, ELM_GGUF_MAP, out, diag);
}

void elm_gguf_close(elm_gguf_t *g)
{
    if (!g) return;
    if (g->map && g->copied)
        elm_big_free(g->map, g->map_size);
    else if (g->map)
        munmap(g->map, g->map_size);
    while (g->blocks) {
        block_t *b = g->blocks;
        g->blocks = b->next;
        free(b);
    }
    elm__index_free(&g->kv_index);
    elm__index_free(&g->tensor_index);
    free(g->name);
    free(g);
}
