/* A fake OpenAI-compatible server for the tests: it plays a device or the cloud behind the
 * gateway and the server that bench --target measures, with set speeds, slots and failure modes,
 * and keeps its own record of every request as the ground truth the tests compare against.
 *
 * It binds 127.0.0.1 (or ::1 with --ipv6), prints the port on stdout and serves HTTP/1.1 with
 * keep-alive (Content-Length request bodies up to 1 MiB, "Connection: close" honoured), one
 * thread per connection, until killed or --lifetime.
 *
 * Options:
 *   --tokens N        content chunks per response (default 8; max_tokens in the request caps it)
 *   --per-chunk K     K tokens' text per chunk, usage counting all of them (default 1)
 *   --first-ms F      delay before the first chunk (default 0)
 *   --delay-ms D      delay between chunks (default 0)
 *   --tokens-per-s R  a chunk every 1/R s after --first-ms (instead of --delay-ms)
 *   --slots N         at most N requests generate at once, later ones wait in order (0: no limit)
 *   --model NAME      the model in responses and /v1/models (default: the request's, else "fake")
 *   --expect-key KEY  requests without "Authorization: Bearer KEY" get 401 (recorded)
 *   --mode M          the failure mode at start (below; default ok)
 *   --slow-ms S       the delay between chunks in mode slow (default 500)
 *   --die-after K     content chunks sent before the connection is cut in mode die (default 2)
 *   --always-usage    the usage chunk ends every stream, include_usage or not
 *   --no-usage        never a usage chunk (overrides the above and include_usage)
 *   --length          a Content-Length body instead of chunked transfer encoding for streams
 *   --status CODE     answer every generation with this error status and a JSON error body
 *   --malformed       a non-JSON event after the second chunk
 *   --stall           stop sending after the first chunk (the client must time out)
 *   --port P          bind this port (default 0: a free one)
 *   --lifetime S      exit after S seconds whatever happens (default 120)
 *   --ipv6            listen on ::1 instead
 *
 * Endpoints:
 *   POST /v1/chat/completions, POST /v1/completions: "model", "stream" (default false),
 *     "stream_options.include_usage", "max_tokens" or "max_completion_tokens". Non-streamed: one
 *     chat.completion / text_completion object with usage; streamed: one SSE chunk per content
 *     chunk, the usage chunk (choices [] + usage) when asked, then [DONE].
 *     completion_tokens = min(max_tokens, --tokens) x --per-chunk; prompt_tokens = ceil(bytes of
 *     the prompt text / 4), the prompt text being the completion's prompt (strings concatenated)
 *     or the chat messages' contents concatenated: the same estimate the gateway makes when it
 *     has no vocabulary.
 *   any other POST: a chat completion stream with usage, whatever the body says (bench --target's
 *     path may be anything).
 *   GET /v1/models: a list holding --model (default "fake").
 *   GET /health: 200 {"status":"ok"} in modes ok, slow, 429 and die; 500 in mode 500; no answer
 *     in mode hang.
 *   GET /stats: {"served", "in_flight", "max_in_flight", "queued", "max_queued", "max_held",
 *     "max_concurrent" (= max_in_flight, bench's older name), "mode", "requests": [{"id", "path",
 *     "model", "stream", "start_ms", "slot_ms", "first_ms", "end_ms", "prompt_tokens",
 *     "completion_tokens", "status", "outcome": ok|error|died|client_gone}]}, the last 100,000
 *     requests. Times are ms of CLOCK_MONOTONIC: start when the request was read, slot when it got
 *     a slot, first when its first content byte was sent, end when its last piece was about to be
 *     sent (or the connection ended); null until then. in_flight counts requests holding a slot
 *     (generating), queued those waiting for one, held both. Answered with "Connection: close".
 *   POST /stats/reset: empties the record and the maxima.
 *   POST /fake/mode {"mode": M}: changes the mode for requests read from then on.
 *   The three control endpoints are never failed nor recorded.
 *
 * Modes: ok; slow (a chunk every --slow-ms); 500 (an OpenAI-shaped error body); 429 (the same,
 * with Retry-After: 1); hang (read the request, never answer, hold the connection until the
 * client closes it); die (headers and --die-after chunks, then the socket closed: no terminating
 * chunk, no [DONE]; non-streamed: closed after the headers); refuse (the listening socket is
 * closed, so new connections are refused, and requests other than the control ones on open
 * connections are dropped with the connection; the process stays up until --lifetime). */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BODY_MAX (1u << 20)
#define HEAD_MAX (64u << 10)
#define REC_CAP 100000

enum { M_OK, M_SLOW, M_500, M_429, M_HANG, M_DIE, M_REFUSE, M_COUNT };
static const char *const mode_names[M_COUNT] = {"ok", "slow", "500", "429", "hang", "die", "refuse"};

static struct {
    int tokens, first_ms, delay_ms, status, per_chunk, lifetime, slots, port, slow_ms, die_after;
    double tokens_per_s;
    const char *model, *key;
    int length, malformed, stall, no_usage, always_usage, ipv6;
} opt = {.tokens = 8, .per_chunk = 1, .lifetime = 120, .slow_ms = 500, .die_after = 2};

/* ---- shared state: the mode, the slots, the record ---- */

typedef struct {
    uint64_t id;
    char path[48], model[64];
    bool stream;
    double start_ms, slot_ms, first_ms, end_ms; /* < 0: not yet */
    int prompt_tokens, completion_tokens, status;
    const char *outcome;
} rec_t;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t slot_cv = PTHREAD_COND_INITIALIZER;
static struct {
    int mode, listen_fd;
    int in_flight, max_in_flight, queued, max_queued, held, max_held;
    long served;
    uint64_t ticket_next, ticket_head; /* slots are handed out in arrival order */
    uint64_t next_id, lo;              /* the record holds ids [max(lo, next_id - REC_CAP), next_id) */
    rec_t *ring;
} st;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};
    while (us > 0 && nanosleep(&ts, &ts)) {}
}

static int get_mode(void)
{
    pthread_mutex_lock(&mu);
    int m = st.mode;
    pthread_mutex_unlock(&mu);
    return m;
}

/* The live record of request id, or NULL once reset or overwritten; call with mu held. */
static rec_t *rec_find(uint64_t id)
{
    if (id < st.lo || id >= st.next_id || st.next_id - id > REC_CAP) return NULL;
    return &st.ring[id % REC_CAP];
}

/* Start a record (and count the request as held); returns its id. */
static uint64_t rec_begin(const char *path, const char *model, bool stream, int prompt_tokens)
{
    pthread_mutex_lock(&mu);
    uint64_t id = st.next_id++;
    rec_t *r = &st.ring[id % REC_CAP];
    *r = (rec_t){.id = id, .stream = stream, .start_ms = now_ms(), .slot_ms = -1, .first_ms = -1,
                 .end_ms = -1, .prompt_tokens = prompt_tokens, .outcome = NULL};
    snprintf(r->path, sizeof r->path, "%.47s", path);
    snprintf(r->model, sizeof r->model, "%.63s", model);
    st.served++;
    if (++st.held > st.max_held) st.max_held = st.held;
    pthread_mutex_unlock(&mu);
    return id;
}

/* ---- one generation's progress: slot, counters, record ---- */

typedef struct {
    uint64_t id;
    bool held, slotted, queued;
    int sent; /* content chunks sent */
} gen_t;

/* Wait for a slot (in arrival order) and count the request as in flight. */
static void gen_slot(gen_t *g)
{
    pthread_mutex_lock(&mu);
    if (opt.slots > 0) {
        uint64_t t = st.ticket_next++;
        g->queued = true;
        if (++st.queued > st.max_queued) st.max_queued = st.queued;
        while (t != st.ticket_head || st.in_flight >= opt.slots) pthread_cond_wait(&slot_cv, &mu);
        st.ticket_head++;
        st.queued--;
        g->queued = false;
        pthread_cond_broadcast(&slot_cv);
    }
    g->slotted = true;
    if (++st.in_flight > st.max_in_flight) st.max_in_flight = st.in_flight;
    rec_t *r = rec_find(g->id);
    if (r) r->slot_ms = now_ms();
    pthread_mutex_unlock(&mu);
}

static void gen_first(gen_t *g)
{
    pthread_mutex_lock(&mu);
    rec_t *r = rec_find(g->id);
    if (r && r->first_ms < 0) r->first_ms = now_ms();
    pthread_mutex_unlock(&mu);
}

/* The request ends: frees its slot and stamps end_ms. Called before the last piece of a response,
 * since a client may start its next request as soon as it has read it; idempotent. */
static void gen_end(gen_t *g)
{
    if (!g->held) return;
    g->held = false;
    pthread_mutex_lock(&mu);
    st.held--;
    if (g->slotted) {
        st.in_flight--;
        g->slotted = false;
        pthread_cond_broadcast(&slot_cv);
    }
    rec_t *r = rec_find(g->id);
    if (r) r->end_ms = now_ms();
    pthread_mutex_unlock(&mu);
}

/* Ends the request if not yet ended and sets its status, outcome and the tokens sent. */
static void gen_done(gen_t *g, int status, const char *outcome, int tokens)
{
    gen_end(g);
    pthread_mutex_lock(&mu);
    rec_t *r = rec_find(g->id);
    if (r) {
        r->status = status;
        r->outcome = outcome;
        r->completion_tokens = tokens;
    }
    pthread_mutex_unlock(&mu);
}

/* ---- a growing text buffer ---- */

typedef struct {
    char *p;
    size_t len, cap;
    bool oom;
} buf_t;

static void bprintf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(buf_t *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = b->oom ? 0 : vsnprintf(b->p ? b->p + b->len : NULL, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (b->oom || n < 0) {
            b->oom = true;
            return;
        }
        if (b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->len + (size_t)n + 1) * 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p, b->cap = cap;
    }
}

/* ---- the connection: reading requests, writing responses ---- */

typedef struct {
    int fd;
    char *buf; /* HEAD_MAX + BODY_MAX + 1 */
    size_t have, used;
    /* the current request */
    char method[8], path[256];
    const char *body;
    size_t body_len;
    bool close, authorized;
} conn_t;

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return -1;
        p += w, n -= (size_t)w;
    }
    return 0;
}

/* True when the client has closed its side (or the socket failed): a write would go nowhere. */
static bool client_gone(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* Wait until the client closes the connection (mode hang). */
static void wait_client_gone(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    while (!(poll(&p, 1, -1) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))) {}
}

/* The value of header name in the head [h, e), trimmed, as a pointer and length; NULL if none. */
static const char *header(const char *h, const char *e, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    for (const char *l = memchr(h, '\n', (size_t)(e - h)); l && l + 1 < e;
         l = memchr(l + 1, '\n', (size_t)(e - l - 1))) {
        const char *s = l + 1;
        if ((size_t)(e - s) > nl && !strncasecmp(s, name, nl) && s[nl] == ':') {
            const char *v = s + nl + 1, *ve = memchr(v, '\r', (size_t)(e - v));
            if (!ve) ve = e;
            while (v < ve && (*v == ' ' || *v == '\t')) v++;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            *len = (size_t)(ve - v);
            return v;
        }
    }
    return NULL;
}

/* Send a whole JSON answer; a failed send closes the connection after this request. */
static void reply(conn_t *c, int code, const char *reason, const char *extra, const char *body,
                  size_t len)
{
    char head[512];
    int h = snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n%s%s\r\n", code, reason, len, extra ? extra : "",
                     c->close ? "Connection: close\r\n" : "");
    if (send_all(c->fd, head, (size_t)h) || send_all(c->fd, body, len)) c->close = true;
}

/* An OpenAI-shaped error answer: reason "Fake Error", message "fake failure CODE" (bench's tests
 * match both); 429 carries Retry-After: 1. */
static void reply_error(conn_t *c, int code)
{
    const char *type = code == 429 ? "rate_limit_exceeded" : code == 401 ? "invalid_api_key"
                       : code >= 500 ? "server_error" : "invalid_request_error";
    char body[256];
    int n = snprintf(body, sizeof body, "{\"error\":{\"message\":\"fake failure %d\",\"type\":\"%s\","
                     "\"param\":null,\"code\":\"%s\"}}", code, type, type);
    reply(c, code, "Fake Error", code == 429 ? "Retry-After: 1\r\n" : NULL, body, (size_t)n);
}

static void reply_json(conn_t *c, cJSON *j)
{
    char *s = j ? cJSON_PrintUnformatted(j) : NULL;
    if (s) reply(c, 200, "OK", NULL, s, strlen(s));
    else reply_error(c, 500);
    free(s);
}

/* Read the next request into c: 0, or -1 when the connection ended or the request is too large
 * (answered 413 then). Bytes of a pipelined next request stay in the buffer. */
static int read_request(conn_t *c)
{
    memmove(c->buf, c->buf + c->used, c->have - c->used);
    c->have -= c->used;
    c->used = 0;
    char *end = NULL;
    size_t want = 0;
    for (;;) {
        c->buf[c->have] = '\0';
        if (!end && (end = strstr(c->buf, "\r\n\r\n"))) {
            size_t vl;
            const char *v = header(c->buf, end + 2, "Content-Length", &vl);
            unsigned long cl = v ? strtoul(v, NULL, 10) : 0;
            if (cl > BODY_MAX) {
                c->close = true;
                reply_error(c, 413);
                return -1;
            }
            want = (size_t)(end + 4 - c->buf) + cl;
        }
        if (end && c->have >= want) break;
        if (!end && c->have >= HEAD_MAX) return -1;
        ssize_t r = recv(c->fd, c->buf + c->have, HEAD_MAX + BODY_MAX - c->have, 0);
        if (r <= 0) return -1;
        c->have += (size_t)r;
    }
    c->used = want;
    c->body = end + 4;
    c->body_len = want - (size_t)(end + 4 - c->buf);
    char version[16] = "";
    if (sscanf(c->buf, "%7s %255s %15s", c->method, c->path, version) != 3) return -1;
    size_t vl;
    const char *v = header(c->buf, end + 2, "Connection", &vl);
    bool http10 = !strcmp(version, "HTTP/1.0");
    c->close = v ? (vl == 5 && !strncasecmp(v, "close", 5)) : http10;
    c->authorized = !opt.key;
    if (opt.key && (v = header(c->buf, end + 2, "Authorization", &vl)) && vl > 7 &&
        !strncasecmp(v, "Bearer ", 7) && vl - 7 == strlen(opt.key) && !memcmp(v + 7, opt.key, vl - 7))
        c->authorized = true;
    return 0;
}

/* ---- generation ---- */

enum { K_CHAT, K_TEXT, K_ANY };

typedef struct {
    int kind;
    bool stream, usage;
    int n_chunks, prompt_tokens;
    const char *model; /* points into body or opt */
    char *model_json;  /* the model as a JSON string, owned */
} ask_t;

/* Bytes of the prompt text: a string, or the texts of an array of strings or content parts. */
static size_t text_bytes(const cJSON *v)
{
    if (cJSON_IsString(v)) return strlen(v->valuestring);
    size_t n = 0;
    const cJSON *e;
    if (cJSON_IsArray(v))
        cJSON_ArrayForEach(e, v) n += cJSON_IsObject(e) ? text_bytes(cJSON_GetObjectItem(e, "text"))
                                                        : text_bytes(e);
    return n;
}

/* What a request asks for, from its JSON body (NULL: none parsed). */
static void ask_parse(ask_t *a, int kind, const cJSON *j)
{
    a->kind = kind;
    a->stream = kind == K_ANY || cJSON_IsTrue(cJSON_GetObjectItem(j, "stream"));
    a->usage = kind == K_ANY || opt.always_usage ||
               cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "stream_options"),
                                                "include_usage"));
    if (opt.no_usage) a->usage = false;
    const cJSON *mt = cJSON_GetObjectItem(j, "max_tokens");
    if (!cJSON_IsNumber(mt)) mt = cJSON_GetObjectItem(j, "max_completion_tokens");
    a->n_chunks = opt.tokens;
    if (cJSON_IsNumber(mt) && mt->valuedouble >= 1 && mt->valuedouble < a->n_chunks)
        a->n_chunks = (int)mt->valuedouble;
    size_t bytes = 0;
    const cJSON *m;
    if (kind == K_TEXT) bytes = text_bytes(cJSON_GetObjectItem(j, "prompt"));
    else cJSON_ArrayForEach(m, cJSON_GetObjectItem(j, "messages")) bytes += text_bytes(
            cJSON_GetObjectItem(m, "content"));
    a->prompt_tokens = (int)((bytes + 3) / 4);
    const cJSON *model = cJSON_GetObjectItem(j, "model");
    a->model = opt.model ? opt.model : cJSON_IsString(model) ? model->valuestring : "fake";
    cJSON *s = cJSON_CreateString(a->model);
    a->model_json = s ? cJSON_PrintUnformatted(s) : NULL;
    cJSON_Delete(s);
}

/* The delay before content chunk i in this mode, in microseconds. */
static long chunk_delay_us(int i, int mode)
{
    if (i == 0) return opt.first_ms * 1000L;
    if (mode == M_SLOW) return opt.slow_ms * 1000L;
    if (opt.tokens_per_s > 0) return (long)(1e6 / opt.tokens_per_s);
    return opt.delay_ms * 1000L;
}

static void chunk_text(buf_t *b, int i)
{
    for (int k = 0; k < opt.per_chunk; k++) bprintf(b, "tok%d ", i * opt.per_chunk + k);
}

static void usage_json(buf_t *b, const ask_t *a)
{
    int c = a->n_chunks * opt.per_chunk;
    bprintf(b, "\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":%d,\"total_tokens\":%d}",
            a->prompt_tokens, c, a->prompt_tokens + c);
}

static const char *finish_reason(const ask_t *a)
{
    return a->n_chunks < opt.tokens ? "length" : "stop";
}

/* The SSE event of content chunk i appended to b. */
static void chunk_event(buf_t *b, const ask_t *a, int i)
{
    bool last = i == a->n_chunks - 1;
    if (a->kind == K_TEXT) bprintf(b, "data: {\"id\":\"fake\",\"object\":\"text_completion\","
                                   "\"model\":%s,\"choices\":[{\"index\":0,\"text\":\"", a->model_json);
    else bprintf(b, "data: {\"id\":\"fake\",\"object\":\"chat.completion.chunk\",\"model\":%s,"
                 "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"", a->model_json);
    chunk_text(b, i);
    bprintf(b, a->kind == K_TEXT ? "\"," : "\"},");
    if (last) bprintf(b, "\"finish_reason\":\"%s\"}]}\n\n", finish_reason(a));
    else bprintf(b, "\"finish_reason\":null}]}\n\n");
}

/* Send one piece of a stream's body, as a chunk unless --length. */
static int piece(int fd, const char *p, size_t n)
{
    char head[32];
    if (opt.length) return send_all(fd, p, n);
    int h = snprintf(head, sizeof head, "%zx\r\n", n);
    return send_all(fd, head, (size_t)h) || send_all(fd, p, n) || send_all(fd, "\r\n", 2) ? -1 : 0;
}

/* Sleep before chunk i; false when the client went away meanwhile. */
static bool chunk_wait(int fd, int i, int mode)
{
    sleep_us(chunk_delay_us(i, mode));
    return !client_gone(fd);
}

/* A streamed answer: 0, or -1 when the connection must close. */
static int stream(conn_t *c, const ask_t *a, gen_t *g, int mode)
{
    /* every event first, so a Content-Length body can announce its size up front */
    buf_t all = {0};
    size_t *ends = malloc((size_t)(a->n_chunks + 1) * sizeof *ends);
    int rc = -1, n_ev = 0;
    const char *outcome = "client_gone";
    for (int i = 0; i < a->n_chunks; i++) {
        if (opt.malformed && i == 2) bprintf(&all, "data: {not json\n\n");
        chunk_event(&all, a, i);
        if (ends) ends[n_ev++] = all.len;
    }
    if (a->usage) {
        bprintf(&all, "data: {\"id\":\"fake\",\"object\":\"%s\",\"model\":%s,\"choices\":[],",
                a->kind == K_TEXT ? "text_completion" : "chat.completion.chunk", a->model_json);
        usage_json(&all, a);
        bprintf(&all, "}\n\n");
    }
    bprintf(&all, "data: [DONE]\n\n");
    if (!ends || all.oom) {
        outcome = "error";
        goto done;
    }
    ends[n_ev++] = all.len;
    char head[256];
    int h = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n");
    if (opt.length) h += snprintf(head + h, sizeof head - (size_t)h, "Content-Length: %zu\r\n", all.len);
    else h += snprintf(head + h, sizeof head - (size_t)h, "Transfer-Encoding: chunked\r\n");
    h += snprintf(head + h, sizeof head - (size_t)h, "%s\r\n", c->close ? "Connection: close\r\n" : "");
    if (send_all(c->fd, head, (size_t)h)) goto done;
    size_t at = 0;
    int die_at = opt.die_after < a->n_chunks ? opt.die_after : a->n_chunks;
    for (int e = 0; e < n_ev; e++) {
        if (mode == M_DIE && e == die_at) {
            outcome = "died";
            goto done;
        }
        if (e < a->n_chunks && !chunk_wait(c->fd, e, mode)) goto done;
        if (e == n_ev - 1) gen_end(g);
        if (e == 0) gen_first(g);
        if (piece(c->fd, all.p + at, ends[e] - at)) goto done;
        at = ends[e];
        if (e < a->n_chunks) g->sent++;
        if (opt.stall && e == 0) {
            sleep_us(3600L * 1000000L);
            goto done;
        }
    }
    /* recorded before the stream's last bytes leave: a client may read /stats right after */
    gen_done(g, 200, "ok", g->sent * opt.per_chunk);
    if (!opt.length && send_all(c->fd, "0\r\n\r\n", 5)) goto done;
    free(all.p);
    free(ends);
    return 0;
done:
    gen_done(g, 200, outcome, g->sent * opt.per_chunk);
    free(all.p);
    free(ends);
    return rc;
}

/* A non-streamed answer after the whole generation's time: 0, or -1 to close. */
static int whole(conn_t *c, const ask_t *a, gen_t *g, int mode)
{
    buf_t b = {0};
    int rc = -1;
    const char *outcome = "client_gone";
    for (int i = 0; i < a->n_chunks; i++)
        if (!chunk_wait(c->fd, i, mode)) goto done;
    if (a->kind == K_TEXT) bprintf(&b, "{\"id\":\"fake\",\"object\":\"text_completion\",\"model\":%s,"
                                   "\"choices\":[{\"index\":0,\"text\":\"", a->model_json);
    else bprintf(&b, "{\"id\":\"fake\",\"object\":\"chat.completion\",\"model\":%s,\"choices\":"
                 "[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"", a->model_json);
    for (int i = 0; i < a->n_chunks; i++) chunk_text(&b, i);
    bprintf(&b, a->kind == K_TEXT ? "\"," : "\"},");
    bprintf(&b, "\"finish_reason\":\"%s\"}],", finish_reason(a));
    usage_json(&b, a);
    bprintf(&b, "}");
    if (b.oom) {
        outcome = "error";
        goto done;
    }
    gen_end(g);
    gen_first(g);
    if (mode == M_DIE) {
        char head[160];
        int h = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         "Content-Length: %zu\r\n\r\n", b.len);
        send_all(c->fd, head, (size_t)h);
        outcome = "died";
        goto done;
    }
    bool was_closing = c->close;
    g->sent = a->n_chunks;
    gen_done(g, 200, "ok", g->sent * opt.per_chunk); /* before the answer leaves, as above */
    reply(c, 200, "OK", NULL, b.p, b.len);
    if (c->close && !was_closing) { /* the send failed */
        g->sent = 0;
        outcome = "client_gone";
        goto done;
    }
    free(b.p);
    return 0;
done:
    gen_done(g, 200, outcome, g->sent * opt.per_chunk);
    free(b.p);
    return rc;
}

/* A generation request of this kind: 0, or -1 when the connection must close. */
static int generate(conn_t *c, int kind, int mode)
{
    if (mode == M_REFUSE) return -1;
    cJSON *j = cJSON_ParseWithLength(c->body, c->body_len);
    ask_t a = {0};
    ask_parse(&a, kind, j);
    gen_t g = {.held = true};
    g.id = rec_begin(c->path, a.model, a.stream, a.prompt_tokens);
    int rc = 0, err = !c->authorized           ? 401
                      : kind != K_ANY && !cJSON_IsObject(j) ? 400
                      : mode == M_500          ? 500
                      : mode == M_429          ? 429
                      : opt.status && opt.status != 200 && mode != M_HANG ? opt.status : 0;
    if (err) { /* recorded before it is answered: a client may read /stats right after */
        gen_end(&g);
        gen_done(&g, err, "error", 0);
        reply_error(c, err);
    } else if (mode == M_HANG) {
        wait_client_gone(c->fd);
        gen_done(&g, 0, "client_gone", 0);
        rc = -1;
    } else {
        gen_slot(&g);
        rc = a.stream ? stream(c, &a, &g, mode) : whole(c, &a, &g, mode);
    }
    free(a.model_json);
    cJSON_Delete(j);
    return rc;
}

/* ---- the other endpoints ---- */

static void add_ms(cJSON *o, const char *name, double ms)
{
    if (ms < 0) cJSON_AddNullToObject(o, name);
    else cJSON_AddNumberToObject(o, name, (double)(int64_t)(ms * 1000) / 1000);
}

static void stats(conn_t *c)
{
    cJSON *j = cJSON_CreateObject(), *arr;
    pthread_mutex_lock(&mu);
    /* the scalars first: bench's test reads max_concurrent from the first 512 bytes */
    cJSON_AddNumberToObject(j, "served", (double)st.served);
    cJSON_AddNumberToObject(j, "max_concurrent", st.max_in_flight);
    cJSON_AddNumberToObject(j, "in_flight", st.in_flight);
    cJSON_AddNumberToObject(j, "max_in_flight", st.max_in_flight);
    cJSON_AddNumberToObject(j, "queued", st.queued);
    cJSON_AddNumberToObject(j, "max_queued", st.max_queued);
    cJSON_AddNumberToObject(j, "max_held", st.max_held);
    cJSON_AddStringToObject(j, "mode", mode_names[st.mode]);
    arr = cJSON_AddArrayToObject(j, "requests");
    uint64_t from = st.next_id > REC_CAP && st.next_id - REC_CAP > st.lo ? st.next_id - REC_CAP : st.lo;
    for (uint64_t id = from; arr && id < st.next_id; id++) {
        const rec_t *r = &st.ring[id % REC_CAP];
        cJSON *o = cJSON_CreateObject();
        if (!o) break;
        cJSON_AddItemToArray(arr, o);
        cJSON_AddNumberToObject(o, "id", (double)r->id);
        cJSON_AddStringToObject(o, "path", r->path);
        cJSON_AddStringToObject(o, "model", r->model);
        cJSON_AddBoolToObject(o, "stream", r->stream);
        add_ms(o, "start_ms", r->start_ms);
        add_ms(o, "slot_ms", r->slot_ms);
        add_ms(o, "first_ms", r->first_ms);
        add_ms(o, "end_ms", r->end_ms);
        cJSON_AddNumberToObject(o, "prompt_tokens", r->prompt_tokens);
        cJSON_AddNumberToObject(o, "completion_tokens", r->completion_tokens);
        cJSON_AddNumberToObject(o, "status", r->status);
        if (r->outcome) cJSON_AddStringToObject(o, "outcome", r->outcome);
        else cJSON_AddNullToObject(o, "outcome");
    }
    pthread_mutex_unlock(&mu);
    /* the record can be long: a reader may read it to the end of the connection */
    c->close = true;
    reply_json(c, j);
    cJSON_Delete(j);
}

static void stats_reset(conn_t *c)
{
    pthread_mutex_lock(&mu);
    st.lo = st.next_id;
    st.served = 0;
    st.max_in_flight = st.in_flight;
    st.max_queued = st.queued;
    st.max_held = st.held;
    pthread_mutex_unlock(&mu);
    reply(c, 200, "OK", NULL, "{}", 2);
}

static void set_mode(conn_t *c)
{
    cJSON *j = cJSON_ParseWithLength(c->body, c->body_len);
    const cJSON *m = cJSON_GetObjectItem(j, "mode");
    int k = 0;
    while (cJSON_IsString(m) && k < M_COUNT && strcmp(m->valuestring, mode_names[k])) k++;
    if (!cJSON_IsString(m) || k == M_COUNT) {
        reply_error(c, 400);
    } else {
        pthread_mutex_lock(&mu);
        bool refuse = k == M_REFUSE && st.mode != M_REFUSE;
        st.mode = k;
        pthread_mutex_unlock(&mu);
        /* before the answer, so that every connection the client makes after it is refused;
         * it also wakes the accept loop, which closes the socket */
        if (refuse) shutdown(st.listen_fd, SHUT_RDWR);
        char body[64];
        int n = snprintf(body, sizeof body, "{\"mode\":\"%s\"}", mode_names[k]);
        reply(c, 200, "OK", NULL, body, (size_t)n);
    }
    cJSON_Delete(j);
}

static void models(conn_t *c)
{
    cJSON *j = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(j, "data"), *m = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "object", "list");
    cJSON_AddItemToArray(arr, m);
    cJSON_AddStringToObject(m, "id", opt.model ? opt.model : "fake");
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", 0);
    cJSON_AddStringToObject(m, "owned_by", "fake");
    reply_json(c, j);
    cJSON_Delete(j);
}

/* One request: 0, or -1 when the connection must close. */
static int route(conn_t *c)
{
    bool post = !strcmp(c->method, "POST"), get = !strcmp(c->method, "GET");
    if (get && !strcmp(c->path, "/stats")) {
        stats(c);
        return -1;
    }
    if (post && !strcmp(c->path, "/stats/reset")) {
        stats_reset(c);
        return 0;
    }
    if (post && !strcmp(c->path, "/fake/mode")) {
        set_mode(c);
        return 0;
    }
    int mode = get_mode();
    if (post) return generate(c, !strcmp(c->path, "/v1/chat/completions") ? K_CHAT
                                 : !strcmp(c->path, "/v1/completions") ? K_TEXT : K_ANY, mode);
    if (mode == M_REFUSE) return -1;
    if (get && !strcmp(c->path, "/health")) {
        if (mode == M_HANG) {
            wait_client_gone(c->fd);
            return -1;
        }
        if (mode == M_500) reply_error(c, 500);
        else reply(c, 200, "OK", NULL, "{\"status\":\"ok\"}", 15);
    } else if (get && !strcmp(c->path, "/v1/models")) {
        if (c->authorized) models(c);
        else reply_error(c, 401);
    } else {
        reply_error(c, 404);
    }
    return 0;
}

static void *serve(void *arg)
{
    conn_t c = {.fd = (int)(intptr_t)arg, .buf = malloc(HEAD_MAX + BODY_MAX + 1)};
    while (c.buf && !read_request(&c) && !route(&c) && !c.close) {}
    free(c.buf);
    close(c.fd);
    return NULL;
}

/* ---- start-up ---- */

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : "0";
        int k = 0;
        if (!strcmp(a, "--tokens")) opt.tokens = atoi(v), i++;
        else if (!strcmp(a, "--first-ms")) opt.first_ms = atoi(v), i++;
        else if (!strcmp(a, "--delay-ms")) opt.delay_ms = atoi(v), i++;
        else if (!strcmp(a, "--tokens-per-s")) opt.tokens_per_s = atof(v), i++;
        else if (!strcmp(a, "--status")) opt.status = atoi(v), i++;
        else if (!strcmp(a, "--per-chunk")) opt.per_chunk = atoi(v) > 0 ? atoi(v) : 1, i++;
        else if (!strcmp(a, "--lifetime")) opt.lifetime = atoi(v) > 0 ? atoi(v) : 120, i++;
        else if (!strcmp(a, "--slots")) opt.slots = atoi(v), i++;
        else if (!strcmp(a, "--port")) opt.port = atoi(v), i++;
        else if (!strcmp(a, "--slow-ms")) opt.slow_ms = atoi(v), i++;
        else if (!strcmp(a, "--die-after")) opt.die_after = atoi(v), i++;
        else if (!strcmp(a, "--model")) opt.model = v, i++;
        else if (!strcmp(a, "--expect-key")) opt.key = v, i++;
        else if (!strcmp(a, "--mode")) {
            while (k < M_COUNT && strcmp(v, mode_names[k])) k++;
            if (k == M_COUNT) {
                fprintf(stderr, "fake_openai: --mode %s: not one of ok, slow, 500, 429, hang, die, "
                        "refuse\n", v);
                return 2;
            }
            st.mode = k, i++;
        } else if (!strcmp(a, "--length")) opt.length = 1;
        else if (!strcmp(a, "--malformed")) opt.malformed = 1;
        else if (!strcmp(a, "--stall")) opt.stall = 1;
        else if (!strcmp(a, "--no-usage")) opt.no_usage = 1;
        else if (!strcmp(a, "--always-usage")) opt.always_usage = 1;
        else if (!strcmp(a, "--ipv6")) opt.ipv6 = 1;
        else {
            fprintf(stderr, "fake_openai: unknown option '%s'\n", a);
            return 2;
        }
    }
    st.ring = calloc(REC_CAP, sizeof *st.ring);
    if (!st.ring) {
        fprintf(stderr, "fake_openai: out of memory\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    /* A test that fails before stopping the server must not leave it running (and holding the
     * test runner's output pipe): it ends itself after --lifetime seconds. */
    alarm((unsigned)opt.lifetime);
    int s = socket(opt.ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    if (opt.ipv6) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_addr = in6addr_loopback;
        a6->sin6_port = htons((uint16_t)opt.port);
        sl = sizeof *a6;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
        a4->sin_family = AF_INET;
        a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a4->sin_port = htons((uint16_t)opt.port);
        sl = sizeof *a4;
    }
    /* a restarted fake takes its predecessor's --port at once */
    if (s >= 0) setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (s < 0 || bind(s, (struct sockaddr *)&ss, sl) || listen(s, 256) ||
        getsockname(s, (struct sockaddr *)&ss, &sl)) {
        perror("fake_openai: cannot listen");
        return 1;
    }
    st.listen_fd = s;
    int port = ntohs(opt.ipv6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                              : ((struct sockaddr_in *)&ss)->sin_port);
    printf("%d\n", port);
    fflush(stdout);
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c < 0) {
            if (get_mode() == M_REFUSE) break;
            if (errno == EMFILE || errno == ENFILE) sleep_us(10000);
            continue;
        }
        /* each chunk leaves at once, as a streaming server's should */
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_t t;
        if (pthread_create(&t, NULL, serve, (void *)(intptr_t)c)) {
            close(c);
            continue;
        }
        pthread_detach(t);
    }
    close(s);
    for (;;) pause(); /* refused: up until --lifetime or killed */
}
