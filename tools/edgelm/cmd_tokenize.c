/* `edgelm tokenize -m MODEL [--json] [--no-bos] [--special] [--chat] TEXT`: the token ids and
 * pieces of a text under a model's tokenizer (a vocab-only GGUF will do). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "edgelm/tokenizer.h"

static const char head_text[] =
    "usage: edgelm tokenize -m MODEL.gguf [options] [--] TEXT\n"
    "\n"
    "Print the token ids of TEXT under the model's tokenizer, one per line with the text each\n"
    "stands for. MODEL may be a full model or a vocab-only GGUF file. A TEXT that starts with\n"
    "'-' goes after \"--\".\n";

static const char CMD[] = "tokenize";

typedef struct {
    const char *model, *text, *tmpl_name, *system;
    bool json, no_bos, special, chat;
} tok_args_t;

/* The piece as printable text: control bytes and invalid UTF-8 as escapes. */
static void escape_piece(const char *p, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 8 < cap;) {
        unsigned char c = (unsigned char)p[i];
        int cl = 1;
        if (c >= 0x80) {
            cl = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
            for (int k = 1; k < cl; k++)
                if (i + (size_t)k >= n || ((unsigned char)p[i + (size_t)k] & 0xc0) != 0x80) cl = 0;
        }
        if (c == '\n')
            o += (size_t)snprintf(out + o, cap - o, "\\n");
        else if (c == '\t')
            o += (size_t)snprintf(out + o, cap - o, "\\t");
        else if (c == '\\')
            o += (size_t)snprintf(out + o, cap - o, "\\\\");
        else if (c < 0x20 || c == 0x7f || cl == 0)
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
        else {
            memcpy(out + o, p + i, (size_t)cl);
            o += (size_t)cl;
            i += (size_t)cl;
            continue;
        }
        i++;
    }
    out[o] = '\0';
}

/* Returns ELM_CLI_GO, or the exit status of --help or a usage error. */
static int parse_args(tok_args_t *a, int argc, char **argv)
{
    *a = (tok_args_t){0};
    elm_opt_t opts[] = {
        ELM_OPT_STR("--model", "-m", "FILE", &a->model,
                    "the GGUF file whose tokenizer to use (required)"),
        ELM_OPT_FLAG("--json", NULL, &a->json, "one JSON object on stdout instead of text"),
        ELM_OPT_FLAG("--no-bos", NULL, &a->no_bos,
                     "do not add BOS/EOS even if the vocabulary asks for them"),
        ELM_OPT_FLAG("--special", NULL, &a->special,
                     "turn special-token text such as <|im_start|> into its token"),
        ELM_OPT_FLAG("--chat", NULL, &a->chat,
                     "treat TEXT as a user message and apply the chat template (with the\n"
                     "assistant's turn opened); implies --special"),
        ELM_OPT_STR("--chat-template", NULL, "NAME", &a->tmpl_name,
                    "template family for --chat (chatml, llama3, llama2, phi3, gemma,\n"
                    "mistral-v7, deepseek3, zephyr, ...) instead of the detected one"),
        ELM_OPT_STR("--system", NULL, "TEXT", &a->system,
                    "a system message before the user message (with --chat)"),
        ELM_OPT_END,
    };
    elm_cli_spec_t spec = {.cmd = CMD, .head = head_text, .opts = opts, .max_pos = -1};
    int n_pos = 0, rc = elm_cli_parse(&spec, argc, argv, &n_pos);
    if (rc != ELM_CLI_GO) return rc;
    if (n_pos > 1) return elm_cli_usage_error(CMD, "more than one TEXT given (quote it)");
    if (!a->model) return elm_cli_usage_error(CMD, "no model file given (-m MODEL.gguf)");
    if (n_pos == 0) return elm_cli_usage_error(CMD, "no text given");
    a->text = argv[1];
    a->special |= a->chat;
    return ELM_CLI_GO;
}

/* The ids of a->text (through the chat template with --chat) into *ids (malloc'd; caller frees). */
static int tokenize_text(const tok_args_t *a, const elm_tokenizer_t *t, int32_t **ids, size_t *n,
                         elm_diag_t *d)
{
    const char *text = a->text;
    char *formatted = NULL;
    int rc = 0;
    if (a->chat) {
        elm_chat_tmpl_t tmpl;
        elm_chat_msg_t msgs[2];
        size_t nm = 0;
        if (a->system) msgs[nm++] = (elm_chat_msg_t){"system", a->system};
        msgs[nm++] = (elm_chat_msg_t){"user", text};
        if ((rc = elm_chat_pick(t, a->tmpl_name, &tmpl, d)) != 0 ||
            (rc = elm_chat_format(tmpl, msgs, nm, true, &formatted, d)) != 0)
            goto fail;
        text = formatted;
    }
    unsigned flags =
        (a->no_bos ? 0 : ELM_TOK_ADD_SPECIAL) | (a->special ? ELM_TOK_PARSE_SPECIAL : 0);
    rc = elm_tokenize(t, text, strlen(text), flags, ids, n, d);
fail:
    free(formatted);
    return rc;
}

/* One line per token and the count, or one JSON object; returns the exit status. */
static int print_tokens(const tok_args_t *a, const elm_tokenizer_t *t, const int32_t *ids, size_t n)
{
    cJSON *root = a->json ? cJSON_CreateObject() : NULL, *arr = NULL;
    if (root) {
        cJSON_AddStringToObject(root, "model", a->model);
        elm_tok_kind_t kind = elm_tokenizer_kind(t); /* as tokenizer.ggml.model names it */
        cJSON_AddStringToObject(root, "tokenizer",
                                kind == ELM_TOK_SPM   ? "llama"
                                : kind == ELM_TOK_UGM ? "t5"
                                                      : "gpt2");
        cJSON_AddStringToObject(root, "pre", elm_tokenizer_pre(t));
        cJSON_AddNumberToObject(root, "n_tokens", (double)n);
        arr = cJSON_AddArrayToObject(root, "tokens");
    }
    for (size_t i = 0; i < n; i++) {
        char piece[256], shown[1100];
        size_t pl;
        if (elm_token_to_piece(t, ids[i], ELM_DETOK_SPECIAL, piece, sizeof piece, &pl, NULL) != 0)
            pl = 0;
        escape_piece(piece, pl, shown, sizeof shown);
        if (root) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "id", ids[i]);
            cJSON_AddStringToObject(o, "piece", shown);
            cJSON_AddItemToArray(arr, o);
        } else {
            printf("%6d  '%s'\n", ids[i], shown);
        }
    }
    if (root) return elm_cli_print_json(root);
    printf("%zu tokens\n", n);
    return 0;
}

int elm_cmd_tokenize(int argc, char **argv)
{
    tok_args_t a;
    int status = parse_args(&a, argc, argv);
    if (status != ELM_CLI_GO) return status;

    elm_diag_t d;
    elm_tokenizer_t *t = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = elm_tokenizer_load(a.model, &t, &d);
    if (!rc) rc = tokenize_text(&a, t, &ids, &n, &d);
    status = rc ? elm_cli_fail(&d, rc) : print_tokens(&a, t, ids, n);
    free(ids);
    elm_tokenizer_free(t);
    return status;
}
