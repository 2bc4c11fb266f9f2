/* Internal to src/gateway: the upstream targets (devices and the cloud) with their connection
 * pools, health and breaker; one exchange with an upstream on the event loop; a client request's
 * state as it is routed, forwarded, retried and accounted. Everything runs on the loop thread. */
#ifndef EDGELM_GATEWAY_INTERNAL_H
#define EDGELM_GATEWAY_INTERNAL_H

#include <stdio.h>

#include "edgelm/gateway.h"
#include "edgelm/serve.h"
#include "edgelm/tokenizer.h"

struct event;
struct event_base;
struct evhttp_connection;

#define GW_IDLE_MAX 64 /* kept-alive connections per upstream */

typedef enum { GW_CLOSED = 0, GW_HALF_OPEN = 1, GW_OPEN = 2 } gw_breaker_t;

typedef struct gw_exchange gw_exchange_t;
typedef struct gw_limits gw_limits_t;

/* A device or the cloud: where it is, its connections, and what the gateway has seen of it. */
typedef struct {
    elm_gateway_t *g;
    char name[ELM_ROUTE_NAME_MAX];
    char host[256];
    int port;
    char base_path[ELM_ROUTE_URL_MAX]; /* the URL's path without its trailing '/': "/v1" */
    char model[ELM_ROUTE_NAME_MAX];
    char *auth; /* "Bearer KEY" from the environment, or NULL; never logged */
    int device; /* index in the router, -1 for the cloud */
    struct evhttp_connection *idle[GW_IDLE_MAX];
    int n_idle;
    /* health (devices) */
    gw_breaker_t breaker;
    uint32_t fails; /* consecutive */
    uint64_t open_until_ns;
    struct event *health_ev;
    gw_exchange_t *probe; /* the health check in progress */
    int probe_status;
    bool checked_ok; /* the last active check answered 200 */
    /* what was seen */
    double tps;    /* learned generation speed, tokens/s; 0: none yet */
    uint64_t shared_used; /* the tokens in its window across the gateways, as Redis last said */
    uint64_t in_flight, requests, failures, tokens_in, tokens_out;
    double cost;
} gw_target_t;

struct elm_gateway {
    elm_cluster_config_t cfg;
    elm_gateway_params_t p;
    char *config_name, *host;
    elm_router_t *router;
    elm_server_t *srv;
    struct event_base *base;
    gw_target_t dev[ELM_ROUTE_MAX_DEVICES];
    gw_target_t cloud; /* valid when cfg.cloud.enabled */
    elm_metrics_t *metrics;
    FILE *access;
    gw_exchange_t *exchanges; /* in progress, or closed and waiting to be freed */
    elm_tokenizer_t *tok;     /* counts prompt tokens when the config names a vocabulary */
    elm_route_keys_t keys;    /* client keys (n 0: none needed) */
    elm_limiter_t *key_lim;   /* (keys.n) each key's window and parallel limit */
    gw_limits_t *limits;      /* the shared limits in Redis; NULL: local only */
    uint64_t next_id, next_lease;
    char lease_prefix[24]; /* this gateway's own, so leases differ across gateways */
    uint64_t outcomes[5]; /* by gw_outcome_t */
    bool stopping;
};

/* ---- exchanges (upstream.c) ---- */

/* What an exchange tells its owner; on_done is the last call. err 0: the response is complete
 * (status as on_head gave it); otherwise the exchange failed and why says how ("connection
 * refused", "no first byte within 60 s", ...). */
typedef struct {
    void (*on_head)(void *user, int status);
    void (*on_data)(void *user, const char *p, size_t n);
    void (*on_done)(void *user, int err, const char *why);
} gw_exchange_cb_t;

/* Send method ("GET"/"POST") path with body[0..len) (may be empty) to t, with the cluster's
 * timeouts; total_deadline_ns (elm_time_ns clock) bounds the whole exchange. Returns NULL when
 * out of memory (nothing is called then). */
gw_exchange_t *gw_exchange_start(elm_gateway_t *g, gw_target_t *t, const char *method,
                                 const char *path, const char *body, size_t len,
                                 uint64_t total_deadline_ns, const gw_exchange_cb_t *cb,
                                 void *user);

/* Stop x: no callback is made after this, and its connection is closed. */
void gw_exchange_abort(gw_exchange_t *x);

/* Free every exchange left (at the end, before the event loop goes): no callback is made. */
void gw_exchanges_free(elm_gateway_t *g);

/* Close every kept-alive connection of t. */
void gw_target_close(gw_target_t *t);

/* Fill t from a base URL ("http://host:port/v1"); ELM_EINVAL naming key when it is not one. */
int gw_target_init(gw_target_t *t, const char *name, const char *url, const char *model,
                   const char *key_env, const char *key, const char *cfg_name, elm_diag_t *d);

/* ---- shared limits (limits.c) ---- */

enum { GW_LIM_OK = 0, GW_LIM_WINDOW = 1, GW_LIM_PARALLEL = 2, GW_LIM_DOWN = 3 };

/* A reservation's verdict; wait_ms: how long until the window has room (GW_LIM_WINDOW); used:
 * the tokens in the scope's window across the gateways (0 when Redis did not say). */
typedef void (*gw_reserve_cb)(void *user, int verdict, int64_t wait_ms, uint64_t used);

/* Connect to the config's Redis (nothing when it names none); until connected, and whenever
 * Redis is away, the local limiters hold 1/gateways of every capacity. */
int gw_limits_start(elm_gateway_t *g, elm_diag_t *d);
void gw_limits_stop(elm_gateway_t *g);
/* Redis is configured and answering: reservations go through gw_limits_reserve. */
bool gw_limits_shared(const elm_gateway_t *g);
/* Redis is configured, away, and the config says fail-closed. */
bool gw_limits_closed(const elm_gateway_t *g);
/* "redis", "local" or "local (Redis unreachable)"; why it is unreachable. */
const char *gw_limits_mode(const elm_gateway_t *g);
const char *gw_limits_why(const elm_gateway_t *g);
/* Reserve tokens and a parallel slot for lease in scope ("dev:NAME", "key:NAME") atomically
 * across gateways; cb gets the verdict (GW_LIM_DOWN when Redis did not answer in time). */
void gw_limits_reserve(elm_gateway_t *g, const char *scope, const char *lease, uint64_t tokens,
                       uint64_t capacity, uint32_t max_parallel, gw_reserve_cb cb, void *user);
/* End lease: free its slot and count actual tokens instead of the reservation. */
void gw_limits_release(elm_gateway_t *g, const char *scope, const char *lease, uint64_t actual);

/* ---- health (health.c) ---- */

/* Start the periodic checks of every device. Returns 0 or ELM_ENOMEM. */
int gw_health_start(elm_gateway_t *g);
void gw_health_stop(elm_gateway_t *g);
/* A request to the device failed (passive check) or succeeded. */
void gw_health_report(elm_gateway_t *g, gw_target_t *t, bool ok, const char *why);

/* ---- a device's stream (sse.c) ---- */

/* Bytes of a server-sent-event stream, split into events as they come. */
typedef struct {
    char *buf; /* the unfinished event */
    size_t len, cap, scanned;
    size_t max_event; /* an unfinished event longer than this is an error */
} gw_sse_t;

/* One event: its data lines joined with '\n', NUL-terminated (data[n] == 0, writable). Returns
 * false to stop: gw_sse_feed then touches nothing more (the owner of the gw_sse_t may be gone). */
typedef bool (*gw_sse_event_fn)(void *user, char *data, size_t n);

enum { GW_SSE_OK = 0, GW_SSE_STOPPED = 1, GW_SSE_TOO_LONG = -1, GW_SSE_NOMEM = -2 };

/* Take p[0..n) and hand fn each event it completes ("\n\n", "\r\n\r\n" end one; at_end, the
 * rest is one too). Events without data lines are skipped. Returns GW_SSE_OK, GW_SSE_STOPPED
 * (fn returned false), GW_SSE_TOO_LONG (the unfinished event outgrew max_event) or
 * GW_SSE_NOMEM. */
int gw_sse_feed(gw_sse_t *s, const char *p, size_t n, bool at_end, gw_sse_event_fn fn,
                void *user);
void gw_sse_free(gw_sse_t *s);

/* What a chunk's data says. Counts are -1 when absent. */
typedef struct {
    bool done;         /* [DONE] */
    bool error;        /* an "error" member */
    bool content;      /* choices[0].delta.content (or .text) is a non-empty string */
    bool usage_only;   /* choices [] and a usage object: the include_usage chunk */
    int64_t prompt_tokens, completion_tokens; /* usage's */
} gw_event_t;

void gw_event_read(const char *data, size_t n, gw_event_t *e);

/* The SSE text of data[0..n) for the client: a "data: " line per line, then an empty line;
 * malloc'd, NUL-terminated, its length in *len; NULL when out of memory. */
char *gw_sse_text(const char *data, size_t n, size_t *len);

/* ---- requests (forward.c) ---- */

typedef enum {
    GW_SERVED = 0,     /* a device answered */
    GW_REDIRECTED = 1, /* the cloud answered */
    GW_REJECTED = 2,   /* 429: no device and no cloud could take it */
    GW_FAILED = 3,     /* an error reached the client (after tokens, or with none) */
    GW_CANCELLED = 4   /* the client went away */
} gw_outcome_t;

const char *gw_outcome_name(gw_outcome_t o);

/* The server backend's hooks for the generation endpoints; key is the client's index in g->keys,
 * -1 without keys. */
void gw_forward(elm_gateway_t *g, elm_server_req_t *req, int key);
void gw_forward_cancel(elm_gateway_t *g, elm_server_req_t *req);

/* ---- status (status.c) ---- */

/* Register the gateway's metric families. Returns 0 or ELM_ENOMEM. */
int gw_metrics_create(elm_gateway_t *g);
/* Refresh the gauges (window fill, in flight, health, breaker) at now. */
void gw_metrics_refresh(elm_gateway_t *g, int64_t now_ms);
/* GET /v1/cluster's body, malloc'd; NULL when out of memory. */
char *gw_cluster_json(elm_gateway_t *g, int64_t now_ms);

/* A log line through the params' hook (printf-style). */
void gw_log(elm_gateway_t *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Milliseconds on the router's clock. */
int64_t gw_now_ms(void);

#endif
