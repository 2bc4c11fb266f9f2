/* plot/: what chart.c and heatmap.c share — the SVG's frame, text widths and escaping of a
 * substring, the category labels below an axis (one line, wrapped or rotated), "no data". */
#ifndef ELM_PLOT_INTERNAL_H
#define ELM_PLOT_INTERNAL_H

#include <stddef.h>

#include "edgelm/plot.h"

/* Font sizes (px) of tick and category labels, axis titles and small notes. */
#define ELM__PLOT_FONT 11.0
#define ELM__PLOT_FONT_TITLE 12.0
#define ELM__PLOT_NOTE 9.5

/* elm_plot_ticks with steps of at least min_step (1: whole numbers only, for axes that count
 * things); min_step 0 is elm_plot_ticks itself. */
size_t elm__plot_ticks_step(double lo, double hi, size_t target, double min_step, double *out,
                            size_t cap);

/* The width in pixels text of size px takes, estimated from its character count (no font
 * metrics here: 0.55 em per character suits the sans-serif faces browsers pick). */
double elm__plot_text_w(const char *s, double px);

/* Append the first len bytes of t to b, escaped as elm_plot_escape does. */
void elm__plot_escape_n(elm_sbuf_t *b, const char *t, size_t len);

/* The opening <svg> element (xmlns, size, fonts) and its white background. */
void elm__plot_svg_open(elm_sbuf_t *b, double w, double h);

/* A text element at (x, y) with anchor "start", "middle" or "end", escaped; rot != 0 rotates it
 * by rot degrees about (x, y). */
void elm__plot_text(elm_sbuf_t *b, double x, double y, const char *anchor, double px, double rot,
                    const char *t);

/* How the labels of n categories, each slot pixels wide, fit below an axis. */
typedef struct {
    int mode;      /* 0 one line, 1 wrapped at spaces, 2 rotated -30°, 3 rotated -90° */
    int lines;     /* mode 1: the most lines a label takes */
    double height; /* pixels they take below the axis line */
} elm__plot_cats_t;

/* Choose the layout: one line when every label fits its slot, else wrapped at spaces into at
 * most three lines, else rotated -30° (slots wide enough that neighbours cannot touch), else
 * -90°. Rotated labels longer than 40 characters are cut with an ellipsis. */
elm__plot_cats_t elm__plot_cats_fit(size_t n, const char *const *cats, double slot);

/* How far (px) left of its slot's centre the first label reaches (rotated labels lean left). */
double elm__plot_cats_left(const elm__plot_cats_t *c, size_t n, const char *const *cats);

/* Draw the labels, category i centred at x0 + (i + 0.5) * slot, hanging below y. */
void elm__plot_cats_draw(elm_sbuf_t *b, const elm__plot_cats_t *c, size_t n,
                         const char *const *cats, double x0, double slot, double y);

/* The colour of t in [0, 1] on the sequential scale (viridis' stops), as "#rrggbb" in out[8];
 * returns its relative luminance (0 black .. 1 white) for picking dark or light text. */
double elm__plot_ramp(double t, char out[8]);

#endif
