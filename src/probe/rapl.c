/* RAPL through powercap: /sys/class/powercap/intel-rapl:N[:M]/{name,energy_uj,
 * max_energy_range_uj}. AMD Zen exposes the same tree. The total is the sum of the package-N
 * zones and the dram zones (dram is outside the package domain; core and uncore are inside it and
 * are listed but not added); psys, the whole platform, is used alone when there is no package. */
#include <stdlib.h>
#include <string.h>

#include "probe_internal.h"

typedef struct {
    int n;
    struct {
        char energy_path[ELM__PATH_MAX];
        uint64_t max_range, prev, acc_uj;
        bool in_total;
    } z[ELM_POWER_MAX_CHANNELS];
    bool primed;
} rapl_state_t;

static int rapl_read(elm_power_source_t *s, elm_power_reading_t *r, elm_diag_t *d)
{
    rapl_state_t *st = s->state;
    uint64_t raw[ELM_POWER_MAX_CHANNELS];
    for (int i = 0; i < st->n; i++) {
        int rc = elm__read_u64(st->z[i].energy_path, &raw[i], d);
        if (rc) return rc;
        if (st->z[i].max_range && raw[i] > st->z[i].max_range)
            return elm_diag(d, ELM_ERANGE, "%s: %llu exceeds max_energy_range_uj %llu", st->z[i].energy_path,
                            (unsigned long long)raw[i], (unsigned long long)st->z[i].max_range);
    }
    uint64_t total = 0;
    for (int i = 0; i < st->n; i++) {
        if (st->primed) st->z[i].acc_uj += elm__counter_delta(st->z[i].prev, raw[i], st->z[i].max_range);
        st->z[i].prev = raw[i];
        if (st->z[i].in_total) total += st->z[i].acc_uj;
    }
    st->primed = true;
    r->energy_j = (double)total * 1e-6;
    return ELM_OK;
}

static void rapl_close(elm_power_source_t *s)
{
    free(s->state);
}

static const elm__power_ops_t rapl_ops = {rapl_read, rapl_close};

int elm__rapl_open(elm_power_source_t *s, const elm_probe_ctx_t *ctx, elm_diag_t *d)
{
    char dir[ELM__PATH_MAX], path[ELM__PATH_MAX + 128], name[64];
    char zones[ELM__MAX_ENTRIES][64];
    if (elm__path(dir, sizeof dir, ctx, "/sys/class/powercap")) return elm_diag(d, ELM_ERANGE, "sysfs root too long");
    int nz = elm__list_dir(dir, "intel-rapl:", zones, ELM__MAX_ENTRIES);
    if (nz == ELM_ENOENT)
        return elm_diag(d, ELM_ENOENT, "%s: no such directory (no powercap driver: usual in VMs and "
                                       "on ARM boards)", dir);
    if (nz < 0) return elm_diag(d, nz, "%s: cannot list (%s)", dir, elm_strerror(nz));
    if (nz == 0) return elm_diag(d, ELM_ENOENT, "%s: no intel-rapl:* zones (RAPL not exposed here)", dir);
    rapl_state_t *st = calloc(1, sizeof *st);
    if (!st) return elm_diag(d, ELM_ENOMEM, "out of memory");
    s->state = st;
    s->ops = &rapl_ops;
    s->has_energy = true;
    int rc, psys = -1;
    bool have_pkg = false;
    char used[256] = "";
    for (int i = 0; i < nz && st->n < ELM_POWER_MAX_CHANNELS; i++) {
        elm__fmt(path, sizeof path, "%s/%s/name", dir, zones[i]);
        if ((rc = elm__read_text(path, name, sizeof name, d))) return rc;
        elm__fmt(st->z[st->n].energy_path, sizeof st->z[0].energy_path, "%s/%s/energy_uj", dir, zones[i]);
        uint64_t probe;
        if ((rc = elm__read_u64(st->z[st->n].energy_path, &probe, d))) {
            if (rc == ELM_EACCES)
                elm_diag(d, rc, "%s: permission denied (energy_uj is root-only since Linux 5.10: run as "
                                "root or chmod a+r it)", st->z[st->n].energy_path);
            return rc;
        }
        elm__fmt(path, sizeof path, "%s/%s/max_energy_range_uj", dir, zones[i]);
        if ((rc = elm__read_u64(path, &st->z[st->n].max_range, d))) return rc;
        if (st->z[st->n].max_range == 0) return elm_diag(d, ELM_ERANGE, "%s: zero range", path);
        bool pkg = !strncmp(name, "package", 7), dram = !strcmp(name, "dram");
        st->z[st->n].in_total = pkg || dram;
        have_pkg |= pkg;
        if (!strcmp(name, "psys")) psys = st->n;
        char ch[64];
        elm__fmt(ch, sizeof ch, "%s (%s)", name, zones[i]);
        if ((rc = elm__power_add_channel(s, ch, d))) return rc;
        if (st->z[st->n].in_total) {
            size_t ul = strlen(used);
            elm__fmt(used + ul, sizeof used - ul, "%s%s", ul ? " + " : "", name);
        }
        st->n++;
    }
    if (!have_pkg && psys >= 0) {
        st->z[psys].in_total = true;
        elm__fmt(used, sizeof used, "psys");
    }
    if (!used[0]) return elm_diag(d, ELM_ENOENT, "%s: no package, dram or psys zone", dir);
    elm__fmt(s->detail, sizeof s->detail, "energy counters; total = %s", used);
    return ELM_OK;
}
