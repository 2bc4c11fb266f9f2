/* The client side of one streamed request: connect (getaddrinfo's addresses, IPv4 and IPv6,
 * non-blocking sockets under poll with one deadline), send the request, and feed the response
 * parser each read with the time it returned, so the caller's per-chunk times give TTFT and ITL.
 *
 * Hand-written rather than libcurl, on purpose: the parser it feeds is byte-driven and already
 * fuzzed (fuzz_http) and tested against tests/fake_openai.c; a read is stamped the moment recv
 * returns, with nothing buffered between the socket and the SSE events; the same parser can be
 * fed from a libevent bufferevent, so serve (evhttp) and a gateway holding many concurrent
 * upstream streams run on the one libevent loop instead of adding curl's multi interface as a
 * second event model; and the library needs no further dependency. What it gives up is TLS:
 * https endpoints go through a local proxy (url.c says so); if TLS is ever needed in-process,
 * libcurl feeding this same parser from its write callback is the way. */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "edgelm/http.h"

/* Milliseconds left until deadline (at least 0). */
static int ms_left(uint64_t deadline)
{
    uint64_t now = elm_time_ns();
    if (now >= deadline) return 0;
    uint64_t ms = (deadline - now + 999999) / 1000000;
    return ms > 600000 ? 600000 : (int)ms;
}

/* Connect to the first address that accepts: the socket (non-blocking), or a negative ELM_E*
 * with the reason naming host:port and the fix in *d. */
static int dial(const elm_http_url_t *u, const struct addrinfo *addrs, uint64_t deadline,
                double timeout_s, elm_diag_t *d)
{
    int last = 0;
    for (const struct addrinfo *a = addrs; a; a = a->ai_next) {
        int fd =
            socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
        if (fd < 0) {
            last = errno;
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) return fd;
        if (errno == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int n = poll(&p, 1, ms_left(deadline));
            int so = 0;
            socklen_t sl = sizeof so;
            if (n == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl) == 0 && so == 0) return fd;
            last = n == 0 ? ETIMEDOUT : so ? so : errno;
        } else {
            last = errno;
        }
        close(fd);
    }
    if (last == ECONNREFUSED)
        return elm_diag(d, ELM_EIO,
                        "connection refused by %s:%s: no server is listening there "
                        "(start the server, or fix --target)",
                        u->host, u->port);
    if (last == ETIMEDOUT)
        return elm_diag(d, ELM_EIO,
                        "connecting to %s:%s timed out after %g s (is the host up? "
                        "raise --timeout)",
                        u->host, u->port, timeout_s);
    return elm_diag(d, ELM_EIO, "cannot connect to %s:%s: %s", u->host, u->port, strerror(last));
}

char *elm_http_post_text(const elm_http_url_t *u, const char *body, size_t *len)
{
    bool v6 = strchr(u->host, ':') != NULL; /* an IPv6 literal goes back in brackets */
    elm_sbuf_t b = {0};
    elm_sbuf_printf(&b,
                    "POST %s HTTP/1.1\r\nHost: %s%s%s:%s\r\nUser-Agent: edgelm/%s\r\n"
                    "Content-Type: application/json\r\nAccept: text/event-stream\r\n"
                    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                    u->path, v6 ? "[" : "", u->host, v6 ? "]" : "", u->port, ELM_VERSION,
                    strlen(body), body);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}

int elm_http_exchange(const elm_http_url_t *u, const struct addrinfo *addrs, const char *req,
                      size_t len, uint64_t deadline_ns, double timeout_s, elm_http_resp_t *resp,
                      elm_diag_t *d)
{
    int rc = 0;
    elm_diag_t pd;
    int fd = dial(u, addrs, deadline_ns, timeout_s, d);
    if (fd < 0) return fd;
    for (size_t off = 0; off < len;) {
        ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (w < 0 && (errno == EAGAIN || errno == EINTR) && poll(&p, 1, ms_left(deadline_ns)) > 0)
            continue;
        rc = elm_diag(d, ELM_EIO, "sending the request to %s:%s failed: %s", u->host, u->port,
                      w < 0 ? strerror(errno) : "timed out (raise --timeout)");
        goto fail;
    }
    char buf[16384];
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n = poll(&p, 1, ms_left(deadline_ns));
        if (n < 0 && errno == EINTR) continue;
        if (n == 0) {
            rc = elm_diag(d, ELM_EIO,
                          "timed out after %g s (--timeout) waiting for %s:%s, %" PRIu32
                          " content chunks received",
                          timeout_s, u->host, u->port, elm_http_resp_summary(resp)->n_content);
            goto fail;
        }
        ssize_t got = recv(fd, buf, sizeof buf, 0);
        uint64_t t = elm_time_ns();
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (got < 0) {
            int err = errno;
            rc = elm_diag(d, elm_from_errno(err), "reading from %s:%s failed: %s", u->host, u->port,
                          strerror(err));
            goto fail;
        }
        if (got == 0) {
            rc = elm_http_resp_eof(resp, d);
            break;
        }
        if ((rc = elm_http_resp_feed(resp, buf, (size_t)got, t, &pd))) {
            rc = elm_diag(d, rc, "bad response from %s:%s: %s", u->host, u->port, pd.msg);
            goto fail;
        }
        if (elm_http_resp_finished(resp)) break;
    }
fail:
    close(fd);
    return rc;
}
