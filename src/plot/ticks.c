/* plot/: the numbers behind an axis — nice linear and log ticks, short labels ("1.5k"), escaping
 * of text for SVG, and the two palettes (Okabe and Ito's categorical set, viridis' ramp). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "plot_internal.h"

/* k * m * 10^e, dividing by the power for e < 0 so decimal steps come out as the nearest double
 * (0.3, not 0.30000000000000004). */
static double decimal(double k, double m, int e)
{
    return e >= 0 ? k * m * pow(10, e) : k * m / pow(10, -e);
}

size_t elm__plot_ticks_step(double lo, double hi, size_t target, double min_step, double *out,
                            size_t cap)
{
    if (!isfinite(lo) || !isfinite(hi) || !out || cap == 0) return 0;
    if (lo > hi) {
        double t = lo;
        lo = hi;
        hi = t;
    }
    if (lo == hi) {
        double d = lo == 0 ? 1 : fabs(lo) * 0.1;
        lo -= d;
        hi += d;
    }
    if (cap == 1) {
        out[0] = lo;
        return 1;
    }
    if (target < 2) target = 2;
    static const double mult[] = {1, 2, 5};
    int e = (int)floor(log10((hi - lo) / (double)target)) - 1;
    /* steps below min_step are skipped: start the search at its decade */
    if (min_step > 0 && e < (int)floor(log10(min_step))) e = (int)floor(log10(min_step));
    /* The step whose tick count is nearest target (ties: the larger step, but of steps with the
     * same count the smallest, which spans the least empty range), among those that fit cap; six
     * decades of steps reach past the whole range for any sensible target. */
    double best_k0 = 0, best_m = 1;
    int best_e = 0;
    size_t best_n = 0;
    for (int tries = 0; tries < 6; tries++, e++) {
        for (int j = 0; j < 3; j++) {
            double step = decimal(1, mult[j], e);
            if (step < min_step * (1 - 1e-9)) continue;
            double k0 = floor(lo / step + 1e-9), k1 = ceil(hi / step - 1e-9);
            double n = k1 - k0 + 1;
            if (n > (double)cap) continue;
            double d = fabs(n - (double)target), bd = fabs((double)best_n - (double)target);
            if (best_n == 0 || d < bd || (d == bd && (size_t)n < best_n)) {
                best_k0 = k0;
                best_m = mult[j];
                best_e = e;
                best_n = (size_t)n;
            }
        }
    }
    if (best_n == 0) {
        /* cap too small for any nice step (2 ticks around a range that straddles 0). */
        out[0] = lo;
        out[1] = hi;
        return 2;
    }
    for (size_t i = 0; i < best_n; i++)
        out[i] = decimal(best_k0 + (double)i, best_m, best_e);
    return best_n;
}

size_t elm_plot_ticks(double lo, double hi, size_t target, double *out, size_t cap)
{
    return elm__plot_ticks_step(lo, hi, target, 0, out, cap);
}

size_t elm_plot_log_ticks(double lo, double hi, double *out, size_t cap)
{
    if (!(lo > 0) || !(hi > 0) || !isfinite(lo) || !isfinite(hi) || !out || cap == 0) return 0;
    if (lo > hi) {
        double t = lo;
        lo = hi;
        hi = t;
    }
    if (hi < lo * (1 + 1e-9)) {
        lo /= 2;
        hi *= 2;
    }
    int e0 = (int)floor(log10(lo) + 1e-9), e1 = (int)ceil(log10(hi) - 1e-9);
    if (e1 <= e0) e1 = e0 + 1;
    size_t n = 0;
    if (e1 - e0 < 3) {
        /* 1, 2, 5 per decade, from the last one <= lo to the first one >= hi. */
        double all[12];
        size_t na = 0, i0 = 0, i1 = 0;
        for (int e = e0; e <= e1; e++)
            for (int j = 0; j < 3 && !(e == e1 && j > 0); j++)
                all[na++] = decimal(1, (double[]){1, 2, 5}[j], e);
        for (size_t i = 0; i < na; i++)
            if (all[i] <= lo * (1 + 1e-9)) i0 = i;
        for (i1 = na - 1; i1 > i0 && all[i1 - 1] >= hi * (1 - 1e-9); i1--)
            ;
        for (size_t i = i0; i <= i1 && n < cap; i++)
            out[n++] = all[i];
        return n;
    }
    /* Every k-th power, k as small as cap allows. */
    int k = cap < 2 ? e1 - e0 : (int)ceil((double)(e1 - e0) / (double)(cap - 1));
    for (int e = e0;; e += k) {
        out[n++] = decimal(1, 1, e);
        if (e >= e1 || n == cap) break;
    }
    return n;
}

/* "1.5e-05" as "1.5e-5": the exponent without its plus sign and leading zeros. */
static void tidy_exponent(char *s)
{
    char *e = strchr(s, 'e');
    if (!e) return;
    char *w = e + 1, *r = e + 1;
    if (*r == '+')
        r++;
    else if (*r == '-')
        *w++ = *r++;
    while (*r == '0' && r[1])
        r++;
    memmove(w, r, strlen(r) + 1);
}

char *elm_plot_fmt(double v, char *buf, size_t cap)
{
    if (!buf || cap == 0) return buf;
    if (isnan(v)) {
        snprintf(buf, cap, "n/a");
        return buf;
    }
    if (isinf(v)) {
        snprintf(buf, cap, "%s", v > 0 ? "inf" : "-inf");
        return buf;
    }
    if (v == 0) v = 0; /* -0 prints as "0" */
    static const char *const suffix[] = {"", "k", "M", "G"};
    double a = fabs(v), div = 1;
    int s = 0;
    /* Next unit once three significant digits would round to 1000 of this one. */
    while (s < 3 && a / div >= 999.5) {
        div *= 1000;
        s++;
    }
    char tmp[48];
    if (a / div >= 999.5)
        snprintf(tmp, sizeof tmp, "%.3g", v);
    else
        snprintf(tmp, sizeof tmp, "%.3g%s", v / div, suffix[s]);
    tidy_exponent(tmp);
    snprintf(buf, cap, "%s", tmp);
    return buf;
}

void elm__plot_escape_n(elm_sbuf_t *b, const char *t, size_t len)
{
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)t[i];
        /* Control characters are not allowed in XML 1.0 text: a space stands in. */
        const char *r = c == '&'    ? "&amp;"
                        : c == '<'  ? "&lt;"
                        : c == '>'  ? "&gt;"
                        : c == '"'  ? "&quot;"
                        : c == '\'' ? "&#39;"
                        : c < 0x20  ? " "
                                    : NULL;
        if (!r) continue;
        if (i > run) elm_sbuf_printf(b, "%.*s", (int)(i - run), t + run);
        elm_sbuf_printf(b, "%s", r);
        run = i + 1;
    }
    if (len > run) elm_sbuf_printf(b, "%.*s", (int)(len - run), t + run);
}

void elm_plot_escape(elm_sbuf_t *b, const char *t)
{
    if (t) elm__plot_escape_n(b, t, strlen(t));
}

const char *elm_plot_color(size_t i)
{
    /* Okabe and Ito's order, yellow and black last: the weakest on white and the axes' colour. */
    static const char *const pal[8] = {"#0072B2", "#E69F00", "#009E73", "#D55E00",
                                       "#CC79A7", "#56B4E9", "#F0E442", "#000000"};
    return pal[i % 8];
}

/* sRGB channel (0..255) to linear light, for relative luminance. */
static double lin(double c)
{
    c /= 255;
    return c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4);
}

double elm__plot_ramp(double t, char out[8])
{
    /* viridis at 0, 1/4, 1/2, 3/4 and 1; linear in between. */
    static const unsigned char stop[5][3] = {
        {0x44, 0x01, 0x54}, {0x3b, 0x52, 0x8b}, {0x21, 0x91, 0x8c}, {0x5e, 0xc9, 0x62}, {0xfd, 0xe7, 0x25}};
    if (!(t >= 0)) t = 0;
    if (t > 1) t = 1;
    double f = t * 4;
    int i = f >= 4 ? 3 : (int)f;
    f -= i;
    double rgb[3];
    for (int c = 0; c < 3; c++)
        rgb[c] = round(stop[i][c] + (stop[i + 1][c] - stop[i][c]) * f);
    snprintf(out, 8, "#%02x%02x%02x", (unsigned)rgb[0], (unsigned)rgb[1], (unsigned)rgb[2]);
    return 0.2126 * lin(rgb[0]) + 0.7152 * lin(rgb[1]) + 0.0722 * lin(rgb[2]);
}
