/* edgelm pool: a thread pool of persistent workers for data-parallel loops (matrix rows,
 * attention heads). The calling thread takes part, so a pool of n threads starts n - 1 workers. */
#ifndef EDGELM_POOL_H
#define EDGELM_POOL_H

#include <stdint.h>

#include "edgelm/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct elm_pool elm_pool_t;

/* Work on the items [begin, end); thread is the index (0 .. n_threads-1) of the thread running
 * it, for per-thread scratch. The same thread may be handed several ranges. */
typedef void (*elm_pool_fn)(void *ctx, int64_t begin, int64_t end, int thread);

/* The most threads a pool may have. */
#define ELM_POOL_MAX_THREADS 256

/* Start a pool of n_threads threads (1..ELM_POOL_MAX_THREADS) counting the caller: n_threads - 1
 * workers that wait for work. On failure *out is NULL. Free with elm_pool_free(). */
int elm_pool_create(int n_threads, elm_pool_t **out, elm_diag_t *diag);

/* Stop and join the workers and free the pool. Accepts NULL. */
void elm_pool_free(elm_pool_t *p);

/* Threads in the pool, the caller included (1 for NULL). */
int elm_pool_n_threads(const elm_pool_t *p);

/* Run fn over [0, n) split into ranges of at least min_chunk items, spread over all threads,
 * and return when every item is done. Ranges are handed out dynamically, each a share of what
 * is left, so uneven items balance and the threads finish together. p may be NULL (then fn runs on
 * the caller as one range). Not reentrant: fn must not call elm_pool_for on the same pool, and one
 * thread at a time may dispatch. */
void elm_pool_for(elm_pool_t *p, int64_t n, int64_t min_chunk, elm_pool_fn fn, void *ctx);

/* elm_pool_for on the first n_threads threads of the pool (the caller included); the others
 * are not woken. n_threads < 1 or above the pool's count means all of them. Lets one pool serve
 * prefill and generation with different thread counts. */
void elm_pool_for_threads(elm_pool_t *p, int n_threads, int64_t n, int64_t min_chunk,
                          elm_pool_fn fn, void *ctx);

/* Loops handed to worker threads so far (loops that ran inline on the caller do not count):
 * a figure for measuring dispatches per token. 0 for NULL. */
uint64_t elm_pool_dispatches(const elm_pool_t *p);

#ifdef __cplusplus
}
#endif
#endif
