/* report/: figure 11, routing (Edge-First Fig. 4) — requests processed, redirected and rejected,
 * tokens redirected, cloud cost and device utilization per scenario — from `edgelm simulate
 * --json` documents (read strictly here: they are files from elsewhere) and gateway access logs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fig_other.h"

/* Simulator documents and logs larger than this are refused rather than read into memory. */
#define ROUTE_MAX_FILE (256u << 20)
/* Scenarios a report draws, over all its inputs. */
#define ROUTE_MAX_SCN 256

/* ---- reading a simulator document ---- */

/* The number at key of o, finite and >= 0, into *v; else ELM_EINVAL naming where.key. */
static int sim_num(const cJSON *o, const char *key, const char *fname, const char *where,
                   double *v, elm_diag_t *d)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(j) || !isfinite(j->valuedouble) || j->valuedouble < 0)
        return elm_diag(d, ELM_EINVAL, "%s: %s%s%s: missing or not a non-negative number", fname,
                        where, *where ? "." : "", key);
    *v = j->valuedouble;
    return 0;
}

/* The member key of o of the type is() accepts, or NULL with ELM_EINVAL in *d naming it. */
static const cJSON *sim_member(const cJSON *o, const char *key, cJSON_bool (*is)(const cJSON *),
                               const char *what, const char *fname, const char *where,
                               elm_diag_t *d)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!is(j))
        elm_diag(d, ELM_EINVAL, "%s: %s%s%s: missing or not %s", fname, where, *where ? "." : "",
                 key, what);
    return is(j) ? j : NULL;
}

/* Each run's totals.util into the scenario's mean per-device utilization. */
static int sim_runs(const cJSON *runs, const char *fname, const char *where, elm__route_scn_t *s,
                    elm_diag_t *d)
{
    char at[200];
    int k = 0, nd = -1;
    const cJSON *run;
    cJSON_ArrayForEach(run, runs)
    {
        snprintf(at, sizeof at, "%s.runs[%d].totals", where, k);
        const cJSON *tot = sim_member(run, "totals", cJSON_IsObject, "an object", fname, at, d);
        const cJSON *u = tot ? sim_member(tot, "util", cJSON_IsArray, "an array", fname, at, d)
                             : NULL;
        if (!u) return ELM_EINVAL;
        int n = cJSON_GetArraySize(u);
        if (n > ELM_ROUTE_MAX_DEVICES || (nd >= 0 && n != nd))
            return elm_diag(d, ELM_EINVAL, "%s: %s.util: %d devices where %s %d", fname, at, n,
                            nd >= 0 ? "the first run has" : "at most", nd >= 0 ? nd : 64);
        nd = n;
        int i = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, u)
        {
            if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble) || x->valuedouble < 0)
                return elm_diag(d, ELM_EINVAL, "%s: %s.util[%d]: not a non-negative number", fname,
                                at, i);
            s->dev_util[i++] += x->valuedouble;
        }
        k++;
    }
    if (k == 0) return elm_diag(d, ELM_EINVAL, "%s: %s.runs: empty (no run to draw)", fname, where);
    s->n_runs = (uint32_t)k;
    s->n_dev = (uint32_t)nd;
    for (int i = 0; i < nd; i++) s->dev_util[i] /= k;
    return 0;
}

/* One entry of "scenarios" into *s. */
static int sim_scenario(const cJSON *o, int i, const char *fname, const cJSON *names,
                        elm__route_scn_t *s, elm_diag_t *d)
{
    char where[48], at[160];
    snprintf(where, sizeof where, "scenarios[%d]", i);
    memset(s, 0, sizeof *s);
    const cJSON *wl = sim_member(o, "workload", cJSON_IsString, "a string", fname, where, d);
    const cJSON *st = wl ? sim_member(o, "strategy", cJSON_IsString, "a string", fname, where, d)
                         : NULL;
    const cJSON *sum = st ? sim_member(o, "summary", cJSON_IsObject, "an object", fname, where, d)
                          : NULL;
    const cJSON *runs = sum ? sim_member(o, "runs", cJSON_IsArray, "an array", fname, where, d)
                            : NULL;
    if (!runs) return ELM_EINVAL;
    snprintf(s->label, sizeof s->label, "%.80s+%.80s", wl->valuestring, st->valuestring);
    for (int m = 0; m < ELM_SIM_M_COUNT; m++) {
        const char *key = elm_sim_metric_name((elm_sim_metric_t)m);
        snprintf(at, sizeof at, "%s.summary", where);
        const cJSON *v = sim_member(sum, key, cJSON_IsObject, "an object", fname, at, d);
        snprintf(at, sizeof at, "%s.summary.%s", where, key);
        if (!v || sim_num(v, "mean", fname, at, &s->mean[m], d) ||
            sim_num(v, "ci95", fname, at, &s->ci95[m], d))
            return ELM_EINVAL;
    }
    int rc = sim_runs(runs, fname, where, s, d);
    if (rc) return rc;
    if (names && cJSON_GetArraySize(names) != (int)s->n_dev)
        return elm_diag(d, ELM_EINVAL, "%s: devices: %d names for %u devices in %s", fname,
                        cJSON_GetArraySize(names), s->n_dev, where);
    for (uint32_t k = 0; k < s->n_dev; k++) {
        const cJSON *nm = names ? cJSON_GetArrayItem(names, (int)k) : NULL;
        if (nm && (!cJSON_IsString(nm) || !nm->valuestring[0]))
            return elm_diag(d, ELM_EINVAL, "%s: devices[%u]: not a non-empty string", fname, k);
        /* documents from before elm_sim_json wrote "devices" are labelled by position */
        if (nm)
            snprintf(s->dev_name[k], sizeof s->dev_name[k], "%.63s", nm->valuestring);
        else
            snprintf(s->dev_name[k], sizeof s->dev_name[k], "device %u", k + 1);
    }
    return 0;
}

/* Room for one more scenario at the end of set, or NULL (ELM_ENOMEM / ELM_EINVAL in *d). */
static elm__route_scn_t *set_grow(elm__route_set_t *set, const char *fname, elm_diag_t *d)
{
    if (set->n >= ROUTE_MAX_SCN) {
        elm_diag(d, ELM_EINVAL, "%s: more than %d routing scenarios in the report", fname,
                 ROUTE_MAX_SCN);
        return NULL;
    }
    if (set->n == set->cap) {
        size_t cap = set->cap ? 2 * set->cap : 8;
        elm__route_scn_t *s = realloc(set->s, cap * sizeof *s);
        if (!s) {
            elm_diag(d, ELM_ENOMEM, "%s: out of memory", fname);
            return NULL;
        }
        set->s = s, set->cap = cap;
    }
    return &set->s[set->n];
}

int elm__route_sim_parse(const char *text, size_t len, const char *fname, elm__route_set_t *set,
                         elm_diag_t *d)
{
    size_t n0 = set->n;
    int rc = ELM_EINVAL;
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root) {
        rc = elm_diag(d, ELM_EINVAL, "%s: not JSON (an `edgelm simulate --json` document?)", fname);
        goto fail;
    }
    double seeds;
    const cJSON *scs = sim_member(root, "scenarios", cJSON_IsArray, "an array", fname, "", d);
    if (!scs || sim_num(root, "seeds", fname, "", &seeds, d)) goto fail;
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(root, "devices");
    if (names && !cJSON_IsArray(names)) {
        rc = elm_diag(d, ELM_EINVAL, "%s: devices: not an array", fname);
        goto fail;
    }
    if (cJSON_GetArraySize(scs) == 0) {
        rc = elm_diag(d, ELM_EINVAL, "%s: scenarios: empty", fname);
        goto fail;
    }
    int i = 0;
    const cJSON *sc;
    cJSON_ArrayForEach(sc, scs)
    {
        elm__route_scn_t *s = set_grow(set, fname, d);
        if (!s) {
            rc = d ? d->code : ELM_ENOMEM;
            goto fail;
        }
        if (!cJSON_IsObject(sc)) {
            rc = elm_diag(d, ELM_EINVAL, "%s: scenarios[%d]: not an object", fname, i);
            goto fail;
        }
        if ((rc = sim_scenario(sc, i++, fname, names, s, d))) goto fail;
        set->n++;
    }
    cJSON_Delete(root);
    return 0;
fail:
    cJSON_Delete(root);
    set->n = n0;
    return rc;
}

int elm__route_log_add(const elm_sim_log_t *log, const char *fname, elm__route_set_t *set,
                       elm_diag_t *d)
{
    elm__route_scn_t *s = set_grow(set, fname, d);
    if (!s) return d ? d->code : ELM_ENOMEM;
    memset(s, 0, sizeof *s);
    snprintf(s->label, sizeof s->label, "%.120s (%.64s)", elm__model_label(fname),
             log->strategy[0] ? log->strategy : "recorded");
    s->from_log = true;
    s->n_runs = 1;
    for (int m = 0; m < ELM_SIM_M_COUNT; m++) s->mean[m] = NAN, s->ci95[m] = NAN;
    s->mean[ELM_SIM_M_PROCESSED] = (double)log->processed;
    s->mean[ELM_SIM_M_REDIRECTED] = (double)log->redirected;
    s->mean[ELM_SIM_M_REJECTED] = (double)log->rejected;
    s->mean[ELM_SIM_M_TOK_REDIRECTED] = (double)log->tok_redirected;
    s->mean[ELM_SIM_M_COST] = log->cloud_cost;
    uint64_t served = 0;
    for (uint32_t k = 0; k < log->n_devices; k++) served += log->dev_served[k];
    /* a log records no busy time: each device's share of the requests decided to devices */
    s->n_dev = log->n_devices;
    double sum = 0, sq = 0;
    for (uint32_t k = 0; k < s->n_dev; k++) {
        s->dev_util[k] = served ? (double)log->dev_served[k] / (double)served : 0;
        snprintf(s->dev_name[k], sizeof s->dev_name[k], "%s", log->dev_name[k]);
        sum += s->dev_util[k];
    }
    double mean = s->n_dev ? sum / s->n_dev : 0;
    for (uint32_t k = 0; k < s->n_dev; k++) sq += (s->dev_util[k] - mean) * (s->dev_util[k] - mean);
    s->mean[ELM_SIM_M_UTIL] = mean;
    s->mean[ELM_SIM_M_SPREAD] = s->n_dev ? sqrt(sq / s->n_dev) : 0;
    set->n++;
    return 0;
}

void elm__route_set_free(elm__route_set_t *set)
{
    free(set->s);
    *set = (elm__route_set_t){0};
}

/* ---- loading the inputs ---- */

static int load_inputs(elm__report_t *r, elm__route_set_t *set)
{
    const elm_report_opts_t *o = r->o;
    char *text = NULL;
    size_t len;
    int rc = 0;
    for (size_t i = 0; i < o->n_sim + o->n_log && !rc; i++) {
        bool sim = i < o->n_sim;
        const char *path = sim ? o->sim_paths[i] : o->log_paths[i - o->n_sim];
        if ((rc = elm_file_read(path, ROUTE_MAX_FILE, &text, &len, r->d))) break;
        size_t n0 = set->n;
        if (sim) {
            rc = elm__route_sim_parse(text, len, path, set, r->d);
        } else {
            elm_sim_log_t log;
            if (!(rc = elm_sim_log_parse(text, len, path, &log, r->d))) {
                rc = elm__route_log_add(&log, path, set, r->d);
                elm_sim_log_free(&log);
            }
        }
        free(text);
        text = NULL;
        /* two documents may hold the same scenario: say which file each came from */
        for (size_t k = n0; sim && !rc && o->n_sim + o->n_log > 1 && k < set->n; k++) {
            char l[sizeof set->s[k].label];
            snprintf(l, sizeof l, "%.90s: %.96s", elm__model_label(path), set->s[k].label);
            memcpy(set->s[k].label, l, sizeof l);
        }
    }
    return rc;
}

/* ---- the figure ---- */

/* Chart of the metrics ms[0..nm) per scenario, series names the metrics' labels, on the left
 * axis; a metric at index right (or -1) goes on a right axis labelled rlabel as points. */
static int metric_chart(elm__report_t *r, const elm__route_set_t *set, const char *const *cats,
                        const elm_sim_metric_t *ms, const char *const *names, size_t nm,
                        const char *ylabel, int right, const char *rlabel)
{
    size_t n = set->n;
    double *y = malloc(2 * n * sizeof *y);
    elm_plot_t *p = y ? elm__chart_new(NULL, "scenario", n, cats, ylabel, false) : NULL;
    int rc = ELM_ENOMEM;
    if (!p) goto fail;
    if (right >= 0 && elm_plot_y(p, ELM_PLOT_RIGHT, &(elm_plot_axis_t){rlabel, false, 0, NAN}))
        goto fail;
    for (size_t k = 0; k < nm; k++) {
        for (size_t i = 0; i < n; i++) {
            y[i] = set->s[i].mean[ms[k]];
            y[n + i] = set->s[i].ci95[ms[k]];
        }
        bool rt = (int)k == right;
        if ((rc = elm__chart_add(p, names[k], rt ? ELM_PLOT_POINT : ELM_PLOT_BAR,
                                 rt ? ELM_PLOT_RIGHT : ELM_PLOT_LEFT, n, y, y + n, NULL)))
            goto fail;
    }
    rc = elm__fig_chart(r, p);
    p = NULL;
fail:
    elm_plot_free(p);
    free(y);
    return rc;
}

/* Per-device utilization (bars, one series per device name over all scenarios; NaN where a
 * scenario has no such device) and the mean across devices with the spread as its error bar. */
static int util_chart(elm__report_t *r, const elm__route_set_t *set, const char *const *cats)
{
    size_t n = set->n;
    elm__labels_t devs = {0};
    double *y = malloc(2 * n * sizeof *y);
    const char **none = malloc(n * sizeof *none);
    elm_plot_t *p = NULL;
    int rc = ELM_ENOMEM;
    if (!y || !none) goto fail;
    /* a device another scenario's cluster has is absent here, not unmeasured: no label */
    for (size_t i = 0; i < n; i++) none[i] = "";
    for (size_t i = 0; i < n; i++)
        for (uint32_t k = 0; k < set->s[i].n_dev; k++)
            if (elm__labels_add(&devs, set->s[i].dev_name[k]) < 0) goto fail;
    if (!(p = elm__chart_new(NULL, "scenario", n, cats, "utilization (busy fraction or share)", false)))
        goto fail;
    for (size_t k = 0; k < devs.n; k++) {
        for (size_t i = 0; i < n; i++) {
            y[i] = NAN;
            for (uint32_t j = 0; j < set->s[i].n_dev; j++)
                if (strcmp(set->s[i].dev_name[j], devs.s[k]) == 0) y[i] = set->s[i].dev_util[j];
        }
        if ((rc = elm__chart_add(p, devs.s[k], ELM_PLOT_BAR, ELM_PLOT_LEFT, n, y, NULL, none)))
            goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        y[i] = set->s[i].mean[ELM_SIM_M_UTIL];
        y[n + i] = set->s[i].mean[ELM_SIM_M_SPREAD];
    }
    if ((rc = elm__chart_add(p, "mean ± spread (std dev across devices)", ELM_PLOT_POINT,
                             ELM_PLOT_LEFT, n, y, y + n, NULL)))
        goto fail;
    rc = elm__fig_chart(r, p);
    p = NULL;
fail:
    elm_plot_free(p);
    elm__labels_free(&devs);
    free(none);
    free(y);
    return rc;
}

int elm__report_route(elm__report_t *r)
{
    elm__route_set_t set = {0};
    const char **cats = NULL;
    int rc = load_inputs(r, &set);
    if (rc) goto fail;
    elm__fig_begin(r, "fig-routing", "Routing", "Edge-First Fig. 4");
    if (set.n == 0) {
        elm__fig_missing(r, "No simulator comparison or gateway access log given.",
                         "edgelm simulate --compare --json sim.json, then edgelm report "
                         "--sim sim.json (or --gateway-log access.jsonl from edgelm gateway "
                         "--log access.jsonl)");
        elm__fig_end(r);
        return 0;
    }
    rc = ELM_ENOMEM;
    if (!(cats = malloc(set.n * sizeof *cats))) goto fail;
    size_t n_log = 0;
    uint32_t seeds = 0;
    for (size_t i = 0; i < set.n; i++) {
        cats[i] = set.s[i].label;
        n_log += set.s[i].from_log;
        if (!set.s[i].from_log && set.s[i].n_runs > seeds) seeds = set.s[i].n_runs;
    }
    static const elm_sim_metric_t outcomes[] = {ELM_SIM_M_PROCESSED, ELM_SIM_M_REDIRECTED,
                                                ELM_SIM_M_REJECTED};
    static const char *const outcome_names[] = {"processed on a device", "redirected to the cloud",
                                                "rejected"};
    static const elm_sim_metric_t cloud[] = {ELM_SIM_M_TOK_REDIRECTED, ELM_SIM_M_COST};
    static const char *const cloud_names[] = {"tokens redirected", "cloud cost (US$)"};
    if ((rc = metric_chart(r, &set, cats, outcomes, outcome_names, 3, "requests", -1, NULL)) ||
        (rc = metric_chart(r, &set, cats, cloud, cloud_names, 2, "tokens redirected", 1,
                           "cloud cost (US$)")) ||
        (rc = util_chart(r, &set, cats)))
        goto fail;
    elm__fig_caption(r,
                     "Requests each scenario (workload + routing strategy) processed on the edge "
                     "devices, redirected to the cloud or rejected; the tokens it sent to the cloud "
                     "and what they cost; and each device's utilization with the mean and spread "
                     "across devices. %zu scenario(s) from %zu simulator document(s) (means over up "
                     "to %u seeds, error bars the 95 %% confidence interval; devices named by their "
                     "order in the cluster when the document names none) and %zu gateway access "
                     "log(s) (one recorded run, no interval; a device's bar there is its share of "
                     "the requests routed to devices, since a log records no busy time).",
                     set.n - n_log, r->o->n_sim, seeds, n_log);
    elm__fig_end(r);
    rc = 0;
fail:
    free(cats);
    elm__route_set_free(&set);
    return rc;
}
