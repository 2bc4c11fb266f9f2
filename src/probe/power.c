/* The power-source interface: names, opening a source by kind, reading it, and the pieces all
 * sources share (channels, counter wraparound). Each source lives in its own file. */
#include <stdlib.h>
#include <string.h>

#include "probe_internal.h"

static const struct {
    const char *name;
    int (*open)(elm_power_source_t *s, const elm_probe_ctx_t *ctx, elm_diag_t *d);
} kinds[ELM_POWER_KIND_COUNT] = {
    [ELM_POWER_RAPL] = {"rapl", elm__rapl_open},
    [ELM_POWER_HWMON] = {"hwmon", elm__hwmon_open},
    [ELM_POWER_JETSON] = {"jetson", elm__jetson_open},
    [ELM_POWER_RPI5] = {"rpi5", elm__rpi5_open},
    [ELM_POWER_NVML] = {"nvml", elm__nvml_open},
    [ELM_POWER_CMD] = {"cmd", elm__cmd_open},
    [ELM_POWER_CONSTANT] = {"constant", elm__constant_open},
    [ELM_POWER_ESTIMATE] = {"estimate", elm__estimate_open},
};

const char *elm_power_kind_name(elm_power_kind_t kind)
{
    return (unsigned)kind < ELM_POWER_KIND_COUNT ? kinds[kind].name : "?";
}

int elm_power_kind_parse(const char *name, elm_power_kind_t *out, elm_diag_t *d)
{
    for (int k = 0; k < ELM_POWER_KIND_COUNT; k++)
        if (name && !strcmp(name, kinds[k].name)) {
            *out = (elm_power_kind_t)k;
            return ELM_OK;
        }
    *out = ELM_POWER_KIND_COUNT;
    return elm_diag(d, ELM_EINVAL,
                    "unknown power source '%s' (one of rapl, hwmon, jetson, rpi5, nvml, cmd, "
                    "constant, estimate)", name ? name : "");
}

int elm_power_open(elm_power_kind_t kind, const elm_probe_ctx_t *ctx, elm_power_source_t **out,
                   elm_diag_t *d)
{
    *out = NULL;
    if ((unsigned)kind >= ELM_POWER_KIND_COUNT) return elm_diag(d, ELM_EINVAL, "bad power source kind %d", (int)kind);
    elm_power_source_t *s = calloc(1, sizeof *s);
    if (!s) return elm_diag(d, ELM_ENOMEM, "out of memory opening power source %s", kinds[kind].name);
    s->kind = kind;
    s->default_interval_ms = ELM_PROBE_INTERVAL_DEFAULT_MS;
    int rc = kinds[kind].open(s, ctx, d);
    if (rc) {
        elm_power_close(s);
        return rc;
    }
    *out = s;
    return ELM_OK;
}

int elm_power_open_auto(const elm_probe_ctx_t *ctx, elm_power_source_t **out, elm_diag_t *d)
{
    /* sensors first, then what the user supplied; the estimate must be asked for by name */
    static const elm_power_kind_t order[] = {ELM_POWER_RAPL,  ELM_POWER_HWMON, ELM_POWER_JETSON,
                                             ELM_POWER_RPI5,  ELM_POWER_NVML,  ELM_POWER_CMD,
                                             ELM_POWER_CONSTANT};
    char why[sizeof d->msg] = "no power sensor (--watts W or --power-cmd CMD give one)";
    size_t len = strlen(why);
    *out = NULL;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        if (order[i] == ELM_POWER_CMD && !(ctx && ctx->command)) continue;
        if (order[i] == ELM_POWER_CONSTANT && !(ctx && ctx->watts > 0)) continue;
        elm_diag_t e;
        if (elm_power_open(order[i], ctx, out, &e) == ELM_OK) return ELM_OK;
        /* RAPL and hwmon are the sensors of most machines: their reasons help most */
        if (i < 2 && len < sizeof why - 1) {
            int n = snprintf(why + len, sizeof why - len, "%s%s: %s", i ? "; " : ": ",
                             kinds[order[i]].name, e.msg);
            if (n > 0) len += (size_t)n;
        }
    }
    return elm_diag(d, ELM_ENOENT, "%s", why);
}

void elm__power_reading_clear(const elm_power_source_t *s, elm_power_reading_t *r)
{
    r->watts = NAN;
    r->energy_j = NAN;
    r->n_channels = s ? s->n_channels : 0;
    for (int i = 0; i < ELM_POWER_MAX_CHANNELS; i++) r->channel_w[i] = NAN;
}

int elm_power_read(elm_power_source_t *s, elm_power_reading_t *r, elm_diag_t *d)
{
    elm__power_reading_clear(s, r);
    if (!s) return elm_diag(d, ELM_EINVAL, "no power source");
    int rc = s->ops->read(s, r, d);
    if (rc) elm__power_reading_clear(s, r);
    return rc;
}

void elm_power_close(elm_power_source_t *s)
{
    if (!s) return;
    if (s->ops && s->ops->close) s->ops->close(s);
    free(s);
}

int elm__power_add_channel(elm_power_source_t *s, const char *name, elm_diag_t *d)
{
    if (s->n_channels >= ELM_POWER_MAX_CHANNELS)
        return elm_diag(d, ELM_ERANGE, "%s: more than %d channels", kinds[s->kind].name, ELM_POWER_MAX_CHANNELS);
    snprintf(s->channel[s->n_channels++], sizeof s->channel[0], "%s", name);
    return ELM_OK;
}

uint64_t elm__counter_delta(uint64_t prev, uint64_t cur, uint64_t max_range)
{
    if (cur >= prev) return cur - prev;
    if (max_range == 0 || prev > max_range) return cur;
    return (max_range - prev) + cur;
}

elm_power_kind_t elm_power_kind(const elm_power_source_t *s) { return s->kind; }
const char *elm_power_detail(const elm_power_source_t *s) { return s->detail; }
bool elm_power_estimated(const elm_power_source_t *s) { return s->estimated; }
bool elm_power_has_energy(const elm_power_source_t *s) { return s->has_energy; }
uint32_t elm_power_default_interval_ms(const elm_power_source_t *s) { return s->default_interval_ms; }
int elm_power_n_channels(const elm_power_source_t *s) { return s->n_channels; }

const char *elm_power_channel(const elm_power_source_t *s, int i)
{
    return i >= 0 && i < s->n_channels ? s->channel[i] : "";
}
