/* route/: the limiter against a brute-force oracle and at its window edges, reconciliation, every
 * strategy on hand-made states, the router's decisions and accounting, and the config parser. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

static void test_router_decisions(void **state)
{
    (void)state;
    elm_cluster_config_t c;
    elm_router_t *r;
    elm_diag_t d;
    cluster(&c, true);
    assert_int_equal(elm_router_create(&c, elm_route_strategy_find("load-aware"), 1, &r, &d), 0);
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
    assert_int_equal(elm_router_create(&c, elm_route_strategy_find("random"), 1, &r, &d), 0);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limiter_oracle),
        cmocka_unit_test(test_limiter_window_edge),
        cmocka_unit_test(test_limiter_reconcile_and_slots),
        cmocka_unit_test(test_strategies),
        cmocka_unit_test(test_router_decisions),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests_name("route", tests, NULL, NULL);
}
