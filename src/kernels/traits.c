/* The per-type traits table: block layout, dequantize, quantize, activation quantizer and dot
 * product of every type the kernels can compute with. The one dispatch point of kernels/. */
#include <pthread.h>
#include <stddef.h>

#include "edgelm/kernels.h"
#include "kernels/arm/arm.h"
#include "kernels/cpu.h"
#include "kernels/ref/ref.h"
#include "kernels/x86/x86.h"
#include "kernels/x86/avx512.h"

/* ---- reference table ----
 * The scalar kernels of kernels/ref, indexed by type id. Types without kernels (the IQ2/IQ3/IQ1
 * families, iq4_xs, the ternary types, mxfp4, the integer types and f64) have no entry. */

#define TRAITS(T, NAME, BLCK, SIZE, TO, Q, FROM, DOT, VDT)                                      \
    [ELM_TYPE_##T] = {ELM_TYPE_##T, NAME, BLCK, SIZE, TO, Q, FROM, DOT, ELM_TYPE_##VDT, NULL}

static const elm_type_traits_t ref_traits[ELM_TYPE_COUNT] = {
    TRAITS(F32, "f32", 1, 4, elm__f32_to_float, elm__f32_from_float, elm__f32_from_float,
           elm__vec_dot_f32, F32),
    TRAITS(F16, "f16", 1, 2, elm__f16_to_float, elm__f16_from_float, elm__f16_from_float,
           elm__vec_dot_f16, F16),
    TRAITS(BF16, "bf16", 1, 2, elm__bf16_to_float, elm__bf16_from_float, elm__bf16_from_float,
           elm__vec_dot_bf16, BF16),
    TRAITS(Q4_0, "q4_0", 32, 18, elm__dequantize_q4_0, elm__quantize_q4_0_ref, NULL,
           elm__vec_dot_q4_0_q8_0, Q8_0),
    TRAITS(Q4_1, "q4_1", 32, 20, elm__dequantize_q4_1, elm__quantize_q4_1_ref, NULL,
           elm__vec_dot_q4_1_q8_1, Q8_1),
    TRAITS(Q5_0, "q5_0", 32, 22, elm__dequantize_q5_0, elm__quantize_q5_0_ref, NULL,
           elm__vec_dot_q5_0_q8_0, Q8_0),
    TRAITS(Q5_1, "q5_1", 32, 24, elm__dequantize_q5_1, elm__quantize_q5_1_ref, NULL,
           elm__vec_dot_q5_1_q8_1, Q8_1),
    TRAITS(Q8_0, "q8_0", 32, 34, elm__dequantize_q8_0, elm__quantize_q8_0_ref,
           elm__quantize_q8_0_act, elm__vec_dot_q8_0_q8_0, Q8_0),
    TRAITS(Q8_1, "q8_1", 32, 36, elm__dequantize_q8_1, elm__quantize_q8_1_ref,
           elm__quantize_q8_1_act, NULL, Q8_1),
    TRAITS(IQ4_NL, "iq4_nl", 32, 18, elm__dequantize_iq4_nl, elm__quantize_iq4_nl, NULL,
           elm__vec_dot_iq4_nl_q8_0, Q8_0),
    TRAITS(Q2_K, "q2_K", 256, 84, elm__dequantize_q2_K, elm__quantize_q2_K_ref, NULL,
           elm__vec_dot_q2_K_q8_K, Q8_K),
    TRAITS(Q3_K, "q3_K", 256, 110, elm__dequantize_q3_K, elm__quantize_q3_K_ref, NULL,
           elm__vec_dot_q3_K_q8_K, Q8_K),
    TRAITS(Q4_K, "q4_K", 256, 144, elm__dequantize_q4_K, elm__quantize_q4_K_ref, NULL,
           elm__vec_dot_q4_K_q8_K, Q8_K),
    TRAITS(Q5_K, "q5_K", 256, 176, elm__dequantize_q5_K, elm__quantize_q5_K_ref, NULL,
           elm__vec_dot_q5_K_q8_K, Q8_K),
    TRAITS(Q6_K, "q6_K", 256, 210, elm__dequantize_q6_K, elm__quantize_q6_K_ref, NULL,
           elm__vec_dot_q6_K_q8_K, Q8_K),
    /* On x86, ggml's CPU activation quantizer for q8_K is the reference one. */
    TRAITS(Q8_K, "q8_K", 256, 292, elm__dequantize_q8_K, elm__quantize_q8_K_ref,
           elm__quantize_q8_K_ref, NULL, Q8_K),
};

#undef TRAITS

/* ---- per-ISA variants ----
 * Each installs, entry by entry, the kernels its CPU tier has; the rest keep the reference. */

#if defined(__x86_64__)
/* A gemv and the layout of the activations it takes go together. */
static void set_gemv(elm_type_traits_t *t, elm_gemv_fn gemv, elm_gemv_prepare_fn prepare)
{
    t->gemv = gemv;
    t->gemv_prepare = prepare;
    t->gemv_rows = NULL; /* the tier's own, if any, is set after */
}

static void install_x86(elm_type_traits_t *t, unsigned cpu)
{
    if ((cpu & ELM__CPU_TIER_AVX2) != ELM__CPU_TIER_AVX2) return;
    /* AVX2 tier: dot products and activation quantizers */
    t[ELM_TYPE_F32].vec_dot = elm__vec_dot_f32_avx2;
    t[ELM_TYPE_F16].vec_dot = elm__vec_dot_f16_avx2;
    t[ELM_TYPE_F16].from_float = elm__f16_from_float_avx2;
    t[ELM_TYPE_Q4_0].vec_dot = elm__vec_dot_q4_0_q8_0_avx2;
    t[ELM_TYPE_Q5_0].vec_dot = elm__vec_dot_q5_0_q8_0_avx2;
    t[ELM_TYPE_Q8_0].vec_dot = elm__vec_dot_q8_0_q8_0_avx2;
    t[ELM_TYPE_Q8_0].from_float = elm__quantize_q8_0_act_avx2;
    t[ELM_TYPE_Q4_K].vec_dot = elm__vec_dot_q4_K_q8_K_avx2;
    t[ELM_TYPE_Q6_K].vec_dot = elm__vec_dot_q6_K_q8_K_avx2;
    t[ELM_TYPE_Q8_K].from_float = elm__quantize_q8_K_avx2;
    t[ELM_TYPE_BF16].vec_dot = elm__vec_dot_bf16_avx2;
    t[ELM_TYPE_Q4_1].vec_dot = elm__vec_dot_q4_1_q8_1_avx2;
    t[ELM_TYPE_Q5_K].vec_dot = elm__vec_dot_q5_K_q8_K_avx2;
    /* AVX2 tier: matrix products */
    t[ELM_TYPE_Q4_0].gemm = elm__gemm_q4_0_q8_0_avx2;
    t[ELM_TYPE_Q5_0].gemm = elm__gemm_q5_0_q8_0_avx2;
    t[ELM_TYPE_Q8_0].gemm = elm__gemm_q8_0_q8_0_avx2;
    t[ELM_TYPE_Q4_K].gemm = elm__gemm_q4_K_q8_K_avx2;
    t[ELM_TYPE_Q5_K].gemm = elm__gemm_q5_K_q8_K_avx2;
    t[ELM_TYPE_Q6_K].gemm = elm__gemm_q6_K_q8_K_avx2;
    t[ELM_TYPE_F16].gemm = elm__gemm_f16_f16_avx2;
    set_gemv(&t[ELM_TYPE_Q4_0], elm__gemv_q4_0_q8_0_avx2, elm__gemv_prepare_q4_0_avx2);
    set_gemv(&t[ELM_TYPE_Q5_0], elm__gemv_q5_0_q8_0_avx2, elm__gemv_prepare_q5_0_avx2);

    if ((cpu & ELM__CPU_TIER_AVX512) != ELM__CPU_TIER_AVX512) return;
    /* AVX-512 tier: dot products and activation quantizers */
    t[ELM_TYPE_Q4_0].vec_dot = elm__vec_dot_q4_0_q8_0_avx512;
    t[ELM_TYPE_Q5_0].vec_dot = elm__vec_dot_q5_0_q8_0_avx512;
    t[ELM_TYPE_Q8_0].vec_dot = elm__vec_dot_q8_0_q8_0_avx512;
    t[ELM_TYPE_Q4_K].vec_dot = elm__vec_dot_q4_K_q8_K_avx512;
    t[ELM_TYPE_Q6_K].vec_dot = elm__vec_dot_q6_K_q8_K_avx512;
    t[ELM_TYPE_F16].vec_dot = elm__vec_dot_f16_avx512;
    t[ELM_TYPE_BF16].vec_dot = elm__vec_dot_bf16_avx512;
    t[ELM_TYPE_F16].vec_dots = elm__vec_dots_f16_avx512;
    t[ELM_TYPE_BF16].vec_dots = elm__vec_dots_bf16_avx512;
    t[ELM_TYPE_Q4_1].vec_dot = elm__vec_dot_q4_1_q8_1_avx512;
    t[ELM_TYPE_Q5_K].vec_dot = elm__vec_dot_q5_K_q8_K_avx512;
    t[ELM_TYPE_Q8_0].from_float = elm__quantize_q8_0_act_avx512;
    t[ELM_TYPE_Q8_K].from_float = elm__quantize_q8_K_avx512;

    /* AVX-512 tier: matrix products */
    t[ELM_TYPE_Q4_0].gemm = elm__gemm_q4_0_q8_0_avx512;
    t[ELM_TYPE_Q5_0].gemm = elm__gemm_q5_0_q8_0_avx512;
    t[ELM_TYPE_Q8_0].gemm = elm__gemm_q8_0_q8_0_avx512;
    t[ELM_TYPE_Q4_K].gemm = elm__gemm_q4_K_q8_K_avx512;
    t[ELM_TYPE_Q5_K].gemm = elm__gemm_q5_K_q8_K_avx512;
    t[ELM_TYPE_Q6_K].gemm = elm__gemm_q6_K_q8_K_avx512;
    t[ELM_TYPE_F16].gemm = elm__gemm_f16_f16_avx512;
    set_gemv(&t[ELM_TYPE_Q4_0], elm__gemv_q4_0_q8_0_avx512, elm__gemv_prepare_q4_0_avx512);
    set_gemv(&t[ELM_TYPE_Q5_0], elm__gemv_q5_0_q8_0_avx512, elm__gemv_prepare_q5_0_avx512);
    set_gemv(&t[ELM_TYPE_Q8_0], elm__gemv_q8_0_q8_0_avx512, elm__gemv_prepare_q8_0_avx512);
    t[ELM_TYPE_Q4_0].gemv_rows = elm__gemv_rows_q4_0_q8_0_avx512;
    t[ELM_TYPE_Q8_0].gemv_rows = elm__gemv_rows_q8_0_q8_0_avx512;
    set_gemv(&t[ELM_TYPE_Q4_1], elm__gemv_q4_1_q8_1_avx512, elm__gemv_prepare_q4_1_avx512);
    set_gemv(&t[ELM_TYPE_Q4_K], elm__gemv_q4_K_q8_K_avx512, elm__gemv_prepare_k_avx512);
    set_gemv(&t[ELM_TYPE_Q5_K], elm__gemv_q5_K_q8_K_avx512, elm__gemv_prepare_k_avx512);
}
#endif

/* ---- ARM variants ---- */

#if defined(__aarch64__)
static void install_arm(elm_type_traits_t *t, unsigned cpu)
{
    if ((cpu & ELM__CPU_TIER_NEON) != ELM__CPU_TIER_NEON) return;
    /* NEON tier: dot products, activation quantizers and matrix products */
    t[ELM_TYPE_F32].vec_dot = elm__vec_dot_f32_neon;
    t[ELM_TYPE_F16].vec_dot = elm__vec_dot_f16_neon;
    t[ELM_TYPE_F16].from_float = elm__f16_from_float_neon;
    t[ELM_TYPE_Q4_0].vec_dot = elm__vec_dot_q4_0_q8_0_neon;
    t[ELM_TYPE_Q5_0].vec_dot = elm__vec_dot_q5_0_q8_0_neon;
    t[ELM_TYPE_Q8_0].vec_dot = elm__vec_dot_q8_0_q8_0_neon;
    t[ELM_TYPE_Q8_0].from_float = elm__quantize_q8_0_act_neon;
    t[ELM_TYPE_Q4_K].vec_dot = elm__vec_dot_q4_K_q8_K_neon;
    t[ELM_TYPE_Q6_K].vec_dot = elm__vec_dot_q6_K_q8_K_neon;
    t[ELM_TYPE_Q8_K].from_float = elm__quantize_q8_K_neon;
    t[ELM_TYPE_BF16].vec_dot = elm__vec_dot_bf16_neon;
    t[ELM_TYPE_Q4_0].gemm = elm__gemm_q4_0_q8_0_neon;
    t[ELM_TYPE_Q5_0].gemm = elm__gemm_q5_0_q8_0_neon;
    t[ELM_TYPE_Q8_0].gemm = elm__gemm_q8_0_q8_0_neon;

#if ELM__HAVE_DOTPROD
    if ((cpu & ELM__CPU_TIER_DOTPROD) != ELM__CPU_TIER_DOTPROD) return;
    /* dotprod tier: the integer kernels again, with sdot */
    t[ELM_TYPE_Q4_0].vec_dot = elm__vec_dot_q4_0_q8_0_dotprod;
    t[ELM_TYPE_Q5_0].vec_dot = elm__vec_dot_q5_0_q8_0_dotprod;
    t[ELM_TYPE_Q8_0].vec_dot = elm__vec_dot_q8_0_q8_0_dotprod;
    t[ELM_TYPE_Q4_K].vec_dot = elm__vec_dot_q4_K_q8_K_dotprod;
    t[ELM_TYPE_Q6_K].vec_dot = elm__vec_dot_q6_K_q8_K_dotprod;
    t[ELM_TYPE_Q4_0].gemm = elm__gemm_q4_0_q8_0_dotprod;
    t[ELM_TYPE_Q5_0].gemm = elm__gemm_q5_0_q8_0_dotprod;
    t[ELM_TYPE_Q8_0].gemm = elm__gemm_q8_0_q8_0_dotprod;
#endif
}
#endif

/* ---- dispatch table ----
 * Filled once by elm_kernels_init(): a copy of the reference table, over which the variants of
 * the tier elm__kernel_tier() allows are installed (the CPU's, capped by the environment). */

static elm_type_traits_t traits[ELM_TYPE_COUNT];
static pthread_once_t traits_once = PTHREAD_ONCE_INIT;

void elm__traits_fill(elm_type_traits_t *t, unsigned cpu)
{
    for (int i = 0; i < ELM_TYPE_COUNT; i++) t[i] = ref_traits[i];
#if defined(__x86_64__)
    install_x86(t, cpu);
#elif defined(__aarch64__)
    install_arm(t, cpu);
#else
    (void)cpu;
#endif
}

static void traits_fill(void)
{
    elm__traits_fill(traits, elm__kernel_tier());
}

void elm_kernels_init(void)
{
    pthread_once(&traits_once, traits_fill);
}

static const elm_type_traits_t *lookup(const elm_type_traits_t *table, int type)
{
    if (type < 0 || type >= ELM_TYPE_COUNT || !table[type].name) return NULL;
    return &table[type];
}

const elm_type_traits_t *elm_traits(int type)
{
    elm_kernels_init();
    return lookup(traits, type);
}

const elm_type_traits_t *elm_traits_ref(int type)
{
    return lookup(ref_traits, type);
}
