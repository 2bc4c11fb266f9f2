/* gateway/: a device's stream as the gateway relays it — events split out of bytes however they
 * arrive, what each chunk says, and the text the client gets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/gateway_internal.h"

typedef struct {
    char got[16][256];
    int n, stop_after;
} events_t;

static bool collect(void *user, char *data, size_t n)
{
    events_t *e = user;
    assert_int_equal(data[n], '\0');
    assert_true(e->n < 16);
    snprintf(e->got[e->n++], sizeof e->got[0], "%s", data);
    return e->stop_after == 0 || e->n < e->stop_after;
}

static const char STREAM[] = "data: {\"a\":1}\n\n"
                             ": a comment\n\n"
                             "data: first\r\ndata: second\r\n\r\n"
                             "id: 7\ndata:no-space\n\n"
                             "data: [DONE]\n\n";

static void expect_stream(const events_t *e)
{
    assert_int_equal(e->n, 4);
    assert_string_equal(e->got[0], "{\"a\":1}");
    assert_string_equal(e->got[1], "first\nsecond"); /* data lines joined, CRLF ends taken */
    assert_string_equal(e->got[2], "no-space");
    assert_string_equal(e->got[3], "[DONE]");
}

static void test_sse_split_any_way(void **state)
{
    (void)state;
    size_t len = strlen(STREAM);
    /* whole, then every split into two pieces, then byte by byte: the same events */
    for (size_t cut = 0; cut <= len; cut++) {
        gw_sse_t s = {.max_event = 1024};
        events_t e = {0};
        assert_int_equal(gw_sse_feed(&s, STREAM, cut, false, collect, &e), GW_SSE_OK);
        assert_int_equal(gw_sse_feed(&s, STREAM + cut, len - cut, false, collect, &e), GW_SSE_OK);
        expect_stream(&e);
        assert_int_equal(s.len, 0);
        gw_sse_free(&s);
    }
    gw_sse_t s = {.max_event = 1024};
    events_t e = {0};
    for (size_t i = 0; i < len; i++)
        assert_int_equal(gw_sse_feed(&s, STREAM + i, 1, false, collect, &e), GW_SSE_OK);
    expect_stream(&e);
    gw_sse_free(&s);
}

static void test_sse_end_and_limits(void **state)
{
    (void)state;
    gw_sse_t s = {.max_event = 16};
    events_t e = {0};
    /* an event the stream's end cuts short still counts at the end */
    assert_int_equal(gw_sse_feed(&s, "data: last", 10, false, collect, &e), GW_SSE_OK);
    assert_int_equal(e.n, 0);
    assert_int_equal(gw_sse_feed(&s, "", 0, true, collect, &e), GW_SSE_OK);
    assert_int_equal(e.n, 1);
    assert_string_equal(e.got[0], "last");
    /* an unfinished event over the bound is refused, not buffered for ever */
    assert_int_equal(gw_sse_feed(&s, "data: 0123456789abcdef", 22, false, collect, &e),
                     GW_SSE_TOO_LONG);
    gw_sse_free(&s);
    /* a callback that stops: nothing after it */
    gw_sse_t s2 = {.max_event = 1024};
    events_t e2 = {.stop_after = 2};
    assert_int_equal(gw_sse_feed(&s2, STREAM, strlen(STREAM), false, collect, &e2),
                     GW_SSE_STOPPED);
    assert_int_equal(e2.n, 2);
    gw_sse_free(&s2);
}

static void test_event_read(void **state)
{
    (void)state;
    gw_event_t e;
    const char *chunk = "{\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}";
    gw_event_read(chunk, strlen(chunk), &e);
    assert_true(e.content && !e.usage_only && !e.error && !e.done);
    assert_int_equal(e.prompt_tokens, -1);
    const char *empty = "{\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}";
    gw_event_read(empty, strlen(empty), &e);
    assert_false(e.content);
    const char *text = "{\"choices\":[{\"text\":\" upon\"}]}";
    gw_event_read(text, strlen(text), &e);
    assert_true(e.content);
    const char *usage =
        "{\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":30}}";
    gw_event_read(usage, strlen(usage), &e);
    assert_true(e.usage_only && !e.content);
    assert_int_equal(e.prompt_tokens, 12);
    assert_int_equal(e.completion_tokens, 30);
    const char *bad = "{\"usage\":{\"prompt_tokens\":-3,\"completion_tokens\":1e30}}";
    gw_event_read(bad, strlen(bad), &e);
    assert_int_equal(e.prompt_tokens, -1);
    assert_int_equal(e.completion_tokens, -1);
    const char *err = "{\"error\":{\"message\":\"busy\"}}";
    gw_event_read(err, strlen(err), &e);
    assert_true(e.error);
    gw_event_read("[DONE]", 6, &e);
    assert_true(e.done);
    gw_event_read("not json", 8, &e);
    assert_false(e.done || e.error || e.content || e.usage_only);
}

static void test_sse_text(void **state)
{
    (void)state;
    size_t n;
    char *t = gw_sse_text("{\"a\":1}", 7, &n);
    assert_string_equal(t, "data: {\"a\":1}\n\n");
    assert_int_equal(n, strlen(t));
    free(t);
    t = gw_sse_text("one\ntwo", 7, &n); /* a line each, as the client's parser joins them */
    assert_string_equal(t, "data: one\ndata: two\n\n");
    free(t);
    t = gw_sse_text("", 0, &n);
    assert_string_equal(t, "data: \n\n");
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sse_split_any_way),
        cmocka_unit_test(test_sse_end_and_limits),
        cmocka_unit_test(test_event_read),
        cmocka_unit_test(test_sse_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
