/* gateway/: limits shared by several gateways through Redis (hiredis on the same event loop).
 * Each scope (a device, a client key) keeps its sliding log, its tokens and its leases of
 * requests in flight under one hash tag, and two Lua scripts reserve and release atomically with
 * Redis's clock, so N gateways together admit no more than one would. A lease expires when a
 * gateway dies mid-request. While Redis cannot be reached, each gateway keeps 1/N of every
 * capacity in its own limiters (or admits nothing to the devices, fail-closed) and reconnects
 * every second. */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#include <hiredis/adapters/libevent.h>
#pragma GCC diagnostic pop

#include "gateway_internal.h"

/* The reply a reservation waits for at most; past it Redis counts as down for this request. */
#define GW_REDIS_REPLY_MS 250

/* KEYS: the scope's log (zset id → admission ms), tokens (hash id → tokens), used (sum of the
 * log's tokens), leases (zset id → expiry ms). ARGV: id, tokens, capacity, window_ms,
 * max_parallel, lease_ms, log_cap. Returns {verdict (0 admitted, 1 window, 2 parallel), used,
 * in flight, ms until the window has room}. An entry admitted at t counts in [t, t + window). */
static const char reserve_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local window, lease = tonumber(ARGV[4]), tonumber(ARGV[6])\n"
    "local used = tonumber(redis.call('GET', KEYS[3]) or '0')\n"
    "local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - window)\n"
    "for _, m in ipairs(old) do\n"
    "  used = used - tonumber(redis.call('HGET', KEYS[2], m) or '0')\n"
    "  redis.call('HDEL', KEYS[2], m)\n"
    "end\n"
    "if #old > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window) end\n"
    "if used < 0 then used = 0 end\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)\n"
    "local fly = redis.call('ZCARD', KEYS[4])\n"
    "local tokens, cap, logcap = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[7])\n"
    "local n = redis.call('ZCARD', KEYS[1])\n"
    "local verdict, wait = 0, 0\n"
    "if fly >= tonumber(ARGV[5]) then\n"
    "  verdict = 2\n"
    "elseif used + tokens > cap or n >= logcap then\n"
    "  verdict = 1\n"
    "  local need, out = used + tokens - cap, n - logcap + 1\n"
    "  local e = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')\n"
    "  local freed, gone = 0, 0\n"
    "  for i = 1, #e, 2 do\n"
    "    freed = freed + tonumber(redis.call('HGET', KEYS[2], e[i]) or '0')\n"
    "    gone = gone + 1\n"
    "    if freed >= need and gone >= out then wait = tonumber(e[i + 1]) + window - now; break end\n"
    "  end\n"
    "else\n"
    "  redis.call('ZADD', KEYS[1], now, ARGV[1])\n"
    "  redis.call('HSET', KEYS[2], ARGV[1], tokens)\n"
    "  used = used + tokens\n"
    "  fly = fly + 1\n"
    "  redis.call('ZADD', KEYS[4], now + lease, ARGV[1])\n"
    "end\n"
    "redis.call('SET', KEYS[3], used)\n"
    "for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], window + lease) end\n"
    "return {verdict, used, fly, wait}\n";

/* KEYS as above; ARGV: id, actual tokens. Ends the lease and, while the entry is in the window,
 * replaces its reservation by the actual count. */
static const char release_lua[] =
    "redis.call('ZREM', KEYS[4], ARGV[1])\n"
    "local prev = redis.call('HGET', KEYS[2], ARGV[1])\n"
    "if prev then\n"
    "  local used = tonumber(redis.call('GET', KEYS[3]) or '0') - tonumber(prev) + tonumber(ARGV[2])\n"
    "  if used < 0 then used = 0 end\n"
    "  redis.call('SET', KEYS[3], used)\n"
    "  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])\n"
    "end\n"
    "return 1\n";

struct gw_limits {
    elm_gateway_t *g;
    elm_route_redis_url_t url;
    redisAsyncContext *ac; /* NULL while not connected */
    bool up;               /* connected, and the last command answered */
    bool ever_up;          /* connected once since the start */
    struct event *retry_ev;
    struct event *rejoin_ev; /* back to shared limits one window after Redis answers again */
    char why[160]; /* why Redis is down, for the log and /v1/cluster */
};

typedef struct {
    gw_limits_t *l;
    gw_reserve_cb cb;
    void *user;
    struct event *timer;
    bool done; /* the owner has its verdict (the reply, or the timeout) */
    char lease[64];
    char scope[ELM_ROUTE_NAME_MAX + 8];
} pending_t;

static void connect_now(gw_limits_t *l);

/* Local limits at 1/N of every capacity while Redis is away (rounded down: N gateways together
 * stay within it; a 1-slot device gets no requests from 2 gateways); full ones while it is there
 * (the local limiters then hold only this gateway's own admissions, a view for the strategy).
 * Going local, each device's window is also charged with this gateway's share of what Redis last
 * said the others held, so that their admissions from just before count. */
static void local_share(elm_gateway_t *g, bool shared)
{
    uint32_t n = shared ? 1 : g->cfg.gateway.gateways;
    int64_t now = gw_now_ms();
    for (uint32_t i = 0; i < g->cfg.n_devices; i++) {
        const elm_device_spec_t *s = &g->cfg.devices[i];
        elm_limiter_t *lim = elm_router_limiter(g->router, i);
        lim->capacity = s->window_tokens / n;
        lim->max_parallel = s->max_parallel / n;
        uint64_t others = (g->dev[i].shared_used + n - 1) / n, own = elm_limiter_used(lim, now);
        if (!shared && others > own) elm_limiter_charge(lim, now, others - own);
        g->dev[i].shared_used = 0;
    }
    for (uint32_t i = 0; i < g->keys.n; i++) {
        const elm_route_key_t *k = &g->keys.keys[i];
        elm_limiter_t *lim = &g->key_lim[i];
        if (!lim->log) continue;
        if (k->window_tokens) lim->capacity = k->window_tokens / n;
        if (k->max_parallel) lim->max_parallel = k->max_parallel / n;
    }
}

static void set_up(gw_limits_t *l, bool up, const char *why)
{
    if (l->up == up) return;
    l->up = up;
    if (up) {
        l->why[0] = '\0';
        gw_log(l->g, "limits: Redis %s:%d is reachable: the limits are shared again",
               l->url.host, l->url.port);
    } else {
        snprintf(l->why, sizeof l->why, "%s", why);
        gw_log(l->g, "limits: Redis %s:%d unreachable (%s): %s", l->url.host, l->url.port, why,
               l->g->cfg.gateway.on_redis_down == ELM_LIMITS_DOWN_CLOSED
                   ? "no device admits requests until it is back (fail-closed)"
                   : "local limits at 1/gateways of every capacity until it is back");
    }
    local_share(l->g, up);
    elm_metrics_set(l->g->metrics, "edgelm_gateway_limits_shared", NULL, up);
}

static void schedule_retry(gw_limits_t *l)
{
    struct timeval one = {1, 0};
    if (!l->g->stopping) evtimer_add(l->retry_ev, &one);
}

/* Redis has answered for a whole window: what this gateway admitted alone has left it, so a
 * Redis that restarted empty is right again. */
static void on_rejoin(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    gw_limits_t *l = arg;
    if (l->ac) set_up(l, true, NULL);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    gw_limits_t *l = ac->data;
    if (status != REDIS_OK) {
        l->ac = NULL; /* hiredis frees a context that failed to connect */
        set_up(l, false, ac->errstr[0] ? ac->errstr : "cannot connect");
        schedule_retry(l);
        return;
    }
    if (!l->ever_up) { /* the first connection: nothing was admitted alone yet */
        l->ever_up = true;
        set_up(l, true, NULL);
        return;
    }
    int64_t w = l->g->cfg.window_ms;
    struct timeval tv = {(time_t)(w / 1000), (suseconds_t)(w % 1000) * 1000};
    gw_log(l->g, "limits: Redis %s:%d answers again: shared limits again in %g s, when what this "
                 "gateway admitted alone has left the window",
           l->url.host, l->url.port, (double)w / 1000);
    evtimer_add(l->rejoin_ev, &tv);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    gw_limits_t *l = ac->data;
    (void)status;
    l->ac = NULL;
    evtimer_del(l->rejoin_ev);
    set_up(l, false, ac->errstr[0] ? ac->errstr : "connection closed");
    schedule_retry(l);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    connect_now(arg);
}

static void connect_now(gw_limits_t *l)
{
    if (l->ac || l->g->stopping) return;
    redisAsyncContext *ac = redisAsyncConnect(l->url.host, l->url.port);
    if (!ac || ac->err) {
        set_up(l, false, ac ? ac->errstr : "out of memory");
        if (ac) redisAsyncFree(ac);
        schedule_retry(l);
        return;
    }
    ac->data = l;
    redisLibeventAttach(ac, l->g->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    l->ac = ac;
    if (l->url.db) {
        char db[16];
        snprintf(db, sizeof db, "%u", l->url.db);
        const char *argv[] = {"SELECT", db};
        redisAsyncCommandArgv(ac, NULL, NULL, 2, argv, NULL);
    }
}

int gw_limits_start(elm_gateway_t *g, elm_diag_t *d)
{
    const char *url = g->cfg.gateway.redis;
    if (!url[0]) return 0;
    gw_limits_t *l = calloc(1, sizeof *l);
    if (!l) return elm_diag(d, ELM_ENOMEM, "out of memory");
    g->limits = l;
    l->g = g;
    if (elm_route_redis_url_parse(url, &l->url) != 0)
        return elm_diag(d, ELM_EINVAL, "%s: gateway.limits.redis '%s' is not redis://host[:port][/db]",
                        g->config_name, url);
    if (!(l->retry_ev = evtimer_new(g->base, on_retry, l)) ||
        !(l->rejoin_ev = evtimer_new(g->base, on_rejoin, l)))
        return elm_diag(d, ELM_ENOMEM, "out of memory");
    /* local 1/N limits until the connection is made */
    snprintf(l->why, sizeof l->why, "connecting");
    local_share(g, false);
    gw_log(g, "limits: shared through Redis %s:%d by %u gateway%s (local 1/%u of each capacity "
              "while it cannot be reached%s)",
           l->url.host, l->url.port, g->cfg.gateway.gateways,
           g->cfg.gateway.gateways == 1 ? "" : "s", g->cfg.gateway.gateways,
           g->cfg.gateway.on_redis_down == ELM_LIMITS_DOWN_CLOSED ? "; fail-closed: no device" : "");
    connect_now(l);
    return 0;
}

void gw_limits_stop(elm_gateway_t *g)
{
    gw_limits_t *l = g->limits;
    if (!l) return;
    if (l->ac) {
        redisAsyncContext *ac = l->ac;
        l->ac = NULL;
        redisAsyncFree(ac); /* calls the pending callbacks with no reply */
    }
    if (l->retry_ev) event_free(l->retry_ev);
    if (l->rejoin_ev) event_free(l->rejoin_ev);
    free(l);
    g->limits = NULL;
}

bool gw_limits_shared(const elm_gateway_t *g)
{
    return g->limits && g->limits->up && g->limits->ac;
}

bool gw_limits_closed(const elm_gateway_t *g)
{
    return g->limits && !gw_limits_shared(g) &&
           g->cfg.gateway.on_redis_down == ELM_LIMITS_DOWN_CLOSED;
}

const char *gw_limits_mode(const elm_gateway_t *g)
{
    return !g->limits ? "local" : gw_limits_shared(g) ? "redis" : "local (Redis unreachable)";
}

static void keys_of(const char *scope, char keys[4][ELM_ROUTE_NAME_MAX + 32])
{
    static const char *const part[] = {"log", "tok", "used", "fly"};
    for (int i = 0; i < 4; i++) snprintf(keys[i], sizeof keys[i], "{edgelm:%s}:%s", scope, part[i]);
}

static void pending_done(pending_t *p, int verdict, int64_t wait_ms, uint64_t used)
{
    if (p->done) return;
    p->done = true;
    evtimer_del(p->timer);
    p->cb(p->user, verdict, wait_ms, used);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pending_t *p = arg;
    gw_limits_t *l = p->l;
    /* an unanswered Redis is a down one: the owner goes on without it, the connection is dropped
     * (what waits for a reply gets none and is freed, p too) and made again */
    redisAsyncContext *ac = l->ac;
    l->ac = NULL;
    set_up(l, false, "no answer within 250 ms");
    pending_done(p, GW_LIM_DOWN, 0, 0);
    evtimer_del(l->rejoin_ev);
    if (ac) {
        redisAsyncFree(ac);
        schedule_retry(l);
    }
}

static void release_lease(gw_limits_t *l, const char *scope, const char *lease, uint64_t actual);

static void on_reserve_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    (void)ac;
    pending_t *p = privdata;
    redisReply *reply = r;
    int verdict = GW_LIM_DOWN;
    int64_t wait = 0;
    uint64_t used = 0;
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 4 &&
        reply->element[0]->type == REDIS_REPLY_INTEGER) {
        long long v = reply->element[0]->integer;
        verdict = v == 0 ? GW_LIM_OK : v == 1 ? GW_LIM_WINDOW : GW_LIM_PARALLEL;
        if (reply->element[3]->type == REDIS_REPLY_INTEGER) wait = reply->element[3]->integer;
        if (reply->element[1]->type == REDIS_REPLY_INTEGER && reply->element[1]->integer > 0)
            used = (uint64_t)reply->element[1]->integer;
    } else if (reply && reply->type == REDIS_REPLY_ERROR) {
        gw_log(p->l->g, "limits: Redis answered an error: %.120s", reply->str);
    }
    /* no reply: the connection is going; the owner must not ask it again */
    if (!reply) set_up(p->l, false, "connection lost");
    /* admitted after the owner gave up waiting: give the reservation back */
    if (p->done && verdict == GW_LIM_OK && p->l->ac) release_lease(p->l, p->scope, p->lease, 0);
    pending_done(p, verdict, wait, used);
    event_free(p->timer);
    free(p);
}

void gw_limits_reserve(elm_gateway_t *g, const char *scope, const char *lease, uint64_t tokens,
                       uint64_t capacity, uint32_t max_parallel, gw_reserve_cb cb, void *user)
{
    gw_limits_t *l = g->limits;
    pending_t *p = calloc(1, sizeof *p);
    if (!p || !l->ac || !(p->timer = evtimer_new(g->base, on_timeout, p))) {
        free(p);
        set_up(l, false, "cannot send to Redis");
        cb(user, GW_LIM_DOWN, 0, 0);
        return;
    }
    p->l = l;
    p->cb = cb;
    p->user = user;
    snprintf(p->lease, sizeof p->lease, "%s", lease);
    snprintf(p->scope, sizeof p->scope, "%s", scope);
    char keys[4][ELM_ROUTE_NAME_MAX + 32], a[7][32];
    keys_of(scope, keys);
    uint64_t lease_ms = (uint64_t)(g->cfg.gateway.total_timeout_s * 1000) + 5000;
    uint64_t log_cap = capacity < ELM_ROUTE_MAX_LOG ? capacity : ELM_ROUTE_MAX_LOG;
    snprintf(a[0], sizeof a[0], "%llu", (unsigned long long)tokens);
    snprintf(a[1], sizeof a[1], "%llu", (unsigned long long)capacity);
    snprintf(a[2], sizeof a[2], "%lld", (long long)g->cfg.window_ms);
    snprintf(a[3], sizeof a[3], "%u", max_parallel);
    snprintf(a[4], sizeof a[4], "%llu", (unsigned long long)lease_ms);
    snprintf(a[5], sizeof a[5], "%llu", (unsigned long long)log_cap);
    const char *argv[] = {"EVAL", reserve_lua, "4", keys[0], keys[1], keys[2], keys[3],
                          p->lease, a[0], a[1], a[2], a[3], a[4], a[5]};
    struct timeval tv = {0, GW_REDIS_REPLY_MS * 1000};
    evtimer_add(p->timer, &tv);
    if (redisAsyncCommandArgv(l->ac, on_reserve_reply, p, 14, argv, NULL) != REDIS_OK) {
        set_up(l, false, "cannot send to Redis");
        pending_done(p, GW_LIM_DOWN, 0, 0);
        event_free(p->timer);
        free(p);
    }
}

static void release_lease(gw_limits_t *l, const char *scope, const char *lease, uint64_t actual)
{
    char keys[4][ELM_ROUTE_NAME_MAX + 32], n[32];
    keys_of(scope, keys);
    snprintf(n, sizeof n, "%llu", (unsigned long long)actual);
    const char *argv[] = {"EVAL", release_lua, "4", keys[0], keys[1], keys[2], keys[3], lease, n};
    redisAsyncCommandArgv(l->ac, NULL, NULL, 9, argv, NULL);
}

void gw_limits_release(elm_gateway_t *g, const char *scope, const char *lease, uint64_t actual)
{
    /* without Redis the lease simply expires: the window may count the reservation till then */
    if (g->limits && g->limits->ac) release_lease(g->limits, scope, lease, actual);
}

const char *gw_limits_why(const elm_gateway_t *g)
{
    return g->limits ? g->limits->why : "";
}
