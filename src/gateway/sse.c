/* gateway/: a device's stream as the gateway relays it — server-sent events split out of the
 * bytes as they arrive (untrusted: an unfinished event is bounded, fuzzed), what each chunk says
 * (content, usage, an error, [DONE]), and an event's text for the client. Pure: no I/O. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "gateway_internal.h"

void gw_sse_free(gw_sse_t *s)
{
    free(s->buf);
    memset(s, 0, sizeof *s);
}

/* Join the data lines of the event ev[0..n) in place ("\n" between them), NUL-terminated;
 * returns their length, or -1 when the event has none (a comment, an id, a retry). */
static long join_data(char *ev, size_t n)
{
    size_t dn = 0;
    bool any = false;
    for (char *line = ev, *end = ev + n; line < end;) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t ll = (size_t)((nl ? nl : end) - line);
        if (ll && line[ll - 1] == '\r') ll--;
        if (ll >= 5 && memcmp(line, "data:", 5) == 0) {
            char *v = line + 5;
            size_t vl = ll - 5;
            if (vl && *v == ' ') v++, vl--;
            if (any) ev[dn++] = '\n';
            memmove(ev + dn, v, vl);
            dn += vl;
            any = true;
        }
        line = nl ? nl + 1 : end;
    }
    if (!any) return -1;
    ev[dn] = '\0';
    return (long)dn;
}

int gw_sse_feed(gw_sse_t *s, const char *p, size_t n, bool at_end, gw_sse_event_fn fn,
                void *user)
{
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n + 1) cap *= 2;
        char *b = realloc(s->buf, cap);
        if (!b) return GW_SSE_NOMEM;
        s->buf = b;
        s->cap = cap;
    }
    if (n) memcpy(s->buf + s->len, p, n);
    s->len += n;
    size_t start = 0;
    /* an event ends at an empty line: "\n\n", "\n\r\n"; scanning resumes where it stopped */
    for (size_t i = s->scanned; i < s->len; i++) {
        if (s->buf[i] != '\n') continue;
        size_t j = i + 1;
        if (j < s->len && s->buf[j] == '\r') j++;
        if (j >= s->len || s->buf[j] != '\n') continue;
        long dn = join_data(s->buf + start, i - start);
        if (dn >= 0 && !fn(user, s->buf + start, (size_t)dn)) return GW_SSE_STOPPED;
        i = j;
        start = j + 1;
    }
    if (at_end && start < s->len) {
        long dn = join_data(s->buf + start, s->len - start);
        if (dn >= 0 && !fn(user, s->buf + start, (size_t)dn)) return GW_SSE_STOPPED;
        start = s->len;
    }
    memmove(s->buf, s->buf + start, s->len - start);
    s->len -= start;
    /* the last two bytes may begin an ending ("\n", "\n\r"): look at them again with the next */
    s->scanned = s->len >= 2 ? s->len - 2 : 0;
    if (s->len > s->max_event) return GW_SSE_TOO_LONG;
    return GW_SSE_OK;
}

static bool count_of(const cJSON *o, const char *key, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble >= 4e9) return false;
    *out = (int64_t)v->valuedouble;
    return true;
}

void gw_event_read(const char *data, size_t n, gw_event_t *e)
{
    memset(e, 0, sizeof *e);
    e->prompt_tokens = e->completion_tokens = -1;
    if (n == 6 && memcmp(data, "[DONE]", 6) == 0) {
        e->done = true;
        return;
    }
    cJSON *j = cJSON_ParseWithLength(data, n);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return;
    }
    e->error = cJSON_GetObjectItemCaseSensitive(j, "error") != NULL;
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "usage");
    if (cJSON_IsObject(u)) {
        count_of(u, "prompt_tokens", &e->prompt_tokens);
        count_of(u, "completion_tokens", &e->completion_tokens);
    }
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(j, "choices");
    e->usage_only = cJSON_IsArray(ch) && cJSON_GetArraySize(ch) == 0 && cJSON_IsObject(u);
    const cJSON *c0 = cJSON_IsArray(ch) ? cJSON_GetArrayItem(ch, 0) : NULL;
    const cJSON *d = c0 ? cJSON_GetObjectItemCaseSensitive(c0, "delta") : NULL;
    const cJSON *c = d ? cJSON_GetObjectItemCaseSensitive(d, "content") : NULL;
    if (!c && c0) c = cJSON_GetObjectItemCaseSensitive(c0, "text");
    e->content = cJSON_IsString(c) && c->valuestring && c->valuestring[0];
    cJSON_Delete(j);
}

char *gw_sse_text(const char *data, size_t n, size_t *len)
{
    size_t lines = 1;
    for (size_t i = 0; i < n; i++) lines += data[i] == '\n';
    size_t cap = n + lines * 7 + 2; /* "data: " and "\n" per line, then "\n" */
    char *out = malloc(cap), *w = out;
    if (!out) return NULL;
    for (const char *line = data, *end = data + n;;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t ll = (size_t)((nl ? nl : end) - line);
        memcpy(w, "data: ", 6);
        memcpy(w + 6, line, ll);
        w += 6 + ll;
        *w++ = '\n';
        if (!nl) break;
        line = nl + 1;
    }
    *w++ = '\n';
    *w = '\0';
    *len = (size_t)(w - out);
    return out;
}
