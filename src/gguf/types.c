/* gguf/: the storage facts (ggml name, values per block, bytes per block) of every tensor element
 * type a GGUF file can name, indexed by ggml's type id. */
#include <stddef.h>
#include <stdint.h>
#include <strings.h>

#include "edgelm/gguf.h"

/* Retired ids (4, 5, 31-33, 36-38) have no name and read as unknown. */
static const elm_type_info_t type_table[ELM_TYPE_COUNT] = {
    [ELM_TYPE_F32] = {"f32", 1, 4},
    [ELM_TYPE_F16] = {"f16", 1, 2},
    [ELM_TYPE_Q4_0] = {"q4_0", 32, 18},
    [ELM_TYPE_Q4_1] = {"q4_1", 32, 20},
    [ELM_TYPE_Q5_0] = {"q5_0", 32, 22},
    [ELM_TYPE_Q5_1] = {"q5_1", 32, 24},
    [ELM_TYPE_Q8_0] = {"q8_0", 32, 34},
    [ELM_TYPE_Q8_1] = {"q8_1", 32, 36},
    [ELM_TYPE_Q2_K] = {"q2_K", 256, 84},
    [ELM_TYPE_Q3_K] = {"q3_K", 256, 110},
    [ELM_TYPE_Q4_K] = {"q4_K", 256, 144},
    [ELM_TYPE_Q5_K] = {"q5_K", 256, 176},
    [ELM_TYPE_Q6_K] = {"q6_K", 256, 210},
    [ELM_TYPE_Q8_K] = {"q8_K", 256, 292},
    [ELM_TYPE_IQ2_XXS] = {"iq2_xxs", 256, 66},
    [ELM_TYPE_IQ2_XS] = {"iq2_xs", 256, 74},
    [ELM_TYPE_IQ3_XXS] = {"iq3_xxs", 256, 98},
    [ELM_TYPE_IQ1_S] = {"iq1_s", 256, 50},
    [ELM_TYPE_IQ4_NL] = {"iq4_nl", 32, 18},
    [ELM_TYPE_IQ3_S] = {"iq3_s", 256, 110},
    [ELM_TYPE_IQ2_S] = {"iq2_s", 256, 82},
    [ELM_TYPE_IQ4_XS] = {"iq4_xs", 256, 136},
    [ELM_TYPE_I8] = {"i8", 1, 1},
    [ELM_TYPE_I16] = {"i16", 1, 2},
    [ELM_TYPE_I32] = {"i32", 1, 4},
    [ELM_TYPE_I64] = {"i64", 1, 8},
    [ELM_TYPE_F64] = {"f64", 1, 8},
    [ELM_TYPE_IQ1_M] = {"iq1_m", 256, 56},
    [ELM_TYPE_BF16] = {"bf16", 1, 2},
    [ELM_TYPE_TQ1_0] = {"tq1_0", 256, 54},
    [ELM_TYPE_TQ2_0] = {"tq2_0", 256, 66},
    [ELM_TYPE_MXFP4] = {"mxfp4", 32, 17},
};

const elm_type_info_t *elm_type_info(int type)
{
    if (type < 0 || type >= ELM_TYPE_COUNT || !type_table[type].name) return NULL;
    return &type_table[type];
}

int elm_type_from_name(const char *name, elm_type_t *out)
{
    if (out) *out = ELM_TYPE_F32;
    if (!name || !out) return ELM_EINVAL;
    for (int t = 0; t < ELM_TYPE_COUNT; t++) {
        if (type_table[t].name && strcasecmp(type_table[t].name, name) == 0) {
            *out = (elm_type_t)t;
            return ELM_OK;
        }
    }
    return ELM_EINVAL;
}

int elm_type_row_size(int type, uint64_t n, uint64_t *out)
{
    const elm_type_info_t *ti = elm_type_info(type);
    *out = 0;
    if (!ti || n % ti->blck_size != 0) return ELM_EINVAL;
    return elm_mul_u64(n / ti->blck_size, ti->type_size, out);
}
