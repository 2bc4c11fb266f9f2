/* `edgelm cost`: the papers' cost and efficiency metrics from flags, a JSON file of records or the
 * results store —
 * a table like paper 000's Table I (CPR, Q, R, U, PCR), device break-even, battery runs, cost per
 * million tokens, energy per token, the reading-speed verdict and the price table. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "edgelm/metrics.h"
#include "edgelm/store.h"

static const char usage_text[] =
    "usage: edgelm cost [table] [--records FILE | --db FILE [--model SUBSTR] | ROW FLAGS]\n"
    "                  [--alpha A] [--json] ...\n"
    "       edgelm cost breakeven --price-a USD --price-b USD --j-in-a J --j-out-a J\n"
    "                             --j-in-b J --j-out-b J --mu MU --ratio R --tps TOK_S\n"
    "                             --cents-per-kwh C [--idle-a W] [--idle-b W]\n"
    "                             [--name-a NAME] [--name-b NAME]\n"
    "       edgelm cost battery --battery-wh WH --wh-per-run WH --run-s S\n"
    "       edgelm cost permtok --cents-per-kwh C [--j-in J] [--j-out J]\n"
    "       edgelm cost action --energy-j J --tokens N\n"
    "       edgelm cost reading --tps TOK_S\n"
    "       edgelm cost prices [--prices FILE]\n"
    "\n"
    "The cost and efficiency metrics of the edge-inference papers (docs/metrics.md has every\n"
    "formula with its source). Every subcommand takes --json for one JSON object on stdout.\n"
    "\n"
    "table (the default): cost per response CPR in cents, utility U = alpha*Q + (1-alpha)*R\n"
    "(paper 000 Eq. 1) and PCR = U / CPR (Eq. 2), one row per platform, like paper 000 Table I.\n"
    "The 'paper' columns round CPR as the paper prints it and divide by that, as it does.\n"
    "  --records FILE       JSON records: {\"alpha\": 0.5, \"cents_per_kwh\": 25, \"records\": [\n"
    "                       {\"platform\": \"GPT-4\", \"model\": \"gpt-4\", \"input_tokens\": 48,\n"
    "                        \"output_tokens\": 249, \"q\": 0.97, \"r\": 0.71},\n"
    "                       {\"platform\": \"Pi\", \"wh_per_response\": 0.1646, \"q\": 0.91,\n"
    "                        \"ttft_s\": 0.28}]} (or just the array)\n"
    "  --db FILE            rows from the results store: one per model path with an\n"
    "                       'edgelm eval gsm8k' result (Q, the newest) and an 'edgelm bench'\n"
    "                       record with a TTFT (R = TTFT in s, the newest); energy per\n"
    "                       response = that record's prefill + generation J / 3600 (needs\n"
    "                       --cents-per-kwh); --model SUBSTR keeps the model paths containing it\n"
    "  one row from flags:  --platform NAME --q Q (--r R | --ttft S) and either\n"
    "                       --model NAME --in N --out N (or --usd-per-m-in/--usd-per-m-out\n"
    "                       for the prices), or --wh WH_PER_RESPONSE\n"
    "  --alpha A            weight of quality in U, in [0, 1] (default 0.5, as paper 000)\n"
    "  --cents-per-kwh C    electricity price for edge rows (paper 000: 25)\n"
    "  --r-ref S            use the normalized R = S / (S + TTFT) instead of the raw value\n"
    "                       (paper 000 puts TTFT in seconds straight into U)\n"
    "  --prices FILE        cloud price table (default: built in, same as data/prices.json)\n"
    "\n"
    "breakeven (paper 002 §6.3): hours until the dearer device's lower energy cost repays its\n"
    "higher purchase price, both carrying the same workload: a fraction MU of the time at TOK_S\n"
    "tokens/s, R input tokens per output token. J values are energy per input (prefill) and\n"
    "output (decode) token; idle power counts only when given.\n"
    "battery (paper 002 §6.2): runs per charge and hours until recharge (e.g. --battery-wh "
    "18.84).\n"
    "permtok (paper 002 §6.3): electricity cost in US dollars per million input/output tokens.\n"
    "action (paper 002 §6.1): energy per token S = E / t.\n"
    "reading: is generation at least 5.3 tokens/s (4 words/s / 0.75 words per token)?\n"
    "\n"
    "  -h, --help           this text\n";

/* ---- options ---- */

typedef enum { V_ANY, V_NONNEG, V_POS, V_UNIT, V_MU, V_STR } vkind_t;

typedef struct {
    const char *flag;
    vkind_t kind;
    const char *what; /* named in errors: "--alpha: <what> ..." */
    double num;
    const char *str;
    bool given;
} opt_t;

typedef struct {
    const char *cmd; /* "cost breakeven" */
    opt_t *opts;
    size_t n;
    bool json;
} args_t;

static opt_t *find_opt(args_t *a, const char *flag)
{
    for (size_t i = 0; i < a->n; i++)
        if (!strcmp(a->opts[i].flag, flag)) return &a->opts[i];
    return NULL;
}

static int parse_value(const char *cmd, opt_t *o, const char *s)
{
    if (o->kind == V_STR) {
        o->str = s;
        return 0;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v))
        return elm_cli_usage_error(cmd, "%s '%s': not a number (%s)", o->flag, s, o->what);
    switch (o->kind) {
    case V_NONNEG:
        if (v < 0)
            return elm_cli_usage_error(cmd, "%s %s: cannot be negative (%s); give a value >= 0",
                                       o->flag, s, o->what);
        break;
    case V_POS:
        if (v <= 0)
            return elm_cli_usage_error(cmd, "%s %s: must be greater than 0 (%s)", o->flag, s,
                                       o->what);
        break;
    case V_UNIT:
        if (v < 0 || v > 1)
            return elm_cli_usage_error(cmd, "%s %s: must lie in [0, 1] (%s)", o->flag, s, o->what);
        break;
    case V_MU:
        if (v <= 0 || v > 1)
            return elm_cli_usage_error(cmd, "%s %s: must lie in (0, 1] (%s)", o->flag, s, o->what);
        break;
    default: break;
    }
    o->num = v;
    return 0;
}

/* Parse argv[first..] against a->opts; returns -1 to go on, or an exit status. */
static int parse_args(args_t *a, int argc, char **argv, int first)
{
    for (int i = first; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (!strcmp(arg, "--json")) {
            a->json = true;
            continue;
        }
        opt_t *o = find_opt(a, arg);
        if (!o) {
            if (arg[0] == '-') return elm_cli_usage_error(a->cmd, "unknown option '%s'", arg);
            return elm_cli_usage_error(a->cmd, "unexpected argument '%s'", arg);
        }
        if (i + 1 >= argc)
            return elm_cli_usage_error(a->cmd, "%s needs a value (%s)", arg, o->what);
        int rc = parse_value(a->cmd, o, argv[++i]);
        if (rc) return rc;
        o->given = true;
    }
    return -1;
}

/* The value of a required option, or a usage error naming it (returns false). */
static bool need(args_t *a, const char *flag, double *v, int *status)
{
    opt_t *o = find_opt(a, flag);
    if (o->given) {
        *v = o->num;
        return true;
    }
    *status = elm_cli_usage_error(a->cmd, "missing %s (%s)", flag, o->what);
    return false;
}

static double opt_or(args_t *a, const char *flag, double dflt)
{
    opt_t *o = find_opt(a, flag);
    return o->given ? o->num : dflt;
}

/* ---- table: CPR, U, PCR ---- */

/* One platform's inputs and figures. A figure that cannot be computed keeps a reason. */
typedef struct {
    char platform[64];
    bool cloud;
    elm_price_t price;
    double n_in, n_out, wh, cents_per_kwh;
    double q, r;
    bool has_r;
    char r_source[16]; /* "r", "ttft_s" or "normalized" */
    double cpr, cpr_paper, u, pcr, pcr_paper;
    bool has_cpr, has_u, has_pcr;
    bool no_wh; /* an edge row without an energy figure: why says so */
    char why[1100];
} row_t;

typedef struct {
    double alpha;
    bool r_norm;
    double r_ref;
    double cents_per_kwh;
    bool has_kwh;
} table_opts_t;

/* Compute a row's figures; the first one that cannot be had leaves its reason in why. */
static void row_compute(row_t *w, const table_opts_t *t)
{
    elm_diag_t d;
    elm_diag_clear(&d);
    if (w->cloud) {
        w->has_cpr = elm_cpr_cloud(w->n_in, w->n_out, &w->price, &w->cpr, &d) == 0;
    } else if (w->no_wh) {
        /* the reason is already in why */
    } else if (!t->has_kwh && w->cents_per_kwh < 0) {
        elm_diag(&d, ELM_EINVAL,
                 "CPR needs an electricity price: give --cents-per-kwh or "
                 "\"cents_per_kwh\"");
    } else {
        double kwh = w->cents_per_kwh >= 0 ? w->cents_per_kwh : t->cents_per_kwh;
        w->has_cpr = elm_cpr_edge(w->wh, kwh, &w->cpr, &d) == 0;
    }
    if (w->has_cpr) w->cpr_paper = elm_round_paper(w->cpr);
    if (w->has_r) w->has_u = elm_utility(t->alpha, w->q, w->r, &w->u, &d) == 0;
    if (w->has_u && w->has_cpr) {
        w->has_pcr = elm_pcr(w->u, w->cpr, &w->pcr, &d) == 0;
        if (w->has_pcr && elm_pcr(w->u, w->cpr_paper, &w->pcr_paper, &d) != 0) w->has_pcr = false;
    }
    if (d.code) {
        size_t used = strlen(w->why);
        snprintf(w->why + used, sizeof w->why - used, "%s%s", used ? "; " : "", d.msg);
    }
}

static int rec_number(const cJSON *rec, const char *key, double *v, bool *present,
                      const char *origin, int idx, elm_diag_t *d)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(rec, key);
    *present = x != NULL;
    if (!x) return 0;
    if (!cJSON_IsNumber(x))
        return elm_diag(d, ELM_EKEYTYPE, "%s: record %d: \"%s\" must be a number", origin, idx,
                        key);
    if (!isfinite(x->valuedouble) || x->valuedouble < 0)
        return elm_diag(d, ELM_EINVAL, "%s: record %d: \"%s\" is negative (%g); give a value >= 0",
                        origin, idx, key, x->valuedouble);
    *v = x->valuedouble;
    return 0;
}

/* Fill a row from one JSON record (the shape in usage_text and docs/metrics.md). */
static int row_from_json(const cJSON *rec, const char *origin, int idx,
                         const elm_price_table_t *prices, const table_opts_t *t, row_t *w,
                         elm_diag_t *d)
{
    int rc;
    bool p_in, p_out, p_wh, p_q, p_r, p_ttft, p_kwh, p_uin, p_uout;
    double ttft = 0;
    memset(w, 0, sizeof *w);
    w->cents_per_kwh = -1;
    if (!cJSON_IsObject(rec))
        return elm_diag(d, ELM_EINVAL, "%s: record %d is not an object", origin, idx);
    const cJSON *pl = cJSON_GetObjectItemCaseSensitive(rec, "platform");
    if (!cJSON_IsString(pl) || !pl->valuestring[0])
        return elm_diag(d, ELM_ENOKEY, "%s: record %d has no \"platform\" name", origin, idx);
    snprintf(w->platform, sizeof w->platform, "%s", pl->valuestring);
    if ((rc = rec_number(rec, "input_tokens", &w->n_in, &p_in, origin, idx, d)) ||
        (rc = rec_number(rec, "output_tokens", &w->n_out, &p_out, origin, idx, d)) ||
        (rc = rec_number(rec, "wh_per_response", &w->wh, &p_wh, origin, idx, d)) ||
        (rc = rec_number(rec, "q", &w->q, &p_q, origin, idx, d)) ||
        (rc = rec_number(rec, "r", &w->r, &p_r, origin, idx, d)) ||
        (rc = rec_number(rec, "ttft_s", &ttft, &p_ttft, origin, idx, d)) ||
        (rc = rec_number(rec, "cents_per_kwh", &w->cents_per_kwh, &p_kwh, origin, idx, d)) ||
        (rc = rec_number(rec, "usd_per_m_input", &w->price.usd_per_m_in, &p_uin, origin, idx, d)) ||
        (rc =
             rec_number(rec, "usd_per_m_output", &w->price.usd_per_m_out, &p_uout, origin, idx, d)))
        return rc;
    if (!p_kwh) w->cents_per_kwh = -1;
    if (!p_q)
        return elm_diag(d, ELM_ENOKEY, "%s: record %d (%s) has no quality \"q\"", origin, idx,
                        w->platform);
    if (w->q > 1)
        return elm_diag(d, ELM_EINVAL,
                        "%s: record %d (%s): quality \"q\" is %g; it must lie in "
                        "[0, 1]",
                        origin, idx, w->platform, w->q);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(rec, "model");
    w->cloud = p_in || p_out || model || p_uin || p_uout;
    if (w->cloud && p_wh)
        return elm_diag(d, ELM_EINVAL,
                        "%s: record %d (%s) has both cloud tokens and "
                        "\"wh_per_response\"; give one",
                        origin, idx, w->platform);
    if (!w->cloud && !p_wh)
        return elm_diag(d, ELM_ENOKEY,
                        "%s: record %d (%s) has neither \"input_tokens\"/"
                        "\"output_tokens\" (cloud) nor \"wh_per_response\" (edge)",
                        origin, idx, w->platform);
    if (w->cloud) {
        if (!p_in || !p_out)
            return elm_diag(d, ELM_ENOKEY,
                            "%s: record %d (%s) needs both \"input_tokens\" and "
                            "\"output_tokens\"",
                            origin, idx, w->platform);
        if (p_uin || p_uout) {
            if (!p_uin || !p_uout)
                return elm_diag(d, ELM_ENOKEY,
                                "%s: record %d (%s): price missing; give both "
                                "\"usd_per_m_input\" and \"usd_per_m_output\"",
                                origin, idx, w->platform);
            snprintf(w->price.name, sizeof w->price.name, "%s", w->platform);
        } else {
            if (!cJSON_IsString(model))
                return elm_diag(d, ELM_ENOKEY,
                                "%s: record %d (%s): price missing; give \"model\" "
                                "(a name in the price table) or \"usd_per_m_input\" and "
                                "\"usd_per_m_output\"",
                                origin, idx, w->platform);
            const elm_price_t *p = elm_prices_find(prices, model->valuestring);
            if (!p)
                return elm_diag(d, ELM_ENOKEY,
                                "%s: record %d (%s): model \"%s\" is not in the "
                                "price table (see 'edgelm cost prices')",
                                origin, idx, w->platform, model->valuestring);
            w->price = *p;
        }
    }
    if (t->r_norm) {
        if (!p_ttft) {
            snprintf(w->why, sizeof w->why, "normalized R needs \"ttft_s\"");
        } else {
            elm_diag_t dd;
            w->has_r = elm_responsiveness_norm(ttft, t->r_ref, &w->r, &dd) == 0;
            if (!w->has_r) snprintf(w->why, sizeof w->why, "%s", dd.msg);
            strcpy(w->r_source, "normalized");
        }
    } else if (p_r) {
        w->has_r = true;
        strcpy(w->r_source, "r");
    } else if (p_ttft) {
        /* paper 000 puts TTFT in seconds straight into Eq. 1 */
        w->r = ttft;
        w->has_r = true;
        strcpy(w->r_source, "ttft_s");
    } else {
        snprintf(w->why, sizeof w->why, "no responsiveness: give \"r\" or \"ttft_s\"");
    }
    return 0;
}

static void cell(char *buf, size_t n, bool ok, const char *fmt, double v)
{
    if (ok)
        snprintf(buf, n, fmt, v);
    else
        snprintf(buf, n, "unavailable");
}

static void print_table(const row_t *rows, int n, const table_opts_t *t)
{
    printf("alpha = %g, R %s\n", t->alpha,
           t->r_norm ? "normalized: t_ref / (t_ref + TTFT)" : "as given (paper 000: TTFT in s)");
    printf("%-20s %11s %11s %6s %11s %11s %11s %11s\n", "platform", "CPR (c)", "CPR paper", "Q",
           "R", "U", "PCR", "PCR paper");
    for (int i = 0; i < n; i++) {
        const row_t *w = &rows[i];
        char c1[32], c2[32], c3[32], c4[32], c5[32], c6[32];
        cell(c1, sizeof c1, w->has_cpr, "%.4g", w->cpr);
        cell(c2, sizeof c2, w->has_cpr, "%g", w->cpr_paper);
        cell(c3, sizeof c3, w->has_r, "%.4g", w->r);
        cell(c4, sizeof c4, w->has_u, "%.4g", w->u);
        cell(c5, sizeof c5, w->has_pcr, "%.2f", w->pcr);
        cell(c6, sizeof c6, w->has_pcr, "%.2f", w->pcr_paper);
        printf("%-20s %11s %11s %6.3g %11s %11s %11s %11s\n", w->platform, c1, c2, w->q, c3, c4, c5,
               c6);
    }
    for (int i = 0; i < n; i++)
        if (rows[i].why[0]) printf("%s: %s\n", rows[i].platform, rows[i].why);
}

static void json_num(cJSON *o, const char *key, bool ok, double v)
{
    if (ok)
        cJSON_AddNumberToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

static int table_json(const row_t *rows, int n, const table_opts_t *t)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "alpha", t->alpha);
    cJSON_AddStringToObject(o, "r_mode", t->r_norm ? "normalized" : "raw");
    if (t->r_norm) cJSON_AddNumberToObject(o, "r_ref_s", t->r_ref);
    cJSON *arr = cJSON_AddArrayToObject(o, "rows");
    for (int i = 0; i < n; i++) {
        const row_t *w = &rows[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "platform", w->platform);
        cJSON_AddStringToObject(e, "kind", w->cloud ? "cloud" : "edge");
        if (w->has_r) cJSON_AddStringToObject(e, "r_source", w->r_source);
        json_num(e, "cpr_cents", w->has_cpr, w->cpr);
        json_num(e, "cpr_cents_paper", w->has_cpr, w->cpr_paper);
        cJSON_AddNumberToObject(e, "q", w->q);
        json_num(e, "r", w->has_r, w->r);
        json_num(e, "u", w->has_u, w->u);
        json_num(e, "pcr", w->has_pcr, w->pcr);
        json_num(e, "pcr_paper", w->has_pcr, w->pcr_paper);
        if (w->why[0]) cJSON_AddStringToObject(e, "unavailable", w->why);
        cJSON_AddItemToArray(arr, e);
    }
    return elm_cli_print_json(o);
}

static char *read_text(const char *path, size_t *len, elm_diag_t *d)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int err = errno;
        elm_diag(d, elm_from_errno(err), "%s: cannot open (%s)", path, strerror(err));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) free(buf);
            buf = nb;
        }
    }
    if (!buf) elm_diag(d, ELM_ENOMEM, "%s: out of memory", path);
    fclose(f);
    *len = n;
    return buf;
}

/* Rows from a --records file; *rows is malloc'd (caller frees). */
static int load_records(const char *path, const elm_price_table_t *prices, table_opts_t *t,
                        bool alpha_flag, row_t **rows, int *n_rows, elm_diag_t *d)
{
    int rc = 0;
    size_t len;
    *rows = NULL;
    *n_rows = 0;
    char *text = read_text(path, &len, d);
    if (!text) return d->code;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!root) return elm_diag(d, ELM_EINVAL, "%s: not valid JSON", path);
    const cJSON *arr = root;
    if (cJSON_IsObject(root)) {
        arr = cJSON_GetObjectItemCaseSensitive(root, "records");
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "alpha");
        if (a && !alpha_flag) {
            if (!cJSON_IsNumber(a) || a->valuedouble < 0 || a->valuedouble > 1) {
                rc = elm_diag(d, ELM_EINVAL, "%s: \"alpha\" must be a number in [0, 1]", path);
                goto done;
            }
            t->alpha = a->valuedouble;
        }
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(root, "cents_per_kwh");
        if (k && !t->has_kwh) {
            if (!cJSON_IsNumber(k) || k->valuedouble < 0) {
                rc = elm_diag(d, ELM_EINVAL, "%s: \"cents_per_kwh\" must be a number >= 0", path);
                goto done;
            }
            t->cents_per_kwh = k->valuedouble;
            t->has_kwh = true;
        }
    }
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0) {
        rc = elm_diag(d, ELM_ENOKEY,
                      "%s: no records (want a non-empty \"records\" array, or a "
                      "top-level array)",
                      path);
        goto done;
    }
    int n = cJSON_GetArraySize(arr);
    *rows = calloc((size_t)n, sizeof **rows);
    if (!*rows) {
        rc = elm_diag(d, ELM_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    int i = 0;
    const cJSON *rec;
    cJSON_ArrayForEach(rec, arr)
    {
        if ((rc = row_from_json(rec, path, i, prices, t, &(*rows)[i], d))) break;
        i++;
    }
    *n_rows = i;
done:
    cJSON_Delete(root);
    return rc;
}

/* Rows from the results store at path (the models containing match; see usage_text and
 * docs/metrics.md); *rows is malloc'd (caller frees). */
static int load_db(const char *path, const char *match, const table_opts_t *t, row_t **rows,
                   int *n_rows, elm_diag_t *d)
{
    elm_store_t *s = NULL;
    elm_store_cost_row_t *src = NULL;
    size_t n = 0;
    struct stat sb;
    int rc;
    *rows = NULL;
    *n_rows = 0;
    /* elm_store_open would create a missing file: a mistyped path must fail instead */
    if (stat(path, &sb) != 0)
        return elm_diag(d, elm_from_errno(errno), "%s: cannot open the results store (%s)", path,
                        strerror(errno));
    if ((rc = elm_store_open(path, &s, d)) || (rc = elm_store_cost_rows(s, match, &src, &n, d)))
        goto done;
    if (n == 0) {
        rc = elm_diag(d, ELM_ENOENT,
                      "%s: no model%s%s%s has both an 'edgelm eval gsm8k' result and an 'edgelm "
                      "bench' record with a TTFT (run both with the same -m path)",
                      path, match ? " matching '" : "", match ? match : "", match ? "'" : "");
        goto done;
    }
    if (!(*rows = calloc(n, sizeof **rows))) {
        rc = elm_diag(d, ELM_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        row_t *w = &(*rows)[i];
        const char *slash = strrchr(src[i].model, '/');
        snprintf(w->platform, sizeof w->platform, "%.63s", slash ? slash + 1 : src[i].model);
        w->cents_per_kwh = -1;
        w->q = src[i].q;
        w->wh = src[i].wh;
        if (!src[i].has_wh) {
            w->no_wh = true;
            snprintf(w->why, sizeof w->why, "CPR unavailable: %s", src[i].why);
        }
        if (t->r_norm) {
            elm_diag_t dd;
            w->has_r = elm_responsiveness_norm(src[i].ttft_s, t->r_ref, &w->r, &dd) == 0;
            strcpy(w->r_source, "normalized");
        } else {
            /* paper 000 puts TTFT in seconds straight into Eq. 1 */
            w->r = src[i].ttft_s;
            w->has_r = true;
            strcpy(w->r_source, "ttft_s");
        }
    }
    *n_rows = (int)n;
done:
    free(src);
    elm_store_close(s);
    return rc;
}

/* One row from --platform/--model/--in/--out/--wh/--q/--r/--ttft. */
static int row_from_flags(args_t *a, const elm_price_table_t *prices, const table_opts_t *t,
                          row_t *w)
{
    int status = 0;
    memset(w, 0, sizeof *w);
    w->cents_per_kwh = -1;
    opt_t *pl = find_opt(a, "--platform"), *model = find_opt(a, "--model");
    bool cloud = find_opt(a, "--in")->given || find_opt(a, "--out")->given || model->given ||
                 find_opt(a, "--usd-per-m-in")->given || find_opt(a, "--usd-per-m-out")->given;
    bool edge = find_opt(a, "--wh")->given;
    if (cloud && edge)
        return elm_cli_usage_error(a->cmd, "give either cloud flags (--model, --in, --out) or "
                                           "--wh, not both");
    if (!cloud && !edge)
        return elm_cli_usage_error(a->cmd, "nothing to compute: give --records FILE, or one row "
                                           "with --model/--in/--out (cloud) or --wh (edge)");
    if (!need(a, "--q", &w->q, &status)) return status;
    w->cloud = cloud;
    if (cloud) {
        if (!need(a, "--in", &w->n_in, &status) || !need(a, "--out", &w->n_out, &status))
            return status;
        if (model->given) {
            const elm_price_t *p = elm_prices_find(prices, model->str);
            if (!p)
                return elm_cli_usage_error(a->cmd,
                                           "--model %s: not in the price table (see "
                                           "'edgelm cost prices', or give --usd-per-m-in and "
                                           "--usd-per-m-out)",
                                           model->str);
            w->price = *p;
        } else {
            if (!need(a, "--usd-per-m-in", &w->price.usd_per_m_in, &status) ||
                !need(a, "--usd-per-m-out", &w->price.usd_per_m_out, &status))
                return status;
            strcpy(w->price.name, "custom");
        }
    } else {
        w->wh = find_opt(a, "--wh")->num;
        if (!t->has_kwh)
            return elm_cli_usage_error(a->cmd, "missing --cents-per-kwh (electricity price for "
                                               "--wh; paper 000 used 25)");
    }
    snprintf(w->platform, sizeof w->platform, "%s",
             pl->given ? pl->str : (cloud ? w->price.name : "edge"));
    opt_t *r = find_opt(a, "--r"), *ttft = find_opt(a, "--ttft");
    if (t->r_norm) {
        if (!ttft->given)
            return elm_cli_usage_error(a->cmd, "--r-ref needs --ttft (seconds to first token)");
        elm_diag_t d;
        if (elm_responsiveness_norm(ttft->num, t->r_ref, &w->r, &d) != 0)
            return elm_cli_usage_error(a->cmd, "--ttft: %s", d.msg);
        w->has_r = true;
        strcpy(w->r_source, "normalized");
    } else if (r->given || ttft->given) {
        w->r = r->given ? r->num : ttft->num;
        w->has_r = true;
        strcpy(w->r_source, r->given ? "r" : "ttft_s");
    } else {
        return elm_cli_usage_error(a->cmd, "missing --r (responsiveness) or --ttft (seconds)");
    }
    return -1;
}

static int cmd_table(int argc, char **argv, int first)
{
    opt_t opts[] = {
        {"--records", V_STR, "JSON file of records"},
        {"--db", V_STR, "results store"},
        {"--prices", V_STR, "price table JSON file"},
        {"--alpha", V_UNIT, "alpha, the weight of quality in U"},
        {"--cents-per-kwh", V_NONNEG, "electricity price in US cents per kWh"},
        {"--r-ref", V_POS, "reference time of the normalized R in seconds"},
        {"--platform", V_STR, "platform name"},
        {"--model", V_STR, "cloud model in the price table"},
        {"--usd-per-m-in", V_NONNEG, "input price in US dollars per million tokens"},
        {"--usd-per-m-out", V_NONNEG, "output price in US dollars per million tokens"},
        {"--in", V_NONNEG, "input tokens per response"},
        {"--out", V_NONNEG, "output tokens per response"},
        {"--wh", V_NONNEG, "energy per response in Wh"},
        {"--q", V_UNIT, "quality Q"},
        {"--r", V_NONNEG, "responsiveness R"},
        {"--ttft", V_NONNEG, "time to first token in seconds"},
    };
    args_t a = {"cost", opts, sizeof opts / sizeof opts[0], false};
    int status = parse_args(&a, argc, argv, first);
    if (status >= 0) return status;

    elm_diag_t d;
    elm_diag_clear(&d);
    elm_price_table_t loaded = {0};
    const elm_price_table_t *prices = elm_prices_default();
    opt_t *pf = find_opt(&a, "--prices");
    if (pf->given) {
        int rc = elm_prices_load(pf->str, &loaded, &d);
        if (rc) return elm_cli_fail(&d, rc);
        prices = &loaded;
    }
    table_opts_t t = {
        .alpha = opt_or(&a, "--alpha", 0.5),
        .r_norm = find_opt(&a, "--r-ref")->given,
        .r_ref = opt_or(&a, "--r-ref", 1.0),
        .cents_per_kwh = opt_or(&a, "--cents-per-kwh", 0),
        .has_kwh = find_opt(&a, "--cents-per-kwh")->given,
    };
    row_t one, *rows = &one;
    int n = 1;
    opt_t *rf = find_opt(&a, "--records"), *db = find_opt(&a, "--db");
    if (db->given) {
        static const char *const row_flags[] = {
            "--records",
            "--prices",
            "--platform",
            "--usd-per-m-in",
            "--usd-per-m-out",
            "--in",
            "--out",
            "--wh",
            "--q",
            "--r",
            "--ttft",
        };
        for (size_t i = 0; i < sizeof row_flags / sizeof row_flags[0]; i++)
            if (find_opt(&a, row_flags[i])->given) {
                elm_prices_free(&loaded);
                return elm_cli_usage_error(a.cmd, "--db builds the rows from the store; drop %s",
                                           row_flags[i]);
            }
        opt_t *model = find_opt(&a, "--model");
        int rc = load_db(db->str, model->given ? model->str : NULL, &t, &rows, &n, &d);
        if (rc) {
            free(rows);
            elm_prices_free(&loaded);
            return elm_cli_fail(&d, rc);
        }
    } else if (rf->given) {
        int rc = load_records(rf->str, prices, &t, find_opt(&a, "--alpha")->given, &rows, &n, &d);
        if (rc) {
            free(rows);
            elm_prices_free(&loaded);
            return elm_cli_fail(&d, rc);
        }
    } else {
        status = row_from_flags(&a, prices, &t, &one);
        if (status >= 0) {
            elm_prices_free(&loaded);
            return status;
        }
    }
    for (int i = 0; i < n; i++)
        row_compute(&rows[i], &t);
    if (a.json)
        status = table_json(rows, n, &t);
    else {
        print_table(rows, n, &t);
        status = 0;
    }
    if (rows != &one) free(rows);
    elm_prices_free(&loaded);
    return status;
}

/* ---- breakeven ---- */

static int cmd_breakeven(int argc, char **argv)
{
    opt_t opts[] = {
        {"--price-a", V_NONNEG, "purchase price of device a in US dollars"},
        {"--price-b", V_NONNEG, "purchase price of device b in US dollars"},
        {"--j-in-a", V_NONNEG, "energy per input token of device a in J"},
        {"--j-out-a", V_NONNEG, "energy per output token of device a in J"},
        {"--j-in-b", V_NONNEG, "energy per input token of device b in J"},
        {"--j-out-b", V_NONNEG, "energy per output token of device b in J"},
        {"--idle-a", V_NONNEG, "idle power of device a in W"},
        {"--idle-b", V_NONNEG, "idle power of device b in W"},
        {"--name-a", V_STR, "name of device a"},
        {"--name-b", V_STR, "name of device b"},
        {"--mu", V_MU, "utilization mu, the fraction of time the workload runs"},
        {"--ratio", V_NONNEG, "input tokens per output token"},
        {"--tps", V_POS, "workload tokens per second while it runs"},
        {"--cents-per-kwh", V_POS, "electricity price in US cents per kWh"},
    };
    args_t a = {"cost breakeven", opts, sizeof opts / sizeof opts[0], false};
    int status = parse_args(&a, argc, argv, 2);
    if (status >= 0) return status;
    elm_device_econ_t da = {0}, db = {0};
    elm_workload_t wl;
    if (!need(&a, "--price-a", &da.price_usd, &status) ||
        !need(&a, "--price-b", &db.price_usd, &status) ||
        !need(&a, "--j-in-a", &da.j_per_in_token, &status) ||
        !need(&a, "--j-out-a", &da.j_per_out_token, &status) ||
        !need(&a, "--j-in-b", &db.j_per_in_token, &status) ||
        !need(&a, "--j-out-b", &db.j_per_out_token, &status) ||
        !need(&a, "--mu", &wl.mu, &status) || !need(&a, "--ratio", &wl.in_out_ratio, &status) ||
        !need(&a, "--tps", &wl.tokens_per_s, &status) ||
        !need(&a, "--cents-per-kwh", &wl.cents_per_kwh, &status))
        return status;
    da.idle_w = opt_or(&a, "--idle-a", 0);
    db.idle_w = opt_or(&a, "--idle-b", 0);
    da.name = find_opt(&a, "--name-a")->given ? find_opt(&a, "--name-a")->str : "device a";
    db.name = find_opt(&a, "--name-b")->given ? find_opt(&a, "--name-b")->str : "device b";
    const elm_device_econ_t *dev[2] = {&da, &db};

    elm_breakeven_t r;
    elm_diag_t d;
    elm_diag_clear(&d);
    int rc = elm_breakeven(&da, &db, &wl, &r, &d);
    if (a.json) {
        cJSON *o = cJSON_CreateObject();
        for (int i = 0; i < 2; i++) {
            cJSON *e = cJSON_AddObjectToObject(o, i ? "b" : "a");
            cJSON_AddStringToObject(e, "name", dev[i]->name);
            cJSON_AddNumberToObject(e, "price_usd", dev[i]->price_usd);
            if (!rc) {
                cJSON_AddNumberToObject(e, "j_per_token", r.j_per_token[i]);
                cJSON_AddNumberToObject(e, "mean_w", r.w[i]);
            }
        }
        if (rc) {
            cJSON_AddNullToObject(o, "seconds");
            cJSON_AddStringToObject(o, "unavailable", d.msg);
        } else {
            cJSON_AddNumberToObject(o, "price_diff_usd", r.price_diff_usd);
            cJSON_AddNumberToObject(o, "saving_usd_per_h", r.saving_usd_per_h);
            cJSON_AddNumberToObject(o, "seconds", r.seconds);
            cJSON_AddNumberToObject(o, "hours", r.seconds / 3600);
            cJSON_AddNumberToObject(o, "years", r.seconds / (3600 * 24 * 365.25));
            cJSON_AddNumberToObject(o, "tokens", r.tokens);
        }
        return elm_cli_print_json(o);
    }
    if (rc) {
        printf("break-even: unavailable (%s)\n", d.msg);
        return 0;
    }
    for (int i = 0; i < 2; i++)
        printf("%-10s $%.2f, %.4g J/token on the mix, mean %.4g W\n", dev[i]->name,
               dev[i]->price_usd, r.j_per_token[i], r.w[i]);
    printf("price difference: $%.2f (%s costs more)\n", r.price_diff_usd, dev[1 - r.cheaper]->name);
    printf("energy saving:    $%.6f per hour at %g c/kWh\n", r.saving_usd_per_h, wl.cents_per_kwh);
    printf("break-even after: %.4g hours = %.4g days = %.4g years (%.4g tokens)\n",
           r.seconds / 3600, r.seconds / 86400, r.seconds / (86400 * 365.25), r.tokens);
    return 0;
}

/* ---- battery, permtok, action, reading, prices ---- */

static int cmd_battery(int argc, char **argv)
{
    opt_t opts[] = {
        {"--battery-wh", V_POS, "battery capacity in Wh"},
        {"--wh-per-run", V_POS, "energy of one run in Wh"},
        {"--run-s", V_POS, "duration of one run in seconds"},
    };
    args_t a = {"cost battery", opts, 3, false};
    int status = parse_args(&a, argc, argv, 2);
    if (status >= 0) return status;
    double wh, run_wh, run_s;
    if (!need(&a, "--battery-wh", &wh, &status) || !need(&a, "--wh-per-run", &run_wh, &status) ||
        !need(&a, "--run-s", &run_s, &status))
        return status;
    elm_battery_t b;
    elm_diag_t d;
    int rc = elm_battery(wh, run_wh, run_s, &b, &d);
    if (rc) return elm_cli_fail(&d, rc);
    if (a.json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "battery_wh", wh);
        cJSON_AddNumberToObject(o, "runs", b.runs);
        cJSON_AddNumberToObject(o, "runs_whole", b.runs_whole);
        cJSON_AddNumberToObject(o, "hours", b.hours);
        cJSON_AddNumberToObject(o, "mean_w", b.mean_w);
        return elm_cli_print_json(o);
    }
    printf("battery %g Wh: %.0f whole runs (%.4g), %.4g hours until recharge at %.4g W\n", wh,
           b.runs_whole, b.runs, b.hours, b.mean_w);
    return 0;
}

static int cmd_permtok(int argc, char **argv)
{
    opt_t opts[] = {
        {"--cents-per-kwh", V_NONNEG, "electricity price in US cents per kWh"},
        {"--j-in", V_NONNEG, "energy per input (prefill) token in J"},
        {"--j-out", V_NONNEG, "energy per output (decode) token in J"},
    };
    args_t a = {"cost permtok", opts, 3, false};
    int status = parse_args(&a, argc, argv, 2);
    if (status >= 0) return status;
    double kwh;
    if (!need(&a, "--cents-per-kwh", &kwh, &status)) return status;
    if (!opts[1].given && !opts[2].given)
        return elm_cli_usage_error(a.cmd, "missing --j-in or --j-out (energy per token in J)");
    cJSON *o = a.json ? cJSON_CreateObject() : NULL;
    for (int i = 1; i <= 2; i++) {
        const char *key = i == 1 ? "usd_per_m_input" : "usd_per_m_output";
        if (!opts[i].given) {
            if (o) cJSON_AddNullToObject(o, key);
            continue;
        }
        double usd;
        elm_diag_t d;
        int rc = elm_cost_per_mtok(opts[i].num, kwh, &usd, &d);
        if (rc) {
            cJSON_Delete(o);
            return elm_cli_fail(&d, rc);
        }
        if (o)
            cJSON_AddNumberToObject(o, key, usd);
        else
            printf("%s tokens: $%.4g per million (%g J/token at %g c/kWh)\n",
                   i == 1 ? "input " : "output", usd, opts[i].num, kwh);
    }
    return o ? elm_cli_print_json(o) : 0;
}

static int cmd_action(int argc, char **argv)
{
    opt_t opts[] = {
        {"--energy-j", V_NONNEG, "energy of the measured phase in J"},
        {"--tokens", V_POS, "tokens of the measured phase"},
    };
    args_t a = {"cost action", opts, 2, false};
    int status = parse_args(&a, argc, argv, 2);
    if (status >= 0) return status;
    double e, t, s;
    if (!need(&a, "--energy-j", &e, &status) || !need(&a, "--tokens", &t, &status)) return status;
    elm_diag_t d;
    int rc = elm_action_per_token(e, t, &s, &d);
    if (rc) return elm_cli_fail(&d, rc);
    if (a.json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "s_j_per_token", s);
        return elm_cli_print_json(o);
    }
    printf("S = E / t = %g J / %g tokens = %.4g J/token\n", e, t, s);
    return 0;
}

static int cmd_reading(int argc, char **argv)
{
    opt_t opts[] = {{"--tps", V_NONNEG, "generation speed in tokens per second"}};
    args_t a = {"cost reading", opts, 1, false};
    int status = parse_args(&a, argc, argv, 2);
    if (status >= 0) return status;
    double tps, ratio;
    bool fast;
    if (!need(&a, "--tps", &tps, &status)) return status;
    elm_diag_t d;
    int rc = elm_reading_speed(tps, &fast, &ratio, &d);
    if (rc) return elm_cli_fail(&d, rc);
    if (a.json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "tokens_per_s", tps);
        cJSON_AddNumberToObject(o, "threshold_tokens_per_s", ELM_READING_TOK_PER_S);
        cJSON_AddBoolToObject(o, "faster_than_reading", fast);
        cJSON_AddNumberToObject(o, "ratio", ratio);
        return elm_cli_print_json(o);
    }
    printf("%g tokens/s is %s reading speed (%.1f tokens/s = %g words/s / %g words per token): "
           "%.2fx\n",
           tps, fast ? "at or above" : "below", ELM_READING_TOK_PER_S, ELM_READING_WORDS_PER_S,
           ELM_WORDS_PER_TOKEN, ratio);
    return 0;
}

static int cmd_prices(int argc, char **argv)
{
    opt_t opts[] = {{"--prices", V_STR, "price table JSON file"}};
    args_t a = {"cost prices", opts, 1, false};
    int status = parse_args(&a, argc, argv, 2);
    if (status >= 0) return status;
    elm_price_table_t loaded = {0};
    const elm_price_table_t *t = elm_prices_default();
    if (opts[0].given) {
        elm_diag_t d;
        int rc = elm_prices_load(opts[0].str, &loaded, &d);
        if (rc) return elm_cli_fail(&d, rc);
        t = &loaded;
    }
    if (a.json) {
        cJSON *o = cJSON_CreateObject();
        cJSON *arr = cJSON_AddArrayToObject(o, "prices");
        for (size_t i = 0; i < t->n; i++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "name", t->items[i].name);
            cJSON_AddNumberToObject(e, "usd_per_m_input", t->items[i].usd_per_m_in);
            cJSON_AddNumberToObject(e, "usd_per_m_output", t->items[i].usd_per_m_out);
            cJSON_AddStringToObject(e, "note", t->items[i].note);
            cJSON_AddItemToArray(arr, e);
        }
        status = elm_cli_print_json(o);
    } else {
        printf("%-20s %12s %12s  %s\n", "model", "$/M input", "$/M output", "note");
        for (size_t i = 0; i < t->n; i++)
            printf("%-20s %12.2f %12.2f  %s\n", t->items[i].name, t->items[i].usd_per_m_in,
                   t->items[i].usd_per_m_out, t->items[i].note);
        status = 0;
    }
    elm_prices_free(&loaded);
    return status;
}

int elm_cmd_cost(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
    } subs[] = {
        {"breakeven", cmd_breakeven}, {"battery", cmd_battery}, {"permtok", cmd_permtok},
        {"action", cmd_action},       {"reading", cmd_reading}, {"prices", cmd_prices},
    };
    if (argc >= 2 && argv[1][0] != '-') {
        if (!strcmp(argv[1], "table")) return cmd_table(argc, argv, 2);
        for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
            if (!strcmp(argv[1], subs[i].name)) return subs[i].run(argc, argv);
        return elm_cli_usage_error("cost",
                                   "unknown subcommand '%s' (table, breakeven, battery, "
                                   "permtok, action, reading, prices)",
                                   argv[1]);
    }
    return cmd_table(argc, argv, 1);
}
