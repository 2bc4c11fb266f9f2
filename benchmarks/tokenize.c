/* Tokenizer throughput: load each vocabulary (timed), then tokenize WikiText-2's test split with it
 * on one thread, best of a few runs, and print MB/s, tokens/s and each vocabulary's speed relative
 * to the first one measured in the same run. Usage: tokenize_bench [DATA_DIR] [RUNS]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgelm/tokenizer.h"

static char *read_all(const char *path, size_t *len)
{
    char *buf;
    return elm_file_read(path, 0, &buf, len, NULL) ? NULL : buf;
}

int main(int argc, char **argv)
{
    const char *data = argc > 1 ? argv[1] : "../shared/data";
    int runs = argc > 2 ? atoi(argv[2]) : 3;
    static const char *const vocabs[] = {"qwen2", "llama-bpe", "llama-spm", "tiny-t5"};
    char path[1024];
    snprintf(path, sizeof path, "%s/wikitext-2/wiki.test.raw", data);
    size_t len = 0;
    char *text = read_all(path, &len);
    if (!text) {
        fprintf(stderr, "tokenize_bench: cannot read %s (pass the shared data folder)\n", path);
        return 1;
    }
    printf("text: %s, %.2f MB, best of %d runs, one thread\n", path, (double)len / 1e6, runs);
    printf("%-10s %9s %10s %9s %11s %8s\n", "vocab", "load ms", "tokens", "MB/s", "Mtok/s",
           "ratio");
    double first = 0;
    for (size_t v = 0; v < sizeof vocabs / sizeof vocabs[0]; v++) {
        snprintf(path, sizeof path, "%s/vocab/ggml-vocab-%s.gguf", data, vocabs[v]);
        elm_tokenizer_t *t = NULL;
        elm_diag_t d;
        uint64_t t0 = elm_time_ns();
        if (elm_tokenizer_load(path, &t, &d) != 0) {
            fprintf(stderr, "tokenize_bench: %s\n", d.msg);
            continue;
        }
        double load_ms = (double)(elm_time_ns() - t0) / 1e6;
        double best = 1e30;
        size_t n = 0;
        for (int r = 0; r < runs; r++) {
            int32_t *ids;
            t0 = elm_time_ns();
            if (elm_tokenize(t, text, len, 0, &ids, &n, &d) != 0) {
                fprintf(stderr, "tokenize_bench: %s\n", d.msg);
                return 1;
            }
            double s = (double)(elm_time_ns() - t0) / 1e9;
            if (s < best) best = s;
            free(ids);
        }
        double mbs = (double)len / 1e6 / best;
        if (first == 0) first = mbs;
        printf("%-10s %9.1f %10zu %9.2f %11.2f %7.2fx\n", vocabs[v], load_ms, n, mbs,
               (double)n / 1e6 / best, mbs / first);
        elm_tokenizer_free(t);
    }
    free(text);
    return 0;
}
