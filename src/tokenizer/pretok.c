/* The pre-tokenizers of byte-level BPE vocabularies, named by tokenizer.ggml.pre: the split
 * regexes llama.cpp uses for each, compiled with PCRE2 (UTF, Unicode properties, JIT). Several
 * regexes apply in turn, each splitting the pieces of the one before; text a regex does not match
 * stays a piece of its own. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

#define MAX_REGEX 6

/* ---- the regexes ---- */

static const char *const re_gpt2[] = {
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)", NULL};

static const char *const re_llama3[] = {
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL};

static const char *const re_qwen2[] = {
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL};

static const char *const re_deepseek_llm[] = {
    "[\r\n]",
    "\\s?[A-Za-z\\x{b5}\\x{c0}-\\x{d6}\\x{d8}-\\x{f6}\\x{f8}-\\x{1ba}\\x{1bc}-\\x{1bf}"
    "\\x{1c4}-\\x{293}\\x{295}-\\x{2af}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37b}-\\x{37d}"
    "\\x{37f}\\x{386}\\x{388}-\\x{38a}\\x{38c}\\x{38e}-\\x{3a1}\\x{3a3}-\\x{3f5}\\x{3f7}-"
    "\\x{481}\\x{48a}-\\x{52f}\\x{531}-\\x{556}\\x{10a0}-\\x{10c5}\\x{13a0}-\\x{13f5}"
    "\\x{13f8}-\\x{13fd}\\x{1c90}-\\x{1cba}\\x{1cbd}-\\x{1cbf}\\x{1d00}-\\x{1d2b}\\x{1d6b}-"
    "\\x{1d77}\\x{1d79}-\\x{1d9a}\\x{1e00}-\\x{1f15}\\x{1f18}-\\x{1f1d}\\x{1f20}-\\x{1f45}"
    "\\x{1f48}-\\x{1f4d}\\x{1f50}-\\x{1f57}\\x{1f59}\\x{1f5b}\\x{1f5d}\\x{1f5f}-\\x{1f7d}"
    "\\x{1f80}-\\x{1fb4}\\x{1fb6}-\\x{1fbc}\\x{1fbe}\\x{1fc2}-\\x{1fc4}\\x{1fc6}-\\x{1fcc}"
    "\\x{1fd0}-\\x{1fd3}\\x{1fd6}-\\x{1fdb}\\x{1fe0}-\\x{1fec}\\x{1ff2}-\\x{1ff4}\\x{1ff6}-"
    "\\x{1ffc}\\x{2102}\\x{2107}\\x{210a}-\\x{2113}\\x{2115}\\x{2119}-\\x{211d}\\x{2124}"
    "\\x{2126}\\x{2128}\\x{212a}-\\x{212d}\\x{212f}-\\x{2134}\\x{2139}\\x{213c}-\\x{213f}"
    "\\x{2145}-\\x{2149}\\x{214e}\\x{2183}\\x{2184}\\x{2c00}-\\x{2c7b}\\x{2c7e}-\\x{2ce4}"
    "\\x{2ceb}-\\x{2cee}\\x{2cf2}\\x{2cf3}\\x{a640}-\\x{a66d}\\x{a680}-\\x{a69b}\\x{a722}-"
    "\\x{a76f}\\x{a771}-\\x{a787}\\x{a78b}-\\x{a78e}\\x{ab70}-\\x{abbf}\\x{fb00}-\\x{fb06}"
    "\\x{fb13}-\\x{fb17}\\x{ff21}-\\x{ff3a}\\x{ff41}-\\x{ff5a}\\x{10400}-\\x{1044f}\\x{104b0}"
    "-\\x{104d3}\\x{104d8}-\\x{104fb}\\x{10c80}-\\x{10cb2}\\x{10cc0}-\\x{10cf2}\\x{118a0}-"
    "\\x{118df}\\x{1e900}-\\x{1e943}]+",
    "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
    "\\s+$",
    "[一-龥ࠀ-一가-퟿]+",
    "\\p{N}+",
    NULL};

static const char *const re_deepseek_coder[] = {
    "[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}", NULL};

static const char *const re_falcon[] = {
    "[\\p{P}\\$\\+<=>\\^~\\|`]+",
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
    "[0-9][0-9][0-9]", NULL};

static const char *const re_starcoder[] = {
    "\\p{N}", "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
    NULL};

static const char *const re_default[] = {
    "[\\p{P}\\$\\+<=>\\^~\\|]+",
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)", "\\p{N}+",
    "[0-9][0-9][0-9]", NULL};

/* tokenizer.ggml.pre names (as llama.cpp's loader spells them) → regexes. */
static const struct {
    const char *name;
    const char *const *re;
    bool ignore_merges;
} pretoks[] = {
    {"default", re_default, false},
    {"llama3", re_llama3, true},
    {"llama-v3", re_llama3, true},
    {"llama-bpe", re_llama3, true},
    {"falcon3", re_llama3, true},
    {"pixtral", re_llama3, true},
    {"dbrx", re_llama3, false},
    {"smaug-bpe", re_llama3, false},
    {"qwen2", re_qwen2, false},
    {"deepseek-r1-qwen", re_qwen2, false},
    {"stablelm2", re_qwen2, false},
    {"megrez", re_qwen2, false},
    {"deepseek-llm", re_deepseek_llm, false},
    {"deepseek-coder", re_deepseek_coder, false},
    {"falcon", re_falcon, false},
    {"gpt-2", re_gpt2, false},
    {"mpt", re_gpt2, false},
    {"olmo", re_gpt2, false},
    {"phi-2", re_gpt2, false},
    {"jina-es", re_gpt2, false},
    {"jina-de", re_gpt2, false},
    {"starcoder", re_starcoder, false},
    {"refact", re_starcoder, false},
    {"command-r", re_starcoder, false},
    {"smollm", re_starcoder, false},
    {"codeshell", re_starcoder, false},
    {"exaone", re_starcoder, false},
    {"minerva-7b", re_starcoder, false},
};

/* ---- compile ---- */

struct elm__pretok {
    pcre2_code *code[MAX_REGEX];
    int n;
    bool ignore_merges;
};

int elm__pretok_create(const char *name, elm__pretok_t **out, elm_diag_t *diag)
{
    *out = NULL;
    size_t k = 0, n_pre = sizeof pretoks / sizeof pretoks[0];
    while (k < n_pre && strcmp(pretoks[k].name, name) != 0)
        k++;
    if (k == n_pre)
        return elm_diag(diag, ELM_ENOTSUP,
                        "pre-tokenizer '%s' (tokenizer.ggml.pre) is unknown to edgelm; known: "
                        "llama-bpe, qwen2, gpt-2, deepseek-llm, deepseek-coder, falcon, starcoder, "
                        "refact, mpt, command-r, smollm, ...",
                        name);
    elm__pretok_t *p = calloc(1, sizeof *p);
    if (!p) return ELM_ENOMEM;
    p->ignore_merges = pretoks[k].ignore_merges;
    for (const char *const *re = pretoks[k].re; *re; re++) {
        int err;
        PCRE2_SIZE at;
        pcre2_code *c =
            pcre2_compile((PCRE2_SPTR)*re, PCRE2_ZERO_TERMINATED,
                          PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY,
                          &err, &at, NULL);
        if (!c) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(err, msg, sizeof msg);
            int which = p->n;
            elm__pretok_free(p);
            return elm_diag(diag, ELM_EINVAL,
                            "pre-tokenizer '%s': regex %d does not compile at %zu: %s", name, which,
                            (size_t)at, (const char *)msg);
        }
        pcre2_jit_compile(
            c, PCRE2_JIT_COMPLETE); /* without JIT PCRE2 interprets: slower, same result */
        p->code[p->n++] = c;
    }
    *out = p;
    return 0;
}

void elm__pretok_free(elm__pretok_t *p)
{
    if (!p) return;
    for (int i = 0; i < p->n; i++)
        pcre2_code_free(p->code[i]);
    free(p);
}

bool elm__pretok_ignore_merges(const elm__pretok_t *p)
{
    return p && p->ignore_merges;
}

/* ---- split ---- */

static int spans_push(elm__spans_t *s, size_t off, size_t len)
{
    if (s->n == s->cap) {
        elm__span_t *v = elm__grow(s->v, &s->cap, sizeof *v, 64);
        if (!v) return ELM_ENOMEM;
        s->v = v;
    }
    s->v[s->n++] = (elm__span_t){off, len};
    return 0;
}

/* Split text[off, off + len) by one regex, appending matches and the gaps between them. */
static int split_one(pcre2_code *code, pcre2_match_data *md, const char *text, size_t off,
                     size_t len, elm__spans_t *out)
{
    const PCRE2_SPTR subj = (PCRE2_SPTR)(text + off);
    size_t pos = 0, gap = 0;
    while (pos < len) {
        int rc = pcre2_match(code, subj, len, pos, 0, md, NULL);
        if (rc < 0) break;
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t s = ov[0], e = ov[1];
        if (e == s) { /* none of the patterns matches empty; step over a character if one did */
            pos = s + 1;
            continue;
        }
        if (s > gap && spans_push(out, off + gap, s - gap) != 0) return ELM_ENOMEM;
        if (spans_push(out, off + s, e - s) != 0) return ELM_ENOMEM;
        pos = gap = e;
    }
    if (gap < len && spans_push(out, off + gap, len - gap) != 0) return ELM_ENOMEM;
    return 0;
}

int elm__pretok_split(const elm__pretok_t *p, const char *text, size_t len, elm__spans_t *out)
{
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (!md) return ELM_ENOMEM;
    elm__spans_t a = {0}, b = {0};
    int rc = spans_push(&a, 0, len);
    for (int r = 0; rc == 0 && r < p->n; r++) {
        elm__spans_t *dst = r == p->n - 1 ? out : &b;
        for (size_t i = 0; rc == 0 && i < a.n; i++)
            rc = split_one(p->code[r], md, text, a.v[i].off, a.v[i].len, dst);
        if (dst == &b) {
            elm__spans_t tmp = a;
            a = b;
            b = tmp;
            b.n = 0;
        }
    }
    free(a.v);
    free(b.v);
    pcre2_match_data_free(md);
    return rc;
}
