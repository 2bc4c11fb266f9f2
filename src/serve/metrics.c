/* The serve metrics registry: counters, gauges and histograms with labels behind one mutex, so the
 * scheduler and the HTTP thread can both update it, rendered in the Prometheus text format. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgelm/serve.h"

typedef struct {
    char *values[ELM_METRICS_MAX_LABELS]; /* owned, one per label name */
    double value;                         /* counter or gauge; a histogram's sum */
    uint64_t count;                       /* histogram observations */
    uint64_t bucket[ELM_METRICS_MAX_BUCKETS]; /* observations per bucket, not cumulative */
} elm__series_t;

typedef struct {
    char *name, *help;
    elm_metric_kind_t kind;
    char *labels[ELM_METRICS_MAX_LABELS];
    size_t n_labels;
    double bounds[ELM_METRICS_MAX_BUCKETS]; /* upper bounds, increasing; +Inf implied */
    size_t n_buckets;
    elm__series_t *series;
    size_t n_series, cap;
} elm__family_t;

struct elm_metrics {
    pthread_mutex_t mu;
    elm__family_t *fams;
    size_t n, cap;
};

int elm_metrics_create(elm_metrics_t **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out) return ELM_ENOMEM;
    pthread_mutex_init(&(*out)->mu, NULL);
    return 0;
}

static void family_free(elm__family_t *f)
{
    for (size_t i = 0; i < f->n_series; i++)
        for (size_t j = 0; j < f->n_labels; j++) free(f->series[i].values[j]);
    for (size_t j = 0; j < f->n_labels; j++) free(f->labels[j]);
    free(f->series);
    free(f->name);
    free(f->help);
}

void elm_metrics_free(elm_metrics_t *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->n; i++) family_free(&m->fams[i]);
    free(m->fams);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* Prometheus names: [a-zA-Z_:][a-zA-Z0-9_:]*; label names the same without ':'. */
static bool valid_name(const char *s, bool label)
{
    if (!s || !s[0] || (s[0] >= '0' && s[0] <= '9')) return false;
    for (; *s; s++) {
        char c = *s;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || (c == ':' && !label);
        if (!ok) return false;
    }
    return true;
}

/* Make room for one more element in *p (n used of *cap, elem bytes each). */
static bool grow(void **p, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap) return true;
    size_t c = *cap ? *cap * 2 : 8;
    void *q = realloc(*p, c * elem);
    if (!q) return false;
    *p = q;
    *cap = c;
    return true;
}

/* Whether series s carries exactly these label values. */
static bool same_labels(const elm__series_t *s, size_t n_labels, const char *const *values)
{
    for (size_t j = 0; j < n_labels; j++)
        if (!values || !values[j] || strcmp(s->values[j], values[j]) != 0) return false;
    return true;
}

static elm__family_t *find(elm_metrics_t *m, const char *name)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->fams[i].name, name) == 0) return &m->fams[i];
    return NULL;
}

static int check_family(const char *name, elm_metric_kind_t kind, const char *const *labels,
                        size_t n_labels, const double *buckets, size_t n_buckets)
{
    if (!valid_name(name, false) || n_labels > ELM_METRICS_MAX_LABELS ||
        (unsigned)kind > ELM_METRIC_HISTOGRAM)
        return ELM_EINVAL;
    for (size_t i = 0; i < n_labels; i++)
        if (!valid_name(labels[i], true) || strncmp(labels[i], "__", 2) == 0 ||
            (kind == ELM_METRIC_HISTOGRAM && strcmp(labels[i], "le") == 0))
            return ELM_EINVAL;
    if (kind != ELM_METRIC_HISTOGRAM) return 0;
    if (!n_buckets || n_buckets > ELM_METRICS_MAX_BUCKETS) return ELM_EINVAL;
    for (size_t i = 0; i < n_buckets; i++)
        if (!isfinite(buckets[i]) || (i && buckets[i] <= buckets[i - 1])) return ELM_EINVAL;
    return 0;
}

int elm_metrics_add(elm_metrics_t *m, const char *name, const char *help, elm_metric_kind_t kind,
                    const char *const *labels, size_t n_labels, const double *buckets,
                    size_t n_buckets)
{
    int rc = check_family(name, kind, labels, n_labels, buckets, n_buckets);
    if (rc) return rc;
    pthread_mutex_lock(&m->mu);
    elm__family_t f = {.kind = kind, .n_labels = n_labels};
    if (find(m, name)) {
        rc = ELM_EEXIST;
        goto fail;
    }
    if (!grow((void **)&m->fams, &m->cap, m->n, sizeof *m->fams)) goto nomem;
    f.name = strdup(name);
    f.help = strdup(help ? help : "");
    if (!f.name || !f.help) goto nomem;
    for (size_t i = 0; i < n_labels; i++)
        if (!(f.labels[i] = strdup(labels[i]))) goto nomem;
    if (kind == ELM_METRIC_HISTOGRAM) {
        memcpy(f.bounds, buckets, n_buckets * sizeof *buckets);
        f.n_buckets = n_buckets;
    }
    m->fams[m->n++] = f;
    pthread_mutex_unlock(&m->mu);
    return 0;
nomem:
    rc = ELM_ENOMEM;
fail:
    family_free(&f);
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* The series of f with these label values, created on first use; NULL when memory ran out. */
static elm__series_t *series(elm__family_t *f, const char *const *values)
{
    for (size_t i = 0; i < f->n_series; i++)
        if (same_labels(&f->series[i], f->n_labels, values)) return &f->series[i];
    if (!grow((void **)&f->series, &f->cap, f->n_series, sizeof *f->series)) return NULL;
    elm__series_t s = {0};
    for (size_t j = 0; j < f->n_labels; j++) {
        if (!(s.values[j] = strdup(values[j]))) {
            for (size_t k = 0; k < j; k++) free(s.values[k]);
            return NULL;
        }
    }
    f->series[f->n_series] = s;
    return &f->series[f->n_series++];
}

/* The one update path: find the family and series under the lock, then apply v by kind. */
static int update(elm_metrics_t *m, const char *name, const char *const *values, double v,
                  elm_metric_kind_t kind)
{
    if (!isfinite(v) || (kind == ELM_METRIC_COUNTER && v < 0)) return ELM_EINVAL;
    pthread_mutex_lock(&m->mu);
    int rc = 0;
    elm__family_t *f = find(m, name);
    if (!f) {
        rc = ELM_ENOKEY;
        goto out;
    }
    if (f->kind != kind) {
        rc = ELM_EKEYTYPE;
        goto out;
    }
    for (size_t j = 0; j < f->n_labels; j++)
        if (!values || !values[j]) {
            rc = ELM_EINVAL;
            goto out;
        }
    elm__series_t *s = series(f, values);
    if (!s) {
        rc = ELM_ENOMEM;
        goto out;
    }
    if (kind == ELM_METRIC_COUNTER) s->value += v;
    else if (kind == ELM_METRIC_GAUGE) s->value = v;
    else {
        size_t b = 0;
        while (b < f->n_buckets && v > f->bounds[b]) b++;
        if (b < f->n_buckets) s->bucket[b]++;
        s->value += v;
        s->count++;
    }
out:
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int elm_metrics_inc(elm_metrics_t *m, const char *name, const char *const *values, double v)
{
    return update(m, name, values, v, ELM_METRIC_COUNTER);
}

int elm_metrics_set(elm_metrics_t *m, const char *name, const char *const *values, double v)
{
    return update(m, name, values, v, ELM_METRIC_GAUGE);
}

int elm_metrics_observe(elm_metrics_t *m, const char *name, const char *const *values, double v)
{
    return update(m, name, values, v, ELM_METRIC_HISTOGRAM);
}

double elm_metrics_get(elm_metrics_t *m, const char *name, const char *const *values)
{
    double v = 0;
    pthread_mutex_lock(&m->mu);
    elm__family_t *f = find(m, name);
    for (size_t i = 0; f && i < f->n_series; i++) {
        if (!same_labels(&f->series[i], f->n_labels, values)) continue;
        v = f->kind == ELM_METRIC_HISTOGRAM ? (double)f->series[i].count : f->series[i].value;
        break;
    }
    pthread_mutex_unlock(&m->mu);
    return v;
}

/* ---- rendering ---- */

/* v as the shorter of %.15g and %.17g that reads back as v. */
static void format_number(char s[32], double v)
{
    snprintf(s, 32, "%.15g", v);
    if (strtod(s, NULL) != v) snprintf(s, 32, "%.17g", v);
}

/* s with backslash and newline escaped, and the double quote too inside a label value. */
static void put_escaped(elm_sbuf_t *b, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\') elm_sbuf_printf(b, "\\\\");
        else if (*s == '\n') elm_sbuf_printf(b, "\\n");
        else if (*s == '"' && quote) elm_sbuf_printf(b, "\\\"");
        else elm_sbuf_printf(b, "%c", *s);
    }
}

/* name<suffix>{label="value",...[,le="bound"]} value */
static void put_sample(elm_sbuf_t *b, const elm__family_t *f, const char *suffix,
                       const elm__series_t *s, const char *le, double v)
{
    elm_sbuf_printf(b, "%s%s", f->name, suffix);
    if (f->n_labels || le) {
        elm_sbuf_printf(b, "{");
        for (size_t j = 0; j < f->n_labels; j++) {
            elm_sbuf_printf(b, "%s%s=\"", j ? "," : "", f->labels[j]);
            put_escaped(b, s->values[j], true);
            elm_sbuf_printf(b, "\"");
        }
        if (le) elm_sbuf_printf(b, "%sle=\"%s\"", f->n_labels ? "," : "", le);
        elm_sbuf_printf(b, "}");
    }
    char num[32];
    format_number(num, v);
    elm_sbuf_printf(b, " %s\n", num);
}

static void put_series(elm_sbuf_t *b, const elm__family_t *f, const elm__series_t *s)
{
    if (f->kind != ELM_METRIC_HISTOGRAM) {
        put_sample(b, f, "", s, NULL, s->value);
        return;
    }
    uint64_t cum = 0;
    for (size_t i = 0; i < f->n_buckets; i++) {
        char le[32];
        format_number(le, f->bounds[i]);
        cum += s->bucket[i];
        put_sample(b, f, "_bucket", s, le, (double)cum);
    }
    put_sample(b, f, "_bucket", s, "+Inf", (double)s->count);
    put_sample(b, f, "_sum", s, NULL, s->value);
    put_sample(b, f, "_count", s, NULL, (double)s->count);
}

char *elm_metrics_render(elm_metrics_t *m)
{
    static const char *const kinds[] = {"counter", "gauge", "histogram"};
    elm_sbuf_t b = {0};
    elm_sbuf_printf(&b, "%s", "");
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->n; i++) {
        const elm__family_t *f = &m->fams[i];
        elm_sbuf_printf(&b, "# HELP %s ", f->name);
        put_escaped(&b, f->help, false);
        elm_sbuf_printf(&b, "\n# TYPE %s %s\n", f->name, kinds[f->kind]);
        /* an unlabelled family shows its zero, so dashboards see it before the first event */
        static const elm__series_t zero;
        if (!f->n_series && !f->n_labels) put_series(&b, f, &zero);
        for (size_t k = 0; k < f->n_series; k++) put_series(&b, f, &f->series[k]);
    }
    pthread_mutex_unlock(&m->mu);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* ---- the serve families ---- */

int elm_serve_metrics_create(bool with_energy, elm_metrics_t **out)
{
    /* latency buckets in seconds: from a fast token on a laptop to a long request on a Pi */
    static const double first_token[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
    static const double per_token[] = {0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,
                                       0.15,  0.2,  0.3,  0.5,  1,    2.5};
    static const double request[] = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 60, 120, 300, 600};
    static const char *const req_labels[] = {"endpoint", "status"};
    static const char *const source[] = {"source"};
    const struct {
        const char *name, *help;
        elm_metric_kind_t kind;
        const char *const *labels;
        size_t n_labels;
        const double *buckets;
        size_t n_buckets;
        bool energy;
    } fams[] = {
#define HIST(b) ELM_METRIC_HISTOGRAM, NULL, 0, b, sizeof b / sizeof b[0], false
        {"edgelm_requests_total", "Requests answered, by endpoint and HTTP status.",
         ELM_METRIC_COUNTER, req_labels, 2, NULL, 0, false},
        {"edgelm_prompt_tokens_total", "Prompt tokens of completed requests, cached ones included.",
         ELM_METRIC_COUNTER, NULL, 0, NULL, 0, false},
        {"edgelm_generation_tokens_total", "Tokens generated.", ELM_METRIC_COUNTER, NULL, 0, NULL,
         0, false},
        {"edgelm_prompt_tokens_cached_total",
         "Prompt tokens taken from a slot's cache instead of prefilled.", ELM_METRIC_COUNTER,
         NULL, 0, NULL, 0, false},
        {"edgelm_time_to_first_token_seconds", "From arrival to the first generated token.",
         HIST(first_token)},
        {"edgelm_time_per_output_token_seconds", "Between consecutive generated tokens.",
         HIST(per_token)},
        {"edgelm_e2e_request_latency_seconds", "From arrival to the last byte of the response.",
         HIST(request)},
        {"edgelm_queue_time_seconds", "From arrival until a slot takes the request.",
         HIST(first_token)},
#undef HIST
        {"edgelm_requests_running", "Requests holding a slot.", ELM_METRIC_GAUGE, NULL, 0, NULL, 0,
         false},
        {"edgelm_requests_waiting", "Requests queued for a slot.", ELM_METRIC_GAUGE, NULL, 0, NULL,
         0, false},
        {"edgelm_kv_cache_usage_ratio", "Share of the slots' KV cells in use (0..1).",
         ELM_METRIC_GAUGE, NULL, 0, NULL, 0, false},
        {"edgelm_slots_total", "Slots (-np).", ELM_METRIC_GAUGE, NULL, 0, NULL, 0, false},
        {"edgelm_energy_joules_total", "Energy drawn since start, by power source.",
         ELM_METRIC_COUNTER, source, 1, NULL, 0, true},
        {"edgelm_power_watts", "Power draw at the last sample, by power source.", ELM_METRIC_GAUGE,
         source, 1, NULL, 0, true},
    };
    int rc = elm_metrics_create(out);
    if (rc) return rc;
    for (size_t i = 0; i < sizeof fams / sizeof fams[0]; i++) {
        if (fams[i].energy && !with_energy) continue;
        rc = elm_metrics_add(*out, fams[i].name, fams[i].help, fams[i].kind, fams[i].labels,
                             fams[i].n_labels, fams[i].buckets, fams[i].n_buckets);
        if (rc) goto fail;
    }
    return 0;
fail:
    elm_metrics_free(*out);
    *out = NULL;
    return rc;
}
