/* serve/server.c: the HTTP server core on 127.0.0.1 port 0 with fake backends (no model), driven
 * over raw sockets: routing (404, 405), the body limit (413), the key (401), admission (503 with
 * Retry-After), whole and streamed answers from backend threads, a client that hangs up or stops
 * reading is cancelled and frees its slot, stop finishes or cancels what runs within the
 * timeout, and the request log never holds the key or the body. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "edgelm/serve.h"
#include "testutil.h"

/* ---- a server in a thread ---- */

typedef struct {
    elm_server_t *srv;
    pthread_t thread;
    int port, run_rc;
    atomic_bool returned;
    pthread_mutex_t mu;
    char log[16384]; /* the request log, one line per request */
    int n_log;
} harness_t;

static void capture_log(void *user, const char *line)
{
    harness_t *h = user;
    pthread_mutex_lock(&h->mu);
    size_t len = strlen(h->log);
    snprintf(h->log + len, sizeof h->log - len, "%s\n", line);
    h->n_log++;
    pthread_mutex_unlock(&h->mu);
}

static void *run_thread(void *arg)
{
    harness_t *h = arg;
    h->run_rc = elm_server_run(h->srv);
    atomic_store(&h->returned, true);
    return NULL;
}

static void start(harness_t *h, elm_server_params_t *p, const elm_server_backend_t *be)
{
    memset(h, 0, sizeof *h);
    pthread_mutex_init(&h->mu, NULL);
    p->host = "127.0.0.1";
    p->port = 0;
    p->log = capture_log;
    p->log_user = h;
    elm_diag_t d;
    if (elm_server_create(p, be, &h->srv, &d) != 0) fail_msg("create: %s", d.msg);
    h->port = elm_server_port(h->srv);
    assert_true(h->port > 0);
    assert_int_equal(pthread_create(&h->thread, NULL, run_thread, h), 0);
}

/* Stop the server and wait for run() to return. */
static void stop(harness_t *h)
{
    elm_server_stop(h->srv);
    pthread_join(h->thread, NULL);
    assert_int_equal(h->run_rc, 0);
}

static double now_s(void)
{
    return (double)elm_time_ns() / 1e9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- a raw HTTP client ---- */

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static void send_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n <= 0) return; /* the server may have answered and closed already (413) */
        buf += n;
        len -= (size_t)n;
    }
}

/* Send a request: method, path, extra header lines (each ending in \r\n, or ""), and body (may
 * be NULL); with Connection: close unless keep. */
static void send_req_on(int fd, const char *method, const char *path, const char *headers,
                        const char *body, bool keep)
{
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%sContent-Length: %zu\r\n\r\n",
                     method, path, keep ? "" : "Connection: close\r\n", headers,
                     body ? strlen(body) : 0);
    send_all(fd, head, (size_t)n);
    if (body) send_all(fd, body, strlen(body));
}

static void send_req(int fd, const char *method, const char *path, const char *headers,
                     const char *body)
{
    send_req_on(fd, method, path, headers, body, false);
}

/* Read into buf (NUL-terminated) until needle shows up (NULL: until the server closes). Returns
 * the bytes read. */
static size_t read_until(int fd, char *buf, size_t cap, size_t have, const char *needle)
{
    while (have + 1 < cap) {
        buf[have] = '\0';
        if (needle && strstr(buf, needle)) break;
        ssize_t n = recv(fd, buf + have, cap - 1 - have, 0);
        if (n <= 0) break;
        have += (size_t)n;
    }
    buf[have] = '\0';
    return have;
}

static int status_of(const char *resp)
{
    int st = 0;
    return sscanf(resp, "HTTP/1.%*d %d", &st) == 1 ? st : 0;
}

/* One whole exchange on a fresh connection; the response in resp, its status returned. */
static int exchange(int port, const char *method, const char *path, const char *headers,
                    const char *body, char *resp, size_t cap)
{
    int fd = dial(port);
    send_req(fd, method, path, headers, body);
    read_until(fd, resp, cap, 0, NULL);
    close(fd);
    return status_of(resp);
}

/* ---- fake backends ---- */

/* Echoes the body of POSTs, answers GETs with {"ok":true}, at once from the loop thread. */
static void echo_handle(void *user, elm_server_req_t *req)
{
    (void)user;
    size_t len;
    const char *body = elm_server_req_body(req, &len);
    elm_server_usage_t u = {3, 5, 0.001};
    elm_server_req_usage(req, &u);
    if (elm_server_req_endpoint(req) == ELM_SERVER_EP_MODELS ||
        elm_server_req_endpoint(req) == ELM_SERVER_EP_HEALTH)
        elm_server_reply(req, 200, NULL, "{\"ok\":true}", 11);
    else
        elm_server_reply(req, 200, "text/plain", body, len);
}

static const elm_server_backend_t echo_backend = {NULL, echo_handle, NULL};

/* Streams from a thread of its own per request. The body says how: "n=CHUNKS d=DELAY_MS
 * s=CHUNK_BYTES" (defaults 3, 0, a short SSE event). */
typedef struct {
    pthread_mutex_t mu;
    pthread_t threads[64];
    int n_threads;
    atomic_int cancels, ended, write_errors;
} streamer_t;

typedef struct {
    streamer_t *st;
    elm_server_req_t *req;
} stream_job_t;

static void *stream_thread(void *arg)
{
    stream_job_t *job = arg;
    elm_server_req_t *req = job->req;
    int n = 3, delay = 0, size = 0;
    const char *body = elm_server_req_body(req, NULL), *p;
    if ((p = strstr(body, "n="))) n = atoi(p + 2);
    if ((p = strstr(body, "d="))) delay = atoi(p + 2);
    if ((p = strstr(body, "s="))) size = atoi(p + 2);
    if (strstr(body, "hold")) {
        /* answer nothing until cancelled, then end with a whole reply */
        while (!elm_server_req_cancelled(req)) sleep_ms(1);
        assert_int_equal(elm_server_reply(req, 200, NULL, "{}", 2), ELM_EIO);
        atomic_fetch_add(&job->st->ended, 1);
        free(job);
        return NULL;
    }
    char *big = size ? malloc((size_t)size) : NULL;
    if (big) memset(big, 'x', (size_t)size);
    elm_server_stream_begin(req);
    int i = 0;
    for (; i < n && !elm_server_req_cancelled(req); i++) {
        if (delay) sleep_ms(delay);
        char ev[64];
        int len = snprintf(ev, sizeof ev, "data: {\"i\":%d}\n\n", i);
        int rc = big ? elm_server_stream_write(req, big, (size_t)size)
                     : elm_server_stream_write(req, ev, (size_t)len);
        if (rc != 0) {
            atomic_fetch_add(&job->st->write_errors, 1);
            break;
        }
    }
    free(big);
    elm_server_usage_t u = {7, i, -1};
    elm_server_req_usage(req, &u);
    elm_server_stream_write(req, "data: [DONE]\n\n", 14);
    atomic_fetch_add(&job->st->ended, 1);
    elm_server_stream_end(req);
    free(job);
    return NULL;
}

static void stream_handle(void *user, elm_server_req_t *req)
{
    streamer_t *st = user;
    stream_job_t *job = malloc(sizeof *job);
    assert_non_null(job);
    job->st = st;
    job->req = req;
    pthread_mutex_lock(&st->mu);
    assert_true(st->n_threads < 64);
    assert_int_equal(pthread_create(&st->threads[st->n_threads++], NULL, stream_thread, job), 0);
    pthread_mutex_unlock(&st->mu);
}

static void stream_cancel(void *user, elm_server_req_t *req)
{
    (void)req;
    streamer_t *st = user;
    atomic_fetch_add(&st->cancels, 1);
}

static elm_server_backend_t streamer_init(streamer_t *st)
{
    memset(st, 0, sizeof *st);
    pthread_mutex_init(&st->mu, NULL);
    return (elm_server_backend_t){st, stream_handle, stream_cancel};
}

static void streamer_join(streamer_t *st)
{
    for (int i = 0; i < st->n_threads; i++) pthread_join(st->threads[i], NULL);
    pthread_mutex_destroy(&st->mu);
}

/* A server with the streaming backend, its parameters the defaults but for these. */
typedef struct {
    harness_t h;
    streamer_t st;
} rig_t;

static void rig_start(rig_t *r, int slots, int max_queue, double timeout_s,
                      size_t max_stream_buffer)
{
    elm_server_backend_t be = streamer_init(&r->st);
    elm_server_params_t p;
    elm_server_params_default(&p);
    p.slots = slots;
    p.max_queue = max_queue;
    p.timeout_s = timeout_s;
    p.max_stream_buffer = max_stream_buffer;
    start(&r->h, &p, &be);
}

/* Stop the server (unless the test did), wait for the backend's threads, free the server. */
static void rig_finish(rig_t *r, bool stopped)
{
    if (!stopped) stop(&r->h);
    streamer_join(&r->st);
    elm_server_free(r->h.srv);
}

/* Wait up to limit_s for the server to hold no generation request; returns the seconds taken. */
static double wait_idle(harness_t *h, double limit_s)
{
    double t0 = now_s();
    while (elm_server_admitted(h->srv) > 0 && now_s() - t0 < limit_s) sleep_ms(2);
    assert_int_equal(elm_server_admitted(h->srv), 0);
    return now_s() - t0;
}

static int count_of(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* ---- tests ---- */

static void test_routes(void **state)
{
    (void)state;
    harness_t h;
    elm_server_params_t p;
    elm_server_params_default(&p);
    start(&h, &p, &echo_backend);
    char resp[8192];

    assert_int_equal(exchange(h.port, "POST", "/v1/chat/completions", "", "hello there", resp,
                              sizeof resp), 200);
    assert_non_null(strstr(resp, "\r\n\r\nhello there"));
    assert_non_null(strstr(resp, "Content-Type: text/plain"));
    assert_int_equal(exchange(h.port, "GET", "/health", "", NULL, resp, sizeof resp), 200);
    assert_non_null(strstr(resp, "{\"ok\":true}"));
    assert_int_equal(exchange(h.port, "GET", "/v1/models?x=1", "", NULL, resp, sizeof resp), 200);

    assert_int_equal(exchange(h.port, "GET", "/nope", "", NULL, resp, sizeof resp), 404);
    cJSON *j = cJSON_Parse(strstr(resp, "\r\n\r\n") + 4);
    assert_non_null(j);
    cJSON *e = cJSON_GetObjectItem(j, "error");
    assert_string_equal(cJSON_GetObjectItem(e, "type")->valuestring, "not_found_error");
    assert_non_null(strstr(cJSON_GetObjectItem(e, "message")->valuestring, "/nope"));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(e, "param")));
    assert_string_equal(cJSON_GetObjectItem(e, "code")->valuestring, "not_found");
    cJSON_Delete(j);
    assert_int_equal(exchange(h.port, "GET", "/v1/chat/completionsX", "", NULL, resp, sizeof resp),
                     404);

    assert_int_equal(exchange(h.port, "GET", "/v1/chat/completions", "", NULL, resp, sizeof resp),
                     405);
    assert_non_null(strstr(resp, "Allow: POST"));
    assert_non_null(strstr(resp, "\"method_not_allowed\""));
    assert_int_equal(exchange(h.port, "DELETE", "/metrics", "", NULL, resp, sizeof resp), 405);
    assert_non_null(strstr(resp, "Allow: GET"));

    stop(&h);
    assert_int_equal(h.n_log, 7);
    assert_non_null(strstr(h.log, "POST /v1/chat/completions 200 prompt=3 completion=5 ttft_ms=1.0"));
    assert_non_null(strstr(h.log, "GET /nope 404 prompt=- completion=- ttft_ms=- ms="));
    assert_non_null(strstr(h.log, "DELETE /metrics 405"));
    assert_null(strstr(h.log, "hello there"));
    elm_server_free(h.srv);
}

static void test_body_limit(void **state)
{
    (void)state;
    harness_t h;
    elm_server_params_t p;
    elm_server_params_default(&p);
    p.max_body = 1024;
    start(&h, &p, &echo_backend);
    char resp[8192], body[1026];

    memset(body, 'a', 1025);
    body[1025] = '\0';
    assert_int_equal(exchange(h.port, "POST", "/v1/completions", "", body, resp, sizeof resp), 413);
    body[1024] = '\0';
    assert_int_equal(exchange(h.port, "POST", "/v1/completions", "", body, resp, sizeof resp), 200);

    /* a Content-Length of 100 MB gets 413 before a byte of the body is sent */
    int fd = dial(h.port);
    const char *head = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n";
    send_all(fd, head, strlen(head));
    read_until(fd, resp, sizeof resp, 0, "\r\n\r\n");
    assert_int_equal(status_of(resp), 413);
    close(fd);

    /* so does a chunked body that grows past the limit */
    fd = dial(h.port);
    head = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           "800\r\n";
    send_all(fd, head, strlen(head));
    read_until(fd, resp, sizeof resp, 0, "\r\n\r\n");
    assert_int_equal(status_of(resp), 413);
    close(fd);

    stop(&h);
    elm_server_free(h.srv);
}

static void test_api_key(void **state)
{
    (void)state;
    harness_t h;
    elm_server_params_t p;
    elm_server_params_default(&p);
    p.api_key = "s3cret-key";
    p.log_json = true;
    start(&h, &p, &echo_backend);
    char resp[8192];

    assert_int_equal(exchange(h.port, "POST", "/v1/chat/completions", "", "my-prompt", resp,
                              sizeof resp), 401);
    assert_non_null(strstr(resp, "\"authentication_error\""));
    assert_int_equal(exchange(h.port, "GET", "/v1/models", "Authorization: Bearer wrong\r\n", NULL,
                              resp, sizeof resp), 401);
    assert_int_equal(exchange(h.port, "GET", "/v1/models", "Authorization: Bearer s3cret-keyX\r\n",
                              NULL, resp, sizeof resp), 401);
    assert_int_equal(exchange(h.port, "GET", "/v1/models", "Authorization: Bearer s3cret-ke\r\n",
                              NULL, resp, sizeof resp), 401);
    assert_int_equal(exchange(h.port, "GET", "/v1/models", "Authorization: s3cret-key\r\n", NULL,
                              resp, sizeof resp), 401);
    assert_int_equal(exchange(h.port, "POST", "/v1/chat/completions",
                              "Authorization: Bearer s3cret-key\r\n", "my-prompt", resp,
                              sizeof resp), 200);
    assert_non_null(strstr(resp, "my-prompt"));
    /* the scheme is case-insensitive, the key is not */
    assert_int_equal(exchange(h.port, "GET", "/v1/models", "Authorization: bearer s3cret-key\r\n",
                              NULL, resp, sizeof resp), 200);
    assert_int_equal(exchange(h.port, "GET", "/v1/models", "Authorization: Bearer S3CRET-KEY\r\n",
                              NULL, resp, sizeof resp), 401);
    /* only /v1/ needs the key */
    assert_int_equal(exchange(h.port, "GET", "/health", "", NULL, resp, sizeof resp), 200);

    stop(&h);
    assert_int_equal(h.n_log, 9);
    assert_null(strstr(h.log, "s3cret"));
    assert_null(strstr(h.log, "my-prompt"));
    /* each JSON log line parses and carries the fields */
    char *save = NULL, *copy = strdup(h.log);
    int n401 = 0;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cJSON *j = cJSON_Parse(line);
        if (!j) fail_msg("log line is not JSON: %s", line);
        assert_true(cJSON_IsString(cJSON_GetObjectItem(j, "method")));
        assert_true(cJSON_IsString(cJSON_GetObjectItem(j, "path")));
        assert_true(cJSON_IsNumber(cJSON_GetObjectItem(j, "duration_ms")));
        int st = cJSON_GetObjectItem(j, "status")->valueint;
        if (st == 401) {
            n401++;
            assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "prompt_tokens")));
        } else {
            assert_int_equal(st, 200);
        }
        cJSON_Delete(j);
    }
    free(copy);
    assert_int_equal(n401, 6);
    elm_server_free(h.srv);
}

static void test_stream(void **state)
{
    (void)state;
    rig_t r;
    rig_start(&r, 1, 32, 10, 1u << 20);
    char resp[8192];

    assert_int_equal(exchange(r.h.port, "POST", "/v1/chat/completions", "", "n=5 d=5", resp,
                              sizeof resp), 200);
    assert_non_null(strstr(resp, "Content-Type: text/event-stream"));
    assert_non_null(strstr(resp, "Transfer-Encoding: chunked"));
    assert_int_equal(count_of(resp, "data: {\"i\":"), 5);
    assert_non_null(strstr(resp, "data: {\"i\":4}\n\n"));
    assert_non_null(strstr(resp, "data: [DONE]\n\n\r\n0\r\n\r\n"));

    stop(&r.h);
    assert_int_equal(atomic_load(&r.st.cancels), 0);
    assert_non_null(strstr(r.h.log, "POST /v1/chat/completions 200 prompt=7 completion=5 ttft_ms="));
    assert_null(strstr(r.h.log, "ttft_ms=-"));
    rig_finish(&r, true);
}

static void test_queue_full_and_disconnect(void **state)
{
    (void)state;
    rig_t r;
    rig_start(&r, 1, 1, 10, 1u << 20);
    char a_buf[4096], b_buf[4096], resp[4096];

    /* two long streams hold the slot and the queue place */
    int a = dial(r.h.port), b = dial(r.h.port);
    send_req(a, "POST", "/v1/completions", "", "n=1000 d=10");
    send_req(b, "POST", "/v1/completions", "", "n=1000 d=10");
    read_until(a, a_buf, sizeof a_buf, 0, "data: {\"i\":0}");
    read_until(b, b_buf, sizeof b_buf, 0, "data: {\"i\":0}");
    assert_int_equal(status_of(a_buf), 200);
    assert_int_equal(elm_server_admitted(r.h.srv), 2);

    assert_int_equal(exchange(r.h.port, "POST", "/v1/completions", "", "n=1", resp, sizeof resp),
                     503);
    assert_non_null(strstr(resp, "Retry-After: 1\r\n"));
    assert_non_null(strstr(resp, "\"server_busy\""));
    /* the endpoints that do not generate are not held back by a full queue */
    assert_int_equal(exchange(r.h.port, "POST", "/tokenize", "", "n=1", resp, sizeof resp), 200);

    /* a client that hangs up mid-stream is cancelled and frees its place at once */
    close(a);
    double t0 = now_s();
    while (elm_server_admitted(r.h.srv) > 1 && now_s() - t0 < 2) sleep_ms(2);
    assert_int_equal(elm_server_admitted(r.h.srv), 1);
    assert_true(now_s() - t0 < 0.5);
    assert_int_equal(atomic_load(&r.st.cancels), 1);
    assert_int_equal(exchange(r.h.port, "POST", "/v1/completions", "", "n=2", resp, sizeof resp),
                     200);
    assert_int_equal(count_of(resp, "data: {\"i\":"), 2);

    close(b);
    wait_idle(&r.h, 2);
    assert_int_equal(atomic_load(&r.st.cancels), 2);
    stop(&r.h);
    assert_int_equal(count_of(r.h.log, " cancelled"), 2);
    assert_non_null(strstr(r.h.log, "POST /v1/completions 503"));
    rig_finish(&r, true);
}

/* a client that hangs up before any answer is noticed too, not only at the next write */
static void test_disconnect_before_answer(void **state)
{
    (void)state;
    rig_t r;
    rig_start(&r, 1, 0, 10, 1u << 20);
    char resp[4096];

    int fd = dial(r.h.port);
    send_req(fd, "POST", "/v1/chat/completions", "", "hold");
    double t0 = now_s();
    while (elm_server_admitted(r.h.srv) < 1 && now_s() - t0 < 2) sleep_ms(1);
    assert_int_equal(elm_server_admitted(r.h.srv), 1);
    close(fd);
    /* "hold" writes nothing until cancelled: the server goes idle only if it saw the hangup */
    wait_idle(&r.h, 5);
    assert_int_equal(atomic_load(&r.st.cancels), 1);
    assert_int_equal(atomic_load(&r.st.ended), 1);
    assert_int_equal(exchange(r.h.port, "POST", "/v1/chat/completions", "", "n=1", resp,
                              sizeof resp), 200);

    stop(&r.h);
    assert_non_null(
        strstr(r.h.log, "POST /v1/chat/completions 499 prompt=- completion=- ttft_ms=- "));
    assert_non_null(strstr(r.h.log, " cancelled"));
    rig_finish(&r, true);
}

static void test_slow_reader(void **state)
{
    (void)state;
    rig_t r;
    rig_start(&r, 1, 32, 10, 64 * 1024);

    /* 64 MiB in 16 KiB chunks as fast as the backend can, to a client that never reads */
    int fd = dial(r.h.port);
    send_req(fd, "POST", "/v1/completions", "", "n=4096 s=16384");
    double t0 = now_s();
    while (atomic_load(&r.st.ended) < 1 && now_s() - t0 < 3) sleep_ms(2);
    wait_idle(&r.h, 1);
    /* cut off either at the backend's write (ELM_ERANGE) or when the loop sees the pile-up */
    assert_true(atomic_load(&r.st.write_errors) + atomic_load(&r.st.cancels) >= 1);
    close(fd);

    stop(&r.h);
    /* 200 when the stream's head went out first, 499 when the pile-up came before it */
    if (!strstr(r.h.log, "POST /v1/completions 200 prompt=7 completion=") &&
        !strstr(r.h.log, "POST /v1/completions 499 prompt=7 completion="))
        fail_msg("log: %s", r.h.log);
    assert_non_null(strstr(r.h.log, " cancelled"));
    rig_finish(&r, true);
}

/* two requests on one kept-alive connection, then the client leaves: nothing is cancelled */
static void test_keep_alive(void **state)
{
    (void)state;
    rig_t r;
    rig_start(&r, 1, 32, 10, 1u << 20);
    char resp[4096];

    int fd = dial(r.h.port);
    send_req_on(fd, "POST", "/v1/completions", "", "n=2 d=5", true);
    read_until(fd, resp, sizeof resp, 0, "\r\n0\r\n\r\n");
    assert_int_equal(count_of(resp, "data: {\"i\":"), 2);
    send_req_on(fd, "POST", "/v1/completions", "", "n=1", true);
    read_until(fd, resp, sizeof resp, 0, "\r\n0\r\n\r\n");
    assert_int_equal(status_of(resp), 200);
    assert_int_equal(count_of(resp, "data: {\"i\":"), 1);
    send_req_on(fd, "GET", "/nope", "", NULL, true);
    read_until(fd, resp, sizeof resp, 0, "}}");
    assert_int_equal(status_of(resp), 404);
    close(fd);
    sleep_ms(50);

    stop(&r.h);
    assert_int_equal(atomic_load(&r.st.cancels), 0);
    assert_int_equal(r.h.n_log, 3);
    assert_null(strstr(r.h.log, "cancelled"));
    rig_finish(&r, true);
}

/* Start a stream with body, stop the server once its first event arrived, read the rest into
 * resp; returns how long run() took to return after the stop. */
static double stop_during_stream(rig_t *r, double timeout_s, const char *body, char *resp,
                                 size_t cap)
{
    rig_start(r, 1, 32, timeout_s, 1u << 20);
    int fd = dial(r->h.port);
    send_req(fd, "POST", "/v1/chat/completions", "", body);
    size_t have = read_until(fd, resp, cap, 0, "data: {\"i\":0}");
    double t0 = now_s();
    elm_server_stop(r->h.srv);
    pthread_join(r->h.thread, NULL);
    double took = now_s() - t0;
    read_until(fd, resp, cap, have, NULL);
    close(fd);
    return took;
}

/* stop with a stream running: one that ends within the timeout is finished whole, and the port
 * takes no more connections. */
static void test_stop_finishes(void **state)
{
    (void)state;
    rig_t r;
    char resp[8192];
    assert_true(stop_during_stream(&r, 5, "n=10 d=20", resp, sizeof resp) < 2);
    assert_int_equal(count_of(resp, "data: {\"i\":"), 10);
    assert_non_null(strstr(resp, "data: [DONE]\n\n\r\n0\r\n\r\n"));
    assert_int_equal(atomic_load(&r.st.cancels), 0);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)r.h.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_not_equal(connect(s, (struct sockaddr *)&a, sizeof a), 0);
    close(s);
    rig_finish(&r, true);
}

/* stop with a stream longer than the timeout: it is cancelled, still ended properly for its
 * client, and run() returns soon after the timeout. */
static void test_stop_cancels(void **state)
{
    (void)state;
    rig_t r;
    char resp[65536];
    double took = stop_during_stream(&r, 0.2, "n=100000 d=5", resp, sizeof resp);
    assert_true(took >= 0.15 && took < 1.5);
    assert_int_equal(atomic_load(&r.st.cancels), 1);
    assert_non_null(strstr(resp, "data: [DONE]\n\n\r\n0\r\n\r\n"));
    assert_non_null(strstr(r.h.log, " cancelled"));
    rig_finish(&r, true);
}

/* stop before run, and create's errors */
static void test_lifecycle(void **state)
{
    (void)state;
    elm_server_params_t p;
    elm_server_params_default(&p);
    p.port = 0;
    elm_server_t *s = (elm_server_t *)1;
    elm_diag_t d;
    assert_int_equal(elm_server_create(&p, &echo_backend, &s, &d), 0);
    elm_server_stop(s);
    assert_int_equal(elm_server_run(s), 0);
    int port = elm_server_port(s);

    /* the same port twice */
    elm_server_t *s2 = (elm_server_t *)1;
    p.port = port;
    elm_server_free(s);
    assert_int_equal(elm_server_create(&p, &echo_backend, &s, &d), 0);
    assert_int_equal(elm_server_create(&p, &echo_backend, &s2, &d), ELM_EIO);
    assert_null(s2);
    assert_non_null(strstr(d.msg, "127.0.0.1:"));
    assert_non_null(strstr(d.msg, "cannot listen"));
    elm_server_free(s);

    p.port = 0;
    p.slots = 0;
    assert_int_equal(elm_server_create(&p, &echo_backend, &s, &d), ELM_EINVAL);
    assert_null(s);
    p.slots = 1;
    elm_server_backend_t none = {NULL, NULL, NULL};
    assert_int_equal(elm_server_create(&p, &none, &s, &d), ELM_EINVAL);
    elm_server_free(NULL);
    assert_string_equal(elm_server_endpoint_path(ELM_SERVER_EP_TOKENIZE), "/tokenize");
    assert_string_equal(elm_server_endpoint_path(ELM_SERVER_EP_COUNT), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_api_key),
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_queue_full_and_disconnect),
        cmocka_unit_test(test_disconnect_before_answer),
        cmocka_unit_test(test_slow_reader),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_stop_finishes),
        cmocka_unit_test(test_stop_cancels),
        cmocka_unit_test(test_lifecycle),
    };
    return cmocka_run_group_tests_name("server", tests, NULL, NULL);
}
