/* route/: the "weighted" strategy of Edge-First §V — a random eligible device with probability
 * proportional to its window capacity, so fast devices take proportionally more. */
#include "route_internal.h"

static int pick_weighted(const elm_route_view_t *dev, uint32_t n, const elm_route_req_t *req,
                         elm_route_pick_state_t *st)
{
    (void)req;
    double total = 0;
    int last = -1;
    for (uint32_t i = 0; i < n; i++)
        if (dev[i].eligible) {
            total += (double)dev[i].spec->window_tokens;
            last = (int)i;
        }
    if (last < 0) return -1;
    double x = elm_rng_uniform(&st->rng) * total;
    for (uint32_t i = 0; i < n; i++) {
        if (!dev[i].eligible) continue;
        x -= (double)dev[i].spec->window_tokens;
        if (x < 0) return (int)i;
    }
    return last; /* rounding left x at exactly 0 */
}

const elm_route_strategy_t elm__strategy_weighted = {
    "weighted", "random, with probability proportional to capacity (Edge-First)", pick_weighted};
