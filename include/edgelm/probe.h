/* edgelm probes: what this device can measure while a model runs — power and energy sources
 * (RAPL, hwmon, Jetson INA3221, Raspberry Pi 5 PMIC, NVML, an external command, a constant, an
 * estimate), a sampler that integrates energy per phase, perf counters, memory and system facts.
 *
 * The availability rule: a figure that cannot be measured is never reported as 0. Every figure a
 * caller shows is an elm_probe_fig_t: `valid` with a value (and/or text), or not valid with the
 * reason in `why`. Raw power readings use NAN for "this source has no such quantity" (RAPL has
 * energy but no instantaneous watts); the sampler turns those into figures with reasons. */
#ifndef EDGELM_PROBE_H
#define EDGELM_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "edgelm/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- context and figures ---- */

/* Where probes look and what the user told them. All sysfs and /proc paths are read under
 * sysfs_root (NULL or "" means "/"), so tests run on fixture trees laid out like the real ones.
 * The library never reads environment variables: the CLI maps EDGELM_SYSFS_ROOT and
 * EDGELM_VCGENCMD into this struct. Strings are borrowed and must outlive the probes. */
typedef struct {
    const char *sysfs_root; /* default "/" */
    const char *vcgencmd;   /* Raspberry Pi 5 PMIC reader; default "vcgencmd" (searched in PATH) */
    const char *nvpmodel;   /* Jetson power-mode tool; default "nvpmodel" (searched in PATH) */
    const char *nvml_lib;   /* default "libnvidia-ml.so.1" */
    const char *command;    /* "cmd" source: a shell command that prints watts; NULL = not given */
    double watts;           /* "constant" source: known draw in W; 0 = not given */
    double tdp_w;           /* "estimate" source: TDP in W the utilization is scaled by; 0 = not given */
} elm_probe_ctx_t;

/* One measured figure, or the reason it could not be measured. */
typedef struct {
    bool valid;
    double value;   /* meaningful only when valid */
    char text[128]; /* for textual facts (CPU model, governor); "" for numbers */
    char why[192];  /* when !valid: why, naming the path or the fix */
} elm_probe_fig_t;

/* ---- power sources ---- */

typedef enum {
    ELM_POWER_RAPL = 0,
    ELM_POWER_HWMON,
    ELM_POWER_JETSON,
    ELM_POWER_RPI5,
    ELM_POWER_NVML,
    ELM_POWER_CMD,
    ELM_POWER_CONSTANT,
    ELM_POWER_ESTIMATE,
    ELM_POWER_KIND_COUNT
} elm_power_kind_t;

#define ELM_POWER_MAX_CHANNELS 16

typedef struct elm_power_source elm_power_source_t;

/* One reading. watts: total instantaneous power, NAN when the source has none (energy counters
 * only, or the first utilization sample). energy_j: cumulative joules since the source was
 * opened, counter wraparound already handled, NAN when the source has no energy counter.
 * channel_w: per channel (elm_power_channel), NAN where the channel has no power figure. */
typedef struct {
    double watts;
    double energy_j;
    int n_channels;
    double channel_w[ELM_POWER_MAX_CHANNELS];
} elm_power_reading_t;

/* "rapl", "hwmon", "jetson", "rpi5", "nvml", "cmd", "constant", "estimate". */
const char *elm_power_kind_name(elm_power_kind_t kind);

/* Parse a source name into *out; ELM_EINVAL (with the valid names in d) when unknown. */
int elm_power_kind_parse(const char *name, elm_power_kind_t *out, elm_diag_t *d);

/* Open one source. When it is not available here, returns ELM_ENOENT, ELM_EACCES, ELM_ENOTSUP
 * or a parse error with the reason in d ("/sys/class/powercap: no RAPL zones (no powercap
 * driver; usual in VMs)"), and *out = NULL. On success the caller owns *out (elm_power_close). */
int elm_power_open(elm_power_kind_t kind, const elm_probe_ctx_t *ctx, elm_power_source_t **out,
                   elm_diag_t *d);

/* Open the first source available here: rapl, hwmon, jetson, rpi5, nvml, then cmd when
 * ctx->command is set and constant when ctx->watts is (never the estimate: it is asked for by
 * name). On success the caller owns *out (elm_power_close). Otherwise returns ELM_ENOENT, *out =
 * NULL and d says "no power sensor (--watts W or --power-cmd CMD give one): rapl: <why>; hwmon:
 * <why>". */
int elm_power_open_auto(const elm_probe_ctx_t *ctx, elm_power_source_t **out, elm_diag_t *d);

/* Take one reading. Errors (a sensor that became unreadable, garbage in a file) are returned
 * with the path in d; *r then holds NANs. */
int elm_power_read(elm_power_source_t *s, elm_power_reading_t *r, elm_diag_t *d);

/* Close a source; accepts NULL. */
void elm_power_close(elm_power_source_t *s);

elm_power_kind_t elm_power_kind(const elm_power_source_t *s);
/* What the source measures, e.g. "package-0 + dram (intel-rapl:0, intel-rapl:0:2)" or a caveat
 * such as "EXT5V has no current sensor: board input is underestimated". Never NULL. */
const char *elm_power_detail(const elm_power_source_t *s);
/* True for the utilization x TDP estimate: every output must label it "estimated". */
bool elm_power_estimated(const elm_power_source_t *s);
/* True when the source has an energy counter (energy is then exact, not integrated). */
bool elm_power_has_energy(const elm_power_source_t *s);
/* The sampling interval this source wants by default (50 ms; 100 ms for the Pi 5 PMIC). */
uint32_t elm_power_default_interval_ms(const elm_power_source_t *s);
int elm_power_n_channels(const elm_power_source_t *s);
const char *elm_power_channel(const elm_power_source_t *s, int i);

/* ---- sampler: one thread, every source, energy per phase ---- */

#define ELM_PROBE_MAX_SOURCES 8
#define ELM_PROBE_MAX_PHASES 32
#define ELM_PROBE_INTERVAL_DEFAULT_MS 50
#define ELM_PROBE_INTERVAL_MIN_MS 10

typedef struct elm_probe_sampler elm_probe_sampler_t;

typedef struct {
    uint32_t interval_ms; /* 0: the largest default of the sources (50 ms, 100 ms on a Pi 5) */
    /* Test hook: a clock in nanoseconds (NULL = elm_time_ns) and manual mode, in which
     * elm_probe_sampler_start starts no thread and samples are taken only by elm_probe_sampler_sample and
     * at phase marks, so integration can be checked exactly. */
    uint64_t (*clock)(void *user);
    void *clock_user;
    bool manual;
    bool sample_rss; /* also sample the current RSS (peak RSS per phase) under the ctx's root */
    const elm_probe_ctx_t *ctx; /* for sample_rss; may be NULL */
} elm_probe_sampler_opts_t;

/* Energy figures of one source over one phase. energy_j comes from the counter difference when
 * the source has one, else from the trapezoidal rule over the samples; avg_w = energy / time;
 * peak_w is the highest sampled watts (counter sources: the highest interval average). */
typedef struct {
    elm_probe_fig_t energy_j, avg_w, peak_w;
    uint32_t n_samples;
    bool estimated;
} elm_phase_power_t;

typedef struct {
    char name[32];
    bool open;      /* still running (no end mark yet) */
    double seconds; /* from its start mark to its end (or to the last sample while open) */
    elm_probe_fig_t peak_rss_bytes;
    int n_sources;
    elm_phase_power_t src[ELM_PROBE_MAX_SOURCES];
} elm_phase_t;

/* Create a sampler over n sources (borrowed; they must outlive the sampler). Interval below
 * ELM_PROBE_INTERVAL_MIN_MS or more than ELM_PROBE_MAX_SOURCES sources give ELM_EINVAL. */
int elm_probe_sampler_create(elm_power_source_t *const *sources, int n, const elm_probe_sampler_opts_t *opts,
                       elm_probe_sampler_t **out, elm_diag_t *d);
/* The interval in use, after defaults. */
uint32_t elm_probe_sampler_interval_ms(const elm_probe_sampler_t *s);
/* Start sampling (a thread, unless manual). */
int elm_probe_sampler_start(elm_probe_sampler_t *s, elm_diag_t *d);
/* Take one sample of every source now (the thread does this every interval). */
int elm_probe_sampler_sample(elm_probe_sampler_t *s);
/* End the running phase (if any) at a sample taken now and start one named phase; NULL only ends
 * the running phase. Returns ELM_ERANGE when ELM_PROBE_MAX_PHASES are used up. */
int elm_probe_mark(elm_probe_sampler_t *s, const char *phase);
/* Stop the thread and end the running phase with a final sample. */
int elm_probe_sampler_stop(elm_probe_sampler_t *s);
int elm_probe_sampler_n_phases(elm_probe_sampler_t *s);
/* Copy phase i's figures into *out; ELM_ERANGE for a bad index. */
int elm_probe_sampler_phase(elm_probe_sampler_t *s, int i, elm_phase_t *out);
/* The first sampling error of each source, "" when none; i < n sources. */
const char *elm_probe_sampler_error(elm_probe_sampler_t *s, int i);
/* Stop if running and free; accepts NULL. */
void elm_probe_sampler_free(elm_probe_sampler_t *s);

#define ELM_PROBE_RSS_POINTS 128

/* The RSS timeline of a sample_rss sampler: up to cap points (ms since the first sample, bytes),
 * at most ELM_PROBE_RSS_POINTS spread evenly over the whole run (the sampling stride doubles
 * when they fill up). Returns the number of points. */
uint32_t elm_probe_sampler_rss_timeline(elm_probe_sampler_t *s, float *t_ms, double *bytes,
                                        uint32_t cap);

/* ---- perf counters ---- */

typedef enum {
    ELM_PERF_CYCLES = 0,
    ELM_PERF_INSTRUCTIONS,
    ELM_PERF_L1D_READ_MISSES,
    ELM_PERF_LLC_MISSES,
    ELM_PERF_CONTEXT_SWITCHES,
    ELM_PERF_CPU_MIGRATIONS,
    ELM_PERF_PAGE_FAULTS,
    ELM_PERF_COUNT
} elm_perf_event_t;

typedef struct elm_perf elm_perf_t;

/* "cycles", "instructions", "L1d-read-misses", "LLC-misses", "context-switches",
 * "cpu-migrations", "page-faults". */
const char *elm_perf_event_name(elm_perf_event_t ev);

/* Open every counter on the calling thread and the threads it creates afterwards (inherit), in
 * the stopped state. Counters the kernel or hardware refuses are kept as unsupported with the
 * reason; the call fails (ELM_ENOTSUP) only when not one counter opens. Caller owns *out. */
int elm_perf_open(elm_perf_t **out, elm_diag_t *d);
/* Reset and enable / disable all supported counters. */
int elm_perf_start(elm_perf_t *p);
int elm_perf_stop(elm_perf_t *p);
/* The counts since the last start: valid counts, or "unsupported: <reason>" in why. */
int elm_perf_read(elm_perf_t *p, elm_probe_fig_t out[ELM_PERF_COUNT]);
/* Whether an event opened; *why (may be NULL) gets the reason when not. */
bool elm_perf_supported(const elm_perf_t *p, elm_perf_event_t ev, const char **why);
void elm_perf_close(elm_perf_t *p);

/* ---- memory ---- */

/* Peak resident set (VmHWM) and current resident set (VmRSS) of this process in bytes, read from
 * <root>/proc/self/status. A missing or malformed line gives a named error. */
int elm_mem_peak_rss(const elm_probe_ctx_t *ctx, uint64_t *bytes, elm_diag_t *d);
int elm_mem_rss(const elm_probe_ctx_t *ctx, uint64_t *bytes, elm_diag_t *d);
/* Bytes of [addr, addr+len) resident in memory now (mincore); addr need not be page aligned. */
int elm_mem_resident(const void *addr, size_t len, uint64_t *bytes, elm_diag_t *d);

/* ---- system facts ---- */

#define ELM_SYS_MAX_CPUS 256

typedef struct {
    elm_probe_fig_t cpu_model; /* /proc/cpuinfo "model name" (or ARM implementer/part) */
    elm_probe_fig_t n_cpus;    /* processors listed in /proc/cpuinfo */
    elm_probe_fig_t isa;       /* the SIMD features edgelm cares about, space separated */
    elm_probe_fig_t kernel;    /* /proc/sys/kernel/osrelease */
    elm_probe_fig_t board;     /* /proc/device-tree/model */
    elm_probe_fig_t pi_model;  /* the board model when it is a Raspberry Pi */
    elm_probe_fig_t jetson_model; /* the board model when it is a Jetson */
    elm_probe_fig_t nvpmodel;  /* Jetson power mode: /var/lib/nvpmodel/status, else the first
                                  line of `nvpmodel -q` ("NV Power Mode: MAXN" -> "MAXN") */
    int n_freq;                /* CPUs listed below */
    struct {
        int cpu;
        elm_probe_fig_t governor; /* cpufreq/scaling_governor */
        elm_probe_fig_t cur_mhz;  /* cpufreq/scaling_cur_freq (kHz) / 1000 */
    } freq[ELM_SYS_MAX_CPUS];
    elm_probe_fig_t cpufreq; /* invalid with the reason when no CPU has cpufreq */
} elm_sys_info_t;

/* Gather the system facts under ctx's root. Each fact carries its own availability; the call
 * itself fails only on bad arguments. */
int elm_sys_info(const elm_probe_ctx_t *ctx, elm_sys_info_t *out, elm_diag_t *d);

#ifdef __cplusplus
}
#endif
#endif
