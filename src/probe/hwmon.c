/* hwmon: /sys/class/hwmon/hwmonN/{name, power*_input (uW), energy*_input (uJ), in*_input (mV),
 * curr*_input (mA), *_label}. Also the channel machinery the Jetson INA3221 source reuses.
 * When a device has energy counters they are used (exact energy); otherwise watts are summed
 * over power sensors and voltage x current pairs of the same index. Devices named ina3221 are
 * left to the jetson source so rails are not counted twice. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "probe_internal.h"

bool elm__skip_label(const char *label)
{
    if (strcasestr(label, "sum of shunt")) return true;
    /* "NC" as a whole word: "NC", "NC_1", "VDD_NC"; not "SYNC" or "VDD_INC". */
    for (const char *p = label; (p = strstr(p, "NC")); p += 2) {
        bool left = p == label || !isalnum((unsigned char)p[-1]);
        bool right = !isalnum((unsigned char)p[2]);
        if (left && right) return true;
    }
    return false;
}

/* Index N of "<stem>N_input", or -1. */
static int input_index(const char *file, const char *stem)
{
    size_t sl = strlen(stem);
    if (strncmp(file, stem, sl) || !isdigit((unsigned char)file[sl])) return -1;
    char *end;
    long v = strtol(file + sl, &end, 10);
    return strcmp(end, "_input") || v > 1000 ? -1 : (int)v;
}

/* The label of "<dir>/<stem>N_label" into buf, or "" when there is none. */
static int read_label(const char *dir, const char *stem, int idx, char *buf, size_t n, elm_diag_t *d)
{
    char path[ELM__PATH_MAX + 64];
    elm__fmt(path, sizeof path, "%s/%s%d_label", dir, stem, idx);
    int rc = elm__read_text(path, buf, n, d);
    if (rc == ELM_ENOENT) {
        buf[0] = '\0';
        elm_diag_clear(d);
        return ELM_OK;
    }
    return rc;
}

static int add_chan(elm_power_source_t *s, elm__chans_t *ch, elm__ch_kind_t kind, const char *a,
                    const char *b, const char *name, elm_diag_t *d)
{
    int rc = elm__power_add_channel(s, name, d);
    if (rc) return rc;
    ch->c[ch->n].kind = kind;
    elm__fmt(ch->c[ch->n].a, sizeof ch->c[0].a, "%s", a);
    elm__fmt(ch->c[ch->n].b, sizeof ch->c[0].b, "%s", b ? b : "");
    /* Fail at open, not mid-run, when a sensor is unreadable or holds garbage. */
    uint64_t v;
    if ((rc = elm__read_u64(a, &v, d)) || (b && (rc = elm__read_u64(b, &v, d)))) {
        s->n_channels--;
        return rc;
    }
    ch->n++;
    return ELM_OK;
}

int elm__hwmon_add_dir(elm_power_source_t *s, elm__chans_t *ch, const char *dir, const char *prefix,
                       bool vi_only, elm_diag_t *d)
{
    char files[ELM__MAX_ENTRIES][64], label[64], name[160], a[ELM__PATH_MAX + 64], b[ELM__PATH_MAX + 64];
    int nf = elm__list_dir(dir, "", files, ELM__MAX_ENTRIES), added = 0, rc;
    if (nf < 0) return elm_diag(d, nf, "%s: cannot list (%s)", dir, elm_strerror(nf));
    static const struct { const char *stem; elm__ch_kind_t kind; } single[] = {
        {"power", ELM__CH_POWER_UW}, {"energy", ELM__CH_ENERGY_UJ}};
    for (int k = 0; k < 2 && !vi_only; k++)
        for (int f = 0; f < nf; f++) {
            int idx = input_index(files[f], single[k].stem);
            if (idx < 0) continue;
            if ((rc = read_label(dir, single[k].stem, idx, label, sizeof label, d))) return rc;
            if (label[0] && elm__skip_label(label)) continue;
            elm__fmt(name, sizeof name, "%s%s", prefix, label);
            if (!label[0]) elm__fmt(name, sizeof name, "%s%s%d", prefix, single[k].stem, idx);
            elm__fmt(a, sizeof a, "%s/%s", dir, files[f]);
            if ((rc = add_chan(s, ch, single[k].kind, a, NULL, name, d))) return rc;
            added++;
        }
    for (int f = 0; f < nf; f++) {
        int idx = input_index(files[f], "in");
        if (idx < 1 || (vi_only && idx > 3)) continue;
        char cl[64];
        elm__fmt(b, sizeof b, "%s/curr%d_input", dir, idx);
        if (access(b, F_OK)) continue;
        if ((rc = read_label(dir, "in", idx, label, sizeof label, d))) return rc;
        if ((rc = read_label(dir, "curr", idx, cl, sizeof cl, d))) return rc;
        if ((vi_only && !label[0]) || (label[0] && cl[0] && strcmp(label, cl))) continue;
        if (!label[0]) elm__fmt(label, sizeof label, "%s", cl);
        if (label[0] && elm__skip_label(label)) continue;
        elm__fmt(name, sizeof name, "%s%s", prefix, label);
        if (!label[0]) elm__fmt(name, sizeof name, "%sin%d*curr%d", prefix, idx, idx);
        elm__fmt(a, sizeof a, "%s/%s", dir, files[f]);
        if ((rc = add_chan(s, ch, ELM__CH_VI, a, b, name, d))) return rc;
        added++;
    }
    return added;
}

int elm__chans_read(elm_power_source_t *s, elm__chans_t *ch, elm_power_reading_t *r, elm_diag_t *d)
{
    (void)s;
    double sum_w = 0, sum_e = 0;
    int n_w = 0;
    for (int i = 0; i < ch->n; i++) {
        uint64_t va, vb = 0;
        int rc = elm__read_u64(ch->c[i].a, &va, d);
        if (!rc && ch->c[i].kind == ELM__CH_VI) rc = elm__read_u64(ch->c[i].b, &vb, d);
        if (rc) return rc;
        double w = NAN;
        switch (ch->c[i].kind) {
        case ELM__CH_POWER_UW: w = (double)va * 1e-6; break;
        case ELM__CH_POWER_MW: w = (double)va * 1e-3; break;
        case ELM__CH_VI: w = (double)va * (double)vb * 1e-6; break; /* mV x mA = uW */
        case ELM__CH_ENERGY_UJ:
            if (ch->primed) ch->c[i].acc_uj += elm__counter_delta(ch->c[i].prev, va, 0);
            ch->c[i].prev = va;
            sum_e += (double)ch->c[i].acc_uj * 1e-6;
            break;
        }
        r->channel_w[i] = w;
        if (!isnan(w)) sum_w += w, n_w++;
    }
    ch->primed = true;
    if (ch->use_energy)
        r->energy_j = sum_e;
    else
        r->watts = ch->total >= 0 ? r->channel_w[ch->total] : (n_w ? sum_w : NAN);
    return ELM_OK;
}

void elm__chans_detail(elm_power_source_t *s, const elm__chans_t *ch, const char *what)
{
    if (ch->use_energy)
        elm__fmt(s->detail, sizeof s->detail, "%s energy counters; total = sum of %d counters", what, ch->n);
    else if (ch->total >= 0)
        elm__fmt(s->detail, sizeof s->detail, "%s; total = %s (board input)", what, s->channel[ch->total]);
    else
        elm__fmt(s->detail, sizeof s->detail, "%s; total = sum of %d rails (no board-input rail; rails "
                                              "may overlap)", what, ch->n);
}

static int chans_read(elm_power_source_t *s, elm_power_reading_t *r, elm_diag_t *d)
{
    return elm__chans_read(s, s->state, r, d);
}

static void chans_close(elm_power_source_t *s)
{
    free(s->state);
}

const elm__power_ops_t elm__chans_ops = {chans_read, chans_close};

/* ---- the generic hwmon source ---- */

int elm__hwmon_open(elm_power_source_t *s, const elm_probe_ctx_t *ctx, elm_diag_t *d)
{
    char dir[ELM__PATH_MAX], sub[ELM__PATH_MAX + 64], path[ELM__PATH_MAX + 128], name[64], prefix[80];
    char devs[ELM__MAX_ENTRIES][64], seen[256] = "";
    if (elm__path(dir, sizeof dir, ctx, "/sys/class/hwmon")) return elm_diag(d, ELM_ERANGE, "sysfs root too long");
    int nd = elm__list_dir(dir, "hwmon", devs, ELM__MAX_ENTRIES);
    if (nd == ELM_ENOENT) return elm_diag(d, ELM_ENOENT, "%s: no such directory (no hwmon drivers here)", dir);
    if (nd < 0) return elm_diag(d, nd, "%s: cannot list (%s)", dir, elm_strerror(nd));
    elm__chans_t *ch = calloc(1, sizeof *ch);
    if (!ch) return elm_diag(d, ELM_ENOMEM, "out of memory");
    ch->total = -1;
    s->state = ch;
    s->ops = &elm__chans_ops;
    for (int i = 0; i < nd; i++) {
        elm__fmt(sub, sizeof sub, "%s/%s", dir, devs[i]);
        elm__fmt(path, sizeof path, "%s/name", sub);
        int rc = elm__read_text(path, name, sizeof name, d);
        if (rc == ELM_ENOENT) continue;
        if (rc) return rc;
        size_t sl = strlen(seen);
        elm__fmt(seen + sl, sizeof seen - sl, "%s%s", sl ? ", " : "", name);
        if (!strcmp(name, "ina3221")) continue;
        elm__fmt(prefix, sizeof prefix, "%s/", name);
        if ((rc = elm__hwmon_add_dir(s, ch, sub, prefix, false, d)) < 0) return rc;
    }
    if (ch->n == 0)
        return elm_diag(d, ELM_ENOENT, "%s: no device reports power or energy (%d devices%s%s%s)", dir, nd,
                        seen[0] ? ": " : "", seen, strstr(seen, "ina3221") ? "; ina3221 is the jetson source" : "");
    /* Energy counters when every channel is one; otherwise watts, ignoring lone counters. */
    int n_e = 0;
    for (int i = 0; i < ch->n; i++) n_e += ch->c[i].kind == ELM__CH_ENERGY_UJ;
    ch->use_energy = n_e == ch->n;
    s->has_energy = ch->use_energy;
    elm__chans_detail(s, ch, "hwmon");
    return ELM_OK;
}
