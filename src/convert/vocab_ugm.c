/* The generated SentencePiece Unigram vocabulary of a synthetic T5 model (tokenizer.ggml.model
 * "t5"), laid out as convert_hf_to_gguf.py's T5Model.set_vocab writes Flan-T5's (reference README
 * §6.6): <pad> and </s> (CONTROL), <unk> (UNKNOWN), the NORMAL pieces sorted by score, highest
 * first, then "[PAD<id>]" UNUSED entries at -10000 for the ids past the SentencePiece model
 * (Flan-T5's 28 padding ids and 100 <extra_id_*>). There are no byte pieces: T5 has no byte
 * fallback. The pieces are what makes English tokenize into about as many pieces as Flan-T5's
 * vocabulary gives (1.3 to 2.3 per word): "▁", a few hundred whole words, every printable ASCII
 * character T5 has, some Latin-1, Greek, Cyrillic and CJK characters, "▁"+letter, common word
 * endings, English-like syllables (with "▁" at a word start, bare inside a word, capitalised)
 * and letter pairs, the best of them by a log-probability-like score, with a small deterministic
 * jitter so that no two tie. No precompiled_charsmap is written: without it the UGM normalizer
 * only handles spaces. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/convert_internal.h"

enum { UGM_NORMAL = 1, UGM_UNKNOWN = 2, UGM_CONTROL = 3, UGM_UNUSED = 5 };

#define SP        "\xe2\x96\x81" /* U+2581, SentencePiece's word-start mark */
#define PIECE_MAX 16             /* bytes, with the NUL */
#define N_UNUSED  128            /* Flan-T5: 32128 ids, 32000 SentencePiece pieces */

typedef struct {
    char s[PIECE_MAX];
    float score;
    bool must; /* coverage: kept whatever the vocabulary size */
} piece_t;

typedef struct {
    piece_t *p;
    size_t n, cap;
} pieces_t;

/* English letter frequencies in percent, a..z (the usual corpus counts). */
static const float letter_freq[26] = {8.2f,  1.5f,  2.8f, 4.3f,  12.7f, 2.2f,  2.0f, 6.1f,   7.0f,
                                      0.15f, 0.77f, 4.0f, 2.4f,  6.7f,  7.5f,  1.9f, 0.095f, 6.0f,
                                      6.3f,  9.1f,  2.8f, 0.98f, 2.4f,  0.15f, 2.0f, 0.074f};

/* The commonest English words, and a few German and French ones (T5 translates between them). */
static const char *const words[] = {
    "the",       "of",      "and",    "to",     "a",        "in",     "is",    "it",    "you",
    "that",      "he",      "was",    "for",    "on",       "are",    "with",  "as",    "his",
    "they",      "be",      "at",     "one",    "have",     "this",   "from",  "or",    "had",
    "by",        "not",     "word",   "but",    "what",     "some",   "we",    "can",   "out",
    "other",     "were",    "all",    "there",  "when",     "up",     "use",   "your",  "how",
    "said",      "an",      "each",   "she",    "which",    "do",     "their", "time",  "if",
    "will",      "way",     "about",  "many",   "then",     "them",   "write", "would", "like",
    "so",        "these",   "her",    "long",   "make",     "thing",  "see",   "him",   "two",
    "has",       "look",    "more",   "day",    "could",    "go",     "come",  "did",   "number",
    "sound",     "no",      "most",   "people", "my",       "over",   "know",  "water", "than",
    "call",      "first",   "who",    "may",    "down",     "side",   "been",  "now",   "find",
    "any",       "new",     "work",   "part",   "take",     "get",    "place", "made",  "live",
    "where",     "after",   "back",   "little", "only",     "round",  "man",   "year",  "came",
    "show",      "every",   "good",   "me",     "give",     "our",    "under", "name",  "very",
    "through",   "just",    "form",   "great",  "think",    "say",    "help",  "line",  "turn",
    "much",      "mean",    "before", "move",   "right",    "old",    "too",   "same",  "tell",
    "does",      "set",     "three",  "want",   "well",     "also",   "play",  "small", "end",
    "put",       "home",    "read",   "hand",   "large",    "even",   "here",  "must",  "big",
    "high",      "such",    "why",    "ask",    "change",   "went",   "light", "kind",  "need",
    "house",     "try",     "again",  "point",  "world",    "near",   "build", "earth", "summarize",
    "translate", "English", "German", "French", "question", "answer", "der",   "die",   "und",
    "das",       "ist",     "ein",    "nicht",  "Haus",     "le",     "la",    "les",   "et",
    "est",       "une",     "pas",    "qui",
};

/* Characters beyond ASCII that the vocabulary covers (UTF-8, one code point each). */
static const char *const extra_chars[] = {
    "é", "è",  "ê",  "à",  "â",  "ä",  "ö",  "ü",  "ß",  "ç",  "ñ",  "í",  "ó",  "ú",  "á",
    "ô", "î",  "ï",  "É",  "Ä",  "Ö",  "Ü",  "α",  "β",  "γ",  "δ",  "ε",  "π",  "σ",  "ω",
    "а", "б",  "в",  "г",  "д",  "е",  "и",  "к",  "л",  "м",  "н",  "о",  "п",  "р",  "с",
    "т", "的", "一", "是", "不", "了", "人", "我", "在", "有", "中", "大", "国", "日", "本",
    "€", "£",  "°",  "–",  "—",  "’",  "“",  "”",  "…",  "«",  "»",
};

static int push(pieces_t *v, const char *s, float score, bool must)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 1024;
        piece_t *p = realloc(v->p, cap * sizeof *p);
        if (!p) return ELM_ENOMEM;
        v->p = p;
        v->cap = cap;
    }
    piece_t *p = &v->p[v->n++];
    strncpy(p->s, s, PIECE_MAX - 1);
    p->s[PIECE_MAX - 1] = 0;
    /* a jitter below 0.01, fixed by the text, so that no two scores tie */
    uint64_t h = elm__fnv1a64(s);
    p->score = score - (float)(elm__splitmix64(&h) >> 40) * (0.01f / 16777216.0f);
    p->must = must;
    return 0;
}

/* A crude English syllable model: onset + nucleus + coda, each list in rough order of frequency.
 * Pieces made of one syllable (after "▁" for a word start, bare inside a word, capitalised for a
 * sentence start) cover most English words in one to three pieces, as a trained model's do. */
static const char *const onsets[] = {
    "",   "t",  "s",  "th", "w",  "h",  "m",  "c",  "b",  "f",   "p",  "l",  "d",
    "r",  "n",  "g",  "st", "wh", "k",  "pr", "tr", "v",  "y",   "gr", "ch", "sh",
    "br", "pl", "fr", "cl", "sp", "j",  "qu", "bl", "cr", "dr",  "fl", "gl", "sl",
    "sm", "sn", "sc", "sk", "sw", "tw", "ph", "kn", "wr", "str", "z",
};
static const char *const nuclei[] = {"e",  "a",  "o",  "i",  "u",  "ou", "ea", "y",  "ee",
                                     "ai", "oo", "ow", "ie", "ay", "oa", "au", "oi", "ey"};
static const char *const codas[] = {
    "",   "n",  "r",  "s",  "t",  "l",  "d",  "nd", "ng", "st", "ll", "m",   "re",
    "ve", "ch", "ck", "nt", "se", "ce", "te", "ne", "le", "ss", "th", "ct",  "rt",
    "rd", "rs", "ts", "ds", "ns", "ke", "de", "ge", "me", "pe", "p",  "k",   "x",
    "f",  "g",  "b",  "sh", "mp", "lt", "ft", "nk", "rk", "rm", "rn", "ght", "tch",
};
/* Word endings, bare. */
static const char *const suffixes[] = {
    "s",    "ed",   "ing",  "er",    "ly",  "es",  "tion", "al",   "ers",  "ment",
    "ness", "able", "ful",  "less",  "ous", "ive", "est",  "ity",  "ize",  "ic",
    "ical", "ions", "ated", "ating", "ies", "ied", "ship", "ward", "like", "ism",
};

/* Zipf weight of the rank-th entry of a list: ln(1 / (rank + 2)). */
static float zipf(size_t rank)
{
    return -logf((float)rank + 2.0f);
}

/* Every onset + nucleus + coda, bare (inside a word), after "▁", and capitalised after "▁",
 * scored by the product of the parts' Zipf weights. */
static int push_syllables(pieces_t *v)
{
    char g[PIECE_MAX], buf[PIECE_MAX];
    for (size_t a = 0; a < sizeof onsets / sizeof onsets[0]; a++)
        for (size_t b = 0; b < sizeof nuclei / sizeof nuclei[0]; b++)
            for (size_t c = 0; c < sizeof codas / sizeof codas[0]; c++) {
                int len = snprintf(g, sizeof g, "%s%s%s", onsets[a], nuclei[b], codas[c]);
                float sc = zipf(a) + zipf(b) + zipf(c) - 1.0f;
                memcpy(buf, SP, 3);
                memcpy(buf + 3, g, (size_t)len + 1);
                int rc = push(v, buf, sc, false);
                if (!rc) rc = push(v, g, sc - 0.5f, false);
                if (!rc) {
                    buf[3] = (char)(buf[3] - 'a' + 'A');
                    rc = push(v, buf, sc - 1.5f, false);
                }
                if (rc) return rc;
            }
    return 0;
}

/* Every pair of lowercase letters, bare and after "▁": the fallback below syllables. */
static int push_pairs(pieces_t *v)
{
    char buf[PIECE_MAX];
    for (int a = 'a'; a <= 'z'; a++)
        for (int b = 'a'; b <= 'z'; b++) {
            snprintf(buf, sizeof buf, "%c%c", a, b);
            int rc = push(v, buf, -11.0f, false);
            snprintf(buf, sizeof buf, SP "%c%c", a, b);
            if (!rc) rc = push(v, buf, -10.5f, false);
            if (rc) return rc;
        }
    return 0;
}

static int push_all(pieces_t *v)
{
    char buf[PIECE_MAX];
    int rc = push(v, SP, -2.0f, true);
    for (size_t i = 0; !rc && i < sizeof words / sizeof words[0]; i++) {
        snprintf(buf, sizeof buf, SP "%s", words[i]);
        rc = push(v, buf, -3.0f - 0.02f * (float)i, true);
        if (!rc && i < 40 && words[i][0] >= 'a') { /* sentence starts */
            buf[3] = (char)(buf[3] - 'a' + 'A');
            rc = push(v, buf, -4.5f - 0.02f * (float)i, true);
        }
    }
    /* printable ASCII, without the characters T5's vocabulary lacks ({ } < ~ \ ^ | `) */
    for (int c = '!'; !rc && c <= '~'; c++) {
        if (strchr("{}<~\\^|`", c)) continue;
        char s[2] = {(char)c, 0};
        float sc = c >= 'a' && c <= 'z'   ? logf(letter_freq[c - 'a'] / 100.0f) - 1.0f
                   : c >= 'A' && c <= 'Z' ? logf(letter_freq[c - 'A'] / 100.0f) - 3.0f
                   : c >= '0' && c <= '9' ? -6.0f
                   : strchr(".,'-:", c)   ? -4.0f
                                          : -8.0f;
        rc = push(v, s, sc, true);
        if (!rc && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    strchr("(\"'-", c))) {
            snprintf(buf, sizeof buf, SP "%c", c);
            rc = push(v, buf, sc + 0.5f, true);
        }
    }
    for (size_t i = 0; !rc && i < sizeof extra_chars / sizeof extra_chars[0]; i++)
        rc = push(v, extra_chars[i], -10.0f, true);
    for (int d = 0; !rc && d < 100; d++) {
        snprintf(buf, sizeof buf, "%02d", d);
        rc = push(v, buf, -9.0f, false);
    }
    for (size_t i = 0; !rc && i < sizeof suffixes / sizeof suffixes[0]; i++)
        rc = push(v, suffixes[i], -5.0f + zipf(i), false);
    if (!rc) rc = push_syllables(v);
    if (!rc) rc = push_pairs(v);
    return rc;
}

static int by_text(const void *a, const void *b)
{
    return strcmp(((const piece_t *)a)->s, ((const piece_t *)b)->s);
}

/* Coverage pieces first, then by descending score; the text breaks exact ties. */
static int by_rank(const void *a, const void *b)
{
    const piece_t *x = a, *y = b;
    if (x->must != y->must) return x->must ? -1 : 1;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return strcmp(x->s, y->s);
}

static int by_score(const void *a, const void *b)
{
    const piece_t *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return strcmp(x->s, y->s);
}

/* The n_normal best pieces, by descending score, into *out (malloc'd; count in *n_out, which is
 * smaller than n_normal only if the candidates run out). */
static int choose_pieces(size_t n_normal, piece_t **out, size_t *n_out)
{
    pieces_t v = {0};
    int rc = push_all(&v);
    if (rc) {
        free(v.p);
        return rc;
    }
    /* one entry per text: a word list entry also made as an n-gram keeps the better rank */
    qsort(v.p, v.n, sizeof *v.p, by_text);
    size_t k = 0;
    for (size_t i = 0; i < v.n; i++) {
        if (k && !strcmp(v.p[k - 1].s, v.p[i].s)) {
            piece_t *d = &v.p[k - 1];
            d->must |= v.p[i].must;
            if (v.p[i].score > d->score) d->score = v.p[i].score;
            continue;
        }
        v.p[k++] = v.p[i];
    }
    qsort(v.p, k, sizeof *v.p, by_rank);
    if (k > n_normal) k = n_normal;
    qsort(v.p, k, sizeof *v.p, by_score);
    /* strictly descending: a rare f32 tie is split by one ulp, so no two paths tie on score */
    for (size_t i = 1; i < k; i++)
        if (!(v.p[i].score < v.p[i - 1].score))
            v.p[i].score = nextafterf(v.p[i - 1].score, -INFINITY);
    *out = v.p;
    *n_out = k;
    return 0;
}

int elm__vocab_ugm(elm__kvlist_t *l, const elm_synth_shape_t *shape)
{
    static const char *const specials[3] = {"<pad>", "</s>", "<unk>"};
    uint32_t n = shape->n_vocab;
    uint32_t n_unused = n >= 4 * N_UNUSED ? N_UNUSED : n / 4;
    piece_t *pc = NULL;
    size_t n_pc = 0;
    if (n < 4) return ELM_EINVAL;
    int rc = choose_pieces(n - n_unused - 3, &pc, &n_pc);
    if (rc) return rc;
    elm_gguf_value_t *tok = calloc(n, sizeof *tok);
    char *text = malloc((size_t)n * PIECE_MAX);
    float *scores = malloc((size_t)n * sizeof *scores);
    int32_t *types = malloc((size_t)n * sizeof *types);
    /* the list owns them from here on, whether or not each own() succeeds */
    rc = elm__kvlist_own(l, tok) | elm__kvlist_own(l, text) | elm__kvlist_own(l, scores) |
         elm__kvlist_own(l, types);
    if (rc) {
        free(pc);
        return ELM_ENOMEM;
    }
    size_t used = 0;
    for (uint32_t id = 0; id < n; id++) {
        char *p = text + used;
        size_t len;
        if (id < 3) {
            len = strlen(specials[id]);
            memcpy(p, specials[id], len);
            scores[id] = 0.0f;
            types[id] = id == 2 ? UGM_UNKNOWN : UGM_CONTROL;
        } else if (id - 3 < n_pc) {
            len = strlen(pc[id - 3].s);
            memcpy(p, pc[id - 3].s, len);
            scores[id] = pc[id - 3].score;
            types[id] = UGM_NORMAL;
        } else {
            /* T5Model.set_vocab's filler for ids past the SentencePiece model */
            len = (size_t)snprintf(p, PIECE_MAX, "[PAD%u]", id);
            scores[id] = -10000.0f;
            types[id] = UGM_UNUSED;
        }
        tok[id] = (elm_gguf_value_t){.type = ELM_GGUF_STRING, .s = {p, len}};
        used += len;
    }
    free(pc);
    elm_gguf_value_t v_tok = {.type = ELM_GGUF_ARRAY, .arr = {ELM_GGUF_STRING, n, NULL, tok}};
    elm_gguf_value_t v_scores = {.type = ELM_GGUF_ARRAY,
                                 .arr = {ELM_GGUF_FLOAT32, n, scores, NULL}};
    elm_gguf_value_t v_types = {.type = ELM_GGUF_ARRAY, .arr = {ELM_GGUF_INT32, n, types, NULL}};
    /* the keys in T5Model's order, without the charsmap */
    if ((rc = elm__kvlist_add_str(l, "tokenizer.ggml.model", "t5")) ||
        (rc = elm__kvlist_add_str(l, "tokenizer.ggml.pre", "default")) ||
        (rc = elm__kvlist_add(l, "tokenizer.ggml.tokens", &v_tok)) ||
        (rc = elm__kvlist_add(l, "tokenizer.ggml.scores", &v_scores)) ||
        (rc = elm__kvlist_add(l, "tokenizer.ggml.token_type", &v_types)) ||
        (rc = elm__kvlist_add_bool(l, "tokenizer.ggml.add_space_prefix", true)) ||
        (rc = elm__kvlist_add_bool(l, "tokenizer.ggml.remove_extra_whitespaces", true)) ||
        (rc = elm__kvlist_add_u32(l, "tokenizer.ggml.eos_token_id", 1)) ||
        (rc = elm__kvlist_add_u32(l, "tokenizer.ggml.unknown_token_id", 2)) ||
        (rc = elm__kvlist_add_u32(l, "tokenizer.ggml.padding_token_id", 0)) ||
        (rc = elm__kvlist_add_bool(l, "tokenizer.ggml.add_bos_token", false)) ||
        (rc = elm__kvlist_add_bool(l, "tokenizer.ggml.add_eos_token", true)))
        return rc;
    return 0;
}
