/* Shared pieces of the edgelm command: printing library messages and errors, argument parsing,
 * progress bars. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "edgelm/convert.h"
#include "edgelm/pool.h"
#include "edgelm/store.h"

static void log_to_stderr(elm_log_level_t level, const char *msg, void *user)
{
    (void)user;
    static const char *const prefix[] = {"error: ", "warning: ", "", ""};
    if (level >= ELM_LOG_DEBUG && !getenv("EDGELM_DEBUG")) return;
    fprintf(stderr, "edgelm: %s%s\n", prefix[level], msg);
}

void elm_cli_init(void)
{
    elm_log_set_hook(log_to_stderr, NULL);
}

int elm_cli_fail(const elm_diag_t *d, int code)
{
    if (d && d->msg[0])
        fprintf(stderr, "edgelm: %s\n", d->msg);
    else
        fprintf(stderr, "edgelm: %s\n", elm_strerror(code));
    return 1;
}

int elm_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "edgelm %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nsee 'edgelm %s --help'\n", cmd);
    return 2;
}

/* ---- the option table ---- */

static elm_opt_t *find_opt(elm_cli_spec_t *spec, const char *arg, size_t len)
{
    for (elm_opt_t *o = spec->opts; o && o->kind != ELM_OPT_K_END; o++) {
        if (o->kind == ELM_OPT_K_TEXT) continue;
        if (strlen(o->name) == len && !strncmp(o->name, arg, len)) return o;
        if (o->alias && strlen(o->alias) == len && !strncmp(o->alias, arg, len)) return o;
    }
    return NULL;
}

/* A table bound as an integer: INT64_MAX does not survive the trip through double exactly. */
static int64_t bound_i64(double x)
{
    if (x >= 9.2233720368547758e18) return INT64_MAX;
    if (x <= -9.2233720368547758e18) return INT64_MIN;
    return (int64_t)x;
}

/* "must lie in [0, 1]", "must be at least 1", "must be greater than 0". */
static void range_text(const elm_opt_t *o, char *buf, size_t len)
{
    bool lo = isfinite(o->min) && o->min > -9.2e18, hi = isfinite(o->max) && o->max < 9.2e18;
    if (o->kind == ELM_OPT_K_INT) {
        lo = o->min > INT_MIN;
        hi = o->max < INT_MAX;
    }
    if (lo && hi)
        snprintf(buf, len, "must lie in %c%.10g, %.10g]", o->above_min ? '(' : '[', o->min, o->max);
    else if (lo)
        snprintf(buf, len, "must be %s %.10g", o->above_min ? "greater than" : "at least", o->min);
    else
        snprintf(buf, len, "must be at most %.10g", o->max);
}

/* Store one option's value (flag: the option as the user spelled it); returns ELM_CLI_GO or the
 * usage error's status. */
static int set_value(elm_cli_spec_t *spec, elm_opt_t *o, const char *flag, const char *v)
{
    char why[160];
    int rc = 0;
    int64_t i = 0;
    double d = 0;
    switch (o->kind) {
    case ELM_OPT_K_STR: *(const char **)o->dst = v; return ELM_CLI_GO;
    case ELM_OPT_K_FN:
        why[0] = '\0';
        if (o->fn(v, o->dst, why, sizeof why) == 0) return ELM_CLI_GO;
        return elm_cli_usage_error(spec->cmd, "%s '%s': %s", flag, v, why[0] ? why : "invalid");
    case ELM_OPT_K_INT:
    case ELM_OPT_K_I64:
        rc = elm_parse_i64(v, bound_i64(o->min), bound_i64(o->max), &i);
        if (rc == ELM_EINVAL)
            return elm_cli_usage_error(spec->cmd, "%s '%s': not a whole number (%s)", flag, v,
                                       o->arg);
        break;
    case ELM_OPT_K_NUM:
    case ELM_OPT_K_F32:
        rc = elm_parse_f64(v, o->min, o->max, &d);
        if (rc == ELM_EINVAL)
            return elm_cli_usage_error(spec->cmd, "%s '%s': not a number (%s)", flag, v, o->arg);
        if (!rc && o->above_min && d <= o->min) rc = ELM_ERANGE;
        break;
    default: return ELM_CLI_GO;
    }
    if (rc) {
        range_text(o, why, sizeof why);
        return elm_cli_usage_error(spec->cmd, "%s %s: %s", flag, v, why);
    }
    if (o->kind == ELM_OPT_K_INT)
        *(int *)o->dst = (int)i;
    else if (o->kind == ELM_OPT_K_I64)
        *(int64_t *)o->dst = i;
    else if (o->kind == ELM_OPT_K_F32)
        *(float *)o->dst = (float)d;
    else
        *(double *)o->dst = d;
    return ELM_CLI_GO;
}

/* One option at argv[*i] (and its value after it); returns ELM_CLI_GO or an exit status. */
static int parse_option(elm_cli_spec_t *spec, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
        elm_cli_help(spec, stdout);
        return 0;
    }
    const char *eq = arg[1] == '-' ? strchr(arg, '=') : NULL;
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    elm_opt_t *o = find_opt(spec, arg, len);
    if (!o) return elm_cli_usage_error(spec->cmd, "unknown option '%.*s'", (int)len, arg);
    char flag[64];
    snprintf(flag, sizeof flag, "%.*s", (int)len, arg);
    o->seen = true;
    if (o->kind == ELM_OPT_K_FLAG) {
        if (eq) return elm_cli_usage_error(spec->cmd, "%s takes no value", flag);
        *(bool *)o->dst = true;
        return ELM_CLI_GO;
    }
    const char *v = eq ? eq + 1 : NULL;
    if (!v) {
        if (*i + 1 >= argc)
            return elm_cli_usage_error(spec->cmd, "%s needs a value (%s)", flag, o->arg);
        v = argv[++*i];
    }
    return set_value(spec, o, flag, v);
}

int elm_cli_parse(elm_cli_spec_t *spec, int argc, char **argv, int *n_pos)
{
    int npos = 0;
    bool options = true;
    for (elm_opt_t *o = spec->opts; o && o->kind != ELM_OPT_K_END; o++)
        o->seen = false;
    for (int i = 1; i < argc; i++) {
        char *arg = argv[i];
        if (options && !strcmp(arg, "--")) {
            options = false;
            continue;
        }
        if (options && arg[0] == '-' && arg[1]) {
            int rc = parse_option(spec, argc, argv, &i);
            if (rc != ELM_CLI_GO) return rc;
            continue;
        }
        if (spec->max_pos >= 0 && npos >= spec->max_pos)
            return elm_cli_usage_error(spec->cmd, "unexpected argument '%s'", arg);
        argv[1 + npos++] = arg; /* never ahead of i: positionals only move left */
    }
    if (npos < spec->min_pos)
        return elm_cli_usage_error(spec->cmd, "missing argument (see the usage line)");
    if (n_pos) *n_pos = npos;
    return ELM_CLI_GO;
}

/* One help entry: "  -t, --threads N" padded to the help column, then the help lines. */
static void help_entry(FILE *f, const char *alias, const char *name, const char *arg,
                       const char *help)
{
    enum { COL = 25 };
    char left[128];
    int n = snprintf(left, sizeof left, "  %s%s%s%s%s", alias ? alias : "", alias ? ", " : "", name,
                     arg ? " " : "", arg ? arg : "");
    fputs(left, f);
    if (n >= COL - 1) {
        fputc('\n', f);
        n = 0;
    }
    for (const char *line = help; line;) {
        const char *nl = strchr(line, '\n');
        int len = nl ? (int)(nl - line) : (int)strlen(line);
        fprintf(f, "%*s%.*s\n", COL - n, "", len, line);
        n = 0;
        line = nl ? nl + 1 : NULL;
    }
}

void elm_cli_help(const elm_cli_spec_t *spec, FILE *f)
{
    if (spec->head) fputs(spec->head, f);
    fputs("\noptions:\n", f);
    for (const elm_opt_t *o = spec->opts; o && o->kind != ELM_OPT_K_END; o++) {
        if (o->kind == ELM_OPT_K_TEXT)
            fprintf(f, "%s\n", o->help);
        else
            help_entry(f, o->alias, o->name, o->kind == ELM_OPT_K_FLAG ? NULL : o->arg,
                       o->help ? o->help : "");
    }
    help_entry(f, "-h", "--help", NULL, "this text");
    if (spec->tail) {
        fputc('\n', f);
        fputs(spec->tail, f);
    }
}

bool elm_cli_given(const elm_cli_spec_t *spec, const char *name)
{
    elm_opt_t *o = find_opt((elm_cli_spec_t *)spec, name, strlen(name));
    return o && o->seen;
}

int elm_cli_missing(const elm_cli_spec_t *spec, const char *name)
{
    elm_opt_t *o = find_opt((elm_cli_spec_t *)spec, name, strlen(name));
    return elm_cli_usage_error(spec->cmd, "missing %s%s%s%s", name, o && o->arg ? " (" : "",
                               o && o->arg ? o->arg : "", o && o->arg ? ")" : "");
}

/* ---- option values shared by several commands ---- */

int elm_cli_reason(int rc, const elm_diag_t *d, char *err, size_t err_len)
{
    if (rc == 0) return 0;
    const char *msg = d->msg, *colon = msg[0] == '-' ? strstr(msg, ": ") : NULL;
    snprintf(err, err_len, "%s", colon ? colon + 2 : msg);
    return -1;
}

int elm_cli_parse_list(const char *value, void *dst, char *err, size_t err_len)
{
    elm_cli_list_t *l = dst;
    elm_diag_t d;
    /* "-" stands for the option's name, which elm_cli_reason() drops */
    return elm_cli_reason(elm_bench_parse_list("-", value, l->min, l->max, l->list, &d), &d, err,
                          err_len);
}

int elm_cli_parse_power(const char *value, void *dst, char *err, size_t err_len)
{
    elm_diag_t d;
    return elm_cli_reason(elm_power_kind_parse(value, dst, &d), &d, err, err_len);
}

int elm_cli_parse_format(const char *value, void *dst, char *err, size_t err_len)
{
    elm_diag_t d;
    return elm_cli_reason(elm_bench_format_parse(value, dst, &d), &d, err, err_len);
}

int elm_cli_parse_arrival(const char *value, void *dst, char *err, size_t err_len)
{
    elm_diag_t d;
    return elm_cli_reason(elm_arrival_parse(value, dst, &d), &d, err, err_len);
}

int elm_cli_parse_url(const char *value, void *dst, char *err, size_t err_len)
{
    elm_http_url_t u;
    elm_diag_t d;
    int rc = elm_http_url_parse(value, &u, &d);
    if (!rc) *(const char **)dst = value;
    return elm_cli_reason(rc, &d, err, err_len);
}

bool elm_cli_synth_spec_valid(const char *spec)
{
    const char *colon = strchr(spec, ':');
    char shape[64];
    elm_ftype_t ft;
    if (!colon || (size_t)(colon - spec) >= sizeof shape) return false;
    memcpy(shape, spec, (size_t)(colon - spec));
    shape[colon - spec] = '\0';
    return elm_synth_shape_find(shape) &&
           (elm_ftype_from_name(colon + 1, &ft) == 0 || !strcasecmp(colon + 1, "f32"));
}

int elm_cli_parse_synthetic(const char *value, void *dst, char *err, size_t err_len)
{
    char buf[1024], *save = NULL;
    if (snprintf(buf, sizeof buf, "%s", value) >= (int)sizeof buf || !*value) goto bad;
    for (char *spec = strtok_r(buf, ",", &save); spec; spec = strtok_r(NULL, ",", &save))
        if (!elm_cli_synth_spec_valid(spec)) goto bad;
    *(const char **)dst = value;
    return 0;
bad:
    snprintf(err, err_len,
             "expected SHAPE:QUANT[,...] with a shape from 'edgelm synth --list' "
             "and a quant type (q4_0, q4_k_m, q8_0, f16, ...)");
    return -1;
}

int elm_cli_power_check(const char *cmd, bool given, elm_power_kind_t kind,
                        const elm_probe_ctx_t *ctx)
{
    if (given && kind == ELM_POWER_CONSTANT && ctx->watts == 0)
        return elm_cli_usage_error(cmd, "--power constant needs --watts W");
    if (given && kind == ELM_POWER_CMD && !ctx->command)
        return elm_cli_usage_error(cmd, "--power cmd needs --power-cmd COMMAND");
    if (given && kind == ELM_POWER_ESTIMATE && ctx->tdp_w == 0)
        return elm_cli_usage_error(cmd, "--power estimate needs --tdp W");
    if (ctx->tdp_w > 0 && !(given && kind == ELM_POWER_ESTIMATE))
        return elm_cli_usage_error(cmd, "--tdp is only for --power estimate");
    return ELM_CLI_GO;
}

int elm_cli_power_pick(const char *cmd, bool *given, elm_power_kind_t *kind,
                       const elm_probe_ctx_t *ctx)
{
    int rc = elm_cli_power_check(cmd, *given, *kind, ctx);
    if (rc != ELM_CLI_GO) return rc;
    if (!*given && (ctx->watts > 0 || ctx->command)) {
        *given = true;
        *kind = ctx->command ? ELM_POWER_CMD : ELM_POWER_CONSTANT;
    }
    return ELM_CLI_GO;
}

int elm_cli_power_open(bool given, elm_power_kind_t kind, const elm_probe_ctx_t *ctx,
                       elm_power_source_t **src, char *label, size_t cap, elm_diag_t *d)
{
    elm_diag_t why = {0};
    *src = NULL;
    if (given) {
        int rc = elm_power_open(kind, ctx, src, d);
        if (rc) return rc;
    } else {
        elm_power_open_auto(ctx, src, &why);
    }
    if (*src)
        snprintf(label, cap, "%s%s, %s", elm_power_kind_name(elm_power_kind(*src)),
                 elm_power_estimated(*src) ? ", estimated" : "", elm_power_detail(*src));
    else
        snprintf(label, cap, "unavailable: %s", why.msg);
    return 0;
}

int elm_cli_default_threads(void)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    return ncpu < 1 ? 1 : ncpu > ELM_POOL_MAX_THREADS ? ELM_POOL_MAX_THREADS : (int)ncpu;
}

elm_cli_engine_t elm_cli_engine_defaults(void)
{
    return (elm_cli_engine_t){
        .kv_name = "f16", .n_threads = elm_cli_default_threads(), .n_batch = 512};
}

int elm_cli_engine_check(const char *cmd, const elm_cli_engine_t *e)
{
    if (!e->model) return elm_cli_usage_error(cmd, "no model given (-m MODEL)");
    if (strcmp(e->kv_name, "f16") && strcmp(e->kv_name, "f32"))
        return elm_cli_usage_error(cmd, "--kv-type must be f16 or f32, not '%s'", e->kv_name);
    return ELM_CLI_GO;
}

int elm_cli_engine_open(const elm_cli_engine_t *e, const elm_hooks_t *hooks, elm_model_t **m,
                        elm_session_t **s, elm_diag_t *d)
{
    elm_model_params_t mp = elm_model_default_params();
    mp.use_mmap = !e->no_mmap;
    *s = NULL;
    int rc = elm_model_load(e->model, &mp, hooks, m, d);
    if (rc) return rc;
    elm_session_params_t sp = elm_session_default_params();
    sp.n_ctx = (uint32_t)e->n_ctx;
    sp.n_batch = (uint32_t)e->n_batch;
    sp.n_threads = e->n_threads;
    sp.n_threads_batch = e->n_threads_batch;
    sp.kv_type = strcmp(e->kv_name, "f32") ? ELM_TYPE_F16 : ELM_TYPE_F32;
    return elm_session_create(*m, &sp, s, d);
}

void elm_cli_probe_env(elm_probe_ctx_t *ctx)
{
    ctx->sysfs_root = getenv("EDGELM_SYSFS_ROOT");
    ctx->vcgencmd = getenv("EDGELM_VCGENCMD");
    ctx->nvpmodel = getenv("EDGELM_NVPMODEL");
}

void elm_cli_progress(const char *label, uint64_t done, uint64_t total)
{
    static int tty = -1;
    if (tty < 0) tty = isatty(STDERR_FILENO);
    if (!tty || total == 0) return;
    int width = 40, fill = (int)(done * (uint64_t)width / total);
    fprintf(stderr, "\r%-12s [%.*s%*s] %3d%%", label, fill,
            "########################################", width - fill, "",
            (int)(done * 100 / total));
    if (done >= total) fputc('\n', stderr);
    fflush(stderr);
}

const char *elm_cli_bytes(uint64_t n, char *buf, int len)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, (size_t)len, "%" PRIu64 " B", n);
    else
        snprintf(buf, (size_t)len, "%.2f %s", v, unit[u]);
    return buf;
}

int elm_cli_print_json(cJSON *o)
{
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!s) {
        fprintf(stderr, "edgelm: out of memory printing JSON\n");
        return 1;
    }
    puts(s);
    free(s);
    return 0;
}

int elm_cli_store_open(const char *db, bool no_db, elm_store_t **st, char *path, size_t cap,
                       elm_diag_t *d)
{
    int rc;
    *st = NULL;
    if (no_db) return 0;
    if (db)
        snprintf(path, cap, "%s", db);
    else if ((rc = elm_store_default_path(getenv("XDG_DATA_HOME"), getenv("HOME"), path, cap, d)))
        return rc;
    return elm_store_open(path, st, d);
}

int elm_cli_read_cluster(const char *path, elm_cluster_config_t *cfg, elm_diag_t *d)
{
    char *text;
    size_t len;
    int rc = elm_file_read(path, 16u << 20, &text, &len, d);
    if (rc) return rc;
    rc = elm_cluster_config_parse(text, len, path, cfg, d);
    free(text);
    return rc;
}

void elm_cli_log_line(void *user, const char *line)
{
    (void)user;
    fprintf(stderr, "%s\n", line);
}

static void (*volatile stop_fn)(void *);
static void *volatile stop_arg;

static void on_stop_signal(int sig)
{
    (void)sig;
    void (*fn)(void *) = stop_fn;
    if (fn) fn(stop_arg);
}

void elm_cli_stop_on_signals(void (*stop)(void *arg), void *arg)
{
    stop_arg = arg;
    stop_fn = stop;
    signal(SIGINT, on_stop_signal);
    signal(SIGTERM, on_stop_signal);
}

void elm_cli_stop_signals_reset(void)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    stop_fn = NULL;
    stop_arg = NULL;
}
