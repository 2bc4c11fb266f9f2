/* Byte-level BPE (tokenizer.ggml.model = gpt2): the merge loop over one pre-token, a linked list of
 * symbols and a binary heap of candidate pairs (containers.c) ordered by merge rank (then
 * position), so a long word costs O(n log n), not a rescan per merge. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

/* ---- merge loop ---- */

typedef struct {
    int32_t id;          /* token, or -1 when the bytes have none */
    int32_t prev, next;  /* -1 at the ends */
    uint32_t start, end; /* bytes of the word */
} sym_t;

typedef struct {
    sym_t *sym;
    size_t sym_cap;
    elm__heap_t heap; /* a = left id, b = right id, c = merged id, as queued */
    char *enc;
    size_t enc_cap;
} work_t;

static const elm__merge_t *find_merge(const elm_tokenizer_t *t, int32_t l, int32_t r)
{
    uint64_t key = (uint64_t)l << 32 | (uint32_t)r;
    for (uint64_t i = elm__mix64(key) & t->merge_mask;; i = (i + 1) & t->merge_mask) {
        const elm__merge_t *m = &t->merges[i];
        if (m->rank < 0) return NULL;
        if (m->key == key) return m;
    }
}

static int add_pair(const elm_tokenizer_t *t, work_t *w, int32_t left)
{
    if (left < 0) return 0;
    int32_t right = w->sym[left].next;
    if (right < 0 || w->sym[left].id < 0 || w->sym[right].id < 0) return 0;
    const elm__merge_t *m = find_merge(t, w->sym[left].id, w->sym[right].id);
    if (!m) return 0;
    elm__cand_t c = {(float)m->rank, left, right, w->sym[left].id, w->sym[right].id, m->result};
    return elm__heap_push(&w->heap, c);
}

/* Tokens of one pre-token word[0..n). */
static int encode_word(const elm_tokenizer_t *t, work_t *w, const uint8_t *word, size_t n,
                       elm__ids_t *out)
{
    if (elm__pretok_ignore_merges(t->pretok)) {
        if (n * 2 > w->enc_cap) {
            char *e = realloc(w->enc, n * 2);
            if (!e) return ELM_ENOMEM;
            w->enc = e;
            w->enc_cap = n * 2;
        }
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            m += (size_t)elm_tokenizer_byte_text(word[i], w->enc + m);
        int32_t id = elm_tokenizer_find(t, w->enc, m);
        if (id >= 0) return elm__ids_push(out, id);
    }
    if (n > w->sym_cap) {
        sym_t *s = realloc(w->sym, n * sizeof *s);
        if (!s) return ELM_ENOMEM;
        w->sym = s;
        w->sym_cap = n;
    }
    for (size_t i = 0; i < n; i++)
        w->sym[i] = (sym_t){t->byte_tok[word[i]], (int32_t)i - 1, i + 1 < n ? (int32_t)i + 1 : -1,
                            (uint32_t)i, (uint32_t)i + 1};
    w->heap.n = 0;
    for (size_t i = 0; i + 1 < n; i++)
        if (add_pair(t, w, (int32_t)i) != 0) return ELM_ENOMEM;
    while (w->heap.n) {
        elm__cand_t p = elm__heap_pop(&w->heap);
        sym_t *l = &w->sym[p.left], *r = &w->sym[p.right];
        /* stale: one side has merged since the pair was queued */
        if (l->end == l->start || r->end == r->start || l->next != p.right || l->id != p.a ||
            r->id != p.b)
            continue;
        l->id = p.c;
        l->end = r->end;
        l->next = r->next;
        if (r->next >= 0) w->sym[r->next].prev = p.left;
        r->start = r->end; /* dead */
        if (add_pair(t, w, l->prev) != 0 || add_pair(t, w, p.left) != 0) return ELM_ENOMEM;
    }
    for (int32_t i = 0; i >= 0; i = w->sym[i].next) {
        const sym_t *s = &w->sym[i];
        if (s->id >= 0) {
            if (elm__ids_push(out, s->id) != 0) return ELM_ENOMEM;
            continue;
        }
        /* a merged string the vocabulary lacks: its bytes one by one, as llama.cpp does */
        for (uint32_t b = s->start; b < s->end; b++)
            if (t->byte_tok[word[b]] >= 0 && elm__ids_push(out, t->byte_tok[word[b]]) != 0)
                return ELM_ENOMEM;
    }
    return 0;
}

int elm__bpe_encode(const elm_tokenizer_t *t, const char *text, size_t len, elm__ids_t *out)
{
    elm__spans_t words = {0};
    work_t w = {0};
    int rc = elm__pretok_split(t->pretok, text, len, &words);
    for (size_t i = 0; rc == 0 && i < words.n; i++)
        rc = encode_word(t, &w, (const uint8_t *)text + words.v[i].off, words.v[i].len, out);
    free(words.v);
    free(w.sym);
    free(w.heap.v);
    free(w.enc);
    return rc;
}
