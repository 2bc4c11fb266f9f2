/* The HTTP/1.1 side of a streamed response: status line, headers, and the body's framing
 * (Content-Length, chunked, read to close), fed byte by byte so any split of the input across
 * feed calls gives the same result (fuzz/fuzz_http.c checks it). Every line is bounded
 * (http.h's limits) and a violation is a named error; the body goes to sse.c. */
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_internal.h"

int elm_http_resp_create(void (*on_content)(void *user, uint64_t t_ns), void *user,
                         elm_http_resp_t **out, elm_diag_t *d)
{
    elm_http_resp_t *r = calloc(1, sizeof *r);
    if (r) {
        r->event = malloc(ELM_HTTP_MAX_EVENT + 1);
        r->err_body = malloc(ELM_HTTP_MAX_ERROR_BODY + 1);
    }
    if (!r || !r->event || !r->err_body) {
        elm_http_resp_free(r);
        *out = NULL;
        return elm_diag(d, ELM_ENOMEM, "out of memory for an HTTP response parser");
    }
    r->on_content = on_content;
    r->user = user;
    r->length = -1;
    r->sum.usage_tokens = -1;
    *out = r;
    return 0;
}

void elm_http_resp_free(elm_http_resp_t *r)
{
    if (!r) return;
    free(r->event);
    free(r->err_body);
    free(r);
}

const elm_http_summary_t *elm_http_resp_summary(const elm_http_resp_t *r)
{
    return &r->sum;
}

bool elm_http_resp_finished(const elm_http_resp_t *r)
{
    return r->st == ST_DONE || (r->sum.done && r->sum.status / 100 == 2);
}

bool elm__http_ok_status(const elm_http_resp_t *r)
{
    return r->sum.status / 100 == 2;
}

/* Printable prefix of s for a message. */
void elm__http_show(char *out, size_t cap, const char *s, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; i < n && j + 1 < cap; i++)
        out[j++] = isprint((unsigned char)s[i]) ? s[i] : '?';
    out[j] = '\0';
}

static int status_line(elm_http_resp_t *r, elm_diag_t *d)
{
    const char *s = r->line;
    char shown[64];
    if (strncmp(s, "HTTP/1.", 7) || !isdigit((unsigned char)s[7]) || s[8] != ' ' ||
        !isdigit((unsigned char)s[9]) || !isdigit((unsigned char)s[10]) ||
        !isdigit((unsigned char)s[11]) || (s[12] && s[12] != ' ')) {
        elm__http_show(shown, sizeof shown, s, strlen(s));
        return elm_diag(d, ELM_EINVAL,
                        "not an HTTP/1.x response: status line '%s' (is the "
                        "target an HTTP server?)",
                        shown);
    }
    r->sum.status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    elm__http_show(r->sum.reason, sizeof r->sum.reason, s[12] ? s + 13 : "",
                   s[12] ? strlen(s + 13) : 0);
    r->n_headers = 0;
    r->chunked = false;
    r->length = -1;
    r->st = ST_HEADERS;
    return 0;
}

static int header_line(elm_http_resp_t *r, uint64_t t, elm_diag_t *d)
{
    char *s = r->line;
    if (!*s) {
        /* Interim 1xx responses are followed by the real one. */
        if (r->sum.status / 100 == 1) {
            r->st = ST_STATUS;
            return 0;
        }
        if (r->sum.status == 204 || r->sum.status == 304 || r->length == 0)
            return elm__http_body_end(r, t, d);
        if (r->chunked)
            r->st = ST_CHUNK_SIZE;
        else if (r->length > 0)
            r->st = ST_LENGTH, r->left = (uint64_t)r->length;
        else
            r->st = ST_CLOSE;
        return 0;
    }
    if (++r->n_headers > ELM_HTTP_MAX_HEADERS)
        return elm_diag(d, ELM_ERANGE, "more than %d response headers", ELM_HTTP_MAX_HEADERS);
    char *colon = strchr(s, ':');
    if (!colon || colon == s) {
        char shown[64];
        elm__http_show(shown, sizeof shown, s, strlen(s));
        return elm_diag(d, ELM_EINVAL, "malformed response header '%s'", shown);
    }
    *colon = '\0';
    char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    if (!strcasecmp(s, "content-length")) {
        uint64_t len = 0;
        const char *c = v;
        while (isdigit((unsigned char)*c) && len < (1ull << 40))
            len = len * 10 + (uint64_t)(*c++ - '0');
        while (*c == ' ' || *c == '\t')
            c++;
        if (c == v || *c || len >= (1ull << 40))
            return elm_diag(d, ELM_EINVAL, "bad Content-Length '%.40s'", v);
        r->length = (int64_t)len;
    } else if (!strcasecmp(s, "transfer-encoding")) {
        for (char *c = v; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        if (strstr(v, "chunked"))
            r->chunked = true;
        else if (strcmp(v, "identity"))
            return elm_diag(d, ELM_ENOTSUP, "unsupported Transfer-Encoding '%.40s'", v);
    }
    return 0;
}

static int chunk_size_line(elm_http_resp_t *r, uint64_t t, elm_diag_t *d)
{
    const char *s = r->line;
    uint64_t n = 0;
    int digits = 0;
    for (; isxdigit((unsigned char)*s); s++, digits++) {
        if (digits >= 10)
            return elm_diag(d, ELM_ERANGE, "chunk size '%.20s' is too large", r->line);
        n = n * 16 + (uint64_t)(isdigit((unsigned char)*s) ? *s - '0'
                                                           : tolower((unsigned char)*s) - 'a' + 10);
    }
    while (*s == ' ' || *s == '\t')
        s++;
    if (!digits || (*s && *s != ';')) {
        char shown[32];
        elm__http_show(shown, sizeof shown, r->line, strlen(r->line));
        return elm_diag(d, ELM_EINVAL, "malformed chunk size line '%s'", shown);
    }
    (void)t;
    if (n == 0) {
        r->st = ST_TRAILER;
        return 0;
    }
    r->left = n;
    r->st = ST_CHUNK_DATA;
    return 0;
}

/* A complete protocol line (status, header, chunk size, chunk end, trailer) in r->line. */
static int proto_line(elm_http_resp_t *r, uint64_t t, elm_diag_t *d)
{
    switch (r->st) {
    case ST_STATUS: return status_line(r, d);
    case ST_HEADERS: return header_line(r, t, d);
    case ST_CHUNK_SIZE: return chunk_size_line(r, t, d);
    case ST_CHUNK_END:
        if (r->line[0]) return elm_diag(d, ELM_EINVAL, "chunk data longer than its size line said");
        r->st = ST_CHUNK_SIZE;
        return 0;
    case ST_TRAILER: return r->line[0] ? 0 : elm__http_body_end(r, t, d);
    default: return 0;
    }
}

int elm_http_resp_feed(elm_http_resp_t *r, const char *data, size_t n, uint64_t t_ns, elm_diag_t *d)
{
    if (r->st == ST_ERROR) return elm_diag(d, ELM_EINVAL, "the response already failed to parse");
    int rc = 0;
    size_t i = 0;
    while (i < n && !rc) {
        switch (r->st) {
        case ST_DONE: return 0;
        case ST_LENGTH:
        case ST_CHUNK_DATA: {
            size_t k = n - i < r->left ? n - i : (size_t)r->left;
            rc = elm__http_body(r, data + i, k, t_ns, d);
            i += k;
            r->left -= k;
            if (!rc && r->left == 0) {
                if (r->st == ST_LENGTH)
                    rc = elm__http_body_end(r, t_ns, d);
                else
                    r->st = ST_CHUNK_END;
            }
            break;
        }
        case ST_CLOSE:
            rc = elm__http_body(r, data + i, n - i, t_ns, d);
            i = n;
            break;
        default: {
            char c = data[i++];
            if (c == '\n') {
                if (r->line_len && r->line[r->line_len - 1] == '\r') r->line_len--;
                r->line[r->line_len] = '\0';
                r->line_len = 0;
                rc = proto_line(r, t_ns, d);
            } else if (c == '\0') {
                rc = elm_diag(d, ELM_EINVAL, "NUL byte in the response head");
            } else if (r->line_len + 1 >= sizeof r->line) {
                rc = elm_diag(d, ELM_ERANGE,
                              "response line longer than %d bytes (a broken or "
                              "hostile server)",
                              ELM_HTTP_MAX_LINE);
            } else {
                r->line[r->line_len++] = c;
            }
        }
        }
    }
    if (rc) r->st = ST_ERROR;
    return rc;
}

int elm_http_resp_eof(elm_http_resp_t *r, elm_diag_t *d)
{
    switch (r->st) {
    case ST_DONE: return 0;
    case ST_CLOSE: {
        int rc = elm__http_body_end(r, 0, d);
        if (rc) r->st = ST_ERROR;
        return rc;
    }
    case ST_STATUS:
        if (r->sum.status == 0)
            return elm_diag(d, ELM_EIO, "the server closed the connection without a response");
        return elm_diag(d, ELM_EIO,
                        "the server closed the connection after an interim %d "
                        "response",
                        r->sum.status);
    case ST_HEADERS:
        return elm_diag(d, ELM_EIO,
                        "the server closed the connection before the response "
                        "headers ended");
    case ST_LENGTH:
        return elm_diag(d, ELM_EIO,
                        "the server closed the connection %" PRIu64 " bytes short "
                        "of its Content-Length",
                        r->left);
    case ST_ERROR: return elm_diag(d, ELM_EINVAL, "the response failed to parse");
    default:
        if (r->sum.done && elm__http_ok_status(r))
            return 0; /* [DONE] seen: the stream's content is whole */
        return elm_diag(d, ELM_EIO,
                        "the server closed the connection in the middle of a chunked "
                        "body (no last chunk)");
    }
}
