/* `edgelm run`: load a model, prefill a prompt (text through the model's tokenizer and chat
 * template, or raw token ids), generate with the sampler chain, print the text (or ids) as it
 * comes, and end with one timing summary line from the engine's phase hooks. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "edgelm/engine.h"
#include "edgelm/pool.h"
#include "edgelm/tokenizer.h"

static const char head_text[] =
    "usage: edgelm run -m MODEL -p TEXT [--chat] [options]\n"
    "       edgelm run -m MODEL --tokens ID,ID,... [options]\n"
    "\n"
    "Generate on this device: prefill the prompt, then sample and decode one token at a time,\n"
    "printing the text (or, with --tokens, each token id) as it is generated, and stopping at\n"
    "the model's end-of-generation tokens. A summary line on stderr gives the load time,\n"
    "prompt tokens and prefill tokens/s, generated tokens and tokens/s (excluding the first\n"
    "token), and the time to first token. For an encoder-decoder model (t5) the prompt is the\n"
    "encoder's input: the prefill is the encoder pass, and the decoder starts from its start\n"
    "token.\n";

static const char tail_text[] =
    "The sampler order is llama.cpp's: penalties, top-k, top-p, min-p, temperature, draw\n"
    "(docs/sampling.md).\n"
    "\n"
    "examples:\n"
    "  edgelm run -m stories260K.gguf -p \"Once upon a time\" -n 64 --temp 0\n"
    "  edgelm run -m qwen2.5-0.5b-instruct-q4_k_m.gguf --chat -p \"Why is the sky blue?\"\n";

static const char CMD[] = "run";

/* "1,2,3" into a malloc'd array (caller frees); NULL and a usage message on a bad list. */
static int32_t *parse_tokens(const char *s, uint32_t *n_out)
{
    uint32_t cap = 1;
    for (const char *c = s; *c; c++)
        cap += *c == ',';
    int32_t *t = malloc(cap * sizeof *t);
    if (!t) return NULL;
    uint32_t n = 0;
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char buf[32];
        int64_t v;
        if (len == 0 || len >= sizeof buf) goto bad;
        memcpy(buf, p, len);
        buf[len] = '\0';
        if (elm_parse_i64(buf, 0, INT32_MAX, &v)) goto bad;
        t[n++] = (int32_t)v;
        if (!comma) break;
        p = comma + 1;
    }
    *n_out = n;
    return t;
bad:
    free(t);
    return NULL;
}

/* ---- printing hooks ---- */

/* What the token hook prints: ids, or text through a streaming detokenizer (whole UTF-8
 * characters only), stopping at any end-of-generation token. */
typedef struct {
    const elm_tokenizer_t *tok; /* NULL: print ids */
    elm_detok_stream_t *stream;
    bool first, eog;
} printer_t;

static bool print_token(void *user, uint64_t t_ns, int32_t token, const float *logits,
                        uint32_t n_vocab)
{
    (void)t_ns;
    (void)logits;
    (void)n_vocab;
    printer_t *p = user;
    if (!p->tok) {
        printf("%s%" PRId32, p->first ? "" : " ", token);
    } else {
        if (p->eog) return true; /* --ignore-eos: keep going, print nothing more */
        if (elm_tokenizer_is_eog(p->tok, token)) {
            p->eog = true;
            return false;
        }
        const char *text;
        size_t len;
        if (elm_detok_stream_push(p->stream, token, &text, &len, NULL) == 0)
            fwrite(text, 1, len, stdout);
    }
    fflush(stdout);
    p->first = false;
    return true;
}

/* The prompt as token ids: text through the model's tokenizer, wrapped in the chat template
 * when asked. *tok receives the tokenizer (caller frees). */
static int text_prompt(const elm_model_t *m, const char *text, bool chat, const char *system,
                       const char *tmpl_name, elm_tokenizer_t **tok, int32_t **ids, uint32_t *n_ids,
                       elm_diag_t *d)
{
    char *formatted = NULL;
    int rc = elm_tokenizer_from_gguf(elm_model_gguf(m), tok, d);
    if (rc) return rc;
    unsigned flags = ELM_TOK_ADD_SPECIAL;
    if (chat) {
        elm_chat_tmpl_t tmpl;
        if ((rc = elm_chat_pick(*tok, tmpl_name, &tmpl, d))) return rc;
        elm_chat_msg_t msgs[2];
        size_t n = 0;
        if (system) msgs[n++] = (elm_chat_msg_t){"system", system};
        msgs[n++] = (elm_chat_msg_t){"user", text};
        if ((rc = elm_chat_format(tmpl, msgs, n, true, &formatted, d))) return rc;
        text = formatted;
        flags |= ELM_TOK_PARSE_SPECIAL;
    }
    size_t n_tok = 0;
    rc = elm_tokenize(*tok, text, strlen(text), flags, ids, &n_tok, d);
    free(formatted);
    if (rc) return rc;
    if (n_tok == 0)
        return elm_diag(d, ELM_EINVAL,
                        "the prompt is empty and the model adds no BOS token "
                        "(give some text)");
    *n_ids = (uint32_t)n_tok;
    return 0;
}

static const char *stop_name(elm_stop_reason_t why)
{
    switch (why) {
    case ELM_STOP_LENGTH: return "length";
    case ELM_STOP_EOS: return "eos";
    case ELM_STOP_CTX: return "context full";
    case ELM_STOP_HOOK: return "stopped";
    default: return "error";
    }
}

/* ---- arguments ---- */

typedef struct {
    elm_cli_engine_t e;
    const char *tokens_arg, *text, *system, *tmpl_name;
    bool chat, ignore_eos;
    int n_predict;
    int64_t seed;
    bool seed_given;
    elm_sampler_params_t sp;
} run_args_t;

/* Returns ELM_CLI_GO, or the exit status of --help or a usage error. */
static int parse_args(run_args_t *a, int argc, char **argv)
{
    *a = (run_args_t){
        .e = elm_cli_engine_defaults(), .n_predict = 128, .sp = elm_sampler_default_params()};
    elm_sampler_params_t *sp = &a->sp;
    elm_opt_t opts[] = {
        ELM_CLI_ENGINE_OPTS(&a->e),
        ELM_OPT_STR("--prompt", "-p", "TEXT", &a->text,
                    "prompt text, tokenized with the model's tokenizer (BOS added as\n"
                    "the model asks)"),
        ELM_OPT_FLAG("--chat", NULL, &a->chat,
                     "wrap the prompt as a user message in the model's chat template"),
        ELM_OPT_STR("--system", NULL, "TEXT", &a->system, "with --chat: a system message first"),
        ELM_OPT_STR("--chat-template", NULL, "NAME", &a->tmpl_name,
                    "with --chat: use this template family (chatml, llama3, llama2,\n"
                    "phi3, gemma, mistral-v7, zephyr, ...) instead of the detected one"),
        ELM_OPT_STR("--tokens", NULL, "LIST", &a->tokens_arg,
                    "prompt as comma-separated token ids; prints ids"),
        ELM_OPT_INT("--n-predict", "-n", "N", &a->n_predict, 1, INT32_MAX,
                    "tokens to generate (default 128)"),
        ELM_CLI_SAMPLER_OPTS(sp),
        ELM_OPT_I64("--seed", NULL, "S", &a->seed, 0, INT64_MAX,
                    "random seed (default: from the clock)"),
        ELM_OPT_FLAG("--ignore-eos", NULL, &a->ignore_eos,
                     "do not stop at the end-of-sequence token"),
        ELM_OPT_END,
    };
    elm_cli_spec_t spec = {.cmd = CMD, .head = head_text, .opts = opts, .tail = tail_text};
    int rc = elm_cli_parse(&spec, argc, argv, NULL);
    if (rc != ELM_CLI_GO) return rc;
    a->seed_given = elm_cli_given(&spec, "--seed");
    if ((rc = elm_cli_engine_check(CMD, &a->e)) != ELM_CLI_GO) return rc;
    if (!a->tokens_arg == !a->text)
        return elm_cli_usage_error(CMD,
                                   "give the prompt either as text (-p TEXT) or as ids "
                                   "(--tokens ID,ID,...), %s",
                                   a->text ? "not both" : "none was given");
    if ((a->chat || a->system || a->tmpl_name) && !a->text)
        return elm_cli_usage_error(CMD, "--chat, --system and --chat-template need a text prompt "
                                        "(-p TEXT)");
    if ((a->system || a->tmpl_name) && !a->chat)
        return elm_cli_usage_error(CMD, "--system and --chat-template go with --chat");
    return ELM_CLI_GO;
}

/* ---- generation ---- */

static void print_summary(const run_args_t *a, const elm_timings_t *tm, const elm_session_t *s,
                          bool eog)
{
    elm_timing_summary_t sum;
    elm_timings_summary(tm, &sum);
    char tb_note[48] = "";
    if (a->e.n_threads_batch && a->e.n_threads_batch != a->e.n_threads)
        snprintf(tb_note, sizeof tb_note, " (%d for the prompt)", a->e.n_threads_batch);
    fprintf(stderr,
            "edgelm run: load %.1f ms | prompt %" PRIu32 " tokens, %.1f tok/s | generated %" PRIu32
            " tokens, %.1f tok/s | TTFT %.1f ms (%.1f ms with load) | %d threads%s, ctx %" PRIu32
            ", stop: %s\n",
            sum.load_ms, sum.n_prompt, sum.prefill_tps, sum.n_generated, sum.gen_tps, sum.ttft_ms,
            sum.ttft_cold_ms, a->e.n_threads, tb_note, elm_session_n_ctx(s),
            eog ? "eos" : stop_name(tm->stop));
}

/* The prompt's ids must index the model's vocabulary. */
static int check_prompt(const char *model, const int32_t *prompt, uint32_t n_prompt,
                        uint32_t n_vocab, elm_diag_t *d)
{
    for (uint32_t i = 0; i < n_prompt; i++)
        if ((uint32_t)prompt[i] >= n_vocab)
            return elm_diag(d, ELM_EINVAL,
                            "%s: prompt token %" PRId32 " is outside the vocabulary of %" PRIu32
                            " tokens",
                            model, prompt[i], n_vocab);
    return 0;
}

int elm_cmd_run(int argc, char **argv)
{
    run_args_t a;
    int status = parse_args(&a, argc, argv);
    if (status != ELM_CLI_GO) return status;
    uint32_t n_prompt = 0;
    int32_t *prompt = NULL;
    if (a.tokens_arg && !(prompt = parse_tokens(a.tokens_arg, &n_prompt)))
        return elm_cli_usage_error(CMD, "--tokens must be comma-separated token ids >= 0, not '%s'",
                                   a.tokens_arg);
    a.sp.seed = a.seed_given ? (uint64_t)a.seed : elm_time_ns();

    int rc;
    elm_diag_t d;
    elm_model_t *m = NULL;
    elm_session_t *s = NULL;
    elm_sampler_t *smp = NULL;
    elm_tokenizer_t *tok = NULL;
    printer_t pr = {.first = true};
    const elm_hooks_t printer = {.user = &pr, .on_token = print_token};
    elm_timings_t tm;
    elm_hooks_t hooks;
    elm_timings_hooks(&tm, &printer, &hooks);

    if ((rc = elm_cli_engine_open(&a.e, &hooks, &m, &s, &d))) goto fail;
    const elm_hparams_t *hp = elm_model_hparams(m);
    if (a.text) {
        if ((rc = text_prompt(m, a.text, a.chat, a.system, a.tmpl_name, &tok, &prompt, &n_prompt,
                              &d)))
            goto fail;
        if ((rc = elm_detok_stream_create(tok, 0, &pr.stream))) goto fail;
        pr.tok = tok;
    }
    if ((rc = check_prompt(a.e.model, prompt, n_prompt, hp->n_vocab, &d))) goto fail;
    if ((rc = elm_sampler_create(&a.sp, hp->n_vocab, &smp, &d))) goto fail;
    const elm_generate_params_t gp = {.n_predict = (uint32_t)a.n_predict,
                                      .eos_id = a.ignore_eos ? -1 : hp->eos_id};
    rc = elm_generate(s, smp, prompt, n_prompt, &gp, &hooks, NULL, NULL, &d);
    if (pr.stream) {
        const char *rest;
        size_t len;
        if (elm_detok_stream_flush(pr.stream, &rest, &len) == 0) fwrite(rest, 1, len, stdout);
    }
    if (!pr.first) printf("\n");
    fflush(stdout); /* the text ends before the summary line on stderr starts */
    if (rc) goto fail;
    print_summary(&a, &tm, s, pr.eog);
    status = 0;
    goto done;
fail:
    status = elm_cli_fail(&d, rc);
done:
    elm_detok_stream_free(pr.stream);
    elm_tokenizer_free(tok);
    elm_sampler_free(smp);
    elm_session_free(s);
    elm_model_free(m);
    free(prompt);
    return status;
}
