/* The HTTP side of `edgelm bench --target`: the endpoint URL, and a streaming parser of one
 * HTTP/1.1 response that carries a server-sent-event stream of OpenAI chat completion chunks.
 * Everything here reads untrusted bytes: every line and event is bounded (bench.h's limits) and
 * a violation is a named error. The parser is byte-driven, so any split of the input across
 * feed calls gives the same result (fuzz/fuzz_http.c checks it). */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "edgelm/bench.h"

/* ---- URL ---- */

int elm_http_url_parse(const char *url, elm_http_url_t *out, elm_diag_t *d)
{
    memset(out, 0, sizeof *out);
    const char *p = url;
    if (!strncmp(p, "https://", 8))
        return elm_diag(d, ELM_EINVAL, "--target %s: https is not supported (plain HTTP only; "
                                       "put a local HTTP proxy in front)", url);
    if (strncmp(p, "http://", 7))
        return elm_diag(d, ELM_EINVAL, "--target %s: expected http://HOST:PORT[/path]", url);
    p += 7;
    const char *host = p, *host_end;
    if (*p == '[') {
        host = ++p;
        if (!(host_end = strchr(p, ']')))
            return elm_diag(d, ELM_EINVAL, "--target %s: IPv6 address without its closing ']'",
                            url);
        p = host_end + 1;
    } else {
        while (*p && *p != ':' && *p != '/') p++;
        host_end = p;
    }
    size_t hl = (size_t)(host_end - host);
    if (hl == 0 || hl >= sizeof out->host)
        return elm_diag(d, ELM_EINVAL, "--target %s: %s host", url, hl ? "too long a" : "no");
    memcpy(out->host, host, hl);
    strcpy(out->port, "80");
    if (*p == ':') {
        const char *ps = ++p;
        long port = 0;
        while (isdigit((unsigned char)*p) && port <= 65535) port = port * 10 + (*p++ - '0');
        if (p == ps || port < 1 || port > 65535 || (*p && *p != '/'))
            return elm_diag(d, ELM_EINVAL, "--target %s: the port must be 1..65535", url);
        snprintf(out->port, sizeof out->port, "%ld", port);
    } else if (*p && *p != '/') {
        return elm_diag(d, ELM_EINVAL, "--target %s: unexpected '%c' after the host", url, *p);
    }
    const char *path = *p ? p : "/";
    for (const char *c = path; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f)
            return elm_diag(d, ELM_EINVAL, "--target %s: spaces or control characters in the "
                                           "path", url);
    size_t pl = strlen(path);
    while (pl > 1 && path[pl - 1] == '/') pl--;
    static const char tail[] = "/chat/completions";
    int n;
    if (pl == 1)
        n = snprintf(out->path, sizeof out->path, "/v1/chat/completions");
    else if (pl >= sizeof tail - 1 && !strncmp(path + pl - (sizeof tail - 1), tail, sizeof tail - 1))
        n = snprintf(out->path, sizeof out->path, "%.*s", (int)pl, path);
    else
        n = snprintf(out->path, sizeof out->path, "%.*s%s", (int)pl, path, tail);
    if (n < 0 || (size_t)n >= sizeof out->path)
        return elm_diag(d, ELM_EINVAL, "--target %s: path too long", url);
    return 0;
}

/* ---- response parser ---- */

typedef enum {
    ST_STATUS = 0,  /* the status line */
    ST_HEADERS,     /* header lines up to the empty one */
    ST_CHUNK_SIZE,  /* a chunk-size line */
    ST_CHUNK_DATA,  /* chunk bytes */
    ST_CHUNK_END,   /* the CRLF after a chunk */
    ST_TRAILER,     /* trailer lines after the last chunk */
    ST_LENGTH,      /* a Content-Length body */
    ST_CLOSE,       /* a body read until the connection closes */
    ST_DONE,        /* complete: further bytes are ignored */
    ST_ERROR        /* a feed failed: nothing more is taken */
} state_t;

struct elm_http_resp {
    elm_http_summary_t sum;
    void (*on_content)(void *user, uint64_t t_ns);
    void *user;
    state_t st;
    int n_headers;
    bool chunked;
    int64_t length;    /* Content-Length, -1 when absent */
    uint64_t left;     /* bytes left in the chunk or the Content-Length body */
    char line[ELM_HTTP_MAX_LINE];
    size_t line_len;
    /* the body: an SSE stream when the status is 2xx, else an error body kept for its message */
    char sse_line[ELM_HTTP_MAX_EVENT];
    size_t sse_len;
    char *event;       /* data of the event being read (ELM_HTTP_MAX_EVENT + 1 bytes) */
    size_t event_len;
    bool event_has_data;
    char *err_body;    /* ELM_HTTP_MAX_ERROR_BODY + 1 bytes */
    size_t err_len;
};

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

static bool ok_status(const elm_http_resp_t *r)
{
    return r->sum.status / 100 == 2;
}

/* Printable prefix of s for a message. */
static void show(char *out, size_t cap, const char *s, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; i < n && j + 1 < cap; i++)
        out[j++] = isprint((unsigned char)s[i]) ? s[i] : '?';
    out[j] = '\0';
}

/* The server's message from a JSON error ({"error": {"message": ...}}, {"error": "..."},
 * {"message": ...}) or the text itself. */
static void error_message(elm_http_resp_t *r, const cJSON *j, const char *text, size_t n)
{
    const cJSON *e = j ? cJSON_GetObjectItemCaseSensitive(j, "error") : NULL;
    const cJSON *m = NULL;
    if (cJSON_IsObject(e)) m = cJSON_GetObjectItemCaseSensitive(e, "message");
    else if (cJSON_IsString(e)) m = e;
    else if (j) m = cJSON_GetObjectItemCaseSensitive(j, "message");
    if (cJSON_IsString(m) && m->valuestring)
        show(r->sum.error, sizeof r->sum.error, m->valuestring, strlen(m->valuestring));
    else
        show(r->sum.error, sizeof r->sum.error, text, n);
}

/* One complete SSE event of an OK response. */
static int dispatch_event(elm_http_resp_t *r, uint64_t t, elm_diag_t *d)
{
    r->event[r->event_len] = '\0';
    size_t n = r->event_len;
    bool had = r->event_has_data;
    r->event_len = 0;
    r->event_has_data = false;
    if (!had || r->sum.done) return 0;
    if (!strcmp(r->event, "[DONE]")) {
        r->sum.done = true;
        return 0;
    }
    cJSON *j = cJSON_ParseWithLength(r->event, n);
    if (!cJSON_IsObject(j)) {
        char s[64];
        show(s, sizeof s, r->event, n);
        cJSON_Delete(j);
        return elm_diag(d, ELM_EINVAL, "malformed SSE event: 'data: %s' is not a JSON object",
                        s);
    }
    if (cJSON_GetObjectItemCaseSensitive(j, "error")) {
        error_message(r, j, r->event, n);
        cJSON_Delete(j);
        return 0;
    }
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(j, "choices");
    const cJSON *c0 = cJSON_IsArray(ch) ? cJSON_GetArrayItem(ch, 0) : NULL;
    const cJSON *delta = c0 ? cJSON_GetObjectItemCaseSensitive(c0, "delta") : NULL;
    const cJSON *content = delta ? cJSON_GetObjectItemCaseSensitive(delta, "content") : NULL;
    if (!content && c0) content = cJSON_GetObjectItemCaseSensitive(c0, "text");
    if (cJSON_IsString(content) && content->valuestring && content->valuestring[0]) {
        r->sum.n_content++;
        if (r->on_content) r->on_content(r->user, t);
    }
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(j, "usage");
    const cJSON *ct = cJSON_IsObject(usage)
                          ? cJSON_GetObjectItemCaseSensitive(usage, "completion_tokens")
                          : NULL;
    if (cJSON_IsNumber(ct) && ct->valuedouble >= 0 && ct->valuedouble < 1e15)
        r->sum.usage_tokens = (int64_t)ct->valuedouble;
    cJSON_Delete(j);
    return 0;
}

/* One SSE line (without its line end): a field of the current event, or the empty line that
 * dispatches it. Fields other than data (event, id, retry) and comments are ignored. */
static int sse_line(elm_http_resp_t *r, uint64_t t, elm_diag_t *d)
{
    char *s = r->sse_line;
    size_t n = r->sse_len;
    r->sse_len = 0;
    if (n && s[n - 1] == '\r') n--;
    if (n == 0) return dispatch_event(r, t, d);
    if (n < 5 || memcmp(s, "data:", 5)) return 0;
    s += 5, n -= 5;
    if (n && *s == ' ') s++, n--;
    size_t need = n + (r->event_has_data ? 1 : 0);
    if (r->event_len + need > ELM_HTTP_MAX_EVENT)
        return elm_diag(d, ELM_ERANGE, "SSE event longer than %d bytes (a broken or hostile "
                                       "server)", ELM_HTTP_MAX_EVENT);
    if (r->event_has_data) r->event[r->event_len++] = '\n';
    memcpy(r->event + r->event_len, s, n);
    r->event_len += n;
    r->event_has_data = true;
    return 0;
}

/* Body bytes after de-framing. */
static int body(elm_http_resp_t *r, const char *p, size_t n, uint64_t t, elm_diag_t *d)
{
    if (!ok_status(r)) {
        size_t k = n < ELM_HTTP_MAX_ERROR_BODY - r->err_len ? n : ELM_HTTP_MAX_ERROR_BODY - r->err_len;
        memcpy(r->err_body + r->err_len, p, k);
        r->err_len += k;
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') {
            int rc = sse_line(r, t, d);
            if (rc) return rc;
            continue;
        }
        if (r->sse_len >= sizeof r->sse_line)
            return elm_diag(d, ELM_ERANGE, "SSE line longer than %zu bytes (a broken or hostile "
                                           "server)", sizeof r->sse_line);
        r->sse_line[r->sse_len++] = p[i];
    }
    return 0;
}

/* The body ended as its framing says: finish the last event, or keep the error message. */
static int body_end(elm_http_resp_t *r, uint64_t t, elm_diag_t *d)
{
    int rc = 0;
    r->st = ST_DONE;
    r->sum.complete = true;
    if (!ok_status(r)) {
        r->err_body[r->err_len] = '\0';
        cJSON *j = cJSON_ParseWithLength(r->err_body, r->err_len);
        error_message(r, j, r->err_body, r->err_len);
        cJSON_Delete(j);
        return 0;
    }
    if (r->sse_len && (rc = sse_line(r, t, d))) return rc;
    return dispatch_event(r, t, d);
}

static int status_line(elm_http_resp_t *r, elm_diag_t *d)
{
    const char *s = r->line;
    char shown[64];
    if (strncmp(s, "HTTP/1.", 7) || !isdigit((unsigned char)s[7]) || s[8] != ' ' ||
        !isdigit((unsigned char)s[9]) || !isdigit((unsigned char)s[10]) ||
        !isdigit((unsigned char)s[11]) || (s[12] && s[12] != ' ')) {
        show(shown, sizeof shown, s, strlen(s));
        return elm_diag(d, ELM_EINVAL, "not an HTTP/1.x response: status line '%s' (is the "
                                       "target an HTTP server?)", shown);
    }
    r->sum.status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    show(r->sum.reason, sizeof r->sum.reason, s[12] ? s + 13 : "", s[12] ? strlen(s + 13) : 0);
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
        if (r->sum.status == 204 || r->sum.status == 304 || r->length == 0) return body_end(r, t, d);
        if (r->chunked) r->st = ST_CHUNK_SIZE;
        else if (r->length > 0) r->st = ST_LENGTH, r->left = (uint64_t)r->length;
        else r->st = ST_CLOSE;
        return 0;
    }
    if (++r->n_headers > ELM_HTTP_MAX_HEADERS)
        return elm_diag(d, ELM_ERANGE, "more than %d response headers", ELM_HTTP_MAX_HEADERS);
    char *colon = strchr(s, ':');
    if (!colon || colon == s) {
        char shown[64];
        show(shown, sizeof shown, s, strlen(s));
        return elm_diag(d, ELM_EINVAL, "malformed response header '%s'", shown);
    }
    *colon = '\0';
    char *v = colon + 1;
    while (*v == ' ' || *v == '\t') v++;
    if (!strcasecmp(s, "content-length")) {
        uint64_t len = 0;
        const char *c = v;
        while (isdigit((unsigned char)*c) && len < (1ull << 40)) len = len * 10 + (uint64_t)(*c++ - '0');
        while (*c == ' ' || *c == '\t') c++;
        if (c == v || *c || len >= (1ull << 40))
            return elm_diag(d, ELM_EINVAL, "bad Content-Length '%.40s'", v);
        r->length = (int64_t)len;
    } else if (!strcasecmp(s, "transfer-encoding")) {
        for (char *c = v; *c; c++) *c = (char)tolower((unsigned char)*c);
        if (strstr(v, "chunked")) r->chunked = true;
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
    while (*s == ' ' || *s == '\t') s++;
    if (!digits || (*s && *s != ';')) {
        char shown[32];
        show(shown, sizeof shown, r->line, strlen(r->line));
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
    case ST_TRAILER:
        return r->line[0] ? 0 : body_end(r, t, d);
    default: return 0;
    }
}

int elm_http_resp_feed(elm_http_resp_t *r, const char *data, size_t n, uint64_t t_ns,
                       elm_diag_t *d)
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
            rc = body(r, data + i, k, t_ns, d);
            i += k;
            r->left -= k;
            if (!rc && r->left == 0) {
                if (r->st == ST_LENGTH) rc = body_end(r, t_ns, d);
                else r->st = ST_CHUNK_END;
            }
            break;
        }
        case ST_CLOSE:
            rc = body(r, data + i, n - i, t_ns, d);
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
                rc = elm_diag(d, ELM_ERANGE, "response line longer than %d bytes (a broken or "
                                             "hostile server)", ELM_HTTP_MAX_LINE);
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
        int rc = body_end(r, 0, d);
        if (rc) r->st = ST_ERROR;
        return rc;
    }
    case ST_STATUS:
        if (r->sum.status == 0)
            return elm_diag(d, ELM_EIO, "the server closed the connection without a response");
        return elm_diag(d, ELM_EIO, "the server closed the connection after an interim %d "
                                    "response", r->sum.status);
    case ST_HEADERS:
        return elm_diag(d, ELM_EIO, "the server closed the connection before the response "
                                    "headers ended");
    case ST_LENGTH:
        return elm_diag(d, ELM_EIO, "the server closed the connection %" PRIu64 " bytes short "
                                    "of its Content-Length", r->left);
    case ST_ERROR: return elm_diag(d, ELM_EINVAL, "the response failed to parse");
    default:
        if (r->sum.done && ok_status(r)) return 0; /* [DONE] seen: the stream's content is whole */
        return elm_diag(d, ELM_EIO, "the server closed the connection in the middle of a chunked "
                                    "body (no last chunk)");
    }
}
