/* `edgelm tokenize -m MODEL [--json] [--no-bos] [--special] [--chat] TEXT`: the token ids and
 * pieces of a text under a model's tokenizer (a vocab-only GGUF will do). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "edgelm/tokenizer.h"

static const char usage_text[] =
    "usage: edgelm tokenize -m MODEL.gguf [options] TEXT\n"
    "\n"
    "Print the token ids of TEXT under the model's tokenizer, one per line with the text each\n"
    "stands for. MODEL may be a full model or a vocab-only GGUF file.\n"
    "\n"
    "options:\n"
    "  -m, --model FILE       the GGUF file whose tokenizer to use (required)\n"
    "  --json                 one JSON object on stdout instead of text\n"
    "  --no-bos               do not add BOS/EOS even if the vocabulary asks for them\n"
    "  --special              turn special-token text such as <|im_start|> into its token\n"
    "  --chat                 treat TEXT as a user message and apply the chat template (with the\n"
    "                         assistant's turn opened); implies --special\n"
    "  --chat-template NAME   template family for --chat (chatml, llama3, llama2, phi3, gemma,\n"
    "                         mistral-v7, deepseek3, zephyr, ...) instead of the detected one\n"
    "  --system TEXT          a system message before the user message (with --chat)\n"
    "  -h, --help             this text\n";

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

int elm_cmd_tokenize(int argc, char **argv)
{
    const char *model = NULL, *text = NULL, *tmpl_name = NULL, *system = NULL;
    bool json = false, no_bos = false, special = false, chat = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage_text, stdout);
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "--chat-template") ||
                   !strcmp(a, "--system")) {
            if (i + 1 >= argc) return elm_cli_usage_error("tokenize", "%s needs a value", a);
            const char *val = argv[++i];
            if (!strcmp(a, "--chat-template"))
                tmpl_name = val;
            else if (!strcmp(a, "--system"))
                system = val;
            else
                model = val;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--no-bos")) {
            no_bos = true;
        } else if (!strcmp(a, "--special")) {
            special = true;
        } else if (!strcmp(a, "--chat")) {
            chat = special = true;
        } else if (a[0] == '-' && a[1]) {
            return elm_cli_usage_error("tokenize", "unknown option '%s'", a);
        } else if (!text) {
            text = a;
        } else {
            return elm_cli_usage_error("tokenize", "more than one TEXT given (quote it)");
        }
    }
    if (!model) return elm_cli_usage_error("tokenize", "no model file given (-m MODEL.gguf)");
    if (!text) return elm_cli_usage_error("tokenize", "no text given");

    elm_diag_t d;
    elm_tokenizer_t *t = NULL;
    char *formatted = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = elm_tokenizer_load(model, &t, &d);
    if (rc != 0) return elm_cli_fail(&d, rc);
    if (chat) {
        elm_chat_tmpl_t tmpl;
        elm_chat_msg_t msgs[2];
        size_t nm = 0;
        if (system) msgs[nm++] = (elm_chat_msg_t){"system", system};
        msgs[nm++] = (elm_chat_msg_t){"user", text};
        if ((rc = elm_chat_pick(t, tmpl_name, &tmpl, &d)) != 0 ||
            (rc = elm_chat_format(tmpl, msgs, nm, true, &formatted, &d)) != 0)
            goto fail;
        text = formatted;
    }
    unsigned flags = (no_bos ? 0 : ELM_TOK_ADD_SPECIAL) | (special ? ELM_TOK_PARSE_SPECIAL : 0);
    if ((rc = elm_tokenize(t, text, strlen(text), flags, &ids, &n, &d)) != 0) goto fail;

    cJSON *root = json ? cJSON_CreateObject() : NULL, *arr = NULL;
    if (root) {
        cJSON_AddStringToObject(root, "model", model);
        cJSON_AddStringToObject(root, "tokenizer",
                                elm_tokenizer_kind(t) == ELM_TOK_SPM ? "llama" : "gpt2");
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
    int status = 0;
    if (root) {
        status = elm_cli_print_json(root);
    } else {
        printf("%zu tokens\n", n);
    }
    free(ids);
    free(formatted);
    elm_tokenizer_free(t);
    return status;
fail:
    free(formatted);
    elm_tokenizer_free(t);
    return elm_cli_fail(&d, rc);
}
