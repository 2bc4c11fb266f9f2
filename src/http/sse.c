/* The body of a streamed chat completion: server-sent events (`data:` lines up to an empty line)
 * carrying OpenAI chunk objects, whose content events are timestamped through the caller's
 * callback, and the server's message from an error body or an error event. Untrusted input:
 * lines and events are bounded by http.h's limits. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "http_internal.h"

/* The server's message from a JSON error ({"error": {"message": ...}}, {"error": "..."},
 * {"message": ...}) or the text itself. */
static void error_message(elm_http_resp_t *r, const cJSON *j, const char *text, size_t n)
{
    const cJSON *e = j ? cJSON_GetObjectItemCaseSensitive(j, "error") : NULL;
    const cJSON *m = NULL;
    if (cJSON_IsObject(e))
        m = cJSON_GetObjectItemCaseSensitive(e, "message");
    else if (cJSON_IsString(e))
        m = e;
    else if (j)
        m = cJSON_GetObjectItemCaseSensitive(j, "message");
    if (cJSON_IsString(m) && m->valuestring)
        elm__http_show(r->sum.error, sizeof r->sum.error, m->valuestring, strlen(m->valuestring));
    else
        elm__http_show(r->sum.error, sizeof r->sum.error, text, n);
}

/* One complete SSE event of an OK response. */
static int dispatch_event(elm_http_resp_t *r, uint64_t t, elm_diag_t *d)
{
    r->event[r->event_len] = '\0';
    size_t n = r->event_len;
    bool had = r->event_has_data;
    r->event_len = 0;
    r->event_has_data = false;
    if (!had || r->sum.done) return 0;
    if (!strcmp(r->event, "[DONE]")) {
        r->sum.done = true;
        return 0;
    }
    cJSON *j = cJSON_ParseWithLength(r->event, n);
    if (!cJSON_IsObject(j)) {
        char s[64];
        elm__http_show(s, sizeof s, r->event, n);
        cJSON_Delete(j);
        return elm_diag(d, ELM_EINVAL, "malformed SSE event: 'data: %s' is not a JSON object", s);
    }
    if (cJSON_GetObjectItemCaseSensitive(j, "error")) {
        error_message(r, j, r->event, n);
        cJSON_Delete(j);
        return 0;
    }
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(j, "choices");
    const cJSON *c0 = cJSON_IsArray(ch) ? cJSON_GetArrayItem(ch, 0) : NULL;
    const cJSON *delta = c0 ? cJSON_GetObjectItemCaseSensitive(c0, "delta") : NULL;
    const cJSON *content = delta ? cJSON_GetObjectItemCaseSensitive(delta, "content") : NULL;
    if (!content && c0) content = cJSON_GetObjectItemCaseSensitive(c0, "text");
    if (cJSON_IsString(content) && content->valuestring && content->valuestring[0]) {
        r->sum.n_content++;
        if (r->on_content) r->on_content(r->user, t);
    }
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(j, "usage");
    const cJSON *ct =
        cJSON_IsObject(usage) ? cJSON_GetObjectItemCaseSensitive(usage, "completion_tokens") : NULL;
    if (cJSON_IsNumber(ct) && ct->valuedouble >= 0 && ct->valuedouble < 1e15)
        r->sum.usage_tokens = (int64_t)ct->valuedouble;
    cJSON_Delete(j);
    return 0;
}

/* One SSE line (without its line end): a field of the current event, or the empty line that
 * dispatches it. Fields other than data (event, id, retry) and comments are ignored. */
static int sse_line(elm_http_resp_t *r, uint64_t t, elm_diag_t *d)
{
    char *s = r->sse_line;
    size_t n = r->sse_len;
    r->sse_len = 0;
    if (n && s[n - 1] == '\r') n--;
    if (n == 0) return dispatch_event(r, t, d);
    if (n < 5 || memcmp(s, "data:", 5)) return 0;
    s += 5, n -= 5;
    if (n && *s == ' ') s++, n--;
    size_t need = n + (r->event_has_data ? 1 : 0);
    if (r->event_len + need > ELM_HTTP_MAX_EVENT)
        return elm_diag(d, ELM_ERANGE,
                        "SSE event longer than %d bytes (a broken or hostile "
                        "server)",
                        ELM_HTTP_MAX_EVENT);
    if (r->event_has_data) r->event[r->event_len++] = '\n';
    memcpy(r->event + r->event_len, s, n);
    r->event_len += n;
    r->event_has_data = true;
    return 0;
}

int elm__http_body(elm_http_resp_t *r, const char *p, size_t n, uint64_t t, elm_diag_t *d)
{
    if (!elm__http_ok_status(r)) {
        size_t k =
            n < ELM_HTTP_MAX_ERROR_BODY - r->err_len ? n : ELM_HTTP_MAX_ERROR_BODY - r->err_len;
        memcpy(r->err_body + r->err_len, p, k);
        r->err_len += k;
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') {
            int rc = sse_line(r, t, d);
            if (rc) return rc;
            continue;
        }
        if (r->sse_len >= sizeof r->sse_line)
            return elm_diag(d, ELM_ERANGE,
                            "SSE line longer than %zu bytes (a broken or hostile "
                            "server)",
                            sizeof r->sse_line);
        r->sse_line[r->sse_len++] = p[i];
    }
    return 0;
}

int elm__http_body_end(elm_http_resp_t *r, uint64_t t, elm_diag_t *d)
{
    int rc = 0;
    r->st = ST_DONE;
    r->sum.complete = true;
    if (!elm__http_ok_status(r)) {
        r->err_body[r->err_len] = '\0';
        cJSON *j = cJSON_ParseWithLength(r->err_body, r->err_len);
        error_message(r, j, r->err_body, r->err_len);
        cJSON_Delete(j);
        return 0;
    }
    if (r->sse_len && (rc = sse_line(r, t, d))) return rc;
    return dispatch_event(r, t, d);
}
