/* plot/: heatmaps — a grid of categories coloured on viridis' sequential scale with a colour key,
 * values printed in the cells when they fit, missing cells hatched. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "plot_internal.h"

#define CELL_H 26.0
#define KEY_W 12.0
#define KEY_STRIPS 48

/* Position of v on the colour scale, 0..1. */
static double frac(double v, double lo, double hi, bool log)
{
    if (hi <= lo) return 0.5;
    return log ? (log10(v) - log10(lo)) / (log10(hi) - log10(lo)) : (v - lo) / (hi - lo);
}

/* Diagonal hatching inside the cell at (x, y), w by h, each line cut to the cell. */
static void hatch(elm_sbuf_t *b, double x, double y, double w, double h)
{
    elm_sbuf_printf(b, "<path d=\"");
    for (double c = -h + 5; c < w; c += 6) {
        /* The line (x + c + t, y + h - t) for t where it stays inside [x, x + w]. */
        double t0 = fmax(0, -c), t1 = fmin(h, w - c);
        if (t1 > t0)
            elm_sbuf_printf(b, "M%.1f %.1fL%.1f %.1f", x + c + t0, y + h - t0, x + c + t1, y + h - t1);
    }
    elm_sbuf_printf(b, "\" stroke=\"#bbb\" stroke-width=\"1\" fill=\"none\"/>");
}

/* The colour key: strips from lo (bottom) to hi (top) at x, from y0 down to y1, with ticks. */
static void key(elm_sbuf_t *b, double x, double y0, double y1, double lo, double hi, bool log,
                const double *t, size_t nt, const char *unit)
{
    double h = (y1 - y0) / KEY_STRIPS;
    char col[8], buf[32];
    for (int i = 0; i < KEY_STRIPS; i++) {
        elm__plot_ramp((i + 0.5) / KEY_STRIPS, col);
        elm_sbuf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%g\" height=\"%.2f\" fill=\"%s\"/>", x,
                        y1 - (i + 1) * h, KEY_W, h + 0.3, col);
    }
    elm_sbuf_printf(b, "\n<rect x=\"%.1f\" y=\"%.1f\" width=\"%g\" height=\"%.1f\" fill=\"none\" "
                    "stroke=\"#666\"/>\n", x, y0, KEY_W, y1 - y0);
    double tw = 0;
    for (size_t i = 0; i < nt; i++) {
        double py = y1 - frac(t[i], lo, hi, log) * (y1 - y0);
        if (py < y0 - 0.5 || py > y1 + 0.5) continue;
        elm_sbuf_printf(b, "<path d=\"M%.1f %.1fH%.1f\" stroke=\"#333\"/>", x + KEY_W, py, x + KEY_W + 4);
        elm_plot_fmt(t[i], buf, sizeof buf);
        elm__plot_text(b, x + KEY_W + 7, py + 4, "start", ELM__PLOT_FONT, 0, buf);
        tw = fmax(tw, elm__plot_text_w(buf, ELM__PLOT_FONT));
    }
    if (unit)
        elm__plot_text(b, x + KEY_W + 7 + tw + 16, (y0 + y1) / 2, "middle", ELM__PLOT_FONT_TITLE, 90, unit);
}

char *elm_plot_heatmap(const char *xlabel, size_t nx, const char *const *xcats, const char *ylabel,
                       size_t ny, const char *const *ycats, const double *values, const char *unit,
                       bool log)
{
    elm_sbuf_t b = {0};
    double lo = INFINITY, hi = -INFINITY, t[32];
    bool all_pos = true;
    for (size_t i = 0; i < nx * ny; i++) {
        if (!isfinite(values[i])) continue;
        lo = fmin(lo, values[i]);
        hi = fmax(hi, values[i]);
        all_pos &= values[i] > 0;
    }
    bool any = lo <= hi;
    log = log && all_pos && any;
    size_t nt = !any ? 0 : log ? elm_plot_log_ticks(lo, hi, t, 32) : elm_plot_ticks(lo, hi, 5, t, 32);
    if (nt >= 2) {
        lo = t[0];
        hi = t[nt - 1];
    }
    /* Layout: row labels, cells, the key with its tick labels and unit. */
    double yw = 0, kw = 0;
    char buf[32];
    for (size_t j = 0; j < ny; j++)
        yw = fmax(yw, elm__plot_text_w(ycats && ycats[j] ? ycats[j] : "", ELM__PLOT_FONT));
    for (size_t i = 0; i < nt; i++)
        kw = fmax(kw, elm__plot_text_w(elm_plot_fmt(t[i], buf, sizeof buf), ELM__PLOT_FONT));
    double L = 10 + (ylabel ? 20 : 0) + fmin(yw, 240) + 8;
    double R = 24 + KEY_W + 7 + kw + (unit ? 26 : 0) + 8;
    double cw = nx ? fmin(90, fmax(28, (720 - L - R) / (double)nx)) : 100;
    double gw = cw * (double)(nx ? nx : 1), gh = CELL_H * (double)(ny ? ny : 1), T = 10;
    elm__plot_cats_t cats = elm__plot_cats_fit(nx, xcats, cw);
    double lean = elm__plot_cats_left(&cats, nx, xcats) - cw / 2 + 6;
    if (lean > L) L = lean;
    double B = cats.height + (xlabel ? 20 : 0) + 6, kh = fmax(gh, 100);
    double W = L + gw + R, H = T + fmax(gh, kh) + B;
    elm__plot_svg_open(&b, W, H);
    size_t shown = 0;
    for (size_t j = 0; j < ny; j++) {
        const char *yc = ycats && ycats[j] ? ycats[j] : "";
        double y = T + (double)j * CELL_H;
        elm__plot_text(&b, L - 6, y + CELL_H / 2 + 4, "end", ELM__PLOT_FONT, 0, yc);
        for (size_t i = 0; i < nx; i++) {
            const char *xc = xcats && xcats[i] ? xcats[i] : "";
            double v = values[j * nx + i], x = L + (double)i * cw;
            char col[8] = "#f2f2f2";
            double lum = 1;
            if (isfinite(v)) lum = elm__plot_ramp(frac(v, lo, hi, log), col);
            elm_sbuf_printf(&b, "<rect class=\"cell\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                            "fill=\"%s\" data-x=\"", x, y, cw - 1, CELL_H - 1, col);
            elm_plot_escape(&b, xc);
            elm_sbuf_printf(&b, "\" data-y=\"");
            elm_plot_escape(&b, yc);
            if (isfinite(v))
                elm_sbuf_printf(&b, "\" data-value=\"%.6g\"><title>", v);
            else
                elm_sbuf_printf(&b, "\" data-value=\"nan\"><title>");
            elm_plot_escape(&b, xc);
            elm_sbuf_printf(&b, ", ");
            elm_plot_escape(&b, yc);
            elm_sbuf_printf(&b, ": %s</title></rect>", elm_plot_fmt(v, buf, sizeof buf));
            if (!isfinite(v)) hatch(&b, x, y, cw - 1, CELL_H - 1);
            shown += isfinite(v);
            /* Dark text on light cells, white on dark ones (WCAG's crossover near 0.18). */
            if (elm__plot_text_w(buf, ELM__PLOT_FONT) + 4 <= cw - 1)
                elm_sbuf_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"%s\">%s</text>",
                                x + cw / 2, y + CELL_H / 2 + 4, !isfinite(v) ? "#555" : lum > 0.18 ? "#111" : "#fff",
                                buf);
            elm_sbuf_printf(&b, "\n");
        }
    }
    elm__plot_cats_draw(&b, &cats, nx, xcats, L, cw, T + gh);
    if (xlabel) elm__plot_text(&b, L + gw / 2, H - 8, "middle", ELM__PLOT_FONT_TITLE, 0, xlabel);
    if (ylabel) elm__plot_text(&b, 14, T + gh / 2, "middle", ELM__PLOT_FONT_TITLE, -90, ylabel);
    if (shown)
        key(&b, L + gw + 24, T, T + kh, lo, hi, log, t, nt, unit);
    else
        elm_sbuf_printf(&b, "<text class=\"nodata\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
                        "font-size=\"13\" fill=\"#777\">no data</text>\n", L + gw / 2, T + gh / 2 + 4);
    elm_sbuf_printf(&b, "</svg>\n");
    if (b.oom) goto fail;
    return b.p;
fail:
    free(b.p);
    return NULL;
}
