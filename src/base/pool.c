/* The thread pool: persistent workers that spin briefly, then sleep on their own condition
 * variable, between parallel loops; a loop hands out ranges of items through one atomic counter
 * and may use fewer threads than the pool has (the rest stay asleep). */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "edgelm/pool.h"

/* How long a thread polls before it sleeps: long enough to cover the gap between the matrix
 * products of one forward pass, short enough not to burn a core when idle. */
#define SPIN_ROUNDS 20000

/* One round of a spin-wait: a pause that frees the core's pipeline for its sibling, not a
 * system call; every YIELD_EVERY rounds a sched_yield lets another runnable thread in. */
#define YIELD_EVERY 4096
static inline void spin_pause(int spins)
{
    if ((spins & (YIELD_EVERY - 1)) == YIELD_EVERY - 1) {
        sched_yield();
        return;
    }
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* The published loop word: generation << 16 | threads the loop runs on. One atomic word, so a
 * worker never pairs one loop's generation with another loop's thread count. */
#define WORD(gen, nt)   ((gen) << 16 | (uint64_t)(nt))
#define WORD_GEN(w)     ((w) >> 16)
#define WORD_THREADS(w) ((int)((w)&0xffff))

typedef struct {
    elm_pool_t *pool;
    int index;
    atomic_int sleeping; /* inside pthread_cond_wait on wake (set under the pool's mutex) */
    pthread_cond_t wake;
} worker_t;

struct elm_pool {
    int n_threads;
    pthread_t *threads;
    worker_t *workers; /* (n_threads - 1) */
    int n_started;
    uint64_t n_dispatches;

    pthread_mutex_t mu;
    pthread_cond_t done;     /* the dispatcher waits here for the last worker */
    atomic_int caller_waits; /* the dispatcher sleeps on done */
    atomic_uint_fast64_t word;
    atomic_int stop;
    atomic_int pending; /* workers still inside the current loop */

    /* the current loop */
    elm_pool_fn fn;
    void *ctx;
    int64_t n, chunk; /* items, the smallest range */
    int nt;           /* threads the loop runs on */
    atomic_int_fast64_t next;
};

/* Take ranges from the shared counter until the loop is exhausted. Each range is a share of
 * what is left (1 / threads, at least the loop's smallest range; OpenMP's "guided"): large ones
 * first, so a thread streams long runs of items, and small ones at the end, so the threads
 * finish together instead of one waiting out a last fixed-size range. */
static void run_ranges(elm_pool_t *p, int thread)
{
    int64_t begin = atomic_load(&p->next), take;
    for (;;) {
        do {
            if (begin >= p->n) return;
            take = (p->n - begin) / p->nt;
            if (take < p->chunk) take = p->chunk;
        } while (!atomic_compare_exchange_weak(&p->next, &begin, begin + take));
        const int64_t end = begin + take < p->n ? begin + take : p->n;
        p->fn(p->ctx, begin, end, thread);
        begin = atomic_load(&p->next);
    }
}

/* Whether loop word w (not yet seen) asks for worker index. */
static int wanted(uint64_t w, uint64_t seen, int index)
{
    return WORD_GEN(w) != WORD_GEN(seen) && index < WORD_THREADS(w);
}

static void *worker_main(void *arg)
{
    worker_t *wk = arg;
    elm_pool_t *p = wk->pool;
    uint64_t seen = 0;
    int spin = 0; /* poll first only after taking part in a loop: more work is likely near */
    for (;;) {
        uint64_t w = atomic_load(&p->word);
        for (int spins = 0;
             spin && !wanted(w, seen, wk->index) && !atomic_load(&p->stop) && spins < SPIN_ROUNDS;
             spins++) {
            spin_pause(spins);
            w = atomic_load(&p->word);
        }
        if (!wanted(w, seen, wk->index) && !atomic_load(&p->stop)) {
            pthread_mutex_lock(&p->mu);
            atomic_store(&wk->sleeping, 1);
            /* Loops this worker is not wanted in pass by without waking it. */
            while (!wanted(w = atomic_load(&p->word), seen, wk->index) && !atomic_load(&p->stop)) {
                seen = w;
                pthread_cond_wait(&wk->wake, &p->mu);
            }
            atomic_store(&wk->sleeping, 0);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop)) return NULL;
        seen = w;
        run_ranges(p, wk->index);
        spin = 1;
        if (atomic_fetch_sub(&p->pending, 1) == 1 && atomic_load(&p->caller_waits)) {
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
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->caller_waits, 0);
    atomic_init(&p->word, 0);
    atomic_init(&p->stop, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->next, 0);
    int rc = 0;
    if (n_threads > 1) {
        p->threads = calloc((size_t)n_threads - 1, sizeof *p->threads);
        p->workers = calloc((size_t)n_threads - 1, sizeof *p->workers);
        if (!p->threads || !p->workers) {
            rc = elm_diag(diag, ELM_ENOMEM, "thread pool: out of memory");
            goto fail;
        }
        for (int i = 0; i < n_threads - 1; i++) {
            worker_t *wk = &p->workers[i];
            wk->pool = p;
            wk->index = i + 1;
            atomic_init(&wk->sleeping, 0);
            pthread_cond_init(&wk->wake, NULL);
        }
        for (int i = 0; i < n_threads - 1; i++) {
            int err = pthread_create(&p->threads[i], NULL, worker_main, &p->workers[i]);
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
    for (int i = 0; i < p->n_started; i++)
        pthread_cond_signal(&p->workers[i].wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_started; i++)
        pthread_join(p->threads[i], NULL);
    if (p->workers)
        for (int i = 0; i < p->n_threads - 1; i++)
            pthread_cond_destroy(&p->workers[i].wake);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p->workers);
    free(p);
}

int elm_pool_n_threads(const elm_pool_t *p)
{
    return p ? p->n_threads : 1;
}

uint64_t elm_pool_dispatches(const elm_pool_t *p)
{
    return p ? p->n_dispatches : 0;
}

void elm_pool_for(elm_pool_t *p, int64_t n, int64_t min_chunk, elm_pool_fn fn, void *ctx)
{
    elm_pool_for_threads(p, 0, n, min_chunk, fn, ctx);
}

void elm_pool_for_threads(elm_pool_t *p, int n_threads, int64_t n, int64_t min_chunk,
                          elm_pool_fn fn, void *ctx)
{
    if (n <= 0) return;
    if (min_chunk < 1) min_chunk = 1;
    const int nt = !p ? 1 : n_threads < 1 || n_threads > p->n_threads ? p->n_threads : n_threads;
    if (nt == 1 || n <= min_chunk) {
        fn(ctx, 0, n, 0);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    p->chunk = min_chunk;
    p->nt = nt;
    p->n_dispatches++;
    atomic_store(&p->next, 0);
    atomic_store(&p->pending, nt - 1);
    atomic_store(&p->word, WORD(WORD_GEN(atomic_load(&p->word)) + 1, (uint64_t)nt));
    for (int i = 0; i < nt - 1; i++) {
        worker_t *wk = &p->workers[i];
        if (atomic_load(&wk->sleeping)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&wk->wake);
            pthread_mutex_unlock(&p->mu);
        }
    }

    run_ranges(p, 0);

    int spins = 0;
    while (atomic_load(&p->pending) > 0 && spins < SPIN_ROUNDS) {
        spin_pause(spins++);
    }
    if (atomic_load(&p->pending) > 0) {
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->caller_waits, 1);
        while (atomic_load(&p->pending) > 0)
            pthread_cond_wait(&p->done, &p->mu);
        atomic_store(&p->caller_waits, 0);
        pthread_mutex_unlock(&p->mu);
    }
}
