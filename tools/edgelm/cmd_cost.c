/* `edgelm cost`: the papers' cost and efficiency metrics. This file holds the command's entry and
 * its default subcommand, the table like Edge-First's Table I (CPR, Q, R, U, PCR) from flags, a
 * JSON file of records or the results store: parse the options, call src/metrics/, print. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "cmd_cost.h"
#include "edgelm/store.h"

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
    "(Edge-First Eq. 1) and PCR = U / CPR (Eq. 2), one row per platform, like Edge-First's\n"
    "Table I (the papers: docs/references.md).\n"
    "The 'paper' columns round CPR as the paper prints it and divide by that, as it does.\n"
    "The rows come from --records, from --db, or one from flags: --platform NAME --q Q\n"
    "(--r R | --ttft S) and either --model NAME --in N --out N (or --usd-per-m-in and\n"
    "--usd-per-m-out for the prices), or --wh WH_PER_RESPONSE.\n";

static const char table_tail[] =
    "breakeven (Sometimes Painful §6.3): hours until the dearer device's lower energy cost\n"
    "repays its higher purchase price, both carrying the same workload.\n"
    "battery (Sometimes Painful §6.2): runs per charge and hours until recharge\n"
    "(e.g. --battery-wh 18.84).\n"
    "permtok (Sometimes Painful §6.3): electricity cost in US dollars per million input/output\n"
    "tokens.\n"
    "action (Sometimes Painful §6.1): energy per token S = E / t.\n"
    "reading: is generation at least 5.3 tokens/s (4 words/s / 0.75 words per token)?\n";

/* ---- shared pieces (cmd_cost.h) ---- */

int elm__cost_require(const elm_cli_spec_t *spec, const char *const *names)
{
    for (; *names; names++)
        if (!elm_cli_given(spec, *names)) return elm_cli_missing(spec, *names);
    return ELM_CLI_GO;
}

int elm__cost_price_table(const char *path, elm_price_table_t *loaded, const elm_price_table_t **t,
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
        ELM_OPT_NUM("--in", NULL, "N", &a->n_in, 0, ELM_COST_ANY, "input tokens per response"),
        ELM_OPT_NUM("--out", NULL, "N", &a->n_out, 0, ELM_COST_ANY, "output tokens per response"),
        ELM_OPT_NUM("--usd-per-m-in", NULL, "USD", &a->usd_in, 0, ELM_COST_ANY,
                    "input price in US dollars per million tokens"),
        ELM_OPT_NUM("--usd-per-m-out", NULL, "USD", &a->usd_out, 0, ELM_COST_ANY,
                    "output price in US dollars per million tokens"),
        ELM_OPT_NUM("--wh", NULL, "WH", &a->wh, 0, ELM_COST_ANY,
                    "energy per response in Wh (edge)"),
        ELM_OPT_NUM("--q", NULL, "Q", &a->q, 0, 1, "quality Q, in [0, 1]"),
        ELM_OPT_NUM("--r", NULL, "R", &a->r, 0, ELM_COST_ANY, "responsiveness R"),
        ELM_OPT_NUM("--ttft", NULL, "S", &a->ttft, 0, ELM_COST_ANY,
                    "time to first token in seconds"),
        ELM_OPT_NUM("--alpha", NULL, "A", &o->alpha, 0, 1,
                    "weight of quality in U, in [0, 1] (default 0.5, as Edge-First)"),
        ELM_OPT_NUM("--cents-per-kwh", NULL, "C", &o->cents_per_kwh, 0, ELM_COST_ANY,
                    "electricity price for edge rows (Edge-First: 25)"),
        ELM_OPT_POS("--r-ref", NULL, "S", &o->r_ref, 0, ELM_COST_ANY,
                    "use the normalized R = S / (S + TTFT) instead of the raw value\n"
                    "(Edge-First puts TTFT in seconds straight into U)"),
        ELM_OPT_STR("--prices", NULL, "FILE", &a->prices,
                    "cloud price table (default: built in; the same table as\n"
                    "share/edgelm/prices.json)"),
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
    int rc = elm__cost_require(&a->spec, need_usd);
    if (rc != ELM_CLI_GO) return rc;
    *p = (elm_price_t){.name = "custom", .usd_per_m_in = a->usd_in, .usd_per_m_out = a->usd_out};
    return ELM_CLI_GO;
}

/* One row from --platform/--model/--in/--out/--wh/--q/--r/--ttft; ELM_CLI_GO or a usage error. */
static int row_from_flags(const table_args_t *a, const elm_price_table_t *prices, elm_cost_row_t *w)
{
    static const char *const need_q[] = {"--q", NULL};
    static const char *const need_tokens[] = {"--in", "--out", NULL};
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
    if ((rc = elm__cost_require(s, need_q)) != ELM_CLI_GO) return rc;
    elm_cost_row_init(w);
    w->q = a->q;
    w->cloud = cloud;
    w->n_in = a->n_in;
    w->n_out = a->n_out;
    w->wh = a->wh;
    if (cloud && ((rc = elm__cost_require(s, need_tokens)) != ELM_CLI_GO ||
                  (rc = flags_price(a, prices, &w->price)) != ELM_CLI_GO))
        return rc;
    if (edge && !a->opts.has_kwh)
        return elm_cli_usage_error(cmd, "missing --cents-per-kwh (electricity price for --wh; "
                                        "Edge-First used 25)");
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

static int rows_from_records(const char *path, const elm_price_table_t *prices, elm_cost_opts_t *o,
                             elm_cost_row_t **rows, size_t *n, elm_diag_t *d)
{
    size_t len;
    char *text;
    int rc = elm_file_read(path, 64u << 20, &text, &len, d);
    if (rc) return rc;
    rc = elm_cost_records_parse(text, len, path, prices, o, rows, n, d);
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
           o->r_norm ? "normalized: t_ref / (t_ref + TTFT)" : "as given (Edge-First: TTFT in s)");
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
    int rc = elm__cost_price_table(a.prices, &loaded, &prices, &d);
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

/* ---- the command ---- */

int elm_cmd_cost(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
    } subs[] = {
        {"breakeven", elm__cost_breakeven}, {"battery", elm__cost_battery},
        {"permtok", elm__cost_permtok},     {"action", elm__cost_action},
        {"reading", elm__cost_reading},     {"prices", elm__cost_prices},
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
