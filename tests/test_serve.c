/* serve/: request bodies → parameters and every rejection, stop strings across pieces, the exact
 * JSON of each response shape, and the Prometheus rendering of the metrics registry. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "edgelm/serve.h"
#include "testutil.h"

static const elm_serve_limits_t LIM = {.max_body = 4096, .default_max_tokens = 77};

/* Parse body for ep and return the status (0 on success). */
static int parse(const char *body, elm_serve_endpoint_t ep, elm_serve_request_t *r,
                 elm_serve_error_t *e)
{
    return elm_serve_request_parse(body, strlen(body), ep, &LIM, r, e);
}

/* ---- requests: good values ---- */

static void test_request_chat_defaults(void **state)
{
    (void)state;
    elm_serve_request_t r;
    elm_serve_error_t e;
    assert_int_equal(parse("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", ELM_SERVE_CHAT,
                           &r, &e),
                     0);
    assert_int_equal(e.status, 0);
    assert_int_equal(r.endpoint, ELM_SERVE_CHAT);
    assert_null(r.model);
    assert_int_equal(r.n_messages, 1);
    assert_int_equal(r.messages[0].role, ELM_SERVE_ROLE_USER);
    assert_string_equal(r.messages[0].text, "hi");
    assert_int_equal(r.messages[0].len, 2);
    assert_null(r.prompt);
    assert_null(r.prompt_ids);
    /* llama-server's defaults, the same as `edgelm run`'s */
    elm_sampler_params_t d = elm_sampler_default_params();
    assert_memory_equal(&r.sampler, &d, sizeof d);
    assert_false(r.seed_set);
    assert_int_equal(r.max_tokens, 77);
    assert_false(r.max_tokens_set);
    assert_int_equal(r.n_stop, 0);
    assert_false(r.stream);
    assert_false(r.include_usage);
    assert_false(r.logprobs);
    assert_int_equal(r.top_logprobs, 0);
    elm_serve_request_free(&r);
    assert_null(r.messages);
    elm_serve_request_free(&r); /* twice is fine */
    elm_serve_request_free(NULL);
}

static void test_request_chat_every_field(void **state)
{
    (void)state;
    const char *body =
        "{\"model\":\"m1\",\"messages\":["
        "{\"role\":\"system\",\"content\":\"be brief\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
        "{\"type\":\"text\",\"text\":\"b\\u00e9\"}]},"
        "{\"role\":\"assistant\",\"content\":[]}],"
        "\"max_tokens\":5,\"max_completion_tokens\":9,\"temperature\":0,\"top_p\":0.5,"
        "\"top_k\":7,\"min_p\":1,\"seed\":42,\"stop\":[\"x\",\"yz\"],\"presence_penalty\":-2,"
        "\"frequency_penalty\":2,\"repeat_penalty\":1.5,\"n\":1,\"stream\":true,"
        "\"stream_options\":{\"include_usage\":true},\"logprobs\":true,\"top_logprobs\":20,"
        "\"user\":{\"any\":1},\"tools\":[],\"prompt\":7}";
    elm_serve_request_t r;
    elm_serve_error_t e;
    assert_int_equal(parse(body, ELM_SERVE_CHAT, &r, &e), 0);
    assert_string_equal(r.model, "m1");
    assert_int_equal(r.n_messages, 3);
    assert_int_equal(r.messages[0].role, ELM_SERVE_ROLE_SYSTEM);
    assert_string_equal(r.messages[0].text, "be brief");
    assert_int_equal(r.messages[1].role, ELM_SERVE_ROLE_USER);
    assert_string_equal(r.messages[1].text, "ab\xc3\xa9");
    assert_int_equal(r.messages[1].len, 4);
    assert_int_equal(r.messages[2].role, ELM_SERVE_ROLE_ASSISTANT);
    assert_string_equal(r.messages[2].text, "");
    assert_int_equal(r.max_tokens, 9); /* max_completion_tokens wins */
    assert_true(r.max_tokens_set);
    assert_true(r.sampler.temp == 0.0f);
    assert_true(r.sampler.top_p == 0.5f);
    assert_int_equal(r.sampler.top_k, 7);
    assert_true(r.sampler.min_p == 1.0f);
    assert_true(r.seed_set);
    assert_true(r.sampler.seed == 42);
    assert_int_equal(r.n_stop, 2);
    assert_string_equal(r.stop[0], "x");
    assert_string_equal(r.stop[1], "yz");
    assert_true(r.sampler.presence_penalty == -2.0f);
    assert_true(r.sampler.freq_penalty == 2.0f);
    assert_true(r.sampler.repeat_penalty == 1.5f);
    assert_true(r.stream && r.include_usage && r.logprobs);
    assert_int_equal(r.top_logprobs, 20);
    assert_null(r.prompt); /* prompt is not a chat field */
    elm_serve_request_free(&r);
}

static void test_request_nulls_and_edges(void **state)
{
    (void)state;
    elm_serve_request_t r;
    elm_serve_error_t e;
    /* null counts as absent; a single stop string; seed -1 asks for a random one */
    assert_int_equal(parse("{\"messages\":[{\"role\":\"user\",\"content\":\"\"}],\"stop\":\"END\","
                           "\"temperature\":null,\"max_tokens\":null,\"stream_options\":null,"
                           "\"n\":null,\"seed\":-1,\"logprobs\":false,\"top_logprobs\":0}",
                           ELM_SERVE_CHAT, &r, &e),
                     0);
    assert_true(r.sampler.temp == 0.8f);
    assert_int_equal(r.max_tokens, 77);
    assert_int_equal(r.n_stop, 1);
    assert_string_equal(r.stop[0], "END");
    assert_false(r.seed_set);
    elm_serve_request_free(&r);
    /* the largest values each field takes; max_tokens alone */
    assert_int_equal(parse("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                           "\"temperature\":2,\"max_tokens\":2147483647,\"top_k\":0,\"seed\":-5,"
                           "\"stop\":[\"a\",\"b\",\"c\",\"d\"],\"stream\":false}",
                           ELM_SERVE_CHAT, &r, &e),
                     0);
    assert_true(r.sampler.temp == 2.0f);
    assert_int_equal(r.max_tokens, 2147483647u);
    assert_int_equal(r.sampler.top_k, 0);
    assert_true(r.seed_set && r.sampler.seed == (uint64_t)-5);
    assert_int_equal(r.n_stop, 4);
    elm_serve_request_free(&r);
}

static void test_request_completion(void **state)
{
    (void)state;
    elm_serve_request_t r;
    elm_serve_error_t e;
    assert_int_equal(parse("{\"prompt\":\"Once upon\",\"logprobs\":3,\"max_tokens\":1}",
                           ELM_SERVE_COMPLETION, &r, &e),
                     0);
    assert_int_equal(r.endpoint, ELM_SERVE_COMPLETION);
    assert_string_equal(r.prompt, "Once upon");
    assert_int_equal(r.prompt_len, 9);
    assert_null(r.prompt_ids);
    assert_int_equal(r.n_messages, 0);
    assert_true(r.logprobs);
    assert_int_equal(r.top_logprobs, 3);
    assert_int_equal(r.max_tokens, 1);
    elm_serve_request_free(&r);

    assert_int_equal(parse("{\"prompt\":[1,15043,0,2147483647],\"logprobs\":0}",
                           ELM_SERVE_COMPLETION, &r, &e),
                     0);
    assert_null(r.prompt);
    assert_int_equal(r.n_prompt_ids, 4);
    assert_int_equal(r.prompt_ids[0], 1);
    assert_int_equal(r.prompt_ids[1], 15043);
    assert_int_equal(r.prompt_ids[2], 0);
    assert_int_equal(r.prompt_ids[3], 2147483647);
    assert_true(r.logprobs);
    assert_int_equal(r.top_logprobs, 0);
    elm_serve_request_free(&r);

    /* one prompt in an array, as batching clients send it; messages are not a completion field */
    assert_int_equal(parse("{\"prompt\":[\"Hi\"],\"messages\":5}", ELM_SERVE_COMPLETION, &r, &e),
                     0);
    assert_string_equal(r.prompt, "Hi");
    elm_serve_request_free(&r);
}

/* ---- requests: every rejection ---- */

typedef struct {
    elm_serve_endpoint_t ep;
    const char *body;
    int status;
    const char *param; /* "" for null */
    const char *message;
} bad_case_t;

#define CHAT_OK "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]"

static const bad_case_t BAD_CASES[] = {
    {ELM_SERVE_CHAT, "", 400, "", "request body is not valid JSON (error at byte 0)"},
    {ELM_SERVE_CHAT, "{\"messages\":", 400, "", "request body is not valid JSON (error at byte 11)"},
    {ELM_SERVE_CHAT, "{} x", 400, "", "request body is not valid JSON (error at byte 3)"},
    {ELM_SERVE_CHAT, "[1]", 400, "", "request body must be a JSON object (got an array)"},
    {ELM_SERVE_CHAT, "{}", 400, "messages",
     "'messages' is required: an array of {role, content} objects"},
    {ELM_SERVE_CHAT, "{\"messages\":\"hi\"}", 400, "messages",
     "'messages' must be an array of {role, content} objects (got a string)"},
    {ELM_SERVE_CHAT, "{\"messages\":[]}", 400, "messages",
     "'messages' must hold at least one message"},
    {ELM_SERVE_CHAT, "{\"messages\":[1]}", 400, "messages[0]",
     "'messages[0]' must be an object with role and content (got a number)"},
    {ELM_SERVE_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"tool\"}]}",
     400, "messages[1].role", "'messages[1].role' must be \"system\", \"user\" or \"assistant\""},
    {ELM_SERVE_CHAT, "{\"messages\":[{\"content\":\"a\"}]}", 400, "messages[0].role",
     "'messages[0].role' must be \"system\", \"user\" or \"assistant\""},
    {ELM_SERVE_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"user\"}]}",
     400, "messages[1].content",
     "'messages[1].content' must be a string or an array of text parts (got null)"},
    {ELM_SERVE_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":7}]}", 400,
     "messages[0].content",
     "'messages[0].content' must be a string or an array of text parts (got a number)"},
    {ELM_SERVE_CHAT,
     "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
     "{\"type\":\"image_url\",\"image_url\":{}}]}]}",
     400, "messages[0].content[1].type",
     "'messages[0].content[1].type' must be \"text\": edgelm serves text models (got "
     "\"image_url\")"},
    {ELM_SERVE_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":[\"a\"]}]}", 400,
     "messages[0].content[0]",
     "'messages[0].content[0]' must be an object {\"type\": \"text\", \"text\": ...}"},
    {ELM_SERVE_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]}", 400,
     "messages[0].content[0].text", "'messages[0].content[0].text' must be a string (got null)"},
    {ELM_SERVE_CHAT, "{" CHAT_OK ",\"temperature\":2.5}", 400, "temperature",
     "'temperature' must be a number from 0 to 2 (got 2.5)"},
    {ELM_SERVE_CHAT, "{" CHAT_OK ",\"temperature\":-0.1}", 400, "temperature",
     "'temperature' must be a number from 0 to 2 (got -0.1)"},
    {ELM_SERVE_CHAT, "{" CHAT_OK ",\"temperature\":\"hot\"}", 400, "temperature",
     "'temperature' must be a number from 0 to 2 (got a string)"},
    {ELM_SERVE_CHAT, "{" CHAT_OK ",\"temperature\":1e999}", 400, "temperature",
     "'temperature' must be a number from 0 to 2 (got inf)"},
    {ELM_SERVE_CHAT, "{" CHAT_OK ",\"top_p\":1.01}", 400, "top_p",
     "'top_p' must be a number from 0 to 1 (got 1.01)"},
    {ELM_SERVE_CHAT, "{" CHAT_OK ",\"min_p\":-1}", 400, "min_p",
     "'min_p' must be a number from 0 to 1 (got -1)"},
    {ELM_SERVE_CHAT, "{" CHAT_OK ",\"top_k\":-1}", 400, "top_k",
     "'top_k' must be an integer from 0 to 2147483647 (got -1)"},
    {ELM_SERVE_CHAT, "{" CHAT_OK ",\"top_k\":1.5}", 400, "top_k",
     "'top_k' must be an integer from 0 to 2147483647 (got 1.5)"},
    {ELM_SERVE_CHAT, "{" CHAT_OK ",\"presence_penalty\":2.1}", 400, "presence_penalty",
     "'presence_penalty' must be a number from -2 to 2 (got 2.1)"},
    {ELM_SERVE_CHAT, "{" CHAT_OK ",\"frequency_penalty\":-3}", 400, "frequency_penalty",
     "'frequency_penalty' must be a number from -2 to 2 (got -3)"},
    {ELM_SERVE_CHAT, "{" CHAT_OK ",\"repeat_penalty\":0}", 400, "repeat_penalty",
     "'repeat_penalty' must be a number greater than 0 (got 0)"},
    {ELM_SERVE_CHAT, "{" CHAT_OK ",\"seed\":1.5}", 400, "seed",
     "'seed' must be an integer from -9223372036854775808 to 18446744073709549568 (got 1.5)"},
    {ELM_SERVE_CHAT, "{" CHAT_OK ",\"max_tokens\":0}", 400, "max_tokens",
     "'max_tokens' must be an integer from 1 to 2147483647 (got 0)"},
    {ELM_SERVE_CHAT, "{" CHAT_OK ",\"max_tokens\":5,\"max_completion_tokens\":\"9\"}", 400,
     "max_completion_tokens",
     "'max_completion_tokens' must be an integer from 1 to 2147483647 (got a string)"},
    {ELM_SERVE_CHAT, "{" CHAT_OK ",\"n\":2}", 400, "n",
     "'n' must be 1: edgelm generates one choice per request"},
    {ELM_SERVE_CHAT, "{" CHAT_OK ",\"n\":\"1\"}", 400, "n",
     "'n' must be 1: edgelm generates one choice per request"},
    {ELM_SERVE_CHAT, "{" CHAT_OK ",\"stop\":\"\"}", 400, "stop",
     "'stop' must be a non-empty string (got an empty string)"},
    {ELM_SERVE_CHAT, "{" CHAT_OK ",\"stop\":[\"a\",3]}", 400, "stop[1]",
     "'stop[1]' must be a non-empty string (got a number)"},
    {ELM_SERVE_CHAT, "{" CHAT_OK ",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", 400, "stop",
     "'stop' holds at most 4 strings (got 5)"},
    {ELM_SERVE_CHAT, "{" CHAT_OK ",\"stop\":{}}", 400, "stop",
     "'stop' must be a string or an array of up to 4 strings (got an object)"},
    {ELM_SERVE_CHAT, "{" CHAT_OK ",\"model\":3}", 400, "model",
     "'model' must be a string (got a number)"},
    {ELM_SERVE_CHAT, "{" CHAT_OK ",\"stream\":\"yes\"}", 400, "stream",
     "'stream' must be true or false (got a string)"},
    {ELM_SERVE_CHAT, "{" CHAT_OK ",\"stream_options\":true}", 400, "stream_options",
     "'stream_options' must be an object (got a boolean)"},
    {ELM_SERVE_CHAT, "{" CHAT_OK ",\"stream_options\":{\"include_usage\":1}}", 400,
     "stream_options.include_usage",
     "'stream_options.include_usage' must be true or false (got a number)"},
    {ELM_SERVE_CHAT, "{" CHAT_OK ",\"logprobs\":2}", 400, "logprobs",
     "'logprobs' must be true or false (got a number)"},
    {ELM_SERVE_CHAT, "{" CHAT_OK ",\"logprobs\":true,\"top_logprobs\":21}", 400, "top_logprobs",
     "'top_logprobs' must be an integer from 0 to 20 (got 21)"},
    {ELM_SERVE_CHAT, "{" CHAT_OK ",\"top_logprobs\":2}", 400, "top_logprobs",
     "'top_logprobs' needs 'logprobs': true"},
    {ELM_SERVE_COMPLETION, "{}", 400, "prompt",
     "'prompt' is required: a string or an array of token ids"},
    {ELM_SERVE_COMPLETION, "{\"prompt\":{}}", 400, "prompt",
     "'prompt' must be a string or an array of token ids (got an object)"},
    {ELM_SERVE_COMPLETION, "{\"prompt\":[]}", 400, "prompt",
     "'prompt' must not be an empty array of token ids"},
    {ELM_SERVE_COMPLETION, "{\"prompt\":[\"a\",\"b\"]}", 400, "prompt",
     "'prompt' holds 2 prompts; edgelm serves one per request"},
    {ELM_SERVE_COMPLETION, "{\"prompt\":[1,-2]}", 400, "prompt[1]",
     "'prompt[1]' must be an integer from 0 to 2147483647 (got -2)"},
    {ELM_SERVE_COMPLETION, "{\"prompt\":[1,\"a\"]}", 400, "prompt[1]",
     "'prompt[1]' must be an integer from 0 to 2147483647 (got a string)"},
    {ELM_SERVE_COMPLETION, "{\"prompt\":\"a\",\"logprobs\":6}", 400, "logprobs",
     "'logprobs' must be an integer from 0 to 5 (got 6)"},
    {ELM_SERVE_COMPLETION, "{\"prompt\":\"a\",\"logprobs\":true}", 400, "logprobs",
     "'logprobs' must be an integer from 0 to 5 (got a boolean)"},
};

static void test_request_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof BAD_CASES / sizeof BAD_CASES[0]; i++) {
        const bad_case_t *c = &BAD_CASES[i];
        elm_serve_request_t r;
        elm_serve_error_t e;
        int rc = parse(c->body, c->ep, &r, &e);
        if (rc != c->status || strcmp(e.param, c->param) || strcmp(e.message, c->message))
            fail_msg("case %zu %s: got %d param '%s' message '%s'", i, c->body, rc, e.param,
                     e.message);
        assert_int_equal(e.status, c->status);
        assert_string_equal(e.type, "invalid_request_error");
        assert_string_equal(e.code, "");
        /* a failed parse leaves nothing behind */
        assert_null(r.messages);
        assert_null(r.prompt);
        assert_null(r.prompt_ids);
        assert_null(r.model);
        assert_int_equal(r.n_stop, 0);
    }
}

static void test_request_too_large(void **state)
{
    (void)state;
    char body[5000];
    memset(body, ' ', sizeof body);
    memcpy(body, "{" CHAT_OK "}", strlen("{" CHAT_OK "}"));
    elm_serve_request_t r;
    elm_serve_error_t e;
    assert_int_equal(elm_serve_request_parse(body, 4097, ELM_SERVE_CHAT, &LIM, &r, &e), 413);
    assert_int_equal(e.status, 413);
    assert_string_equal(e.param, "");
    assert_string_equal(e.message, "request body is 4097 bytes; the limit is 4096 bytes");
    /* at the limit it parses (trailing whitespace is fine) */
    assert_int_equal(elm_serve_request_parse(body, 4096, ELM_SERVE_CHAT, &LIM, &r, &e), 0);
    elm_serve_request_free(&r);
}

static void test_tokenize_bodies(void **state)
{
    (void)state;
    elm_serve_tokenize_t t;
    elm_serve_error_t e;
    const char *b = "{\"content\":\"Hello world\",\"add_special\":true}";
    assert_int_equal(elm_serve_tokenize_parse(b, strlen(b), &LIM, &t, &e), 0);
    assert_string_equal(t.content, "Hello world");
    assert_int_equal(t.len, 11);
    assert_true(t.add_special);
    elm_serve_tokenize_free(&t);
    b = "{\"content\":\"\"}";
    assert_int_equal(elm_serve_tokenize_parse(b, strlen(b), &LIM, &t, &e), 0);
    assert_false(t.add_special); /* llama-server's default */
    elm_serve_tokenize_free(&t);
    b = "{\"text\":\"x\"}";
    assert_int_equal(elm_serve_tokenize_parse(b, strlen(b), &LIM, &t, &e), 400);
    assert_string_equal(e.param, "content");
    assert_string_equal(e.message, "'content' must be the text to tokenize (got null)");
    assert_null(t.content);
    b = "{\"content\":\"x\",\"add_special\":1}";
    assert_int_equal(elm_serve_tokenize_parse(b, strlen(b), &LIM, &t, &e), 400);
    assert_string_equal(e.param, "add_special");
    assert_null(t.content);
    elm_serve_tokenize_free(NULL);

    int32_t *ids;
    size_t n;
    b = "{\"tokens\":[5,0,9]}";
    assert_int_equal(elm_serve_detokenize_parse(b, strlen(b), &LIM, &ids, &n, &e), 0);
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], 5);
    assert_int_equal(ids[2], 9);
    free(ids);
    b = "{\"tokens\":[]}";
    assert_int_equal(elm_serve_detokenize_parse(b, strlen(b), &LIM, &ids, &n, &e), 0);
    assert_int_equal(n, 0);
    assert_null(ids);
    b = "{\"tokens\":[1,2.5]}";
    assert_int_equal(elm_serve_detokenize_parse(b, strlen(b), &LIM, &ids, &n, &e), 400);
    assert_string_equal(e.param, "tokens[1]");
    assert_null(ids);
    assert_int_equal(n, 0);
    b = "{\"tokens\":\"1 2\"}";
    assert_int_equal(elm_serve_detokenize_parse(b, strlen(b), &LIM, &ids, &n, &e), 400);
    assert_string_equal(e.message, "'tokens' must be an array of token ids (got a string)");
    b = "nope";
    assert_int_equal(elm_serve_detokenize_parse(b, strlen(b), &LIM, &ids, &n, &e), 400);
    assert_string_equal(e.param, "");
}

/* ---- stop strings ---- */

/* What a matcher emits for text cut into pieces at the given positions (sorted, < len), flush
 * included; *stopped says whether a stop string completed. The caller frees the result. */
static char *run_matcher(const char *const *stops, size_t n_stops, const char *text, size_t len,
                         const size_t *cuts, size_t n_cuts, bool *stopped)
{
    elm_stop_matcher_t *m;
    assert_int_equal(elm_stop_matcher_create(stops, n_stops, &m), 0);
    char *out = malloc(len + 1);
    size_t o = 0, at = 0;
    elm_stop_result_t r = {0};
    for (size_t i = 0; i <= n_cuts; i++) {
        size_t end = i < n_cuts ? cuts[i] : len;
        assert_int_equal(elm_stop_matcher_push(m, text + at, end - at, &r), 0);
        memcpy(out + o, r.text, r.len);
        o += r.len;
        at = end;
        if (r.stopped) break;
    }
    *stopped = r.stopped;
    elm_stop_matcher_flush(m, &r);
    memcpy(out + o, r.text, r.len);
    o += r.len;
    out[o] = 0;
    elm_stop_matcher_free(m);
    return out;
}

/* The oracle: text cut before the stop string that ends first (the longest at equal ends). */
static size_t expected_cut(const char *const *stops, size_t n, const char *text, size_t len)
{
    for (size_t e = 1; e <= len; e++) {
        size_t best = 0;
        for (size_t i = 0; i < n; i++) {
            size_t k = strlen(stops[i]);
            if (k && k <= e && memcmp(text + e - k, stops[i], k) == 0 && k > best) best = k;
        }
        if (best) return e - best;
    }
    return len;
}

static void test_stop_every_split(void **state)
{
    (void)state;
    const char *stops[] = {"STOP"};
    const char *text = "Hello STOP world";
    size_t len = strlen(text);
    /* one cut anywhere, two cuts anywhere: always "Hello ", never a byte of the stop string */
    for (size_t i = 0; i <= len; i++) {
        for (size_t j = i; j <= len; j++) {
            size_t cuts[2] = {i, j};
            bool stopped;
            char *out = run_matcher(stops, 1, text, len, cuts, 2, &stopped);
            assert_string_equal(out, "Hello ");
            assert_true(stopped);
            free(out);
        }
    }
    /* byte by byte, checking what each push releases */
    elm_stop_matcher_t *m;
    assert_int_equal(elm_stop_matcher_create(stops, 1, &m), 0);
    elm_stop_result_t r;
    const char *want[] = {"H", "e", "l", "l", "o", " ", "", "", "", ""};
    for (size_t i = 0; i < 10; i++) {
        assert_int_equal(elm_stop_matcher_push(m, text + i, 1, &r), 0);
        assert_int_equal(r.len, strlen(want[i]));
        assert_memory_equal(r.text, want[i], r.len);
        assert_int_equal(r.stopped, i == 9);
    }
    assert_int_equal(r.stop_index, 0);
    /* after the stop nothing more comes out */
    assert_int_equal(elm_stop_matcher_push(m, " world", 6, &r), 0);
    assert_int_equal(r.len, 0);
    assert_true(r.stopped);
    elm_stop_matcher_flush(m, &r);
    assert_int_equal(r.len, 0);
    elm_stop_matcher_free(m);
    elm_stop_matcher_free(NULL);
}

static void test_stop_prefix_released(void **state)
{
    (void)state;
    const char *stops[] = {"STOP", "END"};
    elm_stop_matcher_t *m;
    assert_int_equal(elm_stop_matcher_create(stops, 2, &m), 0);
    elm_stop_result_t r;
    assert_int_equal(elm_stop_matcher_push(m, "a STO", 5, &r), 0);
    assert_int_equal(r.len, 2); /* "STO" could still become "STOP" */
    assert_memory_equal(r.text, "a ", 2);
    assert_int_equal(elm_stop_matcher_push(m, "MP E", 4, &r), 0);
    assert_int_equal(r.len, 6); /* it did not: released, with the "E" held */
    assert_memory_equal(r.text, "STOMP ", 6);
    assert_false(r.stopped);
    assert_int_equal(elm_stop_matcher_push(m, "N", 1, &r), 0);
    assert_int_equal(r.len, 0);
    elm_stop_matcher_flush(m, &r); /* the end: what was held goes out */
    assert_int_equal(r.len, 2);
    assert_memory_equal(r.text, "EN", 2);
    assert_false(r.stopped);
    elm_stop_matcher_free(m);
}

static void test_stop_several_and_overlapping(void **state)
{
    (void)state;
    bool stopped;
    size_t cut = 3;
    /* "b" ends before "abc" does: the first stop string to complete wins, however split */
    const char *s1[] = {"abc", "b"};
    char *out = run_matcher(s1, 2, "xabc", 4, &cut, 1, &stopped);
    assert_string_equal(out, "xa");
    free(out);
    out = run_matcher(s1, 2, "xabc", 4, NULL, 0, &stopped);
    assert_string_equal(out, "xa");
    free(out);
    /* at the same end the longest wins */
    const char *s2[] = {"c", "bc"};
    out = run_matcher(s2, 2, "abcd", 4, NULL, 0, &stopped);
    assert_string_equal(out, "a");
    free(out);
    /* self-overlapping stop strings (the automaton falls back, not to zero) */
    const char *s3[] = {"aab"};
    out = run_matcher(s3, 1, "aaab", 4, NULL, 0, &stopped);
    assert_string_equal(out, "a");
    assert_true(stopped);
    free(out);
    const char *s4[] = {"abab"};
    size_t cuts[] = {1, 2, 3, 4, 5, 6, 7};
    out = run_matcher(s4, 1, "xabaabab", 8, cuts, 7, &stopped);
    assert_string_equal(out, "xaba");
    free(out);
    /* no stop strings: everything passes */
    out = run_matcher(NULL, 0, "plain", 5, cuts, 2, &stopped);
    assert_string_equal(out, "plain");
    assert_false(stopped);
    free(out);
    /* empty stop strings are ignored */
    const char *s5[] = {"", "z"};
    out = run_matcher(s5, 2, "abz", 3, NULL, 0, &stopped);
    assert_string_equal(out, "ab");
    free(out);
}

static void test_stop_against_oracle(void **state)
{
    (void)state;
    /* random texts over a small alphabet, random stops and random cuts, checked by brute force */
    elm_test_rng_t rng = {12345};
    for (int iter = 0; iter < 3000; iter++) {
        char text[40], stopbuf[3][6];
        const char *stops[3];
        size_t len = 1 + (size_t)(elm_test_uniform(&rng) * 39);
        for (size_t i = 0; i < len; i++) text[i] = "abc"[(int)(elm_test_uniform(&rng) * 3)];
        size_t n = (size_t)(elm_test_uniform(&rng) * 4);
        for (size_t s = 0; s < n; s++) {
            size_t k = 1 + (size_t)(elm_test_uniform(&rng) * 5);
            for (size_t i = 0; i < k; i++) stopbuf[s][i] = "abc"[(int)(elm_test_uniform(&rng) * 3)];
            stopbuf[s][k] = 0;
            stops[s] = stopbuf[s];
        }
        size_t cuts[8], n_cuts = (size_t)(elm_test_uniform(&rng) * 8);
        for (size_t i = 0; i < n_cuts; i++) cuts[i] = (size_t)(elm_test_uniform(&rng) * len);
        for (size_t i = 1; i < n_cuts; i++) /* insertion sort */
            for (size_t j = i; j && cuts[j] < cuts[j - 1]; j--) {
                size_t t = cuts[j];
                cuts[j] = cuts[j - 1];
                cuts[j - 1] = t;
            }
        bool stopped;
        char *out = run_matcher(stops, n, text, len, cuts, n_cuts, &stopped);
        size_t want = expected_cut(stops, n, text, len);
        assert_int_equal(strlen(out), want);
        assert_memory_equal(out, text, want);
        assert_int_equal(stopped, want < len);
        free(out);
    }
}

static void test_stop_utf8(void **state)
{
    (void)state;
    /* "café!" with the stop "é!" split inside the two-byte é */
    const char *stops[] = {"\xc3\xa9!"};
    const char *text = "caf\xc3\xa9!";
    for (size_t i = 0; i <= 6; i++) {
        bool stopped;
        char *out = run_matcher(stops, 1, text, 6, &i, 1, &stopped);
        assert_string_equal(out, "caf");
        assert_true(stopped);
        free(out);
    }
    /* "é" without "!" comes out whole, never half */
    elm_stop_matcher_t *m;
    elm_stop_result_t r;
    assert_int_equal(elm_stop_matcher_create(stops, 1, &m), 0);
    assert_int_equal(elm_stop_matcher_push(m, "caf\xc3", 4, &r), 0);
    assert_int_equal(r.len, 3);
    assert_int_equal(elm_stop_matcher_push(m, "\xa9?", 2, &r), 0);
    assert_int_equal(r.len, 3);
    assert_memory_equal(r.text, "\xc3\xa9?", 3);
    elm_stop_matcher_free(m);
    /* without stop strings an unfinished character is still held back: € in three pushes */
    assert_int_equal(elm_stop_matcher_create(NULL, 0, &m), 0);
    assert_int_equal(elm_stop_matcher_push(m, "1\xe2", 2, &r), 0);
    assert_int_equal(r.len, 1);
    assert_int_equal(elm_stop_matcher_push(m, "\x82", 1, &r), 0);
    assert_int_equal(r.len, 0);
    assert_int_equal(elm_stop_matcher_push(m, "\xac", 1, &r), 0);
    assert_int_equal(r.len, 3);
    assert_memory_equal(r.text, "\xe2\x82\xac", 3);
    /* an invalid byte is not held (it never completes); an unfinished one is flushed at the end */
    assert_int_equal(elm_stop_matcher_push(m, "\xff", 1, &r), 0);
    assert_int_equal(r.len, 1);
    assert_int_equal(elm_stop_matcher_push(m, "\xf0\x9f", 2, &r), 0);
    assert_int_equal(r.len, 0);
    elm_stop_matcher_flush(m, &r);
    assert_int_equal(r.len, 2);
    elm_stop_matcher_free(m);
}

/* ---- responses ---- */

static void check_json(char *got, const char *want)
{
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static const elm_serve_meta_t CHAT_META = {ELM_SERVE_CHAT, "chatcmpl-1", 1700000000, "tiny"};
static const elm_serve_meta_t TEXT_META = {ELM_SERVE_COMPLETION, "cmpl-1", 1700000000, "tiny"};

#define HEAD(obj, id) "{\"id\":\"" id "\",\"object\":\"" obj "\",\"created\":1700000000,\"model\":\"tiny\","
#define USAGE                                                                                      \
    "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3,\"total_tokens\":15,"                 \
    "\"prompt_tokens_details\":{\"cached_tokens\":4}}"

static void test_response_whole(void **state)
{
    (void)state;
    elm_serve_usage_t u = {12, 3, 4};
    check_json(elm_serve_response_json(&CHAT_META, "Hi \"you\"\n", 9, ELM_SERVE_FINISH_STOP, &u,
                                       NULL, 0),
               HEAD("chat.completion", "chatcmpl-1")
               "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
               "\"Hi \\\"you\\\"\\n\"},\"logprobs\":null,\"finish_reason\":\"stop\"}]," USAGE "}");
    check_json(elm_serve_response_json(&TEXT_META, "upon a time", 11, ELM_SERVE_FINISH_LENGTH, &u,
                                       NULL, 0),
               HEAD("text_completion", "cmpl-1")
               "\"choices\":[{\"index\":0,\"text\":\"upon a time\",\"logprobs\":null,"
               "\"finish_reason\":\"length\"}]," USAGE "}");
}

static void test_response_stream(void **state)
{
    (void)state;
    check_json(elm_serve_chunk_json(&CHAT_META, true, "", 0, ELM_SERVE_FINISH_NONE, NULL, 0),
               HEAD("chat.completion.chunk", "chatcmpl-1")
               "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
               "\"logprobs\":null,\"finish_reason\":null}]}");
    check_json(elm_serve_chunk_json(&CHAT_META, false, "Hel", 3, ELM_SERVE_FINISH_NONE, NULL, 0),
               HEAD("chat.completion.chunk", "chatcmpl-1")
               "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},"
               "\"logprobs\":null,\"finish_reason\":null}]}");
    check_json(elm_serve_chunk_json(&CHAT_META, false, NULL, 0, ELM_SERVE_FINISH_LENGTH, NULL, 0),
               HEAD("chat.completion.chunk", "chatcmpl-1")
               "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
               "\"finish_reason\":\"length\"}]}");
    check_json(elm_serve_chunk_json(&TEXT_META, true, "lo", 2, ELM_SERVE_FINISH_NONE, NULL, 0),
               HEAD("text_completion", "cmpl-1")
               "\"choices\":[{\"index\":0,\"text\":\"lo\",\"logprobs\":null,"
               "\"finish_reason\":null}]}");
    check_json(elm_serve_chunk_json(&TEXT_META, false, "", 0, ELM_SERVE_FINISH_STOP, NULL, 0),
               HEAD("text_completion", "cmpl-1")
               "\"choices\":[{\"index\":0,\"text\":\"\",\"logprobs\":null,"
               "\"finish_reason\":\"stop\"}]}");
    elm_serve_usage_t u = {12, 3, 4};
    check_json(elm_serve_usage_chunk_json(&CHAT_META, &u),
               HEAD("chat.completion.chunk", "chatcmpl-1") "\"choices\":[]," USAGE "}");
    check_json(elm_serve_usage_chunk_json(&TEXT_META, &u),
               HEAD("text_completion", "cmpl-1") "\"choices\":[]," USAGE "}");

    size_t n;
    char *ev = elm_serve_sse_event("{\"a\":1}", &n);
    assert_string_equal(ev, "data: {\"a\":1}\n\n");
    assert_int_equal(n, strlen(ev));
    free(ev);
    assert_string_equal(ELM_SERVE_SSE_DONE, "data: [DONE]\n\n");

    char id[40];
    elm_serve_make_id(id, sizeof id, ELM_SERVE_CHAT, 0xabcULL);
    assert_string_equal(id, "chatcmpl-0000000000000abc");
    elm_serve_make_id(id, sizeof id, ELM_SERVE_COMPLETION, UINT64_MAX);
    assert_string_equal(id, "cmpl-ffffffffffffffff");
}

static void test_response_logprobs(void **state)
{
    (void)state;
    elm_serve_token_logprob_t top0[] = {{"Hi", 2, -0.25f}, {"Yo", 2, -1.5f}};
    elm_serve_token_logprob_t top1[] = {{"!", 1, -0.5f}};
    elm_serve_logprob_t lp[] = {{{"Hi", 2, -0.25f}, top0, 2}, {{"!", 1, -0.5f}, top1, 1}};
    check_json(elm_serve_chunk_json(&CHAT_META, false, "Hi!", 3, ELM_SERVE_FINISH_NONE, lp, 2),
               HEAD("chat.completion.chunk", "chatcmpl-1")
               "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi!\"},\"logprobs\":{\"content\":["
               "{\"token\":\"Hi\",\"logprob\":-0.25,\"bytes\":[72,105],\"top_logprobs\":["
               "{\"token\":\"Hi\",\"logprob\":-0.25,\"bytes\":[72,105]},"
               "{\"token\":\"Yo\",\"logprob\":-1.5,\"bytes\":[89,111]}]},"
               "{\"token\":\"!\",\"logprob\":-0.5,\"bytes\":[33],\"top_logprobs\":["
               "{\"token\":\"!\",\"logprob\":-0.5,\"bytes\":[33]}]}]},"
               "\"finish_reason\":null}]}");
    check_json(elm_serve_response_json(&TEXT_META, "Hi!", 3, ELM_SERVE_FINISH_STOP, NULL, lp, 2),
               HEAD("text_completion", "cmpl-1")
               "\"choices\":[{\"index\":0,\"text\":\"Hi!\",\"logprobs\":{"
               "\"tokens\":[\"Hi\",\"!\"],\"token_logprobs\":[-0.25,-0.5],"
               "\"top_logprobs\":[{\"Hi\":-0.25,\"Yo\":-1.5},{\"!\":-0.5}],"
               "\"text_offset\":[0,2]},\"finish_reason\":\"stop\"}],\"usage\":null}");
    /* logprobs asked for but no tokens yet: an empty list, not null */
    check_json(elm_serve_chunk_json(&CHAT_META, false, "", 0, ELM_SERVE_FINISH_STOP, lp, 0),
               HEAD("chat.completion.chunk", "chatcmpl-1")
               "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":{\"content\":[]},"
               "\"finish_reason\":\"stop\"}]}");
}

static void test_response_other_bodies(void **state)
{
    (void)state;
    elm_serve_error_t e;
    assert_int_equal(elm_serve_error_set(&e, 400, "invalid_request_error", "temperature", NULL,
                                         "'%s' is bad", "temperature"),
                     400);
    check_json(elm_serve_error_json(&e),
               "{\"error\":{\"message\":\"'temperature' is bad\",\"type\":\"invalid_request_error\","
               "\"param\":\"temperature\",\"code\":null}}");
    elm_serve_error_set(&e, 404, "not_found_error", NULL, "model_not_found", "no model \"x\"");
    check_json(elm_serve_error_json(&e),
               "{\"error\":{\"message\":\"no model \\\"x\\\"\",\"type\":\"not_found_error\","
               "\"param\":null,\"code\":\"model_not_found\"}}");
    assert_int_equal(elm_serve_error_set(NULL, 503, "x", NULL, NULL, "y"), 503);

    check_json(elm_serve_models_json("stories260K", 1700000000, "edgelm"),
               "{\"object\":\"list\",\"data\":[{\"id\":\"stories260K\",\"object\":\"model\","
               "\"created\":1700000000,\"owned_by\":\"edgelm\"}]}");
    int32_t ids[] = {1, 15043, 0};
    check_json(elm_serve_tokens_json(ids, 3), "{\"tokens\":[1,15043,0]}");
    check_json(elm_serve_tokens_json(NULL, 0), "{\"tokens\":[]}");
    check_json(elm_serve_content_json("a\tb", 3), "{\"content\":\"a\\tb\"}");
    /* bytes that are not UTF-8, and NUL, become U+FFFD; good multibyte text passes */
    check_json(elm_serve_content_json("\xc3\xa9\xff\xe2\x82x\0y", 8),
               "{\"content\":\"\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdx\xef\xbf\xbdy\"}");
}

/* ---- metrics ---- */

static void test_metrics_render_exact(void **state)
{
    (void)state;
    elm_metrics_t *m;
    assert_int_equal(elm_metrics_create(&m), 0);
    const char *labels[] = {"endpoint", "status"};
    const double buckets[] = {0.1, 1, 2.5};
    assert_int_equal(elm_metrics_add(m, "t_requests_total", "Requests.\nBy \\ status.",
                                     ELM_METRIC_COUNTER, labels, 2, NULL, 0),
                     0);
    assert_int_equal(elm_metrics_add(m, "t_running", "Running.", ELM_METRIC_GAUGE, NULL, 0, NULL, 0),
                     0);
    assert_int_equal(elm_metrics_add(m, "t_latency_seconds", "Latency.", ELM_METRIC_HISTOGRAM,
                                     NULL, 0, buckets, 3),
                     0);
    assert_int_equal(elm_metrics_add(m, "t_running", "again", ELM_METRIC_GAUGE, NULL, 0, NULL, 0),
                     ELM_EEXIST);
    assert_int_equal(elm_metrics_add(m, "9bad", "", ELM_METRIC_GAUGE, NULL, 0, NULL, 0), ELM_EINVAL);
    const char *le[] = {"le"};
    assert_int_equal(elm_metrics_add(m, "h2", "", ELM_METRIC_HISTOGRAM, le, 1, buckets, 3),
                     ELM_EINVAL);
    const double unordered[] = {1, 0.5};
    assert_int_equal(elm_metrics_add(m, "h3", "", ELM_METRIC_HISTOGRAM, NULL, 0, unordered, 2),
                     ELM_EINVAL);

    /* before any update: the unlabelled families show zero, the labelled one no series */
    char *text = elm_metrics_render(m);
    assert_string_equal(text, "# HELP t_requests_total Requests.\\nBy \\\\ status.\n"
                              "# TYPE t_requests_total counter\n"
                              "# HELP t_running Running.\n"
                              "# TYPE t_running gauge\n"
                              "t_running 0\n"
                              "# HELP t_latency_seconds Latency.\n"
                              "# TYPE t_latency_seconds histogram\n"
                              "t_latency_seconds_bucket{le=\"0.1\"} 0\n"
                              "t_latency_seconds_bucket{le=\"1\"} 0\n"
                              "t_latency_seconds_bucket{le=\"2.5\"} 0\n"
                              "t_latency_seconds_bucket{le=\"+Inf\"} 0\n"
                              "t_latency_seconds_sum 0\n"
                              "t_latency_seconds_count 0\n");
    free(text);

    const char *ok[] = {"chat", "200"}, *bad[] = {"chat", "4\"0\\0\n"};
    assert_int_equal(elm_metrics_inc(m, "t_requests_total", ok, 1), 0);
    assert_int_equal(elm_metrics_inc(m, "t_requests_total", ok, 2), 0);
    assert_int_equal(elm_metrics_inc(m, "t_requests_total", bad, 1), 0);
    assert_int_equal(elm_metrics_set(m, "t_running", NULL, 0.1), 0);
    assert_int_equal(elm_metrics_observe(m, "t_latency_seconds", NULL, 0.1), 0); /* le is <= */
    assert_int_equal(elm_metrics_observe(m, "t_latency_seconds", NULL, 2), 0);
    assert_int_equal(elm_metrics_observe(m, "t_latency_seconds", NULL, 7), 0);
    /* the errors */
    assert_int_equal(elm_metrics_inc(m, "nope", NULL, 1), ELM_ENOKEY);
    assert_int_equal(elm_metrics_set(m, "t_requests_total", ok, 1), ELM_EKEYTYPE);
    assert_int_equal(elm_metrics_inc(m, "t_requests_total", ok, -1), ELM_EINVAL);
    assert_int_equal(elm_metrics_inc(m, "t_requests_total", NULL, 1), ELM_EINVAL);
    assert_int_equal(elm_metrics_set(m, "t_running", NULL, NAN), ELM_EINVAL);
    assert_true(elm_metrics_get(m, "t_requests_total", ok) == 3);
    assert_true(elm_metrics_get(m, "t_latency_seconds", NULL) == 3);
    assert_true(elm_metrics_get(m, "nope", NULL) == 0);

    text = elm_metrics_render(m);
    assert_string_equal(text, "# HELP t_requests_total Requests.\\nBy \\\\ status.\n"
                              "# TYPE t_requests_total counter\n"
                              "t_requests_total{endpoint=\"chat\",status=\"200\"} 3\n"
                              "t_requests_total{endpoint=\"chat\",status=\"4\\\"0\\\\0\\n\"} 1\n"
                              "# HELP t_running Running.\n"
                              "# TYPE t_running gauge\n"
                              "t_running 0.1\n"
                              "# HELP t_latency_seconds Latency.\n"
                              "# TYPE t_latency_seconds histogram\n"
                              "t_latency_seconds_bucket{le=\"0.1\"} 1\n"
                              "t_latency_seconds_bucket{le=\"1\"} 1\n"
                              "t_latency_seconds_bucket{le=\"2.5\"} 2\n"
                              "t_latency_seconds_bucket{le=\"+Inf\"} 3\n"
                              "t_latency_seconds_sum 9.1\n"
                              "t_latency_seconds_count 3\n");
    free(text);
    elm_metrics_free(m);
    elm_metrics_free(NULL);
}

/* One parsed sample line: name{labels} value. */
typedef struct {
    char name[96], labels[160];
    double value;
} sample_t;

static bool parse_sample(const char *line, sample_t *s)
{
    const char *brace = strchr(line, '{'), *space = strrchr(line, ' ');
    if (!space) return false;
    const char *name_end = brace && brace < space ? brace : space;
    snprintf(s->name, sizeof s->name, "%.*s", (int)(name_end - line), line);
    s->labels[0] = 0;
    if (brace && brace < space) snprintf(s->labels, sizeof s->labels, "%.*s",
                                         (int)(space - brace), brace);
    char *end;
    s->value = strtod(space + 1, &end);
    return *end == 0 && end != space + 1;
}

static void test_metrics_serve_parse_back(void **state)
{
    (void)state;
    elm_metrics_t *m;
    assert_int_equal(elm_serve_metrics_create(true, &m), 0);
    const char *chat200[] = {"chat", "200"}, *comp400[] = {"completions", "400"};
    const char *rapl[] = {"rapl"};
    assert_int_equal(elm_metrics_inc(m, "edgelm_requests_total", chat200, 1), 0);
    assert_int_equal(elm_metrics_inc(m, "edgelm_requests_total", chat200, 1), 0);
    assert_int_equal(elm_metrics_inc(m, "edgelm_requests_total", comp400, 1), 0);
    assert_int_equal(elm_metrics_inc(m, "edgelm_prompt_tokens_total", NULL, 40), 0);
    assert_int_equal(elm_metrics_inc(m, "edgelm_prompt_tokens_cached_total", NULL, 16), 0);
    assert_int_equal(elm_metrics_inc(m, "edgelm_generation_tokens_total", NULL, 25), 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(elm_metrics_observe(m, "edgelm_time_to_first_token_seconds", NULL,
                                             0.02 * (i + 1)),
                         0);
    assert_int_equal(elm_metrics_observe(m, "edgelm_time_per_output_token_seconds", NULL, 0.03), 0);
    assert_int_equal(elm_metrics_observe(m, "edgelm_e2e_request_latency_seconds", NULL, 1.2), 0);
    assert_int_equal(elm_metrics_observe(m, "edgelm_queue_time_seconds", NULL, 0), 0);
    assert_int_equal(elm_metrics_set(m, "edgelm_requests_running", NULL, 2), 0);
    assert_int_equal(elm_metrics_set(m, "edgelm_requests_waiting", NULL, 1), 0);
    assert_int_equal(elm_metrics_set(m, "edgelm_kv_cache_usage_ratio", NULL, 0.375), 0);
    assert_int_equal(elm_metrics_set(m, "edgelm_slots_total", NULL, 4), 0);
    assert_int_equal(elm_metrics_inc(m, "edgelm_energy_joules_total", rapl, 12.5), 0);
    assert_int_equal(elm_metrics_set(m, "edgelm_power_watts", rapl, 6.25), 0);
    char *text = elm_metrics_render(m);
    assert_non_null(text);

    /* every line is a comment or a sample of the family last announced by # TYPE */
    struct {
        const char *name, *labels;
        double value;
        bool seen;
    } want[] = {
        {"edgelm_requests_total", "{endpoint=\"chat\",status=\"200\"}", 2, false},
        {"edgelm_requests_total", "{endpoint=\"completions\",status=\"400\"}", 1, false},
        {"edgelm_prompt_tokens_total", "", 40, false},
        {"edgelm_prompt_tokens_cached_total", "", 16, false},
        {"edgelm_generation_tokens_total", "", 25, false},
        {"edgelm_time_to_first_token_seconds_count", "", 5, false},
        {"edgelm_time_to_first_token_seconds_sum", "", 0.3, false},
        {"edgelm_time_to_first_token_seconds_bucket", "{le=\"0.05\"}", 2, false},
        {"edgelm_time_to_first_token_seconds_bucket", "{le=\"0.1\"}", 5, false},
        {"edgelm_time_to_first_token_seconds_bucket", "{le=\"+Inf\"}", 5, false},
        {"edgelm_time_per_output_token_seconds_count", "", 1, false},
        {"edgelm_e2e_request_latency_seconds_sum", "", 1.2, false},
        {"edgelm_queue_time_seconds_bucket", "{le=\"0.01\"}", 1, false},
        {"edgelm_requests_running", "", 2, false},
        {"edgelm_requests_waiting", "", 1, false},
        {"edgelm_kv_cache_usage_ratio", "", 0.375, false},
        {"edgelm_slots_total", "", 4, false},
        {"edgelm_energy_joules_total", "{source=\"rapl\"}", 12.5, false},
        {"edgelm_power_watts", "{source=\"rapl\"}", 6.25, false},
    };
    size_t n_want = sizeof want / sizeof want[0];
    char family[96] = "", *save = NULL;
    int n_families = 0;
    double last_bucket = -1;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "# HELP ", 7) == 0) continue;
        if (strncmp(line, "# TYPE ", 7) == 0) {
            sscanf(line + 7, "%95s", family);
            n_families++;
            last_bucket = -1;
            continue;
        }
        sample_t s;
        assert_true(parse_sample(line, &s));
        assert_true(strncmp(s.name, family, strlen(family)) == 0);
        if (strstr(s.name, "_bucket")) { /* cumulative */
            assert_true(s.value >= last_bucket);
            last_bucket = s.value;
        }
        for (size_t i = 0; i < n_want; i++)
            if (strcmp(s.name, want[i].name) == 0 && strcmp(s.labels, want[i].labels) == 0) {
                assert_true(fabs(s.value - want[i].value) < 1e-12);
                want[i].seen = true;
            }
    }
    for (size_t i = 0; i < n_want; i++)
        if (!want[i].seen) fail_msg("%s%s missing from the rendering", want[i].name, want[i].labels);
    assert_int_equal(n_families, 14);
    free(text);
    elm_metrics_free(m);

    /* without a power source the energy families are not there */
    assert_int_equal(elm_serve_metrics_create(false, &m), 0);
    text = elm_metrics_render(m);
    assert_null(strstr(text, "edgelm_power_watts"));
    assert_non_null(strstr(text, "edgelm_slots_total 0\n"));
    free(text);
    elm_metrics_free(m);
}

static void *bump(void *arg)
{
    const char *v[] = {"chat", "200"};
    for (int i = 0; i < 20000; i++) elm_metrics_inc(arg, "edgelm_requests_total", v, 1);
    return NULL;
}

static void test_metrics_threads(void **state)
{
    (void)state;
    elm_metrics_t *m;
    assert_int_equal(elm_serve_metrics_create(false, &m), 0);
    pthread_t t[4];
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&t[i], NULL, bump, m), 0);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    const char *v[] = {"chat", "200"};
    assert_true(elm_metrics_get(m, "edgelm_requests_total", v) == 80000);
    elm_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_chat_defaults),
        cmocka_unit_test(test_request_chat_every_field),
        cmocka_unit_test(test_request_nulls_and_edges),
        cmocka_unit_test(test_request_completion),
        cmocka_unit_test(test_request_errors),
        cmocka_unit_test(test_request_too_large),
        cmocka_unit_test(test_tokenize_bodies),
        cmocka_unit_test(test_stop_every_split),
        cmocka_unit_test(test_stop_prefix_released),
        cmocka_unit_test(test_stop_several_and_overlapping),
        cmocka_unit_test(test_stop_against_oracle),
        cmocka_unit_test(test_stop_utf8),
        cmocka_unit_test(test_response_whole),
        cmocka_unit_test(test_response_stream),
        cmocka_unit_test(test_response_logprobs),
        cmocka_unit_test(test_response_other_bodies),
        cmocka_unit_test(test_metrics_render_exact),
        cmocka_unit_test(test_metrics_serve_parse_back),
        cmocka_unit_test(test_metrics_threads),
    };
    return cmocka_run_group_tests_name("serve", tests, NULL, NULL);
}
