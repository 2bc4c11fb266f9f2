/* edgelm serve: the OpenAI-compatible server behind `edgelm serve` — request bodies parsed into
 * sampler and generation parameters, stop strings matched across tokens, the response bodies and
 * SSE chunks, the Prometheus metrics registry (docs/serve.md lists every field and error), and
 * the server core on libevent's evhttp (routing, limits, keys, admission, the request log) with
 * the backend interface the scheduler answers through. */
#ifndef EDGELM_SERVE_H
#define EDGELM_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgelm/base.h"
#include "edgelm/engine.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- requests ----
 * Pure functions over the body's bytes: no I/O, no engine. */

typedef enum {
    ELM_SERVE_CHAT = 0,      /* POST /v1/chat/completions */
    ELM_SERVE_COMPLETION = 1 /* POST /v1/completions */
} elm_serve_endpoint_t;

typedef struct {
    size_t max_body;             /* bodies larger than this get 413; 0: no limit */
    uint32_t default_max_tokens; /* when the request gives none; 0: until the context is full */
} elm_serve_limits_t;

/* An error in OpenAI's shape {"error":{"message","type","param","code"}}, with its HTTP status.
 * Empty param or code strings stand for JSON null. */
typedef struct {
    int status;        /* 400, 413, ...; 0 when no error */
    char type[32];     /* "invalid_request_error", "not_found_error", "server_error", ... */
    char param[96];    /* the field at fault: "temperature", "messages[1].content" */
    char code[32];     /* a machine-readable code, or "" */
    char message[320]; /* names the field and what it accepts */
} elm_serve_error_t;

/* Fill *e (if not NULL) with status, type, param (NULL: none), code (NULL: none) and a
 * printf-style message. Returns status, so callers can write `return elm_serve_error_set(...)`. */
int elm_serve_error_set(elm_serve_error_t *e, int status, const char *type, const char *param,
                        const char *code, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

typedef enum {
    ELM_SERVE_ROLE_SYSTEM = 0,
    ELM_SERVE_ROLE_USER = 1,
    ELM_SERVE_ROLE_ASSISTANT = 2
} elm_serve_role_t;

typedef struct {
    elm_serve_role_t role;
    char *text; /* owned, NUL-terminated; array contents are the text parts joined */
    size_t len;
} elm_serve_message_t;

#define ELM_SERVE_MAX_STOP 4 /* stop strings per request, as OpenAI */
#define ELM_SERVE_MAX_TOP_LOGPROBS 20

typedef struct {
    elm_serve_endpoint_t endpoint;
    char *model; /* owned; NULL when the request names none */

    /* chat: the conversation, at least one message */
    elm_serve_message_t *messages; /* owned, n_messages entries */
    size_t n_messages;

    /* completion: the prompt, as text or as token ids (exactly one is set) */
    char *prompt; /* owned, NUL-terminated; NULL when given as ids */
    size_t prompt_len;
    int32_t *prompt_ids; /* owned; NULL when given as text */
    size_t n_prompt_ids;

    elm_sampler_params_t sampler; /* llama-server's defaults, then the request's fields */
    bool seed_set;                /* false: the caller picks a seed (no seed or seed -1) */

    uint32_t max_tokens; /* max_completion_tokens, else max_tokens, else the limits' default */
    bool max_tokens_set; /* the request gave it (the context check applies) */

    char *stop[ELM_SERVE_MAX_STOP]; /* owned, non-empty, n_stop entries */
    size_t n_stop;

    bool stream;
    bool include_usage; /* stream_options.include_usage */
    bool logprobs;      /* chat: logprobs true; completion: logprobs given (0..5) */
    uint32_t top_logprobs; /* chat: top_logprobs; completion: the logprobs integer */
} elm_serve_request_t;

/* Parse a chat (ep ELM_SERVE_CHAT) or completion request body of len bytes (not necessarily
 * NUL-terminated) under lim. On success returns 0 and *out owns what it points to (free with
 * elm_serve_request_free); on failure returns the HTTP status (400, 413, or 500 when memory ran
 * out), fills *err, and leaves *out empty (safe to free). Unknown fields are ignored and JSON null
 * counts as absent, as OpenAI does. */
int elm_serve_request_parse(const char *body, size_t len, elm_serve_endpoint_t ep,
                            const elm_serve_limits_t *lim, elm_serve_request_t *out,
                            elm_serve_error_t *err);

/* Free what *r owns and empty it. Accepts NULL and empty requests. */
void elm_serve_request_free(elm_serve_request_t *r);

/* POST /tokenize's body, as llama-server: {"content": "...", "add_special": false}. */
typedef struct {
    char *content; /* owned, NUL-terminated */
    size_t len;
    bool add_special; /* add BOS/EOS as the model does; default false */
} elm_serve_tokenize_t;

/* Parse a /tokenize body; ownership, errors and return as elm_serve_request_parse. */
int elm_serve_tokenize_parse(const char *body, size_t len, const elm_serve_limits_t *lim,
                             elm_serve_tokenize_t *out, elm_serve_error_t *err);
void elm_serve_tokenize_free(elm_serve_tokenize_t *t); /* accepts NULL */

/* Parse a /detokenize body {"tokens": [ids]} into *ids (malloc'd, the caller frees; NULL when
 * the list is empty) and *n; errors and return as elm_serve_request_parse. */
int elm_serve_detokenize_parse(const char *body, size_t len, const elm_serve_limits_t *lim,
                               int32_t **ids, size_t *n, elm_serve_error_t *err);

/* ---- stop strings ----
 * Text that could still be the start of a stop string is held back; a stop string is never
 * emitted, also when it spans several pushes, and everything after it is dropped. The earliest
 * stop string to complete wins (at equal ends the longest), so the result does not depend on how
 * the text was split. An unfinished UTF-8 character at the end is held back too. */

typedef struct elm_stop_matcher elm_stop_matcher_t;

typedef struct {
    const char *text; /* bytes safe to emit now (never NULL); valid until the next call */
    size_t len;
    bool stopped;   /* a stop string completed: text ends where it began, later pushes emit nothing */
    int stop_index; /* which stop string completed, or -1 */
} elm_stop_result_t;

/* A matcher for n stop strings (n may be 0: then it only holds back unfinished characters).
 * Empty strings are ignored. The strings are copied. Returns 0 or ELM_ENOMEM; *out is NULL on
 * failure. */
int elm_stop_matcher_create(const char *const *stops, size_t n, elm_stop_matcher_t **out);
void elm_stop_matcher_free(elm_stop_matcher_t *m); /* accepts NULL */

/* Feed len bytes of generated text; *r says what may be emitted now and whether a stop string
 * completed. Returns 0 or ELM_ENOMEM. */
int elm_stop_matcher_push(elm_stop_matcher_t *m, const char *text, size_t len,
                          elm_stop_result_t *r);

/* At the end of generation: *r holds the held-back rest (nothing once stopped). */
void elm_stop_matcher_flush(elm_stop_matcher_t *m, elm_stop_result_t *r);

/* ---- responses ----
 * Every function returns a malloc'd, NUL-terminated JSON text the caller frees with free(), or
 * NULL when memory ran out. Text arguments are bytes with their length; bytes that are not
 * UTF-8 are replaced by U+FFFD so the JSON stays valid. */

typedef enum {
    ELM_SERVE_FINISH_NONE = 0,  /* still running: finish_reason null */
    ELM_SERVE_FINISH_STOP = 1,  /* end of sequence or a stop string */
    ELM_SERVE_FINISH_LENGTH = 2 /* max_tokens or the context */
} elm_serve_finish_t;

/* What every response of one request shares. */
typedef struct {
    elm_serve_endpoint_t endpoint;
    const char *id; /* "chatcmpl-..." or "cmpl-..." (elm_serve_make_id) */
    int64_t created; /* Unix seconds */
    const char *model;
} elm_serve_meta_t;

typedef struct {
    uint32_t prompt_tokens;
    uint32_t completion_tokens;
    uint32_t cached_tokens; /* of prompt_tokens, found in the prompt cache */
} elm_serve_usage_t;

/* One generated token's log-probability, with the most likely alternatives. */
typedef struct {
    const char *text; /* the token's text */
    size_t len;
    float logprob;
} elm_serve_token_logprob_t;

typedef struct {
    elm_serve_token_logprob_t token;
    const elm_serve_token_logprob_t *top; /* n_top entries, best first */
    size_t n_top;
} elm_serve_logprob_t;

/* Write "chatcmpl-<16 hex>" (chat) or "cmpl-<16 hex>" into buf[size] from a random r. */
void elm_serve_make_id(char *buf, size_t size, elm_serve_endpoint_t ep, uint64_t r);

/* The whole non-streamed response: "chat.completion" with choices[0].message, or
 * "text_completion" with choices[0].text, plus usage. lp (n_lp entries, NULL: none) adds the
 * choice's logprobs in the endpoint's shape. */
char *elm_serve_response_json(const elm_serve_meta_t *m, const char *text, size_t len,
                              elm_serve_finish_t finish, const elm_serve_usage_t *u,
                              const elm_serve_logprob_t *lp, size_t n_lp);

/* One streamed chunk: "chat.completion.chunk" whose delta holds the role when first is true and
 * the text, or a "text_completion" chunk. finish other than NONE makes the final chunk (chat:
 * an empty delta). lp as above. */
char *elm_serve_chunk_json(const elm_serve_meta_t *m, bool first, const char *text, size_t len,
                           elm_serve_finish_t finish, const elm_serve_logprob_t *lp, size_t n_lp);

/* The usage chunk stream_options.include_usage asks for: choices [] and usage. */
char *elm_serve_usage_chunk_json(const elm_serve_meta_t *m, const elm_serve_usage_t *u);

/* The SSE event "data: <json>\n\n" (malloc'd, the caller frees; *len_out its length if not
 * NULL), or NULL when memory ran out. */
char *elm_serve_sse_event(const char *json, size_t *len_out);

#define ELM_SERVE_SSE_DONE "data: [DONE]\n\n" /* the stream's last event */

/* The error body {"error":{"message","type","param","code"}}. */
char *elm_serve_error_json(const elm_serve_error_t *e);

/* GET /v1/models: {"object":"list","data":[{"id","object":"model","created","owned_by"}]}. */
char *elm_serve_models_json(const char *id, int64_t created, const char *owned_by);

/* POST /tokenize's answer {"tokens":[...]}. */
char *elm_serve_tokens_json(const int32_t *ids, size_t n);

/* POST /detokenize's answer {"content":"..."}. */
char *elm_serve_content_json(const char *text, size_t len);

/* ---- metrics ----
 * A registry of counters, gauges and histograms with labels, safe to update from any thread, and
 * its rendering in the Prometheus text format. Families are looked up by name. */

typedef struct elm_metrics elm_metrics_t;

typedef enum {
    ELM_METRIC_COUNTER = 0,
    ELM_METRIC_GAUGE = 1,
    ELM_METRIC_HISTOGRAM = 2
} elm_metric_kind_t;

#define ELM_METRICS_MAX_LABELS 4
#define ELM_METRICS_MAX_BUCKETS 24

/* An empty registry; returns 0 or ELM_ENOMEM (*out NULL). */
int elm_metrics_create(elm_metrics_t **out);
void elm_metrics_free(elm_metrics_t *m); /* accepts NULL */

/* Register a family: name and help (copied), its label names (n_labels of them, at most
 * ELM_METRICS_MAX_LABELS), and for a histogram its bucket upper bounds in increasing order (at
 * most ELM_METRICS_MAX_BUCKETS; +Inf is implied). Returns 0, ELM_EEXIST (name taken), ELM_EINVAL
 * (bad name, labels or buckets) or ELM_ENOMEM. */
int elm_metrics_add(elm_metrics_t *m, const char *name, const char *help, elm_metric_kind_t kind,
                    const char *const *labels, size_t n_labels, const double *buckets,
                    size_t n_buckets);

/* Update the series of family name with the given label values (one per label name; NULL when
 * the family has none): add v to a counter (v >= 0), set a gauge to v, or observe v in a
 * histogram. Returns 0, ELM_ENOKEY (no such family), ELM_EKEYTYPE (the family is of another
 * kind), ELM_EINVAL (v negative for a counter, or not finite) or ELM_ENOMEM. */
int elm_metrics_inc(elm_metrics_t *m, const char *name, const char *const *values, double v);
int elm_metrics_set(elm_metrics_t *m, const char *name, const char *const *values, double v);
int elm_metrics_observe(elm_metrics_t *m, const char *name, const char *const *values, double v);

/* The current value of a counter or gauge series (0 when the series has not been touched), or
 * of a histogram's count; for tests and the scheduler. */
double elm_metrics_get(elm_metrics_t *m, const char *name, const char *const *values);

/* The Prometheus text exposition (format 0.0.4): per family "# HELP", "# TYPE" and its series in
 * registration order; histograms as _bucket{le="..."}, _sum and _count. A family without labels
 * shows 0 before its first update. malloc'd, the caller frees; NULL when memory ran out. */
char *elm_metrics_render(elm_metrics_t *m);

/* A registry with the serve families (docs/serve.md): edgelm_requests_total{endpoint,status},
 * the token counters, the latency histograms, the gauges and, when with_energy is true,
 * edgelm_energy_joules_total{source} and edgelm_power_watts{source}. Returns as
 * elm_metrics_create. */
int elm_serve_metrics_create(bool with_energy, elm_metrics_t **out);

/* ---- server ---- */

struct event_base; /* libevent's */

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
    ELM_SERVER_EP_CLUSTER,     /* GET  /v1/cluster (the gateway's) */
    ELM_SERVER_EP_COUNT
} elm_server_endpoint_t;

/* The endpoints `edgelm serve` answers (elm_server_params_t.endpoints' default), and the
 * gateway's. */
#define ELM_SERVER_EPS_SERVE                                                             \
    (1u << ELM_SERVER_EP_CHAT | 1u << ELM_SERVER_EP_COMPLETIONS | 1u << ELM_SERVER_EP_MODELS | \
     1u << ELM_SERVER_EP_HEALTH | 1u << ELM_SERVER_EP_TOKENIZE |                            \
     1u << ELM_SERVER_EP_DETOKENIZE | 1u << ELM_SERVER_EP_METRICS)
#define ELM_SERVER_EPS_GATEWAY                                                           \
    (1u << ELM_SERVER_EP_CHAT | 1u << ELM_SERVER_EP_COMPLETIONS | 1u << ELM_SERVER_EP_MODELS | \
     1u << ELM_SERVER_EP_HEALTH | 1u << ELM_SERVER_EP_METRICS | 1u << ELM_SERVER_EP_CLUSTER)

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
    unsigned endpoints;       /* bit e: endpoint e is routed, the others are 404s
                                 (ELM_SERVER_EPS_SERVE) */
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

/* The event loop the server runs on, for a backend that works on the loop thread itself (the
 * gateway's upstream connections and timers). */
struct event_base *elm_server_event_base(elm_server_t *s);

/* The request's endpoint. */
elm_server_endpoint_t elm_server_req_endpoint(const elm_server_req_t *req);

/* The value of the request's header name (case-insensitive), or NULL; loop thread only, inside
 * the backend's handle hook. */
const char *elm_server_req_header(const elm_server_req_t *req, const char *name);

/* Add a header to the answer the request will get (Retry-After on a 429); loop thread only,
 * before the request is answered. */
void elm_server_req_set_header(elm_server_req_t *req, const char *name, const char *value);

/* A pointer the backend keeps with the request (NULL until set). Any thread. */
void elm_server_req_set_user(elm_server_req_t *req, void *user);
void *elm_server_req_user(const elm_server_req_t *req);

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

/* ---- scheduler ----
 * The engine side of `edgelm serve`: one thread owns the model and a session of n_slots
 * sequences; it answers the server's requests (elm_sched_backend) with continuous batching. */

typedef struct {
    const char *model_path;    /* the GGUF file */
    const char *alias;         /* the model's id in /v1/models and responses; NULL: file name */
    const char *chat_template; /* a family name for chat requests; NULL: the model's */
    int n_slots;               /* requests generated at once, each its own KV sequence */
    uint32_t n_ctx;            /* context of each slot; 0: the trained one, at most 4096 */
    uint32_t n_batch;          /* rows per forward pass: decode tokens plus a prompt chunk */
    int n_threads, n_threads_batch;
    bool use_mmap;
    elm_type_t kv_type;
    int max_queue;               /* for /health: the queue the server admits */
    size_t max_body;             /* request bodies over this get 413 */
    uint32_t default_max_tokens; /* 0: until the slot's context is full */
    /* An open power source (an elm_power_source_t of edgelm/probe.h), borrowed: the caller
     * opens it and closes it after elm_sched_free. Each GET /metrics reads it and reports
     * edgelm_energy_joules_total and edgelm_power_watts labelled with its name; NULL: no
     * energy families. */
    struct elm_power_source *power;
} elm_sched_params_t;

/* 1 slot, batch 512, 1 thread, mapped, F16 cache, queue 32, 1 MiB bodies. */
elm_sched_params_t elm_sched_default_params(void);

typedef struct elm_sched elm_sched_t;

/* Load the model (calling load_hooks' load events; may be NULL), its tokenizer and chat template,
 * and a session of p->n_slots sequences. On failure *out is NULL and d names the cause. */
int elm_sched_create(const elm_sched_params_t *p, const elm_hooks_t *load_hooks, elm_sched_t **out,
                     elm_diag_t *d);

/* The server backend that hands requests to s. */
void elm_sched_backend(elm_sched_t *s, elm_server_backend_t *b);

/* Start / stop the engine thread. Stop lets it end (or drop, when cancelled) what it holds and
 * joins it; call it after elm_server_run() returned and before elm_server_free(). */
int elm_sched_start(elm_sched_t *s, elm_diag_t *d);
void elm_sched_stop(elm_sched_t *s);
void elm_sched_free(elm_sched_t *s); /* stops it first; accepts NULL */

/* What the server holds, for the start-up line. */
typedef struct {
    const char *model_id;
    int n_slots;
    uint32_t n_ctx;
    uint64_t weight_bytes, kv_bytes_per_slot;
    const char *chat_template;
} elm_sched_info_t;
void elm_sched_info(const elm_sched_t *s, elm_sched_info_t *out);

#ifdef __cplusplus
}
#endif

#endif
