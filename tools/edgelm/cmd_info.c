/* `edgelm info MODEL.gguf`: what is inside a GGUF file — architecture, sizes, tensor types,
 * hyperparameters, tokenizer, chat template — as text or as JSON. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "edgelm/convert.h"
#include "edgelm/gguf.h"

static const char head_text[] =
    "usage: edgelm info [--json] [--tensors] MODEL.gguf\n"
    "\n"
    "Print what is inside a GGUF model file: architecture, parameter count, file size, tensor\n"
    "count and bytes per type, the architecture's hyperparameters, the tokenizer and whether a\n"
    "chat template is present. The file is fully validated on the way.\n";

static const char CMD[] = "info";

/* Per-type totals over the file's tensors. */
typedef struct {
    uint64_t count[ELM_TYPE_COUNT];
    uint64_t bytes[ELM_TYPE_COUNT];
    uint64_t n_params;
} type_totals_t;

static void count_types(const elm_gguf_t *g, type_totals_t *t)
{
    memset(t, 0, sizeof *t);
    for (uint64_t i = 0; i < elm_gguf_n_tensors(g); i++) {
        const elm_gguf_tensor_t *ti = elm_gguf_tensor_at(g, i);
        t->count[ti->type]++;
        t->bytes[ti->type] += ti->size;
        t->n_params += ti->n_elements;
    }
}

/* A metadata string as a NUL-terminated copy (NULL if absent or not a string). Caller frees. */
static char *get_cstr(const elm_gguf_t *g, const char *key)
{
    elm_str_t s;
    if (elm_gguf_get_str(g, key, &s) != 0) return NULL;
    char *c = malloc(s.len + 1);
    if (!c) return NULL;
    memcpy(c, s.ptr, s.len);
    c[s.len] = '\0';
    return c;
}

static uint64_t arr_len(const elm_gguf_t *g, const char *key)
{
    const elm_gguf_value_t *v;
    return elm_gguf_get_arr(g, key, &v) == 0 ? v->arr.n : 0;
}

/* Keys "<arch>.<name>" with a scalar value: the architecture's hyperparameters. */
static bool is_hparam(const elm_gguf_kv_t *kv, const char *arch)
{
    size_t n = strlen(arch);
    return arch[0] && !strncmp(kv->key, arch, n) && kv->key[n] == '.' &&
           kv->value.type != ELM_GGUF_ARRAY && kv->value.type != ELM_GGUF_STRING;
}

static void print_scalar(FILE *f, const elm_gguf_value_t *v)
{
    switch (v->type) {
    case ELM_GGUF_BOOL: fputs(v->u ? "true" : "false", f); break;
    case ELM_GGUF_FLOAT32:
    case ELM_GGUF_FLOAT64: fprintf(f, "%g", v->f); break;
    case ELM_GGUF_INT8:
    case ELM_GGUF_INT16:
    case ELM_GGUF_INT32:
    case ELM_GGUF_INT64: fprintf(f, "%" PRId64, v->i); break;
    default: fprintf(f, "%" PRIu64, v->u); break;
    }
}

/* The shortest decimal that reads back as the same float32 (1e-05, not 9.99999974737875e-06). */
static double float32_shortest(double f)
{
    char buf[32];
    for (int prec = 6; prec < 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, f);
        if ((float)strtod(buf, NULL) == (float)f) return strtod(buf, NULL);
    }
    return f;
}

static cJSON *scalar_json(const elm_gguf_value_t *v)
{
    switch (v->type) {
    case ELM_GGUF_BOOL: return cJSON_CreateBool(v->u != 0);
    case ELM_GGUF_FLOAT32: return cJSON_CreateNumber(float32_shortest(v->f));
    case ELM_GGUF_FLOAT64: return cJSON_CreateNumber(v->f);
    case ELM_GGUF_INT8:
    case ELM_GGUF_INT16:
    case ELM_GGUF_INT32:
    case ELM_GGUF_INT64: return cJSON_CreateNumber((double)v->i);
    default: return cJSON_CreateNumber((double)v->u);
    }
}

static void shape_str(const elm_gguf_tensor_t *t, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (uint32_t d = 0; d < t->n_dims && used < len; d++)
        used += (size_t)snprintf(buf + used, len - used, "%s%" PRId64, d ? " x " : "", t->ne[d]);
}

/* The facts both outputs share, gathered once. */
typedef struct {
    const elm_gguf_t *g;
    type_totals_t totals;
    char *arch, *name, *tok_model, *tok_pre;
    uint64_t n_vocab, n_merges;
    elm_str_t chat_template;
    bool has_template;
} info_t;

static void info_gather(info_t *in, const elm_gguf_t *g)
{
    memset(in, 0, sizeof *in);
    in->g = g;
    count_types(g, &in->totals);
    in->arch = get_cstr(g, "general.architecture");
    in->name = get_cstr(g, "general.name");
    in->tok_model = get_cstr(g, "tokenizer.ggml.model");
    in->tok_pre = get_cstr(g, "tokenizer.ggml.pre");
    in->n_vocab = arr_len(g, "tokenizer.ggml.tokens");
    in->n_merges = arr_len(g, "tokenizer.ggml.merges");
    in->has_template = elm_gguf_get_str(g, "tokenizer.chat_template", &in->chat_template) == 0;
}

static void info_release(info_t *in)
{
    free(in->arch);
    free(in->name);
    free(in->tok_model);
    free(in->tok_pre);
}

static void print_text(const info_t *in, bool tensors)
{
    const elm_gguf_t *g = in->g;
    char sz[32];
    const char *arch = in->arch ? in->arch : "";
    printf("file:            %s\n", elm_gguf_name(g));
    printf("size:            %s (%" PRIu64 " bytes), GGUF v%u, alignment %u\n",
           elm_cli_bytes(elm_gguf_file_size(g), sz, sizeof sz), elm_gguf_file_size(g),
           elm_gguf_version(g), elm_gguf_alignment(g));
    printf("architecture:    %s\n", in->arch ? in->arch : "(none: general.architecture missing)");
    if (in->name) printf("name:            %s\n", in->name);
    printf("parameters:      %" PRIu64 " (%.2f M)\n", in->totals.n_params,
           (double)in->totals.n_params / 1e6);
    printf("tensors:         %" PRIu64 "\n", elm_gguf_n_tensors(g));
    for (int t = 0; t < ELM_TYPE_COUNT; t++) {
        if (!in->totals.count[t]) continue;
        printf("  %-8s %6" PRIu64 " tensors  %12s\n", elm_type_info(t)->name, in->totals.count[t],
               elm_cli_bytes(in->totals.bytes[t], sz, sizeof sz));
    }
    uint64_t file_type;
    if (elm_gguf_get_u64(g, "general.file_type", &file_type) == 0)
        printf("file type:       %s (general.file_type %" PRIu64 ")\n",
               file_type <= UINT32_MAX ? elm_ftype_name((elm_ftype_t)file_type) : "?", file_type);
    printf("metadata:        %" PRIu64 " keys\n", elm_gguf_n_kv(g));
    for (uint64_t i = 0; i < elm_gguf_n_kv(g); i++) {
        const elm_gguf_kv_t *kv = elm_gguf_kv_at(g, i);
        if (!is_hparam(kv, arch)) continue;
        printf("  %-40s ", kv->key);
        print_scalar(stdout, &kv->value);
        putchar('\n');
    }
    if (in->tok_model) {
        printf("tokenizer:       %s", in->tok_model);
        if (in->tok_pre) printf(" (pre-tokenizer %s)", in->tok_pre);
        printf(", %" PRIu64 " tokens, %" PRIu64 " merges\n", in->n_vocab, in->n_merges);
    } else {
        printf("tokenizer:       none (no tokenizer.ggml.model)\n");
    }
    if (in->has_template)
        printf("chat template:   present (%" PRIu64 " bytes)\n", in->chat_template.len);
    else
        printf("chat template:   absent\n");
    if (!tensors) return;
    printf("\n%-5s %-36s %-8s %-24s %12s %12s\n", "#", "name", "type", "shape", "offset", "bytes");
    for (uint64_t i = 0; i < elm_gguf_n_tensors(g); i++) {
        const elm_gguf_tensor_t *t = elm_gguf_tensor_at(g, i);
        char shape[96];
        shape_str(t, shape, sizeof shape);
        printf("%-5" PRIu64 " %-36s %-8s %-24s %12" PRIu64 " %12" PRIu64 "\n", i, t->name,
               elm_type_info(t->type)->name, shape, t->offset, t->size);
    }
}

static cJSON *str_or_null(const char *s)
{
    return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

static int print_json(const info_t *in, bool tensors)
{
    const elm_gguf_t *g = in->g;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "file", elm_gguf_name(g));
    cJSON_AddNumberToObject(o, "size_bytes", (double)elm_gguf_file_size(g));
    cJSON_AddNumberToObject(o, "gguf_version", elm_gguf_version(g));
    cJSON_AddNumberToObject(o, "alignment", elm_gguf_alignment(g));
    cJSON_AddItemToObject(o, "architecture", str_or_null(in->arch));
    cJSON_AddItemToObject(o, "name", str_or_null(in->name));
    uint64_t file_type;
    if (elm_gguf_get_u64(g, "general.file_type", &file_type) == 0) {
        cJSON_AddNumberToObject(o, "file_type", (double)file_type);
        if (file_type <= UINT32_MAX)
            cJSON_AddStringToObject(o, "file_type_name", elm_ftype_name((elm_ftype_t)file_type));
    }
    cJSON_AddNumberToObject(o, "n_params", (double)in->totals.n_params);
    cJSON_AddNumberToObject(o, "n_tensors", (double)elm_gguf_n_tensors(g));
    cJSON_AddNumberToObject(o, "n_kv", (double)elm_gguf_n_kv(g));
    cJSON *types = cJSON_AddObjectToObject(o, "types");
    for (int t = 0; t < ELM_TYPE_COUNT; t++) {
        if (!in->totals.count[t]) continue;
        cJSON *e = cJSON_AddObjectToObject(types, elm_type_info(t)->name);
        cJSON_AddNumberToObject(e, "tensors", (double)in->totals.count[t]);
        cJSON_AddNumberToObject(e, "bytes", (double)in->totals.bytes[t]);
    }
    cJSON *hp = cJSON_AddObjectToObject(o, "hparams");
    size_t arch_len = in->arch ? strlen(in->arch) + 1 : 0;
    for (uint64_t i = 0; i < elm_gguf_n_kv(g); i++) {
        const elm_gguf_kv_t *kv = elm_gguf_kv_at(g, i);
        if (is_hparam(kv, in->arch ? in->arch : ""))
            cJSON_AddItemToObject(hp, kv->key + arch_len, scalar_json(&kv->value));
    }
    cJSON *tok = cJSON_AddObjectToObject(o, "tokenizer");
    cJSON_AddItemToObject(tok, "model", str_or_null(in->tok_model));
    cJSON_AddItemToObject(tok, "pre", str_or_null(in->tok_pre));
    cJSON_AddNumberToObject(tok, "n_tokens", (double)in->n_vocab);
    cJSON_AddNumberToObject(tok, "n_merges", (double)in->n_merges);
    cJSON_AddBoolToObject(o, "chat_template", in->has_template);
    if (tensors) {
        cJSON *arr = cJSON_AddArrayToObject(o, "tensors");
        for (uint64_t i = 0; i < elm_gguf_n_tensors(g); i++) {
            const elm_gguf_tensor_t *t = elm_gguf_tensor_at(g, i);
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "name", t->name);
            cJSON_AddStringToObject(e, "type", elm_type_info(t->type)->name);
            cJSON *ne = cJSON_AddArrayToObject(e, "ne");
            for (uint32_t d = 0; d < t->n_dims; d++)
                cJSON_AddItemToArray(ne, cJSON_CreateNumber((double)t->ne[d]));
            cJSON_AddNumberToObject(e, "offset", (double)t->offset);
            cJSON_AddNumberToObject(e, "bytes", (double)t->size);
            cJSON_AddItemToArray(arr, e);
        }
    }
    return elm_cli_print_json(o);
}

/* Returns ELM_CLI_GO with *path set, or the exit status of --help or a usage error. */
static int parse_args(int argc, char **argv, bool *json, bool *tensors, const char **path)
{
    elm_opt_t opts[] = {
        ELM_OPT_FLAG("--json", NULL, json, "one JSON object on stdout instead of text"),
        ELM_OPT_FLAG("--tensors", NULL, tensors,
                     "also list every tensor: name, type, shape, offset, bytes"),
        ELM_OPT_END,
    };
    elm_cli_spec_t spec = {.cmd = CMD, .head = head_text, .opts = opts, .max_pos = -1};
    int n_pos = 0, rc = elm_cli_parse(&spec, argc, argv, &n_pos);
    if (rc != ELM_CLI_GO) return rc;
    if (n_pos == 0) return elm_cli_usage_error(CMD, "no model file given");
    if (n_pos > 1)
        return elm_cli_usage_error(CMD, "one model file at a time ('%s' and '%s' given)", argv[1],
                                   argv[2]);
    *path = argv[1];
    return ELM_CLI_GO;
}

int elm_cmd_info(int argc, char **argv)
{
    bool json = false, tensors = false;
    const char *path = NULL;
    int status = parse_args(argc, argv, &json, &tensors, &path);
    if (status != ELM_CLI_GO) return status;

    elm_diag_t diag;
    elm_gguf_t *g = NULL;
    int rc = elm_gguf_open(path, &g, &diag);
    if (rc != 0) return elm_cli_fail(&diag, rc);
    info_t in;
    info_gather(&in, g);
    status = 0;
    if (json)
        status = print_json(&in, tensors);
    else
        print_text(&in, tensors);
    info_release(&in);
    elm_gguf_close(g);
    return status;
}
