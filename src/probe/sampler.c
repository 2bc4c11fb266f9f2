/* The sampler: one thread reads every power source each interval; phase marks split the run
 * into named phases, each with energy (counter difference when the source has a counter, else
 * the trapezoidal rule over the watts samples), average and peak watts, and peak RSS. A manual
 * mode with an injected clock runs without a thread so tests can check the integration exactly. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "probe_internal.h"

typedef struct {
    double e0, e_last, e_trap, peak;
    bool peak_valid, has_w, has_e, broken;
    uint32_t n;
    char why[160];
} acc_t;

typedef struct {
    bool have;
    uint64_t t;
    double w, e;
} last_t;

struct elm_probe_sampler {
    elm_power_source_t *src[ELM_PROBE_MAX_SOURCES];
    int n;
    elm_probe_sampler_opts_t opts;
    uint32_t interval_ms;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool thread_on, stop, started;
    last_t last[ELM_PROBE_MAX_SOURCES];
    char err[ELM_PROBE_MAX_SOURCES][192];
    uint64_t t_last;
    int n_phases, cur;
    struct {
        char name[32];
        uint64_t t0, t1;
        bool open;
        acc_t acc[ELM_PROBE_MAX_SOURCES];
        uint64_t peak_rss;
        bool rss_valid;
        char rss_why[160];
    } ph[ELM_PROBE_MAX_PHASES];
    /* RSS timeline: one point every tl_stride samples; halved (every other point kept) when
     * full, so any run fits in ELM_PROBE_RSS_POINTS points spread over all of it. */
    float tl_t_ms[ELM_PROBE_RSS_POINTS];
    double tl_rss[ELM_PROBE_RSS_POINTS];
    uint32_t tl_n, tl_stride, tl_count;
    uint64_t tl_t0;
    bool tl_started;
};

/* Add one RSS sample at t to the timeline. Caller holds mu. */
static void timeline_add(elm_probe_sampler_t *s, uint64_t t, uint64_t rss)
{
    if (!s->tl_started) {
        s->tl_started = true;
        s->tl_t0 = t;
        s->tl_stride = 1;
    }
    if (s->tl_count++ % s->tl_stride) return;
    if (s->tl_n == ELM_PROBE_RSS_POINTS) {
        for (uint32_t i = 0; i < ELM_PROBE_RSS_POINTS / 2; i++) {
            s->tl_t_ms[i] = s->tl_t_ms[2 * i];
            s->tl_rss[i] = s->tl_rss[2 * i];
        }
        s->tl_n = ELM_PROBE_RSS_POINTS / 2;
        s->tl_stride *= 2;
        if ((s->tl_count - 1) % s->tl_stride) return;
    }
    s->tl_t_ms[s->tl_n] = (float)((double)(t - s->tl_t0) / 1e6);
    s->tl_rss[s->tl_n++] = (double)rss;
}

static uint64_t now_ns(const elm_probe_sampler_t *s)
{
    return s->opts.clock ? s->opts.clock(s->opts.clock_user) : elm_time_ns();
}

/* Read every source at time t and fold the readings into the running phase. Caller holds mu. */
static void sample_locked(elm_probe_sampler_t *s, uint64_t t)
{
    s->t_last = t;
    for (int i = 0; i < s->n; i++) {
        elm_power_reading_t r;
        elm_diag_t d;
        elm_diag_clear(&d);
        last_t *l = &s->last[i];
        acc_t *a = s->cur >= 0 ? &s->ph[s->cur].acc[i] : NULL;
        if (elm_power_read(s->src[i], &r, &d)) {
            if (!s->err[i][0]) elm__fmt(s->err[i], sizeof s->err[i], "%s", d.msg);
            if (a && !a->broken) {
                a->broken = true;
                snprintf(a->why, sizeof a->why, "sampling failed: %.140s", d.msg);
            }
            l->have = false;
            continue;
        }
        if (a && !a->broken) {
            a->n++;
            double dt = l->have && t > l->t ? (double)(t - l->t) * 1e-9 : 0;
            if (!isnan(r.energy_j)) {
                a->e_last = r.energy_j;
                if (isnan(r.watts) && dt > 0 && !isnan(l->e)) { /* counter only: interval average */
                    double w = (r.energy_j - l->e) / dt;
                    if (!a->peak_valid || w > a->peak) a->peak = w;
                    a->peak_valid = true;
                }
            }
            if (!isnan(r.watts)) {
                if (!a->peak_valid || r.watts > a->peak) a->peak = r.watts;
                a->peak_valid = true;
                if (dt > 0 && !isnan(l->w)) {
                    a->e_trap += 0.5 * (r.watts + l->w) * dt;
                    a->has_w = true;
                }
            }
        }
        l->have = true;
        l->t = t;
        l->w = r.watts;
        l->e = r.energy_j;
    }
    if (s->opts.sample_rss) {
        uint64_t rss;
        elm_diag_t d;
        int rc = elm_mem_rss(s->opts.ctx, &rss, &d);
        if (rc == 0) timeline_add(s, t, rss);
        if (s->cur >= 0 && rc == 0) {
            if (rss > s->ph[s->cur].peak_rss) s->ph[s->cur].peak_rss = rss;
            s->ph[s->cur].rss_valid = true;
        } else if (s->cur >= 0 && !s->ph[s->cur].rss_why[0]) {
            snprintf(s->ph[s->cur].rss_why, sizeof s->ph[0].rss_why, "%.150s", d.msg);
        }
    }
}

static void *sampler_main(void *arg)
{
    elm_probe_sampler_t *s = arg;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        sample_locked(s, now_ns(s));
        /* Deadlines step by the interval, so sampling does not drift by the time a read takes. */
        next.tv_nsec += (long)s->interval_ms * 1000000L;
        while (next.tv_nsec >= 1000000000L) next.tv_nsec -= 1000000000L, next.tv_sec++;
        while (!s->stop && pthread_cond_timedwait(&s->cv, &s->mu, &next) == 0) {}
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int elm_probe_sampler_create(elm_power_source_t *const *sources, int n, const elm_probe_sampler_opts_t *opts,
                       elm_probe_sampler_t **out, elm_diag_t *d)
{
    *out = NULL;
    if (n < 0 || n > ELM_PROBE_MAX_SOURCES || (n > 0 && !sources))
        return elm_diag(d, ELM_EINVAL, "sampler: %d sources (at most %d)", n, ELM_PROBE_MAX_SOURCES);
    elm_probe_sampler_opts_t o = opts ? *opts : (elm_probe_sampler_opts_t){0};
    uint32_t iv = o.interval_ms;
    if (iv == 0) {
        iv = ELM_PROBE_INTERVAL_DEFAULT_MS;
        for (int i = 0; i < n; i++)
            if (elm_power_default_interval_ms(sources[i]) > iv) iv = elm_power_default_interval_ms(sources[i]);
    }
    if (iv < ELM_PROBE_INTERVAL_MIN_MS || iv > 3600000)
        return elm_diag(d, ELM_EINVAL, "sampling interval %u ms is out of range (%d ms to 1 hour)", iv, ELM_PROBE_INTERVAL_MIN_MS);
    elm_probe_sampler_t *s = calloc(1, sizeof *s);
    if (!s) return elm_diag(d, ELM_ENOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        if (!sources[i]) {
            free(s);
            return elm_diag(d, ELM_EINVAL, "sampler: source %d is NULL", i);
        }
        s->src[i] = sources[i];
    }
    s->n = n;
    s->opts = o;
    s->interval_ms = iv;
    s->cur = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    *out = s;
    return ELM_OK;
}

uint32_t elm_probe_sampler_interval_ms(const elm_probe_sampler_t *s)
{
    return s->interval_ms;
}

int elm_probe_sampler_start(elm_probe_sampler_t *s, elm_diag_t *d)
{
    if (s->started) return elm_diag(d, ELM_EINVAL, "sampler already started");
    s->started = true;
    s->stop = false;
    if (s->opts.manual) return ELM_OK;
    int err = pthread_create(&s->thread, NULL, sampler_main, s);
    if (err) {
        s->started = false;
        return elm_diag(d, elm_from_errno(err), "sampler thread: %s", strerror(err));
    }
    s->thread_on = true;
    return ELM_OK;
}

int elm_probe_sampler_sample(elm_probe_sampler_t *s)
{
    pthread_mutex_lock(&s->mu);
    sample_locked(s, now_ns(s));
    pthread_mutex_unlock(&s->mu);
    return ELM_OK;
}

int elm_probe_mark(elm_probe_sampler_t *s, const char *phase)
{
    int rc = ELM_OK;
    pthread_mutex_lock(&s->mu);
    if (phase && s->n_phases == ELM_PROBE_MAX_PHASES) {
        rc = ELM_ERANGE;
        goto out;
    }
    uint64_t t = now_ns(s);
    sample_locked(s, t); /* the boundary sample closes one phase and opens the next */
    if (s->cur >= 0) {
        s->ph[s->cur].t1 = t;
        s->ph[s->cur].open = false;
        s->cur = -1;
    }
    if (!phase) goto out;
    int p = s->n_phases++;
    memset(&s->ph[p], 0, sizeof s->ph[p]);
    snprintf(s->ph[p].name, sizeof s->ph[p].name, "%s", phase);
    s->ph[p].t0 = s->ph[p].t1 = t;
    s->ph[p].open = true;
    for (int i = 0; i < s->n; i++) {
        acc_t *a = &s->ph[p].acc[i];
        const last_t *l = &s->last[i];
        if (!l->have) {
            a->broken = true;
            snprintf(a->why, sizeof a->why, "sampling failed: %.140s", s->err[i]);
            continue;
        }
        a->n = 1;
        a->e0 = a->e_last = l->e;
        a->has_e = !isnan(l->e);
        if (!isnan(l->w)) a->peak = l->w, a->peak_valid = true;
    }
    s->cur = p;
out:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int elm_probe_sampler_stop(elm_probe_sampler_t *s)
{
    if (!s->started) return ELM_OK;
    if (s->thread_on) {
        pthread_mutex_lock(&s->mu);
        s->stop = true;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
        s->thread_on = false;
    }
    s->started = false;
    return s->cur >= 0 ? elm_probe_mark(s, NULL) : ELM_OK;
}

int elm_probe_sampler_n_phases(elm_probe_sampler_t *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->n_phases;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static void invalid(elm_probe_fig_t *f, const char *why)
{
    f->valid = false;
    elm__fmt(f->why, sizeof f->why, "%s", why);
}

static void valid(elm_probe_fig_t *f, double v)
{
    f->valid = true;
    f->value = v;
}

int elm_probe_sampler_phase(elm_probe_sampler_t *s, int i, elm_phase_t *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->mu);
    if (i < 0 || i >= s->n_phases) {
        pthread_mutex_unlock(&s->mu);
        return ELM_ERANGE;
    }
    snprintf(out->name, sizeof out->name, "%s", s->ph[i].name);
    out->open = s->ph[i].open;
    uint64_t t1 = out->open ? s->t_last : s->ph[i].t1;
    out->seconds = (double)(t1 - s->ph[i].t0) * 1e-9;
    if (!s->opts.sample_rss)
        invalid(&out->peak_rss_bytes, "RSS not sampled");
    else if (s->ph[i].rss_valid)
        valid(&out->peak_rss_bytes, (double)s->ph[i].peak_rss);
    else
        invalid(&out->peak_rss_bytes, s->ph[i].rss_why);
    out->n_sources = s->n;
    for (int k = 0; k < s->n; k++) {
        const acc_t *a = &s->ph[i].acc[k];
        elm_phase_power_t *p = &out->src[k];
        p->n_samples = a->n;
        p->estimated = elm_power_estimated(s->src[k]);
        if (a->broken) {
            invalid(&p->energy_j, a->why);
            invalid(&p->avg_w, a->why);
            invalid(&p->peak_w, a->why);
            continue;
        }
        if (a->has_e)
            valid(&p->energy_j, a->e_last - a->e0);
        else if (a->has_w)
            valid(&p->energy_j, a->e_trap);
        else
            invalid(&p->energy_j, a->peak_valid ? "no interval between two samples in the phase (it lasted 0 s)"
                                                : "no sample had a power figure");
        if (p->energy_j.valid && out->seconds > 0)
            valid(&p->avg_w, p->energy_j.value / out->seconds);
        else
            invalid(&p->avg_w, p->energy_j.valid ? "phase lasted 0 s" : p->energy_j.why);
        if (a->peak_valid)
            valid(&p->peak_w, a->peak);
        else
            invalid(&p->peak_w, "no interval between two samples in the phase");
    }
    pthread_mutex_unlock(&s->mu);
    return ELM_OK;
}

const char *elm_probe_sampler_error(elm_probe_sampler_t *s, int i)
{
    return i >= 0 && i < s->n ? s->err[i] : "";
}

void elm_probe_sampler_free(elm_probe_sampler_t *s)
{
    if (!s) return;
    elm_probe_sampler_stop(s);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

uint32_t elm_probe_sampler_rss_timeline(elm_probe_sampler_t *s, float *t_ms, double *bytes,
                                        uint32_t cap)
{
    pthread_mutex_lock(&s->mu);
    uint32_t n = s->tl_n < cap ? s->tl_n : cap;
    memcpy(t_ms, s->tl_t_ms, n * sizeof *t_ms);
    memcpy(bytes, s->tl_rss, n * sizeof *bytes);
    pthread_mutex_unlock(&s->mu);
    return n;
}
