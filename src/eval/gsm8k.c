/* GSM8K pass@1: the JSON-lines data, a length-stratified sample of the questions, the (k-shot,
 * chat-formatted) prompt, greedy generation, the extraction of the response's number and the exact
 * comparison with the reference, and the Wilson interval of the accuracy. */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "edgelm/eval.h"

/* ---- answer extraction ---- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Whether a number starts at p (text begins at start): a digit that does not continue a number,
 * or a minus sign before a digit that does not follow a letter or digit ("5-3" is 5 and 3). */
static bool number_starts(const char *start, const char *p)
{
    bool after_alnum = p > start && isalnum((unsigned char)p[-1]);
    if (is_digit(*p)) return !(p > start && is_digit(p[-1]));
    return *p == '-' && is_digit(p[1]) && !after_alnum;
}

/* Read the number at p (number_starts is true there): digits with commas between them, then an
 * optional fraction. Returns the end. */
static const char *scan_number(const char *p, double *value)
{
    char buf[64];
    size_t n = 0;
    if (*p == '-') buf[n++] = *p++;
    while (is_digit(*p) || (*p == ',' && is_digit(p[1]) && is_digit(p[-1]))) {
        if (*p != ',' && n < sizeof buf - 1) buf[n++] = *p;
        p++;
    }
    if (*p == '.' && is_digit(p[1])) {
        if (n < sizeof buf - 1) buf[n++] = *p;
        p++;
        while (is_digit(*p)) {
            if (n < sizeof buf - 1) buf[n++] = *p;
            p++;
        }
    }
    buf[n] = '\0';
    *value = strtod(buf, NULL);
    return p;
}

/* The first number in text (from p on), or false. */
static bool first_number(const char *text, const char *p, double *value)
{
    for (; *p; p++)
        if (number_starts(text, p)) {
            scan_number(p, value);
            return true;
        }
    return false;
}

/* The start of the last occurrence of needle in text (case-insensitive when nocase), or NULL. */
static const char *find_last(const char *text, const char *needle, bool nocase)
{
    const char *last = NULL;
    for (const char *p = text;; p++) {
        p = nocase ? strcasestr(p, needle) : strstr(p, needle);
        if (!p) return last;
        last = p;
    }
}

bool elm_gsm8k_extract(const char *response, double *value)
{
    *value = 0;
    static const char *const markers[] = {"####", "the answer is"};
    for (size_t i = 0; i < sizeof markers / sizeof markers[0]; i++) {
        const char *at = find_last(response, markers[i], i > 0);
        if (at && first_number(response, at + strlen(markers[i]), value)) return true;
    }
    bool found = false;
    for (const char *p = response; *p;) {
        if (number_starts(response, p)) {
            p = scan_number(p, value);
            found = true;
        } else {
            p++;
        }
    }
    return found;
}

/* ---- data ---- */

void elm_gsm8k_free(elm_gsm8k_set_t *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->items[i].question);
        free(s->items[i].answer);
    }
    free(s->items);
    free(s->name);
    free(s);
}

/* A string field of obj copied out, or an error naming it. */
static int take_string(const cJSON *obj, const char *field, const char *name, uint32_t line,
                       char **out, elm_diag_t *diag)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    if (!v)
        return elm_diag(diag, ELM_EINVAL, "%s: line %" PRIu32 ": no \"%s\" field", name, line,
                        field);
    if (!cJSON_IsString(v) || !v->valuestring)
        return elm_diag(diag, ELM_EINVAL, "%s: line %" PRIu32 ": \"%s\" is not a string", name,
                        line, field);
    if (!(*out = strdup(v->valuestring)))
        return elm_diag(diag, ELM_ENOMEM, "%s: out of memory", name);
    return 0;
}

/* One line's item; ELM_EINVAL naming the line on bad input. */
static int parse_line(const char *text, size_t len, const char *name, uint32_t line,
                      elm_gsm8k_item_t *it, elm_diag_t *diag)
{
    const char *end = NULL;
    cJSON *obj = cJSON_ParseWithLengthOpts(text, len, &end, false);
    int rc;
    if (!obj) {
        size_t col = end && end >= text ? (size_t)(end - text) + 1 : 1;
        return elm_diag(diag, ELM_EINVAL,
                        "%s: line %" PRIu32 ": not valid JSON (near column %zu); each line must "
                        "be one object with \"question\" and \"answer\"",
                        name, line, col);
    }
    for (const char *p = end; p < text + len; p++)
        if (!isspace((unsigned char)*p)) {
            rc = elm_diag(diag, ELM_EINVAL,
                          "%s: line %" PRIu32 ": not valid JSON (text after the object at column "
                          "%zu); each line must be one object",
                          name, line, (size_t)(p - text) + 1);
            goto done;
        }
    if (!cJSON_IsObject(obj)) {
        rc = elm_diag(diag, ELM_EINVAL, "%s: line %" PRIu32 ": not a JSON object", name, line);
        goto done;
    }
    it->line = line;
    if ((rc = take_string(obj, "question", name, line, &it->question, diag))) goto done;
    if ((rc = take_string(obj, "answer", name, line, &it->answer, diag))) goto done;
    const char *mark = find_last(it->answer, "####", false);
    if (!mark || !first_number(it->answer, mark + 4, &it->expected))
        rc =
            elm_diag(diag, ELM_EINVAL,
                     "%s: line %" PRIu32 ": the answer has no final \"#### <number>\"", name, line);
done:
    cJSON_Delete(obj);
    return rc;
}

int elm_gsm8k_parse(const char *buf, size_t len, const char *name, elm_gsm8k_set_t **out,
                    elm_diag_t *diag)
{
    *out = NULL;
    int rc = 0;
    elm_gsm8k_set_t *s = calloc(1, sizeof *s);
    size_t cap = 0;
    if (!s || !(s->name = strdup(name))) {
        free(s);
        return elm_diag(diag, ELM_ENOMEM, "%s: out of memory", name);
    }
    uint32_t line = 0;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len;
        const char *text = buf + pos;
        size_t n = end - pos;
        line++;
        pos = end + 1;
        size_t k = 0;
        while (k < n && isspace((unsigned char)text[k]))
            k++;
        if (k == n) continue; /* blank line */
        if (s->n == cap) {
            size_t ncap = cap ? 2 * cap : 256;
            elm_gsm8k_item_t *items = realloc(s->items, ncap * sizeof *items);
            if (!items) {
                rc = elm_diag(diag, ELM_ENOMEM, "%s: out of memory", name);
                goto fail;
            }
            s->items = items;
            cap = ncap;
        }
        elm_gsm8k_item_t *it = &s->items[s->n++];
        memset(it, 0, sizeof *it);
        if ((rc = parse_line(text, n, name, line, it, diag))) goto fail;
    }
    if (s->n == 0) {
        rc = elm_diag(diag, ELM_EINVAL,
                      "%s: no questions (expected JSON lines with \"question\" "
                      "and \"answer\")",
                      name);
        goto fail;
    }
    *out = s;
    return 0;
fail:
    elm_gsm8k_free(s);
    return rc;
}

int elm_gsm8k_load(const char *path, elm_gsm8k_set_t **out, elm_diag_t *diag)
{
    *out = NULL;
    char *buf;
    size_t len;
    int rc = elm_file_read(path, 0, &buf, &len, diag);
    if (rc) return rc;
    rc = elm_gsm8k_parse(buf, len, path, out, diag);
    free(buf);
    return rc;
}

/* ---- stratified sample ---- */

/* splitmix64 (Steele, Lea, Flood 2014): a small seeded generator, the same on every platform. */
static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

typedef struct {
    size_t len, id;
} by_len_t;

static int cmp_by_len(const void *a, const void *b)
{
    const by_len_t *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

int elm_gsm8k_sample(const elm_gsm8k_set_t *s, size_t n, uint64_t seed, size_t n_strata,
                     size_t *ids, size_t *per_stratum, elm_diag_t *diag)
{
    if (n == 0 || n_strata == 0)
        return elm_diag(diag, ELM_EINVAL, "a sample needs at least one question and one stratum");
    const size_t total = s->n;
    if (n_strata > total) n_strata = total;
    if (per_stratum) memset(per_stratum, 0, n_strata * sizeof *per_stratum);
    if (n >= total) {
        for (size_t i = 0; i < total; i++)
            ids[i] = i;
        if (per_stratum)
            for (size_t k = 0; k < n_strata; k++)
                per_stratum[k] = (k + 1) * total / n_strata - k * total / n_strata;
        return 0;
    }
    by_len_t *order = malloc(total * sizeof *order);
    double *rem = malloc(n_strata * sizeof *rem);
    size_t *quota = malloc(n_strata * sizeof *quota);
    if (!order || !rem || !quota) {
        free(order);
        free(rem);
        free(quota);
        return elm_diag(diag, ELM_ENOMEM, "stratified sample: out of memory");
    }
    for (size_t i = 0; i < total; i++)
        order[i] = (by_len_t){strlen(s->items[i].question), i};
    qsort(order, total, sizeof *order, cmp_by_len);

    /* Proportional allocation, rounded by largest remainder (Hamilton's method). */
    size_t given = 0;
    for (size_t k = 0; k < n_strata; k++) {
        size_t size = (k + 1) * total / n_strata - k * total / n_strata;
        double exact = (double)n * (double)size / (double)total;
        quota[k] = (size_t)exact;
        rem[k] = exact - (double)quota[k];
        given += quota[k];
    }
    while (given < n) {
        size_t best = 0;
        for (size_t k = 1; k < n_strata; k++)
            if (rem[k] > rem[best]) best = k;
        quota[best]++;
        rem[best] = -1;
        given++;
    }

    /* Within each stratum, a partial Fisher-Yates shuffle picks quota[k] members. */
    uint64_t state = seed;
    size_t out_n = 0;
    for (size_t k = 0; k < n_strata; k++) {
        size_t lo = k * total / n_strata, size = (k + 1) * total / n_strata - lo;
        by_len_t *g = order + lo;
        for (size_t j = 0; j < quota[k]; j++) {
            size_t r = j + (size_t)(splitmix64(&state) % (size - j));
            by_len_t t = g[j];
            g[j] = g[r];
            g[r] = t;
            ids[out_n++] = g[j].id;
        }
        if (per_stratum) per_stratum[k] = quota[k];
    }
    qsort(ids, out_n, sizeof *ids, cmp_size);
    free(order);
    free(rem);
    free(quota);
    return 0;
}

/* ---- prompt ---- */

static const char instruction[] =
    "\nSolve the problem step by step. End with a last line of the form \"#### <number>\".";

/* "question" + instruction, malloc'd. */
static char *user_turn(const char *question)
{
    size_t a = strlen(question), b = sizeof instruction;
    char *s = malloc(a + b);
    if (!s) return NULL;
    memcpy(s, question, a);
    memcpy(s + a, instruction, b);
    return s;
}

/* The reference solution without its calculator annotations ("<<48/2=24>>"), malloc'd. */
static char *clean_answer(const char *answer)
{
    char *s = malloc(strlen(answer) + 1), *o = s;
    if (!s) return NULL;
    for (const char *p = answer; *p;) {
        const char *close = !strncmp(p, "<<", 2) ? strstr(p + 2, ">>") : NULL;
        if (close) {
            p = close + 2;
            continue;
        }
        *o++ = *p++;
    }
    *o = '\0';
    return s;
}

int elm_gsm8k_prompt(const elm_gsm8k_set_t *shots, size_t k, const char *question,
                     elm_chat_tmpl_t tmpl, char **out, elm_diag_t *diag)
{
    *out = NULL;
    size_t avail = shots ? shots->n : 0;
    if (k > avail)
        return elm_diag(diag, ELM_EINVAL, "%zu worked examples asked for, %zu available", k, avail);
    size_t n_msgs = 2 * k + 1;
    elm_chat_msg_t *msgs = calloc(n_msgs, sizeof *msgs);
    char **owned = calloc(n_msgs, sizeof *owned);
    int rc = 0;
    if (!msgs || !owned) {
        rc = elm_diag(diag, ELM_ENOMEM, "GSM8K prompt: out of memory");
        goto done;
    }
    for (size_t i = 0; i < n_msgs; i++) {
        bool user = i % 2 == 0;
        const char *q = i / 2 < k ? shots->items[i / 2].question : question;
        owned[i] = user ? user_turn(q) : clean_answer(shots->items[i / 2].answer);
        if (!owned[i]) {
            rc = elm_diag(diag, ELM_ENOMEM, "GSM8K prompt: out of memory");
            goto done;
        }
        msgs[i] = (elm_chat_msg_t){user ? "user" : "assistant", owned[i]};
    }
    rc = elm_chat_format(tmpl, msgs, n_msgs, true, out, diag);
done:
    if (owned)
        for (size_t i = 0; i < n_msgs; i++)
            free(owned[i]);
    free(owned);
    free(msgs);
    return rc;
}

/* ---- answering ---- */

void elm_gsm8k_answer_clear(elm_gsm8k_answer_t *a)
{
    free(a->response);
    memset(a, 0, sizeof *a);
}

/* Stop at the first end-of-generation token (any of the vocabulary's, not only EOS). */
static bool stop_at_eog(void *user, uint64_t t_ns, int32_t token, const float *logits,
                        uint32_t n_vocab)
{
    (void)t_ns;
    (void)logits;
    (void)n_vocab;
    return !elm_tokenizer_is_eog(user, token);
}

int elm_gsm8k_answer(elm_session_t *s, const elm_tokenizer_t *tok, const char *prompt,
                     uint32_t max_tokens, double expected, elm_gsm8k_answer_t *out,
                     elm_diag_t *diag)
{
    memset(out, 0, sizeof *out);
    int32_t *ids = NULL, *gen = NULL;
    size_t n_ids = 0;
    elm_sampler_t *smp = NULL;
    const elm_hparams_t *hp = elm_model_hparams(elm_session_model(s));
    int rc = elm_tokenize(tok, prompt, strlen(prompt), ELM_TOK_ADD_SPECIAL | ELM_TOK_PARSE_SPECIAL,
                          &ids, &n_ids, diag);
    if (rc) return rc;
    const uint32_t n_ctx = elm_session_n_ctx(s);
    if (n_ids == 0 || n_ids >= n_ctx) {
        rc = elm_diag(diag, ELM_ERANGE,
                      "a prompt of %zu tokens leaves no room to answer in a context of %" PRIu32
                      " (use a larger context or fewer shots)",
                      n_ids, n_ctx);
        goto done;
    }
    out->n_prompt = (uint32_t)n_ids;
    uint32_t n_predict = max_tokens < n_ctx - out->n_prompt ? max_tokens : n_ctx - out->n_prompt;
    if (n_predict == 0) n_predict = 1;
    if (!(gen = malloc(n_predict * sizeof *gen))) {
        rc = elm_diag(diag, ELM_ENOMEM, "GSM8K answer: out of memory");
        goto done;
    }
    elm_sampler_params_t sp = elm_sampler_default_params();
    sp.temp = 0; /* greedy */
    if ((rc = elm_sampler_create(&sp, hp->n_vocab, &smp, diag))) goto done;
    const elm_generate_params_t gp = {.n_predict = n_predict, .eos_id = -1};
    const elm_hooks_t hooks = {.user = (void *)tok, .on_token = stop_at_eog};
    elm_session_reset(s);
    uint64_t t0 = elm_time_ns();
    uint32_t n_gen = 0;
    rc = elm_generate(s, smp, ids, out->n_prompt, &gp, &hooks, gen, &n_gen, diag);
    out->time_ms = (double)(elm_time_ns() - t0) / 1e6;
    if (rc) goto done;
    out->n_tokens = n_gen;
    size_t n_text = n_gen;
    if (n_text > 0 && elm_tokenizer_is_eog(tok, gen[n_text - 1])) n_text--;
    size_t len;
    if ((rc = elm_detokenize(tok, gen, n_text, 0, &out->response, &len, diag))) goto done;
    out->has_answer = elm_gsm8k_extract(out->response, &out->extracted);
    out->correct = out->has_answer && out->extracted == expected;
done:
    elm_sampler_free(smp);
    free(gen);
    free(ids);
    return rc;
}
