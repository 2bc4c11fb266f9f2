/* edgelm base: the library-wide error codes, diagnostics that name the thing and the fix,
 * the logging hook, and small helpers every layer uses. */
#ifndef EDGELM_BASE_H
#define EDGELM_BASE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- version ----
 * The version of the headers a program compiles against; elm_version() gives the library's it
 * runs with. The build reads its version from these lines (CMakeLists.txt), so they are the one
 * place it is set. The shared library's SONAME carries the major number (docs/library.md). */
#define EDGELM_VERSION_MAJOR 0
#define EDGELM_VERSION_MINOR 1
#define EDGELM_VERSION_PATCH 0
#define EDGELM__STR(x) #x
#define EDGELM__XSTR(x) EDGELM__STR(x)
#define EDGELM_VERSION_STRING                                                     \
    EDGELM__XSTR(EDGELM_VERSION_MAJOR) "." EDGELM__XSTR(EDGELM_VERSION_MINOR) "." \
        EDGELM__XSTR(EDGELM_VERSION_PATCH)

/* The library's version as "MAJOR.MINOR.PATCH" (a static string): the EDGELM_VERSION_STRING it
 * was built with, which may differ from the headers' when a program runs with a newer
 * libedgelm.so of the same SONAME. */
const char *elm_version(void);

/* ---- errors ---- */

/* Every error the library can return: X(NAME, value, message). Functions that can fail return 0
 * or a negative ELM_E<NAME>. Codes are only ever appended, never renumbered. */
#define ELM_ERRNO_MAP(X)                                                                        \
    X(NOMEM, -1, "out of memory")                                                               \
    X(INVAL, -2, "invalid argument")                                                            \
    X(IO, -3, "input/output error")                                                             \
    X(NOENT, -4, "no such file or directory")                                                   \
    X(ACCES, -5, "permission denied")                                                           \
    X(NOTSUP, -6, "not supported")                                                              \
    X(RANGE, -7, "value out of range")                                                          \
    X(EXIST, -8, "already exists")                                                              \
    X(NOKEY, -9, "key not found")                                                               \
    X(KEYTYPE, -10, "key has a different type")                                                 \
    X(GGUF_MAGIC, -100, "not a GGUF file")                                                      \
    X(GGUF_VERSION, -101, "unsupported GGUF version")                                           \
    X(GGUF_TRUNCATED, -102, "GGUF file is truncated")                                           \
    X(GGUF_COUNT, -103, "GGUF count is larger than the file can hold")                          \
    X(GGUF_STRING, -104, "GGUF string length is out of bounds")                                 \
    X(GGUF_ARRAY, -105, "GGUF array length is out of bounds")                                   \
    X(GGUF_KV_TYPE, -106, "GGUF metadata value has an unknown type")                            \
    X(GGUF_NDIM, -107, "GGUF tensor has an invalid number of dimensions")                       \
    X(GGUF_SHAPE, -108, "GGUF tensor shape is invalid or overflows")                            \
    X(GGUF_TENSOR_TYPE, -109, "GGUF tensor has an unknown or unsupported type")                 \
    X(GGUF_BOUNDS, -110, "GGUF tensor data lies outside the file")                              \
    X(GGUF_ALIGN, -111, "GGUF alignment is invalid")                                            \
    X(GGUF_DUP_KEY, -112, "GGUF metadata key appears twice")                                    \
    X(GGUF_DUP_TENSOR, -113, "GGUF tensor name appears twice")                                  \
    X(GGUF_BLOCK, -114, "GGUF tensor row is not a whole number of quantization blocks")         \
    X(GGUF_OFFSET, -115, "GGUF tensor offset is not aligned")                                   \
    X(GGUF_OVERLAP, -116, "GGUF tensors overlap")                                               \
    X(GGUF_NESTING, -117, "GGUF arrays are nested too deeply")                                  \
    X(GGUF_KEY, -118, "GGUF metadata key is empty or invalid")

typedef enum {
    ELM_OK = 0,
#define ELM__ERR_ENUM(name, val, msg) ELM_E##name = (val),
    ELM_ERRNO_MAP(ELM__ERR_ENUM)
#undef ELM__ERR_ENUM
} elm_err_t;

/* The fixed message for an error code ("out of memory"); never NULL. */
const char *elm_strerror(int code);

/* The symbolic name of an error code ("ELM_ENOMEM"); never NULL. */
const char *elm_errname(int code);

/* Translate an errno value into an ELM_E* code; called once, right at the system call. */
int elm_from_errno(int err);

/* ---- diagnostics ---- */

/* A diagnostic carries the code and a message that names the thing and the likely fix:
 * "model.gguf: tensor blk.3.attn_q.weight extends past end of file (truncated download?)".
 * Functions that take an elm_diag_t * accept NULL and then only return the code. */
typedef struct {
    int code;
    char msg[512];
} elm_diag_t;

/* Set *d (if not NULL) to code and a printf-style message; returns code so callers can write
 * `return elm_diag(d, ELM_EIO, "%s: read failed (%s)", path, why);`. */
int elm_diag(elm_diag_t *d, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reset *d to ELM_OK and an empty message. Accepts NULL. */
void elm_diag_clear(elm_diag_t *d);

/* ---- logging ---- */

typedef enum { ELM_LOG_ERROR = 0, ELM_LOG_WARN = 1, ELM_LOG_INFO = 2, ELM_LOG_DEBUG = 3 } elm_log_level_t;

typedef void (*elm_log_fn)(elm_log_level_t level, const char *msg, void *user);

/* Install the one logging hook (the CLI does this); NULL silences the library. The library
 * never prints by itself. */
void elm_log_set_hook(elm_log_fn fn, void *user);

/* Send a message to the hook, if any. */
void elm_log(elm_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- growing string ---- */

/* A string built by appending; start from {0} (or a malloc'd p with its cap). After an allocation
 * failure oom is set and further appends do nothing; the caller frees p. */
typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} elm_sbuf_t;

/* Append printf-style text to b, growing it as needed. */
void elm_sbuf_printf(elm_sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- small helpers ---- */

/* Monotonic clock in nanoseconds. */
uint64_t elm_time_ns(void);

/* Overflow-checked size arithmetic: return 0 and set *out, or ELM_ERANGE on overflow. */
int elm_mul_u64(uint64_t a, uint64_t b, uint64_t *out);
int elm_add_u64(uint64_t a, uint64_t b, uint64_t *out);

/* ---- numbers ---- */

/* Parse all of s as a decimal integer in [min, max] into *out. Returns 0, ELM_EINVAL when s is
 * empty or not a whole number, or ELM_ERANGE when it lies outside the range; *out is left alone
 * on failure. */
int elm_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/* Parse all of s as a finite decimal number in [min, max] into *out (strtod's syntax). Returns
 * 0, ELM_EINVAL (empty, trailing text, NaN) or ELM_ERANGE (infinite, overflowing or outside the
 * range); *out is left alone on failure. */
int elm_parse_f64(const char *s, double min, double max, double *out);

/* ---- large buffers ---- */

/* A zeroed buffer of size bytes from its own anonymous mapping, 2 MiB aligned and advised for
 * transparent huge pages where the kernel allows: for buffers a pass streams through (weights
 * read into memory, the KV cache), where 4 KiB pages cost a TLB miss every 4 KiB. NULL when the
 * memory is not there. Free with elm_big_free() and the same size. */
void *elm_big_alloc(size_t size);
void elm_big_free(void *p, size_t size);

/* The alignment of elm_big_alloc's buffers, and the span their sizes are rounded up to. */
#define ELM_BIG_ALIGN ((size_t)2 << 20)

/* ---- files ---- */

/* Read the whole file at path into a malloc'd, NUL-terminated buffer: *buf (the caller frees it)
 * and its length without the NUL in *len. max_bytes caps the size (0: no cap beyond SIZE_MAX/2).
 * Returns 0, or an error whose message names the path and the cause: missing or unreadable
 * (ELM_ENOENT, ELM_EACCES...), a directory (ELM_EINVAL), larger than max_bytes (ELM_ERANGE),
 * a read error (ELM_EIO) or ELM_ENOMEM; then *buf is NULL and *len 0. Works on pipes and /proc
 * files, whose size stat does not know. */
int elm_file_read(const char *path, size_t max_bytes, char **buf, size_t *len, elm_diag_t *diag);

/* ---- statistics ---- */

/* Mean and sample standard deviation (n - 1 in the denominator, as llama-bench) of x[0..n) into
 * *mean and *sd; the mean is 0 when n is 0 and the sd is 0 when n < 2. */
void elm_stats_mean_sd(const double *x, size_t n, double *mean, double *sd);

/* Sort x[0..n) ascending in place (for elm_stats_percentile). */
void elm_stats_sort(double *x, size_t n);

/* The p-th percentile (0..100) of sorted[0..n) (n >= 1), linear interpolation between closest
 * ranks (rank p/100 * (n - 1), as numpy's default). */
double elm_stats_percentile(const double *sorted, size_t n, double p);

/* The two-sided 95 % quantile of Student's t with df degrees of freedom (table for 1..30, 1.96
 * beyond, 1.96 for df 0). */
double elm_stats_t975(size_t df);

/* The mean of x[0..n) and the half-width of its 95 % confidence interval with Student's t
 * (t975(n - 1) * sd / sqrt(n)); the half-width is 0 when n < 2. */
void elm_stats_ci95(const double *x, size_t n, double *mean, double *half);

/* The 95 % Wilson score interval [*lo, *hi] of a proportion of k successes in n trials, clamped
 * to [0, 1]; both 0 when n is 0. */
void elm_stats_wilson95(size_t k, size_t n, double *lo, double *hi);

#ifdef __cplusplus
}
#endif
#endif
