/* gguf/ internals shared by the reader, the writer and the value helpers: little-endian decoding,
 * the open-addressing name index, and the reader's state. */
#ifndef EDGELM_GGUF_INTERNAL_H
#define EDGELM_GGUF_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgelm/gguf.h"

/* Arrays may hold arrays; deeper nesting than this is rejected (ELM_EGGUF_NESTING). */
#define ELM__GGUF_MAX_NESTING 8

/* ---- little-endian decoding (independent of the host's byte order) ---- */

static inline uint16_t elm__rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t elm__rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t elm__rd64(const uint8_t *p)
{
    return (uint64_t)elm__rd32(p) | ((uint64_t)elm__rd32(p + 4) << 32);
}

/* ---- name index: open addressing over NUL-terminated names ---- */

/* slots[cap] hold index+1 of an entry, 0 when empty; cap is a power of two >= 2 * capacity. */
typedef struct {
    size_t *slots;
    size_t cap;
} elm__index_t;

/* Fetch the name of entry i from the owner's array. */
typedef const char *(*elm__index_name_fn)(const void *entries, size_t i);

/* Allocate an index for up to n entries. Returns 0 or ELM_ENOMEM. */
int elm__index_init(elm__index_t *ix, size_t n);
void elm__index_free(elm__index_t *ix);
/* Insert entry i named name; returns the index of an existing entry with that name (and inserts
 * nothing), or SIZE_MAX when inserted. The index must have room (callers size it up front). */
size_t elm__index_put(elm__index_t *ix, const void *entries, elm__index_name_fn name_of,
                      const char *name, size_t i);
/* The index of the entry named name, or SIZE_MAX. */
size_t elm__index_get(const elm__index_t *ix, const void *entries, elm__index_name_fn name_of,
                      const char *name);

/* ---- reader state ---- */

struct elm_gguf {
    char *name;           /* path or caller's name, owned */
    const uint8_t *base;  /* the mapping or the caller's buffer */
    size_t size;
    void *map;            /* our mapping of the file, or our copy of it (elm_big_alloc), or NULL */
    size_t map_size;
    bool copied;          /* map is the copy */
    uint32_t version;
    uint32_t alignment;
    uint64_t data_offset;

    uint64_t n_kv;
    elm_gguf_kv_t *kv;    /* [n_kv] */
    uint64_t n_tensors;
    elm_gguf_tensor_t *tensors; /* [n_tensors] */
    elm__index_t kv_index;
    elm__index_t tensor_index;

    void *blocks;         /* singly linked list of owned allocations (names, decoded items) */
};

const char *elm__kv_name(const void *entries, size_t i);
const char *elm__tensor_name(const void *entries, size_t i);

#endif
