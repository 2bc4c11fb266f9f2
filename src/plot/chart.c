/* plot/: charts on a categorical or numeric x axis and one or two y axes — grouped and stacked
 * bars, lines, points, error bars, reference lines, shaded bands and the legend — as one <svg>. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "plot_internal.h"

#define MAX_TICKS 32
#define GRID "#e5e5e5"
#define AXIS "#333"

typedef struct {
    char *label;
    bool log;
    double min, max;
    bool integer; /* linear ticks at whole numbers */
} axis_t;

typedef struct {
    char *name;
    char **note; /* (n) or NULL */
    elm_plot_kind_t kind;
    elm_plot_side_t side;
    size_t n;
    double *x, *y, *err; /* (n); x and err may be NULL */
    int color;
} series_t;

/* A reference line at y = a on side's axis, or a band over x in [a, b] in palette colour color. */
typedef struct {
    bool band;
    double a, b;
    char *label;
    elm_plot_side_t side;
    int color;
} extra_t;

struct elm_plot {
    char *title;
    double w, h;
    int xmode; /* 0 not set, 1 categories, 2 numeric */
    size_t ncat;
    char **cats;
    axis_t x, y[2];
    bool has_y[2];
    series_t *s;
    size_t ns;
    extra_t *ex; /* reference lines and bands, in the order given */
    size_t nex;
};

/* A copy of s, or NULL for NULL; sets *oom when the copy fails. */
static char *dup(const char *s, bool *oom)
{
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *oom = true;
    return d;
}

static double *dup_doubles(const double *v, size_t n, bool *oom)
{
    if (!v || n == 0) return NULL;
    double *d = malloc(n * sizeof *d);
    if (!d)
        *oom = true;
    else
        memcpy(d, v, n * sizeof *d);
    return d;
}

/* Grow *arr of *n elements of size sz by one zeroed element; NULL when out of memory. */
static void *grow(void *arr, size_t n, size_t sz)
{
    char *p = realloc(arr, (n + 1) * sz);
    if (p) memset(p + n * sz, 0, sz);
    return p;
}

elm_plot_t *elm_plot_new(const char *title, double width, double height)
{
    elm_plot_t *p = calloc(1, sizeof *p);
    bool oom = false;
    if (!p) return NULL;
    p->title = dup(title, &oom);
    p->w = width > 0 ? width : 720;
    p->h = height > 0 ? height : 360;
    for (int i = 0; i < 2; i++)
        p->y[i] = (axis_t){NULL, false, NAN, NAN, false};
    p->x = (axis_t){NULL, false, NAN, NAN, false};
    if (oom) {
        elm_plot_free(p);
        return NULL;
    }
    return p;
}

static void series_free(series_t *s)
{
    free(s->name);
    if (s->note)
        for (size_t i = 0; i < s->n; i++)
            free(s->note[i]);
    free(s->note);
    free(s->x);
    free(s->y);
    free(s->err);
}

void elm_plot_free(elm_plot_t *p)
{
    if (!p) return;
    free(p->title);
    for (size_t i = 0; i < p->ncat; i++)
        free(p->cats[i]);
    free(p->cats);
    free(p->x.label);
    free(p->y[0].label);
    free(p->y[1].label);
    for (size_t i = 0; i < p->ns; i++)
        series_free(&p->s[i]);
    free(p->s);
    for (size_t i = 0; i < p->nex; i++)
        free(p->ex[i].label);
    free(p->ex);
    free(p);
}

/* *dst = a copy of ax (label included), freeing the old label. */
static int set_axis(axis_t *dst, const elm_plot_axis_t *ax)
{
    bool oom = false;
    char *label = ax ? dup(ax->label, &oom) : NULL;
    if (oom) return ELM_ENOMEM;
    free(dst->label);
    *dst = ax ? (axis_t){label, ax->log, ax->min, ax->max, ax->integer}
              : (axis_t){NULL, false, NAN, NAN, false};
    return 0;
}

int elm_plot_x_categories(elm_plot_t *p, const char *label, size_t n, const char *const *cats)
{
    bool oom = false;
    char **c = n ? calloc(n, sizeof *c) : NULL;
    if (n && !c) return ELM_ENOMEM;
    for (size_t i = 0; i < n; i++)
        c[i] = dup(cats && cats[i] ? cats[i] : "", &oom);
    elm_plot_axis_t ax = {label, false, NAN, NAN};
    if (oom || set_axis(&p->x, &ax)) goto fail;
    for (size_t i = 0; i < p->ncat; i++)
        free(p->cats[i]);
    free(p->cats);
    p->cats = c;
    p->ncat = n;
    p->xmode = 1;
    return 0;
fail:
    for (size_t i = 0; i < n; i++)
        free(c[i]);
    free(c);
    return ELM_ENOMEM;
}

int elm_plot_x_numeric(elm_plot_t *p, const elm_plot_axis_t *ax)
{
    int rc = set_axis(&p->x, ax);
    if (!rc) p->xmode = 2;
    return rc;
}

int elm_plot_y(elm_plot_t *p, elm_plot_side_t side, const elm_plot_axis_t *ax)
{
    int i = side == ELM_PLOT_RIGHT;
    int rc = set_axis(&p->y[i], ax);
    if (!rc) p->has_y[i] = true;
    return rc;
}

int elm_plot_add(elm_plot_t *p, const elm_plot_series_t *s)
{
    if (!s || (s->n && !s->y)) return ELM_EINVAL;
    if (p->xmode == 2 && s->n && !s->x) return ELM_EINVAL;
    if (p->xmode != 2 && s->n != p->ncat) return ELM_EINVAL;
    series_t *arr = grow(p->s, p->ns, sizeof *arr);
    if (!arr) return ELM_ENOMEM;
    p->s = arr;
    series_t *d = &arr[p->ns];
    bool oom = false;
    d->kind = s->kind;
    d->side = s->side == ELM_PLOT_RIGHT ? ELM_PLOT_RIGHT : ELM_PLOT_LEFT;
    d->n = s->n;
    d->color = s->color;
    d->name = dup(s->name, &oom);
    d->x = p->xmode == 2 ? dup_doubles(s->x, s->n, &oom) : NULL;
    d->y = dup_doubles(s->y, s->n, &oom);
    d->err = dup_doubles(s->err, s->n, &oom);
    if (s->note && s->n) {
        if (!(d->note = calloc(s->n, sizeof *d->note))) oom = true;
        for (size_t i = 0; d->note && i < s->n; i++)
            d->note[i] = dup(s->note[i], &oom);
    }
    if (oom) {
        series_free(d);
        memset(d, 0, sizeof *d);
        return ELM_ENOMEM;
    }
    p->ns++;
    return 0;
}

/* Append e with a copy of label. Returns 0 or ELM_ENOMEM. */
static int add_extra(elm_plot_t *p, extra_t e, const char *label)
{
    bool oom = false;
    e.label = dup(label, &oom);
    extra_t *arr = oom ? NULL : grow(p->ex, p->nex, sizeof *arr);
    if (!arr) {
        free(e.label);
        return ELM_ENOMEM;
    }
    p->ex = arr;
    arr[p->nex++] = e;
    return 0;
}

int elm_plot_hline(elm_plot_t *p, elm_plot_side_t side, double v, const char *label)
{
    return add_extra(p, (extra_t){false, v, v, NULL, side == ELM_PLOT_RIGHT ? ELM_PLOT_RIGHT : ELM_PLOT_LEFT, 0},
                     label);
}

int elm_plot_band(elm_plot_t *p, double x0, double x1, const char *label, int color)
{
    return add_extra(p, (extra_t){true, fmin(x0, x1), fmax(x0, x1), NULL, ELM_PLOT_LEFT, color}, label);
}

/* ---- scales ---- */

typedef struct {
    bool log;
    double lo, hi; /* the domain */
    double p0, p1; /* pixels of lo and hi */
    double t[MAX_TICKS];
    size_t nt;
} scale_t;

static double map(const scale_t *s, double v)
{
    double f = s->log ? (log10(v) - log10(s->lo)) / (log10(s->hi) - log10(s->lo))
                      : (v - s->lo) / (s->hi - s->lo);
    return s->p0 + f * (s->p1 - s->p0);
}

/* Map v and keep it inside the plot area (marks beyond a given axis range stop at its edge). */
static double map_clamped(const scale_t *s, double v)
{
    double px = s->log && !(v > 0) ? s->p0 : map(s, v);
    double a = s->p0 < s->p1 ? s->p0 : s->p1, b = s->p0 < s->p1 ? s->p1 : s->p0;
    return px < a ? a : px > b ? b : px;
}

static bool usable(const scale_t *s, double v)
{
    return isfinite(v) && (!s->log || v > 0);
}

/* Widen [*lo, *hi] to hold v. */
static void include(double *lo, double *hi, double v)
{
    if (!isfinite(v)) return;
    if (v < *lo) *lo = v;
    if (v > *hi) *hi = v;
}

/* The domain and ticks of s from the data range [dlo, dhi] (empty when dlo > dhi) and ax. */
static void scale_fit(scale_t *s, const axis_t *ax, double dlo, double dhi, size_t target, bool bars)
{
    s->log = ax->log;
    bool any = dlo <= dhi;
    if (s->log) {
        if (!any) dlo = 1, dhi = 10;
        if (ax->min > 0 && isfinite(ax->min)) dlo = ax->min;
        if (ax->max > 0 && isfinite(ax->max)) dhi = ax->max;
        if (dhi < dlo) dhi = dlo;
        /* A bar on the lowest tick would have no height: one tick lower. */
        if (bars) dlo *= 0.999;
        s->nt = elm_plot_log_ticks(dlo, dhi, s->t, MAX_TICKS);
    } else {
        if (!any) dlo = 0, dhi = 1;
        if (dlo > 0) dlo = 0;
        if (dhi < 0) dhi = 0;
        if (dlo == dhi) dhi = dlo + 1;
        if (isfinite(ax->min)) dlo = ax->min;
        if (isfinite(ax->max)) dhi = ax->max;
        if (dhi <= dlo) dhi = dlo + 1;
        s->nt = elm__plot_ticks_step(dlo, dhi, target, ax->integer ? 1 : 0, s->t, MAX_TICKS);
    }
    s->lo = s->t[0];
    s->hi = s->t[s->nt - 1];
    /* A range the caller gave is kept exactly; ticks outside it go. */
    bool fix_lo = isfinite(ax->min) && (!s->log || ax->min > 0);
    bool fix_hi = isfinite(ax->max) && (!s->log || ax->max > 0);
    if (fix_lo || fix_hi) {
        if (fix_lo) s->lo = dlo;
        if (fix_hi) s->hi = dhi;
        size_t k = 0;
        for (size_t i = 0; i < s->nt; i++)
            if (s->t[i] >= s->lo * (1 - 1e-9) - 1e-12 && s->t[i] <= s->hi * (1 + 1e-9) + 1e-12)
                s->t[k++] = s->t[i];
        s->nt = k;
    }
}

/* ---- the chart ---- */

/* Everything elm_plot_svg works out before it writes. */
typedef struct {
    const elm_plot_t *p;
    scale_t x, y[2];
    double L, R, T, B, W, H, pw, ph;
    double slot;    /* categories: pixels per category */
    double groupw;  /* bars of one category (or x value) together */
    size_t nbar;    /* bar positions per group (BAR series, plus one for all STACK series) */
    size_t npt;     /* POINT series, dodged like bars */
    bool bars;      /* any BAR or STACK series: unavailable points are labelled at the top */
    size_t marks;   /* available values drawn */
    elm__plot_cats_t cats;
} layout_t;

static bool is_bar(elm_plot_kind_t k)
{
    return k == ELM_PLOT_BAR || k == ELM_PLOT_STACK;
}

static const char *series_color(const elm_plot_t *p, size_t i)
{
    int c = p->s[i].color;
    return elm_plot_color(c >= 0 ? (size_t)c : i);
}

/* The pixel x of point j of series s (its category's centre or its x value). */
static double x_center(const layout_t *l, const series_t *s, size_t j)
{
    if (l->p->xmode == 2) return map(&l->x, s->x[j]);
    return l->L + ((double)j + 0.5) * l->slot;
}

/* Offset of position k of n within a group of groupw pixels, from the group's centre. */
static double dodge(const layout_t *l, size_t k, size_t n)
{
    return n ? ((double)k + 0.5) * l->groupw / (double)n - l->groupw / 2 : 0;
}

/* The widest tick label of s, in pixels. */
static double ticks_w(const scale_t *s)
{
    double w = 0;
    char buf[32];
    for (size_t i = 0; i < s->nt; i++) {
        double t = elm__plot_text_w(elm_plot_fmt(s->t[i], buf, sizeof buf), ELM__PLOT_FONT);
        if (t > w) w = t;
    }
    return w;
}

/* Data ranges of both y axes and of a numeric x axis. */
static void data_ranges(const elm_plot_t *p, double ylo[2], double yhi[2], double *xlo, double *xhi)
{
    for (int k = 0; k < 2; k++)
        ylo[k] = INFINITY, yhi[k] = -INFINITY;
    *xlo = INFINITY, *xhi = -INFINITY;
    size_t nst = p->ncat;
    for (size_t i = 0; i < p->ns; i++)
        if (p->s[i].n > nst) nst = p->s[i].n;
    for (int side = 0; side < 2; side++) {
        bool log = p->y[side].log;
        /* Stacks add up per category (or point index), positive up and negative down. */
        for (size_t j = 0; j < nst; j++) {
            double pos = 0, neg = 0;
            bool any = false;
            for (size_t i = 0; i < p->ns; i++) {
                const series_t *s = &p->s[i];
                if (s->kind != ELM_PLOT_STACK || (int)s->side != side || j >= s->n) continue;
                double v = s->y[j];
                if (!isfinite(v) || (log && v <= 0)) continue;
                double e = s->err && isfinite(s->err[j]) ? s->err[j] : 0;
                if (v >= 0) {
                    pos += v;
                    include(&ylo[side], &yhi[side], pos + e);
                } else {
                    neg += v;
                    include(&ylo[side], &yhi[side], neg - e);
                }
                any = true;
            }
            if (any && !log) include(&ylo[side], &yhi[side], 0);
        }
        for (size_t i = 0; i < p->ns; i++) {
            const series_t *s = &p->s[i];
            if (s->kind == ELM_PLOT_STACK || (int)s->side != side) continue;
            for (size_t j = 0; j < s->n; j++) {
                double v = s->y[j];
                if (!isfinite(v) || (log && v <= 0)) continue;
                double e = s->err && isfinite(s->err[j]) ? s->err[j] : 0;
                include(&ylo[side], &yhi[side], v + e);
                /* A whisker alone does not take a positive quantity's axis below 0 (or past the
                 * log axis' end): it stops at the edge. */
                include(&ylo[side], &yhi[side], (v >= 0 && v - e < 0) || (log && v - e <= 0) ? v : v - e);
            }
        }
        for (size_t i = 0; i < p->nex; i++)
            if (!p->ex[i].band && (int)p->ex[i].side == side && (!log || p->ex[i].a > 0))
                include(&ylo[side], &yhi[side], p->ex[i].a);
    }
    if (p->xmode != 2) return;
    for (size_t i = 0; i < p->ns; i++)
        for (size_t j = 0; j < p->s[i].n; j++)
            if (!p->x.log || p->s[i].x[j] > 0) include(xlo, xhi, p->s[i].x[j]);
    for (size_t i = 0; i < p->nex; i++) {
        if (!p->ex[i].band) continue;
        include(xlo, xhi, p->ex[i].a);
        include(xlo, xhi, p->ex[i].b);
    }
}

/* The smallest gap between distinct x values of bar series (numeric x), in data units. */
static double bar_gap(const elm_plot_t *p)
{
    double gap = INFINITY, lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < p->ns; i++) {
        const series_t *s = &p->s[i];
        if (!is_bar(s->kind)) continue;
        for (size_t j = 0; j < s->n; j++) {
            include(&lo, &hi, s->x[j]);
            for (size_t k = 0; k < s->n; k++) {
                double d = fabs(s->x[j] - s->x[k]);
                if (d > 0 && d < gap) gap = d;
            }
        }
    }
    if (isfinite(gap)) return gap;
    return hi > lo ? (hi - lo) / 10 : 1;
}

/* Legend entries: the named series. Returns how many rows they take in width w, and writes
 * them when b is not NULL, right-aligned rows from y0. */
static int legend(elm_sbuf_t *b, const layout_t *l, double x0, double w, double y0)
{
    const elm_plot_t *p = l->p;
    int rows = 0;
    size_t i = 0;
    while (i < p->ns) {
        /* One row: as many entries as fit. */
        size_t first = i;
        double rw = 0;
        for (; i < p->ns; i++) {
            if (!p->s[i].name || !p->s[i].name[0]) continue;
            double ew = 22 + elm__plot_text_w(p->s[i].name, ELM__PLOT_FONT) + 14;
            if (rw > 0 && rw + ew > w) break;
            rw += ew;
        }
        if (rw == 0) break;
        double x = x0 + w - rw + 14, y = y0 + rows * 16 + 8;
        for (size_t k = first; b && k < i; k++) {
            const series_t *s = &p->s[k];
            if (!s->name || !s->name[0]) continue;
            const char *c = series_color(p, k);
            if (is_bar(s->kind))
                elm_sbuf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" fill=\"%s\"/>",
                                x + 3, y - 5, c);
            if (s->kind == ELM_PLOT_LINE)
                elm_sbuf_printf(b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                                "stroke-width=\"2\"/>", x - 2, x + 16, y, y, c);
            if (!is_bar(s->kind))
                elm_sbuf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\" stroke=\"%s\"/>",
                                x + 7, y, c, s->kind == ELM_PLOT_POINT ? "#222" : c);
            elm__plot_text(b, x + 20, y + 4, "start", ELM__PLOT_FONT, 0, s->name);
            x += 22 + elm__plot_text_w(s->name, ELM__PLOT_FONT) + 14;
        }
        rows++;
    }
    return rows;
}

static void layout(layout_t *l, const elm_plot_t *p)
{
    memset(l, 0, sizeof *l);
    l->p = p;
    l->W = p->w;
    l->H = p->h;
    double ylo[2], yhi[2], xlo, xhi;
    data_ranges(p, ylo, yhi, &xlo, &xhi);
    size_t target = (size_t)fmax(3, fmin(8, (p->h - 100) / 50));
    bool side_bars[2] = {false, false};
    for (size_t i = 0; i < p->ns; i++) {
        l->nbar += p->s[i].kind == ELM_PLOT_BAR;
        l->npt += p->s[i].kind == ELM_PLOT_POINT;
        l->bars |= is_bar(p->s[i].kind);
        side_bars[p->s[i].side] |= is_bar(p->s[i].kind);
    }
    for (int k = 0; k < 2; k++)
        scale_fit(&l->y[k], &p->y[k], ylo[k], yhi[k], target, side_bars[k]);
    bool stack = false;
    for (size_t i = 0; i < p->ns; i++)
        stack |= p->s[i].kind == ELM_PLOT_STACK;
    l->nbar += stack;
    double gap = 0;
    if (p->xmode == 2) {
        /* Bars centred on their x need half a gap of room at the ends. */
        if (l->bars && xlo <= xhi) {
            gap = bar_gap(p);
            include(&xlo, &xhi, xlo - gap / 2);
            include(&xlo, &xhi, xhi + gap / 2);
        }
        scale_fit(&l->x, &p->x, xlo, xhi, (size_t)fmax(3, fmin(10, p->w / 120)), false);
    }
    /* Margins: tick labels and axis titles. */
    l->L = 10 + ticks_w(&l->y[0]) + 8 + (p->y[0].label ? 20 : 0);
    l->R = p->has_y[1] ? 10 + ticks_w(&l->y[1]) + 8 + (p->y[1].label ? 20 : 0) : 16;
    if (p->xmode == 2 && !p->has_y[1]) l->R = fmax(l->R, 4 + ticks_w(&l->x) / 2);
    l->pw = fmax(l->W - l->L - l->R, 60);
    if (p->xmode != 2) {
        size_t n = p->ncat ? p->ncat : 1;
        for (int pass = 0; pass < 2; pass++) {
            l->slot = l->pw / (double)n;
            l->cats = elm__plot_cats_fit(p->ncat, (const char *const *)p->cats, l->slot);
            /* Labels leaning left must not leave the picture. */
            double need = elm__plot_cats_left(&l->cats, p->ncat, (const char *const *)p->cats) -
                          l->slot / 2 + 6;
            if (need <= l->L) break;
            l->L = need;
            l->pw = fmax(l->W - l->L - l->R, 60);
        }
        l->B = l->cats.height;
        /* a bar no wider than 90 px: a category of one bar should not fill the chart */
        size_t per = l->nbar > l->npt ? l->nbar : l->npt ? l->npt : 1;
        l->groupw = fmin(l->slot * 0.8, 90.0 * (double)per);
    } else {
        l->B = ELM__PLOT_FONT + 10;
    }
    l->B += (p->x.label ? 20 : 0) + 6;
    l->W = l->L + l->pw + l->R;
    int rows = legend(NULL, l, l->L, l->pw, 0);
    l->T = 10 + (p->title ? 24 : 0) + rows * 16;
    l->ph = l->H - l->T - l->B;
    if (l->ph < 100) {
        l->ph = 100;
        l->H = l->T + l->ph + l->B;
    }
    for (int k = 0; k < 2; k++) {
        l->y[k].p0 = l->T + l->ph;
        l->y[k].p1 = l->T;
    }
    l->x.p0 = l->L;
    l->x.p1 = l->L + l->pw;
    /* Numeric x: bars take 80 % of the smallest gap between their x values. */
    if (p->xmode == 2 && gap > 0)
        l->groupw = l->x.log ? l->pw / 20 : 0.8 * (map(&l->x, l->x.lo + gap) - map(&l->x, l->x.lo));
}

/* ---- marks ---- */

/* data-series, data-x and data-value of point j of s. */
static void data_attrs(elm_sbuf_t *b, const layout_t *l, const series_t *s, size_t j, double v)
{
    elm_sbuf_printf(b, " data-series=\"");
    elm_plot_escape(b, s->name ? s->name : "");
    elm_sbuf_printf(b, "\" data-x=\"");
    if (l->p->xmode == 2)
        elm_sbuf_printf(b, "%.6g", s->x[j]);
    else if (j < l->p->ncat)
        elm_plot_escape(b, l->p->cats[j]);
    if (isnan(v))
        elm_sbuf_printf(b, "\" data-value=\"nan\"");
    else
        elm_sbuf_printf(b, "\" data-value=\"%.6g\"", v);
}

/* The tooltip of a mark: "series · x: value ± err". */
static void tooltip(elm_sbuf_t *b, const layout_t *l, const series_t *s, size_t j, double v, double e)
{
    elm_sbuf_printf(b, "<title>");
    if (s->name && s->name[0]) {
        elm_plot_escape(b, s->name);
        elm_sbuf_printf(b, " \xc2\xb7 ");
    }
    if (l->p->xmode == 2)
        elm_sbuf_printf(b, "%.4g", s->x[j]);
    else if (j < l->p->ncat)
        elm_plot_escape(b, l->p->cats[j]);
    elm_sbuf_printf(b, ": %.4g", v);
    if (isfinite(e) && e > 0) elm_sbuf_printf(b, " \xc2\xb1 %.4g", e);
    elm_sbuf_printf(b, "</title>");
}

/* A vertical error bar at x from y0 to y1, with caps of width cap where asked (an end clipped
 * at the plot's edge gets none: the interval goes on past it). */
static void whisker(elm_sbuf_t *b, double x, double y0, double y1, double cap, bool cap0, bool cap1,
                    const char *color)
{
    elm_sbuf_printf(b, "<path d=\"M%.1f %.1fV%.1f", x, y0, y1);
    if (cap0) elm_sbuf_printf(b, "M%.1f %.1fH%.1f", x - cap / 2, y0, x + cap / 2);
    if (cap1) elm_sbuf_printf(b, "M%.1f %.1fH%.1f", x - cap / 2, y1, x + cap / 2);
    elm_sbuf_printf(b, "\" stroke=\"%s\" stroke-width=\"1.2\" fill=\"none\"/>\n", color);
}

static void error_bar(elm_sbuf_t *b, const scale_t *y, const series_t *s, size_t j, double top,
                      double x, double w, const char *color)
{
    double e = s->err ? s->err[j] : NAN;
    if (!(isfinite(e) && e > 0)) return;
    double lo = top - e, hi = top + e;
    bool in_lo = usable(y, lo) && lo >= fmin(y->lo, y->hi), in_hi = hi <= fmax(y->lo, y->hi);
    whisker(b, x, map_clamped(y, lo), map_clamped(y, hi), fmin(w * 0.5, 10), in_lo, in_hi, color);
}

/* The label of unavailable point j of s at (x, y): its note or "n/a", reading upwards when it
 * is wider than room. */
static void na_label(elm_sbuf_t *b, const layout_t *l, const series_t *s, size_t j, double x,
                     double y, double room)
{
    const char *t = s->note && s->note[j] ? s->note[j] : "n/a";
    bool up = elm__plot_text_w(t, ELM__PLOT_NOTE) > room;
    elm_sbuf_printf(b, "<text class=\"na\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%g\" "
                    "fill=\"#666\"",
                    up ? x + 3.5 : x, y, up ? "start" : "middle", ELM__PLOT_NOTE);
    if (up) elm_sbuf_printf(b, " transform=\"rotate(-90 %.1f %.1f)\"", x + 3.5, y);
    data_attrs(b, l, s, j, NAN);
    elm_sbuf_printf(b, ">");
    elm_plot_escape(b, t);
    elm_sbuf_printf(b, "</text>\n");
}

static double baseline(const scale_t *y)
{
    return y->log ? y->p0 : map_clamped(y, 0);
}

/* Bars of BAR series i (position k of nbar), or one STACK series on top of *pos / *neg. */
static void draw_bars(elm_sbuf_t *b, layout_t *l, size_t i, size_t k, double *pos, double *neg,
                      int *nas)
{
    const series_t *s = &l->p->s[i];
    const scale_t *y = &l->y[s->side];
    const char *c = series_color(l->p, i);
    double bw = l->groupw / (double)(l->nbar ? l->nbar : 1), w = bw * 0.86;
    for (size_t j = 0; j < s->n; j++) {
        if (l->p->xmode == 2 && !usable(&l->x, s->x[j])) continue;
        double cx = x_center(l, s, j) + dodge(l, k, l->nbar), v = s->y[j], from = 0;
        if (!usable(y, v)) {
            /* A stack's missing parts are listed at the top: its baseline is covered by bars. */
            double at = s->kind == ELM_PLOT_STACK ? l->T + 12 + 12 * nas[j]++ : baseline(y) - 4;
            na_label(b, l, s, j, cx, at, w + 2);
            continue;
        }
        if (s->kind == ELM_PLOT_STACK) {
            double *acc = v >= 0 ? &pos[j] : &neg[j];
            from = *acc;
            *acc += v;
        }
        double y0 = from == 0 ? baseline(y) : map_clamped(y, from), y1 = map_clamped(y, from + v);
        elm_sbuf_printf(b, "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                        "fill=\"%s\"", cx - w / 2, fmin(y0, y1), w, fabs(y1 - y0), c);
        data_attrs(b, l, s, j, v);
        elm_sbuf_printf(b, ">");
        tooltip(b, l, s, j, v, s->err ? s->err[j] : NAN);
        elm_sbuf_printf(b, "</rect>\n");
        error_bar(b, y, s, j, from + v, cx, w, "#222");
        l->marks++;
    }
}

/* LINE or POINT series i (a POINT series is position k of npt on categories). */
static void draw_points(elm_sbuf_t *b, layout_t *l, size_t i, size_t k)
{
    const series_t *s = &l->p->s[i];
    const scale_t *y = &l->y[s->side];
    const char *c = series_color(l->p, i);
    bool dodged = s->kind == ELM_PLOT_POINT && l->p->xmode != 2;
    double off = dodged ? dodge(l, k, l->npt) : 0;
    double room = dodged ? l->groupw / (double)(l->npt ? l->npt : 1) : l->slot > 0 ? l->slot : 40;
    if (s->kind == ELM_PLOT_LINE) {
        /* The line breaks where a value is unavailable. */
        bool pen = false;
        elm_sbuf_printf(b, "<path class=\"line\" d=\"");
        for (size_t j = 0; j < s->n; j++) {
            bool ok = usable(y, s->y[j]) && (l->p->xmode != 2 || usable(&l->x, s->x[j]));
            if (ok)
                elm_sbuf_printf(b, "%s%.1f %.1f", pen ? "L" : "M", x_center(l, s, j),
                                map_clamped(y, s->y[j]));
            pen = ok;
        }
        elm_sbuf_printf(b, "\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"/>\n", c);
    }
    for (size_t j = 0; j < s->n; j++) {
        if (l->p->xmode == 2 && !usable(&l->x, s->x[j])) continue;
        double cx = x_center(l, s, j) + off, v = s->y[j];
        if (!usable(y, v)) {
            /* Beside bars, at the top: the bars' own labels sit at the baseline. */
            na_label(b, l, s, j, cx, l->bars ? l->T + 12 : baseline(y) - 4, room);
            continue;
        }
        error_bar(b, y, s, j, v, cx, 12, c);
        /* Points outlined dark: they may sit on a bar of their own colour. */
        elm_sbuf_printf(b, "<circle class=\"pt\" cx=\"%.1f\" cy=\"%.1f\" r=\"%s\" fill=\"%s\" "
                        "stroke=\"%s\" stroke-width=\"1\"", cx, map_clamped(y, v), dodged ? "4" : "3.5", c,
                        dodged ? "#222" : "#fff");
        data_attrs(b, l, s, j, v);
        elm_sbuf_printf(b, ">");
        tooltip(b, l, s, j, v, s->err ? s->err[j] : NAN);
        elm_sbuf_printf(b, "</circle>\n");
        l->marks++;
    }
}

/* ---- axes ---- */

static void y_axis(elm_sbuf_t *b, const layout_t *l, int side)
{
    const scale_t *y = &l->y[side];
    double x = side ? l->L + l->pw : l->L, d = side ? 1 : -1;
    char buf[32];
    elm_sbuf_printf(b, "<path d=\"M%.1f %.1fV%.1f\" stroke=\"%s\"/>\n", x, l->T, l->T + l->ph, AXIS);
    for (size_t i = 0; i < y->nt; i++) {
        double py = map(y, y->t[i]);
        elm_sbuf_printf(b, "<path d=\"M%.1f %.1fH%.1f\" stroke=\"%s\"/>", x, py, x + 4 * d, AXIS);
        elm__plot_text(b, x + 7 * d, py + 4, side ? "start" : "end", ELM__PLOT_FONT, 0,
                       elm_plot_fmt(y->t[i], buf, sizeof buf));
    }
    const char *t = l->p->y[side].label;
    if (t)
        elm__plot_text(b, side ? l->W - 12 : 14, l->T + l->ph / 2, "middle", ELM__PLOT_FONT_TITLE,
                       side ? 90 : -90, t);
}

static void axes(elm_sbuf_t *b, const layout_t *l, bool left)
{
    const elm_plot_t *p = l->p;
    double bottom = l->T + l->ph;
    if (left) y_axis(b, l, 0);
    if (p->has_y[1]) y_axis(b, l, 1);
    elm_sbuf_printf(b, "<path d=\"M%.1f %.1fH%.1f\" stroke=\"%s\"/>\n", l->L, bottom, l->L + l->pw, AXIS);
    if (p->xmode == 2) {
        char buf[32];
        for (size_t i = 0; i < l->x.nt; i++) {
            double px = map(&l->x, l->x.t[i]);
            elm_sbuf_printf(b, "<path d=\"M%.1f %.1fV%.1f\" stroke=\"%s\"/>", px, bottom, bottom + 4, AXIS);
            elm__plot_text(b, px, bottom + ELM__PLOT_FONT + 5, "middle", ELM__PLOT_FONT, 0,
                           elm_plot_fmt(l->x.t[i], buf, sizeof buf));
        }
    } else {
        elm__plot_cats_draw(b, &l->cats, p->ncat, (const char *const *)p->cats, l->L, l->slot, bottom);
    }
    if (p->x.label)
        elm__plot_text(b, l->L + l->pw / 2, l->H - 8, "middle", ELM__PLOT_FONT_TITLE, 0, p->x.label);
}

/* The light grid behind the data: y ticks of the side with an axis drawn, numeric x ticks. */
static void grid(elm_sbuf_t *b, const layout_t *l, int side)
{
    const scale_t *y = &l->y[side];
    elm_sbuf_printf(b, "<path d=\"");
    for (size_t i = 0; i < y->nt; i++)
        elm_sbuf_printf(b, "M%.1f %.1fH%.1f", l->L, map(y, y->t[i]), l->L + l->pw);
    if (l->p->xmode == 2)
        for (size_t i = 0; i < l->x.nt; i++)
            elm_sbuf_printf(b, "M%.1f %.1fV%.1f", map(&l->x, l->x.t[i]), l->T, l->T + l->ph);
    elm_sbuf_printf(b, "\" stroke=\"%s\" stroke-width=\"1\" fill=\"none\"/>\n", GRID);
    /* Zero inside a range that crosses it is a line of its own. */
    if (!y->log && y->lo < 0 && y->hi > 0)
        elm_sbuf_printf(b, "<path d=\"M%.1f %.1fH%.1f\" stroke=\"#999\"/>\n", l->L, map(y, 0), l->L + l->pw);
}

static void bands(elm_sbuf_t *b, const layout_t *l)
{
    double label_end = -1; /* where the last band's label ends: a narrow band's label goes below */
    int row = 0;
    for (size_t i = 0; i < l->p->nex; i++) {
        const extra_t *d = &l->p->ex[i];
        if (!d->band) continue;
        double x0, x1;
        if (l->p->xmode == 2) {
            x0 = map_clamped(&l->x, d->a);
            x1 = map_clamped(&l->x, d->b);
        } else {
            /* On categories, x counts categories from 0 at the first one's centre. */
            x0 = fmax(l->L, l->L + (d->a + 0.5) * l->slot);
            x1 = fmin(l->L + l->pw, l->L + (d->b + 0.5) * l->slot);
        }
        if (!(x1 >= x0)) continue;
        elm_sbuf_printf(b, "<rect class=\"band\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                        "fill=\"%s\" fill-opacity=\"0.14\" data-x0=\"%.6g\" data-x1=\"%.6g\"/>\n",
                        x0, l->T, x1 - x0, l->ph, elm_plot_color(d->color >= 0 ? (size_t)d->color : i),
                        d->a, d->b);
        if (d->label) {
            row = x0 + 3 < label_end ? row + 1 : 0;
            elm__plot_text(b, x0 + 3, l->T + 11 + 11 * row, "start", ELM__PLOT_NOTE, 0, d->label);
            label_end = fmax(label_end, x0 + 3 + elm__plot_text_w(d->label, ELM__PLOT_NOTE) + 4);
        }
    }
}

static void hlines(elm_sbuf_t *b, const layout_t *l)
{
    for (size_t i = 0; i < l->p->nex; i++) {
        const extra_t *h = &l->p->ex[i];
        if (h->band) continue;
        const scale_t *y = &l->y[h->side];
        if (!usable(y, h->a)) continue;
        double py = map_clamped(y, h->a);
        elm_sbuf_printf(b, "<path class=\"ref\" d=\"M%.1f %.1fH%.1f\" stroke=\"#444\" "
                        "stroke-dasharray=\"5 3\" data-value=\"%.6g\"/>\n", l->L, py, l->L + l->pw, h->a);
        if (!h->label) continue;
        /* A white halo keeps the label readable over bars. */
        elm_sbuf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"%g\" "
                        "stroke=\"#fff\" stroke-width=\"3\" paint-order=\"stroke\">",
                        l->L + l->pw - 4, py - 4, ELM__PLOT_NOTE);
        elm_plot_escape(b, h->label);
        elm_sbuf_printf(b, "</text>\n");
    }
}

char *elm_plot_svg(const elm_plot_t *p)
{
    elm_sbuf_t b = {0};
    layout_t l;
    size_t npos = p->ncat;
    for (size_t i = 0; i < p->ns; i++)
        if (p->s[i].n > npos) npos = p->s[i].n;
    double *acc = calloc(4 * (npos ? npos : 1), sizeof *acc);
    int *nas = calloc(npos ? npos : 1, sizeof *nas);
    if (!acc || !nas) goto fail;
    layout(&l, p);
    bool left = p->has_y[0] || !p->has_y[1];
    for (size_t i = 0; i < p->ns; i++)
        left |= p->s[i].side == ELM_PLOT_LEFT;
    elm__plot_svg_open(&b, l.W, l.H);
    if (p->title) elm__plot_text(&b, l.W / 2, 22, "middle", 14, 0, p->title);
    bands(&b, &l);
    grid(&b, &l, left ? 0 : 1);
    /* Bars first, so that lines and points stay on top; stacks share one position. */
    size_t k = 0, kstack = SIZE_MAX, kpt = 0;
    for (size_t i = 0; i < p->ns; i++) {
        const series_t *s = &p->s[i];
        if (s->kind == ELM_PLOT_BAR) draw_bars(&b, &l, i, k++, NULL, NULL, nas);
        if (s->kind != ELM_PLOT_STACK) continue;
        if (kstack == SIZE_MAX) kstack = k++;
        double *pos = acc + (size_t)s->side * 2 * npos;
        draw_bars(&b, &l, i, kstack, pos, pos + npos, nas);
    }
    for (size_t i = 0; i < p->ns; i++)
        if (!is_bar(p->s[i].kind)) draw_points(&b, &l, i, p->s[i].kind == ELM_PLOT_POINT ? kpt++ : 0);
    hlines(&b, &l);
    axes(&b, &l, left);
    legend(&b, &l, l.L, l.pw, 10 + (p->title ? 24 : 0));
    if (l.marks == 0)
        elm_sbuf_printf(&b, "<text class=\"nodata\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
                        "font-size=\"13\" fill=\"#777\">no data</text>\n", l.L + l.pw / 2, l.T + l.ph / 2);
    elm_sbuf_printf(&b, "</svg>\n");
    if (b.oom) goto fail;
    free(acc);
    free(nas);
    return b.p;
fail:
    free(acc);
    free(nas);
    free(b.p);
    return NULL;
}
