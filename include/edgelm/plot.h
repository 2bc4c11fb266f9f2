/* edgelm plot: small charts as inline SVG for the report and the simulator — grouped and stacked
 * bars, lines and points with error bars on one or two y axes, reference lines, heatmaps — with
 * nice ticks, log scales, a legend and a colour-blind-safe palette. Every mark carries its data in
 * attributes (data-series, data-x, data-value) so tests and readers can take the numbers back. */
#ifndef EDGELM_PLOT_H
#define EDGELM_PLOT_H

#include <stdbool.h>
#include <stddef.h>

#include "edgelm/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- ticks and numbers ---- */

/* Up to cap "nice" linear ticks (1, 2 or 5 times a power of ten apart) covering [lo, hi], the
 * first <= lo and the last >= hi, about target of them; lo == hi gets a range around the value.
 * Returns how many were written (>= 2 when cap >= 2), 0 when lo or hi is not finite. */
size_t elm_plot_ticks(double lo, double hi, size_t target, double *out, size_t cap);

/* Ticks for a log scale over [lo, hi] (both > 0): powers of ten, with 2 and 5 between them when
 * the range spans fewer than three decades; the first <= lo, the last >= hi. Returns how many,
 * 0 when lo or hi is not positive and finite. */
size_t elm_plot_log_ticks(double lo, double hi, double *out, size_t cap);

/* v as a short label: up to 3 significant digits, thousands as k, M, G ("1.5k", "250", "0.04",
 * "2M"); "n/a" for NaN. Writes at most cap bytes (NUL included); returns buf. */
char *elm_plot_fmt(double v, char *buf, size_t cap);

/* Append t to b with &, <, >, " and ' escaped (safe in SVG/HTML text and quoted attributes). */
void elm_plot_escape(elm_sbuf_t *b, const char *t);

/* The palette: 8 colours distinguishable with the common colour-vision deficiencies (Okabe and
 * Ito's set); i wraps around. */
const char *elm_plot_color(size_t i);

/* ---- charts ---- */

typedef enum {
    ELM_PLOT_BAR = 0, /* one bar per category, side by side with the other BAR series */
    ELM_PLOT_STACK,   /* stacked on the other STACK series at the same category */
    ELM_PLOT_LINE,    /* points joined by a line (numeric x, or categories in order) */
    ELM_PLOT_POINT    /* markers only */
} elm_plot_kind_t;

typedef enum { ELM_PLOT_LEFT = 0, ELM_PLOT_RIGHT = 1 } elm_plot_side_t;

typedef struct {
    const char *label; /* axis title with its unit, "generation (tokens/s)"; NULL: none */
    bool log;          /* log scale: values <= 0 are drawn as unavailable */
    double min, max;   /* NAN: from the data (min 0 on a linear axis unless data is negative) */
    bool integer;      /* it counts things (threads): linear ticks at whole numbers, step >= 1 */
} elm_plot_axis_t;

/* One series. With a categorical x axis, point i belongs to category i (x is ignored); with a
 * numeric x axis, x[i] is its position. A y that is NaN (or <= 0 on a log axis) is unavailable:
 * no mark, but a label at the category's baseline — note[i] when given ("OOM"), else "n/a"
 * (at the top of the plot instead for a stack's part, and for a point on a chart with bars,
 * whose baselines the bars take). On categories, the POINT series are spread across each
 * category like the BAR series, so the k-th point series sits over the k-th bar series. */
typedef struct {
    const char *name;     /* legend entry and data-series; NULL or "": not in the legend */
    elm_plot_kind_t kind;
    elm_plot_side_t side; /* the y axis it is drawn against */
    size_t n;
    const double *x;      /* (n) numeric x; NULL with categories */
    const double *y;      /* (n) */
    const double *err;    /* (n) half-width of the error bar; NULL or NaN entries: none */
    const char *const *note; /* (n) label for an unavailable point; NULL: "n/a" */
    int color;            /* palette index; -1: the series' own position among the series */
} elm_plot_series_t;

typedef struct elm_plot elm_plot_t;

/* A new chart of width x height pixels (0, 0: 720 x 360) titled title (NULL: none; the report
 * writes its titles outside the SVG). Returns NULL when out of memory. Free with elm_plot_free. */
elm_plot_t *elm_plot_new(const char *title, double width, double height);
void elm_plot_free(elm_plot_t *p);

/* A categorical x axis: n category labels (copied), drawn in order; long labels are wrapped or
 * rotated to fit. Returns 0 or ELM_ENOMEM. */
int elm_plot_x_categories(elm_plot_t *p, const char *label, size_t n, const char *const *cats);
/* A numeric x axis (copied). Returns 0 or ELM_ENOMEM. */
int elm_plot_x_numeric(elm_plot_t *p, const elm_plot_axis_t *ax);
/* The left or right y axis (copied); a right axis is drawn only when given. Returns 0 or
 * ELM_ENOMEM. */
int elm_plot_y(elm_plot_t *p, elm_plot_side_t side, const elm_plot_axis_t *ax);
/* Add a series (its arrays and strings are copied), after the x axis is set. Returns 0,
 * ELM_EINVAL (y missing, x missing on a numeric axis, n differs from the category count — no x
 * axis counts as no categories) or ELM_ENOMEM. */
int elm_plot_add(elm_plot_t *p, const elm_plot_series_t *s);
/* A horizontal reference line at y = v on side's axis, labelled label (copied; "human reading
 * speed 5.3 tokens/s"). Returns 0 or ELM_ENOMEM. */
int elm_plot_hline(elm_plot_t *p, elm_plot_side_t side, double v, const char *label);

/* Shade the numeric x range [x0, x1] behind the data, labelled label (copied; "prefill"), with
 * palette colour color at low opacity (-1: the band's own position). On categories, x counts
 * categories from 0 at the first one's centre. Returns 0 or ELM_ENOMEM. */
int elm_plot_band(elm_plot_t *p, double x0, double x1, const char *label, int color);

/* The chart as one <svg> element (with xmlns, so valid inline in HTML and as a file): axes with
 * ticks and labels, the series, the legend. Marks: bars <rect class="bar" ...>, points <circle
 * class="pt" ...>, each with data-series, data-x (category or x value) and data-value (%.6g), and
 * a <title> tooltip; unavailable points a <text class="na" data-series data-x data-value="nan">.
 * Returns a malloc'd string the caller frees, or NULL when out of memory. */
char *elm_plot_svg(const elm_plot_t *p);

/* A heatmap as one <svg> element: nx columns (xcats) by ny rows (ycats, drawn top to bottom),
 * values (ny, nx) row-major coloured on a sequential colour-blind-safe scale (log when log and
 * every value > 0), each cell a <rect class="cell" data-x data-y data-value> with its value
 * printed when the cells are large enough; NaN cells are hatched and labelled "n/a". unit labels
 * the colour key ("break-even (months)"). Returns a malloc'd string or NULL when out of memory. */
char *elm_plot_heatmap(const char *xlabel, size_t nx, const char *const *xcats, const char *ylabel,
                       size_t ny, const char *const *ycats, const double *values, const char *unit,
                       bool log);

#ifdef __cplusplus
}
#endif
#endif
