/* libFuzzer harness for the tokenizer: encode arbitrary bytes (invalid UTF-8 included) with a
 * byte-level BPE, a SentencePiece and a unigram (t5) vocabulary, with and without special-token
 * parsing, then decode whole and streamed. Traps when a round trip that must hold does not, when
 * the stream hands out anything but complete UTF-8, or when an out-of-range id is not refused.
 * The small vocabularies are written with the GGUF writer at start-up; EDGELM_FUZZ_VOCAB=FILE.gguf
 * adds a real one (the tiny-t5 vocab brings the real precompiled_charsmap). The low four bits of
 * the first input byte pick the vocabulary, bits 4 and 5 the flags; the mode after the last
 * vocabulary reads a precompiled_charsmap from the input (two bytes of length, the blob, then the
 * text): a blob must load or be refused with ELM_EINVAL, and a loaded one must normalize without
 * reading outside it (ASan). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "edgelm/gguf.h"
#include "edgelm/tokenizer.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static elm_tokenizer_t *toks[4];
static int n_toks;
static char ugm_path[64];

/* GPT-2's byte alphabet: printable Latin-1 stays, the rest moves to U+0100 upward. */
static void byte_char(int b, char *out)
{
    int n = 0, cp = b;
    if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174)) {
        for (int c = 0; c < b; c++)
            if (!((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || c >= 174)) n++;
        cp = 256 + n;
    }
    if (cp < 0x80) {
        out[0] = (char)cp, out[1] = 0;
    } else {
        out[0] = (char)(0xc0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3f)), out[2] = 0;
    }
}

static elm_tokenizer_t *write_vocab(const char *path, bool bpe)
{
    static char texts[300][16];
    const char *strs[300];
    float scores[300];
    int32_t types[300];
    int n = 0;
    const char *extra_bpe[] = {"\xc4\xa0t", "he", "\xc4\xa0the", "in", "<|im_start|>", "<|user|>"};
    const char *extra_spm[] = {
        "<unk>", "<s>", "</s>", "\xe2\x96\x81", "\xe2\x96\x81t", "he", "\xe2\x96\x81the", "in",
        "e",     "t",   "h"};
    if (!bpe)
        for (int i = 0; i < 3; i++) {
            strcpy(texts[n], extra_spm[i]);
            types[n] = i == 0 ? 2 : 3;
            scores[n] = 0;
            n++;
        }
    for (int b = 0; b < 256; b++, n++) {
        if (bpe)
            byte_char(b, texts[n]);
        else
            snprintf(texts[n], sizeof texts[n], "<0x%02X>", b);
        types[n] = bpe ? 1 : 6;
        scores[n] = 0;
    }
    int n_extra = bpe ? 6 : 11;
    for (int i = bpe ? 0 : 3; i < n_extra; i++, n++) {
        strcpy(texts[n], bpe ? extra_bpe[i] : extra_spm[i]);
        types[n] = bpe ? (i == 4 ? 3 : i == 5 ? 4 : 1) : 1;
        scores[n] = -(float)i;
    }
    for (int i = 0; i < n; i++)
        strs[i] = texts[i];
    const char *merges[] = {"\xc4\xa0 t", "h e", "\xc4\xa0t he", "i n"};
    elm_gguf_writer_t *w = NULL;
    elm_tokenizer_t *t = NULL;
    if (elm_gguf_writer_open(path, &w, NULL) != 0) return NULL;
    elm_gguf_writer_add_str(w, "general.architecture", "llama");
    elm_gguf_writer_add_str(w, "tokenizer.ggml.model", bpe ? "gpt2" : "llama");
    if (bpe) elm_gguf_writer_add_str(w, "tokenizer.ggml.pre", "qwen2");
    elm_gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", strs, (uint64_t)n);
    elm_gguf_writer_add_arr(w, "tokenizer.ggml.token_type", ELM_GGUF_INT32, types, (uint64_t)n);
    if (bpe)
        elm_gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", merges, 4);
    else
        elm_gguf_writer_add_arr(w, "tokenizer.ggml.scores", ELM_GGUF_FLOAT32, scores, (uint64_t)n);
    if (elm_gguf_writer_finish(w, NULL) == 0 && elm_tokenizer_load(path, &t, NULL) != 0) t = NULL;
    unlink(path);
    return t;
}

/* A unigram vocabulary: specials, ASCII letters and digits, a few longer pieces, one user-defined
 * and one unused piece; with the charsmap blob[0..n) when blob is given. Returns the load's status
 * (the file is removed). */
static int write_ugm(const char *path, const uint8_t *blob, size_t n, elm_tokenizer_t **out)
{
    static char texts[80][16];
    const char *strs[80];
    float scores[80];
    int32_t types[80];
    int m = 0;
    const char *fixed[] = {"<pad>",         "</s>", "<unk>", "\xe2\x96\x81", "\xe2\x96\x81the",
                           "\xe2\x96\x81t", "he",   "in",    "yz",           "<|user|>",
                           "[PAD9]"};
    for (int i = 0; i < 11; i++, m++) {
        strcpy(texts[m], fixed[i]);
        types[m] = i < 2 ? 3 : i == 2 ? 2 : i == 9 ? 4 : i == 10 ? 5 : 1;
        scores[m] = i < 3 ? 0.0f : i == 10 ? -10000.0f : -2.0f - (float)i;
    }
    for (int c = 0; c < 128; c++) {
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) continue;
        texts[m][0] = (char)c, texts[m][1] = 0;
        types[m] = 1;
        scores[m] = -8.0f - (float)(c % 7) * 0.25f;
        m++;
    }
    for (int i = 0; i < m; i++)
        strs[i] = texts[i];
    elm_gguf_writer_t *w = NULL;
    *out = NULL;
    if (elm_gguf_writer_open(path, &w, NULL) != 0) __builtin_trap();
    elm_gguf_writer_add_str(w, "tokenizer.ggml.model", "t5");
    elm_gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", strs, (uint64_t)m);
    elm_gguf_writer_add_arr(w, "tokenizer.ggml.token_type", ELM_GGUF_INT32, types, (uint64_t)m);
    elm_gguf_writer_add_arr(w, "tokenizer.ggml.scores", ELM_GGUF_FLOAT32, scores, (uint64_t)m);
    elm_gguf_writer_add_bool(w, "tokenizer.ggml.remove_extra_whitespaces", true);
    if (blob)
        elm_gguf_writer_add_arr(w, "tokenizer.ggml.precompiled_charsmap", ELM_GGUF_UINT8, blob,
                                (uint64_t)n);
    if (elm_gguf_writer_finish(w, NULL) != 0) __builtin_trap();
    int rc = elm_tokenizer_load(path, out, NULL);
    unlink(path);
    return rc;
}

/* A small valid charsmap: "x" -> "yz", "xy" -> "Q", tab -> space, in 1024 units (little-endian
 * host): the root's BASE is 256, 'x' and tab are leaves whose BASE 512 leads to their value and
 * children, 'y' after 'x' is a leaf whose BASE 256 leads to its value at 513. */
static void ugm_charsmap(uint8_t blob[4 + 4096 + 7])
{
    uint32_t u[1024] = {0}, size = sizeof u;
    uint32_t x = 256 ^ 'x', vx = x ^ 512, y = vx ^ 'y', tab = 256 ^ '\t', vtab = tab ^ 512;
    u[0] = 256u << 10;
    u[x] = 512u << 10 | 1u << 8 | 'x';
    u[vx] = 0x80000000u | 0;
    u[y] = 256u << 10 | 1u << 8 | 'y';
    u[y ^ 256] = 0x80000000u | 3;
    u[tab] = 512u << 10 | 1u << 8 | '\t';
    u[vtab] = 0x80000000u | 5;
    memcpy(blob, &size, 4);
    memcpy(blob + 4, u, sizeof u);
    memcpy(blob + 4 + sizeof u, "yz\0Q\0 ", 7);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    char path[64];
    snprintf(path, sizeof path, "/tmp/elm_fuzz_bpe_%d.gguf", (int)getpid());
    if ((toks[n_toks] = write_vocab(path, true))) n_toks++;
    snprintf(path, sizeof path, "/tmp/elm_fuzz_spm_%d.gguf", (int)getpid());
    if ((toks[n_toks] = write_vocab(path, false))) n_toks++;
    snprintf(ugm_path, sizeof ugm_path, "/tmp/elm_fuzz_ugm_%d.gguf", (int)getpid());
    static uint8_t blob[4 + 4096 + 7];
    ugm_charsmap(blob);
    if (write_ugm(ugm_path, blob, sizeof blob, &toks[n_toks]) == 0) n_toks++;
    const char *extra = getenv("EDGELM_FUZZ_VOCAB");
    if (extra && elm_tokenizer_load(extra, &toks[n_toks], NULL) == 0) n_toks++;
    if (n_toks < 3) __builtin_trap();
    return 0;
}

/* Whether s[0..n) is entirely well-formed UTF-8. */
static bool utf8_ok(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        size_t len = c < 0x80                 ? 1
                     : c >= 0xc2 && c <= 0xdf ? 2
                     : c >= 0xe0 && c <= 0xef ? 3
                     : c >= 0xf0 && c <= 0xf4 ? 4
                                              : 0;
        if (!len || i + len > n) return false;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80) return false;
        if ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] > 0x9f) ||
            (c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] > 0x8f))
            return false;
        i += len;
    }
    return true;
}

/* Load the unigram vocabulary with the charsmap in data[2..] (its length in data[0..2)); NULL when
 * refused, which must be with ELM_EINVAL. *text / *len receive the rest of the input. */
static elm_tokenizer_t *charsmap_from_input(const uint8_t *data, size_t size, const char **text,
                                            size_t *len)
{
    if (size < 2) return NULL;
    size_t n = (size_t)(data[0] | data[1] << 8);
    if (n > size - 2) n = size - 2;
    *text = (const char *)data + 2 + n;
    *len = size - 2 - n;
    elm_tokenizer_t *t = NULL;
    int rc = write_ugm(ugm_path, data + 2, n, &t);
    if (rc != 0 && rc != ELM_EINVAL) __builtin_trap();
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int mode = (data[0] & 0x0f) % (n_toks + 1);
    bool parse_special = data[0] & 0x10, add_special = data[0] & 0x20;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    elm_tokenizer_t *own = NULL;
    if (mode == n_toks && !(own = charsmap_from_input(data + 1, size - 1, &text, &len))) return 0;
    const elm_tokenizer_t *t = own ? own : toks[mode];
    int32_t *ids = NULL;
    size_t n = 0;
    unsigned flags =
        (parse_special ? ELM_TOK_PARSE_SPECIAL : 0) | (add_special ? ELM_TOK_ADD_SPECIAL : 0);
    if (elm_tokenize(t, text, len, flags, &ids, &n, NULL) != 0) __builtin_trap();
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= elm_tokenizer_n_vocab(t)) __builtin_trap();
    char *back = NULL;
    size_t bl = 0;
    if (elm_detokenize(t, ids, n, ELM_DETOK_SPECIAL, &back, &bl, NULL) != 0) __builtin_trap();
    /* every byte is representable in both small vocabularies: decoding must give the text back,
     * except that SPM cannot tell a U+2581 in the text from an escaped space */
    bool spm = elm_tokenizer_kind(t) == ELM_TOK_SPM;
    bool must_match = mode < 2 && !add_special &&
                      (!spm || (!parse_special && !memmem(text, len, "\xe2\x96\x81", 3)));
    if (must_match && (bl != len || memcmp(back, text, len) != 0)) __builtin_trap();
    elm_detok_stream_t *s = NULL;
    if (elm_detok_stream_create(t, ELM_DETOK_SPECIAL, &s) != 0) __builtin_trap();
    for (size_t i = 0; i < n; i++) {
        const char *piece;
        size_t pl;
        if (elm_detok_stream_push(s, ids[i], &piece, &pl, NULL) != 0) __builtin_trap();
        if (!utf8_ok((const uint8_t *)piece, pl)) __builtin_trap();
    }
    const char *tail;
    size_t tl;
    int32_t bad = elm_tokenizer_n_vocab(t);
    if (elm_detok_stream_push(s, bad, &tail, &tl, NULL) != ELM_ERANGE) __builtin_trap();
    if (elm_detok_stream_flush(s, &tail, &tl) != 0 || !utf8_ok((const uint8_t *)tail, tl))
        __builtin_trap();
    elm_detok_stream_free(s);
    elm_tokenizer_free(own);
    free(back);
    free(ids);
    return 0;
}
