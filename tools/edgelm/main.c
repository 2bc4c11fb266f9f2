/* The edgelm command: dispatch to one file per subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const elm_cmd_t commands[] = {
    {"info", "what is inside a GGUF file", elm_cmd_info},
    {"tokenize", "text to token ids and pieces", elm_cmd_tokenize},
    {"run", "generate text on this device, with a timing summary", elm_cmd_run},
    {"chat", "talk with a model in the terminal; the conversation stays in the KV cache",
     elm_cmd_chat},
    {"bench", "measure load, prefill, generation, TTFT, memory and energy", elm_cmd_bench},
    {"eval", "quality: perplexity and GSM8K pass@1", elm_cmd_eval},
    {"synth", "write a random-weight GGUF with the shapes of a real model", elm_cmd_synth},
    {"quantize", "convert F32/F16/BF16 weights to F16, Q8_0, Q4_0, Q4_K_M, ...", elm_cmd_quantize},
    {"cost", "the papers' cost and efficiency metrics", elm_cmd_cost},
    {"simulate", "compare routing strategies on a synthetic workload", elm_cmd_simulate},
    {"serve", "an OpenAI-compatible HTTP server on this device", elm_cmd_serve},
    {"gateway", "an OpenAI-compatible front for a cluster of devices, with a cloud fallback",
     elm_cmd_gateway},
    {"report", "the papers' figures from your measurements as one HTML page", elm_cmd_report},
    {"probe", "what this device can measure: power sensors, perf counters, memory", elm_cmd_probe},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: edgelm COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'edgelm COMMAND --help' shows a command's options.\n");
}

int main(int argc, char **argv)
{
    elm_cli_init();
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("edgelm %s\n", elm_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "edgelm: unknown command '%s' (see 'edgelm --help')\n", argv[1]);
    return 2;
}
