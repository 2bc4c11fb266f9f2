/* gateway/: a generation request from arrival to its one outcome — parse and estimate its tokens,
 * ask the router for a device (or the cloud, or a 429), forward it with the device's model name,
 * retry on another device while nothing has reached the client (refused, timed out, 5xx, 429),
 * relay the answer (a stream event by event), reconcile the reservation with the usage the
 * upstream reports, and write the access log line. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "edgelm/http.h"
#include "edgelm/tokenizer.h"
#include "gateway_internal.h"

#define GW_MAX_ANSWER (8u << 20) /* a non-streamed answer larger than this is an upstream fault */

typedef struct {
    elm_gateway_t *g;
    elm_server_req_t *sreq;
    uint64_t id;
    elm_serve_endpoint_t ep;
    bool stream, include_usage, estimated;
    cJSON *body; /* the client's, re-sent with each attempt's model */
    elm_route_req_t rr;
    int key;          /* index in g->keys, -1: none */
    uint64_t key_seq; /* the reservation in the key's local limiter, + 1; 0: none */
    /* the reservations in Redis (shared limits): their leases, "" when none */
    char key_lease[48], dev_lease[48];
    bool waiting;   /* for Redis's verdict: a cancel only marks the request */
    bool cancelled; /* the client went away while it waited */
    int64_t t_wall_ms;
    elm_route_decision_t dec;
    gw_target_t *tgt;
    uint32_t attempts;
    gw_exchange_t *x;
    uint64_t t_arrival, t_sent, t_first, t_last;
    double added_s; /* the gateway's own time before the first send */
    int status;
    bool started; /* the client's stream has begun: no retry after this */
    char *buf; /* the whole answer (not streamed, or an error) */
    size_t len, cap;
    gw_sse_t sse; /* a stream's unfinished event */
    uint32_t n_content;
    int64_t usage_in, usage_out;
    char why[360]; /* the last failure */
    const char *reason; /* the route decision's reason name */
} gw_req_t;

const char *gw_outcome_name(gw_outcome_t o)
{
    static const char *const names[] = {"served", "redirected", "rejected", "failed",
                                        "cancelled"};
    return (unsigned)o < sizeof names / sizeof names[0] ? names[o] : "unknown";
}

static double secs_between(uint64_t a, uint64_t b)
{
    return b > a ? (double)(b - a) / 1e9 : 0;
}

/* ---- estimate ---- */

/* Tokens of text: the vocabulary's count when the gateway has one (with BOS/EOS when flags say
 * so, as a completion's prompt gets them), else ceil(bytes / 4). */
static uint32_t count_text(elm_gateway_t *g, const char *text, size_t len, unsigned flags,
                           bool *estimated)
{
    if (g->tok) {
        int32_t *ids = NULL;
        size_t n = 0;
        if (elm_tokenize(g->tok, text, len, flags, &ids, &n, NULL) == 0) {
            free(ids);
            return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
        }
    }
    *estimated = true;
    return (uint32_t)((len + 3) / 4);
}

/* Prompt tokens of a parsed request; chat adds 4 per message for the template's markers. */
static uint32_t count_prompt(elm_gateway_t *g, const elm_serve_request_t *r, bool *estimated)
{
    *estimated = false;
    if (r->prompt_ids) return r->n_prompt_ids > UINT32_MAX ? UINT32_MAX : (uint32_t)r->n_prompt_ids;
    if (r->prompt) return count_text(g, r->prompt, r->prompt_len, ELM_TOK_ADD_SPECIAL, estimated);
    uint64_t n = 0;
    for (size_t i = 0; i < r->n_messages; i++)
        n += count_text(g, r->messages[i].text, r->messages[i].len, 0, estimated) + 4u;
    return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/* ---- the end: accounting, metrics, the access log ---- */

static void access_log(gw_req_t *q, gw_outcome_t o, uint64_t t_end, double cost, double tps)
{
    elm_gateway_t *g = q->g;
    if (!g->access) return;
    cJSON *j = cJSON_CreateObject();
    if (!j) return;
    cJSON_AddNumberToObject(j, "t_ms", (double)q->t_wall_ms);
    cJSON_AddNumberToObject(j, "id", (double)q->id);
    if (q->key >= 0) cJSON_AddStringToObject(j, "key", g->keys.keys[q->key].name);
    cJSON_AddStringToObject(j, "endpoint", q->ep == ELM_SERVE_CHAT ? "chat" : "completions");
    cJSON_AddBoolToObject(j, "stream", q->stream);
    cJSON_AddNumberToObject(j, "est_in", q->rr.in_tokens);
    cJSON_AddNumberToObject(j, "est_out", q->rr.out_tokens);
    cJSON_AddBoolToObject(j, "estimated", q->estimated);
    cJSON_AddStringToObject(j, "decision",
                            q->dec.kind == ELM_ROUTE_TO_DEVICE  ? "device"
                            : q->dec.kind == ELM_ROUTE_TO_CLOUD ? "cloud"
                                                                : "reject");
    cJSON_AddStringToObject(j, "reason", q->reason ? q->reason : "ok");
    cJSON_AddStringToObject(j, "strategy", elm_router_strategy(g->router)->name);
    if (q->tgt) cJSON_AddStringToObject(j, "device", q->tgt->name);
    else cJSON_AddNullToObject(j, "device");
    cJSON_AddNumberToObject(j, "attempts", q->attempts);
    cJSON_AddNumberToObject(j, "status", q->status);
    if (q->usage_in >= 0) cJSON_AddNumberToObject(j, "prompt_tokens", (double)q->usage_in);
    else cJSON_AddNullToObject(j, "prompt_tokens");
    if (q->usage_out >= 0) cJSON_AddNumberToObject(j, "completion_tokens", (double)q->usage_out);
    else cJSON_AddNumberToObject(j, "completion_tokens", q->n_content);
    if (q->t_first) cJSON_AddNumberToObject(j, "ttft_ms", secs_between(q->t_sent, q->t_first) * 1e3);
    else cJSON_AddNullToObject(j, "ttft_ms");
    cJSON_AddNumberToObject(j, "duration_ms", secs_between(q->t_arrival, t_end) * 1e3);
    if (tps > 0) cJSON_AddNumberToObject(j, "tokens_per_s", tps);
    else cJSON_AddNullToObject(j, "tokens_per_s");
    cJSON_AddNumberToObject(j, "cost_usd", cost);
    cJSON_AddStringToObject(j, "outcome", gw_outcome_name(o));
    if (q->why[0]) cJSON_AddStringToObject(j, "error", q->why);
    char *line = cJSON_PrintUnformatted(j);
    if (line) {
        fputs(line, g->access);
        fputc('\n', g->access);
        fflush(g->access);
    }
    free(line);
    cJSON_Delete(j);
}

static void free_req(gw_req_t *q)
{
    cJSON_Delete(q->body);
    gw_sse_free(&q->sse);
    free(q->buf);
    free(q);
}

/* Scopes of the shared limits: "dev:NAME", "key:NAME". */
static void scope_of(const gw_req_t *q, bool key, char *out, size_t cap)
{
    if (key) snprintf(out, cap, "key:%s", q->g->keys.keys[q->key].name);
    else snprintf(out, cap, "dev:%s", q->tgt ? q->tgt->name : "");
}

static void release_shared(gw_req_t *q, char *lease, bool key, uint64_t actual)
{
    char scope[ELM_ROUTE_NAME_MAX + 8];
    scope_of(q, key, scope, sizeof scope);
    gw_limits_release(q->g, scope, lease, actual);
    lease[0] = '\0';
}

static void new_lease(gw_req_t *q, char *lease, size_t cap)
{
    snprintf(lease, cap, "%s-%llu", q->g->lease_prefix, (unsigned long long)++q->g->next_lease);
}

/* The request has its outcome (the client's answer is already on its way): account it where it
 * was served, log it, and free it. */
static void conclude(gw_req_t *q, gw_outcome_t o)
{
    elm_gateway_t *g = q->g;
    uint64_t t_end = elm_time_ns();
    int64_t now = gw_now_ms();
    uint32_t in = q->usage_in >= 0 ? (uint32_t)q->usage_in : q->rr.in_tokens;
    uint32_t out = q->usage_out >= 0 ? (uint32_t)q->usage_out : q->n_content;
    double cost = 0, tps = -1; /* this request's generation speed, when a stream shows it */
    const char *dev = q->tgt ? q->tgt->name : "none";
    if (q->dec.kind != ELM_ROUTE_TO_REJECT && q->tgt) {
        if (q->status / 100 != 2 && !q->n_content) in = out = 0; /* nothing was generated */
        elm_router_complete(g->router, now, &q->dec, in, out);
        if (q->dec.kind == ELM_ROUTE_TO_CLOUD)
            cost = elm_route_cloud_cost(&g->cfg.cloud, in, out);
        q->tgt->requests++;
        q->tgt->tokens_in += in;
        q->tgt->tokens_out += out;
        q->tgt->cost += cost;
        const char *lin[] = {dev, "in"}, *lout[] = {dev, "out"};
        elm_metrics_inc(g->metrics, "edgelm_gateway_tokens_total", lin, in);
        elm_metrics_inc(g->metrics, "edgelm_gateway_tokens_total", lout, out);
        if (cost > 0) elm_metrics_inc(g->metrics, "edgelm_gateway_cloud_cost_usd_total", NULL, cost);
        if (q->t_first) {
            const char *ld[] = {dev};
            elm_metrics_observe(g->metrics, "edgelm_gateway_ttft_seconds", ld,
                                secs_between(q->t_sent, q->t_first));
        }
        /* learn the device's generation speed from a stream's token times */
        /* over 50 ms at least: events that arrive in one read say nothing of the speed */
        if (q->n_content >= 2 && secs_between(q->t_first, q->t_last) >= 0.05)
            tps = (double)(q->n_content - 1) / secs_between(q->t_first, q->t_last);
        if (q->tgt->device >= 0 && tps > 0) {
            q->tgt->tps = q->tgt->tps > 0 ? 0.8 * q->tgt->tps + 0.2 * tps : tps;
            elm_router_set_speed(g->router, (uint32_t)q->tgt->device, q->tgt->tps);
        }
    }
    uint64_t used = q->dec.kind == ELM_ROUTE_TO_REJECT ? 0 : (uint64_t)in + out;
    if (q->key >= 0 && q->key_seq)
        elm_limiter_release(&g->key_lim[q->key], now, q->key_seq - 1, used);
    if (q->key_lease[0]) release_shared(q, q->key_lease, true, used);
    if (q->dev_lease[0]) release_shared(q, q->dev_lease, false, used);
    const char *lo[] = {dev, gw_outcome_name(o)};
    elm_metrics_inc(g->metrics, "edgelm_gateway_requests_total", lo, 1);
    const char *ld[] = {dev};
    elm_metrics_observe(g->metrics, "edgelm_gateway_e2e_seconds", ld,
                        secs_between(q->t_arrival, t_end));
    g->outcomes[o]++;
    access_log(q, o, t_end, cost, tps);
    free_req(q);
}

/* ---- answers to the client ---- */

/* Every end of the client's request goes through these: the server's log line gets the usage,
 * and the request forgets q, so a cancel that arrives while the answer is on its way finds
 * nothing to cancel. */
static void detach_client(gw_req_t *q)
{
    elm_server_usage_t u = {q->usage_in, q->usage_out >= 0 ? q->usage_out : (int64_t)q->n_content,
                            q->t_first ? secs_between(q->t_arrival, q->t_first) : -1};
    elm_server_req_usage(q->sreq, &u);
    elm_server_req_set_user(q->sreq, NULL);
}

static void reply_error(gw_req_t *q, int status, const char *type, const char *code,
                        const char *msg)
{
    q->status = status;
    detach_client(q);
    elm_server_reply_error(q->sreq, status, type, NULL, code, msg);
}

static void end_stream(gw_req_t *q)
{
    detach_client(q);
    elm_server_stream_end(q->sreq);
}

/* End a started stream with an OpenAI-shaped error event: the client's SDK raises it. */
static void stream_error(gw_req_t *q, const char *msg)
{
    cJSON *j = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(j, "error");
    if (e) {
        cJSON_AddStringToObject(e, "message", msg);
        cJSON_AddStringToObject(e, "type", "server_error");
        cJSON_AddNullToObject(e, "param");
        cJSON_AddStringToObject(e, "code", "upstream_failed");
    }
    char *json = cJSON_PrintUnformatted(j);
    size_t n = 0;
    char *ev = json ? elm_serve_sse_event(json, &n) : NULL;
    if (ev) elm_server_stream_write(q->sreq, ev, n);
    free(ev);
    free(json);
    cJSON_Delete(j);
    end_stream(q);
}

/* ---- attempts ---- */

/* Forget the attempt in progress (closing its connection): the device has one less in flight. */
static void detach(gw_req_t *q)
{
    if (!q->x) return;
    gw_exchange_abort(q->x);
    q->x = NULL;
    q->tgt->in_flight--;
}

static void route_next(gw_req_t *q);

static const gw_exchange_cb_t exchange_cb;

/* The body for t: the client's with t's model name, and usage asked for in a stream. */
static char *body_for(gw_req_t *q, const gw_target_t *t)
{
    cJSON *b = q->body;
    if (t->model[0]) {
        cJSON_DeleteItemFromObjectCaseSensitive(b, "model");
        cJSON_AddStringToObject(b, "model", t->model);
    }
    if (q->stream) {
        cJSON_DeleteItemFromObjectCaseSensitive(b, "stream_options");
        cJSON *so = cJSON_AddObjectToObject(b, "stream_options");
        if (so) cJSON_AddBoolToObject(so, "include_usage", true);
    }
    return cJSON_PrintUnformatted(b);
}

static void send_to(gw_req_t *q, gw_target_t *t)
{
    elm_gateway_t *g = q->g;
    char path[ELM_ROUTE_URL_MAX + 32];
    snprintf(path, sizeof path, "%s%s", t->base_path,
             q->ep == ELM_SERVE_CHAT ? "/chat/completions" : "/completions");
    char *body = body_for(q, t);
    q->tgt = t;
    q->attempts++;
    q->status = 0;
    q->len = 0;
    gw_sse_free(&q->sse);
    q->sse.max_event = ELM_HTTP_MAX_EVENT;
    q->t_sent = elm_time_ns();
    if (q->attempts == 1) {
        q->added_s = secs_between(q->t_arrival, q->t_sent);
        elm_metrics_observe(g->metrics, "edgelm_gateway_added_latency_seconds", NULL, q->added_s);
    }
    uint64_t deadline = q->t_arrival + (uint64_t)(g->cfg.gateway.total_timeout_s * 1e9);
    q->x = body ? gw_exchange_start(g, t, "POST", path, body, strlen(body), deadline,
                                    &exchange_cb, q)
                : NULL;
    free(body);
    if (!q->x) {
        snprintf(q->why, sizeof q->why, "%s: out of memory", t->name);
        reply_error(q, 500, "server_error", NULL, "the gateway ran out of memory");
        conclude(q, GW_FAILED);
        return;
    }
    t->in_flight++;
}

/* The attempt failed before anything reached the client: release it and go on. */
static void attempt_failed(gw_req_t *q, const char *why)
{
    elm_gateway_t *g = q->g;
    gw_target_t *t = q->tgt;
    snprintf(q->why, sizeof q->why, "%s %s", t->name, why);
    t->failures++;
    const char *ld[] = {t->name};
    elm_metrics_inc(g->metrics, "edgelm_gateway_upstream_failures_total", ld, 1);
    if (t->device < 0) { /* the cloud failed: nothing is left to try */
        char msg[480];
        snprintf(msg, sizeof msg, "the cloud fallback failed: %s", q->why);
        reply_error(q, 502, "server_error", "upstream_failed", msg);
        q->status = 502;
        conclude(q, GW_FAILED);
        return;
    }
    gw_health_report(g, t, false, why);
    if (q->dev_lease[0]) release_shared(q, q->dev_lease, false, 0);
    elm_router_fail(g->router, gw_now_ms(), &q->dec);
    q->rr.excluded_why = ELM_ROUTE_FAILED;
    q->rr.exclude |= 1ull << t->device;
    q->tgt = NULL;
    route_next(q);
}

/* ---- the relay ---- */

static void on_head(void *user, int status)
{
    gw_req_t *q = user;
    q->status = status;
    if (status == 429 || status >= 500) {
        char why[64];
        snprintf(why, sizeof why, "answered %d", status);
        detach(q);
        attempt_failed(q, why);
    }
}

static bool grow(gw_req_t *q, size_t need)
{
    if (need <= q->cap) return true;
    size_t cap = q->cap ? q->cap * 2 : 4096;
    while (cap < need) cap *= 2;
    char *p = realloc(q->buf, cap);
    if (!p) return false;
    q->buf = p;
    q->cap = cap;
    return true;
}

/* One event of a device's stream: note what it says, and pass it on unless it is the usage the
 * gateway asked for on the client's behalf. Returns false when the attempt ended here (q may be
 * gone). */
static bool relay_event(void *user, char *data, size_t n)
{
    gw_req_t *q = user;
    gw_event_t e;
    gw_event_read(data, n, &e);
    if (e.prompt_tokens >= 0) q->usage_in = e.prompt_tokens;
    if (e.completion_tokens >= 0) q->usage_out = e.completion_tokens;
    if (e.error && !q->started) { /* the device refused before answering: try another */
        detach(q);
        attempt_failed(q, "sent an error event before any answer");
        return false;
    }
    uint64_t now = elm_time_ns();
    if (e.content) {
        if (!q->t_first) q->t_first = now;
        else {
            const char *ld[] = {q->tgt->name};
            elm_metrics_observe(q->g->metrics, "edgelm_gateway_itl_seconds", ld,
                                secs_between(q->t_last, now));
        }
        q->t_last = now;
        q->n_content++;
    }
    if (e.usage_only && !q->include_usage) return true;
    if (!q->started) {
        q->started = true;
        elm_server_stream_begin(q->sreq);
    }
    size_t len = 0;
    char *out = gw_sse_text(data, n, &len);
    if (out) elm_server_stream_write(q->sreq, out, len);
    free(out);
    return true;
}

/* The attempt cannot go on for a fault of the device's answer: retry before the first byte
 * reached the client, else end the client's stream with the error. */
static void answer_fault(gw_req_t *q, const char *why)
{
    detach(q);
    if (!q->started) {
        attempt_failed(q, why);
        return;
    }
    snprintf(q->why, sizeof q->why, "%s %s", q->tgt->name, why);
    stream_error(q, q->why);
    conclude(q, GW_FAILED);
}

/* Body bytes of the attempt: events of an OK stream are relayed as they complete; anything else
 * is kept whole, up to a bound. */
static void on_data(void *user, const char *p, size_t n)
{
    gw_req_t *q = user;
    if (q->stream && q->status / 100 == 2) {
        int rc = gw_sse_feed(&q->sse, p, n, false, relay_event, q);
        if (rc == GW_SSE_OK || rc == GW_SSE_STOPPED) return;
        answer_fault(q, rc == GW_SSE_TOO_LONG ? "sent an event too long to relay"
                                              : "could not be relayed (out of memory)");
        return;
    }
    if (q->len + n > GW_MAX_ANSWER || !grow(q, q->len + n + 1)) {
        answer_fault(q, "sent too long an answer");
        return;
    }
    memcpy(q->buf + q->len, p, n);
    q->len += n;
}

/* The whole (non-streamed) answer: its usage, then the client gets it as it came. */
static void relay_whole(gw_req_t *q)
{
    q->buf[q->len] = '\0';
    cJSON *j = cJSON_ParseWithLength(q->buf, q->len);
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "usage");
    const cJSON *pt = cJSON_IsObject(u) ? cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens") : NULL;
    const cJSON *ct =
        cJSON_IsObject(u) ? cJSON_GetObjectItemCaseSensitive(u, "completion_tokens") : NULL;
    if (cJSON_IsNumber(pt) && pt->valuedouble >= 0 && pt->valuedouble < 4e9)
        q->usage_in = (int64_t)pt->valuedouble;
    if (cJSON_IsNumber(ct) && ct->valuedouble >= 0 && ct->valuedouble < 4e9)
        q->usage_out = (int64_t)ct->valuedouble;
    cJSON_Delete(j);
    q->t_first = q->t_last = elm_time_ns();
    detach_client(q);
    elm_server_reply(q->sreq, q->status, "application/json", q->buf, q->len);
}

static void on_done(void *user, int err, const char *why)
{
    gw_req_t *q = user;
    gw_target_t *t = q->tgt;
    detach(q); /* the exchange is finishing: this only forgets it */
    if (err && !q->started) {
        attempt_failed(q, why);
        return;
    }
    if (err) { /* died in the middle of a stream */
        char msg[480];
        snprintf(q->why, sizeof q->why, "%s %s", t->name, why);
        snprintf(msg, sizeof msg, "the device %s", q->why);
        gw_health_report(q->g, t, false, why);
        stream_error(q, msg);
        conclude(q, GW_FAILED);
        return;
    }
    bool ok = q->status / 100 == 2;
    if (q->stream && ok) {
        if (gw_sse_feed(&q->sse, "", 0, true, relay_event, q) == GW_SSE_STOPPED) return;
        if (!q->started) elm_server_stream_begin(q->sreq);
        end_stream(q);
    } else {
        relay_whole(q);
    }
    if (t->device >= 0) gw_health_report(q->g, t, true, NULL);
    conclude(q, !ok ? GW_FAILED : t->device >= 0 ? GW_SERVED : GW_REDIRECTED);
}

static const gw_exchange_cb_t exchange_cb = {on_head, on_data, on_done};

/* ---- routing ---- */

/* Seconds until some device's window has room for the request (at least 1). */
static int retry_after_s(gw_req_t *q)
{
    elm_gateway_t *g = q->g;
    int64_t now = gw_now_ms(), best = -1;
    uint64_t tokens = (uint64_t)q->rr.in_tokens + q->rr.out_tokens;
    for (uint32_t i = 0; i < g->cfg.n_devices; i++) {
        if (g->dev[i].breaker != GW_CLOSED) continue;
        int64_t w = elm_limiter_wait_ms(elm_router_limiter(g->router, i), now, tokens);
        if (w >= 0 && (best < 0 || w < best)) best = w;
    }
    if (q->dec.reason == ELM_ROUTE_UNHEALTHY || best < 0)
        best = (int64_t)(g->cfg.gateway.breaker_cooldown_s * 1000);
    int64_t s = (best + 999) / 1000;
    return s < 1 ? 1 : s > 86400 ? 86400 : (int)s;
}

static void reject(gw_req_t *q)
{
    elm_gateway_t *g = q->g;
    char msg[480];
    const char *lr[] = {q->reason};
    elm_metrics_inc(g->metrics, "edgelm_gateway_rejections_total", lr, 1);
    if (q->dec.reason == ELM_ROUTE_TOO_LARGE) {
        snprintf(msg, sizeof msg,
                 "the request needs %llu tokens (prompt and max_tokens), more than any device's "
                 "window holds; lower max_tokens or shorten the prompt",
                 (unsigned long long)q->rr.in_tokens + q->rr.out_tokens);
        reply_error(q, 400, "invalid_request_error", "request_too_large", msg);
    } else if (q->dec.reason == ELM_ROUTE_FAILED) {
        snprintf(msg, sizeof msg, "every device tried failed (last: %s) and no cloud is configured",
                 q->why);
        reply_error(q, 502, "server_error", "upstream_failed", msg);
    } else {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", retry_after_s(q));
        elm_server_req_set_header(q->sreq, "Retry-After", ra);
        snprintf(msg, sizeof msg, "no device can take the request now (%s) and no cloud is "
                                  "configured; retry after %s s",
                 elm_route_reason_str(q->dec.reason), ra);
        reply_error(q, 429, "rate_limit_error", "rate_limit_exceeded", msg);
    }
    conclude(q, q->dec.reason == ELM_ROUTE_FAILED ? GW_FAILED : GW_REJECTED);
}

/* Redis's verdict on the device the router chose: forward, or choose again without it. */
static void on_device_verdict(void *user, int verdict, int64_t wait_ms, uint64_t used)
{
    gw_req_t *q = user;
    elm_gateway_t *g = q->g;
    (void)wait_ms;
    q->waiting = false;
    if (verdict != GW_LIM_DOWN) g->dev[q->dec.device].shared_used = used;
    if (verdict == GW_LIM_OK && !q->cancelled) {
        send_to(q, &g->dev[q->dec.device]);
        return;
    }
    if (verdict == GW_LIM_OK) release_shared(q, q->dev_lease, false, 0);
    q->dev_lease[0] = '\0';
    elm_router_undo(g->router, gw_now_ms(), &q->dec);
    if (q->cancelled) {
        q->tgt = NULL;
        q->dec.kind = ELM_ROUTE_TO_REJECT;
        snprintf(q->why, sizeof q->why, "the client went away");
        reply_error(q, 503, "server_error", "cancelled", q->why);
        conclude(q, GW_CANCELLED);
        return;
    }
    if (verdict != GW_LIM_DOWN) { /* full across the gateways: another device, or the cloud */
        q->rr.exclude |= 1ull << q->dec.device;
        q->rr.excluded_why =
            verdict == GW_LIM_WINDOW ? ELM_ROUTE_WINDOW_FULL : ELM_ROUTE_CONCURRENCY_FULL;
    }
    q->tgt = NULL;
    route_next(q); /* without Redis now, the local limits decide */
}

static void route_next(gw_req_t *q)
{
    elm_gateway_t *g = q->g;
    int64_t now = gw_now_ms();
    if (gw_limits_closed(g))
        q->dec = elm_router_fallback(g->router, &q->rr, ELM_ROUTE_LIMITS_DOWN);
    else if (q->attempts == 0 || q->attempts <= g->cfg.gateway.retries)
        q->dec = elm_router_decide(g->router, now, &q->rr);
    else
        q->dec = elm_router_fallback(g->router, &q->rr, ELM_ROUTE_FAILED);
    q->reason = elm_route_reason_name(q->dec.reason);
    switch (q->dec.kind) {
    case ELM_ROUTE_TO_DEVICE: {
        gw_target_t *t = &g->dev[q->dec.device];
        if (!gw_limits_shared(g)) {
            send_to(q, t);
            break;
        }
        const elm_device_spec_t *s = &g->cfg.devices[q->dec.device];
        char scope[ELM_ROUTE_NAME_MAX + 8];
        q->tgt = t;
        scope_of(q, false, scope, sizeof scope);
        new_lease(q, q->dev_lease, sizeof q->dev_lease);
        q->waiting = true;
        gw_limits_reserve(g, scope, q->dev_lease, q->dec.reserved, s->window_tokens,
                          s->max_parallel, on_device_verdict, q);
        break;
    }
    case ELM_ROUTE_TO_CLOUD: {
        const char *lr[] = {q->reason};
        elm_metrics_inc(g->metrics, "edgelm_gateway_redirects_total", lr, 1);
        send_to(q, &g->cloud);
        break;
    }
    case ELM_ROUTE_TO_REJECT: q->tgt = NULL; reject(q); break;
    }
}

/* Over the client's own window (its key's): a 429 whatever the cluster could take; wait_ms
 * until the window has room (< 0: never, the request is larger than the window). */
static void reject_key(gw_req_t *q, bool window, int64_t wait_ms)
{
    elm_gateway_t *g = q->g;
    const elm_route_key_t *k = &g->keys.keys[q->key];
    uint64_t tokens = (uint64_t)q->rr.in_tokens + q->rr.out_tokens;
    char ra[24], msg[240];
    q->dec.kind = ELM_ROUTE_TO_REJECT;
    q->reason = window ? "key_window_full" : "key_concurrency_full";
    if (wait_ms < 0) {
        snprintf(msg, sizeof msg, "the request needs %llu tokens, more than your key's window of "
                                  "%llu",
                 (unsigned long long)tokens, (unsigned long long)k->window_tokens);
    } else {
        int64_t s = (wait_ms + 999) / 1000;
        snprintf(ra, sizeof ra, "%lld", (long long)(s > 0 ? s : 1));
        elm_server_req_set_header(q->sreq, "Retry-After", ra);
        snprintf(msg, sizeof msg, "your key's limit is reached (%s); retry after %s s",
                 window ? "token window full" : "all its parallel requests in progress", ra);
    }
    snprintf(q->why, sizeof q->why, "%s", msg);
    reply_error(q, 429, "rate_limit_error", "rate_limit_exceeded", msg);
    const char *lr[] = {q->reason};
    elm_metrics_inc(g->metrics, "edgelm_gateway_rejections_total", lr, 1);
    conclude(q, GW_REJECTED);
}

/* The key's window in this gateway's own limiter. Returns false when the request was answered. */
static bool admit_key_local(gw_req_t *q)
{
    elm_limiter_t *l = &q->g->key_lim[q->key];
    int64_t now = gw_now_ms();
    uint64_t tokens = (uint64_t)q->rr.in_tokens + q->rr.out_tokens, seq;
    elm_route_reason_t why = elm_limiter_admit(l, now, tokens, &seq);
    if (why == ELM_ROUTE_OK) {
        q->key_seq = seq + 1;
        return true;
    }
    bool window = why == ELM_ROUTE_WINDOW_FULL;
    reject_key(q, window, window ? elm_limiter_wait_ms(l, now, tokens) : 1000);
    return false;
}

static void on_key_verdict(void *user, int verdict, int64_t wait_ms, uint64_t used)
{
    gw_req_t *q = user;
    (void)used;
    q->waiting = false;
    if (q->cancelled) {
        if (verdict != GW_LIM_OK) q->key_lease[0] = '\0';
        q->dec.kind = ELM_ROUTE_TO_REJECT;
        snprintf(q->why, sizeof q->why, "the client went away");
        reply_error(q, 503, "server_error", "cancelled", q->why);
        conclude(q, GW_CANCELLED);
        return;
    }
    if (verdict == GW_LIM_OK) {
        route_next(q);
        return;
    }
    q->key_lease[0] = '\0';
    if (verdict == GW_LIM_DOWN) {
        if (admit_key_local(q)) route_next(q);
        return;
    }
    const elm_route_key_t *k = &q->g->keys.keys[q->key];
    bool too_big = verdict == GW_LIM_WINDOW && k->window_tokens &&
                   (uint64_t)q->rr.in_tokens + q->rr.out_tokens > k->window_tokens;
    reject_key(q, verdict == GW_LIM_WINDOW, too_big ? -1 : wait_ms);
}

/* The client's key first (its limits, shared or local), then the devices. */
static void start(gw_req_t *q)
{
    elm_gateway_t *g = q->g;
    if (q->key < 0 || !g->key_lim[q->key].log) { /* no key, or one without limits */
        route_next(q);
        return;
    }
    if (!gw_limits_shared(g)) {
        if (admit_key_local(q)) route_next(q);
        return;
    }
    const elm_route_key_t *k = &g->keys.keys[q->key];
    char scope[ELM_ROUTE_NAME_MAX + 8];
    scope_of(q, true, scope, sizeof scope);
    new_lease(q, q->key_lease, sizeof q->key_lease);
    q->waiting = true;
    gw_limits_reserve(g, scope, q->key_lease, (uint64_t)q->rr.in_tokens + q->rr.out_tokens,
                      k->window_tokens ? k->window_tokens : UINT64_MAX / 4,
                      k->max_parallel ? k->max_parallel : UINT32_MAX, on_key_verdict, q);
}

void gw_forward(elm_gateway_t *g, elm_server_req_t *req, int key)
{
    size_t len = 0;
    const char *body = elm_server_req_body(req, &len);
    elm_serve_endpoint_t ep =
        elm_server_req_endpoint(req) == ELM_SERVER_EP_CHAT ? ELM_SERVE_CHAT : ELM_SERVE_COMPLETION;
    elm_serve_limits_t lim = {g->p.max_body, g->cfg.gateway.default_max_tokens};
    elm_serve_request_t r = {0};
    elm_serve_error_t err = {0};
    gw_req_t *q = calloc(1, sizeof *q);
    if (!q) {
        elm_server_reply_error(req, 500, "server_error", NULL, NULL, "out of memory");
        return;
    }
    q->g = g;
    q->sreq = req;
    q->id = ++g->next_id;
    q->ep = ep;
    q->t_arrival = elm_time_ns();
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    q->t_wall_ms = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
    q->key = key;
    q->usage_in = q->usage_out = -1;
    if (elm_serve_request_parse(body, len, ep, &lim, &r, &err)) {
        q->status = err.status;
        snprintf(q->why, sizeof q->why, "invalid request: %s", err.message);
        elm_server_reply_error(req, err.status, err.type, err.param[0] ? err.param : NULL,
                               err.code[0] ? err.code : NULL, err.message); /* q not attached */
        q->dec.kind = ELM_ROUTE_TO_REJECT;
        q->reason = "invalid";
        conclude(q, GW_FAILED);
        elm_serve_request_free(&r);
        return;
    }
    if (r.model && strcmp(r.model, g->cfg.gateway.model_id) != 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "the model '%.64s' is not served here: this gateway serves '%s' "
                                  "(GET /v1/models)",
                 r.model, g->cfg.gateway.model_id);
        elm_serve_request_free(&r);
        q->dec.kind = ELM_ROUTE_TO_REJECT;
        q->reason = "invalid";
        snprintf(q->why, sizeof q->why, "%s", msg);
        reply_error(q, 404, "not_found_error", "model_not_found", msg);
        conclude(q, GW_FAILED);
        return;
    }
    q->stream = r.stream;
    q->include_usage = r.include_usage;
    q->rr.in_tokens = count_prompt(g, &r, &q->estimated);
    q->rr.out_tokens = r.max_tokens;
    elm_serve_request_free(&r);
    if (!(q->body = cJSON_ParseWithLength(body, len))) {
        reply_error(q, 500, "server_error", NULL, "out of memory");
        q->dec.kind = ELM_ROUTE_TO_REJECT;
        conclude(q, GW_FAILED);
        return;
    }
    elm_server_req_set_user(req, q);
    start(q);
}

void gw_forward_cancel(elm_gateway_t *g, elm_server_req_t *req)
{
    (void)g;
    gw_req_t *q = elm_server_req_user(req);
    if (q && q->waiting) {
        q->cancelled = true; /* Redis's verdict ends it */
        return;
    }
    if (!q || !q->x) return; /* already answered */
    detach(q);
    snprintf(q->why, sizeof q->why, "the client went away");
    if (q->started) end_stream(q);
    else reply_error(q, 503, "server_error", "cancelled", q->why);
    conclude(q, GW_CANCELLED);
}
