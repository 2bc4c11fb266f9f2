/* Loading a tokenizer from the tokenizer.* keys of a GGUF file: token texts into one arena with a
 * hash table from text to id, BPE merges into a hash table from id pair to rank, special tokens
 * and their rules, and the accessors of tokenizer.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

/* ---- small helpers ---- */

static uint64_t next_pow2(uint64_t n)
{
    uint64_t p = 16;
    while (p < n)
        p <<= 1;
    return p;
}

/* ---- text → id ---- */

int32_t elm_tokenizer_find(const elm_tokenizer_t *t, const char *text, size_t len)
{
    uint32_t i = elm__hash_bytes(text, len) & t->tok_hash_mask;
    for (;;) {
        int32_t id = t->tok_hash[i];
        if (id < 0) return -1;
        const elm__token_t *tk = &t->tokens[id];
        if (tk->len == len && memcmp(t->arena + tk->off, text, len) == 0) return id;
        i = (i + 1) & t->tok_hash_mask;
    }
}

/* Insert id unless its text is already present (the first id of a text wins, as in llama.cpp). */
static void tok_hash_insert(elm_tokenizer_t *t, int32_t id)
{
    const elm__token_t *tk = &t->tokens[id];
    const char *s = t->arena + tk->off;
    uint32_t i = elm__hash_bytes(s, tk->len) & t->tok_hash_mask;
    while (t->tok_hash[i] >= 0) {
        const elm__token_t *o = &t->tokens[t->tok_hash[i]];
        if (o->len == tk->len && memcmp(t->arena + o->off, s, tk->len) == 0) return;
        i = (i + 1) & t->tok_hash_mask;
    }
    t->tok_hash[i] = id;
}

/* ---- merges ---- */

static void merge_insert(elm_tokenizer_t *t, uint64_t key, int32_t rank, int32_t result)
{
    uint64_t i = elm__mix64(key) & t->merge_mask;
    while (t->merges[i].rank >= 0) {
        if (t->merges[i].key == key) return; /* the first (lowest) rank wins */
        i = (i + 1) & t->merge_mask;
    }
    t->merges[i] = (elm__merge_t){key, rank, result};
}

static int load_merges(elm_tokenizer_t *t, const elm_gguf_value_t *arr, const char *name,
                       elm_diag_t *d)
{
    uint64_t n = arr->arr.n;
    t->merge_mask = next_pow2(n * 2 + 1) - 1;
    t->merges = malloc((t->merge_mask + 1) * sizeof *t->merges);
    if (!t->merges)
        return elm_diag(d, ELM_ENOMEM, "%s: out of memory for %llu merges", name,
                        (unsigned long long)n);
    for (uint64_t i = 0; i <= t->merge_mask; i++)
        t->merges[i] = (elm__merge_t){0, -1, -1};
    char *buf = NULL;
    size_t cap = 0;
    for (uint64_t i = 0; i < n; i++) {
        elm_str_t s = arr->arr.items[i].s;
        const char *sp = s.len > 1 ? memchr(s.ptr + 1, ' ', s.len - 1) : NULL;
        if (!sp) {
            free(buf);
            return elm_diag(
                d, ELM_EINVAL,
                "%s: tokenizer.ggml.merges[%llu] is not two tokens separated by a space", name,
                (unsigned long long)i);
        }
        size_t ll = (size_t)(sp - s.ptr), rl = s.len - ll - 1;
        int32_t l = elm_tokenizer_find(t, s.ptr, ll), r = elm_tokenizer_find(t, sp + 1, rl);
        if (l < 0 || r < 0) continue; /* a merge of non-tokens can never apply */
        if (ll + rl > cap) {
            cap = (ll + rl) * 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                return elm_diag(d, ELM_ENOMEM, "%s: out of memory", name);
            }
            buf = nb;
        }
        memcpy(buf, s.ptr, ll);
        memcpy(buf + ll, sp + 1, rl);
        merge_insert(t, (uint64_t)l << 32 | (uint32_t)r, (int32_t)i,
                     elm_tokenizer_find(t, buf, ll + rl));
    }
    free(buf);
    return 0;
}

/* ---- metadata ---- */

static void get_id(const elm_gguf_t *g, const char *key, int32_t *id)
{
    int64_t v;
    if (elm_gguf_get_i64(g, key, &v) == 0) *id = (int32_t)(v >= 0 && v <= INT32_MAX ? v : -1);
}

static void get_flag(const elm_gguf_t *g, const char *key, bool *flag)
{
    bool b;
    if (elm_gguf_get_bool(g, key, &b) == 0) *flag = b;
}

static const elm_gguf_value_t *get_arr(const elm_gguf_t *g, const char *key, elm_gguf_vtype_t want,
                                       bool numeric)
{
    const elm_gguf_value_t *v;
    if (elm_gguf_get_arr(g, key, &v) != 0) return NULL;
    if (numeric ? elm_gguf_vtype_size(v->arr.type) == 0 : v->arr.type != want) return NULL;
    return v;
}

static const char *const eot_texts[] = {"<|eot_id|>",
                                        "<|im_end|>",
                                        "<|end|>",
                                        "<end_of_turn>",
                                        "<|endoftext|>",
                                        "<EOT>",
                                        "<|EOT|>",
                                        "_<EOT>",
                                        "<\xef\xbd\x9c"
                                        "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
                                        "<|eom_id|>",
                                        "<|end_of_text|>",
                                        NULL};

static int cmp_special(const void *a, const void *b, void *arg)
{
    const elm_tokenizer_t *t = arg;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (t->tokens[x].len != t->tokens[y].len) return t->tokens[x].len > t->tokens[y].len ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* End-of-generation flags and the list of tokens matched as special text. */
static int setup_specials(elm_tokenizer_t *t)
{
    t->is_eog = calloc((size_t)t->n_vocab, 1);
    t->special = malloc((size_t)t->n_vocab * sizeof *t->special);
    if (!t->is_eog || !t->special) return ELM_ENOMEM;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        const elm__token_t *tk = &t->tokens[id];
        const char *s = t->arena + tk->off;
        bool eot_text = false;
        for (int k = 0; eot_texts[k]; k++)
            if (strlen(eot_texts[k]) == tk->len && !memcmp(eot_texts[k], s, tk->len))
                eot_text = true;
        if (eot_text) {
            if (t->eot < 0 && strcmp(s, "<|endoftext|>") != 0 &&
                strcmp(s, "<|end_of_text|>") != 0 && strcmp(s, "<|eom_id|>") != 0)
                t->eot = id;
            t->is_eog[id] = 1;
        }
        if (tk->len && (tk->type == ELM_TOKEN_CONTROL || tk->type == ELM_TOKEN_USER_DEFINED ||
                        tk->type == ELM_TOKEN_UNKNOWN))
            t->special[t->n_special++] = id;
    }
    if (t->eos >= 0) t->is_eog[t->eos] = 1;
    if (t->eot >= 0) t->is_eog[t->eot] = 1;
    qsort_r(t->special, (size_t)t->n_special, sizeof *t->special, cmp_special, t);
    return 0;
}

/* ---- loading ---- */

/* The tokenizer's kind from tokenizer.ggml.model, and its pre-tokenizer's name. */
static int read_kind(elm_tokenizer_t *t, const elm_gguf_t *g, const char *name, elm_diag_t *d)
{
    elm_str_t model, pre = {"default", 7};
    if (elm_gguf_get_str(g, "tokenizer.ggml.model", &model) != 0)
        return elm_diag(d, ELM_ENOKEY, "%s: no tokenizer (tokenizer.ggml.model is missing)", name);
    if (model.len == 5 && !memcmp(model.ptr, "llama", 5)) {
        t->kind = ELM_TOK_SPM;
    } else if (model.len == 4 && !memcmp(model.ptr, "gpt2", 4)) {
        t->kind = ELM_TOK_BPE;
    } else if (model.len == 2 && !memcmp(model.ptr, "t5", 2)) {
        t->kind = ELM_TOK_UGM;
    } else {
        return elm_diag(
            d, ELM_ENOTSUP,
            "%s: tokenizer model '%.*s' is not supported (edgelm reads 'llama' "
            "SentencePiece, 'gpt2' byte-level BPE and 't5' unigram; 'bert' WordPiece is not "
            "supported)",
            name, (int)(model.len > 64 ? 64 : model.len), model.ptr);
    }
    elm_gguf_get_str(g, "tokenizer.ggml.pre", &pre);
    if (pre.len >= sizeof t->pre) pre.len = sizeof t->pre - 1;
    memcpy(t->pre, pre.ptr, pre.len);
    return 0;
}

/* The token texts into one arena, with their scores, types and the lookup hash. */
static int read_tokens(elm_tokenizer_t *t, const elm_gguf_value_t *toks,
                       const elm_gguf_value_t *scores, const elm_gguf_value_t *types,
                       const char *name, elm_diag_t *d)
{
    uint64_t total = 0;
    for (uint64_t i = 0; i < toks->arr.n; i++)
        total += toks->arr.items[i].s.len + 1;
    if (total > UINT32_MAX) return elm_diag(d, ELM_ERANGE, "%s: token texts are too large", name);
    t->arena = malloc(total ? total : 1);
    t->tokens = calloc((size_t)t->n_vocab, sizeof *t->tokens);
    t->tok_hash_mask = (uint32_t)next_pow2((uint64_t)t->n_vocab * 2) - 1;
    t->tok_hash = malloc(((size_t)t->tok_hash_mask + 1) * sizeof *t->tok_hash);
    if (!t->arena || !t->tokens || !t->tok_hash)
        return elm_diag(d, ELM_ENOMEM, "%s: out of memory for %d tokens", name, t->n_vocab);
    memset(t->tok_hash, 0xff, ((size_t)t->tok_hash_mask + 1) * sizeof *t->tok_hash);
    uint32_t off = 0;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        elm_str_t s = toks->arr.items[i].s;
        elm__token_t *tk = &t->tokens[i];
        memcpy(t->arena + off, s.ptr, s.len);
        t->arena[off + s.len] = '\0';
        tk->off = off;
        tk->len = (uint32_t)s.len;
        off += (uint32_t)s.len + 1;
        tk->score = scores ? (float)elm_gguf_arr_f64(scores, (uint64_t)i) : 0.0f;
        int64_t ty = types ? elm_gguf_arr_i64(types, (uint64_t)i) : ELM_TOKEN_NORMAL;
        tk->type = (uint8_t)(ty >= 0 && ty <= ELM_TOKEN_BYTE ? ty : ELM_TOKEN_UNDEFINED);
        tok_hash_insert(t, i);
    }
    return 0;
}

/* Special ids and rules: llama.cpp's defaults for the kind, then the file's keys; the BPE
 * pre-tokenizer. */
static int read_specials(elm_tokenizer_t *t, const elm_gguf_t *g, const char *name, elm_diag_t *d)
{
    int rc;
    t->bos = t->eos = t->eot = t->pad = t->unk = -1;
    if (t->kind == ELM_TOK_SPM) {
        t->bos = 1, t->eos = 2, t->unk = 0;
        t->add_bos = true;
        t->add_space_prefix = true;
    }
    if (t->kind == ELM_TOK_UGM) { /* T5: EOS after the text, no BOS */
        t->eos = 1, t->unk = 2, t->pad = 0;
        t->add_eos = true;
        t->add_space_prefix = true;
    }
    if (t->kind == ELM_TOK_BPE) {
        if (!elm_gguf_get(g, "tokenizer.ggml.pre"))
            elm_log(ELM_LOG_WARN,
                    "%s: no tokenizer.ggml.pre; using the 'default' pre-tokenizer "
                    "(tokenization may differ from the model's)",
                    name);
        if ((rc = elm__pretok_create(t->pre, &t->pretok, d)) != 0) return rc;
        t->add_bos = elm__pretok_ignore_merges(t->pretok); /* llama3: BOS by default */
        elm__byte_alphabet_inverse(t->cp_byte);
    }
    get_id(g, "tokenizer.ggml.bos_token_id", &t->bos);
    get_id(g, "tokenizer.ggml.eos_token_id", &t->eos);
    get_id(g, "tokenizer.ggml.eot_token_id", &t->eot);
    get_id(g, "tokenizer.ggml.padding_token_id", &t->pad);
    get_id(g, "tokenizer.ggml.unknown_token_id", &t->unk);
    get_flag(g, "tokenizer.ggml.add_bos_token", &t->add_bos);
    get_flag(g, "tokenizer.ggml.add_eos_token", &t->add_eos);
    get_flag(g, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix);
    int32_t *ids[] = {&t->bos, &t->eos, &t->eot, &t->pad, &t->unk};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (*ids[i] >= t->n_vocab)
            *ids[i] = -1; /* as llama.cpp: an id past the vocabulary is none */
    if (t->kind == ELM_TOK_BPE && t->eot < 0 && t->eos < 0)
        t->eos = elm_tokenizer_find(t, "<|endoftext|>", 13);
    return 0;
}

/* Each byte's token (byte fallback), and which bytes SentencePiece may split a word at. */
static void index_bytes(elm_tokenizer_t *t)
{
    for (int b = 0; b < 256; b++) {
        char buf[8];
        int n = t->kind == ELM_TOK_BPE ? elm_tokenizer_byte_text((uint8_t)b, buf)
                                       : snprintf(buf, sizeof buf, "<0x%02X>", b);
        t->byte_tok[b] = elm_tokenizer_find(t, buf, (size_t)n);
    }
    if (t->kind != ELM_TOK_SPM) return;
    for (int b = 0; b < 128; b++)
        t->spm_break[b] = 1;
    for (int32_t i = 0; i < t->n_vocab; i++)
        for (uint32_t k = 0; t->tokens[i].len > 1 && k < t->tokens[i].len; k++)
            t->spm_break[(uint8_t)t->arena[t->tokens[i].off + k]] = 0;
}

int elm_tokenizer_from_gguf(const elm_gguf_t *g, elm_tokenizer_t **out, elm_diag_t *d)
{
    const char *name = elm_gguf_name(g);
    elm_str_t tmpl;
    *out = NULL;
    elm_tokenizer_t *t = calloc(1, sizeof *t);
    if (!t) return elm_diag(d, ELM_ENOMEM, "%s: out of memory", name);
    int rc = read_kind(t, g, name, d);
    if (rc) goto fail;
    const elm_gguf_value_t *toks = get_arr(g, "tokenizer.ggml.tokens", ELM_GGUF_STRING, false);
    if (!toks || toks->arr.n == 0 || toks->arr.n > INT32_MAX / 2) {
        rc = elm_diag(d, ELM_ENOKEY, "%s: tokenizer.ggml.tokens is missing, empty or not strings",
                      name);
        goto fail;
    }
    t->n_vocab = (int32_t)toks->arr.n;
    const elm_gguf_value_t *scores = get_arr(g, "tokenizer.ggml.scores", 0, true);
    const elm_gguf_value_t *types = get_arr(g, "tokenizer.ggml.token_type", 0, true);
    const elm_gguf_value_t *merges = get_arr(g, "tokenizer.ggml.merges", ELM_GGUF_STRING, false);
    if (t->kind == ELM_TOK_SPM && !scores) {
        rc = elm_diag(
            d, ELM_ENOKEY,
            "%s: SentencePiece vocabulary without tokenizer.ggml.scores (broken conversion?)",
            name);
        goto fail;
    }
    if (t->kind == ELM_TOK_BPE && !merges) {
        rc =
            elm_diag(d, ELM_ENOKEY,
                     "%s: BPE vocabulary without tokenizer.ggml.merges (broken conversion?)", name);
        goto fail;
    }
    if ((scores && scores->arr.n != toks->arr.n) || (types && types->arr.n != toks->arr.n)) {
        rc = elm_diag(d, ELM_EINVAL,
                      "%s: tokenizer.ggml.scores/token_type length differs from the "
                      "%d tokens",
                      name, t->n_vocab);
        goto fail;
    }
    if ((rc = read_tokens(t, toks, scores, types, name, d))) goto fail;
    if ((rc = read_specials(t, g, name, d))) goto fail;
    index_bytes(t);
    if (t->kind == ELM_TOK_UGM && (rc = elm__ugm_create(t, g, name, d)) != 0) goto fail;
    if (merges && t->kind == ELM_TOK_BPE && (rc = load_merges(t, merges, name, d)) != 0) goto fail;
    if (setup_specials(t) != 0) {
        rc = elm_diag(d, ELM_ENOMEM, "%s: out of memory", name);
        goto fail;
    }
    if (elm_gguf_get_str(g, "tokenizer.chat_template", &tmpl) == 0) {
        t->chat_template = malloc(tmpl.len + 1);
        if (!t->chat_template) {
            rc = elm_diag(d, ELM_ENOMEM, "%s: out of memory", name);
            goto fail;
        }
        memcpy(t->chat_template, tmpl.ptr, tmpl.len);
        t->chat_template[tmpl.len] = '\0';
    } else {
        elm_str_t arch;
        char a[32] = "";
        if (elm_gguf_get_str(g, "general.architecture", &arch) == 0 && arch.len < sizeof a)
            memcpy(a, arch.ptr, arch.len);
        t->arch_chat = elm_chat_for_arch(a);
    }
    *out = t;
    return 0;
fail:
    elm_tokenizer_free(t);
    return rc;
}

int elm_tokenizer_load(const char *path, elm_tokenizer_t **out, elm_diag_t *diag)
{
    elm_gguf_t *g = NULL;
    *out = NULL;
    int rc = elm_gguf_open(path, &g, diag);
    if (rc != 0) return rc;
    rc = elm_tokenizer_from_gguf(g, out, diag);
    elm_gguf_close(g);
    return rc;
}

void elm_tokenizer_free(elm_tokenizer_t *t)
{
    if (!t) return;
    elm__pretok_free(t->pretok);
    elm__ugm_free(t->ugm);
    free(t->tokens);
    free(t->arena);
    free(t->tok_hash);
    free(t->merges);
    free(t->is_eog);
    free(t->special);
    free(t->chat_template);
    free(t);
}

/* ---- accessors ---- */

elm_tok_kind_t elm_tokenizer_kind(const elm_tokenizer_t *t)
{
    return t->kind;
}
const char *elm_tokenizer_pre(const elm_tokenizer_t *t)
{
    return t->pre;
}
int32_t elm_tokenizer_n_vocab(const elm_tokenizer_t *t)
{
    return t->n_vocab;
}
int32_t elm_tokenizer_bos(const elm_tokenizer_t *t)
{
    return t->bos;
}
int32_t elm_tokenizer_eos(const elm_tokenizer_t *t)
{
    return t->eos;
}
int32_t elm_tokenizer_eot(const elm_tokenizer_t *t)
{
    return t->eot;
}
int32_t elm_tokenizer_pad(const elm_tokenizer_t *t)
{
    return t->pad;
}
bool elm_tokenizer_add_bos(const elm_tokenizer_t *t)
{
    return t->add_bos && t->bos >= 0;
}
bool elm_tokenizer_add_eos(const elm_tokenizer_t *t)
{
    return t->add_eos && t->eos >= 0;
}
const char *elm_tokenizer_chat_template(const elm_tokenizer_t *t)
{
    return t->chat_template;
}

bool elm_tokenizer_is_eog(const elm_tokenizer_t *t, int32_t id)
{
    return id >= 0 && id < t->n_vocab && t->is_eog[id];
}

const char *elm_tokenizer_token_text(const elm_tokenizer_t *t, int32_t id, size_t *len)
{
    if (id < 0 || id >= t->n_vocab) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = t->tokens[id].len;
    return t->arena + t->tokens[id].off;
}

elm_token_type_t elm_tokenizer_token_type(const elm_tokenizer_t *t, int32_t id)
{
    return id >= 0 && id < t->n_vocab ? (elm_token_type_t)t->tokens[id].type : ELM_TOKEN_UNDEFINED;
}
