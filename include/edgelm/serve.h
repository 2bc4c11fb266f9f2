/* edgelm serve: the OpenAI-compatible HTTP server behind `edgelm serve`: the server core (libevent's
 * evhttp: routing, limits, keys, admission, the request log) and the backend interface the
 * scheduler answers through. */
#ifndef EDGELM_SERVE_H
#define EDGELM_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgelm/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- server ---- */

/* The endpoints the server routes, each an exact path and one method; any other path is a 404,
 * a known path with another method a 405. */
typedef enum {
    ELM_SERVER_EP_CHAT = 0,    /* POST /v1/chat/completions */
    ELM_SERVER_EP_COMPLETIONS, /* POST /v1/completions */
    ELM_SERVER_EP_MODELS,      /* GET  /v1/models */
    ELM_SERVER_EP_HEALTH,      /* GET  /health */
    ELM_SERVER_EP_TOKENIZE,    /* POST /tokenize */
    ELM_SERVER_EP_DETOKENIZE,  /* POST /detokenize */
    ELM_SERVER_EP_METRICS,     /* GET  /metrics */
    ELM_SERVER_EP_COUNT
} elm_server_endpoint_t;

/* The path of an endpoint ("/v1/chat/completions"); "" for a value out of range. */
const char *elm_server_endpoint_path(elm_server_endpoint_t ep);

/* Limits that are not parameters: the largest request head evhttp reads, and how many requests
 * to the endpoints that do not generate (models, health, tokenize, detokenize, metrics) may be
 * waiting for the backend at once. */
#define ELM_SERVER_MAX_HEADERS  (64 * 1024)
#define ELM_SERVER_MAX_AUX      64
/* A connection that stays silent (no request, or a reply it does not read) this long is closed. */
#define ELM_SERVER_IO_TIMEOUT_S 60

/* What elm_server_create needs; start from elm_server_params_default(). */
typedef struct {
    const char *host;         /* address to bind, "127.0.0.1" by default */
    int port;                 /* 0: any free port (elm_server_port() tells which) */
    const char *api_key;      /* NULL or "": no key; else every /v1/ path needs
                                 "Authorization: Bearer KEY" */
    size_t max_body;          /* larger request bodies get 413 (default 1 MiB) */
    int slots;                /* generation requests running at once (default 1) */
    int max_queue;            /* generation requests waiting beyond the slots (default 32);
                                 one more gets 503 with Retry-After: 1 */
    double timeout_s;         /* on stop, how long running requests may finish before the
                                 backend is asked to cancel them (default 10) */
    size_t max_stream_buffer; /* a stream's bytes not yet taken by its client; past this the
                                 client is cut off as if it had gone (default 1 MiB) */
    bool log_json;            /* the request log as one JSON object per line, else text */
    /* One line per request (no newline), on the loop thread; NULL sends it to elm_log() at
     * ELM_LOG_INFO. A line never holds the key or the body. */
    void (*log)(void *user, const char *line);
    void *log_user;
} elm_server_params_t;

/* Fill *p with the defaults above (port 8080). */
void elm_server_params_default(elm_server_params_t *p);

/* What the backend reports about a request, for the log line; set with elm_server_req_usage(). */
typedef struct {
    int64_t prompt_tokens;     /* -1: not reported */
    int64_t completion_tokens; /* -1: not reported */
    double ttft_s;             /* time to first token; < 0: not reported (a stream then counts
                                  from its first elm_server_stream_write) */
} elm_server_usage_t;

typedef struct elm_server elm_server_t;
typedef struct elm_server_req elm_server_req_t;

/* The backend the server hands routed, authorised and admitted requests to (in `serve`, the
 * scheduler). Both hooks run on the loop thread and must not block. */
typedef struct {
    void *user;
    /* A new request: read it with elm_server_req_endpoint/_body, answer it now or later from any
     * thread. The backend must end every request it is handed with exactly one elm_server_reply()
     * or, after elm_server_stream_begin(), one elm_server_stream_end(), even when it was
     * cancelled: that call gives the request back, and req is invalid after it. */
    void (*handle)(void *user, elm_server_req_t *req);
    /* The client went away (or stop's timeout passed, or the client stopped reading its stream):
     * stop working on req at the next step and end it as above. After a stop's cancel the client
     * is still there, so a last chunk (the finish_reason, [DONE]) still reaches it. May be NULL. */
    void (*cancel)(void *user, elm_server_req_t *req);
} elm_server_backend_t;

/* Bind p->host:p->port and set up the server; nothing is accepted until elm_server_run().
 * backend is copied. Returns 0 and *out (free with elm_server_free), or ELM_EINVAL (bad
 * parameters), ELM_EIO (the address cannot be bound: in use, not local), ELM_ENOMEM, with a
 * message naming host:port; *out is NULL then. */
int elm_server_create(const elm_server_params_t *p, const elm_server_backend_t *backend,
                      elm_server_t **out, elm_diag_t *d);

/* The bound port (the one chosen when p->port was 0). */
int elm_server_port(const elm_server_t *s);

/* Run the event loop on the calling thread until elm_server_stop(): then stop accepting, let the
 * running requests finish for up to p->timeout_s, ask the backend to cancel those left, wait up
 * to p->timeout_s more for it to end them, and return 0 (ELM_EIO when the loop failed). SIGPIPE
 * is blocked on this thread while it runs, so a client that went away is an error, not the end
 * of the process. Call once. */
int elm_server_run(elm_server_t *s);

/* Ask a running server to stop: thread-safe and async-signal-safe (an atomic flag and a write to
 * a pipe), so a SIGINT/SIGTERM handler may call it. */
void elm_server_stop(elm_server_t *s);

/* Close the server and every connection. Call after elm_server_run() returned and the backend
 * has stopped calling into it; requests it never ended are freed here. Accepts NULL. */
void elm_server_free(elm_server_t *s);

/* How many generation requests the backend holds now (running or waiting), for /health. */
int elm_server_admitted(elm_server_t *s);

/* The request's endpoint. */
elm_server_endpoint_t elm_server_req_endpoint(const elm_server_req_t *req);

/* The request body (NUL-terminated, owned by the request, valid until it is ended) and its
 * length in *len (may be NULL). Any thread. */
const char *elm_server_req_body(const elm_server_req_t *req, size_t *len);

/* True once the client went away or the server asked for the request to be cancelled. Any
 * thread. */
bool elm_server_req_cancelled(const elm_server_req_t *req);

/* Record what the request cost, for its log line; call before ending it. Any thread. */
void elm_server_req_usage(elm_server_req_t *req, const elm_server_usage_t *u);

/* Answer req with a whole response: status, Content-Type (NULL: application/json) and
 * body[0..len), copied. Ends the request (req is invalid after). Any thread. Returns 0, or
 * ELM_EIO when the client is gone (the request is still ended), ELM_ENOMEM (ended too, the
 * client's connection is dropped). */
int elm_server_reply(elm_server_req_t *req, int status, const char *content_type,
                     const char *body, size_t len);

/* Answer req with an error in OpenAI's shape {"error":{"message","type","param","code"}}:
 * param and code may be NULL (JSON null). Ends the request, returns as elm_server_reply. */
int elm_server_reply_error(elm_server_req_t *req, int status, const char *type,
                           const char *param, const char *code, const char *message);

/* Start a streamed answer: 200, Content-Type: text/event-stream, chunked. Any thread. Returns 0,
 * or ELM_EIO when the client is gone; end the request with elm_server_stream_end() either way. */
int elm_server_stream_begin(elm_server_req_t *req);

/* Send data[0..len) (copied) as the next chunk of the stream. Any thread. Returns 0, ELM_EIO
 * when the client is gone, or ELM_ERANGE when more than p->max_stream_buffer bytes are waiting
 * for the client (it is then cut off and cancelled). */
int elm_server_stream_write(elm_server_req_t *req, const char *data, size_t len);

/* End the stream (the last chunk) and the request; req is invalid after. Any thread. Returns 0
 * or ELM_EIO when the client is gone. */
int elm_server_stream_end(elm_server_req_t *req);

#ifdef __cplusplus
}
#endif
#endif
