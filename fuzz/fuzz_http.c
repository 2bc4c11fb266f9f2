/* libFuzzer harness for the HTTP client's response and SSE parser (src/http/response.c, sse.c),
 * which reads what a server sends: the bytes are parsed whole and again in small pieces, and both
 * parses must agree (the parser is byte-driven, so the split cannot matter); a failure must carry
 * a message. The endpoint URL parser gets the same bytes as a string. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "edgelm/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void count(void *user, uint64_t t)
{
    (void)t;
    (*(uint32_t *)user)++;
}

/* Parse data in pieces of step bytes; *sum gets the summary, the rc is returned. */
static int parse(const uint8_t *data, size_t size, size_t step, elm_http_summary_t *sum,
                 uint32_t *calls)
{
    elm_http_resp_t *r;
    elm_diag_t d;
    elm_diag_clear(&d);
    if (elm_http_resp_create(count, calls, &r, &d)) __builtin_trap();
    int rc = 0;
    for (size_t i = 0; i < size && !rc; i += step)
        rc = elm_http_resp_feed(r, (const char *)data + i, size - i < step ? size - i : step, i,
                                &d);
    if (!rc) rc = elm_http_resp_eof(r, &d);
    if (rc && !d.msg[0]) __builtin_trap();
    *sum = *elm_http_resp_summary(r);
    elm_http_resp_free(r);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    elm_http_summary_t a, b;
    uint32_t ca = 0, cb = 0;
    int ra = parse(data, size, size ? size : 1, &a, &ca);
    int rb = parse(data, size, 1 + (size ? data[0] % 7 : 0), &b, &cb);
    if (ra != rb || a.status != b.status || a.n_content != b.n_content ||
        a.usage_tokens != b.usage_tokens || a.done != b.done || a.complete != b.complete ||
        strcmp(a.error, b.error) || ca != a.n_content || cb != b.n_content)
        __builtin_trap();
    if (a.status < 0 || a.status > 999 || strlen(a.error) >= sizeof a.error) __builtin_trap();

    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    elm_http_url_t u;
    elm_diag_t d;
    if (elm_http_url_parse(s, &u, &d) == 0 &&
        (!u.host[0] || !u.port[0] || u.path[0] != '/' || !strstr(u.path, "/chat/completions")))
        __builtin_trap();
    free(s);
    return 0;
}
