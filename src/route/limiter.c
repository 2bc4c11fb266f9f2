/* route/: the exact sliding-log token limiter with a concurrency limit (Edge-First §V). The log is
 * a ring of log_cap entries; an entry admitted at t counts for every now in [t, t + window). */
#include <stdlib.h>
#include <string.h>

#include "edgelm/route.h"

static const char *const reason_str[] = {
#define ELM__REASON_STR(name, msg) msg,
    ELM_ROUTE_REASON_MAP(ELM__REASON_STR)
#undef ELM__REASON_STR
};

const char *elm_route_reason_str(elm_route_reason_t reason)
{
    return (unsigned)reason < ELM_ROUTE_REASON_COUNT ? reason_str[reason] : "unknown reason";
}

const char *elm_route_reason_name(elm_route_reason_t reason)
{
    static const char *const names[] = {"ok", "window_full", "concurrency_full", "unhealthy",
                                        "too_large", "failed", "limits_down"};
    _Static_assert(sizeof names / sizeof names[0] == ELM_ROUTE_REASON_COUNT, "reason names");
    return (unsigned)reason < ELM_ROUTE_REASON_COUNT ? names[reason] : "unknown";
}

int elm_limiter_init(elm_limiter_t *l, uint64_t capacity, int64_t window_ms, uint32_t max_parallel,
                     uint32_t log_cap)
{
    memset(l, 0, sizeof *l);
    if (!capacity || window_ms <= 0 || !max_parallel || !log_cap || log_cap > ELM_ROUTE_MAX_LOG)
        return ELM_EINVAL;
    l->log = calloc(log_cap, sizeof *l->log);
    if (!l->log) return ELM_ENOMEM;
    l->capacity = capacity;
    l->window_ms = window_ms;
    l->max_parallel = max_parallel;
    l->log_cap = log_cap;
    l->last_now = INT64_MIN;
    return 0;
}

void elm_limiter_free(elm_limiter_t *l)
{
    if (!l) return;
    free(l->log);
    l->log = NULL;
}

/* Move to now (never backwards) and drop the entries that have left the window. */
static void advance(elm_limiter_t *l, int64_t now_ms)
{
    if (now_ms > l->last_now) l->last_now = now_ms;
    now_ms = l->last_now;
    while (l->head_seq < l->tail_seq) {
        elm__log_entry_t *e = &l->log[l->head_seq % l->log_cap];
        /* now - t >= window, written without overflow for any t <= now */
        if ((uint64_t)now_ms - (uint64_t)e->t_ms < (uint64_t)l->window_ms) break;
        l->used -= e->tokens;
        l->head_seq++;
    }
}

uint64_t elm_limiter_used(elm_limiter_t *l, int64_t now_ms)
{
    advance(l, now_ms);
    return l->used;
}

uint64_t elm_limiter_available(elm_limiter_t *l, int64_t now_ms)
{
    advance(l, now_ms);
    return l->used >= l->capacity ? 0 : l->capacity - l->used;
}

elm_route_reason_t elm_limiter_check(elm_limiter_t *l, int64_t now_ms, uint64_t tokens)
{
    advance(l, now_ms);
    if (l->in_flight >= l->max_parallel) return ELM_ROUTE_CONCURRENCY_FULL;
    if (l->used >= l->capacity || tokens > l->capacity - l->used) return ELM_ROUTE_WINDOW_FULL;
    /* A full log means log_cap admissions are live in this window: the request-count limit. */
    if (l->tail_seq - l->head_seq >= l->log_cap) return ELM_ROUTE_WINDOW_FULL;
    return ELM_ROUTE_OK;
}

elm_route_reason_t elm_limiter_admit(elm_limiter_t *l, int64_t now_ms, uint64_t tokens,
                                     uint64_t *seq)
{
    elm_route_reason_t why = elm_limiter_check(l, now_ms, tokens);
    if (why != ELM_ROUTE_OK) return why;
    elm__log_entry_t *e = &l->log[l->tail_seq % l->log_cap];
    e->t_ms = l->last_now;
    e->tokens = tokens;
    l->used += tokens;
    l->in_flight++;
    *seq = l->tail_seq++;
    return ELM_ROUTE_OK;
}

int elm_limiter_release(elm_limiter_t *l, int64_t now_ms, uint64_t seq, uint64_t actual)
{
    if (!l->in_flight || seq >= l->tail_seq) return ELM_EINVAL;
    advance(l, now_ms);
    l->in_flight--;
    if (seq >= l->head_seq) {
        /* Still in the window: the actual count replaces the estimate from here on. */
        elm__log_entry_t *e = &l->log[seq % l->log_cap];
        l->used = l->used - e->tokens + actual;
        e->tokens = actual;
    }
    return 0;
}

int64_t elm_limiter_wait_ms(elm_limiter_t *l, int64_t now_ms, uint64_t tokens)
{
    if (tokens > l->capacity) return -1;
    advance(l, now_ms);
    uint64_t used = l->used;
    for (uint64_t q = l->head_seq;; q++) {
        /* Room once the entries before q have left; a full log also waits for its oldest. */
        bool log_room = l->tail_seq - q < l->log_cap;
        if (used <= l->capacity - tokens && log_room) {
            if (q == l->head_seq) return 0;
            const elm__log_entry_t *e = &l->log[(q - 1) % l->log_cap];
            return e->t_ms + l->window_ms - l->last_now;
        }
        if (q == l->tail_seq) return l->window_ms; /* unreachable: an empty log has room */
        used -= l->log[q % l->log_cap].tokens;
    }
}

void elm_limiter_charge(elm_limiter_t *l, int64_t now_ms, uint64_t tokens)
{
    advance(l, now_ms);
    if (!tokens || l->tail_seq - l->head_seq >= l->log_cap) return;
    elm__log_entry_t *e = &l->log[l->tail_seq++ % l->log_cap];
    e->t_ms = l->last_now;
    e->tokens = tokens;
    l->used += tokens;
}
