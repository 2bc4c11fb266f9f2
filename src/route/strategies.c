/* route/: the table of selection strategies and the helpers they share. Adding a strategy is one
 * file defining an elm_route_strategy_t plus one line in the table below. */
#include <string.h>

#include "route_internal.h"

static const elm_route_strategy_t *const strategies[] = {
    &elm__strategy_random,      &elm__strategy_weighted,         &elm__strategy_load_aware,
    &elm__strategy_round_robin, &elm__strategy_least_completion, &elm__strategy_energy,
};

uint32_t elm_route_strategy_count(void)
{
    return (uint32_t)(sizeof strategies / sizeof strategies[0]);
}

const elm_route_strategy_t *elm_route_strategy_at(uint32_t i)
{
    return i < elm_route_strategy_count() ? strategies[i] : NULL;
}

const elm_route_strategy_t *elm_route_strategy_find(const char *name)
{
    for (uint32_t i = 0; name && i < elm_route_strategy_count(); i++)
        if (!strcmp(strategies[i]->name, name)) return strategies[i];
    return NULL;
}

static int pick_min_of(const elm_route_view_t *dev, uint32_t n, bool admit_only,
                       double (*key)(const elm_route_view_t *v, const elm_route_req_t *req),
                       const elm_route_req_t *req)
{
    int best = -1;
    double best_key = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (admit_only ? !dev[i].can_admit : !dev[i].eligible) continue;
        double k = key(&dev[i], req);
        if (best < 0 || k < best_key) {
            best = (int)i;
            best_key = k;
        }
    }
    return best;
}

int elm__pick_min(const elm_route_view_t *dev, uint32_t n,
                  double (*key)(const elm_route_view_t *v, const elm_route_req_t *req),
                  const elm_route_req_t *req)
{
    int i = pick_min_of(dev, n, true, key, req);
    return i >= 0 ? i : pick_min_of(dev, n, false, key, req);
}
