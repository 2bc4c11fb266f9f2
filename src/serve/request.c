/* Request bodies of the serve endpoints parsed into parameters: chat and text completions with
 * their sampler fields, and llama-server's /tokenize and /detokenize bodies. Every rejection is a
 * 400 (413 for size) in OpenAI's error shape naming the field and what it accepts. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "edgelm/serve.h"

#define BAD "invalid_request_error"

int elm_serve_error_set(elm_serve_error_t *e, int status, const char *type, const char *param,
                        const char *code, const char *fmt, ...)
{
    if (!e) return status;
    e->status = status;
    snprintf(e->type, sizeof e->type, "%s", type ? type : "");
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    snprintf(e->code, sizeof e->code, "%s", code ? code : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return status;
}

static int oom(elm_serve_error_t *e)
{
    return elm_serve_error_set(e, 500, "server_error", NULL, NULL, "out of memory");
}

/* ---- JSON helpers ---- */

/* What a value is, for messages: "got a string". */
static const char *kind(const cJSON *v)
{
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "null";
}

/* The member key of obj, NULL when absent or null (OpenAI treats null as not given). */
static const cJSON *member(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNull(v) ? NULL : v;
}

/* A number in [lo, hi] (lo excluded when lo_open) into *out. */
static int want_number(const cJSON *v, const char *param, double lo, double hi, bool lo_open,
                       double *out, elm_serve_error_t *e)
{
    double x = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!isfinite(x) || x < lo || (lo_open && x == lo) || x > hi) {
        char got[48];
        if (cJSON_IsNumber(v)) snprintf(got, sizeof got, "%g", v->valuedouble);
        else snprintf(got, sizeof got, "%s", kind(v));
        if (lo_open)
            return elm_serve_error_set(e, 400, BAD, param, NULL,
                                       "'%s' must be a number greater than %g (got %s)", param,
                                       lo, got);
        return elm_serve_error_set(e, 400, BAD, param, NULL,
                                   "'%s' must be a number from %g to %g (got %s)", param, lo, hi,
                                   got);
    }
    *out = x;
    return 0;
}

/* An integer in [lo, hi] into *out. */
static int want_int(const cJSON *v, const char *param, double lo, double hi, double *out,
                    elm_serve_error_t *e)
{
    double x = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!isfinite(x) || x != floor(x) || x < lo || x > hi) {
        char got[48];
        if (cJSON_IsNumber(v)) snprintf(got, sizeof got, "%g", v->valuedouble);
        else snprintf(got, sizeof got, "%s", kind(v));
        return elm_serve_error_set(e, 400, BAD, param, NULL,
                                   "'%s' must be an integer from %.0f to %.0f (got %s)", param, lo,
                                   hi, got);
    }
    *out = x;
    return 0;
}

static int want_bool(const cJSON *v, const char *param, bool *out, elm_serve_error_t *e)
{
    if (!cJSON_IsBool(v))
        return elm_serve_error_set(e, 400, BAD, param, NULL,
                                   "'%s' must be true or false (got %s)", param, kind(v));
    *out = cJSON_IsTrue(v);
    return 0;
}

/* A malloc'd copy of a string value; *len its length. */
static char *dup_string(const cJSON *v, size_t *len)
{
    size_t n = strlen(v->valuestring);
    char *p = malloc(n + 1);
    if (p) memcpy(p, v->valuestring, n + 1);
    if (len) *len = n;
    return p;
}

/* The body as a JSON object: 413 over the limit, 400 for anything that is not one object. */
static int parse_body(const char *body, size_t len, const elm_serve_limits_t *lim, cJSON **root,
                      elm_serve_error_t *e)
{
    *root = NULL;
    if (lim && lim->max_body && len > lim->max_body)
        return elm_serve_error_set(e, 413, BAD, NULL, NULL,
                                   "request body is %zu bytes; the limit is %zu bytes", len,
                                   lim->max_body);
    const char *end = NULL;
    cJSON *r = len ? cJSON_ParseWithLengthOpts(body, len, &end, 0) : NULL;
    if (r) {
        /* cJSON stops after the first value; anything but whitespace after it is invalid */
        size_t at = (size_t)(end - body);
        while (at < len && body[at] && strchr(" \t\r\n", body[at])) at++;
        if (at < len) {
            cJSON_Delete(r);
            r = NULL;
            end = body + at;
        }
    }
    if (!r) {
        size_t at = end && end >= body ? (size_t)(end - body) : 0;
        if (!len || at > len) at = len;
        return elm_serve_error_set(e, 400, BAD, NULL, NULL,
                                   "request body is not valid JSON (error at byte %zu)", at);
    }
    if (!cJSON_IsObject(r)) {
        cJSON_Delete(r);
        return elm_serve_error_set(e, 400, BAD, NULL, NULL,
                                   "request body must be a JSON object (got %s)", kind(r));
    }
    *root = r;
    return 0;
}

/* A non-empty array of token ids (integers in [0, INT32_MAX]) into a malloc'd *ids. */
static int parse_ids(const cJSON *arr, const char *param, int32_t **ids, size_t *n,
                     elm_serve_error_t *e)
{
    *ids = NULL;
    *n = 0;
    int count = cJSON_GetArraySize(arr);
    if (count == 0) return 0;
    int32_t *p = malloc((size_t)count * sizeof *p);
    if (!p) return oom(e);
    size_t i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, arr)
    {
        double x = 0;
        char where[64];
        snprintf(where, sizeof where, "%s[%zu]", param, i);
        if (want_int(v, where, 0, INT32_MAX, &x, e)) {
            free(p);
            return 400;
        }
        p[i++] = (int32_t)x;
    }
    *ids = p;
    *n = i;
    return 0;
}

/* ---- chat messages ---- */

/* content: a string, or an array of {"type":"text","text":...} parts joined in order. */
static int parse_content(const cJSON *c, size_t i, elm_serve_message_t *m, elm_serve_error_t *e)
{
    char param[96];
    snprintf(param, sizeof param, "messages[%zu].content", i);
    if (cJSON_IsString(c)) {
        m->text = dup_string(c, &m->len);
        return m->text ? 0 : oom(e);
    }
    if (!cJSON_IsArray(c))
        return elm_serve_error_set(e, 400, BAD, param, NULL,
                                   "'%s' must be a string or an array of text parts (got %s)",
                                   param, kind(c));
    elm_sbuf_t b = {0};
    size_t j = 0;
    int rc = 400;
    const cJSON *part;
    cJSON_ArrayForEach(part, c)
    {
        char where[128];
        snprintf(where, sizeof where, "%s[%zu]", param, j);
        const cJSON *type = cJSON_IsObject(part) ? member(part, "type") : NULL;
        if (!cJSON_IsString(type)) {
            rc = elm_serve_error_set(e, 400, BAD, where, NULL,
                                     "'%s' must be an object {\"type\": \"text\", \"text\": ...}",
                                     where);
            goto fail;
        }
        if (strcmp(type->valuestring, "text") != 0) {
            snprintf(where, sizeof where, "%s[%zu].type", param, j);
            rc = elm_serve_error_set(e, 400, BAD, where, NULL,
                                     "'%s' must be \"text\": edgelm serves text models (got \"%.32s\")",
                                     where, type->valuestring);
            goto fail;
        }
        const cJSON *text = member(part, "text");
        if (!cJSON_IsString(text)) {
            snprintf(where, sizeof where, "%s[%zu].text", param, j);
            rc = elm_serve_error_set(e, 400, BAD, where, NULL, "'%s' must be a string (got %s)",
                                     where, kind(text));
            goto fail;
        }
        elm_sbuf_printf(&b, "%s", text->valuestring);
        j++;
    }
    if (!b.p && !b.oom) elm_sbuf_printf(&b, "%s", ""); /* no parts: empty text */
    if (b.oom) {
        rc = oom(e);
        goto fail;
    }
    m->text = b.p;
    m->len = b.len;
    return 0;
fail:
    free(b.p);
    return rc;
}

static int parse_messages(const cJSON *root, elm_serve_request_t *r, elm_serve_error_t *e)
{
    const cJSON *msgs = member(root, "messages");
    if (!msgs)
        return elm_serve_error_set(e, 400, BAD, "messages", NULL,
                                   "'messages' is required: an array of {role, content} objects");
    if (!cJSON_IsArray(msgs))
        return elm_serve_error_set(e, 400, BAD, "messages", NULL,
                                   "'messages' must be an array of {role, content} objects (got %s)",
                                   kind(msgs));
    int n = cJSON_GetArraySize(msgs);
    if (n == 0)
        return elm_serve_error_set(e, 400, BAD, "messages", NULL,
                                   "'messages' must hold at least one message");
    r->messages = calloc((size_t)n, sizeof *r->messages);
    if (!r->messages) return oom(e);
    static const char *const roles[] = {"system", "user", "assistant"};
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs)
    {
        size_t i = r->n_messages;
        char param[96];
        snprintf(param, sizeof param, "messages[%zu]", i);
        if (!cJSON_IsObject(m))
            return elm_serve_error_set(e, 400, BAD, param, NULL,
                                       "'%s' must be an object with role and content (got %s)",
                                       param, kind(m));
        const cJSON *role = member(m, "role");
        int k = -1;
        for (int j = 0; j < 3 && cJSON_IsString(role); j++)
            if (strcmp(role->valuestring, roles[j]) == 0) k = j;
        if (k < 0) {
            snprintf(param, sizeof param, "messages[%zu].role", i);
            return elm_serve_error_set(e, 400, BAD, param, NULL,
                                       "'%s' must be \"system\", \"user\" or \"assistant\"", param);
        }
        r->messages[i].role = (elm_serve_role_t)k;
        int rc = parse_content(member(m, "content"), i, &r->messages[i], e);
        if (rc) return rc;
        r->n_messages++;
    }
    return 0;
}

/* ---- completion prompt ---- */

static int parse_prompt(const cJSON *root, elm_serve_request_t *r, elm_serve_error_t *e)
{
    const cJSON *p = member(root, "prompt");
    if (!p)
        return elm_serve_error_set(e, 400, BAD, "prompt", NULL,
                                   "'prompt' is required: a string or an array of token ids");
    /* ["text"]: clients that batch prompts send one this way */
    if (cJSON_IsArray(p) && cJSON_IsString(cJSON_GetArrayItem(p, 0))) {
        int n = cJSON_GetArraySize(p);
        if (n != 1)
            return elm_serve_error_set(e, 400, BAD, "prompt", NULL,
                                       "'prompt' holds %d prompts; edgelm serves one per request",
                                       n);
        p = cJSON_GetArrayItem(p, 0);
    }
    if (cJSON_IsString(p)) {
        r->prompt = dup_string(p, &r->prompt_len);
        return r->prompt ? 0 : oom(e);
    }
    if (!cJSON_IsArray(p))
        return elm_serve_error_set(e, 400, BAD, "prompt", NULL,
                                   "'prompt' must be a string or an array of token ids (got %s)",
                                   kind(p));
    int rc = parse_ids(p, "prompt", &r->prompt_ids, &r->n_prompt_ids, e);
    if (rc) return rc;
    if (!r->n_prompt_ids)
        return elm_serve_error_set(e, 400, BAD, "prompt", NULL,
                                   "'prompt' must not be an empty array of token ids");
    return 0;
}

/* ---- sampler and generation fields ---- */

/* One optional number field: absent leaves *dst alone. */
static int opt_float(const cJSON *root, const char *key, double lo, double hi, bool lo_open,
                     float *dst, elm_serve_error_t *e)
{
    const cJSON *v = member(root, key);
    double x = 0;
    if (!v) return 0;
    if (want_number(v, key, lo, hi, lo_open, &x, e)) return 400;
    *dst = (float)x;
    return 0;
}

static int parse_sampling(const cJSON *root, elm_serve_request_t *r, elm_serve_error_t *e)
{
    elm_sampler_params_t *s = &r->sampler;
    if (opt_float(root, "temperature", 0, 2, false, &s->temp, e) ||
        opt_float(root, "top_p", 0, 1, false, &s->top_p, e) ||
        opt_float(root, "min_p", 0, 1, false, &s->min_p, e) ||
        opt_float(root, "presence_penalty", -2, 2, false, &s->presence_penalty, e) ||
        opt_float(root, "frequency_penalty", -2, 2, false, &s->freq_penalty, e) ||
        opt_float(root, "repeat_penalty", 0, 1e9, true, &s->repeat_penalty, e))
        return 400;
    const cJSON *v;
    double x = 0;
    if ((v = member(root, "top_k"))) {
        if (want_int(v, "top_k", 0, INT32_MAX, &x, e)) return 400;
        s->top_k = (int32_t)x;
    }
    if ((v = member(root, "seed"))) {
        /* -1 asks for a random seed, as llama-server; other negatives wrap as int64 does */
        if (want_int(v, "seed", -9223372036854775807.0, 18446744073709549568.0, &x, e))
            return 400;
        if (x != -1) {
            s->seed = x < 0 ? (uint64_t)(int64_t)x : (uint64_t)x;
            r->seed_set = true;
        }
    }
    /* max_completion_tokens replaces max_tokens in OpenAI's current API: it wins */
    const char *keys[2] = {"max_tokens", "max_completion_tokens"};
    for (int k = 0; k < 2; k++) {
        if (!(v = member(root, keys[k]))) continue;
        if (want_int(v, keys[k], 1, INT32_MAX, &x, e)) return 400;
        r->max_tokens = (uint32_t)x;
        r->max_tokens_set = true;
    }
    if ((v = member(root, "n")) && (!cJSON_IsNumber(v) || v->valuedouble != 1))
        return elm_serve_error_set(e, 400, BAD, "n", NULL,
                                   "'n' must be 1: edgelm generates one choice per request");
    return 0;
}

static int parse_stop(const cJSON *root, elm_serve_request_t *r, elm_serve_error_t *e)
{
    const cJSON *v = member(root, "stop");
    if (!v) return 0;
    if (cJSON_IsArray(v) && cJSON_GetArraySize(v) > ELM_SERVE_MAX_STOP)
        return elm_serve_error_set(e, 400, BAD, "stop", NULL,
                                   "'stop' holds at most %d strings (got %d)", ELM_SERVE_MAX_STOP,
                                   cJSON_GetArraySize(v));
    if (!cJSON_IsArray(v) && !cJSON_IsString(v))
        return elm_serve_error_set(e, 400, BAD, "stop", NULL,
                                   "'stop' must be a string or an array of up to %d strings "
                                   "(got %s)",
                                   ELM_SERVE_MAX_STOP, kind(v));
    const cJSON *s = cJSON_IsString(v) ? v : v->child;
    for (size_t i = 0; s; s = cJSON_IsString(v) ? NULL : s->next, i++) {
        char param[32];
        if (cJSON_IsString(v)) snprintf(param, sizeof param, "stop");
        else snprintf(param, sizeof param, "stop[%zu]", i);
        if (!cJSON_IsString(s) || !s->valuestring[0])
            return elm_serve_error_set(e, 400, BAD, param, NULL,
                                       "'%s' must be a non-empty string (got %s)", param,
                                       cJSON_IsString(s) ? "an empty string" : kind(s));
        r->stop[r->n_stop] = dup_string(s, NULL);
        if (!r->stop[r->n_stop]) return oom(e);
        r->n_stop++;
    }
    return 0;
}

static int parse_flags(const cJSON *root, elm_serve_request_t *r, elm_serve_error_t *e)
{
    const cJSON *v;
    if ((v = member(root, "model"))) {
        if (!cJSON_IsString(v))
            return elm_serve_error_set(e, 400, BAD, "model", NULL,
                                       "'model' must be a string (got %s)", kind(v));
        if (!(r->model = dup_string(v, NULL))) return oom(e);
    }
    if ((v = member(root, "stream")) && want_bool(v, "stream", &r->stream, e)) return 400;
    if ((v = member(root, "stream_options"))) {
        if (!cJSON_IsObject(v))
            return elm_serve_error_set(e, 400, BAD, "stream_options", NULL,
                                       "'stream_options' must be an object (got %s)", kind(v));
        const cJSON *u = member(v, "include_usage");
        if (u && want_bool(u, "stream_options.include_usage", &r->include_usage, e)) return 400;
    }
    double x = 0;
    if (r->endpoint == ELM_SERVE_COMPLETION) {
        /* the legacy API's logprobs is the number of alternatives, 0..5 */
        if ((v = member(root, "logprobs"))) {
            if (want_int(v, "logprobs", 0, 5, &x, e)) return 400;
            r->logprobs = true;
            r->top_logprobs = (uint32_t)x;
        }
        return 0;
    }
    if ((v = member(root, "logprobs")) && want_bool(v, "logprobs", &r->logprobs, e)) return 400;
    if ((v = member(root, "top_logprobs"))) {
        if (want_int(v, "top_logprobs", 0, ELM_SERVE_MAX_TOP_LOGPROBS, &x, e)) return 400;
        if (x > 0 && !r->logprobs)
            return elm_serve_error_set(e, 400, BAD, "top_logprobs", NULL,
                                       "'top_logprobs' needs 'logprobs': true");
        r->top_logprobs = (uint32_t)x;
    }
    return 0;
}

/* ---- public ---- */

int elm_serve_request_parse(const char *body, size_t len, elm_serve_endpoint_t ep,
                            const elm_serve_limits_t *lim, elm_serve_request_t *out,
                            elm_serve_error_t *err)
{
    memset(out, 0, sizeof *out);
    if (err) memset(err, 0, sizeof *err);
    cJSON *root = NULL;
    int rc = parse_body(body, len, lim, &root, err);
    if (rc) goto fail;
    out->endpoint = ep;
    /* llama-server's defaults, which are also `edgelm run`'s (docs/serve.md) */
    out->sampler = elm_sampler_default_params();
    out->max_tokens = lim ? lim->default_max_tokens : 0;
    rc = ep == ELM_SERVE_CHAT ? parse_messages(root, out, err) : parse_prompt(root, out, err);
    if (!rc) rc = parse_sampling(root, out, err);
    if (!rc) rc = parse_stop(root, out, err);
    if (!rc) rc = parse_flags(root, out, err);
fail:
    cJSON_Delete(root);
    if (rc) elm_serve_request_free(out);
    return rc;
}

void elm_serve_request_free(elm_serve_request_t *r)
{
    if (!r) return;
    free(r->model);
    for (size_t i = 0; i < r->n_messages; i++) free(r->messages[i].text);
    free(r->messages);
    free(r->prompt);
    free(r->prompt_ids);
    for (size_t i = 0; i < r->n_stop; i++) free(r->stop[i]);
    memset(r, 0, sizeof *r);
}

int elm_serve_tokenize_parse(const char *body, size_t len, const elm_serve_limits_t *lim,
                             elm_serve_tokenize_t *out, elm_serve_error_t *err)
{
    memset(out, 0, sizeof *out);
    if (err) memset(err, 0, sizeof *err);
    cJSON *root = NULL;
    int rc = parse_body(body, len, lim, &root, err);
    if (rc) goto fail;
    const cJSON *v = member(root, "content");
    if (!cJSON_IsString(v)) {
        rc = elm_serve_error_set(err, 400, BAD, "content", NULL,
                                 "'content' must be the text to tokenize (got %s)", kind(v));
        goto fail;
    }
    if (!(out->content = dup_string(v, &out->len))) {
        rc = oom(err);
        goto fail;
    }
    if ((v = member(root, "add_special"))) rc = want_bool(v, "add_special", &out->add_special, err);
fail:
    cJSON_Delete(root);
    if (rc) elm_serve_tokenize_free(out);
    return rc;
}

void elm_serve_tokenize_free(elm_serve_tokenize_t *t)
{
    if (!t) return;
    free(t->content);
    memset(t, 0, sizeof *t);
}

int elm_serve_detokenize_parse(const char *body, size_t len, const elm_serve_limits_t *lim,
                               int32_t **ids, size_t *n, elm_serve_error_t *err)
{
    *ids = NULL;
    *n = 0;
    if (err) memset(err, 0, sizeof *err);
    cJSON *root = NULL;
    int rc = parse_body(body, len, lim, &root, err);
    if (rc) goto fail;
    const cJSON *v = member(root, "tokens");
    if (!cJSON_IsArray(v)) {
        rc = elm_serve_error_set(err, 400, BAD, "tokens", NULL,
                                 "'tokens' must be an array of token ids (got %s)", kind(v));
        goto fail;
    }
    rc = parse_ids(v, "tokens", ids, n, err);
fail:
    cJSON_Delete(root);
    return rc;
}
