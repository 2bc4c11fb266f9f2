/* `edgelm probe`: what this device can measure — every power source with "available" or the
 * reason it is not, perf counters supported or not, memory and system facts — and, with
 * --sample, a short power measurement per source. EDGELM_SYSFS_ROOT, EDGELM_VCGENCMD and
 * EDGELM_NVPMODEL are read here, never in the library. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "edgelm/probe.h"

static const char head_text[] =
    "usage: edgelm probe [--json] [--sample SECONDS] [--interval MS] [--power SOURCE]\n"
    "                    [--watts W] [--tdp W] [--power-cmd COMMAND]\n"
    "\n"
    "List what this device can measure: every power source (available, or why not), the perf\n"
    "counters (supported, or why not), peak and current RSS, and system facts (CPU, ISA,\n"
    "governor and frequency per CPU, board, kernel). A figure that cannot be measured is shown\n"
    "as unavailable with the reason, never as 0.\n";

static const char tail_text[] = "environment:\n" ELM_CLI_PROBE_ENV_HELP;

typedef struct {
    bool json, only; /* only: --power named the one source to list */
    double sample_s;
    int64_t interval_ms;
    elm_power_kind_t kind;
    elm_probe_ctx_t ctx;
} args_t;

/* Returns ELM_CLI_GO, or the exit status of --help or a usage error. */
static int parse_args(args_t *a, int argc, char **argv)
{
    *a = (args_t){.kind = ELM_POWER_KIND_COUNT};
    elm_opt_t opts[] = {
        ELM_OPT_FLAG("--json", NULL, &a->json, "one JSON object on stdout instead of text"),
        ELM_OPT_POS("--sample", NULL, "SECONDS", &a->sample_s, 0, 3600,
                    "measure power for SECONDS (up to 3600) with every available source\n"
                    "(or only --power's) and print energy J, average and peak W"),
        ELM_OPT_I64("--interval", NULL, "MS", &a->interval_ms, ELM_PROBE_INTERVAL_MIN_MS, 3600000,
                    "sampling interval (default 50 ms, 100 ms with a Pi 5; at least 10)"),
        ELM_CLI_POWER_OPTS(&a->kind, &a->ctx,
                           "only this source: rapl, hwmon, jetson, rpi5, nvml, cmd, constant,\n"
                           "estimate (estimate needs --tdp and is always labeled estimated)"),
        ELM_OPT_END,
    };
    elm_cli_spec_t spec = {.cmd = "probe", .head = head_text, .opts = opts, .tail = tail_text};
    int rc = elm_cli_parse(&spec, argc, argv, NULL);
    if (rc != ELM_CLI_GO) return rc;
    a->only = elm_cli_given(&spec, "--power");
    elm_cli_probe_env(&a->ctx);
    return elm_cli_power_check("probe", a->only, a->kind, &a->ctx);
}

/* ---- gathering ---- */

typedef struct {
    elm_power_source_t *src[ELM_POWER_KIND_COUNT];
    elm_diag_t why[ELM_POWER_KIND_COUNT];
    bool listed[ELM_POWER_KIND_COUNT];
} sources_t;

static void open_sources(const args_t *a, sources_t *s)
{
    memset(s, 0, sizeof *s);
    for (int k = 0; k < ELM_POWER_KIND_COUNT; k++) {
        if (a->only && k != (int)a->kind) continue;
        s->listed[k] = true;
        elm_power_open((elm_power_kind_t)k, &a->ctx, &s->src[k], &s->why[k]);
    }
}

static void close_sources(sources_t *s)
{
    for (int k = 0; k < ELM_POWER_KIND_COUNT; k++)
        elm_power_close(s->src[k]);
}

/* Run the sampler over the open sources for a->sample_s; fills *ph. Returns ELM_CLI_GO or the
 * exit status. */
static int sample(const args_t *a, sources_t *s, elm_power_source_t **used, int *n_used,
                  elm_phase_t *ph, uint32_t *interval)
{
    *n_used = 0;
    for (int k = 0; k < ELM_POWER_KIND_COUNT; k++)
        if (s->src[k]) used[(*n_used)++] = s->src[k];
    if (*n_used == 0) {
        if (a->only)
            fprintf(stderr, "edgelm: cannot sample with %s: %s\n", elm_power_kind_name(a->kind),
                    s->why[a->kind].msg);
        else
            fprintf(stderr, "edgelm: no power source is available here (see 'edgelm probe'); "
                            "--watts W or --power-cmd CMD give one\n");
        return 1;
    }
    elm_probe_sampler_opts_t o = {
        .interval_ms = (uint32_t)a->interval_ms, .sample_rss = true, .ctx = &a->ctx};
    elm_probe_sampler_t *sp;
    elm_diag_t d;
    int rc = elm_probe_sampler_create(used, *n_used, &o, &sp, &d);
    if (!rc) rc = elm_probe_sampler_start(sp, &d);
    if (rc) {
        elm_probe_sampler_free(sp);
        return elm_cli_fail(&d, rc);
    }
    *interval = elm_probe_sampler_interval_ms(sp);
    elm_probe_mark(sp, "sample");
    double t = a->sample_s;
    struct timespec ts = {(time_t)t, (long)((t - (double)(time_t)t) * 1e9)};
    while (nanosleep(&ts, &ts) && errno == EINTR) {
    }
    elm_probe_sampler_stop(sp);
    elm_probe_sampler_phase(sp, 0, ph);
    elm_probe_sampler_free(sp);
    return ELM_CLI_GO;
}

/* ---- text ---- */

static void print_fig(const char *label, const elm_probe_fig_t *f, const char *unit)
{
    if (!f->valid)
        printf("  %-18s unavailable: %s\n", label, f->why);
    else if (f->text[0])
        printf("  %-18s %s\n", label, f->text);
    else
        printf("  %-18s %g%s\n", label, f->value, unit);
}

static void print_bytes(const char *label, int rc, uint64_t b, const elm_diag_t *d)
{
    char buf[32];
    if (rc)
        printf("  %-18s unavailable: %s\n", label, d->msg);
    else
        printf("  %-18s %s\n", label, elm_cli_bytes(b, buf, sizeof buf));
}

/* Whether a source that measures (not one the user supplied) is available. */
static bool any_sensor(const sources_t *s)
{
    for (int k = 0; k < ELM_POWER_KIND_COUNT; k++)
        if (s->src[k] && k != ELM_POWER_CMD && k != ELM_POWER_CONSTANT && k != ELM_POWER_ESTIMATE)
            return true;
    return false;
}

static void text_sources(const sources_t *s, bool only)
{
    printf("power sources:\n");
    for (int k = 0; k < ELM_POWER_KIND_COUNT; k++) {
        if (!s->listed[k]) continue;
        const elm_power_source_t *p = s->src[k];
        if (!p) {
            printf("  %-10s unavailable: %s\n", elm_power_kind_name((elm_power_kind_t)k),
                   s->why[k].msg);
            continue;
        }
        printf("  %-10s available%s: %s\n", elm_power_kind_name((elm_power_kind_t)k),
               elm_power_estimated(p) ? " (estimated)" : "", elm_power_detail(p));
        printf("  %-10s channels:", "");
        for (int c = 0; c < elm_power_n_channels(p); c++)
            printf("%s %s", c ? "," : "", elm_power_channel(p, c));
        printf("\n");
    }
    if (!only && !any_sensor(s))
        printf(
            "  => no power sensor on this machine: energy cannot be measured here (--watts W or\n"
            "     --power-cmd CMD supply a figure; --power estimate --tdp W estimates one)\n");
}

static void text_perf(void)
{
    elm_perf_t *p;
    elm_diag_t d;
    printf("perf counters:\n");
    if (elm_perf_open(&p, &d)) {
        printf("  unsupported: %s\n", d.msg);
        return;
    }
    for (int e = 0; e < ELM_PERF_COUNT; e++) {
        const char *why;
        bool ok = elm_perf_supported(p, (elm_perf_event_t)e, &why);
        printf("  %-18s %s\n", elm_perf_event_name((elm_perf_event_t)e), ok ? "supported" : why);
    }
    elm_perf_close(p);
}

static void text_system(const elm_sys_info_t *si)
{
    printf("system:\n");
    print_fig("cpu", &si->cpu_model, "");
    print_fig("cpus", &si->n_cpus, "");
    print_fig("isa", &si->isa, "");
    print_fig("kernel", &si->kernel, "");
    print_fig("board", &si->board, "");
    print_fig("raspberry pi", &si->pi_model, "");
    print_fig("jetson", &si->jetson_model, "");
    print_fig("nvpmodel", &si->nvpmodel, "");
    if (!si->cpufreq.valid) print_fig("cpufreq", &si->cpufreq, "");
    for (int i = 0; i < si->n_freq; i++) {
        char label[32], gov[160], mhz[200];
        snprintf(label, sizeof label, "cpu%d", si->freq[i].cpu);
        snprintf(gov, sizeof gov, "%s",
                 si->freq[i].governor.valid ? si->freq[i].governor.text : "governor unavailable");
        if (si->freq[i].cur_mhz.valid)
            snprintf(mhz, sizeof mhz, "%.0f MHz", si->freq[i].cur_mhz.value);
        else
            snprintf(mhz, sizeof mhz, "frequency unavailable: %.150s", si->freq[i].cur_mhz.why);
        printf("  %-18s %s, %s\n", label, gov, mhz);
    }
}

static void text_fig_w(const char *sep, const char *label, const elm_probe_fig_t *f,
                       const char *unit, const char *est)
{
    if (f->valid)
        printf("%s%s %.3f %s%s", sep, label, f->value, unit, est);
    else
        printf("%s%s unavailable (%s)", sep, label, f->why);
}

static void text_sample(elm_power_source_t *const *used, int n, const elm_phase_t *ph,
                        uint32_t interval)
{
    printf("sample: %.2f s at %u ms\n", ph->seconds, interval);
    for (int i = 0; i < n; i++) {
        const elm_phase_power_t *p = &ph->src[i];
        const char *est = p->estimated ? " (estimated)" : "";
        printf("  %-10s", elm_power_kind_name(elm_power_kind(used[i])));
        text_fig_w(" ", "energy", &p->energy_j, "J", est);
        text_fig_w(", ", "avg", &p->avg_w, "W", est);
        text_fig_w(", ", "peak", &p->peak_w, "W", est);
        printf(" (%u samples)\n", p->n_samples);
    }
    char buf[32];
    if (ph->peak_rss_bytes.valid)
        printf("  peak RSS while sampling: %s\n",
               elm_cli_bytes((uint64_t)ph->peak_rss_bytes.value, buf, sizeof buf));
}

/* ---- JSON ---- */

/* A figure: its number or text, or {"unavailable": reason}. */
static void json_fig(cJSON *o, const char *key, const elm_probe_fig_t *f)
{
    if (!f->valid) {
        cJSON *u = cJSON_AddObjectToObject(o, key);
        cJSON_AddStringToObject(u, "unavailable", f->why);
    } else if (f->text[0]) {
        cJSON_AddStringToObject(o, key, f->text);
    } else {
        cJSON_AddNumberToObject(o, key, f->value);
    }
}

static void json_bytes(cJSON *o, const char *key, int rc, uint64_t b, const elm_diag_t *d)
{
    elm_probe_fig_t f = {.valid = rc == 0, .value = (double)b};
    if (rc) snprintf(f.why, sizeof f.why, "%.190s", d->msg);
    json_fig(o, key, &f);
}

static cJSON *json_sources(const sources_t *s)
{
    cJSON *arr = cJSON_CreateArray();
    for (int k = 0; k < ELM_POWER_KIND_COUNT; k++) {
        if (!s->listed[k]) continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "source", elm_power_kind_name((elm_power_kind_t)k));
        const elm_power_source_t *p = s->src[k];
        cJSON_AddBoolToObject(o, "available", p != NULL);
        if (!p) {
            cJSON_AddStringToObject(o, "reason", s->why[k].msg);
        } else {
            cJSON_AddStringToObject(o, "detail", elm_power_detail(p));
            cJSON_AddBoolToObject(o, "estimated", elm_power_estimated(p));
            cJSON_AddBoolToObject(o, "energy_counter", elm_power_has_energy(p));
            cJSON_AddNumberToObject(o, "default_interval_ms", elm_power_default_interval_ms(p));
            cJSON *ch = cJSON_AddArrayToObject(o, "channels");
            for (int c = 0; c < elm_power_n_channels(p); c++)
                cJSON_AddItemToArray(ch, cJSON_CreateString(elm_power_channel(p, c)));
        }
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

static cJSON *json_perf(void)
{
    cJSON *arr = cJSON_CreateArray();
    elm_perf_t *p = NULL;
    elm_diag_t d;
    int rc = elm_perf_open(&p, &d);
    for (int e = 0; e < ELM_PERF_COUNT; e++) {
        cJSON *o = cJSON_CreateObject();
        const char *why = d.msg;
        bool ok = !rc && elm_perf_supported(p, (elm_perf_event_t)e, &why);
        cJSON_AddStringToObject(o, "event", elm_perf_event_name((elm_perf_event_t)e));
        cJSON_AddBoolToObject(o, "supported", ok);
        if (!ok) cJSON_AddStringToObject(o, "reason", why);
        cJSON_AddItemToArray(arr, o);
    }
    elm_perf_close(p);
    return arr;
}

static cJSON *json_system(const elm_sys_info_t *si)
{
    cJSON *o = cJSON_CreateObject();
    json_fig(o, "cpu_model", &si->cpu_model);
    json_fig(o, "n_cpus", &si->n_cpus);
    json_fig(o, "isa", &si->isa);
    json_fig(o, "kernel", &si->kernel);
    json_fig(o, "board", &si->board);
    json_fig(o, "raspberry_pi", &si->pi_model);
    json_fig(o, "jetson", &si->jetson_model);
    json_fig(o, "nvpmodel", &si->nvpmodel);
    if (!si->cpufreq.valid) json_fig(o, "cpufreq", &si->cpufreq);
    cJSON *arr = cJSON_AddArrayToObject(o, "cpus");
    for (int i = 0; i < si->n_freq; i++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddNumberToObject(c, "cpu", si->freq[i].cpu);
        json_fig(c, "governor", &si->freq[i].governor);
        json_fig(c, "cur_mhz", &si->freq[i].cur_mhz);
        cJSON_AddItemToArray(arr, c);
    }
    return o;
}

static cJSON *json_sample(elm_power_source_t *const *used, int n, const elm_phase_t *ph,
                          uint32_t interval)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "seconds", ph->seconds);
    cJSON_AddNumberToObject(o, "interval_ms", interval);
    json_fig(o, "peak_rss_bytes", &ph->peak_rss_bytes);
    cJSON *arr = cJSON_AddArrayToObject(o, "sources");
    for (int i = 0; i < n; i++) {
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "source", elm_power_kind_name(elm_power_kind(used[i])));
        cJSON_AddBoolToObject(s, "estimated", ph->src[i].estimated);
        json_fig(s, "energy_j", &ph->src[i].energy_j);
        json_fig(s, "avg_w", &ph->src[i].avg_w);
        json_fig(s, "peak_w", &ph->src[i].peak_w);
        cJSON_AddNumberToObject(s, "samples", ph->src[i].n_samples);
        cJSON_AddItemToArray(arr, s);
    }
    return o;
}

/* ---- command ---- */

int elm_cmd_probe(int argc, char **argv)
{
    args_t a;
    int status = parse_args(&a, argc, argv);
    if (status != ELM_CLI_GO) return status;

    sources_t src;
    elm_power_source_t *used[ELM_POWER_KIND_COUNT];
    int n_used = 0;
    uint32_t interval = 0;
    elm_diag_t d, dpeak, drss;
    uint64_t peak = 0, rss = 0;
    open_sources(&a, &src);
    elm_phase_t *ph = a.sample_s > 0 ? calloc(1, sizeof *ph) : NULL;
    elm_sys_info_t *si = calloc(1, sizeof *si);
    if (!si || (a.sample_s > 0 && !ph)) {
        status = elm_cli_fail(NULL, ELM_ENOMEM);
        goto done;
    }
    if (ph && (status = sample(&a, &src, used, &n_used, ph, &interval)) != ELM_CLI_GO) goto done;
    elm_sys_info(&a.ctx, si, &d);
    int rc_peak = elm_mem_peak_rss(&a.ctx, &peak, &dpeak),
        rc_rss = elm_mem_rss(&a.ctx, &rss, &drss);

    status = 0;
    if (a.json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "power", json_sources(&src));
        cJSON_AddBoolToObject(o, "power_sensor", any_sensor(&src));
        cJSON_AddItemToObject(o, "perf", json_perf());
        cJSON *m = cJSON_AddObjectToObject(o, "memory");
        json_bytes(m, "peak_rss_bytes", rc_peak, peak, &dpeak);
        json_bytes(m, "rss_bytes", rc_rss, rss, &drss);
        cJSON_AddItemToObject(o, "system", json_system(si));
        if (ph) cJSON_AddItemToObject(o, "sample", json_sample(used, n_used, ph, interval));
        status = elm_cli_print_json(o);
    } else {
        text_sources(&src, a.only);
        text_perf();
        printf("memory:\n");
        print_bytes("peak RSS (VmHWM)", rc_peak, peak, &dpeak);
        print_bytes("current RSS", rc_rss, rss, &drss);
        text_system(si);
        if (ph) text_sample(used, n_used, ph, interval);
    }
done:
    free(si);
    free(ph);
    close_sources(&src);
    return status;
}
