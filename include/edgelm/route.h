/* edgelm route: the routing policy shared by `edgelm simulate` and the live gateway — a
 * sliding-window token limiter with a concurrency limit per device, pluggable device-selection
 * strategies, the device / cloud / reject decision with its reason, and the accounting of tokens,
 * money and energy. Pure: no I/O, no clock, no allocation per decision; "now" is always an argument
 * (milliseconds on any monotonic scale the caller picks). */
#ifndef EDGELM_ROUTE_H
#define EDGELM_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgelm/base.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ELM_ROUTE_MAX_DEVICES 64
#define ELM_ROUTE_NAME_MAX    64
#define ELM_ROUTE_URL_MAX     256  /* base URLs, the Redis URL */
#define ELM_ROUTE_PATH_MAX    1024 /* files named by the config */
/* Upper bound of a device's sliding log (entries of 16 bytes: 1 MiB per device at most). */
#define ELM_ROUTE_MAX_LOG 65536

/* ---- random numbers ---- */

/* xoshiro256** seeded through splitmix64: small, fast, reproducible on every platform. */
typedef struct {
    uint64_t s[4];
} elm_rng_t;

void elm_rng_seed(elm_rng_t *r, uint64_t seed);
uint64_t elm_rng_next(elm_rng_t *r);
/* Uniform in [0, 1) with 53 random bits. */
double elm_rng_uniform(elm_rng_t *r);
/* Uniform in [0, n) without modulo bias; n > 0. */
uint32_t elm_rng_below(elm_rng_t *r, uint32_t n);

/* ---- sliding-window limiter ---- */

/* Why a request did not go to a device. */
#define ELM_ROUTE_REASON_MAP(X)                    \
    X(OK, "admitted")                              \
    X(WINDOW_FULL, "token window full")            \
    X(CONCURRENCY_FULL, "all parallel slots busy") \
    X(UNHEALTHY, "no healthy device")              \
    X(TOO_LARGE, "request larger than any device's window")  \
    X(FAILED, "devices failed and the retries are spent")           \
    X(LIMITS_DOWN, "the shared limits cannot be reached (fail-closed)")

typedef enum {
#define ELM__REASON_ENUM(name, msg) ELM_ROUTE_##name,
    ELM_ROUTE_REASON_MAP(ELM__REASON_ENUM)
#undef ELM__REASON_ENUM
        ELM_ROUTE_REASON_COUNT
} elm_route_reason_t;

/* "token window full", ...; never NULL. */
const char *elm_route_reason_str(elm_route_reason_t reason);
/* "window_full", ... (for CSV/JSON); never NULL. */
const char *elm_route_reason_name(elm_route_reason_t reason);

typedef struct {
    int64_t t_ms;    /* admission time */
    uint64_t tokens; /* reserved, later reconciled to the actual count */
} elm__log_entry_t;

/* An exact sliding-log limiter: a request admitted at t counts its tokens for every now in
 * [t, t + window). At most log_cap admissions can be live in one window (a request-count limit);
 * the log is a ring buffer of exactly log_cap entries, so memory is 16 * log_cap bytes and
 * admission, eviction and reconciliation are O(1) amortized. Time never runs backwards: a "now"
 * earlier than one already seen is treated as the latest one seen. */
typedef struct {
    uint64_t capacity; /* tokens per window */
    int64_t window_ms;
    uint32_t max_parallel;
    uint32_t in_flight;
    uint64_t used; /* tokens of the live entries */
    int64_t last_now;
    elm__log_entry_t *log; /* (log_cap) ring */
    uint32_t log_cap;
    uint64_t head_seq, tail_seq; /* live entries are [head_seq, tail_seq) */
} elm_limiter_t;

/* Set up a limiter; allocates the log (free with elm_limiter_free). Returns 0, ELM_EINVAL for a
 * zero capacity, window, slot count or log size (or a log above ELM_ROUTE_MAX_LOG), ELM_ENOMEM. */
int elm_limiter_init(elm_limiter_t *l, uint64_t capacity, int64_t window_ms, uint32_t max_parallel,
                     uint32_t log_cap);
/* Free the log; accepts NULL and a zeroed limiter. */
void elm_limiter_free(elm_limiter_t *l);

/* Tokens counted in the window at now. */
uint64_t elm_limiter_used(elm_limiter_t *l, int64_t now_ms);
/* Tokens still admissible at now (0 when the window is over-full after reconciliation). */
uint64_t elm_limiter_available(elm_limiter_t *l, int64_t now_ms);
/* Whether tokens would be admitted at now: ELM_ROUTE_OK, WINDOW_FULL or CONCURRENCY_FULL. Changes
 * nothing but the eviction of expired entries. */
elm_route_reason_t elm_limiter_check(elm_limiter_t *l, int64_t now_ms, uint64_t tokens);
/* Admit: reserve tokens in the window and take a slot; *seq (set only on success) identifies the
 * reservation for elm_limiter_release. Returns the reason, ELM_ROUTE_OK on admission. */
elm_route_reason_t elm_limiter_admit(elm_limiter_t *l, int64_t now_ms, uint64_t tokens,
                                     uint64_t *seq);
/* Completion: free the slot and replace the reservation by the actual token count (if the entry is
 * still inside the window). Returns 0, or ELM_EINVAL when no request is in flight. */
int elm_limiter_release(elm_limiter_t *l, int64_t now_ms, uint64_t seq, uint64_t actual);
/* Count tokens in the window from now on without taking a slot, even past the capacity (a
 * share the caller knows others hold: the gateway's estimate of what other gateways admitted
 * when their shared state went away). Nothing when the log is full. */
void elm_limiter_charge(elm_limiter_t *l, int64_t now_ms, uint64_t tokens);
/* How long after now the window has room for tokens (0: now), counting only the entries that
 * leave it; -1 when tokens exceed the capacity. A 429's Retry-After. */
int64_t elm_limiter_wait_ms(elm_limiter_t *l, int64_t now_ms, uint64_t tokens);

/* ---- cluster configuration ---- */

typedef struct {
    char name[ELM_ROUTE_NAME_MAX];
    double tokens_per_s;    /* generation speed of one request */
    uint64_t window_tokens; /* token capacity per window */
    uint32_t max_parallel;  /* parallel requests (slots) */
    uint32_t max_requests;  /* live admissions per window: the sliding log's size */
    double power_w;         /* draw while generating */
    double cost_per_mtok;   /* optional amortized $ per million tokens on the device */
    bool healthy;
    /* The gateway's (simulate ignores them): */
    char url[ELM_ROUTE_URL_MAX];         /* OpenAI-compatible base URL ("http://h:8080/v1"); "" */
    char model[ELM_ROUTE_NAME_MAX];      /* the upstream's model name; "": the client's */
    char api_key_env[ELM_ROUTE_NAME_MAX]; /* environment variable holding its key; "": none */
} elm_device_spec_t;

typedef struct {
    bool enabled; /* false: overflow is rejected (HTTP 429 semantics) */
    char name[ELM_ROUTE_NAME_MAX];
    double input_per_mtok;  /* $ per million input tokens */
    double output_per_mtok; /* $ per million output tokens */
    /* The gateway's: where the overflow goes ("" in a simulation-only file). */
    char url[ELM_ROUTE_URL_MAX];
    char model[ELM_ROUTE_NAME_MAX];
    char api_key_env[ELM_ROUTE_NAME_MAX];
} elm_cloud_spec_t;

/* What to do with the limits while Redis cannot be reached. */
typedef enum {
    ELM_LIMITS_DOWN_LOCAL = 0, /* a local limiter with 1/gateways of every capacity */
    ELM_LIMITS_DOWN_CLOSED = 1 /* admit nothing to the devices (the cloud, or 429) */
} elm_limits_down_t;

/* The live gateway's settings (the "gateway" object); simulate reads and ignores them. */
typedef struct {
    char model_id[ELM_ROUTE_NAME_MAX]; /* the model clients see in /v1/models ("edge") */
    double connect_timeout_s;          /* an upstream's TCP connect (2) */
    double first_byte_timeout_s;       /* request sent → first response byte (60) */
    double idle_timeout_s;             /* between two chunks of a stream (30) */
    double total_timeout_s;            /* a whole exchange (600) */
    uint32_t retries;              /* other devices tried after a failure before the cloud (1) */
    double health_interval_s;      /* active GET of health_path per device; 0: none (5) */
    char health_path[ELM_ROUTE_NAME_MAX]; /* on the device's origin ("/health") */
    uint32_t breaker_failures;     /* consecutive failures that open a device's breaker (3) */
    double breaker_cooldown_s;     /* open → half-open after this (10) */
    uint32_t default_max_tokens;   /* reserved for a request that gives no max_tokens (256) */
    char keys_file[ELM_ROUTE_PATH_MAX]; /* client keys (docs/cluster-config.md); "": no keys */
    char vocab[ELM_ROUTE_PATH_MAX];     /* a GGUF whose tokenizer counts prompt tokens; "" */
    char redis[ELM_ROUTE_URL_MAX];      /* limits.redis: "redis://host:port/db"; "": local */
    uint32_t gateways;                  /* limits.gateways: how many share Redis (1) */
    elm_limits_down_t on_redis_down;    /* limits.on_redis_down: "local" or "closed" */
} elm_gateway_spec_t;

typedef struct {
    int64_t window_ms;
    char strategy[ELM_ROUTE_NAME_MAX];
    elm_cloud_spec_t cloud;
    elm_gateway_spec_t gateway;
    uint32_t n_devices;
    elm_device_spec_t devices[ELM_ROUTE_MAX_DEVICES];
} elm_cluster_config_t;

/* Defaults: 60 s window, load-aware, GPT-4o-mini cloud ($0.15 / $0.60 per M tokens), no devices,
 * the gateway's defaults above. */
void elm_cluster_config_default(elm_cluster_config_t *c);

/* Parse a JSON cluster description (docs/cluster-config.md) of len bytes; fname names it in errors
 * ("cluster.json: devices[2].tokens_per_s must be > 0"). On failure *out holds the defaults and the
 * diag names the key and the fix. Returns 0 or ELM_EINVAL. */
int elm_cluster_config_parse(const char *json, size_t len, const char *fname,
                             elm_cluster_config_t *out, elm_diag_t *d);

/* limits.redis split up: "redis://HOST[:PORT][/DB]", HOST a name, an IPv4 address or an IPv6 one
 * in brackets (stored without them). */
typedef struct {
    char host[ELM_ROUTE_URL_MAX];
    uint16_t port; /* 1..65535; 6379 when absent */
    uint32_t db;   /* 0..15; 0 when absent */
} elm_route_redis_url_t;

/* Split a limits.redis URL (the config parser validates it with this, the gateway connects with
 * it). Returns 0, or ELM_EINVAL for anything but the shape above (user:password@ included); then
 * *out is zeroed. */
int elm_route_redis_url_parse(const char *url, elm_route_redis_url_t *out);

/* ---- client keys (the gateway's keys_file) ---- */

#define ELM_ROUTE_KEY_MAX  128  /* a key's bytes, its NUL included */
#define ELM_ROUTE_MAX_KEYS 4096

typedef struct {
    char name[ELM_ROUTE_NAME_MAX]; /* for logs and metrics: never the key */
    char key[ELM_ROUTE_KEY_MAX];   /* 8-127 printable ASCII bytes, zero-padded */
    uint64_t window_tokens;        /* tokens per the cluster's window; 0: no token limit */
    uint32_t max_parallel;         /* requests at once; 0: no limit */
} elm_route_key_t;

typedef struct {
    uint32_t n;
    elm_route_key_t *keys; /* (n) */
} elm_route_keys_t;

/* Parse a client keys file ({"keys": [{"name", "key", "window_tokens", "max_parallel"}]}, 1 to
 * ELM_ROUTE_MAX_KEYS keys, names and keys unique) of len bytes; fname names it in errors
 * ("keys.json: keys[3].key must be 8 to 127 ..."), which never show a key. On success *out owns
 * an array the caller frees with elm_route_keys_free; on failure *out is zeroed. Returns 0,
 * ELM_EINVAL or ELM_ENOMEM. */
int elm_route_keys_parse(const char *json, size_t len, const char *fname, elm_route_keys_t *out,
                         elm_diag_t *d);
/* Wipe and free the keys; accepts NULL and a zeroed one, and leaves *k zeroed. */
void elm_route_keys_free(elm_route_keys_t *k);
/* The entry whose key is key, or NULL. Each comparison takes the same time whatever the bytes (no
 * exit at the first difference), so response times do not reveal a key's prefix. */
const elm_route_key_t *elm_route_keys_find(const elm_route_keys_t *k, const char *key);

/* ---- strategies ---- */

/* What a strategy sees of one device at decision time. */
typedef struct {
    const elm_device_spec_t *spec;
    uint64_t available;   /* tokens the window still admits now */
    uint64_t outstanding; /* reserved tokens of requests in flight */
    uint32_t in_flight;
    bool eligible;  /* healthy and the request fits its window */
    bool can_admit; /* eligible, and the window and a slot admit the request now */
} elm_route_view_t;

typedef struct {
    uint32_t in_tokens;  /* prompt tokens */
    uint32_t out_tokens; /* estimated output tokens (max_tokens, or a prediction) */
    uint64_t exclude;    /* bit i set: device i is not a candidate (the gateway's retries) */
    elm_route_reason_t excluded_why; /* why, when no candidate is left (0 means FAILED) */
} elm_route_req_t;

/* Mutable per-router state a strategy may use. */
typedef struct {
    elm_rng_t rng;
    uint64_t cursor;
} elm_route_pick_state_t;

/* A selection strategy: pick returns the index of an eligible device, or -1 when none is. It must
 * not allocate. Adding one: a file defining an elm_route_strategy_t and an entry in
 * src/route/strategies.c. */
typedef struct {
    const char *name;
    const char *summary;
    int (*pick)(const elm_route_view_t *dev, uint32_t n, const elm_route_req_t *req,
                elm_route_pick_state_t *st);
} elm_route_strategy_t;

uint32_t elm_route_strategy_count(void);
const elm_route_strategy_t *elm_route_strategy_at(uint32_t i);
/* The strategy named name ("random", "weighted", "load-aware", "round-robin",
 * "least-predicted-completion", "energy-aware"), or NULL. */
const elm_route_strategy_t *elm_route_strategy_find(const char *name);

/* ---- router: decision and accounting ---- */

typedef enum { ELM_ROUTE_TO_DEVICE, ELM_ROUTE_TO_CLOUD, ELM_ROUTE_TO_REJECT } elm_route_kind_t;

typedef struct {
    elm_route_kind_t kind;
    elm_route_reason_t reason; /* OK for a device; why not a device otherwise */
    int device;                /* the device chosen (or tried and full); -1 when none */
    uint64_t seq;              /* the reservation (device decisions) */
    uint64_t reserved;         /* tokens reserved: in + estimated out */
} elm_route_decision_t;

typedef struct {
    uint64_t requests, tokens; /* completed on the device (actual tokens) */
    uint64_t admitted;
    double busy_s;   /* out tokens / tokens_per_s, summed */
    double energy_j; /* busy_s * power_w */
    double cost;     /* tokens * cost_per_mtok / 1e6 */
    uint64_t failed; /* attempts that failed before serving (elm_router_fail) */
} elm_route_dev_stats_t;

typedef struct {
    uint64_t requests; /* requests decided (a retry, req->exclude != 0, is not a new one) */
    uint64_t processed, redirected, rejected;
    uint64_t by_reason[ELM_ROUTE_REASON_COUNT]; /* redirected + rejected, by reason */
    uint64_t edge_tokens;                       /* actual tokens completed on devices */
    uint64_t cloud_in_tokens, cloud_out_tokens;
    uint64_t rejected_tokens; /* estimated tokens of rejected requests */
    double cloud_cost;        /* $ */
    double edge_energy_j, edge_cost;
    elm_route_dev_stats_t dev[ELM_ROUTE_MAX_DEVICES];
} elm_route_stats_t;

typedef struct elm_router elm_router_t;

/* Build a router for the cluster c with strategy (NULL: c->strategy) and RNG seed. Allocates;
 * free with elm_router_free. Returns 0, ELM_EINVAL (no devices, unknown strategy, bad spec; the
 * diag says which), ELM_ENOMEM. *out is NULL on failure. */
int elm_router_create(const elm_cluster_config_t *c, const elm_route_strategy_t *strategy,
                      uint64_t seed, elm_router_t **out, elm_diag_t *d);
void elm_router_free(elm_router_t *r);

/* Route one request at now: to a device (reserving in + out tokens and a slot), to the cloud, or
 * rejected, with the reason. Every DEVICE and CLOUD decision must later be passed to
 * elm_router_complete. Does not allocate. */
elm_route_decision_t elm_router_decide(elm_router_t *r, int64_t now_ms, const elm_route_req_t *req);

/* A request finished with its actual token counts: frees the slot, reconciles the window, and
 * accounts tokens, busy time, energy and cloud cost. Returns 0 or ELM_EINVAL (a reject, or a device
 * with nothing in flight). */
int elm_router_complete(elm_router_t *r, int64_t now_ms, const elm_route_decision_t *dec,
                        uint32_t in_tokens, uint32_t out_tokens);

/* A device decision whose device failed before it served anything (refused, timed out, 5xx,
 * 429): frees the slot, releases the reservation (0 tokens stay in the window) and counts the
 * failure; the caller then decides again with the device in req->exclude, or falls back. Returns
 * 0 or ELM_EINVAL (not a device decision, or nothing in flight). */
int elm_router_fail(elm_router_t *r, int64_t now_ms, const elm_route_decision_t *dec);

/* Undo a device decision that never reached the device (the shared limits refused it): frees the
 * slot and releases the reservation, counting no failure. Returns as elm_router_fail. */
int elm_router_undo(elm_router_t *r, int64_t now_ms, const elm_route_decision_t *dec);

/* The cloud (or, without one, a reject) for a request no device may take any more (reason:
 * why), counted as elm_router_decide counts it. */
elm_route_decision_t elm_router_fallback(elm_router_t *r, const elm_route_req_t *req,
                                         elm_route_reason_t reason);

/* Mark a device healthy or not (the gateway's health checks). */
void elm_router_set_health(elm_router_t *r, uint32_t device, bool healthy);

/* Replace a device's generation speed by what was measured (> 0; other values are ignored). */
void elm_router_set_speed(elm_router_t *r, uint32_t device, double tokens_per_s);

uint32_t elm_router_n_devices(const elm_router_t *r);
const elm_device_spec_t *elm_router_device(const elm_router_t *r, uint32_t device);
const elm_route_strategy_t *elm_router_strategy(const elm_router_t *r);
/* The device's limiter (to read its window at now). */
elm_limiter_t *elm_router_limiter(elm_router_t *r, uint32_t device);
const elm_route_stats_t *elm_router_stats(const elm_router_t *r);

/* Cloud price of a request under spec, in $. */
double elm_route_cloud_cost(const elm_cloud_spec_t *cloud, uint64_t in_tokens, uint64_t out_tokens);

#ifdef __cplusplus
}
#endif
#endif
