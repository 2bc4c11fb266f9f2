/* A fake OpenAI-compatible streaming server for the bench tests: binds 127.0.0.1 (or ::1 with
 * --ipv6) on a free port, prints the port on stdout, and answers every POST with a chat
 * completion stream shaped by its options; GET /stats reports the requests it served and the
 * most it had in flight at once. It runs until killed.
 *
 *   --tokens N      content chunks per response (default 8; max_tokens in the request caps it)
 *   --first-ms F    delay before the first chunk (default 0)
 *   --delay-ms D    delay between chunks (default 0)
 *   --length        a Content-Length body instead of chunked transfer encoding
 *   --status CODE   answer with this error status and a JSON error body
 *   --malformed     a non-JSON event after the second chunk
 *   --stall         stop sending after the first chunk (the client must time out)
 *   --no-usage      no usage object before [DONE]
 *   --per-chunk K   K tokens' text per chunk, usage counting all of them (default 1)
 *   --lifetime S    exit after S seconds whatever happens (default 120)
 *   --ipv6          listen on ::1 instead */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct {
    int tokens, first_ms, delay_ms, status, per_chunk, lifetime;
    int length, malformed, stall, no_usage, ipv6;
} opt = {.tokens = 8, .per_chunk = 1, .lifetime = 120};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int in_flight, max_in_flight, served;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (ms > 0 && nanosleep(&ts, &ts)) {}
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return -1;
        p += w, n -= (size_t)w;
    }
    return 0;
}

/* Read the request head and its Content-Length body into buf (NUL-terminated). */
static int read_request(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    char *body = NULL;
    size_t want = 0;
    while (n + 1 < cap) {
        ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
        if (r <= 0) return -1;
        n += (size_t)r;
        buf[n] = '\0';
        if (!body && (body = strstr(buf, "\r\n\r\n"))) {
            body += 4;
            char *cl = strstr(buf, "Content-Length:");
            want = cl ? strtoul(cl + 15, NULL, 10) : 0;
        }
        if (body && (size_t)(buf + n - body) >= want) return 0;
    }
    return -1;
}

/* The event text of chunk i (or the usage / done / malformed events) appended to out. */
static size_t event(char *out, size_t cap, int i)
{
    char text[256] = "";
    for (int k = 0; k < opt.per_chunk; k++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "tok%d ", i * opt.per_chunk + k);
    return (size_t)snprintf(out, cap,
                            "data: {\"id\":\"fake\",\"object\":\"chat.completion.chunk\","
                            "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"%s\"}}]}\n\n",
                            text);
}

/* Send one piece of the body, as a chunk unless --length. */
static int piece(int fd, const char *p, size_t n)
{
    char head[32];
    if (!opt.length) {
        int h = snprintf(head, sizeof head, "%zx\r\n", n);
        if (send_all(fd, head, (size_t)h) || send_all(fd, p, n) || send_all(fd, "\r\n", 2)) return -1;
        return 0;
    }
    return send_all(fd, p, n);
}

/* This request no longer counts as in flight: called before the last piece of a response, since
 * a client may start its next request as soon as it has read it. */
static void leave(int *counted)
{
    if (!*counted) return;
    *counted = 0;
    pthread_mutex_lock(&mu);
    in_flight--;
    pthread_mutex_unlock(&mu);
}

static void stream(int fd, int n_tok, int *counted)
{
    /* Every event, so a Content-Length body can announce its size up front. */
    size_t cap = (size_t)(n_tok + 4) * 512, len = 0;
    char *all = malloc(cap);
    size_t *ends = malloc((size_t)(n_tok + 4) * sizeof *ends);
    int n_ev = 0;
    if (!all || !ends) goto done;
    for (int i = 0; i < n_tok; i++) {
        if (opt.malformed && i == 2) len += (size_t)snprintf(all + len, cap - len, "data: {not json\n\n");
        len += event(all + len, cap - len, i);
        ends[n_ev++] = len;
    }
    if (!opt.no_usage)
        len += (size_t)snprintf(all + len, cap - len,
                                "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":12,"
                                "\"completion_tokens\":%d,\"total_tokens\":%d}}\n\n",
                                n_tok * opt.per_chunk, 12 + n_tok * opt.per_chunk);
    len += (size_t)snprintf(all + len, cap - len, "data: [DONE]\n\n");
    ends[n_ev++] = len;
    char head[256];
    int h = opt.length ? snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Type: "
                                  "text/event-stream\r\nContent-Length: %zu\r\n\r\n", len)
                       : snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Type: "
                                  "text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n");
    if (send_all(fd, head, (size_t)h)) goto done;
    size_t at = 0;
    for (int e = 0; e < n_ev; e++) {
        if (e < n_tok) sleep_ms(e == 0 ? opt.first_ms : opt.delay_ms);
        if (e == n_ev - 1) leave(counted);
        if (piece(fd, all + at, ends[e] - at)) goto done;
        at = ends[e];
        if (opt.stall && e == 0) {
            sleep_ms(3600 * 1000);
            goto done;
        }
    }
    if (!opt.length) send_all(fd, "0\r\n\r\n", 5);
done:
    free(all);
    free(ends);
}

static void *serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char *buf = malloc(1 << 20);
    if (!buf || read_request(fd, buf, 1 << 20)) goto done;
    if (!strncmp(buf, "GET /stats", 10)) {
        char body[128], resp[256];
        pthread_mutex_lock(&mu);
        int bl = snprintf(body, sizeof body, "{\"requests\":%d,\"max_concurrent\":%d}", served,
                          max_in_flight);
        pthread_mutex_unlock(&mu);
        int rl = snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          "Content-Length: %d\r\n\r\n%s", bl, body);
        send_all(fd, resp, (size_t)rl);
        goto done;
    }
    pthread_mutex_lock(&mu);
    served++;
    if (++in_flight > max_in_flight) max_in_flight = in_flight;
    pthread_mutex_unlock(&mu);
    int counted = 1;
    if (opt.status && opt.status != 200) {
        leave(&counted);
        char body[160], resp[512];
        int bl = snprintf(body, sizeof body, "{\"error\":{\"message\":\"fake failure %d\","
                          "\"type\":\"server_error\"}}", opt.status);
        int rl = snprintf(resp, sizeof resp, "HTTP/1.1 %d Fake Error\r\nContent-Type: "
                          "application/json\r\nContent-Length: %d\r\n\r\n%s", opt.status, bl, body);
        send_all(fd, resp, (size_t)rl);
    } else {
        int n = opt.tokens;
        const char *mt = strstr(buf, "\"max_tokens\":");
        if (mt && atoi(mt + 13) > 0 && atoi(mt + 13) < n) n = atoi(mt + 13);
        stream(fd, n, &counted);
    }
    leave(&counted);
done:
    free(buf);
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : "0";
        if (!strcmp(a, "--tokens")) opt.tokens = atoi(v), i++;
        else if (!strcmp(a, "--first-ms")) opt.first_ms = atoi(v), i++;
        else if (!strcmp(a, "--delay-ms")) opt.delay_ms = atoi(v), i++;
        else if (!strcmp(a, "--status")) opt.status = atoi(v), i++;
        else if (!strcmp(a, "--per-chunk")) opt.per_chunk = atoi(v) > 0 ? atoi(v) : 1, i++;
        else if (!strcmp(a, "--lifetime")) opt.lifetime = atoi(v) > 0 ? atoi(v) : 120, i++;
        else if (!strcmp(a, "--length")) opt.length = 1;
        else if (!strcmp(a, "--malformed")) opt.malformed = 1;
        else if (!strcmp(a, "--stall")) opt.stall = 1;
        else if (!strcmp(a, "--no-usage")) opt.no_usage = 1;
        else if (!strcmp(a, "--ipv6")) opt.ipv6 = 1;
        else {
            fprintf(stderr, "fake_openai: unknown option '%s'\n", a);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    /* A test that fails before stopping the server must not leave it running (and holding the
     * test runner's output pipe): it ends itself after --lifetime seconds. */
    alarm((unsigned)opt.lifetime);
    int s = socket(opt.ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    if (opt.ipv6) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_addr = in6addr_loopback;
        sl = sizeof *a6;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
        a4->sin_family = AF_INET;
        a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sl = sizeof *a4;
    }
    if (s < 0 || bind(s, (struct sockaddr *)&ss, sl) || listen(s, 64) ||
        getsockname(s, (struct sockaddr *)&ss, &sl)) {
        perror("fake_openai: cannot listen");
        return 1;
    }
    int port = ntohs(opt.ipv6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                              : ((struct sockaddr_in *)&ss)->sin_port);
    printf("%d\n", port);
    fflush(stdout);
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c < 0) continue;
        pthread_t t;
        if (pthread_create(&t, NULL, serve, (void *)(intptr_t)c)) {
            close(c);
            continue;
        }
        pthread_detach(t);
    }
}
