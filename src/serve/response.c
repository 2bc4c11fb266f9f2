/* Response bodies of the serve endpoints in the shapes OpenAI's API and llama-server use: whole
 * and streamed completions (chat and text), usage, errors, the model list, /tokenize and
 * /detokenize answers, and the SSE framing around chunks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "edgelm/serve.h"
#include "serve/serve_internal.h"

/* ---- building blocks ---- */

/* A JSON string of text[0..len): bytes that are not UTF-8 (and NULs, which cJSON cannot hold)
 * become U+FFFD, so a model's broken byte tokens never make the body invalid JSON. */
static cJSON *string_of(const char *text, size_t len)
{
    /* each bad byte grows to three */
    char *p = malloc(len * 3 + 1);
    if (!p) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        int n = text[i] ? elm__serve_utf8_char((const uint8_t *)text + i, len - i) : -1;
        if (n <= 0) {
            memcpy(p + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
            continue;
        }
        memcpy(p + o, text + i, (size_t)n);
        o += (size_t)n;
        i += (size_t)n;
    }
    p[o] = 0;
    cJSON *s = cJSON_CreateString(p);
    free(p);
    return s;
}

/* Attach item to parent (under key, or appended when key is NULL) and return it; when either is
 * missing, free item, clear *ok and return NULL. Children are attached before they are filled,
 * so the tree owns every node and one cJSON_Delete of the root frees all. */
static cJSON *add(cJSON *parent, const char *key, cJSON *item, bool *ok)
{
    if (!parent || !item) {
        cJSON_Delete(item);
        *ok = false;
        return NULL;
    }
    if (key) cJSON_AddItemToObject(parent, key, item);
    else cJSON_AddItemToArray(parent, item);
    return item;
}

static void add_text(cJSON *obj, const char *key, const char *text, size_t len, bool *ok)
{
    add(obj, key, string_of(text ? text : "", text ? len : 0), ok);
}

static void add_num(cJSON *obj, const char *key, double v, bool *ok)
{
    add(obj, key, cJSON_CreateNumber(v), ok);
}

static void add_str(cJSON *obj, const char *key, const char *s, bool *ok)
{
    add(obj, key, cJSON_CreateString(s ? s : ""), ok);
}

/* A string, or null for an empty one (the error's param and code). */
static cJSON *string_or_null(const char *s)
{
    return s && s[0] ? cJSON_CreateString(s) : cJSON_CreateNull();
}

/* Print and free root: the malloc'd compact JSON, or NULL when anything failed to build. */
static char *finish(cJSON *root, bool ok)
{
    char *s = ok && root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return s;
}

/* {"id","object","created","model"}: what every completion body starts with. */
static cJSON *head(const elm_serve_meta_t *m, bool chunk, bool *ok)
{
    const char *object = m->endpoint == ELM_SERVE_COMPLETION ? "text_completion"
                         : chunk                             ? "chat.completion.chunk"
                                                             : "chat.completion";
    cJSON *root = cJSON_CreateObject();
    *ok = root != NULL;
    add_str(root, "id", m->id, ok);
    add_str(root, "object", object, ok);
    add_num(root, "created", (double)m->created, ok);
    add_str(root, "model", m->model, ok);
    return root;
}

static void add_usage(cJSON *parent, const elm_serve_usage_t *u, bool *ok)
{
    cJSON *o = add(parent, "usage", cJSON_CreateObject(), ok);
    add_num(o, "prompt_tokens", u->prompt_tokens, ok);
    add_num(o, "completion_tokens", u->completion_tokens, ok);
    add_num(o, "total_tokens", (double)u->prompt_tokens + u->completion_tokens, ok);
    cJSON *details = add(o, "prompt_tokens_details", cJSON_CreateObject(), ok);
    add_num(details, "cached_tokens", u->cached_tokens, ok);
}

/* ---- logprobs ---- */

/* {"token","logprob","bytes"}: chat's entry for one token or one alternative. */
static cJSON *add_chat_token(cJSON *parent, const elm_serve_token_logprob_t *t, bool *ok)
{
    cJSON *o = add(parent, NULL, cJSON_CreateObject(), ok);
    add_text(o, "token", t->text, t->len, ok);
    add_num(o, "logprob", t->logprob, ok);
    cJSON *bytes = add(o, "bytes", cJSON_CreateArray(), ok);
    for (size_t i = 0; *ok && i < t->len; i++) add_num(bytes, NULL, (uint8_t)t->text[i], ok);
    return o;
}

/* Chat: {"content":[{token, logprob, bytes, top_logprobs:[{token, logprob, bytes}]}]}. */
static void add_chat_logprobs(cJSON *o, const elm_serve_logprob_t *lp, size_t n, bool *ok)
{
    cJSON *content = add(o, "content", cJSON_CreateArray(), ok);
    for (size_t i = 0; *ok && i < n; i++) {
        cJSON *e = add_chat_token(content, &lp[i].token, ok);
        cJSON *top = add(e, "top_logprobs", cJSON_CreateArray(), ok);
        for (size_t j = 0; *ok && j < lp[i].n_top; j++) add_chat_token(top, &lp[i].top[j], ok);
    }
}

/* The legacy completions shape: parallel arrays tokens, token_logprobs, top_logprobs (one
 * {text: logprob} object per token) and text_offset (from the start of the generated text). */
static void add_text_logprobs(cJSON *o, const elm_serve_logprob_t *lp, size_t n, bool *ok)
{
    cJSON *tokens = add(o, "tokens", cJSON_CreateArray(), ok);
    cJSON *lps = add(o, "token_logprobs", cJSON_CreateArray(), ok);
    cJSON *tops = add(o, "top_logprobs", cJSON_CreateArray(), ok);
    cJSON *offs = add(o, "text_offset", cJSON_CreateArray(), ok);
    size_t off = 0;
    for (size_t i = 0; *ok && i < n; i++) {
        add(tokens, NULL, string_of(lp[i].token.text, lp[i].token.len), ok);
        add_num(lps, NULL, lp[i].token.logprob, ok);
        add_num(offs, NULL, (double)off, ok);
        cJSON *top = add(tops, NULL, cJSON_CreateObject(), ok);
        for (size_t j = 0; *ok && j < lp[i].n_top; j++) {
            /* the key is the alternative's text, made valid UTF-8 like every string */
            cJSON *k = string_of(lp[i].top[j].text, lp[i].top[j].len);
            if (k) add_num(top, k->valuestring, lp[i].top[j].logprob, ok);
            else *ok = false;
            cJSON_Delete(k);
        }
        off += lp[i].token.len;
    }
}

/* ---- completions ---- */

/* "choices": [{"index": 0}] with the one choice returned for the caller to fill. */
static cJSON *add_choice(cJSON *root, bool *ok)
{
    cJSON *choices = add(root, "choices", cJSON_CreateArray(), ok);
    cJSON *c = add(choices, NULL, cJSON_CreateObject(), ok);
    add_num(c, "index", 0, ok);
    return c;
}

/* The choice's closing fields: "logprobs" (null when lp is NULL) and "finish_reason". */
static void end_choice(cJSON *c, const elm_serve_meta_t *m, elm_serve_finish_t f,
                       const elm_serve_logprob_t *lp, size_t n_lp, bool *ok)
{
    if (!lp) {
        add(c, "logprobs", cJSON_CreateNull(), ok);
    } else {
        cJSON *o = add(c, "logprobs", cJSON_CreateObject(), ok);
        if (m->endpoint == ELM_SERVE_CHAT) add_chat_logprobs(o, lp, n_lp, ok);
        else add_text_logprobs(o, lp, n_lp, ok);
    }
    if (f == ELM_SERVE_FINISH_NONE) add(c, "finish_reason", cJSON_CreateNull(), ok);
    else add_str(c, "finish_reason", f == ELM_SERVE_FINISH_STOP ? "stop" : "length", ok);
}

char *elm_serve_response_json(const elm_serve_meta_t *m, const char *text, size_t len,
                              elm_serve_finish_t f, const elm_serve_usage_t *u,
                              const elm_serve_logprob_t *lp, size_t n_lp)
{
    bool ok;
    cJSON *root = head(m, false, &ok);
    cJSON *c = add_choice(root, &ok);
    if (m->endpoint == ELM_SERVE_CHAT) {
        cJSON *msg = add(c, "message", cJSON_CreateObject(), &ok);
        add_str(msg, "role", "assistant", &ok);
        add_text(msg, "content", text, len, &ok);
    } else {
        add_text(c, "text", text, len, &ok);
    }
    end_choice(c, m, f, lp, n_lp, &ok);
    if (u) add_usage(root, u, &ok);
    else add(root, "usage", cJSON_CreateNull(), &ok);
    return finish(root, ok);
}

char *elm_serve_chunk_json(const elm_serve_meta_t *m, bool first, const char *text, size_t len,
                           elm_serve_finish_t f, const elm_serve_logprob_t *lp, size_t n_lp)
{
    bool ok;
    cJSON *root = head(m, true, &ok);
    cJSON *c = add_choice(root, &ok);
    if (m->endpoint == ELM_SERVE_CHAT) {
        /* the role goes in the first delta; the final chunk's delta is empty unless it has text */
        cJSON *delta = add(c, "delta", cJSON_CreateObject(), &ok);
        if (first) add_str(delta, "role", "assistant", &ok);
        if (len || f == ELM_SERVE_FINISH_NONE) add_text(delta, "content", text, len, &ok);
    } else {
        add_text(c, "text", text, len, &ok);
    }
    end_choice(c, m, f, lp, n_lp, &ok);
    return finish(root, ok);
}

char *elm_serve_usage_chunk_json(const elm_serve_meta_t *m, const elm_serve_usage_t *u)
{
    bool ok;
    cJSON *root = head(m, true, &ok);
    add(root, "choices", cJSON_CreateArray(), &ok);
    add_usage(root, u, &ok);
    return finish(root, ok);
}

void elm_serve_make_id(char *buf, size_t size, elm_serve_endpoint_t ep, uint64_t r)
{
    snprintf(buf, size, "%s%016llx", ep == ELM_SERVE_CHAT ? "chatcmpl-" : "cmpl-",
             (unsigned long long)r);
}

char *elm_serve_sse_event(const char *json, size_t *len_out)
{
    size_t n = strlen(json);
    char *p = malloc(n + 9);
    if (!p) return NULL;
    memcpy(p, "data: ", 6);
    memcpy(p + 6, json, n);
    memcpy(p + 6 + n, "\n\n", 3);
    if (len_out) *len_out = n + 8;
    return p;
}

/* ---- the other endpoints ---- */

char *elm_serve_error_json(const elm_serve_error_t *e)
{
    bool ok = true;
    cJSON *root = cJSON_CreateObject();
    cJSON *err = add(root, "error", cJSON_CreateObject(), &ok);
    add_str(err, "message", e->message, &ok);
    add_str(err, "type", e->type[0] ? e->type : "server_error", &ok);
    add(err, "param", string_or_null(e->param), &ok);
    add(err, "code", string_or_null(e->code), &ok);
    return finish(root, ok);
}

char *elm_serve_models_json(const char *id, int64_t created, const char *owned_by)
{
    bool ok = true;
    cJSON *root = cJSON_CreateObject();
    add_str(root, "object", "list", &ok);
    cJSON *data = add(root, "data", cJSON_CreateArray(), &ok);
    cJSON *model = add(data, NULL, cJSON_CreateObject(), &ok);
    add_str(model, "id", id, &ok);
    add_str(model, "object", "model", &ok);
    add_num(model, "created", (double)created, &ok);
    add_str(model, "owned_by", owned_by, &ok);
    return finish(root, ok);
}

char *elm_serve_tokens_json(const int32_t *ids, size_t n)
{
    bool ok = true;
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = add(root, "tokens", cJSON_CreateArray(), &ok);
    for (size_t i = 0; ok && i < n; i++) add_num(arr, NULL, ids[i], &ok);
    return finish(root, ok);
}

char *elm_serve_content_json(const char *text, size_t len)
{
    bool ok = true;
    cJSON *root = cJSON_CreateObject();
    add_text(root, "content", text, len, &ok);
    return finish(root, ok);
}
