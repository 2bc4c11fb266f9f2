/* report/: the page around the figures — inputs read once, the facts block, the contents list, the
 * figure frame every figure file writes through, the labels they group by — and the CSS that makes
 * it one printable, self-contained document. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

/* ---- labels ---- */

const char *elm__model_label(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

void elm__model_family(const char *path, const char *quant, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", elm__model_label(path));
    size_t n = strlen(buf);
    if (n > 5 && strcasecmp(buf + n - 5, ".gguf") == 0) buf[n -= 5] = '\0';
    size_t q = quant ? strlen(quant) : 0;
    /* "name-q4_0", "name.Q4_0", "name_Q4_0": drop the separator and the quantization */
    if (q && n > q + 1 && strcasecmp(buf + n - q, quant) == 0 && strchr("-._", buf[n - q - 1]))
        buf[n - q - 1] = '\0';
}

/* Bits per weight of a file type, near enough to order models by parameters. */
static double quant_bits(const char *q)
{
    static const struct {
        const char *name;
        double bits;
    } t[] = {{"F32", 32},     {"F16", 16},    {"BF16", 16},   {"Q8_0", 8.5},   {"Q6_K", 6.56},
             {"Q5_K_M", 5.69}, {"Q5_K_S", 5.54}, {"Q5_0", 5.5}, {"Q5_1", 6},      {"Q4_K_M", 4.89},
             {"Q4_K_S", 4.58}, {"Q4_0", 4.5},  {"Q4_1", 5},    {"Q3_K_M", 3.91}, {"Q2_K", 3.35}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcasecmp(q, t[i].name) == 0) return t[i].bits;
    return 0;
}

double elm__model_params(const elm_record_t *rec)
{
    double bits = quant_bits(rec->quant);
    uint64_t bytes = rec->weight_bytes ? rec->weight_bytes : rec->model_bytes;
    return bits > 0 ? (double)bytes * 8 / bits : 0;
}

void elm__governor(const elm_record_t *rec, char *buf, size_t cap)
{
    /* a Jetson's power mode says more than its governor */
    if (rec->nvpmodel[0] && strncmp(rec->nvpmodel, "unavailable", 11) != 0) {
        snprintf(buf, cap, "%s", rec->nvpmodel);
        return;
    }
    const char *g = strstr(rec->cpufreq, "governor ");
    const char *w = g ? g + 9 : rec->cpufreq;
    if (!rec->cpufreq[0] || strncmp(rec->cpufreq, "unavailable", 11) == 0) {
        snprintf(buf, cap, "unknown");
        return;
    }
    size_t n = strcspn(w, " ,;(");
    snprintf(buf, cap, "%.*s", (int)(n ? n : 7), n ? w : "unknown");
}

int elm__labels_find(const elm__labels_t *l, const char *v)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->s[i], v) == 0) return (int)i;
    return -1;
}

int elm__labels_add(elm__labels_t *l, const char *v)
{
    int i = elm__labels_find(l, v);
    if (i >= 0) return i;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        char **s = realloc(l->s, cap * sizeof *s);
        if (!s) return -1;
        l->s = s, l->cap = cap;
    }
    if (!(l->s[l->n] = strdup(v))) return -1;
    return (int)l->n++;
}

void elm__labels_free(elm__labels_t *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->s[i]);
    free(l->s);
    *l = (elm__labels_t){0};
}

/* ---- the figure frame ---- */

void elm__fig_begin(elm__report_t *r, const char *id, const char *title, const char *source)
{
    int n = ++r->n_fig;
    elm_sbuf_printf(&r->body, "<section class=\"fig\" id=\"%s\">\n<h2>%d. ", id, n);
    elm_plot_escape(&r->body, title);
    elm_sbuf_printf(&r->body, "</h2>\n");
    if (source && *source) {
        elm_sbuf_printf(&r->body, "<p class=\"src\">after ");
        elm_plot_escape(&r->body, source);
        elm_sbuf_printf(&r->body, "</p>\n");
    }
    elm_sbuf_printf(&r->toc, "<li><a href=\"#%s\">", id);
    elm_plot_escape(&r->toc, title);
    elm_sbuf_printf(&r->toc, "</a></li>\n");
}

void elm__fig_svg(elm__report_t *r, char *svg)
{
    if (!svg) {
        r->body.oom = 1;
        return;
    }
    elm_sbuf_printf(&r->body, "<div class=\"chart\">%s</div>\n", svg);
    free(svg);
}

elm_plot_t *elm__chart_new(const char *title, const char *xlabel, size_t n,
                           const char *const *cats, const char *ylabel, bool log)
{
    elm_plot_t *p = elm_plot_new(title, 0, 0);
    /* every figure drawn this way is a count, rate, size or price: a linear axis starts at 0 */
    if (!p || elm_plot_x_categories(p, xlabel, n, cats) ||
        elm_plot_y(p, ELM_PLOT_LEFT, &(elm_plot_axis_t){ylabel, log, log ? NAN : 0, NAN})) {
        elm_plot_free(p);
        return NULL;
    }
    return p;
}

int elm__fig_chart(elm__report_t *r, elm_plot_t *p)
{
    char *svg = p ? elm_plot_svg(p) : NULL;
    elm_plot_free(p);
    elm__fig_svg(r, svg);
    return svg ? 0 : ELM_ENOMEM;
}

void elm__fig_caption(elm__report_t *r, const char *fmt, ...)
{
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    elm_sbuf_printf(&r->body, "<p class=\"cap\">");
    elm_plot_escape(&r->body, text);
    elm_sbuf_printf(&r->body, "</p>\n");
}

void elm__fig_missing(elm__report_t *r, const char *what, const char *command)
{
    elm_sbuf_printf(&r->body, "<div class=\"missing\"><p>");
    elm_plot_escape(&r->body, what);
    elm_sbuf_printf(&r->body, "</p><p>To produce it: <code>");
    elm_plot_escape(&r->body, command);
    elm_sbuf_printf(&r->body, "</code></p></div>\n");
}

void elm__fig_end(elm__report_t *r)
{
    elm_sbuf_printf(&r->body, "</section>\n");
}

void elm__table_begin(elm__report_t *r, size_t n, const char *const *head)
{
    elm_sbuf_printf(&r->body, "<table>\n<thead><tr>");
    for (size_t i = 0; i < n; i++) {
        elm_sbuf_printf(&r->body, "<th>");
        elm_plot_escape(&r->body, head[i]);
        elm_sbuf_printf(&r->body, "</th>");
    }
    elm_sbuf_printf(&r->body, "</tr></thead>\n<tbody>\n");
}

void elm__table_row(elm__report_t *r, size_t n, const char *const *cells)
{
    elm_sbuf_printf(&r->body, "<tr>");
    for (size_t i = 0; i < n; i++) {
        const char *c = cells[i] ? cells[i] : "";
        bool dec = c[0] == '\x01';
        elm_sbuf_printf(&r->body, dec ? "<td class=\"dec\">" : "<td>");
        elm_plot_escape(&r->body, c + dec);
        elm_sbuf_printf(&r->body, "</td>");
    }
    elm_sbuf_printf(&r->body, "</tr>\n");
}

void elm__table_end(elm__report_t *r)
{
    elm_sbuf_printf(&r->body, "</tbody></table>\n");
}

/* ---- the page ---- */

static const char css[] =
    "@page{size:A4;margin:14mm}\n"
    "body{font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#222;"
    "background:#fff;max-width:960px;margin:0 auto;padding:16px;line-height:1.4}\n"
    "h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.2em;margin:1.2em 0 .3em;"
    "border-bottom:1px solid #ddd;padding-bottom:.2em}\n"
    ".src{color:#666;font-size:.85em;margin:0 0 .4em}.cap{font-size:.85em;color:#444;"
    "margin:.3em 0 1em}\n"
    ".chart svg{max-width:100%;height:auto}\n"
    ".fig{break-inside:avoid;page-break-inside:avoid}\n"
    ".missing{border:1px dashed #bbb;background:#fafafa;padding:.6em 1em;color:#555}\n"
    "code{background:#f3f3f3;padding:0 .25em;border-radius:3px}\n"
    "table{border-collapse:collapse;font-size:.85em;margin:.4em 0}\n"
    "th,td{border:1px solid #ddd;padding:.25em .5em;text-align:right}\n"
    "th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}\n"
    "td.dec{color:#0072b2;font-weight:600}\n"
    ".facts{font-size:.85em}.facts dt{font-weight:600;float:left;clear:left;width:9em}"
    ".facts dd{margin:0 0 .2em 9.5em}\n"
    "nav ol{columns:2;font-size:.9em}\n"
    "@media print{body{max-width:none;padding:0}.fig{break-before:page}a{color:inherit;"
    "text-decoration:none}}\n";

/* One fact: a label and the distinct values of a field over the runs, or none. */
static void fact(elm_sbuf_t *b, const char *label, const char *text)
{
    elm_sbuf_printf(b, "<dt>");
    elm_plot_escape(b, label);
    elm_sbuf_printf(b, "</dt><dd>");
    elm_plot_escape(b, text);
    elm_sbuf_printf(b, "</dd>\n");
}

/* The distinct values of what(runs[i]) joined by "; " into b (escaped). */
static int fact_distinct(elm__report_t *r, elm_sbuf_t *b, const char *label,
                         void (*what)(const elm_record_t *, char *, size_t))
{
    elm__labels_t l = {0};
    char v[512];
    for (size_t i = 0; i < r->n_runs; i++) {
        what(&r->runs[i], v, sizeof v);
        if (elm__labels_add(&l, v) < 0) goto fail;
    }
    elm_sbuf_t t = {0};
    for (size_t i = 0; i < l.n; i++) elm_sbuf_printf(&t, "%s%s", i ? "; " : "", l.s[i]);
    int oom = t.oom;
    fact(b, label, t.p ? t.p : "none");
    free(t.p);
    elm__labels_free(&l);
    return oom ? ELM_ENOMEM : 0;
fail:
    elm__labels_free(&l);
    return ELM_ENOMEM;
}

static void what_device(const elm_record_t *rec, char *buf, size_t cap)
{
    if (strcmp(rec->device, rec->cpu_model) == 0)
        snprintf(buf, cap, "%s (%d CPUs)", rec->device, rec->n_cpus);
    else
        snprintf(buf, cap, "%s — %s, %d CPUs", rec->device, rec->cpu_model, rec->n_cpus);
}

static void what_build(const elm_record_t *rec, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s (%s)", rec->version, rec->git_hash[0] ? rec->git_hash : "unknown");
}

static void what_power(const elm_record_t *rec, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s%s", rec->power_source, rec->power_estimated ? " (estimated)" : "");
}

static int facts(elm__report_t *r, elm_sbuf_t *b)
{
    const elm_report_opts_t *o = r->o;
    int rc = 0;
    elm_sbuf_printf(b, "<section class=\"facts\"><h2>Where the data came from</h2><dl>\n");
    char text[1200];
    if (o->store)
        snprintf(text, sizeof text, "%s: %zu bench runs, %zu eval results%s%s%s%s", 
                 o->store_path ? o->store_path : "(store)", r->n_runs, r->n_evals,
                 o->filter.match && *o->filter.match ? "; models matching " : "",
                 o->filter.match && *o->filter.match ? o->filter.match : "",
                 o->filter.since && *o->filter.since ? "; since " : "",
                 o->filter.since && *o->filter.since ? o->filter.since : "");
    else
        snprintf(text, sizeof text, "none: %s", o->store_why ? o->store_why : "no --db given");
    fact(b, "results store", text);
    if (r->n_runs) {
        if ((rc = fact_distinct(r, b, "devices", what_device)) ||
            (rc = fact_distinct(r, b, "builds", what_build)) ||
            (rc = fact_distinct(r, b, "power sources", what_power)))
            return rc;
        const char *lo = r->runs[0].timestamp, *hi = lo;
        for (size_t i = 1; i < r->n_runs; i++) {
            if (strcmp(r->runs[i].timestamp, lo) < 0) lo = r->runs[i].timestamp;
            if (strcmp(r->runs[i].timestamp, hi) > 0) hi = r->runs[i].timestamp;
        }
        snprintf(text, sizeof text, "%s to %s", lo, hi);
        fact(b, "measured", text);
    }
    for (size_t i = 0; i < o->n_sim; i++) fact(b, "simulation", o->sim_paths[i]);
    for (size_t i = 0; i < o->n_log; i++) fact(b, "gateway log", o->log_paths[i]);
    snprintf(text, sizeof text, "%s by edgelm %s", o->generated ? o->generated : "?",
             o->version ? o->version : "?");
    fact(b, "report made", text);
    elm_sbuf_printf(b, "</dl></section>\n");
    return 0;
}

int elm_report_html(const elm_report_opts_t *o, char **html, size_t *len, elm_diag_t *d)
{
    int rc;
    *html = NULL;
    *len = 0;
    elm__report_t r = {.o = o, .d = d};
    elm_sbuf_t page = {0};
    if (o->store) {
        if ((rc = elm_store_runs(o->store, &o->filter, &r.runs, NULL, &r.n_runs, d)) ||
            (rc = elm_store_evals(o->store, &o->filter, &r.evals, &r.n_evals, d)))
            goto fail;
    }
    if ((rc = elm__report_bench(&r)) || (rc = elm__report_quality(&r)) ||
        (rc = elm__report_cost(&r)) || (rc = elm__report_route(&r)))
        goto fail;
    const char *title = o->title && *o->title ? o->title : "edgelm report";
    elm_sbuf_printf(&page,
                    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
                    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n"
                    "<title>");
    elm_plot_escape(&page, title);
    elm_sbuf_printf(&page, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>", css);
    elm_plot_escape(&page, title);
    elm_sbuf_printf(&page, "</h1>\n");
    if ((rc = facts(&r, &page))) goto fail;
    elm_sbuf_printf(&page, "<nav><h2>Contents</h2><ol>\n%s</ol></nav>\n%s</body>\n</html>\n",
                    r.toc.p ? r.toc.p : "", r.body.p ? r.body.p : "");
    if (page.oom || r.body.oom || r.toc.oom) {
        rc = elm_diag(d, ELM_ENOMEM, "out of memory writing the report");
        goto fail;
    }
    *html = page.p;
    *len = page.len;
    page.p = NULL;
    rc = 0;
fail:
    free(page.p);
    free(r.body.p);
    free(r.toc.p);
    free(r.runs);
    free(r.evals);
    return rc;
}
