/* libFuzzer: a device's stream as the gateway relays it (src/gateway/sse.c) — the bytes split at a
 * point the input chooses, each event read, and its client text split again into the same data
 * (unless a data line ends in '\r', which the splitter takes as part of a CRLF line end). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gateway_internal.h"

typedef struct {
    const char *want;
    size_t n;
    int seen;
} again_t;

static bool same(void *user, char *data, size_t n)
{
    again_t *a = user;
    if (a->seen++ || n != a->n || memcmp(data, a->want, n) != 0) abort();
    return true;
}

static bool on_event(void *user, char *data, size_t n)
{
    (void)user;
    if (data[n] != '\0') abort();
    gw_event_t e;
    gw_event_read(data, n, &e);
    if (e.prompt_tokens < -1 || e.completion_tokens < -1) abort();
    size_t len;
    char *text = gw_sse_text(data, n, &len);
    if (!text) return true;
    bool cr_end = false;
    for (size_t i = 0; i < n; i++)
        cr_end |= data[i] == '\r' && (i + 1 == n || data[i + 1] == '\n');
    if (!cr_end) {
        gw_sse_t s = {.max_event = len + 1};
        again_t a = {data, n, 0};
        if (gw_sse_feed(&s, text, len, true, same, &a) != GW_SSE_OK || a.seen != 1) abort();
        gw_sse_free(&s);
    }
    free(text);
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const char *p = (const char *)data + 1;
    size_t n = size - 1, cut = n ? data[0] % (n + 1) : 0;
    gw_sse_t s = {.max_event = 4096};
    if (gw_sse_feed(&s, p, cut, false, on_event, NULL) == GW_SSE_OK &&
        gw_sse_feed(&s, p + cut, n - cut, false, on_event, NULL) == GW_SSE_OK)
        gw_sse_feed(&s, "", 0, true, on_event, NULL);
    gw_sse_free(&s);
    return 0;
}
