/* The bench plan: lists and ranges of numbers as llama-bench takes them ("1,2", "1-4",
 * "1-8+2"), model lists, and the expansion of a spec into the points of the sweep. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "edgelm/bench.h"

/* A whole number at *p, advancing *p; false when there is none. */
static bool take_i64(const char **p, int64_t *v)
{
    char *end;
    if (!(**p >= '0' && **p <= '9')) return false;
    errno = 0;
    long long x = strtoll(*p, &end, 10);
    if (errno) return false;
    *p = end;
    *v = x;
    return true;
}

int elm_bench_parse_list(const char *what, const char *s, int64_t min, int64_t max,
                         elm_bench_list_t *out, elm_diag_t *d)
{
    out->n = 0;
    const char *p = s;
    if (!*p) goto bad;
    for (;;) {
        int64_t a, b, step = 1;
        if (!take_i64(&p, &a)) goto bad;
        b = a;
        if (*p == '-') {
            p++;
            if (!take_i64(&p, &b) || b < a) goto bad;
            if (*p == '+') {
                p++;
                if (!take_i64(&p, &step) || step < 1) goto bad;
            }
        }
        if (a < min || b > max)
            return elm_diag(d, ELM_EINVAL, "%s: values must lie in %" PRId64 "..%" PRId64
                                           ", not '%s'", what, min, max, s);
        for (int64_t v = a; v <= b; v += step) {
            if (out->n == ELM_BENCH_MAX_LIST)
                return elm_diag(d, ELM_ERANGE, "%s: more than %d values in '%s'", what,
                                ELM_BENCH_MAX_LIST, s);
            out->v[out->n++] = v;
        }
        if (!*p) return 0;
        if (*p++ != ',') goto bad;
    }
bad:
    out->n = 0;
    return elm_diag(d, ELM_EINVAL, "%s: '%s' is not a list of whole numbers (1,2,4 or 1-4 or "
                                   "1-8+2)", what, s);
}

int elm_bench_parse_models(char *s, elm_bench_spec_t *spec, elm_diag_t *d)
{
    for (char *p = s;;) {
        char *comma = strchr(p, ',');
        if (comma) *comma = '\0';
        if (!*p) return elm_diag(d, ELM_EINVAL, "-m: empty model path in the list");
        if (spec->n_models == ELM_BENCH_MAX_LIST)
            return elm_diag(d, ELM_ERANGE, "-m: more than %d models", ELM_BENCH_MAX_LIST);
        spec->models[spec->n_models++] = p;
        if (!comma) return 0;
        p = comma + 1;
    }
}

/* The values of a list, or a single 0 ("the default") when it is empty. */
static int list_or_zero(const elm_bench_list_t *l, const int64_t **v)
{
    static const int64_t zero = 0;
    *v = l->n > 0 ? l->v : &zero;
    return l->n > 0 ? l->n : 1;
}

int elm_bench_plan(const elm_bench_spec_t *spec, elm_bench_point_t **points, size_t *n_points,
                   elm_diag_t *d)
{
    *points = NULL;
    *n_points = 0;
    if (spec->n_models == 0) return elm_diag(d, ELM_EINVAL, "no model given (-m MODEL)");
    if (spec->threads.n == 0 || spec->n_gen.n == 0)
        return elm_diag(d, ELM_EINVAL, "the plan needs thread counts and generation lengths");
    const int64_t *tb, *np, *ctx;
    int n_tb = spec->threads_batch.n, n_np = list_or_zero(&spec->n_prompt, &np),
        n_ctx = list_or_zero(&spec->n_ctx, &ctx);
    tb = spec->threads_batch.v;
    if (n_tb == 0) n_tb = 1; /* one pass with prefill threads = generation threads */
    for (int ic = 0; ic < n_ctx; ic++)
        for (int ip = 0; ip < n_np; ip++)
            for (int ig = 0; ig < spec->n_gen.n; ig++)
                if (ctx[ic] && np[ip] && ctx[ic] < np[ip] + spec->n_gen.v[ig])
                    return elm_diag(d, ELM_EINVAL,
                                    "--ctx %" PRId64 " cannot hold a prompt of %" PRId64
                                    " tokens and %" PRId64 " generated ones",
                                    ctx[ic], np[ip], spec->n_gen.v[ig]);
    size_t total = (size_t)spec->n_models * (size_t)n_np * (size_t)spec->n_gen.n *
                   (size_t)n_ctx * (size_t)n_tb * (size_t)spec->threads.n;
    elm_bench_point_t *pt = calloc(total, sizeof *pt);
    if (!pt) return elm_diag(d, ELM_ENOMEM, "out of memory for a plan of %zu points", total);
    size_t k = 0;
    for (int m = 0; m < spec->n_models; m++)
        for (int ip = 0; ip < n_np; ip++)
            for (int ig = 0; ig < spec->n_gen.n; ig++)
                for (int ic = 0; ic < n_ctx; ic++)
                    for (int ib = 0; ib < n_tb; ib++)
                        for (int it = 0; it < spec->threads.n; it++) {
                            elm_bench_point_t *q = &pt[k++];
                            q->model = spec->models[m];
                            q->threads = (int)spec->threads.v[it];
                            q->threads_batch =
                                spec->threads_batch.n ? (int)tb[ib] : q->threads;
                            q->n_prompt = (uint32_t)np[ip];
                            q->n_gen = (uint32_t)spec->n_gen.v[ig];
                            q->n_ctx = (uint32_t)ctx[ic];
                        }
    *points = pt;
    *n_points = total;
    return 0;
}
