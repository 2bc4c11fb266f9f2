/* The papers' cost and efficiency formulas: CPR, U, PCR (Edge-First §III-C, Eq. 1, Eq. 2) and the
 * energy figures of Sometimes Painful §6 (energy per token, cost per million tokens, battery,
 * reading speed, device break-even). Pure functions: inputs checked, no I/O, no global state. */
#include <math.h>

#include "edgelm/metrics.h"

#define J_PER_KWH 3.6e6

/* ---- input checks ---- */

/* x must be a finite number >= 0 (or > 0 when positive is set). */
static int check_nonneg(const char *what, double x, bool positive, elm_diag_t *d)
{
    if (!isfinite(x))
        return elm_diag(d, ELM_EINVAL, "%s is not a finite number (give a plain decimal value)",
                        what);
    if (x < 0) return elm_diag(d, ELM_EINVAL, "%s is negative (%g); give a value >= 0", what, x);
    if (positive && x == 0) return elm_diag(d, ELM_EINVAL, "%s is zero; give a value > 0", what);
    return 0;
}

static int check_unit(const char *what, double x, elm_diag_t *d)
{
    if (!isfinite(x) || x < 0 || x > 1)
        return elm_diag(d, ELM_EINVAL, "%s is %g; it must lie in [0, 1]", what, x);
    return 0;
}

/* ---- cost per response ---- */

int elm_cpr_cloud(double n_in, double n_out, const elm_price_t *price, double *cpr_cents,
                  elm_diag_t *d)
{
    int rc;
    if (!price) return elm_diag(d, ELM_EINVAL, "no price given for the cloud model");
    if ((rc = check_nonneg("input tokens", n_in, false, d)) ||
        (rc = check_nonneg("output tokens", n_out, false, d)))
        return rc;
    if (!isfinite(price->usd_per_m_in) || price->usd_per_m_in < 0 ||
        !isfinite(price->usd_per_m_out) || price->usd_per_m_out < 0)
        return elm_diag(d, ELM_EINVAL,
                        "%s: price is negative or not a number ($%g in, $%g out per M tokens); "
                        "fix the price table",
                        price->name[0] ? price->name : "model", price->usd_per_m_in,
                        price->usd_per_m_out);
    /* Edge-First Table I: cpr = n_in·p_in + n_out·p_out, prices in $ per 1e6 tokens, shown in ¢. */
    *cpr_cents = (n_in * price->usd_per_m_in + n_out * price->usd_per_m_out) / 1e6 * 100.0;
    return 0;
}

int elm_cpr_edge(double wh_per_response, double cents_per_kwh, double *cpr_cents, elm_diag_t *d)
{
    int rc;
    if ((rc = check_nonneg("energy per response (Wh)", wh_per_response, false, d)) ||
        (rc = check_nonneg("electricity price (cents per kWh)", cents_per_kwh, false, d)))
        return rc;
    /* Edge-First Table I: cpr = E (Wh) / 1000 × price (¢/kWh). */
    *cpr_cents = wh_per_response / 1000.0 * cents_per_kwh;
    return 0;
}

/* ---- utility and PCR ---- */

int elm_utility(double alpha, double q, double r, double *u, elm_diag_t *d)
{
    int rc;
    if ((rc = check_unit("alpha", alpha, d)) || (rc = check_unit("quality Q", q, d)) ||
        (rc = check_nonneg("responsiveness R", r, false, d)))
        return rc;
    /* Edge-First Eq. 1 */
    *u = alpha * q + (1.0 - alpha) * r;
    return 0;
}

int elm_responsiveness_norm(double ttft_s, double t_ref_s, double *r, elm_diag_t *d)
{
    int rc;
    if ((rc = check_nonneg("time to first token (s)", ttft_s, false, d)) ||
        (rc = check_nonneg("reference time t_ref (s)", t_ref_s, true, d)))
        return rc;
    *r = t_ref_s / (t_ref_s + ttft_s);
    return 0;
}

int elm_pcr(double u, double cpr_cents, double *pcr, elm_diag_t *d)
{
    int rc;
    if ((rc = check_nonneg("utility U", u, false, d)) ||
        (rc = check_nonneg("cost per response (cents)", cpr_cents, false, d)))
        return rc;
    if (cpr_cents == 0)
        return elm_diag(d, ELM_ERANGE, "PCR unavailable: the cost per response is 0 (U / 0)");
    /* Edge-First Eq. 2, with CPR in cents as the paper divides */
    *pcr = u / cpr_cents;
    return 0;
}

double elm_round_paper(double x)
{
    if (!isfinite(x) || x == 0) return x;
    double a = fabs(x);
    if (a >= 0.005) return round(x * 100.0) / 100.0;
    /* two significant figures: scale so the value has two digits before the point */
    double scale = pow(10.0, 1.0 - floor(log10(a)));
    /* below about 1e-307 the scale overflows and x * scale / scale is NaN: keep x as it is */
    if (!isfinite(scale)) return x;
    return round(x * scale) / scale;
}

/* ---- energy figures ---- */

int elm_action_per_token(double energy_j, double tokens, double *s_j_per_token, elm_diag_t *d)
{
    int rc;
    if ((rc = check_nonneg("energy (J)", energy_j, false, d)) ||
        (rc = check_nonneg("token count", tokens, true, d)))
        return rc;
    /* Sometimes Painful §6.1: S = E / t */
    *s_j_per_token = energy_j / tokens;
    return 0;
}

int elm_cost_per_mtok(double j_per_token, double cents_per_kwh, double *usd_per_m, elm_diag_t *d)
{
    int rc;
    if ((rc = check_nonneg("energy per token (J)", j_per_token, false, d)) ||
        (rc = check_nonneg("electricity price (cents per kWh)", cents_per_kwh, false, d)))
        return rc;
    /* Sometimes Painful §6.3: a million tokens at j J each, in kWh, times the price, cents →
     * dollars */
    *usd_per_m = j_per_token * 1e6 / J_PER_KWH * cents_per_kwh / 100.0;
    return 0;
}

int elm_battery(double battery_wh, double wh_per_run, double seconds_per_run, elm_battery_t *out,
                elm_diag_t *d)
{
    int rc;
    if ((rc = check_nonneg("battery capacity (Wh)", battery_wh, true, d)) ||
        (rc = check_nonneg("energy per run (Wh)", wh_per_run, true, d)) ||
        (rc = check_nonneg("duration of a run (s)", seconds_per_run, true, d)))
        return rc;
    /* Sometimes Painful §6.2: runs per charge and the hours they last back to back */
    out->runs = battery_wh / wh_per_run;
    out->runs_whole = floor(out->runs);
    out->hours = out->runs * seconds_per_run / 3600.0;
    out->mean_w = wh_per_run * 3600.0 / seconds_per_run;
    return 0;
}

int elm_reading_speed(double gen_tok_per_s, bool *fast, double *ratio, elm_diag_t *d)
{
    int rc = check_nonneg("generation speed (tokens/s)", gen_tok_per_s, false, d);
    if (rc) return rc;
    *fast = gen_tok_per_s >= ELM_READING_TOK_PER_S;
    *ratio = gen_tok_per_s / ELM_READING_TOK_PER_S;
    return 0;
}

/* ---- device break-even ---- */

static int check_device(const elm_device_econ_t *dev, char which, elm_diag_t *d)
{
    const char *n = dev->name ? dev->name : (which == 'a' ? "device a" : "device b");
    if (!isfinite(dev->price_usd) || dev->price_usd < 0)
        return elm_diag(d, ELM_EINVAL, "%s: purchase price is %g; give a price >= 0 in dollars", n,
                        dev->price_usd);
    if (!isfinite(dev->j_per_in_token) || dev->j_per_in_token < 0 ||
        !isfinite(dev->j_per_out_token) || dev->j_per_out_token < 0)
        return elm_diag(d, ELM_EINVAL,
                        "%s: energy per token is negative or not a number (%g J in, %g J out)", n,
                        dev->j_per_in_token, dev->j_per_out_token);
    if (!isfinite(dev->idle_w) || dev->idle_w < 0)
        return elm_diag(d, ELM_EINVAL, "%s: idle power is %g W; give a value >= 0", n, dev->idle_w);
    return 0;
}

int elm_breakeven(const elm_device_econ_t *a, const elm_device_econ_t *b, const elm_workload_t *wl,
                  elm_breakeven_t *out, elm_diag_t *d)
{
    int rc;
    if (!a || !b || !wl || !out) return elm_diag(d, ELM_EINVAL, "break-even: missing argument");
    if ((rc = check_device(a, 'a', d)) || (rc = check_device(b, 'b', d))) return rc;
    if (!isfinite(wl->mu) || wl->mu <= 0 || wl->mu > 1)
        return elm_diag(d, ELM_EINVAL, "utilization mu is %g; it must lie in (0, 1]", wl->mu);
    if ((rc = check_nonneg("input/output token ratio", wl->in_out_ratio, false, d)) ||
        (rc = check_nonneg("workload tokens per second", wl->tokens_per_s, true, d)) ||
        (rc = check_nonneg("electricity price (cents per kWh)", wl->cents_per_kwh, true, d)))
        return rc;

    const elm_device_econ_t *dev[2] = {a, b};
    elm_breakeven_t r = {0};
    double ratio = wl->in_out_ratio;
    for (int i = 0; i < 2; i++) {
        /* energy of one token of the mix: ratio input tokens for each output token */
        r.j_per_token[i] = (ratio * dev[i]->j_per_in_token + dev[i]->j_per_out_token) / (ratio + 1);
        /* mean power over wall time: busy a fraction mu at the workload's rate, idle otherwise */
        r.w[i] = wl->mu * wl->tokens_per_s * r.j_per_token[i] + (1 - wl->mu) * dev[i]->idle_w;
    }
    /* With equal purchase prices the device drawing less power is ahead from the start. */
    if (a->price_usd != b->price_usd)
        r.cheaper = b->price_usd < a->price_usd;
    else
        r.cheaper = r.w[1] > r.w[0];
    int dear = 1 - r.cheaper;
    r.price_diff_usd = dev[dear]->price_usd - dev[r.cheaper]->price_usd;
    /* Sometimes Painful §6.3: the dearer device pays back when its energy saving, accumulated over
     * the hours of operation, equals the difference in purchase price. */
    double saving_w = r.w[r.cheaper] - r.w[dear];
    r.saving_usd_per_h = saving_w / 1000.0 * wl->cents_per_kwh / 100.0;
    if (r.price_diff_usd == 0) {
        r.seconds = 0;
    } else if (saving_w <= 0) {
        const char *nc = dev[r.cheaper]->name ? dev[r.cheaper]->name : (r.cheaper ? "b" : "a");
        const char *nd = dev[dear]->name ? dev[dear]->name : (dear ? "b" : "a");
        return elm_diag(d, ELM_ERANGE,
                        "break-even unavailable: %s costs $%.2f less to buy and draws no more "
                        "power (%.3g W vs %.3g W), so %s never pays back",
                        nc, r.price_diff_usd, r.w[r.cheaper], r.w[dear], nd);
    } else {
        r.seconds = r.price_diff_usd / r.saving_usd_per_h * 3600.0;
    }
    r.tokens = wl->mu * wl->tokens_per_s * r.seconds;
    *out = r;
    return 0;
}
