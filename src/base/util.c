/* Small helpers shared by every layer: the library's version, the monotonic clock,
 * overflow-checked arithmetic, a growing string, and large huge-page buffers. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#include "edgelm/base.h"

const char *elm_version(void)
{
    return EDGELM_VERSION_STRING;
}

uint64_t elm_time_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int elm_mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    if (__builtin_mul_overflow(a, b, out)) {
        *out = 0;
        return ELM_ERANGE;
    }
    return ELM_OK;
}

int elm_add_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    if (__builtin_add_overflow(a, b, out)) {
        *out = 0;
        return ELM_ERANGE;
    }
    return ELM_OK;
}

void elm_sbuf_printf(elm_sbuf_t *b, const char *fmt, ...)
{
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 256) + (size_t)n;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
}

/* The mapping is over-allocated by one alignment unit and trimmed on both sides, so p is the
 * start of a mapping of exactly the rounded size, and elm_big_free can unmap it by size. Under
 * AddressSanitizer the buffer comes from the heap instead, so that overruns are still caught. */

#if defined(__SANITIZE_ADDRESS__)
#define ELM_BIG_HEAP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ELM_BIG_HEAP 1
#endif
#endif

/* size rounded up to whole alignment units (at least one); 0 when that overflows */
static size_t big_span(size_t size)
{
    if (size == 0) size = 1;
    return size > SIZE_MAX - 2 * ELM_BIG_ALIGN
               ? 0
               : (size + ELM_BIG_ALIGN - 1) / ELM_BIG_ALIGN * ELM_BIG_ALIGN;
}

void *elm_big_alloc(size_t size)
{
    const size_t span = big_span(size);
    if (span == 0) return NULL;
#ifdef ELM_BIG_HEAP
    return calloc(1, span);
#else
    uint8_t *raw = mmap(NULL, span + ELM_BIG_ALIGN, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return NULL;
    const size_t lead = (ELM_BIG_ALIGN - (uintptr_t)raw % ELM_BIG_ALIGN) % ELM_BIG_ALIGN;
    if (lead) munmap(raw, lead);
    if (ELM_BIG_ALIGN - lead) munmap(raw + lead + span, ELM_BIG_ALIGN - lead);
#ifdef MADV_HUGEPAGE
    (void)madvise(raw + lead, span, MADV_HUGEPAGE); /* advice only: fine without THP */
#endif
    return raw + lead;
#endif
}

void elm_big_free(void *p, size_t size)
{
#ifdef ELM_BIG_HEAP
    (void)size;
    free(p);
#else
    if (p) munmap(p, big_span(size));
#endif
}
