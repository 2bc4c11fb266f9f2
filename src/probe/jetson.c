/* NVIDIA Jetson INA3221 rail monitors. JetPack 5/6 (upstream driver):
 *   /sys/bus/i2c/drivers/ina3221/<bus-addr>/hwmon/hwmonN/{inK_label, inK_input (mV), currK_input (mA)}
 * for K = 1..3 (VDD_IN, VDD_CPU_GPU_CV, VDD_SOC on Orin); labels containing "NC" and the
 * sum-of-shunts channel are skipped. JetPack 4 (downstream ina3221x, iio):
 *   /sys/bus/i2c/drivers/ina3221x/<bus-addr>/iio:deviceN/{rail_name_K, in_powerK_input (mW)}.
 * The total is the board input VDD_IN (or POM_5V_IN on the Nano), else the sum of rails. */
#include <stdlib.h>
#include <string.h>

#include "probe_internal.h"

/* JetPack 5/6: every hwmon directory under every ina3221 device. */
static int add_hwmon_layout(elm_power_source_t *s, elm__chans_t *ch, const char *drv, elm_diag_t *d)
{
    char devs[ELM__MAX_ENTRIES][64], hw[ELM__MAX_ENTRIES][64], sub[ELM__PATH_MAX + 160];
    int nd = elm__list_dir(drv, "", devs, ELM__MAX_ENTRIES), added = 0;
    for (int i = 0; i < nd; i++) {
        elm__fmt(sub, sizeof sub, "%s/%s/hwmon", drv, devs[i]);
        int nh = elm__list_dir(sub, "hwmon", hw, ELM__MAX_ENTRIES);
        for (int j = 0; j < nh; j++) {
            char dir[ELM__PATH_MAX + 240];
            elm__fmt(dir, sizeof dir, "%s/%s", sub, hw[j]);
            int rc = elm__hwmon_add_dir(s, ch, dir, "", true, d);
            if (rc < 0) return rc;
            added += rc;
        }
    }
    return added;
}

/* JetPack 4: rail_name_K + in_powerK_input in every iio:device under every ina3221x device. */
static int add_iio_layout(elm_power_source_t *s, elm__chans_t *ch, const char *drv, elm_diag_t *d)
{
    char devs[ELM__MAX_ENTRIES][64], iio[ELM__MAX_ENTRIES][64], dir[ELM__PATH_MAX + 160];
    char path[ELM__PATH_MAX + 240], rail[64];
    int nd = elm__list_dir(drv, "", devs, ELM__MAX_ENTRIES), added = 0;
    for (int i = 0; i < nd; i++) {
        elm__fmt(dir, sizeof dir, "%s/%s", drv, devs[i]);
        int ni = elm__list_dir(dir, "iio:device", iio, ELM__MAX_ENTRIES);
        for (int j = 0; j < ni; j++)
            for (int k = 0; k < 8; k++) {
                elm__fmt(path, sizeof path, "%s/%s/rail_name_%d", dir, iio[j], k);
                int rc = elm__read_text(path, rail, sizeof rail, d);
                if (rc == ELM_ENOENT) {
                    elm_diag_clear(d);
                    continue;
                }
                if (rc) return rc;
                if (elm__skip_label(rail)) continue;
                elm__fmt(path, sizeof path, "%s/%s/in_power%d_input", dir, iio[j], k);
                uint64_t v;
                if ((rc = elm__read_u64(path, &v, d)) || (rc = elm__power_add_channel(s, rail, d))) return rc;
                ch->c[ch->n].kind = ELM__CH_POWER_MW;
                elm__fmt(ch->c[ch->n].a, sizeof ch->c[0].a, "%s", path);
                ch->n++;
                added++;
            }
    }
    return added;
}

int elm__jetson_open(elm_power_source_t *s, const elm_probe_ctx_t *ctx, elm_diag_t *d)
{
    char jp5[ELM__PATH_MAX], jp4[ELM__PATH_MAX];
    if (elm__path(jp5, sizeof jp5, ctx, "/sys/bus/i2c/drivers/ina3221") ||
        elm__path(jp4, sizeof jp4, ctx, "/sys/bus/i2c/drivers/ina3221x"))
        return elm_diag(d, ELM_ERANGE, "sysfs root too long");
    elm__chans_t *ch = calloc(1, sizeof *ch);
    if (!ch) return elm_diag(d, ELM_ENOMEM, "out of memory");
    ch->total = -1;
    s->state = ch;
    s->ops = &elm__chans_ops;
    const char *layout = "INA3221 (JetPack 5/6 hwmon)";
    int rc = add_hwmon_layout(s, ch, jp5, d);
    if (rc == 0) {
        layout = "INA3221 (JetPack 4 iio)";
        rc = add_iio_layout(s, ch, jp4, d);
    }
    if (rc < 0) return rc;
    if (ch->n == 0)
        return elm_diag(d, ELM_ENOENT, "no INA3221 rails under %s or %s (not a Jetson)", jp5, jp4);
    for (int i = 0; i < ch->n && ch->total < 0; i++)
        if (!strcmp(s->channel[i], "VDD_IN") || !strcmp(s->channel[i], "POM_5V_IN")) ch->total = i;
    elm__chans_detail(s, ch, layout);
    return ELM_OK;
}
