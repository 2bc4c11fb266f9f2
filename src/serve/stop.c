/* Stop strings matched across generated pieces: one Knuth-Morris-Pratt automaton per stop string
 * says at every byte how long a prefix of it the text ends with, which is exactly how much text
 * must be held back; a completed stop string cuts the text where it began. */
#include <stdlib.h>
#include <string.h>

#include "edgelm/serve.h"
#include "serve/serve_internal.h"

typedef struct {
    char *s;
    size_t len;
    size_t *fail; /* KMP failure function: fail[i] = longest proper border of s[0..i] */
    size_t state; /* bytes of s the text currently ends with */
} elm__stop_t;

struct elm_stop_matcher {
    elm__stop_t *stops;
    size_t n;
    char *buf; /* held back text, then the bytes pushed after it */
    size_t len, cap;
    size_t out; /* bytes of buf handed out by the last call, dropped at the next */
    bool stopped;
};

int elm__serve_utf8_char(const uint8_t *s, size_t n)
{
    if (!n) return 0;
    uint8_t c = s[0];
    int need = c < 0x80 ? 1 : c < 0xC2 ? -1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF5 ? 4 : -1;
    if (need < 0) return -1;
    for (int i = 1; i < need; i++) {
        if ((size_t)i >= n) return 0;
        if ((s[i] & 0xC0) != 0x80) return -1;
        /* overlong three- and four-byte forms, surrogates and code points past U+10FFFF */
        if (i == 1 && ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) ||
                       (c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] > 0x8F)))
            return -1;
    }
    return need;
}

void elm_stop_matcher_free(elm_stop_matcher_t *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->n; i++) {
        free(m->stops[i].s);
        free(m->stops[i].fail);
    }
    free(m->stops);
    free(m->buf);
    free(m);
}

int elm_stop_matcher_create(const char *const *stops, size_t n, elm_stop_matcher_t **out)
{
    *out = NULL;
    elm_stop_matcher_t *m = calloc(1, sizeof *m);
    if (!m) return ELM_ENOMEM;
    if (n && !(m->stops = calloc(n, sizeof *m->stops))) goto fail;
    for (size_t i = 0; i < n; i++) {
        size_t len = stops[i] ? strlen(stops[i]) : 0;
        if (!len) continue;
        elm__stop_t *st = &m->stops[m->n];
        st->s = malloc(len + 1);
        st->fail = malloc(len * sizeof *st->fail);
        m->n++; /* counted before the check, so free releases a half-built entry */
        if (!st->s || !st->fail) goto fail;
        memcpy(st->s, stops[i], len + 1);
        st->len = len;
        st->fail[0] = 0;
        for (size_t j = 1, k = 0; j < len; j++) {
            while (k && st->s[j] != st->s[k]) k = st->fail[k - 1];
            if (st->s[j] == st->s[k]) k++;
            st->fail[j] = k;
        }
    }
    *out = m;
    return 0;
fail:
    elm_stop_matcher_free(m);
    return ELM_ENOMEM;
}

/* Advance st by byte c; returns the new state. */
static size_t step(elm__stop_t *st, char c)
{
    size_t k = st->state;
    if (k == st->len) k = st->fail[k - 1];
    while (k && c != st->s[k]) k = st->fail[k - 1];
    if (c == st->s[k]) k++;
    return st->state = k;
}

/* Bytes at the end of buf[0..len) that start a character still missing bytes. */
static size_t unfinished_tail(const char *buf, size_t len)
{
    for (size_t k = 1; k <= 3 && k <= len; k++) {
        uint8_t c = (uint8_t)buf[len - k];
        if ((c & 0xC0) == 0x80) continue; /* a continuation byte: look further back */
        return elm__serve_utf8_char((const uint8_t *)buf + len - k, k) == 0 ? k : 0;
    }
    return 0;
}

/* Where results point: the buffer, or "" before it exists, so text is never NULL. */
static const char *held(const elm_stop_matcher_t *m, size_t at)
{
    return m->buf ? m->buf + at : "";
}

int elm_stop_matcher_push(elm_stop_matcher_t *m, const char *text, size_t len,
                          elm_stop_result_t *r)
{
    *r = (elm_stop_result_t){.text = held(m, 0), .stopped = m->stopped, .stop_index = -1};
    if (m->stopped) return 0;
    /* what the last call handed out is gone; keep only the held-back rest */
    if (m->out) memmove(m->buf, m->buf + m->out, m->len - m->out);
    m->len -= m->out;
    m->out = 0;
    if (m->len + len > m->cap) {
        size_t cap = (m->len + len) * 2 + 64;
        char *p = realloc(m->buf, cap);
        if (!p) return ELM_ENOMEM;
        m->buf = p;
        m->cap = cap;
    }
    if (len) memcpy(m->buf + m->len, text, len);
    size_t from = m->len;
    m->len += len;
    r->text = held(m, 0);
    for (size_t e = from; e < m->len; e++) {
        /* the first stop string to end wins; at the same end the longest (earliest start) */
        int best = -1;
        for (size_t i = 0; i < m->n; i++) {
            size_t k = step(&m->stops[i], m->buf[e]);
            if (k == m->stops[i].len && (best < 0 || k > m->stops[best].len)) best = (int)i;
        }
        if (best >= 0) {
            m->stopped = true;
            r->stopped = true;
            r->stop_index = best;
            r->len = e + 1 - m->stops[best].len;
            m->out = m->len;
            return 0;
        }
    }
    /* hold back the longest prefix of a stop string the text ends with */
    size_t hold = unfinished_tail(m->buf, m->len);
    for (size_t i = 0; i < m->n; i++)
        if (m->stops[i].state > hold) hold = m->stops[i].state;
    if (hold > m->len) hold = m->len;
    r->len = m->len - hold;
    m->out = r->len;
    return 0;
}

void elm_stop_matcher_flush(elm_stop_matcher_t *m, elm_stop_result_t *r)
{
    *r = (elm_stop_result_t){.text = held(m, 0), .stopped = m->stopped, .stop_index = -1};
    if (m->stopped) return;
    r->text = held(m, m->out);
    r->len = m->len - m->out;
    m->out = m->len;
}
