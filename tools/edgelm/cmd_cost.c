/* `edgelm cost`: the papers' cost and efficiency metrics — a table like paper 000's Table I (CPR,
 * Q, R, U, PCR) from flags, a JSON file of records or the results store, device break-even,
 * battery runs, cost per million tokens, energy per token, the reading-speed verdict and the
 * price table. Each subcommand parses its options, calls src/metrics/ and prints. */
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

#define ANY HUGE_VAL /* no upper bound */

static const char table_head[] =
    "usage: edgelm cost [table] [--records FILE | --db FILE [--model SUBSTR] | ROW FLAGS]\n"
    "                  [--alpha A] [--json] ...\n"
    "       edgelm cost breakeven|battery|permtok|action|reading|prices OPTIONS\n"
    "\n"
    "The cost and efficiency metrics of the edge-inference papers (docs/metrics.md has every\n"
    "formula with its source). Every subcommand takes --json for one JSON object on stdout;\n"
    "'edgelm cost SUBCOMMAND --help' lists its options.\n"
    "\n"
    "table (the default): cost per response CPR in cents, utility U = alpha*Q + (1-alpha)*R\n"
    "(paper 000 Eq. 1) and PCR = U / CPR (Eq. 2), one row per platform, like paper 000 Table I.\n"
    "The 'paper' columns round CPR as the paper prints it and divide by that, as it does.\n"
    "The rows come from --records, from --db, or one from flags: --platform NAME --q Q\n"
    "(--r R | --ttft S) and either --model NAME --in N --out N (or --usd-per-m-in and\n"
    "--usd-per-m-out for the prices), or --wh WH_PER_RESPONSE.\n";

static const char table_tail[] =
    "breakeven (paper 002 §6.3): hours until the dearer device's lower energy cost repays its\n"
    "higher purchase price, both carrying the same workload.\n"
    "battery (paper 002 §6.2): runs per charge and hours until recharge (e.g. --battery-wh "
    "18.84).\n"
    "permtok (paper 002 §6.3): electricity cost in US dollars per million input/output tokens.\n"
    "action (paper 002 §6.1): energy per token S = E / t.\n"
    "reading: is generation at least 5.3 tokens/s (4 words/s / 0.75 words per token)?\n";

/* ---- shared pieces ---- */

/* The usage error for the first of names (NULL-terminated) not given; ELM_CLI_GO when all are. */
static int require(const elm_cli_spec_t *spec, const char *const *names)
{
    for (; *names; names++)
        if (!elm_cli_given(spec, *names)) return elm_cli_missing(spec, *names);
    return ELM_CLI_GO;
}

/* Parse a subcommand's options: argv[0] is "cost", argv[1] the subcommand. */
static int parse_sub(elm_cli_spec_t *spec, int argc, char **argv)
{
    return elm_cli_parse(spec, argc - 1, argv + 1, NULL);
}

/* The price table: the built-in one, or the file at path loaded into *loaded. */
static int pick_prices(const char *path, elm_price_table_t *loaded, const elm_price_table_t **t,
                       elm_diag_t *d)
{
    *t = elm_prices_default();
    if (!path) return 0;
    int rc = elm_prices_load(path, loaded, d);
    if (!rc) *t = loaded;
    return rc;
}

/* ---- table: arguments ---- */

typedef struct {
    const char *records, *db, *prices, *platform, *model;
    double n_in, n_out, wh, q, r, ttft, usd_in, usd_out;
    bool json;
    elm_cost_opts_t opts;
    elm_opt_t table[24]; /* kept, with spec, for elm_cli_given() after parsing */
    elm_cli_spec_t spec;
} table_args_t;

static int parse_table_args(table_args_t *a, int argc, char **argv)
{
    *a = (table_args_t){.opts = elm_cost_opts_default()};
    elm_cost_opts_t *o = &a->opts;
    elm_opt_t opts[] = {
        ELM_OPT_STR("--records", NULL, "FILE", &a->records,
                    "JSON records: {\"alpha\": 0.5, \"cents_per_kwh\": 25, \"records\": [\n"
                    " {\"platform\": \"GPT-4\", \"model\": \"gpt-4\", \"input_tokens\": 48,\n"
                    "  \"output_tokens\": 249, \"q\": 0.97, \"r\": 0.71},\n"
                    " {\"platform\": \"Pi\", \"wh_per_response\": 0.1646, \"q\": 0.91,\n"
                    "  \"ttft_s\": 0.28}]} (or just the array)"),
        ELM_OPT_STR("--db", NULL, "FILE", &a->db,
                    "rows from the results store: one per model path with an\n"
                    "'edgelm eval gsm8k' result (Q, the newest) and an 'edgelm bench'\n"
                    "record with a TTFT (R = TTFT in s, the newest); energy per\n"
                    "response = that record's prefill + generation J / 3600 (needs\n"
                    "--cents-per-kwh)"),
        ELM_OPT_STR("--model", NULL, "NAME", &a->model,
                    "cloud model in the price table; with --db: keep the model paths\n"
                    "containing NAME"),
        ELM_OPT_STR("--platform", NULL, "NAME", &a->platform, "the row's name"),
        ELM_OPT_NUM("--in", NULL, "N", &a->n_in, 0, ANY, "input tokens per response"),
        ELM_OPT_NUM("--out", NULL, "N", &a->n_out, 0, ANY, "output tokens per response"),
        ELM_OPT_NUM("--usd-per-m-in", NULL, "USD", &a->usd_in, 0, ANY,
                    "input price in US dollars per million tokens"),
        ELM_OPT_NUM("--usd-per-m-out", NULL, "USD", &a->usd_out, 0, ANY,
                    "output price in US dollars per million tokens"),
        ELM_OPT_NUM("--wh", NULL, "WH", &a->wh, 0, ANY, "energy per response in Wh (edge)"),
        ELM_OPT_NUM("--q", NULL, "Q", &a->q, 0, 1, "quality Q, in [0, 1]"),
        ELM_OPT_NUM("--r", NULL, "R", &a->r, 0, ANY, "responsiveness R"),
        ELM_OPT_NUM("--ttft", NULL, "S", &a->ttft, 0, ANY, "time to first token in seconds"),
        ELM_OPT_NUM("--alpha", NULL, "A", &o->alpha, 0, 1,
                    "weight of quality in U, in [0, 1] (default 0.5, as paper 000)"),
        ELM_OPT_NUM("--cents-per-kwh", NULL, "C", &o->cents_per_kwh, 0, ANY,
                    "electricity price for edge rows (paper 000: 25)"),
        ELM_OPT_POS("--r-ref", NULL, "S", &o->r_ref, 0, ANY,
                    "use the normalized R = S / (S + TTFT) instead of the raw value\n"
                    "(paper 000 puts TTFT in seconds straight into U)"),
        ELM_OPT_STR("--prices", NULL, "FILE", &a->prices,
                    "cloud price table (default: built in, same as data/prices.json)"),
        ELM_OPT_FLAG("--json", NULL, &a->json, "one JSON object on stdout"),
        ELM_OPT_END,
    };
    _Static_assert(sizeof opts <= sizeof a->table, "table_args_t.table is too small");
    memcpy(a->table, opts, sizeof opts);
    a->spec =
        (elm_cli_spec_t){.cmd = "cost", .head = table_head, .opts = a->table, .tail = table_tail};
    int rc = elm_cli_parse(&a->spec, argc, argv, NULL);
    if (rc != ELM_CLI_GO) return rc;
    o->has_alpha = elm_cli_given(&a->spec, "--alpha");
    o->has_kwh = elm_cli_given(&a->spec, "--cents-per-kwh");
    o->r_norm = elm_cli_given(&a->spec, "--r-ref");
    return ELM_CLI_GO;
}

/* ---- table: rows ---- */

/* The price of the row from flags: --model in the table, or --usd-per-m-in/--usd-per-m-out. */
static int flags_price(const table_args_t *a, const elm_price_table_t *prices, elm_price_t *p)
{
    static const char *const need_usd[] = {"--usd-per-m-in", "--usd-per-m-out", NULL};
    if (a->model) {
        const elm_price_t *found = elm_prices_find(prices, a->model);
        if (!found)
            return elm_cli_usage_error(a->spec.cmd,
                                       "--model %s: not in the price table (see 'edgelm cost "
                                       "prices', or give --usd-per-m-in and --usd-per-m-out)",
                                       a->model);
        *p = *found;
        return ELM_CLI_GO;
    }
    int rc = require(&a->spec, need_usd);
    if (rc != ELM_CLI_GO) return rc;
    *p = (elm_price_t){.name = "custom", .usd_per_m_in = a->usd_in, .usd_per_m_out = a->usd_out};
    return ELM_CLI_GO;
}

/* One row from --platform/--model/--in/--out/--wh/--q/--r/--ttft; ELM_CLI_GO or a usage error. */
static int row_from_flags(const table_args_t *a, const elm_price_table_t *prices, elm_cost_row_t *w)
{
    static const char *const need_q[] = {"--q", NULL}, *const need_tokens[] = {"--in", "--out",
                                                                               NULL};
    const elm_cli_spec_t *s = &a->spec;
    const char *cmd = s->cmd;
    int rc;
    bool cloud = elm_cli_given(s, "--in") || elm_cli_given(s, "--out") || a->model ||
                 elm_cli_given(s, "--usd-per-m-in") || elm_cli_given(s, "--usd-per-m-out");
    bool edge = elm_cli_given(s, "--wh");
    if (cloud && edge)
        return elm_cli_usage_error(cmd, "give either cloud flags (--model, --in, --out) or --wh, "
                                        "not both");
    if (!cloud && !edge)
        return elm_cli_usage_error(cmd, "nothing to compute: give --records FILE, or one row "
                                        "with --model/--in/--out (cloud) or --wh (edge)");
    if ((rc = require(s, need_q)) != ELM_CLI_GO) return rc;
    elm_cost_row_init(w);
    w->q = a->q;
    w->cloud = cloud;
    w->n_in = a->n_in;
    w->n_out = a->n_out;
    w->wh = a->wh;
    if (cloud && ((rc = require(s, need_tokens)) != ELM_CLI_GO ||
                  (rc = flags_price(a, prices, &w->price)) != ELM_CLI_GO))
        return rc;
    if (edge && !a->opts.has_kwh)
        return elm_cli_usage_error(cmd, "missing --cents-per-kwh (electricity price for --wh; "
                                        "paper 000 used 25)");
    snprintf(w->platform, sizeof w->platform, "%s",
             a->platform ? a->platform : (cloud ? w->price.name : "edge"));
    bool r = elm_cli_given(s, "--r"), ttft = elm_cli_given(s, "--ttft");
    if (a->opts.r_norm && !ttft)
        return elm_cli_usage_error(cmd, "--r-ref needs --ttft (seconds to first token)");
    if (r && !a->opts.r_norm) {
        w->r = a->r;
        w->has_r = true;
        strcpy(w->r_source, "r");
    } else if (ttft) {
        elm_diag_t d;
        if (elm_cost_row_set_ttft(w, &a->opts, a->ttft, &d))
            return elm_cli_usage_error(cmd, "--ttft: %s", d.msg);
    } else {
        return elm_cli_usage_error(cmd, "missing --r (responsiveness) or --ttft (seconds)");
    }
    return ELM_CLI_GO;
}

/* A whole file into a malloc'd buffer (caller frees); NULL with *d set on failure. */
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

static int rows_from_records(const char *path, const elm_price_table_t *prices, elm_cost_opts_t *o,
                             elm_cost_row_t **rows, size_t *n, elm_diag_t *d)
{
    size_t len;
    char *text = read_text(path, &len, d);
    if (!text) return d->code;
    int rc = elm_cost_records_parse(text, len, path, prices, o, rows, n, d);
    free(text);
    return rc;
}

static int rows_from_db(const char *path, const char *match, const elm_cost_opts_t *o,
                        elm_cost_row_t **rows, size_t *n, elm_diag_t *d)
{
    elm_store_t *s = NULL;
    struct stat sb;
    /* elm_store_open would create a missing file: a mistyped path must fail instead */
    if (stat(path, &sb) != 0)
        return elm_diag(d, elm_from_errno(errno), "%s: cannot open the results store (%s)", path,
                        strerror(errno));
    int rc = elm_store_open(path, &s, d);
    if (!rc) rc = elm_cost_rows_from_store(s, match, path, o, rows, n, d);
    elm_store_close(s);
    return rc;
}

/* The rows the arguments ask for: from --db, --records or the flags. Returns ELM_CLI_GO, or the
 * exit status of a usage error or a failure (printed). */
static int table_rows(table_args_t *a, const elm_price_table_t *prices, elm_cost_row_t *one,
                      elm_cost_row_t **rows, size_t *n)
{
    static const char *const row_flags[] = {
        "--records", "--prices", "--platform", "--usd-per-m-in", "--usd-per-m-out", "--in", "--out",
        "--wh",      "--q",      "--r",        "--ttft",
    };
    elm_diag_t d;
    int rc;
    elm_diag_clear(&d);
    *rows = one;
    *n = 1;
    if (!a->db && !a->records) return row_from_flags(a, prices, one);
    if (a->db) {
        for (size_t i = 0; i < sizeof row_flags / sizeof row_flags[0]; i++)
            if (elm_cli_given(&a->spec, row_flags[i]))
                return elm_cli_usage_error(
                    a->spec.cmd, "--db builds the rows from the store; drop %s", row_flags[i]);
        rc = rows_from_db(a->db, a->model, &a->opts, rows, n, &d);
    } else {
        rc = rows_from_records(a->records, prices, &a->opts, rows, n, &d);
    }
    return rc ? elm_cli_fail(&d, rc) : ELM_CLI_GO;
}

/* ---- table: printing ---- */

static void cell(char *buf, size_t n, bool ok, const char *fmt, double v)
{
    if (ok)
        snprintf(buf, n, fmt, v);
    else
        snprintf(buf, n, "unavailable");
}

static void print_table(const elm_cost_row_t *rows, size_t n, const elm_cost_opts_t *o)
{
    printf("alpha = %g, R %s\n", o->alpha,
           o->r_norm ? "normalized: t_ref / (t_ref + TTFT)" : "as given (paper 000: TTFT in s)");
    printf("%-20s %11s %11s %6s %11s %11s %11s %11s\n", "platform", "CPR (c)", "CPR paper", "Q",
           "R", "U", "PCR", "PCR paper");
    for (size_t i = 0; i < n; i++) {
        const elm_cost_row_t *w = &rows[i];
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
    for (size_t i = 0; i < n; i++)
        if (rows[i].why[0]) printf("%s: %s\n", rows[i].platform, rows[i].why);
}

static void json_num(cJSON *o, const char *key, bool ok, double v)
{
    if (ok)
        cJSON_AddNumberToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

static int table_json(const elm_cost_row_t *rows, size_t n, const elm_cost_opts_t *t)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "alpha", t->alpha);
    cJSON_AddStringToObject(o, "r_mode", t->r_norm ? "normalized" : "raw");
    if (t->r_norm) cJSON_AddNumberToObject(o, "r_ref_s", t->r_ref);
    cJSON *arr = cJSON_AddArrayToObject(o, "rows");
    for (size_t i = 0; i < n; i++) {
        const elm_cost_row_t *w = &rows[i];
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

static int cmd_table(int argc, char **argv)
{
    table_args_t a;
    elm_price_table_t loaded = {0};
    const elm_price_table_t *prices;
    elm_cost_row_t one, *rows = NULL;
    size_t n = 0;
    elm_diag_t d;
    int status = parse_table_args(&a, argc, argv);
    if (status != ELM_CLI_GO) return status;
    elm_diag_clear(&d);
    int rc = pick_prices(a.prices, &loaded, &prices, &d);
    if (rc) return elm_cli_fail(&d, rc);
    status = table_rows(&a, prices, &one, &rows, &n);
    if (status != ELM_CLI_GO) goto fail;
    elm_cost_table_compute(rows, n, &a.opts);
    if (a.json) {
        status = table_json(rows, n, &a.opts);
    } else {
        print_table(rows, n, &a.opts);
        status = 0;
    }
fail:
    if (rows != &one) free(rows);
    elm_prices_free(&loaded);
    return status;
}

/* ---- breakeven ---- */

static const char breakeven_head[] =
    "usage: edgelm cost breakeven --price-a USD --price-b USD --j-in-a J --j-out-a J\n"
    "                             --j-in-b J --j-out-b J --mu MU --ratio R --tps TOK_S\n"
    "                             --cents-per-kwh C [--idle-a W] [--idle-b W]\n"
    "                             [--name-a NAME] [--name-b NAME] [--json]\n"
    "\n"
    "Break-even (paper 002 §6.3): hours until the dearer device's lower energy cost repays its\n"
    "higher purchase price, both carrying the same workload: a fraction MU of the time at TOK_S\n"
    "tokens/s, R input tokens per output token. J values are energy per input (prefill) and\n"
    "output (decode) token; idle power counts only when given.\n";

typedef struct {
    elm_device_econ_t dev[2];
    elm_workload_t wl;
    bool json;
} breakeven_args_t;

static int parse_breakeven_args(breakeven_args_t *a, int argc, char **argv)
{
    static const char *const required[] = {
        "--price-a", "--price-b", "--j-in-a", "--j-out-a",       "--j-in-b", "--j-out-b",
        "--mu",      "--ratio",   "--tps",    "--cents-per-kwh", NULL,
    };
    elm_device_econ_t *da = &a->dev[0], *db = &a->dev[1];
    elm_workload_t *wl = &a->wl;
    *a = (breakeven_args_t){.dev = {{.name = "device a"}, {.name = "device b"}}};
    elm_opt_t opts[] = {
        ELM_OPT_NUM("--price-a", NULL, "USD", &da->price_usd, 0, ANY,
                    "purchase price of device a in US dollars"),
        ELM_OPT_NUM("--price-b", NULL, "USD", &db->price_usd, 0, ANY,
                    "purchase price of device b in US dollars"),
        ELM_OPT_NUM("--j-in-a", NULL, "J", &da->j_per_in_token, 0, ANY,
                    "energy per input token of device a in J"),
        ELM_OPT_NUM("--j-out-a", NULL, "J", &da->j_per_out_token, 0, ANY,
                    "energy per output token of device a in J"),
        ELM_OPT_NUM("--j-in-b", NULL, "J", &db->j_per_in_token, 0, ANY,
                    "energy per input token of device b in J"),
        ELM_OPT_NUM("--j-out-b", NULL, "J", &db->j_per_out_token, 0, ANY,
                    "energy per output token of device b in J"),
        ELM_OPT_NUM("--idle-a", NULL, "W", &da->idle_w, 0, ANY, "idle power of device a in W"),
        ELM_OPT_NUM("--idle-b", NULL, "W", &db->idle_w, 0, ANY, "idle power of device b in W"),
        ELM_OPT_STR("--name-a", NULL, "NAME", &da->name, "name of device a"),
        ELM_OPT_STR("--name-b", NULL, "NAME", &db->name, "name of device b"),
        ELM_OPT_POS("--mu", NULL, "MU", &wl->mu, 0, 1,
                    "utilization mu, the fraction of time the workload runs"),
        ELM_OPT_NUM("--ratio", NULL, "R", &wl->in_out_ratio, 0, ANY,
                    "input tokens per output token"),
        ELM_OPT_POS("--tps", NULL, "TOK_S", &wl->tokens_per_s, 0, ANY,
                    "workload tokens per second while it runs"),
        ELM_OPT_POS("--cents-per-kwh", NULL, "C", &wl->cents_per_kwh, 0, ANY,
                    "electricity price in US cents per kWh"),
        ELM_OPT_FLAG("--json", NULL, &a->json, "one JSON object on stdout"),
        ELM_OPT_END,
    };
    elm_cli_spec_t spec = {.cmd = "cost breakeven", .head = breakeven_head, .opts = opts};
    int rc = parse_sub(&spec, argc, argv);
    return rc == ELM_CLI_GO ? require(&spec, required) : rc;
}

static int breakeven_json(const breakeven_args_t *a, int rc, const elm_breakeven_t *r,
                          const elm_diag_t *d)
{
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; i < 2; i++) {
        cJSON *e = cJSON_AddObjectToObject(o, i ? "b" : "a");
        cJSON_AddStringToObject(e, "name", a->dev[i].name);
        cJSON_AddNumberToObject(e, "price_usd", a->dev[i].price_usd);
        if (!rc) {
            cJSON_AddNumberToObject(e, "j_per_token", r->j_per_token[i]);
            cJSON_AddNumberToObject(e, "mean_w", r->w[i]);
        }
    }
    if (rc) {
        cJSON_AddNullToObject(o, "seconds");
        cJSON_AddStringToObject(o, "unavailable", d->msg);
    } else {
        cJSON_AddNumberToObject(o, "price_diff_usd", r->price_diff_usd);
        cJSON_AddNumberToObject(o, "saving_usd_per_h", r->saving_usd_per_h);
        cJSON_AddNumberToObject(o, "seconds", r->seconds);
        cJSON_AddNumberToObject(o, "hours", r->seconds / 3600);
        cJSON_AddNumberToObject(o, "years", r->seconds / (3600 * 24 * 365.25));
        cJSON_AddNumberToObject(o, "tokens", r->tokens);
    }
    return elm_cli_print_json(o);
}

static int cmd_breakeven(int argc, char **argv)
{
    breakeven_args_t a;
    int status = parse_breakeven_args(&a, argc, argv);
    if (status != ELM_CLI_GO) return status;
    elm_breakeven_t r;
    elm_diag_t d;
    elm_diag_clear(&d);
    int rc = elm_breakeven(&a.dev[0], &a.dev[1], &a.wl, &r, &d);
    if (a.json) return breakeven_json(&a, rc, &r, &d);
    if (rc) {
        printf("break-even: unavailable (%s)\n", d.msg);
        return 0;
    }
    for (int i = 0; i < 2; i++)
        printf("%-10s $%.2f, %.4g J/token on the mix, mean %.4g W\n", a.dev[i].name,
               a.dev[i].price_usd, r.j_per_token[i], r.w[i]);
    printf("price difference: $%.2f (%s costs more)\n", r.price_diff_usd,
           a.dev[1 - r.cheaper].name);
    printf("energy saving:    $%.6f per hour at %g c/kWh\n", r.saving_usd_per_h,
           a.wl.cents_per_kwh);
    printf("break-even after: %.4g hours = %.4g days = %.4g years (%.4g tokens)\n",
           r.seconds / 3600, r.seconds / 86400, r.seconds / (86400 * 365.25), r.tokens);
    return 0;
}

/* ---- battery, permtok, action, reading, prices ---- */

static int cmd_battery(int argc, char **argv)
{
    static const char *const required[] = {"--battery-wh", "--wh-per-run", "--run-s", NULL};
    double wh = 0, run_wh = 0, run_s = 0;
    bool json = false;
    elm_opt_t opts[] = {
        ELM_OPT_POS("--battery-wh", NULL, "WH", &wh, 0, ANY, "battery capacity in Wh"),
        ELM_OPT_POS("--wh-per-run", NULL, "WH", &run_wh, 0, ANY, "energy of one run in Wh"),
        ELM_OPT_POS("--run-s", NULL, "S", &run_s, 0, ANY, "duration of one run in seconds"),
        ELM_OPT_FLAG("--json", NULL, &json, "one JSON object on stdout"),
        ELM_OPT_END,
    };
    elm_cli_spec_t spec = {.cmd = "cost battery",
                           .opts = opts,
                           .head = "usage: edgelm cost battery --battery-wh WH --wh-per-run WH "
                                   "--run-s S [--json]\n\n"
                                   "Battery (paper 002 §6.2): runs per charge and hours until "
                                   "recharge (e.g. --battery-wh 18.84).\n"};
    int status = parse_sub(&spec, argc, argv);
    if (status == ELM_CLI_GO) status = require(&spec, required);
    if (status != ELM_CLI_GO) return status;

    elm_battery_t b;
    elm_diag_t d;
    int rc = elm_battery(wh, run_wh, run_s, &b, &d);
    if (rc) return elm_cli_fail(&d, rc);
    if (json) {
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
    static const char *const required[] = {"--cents-per-kwh", NULL};
    static const char *const keys[2] = {"usd_per_m_input", "usd_per_m_output"};
    double kwh = 0, j[2] = {0, 0};
    bool json = false;
    elm_opt_t opts[] = {
        ELM_OPT_NUM("--cents-per-kwh", NULL, "C", &kwh, 0, ANY,
                    "electricity price in US cents per kWh"),
        ELM_OPT_NUM("--j-in", NULL, "J", &j[0], 0, ANY, "energy per input (prefill) token in J"),
        ELM_OPT_NUM("--j-out", NULL, "J", &j[1], 0, ANY, "energy per output (decode) token in J"),
        ELM_OPT_FLAG("--json", NULL, &json, "one JSON object on stdout"),
        ELM_OPT_END,
    };
    elm_cli_spec_t spec = {.cmd = "cost permtok",
                           .opts = opts,
                           .head = "usage: edgelm cost permtok --cents-per-kwh C [--j-in J] "
                                   "[--j-out J] [--json]\n\n"
                                   "Per million tokens (paper 002 §6.3): electricity cost in US "
                                   "dollars per million input/output tokens.\n"};
    int status = parse_sub(&spec, argc, argv);
    if (status == ELM_CLI_GO) status = require(&spec, required);
    if (status != ELM_CLI_GO) return status;
    bool given[2] = {elm_cli_given(&spec, "--j-in"), elm_cli_given(&spec, "--j-out")};
    if (!given[0] && !given[1])
        return elm_cli_usage_error(spec.cmd, "missing --j-in or --j-out (energy per token in J)");

    cJSON *o = json ? cJSON_CreateObject() : NULL;
    for (int i = 0; i < 2; i++) {
        if (!given[i]) {
            if (o) cJSON_AddNullToObject(o, keys[i]);
            continue;
        }
        double usd;
        elm_diag_t d;
        int rc = elm_cost_per_mtok(j[i], kwh, &usd, &d);
        if (rc) {
            cJSON_Delete(o);
            return elm_cli_fail(&d, rc);
        }
        if (o)
            cJSON_AddNumberToObject(o, keys[i], usd);
        else
            printf("%s tokens: $%.4g per million (%g J/token at %g c/kWh)\n",
                   i ? "output" : "input ", usd, j[i], kwh);
    }
    return o ? elm_cli_print_json(o) : 0;
}

static int cmd_action(int argc, char **argv)
{
    static const char *const required[] = {"--energy-j", "--tokens", NULL};
    double e = 0, t = 0, s;
    bool json = false;
    elm_opt_t opts[] = {
        ELM_OPT_NUM("--energy-j", NULL, "J", &e, 0, ANY, "energy of the measured phase in J"),
        ELM_OPT_POS("--tokens", NULL, "N", &t, 0, ANY, "tokens of the measured phase"),
        ELM_OPT_FLAG("--json", NULL, &json, "one JSON object on stdout"),
        ELM_OPT_END,
    };
    elm_cli_spec_t spec = {.cmd = "cost action",
                           .opts = opts,
                           .head = "usage: edgelm cost action --energy-j J --tokens N [--json]\n\n"
                                   "Action per token (paper 002 §6.1): energy per token "
                                   "S = E / t.\n"};
    int status = parse_sub(&spec, argc, argv);
    if (status == ELM_CLI_GO) status = require(&spec, required);
    if (status != ELM_CLI_GO) return status;

    elm_diag_t d;
    int rc = elm_action_per_token(e, t, &s, &d);
    if (rc) return elm_cli_fail(&d, rc);
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "s_j_per_token", s);
        return elm_cli_print_json(o);
    }
    printf("S = E / t = %g J / %g tokens = %.4g J/token\n", e, t, s);
    return 0;
}

static int cmd_reading(int argc, char **argv)
{
    static const char *const required[] = {"--tps", NULL};
    double tps = 0, ratio;
    bool json = false, fast;
    elm_opt_t opts[] = {
        ELM_OPT_NUM("--tps", NULL, "TOK_S", &tps, 0, ANY, "generation speed in tokens per second"),
        ELM_OPT_FLAG("--json", NULL, &json, "one JSON object on stdout"),
        ELM_OPT_END,
    };
    elm_cli_spec_t spec = {.cmd = "cost reading",
                           .opts = opts,
                           .head = "usage: edgelm cost reading --tps TOK_S [--json]\n\n"
                                   "Reading speed: is generation at least 5.3 tokens/s (4 words/s "
                                   "/ 0.75 words per token)?\n"};
    int status = parse_sub(&spec, argc, argv);
    if (status == ELM_CLI_GO) status = require(&spec, required);
    if (status != ELM_CLI_GO) return status;

    elm_diag_t d;
    int rc = elm_reading_speed(tps, &fast, &ratio, &d);
    if (rc) return elm_cli_fail(&d, rc);
    if (json) {
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

static int prices_json(const elm_price_table_t *t)
{
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
    return elm_cli_print_json(o);
}

static int cmd_prices(int argc, char **argv)
{
    const char *path = NULL;
    bool json = false;
    elm_opt_t opts[] = {
        ELM_OPT_STR("--prices", NULL, "FILE", &path,
                    "price table JSON file (default: built in, same as data/prices.json)"),
        ELM_OPT_FLAG("--json", NULL, &json, "one JSON object on stdout"),
        ELM_OPT_END,
    };
    elm_cli_spec_t spec = {.cmd = "cost prices",
                           .opts = opts,
                           .head = "usage: edgelm cost prices [--prices FILE] [--json]\n\n"
                                   "The cloud price table, in US dollars per million tokens.\n"};
    int status = parse_sub(&spec, argc, argv);
    if (status != ELM_CLI_GO) return status;

    elm_price_table_t loaded = {0};
    const elm_price_table_t *t;
    elm_diag_t d;
    int rc = pick_prices(path, &loaded, &t, &d);
    if (rc) return elm_cli_fail(&d, rc);
    if (json) {
        status = prices_json(t);
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

/* ---- the command ---- */

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
        if (!strcmp(argv[1], "table")) return cmd_table(argc - 1, argv + 1);
        for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
            if (!strcmp(argv[1], subs[i].name)) return subs[i].run(argc, argv);
        return elm_cli_usage_error("cost",
                                   "unknown subcommand '%s' (table, breakeven, battery, "
                                   "permtok, action, reading, prices)",
                                   argv[1]);
    }
    return cmd_table(argc, argv);
}
