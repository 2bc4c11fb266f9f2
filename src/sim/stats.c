/* sim/: summaries over seeds — the mean and the 95 % confidence interval with Student's t. */
#include <math.h>

#include "edgelm/sim.h"

/* Two-sided 97.5 % quantiles of Student's t for 1..30 degrees of freedom; 1.96 beyond. */
static double t975(uint32_t df)
{
    static const double t[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306,
                               2.262,  2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
                               2.110,  2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
                               2.060,  2.056, 2.052, 2.048, 2.045, 2.042};
    return df >= 1 && df <= 30 ? t[df - 1] : 1.96;
}

void elm_sim_ci95(const double *x, uint32_t n, double *mean, double *half)
{
    double m = 0, ss = 0;
    for (uint32_t i = 0; i < n; i++)
        m += x[i];
    m = n ? m / n : 0;
    for (uint32_t i = 0; i < n; i++)
        ss += (x[i] - m) * (x[i] - m);
    *mean = m;
    *half = n >= 2 ? t975(n - 1) * sqrt(ss / (n - 1)) / sqrt((double)n) : 0;
}
