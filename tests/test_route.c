/* route/: the limiter against brute-force oracles (admission, Retry-After) and at its window edges,
 * reconciliation, every strategy on hand-made states, the router's decisions, retries and
 * accounting, the config parser with the gateway's keys, and the client keys file. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "edgelm/route.h"
#include "testutil.h"

#define assert_near(a, b) assert_true(fabs((double)(a) - (double)(b)) <= 1e-9)

/* ---- limiter ---- */

typedef struct {
    int64_t t;
    uint64_t tokens;
    uint64_t seq;
    bool open;
} oracle_entry_t;

/* Tokens of every admission with now - window < t <= now. */
static uint64_t oracle_used(const oracle_entry_t *e, int n, int64_t now, int64_t window)
{
    uint64_t u = 0;
    for (int i = 0; i < n; i++)
        if (e[i].t <= now && now - e[i].t < window) u += e[i].tokens;
    return u;
}

static int oracle_live(const oracle_entry_t *e, int n, int64_t now, int64_t window)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        k += e[i].t <= now && now - e[i].t < window;
    return k;
}

static void test_limiter_oracle(void **state)
{
    (void)state;
    enum { N = 3000 };
    static oracle_entry_t e[N];
    elm_rng_t rng;
    for (uint64_t round = 0; round < 20; round++) {
        elm_rng_seed(&rng, round);
        uint64_t cap = 50 + elm_rng_below(&rng, 500);
        int64_t window = 100 + elm_rng_below(&rng, 2000);
        uint32_t par = 1 + elm_rng_below(&rng, 4), log_cap = 2 + elm_rng_below(&rng, 30);
        elm_limiter_t l;
        assert_int_equal(elm_limiter_init(&l, cap, window, par, log_cap), 0);
        int n = 0;
        uint32_t in_flight = 0;
        int64_t now = elm_rng_below(&rng, 1000);
        for (int op = 0; op < N; op++) {
            /* Jumps that often land exactly on a window edge of an earlier admission. */
            uint32_t how = elm_rng_below(&rng, 4);
            if (how == 0 && n) {
                int64_t edge = e[elm_rng_below(&rng, (uint32_t)n)].t + window;
                now = edge > now ? edge : now;
            } else if (how == 1 && n)
                now = e[n - 1].t + window - 1 > now ? e[n - 1].t + window - 1 : now;
            else
                now += elm_rng_below(&rng, (uint32_t)window / 4);
            if (in_flight && elm_rng_below(&rng, 3) == 0) {
                int k;
                do
                    k = (int)elm_rng_below(&rng, (uint32_t)n);
                while (!e[k].open);
                uint64_t actual = elm_rng_below(&rng, 2 * (uint32_t)e[k].tokens + 1);
                assert_int_equal(elm_limiter_release(&l, now, e[k].seq, actual), 0);
                e[k].open = false;
                e[k].tokens = actual;
                in_flight--;
            } else if (n < N) {
                uint64_t tok = 1 + elm_rng_below(&rng, (uint32_t)cap / 2);
                uint64_t used = oracle_used(e, n, now, window);
                bool want = in_flight < par && used + tok <= cap &&
                            oracle_live(e, n, now, window) < (int)log_cap;
                uint64_t seq = 0;
                elm_route_reason_t why = elm_limiter_admit(&l, now, tok, &seq);
                assert_int_equal(why == ELM_ROUTE_OK, want);
                if (!want && in_flight >= par) assert_int_equal(why, ELM_ROUTE_CONCURRENCY_FULL);
                if (want) {
                    e[n++] = (oracle_entry_t){now, tok, seq, true};
                    in_flight++;
                }
            }
            assert_true(elm_limiter_used(&l, now) == oracle_used(e, n, now, window));
            assert_int_equal(l.in_flight, in_flight);
        }
        elm_limiter_free(&l);
    }
}

static void test_limiter_window_edge(void **state)
{
    (void)state;
    elm_limiter_t l;
    uint64_t seq;
    assert_int_equal(elm_limiter_init(&l, 100, 1000, 8, 16), 0);
    assert_int_equal(elm_limiter_admit(&l, 0, 60, &seq), ELM_ROUTE_OK);
    assert_int_equal(elm_limiter_admit(&l, 500, 40, &seq), ELM_ROUTE_OK);
    /* Exactly full: not one more token until the first admission leaves at t = 1000. */
    assert_int_equal(elm_limiter_admit(&l, 999, 1, &seq), ELM_ROUTE_WINDOW_FULL);
    assert_true(elm_limiter_available(&l, 999) == 0);
    assert_int_equal(elm_limiter_admit(&l, 1000, 61, &seq), ELM_ROUTE_WINDOW_FULL);
    assert_int_equal(elm_limiter_admit(&l, 1000, 60, &seq), ELM_ROUTE_OK);
    assert_true(elm_limiter_used(&l, 1499) == 100);
    assert_true(elm_limiter_used(&l, 1500) == 60);
    /* Time running backwards reads as the latest time seen. */
    assert_true(elm_limiter_used(&l, 10) == 60);
    elm_limiter_free(&l);
    assert_int_equal(elm_limiter_init(&l, 0, 1000, 1, 16), ELM_EINVAL);
    assert_int_equal(elm_limiter_init(&l, 10, 1000, 1, ELM_ROUTE_MAX_LOG + 1), ELM_EINVAL);
    elm_limiter_free(NULL);
}

static void test_limiter_reconcile_and_slots(void **state)
{
    (void)state;
    elm_limiter_t l;
    uint64_t a, b, c;
    assert_int_equal(elm_limiter_init(&l, 1000, 60000, 2, 64), 0);
    assert_int_equal(elm_limiter_admit(&l, 0, 500, &a), ELM_ROUTE_OK);
    assert_int_equal(elm_limiter_admit(&l, 1, 300, &b), ELM_ROUTE_OK);
    assert_int_equal(elm_limiter_admit(&l, 2, 10, &c), ELM_ROUTE_CONCURRENCY_FULL);
    /* The estimate was 500, the answer took 120: the difference is free again at once. */
    assert_int_equal(elm_limiter_release(&l, 10, a, 120), 0);
    assert_true(elm_limiter_used(&l, 10) == 420);
    assert_int_equal(elm_limiter_admit(&l, 11, 580, &c), ELM_ROUTE_OK);
    /* An answer longer than its estimate over-fills the window: nothing more is admitted. */
    assert_int_equal(elm_limiter_release(&l, 12, b, 700), 0);
    assert_true(elm_limiter_used(&l, 12) == 1400);
    assert_int_equal(elm_limiter_check(&l, 12, 1), ELM_ROUTE_WINDOW_FULL);
    /* Released after it left the window: the window does not change. */
    assert_int_equal(elm_limiter_release(&l, 60011, c, 5), 0);
    assert_true(elm_limiter_used(&l, 60011) == 0);
    assert_int_equal(elm_limiter_release(&l, 60012, c, 5), ELM_EINVAL);
    elm_limiter_free(&l);
}

/* ---- strategies ---- */

static elm_device_spec_t specs[4] = {
    {"small", 5, 100, 1, 0, 5, 0, true},
    {"medium", 10, 300, 1, 0, 30, 0, true},
    {"big", 20, 600, 2, 0, 20, 0, true},
    {"down", 50, 1000, 4, 0, 1, 0, false},
};

static void views(elm_route_view_t *v, const uint64_t *avail, const uint32_t *inflight)
{
    for (int i = 0; i < 4; i++) {
        v[i] = (elm_route_view_t){&specs[i],   avail[i],         inflight[i] * 100u,
                                  inflight[i], specs[i].healthy, false};
        v[i].can_admit = v[i].eligible && inflight[i] < specs[i].max_parallel && avail[i] >= 50;
    }
}

static int pick(const char *name, const elm_route_view_t *v, elm_route_pick_state_t *st)
{
    const elm_route_strategy_t *s = elm_route_strategy_find(name);
    assert_non_null(s);
    elm_route_req_t req = {0, 50};
    return s->pick(v, 4, &req, st);
}

static void test_strategies(void **state)
{
    (void)state;
    elm_route_view_t v[4];
    elm_route_pick_state_t st = {{{0}}, 0};
    elm_rng_seed(&st.rng, 42);
    views(v, (uint64_t[]){100, 300, 600, 1000}, (uint32_t[]){0, 0, 0, 0});
    /* random: uniform over the healthy three; weighted: in proportion 100 : 300 : 600. */
    int hits[4] = {0}, whits[4] = {0};
    for (int i = 0; i < 30000; i++) {
        hits[pick("random", v, &st)]++;
        whits[pick("weighted", v, &st)]++;
    }
    assert_int_equal(hits[3] + whits[3], 0);
    for (int i = 0; i < 3; i++)
        assert_true(hits[i] > 9400 && hits[i] < 10600);
    assert_true(whits[0] > 2600 && whits[0] < 3400);
    assert_true(whits[1] > 8400 && whits[1] < 9600);
    assert_true(whits[2] > 17200 && whits[2] < 18800);
    /* load-aware: the largest free share — medium at 250/300 beats big at 400/600. */
    views(v, (uint64_t[]){20, 250, 400, 1000}, (uint32_t[]){0, 0, 1, 0});
    assert_int_equal(pick("load-aware", v, &st), 1);
    /* ...and a device with no free slot loses to one with a slot. */
    views(v, (uint64_t[]){60, 300, 600, 1000}, (uint32_t[]){0, 1, 0, 0});
    assert_int_equal(pick("load-aware", v, &st), 2);
    /* round-robin: healthy devices in turn, skipping the unhealthy one. */
    int rr[6];
    for (int i = 0; i < 6; i++)
        rr[i] = pick("round-robin", v, &st);
    for (int i = 0; i < 6; i++)
        assert_int_equal(rr[i], rr[i % 3]);
    assert_true(rr[0] != rr[1] && rr[1] != rr[2] && rr[0] != rr[2]);
    /* least-predicted-completion: big (20 tok/s, free slot) finishes 50 tokens first; with big
     * busy it is medium (busy too) vs small (5 tok/s, free): small at 10 s. */
    views(v, (uint64_t[]){100, 300, 600, 1000}, (uint32_t[]){0, 0, 0, 0});
    assert_int_equal(pick("least-predicted-completion", v, &st), 2);
    views(v, (uint64_t[]){100, 300, 600, 1000}, (uint32_t[]){0, 1, 2, 0});
    assert_int_equal(pick("least-predicted-completion", v, &st), 0);
    /* energy-aware: J/token small 1.0, medium 3.0, big 1.0 (tie: lower index); "down" is best
     * but unhealthy. With small full, big. */
    views(v, (uint64_t[]){100, 300, 600, 1000}, (uint32_t[]){0, 0, 0, 0});
    assert_int_equal(pick("energy-aware", v, &st), 0);
    views(v, (uint64_t[]){10, 300, 600, 1000}, (uint32_t[]){0, 0, 0, 0});
    assert_int_equal(pick("energy-aware", v, &st), 2);
    /* Nobody eligible: -1 from every strategy. */
    for (int i = 0; i < 4; i++)
        v[i].eligible = v[i].can_admit = false;
    for (uint32_t k = 0; k < elm_route_strategy_count(); k++)
        assert_int_equal(pick(elm_route_strategy_at(k)->name, v, &st), -1);
    assert_null(elm_route_strategy_find("nope"));
    assert_int_equal(elm_route_strategy_count(), 6);
}

/* ---- router ---- */

static void cluster(elm_cluster_config_t *c, bool cloud)
{
    elm_cluster_config_default(c);
    c->cloud.enabled = cloud;
    c->n_devices = 2;
    c->devices[0] = (elm_device_spec_t){"a", 10, 600, 1, 0, 10, 0, true};
    c->devices[1] = (elm_device_spec_t){"b", 20, 1200, 1, 0, 20, 1.0, true};
}

/* A router over c with the strategy (NULL: c's own) and seed, which must build. */
static elm_router_t *router_over(const elm_cluster_config_t *c, const elm_route_strategy_t *strategy,
                                 uint64_t seed)
{
    elm_router_t *r = NULL;
    elm_diag_t d;
    assert_int_equal(elm_router_create(c, strategy, seed, &r, &d), 0);
    return r;
}

static void test_router_decisions(void **state)
{
    (void)state;
    elm_cluster_config_t c;
    elm_diag_t d;
    cluster(&c, true);
    elm_router_t *r = router_over(&c, elm_route_strategy_find("load-aware"), 1);
    elm_route_req_t req = {100, 400};
    elm_route_decision_t d1 = elm_router_decide(r, 0, &req);
    assert_int_equal(d1.kind, ELM_ROUTE_TO_DEVICE);
    assert_int_equal(d1.device, 0); /* both windows empty: the tie goes to the first */
    elm_route_decision_t d2 = elm_router_decide(r, 1, &req);
    assert_int_equal(d2.device, 1);
    /* Both slots taken: redirected with the reason. */
    elm_route_decision_t d3 = elm_router_decide(r, 2, &req);
    assert_int_equal(d3.kind, ELM_ROUTE_TO_CLOUD);
    assert_int_equal(d3.reason, ELM_ROUTE_CONCURRENCY_FULL);
    assert_int_equal(elm_router_complete(r, 2, &d3, 100, 400), 0);
    assert_int_equal(elm_router_complete(r, 20000, &d1, 100, 200), 0);
    assert_int_equal(elm_router_complete(r, 20000, &d1, 100, 200), ELM_EINVAL);
    /* a: 300 of 600 used, 500 more does not fit; b: 500 of 1200, its slot busy. Neither can
     * admit, so load-aware tries the larger free share (b) and the request overflows. */
    elm_route_decision_t d4 = elm_router_decide(r, 20001, &req);
    assert_int_equal(d4.kind, ELM_ROUTE_TO_CLOUD);
    assert_int_equal(d4.device, 1);
    elm_router_complete(r, 20001, &d4, 100, 400);
    /* Too large for every window, then no healthy device. */
    elm_route_req_t huge = {0, 5000};
    elm_route_decision_t d5 = elm_router_decide(r, 20002, &huge);
    assert_int_equal(d5.reason, ELM_ROUTE_TOO_LARGE);
    elm_router_complete(r, 20002, &d5, 0, 5000);
    elm_router_set_health(r, 0, false);
    elm_router_set_health(r, 1, false);
    elm_route_decision_t d6 = elm_router_decide(r, 20003, &req);
    assert_int_equal(d6.reason, ELM_ROUTE_UNHEALTHY);
    elm_router_complete(r, 20003, &d6, 100, 400);
    const elm_route_stats_t *s = elm_router_stats(r);
    assert_int_equal(s->requests, 6);
    assert_int_equal(s->processed, 2);
    assert_int_equal(s->redirected, 4);
    assert_int_equal(s->by_reason[ELM_ROUTE_CONCURRENCY_FULL], 2);
    assert_int_equal(s->cloud_in_tokens, 300);
    assert_int_equal(s->cloud_out_tokens, 6200);
    assert_near(s->cloud_cost, (300 * 0.15 + 6200 * 0.60) / 1e6);
    assert_int_equal(s->dev[0].tokens, 300);
    assert_near(s->dev[0].busy_s, 20.0);  /* 200 tokens at 10 tok/s */
    assert_near(s->edge_energy_j, 200.0); /* 20 s at 10 W */
    assert_string_equal(elm_route_reason_name(ELM_ROUTE_WINDOW_FULL), "window_full");
    assert_string_equal(elm_route_reason_str(ELM_ROUTE_TOO_LARGE),
                        "request larger than any device's window");
    elm_router_free(r);

    /* Cloud off: overflow is rejected. */
    cluster(&c, false);
    r = router_over(&c, elm_route_strategy_find("random"), 1);
    elm_route_decision_t e1 = elm_router_decide(r, 0, &huge);
    assert_int_equal(e1.kind, ELM_ROUTE_TO_REJECT);
    assert_int_equal(elm_router_complete(r, 0, &e1, 0, 0), ELM_EINVAL);
    assert_int_equal(elm_router_stats(r)->rejected_tokens, 5000);
    elm_router_free(r);

    c.n_devices = 0;
    assert_int_equal(elm_router_create(&c, NULL, 1, &r, &d), ELM_EINVAL);
    assert_null(r);
    elm_router_free(NULL);
}

/* ---- config ---- */

static int parse(const char *json, elm_cluster_config_t *c, elm_diag_t *d)
{
    return elm_cluster_config_parse(json, strlen(json), "cluster.json", c, d);
}

static void expect_error(const char *json, const char *msg)
{
    elm_cluster_config_t c;
    elm_diag_t d;
    assert_int_equal(parse(json, &c, &d), ELM_EINVAL);
    if (!strstr(d.msg, msg)) fail_msg("'%s' lacks '%s'", d.msg, msg);
    assert_int_equal(c.n_devices, 0);
}

static void test_config(void **state)
{
    (void)state;
    elm_cluster_config_t c;
    elm_diag_t d;
    assert_int_equal(parse("{\"window_s\": 30, \"strategy\": \"weighted\", \"_note\": 1,"
                           " \"cloud\": {\"enabled\": false, \"output_per_mtok\": 2},"
                           " \"devices\": [{\"name\": \"pi\", \"tokens_per_s\": 8},"
                           " {\"name\": \"gpu\", \"tokens_per_s\": 40, \"max_parallel\": 4,"
                           "  \"window_tokens\": 5000, \"max_requests\": 100, \"power_w\": 60,"
                           "  \"healthy\": false}]}",
                           &c, &d),
                     0);
    assert_true(c.window_ms == 30000);
    assert_string_equal(c.strategy, "weighted");
    assert_false(c.cloud.enabled);
    assert_near(c.cloud.input_per_mtok, 0.15);
    assert_near(c.cloud.output_per_mtok, 2);
    assert_int_equal(c.n_devices, 2);
    assert_true(c.devices[0].window_tokens == 240); /* 8 tok/s x 30 s x 1 slot */
    assert_int_equal(c.devices[0].max_parallel, 1);
    assert_true(c.devices[0].healthy);
    assert_true(c.devices[1].window_tokens == 5000);
    assert_int_equal(c.devices[1].max_requests, 100);
    assert_false(c.devices[1].healthy);

    size_t len = 0;
    char *text = elm_test_read_file(ELM_FIXTURES_DIR "/../../examples/cluster.json", &len);
    assert_non_null(text);
    assert_int_equal(elm_cluster_config_parse(text, len, "cluster.json", &c, &d), 0);
    assert_int_equal(c.n_devices, 3);
    free(text);

    expect_error("{\"devices\": [{\"name\": \"a\", \"tokens_per_s\": 1}, {\"name\": \"b\", "
                 "\"tokens_per_s\": 1}, {\"name\": \"c\", \"tokens_per_s\": 0}]}",
                 "cluster.json: devices[2].tokens_per_s must be > 0 (got 0)");
    expect_error("{\"devices\": [{\"name\": \"a\", \"tokens_per_sec\": 1}]}",
                 "devices[0].tokens_per_sec: unknown key (known: name, tokens_per_s");
    expect_error("{\"devices\": [{\"name\": \"a\"}]}", "devices[0] needs \"tokens_per_s\"");
    expect_error("{\"devices\": [{\"name\": \"a\", \"tokens_per_s\": 1, \"max_parallel\": 1.5}]}",
                 "devices[0].max_parallel must be a whole number");
    expect_error("{\"devices\": [{\"name\": \"a\", \"tokens_per_s\": 1},"
                 " {\"name\": \"a\", \"tokens_per_s\": 2}]}",
                 "devices[1].name 'a' is already used by devices[0]");
    expect_error("{\"devices\": []}", "devices must be an array of 1 to 64");
    expect_error("{\"strategy\": \"fastest\", \"devices\": []}",
                 "strategy 'fastest' is unknown (one of: random");
    expect_error("{\"cloud\": {\"input_per_mtok\": \"cheap\"}}",
                 "cloud.input_per_mtok must be a number");
    expect_error("{\"window_s\": -1}", "cluster.json: window_s must be >= 0.001");
    expect_error("{\n\"devices\": [\n{\"name\": \"a\",}\n]}", "cluster.json:3: not valid JSON");
    expect_error("[1, 2]", "top level must be an object");
}

/* ---- router additions: retries, fallback, learned speed, Retry-After ---- */

static void assert_totals(const elm_router_t *r)
{
    const elm_route_stats_t *s = elm_router_stats(r);
    assert_int_equal(s->requests, s->processed + s->redirected + s->rejected);
}

static void test_router_exclude(void **state)
{
    (void)state;
    elm_cluster_config_t c;
    cluster(&c, true);
    c.n_devices = 3;
    c.devices[2] = (elm_device_spec_t){"c", 30, 100000, 64, 0, 30, 0, true};
    c.devices[0].window_tokens = c.devices[1].window_tokens = 100000;
    c.devices[0].max_parallel = c.devices[1].max_parallel = 64;
    elm_rng_t rng;
    elm_rng_seed(&rng, 7);
    for (uint32_t k = 0; k < elm_route_strategy_count(); k++) {
        elm_router_t *r = router_over(&c, elm_route_strategy_at(k), k);
        uint64_t fresh = 0;
        for (int64_t t = 0; t < 300; t++) {
            elm_route_req_t req = {10, 20, elm_rng_below(&rng, 7)}; /* never all three */
            fresh += !req.exclude;
            elm_route_decision_t dec = elm_router_decide(r, t, &req);
            assert_int_equal(dec.kind, ELM_ROUTE_TO_DEVICE);
            assert_false(req.exclude >> dec.device & 1);
            assert_int_equal(elm_router_complete(r, t, &dec, 10, 20), 0);
        }
        /* Every healthy device excluded: the cloud, for reason "failed". */
        elm_route_req_t all = {10, 20, 7};
        elm_route_decision_t dec = elm_router_decide(r, 300, &all);
        assert_int_equal(dec.kind, ELM_ROUTE_TO_CLOUD);
        assert_int_equal(dec.reason, ELM_ROUTE_FAILED);
        assert_int_equal(dec.device, -1);
        /* ...also when the one left out of the mask is down. */
        elm_router_set_health(r, 2, false);
        all.exclude = 3;
        dec = elm_router_decide(r, 301, &all);
        assert_int_equal(dec.reason, ELM_ROUTE_FAILED);
        /* A retry is not a new request. */
        assert_int_equal(elm_router_stats(r)->requests, fresh);
        assert_int_equal(elm_router_stats(r)->by_reason[ELM_ROUTE_FAILED], 2);
        elm_router_free(r);
    }
}

static void test_router_fail_and_fallback(void **state)
{
    (void)state;
    elm_cluster_config_t c;
    cluster(&c, true);
    elm_router_t *r = router_over(&c, elm_route_strategy_find("load-aware"), 1);
    elm_route_req_t req = {100, 400, 0};
    elm_route_decision_t d1 = elm_router_decide(r, 0, &req);
    assert_int_equal(d1.kind, ELM_ROUTE_TO_DEVICE);
    uint32_t first = (uint32_t)d1.device;
    elm_limiter_t *l = elm_router_limiter(r, first);
    assert_true(elm_limiter_used(l, 0) == 500);
    assert_totals(r);
    /* It failed before serving: slot free, nothing left in the window, counted. */
    assert_int_equal(elm_router_fail(r, 5, &d1), 0);
    assert_true(elm_limiter_used(l, 5) == 0);
    assert_int_equal(l->in_flight, 0);
    assert_int_equal(elm_router_stats(r)->dev[first].failed, 1);
    assert_int_equal(elm_router_fail(r, 5, &d1), ELM_EINVAL); /* once only */
    /* Until its retry is decided the request is counted nowhere: the totals hold again after. */
    /* The retry goes to the other device and is served there. */
    req.exclude = 1ull << first;
    elm_route_decision_t d2 = elm_router_decide(r, 6, &req);
    assert_int_equal(d2.kind, ELM_ROUTE_TO_DEVICE);
    assert_int_equal(d2.device, 1 - (int)first);
    assert_totals(r);
    assert_int_equal(elm_router_fail(r, 7, &d2), 0);
    /* Both failed: the next retry falls back to the cloud. */
    req.exclude = 3;
    elm_route_decision_t d3 = elm_router_decide(r, 8, &req);
    assert_int_equal(d3.kind, ELM_ROUTE_TO_CLOUD);
    assert_int_equal(d3.reason, ELM_ROUTE_FAILED);
    assert_int_equal(elm_router_fail(r, 8, &d3), ELM_EINVAL); /* not a device decision */
    assert_int_equal(elm_router_complete(r, 9, &d3, 100, 300), 0);
    const elm_route_stats_t *s = elm_router_stats(r);
    assert_int_equal(s->requests, 1);
    assert_int_equal(s->processed, 0);
    assert_int_equal(s->redirected, 1);
    assert_int_equal(s->dev[0].failed + s->dev[1].failed, 2);
    assert_int_equal(s->dev[0].requests + s->dev[1].requests, 0);
    assert_int_equal(s->edge_tokens, 0);
    assert_int_equal(s->cloud_out_tokens, 300);
    for (uint32_t i = 0; i < 2; i++)
        assert_true(elm_limiter_used(elm_router_limiter(r, i), 9) == 0);
    /* A fresh request after all that is served, and the totals still add up. */
    req.exclude = 0;
    elm_route_decision_t d4 = elm_router_decide(r, 10, &req);
    assert_int_equal(d4.kind, ELM_ROUTE_TO_DEVICE);
    assert_int_equal(elm_router_complete(r, 11, &d4, 100, 50), 0);
    assert_totals(r);
    /* The gateway's own fallback (say every device answered 429) counts as decide does. */
    elm_route_decision_t f = elm_router_fallback(r, &req, ELM_ROUTE_FAILED);
    assert_int_equal(f.kind, ELM_ROUTE_TO_CLOUD);
    assert_int_equal(f.reason, ELM_ROUTE_FAILED);
    assert_true(f.reserved == 500);
    assert_int_equal(s->redirected, 2);
    assert_int_equal(s->by_reason[ELM_ROUTE_FAILED], 2);
    elm_router_free(r);

    /* Without a cloud, the fallback is a reject with its tokens counted. */
    cluster(&c, false);
    r = router_over(&c, NULL, 1);
    s = elm_router_stats(r);
    elm_route_decision_t e1 = elm_router_decide(r, 0, &req);
    assert_int_equal(elm_router_fail(r, 1, &e1), 0);
    req.exclude = 1ull << e1.device;
    elm_route_decision_t e2 = elm_router_decide(r, 2, &req);
    assert_int_equal(elm_router_fail(r, 3, &e2), 0);
    f = elm_router_fallback(r, &req, ELM_ROUTE_FAILED);
    assert_int_equal(f.kind, ELM_ROUTE_TO_REJECT);
    assert_int_equal(s->rejected, 1);
    assert_int_equal(s->redirected, 0);
    assert_true(s->rejected_tokens == 500);
    assert_totals(r);
    elm_router_free(r);
}

static void test_router_set_speed(void **state)
{
    (void)state;
    elm_cluster_config_t c;
    cluster(&c, true);
    elm_router_t *r = router_over(&c, NULL, 1);
    const double ignored[] = {0, -3, NAN, -INFINITY, INFINITY};
    for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
        elm_router_set_speed(r, 0, ignored[i]);
    assert_near(elm_router_device(r, 0)->tokens_per_s, 10);
    elm_router_set_speed(r, 0, 12.5);
    assert_near(elm_router_device(r, 0)->tokens_per_s, 12.5);
    elm_router_set_speed(r, 2, 99); /* no such device */
    assert_near(elm_router_device(r, 1)->tokens_per_s, 20);
    /* The learned speed is what busy time is accounted with. */
    elm_route_req_t req = {0, 25, 2};
    elm_route_decision_t dec = elm_router_decide(r, 0, &req);
    assert_int_equal(dec.device, 0);
    assert_int_equal(elm_router_complete(r, 1, &dec, 0, 25), 0);
    assert_near(elm_router_stats(r)->dev[0].busy_s, 2.0);
    elm_router_free(r);
}

/* elm_limiter_wait_ms against stepping a copy of the limiter forward 1 ms at a time until
 * elm_limiter_check admits (a copy: checking only moves its own head, never the shared log). */
static void test_limiter_wait_oracle(void **state)
{
    (void)state;
    enum { N = 400, OPEN = 64 };
    elm_rng_t rng;
    for (uint64_t round = 0; round < 25; round++) {
        elm_rng_seed(&rng, 1000 + round);
        uint64_t cap = 20 + elm_rng_below(&rng, 300);
        int64_t window = 50 + elm_rng_below(&rng, 1500);
        uint32_t log_cap = 2 + elm_rng_below(&rng, 20);
        elm_limiter_t l;
        assert_int_equal(elm_limiter_init(&l, cap, window, OPEN, log_cap), 0);
        uint64_t open[OPEN];
        uint32_t n_open = 0;
        int64_t now = elm_rng_below(&rng, 1000);
        for (int op = 0; op < N; op++) {
            uint32_t how = elm_rng_below(&rng, 8);
            if (how == 0)
                now += window - 1;
            else
                now += elm_rng_below(&rng, (uint32_t)window / 3 + 1);
            if (n_open && elm_rng_below(&rng, 3) == 0) {
                uint32_t k = elm_rng_below(&rng, n_open);
                uint64_t actual = elm_rng_below(&rng, (uint32_t)cap);
                assert_int_equal(elm_limiter_release(&l, now, open[k], actual), 0);
                open[k] = open[--n_open];
            } else {
                uint64_t seq;
                if (elm_limiter_admit(&l, now, 1 + elm_rng_below(&rng, (uint32_t)cap / 2), &seq) ==
                    ELM_ROUTE_OK)
                    open[n_open++] = seq;
            }
            if (n_open == OPEN) { /* keep a slot free: the oracle's check must see the window */
                assert_int_equal(elm_limiter_release(&l, now, open[0], 1), 0);
                open[0] = open[--n_open];
            }
            uint64_t tokens = 1 + elm_rng_below(&rng, (uint32_t)cap + 10);
            int64_t got = elm_limiter_wait_ms(&l, now, tokens), want = -1;
            for (int64_t w = 0; tokens <= cap && w <= window; w++) {
                elm_limiter_t probe = l;
                if (elm_limiter_check(&probe, now + w, tokens) == ELM_ROUTE_OK) {
                    want = w;
                    break;
                }
            }
            if (got != want)
                fail_msg("round %d op %d: wait_ms(%d tokens) = %lld, stepping says %lld",
                         (int)round, op, (int)tokens, (long long)got, (long long)want);
        }
        elm_limiter_free(&l);
    }
}

/* ---- the gateway's config keys ---- */

static void test_config_gateway(void **state)
{
    (void)state;
    elm_cluster_config_t c;
    elm_diag_t d;
    assert_int_equal(
        parse("{\"cloud\": {\"url\": \"http://127.0.0.1:9000/v1\", \"model\": \"gpt-4o-mini\","
              "  \"api_key_env\": \"OPENAI_API_KEY\"},"
              " \"gateway\": {\"model_id\": \"edge-1\", \"_why\": 0,"
              "  \"timeouts\": {\"connect_s\": 1.5, \"first_byte_s\": 20, \"idle_s\": 7,"
              "   \"total_s\": 300},"
              "  \"retries\": 0, \"health\": {\"interval_s\": 0, \"path\": \"/healthz\"},"
              "  \"breaker\": {\"failures\": 5, \"cooldown_s\": 2.5}, \"default_max_tokens\": 512,"
              "  \"keys_file\": \"/etc/edgelm/keys.json\", \"vocab\": \"model.gguf\","
              "  \"limits\": {\"redis\": \"redis://10.0.0.5:6380/3\", \"gateways\": 4,"
              "   \"on_redis_down\": \"closed\"}},"
              " \"devices\": [{\"name\": \"a\", \"tokens_per_s\": 10,"
              "  \"url\": \"http://[::1]:8081/v1/\", \"model\": \"llama\","
              "  \"api_key_env\": \"_DEV_A_KEY2\"}, {\"name\": \"b\", \"tokens_per_s\": 5}]}",
              &c, &d),
        0);
    assert_string_equal(c.cloud.url, "http://127.0.0.1:9000/v1");
    assert_string_equal(c.cloud.model, "gpt-4o-mini");
    assert_string_equal(c.cloud.api_key_env, "OPENAI_API_KEY");
    assert_string_equal(c.devices[0].url, "http://[::1]:8081/v1/");
    assert_string_equal(c.devices[0].model, "llama");
    assert_string_equal(c.devices[0].api_key_env, "_DEV_A_KEY2");
    assert_string_equal(c.devices[1].url, "");
    assert_string_equal(c.devices[1].api_key_env, "");
    const elm_gateway_spec_t *g = &c.gateway;
    assert_string_equal(g->model_id, "edge-1");
    assert_near(g->connect_timeout_s, 1.5);
    assert_near(g->first_byte_timeout_s, 20);
    assert_near(g->idle_timeout_s, 7);
    assert_near(g->total_timeout_s, 300);
    assert_int_equal(g->retries, 0);
    assert_near(g->health_interval_s, 0);
    assert_string_equal(g->health_path, "/healthz");
    assert_int_equal(g->breaker_failures, 5);
    assert_near(g->breaker_cooldown_s, 2.5);
    assert_int_equal(g->default_max_tokens, 512);
    assert_string_equal(g->keys_file, "/etc/edgelm/keys.json");
    assert_string_equal(g->vocab, "model.gguf");
    assert_string_equal(g->redis, "redis://10.0.0.5:6380/3");
    assert_int_equal(g->gateways, 4);
    assert_int_equal(g->on_redis_down, ELM_LIMITS_DOWN_CLOSED);

    /* Absent keys keep the defaults; a partial object changes only what it names. */
    elm_cluster_config_t def;
    elm_cluster_config_default(&def);
    assert_int_equal(parse("{\"gateway\": {\"timeouts\": {\"idle_s\": 3}, \"limits\": {}},"
                           " \"devices\": [{\"name\": \"a\", \"tokens_per_s\": 1}]}",
                           &c, &d),
                     0);
    def.gateway.idle_timeout_s = 3;
    assert_memory_equal(&c.gateway, &def.gateway, sizeof def.gateway);
    assert_memory_equal(&c.cloud, &def.cloud, sizeof def.cloud);
    elm_cluster_config_default(&def);
    assert_string_equal(def.gateway.model_id, "edge");
    assert_near(def.gateway.connect_timeout_s, 2);
    assert_near(def.gateway.first_byte_timeout_s, 60);
    assert_near(def.gateway.idle_timeout_s, 30);
    assert_near(def.gateway.total_timeout_s, 600);
    assert_int_equal(def.gateway.retries, 1);
    assert_near(def.gateway.health_interval_s, 5);
    assert_string_equal(def.gateway.health_path, "/health");
    assert_int_equal(def.gateway.breaker_failures, 3);
    assert_near(def.gateway.breaker_cooldown_s, 10);
    assert_int_equal(def.gateway.default_max_tokens, 256);
    assert_string_equal(def.gateway.keys_file, "");
    assert_string_equal(def.gateway.redis, "");
    assert_int_equal(def.gateway.gateways, 1);
    assert_int_equal(def.gateway.on_redis_down, ELM_LIMITS_DOWN_LOCAL);

    /* The simulate-only example parses to exactly what the old parser built: the defaults plus
     * its window, strategy, cloud prices and three devices, nothing of the gateway's. */
    size_t len = 0;
    char *text = elm_test_read_file(ELM_FIXTURES_DIR "/../../examples/cluster.json", &len);
    assert_non_null(text);
    assert_int_equal(elm_cluster_config_parse(text, len, "cluster.json", &c, &d), 0);
    free(text);
    elm_cluster_config_default(&def);
    static const char *const names[] = {"raspberry-pi-5", "laptop-cpu", "jetson-orin-nano"};
    const double tps[] = {8, 15, 25}, watts[] = {8, 35, 15};
    const uint32_t slots[] = {1, 1, 2};
    def.n_devices = 3;
    for (int i = 0; i < 3; i++) {
        elm_device_spec_t *s = &def.devices[i];
        snprintf(s->name, sizeof s->name, "%s", names[i]);
        s->tokens_per_s = tps[i];
        s->max_parallel = slots[i];
        s->window_tokens = (uint64_t)(tps[i] * 60 * slots[i]);
        s->power_w = watts[i];
        s->healthy = true;
    }
    assert_memory_equal(&c, &def, sizeof c);

    /* examples/gateway.json: three loopback devices and a cloud, and simulate's router takes it. */
    text = elm_test_read_file(ELM_FIXTURES_DIR "/../../examples/gateway.json", &len);
    assert_non_null(text);
    assert_int_equal(elm_cluster_config_parse(text, len, "gateway.json", &c, &d), 0);
    free(text);
    assert_int_equal(c.n_devices, 3);
    for (int i = 0; i < 3; i++) {
        char want[64];
        snprintf(want, sizeof want, "http://127.0.0.1:%d/v1", 8081 + i);
        assert_string_equal(c.devices[i].url, want);
    }
    assert_true(c.cloud.enabled);
    assert_string_equal(c.cloud.api_key_env, "OPENAI_API_KEY");
    elm_router_free(router_over(&c, NULL, 1));
}

/* One device with extra keys, a cloud object and a gateway object spliced in. */
static void expect_gateway_error(const char *device_extra, const char *cloud, const char *gateway,
                                 const char *msg)
{
    char json[2048];
    snprintf(json, sizeof json,
             "{\"cloud\": {%s}, \"gateway\": %s, \"devices\": [{\"name\": \"a\", "
             "\"tokens_per_s\": 1%s%s}]}",
             cloud, gateway, device_extra[0] ? ", " : "", device_extra);
    expect_error(json, msg);
}

static void test_config_gateway_errors(void **state)
{
    (void)state;
    /* Upstream URLs, models and key variables, on a device and on the cloud. */
    expect_gateway_error("\"url\": \"https://10.0.0.2:8080/v1\"", "", "{}",
                         "cluster.json: devices[0].url https is not supported by the gateway; put "
                         "a TLS terminator in front of the device, or use http on a trusted "
                         "network");
    expect_gateway_error("", "\"url\": \"https://api.openai.com/v1\"", "{}",
                         "cluster.json: cloud.url https is not supported by the gateway");
    expect_gateway_error("\"url\": \"ftp://h/v1\"", "", "{}",
                         "devices[0].url must be an OpenAI-compatible base URL such as "
                         "http://HOST:PORT/v1 (expected http://HOST:PORT[/path])");
    expect_gateway_error("\"url\": \"http://h:99999/v1\"", "", "{}",
                         "devices[0].url must be an OpenAI-compatible base URL such as "
                         "http://HOST:PORT/v1 (the port must be 1..65535)");
    expect_gateway_error("", "\"url\": \"http://h:80/v1/chat/completions\"", "{}",
                         "cloud.url must be the base URL");
    expect_gateway_error("\"url\": 8080", "", "{}", "devices[0].url must be a string");
    expect_gateway_error("\"url\": \"\"", "", "{}", "devices[0].url must be 1 to 255 characters");
    expect_gateway_error("\"model\": \"0123456789012345678901234567890123456789012345678901234567"
                         "890123\"",
                         "", "{}", "devices[0].model must be 1 to 63 characters");
    expect_gateway_error("", "\"model\": [1]", "{}", "cloud.model must be a string");
    expect_gateway_error("\"mdoel\": \"x\"", "", "{}",
                         "devices[0].mdoel: unknown key (known: name, tokens_per_s");
    static const char *const pasted[] = {"sk-proj-abcdefgh12345678", "1ABC", "MY KEY", "",
                                         "A234567890123456789012345678901234567890123456789012345"
                                         "678901234"};
    for (size_t i = 0; i < sizeof pasted / sizeof pasted[0]; i++) {
        char extra[160];
        snprintf(extra, sizeof extra, "\"api_key_env\": \"%s\"", pasted[i]);
        expect_gateway_error(extra, "", "{}",
                             "devices[0].api_key_env must name the environment variable that "
                             "holds the key");
        expect_gateway_error("", extra, "{}", "cloud.api_key_env must name the environment");
        elm_cluster_config_t c;
        elm_diag_t d;
        char json[512];
        snprintf(json, sizeof json, "{\"cloud\": {%s}, \"devices\": []}", extra);
        assert_int_equal(parse(json, &c, &d), ELM_EINVAL);
        if (pasted[i][0] && strstr(d.msg, pasted[i])) fail_msg("'%s' shows the key", d.msg);
    }
    /* The gateway object, key by key. */
    static const char *const cases[][2] = {
        {"[]", "cluster.json: gateway must be an object"},
        {"{\"model\": \"x\"}", "gateway.model: unknown key (known: model_id, timeouts, retries"},
        {"{\"model_id\": 3}", "gateway.model_id must be a string"},
        {"{\"timeouts\": 5}", "gateway.timeouts must be an object"},
        {"{\"timeouts\": {\"connect_s\": 0}}", "gateway.timeouts.connect_s must be > 0 (got 0)"},
        {"{\"timeouts\": {\"first_byte_s\": \"1\"}}",
         "gateway.timeouts.first_byte_s must be a number"},
        {"{\"timeouts\": {\"idle_s\": -2}}", "gateway.timeouts.idle_s must be > 0 (got -2)"},
        {"{\"timeouts\": {\"total_s\": 86401}}",
         "gateway.timeouts.total_s must be at most 86400 (got 86401)"},
        {"{\"timeouts\": {\"idle\": 1}}",
         "gateway.timeouts.idle: unknown key (known: connect_s, first_byte_s, idle_s, total_s"},
        {"{\"retries\": 17}", "gateway.retries must be at most 16 (got 17)"},
        {"{\"retries\": -1}", "gateway.retries must be >= 0 (got -1)"},
        {"{\"retries\": 1.5}", "gateway.retries must be a whole number"},
        {"{\"health\": {\"interval_s\": -1}}", "gateway.health.interval_s must be >= 0 (got -1)"},
        {"{\"health\": {\"path\": \"health\"}}", "gateway.health.path must start with '/'"},
        {"{\"health\": {\"path\": \"/he alth\"}}", "gateway.health.path must start with '/'"},
        {"{\"health\": {\"url\": \"/x\"}}", "gateway.health.url: unknown key (known: interval_s"},
        {"{\"breaker\": {\"failures\": 0}}", "gateway.breaker.failures must be >= 1 (got 0)"},
        {"{\"breaker\": {\"failures\": 1001}}",
         "gateway.breaker.failures must be at most 1000 (got 1001)"},
        {"{\"breaker\": {\"cooldown_s\": 0}}", "gateway.breaker.cooldown_s must be > 0 (got 0)"},
        {"{\"default_max_tokens\": 0}", "gateway.default_max_tokens must be >= 1 (got 0)"},
        {"{\"default_max_tokens\": 1000001}",
         "gateway.default_max_tokens must be at most 1000000 (got 1000001)"},
        {"{\"keys_file\": \"\"}", "gateway.keys_file must be 1 to 1023 characters"},
        {"{\"vocab\": true}", "gateway.vocab must be a string"},
        {"{\"limits\": []}", "gateway.limits must be an object"},
        {"{\"limits\": {\"gateways\": 0}}", "gateway.limits.gateways must be >= 1 (got 0)"},
        {"{\"limits\": {\"gateways\": 65}}", "gateway.limits.gateways must be at most 64 (got 65)"},
        {"{\"limits\": {\"on_redis_down\": \"open\"}}",
         "gateway.limits.on_redis_down must be \"local\" (each gateway limits alone with "
         "1/gateways of every capacity) or \"closed\""},
        {"{\"limits\": {\"on_redis_down\": 1}}", "gateway.limits.on_redis_down must be a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_gateway_error("", "", cases[i][0], cases[i][1]);
    static const char *const redis[] = {"http://h:6379",  "redis://",       "redis://h:",
                                        "redis://h:0",    "redis://h:65536", "redis://h/16",
                                        "redis://h/1/2",  "redis://:hunter2@h", "redis://[::1",
                                        "rediss://h",     "redis://h:6379x", "redis://h h"};
    for (size_t i = 0; i < sizeof redis / sizeof redis[0]; i++) {
        char gw[128];
        snprintf(gw, sizeof gw, "{\"limits\": {\"redis\": \"%s\"}}", redis[i]);
        expect_gateway_error("", "", gw,
                             "gateway.limits.redis must be redis://HOST[:PORT][/DB] (PORT "
                             "1-65535, 6379 when absent; DB 0-15, 0 when absent; no user or "
                             "password)");
    }
    elm_cluster_config_t c;
    elm_diag_t d;
    assert_int_equal(
        parse("{\"gateway\": {\"limits\": {\"redis\": \"redis://:hunter2@h\"}}, \"devices\": []}",
              &c, &d),
        ELM_EINVAL);
    assert_null(strstr(d.msg, "hunter2"));
}

static void test_redis_url(void **state)
{
    (void)state;
    elm_route_redis_url_t u;
    assert_int_equal(elm_route_redis_url_parse("redis://127.0.0.1", &u), 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
    assert_int_equal(elm_route_redis_url_parse("redis://cache.local:6380/15", &u), 0);
    assert_string_equal(u.host, "cache.local");
    assert_int_equal(u.port, 6380);
    assert_int_equal(u.db, 15);
    assert_int_equal(elm_route_redis_url_parse("redis://[::1]:7000/2", &u), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 7000);
    assert_int_equal(u.db, 2);
    assert_int_equal(elm_route_redis_url_parse("redis://h/", &u), 0);
    assert_int_equal(u.db, 0);
    assert_int_equal(elm_route_redis_url_parse("redis://h:65535", &u), 0);
    assert_int_equal(u.port, 65535);
    assert_int_equal(elm_route_redis_url_parse("redis://h:1/0", &u), 0);
    assert_int_equal(u.port, 1);
    assert_int_equal(elm_route_redis_url_parse("redis://u:p@h:1", &u), ELM_EINVAL);
    assert_string_equal(u.host, ""); /* zeroed on failure */
    assert_int_equal(u.port, 0);
    assert_int_equal(elm_route_redis_url_parse("redis://[]:1", &u), ELM_EINVAL);
    assert_int_equal(elm_route_redis_url_parse("redis://h:000006379", &u), ELM_EINVAL);
}

/* ---- client keys ---- */

static const char *const secret = "SECRETVALUE-xyz-123";

static void expect_keys_error(const char *json, const char *msg)
{
    elm_route_keys_t k = {99, (elm_route_key_t *)&k};
    elm_diag_t d;
    assert_int_equal(elm_route_keys_parse(json, strlen(json), "keys.json", &k, &d), ELM_EINVAL);
    if (!strstr(d.msg, msg)) fail_msg("'%s' lacks '%s'", d.msg, msg);
    if (strstr(d.msg, "SECRET") || strstr(d.msg, "hunter2")) fail_msg("'%s' shows a key", d.msg);
    assert_int_equal(k.n, 0);
    assert_null(k.keys);
}

static void test_keys(void **state)
{
    (void)state;
    elm_route_keys_t k;
    elm_diag_t d;
    static const char good[] =
        "{\"_note\": 1, \"keys\": [{\"name\": \"alice\", \"key\": \"SECRETVALUE-xyz-123\","
        " \"window_tokens\": 20000, \"max_parallel\": 4},"
        " {\"name\": \"bob\", \"key\": \"hunter2-hunter2\", \"_team\": \"x\"}]}";
    assert_int_equal(elm_route_keys_parse(good, strlen(good), "keys.json", &k, &d), 0);
    assert_int_equal(k.n, 2);
    assert_string_equal(k.keys[0].name, "alice");
    assert_string_equal(k.keys[0].key, secret);
    assert_true(k.keys[0].window_tokens == 20000);
    assert_int_equal(k.keys[0].max_parallel, 4);
    assert_true(k.keys[1].window_tokens == 0); /* no limits unless given */
    assert_int_equal(k.keys[1].max_parallel, 0);
    assert_ptr_equal(elm_route_keys_find(&k, secret), &k.keys[0]);
    assert_ptr_equal(elm_route_keys_find(&k, "hunter2-hunter2"), &k.keys[1]);
    assert_null(elm_route_keys_find(&k, "hunter2-hunter"));
    assert_null(elm_route_keys_find(&k, "hunter2-hunter22"));
    assert_null(elm_route_keys_find(&k, "SECRETVALUE-xyz-124"));
    assert_null(elm_route_keys_find(&k, ""));
    assert_null(elm_route_keys_find(&k, NULL));
    assert_null(elm_route_keys_find(NULL, secret));
    char longer[300];
    memset(longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = 0;
    assert_null(elm_route_keys_find(&k, longer));
    elm_route_keys_free(&k);
    assert_int_equal(k.n, 0);
    assert_null(k.keys);
    elm_route_keys_free(&k);
    elm_route_keys_free(NULL);

    /* Every error names the file and the key path, and none shows a key. */
    expect_keys_error("{\"keys\": [{\"name\": \"a\", \"key\": \"SECRET1\"}]}",
                      "keys.json: keys[0].key must be 8 to 127 printable ASCII characters without "
                      "spaces (value not shown)");
    expect_keys_error("{\"keys\": [{\"name\": \"a\", \"key\": \"hunter2-x\"},"
                      " {\"name\": \"b\", \"key\": \"SECRET VALUE-xyz\"}]}",
                      "keys.json: keys[1].key must be 8 to 127");
    expect_keys_error("{\"keys\": [{\"name\": \"a\", \"key\": \"SECRET\\u00e9VALUE\"}]}",
                      "keys[0].key must be 8 to 127");
    char big[512];
    snprintf(big, sizeof big, "{\"keys\": [{\"name\": \"a\", \"key\": \"SECRET%0122d\"}]}", 0);
    expect_keys_error(big, "keys[0].key must be 8 to 127");
    snprintf(big, sizeof big, "{\"keys\": [{\"name\": \"a\", \"key\": \"SECRET%0121d\"}]}", 0);
    assert_int_equal(elm_route_keys_parse(big, strlen(big), "keys.json", &k, &d), 0);
    assert_int_equal(strlen(k.keys[0].key), 127);
    assert_ptr_equal(elm_route_keys_find(&k, k.keys[0].key), &k.keys[0]);
    elm_route_keys_free(&k);
    expect_keys_error("{\"keys\": [{\"name\": \"a\", \"key\": \"SECRETVALUE-xyz-123\"},"
                      " {\"name\": \"b\", \"key\": \"SECRETVALUE-xyz-123\"}]}",
                      "keys.json: keys[1].key is the same as keys[0].key (keys must be unique; "
                      "value not shown)");
    expect_keys_error("{\"keys\": [{\"name\": \"a\", \"key\": \"SECRETVALUE-1\"},"
                      " {\"name\": \"a\", \"key\": \"SECRETVALUE-2\"}]}",
                      "keys.json: keys[1].name 'a' is already used by keys[0]");
    expect_keys_error("{\"keys\": [{\"name\": \"a\", \"key\": \"hunter2-x\", "
                      "\"SECRETVALUE-xyz-123\": 1}]}",
                      "keys.json: keys[0] has an unknown key (not shown: it could be a pasted "
                      "key; known: name, key, window_tokens, max_parallel)");
    expect_keys_error("{\"SECRETVALUE\": 1, \"keys\": []}",
                      "keys.json: the top level has an unknown key");
    expect_keys_error("{\"keys\": [{\"key\": \"SECRETVALUE-1\"}]}", "keys[0] needs \"name\"");
    expect_keys_error("{\"keys\": [{\"name\": \"a\"}]}", "keys[0] needs \"key\"");
    expect_keys_error("{\"keys\": [{\"name\": \"a\", \"key\": 12345678}]}",
                      "keys[0].key must be a string");
    expect_keys_error("{\"keys\": [{\"name\": \"\", \"key\": \"SECRETVALUE\"}]}",
                      "keys[0].name must be 1 to 63 characters");
    expect_keys_error("{\"keys\": [{\"name\": \"a\", \"key\": \"SECRETVALUE\", "
                      "\"window_tokens\": -1}]}",
                      "keys[0].window_tokens must be >= 0 (got -1)");
    expect_keys_error("{\"keys\": [{\"name\": \"a\", \"key\": \"SECRETVALUE\", "
                      "\"max_parallel\": 1.5}]}",
                      "keys[0].max_parallel must be a whole number");
    expect_keys_error("{\"keys\": [\"SECRETVALUE-xyz\"]}", "keys[0] must be an object");
    expect_keys_error("{\"keys\": []}", "keys.json: keys must be an array of 1 to 4096 key objects");
    expect_keys_error("{\"keys\": {}}", "keys must be an array of 1 to 4096");
    expect_keys_error("[\"SECRETVALUE\"]",
                      "keys.json: the top level must be an object with a \"keys\" array");
    expect_keys_error("{\n\"keys\": [{\"name\": \"a\", \"key\": \"SECRETVALUE\",}]}",
                      "keys.json:2: not valid JSON");

    /* 4096 keys parse (each found), 4097 do not. */
    enum { MAX = ELM_ROUTE_MAX_KEYS + 1 };
    size_t cap = (size_t)MAX * 64 + 64, used = 0;
    char *json = malloc(cap);
    assert_non_null(json);
    used += (size_t)snprintf(json + used, cap - used, "{\"keys\": [");
    for (int i = 0; i < MAX; i++)
        used += (size_t)snprintf(json + used, cap - used,
                                 "%s{\"name\": \"n%d\", \"key\": \"key-%08d\"}", i ? "," : "", i,
                                 i);
    used += (size_t)snprintf(json + used, cap - used, "]}");
    expect_keys_error(json, "keys must be an array of 1 to 4096");
    char *last = strstr(json, ",{\"name\": \"n4096\"");
    assert_non_null(last);
    snprintf(last, cap - (size_t)(last - json), "]}");
    assert_int_equal(elm_route_keys_parse(json, strlen(json), "keys.json", &k, &d), 0);
    assert_int_equal(k.n, ELM_ROUTE_MAX_KEYS);
    assert_ptr_equal(elm_route_keys_find(&k, "key-00004095"), &k.keys[4095]);
    assert_string_equal(elm_route_keys_find(&k, "key-00000007")->name, "n7");
    elm_route_keys_free(&k);
    free(json);
}

/* A charge holds tokens in the window without a slot, even past the capacity, and leaves with
 * the window like any entry; a full log takes none. */
static void test_limiter_charge(void **state)
{
    (void)state;
    elm_limiter_t l;
    uint64_t seq;
    assert_int_equal(elm_limiter_init(&l, 100, 1000, 1, 3), 0);
    elm_limiter_charge(&l, 0, 150);
    assert_int_equal(elm_limiter_used(&l, 0), 150);
    assert_int_equal(l.in_flight, 0);
    assert_int_equal(elm_limiter_check(&l, 10, 1), ELM_ROUTE_WINDOW_FULL);
    assert_int_equal(elm_limiter_wait_ms(&l, 10, 10), 990);
    assert_int_equal(elm_limiter_admit(&l, 1000, 40, &seq), ELM_ROUTE_OK); /* the charge left */
    elm_limiter_charge(&l, 1000, 30);
    elm_limiter_charge(&l, 1000, 30); /* the log's third entry */
    elm_limiter_charge(&l, 1000, 30); /* full log: not taken */
    assert_int_equal(elm_limiter_used(&l, 1000), 100);
    assert_int_equal(elm_limiter_release(&l, 1001, seq, 10), 0);
    assert_int_equal(elm_limiter_used(&l, 1001), 70);
    elm_limiter_free(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limiter_oracle),
        cmocka_unit_test(test_limiter_window_edge),
        cmocka_unit_test(test_limiter_reconcile_and_slots),
        cmocka_unit_test(test_strategies),
        cmocka_unit_test(test_router_decisions),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_router_exclude),
        cmocka_unit_test(test_router_fail_and_fallback),
        cmocka_unit_test(test_router_set_speed),
        cmocka_unit_test(test_limiter_wait_oracle),
        cmocka_unit_test(test_limiter_charge),
        cmocka_unit_test(test_config_gateway),
        cmocka_unit_test(test_config_gateway_errors),
        cmocka_unit_test(test_redis_url),
        cmocka_unit_test(test_keys),
    };
    return cmocka_run_group_tests_name("route", tests, NULL, NULL);
}
