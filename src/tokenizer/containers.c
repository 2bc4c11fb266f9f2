/* The tokenizer's small containers: the byte and key hashes of its tables, growable arrays (the
 * id array among them) and the binary heap of merge candidates that the BPE and SPM encoders
 * share. */
#include <stdint.h>
#include <stdlib.h>

#include "tokenizer/tok_internal.h"

/* ---- hashes ---- */

uint32_t elm__hash_bytes(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

uint64_t elm__mix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
}

/* ---- growable arrays ---- */

void *elm__grow(void *v, size_t *cap, size_t size, size_t first)
{
    size_t n = *cap ? *cap * 2 : first;
    if (n < *cap || n > SIZE_MAX / size) return NULL;
    void *p = realloc(v, n * size);
    if (p) *cap = n;
    return p;
}

int elm__ids_push(elm__ids_t *a, int32_t id)
{
    if (a->n == a->cap) {
        int32_t *v = elm__grow(a->v, &a->cap, sizeof *v, 64);
        if (!v) return ELM_ENOMEM;
        a->v = v;
    }
    a->v[a->n++] = id;
    return 0;
}

/* ---- merge candidates ---- */

static bool cand_before(const elm__cand_t *x, const elm__cand_t *y)
{
    return x->key < y->key || (x->key == y->key && x->left < y->left);
}

int elm__heap_push(elm__heap_t *h, elm__cand_t c)
{
    if (h->n == h->cap) {
        elm__cand_t *v = elm__grow(h->v, &h->cap, sizeof *v, 64);
        if (!v) return ELM_ENOMEM;
        h->v = v;
    }
    size_t i = h->n++;
    while (i > 0 && cand_before(&c, &h->v[(i - 1) / 2])) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = c;
    return 0;
}

elm__cand_t elm__heap_pop(elm__heap_t *h)
{
    elm__cand_t top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && cand_before(&h->v[c + 1], &h->v[c])) c++;
        if (!cand_before(&h->v[c], &last)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n) h->v[i] = last;
    return top;
}
