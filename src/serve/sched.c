/* The scheduler behind `edgelm serve`: one thread owns the engine and, at every step, runs one
 * batched forward pass over one new token of every decoding slot plus a chunk of one prefilling
 * slot's prompt (continuous batching with chunked prefill), samples per slot and hands each slot's
 * text to its connection through the server core. Requests arrive on the server's loop thread
 * (elm_server_backend_t) and wait in a queue the server bounds. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "edgelm/probe.h"
#include "sched_internal.h"

static uint64_t now_ns(void)
{
    return elm_time_ns();
}

/* Positions slot sl's sequence holds in the KV cache (its cached[] ids are those positions). */
static uint32_t held(const elm_sched_t *s, const slot_t *sl)
{
    return elm_session_seq_len(s->sess, (uint32_t)(sl - s->slots));
}

/* splitmix64's finalizer: response ids that look random from a clock. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ---- answering ---- */

static const char *ep_label(const job_t *j)
{
    return j->r.endpoint == ELM_SERVE_CHAT ? "/v1/chat/completions" : "/v1/completions";
}

void elm__sched_count(elm_sched_t *s, const char *endpoint, int status)
{
    char code[8];
    snprintf(code, sizeof code, "%d", status);
    const char *labels[] = {endpoint, code};
    elm_metrics_inc(s->metrics, "edgelm_requests_total", labels, 1);
}

void elm__sched_reply_error(elm_sched_t *s, elm_server_req_t *req, const char *endpoint,
                            const elm_serve_error_t *e)
{
    char *body = elm_serve_error_json(e);
    elm__sched_count(s, endpoint, e->status);
    if (body)
        elm_server_reply(req, e->status, NULL, body, strlen(body));
    else
        elm_server_reply(req, 500, NULL, "{}", 2);
    free(body);
}

void elm__sched_reply_json(elm_sched_t *s, elm_server_req_t *req, const char *endpoint, char *body)
{
    if (!body) {
        elm_serve_error_t e;
        elm_serve_error_set(&e, 500, "server_error", NULL, NULL, "out of memory");
        elm__sched_reply_error(s, req, endpoint, &e);
        return;
    }
    elm__sched_count(s, endpoint,
                     200); /* before the answer, so a client that reads /metrics next sees it */
    elm_server_reply(req, 200, NULL, body, strlen(body));
    free(body);
}

/* Send one JSON text (taken) as an SSE event of j's stream. */
static void stream_json(job_t *j, char *json)
{
    size_t len = 0;
    char *ev = json ? elm_serve_sse_event(json, &len) : NULL;
    if (ev) elm_server_stream_write(j->req, ev, len);
    free(ev);
    free(json);
}

static elm_serve_meta_t meta_of(const elm_sched_t *s, const slot_t *sl)
{
    return (elm_serve_meta_t){.endpoint = sl->job->r.endpoint,
                              .id = sl->id,
                              .created = sl->created,
                              .model = s->model_id};
}

/* ---- logprobs ---- */

/* The logprobs not yet sent (all of them for a whole answer), or NULL when the request did not
 * ask for them; an empty list is a valid pointer, so the response shows {"content": []}. */
static const elm_serve_logprob_t *pending_lp(const slot_t *sl, size_t *n)
{
    static const elm_serve_logprob_t none;
    *n = 0;
    if (!sl->job->r.logprobs) return NULL;
    *n = sl->n_lp - sl->lp_sent;
    return sl->lp ? sl->lp + sl->lp_sent : &none;
}

/* A token's text as a malloc'd piece (special tokens shown), or NULL when memory ran out. */
static char *piece_dup(const elm_sched_t *s, int32_t id, size_t *len)
{
    char buf[256];
    if (elm_token_to_piece(s->tok, id, ELM_DETOK_SPECIAL, buf, sizeof buf, len, NULL)) *len = 0;
    char *p = malloc(*len + 1);
    if (p) memcpy(p, buf, *len), p[*len] = '\0';
    return p;
}

/* Record the chosen token's log-probability under the model's distribution (log-softmax of the
 * raw logits, before the sampler's penalties and temperature, as OpenAI reports them) and the
 * request's top_logprobs most likely tokens. Memory running out skips the entry. */
static void record_logprob(elm_sched_t *s, slot_t *sl, const float *logits, int32_t tok)
{
    uint32_t nv = (uint32_t)elm_tokenizer_n_vocab(s->tok), k = sl->job->r.top_logprobs;
    if (sl->n_lp == sl->cap_lp) {
        size_t cap = sl->cap_lp ? 2 * sl->cap_lp : 16;
        elm_serve_logprob_t *nl = realloc(sl->lp, cap * sizeof *nl);
        if (!nl) return;
        sl->lp = nl;
        sl->cap_lp = cap;
    }
    float mx = logits[0];
    for (uint32_t i = 1; i < nv; i++)
        mx = logits[i] > mx ? logits[i] : mx;
    double sum = 0;
    for (uint32_t i = 0; i < nv; i++)
        sum += exp((double)logits[i] - mx);
    double lse = mx + log(sum);
    int32_t best[ELM_SERVE_MAX_TOP_LOGPROBS];
    uint32_t n_best = 0;
    for (uint32_t i = 0; i < nv && k; i++) { /* insertion into the k best, largest first */
        if (n_best == k && logits[i] <= logits[best[k - 1]]) continue;
        uint32_t at = n_best < k ? n_best++ : k - 1;
        while (at > 0 && logits[best[at - 1]] < logits[i]) {
            best[at] = best[at - 1];
            at--;
        }
        best[at] = (int32_t)i;
    }
    elm_serve_logprob_t *e = &sl->lp[sl->n_lp];
    *e = (elm_serve_logprob_t){0};
    e->token.text = piece_dup(s, tok, &e->token.len);
    e->token.logprob = (float)(logits[tok] - lse);
    elm_serve_token_logprob_t *top = n_best ? calloc(n_best, sizeof *top) : NULL;
    for (uint32_t i = 0; top && i < n_best; i++) {
        top[i].text = piece_dup(s, best[i], &top[i].len);
        top[i].logprob = (float)(logits[best[i]] - lse);
    }
    e->top = top;
    e->n_top = top ? n_best : 0;
    if (e->token.text) sl->n_lp++;
}

static void free_logprobs(slot_t *sl)
{
    for (size_t i = 0; i < sl->n_lp; i++) {
        free((void *)sl->lp[i].token.text);
        for (size_t t = 0; t < sl->lp[i].n_top; t++)
            free((void *)sl->lp[i].top[t].text);
        free((void *)sl->lp[i].top);
    }
    free(sl->lp);
    sl->lp = NULL;
    sl->n_lp = sl->cap_lp = sl->lp_sent = 0;
}

/* Text the slot may show now: streamed as a chunk, or kept for the whole answer. */
static void emit(elm_sched_t *s, slot_t *sl, const char *text, size_t len)
{
    if (!len) return;
    job_t *j = sl->job;
    if (!j->t_first) j->t_first = now_ns();
    if (!j->r.stream) {
        elm_sbuf_printf(&sl->text, "%.*s", (int)len, text);
        return;
    }
    elm_serve_meta_t m = meta_of(s, sl);
    size_t n_lp;
    const elm_serve_logprob_t *lp = pending_lp(sl, &n_lp);
    stream_json(
        j, elm_serve_chunk_json(&m, sl->first_chunk, text, len, ELM_SERVE_FINISH_NONE, lp, n_lp));
    sl->lp_sent = sl->n_lp;
    sl->first_chunk = false;
}

/* Free what a slot holds for its job (not its cache) and make it idle. */
static void slot_release(elm_sched_t *s, slot_t *sl)
{
    job_t *j = sl->job;
    elm_sampler_free(sl->smp);
    elm_detok_stream_free(sl->detok);
    elm_stop_matcher_free(sl->stop);
    free(sl->text.p);
    free_logprobs(sl);
    sl->smp = NULL;
    sl->detok = NULL;
    sl->stop = NULL;
    sl->text = (elm_sbuf_t){0};
    sl->job = NULL;
    sl->state = SLOT_IDLE;
    sl->lru = ++s->step;
    elm__sched_job_free(j);
}

void elm__sched_job_free(job_t *j)
{
    if (!j) return;
    elm_serve_request_free(&j->r);
    free(j->prompt);
    free(j);
}

/* The end of a slot's request: the rest of the text, the final chunk or the whole answer, usage,
 * metrics, the log line. */
static void finish(elm_sched_t *s, slot_t *sl, elm_serve_finish_t why, bool by_stop_string)
{
    job_t *j = sl->job;
    const char *rest;
    size_t len;
    elm_stop_result_t sr;
    if (!by_stop_string) { /* the text held back for a stop string that never came is shown */
        if (elm_detok_stream_flush(sl->detok, &rest, &len) == 0 && len &&
            elm_stop_matcher_push(sl->stop, rest, len, &sr) == 0)
            emit(s, sl, sr.text, sr.len);
        elm_stop_matcher_flush(sl->stop, &sr);
        emit(s, sl, sr.text, sr.len);
    }
    uint64_t t_end = now_ns();
    elm_serve_usage_t u = {.prompt_tokens = j->n_prompt,
                           .completion_tokens = sl->n_gen,
                           .cached_tokens = sl->n_reused};
    elm_serve_meta_t m = meta_of(s, sl);
    elm_server_usage_t lu = {.prompt_tokens = j->n_prompt,
                             .completion_tokens = sl->n_gen,
                             .ttft_s = j->t_first ? (double)(j->t_first - j->t_arrive) / 1e9 : -1};
    elm_server_req_usage(j->req, &lu);
    elm_metrics_inc(s->metrics, "edgelm_prompt_tokens_total", NULL, j->n_prompt);
    elm_metrics_inc(s->metrics, "edgelm_generation_tokens_total", NULL, sl->n_gen);
    elm_metrics_inc(s->metrics, "edgelm_prompt_tokens_cached_total", NULL, sl->n_reused);
    if (j->t_first)
        elm_metrics_observe(s->metrics, "edgelm_time_to_first_token_seconds", NULL,
                            (double)(j->t_first - j->t_arrive) / 1e9);
    if (sl->n_gen > 1 && j->t_last > j->t_first)
        elm_metrics_observe(s->metrics, "edgelm_time_per_output_token_seconds", NULL,
                            (double)(j->t_last - j->t_first) / 1e9 / (sl->n_gen - 1));
    elm_metrics_observe(s->metrics, "edgelm_e2e_request_latency_seconds", NULL,
                        (double)(t_end - j->t_arrive) / 1e9);
    size_t n_lp;
    const elm_serve_logprob_t *lp = pending_lp(sl, &n_lp);
    if (j->r.stream) {
        stream_json(j, elm_serve_chunk_json(&m, sl->first_chunk, "", 0, why, lp, n_lp));
        if (j->r.include_usage) stream_json(j, elm_serve_usage_chunk_json(&m, &u));
        elm__sched_count(s, ep_label(j), 200);
        elm_server_stream_write(j->req, ELM_SERVE_SSE_DONE, strlen(ELM_SERVE_SSE_DONE));
        elm_server_stream_end(j->req);
    } else {
        elm__sched_reply_json(s, j->req, ep_label(j),
                              elm_serve_response_json(&m, sl->text.p ? sl->text.p : "",
                                                      sl->text.len, why, &u, lp, n_lp));
    }
    slot_release(s, sl);
}

/* A request the client gave up: end it without an answer it will not read. */
static void drop(elm_sched_t *s, slot_t *sl)
{
    job_t *j = sl->job;
    if (j->began)
        elm_server_stream_end(j->req);
    else
        elm_server_reply(j->req, 499, NULL, "{}", 2);
    elm__sched_count(s, ep_label(j), 499);
    slot_release(s, sl);
}

/* ---- one sampled token ---- */

/* Take slot sl's next token from its logits: sample, stop at end of generation, a stop string,
 * max_tokens or a full context, else show its text and keep it for the next step. */
static void take_token(elm_sched_t *s, slot_t *sl, const float *logits)
{
    job_t *j = sl->job;
    int32_t tok = elm_sampler_sample(sl->smp, logits);
    elm_sampler_accept(sl->smp, tok);
    j->t_last = now_ns();
    if (elm_tokenizer_is_eog(s->tok, tok)) {
        finish(s, sl, ELM_SERVE_FINISH_STOP, false);
        return;
    }
    sl->n_gen++;
    if (j->r.logprobs) record_logprob(s, sl, logits, tok);
    const char *text;
    size_t len;
    elm_stop_result_t sr = {0};
    if (elm_detok_stream_push(sl->detok, tok, &text, &len, NULL) == 0 && len &&
        elm_stop_matcher_push(sl->stop, text, len, &sr) == 0)
        emit(s, sl, sr.text, sr.len);
    if (sr.stopped) {
        finish(s, sl, ELM_SERVE_FINISH_STOP, true);
        return;
    }
    if (!j->t_first) j->t_first = j->t_last; /* a token whose text is held back still counts */
    if (sl->n_gen >= j->r.max_tokens || held(s, sl) + 1 >= s->p.n_ctx) {
        finish(s, sl, ELM_SERVE_FINISH_LENGTH, false);
        return;
    }
    sl->last = tok;
    sl->state = SLOT_DECODE;
}

/* ---- admission: a waiting job into a slot ---- */

static uint32_t common_prefix(const int32_t *a, uint32_t na, const int32_t *b, uint32_t nb)
{
    uint32_t n = 0;
    while (n < na && n < nb && a[n] == b[n])
        n++;
    return n;
}

/* The idle slot whose cache shares the longest prefix with the prompt (the least recently used
 * among equals), or -1 when every slot is busy. */
static int pick_slot(const elm_sched_t *s, const job_t *j, uint32_t *reuse)
{
    int best = -1;
    uint32_t best_n = 0;
    for (int i = 0; i < s->p.n_slots; i++) {
        const slot_t *sl = &s->slots[i];
        if (sl->state != SLOT_IDLE) continue;
        /* an encoder-decoder's decoder cache depends on the whole encoder input */
        uint32_t n =
            s->has_encoder ? 0 : common_prefix(sl->cached, held(s, sl), j->prompt, j->n_prompt);
        if (best < 0 || n > best_n || (n == best_n && sl->lru < s->slots[best].lru)) {
            best = i;
            best_n = n;
        }
    }
    /* at least the last prompt token is decoded again: its logits give the first token */
    if (best_n >= j->n_prompt) best_n = j->n_prompt - 1;
    *reuse = best_n;
    return best;
}

/* Put job j into slot i: keep the shared prefix of its cache, set up sampling, detokenizing and
 * the stop strings. Returns 0, or the job is answered with an error and -1. */
static int start_job(elm_sched_t *s, int i, job_t *j, uint32_t reuse)
{
    slot_t *sl = &s->slots[i];
    elm_diag_t d;
    elm_serve_error_t e;
    sl->job = j;
    sl->n_gen = 0;
    sl->n_reused = reuse;
    sl->next_prompt = reuse;
    sl->first_chunk = true;
    sl->created = (int64_t)time(NULL);
    elm_serve_make_id(sl->id, sizeof sl->id, j->r.endpoint, mix64(now_ns() ^ ((uint64_t)i << 56)));
    elm_session_seq_truncate(s->sess, (uint32_t)i, reuse);
    elm_sampler_params_t sp = j->r.sampler;
    if (!j->r.seed_set) sp.seed = now_ns() ^ (uint64_t)i;
    const char *const *stops = (const char *const *)j->r.stop;
    if (elm_sampler_create(&sp, (uint32_t)elm_tokenizer_n_vocab(s->tok), &sl->smp, &d) ||
        elm_detok_stream_create(s->tok, 0, &sl->detok) ||
        elm_stop_matcher_create(stops, j->r.n_stop, &sl->stop)) {
        elm_serve_error_set(&e, 500, "server_error", NULL, NULL, "cannot start the request: %s",
                            d.msg[0] ? d.msg : "out of memory");
        elm__sched_reply_error(s, j->req, ep_label(j), &e);
        sl->job = j; /* slot_release frees it */
        slot_release(s, sl);
        return -1;
    }
    for (uint32_t k = 0; k < j->n_prompt; k++)
        elm_sampler_accept(sl->smp, j->prompt[k]); /* the penalties see the prompt, as run */
    if (j->r.stream) {
        elm_server_stream_begin(j->req); /* a client already gone is dropped at the next step */
        j->began = true;
    }
    j->t_start = now_ns();
    elm_metrics_observe(s->metrics, "edgelm_queue_time_seconds", NULL,
                        (double)(j->t_start - j->t_arrive) / 1e9);
    sl->state = SLOT_PREFILL;
    return 0;
}

/* Move waiting jobs into idle slots (called with the lock held). */
static void admit(elm_sched_t *s)
{
    while (s->queue_head) {
        job_t *j = s->queue_head;
        uint32_t reuse;
        int i = pick_slot(s, j, &reuse);
        if (i < 0) return;
        s->queue_head = j->next;
        if (!s->queue_head) s->queue_tail = NULL;
        s->n_queued--;
        j->next = NULL;
        if (elm_server_req_cancelled(j->req)) {
            s->slots[i].job = j;
            drop(s, &s->slots[i]);
            continue;
        }
        start_job(s, i, j, reuse);
    }
}

/* ---- one step ---- */

/* Rows for this step: one token of every decoding slot, then whole prompt chunks while they fit
 * in n_batch rows (chunked prefill: a long prompt takes several steps and never stalls the
 * running streams). A prompt is cut at fixed boundaries, every chunk_rows() tokens from where its
 * prefill starts, whatever else runs: a one-row piece would go through other kernels than a
 * chunk and move the last bits of its logits (engine.h), so the cut must not depend on load. A
 * prefilling slot's sequence holds exactly its prompt's first next_prompt tokens, so a prompt
 * token's position is its index. Returns the row count. */
static uint32_t chunk_rows(const elm_sched_t *s)
{
    uint32_t slots = (uint32_t)s->p.n_slots;
    return s->p.n_batch > slots ? s->p.n_batch - slots : 1;
}

static uint32_t form_batch(elm_sched_t *s)
{
    uint32_t n = 0, cap = s->p.n_batch;
    for (int i = 0; i < s->p.n_slots && n < cap; i++) {
        slot_t *sl = &s->slots[i];
        if (sl->state != SLOT_DECODE) continue;
        s->rows[n] = (elm_batch_row_t){sl->last, (uint32_t)i, held(s, sl), true};
        n++;
    }
    for (int i = 0; i < s->p.n_slots && !s->has_encoder; i++) { /* t5: encode_one() prefills */
        slot_t *sl = &s->slots[i];
        if (sl->state != SLOT_PREFILL) continue;
        job_t *j = sl->job;
        uint32_t left = j->n_prompt - sl->next_prompt,
                 take = left < chunk_rows(s) ? left : chunk_rows(s);
        if (n + take > cap && n > 0) break; /* the whole chunk next step, not a piece now */
        for (uint32_t k = 0; k < take; k++) {
            bool last = sl->next_prompt + 1 == j->n_prompt;
            s->rows[n] =
                (elm_batch_row_t){j->prompt[sl->next_prompt], (uint32_t)i, sl->next_prompt, last};
            n++;
            sl->next_prompt++;
        }
    }
    return n;
}

/* End slot i's request with a server error (a stream that began just ends) and empty its
 * sequence. */
static void fail_slot(elm_sched_t *s, int i, const elm_serve_error_t *e)
{
    slot_t *sl = &s->slots[i];
    if (sl->job->began) {
        elm_server_stream_end(sl->job->req);
        elm__sched_count(s, ep_label(sl->job), 500);
    } else {
        elm__sched_reply_error(s, sl->job->req, ep_label(sl->job), e);
    }
    slot_release(s, sl);
    elm_session_seq_reset(s->sess, (uint32_t)i);
}

/* An encoder-decoder model's prefill: one slot's encoder pass a step (the encoder attends both
 * ways, so it cannot be cut into chunks), after which the slot decodes from the decoder start
 * token with the others. */
static void encode_one(elm_sched_t *s)
{
    for (int i = 0; i < s->p.n_slots; i++) {
        slot_t *sl = &s->slots[i];
        if (sl->state != SLOT_PREFILL) continue;
        job_t *j = sl->job;
        elm_diag_t d;
        if (elm_session_encode(s->sess, (uint32_t)i, j->prompt, j->n_prompt, &d)) {
            elm_serve_error_t e;
            elm_serve_error_set(&e, 500, "server_error", NULL, NULL, "encoder pass failed: %s",
                                d.msg);
            fail_slot(s, i, &e);
            return;
        }
        sl->next_prompt = j->n_prompt;
        sl->last = elm_model_hparams(s->model)->decoder_start_id;
        sl->state = SLOT_DECODE;
        return;
    }
}

/* One forward pass over the batch, then each slot's token from its row's logits. */
static void step(elm_sched_t *s)
{
    if (s->has_encoder) encode_one(s);
    uint32_t n = form_batch(s);
    if (!n) return;
    elm_diag_t d;
    if (elm_session_decode_batch(s->sess, s->rows, n, &d)) {
        /* the caches are unchanged: every request in the batch fails with the reason */
        elm_serve_error_t e;
        elm_serve_error_set(&e, 500, "server_error", NULL, NULL, "forward pass failed: %s", d.msg);
        for (int i = 0; i < s->p.n_slots; i++) {
            if (s->slots[i].state == SLOT_IDLE) continue;
            bool in_batch = false;
            for (uint32_t r = 0; r < n && !in_batch; r++)
                in_batch = s->rows[r].seq == (uint32_t)i;
            if (in_batch) fail_slot(s, i, &e);
        }
        return;
    }
    for (uint32_t r = 0; r < n; r++) {
        slot_t *sl = &s->slots[s->rows[r].seq];
        sl->cached[s->rows[r].pos] = s->rows[r].token;
    }
    for (uint32_t r = 0; r < n; r++) {
        if (!s->rows[r].logits) continue;
        slot_t *sl = &s->slots[s->rows[r].seq];
        const float *logits = elm_session_batch_logits(s->sess, r);
        if (sl->job && logits) take_token(s, sl, logits);
    }
}

/* Requests whose client went away leave their slot at once. */
static void drop_cancelled(elm_sched_t *s)
{
    for (int i = 0; i < s->p.n_slots; i++) {
        slot_t *sl = &s->slots[i];
        if (sl->state != SLOT_IDLE && elm_server_req_cancelled(sl->job->req)) drop(s, sl);
    }
}

/* Refresh n_running and the running / waiting / KV-usage gauges: on the engine thread, which
 * alone changes the slots, with the lock held. */
static void update_gauges(elm_sched_t *s)
{
    int running = 0;
    uint64_t used = 0;
    for (int i = 0; i < s->p.n_slots; i++) {
        running += s->slots[i].state != SLOT_IDLE;
        used += held(s, &s->slots[i]);
    }
    s->n_running = running;
    elm_metrics_set(s->metrics, "edgelm_requests_running", NULL, running);
    elm_metrics_set(s->metrics, "edgelm_requests_waiting", NULL, (double)s->n_queued);
    elm_metrics_set(s->metrics, "edgelm_kv_cache_usage_ratio", NULL,
                    (double)used / ((double)s->p.n_ctx * s->p.n_slots));
}

static bool any_busy(const elm_sched_t *s)
{
    for (int i = 0; i < s->p.n_slots; i++)
        if (s->slots[i].state != SLOT_IDLE) return true;
    return false;
}

static void *engine_thread(void *arg)
{
    elm_sched_t *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stopping || any_busy(s) || s->queue_head) {
        admit(s);
        update_gauges(s);
        if (!any_busy(s)) {
            if (s->stopping) break;
            pthread_cond_wait(&s->cv, &s->mu);
            continue;
        }
        pthread_mutex_unlock(&s->mu);
        drop_cancelled(s);
        step(s);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- life cycle ---- */

elm_sched_params_t elm_sched_default_params(void)
{
    return (elm_sched_params_t){.n_slots = 1,
                                .n_batch = 512,
                                .n_threads = 1,
                                .use_mmap = true,
                                .kv_type = ELM_TYPE_F16,
                                .max_queue = 32,
                                .max_body = 1u << 20};
}

int elm_sched_create(const elm_sched_params_t *p, const elm_hooks_t *load_hooks, elm_sched_t **out,
                     elm_diag_t *d)
{
    int rc;
    *out = NULL;
    if (p->n_slots < 1 || !p->model_path)
        return elm_diag(d, ELM_EINVAL, "serve: need a model and at least one slot");
    if (p->n_batch < (uint32_t)p->n_slots + 1)
        return elm_diag(
            d, ELM_EINVAL,
            "serve: a batch of %u rows cannot hold a token of each of the %d slots and a "
            "prompt chunk (give -b of at least %d, or fewer slots)",
            p->n_batch, p->n_slots, p->n_slots + 1);
    elm_sched_t *s = calloc(1, sizeof *s);
    if (!s) return elm_diag(d, ELM_ENOMEM, "out of memory");
    s->p = *p;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->created = (int64_t)time(NULL);
    const char *base = strrchr(p->model_path, '/');
    snprintf(s->file_name, sizeof s->file_name, "%s", base ? base + 1 : p->model_path);
    snprintf(s->model_id, sizeof s->model_id, "%s", p->alias ? p->alias : s->file_name);
    s->lim =
        (elm_serve_limits_t){.max_body = p->max_body, .default_max_tokens = p->default_max_tokens};
    elm_model_params_t mp = elm_model_default_params();
    mp.use_mmap = p->use_mmap;
    if ((rc = elm_model_load(p->model_path, &mp, load_hooks, &s->model, d))) goto fail;
    if ((rc = elm_tokenizer_from_gguf(elm_model_gguf(s->model), &s->tok, d))) goto fail;
    if ((rc = elm_chat_pick(s->tok, p->chat_template, &s->tmpl, d))) goto fail;
    elm_session_params_t sp = elm_session_default_params();
    sp.n_ctx = p->n_ctx;
    sp.n_batch = p->n_batch;
    sp.n_threads = p->n_threads;
    sp.n_threads_batch = p->n_threads_batch;
    sp.kv_type = p->kv_type;
    sp.n_seq = (uint32_t)p->n_slots;
    if ((rc = elm_session_create(s->model, &sp, &s->sess, d))) goto fail;
    s->has_encoder = elm_model_hparams(s->model)->has_encoder;
    s->p.n_ctx = elm_session_n_ctx(s->sess);
    s->slots = calloc((size_t)p->n_slots, sizeof *s->slots);
    s->rows = calloc(p->n_batch, sizeof *s->rows);
    if (!s->slots || !s->rows) goto oom;
    for (int i = 0; i < p->n_slots; i++)
        if (!(s->slots[i].cached = malloc(s->p.n_ctx * sizeof *s->slots[i].cached))) goto oom;
    if ((rc = elm_serve_metrics_create(p->power != NULL, &s->metrics))) goto oom;
    elm_metrics_set(s->metrics, "edgelm_slots_total", NULL, p->n_slots);
    /* the baseline the first /metrics scrape counts from */
    s->power_w = NAN;
    s->power_t = elm_time_ns();
    if (p->power) {
        elm_power_reading_t r;
        s->power_name = elm_power_kind_name(elm_power_kind(p->power));
        if (!elm_power_read(p->power, &r, NULL)) {
            s->power_j = isfinite(r.energy_j) ? r.energy_j : 0;
            s->power_w = r.watts;
        }
        elm_metrics_inc(s->metrics, "edgelm_energy_joules_total", &s->power_name, 0);
    }
    *out = s;
    return 0;
oom:
    rc = elm_diag(d, ELM_ENOMEM, "out of memory for %d slots", p->n_slots);
fail:
    elm_sched_free(s);
    return rc;
}

void elm_sched_backend(elm_sched_t *s, elm_server_backend_t *b)
{
    *b = (elm_server_backend_t){
        .user = s, .handle = elm__sched_on_request, .cancel = elm__sched_on_cancel};
}

int elm_sched_start(elm_sched_t *s, elm_diag_t *d)
{
    int err = pthread_create(&s->thread, NULL, engine_thread, s);
    if (err) return elm_diag(d, elm_from_errno(err), "serve: cannot start the engine thread");
    s->started = true;
    return 0;
}

void elm_sched_stop(elm_sched_t *s)
{
    if (!s || !s->started) return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    s->started = false;
}

void elm_sched_free(elm_sched_t *s)
{
    if (!s) return;
    elm_sched_stop(s);
    for (int i = 0; s->slots && i < s->p.n_slots; i++) {
        slot_release(s, &s->slots[i]);
        free(s->slots[i].cached);
    }
    while (s->queue_head) {
        job_t *j = s->queue_head;
        s->queue_head = j->next;
        elm__sched_job_free(j);
    }
    free(s->slots);
    free(s->rows);
    elm_metrics_free(s->metrics);
    elm_session_free(s->sess);
    elm_tokenizer_free(s->tok);
    elm_model_free(s->model);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

void elm_sched_info(const elm_sched_t *s, elm_sched_info_t *out)
{
    const elm_hparams_t *hp = elm_model_hparams(s->model);
    *out = (elm_sched_info_t){
        .model_id = s->model_id,
        .n_slots = s->p.n_slots,
        .n_ctx = s->p.n_ctx,
        .weight_bytes = elm_model_weight_bytes(s->model),
        /* t5 also keeps each decoder layer's cross keys and values */
        .kv_bytes_per_slot = (uint64_t)s->p.n_ctx * hp->n_layer * 2 * hp->n_head_kv * hp->head_dim *
                             (s->p.kv_type == ELM_TYPE_F32 ? 4 : 2) * (hp->has_encoder ? 2 : 1),
        .chat_template = elm_chat_name(s->tmpl)};
}
