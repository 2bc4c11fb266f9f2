/* CPU feature detection for the kernel dispatch table: which SIMD instruction sets the running
 * CPU and OS support, read once. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

#include "edgelm/kernels.h"
#include "kernels/cpu.h"

static unsigned cpu_flags;
static char cpu_names[128];
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;

static const struct {
    unsigned bit;
    const char *name;
} feature_names[] = {
    {ELM__CPU_AVX2, "avx2"},
    {ELM__CPU_FMA, "fma"},
    {ELM__CPU_F16C, "f16c"},
    {ELM__CPU_AVX512F, "avx512f"},
    {ELM__CPU_AVX512BW, "avx512bw"},
    {ELM__CPU_AVX512VL, "avx512vl"},
    {ELM__CPU_AVX512VNNI, "avx512vnni"},
    {ELM__CPU_NEON, "neon"},
    {ELM__CPU_DOTPROD, "dotprod"},
};

#if defined(__x86_64__) && defined(__GNUC__)
/* The OS-enabled register state (XCR0): bits 1-2 are XMM / YMM, bits 5-7 the AVX-512 state. */
static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t)hi << 32 | lo;
}

/* CPUID says what the CPU has; XCR0 whether the OS saves the YMM / ZMM registers, without which
 * the instructions must not be used. */
static unsigned x86_flags(void)
{
    unsigned a, b, c, d, flags = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const int osxsave = c >> 27 & 1, avx = c >> 28 & 1;
    if (!osxsave || !avx) return 0;
    const uint64_t xcr0 = xgetbv0();
    if ((xcr0 & 0x6) != 0x6) return 0;
    const int zmm = (xcr0 & 0xE6) == 0xE6;
    if (c >> 12 & 1) flags |= ELM__CPU_FMA;
    if (c >> 29 & 1) flags |= ELM__CPU_F16C;
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        if (b >> 5 & 1) flags |= ELM__CPU_AVX2;
        if (zmm && (b >> 16 & 1)) flags |= ELM__CPU_AVX512F;
        if (zmm && (b >> 30 & 1)) flags |= ELM__CPU_AVX512BW;
        if (zmm && (b >> 31 & 1)) flags |= ELM__CPU_AVX512VL;
        if (zmm && (c >> 11 & 1)) flags |= ELM__CPU_AVX512VNNI;
    }
    return flags;
}
#endif

#if defined(__aarch64__)
/* The kernel's hwcaps say what the CPU has and the OS allows (the bit values of the Linux arm64
 * ABI, spelled out so that older libc headers do not matter). Without Linux, only what the
 * compiler was told the target has. */
static unsigned arm_flags(void)
{
    unsigned flags = 0;
#if defined(__linux__)
    enum { HWCAP_ASIMD_BIT = 1, HWCAP_ASIMDDP_BIT = 20 };
    const unsigned long hwcap = getauxval(AT_HWCAP);
    if (hwcap >> HWCAP_ASIMD_BIT & 1) flags |= ELM__CPU_NEON;
    if ((flags & ELM__CPU_NEON) && (hwcap >> HWCAP_ASIMDDP_BIT & 1)) flags |= ELM__CPU_DOTPROD;
#else
#if defined(__ARM_NEON)
    flags |= ELM__CPU_NEON;
#endif
#if defined(__ARM_FEATURE_DOTPROD)
    flags |= ELM__CPU_DOTPROD;
#endif
#endif
    return flags;
}
#endif

static void cpu_detect(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    cpu_flags = x86_flags();
#elif defined(__aarch64__)
    cpu_flags = arm_flags();
#endif
    size_t len = 0;
    for (size_t i = 0; i < sizeof feature_names / sizeof feature_names[0]; i++) {
        if (!(cpu_flags & feature_names[i].bit)) continue;
        const size_t n = strlen(feature_names[i].name);
        if (len + n + 2 > sizeof cpu_names) break;
        if (len) cpu_names[len++] = ' ';
        memcpy(cpu_names + len, feature_names[i].name, n);
        len += n;
    }
    cpu_names[len] = '\0';
}

unsigned elm__cpu_flags(void)
{
    pthread_once(&cpu_once, cpu_detect);
    return cpu_flags;
}

int elm__env_switch(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

unsigned elm__kernel_tier(void)
{
    unsigned cpu = elm__cpu_flags();
    if (elm__env_switch("EDGELM_NO_SIMD")) return 0;
    const char *max = getenv("EDGELM_SIMD_MAX");
    if (max && strcmp(max, "avx2") == 0) cpu &= ~(unsigned)ELM__CPU_AVX512_ALL;
    if (max && strcmp(max, "neon") == 0) cpu &= ~(unsigned)ELM__CPU_DOTPROD;
    return cpu;
}

const char *elm_cpu_features(void)
{
    pthread_once(&cpu_once, cpu_detect);
    return cpu_names;
}
