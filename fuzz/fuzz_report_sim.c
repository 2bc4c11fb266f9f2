/* libFuzzer harness for the report's reader of `edgelm simulate --json` documents (untrusted
 * files): parse arbitrary bytes; on success every scenario must hold finite, non-negative figures
 * and at most ELM_ROUTE_MAX_DEVICES named devices; on failure the set must be as it was, with a
 * message. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "report/fig_other.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    elm__route_set_t set = {0};
    elm_diag_t d;
    elm_diag_clear(&d);
    int rc = elm__route_sim_parse((const char *)data, size, "fuzz.json", &set, &d);
    if (rc) {
        if (set.n || !d.msg[0] || rc != d.code) __builtin_trap();
        elm__route_set_free(&set);
        return 0;
    }
    if (!set.n) __builtin_trap();
    for (size_t i = 0; i < set.n; i++) {
        const elm__route_scn_t *s = &set.s[i];
        if (s->from_log || !s->n_runs || s->n_dev > ELM_ROUTE_MAX_DEVICES || !s->label[0])
            __builtin_trap();
        for (int m = 0; m < ELM_SIM_M_COUNT; m++)
            if (!isfinite(s->mean[m]) || s->mean[m] < 0 || !(s->ci95[m] >= 0)) __builtin_trap();
        for (uint32_t k = 0; k < s->n_dev; k++)
            if (!(s->dev_util[k] >= 0) || !s->dev_name[k][0]) __builtin_trap();
    }
    elm__route_set_free(&set);
    return 0;
}
