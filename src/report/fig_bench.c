/* report/: the bench figures' shared pieces (labels, the grid of one chosen run per cell, series
 * and captions from it) and figures 1 and 2: generation speed and TTFT, energy per query and
 * power, by model and device. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgelm/metrics.h"
#include "fig_bench.h"

/* Append to buf (a snprintf that keeps what is there). */
static void add(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add(char *buf, size_t cap, const char *fmt, ...)
{
    size_t n = strlen(buf);
    if (n + 1 >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, cap - n, fmt, ap);
    va_end(ap);
}

/* End the sentence in buf with a full stop unless it has one. */
static void stop(char *buf, size_t cap)
{
    size_t n = strlen(buf);
    if (n && buf[n - 1] != '.') add(buf, cap, ".");
}

/* ---- labels ---- */

/* Whether a --target run failed for memory: its errors name it. */
static bool target_oom(const elm_record_t *rec)
{
    return rec->is_target &&
           (strcasestr(rec->target.errors, "out of memory") || strstr(rec->target.errors, "OOM"));
}

/* The model file's name without ".gguf". */
static void model_stem(const char *path, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", elm__model_label(path));
    size_t n = strlen(buf);
    if (n > 5 && strcasecmp(buf + n - 5, ".gguf") == 0) buf[n - 5] = '\0';
}

static void key_inproc(const elm_record_t *rec, char *buf, size_t cap)
{
    char fam[256];
    elm__model_family(rec->model, rec->quant, fam, sizeof fam);
    snprintf(buf, cap, "%s %s", fam, rec->quant);
}

void elm__key_model(const elm__bench_t *b, const elm_record_t *rec, char *buf, size_t cap)
{
    if (!rec->is_target) {
        key_inproc(rec, buf, cap);
        return;
    }
    /* a server's model name (a file name or path at times): the in-process model whose file or
     * family it names, else the name without directories and ".gguf" */
    char name[512], stem[512], fam[256];
    model_stem(rec->target.model[0] ? rec->target.model : rec->model, name, sizeof name);
    for (size_t i = 0; i < b->r->n_runs; i++) {
        const elm_record_t *o = &b->r->runs[i];
        if (o->is_target) continue;
        model_stem(o->model, stem, sizeof stem);
        elm__model_family(o->model, o->quant, fam, sizeof fam);
        if (strcasecmp(stem, name) == 0 || strcasecmp(fam, name) == 0) {
            key_inproc(o, buf, cap);
            return;
        }
    }
    snprintf(buf, cap, "%s", name);
}

void elm__key_none(const elm__bench_t *b, const elm_record_t *rec, char *buf, size_t cap)
{
    (void)b;
    (void)rec;
    snprintf(buf, cap, "%s", "");
}

void elm__key_family(const elm__bench_t *b, const elm_record_t *rec, char *buf, size_t cap)
{
    (void)b;
    elm__model_family(rec->model, rec->quant, buf, cap);
}

void elm__key_device(const elm__bench_t *b, const elm_record_t *rec, char *buf, size_t cap)
{
    (void)b;
    snprintf(buf, cap, "%s", rec->device[0] ? rec->device : "unknown device");
}

/* label, then " · device" when the runs span devices */
static void with_device(const elm__bench_t *b, const elm_record_t *rec, const char *label,
                        char *buf, size_t cap)
{
    if (b->multi_dev)
        snprintf(buf, cap, "%s · %s", label, rec->device);
    else
        snprintf(buf, cap, "%s", label);
}

void elm__key_model_device(const elm__bench_t *b, const elm_record_t *rec, char *buf, size_t cap)
{
    char m[512];
    elm__key_model(b, rec, m, sizeof m);
    with_device(b, rec, m, buf, cap);
}

void elm__key_quant(const elm__bench_t *b, const elm_record_t *rec, char *buf, size_t cap)
{
    with_device(b, rec, rec->quant, buf, cap);
}

void elm__key_governor(const elm__bench_t *b, const elm_record_t *rec, char *buf, size_t cap)
{
    char gov[128];
    elm__governor(rec, gov, sizeof gov);
    if (strcmp(gov, "unknown") == 0) snprintf(gov, sizeof gov, "governor unknown");
    with_device(b, rec, gov, buf, cap);
}

void elm__key_threads(const elm__bench_t *b, const elm_record_t *rec, char *buf, size_t cap)
{
    (void)b;
    snprintf(buf, cap, "%d", rec->threads);
}

void elm__key_config(const elm__bench_t *b, const elm_record_t *rec, char *buf, size_t cap)
{
    char gov[128];
    elm__governor(rec, gov, sizeof gov);
    snprintf(buf, cap, "%d thread%s, %s", rec->threads, rec->threads == 1 ? "" : "s", gov);
    (void)b;
}

double elm__order_params(const elm__bench_t *b, const elm_record_t *rec)
{
    char fam[256];
    elm__model_family(rec->model, rec->quant, fam, sizeof fam);
    int i = rec->is_target ? -1 : elm__labels_find(&b->fam, fam);
    double p = i >= 0 ? b->fam_params[i] : 0;
    return p > 0 ? p : HUGE_VAL;
}

double elm__order_threads(const elm__bench_t *b, const elm_record_t *rec)
{
    (void)b;
    return rec->threads;
}

/* b's model families and the largest parameter estimate of each. */
static int families(elm__bench_t *b)
{
    char fam[256];
    for (size_t i = 0; i < b->r->n_runs; i++) {
        const elm_record_t *rec = &b->r->runs[i];
        if (rec->is_target) continue;
        elm__model_family(rec->model, rec->quant, fam, sizeof fam);
        size_t had = b->fam.n;
        int f = elm__labels_add(&b->fam, fam);
        if (f < 0) return ELM_ENOMEM;
        if (b->fam.n > had) {
            double *p = realloc(b->fam_params, b->fam.n * sizeof *p);
            if (!p) return ELM_ENOMEM;
            b->fam_params = p;
            p[f] = 0;
        }
        b->fam_params[f] = fmax(b->fam_params[f], elm__model_params(rec));
    }
    return 0;
}

/* A run's reason for a caption: one cut short by the record's field ends at its last whole
 * clause. */
static void whole_why(const char *why, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", why);
    if (strlen(why) + 1 < sizeof((elm_stat_t *)0)->why) return;
    char *semi = strrchr(buf, ';');
    if (semi) snprintf(semi, cap - (size_t)(semi - buf), " ...");
}

/* ---- the grid ---- */

static bool grid_takes(const elm__bench_t *b, const elm_record_t *rec)
{
    if (b->dev && strcmp(rec->device, b->dev) != 0) return false;
    if (rec->is_target) return b->oom && target_oom(rec);
    return !b->only || strcmp(rec->model, b->only) == 0;
}

/* Whether rec should replace cur in a cell: measured beats OOM, then the faster, then the newer
 * (the runs come oldest first). */
static bool better(const elm_record_t *rec, const elm_record_t *cur)
{
    if (!cur) return true;
    if (rec->is_target != cur->is_target) return !rec->is_target;
    if (rec->gen_tps.valid != cur->gen_tps.valid) return rec->gen_tps.valid;
    return !rec->gen_tps.valid || rec->gen_tps.mean >= cur->gen_tps.mean;
}

int elm__grid_build(elm__grid_t *g, const elm__bench_t *b, elm__key_fn cat, elm__key_fn ser,
                    elm__order_fn order)
{
    const elm__report_t *r = b->r;
    char key[640];
    *g = (elm__grid_t){0};
    size_t cap = 0;
    for (size_t i = 0; i < r->n_runs; i++) {
        const elm_record_t *rec = &r->runs[i];
        if (!grid_takes(b, rec)) continue;
        cat(b, rec, key, sizeof key);
        size_t had = g->cat.n;
        int c = elm__labels_add(&g->cat, key);
        if (c < 0) goto fail;
        if (g->cat.n > cap) {
            cap = g->cat.cap;
            double *o = realloc(g->order, cap * sizeof *o);
            if (!o) goto fail;
            g->order = o;
        }
        double k = order(b, rec);
        if (g->cat.n > had || k < g->order[c]) g->order[c] = k;
        ser(b, rec, key, sizeof key);
        if (elm__labels_add(&g->ser, key) < 0) goto fail;
    }
    /* categories by order, then by name (insertion sort: a few dozen at most) */
    for (size_t i = 1; i < g->cat.n; i++) {
        double k = g->order[i];
        char *s = g->cat.s[i];
        size_t j = i;
        for (; j > 0 &&
               (g->order[j - 1] > k || (g->order[j - 1] == k && strcmp(g->cat.s[j - 1], s) > 0));
             j--) {
            g->order[j] = g->order[j - 1];
            g->cat.s[j] = g->cat.s[j - 1];
        }
        g->order[j] = k;
        g->cat.s[j] = s;
    }
    if (g->cat.n && !(g->cell = calloc(g->cat.n * g->ser.n, sizeof *g->cell))) goto fail;
    for (size_t i = 0; i < r->n_runs; i++) {
        const elm_record_t *rec = &r->runs[i];
        if (!grid_takes(b, rec)) continue;
        cat(b, rec, key, sizeof key);
        int c = elm__labels_find(&g->cat, key);
        ser(b, rec, key, sizeof key);
        int s = elm__labels_find(&g->ser, key);
        const elm_record_t **cell = &g->cell[(size_t)s * g->cat.n + (size_t)c];
        if (better(rec, *cell)) *cell = rec;
    }
    return 0;
fail:
    elm__grid_free(g);
    return ELM_ENOMEM;
}

void elm__grid_free(elm__grid_t *g)
{
    elm__labels_free(&g->cat);
    elm__labels_free(&g->ser);
    free(g->order);
    free(g->cell);
    *g = (elm__grid_t){0};
}

const elm_record_t *elm__grid_at(const elm__grid_t *g, size_t s, size_t c)
{
    return g->cell[s * g->cat.n + c];
}

double elm__val(const elm__val_t *v, const elm_record_t *rec, double *err, const char **why)
{
    *err = NAN;
    *why = NULL;
    if (rec->is_target) {
        *why = "OOM";
        return NAN;
    }
    if (v->fn) return v->fn(rec, err, why);
    const elm_stat_t *s = (const elm_stat_t *)(const void *)((const char *)rec + v->off);
    if (!s->valid) {
        *why = s->why[0] ? s->why : "not recorded";
        return NAN;
    }
    if (s->n > 1) *err = s->sd * v->scale;
    return s->mean * v->scale;
}

bool elm__grid_any(const elm__grid_t *g, const elm__val_t *v)
{
    double err;
    const char *why;
    for (size_t i = 0; i < g->cat.n * g->ser.n; i++)
        if (g->cell[i] && isfinite(elm__val(v, g->cell[i], &err, &why))) return true;
    return false;
}

const char *elm__grid_why(const elm__grid_t *g, const elm__val_t *v)
{
    double err;
    const char *why = NULL;
    for (size_t i = 0; i < g->cat.n * g->ser.n && !why; i++)
        if (g->cell[i]) elm__val(v, g->cell[i], &err, &why);
    return why;
}

bool elm__grid_wide(const elm__grid_t *g, const elm__val_t *v, size_t nv)
{
    double lo = HUGE_VAL, hi = 0, err;
    const char *why;
    for (size_t k = 0; k < nv; k++)
        for (size_t i = 0; i < g->cat.n * g->ser.n; i++) {
            double y = g->cell[i] ? elm__val(&v[k], g->cell[i], &err, &why) : NAN;
            if (!(y > 0)) continue;
            if (y < lo) lo = y;
            if (y > hi) hi = y;
        }
    return hi > 0 && hi / lo > 100;
}

void elm__fig_none(const elm__bench_t *b, const elm__val_t *v, const char *what, const char *cmd)
{
    char text[512];
    double err;
    const char *why = NULL;
    for (size_t i = 0; i < b->r->n_runs && !why; i++)
        if (!b->r->runs[i].is_target) elm__val(v, &b->r->runs[i], &err, &why);
    char w[256] = "";
    if (why) whole_why(why, w, sizeof w);
    snprintf(text, sizeof text, "%s%s%s", what, why ? ": " : "", w);
    stop(text, sizeof text);
    elm__fig_missing(b->r, text, cmd);
}

/* A reason short enough to sit under a bar: up to the first parenthesis or semicolon. */
static void short_why(const char *why, char *buf, size_t cap)
{
    size_t n = strcspn(why, "(;");
    while (n && (why[n - 1] == ' ' || why[n - 1] == ':' || why[n - 1] == ','))
        n--;
    if (n + 1 > cap) {
        snprintf(buf, cap, "%.*s...", (int)(cap - 4), why);
        return;
    }
    snprintf(buf, cap, "%.*s", (int)n, why);
}

int elm__add_rows(elm_plot_t *p, const elm__grid_t *g, const elm__val_t *v, const elm__rows_t *o,
                  elm__labels_t *why)
{
    enum { NOTE = 32 };
    size_t n = g->cat.n, m = n ? n : 1; /* m: malloc(0) may be NULL */
    int rc = ELM_ENOMEM;
    double *y = malloc(2 * m * sizeof *y);
    const char **note = malloc(m * sizeof *note);
    char *nb = malloc(m * NOTE);
    if (!y || !note || !nb) goto fail;
    double *err = y + n;
    char name[640];
    for (size_t s = 0; s < g->ser.n; s++) {
        for (size_t c = 0; c < n; c++) {
            const elm_record_t *rec = elm__grid_at(g, s, c);
            const char *w = "no run";
            y[c] = rec ? elm__val(v, rec, &err[c], &w) : (err[c] = NAN);
            note[c] = "";
            if (isfinite(y[c])) continue;
            if (!o->quiet) {
                short_why(w, nb + c * NOTE, NOTE);
                note[c] = nb + c * NOTE;
            }
            whole_why(w, name, sizeof name);
            if (rec && why && elm__labels_add(why, name) < 0) goto fail;
        }
        const char *suf = o->suffix ? o->suffix : "";
        if (!g->ser.s[s][0]) suf += strspn(suf, " "); /* one unnamed series: the suffix alone */
        snprintf(name, sizeof name, "%s%s", g->ser.s[s], suf);
        elm_plot_series_t ps = {.name = name,
                                .kind = o->kind,
                                .side = o->side,
                                .n = n,
                                .x = o->x,
                                .y = y,
                                .err = err,
                                .note = note,
                                .color = o->color0 + (int)s};
        if ((rc = elm_plot_add(p, &ps))) goto fail;
    }
    rc = 0;
fail:
    free(y);
    free(note);
    free(nb);
    return rc;
}

elm_plot_t *elm__chart_cats(const elm__grid_t *g, const char *title, const char *xlabel,
                            const char *ylabel, bool log)
{
    return elm__chart_new(title, xlabel, g->cat.n, (const char *const *)g->cat.s, ylabel, log);
}

int elm__per_device(elm__bench_t *b, elm__key_fn cat, elm__key_fn ser, elm__order_fn order,
                    const elm__val_t *vals, size_t nv, elm__draw_fn draw, void *user,
                    elm__labels_t *why)
{
    int rc = 0;
    elm__grid_t g = {0};
    char text[512], whole[256];
    for (size_t d = 0; d < b->md->ser.n && !rc; d++) {
        b->dev = b->md->ser.s[d];
        if ((rc = elm__grid_build(&g, b, cat, ser, order))) break;
        bool any = false;
        for (size_t k = 0; k < nv; k++)
            any = any || elm__grid_any(&g, &vals[k]);
        if (any) {
            rc = draw(b, &g, user);
        } else if (g.cat.n) {
            const char *w = elm__grid_why(&g, &vals[0]);
            whole_why(w ? w : "not recorded", whole, sizeof whole);
            snprintf(text, sizeof text, "%s: %s", b->dev, whole);
            if (elm__labels_add(why, text) < 0) rc = ELM_ENOMEM;
        }
        elm__grid_free(&g);
    }
    b->dev = NULL;
    return rc;
}

/* ---- captions ---- */

/* The distinct values of what over g's measured runs, joined by "; ". */
static void distinct(const elm__grid_t *g, void (*what)(const elm_record_t *, char *, size_t),
                     char *buf, size_t cap, size_t *n)
{
    elm__labels_t l = {0};
    char v[256];
    buf[0] = '\0';
    for (size_t i = 0; i < g->cat.n * g->ser.n; i++) {
        if (!g->cell[i] || g->cell[i]->is_target) continue;
        what(g->cell[i], v, sizeof v);
        if (elm__labels_find(&l, v) >= 0) continue;
        if (elm__labels_add(&l, v) < 0) break; /* a shorter caption, not a failure */
        add(buf, cap, "%s%s", l.n > 1 ? "; " : "", v);
    }
    *n = l.n;
    elm__labels_free(&l);
}

static void what_device(const elm_record_t *rec, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", rec->device);
}

static void what_build(const elm_record_t *rec, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s (%s)", rec->version, rec->git_hash[0] ? rec->git_hash : "unknown");
}

static void what_reps(const elm_record_t *rec, char *buf, size_t cap)
{
    snprintf(buf, cap, "%u", (unsigned)rec->reps);
}

static void what_tokens(const elm_record_t *rec, char *buf, size_t cap)
{
    snprintf(buf, cap, "%u prompt / %u generated", (unsigned)rec->n_prompt, (unsigned)rec->n_gen);
}

static void grid_facts(const elm__grid_t *g, char *buf, size_t cap)
{
    char t[512];
    size_t n, runs = 0;
    for (size_t i = 0; i < g->cat.n * g->ser.n; i++)
        runs += g->cell[i] && !g->cell[i]->is_target;
    buf[0] = '\0';
    distinct(g, what_device, t, sizeof t, &n);
    add(buf, cap, "%zu run%s shown, measured on %s; ", runs, runs == 1 ? "" : "s", t);
    distinct(g, what_build, t, sizeof t, &n);
    add(buf, cap, "build%s %s; ", n == 1 ? "" : "s", t);
    distinct(g, what_reps, t, sizeof t, &n);
    add(buf, cap, "%s repetition%s each after a warm-up; ", t, strcmp(t, "1") ? "s" : "");
    distinct(g, what_tokens, t, sizeof t, &n);
    add(buf, cap, "%s tokens.", t);
}

/* Whether another reason of why says reason i for a device ("device: reason"). */
static bool said_for_device(const elm__labels_t *why, size_t i)
{
    size_t n = strlen(why->s[i]);
    for (size_t j = 0; j < why->n; j++) {
        size_t m = strlen(why->s[j]);
        if (m > n + 2 && strcmp(why->s[j] + m - n, why->s[i]) == 0 &&
            strncmp(why->s[j] + m - n - 2, ": ", 2) == 0)
            return true;
    }
    return false;
}

static void why_text(const elm__labels_t *why, char *buf, size_t cap)
{
    buf[0] = '\0';
    for (size_t i = 0; i < why->n; i++)
        if (strcmp(why->s[i], "OOM") != 0 && !said_for_device(why, i))
            add(buf, cap, "%s%s", buf[0] ? "; " : " Unavailable: ", why->s[i]);
    if (buf[0]) stop(buf, cap);
}

void elm__caption(elm__report_t *r, const elm__grid_t *g, const elm__labels_t *why, const char *fmt,
                  ...)
{
    char text[1024], facts[1024], w[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    grid_facts(g, facts, sizeof facts);
    why_text(why, w, sizeof w);
    elm__fig_caption(r, "%s %s%s", text, facts, w);
}

/* ---- 1. generation speed and TTFT ---- */

static int fig_speed(elm__bench_t *b)
{
    elm__report_t *r = b->r;
    const elm__grid_t *g = b->md;
    elm__labels_t why = {0};
    int rc = 0;
    elm__fig_begin(r, "fig-speed", "Generation speed and TTFT by model", "Edge-First Fig. 3 (top)");
    if (!b->n_runs) {
        elm__fig_missing(r, "No in-process bench runs in the store.", ELM__CMD_BENCH);
        goto done;
    }
    elm_plot_t *p =
        elm__chart_cats(g, NULL, "model (by parameters)", "generation (tokens/s)", false);
    elm_plot_axis_t right = {.label = "TTFT (s)", .min = NAN, .max = NAN};
    /* points in colours of their own: a bar's colour would hide them on it */
    const elm__rows_t ttft = {.kind = ELM_PLOT_POINT,
                              .side = ELM_PLOT_RIGHT,
                              .suffix = " TTFT",
                              .color0 = (int)g->ser.n,
                              .quiet = true};
    rc = ELM_ENOMEM;
    if (!p || elm_plot_y(p, ELM_PLOT_RIGHT, &right) ||
        elm_plot_hline(p, ELM_PLOT_LEFT, ELM_READING_TOK_PER_S,
                       "human reading speed 5.3 tokens/s") ||
        elm__add_rows(p, g, &ELM__STAT(gen_tps, 1), &(elm__rows_t){.kind = ELM_PLOT_BAR}, &why) ||
        elm__add_rows(p, g, &ELM__STAT(ttft_ms, 1e-3), &ttft, &why)) {
        elm_plot_free(p);
        goto done;
    }
    if ((rc = elm__fig_chart(r, p))) goto done;
    elm__caption(r, g, &why,
                 "Bars: generation tokens/s (after the first token) per device, left axis; "
                 "points: warm time to first token (prefill start to first token) in seconds, "
                 "right axis; error bars ±1 sd. Models ordered by parameter count. Where several "
                 "runs share a bar (thread counts, settings), the one with the highest "
                 "generation speed is shown.%s",
                 elm__labels_find(&why, "OOM") >= 0
                     ? " OOM: an HTTP target run (bench --target) of the model failed for memory "
                       "on that device."
                     : "");
done:
    elm__labels_free(&why);
    elm__fig_end(r);
    return rc;
}

/* ---- 2. energy per query and average power ---- */

/* Average watts while generating, else the whole response's energy over its time. */
static double avg_watts(const elm_record_t *rec, double *err, const char **why)
{
    const elm_stat_t *w = &rec->energy[ELM_REC_GEN].avg_w;
    if (w->valid) {
        *err = w->n > 1 ? w->sd : NAN;
        return w->mean;
    }
    if (rec->energy_j.valid && rec->e2e_ms.valid && rec->e2e_ms.mean > 0)
        return rec->energy_j.mean / (rec->e2e_ms.mean / 1000);
    *why = w->why[0] ? w->why : "not recorded";
    return NAN;
}

/* The power sources of g's runs for the caption. */
static void what_power(const elm_record_t *rec, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s%s", rec->power_source, rec->power_estimated ? " (estimated)" : "");
}

static int fig_energy(elm__bench_t *b)
{
    elm__report_t *r = b->r;
    const elm__grid_t *g = b->md;
    const elm__val_t wh = ELM__STAT(energy_j, 1.0 / 3600);
    elm__labels_t why = {0};
    int rc = 0;
    elm__fig_begin(r, "fig-energy", "Energy per query and average power by model",
                   "Edge-First Fig. 3 (bottom)");
    if (!elm__grid_any(g, &wh)) {
        elm__fig_none(b, &wh, "No energy measurements in the store", ELM__CMD_ENERGY);
        goto done;
    }
    elm_plot_t *p =
        elm__chart_cats(g, NULL, "model (by parameters)", "energy per query (Wh)", false);
    elm_plot_axis_t right = {.label = "average power (W)", .min = NAN, .max = NAN};
    const elm__val_t watts = {.fn = avg_watts};
    const elm__rows_t pts = {.kind = ELM_PLOT_POINT,
                             .side = ELM_PLOT_RIGHT,
                             .suffix = " W",
                             .color0 = (int)g->ser.n,
                             .quiet = true};
    rc = ELM_ENOMEM;
    if (!p || elm_plot_y(p, ELM_PLOT_RIGHT, &right) ||
        elm__add_rows(p, g, &wh, &(elm__rows_t){.kind = ELM_PLOT_BAR}, &why) ||
        elm__add_rows(p, g, &watts, &pts, &why)) {
        elm_plot_free(p);
        goto done;
    }
    if ((rc = elm__fig_chart(r, p))) goto done;
    char src[256];
    size_t n;
    distinct(g, what_power, src, sizeof src, &n);
    elm__caption(r, g, &why,
                 "Bars: energy of one query (its prefill and generation; the model load not "
                 "included) in Wh per device, left axis; points: "
                 "average power while generating in W, right axis. The same runs as figure 1 "
                 "(the fastest per model and device). Power source%s: %s.",
                 n == 1 ? "" : "s", src);
done:
    elm__labels_free(&why);
    elm__fig_end(r);
    return rc;
}

/* ---- all of them ---- */

int elm__report_bench(elm__report_t *r)
{
    elm__grid_t md = {0};
    elm__labels_t dev = {0};
    elm__bench_t b = {.r = r, .md = &md};
    int rc = ELM_ENOMEM;
    for (size_t i = 0; i < r->n_runs; i++) {
        if (r->runs[i].is_target) continue;
        b.n_runs++;
        if (elm__labels_add(&dev, r->runs[i].device) < 0) goto fail;
    }
    b.multi_dev = dev.n > 1;
    b.oom = true;
    if ((rc = families(&b)) ||
        (rc = elm__grid_build(&md, &b, elm__key_model, elm__key_device, elm__order_params)))
        goto fail;
    b.oom = false;
    if ((rc = fig_speed(&b)) || (rc = fig_energy(&b)) || (rc = elm__fig_memory(&b)) ||
        (rc = elm__fig_timeline(&b)) || (rc = elm__fig_threads(&b)) || (rc = elm__fig_perf(&b)) ||
        (rc = elm__fig_phases(&b)) || (rc = elm__fig_ttft(&b)) ||
        (rc = elm__fig_energy_token(&b)) || (rc = elm__fig_action(&b)))
        goto fail;
    rc = 0;
fail:
    elm__grid_free(&md);
    elm__labels_free(&dev);
    elm__labels_free(&b.fam);
    free(b.fam_params);
    return rc;
}
