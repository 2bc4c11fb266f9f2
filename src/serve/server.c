/* The HTTP server core of `edgelm serve` on libevent's evhttp: routing, the key check, admission,
 * the request log, and the queue that carries a backend's answers from any thread to the loop. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "edgelm/serve.h"

/* ---- routes ---- */

static const struct {
    const char *path;
    enum evhttp_cmd_type method;
} routes[ELM_SERVER_EP_COUNT] = {
    [ELM_SERVER_EP_CHAT] = {"/v1/chat/completions", EVHTTP_REQ_POST},
    [ELM_SERVER_EP_COMPLETIONS] = {"/v1/completions", EVHTTP_REQ_POST},
    [ELM_SERVER_EP_MODELS] = {"/v1/models", EVHTTP_REQ_GET},
    [ELM_SERVER_EP_HEALTH] = {"/health", EVHTTP_REQ_GET},
    [ELM_SERVER_EP_TOKENIZE] = {"/tokenize", EVHTTP_REQ_POST},
    [ELM_SERVER_EP_DETOKENIZE] = {"/detokenize", EVHTTP_REQ_POST},
    [ELM_SERVER_EP_METRICS] = {"/metrics", EVHTTP_REQ_GET},
    [ELM_SERVER_EP_CLUSTER] = {"/v1/cluster", EVHTTP_REQ_GET},
};

const char *elm_server_endpoint_path(elm_server_endpoint_t ep)
{
    return (unsigned)ep < ELM_SERVER_EP_COUNT ? routes[ep].path : "";
}

static const char *elm__method_name(enum evhttp_cmd_type m)
{
    switch (m) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_TRACE: return "TRACE";
    case EVHTTP_REQ_CONNECT: return "CONNECT";
    case EVHTTP_REQ_PATCH: return "PATCH";
    }
    return "?";
}

/* ---- types ---- */

/* What a backend call asks the loop thread to do. */
enum { OP_REPLY, OP_BEGIN, OP_WRITE, OP_END };

typedef struct elm__op {
    struct elm__op *next;
    elm_server_req_t *req;
    int kind, status;
    size_t len;        /* body or chunk bytes in data */
    const char *ctype; /* OP_REPLY: points into data, after the body */
    char data[];
} elm__op_t;

struct elm_server_req {
    elm_server_t *srv;
    elm_server_req_t *prev, *next;  /* the live list (loop thread) */
    struct evhttp_request *ev;      /* NULL once evhttp is done with it (loop thread) */
    struct evhttp_connection *conn; /* valid while ev is */
    struct event *close_ev;         /* the peer's hang-up, noticed while the backend works */
    elm_server_endpoint_t endpoint;
    enum evhttp_cmd_type method;
    char path[32];
    bool generation; /* counted against slots + max_queue */
    void *user;      /* the backend's */
    struct elm__op *end_op; /* OP_END, allocated up front (see elm__push_end) */
    char *body;
    size_t body_len;
    uint64_t t_start_ns, t_first_ns;
    elm_server_usage_t usage; /* srv->mu */
    size_t pending;           /* stream bytes queued, not yet handed to evhttp (srv->mu) */
    bool cut_off;             /* the stream outgrew max_stream_buffer (srv->mu) */
    atomic_bool cancelled; /* the backend should stop working on it */
    atomic_bool gone;      /* no client to write to any more (a stop's cancel leaves it there) */
    /* loop thread: */
    bool ended;       /* the backend's last call was carried out */
    bool streaming;   /* the stream's head was sent */
    bool http_done;   /* evhttp sent the whole reply, or the connection closed */
    bool cancel_sent; /* backend->cancel was called */
    int status;
};

struct elm_server {
    elm_server_params_t p; /* host and api_key point at our copies */
    size_t key_len;
    elm_server_backend_t be;
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
    struct event *wake_ev, *timer_ev;
    int wake[2]; /* the self-pipe: backend threads and elm_server_stop write, the loop reads */
    int port;
    pthread_mutex_t mu; /* the op queue and the fields marked srv->mu */
    elm__op_t *ops_head, *ops_tail;
    atomic_bool stop;
    atomic_int admitted;
    /* loop thread: */
    int aux;      /* non-generation requests the backend holds */
    int stopping; /* 0 running, 1 letting requests finish, 2 cancelled them */
    elm_server_req_t *live;
    int n_live;
};

void elm_server_params_default(elm_server_params_t *p)
{
    memset(p, 0, sizeof *p);
    p->host = "127.0.0.1";
    p->port = 8080;
    p->max_body = 1u << 20;
    p->slots = 1;
    p->max_queue = 32;
    p->timeout_s = 10;
    p->max_stream_buffer = 1u << 20;
    p->endpoints = ELM_SERVER_EPS_SERVE;
}

/* ---- the request log ---- */

/* Copy at most cap - 1 bytes of untrusted s into out, any byte that could break a text or JSON
 * line (controls, quotes, backslashes, non-ASCII) as '?'. */
static void elm__sanitize(const char *s, char *out, size_t cap)
{
    size_t i = 0;
    for (; s[i] && i + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') ? '?' : (char)c;
    }
    out[i] = '\0';
}

static void elm__log(elm_server_t *s, enum evhttp_cmd_type method, const char *path, int status,
                     const elm_server_usage_t *u, double ttft_s, uint64_t t_start_ns,
                     bool cancelled)
{
    char safe[128], prompt[24] = "-", compl[24] = "-", ttft[32] = "-", line[512];
    elm__sanitize(path, safe, sizeof safe);
    double ms = (double)(elm_time_ns() - t_start_ns) / 1e6;
    bool js = s->p.log_json;
    if (u && u->prompt_tokens >= 0) snprintf(prompt, sizeof prompt, "%lld", (long long)u->prompt_tokens);
    else if (js) strcpy(prompt, "null");
    if (u && u->completion_tokens >= 0)
        snprintf(compl, sizeof compl, "%lld", (long long)u->completion_tokens);
    else if (js) strcpy(compl, "null");
    if (ttft_s >= 0) snprintf(ttft, sizeof ttft, "%.1f", ttft_s * 1e3);
    else if (js) strcpy(ttft, "null");
    if (js)
        snprintf(line, sizeof line,
                 "{\"method\":\"%s\",\"path\":\"%s\",\"status\":%d,\"prompt_tokens\":%s,"
                 "\"completion_tokens\":%s,\"ttft_ms\":%s,\"duration_ms\":%.1f,\"cancelled\":%s}",
                 elm__method_name(method), safe, status, prompt, compl, ttft, ms,
                 cancelled ? "true" : "false");
    else
        snprintf(line, sizeof line, "%s %s %d prompt=%s completion=%s ttft_ms=%s ms=%.1f%s",
                 elm__method_name(method), safe, status, prompt, compl, ttft, ms,
                 cancelled ? " cancelled" : "");
    if (s->p.log) s->p.log(s->p.log_user, line);
    else elm_log(ELM_LOG_INFO, "%s", line);
}

/* ---- answers the server gives itself ---- */

/* The reason phrases evhttp's table lacks ("Client Error" otherwise); NULL: evhttp's. */
static const char *elm__reason(int status)
{
    switch (status) {
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return NULL;
    }
}

/* OpenAI's error object as a malloc'd JSON string (the caller frees it); NULL when out of
 * memory. param and code may be NULL (JSON null). */
static char *elm__error_json(const char *type, const char *param, const char *code,
                             const char *message)
{
    char *out = NULL;
    cJSON *root = cJSON_CreateObject(), *err = cJSON_AddObjectToObject(root, "error");
    if (!err || !cJSON_AddStringToObject(err, "message", message) ||
        !cJSON_AddStringToObject(err, "type", type))
        goto fail;
    if (!(param ? cJSON_AddStringToObject(err, "param", param) : cJSON_AddNullToObject(err, "param")))
        goto fail;
    if (!(code ? cJSON_AddStringToObject(err, "code", code) : cJSON_AddNullToObject(err, "code")))
        goto fail;
    out = cJSON_PrintUnformatted(root);
fail:
    cJSON_Delete(root);
    return out;
}

/* Answer ev at once with an OpenAI error (a request the backend never sees), and log it. */
static void elm__refuse(elm_server_t *s, struct evhttp_request *ev, const char *path,
                        uint64_t t0, int status, const char *type, const char *code,
                        const char *message, const char *hdr, const char *hdr_value)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(ev);
    char *body = elm__error_json(type, NULL, code, message);
    evhttp_add_header(h, "Content-Type", "application/json");
    if (hdr) evhttp_add_header(h, hdr, hdr_value);
    if (body) evbuffer_add(evhttp_request_get_output_buffer(ev), body, strlen(body));
    free(body);
    elm__log(s, evhttp_request_get_command(ev), path, status, NULL, -1, t0, false);
    evhttp_send_reply(ev, status, elm__reason(status), NULL);
}

/* ---- request lifetime (loop thread) ---- */

/* Free r once both sides are through with it: the backend ended it and evhttp sent the reply
 * (or lost the connection). Logs it then, and ends the loop when a stop waits for the last. */
static void elm__maybe_release(elm_server_req_t *r)
{
    elm_server_t *s = r->srv;
    if (!r->ended || !r->http_done) return;
    elm_server_usage_t u;
    pthread_mutex_lock(&s->mu);
    u = r->usage;
    pthread_mutex_unlock(&s->mu);
    double ttft = u.ttft_s >= 0 ? u.ttft_s
                  : r->t_first_ns ? (double)(r->t_first_ns - r->t_start_ns) / 1e9 : -1;
    bool cancelled = atomic_load(&r->cancelled);
    elm__log(s, r->method, r->path, r->status ? r->status : 499, &u, ttft, r->t_start_ns,
             cancelled);
    if (r->prev) r->prev->next = r->next;
    else s->live = r->next;
    if (r->next) r->next->prev = r->prev;
    s->n_live--;
    if (r->close_ev) event_free(r->close_ev);
    free(r->end_op); /* unused when a whole reply ended the request */
    free(r->body);
    free(r);
    if (s->stopping && s->n_live == 0) event_base_loopbreak(s->base);
}

/* Ask the backend to drop r (once, and only while it still holds it). */
static void elm__cancel(elm_server_req_t *r)
{
    atomic_store(&r->cancelled, true);
    if (r->ended || r->cancel_sent) return;
    r->cancel_sent = true;
    if (r->srv->be.cancel) r->srv->be.cancel(r->srv->be.user, r);
}

/* evhttp is done with r's connection: detach from it and cancel what the backend still runs. */
static void elm__conn_gone(elm_server_req_t *r)
{
    if (r->http_done) return;
    /* evhttp detaches a request from a connection that failed while the reply was unfinished;
     * such a request is ours to free. One still attached is freed by evhttp with the connection. */
    if (r->ev && !evhttp_request_get_connection(r->ev)) evhttp_request_free(r->ev);
    r->ev = NULL;
    r->conn = NULL;
    r->http_done = true;
    atomic_store(&r->gone, true);
    if (r->close_ev) event_del(r->close_ev);
    elm__cancel(r);
    elm__maybe_release(r);
}

static void elm__on_conn_close(struct evhttp_connection *c, void *arg)
{
    (void)c;
    elm__conn_gone(arg);
}

/* Close r's connection now (the peer hung up, or does not read its stream). */
static void elm__drop(elm_server_req_t *r)
{
    struct evhttp_connection *c = r->conn;
    if (!c || r->http_done) return;
    evhttp_connection_set_closecb(c, NULL, NULL);
    elm__conn_gone(r);
    evhttp_connection_free(c);
}

static void elm__on_peer_closed(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    elm__drop(arg);
}

static void elm__on_complete(struct evhttp_request *ev, void *arg)
{
    (void)ev;
    elm_server_req_t *r = arg;
    /* evhttp frees ev and may reuse or close the connection right after this */
    if (r->conn) evhttp_connection_set_closecb(r->conn, NULL, NULL);
    if (r->close_ev) event_del(r->close_ev);
    r->ev = NULL;
    r->conn = NULL;
    r->http_done = true;
    elm__maybe_release(r);
}

/* The backend's last call for r was carried out: its slot (or aux place) is free again. */
static void elm__ended(elm_server_req_t *r)
{
    r->ended = true;
    if (r->generation) atomic_fetch_sub(&r->srv->admitted, 1);
    else r->srv->aux--;
    elm__maybe_release(r);
}

/* ---- carrying out backend calls (loop thread) ---- */

static void elm__send_whole(elm_server_req_t *r, int status, const char *ctype, const char *body,
                            size_t len)
{
    if (!r->ev) return; /* the client is gone: logged as 499 */
    r->status = status;
    evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Content-Type", ctype);
    evbuffer_add(evhttp_request_get_output_buffer(r->ev), body, len);
    evhttp_send_reply(r->ev, status, elm__reason(status), NULL);
}

static void elm__apply(elm_server_t *s, elm__op_t *op)
{
    elm_server_req_t *r = op->req;
    bool cut;
    pthread_mutex_lock(&s->mu);
    if (op->kind == OP_WRITE) r->pending -= op->len;
    cut = r->cut_off;
    pthread_mutex_unlock(&s->mu);
    if (cut) elm__drop(r);
    switch (op->kind) {
    case OP_REPLY:
        elm__send_whole(r, op->status, op->ctype, op->data, op->len);
        elm__ended(r);
        break;
    case OP_BEGIN:
        if (r->streaming) break;
        r->streaming = true;
        if (!r->ev) break;
        r->status = 200;
        evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Content-Type",
                          "text/event-stream");
        evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Cache-Control", "no-cache");
        evhttp_send_reply_start(r->ev, 200, NULL);
        break;
    case OP_WRITE: {
        if (!r->ev || !r->streaming || op->len == 0) break;
        if (!r->t_first_ns) r->t_first_ns = elm_time_ns();
        struct evbuffer *b = evhttp_request_get_output_buffer(r->ev);
        evbuffer_add(b, op->data, op->len);
        evhttp_send_reply_chunk(r->ev, b);
        struct bufferevent *bev = evhttp_connection_get_bufferevent(r->conn);
        if (evbuffer_get_length(bufferevent_get_output(bev)) > s->p.max_stream_buffer) {
            elm__drop(r);
        }
        break;
    }
    case OP_END:
        if (r->streaming) {
            if (r->ev) evhttp_send_reply_end(r->ev);
        } else {
            /* ended without an answer (or the answer could not be queued) */
            char *body = elm__error_json("server_error", NULL, NULL,
                                         "the server could not produce an answer");
            const char *b = body ? body : "{}";
            elm__send_whole(r, 500, "application/json", b, strlen(b));
            free(body);
        }
        elm__ended(r);
        break;
    }
}

static void elm__begin_stop(elm_server_t *s);

static void elm__on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    elm_server_t *s = arg;
    char buf[256];
    while (read(fd, buf, sizeof buf) > 0) {}
    pthread_mutex_lock(&s->mu);
    elm__op_t *op = s->ops_head;
    s->ops_head = s->ops_tail = NULL;
    pthread_mutex_unlock(&s->mu);
    while (op) {
        elm__op_t *next = op->next;
        elm__apply(s, op);
        free(op);
        op = next;
    }
    if (atomic_load(&s->stop) && !s->stopping) elm__begin_stop(s);
}

/* ---- backend calls (any thread) ---- */

static void elm__wake(elm_server_t *s)
{
    /* a full pipe already holds a wake-up, so EAGAIN is fine */
    ssize_t n = write(s->wake[1], "w", 1);
    (void)n;
}

/* Queue op for the loop thread. */
static void elm__push(elm_server_t *s, elm__op_t *op)
{
    pthread_mutex_lock(&s->mu);
    bool was_empty = !s->ops_head;
    op->next = NULL;
    if (s->ops_tail) s->ops_tail->next = op;
    else s->ops_head = op;
    s->ops_tail = op;
    pthread_mutex_unlock(&s->mu);
    /* one byte per batch: the loop takes the whole queue after draining the pipe */
    if (was_empty) elm__wake(s);
}

static elm__op_t *elm__op_new(elm_server_req_t *req, int kind, size_t extra)
{
    elm__op_t *op = malloc(sizeof *op + extra + 1);
    if (!op) return NULL;
    memset(op, 0, sizeof *op);
    op->req = req;
    op->kind = kind;
    return op;
}

/* Queue the request's last call through the op allocated with it, so that ending a request
 * never fails for want of memory. */
static void elm__push_end(elm_server_req_t *req)
{
    elm__op_t *op = req->end_op;
    req->end_op = NULL;
    elm__push(req->srv, op);
}

int elm_server_reply(elm_server_req_t *req, int status, const char *content_type,
                     const char *body, size_t len)
{
    const char *ct = content_type ? content_type : "application/json";
    size_t ct_len = strlen(ct);
    elm__op_t *op = elm__op_new(req, OP_REPLY, len + 1 + ct_len);
    if (!op) {
        elm__push_end(req);
        return ELM_ENOMEM;
    }
    op->status = status;
    op->len = len;
    if (len) memcpy(op->data, body, len);
    op->data[len] = '\0';
    memcpy(op->data + len + 1, ct, ct_len + 1);
    op->ctype = op->data + len + 1;
    bool gone = atomic_load(&req->gone);
    elm__push(req->srv, op);
    return gone ? ELM_EIO : 0;
}

int elm_server_reply_error(elm_server_req_t *req, int status, const char *type,
                           const char *param, const char *code, const char *message)
{
    char *body = elm__error_json(type, param, code, message);
    if (!body) {
        elm__push_end(req);
        return ELM_ENOMEM;
    }
    int rc = elm_server_reply(req, status, "application/json", body, strlen(body));
    free(body);
    return rc;
}

int elm_server_stream_begin(elm_server_req_t *req)
{
    elm__op_t *op = elm__op_new(req, OP_BEGIN, 0);
    if (!op) return ELM_ENOMEM; /* elm_server_stream_end then answers 500 */
    elm__push(req->srv, op);
    return atomic_load(&req->gone) ? ELM_EIO : 0;
}

int elm_server_stream_write(elm_server_req_t *req, const char *data, size_t len)
{
    elm_server_t *s = req->srv;
    if (atomic_load(&req->gone)) return ELM_EIO;
    pthread_mutex_lock(&s->mu);
    bool over = req->pending + len > s->p.max_stream_buffer;
    if (over) req->cut_off = true;
    else req->pending += len;
    pthread_mutex_unlock(&s->mu);
    if (over) {
        /* the loop drops the connection when it carries out this request's next call */
        atomic_store(&req->cancelled, true);
        atomic_store(&req->gone, true);
        return ELM_ERANGE;
    }
    elm__op_t *op = elm__op_new(req, OP_WRITE, len);
    if (!op) {
        pthread_mutex_lock(&s->mu);
        req->pending -= len;
        pthread_mutex_unlock(&s->mu);
        return ELM_ENOMEM;
    }
    op->len = len;
    memcpy(op->data, data, len);
    elm__push(s, op);
    return 0;
}

int elm_server_stream_end(elm_server_req_t *req)
{
    bool gone = atomic_load(&req->gone);
    elm__push_end(req);
    return gone ? ELM_EIO : 0;
}

struct event_base *elm_server_event_base(elm_server_t *s)
{
    return s->base;
}

const char *elm_server_req_header(const elm_server_req_t *req, const char *name)
{
    return req->ev ? evhttp_find_header(evhttp_request_get_input_headers(req->ev), name) : NULL;
}

void elm_server_req_set_header(elm_server_req_t *req, const char *name, const char *value)
{
    if (req->ev) evhttp_add_header(evhttp_request_get_output_headers(req->ev), name, value);
}

void elm_server_req_set_user(elm_server_req_t *req, void *user)
{
    req->user = user;
}

void *elm_server_req_user(const elm_server_req_t *req)
{
    return req->user;
}

elm_server_endpoint_t elm_server_req_endpoint(const elm_server_req_t *req)
{
    return req->endpoint;
}

const char *elm_server_req_body(const elm_server_req_t *req, size_t *len)
{
    if (len) *len = req->body_len;
    return req->body;
}

bool elm_server_req_cancelled(const elm_server_req_t *req)
{
    return atomic_load(&req->cancelled);
}

void elm_server_req_usage(elm_server_req_t *req, const elm_server_usage_t *u)
{
    pthread_mutex_lock(&req->srv->mu);
    req->usage = *u;
    pthread_mutex_unlock(&req->srv->mu);
}

int elm_server_admitted(elm_server_t *s)
{
    return atomic_load(&s->admitted);
}

/* ---- accepting requests (loop thread) ---- */

/* Whether the Authorization header carries "Bearer <the key>", compared in time that depends
 * only on the key's length, so that timing does not tell how much of a guess was right. */
static bool elm__authorised(const elm_server_t *s, struct evhttp_request *ev)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(ev), "Authorization");
    if (!h) return false;
    while (*h == ' ') h++;
    if (strncasecmp(h, "Bearer ", 7) != 0) return false;
    h += 7;
    while (*h == ' ') h++;
    size_t n = strlen(h);
    while (n && h[n - 1] == ' ') n--;
    unsigned diff = n != s->key_len;
    for (size_t i = 0; i < s->key_len; i++) {
        unsigned char c = i < n ? (unsigned char)h[i] : 0;
        diff |= c ^ (unsigned char)s->p.api_key[i];
    }
    return diff == 0;
}

static int elm__route(const elm_server_t *s, const char *path)
{
    for (int i = 0; i < ELM_SERVER_EP_COUNT; i++)
        if ((s->p.endpoints >> i & 1) && strcmp(path, routes[i].path) == 0) return i;
    return -1;
}

/* Send each small write (a stream's event) at once: with Nagle's algorithm an event waits for
 * the previous one's acknowledgement, which a client may delay by 40 ms. */
static void elm__no_delay(struct evhttp_connection *c)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(c);
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    int one = 1;
    if (fd >= 0) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void elm__on_request(struct evhttp_request *ev, void *arg)
{
    elm_server_t *s = arg;
    uint64_t t0 = elm_time_ns();
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ev);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!path || !*path) path = "/";
    enum evhttp_cmd_type method = evhttp_request_get_command(ev);
    char msg[256], safe[128];

    if (s->stopping) {
        elm__refuse(s, ev, path, t0, 503, "unavailable_error", "shutting_down",
                    "the server is shutting down", "Connection", "close");
        return;
    }
    if (s->key_len && strncmp(path, "/v1/", 4) == 0 && !elm__authorised(s, ev)) {
        elm__refuse(s, ev, path, t0, 401, "authentication_error", "invalid_api_key",
                    "missing or invalid API key: send \"Authorization: Bearer KEY\"",
                    "WWW-Authenticate", "Bearer");
        return;
    }
    int ep = elm__route(s, path);
    elm__sanitize(path, safe, sizeof safe);
    if (ep < 0) {
        snprintf(msg, sizeof msg, "no endpoint at %s", safe);
        elm__refuse(s, ev, path, t0, 404, "not_found_error", "not_found", msg, NULL, NULL);
        return;
    }
    if (method != routes[ep].method) {
        const char *want = elm__method_name(routes[ep].method);
        snprintf(msg, sizeof msg, "%s takes %s, not %s", safe, want, elm__method_name(method));
        elm__refuse(s, ev, path, t0, 405, "invalid_request_error", "method_not_allowed", msg,
                    "Allow", want);
        return;
    }
    bool generation = ep == ELM_SERVER_EP_CHAT || ep == ELM_SERVER_EP_COMPLETIONS;
    if (generation ? atomic_load(&s->admitted) >= s->p.slots + s->p.max_queue
                   : s->aux >= ELM_SERVER_MAX_AUX) {
        elm__refuse(s, ev, path, t0, 503, "unavailable_error", "server_busy",
                    "every slot and the queue are full; retry later", "Retry-After", "1");
        return;
    }

    struct evbuffer *in = evhttp_request_get_input_buffer(ev);
    size_t n = evbuffer_get_length(in);
    elm_server_req_t *r = calloc(1, sizeof *r);
    char *body = malloc(n + 1);
    if (!r || !body || evbuffer_copyout(in, body, n) != (ev_ssize_t)n) goto fail;
    if (!(r->end_op = elm__op_new(r, OP_END, 0))) goto fail;
    body[n] = '\0';
    r->srv = s;
    r->ev = ev;
    r->conn = evhttp_request_get_connection(ev);
    r->endpoint = (elm_server_endpoint_t)ep;
    r->method = method;
    snprintf(r->path, sizeof r->path, "%s", routes[ep].path);
    r->generation = generation;
    r->body = body;
    r->body_len = n;
    r->t_start_ns = t0;
    r->usage = (elm_server_usage_t){-1, -1, -1};
    atomic_init(&r->cancelled, false);
    atomic_init(&r->gone, false);
    if (event_base_get_features(s->base) & EV_FEATURE_EARLY_CLOSE) {
        evutil_socket_t fd = bufferevent_getfd(evhttp_connection_get_bufferevent(r->conn));
        r->close_ev = event_new(s->base, fd, EV_CLOSED, elm__on_peer_closed, r);
        if (!r->close_ev || event_add(r->close_ev, NULL) != 0) goto fail;
    }
    evhttp_connection_set_closecb(r->conn, elm__on_conn_close, r);
    evhttp_request_set_on_complete_cb(ev, elm__on_complete, r);
    elm__no_delay(r->conn);
    r->next = s->live;
    if (s->live) s->live->prev = r;
    s->live = r;
    s->n_live++;
    if (generation) atomic_fetch_add(&s->admitted, 1);
    else s->aux++;
    s->be.handle(s->be.user, r);
    return;
fail:
    if (r && r->close_ev) event_free(r->close_ev);
    if (r) free(r->end_op);
    free(r);
    free(body);
    elm__refuse(s, ev, path, t0, 500, "server_error", NULL, "out of memory", NULL, NULL);
}

/* ---- life cycle ---- */

static void elm__on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    elm_server_t *s = arg;
    if (s->stopping == 2) {
        event_base_loopbreak(s->base);
        return;
    }
    s->stopping = 2;
    for (elm_server_req_t *r = s->live; r; r = r->next) elm__cancel(r);
    /* give the backend time to end what it was told to cancel; at least a second, so that a
     * zero timeout still lets the cancels through */
    double t = s->p.timeout_s > 1 ? s->p.timeout_s : 1;
    struct timeval tv = {(time_t)t, (suseconds_t)((t - (double)(time_t)t) * 1e6)};
    evtimer_add(s->timer_ev, &tv);
}

static void elm__begin_stop(elm_server_t *s)
{
    s->stopping = 1;
    if (s->bound) {
        evhttp_del_accept_socket(s->http, s->bound);
        s->bound = NULL;
    }
    if (s->n_live == 0) {
        event_base_loopbreak(s->base);
        return;
    }
    double t = s->p.timeout_s;
    struct timeval tv = {(time_t)t, (suseconds_t)((t - (double)(time_t)t) * 1e6)};
    evtimer_add(s->timer_ev, &tv);
}

int elm_server_create(const elm_server_params_t *p, const elm_server_backend_t *backend,
                      elm_server_t **out, elm_diag_t *d)
{
    int rc = ELM_ENOMEM; /* what a goto fail without its own message means */
    elm_server_t *s = NULL;
    *out = NULL;
    if (!p || !backend || !backend->handle || !p->host || !*p->host || p->port < 0 ||
        p->port > 65535 || p->slots < 1 || p->max_queue < 0 || p->max_body == 0 ||
        p->max_stream_buffer == 0 || !(p->timeout_s >= 0) || p->timeout_s > 86400) {
        rc = elm_diag(d, ELM_EINVAL, "server: invalid parameters (a backend with handle, a host, "
                                     "port 0-65535, slots >= 1, max_queue >= 0, non-zero limits)");
        goto fail;
    }
    s = calloc(1, sizeof *s);
    if (!s) goto fail;
    s->wake[0] = s->wake[1] = -1;
    pthread_mutex_init(&s->mu, NULL);
    s->p = *p;
    s->be = *backend;
    s->p.host = strdup(p->host);
    s->p.api_key = p->api_key && *p->api_key ? strdup(p->api_key) : NULL;
    s->key_len = s->p.api_key ? strlen(s->p.api_key) : 0;
    if (!s->p.host || (p->api_key && *p->api_key && !s->p.api_key)) goto fail;
    if (pipe2(s->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        rc = elm_diag(d, elm_from_errno(errno), "server: cannot make its wake-up pipe (%s)",
                      strerror(errno));
        goto fail;
    }
    if (!(s->base = event_base_new()) || !(s->http = evhttp_new(s->base))) goto fail;
    evhttp_set_max_body_size(s->http, (ev_ssize_t)p->max_body);
    evhttp_set_max_headers_size(s->http, ELM_SERVER_MAX_HEADERS);
    evhttp_set_timeout(s->http, ELM_SERVER_IO_TIMEOUT_S);
    /* every method reaches the router, which answers 405 in OpenAI's shape */
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                            EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(s->http, elm__on_request, s);
    s->bound = evhttp_bind_socket_with_handle(s->http, s->p.host, (ev_uint16_t)p->port);
    if (!s->bound) {
        rc = elm_diag(d, ELM_EIO, "%s:%d: cannot listen (%s; is the port in use, or the address "
                                  "not one of this machine's?)",
                      p->host, p->port, strerror(errno));
        goto fail;
    }
    struct sockaddr_storage sa;
    socklen_t sl = sizeof sa;
    if (getsockname(evhttp_bound_socket_get_fd(s->bound), (struct sockaddr *)&sa, &sl) != 0) {
        rc = elm_diag(d, ELM_EIO, "%s:%d: cannot read the bound port (%s)", p->host, p->port,
                      strerror(errno));
        goto fail;
    }
    s->port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                             : ((struct sockaddr_in *)&sa)->sin_port);
    s->wake_ev = event_new(s->base, s->wake[0], EV_READ | EV_PERSIST, elm__on_wake, s);
    s->timer_ev = evtimer_new(s->base, elm__on_timer, s);
    if (!s->wake_ev || !s->timer_ev || event_add(s->wake_ev, NULL) != 0) goto fail;
    *out = s;
    return 0;
fail:
    if (rc == ELM_ENOMEM) elm_diag(d, rc, "server: out of memory");
    elm_server_free(s);
    return rc;
}

int elm_server_port(const elm_server_t *s)
{
    return s->port;
}

int elm_server_run(elm_server_t *s)
{
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    int rc = event_base_dispatch(s->base) < 0 ? ELM_EIO : 0;
    /* take the SIGPIPEs raised on this thread while blocked, so unblocking does not deliver them */
    struct timespec zero = {0, 0};
    while (sigtimedwait(&pipe_set, NULL, &zero) > 0) {}
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

void elm_server_stop(elm_server_t *s)
{
    int saved = errno;
    atomic_store(&s->stop, true);
    elm__wake(s);
    errno = saved;
}

void elm_server_free(elm_server_t *s)
{
    if (!s) return;
    /* the backend is gone: evhttp_free must not call back into the requests it closes */
    for (elm_server_req_t *r = s->live, *next; r; r = next) {
        next = r->next;
        if (r->conn) evhttp_connection_set_closecb(r->conn, NULL, NULL);
        if (r->ev) evhttp_request_set_on_complete_cb(r->ev, NULL, NULL);
        if (r->close_ev) event_free(r->close_ev);
        free(r->end_op);
        free(r->body);
        free(r);
    }
    for (elm__op_t *op = s->ops_head, *next; op; op = next) {
        next = op->next;
        free(op);
    }
    if (s->http) evhttp_free(s->http);
    if (s->wake_ev) event_free(s->wake_ev);
    if (s->timer_ev) event_free(s->timer_ev);
    if (s->base) event_base_free(s->base);
    if (s->wake[0] >= 0) close(s->wake[0]);
    if (s->wake[1] >= 0) close(s->wake[1]);
    pthread_mutex_destroy(&s->mu);
    free((char *)s->p.host);
    free((char *)s->p.api_key);
    free(s);
}
