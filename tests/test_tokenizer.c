/* tokenizer/: llama.cpp's reference vectors for every vocabulary in the shared data, the Llama 2
 * and stories260K SentencePiece vectors, round trips, streaming detokenization, special tokens,
 * chat template detection and formatting, and the named errors for bad vocabularies and ids; for
 * the t5 unigram model also its float running sums, <unk> runs, the tiny-t5 model's encoder
 * inputs, and its precompiled_charsmap: absent, hand-built and corrupt. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "edgelm/gguf.h"
#include "edgelm/tokenizer.h"
#include "testutil.h"

/* ---- helpers ---- */

static elm_tokenizer_t *load(const char *rel)
{
    const char *p = elm_test_data(rel);
    if (!p) return NULL;
    elm_tokenizer_t *t = NULL;
    elm_diag_t d;
    int rc = elm_tokenizer_load(p, &t, &d);
    if (rc != 0) fprintf(stderr, "%s\n", d.msg);
    assert_int_equal(rc, 0);
    return t;
}

static bool ids_eq(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

/* Encode text, compare with want, and check that decoding gives the text back. */
static bool check_case(const elm_tokenizer_t *t, const char *text, size_t len, unsigned flags,
                       const int32_t *want, size_t n_want, bool roundtrip)
{
    int32_t *ids;
    size_t n;
    assert_int_equal(elm_tokenize(t, text, len, flags, &ids, &n, NULL), 0);
    bool ok = ids_eq(ids, n, want, n_want);
    if (!ok) {
        fprintf(stderr, "  mismatch on \"%.*s\":\n    got ", (int)len, text);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, " %d", ids[i]);
        fprintf(stderr, "\n    want");
        for (size_t i = 0; i < n_want; i++)
            fprintf(stderr, " %d", want[i]);
        fprintf(stderr, "\n");
    }
    if (ok && roundtrip) {
        char *back;
        size_t bl;
        assert_int_equal(elm_detokenize(t, ids, n, 0, &back, &bl, NULL), 0);
        if (bl != len || memcmp(back, text, len) != 0) {
            fprintf(stderr, "  round trip of \"%.*s\" gave \"%s\"\n", (int)len, text, back);
            ok = false;
        }
        free(back);
    }
    free(ids);
    return ok;
}

/* A whole file as a NUL-terminated string (caller frees). */
static char *read_text(const char *path, size_t *len)
{
    size_t n = 0;
    char *raw = elm_test_read_file(path, &n);
    assert_non_null(raw);
    char *s = malloc(n + 1);
    assert_non_null(s);
    memcpy(s, raw, n);
    s[n] = '\0';
    free(raw);
    if (len) *len = n;
    return s;
}

/* ---- llama.cpp's vocab vectors ---- */

static const char sep[] = "\n__ggml_vocab_test__\n";

/* Run one <name>.gguf.inp/.out set without BOS, as test-tokenizer-0 does. */
static void run_vocab_set(const char *name)
{
    char rel[128];
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", name);
    elm_tokenizer_t *t = load(rel);
    if (!t) return;
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf.inp", name);
    const char *pin = elm_test_data(rel); /* a static buffer: read before the next lookup */
    assert_non_null(pin);
    char *in = read_text(pin, NULL);
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf.out", name);
    const char *pout = elm_test_data(rel);
    assert_non_null(pout);
    char *out = read_text(pout, NULL);
    int n_cases = 0, n_pass = 0;
    char *p = in, *line = out;
    for (;;) {
        char *end = strstr(p, sep);
        if (!end) break;
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        *nl = '\0';
        int32_t want[512];
        size_t n_want = 0;
        for (char *q = line, *e; n_want < 512; q = e) {
            long v = strtol(q, &e, 10);
            if (e == q) break;
            want[n_want++] = (int32_t)v;
        }
        n_cases++;
        /* SPM drops a leading space on decode, and BPE vocabularies with missing bytes cannot
         * round-trip, so round trips are checked on the ones that can represent the text. UGM's
         * normalizer is lossy: its round trips are checked in test_ugm_roundtrip. */
        bool rt = elm_tokenizer_kind(t) == ELM_TOK_BPE ||
                  (elm_tokenizer_kind(t) == ELM_TOK_SPM && end > p && p[0] != ' ');
        n_pass += check_case(t, p, (size_t)(end - p), 0, want, n_want, rt);
        p = end + strlen(sep);
        line = nl + 1;
    }
    printf("%s: %d/%d passed\n", name, n_pass, n_cases);
    assert_true(n_cases > 0);
    assert_int_equal(n_pass, n_cases);
    free(in);
    free(out);
    elm_tokenizer_free(t);
}

/* GPT-2's byte alphabet: printable Latin-1 stays, the 68 others count up from U+0100 in byte
 * order (0 → U+0100, space 32 → U+0120 'Ġ', soft hyphen 173, the last, → U+0143). */
static void test_byte_text(void **state)
{
    (void)state;
    char out[2];
    assert_int_equal(elm_tokenizer_byte_text('A', out), 1);
    assert_int_equal(out[0], 'A');
    static const struct {
        uint8_t b;
        unsigned char utf8[2];
    } two[] = {{0, {0xC4, 0x80}}, {32, {0xC4, 0xA0}}, {173, {0xC5, 0x83}}, {255, {0xC3, 0xBF}}};
    for (size_t i = 0; i < sizeof two / sizeof two[0]; i++) {
        assert_int_equal(elm_tokenizer_byte_text(two[i].b, out), 2);
        assert_memory_equal(out, two[i].utf8, 2);
    }
}

static void test_vocab_qwen2(void **state)
{
    (void)state;
    run_vocab_set("qwen2");
}
static void test_vocab_llama_bpe(void **state)
{
    (void)state;
    run_vocab_set("llama-bpe");
}
static void test_vocab_llama_spm(void **state)
{
    (void)state;
    run_vocab_set("llama-spm");
}
static void test_vocab_phi3(void **state)
{
    (void)state;
    run_vocab_set("phi-3");
}
static void test_vocab_gpt2(void **state)
{
    (void)state;
    run_vocab_set("gpt-2");
}
static void test_vocab_deepseek_coder(void **state)
{
    (void)state;
    run_vocab_set("deepseek-coder");
}
static void test_vocab_deepseek_llm(void **state)
{
    (void)state;
    run_vocab_set("deepseek-llm");
}
static void test_vocab_falcon(void **state)
{
    (void)state;
    run_vocab_set("falcon");
}
static void test_vocab_mpt(void **state)
{
    (void)state;
    run_vocab_set("mpt");
}
static void test_vocab_refact(void **state)
{
    (void)state;
    run_vocab_set("refact");
}
static void test_vocab_starcoder(void **state)
{
    (void)state;
    run_vocab_set("starcoder");
}
static void test_vocab_tiny_t5(void **state)
{
    (void)state;
    run_vocab_set("tiny-t5");
}

/* ---- Llama 2 and stories260K (with BOS) ---- */

/* Every case in a JSON file: text under text_key, ids (with BOS) under ids_key. */
static void run_json_cases(const char *tok_rel, const char *json_rel, const char *text_key,
                           const char *ids_key)
{
    elm_tokenizer_t *t = load(tok_rel);
    if (!t) return;
    const char *pj = elm_test_data(json_rel);
    assert_non_null(pj);
    char *js = read_text(pj, NULL);
    cJSON *root = cJSON_Parse(js);
    assert_non_null(root);
    int n_cases = 0, n_pass = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "cases"))
    {
        const char *text = cJSON_GetObjectItem(c, text_key)->valuestring;
        const cJSON *arr = cJSON_GetObjectItem(c, ids_key);
        int32_t want[256];
        size_t n_want = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, arr) want[n_want++] = (int32_t)v->valueint;
        n_cases++;
        n_pass += check_case(t, text, strlen(text), ELM_TOK_ADD_SPECIAL, want, n_want, true);
    }
    printf("%s: %d/%d passed\n", json_rel, n_pass, n_cases);
    assert_int_equal(n_pass, n_cases);
    cJSON_Delete(root);
    free(js);
    elm_tokenizer_free(t);
}

static void test_llama2_vectors(void **state)
{
    (void)state;
    run_json_cases("vocab/ggml-vocab-llama-spm.gguf", "llama2c/llama2_tokenizer_vectors.json",
                   "text", "ids");
}

static void test_stories260k(void **state)
{
    (void)state;
    run_json_cases("models/stories260K-f32.gguf", "llama2c/stories260K_greedy.json", "prompt",
                   "prompt_ids");
}

/* ---- special tokens, invalid UTF-8, streaming ---- */

static void test_special_tokens(void **state)
{
    (void)state;
    elm_tokenizer_t *t = load("vocab/ggml-vocab-qwen2.gguf");
    if (!t) return;
    int32_t im_start = elm_tokenizer_find(t, "<|im_start|>", 12);
    assert_true(im_start > 0);
    assert_int_equal(elm_tokenizer_token_type(t, im_start), ELM_TOKEN_CONTROL);
    const char *txt = "<|im_start|>user";
    int32_t *ids;
    size_t n;
    assert_int_equal(elm_tokenize(t, txt, strlen(txt), ELM_TOK_PARSE_SPECIAL, &ids, &n, NULL), 0);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], im_start);
    free(ids);
    /* without parse_special the marker is plain text */
    assert_int_equal(elm_tokenize(t, txt, strlen(txt), 0, &ids, &n, NULL), 0);
    assert_true(n > 2);
    for (size_t i = 0; i < n; i++)
        assert_int_not_equal(ids[i], im_start);
    free(ids);
    /* control tokens decode to nothing unless asked */
    char *back;
    size_t bl;
    assert_int_equal(elm_detokenize(t, &im_start, 1, 0, &back, &bl, NULL), 0);
    assert_int_equal(bl, 0);
    free(back);
    assert_int_equal(elm_detokenize(t, &im_start, 1, ELM_DETOK_SPECIAL, &back, &bl, NULL), 0);
    assert_string_equal(back, "<|im_start|>");
    free(back);
    assert_true(elm_tokenizer_is_eog(t, elm_tokenizer_find(t, "<|im_end|>", 10)));
    assert_false(elm_tokenizer_add_bos(t));
    elm_tokenizer_free(t);

    t = load("vocab/ggml-vocab-llama-bpe.gguf");
    if (!t) return;
    assert_true(elm_tokenizer_add_bos(t));
    assert_int_equal(elm_tokenizer_bos(t), 128000);
    assert_int_equal(elm_tokenizer_eot(t), 128009);
    assert_true(elm_tokenizer_is_eog(t, 128009));
    assert_int_equal(elm_tokenize(t, "Hi", 2, ELM_TOK_ADD_SPECIAL, &ids, &n, NULL), 0);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 128000);
    free(ids);
    elm_tokenizer_free(t);
}

/* Invalid UTF-8 is no error: BPE carries the bytes through its alphabet, SPM through <0xNN>. */
static void test_invalid_utf8(void **state)
{
    (void)state;
    static const char bad[] = "a\xff\xfe b\xc3(\xe2\x82 \xf0\x9f\xa6\x99\xed\xa0\x80";
    const char *vocabs[] = {"vocab/ggml-vocab-qwen2.gguf", "vocab/ggml-vocab-llama-spm.gguf"};
    for (int v = 0; v < 2; v++) {
        elm_tokenizer_t *t = load(vocabs[v]);
        if (!t) return;
        int32_t *ids;
        size_t n;
        char *back;
        size_t bl;
        assert_int_equal(elm_tokenize(t, bad, sizeof bad - 1, 0, &ids, &n, NULL), 0);
        assert_true(n > 0);
        assert_int_equal(elm_detokenize(t, ids, n, 0, &back, &bl, NULL), 0);
        assert_int_equal(bl, sizeof bad - 1);
        assert_memory_equal(back, bad, bl);
        free(back);
        /* the stream hands out only whole characters; invalid bytes become U+FFFD */
        elm_detok_stream_t *s;
        assert_int_equal(elm_detok_stream_create(t, 0, &s), 0);
        char streamed[256] = "";
        size_t sl = 0;
        for (size_t i = 0; i < n; i++) {
            const char *p;
            size_t pl;
            assert_int_equal(elm_detok_stream_push(s, ids[i], &p, &pl, NULL), 0);
            memcpy(streamed + sl, p, pl);
            sl += pl;
        }
        const char *p;
        size_t pl;
        assert_int_equal(elm_detok_stream_flush(s, &p, &pl), 0);
        memcpy(streamed + sl, p, pl);
        sl += pl;
        static const char want[] = "a\xef\xbf\xbd\xef\xbf\xbd b\xef\xbf\xbd(\xef\xbf\xbd "
                                   "\xf0\x9f\xa6\x99\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd";
        assert_int_equal(sl, sizeof want - 1);
        assert_memory_equal(streamed, want, sl);
        elm_detok_stream_free(s);
        free(ids);
        elm_tokenizer_free(t);
    }
}

/* A character split over byte tokens comes out whole, once, when its last byte arrives. */
static void test_stream_split_char(void **state)
{
    (void)state;
    elm_tokenizer_t *t = load("vocab/ggml-vocab-llama-spm.gguf");
    if (!t) return;
    /* U+1F999 has no token: byte fallback <0xF0> <0x9F> <0xA6> <0x99> after the space */
    int32_t *ids;
    size_t n;
    assert_int_equal(elm_tokenize(t, "\xf0\x9f\xa6\x99!", 5, 0, &ids, &n, NULL), 0);
    elm_detok_stream_t *s;
    assert_int_equal(elm_detok_stream_create(t, 0, &s), 0);
    int emitted_at = -1;
    for (size_t i = 0; i < n; i++) {
        const char *p;
        size_t pl;
        assert_int_equal(elm_detok_stream_push(s, ids[i], &p, &pl, NULL), 0);
        if (pl && emitted_at < 0) {
            emitted_at = (int)i;
            assert_true(pl >= 4);
            assert_memory_equal(p, "\xf0\x9f\xa6\x99", 4);
        }
    }
    assert_true(emitted_at > 0);
    const char *p;
    size_t pl;
    assert_int_equal(elm_detok_stream_push(s, 999999, &p, &pl, NULL), ELM_ERANGE);
    elm_detok_stream_free(s);
    free(ids);
    elm_tokenizer_free(t);
}

static void test_detok_range(void **state)
{
    (void)state;
    elm_tokenizer_t *t = load("vocab/ggml-vocab-gpt-2.gguf");
    if (!t) return;
    int32_t ids[] = {15496, 50257};
    char *back = (char *)1;
    size_t bl;
    elm_diag_t d;
    assert_int_equal(elm_detokenize(t, ids, 2, 0, &back, &bl, &d), ELM_ERANGE);
    assert_null(back);
    assert_non_null(strstr(d.msg, "token id 50257 is out of range"));
    char buf[8];
    assert_int_equal(elm_token_to_piece(t, -1, 0, buf, sizeof buf, &bl, &d), ELM_ERANGE);
    assert_int_equal(elm_token_to_piece(t, 15496, 0, buf, sizeof buf, &bl, &d), 0);
    assert_memory_equal(buf, "Hello", 5);
    assert_int_equal(elm_token_to_piece(t, 15496, 0, buf, 2, &bl, &d), ELM_EINVAL);
    assert_int_equal(bl, 5);
    elm_tokenizer_free(t);
}

/* ---- bad vocabularies ---- */

/* Write a small vocabulary with the given model / pre and optional merges / scores. */
static int bad_vocab(const char *model, const char *pre, bool merges, bool scores, elm_diag_t *d)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/elm_test_tok_%d.gguf", (int)getpid());
    const char *toks[] = {"a", "b", "ab"};
    const char *mrg[] = {"a b"};
    float sc[] = {0, 0, 1};
    elm_gguf_writer_t *w;
    assert_int_equal(elm_gguf_writer_open(path, &w, NULL), 0);
    assert_int_equal(elm_gguf_writer_add_str(w, "tokenizer.ggml.model", model), 0);
    if (pre) assert_int_equal(elm_gguf_writer_add_str(w, "tokenizer.ggml.pre", pre), 0);
    assert_int_equal(elm_gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", toks, 3), 0);
    if (merges)
        assert_int_equal(elm_gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", mrg, 1), 0);
    if (scores)
        assert_int_equal(
            elm_gguf_writer_add_arr(w, "tokenizer.ggml.scores", ELM_GGUF_FLOAT32, sc, 3), 0);
    assert_int_equal(elm_gguf_writer_add_bool(w, "tokenizer.ggml.add_space_prefix", false), 0);
    assert_int_equal(elm_gguf_writer_finish(w, NULL), 0);
    elm_tokenizer_t *t = (elm_tokenizer_t *)1;
    int rc = elm_tokenizer_load(path, &t, d);
    if (rc != 0) assert_null(t);
    if (rc == 0) {
        int32_t *ids;
        size_t n;
        assert_int_equal(elm_tokenize(t, "ab", 2, 0, &ids, &n, NULL), 0);
        assert_int_equal(n, 1);
        assert_int_equal(ids[0], 2);
        free(ids);
    }
    elm_tokenizer_free(rc == 0 ? t : NULL);
    unlink(path);
    return rc;
}

static void test_bad_vocab(void **state)
{
    (void)state;
    elm_diag_t d;
    assert_int_equal(bad_vocab("gpt2", "gpt-2", true, false, &d), 0);
    assert_int_equal(bad_vocab("llama", NULL, false, true, &d), 0);
    assert_int_equal(bad_vocab("gpt2", "gpt-2", false, false, &d), ELM_ENOKEY);
    assert_non_null(strstr(d.msg, "tokenizer.ggml.merges"));
    assert_int_equal(bad_vocab("llama", NULL, false, false, &d), ELM_ENOKEY);
    assert_non_null(strstr(d.msg, "tokenizer.ggml.scores"));
    assert_int_equal(bad_vocab("gpt2", "klingon-bpe", true, false, &d), ELM_ENOTSUP);
    assert_non_null(strstr(d.msg, "pre-tokenizer 'klingon-bpe'"));
    assert_int_equal(bad_vocab("bert", NULL, false, false, &d), ELM_ENOTSUP);
    assert_non_null(strstr(d.msg, "'bert'"));
}

/* ---- t5 (unigram) ---- */

static const char t5_vocab[] = "vocab/ggml-vocab-tiny-t5.gguf";
#define CHARSMAP "tokenizer.ggml.precompiled_charsmap"

/* The id of a piece that must exist. */
static int32_t piece_id(const elm_tokenizer_t *t, const char *text)
{
    int32_t id = elm_tokenizer_find(t, text, strlen(text));
    if (id < 0) fprintf(stderr, "no piece '%s'\n", text);
    assert_true(id >= 0);
    return id;
}

/* Tokenize text and compare with the pieces named in want (NULL-terminated). */
static void expect_pieces(const elm_tokenizer_t *t, const char *text, unsigned flags,
                          const char *const *want)
{
    int32_t ids[64];
    size_t n = 0;
    for (; want[n]; n++)
        ids[n] = piece_id(t, want[n]);
    assert_true(check_case(t, text, strlen(text), flags, ids, n, false));
}

/* The running sums are stored as float: "999" and "3 999" split their 999 differently, because
 * float rounding breaks a tie that float64 sums would break the other way (README 6.6). */
static void test_ugm_float_sums(void **state)
{
    (void)state;
    elm_tokenizer_t *t = load(t5_vocab);
    if (!t) return;
    assert_int_equal(elm_tokenizer_kind(t), ELM_TOK_UGM);
    assert_string_equal(elm_tokenizer_pre(t), "default");
    expect_pieces(t, "999", 0, (const char *const[]){"\xe2\x96\x81", "9", "99", NULL});
    expect_pieces(t, "3 999", 0,
                  (const char *const[]){"\xe2\x96\x81"
                                        "3",
                                        "\xe2\x96\x81", "99", "9", NULL});
    elm_tokenizer_free(t);
}

/* Characters no piece covers become <unk>, one for each run; EOS (no BOS) with ADD_SPECIAL. */
static void test_ugm_unk_and_eos(void **state)
{
    (void)state;
    elm_tokenizer_t *t = load(t5_vocab);
    if (!t) return;
    assert_int_equal(elm_tokenizer_eos(t), 1);
    assert_int_equal(elm_tokenizer_bos(t), -1);
    assert_int_equal(elm_tokenizer_pad(t), 0);
    assert_true(elm_tokenizer_add_eos(t));
    assert_false(elm_tokenizer_add_bos(t));
    /* "{}|~" are four uncovered characters in a row: one <unk> */
    int32_t hello = piece_id(t, "\xe2\x96\x81Hello");
    int32_t sp = piece_id(t, "\xe2\x96\x81");
    int32_t want[] = {hello, sp, 2, 1};
    assert_true(check_case(t, "Hello {}|~", 10, ELM_TOK_ADD_SPECIAL, want, 4, false));
    assert_true(check_case(t, "Hello {}|~", 10, 0, want, 3, false));
    /* two runs apart stay two */
    int32_t a = piece_id(t, "a");
    int32_t want2[] = {sp, 2, a, 2};
    assert_true(check_case(t, "{a}", 3, 0, want2, 4, false));
    /* nothing but whitespace and controls: no tokens, not even an unk; EOS alone with ADD */
    int32_t eos = 1;
    assert_true(check_case(t, " \t\n\r ", 5, 0, &eos, 0, false));
    assert_true(check_case(t, " \t\n\r ", 5, ELM_TOK_ADD_SPECIAL, &eos, 1, false));
    /* invalid bytes become U+FFFD, which this vocabulary lacks: <unk>, decoded as nothing */
    int32_t want3[] = {hello, sp, 2};
    assert_true(check_case(t, "Hello \xff\xfe", 8, 0, want3, 3, false));
    elm_tokenizer_free(t);
}

/* Detokenizing: U+2581 is a space, the first id's leading space goes (only the first id's, as
 * llama.cpp), <unk> and </s> print nothing unless ELM_DETOK_SPECIAL. */
static void test_ugm_detok(void **state)
{
    (void)state;
    elm_tokenizer_t *t = load(t5_vocab);
    if (!t) return;
    int32_t h = piece_id(t, "\xe2\x96\x81Hello"), w = piece_id(t, "\xe2\x96\x81world");
    const struct {
        int32_t ids[4];
        size_t n;
        unsigned flags;
        const char *want;
    } cases[] = {
        {{h, w, 1}, 3, 0, "Hello world"},
        {{h, w, 1}, 3, ELM_DETOK_SPECIAL, "Hello world</s>"},
        {{h, w}, 2, ELM_DETOK_KEEP_SPACE, " Hello world"},
        {{2, h, w}, 3, 0, " Hello world"}, /* the strip was the silent <unk>'s */
        {{2, h, w}, 3, ELM_DETOK_SPECIAL, "<unk> Hello world"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *back;
        size_t bl;
        assert_int_equal(
            elm_detokenize(t, cases[i].ids, cases[i].n, cases[i].flags, &back, &bl, NULL), 0);
        if (strcmp(back, cases[i].want) != 0) fprintf(stderr, "case %zu: '%s'\n", i, back);
        assert_string_equal(back, cases[i].want);
        free(back);
    }
    char buf[16];
    size_t pl;
    assert_int_equal(elm_token_to_piece(t, h, 0, buf, sizeof buf, &pl, NULL), 0);
    assert_int_equal(pl, 6);
    assert_memory_equal(buf, " Hello", 6);
    assert_int_equal(elm_token_to_piece(t, 2, 0, buf, sizeof buf, &pl, NULL), 0);
    assert_int_equal(pl, 0);
    elm_tokenizer_free(t);
}

/* Decoding gives the text back when the normalizer leaves it alone: words of covered characters
 * separated by single spaces. Whole and streamed decoding agree. */
static void test_ugm_roundtrip(void **state)
{
    (void)state;
    elm_tokenizer_t *t = load(t5_vocab);
    if (!t) return;
    static const char *const texts[] = {
        "Hello world",
        "translate English to German: The house is wonderful.",
        "In 2024 we had 3 cats & 12 dogs - naïve café, 999 and 3 999!",
        "Das Haus ist wunderbar.",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        int32_t *ids;
        size_t n;
        char *back;
        size_t bl;
        assert_int_equal(elm_tokenize(t, texts[i], strlen(texts[i]), 0, &ids, &n, NULL), 0);
        for (size_t k = 0; k < n; k++)
            assert_int_not_equal(ids[k], 2); /* no <unk>: else the test proves nothing */
        assert_int_equal(elm_detokenize(t, ids, n, 0, &back, &bl, NULL), 0);
        assert_string_equal(back, texts[i]);
        elm_detok_stream_t *s;
        assert_int_equal(elm_detok_stream_create(t, 0, &s), 0);
        char streamed[256];
        size_t sl = 0;
        for (size_t k = 0; k < n; k++) {
            const char *p;
            size_t pl;
            assert_int_equal(elm_detok_stream_push(s, ids[k], &p, &pl, NULL), 0);
            assert_true(sl + pl < sizeof streamed);
            memcpy(streamed + sl, p, pl);
            sl += pl;
        }
        assert_int_equal(sl, bl);
        assert_memory_equal(streamed, back, bl);
        elm_detok_stream_free(s);
        free(back);
        free(ids);
    }
    elm_tokenizer_free(t);
}

/* llama.cpp's encoder inputs of the tiny-t5 model: encoder_tokens = tokenize(text, ADD_SPECIAL),
 * encoder_text_detok = detokenize without specials (README 6.5). */
static void test_ugm_t5_sequences(void **state)
{
    (void)state;
    elm_tokenizer_t *t = load(t5_vocab);
    if (!t) return;
    const char *pj = elm_test_data("reference/models/tiny-t5-F32.json");
    if (!pj) {
        elm_tokenizer_free(t);
        return;
    }
    char *js = read_text(pj, NULL);
    cJSON *root = cJSON_Parse(js);
    assert_non_null(root);
    int n_seq = 0;
    const cJSON *seq;
    cJSON_ArrayForEach(seq, cJSON_GetObjectItem(root, "sequences"))
    {
        const char *text = cJSON_GetObjectItem(seq, "text")->valuestring;
        const char *detok = cJSON_GetObjectItem(seq, "encoder_text_detok")->valuestring;
        int32_t want[256];
        size_t n_want = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, cJSON_GetObjectItem(seq, "encoder_tokens"))
        {
            assert_true(n_want < 256);
            want[n_want++] = (int32_t)v->valueint;
        }
        assert_true(n_want > 0 && want[n_want - 1] == 1);
        assert_true(check_case(t, text, strlen(text), ELM_TOK_ADD_SPECIAL, want, n_want, false));
        char *back;
        size_t bl;
        assert_int_equal(elm_detokenize(t, want, n_want, 0, &back, &bl, NULL), 0);
        assert_string_equal(back, detok);
        free(back);
        n_seq++;
    }
    assert_int_equal(n_seq, 3);
    cJSON_Delete(root);
    free(js);
    elm_tokenizer_free(t);
}

/* A copy of the t5 vocabulary at path with the charsmap replaced by blob[0..n) of vtype, or
 * dropped when blob is NULL; then loaded: the load's status, *out the tokenizer or NULL. */
static int t5_with_charsmap(const void *blob, uint64_t n, elm_gguf_vtype_t vtype,
                            elm_tokenizer_t **out, elm_diag_t *d)
{
    const char *src = elm_test_data(t5_vocab);
    assert_non_null(src);
    elm_gguf_t *g;
    assert_int_equal(elm_gguf_open(src, &g, NULL), 0);
    char path[64];
    snprintf(path, sizeof path, "/tmp/elm_test_t5_%d.gguf", (int)getpid());
    elm_gguf_writer_t *w;
    assert_int_equal(elm_gguf_writer_open(path, &w, NULL), 0);
    bool had = false;
    for (uint64_t i = 0; i < elm_gguf_n_kv(g); i++) {
        const elm_gguf_kv_t *kv = elm_gguf_kv_at(g, i);
        if (strcmp(kv->key, CHARSMAP) != 0) {
            assert_int_equal(elm_gguf_writer_add_value(w, kv->key, &kv->value), 0);
            continue;
        }
        had = true;
        if (blob) assert_int_equal(elm_gguf_writer_add_arr(w, CHARSMAP, vtype, blob, n), 0);
    }
    assert_true(had);
    assert_int_equal(elm_gguf_writer_finish(w, NULL), 0);
    elm_gguf_close(g);
    *out = (elm_tokenizer_t *)1;
    int rc = elm_tokenizer_load(path, out, d);
    if (rc != 0) assert_null(*out);
    unlink(path);
    return rc;
}

/* Whether a and b tokenize the same (and to something). */
static bool same_ids(const elm_tokenizer_t *t, const char *a, const char *b)
{
    int32_t *x, *y;
    size_t nx, ny;
    assert_int_equal(elm_tokenize(t, a, strlen(a), 0, &x, &nx, NULL), 0);
    assert_int_equal(elm_tokenize(t, b, strlen(b), 0, &y, &ny, NULL), 0);
    bool same = nx > 0 && ids_eq(x, nx, y, ny);
    free(x);
    free(y);
    return same;
}

/* Without the charsmap (llama.cpp does not require it) only spaces are normalized: a tab stays a
 * character, <unk> here, and full-width letters stay full-width. */
static void test_ugm_no_charsmap(void **state)
{
    (void)state;
    elm_tokenizer_t *full = load(t5_vocab), *bare;
    if (!full) return;
    assert_int_equal(t5_with_charsmap(NULL, 0, ELM_GGUF_UINT8, &bare, NULL), 0);
    assert_true(same_ids(bare, "  Hello   world ", "Hello world"));
    assert_true(same_ids(full, "Hello\tworld", "Hello world"));
    assert_false(same_ids(bare, "Hello\tworld", "Hello world"));
    assert_true(same_ids(full, "\xef\xbc\xa6", "F")); /* U+FF26 FULLWIDTH F */
    assert_false(same_ids(bare, "\xef\xbc\xa6", "F"));
    int32_t *ids;
    size_t n;
    assert_int_equal(elm_tokenize(bare, "Hello\tworld", 11, 0, &ids, &n, NULL), 0);
    assert_true(n > 2);
    assert_int_equal(ids[0], piece_id(bare, "\xe2\x96\x81Hello"));
    assert_int_equal(ids[1], 2); /* the tab */
    for (size_t i = 2; i < n; i++)
        assert_int_not_equal(ids[i], piece_id(bare, "\xe2\x96\x81world"));
    free(ids);
    elm_tokenizer_free(bare);
    elm_tokenizer_free(full);
}

/* A hand-built charsmap: "x" -> "yz" and "xy" -> "Q", in a 1024-unit double array. The root's
 * BASE is 256; the node for 'x' (256 ^ 'x') is a leaf whose BASE 512 leads to its value unit and
 * children, from which 'y' is a leaf whose BASE 256 leads to its value unit at 513. */
enum { XCDA_UNITS = 1024 };
typedef struct {
    uint32_t size;
    uint32_t unit[XCDA_UNITS];
    char strings[5];
} __attribute__((packed)) charsmap_t;

static void make_charsmap(charsmap_t *m)
{
    memset(m, 0, sizeof *m);
    m->size = XCDA_UNITS * 4;
    uint32_t x = 256 ^ 'x', vx = x ^ 512, y = vx ^ 'y', vy = y ^ 256;
    m->unit[0] = 256u << 10;
    m->unit[x] = 512u << 10 | 1u << 8 | 'x';
    m->unit[vx] = 0x80000000u | 0; /* "yz" */
    m->unit[y] = 256u << 10 | 1u << 8 | 'y';
    m->unit[vy] = 0x80000000u | 3; /* "Q" */
    memcpy(m->strings, "yz\0Q", 5);
}

static void test_ugm_charsmap_walk(void **state)
{
    (void)state;
    charsmap_t m;
    make_charsmap(&m);
    elm_tokenizer_t *t;
    elm_diag_t d;
    if (!elm_test_data(t5_vocab)) return;
    int rc = t5_with_charsmap(&m, sizeof m, ELM_GGUF_UINT8, &t, &d);
    if (rc) fprintf(stderr, "%s\n", d.msg);
    assert_int_equal(rc, 0);
    assert_true(same_ids(t, "x", "yz"));
    assert_true(same_ids(t, "xy", "Q")); /* the longest key wins */
    assert_true(same_ids(t, "axxyb", "ayzQb"));
    assert_true(same_ids(t, "\t", "\t")); /* no key: the character as it is */
    elm_tokenizer_free(t);
}

/* A corrupt charsmap is a named ELM_EINVAL at load, never a read outside the blob. */
static void test_ugm_corrupt_charsmap(void **state)
{
    (void)state;
    if (!elm_test_data(t5_vocab)) return;
    charsmap_t m;
    elm_tokenizer_t *t;
    elm_diag_t d;
    uint32_t x = 256 ^ 'x', vy = ((x ^ 512) ^ 'y') ^ 256;
    struct {
        const char *what, *msg;
    } cases[] = {
        {"offset out of range", "replacement lies outside"},
        {"node out of range", "past its 1024 units"},
        {"strings cut", "do not end with a NUL"},
        {"array cut", "does not fit"},
        {"shorter than its size", "truncated"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        make_charsmap(&m);
        uint64_t n = sizeof m;
        if (i == 0) m.unit[vy] = 0x80000000u | 5; /* past the 5 bytes of strings */
        if (i == 1) m.unit[0] = 2048u << 10;      /* the root's children beyond the array */
        if (i == 2) n--;
        if (i == 3) n = 4 + 100;
        if (i == 4) n = 3;
        assert_int_equal(t5_with_charsmap(&m, n, ELM_GGUF_UINT8, &t, &d), ELM_EINVAL);
        if (!strstr(d.msg, CHARSMAP) || !strstr(d.msg, cases[i].msg))
            fprintf(stderr, "%s: %s\n", cases[i].what, d.msg);
        assert_non_null(strstr(d.msg, CHARSMAP));
        assert_non_null(strstr(d.msg, cases[i].msg));
    }
    int32_t not_bytes[4] = {0};
    assert_int_equal(t5_with_charsmap(not_bytes, 4, ELM_GGUF_INT32, &t, &d), ELM_EINVAL);
    assert_non_null(strstr(d.msg, CHARSMAP " is not an array of bytes"));
    /* the real blob, cut in half */
    elm_gguf_t *g;
    assert_int_equal(elm_gguf_open(elm_test_data(t5_vocab), &g, NULL), 0);
    const elm_gguf_value_t *v;
    assert_int_equal(elm_gguf_get_arr(g, CHARSMAP, &v), 0);
    assert_int_equal(v->arr.n, 240007);
    uint8_t *half = malloc(v->arr.n / 2);
    memcpy(half, v->arr.data, v->arr.n / 2);
    elm_gguf_close(g);
    assert_int_equal(t5_with_charsmap(half, 240007 / 2, ELM_GGUF_UINT8, &t, &d), ELM_EINVAL);
    assert_non_null(strstr(d.msg, CHARSMAP));
    free(half);
}

/* A t5 vocabulary whose <unk> id points past the vocabulary has none: a named error at load. */
static void test_ugm_no_unk(void **state)
{
    (void)state;
    char path[64];
    snprintf(path, sizeof path, "/tmp/elm_test_t5unk_%d.gguf", (int)getpid());
    const char *toks[] = {"<pad>", "</s>",
                          "\xe2\x96\x81"
                          "a"};
    float sc[] = {0, 0, -1};
    elm_gguf_writer_t *w;
    assert_int_equal(elm_gguf_writer_open(path, &w, NULL), 0);
    assert_int_equal(elm_gguf_writer_add_str(w, "tokenizer.ggml.model", "t5"), 0);
    assert_int_equal(elm_gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", toks, 3), 0);
    assert_int_equal(elm_gguf_writer_add_arr(w, "tokenizer.ggml.scores", ELM_GGUF_FLOAT32, sc, 3),
                     0);
    assert_int_equal(elm_gguf_writer_add_i32(w, "tokenizer.ggml.unknown_token_id", 7), 0);
    assert_int_equal(elm_gguf_writer_finish(w, NULL), 0);
    elm_tokenizer_t *t = (elm_tokenizer_t *)1;
    elm_diag_t d;
    assert_int_equal(elm_tokenizer_load(path, &t, &d), ELM_EINVAL);
    assert_null(t);
    assert_non_null(strstr(d.msg, "no <unk> token"));
    unlink(path);
}

/* ---- chat templates ---- */

static void test_chat_detect(void **state)
{
    (void)state;
    static const struct {
        const char *tmpl;
        elm_chat_tmpl_t want;
    } cases[] = {
        {"{% for m in messages %}<|im_start|>{{ m.role }}\n", ELM_CHAT_CHATML},
        {"<|start_header_id|>{{ role }}<|end_header_id|>", ELM_CHAT_LLAMA3},
        {"{{ bos_token }}[INST] <<SYS>>\n{{ sys }}\n<</SYS>>", ELM_CHAT_LLAMA2_SYS},
        {"[INST] {{ content.strip() }} [/INST]", ELM_CHAT_LLAMA2_SYS_STRIP},
        {"[INST] {{ m }} [/INST]", ELM_CHAT_LLAMA2},
        {"[SYSTEM_PROMPT] x [INST]", ELM_CHAT_MISTRAL_V7},
        {"<|user|>\n{{ c }}<|end|>\n<|assistant|>", ELM_CHAT_PHI3},
        {"<start_of_turn>user", ELM_CHAT_GEMMA},
        {"<|user|>\n{{ c }}<|endoftext|>", ELM_CHAT_ZEPHYR},
        {"### Instruction:\n{{ c }}\n<|EOT|>", ELM_CHAT_DEEPSEEK},
        {"<\xef\xbd\x9cUser\xef\xbd\x9c>{{c}}<\xef\xbd\x9c"
         "Assistant\xef\xbd\x9c>",
         ELM_CHAT_DEEPSEEK3},
        {"llama3", ELM_CHAT_LLAMA3},
        {"nothing recognizable", ELM_CHAT_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(elm_chat_detect(cases[i].tmpl), cases[i].want);
    elm_tokenizer_t *t = load("vocab/ggml-vocab-qwen2.gguf");
    if (!t) return;
    elm_chat_tmpl_t k;
    assert_int_equal(elm_chat_pick(t, NULL, &k, NULL), 0);
    assert_int_equal(k, ELM_CHAT_CHATML);
    assert_int_equal(elm_chat_pick(t, "gemma", &k, NULL), 0);
    assert_int_equal(k, ELM_CHAT_GEMMA);
    elm_diag_t d;
    assert_int_equal(elm_chat_pick(t, "nope", &k, &d), ELM_EINVAL);
    assert_non_null(strstr(d.msg, "unknown chat template 'nope'"));
    elm_tokenizer_free(t);
    t = load("vocab/ggml-vocab-llama-bpe.gguf");
    if (!t) return;
    assert_int_equal(elm_chat_pick(t, NULL, &k, NULL), 0);
    assert_int_equal(k, ELM_CHAT_LLAMA3);
    elm_tokenizer_free(t);
    t = load("vocab/ggml-vocab-gpt-2.gguf"); /* no template: chatml with a warning */
    if (!t) return;
    assert_int_equal(elm_chat_pick(t, NULL, &k, NULL), 0);
    assert_int_equal(k, ELM_CHAT_CHATML);
    elm_tokenizer_free(t);
}

/* The reference gemma2 / phi3 / internlm2 files carry stories260K's tokenizer and no
 * tokenizer.chat_template: the family comes from general.architecture. */
static void test_chat_from_arch(void **state)
{
    (void)state;
    assert_int_equal(elm_chat_for_arch("gemma2"), ELM_CHAT_GEMMA);
    assert_int_equal(elm_chat_for_arch("phi3"), ELM_CHAT_PHI3);
    assert_int_equal(elm_chat_for_arch("internlm2"), ELM_CHAT_CHATML);
    assert_int_equal(elm_chat_for_arch("t5"), ELM_CHAT_PLAIN);
    assert_int_equal(elm_chat_for_arch("llama"), ELM_CHAT_UNKNOWN);
    assert_int_equal(elm_chat_for_arch(NULL), ELM_CHAT_UNKNOWN);
    static const struct {
        const char *file;
        elm_chat_tmpl_t want;
    } cases[] = {
        {"reference/models/tiny-gemma2-Q4_0.gguf", ELM_CHAT_GEMMA},
        {"reference/models/tiny-phi3-Q4_0.gguf", ELM_CHAT_PHI3},
        {"reference/models/tiny-internlm2-Q4_0.gguf", ELM_CHAT_CHATML},
        {"reference/models/tiny-llama3-Q4_0.gguf", ELM_CHAT_CHATML}, /* no guess: the warning */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        elm_tokenizer_t *t = load(cases[i].file);
        if (!t) return;
        assert_null(elm_tokenizer_chat_template(t));
        elm_chat_tmpl_t k = ELM_CHAT_UNKNOWN;
        assert_int_equal(elm_chat_pick(t, NULL, &k, NULL), 0);
        if (k != cases[i].want) fprintf(stderr, "%s: %s\n", cases[i].file, elm_chat_name(k));
        assert_int_equal(k, cases[i].want);
        assert_int_equal(elm_chat_pick(t, "llama3", &k, NULL), 0); /* an override still wins */
        assert_int_equal(k, ELM_CHAT_LLAMA3);
        elm_tokenizer_free(t);
    }
}

static void test_chat_format(void **state)
{
    (void)state;
    const elm_chat_msg_t msgs[] = {
        {"system", "You are helpful."}, {"user", "Hi"}, {"assistant", "Hello!"}, {"user", "Bye"}};
    static const struct {
        elm_chat_tmpl_t tmpl;
        const char *want;
    } cases[] = {
        {ELM_CHAT_CHATML, "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi"
                          "<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\n"
                          "Bye<|im_end|>\n<|im_start|>assistant\n"},
        {ELM_CHAT_LLAMA3, "<|start_header_id|>system<|end_header_id|>\n\nYou are helpful.<|eot_id|>"
                          "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                          "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
                          "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>"
                          "<|start_header_id|>assistant<|end_header_id|>\n\n"},
        {ELM_CHAT_LLAMA2_SYS, "[INST] <<SYS>>\nYou are helpful.\n<</SYS>>\n\nHi [/INST]Hello!</s>"
                              "[INST] Bye [/INST]"},
        {ELM_CHAT_GEMMA, "<start_of_turn>user\nYou are helpful.\n\nHi<end_of_turn>\n"
                         "<start_of_turn>model\nHello!<end_of_turn>\n<start_of_turn>user\nBye"
                         "<end_of_turn>\n<start_of_turn>model\n"},
        {ELM_CHAT_PHI3, "<|system|>\nYou are helpful.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\n"
                        "Hello!<|end|>\n<|user|>\nBye<|end|>\n<|assistant|>\n"},
        {ELM_CHAT_MISTRAL_V7, "[SYSTEM_PROMPT] You are helpful.[/SYSTEM_PROMPT][INST] Hi[/INST] "
                              "Hello!</s>[INST] Bye[/INST]"},
        {ELM_CHAT_PLAIN, "You are helpful.\nHi\nHello!\nBye"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out;
        assert_int_equal(elm_chat_format(cases[i].tmpl, msgs, 4, true, &out, NULL), 0);
        assert_string_equal(out, cases[i].want);
        free(out);
    }
    char *out = (char *)1;
    elm_chat_msg_t bad = {NULL, "x"};
    assert_int_equal(elm_chat_format(ELM_CHAT_CHATML, &bad, 1, true, &out, NULL), ELM_EINVAL);
    assert_null(out);
    assert_int_equal(elm_chat_format(ELM_CHAT_UNKNOWN, msgs, 1, true, &out, NULL), ELM_EINVAL);
}

/* The chat prompt of a real vocabulary tokenizes with its special tokens. */
static void test_chat_tokenize(void **state)
{
    (void)state;
    elm_tokenizer_t *t = load("vocab/ggml-vocab-qwen2.gguf");
    if (!t) return;
    const elm_chat_msg_t msg = {"user", "Hi"};
    char *prompt;
    assert_int_equal(elm_chat_format(ELM_CHAT_CHATML, &msg, 1, true, &prompt, NULL), 0);
    int32_t *ids;
    size_t n;
    assert_int_equal(elm_tokenize(t, prompt, strlen(prompt), ELM_TOK_PARSE_SPECIAL, &ids, &n, NULL),
                     0);
    int32_t im_start = elm_tokenizer_find(t, "<|im_start|>", 12);
    int32_t im_end = elm_tokenizer_find(t, "<|im_end|>", 10);
    int n_start = 0, n_end = 0;
    for (size_t i = 0; i < n; i++)
        n_start += ids[i] == im_start, n_end += ids[i] == im_end;
    assert_int_equal(n_start, 2);
    assert_int_equal(n_end, 1);
    char *back;
    size_t bl;
    assert_int_equal(elm_detokenize(t, ids, n, ELM_DETOK_SPECIAL, &back, &bl, NULL), 0);
    assert_string_equal(back, prompt);
    free(back);
    free(ids);
    free(prompt);
    elm_tokenizer_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_byte_text),
        cmocka_unit_test(test_vocab_qwen2),
        cmocka_unit_test(test_vocab_llama_bpe),
        cmocka_unit_test(test_vocab_llama_spm),
        cmocka_unit_test(test_vocab_phi3),
        cmocka_unit_test(test_vocab_gpt2),
        cmocka_unit_test(test_vocab_deepseek_coder),
        cmocka_unit_test(test_vocab_deepseek_llm),
        cmocka_unit_test(test_vocab_falcon),
        cmocka_unit_test(test_vocab_mpt),
        cmocka_unit_test(test_vocab_refact),
        cmocka_unit_test(test_vocab_starcoder),
        cmocka_unit_test(test_vocab_tiny_t5),
        cmocka_unit_test(test_llama2_vectors),
        cmocka_unit_test(test_stories260k),
        cmocka_unit_test(test_special_tokens),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_stream_split_char),
        cmocka_unit_test(test_detok_range),
        cmocka_unit_test(test_bad_vocab),
        cmocka_unit_test(test_ugm_float_sums),
        cmocka_unit_test(test_ugm_unk_and_eos),
        cmocka_unit_test(test_ugm_detok),
        cmocka_unit_test(test_ugm_roundtrip),
        cmocka_unit_test(test_ugm_t5_sequences),
        cmocka_unit_test(test_ugm_no_charsmap),
        cmocka_unit_test(test_ugm_charsmap_walk),
        cmocka_unit_test(test_ugm_corrupt_charsmap),
        cmocka_unit_test(test_ugm_no_unk),
        cmocka_unit_test(test_chat_detect),
        cmocka_unit_test(test_chat_from_arch),
        cmocka_unit_test(test_chat_format),
        cmocka_unit_test(test_chat_tokenize),
    };
    return cmocka_run_group_tests_name("tokenizer", tests, NULL, NULL);
}
