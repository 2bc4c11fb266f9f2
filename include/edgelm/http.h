/* edgelm http: a small HTTP/1.1 client for OpenAI-compatible streaming endpoints: the endpoint
 * URL, a streaming parser of one response carrying a server-sent-event stream of chat completion
 * chunks, and the request exchange over a plain socket with each read timestamped (for TTFT).
 * `edgelm bench --target` uses it; serve and the gateway build on it. */
#ifndef EDGELM_HTTP_H
#define EDGELM_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgelm/base.h"

#ifdef __cplusplus
extern "C" {
#endif

struct addrinfo;

/* ---- limits ---- */

/* Limits on what a server may send: a longer status, header or chunk-size line, more headers,
 * or a longer SSE line or event is an error naming the limit, never a crash or an unbounded
 * allocation. An error response's body is kept up to ELM_HTTP_MAX_ERROR_BODY bytes. */
#define ELM_HTTP_MAX_LINE       8192
#define ELM_HTTP_MAX_HEADERS    128
#define ELM_HTTP_MAX_EVENT      65536
#define ELM_HTTP_MAX_ERROR_BODY 16384

/* ---- URL (url.c) ---- */

/* An OpenAI-compatible endpoint: http://HOST:PORT[/path], HOST a name, an IPv4 address or an
 * IPv6 one in brackets. The path defaults to /v1/chat/completions; a path not ending in
 * /chat/completions (Ollama's "/v1") gets it appended. */
typedef struct {
    char host[256];
    char port[8];
    char path[512];
} elm_http_url_t;

/* Parse url into *out; ELM_EINVAL naming the problem (https is not supported: put a plain-HTTP
 * proxy in front). */
int elm_http_url_parse(const char *url, elm_http_url_t *out, elm_diag_t *d);

/* ---- response parser (response.c, sse.c) ---- */

/* What the response parser has seen so far. */
typedef struct {
    int status;           /* HTTP status; 0 until the status line is read */
    char reason[64];      /* its reason phrase */
    uint32_t n_content;   /* SSE events with non-empty choices[0].delta.content (or .text) */
    int64_t usage_tokens; /* usage.completion_tokens of the last usage object; -1 when none */
    bool done;            /* "data: [DONE]" seen */
    bool complete;        /* the body ended as its framing (length, chunks, close) says */
    char error[256];      /* the server's error message: an error status's body, or an SSE
                             event carrying "error"; "" when none */
} elm_http_summary_t;

typedef struct elm_http_resp elm_http_resp_t;

/* A streaming parser of one HTTP/1.1 response carrying a server-sent-event stream of chat
 * completion chunks (untrusted input): status line, headers, a Content-Length, chunked or
 * read-to-close body, then `data: {...}` events and `data: [DONE]`. on_content (may be NULL) is
 * called with the t_ns of the feed call for each content event. Caller owns *out. */
int elm_http_resp_create(void (*on_content)(void *user, uint64_t t_ns), void *user,
                         elm_http_resp_t **out, elm_diag_t *d);
/* Feed the next n received bytes, read at time t_ns. ELM_EINVAL for a malformed response or
 * event, ELM_ERANGE for a limit exceeded, each with the reason; after an error the parser takes
 * nothing more. Bytes after the end of the response are ignored. */
int elm_http_resp_feed(elm_http_resp_t *r, const char *data, size_t n, uint64_t t_ns,
                       elm_diag_t *d);
/* The connection closed: ELM_EIO when the response was cut short (headers unfinished, fewer
 * bytes than Content-Length, no last chunk); a read-to-close body ends here. */
int elm_http_resp_eof(elm_http_resp_t *r, elm_diag_t *d);
/* True once the response is complete (its framing ended, or [DONE] in an OK stream). */
bool elm_http_resp_finished(const elm_http_resp_t *r);
const elm_http_summary_t *elm_http_resp_summary(const elm_http_resp_t *r);
void elm_http_resp_free(elm_http_resp_t *r); /* accepts NULL */

/* ---- client (client.c) ---- */

/* The text of a POST of the JSON body to u's path that asks for an event stream (Host, User-Agent
 * edgelm/VERSION, Content-Type, Accept, Content-Length, Connection: close), malloc'd and
 * NUL-terminated, its length in *len; the caller frees it. NULL when out of memory. */
char *elm_http_post_text(const elm_http_url_t *u, const char *body, size_t *len);

/* One request and its streamed response: connect to the first of addrs (getaddrinfo of u's host
 * and port, resolved once by the caller, shared by any number of threads) that accepts, send
 * req[0..len), and feed what comes back to resp, each read stamped with elm_time_ns() when it
 * returned, until resp is finished or the server closes the connection. deadline_ns (the
 * elm_time_ns clock) bounds the whole exchange; timeout_s is the budget it came from, for the
 * message. Returns 0 (then resp's summary says what the server sent, an HTTP error status
 * included), or an error whose message names host:port and the cause: connection refused or
 * failed, timed out, a send or read error, a malformed or cut-short response. The caller owns
 * resp and the request text. */
int elm_http_exchange(const elm_http_url_t *u, const struct addrinfo *addrs, const char *req,
                      size_t len, uint64_t deadline_ns, double timeout_s, elm_http_resp_t *resp,
                      elm_diag_t *d);

#ifdef __cplusplus
}
#endif
#endif
