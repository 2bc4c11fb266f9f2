/* The thread pool: persistent workers that spin briefly, then sleep on a condition variable,
 * between parallel loops; a loop hands out ranges of items through one atomic counter. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "edgelm/pool.h"

/* How long a thread polls before it sleeps: long enough to cover the gap between the matrix
 * products of one forward pass, short enough not to burn a core when idle. */
#define SPIN_ROUNDS 20000

typedef struct {
    elm_pool_t *pool;
    int index;
} worker_arg_t;

struct elm_pool {
    int n_threads;
    pthread_t *threads;
    worker_arg_t *args;
    int n_started;

    pthread_mutex_t mu;
    pthread_cond_t wake; /* workers wait here for a new generation */
    pthread_cond_t done; /* the dispatcher waits here for the last worker */
    atomic_uint_fast64_t generation;
    atomic_int stop;
    atomic_int pending; /* workers still inside the current loop */

    /* the current loop */
    elm_pool_fn fn;
    void *ctx;
    int64_t n, chunk;
    atomic_int_fast64_t next;
};

/* Take ranges from the shared counter until the loop is exhausted. */
static void run_ranges(elm_pool_t *p, int thread)
{
    for (;;) {
        int64_t begin = atomic_fetch_add(&p->next, p->chunk);
        if (begin >= p->n) return;
        int64_t end = begin + p->chunk < p->n ? begin + p->chunk : p->n;
        p->fn(p->ctx, begin, end, thread);
    }
}

static void *worker_main(void *arg)
{
    worker_arg_t *wa = arg;
    elm_pool_t *p = wa->pool;
    uint64_t seen = 0;
    for (;;) {
        int spins = 0;
        while (atomic_load(&p->generation) == seen && !atomic_load(&p->stop) &&
               spins < SPIN_ROUNDS) {
            spins++;
            if ((spins & 255) == 0) sched_yield();
        }
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->generation) == seen && !atomic_load(&p->stop))
            pthread_cond_wait(&p->wake, &p->mu);
        pthread_mutex_unlock(&p->mu);
        if (atomic_load(&p->stop)) return NULL;
        seen = atomic_load(&p->generation);
        run_ranges(p, wa->index);
        if (atomic_fetch_sub(&p->pending, 1) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

int elm_pool_create(int n_threads, elm_pool_t **out, elm_diag_t *diag)
{
    *out = NULL;
    if (n_threads < 1 || n_threads > ELM_POOL_MAX_THREADS)
        return elm_diag(diag, ELM_ERANGE, "thread count %d is out of range (1..%d)", n_threads,
                        ELM_POOL_MAX_THREADS);
    elm_pool_t *p = calloc(1, sizeof *p);
    if (!p) return elm_diag(diag, ELM_ENOMEM, "thread pool: out of memory");
    p->n_threads = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->generation, 0);
    atomic_init(&p->stop, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->next, 0);
    int rc = 0;
    if (n_threads > 1) {
        p->threads = calloc((size_t)n_threads - 1, sizeof *p->threads);
        p->args = calloc((size_t)n_threads - 1, sizeof *p->args);
        if (!p->threads || !p->args) {
            rc = elm_diag(diag, ELM_ENOMEM, "thread pool: out of memory");
            goto fail;
        }
        for (int i = 0; i < n_threads - 1; i++) {
            p->args[i] = (worker_arg_t){p, i + 1};
            int err = pthread_create(&p->threads[i], NULL, worker_main, &p->args[i]);
            if (err) {
                rc = elm_diag(diag, elm_from_errno(err),
                              "thread pool: cannot start thread %d of %d", i + 2, n_threads);
                goto fail;
            }
            p->n_started++;
        }
    }
    *out = p;
    return 0;
fail:
    elm_pool_free(p);
    return rc;
}

void elm_pool_free(elm_pool_t *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_started; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p->args);
    free(p);
}

int elm_pool_n_threads(const elm_pool_t *p)
{
    return p ? p->n_threads : 1;
}

void elm_pool_for(elm_pool_t *p, int64_t n, int64_t min_chunk, elm_pool_fn fn, void *ctx)
{
    if (n <= 0) return;
    if (min_chunk < 1) min_chunk = 1;
    if (!p || p->n_threads == 1 || n <= min_chunk) {
        fn(ctx, 0, n, 0);
        return;
    }
    /* About four ranges per thread: small enough to balance, large enough to keep the counter
     * cold. */
    int64_t chunk = n / (4 * (int64_t)p->n_threads);
    if (chunk < min_chunk) chunk = min_chunk;
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    p->chunk = chunk;
    atomic_store(&p->next, 0);
    atomic_store(&p->pending, p->n_threads - 1);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->generation, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);

    run_ranges(p, 0);

    int spins = 0;
    while (atomic_load(&p->pending) > 0 && spins < SPIN_ROUNDS) {
        spins++;
        if ((spins & 255) == 0) sched_yield();
    }
    pthread_mutex_lock(&p->mu);
    while (atomic_load(&p->pending) > 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
