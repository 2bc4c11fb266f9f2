/* Whole-string number parsing with ranges, shared by the command line, config readers and probes:
 * one place that says what "a number" is (no trailing junk, no overflow, finite). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "edgelm/base.h"

int elm_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (!s || !*s) return ELM_EINVAL;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end) return ELM_EINVAL;
    if (errno == ERANGE || v < min || v > max) return ELM_ERANGE;
    *out = v;
    return 0;
}

int elm_parse_f64(const char *s, double min, double max, double *out)
{
    if (!s || !*s) return ELM_EINVAL;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || isnan(v)) return ELM_EINVAL;
    if (errno == ERANGE || !isfinite(v) || v < min || v > max) return ELM_ERANGE;
    *out = v;
    return 0;
}
