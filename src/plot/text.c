/* plot/: the text of a chart — estimated widths, the <svg> frame, escaped text elements, and the
 * category labels under an axis, wrapped or rotated so that neighbours never overlap. */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "plot_internal.h"

/* Rotated labels longer than this many characters are cut with an ellipsis. */
#define CUT_CHARS 40
/* Line height of wrapped labels. */
#define LINE_H (ELM__PLOT_FONT + 2)

/* Characters (not UTF-8 continuation bytes) in the first len bytes of s. */
static size_t chars_n(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

static double width_n(const char *s, size_t len, double px)
{
    return 0.58 * px * (double)chars_n(s, len);
}

double elm__plot_text_w(const char *s, double px)
{
    return s ? width_n(s, strlen(s), px) : 0;
}

void elm__plot_svg_open(elm_sbuf_t *b, double w, double h)
{
    elm_sbuf_printf(b,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
        "viewBox=\"0 0 %.0f %.0f\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"%g\" "
        "fill=\"#222\">\n<rect width=\"%.0f\" height=\"%.0f\" fill=\"#fff\"/>\n",
        w, h, w, h, ELM__PLOT_FONT, w, h);
}

void elm__plot_text(elm_sbuf_t *b, double x, double y, const char *anchor, double px, double rot,
                    const char *t)
{
    elm_sbuf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\"", x, y, anchor);
    if (px != ELM__PLOT_FONT) elm_sbuf_printf(b, " font-size=\"%g\"", px);
    if (rot != 0) elm_sbuf_printf(b, " transform=\"rotate(%g %.1f %.1f)\"", rot, x, y);
    elm_sbuf_printf(b, ">");
    elm_plot_escape(b, t);
    elm_sbuf_printf(b, "</text>\n");
}

/* Break s at spaces into lines no wider than w: each line's start and length (at most 3).
 * Returns the number of lines, or 4 when it takes more or one word alone is wider. */
static int wrap(const char *s, double w, size_t start[3], size_t len[3])
{
    size_t n = strlen(s), i = 0;
    int lines = 0;
    while (i < n) {
        while (i < n && s[i] == ' ')
            i++;
        if (i == n) break;
        size_t end = i, j = i;
        while (j < n) {
            size_t k = j;
            while (k < n && s[k] != ' ')
                k++;
            if (width_n(s + i, k - i, ELM__PLOT_FONT) > w) break;
            end = k;
            for (j = k; j < n && s[j] == ' '; j++)
                ;
        }
        if (end == i || lines == 3) return 4;
        start[lines] = i;
        len[lines++] = end - i;
        i = end;
    }
    return lines;
}

/* Bytes of s that hold its first CUT_CHARS - 1 characters when s is longer than CUT_CHARS
 * characters (it is then cut there and ends in an ellipsis); else strlen(s). */
static size_t cut_len(const char *s)
{
    size_t n = strlen(s);
    if (chars_n(s, n) <= CUT_CHARS) return n;
    size_t c = 0, i = 0;
    for (; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80 && c++ == CUT_CHARS - 1) break;
    return i;
}

elm__plot_cats_t elm__plot_cats_fit(size_t n, const char *const *cats, double slot)
{
    elm__plot_cats_t c = {0, 1, ELM__PLOT_FONT + 8};
    double maxw = 0;
    bool one_line = true, wraps = true;
    for (size_t i = 0; i < n; i++) {
        const char *s = cats[i] ? cats[i] : "";
        size_t st[3], ln[3];
        double w = width_n(s, cut_len(s), ELM__PLOT_FONT);
        if (w > maxw) maxw = w;
        if (elm__plot_text_w(s, ELM__PLOT_FONT) > slot - 4) one_line = false;
        int k = wrap(s, slot - 4, st, ln);
        if (k > 3) wraps = false;
        if (k > c.lines) c.lines = k;
    }
    if (one_line) {
        c.lines = 1;
        return c;
    }
    if (wraps) {
        c.mode = 1;
        c.height = c.lines * LINE_H + 8;
        return c;
    }
    /* Neighbours rotated by 30° lie slot * sin 30° apart: enough for a line of text. */
    if (slot / 2 >= LINE_H) {
        c.mode = 2;
        c.height = maxw * 0.5 + ELM__PLOT_FONT * 0.87 + 12;
    } else {
        c.mode = 3;
        c.height = maxw + 12;
    }
    return c;
}

double elm__plot_cats_left(const elm__plot_cats_t *c, size_t n, const char *const *cats)
{
    if (c->mode != 2 || n == 0 || !cats[0]) return 0;
    return width_n(cats[0], cut_len(cats[0]), ELM__PLOT_FONT) * 0.866;
}

void elm__plot_cats_draw(elm_sbuf_t *b, const elm__plot_cats_t *c, size_t n,
                         const char *const *cats, double x0, double slot, double y)
{
    for (size_t i = 0; i < n; i++) {
        const char *s = cats[i] ? cats[i] : "";
        double cx = x0 + ((double)i + 0.5) * slot;
        if (c->mode == 0) {
            elm__plot_text(b, cx, y + ELM__PLOT_FONT + 4, "middle", ELM__PLOT_FONT, 0, s);
        } else if (c->mode == 1) {
            size_t st[3], ln[3];
            int k = wrap(s, slot - 4, st, ln);
            elm_sbuf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", cx,
                            y + ELM__PLOT_FONT + 4);
            for (int l = 0; l < k && l < 3; l++) {
                elm_sbuf_printf(b, "<tspan x=\"%.1f\" dy=\"%g\">", cx, l ? LINE_H : 0);
                elm__plot_escape_n(b, s + st[l], ln[l]);
                elm_sbuf_printf(b, "</tspan>");
            }
            elm_sbuf_printf(b, "</text>\n");
        } else {
            /* Anchored at its end under the category, reading up to the right. */
            double rot = c->mode == 2 ? -30 : -90;
            double tx = c->mode == 2 ? cx + 3 : cx + ELM__PLOT_FONT * 0.35, ty = y + 10;
            size_t len = cut_len(s);
            elm_sbuf_printf(b,
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" transform=\"rotate(%g %.1f %.1f)\">",
                tx, ty, rot, tx, ty);
            if (len < strlen(s)) {
                elm_sbuf_printf(b, "<title>");
                elm_plot_escape(b, s);
                elm_sbuf_printf(b, "</title>");
            }
            elm__plot_escape_n(b, s, len);
            elm_sbuf_printf(b, "%s</text>\n", len < strlen(s) ? "\xe2\x80\xa6" : "");
        }
    }
}
