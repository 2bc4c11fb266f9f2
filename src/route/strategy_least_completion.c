/* route/: the "least-predicted-completion" strategy — the device expected to finish this request
 * first: the queue it must wait for, then the request's output tokens at the device's speed. */
#include "route_internal.h"

static double predicted_s(const elm_route_view_t *v, const elm_route_req_t *req)
{
    double rate = v->spec->tokens_per_s;
    /* With a free slot the request starts now; otherwise it waits for the outstanding work,
     * drained by all slots together. */
    double wait = v->in_flight < v->spec->max_parallel
                      ? 0
                      : (double)v->outstanding / (rate * v->spec->max_parallel);
    return wait + (double)req->out_tokens / rate;
}

static int pick_least_completion(const elm_route_view_t *dev, uint32_t n,
                                 const elm_route_req_t *req, elm_route_pick_state_t *st)
{
    (void)st;
    return elm__pick_min(dev, n, predicted_s, req);
}

const elm_route_strategy_t elm__strategy_least_completion = {
    "least-predicted-completion", "earliest predicted finish: queue + tokens / tok/s",
    pick_least_completion};
