/* Which type each tensor gets: file-type names and llama.cpp's llama_tensor_get_type rules
 * (src/llama-quant.cpp, build 4748), restricted to the file types edgelm writes and to models
 * without experts. The rules, as llama-quantize applies them without an imatrix:
 *  - only tensors whose name ends in "weight", with 2 or more dimensions, and that are not
 *    "*_norm.weight" or T5's "attn_rel_b.weight" (the relative position bias table, [n_head, 32])
 *    are converted; the rest (norms, biases, rope_freqs) keep their type;
 *  - F16/BF16 file types convert every such tensor to F16/BF16, with no further rule;
 *  - the output matrix (output.weight, or token_embd.weight when there is no output.weight)
 *    becomes Q6_K, unless the file type's base type is Q8_0 (stays Q8_0) or its rows are not a
 *    multiple of 256 (then Q8_0);
 *  - attn_v.weight: Q6_K in the "use_more_bits" layers for Q4_K_M / Q5_K_M, Q5_K in the first 4
 *    for Q4_K_S; ffn_down: Q6_K in the use_more_bits layers for Q4_K_M / Q5_K_M, Q5_K in the
 *    first n_layer/8 for Q4_K_S;
 *  - attn_qkv.weight (phi3's fused Q/K/V): Q5_K for Q4_K_M, Q6_K for Q5_K_M, in every layer; it
 *    also counts as an attn_v tensor in n_attention_wv, which sets use_more_bits' layer count;
 *  - the counters run over every name that contains "attn_v.weight" / "ffn_down", in the written
 *    order. For T5 that is 3·n_layer attn_v tensors (enc attn_v, dec attn_v, dec cross_attn_v:
 *    llama.cpp asserts n_attention_wv == 3·n_layer for an encoder) and 2·n_layer ffn_down against
 *    n_ffn_down = n_layer, so every ffn_down past the first n_layer counts as a "last eighth"
 *    layer. T5's names lack the "blk.N." prefix the order sorts by, so its order is plain strcmp:
 *    dec.* before enc.*, and dec.blk.10 before dec.blk.2;
 *  - a row length that is not a multiple of the chosen type's block falls back: Q4_K → Q5_0,
 *    Q5_K → Q5_1, Q6_K → Q8_0, Q2_K/Q3_K/IQ4_XS → IQ4_NL, and to F16 if even that does not fit. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "convert/convert_internal.h"

/* ---- file types ---- */

static const struct {
    const char *name;
    elm_ftype_t ftype;
    elm_type_t base;
} ftypes[] = {
    {"F32", ELM_FTYPE_ALL_F32, ELM_TYPE_F32},    {"F16", ELM_FTYPE_F16, ELM_TYPE_F16},
    {"BF16", ELM_FTYPE_BF16, ELM_TYPE_BF16},     {"Q8_0", ELM_FTYPE_Q8_0, ELM_TYPE_Q8_0},
    {"Q4_0", ELM_FTYPE_Q4_0, ELM_TYPE_Q4_0},     {"Q4_1", ELM_FTYPE_Q4_1, ELM_TYPE_Q4_1},
    {"Q5_0", ELM_FTYPE_Q5_0, ELM_TYPE_Q5_0},     {"Q5_1", ELM_FTYPE_Q5_1, ELM_TYPE_Q5_1},
    {"Q6_K", ELM_FTYPE_Q6_K, ELM_TYPE_Q6_K},     {"Q4_K_M", ELM_FTYPE_Q4_K_M, ELM_TYPE_Q4_K},
    {"Q5_K_M", ELM_FTYPE_Q5_K_M, ELM_TYPE_Q5_K}, {"Q4_K_S", ELM_FTYPE_Q4_K_S, ELM_TYPE_Q4_K},
    {"Q5_K_S", ELM_FTYPE_Q5_K_S, ELM_TYPE_Q5_K},
};

int elm_ftype_from_name(const char *name, elm_ftype_t *out)
{
    *out = ELM_FTYPE_ALL_F32;
    if (!name) return ELM_EINVAL;
    /* llama-quantize's aliases */
    if (!strcasecmp(name, "Q4_K")) name = "Q4_K_M";
    if (!strcasecmp(name, "Q5_K")) name = "Q5_K_M";
    for (size_t i = 0; i < sizeof ftypes / sizeof ftypes[0]; i++)
        if (!strcasecmp(name, ftypes[i].name)) {
            *out = ftypes[i].ftype;
            return 0;
        }
    return ELM_EINVAL;
}

const char *elm_ftype_name(elm_ftype_t ftype)
{
    for (size_t i = 0; i < sizeof ftypes / sizeof ftypes[0]; i++)
        if (ftypes[i].ftype == ftype) return ftypes[i].name;
    return "?";
}

const char *elm_ftype_list(bool with_f32)
{
    return with_f32 ? "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q6_K, Q4_K_M, Q5_K_M, "
                      "Q4_K_S, Q5_K_S"
                    : "F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q6_K, Q4_K_M, Q5_K_M, Q4_K_S, "
                      "Q5_K_S";
}

elm_type_t elm_ftype_base_type(elm_ftype_t ftype)
{
    for (size_t i = 0; i < sizeof ftypes / sizeof ftypes[0]; i++)
        if (ftypes[i].ftype == ftype) return ftypes[i].base;
    return ELM_TYPE_F32;
}

/* ---- tensor order ---- */

/* The layer number of "blk.N.…", or -1 (llama_model_loader's weight_name_comparer). */
static long layer_of(const char *name)
{
    if (strncmp(name, "blk.", 4)) return -1;
    char *end;
    long l = strtol(name + 4, &end, 10);
    return end == name + 4 ? -1 : l;
}

static int order_cmp(const elm_tensor_desc_t *a, const elm_tensor_desc_t *b)
{
    long la = layer_of(a->name), lb = layer_of(b->name);
    if (la != lb) return la < lb ? -1 : 1;
    return strcmp(a->name, b->name);
}

void elm_tensor_order(const elm_tensor_desc_t *t, size_t n, size_t *order)
{
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    /* insertion sort: n is a few hundred, and the input is usually nearly sorted */
    for (size_t i = 1; i < n; i++) {
        size_t v = order[i], j = i;
        while (j > 0 && order_cmp(&t[order[j - 1]], &t[v]) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
}

/* ---- type choice ---- */

static bool ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && !memcmp(s + ls - lx, suffix, lx);
}

bool elm__tensor_is_quantizable(const elm_tensor_desc_t *t)
{
    return ends_with(t->name, "weight") && t->n_dims >= 2 && !strstr(t->name, "_norm.weight") &&
           !strstr(t->name, "ffn_gate_inp.weight") && !strstr(t->name, "attn_rel_b.weight");
}

/* llama.cpp's use_more_bits(): the first and last eighth of the layers, and every third between. */
static bool use_more_bits(int i_layer, int n_layers)
{
    return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 ||
           (i_layer - n_layers / 8) % 3 == 2;
}

static bool fits(elm_type_t type, int64_t ne0)
{
    const elm_type_info_t *ti = elm_type_info(type);
    return ti && ne0 % ti->blck_size == 0;
}

int elm_choose_types(const elm_tensor_desc_t *t, size_t n, uint32_t n_layer, elm_ftype_t ftype,
                     elm_type_t *out, elm_diag_t *diag)
{
    elm_type_t base = elm_ftype_base_type(ftype);
    bool quantized = base != ELM_TYPE_F32 && base != ELM_TYPE_F16 && base != ELM_TYPE_BF16;
    bool has_output = false;
    int n_attn_v = 0, i_attn_v = 0, i_ffn_down = 0, n_ffn_down = (int)n_layer;
    for (size_t i = 0; i < n; i++) {
        if (strstr(t[i].name, "attn_v.weight") || strstr(t[i].name, "attn_qkv.weight")) n_attn_v++;
        if (!strcmp(t[i].name, "output.weight")) has_output = true;
    }
    for (size_t i = 0; i < n; i++) {
        const char *name = t[i].name;
        out[i] = t[i].type;
        if (!elm__tensor_is_quantizable(&t[i]) || ftype == ELM_FTYPE_ALL_F32) continue;
        elm_type_t nt = base;
        if (quantized) {
            if (!strcmp(name, "output.weight") ||
                (!has_output && !strcmp(name, "token_embd.weight"))) {
                if (t[i].ne[0] % 256 != 0)
                    nt = ELM_TYPE_Q8_0;
                else if (nt != ELM_TYPE_Q8_0)
                    nt = ELM_TYPE_Q6_K;
            } else if (!strcmp(name, "token_embd.weight")) {
                /* no rule for the types edgelm writes */
            } else if (strstr(name, "attn_v.weight")) {
                if ((ftype == ELM_FTYPE_Q4_K_M || ftype == ELM_FTYPE_Q5_K_M) &&
                    use_more_bits(i_attn_v, n_attn_v))
                    nt = ELM_TYPE_Q6_K;
                else if (ftype == ELM_FTYPE_Q4_K_S && i_attn_v < 4)
                    nt = ELM_TYPE_Q5_K;
                i_attn_v++;
            } else if (strstr(name, "attn_qkv.weight")) {
                if (ftype == ELM_FTYPE_Q4_K_M)
                    nt = ELM_TYPE_Q5_K;
                else if (ftype == ELM_FTYPE_Q5_K_M)
                    nt = ELM_TYPE_Q6_K;
            } else if (strstr(name, "ffn_down")) {
                int il = i_ffn_down;
                if ((ftype == ELM_FTYPE_Q4_K_M || ftype == ELM_FTYPE_Q5_K_M) &&
                    use_more_bits(il, n_ffn_down))
                    nt = ELM_TYPE_Q6_K;
                else if (ftype == ELM_FTYPE_Q4_K_S && il < n_ffn_down / 8)
                    nt = ELM_TYPE_Q5_K;
                i_ffn_down++;
            }
            if (!fits(nt, t[i].ne[0])) {
                elm_type_t fb;
                switch (nt) {
                case ELM_TYPE_Q2_K:
                case ELM_TYPE_Q3_K:
                case ELM_TYPE_IQ4_XS: fb = ELM_TYPE_IQ4_NL; break;
                case ELM_TYPE_Q4_K: fb = ELM_TYPE_Q5_0; break;
                case ELM_TYPE_Q5_K: fb = ELM_TYPE_Q5_1; break;
                case ELM_TYPE_Q6_K: fb = ELM_TYPE_Q8_0; break;
                default:
                    return elm_diag(diag, ELM_ENOTSUP,
                                    "tensor %s: rows of %lld values are not a whole number of %s "
                                    "blocks (%u); choose another type, e.g. F16",
                                    name, (long long)t[i].ne[0], elm_type_info(nt)->name,
                                    elm_type_info(nt)->blck_size);
                }
                nt = fits(fb, t[i].ne[0]) ? fb : ELM_TYPE_F16;
            }
        }
        out[i] = nt;
    }
    return 0;
}
