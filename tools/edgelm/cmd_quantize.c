/* `edgelm quantize IN.gguf OUT.gguf TYPE`: F32/F16/BF16 → F16, BF16, Q8_0, Q4_0, …, Q4_K_M with
 * llama-quantize's per-tensor type rules, streamed and multithreaded. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "edgelm/convert.h"

static const char usage_text[] =
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
    "      (Q4_K and Q5_K mean Q4_K_M and Q5_K_M)\n"
    "\n"
    "options:\n"
    "  -t, --threads N   threads (default: the number of online CPUs)\n"
    "  -h, --help        this text\n"
    "\n"
    "example:\n"
    "  edgelm quantize model-f16.gguf model-q4_k_m.gguf Q4_K_M\n";

static void progress(uint64_t done, uint64_t total, void *user)
{
    (void)user;
    elm_cli_progress("quantize", done, total);
}

int elm_cmd_quantize(int argc, char **argv)
{
    const char *pos[3];
    int n_pos = 0;
    int64_t threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage_text, stdout);
            return 0;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (i + 1 >= argc || !elm_cli_parse_i64(argv[i + 1], 1, 256, &threads))
                return elm_cli_usage_error("quantize", "%s needs a thread count from 1 to 256", a);
            i++;
        } else if (a[0] == '-' && a[1]) {
            return elm_cli_usage_error("quantize", "unknown option '%s'", a);
        } else if (n_pos < 3) {
            pos[n_pos++] = a;
        } else {
            return elm_cli_usage_error("quantize", "too many arguments ('%s')", a);
        }
    }
    if (n_pos < 3)
        return elm_cli_usage_error("quantize", "expected IN.gguf OUT.gguf TYPE (%d of 3 given)",
                                   n_pos);
    elm_ftype_t ftype;
    if (elm_ftype_from_name(pos[2], &ftype) || ftype == ELM_FTYPE_ALL_F32)
        return elm_cli_usage_error("quantize", "unknown TYPE '%s' (valid: %s)", pos[2],
                                   elm_ftype_list(false));
    if (!strcmp(pos[0], pos[1]))
        return elm_cli_usage_error("quantize", "OUT.gguf must differ from IN.gguf");
    elm_convert_opts_t opts = {(int)threads, progress, NULL};
    elm_convert_stats_t st;
    elm_diag_t d = {0};
    int rc = elm_quantize(pos[0], pos[1], ftype, &opts, &st, &d);
    if (rc) return elm_cli_fail(&d, rc);
    char a[32], b[32], types[512];
    printf("%s: %s -> %s (%s), %llu tensors: %s, %.1f s\n", pos[1],
           elm_cli_bytes(st.in_bytes, a, sizeof a), elm_cli_bytes(st.out_bytes, b, sizeof b),
           elm_ftype_name(ftype), (unsigned long long)st.n_tensors,
           elm_convert_stats_types(&st, types, sizeof types), st.seconds);
    return 0;
}
