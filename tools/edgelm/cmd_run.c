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

static const char usage_text[] =
    "usage: edgelm run -m MODEL -p TEXT [--chat] [options]\n"
    "       edgelm run -m MODEL --tokens ID,ID,... [options]\n"
    "\n"
    "Generate on this device: prefill the prompt, then sample and decode one token at a time,\n"
    "printing the text (or, with --tokens, each token id) as it is generated, and stopping at\n"
    "the model's end-of-generation tokens. A summary line on stderr gives the load time,\n"
    "prompt tokens and prefill tokens/s, generated tokens and tokens/s (excluding the first\n"
    "token), and the time to first token.\n"
    "\n"
    "options:\n"
    "  -m, --model FILE       GGUF model (architectures: llama, qwen2)\n"
    "  -p, --prompt TEXT      prompt text, tokenized with the model's tokenizer (BOS added as\n"
    "                         the model asks)\n"
    "  --chat                 wrap the prompt as a user message in the model's chat template\n"
    "  --system TEXT          with --chat: a system message first\n"
    "  --chat-template NAME   with --chat: use this template family (chatml, llama3, llama2,\n"
    "                         phi3, gemma, mistral-v7, zephyr, ...) instead of the detected one\n"
    "  --tokens LIST          prompt as comma-separated token ids; prints ids\n"
    "  -n, --n-predict N      tokens to generate (default 128)\n"
    "  -t, --threads N        threads for generation (default: the number of CPUs)\n"
    "  -tb, --threads-batch N threads for the prompt's batches (default: the same as -t)\n"
    "  --ctx N                context size (default: the trained context, at most 4096)\n"
    "  --batch N              most prompt tokens per forward pass (default 512)\n"
    "  --kv-type f16|f32      KV cache type (default f16)\n"
    "  --no-mmap              read the model into memory instead of mapping it: slower to load,\n"
    "                         steadier decode where a mapped file streams slowly\n"
    "  --temp T               temperature; 0 is greedy (default 0.8)\n"
    "  --top-k K              keep the K most likely tokens; 0 is off (default 40)\n"
    "  --top-p P              keep the smallest set with probability >= P; 1 is off (default "
    "0.95)\n"
    "  --min-p P              drop tokens below P x the best one's probability; 0 is off (default "
    "0.05)\n"
    "  --repeat-penalty R     penalize the last --repeat-last-n tokens; 1 is off (default 1)\n"
    "  --repeat-last-n N      window of the penalties (default 64)\n"
    "  --freq-penalty F       subtract F per occurrence in the window (default 0)\n"
    "  --presence-penalty F   subtract F once if in the window (default 0)\n"
    "  --seed S               random seed (default: from the clock)\n"
    "  --ignore-eos           do not stop at the end-of-sequence token\n"
    "  -h, --help             this text\n"
    "\n"
    "The sampler order is llama.cpp's: penalties, top-k, top-p, min-p, temperature, draw\n"
    "(docs/sampling.md).\n"
    "\n"
    "examples:\n"
    "  edgelm run -m stories260K.gguf -p \"Once upon a time\" -n 64 --temp 0\n"
    "  edgelm run -m qwen2.5-0.5b-instruct-q4_k_m.gguf --chat -p \"Why is the sky blue?\"\n";

static const char CMD[] = "run";

static bool parse_f64(const char *s, double min, double max, double *out)
{
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < min || v > max) return false;
    *out = v;
    return true;
}

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
        if (!elm_cli_parse_i64(buf, 0, INT32_MAX, &v)) goto bad;
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
    const elm_tokenizer_t *tok;   /* NULL: print ids */
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
                       const char *tmpl_name, elm_tokenizer_t **tok, int32_t **ids,
                       uint32_t *n_ids, elm_diag_t *d)
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
        return elm_diag(d, ELM_EINVAL, "the prompt is empty and the model adds no BOS token "
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

int elm_cmd_run(int argc, char **argv)
{
    const char *model = NULL, *tokens_arg = NULL, *text = NULL, *system = NULL, *tmpl_name = NULL;
    bool chat = false;
    int64_t n_predict = 128, n_threads = sysconf(_SC_NPROCESSORS_ONLN), n_ctx = 0, n_batch = 512;
    int64_t n_threads_batch = 0; /* 0: as -t */
    bool ignore_eos = false, seed_given = false;
    elm_model_params_t mp = elm_model_default_params();
    elm_type_t kv_type = ELM_TYPE_F16;
    elm_sampler_params_t sp = elm_sampler_default_params();
    if (n_threads < 1) n_threads = 1;
    if (n_threads > ELM_POOL_MAX_THREADS) n_threads = ELM_POOL_MAX_THREADS;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (!strcmp(a, "--chat")) {
            chat = true;
            continue;
        }
        if (!strcmp(a, "--ignore-eos")) {
            ignore_eos = true;
            continue;
        }
        if (!strcmp(a, "--no-mmap")) {
            mp.use_mmap = false;
            continue;
        }
        if (a[0] != '-') return elm_cli_usage_error(CMD, "unexpected argument '%s'", a);
        if (i + 1 >= argc) return elm_cli_usage_error(CMD, "option '%s' needs a value", a);
        const char *v = argv[++i];
        int64_t iv;
        double fv;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            model = v;
        } else if (!strcmp(a, "--tokens")) {
            tokens_arg = v;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            text = v;
        } else if (!strcmp(a, "--system")) {
            system = v;
        } else if (!strcmp(a, "--chat-template")) {
            tmpl_name = v;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
            if (!elm_cli_parse_i64(v, 1, INT32_MAX, &n_predict))
                return elm_cli_usage_error(CMD,
                                           "-n must be a whole number of tokens >= 1, not '%s'", v);
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!elm_cli_parse_i64(v, 1, ELM_POOL_MAX_THREADS, &n_threads))
                return elm_cli_usage_error(CMD, "-t must be a thread count in 1..%d, not '%s'",
                                           ELM_POOL_MAX_THREADS, v);
        } else if (!strcmp(a, "-tb") || !strcmp(a, "--threads-batch")) {
            if (!elm_cli_parse_i64(v, 1, ELM_POOL_MAX_THREADS, &n_threads_batch))
                return elm_cli_usage_error(CMD, "-tb must be a thread count in 1..%d, not '%s'",
                                           ELM_POOL_MAX_THREADS, v);
        } else if (!strcmp(a, "--ctx")) {
            if (!elm_cli_parse_i64(v, 1, 1 << 24, &n_ctx))
                return elm_cli_usage_error(CMD, "--ctx must be a context size >= 1, not '%s'", v);
        } else if (!strcmp(a, "--batch")) {
            if (!elm_cli_parse_i64(v, 1, 1 << 20, &n_batch))
                return elm_cli_usage_error(CMD, "--batch must be a batch size >= 1, not '%s'", v);
        } else if (!strcmp(a, "--kv-type")) {
            if (!strcmp(v, "f16"))
                kv_type = ELM_TYPE_F16;
            else if (!strcmp(v, "f32"))
                kv_type = ELM_TYPE_F32;
            else
                return elm_cli_usage_error(CMD, "--kv-type must be f16 or f32, not '%s'", v);
        } else if (!strcmp(a, "--temp")) {
            if (!parse_f64(v, 0, 1e6, &fv))
                return elm_cli_usage_error(CMD, "--temp must be a number >= 0, not '%s'", v);
            sp.temp = (float)fv;
        } else if (!strcmp(a, "--top-k")) {
            if (!elm_cli_parse_i64(v, 0, INT32_MAX, &iv))
                return elm_cli_usage_error(CMD, "--top-k must be a whole number >= 0, not '%s'", v);
            sp.top_k = (int32_t)iv;
        } else if (!strcmp(a, "--top-p")) {
            if (!parse_f64(v, 0, 1, &fv))
                return elm_cli_usage_error(CMD, "--top-p must be a number in [0, 1], not '%s'", v);
            sp.top_p = (float)fv;
        } else if (!strcmp(a, "--min-p")) {
            if (!parse_f64(v, 0, 1, &fv))
                return elm_cli_usage_error(CMD, "--min-p must be a number in [0, 1], not '%s'", v);
            sp.min_p = (float)fv;
        } else if (!strcmp(a, "--repeat-penalty")) {
            if (!parse_f64(v, 1e-6, 1e6, &fv))
                return elm_cli_usage_error(CMD, "--repeat-penalty must be a number > 0, not '%s'",
                                           v);
            sp.repeat_penalty = (float)fv;
        } else if (!strcmp(a, "--repeat-last-n")) {
            if (!elm_cli_parse_i64(v, 0, 1 << 20, &iv))
                return elm_cli_usage_error(
                    CMD, "--repeat-last-n must be a whole number >= 0, not '%s'", v);
            sp.penalty_last_n = (int32_t)iv;
        } else if (!strcmp(a, "--freq-penalty")) {
            if (!parse_f64(v, -1e6, 1e6, &fv))
                return elm_cli_usage_error(CMD, "--freq-penalty must be a number, not '%s'", v);
            sp.freq_penalty = (float)fv;
        } else if (!strcmp(a, "--presence-penalty")) {
            if (!parse_f64(v, -1e6, 1e6, &fv))
                return elm_cli_usage_error(CMD, "--presence-penalty must be a number, not '%s'", v);
            sp.presence_penalty = (float)fv;
        } else if (!strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(v, &end, 10);
            if (errno || *end || !*v || v[0] == '-')
                return elm_cli_usage_error(CMD, "--seed must be a whole number >= 0, not '%s'", v);
            sp.seed = s;
            seed_given = true;
        } else {
            return elm_cli_usage_error(CMD, "unknown option '%s'", a);
        }
    }
    if (!model) return elm_cli_usage_error(CMD, "no model given (-m MODEL)");
    if (!tokens_arg == !text)
        return elm_cli_usage_error(CMD, "give the prompt either as text (-p TEXT) or as ids "
                                        "(--tokens ID,ID,...), %s",
                                   text ? "not both" : "none was given");
    if ((chat || system || tmpl_name) && !text)
        return elm_cli_usage_error(CMD, "--chat, --system and --chat-template need a text prompt "
                                        "(-p TEXT)");
    if ((system || tmpl_name) && !chat)
        return elm_cli_usage_error(CMD, "--system and --chat-template go with --chat");
    uint32_t n_prompt = 0;
    int32_t *prompt = NULL;
    if (tokens_arg && !(prompt = parse_tokens(tokens_arg, &n_prompt)))
        return elm_cli_usage_error(CMD, "--tokens must be comma-separated token ids >= 0, not '%s'",
                                   tokens_arg);
    if (!seed_given) sp.seed = elm_time_ns();

    int status = 1, rc;
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

    if ((rc = elm_model_load(model, &mp, &hooks, &m, &d))) goto fail;
    const elm_hparams_t *hp = elm_model_hparams(m);
    if (text) {
        if ((rc = text_prompt(m, text, chat, system, tmpl_name, &tok, &prompt, &n_prompt, &d)))
            goto fail;
        if ((rc = elm_detok_stream_create(tok, 0, &pr.stream))) goto fail;
        pr.tok = tok;
    }
    for (uint32_t i = 0; i < n_prompt; i++)
        if ((uint32_t)prompt[i] >= hp->n_vocab) {
            rc = elm_diag(&d, ELM_EINVAL,
                          "%s: prompt token %" PRId32 " is outside the vocabulary "
                          "of %" PRIu32 " tokens",
                          model, prompt[i], hp->n_vocab);
            goto fail;
        }
    elm_session_params_t ssp = elm_session_default_params();
    ssp.n_ctx = (uint32_t)n_ctx;
    ssp.n_batch = (uint32_t)n_batch;
    ssp.n_threads = (int)n_threads;
    ssp.n_threads_batch = (int)n_threads_batch;
    ssp.kv_type = kv_type;
    if ((rc = elm_session_create(m, &ssp, &s, &d))) goto fail;
    if ((rc = elm_sampler_create(&sp, hp->n_vocab, &smp, &d))) goto fail;
    const elm_generate_params_t gp = {.n_predict = (uint32_t)n_predict,
                                      .eos_id = ignore_eos ? -1 : hp->eos_id};
    rc = elm_generate(s, smp, prompt, n_prompt, &gp, &hooks, NULL, NULL, &d);
    if (pr.stream) {
        const char *rest;
        size_t len;
        if (elm_detok_stream_flush(pr.stream, &rest, &len) == 0) fwrite(rest, 1, len, stdout);
    }
    if (!pr.first) printf("\n");
    fflush(stdout); /* the text ends before the summary line on stderr starts */
    if (rc) goto fail;

    elm_timing_summary_t sum;
    elm_timings_summary(&tm, &sum);
    char tb_note[48] = "";
    if (n_threads_batch && n_threads_batch != n_threads)
        snprintf(tb_note, sizeof tb_note, " (%d for the prompt)", (int)n_threads_batch);
    fprintf(stderr,
            "edgelm run: load %.1f ms | prompt %" PRIu32 " tokens, %.1f tok/s | generated %" PRIu32
            " tokens, %.1f tok/s | TTFT %.1f ms (%.1f ms with load) | %d threads%s, ctx %" PRIu32
            ", stop: %s\n",
            sum.load_ms, sum.n_prompt, sum.prefill_tps, sum.n_generated, sum.gen_tps, sum.ttft_ms,
            sum.ttft_cold_ms, (int)n_threads, tb_note, elm_session_n_ctx(s),
            pr.eog ? "eos" : stop_name(tm.stop));
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
