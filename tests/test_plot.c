/* plot/: nice linear and log ticks, short number labels, escaping, and each chart kind — bars,
 * stacks, lines, points on a right axis, reference lines, bands, heatmaps — read back from the
 * SVG's data attributes, with every output checked well-formed by a small tag-stack walker. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "edgelm/plot.h"
#include "testutil.h"

/* ---- a cheap XML check ---- */

/* True when s is well-formed as far as the charts need: tags balance (a stack of element
 * names), every element is one the module writes (so injected markup shows), attribute values
 * are quoted, and every & starts an entity. */
static bool well_formed(const char *s)
{
    static const char *const known[] = {"svg", "rect", "text", "tspan", "title", "path", "circle", "line",
                                        NULL};
    char stack[64][16];
    int depth = 0, roots = 0;
    for (const char *p = s; *p;) {
        if (*p == '&') {
            static const char *const ent[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&#39;", NULL};
            bool ok = false;
            for (int i = 0; ent[i]; i++)
                ok |= strncmp(p, ent[i], strlen(ent[i])) == 0;
            if (!ok) return false;
            p++;
            continue;
        }
        if (*p == '>') return false;
        if (*p != '<') {
            p++;
            continue;
        }
        bool close = p[1] == '/';
        const char *n = p + 1 + close;
        size_t len = strcspn(n, " \t\n/>");
        if (len == 0 || len >= sizeof stack[0]) return false;
        bool found = false;
        for (int i = 0; known[i]; i++)
            found |= strlen(known[i]) == len && strncmp(n, known[i], len) == 0;
        if (!found) return false;
        /* The rest of the tag: quoted values may hold anything but < and an unescaped &. */
        const char *q = n + len;
        char quote = 0;
        for (; *q && (quote || *q != '>'); q++) {
            if (*q == '<') return false;
            if (quote && *q == '&' && strncmp(q, "&amp;", 5) && strncmp(q, "&lt;", 4) &&
                strncmp(q, "&gt;", 4) && strncmp(q, "&quot;", 6) && strncmp(q, "&#39;", 5))
                return false;
            if (*q == '"' || *q == '\'') quote = quote == *q ? 0 : quote ? quote : *q;
        }
        if (!*q || quote) return false;
        bool self = q[-1] == '/';
        if (close) {
            if (depth == 0 || strlen(stack[depth - 1]) != len || strncmp(stack[depth - 1], n, len))
                return false;
            depth--;
        } else if (!self) {
            if (depth == 64) return false;
            if (depth == 0) roots++;
            memcpy(stack[depth], n, len);
            stack[depth++][len] = 0;
        }
        p = q + 1;
    }
    return depth == 0 && roots == 1;
}

static void test_checker(void **state)
{
    (void)state;
    assert_true(well_formed("<svg a=\"1\"><rect/><text>a &amp; b</text></svg>\n"));
    assert_false(well_formed("<svg><rect></svg>"));
    assert_false(well_formed("<svg><text>a & b</text></svg>"));
    assert_false(well_formed("<svg><text><script>x</script></text></svg>"));
    assert_false(well_formed("<svg a=\"<\"></svg>"));
    assert_false(well_formed("<svg></svg><svg></svg>"));
}

/* ---- reading marks back ---- */

typedef struct {
    char series[64], x[96], y[64];
    double value; /* NAN for "nan" */
} mark_t;

/* The value of attribute name inside the tag starting at tag, unescaped only as far as the tests
 * need (it is copied verbatim); "" when absent. */
static void attr(const char *tag, const char *name, char *out, size_t cap)
{
    const char *end = strchr(tag, '>');
    char key[40];
    snprintf(key, sizeof key, " %s=\"", name);
    const char *a = strstr(tag, key);
    out[0] = 0;
    if (!a || a > end) return;
    a += strlen(key);
    size_t n = strcspn(a, "\"");
    if (n >= cap) n = cap - 1;
    memcpy(out, a, n);
    out[n] = 0;
}

/* The elements of class cls in svg, in order; returns how many (at most cap are written). */
static size_t marks(const char *svg, const char *cls, mark_t *m, size_t cap)
{
    char key[40], v[64];
    snprintf(key, sizeof key, "class=\"%s\"", cls);
    size_t n = 0;
    for (const char *p = strstr(svg, key); p; p = strstr(p + 1, key)) {
        const char *tag = p;
        while (tag > svg && *tag != '<')
            tag--;
        if (n < cap) {
            attr(tag, "data-series", m[n].series, sizeof m[n].series);
            attr(tag, "data-x", m[n].x, sizeof m[n].x);
            attr(tag, "data-y", m[n].y, sizeof m[n].y);
            attr(tag, "data-value", v, sizeof v);
            m[n].value = strcmp(v, "nan") == 0 ? NAN : strtod(v, NULL);
        }
        n++;
    }
    return n;
}

/* |a - b| within what %.6g keeps. */
static bool near6(double a, double b)
{
    return fabs(a - b) <= 1e-5 * fmax(fabs(a), fabs(b)) + 1e-300;
}

/* No coordinate went non-finite: "nan" appears only as a data value and "inf" nowhere. */
static void assert_finite_coords(const char *svg)
{
    for (const char *p = strstr(svg, "nan"); p; p = strstr(p + 1, "nan"))
        assert_true(p - svg >= 12 && strncmp(p - 12, "data-value=\"", 12) == 0);
    assert_null(strstr(svg, "inf"));
}

/* ---- ticks and numbers ---- */

static void assert_ticks(const double *t, size_t n, const double *want, size_t nw)
{
    assert_int_equal(n, nw);
    for (size_t i = 0; i < n; i++)
        assert_true(fabs(t[i] - want[i]) <= 1e-12 * fmax(1, fabs(want[i])));
}

static void test_ticks(void **state)
{
    (void)state;
    double t[32];
    assert_ticks(t, elm_plot_ticks(0, 7.3, 5, t, 32), (double[]){0, 2, 4, 6, 8}, 5);
    /* of the steps that give the same count, the smallest: not 0 and 50000 */
    assert_ticks(t, elm_plot_ticks(0, 7.3, 2, t, 32), (double[]){0, 10}, 2);
    assert_ticks(t, elm_plot_ticks(0.013, 0.048, 5, t, 32), (double[]){0.01, 0.02, 0.03, 0.04, 0.05}, 5);
    assert_true(t[2] == 0.03); /* decimal steps exact to the nearest double */
    assert_ticks(t, elm_plot_ticks(1e3, 1e6, 5, t, 32), (double[]){0, 2e5, 4e5, 6e5, 8e5, 1e6}, 6);
    assert_ticks(t, elm_plot_ticks(-7.3, -1, 5, t, 32), (double[]){-8, -6, -4, -2, 0}, 5);
    assert_ticks(t, elm_plot_ticks(7.3, 0, 5, t, 32), (double[]){0, 2, 4, 6, 8}, 5);
    /* lo == hi: a range around the value */
    size_t n = elm_plot_ticks(5, 5, 5, t, 32);
    assert_true(n >= 2 && t[0] < 5 && t[n - 1] > 5);
    n = elm_plot_ticks(0, 0, 5, t, 32);
    assert_true(n >= 2 && t[0] < 0 && t[n - 1] > 0);
    assert_int_equal(elm_plot_ticks(NAN, 1, 5, t, 32), 0);
    assert_int_equal(elm_plot_ticks(0, INFINITY, 5, t, 32), 0);
    /* cap 2 still covers the range */
    n = elm_plot_ticks(-0.1, 0.1, 5, t, 2);
    assert_true(n == 2 && t[0] <= -0.1 && t[1] >= 0.1);
    /* Any range (no narrower than a ten-thousandth of its values, where doubles still resolve
     * the step): covered, evenly spaced by 1, 2 or 5 times a power of ten. */
    elm_test_rng_t rng = {7};
    for (int k = 0; k < 2000; k++) {
        int e = (int)(elm_test_uniform(&rng) * 12) - 6;
        double a = (elm_test_uniform(&rng) - 0.3) * pow(10, e);
        double b = a + (0.01 + elm_test_uniform(&rng)) * pow(10, e - (int)(elm_test_uniform(&rng) * 4));
        size_t target = 2 + (size_t)(elm_test_uniform(&rng) * 8);
        n = elm_plot_ticks(a, b, target, t, 12);
        assert_true(n >= 2 && n <= 12);
        assert_true(t[0] <= a && t[n - 1] >= b);
        double step = t[1] - t[0], mant = step / pow(10, floor(log10(step)));
        assert_true(fabs(mant - 1) < 1e-6 || fabs(mant - 2) < 1e-6 || fabs(mant - 5) < 1e-6 ||
                    fabs(mant - 10) < 1e-6);
        for (size_t i = 1; i < n; i++)
            assert_true(fabs(t[i] - t[i - 1] - step) <= 1e-9 * fmax(fabs(t[i]), step));
    }
}

static void test_log_ticks(void **state)
{
    (void)state;
    double t[32];
    assert_ticks(t, elm_plot_log_ticks(1, 1000, t, 32), (double[]){1, 10, 100, 1000}, 4);
    assert_ticks(t, elm_plot_log_ticks(3, 40, t, 32), (double[]){2, 5, 10, 20, 50}, 5);
    assert_ticks(t, elm_plot_log_ticks(0.013, 0.048, t, 32), (double[]){0.01, 0.02, 0.05}, 3);
    size_t n = elm_plot_log_ticks(10, 10, t, 32);
    assert_true(n >= 2 && t[0] <= 10 && t[n - 1] >= 10);
    n = elm_plot_log_ticks(1e-3, 1e9, t, 5);
    assert_true(n >= 2 && n <= 5 && t[0] <= 1e-3 && t[n - 1] >= 1e9);
    assert_int_equal(elm_plot_log_ticks(0, 10, t, 32), 0);
    assert_int_equal(elm_plot_log_ticks(-1, 10, t, 32), 0);
    assert_int_equal(elm_plot_log_ticks(1, NAN, t, 32), 0);
}

static void test_fmt(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *s;
    } c[] = {{1500, "1.5k"}, {250, "250"}, {0.04, "0.04"}, {2e6, "2M"},   {0, "0"},
             {-0.0, "0"},    {-1500, "-1.5k"}, {999.7, "1k"}, {1234, "1.23k"}, {3e9, "3G"},
             {999.4, "999"}, {1.5e-5, "1.5e-5"}, {2.5e12, "2.5e12"}, {0.25, "0.25"}, {7, "7"}};
    char buf[32];
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        assert_string_equal(elm_plot_fmt(c[i].v, buf, sizeof buf), c[i].s);
    assert_string_equal(elm_plot_fmt(NAN, buf, sizeof buf), "n/a");
    assert_string_equal(elm_plot_fmt(1500, buf, 3), "1.");
}

static void test_escape(void **state)
{
    (void)state;
    elm_sbuf_t b = {0};
    elm_plot_escape(&b, "<&>\"'");
    elm_plot_escape(&b, NULL);
    assert_string_equal(b.p, "&lt;&amp;&gt;&quot;&#39;");
    free(b.p);
    /* A model path that tries to close the attribute and open markup stays text. */
    const char *evil = "/m/<script>alert(1)</script>\" onload=\"x'&.gguf";
    const char *cats[] = {evil, "plain"};
    double y[] = {1, 2};
    elm_plot_t *p = elm_plot_new(evil, 0, 0);
    assert_non_null(p);
    assert_int_equal(elm_plot_x_categories(p, evil, 2, cats), 0);
    assert_int_equal(elm_plot_y(p, ELM_PLOT_LEFT, &(elm_plot_axis_t){evil, false, NAN, NAN}), 0);
    assert_int_equal(elm_plot_add(p, &(elm_plot_series_t){evil, ELM_PLOT_BAR, ELM_PLOT_LEFT, 2, NULL,
                                                           y, NULL, (const char *const[]){evil, evil}, -1}),
                     0);
    assert_int_equal(elm_plot_hline(p, ELM_PLOT_LEFT, 1.5, evil), 0);
    char *svg = elm_plot_svg(p);
    assert_non_null(svg);
    assert_true(well_formed(svg));
    assert_null(strstr(svg, "<script"));
    assert_null(strstr(svg, "\" onload"));
    assert_non_null(strstr(svg, "data-x=\"/m/&lt;script&gt;alert(1)&lt;/script&gt;&quot; onload=&quot;x&#39;&amp;.gguf\""));
    free(svg);
    elm_plot_free(p);
    svg = elm_plot_heatmap(evil, 1, cats, evil, 1, cats, y, evil, false);
    assert_non_null(svg);
    assert_true(well_formed(svg));
    assert_null(strstr(svg, "<script"));
    free(svg);
}

/* ---- charts ---- */

static void test_empty(void **state)
{
    (void)state;
    elm_plot_t *p = elm_plot_new(NULL, 0, 0);
    char *svg = elm_plot_svg(p);
    assert_non_null(svg);
    assert_true(well_formed(svg));
    assert_non_null(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert_non_null(strstr(svg, ">no data</text>"));
    assert_finite_coords(svg);
    free(svg);
    /* Every value unavailable: no bar, the labels, still "no data". */
    const char *cats[] = {"a", "b"};
    double y[] = {NAN, NAN};
    assert_int_equal(elm_plot_x_categories(p, "model", 2, cats), 0);
    assert_int_equal(elm_plot_add(p, &(elm_plot_series_t){"s", ELM_PLOT_BAR, ELM_PLOT_LEFT, 2, NULL, y,
                                                           NULL, NULL, -1}), 0);
    assert_int_equal(elm_plot_add(p, &(elm_plot_series_t){"t", ELM_PLOT_LINE, ELM_PLOT_LEFT, 2, NULL, y,
                                                           NULL, NULL, -1}), 0);
    svg = elm_plot_svg(p);
    assert_true(well_formed(svg));
    assert_int_equal(marks(svg, "bar", NULL, 0), 0);
    assert_int_equal(marks(svg, "pt", NULL, 0), 0);
    assert_int_equal(marks(svg, "na", NULL, 0), 4);
    assert_non_null(strstr(svg, ">no data</text>"));
    assert_finite_coords(svg);
    free(svg);
    /* An empty series on an empty axis is fine; a wrong count is not. */
    assert_int_equal(elm_plot_add(p, &(elm_plot_series_t){"u", ELM_PLOT_BAR, ELM_PLOT_LEFT, 1, NULL, y,
                                                           NULL, NULL, -1}), ELM_EINVAL);
    elm_plot_free(p);
    p = elm_plot_new(NULL, 0, 0);
    assert_int_equal(elm_plot_x_numeric(p, &(elm_plot_axis_t){"t (s)", false, NAN, NAN}), 0);
    assert_int_equal(elm_plot_add(p, &(elm_plot_series_t){"e", ELM_PLOT_LINE, ELM_PLOT_LEFT, 0, NULL,
                                                           NULL, NULL, NULL, -1}), 0);
    assert_int_equal(elm_plot_add(p, &(elm_plot_series_t){"x", ELM_PLOT_LINE, ELM_PLOT_LEFT, 2, NULL, y,
                                                           NULL, NULL, -1}), ELM_EINVAL);
    svg = elm_plot_svg(p);
    assert_true(well_formed(svg));
    assert_non_null(strstr(svg, ">no data</text>"));
    free(svg);
    elm_plot_free(p);
}

static void test_single_point(void **state)
{
    (void)state;
    double x[] = {3}, y[] = {7.25};
    for (int log = 0; log < 2; log++) {
        elm_plot_t *p = elm_plot_new(NULL, 400, 300);
        assert_int_equal(elm_plot_x_numeric(p, &(elm_plot_axis_t){"threads", log, NAN, NAN}), 0);
        assert_int_equal(elm_plot_y(p, ELM_PLOT_LEFT, &(elm_plot_axis_t){"tokens/s", log, NAN, NAN}), 0);
        assert_int_equal(elm_plot_add(p, &(elm_plot_series_t){"one", ELM_PLOT_POINT, ELM_PLOT_LEFT, 1, x,
                                                               y, NULL, NULL, -1}), 0);
        char *svg = elm_plot_svg(p);
        assert_true(well_formed(svg));
        assert_finite_coords(svg);
        mark_t m[2];
        assert_int_equal(marks(svg, "pt", m, 2), 1);
        assert_string_equal(m[0].x, "3");
        assert_true(m[0].value == 7.25);
        /* inside the picture */
        const char *c = strstr(svg, "class=\"pt\"");
        double cx = -1, cy = -1;
        assert_int_equal(sscanf(c, "class=\"pt\" cx=\"%lf\" cy=\"%lf\"", &cx, &cy), 2);
        assert_true(cx > 0 && cx < 400 && cy > 0 && cy < 300);
        assert_null(strstr(svg, "no data"));
        free(svg);
        elm_plot_free(p);
    }
}

static void test_unavailable(void **state)
{
    (void)state;
    const char *cats[] = {"0.5b", "1.5b", "8b"}, *note[] = {NULL, NULL, "OOM"};
    double y[] = {12.5, NAN, NAN}, z[] = {4, 0, -1};
    elm_plot_t *p = elm_plot_new(NULL, 0, 0);
    assert_int_equal(elm_plot_x_categories(p, "model", 3, cats), 0);
    assert_int_equal(elm_plot_y(p, ELM_PLOT_LEFT, &(elm_plot_axis_t){"tokens/s", false, NAN, NAN}), 0);
    assert_int_equal(elm_plot_y(p, ELM_PLOT_RIGHT, &(elm_plot_axis_t){"TTFT (s)", true, NAN, NAN}), 0);
    assert_int_equal(elm_plot_add(p, &(elm_plot_series_t){"pi", ELM_PLOT_BAR, ELM_PLOT_LEFT, 3, NULL, y,
                                                           NULL, note, -1}), 0);
    /* on a log axis 0 and -1 are unavailable too */
    assert_int_equal(elm_plot_add(p, &(elm_plot_series_t){"ttft", ELM_PLOT_POINT, ELM_PLOT_RIGHT, 3, NULL,
                                                           z, NULL, NULL, -1}), 0);
    char *svg = elm_plot_svg(p);
    assert_true(well_formed(svg));
    assert_finite_coords(svg);
    mark_t m[8];
    assert_int_equal(marks(svg, "bar", m, 8), 1);
    assert_string_equal(m[0].x, "0.5b");
    assert_int_equal(marks(svg, "pt", m, 8), 1);
    assert_true(m[0].value == 4);
    assert_int_equal(marks(svg, "na", m, 8), 4);
    assert_string_equal(m[0].series, "pi");
    assert_string_equal(m[0].x, "1.5b");
    assert_true(isnan(m[0].value));
    assert_string_equal(m[1].x, "8b");
    assert_string_equal(m[2].series, "ttft");
    assert_non_null(strstr(svg, "data-x=\"8b\" data-value=\"nan\">OOM</text>"));
    assert_non_null(strstr(svg, "data-x=\"1.5b\" data-value=\"nan\">n/a</text>"));
    assert_non_null(strstr(svg, "data-series=\"ttft\" data-x=\"8b\" data-value=\"nan\">n/a</text>"));
    free(svg);
    elm_plot_free(p);
}

static void test_long_labels(void **state)
{
    (void)state;
    /* A few multi-word labels wrap at spaces; many long ones rotate; very long ones are cut with
     * the whole label kept as a tooltip. */
    const char *few[] = {"a model with a rather long name, quantized to four bits",
                         "another model with a long name and a longer one", "short"};
    double y[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    elm_plot_t *p = elm_plot_new(NULL, 0, 0);
    assert_int_equal(elm_plot_x_categories(p, NULL, 3, few), 0);
    assert_int_equal(elm_plot_add(p, &(elm_plot_series_t){"s", ELM_PLOT_BAR, ELM_PLOT_LEFT, 3, NULL, y,
                                                           NULL, NULL, -1}), 0);
    char *svg = elm_plot_svg(p);
    assert_true(well_formed(svg));
    assert_non_null(strstr(svg, "<tspan"));
    assert_null(strstr(svg, "rotate(-30"));
    free(svg);
    elm_plot_free(p);

    char names[12][100];
    const char *many[12];
    for (int i = 0; i < 12; i++) {
        snprintf(names[i], sizeof names[i], "/models/qwen2.5-%d.5b-instruct-q4_0-imatrix-calibrated.gguf", i);
        many[i] = names[i];
    }
    p = elm_plot_new(NULL, 0, 0);
    assert_int_equal(elm_plot_x_categories(p, "model", 12, many), 0);
    assert_int_equal(elm_plot_add(p, &(elm_plot_series_t){"s", ELM_PLOT_BAR, ELM_PLOT_LEFT, 12, NULL, y,
                                                           NULL, NULL, -1}), 0);
    svg = elm_plot_svg(p);
    assert_true(well_formed(svg));
    assert_true(strstr(svg, "rotate(-30") || strstr(svg, "rotate(-90"));
    char want[140];
    snprintf(want, sizeof want, "<title>%s</title>", many[11]);
    assert_non_null(strstr(svg, want));
    /* the picture grew below for them: the svg is taller than asked */
    double h = 0;
    assert_int_equal(sscanf(strstr(svg, "height=\""), "height=\"%lf\"", &h), 1);
    assert_true(h >= 360);
    mark_t m[12];
    assert_int_equal(marks(svg, "bar", m, 12), 12);
    assert_string_equal(m[11].x, many[11]);
    free(svg);
    elm_plot_free(p);
}

/* Every kind on one chart, each value read back from the data attributes. */
static void test_kinds_roundtrip(void **state)
{
    (void)state;
    const char *cats[] = {"pi5", "orin"};
    double bar[] = {12.345678, 0.001234567}, err[] = {0.5, NAN}, st1[] = {1.5, 2}, st2[] = {0.25, 1e6};
    double pt[] = {0.123456789, 3.5}, ln[] = {100, 250};
    elm_plot_t *p = elm_plot_new("Speed", 0, 0);
    assert_int_equal(elm_plot_x_categories(p, "device", 2, cats), 0);
    assert_int_equal(elm_plot_y(p, ELM_PLOT_LEFT, &(elm_plot_axis_t){"generation (tokens/s)", false, NAN, NAN}), 0);
    assert_int_equal(elm_plot_y(p, ELM_PLOT_RIGHT, &(elm_plot_axis_t){"TTFT (s)", false, NAN, NAN}), 0);
    elm_plot_series_t s[] = {
        {"bars", ELM_PLOT_BAR, ELM_PLOT_LEFT, 2, NULL, bar, err, NULL, -1},
        {"load", ELM_PLOT_STACK, ELM_PLOT_LEFT, 2, NULL, st1, NULL, NULL, -1},
        {"prefill", ELM_PLOT_STACK, ELM_PLOT_LEFT, 2, NULL, st2, NULL, NULL, 5},
        {"ttft", ELM_PLOT_POINT, ELM_PLOT_RIGHT, 2, NULL, pt, NULL, NULL, -1},
        {"line", ELM_PLOT_LINE, ELM_PLOT_RIGHT, 2, NULL, ln, NULL, NULL, -1},
    };
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(elm_plot_add(p, &s[i]), 0);
    assert_int_equal(elm_plot_hline(p, ELM_PLOT_LEFT, 5.3, "human reading speed 5.3 tokens/s"), 0);
    char *svg = elm_plot_svg(p);
    assert_non_null(svg);
    assert_true(well_formed(svg));
    assert_finite_coords(svg);
    mark_t m[16];
    assert_int_equal(marks(svg, "bar", m, 16), 6);
    static const char *const ser[] = {"bars", "bars", "load", "load", "prefill", "prefill"};
    const double *val[] = {bar, st1, st2};
    for (size_t i = 0; i < 6; i++) {
        assert_string_equal(m[i].series, ser[i]);
        assert_string_equal(m[i].x, cats[i % 2]);
        assert_true(near6(m[i].value, val[i / 2][i % 2]));
    }
    assert_int_equal(marks(svg, "pt", m, 16), 4);
    assert_string_equal(m[0].series, "ttft");
    assert_true(near6(m[0].value, pt[0]) && near6(m[1].value, pt[1]));
    assert_true(near6(m[2].value, ln[0]) && near6(m[3].value, ln[1]));
    assert_int_equal(marks(svg, "line", m, 16), 1);
    assert_non_null(strstr(svg, "class=\"ref\""));
    assert_non_null(strstr(svg, "data-value=\"5.3\""));
    assert_non_null(strstr(svg, ">human reading speed 5.3 tokens/s</text>"));
    /* both axis titles, the right one turned the other way; the legend names every series */
    assert_non_null(strstr(svg, "rotate(-90"));
    assert_non_null(strstr(svg, "rotate(90"));
    assert_non_null(strstr(svg, ">TTFT (s)</text>"));
    for (size_t i = 0; i < 5; i++) {
        char want[40];
        snprintf(want, sizeof want, ">%s</text>", s[i].name);
        assert_non_null(strstr(svg, want));
    }
    /* the error bar's tooltip, the colour asked for */
    assert_non_null(strstr(svg, "bars \xc2\xb7 pi5: 12.35 \xc2\xb1 0.5</title>"));
    assert_non_null(strstr(svg, elm_plot_color(5)));
    free(svg);
    elm_plot_free(p);
}

static void test_numeric_bands(void **state)
{
    (void)state;
    double t[] = {0, 0.5, 1.25, 2}, rss[] = {10, 200, 210, 230};
    elm_plot_t *p = elm_plot_new(NULL, 0, 0);
    assert_int_equal(elm_plot_x_numeric(p, &(elm_plot_axis_t){"time (s)", false, NAN, NAN}), 0);
    assert_int_equal(elm_plot_y(p, ELM_PLOT_LEFT, &(elm_plot_axis_t){"RSS (MiB)", true, NAN, NAN}), 0);
    assert_int_equal(elm_plot_band(p, 0, 0.5, "load", 0), 0);
    assert_int_equal(elm_plot_band(p, 1.25, 0.5, "prefill", 1), 0);
    assert_int_equal(elm_plot_add(p, &(elm_plot_series_t){"rss", ELM_PLOT_LINE, ELM_PLOT_LEFT, 4, t, rss,
                                                           NULL, NULL, -1}), 0);
    char *svg = elm_plot_svg(p);
    assert_true(well_formed(svg));
    assert_finite_coords(svg);
    mark_t m[8];
    assert_int_equal(marks(svg, "pt", m, 8), 4);
    for (int i = 0; i < 4; i++) {
        assert_true(strtod(m[i].x, NULL) == t[i]);
        assert_true(m[i].value == rss[i]);
    }
    assert_int_equal(marks(svg, "band", m, 8), 2);
    assert_non_null(strstr(svg, "data-x0=\"0.5\" data-x1=\"1.25\""));
    assert_non_null(strstr(svg, ">prefill</text>"));
    /* a log axis over 10..230 has 2 and 5 between the powers */
    assert_non_null(strstr(svg, ">20</text>"));
    assert_non_null(strstr(svg, ">500</text>"));
    free(svg);
    elm_plot_free(p);
}

/* The tick labels of svg's x axis (axis 'x') or y axes ('y'), comma-separated into buf: each is a
 * tick mark (a vertical or horizontal path stroke) followed at once by its text. */
static const char *tick_labels(const char *svg, char axis, char *buf, size_t cap)
{
    static const char tail[] = "\" stroke=\"#333\"/><text";
    size_t n = 0;
    buf[0] = 0;
    for (const char *p = svg; (p = strstr(p, "<path d=\"M")) != NULL; p++) {
        const char *end = strstr(p, tail), *d = p + 10;
        if (!end || strncmp(end, tail, sizeof tail - 1) != 0) continue;
        size_t dl = strcspn(d, "\"");
        if (d + dl != end || !memchr(d, axis == 'x' ? 'V' : 'H', dl)) continue;
        const char *t = strchr(end + sizeof tail - 1, '>') + 1;
        n += (size_t)snprintf(buf + n, cap - n, "%s%.*s", n ? "," : "", (int)strcspn(t, "<"), t);
        if (n >= cap) break;
    }
    return buf;
}

static void test_integer_ticks(void **state)
{
    (void)state;
    double thr[] = {1, 2, 3, 4}, tps[] = {2.1, 3.9, 5.2, 5.8}, n[] = {0, 1, 2, 3};
    char ticks[256];
    for (int integer = 0; integer < 2; integer++) {
        elm_plot_t *p = elm_plot_new(NULL, 0, 0);
        elm_plot_axis_t x = {"threads", false, 1, 4, integer};
        elm_plot_axis_t y = {"runs", false, NAN, NAN, integer};
        assert_int_equal(elm_plot_x_numeric(p, &x), 0);
        assert_int_equal(elm_plot_y(p, ELM_PLOT_LEFT, &y), 0);
        assert_int_equal(
            elm_plot_add(p, &(elm_plot_series_t){"gen", ELM_PLOT_LINE, ELM_PLOT_LEFT, 4, thr,
                                                 integer ? n : tps, NULL, NULL, -1}),
            0);
        char *svg = elm_plot_svg(p);
        assert_true(well_formed(svg));
        /* the caller's range is kept: the axis starts at the lowest thread count, not 0 */
        if (integer) {
            assert_string_equal(tick_labels(svg, 'x', ticks, sizeof ticks), "1,2,3,4");
            assert_string_equal(tick_labels(svg, 'y', ticks, sizeof ticks), "0,1,2,3");
        } else {
            assert_string_equal(tick_labels(svg, 'x', ticks, sizeof ticks), "1,1.5,2,2.5,3,3.5,4");
        }
        free(svg);
        elm_plot_free(p);
    }
    /* a narrow range still steps by whole numbers; a wide one by 1, 2 or 5 times a power of 10 */
    double few[] = {0, 0.25}, many[] = {1, 64}, pos[] = {1, 2};
    elm_plot_axis_t ix = {NULL, false, NAN, NAN, true};
    for (int k = 0; k < 2; k++) {
        elm_plot_t *p = elm_plot_new(NULL, 0, 0);
        assert_int_equal(elm_plot_x_numeric(p, &ix), 0);
        assert_int_equal(elm_plot_y(p, ELM_PLOT_LEFT, &ix), 0);
        assert_int_equal(elm_plot_add(p, &(elm_plot_series_t){"s", ELM_PLOT_POINT, ELM_PLOT_LEFT, 2,
                                                              pos, k ? many : few, NULL, NULL, -1}),
                         0);
        char *svg = elm_plot_svg(p);
        assert_string_equal(tick_labels(svg, 'y', ticks, sizeof ticks),
                            k ? "0,20,40,60,80" : "0,1");
        assert_string_equal(tick_labels(svg, 'x', ticks, sizeof ticks), "0,1,2");
        free(svg);
        elm_plot_free(p);
    }
}

static void test_heatmap(void **state)
{
    (void)state;
    const char *xc[] = {"0.5", "1", "2"}, *yc[] = {"25 %", "100 %"};
    double v[] = {1.5, 12, 120, NAN, 3.25, 48};
    char *svg = elm_plot_heatmap("IO-token ratio", 3, xc, "utilization", 2, yc, v, "break-even (months)", true);
    assert_non_null(svg);
    assert_true(well_formed(svg));
    assert_finite_coords(svg);
    mark_t m[8];
    assert_int_equal(marks(svg, "cell", m, 8), 6);
    for (int i = 0; i < 6; i++) {
        assert_string_equal(m[i].x, xc[i % 3]);
        assert_string_equal(m[i].y, yc[i / 3]);
        if (i == 3)
            assert_true(isnan(m[i].value));
        else
            assert_true(m[i].value == v[i]);
    }
    assert_non_null(strstr(svg, ">n/a</text>"));
    assert_non_null(strstr(svg, ">break-even (months)</text>"));
    assert_non_null(strstr(svg, ">3.25</text>"));
    /* the darkest cell carries light text, the lightest dark text */
    assert_non_null(strstr(svg, "fill=\"#fff\">1.5</text>"));
    assert_non_null(strstr(svg, "fill=\"#111\">120</text>"));
    free(svg);
    double none[] = {NAN, NAN};
    svg = elm_plot_heatmap(NULL, 2, xc, NULL, 1, yc, none, NULL, false);
    assert_true(well_formed(svg));
    assert_non_null(strstr(svg, ">no data</text>"));
    free(svg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checker),      cmocka_unit_test(test_ticks),
        cmocka_unit_test(test_log_ticks),    cmocka_unit_test(test_fmt),
        cmocka_unit_test(test_escape),       cmocka_unit_test(test_empty),
        cmocka_unit_test(test_single_point), cmocka_unit_test(test_unavailable),
        cmocka_unit_test(test_long_labels),  cmocka_unit_test(test_kinds_roundtrip),
        cmocka_unit_test(test_numeric_bands), cmocka_unit_test(test_integer_ticks),
        cmocka_unit_test(test_heatmap),
    };
    return cmocka_run_group_tests_name("plot", tests, NULL, NULL);
}
