/* The generation loop (prefill, then sample and decode one token at a time) and the timing
 * hooks that turn its phase events into TTFT and tokens/s. */
#include <string.h>

#include "engine/engine_internal.h"

/* ---- timings ---- */

static void t_load_start(void *user, uint64_t t)
{
    elm_timings_t *tm = user;
    tm->t_load_start = t;
    if (tm->next.on_load_start) tm->next.on_load_start(tm->next.user, t);
}

static void t_load_done(void *user, uint64_t t)
{
    elm_timings_t *tm = user;
    tm->t_load_done = t;
    if (tm->next.on_load_done) tm->next.on_load_done(tm->next.user, t);
}

static void t_prefill_start(void *user, uint64_t t, uint32_t n)
{
    elm_timings_t *tm = user;
    tm->t_prefill_start = t;
    tm->n_prompt = n;
    tm->t_first_token = tm->t_last_token = 0;
    tm->n_generated = 0;
    if (tm->next.on_prefill_start) tm->next.on_prefill_start(tm->next.user, t, n);
}

static void t_prefill_end(void *user, uint64_t t, uint32_t n)
{
    elm_timings_t *tm = user;
    tm->t_prefill_end = t;
    if (tm->next.on_prefill_end) tm->next.on_prefill_end(tm->next.user, t, n);
}

static bool t_token(void *user, uint64_t t, int32_t token, const float *logits, uint32_t n_vocab)
{
    elm_timings_t *tm = user;
    if (tm->n_generated++ == 0) tm->t_first_token = t;
    tm->t_last_token = t;
    return tm->next.on_token ? tm->next.on_token(tm->next.user, t, token, logits, n_vocab) : true;
}

static void t_done(void *user, uint64_t t, uint32_t n, elm_stop_reason_t why)
{
    elm_timings_t *tm = user;
    tm->stop = why;
    if (tm->next.on_done) tm->next.on_done(tm->next.user, t, n, why);
}

void elm_timings_hooks(elm_timings_t *t, const elm_hooks_t *next, elm_hooks_t *out)
{
    memset(t, 0, sizeof *t);
    if (next) t->next = *next;
    *out = (elm_hooks_t){.user = t,
                         .on_load_start = t_load_start,
                         .on_load_done = t_load_done,
                         .on_prefill_start = t_prefill_start,
                         .on_prefill_end = t_prefill_end,
                         .on_token = t_token,
                         .on_done = t_done};
}

static double ms_between(uint64_t a, uint64_t b)
{
    return a && b >= a ? (double)(b - a) / 1e6 : 0;
}

void elm_timings_summary(const elm_timings_t *t, elm_timing_summary_t *out)
{
    memset(out, 0, sizeof *out);
    out->n_prompt = t->n_prompt;
    out->n_generated = t->n_generated;
    out->load_ms = ms_between(t->t_load_start, t->t_load_done);
    out->prefill_ms = ms_between(t->t_prefill_start, t->t_prefill_end);
    if (out->prefill_ms > 0) out->prefill_tps = t->n_prompt / (out->prefill_ms / 1e3);
    if (t->n_generated) {
        out->ttft_ms = ms_between(t->t_prefill_start, t->t_first_token);
        out->ttft_cold_ms = ms_between(t->t_load_start, t->t_first_token);
    }
    const double gen_ms = ms_between(t->t_first_token, t->t_last_token);
    if (t->n_generated > 1 && gen_ms > 0) out->gen_tps = (t->n_generated - 1) / (gen_ms / 1e3);
}

/* ---- generation ---- */

int elm_generate(elm_session_t *s, elm_sampler_t *smp, const int32_t *prompt, uint32_t n_prompt,
                 const elm_generate_params_t *gp, const elm_hooks_t *hooks, int32_t *out,
                 uint32_t *n_out, elm_diag_t *diag)
{
    static const elm_hooks_t none = {0};
    const elm_hooks_t *h = hooks ? hooks : &none;
    const elm_hparams_t *hp = elm_model_hparams(elm_session_model(s));
    if (n_out) *n_out = 0;
    if (n_prompt == 0) return elm_diag(diag, ELM_EINVAL, "generate: the prompt is empty");
    if (gp->n_predict == 0)
        return elm_diag(diag, ELM_EINVAL, "generate: n_predict must be at least 1");
    /* an encoder input replaces the sequence's: it has the whole context */
    const uint32_t room = elm_session_n_ctx(s) - (hp->has_encoder ? 0 : elm_session_n_past(s));
    if (n_prompt > room)
        return elm_diag(diag, ELM_ERANGE,
                        "generate: prompt of %u tokens is longer than the %u context positions "
                        "left (use a larger context)",
                        n_prompt, room);

    if (h->on_prefill_start) h->on_prefill_start(h->user, elm_time_ns(), n_prompt);
    int rc = hp->has_encoder ? elm_session_encode(s, 0, prompt, n_prompt, diag)
                             : elm_session_decode(s, prompt, n_prompt, false, diag);
    if (rc) {
        if (h->on_done) h->on_done(h->user, elm_time_ns(), 0, ELM_STOP_ERROR);
        return rc;
    }
    if (h->on_prefill_end) h->on_prefill_end(h->user, elm_time_ns(), n_prompt);
    for (uint32_t i = 0; i < n_prompt; i++)
        elm_sampler_accept(smp, prompt[i]);
    /* the decoder's first step belongs to the first token's latency */
    if (hp->has_encoder && (rc = elm_session_decode(s, &hp->decoder_start_id, 1, false, diag))) {
        if (h->on_done) h->on_done(h->user, elm_time_ns(), 0, ELM_STOP_ERROR);
        return rc;
    }

    uint32_t n_gen = 0;
    elm_stop_reason_t why = ELM_STOP_LENGTH;
    for (;;) {
        const float *logits = elm_session_logits(s, 0);
        const int32_t tok = elm_sampler_sample(smp, logits);
        elm_sampler_accept(smp, tok);
        if (out) out[n_gen] = tok;
        n_gen++;
        if (h->on_token && !h->on_token(h->user, elm_time_ns(), tok, logits, hp->n_vocab)) {
            why = ELM_STOP_HOOK;
            break;
        }
        if (gp->eos_id >= 0 && tok == gp->eos_id) {
            why = ELM_STOP_EOS;
            break;
        }
        if (n_gen >= gp->n_predict) break;
        if (elm_session_n_past(s) >= elm_session_n_ctx(s)) {
            why = ELM_STOP_CTX;
            break;
        }
        if ((rc = elm_session_decode(s, &tok, 1, false, diag))) {
            why = ELM_STOP_ERROR;
            break;
        }
    }
    if (n_out) *n_out = n_gen;
    if (h->on_done) h->on_done(h->user, elm_time_ns(), n_gen, why);
    return rc;
}
