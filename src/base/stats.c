/* Small statistics over a handful of numbers: mean and sample standard deviation, percentiles,
 * Student's t interval of a mean and Wilson's interval of a proportion, shared by bench, eval and
 * the simulator so each figure is computed one way. */
#include <math.h>
#include <stdlib.h>

#include "edgelm/base.h"

void elm_stats_mean_sd(const double *x, size_t n, double *mean, double *sd)
{
    double sum = 0, ss = 0;
    for (size_t i = 0; i < n; i++)
        sum += x[i];
    double m = n ? sum / (double)n : 0;
    for (size_t i = 0; i < n; i++)
        ss += (x[i] - m) * (x[i] - m);
    *mean = m;
    *sd = n > 1 ? sqrt(ss / (double)(n - 1)) : 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void elm_stats_sort(double *x, size_t n)
{
    if (n > 1) qsort(x, n, sizeof *x, cmp_double);
}

double elm_stats_percentile(const double *sorted, size_t n, double p)
{
    if (n == 1) return sorted[0];
    double rank = p / 100.0 * (double)(n - 1);
    size_t lo = (size_t)rank;
    if (lo >= n - 1) return sorted[n - 1];
    return sorted[lo] + (rank - (double)lo) * (sorted[lo + 1] - sorted[lo]);
}

double elm_stats_t975(size_t df)
{
    static const double t[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306,
                               2.262,  2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
                               2.110,  2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
                               2.060,  2.056, 2.052, 2.048, 2.045, 2.042};
    return df >= 1 && df <= 30 ? t[df - 1] : 1.96;
}

void elm_stats_ci95(const double *x, size_t n, double *mean, double *half)
{
    double sd;
    elm_stats_mean_sd(x, n, mean, &sd);
    *half = n >= 2 ? elm_stats_t975(n - 1) * sd / sqrt((double)n) : 0;
}

void elm_stats_wilson95(size_t k, size_t n, double *lo, double *hi)
{
    if (n == 0) {
        *lo = *hi = 0;
        return;
    }
    /* Wilson (1927): (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n) */
    const double z = 1.959963984540054, nn = (double)n, p = (double)k / nn;
    double denom = 1 + z * z / nn;
    double center = (p + z * z / (2 * nn)) / denom;
    double half = z * sqrt(p * (1 - p) / nn + z * z / (4 * nn * nn)) / denom;
    *lo = center - half < 0 ? 0 : center - half;
    *hi = center + half > 1 ? 1 : center + half;
}
