/* http/: the endpoint URL, the response and SSE parser on canned bytes (split at every byte
 * boundary), and the client's exchange against a server thread on 127.0.0.1: the request arrives
 * whole, each content chunk is stamped when its bytes were read (a delay between two chunks shows
 * as at least that gap, never asserted as an upper bound), and refused, timed-out and non-HTTP
 * peers give errors naming host:port. */
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "edgelm/http.h"
#include "testutil.h"

/* ---- the endpoint URL ---- */

static void test_url(void **state)
{
    (void)state;
    elm_http_url_t u;
    elm_diag_t d;
    assert_int_equal(elm_http_url_parse("http://127.0.0.1:8080", &u, &d), 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_string_equal(u.port, "8080");
    assert_string_equal(u.path, "/v1/chat/completions");
    assert_int_equal(elm_http_url_parse("http://localhost:11434/v1/", &u, &d), 0);
    assert_string_equal(u.path, "/v1/chat/completions");
    assert_int_equal(elm_http_url_parse("http://[::1]:9/x/chat/completions", &u, &d), 0);
    assert_string_equal(u.host, "::1");
    assert_string_equal(u.port, "9");
    assert_string_equal(u.path, "/x/chat/completions");
    assert_int_equal(elm_http_url_parse("http://box", &u, &d), 0);
    assert_string_equal(u.port, "80");
    static const struct {
        const char *url, *msg;
    } bad[] = {{"https://a:1", "https is not supported"},
               {"ftp://a", "expected http://"},
               {"http://:80", "no host"},
               {"http://a:0", "port must be"},
               {"http://a:70000", "port must be"},
               {"http://a:8x", "port must be"},
               {"http://[::1:80", "closing ']'"},
               {"http://a:1/p q", "control characters"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(elm_http_url_parse(bad[i].url, &u, &d), ELM_EINVAL);
        if (!strstr(d.msg, bad[i].msg))
            fail_msg("%s: '%s' lacks '%s'", bad[i].url, d.msg, bad[i].msg);
    }
}

/* ---- the response parser ---- */

static const char chunked_ok[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    "2c\r\ndata: {\"choices\":[{\"delta\":{\"role\":\"x\"}}]}\n\n\r\n"
    "1a\r\ndata: {\"choices\":[{\"delta\"\r\n"
    "16\r\n:{\"content\":\"Hi\"}}]}\n\n\r\n"
    "3c\r\n: comment\nevent: x\ndata: {\"choices\":[{\"text\":\" there\"}]}\r\n\r\n\r\n"
    "3e\r\ndata: {\"choices\":[],\"usage\":{\"completion_tokens\":3}}\n\ndata: [D\r\n"
    "6\r\nONE]\n\n\r\n"
    "0\r\n\r\n";

typedef struct {
    int n;
    uint64_t last_t;
} seen_t;

static void count(void *user, uint64_t t)
{
    seen_t *s = user;
    s->n++;
    s->last_t = t;
}

/* Parse text fed in pieces of `step` bytes (0: at every boundary `split`); returns the rc. */
static int parse(const char *text, size_t len, size_t split, size_t step, seen_t *seen,
                 elm_http_summary_t *sum, elm_diag_t *d)
{
    elm_http_resp_t *r;
    assert_int_equal(elm_http_resp_create(count, seen, &r, d), 0);
    int rc = 0;
    if (step) {
        for (size_t i = 0; i < len && !rc; i += step)
            rc = elm_http_resp_feed(r, text + i, len - i < step ? len - i : step, i, d);
    } else {
        rc = elm_http_resp_feed(r, text, split, 1, d);
        if (!rc) rc = elm_http_resp_feed(r, text + split, len - split, 2, d);
    }
    if (!rc) rc = elm_http_resp_eof(r, d);
    *sum = *elm_http_resp_summary(r);
    elm_http_resp_free(r);
    return rc;
}

static void test_parser(void **state)
{
    (void)state;
    elm_http_summary_t s;
    elm_diag_t d;
    size_t len = sizeof chunked_ok - 1;
    for (size_t split = 0; split <= len; split++) {
        seen_t seen = {0};
        int rc = parse(chunked_ok, len, split, 0, &seen, &s, &d);
        if (rc) fail_msg("split %zu: %s", split, d.msg);
        assert_int_equal(s.status, 200);
        assert_string_equal(s.reason, "OK");
        assert_int_equal(s.n_content, 2);
        assert_int_equal(seen.n, 2);
        assert_int_equal(s.usage_tokens, 3);
        assert_true(s.done);
        assert_true(s.complete);
    }
    seen_t one = {0};
    assert_int_equal(parse(chunked_ok, len, 0, 1, &one, &s, &d), 0);
    assert_int_equal(one.n, 2);

    /* Content-Length body, LF line ends, no usage */
    static const char length_ok[] = "HTTP/1.0 200 OK\nContent-Length: 61\n\n"
                                    "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n"
                                    "data: [DONE]\n\n";
    seen_t seen = {0};
    assert_int_equal(parse(length_ok, sizeof length_ok - 1, 10, 0, &seen, &s, &d), 0);
    assert_int_equal(s.n_content, 1);
    assert_int_equal(s.usage_tokens, -1);
    assert_true(s.complete);

    /* an error status: its JSON message is kept, the body is not an SSE stream */
    static const char err[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 43\r\n\r\n"
                              "{\"error\":{\"message\":\"Loading model\",\"x\":1}}";
    assert_int_equal(parse(err, sizeof err - 1, 5, 0, &seen, &s, &d), 0);
    assert_int_equal(s.status, 503);
    assert_string_equal(s.error, "Loading model");
    assert_string_equal(s.reason, "Service Unavailable");

    /* read-to-close body ends at EOF; an SSE error event is reported */
    static const char close_err[] = "HTTP/1.1 200 OK\r\n\r\ndata: {\"error\":\"boom\"}";
    assert_int_equal(parse(close_err, sizeof close_err - 1, 3, 0, &seen, &s, &d), 0);
    assert_string_equal(s.error, "boom");

    static const struct {
        const char *text;
        int rc;
        const char *msg;
    } bad[] = {
        {"SSH-2.0-OpenSSH\r\n", ELM_EINVAL, "not an HTTP/1.x response"},
        {"HTTP/1.1 200 OK\r\nbad header\r\n\r\n", ELM_EINVAL, "malformed response header"},
        {"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", ELM_EINVAL, "bad Content-Length"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", ELM_EINVAL,
         "malformed chunk size"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffff\r\n", ELM_ERANGE,
         "too large"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n", ELM_EINVAL,
         "longer than its size"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", ELM_ENOTSUP, "gzip"},
        {"HTTP/1.1 200 OK\r\n\r\ndata: {oops\n\n", ELM_EINVAL, "malformed SSE event"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\ndata", ELM_EIO,
         "short of its Content-Length"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\ndata:", ELM_EIO,
         "no last chunk"},
        {"HTTP/1.1 200 OK\r\nX: y\r\n", ELM_EIO, "before the response headers ended"},
        {"", ELM_EIO, "without a response"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = parse(bad[i].text, strlen(bad[i].text), strlen(bad[i].text) / 2, 0, &seen, &s, &d);
        if (rc != bad[i].rc || !strstr(d.msg, bad[i].msg))
            fail_msg("case %zu: rc %d '%s', wanted %d '%s'", i, rc, d.msg, bad[i].rc, bad[i].msg);
    }

    /* limits: an endless header line, an endless SSE line, too many headers */
    size_t big = ELM_HTTP_MAX_EVENT + 100;
    char *t = malloc(big + 64);
    assert_non_null(t);
    int n = snprintf(t, 64, "HTTP/1.1 200 OK\r\nX: ");
    memset(t + n, 'a', big - (size_t)n);
    assert_int_equal(parse(t, big, 0, 4096, &seen, &s, &d), ELM_ERANGE);
    assert_non_null(strstr(d.msg, "response line longer than"));
    n = snprintf(t, 64, "HTTP/1.1 200 OK\r\n\r\ndata: ");
    memset(t + n, 'a', big - (size_t)n);
    assert_int_equal(parse(t, big, 0, 4096, &seen, &s, &d), ELM_ERANGE);
    assert_non_null(strstr(d.msg, "SSE line longer than"));
    free(t);
    elm_sbuf_t h = {0};
    elm_sbuf_printf(&h, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i <= ELM_HTTP_MAX_HEADERS; i++)
        elm_sbuf_printf(&h, "X-%d: y\r\n", i);
    assert_int_equal(parse(h.p, h.len, 0, 100, &seen, &s, &d), ELM_ERANGE);
    assert_non_null(strstr(d.msg, "response headers"));
    free(h.p);
}

/* The request head: path, Host (an IPv6 literal back in brackets), the body's length. */
static void test_post_text(void **state)
{
    (void)state;
    elm_http_url_t u;
    size_t len;
    assert_int_equal(elm_http_url_parse("http://[::1]:8080/v1", &u, NULL), 0);
    char *t = elm_http_post_text(&u, "{\"a\":1}", &len);
    assert_non_null(t);
    assert_string_equal(t, "POST /v1/chat/completions HTTP/1.1\r\nHost: [::1]:8080\r\n"
                           "User-Agent: edgelm/" ELM_VERSION "\r\n"
                           "Content-Type: application/json\r\nAccept: text/event-stream\r\n"
                           "Content-Length: 7\r\nConnection: close\r\n\r\n{\"a\":1}");
    assert_int_equal(len, strlen(t));
    free(t);
    assert_int_equal(elm_http_url_parse("http://box", &u, NULL), 0);
    t = elm_http_post_text(&u, "", &len);
    assert_non_null(strstr(t, "\r\nHost: box:80\r\n"));
    assert_non_null(strstr(t, "Content-Length: 0\r\n"));
    free(t);
}

/* ---- the client against a server thread ---- */

typedef struct {
    int lfd;
    const char *parts[3]; /* sent in turn, gap_ms apart, then the connection closes */
    int gap_ms;
    bool hang; /* send nothing; wait for the client to give up */
    char req[4096];
    size_t req_len;
} server_t;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Accept one connection, read the request (head and Content-Length body), answer. */
static void *serve_one(void *arg)
{
    server_t *s = arg;
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0) return NULL;
    size_t want = SIZE_MAX;
    while (s->req_len < want && s->req_len < sizeof s->req - 1) {
        ssize_t got = recv(fd, s->req + s->req_len, sizeof s->req - 1 - s->req_len, 0);
        if (got <= 0) break;
        s->req_len += (size_t)got;
        s->req[s->req_len] = '\0';
        const char *end = strstr(s->req, "\r\n\r\n"), *cl = strstr(s->req, "Content-Length: ");
        if (end && cl) want = (size_t)(end + 4 - s->req) + strtoul(cl + 16, NULL, 10);
    }
    if (s->hang) {
        char c;
        while (recv(fd, &c, 1, 0) > 0) {
        }
    }
    for (int i = 0; i < 3 && s->parts[i] && !s->hang; i++) {
        if (i) sleep_ms(s->gap_ms);
        if (send(fd, s->parts[i], strlen(s->parts[i]), MSG_NOSIGNAL) < 0) break;
    }
    close(fd);
    return NULL;
}

/* A listening socket on 127.0.0.1 (port 0: the kernel picks) and its addresses and URL. */
static int listen_local(elm_http_url_t *u, struct addrinfo **ai)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(a.sin_port));
    assert_int_equal(elm_http_url_parse(url, u, NULL), 0);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    assert_int_equal(getaddrinfo(u->host, u->port, &hints, ai), 0);
    return fd;
}

/* Run one exchange of req against a server answering as s says; returns its rc. */
static int exchange(server_t *s, const char *req, double timeout_s, seen_t *seen,
                    elm_http_summary_t *sum, elm_diag_t *d, elm_http_url_t *u)
{
    struct addrinfo *ai;
    pthread_t th;
    s->lfd = listen_local(u, &ai);
    assert_int_equal(pthread_create(&th, NULL, serve_one, s), 0);
    elm_http_resp_t *r;
    assert_int_equal(elm_http_resp_create(count, seen, &r, NULL), 0);
    uint64_t deadline = elm_time_ns() + (uint64_t)(timeout_s * 1e9);
    int rc = elm_http_exchange(u, ai, req, strlen(req), deadline, timeout_s, r, d);
    *sum = *elm_http_resp_summary(r);
    elm_http_resp_free(r);
    pthread_join(th, NULL);
    close(s->lfd);
    freeaddrinfo(ai);
    return rc;
}

static const char post[] = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                           "Connection: close\r\n\r\n{}";

static void test_exchange_stream(void **state)
{
    (void)state;
    server_t s = {.gap_ms = 60,
                  .parts = {"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"
                            "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n",
                            "data: {\"choices\":[{\"delta\":{\"content\":\"b\"}}]}\n\n"
                            "data: [DONE]\n\n"}};
    seen_t seen = {0};
    elm_http_summary_t sum;
    elm_diag_t d;
    elm_http_url_t u;
    uint64_t t0 = elm_time_ns();
    assert_int_equal(exchange(&s, post, 10, &seen, &sum, &d, &u), 0);
    assert_string_equal(s.req, post); /* the request arrived whole */
    assert_int_equal(sum.status, 200);
    assert_int_equal(sum.n_content, 2);
    assert_true(sum.done);
    assert_int_equal(seen.n, 2);
    /* the last chunk was stamped when it was read, after the server's gap */
    assert_true(seen.last_t >= t0 + 50 * 1000000ull);
}

static void test_exchange_errors(void **state)
{
    (void)state;
    seen_t seen = {0};
    elm_http_summary_t sum;
    elm_diag_t d;
    elm_http_url_t u;
    char want[256];

    server_t bad = {.parts = {"SMTP ready\r\n"}};
    assert_int_equal(exchange(&bad, post, 10, &seen, &sum, &d, &u), ELM_EINVAL);
    snprintf(want, sizeof want, "bad response from 127.0.0.1:%s: not an HTTP/1.x response", u.port);
    assert_memory_equal(d.msg, want, strlen(want));

    server_t hang = {.hang = true};
    assert_int_equal(exchange(&hang, post, 0.2, &seen, &sum, &d, &u), ELM_EIO);
    snprintf(want, sizeof want,
             "timed out after 0.2 s (--timeout) waiting for 127.0.0.1:%s, 0 "
             "content chunks received",
             u.port);
    assert_string_equal(d.msg, want);

    /* a port nobody listens on: bound, never listening */
    struct addrinfo *ai;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    snprintf(want, sizeof want, "http://127.0.0.1:%d", ntohs(a.sin_port));
    assert_int_equal(elm_http_url_parse(want, &u, NULL), 0);
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    assert_int_equal(getaddrinfo(u.host, u.port, &hints, &ai), 0);
    elm_http_resp_t *r;
    assert_int_equal(elm_http_resp_create(NULL, NULL, &r, NULL), 0);
    assert_int_equal(
        elm_http_exchange(&u, ai, post, strlen(post), elm_time_ns() + 2000000000ull, 2, r, &d),
        ELM_EIO);
    snprintf(want, sizeof want,
             "connection refused by 127.0.0.1:%s: no server is listening there "
             "(start the server, or fix --target)",
             u.port);
    assert_string_equal(d.msg, want);
    elm_http_resp_free(r);
    freeaddrinfo(ai);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url),
        cmocka_unit_test(test_parser),
        cmocka_unit_test(test_post_text),
        cmocka_unit_test(test_exchange_stream),
        cmocka_unit_test(test_exchange_errors),
    };
    return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
