/* Shared inside src/probe: the power-source interface every source file implements, and strict
 * readers for sysfs files (untrusted input: garbage, negative and overflowing values are named
 * errors, never zero). */
#ifndef ELM_PROBE_INTERNAL_H
#define ELM_PROBE_INTERNAL_H

#include <math.h>
#include <stdio.h>

#include "edgelm/probe.h"

#define ELM__PATH_MAX 1024
#define ELM__MAX_ENTRIES 64

/* ---- power-source interface ---- */

typedef struct {
    /* Fill r->watts / r->energy_j / r->channel_w; NAN where the source has no such quantity. */
    int (*read)(elm_power_source_t *s, elm_power_reading_t *r, elm_diag_t *d);
    void (*close)(elm_power_source_t *s); /* free s->state; may be NULL */
} elm__power_ops_t;

struct elm_power_source {
    const elm__power_ops_t *ops;
    elm_power_kind_t kind;
    char detail[384];
    int n_channels;
    char channel[ELM_POWER_MAX_CHANNELS][48];
    bool has_energy, estimated;
    uint32_t default_interval_ms;
    void *state;
};

/* Each source's open: on success fills s (ops, channels, state); on failure returns a code with
 * the reason in d. s arrives zeroed with kind set and default_interval_ms = 50. */
int elm__rapl_open(elm_power_source_t *s, const elm_probe_ctx_t *ctx, elm_diag_t *d);
int elm__hwmon_open(elm_power_source_t *s, const elm_probe_ctx_t *ctx, elm_diag_t *d);
int elm__jetson_open(elm_power_source_t *s, const elm_probe_ctx_t *ctx, elm_diag_t *d);
int elm__rpi5_open(elm_power_source_t *s, const elm_probe_ctx_t *ctx, elm_diag_t *d);
int elm__nvml_open(elm_power_source_t *s, const elm_probe_ctx_t *ctx, elm_diag_t *d);
int elm__cmd_open(elm_power_source_t *s, const elm_probe_ctx_t *ctx, elm_diag_t *d);
int elm__constant_open(elm_power_source_t *s, const elm_probe_ctx_t *ctx, elm_diag_t *d);
int elm__estimate_open(elm_power_source_t *s, const elm_probe_ctx_t *ctx, elm_diag_t *d);

/* Add a channel name to s; ELM_ERANGE past ELM_POWER_MAX_CHANNELS. */
int elm__power_add_channel(elm_power_source_t *s, const char *name, elm_diag_t *d);
/* Set every field of r to NAN and n_channels to s's. */
void elm__power_reading_clear(const elm_power_source_t *s, elm_power_reading_t *r);

/* Counter step from prev to cur for a counter that wraps after max_range (RAPL's
 * max_energy_range_uj). max_range 0 means "no known range": a decrease is then a reset and
 * counts as cur. */
uint64_t elm__counter_delta(uint64_t prev, uint64_t cur, uint64_t max_range);

/* ---- sensor channels shared by hwmon and the Jetson INA3221 ---- */

typedef enum { ELM__CH_POWER_UW, ELM__CH_POWER_MW, ELM__CH_ENERGY_UJ, ELM__CH_VI } elm__ch_kind_t;

typedef struct {
    int n;
    struct {
        elm__ch_kind_t kind;
        char a[ELM__PATH_MAX]; /* the power, energy or voltage (mV) file */
        char b[ELM__PATH_MAX]; /* ELM__CH_VI: the current (mA) file */
        uint64_t prev, acc_uj;
    } c[ELM_POWER_MAX_CHANNELS];
    int total; /* channel that is the board input (VDD_IN), or -1: the sum of all channels */
    bool use_energy, primed;
} elm__chans_t;

/* A rail label to skip: unconnected ("NC") or the INA3221 sum-of-shunts channel. */
bool elm__skip_label(const char *label);
/* Add the sensors of one hwmon directory to s and ch, named "<prefix><label>". vi_only: only
 * voltage/current pairs on channels 1..3 with a label (the INA3221 layout). Returns the number
 * of channels added or a negative code. */
int elm__hwmon_add_dir(elm_power_source_t *s, elm__chans_t *ch, const char *dir, const char *prefix,
                       bool vi_only, elm_diag_t *d);
int elm__chans_read(elm_power_source_t *s, elm__chans_t *ch, elm_power_reading_t *r, elm_diag_t *d);
/* Ops for a source whose state is an elm__chans_t (hwmon, jetson). */
extern const elm__power_ops_t elm__chans_ops;
/* Describe ch's total in s->detail after what (e.g. "INA3221"). */
void elm__chans_detail(elm_power_source_t *s, const elm__chans_t *ch, const char *what);

/* ---- sysfs files ---- */

/* "<root>/<rel>" into buf (rel starts with '/'); ELM_ERANGE when it does not fit. */
int elm__path(char *buf, size_t n, const elm_probe_ctx_t *ctx, const char *rel);

/* Read a small text file into buf with trailing whitespace removed. Missing file ELM_ENOENT,
 * unreadable ELM_EACCES ("...: permission denied (run as root ...)"), too long ELM_ERANGE. */
int elm__read_text(const char *path, char *buf, size_t n, elm_diag_t *d);

/* snprintf that returns ELM_ERANGE when the result was truncated (it always NUL-terminates). */
int elm__fmt(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Strict unsigned decimal: digits only after trimming surrounding whitespace. A leading '-' is
 * ELM_ERANGE ("negative"), other garbage ELM_EINVAL, more than 2^64-1 ELM_ERANGE; what names the
 * source in the message. */
int elm__parse_u64(const char *what, const char *text, uint64_t *out, elm_diag_t *d);
/* Strict decimal number (for watts printed by commands): finite, not negative. */
int elm__parse_watts(const char *what, const char *text, double *out, elm_diag_t *d);
/* elm__read_text + elm__parse_u64. */
int elm__read_u64(const char *path, uint64_t *out, elm_diag_t *d);

/* Sorted entries of dir whose names start with prefix (at most ELM__MAX_ENTRIES). Returns the
 * count, or a negative code when the directory cannot be opened (no diag: callers word it). */
int elm__list_dir(const char *dir, const char *prefix, char names[][64], int max);

/* Run argv (argv[0] searched in PATH) without a shell; stdout into out (NUL-terminated,
 * truncated to n-1). A missing program, a signal or a nonzero exit status is an error whose
 * message names argv[0]. */
int elm__run_capture(char *const argv[], char *out, size_t n, elm_diag_t *d);

#endif
