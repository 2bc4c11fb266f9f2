/* Internal to src/http: the response parser's state, shared by the HTTP/1.1 framing (response.c)
 * and the server-sent-event body it carries (sse.c). */
#ifndef EDGELM_HTTP_INTERNAL_H
#define EDGELM_HTTP_INTERNAL_H

#include "edgelm/http.h"

typedef enum {
    ST_STATUS = 0, /* the status line */
    ST_HEADERS,    /* header lines up to the empty one */
    ST_CHUNK_SIZE, /* a chunk-size line */
    ST_CHUNK_DATA, /* chunk bytes */
    ST_CHUNK_END,  /* the CRLF after a chunk */
    ST_TRAILER,    /* trailer lines after the last chunk */
    ST_LENGTH,     /* a Content-Length body */
    ST_CLOSE,      /* a body read until the connection closes */
    ST_DONE,       /* complete: further bytes are ignored */
    ST_ERROR       /* a feed failed: nothing more is taken */
} elm__http_state_t;

struct elm_http_resp {
    elm_http_summary_t sum;
    void (*on_content)(void *user, uint64_t t_ns);
    void *user;
    elm__http_state_t st;
    int n_headers;
    bool chunked;
    int64_t length; /* Content-Length, -1 when absent */
    uint64_t left;  /* bytes left in the chunk or the Content-Length body */
    char line[ELM_HTTP_MAX_LINE];
    size_t line_len;
    /* the body: an SSE stream when the status is 2xx, else an error body kept for its message */
    char sse_line[ELM_HTTP_MAX_EVENT];
    size_t sse_len;
    char *event; /* data of the event being read (ELM_HTTP_MAX_EVENT + 1 bytes) */
    size_t event_len;
    bool event_has_data;
    char *err_body; /* ELM_HTTP_MAX_ERROR_BODY + 1 bytes */
    size_t err_len;
};

/* Whether the status is 2xx: the body is then an SSE stream, else an error body. */
bool elm__http_ok_status(const elm_http_resp_t *r);

/* The printable prefix of s[0..n) into out[cap] for a message ('?' for other bytes). */
void elm__http_show(char *out, size_t cap, const char *s, size_t n);

/* Body bytes after de-framing, read at time t: SSE lines of an OK response, else kept (up to
 * ELM_HTTP_MAX_ERROR_BODY) for the error message. */
int elm__http_body(elm_http_resp_t *r, const char *p, size_t n, uint64_t t, elm_diag_t *d);

/* The body ended as its framing says: finish the last event, or keep the error message; the
 * response is then done. */
int elm__http_body_end(elm_http_resp_t *r, uint64_t t, elm_diag_t *d);

#endif
