/* `edgelm chat`: a conversation with a model in the terminal. The model's chat template frames
 * every turn, the KV cache keeps the conversation so that each turn reads only its new tokens,
 * answers stream as they are generated, and slash commands clear, save, load and measure it.
 * Line editing and history come from libedit; input that is not a terminal is read one message a
 * line, so a conversation can be scripted. */
#include <errno.h>
#include <histedit.h>
#include <inttypes.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "edgelm/engine.h"
#include "edgelm/pool.h"
#include "edgelm/probe.h"
#include "edgelm/serve.h"
#include "edgelm/tokenizer.h"

static const char head_text[] =
    "usage: edgelm chat -m MODEL [--system TEXT] [-n N] [options]\n"
    "\n"
    "Talk with a model in the terminal, as llama-cli's conversation mode and `ollama run` do.\n"
    "Each message is framed by the model's chat template; the conversation stays in the KV\n"
    "cache, so a turn reads only its own new tokens; the answer streams as it is generated.\n"
    "When the context fills, the oldest turns are dropped (the system message stays) and the\n"
    "conversation is read again, with a note on stderr. Input that is not a terminal is read\n"
    "one message per line and each answer is printed on its own line, so chats can be scripted.\n";

static const char tail_text[] =
    "In the conversation:\n"
    "  /clear          forget the conversation (the system message stays)\n"
    "  /system [TEXT]  set the system message (without TEXT: show it)\n"
    "  /save FILE      write the conversation as a chat request body {\"model\", \"messages\"}\n"
    "                  (what POST /v1/chat/completions takes)\n"
    "  /load FILE      continue a conversation saved so, or any chat request body\n"
    "  /stats          the last turn: tokens read and reused, TTFT, tokens/s, energy\n"
    "  /help           this list\n"
    "  /bye            quit (so does Ctrl-D); Ctrl-C stops the answer being written\n"
    "\n"
    "examples:\n"
    "  edgelm chat -m qwen2.5-0.5b-instruct-q4_k_m.gguf --system \"Answer in one sentence.\"\n"
    "  printf 'Hi!\\nTell me more.\\n/stats\\n' | edgelm chat -m model.gguf --temp 0\n";

static const char CMD[] = "chat";

/* ---- arguments ---- */

typedef struct {
    elm_cli_engine_t e;
    const char *system, *tmpl_name;
    bool ignore_eos, power_given;
    int n_predict;
    int64_t seed;
    elm_sampler_params_t sp;
    elm_power_kind_t power_kind;
    elm_probe_ctx_t probe;
} chat_args_t;

static int parse_args(chat_args_t *a, int argc, char **argv)
{
    *a = (chat_args_t){
        .e = elm_cli_engine_defaults(), .n_predict = -1, .sp = elm_sampler_default_params()};
    elm_sampler_params_t *sp = &a->sp;
    elm_opt_t opts[] = {
        ELM_CLI_ENGINE_OPTS(&a->e),
        ELM_OPT_STR("--system", NULL, "TEXT", &a->system, "a system message first"),
        ELM_OPT_STR("--chat-template", NULL, "NAME", &a->tmpl_name,
                    "use this template family (chatml, llama3, llama2, phi3, gemma, ...)\n"
                    "instead of the detected one"),
        ELM_OPT_INT("--n-predict", "-n", "N", &a->n_predict, -1, INT32_MAX,
                    "most tokens per answer; -1: until the model ends its turn or the\n"
                    "context is full (default -1)"),
        ELM_CLI_SAMPLER_OPTS(sp),
        ELM_OPT_I64("--seed", NULL, "S", &a->seed, 0, INT64_MAX,
                    "random seed (default: from the clock)"),
        ELM_OPT_FLAG("--ignore-eos", NULL, &a->ignore_eos,
                     "do not end the answer at the end-of-turn token (until -n or a full\n"
                     "context, or Ctrl-C)"),
        ELM_CLI_POWER_OPTS(&a->power_kind, &a->probe,
                           "the power source of /stats' energy: rapl, hwmon, jetson, rpi5, nvml,\n"
                           "cmd, constant, estimate (default: the first sensor found)"),
        ELM_OPT_END,
    };
    elm_cli_spec_t spec = {.cmd = CMD, .head = head_text, .opts = opts, .tail = tail_text};
    int rc = elm_cli_parse(&spec, argc, argv, NULL);
    if (rc != ELM_CLI_GO) return rc;
    if ((rc = elm_cli_engine_check(CMD, &a->e)) != ELM_CLI_GO) return rc;
    if (a->n_predict == 0)
        return elm_cli_usage_error(CMD, "-n must be at least 1, or -1 for no limit");
    a->sp.seed = elm_cli_given(&spec, "--seed") ? (uint64_t)a->seed : elm_time_ns();
    a->power_given = elm_cli_given(&spec, "--power");
    elm_cli_probe_env(&a->probe);
    return elm_cli_power_pick(CMD, &a->power_given, &a->power_kind, &a->probe);
}

/* ---- the conversation ---- */

static volatile sig_atomic_t interrupted; /* Ctrl-C while an answer is written */

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

typedef struct {
    char *role, *content; /* owned */
} msg_t;

/* A growing array of token ids. */
typedef struct {
    int32_t *v;
    uint32_t n, cap;
} ids_t;

static int ids_append(ids_t *a, const int32_t *ids, uint32_t n)
{
    if (a->n + n > a->cap) {
        uint32_t cap = a->cap ? a->cap : 256;
        while (cap < a->n + n)
            cap *= 2;
        int32_t *p = realloc(a->v, cap * sizeof *p);
        if (!p) return ELM_ENOMEM;
        a->v = p;
        a->cap = cap;
    }
    if (n) memcpy(a->v + a->n, ids, n * sizeof *ids);
    a->n += n;
    return 0;
}

/* The last turn, for /stats. */
typedef struct {
    bool done;
    uint32_t n_read, n_reused; /* prompt tokens read in this turn; cached tokens it built on */
    elm_timing_summary_t t;
    const char *stop;
    elm_probe_fig_t energy_j;
} turn_stats_t;

typedef struct {
    chat_args_t a;
    elm_model_t *m;
    elm_session_t *s;
    elm_sampler_t *smp;
    elm_tokenizer_t *tok;
    elm_chat_tmpl_t tmpl;
    bool encoder; /* t5: every turn encodes the whole conversation; nothing is kept */
    msg_t *msgs;  /* the system message, if any, comes first */
    size_t n_msgs, cap_msgs;
    /* The cache: its tokens, in order; generated tokens not decoded yet (the last one sampled);
     * and the template text the two stand for, NULL when unknown (the next turn then compares
     * tokens with a fresh rendering of the whole conversation). */
    ids_t cache, pending;
    char *text;
    elm_power_source_t *power;
    char power_label[512];
    turn_stats_t last;
    FILE *out; /* answers and command output */
    bool tty;
} chat_t;

static int push_msg(chat_t *c, size_t at, const char *role, const char *content)
{
    if (c->n_msgs == c->cap_msgs) {
        size_t cap = c->cap_msgs ? 2 * c->cap_msgs : 8;
        msg_t *m = realloc(c->msgs, cap * sizeof *m);
        if (!m) return ELM_ENOMEM;
        c->msgs = m;
        c->cap_msgs = cap;
    }
    msg_t nm = {strdup(role), strdup(content)};
    if (!nm.role || !nm.content) {
        free(nm.role);
        free(nm.content);
        return ELM_ENOMEM;
    }
    memmove(c->msgs + at + 1, c->msgs + at, (c->n_msgs - at) * sizeof *c->msgs);
    c->msgs[at] = nm;
    c->n_msgs++;
    return 0;
}

static void drop_msgs(chat_t *c, size_t at, size_t n)
{
    if (n == 0) return;
    for (size_t i = at; i < at + n; i++) {
        free(c->msgs[i].role);
        free(c->msgs[i].content);
    }
    memmove(c->msgs + at, c->msgs + at + n, (c->n_msgs - at - n) * sizeof *c->msgs);
    c->n_msgs -= n;
}

static bool has_system(const chat_t *c)
{
    return c->n_msgs && !strcmp(c->msgs[0].role, "system");
}

/* The conversation in the template's format, with the assistant's opening at the end. */
static int render(const chat_t *c, char **out, elm_diag_t *d)
{
    elm_chat_msg_t *v = malloc((c->n_msgs + 1) * sizeof *v);
    if (!v) return elm_diag(d, ELM_ENOMEM, "out of memory");
    for (size_t i = 0; i < c->n_msgs; i++)
        v[i] = (elm_chat_msg_t){c->msgs[i].role, c->msgs[i].content};
    int rc = elm_chat_format(c->tmpl, v, c->n_msgs, true, out, d);
    free(v);
    return rc;
}

/* Forget what the cache holds: the next turn reads the whole conversation. */
static void cache_clear(chat_t *c)
{
    elm_session_reset(c->s);
    c->cache.n = c->pending.n = 0;
    free(c->text);
    c->text = NULL;
}

/* The tokens this turn must read, into *ids (caller frees) and *n, with the cache cut back to
 * what they follow. When the cache's text is the start of the conversation's rendering (the
 * usual case: the last answer, then the new message), only the rest is tokenized: the answer's
 * own tokens stay as generated. Otherwise the whole rendering is tokenized and the longest
 * prefix the cache shares with it is kept. *full receives the rendering. */
static int turn_tokens(chat_t *c, char **full, int32_t **ids, uint32_t *n, elm_diag_t *d)
{
    *ids = NULL;
    *n = 0;
    int rc = render(c, full, d);
    if (rc) return rc;
    size_t len = c->text ? strlen(c->text) : 0, n_tok = 0;
    int32_t *t = NULL;
    if (c->text && !strncmp(*full, c->text, len)) {
        const char *rest = *full + len;
        if ((rc = elm_tokenize(c->tok, rest, strlen(rest), ELM_TOK_PARSE_SPECIAL, &t, &n_tok, d)))
            return rc;
        ids_t all = {0};
        rc = ids_append(&all, c->pending.v, c->pending.n) || ids_append(&all, t, (uint32_t)n_tok);
        free(t);
        if (rc) {
            free(all.v);
            return elm_diag(d, ELM_ENOMEM, "out of memory");
        }
        *ids = all.v;
        *n = all.n;
        return 0;
    }
    rc = elm_tokenize(c->tok, *full, strlen(*full), ELM_TOK_ADD_SPECIAL | ELM_TOK_PARSE_SPECIAL, &t,
                      &n_tok, d);
    if (rc) return rc;
    uint32_t keep = 0;
    while (!c->encoder && keep < c->cache.n && keep + 1 < n_tok && c->cache.v[keep] == t[keep])
        keep++;
    /* (keep stays 0 for t5: the encoder's input is replaced, not extended) */
    if (!c->encoder && (rc = elm_session_truncate(c->s, keep)))
        return elm_diag(d, rc, "cannot cut the cache back to %" PRIu32 " tokens", keep);
    c->cache.n = keep;
    c->pending.n = 0;
    memmove(t, t + keep, (n_tok - keep) * sizeof *t);
    *ids = t;
    *n = (uint32_t)n_tok - keep;
    return 0;
}

/* Room an answer needs beside the prompt before old turns are dropped for it. */
static uint32_t answer_room(const chat_t *c)
{
    uint32_t n_ctx = elm_session_n_ctx(c->s), quarter = n_ctx / 4;
    return c->a.n_predict > 0 && (uint32_t)c->a.n_predict < quarter ? (uint32_t)c->a.n_predict
                                                                    : quarter;
}

/* Drop the oldest user turn and its answer (never the system message or the message just
 * typed). Returns false when there is none to drop. */
static bool drop_oldest_turn(chat_t *c)
{
    size_t first = has_system(c) ? 1 : 0;
    if (c->n_msgs - first < 2) return false; /* only the new message is left */
    size_t n = 1;
    while (first + n < c->n_msgs - 1 && strcmp(c->msgs[first + n].role, "user"))
        n++;
    drop_msgs(c, first, n);
    return true;
}

/* ---- one turn ---- */

typedef struct {
    chat_t *c;
    elm_detok_stream_t *stream;
    ids_t gen;       /* the answer's tokens, end-of-turn excluded */
    elm_sbuf_t text; /* the answer's text */
    bool eog, oom;
} answer_t;

static void emit(answer_t *w, const char *s, size_t n)
{
    if (!n) return;
    fwrite(s, 1, n, w->c->out);
    fflush(w->c->out);
    elm_sbuf_printf(&w->text, "%.*s", (int)n, s);
}

static bool on_token(void *user, uint64_t t_ns, int32_t tok, const float *logits, uint32_t n_vocab)
{
    (void)t_ns;
    (void)logits;
    (void)n_vocab;
    answer_t *w = user;
    if (!w->c->a.ignore_eos && elm_tokenizer_is_eog(w->c->tok, tok)) {
        w->eog = true;
        return false;
    }
    if (ids_append(&w->gen, &tok, 1)) {
        w->oom = true;
        return false;
    }
    const char *s;
    size_t n;
    if (elm_detok_stream_push(w->stream, tok, &s, &n, NULL) == 0) emit(w, s, n);
    return !interrupted;
}

static const char *stop_name(const answer_t *w, elm_stop_reason_t why)
{
    if (w->eog) return "end of turn";
    if (why == ELM_STOP_HOOK) return interrupted ? "interrupted" : "out of memory";
    if (why == ELM_STOP_CTX) return "context full";
    return why == ELM_STOP_LENGTH ? "length (-n)" : "error";
}

/* Energy over the answer from the power source, or why there is none. */
static elm_probe_sampler_t *energy_start(chat_t *c)
{
    elm_probe_sampler_t *smp = NULL;
    if (!c->power) return NULL;
    elm_power_source_t *src[1] = {c->power};
    if (elm_probe_sampler_create(src, 1, NULL, &smp, NULL) || elm_probe_sampler_start(smp, NULL) ||
        elm_probe_mark(smp, "turn")) {
        elm_probe_sampler_free(smp);
        return NULL;
    }
    return smp;
}

static void energy_stop(chat_t *c, elm_probe_sampler_t *smp, elm_probe_fig_t *out)
{
    elm_phase_t ph;
    *out = (elm_probe_fig_t){0};
    if (!c->power) {
        snprintf(out->why, sizeof out->why, "no power source");
    } else if (!smp || elm_probe_sampler_stop(smp) || elm_probe_sampler_phase(smp, 0, &ph)) {
        snprintf(out->why, sizeof out->why, "the power sampler did not run");
    } else {
        *out = ph.src[0].energy_j;
    }
    elm_probe_sampler_free(smp);
}

/* After an answer: the cache holds the prompt and every generated token but the last one
 * sampled (generation stops before decoding it); an end-of-turn token stays out, and the
 * template's closing text comes with the next message instead. */
static int settle(chat_t *c, const int32_t *ids, uint32_t n_ids, const answer_t *w, char *full)
{
    if (!c->encoder) {
        uint32_t held = elm_session_n_past(c->s), before = c->cache.n;
        uint32_t n_new = held > before ? held - before : 0;
        uint32_t from_prompt = n_new < n_ids ? n_new : n_ids, decoded = n_new - from_prompt;
        c->pending.n = 0;
        if (ids_append(&c->cache, ids, from_prompt) || ids_append(&c->cache, w->gen.v, decoded) ||
            (decoded < w->gen.n && ids_append(&c->pending, w->gen.v + decoded, w->gen.n - decoded)))
            return ELM_ENOMEM;
    }
    free(c->text);
    c->text = NULL;
    if (c->encoder || w->text.oom) return 0;
    elm_sbuf_t t = {0};
    elm_sbuf_printf(&t, "%s%s", full, w->text.p ? w->text.p : "");
    c->text = t.p; /* NULL on a failed allocation: the next turn compares tokens instead */
    return 0;
}

/* Read the user's message, write the answer. */
static int turn(chat_t *c, const char *message, elm_diag_t *d)
{
    int rc;
    char *full = NULL;
    int32_t *ids = NULL;
    uint32_t n_ids = 0, n_dropped = 0, n_ctx = elm_session_n_ctx(c->s);
    answer_t w = {.c = c};
    elm_probe_sampler_t *esmp = NULL;
    bool asked = false; /* the message is in the conversation, its answer not yet */
    if ((rc = push_msg(c, c->n_msgs, "user", message))) goto oom;
    asked = true;
    for (;;) {
        if ((rc = turn_tokens(c, &full, &ids, &n_ids, d))) goto fail;
        uint32_t need = (c->encoder ? 0 : c->cache.n) + n_ids;
        if (need + answer_room(c) <= n_ctx) break;
        if (drop_oldest_turn(c)) {
            n_dropped++;
            free(c->text); /* what still matches (the system message) stays cached */
            c->text = NULL;
            free(full);
            free(ids);
            full = NULL;
            ids = NULL;
            continue;
        }
        if (need < n_ctx) break; /* nothing left to drop: answer in the room there is */
        rc = elm_diag(d, ELM_ERANGE,
                      "the message needs %" PRIu32 " tokens of context with the system message "
                      "and the template, more than the %" PRIu32 " there are (start with a "
                      "larger -c, or /clear)",
                      need, n_ctx);
        goto fail;
    }
    if (n_dropped)
        fprintf(stderr,
                "[context full: dropped the oldest %" PRIu32 " turn%s, reading the rest "
                "again]\n",
                n_dropped, n_dropped == 1 ? "" : "s");

    if ((rc = elm_detok_stream_create(c->tok, 0, &w.stream))) goto oom;
    elm_timings_t tm;
    elm_hooks_t hooks, mine = {.user = &w, .on_token = on_token};
    elm_timings_hooks(&tm, &mine, &hooks);
    uint32_t room = n_ctx - (c->encoder ? 0 : c->cache.n);
    elm_generate_params_t gp = {.n_predict = c->a.n_predict > 0 ? (uint32_t)c->a.n_predict : room,
                                .eos_id = -1};
    interrupted = 0;
    c->last = (turn_stats_t){.n_read = n_ids, .n_reused = c->encoder ? 0 : c->cache.n};
    esmp = energy_start(c);
    rc = elm_generate(c->s, c->smp, ids, n_ids, &gp, &hooks, NULL, NULL, d);
    energy_stop(c, esmp, &c->last.energy_j);
    const char *tail;
    size_t n_tail;
    if (elm_detok_stream_flush(w.stream, &tail, &n_tail) == 0) emit(&w, tail, n_tail);
    fputc('\n', c->out);
    fflush(c->out);
    elm_timings_summary(&tm, &c->last.t);
    c->last.stop = stop_name(&w, tm.stop);
    c->last.done = true;
    if (interrupted && c->tty) fprintf(stderr, "[stopped]\n");
    /* the answer, however it ended, is the assistant's turn */
    if (push_msg(c, c->n_msgs, "assistant", w.text.p ? w.text.p : "")) goto oom;
    asked = false;
    if (settle(c, ids, n_ids, &w, full) || w.oom) goto oom;
    goto done;
oom:
    rc = elm_diag(d, ELM_ENOMEM, "out of memory");
fail:
    if (asked) drop_msgs(c, c->n_msgs - 1, 1); /* a message without an answer is not kept */
    cache_clear(c);                            /* the cache may no longer match the conversation */
done:
    elm_detok_stream_free(w.stream);
    free(w.gen.v);
    free(w.text.p);
    free(full);
    free(ids);
    return rc;
}

/* ---- commands ---- */

static void print_stats(const chat_t *c)
{
    FILE *f = c->out;
    if (!c->last.done) {
        fprintf(f, "no turn yet\n");
        return;
    }
    const turn_stats_t *l = &c->last;
    fprintf(f,
            "prompt: %" PRIu32 " tokens read (%" PRIu32 " reused from the cache), %.1f tok/s\n"
            "TTFT: %.1f ms\n"
            "answer: %" PRIu32 " tokens, %.1f tok/s (stop: %s)\n",
            l->n_read, l->n_reused, l->t.prefill_tps, l->t.ttft_ms, l->t.n_generated, l->t.gen_tps,
            l->stop);
    if (l->energy_j.valid)
        fprintf(f, "energy: %.3f J (%s)\n", l->energy_j.value, c->power_label);
    else if (!c->power)
        fprintf(f, "energy: %s\n", c->power_label);
    else
        fprintf(f, "energy: unavailable (%s)\n", l->energy_j.why);
    if (c->encoder)
        fprintf(f,
                "context: the encoder reads the whole conversation each turn (%" PRIu32
                " of %" PRIu32 " positions)\n",
                elm_session_seq_enc_len(c->s, 0), elm_session_n_ctx(c->s));
    else
        fprintf(f, "context: %" PRIu32 " of %" PRIu32 " positions used\n", elm_session_n_past(c->s),
                elm_session_n_ctx(c->s));
}

static const char *const role_names[] = {"system", "user", "assistant"};

/* The conversation as a chat request body: {"model", "messages"}. */
static int save(const chat_t *c, const char *path, elm_diag_t *d)
{
    const char *base = strrchr(c->a.e.model, '/');
    cJSON *o = cJSON_CreateObject(), *arr = NULL;
    if (!o || !cJSON_AddStringToObject(o, "model", base ? base + 1 : c->a.e.model) ||
        !(arr = cJSON_AddArrayToObject(o, "messages")))
        goto oom;
    for (size_t i = 0; i < c->n_msgs; i++) {
        cJSON *m = cJSON_CreateObject();
        if (!m || !cJSON_AddItemToArray(arr, m)) {
            cJSON_Delete(m);
            goto oom;
        }
        if (!cJSON_AddStringToObject(m, "role", c->msgs[i].role) ||
            !cJSON_AddStringToObject(m, "content", c->msgs[i].content))
            goto oom;
    }
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    if (!s) return elm_diag(d, ELM_ENOMEM, "out of memory");
    FILE *f = fopen(path, "w");
    int err = f ? 0 : errno;
    if (f && (fputs(s, f) < 0 || fputc('\n', f) == EOF)) err = errno;
    if (f && fclose(f) && !err) err = errno;
    free(s);
    if (err) return elm_diag(d, ELM_EIO, "%s: %s", path, strerror(err));
    return 0;
oom:
    cJSON_Delete(o);
    return elm_diag(d, ELM_ENOMEM, "out of memory");
}

#define MAX_CONVERSATION (16u << 20) /* bytes of a /load file */

/* Replace the conversation with the messages of a chat request body. */
static int load(chat_t *c, const char *path, elm_diag_t *d)
{
    char *body;
    size_t len;
    int rc = elm_file_read(path, MAX_CONVERSATION, &body, &len, d);
    if (rc) return rc;
    elm_serve_request_t r;
    elm_serve_error_t e = {0};
    const elm_serve_limits_t lim = {.max_body = MAX_CONVERSATION};
    if (elm_serve_request_parse(body, len, ELM_SERVE_CHAT, &lim, &r, &e)) {
        free(body);
        elm_serve_request_free(&r);
        return elm_diag(d, ELM_EINVAL, "%s: %s (save one with /save)", path, e.message);
    }
    free(body);
    drop_msgs(c, 0, c->n_msgs);
    for (size_t i = 0; i < r.n_messages && !rc; i++)
        rc = push_msg(c, c->n_msgs, role_names[r.messages[i].role], r.messages[i].text);
    elm_serve_request_free(&r);
    free(c->text); /* the next turn compares tokens: what still matches stays cached */
    c->text = NULL;
    elm_sampler_reset(c->smp);
    return rc ? elm_diag(d, rc, "out of memory") : 0;
}

static void help(FILE *f)
{
    const char *s = strstr(tail_text, "  /clear");
    fprintf(f, "%.*s", (int)(strstr(s, "\nexamples:") - s), s);
}

/* A line that starts with '/': run it. Returns false for /bye. */
static bool command(chat_t *c, const char *line)
{
    elm_diag_t d = {0};
    size_t n = strcspn(line, " \t");
    const char *arg = line + n + strspn(line + n, " \t");
#define IS(name) (n == strlen(name) && !strncmp(line, name, n))
    if (IS("/bye") || IS("/exit") || IS("/quit")) return false;
    if (IS("/help") || IS("/?")) {
        help(c->out);
    } else if (IS("/clear")) {
        drop_msgs(c, has_system(c), c->n_msgs - has_system(c));
        cache_clear(c);
        elm_sampler_reset(c->smp);
        fprintf(c->out, "[conversation cleared]\n");
    } else if (IS("/system")) {
        if (!*arg) {
            fprintf(c->out, "%s\n", has_system(c) ? c->msgs[0].content : "[no system message]");
        } else {
            if (has_system(c)) drop_msgs(c, 0, 1);
            if (push_msg(c, 0, "system", arg)) elm_diag(&d, ELM_ENOMEM, "out of memory");
            fprintf(c->out, "[system message set]\n");
        }
    } else if (IS("/save") || IS("/load")) {
        const bool saving = IS("/save");
        if (!*arg) {
            fprintf(stderr, "%.*s needs a file name\n", (int)n, line);
        } else if ((saving ? save(c, arg, &d) : load(c, arg, &d)) == 0) {
            fprintf(c->out, "[%s %zu message%s %s %s]\n", saving ? "saved" : "loaded", c->n_msgs,
                    c->n_msgs == 1 ? "" : "s", saving ? "to" : "from", arg);
        }
    } else if (IS("/stats")) {
        print_stats(c);
    } else {
        fprintf(stderr, "unknown command %.*s (/help lists them)\n", (int)n, line);
    }
#undef IS
    if (d.msg[0]) fprintf(stderr, "edgelm chat: %s\n", d.msg);
    return true;
}

/* ---- input ---- */

/* Lines from libedit on a terminal, else from stdin. */
typedef struct {
    EditLine *el;
    History *hist;
    char *buf;
    size_t cap;
} input_t;

static volatile sig_atomic_t line_cancelled;

static char *prompt(EditLine *el)
{
    (void)el;
    return (char *)">>> ";
}

/* Ctrl-C while typing drops the line, as a shell does (ISIG is off while libedit edits): 1, or
 * 2 when the line was empty. el_gets then returns as at the end of input. */
static unsigned char cancel_line(EditLine *el, int ch)
{
    (void)ch;
    const LineInfo *li = el_line(el);
    line_cancelled = li->lastchar == li->buffer ? 2 : 1;
    return CC_EOF;
}

static int input_open(input_t *in, bool tty)
{
    *in = (input_t){0};
    if (!tty) return 0;
    if (!(in->el = el_init("edgelm", stdin, stdout, stderr)) || !(in->hist = history_init()))
        return ELM_ENOMEM;
    HistEvent ev;
    history(in->hist, &ev, H_SETSIZE, 1000);
    history(in->hist, &ev, H_SETUNIQUE, 1);
    el_set(in->el, EL_EDITOR, "emacs");
    el_set(in->el, EL_HIST, history, in->hist);
    el_set(in->el, EL_PROMPT, prompt);
    el_set(in->el, EL_SETTY, "-d", "-isig", NULL);
    /* the wide call: el_set copies these two strings and never frees the copies */
    el_wset(in->el, EL_ADDFN, L"edgelm-cancel", L"drop the line", cancel_line);
    el_set(in->el, EL_BIND, "^C", "edgelm-cancel", NULL);
    el_source(in->el, NULL); /* ~/.editrc, as other libedit programs read it */
    return 0;
}

static void input_close(input_t *in)
{
    if (in->el) el_end(in->el);
    if (in->hist) history_end(in->hist);
    free(in->buf);
}

/* The next line without its newline, or NULL at the end of input. */
static const char *input_line(input_t *in)
{
    for (;;) {
        if (in->el) {
            int n;
            line_cancelled = 0;
            const char *s = el_gets(in->el, &n);
            if (line_cancelled) {
                fprintf(stderr, line_cancelled == 2 ? "^C (/bye or Ctrl-D to quit)\n" : "^C\n");
                continue;
            }
            if (!s || n <= 0) return NULL;
            free(in->buf);
            if (!(in->buf = strndup(s, (size_t)n))) return NULL;
        } else {
            errno = 0;
            ssize_t n = getline(&in->buf, &in->cap, stdin);
            if (n < 0) return NULL;
        }
        in->buf[strcspn(in->buf, "\r\n")] = '\0';
        if (in->buf[strspn(in->buf, " \t")]) break; /* blank lines are skipped */
    }
    if (in->el) {
        HistEvent ev;
        history(in->hist, &ev, H_ENTER, in->buf);
    }
    return in->buf;
}

/* ---- set-up ---- */

static int open_chat(chat_t *c, elm_diag_t *d)
{
    const chat_args_t *a = &c->a;
    int rc = elm_cli_engine_open(&a->e, NULL, &c->m, &c->s, d);
    if (rc) return rc;
    const elm_hparams_t *hp = elm_model_hparams(c->m);
    c->encoder = hp->has_encoder;
    if ((rc = elm_tokenizer_from_gguf(elm_model_gguf(c->m), &c->tok, d)) ||
        (rc = elm_chat_pick(c->tok, a->tmpl_name, &c->tmpl, d)))
        return rc;
    if ((rc = elm_sampler_create(&a->sp, hp->n_vocab, &c->smp, d)) ||
        (rc = elm_cli_power_open(a->power_given, a->power_kind, &a->probe, &c->power,
                                 c->power_label, sizeof c->power_label, d)))
        return rc;
    if (a->system && push_msg(c, 0, "system", a->system))
        return elm_diag(d, ELM_ENOMEM, "out of memory");
    return 0;
}

static void close_chat(chat_t *c)
{
    drop_msgs(c, 0, c->n_msgs);
    free(c->msgs);
    free(c->cache.v);
    free(c->pending.v);
    free(c->text);
    elm_power_close(c->power);
    elm_sampler_free(c->smp);
    elm_tokenizer_free(c->tok);
    elm_session_free(c->s);
    elm_model_free(c->m);
}

int elm_cmd_chat(int argc, char **argv)
{
    chat_t c = {.out = stdout};
    int status = parse_args(&c.a, argc, argv);
    if (status != ELM_CLI_GO) return status;
    setlocale(LC_CTYPE, ""); /* libedit edits UTF-8 by the locale */
    c.tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    elm_diag_t d = {0};
    input_t in = {0};
    int rc = open_chat(&c, &d);
    if (!rc && (rc = input_open(&in, c.tty))) elm_diag(&d, rc, "cannot start line editing");
    if (rc) {
        status = elm_cli_fail(&d, rc);
        goto done;
    }
    if (c.tty)
        fprintf(stderr,
                "edgelm chat: %s (%s, chat template %s, %" PRIu32 " tokens of context)\n"
                "/help lists the commands; /bye or Ctrl-D quits, Ctrl-C stops an answer.\n",
                c.a.e.model, elm_model_hparams(c.m)->arch, elm_chat_name(c.tmpl),
                elm_session_n_ctx(c.s));
    struct sigaction sa = {.sa_handler = on_sigint}, old;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    status = 0;
    for (;;) {
        const char *line = input_line(&in);
        if (!line) break;
        if (line[0] == '/') {
            if (!command(&c, line)) break;
            continue;
        }
        if ((rc = turn(&c, line, &d))) {
            fprintf(stderr, "edgelm chat: %s\n", d.msg[0] ? d.msg : elm_strerror(rc));
            if (!c.tty) status = 1; /* a script learns that a turn failed */
        }
        if (!c.tty && interrupted) break; /* Ctrl-C on a script: stop there */
    }
    sigaction(SIGINT, &old, NULL);
    if (c.tty) fputc('\n', stderr);
done:
    input_close(&in);
    close_chat(&c);
    return status;
}
