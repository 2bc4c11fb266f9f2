/* NVIDIA GPUs through NVML, loaded with dlopen("libnvidia-ml.so.1") so edgelm neither links nor
 * needs it: power usage (mW) of every GPU and, when every GPU has one, the total-energy counter
 * (mJ, Volta and later). When the library is absent the source says so with dlerror's reason. */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "probe_internal.h"

#define NVML_MAX_GPUS 8

typedef int (*nvml_init_fn)(void);
typedef int (*nvml_count_fn)(unsigned *);
typedef int (*nvml_handle_fn)(unsigned, void **);
typedef int (*nvml_power_fn)(void *, unsigned *);
typedef int (*nvml_energy_fn)(void *, unsigned long long *);
typedef const char *(*nvml_errstr_fn)(int);

typedef struct {
    void *lib;
    int (*shutdown)(void);
    nvml_power_fn power;
    nvml_energy_fn energy;
    nvml_errstr_fn errstr;
    unsigned n;
    void *dev[NVML_MAX_GPUS];
    unsigned long long e0[NVML_MAX_GPUS];
} nvml_state_t;

static const char *nvml_err(const nvml_state_t *st, int code)
{
    return st->errstr ? st->errstr(code) : "NVML error";
}

static int nvml_read(elm_power_source_t *s, elm_power_reading_t *r, elm_diag_t *d)
{
    nvml_state_t *st = s->state;
    double w = 0, e = 0;
    for (unsigned i = 0; i < st->n; i++) {
        unsigned mw;
        int rc = st->power(st->dev[i], &mw);
        if (rc) return elm_diag(d, ELM_EIO, "nvmlDeviceGetPowerUsage(GPU %u): %s", i, nvml_err(st, rc));
        r->channel_w[i] = mw * 1e-3;
        w += r->channel_w[i];
        if (s->has_energy) {
            unsigned long long mj;
            if ((rc = st->energy(st->dev[i], &mj)))
                return elm_diag(d, ELM_EIO, "nvmlDeviceGetTotalEnergyConsumption(GPU %u): %s", i, nvml_err(st, rc));
            e += (double)(mj - st->e0[i]) * 1e-3;
        }
    }
    r->watts = w;
    if (s->has_energy) r->energy_j = e;
    return ELM_OK;
}

static void nvml_close(elm_power_source_t *s)
{
    nvml_state_t *st = s->state;
    if (!st) return;
    if (st->shutdown) st->shutdown();
    if (st->lib) dlclose(st->lib);
    free(st);
}

static const elm__power_ops_t nvml_ops = {nvml_read, nvml_close};

int elm__nvml_open(elm_power_source_t *s, const elm_probe_ctx_t *ctx, elm_diag_t *d)
{
    const char *name = ctx && ctx->nvml_lib && ctx->nvml_lib[0] ? ctx->nvml_lib : "libnvidia-ml.so.1";
    nvml_state_t *st = calloc(1, sizeof *st);
    if (!st) return elm_diag(d, ELM_ENOMEM, "out of memory");
    s->state = st;
    s->ops = &nvml_ops;
    st->lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!st->lib) {
        const char *why = dlerror();
        return elm_diag(d, ELM_ENOENT, "%s (no NVIDIA driver)", why ? why : name);
    }
    nvml_init_fn init = (nvml_init_fn)dlsym(st->lib, "nvmlInit_v2");
    nvml_count_fn count = (nvml_count_fn)dlsym(st->lib, "nvmlDeviceGetCount_v2");
    nvml_handle_fn handle = (nvml_handle_fn)dlsym(st->lib, "nvmlDeviceGetHandleByIndex_v2");
    st->power = (nvml_power_fn)dlsym(st->lib, "nvmlDeviceGetPowerUsage");
    st->energy = (nvml_energy_fn)dlsym(st->lib, "nvmlDeviceGetTotalEnergyConsumption");
    st->errstr = (nvml_errstr_fn)dlsym(st->lib, "nvmlErrorString");
    int (*shutdown)(void) = (int (*)(void))dlsym(st->lib, "nvmlShutdown");
    if (!init || !count || !handle || !st->power || !shutdown)
        return elm_diag(d, ELM_ENOTSUP, "%s: missing NVML entry points (driver too old?)", name);
    int rc = init();
    if (rc) return elm_diag(d, ELM_EIO, "nvmlInit: %s", nvml_err(st, rc));
    st->shutdown = shutdown;
    if ((rc = count(&st->n))) return elm_diag(d, ELM_EIO, "nvmlDeviceGetCount: %s", nvml_err(st, rc));
    if (st->n == 0) return elm_diag(d, ELM_ENOENT, "NVML sees no GPU");
    if (st->n > NVML_MAX_GPUS) st->n = NVML_MAX_GPUS;
    s->has_energy = st->energy != NULL;
    for (unsigned i = 0; i < st->n; i++) {
        unsigned mw;
        char ch[16];
        if ((rc = handle(i, &st->dev[i]))) return elm_diag(d, ELM_EIO, "nvmlDeviceGetHandleByIndex(%u): %s", i, nvml_err(st, rc));
        if ((rc = st->power(st->dev[i], &mw)))
            return elm_diag(d, ELM_ENOTSUP, "GPU %u: no power reading (%s)", i, nvml_err(st, rc));
        if (s->has_energy && st->energy(st->dev[i], &st->e0[i])) s->has_energy = false;
        snprintf(ch, sizeof ch, "GPU %u", i);
        if ((rc = elm__power_add_channel(s, ch, d))) return rc;
    }
    snprintf(s->detail, sizeof s->detail, "NVML, %u GPU%s; %s", st->n, st->n == 1 ? "" : "s",
             s->has_energy ? "total-energy counter" : "power only (no energy counter: integrated)");
    return ELM_OK;
}
