/* Unigram tokenization (tokenizer.ggml.model = "t5", llama.cpp's UGM, as Flan-T5 uses it): the
 * SentencePiece normalizer (the precompiled_charsmap's double array, longest key wins, then the
 * whitespace rules) and the Viterbi search for the best-scoring segmentation into pieces, over a
 * byte trie of the pieces built at load. Follows llm_tokenizer_ugm_session of llama.cpp build
 * 4748, including its float running sums. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

#define CHARSMAP_KEY  "tokenizer.ggml.precompiled_charsmap"
#define ESCAPED_SPACE "\xe2\x96\x81" /* U+2581, SentencePiece's visible space */

/* A trie node. The children of a node are consecutive nodes sorted by label. */
typedef struct {
    float score;    /* of value: its score, 0 for user-defined pieces (llama.cpp's choice) */
    int32_t value;  /* the piece ending here, or -1 */
    uint32_t first; /* first child */
    uint16_t n;     /* number of children */
    uint8_t label;  /* the byte leading here from the parent */
    uint8_t user;   /* value is a user-defined piece */
} trie_node_t;

struct elm__ugm {
    uint32_t *xcda; /* the charsmap's double array, every reachable index checked at load */
    size_t n_xcda;
    char *repl; /* its NUL-terminated replacement strings; repl[n_repl - 1] == 0 */
    size_t n_repl;
    trie_node_t *trie; /* node 0 is the root */
    int32_t root[256]; /* the root's child for each byte, or -1 */
    float unk_score;   /* min(NORMAL scores) - 10, as llama.cpp */
    bool merge_spaces; /* tokenizer.ggml.remove_extra_whitespaces */
    bool has_user;     /* some piece is user-defined */
};

/* ---- the charsmap's double array (Darts-clone, XOR-compressed) ---- */

/* A unit packs BASE in bits 10-30 (shifted by 8 more when bit 9 is set), LEAF in bit 8 and LCHECK
 * in bits 0-7; a value unit has bit 31 set and the replacement offset in bits 0-30. */
static uint32_t xcda_base(uint32_t unit)
{
    return (unit >> 10) << ((unit & 0x200u) >> 6);
}

/* Walk every path the normalizer can take (each byte 1..255 from each reachable node) and check
 * that each unit it reads lies inside the array and each replacement offset inside the strings,
 * so that the walk in normalize_prefix never needs a bounds check. */
static int check_xcda(const elm__ugm_t *u, const char *name, elm_diag_t *d)
{
    size_t n = u->n_xcda;
    uint8_t *seen = calloc(n, 1);
    uint32_t *stack = malloc((n + 1) * sizeof *stack);
    size_t top = 0;
    int rc = 0;
    if (!seen || !stack) {
        rc = elm_diag(d, ELM_ENOMEM, "%s: out of memory for %s", name, CHARSMAP_KEY);
        goto done;
    }
    stack[top++] = xcda_base(u->xcda[0]);
    while (top && rc == 0) {
        uint32_t node = stack[--top];
        for (uint32_t c = 1; c < 256 && rc == 0; c++) {
            uint32_t i = node ^ c;
            if (i >= n) {
                rc = elm_diag(d, ELM_EINVAL,
                              "%s: %s is corrupt: a node of its double array points to unit %u, "
                              "past its %zu units (truncated or damaged?)",
                              name, CHARSMAP_KEY, i, n);
                break;
            }
            uint32_t unit = u->xcda[i];
            if ((unit & 0x800000ffu) != c || seen[i]) continue;
            seen[i] = 1;
            uint32_t next = i ^ xcda_base(unit);
            if ((unit >> 8 & 1) && (next >= n || (u->xcda[next] & 0x7fffffffu) >= u->n_repl)) {
                rc = elm_diag(d, ELM_EINVAL,
                              "%s: %s is corrupt: a key's replacement lies outside the blob "
                              "(unit %u, %zu bytes of strings)",
                              name, CHARSMAP_KEY, next, u->n_repl);
                break;
            }
            stack[top++] = next; /* each unit is seen once: at most n + 1 entries */
        }
    }
done:
    free(seen);
    free(stack);
    return rc;
}

/* The blob: u32 LE size of the double array, the array, then the replacement strings. An empty
 * blob means no charsmap. */
static int load_charsmap(elm__ugm_t *u, const elm_gguf_value_t *v, const char *name, elm_diag_t *d)
{
    if (v->type != ELM_GGUF_ARRAY || elm_gguf_vtype_size(v->arr.type) != 1)
        return elm_diag(d, ELM_EINVAL, "%s: %s is not an array of bytes", name, CHARSMAP_KEY);
    const uint8_t *p = v->arr.data;
    uint64_t n = v->arr.n;
    if (n == 0) return 0;
    if (n < 4)
        return elm_diag(d, ELM_EINVAL, "%s: %s is truncated (%llu bytes)", name, CHARSMAP_KEY,
                        (unsigned long long)n);
    uint32_t xs =
        (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    if (xs % 4 != 0 || (uint64_t)xs + 4 >= n)
        return elm_diag(d, ELM_EINVAL,
                        "%s: %s is corrupt: a %u-byte double array does not fit with its strings "
                        "in the %llu-byte blob (truncated?)",
                        name, CHARSMAP_KEY, xs, (unsigned long long)n);
    if (p[n - 1] != 0)
        return elm_diag(d, ELM_EINVAL,
                        "%s: %s is corrupt: its replacement strings do not end with a NUL byte "
                        "(truncated?)",
                        name, CHARSMAP_KEY);
    u->n_xcda = xs / 4;
    u->n_repl = (size_t)(n - 4 - xs);
    u->xcda = malloc(xs ? xs : 4);
    u->repl = malloc(u->n_repl);
    if (!u->xcda || !u->repl)
        return elm_diag(d, ELM_ENOMEM, "%s: out of memory for %s", name, CHARSMAP_KEY);
    for (size_t i = 0; i < u->n_xcda; i++) {
        const uint8_t *q = p + 4 + 4 * i;
        u->xcda[i] =
            (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
    }
    memcpy(u->repl, p + 4 + xs, u->n_repl);
    return u->n_xcda ? check_xcda(u, name, d) : 0;
}

/* ---- the piece trie ---- */

static int cmp_piece(const void *a, const void *b, void *arg)
{
    const elm_tokenizer_t *t = arg;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    const elm__token_t *tx = &t->tokens[x], *ty = &t->tokens[y];
    uint32_t m = tx->len < ty->len ? tx->len : ty->len;
    int c = memcmp(t->arena + tx->off, t->arena + ty->off, m);
    if (c) return c;
    if (tx->len != ty->len) return tx->len < ty->len ? -1 : 1;
    return x < y ? -1 : x > y;
}

static bool is_piece(const elm__token_t *tk)
{
    return tk->len && (tk->type == ELM_TOKEN_NORMAL || tk->type == ELM_TOKEN_USER_DEFINED ||
                       tk->type == ELM_TOKEN_UNUSED);
}

/* Breadth first over the sorted pieces: node x covers the pieces sorted[lo[x], hi[x]) that share
 * its depth-byte prefix, so its children are its range cut by the next byte, and appending them
 * together keeps them consecutive. No recursion: a piece may be long. */
static int build_trie(elm__ugm_t *u, const elm_tokenizer_t *t)
{
    int32_t *sorted = malloc((size_t)t->n_vocab * sizeof *sorted);
    size_t m = 0, total = 1;
    for (int32_t id = 0; sorted && id < t->n_vocab; id++)
        if (is_piece(&t->tokens[id])) sorted[m++] = id, total += t->tokens[id].len;
    uint32_t *lo = malloc(total * sizeof *lo), *hi = malloc(total * sizeof *hi);
    u->trie = malloc(total * sizeof *u->trie);
    int rc = ELM_ENOMEM;
    if (!sorted || !lo || !hi || !u->trie) goto done;
    qsort_r(sorted, m, sizeof *sorted, cmp_piece, (void *)t);
    size_t n = 1;
    u->trie[0] = (trie_node_t){0, -1, 1, 0, 0, 0};
    lo[0] = 0, hi[0] = (uint32_t)m;
    for (size_t x = 0, depth = 0, level_end = 1; x < n; x++) {
        if (x == level_end) depth++, level_end = n;
        trie_node_t *nd = &u->trie[x];
        uint32_t i = lo[x];
        for (; i < hi[x] && t->tokens[sorted[i]].len == depth; i++) {
            /* equal texts: the last id wins, as in llama.cpp's trie */
            const elm__token_t *tk = &t->tokens[sorted[i]];
            nd->value = sorted[i];
            nd->user = tk->type == ELM_TOKEN_USER_DEFINED;
            nd->score = nd->user ? 0.0f : tk->score;
        }
        nd->first = (uint32_t)n;
        while (i < hi[x]) {
            uint8_t c = (uint8_t)t->arena[t->tokens[sorted[i]].off + depth];
            uint32_t j = i + 1;
            while (j < hi[x] && (uint8_t)t->arena[t->tokens[sorted[j]].off + depth] == c)
                j++;
            u->trie[n] = (trie_node_t){0, -1, 0, 0, c, 0};
            lo[n] = i, hi[n] = j;
            n++;
            i = j;
        }
        nd->n = (uint16_t)(n - nd->first);
    }
    for (int c = 0; c < 256; c++)
        u->root[c] = -1;
    for (uint32_t k = 0; k < u->trie[0].n; k++)
        u->root[u->trie[1 + k].label] = (int32_t)(1 + k);
    rc = 0;
done:
    free(sorted);
    free(lo);
    free(hi);
    return rc;
}

/* The child of node x labelled c, or -1: a binary search of its sorted children. */
static int32_t trie_child(const elm__ugm_t *u, int32_t x, uint8_t c)
{
    const trie_node_t *nd = &u->trie[x];
    uint32_t a = nd->first, b = nd->first + nd->n;
    while (a < b) {
        uint32_t mid = a + (b - a) / 2;
        if (u->trie[mid].label < c)
            a = mid + 1;
        else
            b = mid;
    }
    return a < nd->first + nd->n && u->trie[a].label == c ? (int32_t)a : -1;
}

/* ---- loading ---- */

int elm__ugm_create(elm_tokenizer_t *t, const elm_gguf_t *g, const char *name, elm_diag_t *d)
{
    elm__ugm_t *u = calloc(1, sizeof *u);
    if (!u) return elm_diag(d, ELM_ENOMEM, "%s: out of memory", name);
    t->ugm = u;
    if (t->unk < 0) /* the Viterbi search needs it for characters no piece covers */
        return elm_diag(d, ELM_EINVAL,
                        "%s: the t5 (unigram) vocabulary has no <unk> token "
                        "(tokenizer.ggml.unknown_token_id is negative or past the vocabulary)",
                        name);
    bool b;
    if (elm_gguf_get_bool(g, "tokenizer.ggml.remove_extra_whitespaces", &b) == 0)
        u->merge_spaces = b;
    const elm_gguf_value_t *v = elm_gguf_get(g, CHARSMAP_KEY);
    int rc;
    if (v && (rc = load_charsmap(u, v, name, d)) != 0) return rc;
    if (build_trie(u, t) != 0)
        return elm_diag(d, ELM_ENOMEM, "%s: out of memory for the piece trie", name);
    float min_score = INFINITY;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        const elm__token_t *tk = &t->tokens[id];
        if (tk->type == ELM_TOKEN_NORMAL && tk->score < min_score) min_score = tk->score;
        if (tk->type == ELM_TOKEN_USER_DEFINED && tk->len) u->has_user = true;
    }
    /* llama.cpp starts from FLT_MAX: with no normal piece, <unk> costs nearly nothing */
    u->unk_score = (isinf(min_score) ? 3.40282347e38f : min_score) - 10.0f;
    return 0;
}

void elm__ugm_free(elm__ugm_t *u)
{
    if (!u) return;
    free(u->xcda);
    free(u->repl);
    free(u->trie);
    free(u);
}

/* ---- normalization ---- */

typedef struct {
    char *p;
    size_t n, cap;
} sbuf_t;

static int sb_put(sbuf_t *b, const char *s, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return ELM_ENOMEM;
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    return 0;
}

/* Length of the UTF-8 character at s[0..n) as llama.cpp's unicode_cpt_from_utf8 accepts it (lead
 * byte and continuation bytes only, overlong forms allowed), or 0 when it refuses. */
static size_t lenient_utf8(const uint8_t *s, size_t n)
{
    size_t len = s[0] < 0x80   ? 1
                 : s[0] < 0xc0 ? 0
                 : s[0] < 0xe0 ? 2
                 : s[0] < 0xf0 ? 3
                 : s[0] < 0xf8 ? 4
                               : 0;
    if (len == 0 || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    return len;
}

/* What replaces the text at s[0..n): a user-defined piece as is, else the longest charsmap key's
 * replacement, else one character as is, else U+FFFD for one invalid byte. Returns the bytes
 * consumed (at least 1); *rep / *rep_len receive the replacement. */
static size_t normalize_prefix(const elm__ugm_t *u, const char *s, size_t n, const char **rep,
                               size_t *rep_len)
{
    const uint8_t *b = (const uint8_t *)s;
    size_t best = 0;
    if (u->has_user) {
        int32_t x = u->root[b[0]];
        for (size_t i = 1; x >= 0; i++) {
            if (u->trie[x].user) best = i;
            x = i < n ? trie_child(u, x, b[i]) : -1;
        }
        if (best) {
            *rep = s, *rep_len = best;
            return best;
        }
    }
    if (u->n_xcda) {
        uint32_t node = xcda_base(u->xcda[0]), off = 0;
        for (size_t i = 0; i < n && b[i]; i++) {
            node ^= b[i];
            uint32_t unit = u->xcda[node];
            if ((unit & 0x800000ffu) != b[i]) break;
            node ^= xcda_base(unit);
            if (unit >> 8 & 1) best = i + 1, off = u->xcda[node] & 0x7fffffffu;
        }
        if (best) {
            *rep = u->repl + off; /* NUL-terminated inside repl: checked at load */
            *rep_len = strlen(*rep);
            return best;
        }
    }
    size_t len = lenient_utf8(b, n);
    if (len) {
        *rep = s, *rep_len = len;
        return len;
    }
    *rep = "\xef\xbf\xbd", *rep_len = 3;
    return 1;
}

/* SentencePiece's normalized text: replacements, spaces escaped as U+2581, one put in front of
 * the first word (add_space_prefix) or, with remove_extra_whitespaces, in front of every word
 * while the spaces themselves go. */
static int normalize(const elm_tokenizer_t *t, const char *text, size_t len, sbuf_t *out)
{
    const elm__ugm_t *u = t->ugm;
    bool prepended = false, in_word = false;
    for (size_t i = 0; i < len;) {
        const char *rep;
        size_t rl;
        i += normalize_prefix(u, text + i, len - i, &rep, &rl);
        for (size_t k = 0; k < rl; k++) {
            if (rep[k] == ' ') {
                in_word = false;
                if (!u->merge_spaces && sb_put(out, ESCAPED_SPACE, 3) != 0) return ELM_ENOMEM;
                continue;
            }
            if (!in_word) {
                in_word = true;
                if (((t->add_space_prefix && !prepended) || u->merge_spaces) &&
                    sb_put(out, ESCAPED_SPACE, 3) != 0)
                    return ELM_ENOMEM;
                prepended = true;
            }
            if (sb_put(out, rep + k, 1) != 0) return ELM_ENOMEM;
        }
    }
    return 0;
}

/* ---- Viterbi ---- */

/* The best segmentation of the normalized text's first bytes found so far. */
typedef struct {
    float score; /* running sum, stored as float (llama.cpp's rounding decides close paths) */
    int32_t id;  /* the last piece */
    uint32_t from;
} best_t;

/* Keep the candidate when it beats the stored sum; ties keep the path found first. */
static void relax(best_t *b, double cand, int32_t id, uint32_t from)
{
    if (cand > (double)b->score) *b = (best_t){(float)cand, id, from};
}

int elm__ugm_encode(const elm_tokenizer_t *t, const char *text, size_t len, elm__ids_t *out)
{
    const elm__ugm_t *u = t->ugm;
    sbuf_t norm = {0};
    best_t *best = NULL;
    int rc = ELM_ENOMEM;
    if (normalize(t, text, len, &norm) != 0) goto done;
    size_t n = norm.n;
    rc = 0;
    if (n == 0) goto done;
    rc = ELM_ENOMEM;
    if (n >= UINT32_MAX || !(best = malloc((n + 1) * sizeof *best))) goto done;
    best[0] = (best_t){0.0f, t->unk, 0};
    for (size_t j = 1; j <= n; j++)
        best[j] = (best_t){-INFINITY, t->unk, 0};
    const uint8_t *s = (const uint8_t *)norm.p;
    static const uint8_t lead_len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    for (size_t i = 0; i < n;) {
        size_t cl = lead_len[s[i] >> 4];
        if (cl > n - i) cl = n - i;
        double base = best[i].score;
        bool whole = false; /* some piece covers exactly this character */
        /* pieces in order of length, as the trie walk meets them */
        int32_t x = u->root[s[i]];
        for (size_t j = i + 1; x >= 0; j++) {
            const trie_node_t *nd = &u->trie[x];
            if (nd->value >= 0) {
                whole |= j - i == cl;
                relax(&best[j], base + (double)nd->score, nd->value, (uint32_t)i);
            }
            x = j < n ? trie_child(u, x, s[j]) : -1;
        }
        if (!whole) relax(&best[i + cl], base + (double)u->unk_score, t->unk, (uint32_t)i);
        i += cl;
    }
    /* back from the end, one <unk> for each run of them, then reversed into place */
    size_t start = out->n;
    bool prev_unk = false;
    for (size_t j = n;;) {
        bool unk = best[j].id == t->unk;
        if (!(prev_unk && unk) && elm__ids_push(out, best[j].id) != 0) goto done;
        if (best[j].from == 0) break;
        prev_unk = unk;
        j = best[j].from;
    }
    for (size_t a = start, b = out->n - 1; a < b; a++, b--) {
        int32_t tmp = out->v[a];
        out->v[a] = out->v[b], out->v[b] = tmp;
    }
    rc = 0;
done:
    free(norm.p);
    free(best);
    return rc;
}
