/* sim/: grouped bar charts with optional error bars as standalone SVG, for the simulator's
 * Figure-4-style comparisons (requests by outcome, redirected tokens and cost, utilization). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgelm/sim.h"

/* Text with &, < and > escaped. */
static void put_text(elm_sbuf_t *b, const char *t)
{
    for (; *t; t++) {
        if (*t == '&')
            elm_sbuf_printf(b, "&amp;");
        else if (*t == '<')
            elm_sbuf_printf(b, "&lt;");
        else if (*t == '>')
            elm_sbuf_printf(b, "&gt;");
        else
            elm_sbuf_printf(b, "%c", *t);
    }
}

/* A "nice" axis maximum: 1, 2 or 5 times a power of ten, at least v. */
static double nice_max(double v)
{
    if (!(v > 0)) return 1;
    double p = pow(10, floor(log10(v)));
    for (int i = 0; i < 3; i++) {
        double m = (double[]){1, 2, 5}[i] * p;
        if (m >= v) return m;
    }
    return 10 * p;
}

char *elm_sim_svg_bars(const char *title, const char *ylabel, uint32_t n_groups,
                       const char *const *groups, uint32_t n_series, const char *const *series,
                       const double *val, const double *err)
{
    static const char *const color[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2",
                                        "#59a14f", "#edc948", "#b07aa1", "#ff9da7"};
    elm_sbuf_t b = {malloc(4096), 0, 4096, 0};
    if (!b.p) return NULL;
    const double W = 760, H = 420, L = 70, R = 170, T = 40, B = 90;
    double vmax = 0;
    for (uint32_t i = 0; i < n_groups * n_series; i++) {
        double v = val[i] + (err ? err[i] : 0);
        if (isfinite(v) && v > vmax) vmax = v;
    }
    vmax = nice_max(vmax);
    double pw = W - L - R, ph = H - T - B, gw = n_groups ? pw / n_groups : pw;
    double bw = gw * 0.8 / (n_series ? n_series : 1);
    elm_sbuf_printf(&b,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" "
        "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" "
        "fill=\"white\"/>\n<text x=\"%g\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">",
        W, H, W / 2);
    put_text(&b, title);
    elm_sbuf_printf(&b, "</text>\n<text transform=\"translate(16,%g) rotate(-90)\" text-anchor=\"middle\">",
        T + ph / 2);
    put_text(&b, ylabel);
    elm_sbuf_printf(&b, "</text>\n");
    for (int k = 0; k <= 5; k++) {
        double y = T + ph - ph * k / 5;
        elm_sbuf_printf(&b,
            "<line x1=\"%g\" x2=\"%g\" y1=\"%g\" y2=\"%g\" stroke=\"#ddd\"/>"
            "<text x=\"%g\" y=\"%g\" text-anchor=\"end\">%g</text>\n",
            L, L + pw, y, y, L - 6, y + 4, vmax * k / 5);
    }
    for (uint32_t g = 0; g < n_groups; g++) {
        double gx = L + g * gw + gw * 0.1;
        for (uint32_t s = 0; s < n_series; s++) {
            double v = val[g * n_series + s], h = isfinite(v) && v > 0 ? ph * v / vmax : 0;
            double x = gx + s * bw;
            elm_sbuf_printf(&b,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
                "<title>%g</title></rect>\n",
                x, T + ph - h, bw * 0.92, h, color[s % 8], v);
            if (err && isfinite(err[g * n_series + s]) && err[g * n_series + s] > 0) {
                double e = ph * err[g * n_series + s] / vmax, cx = x + bw * 0.46;
                elm_sbuf_printf(&b,
                    "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n",
                    cx, cx, T + ph - h - e, T + ph - h + e);
            }
        }
        elm_sbuf_printf(&b, "<text x=\"%.1f\" y=\"%g\" text-anchor=\"end\" transform=\"rotate(-25 %.1f %g)\">",
            gx + gw * 0.4, T + ph + 16, gx + gw * 0.4, T + ph + 16);
        put_text(&b, groups[g]);
        elm_sbuf_printf(&b, "</text>\n");
    }
    elm_sbuf_printf(&b, "<line x1=\"%g\" x2=\"%g\" y1=\"%g\" y2=\"%g\" stroke=\"black\"/>\n", L, L + pw, T + ph,
        T + ph);
    for (uint32_t s = 0; s < n_series; s++) {
        double y = T + 10 + s * 18;
        elm_sbuf_printf(&b,
            "<rect x=\"%g\" y=\"%g\" width=\"12\" height=\"12\" fill=\"%s\"/><text x=\"%g\" "
            "y=\"%g\">",
            W - R + 12, y, color[s % 8], W - R + 30, y + 10);
        put_text(&b, series[s]);
        elm_sbuf_printf(&b, "</text>\n");
    }
    elm_sbuf_printf(&b, "</svg>\n");
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
