/* edgelm metrics: the cost and efficiency formulas of the edge-inference papers — cost per
 * response (CPR), utility U, performance-cost ratio PCR, cost per million tokens, energy per token,
 * device break-even time, battery runs, the reading-speed verdict — as pure functions, plus the
 * price table of cloud models and the cost table (Table I rows from JSON records or the results
 * store). docs/metrics.md gives every formula with its source and units; the papers, cited by
 * their short names Edge-First and Sometimes Painful, are in docs/references.md. */
#ifndef EDGELM_METRICS_H
#define EDGELM_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "edgelm/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Every function below validates its inputs and returns 0, or ELM_EINVAL (an input that is not a
 * number, negative or out of its range) or ELM_ERANGE (a figure that cannot be computed, such as a
 * ratio over a zero cost), with *d naming the input and the fix. Out-parameters are left untouched
 * on failure: a figure that cannot be computed is reported as unavailable, never as 0. */

/* ---- price table ---- */

/* One cloud model's list price in US dollars per million tokens. */
typedef struct {
    char name[64];        /* lookup key, e.g. "gpt-4" */
    double usd_per_m_in;  /* input (prompt) tokens */
    double usd_per_m_out; /* output (completion) tokens */
    char note[256];       /* where the price comes from; may be empty */
} elm_price_t;

typedef struct {
    elm_price_t *items; /* owned; free with elm_prices_free() */
    size_t n;
} elm_price_table_t;

/* The built-in defaults, identical to data/prices.json: gpt-4o-mini $0.15/$0.60, gpt-4o
 * $2.50/$10.00, gpt-4 (8k context, the model of Edge-First's Table I) $30/$60 per M tokens. The
 * returned table is static: do not free it. */
const elm_price_table_t *elm_prices_default(void);

/* Parse a price table from JSON text: {"prices": [{"name": "gpt-4", "usd_per_m_input": 30,
 * "usd_per_m_output": 60, "note": "..."}, ...]}. origin names the source in messages (a path).
 * On success *out owns a new table (free with elm_prices_free); on failure *out is empty. */
int elm_prices_parse(const char *json, size_t len, const char *origin, elm_price_table_t *out,
                     elm_diag_t *d);

/* Read and parse a price table file (the one I/O of this layer); ownership as elm_prices_parse. */
int elm_prices_load(const char *path, elm_price_table_t *out, elm_diag_t *d);

/* Free a table's items and empty it. Accepts NULL and empty tables. */
void elm_prices_free(elm_price_table_t *t);

/* The entry named name (case-insensitive), or NULL. */
const elm_price_t *elm_prices_find(const elm_price_table_t *t, const char *name);

/* ---- cost per response (Edge-First §III-C, Table I) ---- */

/* Cloud CPR in US cents: cpr = n_in × price_in + n_out × price_out, prices per million tokens.
 * Token counts may be fractional (means over a test set). */
int elm_cpr_cloud(double n_in, double n_out, const elm_price_t *price, double *cpr_cents,
                  elm_diag_t *d);

/* Edge CPR in US cents: cpr = energy per response (Wh) / 1000 × electricity price (¢/kWh). */
int elm_cpr_edge(double wh_per_response, double cents_per_kwh, double *cpr_cents, elm_diag_t *d);

/* ---- utility and PCR (Edge-First Eq. 1 and Eq. 2) ---- */

/* U = alpha·Q + (1 − alpha)·R (Edge-First Eq. 1); alpha in [0, 1], Q in [0, 1], R >= 0 in
 * whatever responsiveness unit the caller picked (Edge-First plugs TTFT in seconds in). */
int elm_utility(double alpha, double q, double r, double *u, elm_diag_t *d);

/* The normalized responsiveness R = t_ref / (t_ref + ttft), in (0, 1], 1 for an instant first
 * token, 0.5 at ttft = t_ref, falling as the wait grows (edgelm's variant; not in the papers). */
int elm_responsiveness_norm(double ttft_s, double t_ref_s, double *r, elm_diag_t *d);

/* PCR = U / CPR (Edge-First Eq. 2), CPR in cents as the paper divides. ELM_ERANGE when cpr is 0. */
int elm_pcr(double u, double cpr_cents, double *pcr, elm_diag_t *d);

/* A value rounded the way Edge-First prints CPR: to two decimals, or to two significant figures
 * when two decimals would show 0 (1.638 → 1.64, 0.004115 → 0.0041). Table I's PCR column is
 * U divided by these rounded CPRs. */
double elm_round_paper(double x);

/* ---- energy figures (Sometimes Painful §6) ---- */

/* Energy per token S = E / t (Sometimes Painful §6.1): E the energy of a measured phase in joules,
 * t the tokens it produced or consumed; S in J/token. */
int elm_action_per_token(double energy_j, double tokens, double *s_j_per_token, elm_diag_t *d);

/* Electricity cost of a million tokens in US dollars from the energy per token (Sometimes Painful
 * §6.3): usd = j_per_token × 1e6 / 3.6e6 (kWh) × cents_per_kwh / 100. Call once with the
 * prefill (input) J/token and once with the decode (output) J/token. */
int elm_cost_per_mtok(double j_per_token, double cents_per_kwh, double *usd_per_m, elm_diag_t *d);

/* Battery (Sometimes Painful §6.2): how many runs a full charge gives and for how long. */
typedef struct {
    double runs;       /* battery_wh / wh_per_run */
    double runs_whole; /* complete runs: floor(runs) */
    double hours;      /* hours of back-to-back runs until recharge: runs × seconds_per_run */
    double mean_w;     /* mean power while running: wh_per_run × 3600 / seconds_per_run */
} elm_battery_t;

int elm_battery(double battery_wh, double wh_per_run, double seconds_per_run, elm_battery_t *out,
                elm_diag_t *d);

/* Reading speed (Sometimes Painful): 4 words/s ÷ 0.75 words/token = 5.33 tok/s, printed by the
 * paper as 5.3; generation at or above it keeps ahead of a reader. */
#define ELM_READING_WORDS_PER_S 4.0
#define ELM_WORDS_PER_TOKEN     0.75
#define ELM_READING_TOK_PER_S   5.3

/* *fast = gen_tok_per_s >= ELM_READING_TOK_PER_S; *ratio = gen_tok_per_s / ELM_READING_TOK_PER_S.
 */
int elm_reading_speed(double gen_tok_per_s, bool *fast, double *ratio, elm_diag_t *d);

/* ---- device break-even (Sometimes Painful §6.3, Figure 18) ---- */

/* One device's purchase price and energy. */
typedef struct {
    const char *name;       /* for messages; may be NULL */
    double price_usd;       /* purchase price */
    double j_per_in_token;  /* prefill energy per input token (J) */
    double j_per_out_token; /* decode energy per output token (J) */
    double idle_w;          /* power while idle (W); 0 leaves idle energy out */
} elm_device_econ_t;

/* The workload both devices would carry. */
typedef struct {
    double mu;            /* utilization: fraction of wall time the workload runs, (0, 1] */
    double in_out_ratio;  /* input tokens per output token, >= 0 */
    double tokens_per_s;  /* input + output tokens per second while it runs, > 0 */
    double cents_per_kwh; /* electricity price */
} elm_workload_t;

typedef struct {
    int cheaper;           /* 0 when device a costs less to buy, 1 when b does */
    double price_diff_usd; /* what the dearer device costs more */
    double j_per_token[2]; /* mixed energy per token of a and b: (ratio·e_in + e_out)/(ratio+1) */
    double w[2]; /* mean power of a and b: mu·tokens_per_s·j_per_token + (1−mu)·idle_w */
    double saving_usd_per_h; /* energy cost the dearer device saves per hour of operation */
    double seconds;          /* break-even time: price_diff / saving */
    double tokens;           /* tokens processed by then: mu·tokens_per_s·seconds */
} elm_breakeven_t;

/* Time after which the dearer device's lower energy cost has repaid its higher purchase price:
 * t = ΔP / ((W_cheap − W_dear) × price), with W each device's mean power on the shared workload.
 * ELM_ERANGE ("never breaks even") when the cheaper device draws no more power. */
int elm_breakeven(const elm_device_econ_t *a, const elm_device_econ_t *b, const elm_workload_t *wl,
                  elm_breakeven_t *out, elm_diag_t *d);

/* ---- the cost table (Edge-First Table I) ----
 *
 * One row per platform: its inputs (a cloud model's tokens and price, or an edge device's energy
 * per response; Q; R), then its figures (CPR, U, PCR and the paper-rounded columns). Rows come
 * from JSON records (elm_cost_records_parse), the results store (elm_cost_rows_from_store) or the
 * caller's own values (elm_cost_row_init, elm_cost_row_set_ttft); elm_cost_table_compute fills
 * the figures. A figure that cannot be computed is unavailable (has_* false) with the reason in
 * why, never 0. */

/* How the table is computed; elm_cost_opts_default() gives Edge-First's alpha and raw R. */
typedef struct {
    double alpha;         /* weight of quality in U, [0, 1] */
    bool has_alpha;       /* alpha set by the caller: a records document's "alpha" does not
                           * replace it */
    bool r_norm;          /* R = r_ref / (r_ref + TTFT) instead of the raw value */
    double r_ref;         /* seconds, > 0; used when r_norm */
    double cents_per_kwh; /* electricity price of edge rows without their own */
    bool has_kwh;         /* cents_per_kwh is set (by the caller or a records document) */
} elm_cost_opts_t;

/* One platform's inputs and figures. */
typedef struct {
    char platform[64];
    bool cloud;           /* priced per token (price, n_in, n_out); else by energy (wh) */
    elm_price_t price;
    double n_in, n_out;   /* tokens per response (may be means) */
    double wh;            /* energy per response in Wh */
    double cents_per_kwh; /* this row's electricity price; < 0: the table's */
    bool no_wh;           /* an edge row without an energy figure: why says so */
    double q, r;          /* quality and responsiveness of Eq. 1 */
    bool has_r;
    char r_source[16];    /* where R came from: "r", "ttft_s" or "normalized" */
    double cpr, cpr_paper, u, pcr, pcr_paper; /* cents; paper-rounded cents; U; U/CPR; U/paper */
    bool has_cpr, has_u, has_pcr;
    char why[1100];       /* why a figure is unavailable ("; "-separated), or "" */
} elm_cost_row_t;

/* alpha 0.5 (Edge-First), raw R (r_ref 1 s when normalized), no electricity price. */
elm_cost_opts_t elm_cost_opts_default(void);

/* Empty *w: no platform, no R, no figures, the table's electricity price. */
void elm_cost_row_init(elm_cost_row_t *w);

/* Set w's R from a time to first token in seconds: normalized when o->r_norm, else TTFT itself
 * (Edge-First puts TTFT in seconds straight into Eq. 1). Returns 0, or the error of
 * elm_responsiveness_norm with w's R left unavailable. */
int elm_cost_row_set_ttft(elm_cost_row_t *w, const elm_cost_opts_t *o, double ttft_s,
                          elm_diag_t *d);

/* Parse cost records from JSON text: {"alpha": A, "cents_per_kwh": C, "records": [...]} or just
 * the array, each record {"platform", "q", ("r" | "ttft_s"), and either "input_tokens",
 * "output_tokens" with "model" (a name in prices) or "usd_per_m_input"/"usd_per_m_output", or
 * "wh_per_response" with an optional "cents_per_kwh"} (docs/metrics.md). The document's alpha
 * and electricity price go into *o unless o->has_alpha / o->has_kwh. origin names the source in
 * messages ("t.json: record 2 (Pi): ..."). On success *rows is malloc'd with *n >= 1 rows
 * (caller frees); on failure *rows is NULL, *n 0, and *d names the record and field. */
int elm_cost_records_parse(const char *json, size_t len, const char *origin,
                           const elm_price_table_t *prices, elm_cost_opts_t *o,
                           elm_cost_row_t **rows, size_t *n, elm_diag_t *d);

struct elm_store;

/* Rows from the results store: one per model path that has an 'edgelm eval gsm8k' result (Q, the
 * newest) and an 'edgelm bench' record with a TTFT (R from it as elm_cost_row_set_ttft sets it),
 * the path containing match (NULL or "" for all), named by the path's last component; energy per
 * response from that record (a row without one keeps "CPR unavailable: <reason>" in why). origin
 * names the store in messages. ELM_ENOENT when no model qualifies. Ownership as
 * elm_cost_records_parse. */
int elm_cost_rows_from_store(struct elm_store *s, const char *match, const char *origin,
                             const elm_cost_opts_t *o, elm_cost_row_t **rows, size_t *n,
                             elm_diag_t *d);

/* Compute the figures of rows[0..n): CPR (cloud: elm_cpr_cloud; edge: elm_cpr_edge at the row's
 * or o's electricity price), its paper rounding, U (Eq. 1 with o->alpha), PCR = U / CPR and U over
 * the rounded CPR, as Table I divides. A figure that cannot be had is left unavailable and the
 * reason (the last failure's) is appended to the row's why. */
void elm_cost_table_compute(elm_cost_row_t *rows, size_t n, const elm_cost_opts_t *o);

#ifdef __cplusplus
}
#endif
#endif
