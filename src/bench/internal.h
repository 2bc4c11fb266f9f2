/* What the files of src/bench share: the harness handle (run.c creates it; target.c measures an
 * HTTP server with its power source) and the fixed-field formatter. */
#ifndef EDGELM_BENCH_INTERNAL_H
#define EDGELM_BENCH_INTERNAL_H

#include "edgelm/bench.h"

struct elm_bench {
    elm_bench_opts_t o;
    elm_probe_ctx_t probe;
    elm_power_source_t *power;
    char power_why[384];
    elm_sys_info_t *sys;
};

/* snprintf into a fixed field, cut to fit: reasons and names are shown, never parsed. */
void elm__bench_put(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The configuration fields every record shares: device, CPU, kernel, version, git hash, cpufreq,
 * nvpmodel, power source, timestamp. */
void elm__bench_describe_system(const elm_bench_t *b, elm_record_t *rec);

#endif
