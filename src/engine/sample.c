/* The sampler chain, in llama.cpp's default order (docs/sampling.md): repetition / frequency /
 * presence penalties over the last tokens, top-k, top-p, min-p, temperature, then one draw from
 * the survivors' softmax. Greedy (temp <= 0) takes the first largest logit after penalties. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_internal.h"

struct elm_sampler {
    elm_sampler_params_t p;
    uint32_t n_vocab;
    int32_t *hist; /* (penalty_last_n) ring of recent tokens */
    uint32_t hist_n, hist_at;
    uint32_t *count;        /* (n_vocab) occurrences, zero between calls */
    elm_token_prob_t *cand; /* (n_vocab) */
    uint64_t rng;
};

elm_sampler_params_t elm_sampler_default_params(void)
{
    return (elm_sampler_params_t){.temp = 0.8f,
                                  .top_k = 40,
                                  .top_p = 0.95f,
                                  .min_p = 0.05f,
                                  .repeat_penalty = 1.0f,
                                  .freq_penalty = 0.0f,
                                  .presence_penalty = 0.0f,
                                  .penalty_last_n = 64,
                                  .seed = 0};
}

int elm_sampler_create(const elm_sampler_params_t *p, uint32_t n_vocab, elm_sampler_t **out,
                       elm_diag_t *diag)
{
    *out = NULL;
    elm_sampler_params_t sp = p ? *p : elm_sampler_default_params();
    if (n_vocab == 0) return elm_diag(diag, ELM_EINVAL, "sampler: empty vocabulary");
    if (!(sp.top_p >= 0 && sp.top_p <= 1))
        return elm_diag(diag, ELM_EINVAL, "sampler: top-p %g is outside [0, 1]", sp.top_p);
    if (!(sp.min_p >= 0 && sp.min_p <= 1))
        return elm_diag(diag, ELM_EINVAL, "sampler: min-p %g is outside [0, 1]", sp.min_p);
    if (!(sp.repeat_penalty > 0))
        return elm_diag(diag, ELM_EINVAL, "sampler: repeat penalty %g must be positive",
                        sp.repeat_penalty);
    if (sp.penalty_last_n < 0 || isnan(sp.temp) || isnan(sp.freq_penalty) ||
        isnan(sp.presence_penalty))
        return elm_diag(diag, ELM_EINVAL,
                        "sampler: penalty window and penalties must be numbers >= 0");
    elm_sampler_t *s = calloc(1, sizeof *s);
    if (!s) return elm_diag(diag, ELM_ENOMEM, "sampler: out of memory");
    s->p = sp;
    s->n_vocab = n_vocab;
    s->hist = calloc((size_t)sp.penalty_last_n + 1, sizeof *s->hist);
    s->count = calloc(n_vocab, sizeof *s->count);
    s->cand = malloc(n_vocab * sizeof *s->cand);
    if (!s->hist || !s->count || !s->cand) {
        elm_sampler_free(s);
        return elm_diag(diag, ELM_ENOMEM, "sampler: out of memory");
    }
    elm_sampler_reset(s);
    *out = s;
    return 0;
}

void elm_sampler_free(elm_sampler_t *s)
{
    if (!s) return;
    free(s->hist);
    free(s->count);
    free(s->cand);
    free(s);
}

void elm_sampler_reset(elm_sampler_t *s)
{
    s->hist_n = s->hist_at = 0;
    s->rng = s->p.seed;
}

void elm_sampler_accept(elm_sampler_t *s, int32_t token)
{
    const uint32_t cap = (uint32_t)s->p.penalty_last_n;
    if (cap == 0) return;
    s->hist[s->hist_at] = token;
    s->hist_at = (s->hist_at + 1) % cap;
    if (s->hist_n < cap) s->hist_n++;
}

/* splitmix64, as a uniform float in [0, 1). */
static double rng_uniform(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1p-53;
}

/* ---- the chain ---- */

/* Repetition, frequency and presence penalties on the logits of tokens seen in the window
 * (llama.cpp's llama_sampler_penalties). */
static bool penalties_active(const elm_sampler_t *s)
{
    const elm_sampler_params_t *p = &s->p;
    return s->hist_n > 0 &&
           (p->repeat_penalty != 1.0f || p->freq_penalty != 0.0f || p->presence_penalty != 0.0f);
}

static void penalties(elm_sampler_t *s, elm_token_prob_t *c)
{
    const elm_sampler_params_t *p = &s->p;
    if (!penalties_active(s)) return;
    for (uint32_t i = 0; i < s->hist_n; i++) {
        const int32_t t = s->hist[i];
        if (t >= 0 && (uint32_t)t < s->n_vocab) s->count[t]++;
    }
    for (uint32_t i = 0; i < s->hist_n; i++) {
        const int32_t t = s->hist[i];
        if (t < 0 || (uint32_t)t >= s->n_vocab || s->count[t] == 0) continue;
        float *l = &c[t].logit;
        *l = *l <= 0 ? *l * p->repeat_penalty : *l / p->repeat_penalty;
        *l -= (float)s->count[t] * p->freq_penalty + p->presence_penalty;
        s->count[t] = 0; /* each distinct token once */
    }
}

static int by_logit_desc(const void *a, const void *b)
{
    const elm_token_prob_t *x = a, *y = b;
    if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* The heap of select_best: by_logit_desc(c[parent], c[child]) > 0, the worst kept at c[0]. */
static void sift_up(elm_token_prob_t *c, uint32_t at)
{
    while (at > 0 && by_logit_desc(&c[(at - 1) / 2], &c[at]) < 0) {
        elm_token_prob_t t = c[at];
        c[at] = c[(at - 1) / 2];
        c[(at - 1) / 2] = t;
        at = (at - 1) / 2;
    }
}

static void sift_down(elm_token_prob_t *c, uint32_t k)
{
    for (uint32_t at = 0;;) {
        uint32_t l = 2 * at + 1, r = l + 1, w = at;
        if (l < k && by_logit_desc(&c[l], &c[w]) > 0) w = l;
        if (r < k && by_logit_desc(&c[r], &c[w]) > 0) w = r;
        if (w == at) return;
        elm_token_prob_t t = c[at];
        c[at] = c[w];
        c[w] = t;
        at = w;
    }
}

/* Move the k best candidates (by_logit_desc order) to c[0..k), unordered: a min-heap of the
 * best so far, O(n log k), instead of sorting a whole large vocabulary every token. */
static void select_best(elm_token_prob_t *c, uint32_t n, uint32_t k)
{
    for (uint32_t i = 0; i < n; i++) {
        if (i < k) {
            sift_up(c, i);
            continue;
        }
        if (by_logit_desc(&c[i], &c[0]) >= 0) continue; /* not better than the worst kept */
        c[0] = c[i];
        sift_down(c, k);
    }
}

/* select_best of the logits as they are (no penalties) into c[0..k), without writing out the
 * whole vocabulary first: token i, later than every kept one, is better only by a larger logit. */
static void select_best_logits(const float *logits, uint32_t n, uint32_t k, elm_token_prob_t *c)
{
    for (uint32_t i = 0; i < k; i++) {
        c[i] = (elm_token_prob_t){(int32_t)i, logits[i], 0};
        sift_up(c, i);
    }
    for (uint32_t i = k; i < n; i++) {
        if (!(logits[i] > c[0].logit)) continue;
        c[0] = (elm_token_prob_t){(int32_t)i, logits[i], 0};
        sift_down(c, k);
    }
}

/* p = softmax of the logits of c[0..n), which is sorted best first (f32, as llama.cpp). */
static void softmax(elm_token_prob_t *c, uint32_t n)
{
    const float max = c[0].logit;
    float sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        c[i].p = expf(c[i].logit - max);
        sum += c[i].p;
    }
    for (uint32_t i = 0; i < n; i++)
        c[i].p /= sum;
}

uint32_t elm_sampler_candidates(elm_sampler_t *s, const float *logits, elm_token_prob_t *out)
{
    const elm_sampler_params_t *p = &s->p;
    elm_token_prob_t *c = out;
    if (p->temp <= 0 && !penalties_active(s)) {
        /* Greedy without penalties: the first largest logit, without copying the vocabulary. */
        uint32_t best = 0;
        for (uint32_t i = 1; i < s->n_vocab; i++)
            if (logits[i] > logits[best]) best = i;
        c[0] = (elm_token_prob_t){(int32_t)best, logits[best], 1};
        return 1;
    }
    uint32_t n = s->n_vocab;
    if (p->temp > 0 && p->top_k > 0 && (uint32_t)p->top_k < n && !penalties_active(s)) {
        n = (uint32_t)p->top_k;
        select_best_logits(logits, s->n_vocab, n, c);
    } else {
        for (uint32_t i = 0; i < s->n_vocab; i++)
            c[i] = (elm_token_prob_t){(int32_t)i, logits[i], 0};
        penalties(s, c);
    }

    if (p->temp <= 0) {
        uint32_t best = 0;
        for (uint32_t i = 1; i < s->n_vocab; i++)
            if (c[i].logit > c[best].logit) best = i;
        c[0] = c[best];
        c[0].p = 1;
        return 1;
    }

    if (p->top_k > 0 && (uint32_t)p->top_k < n) {
        n = (uint32_t)p->top_k;
        select_best(c, s->n_vocab, n);
    }
    qsort(c, n, sizeof *c, by_logit_desc);

    if (p->top_p < 1.0f) {
        softmax(c, n);
        float cum = 0;
        for (uint32_t i = 0; i < n; i++) {
            cum += c[i].p;
            if (cum >= p->top_p) {
                n = i + 1;
                break;
            }
        }
    }

    if (p->min_p > 0.0f) {
        /* p_i >= min_p · p_max  ⇔  logit_i >= logit_max + log(min_p); c is sorted. */
        const float min_logit = c[0].logit + logf(p->min_p);
        uint32_t keep = 1;
        while (keep < n && c[keep].logit >= min_logit)
            keep++;
        n = keep;
    }

    for (uint32_t i = 0; i < n; i++)
        c[i].logit /= p->temp;
    softmax(c, n);
    return n;
}

int32_t elm_sampler_sample(elm_sampler_t *s, const float *logits)
{
    const uint32_t n = elm_sampler_candidates(s, logits, s->cand);
    if (n == 1) return s->cand[0].id;
    const double u = rng_uniform(&s->rng);
    double cum = 0;
    for (uint32_t i = 0; i < n; i++) {
        cum += s->cand[i].p;
        if (u < cum) return s->cand[i].id;
    }
    return s->cand[n - 1].id;
}
