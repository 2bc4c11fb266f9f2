/* `edgelm quantize IN.gguf OUT.gguf TYPE`: F32/F16/BF16 → F16, BF16, Q8_0, Q4_0, …, Q4_K_M with
 * llama-quantize's per-tensor type rules, streamed and multithreaded. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "edgelm/convert.h"

static const char head_text[] =
    "usage: edgelm quantize [-t N] IN.gguf OUT.gguf TYPE\n"
    "\n"
    "Convert a GGUF model whose weights are F32, F16 or BF16 into TYPE, choosing each tensor's\n"
    "type the way llama.cpp's llama-quantize does (without an imatrix): norms, biases and\n"
    "rope_freqs stay as they are; the output matrix (or the token embedding when it is tied)\n"
    "gets Q6_K (Q8_0 for Q8_0, or when its rows are not a multiple of 256); Q4_K_M / Q5_K_M give\n"
    "attn_v and ffn_down Q6_K in a third of the layers; rows that are not a multiple of 256 fall\n"
    "back from Q4_K to Q5_0, Q5_K to Q5_1, Q6_K to Q8_0. All metadata is copied and\n"
    "general.file_type is set. Already-quantized input is refused (requantizing, llama-quantize's\n"
    "--allow-requantize, is not supported).\n"
    "\n"
    "TYPE: F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q6_K, Q4_K_M, Q5_K_M, Q4_K_S, Q5_K_S\n"
    "      (Q4_K and Q5_K mean Q4_K_M and Q5_K_M)\n";

static const char CMD[] = "quantize";

static const char tail_text[] = "example:\n"
                                "  edgelm quantize model-f16.gguf model-q4_k_m.gguf Q4_K_M\n";

static void progress(uint64_t done, uint64_t total, void *user)
{
    (void)user;
    elm_cli_progress("quantize", done, total);
}

int elm_cmd_quantize(int argc, char **argv)
{
    int threads = 0, n_pos = 0;
    elm_opt_t opts[] = {
        ELM_OPT_INT("--threads", "-t", "N", &threads, 1, 256,
                    "threads (default: the number of online CPUs)"),
        ELM_OPT_END,
    };
    elm_cli_spec_t spec = {
        .cmd = CMD, .head = head_text, .opts = opts, .tail = tail_text, .max_pos = -1};
    int status = elm_cli_parse(&spec, argc, argv, &n_pos);
    if (status != ELM_CLI_GO) return status;
    if (n_pos > 3) return elm_cli_usage_error(CMD, "too many arguments ('%s')", argv[4]);
    if (n_pos < 3)
        return elm_cli_usage_error(CMD, "expected IN.gguf OUT.gguf TYPE (%d of 3 given)", n_pos);
    const char *const *pos = (const char *const *)argv + 1;
    elm_ftype_t ftype;
    if (elm_ftype_from_name(pos[2], &ftype) || ftype == ELM_FTYPE_ALL_F32)
        return elm_cli_usage_error(CMD, "unknown TYPE '%s' (valid: %s)", pos[2],
                                   elm_ftype_list(false));
    if (!strcmp(pos[0], pos[1]))
        return elm_cli_usage_error(CMD, "OUT.gguf must differ from IN.gguf");
    elm_convert_opts_t copts = {threads, progress, NULL};
    elm_convert_stats_t st;
    elm_diag_t d = {0};
    int rc = elm_quantize(pos[0], pos[1], ftype, &copts, &st, &d);
    if (rc) return elm_cli_fail(&d, rc);
    char a[32], b[32], types[512];
    printf("%s: %s -> %s (%s), %llu tensors: %s, %.1f s\n", pos[1],
           elm_cli_bytes(st.in_bytes, a, sizeof a), elm_cli_bytes(st.out_bytes, b, sizeof b),
           elm_ftype_name(ftype), (unsigned long long)st.n_tensors,
           elm_convert_stats_types(&st, types, sizeof types), st.seconds);
    return 0;
}
