/* System facts for a measurement record: CPU model, core count and SIMD features from
 * /proc/cpuinfo, governor and current frequency per CPU from cpufreq, the kernel release, the
 * board from the device tree (Raspberry Pi, Jetson) and the Jetson nvpmodel mode. Every fact says
 * why when it is missing. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "probe_internal.h"

static void fig_text(elm_probe_fig_t *f, const char *text)
{
    f->valid = true;
    elm__fmt(f->text, sizeof f->text, "%s", text);
}

static void fig_why(elm_probe_fig_t *f, const char *why)
{
    f->valid = false;
    f->text[0] = '\0';
    elm__fmt(f->why, sizeof f->why, "%s", why);
}

static void fig_diag(elm_probe_fig_t *f, const elm_diag_t *d)
{
    fig_why(f, d->msg);
}

/* The value after "key<spaces>:" on a cpuinfo line, or NULL. */
static const char *cpuinfo_value(const char *line, const char *key)
{
    size_t kl = strlen(key);
    if (strncmp(line, key, kl)) return NULL;
    const char *p = line + kl;
    while (*p == ' ' || *p == '\t') p++;
    if (*p != ':') return NULL;
    p++;
    while (*p == ' ') p++;
    return p;
}

/* Whether the space-separated list has the word. */
static bool has_word(const char *list, const char *w)
{
    size_t wl = strlen(w);
    for (const char *p = list; (p = strstr(p, w)); p += wl)
        if ((p == list || p[-1] == ' ') && (p[wl] == ' ' || p[wl] == '\0')) return true;
    return false;
}

static void parse_cpuinfo(const elm_probe_ctx_t *ctx, elm_sys_info_t *o)
{
    char path[ELM__PATH_MAX];
    elm_diag_t d;
    elm__path(path, sizeof path, ctx, "/proc/cpuinfo");
    FILE *f = fopen(path, "r");
    if (!f) {
        elm_diag(&d, ELM_ENOENT, "%s: cannot open", path);
        fig_diag(&o->cpu_model, &d);
        fig_diag(&o->n_cpus, &d);
        fig_diag(&o->isa, &d);
        return;
    }
    static const char *const wanted[] = {
        "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
        "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", /* x86 */
        "asimd", "asimdhp", "asimddp", "i8mm", "bf16", "sve", "sve2", /* arm64 */
    };
    char line[4096], model[128] = "", impl[32] = "", part[32] = "", flags[4096] = "";
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        const char *v;
        if ((v = cpuinfo_value(line, "processor"))) n++;
        else if (!model[0] && (v = cpuinfo_value(line, "model name"))) snprintf(model, sizeof model, "%s", v);
        else if (!impl[0] && (v = cpuinfo_value(line, "CPU implementer"))) snprintf(impl, sizeof impl, "%s", v);
        else if (!part[0] && (v = cpuinfo_value(line, "CPU part"))) snprintf(part, sizeof part, "%s", v);
        else if (!flags[0] && ((v = cpuinfo_value(line, "flags")) || (v = cpuinfo_value(line, "Features"))))
            snprintf(flags, sizeof flags, "%s", v);
    }
    fclose(f);
    if (model[0])
        fig_text(&o->cpu_model, model);
    else if (impl[0]) {
        char t[96];
        snprintf(t, sizeof t, "ARM implementer %s part %s", impl, part[0] ? part : "?");
        fig_text(&o->cpu_model, t);
    } else {
        elm_diag(&d, ELM_ENOENT, "%s: no 'model name' or 'CPU implementer' line", path);
        fig_diag(&o->cpu_model, &d);
    }
    if (n > 0) {
        o->n_cpus.valid = true;
        o->n_cpus.value = n;
    } else {
        elm_diag(&d, ELM_ENOENT, "%s: no 'processor' lines", path);
        fig_diag(&o->n_cpus, &d);
    }
    if (!flags[0]) {
        elm_diag(&d, ELM_ENOENT, "%s: no 'flags' or 'Features' line", path);
        fig_diag(&o->isa, &d);
        return;
    }
    char isa[128] = "";
    for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++)
        if (has_word(flags, wanted[i])) {
            size_t l = strlen(isa);
            snprintf(isa + l, sizeof isa - l, "%s%s", l ? " " : "", wanted[i]);
        }
    fig_text(&o->isa, isa[0] ? isa : "none of the SIMD features edgelm uses");
}

/* A one-line text file into f, or the reason. */
static void read_fact(const elm_probe_ctx_t *ctx, const char *rel, elm_probe_fig_t *f, const char *missing)
{
    char path[ELM__PATH_MAX], buf[128];
    elm_diag_t d;
    elm__path(path, sizeof path, ctx, rel);
    int rc = elm__read_text(path, buf, sizeof buf, &d);
    if (rc == ELM_ENOENT && missing) elm_diag(&d, rc, "%s: not present (%s)", path, missing);
    if (rc)
        fig_diag(f, &d);
    else
        fig_text(f, buf);
}

static void read_cpufreq(const elm_probe_ctx_t *ctx, elm_sys_info_t *o)
{
    int max = o->n_cpus.valid ? (int)o->n_cpus.value : ELM_SYS_MAX_CPUS;
    if (max > ELM_SYS_MAX_CPUS) max = ELM_SYS_MAX_CPUS;
    char rel[128], path[ELM__PATH_MAX];
    for (int c = 0; c < max; c++) {
        snprintf(rel, sizeof rel, "/sys/devices/system/cpu/cpu%d/cpufreq", c);
        elm__path(path, sizeof path, ctx, rel);
        if (access(path, F_OK)) {
            if (!o->n_cpus.valid) break;
            continue;
        }
        int i = o->n_freq++;
        o->freq[i].cpu = c;
        snprintf(rel, sizeof rel, "/sys/devices/system/cpu/cpu%d/cpufreq/scaling_governor", c);
        read_fact(ctx, rel, &o->freq[i].governor, NULL);
        snprintf(rel, sizeof rel, "/sys/devices/system/cpu/cpu%d/cpufreq/scaling_cur_freq", c);
        elm__path(path, sizeof path, ctx, rel);
        uint64_t khz;
        elm_diag_t d;
        if (elm__read_u64(path, &khz, &d))
            fig_diag(&o->freq[i].cur_mhz, &d);
        else
            o->freq[i].cur_mhz.valid = true, o->freq[i].cur_mhz.value = (double)khz / 1000.0;
    }
    if (o->n_freq > 0) {
        fig_text(&o->cpufreq, "present");
        return;
    }
    elm__path(path, sizeof path, ctx, "/sys/devices/system/cpu/cpu0/cpufreq");
    char why[ELM__PATH_MAX + 64];
    elm__fmt(why, sizeof why, "%s: not present (no cpufreq driver: usual in VMs)", path);
    fig_why(&o->cpufreq, why);
}

/* `nvpmodel -q` when the status file is absent: its first line, "NV Power Mode: MAXN", gives
 * the mode; f keeps the file's reason and gets the command's appended when it fails too. */
static void read_nvpmodel(const elm_probe_ctx_t *ctx, elm_probe_fig_t *f)
{
    const char *cmd = ctx && ctx->nvpmodel && ctx->nvpmodel[0] ? ctx->nvpmodel : "nvpmodel";
    char *const argv[] = {(char *)cmd, "-q", NULL};
    char out[512], why[sizeof f->why];
    elm_diag_t d;
    if (elm__run_capture(argv, out, sizeof out, &d)) {
        snprintf(why, sizeof why, "%.100s; %.80s", f->why, d.msg);
        fig_why(f, why);
        return;
    }
    out[strcspn(out, "\n")] = '\0';
    const char *mode = strstr(out, "Power Mode:");
    mode = mode ? mode + 11 : out;
    while (*mode == ' ') mode++;
    if (!*mode) {
        snprintf(why, sizeof why, "%s -q printed no power mode", cmd);
        fig_why(f, why);
        return;
    }
    fig_text(f, mode);
}

int elm_sys_info(const elm_probe_ctx_t *ctx, elm_sys_info_t *out, elm_diag_t *d)
{
    if (!out) return elm_diag(d, ELM_EINVAL, "elm_sys_info: no output");
    memset(out, 0, sizeof *out);
    parse_cpuinfo(ctx, out);
    read_fact(ctx, "/proc/sys/kernel/osrelease", &out->kernel, NULL);
    read_fact(ctx, "/proc/device-tree/model", &out->board, "no device tree: not an ARM board");
    const char *b = out->board.valid ? out->board.text : "";
    char why[200];
    if (strstr(b, "Raspberry Pi"))
        fig_text(&out->pi_model, b);
    else
        snprintf(why, sizeof why, "not a Raspberry Pi (%s)", out->board.valid ? b : "no device-tree model"),
            fig_why(&out->pi_model, why);
    if (strstr(b, "Jetson") || strstr(b, "NVIDIA"))
        fig_text(&out->jetson_model, b);
    else
        snprintf(why, sizeof why, "not a Jetson (%s)", out->board.valid ? b : "no device-tree model"),
            fig_why(&out->jetson_model, why);
    read_fact(ctx, "/var/lib/nvpmodel/status", &out->nvpmodel, "not a Jetson, or nvpmodel never ran");
    if (!out->nvpmodel.valid) read_nvpmodel(ctx, &out->nvpmodel);
    read_cpufreq(ctx, out);
    return ELM_OK;
}
