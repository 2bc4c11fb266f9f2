/* gateway/: device health — an active GET of the health path on each device's origin, passive
 * reports from real requests, and a circuit breaker per device: closed → open after
 * breaker.failures consecutive failures (the router then skips the device) → half-open once the
 * cool-down has passed, when one health check is the probe → closed on its success, open again on
 * its failure. */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "gateway_internal.h"

static const char *breaker_name(gw_breaker_t b)
{
    return b == GW_OPEN ? "open" : b == GW_HALF_OPEN ? "half-open" : "closed";
}

static void schedule(elm_gateway_t *g, gw_target_t *t);

static void set_breaker(elm_gateway_t *g, gw_target_t *t, gw_breaker_t b, const char *why)
{
    if (t->breaker == b) return;
    gw_log(g, "device %s: breaker %s -> %s%s%s", t->name, breaker_name(t->breaker),
           breaker_name(b), why ? ": " : "", why ? why : "");
    t->breaker = b;
    elm_router_set_health(g->router, (uint32_t)t->device, b == GW_CLOSED);
    if (b == GW_OPEN) {
        t->open_until_ns =
            elm_time_ns() + (uint64_t)(g->cfg.gateway.breaker_cooldown_s * 1e9);
        if (!t->probe) schedule(g, t); /* the probe at the cool-down's end */
    }
}

void gw_health_report(elm_gateway_t *g, gw_target_t *t, bool ok, const char *why)
{
    if (t->device < 0) return;
    if (ok) {
        t->fails = 0;
        set_breaker(g, t, GW_CLOSED, NULL);
        return;
    }
    t->fails++;
    if (t->breaker == GW_HALF_OPEN || t->fails >= g->cfg.gateway.breaker_failures)
        set_breaker(g, t, GW_OPEN, why);
}

/* ---- the active check ---- */

static void probe_head(void *user, int status)
{
    ((gw_target_t *)user)->probe_status = status;
}

static void probe_data(void *user, const char *p, size_t n)
{
    (void)user;
    (void)p;
    (void)n;
}

static void probe_done(void *user, int err, const char *why)
{
    gw_target_t *t = user;
    elm_gateway_t *g = t->g;
    char msg[128] = "";
    t->probe = NULL;
    bool ok = !err && t->probe_status == 200;
    t->checked_ok = ok;
    if (!ok && !err) snprintf(msg, sizeof msg, "health check answered %d", t->probe_status);
    else if (!ok) snprintf(msg, sizeof msg, "health check: %s", why);
    if (g->stopping) return;
    gw_health_report(g, t, ok, ok ? NULL : msg);
    schedule(g, t);
}

static void on_check(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    gw_target_t *t = arg;
    elm_gateway_t *g = t->g;
    if (g->stopping || t->probe) return;
    if (t->breaker == GW_OPEN) {
        if (elm_time_ns() < t->open_until_ns) {
            schedule(g, t);
            return;
        }
        set_breaker(g, t, GW_HALF_OPEN, "cool-down over, probing");
    }
    static const gw_exchange_cb_t cb = {probe_head, probe_data, probe_done};
    const elm_gateway_spec_t *gs = &g->cfg.gateway;
    double limit = gs->first_byte_timeout_s < 5 ? gs->first_byte_timeout_s : 5;
    t->probe_status = 0;
    t->probe = gw_exchange_start(g, t, "GET", gs->health_path, NULL, 0,
                                 elm_time_ns() + (uint64_t)(limit * 1e9), &cb, t);
    if (!t->probe) schedule(g, t);
}

/* The next check: after the interval, or when an open breaker's cool-down ends. */
static void schedule(elm_gateway_t *g, gw_target_t *t)
{
    const elm_gateway_spec_t *gs = &g->cfg.gateway;
    double s = gs->health_interval_s;
    if (t->breaker == GW_OPEN) {
        uint64_t now = elm_time_ns();
        double left = t->open_until_ns > now ? (double)(t->open_until_ns - now) / 1e9 : 0;
        if (!(s > 0) || left < s) s = left;
    } else if (!(s > 0)) {
        return; /* no periodic checks: only an open breaker's probe */
    }
    struct timeval tv = {(time_t)s, (suseconds_t)((s - (double)(time_t)s) * 1e6)};
    evtimer_add(t->health_ev, &tv);
}

int gw_health_start(elm_gateway_t *g)
{
    for (uint32_t i = 0; i < g->cfg.n_devices; i++) {
        gw_target_t *t = &g->dev[i];
        if (!(t->health_ev = evtimer_new(g->base, on_check, t))) return ELM_ENOMEM;
        t->checked_ok = true;
        if (g->cfg.gateway.health_interval_s > 0) {
            struct timeval now = {0, 0};
            evtimer_add(t->health_ev, &now); /* a first check right away */
        }
    }
    return 0;
}

void gw_health_stop(elm_gateway_t *g)
{
    for (uint32_t i = 0; i < g->cfg.n_devices; i++) {
        gw_target_t *t = &g->dev[i];
        gw_exchange_abort(t->probe);
        t->probe = NULL;
        if (t->health_ev) {
            event_free(t->health_ev);
            t->health_ev = NULL;
        }
    }
}
