/* From ids back to text: the bytes of one token (SPM/UGM's U+2581 to spaces and <0xNN> to bytes,
 * BPE's byte alphabet back to bytes, control tokens silent unless asked), whole-sequence decoding,
 * and a streaming decoder that only ever hands out complete UTF-8 characters. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

/* ---- UTF-8 ---- */

int elm__utf8_char(const uint8_t *s, size_t n)
{
    if (n == 0) return 0;
    uint8_t c = s[0];
    if (c < 0x80) return 1;
    int len;
    uint8_t lo = 0x80, hi = 0xbf; /* allowed range of the second byte (Unicode table 3-7) */
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c == 0xe0)
        len = 3, lo = 0xa0;
    else if (c == 0xed)
        len = 3, hi = 0x9f;
    else if (c >= 0xe1 && c <= 0xef)
        len = 3;
    else if (c == 0xf0)
        len = 4, lo = 0x90;
    else if (c == 0xf4)
        len = 4, hi = 0x8f;
    else if (c >= 0xf1 && c <= 0xf3)
        len = 4;
    else
        return -1;
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n) return 0;
        uint8_t b = s[i];
        if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf)) return -1;
    }
    return len;
}

/* ---- one token ---- */

/* Write the piece into buf[cap] (as much as fits) and return its full length. */
static size_t piece(const elm_tokenizer_t *t, int32_t id, unsigned flags, char *buf, size_t cap)
{
    const elm__token_t *tk = &t->tokens[id];
    const char *s = t->arena + tk->off;
    size_t n = 0;
#define PUT(ch)                           \
    do {                                  \
        if (n < cap) buf[n] = (char)(ch); \
        n++;                              \
    } while (0)
    switch (tk->type) {
    case ELM_TOKEN_CONTROL:
        if (!(flags & ELM_DETOK_SPECIAL)) return 0;
        for (uint32_t i = 0; i < tk->len; i++)
            PUT(s[i]);
        return n;
    case ELM_TOKEN_USER_DEFINED:
        for (uint32_t i = 0; i < tk->len; i++)
            PUT(s[i]);
        return n;
    case ELM_TOKEN_UNUSED: return 0;
    case ELM_TOKEN_UNKNOWN:
        if (t->kind == ELM_TOK_SPM) { /* llama.cpp prints U+2585 for <unk> */
            PUT(0xe2);
            PUT(0x96);
            PUT(0x85);
            return n;
        }
        if (t->kind == ELM_TOK_UGM) { /* UGM: silent like a control token (llama.cpp) */
            if (!(flags & ELM_DETOK_SPECIAL)) return 0;
            for (uint32_t i = 0; i < tk->len; i++)
                PUT(s[i]);
            return n;
        }
        break;
    case ELM_TOKEN_BYTE:
        if (t->kind != ELM_TOK_BPE && tk->len == 6 && !memcmp(s, "<0x", 3)) {
            PUT(strtol(s + 3, NULL, 16));
            return n;
        }
        break;
    default: break;
    }
    if (t->kind != ELM_TOK_BPE) { /* SentencePiece: U+2581 is a space */
        for (uint32_t i = 0; i < tk->len; i++) {
            if (i + 2 < tk->len && !memcmp(s + i, "\xe2\x96\x81", 3)) {
                PUT(' ');
                i += 2;
            } else {
                PUT(s[i]);
            }
        }
        return n;
    }
    for (uint32_t i = 0; i < tk->len;) {
        int cl = elm__utf8_char((const uint8_t *)s + i, tk->len - i);
        if (cl <= 0) cl = 1;
        uint32_t cp = cl == 1   ? (uint8_t)s[i]
                      : cl == 2 ? ((uint32_t)(s[i] & 0x1f) << 6 | (s[i + 1] & 0x3f))
                                : 0xffffffffu;
        int b = cp < ELM__N_BYTE_CP ? t->cp_byte[cp] : -1;
        if (b >= 0) {
            PUT(b);
        } else { /* not of the byte alphabet: keep the character as it is */
            for (int k = 0; k < cl; k++)
                PUT(s[i + (uint32_t)k]);
        }
        i += (uint32_t)cl;
    }
    return n;
#undef PUT
}

static int range_error(const elm_tokenizer_t *t, int32_t id, elm_diag_t *diag)
{
    return elm_diag(diag, ELM_ERANGE, "token id %d is out of range (vocabulary has %d tokens)",
                    (int)id, (int)t->n_vocab);
}

int elm_token_to_piece(const elm_tokenizer_t *t, int32_t id, unsigned flags, char *buf, size_t cap,
                       size_t *len, elm_diag_t *diag)
{
    *len = 0;
    if (id < 0 || id >= t->n_vocab) return range_error(t, id, diag);
    size_t n = piece(t, id, flags, buf, cap);
    *len = n;
    if (n > cap)
        return elm_diag(diag, ELM_EINVAL, "token %d needs a %zu-byte buffer, got %zu", (int)id, n,
                        cap);
    return 0;
}

/* ---- growable byte buffer ---- */

typedef struct {
    char *p;
    size_t n, cap;
} buf_t;

static int buf_reserve(buf_t *b, size_t more)
{
    if (b->n + more + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + more + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return ELM_ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

/* Append token id's piece; drop the add_space_prefix space when this is the first text (SPM) or
 * the first token (UGM: llama.cpp's detokenize strips only the first piece, even an empty one). */
static int append_piece(const elm_tokenizer_t *t, int32_t id, unsigned flags, bool *at_start,
                        buf_t *b)
{
    size_t need = piece(t, id, flags, NULL, 0);
    if (buf_reserve(b, need) != 0) return ELM_ENOMEM;
    char *dst = b->p + b->n;
    piece(t, id, flags, dst, need);
    bool strip = *at_start && t->kind != ELM_TOK_BPE && t->add_space_prefix &&
                 !(flags & ELM_DETOK_KEEP_SPACE);
    if (need || t->kind == ELM_TOK_UGM) *at_start = false;
    if (strip && need && dst[0] == ' ') {
        memmove(dst, dst + 1, need - 1);
        need--;
    }
    b->n += need;
    return 0;
}

int elm_detokenize(const elm_tokenizer_t *t, const int32_t *ids, size_t n, unsigned flags,
                   char **text, size_t *len, elm_diag_t *diag)
{
    *text = NULL;
    *len = 0;
    buf_t b = {0};
    bool at_start = true;
    int rc = buf_reserve(&b, 0);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab) {
            free(b.p);
            return range_error(t, ids[i], diag);
        }
        rc = append_piece(t, ids[i], flags, &at_start, &b);
    }
    if (rc != 0) {
        free(b.p);
        return elm_diag(diag, rc, "detokenize: out of memory");
    }
    b.p[b.n] = '\0';
    *text = b.p;
    *len = b.n;
    return 0;
}

/* ---- streaming ---- */

struct elm_detok_stream {
    const elm_tokenizer_t *t;
    unsigned flags;
    bool at_start;
    uint8_t pend[4]; /* bytes of an unfinished character */
    size_t n_pend;
    buf_t piece, out;
};

int elm_detok_stream_create(const elm_tokenizer_t *t, unsigned flags, elm_detok_stream_t **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out) return ELM_ENOMEM;
    (*out)->t = t;
    (*out)->flags = flags;
    (*out)->at_start = true;
    return 0;
}

void elm_detok_stream_free(elm_detok_stream_t *s)
{
    if (!s) return;
    free(s->piece.p);
    free(s->out.p);
    free(s);
}

/* Move complete characters from the pending bytes to out; invalid bytes become U+FFFD. */
static void drain(elm_detok_stream_t *s)
{
    while (s->n_pend) {
        int r = elm__utf8_char(s->pend, s->n_pend);
        if (r == 0) return;
        /* an invalid sequence is replaced by one U+FFFD per maximal valid prefix */
        size_t take = r > 0 ? (size_t)r : 1;
        while (r < 0 && take < s->n_pend && elm__utf8_char(s->pend, take + 1) == 0)
            take++;
        if (r > 0) {
            memcpy(s->out.p + s->out.n, s->pend, take);
            s->out.n += take;
        } else {
            memcpy(s->out.p + s->out.n, "\xef\xbf\xbd", 3);
            s->out.n += 3;
        }
        memmove(s->pend, s->pend + take, s->n_pend - take);
        s->n_pend -= take;
    }
}

int elm_detok_stream_push(elm_detok_stream_t *s, int32_t id, const char **text, size_t *len,
                          elm_diag_t *diag)
{
    *text = "";
    *len = 0;
    if (id < 0 || id >= s->t->n_vocab) return range_error(s->t, id, diag);
    s->piece.n = 0;
    s->out.n = 0;
    if (append_piece(s->t, id, s->flags, &s->at_start, &s->piece) != 0 ||
        buf_reserve(&s->out, (s->piece.n + 4) * 3) != 0)
        return elm_diag(diag, ELM_ENOMEM, "detokenize: out of memory");
    for (size_t i = 0; i < s->piece.n; i++) {
        s->pend[s->n_pend++] = (uint8_t)s->piece.p[i];
        drain(s);
    }
    s->out.p[s->out.n] = '\0';
    *text = s->out.p;
    *len = s->out.n;
    return 0;
}

int elm_detok_stream_flush(elm_detok_stream_t *s, const char **text, size_t *len)
{
    *text = "";
    *len = 0;
    s->out.n = 0;
    if (buf_reserve(&s->out, 4) != 0) return ELM_ENOMEM;
    if (s->n_pend) {
        memcpy(s->out.p, "\xef\xbf\xbd", 3);
        s->out.n = 3;
        s->n_pend = 0;
    }
    s->out.p[s->out.n] = '\0';
    *text = s->out.p;
    *len = s->out.n;
    return 0;
}
