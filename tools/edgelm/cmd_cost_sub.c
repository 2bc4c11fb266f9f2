/* The subcommands of `edgelm cost` besides the table: breakeven, battery, permtok, action and
 * reading (Sometimes Painful §6) and the price table. Each parses its options, calls src/metrics/
 * and prints text or JSON. */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cmd_cost.h"

/* Parse a subcommand's options (argv[0] is "cost", argv[1] the subcommand) and check that those
 * in required (NULL-terminated; NULL for none) were given. ELM_CLI_GO or the exit status. */
static int parse_sub(elm_cli_spec_t *spec, int argc, char **argv, const char *const *required)
{
    int rc = elm_cli_parse(spec, argc - 1, argv + 1, NULL);
    return rc == ELM_CLI_GO && required ? elm__cost_require(spec, required) : rc;
}

/* ---- breakeven ---- */

static const char breakeven_head[] =
    "usage: edgelm cost breakeven --price-a USD --price-b USD --j-in-a J --j-out-a J\n"
    "                             --j-in-b J --j-out-b J --mu MU --ratio R --tps TOK_S\n"
    "                             --cents-per-kwh C [--idle-a W] [--idle-b W]\n"
    "                             [--name-a NAME] [--name-b NAME] [--json]\n"
    "\n"
    "Break-even (Sometimes Painful §6.3): hours until the dearer device's lower energy cost\n"
    "repays its higher purchase price, both carrying the same workload: a fraction MU of the time\n"
    "at TOK_S tokens/s, R input tokens per output token. J values are energy per input (prefill) and\n"
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
        ELM_OPT_NUM("--price-a", NULL, "USD", &da->price_usd, 0, ELM_COST_ANY,
                    "purchase price of device a in US dollars"),
        ELM_OPT_NUM("--price-b", NULL, "USD", &db->price_usd, 0, ELM_COST_ANY,
                    "purchase price of device b in US dollars"),
        ELM_OPT_NUM("--j-in-a", NULL, "J", &da->j_per_in_token, 0, ELM_COST_ANY,
                    "energy per input token of device a in J"),
        ELM_OPT_NUM("--j-out-a", NULL, "J", &da->j_per_out_token, 0, ELM_COST_ANY,
                    "energy per output token of device a in J"),
        ELM_OPT_NUM("--j-in-b", NULL, "J", &db->j_per_in_token, 0, ELM_COST_ANY,
                    "energy per input token of device b in J"),
        ELM_OPT_NUM("--j-out-b", NULL, "J", &db->j_per_out_token, 0, ELM_COST_ANY,
                    "energy per output token of device b in J"),
        ELM_OPT_NUM("--idle-a", NULL, "W", &da->idle_w, 0, ELM_COST_ANY,
                    "idle power of device a in W"),
        ELM_OPT_NUM("--idle-b", NULL, "W", &db->idle_w, 0, ELM_COST_ANY,
                    "idle power of device b in W"),
        ELM_OPT_STR("--name-a", NULL, "NAME", &da->name, "name of device a"),
        ELM_OPT_STR("--name-b", NULL, "NAME", &db->name, "name of device b"),
        ELM_OPT_POS("--mu", NULL, "MU", &wl->mu, 0, 1,
                    "utilization mu, the fraction of time the workload runs"),
        ELM_OPT_NUM("--ratio", NULL, "R", &wl->in_out_ratio, 0, ELM_COST_ANY,
                    "input tokens per output token"),
        ELM_OPT_POS("--tps", NULL, "TOK_S", &wl->tokens_per_s, 0, ELM_COST_ANY,
                    "workload tokens per second while it runs"),
        ELM_OPT_POS("--cents-per-kwh", NULL, "C", &wl->cents_per_kwh, 0, ELM_COST_ANY,
                    "electricity price in US cents per kWh"),
        ELM_OPT_FLAG("--json", NULL, &a->json, "one JSON object on stdout"),
        ELM_OPT_END,
    };
    elm_cli_spec_t spec = {.cmd = "cost breakeven", .head = breakeven_head, .opts = opts};
    return parse_sub(&spec, argc, argv, required);
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

int elm__cost_breakeven(int argc, char **argv)
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

int elm__cost_battery(int argc, char **argv)
{
    static const char *const required[] = {"--battery-wh", "--wh-per-run", "--run-s", NULL};
    double wh = 0, run_wh = 0, run_s = 0;
    bool json = false;
    elm_opt_t opts[] = {
        ELM_OPT_POS("--battery-wh", NULL, "WH", &wh, 0, ELM_COST_ANY, "battery capacity in Wh"),
        ELM_OPT_POS("--wh-per-run", NULL, "WH", &run_wh, 0, ELM_COST_ANY,
                    "energy of one run in Wh"),
        ELM_OPT_POS("--run-s", NULL, "S", &run_s, 0, ELM_COST_ANY,
                    "duration of one run in seconds"),
        ELM_OPT_FLAG("--json", NULL, &json, "one JSON object on stdout"),
        ELM_OPT_END,
    };
    elm_cli_spec_t spec = {.cmd = "cost battery",
                           .opts = opts,
                           .head = "usage: edgelm cost battery --battery-wh WH --wh-per-run WH "
                                   "--run-s S [--json]\n\n"
                                   "Battery (Sometimes Painful §6.2): runs per charge and hours "
                                   "until recharge (e.g. --battery-wh 18.84).\n"};
    int status = parse_sub(&spec, argc, argv, required);
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

int elm__cost_permtok(int argc, char **argv)
{
    static const char *const required[] = {"--cents-per-kwh", NULL};
    static const char *const keys[2] = {"usd_per_m_input", "usd_per_m_output"};
    double kwh = 0, j[2] = {0, 0};
    bool json = false;
    elm_opt_t opts[] = {
        ELM_OPT_NUM("--cents-per-kwh", NULL, "C", &kwh, 0, ELM_COST_ANY,
                    "electricity price in US cents per kWh"),
        ELM_OPT_NUM("--j-in", NULL, "J", &j[0], 0, ELM_COST_ANY,
                    "energy per input (prefill) token in J"),
        ELM_OPT_NUM("--j-out", NULL, "J", &j[1], 0, ELM_COST_ANY,
                    "energy per output (decode) token in J"),
        ELM_OPT_FLAG("--json", NULL, &json, "one JSON object on stdout"),
        ELM_OPT_END,
    };
    elm_cli_spec_t spec = {.cmd = "cost permtok",
                           .opts = opts,
                           .head = "usage: edgelm cost permtok --cents-per-kwh C [--j-in J] "
                                   "[--j-out J] [--json]\n\n"
                                   "Per million tokens (Sometimes Painful §6.3): electricity cost "
                                   "in US dollars per million input/output tokens.\n"};
    int status = parse_sub(&spec, argc, argv, required);
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

int elm__cost_action(int argc, char **argv)
{
    static const char *const required[] = {"--energy-j", "--tokens", NULL};
    double e = 0, t = 0, s;
    bool json = false;
    elm_opt_t opts[] = {
        ELM_OPT_NUM("--energy-j", NULL, "J", &e, 0, ELM_COST_ANY,
                    "energy of the measured phase in J"),
        ELM_OPT_POS("--tokens", NULL, "N", &t, 0, ELM_COST_ANY, "tokens of the measured phase"),
        ELM_OPT_FLAG("--json", NULL, &json, "one JSON object on stdout"),
        ELM_OPT_END,
    };
    elm_cli_spec_t spec = {.cmd = "cost action",
                           .opts = opts,
                           .head = "usage: edgelm cost action --energy-j J --tokens N [--json]\n\n"
                                   "Action per token (Sometimes Painful §6.1): energy per token "
                                   "S = E / t.\n"};
    int status = parse_sub(&spec, argc, argv, required);
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

int elm__cost_reading(int argc, char **argv)
{
    static const char *const required[] = {"--tps", NULL};
    double tps = 0, ratio;
    bool json = false, fast;
    elm_opt_t opts[] = {
        ELM_OPT_NUM("--tps", NULL, "TOK_S", &tps, 0, ELM_COST_ANY,
                    "generation speed in tokens per second"),
        ELM_OPT_FLAG("--json", NULL, &json, "one JSON object on stdout"),
        ELM_OPT_END,
    };
    elm_cli_spec_t spec = {.cmd = "cost reading",
                           .opts = opts,
                           .head = "usage: edgelm cost reading --tps TOK_S [--json]\n\n"
                                   "Reading speed: is generation at least 5.3 tokens/s (4 words/s "
                                   "/ 0.75 words per token)?\n"};
    int status = parse_sub(&spec, argc, argv, required);
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

int elm__cost_prices(int argc, char **argv)
{
    const char *path = NULL;
    bool json = false;
    elm_opt_t opts[] = {
        ELM_OPT_STR("--prices", NULL, "FILE", &path,
                    "price table JSON file (default: built in; the same table as\n"
                    "share/edgelm/prices.json)"),
        ELM_OPT_FLAG("--json", NULL, &json, "one JSON object on stdout"),
        ELM_OPT_END,
    };
    elm_cli_spec_t spec = {.cmd = "cost prices",
                           .opts = opts,
                           .head = "usage: edgelm cost prices [--prices FILE] [--json]\n\n"
                                   "The cloud price table, in US dollars per million tokens.\n"};
    int status = parse_sub(&spec, argc, argv, NULL);
    if (status != ELM_CLI_GO) return status;

    elm_price_table_t loaded = {0};
    const elm_price_table_t *t;
    elm_diag_t d;
    int rc = elm__cost_price_table(path, &loaded, &t, &d);
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
