/* `edgelm bench --target`: the distribution over requests, arrivals, SHA-256 against FIPS 180-2
 * vectors and its cache, and whole runs against tests/fake_openai.c started on 127.0.0.1: counts, delays
 * as lower bounds (never upper ones: no assertion depends on machine speed), named errors and the
 * concurrency limit as the server saw it. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "edgelm/bench.h"
#include "testutil.h"

/* ---- distributions and arrivals ---- */

/* The distribution over requests: sorted in place, mean and p50/p90/p99 (the percentile itself is
 * tested in test_base). */
static void test_dist(void **state)
{
    (void)state;
    double u[] = {9, 1, 5, 3, 7, 2, 8, 4, 6, 10};
    elm_dist_t dd;
    elm_bench_dist(u, 10, NULL, &dd);
    assert_true(dd.valid);
    assert_int_equal(dd.n, 10);
    assert_float_equal(dd.mean, 5.5, 1e-12);
    assert_float_equal(dd.p50, 5.5, 1e-12);
    assert_float_equal(dd.p90, 9.1, 1e-12);
    assert_float_equal(dd.p99, 9.91, 1e-12);
    elm_bench_dist(u, 0, "nothing completed", &dd);
    assert_false(dd.valid);
    assert_string_equal(dd.why, "nothing completed");
}

static void test_arrival(void **state)
{
    (void)state;
    elm_arrival_t a;
    elm_diag_t d;
    char name[64];
    assert_int_equal(elm_arrival_parse("closed", &a, &d), 0);
    assert_int_equal(a.kind, ELM_ARRIVAL_CLOSED);
    assert_int_equal(elm_arrival_parse("poisson:2.5", &a, &d), 0);
    assert_int_equal(a.kind, ELM_ARRIVAL_POISSON);
    assert_float_equal(a.rate, 2.5, 0);
    assert_int_equal(elm_arrival_parse("bursty:4/2", &a, &d), 0);
    assert_int_equal(a.burst, 4);
    assert_float_equal(a.period_s, 2, 0);
    elm_arrival_name(&a, name, sizeof name);
    assert_string_equal(name, "bursty:4/2s");
    assert_int_equal(elm_arrival_parse("bursty:3:0.5s", &a, &d), 0);
    assert_float_equal(a.period_s, 0.5, 0);
    static const char *const bad[] = {"open", "poisson:", "poisson:0", "poisson:-1",
                                      "bursty:4", "bursty:0/1", "bursty:2/0", "bursty:2/x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(elm_arrival_parse(bad[i], &a, &d), ELM_EINVAL);
        assert_non_null(strstr(d.msg, "poisson:RATE"));
    }

    /* bursty: B at once every S seconds */
    double t[2000];
    elm_arrival_parse("bursty:3/0.5", &a, &d);
    elm_arrival_schedule(&a, 1, 7, t);
    const double want[] = {0, 0, 0, 0.5, 0.5, 0.5, 1.0};
    for (int i = 0; i < 7; i++) assert_float_equal(t[i], want[i], 1e-12);
    /* poisson: seeded, non-decreasing, mean gap 1/rate (2000 gaps: within 10%) */
    elm_arrival_parse("poisson:4", &a, &d);
    elm_arrival_schedule(&a, 7, 2000, t);
    double t2[2000];
    elm_arrival_schedule(&a, 7, 2000, t2);
    assert_memory_equal(t, t2, sizeof t);
    assert_float_equal(t[0], 0, 0);
    for (int i = 1; i < 2000; i++) assert_true(t[i] >= t[i - 1]);
    double mean_gap = t[1999] / 1999;
    assert_true(mean_gap > 0.25 * 0.9 && mean_gap < 0.25 * 1.1);
    elm_arrival_schedule(&a, 8, 2000, t2);
    assert_true(t2[10] != t[10]);
}

/* ---- SHA-256 ---- */

static void hex(const uint8_t *dig, char *out)
{
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", dig[i]);
}

static void test_sha256(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    uint8_t dig[32];
    char h[65];
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        elm_sha256(v[i].in, strlen(v[i].in), dig);
        hex(dig, h);
        assert_string_equal(h, v[i].want);
    }
    char *a = malloc(1000000);
    assert_non_null(a);
    memset(a, 'a', 1000000);
    elm_sha256(a, 1000000, dig);
    hex(dig, h);
    assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

    /* a file, then the cache: reused while size and mtime match, recomputed after a change */
    char dir[] = "/tmp/elm-sha-XXXXXX", path[64], cache[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/m.bin", dir);
    snprintf(cache, sizeof cache, "%s/cache", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(a, 1, 1000000, f);
    fclose(f);
    bool cached = true;
    elm_diag_t d;
    assert_int_equal(elm_sha256_file(path, cache, h, &cached, &d), 0);
    assert_false(cached);
    assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    assert_int_equal(elm_sha256_file(path, cache, h, &cached, &d), 0);
    assert_true(cached);
    f = fopen(path, "wb");
    fwrite("abc", 1, 3, f);
    fclose(f);
    assert_int_equal(elm_sha256_file(path, cache, h, &cached, &d), 0);
    assert_false(cached);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(elm_sha256_file("/nonexistent/m.gguf", cache, h, &cached, &d), ELM_ENOENT);
    assert_non_null(strstr(d.msg, "/nonexistent/m.gguf"));
    free(a);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* ---- against the fake server ---- */

typedef struct {
    pid_t pid;
    int port;
} fake_t;

/* Start tests/fake_openai with args (NULL-terminated); false (and a skip message) when the
 * helper is not built or does not start. */
static bool fake_start(fake_t *f, const char *const *args)
{
    char bin[1024];
    snprintf(bin, sizeof bin, "%s/fake_openai", ELM_BUILD_DIR);
    if (access(bin, X_OK)) {
        fprintf(stderr, "SKIPPED: %s is not built\n", bin);
        return false;
    }
    int p[2];
    assert_int_equal(pipe(p), 0);
    const char *argv[24] = {bin};
    int n = 1;
    for (; args[n - 1] && n < 23; n++) argv[n] = args[n - 1];
    argv[n] = NULL;
    f->pid = fork();
    assert_true(f->pid >= 0);
    if (f->pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    char line[32] = "";
    ssize_t got = read(p[0], line, sizeof line - 1);
    close(p[0]);
    f->port = got > 0 ? atoi(line) : 0;
    if (f->port <= 0) {
        kill(f->pid, SIGTERM);
        waitpid(f->pid, NULL, 0);
        return false;
    }
    return true;
}

static void fake_stop(fake_t *f)
{
    kill(f->pid, SIGTERM);
    waitpid(f->pid, NULL, 0);
}

/* GET /stats: the most requests the server had in flight at once. */
static int fake_max_concurrent(const fake_t *f)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(s, (struct sockaddr *)&a, sizeof a), 0);
    const char req[] = "GET /stats HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(send(s, req, sizeof req - 1, 0), (ssize_t)(sizeof req - 1));
    char buf[512];
    size_t n = 0;
    ssize_t r;
    while (n + 1 < sizeof buf && (r = recv(s, buf + n, sizeof buf - 1 - n, 0)) > 0) n += (size_t)r;
    buf[n] = '\0';
    close(s);
    const char *m = strstr(buf, "\"max_concurrent\":");
    assert_non_null(m);
    return atoi(m + 17);
}

static elm_bench_t *harness(double watts)
{
    static elm_probe_ctx_t ctx = {.sysfs_root = "/nonexistent-root"};
    ctx.watts = watts;
    elm_bench_opts_t o = elm_bench_default_opts();
    o.probe = &ctx;
    if (watts > 0) {
        o.power_auto = false;
        o.power_kind = ELM_POWER_CONSTANT;
    }
    elm_bench_t *b;
    elm_diag_t d;
    if (elm_bench_create(&o, &b, &d)) fail_msg("bench create: %s", d.msg);
    return b;
}

static void target(elm_bench_t *b, const fake_t *f, const char *host, uint32_t conc,
                   uint32_t n, double timeout_s, elm_record_t *rec)
{
    char url[128];
    snprintf(url, sizeof url, "http://%s:%d", host, f->port);
    elm_target_opts_t t = {.url = url, .model = "fake", .max_tokens = 100, .concurrency = conc,
                           .n_requests = n, .seed = 1, .timeout_s = timeout_s};
    elm_diag_t d;
    int rc = elm_bench_target(b, &t, rec, &d);
    if (rc) fail_msg("target: %s", d.msg);
    assert_true(rec->is_target);
    assert_int_equal(rec->target.n_requests, n);
    assert_int_equal(rec->target.n_ok + rec->target.n_errors, n);
}

static void test_target_stream(void **state)
{
    (void)state;
    fake_t f;
    static elm_record_t r;
    const char *const a[] = {"--tokens", "6", "--first-ms", "120", "--delay-ms", "30", NULL};
    if (!fake_start(&f, a)) return;
    elm_bench_t *b = harness(5);
    target(b, &f, "127.0.0.1", 1, 3, 30, &r);
    assert_int_equal(r.target.n_ok, 3);
    assert_int_equal(r.target.tokens, 18);
    assert_string_equal(r.target.token_source, "usage.completion_tokens");
    assert_string_equal(r.target.errors, "");
    /* delays are lower bounds: the server sleeps that long before each chunk */
    assert_int_equal(r.target.ttft_ms.n, 3);
    assert_true(r.target.ttft_ms.p50 >= 120 * 0.95);
    assert_int_equal(r.target.itl_ms.n, 15);
    assert_true(r.target.itl_ms.p50 >= 30 * 0.9);
    assert_true(r.target.itl_ms.p50 <= r.target.itl_ms.p90 && r.target.itl_ms.p90 <= r.target.itl_ms.p99);
    assert_true(r.target.e2e_ms.p50 >= 120 + 5 * 30 * 0.9);
    assert_true(r.target.tps.valid && r.target.tps.p50 > 0 && r.target.tps.p50 <= 1000.0 / 27);
    assert_true(r.ttft_ms.valid);
    assert_float_equal(r.ttft_ms.mean, r.target.ttft_ms.mean, 1e-9);
    /* 5 W over the window: J per request = 5 x window / requests */
    assert_true(r.target.energy_per_req_j.valid);
    assert_float_equal(r.target.energy_per_req_j.mean, r.energy_j.mean / 3, 1e-9);
    assert_true(r.energy_j.mean > 5 * r.target.window_s * 0.8);
    fake_stop(&f);

    /* Content-Length body and no usage object: tokens from the content chunks */
    const char *const b2[] = {"--tokens", "4", "--length", "--no-usage", NULL};
    if (!fake_start(&f, b2)) return;
    target(b, &f, "127.0.0.1", 2, 4, 30, &r);
    assert_int_equal(r.target.n_ok, 4);
    assert_int_equal(r.target.tokens, 16);
    assert_string_equal(r.target.token_source, "content chunks (no usage object)");
    fake_stop(&f);

    /* several tokens per chunk: usage counts them all and says it differs */
    const char *const c[] = {"--tokens", "3", "--per-chunk", "2", NULL};
    if (!fake_start(&f, c)) return;
    target(b, &f, "127.0.0.1", 1, 2, 30, &r);
    assert_int_equal(r.target.tokens, 12);
    assert_non_null(strstr(r.target.token_source, "several tokens per chunk"));
    fake_stop(&f);

    /* IPv6 loopback, when this machine has one */
    const char *const v6[] = {"--tokens", "2", "--ipv6", NULL};
    if (fake_start(&f, v6)) {
        target(b, &f, "[::1]", 1, 1, 30, &r);
        assert_int_equal(r.target.n_ok, 1);
        fake_stop(&f);
    } else {
        fprintf(stderr, "SKIPPED: IPv6 part: no ::1 here\n");
    }
    elm_bench_free(b);
}

static void test_target_errors(void **state)
{
    (void)state;
    fake_t f;
    static elm_record_t r;
    elm_bench_t *b = harness(0);
    const char *const a[] = {"--status", "500", NULL};
    if (!fake_start(&f, a)) return;
    target(b, &f, "127.0.0.1", 2, 3, 30, &r);
    assert_int_equal(r.target.n_errors, 3);
    assert_string_equal(r.target.errors, "3 x HTTP 500 Fake Error: fake failure 500");
    assert_false(r.target.ttft_ms.valid);
    assert_string_equal(r.target.ttft_ms.why, "no request completed");
    assert_false(r.energy_j.valid);
    assert_non_null(strstr(r.energy_j.why, "no power sensor"));
    fake_stop(&f);

    const char *const m[] = {"--tokens", "5", "--malformed", NULL};
    if (!fake_start(&f, m)) return;
    target(b, &f, "127.0.0.1", 1, 1, 30, &r);
    assert_int_equal(r.target.n_errors, 1);
    assert_non_null(strstr(r.target.errors, "malformed SSE event"));
    fake_stop(&f);

    const char *const s[] = {"--tokens", "5", "--stall", NULL};
    if (!fake_start(&f, s)) return;
    target(b, &f, "127.0.0.1", 1, 1, 0.4, &r);
    assert_int_equal(r.target.n_errors, 1);
    assert_non_null(strstr(r.target.errors, "timed out after 0.4 s (--timeout)"));
    assert_non_null(strstr(r.target.errors, "1 content chunks received"));
    fake_stop(&f);

    /* nobody listens on the stopped server's port any more */
    target(b, &f, "127.0.0.1", 1, 2, 30, &r);
    char want[128];
    snprintf(want, sizeof want, "2 x connection refused by 127.0.0.1:%d", f.port);
    if (!strstr(r.target.errors, want)) fail_msg("'%s' lacks '%s'", r.target.errors, want);

    /* a host that does not resolve is an error of the call */
    elm_target_opts_t t = {.url = "http://no-such-host.invalid:1", .model = "m", .max_tokens = 1,
                           .concurrency = 1, .n_requests = 1, .timeout_s = 1};
    elm_diag_t d;
    assert_int_equal(elm_bench_target(b, &t, &r, &d), ELM_ENOENT);
    assert_non_null(strstr(d.msg, "no-such-host.invalid"));
    elm_bench_free(b);
}

static void test_target_concurrency(void **state)
{
    (void)state;
    fake_t f;
    static elm_record_t r;
    elm_bench_t *b = harness(0);
    const char *const a[] = {"--tokens", "5", "--delay-ms", "40", NULL};
    if (!fake_start(&f, a)) return;
    target(b, &f, "127.0.0.1", 3, 9, 30, &r);
    assert_int_equal(r.target.n_ok, 9);
    int maxc = fake_max_concurrent(&f);
    assert_true(maxc <= 3); /* never more in flight than asked */
    assert_true(maxc >= 2); /* and they did overlap: each takes >= 160 ms */
    fake_stop(&f);

    /* poisson and bursty arrivals complete every request too; at most 1 in flight */
    if (!fake_start(&f, a)) return;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", f.port);
    elm_target_opts_t t = {.url = url, .model = "fake", .max_tokens = 3, .concurrency = 1,
                           .n_requests = 4, .seed = 3, .timeout_s = 30};
    elm_diag_t d;
    elm_arrival_parse("poisson:50", &t.arrival, &d);
    assert_int_equal(elm_bench_target(b, &t, &r, &d), 0);
    assert_int_equal(r.target.n_ok, 4);
    assert_string_equal(r.target.arrival, "poisson:50 (seed 3)");
    assert_int_equal(r.target.tokens, 12);
    elm_arrival_parse("bursty:2/0.2", &t.arrival, &d);
    t.concurrency = 2;
    assert_int_equal(elm_bench_target(b, &t, &r, &d), 0);
    assert_int_equal(r.target.n_ok, 4);
    /* two bursts 0.2 s apart: the window is at least that */
    assert_true(r.target.window_s >= 0.2);
    assert_true(fake_max_concurrent(&f) <= 2);
    fake_stop(&f);
    elm_bench_free(b);
}

/* Every output format carries the target's figures, and the store keeps them. */
static void test_target_outputs(void **state)
{
    (void)state;
    fake_t f;
    static elm_record_t r;
    elm_bench_t *b = harness(0);
    const char *const a[] = {"--tokens", "3", NULL};
    if (!fake_start(&f, a)) return;
    target(b, &f, "127.0.0.1", 1, 2, 30, &r);
    fake_stop(&f);
    char *s;
    elm_diag_t d;
    assert_int_equal(elm_bench_format(ELM_BENCH_MD, &r, 1, ELM_BENCH_ALL, true, &s, &d), 0);
    assert_non_null(strstr(s, "| target | model | arrival | conc |"));
    assert_non_null(strstr(s, "| fake | closed | 1 | 2 | 2 | 0 | 100 |"));
    assert_non_null(strstr(s, "tokens counted from usage.completion_tokens"));
    free(s);
    assert_int_equal(elm_bench_format(ELM_BENCH_JSON, &r, 1, ELM_BENCH_ALL, true, &s, &d), 0);
    cJSON *j = cJSON_Parse(s);
    assert_non_null(j);
    cJSON *arr0 = cJSON_GetArrayItem(j, 0);
    cJSON *tg = cJSON_GetObjectItem(arr0, "target");
    assert_non_null(tg);
    assert_int_equal(cJSON_GetObjectItem(tg, "ok")->valueint, 2);
    assert_int_equal(cJSON_GetObjectItem(tg, "tokens")->valueint, 6);
    cJSON *ttft = cJSON_GetObjectItem(tg, "ttft_ms");
    assert_float_equal(cJSON_GetObjectItem(ttft, "p50")->valuedouble, r.target.ttft_ms.p50, 1e-9);
    assert_non_null(cJSON_GetObjectItem(arr0, "git_hash"));
    cJSON_Delete(j);
    free(s);
    assert_int_equal(elm_bench_format(ELM_BENCH_CSV, &r, 1, ELM_BENCH_ALL, true, &s, &d), 0);
    char *nl = strchr(s, '\n');
    assert_non_null(nl);
    int cols_h = 1, cols_r = 1;
    for (char *c = s; c < nl; c++) cols_h += *c == ',';
    for (char *c = nl + 1; *c && *c != '\n'; c++) cols_r += *c == ',';
    assert_int_equal(cols_h, cols_r);
    assert_non_null(strstr(s, "ttft_ms_p50"));
    free(s);

    char dir[] = "/tmp/elm-tgdb-XXXXXX", db[64];
    assert_non_null(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/r.db", dir);
    elm_store_t *st;
    assert_int_equal(elm_store_open(db, &st, &d), 0);
    int64_t id;
    assert_int_equal(elm_store_add(st, &r, &id, &d), 0);
    char *json;
    assert_int_equal(elm_store_get_json(st, id, &json, &d), 0);
    assert_non_null(strstr(json, "\"target\":{\"url\":\"http://127.0.0.1:"));
    free(json);
    elm_store_close(st);
    unlink(db);
    rmdir(dir);
    elm_bench_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dist),          cmocka_unit_test(test_arrival),
        cmocka_unit_test(test_sha256),        cmocka_unit_test(test_target_stream),
        cmocka_unit_test(test_target_errors), cmocka_unit_test(test_target_concurrency),
        cmocka_unit_test(test_target_outputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
