/* A power source that runs a command on every sample and reads the watts it prints (a USB meter
 * script, a smart plug query). The command runs through /bin/sh -c; its output must be one
 * non-negative number, optionally followed by "W". */
#include <stdlib.h>
#include <string.h>

#include "probe_internal.h"

static int cmd_read(elm_power_source_t *s, elm_power_reading_t *r, elm_diag_t *d)
{
    char out[256];
    char *argv[] = {"/bin/sh", "-c", (char *)s->state, NULL};
    int rc = elm__run_capture(argv, out, sizeof out, d);
    if (rc) {
        char why[sizeof d->msg];
        snprintf(why, sizeof why, "%s", d ? d->msg : "failed");
        return elm_diag(d, rc, "power command '%.200s': %s", (char *)s->state, why);
    }
    if ((rc = elm__parse_watts("power command", out, &r->watts, d))) return rc;
    r->channel_w[0] = r->watts;
    return ELM_OK;
}

static const elm__power_ops_t cmd_ops = {cmd_read, NULL};

int elm__cmd_open(elm_power_source_t *s, const elm_probe_ctx_t *ctx, elm_diag_t *d)
{
    if (!ctx || !ctx->command || !ctx->command[0])
        return elm_diag(d, ELM_ENOENT, "no power command given (--power-cmd 'COMMAND THAT PRINTS WATTS')");
    s->state = (void *)ctx->command; /* borrowed: the ctx outlives the source */
    s->ops = &cmd_ops;
    int rc = elm__power_add_channel(s, "command", d);
    if (rc) return rc;
    elm_power_reading_t r;
    elm__power_reading_clear(s, &r);
    if ((rc = cmd_read(s, &r, d))) return rc;
    snprintf(s->detail, sizeof s->detail, "external command: %.300s", ctx->command);
    return ELM_OK;
}
