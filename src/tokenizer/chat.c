/* Chat templates: recognize the family of a tokenizer.chat_template by the markers llama.cpp's
 * llm_chat_detect_template looks for, and format messages the way llm_chat_apply_template does
 * for that family. No Jinja is run: the template text only picks the family. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

static const char *const names[ELM_CHAT_COUNT] = {
    [ELM_CHAT_UNKNOWN] = "unknown",
    [ELM_CHAT_CHATML] = "chatml",
    [ELM_CHAT_LLAMA2] = "llama2",
    [ELM_CHAT_LLAMA2_SYS] = "llama2-sys",
    [ELM_CHAT_LLAMA2_SYS_BOS] = "llama2-sys-bos",
    [ELM_CHAT_LLAMA2_SYS_STRIP] = "llama2-sys-strip",
    [ELM_CHAT_MISTRAL_V1] = "mistral-v1",
    [ELM_CHAT_MISTRAL_V3] = "mistral-v3",
    [ELM_CHAT_MISTRAL_V3_TEKKEN] = "mistral-v3-tekken",
    [ELM_CHAT_MISTRAL_V7] = "mistral-v7",
    [ELM_CHAT_PHI3] = "phi3",
    [ELM_CHAT_PHI4] = "phi4",
    [ELM_CHAT_FALCON3] = "falcon3",
    [ELM_CHAT_ZEPHYR] = "zephyr",
    [ELM_CHAT_MONARCH] = "monarch",
    [ELM_CHAT_GEMMA] = "gemma",
    [ELM_CHAT_OPENCHAT] = "openchat",
    [ELM_CHAT_VICUNA] = "vicuna",
    [ELM_CHAT_VICUNA_ORCA] = "vicuna-orca",
    [ELM_CHAT_DEEPSEEK] = "deepseek",
    [ELM_CHAT_DEEPSEEK2] = "deepseek2",
    [ELM_CHAT_DEEPSEEK3] = "deepseek3",
    [ELM_CHAT_COMMAND_R] = "command-r",
    [ELM_CHAT_LLAMA3] = "llama3",
    [ELM_CHAT_GRANITE] = "granite",
    [ELM_CHAT_PLAIN] = "plain",
};

const char *elm_chat_name(elm_chat_tmpl_t tmpl)
{
    return (int)tmpl > 0 && tmpl < ELM_CHAT_COUNT ? names[tmpl] : "unknown";
}

int elm_chat_from_name(const char *name, elm_chat_tmpl_t *out, elm_diag_t *diag)
{
    *out = ELM_CHAT_UNKNOWN;
    for (int i = 1; i < ELM_CHAT_COUNT; i++)
        if (name && !strcmp(name, names[i])) {
            *out = (elm_chat_tmpl_t)i;
            return 0;
        }
    char list[512] = "";
    for (int i = 1; i < ELM_CHAT_COUNT; i++) {
        strncat(list, names[i], sizeof list - strlen(list) - 1);
        if (i + 1 < ELM_CHAT_COUNT) strncat(list, ", ", sizeof list - strlen(list) - 1);
    }
    return elm_diag(diag, ELM_EINVAL, "unknown chat template '%s' (known: %s)", name ? name : "",
                    list);
}

/* ---- detection ---- */

elm_chat_tmpl_t elm_chat_detect(const char *tmpl)
{
    if (!tmpl) return ELM_CHAT_UNKNOWN;
    elm_chat_tmpl_t named;
    if (elm_chat_from_name(tmpl, &named, NULL) == 0) return named;
#define HAS(s) (strstr(tmpl, (s)) != NULL)
    if (HAS("<|im_start|>")) return HAS("<|im_sep|>") ? ELM_CHAT_PHI4 : ELM_CHAT_CHATML;
    if (!strncmp(tmpl, "mistral", 7) || HAS("[INST]")) {
        if (HAS("[SYSTEM_PROMPT]")) return ELM_CHAT_MISTRAL_V7;
        if (HAS("' [INST] ' + system_message") || HAS("[AVAILABLE_TOOLS]")) {
            if (HAS(" [INST]")) return ELM_CHAT_MISTRAL_V1;
            if (HAS("\"[INST]\"")) return ELM_CHAT_MISTRAL_V3_TEKKEN;
            return ELM_CHAT_MISTRAL_V3;
        }
        if (HAS("content.strip()")) return ELM_CHAT_LLAMA2_SYS_STRIP;
        if (HAS("bos_token + '[INST]")) return ELM_CHAT_LLAMA2_SYS_BOS;
        if (HAS("<<SYS>>")) return ELM_CHAT_LLAMA2_SYS;
        return ELM_CHAT_LLAMA2;
    }
    if (HAS("<|assistant|>") && HAS("<|end|>")) return ELM_CHAT_PHI3;
    if (HAS("<|assistant|>") && HAS("<|user|>") && HAS("</s>")) return ELM_CHAT_FALCON3;
    if (HAS("<|user|>") && HAS("<|endoftext|>")) return ELM_CHAT_ZEPHYR;
    if (HAS("bos_token + message['role']")) return ELM_CHAT_MONARCH;
    if (HAS("<start_of_turn>")) return ELM_CHAT_GEMMA;
    if (HAS("GPT4 Correct ")) return ELM_CHAT_OPENCHAT;
    if (HAS("USER: ") && HAS("ASSISTANT: "))
        return HAS("SYSTEM: ") ? ELM_CHAT_VICUNA_ORCA : ELM_CHAT_VICUNA;
    if (HAS("### Instruction:") && HAS("<|EOT|>")) return ELM_CHAT_DEEPSEEK;
    if (HAS("<|START_OF_TURN_TOKEN|>") && HAS("<|USER_TOKEN|>")) return ELM_CHAT_COMMAND_R;
    if (HAS("<|start_header_id|>") && HAS("<|end_header_id|>")) return ELM_CHAT_LLAMA3;
    if (HAS("'Assistant: ' + message['content'] + eos_token")) return ELM_CHAT_DEEPSEEK2;
    if (HAS("<\xef\xbd\x9c"
            "Assistant\xef\xbd\x9c>") &&
        HAS("<\xef\xbd\x9c"
            "User\xef\xbd\x9c>"))
        return ELM_CHAT_DEEPSEEK3;
    if (HAS("<|start_of_role|>")) return ELM_CHAT_GRANITE;
#undef HAS
    return ELM_CHAT_UNKNOWN;
}

elm_chat_tmpl_t elm_chat_for_arch(const char *arch)
{
    /* the families these architectures' instruct models are trained on: Gemma's turns, Phi-3's
     * <|user|>/<|end|>, InternLM2's ChatML; Flan-T5 takes plain instructions */
    static const struct {
        const char *arch;
        elm_chat_tmpl_t tmpl;
    } map[] = {{"gemma", ELM_CHAT_GEMMA},      {"gemma2", ELM_CHAT_GEMMA},
               {"gemma3", ELM_CHAT_GEMMA},     {"phi3", ELM_CHAT_PHI3},
               {"internlm2", ELM_CHAT_CHATML}, {"t5", ELM_CHAT_PLAIN}};
    for (size_t i = 0; arch && i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(arch, map[i].arch)) return map[i].tmpl;
    return ELM_CHAT_UNKNOWN;
}

int elm_chat_pick(const elm_tokenizer_t *t, const char *override_name, elm_chat_tmpl_t *out,
                  elm_diag_t *diag)
{
    if (override_name) return elm_chat_from_name(override_name, out, diag);
    const char *tmpl = t ? t->chat_template : NULL;
    *out = elm_chat_detect(tmpl);
    if (*out == ELM_CHAT_UNKNOWN && !tmpl && t && t->arch_chat != ELM_CHAT_UNKNOWN) {
        *out = t->arch_chat;
        elm_log(ELM_LOG_INFO, "the model has no chat template; using %s, its architecture's",
                elm_chat_name(*out));
        return 0;
    }
    if (*out == ELM_CHAT_UNKNOWN) {
        elm_log(ELM_LOG_WARN, "%s; using chatml (pick one with --chat-template NAME)",
                tmpl ? "chat template not recognized" : "the model has no chat template");
        *out = ELM_CHAT_CHATML;
    }
    return 0;
}

/* ---- formatting ---- */

typedef struct {
    char *p;
    size_t n, cap;
    bool oom;
} sb_t;

static void put_n(sb_t *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void put(sb_t *b, const char *s)
{
    put_n(b, s, strlen(s));
}

/* s without leading and trailing whitespace. */
static void put_trim(sb_t *b, const char *s)
{
    size_t n = strlen(s);
    while (n && isspace((unsigned char)*s))
        s++, n--;
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    put_n(b, s, n);
}

static bool is(const char *role, const char *r)
{
    return !strcmp(role, r);
}

static void format_llama2(sb_t *b, elm_chat_tmpl_t tmpl, const elm_chat_msg_t *m, size_t n)
{
    bool sys = tmpl != ELM_CHAT_LLAMA2, bos_inside = tmpl == ELM_CHAT_LLAMA2_SYS_BOS;
    bool strip = tmpl == ELM_CHAT_LLAMA2_SYS_STRIP, inside = true;
    put(b, "[INST] ");
    for (size_t i = 0; i < n; i++) {
        if (!inside) {
            inside = true;
            put(b, bos_inside ? "<s>[INST] " : "[INST] ");
        }
        void (*content)(sb_t *, const char *) = strip ? put_trim : put;
        if (is(m[i].role, "system")) {
            put(b, sys ? "<<SYS>>\n" : "");
            content(b, m[i].content);
            put(b, sys ? "\n<</SYS>>\n\n" : "\n");
        } else if (is(m[i].role, "user")) {
            content(b, m[i].content);
            put(b, " [/INST]");
        } else {
            content(b, m[i].content);
            put(b, "</s>");
            inside = false;
        }
    }
}

static void format_mistral(sb_t *b, elm_chat_tmpl_t tmpl, const elm_chat_msg_t *m, size_t n)
{
    const char *lead = tmpl == ELM_CHAT_MISTRAL_V1 ? " " : "";
    const char *trail = tmpl == ELM_CHAT_MISTRAL_V3_TEKKEN ? "" : " ";
    bool inside = false;
    for (size_t i = 0; i < n; i++) {
        if (!inside) {
            put(b, lead), put(b, "[INST]"), put(b, trail);
            inside = true;
        }
        if (is(m[i].role, "system")) {
            put(b, m[i].content), put(b, "\n\n");
        } else if (is(m[i].role, "user")) {
            put(b, m[i].content), put(b, lead), put(b, "[/INST]");
        } else {
            put(b, trail);
            if (tmpl == ELM_CHAT_MISTRAL_V3)
                put_trim(b, m[i].content);
            else
                put(b, m[i].content);
            put(b, "</s>");
            inside = false;
        }
    }
}

static void format_gemma(sb_t *b, const elm_chat_msg_t *m, size_t n, bool gen)
{
    sb_t sys = {0};
    for (size_t i = 0; i < n; i++) {
        if (is(m[i].role, "system")) {
            put_trim(&sys, m[i].content);
            continue;
        }
        bool model = is(m[i].role, "assistant");
        put(b, "<start_of_turn>"), put(b, model ? "model" : m[i].role), put(b, "\n");
        if (sys.n && !model) {
            put(b, sys.p), put(b, "\n\n");
            sys.n = 0;
        }
        put_trim(b, m[i].content), put(b, "<end_of_turn>\n");
    }
    if (gen) put(b, "<start_of_turn>model\n");
    b->oom |= sys.oom;
    free(sys.p);
}

static void format_one_by_one(sb_t *b, elm_chat_tmpl_t tmpl, const elm_chat_msg_t *m, size_t n)
{
    static const char *const eos_ds = "<\xef\xbd\x9c"
                                      "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>";
    for (size_t i = 0; i < n; i++) {
        const char *r = m[i].role, *c = m[i].content;
        bool sys = is(r, "system"), user = is(r, "user"), asst = is(r, "assistant");
        switch (tmpl) {
        case ELM_CHAT_CHATML:
            put(b, "<|im_start|>"), put(b, r), put(b, "\n"), put(b, c), put(b, "<|im_end|>\n");
            break;
        case ELM_CHAT_PHI3:
            put(b, "<|"), put(b, r), put(b, "|>\n"), put(b, c), put(b, "<|end|>\n");
            break;
        case ELM_CHAT_PHI4:
            put(b, "<|im_start|>"), put(b, r), put(b, "<|im_sep|>"), put(b, c),
                put(b, "<|im_end|>");
            break;
        case ELM_CHAT_FALCON3:
            put(b, "<|"), put(b, r), put(b, "|>\n"), put(b, c), put(b, "\n");
            break;
        case ELM_CHAT_ZEPHYR:
            put(b, "<|"), put(b, r), put(b, "|>\n"), put(b, c), put(b, "<|endoftext|>\n");
            break;
        case ELM_CHAT_MONARCH:
            put(b, i ? "<s>" : ""), put(b, r), put(b, "\n"), put(b, c), put(b, "</s>\n");
            break;
        case ELM_CHAT_MISTRAL_V7:
            if (sys)
                put(b, "[SYSTEM_PROMPT] "), put(b, c), put(b, "[/SYSTEM_PROMPT]");
            else if (user)
                put(b, "[INST] "), put(b, c), put(b, "[/INST]");
            else
                put(b, " "), put(b, c), put(b, "</s>");
            break;
        case ELM_CHAT_OPENCHAT:
            if (sys) {
                put(b, c), put(b, "<|end_of_turn|>");
            } else {
                char cap[2] = {(char)toupper((unsigned char)r[0]), 0};
                put(b, "GPT4 Correct "), put(b, cap), put(b, r[0] ? r + 1 : ""), put(b, ": "),
                    put(b, c);
                put(b, "<|end_of_turn|>");
            }
            break;
        case ELM_CHAT_VICUNA:
        case ELM_CHAT_VICUNA_ORCA:
            if (sys)
                put(b, tmpl == ELM_CHAT_VICUNA_ORCA ? "SYSTEM: " : ""), put(b, c),
                    put(b, tmpl == ELM_CHAT_VICUNA_ORCA ? "\n" : "\n\n");
            else if (user)
                put(b, "USER: "), put(b, c), put(b, "\n");
            else if (asst)
                put(b, "ASSISTANT: "), put(b, c), put(b, "</s>\n");
            break;
        case ELM_CHAT_DEEPSEEK:
            if (sys)
                put(b, c);
            else if (user)
                put(b, "### Instruction:\n"), put(b, c), put(b, "\n");
            else if (asst)
                put(b, "### Response:\n"), put(b, c), put(b, "\n<|EOT|>\n");
            break;
        case ELM_CHAT_DEEPSEEK2:
            if (sys)
                put(b, c), put(b, "\n\n");
            else if (user)
                put(b, "User: "), put(b, c), put(b, "\n\n");
            else if (asst)
                put(b, "Assistant: "), put(b, c), put(b, eos_ds);
            break;
        case ELM_CHAT_DEEPSEEK3:
            if (sys)
                put(b, c), put(b, "\n\n");
            else if (user)
                put(b, "<\xef\xbd\x9cUser\xef\xbd\x9c>"), put(b, c);
            else if (asst)
                put(b, "<\xef\xbd\x9c"
                       "Assistant\xef\xbd\x9c>"),
                    put(b, c), put(b, eos_ds);
            break;
        case ELM_CHAT_COMMAND_R:
            put(b, "<|START_OF_TURN_TOKEN|>");
            put(b, sys ? "<|SYSTEM_TOKEN|>" : user ? "<|USER_TOKEN|>" : "<|CHATBOT_TOKEN|>");
            put_trim(b, c), put(b, "<|END_OF_TURN_TOKEN|>");
            break;
        case ELM_CHAT_LLAMA3:
            put(b, "<|start_header_id|>"), put(b, r), put(b, "<|end_header_id|>\n\n");
            put_trim(b, c), put(b, "<|eot_id|>");
            break;
        case ELM_CHAT_GRANITE:
            put(b, "<|start_of_role|>"), put(b, r), put(b, "<|end_of_role|>"), put(b, c);
            put(b, "<|end_of_text|>\n");
            break;
        case ELM_CHAT_PLAIN: put(b, i ? "\n" : ""), put(b, c); break;
        default: break;
        }
    }
}

/* The opening of the assistant's turn, per family. */
static const char *generation_prompt(elm_chat_tmpl_t tmpl)
{
    switch (tmpl) {
    case ELM_CHAT_CHATML: return "<|im_start|>assistant\n";
    case ELM_CHAT_PHI3:
    case ELM_CHAT_FALCON3:
    case ELM_CHAT_ZEPHYR: return "<|assistant|>\n";
    case ELM_CHAT_PHI4: return "<|im_start|>assistant<|im_sep|>";
    case ELM_CHAT_MONARCH: return "<s>assistant\n";
    case ELM_CHAT_OPENCHAT: return "GPT4 Correct Assistant:";
    case ELM_CHAT_VICUNA:
    case ELM_CHAT_VICUNA_ORCA: return "ASSISTANT:";
    case ELM_CHAT_DEEPSEEK: return "### Response:\n";
    case ELM_CHAT_DEEPSEEK2: return "Assistant:";
    case ELM_CHAT_DEEPSEEK3:
        return "<\xef\xbd\x9c"
               "Assistant\xef\xbd\x9c>";
    case ELM_CHAT_COMMAND_R: return "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>";
    case ELM_CHAT_LLAMA3: return "<|start_header_id|>assistant<|end_header_id|>\n\n";
    case ELM_CHAT_GRANITE: return "<|start_of_role|>assistant<|end_of_role|>\n";
    default: return ""; /* the [INST] families end a user turn ready for the answer */
    }
}

int elm_chat_format(elm_chat_tmpl_t tmpl, const elm_chat_msg_t *msgs, size_t n,
                    bool add_generation_prompt, char **out, elm_diag_t *diag)
{
    *out = NULL;
    if ((int)tmpl <= 0 || tmpl >= ELM_CHAT_COUNT)
        return elm_diag(diag, ELM_EINVAL, "chat template id %d is not a known family", (int)tmpl);
    for (size_t i = 0; i < n; i++)
        if (!msgs[i].role || !msgs[i].content)
            return elm_diag(diag, ELM_EINVAL, "chat message %zu has no role or no content", i);
    sb_t b = {0};
    put(&b, "");
    switch (tmpl) {
    case ELM_CHAT_LLAMA2:
    case ELM_CHAT_LLAMA2_SYS:
    case ELM_CHAT_LLAMA2_SYS_BOS:
    case ELM_CHAT_LLAMA2_SYS_STRIP: format_llama2(&b, tmpl, msgs, n); break;
    case ELM_CHAT_MISTRAL_V1:
    case ELM_CHAT_MISTRAL_V3:
    case ELM_CHAT_MISTRAL_V3_TEKKEN: format_mistral(&b, tmpl, msgs, n); break;
    case ELM_CHAT_GEMMA: format_gemma(&b, msgs, n, add_generation_prompt); break;
    default: format_one_by_one(&b, tmpl, msgs, n); break;
    }
    if (add_generation_prompt && tmpl != ELM_CHAT_GEMMA) put(&b, generation_prompt(tmpl));
    if (b.oom) {
        free(b.p);
        return elm_diag(diag, ELM_ENOMEM, "chat template: out of memory");
    }
    *out = b.p;
    return 0;
}
