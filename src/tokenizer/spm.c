/* SentencePiece BPE (tokenizer.ggml.model = llama), as llama.cpp runs it: spaces become U+2581
 * (with one added in front when add_space_prefix asks), the text starts as one symbol per UTF-8
 * character, and the adjacent pair whose concatenation is the highest-scoring token merges first
 * (ties: leftmost). Symbols that are no token come out as their bytes, <0xNN>. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

typedef struct {
    int32_t prev, next;
    uint32_t off, n; /* bytes in the escaped text; n == 0 once merged into the left neighbour */
} sym_t;

typedef struct {
    const elm_tokenizer_t *t;
    const char *text;
    sym_t *sym;
    elm__heap_t heap; /* key = -score so the best merge comes first; a = merged size */
} spm_t;

static int try_bigram(spm_t *s, int32_t left, int32_t right)
{
    if (left < 0 || right < 0) return 0;
    const sym_t *l = &s->sym[left], *r = &s->sym[right];
    int32_t id = elm_tokenizer_find(s->t, s->text + l->off, l->n + r->n);
    if (id < 0) return 0;
    elm__cand_t c = {-s->t->tokens[id].score, left, right, (int32_t)(l->n + r->n), 0, 0};
    return elm__heap_push(&s->heap, c);
}

/* Emit a final symbol: its token, else its bytes through the byte fallback, else UNK. */
static int emit(const elm_tokenizer_t *t, const char *p, uint32_t n, elm__ids_t *out)
{
    int32_t id = elm_tokenizer_find(t, p, n);
    if (id >= 0) return elm__ids_push(out, id);
    for (uint32_t i = 0; i < n; i++) {
        id = t->byte_tok[(uint8_t)p[i]];
        if (id < 0) id = t->unk;
        if (id >= 0 && elm__ids_push(out, id) != 0) return ELM_ENOMEM;
    }
    return 0;
}

/* Merge the characters of esc[off, off + m) and emit the resulting symbols. */
static int encode_run(spm_t *s, uint32_t off, uint32_t m, elm__ids_t *out)
{
    sym_t *sym = s->sym;
    int32_t n = 0;
    for (uint32_t i = 0; i < m; n++) {
        int cl = elm__utf8_char((const uint8_t *)s->text + off + i, m - i);
        if (cl <= 0) cl = 1; /* a byte that starts no complete character stands alone */
        sym[n] = (sym_t){n - 1, -1, off + i, (uint32_t)cl};
        if (n > 0) sym[n - 1].next = n;
        i += (uint32_t)cl;
    }
    s->heap.n = 0;
    for (int32_t i = 0; i + 1 < n; i++)
        if (try_bigram(s, i, i + 1) != 0) return ELM_ENOMEM;
    while (s->heap.n) {
        elm__cand_t b = elm__heap_pop(&s->heap);
        sym_t *l = &sym[b.left], *r = &sym[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != (uint32_t)b.a) continue; /* stale */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = b.left;
        if (try_bigram(s, l->prev, b.left) != 0 || try_bigram(s, b.left, l->next) != 0)
            return ELM_ENOMEM;
    }
    for (int32_t i = n ? 0 : -1; i >= 0; i = sym[i].next)
        if (emit(s->t, s->text + sym[i].off, sym[i].n, out) != 0) return ELM_ENOMEM;
    return 0;
}

int elm__spm_encode(const elm_tokenizer_t *t, const char *text, size_t len, bool prefix_space,
                    elm__ids_t *out)
{
    if (len > UINT32_MAX / 4) return ELM_ENOMEM;
    /* escaped text: every ' ' becomes U+2581 (3 bytes) */
    char *esc = malloc((len + 1) * 3);
    sym_t *sym = malloc((len + 1) * sizeof *sym);
    spm_t s = {t, esc, sym, {0}};
    int rc = ELM_ENOMEM;
    if (!esc || !sym) goto done;
    uint32_t m = 0;
    if (prefix_space && t->add_space_prefix) memcpy(esc + m, "\xe2\x96\x81", 3), m += 3;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ')
            memcpy(esc + m, "\xe2\x96\x81", 3), m += 3;
        else
            esc[m++] = text[i];
    }
    /* No merge can cross a byte that no multi-character token contains (a newline, in Llama's
     * vocabulary), so runs between such bytes merge separately: same result, small heaps. */
    rc = 0;
    uint32_t start = 0;
    for (uint32_t i = 0; rc == 0 && i <= m; i++) {
        if (i < m && !t->spm_break[(uint8_t)esc[i]]) continue;
        rc = encode_run(&s, start, i - start, out);
        if (rc == 0 && i < m) rc = emit(t, esc + i, 1, out);
        start = i + 1;
    }
done:
    free(esc);
    free(sym);
    free(s.heap.v);
    return rc;
}
