/* sim/: a gateway's access log read back for `edgelm simulate --replay` — each line checked as the
 * untrusted input it is, the requests that reached the router kept by arrival with their reserved
 * and actual tokens, the recorded run's totals, and the devices' speeds measured from it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "edgelm/sim.h"

/* Where a line is, for its error messages. */
typedef struct {
    const char *fname;
    unsigned long long line;
    elm_diag_t *d;
} where_t;

static int bad(const where_t *w, const char *field, const char *what)
{
    return elm_diag(w->d, ELM_EINVAL, "%s:%llu: %s %s", w->fname, w->line, field, what);
}

/* ---- fields ---- */

/* A non-negative integer up to max into *v; nullable fields give *v = -1 for null or absent. */
static int get_int(const where_t *w, const cJSON *o, const char *key, double max, bool nullable,
                   int64_t *v)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (nullable && (!j || cJSON_IsNull(j))) {
        *v = -1;
        return 0;
    }
    double x = cJSON_IsNumber(j) ? j->valuedouble : -1;
    if (!(x >= 0 && x <= max && x == floor(x)))
        return bad(w, key,
                   nullable ? "must be a non-negative integer or null"
                            : "must be a non-negative integer");
    *v = (int64_t)x;
    return 0;
}

/* A number > 0 (or >= 0 with zero_ok) into *v; null or absent give 0. */
static int get_num(const where_t *w, const cJSON *o, const char *key, bool zero_ok, double *v)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    *v = 0;
    if (!j || cJSON_IsNull(j)) return 0;
    double x = cJSON_IsNumber(j) ? j->valuedouble : -1;
    if (!(isfinite(x) && (x > 0 || (zero_ok && x == 0))))
        return bad(w, key,
                   zero_ok ? "must be a non-negative number" : "must be a positive number or null");
    *v = x;
    return 0;
}

/* The index of the string field key in names[0..n), or -1 after the diag (which lists them). */
static int get_enum(const where_t *w, const cJSON *o, const char *key, const char *const *names,
                    int n)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
    for (int i = 0; s && i < n; i++)
        if (!strcmp(s, names[i])) return i;
    char what[400] = "must be one of";
    for (int i = 0; i < n; i++) {
        size_t len = strlen(what);
        snprintf(what + len, sizeof what - len, "%s %s", i ? "," : "", names[i]);
    }
    bad(w, key, what);
    return -1;
}

enum { DEC_DEVICE, DEC_CLOUD, DEC_REJECT };
enum { OUT_SERVED, OUT_REDIRECTED, OUT_REJECTED, OUT_FAILED, OUT_CANCELLED };
static const char *const decisions[] = {"device", "cloud", "reject"};
static const char *const outcomes[] = {"served", "redirected", "rejected", "failed", "cancelled"};
/* The router's reasons (elm_route_reason_name) and then the gateway's own, which it gives before
 * routing: those lines are skipped. */
#define N_SKIP_REASONS 3
static const char *const skip_reasons[N_SKIP_REASONS] = {"invalid", "key_window_full",
                                                         "key_concurrency_full"};

/* The reason's index: < ELM_ROUTE_REASON_COUNT for the router's, above for a skipped one. */
static int get_reason(const where_t *w, const cJSON *o)
{
    const char *names[ELM_ROUTE_REASON_COUNT + N_SKIP_REASONS];
    for (int i = 0; i < ELM_ROUTE_REASON_COUNT; i++)
        names[i] = elm_route_reason_name((elm_route_reason_t)i);
    for (int i = 0; i < N_SKIP_REASONS; i++)
        names[ELM_ROUTE_REASON_COUNT + i] = skip_reasons[i];
    return get_enum(w, o, "reason", names, ELM_ROUTE_REASON_COUNT + N_SKIP_REASONS);
}

/* The index of the served-on device name in the log's table, added when new; -1 after the diag. */
static int device_index(const where_t *w, const cJSON *o, elm_sim_log_t *l)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "device"));
    if (!s || !s[0] || strlen(s) >= ELM_ROUTE_NAME_MAX)
        return bad(w, "device", "must name the device (1 to 63 bytes) in a device decision"), -1;
    for (uint32_t i = 0; i < l->n_devices; i++)
        if (!strcmp(l->dev_name[i], s)) return (int)i;
    if (l->n_devices == ELM_ROUTE_MAX_DEVICES)
        return bad(w, "device", "names more devices than a cluster holds (64)"), -1;
    snprintf(l->dev_name[l->n_devices], ELM_ROUTE_NAME_MAX, "%s", s);
    return (int)l->n_devices++;
}

/* ---- lines ---- */

/* One line's object into *q, counted in l's recorded totals; *skip set for a line that never
 * reached the router. Returns 0 or ELM_EINVAL (the diag names the field). */
static int parse_line(const where_t *w, const cJSON *o, elm_sim_log_t *l, elm_sim_replay_req_t *q,
                      bool *skip)
{
    int64_t t, est_in, est_out, in, out;
    double tps, cost;
    *skip = false;
    if (!cJSON_IsObject(o))
        return elm_diag(w->d, ELM_EINVAL, "%s:%llu: not a JSON object", w->fname, w->line);
    int reason = get_reason(w, o);
    if (reason < 0) return ELM_EINVAL;
    if (reason >= ELM_ROUTE_REASON_COUNT) {
        *skip = true;
        if (reason == ELM_ROUTE_REASON_COUNT)
            l->skipped_invalid++;
        else
            l->skipped_key++;
        return 0;
    }
    int dec = get_enum(w, o, "decision", decisions, 3);
    int oc = dec < 0 ? -1 : get_enum(w, o, "outcome", outcomes, 5);
    if (oc < 0) return ELM_EINVAL;
    /* 2^53: the largest integer a JSON number carries exactly */
    if (get_int(w, o, "t_ms", 9007199254740992.0, false, &t) ||
        get_int(w, o, "est_in", UINT32_MAX, false, &est_in) ||
        get_int(w, o, "est_out", UINT32_MAX, false, &est_out) ||
        get_int(w, o, "prompt_tokens", UINT32_MAX, true, &in) ||
        get_int(w, o, "completion_tokens", UINT32_MAX, false, &out) ||
        get_num(w, o, "tokens_per_s", false, &tps) || get_num(w, o, "cost_usd", true, &cost))
        return ELM_EINVAL;
    const char *strategy = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "strategy"));
    if (strategy && elm_route_strategy_find(strategy))
        snprintf(l->strategy, sizeof l->strategy, "%s", strategy);
    int dev = dec == DEC_DEVICE ? device_index(w, o, l) : -1;
    if (dec == DEC_DEVICE && dev < 0) return ELM_EINVAL;
    /* A request that was not served would have produced its max_tokens. */
    if (oc == OUT_REJECTED || oc == OUT_FAILED) out = est_out;
    *q = (elm_sim_replay_req_t){
        t,   (uint32_t)est_in,  (uint32_t)est_out, (uint32_t)(in < 0 ? est_in : in), (uint32_t)out,
        dev, dev >= 0 ? tps : 0};
    if (dec == DEC_DEVICE) {
        l->processed++;
        l->dev_served[dev]++;
    } else if (dec == DEC_CLOUD) {
        l->redirected++;
        l->tok_redirected += (uint64_t)q->in + q->out;
    } else {
        l->rejected++;
    }
    l->cloud_cost += cost;
    uint64_t *count[] = {&l->served, &l->out_redirected, &l->out_rejected, &l->failed,
                         &l->cancelled};
    (*count[oc])++;
    return 0;
}

typedef struct {
    int64_t t;
    uint32_t i;
} order_t;

static int by_arrival(const void *a, const void *b)
{
    const order_t *x = a, *y = b;
    if (x->t != y->t) return x->t < y->t ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Sort l's requests by arrival (ties in log order) and make the times relative to the first. */
static int sort_requests(elm_sim_log_t *l)
{
    order_t *o = malloc(l->n * sizeof *o);
    elm_sim_replay_req_t *r = malloc(l->n * sizeof *r);
    if (!o || !r) {
        free(o);
        free(r);
        return ELM_ENOMEM;
    }
    for (uint32_t i = 0; i < l->n; i++)
        o[i] = (order_t){l->req[i].t_ms, i};
    qsort(o, l->n, sizeof *o, by_arrival);
    for (uint32_t i = 0; i < l->n; i++) {
        r[i] = l->req[o[i].i];
        r[i].t_ms -= o[0].t;
    }
    l->span_ms = r[l->n - 1].t_ms;
    free(l->req);
    free(o);
    l->req = r;
    return 0;
}

int elm_sim_log_parse(const char *text, size_t len, const char *fname, elm_sim_log_t *out,
                      elm_diag_t *d)
{
    int rc = 0;
    uint32_t cap = 0;
    memset(out, 0, sizeof *out);
    where_t w = {fname, 0, d};
    for (size_t pos = 0; pos < len;) {
        const char *line = text + pos, *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + 1;
        w.line++;
        size_t k = 0;
        while (k < n && strchr(" \t\r", line[k]))
            k++;
        if (k == n) continue;
        out->lines++;
        const char *end = NULL;
        cJSON *o = cJSON_ParseWithLengthOpts(line, n, &end, false);
        if (!o) {
            rc = elm_diag(d, ELM_EINVAL, "%s:%llu: not valid JSON", fname, w.line);
            goto fail;
        }
        while (end && end < line + n && strchr(" \t\r", *end))
            end++;
        if (end != line + n) {
            cJSON_Delete(o);
            rc = elm_diag(d, ELM_EINVAL, "%s:%llu: text after the JSON object", fname, w.line);
            goto fail;
        }
        if (out->n == cap) {
            uint32_t ncap = cap ? cap * 2 : 256;
            elm_sim_replay_req_t *r = ncap > cap ? realloc(out->req, ncap * sizeof *r) : NULL;
            if (!r) {
                cJSON_Delete(o);
                rc = elm_diag(d, ELM_ENOMEM, "%s: out of memory at line %llu", fname, w.line);
                goto fail;
            }
            out->req = r;
            cap = ncap;
        }
        bool skip;
        rc = parse_line(&w, o, out, &out->req[out->n], &skip);
        cJSON_Delete(o);
        if (rc) goto fail;
        if (!skip) out->n++;
    }
    if (!out->n) {
        rc = elm_diag(d, ELM_EINVAL, "%s: no request that reached the router (%llu lines)", fname,
                      (unsigned long long)out->lines);
        goto fail;
    }
    if (sort_requests(out)) {
        rc = elm_diag(d, ELM_ENOMEM, "%s: out of memory sorting %u requests", fname, out->n);
        goto fail;
    }
    return 0;
fail:
    elm_sim_log_free(out);
    return rc;
}

void elm_sim_log_free(elm_sim_log_t *l)
{
    if (!l) return;
    free(l->req);
    memset(l, 0, sizeof *l);
}

/* ---- speeds ---- */

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int elm_sim_log_speeds(const elm_sim_log_t *log, elm_cluster_config_t *c, uint32_t *n_samples)
{
    double *v = malloc((log->n ? log->n : 1) * sizeof *v);
    double median[ELM_ROUTE_MAX_DEVICES];
    if (!v) return ELM_ENOMEM;
    for (uint32_t i = 0; i < c->n_devices; i++) {
        uint32_t n = 0;
        for (uint32_t j = 0; j < log->n; j++) {
            const elm_sim_replay_req_t *q = &log->req[j];
            if (q->device >= 0 && q->tokens_per_s > 0 &&
                !strcmp(log->dev_name[q->device], c->devices[i].name))
                v[n++] = q->tokens_per_s;
        }
        qsort(v, n, sizeof *v, by_value);
        n_samples[i] = n;
        median[i] = !n ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    }
    for (uint32_t i = 0; i < c->n_devices; i++)
        if (n_samples[i]) c->devices[i].tokens_per_s = median[i];
    free(v);
    return 0;
}
