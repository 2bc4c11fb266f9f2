/* kernels/ internals: the CPU features the dispatch table is filled from, detected once. Shared
 * by the files of kernels/ only; the public view is elm_cpu_features(). */
#ifndef ELM_KERNELS_CPU_H
#define ELM_KERNELS_CPU_H

#include "edgelm/kernels.h"

/* One bit per feature a kernel tier needs; a bit is set only when the CPU has the instructions
 * and the OS saves the registers they use (XSAVE state), so the kernels may run. */
enum {
    ELM__CPU_AVX2 = 1u << 0,
    ELM__CPU_FMA = 1u << 1,
    ELM__CPU_F16C = 1u << 2,
    ELM__CPU_AVX512F = 1u << 3,
    ELM__CPU_AVX512BW = 1u << 4,
    ELM__CPU_AVX512VL = 1u << 5,
    ELM__CPU_AVX512VNNI = 1u << 6,
    /* aarch64: Advanced SIMD (every ARMv8-A Linux system has it) and the int8 dot product
     * (sdot/udot: Cortex-A55/A76/A78 and later, optional from ARMv8.2-A). */
    ELM__CPU_NEON = 1u << 7,
    ELM__CPU_DOTPROD = 1u << 8,
};

/* The x86 AVX2 kernel tier: AVX2 integer ops, FMA and F16C conversions (every AVX2 CPU has all
 * three, but they are separate CPUID bits). */
#define ELM__CPU_TIER_AVX2 (ELM__CPU_AVX2 | ELM__CPU_FMA | ELM__CPU_F16C)

/* The x86 AVX-512 kernel tier (on top of the AVX2 tier): Skylake-X and later with VNNI (Ice
 * Lake, Zen 4). */
#define ELM__CPU_AVX512_ALL                                                                       \
    (ELM__CPU_AVX512F | ELM__CPU_AVX512BW | ELM__CPU_AVX512VL | ELM__CPU_AVX512VNNI)
#define ELM__CPU_TIER_AVX512 (ELM__CPU_TIER_AVX2 | ELM__CPU_AVX512_ALL)

/* The aarch64 kernel tiers: plain NEON (any ARMv8-A), and NEON with sdot. */
#define ELM__CPU_TIER_NEON ELM__CPU_NEON
#define ELM__CPU_TIER_DOTPROD (ELM__CPU_NEON | ELM__CPU_DOTPROD)

/* Fill a traits table (ELM_TYPE_COUNT entries) as the dispatch table would be on a CPU with the
 * features cpu (ELM__CPU_* bits; 0 for the reference alone). Lets tests check every tier the
 * running CPU can execute, not only the best one. */
void elm__traits_fill(elm_type_traits_t *t, unsigned cpu);

/* The features of the running CPU, as ELM__CPU_* bits (0 on other than x86-64 and aarch64 builds).
 * Thread-safe. */
unsigned elm__cpu_flags(void);

/* The features the dispatch tables (traits and ops) are filled from: the running CPU's, none
 * when EDGELM_NO_SIMD is set to anything but "" or "0", without the AVX-512 tier when
 * EDGELM_SIMD_MAX is "avx2" and without the dotprod tier when it is "neon". Reads the
 * environment at each call; the tables call it once, when they are filled. */
unsigned elm__kernel_tier(void);

/* Whether the environment variable name turns a switch of the kernels on: set to anything but ""
 * or "0" (EDGELM_NO_SIMD, EDGELM_NO_REPACK). */
int elm__env_switch(const char *name);

#endif
