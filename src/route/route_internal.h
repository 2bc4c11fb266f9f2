/* route/: declarations shared by the files of the routing policy: the built-in strategies. */
#ifndef ELM_ROUTE_INTERNAL_H
#define ELM_ROUTE_INTERNAL_H

#include "edgelm/route.h"

extern const elm_route_strategy_t elm__strategy_random;
extern const elm_route_strategy_t elm__strategy_weighted;
extern const elm_route_strategy_t elm__strategy_load_aware;
extern const elm_route_strategy_t elm__strategy_round_robin;
extern const elm_route_strategy_t elm__strategy_least_completion;
extern const elm_route_strategy_t elm__strategy_energy;

/* The device with the lowest key(dev) among those that can admit the request now, or when none
 * can, among the eligible ones (the router then reports why it is full); ties go to the lower
 * index; -1 when no device is eligible. */
int elm__pick_min(const elm_route_view_t *dev, uint32_t n,
                  double (*key)(const elm_route_view_t *v, const elm_route_req_t *req),
                  const elm_route_req_t *req);

#endif
