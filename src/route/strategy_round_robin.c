/* route/: the "round-robin" strategy — eligible devices in turn, whatever their load. */
#include "route_internal.h"

static int pick_round_robin(const elm_route_view_t *dev, uint32_t n, const elm_route_req_t *req,
                            elm_route_pick_state_t *st)
{
    (void)req;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = (uint32_t)((st->cursor + k) % n);
        if (dev[i].eligible) {
            st->cursor = (uint64_t)i + 1;
            return (int)i;
        }
    }
    return -1;
}

const elm_route_strategy_t elm__strategy_round_robin = {"round-robin", "healthy devices in turn",
                                                        pick_round_robin};
