/* route/: the "energy-aware" strategy — among devices that can admit the request now, the one
 * with the lowest energy per token (power_w / tokens_per_s, joules per token). */
#include "route_internal.h"

static double joules_per_token(const elm_route_view_t *v, const elm_route_req_t *req)
{
    (void)req;
    return v->spec->power_w / v->spec->tokens_per_s;
}

static int pick_energy(const elm_route_view_t *dev, uint32_t n, const elm_route_req_t *req,
                       elm_route_pick_state_t *st)
{
    (void)st;
    return elm__pick_min(dev, n, joules_per_token, req);
}

const elm_route_strategy_t elm__strategy_energy = {
    "energy-aware", "lowest energy per token among devices that can admit", pick_energy};
