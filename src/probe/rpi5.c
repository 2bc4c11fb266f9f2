/* Raspberry Pi 5 PMIC through `vcgencmd pmic_read_adc`, whose lines read
 *     VDD_CORE_A current(7)=0.98630000A
 *     VDD_CORE_V volt(15)=0.72000000V
 * Power = sum of A x V over the rails that have both. EXT5V (the board input) has a voltage but
 * no current sensor, so the total misses conversion losses and USB/peripheral draw: it
 * underestimates what the board takes from the wall, and every output says so. */
#include <stdlib.h>
#include <string.h>

#include "probe_internal.h"

#define RPI5_MAX_RAILS 40

typedef struct {
    char name[RPI5_MAX_RAILS][32];
    double amps[RPI5_MAX_RAILS], volts[RPI5_MAX_RAILS];
    int n;
} pmic_t;

typedef struct {
    const char *cmd;
} rpi5_state_t;

static int rail_index(pmic_t *p, const char *name, size_t len)
{
    for (int i = 0; i < p->n; i++)
        if (strlen(p->name[i]) == len && !strncmp(p->name[i], name, len)) return i;
    if (p->n == RPI5_MAX_RAILS || len >= sizeof p->name[0]) return -1;
    memcpy(p->name[p->n], name, len);
    p->name[p->n][len] = '\0';
    p->amps[p->n] = p->volts[p->n] = NAN;
    return p->n++;
}

/* Parse pmic_read_adc output into rails; lines that are neither a current nor a volt reading are
 * ignored, a reading with a bad number is an error. */
static int parse_pmic(const char *text, pmic_t *p, elm_diag_t *d)
{
    p->n = 0;
    const char *line = text;
    while (*line) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        char buf[160];
        snprintf(buf, sizeof buf, "%.*s", (int)(len < sizeof buf ? len : sizeof buf - 1), line);
        line += len + (eol != NULL);
        char *name = buf + strspn(buf, " \t"), *sp = strchr(name, ' ');
        if (!sp) continue;
        bool cur = !strncmp(sp + 1, "current(", 8), volt = !strncmp(sp + 1, "volt(", 5);
        char *eq = strchr(sp, '=');
        if ((!cur && !volt) || !eq) continue;
        size_t nl = (size_t)(sp - name);
        if (nl < 3 || name[nl - 2] != '_' || name[nl - 1] != (cur ? 'A' : 'V'))
            return elm_diag(d, ELM_EINVAL, "pmic_read_adc: rail '%.*s' lacks its _%c suffix", (int)nl, name,
                            cur ? 'A' : 'V');
        char *end;
        double v = strtod(eq + 1, &end);
        if (end == eq + 1 || *end != (cur ? 'A' : 'V') || end[1 + strspn(end + 1, " \t\r")] != '\0' ||
            !isfinite(v))
            return elm_diag(d, ELM_EINVAL, "pmic_read_adc: bad reading '%s'", name);
        if (v < 0) return elm_diag(d, ELM_ERANGE, "pmic_read_adc: negative reading '%s'", name);
        int i = rail_index(p, name, nl - 2);
        if (i < 0) return elm_diag(d, ELM_ERANGE, "pmic_read_adc: too many rails");
        if (cur)
            p->amps[i] = v;
        else
            p->volts[i] = v;
    }
    return ELM_OK;
}

static int run_pmic(const char *cmd, pmic_t *p, elm_diag_t *d)
{
    char out[8192];
    char *argv[] = {(char *)cmd, "pmic_read_adc", NULL};
    int rc = elm__run_capture(argv, out, sizeof out, d);
    return rc ? rc : parse_pmic(out, p, d);
}

static int rpi5_read(elm_power_source_t *s, elm_power_reading_t *r, elm_diag_t *d)
{
    rpi5_state_t *st = s->state;
    pmic_t p;
    int rc = run_pmic(st->cmd, &p, d);
    if (rc) return rc;
    double sum = 0;
    for (int c = 0; c < s->n_channels; c++) {
        int i = rail_index(&p, s->channel[c], strlen(s->channel[c]));
        if (i < 0 || isnan(p.amps[i]) || isnan(p.volts[i]))
            return elm_diag(d, ELM_EIO, "pmic_read_adc: rail %s disappeared", s->channel[c]);
        r->channel_w[c] = p.amps[i] * p.volts[i];
        sum += r->channel_w[c];
    }
    r->watts = sum;
    return ELM_OK;
}

static void rpi5_close(elm_power_source_t *s)
{
    free(s->state);
}

static const elm__power_ops_t rpi5_ops = {rpi5_read, rpi5_close};

int elm__rpi5_open(elm_power_source_t *s, const elm_probe_ctx_t *ctx, elm_diag_t *d)
{
    const char *cmd = ctx && ctx->vcgencmd && ctx->vcgencmd[0] ? ctx->vcgencmd : "vcgencmd";
    pmic_t *p = malloc(sizeof *p);
    if (!p) return elm_diag(d, ELM_ENOMEM, "out of memory");
    int rc = run_pmic(cmd, p, d);
    if (rc == ELM_ENOENT) {
        char why[sizeof d->msg];
        snprintf(why, sizeof why, "%s", d ? d->msg : "");
        rc = elm_diag(d, rc, "%.300s (not a Raspberry Pi, or vcgencmd is not installed)", why);
    }
    if (!rc && p->n == 0)
        rc = elm_diag(d, ELM_ENOTSUP, "%s pmic_read_adc printed no PMIC readings (not a Raspberry Pi 5?)", cmd);
    bool ext5v = false;
    for (int i = 0; !rc && i < p->n; i++) {
        if (!strcmp(p->name[i], "EXT5V")) ext5v = true;
        if (!isnan(p->amps[i]) && !isnan(p->volts[i])) rc = elm__power_add_channel(s, p->name[i], d);
    }
    free(p);
    if (!rc && s->n_channels == 0)
        rc = elm_diag(d, ELM_ENOTSUP, "%s pmic_read_adc: no rail has both current and voltage", cmd);
    if (rc) return rc;
    rpi5_state_t *st = malloc(sizeof *st);
    if (!st) return elm_diag(d, ELM_ENOMEM, "out of memory");
    st->cmd = cmd;
    s->state = st;
    s->ops = &rpi5_ops;
    s->default_interval_ms = 100; /* faster polling of vcgencmd slows inference down */
    snprintf(s->detail, sizeof s->detail,
             "PMIC, sum of A x V over %d rails; %s has no current sensor, so board input is "
             "underestimated (conversion losses, USB and peripherals are missing)",
             s->n_channels, ext5v ? "EXT5V" : "the 5 V input (EXT5V)");
    return ELM_OK;
}
