/* edgelm gguf: tensor element types, and reading (mmap, fully validated) and writing (streamed)
 * of GGUF v2/v3 files. Everything the reader hands out points into the mapping or into memory
 * owned by the elm_gguf_t, and stays valid until elm_gguf_close(). */
#ifndef EDGELM_GGUF_H
#define EDGELM_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgelm/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- tensor element types (ggml's numbering, as stored in GGUF files) ---- */

typedef enum {
    ELM_TYPE_F32 = 0,
    ELM_TYPE_F16 = 1,
    ELM_TYPE_Q4_0 = 2,
    ELM_TYPE_Q4_1 = 3,
    ELM_TYPE_Q5_0 = 6,
    ELM_TYPE_Q5_1 = 7,
    ELM_TYPE_Q8_0 = 8,
    ELM_TYPE_Q8_1 = 9,
    ELM_TYPE_Q2_K = 10,
    ELM_TYPE_Q3_K = 11,
    ELM_TYPE_Q4_K = 12,
    ELM_TYPE_Q5_K = 13,
    ELM_TYPE_Q6_K = 14,
    ELM_TYPE_Q8_K = 15,
    ELM_TYPE_IQ2_XXS = 16,
    ELM_TYPE_IQ2_XS = 17,
    ELM_TYPE_IQ3_XXS = 18,
    ELM_TYPE_IQ1_S = 19,
    ELM_TYPE_IQ4_NL = 20,
    ELM_TYPE_IQ3_S = 21,
    ELM_TYPE_IQ2_S = 22,
    ELM_TYPE_IQ4_XS = 23,
    ELM_TYPE_I8 = 24,
    ELM_TYPE_I16 = 25,
    ELM_TYPE_I32 = 26,
    ELM_TYPE_I64 = 27,
    ELM_TYPE_F64 = 28,
    ELM_TYPE_IQ1_M = 29,
    ELM_TYPE_BF16 = 30,
    ELM_TYPE_TQ1_0 = 34,
    ELM_TYPE_TQ2_0 = 35,
    ELM_TYPE_MXFP4 = 39,
    ELM_TYPE_COUNT = 40 /* one past the largest id; ids in between are retired */
} elm_type_t;

/* Storage facts of a type: its ggml name ("q4_K"), values per block and bytes per block. */
typedef struct {
    const char *name;
    uint32_t blck_size;
    uint32_t type_size;
} elm_type_info_t;

/* Facts about a type id as found in a file, or NULL for an unknown or retired id. Knowing a type's
 * size does not mean the kernels can compute with it: see elm_traits() in kernels.h. */
const elm_type_info_t *elm_type_info(int type);

/* Look up a type by ggml name, case-insensitively ("Q4_K", "q4_k", "bf16"). ELM_EINVAL if none. */
int elm_type_from_name(const char *name, elm_type_t *out);

/* Bytes taken by n values of type: ELM_EINVAL if n is not a multiple of the block size or the
 * type is unknown, ELM_ERANGE on overflow. *out is 0 on failure. */
int elm_type_row_size(int type, uint64_t n, uint64_t *out);

/* ---- metadata values ---- */

typedef enum {
    ELM_GGUF_UINT8 = 0,
    ELM_GGUF_INT8 = 1,
    ELM_GGUF_UINT16 = 2,
    ELM_GGUF_INT16 = 3,
    ELM_GGUF_UINT32 = 4,
    ELM_GGUF_INT32 = 5,
    ELM_GGUF_FLOAT32 = 6,
    ELM_GGUF_BOOL = 7,
    ELM_GGUF_STRING = 8,
    ELM_GGUF_ARRAY = 9,
    ELM_GGUF_UINT64 = 10,
    ELM_GGUF_INT64 = 11,
    ELM_GGUF_FLOAT64 = 12,
    ELM_GGUF_VTYPE_COUNT = 13
} elm_gguf_vtype_t;

/* "uint32", "string", "array", ...; "?" for an unknown id. */
const char *elm_gguf_vtype_name(int vtype);

/* Bytes of one element of a scalar vtype (0 for STRING, ARRAY and unknown ids). */
size_t elm_gguf_vtype_size(int vtype);

/* A string as stored in the file: not NUL-terminated, may contain NUL bytes. */
typedef struct {
    const char *ptr;
    uint64_t len;
} elm_str_t;

/* One metadata value. Integers and floats are decoded into u / i / f; strings point into the
 * mapping; arrays of numbers point at their packed little-endian bytes (read them with
 * elm_gguf_arr_*), arrays of strings and of arrays are decoded into items[n]. */
typedef struct elm_gguf_value {
    elm_gguf_vtype_t type;
    union {
        uint64_t u; /* UINT8, UINT16, UINT32, UINT64, BOOL (0 or 1) */
        int64_t i;  /* INT8, INT16, INT32, INT64 */
        double f;   /* FLOAT32, FLOAT64 */
        elm_str_t s; /* STRING */
        struct {
            elm_gguf_vtype_t type;               /* element type */
            uint64_t n;                          /* element count */
            const void *data;                    /* numeric elements, packed, possibly unaligned */
            const struct elm_gguf_value *items;  /* STRING / ARRAY elements; NULL otherwise */
        } arr;
    };
} elm_gguf_value_t;

typedef struct {
    const char *key; /* NUL-terminated copy */
    elm_gguf_value_t value;
} elm_gguf_kv_t;

/* Element i of a numeric array, converted. The caller keeps i < n and the array numeric. */
double elm_gguf_arr_f64(const elm_gguf_value_t *arr, uint64_t i);
int64_t elm_gguf_arr_i64(const elm_gguf_value_t *arr, uint64_t i);

/* ---- tensors ---- */

#define ELM_GGUF_MAX_DIMS 4
#define ELM_GGUF_DEFAULT_ALIGNMENT 32

typedef struct {
    const char *name;             /* NUL-terminated copy */
    elm_type_t type;
    uint32_t n_dims;              /* 1..4 */
    int64_t ne[ELM_GGUF_MAX_DIMS]; /* ne[0] is contiguous; unused dimensions are 1 */
    uint64_t n_elements;
    uint64_t offset;              /* from the start of the data section */
    uint64_t size;                /* bytes */
    const void *data;             /* into the mapping */
} elm_gguf_tensor_t;

/* ---- reader ---- */

typedef struct elm_gguf elm_gguf_t;

/* Map and validate a GGUF file. On success *out owns the mapping; on failure *out is NULL and
 * diag names the file, the key or tensor at fault, and the likely cause. */
int elm_gguf_open(const char *path, elm_gguf_t **out, elm_diag_t *diag);

/* How elm_gguf_open_as() brings the file into memory. */
typedef enum {
    ELM_GGUF_MAP,  /* mmap the file: fast to open, pages shared with the page cache */
    ELM_GGUF_COPY, /* read it into anonymous memory (huge pages where the kernel allows): slower
                    * to open, steadier to stream from on hosts where file mappings read slowly */
} elm_gguf_load_t;

/* elm_gguf_open() with the choice of mapping or copying (`--no-mmap` on the command line). */
int elm_gguf_open_as(const char *path, elm_gguf_load_t how, elm_gguf_t **out, elm_diag_t *diag);

/* The same over a buffer the caller keeps alive (and unchanged) until elm_gguf_close(); name is
 * used in messages. Used by the fuzzer and tests. */
int elm_gguf_open_memory(const void *buf, size_t size, const char *name, elm_gguf_t **out,
                         elm_diag_t *diag);

/* Unmap and free everything the reader handed out. Accepts NULL. */
void elm_gguf_close(elm_gguf_t *g);

const char *elm_gguf_name(const elm_gguf_t *g); /* the path or name given at open */
uint32_t elm_gguf_version(const elm_gguf_t *g);
uint64_t elm_gguf_file_size(const elm_gguf_t *g);
uint32_t elm_gguf_alignment(const elm_gguf_t *g);
uint64_t elm_gguf_data_offset(const elm_gguf_t *g); /* start of the tensor data section */

uint64_t elm_gguf_n_kv(const elm_gguf_t *g);
const elm_gguf_kv_t *elm_gguf_kv_at(const elm_gguf_t *g, uint64_t i); /* NULL if out of range */
const elm_gguf_value_t *elm_gguf_get(const elm_gguf_t *g, const char *key); /* NULL if absent */

/* Typed getters: 0 and *out set, ELM_ENOKEY when absent, ELM_EKEYTYPE when the value is of an
 * incompatible type, ELM_ERANGE when it does not fit. Integer getters accept any integer type;
 * get_f64 accepts floats and integers. */
int elm_gguf_get_u64(const elm_gguf_t *g, const char *key, uint64_t *out);
int elm_gguf_get_u32(const elm_gguf_t *g, const char *key, uint32_t *out);
int elm_gguf_get_i64(const elm_gguf_t *g, const char *key, int64_t *out);
int elm_gguf_get_f64(const elm_gguf_t *g, const char *key, double *out);
int elm_gguf_get_bool(const elm_gguf_t *g, const char *key, bool *out);
int elm_gguf_get_str(const elm_gguf_t *g, const char *key, elm_str_t *out);
/* An array value of any element type (*out points at the stored value). */
int elm_gguf_get_arr(const elm_gguf_t *g, const char *key, const elm_gguf_value_t **out);

uint64_t elm_gguf_n_tensors(const elm_gguf_t *g);
const elm_gguf_tensor_t *elm_gguf_tensor_at(const elm_gguf_t *g, uint64_t i); /* NULL if out of range */
const elm_gguf_tensor_t *elm_gguf_find_tensor(const elm_gguf_t *g, const char *name); /* NULL if absent */

/* ---- writer ---- */

/* A streaming GGUF v3 writer: declare metadata and tensor infos, then write tensor data in the
 * declared order, a piece at a time; the whole model is never held in memory. The file is built
 * as PATH.tmp and renamed into place by elm_gguf_writer_finish(), so a failed write never leaves
 * a half file under the final name. */
typedef struct elm_gguf_writer elm_gguf_writer_t;

int elm_gguf_writer_open(const char *path, elm_gguf_writer_t **out, elm_diag_t *diag);

/* Metadata. Keys must be unique (ELM_EEXIST otherwise). "general.alignment" (uint32, a power of
 * two) also sets the alignment used for tensor data. Values are copied. */
int elm_gguf_writer_add_value(elm_gguf_writer_t *w, const char *key, const elm_gguf_value_t *v);
int elm_gguf_writer_add_u32(elm_gguf_writer_t *w, const char *key, uint32_t v);
int elm_gguf_writer_add_i32(elm_gguf_writer_t *w, const char *key, int32_t v);
int elm_gguf_writer_add_u64(elm_gguf_writer_t *w, const char *key, uint64_t v);
int elm_gguf_writer_add_f32(elm_gguf_writer_t *w, const char *key, float v);
int elm_gguf_writer_add_bool(elm_gguf_writer_t *w, const char *key, bool v);
int elm_gguf_writer_add_str(elm_gguf_writer_t *w, const char *key, const char *v);
/* An array of n numeric elements of vtype, packed little-endian at data. */
int elm_gguf_writer_add_arr(elm_gguf_writer_t *w, const char *key, elm_gguf_vtype_t vtype,
                            const void *data, uint64_t n);
/* An array of n NUL-terminated strings. */
int elm_gguf_writer_add_arr_str(elm_gguf_writer_t *w, const char *key, const char *const *strs,
                                uint64_t n);

/* Declare a tensor (all before the first data write). */
int elm_gguf_writer_add_tensor(elm_gguf_writer_t *w, const char *name, elm_type_t type,
                               uint32_t n_dims, const int64_t *ne);

/* Append bytes of tensor data, in declaration order; a write may span tensors or cover part of
 * one. The header is written before the first data byte; padding between tensors is added. */
int elm_gguf_writer_write(elm_gguf_writer_t *w, const void *data, size_t size);

/* Check that every declared byte was written, flush, fsync, rename into place and free w
 * (also on failure, which removes the temporary file). */
int elm_gguf_writer_finish(elm_gguf_writer_t *w, elm_diag_t *diag);

/* Abandon a write: remove the temporary file and free w. Accepts NULL. */
void elm_gguf_writer_free(elm_gguf_writer_t *w);

#ifdef __cplusplus
}
#endif
#endif
