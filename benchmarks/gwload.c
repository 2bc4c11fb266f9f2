/* Open-loop HTTP load for `make bench-gateway` (benchmarks/gateway.py): requests at a fixed rate
 * over a pool of keep-alive connections, or many concurrent streams, printed as one JSON line.
 *
 *   gwload --url URL [--rate R] [--duration S] [--warmup S] [--connections N]
 *          [--max-connections M] [--timeout S] [--body JSON] [--samples FILE]
 *   gwload --url URL --streams N [--ramp S] [--timeout S] [--body JSON]
 *
 * Rate mode sends request i at t0 + i/R whether or not earlier ones have been answered, on an
 * idle connection (the pool grows up to --max-connections when none is; past that, requests wait
 * in order), and counts each latency from its scheduled send time, so a server that falls behind
 * shows its queueing delay (no coordinated omission). Requests scheduled during --warmup open the
 * connections and are not counted. Streams mode sends N streaming requests spread evenly over
 * --ramp seconds (a stream still running holds its connection, so slow streams each get their own)
 * and counts those that got a content token and those that ended with [DONE]. --samples writes
 * every counted answer's latency in ms, one a line, so that runs can be merged. */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

typedef struct conn {
    struct evhttp_connection *evcon;
    struct conn *next_idle;
} conn_t;

typedef struct {
    /* options */
    const char *url, *body, *samples;
    double rate, duration_s, warmup_s, timeout_s, ramp_s;
    int connections, max_connections, streams;
    /* the target */
    struct evhttp_uri *uri;
    const char *host, *path;
    char host_header[300];
    int port;
    /* the run */
    struct event_base *base;
    struct event *tick;
    double t0_ms;         /* schedule origin: request i is due at t0 + i * gap */
    double gap_ms;        /* 1000 / rate */
    uint64_t total, next; /* requests to send, the next one's index */
    uint64_t n_warm;      /* the first n_warm requests are warm-up, not counted */
    uint64_t outstanding; /* sent or queued, not yet answered */
    conn_t **conns;       /* every connection opened */
    int n_conns;
    conn_t *idle;    /* connections with nothing in flight */
    uint64_t *queue; /* request indices waiting for a connection (FIFO) */
    uint64_t q_head, q_tail;
    /* results of counted requests */
    double *lat_ms;  /* (total) end-to-end latency from the scheduled send time */
    double *ttft_ms; /* (total) streams: first content token, from the send time */
    uint64_t n_lat, n_ttft, ok, errors, finished;
    double first_ms, last_ms; /* counted: first scheduled send, last answer */
} gwl_t;

typedef struct {
    gwl_t *g;
    conn_t *c;
    uint64_t idx;
    double sched_ms;
    bool got_token, got_done;
    char tail[8]; /* the previous chunk's last bytes: a marker split over two chunks */
    size_t n_tail;
} call_t;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *msg)
{
    fprintf(stderr, "gwload: %s\n", msg);
    exit(2);
}

/* ---- requests ---- */

static void send_on(gwl_t *g, conn_t *c, uint64_t idx);

static bool counted(const gwl_t *g, uint64_t idx)
{
    return idx >= g->n_warm;
}

/* Whether SSE data holds a non-empty "content" string: a generated token, not the role delta. */
static bool has_token(const char *p, size_t n)
{
    static const char key[] = "\"content\":\"";
    const char *end = p + n;
    while ((p = memmem(p, (size_t)(end - p), key, sizeof key - 1)) != NULL) {
        p += sizeof key - 1;
        if (p < end && *p != '"') return true;
    }
    return false;
}

/* A streaming body arrives here piece by piece (libevent drains it after the call): look for the
 * first content token and for [DONE]. Both servers write each event whole; only [DONE] is also
 * looked for across the seam between two pieces. */
static void on_chunk(struct evhttp_request *req, void *arg)
{
    call_t *k = arg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    const char *p = (const char *)evbuffer_pullup(in, -1);
    if (!p || !n) return;
    if (!k->got_token && has_token(p, n)) {
        k->got_token = true;
        if (counted(k->g, k->idx)) k->g->ttft_ms[k->g->n_ttft++] = now_ms() - k->sched_ms;
    }
    char seam[2 * sizeof k->tail];
    size_t head = n < sizeof k->tail ? n : sizeof k->tail;
    memcpy(seam, k->tail, k->n_tail);
    memcpy(seam + k->n_tail, p, head);
    if (memmem(p, n, "[DONE]", 6) || memmem(seam, k->n_tail + head, "[DONE]", 6))
        k->got_done = true;
    k->n_tail = n < sizeof k->tail ? n : sizeof k->tail;
    memcpy(k->tail, p + n - k->n_tail, k->n_tail);
}

static void maybe_stop(gwl_t *g)
{
    if (g->next >= g->total && g->outstanding == 0) event_base_loopbreak(g->base);
}

static void on_done(struct evhttp_request *req, void *arg)
{
    call_t *k = arg;
    gwl_t *g = k->g;
    conn_t *c = k->c;
    double t = now_ms();
    int code = req ? evhttp_request_get_response_code(req) : 0;
    bool ok = code == 200 && (!g->streams || (k->got_token && k->got_done));
    if (counted(g, k->idx)) {
        if (ok) {
            g->ok++;
            g->lat_ms[g->n_lat++] = t - k->sched_ms;
            if (t > g->last_ms) g->last_ms = t;
        } else {
            g->errors++;
        }
        if (k->got_done && code == 200) g->finished++;
    }
    free(k);
    g->outstanding--;
    if (g->q_head < g->q_tail) {
        send_on(g, c, g->queue[g->q_head++]);
    } else {
        c->next_idle = g->idle;
        g->idle = c;
    }
    maybe_stop(g);
}

static conn_t *conn_open(gwl_t *g)
{
    conn_t *c = calloc(1, sizeof *c);
    if (!c) die("out of memory");
    c->evcon = evhttp_connection_base_new(g->base, NULL, g->host, (unsigned short)g->port);
    if (!c->evcon) die("cannot create a connection");
    evhttp_connection_set_timeout(c->evcon, (int)ceil(g->timeout_s));
    g->conns[g->n_conns++] = c;
    return c;
}

static void send_on(gwl_t *g, conn_t *c, uint64_t idx)
{
    call_t *k = calloc(1, sizeof *k);
    if (!k) die("out of memory");
    k->g = g;
    k->c = c;
    k->idx = idx;
    k->sched_ms = g->t0_ms + (double)idx * g->gap_ms;
    struct evhttp_request *req = evhttp_request_new(on_done, k);
    if (!req) die("out of memory");
    if (g->streams) evhttp_request_set_chunked_cb(req, on_chunk);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", g->host_header);
    evhttp_add_header(h, "Content-Type", "application/json");
    evbuffer_add(evhttp_request_get_output_buffer(req), g->body, strlen(g->body));
    if (evhttp_make_request(c->evcon, req, EVHTTP_REQ_POST, g->path)) {
        /* libevent has freed req without calling on_done */
        free(k);
        if (counted(g, idx)) g->errors++;
        g->outstanding--;
        c->next_idle = g->idle;
        g->idle = c;
    }
}

/* Sends every request that is due, then sleeps until the next one is. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    gwl_t *g = arg;
    double t = now_ms();
    while (g->next < g->total && g->t0_ms + (double)g->next * g->gap_ms <= t) {
        uint64_t idx = g->next++;
        g->outstanding++;
        conn_t *c = g->idle;
        if (c) {
            g->idle = c->next_idle;
        } else if (g->n_conns < g->max_connections) {
            c = conn_open(g);
        } else {
            g->queue[g->q_tail++] = idx;
            continue;
        }
        send_on(g, c, idx);
    }
    if (g->next < g->total) {
        double wait = g->t0_ms + (double)g->next * g->gap_ms - now_ms();
        if (wait < 0) wait = 0;
        struct timeval tv = {(time_t)(wait / 1e3), (suseconds_t)(fmod(wait, 1e3) * 1e3)};
        evtimer_add(g->tick, &tv);
    }
    maybe_stop(g);
}

/* ---- results ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile p (0-100] of the sorted v[0..n). */
static double pct(const double *v, uint64_t n, double p)
{
    if (!n) return 0;
    uint64_t r = (uint64_t)ceil(p / 100.0 * (double)n);
    return v[r ? r - 1 : 0];
}

static void print_dist(const char *name, double *v, uint64_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    printf("\"%s\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f}", name, pct(v, n, 50),
           pct(v, n, 90), pct(v, n, 99), n ? v[n - 1] : 0.0);
}

static void print_result(gwl_t *g)
{
    uint64_t n = g->total - g->n_warm;
    if (g->streams) {
        printf("{\"mode\":\"streams\",\"streams\":%d,\"first_token\":%llu,\"finished\":%llu,"
               "\"errors\":%llu,\"connections\":%d,",
               g->streams, (unsigned long long)g->n_ttft, (unsigned long long)g->finished,
               (unsigned long long)g->errors, g->n_conns);
        print_dist("ttft_ms", g->ttft_ms, g->n_ttft);
        putchar(',');
        print_dist("duration_ms", g->lat_ms, g->n_lat);
        printf("}\n");
        return;
    }
    double span_s = (g->last_ms - g->first_ms) / 1e3;
    printf("{\"mode\":\"rate\",\"rate\":%.1f,\"duration_s\":%.3f,\"sent\":%llu,\"ok\":%llu,"
           "\"errors\":%llu,\"achieved_rps\":%.1f,\"connections\":%d,",
           g->rate, g->duration_s, (unsigned long long)n, (unsigned long long)g->ok,
           (unsigned long long)g->errors, span_s > 0 ? (double)g->ok / span_s : 0.0, g->n_conns);
    print_dist("latency_ms", g->lat_ms, g->n_lat);
    printf("}\n");
}

static void write_samples(const gwl_t *g)
{
    FILE *f = fopen(g->samples, "w");
    if (!f) die("cannot write the --samples file");
    for (uint64_t i = 0; i < g->n_lat; i++)
        fprintf(f, "%.4f\n", g->lat_ms[i]);
    if (fclose(f)) die("cannot write the --samples file");
}

/* ---- set-up ---- */

static void usage(void)
{
    fprintf(stderr, "usage: gwload --url URL [--rate R] [--duration S] [--warmup S] "
                    "[--connections N] [--max-connections M] [--timeout S] [--body JSON] "
                    "[--samples FILE]\n"
                    "       gwload --url URL --streams N [--ramp S] [--timeout S] [--body JSON]\n");
    exit(2);
}

static void parse_args(gwl_t *g, int argc, char **argv)
{
    /* every option takes a value: a string, a number or a count */
    const struct {
        const char *name;
        const char **str;
        double *num;
        int *count;
    } opts[] = {
        {"--url", &g->url, NULL, NULL},
        {"--body", &g->body, NULL, NULL},
        {"--samples", &g->samples, NULL, NULL},
        {"--rate", NULL, &g->rate, NULL},
        {"--duration", NULL, &g->duration_s, NULL},
        {"--warmup", NULL, &g->warmup_s, NULL},
        {"--timeout", NULL, &g->timeout_s, NULL},
        {"--ramp", NULL, &g->ramp_s, NULL},
        {"--connections", NULL, NULL, &g->connections},
        {"--max-connections", NULL, NULL, &g->max_connections},
        {"--streams", NULL, NULL, &g->streams},
    };
    for (int i = 1; i < argc; i += 2) {
        size_t k = 0;
        while (k < sizeof opts / sizeof opts[0] && strcmp(argv[i], opts[k].name))
            k++;
        if (k == sizeof opts / sizeof opts[0] || i + 1 >= argc) usage();
        const char *v = argv[i + 1];
        if (opts[k].str) *opts[k].str = v;
        if (opts[k].num) *opts[k].num = atof(v);
        if (opts[k].count) *opts[k].count = atoi(v);
    }
    if (!g->url || g->rate <= 0 || g->duration_s <= 0 || g->warmup_s < 0 || g->timeout_s <= 0 ||
        g->max_connections < 1 || g->streams < 0 || g->ramp_s < 0)
        usage();
    if (!g->body)
        g->body = g->streams ? "{\"messages\":[{\"role\":\"user\",\"content\":\"Hello there\"}],"
                               "\"max_tokens\":64,\"stream\":true}"
                             : "{\"messages\":[{\"role\":\"user\",\"content\":\"Hello there\"}],"
                               "\"max_tokens\":1}";
    if (g->streams) {
        /* every stream may need its own connection; none is warm-up */
        g->total = (uint64_t)g->streams;
        g->n_warm = 0;
        g->gap_ms = g->ramp_s * 1e3 / g->streams;
        if (g->max_connections < g->streams) g->max_connections = g->streams;
        g->connections = 0;
    } else {
        g->n_warm = (uint64_t)llround(g->rate * g->warmup_s);
        g->total = g->n_warm + (uint64_t)llround(g->rate * g->duration_s);
        g->gap_ms = 1e3 / g->rate;
    }
}

/* Many connections at once: raise the soft open-file limit to the hard one. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    gwl_t g = {.rate = 100,
               .duration_s = 10,
               .warmup_s = 1,
               .timeout_s = 60,
               .ramp_s = 2,
               .max_connections = 4096};
    parse_args(&g, argc, argv);
    raise_fd_limit();
    g.uri = evhttp_uri_parse(g.url);
    if (!g.uri || !evhttp_uri_get_host(g.uri)) die("--url must be http://HOST[:PORT]/PATH");
    g.host = evhttp_uri_get_host(g.uri);
    g.port = evhttp_uri_get_port(g.uri) > 0 ? evhttp_uri_get_port(g.uri) : 80;
    g.path = evhttp_uri_get_path(g.uri) && *evhttp_uri_get_path(g.uri) ? evhttp_uri_get_path(g.uri)
                                                                       : "/";
    snprintf(g.host_header, sizeof g.host_header, "%s:%d", g.host, g.port);

    /* timerfd-precise sleeps: a late send would add the timer's slack to every latency */
    struct event_config *cfg = event_config_new();
    if (!cfg) die("out of memory");
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    g.base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (!g.base) die("cannot create the event base");
    g.tick = evtimer_new(g.base, on_tick, &g);
    g.conns = calloc((size_t)g.max_connections, sizeof *g.conns);
    g.queue = calloc(g.total + 1, sizeof *g.queue);
    g.lat_ms = calloc(g.total + 1, sizeof *g.lat_ms);
    g.ttft_ms = calloc(g.total + 1, sizeof *g.ttft_ms);
    if (!g.tick || !g.conns || !g.queue || !g.lat_ms || !g.ttft_ms) die("out of memory");
    int pre = g.connections < g.max_connections ? g.connections : g.max_connections;
    for (int i = 0; i < pre; i++) {
        conn_t *c = conn_open(&g);
        c->next_idle = g.idle;
        g.idle = c;
    }

    g.t0_ms = now_ms() + 1;
    g.first_ms = g.t0_ms + (double)g.n_warm * g.gap_ms;
    g.last_ms = g.first_ms;
    struct timeval tv = {0, 1000};
    evtimer_add(g.tick, &tv);
    event_base_dispatch(g.base);
    print_result(&g);
    if (g.samples) write_samples(&g);

    for (int i = 0; i < g.n_conns; i++) {
        evhttp_connection_free(g.conns[i]->evcon);
        free(g.conns[i]);
    }
    free(g.conns);
    free(g.queue);
    free(g.lat_ms);
    free(g.ttft_ms);
    event_free(g.tick);
    event_base_free(g.base);
    evhttp_uri_free(g.uri);
    return g.errors ? 1 : 0;
}
