/* Small helpers shared by every layer: the monotonic clock and overflow-checked arithmetic. */
#include <time.h>

#include "edgelm/base.h"

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
