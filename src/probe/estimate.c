/* Sources that do not measure: a constant the user knows (--watts W), and the estimate
 * utilization x TDP (--power estimate --tdp W), which is always flagged estimated so every
 * output can label it. Utilization is the busy share of all CPUs between two readings of
 * <root>/proc/stat. */
#include <stdlib.h>
#include <string.h>

#include "probe_internal.h"

/* ---- constant ---- */

static int constant_read(elm_power_source_t *s, elm_power_reading_t *r, elm_diag_t *d)
{
    (void)d;
    r->watts = r->channel_w[0] = *(double *)s->state;
    return ELM_OK;
}

static void free_state(elm_power_source_t *s)
{
    free(s->state);
}

static const elm__power_ops_t constant_ops = {constant_read, free_state};

int elm__constant_open(elm_power_source_t *s, const elm_probe_ctx_t *ctx, elm_diag_t *d)
{
    if (!ctx || ctx->watts == 0) return elm_diag(d, ELM_ENOENT, "no constant given (--watts W)");
    if (!(ctx->watts > 0) || !isfinite(ctx->watts))
        return elm_diag(d, ELM_EINVAL, "--watts must be a positive number, not %g", ctx->watts);
    double *w = malloc(sizeof *w);
    if (!w) return elm_diag(d, ELM_ENOMEM, "out of memory");
    *w = ctx->watts;
    s->state = w;
    s->ops = &constant_ops;
    snprintf(s->detail, sizeof s->detail, "constant %g W given by the user (not measured)", ctx->watts);
    return elm__power_add_channel(s, "constant", d);
}

/* ---- estimate ---- */

typedef struct {
    char stat_path[ELM__PATH_MAX];
    double tdp_w;
    uint64_t busy, total;
} estimate_state_t;

/* Busy and total jiffies from the aggregate "cpu" line of /proc/stat. */
static int read_stat(const char *path, uint64_t *busy, uint64_t *total, elm_diag_t *d)
{
    char buf[4096];
    int rc = elm__read_text(path, buf, sizeof buf, d);
    if (rc && rc != ELM_ERANGE) return rc;
    if (rc == ELM_ERANGE) { /* only the first line matters */
        FILE *f = fopen(path, "r");
        if (!f || !fgets(buf, sizeof buf, f)) {
            if (f) fclose(f);
            return elm_diag(d, ELM_EIO, "%s: cannot read", path);
        }
        fclose(f);
        elm_diag_clear(d);
    }
    if (strncmp(buf, "cpu ", 4)) return elm_diag(d, ELM_EINVAL, "%s: first line is not the 'cpu' total", path);
    char *p = buf + 4, *eol = strchr(p, '\n');
    if (eol) *eol = '\0';
    uint64_t f[10] = {0}, sum = 0;
    int n = 0;
    for (char *tok = strtok(p, " "); tok && n < 10; tok = strtok(NULL, " "), n++) {
        if ((rc = elm__parse_u64(path, tok, &f[n], d))) return rc;
        if (n < 8 && elm_add_u64(sum, f[n], &sum)) return elm_diag(d, ELM_ERANGE, "%s: counters overflow", path);
    }
    if (n < 4) return elm_diag(d, ELM_EINVAL, "%s: 'cpu' line has %d fields, want at least 4", path, n);
    *total = sum;
    *busy = sum - f[3] - (n > 4 ? f[4] : 0); /* idle and iowait are not busy */
    return ELM_OK;
}

static int estimate_read(elm_power_source_t *s, elm_power_reading_t *r, elm_diag_t *d)
{
    estimate_state_t *st = s->state;
    uint64_t busy, total;
    int rc = read_stat(st->stat_path, &busy, &total, d);
    if (rc) return rc;
    if (total < st->total || busy < st->busy)
        return elm_diag(d, ELM_ERANGE, "%s: CPU counters went backwards", st->stat_path);
    uint64_t dt = total - st->total, db = busy - st->busy;
    /* No tick elapsed since the last reading: no utilization figure yet (NAN), not 0 W. */
    if (dt > 0) r->watts = r->channel_w[0] = st->tdp_w * (double)db / (double)dt;
    st->busy = busy;
    st->total = total;
    return ELM_OK;
}

static const elm__power_ops_t estimate_ops = {estimate_read, free_state};

int elm__estimate_open(elm_power_source_t *s, const elm_probe_ctx_t *ctx, elm_diag_t *d)
{
    if (!ctx || ctx->tdp_w == 0)
        return elm_diag(d, ELM_ENOENT, "estimate only when asked, with a TDP (--power estimate --tdp W)");
    if (!(ctx->tdp_w > 0) || !isfinite(ctx->tdp_w))
        return elm_diag(d, ELM_EINVAL, "--tdp must be a positive number, not %g", ctx->tdp_w);
    estimate_state_t *st = calloc(1, sizeof *st);
    if (!st) return elm_diag(d, ELM_ENOMEM, "out of memory");
    s->state = st;
    s->ops = &estimate_ops;
    s->estimated = true;
    st->tdp_w = ctx->tdp_w;
    if (elm__path(st->stat_path, sizeof st->stat_path, ctx, "/proc/stat")) return elm_diag(d, ELM_ERANGE, "sysfs root too long");
    int rc = read_stat(st->stat_path, &st->busy, &st->total, d);
    if (rc) return rc;
    snprintf(s->detail, sizeof s->detail, "ESTIMATED: CPU utilization x TDP %g W (not measured)", ctx->tdp_w);
    return elm__power_add_channel(s, "estimate", d);
}
