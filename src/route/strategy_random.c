/* route/: the "random" strategy of Edge-First §V — a uniformly random eligible device, whatever its
 * load; if that device is full the request overflows. */
#include "route_internal.h"

static int pick_random(const elm_route_view_t *dev, uint32_t n, const elm_route_req_t *req,
                       elm_route_pick_state_t *st)
{
    (void)req;
    uint32_t n_ok = 0;
    for (uint32_t i = 0; i < n; i++)
        n_ok += dev[i].eligible;
    if (!n_ok) return -1;
    uint32_t k = elm_rng_below(&st->rng, n_ok);
    for (uint32_t i = 0; i < n; i++)
        if (dev[i].eligible && k-- == 0) return (int)i;
    return -1;
}

const elm_route_strategy_t elm__strategy_random = {
    "random", "uniformly random healthy device (Edge-First)", pick_random};
