/* elm_tokenize: split the text around special-token text (as llama.cpp's tokenizer_st_partition:
 * longest special first, each splitting what is still raw text), hand each raw fragment to the
 * SPM, BPE or UGM encoder, and add BOS / EOS as the vocabulary asks. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

typedef struct {
    int32_t id; /* special token, or -1 for raw text */
    size_t off, len;
} frag_t;

typedef struct {
    frag_t *v;
    size_t n, cap;
} frags_t;

static int frags_push(frags_t *f, int32_t id, size_t off, size_t len)
{
    if (f->n == f->cap) {
        frag_t *v = elm__grow(f->v, &f->cap, sizeof *v, 16);
        if (!v) return ELM_ENOMEM;
        f->v = v;
    }
    f->v[f->n++] = (frag_t){id, off, len};
    return 0;
}

static bool usable(const elm_tokenizer_t *t, int32_t id, bool parse_special)
{
    uint8_t ty = t->tokens[id].type;
    return parse_special || (ty != ELM_TOKEN_CONTROL && ty != ELM_TOKEN_UNKNOWN);
}

/* Which specials occur in the text at all: one pass, checking only at bytes that start one. */
static int find_occurring(const elm_tokenizer_t *t, const char *text, size_t len,
                          bool parse_special, uint8_t *occurs)
{
    uint8_t first[256] = {0};
    int any = 0;
    for (int32_t k = 0; k < t->n_special; k++) {
        int32_t id = t->special[k];
        if (!usable(t, id, parse_special)) continue;
        first[(uint8_t)t->arena[t->tokens[id].off]] = 1;
        any = 1;
    }
    if (!any) return 0;
    int found = 0;
    for (size_t p = 0; p < len; p++) {
        if (!first[(uint8_t)text[p]]) continue;
        for (int32_t k = 0; k < t->n_special; k++) {
            const elm__token_t *tk = &t->tokens[t->special[k]];
            const char *s = t->arena + tk->off;
            if (s[0] != text[p] || tk->len > len - p || occurs[k]) continue;
            if (usable(t, t->special[k], parse_special) && !memcmp(s, text + p, tk->len))
                occurs[k] = 1, found = 1;
        }
    }
    return found;
}

/* Split raw fragments of *f around every occurrence of the specials that occur. */
static int partition(const elm_tokenizer_t *t, const char *text, size_t len, bool parse_special,
                     frags_t *f)
{
    frags_t tmp = {0};
    uint8_t *occurs = calloc((size_t)t->n_special + 1, 1);
    int rc = occurs ? frags_push(f, -1, 0, len) : ELM_ENOMEM;
    if (rc != 0 || !find_occurring(t, text, len, parse_special, occurs)) goto done;
    for (int32_t k = 0; rc == 0 && k < t->n_special; k++) {
        if (!occurs[k]) continue;
        int32_t id = t->special[k];
        const char *s = t->arena + t->tokens[id].off;
        size_t sl = t->tokens[id].len;
        tmp.n = 0;
        for (size_t i = 0; rc == 0 && i < f->n; i++) {
            frag_t fr = f->v[i];
            if (fr.id >= 0) {
                rc = frags_push(&tmp, fr.id, fr.off, fr.len);
                continue;
            }
            size_t pos = fr.off, end = fr.off + fr.len;
            while (rc == 0 && pos < end) {
                const char *hit = memmem(text + pos, end - pos, s, sl);
                if (!hit) break;
                size_t at = (size_t)(hit - text);
                if (at > pos) rc = frags_push(&tmp, -1, pos, at - pos);
                if (rc == 0) rc = frags_push(&tmp, id, at, sl);
                pos = at + sl;
            }
            if (rc == 0 && pos < end) rc = frags_push(&tmp, -1, pos, end - pos);
        }
        frags_t sw = *f;
        *f = tmp;
        tmp = sw;
    }
done:
    free(tmp.v);
    free(occurs);
    return rc;
}

int elm_tokenize(const elm_tokenizer_t *t, const char *text, size_t len, unsigned flags,
                 int32_t **ids, size_t *n_ids, elm_diag_t *diag)
{
    *ids = NULL;
    *n_ids = 0;
    elm__ids_t out = {0};
    frags_t f = {0};
    int rc = 0;
    bool add = flags & ELM_TOK_ADD_SPECIAL;
    if (add && elm_tokenizer_add_bos(t)) rc = elm__ids_push(&out, t->bos);
    if (rc == 0 && len > 0) rc = partition(t, text, len, flags & ELM_TOK_PARSE_SPECIAL, &f);
    bool prev_special = true; /* SPM's add_space_prefix applies to the first fragment */
    for (size_t i = 0; rc == 0 && i < f.n; i++) {
        if (f.v[i].id >= 0) {
            rc = elm__ids_push(&out, f.v[i].id);
            prev_special = true;
        } else if (t->kind == ELM_TOK_SPM) {
            rc = elm__spm_encode(t, text + f.v[i].off, f.v[i].len, prev_special, &out);
            prev_special = false;
        } else if (t->kind == ELM_TOK_UGM) {
            rc = elm__ugm_encode(t, text + f.v[i].off, f.v[i].len, &out);
        } else {
            rc = elm__bpe_encode(t, text + f.v[i].off, f.v[i].len, &out);
        }
    }
    if (rc == 0 && add && elm_tokenizer_add_eos(t)) rc = elm__ids_push(&out, t->eos);
    free(f.v);
    if (rc != 0) {
        free(out.v);
        return elm_diag(diag, rc, "tokenize: out of memory for %zu bytes of text", len);
    }
    *ids = out.v;
    *n_ids = out.n;
    return 0;
}
