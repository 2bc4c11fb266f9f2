/* libFuzzer harness for the serve request parsers: the same bytes go through the chat, completion,
 * /tokenize and /detokenize parsers and the stop matcher. An error always has a status and a
 * message and leaves nothing allocated; a success has messages or a prompt and sane fields. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "edgelm/serve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_error(int rc, const elm_serve_error_t *e)
{
    if (rc != e->status || (rc != 400 && rc != 413 && rc != 500) || !e->message[0] || !e->type[0])
        __builtin_trap();
}

/* The request's stop strings over its own text: the matcher never emits a stop string. */
static void check_stops(const elm_serve_request_t *r, const char *text, size_t len)
{
    elm_stop_matcher_t *m;
    if (elm_stop_matcher_create((const char *const *)r->stop, r->n_stop, &m)) return;
    size_t total = 0;
    elm_stop_result_t res = {0};
    for (size_t at = 0; at < len && !res.stopped; at += 3) {
        size_t n = len - at < 3 ? len - at : 3;
        if (elm_stop_matcher_push(m, text + at, n, &res)) break;
        total += res.len;
    }
    elm_stop_matcher_flush(m, &res);
    total += res.len;
    if (total > len) __builtin_trap();
    elm_stop_matcher_free(m);
}

static void one(const char *body, size_t size, elm_serve_endpoint_t ep)
{
    elm_serve_limits_t lim = {.max_body = 1 << 16, .default_max_tokens = 16};
    elm_serve_request_t r;
    elm_serve_error_t e;
    int rc = elm_serve_request_parse(body, size, ep, &lim, &r, &e);
    if (rc) {
        check_error(rc, &e);
        if (r.messages || r.prompt || r.prompt_ids || r.model || r.n_stop) __builtin_trap();
        return;
    }
    if (ep == ELM_SERVE_CHAT && (!r.n_messages || !r.messages)) __builtin_trap();
    if (ep == ELM_SERVE_COMPLETION && !r.prompt == !r.prompt_ids) __builtin_trap();
    for (size_t i = 0; i < r.n_messages; i++)
        if (!r.messages[i].text || strlen(r.messages[i].text) != r.messages[i].len ||
            (unsigned)r.messages[i].role > ELM_SERVE_ROLE_ASSISTANT)
            __builtin_trap();
    for (size_t i = 0; i < r.n_prompt_ids; i++)
        if (r.prompt_ids[i] < 0) __builtin_trap();
    if (r.n_stop > ELM_SERVE_MAX_STOP || r.max_tokens < 1 ||
        !(r.sampler.temp >= 0 && r.sampler.temp <= 2) ||
        !(r.sampler.top_p >= 0 && r.sampler.top_p <= 1) || r.sampler.top_k < 0 ||
        !(r.sampler.repeat_penalty > 0) || r.top_logprobs > ELM_SERVE_MAX_TOP_LOGPROBS)
        __builtin_trap();
    for (size_t i = 0; i < r.n_stop; i++)
        if (!r.stop[i] || !r.stop[i][0]) __builtin_trap();
    if (r.n_messages) check_stops(&r, r.messages[0].text, r.messages[0].len);
    if (r.prompt) check_stops(&r, r.prompt, r.prompt_len);
    elm_serve_request_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    one(body, size, ELM_SERVE_CHAT);
    one(body, size, ELM_SERVE_COMPLETION);

    elm_serve_limits_t lim = {.max_body = 1 << 16};
    elm_serve_error_t e;
    elm_serve_tokenize_t t;
    int rc = elm_serve_tokenize_parse(body, size, &lim, &t, &e);
    if (rc) {
        check_error(rc, &e);
        if (t.content) __builtin_trap();
    } else {
        if (!t.content || strlen(t.content) != t.len) __builtin_trap();
        /* the answer body of any text is JSON the parser reads back */
        char *json = elm_serve_content_json(t.content, t.len);
        if (!json) __builtin_trap();
        elm_serve_tokenize_t back;
        if (elm_serve_tokenize_parse(json, strlen(json), NULL, &back, &e)) __builtin_trap();
        elm_serve_tokenize_free(&back);
        free(json);
    }
    elm_serve_tokenize_free(&t);

    int32_t *ids;
    size_t n;
    rc = elm_serve_detokenize_parse(body, size, &lim, &ids, &n, &e);
    if (rc) {
        check_error(rc, &e);
        if (ids || n) __builtin_trap();
        return 0;
    }
    if (!ids != !n) __builtin_trap();
    char *json = elm_serve_tokens_json(ids, n);
    if (!json) __builtin_trap();
    free(json);
    free(ids);
    return 0;
}
