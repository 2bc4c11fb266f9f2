/* The scheduler's side of the server's loop thread: each routed request parsed and checked, then
 * queued for the engine thread (chat, completions) or answered at once (models, health, metrics,
 * tokenize, detokenize). Nothing here blocks on the engine. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgelm/probe.h"
#include "sched_internal.h"

/* The prompt of a chat or completion request as ids; *err set (and -1) when it cannot be. */
static int prompt_ids(elm_sched_t *s, const elm_serve_request_t *r, int32_t **ids, size_t *n,
                      elm_serve_error_t *err)
{
    elm_diag_t d;
    char *text = NULL;
    const char *src = r->prompt;
    size_t len = r->prompt_len;
    unsigned flags = ELM_TOK_ADD_SPECIAL;
    if (r->endpoint == ELM_SERVE_COMPLETION && r->prompt_ids) {
        for (size_t k = 0; k < r->n_prompt_ids; k++)
            if (r->prompt_ids[k] < 0 || r->prompt_ids[k] >= elm_tokenizer_n_vocab(s->tok))
                return elm_serve_error_set(err, 400, "invalid_request_error", "prompt", NULL,
                                           "prompt[%zu]: token %" PRId32
                                           " is outside the vocabulary of %" PRId32 " tokens",
                                           k, r->prompt_ids[k], elm_tokenizer_n_vocab(s->tok)),
                       -1;
        if (!(*ids = malloc(r->n_prompt_ids * sizeof **ids))) goto oom;
        memcpy(*ids, r->prompt_ids, r->n_prompt_ids * sizeof **ids);
        *n = r->n_prompt_ids;
        return 0;
    }
    if (r->endpoint == ELM_SERVE_CHAT) {
        static const char *const role[] = {"system", "user", "assistant"};
        elm_chat_msg_t *msgs = calloc(r->n_messages, sizeof *msgs);
        if (!msgs) goto oom;
        for (size_t k = 0; k < r->n_messages; k++)
            msgs[k] = (elm_chat_msg_t){role[r->messages[k].role], r->messages[k].text};
        int rc = elm_chat_format(s->tmpl, msgs, r->n_messages, true, &text, &d);
        free(msgs);
        if (rc) goto oom;
        src = text;
        len = strlen(text);
        flags |= ELM_TOK_PARSE_SPECIAL;
    }
    int rc = elm_tokenize(s->tok, src, len, flags, ids, n, &d);
    free(text);
    if (rc) goto oom;
    return 0;
oom:
    free(text);
    return elm_serve_error_set(err, 500, "server_error", NULL, NULL, "out of memory"), -1;
}

/* Parse, check and queue a chat or completion request; answer it at once when it is refused. */
static void handle_generate(elm_sched_t *s, elm_server_req_t *req, elm_serve_endpoint_t ep)
{
    const char *label = ep == ELM_SERVE_CHAT ? "/v1/chat/completions" : "/v1/completions";
    elm_serve_error_t err;
    size_t len;
    const char *body = elm_server_req_body(req, &len);
    job_t *j = calloc(1, sizeof *j);
    if (!j) {
        elm_serve_error_set(&err, 500, "server_error", NULL, NULL, "out of memory");
        goto refuse;
    }
    j->req = req;
    j->t_arrive = elm_time_ns();
    if (elm_serve_request_parse(body, len, ep, &s->lim, &j->r, &err)) goto refuse;
    if (j->r.model && strcmp(j->r.model, s->model_id) && strcmp(j->r.model, s->file_name)) {
        elm_serve_error_set(&err, 404, "invalid_request_error", "model", "model_not_found",
                            "the model '%.100s' is not served here (this server serves '%.100s')",
                            j->r.model, s->model_id);
        goto refuse;
    }
    size_t n = 0;
    if (prompt_ids(s, &j->r, &j->prompt, &n, &err)) goto refuse;
    uint32_t ctx = s->p.n_ctx;
    if (n == 0) {
        elm_serve_error_set(&err, 400, "invalid_request_error", "prompt", NULL,
                            "the prompt is empty and the model adds no BOS token");
        goto refuse;
    }
    /* an encoder-decoder model's prompt fills the encoder and its answer the decoder, each a
     * context of its own */
    const bool enc = s->has_encoder;
    if (enc && (n > ctx || (j->r.max_tokens_set && j->r.max_tokens >= ctx))) {
        elm_serve_error_set(&err, 400, "invalid_request_error", n > ctx ? "messages" : "max_tokens",
                            "context_length_exceeded",
                            "this request needs %zu prompt tokens (the encoder's input) and "
                            "%" PRIu32 " to generate (the decoder's), but a slot's context holds "
                            "%" PRIu32 " of each (start the server with a larger -c, or ask for "
                            "fewer tokens)",
                            n, j->r.max_tokens_set ? j->r.max_tokens : 1, ctx);
        goto refuse;
    }
    if (!enc && (n >= ctx || (j->r.max_tokens_set && n + j->r.max_tokens > ctx))) {
        elm_serve_error_set(
            &err, 400, "invalid_request_error", j->r.max_tokens_set ? "max_tokens" : "messages",
            "context_length_exceeded",
            "this request needs %zu prompt tokens + %" PRIu32 " to generate, more than the %" PRIu32
            " tokens of a slot's context (start the server with a larger -c, or "
            "ask for fewer tokens)",
            n, j->r.max_tokens_set ? j->r.max_tokens : 1, ctx);
        goto refuse;
    }
    j->n_prompt = (uint32_t)n;
    const uint32_t room = enc ? ctx - 1 : ctx - j->n_prompt;
    if (!j->r.max_tokens_set || j->r.max_tokens == 0 || j->r.max_tokens > room)
        j->r.max_tokens = room;
    pthread_mutex_lock(&s->mu);
    if (s->queue_tail)
        s->queue_tail->next = j;
    else
        s->queue_head = j;
    s->queue_tail = j;
    s->n_queued++;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return;
refuse:
    elm__sched_reply_error(s, req, label, &err);
    elm__sched_job_free(j);
}

static void handle_tokenize(elm_sched_t *s, elm_server_req_t *req)
{
    elm_serve_error_t err;
    elm_serve_tokenize_t t = {0};
    size_t len, n = 0;
    int32_t *ids = NULL;
    const char *body = elm_server_req_body(req, &len);
    if (elm_serve_tokenize_parse(body, len, &s->lim, &t, &err)) {
        elm__sched_reply_error(s, req, "/tokenize", &err);
        return;
    }
    unsigned flags = ELM_TOK_PARSE_SPECIAL | (t.add_special ? ELM_TOK_ADD_SPECIAL : 0);
    if (elm_tokenize(s->tok, t.content, t.len, flags, &ids, &n, NULL))
        elm__sched_reply_json(s, req, "/tokenize", NULL);
    else
        elm__sched_reply_json(s, req, "/tokenize", elm_serve_tokens_json(ids, n));
    free(ids);
    elm_serve_tokenize_free(&t);
}

static void handle_detokenize(elm_sched_t *s, elm_server_req_t *req)
{
    elm_serve_error_t err;
    size_t len, n = 0, tlen = 0;
    int32_t *ids = NULL;
    char *text = NULL;
    elm_diag_t d;
    const char *body = elm_server_req_body(req, &len);
    if (elm_serve_detokenize_parse(body, len, &s->lim, &ids, &n, &err)) {
        elm__sched_reply_error(s, req, "/detokenize", &err);
        return;
    }
    if (elm_detokenize(s->tok, ids, n, 0, &text, &tlen, &d)) {
        elm_serve_error_set(&err, 400, "invalid_request_error", "tokens", NULL, "%s", d.msg);
        elm__sched_reply_error(s, req, "/detokenize", &err);
    } else {
        elm__sched_reply_json(s, req, "/detokenize", elm_serve_content_json(text, tlen));
    }
    free(text);
    free(ids);
}

/* GET /health: 200 while a slot or a queue place is free, else 503 (as llama-server). */
static void handle_health(elm_sched_t *s, elm_server_req_t *req)
{
    pthread_mutex_lock(&s->mu);
    int busy = s->n_running;
    size_t queued = s->n_queued;
    pthread_mutex_unlock(&s->mu);
    if (busy < s->p.n_slots || queued < (size_t)s->p.max_queue) {
        elm__sched_reply_json(s, req, "/health", strdup("{\"status\":\"ok\"}"));
        return;
    }
    elm_serve_error_t e;
    elm_serve_error_set(&e, 503, "unavailable_error", NULL, NULL,
                        "every slot (%d) and the queue (%d) are full", s->p.n_slots,
                        s->p.max_queue);
    elm__sched_reply_error(s, req, "/health", &e);
}

/* Read the power source into edgelm_energy_joules_total and edgelm_power_watts. A source with
 * an energy counter (wraparound handled by the probe) adds its step; any other integrates watts
 * over the time since the last read (the trapezoid when the last watts are known). A failed read
 * leaves both as they were; the counter never goes down. */
static void read_power(elm_sched_t *s)
{
    elm_power_reading_t r;
    elm_power_source_t *src = s->p.power;
    if (!src || elm_power_read(src, &r, NULL)) return;
    uint64_t now = elm_time_ns();
    double dt = (double)(now - s->power_t) / 1e9, joules = 0;
    if (elm_power_has_energy(src)) {
        if (isfinite(r.energy_j)) {
            if (r.energy_j > s->power_j) joules = r.energy_j - s->power_j;
            s->power_j = r.energy_j;
        }
        /* counters give no instantaneous watts: the average since the last read stands in */
        if (!isfinite(r.watts) && dt > 0) r.watts = joules / dt;
    } else if (isfinite(r.watts)) {
        joules = (isfinite(s->power_w) ? (s->power_w + r.watts) / 2 : r.watts) * dt;
    }
    s->power_t = now;
    s->power_w = r.watts;
    if (isfinite(joules) && joules > 0)
        elm_metrics_inc(s->metrics, "edgelm_energy_joules_total", &s->power_name, joules);
    if (isfinite(r.watts))
        elm_metrics_set(s->metrics, "edgelm_power_watts", &s->power_name, r.watts);
}

static void handle_metrics(elm_sched_t *s, elm_server_req_t *req)
{
    read_power(s); /* the gauges are the engine thread's, refreshed at every step */
    char *text = elm_metrics_render(s->metrics);
    if (!text) {
        elm__sched_reply_json(s, req, "/metrics", NULL);
        return;
    }
    elm__sched_count(s, "/metrics", 200);
    elm_server_reply(req, 200, "text/plain; version=0.0.4", text, strlen(text));
    free(text);
}

/* The server's backend hook: every routed request, on the loop thread. */
void elm__sched_on_request(void *user, elm_server_req_t *req)
{
    elm_sched_t *s = user;
    switch (elm_server_req_endpoint(req)) {
    case ELM_SERVER_EP_CHAT: handle_generate(s, req, ELM_SERVE_CHAT); break;
    case ELM_SERVER_EP_COMPLETIONS: handle_generate(s, req, ELM_SERVE_COMPLETION); break;
    case ELM_SERVER_EP_MODELS:
        elm__sched_reply_json(s, req, "/v1/models",
                              elm_serve_models_json(s->model_id, s->created, "edgelm"));
        break;
    case ELM_SERVER_EP_HEALTH: handle_health(s, req); break;
    case ELM_SERVER_EP_TOKENIZE: handle_tokenize(s, req); break;
    case ELM_SERVER_EP_DETOKENIZE: handle_detokenize(s, req); break;
    case ELM_SERVER_EP_METRICS: handle_metrics(s, req); break;
    default: elm_server_reply_error(req, 404, "invalid_request_error", NULL, NULL, "not found");
    }
}

/* The client went away: the engine thread drops the request at its next step. */
void elm__sched_on_cancel(void *user, elm_server_req_t *req)
{
    elm_sched_t *s = user;
    (void)req;
    pthread_mutex_lock(&s->mu);
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}
