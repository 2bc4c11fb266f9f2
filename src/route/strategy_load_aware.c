/* route/: the "load-aware" strategy of Edge-First §V — the device with the most capacity available
 * now, measured as the free share of its window (the least loaded device), preferring devices with
 * room for the request now. */
#include "route_internal.h"

static double neg_available(const elm_route_view_t *v, const elm_route_req_t *req)
{
    (void)req;
    /* Least loaded: the largest share of its own window still free, so devices fill evenly. */
    return -(double)v->available / (double)v->spec->window_tokens;
}

static int pick_load_aware(const elm_route_view_t *dev, uint32_t n, const elm_route_req_t *req,
                           elm_route_pick_state_t *st)
{
    (void)st;
    return elm__pick_min(dev, n, neg_available, req);
}

const elm_route_strategy_t elm__strategy_load_aware = {
    "load-aware", "most available capacity now, as a share of its window (Edge-First)",
    pick_load_aware};
