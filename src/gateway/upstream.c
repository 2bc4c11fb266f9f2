/* gateway/: one HTTP exchange with a device or the cloud on the event loop (libevent's evhttp
 * client), over kept-alive connections per upstream, with the cluster's four timeouts: connect,
 * first byte, idle between chunks, and total. A failed or aborted exchange closes its connection;
 * a complete one gives it back to the pool. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "gateway_internal.h"

enum { PH_CONNECT, PH_FIRST_BYTE, PH_BODY, PH_DONE };

struct gw_exchange {
    gw_exchange_t *prev, *next; /* the gateway's list, until destroyed */
    elm_gateway_t *g;
    gw_target_t *t;
    gw_exchange_cb_t cb;
    void *user;
    struct evhttp_connection *conn;
    struct evhttp_request *ev;
    struct event *timer;
    int phase;
    int status;
    int err_kind; /* the evhttp error, when one was reported */
    bool failed_http;
    uint64_t deadline_ns, t_start_ns;
};

static double secs(uint64_t ns)
{
    return (double)ns / 1e9;
}

static void arm(gw_exchange_t *x, double limit_s)
{
    uint64_t now = elm_time_ns();
    double left = x->deadline_ns > now ? secs(x->deadline_ns - now) : 0;
    double s = limit_s < left ? limit_s : left;
    struct timeval tv = {(time_t)s, (suseconds_t)((s - (double)(time_t)s) * 1e6)};
    evtimer_add(x->timer, &tv);
}

/* Free x and close its connection; safe inside x's evhttp callbacks only through a deferral. */
static void destroy(gw_exchange_t *x)
{
    if (x->prev) x->prev->next = x->next;
    else x->g->exchanges = x->next;
    if (x->next) x->next->prev = x->prev;
    if (x->timer) event_free(x->timer);
    if (x->conn) evhttp_connection_free(x->conn); /* frees a pending request, calls nothing */
    free(x);
}

static void on_deferred_destroy(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    destroy(arg);
}

/* Destroy x after the current callback returns: evhttp still uses the connection until then. */
static void destroy_later(gw_exchange_t *x)
{
    struct timeval zero = {0, 0};
    if (x->timer) evtimer_del(x->timer);
    if (event_base_once(x->g->base, -1, EV_TIMEOUT, on_deferred_destroy, x, &zero) != 0)
        x->conn = NULL; /* cannot defer: leak the connection rather than free it under evhttp */
}

/* The exchange ends: tell the owner once, then free it (the connection goes back to the pool
 * when the response was complete and the pool has room). */
static void finish(gw_exchange_t *x, int err, const char *why)
{
    if (x->phase == PH_DONE) return;
    x->phase = PH_DONE;
    evtimer_del(x->timer);
    x->cb.on_done(x->user, err, why);
    if (!err && x->t->n_idle < GW_IDLE_MAX && !x->g->stopping) {
        x->t->idle[x->t->n_idle++] = x->conn;
        x->conn = NULL;
    }
    x->ev = NULL;
    destroy_later(x);
}

void gw_exchange_abort(gw_exchange_t *x)
{
    if (!x || x->phase == PH_DONE) return;
    x->phase = PH_DONE;
    destroy_later(x);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    gw_exchange_t *x = arg;
    char why[96];
    const elm_gateway_spec_t *gs = &x->g->cfg.gateway;
    uint64_t now = elm_time_ns();
    if (now >= x->deadline_ns) {
        snprintf(why, sizeof why, "no complete answer within the total timeout");
        finish(x, ELM_EIO, why);
        return;
    }
    if (x->phase == PH_CONNECT) {
        /* connected by now (the peer has an address): wait for the first byte */
        struct bufferevent *bev = evhttp_connection_get_bufferevent(x->conn);
        struct sockaddr_storage sa;
        socklen_t sl = sizeof sa;
        evutil_socket_t sfd = bev ? bufferevent_getfd(bev) : -1;
        if (sfd >= 0 && getpeername(sfd, (struct sockaddr *)&sa, &sl) == 0) {
            x->phase = PH_FIRST_BYTE;
            arm(x, gs->first_byte_timeout_s - gs->connect_timeout_s);
            return;
        }
        snprintf(why, sizeof why, "no connection within %g s", gs->connect_timeout_s);
    } else if (x->phase == PH_FIRST_BYTE) {
        snprintf(why, sizeof why, "no first byte within %g s", gs->first_byte_timeout_s);
    } else {
        snprintf(why, sizeof why, "nothing for %g s in the middle of the answer",
                 gs->idle_timeout_s);
    }
    finish(x, ELM_EIO, why);
}

static int on_header(struct evhttp_request *ev, void *arg)
{
    gw_exchange_t *x = arg;
    if (x->phase == PH_DONE) return -1;
    x->status = evhttp_request_get_response_code(ev);
    x->phase = PH_BODY;
    /* the next request on this kept-alive connection leaves without waiting for an ACK */
    struct bufferevent *bev = evhttp_connection_get_bufferevent(x->conn);
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    int one = 1;
    if (fd >= 0) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    arm(x, x->g->cfg.gateway.idle_timeout_s);
    x->cb.on_head(x->user, x->status);
    return x->phase == PH_DONE ? -1 : 0;
}

static void deliver(gw_exchange_t *x, struct evhttp_request *ev)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(ev);
    size_t n;
    while (x->phase != PH_DONE && (n = evbuffer_get_contiguous_space(in)) > 0) {
        const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
        x->cb.on_data(x->user, p, n);
        evbuffer_drain(in, n);
    }
}

static void on_chunk(struct evhttp_request *ev, void *arg)
{
    gw_exchange_t *x = arg;
    if (x->phase == PH_DONE) return;
    arm(x, x->g->cfg.gateway.idle_timeout_s);
    deliver(x, ev);
}

static void on_error(enum evhttp_request_error e, void *arg)
{
    gw_exchange_t *x = arg;
    x->failed_http = true;
    x->err_kind = (int)e;
}

static void on_done(struct evhttp_request *ev, void *arg)
{
    gw_exchange_t *x = arg;
    if (x->phase == PH_DONE) return;
    if (ev && evhttp_request_get_response_code(ev) > 0 && !x->failed_http) {
        deliver(x, ev);
        finish(x, 0, NULL);
        return;
    }
    /* evhttp frees the request after this: the connection must not be reused */
    char why[96];
    bool before_head = x->status == 0;
    switch (x->err_kind) {
    case EVREQ_HTTP_TIMEOUT: snprintf(why, sizeof why, "timed out"); break;
    case EVREQ_HTTP_INVALID_HEADER: snprintf(why, sizeof why, "sent a malformed response"); break;
    case EVREQ_HTTP_DATA_TOO_LONG: snprintf(why, sizeof why, "sent too large an answer"); break;
    default:
        snprintf(why, sizeof why, "%s",
                 x->phase == PH_CONNECT && before_head ? "connection refused or reset"
                 : before_head ? "closed the connection before answering"
                               : "closed the connection in the middle of the answer");
    }
    finish(x, ELM_EIO, why);
}

static struct evhttp_connection *take_connection(elm_gateway_t *g, gw_target_t *t)
{
    if (t->n_idle) return t->idle[--t->n_idle];
    struct evhttp_connection *c = evhttp_connection_base_new(g->base, NULL, t->host,
                                                             (unsigned short)t->port);
    if (!c) return NULL;
    /* our own timers bound each phase; evhttp's only catches a connection that went silent */
    evhttp_connection_set_timeout(c, (int)g->cfg.gateway.total_timeout_s + 1);
    evhttp_connection_set_max_headers_size(c, 64 * 1024);
    return c;
}

gw_exchange_t *gw_exchange_start(elm_gateway_t *g, gw_target_t *t, const char *method,
                                 const char *path, const char *body, size_t len,
                                 uint64_t total_deadline_ns, const gw_exchange_cb_t *cb,
                                 void *user)
{
    gw_exchange_t *x = calloc(1, sizeof *x);
    if (!x) return NULL;
    x->g = g;
    x->t = t;
    x->cb = *cb;
    x->user = user;
    x->t_start_ns = elm_time_ns();
    x->deadline_ns = total_deadline_ns;
    x->next = g->exchanges;
    if (x->next) x->next->prev = x;
    g->exchanges = x;
    x->timer = evtimer_new(g->base, on_timer, x);
    x->conn = take_connection(g, t);
    x->ev = evhttp_request_new(on_done, x);
    if (!x->timer || !x->conn || !x->ev) goto fail;
    evhttp_request_set_header_cb(x->ev, on_header);
    evhttp_request_set_chunked_cb(x->ev, on_chunk);
    evhttp_request_set_error_cb(x->ev, on_error);
    struct evkeyvalq *h = evhttp_request_get_output_headers(x->ev);
    char host[300];
    snprintf(host, sizeof host, "%s:%d", t->host, t->port);
    evhttp_add_header(h, "Host", host);
    evhttp_add_header(h, "User-Agent", "edgelm-gateway/" ELM_VERSION);
    if (t->auth) evhttp_add_header(h, "Authorization", t->auth);
    if (len) {
        evhttp_add_header(h, "Content-Type", "application/json");
        evbuffer_add(evhttp_request_get_output_buffer(x->ev), body, len);
    }
    enum evhttp_cmd_type m = strcmp(method, "GET") == 0 ? EVHTTP_REQ_GET : EVHTTP_REQ_POST;
    x->phase = PH_CONNECT;
    arm(x, g->cfg.gateway.connect_timeout_s);
    if (evhttp_make_request(x->conn, x->ev, m, path) != 0) {
        x->ev = NULL; /* freed by evhttp on failure */
        goto fail;
    }
    return x;
fail:
    if (x->ev) evhttp_request_free(x->ev);
    destroy(x);
    return NULL;
}

void gw_exchanges_free(elm_gateway_t *g)
{
    while (g->exchanges) destroy(g->exchanges);
}

void gw_target_close(gw_target_t *t)
{
    while (t->n_idle) evhttp_connection_free(t->idle[--t->n_idle]);
}

int gw_target_init(gw_target_t *t, const char *name, const char *url, const char *model,
                   const char *key_env, const char *key, const char *cfg_name, elm_diag_t *d)
{
    struct evhttp_uri *u = evhttp_uri_parse(url);
    const char *scheme = u ? evhttp_uri_get_scheme(u) : NULL;
    const char *host = u ? evhttp_uri_get_host(u) : NULL;
    const char *path = u ? evhttp_uri_get_path(u) : NULL;
    int port = u ? evhttp_uri_get_port(u) : -1;
    int rc = 0;
    if (!url[0]) {
        rc = elm_diag(d, ELM_EINVAL,
                      "%s: %s.url is required by the gateway (the device's OpenAI-compatible "
                      "base URL, like \"http://192.168.1.20:8080/v1\")",
                      cfg_name, key);
    } else if (!scheme || strcmp(scheme, "http") != 0 || !host || !*host) {
        rc = elm_diag(d, ELM_EINVAL,
                      "%s: %s.url '%s' is not an http://host[:port]/path URL (https is not "
                      "supported: put a TLS terminator in front)",
                      cfg_name, key, url);
    }
    if (rc) goto done;
    snprintf(t->name, sizeof t->name, "%s", name);
    snprintf(t->host, sizeof t->host, "%s", host);
    t->port = port > 0 ? port : 80;
    snprintf(t->base_path, sizeof t->base_path, "%s", path ? path : "");
    size_t n = strlen(t->base_path);
    while (n && t->base_path[n - 1] == '/') t->base_path[--n] = '\0';
    snprintf(t->model, sizeof t->model, "%s", model);
    if (key_env && key_env[0]) {
        const char *v = getenv(key_env);
        if (!v || !*v) {
            rc = elm_diag(d, ELM_EINVAL,
                          "%s: %s.api_key_env names %s, which is not set in the environment "
                          "(export it, or remove api_key_env)",
                          cfg_name, key, key_env);
            goto done;
        }
        size_t kl = strlen(v) + 8;
        if (!(t->auth = malloc(kl))) {
            rc = elm_diag(d, ELM_ENOMEM, "out of memory");
            goto done;
        }
        snprintf(t->auth, kl, "Bearer %s", v);
    }
done:
    if (u) evhttp_uri_free(u);
    return rc;
}
